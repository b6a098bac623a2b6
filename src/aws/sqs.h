/*
 * sqs.h - one Amazon SQS queue over the JSON 1.0 protocol: POST /, Content-Type
 * application/x-amz-json-1.0, X-Amz-Target: AmazonSQS.<Operation>, SigV4 service "sqs",
 * bodies built and read with jansson.
 * sqs_open() takes the queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME). Requests go
 * to the queue URL's own scheme, host and port unless AWS_ENDPOINT_URL_SQS or
 * AWS_ENDPOINT_URL (or the profile's endpoint_url) says otherwise (aws/endpoint.h). The
 * signing region is sqs_options.region, else the URL's host (sqs.REGION.amazonaws.com,
 * REGION.queue.amazonaws.com), else the usual chain (AWS_REGION, the profile, IMDS).
 * Errors are one line naming the operation, the HTTP status and the service's code; SQS
 * names its codes the query protocol's way (AWS.SimpleQueueService.NonExistentQueue) in the
 * x-amzn-query-error header, and that is the code shown (aws/svcerr.h).
 * A struct sqs may be used by any number of threads at once (the pool and credentials are
 * thread-safe; the struct itself is read-only after sqs_open()).
 */
#ifndef DELTAIR_AWS_SQS_H
#define DELTAIR_AWS_SQS_H

#include <stddef.h>

#include "error.h"

#define SQS_MAX_WAIT          20    /* seconds of long polling: SQS's maximum */
#define SQS_MAX_VISIBILITY    43200 /* seconds: 12 hours */
#define SQS_MAX_RECEIVE       10    /* messages one ReceiveMessage may return */
#define SQS_MAX_MESSAGE_BYTES (256u * 1024)
#define SQS_MAX_URL           1024

struct sqs;
struct creds;     /* aws/creds.h */
struct http_pool; /* aws/http.h */

struct sqs_options {
	const char *region;     /* signing region; NULL: from the URL's host, else the chain */
	struct creds *creds;    /* borrowed; NULL: the SDKs' chain (a provider of our own) */
	struct http_pool *pool; /* borrowed; NULL: a pool of our own */
	const char *const *env; /* "NAME=value" array; NULL: the process environment */
};

struct sqs_message {
	char *message_id;     /* owned */
	char *receipt_handle; /* owned: what DeleteMessage and ChangeMessageVisibility take */
	char *body;           /* owned, NUL-terminated */
	size_t body_len;
	unsigned receive_count; /* ApproximateReceiveCount; 0 when the answer had none */
};

struct sqs_attributes {
	unsigned visibility_timeout; /* seconds */
	int has_redrive;             /* the queue has a RedrivePolicy */
	unsigned max_receive_count;  /* the redrive's maxReceiveCount, 0 without one */
	char dead_letter_arn[256];   /* the redrive's deadLetterTargetArn, "" without one */
};

/* *out is new: sqs_free() it. o may be NULL (defaults). A URL that is no queue's: DT_EUSAGE. */
int sqs_open(const char *queue_url, const struct sqs_options *o, struct sqs **out,
	     struct dt_err *err) DT_MUST_USE;
void sqs_free(struct sqs *s);
/* Borrowed until s is freed. */
const char *sqs_queue_url(const struct sqs *s);
const char *sqs_region(const struct sqs *s);

/*
 * ReceiveMessage: wait up to wait_seconds (at most SQS_MAX_WAIT; the answer comes as soon as
 * a message does) for at most max messages (1 to SQS_MAX_RECEIVE), each hidden from other
 * receivers for visibility seconds (negative: the queue's default). Asks for
 * ApproximateReceiveCount. *msgs is new (sqs_messages_free()), NULL when *n is 0.
 */
int sqs_receive(struct sqs *s, unsigned wait_seconds, unsigned max, int visibility,
		struct sqs_message **msgs, size_t *n, struct dt_err *err) DT_MUST_USE;
void sqs_messages_free(struct sqs_message *msgs, size_t n);
/* DeleteMessage. */
int sqs_delete(struct sqs *s, const char *receipt_handle, struct dt_err *err) DT_MUST_USE;
/* ChangeMessageVisibility: visible again seconds from now (0: at once). */
int sqs_change_visibility(struct sqs *s, const char *receipt_handle, unsigned seconds,
			  struct dt_err *err) DT_MUST_USE;
/* SendMessage of body (at most SQS_MAX_MESSAGE_BYTES); *message_id (may be NULL) is new. */
int sqs_send(struct sqs *s, const char *body, unsigned delay_seconds, char **message_id,
	     struct dt_err *err) DT_MUST_USE;
/* GetQueueAttributes: VisibilityTimeout and RedrivePolicy. */
int sqs_get_attributes(struct sqs *s, struct sqs_attributes *out, struct dt_err *err) DT_MUST_USE;

#endif
