/*
 * store.h - where results go: a folder, or S3.
 *   "DIR" (a path)            keys are relative paths under DIR; folders 0700, files 0600;
 *                             every object is written to a temporary name and renamed.
 *   "s3://BUCKET[/PREFIX]"    keys are object keys under PREFIX; PutObject (multipart at or
 *                             above multipart_threshold) with x-amz-checksum-sha256, and the
 *                             server-side encryption headers of the options. The endpoint is
 *                             AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL (aws/endpoint.h),
 *                             path-style addressing when an endpoint is given.
 * An object is either whole or absent: never half-written under its key.
 */
#ifndef DELTAIR_WORKER_STORE_H
#define DELTAIR_WORKER_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define STORE_DEFAULT_MULTIPART (64u * 1024 * 1024)

struct store;
struct creds;     /* aws/creds.h */
struct http_pool; /* aws/http.h */

struct store_options {
	const char *region;           /* S3: NULL: from env/profile/IMDS (aws/endpoint.h) */
	struct creds *creds;          /* S3: borrowed */
	struct http_pool *pool;       /* S3: borrowed */
	const char *sse;              /* S3: NULL, "AES256" or "aws:kms" */
	const char *sse_kms_key_id;   /* S3: with "aws:kms"; NULL: the account's default key */
	uint64_t multipart_threshold; /* S3: 0: STORE_DEFAULT_MULTIPART */
};

/* Open the store named by url (a folder is made, 0700, with missing parents). */
int store_open(const char *url, const struct store_options *opt, struct store **out,
	       struct dt_err *err) DT_MUST_USE;
void store_close(struct store *s);
/* Store the local file path as key. */
int store_put_file(struct store *s, const char *key, const char *path,
		   struct dt_err *err) DT_MUST_USE;
/*
 * Store the local file path as key, giving the file up: a folder store on path's filesystem
 * renames it into place (path is gone, the object is that very file, made 0600; *moved 1);
 * anywhere else it is copied as by store_put_file() (path stays; *moved 0). Never for a
 * COMPLETE (a commit marker is written, not moved).
 */
int store_move_file(struct store *s, const char *key, const char *path, int *moved,
		    struct dt_err *err) DT_MUST_USE;
/*
 * Store the local folder path, with all it holds, as the objects under key ("key/a/b" from
 * "path/a/b"), giving it up: a folder store on path's filesystem where nothing is at key yet
 * renames the folder into place in one step (path is gone; *moved 1), then makes it hold
 * what a store folder may: folders 0700, files 0600, nothing else (a link, a FIFO, a device
 * in it is removed). Anywhere else nothing is done and *moved is 0: store the files one by
 * one (store_move_file()). A COMPLETE inside is moved like any other file: the commit is a
 * COMPLETE put (store_put_mem()) after it. The caller checks every key the folder makes
 * (store_check_key()).
 */
int store_move_tree(struct store *s, const char *key, const char *path, int *moved,
		    struct dt_err *err) DT_MUST_USE;
/* Store len bytes as key. */
int store_put_mem(struct store *s, const char *key, const void *data, size_t len,
		  struct dt_err *err) DT_MUST_USE;
/* 1 when key exists, 0 when not, -1 on failure. */
int store_exists(struct store *s, const char *key, struct dt_err *err) DT_MUST_USE;
/*
 * Copy key into the local file path under outfile.h's one rule (o: what path may replace;
 * checked before anything is fetched), written under a temporary name (removed on a
 * signal) and renamed when whole. path must be a file: stdout, devices and FIFOs are refused.
 */
struct outfile_opts; /* outfile.h */
int store_get_file(struct store *s, const char *key, const char *path, const struct outfile_opts *o,
		   struct dt_err *err) DT_MUST_USE;
/* Remove every object whose key starts with prefix (a killed job's partial result). */
int store_delete_prefix(struct store *s, const char *prefix, struct dt_err *err) DT_MUST_USE;
/* The keys under prefix, sorted: *keys (caller frees each and the array), *n. */
int store_list(struct store *s, const char *prefix, char ***keys, size_t *n,
	       struct dt_err *err) DT_MUST_USE;
/*
 * A key is a relative path of '/'-separated parts, none empty, "." or "..", no NUL, at most
 * STORE_MAX_KEY bytes: what every backend accepts, so that a key made from hostile input
 * can never climb out of the store. 0 or -1 (DT_EUSAGE).
 */
#define STORE_MAX_KEY 1024
int store_check_key(const char *key, struct dt_err *err);
/* The URL the store was opened with, for messages and logs. */
const char *store_url(const struct store *s);

#endif
