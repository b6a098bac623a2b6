/* t_core.c - unit tests of buf, htree (.dtree) and diff on hand-built trees. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "buf.h"
#include "diff.h"
#include "htree.h"
#include "t.h"

/* ---- buf ---- */

TEST(t_buf_varint_roundtrip)
{
	struct buf b;
	uint64_t vals[] = { 0, 1, 127, 128, 300, 1ull << 32, UINT64_MAX };
	struct cursor c;

	buf_init(&b, 1024);
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++)
		REQUIRE(buf_add_varint(&b, vals[i], NULL) == 0);
	c.p = b.data;
	c.left = b.len;
	for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
		uint64_t v;
		CHECK(cur_varint(&c, &v) == 0 && v == vals[i]);
	}
	CHECK(c.left == 0);
	buf_release(&b);
}

TEST(t_buf_rejects_growth_past_limit)
{
	struct buf b;
	struct dt_err err = { 0 };

	buf_init(&b, 10);
	CHECK(buf_add(&b, "0123456789", 10, &err) == 0);
	CHECK(buf_addc(&b, 'x', &err) == -1 && err.code == DT_ENOMEM);
	buf_release(&b);
}

TEST(t_buf_grow_keeps_elements_and_refuses_overflow)
{
	uint64_t *v = NULL;
	size_t n = 0, cap = 0;
	struct dt_err err = { 0 };
	int ok = 1;

	for (uint64_t i = 0; i < 1000; i++) {
		REQUIRE(BUF_GROW(v, n + 1, cap, &err) == 0 && cap >= n + 1);
		v[n++] = i * 7;
	}
	for (size_t i = 0; i < n; i++)
		ok &= v[i] == i * 7;
	CHECK(ok);
	/* An element count whose byte size overflows: refused, the array left as it was. */
	size_t old = cap;
	CHECK(BUF_GROW(v, SIZE_MAX / 4, cap, &err) == -1 && err.code == DT_ENOMEM && cap == old);
	CHECK(v[999] == 999 * 7);
	free(v);
}

TEST(t_cursor_rejects_overlong_varint)
{
	unsigned char bad[11];
	struct cursor c = { bad, sizeof(bad) };
	uint64_t v;

	memset(bad, 0xff, sizeof(bad));
	CHECK(cur_varint(&c, &v) == -1);
	c.p = bad;
	c.left = 3; /* continuation bits to the end */
	CHECK(cur_varint(&c, &v) == -1);
}

/* ---- htree ---- */

static void
sha(const char *s, unsigned char out[32])
{
	unsigned int n;
	EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL);
}

static void
add(struct htree *t, const char *path, int type, unsigned mode, const char *content, int64_t mtime)
{
	struct htree_entry e;

	memset(&e, 0, sizeof(e));
	e.path = path;
	e.path_len = (uint32_t)strlen(path);
	e.type = (uint8_t)type;
	e.mode = mode;
	e.uid = 1000;
	e.gid = 1000;
	e.nlink = 1;
	e.inode = (uint64_t)(strlen(path) * 7 + (size_t)mtime);
	e.mtime = mtime;
	e.atime = mtime + 5;
	e.ctime = mtime + 7;
	e.crtime = HTREE_NO_TIME;
	if (type == HTREE_REG && content) {
		e.size = strlen(content);
		sha(content, e.sha256);
		e.flags = HTREE_F_HASHED;
	}
	if (type == HTREE_LNK) {
		e.link = content;
		e.link_len = (uint32_t)strlen(content);
	}
	if (htree_add(t, &e, NULL) < 0)
		abort();
}

/* A small tree: added out of order on purpose; dash is the path of the last file added. */
static struct htree *
sample_with(int64_t t0, const char *passwd, const char *dash)
{
	struct htree *t = htree_new();

	CHECK(htree_add_fs(t, "p1", "ext4", 1048576, 1 << 20, NULL) == 0);
	add(t, "/etc/passwd", HTREE_REG, 0644, passwd, t0);
	add(t, "/", HTREE_DIR, 0755, NULL, t0);
	add(t, "/etc", HTREE_DIR, 0755, NULL, t0);
	add(t, "/etc.d", HTREE_DIR, 0755, NULL, t0);
	add(t, "/etc/hosts", HTREE_REG, 0644, "127.0.0.1 localhost\n", t0 + 1);
	add(t, "/var", HTREE_DIR, 0755, NULL, t0);
	add(t, "/var/log", HTREE_DIR, 0755, NULL, t0);
	add(t, "/var/log/syslog", HTREE_REG, 0640, "line1\n", t0 + 2);
	add(t, "/usr", HTREE_DIR, 0755, NULL, t0);
	add(t, "/usr/bin", HTREE_DIR, 0755, NULL, t0);
	add(t, "/usr/bin/true", HTREE_REG, 0755,
	    "\x7f"
	    "ELFtrue",
	    t0);
	add(t, "/usr/bin/sh", HTREE_LNK, 0777, "dash", t0);
	add(t, dash, HTREE_REG, 0755,
	    "\x7f"
	    "ELFdash",
	    t0);
	return t;
}

static struct htree *
sample(int64_t t0, const char *passwd)
{
	return sample_with(t0, passwd, "/usr/bin/dash");
}

TEST(t_htree_seal_orders_subtrees)
{
	struct htree *t = sample(1700000000000000000LL, "root:x:0:0::/root:/bin/sh\n");

	REQUIRE(htree_seal(t, NULL) == 0);
	REQUIRE(htree_count(t) == 13);
	CHECK(strcmp(htree_get(t, 0)->path, "/") == 0);
	CHECK(strcmp(htree_get(t, 1)->path, "/etc") == 0);
	CHECK(strcmp(htree_get(t, 2)->path, "/etc/hosts") == 0);
	CHECK(strcmp(htree_get(t, 3)->path, "/etc/passwd") == 0);
	CHECK(strcmp(htree_get(t, 4)->path, "/etc.d") == 0); /* after /etc's subtree */
	CHECK(htree_get(t, 1)->end == 4);
	CHECK(htree_get(t, 0)->end == 13);
	CHECK(htree_find(t, 0, "/usr/bin/sh", 11) != NULL);
	CHECK(htree_find(t, 0, "/usr/bin/s", 10) == NULL);
	htree_free(t);
}

TEST(t_htree_node_hash_ignores_times_and_inodes)
{
	struct htree *a = sample(1700000000000000000LL, "root\n");
	struct htree *b = sample(1600000000123456789LL, "root\n");
	struct htree *c = sample(1700000000000000000LL, "root\nevil\n");

	REQUIRE(htree_seal(a, NULL) == 0 && htree_seal(b, NULL) == 0 && htree_seal(c, NULL) == 0);
	CHECK(memcmp(htree_get(a, 0)->sha256, htree_get(b, 0)->sha256, 32) == 0);
	CHECK(memcmp(htree_get(a, 0)->sha256, htree_get(c, 0)->sha256, 32) != 0);
	/* /usr is untouched by the passwd change. */
	CHECK(memcmp(htree_find(a, 0, "/usr", 4)->sha256, htree_find(c, 0, "/usr", 4)->sha256,
		     32) == 0);
	htree_free(a);
	htree_free(b);
	htree_free(c);
}

TEST(t_htree_rejects_orphan_entry)
{
	struct htree *t = htree_new();
	struct dt_err err = { 0 };

	CHECK(htree_add_fs(t, "p1", "ext4", 0, 0, NULL) == 0);
	add(t, "/", HTREE_DIR, 0755, NULL, 1);
	add(t, "/a/b", HTREE_REG, 0644, "x", 1);
	CHECK(htree_seal(t, &err) == -1 && err.code == DT_EFORMAT);
	htree_free(t);
}

TEST(t_htree_save_load_roundtrip)
{
	struct htree *t = sample(1700000000123456789LL, "root\n"), *u = NULL;
	struct dt_err err = { 0 };

	REQUIRE(htree_seal(t, NULL) == 0);
	REQUIRE(htree_save(t, "t.dtree", NULL, &err) == 0);
	REQUIRE(htree_load("t.dtree", &u, &err) == 0);
	REQUIRE(htree_count(u) == htree_count(t));
	for (size_t i = 0; i < htree_count(t); i++) {
		const struct htree_entry *a = htree_get(t, i), *b = htree_get(u, i);
		CHECK(a->path_len == b->path_len && memcmp(a->path, b->path, a->path_len) == 0);
		CHECK(a->type == b->type && a->mode == b->mode && a->uid == b->uid);
		CHECK(a->size == b->size && a->inode == b->inode);
		CHECK(a->mtime == b->mtime && a->atime == b->atime && a->ctime == b->ctime);
		CHECK(a->crtime == b->crtime);
		CHECK(memcmp(a->sha256, b->sha256, 32) == 0);
		CHECK((a->link == NULL) == (b->link == NULL));
	}
	CHECK(memcmp(htree_info(t)->digest, htree_info(u)->digest, 32) == 0);
	htree_free(t);
	htree_free(u);
}

static size_t
save_sample(unsigned char **data)
{
	struct htree *t = sample(1700000000000000000LL, "root\n");
	size_t len = 0;

	CHECK(htree_seal(t, NULL) == 0);
	CHECK(htree_save(t, "t.dtree", NULL, NULL) == 0);
	htree_free(t);
	*data = (unsigned char *)t_slurp("t.dtree", &len);
	return len;
}

TEST(t_htree_rejects_flipped_byte)
{
	unsigned char *d;
	size_t len = save_sample(&d);

	REQUIRE(d && len > 100);
	/* Every byte: a flipped bit anywhere is caught before anything is trusted. */
	for (size_t i = 0; i < len; i++) {
		struct htree *t = (struct htree *)1;
		struct dt_err err = { 0 };

		d[i] ^= 0x10;
		CHECK(htree_load_mem(d, len, &t, &err) == -1 && err.code == DT_EFORMAT &&
		      t == NULL);
		d[i] ^= 0x10;
	}
	free(d);
}

TEST(t_htree_rejects_truncation)
{
	unsigned char *d;
	size_t len = save_sample(&d);

	for (size_t n = 0; n < len; n += 7) {
		struct htree *t;
		struct dt_err err = { 0 };
		CHECK(htree_load_mem(d, n, &t, &err) == -1 && err.code == DT_EFORMAT);
	}
	free(d);
}

TEST(t_htree_rejects_newer_major_version)
{
	unsigned char *d, digest[32];
	unsigned int n;
	size_t len = save_sample(&d);
	struct htree *t;
	struct dt_err err = { 0 };

	d[8] = HTREE_VERSION_MAJOR + 1; /* major version, then a valid trailer for it */
	EVP_Digest(d, len - 32, digest, &n, EVP_sha256(), NULL);
	memcpy(d + len - 32, digest, 32);
	CHECK(htree_load_mem(d, len, &t, &err) == -1 && err.code == DT_EVERSION);
	free(d);
}

/* Save t (sealed here) as version major (its trailer made good again) and load it back. */
static struct htree *
resave_as(struct htree *t, int major)
{
	unsigned char *d, digest[32];
	unsigned int n;
	size_t len = 0;
	struct htree *u = NULL;

	CHECK(htree_seal(t, NULL) == 0);
	CHECK(htree_save(t, "t.dtree", NULL, NULL) == 0);
	d = (unsigned char *)t_slurp("t.dtree", &len);
	if (d == NULL || len < 100) {
		free(d);
		return NULL;
	}
	d[8] = (unsigned char)major;
	EVP_Digest(d, len - 32, digest, &n, EVP_sha256(), NULL);
	memcpy(d + len - 32, digest, 32);
	if (htree_load_mem(d, len, &u, NULL) < 0)
		u = NULL;
	free(d);
	return u;
}

TEST(t_htree_reads_major_1_trees)
{
	struct htree *t = sample(1700000000000000000LL, "root\n");
	struct htree *u = resave_as(t, 1);

	REQUIRE(u != NULL);
	CHECK(htree_count(u) == 13 && htree_info(u)->major == 1);
	CHECK(memcmp(htree_get(u, 0)->sha256, htree_get(t, 0)->sha256, 32) == 0);
	htree_free(t);
	htree_free(u);
}

TEST(t_htree_keeps_block_run_digests)
{
	struct htree *t = sample(1700000000000000000LL, "root\n");
	struct htree *u;
	const struct htree_entry *e;
	size_t with = 0;

	memset(htree_at(t, 0)->runs, 0xab, 32); /* /etc/passwd, the first added */
	htree_at(t, 0)->flags |= HTREE_F_RUNS;
	u = resave_as(t, HTREE_VERSION_MAJOR);
	REQUIRE(u != NULL);
	CHECK(htree_info(u)->major == 2 && htree_info(u)->minor == 1);
	e = htree_find(u, 0, "/etc/passwd", 11);
	REQUIRE(e != NULL);
	CHECK((e->flags & HTREE_F_RUNS) && e->runs[0] == 0xab && e->runs[31] == 0xab);
	for (size_t i = 0; i < htree_count(u); i++)
		with += (htree_get(u, i)->flags & HTREE_F_RUNS) != 0;
	CHECK(with == 1);
	/* Not part of any hash: a tree with the digest hashes as one without. */
	CHECK(memcmp(htree_get(u, 0)->sha256, htree_get(t, 0)->sha256, 32) == 0);
	htree_free(t);
	htree_free(u);
}

TEST(t_htree_2_0_trees_have_no_run_digests)
{
	struct htree *t = sample(1700000000000000000LL, "root\n");
	struct htree *u = NULL;
	unsigned char *d, digest[32];
	unsigned int n;
	size_t len = 0;

	htree_at(t, 0)->flags |= HTREE_F_RUNS;
	REQUIRE(htree_seal(t, NULL) == 0 && htree_save(t, "t.dtree", NULL, NULL) == 0);
	d = (unsigned char *)t_slurp("t.dtree", &len);
	REQUIRE(d && len > 100);
	d[10] = 0; /* minor 0: a tag-4 section is a later minor's, skipped */
	EVP_Digest(d, len - 32, digest, &n, EVP_sha256(), NULL);
	memcpy(d + len - 32, digest, 32);
	REQUIRE(htree_load_mem(d, len, &u, NULL) == 0);
	CHECK(htree_info(u)->minor == 0);
	for (size_t i = 0; i < htree_count(u); i++)
		CHECK(!(htree_get(u, i)->flags & HTREE_F_RUNS));
	free(d);
	htree_free(t);
	htree_free(u);
}

TEST(t_htree_sparse_kind_is_kept_and_hashed_apart)
{
	struct htree *t = sample(1700000000000000000LL, "root\n");
	struct htree *s = sample(1700000000000000000LL, "root\n");
	struct htree *u, *v;
	const struct htree_entry *e;

	htree_at(s, 0)->flags |= HTREE_F_SPARSE; /* /etc/passwd, the first added */
	REQUIRE(htree_seal(t, NULL) == 0);
	u = resave_as(s, HTREE_VERSION_MAJOR);
	REQUIRE(u != NULL);
	e = htree_find(u, 0, "/etc/passwd", 11);
	REQUIRE(e != NULL);
	CHECK((e->flags & (HTREE_F_HASHED | HTREE_F_SPARSE)) == (HTREE_F_HASHED | HTREE_F_SPARSE));
	CHECK(memcmp(e->sha256, htree_find(t, 0, "/etc/passwd", 11)->sha256, 32) == 0);
	/* The same 32 bytes as a sparse-sha256 and as a sha256: the root hashes differ. */
	CHECK(memcmp(htree_get(u, 0)->sha256, htree_get(t, 0)->sha256, 32) != 0);
	/* A 1.x tree has no sparse kind: the bit is not trusted there. */
	v = resave_as(u, 1);
	REQUIRE(v != NULL);
	e = htree_find(v, 0, "/etc/passwd", 11);
	CHECK(e && !(e->flags & HTREE_F_SPARSE));
	CHECK(memcmp(htree_get(v, 0)->sha256, htree_get(t, 0)->sha256, 32) == 0);
	htree_free(t);
	htree_free(s);
	htree_free(u);
	htree_free(v);
}

TEST(t_htree_rejects_foreign_file)
{
	struct htree *t;
	struct dt_err err = { 0 };

	REQUIRE(t_write("x", "PK\3\4 not a tree at all", 22) == 0);
	CHECK(htree_load("x", &t, &err) == -1 && err.code == DT_EFORMAT);
	REQUIRE(t_write("empty", "", 0) == 0);
	dt_clear(&err);
	CHECK(htree_load("empty", &t, &err) == -1 && err.code == DT_EFORMAT);
}

/* ---- diff ---- */

struct seen {
	char line[64][128];
	int n;
};

static int
collect(void *ctx, const struct diff_change *c, struct dt_err *err)
{
	struct seen *s = ctx;
	const struct htree_entry *e = c->e ? c->e : c->gold;
	char flags[64] = "";

	(void)err;
	for (unsigned f = 1; f < (1u << DIFF_NFLAGS); f <<= 1)
		if (c->flags & f) {
			strncat(flags, ",", sizeof(flags) - strlen(flags) - 1);
			strncat(flags, diff_flag_name(f), sizeof(flags) - strlen(flags) - 1);
		}
	if (s->n < 64)
		snprintf(s->line[s->n++], 128, "%s %s%s", diff_class_name(c->cls), e->path, flags);
	return 0;
}

static int
has(const struct seen *s, const char *line)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->line[i], line) == 0)
			return 1;
	return 0;
}

TEST(t_diff_reports_each_class_once)
{
	struct htree *g = sample(1700000000000000000LL, "root\n");
	struct htree *c = htree_new();
	struct seen s = { .n = 0 };
	struct diff_stats st;
	int64_t t0 = 1700000000000000000LL;
	struct htree_entry *e;

	CHECK(htree_add_fs(c, "p1", "ext4", 1048576, 1 << 20, NULL) == 0);
	add(c, "/", HTREE_DIR, 0755, NULL, t0 + 99);
	add(c, "/etc", HTREE_DIR, 0700, NULL, t0 + 99);                  /* metadata */
	add(c, "/etc/passwd", HTREE_REG, 0644, "root\nevil\n", t0 + 50); /* appended */
	add(c, "/etc/hosts", HTREE_REG, 0644, "10.0.0.1 x\n", t0);       /* modified, stomped */
	add(c, "/etc.d", HTREE_REG, 0644, "now a file", t0);             /* type */
	add(c, "/var", HTREE_DIR, 0755, NULL, t0 + 99);
	add(c, "/var/log", HTREE_DIR, 0755, NULL, t0 + 99); /* child changed: not reported */
	add(c, "/var/log/syslog", HTREE_REG, 0640, "xxxxx\n", t0 + 60); /* edited log */
	add(c, "/usr", HTREE_DIR, 0755, NULL, t0);
	add(c, "/usr/bin", HTREE_DIR, 0755, NULL, t0);
	add(c, "/usr/bin/true", HTREE_REG, 04755,
	    "\x7f"
	    "ELFtrue",
	    t0);                                            /* suid added */
	add(c, "/usr/bin/sh", HTREE_LNK, 0777, "bash", t0); /* link retarget */
	add(c, "/usr/bin/.dash", HTREE_REG, 0755,
	    "\x7f"
	    "ELFdash",
	    t0);                                    /* renamed */
	add(c, "/tmp", HTREE_DIR, 01777, NULL, t0); /* added */
	/* The walk computes the prefix hash of /etc/passwd for the gold's length. */
	{
		unsigned char p[32];

		sha("root\n", p);
		REQUIRE(htree_set_prefix(c, 2, p, 5, NULL) == 0);
	}
	e = htree_at(c, 7);
	sha("line1\n", e->sha256); /* same length, other bytes */
	sha("xxxxx\n", e->sha256);
	e->flags |= HTREE_F_PREFIX;
	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, &st, NULL) == 0);
	CHECK(has(&s, "metadata /etc"));
	CHECK(has(&s, "appended /etc/passwd"));
	CHECK(has(&s, "modified /etc/hosts,timestomp_suspected"));
	CHECK(has(&s, "type /etc.d"));
	CHECK(has(&s, "modified /var/log/syslog,truncated_log"));
	CHECK(has(&s, "metadata /usr/bin/true,suid_added,executable"));
	CHECK(has(&s, "metadata /usr/bin/sh"));
	CHECK(has(&s, "renamed /usr/bin/.dash,executable,hidden"));
	CHECK(has(&s, "added /tmp"));
	CHECK(s.n == 9);
	CHECK(st.count[DIFF_METADATA] == 3 && st.count[DIFF_RENAMED] == 1);
	htree_free(g);
	htree_free(c);
}

TEST(t_diff_skips_equal_subtrees)
{
	struct htree *g = sample(1700000000000000000LL, "root\n");
	struct htree *c = sample(1600000000000000000LL, "root\n");
	struct seen s = { .n = 0 };
	struct diff_stats st;

	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, &st, NULL) == 0);
	CHECK(s.n == 0);
	CHECK(st.skipped_entries == htree_count(c) - 1);
	htree_free(g);
	htree_free(c);
}

TEST(t_diff_compares_like_hash_kinds)
{
	struct htree *g = sample(1700000000000000000LL, "root\n");
	struct htree *c = sample(1700000000000000000LL, "root\n");
	struct htree *r = sample_with(1700000000000000000LL, "root\n", "/usr/bin/dash2");
	struct seen s = { .n = 0 };
	struct diff_stats st;

	/* /etc/passwd: sparse-sha256 on both sides, equal. /etc/hosts: the same 32 bytes as a
	 * sha256 in the gold and a sparse-sha256 here, same size: unknown, not modified. */
	htree_at(g, 0)->flags |= HTREE_F_SPARSE;
	htree_at(c, 0)->flags |= HTREE_F_SPARSE;
	htree_at(c, 4)->flags |= HTREE_F_SPARSE;
	/* The same bytes under another name, but of the other kind: no rename. */
	htree_at(r, 12)->flags |= HTREE_F_SPARSE;
	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0 && htree_seal(r, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, &st, NULL) == 0);
	CHECK(s.n == 0);
	s.n = 0;
	htree_free(c);
	c = sample(1700000000000000000LL, "root\n");
	REQUIRE(htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(c, r, collect, &s, &st, NULL) == 0);
	CHECK(has(&s, "added /usr/bin/dash2,executable"));
	CHECK(st.count[DIFF_DELETED] == 1 && st.count[DIFF_RENAMED] == 0);
	htree_free(g);
	htree_free(c);
	htree_free(r);
}

/* Two trees of one filesystem, the same files; the caller edits the incident's entries. */
static void
pair(struct htree **g, struct htree **c)
{
	static const struct {
		const char *path;
		int type;
		unsigned mode;
		const char *content;
	} files[] = {
		{ "/", HTREE_DIR, 0755, NULL },
		{ "/etc", HTREE_DIR, 0755, NULL },
		{ "/etc/shadow", HTREE_REG, 0640, "root:*:1::::::\n" },
		{ "/etc/motd", HTREE_REG, 0644, "hello\n" },
		{ "/etc/ssh", HTREE_DIR, 0755, NULL },
		{ "/etc/ssh/ssh_host_ed25519_key", HTREE_REG, 0600, "private\n" },
		{ "/etc/ssh/ssh_host_ed25519_key.pub", HTREE_REG, 0600, "public\n" },
		{ "/srv", HTREE_DIR, 0755, NULL },
		{ "/srv/app-data", HTREE_REG, 0644, "one\ntwo\n" },
		{ "/srv/tool", HTREE_REG, 0755,
		  "\x7f"
		  "ELF tool" },
		{ "/var", HTREE_DIR, 0755, NULL },
		{ "/var/log", HTREE_DIR, 0755, NULL },
		{ "/var/log/app", HTREE_REG, 0644, "one\ntwo\n" },
		{ "/var/log/sub", HTREE_DIR, 0755, NULL },
		{ "/var/log/sub/.app", HTREE_REG, 0644, "one\ntwo\n" },
		{ "/var/log/sub/data", HTREE_REG, 0644, "unreadable, but the same\n" },
	};
	struct htree *t[2] = { htree_new(), htree_new() };

	for (int k = 0; k < 2; k++) {
		CHECK(htree_add_fs(t[k], "p1", "ext4", 1048576, 1 << 20, NULL) == 0);
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			add(t[k], files[i].path, files[i].type, files[i].mode, files[i].content,
			    1700000000000000000LL);
	}
	*g = t[0];
	*c = t[1];
}

static struct htree_entry *
at(struct htree *t, const char *path)
{
	for (size_t i = 0; i < htree_count(t); i++)
		if (strcmp(htree_at(t, i)->path, path) == 0)
			return htree_at(t, i);
	abort();
}

TEST(t_diff_flags_widened_permissions_and_root_owner)
{
	struct htree *g, *c;
	struct seen s = { .n = 0 };

	pair(&g, &c);
	at(c, "/etc/shadow")->mode = 0644;                       /* other read on a secret */
	at(c, "/etc/motd")->mode = 0664;                         /* group write */
	at(c, "/etc/ssh/ssh_host_ed25519_key")->mode = 0640;     /* group read on a key */
	at(c, "/etc/ssh/ssh_host_ed25519_key.pub")->mode = 0644; /* read on a public key */
	at(c, "/srv")->mode = 0757;                              /* other write on a folder */
	at(c, "/srv/tool")->mode = 0700;                         /* narrowed */
	at(c, "/srv/app-data")->uid = 0;                         /* chown root */
	at(c, "/var/log/app")->gid = 0;                          /* chgrp root */
	at(g, "/var/log/sub/.app")->uid = 0;                     /* root to a user: not flagged */
	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, NULL, NULL) == 0);
	CHECK(has(&s, "metadata /etc/shadow,permissions_widened"));
	CHECK(has(&s, "metadata /etc/motd,permissions_widened"));
	CHECK(has(&s, "metadata /etc/ssh/ssh_host_ed25519_key,permissions_widened"));
	CHECK(has(&s, "metadata /etc/ssh/ssh_host_ed25519_key.pub"));
	CHECK(has(&s, "metadata /srv,permissions_widened"));
	CHECK(has(&s, "metadata /srv/tool,executable"));
	CHECK(has(&s, "metadata /srv/app-data,owner_to_root"));
	CHECK(has(&s, "metadata /var/log/app,owner_to_root"));
	CHECK(has(&s, "metadata /var/log/sub/.app,hidden"));
	CHECK(s.n == 9);
	htree_free(g);
	htree_free(c);
}

TEST(t_diff_reports_unread_content_from_what_is_known)
{
	struct htree *g, *c;
	struct seen s = { .n = 0 };
	struct diff_stats st;
	struct htree_entry *e;

	pair(&g, &c);
	/* Unread now, other size: modified. Unread now, same size: metadata. */
	e = at(c, "/etc/motd");
	e->flags = HTREE_F_READERR;
	e->size = 100;
	at(c, "/srv/tool")->flags = HTREE_F_READERR;
	/* Unread in the gold only. */
	at(g, "/etc/shadow")->flags = HTREE_F_READERR;
	/* Unread on both sides, in a folder whose node hash is the gold's. */
	at(g, "/var/log/sub/data")->flags = HTREE_F_READERR;
	at(c, "/var/log/sub/data")->flags = HTREE_F_READERR;
	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, &st, NULL) == 0);
	CHECK(has(&s, "modified /etc/motd,timestomp_suspected,content_unread"));
	CHECK(has(&s, "metadata /srv/tool,executable,content_unread"));
	CHECK(has(&s, "metadata /etc/shadow,content_unread"));
	CHECK(has(&s, "metadata /var/log/sub/data,content_unread"));
	CHECK(s.n == 4);
	CHECK(st.unread == 4 && st.count[DIFF_MODIFIED] == 1 && st.count[DIFF_METADATA] == 3);
	htree_free(g);
	htree_free(c);
}

/* Three names of one inode: a log under /var/log, a hidden name, a name elsewhere. */
TEST(t_diff_hard_links_share_flags)
{
	struct htree *g, *c;
	struct seen s = { .n = 0 };
	const char *names[] = { "/srv/app-data", "/var/log/app", "/var/log/sub/.app" };

	pair(&g, &c);
	for (int k = 0; k < 3; k++) {
		struct htree_entry *x = at(g, names[k]), *e = at(c, names[k]);
		x->inode = 77;
		x->nlink = 3;
		e->inode = 77;
		e->nlink = 3;
		e->size = 4; /* shrunk */
		sha("one\n", e->sha256);
		e->mtime += 1000;
	}
	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, NULL, NULL) == 0);
	CHECK(has(&s, "modified /srv/app-data,truncated_log"));
	CHECK(has(&s, "modified /var/log/app,truncated_log"));
	CHECK(has(&s, "modified /var/log/sub/.app,hidden,truncated_log"));
	CHECK(s.n == 3);
	htree_free(g);
	htree_free(c);
}

/* ---- source: opening beneath a dir: root ---- */

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source.h"

TEST(t_source_openat_beneath_follows_no_link)
{
	int root, fd;
	char deep[8192];
	size_t n = 0;

	REQUIRE(mkdir("root", 0755) == 0 && mkdir("root/real", 0755) == 0);
	REQUIRE(t_write("root/real/f", "x", 1) == 0 && t_write("outside", "y", 1) == 0);
	REQUIRE(symlink("real", "root/dirlink") == 0 && symlink("../outside", "root/out") == 0);
	REQUIRE(symlink("f", "root/real/flink") == 0);
	root = open("root", O_RDONLY | O_DIRECTORY);
	REQUIRE(root >= 0);
	fd = source_openat_beneath(root, "/real/f");
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(source_openat_beneath(root, "/dirlink/f") < 0);  /* a link on the way */
	CHECK(source_openat_beneath(root, "/real/flink") < 0); /* a link at the end */
	CHECK(source_openat_beneath(root, "/out") < 0);
	CHECK(source_openat_beneath(root, "/real/../../outside") < 0);
	CHECK(source_openat_beneath(root, "real/f") < 0); /* not absolute */
	/* Deeper than PATH_MAX: still opened, one component at a time. */
	REQUIRE(chdir("root") == 0);
	for (int i = 0; i < 40; i++) {
		static const char d[] =
			"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
			"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
		REQUIRE(mkdir(d, 0755) == 0 && chdir(d) == 0);
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "/%s", d);
	}
	REQUIRE(t_write("leaf", "z", 1) == 0);
	snprintf(deep + n, sizeof(deep) - n, "/leaf");
	fd = source_openat_beneath(root, deep);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	close(root);
}
