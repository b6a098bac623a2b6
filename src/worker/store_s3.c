/*
 * store_s3.c - the "s3://BUCKET[/PREFIX]" store (store.h) on our S3 client (aws/s3.h).
 * A key K is the object PREFIX/K. Uploads are whole or absent: a PutObject or a multipart
 * upload that is completed only when every part is in (aborted otherwise).
 */
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "aws/s3.h"
#include "worker/store_int.h"

#include "banned.h"

/* A result or baseline larger than this is not one of ours: refuse it before the disk fills. */
#define STORE_S3_MAX_GET (256ull * 1024 * 1024 * 1024)

struct store {
	struct store_base base; /* first: store.c's */
	struct s3 *s3;          /* owned */
	struct http_pool *pool; /* owned when the options gave none */
	struct creds *creds;    /* owned when the options gave none */
	char bucket[S3_MAX_BUCKET + 1];
	char *prefix; /* owned: "" or "PREFIX/" */
};

/* PREFIX/key into a new string, NULL when out of memory. */
static char *
object_key(const struct store *s, const char *key)
{
	size_t a = strlen(s->prefix), b = strlen(key);
	char *k = malloc(a + b + 1);

	if (k) {
		memcpy(k, s->prefix, a);
		memcpy(k + a, key, b + 1);
	}
	return k;
}

static int
s3s_put_file(struct store *s, const char *key, const char *path, struct dt_err *err)
{
	char *k = object_key(s, key);
	int rc;

	if (k == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	rc = s3_put_file(s->s3, s->bucket, k, path, err);
	free(k);
	return rc;
}

static int
s3s_put_mem(struct store *s, const char *key, const void *data, size_t len, struct dt_err *err)
{
	char *k = object_key(s, key);
	int rc;

	if (k == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	rc = s3_put_mem(s->s3, s->bucket, k, data, len, err);
	free(k);
	return rc;
}

static int
s3s_exists(struct store *s, const char *key, struct dt_err *err)
{
	char *k = object_key(s, key);
	int rc;

	if (k == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	rc = s3_head(s->s3, s->bucket, k, NULL, err);
	free(k);
	return rc;
}

static int
s3s_get_fd(struct store *s, const char *key, int fd, struct dt_err *err)
{
	char *k = object_key(s, key);
	int rc;

	if (k == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	rc = s3_get_fd(s->s3, s->bucket, k, fd, STORE_S3_MAX_GET, err);
	free(k);
	return rc;
}

/* The objects under prefix, named as the store names them (PREFIX/ taken off). */
static int
s3s_list(struct store *s, const char *prefix, char ***keys, size_t *n, struct dt_err *err)
{
	size_t plen = strlen(s->prefix), o = 0;
	char *k = object_key(s, prefix);
	char **all = NULL;
	size_t nall = 0;

	if (k == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	if (s3_list(s->s3, s->bucket, k, &all, &nall, err) < 0) {
		free(k);
		return -1;
	}
	free(k);
	for (size_t i = 0; i < nall; i++) {
		/* Every key starts with PREFIX/ (we asked for it); an empty rest is the folder
		 * marker some tools leave, not an object of ours. */
		if (strncmp(all[i], s->prefix, plen) != 0 || all[i][plen] == '\0') {
			free(all[i]);
			continue;
		}
		memmove(all[i], all[i] + plen, strlen(all[i] + plen) + 1);
		all[o++] = all[i];
	}
	*keys = all;
	*n = o;
	return 0;
}

static int
s3s_delete_prefix(struct store *s, const char *prefix, struct dt_err *err)
{
	char *k = object_key(s, prefix);
	char **all = NULL;
	size_t nall = 0;
	int rc;

	if (k == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	rc = s3_list(s->s3, s->bucket, k, &all, &nall, err);
	free(k);
	if (rc == 0 && nall > 0)
		rc = s3_delete(s->s3, s->bucket, all, nall, err);
	s3_keys_free(all, nall);
	return rc;
}

static void
s3s_close(struct store *s)
{
	s3_free(s->s3);
	creds_free(s->creds);
	http_pool_free(s->pool);
	free(s->prefix);
	free(s);
}

/* "s3://BUCKET[/PREFIX]": the bucket, and the prefix without the slashes around it. */
static int
parse_url(struct store *s, const char *url, struct dt_err *err)
{
	const char *b = url + 5, *slash = strchr(b, '/'), *p;
	size_t blen = slash ? (size_t)(slash - b) : strlen(b), plen;

	if (blen > S3_MAX_BUCKET)
		return dt_fail(err, DT_EUSAGE, "store '%s': bucket name too long", url);
	memcpy(s->bucket, b, blen);
	s->bucket[blen] = '\0';
	if (!s3_bucket_ok(s->bucket))
		return dt_fail(err, DT_EUSAGE, "store '%s': '%s' is not an S3 bucket name", url,
			       s->bucket);
	p = slash ? slash : b + blen;
	while (*p == '/')
		p++;
	plen = strlen(p);
	while (plen > 0 && p[plen - 1] == '/')
		plen--;
	if (plen > 0 && (store_check_key(p, err) < 0 || plen > S3_MAX_KEY / 2))
		return dt_fail(err, DT_EUSAGE, "store '%s': bad prefix", url);
	s->prefix = malloc(plen + 2);
	if (s->prefix == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	memcpy(s->prefix, p, plen);
	if (plen > 0)
		s->prefix[plen++] = '/';
	s->prefix[plen] = '\0';
	return 0;
}

static int
s3s_open(const char *url, const struct store_options *opt, struct store **out, struct dt_err *err)
{
	static const struct store_options none = { 0 };
	struct s3_options so = { 0 };
	struct store *s;

	if (opt == NULL)
		opt = &none;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	if (parse_url(s, url, err) < 0)
		goto fail;
	so.pool = opt->pool;
	so.creds = opt->creds;
	if (so.pool == NULL) {
		if (http_pool_new(NULL, &s->pool, err) < 0)
			goto fail;
		so.pool = s->pool;
	}
	if (so.creds == NULL) {
		struct creds_options co = { 0 };
		co.region = opt->region;
		if (creds_new(&co, so.pool, &s->creds, err) < 0)
			goto fail;
		so.creds = s->creds;
	}
	so.region = opt->region;
	so.sse = opt->sse;
	so.sse_kms_key_id = opt->sse_kms_key_id;
	so.multipart_threshold = opt->multipart_threshold;
	/* Parts no larger than the threshold: a low threshold (tests) gives small parts. */
	if (opt->multipart_threshold && opt->multipart_threshold < S3_DEFAULT_PART)
		so.part_size = opt->multipart_threshold;
	if (s3_new(&so, &s->s3, err) < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	s3s_close(s);
	return -1;
}

const struct store_ops store_s3_ops = {
	.scheme = "s3://",
	.open = s3s_open,
	.close = s3s_close,
	.put_file = s3s_put_file,
	.put_mem = s3s_put_mem,
	.exists = s3s_exists,
	.get_fd = s3s_get_fd,
	.delete_prefix = s3s_delete_prefix,
	.list = s3s_list,
};
