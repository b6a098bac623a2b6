/*
 * htree_int.h - what the files of the hash-tree share (the .c files of src/htree/, behind
 * htree.h): the tree's struct and the .dtree file's constants. htree.c: the in-memory tree
 * (build, seal, look up); save.c: encoding and writing; load.c: verifying and decoding.
 * Not a public header: only the files of src/htree/ include it.
 *
 * File layout (all integers little-endian):
 *   magic "\x89DTREE\r\n" | u16 major | u16 minor | u32 header length | header (JSON)
 *   | u64 body length | u64 raw body length | body (zlib) | "DTREEEND" | SHA-256 of all before
 * The raw body is a run of sections: varint tag, varint length, payload. Tag 1 holds the
 * allocated entries of one filesystem, tag 2 its unallocated names, tag 3 the parsed rows
 * (JSON), tag 4 (2.1) the block-run digests of the regular files of one filesystem. A reader
 * skips tags it does not know, so a minor version may add sections.
 */
#ifndef DELTAIR_HTREE_INT_H
#define DELTAIR_HTREE_INT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "arena.h"
#include "htree.h"

#define MAGIC        HTREE_MAGIC
#define TRAILER      "DTREEEND"
#define ARENA_CHUNK  (1u << 20)
#define MAX_HEADER   (1u << 20)
#define MAX_RAW_BODY (8ull << 30)

enum { SEC_ENTRIES = 1, SEC_DELETED = 2, SEC_ROWS = 3, SEC_RUNS = 4 };

struct elist {
	struct htree_entry *v;
	size_t n, cap;
};

/* A prefix hash (htree_set_prefix()). */
struct prefix {
	unsigned char sha[32];
	uint64_t len;
};

struct htree {
	struct elist ents;  /* allocated entries */
	struct prefix *pfx; /* owned: an entry's prefix_id - 1 indexes it */
	size_t npfx, cappfx;
	struct elist dels; /* unallocated names */
	struct htree_fs *fs;
	size_t nfs, fscap;
	struct arena arena; /* owned: paths and link targets */
	struct htree_info info;
	json_t *rows;
	size_t dropped;
	uint64_t file_size;
	int sealed;
};

/* The previous entry of a section: paths, times and inodes are stored as deltas. */
struct prev {
	const char *path;
	size_t path_len;
	int64_t t[4];
	uint64_t inode;
};

#endif
