/*
 * extract.c - evidence extraction (scan --extract): each changed regular file copied
 * out of the image under files/<fs>/<path>, verified against the walk's hash, listed in
 * manifest.jsonl, and a COMPLETE marker written last; with --extract-members also the
 * archives' members under members/<fs>/<path>/<member>. See scan_int.h and scan.h.
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

/* A reader of the bytes to copy: the evidence's file, or an archive member's spool. */
typedef ssize_t (*copy_read_fn)(void *rctx, uint64_t off, void *buf, size_t len,
				struct dt_err *err);

#define SAME_NAME_MAX 1000 /* copies that may share one name (NAME, NAME%~2, ...) */

/*
 * Rename tmp to rel's last component in dfd, never over an existing file: an archive may
 * hold one name twice (tar -r appends an update), and each copy is evidence. A taken name
 * gets "%~N" (N = 2, 3...), which safe_component() never makes; rel is changed to match.
 */
static int
rename_new(int dfd, const char *tmp, struct buf *rel, size_t name_off, struct dt_err *ferr)
{
	size_t len = rel->len;

	for (unsigned k = 2;; k++) {
		const char *name = (const char *)rel->data + name_off;
		int r = renameat2(dfd, tmp, dfd, name, RENAME_NOREPLACE);

		/* A filesystem without RENAME_NOREPLACE (NFS), or a kernel or sandbox without
		 * renameat2: a hard link never replaces either. */
		if (r != 0 && (errno == EINVAL || errno == ENOSYS)) {
			r = linkat(dfd, tmp, dfd, name, 0);
			if (r == 0)
				unlinkat(dfd, tmp, 0);
		}
		if (r == 0)
			return 0;
		if (errno != EEXIST || k > SAME_NAME_MAX)
			return dt_fail_errno(ferr, DT_EIO, "cannot rename the copy into place");
		rel->len = len;
		if (buf_printf(rel, NULL, "%%~%u", k) < 0)
			return dt_fail(ferr, DT_EIO, "its name is too long");
	}
}

/*
 * Copy size bytes from rd into DIR/rel (rel: "files/..." or "members/..."), under a
 * temporary name, verified against expect (NULL: not checked), then renamed into place
 * (rel gains "%~N" when the name is taken: see rename_new()); digest gets the copy's
 * SHA-256. -1 with ferr filled when the copy failed (nothing left).
 */
static int
copy_out(struct scanner *sc, struct buf *rel, copy_read_fn rd, void *rctx, uint64_t size,
	 const unsigned char *expect, unsigned char digest[32], struct dt_err *ferr)
{
	const char *slash = memrchr(rel->data, '/', rel->len);
	size_t dirlen = (size_t)(slash - (const char *)rel->data);
	int dfd, fd = -1, slot = -1, rc = -1;
	char tmp[64];
	unsigned char *buf = NULL;
	uint64_t off = 0;
	unsigned int dl;
	EVP_MD_CTX *md = NULL;

	dfd = open_dirs(sc->extract_fd, (const char *)rel->data, dirlen);
	if (dfd < 0)
		return dt_fail_errno(ferr, DT_EIO, "cannot create the folder for it");
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
		dt_fail_errno(ferr, DT_EIO, "cannot create the copy");
		goto out;
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	while (off < size) {
		size_t want = size - off > READ_CHUNK ? READ_CHUNK : (size_t)(size - off);
		ssize_t got = rd(rctx, off, buf, want, ferr);
		if (got <= 0) {
			if (got == 0)
				dt_fail(ferr, DT_EIO, "the content ends at byte %llu",
					(unsigned long long)off);
			goto out;
		}
		if (write(fd, buf, (size_t)got) != got) {
			dt_fail_errno(ferr, DT_EIO, "cannot write the copy");
			goto out;
		}
		EVP_DigestUpdate(md, buf, (size_t)got);
		off += (uint64_t)got;
	}
	EVP_DigestFinal_ex(md, digest, &dl);
	if (expect != NULL && memcmp(digest, expect, 32) != 0) {
		dt_fail(ferr, DT_EIO, "the copy's SHA-256 differs from the walk's");
		goto out;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		dt_fail_errno(ferr, DT_EIO, "cannot write the copy");
		goto out;
	}
	fd = -1;
	if (rename_new(dfd, tmp, rel, dirlen + 1, ferr) < 0)
		goto out;
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlinkat(dfd, tmp, 0);
	outfile_untrack(slot); /* before dfd closes: the handler unlinks relative to it */
	close(dfd);
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

/* Append "/C" for each '/'-separated component C of p (empty ones skipped). */
static int
add_components(struct buf *rel, const char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t j = i;

		while (j < n && p[j] != '/')
			j++;
		if (j > i &&
		    (buf_addc(rel, '/', NULL) < 0 || safe_component(rel, p + i, j - i) < 0))
			return -1;
		i = j + 1;
	}
	return 0;
}

static ssize_t
evidence_read(void *rctx, uint64_t off, void *buf, size_t len, struct dt_err *err)
{
	struct yread *y = rctx;

	return source_read_file(y->sc->s, y->e->fs, y->e->inode, y->e->path, off, buf, len, err);
}

/* Record a copy in the manifest; rel without its "files/" or "members/" is not needed. */
static void
manifest_add(struct scanner *sc, const char *fs, const struct htree_entry *e, const char *member,
	     size_t member_len, const unsigned char digest[32], uint64_t size, const char *change,
	     const struct buf *rel)
{
	char hex[65];
	json_t *m = json_object();

	htree_hex(digest, 32, hex);
	json_object_set_new(m, "fs", json_string(fs));
	events_set_path(m, "path", e->path, e->path_len);
	if (member != NULL)
		events_set_path(m, "member", member, member_len);
	json_object_set_new(m, "sha256", json_string(hex));
	json_object_set_new(m, "size", json_integer((json_int_t)size));
	json_object_set_new(m, "change", json_string(change));
	json_object_set_new(m, "file", json_stringn((const char *)rel->data, rel->len));
	json_array_append_new(sc->manifest, m);
	sc->st->extracted++;
	sc->st->extracted_bytes += size;
}

int
scan_extract_one(struct scanner *sc, const char *fs, const char *change,
		 const struct htree_entry *e, struct dt_err *err)
{
	struct yread yr = { sc, e, NULL };
	struct buf rel;
	unsigned char digest[32];
	struct dt_err ferr = { 0 };
	int verify = (e->flags & HTREE_F_HASHED) && !(e->flags & HTREE_F_SPARSE);

	(void)err;
	buf_init(&rel, HTREE_MAX_PATH * 3 + 64);
	if (buf_adds(&rel, "files/", NULL) < 0 || safe_component(&rel, fs, strlen(fs)) < 0 ||
	    add_components(&rel, e->path, e->path_len) < 0) {
		buf_release(&rel);
		return 0;
	}
	if (copy_out(sc, &rel, evidence_read, &yr, e->size, verify ? e->sha256 : NULL, digest,
		     &ferr) == 0)
		manifest_add(sc, fs, e, NULL, 0, digest, e->size, change, &rel);
	else
		scan_report_error(sc->emit, sc->ectx, sc->st, fs, e, "cannot extract", &ferr);
	buf_release(&rel);
	return 0;
}

static ssize_t
member_read(void *rctx, uint64_t off, void *buf, size_t len, struct dt_err *err)
{
	const struct decomp_member *m = rctx;
	ssize_t got = m->read(m->rctx, off, buf, len);

	if (got < 0)
		dt_fail_errno(err, DT_EIO, "cannot read the member's temporary copy");
	return got;
}

/*
 * --extract-members: DIR/members/pN/OUTER/A%21/B for member "A!B" of OUTER (each archive
 * level a folder whose name ends in %21, the escaped '!'), verified against the SHA-256 of
 * its `member` event. A failure is an `error` event with "member".
 */
int
scan_extract_member(struct scan_member *ms, const struct decomp_member *m, struct dt_err *err)
{
	struct scanner *sc = ms->sc;
	struct buf rel;
	unsigned char digest[32];
	struct dt_err ferr = { 0 };
	size_t i = 0;
	int rc = 0;

	buf_init(&rel, HTREE_MAX_PATH * 3 + DECOMP_MAX_NAME * 3 + 64);
	if (buf_adds(&rel, "members/", NULL) < 0 ||
	    safe_component(&rel, ms->fs, strlen(ms->fs)) < 0 ||
	    add_components(&rel, ms->e->path, ms->e->path_len) < 0)
		goto too_long;
	while (i <= m->path_len) {
		const char *bang = memchr(m->path + i, '!', m->path_len - i);
		size_t j = bang ? (size_t)(bang - m->path) : m->path_len;

		if (add_components(&rel, m->path + i, j - i) < 0 ||
		    (bang && buf_adds(&rel, "%21", NULL) < 0))
			goto too_long;
		i = j + 1;
	}
	if (copy_out(sc, &rel, member_read, (void *)m, m->size, m->sha256, digest, &ferr) == 0) {
		manifest_add(sc, ms->fs, ms->e, m->path, m->path_len, digest, m->size, ms->change,
			     &rel);
		goto out;
	}
	goto report;
too_long:
	dt_fail(&ferr, DT_EUSAGE, "its name is too long");
report:
	rc = scan_member_error(ms, m, "cannot extract the member", ferr.msg, err);
out:
	buf_release(&rel);
	return rc;
}

#define EXTRACT_DONE "COMPLETE"

/* What an extraction writes at the top of its folder; --force replaces only such a folder. */
static int
extraction_name(const char *n)
{
	return strcmp(n, "files") == 0 || strcmp(n, "members") == 0 ||
	       strcmp(n, "manifest.jsonl") == 0 || strcmp(n, EXTRACT_DONE) == 0 ||
	       strncmp(n, ".manifest.jsonl.", 16) == 0;
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
		for (int k = 0; k < 2; k++) {
			snprintf(path, sizeof(path), "%s/%s", dir, k == 0 ? "files" : "members");
			if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0 &&
			    errno != ENOENT)
				return dt_fail_errno(err, DT_EIO, "cannot remove '%s'", path);
		}
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
