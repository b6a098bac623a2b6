/* json.c - report.json; its schema is in docs/worker.md ("report"). */
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "htree.h"
#include "outfile.h"
#include "report/report_int.h"

#include "banned.h"

/* Set "fs", "path" (and "path_bytes") from a key. */
static int
set_key(json_t *o, const char *key, size_t klen)
{
	size_t fl = strlen(key);

	if (json_object_set_new(o, "fs", json_string(key)) < 0)
		return -1;
	return events_set_path(o, "path", key + fl + 1, klen - fl - 1);
}

static json_t *
flags_json(unsigned f)
{
	json_t *a = json_array();

	for (int b = 0; a && b < DIFF_NFLAGS; b++)
		if (f & (1u << b))
			json_array_append_new(a, json_string(diff_flag_name(1u << b)));
	return a;
}

static json_t *
counts_json(const uint64_t *counts)
{
	json_t *c = json_object();

	for (int k = 0; c && k < DIFF_NCLASSES; k++)
		json_object_set_new(c, diff_class_name((enum diff_class)k),
				    json_integer((json_int_t)counts[k]));
	return c;
}

static json_t *
host_json(const struct rhost *h)
{
	static const char *const status[] = { "complete", "incomplete", "unreadable" };
	json_t *o = json_deep_copy(h->ident), *t, *bins;
	uint64_t delta = 0;
	char a[32], b[32];

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "status", json_string(status[h->status]));
	if (h->status != HOST_COMPLETE) {
		json_object_set_new(o, "reason", json_string(h->reason ? h->reason : ""));
		return o;
	}
	for (int k = 0; k < DIFF_NCLASSES; k++)
		delta += h->counts[k];
	json_object_set_new(o, "scan_complete",
			    json_boolean(!json_is_false(json_object_get(h->summary, "complete"))));
	json_object_set_new(o, "delta", json_integer((json_int_t)delta));
	json_object_set_new(o, "counts", counts_json(h->counts));
	json_object_set_new(o, "yara_matches", json_integer((json_int_t)h->yara));
	json_object_set_new(o, "rows",
			    json_pack("{sIsI}", "added", (json_int_t)h->rows_added, "removed",
				      (json_int_t)h->rows_removed));
	json_object_set_new(o, "errors", json_integer((json_int_t)h->errors));
	if (h->timed) {
		bins = json_array();
		for (int i = 0; i < REPORT_TIME_BINS; i++)
			json_array_append_new(bins, json_integer(h->bins[i]));
		report_time_str(h->t_first, a);
		report_time_str(h->t_last, b);
		t = json_pack("{sssssIso}", "first", a, "last", b, "changes", (json_int_t)h->timed,
			      "bins", bins);
	} else {
		t = json_null();
	}
	json_object_set_new(o, "times", t);
	json_object_set(o, "yara", h->yara_list);
	if (h->yara_more)
		json_object_set_new(o, "yara_more", json_integer((json_int_t)h->yara_more));
	json_object_set(o, "row_changes", h->row_list);
	if (h->rows_more)
		json_object_set_new(o, "row_changes_more", json_integer((json_int_t)h->rows_more));
	json_object_set(o, "summary", h->summary);
	return o;
}

static int
cmp_sha(const void *a, const void *b)
{
	return memcmp(*(unsigned char *const *)a, *(unsigned char *const *)b, 32);
}

/* The distinct content hashes of a path's hosts: sorted, O(n log n) for a path on many. */
static size_t
distinct_shas(const struct rpath *p)
{
	const unsigned char **v = malloc(p->nocc * sizeof(*v));
	size_t n = 0, d = 0;

	if (v == NULL)
		return 0;
	for (size_t k = 0; k < p->nocc; k++)
		if (p->occ[k].has_sha)
			v[n++] = p->occ[k].sha;
	if (n)
		qsort(v, n, sizeof(*v), cmp_sha);
	for (size_t k = 0; k < n; k++)
		d += k == 0 || memcmp(v[k], v[k - 1], 32) != 0;
	free(v);
	return d;
}

static json_t *
path_json(const struct state *s, const struct rpath *p)
{
	json_t *o = json_object(), *on = json_array(), *changes = json_array();
	unsigned cls = 0, flags = 0;
	uint64_t yara = 0;
	char hex[65];

	if (o == NULL || on == NULL || changes == NULL || set_key(o, p->key, p->klen) < 0) {
		json_decref(o);
		json_decref(on);
		json_decref(changes);
		return NULL;
	}
	for (size_t k = 0; k < p->nocc; k++) {
		const struct occ *c = &p->occ[k];
		json_t *e = json_object();

		cls |= 1u << c->change;
		flags |= c->flags;
		yara += c->yara;
		json_object_set_new(e, "host", json_string(s->hosts[c->host].name));
		json_object_set_new(e, "change", json_string(diff_class_name(c->change)));
		if (c->has_sha)
			htree_hex(c->sha, 32, hex);
		json_object_set_new(e, "sha256", c->has_sha ? json_string(hex) : json_null());
		json_object_set_new(e, "flags", flags_json(c->flags));
		json_object_set_new(e, "yara", json_integer(c->yara));
		json_object_set_new(e, "yara_members", json_integer(c->yara_members));
		json_object_set_new(e, "explained", json_boolean(c->explained));
		json_array_append_new(on, e);
	}
	for (int k = 0; k < DIFF_NCLASSES; k++)
		if (cls & (1u << k))
			json_array_append_new(changes, json_string(diff_class_name(k)));
	json_object_set_new(o, "hosts", json_integer((json_int_t)p->nocc));
	json_object_set_new(o, "rarity",
			    json_real(s->st.hosts ? (double)p->nocc / (double)s->st.hosts : 0));
	json_object_set_new(o, "changes", changes);
	json_object_set_new(o, "contents", json_integer((json_int_t)distinct_shas(p)));
	json_object_set_new(o, "flags", flags_json(flags));
	json_object_set_new(o, "yara_matches", json_integer((json_int_t)yara));
	json_object_set_new(o, "explained", json_boolean(report_path_explained(p)));
	json_object_set_new(o, "on", on);
	return o;
}

static json_t *
hash_json(const struct state *s, struct hashes *hs, const struct hgroup *g)
{
	json_t *o = json_object(), *on = json_array(), *at = json_array(), *e;
	char hex[65];

	if (o == NULL || on == NULL || at == NULL) {
		json_decref(o);
		json_decref(on);
		json_decref(at);
		return NULL;
	}
	htree_hex(hs->occ[g->start].sha, 32, hex);
	json_object_set_new(o, "sha256", json_string(hex));
	json_object_set_new(o, "hosts", json_integer((json_int_t)g->hosts));
	json_object_set_new(o, "rarity",
			    json_real(s->st.hosts ? (double)g->hosts / (double)s->st.hosts : 0));
	json_object_set_new(o, "paths", json_integer((json_int_t)g->paths));
	hs->epoch++;
	for (size_t i = g->start; i < g->start + g->n; i++) {
		const struct rpath *p = &s->paths[hs->occ[i].path];

		if (i == g->start || hs->occ[i].host != hs->occ[i - 1].host)
			json_array_append_new(on, json_string(s->hosts[hs->occ[i].host].name));
		if (!report_first_visit(hs, hs->occ[i].path))
			continue;
		e = json_object();
		set_key(e, p->key, p->klen);
		json_array_append_new(at, e);
	}
	json_object_set_new(o, "on", on);
	json_object_set_new(o, "at", at);
	return o;
}

/* Write one element of an array: a line of its own, after a comma but for the first. */
static int
put_elem(FILE *fp, json_t *o, size_t i, struct dt_err *err)
{
	int bad = o == NULL || fputs(i ? ",\n" : "\n", fp) == EOF ||
		  json_dumpf(o, fp, JSON_COMPACT) != 0;

	json_decref(o);
	return bad ? dt_fail(err, DT_ENOMEM, "cannot build report.json") : 0;
}

int
report_write_json(struct state *s, struct hashes *hs, FILE *fp, const char *case_name,
		  const char *created, struct dt_err *err)
{
	json_t *head, *totals;
	uint64_t counts[DIFF_NCLASSES] = { 0 }, yara = 0, ra = 0, rr = 0;
	char *h;

	for (size_t i = 0; i < s->nhosts; i++) {
		for (int k = 0; k < DIFF_NCLASSES; k++)
			counts[k] += s->hosts[i].counts[k];
		yara += s->hosts[i].yara;
		ra += s->hosts[i].rows_added;
		rr += s->hosts[i].rows_removed;
	}
	totals = json_pack(
		"{sIsIsIsIsIsIsosIs{sIsI}}", "hosts", (json_int_t)s->st.hosts, "incomplete",
		(json_int_t)s->st.incomplete, "unreadable", (json_int_t)s->st.unreadable, "paths",
		(json_int_t)s->st.paths, "unique_paths", (json_int_t)s->st.unique, "hashes",
		(json_int_t)s->st.hashes, "counts", counts_json(counts), "yara_matches",
		(json_int_t)yara, "rows", "added", (json_int_t)ra, "removed", (json_int_t)rr);
	head = json_pack("{sissss?ssssso}", "version", REPORT_VERSION, "tool",
			 "deltair " DELTAIR_VERSION, "case", NULL, "created", created, "time_basis",
			 "ctime", "totals", totals);
	if (head && events_set_path(head, "case", case_name, strlen(case_name)) < 0) {
		json_decref(head);
		head = NULL;
	}
	h = head ? json_dumps(head, JSON_COMPACT) : NULL;
	json_decref(head);
	if (h == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot build report.json");
	/* "report" first: its opening bytes are what outfile.h recognises. The head's own
	 * braces go: its members continue the report's object. */
	h[strlen(h) - 1] = '\0';
	fprintf(fp, "%s,%s,\"hosts\":[", OUTFILE_REPORT_JSON_MAGIC, h + 1);
	free(h);
	for (size_t i = 0; i < s->nhosts; i++)
		if (put_elem(fp, host_json(&s->hosts[i]), i, err) < 0)
			return -1;
	fputs("],\"paths\":[", fp);
	for (size_t i = 0; i < s->npaths; i++)
		if (put_elem(fp, path_json(s, &s->paths[i]), i, err) < 0)
			return -1;
	fputs("],\"hashes\":[", fp);
	for (size_t i = 0; i < hs->ng; i++)
		if (put_elem(fp, hash_json(s, hs, &hs->g[i]), i, err) < 0)
			return -1;
	fputs("]}\n", fp);
	return 0;
}
