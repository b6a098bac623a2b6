/*
 * artifacts.c - ForensicArtifacts definitions: the YAML loader (libyaml's document API) and
 * the path matcher.
 *
 * Loading keeps every definition (for `deltair artifacts list`) but compiles only the globs
 * of sources that apply to Linux. A compiled glob is an array of segments, each literal
 * (compared with memcmp) or an fnmatch(3) pattern, plus at most one globstar standing for
 * 1..N whole segments. Globs are indexed by their first segment when it is literal, so a
 * path is only tried against the globs of its own top directory and the few that start with
 * a pattern. Home-relative globs (%%users.homedir%%/...) are compiled once, relative; a path
 * is tried against them at each prefix that is a user's home (a sorted set of homes), which
 * keeps the work independent of the number of users.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "arena.h"
#include "artifacts.h"
#include "buf.h"

#include "banned.h"

#define MAX_NAME_LEN     256u
#define MAX_DOC_LEN      (64u << 10)
#define MAX_OS_LEN       64u
#define MAX_STAR         10u  /* plaso's _RECURSIVE_GLOB_LIMIT */
#define MATCH_MAX_SEGS   160u /* > home + glob + globstar + child segments */
#define MATCH_BITS_WORDS 64u  /* definitions tracked on the stack: 4096 */

static const char HOMEDIR_VAR[] = "%%users.homedir%%";
static const char USERNAME_VAR[] = "%%users.username%%";

/* ---- memory: strings and arrays of a set live in its arenas (arena.h) -------------------- */

struct strvec {
	const char **v;
	size_t n, cap;
};

static int
strvec_add(struct strvec *sv, const char *s, struct dt_err *err)
{
	if (BUF_GROW(sv->v, sv->n + 1, sv->cap, err) < 0)
		return -1;
	sv->v[sv->n++] = s;
	return 0;
}

/* ---- the set --------------------------------------------------------------------------- */

struct art_glob {
	const char *path; /* as written */
	enum artifacts_type type;
};

struct art_def {
	const char *name, *doc, *file;
	size_t line;
	size_t seq; /* load order */
	size_t idx; /* position in name order */
	const char **os;
	size_t nos;
	const char **aliases;
	size_t naliases;
	struct art_glob *globs;
	size_t nglobs;
	const char **members;
	size_t nmembers;
	const uint32_t *anc; /* indices of the groups containing it, transitively */
	size_t nanc;
	int is_linux;
	int compiled; /* has at least one compiled glob */
};

/* A member name of an ARTIFACT_GROUP source. */
struct art_ref {
	const char *name;
	struct art_def *group;
	int is_linux;
};

struct art_alias {
	const char *name;
	const struct art_def *def;
};

struct art_seg {
	const char *s; /* NUL-terminated */
	uint32_t len;
	uint32_t literal;
};

struct art_pat {
	const struct art_seg *seg;
	const struct art_def *def;
	const char *key; /* index key, set by index_build(): "seg0" or "seg0\0seg1" */
	uint32_t klen;
	uint16_t nseg;    /* segments, not counting the globstar */
	int16_t star;     /* segments before the globstar, or -1 */
	uint8_t star_max; /* the globstar covers 1..star_max segments */
	uint8_t type;     /* enum artifacts_type */
	uint8_t home;     /* templates only: relative to %%users.homedir%% */
};

struct art_bucket {
	const char *key;
	uint32_t len;
	size_t first, count;
};

/* Globs sorted so that pats[0..nwild) have no literal first segment and the rest form
 * buckets keyed by their first segment, or by their first two when both are literal and
 * before any globstar (the large directories, etc and var, split further that way). */
struct art_index {
	struct art_pat *pats; /* owned */
	size_t npats, cap;
	struct art_bucket *buckets; /* owned */
	size_t nbuckets;
	size_t nwild;
};

/* A home directory as "\0seg\0seg" (no trailing NUL counted): the form match paths take. */
struct art_home {
	const char *s;
	size_t len;
};

struct artifacts {
	struct arena arena;
	struct art_def **defs; /* owned array; the defs live in the arena */
	size_t ndefs, defs_cap;
	struct art_ref *refs; /* owned; freed after loading */
	size_t nrefs, refs_cap;
	struct art_alias *aliases; /* owned */
	size_t naliases;
	struct art_index root; /* absolute globs */
	struct art_index home; /* globs relative to a home */
	struct art_pat *tmpls; /* owned: globs with %%users.username%% */
	size_t ntmpls, tmpls_cap;
	size_t nglobs, nodes;
	struct artifacts_stats st;
	/* Set by artifacts_prepare(). */
	struct arena parena;
	struct art_index user;  /* templates expanded per user */
	struct art_home *homes; /* owned, sorted, unique */
	size_t nhomes, home_depth;
};

static void
index_release(struct art_index *ix)
{
	free(ix->pats);
	free(ix->buckets);
	memset(ix, 0, sizeof(*ix));
}

static void
prepared_release(struct artifacts *a)
{
	arena_release(&a->parena);
	index_release(&a->user);
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
	prepared_release(a);
	index_release(&a->root);
	index_release(&a->home);
	free(a->tmpls);
	free(a->aliases);
	free(a->refs);
	free(a->defs);
	arena_release(&a->arena);
	free(a);
}

/* Byte strings ordered by memcmp, then length; used for keys, homes and names. */
static int
bytes_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return (alen > blen) - (alen < blen);
}

static int
index_add(struct art_index *ix, const struct art_pat *p, struct dt_err *err)
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
	return bytes_cmp(a->key, a->klen, b->key, b->klen);
}

static int
index_build(struct art_index *ix, struct arena *ar, struct dt_err *err)
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
		       bytes_cmp(k->key, k->klen, ix->pats[j].key, ix->pats[j].klen) == 0)
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

/* ---- loading ----------------------------------------------------------------------------- */

struct loader {
	struct artifacts *a;
	const char *file; /* arena */
	yaml_document_t *doc;
	struct dt_err *err;
	/* Scratch for the definition being read. */
	struct strvec os, aliases, members, sos;
	struct art_glob *globs;
	size_t nglobs, globs_cap;
};

/* Up to 64 bytes of a scalar for a message, with anything unprintable as '?'. */
static const char *
show(const yaml_node_t *n, char *buf, size_t size)
{
	size_t i, len;

	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return n && n->type == YAML_MAPPING_NODE ? "(a mapping)" : "(a list)";
	len = n->data.scalar.length;
	if (len > size - 4)
		len = size - 4;
	for (i = 0; i < len; i++) {
		unsigned char c = n->data.scalar.value[i];
		buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (len < n->data.scalar.length) {
		memcpy(buf + len, "...", 3);
		len += 3;
	}
	buf[len] = '\0';
	return buf;
}

static int ld_fail(struct loader *ld, const yaml_node_t *n, const char *fmt, ...) DT_PRINTF(3, 4);

static int
ld_fail(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dt_fail(ld->err, DT_EFORMAT, "'%s' line %lu: %s", ld->file,
		       n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg);
}

/* Every node we look at is charged, so aliases cannot make a small file cost much. */
static yaml_node_t *
ld_node(struct loader *ld, int id, const yaml_node_t *parent)
{
	yaml_node_t *n = yaml_document_get_node(ld->doc, id);

	if (n == NULL) {
		ld_fail(ld, parent, "damaged YAML document");
		return NULL;
	}
	if (++ld->a->nodes > ARTIFACTS_MAX_NODES) {
		dt_fail(ld->err, DT_ENOMEM, "'%s': more than %u YAML nodes", ld->file,
			ARTIFACTS_MAX_NODES);
		return NULL;
	}
	return n;
}

static int
scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);

	return n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

/* Which of keys[] the mapping key k is, or -1 (k must be a scalar). */
static int
key_index(const yaml_node_t *k, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (scalar_is(k, keys[i]))
			return (int)i;
	return -1;
}

/* A YAML null: an empty document or value. */
static int
is_null(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (n->data.scalar.length == 0 || scalar_is(n, "~") || scalar_is(n, "null") ||
		scalar_is(n, "Null") || scalar_is(n, "NULL"));
}

static const char *
ld_string(struct loader *ld, const yaml_node_t *n, const char *what, size_t maxlen)
{
	if (n->type != YAML_SCALAR_NODE) {
		ld_fail(ld, n, "%s must be a string", what);
		return NULL;
	}
	if (n->data.scalar.length > maxlen) {
		ld_fail(ld, n, "%s is longer than %zu bytes", what, maxlen);
		return NULL;
	}
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL) {
		ld_fail(ld, n, "%s contains a NUL byte", what);
		return NULL;
	}
	return arena_strndup(&ld->a->arena, (const char *)n->data.scalar.value,
			     n->data.scalar.length, ld->err);
}

/* Append the strings of a sequence node (list: its name; what: an item's) to out. */
static int
ld_strings(struct loader *ld, const yaml_node_t *n, const char *list, const char *what,
	   size_t maxlen, struct strvec *out)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return ld_fail(ld, n, "%s must be a list", list);
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		const yaml_node_t *item = ld_node(ld, *it, n);
		const char *s;

		if (item == NULL)
			return -1;
		s = ld_string(ld, item, what, maxlen);
		if (s == NULL || strvec_add(out, s, ld->err) < 0)
			return -1;
	}
	return 0;
}

static const char *const known_os[] = { "Android", "Darwin", "ESXi", "iOS", "Linux", "Windows" };

/* Read a supported_os list into out; returns 1 if it names Linux, 0 if not, -1 on error. */
static int
ld_os(struct loader *ld, const yaml_node_t *n, struct strvec *out)
{
	size_t first = out->n;
	int linux_ = 0;

	if (ld_strings(ld, n, "supported_os", "an operating system", MAX_OS_LEN, out) < 0)
		return -1;
	for (size_t i = first; i < out->n; i++) {
		size_t k;

		for (k = 0; k < sizeof(known_os) / sizeof(known_os[0]); k++)
			if (strcmp(out->v[i], known_os[k]) == 0)
				break;
		if (k == sizeof(known_os) / sizeof(known_os[0])) {
			const yaml_node_t *item = yaml_document_get_node(
				ld->doc, n->data.sequence.items.start[i - first]);
			char buf[80];
			return ld_fail(ld, item ? item : n, "unknown operating system '%s'",
				       show(item, buf, sizeof(buf)));
		}
		if (strcmp(out->v[i], "Linux") == 0)
			linux_ = 1;
	}
	return linux_;
}

static int
has_meta(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == '\\')
			return 1;
	return 0;
}

/* Where the variable var starts in s[0..len), case-insensitively, or NULL. */
static const char *
find_var(const char *s, size_t len, const char *var)
{
	size_t vlen = strlen(var);

	for (size_t i = 0; i + vlen <= len; i++)
		if (strncasecmp(s + i, var, vlen) == 0)
			return s + i;
	return NULL;
}

/* Whether s[0..len) holds "%%" outside occurrences of the username variable. */
static int
other_var(const char *s, size_t len)
{
	size_t vlen = strlen(USERNAME_VAR);

	for (size_t i = 0; i + 1 < len;) {
		if (i + vlen <= len && strncasecmp(s + i, USERNAME_VAR, vlen) == 0) {
			i += vlen;
			continue;
		}
		if (s[i] == '%' && s[i + 1] == '%')
			return 1;
		i++;
	}
	return 0;
}

/*
 * Compile one Linux glob of def. Returns 0 (compiled or skipped) or -1. The checks are
 * upstream's validator's: at most one globstar, a whole segment, depth 1..10.
 */
static int
ld_compile(struct loader *ld, const yaml_node_t *n, const char *path, char sep, struct art_def *def,
	   enum artifacts_type type)
{
	struct artifacts *a = ld->a;
	struct art_seg segs[ARTIFACTS_MAX_SEGMENTS];
	struct art_pat pat = { .def = def, .star = -1, .type = (uint8_t)type };
	size_t len = strlen(path), i = 0, raw = 0;
	int home = 0, user = 0;
	char buf[80];

	/* Variables first: a glob we cannot expand is skipped, not an error. */
	while (i <= len) {
		size_t e = i;

		while (e < len && path[e] != sep)
			e++;
		if (memchr(path + i, '%', e - i) && find_var(path + i, e - i, "%%")) {
			if (raw == 0 && e - i == strlen(HOMEDIR_VAR) &&
			    strncasecmp(path + i, HOMEDIR_VAR, e - i) == 0)
				home = 1;
			else if (find_var(path + i, e - i, USERNAME_VAR) &&
				 !other_var(path + i, e - i))
				user = 1;
			else {
				a->st.paths_skipped++;
				return 0;
			}
		}
		i = e + 1;
		raw++;
	}
	if (!home && path[0] != sep)
		return ld_fail(ld, n, "path '%s' is not absolute", show(n, buf, sizeof(buf)));
	if (++a->nglobs > ARTIFACTS_MAX_GLOBS)
		return dt_fail(ld->err, DT_ENOMEM, "'%s': more than %u path globs", ld->file,
			       ARTIFACTS_MAX_GLOBS);

	pat.home = (uint8_t)home;
	for (i = home ? strlen(HOMEDIR_VAR) : 0; i < len;) {
		size_t e = i, slen;
		const char *s = path + i;

		while (e < len && path[e] != sep)
			e++;
		slen = e - i;
		i = e + 1;
		if (slen == 0)
			continue; /* repeated or trailing separators */
		if (slen >= 2 && s[0] == '*' && s[1] == '*') {
			unsigned depth = MAX_STAR;

			if (pat.star >= 0)
				return ld_fail(ld, n, "path '%s' has more than one globstar",
					       show(n, buf, sizeof(buf)));
			if (slen > 2) {
				depth = 0;
				for (size_t k = 2; k < slen; k++) {
					if (s[k] < '0' || s[k] > '9' || depth > MAX_STAR) {
						depth = 0;
						break;
					}
					depth = depth * 10 + (unsigned)(s[k] - '0');
				}
				if (depth < 1 || depth > MAX_STAR)
					return ld_fail(ld, n,
						       "path '%s': a globstar is ** or **N with N "
						       "from 1 to 10",
						       show(n, buf, sizeof(buf)));
			}
			pat.star = (int16_t)pat.nseg;
			pat.star_max = (uint8_t)depth;
			continue;
		}
		if (find_var(s, slen, "**"))
			return ld_fail(ld, n, "path '%s': a globstar must be a whole segment",
				       show(n, buf, sizeof(buf)));
		if (pat.nseg == ARTIFACTS_MAX_SEGMENTS)
			return ld_fail(ld, n, "path '%s' has more than %u segments",
				       show(n, buf, sizeof(buf)), ARTIFACTS_MAX_SEGMENTS);
		segs[pat.nseg].s = arena_strndup(&a->arena, s, slen, ld->err);
		if (segs[pat.nseg].s == NULL)
			return -1;
		segs[pat.nseg].len = (uint32_t)slen;
		segs[pat.nseg].literal = !has_meta(s, slen);
		pat.nseg++;
	}
	if (pat.nseg) {
		pat.seg = arena_memdup(&a->arena, segs, pat.nseg * sizeof(segs[0]), ld->err);
		if (pat.seg == NULL)
			return -1;
	}
	def->compiled = 1;
	if (user) {
		if (BUF_GROW(a->tmpls, a->ntmpls + 1, a->tmpls_cap, ld->err) < 0)
			return -1;
		a->tmpls[a->ntmpls++] = pat;
		return 0;
	}
	return index_add(home ? &a->home : &a->root, &pat, ld->err);
}

enum { S_TYPE, S_ATTRIBUTES, S_OS, S_CONDITIONS, S_RETURNED_TYPES };
static const char *const source_keys[] = { "type", "attributes", "supported_os", "conditions",
					   "returned_types" };
enum { A_PATHS, A_SEPARATOR, A_NAMES };

/* Read one source of def; def_os: 1 if the definition's supported_os names Linux, 0 if
 * it names others only, -1 if it says nothing. */
static int
ld_source(struct loader *ld, const yaml_node_t *src, struct art_def *def, int def_os)
{
	static const char *const path_keys[] = { "paths", "separator" };
	static const char *const group_keys[] = { "names" };
	struct artifacts *a = ld->a;
	const yaml_node_t *val[5] = { NULL };
	const yaml_node_t *paths = NULL, *sepn = NULL, *names = NULL;
	const yaml_node_t *type;
	enum artifacts_type ptype = ARTIFACTS_FILE;
	int applies, is_paths = 0, is_group = 0;
	char buf[80];

	if (src->type != YAML_MAPPING_NODE)
		return ld_fail(ld, src, "a source must be a mapping");
	for (yaml_node_pair_t *p = src->data.mapping.pairs.start; p < src->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = ld_node(ld, p->key, src), *v;
		int ki;

		if (k == NULL || (v = ld_node(ld, p->value, src)) == NULL)
			return -1;
		ki = key_index(k, source_keys, 5);
		if (ki < 0)
			return ld_fail(ld, k, "unknown source key '%s'", show(k, buf, sizeof(buf)));
		if (val[ki] != NULL)
			return ld_fail(ld, k, "duplicate source key '%s'", source_keys[ki]);
		val[ki] = v;
	}
	type = val[S_TYPE];
	if (type == NULL)
		return ld_fail(ld, src, "a source has no type");
	if (type->type != YAML_SCALAR_NODE)
		return ld_fail(ld, type, "a source type must be a string");

	applies = def_os != 0;
	if (val[S_OS] != NULL) {
		int r;

		ld->sos.n = 0;
		r = ld_os(ld, val[S_OS], &ld->sos);
		if (r < 0)
			return -1;
		if (ld->sos.n > 0) /* an empty list says nothing, as upstream reads it */
			applies = r;
	}

	if (scalar_is(type, "FILE") || scalar_is(type, "PATH") || scalar_is(type, "DIRECTORY")) {
		is_paths = 1;
		ptype = scalar_is(type, "FILE")   ? ARTIFACTS_FILE
			: scalar_is(type, "PATH") ? ARTIFACTS_PATH
						  : ARTIFACTS_DIRECTORY;
	} else if (scalar_is(type, "ARTIFACT_GROUP")) {
		is_group = 1;
	}

	/* Group members are read whatever the OS: unresolved ones are counted for all. */
	if ((is_paths || is_group) && (applies || is_group)) {
		const yaml_node_t *attr = val[S_ATTRIBUTES];
		const char *const *keys = is_paths ? path_keys : group_keys;
		size_t nkeys = is_paths ? 2 : 1;

		if (attr == NULL)
			return ld_fail(ld, src, "a %s source has no attributes",
				       show(type, buf, sizeof(buf)));
		if (attr->type != YAML_MAPPING_NODE)
			return ld_fail(ld, attr, "attributes must be a mapping");
		for (yaml_node_pair_t *p = attr->data.mapping.pairs.start;
		     p < attr->data.mapping.pairs.top; p++) {
			const yaml_node_t *k = ld_node(ld, p->key, attr), *v;
			int ki;

			if (k == NULL || (v = ld_node(ld, p->value, attr)) == NULL)
				return -1;
			ki = key_index(k, keys, nkeys);
			if (ki < 0)
				return ld_fail(ld, k, "unknown attribute '%s' of a %s source",
					       show(k, buf, sizeof(buf)),
					       is_paths ? "path" : "group");
			if (!is_paths)
				ki = A_NAMES;
			if ((ki == A_PATHS && paths) || (ki == A_SEPARATOR && sepn) ||
			    (ki == A_NAMES && names))
				return ld_fail(ld, k, "duplicate attribute '%s'", keys[ki % 2]);
			if (ki == A_PATHS)
				paths = v;
			else if (ki == A_SEPARATOR)
				sepn = v;
			else
				names = v;
		}
	}

	if (!applies) {
		a->st.sources_skipped_os++;
	} else if (!is_paths && !is_group) {
		a->st.sources_skipped_type++;
		def->is_linux = 1;
	} else {
		a->st.sources_used++;
		def->is_linux = 1;
	}

	if (is_paths && applies) {
		struct strvec pv = { 0 };
		char sep = '/';
		int ret = 0;

		if (paths == NULL)
			return ld_fail(ld, src, "a %s source has no paths",
				       show(type, buf, sizeof(buf)));
		if (sepn != NULL) {
			if (sepn->type != YAML_SCALAR_NODE || sepn->data.scalar.length != 1 ||
			    sepn->data.scalar.value[0] == '\0')
				return ld_fail(ld, sepn, "separator must be one character");
			sep = (char)sepn->data.scalar.value[0];
		}
		if (ld_strings(ld, paths, "paths", "a path", ARTIFACTS_MAX_GLOB_LEN, &pv) < 0) {
			free(pv.v);
			return -1;
		}
		for (size_t i = 0; i < pv.n && ret == 0; i++) {
			const yaml_node_t *pn = yaml_document_get_node(
				ld->doc, paths->data.sequence.items.start[i]);

			ret = ld_compile(ld, pn, pv.v[i], sep, def, ptype);
			if (ret == 0 &&
			    BUF_GROW(ld->globs, ld->nglobs + 1, ld->globs_cap, ld->err) < 0)
				ret = -1;
			if (ret == 0)
				ld->globs[ld->nglobs++] = (struct art_glob){ pv.v[i], ptype };
		}
		free(pv.v);
		return ret;
	}
	if (is_group) {
		struct strvec nv = { 0 };
		int ret = 0;

		if (names == NULL)
			return ld_fail(ld, src, "an ARTIFACT_GROUP source has no names");
		if (ld_strings(ld, names, "names", "a member name", MAX_NAME_LEN, &nv) < 0) {
			free(nv.v);
			return -1;
		}
		for (size_t i = 0; i < nv.n && ret == 0; i++) {
			ret = BUF_GROW(a->refs, a->nrefs + 1, a->refs_cap, ld->err);
			if (ret == 0 && applies)
				ret = strvec_add(&ld->members, nv.v[i], ld->err);
			if (ret == 0)
				a->refs[a->nrefs++] = (struct art_ref){ nv.v[i], def, applies };
		}
		free(nv.v);
		return ret;
	}
	return 0;
}

enum { K_NAME, K_DOC, K_SOURCES, K_OS, K_URLS, K_ALIASES, K_CONDITIONS, K_LABELS, K_PROVIDES };
static const char *const top_keys[] = { "name",    "doc",        "sources", "supported_os", "urls",
					"aliases", "conditions", "labels",  "provides" };

static int
ld_definition(struct loader *ld, const yaml_node_t *root)
{
	struct artifacts *a = ld->a;
	const yaml_node_t *val[9] = { NULL };
	const yaml_node_t *sources;
	struct art_def *def;
	int def_os = -1;
	char buf[80];

	if (is_null(root))
		return 0; /* an empty document, e.g. after a trailing '---' */
	if (root->type != YAML_MAPPING_NODE)
		return ld_fail(ld, root, "a definition must be a mapping");
	if (a->ndefs >= ARTIFACTS_MAX_DEFINITIONS)
		return dt_fail(ld->err, DT_ENOMEM, "'%s': more than %u artifact definitions",
			       ld->file, ARTIFACTS_MAX_DEFINITIONS);
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = ld_node(ld, p->key, root), *v;
		int ki;

		if (k == NULL || (v = ld_node(ld, p->value, root)) == NULL)
			return -1;
		ki = key_index(k, top_keys, 9);
		if (ki < 0)
			return ld_fail(ld, k, "unknown key '%s'", show(k, buf, sizeof(buf)));
		if (val[ki] != NULL)
			return ld_fail(ld, k, "duplicate key '%s'", top_keys[ki]);
		val[ki] = v;
	}
	if (val[K_NAME] == NULL)
		return ld_fail(ld, root, "a definition has no name");
	if (val[K_DOC] == NULL || val[K_SOURCES] == NULL)
		return ld_fail(ld, root, "definition '%s' has no %s",
			       show(val[K_NAME], buf, sizeof(buf)),
			       val[K_DOC] == NULL ? "doc" : "sources");

	def = arena_alloc(&a->arena, sizeof(*def), ld->err);
	if (def == NULL)
		return -1;
	memset(def, 0, sizeof(*def));
	def->file = ld->file;
	def->line = root->start_mark.line + 1;
	def->seq = a->ndefs;
	ld->os.n = ld->aliases.n = ld->members.n = 0;
	ld->nglobs = 0;

	def->name = ld_string(ld, val[K_NAME], "name", MAX_NAME_LEN);
	if (def->name == NULL)
		return -1;
	if (def->name[0] == '\0')
		return ld_fail(ld, val[K_NAME], "name is empty");
	def->doc = ld_string(ld, val[K_DOC], "doc", MAX_DOC_LEN);
	if (def->doc == NULL)
		return -1;
	if (def->doc[0] == '\0')
		return ld_fail(ld, val[K_DOC], "doc of '%s' is empty", def->name);
	if (val[K_OS] != NULL) {
		int r = ld_os(ld, val[K_OS], &ld->os);

		if (r < 0)
			return -1;
		if (ld->os.n > 0)
			def_os = r;
	}
	if (val[K_ALIASES] != NULL &&
	    ld_strings(ld, val[K_ALIASES], "aliases", "an alias", MAX_NAME_LEN, &ld->aliases) < 0)
		return -1;
	/* urls, conditions, labels and provides carry nothing we use. */

	sources = val[K_SOURCES];
	if (sources->type != YAML_SEQUENCE_NODE)
		return ld_fail(ld, sources, "sources must be a list");
	if (sources->data.sequence.items.start == sources->data.sequence.items.top)
		return ld_fail(ld, sources, "definition '%s' has no sources", def->name);
	for (yaml_node_item_t *it = sources->data.sequence.items.start;
	     it < sources->data.sequence.items.top; it++) {
		const yaml_node_t *src = ld_node(ld, *it, sources);

		if (src == NULL || ld_source(ld, src, def, def_os) < 0)
			return -1;
	}

	/* The scratch lists become the definition's own, in the arena (memdup of 0 is NULL). */
	def->nos = ld->os.n;
	def->naliases = ld->aliases.n;
	def->nmembers = ld->members.n;
	def->nglobs = ld->nglobs;
	def->os = arena_memdup(&a->arena, ld->os.v, ld->os.n * sizeof(char *), ld->err);
	def->aliases =
		arena_memdup(&a->arena, ld->aliases.v, ld->aliases.n * sizeof(char *), ld->err);
	def->members =
		arena_memdup(&a->arena, ld->members.v, ld->members.n * sizeof(char *), ld->err);
	def->globs = arena_memdup(&a->arena, ld->globs, ld->nglobs * sizeof(*ld->globs), ld->err);
	if ((def->nos && !def->os) || (def->naliases && !def->aliases) ||
	    (def->nmembers && !def->members) || (def->nglobs && !def->globs))
		return -1;
	if (BUF_GROW(a->defs, a->ndefs + 1, a->defs_cap, ld->err) < 0)
		return -1;
	a->defs[a->ndefs++] = def;
	a->st.definitions++;
	if (def->is_linux)
		a->st.linux_definitions++;
	return 0;
}

static int
yaml_fail(const yaml_parser_t *p, const char *file, struct dt_err *err)
{
	if (p->error == YAML_MEMORY_ERROR)
		return dt_fail(err, DT_ENOMEM, "'%s': out of memory reading YAML", file);
	if (p->error == YAML_READER_ERROR)
		return dt_fail(err, DT_EFORMAT, "'%s' offset %zu: %s", file, p->problem_offset,
			       p->problem ? p->problem : "unreadable YAML");
	if (p->context != NULL)
		return dt_fail(err, DT_EFORMAT, "'%s' line %lu: %s %s (line %lu)", file,
			       (unsigned long)p->problem_mark.line + 1,
			       p->problem ? p->problem : "bad YAML", p->context,
			       (unsigned long)p->context_mark.line + 1);
	return dt_fail(err, DT_EFORMAT, "'%s' line %lu: %s", file,
		       (unsigned long)p->problem_mark.line + 1,
		       p->problem ? p->problem : "bad YAML");
}

/*
 * libyaml rejects "key:[" (and ":," ":]" ":{" ":}") inside a flow collection, where PyYAML,
 * which upstream validates with, ends the plain scalar at the ':' and reads a value indicator
 * (upstream's unix_common.yaml has `{paths:['/var/cache/cups/job.cache']}`). When the only
 * complaint is that, at a ':' followed by one of ",[]{}", insert a space after the ':' and
 * look again; the result reads as PyYAML reads the original. Anything else is an error.
 */
static int
yaml_check(const unsigned char *data, size_t len, size_t *fix, const char *file, struct dt_err *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int ret = 0;

	*fix = SIZE_MAX;
	if (!yaml_parser_initialize(&parser))
		return dt_fail(err, DT_ENOMEM, "'%s': cannot set up the YAML parser", file);
	yaml_parser_set_input_string(&parser, data, len);
	for (;;) {
		int end;

		if (!yaml_parser_parse(&parser, &ev)) {
			size_t pos = 0, idx = parser.problem_mark.index;

			if (parser.error == YAML_SCANNER_ERROR && parser.problem &&
			    strcmp(parser.problem, "found unexpected ':'") == 0 &&
			    parser.encoding == YAML_UTF8_ENCODING) {
				/* The mark counts characters; find the byte. */
				if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
					pos = 3;
				for (size_t c = 0; c < idx && pos < len; c++) {
					unsigned char b = data[pos];

					pos += b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
				}
				if (pos + 1 < len && data[pos] == ':' &&
				    strchr(",[]{}", data[pos + 1]) != NULL) {
					*fix = pos + 1;
					break;
				}
			}
			ret = yaml_fail(&parser, file, err);
			break;
		}
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (end)
			break;
	}
	yaml_parser_delete(&parser);
	return ret;
}

#define MAX_FLOW_FIXES 16

static int
load_buffer(struct artifacts *a, const char *file, const void *data, size_t len, struct dt_err *err)
{
	struct loader ld = { .a = a, .err = err };
	unsigned char *fixed = NULL; /* owned: data with spaces put in */
	const unsigned char *in = data;
	yaml_parser_t parser;
	int ret = 0;

	if (a->st.files >= ARTIFACTS_MAX_FILES)
		return dt_fail(err, DT_ENOMEM, "more than %u artifact files", ARTIFACTS_MAX_FILES);
	a->st.files++;
	ld.file = arena_strndup(&a->arena, file, strlen(file), err);
	if (ld.file == NULL)
		return -1;
	for (unsigned tries = 0;; tries++) {
		size_t fix;
		unsigned char *p;

		if (yaml_check(in, len, &fix, file, err) < 0) {
			free(fixed);
			return -1;
		}
		if (fix == SIZE_MAX)
			break;
		if (tries == MAX_FLOW_FIXES) {
			free(fixed);
			return dt_fail(err, DT_EFORMAT, "'%s': too many ':' in flow collections",
				       file);
		}
		p = malloc(len + 1);
		if (p == NULL) {
			free(fixed);
			return dt_fail(err, DT_ENOMEM, "'%s': out of memory", file);
		}
		memcpy(p, in, fix);
		p[fix] = ' ';
		memcpy(p + fix + 1, in + fix, len - fix);
		free(fixed);
		in = fixed = p;
		len++;
	}
	if (!yaml_parser_initialize(&parser)) {
		free(fixed);
		return dt_fail(err, DT_ENOMEM, "'%s': cannot set up the YAML parser", file);
	}
	yaml_parser_set_input_string(&parser, in, len);
	for (;;) {
		yaml_document_t doc;
		const yaml_node_t *root;

		if (!yaml_parser_load(&parser, &doc)) {
			ret = yaml_fail(&parser, file, err);
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (root == NULL) { /* the end of the stream */
			yaml_document_delete(&doc);
			break;
		}
		ld.doc = &doc;
		ret = ld_definition(&ld, root);
		yaml_document_delete(&doc);
		if (ret < 0)
			break;
	}
	yaml_parser_delete(&parser);
	free(fixed);
	free(ld.os.v);
	free(ld.aliases.v);
	free(ld.members.v);
	free(ld.sos.v);
	free(ld.globs);
	return ret;
}

static int
load_file(struct artifacts *a, const char *path, struct dt_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	struct stat sb;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
	if (fstat(fd, &sb) != 0) {
		ret = dt_fail_errno(err, DT_EIO, "cannot stat '%s'", path);
		close(fd);
		return ret;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size > ARTIFACTS_MAX_FILE_SIZE) {
		close(fd);
		return dt_fail(err, DT_ENOMEM, "'%s' is larger than %u bytes", path,
			       ARTIFACTS_MAX_FILE_SIZE);
	}
	/* Read to EOF with the cap, whatever st_size said. */
	data = malloc((size_t)sb.st_size + 1);
	if (data == NULL) {
		close(fd);
		return dt_fail(err, DT_ENOMEM, "cannot read '%s': out of memory", path);
	}
	for (;;) {
		ssize_t r = read(fd, data + len, (size_t)sb.st_size + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
			free(data);
			close(fd);
			return ret;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > (size_t)sb.st_size) {
			free(data);
			close(fd);
			return dt_fail(err, DT_EIO, "'%s' grew while being read", path);
		}
	}
	close(fd);
	ret = load_buffer(a, path, data, len, err);
	free(data);
	return ret;
}

static int
yaml_name(const char *name)
{
	size_t len = strlen(name);

	return (len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
	       (len > 4 && strcmp(name + len - 4, ".yml") == 0);
}

static int
dirent_cmp(const struct dirent **x, const struct dirent **y)
{
	return strcmp((*x)->d_name, (*y)->d_name);
}

static int
load_path(struct artifacts *a, const char *path, unsigned depth, struct dt_err *err)
{
	struct dirent **ents = NULL;
	struct stat sb;
	int n, ret = 0;

	if (stat(path, &sb) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
	if (!S_ISDIR(sb.st_mode)) {
		if (depth > 0 && (!S_ISREG(sb.st_mode) || !yaml_name(path)))
			return 0;
		if (!S_ISREG(sb.st_mode))
			return dt_fail(err, DT_EIO, "'%s' is not a file or a directory", path);
		return load_file(a, path, err);
	}
	if (depth > ARTIFACTS_MAX_DIR_DEPTH)
		return 0;
	n = scandir(path, &ents, NULL, dirent_cmp);
	if (n < 0)
		return dt_fail_errno(err, DT_EIO, "cannot list '%s'", path);
	for (int i = 0; i < n; i++) {
		const char *name = ents[i]->d_name;
		size_t plen = strlen(path), nlen = strlen(name);
		char *child;

		if (ret < 0 || name[0] == '.')
			continue;
		child = malloc(plen + nlen + 2);
		if (child == NULL) {
			ret = dt_fail(err, DT_ENOMEM, "cannot list '%s': out of memory", path);
			continue;
		}
		memcpy(child, path, plen);
		child[plen] = '/';
		memcpy(child + plen + 1, name, nlen + 1);
		ret = load_path(a, child, depth + 1, err);
		free(child);
	}
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
	return ret;
}

/* ---- after loading: order, groups, indexes ---------------------------------------------- */

static int
def_cmp(const void *x, const void *y)
{
	const struct art_def *a = *(const struct art_def *const *)x;
	const struct art_def *b = *(const struct art_def *const *)y;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

static int
alias_cmp(const void *x, const void *y)
{
	const struct art_alias *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	return (a->def->idx > b->def->idx) - (a->def->idx < b->def->idx);
}

static size_t
find_name(const struct artifacts *a, const char *name)
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

/*
 * For each definition with globs, the groups that contain it directly or through other
 * groups (loop-safe: each group is visited once per definition).
 */
static int
build_closures(struct artifacts *a, struct dt_err *err)
{
	size_t n = a->ndefs, nedges = 0, total = 0;
	size_t *off = NULL, *fill = NULL, *stamp = NULL;
	uint32_t *parents = NULL, *stack = NULL, *out = NULL;
	int ret = -1;

	off = calloc(n + 1, sizeof(*off));
	fill = calloc(n + 1, sizeof(*fill));
	stamp = malloc((n + 1) * sizeof(*stamp));
	stack = malloc((n + 1) * sizeof(*stack));
	out = malloc((n + 1) * sizeof(*out));
	if (!off || !fill || !stamp || !stack || !out) {
		dt_fail(err, DT_ENOMEM, "artifact groups: out of memory");
		goto done;
	}
	/* Edges member -> group, from the Linux group sources, as compressed rows. */
	for (size_t r = 0; r < a->nrefs; r++) {
		size_t m = find_name(a, a->refs[r].name);

		if (m == ARTIFACTS_NONE) {
			a->st.missing_group_members++;
			continue;
		}
		if (a->refs[r].is_linux) {
			off[m + 1]++;
			nedges++;
		}
	}
	for (size_t i = 0; i < n; i++)
		off[i + 1] += off[i];
	parents = malloc((nedges + 1) * sizeof(*parents));
	if (parents == NULL) {
		dt_fail(err, DT_ENOMEM, "artifact groups: out of memory");
		goto done;
	}
	for (size_t r = 0; r < a->nrefs; r++) {
		size_t m;

		if (!a->refs[r].is_linux || (m = find_name(a, a->refs[r].name)) == ARTIFACTS_NONE)
			continue;
		parents[off[m] + fill[m]++] = (uint32_t)a->refs[r].group->idx;
	}
	for (size_t i = 0; i < n; i++)
		stamp[i] = SIZE_MAX;
	for (size_t d = 0; d < n; d++) {
		size_t sp = 0, nout = 0;

		if (!a->defs[d]->compiled)
			continue;
		stamp[d] = d;
		stack[sp++] = (uint32_t)d;
		while (sp > 0) {
			uint32_t m = stack[--sp];

			for (size_t e = off[m]; e < off[m + 1]; e++) {
				uint32_t g = parents[e];

				if (stamp[g] == d)
					continue;
				stamp[g] = d;
				stack[sp++] = g;
				out[nout++] = g;
			}
		}
		if (nout == 0)
			continue;
		total += nout;
		if (total > ARTIFACTS_MAX_CLOSURE) {
			dt_fail(err, DT_ENOMEM,
				"artifact groups nest too widely (more than %u links)",
				ARTIFACTS_MAX_CLOSURE);
			goto done;
		}
		a->defs[d]->anc = arena_memdup(&a->arena, out, nout * sizeof(*out), err);
		if (a->defs[d]->anc == NULL)
			goto done;
		a->defs[d]->nanc = nout;
	}
	ret = 0;
done:
	free(off);
	free(fill);
	free(stamp);
	free(stack);
	free(out);
	free(parents);
	return ret;
}

static int
finish(struct artifacts *a, struct dt_err *err)
{
	size_t nal = 0;

	if (a->ndefs > 1)
		qsort(a->defs, a->ndefs, sizeof(*a->defs), def_cmp);
	for (size_t i = 0; i < a->ndefs; i++) {
		a->defs[i]->idx = i;
		nal += a->defs[i]->naliases;
		if (i > 0 && strcmp(a->defs[i - 1]->name, a->defs[i]->name) == 0) {
			const struct art_def *p = a->defs[i - 1], *d = a->defs[i];

			return dt_fail(err, DT_EFORMAT,
				       "'%s' line %zu: artifact '%s' is defined again (first in "
				       "'%s' line %zu)",
				       d->file, d->line, d->name, p->file, p->line);
		}
	}
	if (nal > 0) {
		a->aliases = malloc(nal * sizeof(*a->aliases));
		if (a->aliases == NULL)
			return dt_fail(err, DT_ENOMEM, "artifact aliases: out of memory");
		for (size_t i = 0; i < a->ndefs; i++)
			for (size_t j = 0; j < a->defs[i]->naliases; j++)
				a->aliases[a->naliases++] =
					(struct art_alias){ a->defs[i]->aliases[j], a->defs[i] };
		qsort(a->aliases, a->naliases, sizeof(*a->aliases), alias_cmp);
	}
	if (build_closures(a, err) < 0)
		return -1;
	free(a->refs);
	a->refs = NULL;
	a->nrefs = a->refs_cap = 0;
	if (index_build(&a->root, &a->arena, err) < 0 || index_build(&a->home, &a->arena, err) < 0)
		return -1;
	return 0;
}

static int
load_done(struct artifacts *a, int ret, struct artifacts **out, struct artifacts_stats *st,
	  struct dt_err *err)
{
	if (ret == 0)
		ret = finish(a, err);
	if (ret < 0) {
		artifacts_free(a);
		if (st)
			memset(st, 0, sizeof(*st));
		return -1;
	}
	if (st)
		*st = a->st;
	*out = a;
	return 0;
}

int
artifacts_load(const char *const *paths, size_t n, struct artifacts **out,
	       struct artifacts_stats *st, struct dt_err *err)
{
	struct artifacts *a;
	int ret = 0;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return dt_fail(err, DT_ENOMEM, "artifact definitions: out of memory");
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = load_path(a, paths[i], 0, err);
	return load_done(a, ret, out, st, err);
}

int
artifacts_load_mem(const char *name, const void *data, size_t len, struct artifacts **out,
		   struct artifacts_stats *st, struct dt_err *err)
{
	struct artifacts *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return dt_fail(err, DT_ENOMEM, "artifact definitions: out of memory");
	return load_done(a, load_buffer(a, name, data, len, err), out, st, err);
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
	return find_name(a, name);
}

/* ---- users ------------------------------------------------------------------------------ */

static int
home_cmp(const void *x, const void *y)
{
	const struct art_home *a = x, *b = y;

	return bytes_cmp(a->s, a->len, b->s, b->len);
}

/* A home as "\0seg\0seg" in the prepare arena, its depth in *depth; NULL if unusable. */
static const char *
norm_home(struct artifacts *a, const char *home, size_t *len, size_t *depth, int *bad,
	  struct dt_err *err)
{
	size_t hlen = strlen(home), o = 0, d = 0;
	char *s;

	*bad = 1;
	if (hlen == 0 || home[0] != '/' || hlen > ARTIFACTS_MATCH_MAX_PATH)
		return NULL;
	s = arena_alloc(&a->parena, hlen + 1, err);
	if (s == NULL) {
		*bad = 0;
		return NULL;
	}
	for (size_t i = 0; i < hlen;) {
		size_t e = i;

		while (e < hlen && home[e] != '/')
			e++;
		if (e > i) {
			s[o++] = '\0';
			memcpy(s + o, home + i, e - i);
			o += e - i;
			d++;
		}
		i = e + 1;
	}
	if (d > ARTIFACTS_MAX_SEGMENTS)
		return NULL;
	*bad = 0;
	*len = o;
	*depth = d;
	return s;
}

/* Segment k of template t with the username put in: literal, or a pattern with the name
 * escaped for fnmatch. */
static int
user_seg(struct artifacts *a, const struct art_seg *t, const char *user, struct art_seg *out,
	 struct dt_err *err)
{
	size_t vlen = strlen(USERNAME_VAR), ulen = strlen(user), n = 0, cap;
	int literal = 1;
	char *s;

	if (!find_var(t->s, t->len, USERNAME_VAR)) {
		*out = *t;
		return 0;
	}
	for (size_t i = 0; i < t->len;) {
		if (i + vlen <= t->len && strncasecmp(t->s + i, USERNAME_VAR, vlen) == 0) {
			i += vlen;
			continue;
		}
		if (has_meta(t->s + i, 1))
			literal = 0;
		i++;
	}
	cap = t->len + 2 * ulen * (t->len / vlen + 1) + 1;
	s = arena_alloc(&a->parena, cap, err);
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < t->len;) {
		if (i + vlen <= t->len && strncasecmp(t->s + i, USERNAME_VAR, vlen) == 0) {
			for (size_t k = 0; k < ulen; k++) {
				if (!literal && has_meta(user + k, 1))
					s[n++] = '\\';
				s[n++] = user[k];
			}
			i += vlen;
			continue;
		}
		s[n++] = t->s[i++];
	}
	s[n] = '\0';
	*out = (struct art_seg){ .s = s, .len = (uint32_t)n, .literal = (uint32_t)literal };
	return 0;
}

/* Add template t expanded for one user (home may be NULL when t is not home-relative). */
static int
expand_user(struct artifacts *a, const struct art_pat *t, const char *user, const char *home,
	    size_t hlen, size_t hdepth, size_t *count, struct dt_err *err)
{
	struct art_seg *segs;
	struct art_pat p = *t;
	size_t o = 0, k = 0;

	if (++*count > ARTIFACTS_MAX_GLOBS)
		return dt_fail(err, DT_ENOMEM, "more than %u path globs for the users",
			       ARTIFACTS_MAX_GLOBS);
	if (t->home == 0)
		hdepth = 0;
	if (hdepth + t->nseg == 0) {
		p.seg = NULL;
		return index_add(&a->user, &p, err);
	}
	segs = arena_alloc(&a->parena, (hdepth + t->nseg) * sizeof(*segs), err);
	if (segs == NULL)
		return -1;
	/* Home segments are literal: a '*' in someone's home is just a character. */
	for (size_t i = 0; t->home && i < hlen; k++) {
		size_t e = i + 1;

		while (e < hlen && home[e] != '\0')
			e++;
		segs[k] = (struct art_seg){ .s = arena_strndup(&a->parena, home + i + 1, e - i - 1,
							       err),
					    .len = (uint32_t)(e - i - 1),
					    .literal = 1 };
		if (segs[k].s == NULL)
			return -1;
		i = e;
	}
	for (o = 0; o < t->nseg; o++, k++)
		if (user_seg(a, &t->seg[o], user, &segs[k], err) < 0)
			return -1;
	p.seg = segs;
	p.nseg = (uint16_t)(hdepth + t->nseg);
	if (t->star >= 0)
		p.star = (int16_t)(t->star + (int)hdepth);
	p.home = 0;
	return index_add(&a->user, &p, err);
}

int
artifacts_prepare(struct artifacts *a, const struct artifacts_user *users, size_t nusers,
		  struct dt_err *err)
{
	size_t count = 0, cap = 0;

	if (a == NULL)
		return dt_fail(err, DT_EUSAGE, "artifacts_prepare: no definitions");
	prepared_release(a);
	for (size_t u = 0; u < nusers; u++) {
		const char *home = users[u].home, *name = users[u].name;
		const char *h = NULL;
		size_t hlen = 0, hdepth = 0;
		int bad = 1;

		if (home != NULL) {
			h = norm_home(a, home, &hlen, &hdepth, &bad, err);
			if (h == NULL && !bad)
				goto fail;
		}
		if (h != NULL) {
			if (BUF_GROW(a->homes, a->nhomes + 1, cap, err) < 0)
				goto fail;
			a->homes[a->nhomes++] = (struct art_home){ h, hlen };
			if (hdepth > a->home_depth)
				a->home_depth = hdepth;
		}
		if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
		    strlen(name) > MAX_NAME_LEN)
			continue;
		for (size_t t = 0; t < a->ntmpls; t++) {
			if (a->tmpls[t].home && h == NULL)
				continue;
			if (expand_user(a, &a->tmpls[t], name, h, hlen, hdepth, &count, err) < 0)
				goto fail;
		}
	}
	if (a->nhomes > 1) {
		size_t o = 1;

		qsort(a->homes, a->nhomes, sizeof(*a->homes), home_cmp);
		for (size_t i = 1; i < a->nhomes; i++)
			if (home_cmp(&a->homes[o - 1], &a->homes[i]) != 0)
				a->homes[o++] = a->homes[i];
		a->nhomes = o;
	}
	if (index_build(&a->user, &a->parena, err) < 0)
		goto fail;
	return 0;
fail:
	prepared_release(a);
	return -1;
}

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
		int c = bytes_cmp(key, len, b->key, b->len);

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
		int c = bytes_cmp(s, len, a->homes[mid].s, a->homes[mid].len);

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
