/*
 * job.h - one snapshot job: what to read, against which baseline, where results go.
 * The format (version 1, JSON) is documented in docs/worker.md:
 *   {"version": 1, "case": "IR-1234", "evidence": "ebs://snap-0123456789abcdef0",
 *    "region": "us-east-1", "baseline": "s3://bucket/baselines/ami-0abc.dtree",
 *    "output": "s3://bucket/results", "read_mode": "direct",
 *    "changed_since": "snap-...", "rules": ["..."], "artifacts": ["..."],
 *    "known_good": ["s3://bucket/sets/debian.kg"],
 *    "limits": {"memory_mb": 4096, "cpu_seconds": 3600, "wall_seconds": 7200,
 *               "open_files": 1024}}
 * "evidence" is ebs://snap-ID or a local image or device path; "snapshot" may stand for
 * "evidence": "ebs://snap-ID". An EventBridge "EBS Snapshot Notification" event whose
 * detail.result is "succeeded" is a job too: its snapshot (from detail.snapshot_id's ARN) and
 * region, with everything else from the defaults.
 * Results of a job go under <output>/<case>/<name>/, name the snapshot id or, for a local
 * path, its base name made safe (job_result_name()).
 */
#ifndef DELTAIR_WORKER_JOB_H
#define DELTAIR_WORKER_JOB_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define JOB_VERSION 1

enum job_read_mode {
	JOB_READ_DEFAULT, /* direct for ebs://, local for a path */
	JOB_READ_DIRECT,  /* EBS direct APIs (ebs://) */
	JOB_READ_ATTACH,  /* CreateVolume + AttachVolume, read the NVMe device raw */
};

struct job_limits {
	uint64_t memory_bytes; /* RLIMIT_AS of the job's child; 0: none */
	unsigned cpu_seconds;  /* RLIMIT_CPU; 0: none */
	unsigned wall_seconds; /* killed after; 0: none */
	unsigned open_files;   /* RLIMIT_NOFILE; 0: inherited */
};

struct job {
	char *case_id;       /* owned; "default" when the job names none */
	char *evidence;      /* owned: ebs://snap-ID or a local path */
	char *snapshot;      /* owned: snap-ID, or NULL for a local path */
	char *region;        /* owned, or NULL: the worker's */
	char *baseline;      /* owned: s3://... or a path, or NULL: found (docs/worker.md) */
	char *output;        /* owned: s3://bucket/prefix or a folder, or NULL: the worker's */
	char *changed_since; /* owned: snap-ID or NULL */
	enum job_read_mode read_mode;
	char **rules; /* owned; NULL: the worker's */
	size_t nrules;
	char **artifacts; /* owned; NULL: the worker's */
	size_t nartifacts;
	char **known_good; /* owned: known-good sets, s3:// or paths; NULL: the worker's */
	size_t nknown_good;
	int known_good_own; /* known_good is the defaults' (the worker's own), not the job's */
	struct job_limits limits;
};

/* Parse a job (or an EventBridge snapshot event); fields it lacks come from defaults (may
 * be NULL). A malformed job is DT_EFORMAT with the reason in err. */
int job_parse(const char *json, size_t len, const struct job *defaults, struct job *out,
	      struct dt_err *err) DT_MUST_USE;
/* The job as JSON (version 1; caller frees), NULL on allocation failure. */
char *job_to_json(const struct job *j);
/* Where the job's results go under the output: "<case>/<name>", caller frees. */
char *job_result_name(const struct job *j);
/*
 * May a worker take j: its output is root (the worker's --output; NULL: none) or beneath it
 * (the same folder or bucket, a deeper prefix, no "." or ".." part; lexical, as the stores
 * take names). shared: j came from a queue others may write (queue_shared()): then an output
 * needs a root to confine it, and local-path evidence (a device, an image) needs allow_local
 * (the operator's --allow-local-evidence), and so do a local baseline (s3:// is taken) and
 * any rules or artifacts (the worker's own are used), and a known-good set the job names
 * itself (s3:// is taken, and so are the worker's own); ebs:// evidence, direct or attach, is
 * always allowed. Checked before anything of the job is read or written; a refusal is DT_EUSAGE
 * with the reason (a permanent failure of the job).
 */
int job_admit(const struct job *j, const char *root, int shared, int allow_local,
	      struct dt_err *err) DT_MUST_USE;
void job_free(struct job *j);

#endif
