/*
 * scan.c - triage of the delta. See scan.h.
 *
 * Rows are compared as osquery's differential results are: a row is its columns, rows of
 * the same (filesystem, table, file) are matched as a multiset, and what is left on either
 * side is "removed" (gold) or "added" (incident). Two inputs are re-parsed although their
 * own bytes did not change, because their rows depend on another file that did: /etc/group
 * (user_groups) when /etc/passwd changed, and a unit file (systemd_units' unit_file_state)
 * when a link in a *.wants/ or *.requires/ directory appeared or went away.
 */
#include "scan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "events.h"
#include "outfile.h"

#include "banned.h"

#define READ_CHUNK    (1u << 20)
#define MAX_LINK_HOPS 40
#define MAX_PARSERS   8

/* ---- reading files out of the image ---- */

struct reader {
	struct source *s;
	const struct htree *t;
	uint32_t fs;
};

static ssize_t
entry_read(struct reader *r, const struct htree_entry *e, uint64_t off, void *buf, size_t len,
	   struct dt_err *err)
{
	return source_read_file(r->s, e->fs, e->inode, e->path, off, buf, len, err);
}

/* The whole content of e, capped: *data is new (free()). */
static int
entry_slurp(struct reader *r, const struct htree_entry *e, size_t cap, unsigned char **data,
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
		ssize_t got = entry_read(r, e, n, p + n, (size_t)e->size - n, err);
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
static int
parse_entry(struct reader *r, const struct parser *p, const struct htree_entry *e,
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

/* ---- rows ---- */

static json_t *
row_object(const char *fs, const char *table, const char *path, size_t path_len, json_t *cols)
{
	json_t *o = json_object();

	json_object_set_new(o, "fs", json_string(fs));
	events_set_path(o, "path", path, path_len);
	json_object_set_new(o, "table", json_string(table));
	json_object_set(o, "columns", cols);
	return o;
}

static void
report_error(scan_emit_fn emit, void *ectx, struct scan_stats *st, const char *fs,
	     const struct htree_entry *e, const char *what, const struct dt_err *err)
{
	char msg[600];
	struct dt_err ignored = { 0 };

	snprintf(msg, sizeof(msg), "%s: %s", what, err->msg);
	st->errors++;
	emit(ectx, events_error(fs, e ? e->path : NULL, e ? e->path_len : 0, msg), NULL, &ignored);
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

/*
 * The literal text every parser path starts with ("/etc/cron.d/", "/home/alice/.", ...):
 * a cheap test that spares the fnmatch of every parser glob for the many paths no parser
 * reads (a home such as /bin or /var/www would otherwise send all of it through them).
 */
struct prefixes {
	char **v;
	size_t *len;
	size_t n, vcap, lencap;
	int all;
};

static void
add_prefix(struct prefixes *px, const char *home, const char *glob)
{
	char buf[4200];
	size_t n = strcspn(glob, "*?[\\");
	int len;

	len = snprintf(buf, sizeof(buf), "%s%.*s", home ? home : "", (int)n, glob);
	if (len <= 0 || (size_t)len >= sizeof(buf)) {
		px->all = 1;
		return;
	}
	/* Everything before the first wildcard must match literally (fnmatch, FNM_PATHNAME). */
	if (buf[0] != '/') {
		px->all = 1;
		return;
	}
	/* "//x" from a home of "/" names "/x". */
	char *start = (buf[0] == '/' && buf[1] == '/') ? buf + 1 : buf;
	for (size_t i = 0; i < px->n; i++)
		if (strcmp(px->v[i], start) == 0)
			return;
	if (BUF_GROW(px->v, px->n + 1, px->vcap, NULL) < 0 ||
	    BUF_GROW(px->len, px->n + 1, px->lencap, NULL) < 0) {
		px->all = 1;
		return;
	}
	px->v[px->n] = strdup(start);
	if (px->v[px->n]) {
		px->len[px->n] = strlen(start);
		px->n++;
	} else {
		px->all = 1;
	}
}

static void
build_prefixes(struct prefixes *px, const struct parser_ctx *ctx)
{
	static const char homedir[] = "%%users.homedir%%";

	memset(px, 0, sizeof(*px));
	/* Metadata parsers (suid_bin) are asked only about setuid and setgid entries. */
	for (const struct parser *p = parsers_table; p->table; p++)
		for (const char *const *g = p->meta_only ? NULL : p->paths; g && *g; g++) {
			if (strncmp(*g, homedir, sizeof(homedir) - 1) != 0) {
				add_prefix(px, NULL, *g);
				continue;
			}
			for (size_t u = 0; u < ctx->nusers; u++)
				add_prefix(px, ctx->users[u].home, *g + sizeof(homedir) - 1);
		}
}

static int
under_prefix(const struct prefixes *px, const struct htree_entry *e)
{
	if (px->all)
		return 1;
	for (size_t i = 0; i < px->n; i++)
		if (e->path_len >= px->len[i] && memcmp(e->path, px->v[i], px->len[i]) == 0)
			return 1;
	return 0;
}

static void
free_prefixes(struct prefixes *px)
{
	for (size_t i = 0; i < px->n; i++)
		free(px->v[i]);
	free(px->v);
	free(px->len);
}

int
scan_collect_rows(struct source *s, const struct htree *t, const struct parser_ctx *ctx,
		  json_t **rows, uint64_t *files, walk_error_fn *on_error, void *ectx,
		  struct dt_err *err)
{
	json_t *all = json_object();
	struct reader r = { s, t, 0 };
	struct prefixes px;

	*rows = NULL;
	if (files)
		*files = 0;
	if (all == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	build_prefixes(&px, ctx);
	for (size_t i = 0; i < htree_count(t); i++) {
		const struct htree_entry *e = htree_get(t, i);
		const struct parser *ps[MAX_PARSERS];
		size_t np;

		if (e->type == HTREE_DIR || e->path_len > 4096 ||
		    memchr(e->path, '\0', e->path_len) ||
		    (!under_prefix(&px, e) && !(e->mode & 06000)))
			continue;
		np = parsers_for_path(e->path, ctx, ps, MAX_PARSERS);
		r.fs = e->fs;
		for (size_t k = 0; k < np; k++) {
			json_t *got, *arr, *v;
			/* suid_bin has a row only for a setuid or setgid file: skip the rest. */
			if (ps[k]->meta_only && !(e->mode & 06000))
				continue;
			got = json_array();
			struct dt_err perr = { 0 };
			size_t j;

			if (parse_entry(&r, ps[k], e, ctx, got, &perr) < 0) {
				if (perr.code == DT_ENOMEM && json_array_size(got) == 0 &&
				    strstr(perr.msg, "out of memory")) {
					json_decref(got);
					json_decref(all);
					free_prefixes(&px);
					return dt_fail(err, DT_ENOMEM, "out of memory");
				}
				if (on_error) {
					char msg[600];
					snprintf(msg, sizeof(msg), "cannot parse for %s: %s",
						 ps[k]->table, perr.msg);
					on_error(ectx, htree_fs(t, e->fs)->name, e->path,
						 e->path_len, msg);
				}
			}
			if (!ps[k]->meta_only && files)
				(*files)++;
			arr = json_object_get(all, ps[k]->table);
			if (arr == NULL && json_array_size(got) > 0) {
				arr = json_array();
				json_object_set_new(all, ps[k]->table, arr);
			}
			json_array_foreach(got, j, v)
			{
				json_array_append_new(arr, row_object(htree_fs(t, e->fs)->name,
								      ps[k]->table, e->path,
								      e->path_len, v));
			}
			json_decref(got);
		}
	}
	/* The table name is the key; do not repeat it in every row. */
	const char *tk;
	json_t *arr;
	json_object_foreach(all, tk, arr)
	{
		size_t j;
		json_t *v;
		json_array_foreach(arr, j, v) json_object_del(v, "table");
	}
	free_prefixes(&px);
	*rows = all;
	return 0;
}

/* Index of the gold's rows by (fs, table, path), built once per scan. */
static json_t *
index_gold_rows(const struct htree *gold)
{
	json_t *rows = htree_rows(gold), *idx = json_object(), *arr;
	const char *table;

	if (rows == NULL)
		return idx;
	json_object_foreach(rows, table, arr)
	{
		size_t i;
		json_t *r;

		json_array_foreach(arr, i, r)
		{
			const char *fs = json_string_value(json_object_get(r, "fs"));
			const char *path = json_string_value(json_object_get(r, "path"));
			const char *pb = json_string_value(json_object_get(r, "path_bytes"));
			char *key;
			json_t *list;

			if (!fs || !path)
				continue;
			if (asprintf(&key, "%s\x1f%s\x1f%s", fs, table, pb ? pb : path) < 0)
				continue;
			list = json_object_get(idx, key);
			if (list == NULL) {
				list = json_array();
				json_object_set_new_nocheck(idx, key, list);
			}
			json_array_append(list, json_object_get(r, "columns"));
			free(key);
		}
	}
	return idx;
}

static json_t *
gold_rows_for(json_t *idx, const char *fs, const char *table, const struct htree_entry *e)
{
	json_t *tmp = json_object(), *list;
	const char *p;
	char *key = NULL;

	events_set_path(tmp, "path", e->path, e->path_len);
	p = json_string_value(json_object_get(tmp, "path_bytes"));
	if (p == NULL)
		p = json_string_value(json_object_get(tmp, "path"));
	if (asprintf(&key, "%s\x1f%s\x1f%s", fs, table, p ? p : "") < 0)
		key = NULL;
	list = key ? json_object_get(idx, key) : NULL;
	free(key);
	json_decref(tmp);
	return list;
}

struct scanner {
	struct source *s;
	const struct htree *gold, *cur;
	const struct scan_config *c;
	scan_emit_fn emit;
	void *ectx;
	struct scan_stats *st;
	struct parser_ctx cur_ctx;
	json_t *gold_idx;
	json_t *done; /* (fs, table, path) keys whose rows were already diffed */
	int extract_fd;
	json_t *manifest;
};

static int
emit_row(struct scanner *sc, const char *fs, const char *table, const char *action,
	 const struct htree_entry *e, json_t *cols, struct dt_err *err)
{
	json_t *ev = json_object();

	json_object_set_new(ev, "event", json_string("row"));
	json_object_set_new(ev, "fs", json_string(fs));
	json_object_set_new(ev, "table", json_string(table));
	json_object_set_new(ev, "action", json_string(action));
	events_set_path(ev, "path", e->path, e->path_len);
	json_object_set(ev, "columns", cols);
	if (strcmp(action, "added") == 0)
		sc->st->rows_added++;
	else
		sc->st->rows_removed++;
	return sc->emit(sc->ectx, ev, NULL, err);
}

/* Diff the rows one parser gives for a file: gold's (of gold_e) against now (of cur_e). */
static int
diff_rows(struct scanner *sc, const char *fs, const struct parser *p,
	  const struct htree_entry *gold_e, const struct htree_entry *cur_e, struct dt_err *err)
{
	json_t *now = json_array(), *was = NULL;
	char *used = NULL;
	size_t i, j;
	json_t *v, *w;
	int rc = 0;
	char *key = NULL;

	/* Each (fs, table, path) once, even when two reasons lead to it. */
	const struct htree_entry *ke = cur_e ? cur_e : gold_e;
	if (asprintf(&key, "%s\x1f%s\x1f%.*s", fs, p->table, (int)ke->path_len, ke->path) >= 0) {
		if (json_object_get(sc->done, key)) {
			free(key);
			json_decref(now);
			return 0;
		}
		json_object_set_new_nocheck(sc->done, key, json_true());
		free(key);
	}
	if (cur_e) {
		struct reader r = { sc->s, sc->cur, cur_e->fs };
		struct dt_err perr = { 0 };

		if (parse_entry(&r, p, cur_e, &sc->cur_ctx, now, &perr) < 0)
			report_error(sc->emit, sc->ectx, sc->st, fs, cur_e, "cannot parse", &perr);
		if (!p->meta_only)
			sc->st->files_parsed++;
		sc->st->rows_parsed += json_array_size(now);
	}
	/* The gold's rows are filed under the gold's name of the filesystem (p1 of a GPT gold
	 * read raw as p0 now: htree_fs_pair). */
	if (gold_e)
		was = gold_rows_for(sc->gold_idx, htree_fs(sc->gold, gold_e->fs)->name, p->table,
				    gold_e);
	used = calloc(json_array_size(now) + 1, 1);
	if (used == NULL) {
		json_decref(now);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	/* Removed: gold rows with no equal row now (each row now matches once). */
	json_array_foreach(was, i, w)
	{
		int found = 0;
		json_array_foreach(now, j, v)
		{
			if (!used[j] && json_equal(v, w)) {
				used[j] = 1;
				found = 1;
				break;
			}
		}
		if (!found && (rc = emit_row(sc, fs, p->table, "removed", gold_e, w, err)) < 0)
			goto out;
	}
	json_array_foreach(now, j, v)
	{
		if (!used[j] && (rc = emit_row(sc, fs, p->table, "added", cur_e, v, err)) < 0)
			goto out;
	}
out:
	free(used);
	json_decref(now);
	return rc;
}

/* Rows of every parser that covers e (as of the gold, as of now) diffed. */
static int
rows_for_change(struct scanner *sc, const char *fs, const struct htree_entry *gold_e,
		const struct htree_entry *cur_e, struct dt_err *err)
{
	const struct parser *ps[MAX_PARSERS];
	size_t np;

	if (!sc->c->parse_rows)
		return 0;
	/* The gold path's parsers (a deleted or renamed-away file loses its rows)... */
	if (gold_e && (!cur_e || gold_e->path_len != cur_e->path_len ||
		       memcmp(gold_e->path, cur_e->path, gold_e->path_len) != 0)) {
		np = parsers_for_path(gold_e->path, &sc->cur_ctx, ps, MAX_PARSERS);
		for (size_t k = 0; k < np; k++)
			if (diff_rows(sc, fs, ps[k], gold_e, NULL, err) < 0)
				return -1;
		gold_e = NULL;
	}
	/* ...and the current path's, against the gold's rows of the same path. */
	if (cur_e) {
		const struct htree_entry *same = gold_e;
		int gfs;

		if (same == NULL) {
			gfs = htree_fs_pair(sc->gold, fs, htree_nfs(sc->cur));
			same = gfs >= 0 ? htree_find(sc->gold, (uint32_t)gfs, cur_e->path,
						     cur_e->path_len)
					: NULL;
		}
		np = parsers_for_path(cur_e->path, &sc->cur_ctx, ps, MAX_PARSERS);
		for (size_t k = 0; k < np; k++)
			if (diff_rows(sc, fs, ps[k], same, cur_e, err) < 0)
				return -1;
	}
	return 0;
}

/* ---- YARA ---- */

struct yread {
	struct scanner *sc;
	const struct htree_entry *e;
	EVP_MD_CTX *md;
};

static ssize_t
yara_read(void *rctx, uint64_t off, void *buf, size_t len)
{
	struct yread *y = rctx;
	struct dt_err err = { 0 };

	return source_read_file(y->sc->s, y->e->fs, y->e->inode, y->e->path, off, buf, len, &err);
}

struct ymatch {
	struct scanner *sc;
	const char *fs;
	const struct htree_entry *e;
	int n;
	int failed;
	struct dt_err err;
};

static void
on_match(void *ctx, json_t *m)
{
	struct ymatch *ym = ctx;
	json_t *ev = json_object();
	char hex[65];

	json_object_set_new(ev, "event", json_string("yara"));
	json_object_set_new(ev, "fs", json_string(ym->fs));
	events_set_path(ev, "path", ym->e->path, ym->e->path_len);
	if (ym->e->flags & HTREE_F_HASHED) {
		htree_hex(ym->e->sha256, 32, hex);
		json_object_set_new(ev,
				    (ym->e->flags & HTREE_F_SPARSE) ? "sparse_sha256" : "sha256",
				    json_string(hex));
	}
	json_object_update(ev, m);
	json_decref(m);
	ym->n++;
	if (!ym->failed && ym->sc->emit(ym->sc->ectx, ev, NULL, &ym->err) < 0)
		ym->failed = 1;
}

static const char *
owner_name(const struct parser_ctx *ctx, uint32_t uid, char buf[16])
{
	for (size_t i = 0; i < ctx->nusers; i++)
		if (ctx->users[i].uid == uid)
			return ctx->users[i].name;
	snprintf(buf, 16, "%u", uid);
	return buf;
}

static int
yara_change(struct scanner *sc, const char *fs, const struct htree_entry *e, struct dt_err *err)
{
	struct yread yr = { sc, e, NULL };
	struct yarascan_file f;
	struct ymatch ym;
	enum yarascan_status status;
	uint64_t bytes = 0;
	char ubuf[16];
	struct dt_err ferr = { 0 };

	memset(&ym, 0, sizeof(ym));
	ym.sc = sc;
	ym.fs = fs;
	ym.e = e;
	f.path = e->path;
	f.path_len = e->path_len;
	f.size = e->size;
	f.owner = owner_name(&sc->cur_ctx, e->uid, ubuf);
	f.read = yara_read;
	f.rctx = &yr;
	sc->st->yara_candidates++;
	if (yarascan_file(sc->c->rules, &sc->c->yara, &f, on_match, &ym, &status, &bytes, &ferr) <
	    0) {
		dt_fail(err, ferr.code, "%s", ferr.msg);
		return -1;
	}
	sc->st->yara_bytes += bytes;
	if (ym.failed) {
		*err = ym.err;
		return -1;
	}
	switch (status) {
	case YARASCAN_SCANNED:
		sc->st->yara_scanned++;
		sc->st->yara_matches += (uint64_t)ym.n;
		sc->st->yara_files_matched += ym.n > 0;
		break;
	case YARASCAN_TOO_LARGE: sc->st->yara_too_large++; break;
	case YARASCAN_TIMEOUT: sc->st->yara_timeout++; break;
	case YARASCAN_UNREADABLE: sc->st->yara_unreadable++; break;
	case YARASCAN_FAILED: sc->st->yara_failed++; break;
	}
	if (status == YARASCAN_UNREADABLE || status == YARASCAN_FAILED ||
	    status == YARASCAN_TIMEOUT) {
		if (ferr.code == DT_OK)
			dt_fail(&ferr, DT_EIO, "%s", yarascan_status_name(status));
		report_error(sc->emit, sc->ectx, sc->st, fs, e, "YARA did not scan the file",
			     &ferr);
	}
	return 0;
}

/* ---- extraction ---- */

/* A path component on the host: bytes outside a safe set (and a leading '.' of "." and
 * "..") become %XX, so the name is reversible and can never climb out of the folder. */
static int
safe_component(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '+' ||
			 c == ',' || c == '@' || c == '=';
		if (c == '.' && i == 0 && (n == 1 || (n == 2 && s[1] == '.')))
			ok = 0;
		if (ok) {
			if (buf_addc(b, c, NULL) < 0)
				return -1;
		} else if (buf_printf(b, NULL, "%%%02X", c) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Create the directories of rel below dirfd without following any symlink; an fd of the
 * last directory, or -1. rel: components separated by '/'. */
static int
open_dirs(int dirfd, const char *rel, size_t n)
{
	int fd = dup(dirfd);
	size_t i = 0;

	while (fd >= 0 && i < n) {
		size_t j = i;
		char name[1024];
		int nfd;

		while (j < n && rel[j] != '/')
			j++;
		if (j - i >= sizeof(name) || j == i) {
			close(fd);
			return -1;
		}
		memcpy(name, rel + i, j - i);
		name[j - i] = '\0';
		if (mkdirat(fd, name, 0700) != 0 && errno != EEXIST) {
			close(fd);
			return -1;
		}
		nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = nfd;
		i = j + 1;
	}
	return fd;
}

static int
extract_one(struct scanner *sc, const char *fs, const char *change, const struct htree_entry *e,
	    struct dt_err *err)
{
	struct buf rel;
	const char *slash;
	size_t dirlen;
	int dfd = -1, fd = -1, rc = -1, slot = -1;
	char tmp[64], hex[65];
	unsigned char *buf = NULL, digest[32];
	uint64_t off = 0;
	unsigned int dl;
	EVP_MD_CTX *md = NULL;
	struct dt_err ferr = { 0 };
	json_t *m;

	buf_init(&rel, HTREE_MAX_PATH * 3 + 64);
	if (buf_adds(&rel, "files/", NULL) < 0 || safe_component(&rel, fs, strlen(fs)) < 0)
		goto out;
	for (size_t i = 0; i < e->path_len;) {
		size_t j = i + 1;
		while (j < e->path_len && e->path[j] != '/')
			j++;
		if (buf_addc(&rel, '/', NULL) < 0 ||
		    safe_component(&rel, e->path + i + 1, j - i - 1) < 0)
			goto out;
		i = j;
	}
	slash = memrchr(rel.data, '/', rel.len);
	dirlen = (size_t)(slash - (const char *)rel.data);
	dfd = open_dirs(sc->extract_fd, (const char *)rel.data, dirlen);
	if (dfd < 0) {
		dt_fail_errno(&ferr, DT_EIO, "cannot create the folder for it");
		goto report;
	}
	/* Write under a temporary name, verify, then rename over. The copy is evidence (a
	 * shadow file, a key): 0600 whatever the umask. A signal handler removes it. The name
	 * has a '%' that no %XX follows: safe_component() never makes it, so no copy of an
	 * evidence file can carry it (and be unlinked below). */
	snprintf(tmp, sizeof(tmp), ".deltair%%tmp.%d", (int)getpid());
	unlinkat(dfd, tmp, 0);
	slot = outfile_track(dfd, tmp);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		(void)fchmod(fd, 0600);
	buf = malloc(READ_CHUNK);
	md = EVP_MD_CTX_new();
	if (fd < 0 || buf == NULL || md == NULL) {
		dt_fail_errno(&ferr, DT_EIO, "cannot create the copy");
		goto report;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (off < e->size) {
		size_t want = e->size - off > READ_CHUNK ? READ_CHUNK : (size_t)(e->size - off);
		ssize_t got =
			source_read_file(sc->s, e->fs, e->inode, e->path, off, buf, want, &ferr);
		if (got <= 0) {
			if (got == 0)
				dt_fail(&ferr, DT_EIO, "the content ends at byte %llu",
					(unsigned long long)off);
			goto report;
		}
		if (write(fd, buf, (size_t)got) != got) {
			dt_fail_errno(&ferr, DT_EIO, "cannot write the copy");
			goto report;
		}
		EVP_DigestUpdate(md, buf, (size_t)got);
		off += (uint64_t)got;
	}
	EVP_DigestFinal_ex(md, digest, &dl);
	if ((e->flags & HTREE_F_HASHED) && !(e->flags & HTREE_F_SPARSE) &&
	    memcmp(digest, e->sha256, 32) != 0) {
		dt_fail(&ferr, DT_EIO, "the copy's SHA-256 differs from the walk's");
		goto report;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		dt_fail_errno(&ferr, DT_EIO, "cannot write the copy");
		goto report;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, (const char *)slash + 1) != 0) {
		dt_fail_errno(&ferr, DT_EIO, "cannot rename the copy into place");
		goto report;
	}
	htree_hex(digest, 32, hex);
	m = json_object();
	json_object_set_new(m, "fs", json_string(fs));
	events_set_path(m, "path", e->path, e->path_len);
	json_object_set_new(m, "sha256", json_string(hex));
	json_object_set_new(m, "size", json_integer((json_int_t)e->size));
	json_object_set_new(m, "change", json_string(change));
	json_object_set_new(m, "file", json_stringn((const char *)rel.data, rel.len));
	json_array_append_new(sc->manifest, m);
	sc->st->extracted++;
	sc->st->extracted_bytes += e->size;
	rc = 0;
	goto out;
report:
	if (fd >= 0) {
		close(fd);
		fd = -1;
	}
	if (dfd >= 0)
		unlinkat(dfd, tmp, 0);
	report_error(sc->emit, sc->ectx, sc->st, fs, e, "cannot extract", &ferr);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	outfile_untrack(slot); /* before dfd closes: the handler unlinks relative to it */
	if (dfd >= 0)
		close(dfd);
	EVP_MD_CTX_free(md);
	free(buf);
	buf_release(&rel);
	(void)err;
	return rc;
}

#define EXTRACT_DONE "COMPLETE"

/* What an extraction writes at the top of its folder; --force replaces only such a folder. */
static int
extraction_name(const char *n)
{
	return strcmp(n, "files") == 0 || strcmp(n, "manifest.jsonl") == 0 ||
	       strcmp(n, EXTRACT_DONE) == 0 || strncmp(n, ".manifest.jsonl.", 16) == 0;
}

/* 0: dir is empty; 1: it holds only an extraction's names; 2: it holds something else. */
static int
folder_holds(const char *dir, struct dt_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int what = 0;

	if (d == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot read '%s'", dir);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!extraction_name(de->d_name)) {
			what = 2;
			break;
		}
		what = 1;
	}
	closedir(d);
	return what;
}

/*
 * An earlier extraction is about to be removed: none of o's inputs (a dir: source by its
 * folder) may be inside it. An image found in a delta and extracted is evidence too.
 */
static int
check_inputs_outside(const char *dir, const struct outfile_opts *o, struct dt_err *err)
{
	char d[PATH_MAX], in[PATH_MAX];
	size_t n;

	if (realpath(dir, d) == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot use '%s'", dir);
	n = strlen(d);
	for (size_t i = 0; i < o->ninputs; i++) {
		const char *p = o->inputs[i];

		if (p && strncmp(p, "dir:", 4) == 0)
			p += 4;
		if (p && realpath(p, in) && strncmp(in, d, n) == 0 && in[n] == '/')
			return dt_fail(err, DT_EUSAGE,
				       "refusing to replace the extraction in '%s': it holds '%s', "
				       "which this run reads",
				       dir, o->inputs[i]);
	}
	return 0;
}

int
scan_extract_check(const char *dir, const struct outfile_opts *o, struct dt_err *err)
{
	char parent[PATH_MAX];
	struct stat st;
	size_t n = strlen(dir);
	int force = o->force, what;

	if (n == 0 || n >= sizeof(parent))
		return dt_fail(err, DT_EUSAGE, "bad folder name '%s'", dir);
	if (lstat(dir, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			return dt_fail(err, DT_EUSAGE,
				       "'%s' is a symbolic link; --extract needs a real folder",
				       dir);
		if (!S_ISDIR(st.st_mode))
			return dt_fail(err, DT_EUSAGE, "'%s' is not a folder", dir);
		if (access(dir, W_OK | X_OK) != 0)
			return dt_fail_errno(err, DT_EIO, "cannot write to '%s'", dir);
		what = folder_holds(dir, err);
		if (what < 0)
			return -1;
		if (what == 1 && !force)
			return dt_fail(err, DT_EUSAGE,
				       "'%s' holds an earlier extraction: give --force to replace "
				       "it, or a new folder",
				       dir);
		if (what == 2)
			return dt_fail(err, DT_EUSAGE,
				       "'%s' is not empty%s: give a new or empty folder", dir,
				       force ? " and not an extraction folder (--force replaces "
					       "only those)"
					     : "");
		return what == 1 ? check_inputs_outside(dir, o, err) : 0;
	}
	if (errno != ENOENT)
		return dt_fail_errno(err, DT_EIO, "cannot use '%s'", dir);
	/* Missing folders are created: the nearest existing ancestor must be writable. */
	memcpy(parent, dir, n + 1);
	for (;;) {
		char *slash;

		while (n > 1 && parent[n - 1] == '/')
			parent[--n] = '\0';
		slash = strrchr(parent, '/');
		if (slash == NULL)
			snprintf(parent, sizeof(parent), ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		n = strlen(parent);
		if (stat(parent, &st) == 0)
			break;
		if (errno != ENOENT || slash == NULL || strcmp(parent, "/") == 0)
			return dt_fail_errno(err, DT_EIO, "cannot create '%s'", dir);
	}
	if (!S_ISDIR(st.st_mode))
		return dt_fail(err, DT_EUSAGE, "cannot create '%s': '%s' is not a folder", dir,
			       parent);
	if (access(parent, W_OK | X_OK) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot create '%s'", dir);
	return 0;
}

/* mkdir -p, new folders 0700. */
static int
make_folders(const char *dir, struct dt_err *err)
{
	char p[PATH_MAX];
	size_t n = strlen(dir);

	if (n >= sizeof(p))
		return dt_fail(err, DT_EUSAGE, "bad folder name '%s'", dir);
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return dt_fail_errno(err, DT_EIO, "cannot create '%s'", p);
		p[i] = dir[i];
	}
	return 0;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int
extract_open(struct scanner *sc, const char *dir, const struct outfile_opts *o, struct dt_err *err)
{
	char path[PATH_MAX + 32];

	/* Checked again now: the walk may have taken hours. */
	if (scan_extract_check(dir, o, err) < 0 || make_folders(dir, err) < 0)
		return -1;
	sc->extract_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sc->extract_fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", dir);
	/* Extracted files are evidence (shadow files, keys): the folder is the owner's only. */
	if (fchmod(sc->extract_fd, 0700) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot set the mode of '%s'", dir);
	if (o->force) {
		/* Replace an earlier extraction whole: the marker first, so that an
		 * interrupted removal never looks complete; never across a mount or a link. */
		if (unlinkat(sc->extract_fd, EXTRACT_DONE, 0) != 0 && errno != ENOENT)
			return dt_fail_errno(err, DT_EIO, "cannot remove '%s/%s'", dir,
					     EXTRACT_DONE);
		snprintf(path, sizeof(path), "%s/files", dir);
		if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0 &&
		    errno != ENOENT)
			return dt_fail_errno(err, DT_EIO, "cannot remove '%s'", path);
		if (unlinkat(sc->extract_fd, "manifest.jsonl", 0) != 0 && errno != ENOENT)
			return dt_fail_errno(err, DT_EIO, "cannot remove '%s/manifest.jsonl'", dir);
	}
	sc->manifest = json_array();
	return 0;
}

static int
extract_close(struct scanner *sc, const char *dir, struct dt_err *err)
{
	/* The folder is ours (checked empty or replaced): the manifest replaces nothing else. */
	static const struct outfile_opts mo = { .kind = OUTFILE_JSONL, .force = 1, .mode = 0600 };
	struct outfile of;
	char path[4200];
	size_t i;
	json_t *m;
	int fd;

	snprintf(path, sizeof(path), "%s/manifest.jsonl", dir);
	if (outfile_open(&of, path, &mo, err) < 0)
		return -1;
	json_array_foreach(sc->manifest, i, m)
	{
		if (json_dumpf(m, of.fp, JSON_COMPACT) != 0 || fputc('\n', of.fp) == EOF)
			break;
	}
	if (outfile_commit(&of, err) < 0) {
		outfile_release(&of);
		return -1;
	}
	outfile_release(&of);
	fd = openat(sc->extract_fd, EXTRACT_DONE,
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot write '%s/%s'", dir, EXTRACT_DONE);
	(void)fchmod(fd, 0600);
	if (write(fd, "deltair extraction complete\n", 28) != 28 || fsync(fd) != 0) {
		close(fd);
		return dt_fail_errno(err, DT_EIO, "cannot write '%s/%s'", dir, EXTRACT_DONE);
	}
	close(fd);
	return 0;
}

/* ---- the delta ---- */

struct pending {
	struct diff_change *v;
	size_t n, cap;
};

static int
keep_change(void *ctx, const struct diff_change *c, struct dt_err *err)
{
	struct pending *p = ctx;

	if (BUF_GROW(p->v, p->n + 1, p->cap, err) < 0)
		return -1;
	p->v[p->n++] = *c;
	return 0;
}

static int
is_wants_link(const struct htree_entry *e)
{
	const char *slash = memrchr(e->path, '/', e->path_len);
	const char *dir;

	if (e->type != HTREE_LNK || slash == NULL || slash == e->path)
		return 0;
	for (dir = slash - 1; dir > e->path && *dir != '/'; dir--)
		;
	return (slash - dir > 6 && memcmp(slash - 6, ".wants", 6) == 0) ||
	       (slash - dir > 9 && memcmp(slash - 9, ".requires", 9) == 0);
}

/* Re-parse files whose rows depend on files that changed (see the top of this file). */
static int
dependents(struct scanner *sc, struct pending *p, struct dt_err *err)
{
	static const char *const unit_dirs[] = { "/etc/systemd/system", "/lib/systemd/system",
						 "/usr/lib/systemd/system", NULL };

	for (size_t i = 0; i < p->n; i++) {
		const struct diff_change *c = &p->v[i];
		const struct htree_entry *e = c->e ? c->e : c->gold;
		const char *fs = c->fs;
		int gfs = htree_fs_pair(sc->gold, fs, htree_nfs(sc->cur));
		int cfs = htree_fs_index(sc->cur, fs);

		if (gfs < 0 || cfs < 0 || (e->flags & HTREE_F_DELETED))
			continue;
		if (e->path_len == 11 && memcmp(e->path, "/etc/passwd", 11) == 0) {
			const struct htree_entry *g =
				htree_find(sc->gold, (uint32_t)gfs, "/etc/group", 10);
			const struct htree_entry *n =
				htree_find(sc->cur, (uint32_t)cfs, "/etc/group", 10);
			const struct parser *ug = parsers_find("user_groups");
			if (ug && n && diff_rows(sc, fs, ug, g, n, err) < 0)
				return -1;
		}
		if (is_wants_link(e)) {
			const char *b = memrchr(e->path, '/', e->path_len) + 1;
			size_t bl = e->path_len - (size_t)(b - e->path);
			const struct parser *su = parsers_find("systemd_units");

			for (int k = 0; su && unit_dirs[k]; k++) {
				char unit[4200];
				const struct htree_entry *g, *n;
				int ul = snprintf(unit, sizeof(unit), "%s/%.*s", unit_dirs[k],
						  (int)bl, b);

				g = htree_find(sc->gold, (uint32_t)gfs, unit, (size_t)ul);
				n = htree_find(sc->cur, (uint32_t)cfs, unit, (size_t)ul);
				if ((g || n) && diff_rows(sc, fs, su, g, n, err) < 0)
					return -1;
			}
		}
	}
	return 0;
}

static int
yara_eligible(const struct diff_change *c)
{
	const struct htree_entry *e = c->e;

	if (e == NULL || e->type != HTREE_REG || (e->flags & HTREE_F_DELETED))
		return 0;
	return c->cls == DIFF_ADDED || c->cls == DIFF_MODIFIED || c->cls == DIFF_APPENDED ||
	       c->cls == DIFF_RENAMED || c->cls == DIFF_TYPE;
}

int
scan_delta(struct source *s, const struct htree *gold, const struct htree *cur,
	   const struct scan_config *c, scan_emit_fn emit, void *ectx, struct diff_stats *ds,
	   struct scan_stats *st, struct dt_err *err)
{
	struct scanner sc;
	struct pending p = { 0 };
	int rc = -1;

	memset(&sc, 0, sizeof(sc));
	memset(st, 0, sizeof(*st));
	sc.s = s;
	sc.gold = gold;
	sc.cur = cur;
	sc.c = c;
	sc.emit = emit;
	sc.ectx = ectx;
	sc.st = st;
	sc.extract_fd = -1;
	sc.done = json_object();
	sc.gold_idx = index_gold_rows(gold);
	if (scan_image_ctx(s, cur, &sc.cur_ctx, err) < 0)
		goto out;
	if (c->artifacts) {
		struct artifacts_user *u = calloc(sc.cur_ctx.nusers + 1, sizeof(*u));
		if (u == NULL) {
			dt_fail(err, DT_ENOMEM, "out of memory");
			goto out;
		}
		for (size_t i = 0; i < sc.cur_ctx.nusers; i++) {
			u[i].name = sc.cur_ctx.users[i].name;
			u[i].home = sc.cur_ctx.users[i].home;
		}
		rc = artifacts_prepare(c->artifacts, u, sc.cur_ctx.nusers, err);
		free(u);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	if (c->extract_dir && extract_open(&sc, c->extract_dir, c->extract, err) < 0)
		goto out;
	if (diff_trees(gold, cur, keep_change, &p, ds, err) < 0)
		goto out;
	for (size_t i = 0; i < p.n; i++) {
		const struct diff_change *ch = &p.v[i];
		const struct htree_entry *e = ch->e ? ch->e : ch->gold;
		json_t *ev = events_file(ch);

		if (c->artifacts) {
			const char *names[SCAN_MAX_ARTIFACTS];
			size_t n = artifacts_match(c->artifacts, e->path, e->path_len,
						   e->type == HTREE_DIR, names, SCAN_MAX_ARTIFACTS);
			json_t *arr = json_array();
			for (size_t k = 0; k < n; k++)
				json_array_append_new(arr, json_string(names[k]));
			json_object_set_new(ev, "artifacts", arr);
		}
		if (emit(ectx, ev, e, err) < 0)
			goto out;
		if (c->rules && yara_eligible(ch) && yara_change(&sc, ch->fs, ch->e, err) < 0)
			goto out;
		if (!(e->flags & HTREE_F_DELETED) &&
		    rows_for_change(&sc, ch->fs, ch->gold, ch->e, err) < 0)
			goto out;
		if (c->extract_dir && ch->e && ch->e->type == HTREE_REG &&
		    !(ch->e->flags & HTREE_F_DELETED) &&
		    extract_one(&sc, ch->fs, diff_class_name(ch->cls), ch->e, err) < 0)
			goto out;
	}
	if (c->parse_rows && dependents(&sc, &p, err) < 0)
		goto out;
	if (c->extract_dir && extract_close(&sc, c->extract_dir, err) < 0)
		goto out;
	rc = 0;
out:
	free(p.v);
	parser_ctx_release(&sc.cur_ctx);
	json_decref(sc.gold_idx);
	json_decref(sc.done);
	json_decref(sc.manifest);
	if (sc.extract_fd >= 0)
		close(sc.extract_fd);
	return rc;
}
