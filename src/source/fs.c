/*
 * fs.c - the volumes and filesystems of an image: the partition table (libtsk), each
 * partition tried with our XFS reader (xfs.h) and then libtsk; a filesystem's UUID and
 * label from its superblock; what could not be read, with a guess at what it is and how to
 * read it anyway. See source_int.h.
 */
#include "source/source_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tsk/libtsk.h>

#include "buf.h"
#include "xfs.h"

#include "banned.h"

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
void
source_fs_identity(const char *type, const unsigned char *b, size_t n, char *uuid, size_t usize,
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
		source_fs_identity(f->type, b, (size_t)n, f->uuid, sizeof(f->uuid), f->label,
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

/* Try one filesystem at a byte offset; on failure record why under name. */
int
source_try_fs(struct source *s, uint64_t off, uint64_t size, const char *name)
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
int
source_offset_in_sectors(struct source *s, uint64_t off, char *type, size_t n)
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

int
source_open_volumes(struct source *s)
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
		source_try_fs(s, off, size, name);
	}
	return 0;
}
