/*
 * provenance.c - package provenance and known-good sets. See provenance.h.
 *
 * dpkg's database, as the evidence holds it:
 *   /var/lib/dpkg/status          RFC 822 stanzas (read through the deb_packages parser)
 *   /var/lib/dpkg/info/P.list     every path package P installed, absolute, one a line
 *   /var/lib/dpkg/info/P.md5sums  "MD5  path" with the path relative to / (conffiles absent)
 *   status's Conffiles field      " /etc/path MD5[ obsolete]" a line: the conffile's digest
 *                                 as the package shipped it (dpkg keeps a local edit)
 * P is "name" or "name:arch" (Multi-Arch: same). On a merged-/usr system a package may
 * list /bin/ls while the walk finds the file at /usr/bin/ls (/bin is a link): both names
 * are tried.
 */
#include "provenance.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "parsers.h"
#include "scan.h"

#include "banned.h"

#define DPKG_DIR    "/var/lib/dpkg"
#define DPKG_INFO   "/var/lib/dpkg/info"
#define DPKG_STATUS "/var/lib/dpkg/status"
#define MAX_DB_FILE (64u << 20) /* bytes of one status, .list or .md5sums file */
#define MD5_CHUNK   (1u << 20)
#define MAX_NAME    512

static const char *const reason_names[PROV_NREASONS] = {
	[PROV_PACKAGE_VERIFIED] = "package_verified",
	[PROV_PACKAGE_LISTED] = "package_listed",
	[PROV_PACKAGE_DATABASE] = "package_database",
	[PROV_PACKAGE_DROPPED] = "package_dropped",
	[PROV_KNOWN_GOOD] = "known_good",
	[PROV_PACKAGE_MISMATCH] = "package_mismatch",
	[PROV_DATABASE_EDITED] = "package_database_edited",
	[PROV_CONFFILE_MODIFIED] = "conffile_modified",
	[PROV_NOT_VERIFIABLE] = "not_verifiable",
	[PROV_NOT_PACKAGED] = "not_packaged",
};

/* Files of dpkg and apt that any package operation rewrites (below the root). */
static const char *const db_files[] = {
	"/var/lib/dpkg/status",
	"/var/lib/dpkg/status-old",
	"/var/lib/dpkg/available",
	"/var/lib/dpkg/available-old",
	"/var/lib/dpkg/lock",
	"/var/lib/dpkg/lock-frontend",
	"/var/lib/dpkg/triggers/",
	"/var/lib/dpkg/updates/",
	"/var/log/dpkg.log",
	"/var/log/apt/",
	"/var/lib/apt/extended_states",
	NULL,
};

struct pkg {
	char *base;                         /* owned: "name" or "name:arch", the info files' stem */
	char *name;                         /* owned */
	const char *version, *gold_version; /* borrowed from the version maps; NULL: unknown */
	int changed;         /* version differs from the gold's (or the gold had none) */
	int md5_read;        /* md5 below was filled (or could not be) */
	int digests_as_gold; /* info/P.md5sums is the gold's, with the same version */
	json_t *md5;         /* owned: { "usr/bin/x": "hex" } */
};

struct prov {
	struct source *s;
	const struct htree *gold, *cur;
	int fs;           /* the incident filesystem of the dpkg database, or -1 */
	int gold_fs;      /* the gold's, or -1 */
	struct pkg *pkgs; /* owned */
	size_t npkgs, pkgcap;
	json_t *owner;     /* { path: pkg index } */
	json_t *versions;  /* { name or name:arch: version } of the incident */
	json_t *gold_vers; /* the same, of the gold (NULL: no rows) */
	json_t *conff;     /* { "/etc/x": "MD5" or "" (none recorded) }: status's Conffiles */
	size_t nchanged;   /* packages whose version changed */
	const struct kg *const *sets;
	const char *const *names;
	size_t nsets;
	struct prov_stats st;
	unsigned char *buf; /* owned: MD5_CHUNK */
};

const char *
prov_reason_name(enum prov_reason r)
{
	return r < PROV_NREASONS ? reason_names[r] : "?";
}

/* ---- reading the database ---- */

static const struct htree_entry *
find(const struct htree *t, int fs, const char *path, size_t len)
{
	return fs < 0 ? NULL : htree_find(t, (uint32_t)fs, path, len);
}

/* { name: version, "name:arch": version } from deb_packages rows (columns objects). */
static void
add_version(json_t *map, const json_t *cols)
{
	const char *n = json_string_value(json_object_get(cols, "name"));
	const char *v = json_string_value(json_object_get(cols, "version"));
	const char *a = json_string_value(json_object_get(cols, "arch"));
	char key[MAX_NAME];

	if (n == NULL || v == NULL)
		return;
	json_object_set_new(map, n, json_string(v));
	if (a && snprintf(key, sizeof(key), "%s:%s", n, a) < (int)sizeof(key))
		json_object_set_new(map, key, json_string(v));
}

/* Bytes of [s, end) before the first space (or end). */
static size_t
token(const char *s, const char *end)
{
	const char *sp = memchr(s, ' ', (size_t)(end - s));

	return (size_t)((sp ? sp : end) - s);
}

/* One " /etc/path MD5[ obsolete]" line of Conffiles, [s, le) past its leading space. */
static int
add_conffile(struct prov *p, const char *s, const char *le, struct dt_err *err)
{
	size_t pl = token(s, le), ml;
	const char *md5 = s + pl + (s + pl < le), *rest;
	int obsolete, digest;

	ml = token(md5, le);
	rest = md5 + ml;
	obsolete = (size_t)(le - rest) >= 9 && memcmp(rest, " obsolete", 9) == 0;
	/* "newconffile" (not yet installed) and the like: a conffile, no digest. */
	digest = ml == 32;
	for (size_t i = 0; digest && i < 32; i++)
		digest = (md5[i] >= '0' && md5[i] <= '9') || (md5[i] >= 'a' && md5[i] <= 'f');
	if (pl < 2 || memchr(s, '\0', (size_t)(le - s)) ||
	    (obsolete && json_object_getn(p->conff, s, pl) != NULL))
		return 0;
	if (json_object_setn_new_nocheck(p->conff, s, pl, json_stringn(md5, digest ? 32 : 0)) < 0)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	return 0;
}

/*
 * The Conffiles fields of status (data, len) into p->conff. A path listed twice keeps the
 * entry that is not "obsolete" (the package that ships it now).
 */
static int
read_conffiles(struct prov *p, const char *s, size_t len, struct dt_err *err)
{
	const char *end = s + len;
	int in = 0;

	p->conff = json_object();
	if (p->conff == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s)), *le = nl ? nl : end;
		size_t n = (size_t)(le - s);

		if (n >= 10 && memcmp(s, "Conffiles:", 10) == 0)
			in = 1;
		else if (n == 0 || s[0] != ' ')
			in = 0;
		else if (in && n > 2 && s[1] == '/' && add_conffile(p, s + 1, le, err) < 0)
			return -1;
		s = le + 1;
	}
	return 0;
}

static int
read_versions(struct prov *p, struct dt_err *err)
{
	const struct parser *dp = parsers_find("deb_packages");
	const struct htree_entry *e = find(p->cur, p->fs, DPKG_STATUS, sizeof(DPKG_STATUS) - 1);
	struct parser_ctx ctx;
	struct parser_input in;
	unsigned char *data = NULL;
	size_t len = 0, i;
	json_t *rows = json_array(), *r;
	struct dt_err perr = { 0 };

	memset(&ctx, 0, sizeof(ctx));
	memset(&in, 0, sizeof(in));
	p->versions = json_object();
	if (rows == NULL || p->versions == NULL) {
		json_decref(rows);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	/* An unreadable status leaves every version unknown: never fatal. */
	if (dp && e && e->type == HTREE_REG &&
	    scan_slurp(p->s, e, MAX_DB_FILE, &data, &len, &perr) == 0) {
		in.path = DPKG_STATUS;
		in.data = data;
		in.len = len;
		in.ctx = &ctx;
		(void)dp->fn(&in, rows, &perr);
	}
	if (read_conffiles(p, (const char *)data, data ? len : 0, err) < 0) {
		json_decref(rows);
		free(data);
		return -1;
	}
	json_array_foreach(rows, i, r) add_version(p->versions, r);
	json_decref(rows);
	free(data);

	/* The gold's versions: its deb_packages rows, kept in the .dtree at baseline time. */
	rows = htree_rows(p->gold) ? json_object_get(htree_rows(p->gold), "deb_packages") : NULL;
	if (rows) {
		p->gold_vers = json_object();
		json_array_foreach(rows, i, r)
		{
			const char *path = json_string_value(json_object_get(r, "path"));
			if (path && strcmp(path, DPKG_STATUS) == 0)
				add_version(p->gold_vers, json_object_get(r, "columns"));
		}
	}
	return 0;
}

static const char *
version_of(json_t *map, const char *base, const char *name)
{
	const char *v;

	if (map == NULL)
		return NULL;
	v = json_string_value(json_object_get(map, base));
	return v ? v : json_string_value(json_object_get(map, name));
}

/* Record every path of one .list file as owned by package k (the first package wins). */
static int
read_list(struct prov *p, const struct htree_entry *e, size_t k, struct dt_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	struct dt_err rerr = { 0 };
	const char *s, *end;

	if (scan_slurp(p->s, e, MAX_DB_FILE, &data, &len, &rerr) < 0)
		return rerr.code == DT_ENOMEM && strstr(rerr.msg, "out of memory")
			       ? dt_fail(err, DT_ENOMEM, "out of memory")
			       : 0;
	s = (const char *)data;
	end = s + len;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s)), *le = nl ? nl : end;
		size_t n = (size_t)(le - s);

		if (n > 1 && s[0] == '/' && !memchr(s, '\0', n) &&
		    json_object_getn(p->owner, s, n) == NULL &&
		    json_object_setn_new_nocheck(p->owner, s, n, json_integer((json_int_t)k)) < 0) {
			free(data);
			return dt_fail(err, DT_ENOMEM, "out of memory");
		}
		s = le + 1;
	}
	free(data);
	return 0;
}

static int
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int
read_database(struct prov *p, struct dt_err *err)
{
	const struct htree_entry *d = find(p->cur, p->fs, DPKG_INFO, sizeof(DPKG_INFO) - 1);

	if (read_versions(p, err) < 0)
		return -1;
	if (d == NULL || d->type != HTREE_DIR)
		return 0;
	for (size_t i = (size_t)(d - htree_get(p->cur, 0)) + 1; i < d->end;
	     i = htree_get(p->cur, i)->end) {
		const struct htree_entry *e = htree_get(p->cur, i);
		const char *b = e->path + sizeof(DPKG_INFO);
		size_t bl = e->path_len - sizeof(DPKG_INFO);
		struct pkg *k;
		const char *colon;

		if (e->type != HTREE_REG || !ends_with(b, bl, ".list") || bl - 5 >= MAX_NAME ||
		    bl == 5 || memchr(b, '\0', bl))
			continue;
		if (BUF_GROW(p->pkgs, p->npkgs + 1, p->pkgcap, err) < 0)
			return -1;
		k = &p->pkgs[p->npkgs];
		memset(k, 0, sizeof(*k));
		k->base = strndup(b, bl - 5);
		colon = k->base ? strchr(k->base, ':') : NULL;
		k->name = k->base ? strndup(k->base,
					    colon ? (size_t)(colon - k->base) : strlen(k->base))
				  : NULL;
		if (k->base == NULL || k->name == NULL) {
			free(k->base);
			free(k->name);
			return dt_fail(err, DT_ENOMEM, "out of memory");
		}
		p->npkgs++;
		k->version = version_of(p->versions, k->base, k->name);
		k->gold_version = version_of(p->gold_vers, k->base, k->name);
		k->changed = p->gold_vers && (k->gold_version == NULL || k->version == NULL ||
					      strcmp(k->gold_version, k->version) != 0);
		p->nchanged += (size_t)k->changed;
		if (read_list(p, e, p->npkgs - 1, err) < 0)
			return -1;
	}
	/* A package the gold had and the incident lost counts as a change of version. */
	if (p->gold_vers) {
		const char *n;
		json_t *v;
		json_object_foreach(p->gold_vers, n, v)
		{
			if (strchr(n, ':') == NULL && json_object_get(p->versions, n) == NULL)
				p->nchanged++;
		}
	}
	return 0;
}

/* Package k's digests, read once; its md5 is NULL when it has none. */
static void
read_md5sums(struct prov *p, struct pkg *k)
{
	char path[MAX_NAME + 64];
	const struct htree_entry *e, *g;
	unsigned char *data = NULL;
	size_t len = 0;
	int n;
	struct dt_err rerr = { 0 };
	const char *s, *end;

	k->md5_read = 1;
	n = snprintf(path, sizeof(path), DPKG_INFO "/%s.md5sums", k->base);
	if (n < 0 || (size_t)n >= sizeof(path))
		return;
	e = find(p->cur, p->fs, path, (size_t)n);
	if (e == NULL || e->type != HTREE_REG ||
	    scan_slurp(p->s, e, MAX_DB_FILE, &data, &len, &rerr) < 0)
		return;
	g = find(p->gold, p->gold_fs, path, (size_t)n);
	k->digests_as_gold = g && g->type == HTREE_REG && (g->flags & HTREE_F_HASHED) &&
			     (e->flags & HTREE_F_HASHED) && memcmp(g->sha256, e->sha256, 32) == 0 &&
			     k->version && k->gold_version &&
			     strcmp(k->version, k->gold_version) == 0;
	k->md5 = json_object();
	s = (const char *)data;
	end = s + len;
	while (k->md5 && s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s)), *le = nl ? nl : end;
		size_t ln = (size_t)(le - s);

		/* 32 hex digits, two spaces, the path without its leading '/'. */
		if (ln > 34 && s[32] == ' ' && s[33] == ' ' && !memchr(s, '\0', ln) &&
		    strspn(s, "0123456789abcdef") == 32)
			json_object_setn_new_nocheck(k->md5, s + 34, ln - 34, json_stringn(s, 32));
		s = le + 1;
	}
	free(data);
}

int
prov_open(struct source *s, const struct htree *gold, const struct htree *cur,
	  const struct kg *const *sets, const char *const *names, size_t nsets, struct prov **out,
	  struct dt_err *err)
{
	struct prov *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (p == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	p->s = s;
	p->gold = gold;
	p->cur = cur;
	p->sets = sets;
	p->names = names;
	p->nsets = nsets;
	p->fs = -1;
	p->gold_fs = -1;
	p->owner = json_object();
	p->buf = malloc(MD5_CHUNK);
	if (p->owner == NULL || p->buf == NULL) {
		prov_free(p);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	/* The root filesystem is the first one with dpkg's status file. */
	for (size_t f = 0; s && f < htree_nfs(cur) && p->fs < 0; f++)
		if (htree_find(cur, (uint32_t)f, DPKG_STATUS, sizeof(DPKG_STATUS) - 1))
			p->fs = (int)f;
	if (p->fs >= 0) {
		p->gold_fs =
			htree_fs_pair(gold, htree_fs(cur, (size_t)p->fs)->name, htree_nfs(cur));
		if (read_database(p, err) < 0) {
			prov_free(p);
			return -1;
		}
	}
	*out = p;
	return 0;
}

void
prov_free(struct prov *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->npkgs; i++) {
		free(p->pkgs[i].base);
		free(p->pkgs[i].name);
		json_decref(p->pkgs[i].md5);
	}
	free(p->pkgs);
	json_decref(p->owner);
	json_decref(p->versions);
	json_decref(p->gold_vers);
	json_decref(p->conff);
	free(p->buf);
	free(p);
}

int
prov_active(const struct prov *p)
{
	return p->fs >= 0 || p->nsets > 0;
}

const struct prov_stats *
prov_stats(const struct prov *p)
{
	return &p->st;
}

/* ---- explaining one change ---- */

struct finding {
	enum prov_reason reason;
	enum prov_trust trust;
	const struct pkg *pkg;
	const char *listed; /* the path as the package lists it */
	size_t listed_len;
	const struct kg_entry *kg;
	size_t kg_set;
	int by_gold, by_kg;
	int conffile;     /* status's Conffiles lists it */
	const char *note; /* why nothing could be checked */
};

/* The package owning path: exact, else the merged-/usr alias (/usr/bin/x as /bin/x). */
static struct pkg *
owner_of(struct prov *p, const char *path, size_t len, const char **listed, size_t *llen)
{
	static const char *const merged[] = { "/usr/bin/",   "/usr/sbin/",  "/usr/lib/",
					      "/usr/lib32/", "/usr/lib64/", "/usr/libx32/",
					      NULL };
	json_t *v = json_object_getn(p->owner, path, len);

	*listed = path;
	*llen = len;
	for (int i = 0; v == NULL && merged[i]; i++) {
		size_t m = strlen(merged[i]);
		if (len > m && memcmp(path, merged[i], m) == 0) {
			v = json_object_getn(p->owner, path + 4, len - 4);
			*listed = path + 4;
			*llen = len - 4;
		}
	}
	if (v == NULL || (size_t)json_integer_value(v) >= p->npkgs)
		return NULL;
	return &p->pkgs[json_integer_value(v)];
}

/* The MD5 of e's content as 32 hex digits; -1 (with a note) when it cannot be read. */
static int
md5_of(struct prov *p, const struct htree_entry *e, char hex[33], const char **note)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned char d[16];
	unsigned dl;
	uint64_t off = 0;
	struct dt_err rerr = { 0 };

	if (md == NULL) {
		*note = "out of memory";
		return -1;
	}
	EVP_DigestInit_ex(md, EVP_md5(), NULL);
	while (off < e->size) {
		size_t want = e->size - off > MD5_CHUNK ? MD5_CHUNK : (size_t)(e->size - off);
		ssize_t got =
			source_read_file(p->s, e->fs, e->inode, e->path, off, p->buf, want, &rerr);
		if (got <= 0) {
			EVP_MD_CTX_free(md);
			*note = "the file could not be read for its MD5";
			p->st.unreadable++;
			return -1;
		}
		EVP_DigestUpdate(md, p->buf, (size_t)got);
		off += (uint64_t)got;
	}
	EVP_DigestFinal_ex(md, d, &dl);
	EVP_MD_CTX_free(md);
	htree_hex(d, 16, hex);
	p->st.md5_files++;
	p->st.md5_bytes += e->size;
	return 0;
}

/* The known-good entry vouching for (path, type, digest), from the first set that has one
 * (a set naming package and version first, when they are given). */
static const struct kg_entry *
vouch(struct prov *p, const char *path, size_t len, uint8_t type, const unsigned char d[32],
      const char *package, const char *version, size_t *set)
{
	const struct kg_entry *best = NULL;

	for (size_t i = 0; i < p->nsets; i++) {
		const struct kg_entry *e =
			kg_vouch(p->sets[i], path, len, type, d, package, version);
		if (e && package && version && strcmp(e->package, package) == 0 &&
		    strcmp(e->version, version) == 0) {
			*set = i;
			return e;
		}
		if (e && best == NULL) {
			best = e;
			*set = i;
		}
	}
	return best;
}

static uint8_t
kg_type_of(const struct htree_entry *e)
{
	return e->type == HTREE_REG   ? KG_REG
	       : e->type == HTREE_LNK ? KG_LNK
	       : e->type == HTREE_DIR ? KG_DIR
				      : 0;
}

/* The digest a known-good set keeps for e: content, link target, or zero for a folder. */
static int
kg_digest(const struct htree_entry *e, unsigned char d[32])
{
	unsigned dl;

	memset(d, 0, 32);
	if (e->type == HTREE_REG) {
		if (!(e->flags & HTREE_F_HASHED) || (e->flags & HTREE_F_SPARSE))
			return -1;
		memcpy(d, e->sha256, 32);
		return 0;
	}
	if (e->type == HTREE_LNK)
		return EVP_Digest(e->link ? e->link : "", e->link ? e->link_len : 0, d, &dl,
				  EVP_sha256(), NULL) == 1
			       ? 0
			       : -1;
	return e->type == HTREE_DIR ? 0 : -1;
}

/* dpkg's own records: PKG of info/PKG.* in *k (NULL for the shared files); 0 if not one. */
static int
database_file(struct prov *p, const char *path, size_t len, struct pkg **k)
{
	size_t il = sizeof(DPKG_INFO) - 1;

	*k = NULL;
	if (len > il + 1 && memcmp(path, DPKG_INFO "/", il + 1) == 0) {
		const char *b = path + il + 1, *dot = memrchr(b, '.', len - il - 1);
		size_t bl = dot ? (size_t)(dot - b) : 0;
		for (size_t i = 0; i < p->npkgs && bl; i++)
			if (strlen(p->pkgs[i].base) == bl && memcmp(p->pkgs[i].base, b, bl) == 0)
				*k = &p->pkgs[i];
		return 1;
	}
	for (int i = 0; db_files[i]; i++) {
		size_t n = strlen(db_files[i]);
		if (db_files[i][n - 1] == '/' ? (len > n && memcmp(path, db_files[i], n) == 0)
					      : (len == n && memcmp(path, db_files[i], n) == 0))
			return 1;
	}
	return 0;
}

/* c's content MD5 in hex; -1 when it cannot be read, f then not_verifiable and says why. */
static int
content_md5(struct prov *p, const struct diff_change *c, char hex[33], struct finding *f)
{
	if ((c->flags & DIFF_F_CONTENT_UNREAD) || (c->e->flags & HTREE_F_READERR) ||
	    md5_of(p, c->e, hex, &f->note) < 0) {
		f->reason = PROV_NOT_VERIFIABLE;
		if (f->note == NULL)
			f->note = "the content could not be read";
		return -1;
	}
	return 0;
}

/*
 * A packaged regular file that its md5sums does not list: a conffile, whose digest as the
 * package shipped it is in status's Conffiles. dpkg keeps an administrator's edit of a
 * conffile across upgrades, so a conffile that differs from it is no package's doing.
 */
static void
explain_conffile(struct prov *p, const struct diff_change *c, struct finding *f)
{
	json_t *conf = p->conff ? json_object_getn(p->conff, f->listed, f->listed_len) : NULL;
	const char *want = json_string_value(conf);
	char hex[33];

	f->conffile = conf != NULL;
	if (f->by_kg) {
		f->reason = PROV_PACKAGE_VERIFIED;
		f->trust = PROV_CORROBORATED;
		return;
	}
	f->reason = PROV_NOT_VERIFIABLE;
	if (conf == NULL || want == NULL || *want == '\0') {
		f->note = conf ? "a conffile whose shipped digest dpkg does not record"
			       : "the package records no digest for it";
		return;
	}
	if (content_md5(p, c, hex, f) < 0)
		return;
	if (strcmp(hex, want) != 0) {
		f->reason = PROV_CONFFILE_MODIFIED;
		f->note = "a conffile that is not the version its package shipped (status "
			  "Conffiles): edited on the host, and dpkg keeps such edits";
		return;
	}
	f->reason = PROV_PACKAGE_VERIFIED;
	f->trust = PROV_SELF_REPORTED;
}

static void
explain_packaged(struct prov *p, const struct diff_change *c, struct finding *f)
{
	const struct htree_entry *e = c->e;
	struct pkg *k = (struct pkg *)f->pkg;
	unsigned char d[32];
	int have_d = e && kg_digest(e, d) == 0;
	size_t set = 0;

	if (c->cls == DIFF_DELETED) {
		/* dpkg --verify says "missing": the package says it is there. A conffile is the
		 * administrator's to delete (dpkg keeps it deleted), so not a mismatch. */
		f->conffile = p->conff && json_object_getn(p->conff, f->listed, f->listed_len);
		f->reason = f->conffile ? PROV_CONFFILE_MODIFIED : PROV_PACKAGE_MISMATCH;
		f->note = f->conffile ? "a conffile deleted on the host, and dpkg keeps it deleted"
				      : "the package lists it, but it is gone";
		return;
	}
	if (c->cls == DIFF_METADATA || e == NULL) {
		f->reason = PROV_NOT_VERIFIABLE;
		f->note = "dpkg keeps no owner or mode to check a metadata change against";
		return;
	}
	if (have_d)
		f->kg = vouch(p, f->listed, f->listed_len, kg_type_of(e), d, k->name, k->version,
			      &set);
	f->kg_set = set;
	f->by_kg = f->kg && strcmp(f->kg->package, k->name) == 0 && k->version &&
		   strcmp(f->kg->version, k->version) == 0;
	if (e->type != HTREE_REG) {
		f->reason = PROV_PACKAGE_LISTED;
		f->trust = f->by_kg ? PROV_CORROBORATED : PROV_SELF_REPORTED;
		return;
	}
	if (!k->md5_read)
		read_md5sums(p, k);
	json_t *want = k->md5 ? json_object_getn(k->md5, f->listed + 1, f->listed_len - 1) : NULL;
	char hex[33];

	if (want == NULL) {
		explain_conffile(p, c, f);
		return;
	}
	if (content_md5(p, c, hex, f) < 0)
		return;
	if (strcmp(hex, json_string_value(want)) != 0) {
		f->reason = PROV_PACKAGE_MISMATCH;
		return;
	}
	f->reason = PROV_PACKAGE_VERIFIED;
	f->by_gold = k->digests_as_gold;
	f->trust = f->by_gold || f->by_kg ? PROV_CORROBORATED : PROV_SELF_REPORTED;
}

static void
explain(struct prov *p, const struct diff_change *c, struct finding *f)
{
	const struct htree_entry *e = c->e ? c->e : c->gold;
	int on_db_fs = p->fs >= 0 && strcmp(c->fs, htree_fs(p->cur, (size_t)p->fs)->name) == 0;
	unsigned char d[32];
	struct pkg *k = NULL;

	memset(f, 0, sizeof(*f));
	f->reason = PROV_NOT_PACKAGED;
	f->trust = PROV_SELF_REPORTED;
	if (on_db_fs && database_file(p, e->path, e->path_len, &k)) {
		f->pkg = k;
		if (k ? k->changed : p->nchanged > 0) {
			f->reason = PROV_PACKAGE_DATABASE;
			return;
		}
		/* Unchanged versions, changed records: edited by hand, or by an attacker. */
		f->reason = k ? PROV_DATABASE_EDITED : PROV_NOT_PACKAGED;
		f->note = p->gold_vers ? NULL : "the baseline has no package rows to compare";
		return;
	}
	if (on_db_fs)
		f->pkg = owner_of(p, e->path, e->path_len, &f->listed, &f->listed_len);
	if (f->pkg) {
		explain_packaged(p, c, f);
		return;
	}
	if (kg_digest(e, d) < 0 || c->cls == DIFF_METADATA)
		return;
	if (c->cls == DIFF_DELETED) {
		/* Shipped by the gold's version of a package that has changed version since. */
		f->kg = vouch(p, e->path, e->path_len, kg_type_of(e), d, NULL, NULL, &f->kg_set);
		if (f->kg && f->kg->package[0] && p->gold_vers) {
			const char *gv =
				json_string_value(json_object_get(p->gold_vers, f->kg->package));
			const char *iv =
				json_string_value(json_object_get(p->versions, f->kg->package));
			if (gv && strcmp(gv, f->kg->version) == 0 &&
			    (iv == NULL || strcmp(iv, gv))) {
				f->reason = PROV_PACKAGE_DROPPED;
				f->trust = PROV_CORROBORATED;
				return;
			}
		}
		f->kg = NULL;
		return;
	}
	f->kg = vouch(p, e->path, e->path_len, kg_type_of(e), d, NULL, NULL, &f->kg_set);
	if (f->kg) {
		f->reason = PROV_KNOWN_GOOD;
		f->trust = PROV_CORROBORATED;
	}
}

static void
add_flag(json_t *ev, const char *flag)
{
	json_t *flags = json_object_get(ev, "flags");

	if (flags == NULL) {
		flags = json_array();
		json_object_set_new(ev, "flags", flags);
	}
	json_array_append_new(flags, json_string(flag));
}

int
prov_explain(struct prov *p, const struct diff_change *c, json_t *ev, struct dt_err *err)
{
	struct finding f;
	json_t *o = json_object(), *by;
	int explained;

	if (o == NULL || ev == NULL) {
		json_decref(o);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	explain(p, c, &f);
	explained = f.reason < PROV_FIRST_UNEXPLAINED;
	p->st.reasons[f.reason]++;
	json_object_set_new(o, "reason", json_string(reason_names[f.reason]));
	json_object_set_new(o, "explained", json_boolean(explained));
	if (explained) {
		p->st.trust[f.trust]++;
		json_object_set_new(o, "trust",
				    json_string(f.trust == PROV_CORROBORATED ? "corroborated"
									     : "self-reported"));
		by = json_array();
		if (f.by_gold)
			json_array_append_new(by, json_string("gold_digests"));
		if (f.by_kg || f.reason == PROV_KNOWN_GOOD || f.reason == PROV_PACKAGE_DROPPED)
			json_array_append_new(by, json_string("known_good"));
		json_object_set_new(o, "corroborated_by", by);
	}
	if (f.pkg) {
		json_object_set_new(o, "package", json_string(f.pkg->name));
		json_object_set_new(o, "version",
				    f.pkg->version ? json_string(f.pkg->version) : json_null());
		json_object_set_new(o, "gold_version",
				    f.pkg->gold_version ? json_string(f.pkg->gold_version)
							: json_null());
		json_object_set_new(o, "version_changed",
				    p->gold_vers ? json_boolean(f.pkg->changed) : json_null());
	}
	if (f.kg) {
		json_t *k = json_object();
		json_object_set_new(k, "set", json_string(p->names[f.kg_set]));
		json_object_set_new(k, "path", json_string(f.kg->path));
		if (f.kg->package[0]) {
			json_object_set_new(k, "package", json_string(f.kg->package));
			json_object_set_new(k, "version", json_string(f.kg->version));
		}
		json_object_set_new(o, "known_good", k);
	}
	if (f.conffile)
		json_object_set_new(o, "conffile", json_true());
	if (f.note)
		json_object_set_new(o, "note", json_string(f.note));
	if (f.reason == PROV_PACKAGE_VERIFIED)
		add_flag(ev, "package_verified");
	if (f.reason == PROV_PACKAGE_MISMATCH)
		add_flag(ev, "package_mismatch");
	if (f.kg)
		add_flag(ev, "known_good");
	json_object_set_new(ev, "provenance", o);
	return (int)f.reason;
}

int
prov_event_explained(const json_t *ev)
{
	return json_is_true(json_object_get(json_object_get(ev, "provenance"), "explained"));
}

json_t *
prov_summary(const struct prov *p)
{
	json_t *s = json_object(), *ex = json_object(), *un = json_object(), *sets = json_array();
	uint64_t ne = 0, nu = 0;

	for (int r = 0; r < PROV_NREASONS; r++) {
		if (r < PROV_FIRST_UNEXPLAINED) {
			ne += p->st.reasons[r];
			json_object_set_new(ex, reason_names[r],
					    json_integer((json_int_t)p->st.reasons[r]));
		} else {
			nu += p->st.reasons[r];
			json_object_set_new(un, reason_names[r],
					    json_integer((json_int_t)p->st.reasons[r]));
		}
	}
	json_object_set_new(ex, "total", json_integer((json_int_t)ne));
	json_object_set_new(un, "total", json_integer((json_int_t)nu));
	for (size_t i = 0; i < p->nsets; i++)
		json_array_append_new(sets, json_pack("{s:s, s:I}", "path", p->names[i], "entries",
						      (json_int_t)kg_count(p->sets[i])));
	json_object_set_new(s, "explained", ex);
	json_object_set_new(s, "unexplained", un);
	json_object_set_new(s, "trust",
			    json_pack("{s:I, s:I}", "self-reported",
				      (json_int_t)p->st.trust[PROV_SELF_REPORTED], "corroborated",
				      (json_int_t)p->st.trust[PROV_CORROBORATED]));
	json_object_set_new(s, "dpkg",
			    p->fs >= 0 ? json_pack("{s:s, s:I, s:I, s:b}", "fs",
						   htree_fs(p->cur, (size_t)p->fs)->name,
						   "packages", (json_int_t)p->npkgs,
						   "version_changed", (json_int_t)p->nchanged,
						   "gold_versions", p->gold_vers != NULL)
				       : json_null());
	json_object_set_new(s, "known_good", sets);
	json_object_set_new(s, "md5",
			    json_pack("{s:I, s:I, s:I}", "files", (json_int_t)p->st.md5_files,
				      "bytes", (json_int_t)p->st.md5_bytes, "unreadable",
				      (json_int_t)p->st.unreadable));
	return s;
}
