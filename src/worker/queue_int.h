/*
 * queue_int.h - what queue.c asks of a backend (queue.h). One struct queue_ops per URL
 * scheme; queue.c looks the scheme up in its table and calls through it. A backend's
 * struct queue begins with a struct queue_base, so queue.c can find the ops.
 * Internal to src/worker/: no front-end includes it.
 */
#ifndef DELTAIR_WORKER_QUEUE_INT_H
#define DELTAIR_WORKER_QUEUE_INT_H

#include "worker/queue.h"

struct queue_ops {
	const char *scheme; /* "spool:", "sqs://": what the URL starts with */
	/* rest: the URL after the scheme. */
	int (*open)(const char *rest, const struct queue_options *opt, struct queue **out,
		    struct dt_err *err);
	void (*close)(struct queue *q);
	int (*receive)(struct queue *q, unsigned wait_seconds, struct queue_msg **out,
		       struct dt_err *err);
	int (*heartbeat)(struct queue *q, struct queue_msg *m, unsigned lease_seconds,
			 struct dt_err *err);
	int (*done)(struct queue *q, struct queue_msg *m, struct dt_err *err);
	int (*fail)(struct queue *q, struct queue_msg *m, int permanent, const char *reason,
		    struct dt_err *err);
	int (*release)(struct queue *q, struct queue_msg *m, struct dt_err *err);
	/* Frees m->handle (m itself and its strings are queue.c's). A backend's handle
	 * begins with a const struct queue_ops * (its own), so queue_msg_free() finds it. */
	void (*msg_free)(struct queue_msg *m);
	int (*send)(struct queue *q, const char *body, char **id_out, struct dt_err *err);
};

/* The first member of every backend's struct queue. */
struct queue_base {
	const struct queue_ops *ops;
	int shared; /* set by the backend's open: queue_shared() */
};

extern const struct queue_ops queue_spool_ops;
extern const struct queue_ops queue_sqs_ops;

#endif
