/*
 * set.c - the set of definitions: release, the glob index, and the listing
 * accessors of artifacts.h.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "artifacts/artifacts_int.h"
#include "buf.h"

#include "banned.h"

int
art_strvec_add(struct art_strvec *sv, const char *s, struct dt_err *err)
{
	if (BUF_GROW(sv->v, sv->n + 1, sv->cap, err) < 0)
		return -1;
	sv->v[sv->n++] = s;
	return 0;
}

void
art_index_release(struct art_index *ix)
{
	free(ix->pats);
	free(ix->buckets);
	memset(ix, 0, sizeof(*ix));
}

void
art_prepared_release(struct artifacts *a)
{
	arena_release(&a->parena);
	art_index_release(&a->user);
	free(a->homes);
	a->homes = NULL;
	a->nhomes = 0;
	a->home_depth = 0;
}

void
artifacts_free(struct artifacts *a)
{
	if (a == NULL)
		return;
	art_prepared_release(a);
	art_index_release(&a->root);
	art_index_release(&a->home);
	free(a->tmpls);
	free(a->aliases);
	free(a->refs);
	free(a->defs);
	arena_release(&a->arena);
	free(a);
}

/* Byte strings ordered by memcmp, then length; used for keys, homes and names. */
int
art_bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

int
art_index_add(struct art_index *ix, const struct art_pat *p, struct dt_err *err)
{
	if (BUF_GROW(ix->pats, ix->npats + 1, ix->cap, err) < 0)
		return -1;
	ix->pats[ix->npats++] = *p;
	return 0;
}

/* How many leading segments key p: 0 (wild), 1 or 2. */
static int
pat_level(const struct art_pat *p)
{
	if (p->nseg == 0 || p->star == 0 || !p->seg[0].literal)
		return 0;
	if (p->nseg >= 2 && (p->star < 0 || p->star > 1) && p->seg[1].literal)
		return 2;
	return 1;
}

static int
pat_cmp(const void *x, const void *y)
{
	const struct art_pat *a = x, *b = y;

	if (a->key == NULL || b->key == NULL)
		return (b->key == NULL) - (a->key == NULL);
	return art_bytes_cmp(a->key, a->klen, b->key, b->klen);
}

int
art_index_build(struct art_index *ix, struct arena *ar, struct dt_err *err)
{
	size_t i, cap = 0;

	free(ix->buckets);
	ix->buckets = NULL;
	ix->nbuckets = 0;
	ix->nwild = 0;
	for (i = 0; i < ix->npats; i++) {
		struct art_pat *p = &ix->pats[i];
		int level = pat_level(p);
		char *k;

		p->key = NULL;
		p->klen = 0;
		if (level == 1) {
			p->key = p->seg[0].s;
			p->klen = p->seg[0].len;
		} else if (level == 2) {
			/* The same bytes a split path holds: "seg0\0seg1". */
			p->klen = p->seg[0].len + 1 + p->seg[1].len;
			k = arena_alloc(ar, p->klen, err);
			if (k == NULL)
				return -1;
			memcpy(k, p->seg[0].s, p->seg[0].len);
			k[p->seg[0].len] = '\0';
			memcpy(k + p->seg[0].len + 1, p->seg[1].s, p->seg[1].len);
			p->key = k;
		}
	}
	if (ix->npats == 0)
		return 0;
	qsort(ix->pats, ix->npats, sizeof(*ix->pats), pat_cmp);
	for (i = 0; i < ix->npats && ix->pats[i].key == NULL; i++)
		;
	ix->nwild = i;
	while (i < ix->npats) {
		const struct art_pat *k = &ix->pats[i];
		size_t j = i + 1;

		while (j < ix->npats &&
		       art_bytes_cmp(k->key, k->klen, ix->pats[j].key, ix->pats[j].klen) == 0)
			j++;
		if (BUF_GROW(ix->buckets, ix->nbuckets + 1, cap, err) < 0)
			return -1;
		ix->buckets[ix->nbuckets++] = (struct art_bucket){
			.key = k->key, .len = k->klen, .first = i, .count = j - i
		};
		i = j;
	}
	return 0;
}

/* ---- listing ---------------------------------------------------------------------------- */

static const struct art_def *
def_at(const struct artifacts *a, size_t i)
{
	return (a != NULL && i < a->ndefs) ? a->defs[i] : NULL;
}

size_t
artifacts_count(const struct artifacts *a)
{
	return a ? a->ndefs : 0;
}

const char *
artifacts_name(const struct artifacts *a, size_t i)
{
	const struct art_def *d = def_at(a, i);

	return d ? d->name : NULL;
}

const char *
artifacts_doc(const struct artifacts *a, size_t i)
{
	const struct art_def *d = def_at(a, i);

	return d ? d->doc : NULL;
}

const char *
artifacts_file(const struct artifacts *a, size_t i)
{
	const struct art_def *d = def_at(a, i);

	return d ? d->file : NULL;
}

size_t
artifacts_line(const struct artifacts *a, size_t i)
{
	const struct art_def *d = def_at(a, i);

	return d ? d->line : 0;
}

int
artifacts_is_linux(const struct artifacts *a, size_t i)
{
	const struct art_def *d = def_at(a, i);

	return d ? d->is_linux : 0;
}

size_t
artifacts_os_count(const struct artifacts *a, size_t i)
{
	const struct art_def *d = def_at(a, i);

	return d ? d->nos : 0;
}

const char *
artifacts_os(const struct artifacts *a, size_t i, size_t j)
{
	const struct art_def *d = def_at(a, i);

	return (d && j < d->nos) ? d->os[j] : NULL;
}

size_t
artifacts_glob_count(const struct artifacts *a, size_t i)
{
	const struct art_def *d = def_at(a, i);

	return d ? d->nglobs : 0;
}

const char *
artifacts_glob(const struct artifacts *a, size_t i, size_t j, enum artifacts_type *type)
{
	const struct art_def *d = def_at(a, i);

	if (d == NULL || j >= d->nglobs)
		return NULL;
	if (type)
		*type = d->globs[j].type;
	return d->globs[j].path;
}

size_t
artifacts_member_count(const struct artifacts *a, size_t i)
{
	const struct art_def *d = def_at(a, i);

	return d ? d->nmembers : 0;
}

const char *
artifacts_member(const struct artifacts *a, size_t i, size_t j)
{
	const struct art_def *d = def_at(a, i);

	return (d && j < d->nmembers) ? d->members[j] : NULL;
}

size_t
artifacts_find(const struct artifacts *a, const char *name)
{
	if (a == NULL || name == NULL)
		return ARTIFACTS_NONE;
	return art_find_name(a, name);
}

size_t
art_find_name(const struct artifacts *a, const char *name)
{
	size_t lo = 0, hi = a->ndefs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, a->defs[mid]->name);

		if (c == 0)
			return mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	lo = 0;
	hi = a->naliases;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, a->aliases[mid].name);

		if (c <= 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo < a->naliases && strcmp(name, a->aliases[lo].name) == 0)
		return a->aliases[lo].def->idx;
	return ARTIFACTS_NONE;
}
