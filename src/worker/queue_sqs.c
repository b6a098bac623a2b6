/*
 * queue_sqs.c - the "sqs://QUEUE_URL" backend of queue.h, on aws/sqs.h.
 * A message's visibility is the claim: received hidden for the lease, kept hidden by
 * heartbeats (ChangeMessageVisibility), deleted only when its results are complete. A failed
 * job is never deleted here: it is made visible again after QUEUE_SQS_RETRY_DELAY seconds
 * (at once when the job itself is malformed), and the queue's redrive policy moves it to the
 * dead-letter queue once it has been received maxReceiveCount times. A queue without a
 * redrive policy is told to the worker at open (queue_options.warn): there, a poison job
 * would come back for as long as the queue keeps it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/sqs.h"
#include "worker/queue_int.h"

#include "banned.h"

/* Seconds before a failed job is received again: long enough not to spin on a fault of
 * the moment, short enough that redrive moves a poison job aside within a minute. */
#define QUEUE_SQS_RETRY_DELAY 5

struct queue {
	struct queue_base base; /* first: queue.c finds the ops here */
	struct sqs *sqs;        /* owned */
	unsigned lease;         /* seconds a received message stays hidden */
	struct sqs_attributes attrs;
};

/* queue_msg.handle: the ops (queue_int.h) and the receipt handle. */
struct sqs_handle {
	const struct queue_ops *ops;
	char *receipt; /* owned */
};

static void
sqs_q_close(struct queue *q)
{
	if (q == NULL)
		return;
	sqs_free(q->sqs);
	free(q);
}

static int
sqs_q_open(const char *rest, const struct queue_options *opt, struct queue **out,
	   struct dt_err *err)
{
	struct sqs_options so;
	struct queue *q = calloc(1, sizeof(*q));
	char msg[512];

	*out = NULL;
	if (q == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	q->base.ops = &queue_sqs_ops;
	q->lease = opt && opt->lease_seconds ? opt->lease_seconds : QUEUE_DEFAULT_LEASE;
	if (q->lease > SQS_MAX_VISIBILITY)
		q->lease = SQS_MAX_VISIBILITY;
	memset(&so, 0, sizeof(so));
	if (opt) {
		so.region = opt->region;
		so.creds = opt->creds;
		so.pool = opt->pool;
	}
	/* GetQueueAttributes at once: a queue that does not exist, or credentials that may not
	 * use it, fail here, before any job is taken. */
	if (sqs_open(rest, &so, &q->sqs, err) < 0 ||
	    sqs_get_attributes(q->sqs, &q->attrs, err) < 0) {
		sqs_q_close(q);
		return -1;
	}
	if (!q->attrs.has_redrive && opt && opt->warn) {
		snprintf(msg, sizeof(msg),
			 "queue 'sqs://%.300s' has no RedrivePolicy: a job that keeps failing "
			 "comes back until the queue drops it, never to a dead-letter queue",
			 rest);
		opt->warn(opt->warn_arg, msg);
	}
	q->base.shared = 1; /* whoever the queue's policy lets send */
	*out = q;
	return 0;
}

static int
sqs_q_receive(struct queue *q, unsigned wait_seconds, struct queue_msg **out, struct dt_err *err)
{
	struct sqs_message *msgs = NULL;
	struct queue_msg *m = NULL;
	struct sqs_handle *h = NULL;
	size_t n = 0;

	*out = NULL;
	if (wait_seconds > SQS_MAX_WAIT)
		wait_seconds = SQS_MAX_WAIT;
	if (sqs_receive(q->sqs, wait_seconds, 1, (int)q->lease, &msgs, &n, err) < 0)
		return -1;
	if (n == 0)
		return 0;
	m = calloc(1, sizeof(*m));
	h = calloc(1, sizeof(*h));
	if (m == NULL || h == NULL) {
		free(m);
		free(h);
		sqs_messages_free(msgs, n);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	/* The strings move into m and h: msgs keeps nothing to free but itself. */
	h->ops = &queue_sqs_ops;
	h->receipt = msgs[0].receipt_handle;
	m->id = msgs[0].message_id;
	m->body = msgs[0].body;
	m->body_len = msgs[0].body_len;
	m->receive_count = msgs[0].receive_count;
	m->handle = h;
	msgs[0].receipt_handle = msgs[0].message_id = msgs[0].body = NULL;
	sqs_messages_free(msgs, n);
	*out = m;
	return 0;
}

static const char *
receipt(const struct queue_msg *m)
{
	return ((const struct sqs_handle *)m->handle)->receipt;
}

static int
sqs_q_heartbeat(struct queue *q, struct queue_msg *m, unsigned lease_seconds, struct dt_err *err)
{
	if (lease_seconds == 0)
		lease_seconds = q->lease;
	if (lease_seconds > SQS_MAX_VISIBILITY)
		lease_seconds = SQS_MAX_VISIBILITY;
	return sqs_change_visibility(q->sqs, receipt(m), lease_seconds, err);
}

static int
sqs_q_done(struct queue *q, struct queue_msg *m, struct dt_err *err)
{
	return sqs_delete(q->sqs, receipt(m), err);
}

/* Never DeleteMessage: the redrive policy alone decides when a job has failed for good. */
static int
sqs_q_fail(struct queue *q, struct queue_msg *m, int permanent, const char *reason,
	   struct dt_err *err)
{
	(void)reason; /* the worker logs it; SQS has nowhere to keep it */
	return sqs_change_visibility(q->sqs, receipt(m), permanent ? 0 : QUEUE_SQS_RETRY_DELAY,
				     err);
}

static int
sqs_q_release(struct queue *q, struct queue_msg *m, struct dt_err *err)
{
	return sqs_change_visibility(q->sqs, receipt(m), 0, err);
}

static void
sqs_q_msg_free(struct queue_msg *m)
{
	struct sqs_handle *h = m->handle;

	if (h) {
		free(h->receipt);
		free(h);
		m->handle = NULL;
	}
}

static int
sqs_q_send(struct queue *q, const char *body, char **id_out, struct dt_err *err)
{
	return sqs_send(q->sqs, body, 0, id_out, err);
}

const struct queue_ops queue_sqs_ops = {
	.scheme = "sqs://",
	.open = sqs_q_open,
	.close = sqs_q_close,
	.receive = sqs_q_receive,
	.heartbeat = sqs_q_heartbeat,
	.done = sqs_q_done,
	.fail = sqs_q_fail,
	.release = sqs_q_release,
	.msg_free = sqs_q_msg_free,
	.send = sqs_q_send,
};
