/*
 * walk.c - metadata walk and content hashing. See walk.h for the shape.
 *
 * The walking thread reads directories (libtsk here; our XFS reader in walk_xfs.c, the
 * host for dir: sources in walk_dir.c) and queues one hashing job per regular file as soon
 * as it knows where the file's blocks are (the same block runs for libtsk's filesystems and
 * XFS); the hashing threads start at once, so hashing overlaps the metadata walk. A job that needs
 * libtsk to read the content (resident, compressed or inline data) is held back until the
 * walk is over, because libtsk's filesystem state is not ours to share with a walk in
 * progress; those jobs then run one at a time under the source's lock.
 * Jobs live in fixed blocks that never move, so a worker may hold a job while the walking
 * thread queues more; results go into the job and are copied into the tree at the end.
 */
#include "walk_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <tsk/libtsk.h>

#include "buf.h"

#include "banned.h"

#define JOB_BLOCK   4096
#define READ_CHUNK  (1u << 20)
#define MAX_THREADS 64
#define NO_JOB      SIZE_MAX
/*
 * In the links map, a file held back for libtsk (JOB_TSK) is known by its index in the held
 * list, tagged with HELD_JOB, until the held jobs are queued and get their queue index.
 */
#define HELD_JOB ((size_t)1 << 62)

_Static_assert(SOURCE_MAX_FS <= HTREE_MAX_FS, "every filesystem of a source fits in one tree");

enum job_kind { JOB_RUNS, JOB_TSK, JOB_HOST };

struct job {
	size_t entry; /* index of the tree entry */
	enum job_kind kind;
	uint32_t fsi;
	uint64_t inum;
	const char *path; /* borrowed from the tree's arena (stable) */
	uint64_t size;
	uint64_t cost; /* bytes to read: size, or the allocated bytes of a sparse-sha256 */
	uint64_t prefix_len;
	int want_prefix;
	int sparse;              /* hash kind: sparse-sha256 (HTREE_F_SPARSE) rather than sha256 */
	int gold;                /* what gold_prefix() found: GOLD_SAME makes the choice final */
	uint64_t alloc;          /* allocated bytes, as queue_file() was told (for a held job) */
	struct source_run *runs; /* owned */
	size_t nruns;
	/* results */
	unsigned char sha[32], prefix[32];
	uint8_t ok, has_prefix, magic;
};

struct alias {
	size_t entry, job;
};

static double
since(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

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

static int map_put(struct u64map *m, uint64_t key, size_t val) DT_MUST_USE;

static int
map_put(struct u64map *m, uint64_t key, size_t val)
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
static void report_job(struct walker *w, const struct job *j, const char *fmt, ...) DT_PRINTF(3, 4);

static void
report_job(struct walker *w, const struct job *j, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(w, source_fs(w->src, j->fsi)->name, j->path, strlen(j->path), fmt, ap);
	va_end(ap);
}

static void
progress(struct walker *w, int force)
{
	struct walk_progress p;

	if (w->o->on_progress == NULL)
		return;
	if (!force && since(&w->last_progress) < 0.25)
		return;
	clock_gettime(CLOCK_MONOTONIC, &w->last_progress);
	p.entries = w->st.entries;
	p.bytes_done = atomic_load(&w->bytes_done);
	p.bytes_total = w->bytes_total;
	p.elapsed = since(&w->start);
	p.fs = w->sfs ? w->sfs->name : "";
	w->o->on_progress(w->o->progress_ctx, &p);
}

/* ---- the job queue ---- */

static struct job *
job_at(struct walker *w, size_t i)
{
	return &w->blocks[i / JOB_BLOCK][i % JOB_BLOCK];
}

/* Queue a copy of j; the queue owns j's runs from now on. Returns the job's index. */
static size_t
queue_job(struct walker *w, const struct job *j)
{
	size_t idx;

	pthread_mutex_lock(&w->qlock);
	if (w->njobs == w->nblocks * JOB_BLOCK) {
		struct job *blk = NULL;

		if (BUF_GROW(w->blocks, w->nblocks + 1, w->capblocks, NULL) == 0)
			blk = malloc(JOB_BLOCK * sizeof(*blk));
		if (blk == NULL) {
			pthread_mutex_unlock(&w->qlock);
			free(j->runs);
			walk_oom(w);
			return NO_JOB;
		}
		w->blocks[w->nblocks++] = blk;
	}
	idx = w->njobs;
	*job_at(w, idx) = *j;
	w->njobs++;
	w->bytes_total += j->cost;
	pthread_cond_signal(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
	return idx;
}

/* A job is over (hashed or failed): count it, and wake whoever waits for all of them. */
static void
job_done(struct walker *w)
{
	pthread_mutex_lock(&w->qlock);
	if (++w->ndone == w->njobs)
		pthread_cond_broadcast(&w->dcond);
	pthread_mutex_unlock(&w->qlock);
}

/*
 * Wait until every queued job is over. With progress, wake every quarter second to report
 * it (the hashing of the last files can take long).
 */
static void
wait_jobs(struct walker *w, int with_progress)
{
	pthread_mutex_lock(&w->qlock);
	while (w->ndone < w->njobs) {
		struct timespec ts;

		if (!with_progress) {
			pthread_cond_wait(&w->dcond, &w->qlock);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->dcond, &w->qlock, &ts);
		pthread_mutex_unlock(&w->qlock);
		progress(w, 0);
		pthread_mutex_lock(&w->qlock);
	}
	pthread_mutex_unlock(&w->qlock);
}

static struct job *
take_job(struct walker *w)
{
	struct job *j = NULL;

	pthread_mutex_lock(&w->qlock);
	while (w->next >= w->njobs && !w->closed)
		pthread_cond_wait(&w->qcond, &w->qlock);
	if (w->next < w->njobs)
		j = job_at(w, w->next++);
	pthread_mutex_unlock(&w->qlock);
	return j;
}

/* ---- hashing ---- */

struct hasher {
	EVP_MD_CTX *md, *tmp;
	struct job *j;
	uint64_t fed;
	unsigned char head[4];
	/* sparse-sha256: the chunk being filled, its offset in the file and fill level */
	unsigned char chunk[WALK_SPARSE_CHUNK];
	uint64_t chunk_off;
	size_t fill;
};

static void
u64le(unsigned char out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (unsigned char)(v >> (8 * i));
}

/*
 * sparse-sha256 (docs/dtree-format.md): SHA-256 over, for every chunk of WALK_SPARSE_CHUNK
 * bytes of the content (the last one shorter) that is not all zeros, its offset as 8
 * little-endian bytes and its bytes; then the size as 8 little-endian bytes. It depends on
 * the content alone (not on where the filesystem put holes), and holes need no reading.
 */
static void
sparse_flush(struct hasher *h)
{
	unsigned char off[8];

	if (h->chunk_off == 0)
		memcpy(h->head, h->chunk, h->fill < 4 ? h->fill : 4);
	if (h->fill > 0 && (h->chunk[0] != 0 || memcmp(h->chunk, h->chunk + 1, h->fill - 1))) {
		u64le(off, h->chunk_off);
		EVP_DigestUpdate(h->md, off, 8);
		EVP_DigestUpdate(h->md, h->chunk, h->fill);
	}
	h->chunk_off += h->fill;
	h->fill = 0;
}

static void
sparse_data(struct hasher *h, const unsigned char *p, size_t n)
{
	while (n > 0) {
		size_t k = sizeof(h->chunk) - h->fill < n ? sizeof(h->chunk) - h->fill : n;

		memcpy(h->chunk + h->fill, p, k);
		h->fill += k;
		h->fed += k;
		p += k;
		n -= k;
		if (h->fill == sizeof(h->chunk))
			sparse_flush(h);
	}
}

/* n bytes of zeros: whole chunks cost nothing. */
static void
sparse_zeros(struct hasher *h, uint64_t n)
{
	uint64_t whole;

	if (h->fill > 0) {
		size_t k = sizeof(h->chunk) - h->fill < n ? sizeof(h->chunk) - h->fill : (size_t)n;

		memset(h->chunk + h->fill, 0, k);
		h->fill += k;
		h->fed += k;
		n -= k;
		if (h->fill == sizeof(h->chunk))
			sparse_flush(h);
	}
	whole = n - n % sizeof(h->chunk);
	h->chunk_off += whole;
	h->fed += whole;
	n -= whole;
	memset(h->chunk, 0, (size_t)n);
	h->fill = (size_t)n;
	h->fed += n;
}

static void
feed(struct hasher *h, const unsigned char *p, size_t n)
{
	struct job *j = h->j;

	if (j->sparse) {
		sparse_data(h, p, n);
		return;
	}
	if (h->fed < 4) {
		size_t k = 4 - (size_t)h->fed < n ? 4 - (size_t)h->fed : n;
		memcpy(h->head + h->fed, p, k);
	}
	if (j->want_prefix && !j->has_prefix && h->fed + n >= j->prefix_len) {
		size_t k = (size_t)(j->prefix_len - h->fed);
		unsigned int len;

		EVP_DigestUpdate(h->md, p, k);
		EVP_MD_CTX_copy_ex(h->tmp, h->md);
		EVP_DigestFinal_ex(h->tmp, j->prefix, &len);
		j->has_prefix = 1;
		p += k;
		n -= k;
		h->fed += k;
	}
	EVP_DigestUpdate(h->md, p, n);
	h->fed += n;
}

static int
hash_runs(struct walker *w, struct hasher *h, unsigned char *buf, struct dt_err *err)
{
	static const unsigned char zeros[65536];
	struct job *j = h->j;

	for (size_t r = 0; r < j->nruns; r++) {
		uint64_t left = j->runs[r].len, off = j->runs[r].off;

		while (left > 0) {
			size_t n = left > READ_CHUNK ? READ_CHUNK : (size_t)left;
			ssize_t got;

			if (off == SOURCE_SPARSE && j->sparse) {
				sparse_zeros(h, left);
				break;
			}
			if (off == SOURCE_SPARSE) {
				n = n > sizeof(zeros) ? sizeof(zeros) : n;
				feed(h, zeros, n);
				left -= n;
				continue;
			}
			got = source_read(w->src, off, buf, n, err);
			if (got < 0)
				return -1;
			if ((size_t)got < n)
				return dt_fail(
					err, DT_EIO,
					"the image ends at byte %llu, inside the file's data",
					(unsigned long long)(off + (uint64_t)got));
			feed(h, buf, n);
			atomic_fetch_add(&w->bytes_done, n);
			off += n;
			left -= n;
		}
	}
	return 0;
}

static int
hash_tsk(struct walker *w, struct hasher *h, unsigned char *buf, struct dt_err *err)
{
	struct job *j = h->j;
	TSK_FS_INFO *fs = source_fs(w->src, j->fsi)->tsk_fs;
	TSK_FS_FILE *f;
	TSK_OFF_T off = 0;
	int rc = 0;

	source_lock(w->src);
	f = tsk_fs_file_open_meta(fs, NULL, (TSK_INUM_T)j->inum);
	if (f == NULL) {
		const char *m = tsk_error_get();
		rc = dt_fail(err, DT_EIO, "cannot open the file's metadata: %s", m ? m : "?");
		tsk_error_reset();
		goto out;
	}
	while ((uint64_t)off < j->size) {
		size_t n = j->size - (uint64_t)off > READ_CHUNK ? READ_CHUNK
								: (size_t)(j->size - (uint64_t)off);
		ssize_t got = tsk_fs_file_read(f, off, (char *)buf, n, TSK_FS_FILE_READ_FLAG_NONE);

		if (got <= 0) {
			const char *m = tsk_error_get();
			rc = dt_fail(err, DT_EIO, "read error at byte %lld of the file: %s",
				     (long long)off, m && *m ? m : "short read");
			tsk_error_reset();
			break;
		}
		feed(h, buf, (size_t)got);
		atomic_fetch_add(&w->bytes_done, (uint64_t)got);
		off += got;
	}
	tsk_fs_file_close(f);
out:
	source_unlock(w->src);
	return rc;
}

static int
hash_host(struct walker *w, struct hasher *h, unsigned char *buf, struct dt_err *err)
{
	struct job *j = h->j;
	int fd = source_openat_beneath(w->root_fds[j->fsi], j->path);
	uint64_t total = 0;

	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open");
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (;;) {
		ssize_t n;

		/* sparse-sha256: skip the holes the host knows of (SEEK_DATA), read the rest. */
		if (j->sparse && total < j->size) {
			off_t data = lseek(fd, (off_t)total, SEEK_DATA);
			uint64_t to = data < 0 ? j->size : (uint64_t)data;

			if (to > j->size)
				to = j->size;
			if (to > total) {
				sparse_zeros(h, to - total);
				total = to;
			}
			if (lseek(fd, (off_t)total, SEEK_SET) < 0) {
				dt_fail_errno(err, DT_EIO, "cannot seek to byte %llu",
					      (unsigned long long)total);
				close(fd);
				return -1;
			}
			if (total >= j->size)
				break;
		}
		n = read(fd, buf, READ_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			dt_fail_errno(err, DT_EIO, "read error at byte %llu",
				      (unsigned long long)total);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		feed(h, buf, (size_t)n);
		atomic_fetch_add(&w->bytes_done, (uint64_t)n);
		total += (uint64_t)n;
	}
	close(fd);
	if (total != j->size)
		return dt_fail(err, DT_EIO,
			       "size changed while reading (%llu bytes, expected %llu)",
			       (unsigned long long)total, (unsigned long long)j->size);
	return 0;
}

static void
run_job(struct walker *w, struct hasher *h, unsigned char *buf)
{
	struct job *j = h->j;
	struct dt_err err = { 0 };
	unsigned int len;
	int rc;

	h->fed = 0;
	h->fill = 0;
	h->chunk_off = 0;
	memset(h->head, 0, sizeof(h->head));
	EVP_DigestInit_ex(h->md, EVP_sha256(), NULL);
	if (j->want_prefix && j->prefix_len == 0)
		feed(h, (const unsigned char *)"", 0);
	switch (j->kind) {
	case JOB_RUNS: rc = hash_runs(w, h, buf, &err); break;
	case JOB_TSK: rc = hash_tsk(w, h, buf, &err); break;
	default: rc = hash_host(w, h, buf, &err); break;
	}
	if (rc == 0 && h->fed != j->size)
		rc = dt_fail(&err, DT_EIO, "read %llu bytes of a %llu-byte file",
			     (unsigned long long)h->fed, (unsigned long long)j->size);
	if (j->sparse) {
		unsigned char sz[8];

		sparse_flush(h);
		u64le(sz, j->size);
		EVP_DigestUpdate(h->md, sz, 8);
	}
	EVP_DigestFinal_ex(h->md, j->sha, &len);
	if (rc == 0) {
		j->ok = 1;
		if (memcmp(h->head,
			   "\x7f"
			   "ELF",
			   4) == 0)
			j->magic = HTREE_MAGIC_ELF;
		else if (h->head[0] == '#' && h->head[1] == '!')
			j->magic = HTREE_MAGIC_SCRIPT;
	} else {
		j->has_prefix = 0;
		report_job(w, j, "cannot read file content: %s", err.msg);
	}
	job_done(w);
}

static void *
worker(void *arg)
{
	struct walker *w = arg;
	struct hasher h = { 0 };
	unsigned char *buf = malloc(READ_CHUNK);
	struct job *j;

	h.md = EVP_MD_CTX_new();
	h.tmp = EVP_MD_CTX_new();
	while ((j = take_job(w)) != NULL) {
		h.j = j;
		if (buf == NULL || h.md == NULL || h.tmp == NULL) {
			report_job(w, j, "cannot read file content: out of memory");
			job_done(w);
			continue;
		}
		run_job(w, &h, buf);
	}
	EVP_MD_CTX_free(h.md);
	EVP_MD_CTX_free(h.tmp);
	free(buf);
	return NULL;
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

static int add_alias(struct walker *w, size_t entry, size_t job) DT_MUST_USE;
static int hold_job(struct walker *w, const struct job *j) DT_MUST_USE;

static int
add_alias(struct walker *w, size_t entry, size_t job)
{
	if (BUF_GROW(w->aliases, w->naliases + 1, w->capaliases, NULL) < 0)
		return walk_oom(w);
	w->aliases[w->naliases].entry = entry;
	w->aliases[w->naliases].job = job;
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

/*
 * The digest of where a file of size bytes lies (docs/dtree-format.md, "Block-run
 * digests"): SHA-256 of u64le size, then u64le logical offset, image offset (all ones for a
 * hole) and length of every run, in order. Image offsets, not filesystem ones: a
 * changed-block list speaks of the image's blocks.
 */
static void
runs_digest(const struct source_run *r, size_t n, uint64_t size, unsigned char out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char le[24];
	unsigned int len;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		DT_BUG("SHA-256 is not available");
	}
	u64le(le, size);
	EVP_DigestUpdate(md, le, 8);
	for (size_t i = 0; i < n; i++) {
		u64le(le, r[i].lo);
		u64le(le + 8, r[i].off);
		u64le(le + 16, r[i].len);
		EVP_DigestUpdate(md, le, 24);
	}
	EVP_DigestFinal_ex(md, out, &len);
	EVP_MD_CTX_free(md);
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
	} else if (g->inode != e->inode || g->mtime != e->mtime || g->ctime != e->ctime) {
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
		/* A held job has not started: this name may know the gold better. */
		if (*seen & HELD_JOB) {
			struct job *h = &w->held[*seen & ~HELD_JOB], t = *h;
			t.want_prefix = 0;
			t.prefix_len = 0;
			t.gold = gold_prefix(w, &t, e->path, e->path_len, h->alloc);
			if (t.gold > h->gold)
				*h = t;
		}
		if (add_alias(w, entry, *seen) < 0)
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

		runs_digest(j.runs, j.nruns, e->size, te->runs);
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
		if ((e->nlink > 1 && map_put(&w->links, e->inode, HELD_JOB | w->nheld) < 0) ||
		    hold_job(w, &j) < 0) {
			free(j.runs);
			walk_oom(w);
		}
		return;
	}
	size_t idx = queue_job(w, &j);
	if (idx != NO_JOB && e->nlink > 1 && map_put(&w->links, e->inode, idx) < 0)
		walk_oom(w);
}

/*
 * Seconds and nanoseconds as the tree's int64 nanoseconds. Seconds beyond what that holds
 * (2262-04-11; a .dtree reader refuses more) are clamped to its edge: ext4 can say 2446,
 * hostile NTFS times anything.
 */
int64_t
walk_clamp_ns(int64_t s, int64_t ns)
{
	const int64_t lim = INT64_MAX / 1000000000 - 1;

	if (s > lim)
		return lim * 1000000000;
	if (s < -lim)
		return -lim * 1000000000;
	return s * 1000000000 + ns;
}

static int64_t
ns_time(time_t s, uint32_t ns)
{
	if (s == 0 && ns == 0)
		return HTREE_NO_TIME;
	return walk_clamp_ns((int64_t)s, ns < 1000000000 ? (int64_t)ns : 0);
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
static int64_t
ext_time(const unsigned char *p, const unsigned char *extra)
{
	int64_t s = (int32_t)buf_le32(p);
	uint32_t x;

	if (extra == NULL)
		return s * 1000000000;
	x = buf_le32(extra);
	/* As the kernel's ext4_decode_extra_time(): the low two bits extend the seconds. */
	s += (int64_t)(x & 3) << 32;
	return walk_clamp_ns(s, (int64_t)((x >> 2) % 1000000000));
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
	e->atime = ext_time(in + 0x08, extra >= 16 ? in + 0x8c : NULL);
	e->ctime = ext_time(in + 0x0c, extra >= 8 ? in + 0x84 : NULL);
	e->mtime = ext_time(in + 0x10, extra >= 12 ? in + 0x88 : NULL);
	e->crtime = extra >= 24 ? ext_time(in + 0x90, in + 0x94) : HTREE_NO_TIME;
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
	e->mtime = ns_time(m->mtime, m->mtime_nano);
	e->atime = ns_time(m->atime, m->atime_nano);
	e->ctime = ns_time(m->ctime, m->ctime_nano);
	e->crtime = ns_time(m->crtime, m->crtime_nano);
	if (w->ext.ok)
		ext_times(w, e);
}

/*
 * Append "/name" to the current path (the root is "/"); *old is the length to pop back to,
 * also on failure (the path would pass HTREE_MAX_PATH: walk_path_too_long()).
 */
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
	if (map_put(&w->visited, inum, 1) < 0) {
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

static void walk_tsk_dir(struct walker *w, TSK_INUM_T inum, int depth);

/* Add e at the current path; -1 when the tree refused it (w->failed is set: the walk stops). */
int
walk_add_entry(struct walker *w, struct htree_entry *e, int64_t *idx)
{
	e->path = (const char *)w->path.data;
	e->path_len = (uint32_t)w->path.len;
	e->fs = w->fsi;
	*idx = htree_add(w->t, e, w->err);
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
		progress(w, 0);
	return 0;
}

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
		e.mtime = e.atime = e.ctime = e.crtime = HTREE_NO_TIME;
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

static int
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
	    map_put(&w->visited, (uint64_t)w->fs->root_inum, 1) < 0)
		return walk_oom(w);
	if (walk_add_entry(w, &e, &idx) < 0)
		return -1;
	walk_tsk_dir(w, w->fs->root_inum, 0);
	return w->failed ? -1 : 0;
}

/* ---- the whole walk ---- */

static void
finish_jobs(struct walker *w)
{
	/* Results into the tree; hard-link aliases copy their inode's result. */
	for (size_t i = 0; i < w->njobs; i++) {
		struct job *j = job_at(w, i);
		struct htree_entry *e = htree_at(w->t, j->entry);

		if (j->ok) {
			memcpy(e->sha256, j->sha, 32);
			e->flags |= HTREE_F_HASHED | (j->sparse ? HTREE_F_SPARSE : 0);
			e->magic = j->magic;
			w->st.bytes_hashed += j->cost;
			if (j->has_prefix) {
				memcpy(e->prefix, j->prefix, 32);
				e->prefix_len = j->prefix_len;
				e->flags |= HTREE_F_PREFIX;
			}
		} else {
			e->flags |= HTREE_F_READERR;
		}
	}
	for (size_t i = 0; i < w->naliases; i++) {
		size_t ji = w->aliases[i].job;
		struct htree_entry *e = htree_at(w->t, w->aliases[i].entry);
		struct job *j;

		if (ji == NO_JOB || ji >= w->njobs)
			continue;
		j = job_at(w, ji);
		if (j->ok) {
			memcpy(e->sha256, j->sha, 32);
			e->flags |= HTREE_F_HASHED | (j->sparse ? HTREE_F_SPARSE : 0);
			e->magic = j->magic;
			if (j->has_prefix && e->size == j->size) {
				const struct htree_entry *g =
					w->gold_fs >= 0
						? htree_find(w->o->gold, (uint32_t)w->gold_fs,
							     e->path, e->path_len)
						: NULL;
				if (g && g->size == j->prefix_len) {
					memcpy(e->prefix, j->prefix, 32);
					e->prefix_len = j->prefix_len;
					e->flags |= HTREE_F_PREFIX;
				}
			}
		} else {
			e->flags |= HTREE_F_READERR;
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
	size_t held_base;

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
	pthread_mutex_init(&w.elock, NULL);
	buf_init(&w.path, HTREE_MAX_PATH);
	clock_gettime(CLOCK_MONOTONIC, &w.start);
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
			if (pthread_create(&tids[started], NULL, worker, &w) != 0)
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
		/* Content that needs libtsk: now that nothing else uses it. Hard-link aliases
		 * of held jobs learn their final index here. */
		held_base = w.njobs;
		for (size_t k = 0; k < w.nheld; k++)
			queue_job(&w, &w.held[k]);
		for (size_t k = 0; k < w.naliases; k++)
			if (w.aliases[k].job != NO_JOB && (w.aliases[k].job & HELD_JOB))
				w.aliases[k].job = held_base + (w.aliases[k].job & ~HELD_JOB);
		w.nheld = 0;
		/* The next filesystem's libtsk walk must wait for this one's held jobs. */
		if (i + 1 < source_nfs(s))
			wait_jobs(&w, 0);
	}
	w.sfs = NULL;
	pthread_mutex_lock(&w.qlock);
	w.closed = 1;
	pthread_cond_broadcast(&w.qcond);
	pthread_mutex_unlock(&w.qlock);
	/* Report progress while the hashing threads finish. */
	wait_jobs(&w, 1);
	for (int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	started = 0;
	progress(&w, 1);
	if (w.failed)
		goto out;
	finish_jobs(&w);
	if (htree_seal(w.t, err) < 0)
		goto out;
	if (htree_dropped(w.t))
		walk_report(&w, NULL, 0, "%zu duplicate names in directories were left out",
			    htree_dropped(w.t));
	w.st.errors = atomic_load(&w.errors);
	w.st.bytes_read = atomic_load(&w.bytes_done);
	w.st.seconds = since(&w.start);
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
	for (size_t i = 0; i < w.njobs; i++)
		free(job_at(&w, i)->runs);
	for (size_t i = 0; i < w.nblocks; i++)
		free(w.blocks[i]);
	free(w.blocks);
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
	pthread_mutex_destroy(&w.elock);
	return rc;
}
