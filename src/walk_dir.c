/*
 * walk_dir.c - dir: sources: a mounted directory walked with statx, one directory at a
 * time, for filesystems no reader of ours knows. See walk_int.h.
 */
#include "walk_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "banned.h"

uint8_t
walk_host_type(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG: return HTREE_REG;
	case S_IFDIR: return HTREE_DIR;
	case S_IFLNK: return HTREE_LNK;
	case S_IFCHR: return HTREE_CHR;
	case S_IFBLK: return HTREE_BLK;
	case S_IFIFO: return HTREE_FIFO;
	case S_IFSOCK: return HTREE_SOCK;
	default: return HTREE_OTHER;
	}
}

static struct htree_time
stx_time(const struct statx_timestamp *t)
{
	return htree_time_make(t->tv_sec, t->tv_nsec);
}

static void
host_entry(struct walker *w, int dfd, const char *name, struct htree_entry *e, char *lbuf,
	   struct statx *sx)
{
	e->type = walk_host_type(sx->stx_mode);
	e->mode = sx->stx_mode & 07777;
	e->uid = sx->stx_uid;
	e->gid = sx->stx_gid;
	e->nlink = sx->stx_nlink;
	e->size = e->type == HTREE_DIR ? sx->stx_size : sx->stx_size;
	e->inode = sx->stx_ino;
	htree_set_time(e, HTREE_MTIME, stx_time(&sx->stx_mtime));
	htree_set_time(e, HTREE_ATIME, stx_time(&sx->stx_atime));
	htree_set_time(e, HTREE_CTIME, stx_time(&sx->stx_ctime));
	if (sx->stx_mask & STATX_BTIME)
		htree_set_time(e, HTREE_CRTIME, stx_time(&sx->stx_btime));
	else
		htree_set_time(e, HTREE_CRTIME, (struct htree_time){ HTREE_NO_TIME, 0 });
	if (e->type == HTREE_LNK) {
		ssize_t n = readlinkat(dfd, name, lbuf, HTREE_MAX_LINK);
		if (n >= 0) {
			e->link = lbuf;
			e->link_len = (uint32_t)n;
		} else {
			walk_report(w, (const char *)w->path.data, w->path.len,
				    "cannot read link target: %s", strerror(errno));
		}
	}
}

static void
walk_host_dir(struct walker *w, int dfd, int depth, char *lbuf)
{
	DIR *d;
	struct dirent *de;
	struct subdirs subs;
	int dup_fd;

	if (walk_too_deep(w, depth))
		return;
	dup_fd = dup(dfd);
	d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	if (d == NULL) {
		walk_report(w, (const char *)w->path.data, w->path.len, "cannot read directory: %s",
			    strerror(errno));
		if (dup_fd >= 0)
			close(dup_fd);
		return;
	}
	walk_subdirs_init(&subs);
	while (!w->failed && (errno = 0, de = readdir(d)) != NULL) {
		struct htree_entry e;
		struct statx sx;
		size_t old, nlen = strlen(de->d_name);
		int64_t idx;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (walk_path_push(w, de->d_name, nlen, &old) < 0) {
			walk_path_too_long(w, old);
			continue;
		}
		memset(&e, 0, sizeof(e));
		if (statx(dfd, de->d_name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT,
			  STATX_BASIC_STATS | STATX_BTIME, &sx) != 0) {
			walk_report(w, (const char *)w->path.data, w->path.len, "cannot stat: %s",
				    strerror(errno));
			walk_path_pop(w, old);
			continue;
		}
		host_entry(w, dfd, de->d_name, &e, lbuf, &sx);
		if (walk_add_entry(w, &e, &idx) == 0) {
			if (e.type == HTREE_REG)
				walk_queue_file(w, (size_t)idx, htree_at(w->t, (size_t)idx), NULL,
						NULL, sx.stx_blocks * 512);
			if (e.type == HTREE_DIR &&
			    makedev(sx.stx_dev_major, sx.stx_dev_minor) == w->root_dev)
				walk_subdirs_add(w, &subs, 0, de->d_name, nlen);
		}
		walk_path_pop(w, old);
	}
	closedir(d);
	for (size_t i = 0; i < subs.n && !w->failed; i++) {
		size_t old;
		int fd;

		if (!walk_subdirs_enter(w, &subs, i, &old))
			continue;
		fd = openat(dfd, walk_subdirs_name(&subs, i),
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			walk_report(w, (const char *)w->path.data, w->path.len,
				    "cannot open directory: %s", strerror(errno));
		} else {
			walk_host_dir(w, fd, depth + 1, lbuf);
			close(fd);
		}
		walk_path_pop(w, old);
	}
	walk_subdirs_release(&subs);
}

int
walk_host(struct walker *w)
{
	struct htree_entry e;
	struct statx sx;
	struct rlimit rl;
	char *lbuf;
	int64_t idx;

	if (w->fsi >= SOURCE_MAX_FS)
		return dt_fail(w->err, DT_EUSAGE, "too many directory sources");
	w->root_fd = open(w->sfs->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->root_fd < 0)
		return dt_fail_errno(w->err, DT_EIO, "cannot open '%s'", w->sfs->root);
	/* The hashing threads open files beneath it while and after the walk; closed at the end. */
	w->root_fds[w->fsi] = w->root_fd;
	if (statx(w->root_fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0)
		return dt_fail_errno(w->err, DT_EIO, "cannot stat '%s'", w->sfs->root);
	w->root_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	/* One descriptor per level is open while walking: allow as many as the depth cap. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		if (rl.rlim_cur != RLIM_INFINITY && (int)rl.rlim_cur - 64 < w->max_depth)
			w->max_depth = (int)rl.rlim_cur - 64;
	}
	lbuf = malloc(HTREE_MAX_LINK + 1);
	if (lbuf == NULL)
		return dt_fail(w->err, DT_ENOMEM, "out of memory");
	memset(&e, 0, sizeof(e));
	buf_reset(&w->path);
	if (buf_addc(&w->path, '/', NULL) < 0) {
		free(lbuf);
		return walk_oom(w);
	}
	host_entry(w, w->root_fd, "", &e, lbuf, &sx);
	if (walk_add_entry(w, &e, &idx) == 0)
		walk_host_dir(w, w->root_fd, 0, lbuf);
	free(lbuf);
	return w->failed ? -1 : 0;
}
