/*
 * decomp.c - see decomp.h.
 *
 * One libarchive reader per archive level. The outer file and a spooled member are both a
 * "stream": a size and a read-at-offset callback, fed to libarchive through read, skip and
 * seek callbacks (seek lets the zip reader trust the central directory rather than the local
 * headers, which is what unzip does). Every byte that comes out of any level is counted
 * against the file's and the run's bounds before it is kept.
 */
#include "decomp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include "buf.h"
#include "mono.h"
#include "outfile.h"

#include "banned.h"

#define READ_BLOCK (64u << 10) /* bytes libarchive gets per read callback */
#define DATA_BLOCK (64u << 10) /* bytes of member data per archive_read_data() */
#define MAGIC_LEN  512         /* bytes looked at to tell an archive (tar's at 257) */

struct decomp {
	struct decomp_limits lim;
	struct decomp_stats st;
};

static const char *const bound_names[DECOMP_NBOUNDS] = {
	"", "depth", "members", "file_bytes", "run_bytes", "ratio", "time",
};

const char *
decomp_bound_name(enum decomp_bound b)
{
	return (unsigned)b < DECOMP_NBOUNDS ? bound_names[b] : "";
}

struct decomp *
decomp_new(const struct decomp_limits *l, struct dt_err *err)
{
	struct decomp *d = calloc(1, sizeof(*d));

	if (d == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		return NULL;
	}
	if (l != NULL)
		d->lim = *l;
	if (d->lim.max_depth == 0)
		d->lim.max_depth = DECOMP_DEFAULT_DEPTH;
	if (d->lim.max_members == 0)
		d->lim.max_members = DECOMP_DEFAULT_MEMBERS;
	if (d->lim.max_file_bytes == 0)
		d->lim.max_file_bytes = DECOMP_DEFAULT_FILE_BYTES;
	if (d->lim.max_run_bytes == 0)
		d->lim.max_run_bytes = DECOMP_DEFAULT_RUN_BYTES;
	if (d->lim.max_ratio == 0)
		d->lim.max_ratio = DECOMP_DEFAULT_RATIO;
	if (d->lim.timeout <= 0)
		d->lim.timeout = DECOMP_DEFAULT_TIMEOUT;
	return d;
}

void
decomp_free(struct decomp *d)
{
	free(d);
}

const struct decomp_stats *
decomp_stats(const struct decomp *d)
{
	return &d->st;
}

/* ---- what is an archive ---- */

/*
 * Whether the first n bytes at p start one of the formats we open. libarchive would bid on
 * anything (its raw reader takes any bytes, mtree takes text): we only let it see what
 * announces itself.
 */
static int
looks_archive(const unsigned char *p, size_t n)
{
	static const struct {
		const char *magic;
		size_t len;
	} magics[] = {
		{ "\x1f\x8b", 2 }, /* gzip */
		{ "BZh", 3 },      /* bzip2 */
		{ "\xfd"
		  "7zXZ\x00",
		  6 },                     /* xz */
		{ "\x28\xb5\x2f\xfd", 4 }, /* zstd */
		{ "\x5d\x00\x00", 3 },     /* lzma alone, the usual properties */
		{ "PK\x03\x04", 4 },       /* zip */
		{ "PK\x05\x06", 4 },       /* empty zip */
		{ "!<arch>\n", 8 },        /* ar (.deb, .a) */
		{ "070701", 6 },           /* cpio newc */
		{ "070702", 6 },           /* cpio crc */
		{ "070707", 6 },           /* cpio odc */
		{ "\xc7\x71", 2 },         /* cpio binary, little-endian */
		{ "\x71\xc7", 2 },         /* cpio binary, big-endian */
	};

	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if (n >= magics[i].len && memcmp(p, magics[i].magic, magics[i].len) == 0)
			return 1;
	/* POSIX and GNU tar: "ustar" at 257. */
	return n >= 262 && memcmp(p + 257, "ustar", 5) == 0;
}

/* ---- streams: the outer file or a spooled member, as libarchive reads them ---- */

struct stream {
	uint64_t size;
	ssize_t (*read)(void *rctx, uint64_t off, void *buf, size_t len);
	void *rctx;
	uint64_t pos;
	unsigned char *blk; /* owned: READ_BLOCK bytes */
	int failed;
};

static la_ssize_t
stream_read(struct archive *a, void *cd, const void **out)
{
	struct stream *s = cd;
	size_t want;
	ssize_t got;

	*out = s->blk;
	if (s->pos >= s->size)
		return 0;
	want = s->size - s->pos < READ_BLOCK ? (size_t)(s->size - s->pos) : READ_BLOCK;
	got = s->read(s->rctx, s->pos, s->blk, want);
	if (got <= 0 || (size_t)got > want) {
		s->failed = 1;
		archive_set_error(a, EIO, "cannot read the content at offset %llu",
				  (unsigned long long)s->pos);
		return -1;
	}
	s->pos += (uint64_t)got;
	return got;
}

static la_int64_t
stream_skip(struct archive *a, void *cd, la_int64_t req)
{
	struct stream *s = cd;
	uint64_t left = s->size - (s->pos < s->size ? s->pos : s->size);

	(void)a;
	if (req <= 0)
		return 0;
	if ((uint64_t)req > left)
		req = (la_int64_t)left;
	s->pos += (uint64_t)req;
	return req;
}

static la_int64_t
stream_seek(struct archive *a, void *cd, la_int64_t off, int whence)
{
	struct stream *s = cd;
	int64_t base = whence == SEEK_SET   ? 0
		       : whence == SEEK_CUR ? (int64_t)s->pos
					    : (int64_t)s->size;

	(void)a;
	/* Overflow-safe: sizes are well below INT64_MAX, an offset from an archive may not be. */
	if ((off > 0 && base > INT64_MAX - off) || base + off < 0)
		return ARCHIVE_FATAL;
	s->pos = (uint64_t)(base + off);
	return (la_int64_t)s->pos;
}

/* ---- spool: one member's bytes, in memory then in an unnamed temporary file ---- */

struct spool {
	unsigned char *mem; /* owned */
	size_t len, cap;
	int fd; /* O_TMPFILE, or -1 */
	uint64_t size;
};

static void
spool_init(struct spool *sp)
{
	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
}

static void
spool_release(struct spool *sp)
{
	free(sp->mem);
	if (sp->fd >= 0)
		close(sp->fd);
	spool_init(sp);
}

static int
tmp_open(struct dt_err *err)
{
	const char *dir = getenv("TMPDIR");
	int fd = -1;

	if (dir != NULL && dir[0] != '\0')
		fd = open(dir, O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = open("/tmp", O_TMPFILE | O_RDWR | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		dt_fail_errno(err, DT_EIO, "cannot create a temporary file for a member");
	return fd;
}

static int
write_all(int fd, const unsigned char *p, size_t n, struct dt_err *err)
{
	if (outfile_write_all(fd, p, n) < 0)
		return dt_fail_errno(err, DT_EIO, "cannot write a member's temporary file");
	return 0;
}

/* DT_ENOMEM for memory; DT_EIO for temporary space. */
static int
spool_add(struct spool *sp, const void *p, size_t n, struct dt_err *err)
{
	if (sp->fd < 0 && sp->size + n <= DECOMP_MEM_SPOOL) {
		if (sp->len + n > sp->cap) {
			size_t cap = sp->cap ? sp->cap : 64u << 10;
			unsigned char *m;

			while (cap < sp->len + n)
				cap *= 2;
			if (cap > DECOMP_MEM_SPOOL)
				cap = DECOMP_MEM_SPOOL;
			m = realloc(sp->mem, cap);
			if (m == NULL)
				return dt_fail(err, DT_ENOMEM, "out of memory");
			sp->mem = m;
			sp->cap = cap;
		}
		memcpy(sp->mem + sp->len, p, n);
		sp->len += n;
		sp->size += n;
		return 0;
	}
	if (sp->fd < 0) {
		sp->fd = tmp_open(err);
		if (sp->fd < 0 || write_all(sp->fd, sp->mem, sp->len, err) < 0)
			return -1;
		free(sp->mem);
		sp->mem = NULL;
		sp->len = sp->cap = 0;
	}
	if (write_all(sp->fd, p, n, err) < 0)
		return -1;
	sp->size += n;
	return 0;
}

static ssize_t
spool_read(void *rctx, uint64_t off, void *buf, size_t len)
{
	struct spool *sp = rctx;
	ssize_t r;

	if (off >= sp->size)
		return 0;
	if (len > sp->size - off)
		len = (size_t)(sp->size - off);
	if (sp->fd < 0) {
		memcpy(buf, sp->mem + off, len);
		return (ssize_t)len;
	}
	do
		r = pread(sp->fd, buf, len, (off_t)off);
	while (r < 0 && errno == EINTR);
	return r;
}

/* ---- one file's decomposition ---- */

struct job {
	struct decomp *d;
	decomp_member_fn fn;
	void *ctx;
	struct decomp_result *res;
	struct dt_err *err;
	uint64_t outer_size;    /* bytes of the outer file */
	double start;           /* mono_now() */
	int stop;               /* a bound that ends the file, or a failure */
	int fatal;              /* fn or memory: decomp_file() returns -1 */
	struct buf name;        /* the nested path of the member at hand */
	const char *outer_name; /* borrowed: names a top-level compressed stream's content */
};

/* Record the first bound (fmt says where, in words); the ones that end the file stop it. */
static void DT_PRINTF(3, 4) hit(struct job *j, enum decomp_bound b, const char *fmt, ...)
{
	va_list ap;

	if (j->res->bound == DECOMP_BOUND_NONE) {
		j->res->bound = b;
		va_start(ap, fmt);
		vsnprintf(j->res->msg, sizeof(j->res->msg), fmt, ap);
		va_end(ap);
	}
	if (b != DECOMP_BOUND_DEPTH && b != DECOMP_BOUND_MEMBERS)
		j->stop = 1;
}

static void
corrupt(struct job *j, const char *where, const char *why)
{
	if (j->res->status == DECOMP_DONE || j->res->status == DECOMP_BOUNDED)
		j->res->status = DECOMP_CORRUPT;
	if (j->res->msg[0] == '\0' || j->res->bound != DECOMP_BOUND_NONE) {
		if (where[0] != '\0')
			snprintf(j->res->msg, sizeof(j->res->msg),
				 "damaged archive '%.300s': %.180s", where, why);
		else
			snprintf(j->res->msg, sizeof(j->res->msg), "damaged archive: %.180s", why);
	}
}

/* 0, or -1 when the time bound ends the file. */
static int
out_of_time(struct job *j)
{
	if (mono_now() - j->start > (double)j->d->lim.timeout) {
		hit(j, DECOMP_BOUND_TIME,
		    "stopped at bound 'time': more than %d seconds on the file", j->d->lim.timeout);
		return -1;
	}
	return 0;
}

/* Count n expanded bytes; 0, or -1 when a bound ends the file. */
static int
account(struct job *j, size_t n)
{
	struct decomp *d = j->d;
	uint64_t out = j->res->bytes + n;

	j->res->bytes = out;
	d->st.bytes += n;
	if (out > d->lim.max_file_bytes) {
		hit(j, DECOMP_BOUND_FILE_BYTES,
		    "stopped at bound 'file_bytes': more than %llu bytes expanded from the file",
		    (unsigned long long)d->lim.max_file_bytes);
		return -1;
	}
	if (d->st.bytes > d->lim.max_run_bytes) {
		hit(j, DECOMP_BOUND_RUN_BYTES,
		    "stopped at bound 'run_bytes': more than %llu bytes expanded in the run",
		    (unsigned long long)d->lim.max_run_bytes);
		return -1;
	}
	/* Against the file's size, not the bytes read: a zip whose entries overlap makes the
	 * reader read the same bytes again for every entry (Fifield's bomb). */
	if (out > DECOMP_RATIO_FLOOR &&
	    out / (j->outer_size ? j->outer_size : 1) >= d->lim.max_ratio) {
		hit(j, DECOMP_BOUND_RATIO,
		    "stopped at bound 'ratio': %llu bytes expanded from a file of %llu bytes (%llu "
		    "times or more)",
		    (unsigned long long)out, (unsigned long long)j->outer_size,
		    (unsigned long long)d->lim.max_ratio);
		return -1;
	}
	return out_of_time(j);
}

/* The name a raw compressed stream's content gets: its own name without the suffix. */
static int
raw_name(struct buf *b, const char *parent, size_t plen, struct dt_err *err)
{
	static const struct {
		const char *from, *to;
	} sfx[] = {
		{ ".tgz", ".tar" },  { ".tbz2", ".tar" }, { ".tbz", ".tar" }, { ".txz", ".tar" },
		{ ".tzst", ".tar" }, { ".gz", "" },       { ".bz2", "" },     { ".xz", "" },
		{ ".zst", "" },      { ".lzma", "" },     { ".z", "" },
	};
	char base[DECOMP_MAX_NAME + 1];
	size_t start = 0;

	/* parent may lie in b itself, which grows: copy its last component first. */
	for (size_t i = plen; i > 0; i--)
		if (parent[i - 1] == '/' || parent[i - 1] == '!') {
			start = i;
			break;
		}
	plen -= start;
	if (plen > DECOMP_MAX_NAME)
		plen = DECOMP_MAX_NAME;
	memcpy(base, parent + start, plen);
	base[plen] = '\0';
	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		size_t n = strlen(sfx[i].from);

		if (plen > n && strcasecmp(base + plen - n, sfx[i].from) == 0)
			return buf_add(b, base, plen - n, err) < 0 ||
					       buf_adds(b, sfx[i].to, err) < 0
				       ? -1
				       : 0;
	}
	return buf_adds(b, "data", err);
}

static char
entry_type(struct archive_entry *ent)
{
	if (archive_entry_hardlink(ent) != NULL)
		return 'h';
	switch (archive_entry_filetype(ent)) {
	case AE_IFREG: return 'f';
	case AE_IFDIR: return 'd';
	case AE_IFLNK: return 'l';
	case AE_IFCHR: return 'c';
	case AE_IFBLK: return 'b';
	case AE_IFIFO: return 'p';
	case AE_IFSOCK: return 's';
	}
	return 'f';
}

static int open_level(struct job *j, struct stream *in, size_t prefix, unsigned depth);

/*
 * Read the current entry's data into sp, hashing it. 1: whole; 0: stopped by a bound or damage
 * to this entry; 2: the archive is damaged past this entry; -1: fatal.
 */
static int
read_data(struct job *j, struct archive *a, struct spool *sp, unsigned char *digest,
	  unsigned char *blk)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int dl;
	int ret = 0;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(md);
		j->fatal = j->stop = 1;
		return dt_fail(j->err, DT_ENOMEM, "out of memory");
	}
	for (;;) {
		la_ssize_t n = archive_read_data(a, blk, DATA_BLOCK);

		if (n == 0) {
			ret = 1;
			break;
		}
		if (n < 0) {
			/* ARCHIVE_WARN with no data is still data; anything else ends it. */
			if (n == ARCHIVE_WARN)
				continue;
			corrupt(j, (const char *)j->name.data,
				archive_error_string(a) ? archive_error_string(a) : "read error");
			/* Damage ends this archive, not the file: an outer archive goes on. */
			if (n == ARCHIVE_FATAL)
				ret = 2;
			break;
		}
		if (account(j, (size_t)n) < 0)
			break;
		if (spool_add(sp, blk, (size_t)n, j->err) < 0) {
			if (j->err->code == DT_ENOMEM) {
				j->fatal = 1;
				ret = -1;
			} else {
				j->res->status = DECOMP_FAILED;
				snprintf(j->res->msg, sizeof(j->res->msg), "%s", j->err->msg);
				dt_clear(j->err);
			}
			j->stop = 1;
			break;
		}
		EVP_DigestUpdate(md, blk, (size_t)n);
	}
	if (ret == 1)
		EVP_DigestFinal_ex(md, digest, &dl);
	EVP_MD_CTX_free(md);
	return ret;
}

/*
 * One entry of archive a: hand it over, then open it if it is an archive itself. 0: go on;
 * 1: archive a is damaged past it; -1: fatal.
 */
static int
one_entry(struct job *j, struct archive *a, struct archive_entry *ent, int raw, size_t prefix,
	  unsigned depth, unsigned char *blk)
{
	struct decomp_member m;
	struct spool sp;
	const char *pn = archive_entry_pathname(ent);
	int rc = 0;

	memset(&m, 0, sizeof(m));
	spool_init(&sp);
	j->name.len = prefix;
	if (raw) {
		/* A compressed stream's one "entry" is named after the stream. */
		const char *parent = prefix > 0 ? (const char *)j->name.data : j->outer_name;
		size_t plen = prefix > 0 ? prefix - 1 : strlen(j->outer_name);

		if (raw_name(&j->name, parent, plen, j->err) < 0)
			goto oom;
	} else {
		if (pn == NULL || pn[0] == '\0')
			pn = "?";
		while (pn[0] == '.' && pn[1] == '/')
			pn += 2;
		if (buf_adds(&j->name, pn, NULL) < 0) {
			j->name.len = prefix;
			corrupt(j, "", "a member's nested path is longer than 4096 bytes");
			return 0;
		}
	}
	m.path = (const char *)j->name.data;
	m.path_len = j->name.len;
	m.depth = depth;
	m.type = entry_type(ent);
	m.mode = (unsigned)archive_entry_perm(ent) & 07777;
	m.size = archive_entry_size_is_set(ent) ? (uint64_t)archive_entry_size(ent) : 0;
	m.link = archive_entry_hardlink(ent) ? archive_entry_hardlink(ent)
					     : archive_entry_symlink(ent);
	m.encrypted = archive_entry_is_data_encrypted(ent) != 0;
	m.deadline = j->start + (double)j->d->lim.timeout;
	if (m.encrypted)
		j->d->st.encrypted++;
	if (m.type == 'f' && !m.encrypted) {
		int got = read_data(j, a, &sp, m.sha256, blk);

		if (got < 0)
			goto out_fatal;
		if (got != 1) {
			/* Cut short: never hand over a prefix as if it were the member. */
			spool_release(&sp);
			return got == 2 ? 1 : 0;
		}
		m.has_data = 1;
		m.size = sp.size;
		m.read = spool_read;
		m.rctx = &sp;
	}
	j->res->members++;
	j->d->st.members++;
	if (j->fn(j->ctx, &m, j->err) < 0)
		goto out_fatal;
	/* The bound covers the caller's time on the member (YARA), even on the last one. */
	if (out_of_time(j) < 0) {
		spool_release(&sp);
		return 0;
	}
	if (m.has_data && sp.size > 0) {
		unsigned char head[MAGIC_LEN];
		ssize_t hn = spool_read(&sp, 0, head, sizeof(head));

		if (hn > 0 && looks_archive(head, (size_t)hn)) {
			if (depth >= j->d->lim.max_depth) {
				hit(j, DECOMP_BOUND_DEPTH,
				    "bound 'depth': '%.300s' is nested %u deep and was not opened",
				    m.path, depth + 1);
			} else {
				struct stream s = { .size = sp.size,
						    .read = spool_read,
						    .rctx = &sp };
				size_t mine = j->name.len;

				if (buf_addc(&j->name, '!', j->err) < 0)
					goto oom;
				s.blk = malloc(READ_BLOCK);
				if (s.blk == NULL)
					goto oom;
				rc = open_level(j, &s, mine + 1, depth + 1);
				free(s.blk);
			}
		}
	}
	spool_release(&sp);
	return rc;
oom:
	dt_fail(j->err, DT_ENOMEM, "out of memory");
out_fatal:
	spool_release(&sp);
	j->fatal = j->stop = 1;
	return -1;
}

/* New: a reader of our formats, or (raw_only) of one compressed stream. */
static struct archive *
new_reader(int raw_only)
{
	struct archive *a = archive_read_new();
	/* Only filters built into libarchive: ARCHIVE_WARN means "through an external
	 * program", which we never run. Each is tried, and a warning turns them all off. */
	static int (*const filters[])(struct archive *) = {
		archive_read_support_filter_gzip, archive_read_support_filter_bzip2,
		archive_read_support_filter_xz,   archive_read_support_filter_lzma,
		archive_read_support_filter_zstd,
	};

	if (a == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof(filters) / sizeof(filters[0]); i++)
		if (filters[i](a) != ARCHIVE_OK) {
			archive_read_free(a);
			a = archive_read_new();
			if (a == NULL)
				return NULL;
			break;
		}
	if (raw_only) {
		if (archive_read_support_format_raw(a) != ARCHIVE_OK) {
			archive_read_free(a);
			return NULL;
		}
		return a;
	}
	if (archive_read_support_format_tar(a) != ARCHIVE_OK ||
	    archive_read_support_format_gnutar(a) != ARCHIVE_OK ||
	    archive_read_support_format_cpio(a) != ARCHIVE_OK ||
	    archive_read_support_format_zip(a) != ARCHIVE_OK ||
	    archive_read_support_format_ar(a) != ARCHIVE_OK ||
	    archive_read_support_format_raw(a) != ARCHIVE_OK) {
		archive_read_free(a);
		return NULL;
	}
	return a;
}

/* Stacked compression filters of a (libarchive counts the bottom "none" one too). */
static unsigned
compressions(struct archive *a)
{
	int n = archive_filter_count(a);
	unsigned c = 0;

	for (int i = 0; i < n; i++)
		if (archive_filter_code(a, i) != ARCHIVE_FILTER_NONE)
			c++;
	return c;
}

/*
 * Read the archive in (with raw_only, as one compressed stream) whose members are at depth;
 * the nested path so far is j->name.data[0..prefix). *empty: it was compressed and held no
 * entry at all. Returns -1 only when j->fatal.
 */
static int
read_archive(struct job *j, struct stream *in, size_t prefix, unsigned depth, int raw_only,
	     int *empty)
{
	struct archive *a = new_reader(raw_only);
	struct archive_entry *ent;
	unsigned char *blk = malloc(DATA_BLOCK);
	char where[DECOMP_MAX_NAME + 1];
	const char *what;
	uint64_t n = 0;
	int rc = ARCHIVE_OK, ret = 0;

	*empty = 0;
	snprintf(where, sizeof(where), "%.*s", prefix > 0 ? (int)prefix - 1 : 0,
		 (const char *)j->name.data);
	what = where[0] != '\0' ? where : "the file";
	if (a == NULL || blk == NULL) {
		archive_read_free(a);
		free(blk);
		j->fatal = j->stop = 1;
		return dt_fail(j->err, DT_ENOMEM, "out of memory");
	}
	archive_read_set_read_callback(a, stream_read);
	archive_read_set_skip_callback(a, stream_skip);
	archive_read_set_seek_callback(a, stream_seek);
	archive_read_set_callback_data(a, in);
	if (archive_read_open1(a) != ARCHIVE_OK) {
		const char *why = archive_error_string(a) ? archive_error_string(a) : "unreadable";

		/* libarchive stacks at most 25 filters: a gzip of a gzip of... is a depth bomb. */
		if (strstr(why, "too many filters") != NULL)
			hit(j, DECOMP_BOUND_DEPTH,
			    "bound 'depth': %.300s has more compression layers than libarchive "
			    "stacks",
			    what);
		else
			corrupt(j, where, why);
		goto out;
	}
	j->d->st.archives++;
	while (!j->stop) {
		int raw;

		rc = archive_read_next_header(a, &ent);
		if (rc == ARCHIVE_EOF)
			break;
		if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
			corrupt(j, where,
				archive_error_string(a) ? archive_error_string(a) : "bad header");
			break;
		}
		raw = archive_format(a) == ARCHIVE_FORMAT_RAW;
		if (n == 0) {
			unsigned c = compressions(a);

			/* Raw without compression is no archive at all (the magic lied). */
			if (raw && c == 0) {
				if (prefix == 0)
					j->res->status = DECOMP_NOT_ARCHIVE;
				break;
			}
			/* x.gz.gz: each filter after the first is a level of its own. */
			if (c > 1 && depth + c - 1 > j->d->lim.max_depth) {
				hit(j, DECOMP_BOUND_DEPTH,
				    "bound 'depth': %.300s has %u compression layers, more than "
				    "the "
				    "depth allows",
				    what, c);
				break;
			}
			depth += c > 1 ? c - 1 : 0;
		}
		if (++n > j->d->lim.max_members) {
			hit(j, DECOMP_BOUND_MEMBERS,
			    "bound 'members': %.300s has more than %llu members; the rest were not "
			    "read",
			    what, (unsigned long long)j->d->lim.max_members);
			break;
		}
		rc = one_entry(j, a, ent, raw, prefix, depth, blk);
		if (rc != 0) {
			ret = rc < 0 ? -1 : 0;
			rc = ARCHIVE_FATAL;
			break;
		}
		rc = ARCHIVE_OK;
	}
	/*
	 * A compressed stream that starts with 512 zero bytes reads as an empty tar (a zero
	 * block ends a tar): an attacker's prefix would hide the rest. The caller reads such a
	 * stream again as one raw member.
	 */
	if (rc == ARCHIVE_EOF && n == 0 && !raw_only && compressions(a) > 0)
		*empty = 1;
out:
	archive_read_free(a);
	free(blk);
	j->name.len = prefix;
	return j->fatal ? -1 : ret;
}

/*
 * Open in as an archive whose members are at depth (read_archive()), or, when it read as an
 * empty compressed tar, as one compressed stream. Returns -1 only when j->fatal.
 */
static int
open_level(struct job *j, struct stream *in, size_t prefix, unsigned depth)
{
	int empty = 0;

	if (read_archive(j, in, prefix, depth, 0, &empty) < 0)
		return -1;
	if (!empty || j->stop)
		return 0;
	in->pos = 0;
	return read_archive(j, in, prefix, depth, 1, &empty);
}

int
decomp_file(struct decomp *d, const struct decomp_input *in, decomp_member_fn fn, void *ctx,
	    struct decomp_result *res, struct dt_err *err)
{
	struct job j;
	struct stream s;
	unsigned char head[MAGIC_LEN];
	size_t hn = 0;
	int rc;

	memset(res, 0, sizeof(*res));
	res->status = DECOMP_NOT_ARCHIVE;
	if (d == NULL || in == NULL || in->read == NULL || fn == NULL)
		return dt_fail(err, DT_EUSAGE, "decomp_file: bad arguments");
	if (d->st.bytes > d->lim.max_run_bytes) {
		res->status = DECOMP_BOUNDED;
		res->bound = DECOMP_BOUND_RUN_BYTES;
		snprintf(res->msg, sizeof(res->msg),
			 "not opened: bound 'run_bytes' was hit earlier in the run");
		d->st.bounds[res->bound]++;
		return 0;
	}
	/* The magic first: most changed files are not archives and cost one short read. */
	while (hn < sizeof(head) && hn < in->size) {
		ssize_t r = in->read(in->rctx, hn, head + hn, sizeof(head) - hn);

		if (r <= 0)
			break;
		hn += (size_t)r;
	}
	if (!looks_archive(head, hn))
		return 0;
	memset(&j, 0, sizeof(j));
	j.d = d;
	j.fn = fn;
	j.ctx = ctx;
	j.res = res;
	j.err = err;
	j.start = mono_now();
	buf_init(&j.name, DECOMP_MAX_NAME);
	memset(&s, 0, sizeof(s));
	s.size = in->size;
	s.read = in->read;
	s.rctx = in->rctx;
	j.outer_size = in->size;
	s.blk = malloc(READ_BLOCK);
	if (s.blk == NULL || buf_reserve(&j.name, 256, err) < 0) {
		free(s.blk);
		buf_release(&j.name);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	j.outer_name = in->name != NULL ? in->name : "";
	res->status = DECOMP_DONE;
	rc = open_level(&j, &s, 0, 1);
	free(s.blk);
	buf_release(&j.name);
	if (rc < 0 || j.fatal)
		return -1;
	if (res->status == DECOMP_NOT_ARCHIVE)
		return 0;
	d->st.files++;
	if (res->status == DECOMP_DONE && res->bound != DECOMP_BOUND_NONE)
		res->status = DECOMP_BOUNDED;
	if (res->bound != DECOMP_BOUND_NONE)
		d->st.bounds[res->bound]++;
	if (res->status == DECOMP_CORRUPT)
		d->st.corrupt++;
	return 0;
}
