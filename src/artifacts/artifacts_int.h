/*
 * artifacts_int.h - what the files of src/artifacts/ share behind artifacts.h.
 *
 * yaml.c loads definitions (the only part that needs libyaml), resolve.c reads rule files
 * and folders, orders the definitions, closes groups and expands user variables
 * (artifacts_prepare), match.c matches paths, set.c holds the set's types, its glob index
 * and the listing accessors.
 *
 * A compiled glob is an array of segments, each literal (compared with memcmp) or an
 * fnmatch(3) pattern, plus at most one globstar standing for 1..N whole segments. Globs are
 * indexed by their first segment when it is literal, so a path is only tried against the
 * globs of its own top directory and the few that start with a pattern. Home-relative globs
 * (%%users.homedir%%/...) are compiled once, relative; a path is tried against them at each
 * prefix that is a user's home (a sorted set of homes), which keeps the work independent of
 * the number of users.
 */
#ifndef DELTAIR_ARTIFACTS_INT_H
#define DELTAIR_ARTIFACTS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "artifacts.h"
#include "error.h"

#define ART_MAX_NAME_LEN 256u
#define ART_MAX_DOC_LEN  (64u << 10)
#define ART_MAX_OS_LEN   64u
#define ART_MAX_STAR     10u /* plaso's _RECURSIVE_GLOB_LIMIT */
#define ART_HOMEDIR_VAR  "%%users.homedir%%"
#define ART_USERNAME_VAR "%%users.username%%"

/* Strings and arrays of a set live in its arenas (arena.h); lists being built use these. */
struct art_strvec {
	const char **v;
	size_t n, cap;
};

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
	const char *key; /* index key, set by art_index_build(): "seg0" or "seg0\0seg1" */
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
/* set.c */
int art_strvec_add(struct art_strvec *sv, const char *s, struct dt_err *err);
/* Byte strings ordered by memcmp, then length; used for keys, homes and names. */
int art_bytes_cmp(const char *a, size_t alen, const char *b, size_t blen);
int art_index_add(struct art_index *ix, const struct art_pat *p, struct dt_err *err);
/* Sort ix's globs and build its buckets; keys of two segments go into ar. */
int art_index_build(struct art_index *ix, struct arena *ar, struct dt_err *err);
void art_index_release(struct art_index *ix);
/* Drop what artifacts_prepare() set up. */
void art_prepared_release(struct artifacts *a);
/* The index of the definition named name, else of the first with that alias, else
 * ARTIFACTS_NONE (a sorted set only). */
size_t art_find_name(const struct artifacts *a, const char *name);

/* yaml.c */
/* Load the YAML text data (len bytes) of file into a (not yet sorted). */
int art_load_buffer(struct artifacts *a, const char *file, const void *data, size_t len,
		    struct dt_err *err);
/* Whether s holds a glob metacharacter; where var (case-insensitive) starts in s, or NULL. */
int art_has_meta(const char *s, size_t len);
const char *art_find_var(const char *s, size_t len, const char *var);

#endif
