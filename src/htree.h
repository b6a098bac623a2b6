/*
 * htree.h - the Merkle hash-tree of an image's filesystems, and its .dtree file.
 *
 * Build: htree_new(), htree_add_fs() per filesystem, htree_add() per entry, htree_seal();
 * or htree_load(). Sealing sorts entries by (filesystem, path) in tree order ('/' sorts
 * before every other byte, so a directory is followed by exactly its subtree) and computes
 * every directory's node hash: the SHA-256 of its children's records sorted by name (name,
 * type, mode, uid, gid, and the content hash, link target or child node hash). Times and
 * inode numbers are kept but not hashed, so a pristine copy of a tree hashes equal to it.
 * Unallocated names (HTREE_F_DELETED) are kept but are never part of a node hash.
 * A sealed tree is read-only and may be shared by threads. Format: docs/dtree-format.md.
 */
#ifndef DELTAIR_HTREE_H
#define DELTAIR_HTREE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "outfile.h"

#define HTREE_MAX_PATH      65536        /* bytes in one path */
#define HTREE_MAX_LINK      65536        /* bytes in one link target */
#define HTREE_MAX_ENTRIES   50000000u    /* entries in one tree */
#define HTREE_MAX_FS        256          /* filesystems in one tree */
#define HTREE_MAX_FILE      (8ull << 30) /* bytes of a .dtree file we agree to read */
#define HTREE_NO_TIME       INT64_MIN    /* the seconds of a time the filesystem does not have */
#define HTREE_TIME_MIN      (-62167219200LL) /* 0000-01-01T00:00:00Z: see struct htree_time */
#define HTREE_TIME_MAX      253402300799LL   /* 9999-12-31T23:59:59Z */
#define HTREE_VERSION_MAJOR 2                /* reads 1.x too: 2.0 added HTREE_F_SPARSE */
#define HTREE_VERSION_MINOR 2 /* 2.1: block-run digests (HTREE_F_RUNS); 2.2: times to 9999 */
#define HTREE_MAGIC         "\211DTREE\r\n" /* the first 8 bytes of a .dtree file */

enum htree_type {
	HTREE_REG = 1,
	HTREE_DIR,
	HTREE_LNK,
	HTREE_CHR,
	HTREE_BLK,
	HTREE_FIFO,
	HTREE_SOCK,
	HTREE_OTHER,
};

enum htree_flags {
	HTREE_F_DELETED = 1 << 0, /* a name found in unallocated space */
	HTREE_F_HASHED = 1 << 1,  /* sha256 holds the content hash */
	HTREE_F_READERR = 1 << 2, /* content could not be read; sha256 is not valid */
	HTREE_F_PREFIX = 1 << 3,  /* htree_prefix(): the hash of the first bytes (not stored) */
	/* with HASHED: sha256 is the sparse-sha256 of the content, not its SHA-256 */
	HTREE_F_SPARSE = 1 << 4,
	/* runs holds the digest of where the content lies in the image (htree_runs_digest()) */
	HTREE_F_RUNS = 1 << 5,
};

/* The four times of an entry, indexes of htree_entry.time_s and .time_ns. */
enum htree_time_kind { HTREE_MTIME, HTREE_ATIME, HTREE_CTIME, HTREE_CRTIME, HTREE_NTIMES };

/*
 * One time: s seconds since the epoch (HTREE_NO_TIME: absent) + ns (0 ... 999999999).
 * Seconds are kept within HTREE_TIME_MIN ... HTREE_TIME_MAX, what RFC 3339 can write: every
 * filesystem's real range is inside (ext4 1901-2446, XFS bigtime 1901-2486, NTFS from 1601),
 * and the walk clamps a hostile value to it.
 */
struct htree_time {
	int64_t s;
	uint32_t ns; /* 0 when absent */
};

/* What the first bytes of a regular file say it is (kept in the .dtree). */
enum htree_magic { HTREE_MAGIC_NONE, HTREE_MAGIC_ELF, HTREE_MAGIC_SCRIPT };

struct htree_entry {
	const char *path; /* borrowed from the tree: absolute within its filesystem */
	const char *link; /* borrowed from the tree, NULL unless a link target is known */
	uint32_t path_len;
	uint32_t link_len;
	uint32_t fs;   /* index of the filesystem */
	uint8_t type;  /* enum htree_type */
	uint8_t flags; /* enum htree_flags */
	uint8_t magic; /* enum htree_magic */
	uint32_t mode; /* permission bits with setuid, setgid, sticky (07777) */
	uint32_t uid, gid, nlink;
	uint64_t size, inode;
	/* By enum htree_time_kind: seconds since the epoch within HTREE_TIME_MIN ...
	 * HTREE_TIME_MAX, or HTREE_NO_TIME; and their nanoseconds, 0 when absent. Seconds and
	 * nanoseconds are kept apart so the entry stays small (4 x 12 bytes, not 4 x 16). */
	int64_t time_s[HTREE_NTIMES];
	uint32_t time_ns[HTREE_NTIMES];
	unsigned char sha256[32]; /* content (regular files) or node hash (directories) */
	unsigned char runs[32];   /* see HTREE_F_RUNS */
	uint32_t end;       /* sealed: index one past the last entry of this entry's subtree */
	uint32_t depth;     /* sealed: path components (the root is 0) */
	uint32_t prefix_id; /* the tree's own: with HTREE_F_PREFIX, see htree_prefix() */
};

struct htree_fs {
	char name[16];
	char type[16];
	char uuid[40];  /* as struct source_fs: "" when unknown (and in trees made before) */
	char label[64]; /* "" when none or unknown */
	uint64_t offset, size;
	uint32_t first, count;   /* sealed: the filesystem's allocated entries */
	uint32_t dfirst, dcount; /* sealed: its unallocated names */
};

struct htree_info {
	int major, minor;
	char tool[64];
	char created[40]; /* RFC 3339 UTC */
	char *image;      /* owned: the evidence spec as given */
	char *format;     /* owned: "raw", "ewf", "dir" */
	char *layout;     /* owned: "gpt", "dos", "none", "dir" */
	uint64_t image_size;
	unsigned char digest[32]; /* the trailer digest of the loaded or saved file */
	int has_digest;
};

struct htree;

/* New, empty and unsealed; NULL only when out of memory. */
struct htree *htree_new(void);
void htree_free(struct htree *t);

/* Describe the evidence (copied). */
int htree_set_image(struct htree *t, const char *image, const char *format, const char *layout,
		    uint64_t size, struct dt_err *err) DT_MUST_USE;
/* Append a filesystem; returns its index or -1. */
int htree_add_fs(struct htree *t, const char *name, const char *type, uint64_t offset,
		 uint64_t size, struct dt_err *err) DT_MUST_USE;
/* The identity of filesystem i (as struct source_fs has it; copied, truncated to fit). */
void htree_set_fs_identity(struct htree *t, size_t i, const char *uuid, const char *label);
/*
 * Copy e (its path and link target too) into the tree; e->end and e->depth are ignored.
 * Returns the new entry's index among entries of its kind (allocated, or unallocated when
 * e->flags has HTREE_F_DELETED), or -1. Not after htree_seal().
 */
int64_t htree_add(struct htree *t, const struct htree_entry *e, struct dt_err *err) DT_MUST_USE;
/* Borrowed: the allocated entry at index i, valid until the tree is freed or sealed. */
struct htree_entry *htree_at(struct htree *t, size_t i);
/*
 * The prefix hash of the allocated entry at index i (unsealed): the SHA-256 of its first
 * len bytes (walk.h: a file whose gold version is shorter). Sets HTREE_F_PREFIX. Kept
 * beside the entries, not in them: few files have one, and it is never saved.
 */
int htree_set_prefix(struct htree *t, size_t i, const unsigned char sha[32], uint64_t len,
		     struct dt_err *err) DT_MUST_USE;
/* Borrowed, until t is freed: e's prefix hash and its length, or NULL when it has none. */
const unsigned char *htree_prefix(const struct htree *t, const struct htree_entry *e,
				  uint64_t *len);
/*
 * Sort and compute node hashes. An entry whose parent directory is not in the tree is an
 * error (DT_EFORMAT); of two allocated entries with the same path the first added is kept
 * and the rest are dropped and counted (htree_dropped()).
 */
int htree_seal(struct htree *t, struct dt_err *err) DT_MUST_USE;

size_t htree_dropped(const struct htree *t);

/* Allocated entries, in tree order once sealed. */
size_t htree_count(const struct htree *t);
const struct htree_entry *htree_get(const struct htree *t, size_t i);
/* Unallocated names (HTREE_F_DELETED), sorted by (filesystem, path) once sealed. */
size_t htree_ndeleted(const struct htree *t);
const struct htree_entry *htree_deleted(const struct htree *t, size_t i);
size_t htree_nfs(const struct htree *t);
const struct htree_fs *htree_fs(const struct htree *t, size_t i);
const struct htree_info *htree_info(const struct htree *t);
/* Index of the filesystem named name, or -1. */
int htree_fs_index(const struct htree *t, const char *name);
/*
 * The pairing rule, asked by every stage that compares two sides (walk, diff, scan, cli):
 * the index in gold of the filesystem paired with the one named name on the other side,
 * which holds other_nfs filesystems. The one of the same name; failing that, with one
 * filesystem on each side, that one whatever the names (a GPT p1 read raw as p0). -1: none.
 */
int htree_fs_pair(const struct htree *gold, const char *name, size_t other_nfs);

/* Sealed only. Borrowed: the allocated entry at path in filesystem fs, or NULL. */
const struct htree_entry *htree_find(const struct htree *t, uint32_t fs, const char *path,
				     size_t len);
/* Tree order of two paths: '/' sorts first. <0, 0, >0 as memcmp. */
int htree_pathcmp(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Write the tree to path atomically (temporary name, fsync, rename). The tree must be
 * sealed. Fills the digest in the tree's info. o (may be NULL: kind OUTFILE_DTREE, no force)
 * says what an existing file at path may be replaced (outfile.h).
 */
int htree_save(struct htree *t, const char *path, const struct outfile_opts *o,
	       struct dt_err *err) DT_MUST_USE;
/*
 * Read and verify path; the trailer digest is checked before anything else is trusted.
 * Not a .dtree or damaged: DT_EFORMAT; unknown major version: DT_EVERSION. On success *out
 * is new and sealed: htree_free() it.
 */
int htree_load(const char *path, struct htree **out, struct dt_err *err) DT_MUST_USE;
/* The same over a buffer (the fuzzer's entry point). */
int htree_load_mem(const unsigned char *data, size_t len, struct htree **out,
		   struct dt_err *err) DT_MUST_USE;

/*
 * Parsed rows of the artifact files (issue: row diff), kept in the .dtree beside the
 * entries: a JSON object { "TABLE": [ {"path":..., "columns": {...}}, ... ], ... }.
 * htree_set_rows() steals rows (a json_t *, also on failure); htree_rows() is borrowed
 * until the tree is freed, NULL when the tree has none.
 */
int htree_set_rows(struct htree *t, void *rows, struct dt_err *err) DT_MUST_USE;
void *htree_rows(const struct htree *t);

/* The allocated entries by type, and the bytes of the regular files (the header's counts). */
struct htree_counts {
	uint64_t regular, dirs, symlinks, other, bytes;
};
void htree_count_types(const struct htree *t, struct htree_counts *c);

/* Encoded body sizes of the last save or load (for `tree info` and the benchmark). */
uint64_t htree_file_size(const struct htree *t);

/* Helpers shared by the exporters and events. */
const char *htree_type_name(enum htree_type type); /* "file", "dir", "symlink", ... */
/* The S_IFMT bits of a type (S_IFREG, S_IFDIR...); 0 for HTREE_OTHER. */
unsigned htree_type_mode(enum htree_type type);
/* Time k of e, and setting it (t.s HTREE_NO_TIME: absent, ns set to 0). */
struct htree_time htree_time_of(const struct htree_entry *e, enum htree_time_kind k);
void htree_set_time(struct htree_entry *e, enum htree_time_kind k, struct htree_time t);
/* Mark all four times of e absent. */
void htree_clear_times(struct htree_entry *e);
/* <0, 0, >0 as a is earlier, equal, later than b; an absent time is earlier than any. */
int htree_time_cmp(struct htree_time a, struct htree_time b);
/* s seconds + ns as a time, clamped to HTREE_TIME_MIN ... HTREE_TIME_MAX (ns >= 10^9: 0). */
struct htree_time htree_time_make(int64_t s, int64_t ns);
/* Format t as RFC 3339 UTC with nanoseconds ("2446-05-10T22:38:55.999999999Z"); "" if absent. */
void htree_format_time(struct htree_time t, char out[40]);
void htree_hex(const unsigned char *d, size_t n, char *out); /* out: 2n+1 bytes */

#endif
