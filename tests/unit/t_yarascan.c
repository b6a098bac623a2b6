/*
 * t_yarascan.c - the YARA module and deltair's own rules (rules/, one file per topic).
 * Samples live in tests/data/yara/RULE.pos*, RULE.neg* (authored, harmless text); ELF samples are
 * made at test time from /bin/true. Expectations are independent of the code under test: rule
 * names are counted from the rule sources, offsets from where the test put the bytes, digests
 * with OpenSSL.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "mono.h"
#include "t.h"
#include "yarascan.h"

/* Where the tree is: $DELTAIR_TOP, the directory the runner started in, or three levels above
 * the binary (build/rel/unit-tests). */
static char start_cwd[PATH_MAX];

__attribute__((constructor)) static void
remember_cwd(void)
{
	if (getcwd(start_cwd, sizeof(start_cwd)) == NULL)
		start_cwd[0] = '\0';
}

static int
is_top(const char *dir)
{
	char p[PATH_MAX + 64];

	snprintf(p, sizeof(p), "%s/rules/webshells.yar", dir);
	if (access(p, R_OK) != 0)
		return 0;
	snprintf(p, sizeof(p), "%s/tests/data/yara", dir);
	return access(p, R_OK) == 0;
}

static const char *
top(void)
{
	static char found[PATH_MAX];
	char exe[PATH_MAX];
	const char *env = getenv("DELTAIR_TOP");
	ssize_t n;

	if (found[0])
		return found;
	if (env != NULL && is_top(env)) {
		snprintf(found, sizeof(found), "%s", env);
		return found;
	}
	if (start_cwd[0] && is_top(start_cwd)) {
		snprintf(found, sizeof(found), "%s", start_cwd);
		return found;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int i = 0; i < 3; i++) {
			char *s = strrchr(exe, '/');
			if (s == NULL)
				return NULL;
			*s = '\0';
		}
		if (is_top(exe)) {
			snprintf(found, sizeof(found), "%s", exe);
			return found;
		}
	}
	return NULL;
}

/* shared/yara-permissive: $SHARED, or shared/ beside the tree (as CI lays it). */
static const char *
permissive_dir(void)
{
	static char p[PATH_MAX];
	const char *env = getenv("SHARED");

	if (env != NULL) {
		snprintf(p, sizeof(p), "%s/yara-permissive", env);
		if (access(p, R_OK) == 0)
			return p;
	}
	if (top() == NULL)
		return NULL;
	snprintf(p, sizeof(p), "%s/../shared/yara-permissive", top());
	return access(p, R_OK) == 0 ? p : NULL;
}

/* A file's content in memory behind the read callback, with failures to order. */
struct src {
	const unsigned char *data;
	size_t len;
	uint64_t fail_at; /* a read touching this offset or beyond fails; UINT64_MAX: never */
	size_t max_chunk; /* return at most this much per call (0: all) */
	int sleep_ms;     /* per call */
	uint64_t served;  /* bytes handed out */
	unsigned calls;
};

static ssize_t
src_read(void *rctx, uint64_t off, void *buf, size_t len)
{
	struct src *s = rctx;
	size_t n;

	s->calls++;
	if (s->sleep_ms > 0) {
		struct timespec ts = { s->sleep_ms / 1000, (long)(s->sleep_ms % 1000) * 1000000L };
		nanosleep(&ts, NULL);
	}
	if (off + len > s->fail_at) {
		errno = EIO;
		return -1;
	}
	if (off >= s->len)
		return 0;
	n = len < s->len - off ? len : (size_t)(s->len - off);
	if (s->max_chunk && n > s->max_chunk)
		n = s->max_chunk;
	memcpy(buf, s->data + off, n);
	s->served += n;
	return (ssize_t)n;
}

static void
src_init(struct src *s, const void *data, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->data = data;
	s->len = len;
	s->fail_at = UINT64_MAX;
}

static void
collect(void *ctx, json_t *match)
{
	json_array_append_new(ctx, match);
}

/* Scan data as path; matches are appended to out (new array when *out is NULL). */
static int
scan(struct yarascan *y, const struct yarascan_opts *o, const char *path, struct src *s,
     json_t *out, enum yarascan_status *st, uint64_t *nread, struct dt_err *err)
{
	struct yarascan_file f = { path, strlen(path), s->len, "root", src_read, s, 0 };

	return yarascan_file(y, o, &f, collect, out, st, nread, err);
}

static json_t *
find_rule(json_t *matches, const char *rule)
{
	size_t i;
	json_t *m;

	json_array_foreach(matches, i, m)
	{
		if (strcmp(json_string_value(json_object_get(m, "rule")), rule) == 0)
			return m;
	}
	return NULL;
}

static int
write_file(const char *path, const char *text)
{
	return t_write(path, text, strlen(text));
}

static struct yarascan *
compile1(const char *path, size_t *n, struct dt_err *err)
{
	struct yarascan *y = NULL;
	const char *paths[] = { path };

	if (yarascan_compile(paths, 1, &y, n, err) < 0)
		return NULL;
	return y;
}

static struct yarascan *
compile_own(size_t *n)
{
	char p[PATH_MAX];
	struct dt_err err = { 0 };

	if (top() == NULL)
		return NULL;
	snprintf(p, sizeof(p), "%s/rules", top());
	return compile1(p, n, &err);
}

/* Rule declarations in a rule source, counted the way a reader would: "[private|global] rule
 * NAME" at the start of a line. names (may be NULL) receives them, one per line. */
static size_t
count_rules_in(const char *path, FILE *names)
{
	char *text = t_slurp(path, NULL), *line, *save = NULL;
	size_t n = 0;

	if (text == NULL)
		return 0;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = line;
		int again = 1;

		while (*p == ' ' || *p == '\t')
			p++;
		while (again) {
			again = 0;
			if (strncmp(p, "private ", 8) == 0 || strncmp(p, "global ", 7) == 0) {
				p = strchr(p, ' ') + 1;
				again = 1;
			}
		}
		if (strncmp(p, "rule ", 5) == 0 || strncmp(p, "rule\t", 5) == 0) {
			char name[256];
			if (sscanf(p + 5, " %255[A-Za-z0-9_]", name) == 1) {
				n++;
				if (names)
					fprintf(names, "%s\n", name);
			}
		}
	}
	free(text);
	return n;
}

static size_t
count_rules_under(const char *dir, FILE *names)
{
	size_t n = 0;
	struct dirent **ents;
	int k = scandir(dir, &ents, NULL, alphasort);

	for (int i = 0; i < k; i++) {
		char p[PATH_MAX];
		struct stat st;
		size_t l = strlen(ents[i]->d_name);

		snprintf(p, sizeof(p), "%s/%s", dir, ents[i]->d_name);
		if (ents[i]->d_name[0] != '.' && stat(p, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				n += count_rules_under(p, names);
			else if ((l > 4 && strcmp(ents[i]->d_name + l - 4, ".yar") == 0) ||
				 (l > 5 && strcmp(ents[i]->d_name + l - 5, ".yara") == 0))
				n += count_rules_in(p, names);
		}
		free(ents[i]);
	}
	free(ents);
	return n;
}

/* The sample table: every rule of rules/ has at least one positive and one negative case. A
 * case scans tests/data/yara/RULE.SAMPLE as PATH; `want` says whether RULE must match. */
static const struct sample_case {
	const char *rule, *sample, *path;
	int want;
} cases[] = {
	{ "php_webshell_request_exec", "pos", "/var/www/html/up.php", 1 },
	{ "php_webshell_request_exec", "pos2", "/var/www/html/a.php", 1 },
	{ "php_webshell_request_exec", "pos3", "/var/www/html/b.php", 1 },
	{ "php_webshell_request_exec", "neg", "/var/www/html/index.php", 0 },
	{ "php_webshell_packed_eval", "pos", "/var/www/html/wp-content/x.php", 1 },
	{ "php_webshell_packed_eval", "neg", "/var/www/html/avatar.php", 0 },
	{ "jsp_webshell_request_exec", "pos", "/var/lib/tomcat9/webapps/ROOT/cmd.jsp", 1 },
	{ "jsp_webshell_request_exec", "pos2", "/var/lib/tomcat9/webapps/ROOT/pb.jsp", 1 },
	{ "jsp_webshell_request_exec", "neg", "/var/lib/tomcat9/webapps/ROOT/welcome.jsp", 0 },
	{ "aspx_webshell_request_exec", "pos", "/srv/www/shell.aspx", 1 },
	{ "aspx_webshell_request_exec", "pos2", "/srv/www/c.aspx", 1 },
	{ "aspx_webshell_request_exec", "neg", "/srv/www/hello.aspx", 0 },
	{ "revshell_bash_dev_tcp", "pos", "/tmp/x.sh", 1 },
	{ "revshell_bash_dev_tcp", "pos2", "/tmp/y.sh", 1 },
	{ "revshell_bash_dev_tcp", "neg", "/usr/local/bin/check-ssh", 0 },
	{ "revshell_netcat_exec", "pos", "/tmp/n.sh", 1 },
	{ "revshell_netcat_exec", "pos2", "/root/.bash_history", 1 },
	{ "revshell_netcat_exec", "neg", "/usr/local/bin/wait-db", 0 },
	{ "revshell_python_socket_pty", "pos", "/root/.bash_history", 1 },
	{ "revshell_python_socket_pty", "pos2", "/tmp/r.py", 1 },
	{ "revshell_python_socket_pty", "neg", "/opt/app/fetch.py", 0 },
	{ "revshell_perl_socket", "pos", "/root/.bash_history", 1 },
	{ "revshell_perl_socket", "neg", "/usr/local/bin/relay-check", 0 },
	{ "revshell_php_fsockopen", "pos", "/root/.bash_history", 1 },
	{ "revshell_php_fsockopen", "neg", "/var/www/html/smtp.php", 0 },
	{ "download_pipe_shell", "pos", "/tmp/i.sh", 1 },
	{ "download_pipe_shell", "pos2", "/root/.bash_history", 1 },
	{ "download_pipe_shell", "neg", "/opt/install/setup.sh", 0 },
	{ "cron_reverse_shell_or_download", "pos", "/etc/cron.d/sysupdate", 1 },
	{ "cron_reverse_shell_or_download", "pos2", "/var/spool/cron/crontabs/root", 1 },
	{ "cron_reverse_shell_or_download", "pos3", "/etc/crontab", 1 },
	{ "cron_reverse_shell_or_download", "neg", "/etc/cron.d/logrotate-extra", 0 },
	/* The same payload outside a cron table is not this rule's business. */
	{ "cron_reverse_shell_or_download", "pos", "/home/alice/notes.txt", 0 },
	{ "script_installs_cron_payload", "pos", "/tmp/.s", 1 },
	{ "script_installs_cron_payload", "pos2", "/var/tmp/inst.sh", 1 },
	{ "script_installs_cron_payload", "neg", "/usr/local/sbin/setup-backup", 0 },
	{ "ld_so_preload_present", "pos", "/etc/ld.so.preload", 1 },
	{ "ld_so_preload_present", "neg", "/etc/ld.so.preload", 0 },
	{ "ld_so_preload_present", "pos", "/etc/ld.so.conf.d/x.conf", 0 },
	{ "ld_so_preload_odd_path", "pos", "/etc/ld.so.preload", 1 },
	{ "ld_so_preload_odd_path", "pos2", "/etc/ld.so.preload", 1 },
	{ "ld_so_preload_odd_path", "neg", "/etc/ld.so.preload", 0 },
	{ "script_writes_ld_so_preload", "pos", "/tmp/install.sh", 1 },
	{ "script_writes_ld_so_preload", "neg", "/usr/local/bin/audit-preload", 0 },
	{ "ld_preload_in_shell_profile", "pos", "/root/.bashrc", 1 },
	{ "ld_preload_in_shell_profile", "pos", "/etc/profile.d/zz.sh", 1 },
	{ "ld_preload_in_shell_profile", "neg", "/root/.bashrc", 0 },
	{ "ld_preload_in_shell_profile", "pos", "/home/dev/build.sh", 0 },
	{ "pam_exec_odd_program", "pos", "/etc/pam.d/common-auth", 1 },
	{ "pam_exec_odd_program", "pos2", "/etc/pam.d/sshd", 1 },
	{ "pam_exec_odd_program", "neg", "/etc/pam.d/sshd", 0 },
	{ "pam_exec_odd_program", "pos", "/home/alice/pam-notes.txt", 0 },
	{ "pam_module_odd_path", "pos", "/etc/pam.d/sshd", 1 },
	{ "pam_module_odd_path", "pos2", "/etc/pam.d/login", 1 },
	{ "pam_module_odd_path", "neg", "/etc/pam.d/common-auth", 0 },
	{ "cryptominer_stratum_url", "pos", "/opt/.cfg/pool.txt", 1 },
	{ "cryptominer_stratum_url", "neg", "/etc/ntp.conf", 0 },
	{ "cryptominer_xmrig_config", "pos", "/tmp/.x/config.json", 1 },
	{ "cryptominer_xmrig_config", "pos2", "/var/tmp/c.json", 1 },
	{ "cryptominer_xmrig_config", "neg", "/etc/app/pools.json", 0 },
	{ "cryptominer_cmdline", "pos", "/tmp/.x/run.sh", 1 },
	{ "cryptominer_cmdline", "pos2", "/root/.bash_history", 1 },
	{ "cryptominer_cmdline", "neg", "/etc/monitor/notes.conf", 0 },
	{ "ssh_authorized_keys_forced_command", "pos", "/root/.ssh/authorized_keys", 1 },
	{ "ssh_authorized_keys_forced_command", "neg", "/home/backup/.ssh/authorized_keys", 0 },
	{ "ssh_authorized_keys_forced_command", "pos", "/root/keys.txt", 0 },
	{ "ssh_authorized_keys_environment", "pos", "/root/.ssh/authorized_keys", 1 },
	{ "ssh_authorized_keys_environment", "neg", "/root/.ssh/authorized_keys", 0 },
	{ "ssh_authorized_keys_open_from", "pos", "/root/.ssh/authorized_keys2", 1 },
	{ "ssh_authorized_keys_open_from", "neg", "/home/ops/.ssh/authorized_keys", 0 },
	{ "script_appends_authorized_keys", "pos", "/tmp/k.sh", 1 },
	{ "script_appends_authorized_keys", "pos2", "/root/.bash_history", 1 },
	{ "script_appends_authorized_keys", "pos3", "/var/tmp/k2.sh", 1 },
	{ "script_appends_authorized_keys", "neg", "/usr/local/bin/onboard", 0 },
	/* The ELF rules and the PAM module rule need binary samples: see their own tests. */
};

/* Rules whose samples are made at test time (below), not read from tests/data/yara. */
static const char *const generated_rules[] = {
	"elf_in_temp_dir",
	"elf_in_web_root",
	"elf_hidden_file",
	"elf_in_hidden_dir",
	"pam_module_backdoor_strings",
};

/* A match's meta follows the house rules: description, severity, reference. */
static int
meta_ok(json_t *m)
{
	json_t *meta = json_object_get(m, "meta");
	const char *d = json_string_value(json_object_get(meta, "description"));
	const char *s = json_string_value(json_object_get(meta, "severity"));
	const char *r = json_string_value(json_object_get(meta, "reference"));

	if (d == NULL || strlen(d) < 10 || s == NULL || r == NULL || strncmp(r, "https://", 8) != 0)
		return 0;
	return strcmp(s, "low") == 0 || strcmp(s, "medium") == 0 || strcmp(s, "high") == 0 ||
	       strcmp(s, "critical") == 0;
}

TEST(t_yarascan_own_rules_compile_and_count)
{
	char dir[PATH_MAX];
	size_t n = 0;
	struct yarascan *y;

	REQUIRE(top() != NULL);
	snprintf(dir, sizeof(dir), "%s/rules", top());
	y = compile_own(&n);
	REQUIRE(y != NULL);
	CHECK(n == count_rules_under(dir, NULL));
	CHECK(n >= 25);
	yarascan_free(y);
}

TEST(t_yarascan_every_own_rule_has_samples)
{
	char dir[PATH_MAX], name[256];
	FILE *names = tmpfile();
	size_t total;

	REQUIRE(top() != NULL && names != NULL);
	snprintf(dir, sizeof(dir), "%s/rules", top());
	total = count_rules_under(dir, names);
	REQUIRE(total > 0);
	rewind(names);
	while (fscanf(names, "%255s", name) == 1) {
		int pos = 0, neg = 0, generated = 0;

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			if (strcmp(cases[i].rule, name) != 0)
				continue;
			if (cases[i].want)
				pos++;
			else
				neg++;
		}
		for (size_t i = 0; i < sizeof(generated_rules) / sizeof(generated_rules[0]); i++)
			generated |= strcmp(generated_rules[i], name) == 0;
		if (!generated && (pos == 0 || neg == 0)) {
			fprintf(stderr, "  rule %s: %d positive, %d negative samples\n", name, pos,
				neg);
			CHECK(pos > 0 && neg > 0);
		}
	}
	fclose(names);
}

TEST(t_yarascan_own_rules_match_their_samples)
{
	size_t n;
	struct yarascan *y = compile_own(&n);

	REQUIRE(y != NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sample_case *c = &cases[i];
		char p[PATH_MAX];
		size_t len;
		char *data;
		struct src s;
		json_t *out = json_array(), *m;
		enum yarascan_status st = YARASCAN_FAILED;
		struct dt_err err = { 0 };

		snprintf(p, sizeof(p), "%s/tests/data/yara/%s.%s", top(), c->rule, c->sample);
		data = t_slurp(p, &len);
		if (data == NULL) {
			fprintf(stderr, "  missing sample %s\n", p);
			CHECK(data != NULL);
			json_decref(out);
			continue;
		}
		src_init(&s, data, len);
		CHECK(scan(y, NULL, c->path, &s, out, &st, NULL, &err) == 0);
		CHECK(st == YARASCAN_SCANNED);
		m = find_rule(out, c->rule);
		if ((m != NULL) != c->want) {
			fprintf(stderr, "  %s.%s as %s: %s\n", c->rule, c->sample, c->path,
				c->want ? "no match" : "unexpected match");
			CHECK((m != NULL) == c->want);
		}
		if (m != NULL) {
			size_t k;
			json_t *sm;

			CHECK(meta_ok(m));
			CHECK(strncmp(json_string_value(json_object_get(m, "namespace")), "rules/",
				      6) == 0);
			/* Every reported string lies inside the sample. */
			json_array_foreach(json_object_get(m, "strings"), k, sm)
			{
				json_int_t off = json_integer_value(json_object_get(sm, "offset"));
				json_int_t l = json_integer_value(json_object_get(sm, "length"));
				CHECK(off >= 0 && l > 0 && (size_t)(off + l) <= len);
			}
		}
		json_decref(out);
		free(data);
	}
	yarascan_free(y);
}

/* /bin/true, copied into the test directory: a harmless ELF. */
static char *
true_elf(size_t *len)
{
	char *p = t_slurp("/bin/true", len);

	if (p == NULL || *len < 64 ||
	    memcmp(p,
		   "\x7f"
		   "ELF",
		   4) != 0) {
		free(p);
		return NULL;
	}
	t_write("true.elf", p, *len);
	return p;
}

TEST(t_yarascan_elf_placement_rules)
{
	static const struct {
		const char *path;
		const char *rule; /* expected, or NULL for none of the four */
	} elf_cases[] = {
		{ "/tmp/kdevtmpfsi", "elf_in_temp_dir" },
		{ "/var/tmp/x/y", "elf_in_temp_dir" },
		{ "/dev/shm/z", "elf_in_temp_dir" },
		{ "/var/www/html/uploads/img.jpg", "elf_in_web_root" },
		{ "/var/lib/tomcat9/webapps/ROOT/x", "elf_in_web_root" },
		{ "/usr/lib/.x", "elf_hidden_file" },
		{ "/usr/lib/.cache2/kworker", "elf_in_hidden_dir" },
		{ "/usr/bin/true", NULL },
		{ "/home/u/.cargo/bin/rg", NULL },
		{ "/home/u/proj/.venv/lib/x.so", NULL },
		{ "/usr/lib/debug/.build-id/ab/cdef.debug", NULL },
	};
	static const char *const elf_rules[] = { "elf_in_temp_dir", "elf_in_web_root",
						 "elf_hidden_file", "elf_in_hidden_dir" };
	size_t n, len;
	struct yarascan *y = compile_own(&n);
	char *elf = true_elf(&len);
	const char *text = "#!/bin/sh\necho hello\n";

	REQUIRE(y != NULL);
	if (elf == NULL) {
		yarascan_free(y);
		SKIP("no ELF /bin/true");
	}
	for (size_t i = 0; i < sizeof(elf_cases) / sizeof(elf_cases[0]); i++) {
		struct src s;
		json_t *out = json_array();
		enum yarascan_status st;
		struct dt_err err = { 0 };

		src_init(&s, elf, len);
		CHECK(scan(y, NULL, elf_cases[i].path, &s, out, &st, NULL, &err) == 0);
		for (size_t r = 0; r < 4; r++) {
			int want =
				elf_cases[i].rule && strcmp(elf_cases[i].rule, elf_rules[r]) == 0;
			int got = find_rule(out, elf_rules[r]) != NULL;
			if (want != got)
				fprintf(stderr, "  ELF as %s: %s %s\n", elf_cases[i].path,
					elf_rules[r], want ? "missing" : "unexpected");
			CHECK(want == got);
			if (got)
				CHECK(meta_ok(find_rule(out, elf_rules[r])));
		}
		json_decref(out);
		/* The same places holding text are fine. */
		out = json_array();
		src_init(&s, text, strlen(text));
		CHECK(scan(y, NULL, elf_cases[i].path, &s, out, &st, NULL, &err) == 0);
		for (size_t r = 0; r < 4; r++)
			CHECK(find_rule(out, elf_rules[r]) == NULL);
		json_decref(out);
	}
	free(elf);
	yarascan_free(y);
}

TEST(t_yarascan_pam_backdoor_rule)
{
	static const char *const mods[] = { "/lib/x86_64-linux-gnu/security/pam_unix.so",
					    "/usr/lib/x86_64-linux-gnu/security/pam_unix.so",
					    "/lib/security/pam_unix.so",
					    "/lib64/security/pam_unix.so",
					    "/usr/lib64/security/pam_unix.so" };
	static const char extra[] = "\0/tmp/.ICE-unix/.pwlog\0user=%s pass=%s\n";
	const char *path = "/lib/x86_64-linux-gnu/security/pam_unix.so";
	char *mod = NULL, *patched;
	size_t len = 0, n;
	struct yarascan *y;
	struct src s;
	json_t *out;
	enum yarascan_status st;
	struct dt_err err = { 0 };

	for (size_t i = 0; mod == NULL && i < sizeof(mods) / sizeof(mods[0]); i++)
		mod = t_slurp(mods[i], &len);
	if (mod == NULL)
		SKIP("no pam_unix.so on this machine");
	y = compile_own(&n);
	REQUIRE(y != NULL);
	/* The genuine module does not match... */
	out = json_array();
	src_init(&s, mod, len);
	CHECK(scan(y, NULL, path, &s, out, &st, NULL, &err) == 0 && st == YARASCAN_SCANNED);
	CHECK(find_rule(out, "pam_module_backdoor_strings") == NULL);
	json_decref(out);
	/* ...the same module carrying a credential log does. */
	patched = malloc(len + sizeof(extra));
	REQUIRE(patched != NULL);
	memcpy(patched, mod, len);
	memcpy(patched + len, extra, sizeof(extra));
	out = json_array();
	src_init(&s, patched, len + sizeof(extra));
	CHECK(scan(y, NULL, path, &s, out, &st, NULL, &err) == 0 && st == YARASCAN_SCANNED);
	CHECK(find_rule(out, "pam_module_backdoor_strings") != NULL);
	if (find_rule(out, "pam_module_backdoor_strings") != NULL)
		CHECK(meta_ok(find_rule(out, "pam_module_backdoor_strings")));
	json_decref(out);
	/* A text file with the same strings is not a PAM module. */
	out = json_array();
	src_init(&s, extra + 1, sizeof(extra) - 1);
	CHECK(scan(y, NULL, path, &s, out, &st, NULL, &err) == 0);
	CHECK(find_rule(out, "pam_module_backdoor_strings") == NULL);
	json_decref(out);
	free(patched);
	free(mod);
	yarascan_free(y);
}

TEST(t_yarascan_third_party_sets_compile_unchanged)
{
	const char *perm = permissive_dir();
	char own[PATH_MAX + 32], ten[PATH_MAX + 32], eset[PATH_MAX + 32];
	size_t n = 0, want;
	struct yarascan *y = NULL;
	struct dt_err err = { 0 };
	const char *php = "<?php eval(base64_decode($_POST[\"x\"])); ?>\n";
	struct src s;
	json_t *out, *m;
	enum yarascan_status st;

	if (perm == NULL)
		SKIP("no shared/yara-permissive beside the tree");
	REQUIRE(top() != NULL);
	snprintf(own, sizeof(own), "%s/rules", top());
	snprintf(ten, sizeof(ten), "%s/tenable", perm);
	snprintf(eset, sizeof(eset), "%s/eset", perm);

	/* All of it as one path. */
	y = compile1(perm, &n, &err);
	if (y == NULL)
		fprintf(stderr, "  %s\n", err.msg);
	REQUIRE(y != NULL);
	CHECK(n == count_rules_under(perm, NULL));
	yarascan_free(y);

	/* Each vendor as its own path, with ours. */
	{
		const char *paths[] = { ten, eset, own };
		y = NULL;
		CHECK(yarascan_compile(paths, 3, &y, &n, &err) == 0);
		if (y == NULL)
			fprintf(stderr, "  %s\n", err.msg);
		REQUIRE(y != NULL);
		want = count_rules_under(ten, NULL) + count_rules_under(eset, NULL) +
		       count_rules_under(own, NULL);
		CHECK(n == want);
	}
	/* The README's check: tenable's eval_statement fires on a synthetic PHP eval; so do ours.
	 */
	out = json_array();
	src_init(&s, php, strlen(php));
	CHECK(scan(y, NULL, "/var/www/html/x.php", &s, out, &st, NULL, &err) == 0);
	CHECK(st == YARASCAN_SCANNED);
	m = find_rule(out, "eval_statement");
	CHECK(m != NULL);
	if (m != NULL)
		CHECK(strcmp(json_string_value(json_object_get(m, "namespace")),
			     "tenable/webshells/obfuscated_php") == 0);
	CHECK(find_rule(out, "php_webshell_request_exec") != NULL);
	json_decref(out);
	/* The ESET rules (import "elf") run on a real ELF without complaint and without a match. */
	{
		size_t len;
		char *elf = true_elf(&len);
		if (elf != NULL) {
			out = json_array();
			src_init(&s, elf, len);
			CHECK(scan(y, NULL, "/usr/bin/true", &s, out, &st, NULL, &err) == 0);
			CHECK(st == YARASCAN_SCANNED && json_array_size(out) == 0);
			json_decref(out);
			free(elf);
		}
	}
	yarascan_free(y);
}

TEST(t_yarascan_bad_rule_names_file_and_line)
{
	struct yarascan *y = (struct yarascan *)1;
	struct dt_err err = { 0 };
	const char *paths[] = { "rules" };

	REQUIRE(mkdir("rules", 0755) == 0);
	REQUIRE(write_file("rules/a_good.yar", "rule good { condition: true }\n") == 0);
	REQUIRE(write_file("rules/b_bad.yar", "rule fine { condition: true }\n"
					      "\n"
					      "rule broken {\n"
					      "  strings: $a = \"x\"\n"
					      "  condition: $a and $b }\n") == 0);
	CHECK(yarascan_compile(paths, 1, &y, NULL, &err) == -1);
	CHECK(y == NULL);
	CHECK(err.code == DT_EFORMAT);
	CHECK(strstr(err.msg, "rules/b_bad.yar") != NULL);
	CHECK(strstr(err.msg, "line 5") != NULL);
	CHECK(strstr(err.msg, "$b") != NULL);

	/* A syntax error in a file given directly. */
	dt_clear(&err);
	REQUIRE(write_file("syntax.yara", "rule x {\n  condition:\n    true and\n}\n") == 0);
	paths[0] = "syntax.yara";
	CHECK(yarascan_compile(paths, 1, &y, NULL, &err) == -1);
	CHECK(err.code == DT_EFORMAT);
	CHECK(strstr(err.msg, "syntax.yara") != NULL && strstr(err.msg, "line 4") != NULL);

	/* An error in an included file names that file (includes resolve beside the includer). */
	dt_clear(&err);
	REQUIRE(mkdir("inc", 0755) == 0 && mkdir("inc/sub", 0755) == 0);
	REQUIRE(write_file("inc/main.yar",
			   "include \"sub/part.yara\"\nrule top { condition: true }\n") == 0);
	REQUIRE(write_file("inc/sub/part.yara", "rule part {\n  condition: nosuch }\n") == 0);
	paths[0] = "inc/main.yar";
	CHECK(yarascan_compile(paths, 1, &y, NULL, &err) == -1);
	CHECK(err.code == DT_EFORMAT);
	CHECK(strstr(err.msg, "inc/sub/part.yara") != NULL && strstr(err.msg, "line 2") != NULL);
}

TEST(t_yarascan_compile_usage_errors)
{
	struct yarascan *y = NULL;
	struct dt_err err = { 0 };
	const char *paths[] = { "missing-dir" };

	CHECK(yarascan_compile(paths, 1, &y, NULL, &err) == -1 && err.code == DT_EIO);
	CHECK(strstr(err.msg, "missing-dir") != NULL);
	dt_clear(&err);
	REQUIRE(mkdir("empty", 0755) == 0);
	REQUIRE(write_file("empty/readme.txt", "no rules here\n") == 0);
	paths[0] = "empty";
	CHECK(yarascan_compile(paths, 1, &y, NULL, &err) == -1 && err.code == DT_EUSAGE);
	dt_clear(&err);
	CHECK(yarascan_compile(paths, 0, &y, NULL, &err) == -1 && err.code == DT_EUSAGE);
	yarascan_free(NULL);
}

TEST(t_yarascan_namespaces_keep_colliding_names_apart)
{
	struct yarascan *y = NULL;
	struct dt_err err = { 0 };
	const char *paths[] = { "a/set", "b/set", "one.yar" };
	struct src s;
	json_t *out;
	enum yarascan_status st;
	size_t n = 0;
	const char *ns[4] = { 0 };
	size_t i;
	json_t *m;

	REQUIRE(mkdir("a", 0755) == 0 && mkdir("a/set", 0755) == 0 &&
		mkdir("a/set/sub", 0755) == 0);
	REQUIRE(mkdir("b", 0755) == 0 && mkdir("b/set", 0755) == 0);
	REQUIRE(mkdir("a/set/.git", 0755) == 0);
	REQUIRE(write_file("a/set/sub/x.yar", "rule same { condition: true }\n") == 0);
	REQUIRE(write_file("a/set/y.YARA", "rule same { condition: true }\n") == 0);
	REQUIRE(write_file("a/set/notes.txt", "rule not_compiled { condition: true }\n") == 0);
	REQUIRE(write_file("a/set/.git/z.yar", "this is not compiled\n") == 0);
	REQUIRE(write_file("b/set/x.yar", "rule same { condition: true }\n") == 0);
	REQUIRE(write_file("one.yar", "rule same { condition: true }\n") == 0);
	REQUIRE(symlink("../../one.yar", "b/set/link.yar") == 0);
	REQUIRE(symlink("../../a", "b/set/loop") == 0);
	REQUIRE(yarascan_compile(paths, 3, &y, &n, &err) == 0);
	CHECK(n == 5);
	out = json_array();
	src_init(&s, "x", 1);
	CHECK(scan(y, NULL, "/x", &s, out, &st, NULL, &err) == 0);
	CHECK(json_array_size(out) == 5);
	json_array_foreach(out, i, m)
	{
		const char *name = json_string_value(json_object_get(m, "namespace"));
		CHECK(strcmp(json_string_value(json_object_get(m, "rule")), "same") == 0);
		if (i < 4)
			ns[i] = name;
	}
	/* Sorted walk: a/set/sub/x.yar before a/set/y.YARA; b/set/link.yar before b/set/x.yar. */
	CHECK(ns[0] && strcmp(ns[0], "set/sub/x") == 0);
	CHECK(ns[1] && strcmp(ns[1], "set/y") == 0);
	CHECK(ns[2] && strcmp(ns[2], "set/link") == 0);
	CHECK(ns[3] && strcmp(ns[3], "set/x") == 0);
	m = json_array_get(out, 4);
	CHECK(m && strcmp(json_string_value(json_object_get(m, "namespace")), "one") == 0);
	json_decref(out);
	yarascan_free(y);

	/* Two top-level paths whose derived names collide. */
	{
		const char *twice[] = { "b/set", "b/set/" };
		y = NULL;
		REQUIRE(yarascan_compile(twice, 2, &y, &n, &err) == 0);
		CHECK(n == 4);
		out = json_array();
		src_init(&s, "x", 1);
		CHECK(scan(y, NULL, "/x", &s, out, &st, NULL, &err) == 0);
		CHECK(json_array_size(out) == 4);
		m = json_array_get(out, 2);
		CHECK(m && strcmp(json_string_value(json_object_get(m, "namespace")),
				  "set/link#2") == 0);
		json_decref(out);
		yarascan_free(y);
	}
}

TEST(t_yarascan_externals_per_file)
{
	struct yarascan *y;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out;
	enum yarascan_status st;
	size_t n;
	struct yarascan_file f;
	const char *script = "#!/bin/sh\n";

	REQUIRE(write_file("ext.yar",
			   "rule ext_php { condition: extension == \".php\" }\n"
			   "rule ext_none { condition: extension == \"\" }\n"
			   "rule name_is { condition: filename == \"Shell.PHP\" }\n"
			   "rule path_is { condition: filepath == \"/var/www/Shell.PHP\" }\n"
			   "rule is_script { condition: filetype == \"SCRIPT\" }\n"
			   "rule is_elf { condition: filetype == \"ELF\" }\n"
			   "rule owned { condition: owner == \"www-data\" }\n") == 0);
	y = compile1("ext.yar", &n, &err);
	REQUIRE(y != NULL);
	CHECK(n == 7);

	out = json_array();
	src_init(&s, script, strlen(script));
	memset(&f, 0, sizeof(f));
	f.path = "/var/www/Shell.PHP////junk";
	f.path_len = strlen("/var/www/Shell.PHP");
	f.size = s.len;
	f.owner = "www-data";
	f.read = src_read;
	f.rctx = &s;
	CHECK(yarascan_file(y, NULL, &f, collect, out, &st, NULL, &err) == 0);
	CHECK(find_rule(out, "ext_php") && find_rule(out, "name_is") && find_rule(out, "path_is"));
	CHECK(find_rule(out, "is_script") && find_rule(out, "owned"));
	CHECK(!find_rule(out, "ext_none") && !find_rule(out, "is_elf"));
	json_decref(out);

	/* A leading dot is not an extension; no owner is ""; the next file sees its own values. */
	out = json_array();
	src_init(&s,
		 "\x7f"
		 "ELF....",
		 8);
	f.path = "/root/.bashrc";
	f.path_len = strlen(f.path);
	f.size = s.len;
	f.owner = NULL;
	CHECK(yarascan_file(y, NULL, &f, collect, out, &st, NULL, &err) == 0);
	CHECK(find_rule(out, "ext_none") && find_rule(out, "is_elf"));
	CHECK(!find_rule(out, "ext_php") && !find_rule(out, "name_is") &&
	      !find_rule(out, "path_is"));
	CHECK(!find_rule(out, "is_script") && !find_rule(out, "owned"));
	json_decref(out);
	yarascan_free(y);
}

TEST(t_yarascan_match_object_shape)
{
	struct yarascan *y;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out, *m, *meta, *strs, *tags, *v;
	enum yarascan_status st;
	size_t n;
	const char *data = "..AAA..BBB..AAA";

	REQUIRE(write_file("shape.yar", "rule shaped : tag1 tag2 {\n"
					"  meta:\n"
					"    description = \"d\"\n"
					"    score = 75\n"
					"    active = true\n"
					"    hash = \"h1\"\n"
					"    hash = \"h2\"\n"
					"    latin = \"caf\\xe9\"\n"
					"    mixed = \"\\xc3\\xa9\\xed\\xa0\\x80!\"\n"
					"  strings:\n"
					"    $a = \"AAA\"\n"
					"    $b = \"BBB\"\n"
					"    $private = \"..\" private\n"
					"  condition: #a == 2 and $b and $private\n"
					"}\n"
					"private rule hidden { condition: true }\n"
					"rule not_matching { condition: false }\n") == 0);
	y = compile1("shape.yar", &n, &err);
	REQUIRE(y != NULL);
	CHECK(n == 3);
	out = json_array();
	src_init(&s, data, strlen(data));
	CHECK(scan(y, NULL, "/d", &s, out, &st, NULL, &err) == 0);
	REQUIRE(json_array_size(out) == 1);
	m = json_array_get(out, 0);
	CHECK(strcmp(json_string_value(json_object_get(m, "rule")), "shaped") == 0);
	CHECK(strcmp(json_string_value(json_object_get(m, "namespace")), "shape") == 0);
	tags = json_object_get(m, "tags");
	CHECK(json_array_size(tags) == 2 &&
	      strcmp(json_string_value(json_array_get(tags, 0)), "tag1") == 0 &&
	      strcmp(json_string_value(json_array_get(tags, 1)), "tag2") == 0);
	meta = json_object_get(m, "meta");
	CHECK(json_integer_value(json_object_get(meta, "score")) == 75);
	CHECK(json_is_true(json_object_get(meta, "active")));
	v = json_object_get(meta, "hash");
	CHECK(json_array_size(v) == 2 &&
	      strcmp(json_string_value(json_array_get(v, 0)), "h1") == 0 &&
	      strcmp(json_string_value(json_array_get(v, 1)), "h2") == 0);
	/* Latin-1 é is not UTF-8: kept lossily. */
	CHECK(strcmp(json_string_value(json_object_get(meta, "latin")), "caf\xef\xbf\xbd") == 0);
	/* A valid é is kept; each byte of an encoded surrogate is replaced. */
	CHECK(strcmp(json_string_value(json_object_get(meta, "mixed")),
		     "\xc3\xa9\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd!") == 0);
	strs = json_object_get(m, "strings");
	/* Private strings are not reported; $a twice, $b once, at the offsets written above. */
	REQUIRE(json_array_size(strs) == 3);
	{
		static const struct {
			const char *id;
			int off;
		} want[] = { { "$a", 2 }, { "$a", 12 }, { "$b", 7 } };
		for (size_t i = 0; i < 3; i++) {
			json_t *e = json_array_get(strs, i);
			CHECK(strcmp(json_string_value(json_object_get(e, "id")), want[i].id) == 0);
			CHECK(json_integer_value(json_object_get(e, "offset")) == want[i].off);
			CHECK(json_integer_value(json_object_get(e, "length")) == 3);
		}
	}
	CHECK(json_object_get(m, "strings_truncated") == NULL);
	json_decref(out);
	yarascan_free(y);
}

TEST(t_yarascan_caps_matches_and_strings)
{
	struct yarascan *y;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out, *m;
	enum yarascan_status st;
	size_t n;
	FILE *fp = fopen("many.yar", "w");
	char data[400];

	REQUIRE(fp != NULL);
	fprintf(fp, "rule lots { strings: $x = \"X\" condition: #x == 300 }\n");
	for (int i = 0; i < YARASCAN_MAX_MATCHES + 10; i++)
		fprintf(fp, "rule r%03d { condition: true }\n", i);
	REQUIRE(fclose(fp) == 0);
	memset(data, 'X', 300);
	memset(data + 300, '.', 100);
	y = compile1("many.yar", &n, &err);
	REQUIRE(y != NULL);
	out = json_array();
	src_init(&s, data, sizeof(data));
	CHECK(scan(y, NULL, "/d", &s, out, &st, NULL, &err) == 0 && st == YARASCAN_SCANNED);
	CHECK(json_array_size(out) == YARASCAN_MAX_MATCHES);
	m = find_rule(out, "lots");
	REQUIRE(m != NULL);
	CHECK(json_array_size(json_object_get(m, "strings")) == YARASCAN_MAX_STRINGS);
	CHECK(json_is_true(json_object_get(m, "strings_truncated")));
	json_decref(out);
	yarascan_free(y);
}

/* A file of several blocks: pattern bytes everywhere, markers where the test puts them. */
static unsigned char *
big_file(size_t len)
{
	unsigned char *p = malloc(len);

	if (p != NULL)
		for (size_t i = 0; i < len; i++)
			p[i] = (unsigned char)('a' + (i * 7 + i / 13) % 26);
	return p;
}

TEST(t_yarascan_block_boundaries)
{
	const size_t B = YARASCAN_BLOCK_SIZE, O = YARASCAN_BLOCK_OVERLAP, S = B - O;
	const size_t len = 3 * B + 12345;
	unsigned char *data = big_file(len);
	static const char mk[] = "DELTAIR-BOUNDARY-MARKER";
	const size_t ml = sizeof(mk) - 1;
	/* In offset order, as reported. */
	const size_t at[] = { B - 100,    /* inside the overlap of blocks 0 and 1 */
			      B - 5,      /* across the end of block 0 */
			      S + B - 3,  /* across the end of block 1 */
			      len - ml }; /* the very end */
	char *longstr = malloc(O + 2000);
	FILE *fp = fopen("b.yar", "w");
	struct yarascan *y;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out, *m;
	enum yarascan_status st;
	uint64_t nread = 0;
	size_t n, k;

	REQUIRE(data != NULL && longstr != NULL && fp != NULL);
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		memcpy(data + at[i], mk, ml);
	/* A string longer than the overlap, once inside block 0 and once across the edge between
	 * blocks 2 and 3 (starting before block 3, ending after block 2). */
	memset(longstr, 'Q', O + 1000);
	longstr[O + 1000] = '\0';
	memcpy(data + 1000, longstr, O + 1000);
	memcpy(data + 3 * S - 500, longstr, O + 1000); /* in neither block 2 nor block 3 */
	fprintf(fp, "rule marker { strings: $m = \"%s\" condition: #m == 4 }\n", mk);
	fprintf(fp, "rule longer { strings: $l = \"%s\" condition: $l }\n", longstr);
	REQUIRE(fclose(fp) == 0);
	y = compile1("b.yar", &n, &err);
	if (y == NULL)
		fprintf(stderr, "  %s\n", err.msg);
	REQUIRE(y != NULL);

	out = json_array();
	src_init(&s, data, len);
	s.max_chunk = 100000; /* partial reads are retried */
	CHECK(scan(y, NULL, "/big", &s, out, &st, &nread, &err) == 0 && st == YARASCAN_SCANNED);
	/* Plain strings read every byte once: overlaps are moved, not read again. */
	CHECK(nread == len && s.served == len);
	m = find_rule(out, "marker");
	REQUIRE(m != NULL);
	json_array_foreach(json_object_get(m, "strings"), k, m)
	{
		CHECK(k < 4 &&
		      json_integer_value(json_object_get(m, "offset")) == (json_int_t)at[k]);
		CHECK(json_integer_value(json_object_get(m, "length")) == (json_int_t)ml);
	}
	/* The long string is found where it fits in one block, not across the edge. */
	m = find_rule(out, "longer");
	REQUIRE(m != NULL);
	CHECK(json_array_size(json_object_get(m, "strings")) == 1);
	CHECK(json_integer_value(json_object_get(json_array_get(json_object_get(m, "strings"), 0),
						 "offset")) == 1000);
	json_decref(out);
	yarascan_free(y);
	free(longstr);
	free(data);
}

TEST(t_yarascan_filesize_uint32_and_hash_see_whole_file)
{
	const size_t len = 3 * YARASCAN_BLOCK_SIZE + 777;
	unsigned char *data = big_file(len);
	unsigned char md[32];
	char hex[65], rule[1024];
	unsigned mdlen = 0;
	struct yarascan *y;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out;
	enum yarascan_status st;
	uint64_t nread = 0;
	size_t n;
	uint32_t head, tail;

	REQUIRE(data != NULL);
	REQUIRE(EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) == 1 && mdlen == 32);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	head = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	       (uint32_t)data[3] << 24;
	tail = (uint32_t)data[len - 4] << 24 | (uint32_t)data[len - 3] << 16 |
	       (uint32_t)data[len - 2] << 8 | (uint32_t)data[len - 1];
	snprintf(rule, sizeof(rule),
		 "import \"hash\"\n"
		 "rule size { condition: filesize == %zu }\n"
		 "rule head { condition: uint32(0) == 0x%08x }\n"
		 "rule tail { condition: uint32be(filesize - 4) == 0x%08x }\n"
		 "rule digest { condition: hash.sha256(0, filesize) == \"%s\" }\n",
		 len, head, tail, hex);
	REQUIRE(write_file("w.yar", rule) == 0);
	y = compile1("w.yar", &n, &err);
	REQUIRE(y != NULL);
	out = json_array();
	src_init(&s, data, len);
	CHECK(scan(y, NULL, "/w", &s, out, &st, &nread, &err) == 0 && st == YARASCAN_SCANNED);
	CHECK(find_rule(out, "size") && find_rule(out, "head") && find_rule(out, "tail"));
	CHECK(find_rule(out, "digest") != NULL);
	/* The conditions read blocks again through the callback, and that is counted. */
	CHECK(nread > len && nread == s.served);
	json_decref(out);
	yarascan_free(y);
	free(data);
}

TEST(t_yarascan_elf_module_parses_header_in_block0)
{
	size_t len, n;
	char *elf = true_elf(&len);
	unsigned char *big;
	const size_t biglen = 2 * YARASCAN_BLOCK_SIZE + 5000;
	char rule[512];
	unsigned shnum, type;
	struct yarascan *y;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out;
	enum yarascan_status st;

	if (elf == NULL)
		SKIP("no ELF /bin/true");
	REQUIRE(len < YARASCAN_BLOCK_SIZE);
	/* e_type and e_shnum of a little-endian ELF64, read by hand. */
	REQUIRE(elf[4] == 2 && elf[5] == 1);
	type = (unsigned char)elf[16] | (unsigned char)elf[17] << 8;
	shnum = (unsigned char)elf[60] | (unsigned char)elf[61] << 8;
	snprintf(rule, sizeof(rule),
		 "import \"elf\"\n"
		 "rule elf_hdr { condition: elf.type == %u and elf.number_of_sections == %u }\n"
		 "rule elf_text { condition: for any s in elf.sections : (s.name == \".text\") }\n"
		 "rule magic { condition: uint32(0) == 0x464c457f and filesize == %zu }\n",
		 type, shnum, biglen);
	REQUIRE(write_file("elf.yar", rule) == 0);
	y = compile1("elf.yar", &n, &err);
	REQUIRE(y != NULL);
	/* /bin/true followed by 2 MiB of padding: three blocks, the whole ELF in block 0. */
	big = calloc(1, biglen);
	REQUIRE(big != NULL);
	memcpy(big, elf, len);
	out = json_array();
	src_init(&s, big, biglen);
	CHECK(scan(y, NULL, "/usr/bin/padded", &s, out, &st, NULL, &err) == 0);
	CHECK(st == YARASCAN_SCANNED);
	CHECK(find_rule(out, "elf_hdr") && find_rule(out, "elf_text") && find_rule(out, "magic"));
	json_decref(out);
	free(big);
	free(elf);
	yarascan_free(y);
}

TEST(t_yarascan_empty_file)
{
	struct yarascan *y;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out;
	enum yarascan_status st;
	uint64_t nread = 1;
	size_t n;

	REQUIRE(write_file("e.yar", "rule empty { condition: filesize == 0 }\n"
				    "rule nonempty { condition: filesize > 0 }\n") == 0);
	y = compile1("e.yar", &n, &err);
	REQUIRE(y != NULL);
	out = json_array();
	src_init(&s, "", 0);
	CHECK(scan(y, NULL, "/e", &s, out, &st, &nread, &err) == 0 && st == YARASCAN_SCANNED);
	CHECK(nread == 0);
	CHECK(find_rule(out, "empty") && !find_rule(out, "nonempty"));
	json_decref(out);
	yarascan_free(y);
}

TEST(t_yarascan_too_large_is_not_read)
{
	struct yarascan *y;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out = json_array();
	enum yarascan_status st;
	uint64_t nread = 99;
	size_t n;
	struct yarascan_opts o = { .max_size = 100 };
	char data[101];

	memset(data, 'x', sizeof(data));
	REQUIRE(write_file("t.yar", "rule always { condition: true }\n") == 0);
	y = compile1("t.yar", &n, &err);
	REQUIRE(y != NULL);
	src_init(&s, data, 101);
	CHECK(scan(y, &o, "/big", &s, out, &st, &nread, &err) == 0);
	CHECK(st == YARASCAN_TOO_LARGE && nread == 0 && s.calls == 0);
	CHECK(json_array_size(out) == 0 && err.code == DT_OK);
	/* Exactly max_size is scanned. */
	src_init(&s, data, 100);
	CHECK(scan(y, &o, "/ok", &s, out, &st, &nread, &err) == 0);
	CHECK(st == YARASCAN_SCANNED && nread == 100 && json_array_size(out) == 1);
	json_decref(out);
	yarascan_free(y);
}

TEST(t_yarascan_read_failure_is_unreadable)
{
	const size_t len = 2 * YARASCAN_BLOCK_SIZE;
	unsigned char *data = big_file(len);
	struct yarascan *y;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out = json_array();
	enum yarascan_status st;
	size_t n;

	REQUIRE(data != NULL);
	REQUIRE(write_file("t.yar", "rule always { condition: true }\n") == 0);
	y = compile1("t.yar", &n, &err);
	REQUIRE(y != NULL);
	/* Failing in the second block: the rule would match, but nothing is delivered. */
	src_init(&s, data, len);
	s.fail_at = YARASCAN_BLOCK_SIZE + 10;
	CHECK(scan(y, NULL, "/data/f", &s, out, &st, NULL, &err) == 0);
	CHECK(st == YARASCAN_UNREADABLE && json_array_size(out) == 0);
	CHECK(err.code == DT_EIO && strstr(err.msg, "'/data/f'") != NULL);
	CHECK(strstr(err.msg, "Input/output error") != NULL);
	dt_clear(&err);
	/* Failing at once. */
	src_init(&s, data, len);
	s.fail_at = 0;
	CHECK(scan(y, NULL, "/data/g", &s, out, &st, NULL, &err) == 0);
	CHECK(st == YARASCAN_UNREADABLE && err.code == DT_EIO && strstr(err.msg, "'/data/g'"));
	dt_clear(&err);
	/* Content shorter than the size the caller gave. */
	{
		struct yarascan_file f = { "/data/h", 7, 500, NULL, src_read, &s, 0 };
		src_init(&s, data, 300);
		CHECK(yarascan_file(y, NULL, &f, collect, out, &st, NULL, &err) == 0);
		CHECK(st == YARASCAN_UNREADABLE && err.code == DT_EIO);
		CHECK(strstr(err.msg, "ends before 500 bytes") != NULL);
	}
	CHECK(json_array_size(out) == 0);
	json_decref(out);
	yarascan_free(y);
	free(data);
}

TEST(t_yarascan_slow_read_times_out)
{
	const size_t len = 4 * YARASCAN_BLOCK_SIZE;
	unsigned char *data = big_file(len);
	struct yarascan *y;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out = json_array();
	enum yarascan_status st;
	size_t n;
	struct yarascan_opts o = { .timeout = 1 };
	struct yarascan_scanner *ys = NULL;
	struct yarascan_file f = { "/slow", 5, len, NULL, src_read, &s, 0 };
	struct timespec t0, t1;

	REQUIRE(data != NULL);
	REQUIRE(write_file("t.yar", "rule always { condition: true }\n") == 0);
	y = compile1("t.yar", &n, &err);
	REQUIRE(y != NULL);
	src_init(&s, data, len);
	s.sleep_ms = 600;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(scan(y, &o, "/slow", &s, out, &st, NULL, &err) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(st == YARASCAN_TIMEOUT && json_array_size(out) == 0 && err.code == DT_OK);
	/* Stopped after a block or two, not after reading all four. */
	CHECK(s.calls < 4 && t1.tv_sec - t0.tv_sec < 3);
	/* A deadline sooner than the timeout ends it the same way, with a kept scanner too. */
	o.timeout = 100;
	o.deadline = mono_now() + 1;
	REQUIRE(yarascan_scanner_new(y, &ys, &err) == 0);
	src_init(&s, data, len);
	s.sleep_ms = 600;
	CHECK(yarascan_scan(ys, &o, &f, collect, out, &st, NULL, &err) == 0);
	CHECK(st == YARASCAN_TIMEOUT && json_array_size(out) == 0 && err.code == DT_OK);
	CHECK(s.calls < 4 && mono_now() - o.deadline < 2);
	yarascan_scanner_free(ys);
	json_decref(out);
	yarascan_free(y);
	free(data);
}

/* One scanner over many files: each file gets its own externals, matches and status, as
 * yarascan_file() gives them; a match or a timeout of one file never carries to the next. */
TEST(t_yarascan_scanner_reused)
{
	struct yarascan *y;
	struct yarascan_scanner *ys = NULL;
	struct dt_err err = { 0 };
	struct src s;
	json_t *out, *ref;
	enum yarascan_status st, st2;
	size_t n;
	struct yarascan_file f;
	struct yarascan_opts o = { 0 };
	const char *const bodies[] = { "xxabcxx", "nothing", "abc", "", "zzabc" };
	const char *const paths[] = { "/a.php", "/t!m/b.txt", "/c", "/d.php", "/x.tar!e.php" };

	REQUIRE(write_file("t.yar", "rule abc { strings: $a = \"abc\" condition: $a }\n"
				    "rule php { condition: extension == \".php\" }\n"
				    "rule named_e { condition: filename == \"e.php\" }\n") == 0);
	y = compile1("t.yar", &n, &err);
	REQUIRE(y != NULL);
	REQUIRE(yarascan_scanner_new(y, &ys, &err) == 0 && ys != NULL);
	for (int round = 0; round < 2; round++) {
		for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
			out = json_array();
			ref = json_array();
			src_init(&s, bodies[i], strlen(bodies[i]));
			memset(&f, 0, sizeof(f));
			f.path = paths[i];
			f.path_len = strlen(paths[i]);
			f.size = s.len;
			f.read = src_read;
			f.rctx = &s;
			f.member = strchr(paths[i], '!') != NULL;
			CHECK(yarascan_scan(ys, NULL, &f, collect, out, &st, NULL, &err) == 0);
			src_init(&s, bodies[i], strlen(bodies[i]));
			CHECK(yarascan_file(y, NULL, &f, collect, ref, &st2, NULL, &err) == 0);
			CHECK(st == YARASCAN_SCANNED && st2 == YARASCAN_SCANNED);
			CHECK(json_equal(out, ref));
			CHECK(!find_rule(out, "abc") == !strstr(bodies[i], "abc"));
			CHECK(!find_rule(out, "php") == !strstr(paths[i], ".php"));
			CHECK(!find_rule(out, "named_e") == (i != 4));
			json_decref(out);
			json_decref(ref);
		}
		/* A deadline already past: a timeout, nothing read; the next file is scanned. */
		out = json_array();
		src_init(&s, "abc", 3);
		f.path = "/late";
		f.path_len = 5;
		f.size = 3;
		f.member = 0;
		o.deadline = mono_now() - 1;
		CHECK(yarascan_scan(ys, &o, &f, collect, out, &st, NULL, &err) == 0);
		CHECK(st == YARASCAN_TIMEOUT && s.calls == 0 && json_array_size(out) == 0);
		o.deadline = 0;
		json_decref(out);
	}
	CHECK(yarascan_scan(NULL, NULL, &f, collect, NULL, &st, NULL, &err) == -1);
	CHECK(err.code == DT_EUSAGE);
	yarascan_scanner_free(ys);
	yarascan_scanner_free(NULL);
	yarascan_free(y);
}

TEST(t_yarascan_bad_arguments)
{
	struct yarascan *y;
	struct dt_err err = { 0 };
	enum yarascan_status st;
	size_t n;
	struct src s;
	struct yarascan_file f = { "/x", 2, 1, NULL, NULL, &s, 0 };

	REQUIRE(write_file("t.yar", "rule always { condition: true }\n") == 0);
	y = compile1("t.yar", &n, &err);
	REQUIRE(y != NULL);
	CHECK(yarascan_file(y, NULL, &f, collect, NULL, &st, NULL, &err) == -1);
	CHECK(err.code == DT_EUSAGE);
	dt_clear(&err);
	CHECK(yarascan_file(y, NULL, NULL, collect, NULL, &st, NULL, &err) == -1);
	CHECK(yarascan_file(NULL, NULL, &f, collect, NULL, &st, NULL, &err) == -1);
	CHECK(strcmp(yarascan_status_name(YARASCAN_TOO_LARGE), "too large") == 0);
	yarascan_free(y);
}

TEST(t_yarascan_libyara_refcount)
{
	struct yarascan *a, *b;
	struct dt_err err = { 0 };
	size_t n;
	struct src s;
	json_t *out = json_array();
	enum yarascan_status st;

	REQUIRE(write_file("t.yar", "rule abc { strings: $a = \"abc\" condition: $a }\n") == 0);
	a = compile1("t.yar", &n, &err);
	b = compile1("t.yar", &n, &err);
	REQUIRE(a != NULL && b != NULL);
	/* Freeing one set leaves libyara alive for the other. */
	yarascan_free(a);
	src_init(&s, "xxabcxx", 7);
	CHECK(scan(b, NULL, "/f", &s, out, &st, NULL, &err) == 0 && json_array_size(out) == 1);
	yarascan_free(b);
	/* And after the last one, libyara comes back for the next. */
	a = compile1("t.yar", &n, &err);
	REQUIRE(a != NULL);
	src_init(&s, "xxabcxx", 7);
	CHECK(scan(a, NULL, "/f", &s, out, &st, NULL, &err) == 0 && json_array_size(out) == 2);
	yarascan_free(a);
	json_decref(out);
}

struct thread_arg {
	struct yarascan *y;
	const unsigned char *data;
	size_t len;
	int ok;
};

static void *
scan_thread(void *p)
{
	struct thread_arg *a = p;

	a->ok = 1;
	for (int i = 0; i < 20; i++) {
		struct src s;
		json_t *out = json_array();
		enum yarascan_status st;
		struct dt_err err = { 0 };
		char path[64];

		snprintf(path, sizeof(path), "/t/%d.php", i);
		src_init(&s, a->data, a->len);
		if (scan(a->y, NULL, path, &s, out, &st, NULL, &err) != 0 ||
		    st != YARASCAN_SCANNED || find_rule(out, "php_webshell_request_exec") == NULL)
			a->ok = 0;
		json_decref(out);
	}
	return NULL;
}

TEST(t_yarascan_threads_share_rules)
{
	char p[PATH_MAX];
	size_t n, len;
	struct yarascan *y = compile_own(&n);
	char *data;
	pthread_t th[4];
	struct thread_arg args[4];

	REQUIRE(y != NULL);
	snprintf(p, sizeof(p), "%s/tests/data/yara/php_webshell_request_exec.pos", top());
	data = t_slurp(p, &len);
	REQUIRE(data != NULL);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){ y, (unsigned char *)data, len, 0 };
		REQUIRE(pthread_create(&th[i], NULL, scan_thread, &args[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(args[i].ok);
	}
	free(data);
	yarascan_free(y);
}
