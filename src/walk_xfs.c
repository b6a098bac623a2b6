/*
 * walk_xfs.c - XFS filesystems read raw by our own reader (xfs.h), one directory at a time;
 * each regular file is mapped here into block runs from the inode in hand. See walk_int.h.
 * Names left in the free space of directory blocks become deleted names (HTREE_F_DELETED),
 * as libtsk's unallocated names do on ext4. With WALK_INCLUDE_META, the allocated inodes
 * that no name reached (a file deleted while still open, on the AGI's unlinked lists in a
 * snapshot of a running system; a subtree cut off from the root) are added flat under
 * /$OrphanFiles, named OrphanFile-INODE as libtsk names ext4's. Every AG's AGF is verified
 * first (nothing read depends on it; a damaged one is an error naming the AG).
 */
#include "walk_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xfs.h"

#include "banned.h"

#define ORPHAN_DIR  "$OrphanFiles"
#define AGF_REPORTS 16

/* The inodes names reached (with WALK_INCLUDE_META), to find the orphans. */
struct xfs_seen {
	uint64_t *v; /* owned */
	size_t n, cap;
};

struct xfs_walkdir {
	struct walker *w;
	struct xfs_inode *ip; /* scratch for each child */
	char *lbuf;
	struct subdirs subs;
	struct xfs_seen *seen; /* NULL without WALK_INCLUDE_META */
};

static void
seen_add(struct walker *w, struct xfs_seen *s, uint64_t ino)
{
	if (s != NULL && BUF_GROW(s->v, s->n + 1, s->cap, w->err) < 0) {
		w->failed = 1;
		return;
	}
	if (s != NULL)
		s->v[s->n++] = ino;
}

/* The tree's type of an XFS directory entry's file type (XFS_DIR3_FT_*). */
static uint8_t
ftype_type(uint8_t ft)
{
	static const uint8_t t[] = { HTREE_OTHER, HTREE_REG,  HTREE_DIR,  HTREE_CHR,
				     HTREE_BLK,   HTREE_FIFO, HTREE_SOCK, HTREE_LNK };

	return ft < sizeof(t) ? t[ft] : HTREE_OTHER;
}

/* The inode's four times, clamped to what the tree holds (HTREE_TIME_MIN ... _MAX). */
static void
xfs_times(struct htree_entry *e, const struct xfs_inode *ip)
{
	htree_set_time(e, HTREE_MTIME, htree_time_make(ip->mtime.s, ip->mtime.ns));
	htree_set_time(e, HTREE_ATIME, htree_time_make(ip->atime.s, ip->atime.ns));
	htree_set_time(e, HTREE_CTIME, htree_time_make(ip->ctime.s, ip->ctime.ns));
	htree_set_time(e, HTREE_CRTIME, htree_time_make(ip->crtime.s, ip->crtime.ns));
}

/*
 * A name found in a directory block's free space: kept, never hashed or descended. Its
 * inode's owner and times where that inode is free and not reused since (XFS frees an
 * inode with mode 0 and no size or extents, but leaves those).
 */
static void
xfs_deleted_name(struct xfs_walkdir *c, uint64_t ino, uint8_t ftype)
{
	struct walker *w = c->w;
	struct htree_entry e;
	struct dt_err err = { 0 };
	int64_t idx;

	memset(&e, 0, sizeof(e));
	e.flags = HTREE_F_DELETED;
	e.type = ftype_type(ftype);
	e.inode = ino;
	htree_clear_times(&e);
	if (ino != 0 && xfs_inode_read_free(w->sfs->xfs, ino, c->ip, &err) == 1) {
		e.uid = c->ip->uid;
		e.gid = c->ip->gid;
		xfs_times(&e, c->ip);
	}
	walk_add_entry(w, &e, &idx);
}

static void
xfs_fields(struct htree_entry *e, const struct xfs_inode *ip)
{
	e->type = walk_host_type((mode_t)ip->mode);
	e->mode = ip->mode & 07777;
	e->uid = ip->uid;
	e->gid = ip->gid;
	e->nlink = ip->nlink;
	e->size = ip->size;
	e->inode = ip->ino;
	xfs_times(e, ip);
}

/* The entry of the inode in c->ip at the current path; subs: where a directory goes, if any. */
static void
xfs_add(struct xfs_walkdir *c, struct subdirs *subs, const char *name, size_t len)
{
	struct walker *w = c->w;
	struct htree_entry e;
	struct dt_err err = { 0 };
	size_t llen;
	int64_t idx;

	memset(&e, 0, sizeof(e));
	xfs_fields(&e, c->ip);
	if (e.type == HTREE_LNK) {
		if (xfs_readlink(w->sfs->xfs, c->ip, c->lbuf, &llen, &err) == 0) {
			e.link = c->lbuf;
			e.link_len = (uint32_t)llen;
		} else {
			walk_report(w, (const char *)w->path.data, w->path.len,
				    "cannot read the symlink's target: %s", err.msg);
		}
	}
	if (walk_add_entry(w, &e, &idx) == 0) {
		if (e.type == HTREE_REG)
			/* Allocated bytes as stat's st_blocks says them (dir: sources agree). */
			walk_queue_file(w, (size_t)idx, htree_at(w->t, (size_t)idx), NULL, c->ip,
					c->ip->nblocks > UINT64_MAX / w->sfs->block_size
						? UINT64_MAX
						: c->ip->nblocks * w->sfs->block_size);
		if (e.type == HTREE_DIR && subs != NULL)
			walk_subdirs_add(w, subs, c->ip->ino, name, len);
	}
}

static int
xfs_name(void *ctx, const char *name, size_t len, uint64_t ino, uint8_t ftype, int deleted)
{
	struct xfs_walkdir *c = ctx;
	struct walker *w = c->w;
	struct dt_err err = { 0 };
	size_t old;

	/* Otherwise the inode's mode is the truth, not ftype. */
	if (walk_path_push(w, name, len, &old) < 0) {
		walk_path_too_long(w, old);
		return 0;
	}
	if (deleted) {
		xfs_deleted_name(c, ino, ftype);
		walk_path_pop(w, old);
		return w->failed ? 1 : 0;
	}
	seen_add(w, c->seen, ino);
	if (xfs_inode_read(w->sfs->xfs, ino, c->ip, &err) < 0) {
		walk_report(w, (const char *)w->path.data, w->path.len, "%s", err.msg);
		walk_path_pop(w, old);
		return 0;
	}
	xfs_add(c, &c->subs, name, len);
	walk_path_pop(w, old);
	return w->failed ? 1 : 0;
}

static void
walk_xfs_dir(struct walker *w, uint64_t ino, int depth, char *lbuf, struct xfs_seen *seen)
{
	struct xfs_walkdir c;
	struct dt_err err = { 0 };

	if (w->failed || walk_too_deep(w, depth))
		return;
	memset(&c, 0, sizeof(c));
	c.w = w;
	c.lbuf = lbuf;
	c.seen = seen;
	c.ip = malloc(2 * sizeof(*c.ip));
	walk_subdirs_init(&c.subs);
	if (c.ip == NULL) {
		walk_oom(w);
		return;
	}
	/* The names first, then each subdirectory: the directory's inode and one for its
	 * children, per level. */
	if (xfs_inode_read(w->sfs->xfs, ino, &c.ip[1], &err) < 0 ||
	    xfs_dir_read(w->sfs->xfs, &c.ip[1], xfs_name, &c, &err) < 0)
		walk_report(w, (const char *)w->path.data, w->path.len, "cannot read directory: %s",
			    err.msg);
	free(c.ip);
	for (size_t i = 0; i < c.subs.n && !w->failed; i++) {
		size_t old;

		if (!walk_subdirs_enter(w, &c.subs, i, &old))
			continue;
		if (walk_first_visit(w, c.subs.v[i].inum))
			walk_xfs_dir(w, c.subs.v[i].inum, depth + 1, lbuf, seen);
		walk_path_pop(w, old);
	}
	walk_subdirs_release(&c.subs);
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct xfs_orphans {
	const struct xfs_seen *seen; /* sorted */
	struct xfs_seen found;       /* owned */
	struct walker *w;
};

static int
orphan_cb(void *ctx, uint64_t ino)
{
	struct xfs_orphans *o = ctx;

	if (bsearch(&ino, o->seen->v, o->seen->n, sizeof(ino), u64_cmp) == NULL)
		seen_add(o->w, &o->found, ino);
	return o->w->failed ? 1 : 0;
}

/* The allocated inodes no name reached, flat under /$OrphanFiles; directories not walked. */
static void
walk_xfs_orphans(struct walker *w, struct xfs_seen *seen, char *lbuf)
{
	struct xfs_orphans o = { .seen = seen, .w = w };
	struct xfs_walkdir c;
	struct dt_err err = { 0 };
	struct htree_entry e;
	size_t old;
	int64_t idx;

	qsort(seen->v, seen->n, sizeof(*seen->v), u64_cmp);
	if (xfs_inodes(w->sfs->xfs, orphan_cb, &o, &err) < 0)
		walk_report(w, NULL, 0, "cannot list every allocated inode: %s", err.msg);
	memset(&c, 0, sizeof(c));
	c.w = w;
	c.lbuf = lbuf;
	c.ip = malloc(sizeof(*c.ip));
	if (c.ip == NULL) {
		walk_oom(w);
		goto out;
	}
	if (o.found.n == 0 || w->failed ||
	    walk_path_push(w, ORPHAN_DIR, sizeof(ORPHAN_DIR) - 1, &old) < 0)
		goto out;
	/* The folder is not on disk: no mode, owner or times of its own, as libtsk's. */
	memset(&e, 0, sizeof(e));
	e.type = HTREE_DIR;
	htree_clear_times(&e);
	if (walk_add_entry(w, &e, &idx) < 0)
		goto out;
	for (size_t i = 0; i < o.found.n && !w->failed; i++) {
		char name[40];
		size_t in;
		int len = snprintf(name, sizeof(name), "OrphanFile-%llu",
				   (unsigned long long)o.found.v[i]);

		if (walk_path_push(w, name, (size_t)len, &in) < 0) {
			walk_path_too_long(w, in);
			continue;
		}
		if (xfs_inode_read(w->sfs->xfs, o.found.v[i], c.ip, &err) < 0)
			walk_report(w, (const char *)w->path.data, w->path.len, "%s", err.msg);
		else
			xfs_add(&c, NULL, name, (size_t)len);
		walk_path_pop(w, in);
	}
	walk_path_pop(w, old);
out:
	free(c.ip);
	free(o.found.v);
}

int
walk_xfs(struct walker *w)
{
	struct xfs *x = w->sfs->xfs;
	struct xfs_inode *root = malloc(sizeof(*root));
	char *lbuf = malloc(XFS_MAX_LINK + 1);
	struct htree_entry e;
	struct dt_err err = { 0 };
	struct xfs_seen seen = { 0 };
	int meta = (w->o->flags & WALK_INCLUDE_META) != 0;
	int64_t idx;

	if (root == NULL || lbuf == NULL) {
		free(root);
		free(lbuf);
		return dt_fail(w->err, DT_ENOMEM, "out of memory");
	}
	buf_reset(&w->path);
	if (buf_addc(&w->path, '/', NULL) < 0) {
		free(root);
		free(lbuf);
		return walk_oom(w);
	}
	/* The AGFs are not needed for any entry, only checked: a damaged one is an error (the
	 * first AGF_REPORTS one each, then their count: a hostile superblock may claim many). */
	for (uint32_t agno = 0, bad = 0; agno < xfs_ag_count(x); agno++) {
		struct dt_err agf = { 0 };

		if (xfs_agf_check(x, agno, &agf) < 0 && ++bad <= AGF_REPORTS)
			walk_report(w, NULL, 0, "%s", agf.msg);
		if (agno + 1 == xfs_ag_count(x) && bad > AGF_REPORTS)
			walk_report(w, NULL, 0, "%u more damaged AGFs not listed",
				    bad - AGF_REPORTS);
	}
	if (xfs_inode_read(x, xfs_root(x), root, &err) < 0 || (root->mode & S_IFMT) != S_IFDIR) {
		walk_report(w, NULL, 0, "cannot read the root directory: %s",
			    err.msg[0] ? err.msg : "not a directory");
	} else {
		memset(&e, 0, sizeof(e));
		xfs_fields(&e, root);
		seen_add(w, meta ? &seen : NULL, root->ino);
		if (walk_add_entry(w, &e, &idx) == 0 && walk_first_visit(w, root->ino))
			walk_xfs_dir(w, root->ino, 0, lbuf, meta ? &seen : NULL);
		if (meta && !w->failed)
			walk_xfs_orphans(w, &seen, lbuf);
	}
	free(seen.v);
	free(root);
	free(lbuf);
	return w->failed ? -1 : 0;
}
