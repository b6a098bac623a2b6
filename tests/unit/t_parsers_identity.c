/*
 * t_parsers_identity.c - the parser table, path matching, the context, gunzip, and the
 * identity parsers (users ... sshd_configs).
 *
 * Most parser checks are data: tests/data/parsers/<table>/<case>.in is the file's bytes,
 * <case>.json the rows osquery gives for it (written from osquery's and glibc's code, not
 * from our output). Optional beside them: <case>.path (the file's path; else the table's
 * usual one), <case>.passwd (the image's passwd for the context; else DEFAULT_PASSWD) and
 * <case>.fs/ (the image's other files, for sudoers includes).
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "parsers.h"
#include "t.h"

#define DEFAULT_PASSWD                                    \
	"root:x:0:0:root:/root:/bin/bash\n"               \
	"alice:x:1000:1000:Alice:/home/alice:/bin/bash\n" \
	"bob:x:1001:1001:Bob:/home/bob/:/bin/sh\n"        \
	"nohome:x:1002:1002:::/usr/sbin/nologin\n"        \
	"slash:x:1003:1003::/:/usr/sbin/nologin\n"
#define FILE_UID 1234u /* the owner of every test file */

/* The tables this file covers, their usual path, and their columns in spec order. */
static const struct table_spec {
	const char *table, *path;
	const char *cols[10];
} specs[] = {
	{ "users",
	  "/etc/passwd",
	  { "uid", "gid", "uid_signed", "gid_signed", "username", "description", "directory",
	    "shell", "uuid" } },
	{ "groups", "/etc/group", { "gid", "gid_signed", "groupname" } },
	{ "user_groups", "/etc/group", { "uid", "gid" } },
	{ "shadow",
	  "/etc/shadow",
	  { "password_status", "hash_alg", "last_change", "min", "max", "warning", "inactive",
	    "expire", "flag", "username" } },
	{ "sudoers", "/etc/sudoers", { "source", "header", "rule_details" } },
	{ "authorized_keys",
	  "/home/alice/.ssh/authorized_keys",
	  { "uid", "algorithm", "key", "options", "comment", "key_file" } },
	{ "crontab",
	  "/etc/crontab",
	  { "event", "minute", "hour", "day_of_month", "month", "day_of_week", "command",
	    "path" } },
	{ "etc_hosts", "/etc/hosts", { "address", "hostnames" } },
	{ "etc_services", "/etc/services", { "name", "port", "protocol", "aliases", "comment" } },
	{ "ssh_configs", "/etc/ssh/ssh_config", { "uid", "block", "option", "ssh_config_file" } },
	{ "sshd_configs", "/etc/ssh/sshd_config", { "uid", "block", "option", "ssh_config_file" } },
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static int
is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* tests/data/parsers of the source tree: from $TOP, the starting $PWD, or above the binary. */
static int
data_dir(char *out, size_t n)
{
	const char *env[] = { getenv("TOP"), getenv("PWD") };
	char exe[PATH_MAX];
	ssize_t l;

	for (size_t i = 0; i < 2; i++) {
		if (env[i] == NULL)
			continue;
		if (snprintf(out, n, "%s/tests/data/parsers", env[i]) < (int)n && is_dir(out))
			return 0;
	}
	l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (l <= 0)
		return -1;
	exe[l] = '\0';
	for (char *s = strrchr(exe, '/'); s != NULL; s = strrchr(exe, '/')) {
		*s = '\0';
		if (snprintf(out, n, "%s/tests/data/parsers", exe) < (int)n && is_dir(out))
			return 0;
	}
	return -1;
}

/* The image of a case: files under <case>.fs/. */
struct fakefs {
	char root[PATH_MAX];
	int reads;
};

static int
fs_read(void *rctx, const char *path, unsigned char **data, size_t *len)
{
	struct fakefs *fs = rctx;
	char full[2 * PATH_MAX];

	fs->reads++;
	if (snprintf(full, sizeof(full), "%s%s", fs->root, path) >= (int)sizeof(full) ||
	    is_dir(full))
		return -1;
	*data = (unsigned char *)t_slurp(full, len);
	return *data ? 0 : -1;
}

static int
fs_list(void *rctx, const char *path, char ***names)
{
	struct fakefs *fs = rctx;
	char full[2 * PATH_MAX];
	struct dirent *de;
	int n = 0;
	DIR *d;

	if (snprintf(full, sizeof(full), "%s%s", fs->root, path) >= (int)sizeof(full) ||
	    (d = opendir(full)) == NULL)
		return -1;
	*names = NULL;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		*names = realloc(*names, (size_t)(n + 1) * sizeof(**names));
		(*names)[n++] = strdup(de->d_name);
	}
	closedir(d);
	return n;
}

static int
run(const char *table, const char *path, const void *data, size_t len, const struct parser_ctx *ctx,
    struct fakefs *fs, json_t *rows, struct dt_err *err)
{
	const struct parser *p = parsers_find(table);
	struct parser_input in;

	memset(&in, 0, sizeof(in));
	in.path = path;
	in.data = data;
	in.len = len;
	in.mode = 0100644;
	in.uid = FILE_UID;
	in.gid = FILE_UID;
	in.ctx = ctx;
	if (fs != NULL) {
		in.read_other = fs_read;
		in.list_dir = fs_list;
		in.rctx = fs;
	}
	memset(err, 0, sizeof(*err));
	return p ? p->fn(&in, rows, err) : -1;
}

/* Every row has exactly the spec's columns in the spec's order, all strings. */
static int
rows_shaped(const struct table_spec *s, json_t *rows)
{
	size_t i;
	json_t *row;

	json_array_foreach(rows, i, row)
	{
		void *it = json_object_iter(row);
		size_t c = 0;

		for (; it != NULL; it = json_object_iter_next(row, it), c++) {
			if (c >= 10 || s->cols[c] == NULL ||
			    strcmp(json_object_iter_key(it), s->cols[c]) != 0 ||
			    !json_is_string(json_object_iter_value(it)))
				return 0;
		}
		if (c < 10 && s->cols[c] != NULL)
			return 0;
	}
	return 1;
}

static char *
side_file(const char *dir, const char *base, const char *ext, size_t *len)
{
	char p[PATH_MAX];

	if (snprintf(p, sizeof(p), "%s/%s%s", dir, base, ext) >= (int)sizeof(p))
		return NULL;
	return t_slurp(p, len);
}

/* Run one case; 1 if it passed. */
static int
run_case(const struct table_spec *s, const char *dir, const char *base)
{
	char *in, *pathf, *passwd, *dump_got, *dump_want;
	char path[PATH_MAX];
	struct parser_ctx ctx;
	struct fakefs fs;
	json_error_t jerr;
	struct dt_err err;
	json_t *want, *got;
	size_t len, plen = 0;
	int ok;

	in = side_file(dir, base, ".in", &len);
	want = NULL;
	if (snprintf(path, sizeof(path), "%s/%s.json", dir, base) < (int)sizeof(path))
		want = json_load_file(path, 0, &jerr);
	if (in == NULL || want == NULL) {
		fprintf(stderr, "  %s/%s: cannot load the case\n", s->table, base);
		free(in);
		json_decref(want);
		return 0;
	}
	snprintf(path, sizeof(path), "%s", s->path);
	if ((pathf = side_file(dir, base, ".path", NULL)) != NULL) {
		pathf[strcspn(pathf, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s", pathf);
		free(pathf);
	}
	passwd = side_file(dir, base, ".passwd", &plen);
	if (passwd == NULL) {
		passwd = strdup(DEFAULT_PASSWD);
		plen = strlen(passwd);
	}
	if (snprintf(fs.root, sizeof(fs.root), "%s/%s.fs", dir, base) >= (int)sizeof(fs.root))
		fs.root[0] = '\0';
	fs.reads = 0;
	ok = parser_ctx_init(&ctx, (unsigned char *)passwd, plen, NULL, 0, &err) == 0;
	got = json_array();
	ok = ok && run(s->table, path, in, len, &ctx, &fs, got, &err) == 0;
	if (!ok)
		fprintf(stderr, "  %s/%s: parser failed: %s\n", s->table, base, err.msg);
	if (ok && !json_equal(got, want)) {
		dump_got = json_dumps(got, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		dump_want = json_dumps(want, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		fprintf(stderr, "  %s/%s: rows differ\n  want %s\n  got  %s\n", s->table, base,
			dump_want, dump_got);
		free(dump_got);
		free(dump_want);
		ok = 0;
	}
	if (ok && !rows_shaped(s, got)) {
		fprintf(stderr, "  %s/%s: columns not in spec order\n", s->table, base);
		ok = 0;
	}
	json_decref(got);
	json_decref(want);
	parser_ctx_release(&ctx);
	free(passwd);
	free(in);
	return ok;
}

TEST(t_parsers_identity_cases_match_osquery)
{
	char top[PATH_MAX];

	REQUIRE(data_dir(top, sizeof(top)) == 0);
	for (size_t i = 0; i < NSPECS; i++) {
		char dir[PATH_MAX + 64];
		struct dirent **ents;
		int n, ran = 0;

		n = -1;
		if (snprintf(dir, sizeof(dir), "%s/%s", top, specs[i].table) < (int)sizeof(dir))
			n = scandir(dir, &ents, NULL, alphasort);
		CHECK(n > 0);
		for (int k = 0; k < n; k++) {
			char base[256];
			size_t l = strlen(ents[k]->d_name);

			if (l > 3 && l < sizeof(base) &&
			    strcmp(ents[k]->d_name + l - 3, ".in") == 0) {
				memcpy(base, ents[k]->d_name, l - 3);
				base[l - 3] = '\0';
				CHECK(run_case(&specs[i], dir, base));
				ran++;
			}
			free(ents[k]);
		}
		if (n > 0)
			free(ents);
		/* Every table has cases: a missing directory must not pass quietly. */
		CHECK(ran > 0);
	}
}

TEST(t_parsers_table_is_complete)
{
	static const char *const partb[] = { "systemd_units", "startup_items", "deb_packages",
					     "rpm_packages",  "apt_sources",   "yum_sources",
					     "os_version",    "shell_history", "suid_bin",
					     "ld_preload" };
	size_t n = 0;

	for (const struct parser *p = parsers_table; p->table; p++, n++) {
		CHECK(p->fn != NULL && p->paths != NULL && p->paths[0] != NULL);
		CHECK(parsers_find(p->table) == p); /* names are unique */
		CHECK(p->meta_only == (strcmp(p->table, "suid_bin") == 0));
	}
	CHECK(n == NSPECS + sizeof(partb) / sizeof(partb[0]));
	for (size_t i = 0; i < NSPECS; i++)
		CHECK(parsers_find(specs[i].table) != NULL);
	for (size_t i = 0; i < sizeof(partb) / sizeof(partb[0]); i++)
		CHECK(parsers_find(partb[i]) != NULL);
	CHECK(parsers_find("nosuch") == NULL);
	CHECK(parsers_find(NULL) == NULL);
}

static int
has(const struct parser **out, size_t n, const char *table)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(out[i]->table, table) == 0)
			return 1;
	return 0;
}

static size_t
for_path(const char *path, const struct parser_ctx *ctx, const struct parser **out)
{
	return parsers_for_path(path, ctx, out, 32);
}

TEST(t_parsers_for_path_matches_globs_and_homes)
{
	const char *pw = DEFAULT_PASSWD "star:x:7:7::/home/*:/bin/sh\n";
	const struct parser *out[32];
	struct parser_ctx ctx;
	struct dt_err err = { 0 };
	size_t n;

	REQUIRE(parser_ctx_init(&ctx, (const unsigned char *)pw, strlen(pw), NULL, 0, &err) == 0);
	n = for_path("/etc/group", &ctx, out);
	CHECK(n == 2 && has(out, n, "groups") && has(out, n, "user_groups"));
	n = for_path("/etc/passwd", &ctx, out);
	CHECK(n == 1 && has(out, n, "users"));
	CHECK(for_path("/etc/cron.d/0hourly", &ctx, out) == 1 && has(out, 1, "crontab"));
	CHECK(for_path("/etc/cron.d/.placeholder", &ctx, out) == 1);
	CHECK(for_path("/var/spool/cron/crontabs/alice", &ctx, out) == 1);
	CHECK(for_path("/var/spool/cron/root", &ctx, out) == 1);
	/* '*' stays inside one component. */
	CHECK(for_path("/etc/cron.d/sub/x", &ctx, out) == 0);
	CHECK(for_path("/etc/sudoers.d/README", &ctx, out) == 1 && has(out, 1, "sudoers"));
	CHECK(for_path("/etc/ssh/sshd_config.d/50-cloud-init.conf", &ctx, out) == 1 &&
	      has(out, 1, "sshd_configs"));
	CHECK(for_path("/etc/ssh/sshd_config.d/notes.txt", &ctx, out) == 0);

	/* %%users.homedir%%: each home of ctx, "/" included, a trailing '/' joined once. */
	n = for_path("/home/alice/.ssh/authorized_keys", &ctx, out);
	CHECK(n == 1 && has(out, n, "authorized_keys"));
	CHECK(for_path("/home/bob/.ssh/authorized_keys2", &ctx, out) == 1);
	CHECK(for_path("/root/.ssh/config", &ctx, out) == 1 && has(out, 1, "ssh_configs"));
	CHECK(for_path("/.ssh/authorized_keys", &ctx, out) == 1);
	CHECK(for_path("/home/alice/.bash_history", &ctx, out) == 1 &&
	      has(out, 1, "shell_history"));
	/* Not a home of ctx, and never through an empty home or a home taken as a pattern. */
	CHECK(for_path("/home/carol/.ssh/authorized_keys", &ctx, out) == 0);
	CHECK(for_path("/home/alice/x/.ssh/authorized_keys", &ctx, out) == 0);
	CHECK(for_path(".ssh/authorized_keys", &ctx, out) == 0);
	CHECK(for_path("/srv/.ssh/authorized_keys", &ctx, out) == 0);
	CHECK(for_path("/home/*/.ssh/authorized_keys", &ctx, out) == 1);
	CHECK(for_path("/home/dave/.ssh/authorized_keys", &ctx, out) == 0);
	/* Without users, no per-user path matches; a fixed path still does. */
	CHECK(for_path("/home/alice/.ssh/authorized_keys", NULL, out) == 0);
	CHECK(for_path("/etc/hosts", NULL, out) == 1 && has(out, 1, "etc_hosts"));
	/* The suid walk reaches below the top directories. */
	CHECK(for_path("/tmp/a/b/c/evil", &ctx, out) == 1 && has(out, 1, "suid_bin"));
	CHECK(for_path("/usr/bin/passwd", &ctx, out) == 1);
	/* max bounds what is written. */
	CHECK(parsers_for_path("/etc/group", &ctx, out, 1) == 1);
	CHECK(for_path(NULL, &ctx, out) == 0);
	parser_ctx_release(&ctx);
}

TEST(t_parsers_ctx_reads_passwd_and_group_like_glibc)
{
	const char *pw = "# c\n  root:x:0:0:root:/root:/bin/bash\nbad:x:y:0::/:\n"
			 "+\nnohome:x:5:6\n";
	const char *gr = "root:x:0:\nbad:x::\nsudo:x:27:alice\n";
	struct parser_ctx ctx;
	struct dt_err err = { 0 };

	REQUIRE(parser_ctx_init(&ctx, (const unsigned char *)pw, strlen(pw),
				(const unsigned char *)gr, strlen(gr), &err) == 0);
	REQUIRE(ctx.nusers == 3 && ctx.ngroups == 2);
	CHECK(strcmp(ctx.users[0].name, "root") == 0 && strcmp(ctx.users[0].home, "/root") == 0);
	CHECK(strcmp(ctx.users[1].name, "+") == 0 && strcmp(ctx.users[1].home, "") == 0);
	CHECK(ctx.users[2].uid == 5 && ctx.users[2].gid == 6 && ctx.users[2].home[0] == '\0');
	CHECK(strcmp(ctx.groups[1].name, "sudo") == 0 && ctx.groups[1].gid == 27);
	parser_ctx_release(&ctx);
	parser_ctx_release(&ctx); /* a released context may be released again */

	/* Nothing at all, and garbage: no accounts, no failure. */
	CHECK(parser_ctx_init(&ctx, NULL, 0, NULL, 0, &err) == 0 && ctx.nusers == 0);
	parser_ctx_release(&ctx);
	CHECK(parser_ctx_init(&ctx, (const unsigned char *)"\0\xff\n:::\n", 7,
			      (const unsigned char *)"\n\n", 2, &err) == 0);
	CHECK(ctx.nusers == 0 && ctx.ngroups == 0);
	parser_ctx_release(&ctx);
}

/* printf 'hello\n' | gzip -n, and 'world\n' likewise (gzip 1.12). */
static const unsigned char gz_hello[] = { 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
					  0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xe7, 0x02, 0x00,
					  0x20, 0x30, 0x3a, 0x36, 0x06, 0x00, 0x00, 0x00 };
static const unsigned char gz_world[] = { 0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
					  0x03, 0x2b, 0xcf, 0x2f, 0xca, 0x49, 0xe1, 0x02, 0x00,
					  0xa8, 0x61, 0x38, 0xdd, 0x06, 0x00, 0x00, 0x00 };

static int
gunzip(const void *d, size_t n, size_t cap, char **out, size_t *len, enum dt_code *code)
{
	struct dt_err err = { 0 };
	unsigned char *o = NULL;
	int r = parsers_gunzip(d, n, cap, &o, len, &err);

	*code = err.code;
	if (out)
		*out = (char *)o;
	else
		free(o);
	return r;
}

TEST(t_parsers_gunzip_members_caps_and_damage)
{
	unsigned char two[sizeof(gz_hello) + sizeof(gz_world) + 8], bad[sizeof(gz_hello)];
	enum dt_code code;
	size_t len;
	char *out;

	REQUIRE(gunzip(gz_hello, sizeof(gz_hello), 100, &out, &len, &code) == 0);
	CHECK(len == 6 && memcmp(out, "hello\n", 6) == 0);
	free(out);

	/* Concatenated members (cat a.gz b.gz) inflate to the concatenation. */
	memcpy(two, gz_hello, sizeof(gz_hello));
	memcpy(two + sizeof(gz_hello), gz_world, sizeof(gz_world));
	REQUIRE(gunzip(two, sizeof(gz_hello) + sizeof(gz_world), 100, &out, &len, &code) == 0);
	CHECK(len == 12 && memcmp(out, "hello\nworld\n", 12) == 0);
	free(out);
	/* Zero padding after the last member is ignored; other trailing bytes are damage. */
	memset(two + sizeof(gz_hello) + sizeof(gz_world), 0, 8);
	CHECK(gunzip(two, sizeof(two), 100, NULL, &len, &code) == 0 && len == 12);
	two[sizeof(two) - 1] = 'x';
	CHECK(gunzip(two, sizeof(two), 100, NULL, &len, &code) == -1 && code == DT_EFORMAT);

	/* The cap: exactly enough works, one byte less is DT_ENOMEM. */
	CHECK(gunzip(gz_hello, sizeof(gz_hello), 6, NULL, &len, &code) == 0 && len == 6);
	CHECK(gunzip(gz_hello, sizeof(gz_hello), 5, NULL, &len, &code) == -1 && code == DT_ENOMEM);
	CHECK(gunzip(two, sizeof(gz_hello) + sizeof(gz_world), 11, NULL, &len, &code) == -1 &&
	      code == DT_ENOMEM);

	/* Truncation anywhere, a flipped CRC, a flipped body byte, not gzip at all. */
	for (size_t cut = 0; cut < sizeof(gz_hello); cut++)
		CHECK(gunzip(gz_hello, cut, 100, NULL, &len, &code) == -1 && code == DT_EFORMAT);
	memcpy(bad, gz_hello, sizeof(bad));
	bad[19] ^= 1;
	CHECK(gunzip(bad, sizeof(bad), 100, NULL, &len, &code) == -1 && code == DT_EFORMAT);
	memcpy(bad, gz_hello, sizeof(bad));
	bad[11] ^= 0x40;
	CHECK(gunzip(bad, sizeof(bad), 100, NULL, &len, &code) == -1 && code == DT_EFORMAT);
	CHECK(gunzip("hello\n", 6, 100, NULL, &len, &code) == -1 && code == DT_EFORMAT);
	CHECK(gunzip(NULL, 0, 100, NULL, &len, &code) == -1 && code == DT_EFORMAT);
}

TEST(t_parsers_gunzip_large_output_stops_at_cap)
{
	size_t n = 5u << 20, zn = compressBound(n) + 64, len;
	unsigned char *plain = calloc(1, n), *z = malloc(zn);
	enum dt_code code;
	z_stream zs;
	char *out;

	REQUIRE(plain && z);
	memset(&zs, 0, sizeof(zs));
	REQUIRE(deflateInit2(&zs, 9, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) == Z_OK);
	zs.next_in = plain;
	zs.avail_in = (uInt)n;
	zs.next_out = z;
	zs.avail_out = (uInt)zn;
	REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
	zn = zs.total_out;
	deflateEnd(&zs);
	/* A few KiB inflating to 5 MiB: the cap holds, and the full size comes back whole. */
	CHECK(gunzip(z, zn, 1u << 20, NULL, &len, &code) == -1 && code == DT_ENOMEM);
	REQUIRE(gunzip(z, zn, n, &out, &len, &code) == 0);
	CHECK(len == n && memcmp(out, plain, n) == 0);
	free(out);
	free(plain);
	free(z);
}

/* A few bytes of every sort, a 100k-character line, random garbage: no crash, and rows. */
TEST(t_parsers_identity_survive_hostile_input)
{
	size_t big = 100000, n;
	struct parser_ctx ctx;
	struct dt_err err = { 0 };
	unsigned char *buf;
	unsigned seed = 12345;

	REQUIRE(parser_ctx_init(&ctx, (const unsigned char *)DEFAULT_PASSWD, strlen(DEFAULT_PASSWD),
				NULL, 0, &err) == 0);
	buf = malloc(big + 64);
	REQUIRE(buf != NULL);
	for (size_t t = 0; t < NSPECS; t++) {
		const char *table = specs[t].table;
		json_t *rows = json_array();

		/* One long line: a field of 100000 'a's survives intact. */
		memset(buf, 'a', big);
		memcpy(buf + big, " b c d e f g\n", 13);
		CHECK(run(table, "/etc/x", buf, big + 13, &ctx, NULL, rows, &err) == 0);
		json_array_clear(rows);
		/* Random bytes, with newlines now and then. */
		for (int round = 0; round < 20; round++) {
			n = 4096;
			for (size_t i = 0; i < n; i++) {
				seed = seed * 1103515245u + 12345u;
				buf[i] = (unsigned char)(seed >> 16);
				if ((seed >> 8) % 17 == 0)
					buf[i] = '\n';
			}
			CHECK(run(table, "/etc/x", buf, n, &ctx, NULL, rows, &err) == 0);
			CHECK(rows_shaped(&specs[t], rows));
			json_array_clear(rows);
		}
		/* NULL data: no rows, but for each account's primary group (5 uids). */
		CHECK(run(table, "/etc/x", NULL, 0, &ctx, NULL, rows, &err) == 0);
		CHECK(json_array_size(rows) == (strcmp(table, "user_groups") == 0 ? 5u : 0u));
		json_decref(rows);
	}
	free(buf);
	parser_ctx_release(&ctx);
}

TEST(t_parsers_users_long_line_does_not_hide_later_accounts)
{
	/* osquery's 16 KiB getpwent_r buffer would end the table at the long line. */
	size_t big = 100000, n;
	struct dt_err err;
	json_t *rows = json_array(), *r;
	char *buf = malloc(big + 128);

	REQUIRE(buf && rows);
	n = (size_t)sprintf(buf, "long:x:1:1:");
	memset(buf + n, 'g', big);
	n += big;
	n += (size_t)sprintf(buf + n, ":/:/bin/sh\nafter:x:0:0::/root:/bin/sh\n");
	REQUIRE(run("users", "/etc/passwd", buf, n, NULL, NULL, rows, &err) == 0);
	REQUIRE(json_array_size(rows) == 2);
	r = json_array_get(rows, 0);
	CHECK(strlen(json_string_value(json_object_get(r, "description"))) == big);
	r = json_array_get(rows, 1);
	CHECK(strcmp(json_string_value(json_object_get(r, "username")), "after") == 0);
	json_decref(rows);
	free(buf);
}

/* A chain of includes: /n0 includes /n1 includes /n2 ... for ever. */
static int
chain_read(void *rctx, const char *path, unsigned char **data, size_t *len)
{
	int *reads = rctx, k;
	char *s;

	(*reads)++;
	if (sscanf(path, "/n%d", &k) != 1)
		return -1;
	s = malloc(64);
	snprintf(s, 64, "#include /n%d\nuser%d ALL=ALL\n", k + 1, k);
	*data = (unsigned char *)s;
	*len = strlen(s);
	return 0;
}

/* Every file includes itself by two spellings and a sibling: loops and a fan-out. */
static int
fan_read(void *rctx, const char *path, unsigned char **data, size_t *len)
{
	static const char body[] = "@include ./x\n@include ../etc/x\n@include /etc/y\n"
				   "@include /etc/x\n@includedir /etc\nrule ALL=ALL\n";
	int *reads = rctx;

	(void)path;
	(*reads)++;
	*data = (unsigned char *)strdup(body);
	*len = strlen(body);
	return 0;
}

static int
fan_list(void *rctx, const char *path, char ***names)
{
	(void)rctx;
	(void)path;
	*names = malloc(3 * sizeof(**names));
	(*names)[0] = strdup("x");
	(*names)[1] = strdup("y");
	(*names)[2] = strdup("z");
	return 3;
}

TEST(t_parsers_sudoers_nesting_and_loops_are_bounded)
{
	const struct parser *p = parsers_find("sudoers");
	struct parser_input in;
	struct dt_err err = { 0 };
	json_t *rows = json_array(), *last;
	int reads = 0;

	REQUIRE(p != NULL && rows != NULL);
	memset(&in, 0, sizeof(in));
	in.path = "/n0";
	in.data = (const unsigned char *)"#include /n1\nuser0 ALL=ALL\n";
	in.len = strlen((const char *)in.data);
	in.read_other = chain_read;
	in.rctx = &reads;
	/* sudoers(5): no more than 128 files nested; /n0 is the first. */
	REQUIRE(p->fn(&in, rows, &err) == 0);
	CHECK(reads == 127);
	CHECK(json_array_size(rows) == 2 * 128);
	last = json_array_get(rows, json_array_size(rows) - 1);
	CHECK(strcmp(json_string_value(json_object_get(last, "source")), "/n0") == 0);
	json_array_clear(rows);

	/* Self-includes stop at once; the fan-out stops at the cap on files read. */
	reads = 0;
	in.path = "/etc/x";
	in.data = (const unsigned char *)"@include /etc/y\n";
	in.len = strlen((const char *)in.data);
	in.read_other = fan_read;
	in.list_dir = fan_list;
	REQUIRE(p->fn(&in, rows, &err) == 0);
	CHECK(reads > 0 && reads <= 1024);
	CHECK(json_array_size(rows) > 0);
	json_decref(rows);
}
