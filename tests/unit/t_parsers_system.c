/*
 * t_parsers_system.c - the system-table parsers (src/parsers/systemd.c, deb.c, rpm.c,
 * repos.c, os_version.c, shell.c).
 *
 * Most cases are data, in the format of the other parsers' cases: under
 * tests/data/parsers/<table>/, <case>.in is the file's bytes, <case>.path its path in the
 * image, <case>.json the rows expected (an array, every column present, in order), written
 * from osquery's semantics (not from this code's output). Optional: <case>.passwd and
 * <case>.group give the image's accounts (otherwise: root 0 /root, alice 1000 /home/alice,
 * bob 1001 /home/bob; groups root 0, shadow 42, alice 1000), <case>.fs/ the image's other
 * files (for read_other and list_dir: <case>.fs/etc/x is /etc/x), and <case>.meta the
 * file's metadata when it is not a plain root-owned 0644 file:
 *   { "mode": "120777", "uid": 0, "gid": 0,  mode in octal, type bits included
 *     "meta_only": true }                    data is NULL (suid_bin); no .in
 * The hostile-input tests feed every parser garbage and check that it neither crashes nor
 * emits a malformed row.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "parsers.h"
#include "parsers/parsers_int.h"
#include "t.h"

struct sys_table {
	const char *dir; /* under tests/data/parsers */
	parser_fn fn;
	const char *const *cols;
};

static const char *const c_systemd[] = { "id",           "description", "load_state",
					 "active_state", "sub_state",   "unit_file_state",
					 "following",    "object_path", "job_id",
					 "job_type",     "job_path",    "fragment_path",
					 "user",         "source_path", NULL };
static const char *const c_startup[] = { "name",   "path",   "args",     "type",
					 "source", "status", "username", NULL };
static const char *const c_deb[] = { "name",    "version",  "source", "size",
				     "arch",    "revision", "status", "maintainer",
				     "section", "priority", NULL };
static const char *const c_rpm[] = { "name",         "version", "release",       "source",
				     "size",         "sha1",    "arch",          "epoch",
				     "install_time", "vendor",  "package_group", NULL };
static const char *const c_apt[] = { "name",       "source",        "base_uri",
				     "release",    "version",       "maintainer",
				     "components", "architectures", NULL };
static const char *const c_yum[] = { "name",    "source",   "baseurl", "mirrorlist", "metalink",
				     "enabled", "gpgcheck", "gpgkey",  NULL };
static const char *const c_os[] = { "name",     "version", "major",    "minor",
				    "patch",    "build",   "platform", "platform_like",
				    "codename", "arch",    NULL };
static const char *const c_hist[] = { "uid", "time", "command", "history_file", NULL };
static const char *const c_suid[] = { "path", "username", "groupname", "permissions", NULL };
static const char *const c_preload[] = { "path", "library", "source", NULL };

static const struct sys_table sys_tables[] = {
	{ "systemd_units", parse_systemd_units, c_systemd },
	{ "startup_items", parse_startup_items, c_startup },
	{ "deb_packages", parse_deb_packages, c_deb },
	{ "rpm_packages", parse_rpm_packages, c_rpm },
	{ "apt_sources", parse_apt_sources, c_apt },
	{ "yum_sources", parse_yum_sources, c_yum },
	{ "os_version", parse_os_version, c_os },
	{ "shell_history", parse_shell_history, c_hist },
	{ "suid_bin", parse_suid_bin, c_suid },
	{ "ld_preload", parse_ld_preload, c_preload },
};
#define NTABLES (sizeof(sys_tables) / sizeof(sys_tables[0]))

/* The top of the tree, found before main() moves into each test's directory. */
static char sys_top[4096];

__attribute__((constructor)) static void
sys_find_top(void)
{
	const char *top = getenv("TOP");

	if (top && top[0])
		snprintf(sys_top, sizeof(sys_top), "%s", top);
	else if (getcwd(sys_top, sizeof(sys_top)) == NULL)
		sys_top[0] = '\0';
}

/* ---- the accounts ---- */

static char n_root[] = "root", n_alice[] = "alice", n_bob[] = "bob", n_shadow[] = "shadow";
static char h_root[] = "/root", h_alice[] = "/home/alice", h_bob[] = "/home/bob";
static struct parser_user sys_users[] = {
	{ n_root, h_root, 0, 0 },
	{ n_alice, h_alice, 1000, 1000 },
	{ n_bob, h_bob, 1001, 1001 },
};
static struct parser_group sys_groups[] = { { n_root, 0 }, { n_shadow, 42 }, { n_alice, 1000 } };
static const struct parser_ctx sys_ctx = { sys_users, 3, sys_groups, 3 };

/* ---- a fake image: the files under <case>.fs/ ---- */

struct fimg {
	char root[4096]; /* "" for no image */
};

static int
fimg_full(const struct fimg *img, const char *path, char *full, size_t n)
{
	return img->root[0] != '\0' && path[0] == '/' &&
	       snprintf(full, n, "%s%s", img->root, path) < (int)n;
}

static int
fimg_read(void *rctx, const char *path, unsigned char **data, size_t *len)
{
	struct fimg *img = rctx;
	char full[8192];
	struct stat st;

	if (!fimg_full(img, path, full, sizeof(full)) || stat(full, &st) != 0 ||
	    !S_ISREG(st.st_mode))
		return -1;
	*data = (unsigned char *)t_slurp(full, len);
	return *data ? 0 : -1;
}

static int
fimg_list(void *rctx, const char *path, char ***names)
{
	struct fimg *img = rctx;
	char full[8192], **v = NULL;
	struct dirent *de;
	int n = 0;
	DIR *d;

	*names = NULL;
	if (!fimg_full(img, path, full, sizeof(full)) || (d = opendir(full)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char **nv;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		nv = realloc(v, (size_t)(n + 1) * sizeof(*v));
		if (nv == NULL)
			break;
		v = nv;
		if ((v[n] = strdup(de->d_name)) == NULL)
			break;
		n++;
	}
	closedir(d);
	*names = v;
	return n;
}

static void
sys_input(struct parser_input *in, const char *path, const void *data, size_t len, struct fimg *img)
{
	memset(in, 0, sizeof(*in));
	in->path = path;
	in->data = data;
	in->len = len;
	in->mode = S_IFREG | 0644;
	in->ctx = &sys_ctx;
	if (img) {
		in->read_other = fimg_read;
		in->list_dir = fimg_list;
		in->rctx = img;
	}
}

/* Every row an object with exactly the table's columns in spec order, every value a string
 * without NUL. */
static int
rows_well_formed(json_t *rows, const char *const *cols)
{
	size_t i;
	json_t *row;

	if (!json_is_array(rows))
		return 0;
	json_array_foreach(rows, i, row)
	{
		void *it = json_object_iter(row);
		size_t c = 0;

		if (!json_is_object(row))
			return 0;
		for (; it != NULL; it = json_object_iter_next(row, it), c++) {
			json_t *v = json_object_iter_value(it);

			if (cols[c] == NULL || strcmp(json_object_iter_key(it), cols[c]) != 0 ||
			    !json_is_string(v) ||
			    memchr(json_string_value(v), '\0', json_string_length(v)))
				return 0;
		}
		if (cols[c] != NULL)
			return 0;
	}
	return 1;
}

/* ---- the data-driven cases ---- */

static char *
sys_path(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s%s%s", a, b, c);
	return p;
}

/* The file dir/base+ext: new (free()), or NULL when it does not exist. */
static char *
sys_slurp(const char *dir, const char *base, const char *ext, size_t *len)
{
	char *name = sys_path(base, ext, ""), *path = name ? sys_path(dir, "/", name) : NULL;
	char *data = path ? t_slurp(path, len) : NULL;

	free(name);
	free(path);
	return data;
}

/* Run the case dir/base.*; 1 if it passed. */
static int
sys_run_case(const struct sys_table *tb, const char *dir, const char *base)
{
	char *data = NULL, *path = NULL, *metatext = NULL, *want_text = NULL;
	char *passwd = NULL, *group = NULL;
	json_t *meta = NULL, *want = NULL, *rows = json_array();
	json_error_t jerr;
	struct parser_input in;
	struct parser_ctx ctx = { NULL, 0, NULL, 0 };
	struct fimg img = { "" };
	struct dt_err err = { 0 };
	size_t len = 0, plen = 0, pwlen = 0, grlen = 0, n;
	int ok = 0;

	path = sys_slurp(dir, base, ".path", &n);
	want_text = sys_slurp(dir, base, ".json", &n);
	metatext = sys_slurp(dir, base, ".meta", &n);
	if (rows == NULL || path == NULL || want_text == NULL) {
		fprintf(stderr, "  %s/%s: needs .path and .json\n", dir, base);
		goto out;
	}
	plen = strcspn(path, "\r\n");
	path[plen] = '\0';
	want = json_loads(want_text, 0, &jerr);
	if (!json_is_array(want)) {
		fprintf(stderr, "  %s/%s.json: not an array: %s\n", dir, base, jerr.text);
		goto out;
	}
	if (metatext && (meta = json_loads(metatext, 0, &jerr)) == NULL) {
		fprintf(stderr, "  %s/%s.meta: %s\n", dir, base, jerr.text);
		goto out;
	}
	if (!json_is_true(json_object_get(meta, "meta_only"))) {
		data = sys_slurp(dir, base, ".in", &len);
		if (data == NULL) {
			fprintf(stderr, "  %s/%s.in: cannot read\n", dir, base);
			goto out;
		}
	}
	if (snprintf(img.root, sizeof(img.root), "%s/%s.fs", dir, base) >= (int)sizeof(img.root))
		img.root[0] = '\0';
	sys_input(&in, path, data, len, &img);
	passwd = sys_slurp(dir, base, ".passwd", &pwlen);
	group = sys_slurp(dir, base, ".group", &grlen);
	if (passwd || group) {
		if (parser_ctx_init(&ctx, (unsigned char *)passwd, pwlen, (unsigned char *)group,
				    grlen, &err) < 0) {
			fprintf(stderr, "  %s/%s: accounts: %s\n", dir, base, err.msg);
			goto out;
		}
		in.ctx = &ctx;
	}
	if (json_is_string(json_object_get(meta, "mode")))
		in.mode = (uint32_t)strtoul(json_string_value(json_object_get(meta, "mode")), NULL,
					    8);
	if (json_is_integer(json_object_get(meta, "uid")))
		in.uid = (uint32_t)json_integer_value(json_object_get(meta, "uid"));
	if (json_is_integer(json_object_get(meta, "gid")))
		in.gid = (uint32_t)json_integer_value(json_object_get(meta, "gid"));
	if (tb->fn(&in, rows, &err) != 0) {
		fprintf(stderr, "  %s/%s: parser failed: %s\n", dir, base, err.msg);
		goto out;
	}
	if (!rows_well_formed(rows, tb->cols)) {
		fprintf(stderr, "  %s/%s: malformed rows\n", dir, base);
		goto out;
	}
	ok = json_equal(rows, want);
	if (!ok) {
		char *got = json_dumps(rows, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		char *exp = json_dumps(want, JSON_INDENT(1) | JSON_PRESERVE_ORDER);

		fprintf(stderr, "  %s/%s: rows differ\n  expected: %s\n  got: %s\n", dir, base,
			exp ? exp : "?", got ? got : "?");
		free(got);
		free(exp);
	}
out:
	parser_ctx_release(&ctx);
	json_decref(meta);
	json_decref(want);
	json_decref(rows);
	free(data);
	free(path);
	free(metatext);
	free(want_text);
	free(passwd);
	free(group);
	return ok;
}

TEST(t_parsers_system_data_cases)
{
	for (size_t i = 0; i < NTABLES; i++) {
		char *dir = sys_path(sys_top, "/tests/data/parsers/", sys_tables[i].dir);
		DIR *d;
		struct dirent *de;
		int ncases = 0;

		REQUIRE(dir != NULL);
		d = opendir(dir);
		if (d == NULL) {
			free(dir);
			SKIP("no tests/data/parsers (run from the top of the tree, or set TOP)");
		}
		while ((de = readdir(d)) != NULL) {
			size_t n = strlen(de->d_name);

			char base[256];

			if (n < 6 || n - 5 >= sizeof(base) ||
			    strcmp(de->d_name + n - 5, ".json") != 0)
				continue;
			memcpy(base, de->d_name, n - 5);
			base[n - 5] = '\0';
			ncases++;
			if (!sys_run_case(&sys_tables[i], dir, base))
				CHECK(!"data case failed (see above)");
		}
		closedir(d);
		if (ncases == 0)
			fprintf(stderr, "  %s: no cases\n", dir);
		CHECK(ncases > 0);
		free(dir);
	}
}

/* ---- behaviour that is easier to state in code ---- */

static json_t *
sys_parse(parser_fn fn, const struct parser_input *in, int *ret)
{
	json_t *rows = json_array();
	struct dt_err err = { 0 };

	*ret = rows ? fn(in, rows, &err) : -2;
	return rows;
}

static const char *
col(json_t *rows, size_t i, const char *name)
{
	return json_string_value(json_object_get(json_array_get(rows, i), name));
}

TEST(t_parsers_system_rejects_bad_arguments)
{
	struct parser_input in;
	struct dt_err err = { 0 };
	json_t *rows = json_array();

	for (size_t i = 0; i < NTABLES; i++) {
		dt_clear(&err);
		CHECK(sys_tables[i].fn(NULL, rows, &err) == -1 && err.code == DT_EUSAGE);
		sys_input(&in, NULL, "x", 1, NULL);
		dt_clear(&err);
		CHECK(sys_tables[i].fn(&in, rows, &err) == -1 && err.code == DT_EUSAGE);
		sys_input(&in, "/etc/x", "x", 1, NULL);
		dt_clear(&err);
		CHECK(sys_tables[i].fn(&in, NULL, &err) == -1 && err.code == DT_EUSAGE);
		sys_input(&in, "/etc/x", NULL, 5, NULL);
		dt_clear(&err);
		CHECK(sys_tables[i].fn(&in, rows, &err) == -1);
		sys_input(&in, "/etc/x", "x", (size_t)PARSERS_MAX_INPUT + 1, NULL);
		dt_clear(&err);
		CHECK(sys_tables[i].fn(&in, rows, &err) == -1 && err.code == DT_ENOMEM);
	}
	CHECK(json_array_size(rows) == 0);
	json_decref(rows);
}

TEST(t_parsers_system_appends_after_existing_rows)
{
	static const char hist[] = "a\nb\n";
	struct parser_input in;
	json_t *rows = json_array();
	struct dt_err err = { 0 };

	REQUIRE(rows != NULL);
	json_array_append_new(rows, json_string("earlier"));
	sys_input(&in, "/home/alice/.bash_history", hist, sizeof(hist) - 1, NULL);
	CHECK(parse_shell_history(&in, rows, &err) == 0);
	CHECK(json_array_size(rows) == 3);
	CHECK(json_is_string(json_array_get(rows, 0)));
	CHECK(strcmp(col(rows, 2, "command"), "b") == 0);
	json_decref(rows);
}

TEST(t_parsers_system_history_rows_for_every_account_of_the_home)
{
	static char n_toor[] = "toor";
	struct parser_user users[] = { { n_root, h_root, 0, 0 }, { n_toor, h_root, 4242, 0 } };
	struct parser_ctx ctx = { users, 2, NULL, 0 };
	static const char hist[] = "id\n";
	struct parser_input in;
	json_t *rows;
	int ret;

	sys_input(&in, "/root/.bash_history", hist, sizeof(hist) - 1, NULL);
	in.ctx = &ctx;
	rows = sys_parse(parse_shell_history, &in, &ret);
	CHECK(ret == 0 && json_array_size(rows) == 2);
	CHECK(strcmp(col(rows, 0, "uid"), "0") == 0 && strcmp(col(rows, 1, "uid"), "4242") == 0);
	json_decref(rows);

	/* In no account's home: the owner's uid. */
	sys_input(&in, "/srv/.bash_history", hist, sizeof(hist) - 1, NULL);
	in.uid = 77;
	rows = sys_parse(parse_shell_history, &in, &ret);
	CHECK(ret == 0 && json_array_size(rows) == 1 && strcmp(col(rows, 0, "uid"), "77") == 0);
	json_decref(rows);
}

TEST(t_parsers_system_history_linked_to_dev_null_has_no_rows)
{
	struct parser_input in;
	json_t *rows;
	int ret;

	sys_input(&in, "/home/alice/.bash_history", "/dev/null", 9, NULL);
	in.mode = S_IFLNK | 0777;
	rows = sys_parse(parse_shell_history, &in, &ret);
	CHECK(ret == 0 && json_array_size(rows) == 0);
	json_decref(rows);
}

TEST(t_parsers_system_lossy_utf8)
{
	static const char hist[] = "echo \xff\xc0 done\nnul\0byte\n";
	struct parser_input in;
	json_t *rows;
	int ret;

	sys_input(&in, "/home/bob/.bash_history", hist, sizeof(hist) - 1, NULL);
	rows = sys_parse(parse_shell_history, &in, &ret);
	REQUIRE(ret == 0 && json_array_size(rows) == 2);
	CHECK(strcmp(col(rows, 0, "command"), "echo \xef\xbf\xbd\xef\xbf\xbd done") == 0);
	CHECK(strcmp(col(rows, 1, "command"), "nul\xef\xbf\xbd"
					      "byte") == 0);
	json_decref(rows);
}

TEST(t_parsers_system_suid_without_accounts_is_numeric)
{
	struct parser_input in;
	json_t *rows;
	int ret;

	sys_input(&in, "/usr/bin/x", NULL, 0, NULL);
	in.ctx = NULL;
	in.mode = S_IFREG | 04755;
	in.uid = 0;
	in.gid = 0;
	rows = sys_parse(parse_suid_bin, &in, &ret);
	CHECK(ret == 0 && json_array_size(rows) == 1);
	CHECK(strcmp(col(rows, 0, "username"), "0") == 0);
	CHECK(strcmp(col(rows, 0, "groupname"), "0") == 0);
	json_decref(rows);

	/* A symbolic link carries no set-id bits of its own; a device neither. */
	in.mode = S_IFLNK | 06777;
	rows = sys_parse(parse_suid_bin, &in, &ret);
	CHECK(ret == 0 && json_array_size(rows) == 0);
	json_decref(rows);
	in.mode = S_IFCHR | 04755;
	rows = sys_parse(parse_suid_bin, &in, &ret);
	CHECK(ret == 0 && json_array_size(rows) == 0);
	json_decref(rows);
}

TEST(t_parsers_system_without_image_callbacks)
{
	/* No read_other/list_dir: state from the file alone, no Release enrichment. */
	static const char unit[] = "[Unit]\nDescription=X\n[Install]\nWantedBy=a.target\n";
	static const char src[] = "deb http://h.example.org/d s main\n";
	struct parser_input in;
	json_t *rows;
	int ret;

	sys_input(&in, "/lib/systemd/system/x.service", unit, sizeof(unit) - 1, NULL);
	rows = sys_parse(parse_systemd_units, &in, &ret);
	CHECK(ret == 0 && json_array_size(rows) == 1);
	CHECK(strcmp(col(rows, 0, "unit_file_state"), "disabled") == 0);
	json_decref(rows);

	sys_input(&in, "/etc/apt/sources.list", src, sizeof(src) - 1, NULL);
	rows = sys_parse(parse_apt_sources, &in, &ret);
	CHECK(ret == 0 && json_array_size(rows) == 1);
	CHECK(strcmp(col(rows, 0, "name"), "h.example.org/d s") == 0);
	CHECK(strcmp(col(rows, 0, "release"), "") == 0);
	json_decref(rows);
}

/* ---- hostile input ---- */

static uint32_t
lcg(uint32_t *s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 8;
}

/* Paths that steer each parser into each of its modes. */
static const char *const hostile_paths[] = {
	"/etc/os-release",
	"/etc/redhat-release",
	"/usr/lib/os-release",
	"/etc/apt/sources.list",
	"/etc/apt/sources.list.d/x.sources",
	"/etc/systemd/system/x.service",
	"/home/alice/.config/systemd/user/x.service",
	"/etc/xdg/autostart/x.desktop",
	"/etc/init.d/x",
	"/home/alice/.bash_history",
	"/root/.bash_sessions/x.history",
	"/etc/ld.so.preload",
	"/etc/environment",
	"/var/lib/dpkg/status",
	"/etc/yum.repos.d/x.repo",
	"/",
	"",
};

/* Every parser on data under the first npaths paths, as a file and (links) as a link. */
static void
hostile_run_n(const void *data, size_t len, struct fimg *img, size_t npaths, int links, int *failed)
{
	for (size_t p = 0; p < npaths; p++) {
		for (size_t i = 0; i < NTABLES; i++) {
			for (int link = 0; link <= links; link++) {
				struct parser_input in;
				json_t *rows = json_array();
				struct dt_err err = { 0 };
				int ret;

				sys_input(&in, hostile_paths[p], data, len, img);
				in.mode = link ? (S_IFLNK | 0777) : (S_IFREG | 06755);
				ret = sys_tables[i].fn(&in, rows, &err);
				if ((ret != 0 && ret != -1) ||
				    !rows_well_formed(rows, sys_tables[i].cols)) {
					fprintf(stderr, "  %s on %s: ret %d\n", sys_tables[i].dir,
						hostile_paths[p], ret);
					*failed = 1;
				}
				json_decref(rows);
			}
		}
	}
}

static void
hostile_run(const void *data, size_t len, struct fimg *img, int *failed)
{
	hostile_run_n(data, len, img, sizeof(hostile_paths) / sizeof(hostile_paths[0]), 1, failed);
}

/* The big inputs: each parser once per mode it has (the paths before "/"). */
static void
hostile_run_big(const void *data, size_t len, struct fimg *img, int *failed)
{
	hostile_run_n(data, len, img, sizeof(hostile_paths) / sizeof(hostile_paths[0]) - 2, 0,
		      failed);
}

TEST(t_parsers_system_hostile_inputs_do_not_crash)
{
	static const char *const samples[] = {
		"",
		"\n\n\n",
		"\r\n\r\n",
		"\\",
		"[Unit]\nDescription=a\\\n",
		"[Unit]\\\n\\\\\\\n#\\\n",
		"[",
		"]",
		"=\n==\n= =\n",
		"ID=\"\nVERSION_ID=\"\nVERSION_ID=...\nVERSION_ID=.\n",
		"VERSION_ID=99999999999999999999999.-1.0x7fffffff\n",
		"deb [\n",
		"deb [ a b c\n",
		"deb ://\n",
		"deb x:// y\n",
		"deb http://a/ \n",
		"Types: deb\nURIs: ://\nSuites:\n\nURIs: http://a\n\n\n",
		"URIs:\n http://x/\nSuites: a\n",
		"Package: a\nStatus: install ok installed\nVersion: :\n\n",
		"Package: a\nStatus: install ok installed\nVersion: -\n",
		"Package: a\nStatus: install ok installed\nVersion: 0:-\nPriority:\n",
		"Package: \nStatus: a b c d\n\nPackage: b\nStatus: \n",
		"Package:a\0b\nStatus: install ok installed\0\n\n",
		"#1\n#\n#2",
		"#99999999999999999999999999\nx",
		": 1:1;",
		": :;\n:",
		":          1:1;\r",
		"LD_PRELOAD",
		"LD_PRELOAD=",
		"LD_PRELOAD=\"",
		"LD_PRELOAD='",
		"LD_PRELOAD DEFAULT=",
		"LD_PRELOAD DEFAULT=\"a OVERRIDE=",
		"xLD_PRELOAD=a \"LD_PRELOAD=b LD_PRELOAD=c\" LD_PRELOAD=\"LD_PRELOAD=d\"",
		"[main]\n[x\n[]\n[y]\n=\nname\n\tbaseurl=x\n",
		"Name=\nExec=\nName\nExec",
		"../../../../../../../../..",
		"/dev/null",
		"/../dev/../dev/null",
		"dev/null",
		"/a/b/../../../../c",
		"\xff\xfe\xfd\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80",
	};
	static const char *const garbage[][2] = {
		{ "img/etc/systemd/system/a.wants/x.service", "" },
		{ "img/etc/systemd/system/x.service", "\\" },
		{ "img/etc/os-release", "ID=\"" },
		{ "img/etc/redhat-release", "  \n \t release 1.2.x " },
		{ "img/var/lib/apt/lists/a_dists_b_InRelease", "Codename:\n:::\n" },
		{ "img/var/lib/apt/lists/x", "" },
	};
	static const char *const dirs[] = { "img",
					    "img/etc",
					    "img/etc/systemd",
					    "img/etc/systemd/system",
					    "img/etc/systemd/system/a.wants",
					    "img/var",
					    "img/var/lib",
					    "img/var/lib/apt",
					    "img/var/lib/apt/lists" };
	struct fimg img = { "" };
	char cwd[2048];
	int failed = 0;
	uint32_t seed = 1;
	size_t big = 128u << 10;
	char *buf;

	/* An image in the test's directory whose every file is garbage. */
	REQUIRE(getcwd(cwd, sizeof(cwd)) != NULL);
	snprintf(img.root, sizeof(img.root), "%s/img", cwd);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		REQUIRE(mkdir(dirs[i], 0755) == 0);
	for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++)
		REQUIRE(t_write(garbage[i][0], garbage[i][1], strlen(garbage[i][1])) == 0);
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		hostile_run(samples[i], strlen(samples[i]), NULL, &failed);
		hostile_run(samples[i], strlen(samples[i]), &img, &failed);
	}
	/* NUL inside. */
	hostile_run("Package: a\0\nStatus: install ok installed\n", 41, &img, &failed);

	buf = malloc(big);
	REQUIRE(buf != NULL);
	/* Random bytes, random bytes over a small alphabet, one huge line, many empty lines. */
	for (size_t i = 0; i < big; i++)
		buf[i] = (char)lcg(&seed);
	hostile_run_big(buf, big, &img, &failed);
	for (size_t i = 0; i < big; i++)
		buf[i] = "\n\r \t:=#[]\\\"'/.-0123aLD_PRELOAD"[lcg(&seed) % 31];
	hostile_run_big(buf, big, &img, &failed);
	memset(buf, 'A', big);
	memcpy(buf, "LD_PRELOAD=", 11);
	hostile_run_big(buf, big, &img, &failed);
	memset(buf, '\n', big / 4);
	{
		struct parser_input in;
		json_t *rows;
		int ret;

		big /= 4;
		sys_input(&in, "/home/alice/.bash_history", buf, big, NULL);
		rows = sys_parse(parse_shell_history, &in, &ret);
		CHECK(ret == 0 &&
		      json_array_size(rows) == big); /* a row per empty line, as osquery */
		json_decref(rows);
	}
	free(buf);
	CHECK(!failed);
}

TEST(t_parsers_system_rpmdb_damage_is_skipped_not_fatal)
{
	char *path = sys_path(sys_top, "/tests/data/parsers/rpm_packages/rpm418_sqlite.in", "");
	unsigned char *orig, *db;
	size_t len = 0, full_rows;
	uint32_t seed = 7;
	struct parser_input in;
	json_t *rows;
	int ret, failed = 0;

	REQUIRE(path != NULL);
	orig = (unsigned char *)t_slurp(path, &len);
	free(path);
	if (orig == NULL)
		SKIP("no tests/data/parsers (run from the top of the tree, or set TOP)");
	sys_input(&in, "/var/lib/rpm/rpmdb.sqlite", orig, len, NULL);
	rows = sys_parse(parse_rpm_packages, &in, &ret);
	full_rows = json_array_size(rows);
	CHECK(ret == 0 && full_rows == 22);
	json_decref(rows);
	db = malloc(len);
	REQUIRE(db != NULL);
	for (int it = 0; it < 400; it++) {
		size_t n = len;

		memcpy(db, orig, len);
		if (it % 4 == 3) {
			n = lcg(&seed) % len; /* truncated */
		} else {
			/* A few bytes anywhere, or in the first pages (schema, b-tree headers). */
			int flips = 1 + (int)(lcg(&seed) % 8);

			for (int f = 0; f < flips; f++) {
				size_t at = lcg(&seed) % (it % 2 ? len : 16384);

				db[at] = (unsigned char)lcg(&seed);
			}
		}
		sys_input(&in, "/var/lib/rpm/rpmdb.sqlite", db, n, NULL);
		rows = sys_parse(parse_rpm_packages, &in, &ret);
		if (ret != 0 || !rows_well_formed(rows, c_rpm))
			failed = 1;
		json_decref(rows);
	}
	CHECK(!failed);
	free(db);
	free(orig);
}

TEST(t_parsers_path_norm_resolves_lexically)
{
	static const char *const cases[][2] = {
		{ "/a/../..", "/" },
		{ "/a/b/..", "/a" },
		{ "//x/./y/", "/x/y" },
		{ "/", "/" },
		{ "a/../b", "b" },
		{ "", "." },
		{ "./a//b", "a/b" },
		{ "/..", "/" },
		{ "/etc/../etc/sudoers.d", "/etc/sudoers.d" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *n = parsers_path_norm(cases[i][0]);

		REQUIRE(n != NULL);
		if (strcmp(n, cases[i][1]) != 0)
			t_fail(__FILE__, __LINE__, cases[i][0]);
		free(n);
	}
}
