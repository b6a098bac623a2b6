/*
 * walk.c - metadata walk and content hashing. See walk.h for the shape.
 *
 * The walking thread reads directories (libtsk in walk_tsk.c, our XFS reader in walk_xfs.c,
 * the host for dir: sources in walk_dir.c) and queues one hashing job per regular file as soon
 * as it knows where the file's blocks are (the same block runs for libtsk's filesystems and
 * XFS); the hashing threads start at once, so hashing overlaps the metadata walk. A job that needs
 * libtsk to read the content (resident, compressed or inline data) is held back until the
 * walk is over, because libtsk's filesystem state is not ours to share with a walk in
 * progress; those jobs then run one at a time under the source's lock.
 * Jobs live in fixed blocks that never move, so a worker may hold a job while the walking
 * thread queues more; a block is freed once its jobs are over, and the queue is bounded.
 * Results go straight into the tree entry, under the tree's lock (htree_add() may move it).
 * The queue and the hashing threads are in walk_hash.c; here: the walker's helpers, the
 * choice of what to hash (walk_queue_file) and the whole walk.
 */
#include "walk_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <tsk/libtsk.h>

#include "buf.h"
#include "mono.h"

#include "banned.h"

#define MAX_THREADS 64
/*
 * In the links map, a file held back for libtsk (JOB_TSK) is known by its index in the held
 * list, tagged with HELD_JOB, until the held jobs are queued and get their queue index.
 */
#define HELD_JOB ((size_t)1 << 62)

_Static_assert(SOURCE_MAX_FS <= HTREE_MAX_FS, "every filesystem of a source fits in one tree");

/* A second name of a hard-linked file: it takes the hash of the entry named first. */
struct alias {
	size_t entry, primary;
};

/* ---- small containers ---- */

static uint64_t
mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return k;
}

static void
map_release(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* Find key; *slot is where it is or would go. Keys are stored +1 so that 0 means empty. */
static size_t *
map_find(struct u64map *m, uint64_t key)
{
	if (m->cap == 0)
		return NULL;
	for (size_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == 0)
			return NULL;
		if (m->keys[i] == key + 1)
			return &m->vals[i];
	}
}

int
walk_map_put(struct u64map *m, uint64_t key, size_t val)
{
	if ((m->n + 1) * 2 > m->cap) {
		struct u64map nm;
		nm.cap = m->cap ? m->cap * 2 : 1024;
		nm.n = 0;
		nm.keys = calloc(nm.cap, sizeof(*nm.keys));
		nm.vals = calloc(nm.cap, sizeof(*nm.vals));
		if (nm.keys == NULL || nm.vals == NULL) {
			free(nm.keys);
			free(nm.vals);
			return -1;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i])
				for (size_t j = mix(m->keys[i] - 1) & (nm.cap - 1);;
				     j = (j + 1) & (nm.cap - 1))
					if (nm.keys[j] == 0) {
						nm.keys[j] = m->keys[i];
						nm.vals[j] = m->vals[i];
						nm.n++;
						break;
					}
		map_release(m);
		*m = nm;
	}
	for (size_t i = mix(key) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
		if (m->keys[i] == 0) {
			m->keys[i] = key + 1;
			m->vals[i] = val;
			m->n++;
			return 0;
		}
		if (m->keys[i] == key + 1) {
			m->vals[i] = val;
			return 0;
		}
	}
}

/* ---- errors and progress ---- */

static void
vreport(struct walker *w, const char *fs, const char *path, size_t path_len, const char *fmt,
	va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	atomic_fetch_add(&w->errors, 1);
	if (w->o->on_error == NULL)
		return;
	pthread_mutex_lock(&w->elock);
	w->o->on_error(w->o->ctx, fs, path, path_len, msg);
	pthread_mutex_unlock(&w->elock);
}

void
walk_report(struct walker *w, const char *path, size_t path_len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(w, w->sfs ? w->sfs->name : NULL, path, path_len, fmt, ap);
	va_end(ap);
}

/* Out of memory: the whole walk fails (walk.h: every failure is reported). Returns -1. */
int
walk_oom(struct walker *w)
{
	w->failed = 1;
	return dt_fail(w->err, DT_ENOMEM, "out of memory");
}

/* A failure of a hashing job: its filesystem, whatever the walk is doing now. */
void
walk_report_job(struct walker *w, const struct job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(w, source_fs(w->src, j->fsi)->name, j->path, strlen(j->path), fmt, ap);
	va_end(ap);
}

void
walk_progress(struct walker *w, int force)
{
	struct walk_progress p;

	if (w->o->on_progress == NULL)
		return;
	if (!force && mono_now() - w->last_progress < 0.25)
		return;
	w->last_progress = mono_now();
	p.entries = w->st.entries;
	p.bytes_done = atomic_load(&w->bytes_done);
	p.bytes_total = w->bytes_total;
	p.elapsed = mono_now() - w->start;
	p.fs = w->sfs ? w->sfs->name : "";
	w->o->on_progress(w->o->progress_ctx, &p);
}

/* ---- building entries ---- */

/*
 * The hash kind and the prefix hash of j, whose allocated bytes are alloc (UINT64_MAX:
 * unknown). sparse-sha256 when the holes reach WALK_SPARSE_HOLES; but a gold version of
 * the same size decides, so that the diff compares like with like: its sparse-sha256 costs
 * the allocated bytes, its sha256 what the gold's own walk read.
 * path is one name of j's inode. Returns GOLD_SAME when the choice is final (no gold, or
 * the gold had this very inode at path), GOLD_OTHER when the gold had another file there,
 * GOLD_NONE when it had no regular file there.
 */
enum { GOLD_NONE, GOLD_OTHER, GOLD_SAME };

static int
gold_prefix(struct walker *w, struct job *j, const char *path, size_t len, uint64_t alloc)
{
	const struct htree_entry *g = NULL;

	if (w->gold_fs >= 0)
		g = htree_find(w->o->gold, (uint32_t)w->gold_fs, path, len);
	if (g && (g->type != HTREE_REG || !(g->flags & HTREE_F_HASHED)))
		g = NULL;
	j->sparse = alloc < j->size && j->size - alloc >= WALK_SPARSE_HOLES;
	if (g && g->size == j->size)
		j->sparse = (g->flags & HTREE_F_SPARSE) != 0;
	if (g && g->size < j->size && !j->sparse && !(g->flags & HTREE_F_SPARSE)) {
		j->want_prefix = 1;
		j->prefix_len = g->size;
	}
	j->cost = j->sparse && alloc < j->size ? alloc : j->size;
	if (w->gold_fs < 0 || (g && g->inode == j->inum))
		return GOLD_SAME;
	return g ? GOLD_OTHER : GOLD_NONE;
}

static int add_alias(struct walker *w, size_t entry, size_t primary) DT_MUST_USE;
static int hold_job(struct walker *w, const struct job *j) DT_MUST_USE;

static int
add_alias(struct walker *w, size_t entry, size_t primary)
{
	if (BUF_GROW(w->aliases, w->naliases + 1, w->capaliases, NULL) < 0)
		return walk_oom(w);
	w->aliases[w->naliases].entry = entry;
	w->aliases[w->naliases].primary = primary;
	w->naliases++;
	return 0;
}

static int
hold_job(struct walker *w, const struct job *j)
{
	if (BUF_GROW(w->held, w->nheld + 1, w->capheld, NULL) < 0)
		return walk_oom(w);
	w->held[w->nheld++] = *j;
	return 0;
}

/* Not hashed, and why: an error event for the entry, whose content stays unknown. */
static void unhashed(struct walker *w, size_t entry, const char *fmt, ...) DT_PRINTF(3, 4);

static void
unhashed(struct walker *w, size_t entry, const char *fmt, ...)
{
	struct htree_entry *e = htree_at(w->t, entry);
	va_list ap;

	e->flags |= HTREE_F_READERR;
	va_start(ap, fmt);
	vreport(w, w->sfs->name, e->path, e->path_len, fmt, ap);
	va_end(ap);
}

/* Bytes of data (not holes) in runs. */
static uint64_t
runs_alloc(const struct source_run *r, size_t n)
{
	uint64_t a = 0;

	for (size_t i = 0; i < n; i++)
		if (r[i].off != SOURCE_SPARSE)
			a += r[i].len;
	return a;
}

/* 1 when a data run of r lies in a block the list says changed. */
static int
runs_changed(const struct cblk *c, const struct source_run *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].off != SOURCE_SPARSE && cblk_touches(c, r[i].off, r[i].len))
			return 1;
	return 0;
}

/*
 * Take the gold's hash for entry e, whose runs digest is known, without reading it: when
 * the gold has a hashed regular file at its path that lay in the same runs, and either
 * none of them changed since (a changed-block list) or the caller trusts metadata and the
 * inode, size, mtime and ctime are the gold's too. Returns 1 when the hash was taken.
 */
static int
reuse_gold(struct walker *w, struct htree_entry *e, const struct job *j)
{
	const struct htree_entry *g;

	if (w->gold_fs < 0 || (w->o->changed == NULL && !w->o->trust_metadata))
		return 0;
	g = htree_find(w->o->gold, (uint32_t)w->gold_fs, e->path, e->path_len);
	if (g == NULL || g->type != HTREE_REG || !(g->flags & HTREE_F_RUNS) ||
	    !(g->flags & HTREE_F_HASHED) || (g->flags & HTREE_F_READERR) || g->size != e->size ||
	    memcmp(g->runs, e->runs, 32) != 0)
		return 0;
	if (w->o->changed != NULL) {
		if (runs_changed(w->o->changed, j->runs, j->nruns))
			return 0;
	} else if (g->inode != e->inode ||
		   htree_time_cmp(htree_time_of(g, HTREE_MTIME), htree_time_of(e, HTREE_MTIME)) ||
		   htree_time_cmp(htree_time_of(g, HTREE_CTIME), htree_time_of(e, HTREE_CTIME))) {
		return 0;
	}
	memcpy(e->sha256, g->sha256, 32);
	e->flags |= HTREE_F_HASHED | (g->flags & HTREE_F_SPARSE);
	e->magic = g->magic;
	w->st.files_reused++;
	w->st.bytes_reused += j->cost;
	return 1;
}

/*
 * Queue the hashing of a regular file: f, its libtsk file; xip, its inode on XFS; neither
 * for dir: sources. alloc: its allocated bytes where the host or our own reader says (dir:
 * sources, XFS), else UINT64_MAX; libtsk files are measured by their block runs. libtsk
 * and XFS files are mapped here, in the walking thread, into block runs for the hashing
 * threads to read.
 */
void
walk_queue_file(struct walker *w, size_t entry, const struct htree_entry *e, TSK_FS_FILE *f,
		const struct xfs_inode *xip, uint64_t alloc)
{
	struct job j;
	size_t *seen;

	if (w->o->flags & WALK_NO_CONTENT)
		return;
	/* Hard links: one job per inode, every name gets its hash. */
	if (e->nlink > 1 && (seen = map_find(&w->links, e->inode)) != NULL) {
		size_t primary = *seen;

		/* A held job has not started: this name may know the gold better. */
		if (*seen & HELD_JOB) {
			struct job *h = &w->held[*seen & ~HELD_JOB], t = *h;
			t.want_prefix = 0;
			t.prefix_len = 0;
			t.gold = gold_prefix(w, &t, e->path, e->path_len, h->alloc);
			if (t.gold > h->gold)
				*h = t;
			primary = h->entry;
		}
		if (add_alias(w, entry, primary) < 0)
			w->failed = 1;
		return;
	}
	memset(&j, 0, sizeof(j));
	j.entry = entry;
	j.fsi = w->fsi;
	j.inum = e->inode;
	j.size = e->size;
	j.path = htree_at(w->t, entry)->path;
	if (xip != NULL) {
		struct dt_err merr = { 0 };

		if (source_xfs_runs(w->sfs, xip, e->size, SIZE_MAX, &j.runs, &j.nruns, &merr) < 0) {
			if (merr.code == DT_ENOMEM)
				walk_oom(w);
			else
				unhashed(w, entry, "cannot read file content: %s", merr.msg);
			return;
		}
		j.kind = JOB_RUNS;
	} else if (f == NULL) {
		j.kind = JOB_HOST;
	} else {
		int rc;
		uint64_t bs = w->sfs->block_size, fsz = w->sfs->size;

		/* ext's block numbers within a file are 32 bits: no larger file can exist. */
		if (TSK_FS_TYPE_ISEXT(w->fs->ftype) && bs && e->size / bs > UINT32_MAX) {
			unhashed(w, entry,
				 "size %llu is beyond what the filesystem can hold (2^32 blocks of "
				 "%llu bytes): damaged inode; content not read",
				 (unsigned long long)e->size, (unsigned long long)bs);
			return;
		}
		rc = source_file_runs(w->sfs, f, e->size, SIZE_MAX, &j.runs, &j.nruns, w->err);
		if (rc < 0) {
			w->failed = 1;
			return;
		}
		j.kind = rc == 0 ? JOB_RUNS : JOB_TSK;
		if (j.kind == JOB_RUNS) {
			alloc = runs_alloc(j.runs, j.nruns);
			if (fsz && alloc > fsz) {
				free(j.runs);
				unhashed(w, entry,
					 "%llu bytes of data in a %llu-byte filesystem: damaged "
					 "block "
					 "map; content not read",
					 (unsigned long long)alloc, (unsigned long long)fsz);
				return;
			}
		} else if (fsz && e->size > fsz && e->size - fsz >= WALK_SPARSE_HOLES) {
			/* Only libtsk can read it, and only byte by byte of its apparent size. */
			unhashed(w, entry,
				 "size %llu is far beyond the %llu-byte filesystem and only libtsk "
				 "can read this file (resident, compressed or unmapped data); "
				 "content not read",
				 (unsigned long long)e->size, (unsigned long long)fsz);
			return;
		}
	}
	j.alloc = alloc;
	j.gold = gold_prefix(w, &j, e->path, e->path_len, alloc);
	if (j.kind == JOB_RUNS) {
		struct htree_entry *te = htree_at(w->t, entry);

		walk_runs_digest(j.runs, j.nruns, e->size, te->runs);
		te->flags |= HTREE_F_RUNS;
		if (reuse_gold(w, te, &j)) {
			free(j.runs);
			return;
		}
	}
	/*
	 * A hard-linked file first met under a name the gold did not have (a link added since)
	 * waits for the walk's end too, so that its other names can choose the gold length:
	 * every name of one inode must be appended, or none.
	 */
	if (j.kind == JOB_TSK || (e->nlink > 1 && j.gold != GOLD_SAME)) {
		/* Index in the held list, made final when the held jobs are queued. */
		if ((e->nlink > 1 && walk_map_put(&w->links, e->inode, HELD_JOB | w->nheld) < 0) ||
		    hold_job(w, &j) < 0) {
			free(j.runs);
			walk_oom(w);
		}
		return;
	}
	if (walk_queue_job(w, &j) != NO_JOB && e->nlink > 1 &&
	    walk_map_put(&w->links, e->inode, entry) < 0)
		walk_oom(w);
}

int
walk_path_push(struct walker *w, const char *name, size_t n, size_t *old)
{
	*old = w->path.len;
	if (!(w->path.len == 1 && w->path.data[0] == '/') && buf_addc(&w->path, '/', NULL) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		/* A '/' inside a name (hostile or foreign filesystems) must not fake depth. */
		if (name[i] == '/') {
			if (buf_add(&w->path, "%2F", 3, NULL) < 0)
				return -1;
		} else if (buf_addc(&w->path, (unsigned char)name[i], NULL) < 0) {
			return -1;
		}
	}
	return 0;
}

void
walk_path_pop(struct walker *w, size_t old)
{
	w->path.len = old;
	w->path.data[old] = '\0';
}

/* The entry walk_path_push() could not name: reported (with what of its path fits), popped. */
void
walk_path_too_long(struct walker *w, size_t old)
{
	walk_report(w, (const char *)w->path.data, w->path.len, "path too long; entry skipped");
	walk_path_pop(w, old);
}

void
walk_subdirs_init(struct subdirs *s)
{
	memset(s, 0, sizeof(*s));
	buf_init(&s->names, SIZE_MAX / 2);
}

void
walk_subdirs_release(struct subdirs *s)
{
	free(s->v);
	buf_release(&s->names);
}

/* Keep a subdirectory for later (inum 0 where none is needed); out of memory fails the walk. */
void
walk_subdirs_add(struct walker *w, struct subdirs *s, uint64_t inum, const char *name, size_t len)
{
	if (BUF_GROW(s->v, s->n + 1, s->cap, NULL) < 0 ||
	    buf_add(&s->names, name, len + 1, NULL) < 0) {
		walk_oom(w);
		return;
	}
	s->v[s->n].inum = inum;
	s->v[s->n].name_off = s->names.len - len - 1;
	s->v[s->n].name_len = len;
	s->n++;
}

const char *
walk_subdirs_name(const struct subdirs *s, size_t i)
{
	return (const char *)s->names.data + s->v[i].name_off;
}

/* Push the i-th subdirectory onto the path; 0 when its path is too long (reported). */
int
walk_subdirs_enter(struct walker *w, const struct subdirs *s, size_t i, size_t *old)
{
	if (walk_path_push(w, walk_subdirs_name(s, i), s->v[i].name_len, old) < 0) {
		walk_path_too_long(w, *old);
		return 0;
	}
	return 1;
}

/*
 * 1 when the directory inode at the current path is met for the first time. One reached
 * twice is a loop in a damaged or hostile image: reported, not walked again.
 */
int
walk_first_visit(struct walker *w, uint64_t inum)
{
	if (map_find(&w->visited, inum)) {
		walk_report(w, (const char *)w->path.data, w->path.len,
			    "directory inode %llu already walked (loop); not walked again",
			    (unsigned long long)inum);
		return 0;
	}
	if (walk_map_put(&w->visited, inum, 1) < 0) {
		walk_oom(w);
		return 0;
	}
	return 1;
}

/* 1 when a directory at depth is past the cap: reported, and not walked. */
int
walk_too_deep(struct walker *w, int depth)
{
	if (depth < w->max_depth)
		return 0;
	walk_report(w, (const char *)w->path.data, w->path.len,
		    "more than %d levels deep; not walked further", w->max_depth);
	return 1;
}

/* Add e at the current path; -1 when the tree refused it (w->failed is set: the walk stops). */
int
walk_add_entry(struct walker *w, struct htree_entry *e, int64_t *idx)
{
	e->path = (const char *)w->path.data;
	e->path_len = (uint32_t)w->path.len;
	e->fs = w->fsi;
	pthread_mutex_lock(&w->tlock); /* the hashing threads write into entries (put_result) */
	*idx = htree_add(w->t, e, w->err);
	pthread_mutex_unlock(&w->tlock);
	if (*idx < 0) {
		w->failed = 1;
		return -1;
	}
	w->st.entries++;
	if (e->flags & HTREE_F_DELETED)
		w->st.deleted++;
	else if (e->type == HTREE_REG)
		w->st.regular++;
	else if (e->type == HTREE_DIR)
		w->st.dirs++;
	if ((w->st.entries & 255) == 0)
		walk_progress(w, 0);
	return 0;
}
/* ---- the whole walk ---- */

/* Every second name of a hard-linked file takes the result of its first (after hashing). */
static void
finish_aliases(struct walker *w)
{
	for (size_t i = 0; i < w->naliases; i++) {
		struct htree_entry *e = htree_at(w->t, w->aliases[i].entry);
		const struct htree_entry *p = htree_at(w->t, w->aliases[i].primary);
		const unsigned char *pfx;
		uint64_t plen;

		if (!(p->flags & HTREE_F_HASHED)) {
			e->flags |= HTREE_F_READERR;
			continue;
		}
		memcpy(e->sha256, p->sha256, 32);
		e->flags |= p->flags & (HTREE_F_HASHED | HTREE_F_SPARSE);
		e->magic = p->magic;
		if ((pfx = htree_prefix(w->t, p, &plen)) != NULL && e->size == p->size) {
			const struct htree_entry *g =
				w->gold_fs >= 0 ? htree_find(w->o->gold, (uint32_t)w->gold_fs,
							     e->path, e->path_len)
						: NULL;
			unsigned char copy[32];

			memcpy(copy, pfx, 32); /* htree_set_prefix() may move the hashes */
			if (g && g->size == plen)
				(void)!htree_set_prefix(w->t, w->aliases[i].entry, copy, plen,
							NULL);
		}
	}
}

int
walk_source(struct source *s, const struct walk_opts *o, struct htree **out,
	    struct walk_stats *stats, struct dt_err *err)
{
	struct walker w;
	pthread_t tids[MAX_THREADS];
	int nthreads = o->threads > 0 ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
	int started = 0, rc = -1;

	*out = NULL;
	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	memset(&w, 0, sizeof(w));
	w.src = s;
	w.o = o;
	w.err = err;
	w.root_fd = -1;
	for (int k = 0; k < SOURCE_MAX_FS; k++)
		w.root_fds[k] = -1;
	w.max_depth = WALK_MAX_DEPTH;
	pthread_mutex_init(&w.qlock, NULL);
	pthread_cond_init(&w.qcond, NULL);
	pthread_cond_init(&w.dcond, NULL);
	pthread_cond_init(&w.scond, NULL);
	pthread_mutex_init(&w.tlock, NULL);
	pthread_mutex_init(&w.elock, NULL);
	buf_init(&w.path, HTREE_MAX_PATH);
	w.start = mono_now();
	w.t = htree_new();
	if (w.t == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	if (htree_set_image(w.t, source_spec(s), source_format(s), source_layout(s), source_size(s),
			    err) < 0)
		goto out;
	for (size_t i = 0; i < source_nfs(s); i++) {
		const struct source_fs *f = source_fs(s, i);
		int k = htree_add_fs(w.t, f->name, f->type, f->offset, f->size, err);

		if (k < 0)
			goto out;
		htree_set_fs_identity(w.t, (size_t)k, f->uuid, f->label);
	}
	if (!(o->flags & WALK_NO_CONTENT))
		for (; started < nthreads; started++)
			if (pthread_create(&tids[started], NULL, walk_hash_thread, &w) != 0)
				break;
	if (!(o->flags & WALK_NO_CONTENT) && started == 0) {
		dt_fail(err, DT_ENOMEM, "cannot start hashing threads");
		goto out;
	}
	for (size_t i = 0; i < source_nfs(s) && !w.failed; i++) {
		w.fsi = (uint32_t)i;
		w.sfs = source_fs(s, i);
		w.gold_fs = o->gold ? htree_fs_pair(o->gold, w.sfs->name, source_nfs(s)) : -1;
		map_release(&w.visited);
		map_release(&w.links);
		if (w.sfs->tsk_fs)
			walk_tsk(&w);
		else if (w.sfs->xfs)
			walk_xfs(&w);
		else if (walk_host(&w) < 0)
			w.failed = 1;
		w.root_fd = -1; /* it is root_fds[i], closed when the hashing is over */
		/* Content that needs libtsk: now that nothing else uses it. */
		for (size_t k = 0; k < w.nheld; k++)
			walk_queue_job(&w, &w.held[k]);
		w.nheld = 0;
		/* The next filesystem's libtsk walk must wait for this one's held jobs. */
		if (i + 1 < source_nfs(s))
			walk_wait_jobs(&w, 0);
	}
	w.sfs = NULL;
	pthread_mutex_lock(&w.qlock);
	w.closed = 1;
	pthread_cond_broadcast(&w.qcond);
	pthread_mutex_unlock(&w.qlock);
	/* Report progress while the hashing threads finish. */
	walk_wait_jobs(&w, 1);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	started = 0;
	walk_progress(&w, 1);
	if (w.failed)
		goto out;
	finish_aliases(&w);
	w.st.bytes_hashed = atomic_load(&w.bytes_hashed);
	if (htree_seal(w.t, err) < 0)
		goto out;
	if (htree_dropped(w.t))
		walk_report(&w, NULL, 0, "%zu duplicate names in directories were left out",
			    htree_dropped(w.t));
	w.st.errors = atomic_load(&w.errors);
	w.st.bytes_read = atomic_load(&w.bytes_done);
	w.st.seconds = mono_now() - w.start;
	if (stats)
		*stats = w.st;
	*out = w.t;
	w.t = NULL;
	rc = 0;
out:
	if (started) {
		pthread_mutex_lock(&w.qlock);
		w.closed = 1;
		w.next = w.njobs; /* abandon what is left */
		pthread_cond_broadcast(&w.qcond);
		pthread_mutex_unlock(&w.qlock);
		for (int i = 0; i < started; i++)
			pthread_join(tids[i], NULL);
	}
	/* Blocks whose every job is over were freed as they finished; in the others, the
	 * jobs never taken (a failed walk abandons them) still own their runs. */
	for (size_t b = 0; b < w.nblocks; b++) {
		for (size_t i = 0; w.blocks[b] && i < JOB_BLOCK && b * JOB_BLOCK + i < w.njobs; i++)
			free(w.blocks[b][i].runs);
		free(w.blocks[b]);
	}
	free(w.blocks);
	free(w.bdone);
	for (size_t i = 0; i < w.nheld; i++)
		free(w.held[i].runs);
	free(w.held);
	free(w.aliases);
	map_release(&w.visited);
	map_release(&w.links);
	free(w.ext.block);
	buf_release(&w.path);
	for (int k = 0; k < SOURCE_MAX_FS; k++)
		if (w.root_fds[k] >= 0)
			close(w.root_fds[k]);
	htree_free(w.t);
	pthread_mutex_destroy(&w.qlock);
	pthread_cond_destroy(&w.qcond);
	pthread_cond_destroy(&w.dcond);
	pthread_cond_destroy(&w.scond);
	pthread_mutex_destroy(&w.tlock);
	pthread_mutex_destroy(&w.elock);
	return rc;
}
