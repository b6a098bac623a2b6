/*
 * rows.c - osquery-schema rows: every parsed file of a tree (for the baseline), and the
 * delta's rows diffed against the gold's.
 *
 * Rows are compared as osquery's differential results are: a row is its columns, rows of
 * the same (filesystem, table, file) are matched as a multiset, and what is left on either
 * side is "removed" (gold) or "added" (incident). Two inputs are re-parsed although their
 * own bytes did not change, because their rows depend on another file that did: /etc/group
 * (user_groups) when /etc/passwd changed, and a unit file (systemd_units' unit_file_state)
 * when a link in a *.wants/ or *.requires/ directory appeared or went away.
 */
#include "scan/scan_int.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "events.h"

#include "banned.h"

#define MAX_PARSERS 8

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

			if (scan_parse_entry(&r, ps[k], e, ctx, got, &perr) < 0) {
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
json_t *
scan_index_gold_rows(const struct htree *gold)
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

		if (scan_parse_entry(&r, p, cur_e, &sc->cur_ctx, now, &perr) < 0)
			scan_report_error(sc->emit, sc->ectx, sc->st, fs, cur_e, "cannot parse",
					  &perr);
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
int
scan_rows_for_change(struct scanner *sc, const char *fs, const struct htree_entry *gold_e,
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
int
scan_dependents(struct scanner *sc, struct pending *p, struct dt_err *err)
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
