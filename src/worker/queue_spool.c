/*
 * queue_spool.c - the spool folder queue (queue.h, "spool:DIR"): jobs are files.
 *   incoming/ID       waiting; "ID~N" once it was claimed N times and given back
 *   processing/ID~N   claimed for the Nth time; its mtime is when the lease runs out
 *   done/ID           finished (results complete)
 *   failed/ID         given up, with failed/ID.reason: one line, why
 * Every move is one rename(2) within DIR, so each job is in exactly one place and two
 * workers racing for a file see one rename succeed and the other fail with ENOENT. A claim
 * renames to a new name (the count goes up), so a worker whose lease ran out and whose job
 * was claimed again finds its name gone and cannot finish or give back a job it no longer
 * holds. Files whose names start with '.' are temporary and never jobs.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "mono.h"
#include "outfile.h"
#include "worker/queue_int.h"

#include "banned.h"

#define SPOOL_MAX_BODY   (1024u * 1024) /* job.c takes at most 256 KiB */
#define SPOOL_MAX_LISTED 10000          /* names looked at per scan of a folder */
#define SPOOL_POLL_MS    200
#define SPOOL_ID_MAX     200

enum { SP_IN, SP_PROC, SP_DONE, SP_FAILED, SP_NDIRS };
static const char *const spool_dirs[SP_NDIRS] = { "incoming", "processing", "done", "failed" };

struct queue {
	struct queue_base base;
	char *path; /* owned: DIR */
	int fd[SP_NDIRS];
	unsigned lease;
	unsigned max_receives;
	volatile sig_atomic_t *stop; /* borrowed; NULL: never */
};

struct spool_handle {
	const struct queue_ops *ops;  /* first: queue_msg_free() finds the backend here */
	char name[SPOOL_ID_MAX + 16]; /* the claim's name in processing/ */
	unsigned count;
};

static int
set_expiry(int dirfd, const char *name, unsigned seconds)
{
	struct timespec ts[2];

	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[1] = ts[0];
	ts[1].tv_sec += seconds;
	return utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW);
}

/* "ID~N" into id and *count (N); a name without a count suffix is count 0. */
static int
split_name(const char *name, char *id, size_t idsz, unsigned *count)
{
	const char *tilde = strrchr(name, '~');
	size_t n = strlen(name);

	*count = 0;
	if (tilde && tilde[1] != '\0' && strspn(tilde + 1, "0123456789") == strlen(tilde + 1) &&
	    strlen(tilde + 1) < 9) {
		*count = (unsigned)strtoul(tilde + 1, NULL, 10);
		n = (size_t)(tilde - name);
	}
	if (n == 0 || n >= idsz)
		return -1;
	memcpy(id, name, n);
	id[n] = '\0';
	return 0;
}

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The job names in folder k, sorted (oldest first for the ids queue_send makes); with
 * expired, only those whose lease ran out. *names: caller frees each and the array.
 */
static int
list_names(struct queue *q, int k, int expired, char ***names, size_t *n, struct dt_err *err)
{
	int fd = dup(q->fd[k]);
	DIR *d;
	struct dirent *de;
	char **v = NULL;
	size_t cap = 0;
	time_t now = time(NULL);

	*names = NULL;
	*n = 0;
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return dt_fail_errno(err, DT_EIO, "spool '%s': cannot read %s/", q->path,
				     spool_dirs[k]);
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL && *n < SPOOL_MAX_LISTED) {
		struct stat sb;

		if (de->d_name[0] == '.' || strlen(de->d_name) > SPOOL_ID_MAX)
			continue;
		if (expired && (fstatat(q->fd[k], de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
				sb.st_mtime > now))
			continue;
		if (BUF_GROW(v, *n + 1, cap, err) < 0)
			break;
		if ((v[*n] = strdup(de->d_name)) == NULL) {
			dt_fail(err, DT_ENOMEM, "spool: out of memory");
			break;
		}
		(*n)++;
	}
	closedir(d);
	if (err && err->code != DT_OK) {
		buf_free_strings(v, *n);
		*n = 0;
		return -1;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), cmp_names);
	*names = v;
	return 0;
}

/* Write text as failed/ID.reason, under a temporary name first. */
static int
write_reason(struct queue *q, const char *id, const char *reason, unsigned count,
	     struct dt_err *err)
{
	char final[SPOOL_ID_MAX + 16], *line = NULL;
	struct outfile_tmp t;
	int n, ok;

	snprintf(final, sizeof(final), "%s.reason", id);
	/* One line: a reason with a newline in it would read as two. */
	n = asprintf(&line, "%s (after %u claim%s)\n", reason, count, count == 1 ? "" : "s");
	if (n < 0)
		return dt_fail(err, DT_ENOMEM, "spool: out of memory");
	for (char *p = line; p < line + n - 1; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	ok = outfile_tmp_open(&t, q->fd[SP_FAILED], final) == 0;
	if (ok)
		ok = outfile_tmp_commit(&t, final, outfile_write_all(t.fd, line, (size_t)n) == 0,
					1) == 0;
	free(line);
	if (!ok)
		return dt_fail_errno(err, DT_EIO, "spool '%s': cannot write failed/%s", q->path,
				     final);
	return 0;
}

/* processing/name (claim count) into failed/ID with its reason. */
static int
to_failed(struct queue *q, const char *name, unsigned count, const char *reason, struct dt_err *err)
{
	char id[SPOOL_ID_MAX + 1];
	unsigned dummy;

	if (split_name(name, id, sizeof(id), &dummy) < 0)
		return dt_fail(err, DT_EBUG, "spool: bad claim name '%s'", name);
	if (write_reason(q, id, reason, count, err) < 0)
		return -1;
	if (renameat(q->fd[SP_PROC], name, q->fd[SP_FAILED], id) < 0)
		return dt_fail_errno(err, DT_EIO,
				     "spool '%s': cannot move processing/%s to failed/", q->path,
				     name);
	return 0;
}

/*
 * Read the claimed processing/name. A job that is not a regular file, or too large to be
 * one, goes straight to failed/: it would fail the same way every time. 1 and *body, 0 when
 * it went to failed/, -1 on failure.
 */
static int
read_claim(struct queue *q, const char *name, unsigned count, char **body, size_t *len,
	   struct dt_err *err)
{
	int fd = openat(q->fd[SP_PROC], name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat sb;
	const char *why = NULL;
	char *p = NULL;
	size_t n = 0;

	*body = NULL;
	if (fd < 0 && errno == ELOOP)
		why = "not a regular file (a symbolic link)";
	else if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "spool '%s': cannot open processing/%s", q->path,
				     name);
	else if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode))
		why = "not a regular file";
	else if ((uint64_t)sb.st_size > SPOOL_MAX_BODY)
		why = "larger than 1 MiB";
	if (why == NULL) {
		p = malloc((size_t)sb.st_size + 1);
		if (p == NULL) {
			close(fd);
			return dt_fail(err, DT_ENOMEM, "spool: out of memory");
		}
		while (n < (size_t)sb.st_size) {
			ssize_t r = read(fd, p + n, (size_t)sb.st_size - n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			n += (size_t)r;
		}
		p[n] = '\0';
	}
	if (fd >= 0)
		close(fd);
	if (why) {
		if (to_failed(q, name, count, why, err) < 0)
			return -1;
		return 0;
	}
	*body = p;
	*len = n;
	return 1;
}

/*
 * Claim folder k's name: 1 and *out, 0 when another worker won it (or it went to failed/),
 * -1 on failure.
 */
static int
claim(struct queue *q, int k, const char *name, struct queue_msg **out, struct dt_err *err)
{
	char id[SPOOL_ID_MAX + 1];
	struct spool_handle *h;
	struct queue_msg *m;
	unsigned count;
	char *body;
	size_t len = 0;
	int r;

	if (split_name(name, id, sizeof(id), &count) < 0)
		return 0;
	/* The lease starts before the rename: a claim never looks expired, even for an
	 * instant, to a worker scanning processing/. */
	if (set_expiry(q->fd[k], name, q->lease) < 0)
		return errno == ENOENT ? 0
				       : dt_fail_errno(err, DT_EIO, "spool '%s': '%s/%s'", q->path,
						       spool_dirs[k], name);
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return dt_fail(err, DT_ENOMEM, "spool: out of memory");
	h->ops = &queue_spool_ops;
	h->count = count + 1;
	snprintf(h->name, sizeof(h->name), "%s~%u", id, h->count);
	if (renameat(q->fd[k], name, q->fd[SP_PROC], h->name) < 0) {
		free(h);
		return errno == ENOENT ? 0
				       : dt_fail_errno(err, DT_EIO, "spool '%s': cannot claim '%s'",
						       q->path, name);
	}
	if (h->count > q->max_receives) {
		char why[160];
		snprintf(why, sizeof(why),
			 "claimed more than max_receives (%u) times: its worker never finished it",
			 q->max_receives);
		r = to_failed(q, h->name, h->count, why, err);
		free(h);
		return r < 0 ? -1 : 0;
	}
	r = read_claim(q, h->name, h->count, &body, &len, err);
	if (r <= 0) {
		free(h);
		return r;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL || (m->id = strdup(id)) == NULL) {
		free(m);
		free(body);
		free(h);
		return dt_fail(err, DT_ENOMEM, "spool: out of memory");
	}
	m->body = body;
	m->body_len = len;
	m->receive_count = h->count;
	m->handle = h;
	*out = m;
	return 1;
}

/* One pass: incoming/ first, then claims whose lease ran out. */
static int
try_claim(struct queue *q, struct queue_msg **out, struct dt_err *err)
{
	static const int order[2] = { SP_IN, SP_PROC };
	int r = 0;

	for (int pass = 0; pass < 2 && r == 0; pass++) {
		char **names;
		size_t n;

		if (list_names(q, order[pass], order[pass] == SP_PROC, &names, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			if (r == 0)
				r = claim(q, order[pass], names[i], out, err);
			free(names[i]);
		}
		free(names);
	}
	return r < 0 ? -1 : 0;
}

static int
spool_receive(struct queue *q, unsigned wait_seconds, struct queue_msg **out, struct dt_err *err)
{
	double start = mono_now();

	for (;;) {
		struct timespec nap = { 0, SPOOL_POLL_MS * 1000000L };

		if (try_claim(q, out, err) < 0 || *out)
			return *out ? 0 : -1;
		if (mono_now() - start >= (double)wait_seconds || (q->stop && *q->stop))
			return 0;
		/* A signal (SIGTERM) ends the wait: the caller looks at why. */
		if (nanosleep(&nap, NULL) < 0)
			return 0;
	}
}

static struct spool_handle *
handle(struct queue_msg *m)
{
	return m->handle;
}

static int
lost(struct queue *q, struct queue_msg *m, struct dt_err *err)
{
	return dt_fail(err, DT_EIO,
		       "spool '%s': job '%s' is no longer ours (its lease ran out and it was "
		       "claimed again)",
		       q->path, m->id);
}

static int
spool_heartbeat(struct queue *q, struct queue_msg *m, unsigned lease_seconds, struct dt_err *err)
{
	if (set_expiry(q->fd[SP_PROC], handle(m)->name, lease_seconds ? lease_seconds : q->lease) <
	    0)
		return errno == ENOENT ? lost(q, m, err)
				       : dt_fail_errno(err, DT_EIO, "spool '%s': heartbeat of '%s'",
						       q->path, m->id);
	return 0;
}

static int
spool_done(struct queue *q, struct queue_msg *m, struct dt_err *err)
{
	if (renameat(q->fd[SP_PROC], handle(m)->name, q->fd[SP_DONE], m->id) < 0)
		return errno == ENOENT
			       ? lost(q, m, err)
			       : dt_fail_errno(err, DT_EIO, "spool '%s': cannot move '%s' to done/",
					       q->path, m->id);
	return 0;
}

static int
back_to_incoming(struct queue *q, struct queue_msg *m, unsigned count, struct dt_err *err)
{
	char name[SPOOL_ID_MAX + 16];

	if (count)
		snprintf(name, sizeof(name), "%s~%u", m->id, count);
	else
		snprintf(name, sizeof(name), "%s", m->id);
	if (renameat(q->fd[SP_PROC], handle(m)->name, q->fd[SP_IN], name) < 0)
		return errno == ENOENT ? lost(q, m, err)
				       : dt_fail_errno(err, DT_EIO,
						       "spool '%s': cannot move '%s' to incoming/",
						       q->path, m->id);
	return 0;
}

static int
spool_fail(struct queue *q, struct queue_msg *m, int permanent, const char *reason,
	   struct dt_err *err)
{
	struct stat sb;

	if (permanent || handle(m)->count >= q->max_receives) {
		/* The claim must still be ours before a reason is written for it. */
		if (fstatat(q->fd[SP_PROC], handle(m)->name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			return lost(q, m, err);
		return to_failed(q, handle(m)->name, handle(m)->count, reason, err);
	}
	return back_to_incoming(q, m, handle(m)->count, err);
}

/* Given back untouched: this claim does not count against max_receives. */
static int
spool_release(struct queue *q, struct queue_msg *m, struct dt_err *err)
{
	return back_to_incoming(q, m, handle(m)->count - 1, err);
}

static void
spool_msg_free(struct queue_msg *m)
{
	free(m->handle);
	m->handle = NULL;
}

static int
spool_send(struct queue *q, const char *body, char **id_out, struct dt_err *err)
{
	char id[64];
	struct outfile_tmp t;
	unsigned char rnd[6];
	struct timespec ts;
	struct tm tm;
	size_t len = strlen(body);

	*id_out = NULL;
	if (len > SPOOL_MAX_BODY)
		return dt_fail(err, DT_EUSAGE, "spool: a job of %zu bytes is too large", len);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		return dt_fail_errno(err, DT_EIO, "spool: getrandom");
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	/* Time first, so that names sort in the order jobs came. */
	snprintf(id, sizeof(id), "%04d%02d%02dT%02d%02d%02d.%06ldZ-%02x%02x%02x%02x%02x%02x",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 ts.tv_nsec / 1000, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
	if (outfile_tmp_open(&t, q->fd[SP_IN], id) < 0 ||
	    outfile_tmp_commit(&t, id, outfile_write_all(t.fd, body, len) == 0, 1) < 0)
		return dt_fail_errno(err, DT_EIO, "spool '%s': cannot write incoming/%s", q->path,
				     id);
	fsync(q->fd[SP_IN]);
	*id_out = strdup(id);
	return *id_out ? 0 : dt_fail(err, DT_ENOMEM, "spool: out of memory");
}

static void
spool_close(struct queue *q)
{
	if (q == NULL)
		return;
	for (int k = 0; k < SP_NDIRS; k++)
		if (q->fd[k] >= 0)
			close(q->fd[k]);
	free(q->path);
	free(q);
}

/*
 * Whether someone other than root and this process's user can put a job in the spool: the
 * folder (dir, "" or "incoming/", of spool) is another user's, or group or others may write
 * it. Such a spool's jobs are not the operator's word (queue_shared()): the worker says so.
 */
static int
spool_shared(int fd, const char *dir, const char *spool, const struct queue_options *opt)
{
	struct stat st;
	char msg[512];

	if (fstat(fd, &st) < 0)
		return 1;
	if ((st.st_uid == 0 || st.st_uid == geteuid()) && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0)
		return 0;
	if (opt && opt->warn) {
		snprintf(msg, sizeof(msg),
			 "spool '%.300s': %s is owned by uid %u with mode %04o: others may queue "
			 "jobs, so it is a shared queue (jobs with local evidence refused)",
			 spool, *dir ? dir : "the folder", (unsigned)st.st_uid,
			 (unsigned)(st.st_mode & 07777));
		opt->warn(opt->warn_arg, msg);
	}
	return 1;
}

static int
spool_open(const char *rest, const struct queue_options *opt, struct queue **out,
	   struct dt_err *err)
{
	struct queue *q;
	int top;

	if (*rest == '\0')
		return dt_fail(err, DT_EUSAGE, "queue 'spool:': no folder after 'spool:'");
	q = calloc(1, sizeof(*q));
	if (q == NULL || (q->path = strdup(rest)) == NULL) {
		free(q);
		return dt_fail(err, DT_ENOMEM, "spool: out of memory");
	}
	for (int k = 0; k < SP_NDIRS; k++)
		q->fd[k] = -1;
	q->lease = opt && opt->lease_seconds ? opt->lease_seconds : QUEUE_DEFAULT_LEASE;
	q->max_receives = opt && opt->max_receives ? opt->max_receives : QUEUE_DEFAULT_MAX_RECEIVES;
	q->stop = opt ? opt->stop : NULL;
	if (mkdir(rest, 0700) < 0 && errno != EEXIST) {
		dt_fail_errno(err, DT_EIO, "spool '%s': cannot make it", rest);
		spool_close(q);
		return -1;
	}
	top = open(rest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (top < 0) {
		dt_fail_errno(err, DT_EIO, "spool '%s': cannot open it", rest);
		spool_close(q);
		return -1;
	}
	for (int k = 0; k < SP_NDIRS; k++) {
		if (mkdirat(top, spool_dirs[k], 0700) < 0 && errno != EEXIST)
			break;
		q->fd[k] =
			openat(top, spool_dirs[k], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (q->fd[k] < 0)
			break;
	}
	if (q->fd[SP_NDIRS - 1] < 0) {
		dt_fail_errno(err, DT_EIO, "spool '%s': cannot make or open its folders", rest);
		close(top);
		spool_close(q);
		return -1;
	}
	q->base.shared = spool_shared(top, "", rest, opt) ||
			 spool_shared(q->fd[SP_IN], "incoming/", rest, opt);
	close(top);
	*out = q;
	return 0;
}

const struct queue_ops queue_spool_ops = {
	.scheme = "spool:",
	.open = spool_open,
	.close = spool_close,
	.receive = spool_receive,
	.heartbeat = spool_heartbeat,
	.done = spool_done,
	.fail = spool_fail,
	.release = spool_release,
	.msg_free = spool_msg_free,
	.send = spool_send,
};
