/*
 * xfs.h - a read-only reader of XFS v5 filesystems (CRC-enabled, as mkfs.xfs makes them
 * since xfsprogs 3.2.3), from raw bytes.
 *
 * Open: xfs_open() with a read function over the filesystem's bytes (offset 0 is the
 * superblock). Then xfs_inode_read() the root (xfs_root()), xfs_dir_read() a directory's
 * names (removed ones too), xfs_readlink() a symlink and xfs_file_runs() where a regular
 * file's content lies; xfs_inodes() lists the allocated inodes from the inode B+trees.
 * Every metadata block read is checked (magic, CRC32c, owner, bounds) before it is used; a
 * damaged one fails that call with DT_EFORMAT and a message that names what was wrong, never
 * with wrong data. Nothing is cached but the superblock's geometry: an open struct xfs is
 * read-only and may be used by several threads at once if the read function may be.
 * Format: the kernel's "XFS Algorithms & Data Structures".
 */
#ifndef DELTAIR_XFS_H
#define DELTAIR_XFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct xfs;

/* Read len bytes at byte off of the filesystem: bytes read (short only at its end) or -1. */
typedef ssize_t (*xfs_read_fn)(void *ctx, uint64_t off, void *buf, size_t len, struct dt_err *err);

#define XFS_MAX_INODE_SIZE 2048 /* the largest inode mkfs.xfs makes */
#define XFS_MAX_LINK       1024 /* XFS_SYMLINK_MAXLEN */
#define XFS_SPARSE         UINT64_MAX

/* A time as the inode says it (bigtime or not): seconds since the epoch + ns (hostile: any). */
struct xfs_time {
	int64_t s;
	uint32_t ns;
};

/* One inode, decoded. */
struct xfs_inode {
	uint64_t ino;
	uint32_t mode; /* with the S_IFMT type bits */
	uint32_t uid, gid, nlink, projid, gen;
	uint64_t size, nblocks;
	struct xfs_time atime, mtime, ctime, crtime;
	uint32_t rdev;  /* devices: XFS's encoding (major << 18 | minor) */
	uint8_t format; /* data fork format: 0 dev, 1 local, 2 extents, 3 btree */
	uint64_t nextents;
	unsigned char raw[XFS_MAX_INODE_SIZE]; /* the on-disk inode, verified */
};

/* One stretch of content: logical offset, byte offset in the filesystem (XFS_SPARSE: zeros),
 * length. */
struct xfs_run {
	uint64_t lo, off, len;
};

/* 1 when buf (the first len bytes of a filesystem) starts with an XFS superblock's magic. */
int xfs_probe(const void *buf, size_t len);

/*
 * Read and check the superblock of the filesystem of size bytes (0: unknown) behind read.
 * A v4 filesystem, one that needs repair, one with a realtime device or unknown incompatible
 * features fails with DT_EFORMAT or DT_EVERSION and a message that says so. On success *out
 * is new: xfs_free() it; ctx is borrowed until then.
 */
int xfs_open(xfs_read_fn read, void *ctx, uint64_t size, struct xfs **out,
	     struct dt_err *err) DT_MUST_USE;
void xfs_free(struct xfs *x);

uint64_t xfs_root(const struct xfs *x);
uint32_t xfs_block_size(const struct xfs *x);
/* Bytes the filesystem spans (data blocks times block size). */
uint64_t xfs_size(const struct xfs *x);

/* Read and verify inode ino into *out (magic, version 3, CRC, its own number, forks). */
int xfs_inode_read(struct xfs *x, uint64_t ino, struct xfs_inode *out,
		   struct dt_err *err) DT_MUST_USE;

/*
 * Call cb for each name of directory dir (not "." or ".."), in on-disk order; name is
 * borrowed for the call. deleted is 1 for a name found in the free space of a directory
 * block (an entry removed since, whose bytes are still there: its ino may since have been
 * freed or reused, and is 0 where the free space overwrote the part that said it), else 0;
 * short form directories (in the inode) keep no removed names. cb returns 0 to go on,
 * non-zero to stop (xfs_dir_read then returns that value). Returns 0, or -1 with err filled
 * when a block of the directory is damaged (the names before it were given).
 */
typedef int (*xfs_dir_fn)(void *ctx, const char *name, size_t len, uint64_t ino, uint8_t ftype,
			  int deleted);
int xfs_dir_read(struct xfs *x, const struct xfs_inode *dir, xfs_dir_fn cb, void *ctx,
		 struct dt_err *err) DT_MUST_USE;

/*
 * Read inode ino as xfs_inode_read() does, when it is free: 1 when its core still verifies
 * and says free (mode 0; uid, gid, times, generation as the last file left them, size and
 * extents gone), 0 when it is in use (*out as xfs_inode_read() gives it), -1 when it cannot
 * be read or verified.
 */
int xfs_inode_read_free(struct xfs *x, uint64_t ino, struct xfs_inode *out,
			struct dt_err *err) DT_MUST_USE;

/*
 * Call cb for each allocated inode the inode B+trees of the allocation groups list, in
 * increasing order, but for the superblock's own (quota and realtime) inodes; cb returns 0
 * to go on, non-zero to stop (xfs_inodes then returns that value). A damaged AGI or btree
 * block ends the walk of its AG (the inodes before it were given); the other AGs are still
 * read, and -1 with err filled (the first failure) is returned at the end.
 */
typedef int (*xfs_inode_fn)(void *ctx, uint64_t ino);
int xfs_inodes(struct xfs *x, xfs_inode_fn cb, void *ctx, struct dt_err *err) DT_MUST_USE;

/* Allocation groups: numbered 0 to xfs_ag_count() - 1. */
uint32_t xfs_ag_count(const struct xfs *x);

/*
 * Read and verify the AGF (free space header) of AG agno: magic, version, CRC, its AG
 * number, the filesystem's UUID, the AG's length, and its counts within bounds. Nothing
 * the reader gives depends on the AGF; a damaged one says the filesystem is (0 or -1 with
 * err filled). The AGI is verified the same way where xfs_inodes() reads it.
 */
int xfs_agf_check(struct xfs *x, uint32_t agno, struct dt_err *err) DT_MUST_USE;

/* The target of symlink ln into buf (XFS_MAX_LINK + 1 bytes, NUL-terminated); *len its
 * length. */
int xfs_readlink(struct xfs *x, const struct xfs_inode *ln, char *buf, size_t *len,
		 struct dt_err *err) DT_MUST_USE;

/*
 * Where the first size bytes of regular file f lie, as runs of contiguous blocks in order
 * of logical offset that add up to size: holes, unwritten extents and a tail past the
 * last extent read as zeros (XFS_SPARSE). More than max_runs runs fail with DT_EFORMAT.
 * Returns 0 with *runs new (free()), or -1 with err filled.
 */
int xfs_file_runs(struct xfs *x, const struct xfs_inode *f, uint64_t size, size_t max_runs,
		  struct xfs_run **runs, size_t *nruns, struct dt_err *err) DT_MUST_USE;

#endif
