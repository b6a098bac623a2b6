/*
 * ops.c - the FUSE view's answers to libfuse: paths resolved in the sealed tree,
 * attributes, listings, reads (spliced from the image where it can), and EROFS for writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "diff.h"
#include "events.h"
#include "fusefs/fusefs_int.h"

#include "banned.h"

/* ---- the view ---- */

static int
resolve(struct fusefs *f, const char *path, struct node *n)
{
	const struct htree_entry *e;
	const struct htree_fs *hf;
	size_t len;
	int fsi = f->single;

	memset(n, 0, sizeof(*n));
	if (path == NULL || path[0] != '/')
		return -ENOENT;
	if (f->delta && strncmp(path, "/.deltair", 9) == 0 && (path[9] == '\0' || path[9] == '/')) {
		if (path[9] == '\0')
			n->kind = N_DELTAIR;
		else if (strcmp(path + 9, "/events.jsonl") == 0)
			n->kind = N_EVENTS;
		else
			return -ENOENT;
		return 0;
	}
	if (fsi < 0) {
		const char *slash = strchr(path + 1, '/');
		size_t nl = slash ? (size_t)(slash - path - 1) : strlen(path + 1);
		char name[sizeof(((struct htree_fs *)0)->name)];

		if (nl == 0) {
			n->kind = N_ROOT;
			return 0;
		}
		if (nl >= sizeof(name))
			return -ENOENT;
		memcpy(name, path + 1, nl);
		name[nl] = '\0';
		fsi = htree_fs_index(f->t, name);
		if (fsi < 0)
			return -ENOENT;
		path = slash ? slash : "/";
	}
	hf = htree_fs(f->t, (size_t)fsi);
	if (hf == NULL || hf->count == 0)
		return -ENOENT;
	len = strlen(path);
	if (len == 1) {
		n->idx = hf->first;
	} else {
		e = htree_find(f->t, (uint32_t)fsi, path, len);
		if (e == NULL)
			return -ENOENT;
		n->idx = entry_index(f, e);
	}
	if (!visible(f, n->idx))
		return -ENOENT;
	n->kind = N_ENTRY;
	n->e = htree_get(f->t, n->idx);
	return 0;
}

static uint64_t
node_fh(const struct node *n)
{
	switch (n->kind) {
	case N_ROOT: return FH_ROOT;
	case N_DELTAIR: return FH_DELTAIR;
	case N_EVENTS: return FH_EVENTS;
	case N_ENTRY: break;
	}
	return (uint64_t)n->idx + 1;
}

/* The node a handle names, or else the path's. */
static int
node_of(struct fusefs *f, const char *path, const struct fuse_file_info *fi, struct node *n)
{
	uint64_t fh = fi ? fi->fh : 0;

	if (fh == 0)
		return resolve(f, path, n);
	memset(n, 0, sizeof(*n));
	if (fh == FH_ROOT)
		n->kind = N_ROOT;
	else if (fh == FH_DELTAIR)
		n->kind = N_DELTAIR;
	else if (fh == FH_EVENTS)
		n->kind = N_EVENTS;
	else if (fh - 1 < htree_count(f->t)) {
		n->kind = N_ENTRY;
		n->idx = (size_t)(fh - 1);
		n->e = htree_get(f->t, n->idx);
	} else {
		return -EBADF;
	}
	return 0;
}

/* An absent time shows as the epoch. */
static struct timespec
to_ts(struct htree_time t)
{
	struct timespec ts = { 0, 0 };

	if (t.s == HTREE_NO_TIME)
		return ts;
	ts.tv_sec = (time_t)t.s;
	ts.tv_nsec = (long)t.ns;
	return ts;
}

static uint64_t
entry_ino(const struct fusefs *f, const struct htree_entry *e)
{
	/* Several filesystems side by side: their inode numbers would collide. */
	if (f->single < 0)
		return (uint64_t)(e->fs + 1) << FS_INO_SHIFT |
		       (e->inode & (((uint64_t)1 << FS_INO_SHIFT) - 1));
	return e->inode;
}

static void
node_stat(struct fusefs *f, const struct node *n, struct stat *st)
{
	const struct htree_entry *e = n->e;

	memset(st, 0, sizeof(*st));
	st->st_atim = st->st_mtim = st->st_ctim = f->born;
	st->st_blksize = 4096;
	switch (n->kind) {
	case N_ROOT:
		st->st_ino = INO_ROOT;
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2 + (nlink_t)htree_nfs(f->t);
		return;
	case N_DELTAIR:
		st->st_ino = INO_DELTAIR;
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return;
	case N_EVENTS:
		st->st_ino = INO_EVENTS;
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t)f->events_len;
		st->st_blocks = (blkcnt_t)((f->events_len + 511) / 512);
		return;
	case N_ENTRY: break;
	}
	st->st_ino = (ino_t)entry_ino(f, e);
	/* An entry of no known type shows as a file, as the least surprising for tools. */
	st->st_mode =
		(htree_type_mode(e->type) ? htree_type_mode(e->type) : S_IFREG) | (e->mode & 07777);
	/* libtsk makes up modes where the disk has none (FAT's root 0000, files 0777 or 0333;
	 * exFAT's 0111): a read-only view shows them as read-only to all (docs/mount.md). */
	if (f->no_modes[e->fs])
		st->st_mode = (st->st_mode & S_IFMT) | (e->type == HTREE_DIR ? 0555 : 0444);
	st->st_nlink = e->nlink ? e->nlink : 1;
	st->st_uid = e->uid;
	st->st_gid = e->gid;
	if (e->type == HTREE_LNK && e->link)
		st->st_size = (off_t)e->link_len;
	else if (e->type == HTREE_OTHER || e->size > INT64_MAX)
		st->st_size = 0;
	else
		st->st_size = (off_t)e->size;
	/* What the image allocated is not in the tree: the size rounded up stands for it. */
	st->st_blocks = (blkcnt_t)(((uint64_t)st->st_size + 511) / 512);
	st->st_atim = to_ts(htree_time_of(e, HTREE_ATIME));
	st->st_mtim = to_ts(htree_time_of(e, HTREE_MTIME));
	st->st_ctim = to_ts(htree_time_of(e, HTREE_CTIME));
	if (e->depth == 0 && e->time_s[HTREE_MTIME] == HTREE_NO_TIME)
		st->st_atim = st->st_mtim = st->st_ctim = to_ts(f->root_times[e->fs]);
}

static struct fusefs *
self(void)
{
	return fuse_get_context()->private_data;
}

/* ---- FUSE operations ---- */

static void *
op_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
	cfg->use_ino = 1;
	cfg->readdir_ino = 0;
	cfg->kernel_cache = 1;
	cfg->auto_cache = 0;
	cfg->entry_timeout = TIMEOUT;
	cfg->attr_timeout = TIMEOUT;
	cfg->negative_timeout = TIMEOUT;
	cfg->nullpath_ok = 1;
	cfg->direct_io = 0;
	cfg->hard_remove = 0;
	/* Large requests: libfuse derives the kernel's max_pages from max_write. */
	conn->max_write = 1u << 20;
	/* The kernel keeps the smaller of this and the window tune_readahead() set. */
	conn->max_readahead = FUSEFS_READAHEAD_KB << 10;
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	/* Mapped content is spliced from the image's page cache (see reply_runs). */
	conn->want |= conn->capable & (FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	return fuse_get_context()->private_data;
}

static int
op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	struct fusefs *f = self();
	struct node n;
	int rc = node_of(f, path, fi, &n);

	if (rc < 0)
		return rc;
	node_stat(f, &n, st);
	return 0;
}

static int
op_readlink(const char *path, char *buf, size_t size)
{
	struct fusefs *f = self();
	struct node n;
	size_t k;
	int rc = resolve(f, path, &n);

	if (rc < 0)
		return rc;
	if (n.kind != N_ENTRY || n.e->type != HTREE_LNK)
		return -EINVAL;
	if (size == 0)
		return -EINVAL;
	if (n.e->link == NULL) {
		struct dt_err err = { 0 };
		ssize_t got;

		/*
		 * The walk did not get the target (libtsk leaves a target kept in a data
		 * block unread): it is the link's content, so read that.
		 */
		if (n.e->size == 0 || n.e->size > HTREE_MAX_LINK)
			return -EIO;
		got = fusefs_read_content(f, n.e, buf, size - 1, 0, &err);
		if (got <= 0)
			return -EIO;
		buf[got] = '\0';
		return 0;
	}
	k = n.e->link_len < size - 1 ? n.e->link_len : size - 1;
	memcpy(buf, n.e->link, k);
	buf[k] = '\0';
	return 0;
}

static int
op_open(const char *path, struct fuse_file_info *fi)
{
	struct fusefs *f = self();
	struct node n;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & (O_TRUNC | O_CREAT)))
		return -EROFS;
	rc = resolve(f, path, &n);
	if (rc < 0)
		return rc;
	if (n.kind == N_ROOT || n.kind == N_DELTAIR ||
	    (n.kind == N_ENTRY && n.e->type == HTREE_DIR))
		return -EISDIR;
	fi->fh = node_fh(&n);
	fi->keep_cache = 1;
	fi->noflush = 1;
	return 0;
}

/* A reply of one memory buffer (libfuse frees it and the vector). */
static int
reply_mem(struct fuse_bufvec **bufp, void *mem, size_t len)
{
	struct fuse_bufvec *v = malloc(sizeof(*v));

	if (v == NULL) {
		free(mem);
		return -ENOMEM;
	}
	*v = (struct fuse_bufvec)FUSE_BUFVEC_INIT(len);
	v->buf[0].mem = mem;
	*bufp = v;
	return 0;
}

/*
 * A mapped file of a raw image: the reply names the image's bytes (descriptor and offset)
 * instead of holding them, so that libfuse can splice them from the page cache to the
 * kernel without a copy through our memory. Holes are zeros in memory.
 */
static int
reply_runs(struct fusefs *f, const struct fslot *s, struct fuse_bufvec **bufp, size_t len,
	   uint64_t off)
{
	size_t lo = fusefs_run_first(s, off), n = 0, r, done = 0;
	struct fuse_bufvec *v;

	for (r = lo; r < s->nruns && s->runs[r].lo < off + len; r++)
		n++;
	if (n == 0)
		return -EIO;
	v = calloc(1, sizeof(*v) + (n - 1) * sizeof(v->buf[0]));
	if (v == NULL)
		return -ENOMEM;
	v->count = n;
	for (size_t i = 0; i < n; i++) {
		const struct source_run *run = &s->runs[lo + i];
		uint64_t in = off + done - run->lo;
		size_t k = len - done;
		struct fuse_buf *b = &v->buf[i];

		if (k > run->len - in)
			k = (size_t)(run->len - in);
		b->size = k;
		if (run->off == SOURCE_SPARSE) {
			b->mem = calloc(1, k ? k : 1);
			if (b->mem == NULL) {
				for (size_t k2 = 0; k2 < i; k2++)
					if (!(v->buf[k2].flags & FUSE_BUF_IS_FD))
						free(v->buf[k2].mem);
				free(v);
				return -ENOMEM;
			}
		} else {
			b->flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK | FUSE_BUF_FD_RETRY;
			b->fd = f->img_fd;
			b->pos = (off_t)(run->off + in);
		}
		done += k;
	}
	*bufp = v;
	return 0;
}

static int
op_read_buf(const char *path, struct fuse_bufvec **bufp, size_t size, off_t off,
	    struct fuse_file_info *fi)
{
	struct fusefs *f = self();
	struct dt_err err = { 0 };
	struct node n;
	struct fslot *s;
	char *mem;
	ssize_t got;
	int rc = node_of(f, path, fi, &n);

	if (rc < 0)
		return rc;
	if (off < 0)
		return -EINVAL;
	if (n.kind == N_EVENTS) {
		size_t k = (uint64_t)off >= f->events_len ? 0 : f->events_len - (size_t)off;
		if (k > size)
			k = size;
		mem = malloc(k ? k : 1);
		if (mem == NULL)
			return -ENOMEM;
		if (k)
			memcpy(mem, f->events + off, k);
		return reply_mem(bufp, mem, k);
	}
	if (n.kind != N_ENTRY)
		return -EISDIR;
	if (n.e->type != HTREE_REG || (uint64_t)off >= n.e->size)
		return reply_mem(bufp, NULL, 0);
	if (size > n.e->size - (uint64_t)off)
		size = (size_t)(n.e->size - (uint64_t)off);
	if (f->img_fd >= 0) {
		s = fusefs_cache_get(f, n.e, &err);
		if (s == NULL)
			return err.code == DT_ENOMEM ? -ENOMEM : -EIO;
		rc = 1;
		if (s->runs && s->in_image)
			rc = reply_runs(f, s, bufp, size, (uint64_t)off);
		fusefs_cache_put(f, s);
		if (rc <= 0)
			return rc;
	}
	mem = malloc(size ? size : 1);
	if (mem == NULL)
		return -ENOMEM;
	got = fusefs_read_content(f, n.e, mem, size, (uint64_t)off, &err);
	/* A read error inside the image fails this read of this file, nothing else. */
	if (got < 0) {
		free(mem);
		return err.code == DT_ENOMEM ? -ENOMEM : -EIO;
	}
	return reply_mem(bufp, mem, (size_t)got);
}

static int
op_opendir(const char *path, struct fuse_file_info *fi)
{
	struct fusefs *f = self();
	struct node n;
	int rc = resolve(f, path, &n);

	if (rc < 0)
		return rc;
	if (n.kind == N_EVENTS || (n.kind == N_ENTRY && n.e->type != HTREE_DIR))
		return -ENOTDIR;
	fi->fh = node_fh(&n);
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	return 0;
}

/* A child's name: the last component of its path. 0 if it cannot be listed. */
static int
child_name(const struct htree_entry *c, char *name)
{
	const char *slash = memrchr(c->path, '/', c->path_len);
	size_t n = c->path_len - (size_t)(slash - c->path) - 1;

	if (slash == NULL || n == 0 || n > NAME_MAX_FUSE)
		return 0;
	memcpy(name, slash + 1, n);
	name[n] = '\0';
	return 1;
}

/*
 * Offsets: 1 after ".", 2 after "..", then for an image directory 3 + the index of the entry
 * to go on from (a child's next sibling is at its `end`), and for the synthetic folders 3 +
 * the position among their children. A listing can be resumed at any of them.
 */
static int
op_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
	   enum fuse_readdir_flags flags)
{
	struct fusefs *f = self();
	enum fuse_fill_dir_flags ff = (flags & FUSE_READDIR_PLUS) ? FUSE_FILL_DIR_PLUS : 0;
	char name[NAME_MAX_FUSE + 1];
	struct stat st;
	struct node n, c;
	uint64_t pos = off < 0 ? 0 : (uint64_t)off;
	int rc = node_of(f, path, fi, &n);

	if (rc < 0)
		return rc;
	if (pos == 0) {
		node_stat(f, &n, &st);
		if (fill(buf, ".", &st, 1, 0))
			return 0;
		pos = 1;
	}
	if (pos == 1) {
		memset(&st, 0, sizeof(st));
		st.st_mode = S_IFDIR;
		if (fill(buf, "..", NULL, 2, 0))
			return 0;
		pos = 2;
	}
	if (n.kind == N_DELTAIR) {
		if (pos == 2) {
			c.kind = N_EVENTS;
			node_stat(f, &c, &st);
			if (fill(buf, "events.jsonl", &st, 3, ff))
				return 0;
		}
		return 0;
	}
	if (n.kind == N_ROOT) {
		size_t nfs = htree_nfs(f->t), k = pos < 3 ? 0 : (size_t)(pos - 3);

		for (; k < nfs; k++) {
			const struct htree_fs *hf = htree_fs(f->t, k);
			if (hf->count == 0 || !visible(f, hf->first))
				continue;
			c.kind = N_ENTRY;
			c.idx = hf->first;
			c.e = htree_get(f->t, hf->first);
			node_stat(f, &c, &st);
			if (fill(buf, hf->name, &st, (off_t)(3 + k + 1), ff))
				return 0;
		}
		if (f->delta && k == nfs) {
			c.kind = N_DELTAIR;
			node_stat(f, &c, &st);
			fill(buf, ".deltair", &st, (off_t)(3 + nfs + 1), ff);
		}
		return 0;
	}
	if (n.kind != N_ENTRY || n.e->type != HTREE_DIR)
		return -ENOTDIR;
	if (pos == 2) {
		/* The view's root also holds the virtual folder. */
		if (f->delta && f->single >= 0 && n.e->depth == 0) {
			c.kind = N_DELTAIR;
			node_stat(f, &c, &st);
			if (fill(buf, ".deltair", &st, (off_t)(3 + n.idx + 1), ff))
				return 0;
		}
		pos = 3 + n.idx + 1;
	}
	if (pos - 3 <= n.idx || pos - 3 > n.e->end)
		return 0;
	for (size_t k = (size_t)(pos - 3); k < n.e->end;) {
		const struct htree_entry *ce = htree_get(f->t, k);
		size_t next = ce->end > k ? ce->end : k + 1;

		if (visible(f, k) && child_name(ce, name)) {
			c.kind = N_ENTRY;
			c.idx = k;
			c.e = ce;
			node_stat(f, &c, &st);
			if (fill(buf, name, &st, (off_t)(3 + next), ff))
				return 0;
		}
		k = next;
	}
	return 0;
}

static int
op_statfs(const char *path, struct statvfs *sv)
{
	struct fusefs *f = self();
	uint64_t bytes = 0;

	(void)path;
	for (size_t i = 0; i < htree_nfs(f->t); i++)
		bytes += htree_fs(f->t, i)->size;
	memset(sv, 0, sizeof(*sv));
	sv->f_bsize = 4096;
	sv->f_frsize = 4096;
	sv->f_blocks = (fsblkcnt_t)(bytes / 4096);
	sv->f_files = (fsfilcnt_t)f->st.entries;
	sv->f_namemax = 255;
	sv->f_flag = ST_RDONLY | ST_NOSUID | ST_NODEV;
	return 0;
}

/* Everything that would change the view: the image is evidence. */
static int
op_rofs_mknod(const char *p, mode_t m, dev_t d)
{
	(void)p, (void)m, (void)d;
	return -EROFS;
}

static int
op_rofs_mkdir(const char *p, mode_t m)
{
	(void)p, (void)m;
	return -EROFS;
}

static int
op_rofs_path(const char *p)
{
	(void)p;
	return -EROFS;
}

static int
op_rofs_2path(const char *a, const char *b)
{
	(void)a, (void)b;
	return -EROFS;
}

static int
op_rofs_rename(const char *a, const char *b, unsigned int flags)
{
	(void)a, (void)b, (void)flags;
	return -EROFS;
}

static int
op_rofs_chmod(const char *p, mode_t m, struct fuse_file_info *fi)
{
	(void)p, (void)m, (void)fi;
	return -EROFS;
}

static int
op_rofs_chown(const char *p, uid_t u, gid_t g, struct fuse_file_info *fi)
{
	(void)p, (void)u, (void)g, (void)fi;
	return -EROFS;
}

static int
op_rofs_truncate(const char *p, off_t o, struct fuse_file_info *fi)
{
	(void)p, (void)o, (void)fi;
	return -EROFS;
}

static int
op_rofs_write(const char *p, const char *b, size_t n, off_t o, struct fuse_file_info *fi)
{
	(void)p, (void)b, (void)n, (void)o, (void)fi;
	return -EROFS;
}

static int
op_rofs_setxattr(const char *p, const char *n, const char *v, size_t s, int fl)
{
	(void)p, (void)n, (void)v, (void)s, (void)fl;
	return -EROFS;
}

static int
op_rofs_removexattr(const char *p, const char *n)
{
	(void)p, (void)n;
	return -EROFS;
}

static int
op_rofs_create(const char *p, mode_t m, struct fuse_file_info *fi)
{
	(void)p, (void)m, (void)fi;
	return -EROFS;
}

static int
op_rofs_utimens(const char *p, const struct timespec tv[2], struct fuse_file_info *fi)
{
	(void)p, (void)tv, (void)fi;
	return -EROFS;
}

static int
op_rofs_fallocate(const char *p, int mode, off_t o, off_t n, struct fuse_file_info *fi)
{
	(void)p, (void)mode, (void)o, (void)n, (void)fi;
	return -EROFS;
}

const struct fuse_operations fusefs_ops = {
	.init = op_init,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read_buf = op_read_buf,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.statfs = op_statfs,
	.mknod = op_rofs_mknod,
	.mkdir = op_rofs_mkdir,
	.unlink = op_rofs_path,
	.rmdir = op_rofs_path,
	.symlink = op_rofs_2path,
	.link = op_rofs_2path,
	.rename = op_rofs_rename,
	.chmod = op_rofs_chmod,
	.chown = op_rofs_chown,
	.truncate = op_rofs_truncate,
	.write = op_rofs_write,
	.setxattr = op_rofs_setxattr,
	.removexattr = op_rofs_removexattr,
	.create = op_rofs_create,
	.utimens = op_rofs_utimens,
	.fallocate = op_rofs_fallocate,
};
