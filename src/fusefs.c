/*
 * fusefs.c - the read-only FUSE view. See fusefs.h and docs/mount.md.
 *
 * The view is a sealed tree and never changes once mounted, so every lookup is a binary
 * search (htree_find) and every listing a walk over a directory's subtree range that jumps
 * from one child to the next by its `end`. Nothing but file content is read from the image
 * while serving. libfuse's high-level API gives us paths; with nullpath_ok, reads come with
 * the handle that open() filled instead, which names the tree entry.
 */
#define FUSE_USE_VERSION 312

#include "fusefs.h"

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

#include <fuse.h>
#include <jansson.h>
#include <tsk/libtsk.h>

#include "diff.h"
#include "events.h"

#include "banned.h"

#define FH_ROOT       (UINT64_MAX - 1)
#define FH_DELTAIR    (UINT64_MAX - 2)
#define FH_EVENTS     (UINT64_MAX - 3)
#define INO_ROOT      1
#define INO_DELTAIR   ((uint64_t)0xffff << 48 | 1)
#define INO_EVENTS    ((uint64_t)0xffff << 48 | 2)
#define FS_INO_SHIFT  48
#define TIMEOUT       86400.0 /* the view never changes: the kernel may cache it all */
#define NAME_MAX_FUSE 1024    /* the kernel's FUSE_NAME_MAX */

/* A file's block map, or an open libtsk handle, or neither (dir: sources). */
struct fslot {
	int used, temp;
	uint32_t fs;
	uint64_t inode, size;
	struct source_run *runs; /* owned; NULL unless the file is read through its block map */
	size_t nruns;
	TSK_FS_FILE *file; /* owned; used and closed only under the source's lock */
	unsigned refs;
	uint64_t stamp;
	int in_image; /* every run lies inside the image: it may be spliced */
};

struct fcache {
	pthread_mutex_t lock;
	struct fslot slot[FUSEFS_CACHE_FILES];
	uint64_t clock;
};

struct fusefs {
	struct source *src; /* borrowed */
	struct htree *t;    /* owned, sealed */
	int single;         /* the filesystem shown at the root, or -1: pN/ folders */
	int delta;
	uint8_t *visible; /* owned; per entry; NULL: everything is in the view */
	char *events;     /* owned: /.deltair/events.jsonl */
	size_t events_len;
	struct fusefs_stats st;
	struct timespec born;
	struct fcache cache;
	int cache_ready;
	int img_fd; /* a raw image of our own to splice from, or -1 */
	struct fuse *fuse;
	int mounted, foreground;
	/* Per filesystem of t: no Unix modes on disk (FAT, exFAT), and the time of a root
	 * that has none. */
	uint8_t *no_modes;   /* owned */
	int64_t *root_times; /* owned */
};

enum node_kind { N_ROOT, N_ENTRY, N_DELTAIR, N_EVENTS };

struct node {
	enum node_kind kind;
	size_t idx;
	const struct htree_entry *e;
};

/* ---- libfuse's messages ---- */

/*
 * libfuse logs through one process-wide function. Its last words before we detach are what
 * a failed mount reports; nothing is ever printed from here.
 */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_last[400];

static void log_cb(enum fuse_log_level level, const char *fmt, va_list ap) DT_PRINTF(2, 0);

static void
log_cb(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char m[sizeof(log_last)];
	size_t n;

	if (level > FUSE_LOG_ERR)
		return;
	vsnprintf(m, sizeof(m), fmt, ap);
	n = strlen(m);
	while (n > 0 && (m[n - 1] == '\n' || m[n - 1] == ' '))
		m[--n] = '\0';
	for (char *p = m; *p; p++)
		if (*p == '\n')
			*p = ' ';
	if (strncmp(m, "fuse: ", 6) == 0)
		memmove(m, m + 6, strlen(m + 6) + 1);
	pthread_mutex_lock(&log_lock);
	snprintf(log_last, sizeof(log_last), "%s", m);
	pthread_mutex_unlock(&log_lock);
}

static void
log_take(char *out, size_t n)
{
	pthread_mutex_lock(&log_lock);
	snprintf(out, n, "%s", log_last);
	log_last[0] = '\0';
	pthread_mutex_unlock(&log_lock);
}

/* ---- the content cache ---- */

/* Every run of s lies inside the image (else read_runs() says where the image ends). */
static int
runs_in_image(const struct fusefs *f, const struct fslot *s)
{
	for (size_t i = 0; i < s->nruns; i++)
		if (s->runs[i].off != SOURCE_SPARSE &&
		    (s->runs[i].off > source_size(f->src) ||
		     s->runs[i].len > source_size(f->src) - s->runs[i].off))
			return 0;
	return 1;
}

/* Fill s (not in the table) for entry e: a block map, or an open libtsk handle. */
static int
slot_build(struct fusefs *f, const struct htree_entry *e, struct fslot *s, struct dt_err *err)
{
	const struct source_fs *sf = source_fs(f->src, e->fs);
	TSK_FS_FILE *file;
	char why[200];

	memset(s, 0, sizeof(*s));
	s->fs = e->fs;
	s->inode = e->inode;
	s->size = e->size;
	if (sf == NULL)
		return dt_fail(err, DT_EBUG, "no filesystem %u", e->fs);
	if (sf->tsk_fs == NULL) {
		struct dt_err merr = { 0 };

		/* Our own readers (XFS) map the file; dir: sources: source_read_file() opens it,
		 * as it does a file of ours that cannot be mapped (it says why at each read). */
		if (e->size > 0 && e->size <= FUSEFS_MAP_MAX &&
		    source_inode_runs(f->src, e->fs, e->inode, e->size, FUSEFS_MAX_RUNS, &s->runs,
				      &s->nruns, &merr) == 0)
			s->in_image = runs_in_image(f, s);
		return 0;
	}
	source_lock(f->src);
	file = tsk_fs_file_open_meta(sf->tsk_fs, NULL, (TSK_INUM_T)e->inode);
	if (file == NULL || file->meta == NULL) {
		source_tsk_error(why, sizeof(why));
		tsk_fs_file_close(file);
		source_unlock(f->src);
		return dt_fail(err, DT_EIO, "cannot open inode %llu: %s",
			       (unsigned long long)e->inode, why);
	}
	/*
	 * The map is built block by block, so its cost follows the file's size: past
	 * FUSEFS_MAP_MAX (a hostile inode may claim any size) libtsk reads the file instead.
	 */
	if (e->size > 0 && e->size <= FUSEFS_MAP_MAX) {
		int rc = source_file_runs(sf, file, e->size, FUSEFS_MAX_RUNS, &s->runs, &s->nruns,
					  err);
		if (rc < 0) {
			tsk_fs_file_close(file);
			source_unlock(f->src);
			return -1;
		}
		if (rc == 0) {
			tsk_fs_file_close(file);
			file = NULL;
			s->in_image = runs_in_image(f, s);
		}
	}
	source_unlock(f->src);
	s->file = file;
	return 0;
}

/* Free what s owns; closes a libtsk handle under the source's lock. */
static void
slot_clear(struct fusefs *f, struct fslot *s)
{
	free(s->runs);
	if (s->file) {
		source_lock(f->src);
		tsk_fs_file_close(s->file);
		source_unlock(f->src);
	}
	memset(s, 0, sizeof(*s));
}

/* A slot for e with a reference held: cache_put() it. NULL with err filled on failure. */
static struct fslot *
cache_get(struct fusefs *f, const struct htree_entry *e, struct dt_err *err)
{
	struct fcache *c = &f->cache;
	struct fslot fresh, old, *s = NULL, *victim = NULL;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < FUSEFS_CACHE_FILES; i++) {
		s = &c->slot[i];
		if (s->used && s->fs == e->fs && s->inode == e->inode && s->size == e->size) {
			s->refs++;
			s->stamp = ++c->clock;
			pthread_mutex_unlock(&c->lock);
			return s;
		}
	}
	pthread_mutex_unlock(&c->lock);
	/* Built outside the table's lock: other files go on being read meanwhile. */
	if (slot_build(f, e, &fresh, err) < 0)
		return NULL;
	fresh.used = 1;
	fresh.refs = 1;
	memset(&old, 0, sizeof(old));
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < FUSEFS_CACHE_FILES; i++) {
		s = &c->slot[i];
		if (s->used && s->fs == e->fs && s->inode == e->inode && s->size == e->size) {
			/* Another thread mapped it first. */
			s->refs++;
			s->stamp = ++c->clock;
			pthread_mutex_unlock(&c->lock);
			slot_clear(f, &fresh);
			return s;
		}
		if (!s->used) {
			if (victim == NULL || victim->used)
				victim = s;
		} else if (s->refs == 0 &&
			   (victim == NULL || (victim->used && s->stamp < victim->stamp))) {
			victim = s;
		}
	}
	if (victim == NULL) {
		/* Every slot is being read: this read gets a map of its own. */
		pthread_mutex_unlock(&c->lock);
		s = malloc(sizeof(*s));
		if (s == NULL) {
			slot_clear(f, &fresh);
			dt_fail(err, DT_ENOMEM, "out of memory");
			return NULL;
		}
		*s = fresh;
		s->temp = 1;
		return s;
	}
	old = *victim;
	*victim = fresh;
	victim->stamp = ++c->clock;
	pthread_mutex_unlock(&c->lock);
	if (old.used)
		slot_clear(f, &old);
	return victim;
}

static void
cache_put(struct fusefs *f, struct fslot *s)
{
	if (s->temp) {
		slot_clear(f, s);
		free(s);
		return;
	}
	pthread_mutex_lock(&f->cache.lock);
	s->refs--;
	pthread_mutex_unlock(&f->cache.lock);
}

static void
cache_release(struct fusefs *f)
{
	if (!f->cache_ready)
		return;
	for (size_t i = 0; i < FUSEFS_CACHE_FILES; i++)
		if (f->cache.slot[i].used)
			slot_clear(f, &f->cache.slot[i]);
	pthread_mutex_destroy(&f->cache.lock);
	f->cache_ready = 0;
}

/* Read through a block map: straight from the image, no lock (source_read is thread-safe). */
static ssize_t
read_runs(struct fusefs *f, const struct fslot *s, char *buf, size_t len, uint64_t off,
	  struct dt_err *err)
{
	size_t lo = 0, hi = s->nruns, done = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->runs[mid].lo + s->runs[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t r = lo; r < s->nruns && done < len; r++) {
		const struct source_run *run = &s->runs[r];
		uint64_t in = off + done - run->lo;
		size_t n = len - done;
		ssize_t got;

		if (n > run->len - in)
			n = (size_t)(run->len - in);
		if (run->off == SOURCE_SPARSE) {
			memset(buf + done, 0, n);
		} else {
			got = source_read(f->src, run->off + in, buf + done, n, err);
			if (got < 0)
				return -1;
			if ((size_t)got < n)
				return dt_fail(
					err, DT_EIO,
					"the image ends at byte %llu, inside the file's data",
					(unsigned long long)(run->off + in + (uint64_t)got));
		}
		done += n;
	}
	return (ssize_t)done;
}

static ssize_t
read_tsk(struct fusefs *f, const struct fslot *s, char *buf, size_t len, uint64_t off,
	 struct dt_err *err)
{
	size_t done = 0;
	char why[200];

	source_lock(f->src);
	while (done < len) {
		ssize_t n = tsk_fs_file_read(s->file, (TSK_OFF_T)(off + done), buf + done,
					     len - done, TSK_FS_FILE_READ_FLAG_NONE);
		if (n <= 0) {
			source_tsk_error(why, sizeof(why));
			source_unlock(f->src);
			return dt_fail(err, DT_EIO, "read error at byte %llu: %s",
				       (unsigned long long)(off + done), why);
		}
		done += (size_t)n;
	}
	source_unlock(f->src);
	return (ssize_t)done;
}

static ssize_t
read_content(struct fusefs *f, const struct htree_entry *e, char *buf, size_t len, uint64_t off,
	     struct dt_err *err)
{
	struct fslot *s;
	ssize_t n;

	if (off >= e->size || len == 0)
		return 0;
	if (len > e->size - off)
		len = (size_t)(e->size - off);
	s = cache_get(f, e, err);
	if (s == NULL)
		return -1;
	if (s->runs)
		n = read_runs(f, s, buf, len, off, err);
	else if (s->file)
		n = read_tsk(f, s, buf, len, off, err);
	else
		n = source_read_file(f->src, e->fs, e->inode, e->path, off, buf, len, err);
	cache_put(f, s);
	return n;
}

/* ---- the view ---- */

static size_t
entry_index(const struct fusefs *f, const struct htree_entry *e)
{
	return (size_t)(e - htree_get(f->t, 0));
}

static int
visible(const struct fusefs *f, size_t idx)
{
	return f->visible == NULL || f->visible[idx];
}

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

static struct timespec
ns_to_ts(int64_t ns)
{
	struct timespec ts = { 0, 0 };

	if (ns == HTREE_NO_TIME)
		return ts;
	ts.tv_sec = (time_t)(ns / 1000000000);
	ts.tv_nsec = (long)(ns % 1000000000);
	if (ts.tv_nsec < 0) {
		ts.tv_nsec += 1000000000;
		ts.tv_sec--;
	}
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
	st->st_atim = ns_to_ts(e->atime);
	st->st_mtim = ns_to_ts(e->mtime);
	st->st_ctim = ns_to_ts(e->ctime);
	if (e->depth == 0 && e->mtime == HTREE_NO_TIME)
		st->st_atim = st->st_mtim = st->st_ctim = ns_to_ts(f->root_times[e->fs]);
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
		got = read_content(f, n.e, buf, size - 1, 0, &err);
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
	size_t lo = 0, hi = s->nruns, n = 0, r, done = 0;
	struct fuse_bufvec *v;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->runs[mid].lo + s->runs[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
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
		s = cache_get(f, n.e, &err);
		if (s == NULL)
			return err.code == DT_ENOMEM ? -ENOMEM : -EIO;
		rc = 1;
		if (s->runs && s->in_image)
			rc = reply_runs(f, s, bufp, size, (uint64_t)off);
		cache_put(f, s);
		if (rc <= 0)
			return rc;
	}
	mem = malloc(size ? size : 1);
	if (mem == NULL)
		return -ENOMEM;
	got = read_content(f, n.e, mem, size, (uint64_t)off, &err);
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

static const struct fuse_operations ops = {
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

/* ---- building the view ---- */

struct builder {
	struct fusefs *f;
	const struct fusefs_opts *o;
	struct sink sink;
	struct dt_err err; /* the events' first write failure */
	uint64_t errors;
};

static void
on_walk_error(void *ctx, const char *fs, const char *path, size_t len, const char *msg)
{
	struct builder *b = ctx;

	b->errors++;
	if (b->sink.fp)
		sink_emit(&b->sink, events_error(fs, path, len, msg), &b->err);
	if (b->o->on_error)
		b->o->on_error(b->o->ctx, fs, path, len, msg);
}

/* Show entry idx and the directories that lead to it. */
static void
show(struct fusefs *f, size_t idx)
{
	const struct htree_entry *e = htree_get(f->t, idx);
	size_t len = e->path_len;

	f->visible[idx] = 1;
	while (len > 1) {
		const struct htree_entry *p;
		const char *slash = memrchr(e->path, '/', len);

		if (slash == NULL)
			break;
		len = slash == e->path ? 1 : (size_t)(slash - e->path);
		p = htree_find(f->t, e->fs, e->path, len);
		if (p == NULL)
			break;
		if (f->visible[entry_index(f, p)])
			break; /* so are its parents */
		f->visible[entry_index(f, p)] = 1;
	}
}

static int
on_change(void *ctx, const struct diff_change *c, struct dt_err *err)
{
	struct builder *b = ctx;
	struct fusefs *f = b->f;

	/* Deleted paths are not in the image; names in unallocated space are not files. */
	if (c->e && c->cls != DIFF_DELETED && !(c->e->flags & HTREE_F_DELETED)) {
		size_t idx = entry_index(f, c->e);
		if (idx < htree_count(f->t))
			show(f, idx);
	}
	f->st.delta++;
	return sink_emit(&b->sink, events_file(c), err);
}

static double
since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Diff against the gold into the view's events, exactly as `deltair diff` prints them. */
static int
build_delta(struct builder *b, const struct walk_stats *ws, const struct timespec *t0,
	    struct dt_err *err)
{
	struct fusefs *f = b->f;
	const struct fusefs_opts *o = b->o;
	struct diff_stats ds;
	json_t *sum;

	f->visible = calloc(htree_count(f->t) + 1, 1);
	if (f->visible == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (diff_trees(o->gold, f->t, on_change, b, &ds, err) < 0)
		return -1;
	/* Every error event of the build is the walk's: evidence that could not be read. */
	sum = events_summary(&ds, ws->bytes_hashed, b->errors, b->errors, since(t0), o->gold,
			     o->gold_path, f->t, NULL);
	if (sink_emit(&b->sink, sum, err) < 0)
		return -1;
	/* Each filesystem's root is in the view when anything below it is. */
	for (size_t i = 0; i < htree_nfs(f->t); i++) {
		const struct htree_fs *hf = htree_fs(f->t, i);
		for (size_t k = hf->first + 1; k < (size_t)hf->first + hf->count; k++)
			if (f->visible[k]) {
				f->visible[hf->first] = 1;
				break;
			}
	}
	if (f->single >= 0 && htree_fs(f->t, (size_t)f->single)->count > 0)
		f->visible[htree_fs(f->t, (size_t)f->single)->first] = 1;
	return 0;
}

/*
 * A descriptor of a raw image (file or block device) of exactly the size the source reads,
 * so that its bytes can be spliced; -1 for other formats, whose bytes only libtsk knows.
 */
static int
splice_fd(struct source *src)
{
	struct stat st;
	uint64_t size = 0;
	int fd;

	if (source_kind(src) != SOURCE_IMAGE || strcmp(source_format(src), "raw") != 0)
		return -1;
	fd = open(source_spec(src), O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) == 0) {
		if (S_ISREG(st.st_mode))
			size = (uint64_t)st.st_size;
		else if (S_ISBLK(st.st_mode) && ioctl(fd, BLKGETSIZE64, &size) != 0)
			size = 0;
	}
	if (size == 0 || size != source_size(src)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Which filesystems keep no Unix modes, and a time for each root that has none (FAT and
 * exFAT keep none for the root): the newest mtime of the entries directly in it, else the
 * time the view was made. Not 1970.
 */
static int
fs_facts(struct fusefs *f, struct dt_err *err)
{
	size_t nfs = htree_nfs(f->t);

	f->no_modes = calloc(nfs + 1, sizeof(*f->no_modes));
	f->root_times = calloc(nfs + 1, sizeof(*f->root_times));
	if (f->no_modes == NULL || f->root_times == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	for (size_t k = 0; k < nfs; k++) {
		const char *type = htree_fs(f->t, k)->type;

		f->no_modes[k] = strncmp(type, "fat", 3) == 0 || strcmp(type, "exfat") == 0;
		f->root_times[k] = HTREE_NO_TIME;
	}
	for (size_t i = 0; i < htree_count(f->t); i++) {
		const struct htree_entry *e = htree_get(f->t, i);

		if (e->depth == 1 && e->mtime != HTREE_NO_TIME && e->mtime > f->root_times[e->fs])
			f->root_times[e->fs] = e->mtime;
	}
	for (size_t k = 0; k < nfs; k++)
		if (f->root_times[k] == HTREE_NO_TIME)
			f->root_times[k] = (int64_t)f->born.tv_sec * 1000000000 + f->born.tv_nsec;
	return 0;
}

int
fusefs_new(struct source *src, const struct fusefs_opts *o, struct fusefs **out, struct dt_err *err)
{
	struct fusefs *f;
	struct builder b;
	struct walk_opts wo;
	struct walk_stats ws;
	struct timespec t0;
	FILE *mem = NULL;
	int rc = -1;

	*out = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	f->src = src;
	f->img_fd = -1;
	f->delta = o->gold != NULL;
	f->single = -1;
	clock_gettime(CLOCK_REALTIME, &f->born);
	if (o->fs) {
		size_t i;
		for (i = 0; i < source_nfs(src); i++)
			if (strcmp(source_fs(src, i)->name, o->fs) == 0)
				break;
		if (i == source_nfs(src)) {
			char names[200] = "";
			size_t w = 0;
			for (size_t k = 0; k < source_nfs(src) && w < sizeof(names); k++)
				w += (size_t)snprintf(names + w, sizeof(names) - w, "%s%s",
						      k ? ", " : "", source_fs(src, k)->name);
			dt_fail(err, DT_EUSAGE, "no filesystem '%s' in '%s' (it has %s)", o->fs,
				source_spec(src), names);
			goto out;
		}
	}
	memset(&b, 0, sizeof(b));
	b.f = f;
	b.o = o;
	if (f->delta) {
		mem = open_memstream(&f->events, &f->events_len);
		if (mem == NULL) {
			dt_fail_errno(err, DT_ENOMEM, "cannot hold the events in memory");
			goto out;
		}
		b.sink.fp = mem;
	}
	memset(&wo, 0, sizeof(wo));
	wo.flags = (o->walk_flags & WALK_INCLUDE_META) | (f->delta ? 0 : WALK_NO_CONTENT);
	wo.threads = o->threads;
	wo.gold = o->gold;
	wo.on_error = on_walk_error;
	wo.ctx = &b;
	wo.on_progress = o->on_progress;
	wo.progress_ctx = o->progress_ctx;
	memset(&ws, 0, sizeof(ws));
	if (walk_source(src, &wo, &f->t, &ws, err) < 0)
		goto out;
	if (o->fs)
		f->single = htree_fs_index(f->t, o->fs);
	else if (htree_nfs(f->t) == 1)
		f->single = 0;
	if (f->delta) {
		if (build_delta(&b, &ws, &t0, err) < 0)
			goto out;
		if (fclose(mem) != 0 || b.sink.failed) {
			mem = NULL;
			dt_fail(err, DT_ENOMEM, "cannot hold the events in memory");
			goto out;
		}
		mem = NULL;
		if (f->events_len > FUSEFS_MAX_EVENTS) {
			dt_fail(err, DT_ENOMEM, "the events take more than %llu bytes",
				(unsigned long long)FUSEFS_MAX_EVENTS);
			goto out;
		}
	}
	if (fs_facts(f, err) < 0)
		goto out;
	f->st.errors = b.errors;
	f->st.events_len = f->events_len;
	for (size_t i = 0; i < htree_count(f->t); i++)
		if (visible(f, i) &&
		    (f->single < 0 || htree_get(f->t, i)->fs == (uint32_t)f->single))
			f->st.entries++;
	pthread_mutex_init(&f->cache.lock, NULL);
	f->cache_ready = 1;
	f->img_fd = splice_fd(src);
	*out = f;
	f = NULL;
	rc = 0;
out:
	if (mem)
		fclose(mem);
	fusefs_free(f);
	return rc;
}

void
fusefs_stats(const struct fusefs *f, struct fusefs_stats *st)
{
	*st = f->st;
}

const char *
fusefs_events(const struct fusefs *f, size_t *len)
{
	*len = f->events_len;
	return f->events;
}

/* ---- mounting and serving ---- */

/* Append s to opts as one -o value: ',' and '\' escaped as libfuse's option parser wants. */
static void
opt_escaped(char *opts, size_t cap, const char *s)
{
	size_t w = strlen(opts);

	for (; *s && w + 3 < cap; s++) {
		if (*s == ',' || *s == '\\')
			opts[w++] = '\\';
		opts[w++] = *s;
	}
	opts[w] = '\0';
}

/* What fusermount3 (a child process) printed on our stderr, as one line. */
static void
captured(int fd, char *out, size_t n)
{
	ssize_t got;

	out[0] = '\0';
	if (fd < 0 || lseek(fd, 0, SEEK_SET) != 0)
		return;
	got = read(fd, out, n - 1);
	if (got <= 0)
		return;
	out[got] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '\n' || *p == '\r' || (unsigned char)*p < 0x20)
			*p = ' ';
	while (got > 0 && out[got - 1] == ' ')
		out[--got] = '\0';
}

/* Undo mountinfo's octal escapes (space, tab, newline, backslash) in place. */
static void
mountinfo_unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = '\0';
}

/*
 * The kernel gives a FUSE mount 128 KiB of readahead whatever the daemon asks for, and
 * each request is a round trip through us: a larger window doubles sequential reads.
 * Set it on our mount's backing device when we may (root); a failure changes nothing
 * else. The device number comes from /proc/self/mountinfo: a stat() of the mountpoint
 * would wait for the loop we have not started yet.
 */
/*
 * The newest mount on abs (absolute) whose type starts with type_prefix, from
 * /proc/self/mountinfo: its major:minor into dev and "TYPE from 'SOURCE'" into what (may
 * be NULL). 0 when there is none.
 */
static int
mountinfo_last(const char *abs, const char *type_prefix, char *dev, size_t devn, char *what,
	       size_t whatn)
{
	FILE *fp = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;

	/* id parent major:minor root MOUNTPOINT options [optional...] - TYPE SOURCE super */
	while (fp && getline(&line, &cap, fp) > 0) {
		char *f[5], *sep = strstr(line, " - "), *save = NULL, *type, *src;
		int n = 0;

		if (sep == NULL || strncmp(sep + 3, type_prefix, strlen(type_prefix)) != 0)
			continue;
		*sep = '\0';
		for (char *t = strtok_r(line, " ", &save); t && n < 5;
		     t = strtok_r(NULL, " ", &save))
			f[n++] = t;
		if (n < 5)
			continue;
		mountinfo_unescape(f[4]);
		if (strcmp(f[4], abs) != 0)
			continue;
		found = 1; /* the last one is the newest */
		snprintf(dev, devn, "%s", f[2]);
		if (what == NULL)
			continue;
		type = strtok_r(sep + 3, " \n", &save);
		src = type ? strtok_r(NULL, " \n", &save) : NULL;
		if (src)
			mountinfo_unescape(src);
		snprintf(what, whatn, "%s from '%s'", type ? type : "?", src ? src : "?");
	}
	if (fp)
		fclose(fp);
	free(line);
	return found;
}

/*
 * The kernel gives a FUSE mount 128 KiB of readahead whatever the daemon asks for, and
 * each request is a round trip through us: a larger window doubles sequential reads.
 * Set it on our mount's backing device when we may (root); a failure changes nothing
 * else. The device number comes from /proc/self/mountinfo: a stat() of the mountpoint
 * would wait for the loop we have not started yet.
 */
static void
tune_readahead(const char *mountpoint)
{
	char *abs = realpath(mountpoint, NULL), dev[32], path[96];
	FILE *fp;
	int found;

	if (abs == NULL)
		return;
	found = mountinfo_last(abs, "fuse.deltair ", dev, sizeof(dev), NULL, 0);
	free(abs);
	if (!found)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%s/read_ahead_kb", dev);
	fp = fopen(path, "we");
	if (fp == NULL)
		return;
	fprintf(fp, "%u\n", FUSEFS_READAHEAD_KB);
	fclose(fp);
}

static int
mount_abs(struct fusefs *f, const char *abs, const char *mountpoint,
	  const struct fusefs_mount_opts *mo, struct dt_err *err)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char opts[1024], why[400], child[400];
	int cap = -1, saved = -1, rc;

	fuse_set_log_func(log_cb);
	log_take(why, sizeof(why));
	snprintf(opts, sizeof(opts), "ro,default_permissions,subtype=deltair,fsname=");
	opt_escaped(opts, sizeof(opts) - 64, mo->fsname ? mo->fsname : "deltair");
	if (mo->allow_other)
		snprintf(opts + strlen(opts), sizeof(opts) - strlen(opts), ",allow_other");
	if (fuse_opt_add_arg(&args, "deltair") != 0 || fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args, opts) != 0) {
		fuse_opt_free_args(&args);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	f->fuse = fuse_new(&args, &ops, sizeof(ops), f);
	fuse_opt_free_args(&args);
	if (f->fuse == NULL) {
		log_take(why, sizeof(why));
		return dt_fail(err, DT_EIO, "cannot set up FUSE: %s",
			       why[0] ? why : "fuse_new failed");
	}
	/*
	 * Without the privilege to mount, libfuse runs fusermount3, which says what is wrong
	 * on its stderr: catch that, so that the failure is reported as one line.
	 */
	fflush(stderr);
	cap = memfd_create("deltair-fusermount", MFD_CLOEXEC);
	saved = cap >= 0 ? dup(STDERR_FILENO) : -1;
	if (saved >= 0)
		dup2(cap, STDERR_FILENO);
	rc = fuse_mount(f->fuse, abs);
	if (saved >= 0) {
		fflush(stderr);
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	captured(cap, child, sizeof(child));
	if (cap >= 0)
		close(cap);
	if (rc != 0) {
		log_take(why, sizeof(why));
		fuse_destroy(f->fuse);
		f->fuse = NULL;
		return dt_fail(err, DT_EIO, "cannot mount on '%s': %s", mountpoint,
			       child[0] ? child
			       : why[0] ? why
					: "fuse_mount failed");
	}
	f->mounted = 1;
	f->foreground = mo->foreground;
	tune_readahead(abs);
	return 0;
}

/*
 * path made absolute without stat()ing its last component: a FUSE mount that only its owner
 * may enter fails stat() with EACCES (even for root), a dead one with ENOTCONN. New string.
 */
static char *
abs_no_follow(const char *path)
{
	char *copy = strdup(path), *slash, *parent = NULL, *out = NULL;
	size_t n;

	if (copy == NULL)
		return NULL;
	n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	slash = strrchr(copy, '/');
	if (strcmp(copy, "/") == 0 || strcmp(slash ? slash + 1 : copy, ".") == 0 ||
	    strcmp(slash ? slash + 1 : copy, "..") == 0) {
		out = realpath(copy, NULL);
	} else {
		if (slash == copy)
			parent = realpath("/", NULL);
		else if (slash) {
			*slash = '\0';
			parent = realpath(copy, NULL);
		} else {
			parent = realpath(".", NULL);
		}
		if (parent && asprintf(&out, "%s/%s", strcmp(parent, "/") == 0 ? "" : parent,
				       slash ? slash + 1 : copy) < 0)
			out = NULL;
	}
	free(parent);
	free(copy);
	return out;
}

int
fusefs_check_mountpoint(const char *mountpoint, struct dt_err *err)
{
	char *abs = abs_no_follow(mountpoint), what[600], dev[32];
	struct dirent *d;
	struct stat st;
	size_t n = 0;
	char first[256] = "";
	DIR *dir;

	if (abs && mountinfo_last(abs, "fuse", dev, sizeof(dev), what, sizeof(what))) {
		free(abs);
		return dt_fail(err, DT_EUSAGE,
			       "cannot mount on '%s': a FUSE filesystem (%s) is mounted there; "
			       "unmount it first (fusermount3 -u %s)",
			       mountpoint, what, mountpoint);
	}
	free(abs);
	if (stat(mountpoint, &st) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot mount on '%s'", mountpoint);
	if (!S_ISDIR(st.st_mode))
		return dt_fail(err, DT_EUSAGE, "cannot mount on '%s': not a directory", mountpoint);
	dir = opendir(mountpoint);
	if (dir == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot mount on '%s'", mountpoint);
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if (n++ == 0)
			snprintf(first, sizeof(first), "%s", d->d_name);
	}
	closedir(dir);
	if (n)
		return dt_fail(err, DT_EUSAGE,
			       "cannot mount on '%s': not empty ('%s'%s); the view would hide what "
			       "is there: give an empty folder",
			       mountpoint, first, n > 1 ? " and more" : "");
	return 0;
}

int
fusefs_mount(struct fusefs *f, const char *mountpoint, const struct fusefs_mount_opts *mo,
	     struct dt_err *err)
{
	char *abs;
	int rc;

	/* Checked again: a mount may have come since the caller checked. */
	if (fusefs_check_mountpoint(mountpoint, err) < 0)
		return -1;
	/* Serving starts in "/" (fuse_daemonize), and unmounting needs the same path. */
	abs = realpath(mountpoint, NULL);
	if (abs == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot mount on '%s'", mountpoint);
	rc = mount_abs(f, abs, mountpoint, mo, err);
	free(abs);
	return rc;
}

int
fusefs_serve(struct fusefs *f, struct dt_err *err)
{
	struct fuse_session *se;
	struct fuse_loop_config *cfg;
	char why[400];
	int rc;

	if (f->fuse == NULL || !f->mounted)
		return dt_fail(err, DT_EBUG, "fusefs_serve before fusefs_mount");
	se = fuse_get_session(f->fuse);
	if (fuse_daemonize(f->foreground) != 0) {
		log_take(why, sizeof(why));
		return dt_fail(err, DT_EIO, "cannot run in the background: %s",
			       why[0] ? why : "fuse_daemonize failed");
	}
	if (fuse_set_signal_handlers(se) != 0) {
		log_take(why, sizeof(why));
		return dt_fail(err, DT_EIO, "cannot handle signals: %s",
			       why[0] ? why : "fuse_set_signal_handlers failed");
	}
	cfg = fuse_loop_cfg_create();
	if (cfg == NULL) {
		fuse_remove_signal_handlers(se);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	fuse_loop_cfg_set_max_threads(cfg, 16);
	rc = fuse_loop_mt(f->fuse, cfg);
	fuse_loop_cfg_destroy(cfg);
	fuse_remove_signal_handlers(se);
	fuse_unmount(f->fuse);
	f->mounted = 0;
	/* A positive value is the signal that ended the loop: a clean end too. */
	if (rc < 0) {
		log_take(why, sizeof(why));
		errno = -rc;
		return dt_fail_errno(err, DT_EIO, "serving the view failed%s%s", why[0] ? ": " : "",
				     why);
	}
	return 0;
}

void
fusefs_free(struct fusefs *f)
{
	if (f == NULL)
		return;
	if (f->fuse) {
		if (f->mounted)
			fuse_unmount(f->fuse);
		fuse_destroy(f->fuse);
	}
	cache_release(f);
	if (f->img_fd >= 0)
		close(f->img_fd);
	htree_free(f->t);
	free(f->no_modes);
	free(f->root_times);
	free(f->visible);
	free(f->events);
	free(f);
}
