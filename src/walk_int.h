/*
 * walk_int.h - what the files of the walk share behind walk.h.
 * walk.c: the whole walk and the helpers below; walk_hash.c: the job queue and the hashing
 * threads; walk_tsk.c: libtsk's filesystems; walk_dir.c: dir: sources (statx); walk_xfs.c:
 * XFS through our reader (xfs.h).
 * A walker reads one filesystem at a time in the calling thread; each adds its entries with
 * walk_add_entry() at the current path and queues each regular file with walk_queue_file().
 */
#ifndef DELTAIR_WALK_INT_H
#define DELTAIR_WALK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <tsk/libtsk.h>

#include "buf.h"
#include "walk.h"

struct alias;
struct xfs_inode;

#define NO_JOB    SIZE_MAX /* walk_queue_job() failed; an alias of no job */
#define JOB_BLOCK 4096     /* jobs per block of the queue (struct walker's blocks) */

/* One file to hash: JOB_RUNS reads block runs of the image, JOB_TSK reads through libtsk
 * (held until the filesystem's walk is over), JOB_HOST reads a dir: source's file. */
enum job_kind { JOB_RUNS, JOB_TSK, JOB_HOST };

struct job {
	size_t entry; /* index of the tree entry */
	enum job_kind kind;
	uint32_t fsi;
	uint64_t inum;
	const char *path; /* borrowed from the tree's arena (stable) */
	uint64_t size;
	uint64_t cost; /* bytes to read: size, or the allocated bytes of a sparse-sha256 */
	uint64_t prefix_len;
	int want_prefix;
	int sparse;              /* hash kind: sparse-sha256 (HTREE_F_SPARSE) rather than sha256 */
	int gold;                /* what gold_prefix() found: GOLD_SAME makes the choice final */
	uint64_t alloc;          /* allocated bytes, as queue_file() was told (for a held job) */
	struct source_run *runs; /* owned; freed when the job is over */
	size_t nruns;
	/* while hashing; the results go into the tree entry (put_result()) */
	unsigned char prefix[32];
	uint8_t has_prefix;
};

/* Open addressing map from a 64-bit key to a size_t value. */
struct u64map {
	uint64_t *keys;
	size_t *vals;
	size_t cap, n;
};

/*
 * ext2/3/4 geometry, read from the superblock, to find an inode's raw bytes: libtsk reads
 * times as unsigned 32-bit seconds and drops the epoch bits of 256-byte inodes, so a file
 * touched to 1960 or 2200 would come out in 2096 or 2063. The walk decodes them itself.
 */
struct ext_geo {
	int ok;
	uint32_t bs, ipg, isz, dsz;
	uint64_t ninodes, ngroups, blocks;
	uint64_t gdt;          /* byte offset of the first group descriptor */
	uint64_t group, table; /* the last group looked up and its inode table block */
	uint64_t cached;       /* byte offset of the inode-table window in cache, or 0 */
	size_t have;           /* bytes of it read */
	unsigned char *block;  /* owned: EXT_TIME_WINDOW bytes */
};

struct walker {
	struct source *src;
	const struct walk_opts *o;
	struct htree *t;
	struct walk_stats st;
	struct dt_err *err;
	int failed; /* a whole-walk failure is in err */

	/* the filesystem being walked */
	uint32_t fsi;
	const struct source_fs *sfs;
	TSK_FS_INFO *fs;
	int is_ntfs;
	int is_exfat;
	int gold_fs;        /* matching filesystem of the gold tree, or -1 */
	struct ext_geo ext; /* ext2/3/4: where inodes are, for their times */
	struct buf path;
	struct u64map visited;       /* directory inodes already walked */
	struct u64map links;         /* inode of a multiply-linked file -> its job */
	int root_fd;                 /* dir: sources: the filesystem being walked */
	int root_fds[SOURCE_MAX_FS]; /* dir: sources: per filesystem, open until hashing ends */
	dev_t root_dev;
	int max_depth;

	/* the job queue */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	pthread_cond_t dcond; /* signalled when ndone reaches njobs */
	pthread_cond_t scond; /* signalled when the queue has room again (MAX_QUEUED) */
	size_t ndone;         /* jobs finished (under qlock) */
	struct job **blocks;  /* owned; NULL once every job in the block is over */
	size_t *bdone;        /* owned: jobs over, per block */
	size_t nblocks, capblocks, capbdone, njobs, next;
	int closed;
	struct job *held; /* libtsk jobs held back until the walk is over */
	size_t nheld, capheld;
	struct alias *aliases;
	size_t naliases, capaliases;

	pthread_mutex_t elock; /* serialises on_error */
	pthread_mutex_t tlock; /* the tree: htree_add() by the walk, results by the hashers */
	_Atomic uint64_t bytes_done;
	_Atomic uint64_t errors;
	_Atomic uint64_t bytes_hashed;
	uint64_t bytes_total;
	double start, last_progress; /* mono_now() */
};

struct subdir {
	uint64_t inum;
	size_t name_off, name_len;
};

/* The subdirectories of one directory: kept while its names are read, walked after. */
struct subdirs {
	struct subdir *v; /* owned */
	size_t n, cap;
	struct buf names; /* their names, each NUL-terminated */
};

/* walk.c */

int walk_map_put(struct u64map *m, uint64_t key, size_t val) DT_MUST_USE;
/* Call on_progress, at most every quarter second unless force. */
void walk_progress(struct walker *w, int force);
/* A failure of a hashing job: its filesystem, whatever the walk is doing now. */
void walk_report_job(struct walker *w, const struct job *j, const char *fmt, ...) DT_PRINTF(3, 4);

/* A per-entry failure at path in the filesystem being walked. */
void walk_report(struct walker *w, const char *path, size_t path_len, const char *fmt, ...)
	DT_PRINTF(4, 5);
/* Out of memory: the whole walk fails (walk.h: every failure is reported). Returns -1. */
int walk_oom(struct walker *w);
/*
 * Append "/name" to the current path (the root is "/"); *old is the length to pop back to,
 * also on failure (the path would pass HTREE_MAX_PATH: walk_path_too_long()).
 */
int walk_path_push(struct walker *w, const char *name, size_t n, size_t *old) DT_MUST_USE;
void walk_path_pop(struct walker *w, size_t old);
/* The entry walk_path_push() could not name: reported (with as much of its path as fits), popped.
 */
void walk_path_too_long(struct walker *w, size_t old);
/* Add e at the current path; -1 when the tree refused it (w->failed is set: the walk stops). */
int walk_add_entry(struct walker *w, struct htree_entry *e, int64_t *idx);
/*
 * Queue the hashing of the regular file at tree entry entry (e): f, its libtsk file; xip, its
 * inode on XFS; neither for dir: sources. alloc: its allocated bytes where the host or our
 * own reader says, else UINT64_MAX.
 */
void walk_queue_file(struct walker *w, size_t entry, const struct htree_entry *e, TSK_FS_FILE *f,
		     const struct xfs_inode *xip, uint64_t alloc);
/* 1 when a directory at depth is past the cap: reported, and not walked. */
int walk_too_deep(struct walker *w, int depth);
/* 1 when the directory inode at the current path is met for the first time; else a loop
 * (reported). */
int walk_first_visit(struct walker *w, uint64_t inum);
void walk_subdirs_init(struct subdirs *s);
void walk_subdirs_release(struct subdirs *s);
/* Keep a subdirectory for later (inum 0 where none is needed); out of memory fails the walk. */
void walk_subdirs_add(struct walker *w, struct subdirs *s, uint64_t inum, const char *name,
		      size_t len);
/* Borrowed: valid until s is released. */
const char *walk_subdirs_name(const struct subdirs *s, size_t i);
/* Push the i-th subdirectory onto the path; 0 when its path is too long (reported). */
int walk_subdirs_enter(struct walker *w, const struct subdirs *s, size_t i, size_t *old);

/* walk_hash.c */

/* Borrowed: the i-th queued job, under qlock; valid until the job is over (its block never
 * moves, and is freed once every job in it is over). */
struct job *walk_job_at(struct walker *w, size_t i);
/* Queue a copy of j; the queue owns j's runs from now on. The job's index, or NO_JOB (out of
 * memory: the walk fails). */
size_t walk_queue_job(struct walker *w, const struct job *j);
/* Wait until every queued job is over; with progress, report it every quarter second. */
void walk_wait_jobs(struct walker *w, int with_progress);
/* A hashing thread (pthread_create's start routine; arg: the walker): runs jobs until the
 * queue is closed and empty. */
void *walk_hash_thread(void *arg);
/* The digest of where a file of size bytes lies (docs/dtree-format.md, "Block-run digests"). */
void walk_runs_digest(const struct source_run *r, size_t n, uint64_t size, unsigned char out[32]);

/* walk_tsk.c */

/* Walk the libtsk filesystem w->sfs; -1 when the whole walk fails (err filled). */
int walk_tsk(struct walker *w);

/* walk_dir.c */

/* The tree's type of a st_mode. */
uint8_t walk_host_type(mode_t m);
/* Walk the dir: filesystem w->sfs; -1 when the whole walk fails (err filled). */
int walk_host(struct walker *w);

/* walk_xfs.c */

/* Walk the XFS filesystem w->sfs; -1 when the whole walk fails (err filled). */
int walk_xfs(struct walker *w);

#endif
