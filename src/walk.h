/*
 * walk.h - walk a source's filesystems into a hash-tree: metadata of every entry, and
 * the SHA-256 of every regular file's content.
 *
 * Metadata comes from libtsk, our XFS reader (xfs.h) or statx (dir: sources) one
 * directory at a time. Content is hashed by several threads while the walk goes on, in the
 * order the walk finds the files; a file's blocks are read with large sequential reads (runs
 * of contiguous blocks) straight from the image where libtsk or the XFS reader can tell
 * where they are, and through libtsk after
 * the walk otherwise (resident, compressed or inline data). Hard links are hashed once
 * per inode. Every regular file is hashed, unless the caller proves it unchanged: with a
 * changed-block list (cblk.h), a file whose block runs equal its gold version's and lie in
 * no changed block takes the gold's hash unread; with trust_metadata, one whose inode,
 * size, mtime, ctime and block runs equal the gold's does (unsound against writes to the
 * block device: the caller says so). Metadata is always walked in full.
 * A per-entry failure (an unreadable directory, a read error inside a file) is reported
 * through on_error and the walk goes on; only what makes the whole tree meaningless fails.
 */
#ifndef DELTAIR_WALK_H
#define DELTAIR_WALK_H

#include <stddef.h>
#include <stdint.h>

#include "cblk.h"
#include "error.h"
#include "htree.h"
#include "source.h"

#define WALK_MAX_DEPTH 4096 /* directory levels below a filesystem's root */
/*
 * A regular file with at least this many bytes of holes (apparent size minus allocated
 * bytes) is hashed as sparse-sha256 (HTREE_F_SPARSE), which reads only allocated data;
 * below it, as sha256 (sha256sum's value), which costs at most this much extra hashing of
 * zeros (half a second of one core). docs/dtree-format.md defines both.
 */
#define WALK_SPARSE_HOLES (1ull << 30)
#define WALK_SPARSE_CHUNK 4096 /* sparse-sha256's chunk: a zero chunk counts as a hole */

enum walk_flags {
	WALK_INCLUDE_META = 1 << 0, /* libtsk's virtual entries, NTFS $ files, $OrphanFiles */
	WALK_NO_CONTENT = 1 << 1,   /* metadata only */
};

struct walk_progress {
	uint64_t entries;     /* walked so far */
	uint64_t bytes_done;  /* content hashed so far */
	uint64_t bytes_total; /* content to hash, once the metadata walk is done (else 0) */
	double elapsed;       /* seconds */
	const char *fs;       /* the filesystem being walked */
};

struct walk_stats {
	uint64_t entries, regular, dirs, deleted, errors;
	uint64_t bytes_hashed, bytes_read;
	uint64_t files_reused, bytes_reused; /* hashes taken from the gold, unread */
	double seconds;
};

/*
 * A per-entry failure, reported as it happens: fs is the filesystem's name (NULL for one of
 * no filesystem), path its entry (NULL for a whole-filesystem problem), msg one line. The
 * one callback type of every stage that walks (walk, scan's row collection, fusefs, cli).
 */
typedef void walk_error_fn(void *ctx, const char *fs, const char *path, size_t path_len,
			   const char *msg);

struct walk_opts {
	unsigned flags; /* enum walk_flags */
	int threads;    /* hashing threads; 0: one per online CPU */
	/*
	 * Borrowed, may be NULL: a sealed gold tree. A regular file whose gold version is
	 * shorter also gets the hash of its first gold-size bytes (HTREE_F_PREFIX), so that
	 * the diff can tell appended from modified.
	 */
	const struct htree *gold;
	/*
	 * Borrowed, may be NULL: the blocks of the image that changed since the gold (sealed).
	 * Needs gold; a gold tree without block-run digests (before format 2.1) reuses nothing.
	 */
	const struct cblk *changed;
	/* Reuse the gold's hash of a file whose inode, size, mtime, ctime (ns) and block runs
	 * are the gold's, without a changed-block list. Needs gold. */
	int trust_metadata;
	/* Called for each per-entry failure; path is NULL for a whole-filesystem problem. */
	walk_error_fn *on_error;
	/* Called from the calling thread about four times a second while the walk runs. */
	void (*on_progress)(void *progress_ctx, const struct walk_progress *p);
	void *ctx;          /* for on_error */
	void *progress_ctx; /* for on_progress */
};

/*
 * Walk every filesystem of s into a new tree; sealed on success (htree_free() it).
 * stats may be NULL.
 */
int walk_source(struct source *s, const struct walk_opts *o, struct htree **out,
		struct walk_stats *stats, struct dt_err *err) DT_MUST_USE;

#endif
