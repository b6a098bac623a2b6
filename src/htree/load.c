/*
 * load.c - a .dtree file verified (trailer digest before anything else is trusted) and
 * decoded; every length is checked against what remains and a named cap. The layout:
 * htree_int.h; the format: docs/dtree-format.md.
 */
#include "htree/htree_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"

#include "banned.h"

static int64_t
unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ---- decoding: every length is checked against what remains and a named cap ---- */

static int
bad(struct dt_err *err, const char *what)
{
	return dt_fail(err, DT_EFORMAT, "damaged tree: %s", what);
}

/* A stored path must be absolute, free of NUL, empty, "." and ".." components. */
static int
path_ok(const char *p, size_t n)
{
	size_t i = 0;

	if (n == 0 || p[0] != '/')
		return 0;
	if (n == 1)
		return 1;
	if (p[n - 1] == '/')
		return 0;
	while (i < n) {
		size_t s = ++i; /* past the slash */
		while (i < n && p[i] != '/') {
			if (p[i] == '\0')
				return 0;
			i++;
		}
		if (i == s || (i - s == 1 && p[s] == '.') ||
		    (i - s == 2 && p[s] == '.' && p[s + 1] == '.'))
			return 0;
	}
	return 1;
}

static int
decode_section(struct htree *t, struct cursor *c, int deleted, struct dt_err *err)
{
	uint64_t fs, n;
	struct buf path;
	struct prev p;
	int rc = -1;

	memset(&p, 0, sizeof(p));
	buf_init(&path, HTREE_MAX_PATH);
	if (cur_varint(c, &fs) < 0 || cur_varint(c, &n) < 0 || fs >= t->nfs ||
	    n > HTREE_MAX_ENTRIES) {
		bad(err, "bad section header");
		goto out;
	}
	for (uint64_t i = 0; i < n; i++) {
		struct htree_entry e;
		uint64_t shared, suffix, v[7], link;
		uint8_t type, flags, mt;
		const unsigned char *s;

		memset(&e, 0, sizeof(e));
		if (cur_varint(c, &shared) < 0 || cur_varint(c, &suffix) < 0 || shared > path.len ||
		    suffix > HTREE_MAX_PATH || cur_bytes(c, (size_t)suffix, &s) < 0) {
			bad(err, "bad path");
			goto out;
		}
		path.len = (size_t)shared;
		if (buf_add(&path, s, (size_t)suffix, err) < 0)
			goto out;
		if (!path_ok((const char *)path.data, path.len)) {
			bad(err, "bad path");
			goto out;
		}
		if (cur_u8(c, &type) < 0 || cur_u8(c, &flags) < 0 || cur_u8(c, &mt) < 0 ||
		    type < HTREE_REG || type > HTREE_OTHER || (mt & 15) > HTREE_MAGIC_SCRIPT) {
			bad(err, "bad entry type");
			goto out;
		}
		for (int k = 0; k < 6; k++)
			if (cur_varint(c, &v[k]) < 0) {
				bad(err, "truncated entry");
				goto out;
			}
		if (v[0] > 07777 || v[1] > UINT32_MAX || v[2] > UINT32_MAX || v[3] > UINT32_MAX ||
		    v[4] > INT64_MAX) {
			bad(err, "bad entry fields");
			goto out;
		}
		e.path = (const char *)path.data;
		e.path_len = (uint32_t)path.len;
		e.fs = (uint32_t)fs;
		e.type = type;
		/* 1.x trees have no sparse-sha256: a stray bit there is damage, not a kind. */
		if (t->info.major < 2)
			flags &= (uint8_t)~HTREE_F_SPARSE;
		e.flags = (uint8_t)((flags & (HTREE_F_HASHED | HTREE_F_READERR | HTREE_F_SPARSE)) |
				    (deleted ? HTREE_F_DELETED : 0));
		e.magic = mt & 15;
		e.mode = (uint32_t)v[0];
		e.uid = (uint32_t)v[1];
		e.gid = (uint32_t)v[2];
		e.nlink = (uint32_t)v[3];
		e.size = v[4];
		e.inode = p.inode + (uint64_t)unzigzag(v[5]);
		p.inode = e.inode;
		int64_t *tv[4] = { &e.mtime, &e.atime, &e.ctime, &e.crtime };
		for (int k = 0; k < 4; k++) {
			uint64_t ds, ns;

			*tv[k] = HTREE_NO_TIME;
			if (!((mt >> 4) & (1u << k)))
				continue;
			if (cur_varint(c, &ds) < 0 || cur_varint(c, &ns) < 0 || ns >= 1000000000) {
				bad(err, "bad time");
				goto out;
			}
			p.t[k] += unzigzag(ds);
			/* Keep the product inside int64: about 292 years either side of 1970. */
			if (p.t[k] > INT64_MAX / 1000000000 - 1 ||
			    p.t[k] < INT64_MIN / 1000000000 + 1) {
				bad(err, "time out of range");
				goto out;
			}
			*tv[k] = p.t[k] * 1000000000 + (int64_t)ns;
		}
		if (type == HTREE_REG && (flags & HTREE_F_HASHED)) {
			if (cur_bytes(c, 32, &s) < 0) {
				bad(err, "truncated hash");
				goto out;
			}
			memcpy(e.sha256, s, 32);
		}
		if (type == HTREE_LNK) {
			if (cur_varint(c, &link) < 0 || link > HTREE_MAX_LINK + 1 ||
			    (link && cur_bytes(c, (size_t)link - 1, &s) < 0)) {
				bad(err, "bad link target");
				goto out;
			}
			if (link) {
				if (memchr(s, '\0', (size_t)link - 1)) {
					bad(err, "bad link target");
					goto out;
				}
				e.link = (const char *)s;
				e.link_len = (uint32_t)(link - 1);
			}
		}
		if (htree_add(t, &e, err) < 0)
			goto out;
	}
	if (c->left != 0) {
		bad(err, "trailing bytes in a section");
		goto out;
	}
	rc = 0;
out:
	buf_release(&path);
	return rc;
}

static int
parse_header(struct htree *t, const char *hs, size_t hlen, struct dt_err *err)
{
	json_error_t je;
	json_t *h = json_loadb(hs, hlen, JSON_REJECT_DUPLICATES, &je), *img, *fss, *f;
	const char *tool = NULL, *created = NULL, *spec = "", *format = "", *layout = "";
	json_int_t isize = 0;
	size_t i;
	int rc = -1;

	if (h == NULL || !json_is_object(h)) {
		bad(err, "bad header");
		goto out;
	}
	if (json_unpack(h, "{s:s, s:s, s:o, s:o}", "tool", &tool, "created", &created, "image",
			&img, "filesystems", &fss) != 0 ||
	    !json_is_array(fss) || json_array_size(fss) > HTREE_MAX_FS) {
		bad(err, "bad header");
		goto out;
	}
	if (strcmp(json_string_value(json_object_get(h, "hash")) ?: "", "sha256") != 0) {
		dt_fail(err, DT_EFORMAT, "unsupported hash algorithm in tree");
		goto out;
	}
	json_unpack(img, "{s?s, s?s, s?s, s?I}", "spec", &spec, "format", &format, "layout",
		    &layout, "size", &isize);
	snprintf(t->info.tool, sizeof(t->info.tool), "%s", tool);
	snprintf(t->info.created, sizeof(t->info.created), "%s", created);
	if (htree_set_image(t, spec, format, layout, (uint64_t)isize, err) < 0)
		goto out;
	json_array_foreach(fss, i, f)
	{
		const char *name, *type, *uuid = "", *label = "";
		json_int_t off = 0, size = 0;
		int k;

		if (json_unpack(f, "{s:s, s:s, s?I, s?I, s?s, s?s}", "name", &name, "type", &type,
				"offset", &off, "size", &size, "uuid", &uuid, "label",
				&label) != 0) {
			bad(err, "bad filesystem in header");
			goto out;
		}
		if ((k = htree_add_fs(t, name, type, (uint64_t)off, (uint64_t)size, err)) < 0)
			goto out;
		htree_set_fs_identity(t, (size_t)k, uuid, label);
	}
	rc = 0;
out:
	json_decref(h);
	return rc;
}

/* Where the last tag-1 section of each filesystem put its entries (htree_load_mem()). */
struct section_span {
	size_t base, count;
	int seen;
};

/* A tag-4 section: block-run digests of entries of the filesystem's tag-1 section. */
static int
decode_runs(struct htree *t, struct cursor *c, const struct section_span *spans, struct dt_err *err)
{
	uint64_t fs, n, idx = 0;

	if (cur_varint(c, &fs) < 0 || cur_varint(c, &n) < 0 || fs >= t->nfs || !spans[fs].seen ||
	    n > spans[fs].count)
		return bad(err, "bad block-run section header");
	for (uint64_t i = 0; i < n; i++) {
		uint64_t gap;
		const unsigned char *d;
		struct htree_entry *e;

		if (cur_varint(c, &gap) < 0 || (i > 0 && gap == 0) || gap >= spans[fs].count ||
		    idx + gap >= spans[fs].count || cur_bytes(c, 32, &d) < 0)
			return bad(err, "bad block-run digest");
		idx += gap;
		e = &t->ents.v[spans[fs].base + idx];
		if (e->type != HTREE_REG)
			return bad(err, "block-run digest of an entry that is not a regular file");
		memcpy(e->runs, d, 32);
		e->flags |= HTREE_F_RUNS;
	}
	if (c->left != 0)
		return bad(err, "trailing bytes in a block-run section");
	return 0;
}

int
htree_load_mem(const unsigned char *data, size_t len, struct htree **out, struct dt_err *err)
{
	struct htree *t = NULL;
	struct cursor c = { data, len };
	unsigned char digest[32], *raw = NULL;
	unsigned int dlen;
	uint32_t ver, hlen;
	uint64_t zlen, rawlen;
	const unsigned char *hs, *z;
	uLongf got;
	int major, minor;
	struct section_span *spans = NULL; /* owned */

	*out = NULL;
	if (len < 8 || memcmp(data, MAGIC, 8) != 0)
		return dt_fail(err, DT_EFORMAT, "not a deltair tree (.dtree) file");
	if (len < 8 + 8 + 16 + 40)
		return dt_fail(err, DT_EFORMAT, "truncated tree");
	/* Verify, then trust: nothing past the magic is read before the digest checks out. */
	if (EVP_Digest(data, len - 32, digest, &dlen, EVP_sha256(), NULL) != 1)
		return dt_fail(err, DT_EBUG, "SHA-256 failed");
	if (memcmp(data + len - 40, TRAILER, 8) != 0)
		return dt_fail(err, DT_EFORMAT, "truncated or damaged tree (no trailer)");
	if (memcmp(digest, data + len - 32, 32) != 0)
		return dt_fail(err, DT_EFORMAT, "damaged tree (checksum mismatch)");
	c.p += 8;
	c.left -= 40 + 8;
	if (cur_u32le(&c, &ver) < 0)
		return bad(err, "truncated header");
	major = (int)(ver & 0xffff);
	minor = (int)(ver >> 16);
	if (major < 1 || major > HTREE_VERSION_MAJOR)
		return dt_fail(err, DT_EVERSION,
			       "tree format version %d.%d is not supported (this deltair reads 1.x "
			       "to %d.x)",
			       major, minor, HTREE_VERSION_MAJOR);
	if (cur_u32le(&c, &hlen) < 0 || hlen > MAX_HEADER || cur_bytes(&c, hlen, &hs) < 0)
		return bad(err, "bad header length");
	if (cur_u64le(&c, &zlen) < 0 || cur_u64le(&c, &rawlen) < 0 || zlen != c.left ||
	    rawlen > MAX_RAW_BODY || cur_bytes(&c, (size_t)zlen, &z) < 0)
		return bad(err, "bad body length");
	t = htree_new();
	if (t == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	t->info.major = major;
	t->info.minor = minor;
	if (parse_header(t, (const char *)hs, hlen, err) < 0)
		goto fail;
	/* A declared length far beyond what zlib can expand to is a lie: cap it. */
	if (rawlen > zlen * 1100 + 64) {
		bad(err, "bad body length");
		goto fail;
	}
	raw = malloc(rawlen ? (size_t)rawlen : 1);
	if (raw == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto fail;
	}
	got = (uLongf)rawlen;
	if (uncompress(raw, &got, z, (uLong)zlen) != Z_OK || got != rawlen) {
		bad(err, "body does not decompress");
		goto fail;
	}
	c.p = raw;
	c.left = (size_t)rawlen;
	spans = calloc(t->nfs ? t->nfs : 1, sizeof(*spans));
	if (spans == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto fail;
	}
	while (c.left > 0) {
		uint64_t tag, slen;
		const unsigned char *sp;
		struct cursor sc;

		if (cur_varint(&c, &tag) < 0 || cur_varint(&c, &slen) < 0 ||
		    cur_bytes(&c, (size_t)slen, &sp) < 0 || slen > c.left + slen) {
			bad(err, "bad section");
			goto fail;
		}
		sc.p = sp;
		sc.left = (size_t)slen;
		if (tag == SEC_ENTRIES) {
			size_t base = t->ents.n;
			uint64_t fs;
			struct cursor peek = sc;

			if (decode_section(t, &sc, 0, err) < 0)
				goto fail;
			if (cur_varint(&peek, &fs) == 0 && fs < t->nfs) {
				spans[fs].base = base;
				spans[fs].count = t->ents.n - base;
				spans[fs].seen = 1;
			}
		} else if (tag == SEC_DELETED) {
			if (decode_section(t, &sc, 1, err) < 0)
				goto fail;
		} else if (tag == SEC_RUNS && (major > 2 || minor >= 1)) {
			if (decode_runs(t, &sc, spans, err) < 0)
				goto fail;
		} else if (tag == SEC_ROWS) {
			json_error_t je;
			json_t *rows = json_loadb((const char *)sp, (size_t)slen, 0, &je);

			if (rows == NULL || !json_is_object(rows)) {
				json_decref(rows);
				bad(err, "bad rows section");
				goto fail;
			}
			json_decref(t->rows);
			t->rows = rows;
		}
		/* Other tags: sections of a newer minor version, skipped. */
	}
	free(raw);
	raw = NULL;
	free(spans);
	spans = NULL;
	if (htree_seal(t, err) < 0)
		goto fail;
	if (t->dropped) {
		bad(err, "duplicate paths");
		goto fail;
	}
	memcpy(t->info.digest, data + len - 32, 32);
	t->info.has_digest = 1;
	t->file_size = len;
	*out = t;
	return 0;
fail:
	free(raw);
	free(spans);
	htree_free(t);
	return -1;
}

int
htree_load(const char *path, struct htree **out, struct dt_err *err)
{
	FILE *fp;
	struct stat st;
	unsigned char *data;
	int rc;

	*out = NULL;
	fp = fopen(path, "rb");
	if (fp == NULL)
		return dt_fail_errno(err, errno == ENOENT || errno == EACCES ? DT_EIO : DT_EIO,
				     "cannot open '%s'", path);
	if (fstat(fileno(fp), &st) != 0) {
		fclose(fp);
		return dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
	}
	if (!S_ISREG(st.st_mode)) {
		fclose(fp);
		return dt_fail(err, DT_EFORMAT, "'%s' is not a regular file", path);
	}
	if ((uint64_t)st.st_size > HTREE_MAX_FILE) {
		fclose(fp);
		return dt_fail(err, DT_EFORMAT, "'%s' is too large to be a tree", path);
	}
	data = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (data == NULL) {
		fclose(fp);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	if (fread(data, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
		free(data);
		fclose(fp);
		return dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
	}
	fclose(fp);
	rc = htree_load_mem(data, (size_t)st.st_size, out, err);
	free(data);
	if (rc < 0 && err && err->code == DT_EFORMAT) {
		/* Name the file in the message. */
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "'%.200s': %.300s", path, err->msg);
		memcpy(err->msg, msg, sizeof(msg));
	}
	return rc;
}
