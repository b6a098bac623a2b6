/*
 * fuzz_xfs.c - libFuzzer target: the XFS reader on arbitrary filesystems.
 *
 * The input is a sparse image: records of a 4-byte little-endian sector number and 512
 * bytes of that sector; every other sector of a 64 MiB image reads as zeros (seeds hold a
 * small filesystem's non-zero sectors: tests/fuzz/mkseed-xfs.sh). The whole reader runs:
 * superblock, a directory walk from the root (removed names too), every inode, symlink and
 * block map, and the inode B+trees of every AG.
 * Fuzz builds define FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION, which makes the reader
 * compute CRCs but ignore their verdict, so mutations get past them.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xfs.h"

#define SECT       512
#define IMAGE_SIZE ((uint64_t)64 << 20)
#define MAX_VISITS 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct image {
	const uint8_t *data;
	size_t nrec;
};

static ssize_t
img_read(void *ctx, uint64_t off, void *buf, size_t len, struct dt_err *err)
{
	const struct image *im = ctx;

	(void)err;
	if (off >= IMAGE_SIZE)
		return 0;
	if (len > IMAGE_SIZE - off)
		len = (size_t)(IMAGE_SIZE - off);
	memset(buf, 0, len);
	/* Later records win, as if written in order. */
	for (size_t i = 0; i < im->nrec; i++) {
		const uint8_t *r = im->data + i * (4 + SECT);
		uint64_t s =
			(uint64_t)(r[0] | r[1] << 8 | r[2] << 16 | (uint32_t)r[3] << 24) * SECT;
		if (s + SECT <= off || s >= off + len)
			continue;
		uint64_t from = s > off ? s : off, to = s + SECT < off + len ? s + SECT : off + len;
		memcpy((uint8_t *)buf + (from - off), r + 4 + (from - s), (size_t)(to - from));
	}
	return (ssize_t)len;
}

struct walk {
	struct xfs *x;
	unsigned visits;
	uint64_t last;
	int depth;
	struct xfs_inode ip;
	char link[XFS_MAX_LINK + 1];
};

static int name_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint8_t ftype,
		   int deleted);

static void
walk_dir(struct walk *w, uint64_t ino)
{
	struct xfs_inode *d = malloc(sizeof(*d));
	struct dt_err err = { 0 };

	if (d == NULL)
		return;
	if (xfs_inode_read(w->x, ino, d, &err) == 0 && (d->mode & 0170000) == 0040000) {
		w->depth++;
		if (xfs_dir_read(w->x, d, name_cb, w, &err) < 0) {
			/* damaged: the names before it were walked; only crashes count here */
		}
		w->depth--;
	}
	free(d);
}

static int
name_cb(void *ctx, const char *name, size_t len, uint64_t ino, uint8_t ftype, int deleted)
{
	struct walk *w = ctx;
	struct dt_err err = { 0 };
	struct xfs_run *runs = NULL;
	size_t n = 0, llen;

	(void)ftype;
	if (len == 0 || memchr(name, '/', len) != NULL)
		__builtin_trap();
	if (++w->visits > MAX_VISITS)
		return 1;
	if (deleted) {
		(void)xfs_inode_read_free(w->x, ino, &w->ip, &err);
		return 0;
	}
	if (xfs_inode_read(w->x, ino, &w->ip, &err) < 0)
		return 0;
	switch (w->ip.mode & 0170000) {
	case 0100000:
		if (xfs_file_runs(w->x, &w->ip, w->ip.size, 1u << 16, &runs, &n, &err) == 0) {
			uint64_t total = 0;
			for (size_t i = 0; i < n; i++) {
				if (runs[i].lo != total)
					__builtin_trap();
				total += runs[i].len;
			}
			if (total != w->ip.size)
				__builtin_trap();
		}
		free(runs);
		break;
	case 0120000:
		if (xfs_readlink(w->x, &w->ip, w->link, &llen, &err) == 0 && llen > XFS_MAX_LINK)
			__builtin_trap();
		break;
	case 0040000:
		if (w->depth < 8)
			walk_dir(w, ino);
		break;
	default: break;
	}
	return 0;
}

/* Inodes come in increasing order, each one a real inode number. */
static int
inode_cb(void *ctx, uint64_t ino)
{
	struct walk *w = ctx;
	struct dt_err err = { 0 };

	if (w->visits > 0 && ino <= w->last)
		__builtin_trap();
	w->last = ino;
	if (++w->visits > MAX_VISITS)
		return 1;
	(void)xfs_inode_read(w->x, ino, &w->ip, &err);
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct image im = { data, size / (4 + SECT) };
	struct dt_err err = { 0 };
	struct walk *w;

	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return 0;
	if (xfs_open(img_read, &im, IMAGE_SIZE, &w->x, &err) == 0) {
		for (uint32_t agno = 0; agno < xfs_ag_count(w->x); agno++)
			(void)xfs_agf_check(w->x, agno, &err);
		walk_dir(w, xfs_root(w->x));
		w->visits = 0;
		(void)xfs_inodes(w->x, inode_cb, w, &err);
		xfs_free(w->x);
	}
	free(w);
	return 0;
}
