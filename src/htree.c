/*
 * htree.c - the in-memory hash-tree and its .dtree file. Format: docs/dtree-format.md.
 *
 * File layout (all integers little-endian):
 *   magic "\x89DTREE\r\n" | u16 major | u16 minor | u32 header length | header (JSON)
 *   | u64 body length | u64 raw body length | body (zlib) | "DTREEEND" | SHA-256 of all before
 * The raw body is a run of sections: varint tag, varint length, payload. Tag 1 holds the
 * allocated entries of one filesystem, tag 2 its unallocated names, tag 3 the parsed rows
 * (JSON), tag 4 (2.1) the block-run digests of the regular files of one filesystem. A reader
 * skips tags it does not know, so a minor version may add sections.
 */
#include "htree.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "arena.h"
#include "buf.h"
#include "outfile.h"

#include "banned.h"

#define MAGIC        HTREE_MAGIC
#define TRAILER      "DTREEEND"
#define ARENA_CHUNK  (1u << 20)
#define MAX_HEADER   (1u << 20)
#define MAX_RAW_BODY (8ull << 30)

enum { SEC_ENTRIES = 1, SEC_DELETED = 2, SEC_ROWS = 3, SEC_RUNS = 4 };
enum { TIME_M = 1, TIME_A = 2, TIME_C = 4, TIME_CR = 8 };

struct elist {
	struct htree_entry *v;
	size_t n, cap;
};

struct htree {
	struct elist ents; /* allocated entries */
	struct elist dels; /* unallocated names */
	struct htree_fs *fs;
	size_t nfs, fscap;
	struct arena arena; /* owned: paths and link targets */
	struct htree_info info;
	json_t *rows;
	size_t dropped;
	uint64_t file_size;
	int sealed;
};

struct htree *
htree_new(void)
{
	struct htree *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	arena_init(&t->arena, ARENA_CHUNK);
	t->info.major = HTREE_VERSION_MAJOR;
	t->info.minor = HTREE_VERSION_MINOR;
	snprintf(t->info.tool, sizeof(t->info.tool), "deltair %s", DELTAIR_VERSION);
	return t;
}

void
htree_free(struct htree *t)
{
	if (t == NULL)
		return;
	arena_release(&t->arena);
	free(t->ents.v);
	free(t->dels.v);
	free(t->fs);
	free(t->info.image);
	free(t->info.format);
	free(t->info.layout);
	json_decref(t->rows);
	free(t);
}

static char *
xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

int
htree_set_image(struct htree *t, const char *image, const char *format, const char *layout,
		uint64_t size, struct dt_err *err)
{
	free(t->info.image);
	free(t->info.format);
	free(t->info.layout);
	t->info.image = xstrdup(image ? image : "");
	t->info.format = xstrdup(format ? format : "");
	t->info.layout = xstrdup(layout ? layout : "");
	t->info.image_size = size;
	if (!t->info.image || !t->info.format || !t->info.layout)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	return 0;
}

int
htree_add_fs(struct htree *t, const char *name, const char *type, uint64_t offset, uint64_t size,
	     struct dt_err *err)
{
	struct htree_fs *p;

	if (t->nfs >= HTREE_MAX_FS)
		return dt_fail(err, DT_EFORMAT, "more than %d filesystems", HTREE_MAX_FS);
	if (BUF_GROW(t->fs, t->nfs + 1, t->fscap, err) < 0)
		return -1;
	p = &t->fs[t->nfs];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->type, sizeof(p->type), "%s", type);
	p->offset = offset;
	p->size = size;
	return (int)t->nfs++;
}

void
htree_set_fs_identity(struct htree *t, size_t i, const char *uuid, const char *label)
{
	if (i >= t->nfs)
		return;
	snprintf(t->fs[i].uuid, sizeof(t->fs[i].uuid), "%s", uuid ? uuid : "");
	snprintf(t->fs[i].label, sizeof(t->fs[i].label), "%s", label ? label : "");
}

static int
elist_push(struct elist *l, struct dt_err *err)
{
	if (l->n >= HTREE_MAX_ENTRIES)
		return dt_fail(err, DT_ENOMEM, "more than %u entries", HTREE_MAX_ENTRIES);
	return BUF_GROW(l->v, l->n + 1, l->cap, err);
}

int64_t
htree_add(struct htree *t, const struct htree_entry *e, struct dt_err *err)
{
	struct elist *l = (e->flags & HTREE_F_DELETED) ? &t->dels : &t->ents;
	struct htree_entry *n;

	if (t->sealed)
		DT_BUG("htree_add on a sealed tree");
	if (e->fs >= t->nfs)
		DT_BUG("htree_add: unknown filesystem");
	if (e->path_len == 0 || e->path_len > HTREE_MAX_PATH || e->link_len > HTREE_MAX_LINK)
		return dt_fail(err, DT_EFORMAT, "path or link target too long");
	if (elist_push(l, err) < 0)
		return -1;
	n = &l->v[l->n];
	*n = *e;
	n->path = arena_strndup(&t->arena, e->path, e->path_len, err);
	if (n->path == NULL)
		return -1;
	n->link = NULL;
	if (e->link) {
		n->link = arena_strndup(&t->arena, e->link, e->link_len, err);
		if (n->link == NULL)
			return -1;
	}
	n->end = 0;
	n->depth = 0;
	return (int64_t)l->n++;
}

struct htree_entry *
htree_at(struct htree *t, size_t i)
{
	return i < t->ents.n ? &t->ents.v[i] : NULL;
}

int
htree_pathcmp(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++) {
		unsigned ca = (unsigned char)a[i], cb = (unsigned char)b[i];

		if (ca == cb)
			continue;
		/* '/' sorts before every byte, so that a directory's subtree follows it. */
		ca = ca == '/' ? 0 : ca + 1;
		cb = cb == '/' ? 0 : cb + 1;
		return ca < cb ? -1 : 1;
	}
	return alen < blen ? -1 : alen > blen;
}

static int
entry_cmp(const void *pa, const void *pb)
{
	const struct htree_entry *a = pa, *b = pb;
	int c;

	if (a->fs != b->fs)
		return a->fs < b->fs ? -1 : 1;
	c = htree_pathcmp(a->path, a->path_len, b->path, b->path_len);
	if (c)
		return c;
	/* Stable for equal paths: the first added wins (entries are added in order). */
	return a < b ? -1 : a > b;
}

static uint32_t
path_depth(const char *p, size_t n)
{
	uint32_t d = 0;

	if (n == 1 && p[0] == '/')
		return 0;
	for (size_t i = 0; i < n; i++)
		d += p[i] == '/';
	return d;
}

/* The last component of a path. */
static const char *
base_name(const struct htree_entry *e, size_t *len)
{
	const char *s = memrchr(e->path, '/', e->path_len);
	const char *b = s ? s + 1 : e->path;

	*len = e->path_len - (size_t)(b - e->path);
	return b;
}

static void
hash_child(EVP_MD_CTX *md, const struct htree_entry *c)
{
	unsigned char rec[64];
	size_t nlen, k = 0;
	const char *name = base_name(c, &nlen);
	uint32_t v[3] = { c->mode, c->uid, c->gid };
	static const unsigned char zero[32];

	/* name length, name, type, mode, uid, gid, then what the type has. */
	for (uint64_t x = nlen;; x >>= 7) {
		rec[k++] = (unsigned char)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
		if (x <= 0x7f)
			break;
	}
	EVP_DigestUpdate(md, rec, k);
	EVP_DigestUpdate(md, name, nlen);
	k = 0;
	rec[k++] = c->type;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 4; j++)
			rec[k++] = (unsigned char)(v[i] >> (8 * j));
	EVP_DigestUpdate(md, rec, k);
	switch (c->type) {
	case HTREE_REG:
		/* An unreadable file hashes as zeros: it differs from any readable version. */
		EVP_DigestUpdate(md, (c->flags & HTREE_F_HASHED) ? c->sha256 : zero, 32);
		/* A sparse-sha256 never stands for the sha256 of the same 32 bytes. */
		if ((c->flags & (HTREE_F_HASHED | HTREE_F_SPARSE)) ==
		    (HTREE_F_HASHED | HTREE_F_SPARSE))
			EVP_DigestUpdate(md, "s", 1);
		break;
	case HTREE_DIR: EVP_DigestUpdate(md, c->sha256, 32); break;
	case HTREE_LNK:
		k = 0;
		for (uint64_t x = c->link_len;; x >>= 7) {
			rec[k++] = (unsigned char)((x & 0x7f) | (x > 0x7f ? 0x80 : 0));
			if (x <= 0x7f)
				break;
		}
		EVP_DigestUpdate(md, rec, k);
		if (c->link_len)
			EVP_DigestUpdate(md, c->link, c->link_len);
		break;
	default: break;
	}
}

/* Set end and depth over one filesystem's range, checking that every parent is there. */
static int
link_range(struct htree *t, size_t first, size_t count, struct dt_err *err)
{
	struct htree_entry *v = t->ents.v + first;
	size_t *stack, sp = 0;

	if (count == 0)
		return 0;
	if (!(v[0].path_len == 1 && v[0].path[0] == '/' && v[0].type == HTREE_DIR))
		return dt_fail(err, DT_EFORMAT, "filesystem %s has no root directory",
			       t->fs[v[0].fs].name);
	stack = malloc(count * sizeof(*stack));
	if (stack == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	for (size_t i = 0; i < count; i++) {
		struct htree_entry *e = &v[i];

		e->depth = path_depth(e->path, e->path_len);
		while (sp > 0 && v[stack[sp - 1]].depth >= e->depth)
			v[stack[--sp]].end = (uint32_t)(first + i);
		if (i > 0) {
			const struct htree_entry *p = sp ? &v[stack[sp - 1]] : NULL;
			size_t plen = p ? (p->path_len == 1 ? 0 : p->path_len) : 0;

			if (p == NULL || p->depth + 1 != e->depth || e->path[0] != '/' ||
			    memcmp(p->path, e->path, plen) != 0 || e->path[plen] != '/' ||
			    e->path_len == plen + 1) {
				free(stack);
				return dt_fail(err, DT_EFORMAT,
					       "entry '%.200s' has no parent directory", e->path);
			}
		}
		e->end = (uint32_t)(first + i + 1);
		if (e->type == HTREE_DIR)
			stack[sp++] = i;
	}
	while (sp > 0)
		v[stack[--sp]].end = (uint32_t)(first + count);
	free(stack);
	return 0;
}

static int
compute_node_hashes(struct htree *t, struct dt_err *err)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	/* Children follow their parent, so walking backwards finishes them first. */
	for (size_t i = t->ents.n; i-- > 0;) {
		struct htree_entry *d = &t->ents.v[i];
		unsigned int len;

		if (d->type != HTREE_DIR)
			continue;
		EVP_DigestInit_ex(md, EVP_sha256(), NULL);
		for (size_t j = i + 1; j < d->end; j = t->ents.v[j].end)
			hash_child(md, &t->ents.v[j]);
		EVP_DigestFinal_ex(md, d->sha256, &len);
	}
	EVP_MD_CTX_free(md);
	return 0;
}

int
htree_seal(struct htree *t, struct dt_err *err)
{
	size_t w = 0;

	if (t->sealed)
		return 0;
	if (t->ents.n)
		qsort(t->ents.v, t->ents.n, sizeof(*t->ents.v), entry_cmp);
	if (t->dels.n)
		qsort(t->dels.v, t->dels.n, sizeof(*t->dels.v), entry_cmp);
	/* Drop later duplicates of a path (a hostile directory may list a name twice). */
	for (size_t i = 0; i < t->ents.n; i++) {
		if (w > 0 && t->ents.v[w - 1].fs == t->ents.v[i].fs &&
		    htree_pathcmp(t->ents.v[w - 1].path, t->ents.v[w - 1].path_len,
				  t->ents.v[i].path, t->ents.v[i].path_len) == 0) {
			t->dropped++;
			continue;
		}
		t->ents.v[w++] = t->ents.v[i];
	}
	t->ents.n = w;
	for (size_t f = 0; f < t->nfs; f++) {
		t->fs[f].count = t->fs[f].dcount = 0;
		t->fs[f].first = t->fs[f].dfirst = 0;
	}
	for (size_t i = t->ents.n; i-- > 0;) {
		t->fs[t->ents.v[i].fs].first = (uint32_t)i;
		t->fs[t->ents.v[i].fs].count++;
	}
	for (size_t i = t->dels.n; i-- > 0;) {
		t->fs[t->dels.v[i].fs].dfirst = (uint32_t)i;
		t->fs[t->dels.v[i].fs].dcount++;
	}
	for (size_t f = 0; f < t->nfs; f++)
		if (link_range(t, t->fs[f].first, t->fs[f].count, err) < 0)
			return -1;
	if (compute_node_hashes(t, err) < 0)
		return -1;
	t->sealed = 1;
	return 0;
}

size_t
htree_dropped(const struct htree *t)
{
	return t->dropped;
}

size_t
htree_count(const struct htree *t)
{
	return t->ents.n;
}

const struct htree_entry *
htree_get(const struct htree *t, size_t i)
{
	return i < t->ents.n ? &t->ents.v[i] : NULL;
}

size_t
htree_ndeleted(const struct htree *t)
{
	return t->dels.n;
}

const struct htree_entry *
htree_deleted(const struct htree *t, size_t i)
{
	return i < t->dels.n ? &t->dels.v[i] : NULL;
}

size_t
htree_nfs(const struct htree *t)
{
	return t->nfs;
}

const struct htree_fs *
htree_fs(const struct htree *t, size_t i)
{
	return i < t->nfs ? &t->fs[i] : NULL;
}

const struct htree_info *
htree_info(const struct htree *t)
{
	return &t->info;
}

int
htree_fs_index(const struct htree *t, const char *name)
{
	for (size_t i = 0; i < t->nfs; i++)
		if (strcmp(t->fs[i].name, name) == 0)
			return (int)i;
	return -1;
}

int
htree_fs_pair(const struct htree *gold, const char *name, size_t other_nfs)
{
	int i = htree_fs_index(gold, name);

	if (i < 0 && gold->nfs == 1 && other_nfs == 1)
		i = 0;
	return i;
}

const struct htree_entry *
htree_find(const struct htree *t, uint32_t fs, const char *path, size_t len)
{
	size_t lo, hi;

	if (!t->sealed || fs >= t->nfs)
		return NULL;
	lo = t->fs[fs].first;
	hi = lo + t->fs[fs].count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct htree_entry *e = &t->ents.v[mid];
		int c = htree_pathcmp(e->path, e->path_len, path, len);

		if (c == 0)
			return e;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
htree_set_rows(struct htree *t, void *rows, struct dt_err *err)
{
	json_t *r = rows;

	if (r != NULL && !json_is_object(r)) {
		json_decref(r);
		return dt_fail(err, DT_EBUG, "rows must be a JSON object");
	}
	json_decref(t->rows);
	t->rows = r;
	return 0;
}

void *
htree_rows(const struct htree *t)
{
	return t->rows;
}

uint64_t
htree_file_size(const struct htree *t)
{
	return t->file_size;
}

const char *
htree_type_name(enum htree_type type)
{
	switch (type) {
	case HTREE_REG: return "file";
	case HTREE_DIR: return "dir";
	case HTREE_LNK: return "symlink";
	case HTREE_CHR: return "chardev";
	case HTREE_BLK: return "blockdev";
	case HTREE_FIFO: return "fifo";
	case HTREE_SOCK: return "socket";
	case HTREE_OTHER: return "other";
	}
	return "other";
}

unsigned
htree_type_mode(enum htree_type type)
{
	switch (type) {
	case HTREE_REG: return S_IFREG;
	case HTREE_DIR: return S_IFDIR;
	case HTREE_LNK: return S_IFLNK;
	case HTREE_CHR: return S_IFCHR;
	case HTREE_BLK: return S_IFBLK;
	case HTREE_FIFO: return S_IFIFO;
	case HTREE_SOCK: return S_IFSOCK;
	case HTREE_OTHER: return 0;
	}
	return 0;
}

void
htree_format_time(int64_t ns, char out[40])
{
	struct tm tm;
	time_t s;
	long frac;

	if (ns == HTREE_NO_TIME) {
		out[0] = '\0';
		return;
	}
	s = (time_t)(ns / 1000000000);
	frac = (long)(ns % 1000000000);
	if (frac < 0) {
		frac += 1000000000;
		s--;
	}
	if (gmtime_r(&s, &tm) == NULL) {
		out[0] = '\0';
		return;
	}
	/* Years past 9999 cannot come from a sane filesystem; clamp rather than overflow. */
	if (tm.tm_year > 9999 - 1900 || tm.tm_year < -1900) {
		out[0] = '\0';
		return;
	}
	snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, frac % 1000000000);
}

void
htree_hex(const unsigned char *d, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[d[i] >> 4];
		out[2 * i + 1] = hx[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* ---- encoding ---- */

static uint64_t
zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t
unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

struct prev {
	const char *path;
	size_t path_len;
	int64_t t[4];
	uint64_t inode;
};

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

void
htree_count_types(const struct htree *t, struct htree_counts *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < t->ents.n; i++) {
		const struct htree_entry *e = &t->ents.v[i];

		switch (e->type) {
		case HTREE_REG:
			c->regular++;
			c->bytes += e->size;
			break;
		case HTREE_DIR: c->dirs++; break;
		case HTREE_LNK: c->symlinks++; break;
		default: c->other++; break;
		}
	}
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
