/*
 * http.h - AWS requests over libcurl: signed, pooled, timed out, retried.
 * One struct http_pool per process (http_pool_new(), http_pool_free()); it is thread-safe:
 * any number of threads may call http_do() on it at once, so a caller keeps many GETs in
 * flight by calling from many threads. Connections, DNS and TLS sessions are shared
 * through a curl share handle; easy handles are kept on a free list and reused.
 *
 * Each http_do() is one operation: it signs each attempt afresh (SigV4, new date), retries
 * throttling (ThrottlingException, RequestLimitExceeded, SlowDown, 429, 503 ...), other
 * 5xx, resets and timeouts with exponential backoff and full jitter, at most max_attempts
 * times, and never nests: credentials are fetched once, before the first attempt. A
 * failure is one line: "GetSnapshotBlock: HTTP 403 AccessDeniedException: ... (1 attempt)".
 * Credentials that expired mid-run (svcerr_is_expired_creds(): ExpiredToken,
 * ExpiredTokenException, EC2's RequestExpired) are not retried inside the attempts (fetching
 * credentials there would nest retries): once the attempts end on such an answer, the
 * credentials are looked up again (creds_invalidate()) and the operation runs once more.
 */
#ifndef DELTAIR_AWS_HTTP_H
#define DELTAIR_AWS_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "aws/sigv4.h"
#include "aws/svcerr.h"
#include "buf.h"
#include "error.h"

#define HTTP_MAX_ATTEMPTS     10
#define HTTP_DEFAULT_MAX_BODY (16u * 1024 * 1024)
#define HTTP_MAX_HEADERS      128

struct http_pool;
struct creds; /* aws/creds.h */

struct http_options {
	long connect_timeout_ms; /* 0: 3000 */
	long timeout_ms;         /* whole transfer of one attempt; 0: 60000 */
	int max_attempts;        /* 0: 5; at most HTTP_MAX_ATTEMPTS */
	long backoff_base_ms;    /* 0: 100 */
	long backoff_cap_ms;     /* 0: 20000 */
	int max_connections;     /* idle connections kept; 0: 64 */
	const char *user_agent;  /* NULL: "deltair/VERSION" */
};

/* A request body read from a file (http_request.body_file). */
struct http_file_body {
	int fd;
	uint64_t off;
};

struct http_request {
	const char *operation; /* "GetSnapshotBlock": names the call in errors */
	const char *method;    /* "GET", "POST", "PUT", "HEAD" */
	const char *url;       /* scheme://host[:port]/path?query, path and query encoded */
	const struct sigv4_header *headers; /* sent, and signed when signing; no Host */
	size_t nheaders;
	const void *body;
	size_t body_len;
	/* Signing: creds NULL sends the request unsigned (IMDS). */
	struct creds *creds;
	const char *region;
	const char *service;      /* signing name */
	unsigned sigv4_flags;     /* enum sigv4_flags */
	const char *payload_hash; /* NULL: SHA-256 of the body */
	/*
	 * A body read from a file instead (S3 uploads, not held in memory): body_len bytes of
	 * body_fd from body_off, read again from there by each attempt. body must be NULL and
	 * payload_hash given (the caller hashed the bytes). body_fd < 0 (or no body_file): none.
	 */
	const struct http_file_body *body_file;
	/* A 2xx body goes to dst (dst_cap bytes) when dst is set, else into resp->body. */
	void *dst;
	size_t dst_cap;
	/*
	 * Or to sink (S3 downloads): called with each piece and its offset in the body; every
	 * attempt starts again at offset 0. At most dst_cap bytes (0: no cap). Return 0 to go
	 * on, -1 to stop (the operation fails with DT_EIO).
	 */
	int (*sink)(void *arg, uint64_t off, const void *data, size_t len);
	void *sink_arg;
	size_t max_body;  /* cap of resp->body; 0: HTTP_DEFAULT_MAX_BODY */
	int max_attempts; /* 0: the pool's */
	long timeout_ms;  /* per attempt; 0: the pool's (IMDS asks for 1 s) */
	/* Called before every attempt, retries included (a rate limit's token); NULL: none. */
	void (*pace)(void *arg);
	void *pace_arg;
};

struct http_response {
	long status;     /* the last attempt's HTTP status; 0 when none arrived */
	struct buf body; /* owned: the body when no dst, or an error response's body */
	size_t len;      /* bytes of the 2xx body received (in dst or body) */
	char *headers[HTTP_MAX_HEADERS]; /* owned: "name\0value", name lower-case */
	size_t nheaders;
	int attempts;
	struct svcerr error; /* the service's error, when status >= 300 */
};

/* *out is new: http_pool_free() it. opts may be NULL (defaults). Copies opts. */
int http_pool_new(const struct http_options *opts, struct http_pool **out,
		  struct dt_err *err) DT_MUST_USE;
void http_pool_free(struct http_pool *p);

/*
 * Run one operation. 0 with a 2xx in resp; otherwise -1 and err names operation, status
 * and AWS error code (DT_ENET; DT_EFORMAT when the body does not fit dst or max_body).
 * resp is filled in either case: http_response_release() it.
 */
int http_do(struct http_pool *p, const struct http_request *req, struct http_response *resp,
	    struct dt_err *err) DT_MUST_USE;
/* Borrowed until resp is released; name is matched without case. NULL when absent. */
const char *http_response_header(const struct http_response *resp, const char *name);
/* Safe on a zeroed struct; wipes the body (it may hold credentials). */
void http_response_release(struct http_response *resp);

/*
 * Full-jitter backoff before retry number attempt (1 = the first retry): rnd scaled into
 * [0, min(cap, base * 2^(attempt-1))] milliseconds. Exposed for tests.
 */
long http_backoff_ms(const struct http_options *opts, int attempt, uint32_t rnd);

#endif
