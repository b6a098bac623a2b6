/*
 * walk_xfs.c - XFS filesystems read raw by our own reader (xfs.h), one directory at a time;
 * each regular file is mapped here into block runs from the inode in hand. See walk_int.h.
 */
#include "walk_int.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "xfs.h"

#include "banned.h"

struct xfs_walkdir {
	struct walker *w;
	struct xfs_inode *ip; /* scratch for each child */
	char *lbuf;
	struct subdirs subs;
};

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
	e->mtime = ip->mtime;
	e->atime = ip->atime;
	e->ctime = ip->ctime;
	e->crtime = ip->crtime;
}

static int
xfs_name(void *ctx, const char *name, size_t len, uint64_t ino, uint8_t ftype)
{
	struct xfs_walkdir *c = ctx;
	struct walker *w = c->w;
	struct htree_entry e;
	struct dt_err err = { 0 };
	size_t old, llen;
	int64_t idx;

	(void)ftype; /* the inode's mode is the truth */
	if (walk_path_push(w, name, len, &old) < 0) {
		walk_path_too_long(w, old);
		return 0;
	}
	if (xfs_inode_read(w->sfs->xfs, ino, c->ip, &err) < 0) {
		walk_report(w, (const char *)w->path.data, w->path.len, "%s", err.msg);
		walk_path_pop(w, old);
		return 0;
	}
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
		if (e.type == HTREE_DIR)
			walk_subdirs_add(w, &c->subs, ino, name, len);
	}
	walk_path_pop(w, old);
	return w->failed ? 1 : 0;
}

static void
walk_xfs_dir(struct walker *w, uint64_t ino, int depth, char *lbuf)
{
	struct xfs_walkdir c;
	struct dt_err err = { 0 };

	if (w->failed || walk_too_deep(w, depth))
		return;
	memset(&c, 0, sizeof(c));
	c.w = w;
	c.lbuf = lbuf;
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
			walk_xfs_dir(w, c.subs.v[i].inum, depth + 1, lbuf);
		walk_path_pop(w, old);
	}
	walk_subdirs_release(&c.subs);
}

int
walk_xfs(struct walker *w)
{
	struct xfs *x = w->sfs->xfs;
	struct xfs_inode *root = malloc(sizeof(*root));
	char *lbuf = malloc(XFS_MAX_LINK + 1);
	struct htree_entry e;
	struct dt_err err = { 0 };
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
	if (xfs_inode_read(x, xfs_root(x), root, &err) < 0 || (root->mode & S_IFMT) != S_IFDIR) {
		walk_report(w, NULL, 0, "cannot read the root directory: %s",
			    err.msg[0] ? err.msg : "not a directory");
	} else {
		memset(&e, 0, sizeof(e));
		xfs_fields(&e, root);
		if (walk_add_entry(w, &e, &idx) == 0 && walk_first_visit(w, root->ino))
			walk_xfs_dir(w, root->ino, 0, lbuf);
	}
	free(root);
	free(lbuf);
	return w->failed ? -1 : 0;
}
