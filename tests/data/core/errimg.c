/*
 * errimg.c - a FUSE filesystem with one file, "img", that reads through to a backing image
 * except for one byte range, where reads fail with EIO: a disk with bad sectors, for the
 * CLI tests (device-mapper's "error" target does the same where the kernel has it).
 *
 *   errimg BACKING BAD_START BAD_END MOUNTPOINT   (runs in the foreground until unmounted)
 *
 * Reads are direct (no page cache), so a read ending before BAD_START succeeds, a read that
 * reaches into the range returns the bytes before it (a short read), and a read starting in
 * it fails, as a read(2) of a block device with bad sectors does.
 * Built by tests/cli/t1070-read-error.sh at test time.
 */
#define FUSE_USE_VERSION 31

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int backing_fd = -1;
static off_t backing_size;
static off_t bad_start, bad_end;

static int
eg_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (strcmp(path, "/") == 0) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/img") == 0) {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = backing_size;
		return 0;
	}
	return -ENOENT;
}

static int
eg_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
	   enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/") != 0)
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "img", NULL, 0, 0);
	return 0;
}

static int
eg_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/img") != 0)
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EROFS;
	fi->direct_io = 1;
	return 0;
}

static int
eg_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
	ssize_t n;

	(void)path;
	(void)fi;
	if (off >= bad_start && off < bad_end)
		return -EIO;
	if (off < bad_start && off + (off_t)size > bad_start)
		size = (size_t)(bad_start - off);
	n = pread(backing_fd, buf, size, off);
	return n < 0 ? -errno : (int)n;
}

static const struct fuse_operations eg_ops = {
	.getattr = eg_getattr,
	.readdir = eg_readdir,
	.open = eg_open,
	.read = eg_read,
};

int
main(int argc, char **argv)
{
	struct stat st;
	char *fargv[] = { argv[0], "-f", "-s", "-o", "ro,allow_other", NULL, NULL };

	if (argc != 5) {
		fprintf(stderr, "usage: errimg BACKING BAD_START BAD_END MOUNTPOINT\n");
		return 2;
	}
	backing_fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (backing_fd < 0 || fstat(backing_fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	backing_size = st.st_size;
	bad_start = (off_t)strtoll(argv[2], NULL, 0);
	bad_end = (off_t)strtoll(argv[3], NULL, 0);
	fargv[5] = argv[4];
	return fuse_main(6, fargv, &eg_ops, NULL);
}
