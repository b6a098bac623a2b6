/*
 * fusefs.h - a read-only FUSE view of an image's filesystems, or of only its delta against a
 * gold tree (libfuse3's high-level API, multithreaded loop).
 *
 * fusefs_new() walks the source into a sealed tree (metadata only for a plain view; a full
 * walk against the gold for a delta view, which is then diffed: the view shows the delta and
 * the directories that lead to it, and a virtual /.deltair/events.jsonl holds the diff's
 * events). fusefs_mount() mounts it (ro, default_permissions, nosuid, nodev);
 * fusefs_serve() daemonises unless asked not to and serves until unmounted or signalled.
 * Lookups are served from the sealed tree: nothing is read from the image but file content.
 *
 * Content is read straight from the image through each file's block map (the runs libtsk
 * reports), or through an open libtsk handle for data that needs libtsk (resident,
 * compressed, very fragmented), or with source_read_file() for dir: sources. At most
 * FUSEFS_CACHE_FILES maps and handles are kept (least recently used goes first), each map
 * at most FUSEFS_MAX_RUNS runs, so the cache is bounded (docs/mount.md). The kernel's page
 * cache keeps file data across opens: the view never changes while mounted.
 */
#ifndef DELTAIR_FUSEFS_H
#define DELTAIR_FUSEFS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "htree.h"
#include "source.h"
#include "walk.h"

#define FUSEFS_CACHE_FILES  32            /* files whose block map or handle is kept */
#define FUSEFS_MAX_RUNS     32768         /* runs in one file's block map */
#define FUSEFS_MAP_MAX      (64ull << 30) /* larger files are read through libtsk */
#define FUSEFS_MAX_EVENTS   (1ull << 30)  /* bytes of /.deltair/events.jsonl */
#define FUSEFS_READAHEAD_KB 2048          /* the mount's readahead window, where we may */

struct fusefs;

struct fusefs_opts {
	/* Show only this filesystem ("p1"), at the root. NULL: one filesystem at the root,
	 * several as top-level pN/ folders. */
	const char *fs;
	/* Borrowed, sealed, may be NULL: show only the delta against this gold tree. */
	const struct htree *gold;
	/* The gold's file name, for the summary event (may be NULL). */
	const char *gold_path;
	unsigned walk_flags; /* WALK_INCLUDE_META; content hashing is chosen here */
	int threads;         /* hashing threads of a delta walk; 0: one per CPU */
	/* As struct walk_opts: per-entry failures of the walk, and progress. May be NULL. */
	walk_error_fn *on_error;
	void (*on_progress)(void *progress_ctx, const struct walk_progress *p);
	void *ctx;
	void *progress_ctx;
};

struct fusefs_stats {
	uint64_t entries; /* entries in the view (without the virtual ones) */
	uint64_t delta;   /* changes the diff found (delta view) */
	uint64_t errors;  /* per-entry failures of the walk */
	size_t events_len;
};

struct fusefs_mount_opts {
	int foreground;     /* serve from the calling process; else daemonise once mounted */
	int allow_other;    /* let other users in (the image's modes still apply) */
	const char *fsname; /* shown in /proc/mounts ("deltair:IMAGE"); NULL: "deltair" */
};

/*
 * Walk src (borrowed: it must outlive the view) into a new view. A delta view also diffs
 * and renders the events. An unknown o->fs: DT_EUSAGE. On success *out is new:
 * fusefs_free() it.
 */
int fusefs_new(struct source *src, const struct fusefs_opts *o, struct fusefs **out,
	       struct dt_err *err) DT_MUST_USE;
void fusefs_stats(const struct fusefs *f, struct fusefs_stats *st);
/* Borrowed until f is freed: /.deltair/events.jsonl (NULL, 0 for a plain view). */
const char *fusefs_events(const struct fusefs *f, size_t *len);

/*
 * Whether mountpoint can take the view: an existing, empty directory on which no FUSE
 * filesystem (another deltair view, say) is mounted. Else DT_EUSAGE saying which, or DT_EIO
 * when it cannot be read. For checking before the walk; fusefs_mount() checks again.
 */
int fusefs_check_mountpoint(const char *mountpoint, struct dt_err *err);
/*
 * Mount f on mountpoint (an existing directory; kept as an absolute path, since serving
 * starts in "/"). As root, also widen the mount's readahead (docs/mount.md). A failure says
 * why, in libfuse's or fusermount3's words: DT_EIO; DT_EUSAGE as fusefs_check_mountpoint().
 */
int fusefs_mount(struct fusefs *f, const char *mountpoint, const struct fusefs_mount_opts *mo,
		 struct dt_err *err) DT_MUST_USE;
/*
 * Daemonise unless mo->foreground (the parent exits 0 once the child runs), then serve with
 * several threads until the filesystem is unmounted (fusermount3 -u, umount) or a SIGINT,
 * SIGTERM or SIGHUP arrives; then unmount. Returns 0 after a clean end, -1 with err filled.
 */
int fusefs_serve(struct fusefs *f, struct dt_err *err) DT_MUST_USE;
/* Unmounts if still mounted. NULL is a no-op. */
void fusefs_free(struct fusefs *f);

#endif
