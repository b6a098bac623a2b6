/* t_htree.c - htree.h: sealing, node hashes, .dtree save and load, versions, damage. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "htree.h"
#include "t.h"
#include "t_trees.h"

TEST(t_htree_seal_orders_subtrees)
{
	struct htree *t = t_sample(1700000000000000000LL, "root:x:0:0::/root:/bin/sh\n");

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
	struct htree *a = t_sample(1700000000000000000LL, "root\n");
	struct htree *b = t_sample(1600000000123456789LL, "root\n");
	struct htree *c = t_sample(1700000000000000000LL, "root\nevil\n");

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
	t_tree_add(t, "/", HTREE_DIR, 0755, NULL, 1);
	t_tree_add(t, "/a/b", HTREE_REG, 0644, "x", 1);
	CHECK(htree_seal(t, &err) == -1 && err.code == DT_EFORMAT);
	htree_free(t);
}

TEST(t_htree_save_load_roundtrip)
{
	struct htree *t = t_sample(1700000000123456789LL, "root\n"), *u = NULL;
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
		for (int k = 0; k < HTREE_NTIMES; k++)
			CHECK(a->time_s[k] == b->time_s[k] && a->time_ns[k] == b->time_ns[k]);
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
	struct htree *t = t_sample(1700000000000000000LL, "root\n");
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

/* The tree saved to t.dtree with an image name of pad bytes (it lengthens the header); its size. */
static size_t
save_padded(size_t pad)
{
	struct htree *t = t_sample(1700000000000000000LL, "root\n");
	char *spec = malloc(pad + 1);
	size_t len = 0;

	memset(spec, 'a', pad);
	spec[pad] = '\0';
	CHECK(htree_set_image(t, spec, "raw", "none", 1, NULL) == 0);
	CHECK(htree_seal(t, NULL) == 0);
	CHECK(htree_save(t, "t.dtree", NULL, NULL) == 0);
	htree_free(t);
	free(spec);
	free(t_slurp("t.dtree", &len));
	return len;
}

/* htree_load() reads the file in 64 KiB pieces: a trailer (40 bytes) split across two of
 * them, or just past the first, is found all the same. */
TEST(t_htree_loads_trailer_across_reads)
{
	static const size_t ends[] = { 65536 + 1, 65536 + 20, 65536 + 39, 65536 + 40, 65536 + 41 };
	size_t base = save_padded(1);

	for (size_t k = 0; k < sizeof(ends) / sizeof(ends[0]); k++) {
		struct htree *u = NULL;
		struct dt_err err = { 0 };
		unsigned char want[32], *d;
		size_t len = save_padded(1 + ends[k] - base);

		REQUIRE(len == ends[k]);
		d = (unsigned char *)t_slurp("t.dtree", &len);
		REQUIRE(d != NULL);
		/* Oracle: the SHA-256 of all but the last 32 bytes is what those bytes say. */
		REQUIRE(EVP_Digest(d, len - 32, want, NULL, EVP_sha256(), NULL) == 1);
		CHECK(memcmp(want, d + len - 32, 32) == 0);
		free(d);
		CHECK(htree_load("t.dtree", &u, &err) == 0);
		CHECK(u && memcmp(htree_info(u)->digest, want, 32) == 0);
		htree_free(u);
	}
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
	struct htree *t = t_sample(1700000000000000000LL, "root\n");
	struct htree *u = resave_as(t, 1);

	REQUIRE(u != NULL);
	CHECK(htree_count(u) == 13 && htree_info(u)->major == 1);
	CHECK(memcmp(htree_get(u, 0)->sha256, htree_get(t, 0)->sha256, 32) == 0);
	htree_free(t);
	htree_free(u);
}

TEST(t_htree_keeps_block_run_digests)
{
	struct htree *t = t_sample(1700000000000000000LL, "root\n");
	struct htree *u;
	const struct htree_entry *e;
	size_t with = 0;

	memset(htree_at(t, 0)->runs, 0xab, 32); /* /etc/passwd, the first added */
	htree_at(t, 0)->flags |= HTREE_F_RUNS;
	u = resave_as(t, HTREE_VERSION_MAJOR);
	REQUIRE(u != NULL);
	CHECK(htree_info(u)->major == 2 && htree_info(u)->minor == HTREE_VERSION_MINOR);
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
	struct htree *t = t_sample(1700000000000000000LL, "root\n");
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

/* A saved t, its minor version set to minor (the trailer recomputed), loaded; or -1. */
static int
load_as_minor(struct htree *t, int minor, struct htree **u, struct dt_err *err)
{
	unsigned char *d, digest[32];
	unsigned int n;
	size_t len = 0;
	int rc;

	if (htree_save(t, "m.dtree", NULL, err) < 0)
		return -1;
	d = (unsigned char *)t_slurp("m.dtree", &len);
	if (d == NULL || len < 100) {
		free(d);
		return -1;
	}
	d[10] = (unsigned char)minor;
	EVP_Digest(d, len - 32, digest, &n, EVP_sha256(), NULL);
	memcpy(d + len - 32, digest, 32);
	rc = htree_load_mem(d, len, u, err);
	free(d);
	return rc;
}

TEST(t_htree_keeps_times_past_2262)
{
	/* ext4's last second, XFS bigtime's last ns, NTFS's first second, the bounds. */
	static const struct {
		int64_t s;
		uint32_t ns;
		const char *rfc;
	} v[] = {
		{ 15032385535LL, 500000000, "2446-05-10T22:38:55.500000000Z" },
		{ 16299260424LL, 999999999, "2486-07-02T20:20:24.999999999Z" },
		{ -11644473600LL, 1, "1601-01-01T00:00:00.000000001Z" },
		{ HTREE_TIME_MAX, 999999999, "9999-12-31T23:59:59.999999999Z" },
		{ HTREE_TIME_MIN, 0, "0000-01-01T00:00:00.000000000Z" },
	};
	struct htree *t = t_sample(1700000000000000000LL, "root\n"), *u = NULL;
	struct dt_err err = { 0 };
	char buf[40];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct htree_time tm = { v[i].s, v[i].ns };
		htree_format_time(tm, buf);
		CHECK(strcmp(buf, v[i].rfc) == 0);
		htree_set_time(htree_at(t, i), (enum htree_time_kind)(i % HTREE_NTIMES), tm);
	}
	/* Beyond the bounds: clamped, never wrapped. */
	CHECK(htree_time_make(HTREE_TIME_MAX + 1, 5).s == HTREE_TIME_MAX);
	CHECK(htree_time_make(INT64_MIN + 1, 5).s == HTREE_TIME_MIN);
	CHECK(htree_time_make(7, 1000000000).ns == 0);
	REQUIRE(htree_seal(t, NULL) == 0);
	REQUIRE(htree_save(t, "t.dtree", NULL, &err) == 0);
	REQUIRE(htree_load("t.dtree", &u, &err) == 0);
	CHECK(htree_info(u)->major == 2 && htree_info(u)->minor == 2);
	for (size_t i = 0; i < htree_count(t); i++)
		for (int k = 0; k < HTREE_NTIMES; k++)
			CHECK(htree_get(t, i)->time_s[k] == htree_get(u, i)->time_s[k] &&
			      htree_get(t, i)->time_ns[k] == htree_get(u, i)->time_ns[k]);
	htree_free(u);
	u = NULL;
	/* No 2.1 writer could store such a time: in a file that says 2.1 it is damage. */
	CHECK(load_as_minor(t, 1, &u, &err) == -1 && err.code == DT_EFORMAT && u == NULL);
	CHECK(strstr(err.msg, "time out of range") != NULL);
	htree_free(t);
}

TEST(t_htree_reads_2_1_trees_times)
{
	struct htree *t = t_sample(1700000000123456789LL, "root\n"), *u = NULL;
	struct dt_err err = { 0 };

	REQUIRE(htree_seal(t, NULL) == 0);
	REQUIRE(load_as_minor(t, 1, &u, &err) == 0);
	CHECK(htree_info(u)->minor == 1 && htree_count(u) == htree_count(t));
	for (size_t i = 0; i < htree_count(t); i++)
		for (int k = 0; k < HTREE_NTIMES; k++)
			CHECK(htree_get(t, i)->time_s[k] == htree_get(u, i)->time_s[k] &&
			      htree_get(t, i)->time_ns[k] == htree_get(u, i)->time_ns[k]);
	CHECK(htree_get(u, 1)->time_s[HTREE_MTIME] == 1700000000);
	htree_free(t);
	htree_free(u);
}

TEST(t_htree_sparse_kind_is_kept_and_hashed_apart)
{
	struct htree *t = t_sample(1700000000000000000LL, "root\n");
	struct htree *s = t_sample(1700000000000000000LL, "root\n");
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
