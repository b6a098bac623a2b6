/*
 * os_version.c - os_version, from /etc/os-release and the legacy *-release files.
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
/* os_version (osquery linux/os_version.cpp)
 *
 * /etc/os-release: NAME -> name, VERSION -> version, BUILD_ID -> build, ID -> platform,
 * ID_LIKE -> platform_like, VERSION_CODENAME (or any other *CODENAME* key, the later line
 * winning) -> codename, VERSION_ID split on '.' into major, minor and patch (the rest of
 * the string after the second '.'), verbatim ("04" stays "04"). A value starting with '"'
 * loses its first and last characters. Defaults: name "Unknown", major/minor/patch "0",
 * platform "posix". An /etc/redhat-release (or /etc/gentoo-release) beside it sets platform
 * and platform_like to "rhel" ("gentoo"), version to its text (whitespace collapsed) and
 * name/major/minor/patch from osquery's pattern "NAME ... MAJOR.MINOR[.PATCH]".
 * arch (uname -m on a live system) cannot be read from the files: "".
 * /usr/lib/os-release is read only when there is no /etc/os-release, as os-release(5)
 * says; /etc/redhat-release alone (CentOS 6) gives the row when os-release is absent.
 */

/*
 * osquery's split(s, c, occurrences): the first `keep` pieces of split(s, c) in out[], the
 * rest joined again with c into out[keep] (its bytes in *join, to buf_release). Returns
 * the number of elements, at most keep + 1.
 */
static int
osplit_max(struct span s, char c, size_t keep, struct span *out, struct buf *join,
	   struct dt_err *err)
{
	char delims[2] = { c, '\0' };
	struct osplit o;
	struct span piece;
	size_t n = 0;

	buf_init(join, PARSERS_MAX_INPUT);
	osplit_init(&o, s, delims);
	while (osplit_next(&o, &piece)) {
		if (n < keep) {
			out[n++] = piece;
			continue;
		}
		if ((join->len > 0 || n > keep) && buf_addc(join, (unsigned char)c, err) < 0)
			return -1;
		if (buf_add(join, piece.p, piece.n, err) < 0)
			return -1;
		n = keep + 1;
	}
	if (n == keep + 1)
		out[keep] = span_of(join->data, join->len);
	return (int)n;
}

static const char *const os_version_cols[] = { "name",     "version", "major",    "minor",
					       "patch",    "build",   "platform", "platform_like",
					       "codename", "arch",    NULL };

static int
os_release_fill(json_t *row, struct span text, struct dt_err *err)
{
	static const char *const map[][2] = { { "NAME", "name" },
					      { "VERSION", "version" },
					      { "BUILD_ID", "build" },
					      { "ID", "platform" },
					      { "ID_LIKE", "platform_like" },
					      { "VERSION_CODENAME", "codename" } };
	static const char *const vcols[] = { "major", "minor", "patch" };
	struct osplit lines;
	struct span line;
	int ret = 0;

	osplit_init(&lines, text, "\n");
	while (ret == 0 && osplit_next(&lines, &line)) {
		struct span kv[2], val, ver[3];
		struct buf j1, j2;
		const char *col = NULL;
		int n;

		/* split(line, '=', 1): "A=b=c" is A and "b=c"; empty pieces are dropped. */
		n = osplit_max(line, '=', 1, kv, &j1, err);
		if (n != 2) {
			buf_release(&j1);
			ret = n < 0 ? -1 : 0;
			continue;
		}
		for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
			if (span_eq(kv[0], map[i][0]))
				col = map[i][1];
		if (col == NULL && span_findstr(kv[0], 0, "CODENAME") < kv[0].n)
			col = "codename"; /* distributions invent their own *CODENAME keys */
		if (col == NULL && !span_eq(kv[0], "VERSION_ID")) {
			buf_release(&j1);
			continue;
		}
		val = kv[1];
		if (val.n > 0 && val.p[0] == '"') /* first and last characters go */
			val = span_sub(val, 1, val.n > 1 ? val.n - 1 : 1);
		if (col) {
			ret = span_row_set(row, col, val, err);
			buf_release(&j1);
			continue;
		}
		/* VERSION_ID: split(v, '.', 2) gives major, minor and the rest as patch. */
		n = osplit_max(val, '.', 2, ver, &j2, err);
		for (int k = 0; k < n && ret == 0; k++)
			ret = span_row_int(row, vcols[k], ver[k], err);
		if (n < 0)
			ret = -1;
		buf_release(&j2);
		buf_release(&j1);
	}
	return ret;
}

/* Character classes of std::regex (ECMAScript) in the C locale. */
static int
rx_w(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static int
rx_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* [\w+\s] */
static int
rx_c1(unsigned char c)
{
	return rx_w(c) || c == '+' || c == ' ' || (c >= '\t' && c <= '\r');
}

/* At x: " DIGITS.DIGIT", where the last space of " .* " may stand. */
static int
rx_v(struct span l, size_t x)
{
	size_t d = x + 1;

	if (l.p[x] != ' ')
		return 0;
	while (d < l.n && rx_digit((unsigned char)l.p[d]))
		d++;
	return d > x + 1 && d + 1 < l.n && l.p[d] == '.' && rx_digit((unsigned char)l.p[d + 1]);
}

/*
 * osquery's std::regex_search of "([\w+\s]+) .* ([0-9]+)\.([0-9]+)\.?(\w+)?" on one line,
 * in linear time (glibc's regexec is quadratic or worse on such a pattern, and the file is
 * hostile). ECMAScript picks the leftmost start, then the longest group 1 that still lets
 * the rest match, then the longest ".*". A start inside a run of [\w+\s] can only do worse
 * than the run's first character, so one right-to-left pass finds, per run, its largest
 * usable end of group 1 (a space after which some " DIGITS.DIGIT" follows with no '\r'
 * in between: '.' does not match '\r'), and keeps the leftmost run that has one.
 */
static int
rx_redhat(struct span l, struct span g[4])
{
	size_t best_a = SIZE_MAX, best_e1 = 0, run_e1 = SIZE_MAX, e2 = SIZE_MAX, d;
	int has = 0; /* a usable " DIGITS.DIGIT" at or after x + 1 */

	for (size_t x = l.n; x-- > 0;) {
		unsigned char c = (unsigned char)l.p[x];

		if (!rx_c1(c)) {
			run_e1 = SIZE_MAX;
		} else {
			if (c == ' ' && has && run_e1 == SIZE_MAX)
				run_e1 = x;
			if (x == 0 || !rx_c1((unsigned char)l.p[x - 1])) {
				if (run_e1 != SIZE_MAX && run_e1 > x) {
					best_a = x;
					best_e1 = run_e1;
				}
				run_e1 = SIZE_MAX;
			}
		}
		has = rx_v(l, x) || (c != '\r' && has);
	}
	if (best_a == SIZE_MAX)
		return 0;
	for (size_t x = best_e1 + 1; x < l.n && l.p[x] != '\r'; x++)
		if (rx_v(l, x))
			e2 = x;
	g[0] = span_sub(l, best_a, best_e1);
	for (d = e2 + 1; d < l.n && rx_digit((unsigned char)l.p[d]); d++)
		;
	g[1] = span_sub(l, e2 + 1, d);
	e2 = ++d;
	while (d < l.n && rx_digit((unsigned char)l.p[d]))
		d++;
	g[2] = span_sub(l, e2, d);
	if (d < l.n && l.p[d] == '.')
		d++;
	e2 = d;
	while (d < l.n && rx_w((unsigned char)l.p[d]))
		d++;
	g[3] = span_sub(l, e2, d);
	return 1;
}

/* /etc/redhat-release or /etc/gentoo-release text into row. */
static int
os_legacy_fill(json_t *row, const char *platform, struct span text, struct dt_err *err)
{
	static const char *const cols[] = { "name", "major", "minor", "patch" };
	struct osplit lines;
	struct span line, g[4];
	char *flat;
	size_t o = 0;
	int ret = 0;

	/* boost::trim_all: trim, and keep only the first character of each blank run. */
	text = span_trim(text);
	flat = malloc(text.n + 1);
	if (flat == NULL)
		return dt_fail(err, DT_ENOMEM, "os_version: out of memory");
	for (size_t i = 0; i < text.n; i++)
		if (!(parsers_isspace((unsigned char)text.p[i]) && i > 0 &&
		      parsers_isspace((unsigned char)text.p[i - 1])))
			flat[o++] = text.p[i];
	flat[o] = '\0';
	if (parsers_row_setz(row, "platform", platform, err) < 0 ||
	    parsers_row_setz(row, "platform_like", platform, err) < 0 ||
	    span_row_set(row, "version", span_of(flat, o), err) < 0 ||
	    parsers_row_setz(row, "build", "", err) < 0) {
		free(flat);
		return -1;
	}
	osplit_init(&lines, span_of(flat, o), "\n");
	while (osplit_next(&lines, &line)) {
		if (!rx_redhat(line, g))
			continue;
		if (g[3].n == 0)
			g[3] = span_z("0");
		for (int k = 0; k < 4 && ret == 0; k++)
			ret = k == 0 ? span_row_set(row, cols[0], g[0], err)
				     : span_row_int(row, cols[k], g[k], err);
		break;
	}
	free(flat);
	return ret;
}

/* 1 if path of the image can be read (its bytes are not kept). */
static int
other_exists(const struct parser_input *in, const char *path)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	int ok = parsers_other_read(in, path, &bytes, &len) == 0;

	free(bytes);
	return ok;
}

int
parse_os_version(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	static const char *const legacy[][2] = { { "/etc/redhat-release", "rhel" },
						 { "/etc/gentoo-release", "gentoo" } };
	struct parsers_sink s;
	struct parsers_text t;
	json_t *row = NULL;
	unsigned char *other = NULL;
	size_t olen = 0;
	int ret = -1, is_legacy = -1;

	if (parsers_sink_init(&s, "os_version", in, rows, err) < 0)
		return -1;
	for (int i = 0; i < 2; i++)
		if (strcmp(in->path, legacy[i][0]) == 0)
			is_legacy = i;
	/* One row per image, from the first file that exists of /etc/os-release,
	 * /usr/lib/os-release, /etc/redhat-release, /etc/gentoo-release. */
	if (is_legacy >= 0 || strcmp(in->path, "/usr/lib/os-release") == 0)
		if (other_exists(in, "/etc/os-release"))
			return 0;
	if (is_legacy >= 0 && other_exists(in, "/usr/lib/os-release"))
		return 0;
	if (is_legacy == 1 && other_exists(in, legacy[0][0]))
		return 0;
	parsers_text_load(in, &t);
	row = parsers_row_new(os_version_cols, err);
	if (row == NULL || parsers_row_setz(row, "name", "Unknown", err) < 0 ||
	    parsers_row_setz(row, "major", "0", err) < 0 ||
	    parsers_row_setz(row, "minor", "0", err) < 0 ||
	    parsers_row_setz(row, "patch", "0", err) < 0 ||
	    parsers_row_setz(row, "platform", "posix", err) < 0)
		goto out;
	if (is_legacy >= 0) {
		if (os_legacy_fill(row, legacy[is_legacy][1], t.s, err) < 0)
			goto out;
	} else {
		if (os_release_fill(row, t.s, err) < 0)
			goto out;
		/* osquery then lets /etc/redhat-release (else /etc/gentoo-release) override. */
		for (int i = 0; i < 2; i++) {
			if (parsers_other_read(in, legacy[i][0], &other, &olen) == 0) {
				if (os_legacy_fill(row, legacy[i][1], span_of(other, olen), err) <
				    0)
					goto out;
				break;
			}
		}
	}
	ret = parsers_sink_add(&s, row, err);
	row = NULL;
out:
	json_decref(row);
	free(other);
	parsers_text_release(&t);
	return ret;
}
