/*
 * file.c - a file of the evidence: its block runs (libtsk's, ext's extents checked, or our
 * XFS reader's), its content read through them or through libtsk, and the files of dir:
 * sources opened without following any symlink. See source.h and source_int.h.
 */
#include "source/source_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <tsk/libtsk.h>

#include "buf.h"
#include "xfs.h"

#include "banned.h"

int
source_xfs_runs(const struct source_fs *f, const struct xfs_inode *ip, uint64_t size,
		size_t max_runs, struct source_run **runs, size_t *nruns, struct dt_err *err)
{
	struct xfs_run *xr = NULL;
	size_t n = 0;
	int rc = -1;

	*runs = NULL;
	*nruns = 0;
	if (xfs_file_runs(f->xfs, ip, size, max_runs, &xr, &n, err) < 0)
		return -1;
	*runs = malloc((n ? n : 1) * sizeof(**runs));
	if (*runs == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	/* Offsets move from the filesystem's start to the image's. */
	for (size_t i = 0; i < n; i++) {
		(*runs)[i].lo = xr[i].lo;
		(*runs)[i].off = xr[i].off == XFS_SPARSE ? SOURCE_SPARSE : xr[i].off + f->offset;
		(*runs)[i].len = xr[i].len;
	}
	*nruns = n;
	rc = 0;
out:
	free(xr);
	return rc;
}

int
source_inode_runs(struct source *s, size_t fsi, uint64_t inode, uint64_t size, size_t max_runs,
		  struct source_run **runs, size_t *nruns, struct dt_err *err)
{
	const struct source_fs *f = source_fs(s, fsi);
	struct xfs_inode *ip;
	int rc = -1;

	*runs = NULL;
	*nruns = 0;
	if (f == NULL || f->xfs == NULL)
		return 1;
	ip = malloc(sizeof(*ip));
	if (ip == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (xfs_inode_read(f->xfs, inode, ip, err) < 0)
		goto out;
	if ((ip->mode & S_IFMT) != S_IFREG) {
		dt_fail(err, DT_EFORMAT, "inode %llu is no longer a regular file",
			(unsigned long long)inode);
		goto out;
	}
	rc = source_xfs_runs(f, ip, size, max_runs, runs, nruns, err);
out:
	free(ip);
	return rc;
}

/* Read from a file of an XFS filesystem through its block map. */
static ssize_t
read_xfs_file(struct source *s, size_t fsi, uint64_t inode, uint64_t off, void *buf, size_t len,
	      struct dt_err *err)
{
	const struct source_fs *f = source_fs(s, fsi);
	struct xfs_inode *ip = malloc(sizeof(*ip));
	struct source_run *runs = NULL;
	size_t n = 0, done = 0;
	ssize_t ret = -1;

	if (ip == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (xfs_inode_read(f->xfs, inode, ip, err) < 0)
		goto out;
	if (off >= ip->size) {
		ret = 0;
		goto out;
	}
	if (len > ip->size - off)
		len = (size_t)(ip->size - off);
	if (source_inode_runs(s, fsi, inode, ip->size, SIZE_MAX, &runs, &n, err) != 0)
		goto out;
	for (size_t r = 0; r < n && done < len; r++) {
		uint64_t at = off + done, in, k;

		if (runs[r].lo + runs[r].len <= at)
			continue;
		in = at - runs[r].lo;
		k = runs[r].len - in < len - done ? runs[r].len - in : len - done;
		if (runs[r].off == SOURCE_SPARSE) {
			memset((char *)buf + done, 0, (size_t)k);
		} else {
			if (source_read_exact(s, runs[r].off + in, (char *)buf + done, (size_t)k,
					      err) < 0)
				goto out;
		}
		done += (size_t)k;
	}
	ret = (ssize_t)done;
out:
	free(runs);
	free(ip);
	return ret;
}

int
source_openat_beneath(int root_fd, const char *path)
{
	int fd, dfd;
	const char *p;

	if (path[0] != '/') {
		errno = EINVAL;
		return -1;
	}
	if (path[1] == '\0')
		return dup(root_fd);
	/* One call where the kernel has openat2: no symlink anywhere on the way, nothing
	 * resolved outside root_fd. */
	struct open_how how;
	memset(&how, 0, sizeof(how));
	how.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOATIME;
	how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, root_fd, path + 1, &how, sizeof(how));
	if (fd < 0 && errno == EPERM) {
		how.flags &= ~(uint64_t)O_NOATIME; /* O_NOATIME needs ownership */
		fd = (int)syscall(SYS_openat2, root_fd, path + 1, &how, sizeof(how));
	}
	if (fd >= 0 || (errno != ENOSYS && errno != ENAMETOOLONG && errno != EPERM))
		return fd;
	/* No openat2, or deeper than PATH_MAX: one component at a time, none followed. */
	dfd = dup(root_fd);
	p = path + 1;
	while (dfd >= 0) {
		const char *slash = strchr(p, '/');
		char name[256];
		size_t n = slash ? (size_t)(slash - p) : strlen(p);

		if (n == 0 || n >= sizeof(name)) {
			close(dfd);
			errno = ENAMETOOLONG;
			return -1;
		}
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			close(dfd); /* never climb out, as RESOLVE_BENEATH would refuse */
			errno = EXDEV;
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		fd = openat(dfd, name,
			    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | (slash ? O_DIRECTORY : 0));
		close(dfd);
		if (!slash || fd < 0)
			return fd;
		dfd = fd;
		p = slash + 1;
	}
	return -1;
}

int
source_open_beneath(struct source *s, size_t fsi, const char *path)
{
	const struct source_fs *f = source_fs(s, fsi);
	int root, fd;

	if (f == NULL || f->root == NULL) {
		errno = EINVAL;
		return -1;
	}
	root = open(f->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (root < 0)
		return -1;
	fd = source_openat_beneath(root, path);
	close(root);
	return fd;
}

struct runs_ctx {
	struct source_run *v;
	size_t n, cap, max;
	uint64_t total, fs_off;
	unsigned block_size;
	int need_tsk, oom;
};

/* Add len bytes at image offset at (SOURCE_SPARSE: zeros) to r, joining a contiguous run. */
static int
runs_add(struct runs_ctx *r, uint64_t at, uint64_t len)
{
	if (r->n > 0) {
		struct source_run *last = &r->v[r->n - 1];
		if ((at == SOURCE_SPARSE && last->off == SOURCE_SPARSE) ||
		    (at != SOURCE_SPARSE && last->off != SOURCE_SPARSE &&
		     last->off + last->len == at)) {
			last->len += len;
			r->total += len;
			return 0;
		}
	}
	if (r->n == r->max) {
		r->need_tsk = 1; /* too fragmented to map: libtsk reads it */
		return -1;
	}
	if (BUF_GROW(r->v, r->n + 1, r->cap, NULL) < 0) {
		r->oom = 1;
		return -1;
	}
	r->v[r->n].lo = r->total;
	r->v[r->n].off = at;
	r->v[r->n].len = len;
	r->n++;
	r->total += len;
	return 0;
}

static TSK_WALK_RET_ENUM
runs_cb(TSK_FS_FILE *file, TSK_OFF_T off, TSK_DADDR_T addr, char *buf, size_t len,
	TSK_FS_BLOCK_FLAG_ENUM flags, void *arg)
{
	struct runs_ctx *r = arg;
	uint64_t at;

	(void)file;
	(void)buf;
	/* Resident and compressed data has no plain place in the image: libtsk reads it. */
	if (flags & (TSK_FS_BLOCK_FLAG_RES | TSK_FS_BLOCK_FLAG_COMP) || off < 0 ||
	    (uint64_t)off != r->total) {
		r->need_tsk = 1;
		return TSK_WALK_STOP;
	}
	at = (flags & TSK_FS_BLOCK_FLAG_SPARSE) ? SOURCE_SPARSE
						: r->fs_off + (uint64_t)addr * r->block_size;
	if (runs_add(r, at, len) < 0)
		return r->oom ? TSK_WALK_ERROR : TSK_WALK_STOP;
	return TSK_WALK_CONT;
}

/*
 * ext2/3/4: the map straight from libtsk's run list, in time proportional to the runs,
 * where a block-by-block file walk takes time proportional to the apparent size (a 1 TiB
 * sparse file is 2^28 callbacks). Holes between runs and after the last one read as
 * zeros, as in the kernel. Returns 0 when mapped, 1 when the run list is not plain (the
 * caller falls back to the file walk), -1 when out of memory.
 */
static int
ext_runs(struct runs_ctx *r, TSK_FS_FILE *file, uint64_t size)
{
	const TSK_FS_ATTR *a = tsk_fs_file_attr_get(file);
	TSK_FS_INFO *fs = file->fs_info;

	tsk_error_reset();
	if (a == NULL || !(a->flags & TSK_FS_ATTR_NONRES) ||
	    (a->flags & (TSK_FS_ATTR_COMP | TSK_FS_ATTR_ENC)) || a->nrd.skiplen != 0)
		return 1;
	for (const TSK_FS_ATTR_RUN *run = a->nrd.run; run && r->total < size; run = run->next) {
		uint64_t lo, len, at;

		if (run->len == 0)
			continue;
		if (run->offset > UINT64_MAX / r->block_size ||
		    run->len > UINT64_MAX / r->block_size)
			return 1;
		lo = (uint64_t)run->offset * r->block_size;
		len = (uint64_t)run->len * r->block_size;
		if (lo < r->total)
			return 1; /* overlapping runs: damaged, let libtsk say what it makes of it
				   */
		if (lo > r->total && runs_add(r, SOURCE_SPARSE, (lo < size ? lo : size) - r->total))
			return r->oom ? -1 : 1;
		if (r->total >= size)
			break;
		if (len > size - r->total)
			len = size - r->total;
		if (run->flags & (TSK_FS_ATTR_RUN_FLAG_SPARSE | TSK_FS_ATTR_RUN_FLAG_FILLER)) {
			at = SOURCE_SPARSE;
		} else {
			/* A run past the end of the filesystem: libtsk reports the read error. */
			if (run->addr > (uint64_t)fs->last_block ||
			    run->len > (uint64_t)fs->last_block - run->addr + 1)
				return 1;
			at = r->fs_off + (uint64_t)run->addr * r->block_size;
		}
		if (runs_add(r, at, len) < 0)
			return r->oom ? -1 : 1;
	}
	if (r->total < size && runs_add(r, SOURCE_SPARSE, size - r->total) < 0)
		return r->oom ? -1 : 1;
	return 0;
}

int
source_file_runs(const struct source_fs *f, void *tsk_file, uint64_t size, size_t max_runs,
		 struct source_run **runs, size_t *nruns, struct dt_err *err)
{
	struct runs_ctx r;
	TSK_FS_FILE *file = tsk_file;
	int rc;

	*runs = NULL;
	*nruns = 0;
	memset(&r, 0, sizeof(r));
	r.fs_off = f->offset;
	r.block_size = f->block_size;
	r.max = max_runs;
	if (size == 0)
		return 0;
	if (f->tsk_fs == NULL || r.block_size == 0)
		return 1;
	if (TSK_FS_TYPE_ISEXT(((TSK_FS_INFO *)f->tsk_fs)->ftype)) {
		rc = ext_runs(&r, file, size);
		if (rc < 0) {
			free(r.v);
			return dt_fail(err, DT_ENOMEM, "out of memory");
		}
		if (rc == 0) {
			*runs = r.v;
			*nruns = r.n;
			return 0;
		}
		free(r.v);
		memset(&r, 0, sizeof(r));
		r.fs_off = f->offset;
		r.block_size = f->block_size;
		r.max = max_runs;
	}
	if (tsk_fs_file_walk(tsk_file, TSK_FS_FILE_WALK_FLAG_AONLY, runs_cb, &r) != 0)
		r.need_tsk = 1;
	tsk_error_reset();
	if (r.oom) {
		free(r.v);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	if (r.need_tsk || r.total != size) {
		free(r.v);
		return 1;
	}
	*runs = r.v;
	*nruns = r.n;
	return 0;
}

ssize_t
source_read_file(struct source *s, size_t fsi, uint64_t inode, const char *path, uint64_t off,
		 void *buf, size_t len, struct dt_err *err)
{
	const struct source_fs *f = source_fs(s, fsi);
	TSK_FS_FILE *file;
	ssize_t n;
	size_t done = 0;

	if (f == NULL)
		return dt_fail(err, DT_EBUG, "no filesystem %zu", fsi);
	if (f->xfs)
		return read_xfs_file(s, fsi, inode, off, buf, len, err);
	if (f->root) {
		int fd = source_open_beneath(s, fsi, path);
		if (fd < 0)
			return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
		while (done < len) {
			n = pread(fd, (char *)buf + done, len - done, (off_t)(off + done));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
				close(fd);
				return -1;
			}
			if (n == 0)
				break;
			done += (size_t)n;
		}
		close(fd);
		return (ssize_t)done;
	}
	source_lock(s);
	file = tsk_fs_file_open_meta(f->tsk_fs, NULL, (TSK_INUM_T)inode);
	if (file == NULL || file->meta == NULL) {
		char why[200];
		source_tsk_error(why, sizeof(why));
		tsk_fs_file_close(file);
		source_unlock(s);
		return dt_fail(err, DT_EIO, "cannot open inode %llu: %s", (unsigned long long)inode,
			       why);
	}
	if (file->meta->size <= 0 || off >= (uint64_t)file->meta->size) {
		tsk_fs_file_close(file);
		source_unlock(s);
		return 0;
	}
	if (len > (uint64_t)file->meta->size - off)
		len = (size_t)((uint64_t)file->meta->size - off);
	while (done < len) {
		n = tsk_fs_file_read(file, (TSK_OFF_T)(off + done), (char *)buf + done, len - done,
				     TSK_FS_FILE_READ_FLAG_NONE);
		if (n <= 0) {
			char why[200];
			source_tsk_error(why, sizeof(why));
			tsk_fs_file_close(file);
			source_unlock(s);
			return dt_fail(err, DT_EIO, "read error at byte %llu of inode %llu: %s",
				       (unsigned long long)(off + done), (unsigned long long)inode,
				       why);
		}
		done += (size_t)n;
	}
	tsk_fs_file_close(file);
	source_unlock(s);
	return (ssize_t)done;
}
