/*
 * extract.c - evidence extraction (scan --extract): each changed regular file copied
 * out of the image under files/<fs>/<path>, verified against the walk's hash, listed in
 * manifest.jsonl, and a COMPLETE marker written last. See scan_int.h and scan.h.
 */
#include "scan/scan_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "buf.h"
#include "events.h"
#include "outfile.h"

#include "banned.h"

#define READ_CHUNK (1u << 20)

/* A path component on the host: bytes outside a safe set (and a leading '.' of "." and
 * "..") become %XX, so the name is reversible and can never climb out of the folder. */
static int
safe_component(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '+' ||
			 c == ',' || c == '@' || c == '=';
		if (c == '.' && i == 0 && (n == 1 || (n == 2 && s[1] == '.')))
			ok = 0;
		if (ok) {
			if (buf_addc(b, c, NULL) < 0)
				return -1;
		} else if (buf_printf(b, NULL, "%%%02X", c) < 0) {
			return -1;
		}
	}
	return 0;
}

/* Create the directories of rel below dirfd without following any symlink; an fd of the
 * last directory, or -1. rel: components separated by '/'. */
static int
open_dirs(int dirfd, const char *rel, size_t n)
{
	int fd = dup(dirfd);
	size_t i = 0;

	while (fd >= 0 && i < n) {
		size_t j = i;
		char name[1024];
		int nfd;

		while (j < n && rel[j] != '/')
			j++;
		if (j - i >= sizeof(name) || j == i) {
			close(fd);
			return -1;
		}
		memcpy(name, rel + i, j - i);
		name[j - i] = '\0';
		if (mkdirat(fd, name, 0700) != 0 && errno != EEXIST) {
			close(fd);
			return -1;
		}
		nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		close(fd);
		fd = nfd;
		i = j + 1;
	}
	return fd;
}

int
scan_extract_one(struct scanner *sc, const char *fs, const char *change,
		 const struct htree_entry *e, struct dt_err *err)
{
	struct buf rel;
	const char *slash;
	size_t dirlen;
	int dfd = -1, fd = -1, rc = -1, slot = -1;
	char tmp[64], hex[65];
	unsigned char *buf = NULL, digest[32];
	uint64_t off = 0;
	unsigned int dl;
	EVP_MD_CTX *md = NULL;
	struct dt_err ferr = { 0 };
	json_t *m;

	buf_init(&rel, HTREE_MAX_PATH * 3 + 64);
	if (buf_adds(&rel, "files/", NULL) < 0 || safe_component(&rel, fs, strlen(fs)) < 0)
		goto out;
	for (size_t i = 0; i < e->path_len;) {
		size_t j = i + 1;
		while (j < e->path_len && e->path[j] != '/')
			j++;
		if (buf_addc(&rel, '/', NULL) < 0 ||
		    safe_component(&rel, e->path + i + 1, j - i - 1) < 0)
			goto out;
		i = j;
	}
	slash = memrchr(rel.data, '/', rel.len);
	dirlen = (size_t)(slash - (const char *)rel.data);
	dfd = open_dirs(sc->extract_fd, (const char *)rel.data, dirlen);
	if (dfd < 0) {
		dt_fail_errno(&ferr, DT_EIO, "cannot create the folder for it");
		goto report;
	}
	/* Write under a temporary name, verify, then rename over. The copy is evidence (a
	 * shadow file, a key): 0600 whatever the umask. A signal handler removes it. The name
	 * has a '%' that no %XX follows: safe_component() never makes it, so no copy of an
	 * evidence file can carry it (and be unlinked below). */
	snprintf(tmp, sizeof(tmp), ".deltair%%tmp.%d", (int)getpid());
	unlinkat(dfd, tmp, 0);
	slot = outfile_track(dfd, tmp);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0)
		(void)fchmod(fd, 0600);
	buf = malloc(READ_CHUNK);
	md = EVP_MD_CTX_new();
	if (fd < 0 || buf == NULL || md == NULL) {
		dt_fail_errno(&ferr, DT_EIO, "cannot create the copy");
		goto report;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (off < e->size) {
		size_t want = e->size - off > READ_CHUNK ? READ_CHUNK : (size_t)(e->size - off);
		ssize_t got =
			source_read_file(sc->s, e->fs, e->inode, e->path, off, buf, want, &ferr);
		if (got <= 0) {
			if (got == 0)
				dt_fail(&ferr, DT_EIO, "the content ends at byte %llu",
					(unsigned long long)off);
			goto report;
		}
		if (write(fd, buf, (size_t)got) != got) {
			dt_fail_errno(&ferr, DT_EIO, "cannot write the copy");
			goto report;
		}
		EVP_DigestUpdate(md, buf, (size_t)got);
		off += (uint64_t)got;
	}
	EVP_DigestFinal_ex(md, digest, &dl);
	if ((e->flags & HTREE_F_HASHED) && !(e->flags & HTREE_F_SPARSE) &&
	    memcmp(digest, e->sha256, 32) != 0) {
		dt_fail(&ferr, DT_EIO, "the copy's SHA-256 differs from the walk's");
		goto report;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		dt_fail_errno(&ferr, DT_EIO, "cannot write the copy");
		goto report;
	}
	fd = -1;
	if (renameat(dfd, tmp, dfd, (const char *)slash + 1) != 0) {
		dt_fail_errno(&ferr, DT_EIO, "cannot rename the copy into place");
		goto report;
	}
	htree_hex(digest, 32, hex);
	m = json_object();
	json_object_set_new(m, "fs", json_string(fs));
	events_set_path(m, "path", e->path, e->path_len);
	json_object_set_new(m, "sha256", json_string(hex));
	json_object_set_new(m, "size", json_integer((json_int_t)e->size));
	json_object_set_new(m, "change", json_string(change));
	json_object_set_new(m, "file", json_stringn((const char *)rel.data, rel.len));
	json_array_append_new(sc->manifest, m);
	sc->st->extracted++;
	sc->st->extracted_bytes += e->size;
	rc = 0;
	goto out;
report:
	if (fd >= 0) {
		close(fd);
		fd = -1;
	}
	if (dfd >= 0)
		unlinkat(dfd, tmp, 0);
	scan_report_error(sc->emit, sc->ectx, sc->st, fs, e, "cannot extract", &ferr);
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	outfile_untrack(slot); /* before dfd closes: the handler unlinks relative to it */
	if (dfd >= 0)
		close(dfd);
	EVP_MD_CTX_free(md);
	free(buf);
	buf_release(&rel);
	(void)err;
	return rc;
}

#define EXTRACT_DONE "COMPLETE"

/* What an extraction writes at the top of its folder; --force replaces only such a folder. */
static int
extraction_name(const char *n)
{
	return strcmp(n, "files") == 0 || strcmp(n, "manifest.jsonl") == 0 ||
	       strcmp(n, EXTRACT_DONE) == 0 || strncmp(n, ".manifest.jsonl.", 16) == 0;
}

/* 0: dir is empty; 1: it holds only an extraction's names; 2: it holds something else. */
static int
folder_holds(const char *dir, struct dt_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int what = 0;

	if (d == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot read '%s'", dir);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!extraction_name(de->d_name)) {
			what = 2;
			break;
		}
		what = 1;
	}
	closedir(d);
	return what;
}

/*
 * An earlier extraction is about to be removed: none of o's inputs (a dir: source by its
 * folder) may be inside it. An image found in a delta and extracted is evidence too.
 */
static int
check_inputs_outside(const char *dir, const struct outfile_opts *o, struct dt_err *err)
{
	char d[PATH_MAX], in[PATH_MAX];
	size_t n;

	if (realpath(dir, d) == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot use '%s'", dir);
	n = strlen(d);
	for (size_t i = 0; i < o->ninputs; i++) {
		const char *p = o->inputs[i];

		if (p && strncmp(p, "dir:", 4) == 0)
			p += 4;
		if (p && realpath(p, in) && strncmp(in, d, n) == 0 && in[n] == '/')
			return dt_fail(err, DT_EUSAGE,
				       "refusing to replace the extraction in '%s': it holds '%s', "
				       "which this run reads",
				       dir, o->inputs[i]);
	}
	return 0;
}

int
scan_extract_check(const char *dir, const struct outfile_opts *o, struct dt_err *err)
{
	char parent[PATH_MAX];
	struct stat st;
	size_t n = strlen(dir);
	int force = o->force, what;

	if (n == 0 || n >= sizeof(parent))
		return dt_fail(err, DT_EUSAGE, "bad folder name '%s'", dir);
	if (lstat(dir, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			return dt_fail(err, DT_EUSAGE,
				       "'%s' is a symbolic link; --extract needs a real folder",
				       dir);
		if (!S_ISDIR(st.st_mode))
			return dt_fail(err, DT_EUSAGE, "'%s' is not a folder", dir);
		if (access(dir, W_OK | X_OK) != 0)
			return dt_fail_errno(err, DT_EIO, "cannot write to '%s'", dir);
		what = folder_holds(dir, err);
		if (what < 0)
			return -1;
		if (what == 1 && !force)
			return dt_fail(err, DT_EUSAGE,
				       "'%s' holds an earlier extraction: give --force to replace "
				       "it, or a new folder",
				       dir);
		if (what == 2)
			return dt_fail(err, DT_EUSAGE,
				       "'%s' is not empty%s: give a new or empty folder", dir,
				       force ? " and not an extraction folder (--force replaces "
					       "only those)"
					     : "");
		return what == 1 ? check_inputs_outside(dir, o, err) : 0;
	}
	if (errno != ENOENT)
		return dt_fail_errno(err, DT_EIO, "cannot use '%s'", dir);
	/* Missing folders are created: the nearest existing ancestor must be writable. */
	memcpy(parent, dir, n + 1);
	for (;;) {
		char *slash;

		while (n > 1 && parent[n - 1] == '/')
			parent[--n] = '\0';
		slash = strrchr(parent, '/');
		if (slash == NULL)
			snprintf(parent, sizeof(parent), ".");
		else if (slash == parent)
			parent[1] = '\0';
		else
			*slash = '\0';
		n = strlen(parent);
		if (stat(parent, &st) == 0)
			break;
		if (errno != ENOENT || slash == NULL || strcmp(parent, "/") == 0)
			return dt_fail_errno(err, DT_EIO, "cannot create '%s'", dir);
	}
	if (!S_ISDIR(st.st_mode))
		return dt_fail(err, DT_EUSAGE, "cannot create '%s': '%s' is not a folder", dir,
			       parent);
	if (access(parent, W_OK | X_OK) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot create '%s'", dir);
	return 0;
}

/* mkdir -p, new folders 0700. */
static int
make_folders(const char *dir, struct dt_err *err)
{
	char p[PATH_MAX];
	size_t n = strlen(dir);

	if (n >= sizeof(p))
		return dt_fail(err, DT_EUSAGE, "bad folder name '%s'", dir);
	memcpy(p, dir, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return dt_fail_errno(err, DT_EIO, "cannot create '%s'", p);
		p[i] = dir[i];
	}
	return 0;
}

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int
scan_extract_open(struct scanner *sc, const char *dir, const struct outfile_opts *o,
		  struct dt_err *err)
{
	char path[PATH_MAX + 32];

	/* Checked again now: the walk may have taken hours. */
	if (scan_extract_check(dir, o, err) < 0 || make_folders(dir, err) < 0)
		return -1;
	sc->extract_fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sc->extract_fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", dir);
	/* Extracted files are evidence (shadow files, keys): the folder is the owner's only. */
	if (fchmod(sc->extract_fd, 0700) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot set the mode of '%s'", dir);
	if (o->force) {
		/* Replace an earlier extraction whole: the marker first, so that an
		 * interrupted removal never looks complete; never across a mount or a link. */
		if (unlinkat(sc->extract_fd, EXTRACT_DONE, 0) != 0 && errno != ENOENT)
			return dt_fail_errno(err, DT_EIO, "cannot remove '%s/%s'", dir,
					     EXTRACT_DONE);
		snprintf(path, sizeof(path), "%s/files", dir);
		if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0 &&
		    errno != ENOENT)
			return dt_fail_errno(err, DT_EIO, "cannot remove '%s'", path);
		if (unlinkat(sc->extract_fd, "manifest.jsonl", 0) != 0 && errno != ENOENT)
			return dt_fail_errno(err, DT_EIO, "cannot remove '%s/manifest.jsonl'", dir);
	}
	sc->manifest = json_array();
	return 0;
}

int
scan_extract_close(struct scanner *sc, const char *dir, struct dt_err *err)
{
	/* The folder is ours (checked empty or replaced): the manifest replaces nothing else. */
	static const struct outfile_opts mo = { .kind = OUTFILE_JSONL, .force = 1, .mode = 0600 };
	struct outfile of;
	char path[4200];
	size_t i;
	json_t *m;
	int fd;

	snprintf(path, sizeof(path), "%s/manifest.jsonl", dir);
	if (outfile_open(&of, path, &mo, err) < 0)
		return -1;
	json_array_foreach(sc->manifest, i, m)
	{
		if (json_dumpf(m, of.fp, JSON_COMPACT) != 0 || fputc('\n', of.fp) == EOF)
			break;
	}
	if (outfile_commit(&of, err) < 0) {
		outfile_release(&of);
		return -1;
	}
	outfile_release(&of);
	fd = openat(sc->extract_fd, EXTRACT_DONE,
		    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot write '%s/%s'", dir, EXTRACT_DONE);
	(void)fchmod(fd, 0600);
	if (write(fd, "deltair extraction complete\n", 28) != 28 || fsync(fd) != 0) {
		close(fd);
		return dt_fail_errno(err, DT_EIO, "cannot write '%s/%s'", dir, EXTRACT_DONE);
	}
	close(fd);
	return 0;
}
