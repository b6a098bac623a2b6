/*
 * input.c - what the parsers of src/parsers/ share about their input: the row sink, and
 * the rest of the image (other files, directories, symbolic links) through the caller's
 * callbacks, each read capped at PARSERS_MAX_INPUT. Declared in parsers_int.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "parsers.h"
#include "parsers/parsers_int.h"

#include "banned.h"

/* New NUL-terminated copy of the concatenation of up to three spans, or NULL. */
char *
parsers_cat3(struct span a, struct span b, struct span c)
{
	char *z;

	if (a.n > SIZE_MAX / 4 || b.n > SIZE_MAX / 4 || c.n > SIZE_MAX / 4)
		return NULL;
	z = malloc(a.n + b.n + c.n + 1);
	if (z == NULL)
		return NULL;
	memcpy(z, a.p, a.n);
	memcpy(z + a.n, b.p, b.n);
	memcpy(z + a.n + b.n, c.p, c.n);
	z[a.n + b.n + c.n] = '\0';
	return z;
}

int
parsers_sink_init(struct parsers_sink *s, const char *table, const struct parser_input *in,
		  json_t *rows, struct dt_err *err)
{
	if (in == NULL || in->path == NULL || !json_is_array(rows) ||
	    (in->data == NULL && in->len > 0))
		return dt_fail(err, DT_EUSAGE, "%s: bad parser input", table);
	if (parsers_input_check(in, err) < 0)
		return -1;
	s->rows = rows;
	s->base = json_array_size(rows);
	s->path = in->path;
	return 0;
}

int
parsers_other_read(const struct parser_input *in, const char *path, unsigned char **data,
		   size_t *len)
{
	*data = NULL;
	*len = 0;
	if (in->read_other == NULL || path == NULL)
		return -1;
	if (in->read_other(in->rctx, path, data, len) < 0) {
		*data = NULL;
		*len = 0;
		return -1;
	}
	if (*len > PARSERS_MAX_INPUT || (*data == NULL && *len > 0)) {
		free(*data);
		*data = NULL;
		*len = 0;
		return -1;
	}
	return 0;
}

void
parsers_names_release(struct parsers_names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
	nm->v = NULL;
	nm->n = 0;
}

int
parsers_other_list(const struct parser_input *in, const char *path, struct parsers_names *nm)
{
	char **v = NULL;
	int n;

	nm->v = NULL;
	nm->n = 0;
	if (in->list_dir == NULL || path == NULL)
		return -1;
	n = in->list_dir(in->rctx, path, &v);
	if (n < 0)
		return -1;
	nm->v = v;
	nm->n = v ? (size_t)n : 0;
	return 0;
}

/* The target of the link at link_path as a normalised absolute path: new, or NULL. */
static char *
link_resolve(struct span link_path, struct span target)
{
	char *z, *n;

	target = span_trim(target);
	if (target.n == 0 || target.n > PARSERS_MAX_NAME || memchr(target.p, '\0', target.n))
		return NULL;
	if (target.p[0] == '/')
		z = parsers_cat3(target, span_z(""), span_z(""));
	else
		z = parsers_cat3(span_path_dir(link_path), span_z("/"), target);
	if (z && z[0] != '/') {
		free(z); /* a relative link_path: nothing to resolve against */
		return NULL;
	}
	n = z ? parsers_path_norm(z) : NULL;
	free(z);
	return n;
}

void
parsers_text_release(struct parsers_text *t)
{
	free(t->owned);
	free(t->target);
	memset(t, 0, sizeof(*t));
}

int
parsers_text_load(const struct parser_input *in, struct parsers_text *t)
{
	size_t len = 0;

	memset(t, 0, sizeof(*t));
	t->s = span_of(NULL, 0);
	if (!S_ISLNK(in->mode)) {
		t->s = span_of(in->data, in->len);
		return 0;
	}
	t->is_link = 1;
	if (in->data == NULL || in->len == 0) {
		if (parsers_other_read(in, in->path, &t->owned, &len) < 0)
			return -1;
		t->s = span_of(t->owned, len);
		return 0;
	}
	t->target = link_resolve(span_z(in->path), span_of(in->data, in->len));
	if (t->target == NULL)
		return -1;
	if (strcmp(t->target, "/dev/null") == 0) {
		t->is_devnull = 1;
		return -1;
	}
	if (parsers_other_read(in, t->target, &t->owned, &len) < 0)
		return -1;
	t->s = span_of(t->owned, len);
	return 0;
}
