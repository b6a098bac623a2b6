/* t_knowngood.c - unit tests of known-good sets and the .kg file (knowngood.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "knowngood.h"
#include "t.h"

static void
digest_of(const char *s, unsigned char d[32])
{
	unsigned dl;

	EVP_Digest(s, strlen(s), d, &dl, EVP_sha256(), NULL);
}

/* A set of two packages' files and one hashdeep entry, sealed. */
static struct kg *
sample(void)
{
	struct kg *k = kg_new();
	struct kg_entry e = { 0 };
	struct dt_err err = { 0 };
	int bad = k == NULL;

	e.path = "/usr/bin/ls";
	e.package = "coreutils";
	e.version = "9.1-1";
	e.type = KG_REG;
	e.origin = KG_FROM_DEB;
	digest_of("ls 9.1", e.sha256);
	bad = bad || kg_add(k, &e, &err) < 0;
	e.version = "9.2-1";
	digest_of("ls 9.2", e.sha256);
	bad = bad || kg_add(k, &e, &err) < 0;
	bad = bad || kg_add(k, &e, &err) < 0; /* repeated: dropped by kg_seal */
	e.path = "/usr/share/doc/coreutils";
	e.type = KG_DIR;
	memset(e.sha256, 0, 32);
	bad = bad || kg_add(k, &e, &err) < 0;
	e.path = "/tmp/ref/tool";
	e.package = "";
	e.version = "";
	e.type = KG_REG;
	e.origin = KG_FROM_HASHDEEP;
	digest_of("tool", e.sha256);
	bad = bad || kg_add(k, &e, &err) < 0 || kg_seal(k, &err) < 0;
	if (bad) {
		kg_free(k);
		return NULL;
	}
	return k;
}

TEST(t_kg_vouches_by_path_for_debs_and_by_content_for_hashdeep)
{
	struct kg *k = sample();
	unsigned char d[32], zero[32] = { 0 };
	const struct kg_entry *e;

	REQUIRE(k != NULL);
	CHECK(kg_count(k) == 4);
	digest_of("ls 9.2", d);
	e = kg_vouch(k, "/usr/bin/ls", 11, KG_REG, d, "coreutils", "9.2-1");
	CHECK(e && strcmp(e->version, "9.2-1") == 0);
	/* The same content at another path is not what the package shipped there. */
	CHECK(kg_vouch(k, "/usr/bin/dir", 12, KG_REG, d, NULL, NULL) == NULL);
	/* A folder by its path, whatever the digest of every folder is. */
	CHECK(kg_vouch(k, "/usr/share/doc/coreutils", 24, KG_DIR, zero, NULL, NULL) != NULL);
	CHECK(kg_vouch(k, "/usr/share/doc/coreutilz", 24, KG_DIR, zero, NULL, NULL) == NULL);
	/* hashdeep entries name no package: any path with that content. */
	digest_of("tool", d);
	e = kg_vouch(k, "/opt/tool", 9, KG_REG, d, NULL, NULL);
	CHECK(e && e->origin == KG_FROM_HASHDEEP && e->package[0] == '\0');
	digest_of("not known", d);
	CHECK(kg_vouch(k, "/usr/bin/ls", 11, KG_REG, d, NULL, NULL) == NULL);
	kg_free(k);
}

TEST(t_kg_round_trips_and_rejects_damage)
{
	struct kg *k = sample(), *back = NULL;
	struct dt_err err = { 0 };
	unsigned char *data, digest[32];
	size_t len;
	unsigned dl;

	REQUIRE(k != NULL);
	REQUIRE(kg_save(k, "set.kg", NULL, &err) == 0);
	REQUIRE(kg_load("set.kg", &back, &err) == 0);
	CHECK(kg_count(back) == kg_count(k));
	for (size_t i = 0; i < kg_count(k) && i < kg_count(back); i++) {
		const struct kg_entry *a = kg_get(k, i), *b = kg_get(back, i);
		CHECK(strcmp(a->path, b->path) == 0 && strcmp(a->package, b->package) == 0 &&
		      strcmp(a->version, b->version) == 0 && a->type == b->type &&
		      a->origin == b->origin && memcmp(a->sha256, b->sha256, 32) == 0);
	}
	kg_free(back);
	data = (unsigned char *)t_slurp("set.kg", &len);
	REQUIRE(data != NULL && len > 72);
	/* One flipped byte anywhere: the trailer catches it before anything is parsed. */
	for (size_t off = 8; off < len; off += 7) {
		data[off] ^= 0x40;
		back = (struct kg *)1;
		memset(&err, 0, sizeof(err));
		CHECK(kg_load_mem(data, len, &back, &err) == -1 && err.code == DT_EFORMAT &&
		      back == NULL);
		data[off] ^= 0x40;
	}
	/* A truncated file, and a major version from the future (trailer made valid). */
	memset(&err, 0, sizeof(err));
	CHECK(kg_load_mem(data, len - 1, &back, &err) == -1 && err.code == DT_EFORMAT);
	data[8] = 2;
	EVP_Digest(data, len - 32, digest, &dl, EVP_sha256(), NULL);
	memcpy(data + len - 32, digest, 32);
	memset(&err, 0, sizeof(err));
	CHECK(kg_load_mem(data, len, &back, &err) == -1 && err.code == DT_EVERSION);
	/* Not a set at all. */
	memset(&err, 0, sizeof(err));
	CHECK(kg_load_mem((const unsigned char *)"hello", 5, &back, &err) == -1 &&
	      err.code == DT_EFORMAT);
	free(data);
	kg_free(k);
}

TEST(t_kg_imports_hashdeep_lists)
{
	static const char list[] =
		"%%%% HASHDEEP-1.0\n"
		"%%%% size,md5,sha256,filename\n"
		"## Invoked from: /tmp\n"
		"## $ hashdeep -c md5,sha256 -r x\n"
		"##\n"
		"5,0b26e313ed4a7ca6904b0e9369e5b957,"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855,/x/a,b\n";
	static const char nosha[] = "%%%% HASHDEEP-1.0\n%%%% size,md5,filename\n"
				    "5,0b26e313ed4a7ca6904b0e9369e5b957,/x/a\n";
	/* 64 characters, but not 64 hex digits: a space and an 'x' in the digest. */
	static const char badsha[] =
		"%%%% HASHDEEP-1.0\n%%%% size,sha256,filename\n"
		"5, e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85,/x/a\n";
	static const char xsha[] =
		"%%%% HASHDEEP-1.0\n%%%% size,sha256,filename\n"
		"5,e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8x5,/x/a\n";
	struct kg *k = NULL;
	struct dt_err err = { 0 };
	const struct kg_entry *e;

	REQUIRE(t_write("known.txt", list, sizeof(list) - 1) == 0);
	REQUIRE(kg_load("known.txt", &k, &err) == 0);
	REQUIRE(kg_count(k) == 1);
	e = kg_get(k, 0);
	/* The name is the last column, commas and all. */
	CHECK(strcmp(e->path, "/x/a,b") == 0 && e->origin == KG_FROM_HASHDEEP &&
	      e->sha256[0] == 0xe3 && e->sha256[31] == 0x55);
	kg_free(k);
	REQUIRE(t_write("nosha.txt", nosha, sizeof(nosha) - 1) == 0);
	memset(&err, 0, sizeof(err));
	CHECK(kg_load("nosha.txt", &k, &err) == -1 && err.code == DT_EFORMAT &&
	      strstr(err.msg, "sha256"));
	REQUIRE(t_write("badsha.txt", badsha, sizeof(badsha) - 1) == 0);
	memset(&err, 0, sizeof(err));
	CHECK(kg_load("badsha.txt", &k, &err) == -1 && err.code == DT_EFORMAT &&
	      strstr(err.msg, "bad sha256"));
	REQUIRE(t_write("xsha.txt", xsha, sizeof(xsha) - 1) == 0);
	memset(&err, 0, sizeof(err));
	CHECK(kg_load("xsha.txt", &k, &err) == -1 && err.code == DT_EFORMAT &&
	      strstr(err.msg, "bad sha256"));
}
