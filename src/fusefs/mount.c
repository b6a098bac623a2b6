/*
 * mount.c - mounting the FUSE view, serving it, and freeing it; libfuse's log messages
 * are kept for a failed mount's report.
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
	f->fuse = fuse_new(&args, &fusefs_ops, sizeof(fusefs_ops), f);
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
	fusefs_cache_release(f);
	if (f->img_fd >= 0)
		close(f->img_fd);
	htree_free(f->t);
	free(f->no_modes);
	free(f->root_times);
	free(f->visible);
	free(f->events);
	free(f);
}
