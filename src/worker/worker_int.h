/*
 * worker_int.h - what the files of the serving loop share (worker.h): worker.c runs the loop
 * and publishes results; spawn.c starts a job's scan in its child process.
 * Internal to src/worker/: no front-end includes it.
 */
#ifndef DELTAIR_WORKER_INT_H
#define DELTAIR_WORKER_INT_H

#include <limits.h>
#include <sys/types.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "worker/attach.h"
#include "worker/job.h"
#include "worker/queue.h"
#include "worker/store.h"
#include "worker/worker.h"

struct slot {
	int busy;
	pid_t pid;
	struct queue_msg *msg; /* owned */
	struct job job;        /* owned */
	int have_job;
	struct store *out;  /* owned: the job's output store */
	char *prefix;       /* owned: "<case>/<name>" */
	char *dir;          /* owned: this job's scratch folder */
	char *baseline;     /* owned: the local .dtree */
	char **known_good;  /* owned: the local known-good sets, nknown_good of them */
	size_t nknown_good;
	struct attach *att; /* owned: attach mode's volume, closed after the child */
	char started[64];   /* RFC 3339 */
	double t0;          /* monotonic: the claim */
	double scan_t0;     /* monotonic: the scan child's start, for the wall-clock limit */
	double last_beat;
	int timed_out;
};

struct worker {
	const struct worker_options *o;
	struct worker_stats *st;
	struct queue *q;
	struct http_pool *pool;
	struct creds *creds;
	char *work;   /* owned: the scratch folder */
	int own_work; /* made here: removed at the end */
	char *cache;  /* owned: baselines fetched */
	char host[256];
	char exe[PATH_MAX];
	unsigned lease;
	unsigned nslots;
	struct slot *slots;
};

/* ---- spawn.c ---- */

/* The scan's evidence argument for the job (*spec new); attach mode attaches the volume
 * first. */
int worker_evidence_spec(struct worker *w, struct slot *s, char **spec, struct dt_err *err);
/* Start the scan of s's job on evidence: `deltair scan` in a child, its pid in s->pid. */
int worker_spawn(struct worker *w, struct slot *s, const char *evidence, struct dt_err *err);

#endif
