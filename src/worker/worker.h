/*
 * worker.h - the serving loop of `deltair worker`: take jobs from a queue (queue.h), run
 * each as `deltair scan` in a child process with limits, store the results (store.h).
 * docs/worker.md has the job format, the result layout and the log lines.
 *
 * One thread: the loop claims jobs while fewer than concurrency run, heartbeats the claims
 * of running jobs, kills a job's process group at its wall-clock limit, reaps children and
 * publishes their results: events.jsonl.gz, summary.json, extracted/ (the scan's -x folder)
 * and, last, COMPLETE with the SHA-256 of every other object, then queue_done(). A job whose
 * COMPLETE already exists is acknowledged without running; any other result under its
 * prefix is a killed run's partial result and is deleted before the job runs again.
 * When *stop becomes non-zero (the caller's SIGTERM handler), no more jobs are taken;
 * running ones are killed and given back to the queue (queue_release()), then it returns.
 */
#ifndef DELTAIR_WORKER_WORKER_H
#define DELTAIR_WORKER_WORKER_H

#include <signal.h>
#include <stdio.h>

#include "error.h"
#include "worker/attach.h"
#include "worker/job.h"

#define WORKER_MAX_CONCURRENCY 64

struct worker_options {
	const char *queue;           /* queue URL (queue.h) */
	const struct job *defaults;  /* borrowed: what a job does not say (output, baseline...) */
	const char *work_dir;        /* scratch; NULL: a new folder in $TMPDIR, removed after */
	const char *baseline_cache;  /* fetched baselines; NULL: under work_dir */
	/* changed_since jobs: the gold block cache every scan shares (scan --gold-cache); NULL:
	 * none (unchanged blocks are then fetched from the incident snapshot) */
	const char *gold_cache;
	const char *exe;             /* the deltair binary run as 'scan'; NULL: /proc/self/exe */
	const char *host;            /* this worker's name in logs and results; NULL: hostname */
	unsigned concurrency;        /* jobs at once; 0: 1 */
	unsigned poll_seconds;       /* the long poll when idle; 0: QUEUE_DEFAULT_WAIT (once: 0) */
	unsigned lease_seconds;      /* 0: QUEUE_DEFAULT_LEASE; heartbeats every third of it */
	unsigned max_receives;       /* spool: 0: QUEUE_DEFAULT_MAX_RECEIVES */
	int once;                    /* return when the queue is empty and nothing runs */
	FILE *log;                   /* JSON lines, one per event; NULL: none */
	volatile sig_atomic_t *stop; /* borrowed: set by the caller to stop; NULL: never */
	struct attach_options attach;
	const char *sse;            /* s3:// outputs: NULL, "AES256" or "aws:kms" (store.h) */
	const char *sse_kms_key_id; /* with "aws:kms"; NULL: the account's default key */
	/* sqs:// queues: take jobs whose evidence is a local path (job_admit()) */
	int allow_local_evidence;
};

struct worker_stats {
	unsigned long claimed;  /* messages received */
	unsigned long done;     /* results complete, acknowledged */
	unsigned long skipped;  /* already complete: acknowledged without running */
	unsigned long failed;   /* queue_fail()ed (permanent or not) */
	unsigned long released; /* given back at stop */
};

/*
 * Serve o->queue until *o->stop, or (o->once) until it is empty. A job's failure is that
 * job's (queue_fail(), a FAILED record); -1 only when the worker cannot go on: the queue
 * cannot be opened or read, the scratch folder cannot be made. st may be NULL.
 */
int worker_run(const struct worker_options *o, struct worker_stats *st,
	       struct dt_err *err) DT_MUST_USE;

/* Put a job (JSON, checked with job_parse() first) on the queue url (`deltair submit`):
 * *id (free()) names the message. */
int worker_submit(const char *url, const char *job_json, char **id, struct dt_err *err) DT_MUST_USE;

#endif
