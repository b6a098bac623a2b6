/*
 * xfs.c - read-only XFS v5 reader. See xfs.h for the shape.
 *
 * Everything on disk is big-endian except the CRC32c fields, which are little-endian.
 * Block numbers in extents and btree pointers are "fsblock" numbers, AG number in the high
 * bits above sb_agblklog; they are mapped to byte offsets through the AG size, and every
 * one is checked to lie inside the filesystem before it is read. Every metadata block is
 * verified (magic, CRC, the block's own address, its owner inode, the filesystem's UUID)
 * before a field of it is trusted.
 */
#include "xfs.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"

#include "banned.h"

#define SB_MAGIC    0x58465342u /* XFSB */
#define BMAP_MAGIC  0x424d4133u /* BMA3 */
#define DIR_BLOCK   0x58444233u /* XDB3: a single-block directory */
#define DIR_DATA    0x58444433u /* XDD3: a data block of a bigger directory */
#define SYMLINK_MAG 0x58534c4du /* XSLM */
#define AGF_MAGIC   0x58414746u /* XAGF */
#define AGI_MAGIC   0x58414749u /* XAGI */
#define IBT_MAGIC   0x49414233u /* IAB3: inode btree block with CRC */
#define INODE_MAGIC 0x494e      /* IN */

#define INCOMPAT_FTYPE       (1u << 0)
#define INCOMPAT_SPINODES    (1u << 1)
#define INCOMPAT_META_UUID   (1u << 2)
#define INCOMPAT_BIGTIME     (1u << 3)
#define INCOMPAT_NEEDSREPAIR (1u << 4)
#define INCOMPAT_NREXT64     (1u << 5)
#define INCOMPAT_EXCHRANGE   (1u << 6)
#define INCOMPAT_PARENT      (1u << 7)
#define INCOMPAT_KNOWN                                                                \
	(INCOMPAT_FTYPE | INCOMPAT_SPINODES | INCOMPAT_META_UUID | INCOMPAT_BIGTIME | \
	 INCOMPAT_NREXT64 | INCOMPAT_EXCHRANGE | INCOMPAT_PARENT)

#define DIFLAG_REALTIME  (1u << 0)
#define DIFLAG2_BIGTIME  (1ull << 3)
#define DIFLAG2_NREXT64  (1ull << 4)
#define DINODE_CORE_SIZE 176 /* v3 */
#define BMBT_HDR         72  /* long-format btree block header with CRC */
#define DIR_HDR          64  /* xfs_dir3_data_hdr */
#define SYMLINK_HDR      56
#define BMBT_MAX_LEVELS  10
#define SBT_HDR          56 /* short-format btree block header with CRC (inode btree) */
#define IBT_MAX_LEVELS   9  /* XFS_BTREE_MAXLEVELS */
#define INODES_PER_CHUNK 64
#define AGF_UUID         64
#define AGF_CRC          216
#define AGI_UUID         296
#define AGI_CRC          312
#define AGFL_HDR         36 /* xfs_agfl with CRC: the AGFL's free list follows it */
#define NMETA_INO        5
#define MAX_EXTENTS      (1u << 21)
#define DIR_BAD_BLOCKS   16           /* damaged directory blocks before a directory is given up */
#define BIGTIME_BIAS     2147483648LL /* seconds from 1901-12-13T20:45:52Z to the epoch */

enum { FMT_DEV, FMT_LOCAL, FMT_EXTENTS, FMT_BTREE };

struct xfs {
	xfs_read_fn read;
	void *ctx;
	uint32_t bs, sectsize, isize, agblocks, agcount, dirbs;
	uint8_t blocklog, inopblog, agblklog, dirblklog;
	uint64_t dblocks, rootino;
	uint32_t incompat;
	unsigned char uuid[16];       /* the one metadata blocks carry (sb_meta_uuid if set) */
	uint64_t meta_ino[NMETA_INO]; /* quota and realtime inodes: no names, not files */
	int ino32;                    /* every inode number fits in 32 bits */
};

struct extent {
	uint64_t lblk, fsb, count;
	int unwritten;
};

/* ---- bytes ---- */

static uint16_t
be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t
be64(const unsigned char *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static uint32_t crc_table[8][256];

static void
crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* CRC32c of p with the four bytes at crc_off taken as zeros, as XFS computes it. */
static uint32_t
crc32c(const unsigned char *p, size_t n, size_t crc_off)
{
	static const unsigned char zero[4];
	uint32_t c = 0xffffffffu;
	size_t i = 0;

	while (i < n) {
		if (i == crc_off) {
			for (int k = 0; k < 4; k++)
				c = crc_table[0][(c ^ zero[k]) & 0xff] ^ (c >> 8);
			i += 4;
			continue;
		}
		if (i + 8 <= n && (i + 8 <= crc_off || i >= crc_off + 4)) {
			uint32_t lo = c ^ ((uint32_t)p[i] | (uint32_t)p[i + 1] << 8 |
					   (uint32_t)p[i + 2] << 16 | (uint32_t)p[i + 3] << 24);
			c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
			    crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
			    crc_table[3][p[i + 4]] ^ crc_table[2][p[i + 5]] ^
			    crc_table[1][p[i + 6]] ^ crc_table[0][p[i + 7]];
			i += 8;
			continue;
		}
		c = crc_table[0][(c ^ p[i]) & 0xff] ^ (c >> 8);
		i++;
	}
	return ~c;
}

static int
crc_ok(const unsigned char *p, size_t n, size_t crc_off)
{
	uint32_t want = (uint32_t)p[crc_off] | (uint32_t)p[crc_off + 1] << 8 |
			(uint32_t)p[crc_off + 2] << 16 | (uint32_t)p[crc_off + 3] << 24;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
	/* Fuzz builds only: a CRC would stop every mutation at the door. */
	return crc32c(p, n, crc_off) == want || 1;
#else
	return crc32c(p, n, crc_off) == want;
#endif
}

/* ---- reads and addresses ---- */

static int
read_at(struct xfs *x, uint64_t off, void *buf, size_t len, struct dt_err *err)
{
	ssize_t n = x->read(x->ctx, off, buf, len, err);

	if (n < 0)
		return -1;
	if ((size_t)n < len)
		return dt_fail(err, DT_EIO, "the image ends at byte %llu of the XFS filesystem",
			       (unsigned long long)off + (unsigned long long)n);
	return 0;
}

/* Byte offset of count blocks from fsblock fsb, or -1 when any of them is outside the
 * filesystem (or crosses the end of its AG, which no extent may). */
static int
fsb_offset(const struct xfs *x, uint64_t fsb, uint64_t count, uint64_t *off)
{
	uint64_t agno = fsb >> x->agblklog, agbno = fsb & (((uint64_t)1 << x->agblklog) - 1);
	uint64_t blk;

	if (agno >= x->agcount || agbno >= x->agblocks || count > x->agblocks - agbno)
		return -1;
	blk = agno * x->agblocks + agbno;
	if (blk >= x->dblocks || count > x->dblocks - blk)
		return -1;
	*off = blk << x->blocklog;
	return 0;
}

uint64_t
xfs_root(const struct xfs *x)
{
	return x->rootino;
}

uint32_t
xfs_block_size(const struct xfs *x)
{
	return x->bs;
}

uint64_t
xfs_size(const struct xfs *x)
{
	return x->dblocks << x->blocklog;
}

int
xfs_probe(const void *buf, size_t len)
{
	return len >= 4 && be32(buf) == SB_MAGIC;
}

void
xfs_free(struct xfs *x)
{
	free(x);
}

/* ---- superblock ---- */

static int
log2_exact(uint64_t v, unsigned lo, unsigned hi, uint8_t log)
{
	return log >= lo && log <= hi && v == (uint64_t)1 << log;
}

int
xfs_open(xfs_read_fn read, void *ctx, uint64_t size, struct xfs **out, struct dt_err *err)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	unsigned char sb[512], *sect = NULL;
	struct xfs *x;
	uint16_t version;
	uint32_t ro_compat;
	uint64_t rblocks;
	int ret = -1;

	*out = NULL;
	pthread_once(&once, crc_init);
	if (read_at(&(struct xfs){ .read = read, .ctx = ctx }, 0, sb, sizeof(sb), err) < 0)
		return -1;
	if (be32(sb) != SB_MAGIC)
		return dt_fail(err, DT_EFORMAT, "no XFS superblock");
	version = be16(sb + 100);
	if ((version & 0xf) < 5)
		return dt_fail(err, DT_EVERSION,
			       "XFS v%u (without metadata CRCs) is not supported; only v5, the "
			       "default since xfsprogs 3.2.3",
			       version & 0xf);
	if ((version & 0xf) != 5)
		return dt_fail(err, DT_EVERSION, "unknown XFS version %u", version & 0xf);
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	x->read = read;
	x->ctx = ctx;
	x->bs = be32(sb + 4);
	x->dblocks = be64(sb + 8);
	rblocks = be64(sb + 16);
	x->rootino = be64(sb + 56);
	x->agblocks = be32(sb + 84);
	x->agcount = be32(sb + 88);
	x->sectsize = be16(sb + 102);
	x->isize = be16(sb + 104);
	x->blocklog = sb[120];
	x->inopblog = sb[123];
	x->agblklog = sb[124];
	x->dirblklog = sb[192];
	ro_compat = be32(sb + 212);
	x->incompat = be32(sb + 216);
	memcpy(x->uuid, (x->incompat & INCOMPAT_META_UUID) ? sb + 248 : sb + 32, 16);
	/* sb_rbmino, sb_rsumino, sb_uquotino, sb_gquotino, sb_pquotino */
	x->meta_ino[0] = be64(sb + 64);
	x->meta_ino[1] = be64(sb + 72);
	x->meta_ino[2] = be64(sb + 160);
	x->meta_ino[3] = be64(sb + 168);
	x->meta_ino[4] = be64(sb + 232);
	(void)ro_compat; /* read-only compatible features change nothing for a reader */
	if (!log2_exact(x->bs, 9, 16, x->blocklog) || !log2_exact(x->sectsize, 9, 15, sb[121]) ||
	    x->sectsize > x->bs || !log2_exact(x->isize, 8, 11, sb[122]) || x->isize > x->bs ||
	    x->inopblog != x->blocklog - sb[122] || be16(sb + 106) != x->bs / x->isize ||
	    x->agblocks < 16 || x->agcount == 0 || x->agblklog > 31 ||
	    ((uint64_t)1 << x->agblklog) < x->agblocks ||
	    (x->agblklog > 0 && ((uint64_t)1 << (x->agblklog - 1)) >= x->agblocks) ||
	    x->blocklog + x->dirblklog > 16 || x->dblocks == 0 ||
	    x->dblocks > (uint64_t)x->agcount * x->agblocks ||
	    x->dblocks <= (uint64_t)(x->agcount - 1) * x->agblocks) {
		dt_fail(err, DT_EFORMAT, "damaged XFS superblock (inconsistent geometry)");
		goto out;
	}
	/* The CRC covers the whole first sector. */
	sect = malloc(x->sectsize);
	if (sect == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	if (read_at(x, 0, sect, x->sectsize, err) < 0)
		goto out;
	if (!crc_ok(sect, x->sectsize, 224)) {
		dt_fail(err, DT_EFORMAT, "XFS superblock CRC mismatch (damaged superblock)");
		goto out;
	}
	if (x->incompat & INCOMPAT_NEEDSREPAIR) {
		dt_fail(err, DT_EFORMAT,
			"XFS filesystem needs repair (xfs_repair was interrupted); not read");
		goto out;
	}
	if (x->incompat & ~INCOMPAT_KNOWN) {
		dt_fail(err, DT_EVERSION, "XFS filesystem has unknown incompatible features 0x%x",
			x->incompat & ~INCOMPAT_KNOWN);
		goto out;
	}
	if (rblocks != 0) {
		dt_fail(err, DT_EFORMAT, "XFS filesystem with a realtime device is not supported");
		goto out;
	}
	if (size && (x->dblocks << x->blocklog) > size) {
		dt_fail(err, DT_EFORMAT,
			"XFS filesystem of %llu bytes in %llu bytes (truncated image?)",
			(unsigned long long)(x->dblocks << x->blocklog), (unsigned long long)size);
		goto out;
	}
	x->dirbs = x->bs << x->dirblklog;
	x->ino32 = ((uint64_t)x->agcount << (x->agblklog + x->inopblog)) <= ((uint64_t)1 << 32);
	*out = x;
	x = NULL;
	ret = 0;
out:
	free(sect);
	free(x);
	return ret;
}

/* ---- inodes ---- */

/* bigtime: u64 ns since 1901-12-13T20:45:52Z (to 2486-07-02); else s32 seconds, u32 ns. */
static struct xfs_time
decode_time(const unsigned char *p, int bigtime)
{
	struct xfs_time t;

	if (bigtime) {
		uint64_t v = be64(p);
		t.s = (int64_t)(v / 1000000000u) - BIGTIME_BIAS;
		t.ns = (uint32_t)(v % 1000000000u);
		return t;
	}
	t.s = (int32_t)be32(p);
	t.ns = be32(p + 4);
	return t;
}

static size_t
dfork_size(const struct xfs *x, const struct xfs_inode *ip)
{
	uint8_t forkoff = ip->raw[82];

	return forkoff ? (size_t)forkoff * 8 : x->isize - DINODE_CORE_SIZE;
}

/*
 * The byte offset of inode ino into *off; -1 when ino is not inside the filesystem (an AG
 * that exists, a block of it below the end).
 */
static int
ino_offset(const struct xfs *x, uint64_t ino, uint64_t *off)
{
	unsigned shift = x->inopblog + x->agblklog;
	uint64_t agno = ino >> shift, agino = ino & (((uint64_t)1 << shift) - 1);
	uint64_t fsb;

	if (fsb_offset(x, agno << x->agblklog | agino >> x->inopblog, 1, &fsb) < 0)
		return -1;
	*off = fsb + (agino & (((uint64_t)1 << x->inopblog) - 1)) * x->isize;
	return 0;
}

/* 1: free inode (when free_ok), 0: in use, -1: damaged (err filled). */
static int
inode_read(struct xfs *x, uint64_t ino, struct xfs_inode *ip, int free_ok, struct dt_err *err)
{
	uint64_t off;
	const unsigned char *r = ip->raw;
	uint64_t flags2;
	int bigtime;
	uint8_t forkoff;

	memset(ip, 0, offsetof(struct xfs_inode, raw));
	ip->ino = ino;
	if (ino_offset(x, ino, &off) < 0)
		return dt_fail(err, DT_EFORMAT, "inode number %llu is outside the filesystem",
			       (unsigned long long)ino);
	if (read_at(x, off, ip->raw, x->isize, err) < 0)
		return -1;
	if (be16(r) != INODE_MAGIC || r[4] != 3)
		return dt_fail(err, DT_EFORMAT, "inode %llu: bad magic or version (not an inode)",
			       (unsigned long long)ino);
	if (!crc_ok(r, x->isize, 100))
		return dt_fail(err, DT_EFORMAT, "inode %llu: CRC mismatch (damaged inode)",
			       (unsigned long long)ino);
	if (be64(r + 152) != ino || memcmp(r + 160, x->uuid, 16) != 0)
		return dt_fail(err, DT_EFORMAT, "inode %llu: records another inode's number",
			       (unsigned long long)ino);
	ip->mode = be16(r + 2);
	ip->format = r[5];
	ip->uid = be32(r + 8);
	ip->gid = be32(r + 12);
	ip->nlink = be32(r + 16);
	ip->projid = (uint32_t)be16(r + 22) << 16 | be16(r + 20);
	flags2 = be64(r + 120);
	bigtime = (flags2 & DIFLAG2_BIGTIME) != 0;
	ip->atime = decode_time(r + 32, bigtime);
	ip->mtime = decode_time(r + 40, bigtime);
	ip->ctime = decode_time(r + 48, bigtime);
	ip->crtime = decode_time(r + 144, bigtime);
	ip->size = be64(r + 56);
	ip->nblocks = be64(r + 64);
	ip->nextents = (flags2 & DIFLAG2_NREXT64) ? be64(r + 24) : be32(r + 76);
	ip->gen = be32(r + 92);
	forkoff = r[82];
	if (ip->mode == 0) {
		if (free_ok) {
			ip->size = ip->nblocks = ip->nextents = 0;
			return 1;
		}
		return dt_fail(err, DT_EFORMAT, "inode %llu is free", (unsigned long long)ino);
	}
	if ((uint64_t)forkoff * 8 >= x->isize - DINODE_CORE_SIZE)
		return dt_fail(err, DT_EFORMAT, "inode %llu: attribute fork offset out of range",
			       (unsigned long long)ino);
	if (ip->size > (uint64_t)INT64_MAX)
		return dt_fail(err, DT_EFORMAT, "inode %llu: negative size",
			       (unsigned long long)ino);
	if (be16(r + 90) & DIFLAG_REALTIME)
		return dt_fail(err, DT_EFORMAT,
			       "inode %llu: data on a realtime device (not supported)",
			       (unsigned long long)ino);
	switch (ip->mode & S_IFMT) {
	case S_IFCHR:
	case S_IFBLK:
	case S_IFIFO:
	case S_IFSOCK:
		if (ip->format != FMT_DEV)
			return dt_fail(err, DT_EFORMAT, "inode %llu: special file of format %u",
				       (unsigned long long)ino, ip->format);
		ip->rdev = be32(r + DINODE_CORE_SIZE);
		ip->size = 0;
		break;
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
		if (ip->format < FMT_LOCAL || ip->format > FMT_BTREE ||
		    (ip->format == FMT_LOCAL && ip->size > dfork_size(x, ip)))
			return dt_fail(err, DT_EFORMAT, "inode %llu: bad data fork (format %u)",
				       (unsigned long long)ino, ip->format);
		break;
	default:
		return dt_fail(err, DT_EFORMAT, "inode %llu: unknown file type (mode 0%o)",
			       (unsigned long long)ino, ip->mode);
	}
	return 0;
}

int
xfs_inode_read(struct xfs *x, uint64_t ino, struct xfs_inode *ip, struct dt_err *err)
{
	return inode_read(x, ino, ip, 0, err);
}

int
xfs_inode_read_free(struct xfs *x, uint64_t ino, struct xfs_inode *ip, struct dt_err *err)
{
	return inode_read(x, ino, ip, 1, err);
}

/* ---- extent maps ---- */

struct extents {
	struct extent *v;
	size_t n, cap;
	uint64_t next_lblk; /* extents come in increasing logical order: a loop cannot */
	uint64_t blocks;    /* btree blocks read */
	const struct xfs_inode *ip;
};

static int
ext_add(struct xfs *x, struct extents *e, const unsigned char *rec, struct dt_err *err)
{
	uint64_t l0 = be64(rec), l1 = be64(rec + 8);
	struct extent ex;
	uint64_t off;

	ex.unwritten = (int)(l0 >> 63);
	ex.lblk = (l0 & 0x7fffffffffffffffull) >> 9;
	ex.fsb = (l0 & 0x1ff) << 43 | l1 >> 21;
	ex.count = l1 & 0x1fffff;
	if (ex.count == 0 || ex.lblk < e->next_lblk || fsb_offset(x, ex.fsb, ex.count, &off) < 0)
		return dt_fail(err, DT_EFORMAT,
			       "inode %llu: bad extent (logical block %llu, %llu blocks at %llu)",
			       (unsigned long long)e->ip->ino, (unsigned long long)ex.lblk,
			       (unsigned long long)ex.count, (unsigned long long)ex.fsb);
	if (e->n >= MAX_EXTENTS)
		return dt_fail(err, DT_ENOMEM, "inode %llu: more than %u extents",
			       (unsigned long long)e->ip->ino, MAX_EXTENTS);
	if (BUF_GROW(e->v, e->n + 1, e->cap, err) < 0)
		return -1;
	e->v[e->n++] = ex;
	e->next_lblk = ex.lblk + ex.count;
	return 0;
}

/* Read and verify one bmap btree block of inode ip, expected at level. */
static int bt_block(struct xfs *x, struct extents *e, uint64_t fsb, unsigned level, int depth,
		    unsigned char *blk, struct dt_err *err);

static int
bt_ptrs(struct xfs *x, struct extents *e, const unsigned char *keys, const unsigned char *ptrs,
	unsigned n, unsigned level, int depth, struct dt_err *err)
{
	unsigned char *blk = malloc(x->bs);
	int rc = 0;

	(void)keys;
	if (blk == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	for (unsigned i = 0; i < n && rc == 0; i++)
		rc = bt_block(x, e, be64(ptrs + (size_t)i * 8), level - 1, depth + 1, blk, err);
	free(blk);
	return rc;
}

static int
bt_block(struct xfs *x, struct extents *e, uint64_t fsb, unsigned level, int depth,
	 unsigned char *blk, struct dt_err *err)
{
	unsigned long long ino = (unsigned long long)e->ip->ino;
	unsigned maxrecs = (x->bs - BMBT_HDR) / 16, n;
	uint64_t off;

	if (depth > BMBT_MAX_LEVELS)
		return dt_fail(err, DT_EFORMAT, "inode %llu: extent btree too deep", ino);
	/* Each block is read once in a sound tree: more than the inode owns is a loop. */
	if (++e->blocks > e->ip->nblocks + 1)
		return dt_fail(err, DT_EFORMAT, "inode %llu: extent btree loops", ino);
	if (fsb_offset(x, fsb, 1, &off) < 0)
		return dt_fail(err, DT_EFORMAT,
			       "inode %llu: extent btree block %llu outside the filesystem", ino,
			       (unsigned long long)fsb);
	if (read_at(x, off, blk, x->bs, err) < 0)
		return -1;
	if (be32(blk) != BMAP_MAGIC || !crc_ok(blk, x->bs, 64) || be64(blk + 24) != off >> 9 ||
	    be64(blk + 56) != e->ip->ino || memcmp(blk + 40, x->uuid, 16) != 0)
		return dt_fail(err, DT_EFORMAT,
			       "inode %llu: damaged extent btree block %llu (magic, CRC or owner)",
			       ino, (unsigned long long)fsb);
	n = be16(blk + 6);
	if (be16(blk + 4) != level || n == 0 || n > maxrecs)
		return dt_fail(err, DT_EFORMAT,
			       "inode %llu: extent btree block %llu: bad level or record count",
			       ino, (unsigned long long)fsb);
	if (level == 0) {
		for (unsigned i = 0; i < n; i++)
			if (ext_add(x, e, blk + BMBT_HDR + (size_t)i * 16, err) < 0)
				return -1;
		return 0;
	}
	/* The block is reused below: copy the pointers first. */
	{
		unsigned char *ptrs = malloc((size_t)n * 8);
		int rc;
		if (ptrs == NULL)
			return dt_fail(err, DT_ENOMEM, "out of memory");
		memcpy(ptrs, blk + BMBT_HDR + (size_t)maxrecs * 8, (size_t)n * 8);
		rc = bt_ptrs(x, e, NULL, ptrs, n, level, depth, err);
		free(ptrs);
		return rc;
	}
}

/* Every extent of the data fork of ip, in logical order. *out new (free()). */
static int
data_extents(struct xfs *x, const struct xfs_inode *ip, struct extent **out, size_t *n,
	     struct dt_err *err)
{
	const unsigned char *fork = ip->raw + DINODE_CORE_SIZE;
	size_t fsize = dfork_size(x, ip);
	struct extents e;
	int rc = 0;

	*out = NULL;
	*n = 0;
	memset(&e, 0, sizeof(e));
	e.ip = ip;
	if (ip->format == FMT_EXTENTS) {
		if (ip->nextents > fsize / 16)
			return dt_fail(err, DT_EFORMAT, "inode %llu: %llu extents do not fit",
				       (unsigned long long)ip->ino,
				       (unsigned long long)ip->nextents);
		for (size_t i = 0; i < ip->nextents && rc == 0; i++)
			rc = ext_add(x, &e, fork + i * 16, err);
	} else if (ip->format == FMT_BTREE) {
		unsigned level = be16(fork), nrecs = be16(fork + 2);
		unsigned maxrecs = (unsigned)((fsize - 4) / 16);

		if (level == 0 || level > BMBT_MAX_LEVELS || nrecs == 0 || nrecs > maxrecs)
			rc = dt_fail(err, DT_EFORMAT, "inode %llu: bad extent btree root",
				     (unsigned long long)ip->ino);
		else
			rc = bt_ptrs(x, &e, fork + 4, fork + 4 + (size_t)maxrecs * 8, nrecs, level,
				     0, err);
	} else {
		return dt_fail(err, DT_EFORMAT, "inode %llu: data fork of format %u has no extents",
			       (unsigned long long)ip->ino, ip->format);
	}
	if (rc < 0) {
		free(e.v);
		return -1;
	}
	*out = e.v;
	*n = e.n;
	return 0;
}

/* ---- regular files ---- */

static int
run_add(struct xfs_run **v, size_t *n, size_t *cap, size_t max, uint64_t lo, uint64_t off,
	uint64_t len, struct dt_err *err)
{
	if (*n > 0) {
		struct xfs_run *last = &(*v)[*n - 1];
		if ((off == XFS_SPARSE && last->off == XFS_SPARSE) ||
		    (off != XFS_SPARSE && last->off != XFS_SPARSE &&
		     last->off + last->len == off)) {
			last->len += len;
			return 0;
		}
	}
	if (*n >= max)
		return dt_fail(err, DT_EFORMAT, "more than %zu runs", max);
	if (BUF_GROW(*v, *n + 1, *cap, err) < 0)
		return -1;
	(*v)[*n].lo = lo;
	(*v)[*n].off = off;
	(*v)[*n].len = len;
	(*n)++;
	return 0;
}

int
xfs_file_runs(struct xfs *x, const struct xfs_inode *f, uint64_t size, size_t max_runs,
	      struct xfs_run **runs, size_t *nruns, struct dt_err *err)
{
	struct extent *ext = NULL;
	struct xfs_run *v = NULL;
	size_t next = 0, n = 0, cap = 0;
	uint64_t pos = 0;
	int rc = -1;

	*runs = NULL;
	*nruns = 0;
	if (size == 0)
		return 0;
	if (f->format != FMT_EXTENTS && f->format != FMT_BTREE)
		return dt_fail(err, DT_EFORMAT, "inode %llu: file data of format %u not supported",
			       (unsigned long long)f->ino, f->format);
	if (data_extents(x, f, &ext, &next, err) < 0)
		return -1;
	for (size_t i = 0; i < next && pos < size; i++) {
		uint64_t lo, len, off;

		/* Logical blocks past 2^54 shifted by the block size stay below 2^70: clip. */
		if (ext[i].lblk > (UINT64_MAX >> x->blocklog))
			break;
		lo = ext[i].lblk << x->blocklog;
		if (lo >= size)
			break; /* preallocated past the end of the file */
		if (lo > pos && run_add(&v, &n, &cap, max_runs, pos, XFS_SPARSE, lo - pos, err) < 0)
			goto out;
		len = ext[i].count << x->blocklog;
		if (len > size - lo)
			len = size - lo;
		if (fsb_offset(x, ext[i].fsb, ext[i].count, &off) < 0) {
			dt_fail(err, DT_EFORMAT, "inode %llu: extent outside the filesystem",
				(unsigned long long)f->ino);
			goto out;
		}
		/* Unwritten (preallocated) extents read as zeros. */
		if (run_add(&v, &n, &cap, max_runs, lo, ext[i].unwritten ? XFS_SPARSE : off, len,
			    err) < 0)
			goto out;
		pos = lo + len;
	}
	if (pos < size && run_add(&v, &n, &cap, max_runs, pos, XFS_SPARSE, size - pos, err) < 0)
		goto out;
	*runs = v;
	*nruns = n;
	v = NULL;
	rc = 0;
out:
	free(v);
	free(ext);
	return rc;
}

/* ---- symlinks ---- */

int
xfs_readlink(struct xfs *x, const struct xfs_inode *ln, char *buf, size_t *len, struct dt_err *err)
{
	unsigned long long ino = (unsigned long long)ln->ino;
	struct extent *ext = NULL;
	size_t next = 0, done = 0;
	unsigned char *blk = NULL;
	int rc = -1;

	*len = 0;
	buf[0] = '\0';
	if (ln->size == 0 || ln->size > XFS_MAX_LINK)
		return dt_fail(err, DT_EFORMAT, "inode %llu: symlink of %llu bytes", ino,
			       (unsigned long long)ln->size);
	if (ln->format == FMT_LOCAL) {
		memcpy(buf, ln->raw + DINODE_CORE_SIZE, ln->size);
		buf[ln->size] = '\0';
		*len = ln->size;
		return 0;
	}
	if (data_extents(x, ln, &ext, &next, err) < 0)
		return -1;
	/* Remote targets: each extent is one buffer with one header saying which bytes of
	 * the target it holds (a target is at most 1 KiB: one or two blocks). */
	blk = malloc(2 * (size_t)x->bs + XFS_MAX_LINK);
	if (blk == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < next && done < ln->size; i++) {
		size_t blen = (size_t)ext[i].count << x->blocklog;
		uint64_t off;
		uint32_t boff, bytes;

		if (ext[i].count > 2 + XFS_MAX_LINK / x->bs ||
		    fsb_offset(x, ext[i].fsb, ext[i].count, &off) < 0) {
			dt_fail(err, DT_EFORMAT, "inode %llu: bad symlink extent", ino);
			goto out;
		}
		if (read_at(x, off, blk, blen, err) < 0)
			goto out;
		boff = be32(blk + 4);
		bytes = be32(blk + 8);
		if (be32(blk) != SYMLINK_MAG || !crc_ok(blk, blen, 12) ||
		    be64(blk + 32) != ln->ino || be64(blk + 40) != off >> 9 ||
		    memcmp(blk + 16, x->uuid, 16) != 0 || boff != done ||
		    bytes > blen - SYMLINK_HDR || bytes > ln->size - done) {
			dt_fail(err, DT_EFORMAT,
				"inode %llu: damaged symlink block (magic, CRC or owner)", ino);
			goto out;
		}
		memcpy(buf + done, blk + SYMLINK_HDR, bytes);
		done += bytes;
	}
	if (done != ln->size) {
		dt_fail(err, DT_EFORMAT, "inode %llu: symlink target incomplete", ino);
		goto out;
	}
	buf[done] = '\0';
	*len = done;
	rc = 0;
out:
	free(blk);
	free(ext);
	return rc;
}

/* ---- directories ---- */

/* 1 when a name can be a directory entry's: no '/' or NUL in it (the kernel's
 * xfs_dir2_namecheck; it fails a readdir on any other as corruption). */
static int
name_ok(const char *name, size_t len)
{
	return len > 0 && memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL;
}

static int
dir_short(struct xfs *x, const struct xfs_inode *d, xfs_dir_fn cb, void *ctx, struct dt_err *err)
{
	const unsigned char *p = d->raw + DINODE_CORE_SIZE, *end = p + d->size;
	unsigned count, i8, isz, ft = (x->incompat & INCOMPAT_FTYPE) ? 1 : 0;
	unsigned long long ino = (unsigned long long)d->ino;
	int badname = 0;

	if (d->size < 6)
		return dt_fail(err, DT_EFORMAT, "directory inode %llu: short form too small", ino);
	count = p[0];
	i8 = p[1];
	isz = i8 ? 8 : 4;
	p += 2 + isz; /* the parent */
	if (p > end)
		return dt_fail(err, DT_EFORMAT, "directory inode %llu: short form too small", ino);
	for (unsigned k = 0; k < (count ? count : i8); k++) {
		unsigned nl;
		uint64_t child;
		int r;

		if (p + 3 > end || (nl = p[0]) == 0 || p + 3 + nl + ft + isz > end)
			return dt_fail(err, DT_EFORMAT,
				       "directory inode %llu: short form entry %u out of bounds",
				       ino, k);
		child = isz == 8 ? be64(p + 3 + nl + ft) : be32(p + 3 + nl + ft);
		if (!name_ok((const char *)p + 3, nl)) {
			badname = dt_fail(err, DT_EFORMAT,
					  "directory inode %llu: short form entry %u has a name "
					  "with '/' or NUL (not given)",
					  ino, k);
		} else {
			r = cb(ctx, (const char *)p + 3, nl, child, ft ? p[3 + nl] : 0, 0);
			if (r != 0)
				return r;
		}
		p += 3 + nl + ft + isz;
	}
	return badname;
}

/* 1 when ino can be an inode of x: the rule xfs_inode_read() applies. */
static int
ino_valid(const struct xfs *x, uint64_t ino)
{
	uint64_t off;

	return ino != 0 && ino_offset(x, ino, &off) == 0;
}

/*
 * The names of removed entries left in the free region [off, off + len) of a verified
 * directory block. Removing an entry writes a free-space header (0xffff and a length) over
 * the first four bytes of its inode number (the high half, 0 while every inode number fits
 * in 32 bits) unless it joins a free region before it, and the start of the free region as
 * a tag in the last two bytes of the region; the rest of the entry stays. So each 8-byte
 * aligned place is tried as an entry: a name without '/' or NUL, a known file type, an
 * inode number inside the filesystem, and a tag that says the entry's own offset or that of
 * a free region it was once the end of (between off and the entry).
 */
static int
dir_free_names(struct xfs *x, const unsigned char *blk, size_t off, size_t len, xfs_dir_fn cb,
	       void *ctx)
{
	unsigned ft = (x->incompat & INCOMPAT_FTYPE) ? 1 : 0;
	size_t end = off + len, p = off;

	while (p + 16 <= end) {
		unsigned nl = blk[p + 8];
		size_t elen = (8 + 1 + nl + ft + 2 + 7) & ~(size_t)7;
		const char *name = (const char *)blk + p + 9;
		int hdr = p == off || be16(blk + p) == 0xffff; /* a free-space header on it */
		uint64_t ino = hdr ? (x->ino32 ? be32(blk + p + 4) : 0) : be64(blk + p);
		uint16_t tag;
		uint8_t ftype = 0;
		int ok;

		/* The name, its file type and tag are read only once they are known to fit. */
		ok = nl > 0 && elen <= end - p;
		if (ok && ft)
			ftype = blk[p + 9 + nl];
		ok = ok && (!ft || (ftype >= 1 && ftype <= 7)) &&
		     (ino == 0 ? hdr && !x->ino32 : ino_valid(x, ino)) && name_ok(name, nl) &&
		     !((nl == 1 && name[0] == '.') ||
		       (nl == 2 && name[0] == '.' && name[1] == '.'));
		if (ok) {
			tag = be16(blk + p + elen - 2);
			ok = tag >= off && tag <= p && tag % 8 == 0;
		}
		if (!ok) {
			p += 8;
			continue;
		}
		int r = cb(ctx, name, nl, ino, ftype, 1);
		if (r != 0)
			return r;
		p += elen;
	}
	return 0;
}

/* The entries of one verified directory data block (entries from DIR_HDR to end). */
static int
dir_entries(struct xfs *x, const struct xfs_inode *d, const unsigned char *blk, size_t end,
	    uint64_t lblk, xfs_dir_fn cb, void *ctx, struct dt_err *err)
{
	unsigned ft = (x->incompat & INCOMPAT_FTYPE) ? 1 : 0;
	size_t off = DIR_HDR;
	int badname = 0;

	while (off + 8 <= end) {
		size_t len;

		if (be16(blk + off) == 0xffff) {
			len = be16(blk + off + 2);
			if (len < 8 || len % 8 || len > end - off)
				break;
			int r = dir_free_names(x, blk, off, len, cb, ctx);
			if (r != 0)
				return r;
			off += len;
			continue;
		}
		if (off + 11 > end)
			break;
		unsigned nl = blk[off + 8];
		len = (8 + 1 + nl + ft + 2 + 7) & ~(size_t)7;
		if (nl == 0 || len > end - off || be16(blk + off + len - 2) != (uint16_t)off)
			return dt_fail(err, DT_EFORMAT,
				       "directory inode %llu: bad entry at byte %zu of block %llu",
				       (unsigned long long)d->ino, off, (unsigned long long)lblk);
		const char *name = (const char *)blk + off + 9;
		if (!name_ok(name, nl)) {
			badname =
				dt_fail(err, DT_EFORMAT,
					"directory inode %llu: the entry at byte %zu of block %llu "
					"has a name with '/' or NUL (not given)",
					(unsigned long long)d->ino, off, (unsigned long long)lblk);
		} else if (!((nl == 1 && name[0] == '.') ||
			     (nl == 2 && name[0] == '.' && name[1] == '.'))) {
			int r = cb(ctx, name, nl, be64(blk + off), ft ? blk[off + 9 + nl] : 0, 0);
			if (r != 0)
				return r;
		}
		off += len;
	}
	if (off != end)
		return dt_fail(err, DT_EFORMAT,
			       "directory inode %llu: entries of block %llu do not add up",
			       (unsigned long long)d->ino, (unsigned long long)lblk);
	return badname;
}

/* Read the directory block at logical fsblock lblk, possibly spread over several extents. */
static int
dir_block(struct xfs *x, const struct xfs_inode *d, const struct extent *ext, size_t next,
	  uint64_t lblk, unsigned char *blk, struct dt_err *err)
{
	unsigned nb = 1u << x->dirblklog;
	uint64_t first_off = 0;
	size_t i = 0;

	for (unsigned b = 0; b < nb; b++) {
		uint64_t want = lblk + b, off;

		while (i < next && ext[i].lblk + ext[i].count <= want)
			i++;
		if (i == next || ext[i].lblk > want || ext[i].unwritten)
			return dt_fail(err, DT_EFORMAT, "directory inode %llu: block %llu unmapped",
				       (unsigned long long)d->ino, (unsigned long long)want);
		if (fsb_offset(x, ext[i].fsb + (want - ext[i].lblk), 1, &off) < 0)
			return dt_fail(err, DT_EFORMAT,
				       "directory inode %llu: block outside the filesystem",
				       (unsigned long long)d->ino);
		if (b == 0)
			first_off = off;
		if (read_at(x, off, blk + ((size_t)b << x->blocklog), x->bs, err) < 0)
			return -1;
	}
	if ((be32(blk) != DIR_BLOCK && be32(blk) != DIR_DATA) || !crc_ok(blk, x->dirbs, 4) ||
	    be64(blk + 8) != first_off >> 9 || be64(blk + 40) != d->ino ||
	    memcmp(blk + 24, x->uuid, 16) != 0)
		return dt_fail(err, DT_EFORMAT,
			       "directory inode %llu: damaged block %llu (magic, CRC or owner)",
			       (unsigned long long)d->ino, (unsigned long long)lblk);
	return 0;
}

int
xfs_dir_read(struct xfs *x, const struct xfs_inode *d, xfs_dir_fn cb, void *ctx, struct dt_err *err)
{
	/* Data blocks live below 32 GiB of the directory's address space; above are its
	 * hash index (leaf) and free-space blocks, which a reader of names can skip. */
	uint64_t leaf_lblk = ((uint64_t)32 << 30) >> x->blocklog, done = UINT64_MAX;
	unsigned nb = 1u << x->dirblklog;
	struct extent *ext = NULL;
	unsigned char *blk = NULL;
	size_t next = 0;
	unsigned bad = 0;
	struct dt_err first = { 0 };
	int rc = 0;

	if ((d->mode & S_IFMT) != S_IFDIR)
		return dt_fail(err, DT_EBUG, "inode %llu is not a directory",
			       (unsigned long long)d->ino);
	if (d->format == FMT_LOCAL)
		return dir_short(x, d, cb, ctx, err);
	if (data_extents(x, d, &ext, &next, err) < 0)
		return -1;
	blk = malloc(x->dirbs);
	if (blk == NULL) {
		free(ext);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < next && rc == 0 && bad < DIR_BAD_BLOCKS; i++) {
		if (ext[i].lblk >= leaf_lblk)
			break;
		for (uint64_t l = ext[i].lblk & ~(uint64_t)(nb - 1);
		     l < ext[i].lblk + ext[i].count && l < leaf_lblk && rc == 0 &&
		     bad < DIR_BAD_BLOCKS;
		     l += nb) {
			struct dt_err e = { 0 };
			size_t end = x->dirbs;

			if (done != UINT64_MAX && l <= done)
				continue;
			done = l;
			if (dir_block(x, d, ext, next, l, blk, &e) < 0) {
				bad++;
				dt_fail(&first, e.code, "%s", e.msg);
				continue;
			}
			if (be32(blk) == DIR_BLOCK) {
				/* A single-block directory ends with its hash index and a tail. */
				uint32_t count = be32(blk + x->dirbs - 8);
				if (count > (x->dirbs - DIR_HDR - 8) / 8) {
					bad++;
					dt_fail(&first, DT_EFORMAT,
						"directory inode %llu: bad block tail",
						(unsigned long long)d->ino);
					continue;
				}
				end = x->dirbs - 8 - (size_t)count * 8;
			}
			rc = dir_entries(x, d, blk, end, l, cb, ctx, &e);
			if (rc < 0) {
				bad++;
				dt_fail(&first, e.code, "%s", e.msg);
				rc = 0;
			}
		}
	}
	free(blk);
	free(ext);
	if (rc != 0)
		return rc;
	if (first.code != DT_OK)
		return dt_fail(err, first.code, "%s", first.msg);
	return 0;
}

/* ---- allocation group headers ---- */

/* Blocks of AG agno: agblocks, but for the last AG, which may be shorter. */
static uint32_t
ag_length(const struct xfs *x, uint32_t agno)
{
	return agno + 1 < x->agcount ? x->agblocks
				     : (uint32_t)(x->dblocks - (uint64_t)agno * x->agblocks);
}

/*
 * Read the header of AG agno at sector sect (1: AGF, 2: AGI) into h (sectsize bytes) and
 * verify what the two kinds share: magic, version 1, its own AG number, the AG's length in
 * blocks, the CRC and the filesystem's UUID. what names the kind in the message.
 */
static int
ag_header_read(struct xfs *x, uint32_t agno, unsigned sect, const char *what, uint32_t magic,
	       size_t uuid_off, size_t crc_off, unsigned char *h, struct dt_err *err)
{
	const char *bad = NULL;

	if (read_at(x, ((uint64_t)agno * x->agblocks << x->blocklog) + sect * x->sectsize, h,
		    x->sectsize, err) < 0)
		return -1;
	if (be32(h) != magic || be32(h + 4) != 1)
		bad = "magic or version";
	else if (!crc_ok(h, x->sectsize, crc_off))
		bad = "CRC mismatch";
	else if (be32(h + 8) != agno || memcmp(h + uuid_off, x->uuid, 16) != 0)
		bad = "owner";
	else if (be32(h + 12) != ag_length(x, agno))
		bad = "length";
	if (bad != NULL)
		return dt_fail(err, DT_EFORMAT, "AG %u: damaged %s (%s)", agno, what, bad);
	return 0;
}

uint32_t
xfs_ag_count(const struct xfs *x)
{
	return x->agcount;
}

/*
 * Nothing this reader gives comes from the AGF (free space, its btrees and free list): it
 * is only verified, the header and the bounds of its counts (as the kernel's verifier).
 */
int
xfs_agf_check(struct xfs *x, uint32_t agno, struct dt_err *err)
{
	unsigned char *agf;
	uint32_t len = ag_length(x, agno), agfl = (x->sectsize - AGFL_HDR) / 4;
	int rc = -1;

	if (agno >= x->agcount)
		return dt_fail(err, DT_EUSAGE, "AG %u: no such allocation group", agno);
	agf = malloc(x->sectsize);
	if (agf == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (ag_header_read(x, agno, 1, "AGF", AGF_MAGIC, AGF_UUID, AGF_CRC, agf, err) < 0)
		goto out;
	/* bno and cnt btree levels; the free list's first, last and count; free blocks
	 * and the longest free extent. */
	if (be32(agf + 28) == 0 || be32(agf + 28) > IBT_MAX_LEVELS || be32(agf + 32) == 0 ||
	    be32(agf + 32) > IBT_MAX_LEVELS || be32(agf + 40) >= agfl || be32(agf + 44) >= agfl ||
	    be32(agf + 48) > agfl || be32(agf + 52) > len || be32(agf + 56) > be32(agf + 52)) {
		dt_fail(err, DT_EFORMAT,
			"AG %u: damaged AGF (btree levels, free list or free blocks out of bounds)",
			agno);
		goto out;
	}
	rc = 0;
out:
	free(agf);
	return rc;
}

/* ---- the inode B+trees ---- */

struct ibt_walk {
	unsigned char *blk; /* scratch, one block per level */
	uint32_t agno;
	uint64_t next;   /* records come in increasing startino order: a loop cannot */
	uint64_t blocks; /* btree blocks read: more than the AG holds is a loop */
	xfs_inode_fn cb;
	void *ctx;
};

static int
is_meta_ino(const struct xfs *x, uint64_t ino)
{
	for (int i = 0; i < NMETA_INO; i++)
		if (x->meta_ino[i] == ino)
			return 1;
	return 0;
}

/* The allocated inodes of one inobt record (16 bytes). */
static int
ibt_record(struct xfs *x, struct ibt_walk *iw, const unsigned char *rec, struct dt_err *err)
{
	uint64_t start = be32(rec), free = be64(rec + 8);
	uint16_t holes = (x->incompat & INCOMPAT_SPINODES) ? be16(rec + 4) : 0;
	uint64_t agbase = (uint64_t)iw->agno << (x->agblklog + x->inopblog);

	if (start % INODES_PER_CHUNK || start < iw->next ||
	    ((start + INODES_PER_CHUNK - 1) >> x->inopblog) >= x->agblocks)
		return dt_fail(err, DT_EFORMAT, "AG %u: bad inode btree record (inode %llu)",
			       iw->agno, (unsigned long long)start);
	iw->next = start + INODES_PER_CHUNK;
	for (unsigned i = 0; i < INODES_PER_CHUNK; i++) {
		uint64_t ino = agbase | (start + i);
		int r;

		/* A holemask bit covers 4 inodes of a sparse chunk that were never allocated. */
		if ((holes >> (i / 4)) & 1 || (free >> i) & 1 || is_meta_ino(x, ino))
			continue;
		r = iw->cb(iw->ctx, ino);
		if (r != 0)
			return r;
	}
	return 0;
}

static int
ibt_block(struct xfs *x, struct ibt_walk *iw, uint32_t agbno, unsigned level, int depth,
	  struct dt_err *err)
{
	unsigned char *blk = iw->blk + (size_t)depth * x->bs;
	unsigned n, maxrecs;
	uint64_t off;

	if (depth > IBT_MAX_LEVELS)
		return dt_fail(err, DT_EFORMAT, "AG %u: inode btree too deep", iw->agno);
	if (++iw->blocks > x->agblocks)
		return dt_fail(err, DT_EFORMAT, "AG %u: inode btree loops", iw->agno);
	if (fsb_offset(x, (uint64_t)iw->agno << x->agblklog | agbno, 1, &off) < 0)
		return dt_fail(err, DT_EFORMAT, "AG %u: inode btree block %u outside the AG",
			       iw->agno, agbno);
	if (read_at(x, off, blk, x->bs, err) < 0)
		return -1;
	if (be32(blk) != IBT_MAGIC || !crc_ok(blk, x->bs, 52) || be64(blk + 16) != off >> 9 ||
	    be32(blk + 48) != iw->agno || memcmp(blk + 32, x->uuid, 16) != 0)
		return dt_fail(err, DT_EFORMAT,
			       "AG %u: damaged inode btree block %u (magic, CRC or owner)",
			       iw->agno, agbno);
	n = be16(blk + 6);
	maxrecs = level == 0 ? (x->bs - SBT_HDR) / 16 : (x->bs - SBT_HDR) / 8;
	if (be16(blk + 4) != level || n > maxrecs)
		return dt_fail(err, DT_EFORMAT,
			       "AG %u: inode btree block %u: bad level or record count", iw->agno,
			       agbno);
	for (unsigned i = 0; i < n; i++) {
		int r = level == 0 ? ibt_record(x, iw, blk + SBT_HDR + (size_t)i * 16, err)
				   : ibt_block(x, iw,
					       be32(blk + SBT_HDR + (size_t)maxrecs * 4 +
						    (size_t)i * 4),
					       level - 1, depth + 1, err);
		if (r != 0)
			return r;
	}
	return 0;
}

int
xfs_inodes(struct xfs *x, xfs_inode_fn cb, void *ctx, struct dt_err *err)
{
	struct ibt_walk iw = { .cb = cb, .ctx = ctx };
	struct dt_err first = { 0 };
	unsigned char *agi;
	int rc = 0;

	agi = malloc(x->sectsize);
	iw.blk = malloc((size_t)(IBT_MAX_LEVELS + 1) * x->bs);
	if (agi == NULL || iw.blk == NULL) {
		free(agi);
		free(iw.blk);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	for (uint32_t agno = 0; agno < x->agcount && rc == 0; agno++) {
		struct dt_err e = { 0 };
		uint32_t root, level;

		iw.agno = agno;
		iw.next = 0;
		iw.blocks = 0;
		if (ag_header_read(x, agno, 2, "AGI", AGI_MAGIC, AGI_UUID, AGI_CRC, agi, &e) < 0) {
			dt_fail(&first, e.code, "%s", e.msg);
			continue;
		}
		root = be32(agi + 20);
		level = be32(agi + 24);
		if (level == 0 || level > IBT_MAX_LEVELS) {
			dt_fail(&first, DT_EFORMAT, "AG %u: AGI gives an inode btree of %u levels",
				agno, level);
			continue;
		}
		rc = ibt_block(x, &iw, root, level - 1, 0, &e);
		if (rc < 0) {
			dt_fail(&first, e.code, "%s", e.msg);
			rc = 0;
		}
	}
	free(agi);
	free(iw.blk);
	if (rc != 0)
		return rc;
	if (first.code != DT_OK)
		return dt_fail(err, first.code, "%s", first.msg);
	return 0;
}
