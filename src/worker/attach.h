/*
 * attach.h - attach read mode: a job's snapshot as a volume attached to this instance.
 * attach_open() creates a volume from the job's snapshot in this instance's availability
 * zone (tagged with the job), attaches it, and names the block device to read raw and
 * read-only; attach_close() always detaches and deletes it, whatever happened to the job
 * (success, failure, timeout, SIGTERM). The worker calls both in its own process, never in
 * the job's child, so a child killed at any point still has its volume cleaned up.
 * Also here: finding a job's baseline when it names none (worker_find_baseline()).
 * attach_none.c is the placeholder until the EC2 code lands; docs/worker.md has the
 * contract.
 */
#ifndef DELTAIR_WORKER_ATTACH_H
#define DELTAIR_WORKER_ATTACH_H

#include "error.h"

struct attach;
struct job;
struct store;
struct creds;     /* aws/creds.h */
struct http_pool; /* aws/http.h */

struct attach_options {
	const char *region;       /* NULL: the job's, else this instance's */
	struct creds *creds;      /* borrowed */
	struct http_pool *pool;   /* borrowed */
	const char *by_id_dir;    /* NULL: /dev/disk/by-id (tests give their own folder) */
	unsigned timeout_seconds; /* each wait (available, attached, detached); 0: a default */
};

/*
 * Create, attach and find the volume of j's snapshot. On success *out is new (attach_close()
 * it, always) and *device_path new (free()), the device to open read-only.
 */
int attach_open(const struct job *j, const struct attach_options *o, struct attach **out,
		char **device_path, struct dt_err *err) DT_MUST_USE;
/* Detach and delete the volume, then free a. NULL is a no-op. Failures go to err (may be
 * NULL); the volume's tags let `deltair worker --sweep` finish what failed. */
void attach_close(struct attach *a, struct dt_err *err);

/*
 * The baseline of a job that names none (docs/worker.md "Baselines"): found from the
 * snapshot (its source's AMI) under the job's output store `output`, fetched into a new
 * file under cache_dir. On success *path is new (free()): the local .dtree.
 */
int worker_find_baseline(const struct job *j, const struct attach_options *o, struct store *output,
			 const char *cache_dir, char **path, struct dt_err *err) DT_MUST_USE;

#endif
