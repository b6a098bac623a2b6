/*
 * knowngood.c - known-good sets and the .kg file. See knowngood.h.
 *
 * A .deb is an ar archive: debian-binary, control.tar.*, then data.tar.* (gz, xz or zst).
 * libarchive reads the ar, and the inner tar is read straight from the ar member (a reader
 * whose read callback pulls from the outer one), so a large data.tar is never held whole.
 */
#include "knowngood.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "arena.h"
#include "buf.h"

#include "banned.h"

#define HASHDEEP_MAGIC  "%%%% HASHDEEP-1.0"
#define KG_HEADER       40 /* magic, u32 major, u32 minor, u64 entries, u64 raw, u64 z */
#define MAX_CONTROL     (1u << 20)
#define MAX_LIST_LINE   (64u << 10)
#define READ_BLOCK      (64u << 10)
#define MAX_DIR_DEPTH   32
#define MAX_VERSION_LEN 256

struct kg_pair {
	const char *package, *version; /* borrowed from the arena */
};

struct kg {
	struct arena ar;    /* every string */
	struct kg_entry *v; /* owned */
	size_t n, cap;
	struct kg_pair *pairs; /* owned: (package, version), interned */
	size_t npairs, paircap;
	int sealed;
};

struct kg *
kg_new(void)
{
	struct kg *k = calloc(1, sizeof(*k));

	if (k)
		arena_init(&k->ar, 1u << 20);
	return k;
}

void
kg_free(struct kg *k)
{
	if (k == NULL)
		return;
	arena_release(&k->ar);
	free(k->v);
	free(k->pairs);
	free(k);
}

/* The interned (package, version), or -1. Packages of one run are few: a linear search
 * from the newest suffices, since entries of one package arrive together. */
static int64_t
intern_pair(struct kg *k, const char *package, const char *version, struct dt_err *err)
{
	for (size_t i = k->npairs; i > 0; i--)
		if (strcmp(k->pairs[i - 1].package, package) == 0 &&
		    strcmp(k->pairs[i - 1].version, version) == 0)
			return (int64_t)(i - 1);
	if (BUF_GROW(k->pairs, k->npairs + 1, k->paircap, err) < 0)
		return -1;
	k->pairs[k->npairs].package = arena_strndup(&k->ar, package, strlen(package), err);
	k->pairs[k->npairs].version = arena_strndup(&k->ar, version, strlen(version), err);
	if (k->pairs[k->npairs].package == NULL || k->pairs[k->npairs].version == NULL)
		return -1;
	return (int64_t)k->npairs++;
}

static int
add_entry(struct kg *k, const char *path, size_t len, uint8_t type, uint8_t origin,
	  const unsigned char sha256[32], int64_t pair, struct dt_err *err)
{
	struct kg_entry *e;

	if (k->sealed)
		return dt_fail(err, DT_EBUG, "kg_add after kg_seal");
	if (k->n >= KG_MAX_ENTRIES)
		return dt_fail(err, DT_ENOMEM, "more than %u known-good entries", KG_MAX_ENTRIES);
	if (BUF_GROW(k->v, k->n + 1, k->cap, err) < 0)
		return -1;
	e = &k->v[k->n];
	e->path = arena_strndup(&k->ar, path, len, err);
	if (e->path == NULL)
		return -1;
	e->package = pair >= 0 ? k->pairs[pair].package : "";
	e->version = pair >= 0 ? k->pairs[pair].version : "";
	e->type = type;
	e->origin = origin;
	memcpy(e->sha256, sha256, 32);
	k->n++;
	return 0;
}

int
kg_add(struct kg *k, const struct kg_entry *e, struct dt_err *err)
{
	int64_t pair = -1;

	if (e->package && e->package[0] &&
	    (pair = intern_pair(k, e->package, e->version ? e->version : "", err)) < 0)
		return -1;
	return add_entry(k, e->path, strlen(e->path), e->type, e->origin, e->sha256, pair, err);
}

/* ---- .deb files ---- */

/* dpkg prints a version without a zero epoch ("0:1.2-1" is "1.2-1"); so do we. */
static void
trim_zero_epoch(char *v)
{
	char *c = strchr(v, ':');
	size_t z = strspn(v, "0");

	if (c && z > 0 && v + z == c)
		memmove(v, c + 1, strlen(c + 1) + 1);
}

/* Package and Version of a control file (RFC 822 fields, first line of each). */
static int
parse_control(const char *s, size_t len, char *pkg, char *ver, size_t cap)
{
	const char *p = s, *end = s + len;

	pkg[0] = ver[0] = '\0';
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *le = nl ? nl : end, *colon = memchr(p, ':', (size_t)(le - p));
		char *dst = NULL;

		if (colon && (size_t)(colon - p) == 7 && strncasecmp(p, "Package", 7) == 0)
			dst = pkg;
		else if (colon && (size_t)(colon - p) == 7 && strncasecmp(p, "Version", 7) == 0)
			dst = ver;
		if (dst && dst[0] == '\0') {
			const char *v = colon + 1;
			size_t n;

			while (v < le && (*v == ' ' || *v == '\t'))
				v++;
			n = (size_t)(le - v);
			while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
				n--;
			if (n == 0 || n >= cap || memchr(v, '\0', n))
				return -1;
			memcpy(dst, v, n);
			dst[n] = '\0';
		}
		p = le + 1;
	}
	if (pkg[0] == '\0' || ver[0] == '\0')
		return -1;
	trim_zero_epoch(ver);
	return 0;
}

struct member {
	struct archive *outer;
	unsigned char block[READ_BLOCK]; /* the inner reader's input: libarchive keeps it
					    until the next read, so never reuse it */
	unsigned char out[READ_BLOCK];   /* what the inner reader gives */
};

static la_ssize_t
member_read(struct archive *a, void *ctx, const void **buf)
{
	struct member *m = ctx;
	la_ssize_t n = archive_read_data(m->outer, m->block, sizeof(m->block));

	(void)a;
	*buf = m->block;
	return n;
}

static struct archive *
inner_open(struct member *m)
{
	struct archive *a = archive_read_new();

	if (a == NULL)
		return NULL;
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_xz(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_filter_bzip2(a);
	archive_read_support_format_tar(a);
	if (archive_read_open(a, m, NULL, member_read, NULL) != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* "./usr/bin/x" or "usr/bin/x/" to "/usr/bin/x" (and "./" to "/") in b. */
static int
deb_path(const char *name, struct buf *b, struct dt_err *err)
{
	size_t n;

	if (name[0] == '.' && name[1] == '/')
		name++;
	buf_reset(b);
	if ((name[0] != '/' && buf_addc(b, '/', err) < 0) || buf_adds(b, name, err) < 0)
		return -1;
	n = b->len;
	while (n > 1 && b->data[n - 1] == '/')
		n--;
	b->len = n;
	b->data[n] = '\0';
	return 0;
}

static int
read_control(struct member *m, char *pkg, char *ver, const char *deb, struct dt_err *err)
{
	struct archive *a = inner_open(m);
	struct archive_entry *ae;
	struct buf b;
	int rc = -1, r;

	if (a == NULL)
		return dt_fail(err, DT_EFORMAT, "'%s': control.tar cannot be read", deb);
	buf_init(&b, MAX_CONTROL);
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(ae);
		la_ssize_t got;

		if (name == NULL ||
		    (strcmp(name, "./control") != 0 && strcmp(name, "control") != 0))
			continue;
		while ((got = archive_read_data(a, m->out, sizeof(m->out))) > 0)
			if (buf_add(&b, m->out, (size_t)got, err) < 0)
				goto out;
		if (got < 0 ||
		    parse_control((const char *)b.data, b.len, pkg, ver, MAX_VERSION_LEN) < 0)
			break;
		rc = 0;
		goto out;
	}
	dt_fail(err, DT_EFORMAT, "'%s': no readable control file with Package and Version", deb);
out:
	buf_release(&b);
	archive_read_free(a);
	return rc;
}

static int
read_data(struct kg *k, struct member *m, int64_t pair, const char *deb, struct kg_stats *st,
	  struct dt_err *err)
{
	struct archive *a = inner_open(m);
	struct archive_entry *ae;
	struct buf path;
	size_t first = k->n;
	int rc = -1, r;
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	buf_init(&path, 1u << 16);
	if (a == NULL || md == NULL) {
		dt_fail(err, DT_EFORMAT, "'%s': data.tar cannot be read", deb);
		goto out;
	}
	while ((r = archive_read_next_header(a, &ae)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(ae), *hl = archive_entry_hardlink(ae);
		unsigned char d[32] = { 0 };
		unsigned dl;
		uint8_t type;

		if (name == NULL || deb_path(name, &path, err) < 0)
			goto out;
		if (hl) {
			/* A hard link names an earlier member of the same package. */
			struct buf target;
			size_t i;

			buf_init(&target, 1u << 16);
			if (deb_path(hl, &target, err) < 0) {
				buf_release(&target);
				goto out;
			}
			for (i = k->n; i > first; i--)
				if (strcmp(k->v[i - 1].path, (const char *)target.data) == 0)
					break;
			buf_release(&target);
			if (i == first) {
				if (st)
					st->skipped++;
				continue;
			}
			memcpy(d, k->v[i - 1].sha256, 32);
			type = KG_REG;
		} else if (archive_entry_filetype(ae) == AE_IFREG) {
			la_ssize_t got;

			EVP_DigestInit_ex(md, EVP_sha256(), NULL);
			while ((got = archive_read_data(a, m->out, sizeof(m->out))) > 0)
				EVP_DigestUpdate(md, m->out, (size_t)got);
			if (got < 0) {
				dt_fail(err, DT_EFORMAT, "'%s': %s: %s", deb, name,
					archive_error_string(a));
				goto out;
			}
			EVP_DigestFinal_ex(md, d, &dl);
			type = KG_REG;
		} else if (archive_entry_filetype(ae) == AE_IFLNK) {
			const char *t = archive_entry_symlink(ae);

			EVP_Digest(t ? t : "", t ? strlen(t) : 0, d, &dl, EVP_sha256(), NULL);
			type = KG_LNK;
		} else if (archive_entry_filetype(ae) == AE_IFDIR) {
			type = KG_DIR;
		} else {
			continue;
		}
		if (add_entry(k, (const char *)path.data, path.len, type, KG_FROM_DEB, d, pair,
			      err) < 0)
			goto out;
		if (st)
			st->entries++;
	}
	if (r != ARCHIVE_EOF) {
		dt_fail(err, DT_EFORMAT, "'%s': data.tar: %s", deb, archive_error_string(a));
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	buf_release(&path);
	if (a)
		archive_read_free(a);
	return rc;
}

static int
add_deb(struct kg *k, const char *deb, struct kg_stats *st, struct dt_err *err)
{
	struct member *m = calloc(1, sizeof(*m));
	struct archive_entry *ae;
	char pkg[MAX_VERSION_LEN], ver[MAX_VERSION_LEN];
	int64_t pair = -1;
	int rc = -1, r, have_data = 0;

	pkg[0] = '\0';
	if (m == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	m->outer = archive_read_new();
	if (m->outer == NULL) {
		free(m);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	archive_read_support_format_ar(m->outer);
	if (archive_read_open_filename(m->outer, deb, READ_BLOCK) != ARCHIVE_OK) {
		dt_fail(err, errno == ENOENT ? DT_EIO : DT_EFORMAT, "cannot read '%s': %s", deb,
			archive_error_string(m->outer));
		goto out;
	}
	while ((r = archive_read_next_header(m->outer, &ae)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(ae);

		if (name && strncmp(name, "control.tar", 11) == 0 && pkg[0] == '\0') {
			if (read_control(m, pkg, ver, deb, err) < 0 ||
			    (pair = intern_pair(k, pkg, ver, err)) < 0)
				goto out;
		} else if (name && strncmp(name, "data.tar", 8) == 0 && !have_data) {
			/* dpkg-deb writes control before data; a .deb the other way is not one. */
			if (pair < 0) {
				dt_fail(err, DT_EFORMAT, "'%s': data.tar before control.tar", deb);
				goto out;
			}
			if (read_data(k, m, pair, deb, st, err) < 0)
				goto out;
			have_data = 1;
		}
	}
	if (r != ARCHIVE_EOF || !have_data) {
		dt_fail(err, DT_EFORMAT, "'%s' is not a Debian package (%s)", deb,
			r != ARCHIVE_EOF ? archive_error_string(m->outer) : "no data.tar");
		goto out;
	}
	if (st)
		st->debs++;
	rc = 0;
out:
	archive_read_free(m->outer);
	free(m);
	return rc;
}

/* ---- hashdeep lists ---- */

/*
 * "%%%% HASHDEEP-1.0", then "%%%% size,md5,sha256,filename" naming the columns, "##"
 * comments, then one line a file: the columns in that order, the name last (it may hold
 * commas: everything after the comma before it).
 */
static int
add_hashdeep_text(struct kg *k, const char *s, size_t len, const char *name, struct kg_stats *st,
		  struct dt_err *err)
{
	const char *p = s, *end = s + len;
	int sha_col = -1, ncols = 0, lineno = 0;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *le = nl ? nl : end;
		size_t n = (size_t)(le - p);

		lineno++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n >= 5 && memcmp(p, "%%%% ", 5) == 0 && lineno > 1) {
			const char *c = p + 5, *ce = p + n;

			ncols = 0;
			sha_col = -1;
			while (c <= ce) {
				const char *comma = memchr(c, ',', (size_t)(ce - c));
				const char *fe = comma ? comma : ce;

				if (fe - c == 6 && memcmp(c, "sha256", 6) == 0)
					sha_col = ncols;
				ncols++;
				c = fe + 1;
			}
		} else if (n > 0 && p[0] != '#' && p[0] != '%') {
			const char *c = p, *ce = p + n, *sha = NULL;
			unsigned char d[32];
			int col = 0;

			if (sha_col < 0)
				return dt_fail(err, DT_EFORMAT,
					       "'%s' line %d: the list has no sha256 column", name,
					       lineno);
			while (col < ncols - 1 && c < ce) {
				const char *comma = memchr(c, ',', (size_t)(ce - c));
				if (comma == NULL)
					break;
				if (col == sha_col && comma - c == 64)
					sha = c;
				c = comma + 1;
				col++;
			}
			if (col != ncols - 1 || sha == NULL || c >= ce)
				return dt_fail(err, DT_EFORMAT, "'%s' line %d: not a hashdeep line",
					       name, lineno);
			if (buf_unhex(sha, 32, d) < 0)
				return dt_fail(err, DT_EFORMAT, "'%s' line %d: bad sha256", name,
					       lineno);
			if (add_entry(k, c, (size_t)(ce - c), KG_REG, KG_FROM_HASHDEEP, d, -1,
				      err) < 0)
				return -1;
			if (st)
				st->entries++;
		}
		p = le + 1;
	}
	if (st)
		st->lists++;
	return 0;
}

static int
read_whole(const char *path, struct buf *b, struct dt_err *err)
{
	FILE *fp = fopen(path, "rb");
	unsigned char chunk[READ_BLOCK];
	size_t got;

	if (fp == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
	while ((got = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_add(b, chunk, got, err) < 0) {
			fclose(fp);
			return -1;
		}
	if (ferror(fp)) {
		fclose(fp);
		return dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
	}
	fclose(fp);
	return 0;
}

static int
is_hashdeep_file(const char *path)
{
	char head[sizeof(HASHDEEP_MAGIC)];
	FILE *fp = fopen(path, "rb");
	size_t n;

	if (fp == NULL)
		return 0;
	n = fread(head, 1, sizeof(head) - 1, fp);
	fclose(fp);
	return n == sizeof(head) - 1 && memcmp(head, HASHDEEP_MAGIC, n) == 0;
}

static int
add_hashdeep(struct kg *k, const char *path, struct kg_stats *st, struct dt_err *err)
{
	struct buf b;
	int rc;

	buf_init(&b, KG_MAX_FILE);
	rc = read_whole(path, &b, err);
	if (rc == 0)
		rc = add_hashdeep_text(k, (const char *)b.data, b.len, path, st, err);
	buf_release(&b);
	return rc;
}

static int
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int
add_dir(struct kg *k, const char *dir, int depth, struct kg_stats *st, struct dt_err *err)
{
	struct dirent **names = NULL;
	int n = scandir(dir, &names, NULL, alphasort), rc = 0;

	if (n < 0)
		return dt_fail_errno(err, DT_EIO, "cannot read '%s'", dir);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		char *p = NULL;
		struct stat sb;

		if (rc == 0 && nm[0] != '.' && asprintf(&p, "%s/%s", dir, nm) >= 0 &&
		    lstat(p, &sb) == 0) {
			if (S_ISDIR(sb.st_mode) && depth < MAX_DIR_DEPTH)
				rc = add_dir(k, p, depth + 1, st, err);
			else if (S_ISREG(sb.st_mode) && ends_with(nm, ".deb"))
				rc = add_deb(k, p, st, err);
			else if (S_ISREG(sb.st_mode) && is_hashdeep_file(p))
				rc = add_hashdeep(k, p, st, err);
		}
		free(p);
		free(names[i]);
	}
	free(names);
	return rc;
}

int
kg_add_path(struct kg *k, const char *path, struct kg_stats *st, struct dt_err *err)
{
	struct stat sb;

	if (stat(path, &sb) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
	if (S_ISDIR(sb.st_mode))
		return add_dir(k, path, 0, st, err);
	if (is_hashdeep_file(path))
		return add_hashdeep(k, path, st, err);
	return add_deb(k, path, st, err);
}

/* ---- sealing and lookups ---- */

static int
entry_cmp(const void *pa, const void *pb)
{
	const struct kg_entry *a = pa, *b = pb;
	int c = memcmp(a->sha256, b->sha256, 32);

	if (c == 0)
		c = strcmp(a->path, b->path);
	if (c == 0)
		c = strcmp(a->package, b->package);
	if (c == 0)
		c = strcmp(a->version, b->version);
	if (c == 0)
		c = (int)a->type - (int)b->type;
	if (c == 0)
		c = (int)a->origin - (int)b->origin;
	return c;
}

int
kg_seal(struct kg *k, struct dt_err *err)
{
	size_t w = 0;

	(void)err;
	if (k->n)
		qsort(k->v, k->n, sizeof(*k->v), entry_cmp);
	for (size_t i = 0; i < k->n; i++)
		if (w == 0 || entry_cmp(&k->v[w - 1], &k->v[i]) != 0)
			k->v[w++] = k->v[i];
	k->n = w;
	k->sealed = 1;
	return 0;
}

size_t
kg_count(const struct kg *k)
{
	return k->n;
}

const struct kg_entry *
kg_get(const struct kg *k, size_t i)
{
	return i < k->n ? &k->v[i] : NULL;
}

size_t
kg_find(const struct kg *k, const unsigned char sha256[32], size_t *first)
{
	size_t lo = 0, hi = k->n, end;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (memcmp(k->v[mid].sha256, sha256, 32) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	for (end = lo; end < k->n && memcmp(k->v[end].sha256, sha256, 32) == 0; end++)
		;
	return end - lo;
}

/* strcmp order of a (NUL-terminated) and the len bytes at b. */
static int
path_cmp(const char *a, const char *b, size_t len)
{
	size_t al = strlen(a);
	int c = memcmp(a, b, al < len ? al : len);

	return c ? c : (al > len) - (al < len);
}

const struct kg_entry *
kg_vouch(const struct kg *k, const char *path, size_t len, uint8_t type,
	 const unsigned char sha256[32], const char *package, const char *version)
{
	const struct kg_entry *same_path = NULL, *by_hash = NULL;
	size_t first, n = kg_find(k, sha256, &first);

	/* Folders all share the zero digest: the path orders them, so look it up. */
	if (type == KG_DIR && n > 0) {
		size_t lo = first, hi = first + n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (path_cmp(k->v[mid].path, path, len) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		n = first + n - lo;
		first = lo;
	}
	for (size_t i = first; i < first + n; i++) {
		const struct kg_entry *e = &k->v[i];

		if (e->type != type)
			continue;
		if (e->origin == KG_FROM_HASHDEEP) {
			if (type == KG_REG && by_hash == NULL)
				by_hash = e;
			continue;
		}
		if (strlen(e->path) != len || memcmp(e->path, path, len) != 0) {
			if (type == KG_DIR)
				break;
			continue;
		}
		if (package && version && strcmp(e->package, package) == 0 &&
		    strcmp(e->version, version) == 0)
			return e;
		if (same_path == NULL)
			same_path = e;
	}
	return same_path ? same_path : by_hash;
}

/* ---- the .kg file ---- */

/* A pair's package string (interned: its address names the pair) and its index + 1. */
struct pair_ref {
	uintptr_t package;
	size_t pair;
};

static int
pair_ref_cmp(const void *pa, const void *pb)
{
	const struct pair_ref *a = pa, *b = pb;

	return (a->package > b->package) - (a->package < b->package);
}

/* The index + 1 of e's pair in refs (sorted by address), 0 for none. */
static size_t
pair_of(const struct pair_ref *refs, size_t n, const struct kg_entry *e)
{
	struct pair_ref key = { (uintptr_t)e->package, 0 };
	const struct pair_ref *r =
		e->package[0] ? bsearch(&key, refs, n, sizeof(*refs), pair_ref_cmp) : NULL;

	return r ? r->pair : 0;
}

static int
encode(const struct kg *k, struct buf *raw, struct dt_err *err)
{
	struct pair_ref *refs = NULL;
	size_t cap = 0;
	int rc = -1;

	if (k->npairs && BUF_GROW(refs, k->npairs, cap, err) < 0)
		return -1;
	/* Every pair has its own package string (kg_add and decode both copy it). */
	for (size_t i = 0; i < k->npairs; i++)
		refs[i] = (struct pair_ref){ (uintptr_t)k->pairs[i].package, i + 1 };
	if (k->npairs)
		qsort(refs, k->npairs, sizeof(*refs), pair_ref_cmp);
	if (buf_add_varint(raw, k->npairs, err) < 0)
		goto out;
	for (size_t i = 0; i < k->npairs; i++) {
		size_t pl = strlen(k->pairs[i].package), vl = strlen(k->pairs[i].version);
		if (buf_add_varint(raw, pl, err) < 0 ||
		    buf_add(raw, k->pairs[i].package, pl, err) < 0 ||
		    buf_add_varint(raw, vl, err) < 0 ||
		    buf_add(raw, k->pairs[i].version, vl, err) < 0)
			goto out;
	}
	for (size_t i = 0; i < k->n; i++) {
		const struct kg_entry *e = &k->v[i];
		size_t pl = strlen(e->path);

		/* The pair by its address: entries point at the interned strings. */
		if (buf_addc(raw, e->type, err) < 0 || buf_addc(raw, e->origin, err) < 0 ||
		    buf_add_varint(raw, pair_of(refs, k->npairs, e), err) < 0 ||
		    buf_add_varint(raw, pl, err) < 0 || buf_add(raw, e->path, pl, err) < 0 ||
		    buf_add(raw, e->sha256, 32, err) < 0)
			goto out;
	}
	rc = 0;
out:
	free(refs);
	return rc;
}

int
kg_save(const struct kg *k, const char *path, const struct outfile_opts *o, struct dt_err *err)
{
	struct outfile_opts def = { .kind = OUTFILE_KNOWNGOOD };
	struct outfile of;
	struct buf raw, file;
	unsigned char *z = NULL, digest[32];
	size_t zlen;
	unsigned dl;
	int ret = -1;

	memset(&of, 0, sizeof(of));
	buf_init(&raw, KG_MAX_FILE);
	buf_init(&file, KG_MAX_FILE);
	if (!k->sealed) {
		dt_fail(err, DT_EBUG, "kg_save of an unsealed set");
		goto out;
	}
	if (encode(k, &raw, err) < 0)
		goto out;
	if (buf_deflate(raw.data, raw.len, 9, &z, &zlen, err) < 0)
		goto out;
	if (buf_add(&file, KG_MAGIC, 8, err) < 0 ||
	    buf_add_u32le(&file, KG_VERSION_MAJOR, err) < 0 ||
	    buf_add_u32le(&file, KG_VERSION_MINOR, err) < 0 ||
	    buf_add_u64le(&file, k->n, err) < 0 || buf_add_u64le(&file, raw.len, err) < 0 ||
	    buf_add_u64le(&file, zlen, err) < 0 || buf_add(&file, z, zlen, err) < 0)
		goto out;
	EVP_Digest(file.data, file.len, digest, &dl, EVP_sha256(), NULL);
	if (buf_add(&file, digest, 32, err) < 0)
		goto out;
	if (outfile_open(&of, path, o ? o : &def, err) < 0)
		goto out;
	if (fwrite(file.data, 1, file.len, of.fp) != file.len) {
		dt_fail_errno(err, DT_EIO, "cannot write '%s'", path);
		goto out;
	}
	ret = outfile_commit(&of, err);
out:
	outfile_release(&of);
	buf_release(&raw);
	buf_release(&file);
	free(z);
	return ret;
}

static int
bad(struct dt_err *err, const char *what)
{
	return dt_fail(err, DT_EFORMAT, "damaged known-good set (%s)", what);
}

static int
decode(struct kg *k, struct cursor *c, uint64_t nentries, struct dt_err *err)
{
	uint64_t npairs;

	if (cur_varint(c, &npairs) < 0 || npairs > c->left / 2)
		return bad(err, "bad package count");
	for (uint64_t i = 0; i < npairs; i++) {
		uint64_t pl, vl;
		const unsigned char *p, *v;
		char pkg[MAX_VERSION_LEN], ver[MAX_VERSION_LEN];

		if (cur_varint(c, &pl) < 0 || pl == 0 || pl >= sizeof(pkg) ||
		    cur_bytes(c, (size_t)pl, &p) < 0 || cur_varint(c, &vl) < 0 ||
		    vl >= sizeof(ver) || cur_bytes(c, (size_t)vl, &v) < 0 ||
		    memchr(p, '\0', (size_t)pl) || memchr(v, '\0', (size_t)vl))
			return bad(err, "bad package");
		memcpy(pkg, p, (size_t)pl);
		pkg[pl] = '\0';
		memcpy(ver, v, (size_t)vl);
		ver[vl] = '\0';
		/* Not interned: a repeated pair is kept as written, still valid. */
		if (BUF_GROW(k->pairs, k->npairs + 1, k->paircap, err) < 0)
			return -1;
		k->pairs[k->npairs].package = arena_strndup(&k->ar, pkg, (size_t)pl, err);
		k->pairs[k->npairs].version = arena_strndup(&k->ar, ver, (size_t)vl, err);
		if (!k->pairs[k->npairs].package || !k->pairs[k->npairs].version)
			return -1;
		k->npairs++;
	}
	if (nentries > c->left / 36)
		return bad(err, "bad entry count");
	for (uint64_t i = 0; i < nentries; i++) {
		uint8_t type, origin;
		uint64_t pair, pl;
		const unsigned char *p, *d;

		if (cur_u8(c, &type) < 0 || type < KG_REG || type > KG_DIR ||
		    cur_u8(c, &origin) < 0 || origin < KG_FROM_DEB || origin > KG_FROM_HASHDEEP ||
		    cur_varint(c, &pair) < 0 || pair > k->npairs || cur_varint(c, &pl) < 0 ||
		    pl == 0 || pl > 65536 || cur_bytes(c, (size_t)pl, &p) < 0 ||
		    memchr(p, '\0', (size_t)pl) || cur_bytes(c, 32, &d) < 0)
			return bad(err, "bad entry");
		if (add_entry(k, (const char *)p, (size_t)pl, type, origin, d, (int64_t)pair - 1,
			      err) < 0)
			return -1;
	}
	if (c->left != 0)
		return bad(err, "trailing bytes");
	return 0;
}

int
kg_load_mem(const unsigned char *data, size_t len, struct kg **out, struct dt_err *err)
{
	struct cursor c = { data, len };
	unsigned char digest[32], *raw = NULL;
	const unsigned char *z;
	uint32_t major, minor;
	uint64_t nentries, rawlen, zlen;
	unsigned dl;
	struct kg *k = NULL;

	*out = NULL;
	if (len < 8 || memcmp(data, KG_MAGIC, 8) != 0)
		return dt_fail(err, DT_EFORMAT, "not a known-good set (.kg) or hashdeep list");
	if (len < KG_HEADER + 32)
		return bad(err, "truncated");
	/* Verify, then trust: nothing past the magic is read before the digest checks out. */
	EVP_Digest(data, len - 32, digest, &dl, EVP_sha256(), NULL);
	if (memcmp(digest, data + len - 32, 32) != 0)
		return bad(err, "checksum mismatch");
	c.p += 8;
	c.left -= 8 + 32;
	if (cur_u32le(&c, &major) < 0 || cur_u32le(&c, &minor) < 0)
		return bad(err, "truncated header");
	if (major != KG_VERSION_MAJOR)
		return dt_fail(err, DT_EVERSION,
			       "known-good format version %u.%u is not supported (this deltair "
			       "reads %d.x)",
			       major, minor, KG_VERSION_MAJOR);
	if (cur_u64le(&c, &nentries) < 0 || cur_u64le(&c, &rawlen) < 0 ||
	    cur_u64le(&c, &zlen) < 0 || zlen != c.left || rawlen > KG_MAX_FILE ||
	    nentries > KG_MAX_ENTRIES || rawlen > zlen * 1100 + 64 ||
	    cur_bytes(&c, (size_t)zlen, &z) < 0)
		return bad(err, "bad body length");
	if (buf_inflate(z, (size_t)zlen, (size_t)rawlen,
			"damaged known-good set (body does not decompress)", &raw, err) < 0)
		return -1;
	k = kg_new();
	if (k == NULL) {
		free(raw);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	c.p = raw;
	c.left = (size_t)rawlen;
	if (decode(k, &c, nentries, err) < 0 || kg_seal(k, err) < 0)
		goto fail;
	free(raw);
	*out = k;
	return 0;
fail:
	free(raw);
	kg_free(k);
	return -1;
}

int
kg_load(const char *path, struct kg **out, struct dt_err *err)
{
	struct buf b;
	int rc;

	*out = NULL;
	buf_init(&b, KG_MAX_FILE);
	rc = read_whole(path, &b, err);
	if (rc == 0 && b.len >= sizeof(HASHDEEP_MAGIC) - 1 &&
	    memcmp(b.data, HASHDEEP_MAGIC, sizeof(HASHDEEP_MAGIC) - 1) == 0) {
		struct kg *k = kg_new();
		if (k == NULL)
			rc = dt_fail(err, DT_ENOMEM, "out of memory");
		else if (add_hashdeep_text(k, (const char *)b.data, b.len, path, NULL, err) < 0 ||
			 kg_seal(k, err) < 0) {
			kg_free(k);
			rc = -1;
		} else {
			*out = k;
		}
	} else if (rc == 0 && kg_load_mem(b.data, b.len, out, err) < 0) {
		/* Name the file: the message says what is wrong with it. */
		if (err) {
			struct dt_err e2 = *err;
			memset(err, 0, sizeof(*err));
			dt_fail(err, e2.code, "'%s': %s", path, e2.msg);
		}
		rc = -1;
	}
	buf_release(&b);
	return rc;
}
