/*
 * content.c - the content cache of the FUSE view (block maps and libtsk handles of
 * recently read files) and the reads through it.
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

/* Under c->lock: e's slot, with a reference taken, or NULL when e is not mapped. */
static struct fslot *
slot_hold(struct fcache *c, const struct htree_entry *e)
{
	for (size_t i = 0; i < FUSEFS_CACHE_FILES; i++) {
		struct fslot *s = &c->slot[i];

		if (s->used && s->fs == e->fs && s->inode == e->inode && s->size == e->size) {
			s->refs++;
			s->stamp = ++c->clock;
			return s;
		}
	}
	return NULL;
}

/* A slot for e with a reference held: fusefs_cache_put() it. NULL with err filled on failure. */
struct fslot *
fusefs_cache_get(struct fusefs *f, const struct htree_entry *e, struct dt_err *err)
{
	struct fcache *c = &f->cache;
	struct fslot fresh, old, *s = NULL, *victim = NULL;

	pthread_mutex_lock(&c->lock);
	s = slot_hold(c, e);
	pthread_mutex_unlock(&c->lock);
	if (s)
		return s;
	/* Built outside the table's lock: other files go on being read meanwhile. */
	if (slot_build(f, e, &fresh, err) < 0)
		return NULL;
	fresh.used = 1;
	fresh.refs = 1;
	memset(&old, 0, sizeof(old));
	pthread_mutex_lock(&c->lock);
	s = slot_hold(c, e);
	if (s) {
		/* Another thread mapped it first. */
		pthread_mutex_unlock(&c->lock);
		slot_clear(f, &fresh);
		return s;
	}
	for (size_t i = 0; i < FUSEFS_CACHE_FILES; i++) {
		s = &c->slot[i];
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

void
fusefs_cache_put(struct fusefs *f, struct fslot *s)
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

void
fusefs_cache_release(struct fusefs *f)
{
	if (!f->cache_ready)
		return;
	for (size_t i = 0; i < FUSEFS_CACHE_FILES; i++)
		if (f->cache.slot[i].used)
			slot_clear(f, &f->cache.slot[i]);
	pthread_mutex_destroy(&f->cache.lock);
	f->cache_ready = 0;
}

size_t
fusefs_run_first(const struct fslot *s, uint64_t off)
{
	size_t lo = 0, hi = s->nruns;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->runs[mid].lo + s->runs[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Read through a block map: straight from the image, no lock (source_read is thread-safe). */
static ssize_t
read_runs(struct fusefs *f, const struct fslot *s, char *buf, size_t len, uint64_t off,
	  struct dt_err *err)
{
	size_t done = 0;

	for (size_t r = fusefs_run_first(s, off); r < s->nruns && done < len; r++) {
		const struct source_run *run = &s->runs[r];
		uint64_t in = off + done - run->lo;
		size_t n = len - done;

		if (n > run->len - in)
			n = (size_t)(run->len - in);
		if (run->off == SOURCE_SPARSE) {
			memset(buf + done, 0, n);
		} else {
			if (source_read_exact(f->src, run->off + in, buf + done, n, err) < 0)
				return -1;
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

ssize_t
fusefs_read_content(struct fusefs *f, const struct htree_entry *e, char *buf, size_t len,
		    uint64_t off, struct dt_err *err)
{
	struct fslot *s;
	ssize_t n;

	if (off >= e->size || len == 0)
		return 0;
	if (len > e->size - off)
		len = (size_t)(e->size - off);
	s = fusefs_cache_get(f, e, err);
	if (s == NULL)
		return -1;
	if (s->runs)
		n = read_runs(f, s, buf, len, off, err);
	else if (s->file)
		n = read_tsk(f, s, buf, len, off, err);
	else
		n = source_read_file(f->src, e->fs, e->inode, e->path, off, buf, len, err);
	fusefs_cache_put(f, s);
	return n;
}
