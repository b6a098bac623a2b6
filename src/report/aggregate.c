/*
 * aggregate.c - the case's changed paths ordered unexplained first (what provenance does not
 * explain on some host), then rarest first; and its content hashes grouped.
 */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "report/report_int.h"

#include "banned.h"

/* Drop the paths only hosts that failed half-way had; the hash table goes with them. */
static void
compact_paths(struct state *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->npaths; i++) {
		if (s->paths[i].nocc == 0) {
			free(s->paths[i].key);
			free(s->paths[i].occ);
			continue;
		}
		s->paths[n++] = s->paths[i];
	}
	s->npaths = n;
	free(s->slots);
	s->slots = NULL;
	s->nslots = 0;
}

int
report_path_explained(const struct rpath *p)
{
	for (size_t k = 0; k < p->nocc; k++)
		if (!p->occ[k].explained)
			return 0;
	return p->nocc > 0;
}

static int
cmp_rarity(const void *a, const void *b)
{
	const struct rpath *x = a, *y = b;
	int ex = report_path_explained(x), ey = report_path_explained(y);

	if (ex != ey)
		return ex - ey;
	if (x->nocc != y->nocc)
		return x->nocc < y->nocc ? -1 : 1;
	return report_key_cmp(x->key, x->klen, y->key, y->klen);
}

static int
cmp_hocc(const void *a, const void *b)
{
	const struct hocc *x = a, *y = b;
	int c = memcmp(x->sha, y->sha, 32);

	if (c)
		return c;
	if (x->host != y->host)
		return x->host < y->host ? -1 : 1;
	return (x->path > y->path) - (x->path < y->path);
}

/* qsort_r: the groups point into the hash list that ctx is. */
static int
cmp_hgroup(const void *a, const void *b, void *ctx)
{
	const struct hgroup *x = a, *y = b;
	const struct hocc *occ = ctx;

	if (x->hosts != y->hosts)
		return x->hosts < y->hosts ? -1 : 1;
	return memcmp(occ[x->start].sha, occ[y->start].sha, 32);
}

int
report_first_visit(struct hashes *hs, uint32_t path)
{
	if (hs->stamp[path] == hs->epoch)
		return 0;
	hs->stamp[path] = hs->epoch;
	return 1;
}

/* Every content hash of a changed file (not a deleted one: that is the gold's), grouped. */
static int
group_hashes(struct state *s, struct hashes *hs, struct dt_err *err)
{
	size_t cap = 0, gcap = 0;

	memset(hs, 0, sizeof(*hs));
	for (size_t i = 0; i < s->npaths; i++)
		for (size_t k = 0; k < s->paths[i].nocc; k++) {
			const struct occ *o = &s->paths[i].occ[k];
			if (!o->has_sha || o->change == DIFF_DELETED)
				continue;
			if (BUF_GROW(hs->occ, hs->nocc + 1, cap, err) < 0)
				return -1;
			hs->occ[hs->nocc].sha = o->sha;
			hs->occ[hs->nocc].host = o->host;
			hs->occ[hs->nocc].path = (uint32_t)i;
			hs->nocc++;
		}
	if (hs->nocc == 0)
		return 0;
	hs->stamp = calloc(s->npaths, sizeof(*hs->stamp));
	if (hs->stamp == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory (%zu content hashes)", hs->nocc);
	qsort(hs->occ, hs->nocc, sizeof(*hs->occ), cmp_hocc);
	for (size_t i = 0; i < hs->nocc; i++) {
		struct hgroup *g;
		if (i == 0 || memcmp(hs->occ[i].sha, hs->occ[i - 1].sha, 32) != 0) {
			if (BUF_GROW(hs->g, hs->ng + 1, gcap, err) < 0)
				return -1;
			g = &hs->g[hs->ng++];
			memset(g, 0, sizeof(*g));
			g->start = i;
			hs->epoch++;
		}
		g = &hs->g[hs->ng - 1];
		g->n++;
		if (g->n == 1 || hs->occ[i].host != hs->occ[i - 1].host)
			g->hosts++;
		g->paths += report_first_visit(hs, hs->occ[i].path);
	}
	qsort_r(hs->g, hs->ng, sizeof(*hs->g), cmp_hgroup, hs->occ);
	return 0;
}

int
report_aggregate(struct state *s, struct hashes *hs, struct dt_err *err)
{
	compact_paths(s);
	if (s->npaths)
		qsort(s->paths, s->npaths, sizeof(*s->paths), cmp_rarity);
	s->st.paths = s->npaths;
	for (size_t i = 0; i < s->npaths; i++)
		s->st.unique += s->paths[i].nocc == 1;
	if (group_hashes(s, hs, err) < 0)
		return -1;
	s->st.hashes = hs->ng;
	return 0;
}

void
report_hashes_release(struct hashes *hs)
{
	free(hs->occ);
	free(hs->g);
	free(hs->stamp);
}
