/*
 * rpm.c - rpm_packages, from rpm's rpmdb.sqlite: a read-only SQLite b-tree reader and an
 * RPM header decoder, both for hostile bytes.
 * See parsers_int.h for the helpers every parser file shares.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "buf.h"
#include "parsers.h"
#include "parsers/parsers_int.h"

#include "banned.h"

/* ======================================================================================== */
/* rpm_packages (osquery linux/rpm_packages.cpp through librpm)
 *
 * rpm >= 4.16 keeps its database in rpmdb.sqlite: table Packages (hnum INTEGER PRIMARY KEY,
 * blob BLOB) holding one header blob per installed package. We read the SQLite file format
 * (sqlite.org/fileformat.html) ourselves, read-only: the schema on page 1 names the root
 * page of Packages, whose table b-tree is walked in rowid order, overflow chains followed.
 * A blob is an RPM header without its magic (rpm's headerExport): index count il and data
 * length dl (big-endian), il entries {tag, type, offset, count}, then dl bytes of data.
 * One row per header, as osquery's rpmdbNextIterator gives them:
 *   name, version, release, source (SOURCERPM), sha1 (SHA1HEADER), arch, vendor,
 *   package_group (GROUP, its first string)     the string tags, "" when absent
 *   size (SIZE), epoch (EPOCH), install_time (INSTALLTIME)   the first number, "" absent
 * Hostile input: every page is visited at most once (b-tree and overflow pages alike), so
 * a loop or a shared chain ends the walk, and the work is bounded by the file's size; a
 * damaged page or header is skipped. Not read: the older Berkeley DB "Packages" (RHEL <= 8)
 * and SUSE's ndb (no rows), and changes still in an uncheckpointed rpmdb.sqlite-wal.
 */

static const char *const rpm_packages_cols[] = { "name",   "version",       "release",
						 "source", "size",          "sha1",
						 "arch",   "epoch",         "install_time",
						 "vendor", "package_group", NULL };

static uint32_t
be16(const unsigned char *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct sq_db {
	const unsigned char *p;
	size_t len;
	uint32_t page_size, usable, npages;
	unsigned char *seen; /* owned: a bit per page, set once visited */
};

/* SQLite's varint: big-endian 7-bit groups, the ninth byte whole. Bytes used, 0 if cut. */
static size_t
sq_varint(const unsigned char *p, size_t n, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < 9 && i < n; i++) {
		if (i == 8) {
			*v = *v << 8 | p[i];
			return 9;
		}
		*v = *v << 7 | (p[i] & 0x7f);
		if (!(p[i] & 0x80))
			return i + 1;
	}
	return 0;
}

/* Page pgno (1-based), if it exists and was not visited yet; marks it visited. */
static const unsigned char *
sq_take(struct sq_db *db, uint64_t pgno)
{
	if (pgno == 0 || pgno > db->npages || (db->seen[(pgno - 1) / 8] >> ((pgno - 1) % 8)) & 1)
		return NULL;
	db->seen[(pgno - 1) / 8] |= (unsigned char)(1u << ((pgno - 1) % 8));
	return db->p + (size_t)(pgno - 1) * db->page_size;
}

/*
 * The payload of the table-leaf cell at page[off], local part and overflow chain, into out
 * (reset first). 0 done, 1 damaged (skip the cell), -1 out of memory.
 */
static int
sq_payload(struct sq_db *db, const unsigned char *page, size_t off, struct buf *out,
	   struct dt_err *err)
{
	uint64_t plen, rowid, next;
	size_t k, local, u = db->usable, x = u - 35, m = (u - 12) * 32 / 255 - 23;

	buf_reset(out);
	if (off >= u || (k = sq_varint(page + off, u - off, &plen)) == 0)
		return 1;
	off += k;
	if ((k = sq_varint(page + off, u - off, &rowid)) == 0)
		return 1;
	off += k;
	if (plen > PARSERS_MAX_INPUT)
		return 1;
	local = plen <= x ? (size_t)plen : m + (size_t)((plen - m) % (u - 4));
	if (local > x)
		local = m;
	if (off + local > u || (local < plen && off + local + 4 > u))
		return 1;
	if (buf_add(out, page + off, local, err) < 0)
		return -1;
	if (local == plen)
		return 0;
	next = be32(page + off + local);
	while (out->len < plen) {
		const unsigned char *ov = sq_take(db, next);
		size_t take = u - 4;

		if (ov == NULL)
			return 1;
		if (take > plen - out->len)
			take = (size_t)(plen - out->len);
		if (buf_add(out, ov + 4, take, err) < 0)
			return -1;
		next = be32(ov);
	}
	return 0;
}

/* Column col of a record: its serial type and bytes. 0, or 1 if the record lacks it. */
static int
sq_column(const unsigned char *rec, size_t n, size_t col, uint64_t *type, const unsigned char **val,
	  size_t *vlen)
{
	uint64_t hlen, st = 0;
	size_t k = sq_varint(rec, n, &hlen), h, body;

	if (k == 0 || hlen > n || hlen < k)
		return 1;
	body = (size_t)hlen;
	h = k;
	for (size_t c = 0;; c++) {
		static const unsigned char isize[] = { 0, 1, 2, 3, 4, 6, 8, 8, 0, 0 };
		size_t sz;

		if (h >= hlen || (k = sq_varint(rec + h, (size_t)hlen - h, &st)) == 0)
			return 1;
		h += k;
		if (st >= 12)
			sz = (size_t)((st - 12) / 2);
		else if (st < 10)
			sz = isize[st];
		else
			return 1; /* reserved types */
		if (body > n || sz > n - body)
			return 1;
		if (c == col) {
			*type = st;
			*val = rec + body;
			*vlen = sz;
			return 0;
		}
		body += sz;
	}
}

/* An integer column (serial types 1-6, 8, 9); -1 when it is not one. */
static int64_t
sq_int(uint64_t type, const unsigned char *v, size_t n)
{
	uint64_t u = 0;

	if (type == 8 || type == 9)
		return type == 8 ? 0 : 1;
	if (type < 1 || type > 6 || n == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		u = u << 8 | v[i];
	if (n < 8 && (v[0] & 0x80))
		u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
	return (int64_t)u;
}

typedef int (*sq_row_fn)(void *arg, const unsigned char *rec, size_t n, struct dt_err *err);

/* Walk the table b-tree at pgno in key order; fn per row. -1 only on a fatal error. */
static int
sq_walk(struct sq_db *db, uint64_t pgno, int depth, struct buf *pl, sq_row_fn fn, void *arg,
	struct dt_err *err)
{
	const unsigned char *page = sq_take(db, pgno), *h;
	size_t hoff = pgno == 1 ? 100 : 0, ncells, hsize;

	if (page == NULL || depth > 40)
		return 0; /* damaged: missing page, a loop, or absurd depth */
	h = page + hoff;
	if (h[0] != 0x0d && h[0] != 0x05)
		return 0; /* not a table b-tree page */
	hsize = h[0] == 0x05 ? 12 : 8;
	ncells = be16(h + 3);
	if (hoff + hsize + 2 * ncells > db->usable)
		return 0;
	for (size_t i = 0; i < ncells; i++) {
		size_t off = be16(h + hsize + 2 * i);
		int r;

		if (h[0] == 0x05) {
			if (off + 4 > db->usable)
				continue;
			if (sq_walk(db, be32(page + off), depth + 1, pl, fn, arg, err) < 0)
				return -1;
			continue;
		}
		r = sq_payload(db, page, off, pl, err);
		if (r < 0)
			return -1;
		if (r == 0 && fn(arg, pl->data, pl->len, err) < 0)
			return -1;
	}
	if (h[0] == 0x05)
		return sq_walk(db, be32(h + 8), depth + 1, pl, fn, arg, err);
	return 0;
}

/* The schema row of table "Packages": its root page. */
static int
sq_find_packages(void *arg, const unsigned char *rec, size_t n, struct dt_err *err)
{
	uint64_t *root = arg, t0, t1, t3;
	const unsigned char *v0, *v1, *v3;
	size_t n0, n1, n3;
	int64_t r;

	(void)err;
	if (sq_column(rec, n, 0, &t0, &v0, &n0) || sq_column(rec, n, 1, &t1, &v1, &n1) ||
	    sq_column(rec, n, 3, &t3, &v3, &n3))
		return 0;
	if (!(t0 >= 13 && t0 % 2 == 1 && span_eq(span_of(v0, n0), "table")) ||
	    !(t1 >= 13 && t1 % 2 == 1 && span_eq(span_of(v1, n1), "Packages")))
		return 0;
	r = sq_int(t3, v3, n3);
	if (r > 0 && *root == 0)
		*root = (uint64_t)r;
	return 0;
}

/* RPM header tags and types (rpm's rpmtag.h). */
enum {
	RPMTAG_SHA1HEADER = 269,
	RPMTAG_NAME = 1000,
	RPMTAG_VERSION = 1001,
	RPMTAG_RELEASE = 1002,
	RPMTAG_EPOCH = 1003,
	RPMTAG_INSTALLTIME = 1008,
	RPMTAG_SIZE = 1009,
	RPMTAG_VENDOR = 1011,
	RPMTAG_GROUP = 1016,
	RPMTAG_ARCH = 1022,
	RPMTAG_SOURCERPM = 1044,
};
enum {
	RPM_CHAR = 1,
	RPM_INT8,
	RPM_INT16,
	RPM_INT32,
	RPM_INT64,
	RPM_STRING,
	RPM_BIN,
	RPM_STRING_ARRAY,
	RPM_I18NSTRING
};

struct rpm_hdr {
	const unsigned char *index, *data;
	uint32_t il, dl;
};

static int
rpm_hdr_init(struct rpm_hdr *h, const unsigned char *blob, size_t n)
{
	if (n < 8)
		return -1;
	h->il = be32(blob);
	h->dl = be32(blob + 4);
	if (h->il == 0 || h->il > (n - 8) / 16 || h->dl > n - 8 - (size_t)h->il * 16)
		return -1;
	h->index = blob + 8;
	h->data = h->index + (size_t)h->il * 16;
	return 0;
}

/* The first entry of tag: its type, data offset and count. */
static int
rpm_entry(const struct rpm_hdr *h, uint32_t tag, uint32_t *type, uint32_t *off, uint32_t *count)
{
	for (uint32_t i = 0; i < h->il; i++) {
		const unsigned char *e = h->index + (size_t)i * 16;

		if (be32(e) != tag)
			continue;
		*type = be32(e + 4);
		*off = be32(e + 8);
		*count = be32(e + 12);
		return *off<h->dl && * count> 0 ? 0 : -1;
	}
	return -1;
}

/* A string tag (STRING, or the first of a STRING_ARRAY/I18NSTRING); "" when absent. */
static struct span
rpm_string(const struct rpm_hdr *h, uint32_t tag)
{
	uint32_t type, off, count;
	const unsigned char *nul;

	if (rpm_entry(h, tag, &type, &off, &count) < 0 ||
	    (type != RPM_STRING && type != RPM_STRING_ARRAY && type != RPM_I18NSTRING))
		return span_z("");
	nul = memchr(h->data + off, '\0', h->dl - off);
	return nul ? span_of(h->data + off, (size_t)(nul - (h->data + off))) : span_z("");
}

/* A numeric tag's first value as librpm's rpmtdGetNumber reads it, in out; "" when absent. */
static void
rpm_number(const struct rpm_hdr *h, uint32_t tag, char out[24])
{
	static const unsigned char width[] = { 0, 1, 1, 2, 4, 8 };
	uint32_t type, off, count;
	uint64_t v = 0;

	out[0] = '\0';
	if (rpm_entry(h, tag, &type, &off, &count) < 0 || type < RPM_CHAR || type > RPM_INT64 ||
	    width[type] > h->dl - off)
		return;
	for (size_t i = 0; i < width[type]; i++)
		v = v << 8 | h->data[off + i];
	snprintf(out, 24, "%lld", (long long)v);
}

static int
rpm_row(void *arg, const unsigned char *rec, size_t n, struct dt_err *err)
{
	static const struct {
		const char *col;
		uint32_t tag;
	} strs[] = { { "name", RPMTAG_NAME },       { "version", RPMTAG_VERSION },
		     { "release", RPMTAG_RELEASE }, { "source", RPMTAG_SOURCERPM },
		     { "sha1", RPMTAG_SHA1HEADER }, { "arch", RPMTAG_ARCH },
		     { "vendor", RPMTAG_VENDOR },   { "package_group", RPMTAG_GROUP } };
	struct parsers_sink *s = arg;
	struct rpm_hdr h;
	uint64_t type;
	const unsigned char *blob;
	size_t blen;
	char size[24], epoch[24], itime[24];
	json_t *row;

	/* Column 0 is hnum (the rowid, stored as NULL); column 1 the header blob. */
	if (sq_column(rec, n, 1, &type, &blob, &blen) || type < 12 || type % 2 != 0 ||
	    rpm_hdr_init(&h, blob, blen) < 0)
		return 0; /* not a header: skipped */
	rpm_number(&h, RPMTAG_SIZE, size);
	rpm_number(&h, RPMTAG_EPOCH, epoch);
	rpm_number(&h, RPMTAG_INSTALLTIME, itime);
	row = parsers_row_new(rpm_packages_cols, err);
	if (row == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (span_row_set(row, strs[i].col, rpm_string(&h, strs[i].tag), err) < 0)
			goto fail;
	if (span_row_big(row, "size", span_z(size), err) < 0 ||
	    span_row_int(row, "epoch", span_z(epoch), err) < 0 ||
	    span_row_int(row, "install_time", span_z(itime), err) < 0)
		goto fail;
	return parsers_sink_add(s, row, err);
fail:
	json_decref(row);
	return -1;
}

int
parse_rpm_packages(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct parsers_sink s;
	struct parsers_text t;
	struct sq_db db;
	struct buf pl;
	uint64_t root = 0;
	uint32_t ps;
	int ret = 0;

	if (parsers_sink_init(&s, "rpm_packages", in, rows, err) < 0)
		return -1;
	parsers_text_load(in, &t);
	memset(&db, 0, sizeof(db));
	db.p = (const unsigned char *)t.s.p;
	db.len = t.s.n;
	if (db.len < 512 || memcmp(db.p, "SQLite format 3", 16) != 0)
		goto out; /* Berkeley DB, ndb, or not a database: no rows */
	ps = be16(db.p + 16);
	db.page_size = ps == 1 ? 65536 : ps;
	if (db.page_size < 512 || (db.page_size & (db.page_size - 1)) != 0 ||
	    db.page_size <= db.p[20] || db.page_size - db.p[20] < 480)
		goto out;
	db.usable = db.page_size - db.p[20];
	db.npages = (uint32_t)(db.len / db.page_size);
	db.seen = calloc((size_t)db.npages / 8 + 1, 1);
	if (db.seen == NULL) {
		ret = dt_fail(err, DT_ENOMEM, "rpm_packages: out of memory");
		goto out;
	}
	buf_init(&pl, PARSERS_MAX_INPUT);
	ret = sq_walk(&db, 1, 0, &pl, sq_find_packages, &root, err);
	if (ret == 0 && root > 0)
		ret = sq_walk(&db, root, 0, &pl, rpm_row, &s, err);
	buf_release(&pl);
out:
	free(db.seen);
	parsers_text_release(&t);
	return ret;
}
