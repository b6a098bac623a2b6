/*
 * sigv4.h - AWS Signature Version 4 on OpenSSL: header signing and presigned URLs.
 * Build a struct sigv4_request (what will be sent) and a struct sigv4_params (who signs,
 * where, when, which rules), call sigv4_sign() or sigv4_presign(), add what it returns to
 * the request, sigv4_signed_release() it. No I/O, no clock: the caller gives the time.
 *
 * Rules (docs/aws.md): the path is given as it goes on the request line; for every service
 * but S3 it is normalised (dot segments, empty segments) and URI-encoded once more ("double
 * encoding"); with SIGV4_S3 it is signed exactly as sent. Query parameters are decoded,
 * re-encoded (RFC 3986 unreserved set) and sorted by name, then value. Header values are
 * trimmed and inner runs of spaces folded; repeated names join with ','.
 * Not libcurl's CURLOPT_AWS_SIGV4: libcurl 7.88 leaves the query unsorted and omits the
 * payload hash.
 */
#ifndef DELTAIR_AWS_SIGV4_H
#define DELTAIR_AWS_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "error.h"

#define SIGV4_UNSIGNED_PAYLOAD "UNSIGNED-PAYLOAD"
/* Headers, query and path together may not exceed this when canonicalised. */
#define SIGV4_MAX_CANONICAL (1u << 20)

/* Borrowed strings: the caller keeps them alive across the call. */
struct sigv4_header {
	const char *name;
	const char *value;
};

/* Borrowed. Secrets: the signer copies none of them into what it returns. */
struct sigv4_creds {
	const char *access_key_id;
	const char *secret_access_key;
	const char *session_token; /* NULL or "" when the credentials are long-term */
};

enum sigv4_flags {
	SIGV4_S3 = 1 << 0,          /* S3 rules: path signed as sent, x-amz-content-sha256 sent */
	SIGV4_SIGN_BODY = 1 << 1,   /* send and sign x-amz-content-sha256 (implied by SIGV4_S3) */
	SIGV4_OMIT_TOKEN = 1 << 2,  /* send the session token but do not sign it */
	SIGV4_NO_NORMALIZE = 1 << 3 /* keep dot and empty segments (implied by SIGV4_S3) */
};

struct sigv4_request {
	const char *method;                 /* "GET" */
	const char *path;                   /* as on the request line, before '?'; "" is "/" */
	const char *query;                  /* as on the request line, after '?'; NULL: none */
	const struct sigv4_header *headers; /* the headers to sign; one of them is "host" */
	size_t nheaders;
	const void *body; /* NULL with body_len 0 for none */
	size_t body_len;
	const char *payload_hash; /* NULL: SHA-256 of body; or SIGV4_UNSIGNED_PAYLOAD */
};

struct sigv4_params {
	const char *region;  /* "us-east-1" */
	const char *service; /* signing name: "ebs", "s3", "sts" */
	time_t when;         /* UTC seconds */
	const struct sigv4_creds *creds;
	unsigned flags; /* enum sigv4_flags */
	long expires;   /* sigv4_presign() only: X-Amz-Expires, 1 to 604800 seconds */
};

/* What to add to the request. Strings are owned by the struct: sigv4_signed_release(). */
struct sigv4_signed {
	char amz_date[17];       /* X-Amz-Date: 20150830T123600Z */
	char content_sha256[65]; /* X-Amz-Content-SHA256 when not "", else not sent */
	char signature[65];      /* hex */
	char *authorization;     /* sigv4_sign(): the Authorization value; owned */
	char *query;             /* sigv4_presign(): the whole query to send; owned */
	char *canonical_request; /* owned; for tests and debugging (holds no secret key) */
	char *string_to_sign;    /* owned */
};

/*
 * Sign for headers: on success out holds X-Amz-Date, the Authorization value and, when
 * sent, X-Amz-Content-SHA256; the caller also sends the session token as
 * X-Amz-Security-Token. Bad input (no host header, no credentials): DT_EUSAGE.
 */
int sigv4_sign(const struct sigv4_request *req, const struct sigv4_params *p,
	       struct sigv4_signed *out, struct dt_err *err);
/* Presign: out->query is the request's query with the X-Amz-* parameters and signature. */
int sigv4_presign(const struct sigv4_request *req, const struct sigv4_params *p,
		  struct sigv4_signed *out, struct dt_err *err);
/* Safe on a zeroed or half-filled struct; wipes what it frees. */
void sigv4_signed_release(struct sigv4_signed *s);

/* Hex SHA-256 of n bytes into hex[65]. */
void sigv4_sha256_hex(const void *data, size_t n, char hex[65]);
/* URI-encode n bytes (RFC 3986 unreserved kept; '/' kept when keep_slash) onto b. */
struct buf;
int sigv4_uri_encode(struct buf *b, const char *s, size_t n, int keep_slash, struct dt_err *err);

#endif
