/*
 * match.c - artifacts_match(): which definitions cover a path.
 */
#include <fnmatch.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "artifacts/artifacts_int.h"
#include "buf.h"

#include "banned.h"

#define MATCH_MAX_SEGS   160u /* > home + glob + globstar + child segments */
#define MATCH_BITS_WORDS 64u  /* definitions tracked on the stack: 4096 */

/* ---- matching --------------------------------------------------------------------------- */

struct mpath {
	const char *seg[MATCH_MAX_SEGS]; /* each NUL-terminated, inside buf */
	uint32_t len[MATCH_MAX_SEGS];
	size_t n;
	char buf[ARTIFACTS_MATCH_MAX_PATH + 2]; /* "\0seg\0seg...\0" */
};

struct hits {
	uint64_t *bits;
};

static void
hit(struct hits *h, const struct art_def *d)
{
	size_t i = d->idx;

	if (h->bits[i / 64] & ((uint64_t)1 << (i % 64)))
		return;
	h->bits[i / 64] |= (uint64_t)1 << (i % 64);
	/* The closure is transitive, so a group marked here needs no walk of its own. */
	for (size_t k = 0; k < d->nanc; k++)
		h->bits[d->anc[k] / 64] |= (uint64_t)1 << (d->anc[k] % 64);
}

/* Does p match the n segments seg[0..n)? Literal segments first: they reject cheaply. */
static int
pat_match(const struct art_pat *p, const char *const *seg, const uint32_t *len, size_t n)
{
	size_t pre;

	if (p->star < 0) {
		if (n != p->nseg)
			return 0;
		pre = n;
	} else {
		if (n < (size_t)p->nseg + 1 || n > (size_t)p->nseg + p->star_max)
			return 0;
		pre = (size_t)p->star;
	}
	for (size_t i = 0; i < p->nseg; i++) {
		const struct art_seg *s = &p->seg[i];
		size_t j = i < pre ? i : n - p->nseg + i;

		if (s->literal && (s->len != len[j] || memcmp(s->s, seg[j], s->len) != 0))
			return 0;
	}
	for (size_t i = 0; i < p->nseg; i++) {
		const struct art_seg *s = &p->seg[i];
		size_t j = i < pre ? i : n - p->nseg + i;

		if (!s->literal && fnmatch(s->s, seg[j], 0) != 0)
			return 0;
	}
	return 1;
}

static void
try_pat(const struct art_pat *p, const char *const *seg, const uint32_t *len, size_t n, int is_dir,
	struct hits *h)
{
	if ((p->type != ARTIFACTS_FILE || !is_dir) && pat_match(p, seg, len, n))
		hit(h, p->def);
	else if (p->type == ARTIFACTS_DIRECTORY && n > 0 && pat_match(p, seg, len, n - 1))
		hit(h, p->def);
}

static const struct art_bucket *
find_bucket(const struct art_index *ix, const char *key, size_t len)
{
	size_t lo = 0, hi = ix->nbuckets;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct art_bucket *b = &ix->buckets[mid];
		int c = art_bytes_cmp(key, len, b->key, b->len);

		if (c == 0)
			return b;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static void
scan_bucket(const struct art_index *ix, const struct art_bucket *b, const char *const *seg,
	    const uint32_t *len, size_t n, int is_dir, struct hits *h)
{
	if (b == NULL)
		return;
	for (size_t i = b->first; i < b->first + b->count; i++)
		try_pat(&ix->pats[i], seg, len, n, is_dir, h);
}

/*
 * Try the globs that can match seg[0..n) or, for DIRECTORY globs, its parent: the wild ones,
 * those keyed by seg[0], and those keyed by seg[0] and seg[1]. A parent shares the keys
 * except when it is one segment long, and then only globs keyed by one segment can match it.
 */
static void
index_scan(const struct art_index *ix, const char *const *seg, const uint32_t *len, size_t n,
	   int is_dir, struct hits *h)
{
	for (size_t i = 0; i < ix->nwild; i++)
		try_pat(&ix->pats[i], seg, len, n, is_dir, h);
	if (n == 0 || ix->nbuckets == 0)
		return;
	scan_bucket(ix, find_bucket(ix, seg[0], len[0]), seg, len, n, is_dir, h);
	/* seg[1] follows seg[0] and its NUL in the split buffer: the key is contiguous. */
	if (n >= 2)
		scan_bucket(ix, find_bucket(ix, seg[0], len[0] + 1 + len[1]), seg, len, n, is_dir,
			    h);
}

static int
is_home(const struct artifacts *a, const char *s, size_t len)
{
	size_t lo = 0, hi = a->nhomes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = art_bytes_cmp(s, len, a->homes[mid].s, a->homes[mid].len);

		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/* Split path into NUL-terminated segments; 0 if it can match nothing. */
static int
split_path(struct mpath *m, const char *path, size_t path_len)
{
	size_t o = 0;

	if (path_len > ARTIFACTS_MATCH_MAX_PATH || memchr(path, '\0', path_len) != NULL)
		return 0;
	m->n = 0;
	for (size_t i = 0; i < path_len;) {
		size_t e = i;

		while (e < path_len && path[e] != '/')
			e++;
		if (e > i) {
			if (m->n == MATCH_MAX_SEGS)
				return 0; /* deeper than any glob with any home */
			m->buf[o++] = '\0';
			m->seg[m->n] = m->buf + o;
			m->len[m->n] = (uint32_t)(e - i);
			memcpy(m->buf + o, path + i, e - i);
			o += e - i;
			m->n++;
		}
		i = e + 1;
	}
	m->buf[o] = '\0';
	return 1;
}

size_t
artifacts_match(const struct artifacts *a, const char *path, size_t path_len, int is_dir,
		const char **names, size_t max)
{
	uint64_t stack_bits[MATCH_BITS_WORDS];
	struct mpath mp, *m = &mp;
	struct hits h;
	size_t words, stored = 0;

	if (a == NULL || a->ndefs == 0 || path == NULL || max == 0)
		return 0;
	words = (a->ndefs + 63) / 64;
	if (!split_path(m, path, path_len))
		return 0;
	/* Past 4096 definitions the bitmap is on the heap; without memory, nothing matches. */
	h.bits = words <= MATCH_BITS_WORDS ? stack_bits : calloc(words, sizeof(uint64_t));
	if (h.bits == NULL)
		return 0;
	if (h.bits == stack_bits)
		memset(stack_bits, 0, words * sizeof(uint64_t));

	index_scan(&a->root, m->seg, m->len, m->n, is_dir, &h);
	index_scan(&a->user, m->seg, m->len, m->n, is_dir, &h);
	if (a->nhomes > 0 && a->home.npats > 0) {
		for (size_t k = 0; k <= m->n && k <= a->home_depth; k++) {
			size_t plen = k == 0 ? 0 : (size_t)(m->seg[k - 1] + m->len[k - 1] - m->buf);

			if (is_home(a, m->buf, plen))
				index_scan(&a->home, m->seg + k, m->len + k, m->n - k, is_dir, &h);
		}
	}

	for (size_t w = 0; w < words && stored < max; w++) {
		uint64_t bits = h.bits[w];

		while (bits && stored < max) {
			size_t i = w * 64 + (size_t)__builtin_ctzll(bits);

			names[stored++] = a->defs[i]->name;
			bits &= bits - 1;
		}
	}
	if (h.bits != stack_bits)
		free(h.bits);
	return stored;
}
