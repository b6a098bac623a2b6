/*
 * attach.h - attach read mode: a job's snapshot as a volume attached to this instance.
 * attach_open() creates a volume from the job's snapshot in this instance's availability
 * zone (tagged with the job), attaches it, and names the block device to read raw and
 * read-only; attach_close() always detaches and deletes it, whatever happened to the job
 * (success, failure, timeout, SIGTERM). The worker calls both in its own process, never in
 * the job's child, so a child killed at any point still has its volume cleaned up.
 * Also here: finding a job's baseline when it names none (worker_find_baseline()), and the
 * sweep of volumes whose worker died (attach_sweep()). docs/worker.md has the contract.
 *
 * In detail (attach.c): the instance id and zone come from IMDSv2; CreateVolume (a
 * ClientToken makes its retries safe) tags the volume deltair:job (<case>/<snapshot>),
 * deltair:worker (the instance id), deltair:case and deltair:created (UTC, ISO 8601); then
 * wait until available; AttachVolume at the first free device name of /dev/sdf../dev/sdp
 * (the next one on "already in use"); wait until attached and the NVMe device whose serial
 * is the volume id shows up as <by-id dir>/nvme-Amazon_Elastic_Block_Store_vol<id without
 * '-'>; open it read-only. attach_close(): DetachVolume, wait, DetachVolume Force=true as the
 * last resort, DeleteVolume, wait until gone. A failing attach_open() cleans up the same way.
 */
#ifndef DELTAIR_WORKER_ATTACH_H
#define DELTAIR_WORKER_ATTACH_H

#include <signal.h>
#include <stddef.h>

#include "error.h"

#define ATTACH_DEFAULT_TIMEOUT 300 /* seconds each wait may take */
#define ATTACH_BY_ID_DIR       "/dev/disk/by-id"
#define ATTACH_BY_ID_PREFIX    "nvme-Amazon_Elastic_Block_Store_"
#define ATTACH_TAG_JOB         "deltair:job"
#define ATTACH_TAG_WORKER      "deltair:worker"
#define ATTACH_TAG_CASE        "deltair:case"
#define ATTACH_TAG_CREATED     "deltair:created"
#define ATTACH_TAG_AMI         "deltair:ami" /* baseline discovery */
#define ATTACH_BASELINES       "baselines/"  /* baselines/<ami-id>.dtree in the output */
#define ATTACH_AMI_MAX         64

struct attach;
struct job;
struct store;
struct ec2;       /* aws/ec2.h */
struct creds;     /* aws/creds.h */
struct http_pool; /* aws/http.h */

struct attach_options {
	const char *region;       /* NULL: the job's, else this instance's */
	struct creds *creds;      /* borrowed; NULL: the SDK chain, one of our own */
	struct http_pool *pool;   /* borrowed; NULL: a pool of our own */
	const char *by_id_dir;    /* NULL: /dev/disk/by-id (tests give their own folder) */
	unsigned timeout_seconds; /* each wait (available, attached, detached); 0: a default */
	/* Added by the attach work; zero is the production default for each. */
	const char *const *env;        /* "NAME=value"; NULL: the process environment */
	const char *instance_id;       /* NULL: IMDS meta-data/instance-id */
	const char *availability_zone; /* NULL: IMDS meta-data/placement/availability-zone */
	const char *volume_type;       /* NULL: "gp3" */
	unsigned poll_ms;              /* between EC2 polls; 0: 2000 */
	/*
	 * Test only: after AttachVolume, run /bin/sh -c HOOK deltair-attach-hook VOLUME_ID
	 * DEVICE and wait for it; it plays udev (links a loop device into by_id_dir). A
	 * non-zero exit fails the attach. NULL: none.
	 */
	const char *attach_hook;
	/* attach_open() gives up (and cleans up) when *cancel turns non-zero; NULL: never. */
	volatile sig_atomic_t *cancel;
};

/*
 * Create, attach and find the volume of j's snapshot. On success *out is new (attach_close()
 * it, always) and *device_path new (free()), the device to open read-only. On failure the
 * volume, if one was made, is already detached and deleted; when that cleanup fails too,
 * err says so and names the volume (attach_sweep() removes it later).
 */
int attach_open(const struct job *j, const struct attach_options *o, struct attach **out,
		char **device_path, struct dt_err *err) DT_MUST_USE;
/* Detach and delete the volume, then free a. NULL is a no-op. Failures go to err (may be
 * NULL); the volume's tags let `deltair worker --sweep` finish what failed. */
void attach_close(struct attach *a, struct dt_err *err);
/*
 * An EC2 client of o (its env, credentials, pool, poll interval and cancel flag) in o's
 * region, else region (NULL: the default): what every call here uses. *e: ec2_free() it.
 */
int attach_ec2_new(const struct attach_options *o, const char *region, struct ec2 **e,
		   struct dt_err *err) DT_MUST_USE;
/* "vol-...". Borrowed until attach_close(). */
const char *attach_volume_id(const struct attach *a);
/* The device, opened read-only (O_CLOEXEC); valid until attach_close(). */
int attach_fd(const struct attach *a);

/*
 * The baseline of a job that names none (docs/worker.md "Baselines"): found from the
 * snapshot (its source's AMI) under the job's output store `output`, fetched into a new
 * file under cache_dir. On success *path is new (free()): the local .dtree. No AMI found, or
 * no baselines/<ami-id>.dtree in output: DT_EUSAGE with that reason (the job fails).
 */
int worker_find_baseline(const struct job *j, const struct attach_options *o, struct store *output,
			 const char *cache_dir, char **path, struct dt_err *err) DT_MUST_USE;
/*
 * The AMI of snapshot_id into ami; how (howsz bytes) says where it was found. First found
 * wins: 1. the snapshot's tag deltair:ami; 2. its source volume's tag deltair:ami (a volume
 * since deleted is passed over); 3. the ImageId of the instance its source volume is
 * attached to; 4. its description as CreateImage and CopyImage write it ("Created by
 * CreateImage(i-...) for ami-... ", "Copied for DestinationAmi ami-... "). Only a
 * well-formed id (ami- and 8 or 17 hex digits) is taken: a tag never names a path. None:
 * DT_EUSAGE naming what was looked at; EC2 failing: DT_ENET.
 */
int attach_baseline_ami(struct ec2 *e, const char *snapshot_id, char ami[ATTACH_AMI_MAX], char *how,
			size_t howsz, struct dt_err *err) DT_MUST_USE;

enum attach_sweep_flags {
	ATTACH_SWEEP_SELF = 1 << 0, /* this instance's volumes too (at a worker's start) */
};

struct attach_sweep_stats {
	unsigned seen;    /* volumes tagged deltair:worker */
	unsigned deleted; /* of workers gone (or this one with ATTACH_SWEEP_SELF) */
	unsigned kept;    /* of live workers */
	unsigned failed;  /* could not be deleted */
};

/*
 * `deltair worker --sweep`: delete every volume tagged deltair:worker whose instance is gone
 * (DescribeInstances: not found, shutting-down or terminated), and with ATTACH_SWEEP_SELF
 * this instance's own (a worker's leftovers, swept when it starts). Each volume is tried;
 * -1 when any failed (err: the first), st counts them all.
 */
int attach_sweep(const struct attach_options *o, unsigned flags, struct attach_sweep_stats *st,
		 struct dt_err *err) DT_MUST_USE;

#endif
