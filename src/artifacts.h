/*
 * artifacts.h - ForensicArtifacts definitions: which files of a Linux image matter, and why.
 *
 * Load: artifacts_load() reads the upstream YAML format (multi-document files, one definition
 * per document; docs/artifacts.md). Sources of type FILE, PATH, DIRECTORY and ARTIFACT_GROUP
 * that apply to Linux are used; every other source is counted and skipped. A source applies
 * to Linux when its own supported_os lists Linux, or it has none and the definition's lists
 * Linux, or neither says anything.
 *
 * Match: artifacts_prepare() once per image with the image's users, then artifacts_match() per
 * path. Globs follow plaso: one path segment per glob segment, fnmatch(3) within a segment
 * ('*', '?', '[...]'; '*' matches a leading dot), `**` = 1 to 10 directory levels (never 0),
 * `**N` = 1 to N levels (1 <= N <= 10), at most one globstar per path. `%%users.homedir%%`
 * (only as the first segment) stands for each user's home directory, `%%users.username%%` for
 * each user's name; both are taken literally, never as globs. A path with another variable
 * is skipped (counted in paths_skipped).
 *
 * A loaded and prepared set is read-only during artifacts_match(), which may run on many
 * threads at once; artifacts_prepare() must not run concurrently with anything else.
 */
#ifndef DELTAIR_ARTIFACTS_H
#define DELTAIR_ARTIFACTS_H

#include <stddef.h>

#include "error.h"

#define ARTIFACTS_MAX_FILE_SIZE   (16u << 20) /* bytes of one YAML file */
#define ARTIFACTS_MAX_FILES       4096u       /* YAML files in one load */
#define ARTIFACTS_MAX_DEFINITIONS 65536u      /* definitions in one load */
#define ARTIFACTS_MAX_NODES       (1u << 22)  /* YAML nodes visited, over all documents */
#define ARTIFACTS_MAX_GLOBS       (1u << 20)  /* Linux path globs, and expanded per-user globs */
#define ARTIFACTS_MAX_GLOB_LEN    4096u       /* bytes of one path glob */
#define ARTIFACTS_MAX_SEGMENTS    64u         /* segments of one glob, and of one home dir */
#define ARTIFACTS_MAX_CLOSURE     (1u << 22)  /* (definition, enclosing group) pairs */
#define ARTIFACTS_MATCH_MAX_PATH  16384u      /* longer paths match nothing */
#define ARTIFACTS_NONE            ((size_t)-1)

struct artifacts;

/*
 * What a load saw. Every source is counted once: sources_skipped_os (does not apply to Linux),
 * else sources_skipped_type (a type other than FILE, PATH, DIRECTORY, ARTIFACT_GROUP), else
 * sources_used. missing_group_members counts ARTIFACT_GROUP names (of any OS) that name no
 * loaded definition nor alias; such names are skipped. linux_definitions: definitions with at
 * least one source that applies to Linux. paths_skipped: Linux path globs with a variable
 * other than %%users.homedir%% (first segment) and %%users.username%%.
 */
struct artifacts_stats {
	size_t files, definitions, linux_definitions, sources_used, sources_skipped_type,
		sources_skipped_os, missing_group_members, paths_skipped;
};

/*
 * Load every .yaml/.yml file under each of paths[0..n): a file is loaded whatever its name, a
 * folder is walked as every rule folder is (ruledir.h: names starting with '.' skipped, strcmp
 * order, links to folders not followed, RULEDIR_MAX_DEPTH levels at most, deeper is an error). A
 * malformed document, an unknown key, a bad glob or a name defined twice: DT_EFORMAT naming the
 * file and line. Unreadable path: DT_EIO. A folder too deep: DT_EUSAGE. Caps: DT_ENOMEM. On success
 * *out is new (artifacts_free()) and st (may be NULL) is filled; on failure *out is NULL. Before
 * artifacts_prepare(), globs without user variables already match.
 */
int artifacts_load(const char *const *paths, size_t n, struct artifacts **out,
		   struct artifacts_stats *st, struct dt_err *err) DT_MUST_USE;
/* The same for one YAML text in memory, reported as file name (for tests and fuzzing). */
int artifacts_load_mem(const char *name, const void *data, size_t len, struct artifacts **out,
		       struct artifacts_stats *st, struct dt_err *err) DT_MUST_USE;
/* NULL is a no-op. */
void artifacts_free(struct artifacts *a);

/*
 * Definitions are numbered 0..artifacts_count()-1 in strcmp order of their names. Strings are
 * borrowed: valid until a is freed. An index out of range gives NULL or 0.
 */
size_t artifacts_count(const struct artifacts *a);
const char *artifacts_name(const struct artifacts *a, size_t i);
const char *artifacts_doc(const struct artifacts *a, size_t i);
/* The file (as named to artifacts_load) and 1-based line where the definition starts. */
const char *artifacts_file(const struct artifacts *a, size_t i);
size_t artifacts_line(const struct artifacts *a, size_t i);
/* 1 when at least one source applies to Linux. */
int artifacts_is_linux(const struct artifacts *a, size_t i);
/* The definition-level supported_os list as written (may be empty). */
size_t artifacts_os_count(const struct artifacts *a, size_t i);
const char *artifacts_os(const struct artifacts *a, size_t i, size_t j);

enum artifacts_type { ARTIFACTS_FILE, ARTIFACTS_PATH, ARTIFACTS_DIRECTORY };
/* The Linux path globs (FILE, PATH, DIRECTORY sources that apply to Linux) as written. */
size_t artifacts_glob_count(const struct artifacts *a, size_t i);
const char *artifacts_glob(const struct artifacts *a, size_t i, size_t j,
			   enum artifacts_type *type);
/* Member names of the Linux ARTIFACT_GROUP sources, as written (loaded or not). */
size_t artifacts_member_count(const struct artifacts *a, size_t i);
const char *artifacts_member(const struct artifacts *a, size_t i, size_t j);
/* The index of the definition with this name, else of the first one with this alias, else
 * ARTIFACTS_NONE. */
size_t artifacts_find(const struct artifacts *a, const char *name);

/* A user of the image, from its /etc/passwd. Both strings are borrowed for the call only. */
struct artifacts_user {
	const char *name, *home;
};

/*
 * Expand the user variables for one image, replacing what an earlier call set up. A home that
 * is not absolute, or has more than ARTIFACTS_MAX_SEGMENTS segments, is ignored; homes are
 * compared after removing repeated and trailing '/', and equal homes count once (a home of
 * "/" makes %%users.homedir%%/.bashrc cover /.bashrc). A user name that is empty or contains
 * '/' is ignored for %%users.username%%. Too many expanded globs: DT_ENOMEM, and the set is
 * left with no user globs.
 */
int artifacts_prepare(struct artifacts *a, const struct artifacts_user *users, size_t nusers,
		      struct dt_err *err) DT_MUST_USE;

/*
 * Which definitions cover path (absolute inside the image; repeated '/' are ignored; path_len
 * bytes, need not be NUL-terminated; is_dir: whether it is a directory). Stores at most max
 * borrowed names in names[], sorted by strcmp, unique, and returns how many it stored: pass
 * max >= artifacts_count() to see all. A FILE source covers the non-directories its globs
 * match; a PATH source the matched entry itself; a DIRECTORY source the matched entry and its
 * direct children. Every ARTIFACT_GROUP that contains a covering definition, directly or
 * through other groups, covers the path too. A path with a NUL byte, or longer than
 * ARTIFACTS_MATCH_MAX_PATH, matches nothing.
 */
size_t artifacts_match(const struct artifacts *a, const char *path, size_t path_len, int is_dir,
		       const char **names, size_t max);

#endif
