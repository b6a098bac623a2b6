/*
 * svcerr.h - an AWS service's error response, read in the service's own format.
 * JSON protocols (EBS direct, SQS JSON): "__type" or "code" and "message" (jansson), or the
 * x-amzn-ErrorType header. XML protocols (S3, EC2, STS, SQS query): the first <Code> and
 * <Message> elements (libexpat). Nothing is found by searching strings.
 */
#ifndef DELTAIR_AWS_SVCERR_H
#define DELTAIR_AWS_SVCERR_H

#include <stddef.h>

#define SVCERR_MAX_BODY (64u * 1024)

struct svcerr {
	char code[128];    /* "ThrottlingException", "" when the response named none */
	char message[256]; /* one line, control characters replaced; "" when none */
};

/*
 * Fill e from an error response. error_type is the x-amzn-ErrorType header or NULL; the
 * body is parsed as JSON when it starts with '{', as XML when with '<'. Never fails: what
 * cannot be read leaves the fields empty.
 */
void svcerr_parse(const char *error_type, const void *body, size_t len, struct svcerr *e);
/*
 * A JSON answer of a service that also speaks an older query protocol (SQS) names its error
 * twice: "__type" (com.amazonaws.sqs#QueueDoesNotExist) and the x-amzn-query-error header
 * ("AWS.SimpleQueueService.NonExistentQueue;Sender"), the code the query protocol, the SDKs
 * and the service's documentation use. When header (may be NULL) names one, it becomes e's
 * code, unless e's code asks to slow down (that one decides a retry).
 */
void svcerr_query_compat(struct svcerr *e, const char *header);
/* Does this code ask the caller to slow down (ThrottlingException, SlowDown, ...)? */
int svcerr_is_throttle(const char *code);
/* Do the credentials seem expired (ExpiredToken, ExpiredTokenException, RequestExpired)? */
int svcerr_is_expired_creds(const char *code);

#endif
