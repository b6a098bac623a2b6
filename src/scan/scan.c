/*
 * scan.c - triage of the delta. See scan.h; what the files of src/scan/ share: scan_int.h.
 * Here: the run over the delta's changes (file events, artifacts, then YARA, rows and
 * extraction per change). read.c reads files out of the image for the parsers,
 * rows.c parses and diffs rows, yara.c runs YARA, extract.c extracts.
 */
#include "scan/scan_int.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "events.h"

#include "banned.h"

void
scan_report_error(scan_emit_fn emit, void *ectx, struct scan_stats *st, const char *fs,
		  const struct htree_entry *e, const char *what, const struct dt_err *err)
{
	char msg[600];
	struct dt_err ignored = { 0 };

	snprintf(msg, sizeof(msg), "%s: %s", what, err->msg);
	st->errors++;
	emit(ectx, events_error(fs, e ? e->path : NULL, e ? e->path_len : 0, msg), NULL, &ignored);
}

/* ---- the delta ---- */

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
	sc.gold_idx = scan_index_gold_rows(gold);
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
	if (c->extract_dir && scan_extract_open(&sc, c->extract_dir, c->extract, err) < 0)
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
		if (c->prov && prov_explain(c->prov, ch, ev, err) < 0) {
			json_decref(ev);
			goto out;
		}
		if (emit(ectx, ev, e, err) < 0)
			goto out;
		if (c->rules && yara_eligible(ch) && scan_yara_change(&sc, ch->fs, ch->e, err) < 0)
			goto out;
		if (c->decomp && yara_eligible(ch) &&
		    scan_decomp_change(&sc, ch->fs, diff_class_name(ch->cls), ch->e, err) < 0)
			goto out;
		if (!(e->flags & HTREE_F_DELETED) &&
		    scan_rows_for_change(&sc, ch->fs, ch->gold, ch->e, err) < 0)
			goto out;
		if (c->extract_dir && ch->e && ch->e->type == HTREE_REG &&
		    !(ch->e->flags & HTREE_F_DELETED) &&
		    scan_extract_one(&sc, ch->fs, diff_class_name(ch->cls), ch->e, err) < 0)
			goto out;
	}
	if (c->parse_rows && scan_dependents(&sc, &p, err) < 0)
		goto out;
	if (c->extract_dir && scan_extract_close(&sc, c->extract_dir, err) < 0)
		goto out;
	rc = 0;
out:
	free(p.v);
	parser_ctx_release(&sc.cur_ctx);
	json_decref(sc.gold_idx);
	json_decref(sc.done);
	json_decref(sc.manifest);
	yarascan_scanner_free(sc.ys);
	if (sc.extract_fd >= 0)
		close(sc.extract_fd);
	return rc;
}
