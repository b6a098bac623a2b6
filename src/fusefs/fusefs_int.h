/*
 * fusefs_int.h - what the files of src/fusefs/ share behind fusefs.h.
 *
 * The view is a sealed tree and never changes once mounted, so every lookup is a binary
 * search (htree_find) and every listing a walk over a directory's subtree range that jumps
 * from one child to the next by its `end`. Nothing but file content is read from the image
 * while serving. libfuse's high-level API gives us paths; with nullpath_ok, reads come with
 * the handle that open() filled instead, which names the tree entry.
 *
 * build.c makes the view (fusefs_new), content.c keeps the block maps and handles and reads
 * file content, ops.c answers libfuse's calls, mount.c mounts, serves and frees.
 */
#ifndef DELTAIR_FUSEFS_INT_H
#define DELTAIR_FUSEFS_INT_H

#define FUSE_USE_VERSION 312

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <fuse.h>
#include <tsk/libtsk.h>

#include "fusefs.h"

#define FH_ROOT       (UINT64_MAX - 1)
#define FH_DELTAIR    (UINT64_MAX - 2)
#define FH_EVENTS     (UINT64_MAX - 3)
#define INO_ROOT      1
#define INO_DELTAIR   ((uint64_t)0xffff << 48 | 1)
#define INO_EVENTS    ((uint64_t)0xffff << 48 | 2)
#define FS_INO_SHIFT  48
#define TIMEOUT       86400.0 /* the view never changes: the kernel may cache it all */
#define NAME_MAX_FUSE 1024    /* the kernel's FUSE_NAME_MAX */

/* A file's block map, or an open libtsk handle, or neither (dir: sources). */
struct fslot {
	int used, temp;
	uint32_t fs;
	uint64_t inode, size;
	struct source_run *runs; /* owned; NULL unless the file is read through its block map */
	size_t nruns;
	TSK_FS_FILE *file; /* owned; used and closed only under the source's lock */
	unsigned refs;
	uint64_t stamp;
	int in_image; /* every run lies inside the image: it may be spliced */
};

struct fcache {
	pthread_mutex_t lock;
	struct fslot slot[FUSEFS_CACHE_FILES];
	uint64_t clock;
};

struct fusefs {
	struct source *src; /* borrowed */
	struct htree *t;    /* owned, sealed */
	int single;         /* the filesystem shown at the root, or -1: pN/ folders */
	int delta;
	uint8_t *visible; /* owned; per entry; NULL: everything is in the view */
	char *events;     /* owned: /.deltair/events.jsonl */
	size_t events_len;
	struct fusefs_stats st;
	struct timespec born;
	struct fcache cache;
	int cache_ready;
	int img_fd; /* a raw image of our own to splice from, or -1 */
	struct fuse *fuse;
	int mounted, foreground;
	/* Per filesystem of t: no Unix modes on disk (FAT, exFAT), and the time of a root
	 * that has none. */
	uint8_t *no_modes;             /* owned */
	struct htree_time *root_times; /* owned */
};

enum node_kind { N_ROOT, N_ENTRY, N_DELTAIR, N_EVENTS };

struct node {
	enum node_kind kind;
	size_t idx;
	const struct htree_entry *e;
};

static inline size_t
entry_index(const struct fusefs *f, const struct htree_entry *e)
{
	return (size_t)(e - htree_get(f->t, 0));
}

static inline int
visible(const struct fusefs *f, size_t idx)
{
	return f->visible == NULL || f->visible[idx];
}

/* content.c */
/* The slot of e's block map or handle, referenced until fusefs_cache_put(); NULL on failure. */
struct fslot *fusefs_cache_get(struct fusefs *f, const struct htree_entry *e, struct dt_err *err);
void fusefs_cache_put(struct fusefs *f, struct fslot *s);
/* The first of s's runs (sorted by lo) that ends after file offset off; s->nruns: none. */
size_t fusefs_run_first(const struct fslot *s, uint64_t off);
void fusefs_cache_release(struct fusefs *f);
/* Read up to len bytes of e's content at off into buf: bytes read (0 at the end), or -1. */
ssize_t fusefs_read_content(struct fusefs *f, const struct htree_entry *e, char *buf, size_t len,
			    uint64_t off, struct dt_err *err);

/* ops.c: libfuse's calls; the fusefs is fuse_get_context()'s private_data. */
extern const struct fuse_operations fusefs_ops;

#endif
