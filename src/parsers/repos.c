/*
 * repos.c - package repositories: apt_sources and yum_sources.
 * See parsers_int.h for the helpers every parser file shares.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "buf.h"
#include "parsers.h"
#include "parsers/parsers_int.h"

#include "banned.h"

/* ======================================================================================== */
/* apt_sources (osquery linux/apt_sources.cpp)
 *
 * One-line files (sources.list, *.list): "deb [options] URI SUITE [COMPONENT...]";
 * deb822 files (*.sources): stanzas with Types:, URIs:, Suites:, Enabled:; one row per URI
 * and suite. Only "deb" entries count ("deb-src" are not package sources).
 *   name      the URI without its scheme and trailing '/', a space, and the suite
 *             ("mirror.example.org/debian bookworm"), osquery's repository name
 *   source    the file the entry is in
 *   base_uri  the URI without trailing '/'
 *   release, version, maintainer, components, architectures
 *             Codename:, Version:, Origin:, Components:, Architectures: of apt's cached
 *             Release file in /var/lib/apt/lists (read through read_other), as osquery
 * Deviations, so that a planted source shows up: osquery drops an entry whose Release file
 * was never downloaded (we give it with those five columns ""), treats every deb822
 * Enabled: value but "on" as disabled (we follow apt: no/false/off/0 disable), ignores
 * deb822 continuation lines (we join them), and finds "deb " anywhere in a line (we want
 * the first word to be "deb"). Only URIs with "://" count, as in osquery (no cdrom:).
 */

static const char *const apt_sources_cols[] = { "name",       "source",        "base_uri",
						"release",    "version",       "maintainer",
						"components", "architectures", NULL };

#define APT_LISTS "/var/lib/apt/lists"

/* Fill release columns of row from the Release header text, osquery's way. */
static int
apt_release_fill(json_t *row, struct span text, struct dt_err *err)
{
	static const char *const map[][2] = { { "Codename", "release" },
					      { "Version", "version" },
					      { "Origin", "maintainer" },
					      { "Components", "components" },
					      { "Architectures", "architectures" } };
	struct osplit lines;
	struct span line;

	osplit_init(&lines, text, "\n");
	while (osplit_next(&lines, &line)) {
		struct osplit fields;
		struct span part, parts[2];
		size_t np = 0;

		if (line.n == 0)
			continue;
		if (span_eq(line, "-----BEGIN PGP SIGNATURE-----"))
			break; /* the file hashes follow */
		/* Exactly two ':'-separated pieces ("Date: Sat, 10 Jun 10:00" has more). */
		osplit_init(&fields, line, ":");
		while (osplit_next(&fields, &part))
			if (np++ < 2)
				parts[np - 1] = part;
		if (np != 2)
			continue;
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (span_eq(parts[0], map[i][0]) &&
			    span_row_set(row, map[i][1], parts[1], err) < 0)
				return -1;
	}
	return 0;
}

/*
 * apt's list file name prefix for uri and suite, as osquery builds it: host/path, "dists",
 * suite (or the '/'-separated parts of a suite that has them), joined by '_', every '/'
 * then made '_'. New, or NULL.
 */
static char *
apt_cache_name(struct span hostpath, struct span suite)
{
	struct span rest = suite, tok;
	size_t nparts = 0;
	char *z;

	while (span_token(&rest, "/", &tok))
		if (span_trim(tok).n)
			nparts++;
	if (nparts <= 1)
		z = parsers_cat3(hostpath, span_z("_dists_"), suite);
	else
		z = parsers_cat3(hostpath, span_z("_"), suite);
	for (char *p = z; p && *p; p++)
		if (*p == '/')
			*p = '_';
	return z;
}

static int
apt_emit(struct parsers_sink *s, const struct parser_input *in, const struct parsers_names *lists,
	 struct span uri, struct span suite, struct dt_err *err)
{
	size_t sep = span_findstr(uri, 0, "://");
	struct span hostpath;
	char *name = NULL, *cache = NULL, *best = NULL, *rpath = NULL;
	unsigned char *rel = NULL;
	size_t rlen = 0;
	json_t *row = NULL;
	int ret = -1;

	while (uri.n > 0 && uri.p[uri.n - 1] == '/')
		uri.n--;
	if (sep >= uri.n || sep + 3 >= uri.n)
		return 0; /* no scheme or nothing after it */
	hostpath = span_sub(uri, sep + 3, uri.n);
	name = parsers_cat3(hostpath, span_z(" "), suite);
	cache = apt_cache_name(hostpath, suite);
	row = parsers_row_new(apt_sources_cols, err);
	if (name == NULL || cache == NULL || row == NULL) {
		dt_fail(err, DT_ENOMEM, "apt_sources: out of memory");
		goto out;
	}
	if (parsers_row_setz(row, "name", name, err) < 0 ||
	    parsers_row_setz(row, "source", in->path, err) < 0 ||
	    span_row_set(row, "base_uri", uri, err) < 0)
		goto out;
	/* osquery globs LISTS/<cache>_%Release and reads the first match in sorted order
	 * ("_InRelease" before "_Release"). */
	for (size_t i = 0; i < lists->n; i++) {
		struct span nm = span_z(lists->v[i]);
		size_t cn = strlen(cache);

		if (nm.n > cn + 1 && memcmp(nm.p, cache, cn) == 0 && nm.p[cn] == '_' &&
		    span_ends(span_sub(nm, cn + 1, nm.n), "Release") &&
		    (best == NULL || strcmp(lists->v[i], best) < 0))
			best = lists->v[i];
	}
	if (best) {
		rpath = parsers_cat3(span_z(APT_LISTS), span_z("/"), span_z(best));
		if (rpath && parsers_other_read(in, rpath, &rel, &rlen) == 0 &&
		    apt_release_fill(row, span_of(rel, rlen), err) < 0)
			goto out;
	}
	ret = parsers_sink_add(s, row, err);
	row = NULL;
out:
	json_decref(row);
	free(name);
	free(cache);
	free(rpath);
	free(rel);
	return ret;
}

static int
apt_one_line(struct parsers_sink *s, const struct parser_input *in,
	     const struct parsers_names *lists, struct span line, struct dt_err *err)
{
	struct span rest, tok, uri, suite;

	line = span_sub(line, 0, span_find(line, '#'));
	rest = line;
	if (!span_token(&rest, PARSERS_WS, &tok) || !span_eq(tok, "deb"))
		return 0;
	if (!span_token(&rest, PARSERS_WS, &tok))
		return 0;
	if (tok.p[0] == '[') {
		/* Options "[arch=amd64 signed-by=...]" run to the token holding ']'. */
		while (span_find(tok, ']') == tok.n)
			if (!span_token(&rest, PARSERS_WS, &tok))
				return 0;
		if (!span_token(&rest, PARSERS_WS, &tok))
			return 0;
	}
	uri = tok;
	if (span_findstr(uri, 0, "://") == uri.n || !span_token(&rest, PARSERS_WS, &suite))
		return 0;
	return apt_emit(s, in, lists, uri, suite, err);
}

/* One deb822 stanza (lines of text; continuation lines already part of it). */
static int
apt_deb822(struct parsers_sink *s, const struct parser_input *in, const struct parsers_names *lists,
	   struct span stanza, struct dt_err *err)
{
	struct span uris = span_z(""), suites = span_z(""), types = span_z(""),
		    enabled = span_z("");
	struct span *cur = NULL, line, rest, u, su;
	struct lines it;
	int have_types = 0;
	struct buf ub, sb;
	int ret = -1;

	buf_init(&ub, PARSERS_MAX_INPUT);
	buf_init(&sb, PARSERS_MAX_INPUT);
	lines_init(&it, stanza);
	while (lines_next(&it, &line)) {
		struct span t = span_trim(line), key;
		size_t colon;

		if (t.n == 0 || t.p[0] == '#')
			continue;
		if (line.p[0] == ' ' || line.p[0] == '\t') {
			/* Continuation: URIs and Suites may span lines. */
			if (cur == &uris &&
			    (buf_addc(&ub, ' ', err) < 0 || buf_add(&ub, t.p, t.n, err) < 0))
				goto out;
			if (cur == &suites &&
			    (buf_addc(&sb, ' ', err) < 0 || buf_add(&sb, t.p, t.n, err) < 0))
				goto out;
			continue;
		}
		cur = NULL;
		colon = span_find(t, ':');
		if (colon == t.n)
			continue;
		key = span_trim(span_sub(t, 0, colon));
		t = span_trim(span_sub(t, colon + 1, t.n));
		if (span_caseeq(key, "Types")) {
			types = t;
			have_types = 1;
		} else if (span_caseeq(key, "Enabled")) {
			enabled = t;
		} else if (span_caseeq(key, "URIs")) {
			buf_reset(&ub);
			if (buf_add(&ub, t.p, t.n, err) < 0)
				goto out;
			cur = &uris;
		} else if (span_caseeq(key, "Suites")) {
			buf_reset(&sb);
			if (buf_add(&sb, t.p, t.n, err) < 0)
				goto out;
			cur = &suites;
		}
	}
	uris = span_of(ub.data, ub.len);
	suites = span_of(sb.data, sb.len);
	ret = 0;
	if (have_types) {
		int deb = 0;

		rest = types;
		while (span_token(&rest, PARSERS_WS, &u))
			deb |= span_eq(u, "deb");
		if (!deb)
			goto out;
	}
	if (span_caseeq(enabled, "no") || span_caseeq(enabled, "false") ||
	    span_caseeq(enabled, "off") || span_eq(enabled, "0"))
		goto out;
	rest = uris;
	while (ret == 0 && span_token(&rest, PARSERS_WS, &u)) {
		struct span srest = suites;

		if (span_findstr(u, 0, "://") == u.n)
			continue;
		while (ret == 0 && span_token(&srest, PARSERS_WS, &su))
			ret = apt_emit(s, in, lists, u, su, err);
	}
out:
	buf_release(&ub);
	buf_release(&sb);
	return ret;
}

int
parse_apt_sources(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct parsers_sink s;
	struct parsers_text t;
	struct parsers_names lists;
	struct lines it;
	struct span line;
	int ret = 0;

	if (parsers_sink_init(&s, "apt_sources", in, rows, err) < 0)
		return -1;
	parsers_text_load(in, &t);
	if (parsers_other_list(in, APT_LISTS, &lists) < 0)
		lists.n = 0;
	lines_init(&it, t.s);
	if (span_ends(span_z(in->path), ".sources")) {
		/* Stanzas end at blank (or all-blank) lines. */
		const char *start = NULL, *end = NULL;

		for (;;) {
			int more = lines_next(&it, &line);

			if (more && span_trim(line).n > 0) {
				if (start == NULL)
					start = line.p;
				end = line.p + line.n;
				continue;
			}
			if (start &&
			    (ret = apt_deb822(&s, in, &lists, span_of(start, (size_t)(end - start)),
					      err)) < 0)
				break;
			start = NULL;
			if (!more)
				break;
		}
	} else {
		while (ret == 0 && lines_next(&it, &line))
			ret = apt_one_line(&s, in, &lists, line, err);
	}
	parsers_names_release(&lists);
	parsers_text_release(&t);
	return ret;
}

/* ======================================================================================== */
/* yum_sources (osquery linux/yum_sources.cpp, boost's INI reader)
 *
 * /etc/yum.conf and /etc/yum.repos.d/NAME.repo: one row per [section] but [main], with the
 * section's name=, baseurl=, mirrorlist=, metalink=, enabled=, gpgcheck=, gpgkey= values
 * verbatim (trimmed; later assignments win) and source the file. Comments are lines
 * starting with '#' or ';'. Deviation: boost gives up on a whole file at the first line it
 * cannot read (a continuation line of a multi-line baseurl=, a duplicate key), so osquery
 * shows none of its repositories; we skip that line only. As in dnf's own reader, an
 * indented line right after a value continues it; such lines are not part of the columns
 * (baseurl= is its first line).
 */

static const char *const yum_sources_cols[] = { "name",       "source",   "baseurl",
						"mirrorlist", "metalink", "enabled",
						"gpgcheck",   "gpgkey",   NULL };

/* Append the row of the section being read, if any. */
static int
yum_flush(struct parsers_sink *s, json_t **row, struct dt_err *err)
{
	json_t *r = *row;

	*row = NULL;
	return r ? parsers_sink_add(s, r, err) : 0;
}

int
parse_yum_sources(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	static const char *const keys[] = { "name",    "baseurl",  "mirrorlist", "metalink",
					    "enabled", "gpgcheck", "gpgkey" };
	struct parsers_sink s;
	struct parsers_text t;
	struct lines it;
	struct span line;
	json_t *row = NULL;
	int ret = -1, in_value = 0;

	if (parsers_sink_init(&s, "yum_sources", in, rows, err) < 0)
		return -1;
	parsers_text_load(in, &t);
	lines_init(&it, t.s);
	while (lines_next(&it, &line)) {
		struct span tl = span_trim(line), key;
		size_t eq;

		if (tl.n == 0 || tl.p[0] == '#' || tl.p[0] == ';')
			continue;
		if (in_value && (line.p[0] == ' ' || line.p[0] == '\t'))
			continue; /* the value of the previous key goes on */
		in_value = 0;
		if (tl.p[0] == '[') {
			size_t close = span_find(tl, ']');

			if (close == tl.n)
				continue; /* unreadable line: skipped */
			if (yum_flush(&s, &row, err) < 0)
				goto out;
			if (span_eq(span_trim(span_sub(tl, 1, close)), "main"))
				continue; /* yum's own settings, not a repository */
			row = parsers_row_new(yum_sources_cols, err);
			if (row == NULL || parsers_row_setz(row, "source", in->path, err) < 0)
				goto out;
			continue;
		}
		eq = span_find(tl, '=');
		if (eq == tl.n)
			continue; /* unreadable line: skipped */
		in_value = 1;
		if (row == NULL)
			continue; /* [main], or before any section */
		key = span_trim(span_sub(tl, 0, eq));
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (span_eq(key, keys[i]) &&
			    span_row_set(row, keys[i], span_trim(span_sub(tl, eq + 1, tl.n)), err) <
				    0)
				goto out;
	}
	ret = yum_flush(&s, &row, err);
out:
	json_decref(row);
	parsers_text_release(&t);
	return ret;
}
