/* queue.c - queue.h's calls, dispatched by the URL's scheme to a backend (queue_int.h). */
#include <stdlib.h>
#include <string.h>

#include "worker/queue_int.h"

#include "banned.h"

static const struct queue_ops *
find_ops(const char *url, const char **rest)
{
	const struct queue_ops *const table[] = { &queue_spool_ops, &queue_sqs_ops };

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		size_t n = strlen(table[i]->scheme);
		if (strncmp(url, table[i]->scheme, n) == 0) {
			*rest = url + n;
			return table[i];
		}
	}
	return NULL;
}

static struct queue_base *
base(struct queue *q)
{
	return (struct queue_base *)q;
}

int
queue_open(const char *url, const struct queue_options *opt, struct queue **out, struct dt_err *err)
{
	const struct queue_ops *ops;
	const char *rest;

	*out = NULL;
	ops = find_ops(url, &rest);
	if (ops == NULL)
		return dt_fail(err, DT_EUSAGE, "queue '%s': not spool:DIR or sqs://QUEUE_URL", url);
	if (ops->open(rest, opt, out, err) < 0)
		return -1;
	base(*out)->ops = ops;
	return 0;
}

int
queue_shared(const struct queue *q)
{
	return ((const struct queue_base *)q)->shared;
}

void
queue_close(struct queue *q)
{
	if (q)
		base(q)->ops->close(q);
}

int
queue_receive(struct queue *q, unsigned wait_seconds, struct queue_msg **out, struct dt_err *err)
{
	*out = NULL;
	return base(q)->ops->receive(q, wait_seconds, out, err);
}

int
queue_heartbeat(struct queue *q, struct queue_msg *m, unsigned lease_seconds, struct dt_err *err)
{
	return base(q)->ops->heartbeat(q, m, lease_seconds, err);
}

int
queue_done(struct queue *q, struct queue_msg *m, struct dt_err *err)
{
	return base(q)->ops->done(q, m, err);
}

int
queue_fail(struct queue *q, struct queue_msg *m, int permanent, const char *reason,
	   struct dt_err *err)
{
	return base(q)->ops->fail(q, m, permanent, reason, err);
}

int
queue_release(struct queue *q, struct queue_msg *m, struct dt_err *err)
{
	return base(q)->ops->release(q, m, err);
}

void
queue_msg_free(struct queue_msg *m)
{
	if (m == NULL)
		return;
	/* The backend frees its handle; the strings are ours. */
	if (m->handle) {
		const struct queue_ops *ops = *(const struct queue_ops **)m->handle;
		ops->msg_free(m);
	}
	free(m->id);
	free(m->body);
	free(m);
}

int
queue_send(struct queue *q, const char *body, char **id_out, struct dt_err *err)
{
	return base(q)->ops->send(q, body, id_out, err);
}
