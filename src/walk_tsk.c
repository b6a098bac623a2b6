/*
 * walk_tsk.c - the filesystems libtsk reads (ext2/3/4, NTFS, FAT, exFAT, HFS+, ISO 9660,
 * ...): their directories walked by inode, names left in unallocated space kept as deleted
 * entries, and ext's times decoded from the inodes themselves. See walk_int.h.
 */
#include "walk_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tsk/libtsk.h>

#include "buf.h"

#include "banned.h"

static struct htree_time
ns_time(time_t s, uint32_t ns)
{
	if (s == 0 && ns == 0)
		return (struct htree_time){ HTREE_NO_TIME, 0 };
	return htree_time_make((int64_t)s, (int64_t)ns);
}

static uint8_t
tsk_type(TSK_FS_META_TYPE_ENUM t, int include_meta)
{
	switch (t) {
	case TSK_FS_META_TYPE_REG: return HTREE_REG;
	case TSK_FS_META_TYPE_DIR: return HTREE_DIR;
	case TSK_FS_META_TYPE_LNK: return HTREE_LNK;
	case TSK_FS_META_TYPE_CHR: return HTREE_CHR;
	case TSK_FS_META_TYPE_BLK: return HTREE_BLK;
	case TSK_FS_META_TYPE_FIFO: return HTREE_FIFO;
	case TSK_FS_META_TYPE_SOCK: return HTREE_SOCK;
	case TSK_FS_META_TYPE_VIRT: return include_meta ? HTREE_REG : 0;
	case TSK_FS_META_TYPE_VIRT_DIR: return include_meta ? HTREE_DIR : 0;
	default: return HTREE_OTHER;
	}
}

static uint8_t
name_type(TSK_FS_NAME_TYPE_ENUM t)
{
	switch (t) {
	case TSK_FS_NAME_TYPE_REG: return HTREE_REG;
	case TSK_FS_NAME_TYPE_DIR: return HTREE_DIR;
	case TSK_FS_NAME_TYPE_LNK: return HTREE_LNK;
	case TSK_FS_NAME_TYPE_CHR: return HTREE_CHR;
	case TSK_FS_NAME_TYPE_BLK: return HTREE_BLK;
	case TSK_FS_NAME_TYPE_FIFO: return HTREE_FIFO;
	case TSK_FS_NAME_TYPE_SOCK: return HTREE_SOCK;
	default: return HTREE_OTHER;
	}
}

#define EXT_INCOMPAT_META_BG 0x10
#define EXT_INCOMPAT_64BIT   0x80
/*
 * The inode table is read in windows of this many bytes (256 inodes of 256 bytes): the walk
 * meets inodes nearly in table order, so one read serves many entries, not one per block.
 */
#define EXT_TIME_WINDOW (64u * 1024)

/* Read the superblock of the ext filesystem being walked; w->ext.ok says if it made sense. */
static void
ext_open(struct walker *w)
{
	struct ext_geo *x = &w->ext;
	unsigned char sb[1024];
	uint32_t log, incompat, bpg, first;
	uint64_t blocks;

	free(x->block);
	memset(x, 0, sizeof(*x));
	if (source_read(w->src, w->sfs->offset + 1024, sb, sizeof(sb), NULL) != sizeof(sb) ||
	    buf_le16(sb + 56) != 0xef53)
		return;
	log = buf_le32(sb + 24);
	first = buf_le32(sb + 20);
	bpg = buf_le32(sb + 32);
	incompat = buf_le32(sb + 96);
	blocks = buf_le32(sb + 4);
	if (incompat & EXT_INCOMPAT_64BIT)
		blocks |= (uint64_t)buf_le32(sb + 0x150) << 32;
	if (log > 6 || bpg == 0 || first > 1 || blocks <= first)
		return;
	x->bs = 1024u << log;
	x->ninodes = buf_le32(sb);
	x->ipg = buf_le32(sb + 40);
	x->isz = buf_le32(sb + 76) >= 1 ? buf_le16(sb + 88) : 128;
	x->dsz = (incompat & EXT_INCOMPAT_64BIT) ? buf_le16(sb + 254) : 32;
	x->blocks = blocks;
	x->ngroups = (blocks - first + bpg - 1) / bpg;
	x->gdt = (uint64_t)(first + 1) * x->bs;
	/* meta_bg scatters the descriptors: those filesystems keep libtsk's times. */
	if ((incompat & EXT_INCOMPAT_META_BG) || x->ipg == 0 || x->isz < 128 || x->isz > x->bs ||
	    (x->isz & (x->isz - 1)) || x->dsz < 32 || x->dsz > x->bs || (x->dsz & (x->dsz - 1)))
		return;
	x->block = malloc(EXT_TIME_WINDOW);
	x->group = UINT64_MAX;
	x->ok = x->block != NULL;
}

/* seconds: the signed 32-bit field; extra: its _extra word (epoch bits, nanoseconds). */
static struct htree_time
ext_time(const unsigned char *p, const unsigned char *extra)
{
	int64_t s = (int32_t)buf_le32(p);
	uint32_t x;

	if (extra == NULL)
		return htree_time_make(s, 0);
	x = buf_le32(extra);
	/* As the kernel's ext4_decode_extra_time(): the low two bits extend the seconds. */
	s += (int64_t)(x & 3) << 32;
	return htree_time_make(s, (int64_t)((x >> 2) % 1000000000));
}

/* Replace libtsk's times of e by the inode's own; leaves them as they are on any doubt. */
static void
ext_times(struct walker *w, struct htree_entry *e)
{
	struct ext_geo *x = &w->ext;
	uint64_t i = e->inode - 1, g, off, blk;
	const unsigned char *in;
	unsigned extra;

	if (!x->ok || e->inode == 0 || e->inode > x->ninodes)
		return;
	g = i / x->ipg;
	if (g >= x->ngroups)
		return;
	if (g != x->group) {
		unsigned char d[64];
		uint64_t t;

		if (source_read(w->src, w->sfs->offset + x->gdt + g * x->dsz, d,
				x->dsz > 32 ? 64 : 32, NULL) != (x->dsz > 32 ? 64 : 32))
			return;
		t = buf_le32(d + 8);
		if (x->dsz > 32)
			t |= (uint64_t)buf_le32(d + 0x28) << 32;
		if (t >= x->blocks)
			return;
		x->group = g;
		x->table = t;
	}
	off = x->table * x->bs + (i % x->ipg) * x->isz;
	blk = off - off % EXT_TIME_WINDOW;
	if (x->cached != blk + 1 || off % EXT_TIME_WINDOW + x->isz > x->have) {
		/* Past the table's end the window holds other blocks, or the image ends: only the
		 * inode's own bytes must be there. */
		ssize_t got =
			source_read(w->src, w->sfs->offset + blk, x->block, EXT_TIME_WINDOW, NULL);

		x->cached = 0;
		if (got < 0 || off % EXT_TIME_WINDOW + x->isz > (uint64_t)got)
			return;
		x->cached = blk + 1;
		x->have = (size_t)got;
	}
	in = x->block + off % EXT_TIME_WINDOW;
	/* i_extra_isize says which of the extra fields (ctime, mtime, atime, crtime) exist. */
	extra = x->isz > 128 ? buf_le16(in + 0x80) : 0;
	if (128 + extra > x->isz)
		extra = 0;
	htree_set_time(e, HTREE_ATIME, ext_time(in + 0x08, extra >= 16 ? in + 0x8c : NULL));
	htree_set_time(e, HTREE_CTIME, ext_time(in + 0x0c, extra >= 8 ? in + 0x84 : NULL));
	htree_set_time(e, HTREE_MTIME, ext_time(in + 0x10, extra >= 12 ? in + 0x88 : NULL));
	if (extra >= 24)
		htree_set_time(e, HTREE_CRTIME, ext_time(in + 0x90, in + 0x94));
	else
		htree_set_time(e, HTREE_CRTIME, (struct htree_time){ HTREE_NO_TIME, 0 });
}

static void
meta_fields(struct walker *w, struct htree_entry *e, const TSK_FS_META *m)
{
	e->mode = (uint32_t)m->mode & 07777;
	e->uid = (uint32_t)m->uid;
	e->gid = (uint32_t)m->gid;
	e->nlink = (uint32_t)m->nlink;
	e->size = m->size > 0 ? (uint64_t)m->size : 0;
	e->inode = (uint64_t)m->addr;
	htree_set_time(e, HTREE_MTIME, ns_time(m->mtime, m->mtime_nano));
	htree_set_time(e, HTREE_ATIME, ns_time(m->atime, m->atime_nano));
	htree_set_time(e, HTREE_CTIME, ns_time(m->ctime, m->ctime_nano));
	htree_set_time(e, HTREE_CRTIME, ns_time(m->crtime, m->crtime_nano));
	if (w->ext.ok)
		ext_times(w, e);
}

/*
 * Append "/name" to the current path (the root is "/"); *old is the length to pop back to,
 * also on failure (the path would pass HTREE_MAX_PATH: walk_path_too_long()).
 */

static void walk_tsk_dir(struct walker *w, TSK_INUM_T inum, int depth);

/*
 * The entries libtsk makes of exFAT's special directory entries in the root: the allocation
 * bitmap, the up-case table, the volume GUID and TexFAT ones ("$NAME"), and the volume label
 * ("LABEL (Volume Label Entry)"). Like NTFS's $ files: filesystem metadata, not files.
 */
static int
exfat_meta_name(const char *n, size_t len)
{
	static const char *const names[] = { "$ALLOC_BITMAP", "$UPCASE_TABLE", "$VOLUME_GUID",
					     "$TEX_FAT", NULL };
	static const char label[] = " (Volume Label Entry)";

	for (const char *const *k = names; *k; k++)
		if (strcmp(n, *k) == 0)
			return 1;
	return len >= sizeof(label) - 1 &&
	       memcmp(n + len - (sizeof(label) - 1), label, sizeof(label) - 1) == 0;
}

static void
tsk_entry(struct walker *w, TSK_FS_FILE *f, int depth, struct subdirs *subs)
{
	const TSK_FS_NAME *nm = f->name;
	const TSK_FS_META *m = f->meta;
	struct htree_entry e;
	size_t old, nlen = strlen(nm->name);
	int include_meta = (w->o->flags & WALK_INCLUDE_META) != 0;
	int64_t idx;

	memset(&e, 0, sizeof(e));
	if (!include_meta) {
		if (m && (m->type == TSK_FS_META_TYPE_VIRT || m->type == TSK_FS_META_TYPE_VIRT_DIR))
			return;
		/* NTFS system files ($MFT, $Extend, ...) live in the root and start with '$'. */
		if (w->is_ntfs && depth == 0 && nm->name[0] == '$')
			return;
		if (w->is_exfat && depth == 0 && exfat_meta_name(nm->name, nlen))
			return;
	}
	if (walk_path_push(w, nm->name, nlen, &old) < 0) {
		walk_path_too_long(w, old);
		return;
	}
	if (!(nm->flags & TSK_FS_NAME_FLAG_ALLOC)) {
		/* A name left in unallocated directory space: kept, never hashed. */
		e.flags = HTREE_F_DELETED;
		e.type = name_type(nm->type);
		e.inode = (uint64_t)nm->meta_addr;
		htree_clear_times(&e);
		if (m && m->addr == nm->meta_addr && !(m->flags & TSK_FS_META_FLAG_ALLOC)) {
			meta_fields(w, &e, m);
			e.type = tsk_type(m->type, 1);
			if (e.type == 0)
				e.type = HTREE_OTHER;
		}
		walk_add_entry(w, &e, &idx);
		walk_path_pop(w, old);
		return;
	}
	if (m == NULL) {
		walk_report(w, (const char *)w->path.data, w->path.len,
			    "no metadata for this name (inode %llu)",
			    (unsigned long long)nm->meta_addr);
		walk_path_pop(w, old);
		return;
	}
	meta_fields(w, &e, m);
	e.type = tsk_type(m->type, include_meta);
	char *lbuf = NULL;
	if (m->link && e.type == HTREE_LNK) {
		e.link = m->link;
		e.link_len = (uint32_t)strnlen(m->link, HTREE_MAX_LINK);
	} else if (e.type == HTREE_LNK && e.size > 0 && e.size <= HTREE_MAX_LINK) {
		/* libtsk leaves a target stored in a data block (ext4 extents) unread: read it. */
		lbuf = malloc(e.size + 1);
		if (lbuf && tsk_fs_file_read(f, 0, lbuf, e.size, TSK_FS_FILE_READ_FLAG_NONE) ==
				    (ssize_t)e.size) {
			e.link = lbuf;
			e.link_len = (uint32_t)strnlen(lbuf, e.size);
		} else {
			tsk_error_reset();
			walk_report(w, (const char *)w->path.data, w->path.len,
				    "cannot read the symlink's target");
		}
	}
	if (walk_add_entry(w, &e, &idx) == 0) {
		if (e.type == HTREE_REG)
			walk_queue_file(w, (size_t)idx, htree_at(w->t, (size_t)idx), f, NULL,
					UINT64_MAX);
		if (e.type == HTREE_DIR)
			walk_subdirs_add(w, subs, (uint64_t)m->addr, nm->name, nlen);
	}
	free(lbuf);
	walk_path_pop(w, old);
}

static void
walk_tsk_dir(struct walker *w, TSK_INUM_T inum, int depth)
{
	TSK_FS_DIR *dir;
	struct subdirs subs;

	if (w->failed || walk_too_deep(w, depth))
		return;
	dir = tsk_fs_dir_open_meta(w->fs, inum);
	if (dir == NULL) {
		const char *m = tsk_error_get();
		walk_report(w, (const char *)w->path.data, w->path.len, "cannot read directory: %s",
			    m && *m ? m : "unknown libtsk error");
		tsk_error_reset();
		return;
	}
	walk_subdirs_init(&subs);
	for (size_t i = 0; i < tsk_fs_dir_getsize(dir) && !w->failed; i++) {
		TSK_FS_FILE *f = tsk_fs_dir_get(dir, i);

		if (f == NULL) {
			tsk_error_reset();
			continue;
		}
		if (f->name && f->name->name && !TSK_FS_ISDOT(f->name->name) && f->name->name[0])
			tsk_entry(w, f, depth, &subs);
		tsk_fs_file_close(f);
	}
	tsk_fs_dir_close(dir);
	for (size_t i = 0; i < subs.n && !w->failed; i++) {
		size_t old;

		if (!walk_subdirs_enter(w, &subs, i, &old))
			continue;
		if (walk_first_visit(w, subs.v[i].inum))
			walk_tsk_dir(w, (TSK_INUM_T)subs.v[i].inum, depth + 1);
		walk_path_pop(w, old);
	}
	walk_subdirs_release(&subs);
}

int
walk_tsk(struct walker *w)
{
	TSK_FS_FILE *root;
	struct htree_entry e;
	int64_t idx;

	w->fs = w->sfs->tsk_fs;
	w->is_ntfs = TSK_FS_TYPE_ISNTFS(w->fs->ftype) != 0;
	w->is_exfat = w->fs->ftype == TSK_FS_TYPE_EXFAT;
	if (TSK_FS_TYPE_ISEXT(w->fs->ftype))
		ext_open(w);
	else
		w->ext.ok = 0;
	root = tsk_fs_file_open_meta(w->fs, NULL, w->fs->root_inum);
	if (root == NULL || root->meta == NULL) {
		const char *m = tsk_error_get();
		walk_report(w, NULL, 0, "cannot read the root directory: %s", m ? m : "?");
		tsk_error_reset();
		tsk_fs_file_close(root);
		return 0;
	}
	memset(&e, 0, sizeof(e));
	meta_fields(w, &e, root->meta);
	e.type = HTREE_DIR;
	tsk_fs_file_close(root);
	buf_reset(&w->path);
	if (buf_addc(&w->path, '/', NULL) < 0 ||
	    walk_map_put(&w->visited, (uint64_t)w->fs->root_inum, 1) < 0)
		return walk_oom(w);
	if (walk_add_entry(w, &e, &idx) < 0)
		return -1;
	walk_tsk_dir(w, w->fs->root_inum, 0);
	return w->failed ? -1 : 0;
}
