/*
 * read.c - files out of the image for the parsers: an entry's content through the
 * source, a path resolved inside the image (symlinks followed), the parsers' read_other and
 * list_dir, and the image's accounts. See scan_int.h.
 */
#include "scan/scan_int.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

#include "banned.h"

#define MAX_LINK_HOPS 40

int
scan_slurp(struct source *s, const struct htree_entry *e, size_t cap, unsigned char **data,
	   size_t *len, struct dt_err *err)
{
	unsigned char *p;
	size_t n = 0;

	*data = NULL;
	if (e->size > cap)
		return dt_fail(err, DT_ENOMEM,
			       "%llu bytes is more than the %zu bytes a parser reads",
			       (unsigned long long)e->size, cap);
	p = malloc(e->size + 1);
	if (p == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	while (n < e->size) {
		ssize_t got = source_read_file(s, e->fs, e->inode, e->path, n, p + n,
					       (size_t)e->size - n, err);
		if (got < 0) {
			free(p);
			return -1;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	p[n] = '\0';
	*data = p;
	*len = n;
	return 0;
}

static int
entry_slurp(struct reader *r, const struct htree_entry *e, size_t cap, unsigned char **data,
	    size_t *len, struct dt_err *err)
{
	return scan_slurp(r->s, e, cap, data, len, err);
}

/*
 * Resolve path inside the image, following symlinks component by component (absolute
 * targets from the filesystem's root); NULL if it does not resolve to an entry.
 */
static const struct htree_entry *
resolve(const struct htree *t, uint32_t fs, const char *path)
{
	struct buf cur, rest;
	const struct htree_entry *e = NULL;
	int hops = 0;

	buf_init(&cur, HTREE_MAX_PATH);
	buf_init(&rest, HTREE_MAX_PATH * 2);
	if (buf_adds(&rest, path, NULL) < 0 || buf_adds(&cur, "", NULL) < 0)
		goto out;
	while (rest.len > 0) {
		char *p = (char *)rest.data, *slash;
		size_t n;

		while (*p == '/')
			p++;
		if (*p == '\0')
			break;
		slash = strchr(p, '/');
		n = slash ? (size_t)(slash - p) : strlen(p);
		if (n == 1 && p[0] == '.') {
			/* stay */
		} else if (n == 2 && p[0] == '.' && p[1] == '.') {
			char *up = cur.len ? memrchr(cur.data, '/', cur.len) : NULL;
			cur.len = up ? (size_t)(up - (char *)cur.data) : 0;
			cur.data[cur.len] = '\0';
		} else {
			size_t old = cur.len;
			if (buf_addc(&cur, '/', NULL) < 0 || buf_add(&cur, p, n, NULL) < 0)
				goto fail;
			e = htree_find(t, fs, (const char *)cur.data, cur.len);
			if (e == NULL)
				goto fail;
			if (e->type == HTREE_LNK && e->link && e->link_len > 0) {
				struct buf nr;
				int bad = 0;

				if (++hops > MAX_LINK_HOPS)
					goto fail;
				buf_init(&nr, HTREE_MAX_PATH * 2);
				/* Relative: from the directory holding the link. */
				if (e->link[0] != '/')
					bad = buf_add(&nr, cur.data, old, NULL) < 0 ||
					      buf_addc(&nr, '/', NULL) < 0;
				bad = bad || buf_add(&nr, e->link, e->link_len, NULL) < 0 ||
				      (slash && buf_adds(&nr, slash, NULL) < 0);
				if (bad || nr.len > HTREE_MAX_PATH) {
					buf_release(&nr);
					goto fail;
				}
				buf_release(&rest);
				rest = nr;
				cur.len = 0;
				cur.data[0] = '\0';
				continue;
			}
		}
		if (!slash)
			break;
		memmove(rest.data, slash, strlen(slash) + 1);
		rest.len = strlen((char *)rest.data);
	}
	if (cur.len == 0)
		e = htree_find(t, fs, "/", 1);
	else
		e = htree_find(t, fs, (const char *)cur.data, cur.len);
	goto out;
fail:
	e = NULL;
out:
	buf_release(&cur);
	buf_release(&rest);
	return e;
}

static int
read_other(void *rctx, const char *path, unsigned char **data, size_t *len)
{
	struct reader *r = rctx;
	const struct htree_entry *e = resolve(r->t, r->fs, path);
	struct dt_err err = { 0 };

	if (e == NULL || e->type != HTREE_REG)
		return -1;
	return entry_slurp(r, e, PARSERS_MAX_INPUT, data, len, &err);
}

static int
list_dir(void *rctx, const char *path, char ***names)
{
	struct reader *r = rctx;
	const struct htree_entry *d = resolve(r->t, r->fs, path);
	size_t n = 0, cap = 0, i;
	char **v = NULL;

	*names = NULL;
	if (d == NULL || d->type != HTREE_DIR || BUF_GROW(v, 1, cap, NULL) < 0)
		return -1;
	i = (size_t)(d - htree_get(r->t, 0)) + 1;
	for (; i < d->end; i = htree_get(r->t, i)->end) {
		const struct htree_entry *c = htree_get(r->t, i);
		const char *b = memrchr(c->path, '/', c->path_len) + 1;

		/* Out of memory: no listing rather than a short one. */
		if (BUF_GROW(v, n + 1, cap, NULL) < 0 ||
		    (v[n] = strndup(b, c->path_len - (size_t)(b - c->path))) == NULL) {
			while (n > 0)
				free(v[--n]);
			free(v);
			return -1;
		}
		n++;
	}
	*names = v;
	return (int)n;
}

/* ---- parsing ---- */

static int
is_gz(const struct htree_entry *e)
{
	return e->path_len > 3 && memcmp(e->path + e->path_len - 3, ".gz", 3) == 0;
}

/*
 * Parse e with parser p into rows (an array of column objects). A file parser reads the
 * content (gunzipped for .gz, both capped); a metadata parser gets none.
 */
int
scan_parse_entry(struct reader *r, const struct parser *p, const struct htree_entry *e,
		 const struct parser_ctx *ctx, json_t *rows, struct dt_err *err)
{
	struct parser_input in;
	unsigned char *data = NULL, *plain = NULL;
	size_t len = 0, plen = 0;
	int rc;

	memset(&in, 0, sizeof(in));
	in.path = e->path;
	in.mode = e->mode | htree_type_mode(e->type);
	in.uid = e->uid;
	in.gid = e->gid;
	in.ctx = ctx;
	in.read_other = read_other;
	in.list_dir = list_dir;
	in.rctx = r;
	if (!p->meta_only && e->type == HTREE_LNK) {
		/* A link's "content" for a parser is its target (a unit masked to /dev/null). */
		in.data = (const unsigned char *)(e->link ? e->link : "");
		in.len = e->link ? e->link_len : 0;
		return p->fn(&in, rows, err);
	}
	if (!p->meta_only) {
		if (e->type != HTREE_REG)
			return 0;
		if (entry_slurp(r, e, PARSERS_MAX_INPUT, &data, &len, err) < 0)
			return -1;
		if (is_gz(e)) {
			if (parsers_gunzip(data, len, PARSERS_MAX_INPUT, &plain, &plen, err) < 0) {
				free(data);
				return -1;
			}
			free(data);
			data = plain;
			len = plen;
		}
		in.data = data;
		in.len = len;
	}
	rc = p->fn(&in, rows, err);
	free(data);
	return rc;
}

int
scan_image_ctx(struct source *s, const struct htree *t, struct parser_ctx *ctx, struct dt_err *err)
{
	struct reader r = { s, t, 0 };
	unsigned char *pw = NULL, *gr = NULL;
	size_t pwl = 0, grl = 0;
	int rc;

	memset(ctx, 0, sizeof(*ctx));
	/* The root filesystem is the one with /etc/passwd; the first one that has it. */
	for (uint32_t f = 0; f < htree_nfs(t); f++) {
		r.fs = f;
		if (read_other(&r, "/etc/passwd", &pw, &pwl) == 0) {
			read_other(&r, "/etc/group", &gr, &grl);
			break;
		}
	}
	rc = parser_ctx_init(ctx, pw, pwl, gr, grl, err);
	free(pw);
	free(gr);
	return rc;
}
