/*
 * s3.h - Amazon S3 objects through our own client (aws/http.h, aws/sigv4.h): put (single or
 * multipart, streamed from a file), get to a file, head, list, delete. docs/aws.md ("S3").
 *
 * Every upload carries the SHA-256 of what it sends twice: hex in x-amz-content-sha256 (part
 * of the signature; the server hashes the body it received and refuses a mismatch) and
 * base64 in x-amz-checksum-sha256 (kept with the object by S3). A file at or above the
 * multipart threshold goes up in parts (CreateMultipartUpload, UploadPart with each part's
 * checksum, CompleteMultipartUpload naming every part's checksum); any failure aborts the
 * upload (AbortMultipartUpload), so no parts are left behind to be billed. A file is never
 * held in memory: each attempt reads its bytes again from the file.
 *
 * Addressing: path-style (http://host/BUCKET/KEY) when the endpoint is an override
 * (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's endpoint_url) or the bucket name has
 * a '.'; virtual-hosted (https://BUCKET.s3.REGION.amazonaws.com/KEY) otherwise. Keys are
 * URI-encoded once, '/' kept, and signed exactly as sent (no double encoding).
 * XML answers (errors, lists, multipart) are read with libexpat.
 * A struct s3 is thread-safe when its pool and creds are (they are: http.h, creds.h).
 */
#ifndef DELTAIR_AWS_S3_H
#define DELTAIR_AWS_S3_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define S3_MIN_PART          (5u * 1024 * 1024) /* S3's smallest part but the last */
#define S3_DEFAULT_PART      (16u * 1024 * 1024)
#define S3_DEFAULT_MULTIPART (64u * 1024 * 1024)
#define S3_MAX_PARTS         10000
#define S3_MAX_KEY           1024 /* bytes of UTF-8, S3's limit */
#define S3_MAX_OBJECT        (5ull * 1024 * 1024 * 1024 * 1024)
#define S3_MAX_LIST          (1u << 24) /* keys s3_list() returns at the most */
#define S3_MAX_BUCKET        63

struct s3;
struct creds;     /* aws/creds.h */
struct http_pool; /* aws/http.h */

struct s3_options {
	struct http_pool *pool;       /* borrowed; must outlive the struct s3 */
	struct creds *creds;          /* borrowed; must outlive the struct s3 */
	const char *const *env;       /* "NAME=value" array (profile.h); NULL: the process's */
	const char *region;           /* NULL: AWS_REGION, ... (aws/endpoint.h) */
	const char *sse;              /* NULL, "AES256" or "aws:kms" */
	const char *sse_kms_key_id;   /* with "aws:kms"; NULL: the account's default key */
	uint64_t multipart_threshold; /* 0: S3_DEFAULT_MULTIPART */
	uint64_t part_size; /* 0: S3_DEFAULT_PART; at least S3_MIN_PART; grown to fit 10,000 */
};

struct s3_object_info {
	uint64_t size;
	char etag[80];            /* as the server quoted it */
	char checksum_sha256[64]; /* base64 (or "...-N" for a multipart object); "" when none */
	char sse[16];             /* x-amz-server-side-encryption: "AES256", "aws:kms", "" */
};

/* *out is new: s3_free() it. Bad sse, region or endpoint: DT_EUSAGE. */
int s3_new(const struct s3_options *o, struct s3 **out, struct dt_err *err) DT_MUST_USE;
void s3_free(struct s3 *c);

/*
 * Upload the local file path as bucket/key: one PutObject below the multipart threshold,
 * else a multipart upload (aborted on any failure). A file that changes size while it is
 * sent fails (DT_EIO); one whose bytes change is refused by the server's hash check.
 */
int s3_put_file(struct s3 *c, const char *bucket, const char *key, const char *path,
		struct dt_err *err) DT_MUST_USE;
/* Upload len bytes as bucket/key (one PutObject). */
int s3_put_mem(struct s3 *c, const char *bucket, const char *key, const void *data, size_t len,
	       struct dt_err *err) DT_MUST_USE;
/*
 * Download bucket/key into fd, a regular file the caller opened (and names, renames and
 * removes: outfile.h): written from offset 0 (a retry writes again from 0) and cut to the
 * object's size. An object over max_size bytes (0: no cap) is refused (DT_ENOMEM). No such
 * object: DT_EUSAGE with sys_errno ENOENT. When the server returns the object's full
 * SHA-256, the bytes are checked against it.
 */
int s3_get_fd(struct s3 *c, const char *bucket, const char *key, int fd, uint64_t max_size,
	      struct dt_err *err) DT_MUST_USE;
/* HeadObject: 1 and *info (may be NULL) when the object exists, 0 when not, -1 on failure. */
int s3_head(struct s3 *c, const char *bucket, const char *key, struct s3_object_info *info,
	    struct dt_err *err) DT_MUST_USE;
/*
 * ListObjectsV2 of every key under prefix ("" for all), page after page: *keys is a new
 * array of n new strings in the server's (UTF-8 binary) order; s3_keys_free() them.
 */
int s3_list(struct s3 *c, const char *bucket, const char *prefix, char ***keys, size_t *n,
	    struct dt_err *err) DT_MUST_USE;
void s3_keys_free(char **keys, size_t n);
/* DeleteObjects, 1,000 keys a request; a key that is absent is not an error. */
int s3_delete(struct s3 *c, const char *bucket, char *const *keys, size_t n,
	      struct dt_err *err) DT_MUST_USE;

/* Is name a bucket name S3 accepts (3-63 of a-z 0-9 . -, ...)? */
int s3_bucket_ok(const char *name);

/*
 * For tests, no I/O. The request URL of bucket/key (key NULL: the bucket) with query
 * (NULL: none) into a new string (free()): path_style or virtual-hosted on base.
 */
int s3_object_url(const char *base, int path_style, const char *bucket, const char *key,
		  const char *query, char **out, struct dt_err *err) DT_MUST_USE;
/*
 * A ListObjectsV2 answer (encoding-type=url): its keys appended to *keys (*n of them,
 * *cap allocated), *truncated and the new *token (free()). Malformed: DT_EFORMAT.
 */
int s3_parse_list(const void *xml, size_t len, char ***keys, size_t *n, size_t *cap, int *truncated,
		  char **token, struct dt_err *err) DT_MUST_USE;

#endif
