/* store.c - store.h's calls, dispatched by the URL to a backend (store_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"
#include "worker/store_int.h"

#include "banned.h"

static struct store_base *
base(struct store *s)
{
	return (struct store_base *)s;
}

int
store_check_key(const char *key, struct dt_err *err)
{
	size_t n = strlen(key);
	const char *p = key;

	if (n == 0 || n > STORE_MAX_KEY)
		return dt_fail(err, DT_EUSAGE, "store: key of %zu bytes (1 to %d)", n,
			       STORE_MAX_KEY);
	while (*p) {
		size_t len = strcspn(p, "/");
		if (len == 0 || (len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.'))
			return dt_fail(err, DT_EUSAGE,
				       "store: key '%.200s' has an empty, '.' or '..' part", key);
		p += len;
		if (*p == '/' && *++p == '\0')
			return dt_fail(err, DT_EUSAGE, "store: key '%.200s' ends with '/'", key);
	}
	return 0;
}

int
store_open(const char *url, const struct store_options *opt, struct store **out, struct dt_err *err)
{
	const struct store_ops *ops = &store_dir_ops;
	char *copy;

	*out = NULL;
	if (strncmp(url, store_s3_ops.scheme, strlen(store_s3_ops.scheme)) == 0) {
		ops = &store_s3_ops;
	} else if (strstr(url, "://") != NULL) {
		return dt_fail(err, DT_EUSAGE, "store '%s': not a folder or s3://BUCKET[/PREFIX]",
			       url);
	}
	copy = strdup(url);
	if (copy == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	if (ops->open(url, opt, out, err) < 0) {
		free(copy);
		return -1;
	}
	base(*out)->ops = ops;
	base(*out)->url = copy;
	return 0;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	free(base(s)->url);
	base(s)->ops->close(s);
}

int
store_put_file(struct store *s, const char *key, const char *path, struct dt_err *err)
{
	if (store_check_key(key, err) < 0)
		return -1;
	return base(s)->ops->put_file(s, key, path, err);
}

int
store_move_file(struct store *s, const char *key, const char *path, int *moved, struct dt_err *err)
{
	*moved = 0;
	if (store_check_key(key, err) < 0)
		return -1;
	if (base(s)->ops->move_file == NULL)
		return base(s)->ops->put_file(s, key, path, err);
	return base(s)->ops->move_file(s, key, path, moved, err);
}

int
store_move_tree(struct store *s, const char *key, const char *path, int *moved, struct dt_err *err)
{
	*moved = 0;
	if (store_check_key(key, err) < 0)
		return -1;
	if (base(s)->ops->move_tree == NULL)
		return 0;
	return base(s)->ops->move_tree(s, key, path, moved, err);
}

int
store_put_mem(struct store *s, const char *key, const void *data, size_t len, struct dt_err *err)
{
	if (store_check_key(key, err) < 0)
		return -1;
	return base(s)->ops->put_mem(s, key, data, len, err);
}

int
store_exists(struct store *s, const char *key, struct dt_err *err)
{
	if (store_check_key(key, err) < 0)
		return -1;
	return base(s)->ops->exists(s, key, err);
}

int
store_get_file(struct store *s, const char *key, const char *path, const struct outfile_opts *o,
	       struct dt_err *err)
{
	struct outfile of = { 0 };
	int rc = -1;

	if (store_check_key(key, err) < 0 || outfile_open(&of, path, o, err) < 0)
		return -1;
	if (of.tmp == NULL)
		dt_fail(err, DT_EUSAGE,
			"'%s': an object is copied into a file, not a stream or a device", path);
	else if (fflush(of.fp) == 0 && base(s)->ops->get_fd(s, key, fileno(of.fp), err) == 0 &&
		 outfile_commit(&of, err) == 0)
		rc = 0;
	outfile_release(&of);
	return rc;
}

int
store_delete_prefix(struct store *s, const char *prefix, struct dt_err *err)
{
	/* An empty prefix would be everything: never what a job's cleanup means. */
	if (*prefix == '\0')
		return dt_fail(err, DT_EUSAGE, "store: refusing to delete with an empty prefix");
	return base(s)->ops->delete_prefix(s, prefix, err);
}

static int
cmp_keys(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
store_list(struct store *s, const char *prefix, char ***keys, size_t *n, struct dt_err *err)
{
	*keys = NULL;
	*n = 0;
	if (base(s)->ops->list(s, prefix, keys, n, err) < 0)
		return -1;
	if (*n)
		qsort(*keys, *n, sizeof(**keys), cmp_keys);
	return 0;
}

const char *
store_url(const struct store *s)
{
	return ((const struct store_base *)s)->url;
}
