/*
 * save.c - a sealed tree encoded into a .dtree file (the layout: htree_int.h) and written
 * through outfile.h. Format: docs/dtree-format.md.
 */
#include "htree/htree_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
	int64_t tv[4] = { e->mtime, e->atime, e->ctime, e->crtime };
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
		int64_t s = tv[i] / 1000000000, ns = tv[i] % 1000000000;
		if (ns < 0) {
			ns += 1000000000;
			s--;
		}
		rc |= buf_add_varint(b, zigzag(s - p->t[i]), err);
		rc |= buf_add_varint(b, (uint64_t)ns, err);
		p->t[i] = s;
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

/* Append section s (its payload) to body: varint tag, varint length, payload. */
static int
add_section(struct buf *body, int tag, const struct buf *s, struct dt_err *err)
{
	if (buf_add_varint(body, (uint64_t)tag, err) < 0 || buf_add_varint(body, s->len, err) < 0 ||
	    buf_add(body, s->data, s->len, err) < 0)
		return -1;
	return 0;
}

static int
encode_section(struct buf *body, int tag, uint32_t fs, const struct htree_entry *v, size_t n,
	       struct dt_err *err)
{
	struct buf s;
	struct prev p;
	int rc = -1;

	memset(&p, 0, sizeof(p));
	p.path = "";
	buf_init(&s, MAX_RAW_BODY);
	if (buf_add_varint(&s, fs, err) < 0 || buf_add_varint(&s, n, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (encode_entry(&s, &v[i], &p, err) < 0)
			goto out;
	if (add_section(body, tag, &s, err) < 0)
		goto out;
	rc = 0;
out:
	buf_release(&s);
	return rc;
}

/*
 * The block-run digests of the n entries at v (one filesystem's tag-1 section): varint fs,
 * varint count, then per digest the varint gap from the previous entry index (the first
 * from 0) and 32 bytes. Nothing when no entry has one.
 */
static int
encode_runs(struct buf *body, uint32_t fs, const struct htree_entry *v, size_t n,
	    struct dt_err *err)
{
	struct buf s;
	size_t count = 0, prev = 0;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		if (v[i].type == HTREE_REG && (v[i].flags & HTREE_F_RUNS))
			count++;
	if (count == 0)
		return 0;
	buf_init(&s, MAX_RAW_BODY);
	if (buf_add_varint(&s, fs, err) < 0 || buf_add_varint(&s, count, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (v[i].type != HTREE_REG || !(v[i].flags & HTREE_F_RUNS))
			continue;
		if (buf_add_varint(&s, i - prev, err) < 0 || buf_add(&s, v[i].runs, 32, err) < 0)
			goto out;
		prev = i;
	}
	if (add_section(body, SEC_RUNS, &s, err) < 0)
		goto out;
	rc = 0;
out:
	buf_release(&s);
	return rc;
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

/* Encode the whole file into out (new: free()). */
static int
htree_encode(struct htree *t, unsigned char **out, size_t *out_len, struct dt_err *err)
{
	struct buf raw, file;
	json_t *h = NULL;
	char *hs = NULL;
	unsigned char *z = NULL;
	uLongf zlen;
	unsigned char digest[32];
	unsigned int dlen;
	int rc = -1;
	time_t now = time(NULL);
	struct tm tm;

	buf_init(&raw, MAX_RAW_BODY);
	buf_init(&file, MAX_RAW_BODY);
	if (gmtime_r(&now, &tm))
		strftime(t->info.created, sizeof(t->info.created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	for (size_t f = 0; f < t->nfs; f++) {
		if (encode_section(&raw, SEC_ENTRIES, (uint32_t)f, t->ents.v + t->fs[f].first,
				   t->fs[f].count, err) < 0)
			goto out;
		if (t->fs[f].dcount &&
		    encode_section(&raw, SEC_DELETED, (uint32_t)f, t->dels.v + t->fs[f].dfirst,
				   t->fs[f].dcount, err) < 0)
			goto out;
		if (encode_runs(&raw, (uint32_t)f, t->ents.v + t->fs[f].first, t->fs[f].count,
				err) < 0)
			goto out;
	}
	if (t->rows) {
		char *rs = json_dumps(t->rows, JSON_COMPACT);
		if (rs == NULL) {
			dt_fail(err, DT_ENOMEM, "cannot encode rows");
			goto out;
		}
		rc = buf_add_varint(&raw, SEC_ROWS, err) | buf_add_varint(&raw, strlen(rs), err) |
		     buf_add(&raw, rs, strlen(rs), err);
		free(rs);
		if (rc) {
			rc = -1;
			goto out;
		}
		rc = -1;
	}
	h = header_json(t);
	hs = json_dumps(h, JSON_COMPACT);
	if (hs == NULL) {
		dt_fail(err, DT_ENOMEM, "cannot encode the header");
		goto out;
	}
	zlen = compressBound(raw.len);
	z = malloc(zlen);
	if (z == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	if (compress2(z, &zlen, raw.data ? raw.data : (const unsigned char *)"", raw.len, 6) !=
	    Z_OK) {
		dt_fail(err, DT_ENOMEM, "cannot compress the tree");
		goto out;
	}
	if (buf_add(&file, MAGIC, 8, err) < 0 ||
	    buf_add_u32le(&file,
			  (uint32_t)HTREE_VERSION_MAJOR | (uint32_t)HTREE_VERSION_MINOR << 16,
			  err) < 0 ||
	    buf_add_u32le(&file, (uint32_t)strlen(hs), err) < 0 ||
	    buf_add(&file, hs, strlen(hs), err) < 0 || buf_add_u64le(&file, zlen, err) < 0 ||
	    buf_add_u64le(&file, raw.len, err) < 0 || buf_add(&file, z, zlen, err) < 0 ||
	    buf_add(&file, TRAILER, 8, err) < 0)
		goto out;
	if (EVP_Digest(file.data, file.len, digest, &dlen, EVP_sha256(), NULL) != 1) {
		dt_fail(err, DT_EBUG, "SHA-256 failed");
		goto out;
	}
	if (buf_add(&file, digest, 32, err) < 0)
		goto out;
	memcpy(t->info.digest, digest, 32);
	t->info.has_digest = 1;
	*out = buf_detach(&file, out_len);
	t->file_size = *out_len;
	rc = 0;
out:
	json_decref(h);
	free(hs);
	free(z);
	buf_release(&raw);
	buf_release(&file);
	return rc;
}

int
htree_save(struct htree *t, const char *path, const struct outfile_opts *o, struct dt_err *err)
{
	static const struct outfile_opts plain = { .kind = OUTFILE_DTREE };
	struct outfile of;
	unsigned char *data = NULL;
	size_t len = 0;
	int ret = -1;

	if (!t->sealed)
		DT_BUG("htree_save on an unsealed tree");
	if (htree_encode(t, &data, &len, err) < 0)
		return -1;
	if (outfile_open(&of, path, o ? o : &plain, err) < 0) {
		free(data);
		return -1;
	}
	if (fwrite(data, 1, len, of.fp) != len) {
		dt_fail_errno(err, DT_EIO, "cannot write '%s'", path);
		goto out;
	}
	ret = outfile_commit(&of, err);
out:
	outfile_release(&of);
	free(data);
	return ret;
}
