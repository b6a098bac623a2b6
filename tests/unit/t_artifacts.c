/*
 * t_artifacts.c - ForensicArtifacts loading and matching (src/artifacts/).
 *
 * Expected counts and match results come from PyYAML and an independent Python matcher, not
 * from our code: tests/data/artifacts/counts.py and tests/data/artifacts/oracle.py (the
 * commands are given beside each table). The upstream definitions are Debian's
 * forensic-artifacts package (/usr/share/artifacts, or $DELTAIR_ARTIFACTS_UPSTREAM), the
 * repository is found through $TOP or the test binary's location (build/<mode>/unit-tests).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifacts.h"
#include "t.h"

static int
exists(const char *dir, const char *file)
{
	char p[PATH_MAX];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, file);
	return stat(p, &sb) == 0;
}

/* The repository's top directory, or NULL. */
static const char *
top_dir(void)
{
	const char *top = t_top();

	return top && exists(top, "artifacts/deltair_linux.yaml") ? top : NULL;
}

static const char *
own_dir(void)
{
	static char dir[PATH_MAX];
	const char *top = top_dir();

	if (top == NULL)
		return NULL;
	if ((size_t)snprintf(dir, sizeof(dir), "%s/artifacts", top) >= sizeof(dir))
		return NULL;
	return dir;
}

/* Debian's forensic-artifacts package, as deltair loads it by default. */
static const char *
upstream_dir(void)
{
	const char *env = getenv("DELTAIR_ARTIFACTS_UPSTREAM");

	if (env && *env)
		return exists(env, "linux.yaml") ? env : NULL;
	return exists("/usr/share/artifacts", "linux.yaml") ? "/usr/share/artifacts" : NULL;
}

static int
load_text(const char *yaml, struct artifacts **a, struct artifacts_stats *st, struct dt_err *err)
{
	return artifacts_load_mem("t.yaml", yaml, strlen(yaml), a, st, err);
}

/* The names covering path, space-separated, into buf. */
static const char *
matched(const struct artifacts *a, const char *path, int is_dir, char *buf, size_t size)
{
	const char *names[1024];
	size_t n = artifacts_match(a, path, strlen(path), is_dir, names, 1024), o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? " " : "", names[i]);
	return buf;
}

static int
covers(const struct artifacts *a, const char *path, int is_dir, const char *name)
{
	const char *names[1024];
	size_t n = artifacts_match(a, path, strlen(path), is_dir, names, 1024);

	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

static size_t
count_matches(const struct artifacts *a, const char *path, int is_dir)
{
	const char *names[1024];

	return artifacts_match(a, path, strlen(path), is_dir, names, 1024);
}

static size_t
total_globs(const struct artifacts *a)
{
	size_t n = 0;

	for (size_t i = 0; i < artifacts_count(a); i++)
		n += artifacts_glob_count(a, i);
	return n;
}

/*
 * python3 tests/data/artifacts/counts.py /usr/share/artifacts (forensic-artifacts 20221219-1)
 * prints: files 31 definitions 660 linux_definitions 243 sources_used 237
 * sources_skipped_type 6 sources_skipped_os 513 missing_group_members 0 paths_skipped 0
 * linux_globs 787
 */
TEST(t_artifacts_upstream_all_load)
{
	const char *up = upstream_dir();
	struct artifacts *a = NULL;
	struct artifacts_stats st;
	struct dt_err err = { 0 };
	size_t i;

	if (up == NULL)
		SKIP("upstream definitions not found (install forensic-artifacts)");
	REQUIRE(artifacts_load(&up, 1, &a, &st, &err) == 0);
	CHECK(st.files == 31);
	CHECK(st.definitions == 660 && artifacts_count(a) == 660);
	CHECK(st.linux_definitions == 243);
	CHECK(st.sources_used == 237);
	CHECK(st.sources_skipped_type == 6);
	CHECK(st.sources_skipped_os == 513);
	CHECK(st.missing_group_members == 0);
	CHECK(st.paths_skipped == 0);
	CHECK(total_globs(a) == 787);

	/* Names are in strcmp order; lookups by name and by alias. */
	for (i = 1; i < artifacts_count(a); i++)
		CHECK(strcmp(artifacts_name(a, i - 1), artifacts_name(a, i)) < 0);
	i = artifacts_find(a, "LinuxPasswdFile");
	REQUIRE(i != ARTIFACTS_NONE);
	CHECK(strcmp(artifacts_name(a, i), "LinuxPasswdFile") == 0);
	CHECK(artifacts_glob_count(a, i) == 1 &&
	      strcmp(artifacts_glob(a, i, 0, NULL), "/etc/passwd") == 0);
	CHECK(artifacts_os_count(a, i) == 1 && strcmp(artifacts_os(a, i, 0), "Linux") == 0);
	CHECK(strstr(artifacts_file(a, i), "linux.yaml") != NULL && artifacts_line(a, i) > 1);
	CHECK(artifacts_find(a, "MacOSBashHistory") == artifacts_find(a, "BashShellHistoryFile"));
	CHECK(artifacts_find(a, "NoSuchArtifact") == ARTIFACTS_NONE);
	/* A Windows-only definition of a mixed file is listed but not Linux. */
	i = artifacts_find(a, "TriageExecution");
	REQUIRE(i != ARTIFACTS_NONE);
	CHECK(!artifacts_is_linux(a, i) && artifacts_member_count(a, i) == 0);
	i = artifacts_find(a, "LinuxScheduleFiles");
	REQUIRE(i != ARTIFACTS_NONE);
	CHECK(artifacts_member_count(a, i) == 3 &&
	      strcmp(artifacts_member(a, i, 0), "AnacronFiles") == 0);
	artifacts_free(a);
}

/*
 * counts.py artifacts: files 2 definitions 40 linux_definitions 40 sources_used 40
 * missing_group_members 61 linux_globs 143 (the rest 0).
 * counts.py /usr/share/artifacts artifacts: files 33 definitions 700 linux_definitions 283
 * sources_used 277 sources_skipped_type 6 sources_skipped_os 513 missing_group_members 0
 * linux_globs 930.
 */
TEST(t_artifacts_own_load_alone_and_with_upstream)
{
	const char *own = own_dir(), *up = upstream_dir();
	const char *both[2];
	struct artifacts *a = NULL;
	struct artifacts_stats st;
	struct dt_err err = { 0 };

	if (own == NULL)
		SKIP("repository not found (set TOP)");
	REQUIRE(artifacts_load(&own, 1, &a, &st, &err) == 0);
	CHECK(st.files == 2 && st.definitions == 40 && st.linux_definitions == 40);
	CHECK(st.sources_used == 40 && st.sources_skipped_type == 0 && st.sources_skipped_os == 0);
	CHECK(st.missing_group_members == 61 && st.paths_skipped == 0);
	CHECK(total_globs(a) == 143);
	artifacts_free(a);

	if (up == NULL)
		SKIP("upstream definitions not found (install forensic-artifacts)");
	both[0] = up;
	both[1] = own;
	REQUIRE(artifacts_load(both, 2, &a, &st, &err) == 0);
	CHECK(st.files == 33 && st.definitions == 700 && st.linux_definitions == 283);
	CHECK(st.sources_used == 277 && st.sources_skipped_type == 6);
	CHECK(st.sources_skipped_os == 513 && st.missing_group_members == 0);
	CHECK(total_globs(a) == 930);
	/* Every member of our groups is defined once upstream is there. */
	for (size_t i = 0; i < artifacts_count(a); i++) {
		if (strstr(artifacts_file(a, i), "/artifacts/deltair_") == NULL)
			continue;
		for (size_t j = 0; j < artifacts_member_count(a, i); j++)
			CHECK(artifacts_find(a, artifacts_member(a, i, j)) != ARTIFACTS_NONE);
	}
	artifacts_free(a);
}

/* The upstream rules we can check on our own definitions. */
TEST(t_artifacts_own_follow_upstream_rules)
{
	const char *own = own_dir();
	struct artifacts *a = NULL;
	struct dt_err err = { 0 };
	const char *prev_file = NULL;
	size_t prev_line = 0;

	if (own == NULL)
		SKIP("repository not found (set TOP)");
	REQUIRE(artifacts_load(&own, 1, &a, NULL, &err) == 0);
	REQUIRE(artifacts_count(a) > 0);
	for (size_t i = 0; i < artifacts_count(a); i++) {
		const char *name = artifacts_name(a, i);
		int camel = name[0] >= 'A' && name[0] <= 'Z';

		for (const char *p = name; *p; p++)
			if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			      (*p >= '0' && *p <= '9')))
				camel = 0;
		CHECK(camel);
		CHECK(strncmp(name, "Deltair", 7) == 0);
		CHECK(artifacts_doc(a, i) != NULL && strlen(artifacts_doc(a, i)) > 10);
		CHECK(artifacts_os_count(a, i) == 1 && strcmp(artifacts_os(a, i, 0), "Linux") == 0);
		CHECK(artifacts_is_linux(a, i));
		CHECK(artifacts_glob_count(a, i) + artifacts_member_count(a, i) > 0);
		/* Sorted within each file (index order is name order, so lines must rise). */
		if (prev_file && strcmp(prev_file, artifacts_file(a, i)) == 0)
			CHECK(artifacts_line(a, i) > prev_line);
		prev_file = artifacts_file(a, i);
		prev_line = artifacts_line(a, i);
	}
	artifacts_free(a);
}

/*
 * Expected names from the independent matcher:
 *   python3 tests/data/artifacts/oracle.py --user root:/root --user alice:/home/alice \
 *       /usr/share/artifacts artifacts < paths
 */
TEST(t_artifacts_match_agrees_with_oracle)
{
	static const struct {
		const char *path;
		int is_dir;
		const char *names;
	} cases[] = {
		{ "/etc/passwd", 0,
		  "DeltairLinuxAuthentication DeltairLinuxTriage LinuxPasswdFile "
		  "LoginPolicyConfiguration TriageSystemConfiguration UnixPasswdFile "
		  "UnixUsersGroups" },
		{ "/root/.bashrc", 0,
		  "BashShellConfigurationFile DeltairLinuxShellFiles DeltairLinuxTriage "
		  "RootUserShellConfigs ShellConfigurationFile TriageUserConfiguration" },
		{ "/home/alice/.bash_history", 0,
		  "BashShellHistoryFile DeltairLinuxShellFiles DeltairLinuxTriage "
		  "DeltairShellHistoryFiles ShellHistoryFile TriageHistoryFiles" },
		{ "/home/alice/.ssh/authorized_keys", 0,
		  "DeltairLinuxAuthentication DeltairLinuxTriage SSHAuthorizedKeysFiles "
		  "TriageUserConfiguration" },
		{ "/home/bob/.ssh/authorized_keys", 0, "" },
		{ "/etc/sudoers.d/90-cloud-init-users", 0,
		  "DeltairLinuxAuthentication DeltairLinuxTriage DeltairSudoersIncludeFiles" },
		{ "/etc/systemd/system/multi-user.target.wants/evil.service", 0,
		  "DeltairLinuxPersistence DeltairLinuxTriage DeltairSystemdUnitFiles" },
		{ "/etc/systemd/system/multi-user.target.wants", 1, "" },
		{ "/var/www/html/shell.php", 0,
		  "DeltairLinuxTriage DeltairLinuxWebServers DeltairWebRootFiles" },
		{ "/lib/modules/6.1.0-13-cloud-amd64/kernel/drivers/net/rootkit.ko", 0,
		  "DeltairKernelModuleFiles DeltairLinuxKernelModules DeltairLinuxTriage" },
		{ "/etc/cron.d/job", 0,
		  "DeltairLinuxScheduledTasks DeltairLinuxTriage LinuxCronTabs LinuxScheduleFiles "
		  "TriagePersistence" },
		{ "/var/lib/cloud/instances/i-0123/user-data.txt", 0,
		  "DeltairCloudInitFiles DeltairLinuxTriage" },
		{ "/etc/ld.so.preload", 0,
		  "DeltairLinuxAuthentication DeltairLinuxTriage LinuxLoaderSystemPreloadFile "
		  "TriageSystemConfiguration" },
		{ "/var/log/auth.log", 0,
		  "DeltairLinuxLogs DeltairLinuxTriage LinuxAuthLogs MySQLLogFiles "
		  "TriageDatabaseConfigsAndLogs TriageSystemLogs" },
		{ "/usr/share/doc/bash/README", 0, "" },
		{ "/home/alice/Downloads/x", 1, "UserDownloadsDirectory" },
		{ "/home/alice/Downloads/x/y", 0, "" },
		{ "/etc/pam.d/sshd", 0,
		  "DeltairLinuxAuthentication DeltairLinuxTriage LinuxPamConfigs "
		  "TriageSystemConfiguration" },
		{ "/var/lib/dpkg/status", 0,
		  "DebianPackagesStatus DeltairLinuxPackageDatabases DeltairLinuxTriage "
		  "TriageSystemConfiguration" },
	};
	static const struct artifacts_user users[] = { { "root", "/root" },
						       { "alice", "/home/alice" } };
	const char *up = upstream_dir(), *own = own_dir();
	const char *both[2] = { up, own };
	struct artifacts *a = NULL;
	struct dt_err err = { 0 };
	char buf[4096];

	if (up == NULL || own == NULL)
		SKIP("upstream or own definitions not found (install forensic-artifacts; set TOP)");
	REQUIRE(artifacts_load(both, 2, &a, NULL, &err) == 0);
	REQUIRE(artifacts_prepare(a, users, 2, &err) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = matched(a, cases[i].path, cases[i].is_dir, buf, sizeof(buf));

		if (strcmp(got, cases[i].names) != 0) {
			fprintf(stderr, "  %s: got '%s'\n  want '%s'\n", cases[i].path, got,
				cases[i].names);
			CHECK(!"match differs from the oracle");
		}
	}
	artifacts_free(a);
}

TEST(t_artifacts_globstar_is_one_to_n_levels)
{
	static const char yaml[] = "# t\n"
				   "---\n"
				   "name: Star\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/a/**/b']}\n"
				   "---\n"
				   "name: StarTwo\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/c/**2']}\n"
				   "---\n"
				   "name: StarOne\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/e/**1/f']}\n";
	struct artifacts *a = NULL;
	struct dt_err err = { 0 };

	REQUIRE(load_text(yaml, &a, NULL, &err) == 0);
	CHECK(!covers(a, "/a/b", 0, "Star")); /* never zero levels */
	CHECK(covers(a, "/a/x/b", 0, "Star"));
	CHECK(covers(a, "/a/.hidden/x/b", 0, "Star"));
	CHECK(covers(a, "/a/1/2/3/4/5/6/7/8/9/10/b", 0, "Star"));
	CHECK(!covers(a, "/a/1/2/3/4/5/6/7/8/9/10/11/b", 0, "Star"));
	CHECK(!covers(a, "/a/x/c", 0, "Star"));
	CHECK(!covers(a, "/c", 0, "StarTwo"));
	CHECK(covers(a, "/c/x", 0, "StarTwo"));
	CHECK(covers(a, "/c/x/y", 0, "StarTwo"));
	CHECK(!covers(a, "/c/x/y/z", 0, "StarTwo"));
	CHECK(covers(a, "/e/x/f", 0, "StarOne"));
	CHECK(!covers(a, "/e/x/y/f", 0, "StarOne"));
	CHECK(!covers(a, "/e/f", 0, "StarOne"));
	/* Repeated and trailing slashes in the path do not matter. */
	CHECK(covers(a, "//a//x///b/", 0, "Star"));
	/* A NUL byte in a path matches nothing. */
	CHECK(artifacts_match(a, "/a/x\0/b", 7, 0, (const char *[4]){ 0 }, 4) == 0);
	artifacts_free(a);
}

TEST(t_artifacts_segment_globs)
{
	static const char yaml[] = "name: Globs\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes:\n"
				   "    paths:\n"
				   "    - '/var/log/gc.log.[0-9]'\n"
				   "    - '/etc/rc?.d/*'\n"
				   "    - '/etc/cron.d/*'\n";
	struct artifacts *a = NULL;
	struct dt_err err = { 0 };

	REQUIRE(load_text(yaml, &a, NULL, &err) == 0);
	CHECK(covers(a, "/var/log/gc.log.3", 0, "Globs"));
	CHECK(!covers(a, "/var/log/gc.log.a", 0, "Globs"));
	CHECK(!covers(a, "/var/log/gc.log.10", 0, "Globs"));
	CHECK(covers(a, "/etc/rc3.d/S01ssh", 0, "Globs"));
	CHECK(!covers(a, "/etc/rc.d/S01ssh", 0, "Globs"));
	CHECK(!covers(a, "/etc/rc33.d/S01ssh", 0, "Globs"));
	CHECK(covers(a, "/etc/cron.d/.hidden", 0, "Globs"));  /* '*' takes a leading dot */
	CHECK(!covers(a, "/etc/cron.d/sub/job", 0, "Globs")); /* '*' stays in its segment */
	CHECK(!covers(a, "/etc/cron.d", 0, "Globs"));
	artifacts_free(a);
}

TEST(t_artifacts_homedir_expansion)
{
	static const char yaml[] = "name: Rc\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['%%users.homedir%%/.bashrc']}\n"
				   "---\n"
				   "name: Keys\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['%%USERS.HOMEDIR%%/.ssh/**2']}\n";
	struct artifacts_user users[] = {
		{ "root", "/root" }, { "alice", "/home/alice/" }, { "bob", "/home/*" },
		{ "toor", "/" },     { "ghost", "//" },           { "rel", "home/rel" },
		{ "nohome", "" },    { "nullhome", NULL },
	};
	struct artifacts *a = NULL;
	struct dt_err err = { 0 };
	char buf[256];

	REQUIRE(load_text(yaml, &a, NULL, &err) == 0);
	/* Before artifacts_prepare() no home is known. */
	CHECK(!covers(a, "/root/.bashrc", 0, "Rc"));
	REQUIRE(artifacts_prepare(a, users, sizeof(users) / sizeof(users[0]), &err) == 0);
	CHECK(covers(a, "/root/.bashrc", 0, "Rc"));
	CHECK(covers(a, "/home/alice/.bashrc", 0, "Rc"));
	CHECK(!covers(a, "/home/carol/.bashrc", 0, "Rc")); /* bob's '*' is literal */
	CHECK(covers(a, "/home/*/.bashrc", 0, "Rc"));
	CHECK(!covers(a, "/root/x/.bashrc", 0, "Rc"));
	CHECK(!covers(a, "/home/rel/.bashrc", 0, "Rc"));   /* relative home ignored */
	CHECK(!covers(a, "/home/alice/.bashrc", 1, "Rc")); /* FILE: not a directory */
	/* Home "/" (twice, as "/" and "//") covers /.bashrc once, and nothing else. */
	CHECK(strcmp(matched(a, "/.bashrc", 0, buf, sizeof(buf)), "Rc") == 0);
	CHECK(count_matches(a, "/etc/.bashrc", 0) == 0);
	CHECK(count_matches(a, "/etc/passwd", 0) == 0);
	CHECK(count_matches(a, "/", 1) == 0);
	CHECK(covers(a, "/home/alice/.ssh/authorized_keys", 0, "Keys"));
	CHECK(covers(a, "/home/alice/.ssh/a/b", 0, "Keys"));
	CHECK(!covers(a, "/home/alice/.ssh/a/b/c", 0, "Keys"));
	CHECK(covers(a, "/.ssh/authorized_keys", 0, "Keys"));
	CHECK(!covers(a, "/home/alice/.ssh", 0, "Keys"));

	/* A second prepare replaces the first. */
	REQUIRE(artifacts_prepare(a, users, 1, &err) == 0);
	CHECK(covers(a, "/root/.bashrc", 0, "Rc"));
	CHECK(!covers(a, "/home/alice/.bashrc", 0, "Rc"));
	CHECK(!covers(a, "/.bashrc", 0, "Rc"));
	REQUIRE(artifacts_prepare(a, NULL, 0, &err) == 0);
	CHECK(!covers(a, "/root/.bashrc", 0, "Rc"));
	artifacts_free(a);
}

TEST(t_artifacts_username_expansion)
{
	static const char yaml[] = "name: Spool\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes:\n"
				   "    paths:\n"
				   "    - '/var/spool/cron/crontabs/%%users.username%%'\n"
				   "    - '/tmp/x-%%users.username%%-*'\n"
				   "    - '%%users.homedir%%/%%users.username%%.txt'\n";
	struct artifacts_user users[] = { { "alice", "/home/alice" },
					  { "a*", "/home/star" },
					  { "b[c", "/home/brk" },
					  { "sl/ash", "/home/sl" },
					  { "carol", "/home/c*" } };
	struct artifacts *a = NULL;
	struct dt_err err = { 0 };

	REQUIRE(load_text(yaml, &a, NULL, &err) == 0);
	REQUIRE(artifacts_prepare(a, users, 5, &err) == 0);
	CHECK(covers(a, "/var/spool/cron/crontabs/alice", 0, "Spool"));
	CHECK(!covers(a, "/var/spool/cron/crontabs/mallory", 0, "Spool"));
	CHECK(covers(a, "/var/spool/cron/crontabs/a*", 0, "Spool"));
	CHECK(!covers(a, "/var/spool/cron/crontabs/abc", 0, "Spool")); /* names are literal */
	CHECK(covers(a, "/tmp/x-alice-1", 0, "Spool"));
	CHECK(covers(a, "/tmp/x-b[c-1", 0, "Spool"));
	CHECK(!covers(a, "/tmp/x-bc-1", 0, "Spool"));
	CHECK(!covers(a, "/tmp/x-axyz-1", 0, "Spool"));
	CHECK(covers(a, "/home/alice/alice.txt", 0, "Spool"));
	CHECK(!covers(a, "/home/alice/a*.txt", 0, "Spool")); /* each user with its own home */
	CHECK(covers(a, "/home/star/a*.txt", 0, "Spool"));
	CHECK(!covers(a, "/var/spool/cron/crontabs/sl/ash", 0, "Spool"));
	CHECK(covers(a, "/home/c*/carol.txt", 0, "Spool"));
	CHECK(!covers(a, "/home/cx/carol.txt", 0, "Spool")); /* a home is never a glob */
	artifacts_free(a);
}

TEST(t_artifacts_supported_os_filtering)
{
	static const char yaml[] = "name: WinOnly\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/w']}\n"
				   "- type: REGISTRY_KEY\n"
				   "  attributes: {keys: ['HKEY_LOCAL_MACHINE\\Software']}\n"
				   "supported_os: [Windows]\n"
				   "---\n"
				   "name: Mixed\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/m/win'], separator: '/'}\n"
				   "  supported_os: [Windows]\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/m/both']}\n"
				   "- type: COMMAND\n"
				   "  attributes: {cmd: /bin/true, args: []}\n"
				   "supported_os: [Linux, Windows]\n"
				   "---\n"
				   "name: Unsaid\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: PATH\n"
				   "  attributes: {paths: ['/u']}\n"
				   "---\n"
				   "name: Override\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/o']}\n"
				   "  supported_os: [Linux]\n"
				   "- type: WMI\n"
				   "  attributes: {query: SELECT}\n"
				   "supported_os: [Windows]\n"
				   "---\n"
				   "name: EmptyList\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/e']}\n"
				   "  supported_os: []\n"
				   "supported_os: [Darwin]\n"
				   "---\n"
				   "name: EmptyLists\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/f']}\n"
				   "  supported_os: []\n"
				   "supported_os: []\n";
	struct artifacts *a = NULL;
	struct artifacts_stats st;
	struct dt_err err = { 0 };

	REQUIRE(load_text(yaml, &a, &st, &err) == 0);
	CHECK(st.definitions == 6);
	CHECK(st.linux_definitions == 4);    /* Mixed, Unsaid, Override, EmptyLists */
	CHECK(st.sources_used == 4);         /* /m/both, /u, /o, /f */
	CHECK(st.sources_skipped_type == 1); /* COMMAND */
	/* WinOnly's two, Mixed's /m/win, Override's WMI, EmptyList's (inherits Darwin) */
	CHECK(st.sources_skipped_os == 5);
	CHECK(count_matches(a, "/w", 0) == 0);
	CHECK(count_matches(a, "/m/win", 0) == 0);
	CHECK(covers(a, "/m/both", 0, "Mixed"));
	CHECK(covers(a, "/u", 1, "Unsaid"));
	CHECK(covers(a, "/o", 0, "Override"));
	CHECK(count_matches(a, "/e", 0) == 0);
	CHECK(covers(a, "/f", 0, "EmptyLists")); /* empty lists say nothing */
	CHECK(!artifacts_is_linux(a, artifacts_find(a, "WinOnly")));
	CHECK(artifacts_glob_count(a, artifacts_find(a, "Mixed")) == 1);
	artifacts_free(a);
}

TEST(t_artifacts_file_path_directory_semantics)
{
	static const char yaml[] = "name: F\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/d/*']}\n"
				   "---\n"
				   "name: P\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: PATH\n"
				   "  attributes: {paths: ['/p']}\n"
				   "---\n"
				   "name: D\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: DIRECTORY\n"
				   "  attributes: {paths: ['/q/*']}\n";
	struct artifacts *a = NULL;
	struct dt_err err = { 0 };

	REQUIRE(load_text(yaml, &a, NULL, &err) == 0);
	CHECK(covers(a, "/d/f", 0, "F"));
	CHECK(!covers(a, "/d/sub", 1, "F"));
	CHECK(covers(a, "/p", 1, "P"));
	CHECK(covers(a, "/p", 0, "P"));
	CHECK(!covers(a, "/p/child", 0, "P"));
	CHECK(covers(a, "/q/dir", 1, "D"));
	CHECK(covers(a, "/q/dir/child", 0, "D"));
	CHECK(covers(a, "/q/dir/sub", 1, "D"));
	CHECK(!covers(a, "/q/dir/sub/grandchild", 0, "D"));
	CHECK(!covers(a, "/q", 1, "D"));
	artifacts_free(a);
}

TEST(t_artifacts_groups_transitive_loop_safe_missing_counted)
{
	static const char yaml[] = "name: A\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/a']}\n"
				   "aliases: [AliasOfA]\n"
				   "---\n"
				   "name: G1\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: ARTIFACT_GROUP\n"
				   "  attributes: {names: [AliasOfA, G2, Missing1]}\n"
				   "---\n"
				   "name: G2\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: ARTIFACT_GROUP\n"
				   "  attributes: {names: [G1, G2, B]}\n"
				   "---\n"
				   "name: G3\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: ARTIFACT_GROUP\n"
				   "  attributes: {names: [G2]}\n"
				   "---\n"
				   "name: WinGroup\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: ARTIFACT_GROUP\n"
				   "  attributes: {names: [A, Missing2]}\n"
				   "supported_os: [Windows]\n"
				   "---\n"
				   "name: B\n"
				   "doc: d\n"
				   "sources:\n"
				   "- type: FILE\n"
				   "  attributes: {paths: ['/b']}\n";
	struct artifacts *a = NULL;
	struct artifacts_stats st;
	struct dt_err err = { 0 };
	const char *names[3];
	char buf[256];

	REQUIRE(load_text(yaml, &a, &st, &err) == 0);
	CHECK(st.missing_group_members == 2);
	CHECK(strcmp(matched(a, "/a", 0, buf, sizeof(buf)), "A G1 G2 G3") == 0);
	CHECK(strcmp(matched(a, "/b", 0, buf, sizeof(buf)), "B G1 G2 G3") == 0);
	CHECK(count_matches(a, "/c", 0) == 0);
	/* At most max names, the first in order. */
	if (artifacts_match(a, "/a", 2, 0, names, 2) == 2)
		CHECK(strcmp(names[0], "A") == 0 && strcmp(names[1], "G1") == 0);
	else
		CHECK(!"two names for /a with max 2");
	artifacts_free(a);
}

/* A load that must fail with DT_EFORMAT and a message holding each of want[]. */
static void
check_bad(const char *yaml, const char *want1, const char *want2)
{
	struct artifacts *a = (struct artifacts *)1;
	struct artifacts_stats st;
	struct dt_err err = { 0 };

	CHECK(load_text(yaml, &a, &st, &err) == -1);
	CHECK(a == NULL && err.code == DT_EFORMAT && st.definitions == 0);
	if (strstr(err.msg, want1) == NULL || (want2 && strstr(err.msg, want2) == NULL)) {
		fprintf(stderr, "  message: %s\n  want: %s / %s\n", err.msg, want1,
			want2 ? want2 : "");
		CHECK(!"error message");
	}
}

TEST(t_artifacts_malformed_is_eformat_with_line)
{
	/* YAML syntax: the badly indented key is on line 7; the unclosed list ends on line 4. */
	check_bad("# c\n---\nname: X\ndoc: d\nsources:\n  - type: FILE\n attributes: {}\n",
		  "'t.yaml' line 7:", NULL);
	check_bad("name: X\ndoc: d\nsources: [\n", "'t.yaml' line 4:", NULL);
	/* Unknown top-level key on line 7 (the second document's third line). */
	check_bad("name: X\ndoc: d\nsources:\n- type: COMMAND\n---\nname: Y\nfavourite: z\n",
		  "'t.yaml' line 7", "unknown key 'favourite'");
	check_bad("name: X\ndoc: d\nsources:\n- type: FILE\n  attributes: {paths: ['/a'], "
		  "recursive: true}\n",
		  "line 5", "unknown attribute 'recursive'");
	check_bad("name: X\ndoc: d\nsources:\n- type: FILE\n  colour: red\n", "line 5",
		  "unknown source key 'colour'");
	check_bad("name: X\ndoc: d\nsources:\n- type: FILE\n  type: COMMAND\n", "line 5",
		  "duplicate source key 'type'");
	check_bad("name: X\ndoc: d\nsources:\n- type: FILE\n  attributes: {paths: ['/a/**11']}\n",
		  "line 5", "globstar");
	check_bad(
		"name: X\ndoc: d\nsources:\n- type: FILE\n  attributes: {paths: ['/a/**/b/**']}\n",
		"line 5", "more than one globstar");
	check_bad("name: X\ndoc: d\nsources:\n- type: FILE\n  attributes: {paths: ['/a/x**']}\n",
		  "line 5", "whole segment");
	check_bad("name: X\ndoc: d\nsources:\n- type: FILE\n  attributes: {paths: ['etc/x']}\n",
		  "line 5", "not absolute");
	check_bad("name: X\ndoc: d\nsources:\n- type: FILE\n  attributes: {paths: ['/x']}\n"
		  "supported_os: [Linx]\n",
		  "line 6", "unknown operating system 'Linx'");
	check_bad("name: X\nsources:\n- type: FILE\n  attributes: {paths: ['/x']}\n", "line 1",
		  "has no doc");
	check_bad("name: X\ndoc: d\nname: Y\nsources: []\n", "line 3", "duplicate key 'name'");
	check_bad("- just\n- a list\n", "line 1", "must be a mapping");
	check_bad("name: X\ndoc: d\nsources:\n- type: FILE\n  attributes: {paths: '/x'}\n",
		  "line 5", "paths must be a list");
	check_bad("name: \"X\\0Y\"\ndoc: d\nsources:\n- type: COMMAND\n", "line 1", "NUL");
}

TEST(t_artifacts_duplicate_names_rejected)
{
	static const char one[] = "name: Same\ndoc: d\nsources:\n- type: COMMAND\n";
	static const char two[] = "# second\n---\nname: Other\ndoc: d\nsources:\n- type: COMMAND\n"
				  "---\nname: Same\ndoc: d\nsources:\n- type: COMMAND\n";
	const char *paths[2] = { "one.yaml", "two.yaml" };
	struct artifacts *a = NULL;
	struct dt_err err = { 0 };

	REQUIRE(t_write("one.yaml", one, strlen(one)) == 0);
	REQUIRE(t_write("two.yaml", two, strlen(two)) == 0);
	CHECK(artifacts_load(paths, 2, &a, NULL, &err) == -1);
	CHECK(a == NULL && err.code == DT_EFORMAT);
	CHECK(strstr(err.msg, "'two.yaml' line 8") != NULL);
	CHECK(strstr(err.msg, "'one.yaml' line 1") != NULL);
	CHECK(strstr(err.msg, "Same") != NULL);
	/* Within one file as well. */
	dt_clear(&err);
	CHECK(load_text("name: Z\ndoc: d\nsources: [{type: X}]\n---\nname: Z\ndoc: d\n"
			"sources: [{type: X}]\n",
			&a, NULL, &err) == -1);
	CHECK(err.code == DT_EFORMAT && strstr(err.msg, "line 5") != NULL);
}

TEST(t_artifacts_directory_walk_and_yaml_quirks)
{
	static const char a_yaml[] = "# a\n---\nname: FromA\ndoc: d\nsources:\n- type: FILE\n"
				     "  attributes: {paths:['/x/a'], separator: '/'}\n"
				     "---\n"
				     "---\n";
	static const char b_yml[] = "name: FromB\r\ndoc: d\r\nsources:\r\n- type: FILE\r\n"
				    "  attributes: {paths: ['/x/b:[c']}\r\n";
	static const char other[] = "not: [yaml";
	static const char comment_only[] = "# nothing here\n";
	const char *dir = "defs";
	struct artifacts *a = NULL;
	struct artifacts_stats st;
	struct dt_err err = { 0 };
	const char *missing = "no-such-dir";

	REQUIRE(mkdir("defs", 0700) == 0 && mkdir("defs/sub", 0700) == 0 &&
		mkdir("defs/.hidden", 0700) == 0);
	REQUIRE(t_write("defs/a.yaml", a_yaml, strlen(a_yaml)) == 0);
	REQUIRE(t_write("defs/sub/b.yml", b_yml, strlen(b_yml)) == 0);
	REQUIRE(t_write("defs/README.md", other, strlen(other)) == 0);
	REQUIRE(t_write("defs/.hidden/c.yaml", other, strlen(other)) == 0);
	REQUIRE(t_write("defs/.d.yaml", other, strlen(other)) == 0);
	REQUIRE(t_write("defs/empty.yaml", comment_only, strlen(comment_only)) == 0);
	REQUIRE(artifacts_load(&dir, 1, &a, &st, &err) == 0);
	CHECK(st.files == 3 && st.definitions == 2);
	CHECK(covers(a, "/x/a", 0, "FromA"));    /* `paths:[` read as PyYAML reads it */
	CHECK(covers(a, "/x/b:[c", 0, "FromB")); /* a quoted ':[' is left alone */
	CHECK(strcmp(artifacts_file(a, artifacts_find(a, "FromB")), "defs/sub/b.yml") == 0);
	CHECK(artifacts_line(a, artifacts_find(a, "FromA")) == 3);
	artifacts_free(a);

	CHECK(artifacts_load(&missing, 1, &a, NULL, &err) == -1);
	CHECK(a == NULL && err.code == DT_EIO && strstr(err.msg, "no-such-dir") != NULL);
}

TEST(t_artifacts_unknown_variables_skipped)
{
	static const char yaml[] = "name: V\ndoc: d\nsources:\n- type: FILE\n  attributes:\n"
				   "    paths:\n"
				   "    - '%%environ_systemroot%%/x'\n"
				   "    - '/a/%%users.homedir%%/b'\n"
				   "    - '%%users.localappdata%%/y'\n"
				   "    - '/ok'\n";
	struct artifacts *a = NULL;
	struct artifacts_stats st;
	struct dt_err err = { 0 };

	REQUIRE(load_text(yaml, &a, &st, &err) == 0);
	CHECK(st.paths_skipped == 3);
	CHECK(covers(a, "/ok", 0, "V"));
	CHECK(artifacts_glob_count(a, 0) == 4);
	artifacts_free(a);
}

static int
under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p != NULL && strstr(p, "vgpreload") != NULL;
}

/* 100k paths against upstream and own definitions (docs/artifacts.md gives the numbers). */
TEST(t_artifacts_match_is_fast)
{
	static const char *const tops[][3] = {
		{ "/usr/share/doc/pkg", "/file", "" },
		{ "/etc/conf", "/item", ".conf" },
		{ "/home/alice/.cache/c", "/f", "" },
		{ "/var/lib/docker/overlay2/", "/diff/", "" },
		{ "/var/www/html/wp-content/uploads/", "/", ".php" },
	};
	static const struct artifacts_user users[] = { { "root", "/root" },
						       { "alice", "/home/alice" } };
	const char *up = upstream_dir(), *own = own_dir();
	const char *both[2] = { up, own };
	struct artifacts *a = NULL;
	struct dt_err err = { 0 };
	struct timespec t0, t1;
	const char *names[64];
	size_t hits = 0;
	double secs;
	char path[256];

	if (up == NULL || own == NULL)
		SKIP("upstream or own definitions not found (install forensic-artifacts; set TOP)");
	REQUIRE(artifacts_load(both, 2, &a, NULL, &err) == 0);
	REQUIRE(artifacts_prepare(a, users, 2, &err) == 0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	for (size_t i = 0; i < 100000; i++) {
		const char *const *t = tops[i % 5];
		int n = snprintf(path, sizeof(path), "%s%zu%s%zu%s", t[0], i / 50, t[1], i, t[2]);

		hits += artifacts_match(a, path, (size_t)n, 0, names, 64);
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(hits == 20000 * 3); /* each web-root path: DeltairWebRootFiles and its 2 groups */
	if (getenv("DELTAIR_MATCH_TIMING"))
		fprintf(stderr, "  100000 paths: %.3f s\n", secs);
	/* CPU time, so other load does not count: ~0.06 s in a release build, ~0.35 s with ASan
	 * and UBSan; valgrind is not timed. */
	if (!under_valgrind())
		CHECK(secs < 2.0);
	artifacts_free(a);
}

TEST(t_artifacts_empty_input_loads_empty_set)
{
	struct artifacts *a = NULL;
	struct artifacts_stats st;
	struct dt_err err = { 0 };
	const char *names[4];

	REQUIRE(artifacts_load_mem("e.yaml", "", 0, &a, &st, &err) == 0);
	CHECK(st.files == 1 && st.definitions == 0 && artifacts_count(a) == 0);
	CHECK(artifacts_prepare(a, NULL, 0, &err) == 0);
	CHECK(artifacts_match(a, "/etc/passwd", 11, 0, names, 4) == 0);
	CHECK(artifacts_find(a, "X") == ARTIFACTS_NONE && artifacts_name(a, 0) == NULL);
	artifacts_free(a);
	REQUIRE(artifacts_load(NULL, 0, &a, &st, &err) == 0);
	CHECK(st.files == 0 && artifacts_count(a) == 0);
	artifacts_free(a);
}
