/*
 * walk_hash.c - the hashing side of the walk: the job queue (blocks that never move, so a
 * hashing thread may hold a job while the walking thread queues more) and the hashing
 * threads (sha256 or sparse-sha256 of each queued file, and its prefix hash when the gold
 * had a shorter version), reading block runs from the image, through libtsk, or the host.
 * See walk_int.h.
 */
#include "walk_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <tsk/libtsk.h>

#include "buf.h"

#include "banned.h"

#define MAX_QUEUED (16 * JOB_BLOCK) /* jobs queued and not over: the walk waits beyond */
#define READ_CHUNK (1u << 20)

/* ---- the job queue ---- */

struct job *
walk_job_at(struct walker *w, size_t i)
{
	return &w->blocks[i / JOB_BLOCK][i % JOB_BLOCK];
}

/* Queue a copy of j; the queue owns j's runs from now on. Returns the job's index. */
size_t
walk_queue_job(struct walker *w, const struct job *j)
{
	size_t idx;

	pthread_mutex_lock(&w->qlock);
	/* Bounded: the walk waits while the hashing threads are far behind. */
	while (w->njobs - w->ndone >= MAX_QUEUED)
		pthread_cond_wait(&w->scond, &w->qlock);
	if (w->njobs == w->nblocks * JOB_BLOCK) {
		struct job *blk = NULL;

		if (BUF_GROW(w->blocks, w->nblocks + 1, w->capblocks, NULL) == 0 &&
		    BUF_GROW(w->bdone, w->nblocks + 1, w->capbdone, NULL) == 0)
			blk = malloc(JOB_BLOCK * sizeof(*blk));
		if (blk == NULL) {
			pthread_mutex_unlock(&w->qlock);
			free(j->runs);
			walk_oom(w);
			return NO_JOB;
		}
		w->bdone[w->nblocks] = 0;
		w->blocks[w->nblocks++] = blk;
	}
	idx = w->njobs;
	*walk_job_at(w, idx) = *j;
	w->njobs++;
	w->bytes_total += j->cost;
	pthread_cond_signal(&w->qcond);
	pthread_mutex_unlock(&w->qlock);
	return idx;
}

/*
 * Job i is over (hashed or failed): count it, free its block once every job in it is over,
 * and wake whoever waits for room or for all of them.
 */
static void
job_done(struct walker *w, size_t i)
{
	struct job *blk = NULL;

	pthread_mutex_lock(&w->qlock);
	if (++w->bdone[i / JOB_BLOCK] == JOB_BLOCK) {
		blk = w->blocks[i / JOB_BLOCK];
		w->blocks[i / JOB_BLOCK] = NULL;
	}
	if (++w->ndone == w->njobs)
		pthread_cond_broadcast(&w->dcond);
	if (w->njobs - w->ndone == MAX_QUEUED / 2)
		pthread_cond_signal(&w->scond);
	pthread_mutex_unlock(&w->qlock);
	free(blk);
}

/*
 * Wait until every queued job is over. With progress, wake every quarter second to report
 * it (the hashing of the last files can take long).
 */
void
walk_wait_jobs(struct walker *w, int with_progress)
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
		walk_progress(w, 0);
		pthread_mutex_lock(&w->qlock);
	}
	pthread_mutex_unlock(&w->qlock);
}

static struct job *
take_job(struct walker *w, size_t *idx)
{
	struct job *j = NULL;

	pthread_mutex_lock(&w->qlock);
	while (w->next >= w->njobs && !w->closed)
		pthread_cond_wait(&w->qcond, &w->qlock);
	if (w->next < w->njobs) {
		*idx = w->next;
		j = walk_job_at(w, w->next++);
	}
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
			if (source_read_exact(w->src, off, buf, n, err) < 0)
				return -1;
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

/*
 * The result of job j into its tree entry: under tlock, because the walking thread may be
 * growing the tree (and moving its entries) meanwhile.
 */
static void
put_result(struct walker *w, struct job *j, const unsigned char sha[32], uint8_t magic, int ok)
{
	struct htree_entry *e;

	pthread_mutex_lock(&w->tlock);
	e = htree_at(w->t, j->entry);
	if (ok) {
		memcpy(e->sha256, sha, 32);
		e->flags |= HTREE_F_HASHED | (j->sparse ? HTREE_F_SPARSE : 0);
		e->magic = magic;
		/* Out of memory for a prefix hash: the diff says modified, not appended. */
		if (j->has_prefix)
			(void)!htree_set_prefix(w->t, j->entry, j->prefix, j->prefix_len, NULL);
	} else {
		e->flags |= HTREE_F_READERR;
	}
	pthread_mutex_unlock(&w->tlock);
	if (ok)
		atomic_fetch_add(&w->bytes_hashed, j->cost);
}

static void
run_job(struct walker *w, struct hasher *h, unsigned char *buf)
{
	struct job *j = h->j;
	struct dt_err err = { 0 };
	unsigned char sha[32];
	uint8_t magic = HTREE_MAGIC_NONE;
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
	EVP_DigestFinal_ex(h->md, sha, &len);
	if (rc == 0) {
		if (memcmp(h->head,
			   "\x7f"
			   "ELF",
			   4) == 0)
			magic = HTREE_MAGIC_ELF;
		else if (h->head[0] == '#' && h->head[1] == '!')
			magic = HTREE_MAGIC_SCRIPT;
	} else {
		j->has_prefix = 0;
		walk_report_job(w, j, "cannot read file content: %s", err.msg);
	}
	put_result(w, j, sha, magic, rc == 0);
}

void *
walk_hash_thread(void *arg)
{
	struct walker *w = arg;
	struct hasher h = { 0 };
	unsigned char *buf = malloc(READ_CHUNK);
	struct job *j;
	size_t idx;

	h.md = EVP_MD_CTX_new();
	h.tmp = EVP_MD_CTX_new();
	while ((j = take_job(w, &idx)) != NULL) {
		h.j = j;
		if (buf == NULL || h.md == NULL || h.tmp == NULL) {
			walk_report_job(w, j, "cannot read file content: out of memory");
			put_result(w, j, NULL, 0, 0);
		} else {
			run_job(w, &h, buf);
		}
		free(j->runs);
		j->runs = NULL;
		job_done(w, idx);
	}
	EVP_MD_CTX_free(h.md);
	EVP_MD_CTX_free(h.tmp);
	free(buf);
	return NULL;
}

/*
 * The digest of where a file of size bytes lies (docs/dtree-format.md, "Block-run
 * digests"): SHA-256 of u64le size, then u64le logical offset, image offset (all ones for a
 * hole) and length of every run, in order. Image offsets, not filesystem ones: a
 * changed-block list speaks of the image's blocks.
 */
void
walk_runs_digest(const struct source_run *r, size_t n, uint64_t size, unsigned char out[32])
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
