/*
 * t_report.c - unit tests of report: hosts per path across a case, and hostile results
 * folders (damaged gzip, lines that are not events, a scan that did not finish, names that
 * are markup) that must be listed, never counted half, never become HTML.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <zlib.h>

#include "report.h"
#include "t.h"

#define SUMMARY "{\"event\":\"summary\",\"fs\":\"*\",\"complete\":true}\n"
#define SHA_A   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

/* A file event line; path_b64 may be NULL. */
static char *
file_event(const char *change, const char *path, const char *path_b64, const char *sha)
{
	char *s = NULL;

	if (asprintf(&s,
		     "{\"event\":\"file\",\"fs\":\"p1\",\"change\":\"%s\",\"path\":\"%s\"%s%s%s,"
		     "\"sha256\":%s%s%s,\"ctime\":\"2026-11-27T09:23:57.279119613Z\","
		     "\"flags\":[\"hidden\"]}\n",
		     change, path, path_b64 ? ",\"path_bytes\":\"" : "", path_b64 ? path_b64 : "",
		     path_b64 ? "\"" : "", sha ? "\"" : "", sha ? sha : "null",
		     sha ? "\"" : "") < 0)
		return NULL;
	return s;
}

/* case/NAME/ with events.jsonl.gz holding body (gzip'd), and COMPLETE when complete. */
static int
host(const char *name, const char *body, size_t len, int complete)
{
	char path[256];
	gzFile gz;

	mkdir("case", 0700);
	snprintf(path, sizeof(path), "case/%s", name);
	if (mkdir(path, 0700) != 0)
		return -1;
	snprintf(path, sizeof(path), "case/%s/events.jsonl.gz", name);
	gz = gzopen(path, "wb");
	if (gz == NULL || gzwrite(gz, body, (unsigned)len) != (int)len || gzclose(gz) != Z_OK)
		return -1;
	snprintf(path, sizeof(path), "case/%s/COMPLETE", name);
	return complete ? t_write(path, "", 0) : 0;
}

static int
host_s(const char *name, const char *body)
{
	return host(name, body, strlen(body), 1);
}

static int
run(struct report_stats *st, struct dt_err *err)
{
	struct report_opts o = { .case_dir = "case" };

	return report_write(&o, st, err);
}

/* The element of report.json's "paths" whose path is p, or NULL (borrowed from rep). */
static json_t *
path_entry(json_t *rep, const char *p)
{
	size_t i;
	json_t *v;

	json_array_foreach(json_object_get(rep, "paths"), i, v)
	{
		if (strcmp(json_string_value(json_object_get(v, "path")), p) == 0)
			return v;
	}
	return NULL;
}

TEST(t_report_one_line_per_path_rarest_first)
{
	char *a = file_event("added", "/tmp/.x", NULL, SHA_A);
	char *b = file_event("modified", "/etc/passwd", NULL, NULL);
	char *c = file_event("added", "/tmp/.x", NULL, SHA_A);
	char *d = file_event("modified", "/tmp/.x", NULL, NULL);
	char *body1 = NULL, *body2 = NULL;
	struct report_stats st;
	struct dt_err err = { 0 };
	json_t *rep, *p;

	REQUIRE(a && b && c && d);
	REQUIRE(asprintf(&body1, "%s%s%s", a, b, SUMMARY) > 0);
	/* host h2 names /tmp/.x twice (a doctored stream): it counts once, as first said. */
	REQUIRE(asprintf(&body2, "%s%s%s", c, d, SUMMARY) > 0);
	REQUIRE(host_s("h1", body1) == 0 && host_s("h2", body2) == 0);
	REQUIRE(run(&st, &err) == 0);
	CHECK(st.hosts == 2 && st.paths == 2 && st.unique == 1 && st.hashes == 1);
	rep = json_load_file("case/report.json", 0, NULL);
	REQUIRE(rep != NULL);
	p = json_array_get(json_object_get(rep, "paths"), 0);
	CHECK(strcmp(json_string_value(json_object_get(p, "path")), "/etc/passwd") == 0);
	p = path_entry(rep, "/tmp/.x");
	REQUIRE(p != NULL);
	CHECK(json_integer_value(json_object_get(p, "hosts")) == 2);
	CHECK(json_array_size(json_object_get(p, "on")) == 2);
	CHECK(json_integer_value(json_object_get(p, "contents")) == 1);
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(json_object_get(p, "on"), 1),
						       "change")),
		     "added") == 0);
	p = json_array_get(json_object_get(rep, "hashes"), 0);
	CHECK(strcmp(json_string_value(json_object_get(p, "sha256")), SHA_A) == 0);
	CHECK(json_integer_value(json_object_get(p, "hosts")) == 2);
	json_decref(rep);
	free(a);
	free(b);
	free(c);
	free(d);
	free(body1);
	free(body2);
}

TEST(t_report_lists_damaged_folders_and_counts_none_of_them)
{
	char *a = file_event("added", "/tmp/.x", NULL, SHA_A);
	char *body = NULL, *badb64 = file_event("added", "/x", "!!!!", NULL), *b64body = NULL;
	static const char gz_junk[] = "\x1f\x8b\x08\x00garbage that is no deflate stream";
	struct report_stats st;
	struct dt_err err = { 0 };
	json_t *rep;

	REQUIRE(a && badb64 && asprintf(&body, "%s%s", a, SUMMARY) > 0);
	REQUIRE(asprintf(&b64body, "%s%s", badb64, SUMMARY) > 0);
	REQUIRE(host_s("ok", body) == 0);
	REQUIRE(host("running", body, strlen(body), 0) == 0); /* no COMPLETE */
	REQUIRE(host_s("unfinished", a) == 0);                /* no summary line */
	REQUIRE(host_s("notjson", "{\"event\":\"file\"\n") == 0);
	REQUIRE(host_s("noevent", "[1,2]\n" SUMMARY) == 0);
	REQUIRE(host_s("badclass", "{\"event\":\"file\",\"change\":\"x\"}\n" SUMMARY) == 0);
	REQUIRE(host_s("badb64", b64body) == 0);
	/* A NUL inside a line: jansson refuses it, the line is not cut short and read on. */
	REQUIRE(host("nul", "{\"event\":\"error\"}\0{}\n" SUMMARY,
		     sizeof("{\"event\":\"error\"}\0{}\n" SUMMARY) - 1, 1) == 0);
	REQUIRE(mkdir("case/gz", 0700) == 0);
	REQUIRE(t_write("case/gz/events.jsonl.gz", gz_junk, sizeof(gz_junk) - 1) == 0);
	REQUIRE(t_write("case/gz/COMPLETE", "", 0) == 0);
	REQUIRE(mkdir("case/nofile", 0700) == 0 && t_write("case/nofile/COMPLETE", "", 0) == 0);
	REQUIRE(mkdir("case/.hidden", 0700) == 0);       /* not a host */
	REQUIRE(t_write("case/notes.txt", "x", 1) == 0); /* not a host */
	REQUIRE(symlink("ok", "case/link") == 0);        /* not a host */
	REQUIRE(run(&st, &err) == 0);
	CHECK(st.hosts == 1);
	CHECK(st.incomplete == 1);
	CHECK(st.unreadable == 8);
	CHECK(st.paths == 1);
	rep = json_load_file("case/report.json", 0, NULL);
	REQUIRE(rep != NULL);
	CHECK(json_array_size(json_object_get(rep, "hosts")) == 10);
	CHECK(json_integer_value(json_object_get(path_entry(rep, "/tmp/.x"), "hosts")) == 1);
	json_decref(rep);
	free(a);
	free(badb64);
	free(b64body);
	free(body);
}

TEST(t_report_html_escapes_hostile_names)
{
	/* "/<script>\n\xff\xe2\x80\xae": markup, a newline, a byte that is not UTF-8, and
	 * U+202E (right-to-left override). */
	char *a = file_event("added", "/<script>\\n\xef\xbf\xbd\xe2\x80\xae",
			     "LzxzY3JpcHQ+Cv/igK4=", NULL);
	char *body = NULL, *html;
	struct dt_err err = { 0 };
	json_t *rep;

	REQUIRE(a && asprintf(&body, "%s%s", a, SUMMARY) > 0);
	REQUIRE(host_s("<b>host\"'&", body) == 0);
	REQUIRE(run(NULL, &err) == 0);
	html = t_slurp("case/report.html", NULL);
	REQUIRE(html != NULL);
	CHECK(strstr(html, "p1:/&lt;script&gt;\\x0a\\xff\\u{202e}") != NULL);
	CHECK(strstr(html, "&lt;b&gt;host&quot;&#39;&amp;") != NULL);
	CHECK(strstr(html, "<script") == NULL);
	CHECK(strstr(html, "<b>host") == NULL);
	CHECK(strstr(html, "\xe2\x80\xae") == NULL);
	CHECK(strstr(html, "Content-Security-Policy\" content=\"default-src 'none'") != NULL);
	rep = json_load_file("case/report.json", 0, NULL);
	REQUIRE(rep != NULL);
	/* The exact bytes survive in report.json. */
	CHECK(strcmp(json_string_value(json_object_get(
			     json_array_get(json_object_get(rep, "paths"), 0), "path_bytes")),
		     "LzxzY3JpcHQ+Cv/igK4=") == 0);
	json_decref(rep);
	free(html);
	free(a);
	free(body);
}

TEST(t_report_replaces_only_its_own_files)
{
	struct dt_err err = { 0 };

	REQUIRE(host_s("h", SUMMARY) == 0);
	REQUIRE(run(NULL, &err) == 0);
	REQUIRE(run(NULL, &err) == 0); /* its own: replaced */
	REQUIRE(t_write("case/report.html", "<html>mine</html>", 17) == 0);
	CHECK(run(NULL, &err) == -1 && err.code == DT_EUSAGE);
	err = (struct dt_err){ 0 };
	CHECK(report_write(&(struct report_opts){ .case_dir = "nowhere" }, NULL, &err) == -1 &&
	      err.code == DT_EIO);
}

TEST(t_report_keeps_big_rows_small)
{
	char *big = malloc(20000), *body = NULL;
	struct dt_err err = { 0 };
	json_t *rep, *row;

	REQUIRE(big != NULL);
	memset(big, 'a', 19999);
	big[19999] = '\0';
	REQUIRE(asprintf(&body,
			 "{\"event\":\"row\",\"fs\":\"p1\",\"table\":\"crontab\",\"action\":"
			 "\"added\",\"path\":\"/etc/crontab\",\"columns\":{\"command\":\"%s\"}}\n"
			 "{\"event\":\"row\",\"fs\":\"p1\",\"table\":\"users\",\"action\":"
			 "\"removed\",\"path\":\"/etc/"
			 "passwd\",\"columns\":{\"uid\":\"0\"}}\n" SUMMARY,
			 big) > 0);
	REQUIRE(host_s("h", body) == 0);
	REQUIRE(run(NULL, &err) == 0);
	rep = json_load_file("case/report.json", 0, NULL);
	REQUIRE(rep != NULL);
	row = json_object_get(json_array_get(json_object_get(rep, "hosts"), 0), "row_changes");
	CHECK(json_array_size(row) == 2);
	CHECK(json_is_true(json_object_get(json_array_get(row, 0), "truncated")));
	CHECK(json_is_null(json_object_get(json_array_get(row, 0), "columns")));
	CHECK(strcmp(json_string_value(json_object_get(json_array_get(row, 0), "table")),
		     "crontab") == 0);
	CHECK(json_object_get(json_array_get(row, 1), "truncated") == NULL);
	CHECK(json_is_object(json_object_get(json_array_get(row, 1), "columns")));
	json_decref(rep);
	free(big);
	free(body);
}
