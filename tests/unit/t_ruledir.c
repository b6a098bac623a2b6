/*
 * t_ruledir.c - the one rule-folder walker (ruledir.h), and that YARA rules and artifact
 * definitions are found by the same policy: a link loop is not followed, a link to a file
 * counts, a folder too deep is an error in both.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts.h"
#include "ruledir.h"
#include "t.h"
#include "yarascan.h"

static int
put_yar(const char *path)
{
	static const char yar[] = "rule r { condition: true }\n";

	return t_write(path, yar, strlen(yar));
}

/* One artifact definition named name. */
static int
put_yml(const char *path, const char *name)
{
	char text[256];
	int n = snprintf(
		text, sizeof(text),
		"name: %s\ndoc: d\nsources:\n- type: FILE\n  attributes: {paths: ['/x']}\n", name);

	return n < 0 ? -1 : t_write(path, text, (size_t)n);
}

static int
want_any(const char *name)
{
	return name[0] != 'x';
}

struct seen {
	char rel[8][64];
	int n;
};

static int
record(void *arg, const char *path, const char *rel, struct dt_err *err)
{
	struct seen *s = arg;

	(void)path;
	(void)err;
	if (s->n < 8)
		snprintf(s->rel[s->n], sizeof(s->rel[0]), "%s", rel ? rel : "(top)");
	s->n++;
	return 0;
}

/* top/a.yar, top/a.yaml, top/sub/b.yar, top/sub/b.yaml, links: sub/loop -> .., link.yar -> a.yar */
static int
make_tree(void)
{
	return mkdir("top", 0755) || mkdir("top/sub", 0755) || mkdir("top/.git", 0755) ||
	       put_yar("top/a.yar") || put_yml("top/a.yaml", "A") || put_yar("top/sub/b.yar") ||
	       put_yml("top/sub/b.yaml", "B") || put_yml("top/.git/c.yaml", "C") ||
	       put_yml("top/x.yaml", "X") || symlink("..", "top/sub/loop") ||
	       symlink("a.yar", "top/link.yar") || symlink("nowhere.yar", "top/dangling.yar");
}

TEST(t_ruledir_walks_sorted_skips_dots_and_folder_links)
{
	struct seen s = { 0 };
	struct dt_err err = { 0 };

	REQUIRE(make_tree() == 0);
	REQUIRE(ruledir_walk("top/", want_any, record, &s, &err) == 0);
	REQUIRE(s.n == 5);
	CHECK(strcmp(s.rel[0], "a.yaml") == 0 && strcmp(s.rel[1], "a.yar") == 0);
	CHECK(strcmp(s.rel[2], "link.yar") == 0);
	CHECK(strcmp(s.rel[3], "sub/b.yaml") == 0 && strcmp(s.rel[4], "sub/b.yar") == 0);
	s.n = 0;
	CHECK(ruledir_walk("top/x.yaml", want_any, record, &s, &err) == 0);
	CHECK(s.n == 1 && strcmp(s.rel[0], "(top)") == 0); /* a named file, whatever its name */
	CHECK(ruledir_walk("missing", want_any, record, &s, &err) == -1 && err.code == DT_EIO);
}

/* A link loop: both find each file once (artifacts used to follow it and load twice). */
TEST(t_ruledir_link_loop_alike_for_yara_and_artifacts)
{
	const char *top = "top";
	struct yarascan *y = NULL;
	struct artifacts *a = NULL;
	struct artifacts_stats st;
	struct dt_err err = { 0 };
	size_t nrules = 0;

	REQUIRE(make_tree() == 0);
	CHECK(yarascan_compile(&top, 1, &y, &nrules, &err) == 0);
	CHECK(nrules == 3); /* a.yar, link.yar, sub/b.yar */
	yarascan_free(y);
	CHECK(artifacts_load(&top, 1, &a, &st, &err) == 0);
	CHECK(err.code == DT_OK);
	CHECK(st.files == 3 && st.definitions == 3); /* a.yaml, sub/b.yaml, x.yaml */
	artifacts_free(a);
}

/* RULEDIR_MAX_DEPTH folders below the path are walked; one more is an error in both. */
TEST(t_ruledir_too_deep_alike_for_yara_and_artifacts)
{
	const char *top = "deep";
	char path[4096] = "deep";
	size_t n = strlen(path);
	struct yarascan *y = NULL;
	struct artifacts *a = NULL;
	struct dt_err err = { 0 };
	size_t nrules = 0;

	REQUIRE(mkdir(path, 0755) == 0);
	for (int i = 0; i < RULEDIR_MAX_DEPTH; i++) {
		n += (size_t)snprintf(path + n, sizeof(path) - n, "/d");
		REQUIRE(mkdir(path, 0755) == 0);
	}
	snprintf(path + n, sizeof(path) - n, "/r.yar");
	REQUIRE(put_yar(path) == 0);
	snprintf(path + n, sizeof(path) - n, "/r.yaml");
	REQUIRE(put_yml(path, "R") == 0);
	CHECK(yarascan_compile(&top, 1, &y, &nrules, &err) == 0 && nrules == 1);
	yarascan_free(y);
	CHECK(artifacts_load(&top, 1, &a, NULL, &err) == 0 && artifacts_count(a) == 1);
	artifacts_free(a);

	/* One level more: both refuse, naming the folder, instead of dropping rules. */
	snprintf(path + n, sizeof(path) - n, "/d");
	REQUIRE(mkdir(path, 0755) == 0);
	snprintf(path + n, sizeof(path) - n, "/d/s.yar");
	REQUIRE(put_yar(path) == 0);
	path[n + 2] = '\0';
	y = NULL;
	CHECK(yarascan_compile(&top, 1, &y, &nrules, &err) == -1 && y == NULL);
	CHECK(err.code == DT_EUSAGE && strstr(err.msg, path) != NULL);
	memset(&err, 0, sizeof(err));
	a = NULL;
	CHECK(artifacts_load(&top, 1, &a, NULL, &err) == -1 && a == NULL);
	CHECK(err.code == DT_EUSAGE && strstr(err.msg, path) != NULL);
}
