/*
 * diff.c - gold vs incident, by path, skipping equal subtrees by node hash.
 *
 * Both trees are in tree order (a directory is followed by exactly its subtree), so one
 * merge pass per filesystem pairs equal paths; where two directories have the same node
 * hash, everything below them is identical in every hashed field and both subtrees are
 * skipped whole. Changes are collected first because a rename pairs an added path with a
 * deleted one that may sort anywhere; then they are sorted and handed out in tree order.
 */
#include "diff.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"

#include "banned.h"

struct clist {
	struct diff_change *v;
	size_t n, cap;
	/* The gold's regular files by (filesystem, inode, crtime), built on first use. */
	const struct htree *gold;
	const struct htree *cur;           /* for its entries' prefix hashes */
	const struct htree_entry **inodes; /* owned */
	size_t ninodes;
	int indexed;
};

static int
push(struct clist *l, const struct diff_change *c, struct dt_err *err)
{
	if (BUF_GROW(l->v, l->n + 1, l->cap, err) < 0)
		return -1;
	l->v[l->n++] = *c;
	return 0;
}

const char *
diff_class_name(enum diff_class c)
{
	static const char *const names[] = { "added",   "deleted",  "modified", "appended",
					     "renamed", "metadata", "type" };
	return (unsigned)c < DIFF_NCLASSES ? names[c] : "unknown";
}

const char *
diff_flag_name(unsigned f)
{
	switch (f) {
	case DIFF_F_SUID_ADDED: return "suid_added";
	case DIFF_F_TIMESTOMP: return "timestomp_suspected";
	case DIFF_F_EXECUTABLE: return "executable";
	case DIFF_F_HIDDEN: return "hidden";
	case DIFF_F_TRUNCATED_LOG: return "truncated_log";
	case DIFF_F_DELETED_ENTRY: return "deleted_entry";
	case DIFF_F_CONTENT_UNREAD: return "content_unread";
	case DIFF_F_PERMS_WIDENED: return "permissions_widened";
	case DIFF_F_OWNER_ROOT: return "owner_to_root";
	}
	return "unknown";
}

const char *
diff_field_name(unsigned f)
{
	switch (f) {
	case DIFF_FIELD_TYPE: return "type";
	case DIFF_FIELD_SIZE: return "size";
	case DIFF_FIELD_MODE: return "mode";
	case DIFF_FIELD_UID: return "uid";
	case DIFF_FIELD_GID: return "gid";
	case DIFF_FIELD_SHA256: return "sha256";
	case DIFF_FIELD_LINK: return "link_target";
	case DIFF_FIELD_INODE: return "inode";
	case DIFF_FIELD_MTIME: return "mtime";
	case DIFF_FIELD_ATIME: return "atime";
	case DIFF_FIELD_CTIME: return "ctime";
	case DIFF_FIELD_CRTIME: return "crtime";
	}
	return "unknown";
}

/* Time ka of a against time kb of b, as htree_time_cmp(). */
static int
time_cmp(const struct htree_entry *a, enum htree_time_kind ka, const struct htree_entry *b,
	 enum htree_time_kind kb)
{
	return htree_time_cmp(htree_time_of(a, ka), htree_time_of(b, kb));
}

static int
has_time(const struct htree_entry *e, enum htree_time_kind k)
{
	return e->time_s[k] != HTREE_NO_TIME;
}

static int
same_content(const struct htree_entry *a, const struct htree_entry *b)
{
	return (a->flags & HTREE_F_HASHED) && (b->flags & HTREE_F_HASHED) &&
	       !((a->flags ^ b->flags) & HTREE_F_SPARSE) && memcmp(a->sha256, b->sha256, 32) == 0;
}

/*
 * A sha256 and a sparse-sha256 of files of the same size prove nothing either way (walks
 * with a gold always hash like it, so only two trees made apart can disagree).
 */
static int
unlike_hashes(const struct htree_entry *a, const struct htree_entry *b)
{
	return (a->flags & HTREE_F_HASHED) && (b->flags & HTREE_F_HASHED) &&
	       ((a->flags ^ b->flags) & HTREE_F_SPARSE) && a->size == b->size;
}

/* An unknown target hashes like an empty one (htree.c), so it compares like one too. */
static int
same_link(const struct htree_entry *a, const struct htree_entry *b)
{
	uint32_t al = a->link ? a->link_len : 0, bl = b->link ? b->link_len : 0;

	return al == bl && (al == 0 || memcmp(a->link, b->link, al) == 0);
}

static int
unread(const struct htree_entry *e)
{
	return e && e->type == HTREE_REG && (e->flags & HTREE_F_READERR);
}

static unsigned
fields_of(const struct htree_entry *g, const struct htree_entry *c)
{
	unsigned f = 0;

	if (g->type != c->type)
		f |= DIFF_FIELD_TYPE;
	if (g->size != c->size && g->type != HTREE_DIR)
		f |= DIFF_FIELD_SIZE;
	if (g->mode != c->mode)
		f |= DIFF_FIELD_MODE;
	if (g->uid != c->uid)
		f |= DIFF_FIELD_UID;
	if (g->gid != c->gid)
		f |= DIFF_FIELD_GID;
	/* Content that was not read is not known to differ. */
	if (g->type == HTREE_REG && c->type == HTREE_REG && !same_content(g, c) && !unread(g) &&
	    !unread(c))
		f |= DIFF_FIELD_SHA256;
	if (!same_link(g, c))
		f |= DIFF_FIELD_LINK;
	if (g->inode != c->inode)
		f |= DIFF_FIELD_INODE;
	if (time_cmp(g, HTREE_MTIME, c, HTREE_MTIME))
		f |= DIFF_FIELD_MTIME;
	if (time_cmp(g, HTREE_ATIME, c, HTREE_ATIME))
		f |= DIFF_FIELD_ATIME;
	if (time_cmp(g, HTREE_CTIME, c, HTREE_CTIME))
		f |= DIFF_FIELD_CTIME;
	if (time_cmp(g, HTREE_CRTIME, c, HTREE_CRTIME))
		f |= DIFF_FIELD_CRTIME;
	return f;
}

static int
is_log(const struct htree_entry *e)
{
	const char *b = memrchr(e->path, '/', e->path_len);
	size_t blen;

	if (e->path_len > 9 && memcmp(e->path, "/var/log/", 9) == 0)
		return 1;
	b = b ? b + 1 : e->path;
	blen = e->path_len - (size_t)(b - e->path);
	if (blen > 4 && memcmp(b + blen - 4, ".log", 4) == 0)
		return 1;
	return memmem(b, blen, ".log.", 5) != NULL;
}

static int
is_hidden(const struct htree_entry *e)
{
	for (size_t i = 0; i + 1 < e->path_len; i++)
		if (e->path[i] == '/' && e->path[i + 1] == '.')
			return 1;
	return 0;
}

/* Equal to a literal, or below a literal folder ("/etc/sudoers.d/"). */
static int
path_is(const struct htree_entry *e, const char *s)
{
	size_t n = strlen(s);

	if (s[n - 1] == '/')
		return e->path_len > n && memcmp(e->path, s, n) == 0;
	return e->path_len == n && memcmp(e->path, s, n) == 0;
}

/*
 * Files that nobody but their owner (and root's group tools) should read: password and
 * group shadows, sudo rules, Kerberos keytabs, SSH host and user private keys, TLS private
 * keys. Read gained by group or other on them is a finding; on other files it is not.
 */
static int
is_secret(const struct htree_entry *e)
{
	static const char *const paths[] = { "/etc/shadow",
					     "/etc/shadow-",
					     "/etc/gshadow",
					     "/etc/gshadow-",
					     "/etc/sudoers",
					     "/etc/sudoers.d/",
					     "/etc/security/opasswd",
					     "/etc/krb5.keytab",
					     "/etc/ssl/private/",
					     "/etc/pki/tls/private/",
					     NULL };
	static const char *const keys[] = { "id_rsa",     "id_dsa",      "id_ecdsa",
					    "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk",
					    NULL };
	const char *b = memrchr(e->path, '/', e->path_len);
	size_t n;

	if (e->type != HTREE_REG)
		return 0;
	for (int i = 0; paths[i]; i++)
		if (path_is(e, paths[i]))
			return 1;
	b = b ? b + 1 : e->path;
	n = e->path_len - (size_t)(b - e->path);
	for (int i = 0; keys[i]; i++)
		if (n == strlen(keys[i]) && memcmp(b, keys[i], n) == 0)
			return 1;
	/* ssh_host_ed25519_key (not its .pub), server.key, Let's Encrypt's privkey1.pem. */
	if (n > 13 && memcmp(b, "ssh_host_", 9) == 0 && memcmp(b + n - 4, "_key", 4) == 0)
		return 1;
	if (n > 4 && memcmp(b + n - 4, ".key", 4) == 0)
		return 1;
	return n > 7 && memcmp(b, "privkey", 7) == 0;
}

/*
 * Permission bits gained by group or other: write or execute on anything, read on a
 * secret. Symlinks have no modes of their own; a type change replaced the object.
 */
static int
widened(const struct diff_change *c)
{
	const struct htree_entry *e = c->e, *g = c->gold;
	uint32_t gained = e->mode & ~g->mode, watch = 0033;

	if (e->type == HTREE_LNK || c->cls == DIFF_TYPE)
		return 0;
	if (is_secret(e) || is_secret(g))
		watch |= 0044;
	return (gained & watch) != 0;
}

static unsigned
flags_of(const struct diff_change *c)
{
	const struct htree_entry *e = c->e, *g = c->gold;
	unsigned f = 0;

	if (unread(e) || unread(g))
		f |= DIFF_F_CONTENT_UNREAD;
	if (e == NULL) /* deleted */
		return f | (is_hidden(g) ? DIFF_F_HIDDEN : 0);
	if (g && c->unix_modes && widened(c))
		f |= DIFF_F_PERMS_WIDENED;
	if (g && c->unix_modes && c->cls != DIFF_TYPE &&
	    ((g->uid != 0 && e->uid == 0) || (g->gid != 0 && e->gid == 0)))
		f |= DIFF_F_OWNER_ROOT;
	if (e->mode & ~(g ? g->mode : 0) & 06000 && e->type != HTREE_DIR)
		f |= DIFF_F_SUID_ADDED;
	/* FAT and NTFS have no x bits (libtsk shows 0777): there only the content counts. */
	if (e->type == HTREE_REG && ((c->unix_modes && (e->mode & 0111)) ||
				     e->magic == HTREE_MAGIC_ELF || e->magic == HTREE_MAGIC_SCRIPT))
		f |= DIFF_F_EXECUTABLE;
	if (is_hidden(e))
		f |= DIFF_F_HIDDEN;
	if ((c->cls == DIFF_MODIFIED || c->cls == DIFF_APPENDED) && has_time(e, HTREE_MTIME) &&
	    has_time(g, HTREE_MTIME) && time_cmp(e, HTREE_MTIME, g, HTREE_MTIME) <= 0)
		f |= DIFF_F_TIMESTOMP;
	/* A new file cannot have been written before it was created (a new link can). */
	if (c->cls == DIFF_ADDED && e->type == HTREE_REG && has_time(e, HTREE_MTIME) &&
	    has_time(e, HTREE_CRTIME) && time_cmp(e, HTREE_MTIME, e, HTREE_CRTIME) < 0 &&
	    !(e->flags & HTREE_F_DELETED) && !c->old_inode)
		f |= DIFF_F_TIMESTOMP;
	if (c->cls == DIFF_MODIFIED && is_log(e)) {
		/* Shrunk, or the same size with other bytes, or the gold is not a prefix. */
		if (e->size <= g->size || (e->flags & HTREE_F_PREFIX))
			f |= DIFF_F_TRUNCATED_LOG;
	}
	if (e->flags & HTREE_F_DELETED)
		f |= DIFF_F_DELETED_ENTRY;
	return f;
}

/* Filesystems whose modes libtsk makes up. */
static int
has_unix_modes(const char *type)
{
	static const char *const no[] = { "fat", "ntfs", "exfat", "iso9660", NULL };

	for (int i = 0; no[i]; i++)
		if (strncmp(type, no[i], strlen(no[i])) == 0)
			return 0;
	return 1;
}

static int
change(struct clist *l, enum diff_class cls, const char *fs, unsigned order,
       const struct htree_entry *g, const struct htree_entry *e, struct dt_err *err)
{
	struct diff_change c;

	memset(&c, 0, sizeof(c));
	c.cls = cls;
	c.fs = fs;
	c.gold = g;
	c.e = e;
	c.fields = (g && e) ? fields_of(g, e) : 0;
	c.fs_order = order;
	return push(l, &c, err);
}

static int
inode_key_cmp(const struct htree_entry *a, const struct htree_entry *b)
{
	if (a->fs != b->fs)
		return a->fs < b->fs ? -1 : 1;
	if (a->inode != b->inode)
		return a->inode < b->inode ? -1 : 1;
	return time_cmp(a, HTREE_CRTIME, b, HTREE_CRTIME);
}

static int
inode_ptr_cmp(const void *pa, const void *pb)
{
	return inode_key_cmp(*(const struct htree_entry *const *)pa,
			     *(const struct htree_entry *const *)pb);
}

/*
 * Whether gold filesystem gi had a regular file with e's inode number and birth time: then
 * e, added at a path the gold did not have, is a new name of an old inode (a hard link, or
 * the file moved). Inode numbers are reused; a birth time with them is not.
 */
static int
gold_had_inode(struct clist *l, int gi, const struct htree_entry *e, struct dt_err *err)
{
	struct htree_entry key;
	size_t lo = 0, hi;

	if (gi < 0 || !has_time(e, HTREE_CRTIME))
		return 0;
	if (!l->indexed) {
		size_t n = htree_count(l->gold);

		l->inodes = malloc((n ? n : 1) * sizeof(*l->inodes));
		if (l->inodes == NULL)
			return dt_fail(err, DT_ENOMEM, "out of memory");
		for (size_t i = 0; i < n; i++)
			if (htree_get(l->gold, i)->type == HTREE_REG)
				l->inodes[l->ninodes++] = htree_get(l->gold, i);
		qsort(l->inodes, l->ninodes, sizeof(*l->inodes), inode_ptr_cmp);
		l->indexed = 1;
	}
	memset(&key, 0, sizeof(key));
	key.fs = (uint32_t)gi;
	key.inode = e->inode;
	htree_set_time(&key, HTREE_CRTIME, htree_time_of(e, HTREE_CRTIME));
	hi = l->ninodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (inode_key_cmp(l->inodes[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < l->ninodes && inode_key_cmp(l->inodes[lo], &key) == 0;
}

/* Compare two entries with the same path; add a change if they differ. */
static int
compare(struct clist *l, const char *fs, unsigned order, const struct htree_entry *g,
	const struct htree_entry *e, struct dt_err *err)
{
	int meta = g->mode != e->mode || g->uid != e->uid || g->gid != e->gid;

	if (g->type != e->type)
		return change(l, DIFF_TYPE, fs, order, g, e, err);
	if (g->type == HTREE_REG) {
		/*
		 * Content that could not be read proves nothing either way, and the file must
		 * not vanish from the delta: it is reported from what is known. Another size is
		 * other content; the same size is only known metadata.
		 */
		if (unread(g) || unread(e))
			return change(l, g->size != e->size ? DIFF_MODIFIED : DIFF_METADATA, fs,
				      order, g, e, err);
		if (unlike_hashes(g, e))
			return meta ? change(l, DIFF_METADATA, fs, order, g, e, err) : 0;
		if (!same_content(g, e)) {
			uint64_t plen = 0;
			const unsigned char *pfx = htree_prefix(l->cur, e, &plen);
			int app = pfx && plen == g->size && e->size > g->size &&
				  memcmp(pfx, g->sha256, 32) == 0;
			return change(l, app ? DIFF_APPENDED : DIFF_MODIFIED, fs, order, g, e, err);
		}
	}
	if (g->type == HTREE_LNK && !same_link(g, e))
		meta = 1;
	return meta ? change(l, DIFF_METADATA, fs, order, g, e, err) : 0;
}

static int
merge_fs(struct clist *l, const struct htree *gold, int gi, const struct htree *cur, int ci,
	 unsigned order, struct diff_stats *st, struct dt_err *err)
{
	const struct htree_fs *gf = gi >= 0 ? htree_fs(gold, (size_t)gi) : NULL;
	const struct htree_fs *cf = ci >= 0 ? htree_fs(cur, (size_t)ci) : NULL;
	const char *fs = cf ? cf->name : gf->name;
	size_t i = gf ? gf->first : 0, iend = gf ? gf->first + gf->count : 0;
	size_t j = cf ? cf->first : 0, jend = cf ? cf->first + cf->count : 0;

	if (cf)
		st->entries += cf->count;
	while (i < iend || j < jend) {
		const struct htree_entry *g = i < iend ? htree_get(gold, i) : NULL;
		const struct htree_entry *e = j < jend ? htree_get(cur, j) : NULL;
		int c = !g   ? 1
			: !e ? -1
			     : htree_pathcmp(g->path, g->path_len, e->path, e->path_len);

		if (c < 0) {
			if (change(l, DIFF_DELETED, fs, order, g, NULL, err) < 0)
				return -1;
			i++;
			continue;
		}
		if (c > 0) {
			int old = 0;
			/* Only what the timestomp rule for added files needs to know. */
			if (e->type == HTREE_REG && has_time(e, HTREE_MTIME) &&
			    time_cmp(e, HTREE_MTIME, e, HTREE_CRTIME) < 0 &&
			    (old = gold_had_inode(l, gi, e, err)) < 0)
				return -1;
			if (change(l, DIFF_ADDED, fs, order, NULL, e, err) < 0)
				return -1;
			l->v[l->n - 1].old_inode = old;
			j++;
			continue;
		}
		if (compare(l, fs, order, g, e, err) < 0)
			return -1;
		if (g->type == HTREE_DIR && e->type == HTREE_DIR &&
		    memcmp(g->sha256, e->sha256, 32) == 0) {
			/*
			 * Equal subtrees: nothing below can differ in a hashed field. A file
			 * unread on both sides hashes as zeros on both: it is still reported.
			 */
			for (size_t k = j + 1; k < e->end; k++) {
				const struct htree_entry *x = htree_get(cur, k), *y;
				st->skipped_entries++;
				if (x->type == HTREE_REG)
					st->skipped_bytes += x->size;
				if (unread(x) &&
				    (y = htree_find(gold, (uint32_t)gi, x->path, x->path_len)) &&
				    compare(l, fs, order, y, x, err) < 0)
					return -1;
			}
			i = g->end;
			j = e->end;
			continue;
		}
		i++;
		j++;
	}
	return 0;
}

/* Names in unallocated space that the gold did not have, allocated or not. */
static int
deleted_entries(struct clist *l, const struct htree *gold, int gi, const struct htree *cur, int ci,
		unsigned order, struct dt_err *err)
{
	const struct htree_fs *cf = htree_fs(cur, (size_t)ci);
	const struct htree_fs *gf = gi >= 0 ? htree_fs(gold, (size_t)gi) : NULL;
	size_t gk = gf ? gf->dfirst : 0, gend = gf ? gf->dfirst + gf->dcount : 0;

	for (size_t k = cf->dfirst; k < cf->dfirst + cf->dcount; k++) {
		const struct htree_entry *d = htree_deleted(cur, k);
		int known = 0;

		if (gi >= 0 && htree_find(gold, (uint32_t)gi, d->path, d->path_len))
			known = 1;
		/* Both lists are sorted: advance the gold's deleted names alongside. */
		while (!known && gk < gend) {
			const struct htree_entry *g = htree_deleted(gold, gk);
			int c = htree_pathcmp(g->path, g->path_len, d->path, d->path_len);
			if (c < 0) {
				gk++;
				continue;
			}
			known = c == 0;
			break;
		}
		if (known)
			continue;
		/* The same name twice in unallocated space is one finding. */
		if (k > cf->dfirst) {
			const struct htree_entry *p = htree_deleted(cur, k - 1);
			if (htree_pathcmp(p->path, p->path_len, d->path, d->path_len) == 0)
				continue;
		}
		if (change(l, DIFF_ADDED, cf->name, order, NULL, d, err) < 0)
			return -1;
	}
	return 0;
}

static int
change_cmp(const void *pa, const void *pb)
{
	const struct diff_change *a = pa, *b = pb;
	const struct htree_entry *ea = a->e ? a->e : a->gold, *eb = b->e ? b->e : b->gold;
	int c;

	if (a->fs_order != b->fs_order)
		return a->fs_order < b->fs_order ? -1 : 1;
	c = htree_pathcmp(ea->path, ea->path_len, eb->path, eb->path_len);
	if (c)
		return c;
	return (int)a->cls - (int)b->cls;
}

static int
base_eq(const struct htree_entry *a, const struct htree_entry *b)
{
	const char *x = memrchr(a->path, '/', a->path_len), *y = memrchr(b->path, '/', b->path_len);
	size_t xl = a->path_len - (size_t)(x - a->path), yl = b->path_len - (size_t)(y - b->path);

	return xl == yl && memcmp(x, y, xl) == 0;
}

static int
hash_cmp(const void *pa, const void *pb)
{
	const struct diff_change *a = *(const struct diff_change *const *)pa;
	const struct diff_change *b = *(const struct diff_change *const *)pb;
	int c = memcmp(a->gold->sha256, b->gold->sha256, 32);

	if (c)
		return c;
	return a < b ? -1 : a > b;
}

/*
 * An added regular file whose content equals a deleted one's is that file renamed. Each
 * deleted file pairs once; among candidates the one with the same name wins.
 */
static int
pair_renames(struct clist *l, struct dt_err *err)
{
	struct diff_change **del = NULL;
	size_t nd = 0;
	char *used = NULL;

	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].cls == DIFF_DELETED && l->v[i].gold->type == HTREE_REG &&
		    l->v[i].gold->size > 0 && (l->v[i].gold->flags & HTREE_F_HASHED))
			nd++;
	if (nd == 0)
		return 0;
	del = malloc(nd * sizeof(*del));
	used = calloc(nd, 1);
	if (del == NULL || used == NULL) {
		free(del);
		free(used);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	nd = 0;
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].cls == DIFF_DELETED && l->v[i].gold->type == HTREE_REG &&
		    l->v[i].gold->size > 0 && (l->v[i].gold->flags & HTREE_F_HASHED))
			del[nd++] = &l->v[i];
	qsort(del, nd, sizeof(*del), hash_cmp);
	for (size_t i = 0; i < l->n; i++) {
		struct diff_change *a = &l->v[i];
		size_t lo = 0, hi = nd, best = SIZE_MAX;

		if (a->cls != DIFF_ADDED || a->e->type != HTREE_REG || a->e->size == 0 ||
		    !(a->e->flags & HTREE_F_HASHED) || (a->e->flags & HTREE_F_DELETED))
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (memcmp(del[mid]->gold->sha256, a->e->sha256, 32) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t k = lo; k < nd && memcmp(del[k]->gold->sha256, a->e->sha256, 32) == 0;
		     k++) {
			if (used[k] || strcmp(del[k]->fs, a->fs) != 0 ||
			    ((del[k]->gold->flags ^ a->e->flags) & HTREE_F_SPARSE))
				continue;
			if (best == SIZE_MAX)
				best = k;
			if (base_eq(del[k]->gold, a->e)) {
				best = k;
				break;
			}
		}
		if (best == SIZE_MAX)
			continue;
		used[best] = 1;
		a->cls = DIFF_RENAMED;
		a->gold = del[best]->gold;
		a->fields = fields_of(a->gold, a->e);
		del[best]->cls = DIFF_NCLASSES; /* dropped below */
	}
	free(del);
	free(used);
	return 0;
}

static int
inode_cmp(const void *pa, const void *pb)
{
	const struct htree_entry *a = (*(const struct diff_change *const *)pa)->e;
	const struct htree_entry *b = (*(const struct diff_change *const *)pb)->e;

	if (a->fs != b->fs)
		return a->fs < b->fs ? -1 : 1;
	return a->inode < b->inode ? -1 : a->inode > b->inode;
}

/*
 * One inode has one content: every name of a hard-linked file in the delta gets the flags
 * of all its names (a log under /var/log linked from /srv is a log under both names), but
 * for hidden, which is the name's own.
 */
static int
share_link_flags(struct clist *l, struct dt_err *err)
{
	const unsigned own = DIFF_F_HIDDEN | DIFF_F_DELETED_ENTRY;
	struct diff_change **v;
	size_t n = 0;

	if (l->n < 2)
		return 0;
	v = malloc(l->n * sizeof(*v));
	if (v == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].e && l->v[i].e->type == HTREE_REG && l->v[i].e->nlink > 1 &&
		    !(l->v[i].e->flags & HTREE_F_DELETED))
			v[n++] = &l->v[i];
	qsort(v, n, sizeof(*v), inode_cmp);
	for (size_t i = 0, k; i < n; i = k) {
		unsigned all = 0;

		for (k = i; k < n && inode_cmp(&v[i], &v[k]) == 0; k++)
			all |= v[k]->flags & ~own;
		for (size_t x = i; x < k; x++)
			v[x]->flags = (v[x]->flags & own) | all;
	}
	free(v);
	return 0;
}

int
diff_complete(const struct diff_stats *ds, uint64_t read_errors)
{
	return ds->unread == 0 && read_errors == 0;
}

int
diff_trees(const struct htree *gold, const struct htree *cur,
	   int (*cb)(void *ctx, const struct diff_change *c, struct dt_err *err), void *ctx,
	   struct diff_stats *stats, struct dt_err *err)
{
	struct clist l = { 0 };
	struct diff_stats st;
	char *gold_seen;
	size_t w;
	int rc = -1;

	memset(&st, 0, sizeof(st));
	l.gold = gold;
	l.cur = cur;
	gold_seen = calloc(htree_nfs(gold) + 1, 1);
	if (gold_seen == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	for (size_t ci = 0; ci < htree_nfs(cur); ci++) {
		int gi = htree_fs_pair(gold, htree_fs(cur, ci)->name, htree_nfs(cur));

		if (gi >= 0)
			gold_seen[gi] = 1;
		if (merge_fs(&l, gold, gi, cur, (int)ci, (unsigned)ci, &st, err) < 0 ||
		    deleted_entries(&l, gold, gi, cur, (int)ci, (unsigned)ci, err) < 0)
			goto out;
	}
	for (size_t gi = 0; gi < htree_nfs(gold); gi++)
		if (!gold_seen[gi] && merge_fs(&l, gold, (int)gi, cur, -1,
					       (unsigned)(htree_nfs(cur) + gi), &st, err) < 0)
			goto out;
	if (pair_renames(&l, err) < 0)
		goto out;
	w = 0;
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].cls != DIFF_NCLASSES)
			l.v[w++] = l.v[i];
	l.n = w;
	if (l.n)
		qsort(l.v, l.n, sizeof(*l.v), change_cmp);
	for (size_t i = 0; i < l.n; i++) {
		struct diff_change *c = &l.v[i];
		int fi = htree_fs_index(cur, c->fs), gi = htree_fs_index(gold, c->fs);
		const struct htree_fs *f = fi >= 0   ? htree_fs(cur, (size_t)fi)
					   : gi >= 0 ? htree_fs(gold, (size_t)gi)
						     : NULL;

		c->unix_modes = f ? has_unix_modes(f->type) : 1;
		c->flags = flags_of(c);
	}
	if (share_link_flags(&l, err) < 0)
		goto out;
	for (size_t i = 0; i < l.n; i++) {
		struct diff_change *c = &l.v[i];

		st.count[c->cls]++;
		if (c->flags & DIFF_F_CONTENT_UNREAD)
			st.unread++;
		if (cb(ctx, c, err) < 0)
			goto out;
	}
	rc = 0;
out:
	if (stats)
		*stats = st;
	free(l.v);
	free(l.inodes);
	free(gold_seen);
	return rc;
}
