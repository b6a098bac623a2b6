/*
 * knowngood.h - known-good sets: what a trusted source shipped, as (path, SHA-256, package,
 * version), and their .kg file.
 *
 * Build: kg_new(), kg_add_path() per input (a .deb, a folder of them such as a mirror's
 * pool/, or a hashdeep known list), kg_seal(), kg_save(). Or kg_load() a .kg file (or a
 * hashdeep list, imported as it is read). A sealed set is read-only.
 * Entries from .deb files name their package and version and match a file by path and
 * content; entries from a hashdeep list name neither and match by content alone, as
 * hashdeep's own known-file matching does. Format: docs/knowngood-format.md.
 */
#ifndef DELTAIR_KNOWNGOOD_H
#define DELTAIR_KNOWNGOOD_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "outfile.h"

#define KG_MAGIC         "\211DTKG\r\n\032" /* the first 8 bytes of a .kg file */
#define KG_VERSION_MAJOR 1
#define KG_VERSION_MINOR 0
#define KG_MAX_FILE      (4ull << 30) /* bytes of a .kg file (and of its body) we agree to read */
#define KG_MAX_ENTRIES   100000000u
#define KG_MAX_MEMBER    (2ull << 30) /* bytes of one .deb member (data.tar.xz) read */

enum kg_type { KG_REG = 1, KG_LNK, KG_DIR };
enum kg_origin { KG_FROM_DEB = 1, KG_FROM_HASHDEEP };

struct kg_entry {
	const char *path;    /* absolute: "/usr/bin/ls" (hashdeep: the list's name as given) */
	const char *package; /* "" when the origin names none (hashdeep) */
	const char *version;
	uint8_t type;             /* enum kg_type */
	uint8_t origin;           /* enum kg_origin */
	unsigned char sha256[32]; /* content; a link's: SHA-256 of its target; a folder's: 0 */
};

struct kg_stats {
	uint64_t debs, lists, entries, skipped; /* skipped: .deb members we could not read */
};

struct kg;

/* New, empty and unsealed; NULL only when out of memory. */
struct kg *kg_new(void);
void kg_free(struct kg *k);

/* Copy e into the set (not after kg_seal()). */
int kg_add(struct kg *k, const struct kg_entry *e, struct dt_err *err) DT_MUST_USE;
/*
 * Add path: a .deb file (its data.tar's files under the package and version of its
 * control file), a hashdeep list (by its "%%%% HASHDEEP-1.0" header; needs a sha256
 * column), or a folder, searched for both (.deb files, and hashdeep lists by their header) in name
 * order. st (may be NULL) counts what was read. A damaged input is DT_EFORMAT.
 */
int kg_add_path(struct kg *k, const char *path, struct kg_stats *st,
		struct dt_err *err) DT_MUST_USE;
/* Sort, drop repeated entries. */
int kg_seal(struct kg *k, struct dt_err *err) DT_MUST_USE;

/* Write the sealed set to path through outfile.h (o may be NULL: no force). */
int kg_save(const struct kg *k, const char *path, const struct outfile_opts *o,
	    struct dt_err *err) DT_MUST_USE;
/*
 * Read path: a .kg file (the trailer digest is checked before anything else is trusted;
 * damage: DT_EFORMAT; unknown major version: DT_EVERSION) or a hashdeep list. On success
 * *out is new and sealed: kg_free() it.
 */
int kg_load(const char *path, struct kg **out, struct dt_err *err) DT_MUST_USE;
/* The same over a .kg file's bytes (the fuzzer's entry point). */
int kg_load_mem(const unsigned char *data, size_t len, struct kg **out,
		struct dt_err *err) DT_MUST_USE;

size_t kg_count(const struct kg *k);
/* Borrowed: entry i in SHA-256 order, valid until k is freed. */
const struct kg_entry *kg_get(const struct kg *k, size_t i);
/*
 * Sealed only. The entries whose content is sha256: the index of the first in *first and
 * how many (0 when none).
 */
size_t kg_find(const struct kg *k, const unsigned char sha256[32], size_t *first);
/*
 * Borrowed: the entry that vouches for a file at path (len bytes) with content sha256 and
 * type: a .deb entry of the same path (preferring one of package and version when those
 * are not NULL), else a hashdeep entry of the same content (regular files only). NULL when
 * none does.
 */
const struct kg_entry *kg_vouch(const struct kg *k, const char *path, size_t len, uint8_t type,
				const unsigned char sha256[32], const char *package,
				const char *version);

#endif
