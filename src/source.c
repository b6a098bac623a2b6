/*
 * source.c - evidence sources through libtsk's image and volume layers, or a directory.
 *
 * Raw images and block devices are also opened with our own descriptor, so that content
 * reads are plain pread() calls that several threads can issue at once; other formats
 * (E01, VMDK, VHD, split raw) go through tsk_img_read(), which locks its own cache.
 */
#include "source.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <tsk/libtsk.h>

#include "aws/ebs.h"
#include "buf.h"
#include "htree.h"
#include "xfs.h"

#include "banned.h"

struct source {
	enum source_kind kind;
	char *spec;
	char format[32];
	char layout[16];
	uint64_t size;
	TSK_IMG_INFO *img;
	TSK_VS_INFO *vs;
	int fd;          /* our own descriptor for single-file raw images, or -1 */
	struct ebs *ebs; /* owned: an ebs:// snapshot, read by ebs_read(); or NULL */
	struct source_fs fs[SOURCE_MAX_FS];
	size_t nfs;
	struct source_skip skip[SOURCE_MAX_FS];
	size_t nskip;
	struct xfs_at {
		struct source *s;
		uint64_t off, size;
	} xat[SOURCE_MAX_FS]; /* what each XFS reader reads through */
	pthread_mutex_t lock;
};

enum source_kind
source_kind(const struct source *s)
{
	return s->kind;
}

const char *
source_spec(const struct source *s)
{
	return s->spec;
}

const char *
source_format(const struct source *s)
{
	return s->format;
}

const char *
source_layout(const struct source *s)
{
	return s->layout;
}

uint64_t
source_size(const struct source *s)
{
	return s->size;
}

size_t
source_nfs(const struct source *s)
{
	return s->nfs;
}

const struct source_fs *
source_fs(const struct source *s, size_t i)
{
	return i < s->nfs ? &s->fs[i] : NULL;
}

size_t
source_nskipped(const struct source *s)
{
	return s->nskip;
}

const struct source_skip *
source_skipped(const struct source *s, size_t i)
{
	return i < s->nskip ? &s->skip[i] : NULL;
}

void
source_lock(struct source *s)
{
	pthread_mutex_lock(&s->lock);
}

void
source_unlock(struct source *s)
{
	pthread_mutex_unlock(&s->lock);
}

/* libtsk keeps its last error per thread; take its words and clear it. */
void
source_tsk_error(char *out, size_t n)
{
	const char *m = tsk_error_get();

	snprintf(out, n, "%s", m && *m ? m : "unknown libtsk error");
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	tsk_error_reset();
}

void
source_free(struct source *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nfs; i++) {
		if (s->fs[i].tsk_fs)
			tsk_fs_close(s->fs[i].tsk_fs);
		xfs_free(s->fs[i].xfs);
	}
	if (s->vs)
		tsk_vs_close(s->vs);
	if (s->img)
		tsk_img_close(s->img);
	ebs_free(s->ebs);
	if (s->fd >= 0)
		close(s->fd);
	for (size_t i = 0; i < s->nfs; i++)
		free((char *)s->fs[i].root);
	pthread_mutex_destroy(&s->lock);
	free(s->spec);
	free(s);
}

/*
 * An ext2/3/4 superblock (at byte 1024) that libtsk refused: the magic 0xEF53, and at least
 * three of five fields that only take a few values in a real one (first data block 0 or 1,
 * block size 1 KiB to 64 KiB, state and error policy within their flags, revision 0 or 1).
 * Two magic bytes alone turn up in one random megabyte out of 65536; so damaged a
 * superblock that fails three of these is no longer worth calling ext.
 */
static int
looks_like_ext(const unsigned char *sb)
{
	uint32_t state = buf_le16(sb + 58), errors = buf_le16(sb + 60);
	int ok = 0;

	if (sb[56] != 0x53 || sb[57] != 0xef)
		return 0;
	ok += buf_le32(sb + 20) <= 1;     /* s_first_data_block */
	ok += buf_le32(sb + 24) <= 6;     /* s_log_block_size */
	ok += state >= 1 && state <= 7;   /* s_state: valid, errors, orphans */
	ok += errors >= 1 && errors <= 3; /* s_errors: continue, read-only, panic */
	ok += buf_le32(sb + 76) <= 1;     /* s_rev_level */
	return ok >= 3;
}

/* What libtsk cannot read but its first bytes name, and how to read it anyway. */
struct fs_guess {
	const char *name, *hint;
};

#define DIR_HINT(how) "mount it read-only (" how ") and read it as 'dir:MOUNTPOINT'"

static const struct fs_guess guesses[] = {
	{ "XFS", DIR_HINT("mount -o ro,norecovery,nouuid") },
	{ "btrfs", DIR_HINT("mount -t btrfs -o ro,rescue=nologreplay") },
	{ "F2FS", DIR_HINT("mount -t f2fs -o ro,norecovery") },
	{ "squashfs", DIR_HINT("mount -t squashfs -o ro") },
	{ "ext2/3/4 (damaged)", "if the kernel still mounts it (mount -o ro,noload), read it as "
				"'dir:MOUNTPOINT'" },
	{ "NTFS (damaged)", "if ntfs-3g still mounts it (mount -t ntfs-3g -o ro), read it as "
			    "'dir:MOUNTPOINT'" },
	{ "LUKS (encrypted)", "open it read-only (cryptsetup open --readonly DEVICE NAME) and "
			      "read /dev/mapper/NAME" },
	{ "an LVM physical volume", "activate its volume group read-only (vgchange -ay "
				    "--readonly VG) and read each /dev/VG/LV" },
	{ "a Linux RAID member", "assemble the array read-only (mdadm --assemble --readonly) "
				 "and read /dev/mdN" },
	{ "swap space", "" },
};

enum { G_XFS, G_BTRFS, G_F2FS, G_SQUASHFS, G_EXT, G_NTFS, G_LUKS, G_LVM, G_MD, G_SWAP };

/* The first bytes of a filesystem libtsk did not recognise, by the magic numbers blkid uses. */
static const struct fs_guess *
guess_unknown_fs(struct source *s, uint64_t off)
{
	unsigned char b[8192], bt[8];
	ssize_t n = source_read(s, off, b, sizeof(b), NULL);

	if (n >= 4 && memcmp(b, "XFSB", 4) == 0)
		return &guesses[G_XFS];
	if (source_read(s, off + 0x10040, bt, 8, NULL) == 8 && memcmp(bt, "_BHRfS_M", 8) == 0)
		return &guesses[G_BTRFS];
	if (n >= 4 && memcmp(b, "hsqs", 4) == 0)
		return &guesses[G_SQUASHFS];
	if (n >= 6 && memcmp(b, "LUKS\xba\xbe", 6) == 0)
		return &guesses[G_LUKS];
	if (n >= 1028 && memcmp(b + 1024, "\x10\x20\xf5\xf2", 4) == 0)
		return &guesses[G_F2FS];
	if (n >= 1024 + 128 && looks_like_ext(b + 1024))
		return &guesses[G_EXT];
	if (n >= 11 && memcmp(b + 3, "NTFS    ", 8) == 0)
		return &guesses[G_NTFS];
	if (n >= 544 && memcmp(b + 512, "LABELONE", 8) == 0 && memcmp(b + 536, "LVM2 001", 8) == 0)
		return &guesses[G_LVM];
	if (n >= 4100 && memcmp(b + 4096, "\xfc\x4e\x2b\xa9", 4) == 0)
		return &guesses[G_MD];
	if (n >= 4096 &&
	    (memcmp(b + 4086, "SWAPSPACE2", 10) == 0 || memcmp(b + 4086, "SWAP-SPACE", 10) == 0))
		return &guesses[G_SWAP];
	return NULL;
}

static void
add_skip(struct source *s, const char *name, uint64_t off, const char *reason, const char *hint)
{
	struct source_skip *k;

	if (s->nskip >= SOURCE_MAX_FS)
		return;
	k = &s->skip[s->nskip++];
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->offset = off;
	snprintf(k->reason, sizeof(k->reason), "%s", reason);
	snprintf(k->hint, sizeof(k->hint), "%s", hint);
}

/* A label field: up to n bytes, NUL- or space-padded, printable ASCII kept. */
static void
copy_label(char *out, size_t size, const unsigned char *p, size_t n)
{
	size_t w = 0;

	for (size_t i = 0; i < n && p[i] && w + 1 < size; i++)
		out[w++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	while (w > 0 && out[w - 1] == ' ')
		w--;
	out[w] = '\0';
	if (strcmp(out, "NO NAME") == 0) /* FAT's "no label" */
		out[0] = '\0';
}

static void
format_uuid(char *out, size_t size, const unsigned char *u)
{
	snprintf(out, size, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}

enum fs_id_kind { ID_NONE, ID_EXT, ID_XFS, ID_NTFS, ID_EXFAT, ID_FAT };

/*
 * Which identity to read: the type the reader found where there is one (libtsk's or our own
 * name, or the kernel's for dir:); else the first bytes' magic, those at the start first,
 * since ext's two bytes at 1080 can lie in the boot code of an NTFS or a FAT volume.
 */
static enum fs_id_kind
fs_id_kind(const char *type, const unsigned char *b, size_t n)
{
	if (type && strncmp(type, "ext", 3) == 0)
		return ID_EXT;
	if (type && strcmp(type, "xfs") == 0)
		return ID_XFS;
	if (type && strcmp(type, "ntfs") == 0)
		return ID_NTFS;
	if (type && strcmp(type, "exfat") == 0)
		return ID_EXFAT;
	if (type && (strncmp(type, "fat", 3) == 0 || strcmp(type, "vfat") == 0 ||
		     strcmp(type, "msdos") == 0))
		return ID_FAT;
	if (n >= 4 && memcmp(b, "XFSB", 4) == 0)
		return ID_XFS;
	if (n >= 11 && memcmp(b + 3, "NTFS    ", 8) == 0)
		return ID_NTFS;
	if (n >= 11 && memcmp(b + 3, "EXFAT   ", 8) == 0)
		return ID_EXFAT;
	if (n >= 512 && b[510] == 0x55 && b[511] == 0xaa)
		return ID_FAT;
	if (n >= 1024 + 128 && looks_like_ext(b + 1024))
		return ID_EXT;
	return ID_NONE;
}

/*
 * The identity of the filesystem of the given type (NULL: unknown) whose first n bytes are b
 * (n >= 4096 for all of them), in blkid's spelling, so that a clone (same id) is told from
 * an unrelated filesystem.
 */
static void
fs_identity(const char *type, const unsigned char *b, size_t n, char *uuid, size_t usize,
	    char *label, size_t lsize)
{
	enum fs_id_kind k = fs_id_kind(type, b, n);

	uuid[0] = label[0] = '\0';
	if (k == ID_EXT && n >= 1264) {
		format_uuid(uuid, usize, b + 1024 + 104);
		copy_label(label, lsize, b + 1024 + 120, 16);
	} else if (k == ID_XFS && n >= 120) {
		format_uuid(uuid, usize, b + 32);
		copy_label(label, lsize, b + 108, 12);
	} else if (k == ID_NTFS && n >= 0x50) {
		snprintf(uuid, usize, "%08X%08X", buf_le32(b + 0x4c), buf_le32(b + 0x48));
	} else if (k == ID_EXFAT && n >= 104) {
		uint32_t id = buf_le32(b + 100);
		snprintf(uuid, usize, "%04X-%04X", id >> 16, id & 0xffff);
	} else if (k == ID_FAT && n >= 0x52) {
		/* FAT: the extended BIOS parameter block is at 0x26, or at 0x42 on FAT32 (whose
		 * 16-bit sectors-per-FAT is 0). */
		const unsigned char *e = b[0x16] == 0 && b[0x17] == 0 ? b + 0x42 : b + 0x26;

		if (e[0] == 0x29 || e[0] == 0x28) {
			uint32_t id = buf_le32(e + 1);
			snprintf(uuid, usize, "%04X-%04X", id >> 16, id & 0xffff);
			if (e[0] == 0x29)
				copy_label(label, lsize, e + 5, 11);
		}
	}
}

/* f's identity from its first bytes on the image: once per filesystem, for every reader. */
static void
fs_read_identity(struct source *s, struct source_fs *f)
{
	unsigned char b[4096];
	ssize_t n = source_read(s, f->offset, b, sizeof(b), NULL);

	if (n > 0)
		fs_identity(f->type, b, (size_t)n, f->uuid, sizeof(f->uuid), f->label,
			    sizeof(f->label));
}

static void
add_fs(struct source *s, TSK_FS_INFO *fs, const char *name, uint64_t size)
{
	struct source_fs *f = &s->fs[s->nfs++];
	const char *t = tsk_fs_type_toname(fs->ftype);

	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->type, sizeof(f->type), "%s", t ? t : "unknown");
	f->offset = (uint64_t)fs->offset;
	f->size = size ? size : (uint64_t)fs->block_count * fs->block_size;
	f->block_size = fs->block_size;
	f->tsk_fs = fs;
	fs_read_identity(s, f);
}

/* ---- XFS: our own reader (xfs.h), tried before libtsk ---- */

static ssize_t
xfs_read_cb(void *ctx, uint64_t off, void *buf, size_t len, struct dt_err *err)
{
	const struct xfs_at *a = ctx;

	if (off >= a->size)
		return 0;
	if (len > a->size - off)
		len = (size_t)(a->size - off);
	return source_read(a->s, a->off + off, buf, len, err);
}

/* 1: no XFS superblock at off; 0: opened; -1: XFS that cannot be read (why recorded). */
static int
try_xfs(struct source *s, uint64_t off, uint64_t size, const char *name)
{
	unsigned char b[4];
	struct xfs_at *a = &s->xat[s->nfs];
	struct source_fs *f;
	struct dt_err e = { 0 };
	struct xfs *x;
	char reason[256];

	if (off >= s->size || source_read(s, off, b, sizeof(b), NULL) != sizeof(b) ||
	    !xfs_probe(b, sizeof(b)))
		return 1;
	a->s = s;
	a->off = off;
	a->size = size && size <= s->size - off ? size : s->size - off;
	if (xfs_open(xfs_read_cb, a, a->size, &x, &e) < 0) {
		snprintf(reason, sizeof(reason),
			 "cannot read this filesystem (looks like XFS: %.200s)", e.msg);
		add_skip(s, name, off, reason, guesses[G_XFS].hint);
		return -1;
	}
	f = &s->fs[s->nfs++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->type, sizeof(f->type), "xfs");
	f->offset = off;
	f->size = size ? size : xfs_size(x);
	f->block_size = xfs_block_size(x);
	f->xfs = x;
	fs_read_identity(s, f);
	return 0;
}

int
source_xfs_runs(const struct source_fs *f, const struct xfs_inode *ip, uint64_t size,
		size_t max_runs, struct source_run **runs, size_t *nruns, struct dt_err *err)
{
	struct xfs_run *xr = NULL;
	size_t n = 0;
	int rc = -1;

	*runs = NULL;
	*nruns = 0;
	if (xfs_file_runs(f->xfs, ip, size, max_runs, &xr, &n, err) < 0)
		return -1;
	*runs = malloc((n ? n : 1) * sizeof(**runs));
	if (*runs == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	/* Offsets move from the filesystem's start to the image's. */
	for (size_t i = 0; i < n; i++) {
		(*runs)[i].lo = xr[i].lo;
		(*runs)[i].off = xr[i].off == XFS_SPARSE ? SOURCE_SPARSE : xr[i].off + f->offset;
		(*runs)[i].len = xr[i].len;
	}
	*nruns = n;
	rc = 0;
out:
	free(xr);
	return rc;
}

int
source_inode_runs(struct source *s, size_t fsi, uint64_t inode, uint64_t size, size_t max_runs,
		  struct source_run **runs, size_t *nruns, struct dt_err *err)
{
	const struct source_fs *f = source_fs(s, fsi);
	struct xfs_inode *ip;
	int rc = -1;

	*runs = NULL;
	*nruns = 0;
	if (f == NULL || f->xfs == NULL)
		return 1;
	ip = malloc(sizeof(*ip));
	if (ip == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (xfs_inode_read(f->xfs, inode, ip, err) < 0)
		goto out;
	if ((ip->mode & S_IFMT) != S_IFREG) {
		dt_fail(err, DT_EFORMAT, "inode %llu is no longer a regular file",
			(unsigned long long)inode);
		goto out;
	}
	rc = source_xfs_runs(f, ip, size, max_runs, runs, nruns, err);
out:
	free(ip);
	return rc;
}

/* Read from a file of an XFS filesystem through its block map. */
static ssize_t
read_xfs_file(struct source *s, size_t fsi, uint64_t inode, uint64_t off, void *buf, size_t len,
	      struct dt_err *err)
{
	const struct source_fs *f = source_fs(s, fsi);
	struct xfs_inode *ip = malloc(sizeof(*ip));
	struct source_run *runs = NULL;
	size_t n = 0, done = 0;
	ssize_t ret = -1;

	if (ip == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (xfs_inode_read(f->xfs, inode, ip, err) < 0)
		goto out;
	if (off >= ip->size) {
		ret = 0;
		goto out;
	}
	if (len > ip->size - off)
		len = (size_t)(ip->size - off);
	if (source_inode_runs(s, fsi, inode, ip->size, SIZE_MAX, &runs, &n, err) != 0)
		goto out;
	for (size_t r = 0; r < n && done < len; r++) {
		uint64_t at = off + done, in, k;

		if (runs[r].lo + runs[r].len <= at)
			continue;
		in = at - runs[r].lo;
		k = runs[r].len - in < len - done ? runs[r].len - in : len - done;
		if (runs[r].off == SOURCE_SPARSE) {
			memset((char *)buf + done, 0, (size_t)k);
		} else {
			ssize_t got = source_read(s, runs[r].off + in, (char *)buf + done,
						  (size_t)k, err);
			if (got < 0)
				goto out;
			if ((uint64_t)got < k) {
				dt_fail(err, DT_EIO, "the image ends inside inode %llu's data",
					(unsigned long long)inode);
				goto out;
			}
		}
		done += (size_t)k;
	}
	ret = (ssize_t)done;
out:
	free(runs);
	free(ip);
	return ret;
}

/* Try one filesystem at a byte offset; on failure record why under name. */
static int
try_fs(struct source *s, uint64_t off, uint64_t size, const char *name)
{
	TSK_FS_INFO *fs;
	char why[200], reason[256];
	const struct fs_guess *guess;
	int rc;

	if (s->nfs >= SOURCE_MAX_FS)
		return -1;
	if ((rc = try_xfs(s, off, size, name)) != 1)
		return rc;
	fs = tsk_fs_open_img(s->img, (TSK_OFF_T)off, TSK_FS_TYPE_DETECT);
	if (fs != NULL) {
		add_fs(s, fs, name, size);
		return 0;
	}
	source_tsk_error(why, sizeof(why));
	guess = guess_unknown_fs(s, off);
	if (guess)
		snprintf(reason, sizeof(reason),
			 "libtsk cannot read this filesystem (looks like %s)", guess->name);
	else
		snprintf(reason, sizeof(reason), "no filesystem libtsk recognises (%.180s)", why);
	add_skip(s, name, off, reason, guess ? guess->hint : "");
	return -1;
}

/*
 * An --offset with nothing there: a filesystem libtsk reads at offset * 512 means the
 * offset was given in sectors (as fdisk and mmls print them). Its type into type, or 0.
 */
static int
offset_in_sectors(struct source *s, uint64_t off, char *type, size_t n)
{
	TSK_FS_INFO *fs;

	if (off == 0 || off > s->size / 512)
		return 0;
	fs = tsk_fs_open_img(s->img, (TSK_OFF_T)(off * 512), TSK_FS_TYPE_DETECT);
	if (fs == NULL) {
		tsk_error_reset();
		return 0;
	}
	snprintf(type, n, "%s", tsk_fs_type_toname(fs->ftype) ?: "unknown");
	tsk_fs_close(fs);
	return 1;
}

/* Linux's number for a partition: GPT entry index + 1; DOS primaries 1-4, logicals 5 on. */
static int
linux_partno(const TSK_VS_INFO *vs, const TSK_VS_PART_INFO *p, int nth_logical)
{
	if (vs->vstype == TSK_VS_TYPE_DOS) {
		if (p->table_num <= 0)
			return p->slot_num + 1;
		return 4 + nth_logical;
	}
	if (p->slot_num >= 0)
		return p->slot_num + 1;
	return (int)p->addr + 1;
}

static int
open_volumes(struct source *s)
{
	int logical = 0;

	s->vs = tsk_vs_open(s->img, 0, TSK_VS_TYPE_DETECT);
	if (s->vs == NULL) {
		tsk_error_reset();
		return -1;
	}
	snprintf(s->layout, sizeof(s->layout), "%s", tsk_vs_type_toname(s->vs->vstype));
	for (TSK_PNUM_T i = 0; i < s->vs->part_count; i++) {
		const TSK_VS_PART_INFO *p = tsk_vs_part_get(s->vs, i);
		char name[16];
		uint64_t off, size;

		if (p == NULL || !(p->flags & TSK_VS_PART_FLAG_ALLOC))
			continue;
		if (s->vs->vstype == TSK_VS_TYPE_DOS && p->table_num > 0)
			logical++;
		snprintf(name, sizeof(name), "p%d", linux_partno(s->vs, p, logical));
		off = (uint64_t)p->start * s->vs->block_size;
		size = (uint64_t)p->len * s->vs->block_size;
		try_fs(s, off, size, name);
	}
	return 0;
}

/*
 * The identity of the filesystem mounted at dir, from its device's superblock: the device
 * is the mount source in /proc/self/mountinfo whose major:minor is dir's st_dev. Nothing
 * when it cannot be found or opened (not root, a network or virtual filesystem).
 */
static void
dir_identity(const struct stat *st, struct source_fs *f)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char *line = NULL, want[32], dev[4096] = "", type[32] = "";
	size_t cap = 0;
	unsigned char b[4096];
	ssize_t n;
	int fd;

	snprintf(want, sizeof(want), "%u:%u", major(st->st_dev), minor(st->st_dev));
	/* id parent major:minor root MOUNTPOINT options [optional...] - TYPE SOURCE super */
	while (fp && getline(&line, &cap, fp) > 0) {
		char *sep = strstr(line, " - "), *save = NULL, *t;
		int k = 0;

		for (t = strtok_r(line, " ", &save); t && k < 2; t = strtok_r(NULL, " ", &save))
			k++;
		if (t == NULL || strcmp(t, want) != 0 || sep == NULL)
			continue;
		save = NULL;
		if ((t = strtok_r(sep + 3, " \n", &save)) == NULL)
			continue;
		snprintf(type, sizeof(type), "%s", t);
		if ((t = strtok_r(NULL, " \n", &save)) && t[0] == '/')
			snprintf(dev, sizeof(dev), "%s", t);
	}
	if (fp)
		fclose(fp);
	free(line);
	if (dev[0] == '\0')
		return;
	fd = open(dev, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n > 0)
		fs_identity(type[0] ? type : NULL, b, (size_t)n, f->uuid, sizeof(f->uuid), f->label,
			    sizeof(f->label));
}

static int
open_dir(struct source *s, const char *path, struct dt_err *err)
{
	struct stat st;
	struct source_fs *f;

	if (stat(path, &st) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
	if (!S_ISDIR(st.st_mode))
		return dt_fail(err, DT_EUSAGE, "'%s' is not a directory", path);
	s->kind = SOURCE_DIR;
	snprintf(s->format, sizeof(s->format), "dir");
	snprintf(s->layout, sizeof(s->layout), "dir");
	f = &s->fs[s->nfs++];
	memset(f, 0, sizeof(*f));
	snprintf(f->name, sizeof(f->name), "p0");
	snprintf(f->type, sizeof(f->type), "dir");
	f->root = strdup(path);
	if (f->root == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	dir_identity(&st, f);
	return 0;
}

/* A .dtree given where evidence is expected. */
static int
is_dtree(const char *path)
{
	unsigned char m[8];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), yes;

	if (fd < 0)
		return 0;
	yes = pread(fd, m, 8, 0) == 8 && memcmp(m, HTREE_MAGIC, 8) == 0;
	close(fd);
	return yes;
}

/* Our own descriptor, when it sees exactly the bytes libtsk sees. */
static void
open_raw_fd(struct source *s, const char *path)
{
	struct stat st;
	uint64_t size = 0;
	int fd;

	if (s->img->itype != TSK_IMG_TYPE_RAW)
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0) {
		if (S_ISREG(st.st_mode))
			size = (uint64_t)st.st_size;
		else if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &size) != 0)
			size = 0;
	}
	if (size == 0 || size != (uint64_t)s->img->size) {
		close(fd); /* split raw: libtsk stitches the segments */
		return;
	}
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	s->fd = fd;
}

/* --- ebs:// (aws/ebs.h): libtsk reads the snapshot through an external image. --- */

/* libtsk's 4.11 external image: a struct that begins with its TSK_IMG_INFO. */
struct ebs_img {
	TSK_IMG_INFO img; /* first: libtsk casts */
	struct ebs *ebs;  /* borrowed from the source */
};

static ssize_t
ebs_img_read(TSK_IMG_INFO *img, TSK_OFF_T off, char *buf, size_t len)
{
	struct dt_err err = { 0 };
	ssize_t n = ebs_read(((struct ebs_img *)img)->ebs, (uint64_t)off, buf, len, &err);

	if (n < 0) {
		tsk_error_reset();
		tsk_error_set_errno(TSK_ERR_IMG_READ);
		tsk_error_set_errstr("%s", err.msg);
	}
	return n;
}

static void
ebs_img_close(TSK_IMG_INFO *img)
{
	free(img);
}

static void
ebs_img_stat(TSK_IMG_INFO *img, FILE *fp)
{
	(void)img;
	(void)fp;
}

static int
open_ebs(struct source *s, const char *spec, const struct source_opts *o, struct dt_err *err)
{
	struct ebs_opts eo = { .concurrency = o ? o->ebs_concurrency : 0,
			       .rate = o ? o->ebs_rate : 0,
			       .changed_since = o ? o->changed_since : NULL,
			       .gold_image = o ? o->gold_image : NULL,
			       .gold_cache = o ? o->gold_cache : NULL,
			       .gold_cache_max = o ? o->gold_cache_max : 0 };
	struct ebs_img *ei;

	if (ebs_open(spec, &eo, &s->ebs, err) < 0)
		return -1;
	ei = calloc(1, sizeof(*ei));
	if (ei == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	ei->ebs = s->ebs;
	s->img = tsk_img_open_external(ei, (TSK_OFF_T)ebs_size(s->ebs), 512, ebs_img_read,
				       ebs_img_close, ebs_img_stat);
	if (s->img == NULL) {
		char why[200];
		free(ei);
		source_tsk_error(why, sizeof(why));
		return dt_fail(err, DT_EFORMAT, "'%s': libtsk refused the snapshot: %s", spec, why);
	}
	return 0;
}

const struct cblk *
source_changed(const struct source *s)
{
	return s->ebs ? ebs_changed(s->ebs) : NULL;
}

const char *
source_changed_note(const struct source *s)
{
	return s->ebs ? ebs_changed_note(s->ebs) : "";
}

int
source_ebs_stats(struct source *s, struct ebs_stats *out)
{
	if (s->ebs == NULL)
		return -1;
	ebs_get_stats(s->ebs, out);
	return 0;
}

int
source_open(const char *spec, const struct source_opts *o, struct source **out, struct dt_err *err)
{
	struct source *s;
	struct stat st;
	char why[200];

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	s->fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	s->spec = strdup(spec);
	if (s->spec == NULL) {
		source_free(s);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	if (strncmp(spec, "dir:", 4) == 0) {
		if (open_dir(s, spec + 4, err) < 0) {
			source_free(s);
			return -1;
		}
		*out = s;
		return 0;
	}
	if (!ebs_is_spec(spec) && o && (o->changed_since || o->gold_image || o->gold_cache)) {
		dt_fail(err, DT_EUSAGE,
			"--changed-since, --gold-image and --gold-cache are for ebs:// snapshots; "
			"give another image's list with --changed-blocks FILE");
		source_free(s);
		return -1;
	}
	if (ebs_is_spec(spec)) {
		s->kind = SOURCE_IMAGE;
		if (open_ebs(s, spec, o, err) < 0) {
			source_free(s);
			return -1;
		}
	} else if (stat(spec, &st) != 0) {
		dt_fail_errno(err, DT_EIO, "cannot open '%s'", spec);
		source_free(s);
		return -1;
	}
	if (s->ebs == NULL && S_ISDIR(st.st_mode)) {
		dt_fail(err, DT_EUSAGE,
			"'%s' is a directory; to read a mounted filesystem use 'dir:%s'", spec,
			spec);
		source_free(s);
		return -1;
	}
	if (is_dtree(spec)) {
		dt_fail(err, DT_EUSAGE,
			"'%s' is a deltair tree (.dtree), not evidence: use it with --baseline",
			spec);
		source_free(s);
		return -1;
	}
	s->kind = SOURCE_IMAGE;
	if (s->img == NULL)
		s->img = tsk_img_open_utf8_sing(spec, TSK_IMG_TYPE_DETECT, 0);
	if (s->img == NULL) {
		source_tsk_error(why, sizeof(why));
		dt_fail(err, DT_EFORMAT, "cannot open '%s' as a disk image: %s", spec, why);
		source_free(s);
		return -1;
	}
	s->size = (uint64_t)s->img->size;
	snprintf(s->format, sizeof(s->format), "%s",
		 s->ebs ? "ebs" : tsk_img_type_toname(s->img->itype));
	if (s->ebs == NULL)
		open_raw_fd(s, spec);
	snprintf(s->layout, sizeof(s->layout), "none");
	if (o && o->offset >= 0) {
		snprintf(s->layout, sizeof(s->layout), "offset");
		try_fs(s, (uint64_t)o->offset, 0, "p0");
	} else if (open_volumes(s) < 0) {
		try_fs(s, 0, s->size, "p0");
	}
	if (s->nfs == 0) {
		const struct source_skip *k = &s->skip[0];
		char type[32];

		if (o && o->offset > 0 &&
		    offset_in_sectors(s, (uint64_t)o->offset, type, sizeof(type))) {
			dt_fail(err, DT_EUSAGE,
				"'%s': no filesystem at byte %lld, but %s starts at byte %llu "
				"(%lld*512): --offset takes bytes, so give --offset %llu",
				spec, (long long)o->offset, type,
				(unsigned long long)o->offset * 512, (long long)o->offset,
				(unsigned long long)o->offset * 512);
		} else if (s->nskip == 1 && k->hint[0]) {
			dt_fail(err, DT_EFORMAT, "'%s' %s: %s; %s", spec, k->name, k->reason,
				k->hint);
		} else if (s->nskip == 1 && strstr(k->reason, "looks like")) {
			dt_fail(err, DT_EFORMAT, "'%s' %s: %s", spec, k->name, k->reason);
		} else if (s->nskip == 0) {
			dt_fail(err, DT_EFORMAT, "'%s': partition table (%s) lists no partitions",
				spec, s->layout);
		} else if (strcmp(s->layout, "none") == 0 || strcmp(s->layout, "offset") == 0) {
			dt_fail(err, DT_EFORMAT,
				"'%s': %s; if it holds a filesystem deltair cannot read (btrfs, "
				"XFS v4), mount it read-only and read it as 'dir:MOUNTPOINT'",
				spec, k->reason);
		} else {
			dt_fail(err, DT_EFORMAT,
				"'%s': no readable filesystem in %zu %s partition(s) (%s: %s)%s%s",
				spec, s->nskip, s->layout, k->name, k->reason,
				k->hint[0] ? "; " : "", k->hint);
		}
		source_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

ssize_t
source_read(struct source *s, uint64_t off, void *buf, size_t len, struct dt_err *err)
{
	size_t done = 0;

	if (s->kind != SOURCE_IMAGE)
		return dt_fail(err, DT_EBUG, "source_read on a directory source");
	if (off >= s->size)
		return 0;
	if (len > s->size - off)
		len = (size_t)(s->size - off);
	while (done < len) {
		ssize_t n;

		if (s->ebs) {
			n = ebs_read(s->ebs, off + done, (char *)buf + done, len - done, err);
			if (n < 0)
				return -1;
		} else if (s->fd >= 0) {
			n = pread(s->fd, (char *)buf + done, len - done, (off_t)(off + done));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return dt_fail_errno(err, DT_EIO, "read error at byte %llu of '%s'",
						     (unsigned long long)(off + done), s->spec);
		} else {
			n = tsk_img_read(s->img, (TSK_OFF_T)(off + done), (char *)buf + done,
					 len - done);
			if (n < 0) {
				char why[200];
				source_tsk_error(why, sizeof(why));
				return dt_fail(err, DT_EIO, "read error at byte %llu of '%s': %s",
					       (unsigned long long)(off + done), s->spec, why);
			}
		}
		if (n == 0)
			break; /* the image is shorter than it says */
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int
source_openat_beneath(int root_fd, const char *path)
{
	int fd, dfd;
	const char *p;

	if (path[0] != '/') {
		errno = EINVAL;
		return -1;
	}
	if (path[1] == '\0')
		return dup(root_fd);
	/* One call where the kernel has openat2: no symlink anywhere on the way, nothing
	 * resolved outside root_fd. */
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME;
	how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, root_fd, path + 1, &how, sizeof(how));
	if (fd < 0 && errno == EPERM) {
		how.flags &= ~(uint64_t)O_NOATIME; /* O_NOATIME needs ownership */
		fd = (int)syscall(SYS_openat2, root_fd, path + 1, &how, sizeof(how));
	}
	if (fd >= 0 || (errno != ENOSYS && errno != ENAMETOOLONG && errno != EPERM))
		return fd;
	/* No openat2, or deeper than PATH_MAX: one component at a time, none followed. */
	dfd = dup(root_fd);
	p = path + 1;
	while (dfd >= 0) {
		const char *slash = strchr(p, '/');
		char name[256];
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || n >= sizeof(name)) {
			close(dfd);
			errno = ENAMETOOLONG;
			return -1;
		}
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			close(dfd); /* never climb out, as RESOLVE_BENEATH would refuse */
			errno = EXDEV;
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		fd = openat(dfd, name,
			    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (slash ? O_DIRECTORY : 0));
		close(dfd);
		if (!slash || fd < 0)
			return fd;
		dfd = fd;
		p = slash + 1;
	}
	return -1;
}

int
source_open_beneath(struct source *s, size_t fsi, const char *path)
{
	const struct source_fs *f = source_fs(s, fsi);
	int root, fd;

	if (f == NULL || f->root == NULL) {
		errno = EINVAL;
		return -1;
	}
	root = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	fd = source_openat_beneath(root, path);
	close(root);
	return fd;
}

struct runs_ctx {
	struct source_run *v;
	size_t n, cap, max;
	uint64_t total, fs_off;
	unsigned block_size;
	int need_tsk, oom;
};

/* Add len bytes at image offset at (SOURCE_SPARSE: zeros) to r, joining a contiguous run. */
static int
runs_add(struct runs_ctx *r, uint64_t at, uint64_t len)
{
	if (r->n > 0) {
		struct source_run *last = &r->v[r->n - 1];
		if ((at == SOURCE_SPARSE && last->off == SOURCE_SPARSE) ||
		    (at != SOURCE_SPARSE && last->off != SOURCE_SPARSE &&
		     last->off + last->len == at)) {
			last->len += len;
			r->total += len;
			return 0;
		}
	}
	if (r->n == r->max) {
		r->need_tsk = 1; /* too fragmented to map: libtsk reads it */
		return -1;
	}
	if (BUF_GROW(r->v, r->n + 1, r->cap, NULL) < 0) {
		r->oom = 1;
		return -1;
	}
	r->v[r->n].lo = r->total;
	r->v[r->n].off = at;
	r->v[r->n].len = len;
	r->n++;
	r->total += len;
	return 0;
}

static TSK_WALK_RET_ENUM
runs_cb(TSK_FS_FILE *file, TSK_OFF_T off, TSK_DADDR_T addr, char *buf, size_t len,
	TSK_FS_BLOCK_FLAG_ENUM flags, void *arg)
{
	struct runs_ctx *r = arg;
	uint64_t at;

	(void)file;
	(void)buf;
	/* Resident and compressed data has no plain place in the image: libtsk reads it. */
	if (flags & (TSK_FS_BLOCK_FLAG_RES | TSK_FS_BLOCK_FLAG_COMP) || off < 0 ||
	    (uint64_t)off != r->total) {
		r->need_tsk = 1;
		return TSK_WALK_STOP;
	}
	at = (flags & TSK_FS_BLOCK_FLAG_SPARSE) ? SOURCE_SPARSE
						: r->fs_off + (uint64_t)addr * r->block_size;
	if (runs_add(r, at, len) < 0)
		return r->oom ? TSK_WALK_ERROR : TSK_WALK_STOP;
	return TSK_WALK_CONT;
}

/*
 * ext2/3/4: the map straight from libtsk's run list, in time proportional to the runs,
 * where a block-by-block file walk takes time proportional to the apparent size (a 1 TiB
 * sparse file is 2^28 callbacks). Holes between runs and after the last one read as
 * zeros, as in the kernel. Returns 0 when mapped, 1 when the run list is not plain (the
 * caller falls back to the file walk), -1 when out of memory.
 */
static int
ext_runs(struct runs_ctx *r, TSK_FS_FILE *file, uint64_t size)
{
	const TSK_FS_ATTR *a = tsk_fs_file_attr_get(file);
	TSK_FS_INFO *fs = file->fs_info;

	tsk_error_reset();
	if (a == NULL || !(a->flags & TSK_FS_ATTR_NONRES) ||
	    (a->flags & (TSK_FS_ATTR_COMP | TSK_FS_ATTR_ENC)) || a->nrd.skiplen != 0)
		return 1;
	for (const TSK_FS_ATTR_RUN *run = a->nrd.run; run && r->total < size; run = run->next) {
		uint64_t lo, len, at;

		if (run->len == 0)
			continue;
		if (run->offset > UINT64_MAX / r->block_size ||
		    run->len > UINT64_MAX / r->block_size)
			return 1;
		lo = (uint64_t)run->offset * r->block_size;
		len = (uint64_t)run->len * r->block_size;
		if (lo < r->total)
			return 1; /* overlapping runs: damaged, let libtsk say what it makes of it
				   */
		if (lo > r->total && runs_add(r, SOURCE_SPARSE, (lo < size ? lo : size) - r->total))
			return r->oom ? -1 : 1;
		if (r->total >= size)
			break;
		if (len > size - r->total)
			len = size - r->total;
		if (run->flags & (TSK_FS_ATTR_RUN_FLAG_SPARSE | TSK_FS_ATTR_RUN_FLAG_FILLER)) {
			at = SOURCE_SPARSE;
		} else {
			/* A run past the end of the filesystem: libtsk reports the read error. */
			if (run->addr > (uint64_t)fs->last_block ||
			    run->len > (uint64_t)fs->last_block - run->addr + 1)
				return 1;
			at = r->fs_off + (uint64_t)run->addr * r->block_size;
		}
		if (runs_add(r, at, len) < 0)
			return r->oom ? -1 : 1;
	}
	if (r->total < size && runs_add(r, SOURCE_SPARSE, size - r->total) < 0)
		return r->oom ? -1 : 1;
	return 0;
}

int
source_file_runs(const struct source_fs *f, void *tsk_file, uint64_t size, size_t max_runs,
		 struct source_run **runs, size_t *nruns, struct dt_err *err)
{
	struct runs_ctx r;
	TSK_FS_FILE *file = tsk_file;
	int rc;

	*runs = NULL;
	*nruns = 0;
	memset(&r, 0, sizeof(r));
	r.fs_off = f->offset;
	r.block_size = f->block_size;
	r.max = max_runs;
	if (size == 0)
		return 0;
	if (f->tsk_fs == NULL || r.block_size == 0)
		return 1;
	if (TSK_FS_TYPE_ISEXT(((TSK_FS_INFO *)f->tsk_fs)->ftype)) {
		rc = ext_runs(&r, file, size);
		if (rc < 0) {
			free(r.v);
			return dt_fail(err, DT_ENOMEM, "out of memory");
		}
		if (rc == 0) {
			*runs = r.v;
			*nruns = r.n;
			return 0;
		}
		free(r.v);
		memset(&r, 0, sizeof(r));
		r.fs_off = f->offset;
		r.block_size = f->block_size;
		r.max = max_runs;
	}
	if (tsk_fs_file_walk(tsk_file, TSK_FS_FILE_WALK_FLAG_AONLY, runs_cb, &r) != 0)
		r.need_tsk = 1;
	tsk_error_reset();
	if (r.oom) {
		free(r.v);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	if (r.need_tsk || r.total != size) {
		free(r.v);
		return 1;
	}
	*runs = r.v;
	*nruns = r.n;
	return 0;
}

ssize_t
source_read_file(struct source *s, size_t fsi, uint64_t inode, const char *path, uint64_t off,
		 void *buf, size_t len, struct dt_err *err)
{
	const struct source_fs *f = source_fs(s, fsi);
	TSK_FS_FILE *file;
	ssize_t n;
	size_t done = 0;

	if (f == NULL)
		return dt_fail(err, DT_EBUG, "no filesystem %zu", fsi);
	if (f->xfs)
		return read_xfs_file(s, fsi, inode, off, buf, len, err);
	if (f->root) {
		int fd = source_open_beneath(s, fsi, path);
		if (fd < 0)
			return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
		while (done < len) {
			n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
				close(fd);
				return -1;
			}
			if (n == 0)
				break;
			done += (size_t)n;
		}
		close(fd);
		return (ssize_t)done;
	}
	source_lock(s);
	file = tsk_fs_file_open_meta(f->tsk_fs, NULL, (TSK_INUM_T)inode);
	if (file == NULL || file->meta == NULL) {
		char why[200];
		source_tsk_error(why, sizeof(why));
		tsk_fs_file_close(file);
		source_unlock(s);
		return dt_fail(err, DT_EIO, "cannot open inode %llu: %s", (unsigned long long)inode,
			       why);
	}
	if (file->meta->size <= 0 || off >= (uint64_t)file->meta->size) {
		tsk_fs_file_close(file);
		source_unlock(s);
		return 0;
	}
	if (len > (uint64_t)file->meta->size - off)
		len = (size_t)((uint64_t)file->meta->size - off);
	while (done < len) {
		n = tsk_fs_file_read(file, (TSK_OFF_T)(off + done), (char *)buf + done, len - done,
				     TSK_FS_FILE_READ_FLAG_NONE);
		if (n <= 0) {
			char why[200];
			source_tsk_error(why, sizeof(why));
			tsk_fs_file_close(file);
			source_unlock(s);
			return dt_fail(err, DT_EIO, "read error at byte %llu of inode %llu: %s",
				       (unsigned long long)(off + done), (unsigned long long)inode,
				       why);
		}
		done += (size_t)n;
	}
	tsk_fs_file_close(file);
	source_unlock(s);
	return (ssize_t)done;
}
