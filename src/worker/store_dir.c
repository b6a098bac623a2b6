/*
 * store_dir.c - the folder store (store.h): a key is a relative path under the folder.
 * Folders are made 0700 and files 0600 whatever the umask. Every object is written as
 * ".deltair-tmp-XXXXXX" in its folder and renamed to its key, so a reader sees it whole or
 * not at all; list() never shows those temporary names. move_file() renames a file of the
 * same filesystem straight to its key (it is whole already), and move_tree() a whole folder
 * of such files, tidied first (a job's extraction: one rename, not one per file and folder).
 * Each part of a key is opened
 * relative to its parent with O_NOFOLLOW, so a symbolic link planted in the store cannot
 * send a write elsewhere.
 * Durability: a key whose last part is "COMPLETE" is a commit marker (docs/worker.md). Other
 * objects are not fsynced one by one (a job's extraction may be thousands of small files);
 * before a COMPLETE is written the whole filesystem is synced (syncfs), and the COMPLETE
 * itself is fsynced with its folder, so after a crash a COMPLETE never names an object that
 * was lost.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "outfile.h"
#include "worker/store_int.h"

#include "banned.h"

#define COPY_CHUNK     (256u * 1024)
#define MAX_LIST_DEPTH 64

struct store {
	struct store_base base;
	char *root; /* owned */
	int fd;     /* the folder */
};

/*
 * Open the folder holding key's last part, making the folders on the way when create is
 * set. *leaf points into key. -1 with ENOENT in errno (no error recorded) when a folder
 * is missing and create is not set.
 */
static int
open_parent(struct store *s, const char *key, int create, const char **leaf, struct dt_err *err)
{
	int fd = dup(s->fd);
	const char *p = key, *slash;
	char part[256];

	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "store '%s': dup", s->root);
	while ((slash = strchr(p, '/')) != NULL) {
		size_t len = (size_t)(slash - p);
		int next;

		if (len >= sizeof(part)) {
			close(fd);
			return dt_fail(err, DT_EUSAGE, "store: a part of key '%.200s' is too long",
				       key);
		}
		memcpy(part, p, len);
		part[len] = '\0';
		/* Made only when missing: a job's puts share their folders. */
		next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, part, 0700) < 0 && errno != EEXIST) {
				dt_fail_errno(err, DT_EIO,
					      "store '%s': cannot make folder for '%s'", s->root,
					      key);
				close(fd);
				return -1;
			}
			next = openat(fd, part, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (next < 0) {
			int e = errno;
			close(fd);
			errno = e;
			if (e == ENOENT && !create)
				return -1;
			return dt_fail_errno(err, DT_EIO, "store '%s': cannot open folder of '%s'",
					     s->root, key);
		}
		close(fd);
		fd = next;
		p = slash + 1;
	}
	*leaf = p;
	return fd;
}

/* Copy what remains of src to dst. */
static int
copy_fd(int src, int dst)
{
	unsigned char *chunk = malloc(COPY_CHUNK);
	int ret = chunk ? 0 : -1;

	while (ret == 0) {
		ssize_t r = read(src, chunk, COPY_CHUNK);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			ret = r < 0 ? -1 : 0;
			break;
		}
		ret = outfile_write_all(dst, chunk, (size_t)r);
	}
	free(chunk);
	return ret;
}

/*
 * Write key from src (a file descriptor to copy, or data/len when src < 0): temporary
 * name, rename; for a COMPLETE, syncfs first and fsync of the file and folder.
 */
static int
put(struct store *s, const char *key, int src, const void *data, size_t len, struct dt_err *err)
{
	const char *leaf;
	struct outfile_tmp t;
	int dirfd, ok, commit;

	dirfd = open_parent(s, key, 1, &leaf, err);
	if (dirfd < 0)
		return -1;
	commit = strcmp(leaf, "COMPLETE") == 0;
	if (commit && syncfs(dirfd) < 0) {
		dt_fail_errno(err, DT_EIO, "store '%s': cannot sync before '%s'", s->root, key);
		close(dirfd);
		return -1;
	}
	if (outfile_tmp_open(&t, dirfd, leaf) < 0) {
		dt_fail_errno(err, DT_EIO, "store '%s': cannot write '%s'", s->root, key);
		close(dirfd);
		return -1;
	}
	ok = (src < 0 ? outfile_write_all(t.fd, data, len) : copy_fd(src, t.fd)) == 0;
	if (outfile_tmp_commit(&t, leaf, ok, commit) < 0) {
		dt_fail_errno(err, DT_EIO, "store '%s': cannot write '%s'", s->root, key);
		close(dirfd);
		return -1;
	}
	if (commit && fsync(dirfd) < 0) {
		dt_fail_errno(err, DT_EIO, "store '%s': cannot sync '%s'", s->root, key);
		close(dirfd);
		return -1;
	}
	close(dirfd);
	return 0;
}

static int
dir_put_file(struct store *s, const char *key, const char *path, struct dt_err *err)
{
	int src = open(path, O_RDONLY | O_CLOEXEC);
	int ret;

	if (src < 0)
		return dt_fail_errno(err, DT_EIO, "store: cannot open '%s'", path);
	ret = put(s, key, src, NULL, 0, err);
	close(src);
	return ret;
}

/*
 * Rename path into place as key when it is on the store's filesystem: the object is then the
 * very file (same inode) the caller had, so what the caller knows of its content holds.
 * Elsewhere (EXDEV), or for a COMPLETE, a copy as dir_put_file().
 */
static int
dir_move_file(struct store *s, const char *key, const char *path, int *moved, struct dt_err *err)
{
	const char *leaf;
	struct stat before, after;
	int src, dirfd, ret = 0;

	src = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0 || fstat(src, &before) < 0 || !S_ISREG(before.st_mode)) {
		ret = dt_fail_errno(err, DT_EIO, "store: cannot open '%s' as a file", path);
		goto out;
	}
	dirfd = open_parent(s, key, 1, &leaf, err);
	if (dirfd < 0) {
		ret = -1;
		goto out;
	}
	if (strcmp(leaf, "COMPLETE") != 0 && fchmod(src, 0600) == 0 &&
	    renameat(AT_FDCWD, path, dirfd, leaf) == 0) {
		/* The name renamed must be the file opened (and made 0600). */
		if (fstatat(dirfd, leaf, &after, AT_SYMLINK_NOFOLLOW) < 0 ||
		    after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
			unlinkat(dirfd, leaf, 0);
			ret = dt_fail(err, DT_EIO, "store '%s': '%s' changed while moved to '%s'",
				      s->root, path, key);
		} else {
			*moved = 1;
		}
	} else if (strcmp(leaf, "COMPLETE") == 0 || errno == EXDEV) {
		ret = put(s, key, src, NULL, 0, err);
	} else {
		ret = dt_fail_errno(err, DT_EIO, "store '%s': cannot move '%s' to '%s'", s->root,
				    path, key);
	}
	close(dirfd);
out:
	if (src >= 0)
		close(src);
	return ret;
}

static int
dir_put_mem(struct store *s, const char *key, const void *data, size_t len, struct dt_err *err)
{
	return put(s, key, -1, data, len, err);
}

static int
dir_exists(struct store *s, const char *key, struct dt_err *err)
{
	const char *leaf;
	struct stat sb;
	int dirfd = open_parent(s, key, 0, &leaf, err), r;

	if (dirfd < 0)
		return errno == ENOENT && (err == NULL || err->code == DT_OK) ? 0 : -1;
	r = fstatat(dirfd, leaf, &sb, AT_SYMLINK_NOFOLLOW);
	close(dirfd);
	if (r == 0)
		return S_ISREG(sb.st_mode) ? 1 : 0;
	if (errno == ENOENT)
		return 0;
	return dt_fail_errno(err, DT_EIO, "store '%s': cannot look at '%s'", s->root, key);
}

static int
dir_get_fd(struct store *s, const char *key, int fd, struct dt_err *err)
{
	const char *leaf;
	int dirfd, src = -1, ok;

	dirfd = open_parent(s, key, 0, &leaf, err);
	if (dirfd >= 0) {
		src = openat(dirfd, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		close(dirfd);
	}
	if (src < 0)
		return dt_fail_errno(err, errno == ENOENT ? DT_EUSAGE : DT_EIO,
				     "store '%s': cannot read '%s'", s->root, key);
	ok = copy_fd(src, fd) == 0;
	if (!ok)
		dt_fail_errno(err, DT_EIO, "store '%s': cannot copy '%s' out", s->root, key);
	close(src);
	return ok ? 0 : -1;
}

/* Remove name in dirfd, a folder with all it holds. */
static int
remove_tree(int parent, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(parent, name, 0) == 0 || errno == ENOENT)
		return 0;
	if ((errno != EISDIR && errno != EPERM) || depth > MAX_LIST_DEPTH)
		return -1;
	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (remove_tree(dirfd(d), de->d_name, depth + 1) < 0) {
			closedir(d);
			return -1;
		}
	}
	closedir(d);
	return unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT ? 0 : -1;
}

/*
 * Make the folder fd (depth levels below the store's top) hold only what a store folder
 * may: folders 0700, files 0600; anything else is removed. 1 when done, 0 when the tree
 * goes deeper than MAX_LIST_DEPTH (list() could not reach all of it: not to be moved), -1
 * (errno) on failure. Takes fd.
 */
static int
tidy_tree(int fd, int depth)
{
	struct dirent *de;
	DIR *d = fdopendir(fd);
	int ret = 1;

	if (d == NULL) {
		close(fd);
		return -1;
	}
	while (ret == 1 && (de = readdir(d)) != NULL) {
		struct stat sb;
		int sub;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
			ret = -1;
		} else if (S_ISDIR(sb.st_mode)) {
			if (depth + 1 >= MAX_LIST_DEPTH) {
				ret = 0;
				break;
			}
			sub = openat(dirfd(d), de->d_name,
				     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0 || ((sb.st_mode & 07777) != 0700 && fchmod(sub, 0700) < 0)) {
				if (sub >= 0)
					close(sub);
				ret = -1;
			} else {
				ret = tidy_tree(sub, depth + 1);
			}
		} else if (S_ISREG(sb.st_mode)) {
			if ((sb.st_mode & 07777) != 0600 && fchmodat(dirfd(d), de->d_name, 0600, 0) < 0)
				ret = -1;
		} else if (unlinkat(dirfd(d), de->d_name, 0) < 0) {
			ret = -1;
		}
	}
	closedir(d);
	return ret;
}

/*
 * One rename of the whole folder (see store.h): the folder is tidied first (tidy_tree()),
 * since once it carries its key a reader may look; RENAME_NOREPLACE so that it never lands
 * on or in what is at key already. Not moved (*moved 0, nothing else done but the tidying)
 * when path is on another filesystem, is too deep, or key is taken.
 */
static int
dir_move_tree(struct store *s, const char *key, const char *path, int *moved, struct dt_err *err)
{
	struct stat before, after, root;
	const char *leaf;
	int src, dirfd, r, depth;

	src = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (src < 0 || fstat(src, &before) < 0 || fstat(s->fd, &root) < 0) {
		if (src >= 0)
			close(src);
		return dt_fail_errno(err, DT_EIO, "store: cannot open '%s' as a folder", path);
	}
	if (before.st_dev != root.st_dev) {
		close(src);
		return 0;
	}
	if ((before.st_mode & 07777) != 0700 && fchmod(src, 0700) < 0) {
		close(src);
		return dt_fail_errno(err, DT_EIO, "store: cannot make '%s' 0700", path);
	}
	depth = 1;
	for (const char *p = key; (p = strchr(p, '/')) != NULL; p++)
		depth++;
	r = tidy_tree(src, depth); /* takes src */
	if (r < 0)
		return dt_fail_errno(err, DT_EIO, "store: cannot tidy '%s' to move it", path);
	if (r == 0)
		return 0;
	dirfd = open_parent(s, key, 1, &leaf, err);
	if (dirfd < 0)
		return -1;
	if (renameat2(AT_FDCWD, path, dirfd, leaf, RENAME_NOREPLACE) < 0) {
		r = errno;
		close(dirfd);
		/* Another filesystem under the same device number (a bind mount), a taken key,
		 * a filesystem without RENAME_NOREPLACE: file by file then. */
		if (r == EXDEV || r == EEXIST || r == ENOTEMPTY || r == EINVAL || r == ENOSYS)
			return 0;
		errno = r;
		return dt_fail_errno(err, DT_EIO, "store '%s': cannot move '%s' to '%s'", s->root,
				     path, key);
	}
	/* The name renamed must be the folder tidied. */
	if (fstatat(dirfd, leaf, &after, AT_SYMLINK_NOFOLLOW) < 0 ||
	    after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
		remove_tree(dirfd, leaf, 0);
		close(dirfd);
		return dt_fail(err, DT_EIO, "store '%s': '%s' changed while moved to '%s'", s->root,
			       path, key);
	}
	close(dirfd);
	*moved = 1;
	return 0;
}

/*
 * prefix as a folder part and a name start: "a/b/" is every name in a/b, "a/b" every name
 * in a starting with "b". The folder part must be a valid key (or empty).
 */
static int
split_prefix(const char *prefix, char **dir, const char **start, struct dt_err *err)
{
	const char *slash = strrchr(prefix, '/');

	*dir = NULL;
	*start = slash ? slash + 1 : prefix;
	if (strstr(*start, "..") == *start && (*start)[2] == '\0')
		return dt_fail(err, DT_EUSAGE, "store: prefix '%.200s' climbs", prefix);
	if (slash == NULL)
		return 0;
	*dir = strndup(prefix, (size_t)(slash - prefix));
	if (*dir == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	if (store_check_key(*dir, err) < 0) {
		free(*dir);
		*dir = NULL;
		return -1;
	}
	return 0;
}

/* The folder dir of the store (NULL: the top): its fd, or -1 with errno ENOENT. */
static int
open_dir(struct store *s, const char *dir, struct dt_err *err)
{
	char *probe;
	const char *leaf;
	int fd;

	if (dir == NULL)
		return dup(s->fd);
	/* open_parent() opens all but the last part; "dir/x" makes it open dir itself. */
	if (asprintf(&probe, "%s/x", dir) < 0)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	fd = open_parent(s, probe, 0, &leaf, err);
	free(probe);
	return fd;
}

static int
dir_delete_prefix(struct store *s, const char *prefix, struct dt_err *err)
{
	const char *start;
	char *dir;
	struct dirent *de;
	DIR *d;
	int fd, ret = 0;

	if (split_prefix(prefix, &dir, &start, err) < 0)
		return -1;
	fd = open_dir(s, dir, err);
	free(dir);
	if (fd < 0)
		return errno == ENOENT && (err == NULL || err->code == DT_OK) ? 0 : -1;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return dt_fail_errno(err, DT_EIO, "store '%s': cannot read for '%s'", s->root,
				     prefix);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, start, strlen(start)) != 0)
			continue;
		if (remove_tree(dirfd(d), de->d_name, 0) < 0) {
			ret = dt_fail_errno(err, DT_EIO, "store '%s': cannot delete '%s'", s->root,
					    de->d_name);
			break;
		}
	}
	closedir(d);
	return ret;
}

struct keylist {
	char **v;
	size_t n, cap;
};

/* Add every file under folder fd (whose key is base, "" at the top) to kl. */
static int
collect(int fd, const char *base, const char *start, int depth, struct keylist *kl,
	struct dt_err *err)
{
	struct dirent *de;
	DIR *d = fdopendir(fd);
	int ret = 0;

	if (d == NULL) {
		close(fd);
		return dt_fail_errno(err, DT_EIO, "store: cannot read folder '%s'", base);
	}
	while (ret == 0 && (de = readdir(d)) != NULL) {
		struct stat sb;
		char *key;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strncmp(de->d_name, OUTFILE_TMP_PREFIX, strlen(OUTFILE_TMP_PREFIX)) == 0 ||
		    (start && strncmp(de->d_name, start, strlen(start)) != 0))
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (asprintf(&key, "%s%s%s", base, *base ? "/" : "", de->d_name) < 0) {
			ret = dt_fail(err, DT_ENOMEM, "store: out of memory");
			break;
		}
		if (S_ISDIR(sb.st_mode) && depth < MAX_LIST_DEPTH) {
			int sub = openat(dirfd(d), de->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			ret = sub < 0 ? 0 : collect(sub, key, NULL, depth + 1, kl, err);
			free(key);
		} else if (S_ISREG(sb.st_mode)) {
			if (BUF_GROW(kl->v, kl->n + 1, kl->cap, err) < 0) {
				free(key);
				ret = -1;
				break;
			}
			kl->v[kl->n++] = key;
		} else {
			free(key);
		}
	}
	closedir(d);
	return ret;
}

static int
dir_list(struct store *s, const char *prefix, char ***keys, size_t *n, struct dt_err *err)
{
	struct keylist kl = { NULL, 0, 0 };
	const char *start;
	char *dir;
	int fd;

	if (split_prefix(prefix, &dir, &start, err) < 0)
		return -1;
	fd = open_dir(s, dir, err);
	if (fd < 0) {
		free(dir);
		return errno == ENOENT && (err == NULL || err->code == DT_OK) ? 0 : -1;
	}
	if (collect(fd, dir ? dir : "", start, 0, &kl, err) < 0) {
		buf_free_strings(kl.v, kl.n);
		free(dir);
		return -1;
	}
	free(dir);
	*keys = kl.v;
	*n = kl.n;
	return 0;
}

static void
dir_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->fd >= 0)
		close(s->fd);
	free(s->root);
	free(s);
}

/* mkdir -p, each new folder 0700. */
static int
make_folders(const char *path, struct dt_err *err)
{
	char *p;

	/* Most often there already, or only its last part missing. */
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	if ((p = strdup(path)) == NULL)
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	for (char *q = p + 1; *q; q++) {
		if (*q != '/')
			continue;
		*q = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			dt_fail_errno(err, DT_EIO, "store '%s': cannot make '%s'", path, p);
			free(p);
			return -1;
		}
		*q = '/';
	}
	free(p);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return dt_fail_errno(err, DT_EIO, "store '%s': cannot make it", path);
	return 0;
}

static int
dir_open(const char *url, const struct store_options *opt, struct store **out, struct dt_err *err)
{
	struct store *s;

	(void)opt;
	if (*url == '\0')
		return dt_fail(err, DT_EUSAGE, "store: empty folder name");
	if (make_folders(url, err) < 0)
		return -1;
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->root = strdup(url)) == NULL) {
		free(s);
		return dt_fail(err, DT_ENOMEM, "store: out of memory");
	}
	s->fd = open(url, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->fd < 0) {
		dt_fail_errno(err, DT_EIO, "store '%s': cannot open it", url);
		dir_close(s);
		return -1;
	}
	*out = s;
	return 0;
}

const struct store_ops store_dir_ops = {
	.scheme = NULL,
	.open = dir_open,
	.close = dir_close,
	.put_file = dir_put_file,
	.move_file = dir_move_file,
	.move_tree = dir_move_tree,
	.put_mem = dir_put_mem,
	.exists = dir_exists,
	.get_fd = dir_get_fd,
	.delete_prefix = dir_delete_prefix,
	.list = dir_list,
};
