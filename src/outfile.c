/* outfile.c - see outfile.h. */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "htree.h"
#include "knowngood.h"

#include "banned.h"

/* ---- the registry of temporary files, for signal handlers ---- */

enum { SLOT_FREE, SLOT_FILLING, SLOT_LIVE };

static struct {
	_Atomic int state;
	int dirfd;
	char name[PATH_MAX];
} tracked[OUTFILE_MAX_TRACKED];

int
outfile_track(int dirfd, const char *name)
{
	size_t n = strlen(name);

	if (n >= PATH_MAX)
		return -1;
	for (int i = 0; i < OUTFILE_MAX_TRACKED; i++) {
		int expect = SLOT_FREE;
		if (!atomic_compare_exchange_strong(&tracked[i].state, &expect, SLOT_FILLING))
			continue;
		tracked[i].dirfd = dirfd;
		memcpy(tracked[i].name, name, n + 1);
		/* Sequentially consistent: a handler that sees LIVE sees the name. */
		atomic_store(&tracked[i].state, SLOT_LIVE);
		return i;
	}
	return -1;
}

void
outfile_untrack(int slot)
{
	if (slot >= 0 && slot < OUTFILE_MAX_TRACKED)
		atomic_store(&tracked[slot].state, SLOT_FREE);
}

void
outfile_unlink_tracked(void)
{
	/* Only atomics and unlinkat(2): both async-signal-safe. */
	for (int i = 0; i < OUTFILE_MAX_TRACKED; i++)
		if (atomic_load(&tracked[i].state) == SLOT_LIVE)
			(void)unlinkat(tracked[i].dirfd, tracked[i].name, 0);
}

/* ---- what may be written ---- */

static const char *const kind_names[] = {
	[OUTFILE_DTREE] = "a .dtree",
	[OUTFILE_JSONL] = "JSON Lines",
	[OUTFILE_HASHDEEP] = "a hashdeep list",
	[OUTFILE_BODYFILE] = "a body file",
	[OUTFILE_REPORT_JSON] = "a report.json",
	[OUTFILE_REPORT_HTML] = "a report.html",
	[OUTFILE_KNOWNGOOD] = "a known-good set",
	[OUTFILE_NEW] = "a file deltair can recognise",
};

/* Whether b (len bytes) starts with the magic m (no NUL in it). */
static int
starts_with(const char *b, size_t len, const char *m)
{
	size_t n = strlen(m);

	return len >= n && memcmp(b, m, n) == 0;
}

/* Whether the first bytes of an existing file (len of them, a prefix) are of kind k. */
static int
looks_like(enum outfile_kind k, const char *b, size_t len)
{
	const char *nl = memchr(b, '\n', len);
	size_t line = nl ? (size_t)(nl - b) : len, bars = 0;
	json_t *j;
	int yes;

	switch (k) {
	case OUTFILE_DTREE: return starts_with(b, len, HTREE_MAGIC);
	case OUTFILE_HASHDEEP: return starts_with(b, len, "%%%% HASHDEEP-1.0");
	case OUTFILE_BODYFILE:
		if (starts_with(b, len, "# TSK 3 body file"))
			return 1;
		for (size_t i = 0; i < line; i++)
			bars += b[i] == '|';
		return bars >= 10;
	case OUTFILE_REPORT_JSON: return starts_with(b, len, OUTFILE_REPORT_JSON_MAGIC);
	case OUTFILE_REPORT_HTML: return starts_with(b, len, OUTFILE_REPORT_HTML_MAGIC);
	case OUTFILE_KNOWNGOOD: return starts_with(b, len, KG_MAGIC);
	case OUTFILE_NEW: return 0;
	case OUTFILE_JSONL:
		if (line == 0 || b[0] != '{')
			return 0;
		if (nl == NULL) /* a first line longer than we read: its start must do */
			return 1;
		j = json_loadb(b, line, 0, NULL);
		yes = json_is_object(j);
		json_decref(j);
		return yes;
	}
	return 0;
}

/* The folder path is in, for a file that is to be created or renamed over. */
static int
check_folder(const char *path, struct dt_err *err)
{
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	struct stat st;

	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == path)
		snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - path) >= sizeof(dir))
		return dt_fail(err, DT_EUSAGE, "'%s': name too long", path);
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
	if (stat(dir, &st) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot write '%s': folder '%s'", path, dir);
	if (!S_ISDIR(st.st_mode))
		return dt_fail(err, DT_EIO, "cannot write '%s': '%s' is not a folder", path, dir);
	if (access(dir, W_OK | X_OK) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot write '%s': folder '%s'", path, dir);
	return 0;
}

/* what: "'PATH'" or "standard output", for the message. */
static int
check_not_input(const char *what, const struct stat *st, const struct outfile_opts *o,
		struct dt_err *err)
{
	struct stat in;

	for (size_t i = 0; i < o->ninputs; i++) {
		if (o->inputs[i] == NULL || stat(o->inputs[i], &in) != 0)
			continue;
		if (in.st_dev == st->st_dev && in.st_ino == st->st_ino)
			return dt_fail(err, DT_EUSAGE,
				       "refusing to write %s: it is '%s', which this run reads",
				       what, o->inputs[i]);
	}
	return 0;
}

/*
 * Standard output was opened by the shell: nothing to replace, but the same evidence rule.
 * `>> IMAGE` appends to the evidence and `1<> IMAGE` overwrites it in place; `> /dev/sdX`
 * does not truncate a device, so the output would overwrite its first bytes.
 */
static int
check_stdout(const struct outfile_opts *o, struct dt_err *err)
{
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) != 0)
		return 0; /* closed: the first write reports it */
	if (S_ISBLK(st.st_mode))
		return dt_fail(err, DT_EUSAGE,
			       "refusing to write standard output: it is a block device");
	return check_not_input("standard output", &st, o, err);
}

static int
check_kind(const char *path, const struct stat *st, const struct outfile_opts *o,
	   struct dt_err *err)
{
	char b[4096];
	ssize_t n;
	int fd;

	if (o->force || st->st_size == 0)
		return 0;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot read '%s' (to see what it is)", path);
	n = read(fd, b, sizeof(b));
	close(fd);
	if (n < 0)
		return dt_fail_errno(err, DT_EIO, "cannot read '%s' (to see what it is)", path);
	if (o->kind == OUTFILE_NEW)
		return dt_fail(err, DT_EUSAGE,
			       "refusing to replace '%s': it exists and is not empty (give --force "
			       "to replace it)",
			       path);
	if (!looks_like(o->kind, b, (size_t)n))
		return dt_fail(err, DT_EUSAGE,
			       "refusing to replace '%s': it is not %s written by deltair (give "
			       "--force to replace it)",
			       path, kind_names[o->kind]);
	return 0;
}

int
outfile_check(const char *path, const struct outfile_opts *o, struct dt_err *err)
{
	const char *base = strrchr(path, '/');
	char what[PATH_MAX + 2];
	struct stat st;

	if (strcmp(path, "-") == 0)
		return check_stdout(o, err);
	base = base ? base + 1 : path;
	if (*base == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return dt_fail(err, DT_EUSAGE, "'%s' names a folder, not a file", path);
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT)
			return dt_fail_errno(err, DT_EIO, "cannot write '%s'", path);
		return check_folder(path, err);
	}
	if (S_ISLNK(st.st_mode))
		return dt_fail(err, DT_EUSAGE,
			       "refusing to write '%s': it is a symbolic link (give the path it "
			       "points to)",
			       path);
	if (S_ISBLK(st.st_mode))
		return dt_fail(err, DT_EUSAGE, "refusing to write '%s': it is a block device",
			       path);
	if (S_ISDIR(st.st_mode))
		return dt_fail(err, DT_EUSAGE, "'%s' is a folder, not a file", path);
	if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode))
		return dt_fail(err, DT_EUSAGE, "refusing to write '%s': it is not a regular file",
			       path);
	snprintf(what, sizeof(what), "'%s'", path);
	if (check_not_input(what, &st, o, err) < 0)
		return -1;
	if (!S_ISREG(st.st_mode))
		return 0; /* a character device or FIFO: written through */
	if (check_kind(path, &st, o, err) < 0)
		return -1;
	return check_folder(path, err);
}

/* A character device or FIFO: open it as it is, and check that it still is one. */
static int
open_through(struct outfile *of, const char *path, struct dt_err *err)
{
	struct stat st;
	int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);

	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
	if (fstat(fd, &st) != 0 || !(S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		close(fd);
		return dt_fail(err, DT_EIO, "'%s' changed while being opened", path);
	}
	of->fp = fdopen(fd, "w");
	if (of->fp == NULL) {
		dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
		close(fd);
		return -1;
	}
	return 0;
}

int
outfile_open(struct outfile *of, const char *path, const struct outfile_opts *o, struct dt_err *err)
{
	const char *slash, *base;
	struct stat st;
	size_t dirlen, n;
	mode_t mode;
	int fd;

	memset(of, 0, sizeof(*of));
	of->slot = -1;
	if (outfile_check(path, o, err) < 0)
		return -1;
	if (strcmp(path, "-") == 0) {
		of->fp = stdout;
		of->is_stdout = 1;
		return 0;
	}
	of->path = strdup(path);
	if (of->path == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (lstat(path, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode))) {
		if (open_through(of, path, err) < 0) {
			outfile_release(of);
			return -1;
		}
		return 0;
	}
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	n = strlen(path) + 16;
	of->tmp = malloc(n);
	if (of->tmp == NULL) {
		outfile_release(of);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	snprintf(of->tmp, n, "%.*s.%s.XXXXXX", (int)dirlen, path, base);
	fd = mkstemp(of->tmp);
	if (fd < 0) {
		dt_fail_errno(err, DT_EIO, "cannot create a file beside '%s'", path);
		free(of->tmp);
		of->tmp = NULL;
		outfile_release(of);
		return -1;
	}
	of->slot = outfile_track(AT_FDCWD, of->tmp);
	if (of->slot < 0) {
		close(fd);
		outfile_release(of);
		return dt_fail(err, DT_ENOMEM, "too many temporary files");
	}
	/* mkstemp makes 0600; outputs are ordinary files unless asked, so honour the umask. */
	if (o->mode) {
		mode = o->mode;
	} else {
		mode = umask(0);
		umask(mode);
		mode = 0666 & ~mode;
	}
	(void)fchmod(fd, mode);
	of->fp = fdopen(fd, "w");
	if (of->fp == NULL) {
		dt_fail_errno(err, DT_EIO, "cannot open '%s'", of->tmp);
		close(fd);
		outfile_release(of);
		return -1;
	}
	return 0;
}

int
outfile_commit(struct outfile *of, struct dt_err *err)
{
	char *dir, *slash;
	int fd;

	if (of->is_stdout) {
		if (fflush(stdout) != 0 || ferror(stdout))
			return dt_fail_errno(err, DT_EIO, "cannot write to standard output");
		of->committed = 1;
		return 0;
	}
	if (fflush(of->fp) != 0 || ferror(of->fp))
		return dt_fail_errno(err, DT_EIO, "cannot write '%s'", of->path);
	if (of->tmp == NULL) { /* written through: nothing to rename */
		if (fclose(of->fp) != 0) {
			of->fp = NULL;
			return dt_fail_errno(err, DT_EIO, "cannot write '%s'", of->path);
		}
		of->fp = NULL;
		of->committed = 1;
		return 0;
	}
	if (fsync(fileno(of->fp)) != 0 && errno != EINVAL)
		return dt_fail_errno(err, DT_EIO, "cannot write '%s'", of->path);
	if (fclose(of->fp) != 0) {
		of->fp = NULL;
		return dt_fail_errno(err, DT_EIO, "cannot write '%s'", of->path);
	}
	of->fp = NULL;
	if (rename(of->tmp, of->path) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot rename into '%s'", of->path);
	of->committed = 1;
	outfile_untrack(of->slot);
	of->slot = -1;
	/* Make the rename itself durable. */
	dir = strdup(of->path);
	if (dir) {
		slash = strrchr(dir, '/');
		if (slash)
			slash[slash == dir ? 1 : 0] = '\0';
		fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			(void)fsync(fd);
			close(fd);
		}
		free(dir);
	}
	return 0;
}

void
outfile_release(struct outfile *of)
{
	if (of == NULL)
		return;
	if (of->fp && !of->is_stdout)
		fclose(of->fp);
	if (of->tmp && !of->committed)
		unlink(of->tmp);
	if (of->path || of->tmp) /* a zeroed struct has slot 0, which is not its own */
		outfile_untrack(of->slot);
	free(of->tmp);
	free(of->path);
	memset(of, 0, sizeof(*of));
	of->slot = -1;
}

/* ---- files of deltair's own in folders of its own ---- */

int
outfile_write_all(int fd, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int
outfile_tmp_open(struct outfile_tmp *t, int dirfd, const char *name)
{
	const char *slash = strrchr(name, '/');
	int dirlen = slash ? (int)(slash - name + 1) : 0;

	t->fd = -1;
	t->dirfd = dirfd;
	t->slot = -1;
	for (int tries = 0; tries < 16; tries++) {
		unsigned char r[8];

		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
			return -1;
		if (snprintf(t->name, sizeof(t->name),
			     "%.*s" OUTFILE_TMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x", dirlen,
			     name, r[0], r[1], r[2], r[3], r[4], r[5], r[6],
			     r[7]) >= (int)sizeof(t->name)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		t->fd = openat(dirfd, t->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			       0600);
		if (t->fd >= 0)
			break;
		if (errno != EEXIST)
			return -1;
	}
	if (t->fd < 0)
		return -1;
	t->slot = outfile_track(dirfd, t->name);
	if (fchmod(t->fd, 0600) < 0) { /* O_CREAT's mode is masked by the umask */
		int e = errno;

		close(t->fd);
		(void)unlinkat(dirfd, t->name, 0);
		outfile_untrack(t->slot);
		t->fd = t->slot = -1;
		errno = e;
		return -1;
	}
	return 0;
}

int
outfile_tmp_commit(struct outfile_tmp *t, const char *name, int ok, int sync)
{
	int e = 0;

	if (ok && sync && fsync(t->fd) < 0)
		ok = 0, e = errno;
	if (close(t->fd) < 0 && ok)
		ok = 0, e = errno;
	t->fd = -1;
	if (ok && renameat(t->dirfd, t->name, t->dirfd, name) < 0)
		ok = 0, e = errno;
	if (!ok)
		(void)unlinkat(t->dirfd, t->name, 0);
	outfile_untrack(t->slot);
	t->slot = -1;
	if (!ok && e)
		errno = e;
	return ok ? 0 : -1;
}
