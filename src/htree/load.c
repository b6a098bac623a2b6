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

/*
 * The body is inflated through a window as it is decoded: no copy of the raw body is held
 * (for a tree of a million entries, 100 MB). The compressed bytes come from memory or from
 * the file itself, read a second time after its digest was checked (struct src).
 */
#define WINDOW (1u << 20)
/* The most bytes one encoded entry can take: varints, the path, the hash, the link. */
#define ENTRY_MAX (2 * 10 + HTREE_MAX_PATH + 3 + 6 * 10 + 4 * 20 + 32 + 10 + HTREE_MAX_LINK)

struct src {
	FILE *fp;                 /* or */
	const unsigned char *mem; /* len bytes */
	size_t len, pos;
	EVP_MD_CTX *md; /* with fp: the digest of what was read */
};

static int
src_read(struct src *s, void *dst, size_t n)
{
	if (s->fp == NULL) {
		if (n > s->len - s->pos)
			return -1;
		memcpy(dst, s->mem + s->pos, n);
		s->pos += n;
		return 0;
	}
	if (fread(dst, 1, n, s->fp) != n)
		return -1;
	if (s->md)
		EVP_DigestUpdate(s->md, dst, n);
	return 0;
}

struct zin {
	struct src *src;
	z_stream zs;
	int ended;       /* inflate said Z_STREAM_END */
	uint64_t zleft;  /* compressed bytes not yet read from src */
	uint64_t rawlen; /* the raw length the file declares */
	uint64_t off;    /* raw bytes consumed */
	size_t pos, end; /* the window's unconsumed bytes */
	unsigned char *win;
	unsigned char zbuf[1u << 16];
};

/* Make n bytes available at win + pos (fewer only where the body ends). -1: damage. */
static int
zin_need(struct zin *z, size_t n, struct dt_err *err)
{
	if (z->end - z->pos >= n || z->ended)
		return 0;
	memmove(z->win, z->win + z->pos, z->end - z->pos);
	z->end -= z->pos;
	z->pos = 0;
	while (z->end < n && !z->ended) {
		int zr;

		if (z->zs.avail_in == 0 && z->zleft > 0) {
			size_t k = z->zleft < sizeof(z->zbuf) ? (size_t)z->zleft : sizeof(z->zbuf);

			if (src_read(z->src, z->zbuf, k) < 0)
				return bad(err, "truncated body");
			z->zs.next_in = z->zbuf;
			z->zs.avail_in = (uInt)k;
			z->zleft -= k;
		}
		z->zs.next_out = z->win + z->end;
		z->zs.avail_out = (uInt)(WINDOW - z->end);
		zr = inflate(&z->zs, Z_NO_FLUSH);
		z->end = WINDOW - z->zs.avail_out;
		if (zr == Z_STREAM_END)
			z->ended = 1;
		else if (zr != Z_OK && !(zr == Z_BUF_ERROR && (z->zs.avail_in || z->zleft)))
			return bad(err, "body does not decompress");
		if (z->zs.total_out > z->rawlen)
			return bad(err, "body does not decompress");
	}
	return 0;
}

/* The part of a section (left bytes) that is in the window: a cursor over it. */
struct sec {
	struct zin *z;
	uint64_t left;
	struct cursor c;
	size_t had;
};

/* Point s->c at the next bytes of the section, at least min(n, left) of them. */
static int
sec_need(struct sec *s, size_t n, struct dt_err *err)
{
	struct zin *z = s->z;

	if (zin_need(z, n < s->left ? n : (size_t)s->left, err) < 0)
		return -1;
	s->c.p = z->win + z->pos;
	s->c.left = z->end - z->pos < s->left ? z->end - z->pos : (size_t)s->left;
	s->had = s->c.left;
	return 0;
}

/* What the cursor read is consumed. */
static void
sec_done(struct sec *s)
{
	size_t used = s->had - s->c.left;

	s->z->pos += used;
	s->z->off += used;
	s->left -= used;
	s->had = s->c.left;
}

static int
decode_section(struct htree *t, struct sec *sc, int deleted, uint64_t *fs_out, struct dt_err *err)
{
	uint64_t fs, n;
	struct cursor *c = &sc->c;
	struct buf path;
	struct prev p;
	int rc = -1;
	/* Before 2.2 a writer kept times in int64 ns: seconds within about 1677 ... 2262. */
	int wide = t->info.major > 2 || (t->info.major == 2 && t->info.minor >= 2);
	int64_t tmin = wide ? HTREE_TIME_MIN : INT64_MIN / 1000000000 + 1;
	int64_t tmax = wide ? HTREE_TIME_MAX : INT64_MAX / 1000000000 - 1;

	memset(&p, 0, sizeof(p));
	buf_init(&path, HTREE_MAX_PATH);
	if (sec_need(sc, 20, err) < 0)
		goto out;
	if (cur_varint(c, &fs) < 0 || cur_varint(c, &n) < 0 || fs >= t->nfs ||
	    n > HTREE_MAX_ENTRIES) {
		bad(err, "bad section header");
		goto out;
	}
	*fs_out = fs;
	sec_done(sc);
	for (uint64_t i = 0; i < n; i++) {
		struct htree_entry e;
		uint64_t shared, suffix, v[7], link;
		uint8_t type, flags, mt;
		const unsigned char *s;

		memset(&e, 0, sizeof(e));
		if (sec_need(sc, ENTRY_MAX, err) < 0)
			goto out;
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
		for (int k = 0; k < HTREE_NTIMES; k++) {
			uint64_t ds, ns;

			e.time_s[k] = HTREE_NO_TIME;
			e.time_ns[k] = 0;
			if (!((mt >> 4) & (1u << k)))
				continue;
			if (cur_varint(c, &ds) < 0 || cur_varint(c, &ns) < 0 || ns >= 1000000000) {
				bad(err, "bad time");
				goto out;
			}
			/* Unsigned: a hostile delta wraps instead of overflowing; the bound catches
			 * it. */
			p.t[k] = (int64_t)((uint64_t)p.t[k] + unzigzag(ds));
			if (p.t[k] < tmin || p.t[k] > tmax) {
				bad(err, "time out of range");
				goto out;
			}
			e.time_s[k] = p.t[k];
			e.time_ns[k] = (uint32_t)ns;
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
		sec_done(sc);
	}
	if (sc->left != 0) {
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
decode_runs(struct htree *t, struct sec *sc, const struct section_span *spans, struct dt_err *err)
{
	uint64_t fs, n, idx = 0;
	struct cursor *c = &sc->c;

	if (sec_need(sc, 20, err) < 0)
		return -1;
	if (cur_varint(c, &fs) < 0 || cur_varint(c, &n) < 0 || fs >= t->nfs || !spans[fs].seen ||
	    n > spans[fs].count)
		return bad(err, "bad block-run section header");
	sec_done(sc);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t gap;
		const unsigned char *d;
		struct htree_entry *e;

		if (sec_need(sc, 10 + 32, err) < 0)
			return -1;
		if (cur_varint(c, &gap) < 0 || (i > 0 && gap == 0) || gap >= spans[fs].count ||
		    idx + gap >= spans[fs].count || cur_bytes(c, 32, &d) < 0)
			return bad(err, "bad block-run digest");
		idx += gap;
		e = &t->ents.v[spans[fs].base + idx];
		if (e->type != HTREE_REG)
			return bad(err, "block-run digest of an entry that is not a regular file");
		memcpy(e->runs, d, 32);
		e->flags |= HTREE_F_RUNS;
		sec_done(sc);
	}
	if (sc->left != 0)
		return bad(err, "trailing bytes in a block-run section");
	return 0;
}

/* Copy (dst) or skip (dst NULL) the rest of a section. */
static int
sec_copy(struct sec *sc, unsigned char *dst, struct dt_err *err)
{
	while (sc->left > 0) {
		if (sec_need(sc, WINDOW, err) < 0)
			return -1;
		if (sc->c.left == 0)
			return bad(err, "truncated section");
		if (dst) {
			memcpy(dst, sc->c.p, sc->c.left);
			dst += sc->c.left;
		}
		sc->c.left = 0;
		sec_done(sc);
	}
	return 0;
}

/* The sections of the body, inflated from z. */
static int
decode_body(struct htree *t, struct zin *z, int major, int minor, struct dt_err *err)
{
	struct section_span *spans = calloc(t->nfs ? t->nfs : 1, sizeof(*spans)); /* owned */
	int rc = -1;

	if (spans == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	while (z->off < z->rawlen) {
		uint64_t tag, slen;
		struct sec sc = { z, z->rawlen - z->off, { NULL, 0 }, 0 };

		if (sec_need(&sc, 20, err) < 0)
			goto out;
		if (cur_varint(&sc.c, &tag) < 0 || cur_varint(&sc.c, &slen) < 0) {
			bad(err, "bad section");
			goto out;
		}
		sec_done(&sc);
		if (slen > sc.left) {
			bad(err, "bad section");
			goto out;
		}
		sc.left = slen;
		if (tag == SEC_ENTRIES) {
			size_t base = t->ents.n;
			uint64_t fs;

			if (decode_section(t, &sc, 0, &fs, err) < 0)
				goto out;
			spans[fs].base = base;
			spans[fs].count = t->ents.n - base;
			spans[fs].seen = 1;
		} else if (tag == SEC_DELETED) {
			uint64_t fs;

			if (decode_section(t, &sc, 1, &fs, err) < 0)
				goto out;
		} else if (tag == SEC_RUNS && (major > 2 || minor >= 1)) {
			if (decode_runs(t, &sc, spans, err) < 0)
				goto out;
		} else if (tag == SEC_ROWS) {
			json_error_t je;
			unsigned char *rs = malloc(slen ? (size_t)slen : 1);
			json_t *rows = NULL;

			if (rs == NULL) {
				dt_fail(err, DT_ENOMEM, "out of memory");
				goto out;
			}
			if (sec_copy(&sc, rs, err) == 0)
				rows = json_loadb((const char *)rs, (size_t)slen, 0, &je);
			free(rs);
			if (rows == NULL || !json_is_object(rows)) {
				json_decref(rows);
				bad(err, "bad rows section");
				goto out;
			}
			json_decref(t->rows);
			t->rows = rows;
		} else if (sec_copy(&sc, NULL, err) < 0) {
			/* Other tags: sections of a newer minor version, skipped. */
			goto out;
		}
	}
	/* The stream must end where the header says the body does. */
	if (zin_need(z, 1, err) < 0)
		goto out;
	if (!z->ended || z->end != z->pos || z->zs.total_out != z->rawlen) {
		bad(err, "body does not decompress");
		goto out;
	}
	rc = 0;
out:
	free(spans);
	return rc;
}

/*
 * Everything past the digest check: the file's len bytes from s, whose trailer is known
 * good. On success *out is new and sealed.
 */
static int
load_src(struct src *s, uint64_t len, struct htree **out, struct dt_err *err)
{
	struct htree *t = NULL;
	struct zin *z = NULL; /* owned */
	unsigned char fixed[16], lens[16], *hs = NULL;
	uint32_t ver, hlen;
	uint64_t zlen, rawlen;
	int major, minor, rc;

	if (src_read(s, fixed, 16) < 0)
		return bad(err, "truncated header");
	ver = buf_le32(fixed + 8);
	hlen = buf_le32(fixed + 12);
	major = (int)(ver & 0xffff);
	minor = (int)(ver >> 16);
	if (major < 1 || major > HTREE_VERSION_MAJOR)
		return dt_fail(err, DT_EVERSION,
			       "tree format version %d.%d is not supported (this deltair reads 1.x "
			       "to %d.x)",
			       major, minor, HTREE_VERSION_MAJOR);
	if (hlen > MAX_HEADER || (uint64_t)hlen + 16 + 16 + 40 > len)
		return bad(err, "bad header length");
	hs = malloc(hlen ? hlen : 1);
	if (hs == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (src_read(s, hs, hlen) < 0 || src_read(s, lens, 16) < 0) {
		free(hs);
		return bad(err, "bad header length");
	}
	zlen = 0;
	rawlen = 0;
	for (int i = 7; i >= 0; i--) {
		zlen = zlen << 8 | lens[i];
		rawlen = rawlen << 8 | lens[8 + i];
	}
	if (zlen != len - 40 - 32 - hlen || rawlen > MAX_RAW_BODY) {
		free(hs);
		return bad(err, "bad body length");
	}
	t = htree_new();
	if (t == NULL) {
		free(hs);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	t->info.major = major;
	t->info.minor = minor;
	rc = parse_header(t, (const char *)hs, hlen, err);
	free(hs);
	if (rc < 0)
		goto fail;
	/* A declared length far beyond what zlib can expand to is a lie: cap it. */
	if (rawlen > zlen * 1100 + 64) {
		bad(err, "bad body length");
		goto fail;
	}
	z = calloc(1, sizeof(*z));
	if (z == NULL || (z->win = malloc(WINDOW)) == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto fail;
	}
	z->src = s;
	z->zleft = zlen;
	z->rawlen = rawlen;
	if (inflateInit(&z->zs) != Z_OK) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto fail;
	}
	rc = decode_body(t, z, major, minor, err);
	inflateEnd(&z->zs);
	if (rc < 0)
		goto fail;
	/* What is left of the compressed bytes (zlib stops at its stream's end), then the
	 * trailer: read, so that a file's second digest covers all of it. */
	while (z->zleft > 0) {
		size_t k = z->zleft < sizeof(z->zbuf) ? (size_t)z->zleft : sizeof(z->zbuf);

		if (src_read(s, z->zbuf, k) < 0) {
			bad(err, "truncated body");
			goto fail;
		}
		z->zleft -= k;
	}
	if (src_read(s, z->zbuf, 8) < 0) {
		bad(err, "truncated body");
		goto fail;
	}
	free(z->win);
	free(z);
	z = NULL;
	if (htree_seal(t, err) < 0)
		goto fail;
	if (t->dropped) {
		bad(err, "duplicate paths");
		goto fail;
	}
	t->file_size = len;
	*out = t;
	return 0;
fail:
	if (z)
		free(z->win);
	free(z);
	htree_free(t);
	return -1;
}

/* Not a .dtree, or too short to be one: the first checks, before the digest. */
static int
check_size(const unsigned char *head, size_t len, struct dt_err *err)
{
	if (len < 8 || memcmp(head, MAGIC, 8) != 0)
		return dt_fail(err, DT_EFORMAT, "not a deltair tree (.dtree) file");
	if (len < 8 + 8 + 16 + 40)
		return dt_fail(err, DT_EFORMAT, "truncated tree");
	return 0;
}

/* The digest and trailer at the end of a file (tail: its last 40 bytes). */
static int
check_trailer(const unsigned char *tail, const unsigned char digest[32], struct dt_err *err)
{
	if (memcmp(tail, TRAILER, 8) != 0)
		return dt_fail(err, DT_EFORMAT, "truncated or damaged tree (no trailer)");
	if (memcmp(digest, tail + 8, 32) != 0)
		return dt_fail(err, DT_EFORMAT, "damaged tree (checksum mismatch)");
	return 0;
}

int
htree_load_mem(const unsigned char *data, size_t len, struct htree **out, struct dt_err *err)
{
	unsigned char digest[32];
	unsigned int dlen;
	struct src s = { NULL, data, len, 0, NULL };
	struct htree *t = NULL;

	*out = NULL;
	if (check_size(data, len, err) < 0)
		return -1;
	/* Verify, then trust: nothing past the magic is read before the digest checks out. */
	if (EVP_Digest(data, len - 32, digest, &dlen, EVP_sha256(), NULL) != 1)
		return dt_fail(err, DT_EBUG, "SHA-256 failed");
	if (check_trailer(data + len - 40, digest, err) < 0)
		return -1;
	if (load_src(&s, len, &t, err) < 0)
		return -1;
	memcpy(t->info.digest, digest, 32);
	t->info.has_digest = 1;
	*out = t;
	return 0;
}

/* The file's digest (of all but its last 32 bytes) and its last 40 bytes, read through. */
static int
digest_file(FILE *fp, const char *path, uint64_t len, unsigned char digest[32],
	    unsigned char tail[40], struct dt_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char *buf = malloc(1u << 16);
	uint64_t done = 0;
	unsigned int dlen;
	int rc = -1;

	if (md == NULL || buf == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	while (done < len) {
		size_t n = len - done < (1u << 16) ? (size_t)(len - done) : (1u << 16);

		if (fread(buf, 1, n, fp) != n) {
			dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
			goto out;
		}
		/* The last 40 bytes may straddle two reads. */
		if (done + n > len - 40) {
			uint64_t from = done > len - 40 ? done : len - 40;

			memcpy(tail + (from - (len - 40)), buf + (from - done),
			       (size_t)(done + n - from));
		}
		if (done < len - 32)
			EVP_DigestUpdate(md, buf,
					 len - 32 - done < n ? (size_t)(len - 32 - done) : n);
		done += n;
	}
	EVP_DigestFinal_ex(md, digest, &dlen);
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}

int
htree_load(const char *path, struct htree **out, struct dt_err *err)
{
	FILE *fp;
	struct stat st;
	unsigned char head[8] = { 0 }, digest[32], again[32], tail[40];
	unsigned int dlen;
	struct src s = { NULL, NULL, 0, 0, NULL };
	struct htree *t = NULL;
	size_t got;
	int rc = -1;

	*out = NULL;
	fp = fopen(path, "rb");
	if (fp == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
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
	/*
	 * Two reads instead of one copy in memory: the first checks the digest, the second
	 * decodes and takes the digest again, so that a file changed in between is refused.
	 */
	got = fread(head, 1, sizeof(head), fp);
	if (check_size(head, got < sizeof(head) ? got : (size_t)st.st_size, err) < 0)
		goto out;
	rewind(fp);
	if (digest_file(fp, path, (uint64_t)st.st_size, digest, tail, err) < 0)
		goto out;
	if (check_trailer(tail, digest, err) < 0)
		goto out;
	rewind(fp);
	s.fp = fp;
	s.md = EVP_MD_CTX_new();
	if (s.md == NULL || EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) != 1) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	if (load_src(&s, (uint64_t)st.st_size, &t, err) < 0)
		goto out;
	EVP_DigestFinal_ex(s.md, again, &dlen);
	if (memcmp(again, digest, 32) != 0) {
		dt_fail(err, DT_EFORMAT, "changed while being read");
		goto out;
	}
	memcpy(t->info.digest, digest, 32);
	t->info.has_digest = 1;
	*out = t;
	t = NULL;
	rc = 0;
out:
	htree_free(t);
	EVP_MD_CTX_free(s.md);
	fclose(fp);
	if (rc < 0 && err && err->code == DT_EFORMAT) {
		/* Name the file in the message. */
		char msg[sizeof(err->msg)];
		snprintf(msg, sizeof(msg), "'%.200s': %.300s", path, err->msg);
		memcpy(err->msg, msg, sizeof(msg));
	}
	return rc;
}
