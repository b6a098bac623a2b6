/*
 * build.c - fusefs_new(): the source walked into a sealed tree, diffed against the gold
 * for a delta view, and what the view shows.
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
#include "mono.h"

#include "banned.h"

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

/* Diff against the gold into the view's events, exactly as `deltair diff` prints them. */
static int
build_delta(struct builder *b, const struct walk_stats *ws, double t0, struct dt_err *err)
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
	sum = events_summary(&ds, ws->bytes_hashed, b->errors, b->errors, mono_now() - t0, o->gold,
			     o->gold_path, f->t, NULL);
	if (sum)
		events_summary_reads(sum, ws, NULL, NULL, 0, 0);
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
		f->root_times[k].s = HTREE_NO_TIME;
	}
	for (size_t i = 0; i < htree_count(f->t); i++) {
		const struct htree_entry *e = htree_get(f->t, i);

		/* An absent time compares earliest: it never replaces one. */
		if (e->depth == 1 &&
		    htree_time_cmp(htree_time_of(e, HTREE_MTIME), f->root_times[e->fs]) > 0)
			f->root_times[e->fs] = htree_time_of(e, HTREE_MTIME);
	}
	for (size_t k = 0; k < nfs; k++)
		if (f->root_times[k].s == HTREE_NO_TIME)
			f->root_times[k] = htree_time_make(f->born.tv_sec, f->born.tv_nsec);
	return 0;
}

int
fusefs_new(struct source *src, const struct fusefs_opts *o, struct fusefs **out, struct dt_err *err)
{
	struct fusefs *f;
	struct builder b;
	struct walk_opts wo;
	struct walk_stats ws;
	double t0;
	FILE *mem = NULL;
	int rc = -1;

	*out = NULL;
	t0 = mono_now();
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
		if (build_delta(&b, &ws, t0, err) < 0)
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
