/*
 * source.h - evidence sources: what bytes we read and which filesystems they hold.
 *
 * A source is opened read-only from a spec:
 *   PATH            a raw image file or block device, or an E01/VMDK/VHD (libtsk's image
 *                   layer detects the format); partition tables (GPT, MBR) are read with
 *                   libtsk and every filesystem libtsk recognises is listed, named "pN" by
 *                   its partition number as Linux numbers /dev/sdaN ("p0" without a table);
 *                   XFS v5 filesystems are read by our own reader (xfs.h), type "xfs"
 *   dir:PATH        a mounted directory, for filesystems no reader here knows; mount
 *                   evidence with -o ro,norecovery,nouuid first
 *   ebs://snap-ID, ebs://REGION/snap-ID
 *                   an EBS snapshot read through the EBS direct APIs (aws/ebs.h), seen by
 *                   libtsk as an external image; format "ebs"
 * Reads are thread-safe: source_read() may be called from several threads at once.
 */
#ifndef DELTAIR_SOURCE_H
#define DELTAIR_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/* Filesystems (and skipped partitions) one source lists; at most HTREE_MAX_FS (walk.c). */
#define SOURCE_MAX_FS 64

struct source;
struct xfs;
struct xfs_inode;

enum source_kind { SOURCE_IMAGE, SOURCE_DIR };

struct source_fs {
	char name[16];       /* "p1", "p0" */
	char type[16];       /* "ext4", "ntfs", "fat32", "dir" ... */
	uint64_t offset;     /* byte offset of the filesystem in the image */
	uint64_t size;       /* bytes, 0 when unknown */
	uint32_t block_size; /* 0 for dir: */
	void *tsk_fs;        /* borrowed TSK_FS_INFO *, NULL for dir: and XFS */
	struct xfs *xfs;     /* borrowed, our XFS reader; NULL unless type "xfs" */
	const char *root;    /* dir: the directory; NULL for images */
	/* Identity, as blkid shows it ("" when unknown): ext2/3/4 and XFS UUID, NTFS serial
	 * (16 hex digits), FAT and exFAT volume id ("ABCD-1234"); the label. For dir: sources,
	 * read from the mounted device's superblock when it can be opened. */
	char uuid[40];
	char label[64];
};

struct source_skip {
	char name[16];    /* "p2" */
	uint64_t offset;  /* byte offset */
	char reason[256]; /* why no filesystem was opened there */
	char hint[256];   /* how to read what is there anyway ("mount it ..."), or "" */
};

struct source_opts {
	int64_t offset;      /* >= 0: open one filesystem at this byte offset, no partition table */
	int ebs_concurrency; /* ebs://: read-ahead fetches in flight; 0: the default */
	double ebs_rate;     /* ebs://: GetSnapshotBlock per second; 0: the default (quota) */
	/* ebs:// only (aws/ebs.h): the gold snapshot to ask ListChangedBlocks against, and
	 * where unchanged blocks are read instead of the snapshot (NULL: fetched) */
	const char *changed_since;
	const char *gold_image;
	const char *gold_cache;
	uint64_t gold_cache_max; /* bytes; 0: the default */
};

/*
 * Open spec. On success *out is new: source_free() it. A .dtree file fails with DT_EUSAGE
 * ("use it with --baseline"). An image in which no filesystem can be opened fails with
 * DT_EFORMAT and a message that says what was found (no image, a partition table with no
 * readable filesystem, a filesystem libtsk cannot read named by its magic (XFS, btrfs,
 * LUKS, LVM, swap, ...) with what to do about it, or, for an --offset with nothing there,
 * the byte offset N*512 when a filesystem starts there).
 */
int source_open(const char *spec, const struct source_opts *o, struct source **out,
		struct dt_err *err) DT_MUST_USE;
void source_free(struct source *s);

enum source_kind source_kind(const struct source *s);
/* Borrowed: valid until s is freed. The spec as given, the image format ("raw", "ewf"...),
 * the partition layout ("gpt", "dos", "none", "dir"). */
const char *source_spec(const struct source *s);
const char *source_format(const struct source *s);
const char *source_layout(const struct source *s);
uint64_t source_size(const struct source *s);

size_t source_nfs(const struct source *s);
const struct source_fs *source_fs(const struct source *s, size_t i);
/* Partitions that were found but held no filesystem libtsk could open. */
size_t source_nskipped(const struct source *s);
const struct source_skip *source_skipped(const struct source *s, size_t i);

/* Borrowed, valid until s is freed: the blocks that changed since the gold snapshot
 * (changed_since), or NULL (not asked, or unrelated snapshots: see source_changed_note()). */
struct cblk;
const struct cblk *source_changed(const struct source *s);
/* Borrowed: why a changed-block list that was asked for is not used ("" when none). */
const char *source_changed_note(const struct source *s);

/* An ebs:// source's snapshot and what was fetched so far into out: 0, or -1 for others. */
struct ebs_stats;
int source_ebs_stats(struct source *s, struct ebs_stats *out);

/*
 * Read len bytes at byte offset off of the image (not of a filesystem). Returns the
 * number of bytes read (short only at the end of the image) or -1 with err filled.
 */
ssize_t source_read(struct source *s, uint64_t off, void *buf, size_t len,
		    struct dt_err *err) DT_MUST_USE;
/*
 * source_read() of exactly len bytes of a file's data: 0, or -1 with err filled (an image
 * that ends sooner is DT_EIO, "the image ends at byte N, inside the file's data").
 */
int source_read_exact(struct source *s, uint64_t off, void *buf, size_t len,
		      struct dt_err *err) DT_MUST_USE;

/*
 * Read up to len bytes at offset off of a file's content: inode is the entry's inode
 * (libtsk's metadata address), path its path (used for dir: sources, opened without
 * following symlinks). Returns bytes read (0 at the end), or -1 with err filled.
 * Thread-safe; libtsk reads are serialised under the source's lock.
 */
ssize_t source_read_file(struct source *s, size_t fs, uint64_t inode, const char *path,
			 uint64_t off, void *buf, size_t len, struct dt_err *err) DT_MUST_USE;
/* Open path (absolute within a dir: source) without following any symlink: an fd or -1. */
int source_open_beneath(struct source *s, size_t fs, const char *path);

/* One stretch of a file's content: its logical offset, where it lies in the image
 * (SOURCE_SPARSE: reads as zeros), and its length. */
#define SOURCE_SPARSE UINT64_MAX
struct source_run {
	uint64_t lo, off, len;
};

/*
 * Where the content of tsk_file (a borrowed TSK_FS_FILE * of filesystem f) lies in the
 * image, as runs of contiguous blocks: a libtsk file walk over block addresses, nothing is
 * read. Returns 0 with *runs new (free()), or 1 when the content has no plain place in the
 * image (resident, compressed or inline data, more than max_runs runs, a map that does not
 * add up to size) and libtsk must read it, or -1 when out of memory. Not thread-safe with
 * other libtsk calls on the same filesystem: the caller serialises.
 */
int source_file_runs(const struct source_fs *f, void *tsk_file, uint64_t size, size_t max_runs,
		     struct source_run **runs, size_t *nruns, struct dt_err *err) DT_MUST_USE;
/*
 * Where the content of regular file inode (size bytes) of filesystem fs lies in the image,
 * for filesystems read by our own readers (XFS): runs as source_file_runs() gives them.
 * Reads the file's metadata, no content; thread-safe. Returns 0 with *runs new (free()),
 * 1 when fs is not read by our own readers (libtsk, dir:), or -1 with err filled (damaged
 * metadata, more than max_runs runs).
 */
int source_inode_runs(struct source *s, size_t fs, uint64_t inode, uint64_t size, size_t max_runs,
		      struct source_run **runs, size_t *nruns, struct dt_err *err) DT_MUST_USE;
/*
 * The same for ip, an inode of XFS filesystem f (type "xfs") already read with
 * xfs_inode_read(): the walk, which has it in hand, maps the file as it maps a libtsk one.
 */
int source_xfs_runs(const struct source_fs *f, const struct xfs_inode *ip, uint64_t size,
		    size_t max_runs, struct source_run **runs, size_t *nruns,
		    struct dt_err *err) DT_MUST_USE;
/* libtsk's last error of this thread, as one line into out; clears it. */
void source_tsk_error(char *out, size_t n);
/* Open path (absolute, inside the tree at root_fd) without following any symlink on the way:
 * an fd, or -1 with errno. */
int source_openat_beneath(int root_fd, const char *path);

/* Serialise calls into libtsk that are not known to be thread-safe (file reads). */
void source_lock(struct source *s);
void source_unlock(struct source *s);

#endif
