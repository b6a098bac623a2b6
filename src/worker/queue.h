/*
 * queue.h - where jobs wait: a spool folder on one machine, or SQS for a fleet.
 * One interface, one backend per URL scheme:
 *   "spool:DIR"           incoming/, processing/, done/, failed/ under DIR; a job is claimed by
 *                         an atomic rename into processing/; a claim whose lease ran out (its
 *                         worker died) is claimed again; receive_count counts claims.
 *   "sqs://QUEUE_URL"     the SQS JSON 1.0 protocol (X-Amz-Target), long polling; the message's
 *                         visibility is the lease; the queue's redrive policy sends a job
 *                         received too often to its dead-letter queue.
 *                         QUEUE_URL is http(s)://host[:port]/ACCOUNT/NAME after "sqs://".
 * A received message is the caller's until it calls exactly one of queue_done(),
 * queue_fail() or queue_release(), then queue_msg_free(). The worker never deletes a failed
 * SQS job itself: queue_fail() makes it visible again after a delay and redrive does the rest.
 * A struct queue is used by one thread at a time.
 */
#ifndef DELTAIR_WORKER_QUEUE_H
#define DELTAIR_WORKER_QUEUE_H

#include <signal.h>
#include <stddef.h>

#include "error.h"

#define QUEUE_DEFAULT_LEASE        300 /* seconds a claim lasts without a heartbeat */
#define QUEUE_DEFAULT_WAIT         20  /* seconds of long polling (SQS's maximum) */
#define QUEUE_DEFAULT_MAX_RECEIVES 3   /* spool: claims before a job goes to failed/ */

struct queue;
struct creds;     /* aws/creds.h */
struct http_pool; /* aws/http.h */

struct queue_options {
	const char *region;     /* SQS: signing region; NULL: taken from the URL's host or env */
	struct creds *creds;    /* SQS: borrowed; NULL for spool */
	struct http_pool *pool; /* SQS: borrowed; NULL for spool */
	unsigned lease_seconds; /* 0: QUEUE_DEFAULT_LEASE */
	unsigned max_receives;  /* spool: 0: QUEUE_DEFAULT_MAX_RECEIVES; SQS: the redrive's */
	/* A condition worth a line in the worker's log that is no failure (an SQS queue with
	 * no redrive policy); msg is one line, borrowed for the call. NULL: not told. */
	void (*warn)(void *arg, const char *msg);
	void *warn_arg;
	/* spool: a wait for a job ends within SPOOL_POLL_MS once *stop is set (a SIGTERM that
	 * came between two sleeps, not during one, would else wait out the whole poll). NULL:
	 * only a signal during the sleep ends it. Borrowed. */
	volatile sig_atomic_t *stop;
};

struct queue_msg {
	char *id;   /* owned: stable job id (spool file name, SQS MessageId) */
	char *body; /* owned: the job, NUL-terminated */
	size_t body_len;
	unsigned receive_count; /* deliveries so far, this one included */
	void *handle;           /* owned by the backend: receipt handle, claimed path */
};

/* Open the queue named by url; spool: DIR's four folders are made (0700) if missing. */
int queue_open(const char *url, const struct queue_options *opt, struct queue **out,
	       struct dt_err *err) DT_MUST_USE;
void queue_close(struct queue *q);
/* Wait up to wait_seconds for one job: 0 and *out a message (caller owns), or 0 and *out NULL
 * when none came; -1 on failure. */
int queue_receive(struct queue *q, unsigned wait_seconds, struct queue_msg **out,
		  struct dt_err *err) DT_MUST_USE;
/* Keep the claim for lease_seconds from now (SQS ChangeMessageVisibility; spool: the
 * claim's lease time). */
int queue_heartbeat(struct queue *q, struct queue_msg *m, unsigned lease_seconds,
		    struct dt_err *err) DT_MUST_USE;
/* The job's results are complete (their COMPLETE marker written): SQS DeleteMessage; spool:
 * into done/. */
int queue_done(struct queue *q, struct queue_msg *m, struct dt_err *err) DT_MUST_USE;
/* The job failed for reason (one line). permanent (a malformed job): never worth another try.
 * spool: into failed/ with JOB.reason beside it when permanent or receive_count reached
 * max_receives, else back to incoming/; SQS: visible again after a short delay, so the
 * redrive policy moves it to the dead-letter queue after maxReceiveCount. */
int queue_fail(struct queue *q, struct queue_msg *m, int permanent, const char *reason,
	       struct dt_err *err) DT_MUST_USE;
/* Give the job back untouched, now (SIGTERM): SQS visibility 0; spool: back to incoming/. */
int queue_release(struct queue *q, struct queue_msg *m, struct dt_err *err) DT_MUST_USE;
void queue_msg_free(struct queue_msg *m);
/*
 * 1 when others than this machine's administrator may put jobs on q, so a job's fields are
 * not the operator's word: sqs:// (anyone the queue policy lets send), or a spool whose folder
 * or incoming/ is owned by a user other than root and this process's, or that group or
 * others may write (the spool's open warns then). 0: a spool only root (or this user) writes.
 */
int queue_shared(const struct queue *q);
/* Put one job on the queue ('deltair submit'); *id_out (caller frees) names it. */
int queue_send(struct queue *q, const char *body, char **id_out, struct dt_err *err) DT_MUST_USE;

#endif
