/*
 * htree.c - the in-memory hash-tree: entries added, sorted and sealed (node hashes), then
 * looked up. Its .dtree file: save.c and load.c. Format: docs/dtree-format.md.
 */
#include "htree/htree_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "arena.h"
#include "buf.h"

#include "banned.h"

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
	free(t->pfx);
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
	n->prefix_id = 0;
	n->flags &= (uint8_t)~HTREE_F_PREFIX; /* htree_set_prefix() is the one way */
	return (int64_t)l->n++;
}

struct htree_entry *
htree_at(struct htree *t, size_t i)
{
	return i < t->ents.n ? &t->ents.v[i] : NULL;
}

int
htree_set_prefix(struct htree *t, size_t i, const unsigned char sha[32], uint64_t len,
		 struct dt_err *err)
{
	struct htree_entry *e = htree_at(t, i);

	if (e == NULL || t->sealed)
		DT_BUG("htree_set_prefix: no such entry, or a sealed tree");
	if (!(e->flags & HTREE_F_PREFIX)) {
		if (t->npfx >= UINT32_MAX - 1 || BUF_GROW(t->pfx, t->npfx + 1, t->cappfx, err) < 0)
			return -1;
		e->prefix_id = (uint32_t)++t->npfx;
		e->flags |= HTREE_F_PREFIX;
	}
	memcpy(t->pfx[e->prefix_id - 1].sha, sha, 32);
	t->pfx[e->prefix_id - 1].len = len;
	return 0;
}

const unsigned char *
htree_prefix(const struct htree *t, const struct htree_entry *e, uint64_t *len)
{
	if (!(e->flags & HTREE_F_PREFIX) || e->prefix_id == 0 || e->prefix_id > t->npfx)
		return NULL;
	*len = t->pfx[e->prefix_id - 1].len;
	return t->pfx[e->prefix_id - 1].sha;
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

/* 1 when l is in entry_cmp() order (ties too: by address, as added). */
static int
sorted(const struct elist *l)
{
	for (size_t i = 1; i < l->n; i++)
		if (entry_cmp(&l->v[i - 1], &l->v[i]) > 0)
			return 0;
	return 1;
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

/*
 * A directory's children records go through this buffer: one EVP_DigestUpdate() per few
 * kilobytes, not four per child (the calls, not SHA-256 itself, were a third of sealing).
 */
struct hbuf {
	EVP_MD_CTX *md;
	size_t n;
	unsigned char b[8192];
};

static void
hb_add(struct hbuf *h, const void *p, size_t n)
{
	if (n > sizeof(h->b) - h->n) {
		EVP_DigestUpdate(h->md, h->b, h->n);
		h->n = 0;
	}
	if (n >= sizeof(h->b)) {
		EVP_DigestUpdate(h->md, p, n);
		return;
	}
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void
hb_varint(struct hbuf *h, uint64_t x)
{
	unsigned char rec[10];

	hb_add(h, rec, buf_varint(rec, x));
}

static void
hash_child(struct hbuf *h, const struct htree_entry *c)
{
	unsigned char rec[16];
	size_t nlen, k = 0;
	const char *name = base_name(c, &nlen);
	uint32_t v[3] = { c->mode, c->uid, c->gid };
	static const unsigned char zero[32];

	/* name length, name, type, mode, uid, gid, then what the type has. */
	hb_varint(h, nlen);
	hb_add(h, name, nlen);
	rec[k++] = c->type;
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 4; j++)
			rec[k++] = (unsigned char)(v[i] >> (8 * j));
	hb_add(h, rec, k);
	switch (c->type) {
	case HTREE_REG:
		/* An unreadable file hashes as zeros: it differs from any readable version. */
		hb_add(h, (c->flags & HTREE_F_HASHED) ? c->sha256 : zero, 32);
		/* A sparse-sha256 never stands for the sha256 of the same 32 bytes. */
		if ((c->flags & (HTREE_F_HASHED | HTREE_F_SPARSE)) ==
		    (HTREE_F_HASHED | HTREE_F_SPARSE))
			hb_add(h, "s", 1);
		break;
	case HTREE_DIR: hb_add(h, c->sha256, 32); break;
	case HTREE_LNK:
		hb_varint(h, c->link_len);
		if (c->link_len)
			hb_add(h, c->link, c->link_len);
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
	struct hbuf *h = malloc(sizeof(*h));

	if (h == NULL || (h->md = EVP_MD_CTX_new()) == NULL) {
		free(h);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	/* Children follow their parent, so walking backwards finishes them first. */
	for (size_t i = t->ents.n; i-- > 0;) {
		struct htree_entry *d = &t->ents.v[i];
		unsigned int len;

		if (d->type != HTREE_DIR)
			continue;
		EVP_DigestInit_ex(h->md, EVP_sha256(), NULL);
		h->n = 0;
		for (size_t j = i + 1; j < d->end; j = t->ents.v[j].end)
			hash_child(h, &t->ents.v[j]);
		EVP_DigestUpdate(h->md, h->b, h->n);
		EVP_DigestFinal_ex(h->md, d->sha256, &len);
	}
	EVP_MD_CTX_free(h->md);
	free(h);
	return 0;
}

int
htree_seal(struct htree *t, struct dt_err *err)
{
	size_t w = 0;

	if (t->sealed)
		return 0;
	/* A loaded tree is in order already: one pass instead of a sort. */
	if (!sorted(&t->ents))
		qsort(t->ents.v, t->ents.n, sizeof(*t->ents.v), entry_cmp);
	if (!sorted(&t->dels))
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

struct htree_time
htree_time_of(const struct htree_entry *e, enum htree_time_kind k)
{
	struct htree_time t = { e->time_s[k], e->time_ns[k] };
	return t;
}

void
htree_set_time(struct htree_entry *e, enum htree_time_kind k, struct htree_time t)
{
	e->time_s[k] = t.s;
	e->time_ns[k] = t.s == HTREE_NO_TIME ? 0 : t.ns;
}

void
htree_clear_times(struct htree_entry *e)
{
	for (int k = 0; k < HTREE_NTIMES; k++) {
		e->time_s[k] = HTREE_NO_TIME;
		e->time_ns[k] = 0;
	}
}

int
htree_time_cmp(struct htree_time a, struct htree_time b)
{
	if (a.s != b.s)
		return a.s < b.s ? -1 : 1;
	return a.ns < b.ns ? -1 : a.ns > b.ns;
}

struct htree_time
htree_time_make(int64_t s, int64_t ns)
{
	struct htree_time t = { s, ns >= 0 && ns < 1000000000 ? (uint32_t)ns : 0 };

	/* Hostile NTFS or ext4 fields can say anything; keep what RFC 3339 can write. */
	if (s < HTREE_TIME_MIN) {
		t.s = HTREE_TIME_MIN;
		t.ns = 0;
	} else if (s > HTREE_TIME_MAX) {
		t.s = HTREE_TIME_MAX;
		t.ns = 999999999;
	}
	return t;
}

void
htree_format_time(struct htree_time t, char out[40])
{
	struct tm tm;
	time_t s = (time_t)t.s;

	out[0] = '\0';
	/* The range check keeps snprintf's %04d at four digits: no year past 9999 or before 0. */
	if (t.s == HTREE_NO_TIME || t.s < HTREE_TIME_MIN || t.s > HTREE_TIME_MAX ||
	    t.ns >= 1000000000 || gmtime_r(&s, &tm) == NULL)
		return;
	snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, (unsigned)t.ns);
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
