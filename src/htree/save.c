/*
 * save.c - a sealed tree encoded into a .dtree file (the layout: htree_int.h) and written
 * through outfile.h. Format: docs/dtree-format.md.
 */
#include "htree/htree_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "outfile.h"

#include "banned.h"

static uint64_t
zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int
encode_entry(struct buf *b, const struct htree_entry *e, struct prev *p, struct dt_err *err)
{
	size_t shared = 0, n = p->path_len < e->path_len ? p->path_len : e->path_len;
	const int64_t *tv = e->time_s;
	unsigned tmask = 0;
	int rc = 0;

	while (shared < n && p->path[shared] == e->path[shared])
		shared++;
	for (int i = 0; i < 4; i++)
		if (tv[i] != HTREE_NO_TIME)
			tmask |= 1u << i;
	rc |= buf_add_varint(b, shared, err);
	rc |= buf_add_varint(b, e->path_len - shared, err);
	rc |= buf_add(b, e->path + shared, e->path_len - shared, err);
	rc |= buf_addc(b, e->type, err);
	/* Only the flags that describe the evidence are kept; the rest belong to a run. */
	rc |= buf_addc(
		b, (unsigned char)(e->flags & (HTREE_F_HASHED | HTREE_F_READERR | HTREE_F_SPARSE)),
		err);
	rc |= buf_addc(b, (unsigned char)(e->magic | tmask << 4), err);
	rc |= buf_add_varint(b, e->mode, err);
	rc |= buf_add_varint(b, e->uid, err);
	rc |= buf_add_varint(b, e->gid, err);
	rc |= buf_add_varint(b, e->nlink, err);
	rc |= buf_add_varint(b, e->size, err);
	rc |= buf_add_varint(b, zigzag((int64_t)(e->inode - p->inode)), err);
	for (int i = 0; i < 4; i++) {
		if (!(tmask & (1u << i)))
			continue;
		/* Times of neighbours are close: store seconds as a delta, nanoseconds apart. */
		rc |= buf_add_varint(b, zigzag(tv[i] - p->t[i]), err);
		rc |= buf_add_varint(b, e->time_ns[i], err);
		p->t[i] = tv[i];
	}
	if (e->type == HTREE_REG && (e->flags & HTREE_F_HASHED))
		rc |= buf_add(b, e->sha256, 32, err);
	if (e->type == HTREE_LNK) {
		rc |= buf_add_varint(b, e->link ? e->link_len + 1 : 0, err);
		if (e->link)
			rc |= buf_add(b, e->link, e->link_len, err);
	}
	p->path = e->path;
	p->path_len = e->path_len;
	p->inode = e->inode;
	return rc ? -1 : 0;
}

/*
 * The body is compressed as it is encoded, straight into the output file: no copy of the
 * raw body, of the compressed one or of the whole file is ever held in memory (for a tree
 * of a million entries those were three buffers of 50 to 100 MB each).
 */
struct zout {
	z_stream zs;
	FILE *fp;
	uint64_t raw, zlen; /* bytes in, bytes out */
	struct buf scratch; /* one entry, to measure a section before writing it */
	size_t n;           /* bytes pending in in */
	unsigned char in[1u << 16];
	unsigned char out[1u << 16];
};

static int
zout_run(struct zout *z, int flush, struct dt_err *err)
{
	int zr;

	z->zs.next_in = z->in;
	z->zs.avail_in = (uInt)z->n;
	do {
		size_t got;

		z->zs.next_out = z->out;
		z->zs.avail_out = sizeof(z->out);
		zr = deflate(&z->zs, flush);
		if (zr == Z_STREAM_ERROR)
			return dt_fail(err, DT_EBUG, "zlib deflate failed");
		got = sizeof(z->out) - z->zs.avail_out;
		if (got && fwrite(z->out, 1, got, z->fp) != got)
			return dt_fail_errno(err, DT_EIO, "cannot write the tree");
		z->zlen += got;
	} while (z->zs.avail_out == 0 || (flush == Z_FINISH && zr != Z_STREAM_END));
	z->n = 0;
	return 0;
}

static int
zout_add(struct zout *z, const void *p, size_t n, struct dt_err *err)
{
	const unsigned char *q = p;

	z->raw += n;
	while (n > 0) {
		size_t k = sizeof(z->in) - z->n < n ? sizeof(z->in) - z->n : n;

		memcpy(z->in + z->n, q, k);
		z->n += k;
		q += k;
		n -= k;
		if (z->n == sizeof(z->in) && zout_run(z, Z_NO_FLUSH, err) < 0)
			return -1;
	}
	return 0;
}

static int
zout_varint(struct zout *z, uint64_t v, struct dt_err *err)
{
	unsigned char p[10];

	return zout_add(z, p, buf_varint(p, v), err);
}

static size_t
varint_len(uint64_t v)
{
	unsigned char p[10];

	return buf_varint(p, v);
}

/*
 * A section of the n entries at v: varint tag, varint length, payload. Its length comes
 * first, so the entries are encoded twice, one at a time: to measure, then to write.
 */
static int
zout_section(struct zout *z, int tag, uint32_t fs, const struct htree_entry *v, size_t n,
	     struct dt_err *err)
{
	struct prev p;
	uint64_t len = varint_len(fs) + varint_len(n);

	for (int pass = 0; pass < 2; pass++) {
		memset(&p, 0, sizeof(p));
		p.path = "";
		if (pass == 1 &&
		    (zout_varint(z, (uint64_t)tag, err) < 0 || zout_varint(z, len, err) < 0 ||
		     zout_varint(z, fs, err) < 0 || zout_varint(z, n, err) < 0))
			return -1;
		for (size_t i = 0; i < n; i++) {
			z->scratch.len = 0;
			if (encode_entry(&z->scratch, &v[i], &p, err) < 0)
				return -1;
			if (pass == 0)
				len += z->scratch.len;
			else if (zout_add(z, z->scratch.data, z->scratch.len, err) < 0)
				return -1;
		}
	}
	return 0;
}

/*
 * The block-run digests of the n entries at v (one filesystem's tag-1 section): varint fs,
 * varint count, then per digest the varint gap from the previous entry index (the first
 * from 0) and 32 bytes. Nothing when no entry has one.
 */
static int
zout_runs(struct zout *z, uint32_t fs, const struct htree_entry *v, size_t n, struct dt_err *err)
{
	size_t count = 0, prev = 0;
	uint64_t len = 0;

	for (size_t i = 0; i < n; i++)
		if (v[i].type == HTREE_REG && (v[i].flags & HTREE_F_RUNS)) {
			len += varint_len(i - prev) + 32;
			prev = i;
			count++;
		}
	if (count == 0)
		return 0;
	len += varint_len(fs) + varint_len(count);
	if (zout_varint(z, SEC_RUNS, err) < 0 || zout_varint(z, len, err) < 0 ||
	    zout_varint(z, fs, err) < 0 || zout_varint(z, count, err) < 0)
		return -1;
	prev = 0;
	for (size_t i = 0; i < n; i++) {
		if (v[i].type != HTREE_REG || !(v[i].flags & HTREE_F_RUNS))
			continue;
		if (zout_varint(z, i - prev, err) < 0 || zout_add(z, v[i].runs, 32, err) < 0)
			return -1;
		prev = i;
	}
	return 0;
}

static json_t *
header_json(const struct htree *t)
{
	json_t *h = json_object(), *fss = json_array(), *counts = json_object();
	struct htree_counts c;

	htree_count_types(t, &c);
	for (size_t i = 0; i < t->nfs; i++) {
		json_t *f =
			json_pack("{s:s, s:s, s:I, s:I, s:I, s:I}", "name", t->fs[i].name, "type",
				  t->fs[i].type, "offset", (json_int_t)t->fs[i].offset, "size",
				  (json_int_t)t->fs[i].size, "entries", (json_int_t)t->fs[i].count,
				  "deleted", (json_int_t)t->fs[i].dcount);

		/* Optional keys: readers before them ignore them, and trees without them load. */
		if (t->fs[i].uuid[0])
			json_object_set_new(f, "uuid", json_string(t->fs[i].uuid));
		if (t->fs[i].label[0])
			json_object_set_new(f, "label", json_string(t->fs[i].label));
		json_array_append_new(fss, f);
	}
	json_object_set_new(counts, "entries", json_integer((json_int_t)t->ents.n));
	json_object_set_new(counts, "regular", json_integer((json_int_t)c.regular));
	json_object_set_new(counts, "directories", json_integer((json_int_t)c.dirs));
	json_object_set_new(counts, "symlinks", json_integer((json_int_t)c.symlinks));
	json_object_set_new(counts, "other", json_integer((json_int_t)c.other));
	json_object_set_new(counts, "deleted", json_integer((json_int_t)t->dels.n));
	json_object_set_new(counts, "bytes", json_integer((json_int_t)c.bytes));
	json_object_set_new(h, "hash", json_string("sha256"));
	json_object_set_new(h, "tool", json_string(t->info.tool));
	json_object_set_new(h, "created", json_string(t->info.created));
	json_object_set_new(h, "image",
			    json_pack("{s:s, s:s, s:s, s:I}", "spec",
				      t->info.image ? t->info.image : "", "format",
				      t->info.format ? t->info.format : "", "layout",
				      t->info.layout ? t->info.layout : "", "size",
				      (json_int_t)t->info.image_size));
	json_object_set_new(h, "filesystems", fss);
	json_object_set_new(h, "counts", counts);
	return h;
}

/* The body's sections, compressed into z->fp. */
static int
write_body(struct htree *t, struct zout *z, struct dt_err *err)
{
	for (size_t f = 0; f < t->nfs; f++) {
		if (zout_section(z, SEC_ENTRIES, (uint32_t)f, t->ents.v + t->fs[f].first,
				 t->fs[f].count, err) < 0)
			return -1;
		if (t->fs[f].dcount &&
		    zout_section(z, SEC_DELETED, (uint32_t)f, t->dels.v + t->fs[f].dfirst,
				 t->fs[f].dcount, err) < 0)
			return -1;
		if (zout_runs(z, (uint32_t)f, t->ents.v + t->fs[f].first, t->fs[f].count, err) < 0)
			return -1;
	}
	if (t->rows) {
		char *rs = json_dumps(t->rows, JSON_COMPACT);
		int rc;

		if (rs == NULL)
			return dt_fail(err, DT_ENOMEM, "cannot encode rows");
		rc = zout_varint(z, SEC_ROWS, err) | zout_varint(z, strlen(rs), err) |
		     zout_add(z, rs, strlen(rs), err);
		free(rs);
		if (rc)
			return -1;
	}
	return zout_run(z, Z_FINISH, err);
}

/* Feed len bytes of fd from off to md. */
static int
digest_fd(EVP_MD_CTX *md, int fd, uint64_t off, uint64_t len, unsigned char *buf, size_t cap,
	  struct dt_err *err)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len < cap ? (size_t)len : cap, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return dt_fail_errno(err, DT_EIO, "cannot read back the tree");
		EVP_DigestUpdate(md, buf, (size_t)n);
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/*
 * Write the file to fp: magic, version, header, the two lengths, the body compressed
 * straight into the file (into a scratch file when fp cannot seek: a pipe, stdout), then
 * the trailer. The lengths are patched in once known, and the digest is taken by reading
 * the body back (from the page cache).
 */
static int
write_tree(struct htree *t, FILE *fp, struct dt_err *err)
{
	struct buf head;
	struct zout *z = NULL; /* owned */
	FILE *body = NULL;     /* fp, or a scratch file (owned) */
	EVP_MD_CTX *md = NULL;
	json_t *h = NULL;
	char *hs = NULL;
	unsigned char digest[32], lens[16];
	unsigned int dlen;
	off_t base;
	int rc = -1, fl;
	time_t now = time(NULL);
	struct tm tm;

	buf_init(&head, MAX_HEADER + 64);
	if (gmtime_r(&now, &tm))
		strftime(t->info.created, sizeof(t->info.created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	h = header_json(t);
	hs = h ? json_dumps(h, JSON_COMPACT) : NULL;
	z = calloc(1, sizeof(*z));
	md = EVP_MD_CTX_new();
	if (hs == NULL || z == NULL || md == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	buf_init(&z->scratch, MAX_RAW_BODY);
	if (buf_add(&head, MAGIC, 8, err) < 0 ||
	    buf_add_u32le(&head,
			  (uint32_t)HTREE_VERSION_MAJOR | (uint32_t)HTREE_VERSION_MINOR << 16,
			  err) < 0 ||
	    buf_add_u32le(&head, (uint32_t)strlen(hs), err) < 0 ||
	    buf_add(&head, hs, strlen(hs), err) < 0)
		goto out;
	memset(lens, 0, sizeof(lens));
	/* Straight into fp when it is a file we may seek in, patch and read back (outfile.h's
	 * temporary files are); else (a pipe, stdout, a device, a file open for appending,
	 * where every write goes to the end) through a scratch file. */
	base = ftello(fp);
	fl = fcntl(fileno(fp), F_GETFL);
	if (base >= 0 && fl >= 0 && (fl & O_ACCMODE) == O_RDWR && !(fl & O_APPEND)) {
		if (fwrite(head.data, 1, head.len, fp) != head.len || fwrite(lens, 1, 16, fp) != 16)
			goto werr;
		body = fp;
	} else {
		body = tmpfile();
		if (body == NULL) {
			dt_fail_errno(err, DT_EIO, "cannot create a scratch file");
			goto out;
		}
	}
	if (deflateInit(&z->zs, 6) != Z_OK) {
		dt_fail(err, DT_ENOMEM, "cannot compress the tree");
		goto out;
	}
	z->fp = body;
	rc = write_body(t, z, err);
	deflateEnd(&z->zs);
	if (rc < 0)
		goto out;
	rc = -1;
	if (fflush(body) != 0) {
		dt_fail_errno(err, DT_EIO, "cannot write the tree");
		goto out;
	}
	for (int i = 0; i < 8; i++) {
		lens[i] = (unsigned char)(z->zlen >> (8 * i));
		lens[8 + i] = (unsigned char)(z->raw >> (8 * i));
	}
	EVP_DigestInit_ex(md, EVP_sha256(), NULL);
	EVP_DigestUpdate(md, head.data, head.len);
	EVP_DigestUpdate(md, lens, 16);
	if (digest_fd(md, fileno(body), body == fp ? (uint64_t)base + head.len + 16 : 0, z->zlen,
		      z->out, sizeof(z->out), err) < 0)
		goto out;
	EVP_DigestUpdate(md, TRAILER, 8);
	EVP_DigestFinal_ex(md, digest, &dlen);
	if (body == fp) {
		if (fseeko(fp, base + (off_t)head.len, SEEK_SET) != 0 ||
		    fwrite(lens, 1, 16, fp) != 16 ||
		    fseeko(fp, base + (off_t)(head.len + 16 + z->zlen), SEEK_SET) != 0) {
			dt_fail_errno(err, DT_EIO, "cannot write the tree");
			goto out;
		}
	} else {
		uint64_t left = z->zlen;

		if (fwrite(head.data, 1, head.len, fp) != head.len || fwrite(lens, 1, 16, fp) != 16)
			goto werr;
		rewind(body);
		while (left > 0) {
			size_t n = fread(z->out, 1, sizeof(z->out), body);

			if (n == 0 || fwrite(z->out, 1, n, fp) != n)
				goto werr;
			left -= n < left ? n : left;
		}
	}
	if (fwrite(TRAILER, 1, 8, fp) != 8 || fwrite(digest, 1, 32, fp) != 32)
		goto werr;
	memcpy(t->info.digest, digest, 32);
	t->info.has_digest = 1;
	t->file_size = head.len + 16 + z->zlen + 40;
	rc = 0;
	goto out;
werr:
	dt_fail_errno(err, DT_EIO, "cannot write the tree");
out:
	if (body && body != fp)
		fclose(body);
	if (z)
		buf_release(&z->scratch);
	free(z);
	EVP_MD_CTX_free(md);
	json_decref(h);
	free(hs);
	buf_release(&head);
	return rc;
}

int
htree_save(struct htree *t, const char *path, const struct outfile_opts *o, struct dt_err *err)
{
	static const struct outfile_opts plain = { .kind = OUTFILE_DTREE };
	struct outfile of;
	int ret = -1;

	if (!t->sealed)
		DT_BUG("htree_save on an unsealed tree");
	if (outfile_open(&of, path, o ? o : &plain, err) < 0)
		return -1;
	if (write_tree(t, of.fp, err) < 0)
		goto out;
	ret = outfile_commit(&of, err);
out:
	outfile_release(&of);
	return ret;
}
