/*
 * system.c - parsers of system tables: systemd_units, startup_items, deb_packages,
 * rpm_packages, apt_sources, yum_sources, os_version, shell_history, suid_bin, and
 * deltair's own ld_preload.
 *
 * Every parser reads one file of a dead image and mirrors what osquery's live table
 * (osquery/tables/system/{linux,posix}/...) would print for it, column for column, with
 * every value a string. Where a column only exists on a running system (a unit's active
 * state, the machine's uname) it is left "". Where osquery has a parsing quirk that would
 * hide evidence from a responder (an Exec= line with a second '=', an apt source that was
 * never downloaded) we report what the file says instead; each such choice is commented
 * at the parser.
 *
 * Symbolic links: for an input whose mode says S_IFLNK, data (if any) is taken as the
 * link target, and the target is read through read_other; a link to /dev/null (a common
 * way to mask a unit or to silence a shell history) is recognised as such.
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

#define SYS_MAX_PATH 4096 /* longest directory entry name we compare */

/* ---------------------------------------------------------------------------------------- */
/* Spans: borrowed, length-counted views of the input; the input may hold NUL bytes. */

struct span {
	const char *p;
	size_t n;
};

static struct span
span_of(const void *p, size_t n)
{
	struct span s = { p ? (const char *)p : "", p ? n : 0 };
	return s;
}

static struct span
span_z(const char *z)
{
	return span_of(z, z ? strlen(z) : 0);
}

static int
is_blank(int c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static struct span
span_trim(struct span s)
{
	while (s.n > 0 && is_blank((unsigned char)s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_blank((unsigned char)s.p[s.n - 1]))
		s.n--;
	return s;
}

static struct span
span_sub(struct span s, size_t from, size_t to)
{
	if (to > s.n)
		to = s.n;
	if (from > to)
		from = to;
	return span_of(s.p + from, to - from);
}

static int
span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int
span_caseeq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && strncasecmp(s.p, lit, n) == 0 && memchr(s.p, '\0', n) == NULL;
}

static int
span_starts(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n >= n && memcmp(s.p, lit, n) == 0;
}

static int
span_ends(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n >= n && memcmp(s.p + s.n - n, lit, n) == 0;
}

/* Index of the first c in s, or s.n. */
static size_t
span_find(struct span s, char c)
{
	const char *q = memchr(s.p, c, s.n);
	return q ? (size_t)(q - s.p) : s.n;
}

/* Index of the first occurrence of lit at or after from, or s.n. */
static size_t
span_findstr(struct span s, size_t from, const char *lit)
{
	size_t n = strlen(lit);

	for (size_t i = from; n > 0 && i + n <= s.n; i++)
		if (s.p[i] == lit[0] && memcmp(s.p + i, lit, n) == 0)
			return i;
	return s.n;
}

static int
all_digits(struct span s)
{
	if (s.n == 0)
		return 0;
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return 0;
	return 1;
}

/* The next token of *rest delimited by any of seps; 0 when none is left. */
static int
span_token(struct span *rest, const char *seps, struct span *tok)
{
	size_t i = 0, j;

	while (i < rest->n && strchr(seps, rest->p[i]) && rest->p[i] != '\0')
		i++;
	if (i == rest->n) {
		*rest = span_sub(*rest, i, i);
		return 0;
	}
	j = i;
	while (j < rest->n && !(rest->p[j] != '\0' && strchr(seps, rest->p[j])))
		j++;
	*tok = span_sub(*rest, i, j);
	*rest = span_sub(*rest, j, rest->n);
	return 1;
}

#define WS " \t\r\n\v\f"

/* The last path component of path. */
static struct span
path_base(struct span path)
{
	size_t i = path.n;

	while (i > 0 && path.p[i - 1] != '/')
		i--;
	return span_sub(path, i, path.n);
}

/* Everything before the last '/': "" for "/x" and for a path without '/'. */
static struct span
path_dir(struct span path)
{
	size_t i = path.n;

	while (i > 0 && path.p[i - 1] != '/')
		i--;
	return span_sub(path, 0, i > 0 ? i - 1 : 0);
}

/* New NUL-terminated copy of the concatenation of up to three spans, or NULL. */
static char *
cat3(struct span a, struct span b, struct span c)
{
	char *z;

	if (a.n > SIZE_MAX / 4 || b.n > SIZE_MAX / 4 || c.n > SIZE_MAX / 4)
		return NULL;
	z = malloc(a.n + b.n + c.n + 1);
	if (z == NULL)
		return NULL;
	memcpy(z, a.p, a.n);
	memcpy(z + a.n, b.p, b.n);
	memcpy(z + a.n + b.n, c.p, c.n);
	z[a.n + b.n + c.n] = '\0';
	return z;
}

/* ---------------------------------------------------------------------------------------- */
/* Lines: split on '\n' only; a final line without '\n' counts; "\r" stays in the line. */

struct lines {
	struct span rest;
};

static void
lines_init(struct lines *l, struct span text)
{
	l->rest = text;
}

static int
lines_next(struct lines *l, struct span *line)
{
	size_t i;

	if (l->rest.n == 0)
		return 0;
	i = span_find(l->rest, '\n');
	*line = span_sub(l->rest, 0, i);
	l->rest = span_sub(l->rest, i < l->rest.n ? i + 1 : i, l->rest.n);
	return 1;
}

/* ---------------------------------------------------------------------------------------- */
/* Rows, through core.c's helpers (values made valid UTF-8 there). */

struct sink {
	json_t *rows;     /* borrowed */
	size_t base;      /* rows already there before this input */
	const char *path; /* borrowed: the input's */
};

static int
sink_init(struct sink *s, const char *table, const struct parser_input *in, json_t *rows,
	  struct dt_err *err)
{
	if (in == NULL || in->path == NULL || !json_is_array(rows) ||
	    (in->data == NULL && in->len > 0))
		return dt_fail(err, DT_EUSAGE, "%s: bad parser input", table);
	if (parsers_input_check(in, err) < 0)
		return -1;
	s->rows = rows;
	s->base = json_array_size(rows);
	s->path = in->path;
	return 0;
}

static json_t *
row_new(const char *const *cols, struct dt_err *err)
{
	return parsers_row_new(cols, err);
}

static int
row_set(json_t *row, const char *col, struct span v, struct dt_err *err)
{
	return parsers_row_setn(row, col, v.p ? v.p : "", v.p ? v.n : 0, err);
}

static int
row_setz(json_t *row, const char *col, const char *v, struct dt_err *err)
{
	return parsers_row_set(row, col, v ? v : "", err);
}

/* INTEGER and BIGINT columns print as osquery's SQLite layer reads the text back. */
static int
row_set_int(json_t *row, const char *col, struct span v, struct dt_err *err)
{
	return parsers_row_set_integer(row, col, v.p ? v.p : "", v.p ? v.n : 0, err);
}

static int
row_set_big(json_t *row, const char *col, struct span v, struct dt_err *err)
{
	return parsers_row_set_bigint(row, col, v.p ? v.p : "", v.p ? v.n : 0, err);
}

/* Append row (stolen, also on failure); PARSERS_MAX_ROWS per input. */
static int
sink_add(struct sink *s, json_t *row, struct dt_err *err)
{
	return parsers_rows_add(s->rows, s->base, row, err);
}

/* osquery's split(s, delims), see parsers_int.h: pieces as spans. */
struct osplit {
	struct parsers_split sp;
};

static void
osplit_init(struct osplit *o, struct span s, const char *delims)
{
	parsers_split_init(&o->sp, s.p, s.n, delims);
}

static int
osplit_next(struct osplit *o, struct span *piece)
{
	const char *p;
	size_t n;

	if (!parsers_split_next(&o->sp, &p, &n))
		return 0;
	*piece = span_of(p, n);
	return 1;
}

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

/* ---------------------------------------------------------------------------------------- */
/* The image: other files and directories through the caller's callbacks. */

/* Read path of the image: 0 and new bytes in *data (free()), or -1. */
static int
other_read(const struct parser_input *in, const char *path, unsigned char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	if (in->read_other == NULL || path == NULL)
		return -1;
	if (in->read_other(in->rctx, path, data, len) < 0) {
		*data = NULL;
		*len = 0;
		return -1;
	}
	if (*len > PARSERS_MAX_INPUT || (*data == NULL && *len > 0)) {
		free(*data);
		*data = NULL;
		*len = 0;
		return -1;
	}
	return 0;
}

struct names {
	char **v; /* owned, each owned */
	size_t n;
};

static void
names_release(struct names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
	nm->v = NULL;
	nm->n = 0;
}

/* List a directory of the image into nm (names_release it); -1 if it cannot be listed. */
static int
other_list(const struct parser_input *in, const char *path, struct names *nm)
{
	char **v = NULL;
	int n;

	nm->v = NULL;
	nm->n = 0;
	if (in->list_dir == NULL || path == NULL)
		return -1;
	n = in->list_dir(in->rctx, path, &v);
	if (n < 0)
		return -1;
	nm->v = v;
	nm->n = v ? (size_t)n : 0;
	return 0;
}

/* The target of the link at link_path as a normalised absolute path: new, or NULL. */
static char *
link_resolve(struct span link_path, struct span target)
{
	char *z, *n;

	target = span_trim(target);
	if (target.n == 0 || target.n > SYS_MAX_PATH || memchr(target.p, '\0', target.n))
		return NULL;
	if (target.p[0] == '/')
		z = cat3(target, span_z(""), span_z(""));
	else
		z = cat3(path_dir(link_path), span_z("/"), target);
	if (z && z[0] != '/') {
		free(z); /* a relative link_path: nothing to resolve against */
		return NULL;
	}
	n = z ? parsers_path_norm(z) : NULL;
	free(z);
	return n;
}

/*
 * The text of the input. A regular file is its data. For a symbolic link, data (when the
 * caller gives it) is the target, which is read through read_other; a link to /dev/null
 * (is_devnull) or one that cannot be followed has no text. Without data, read_other of the
 * link's own path is tried (a caller that follows links itself).
 */
struct text {
	struct span s;
	unsigned char *owned; /* the bytes read through read_other */
	int is_link;
	int is_devnull;
	char *target; /* owned: the resolved target of a link, when known */
};

static void
text_release(struct text *t)
{
	free(t->owned);
	free(t->target);
	memset(t, 0, sizeof(*t));
}

static int
text_load(const struct parser_input *in, struct text *t)
{
	size_t len = 0;

	memset(t, 0, sizeof(*t));
	t->s = span_of(NULL, 0);
	if (!S_ISLNK(in->mode)) {
		t->s = span_of(in->data, in->len);
		return 0;
	}
	t->is_link = 1;
	if (in->data == NULL || in->len == 0) {
		if (other_read(in, in->path, &t->owned, &len) < 0)
			return -1;
		t->s = span_of(t->owned, len);
		return 0;
	}
	t->target = link_resolve(span_z(in->path), span_of(in->data, in->len));
	if (t->target == NULL)
		return -1;
	if (strcmp(t->target, "/dev/null") == 0) {
		t->is_devnull = 1;
		return -1;
	}
	if (other_read(in, t->target, &t->owned, &len) < 0)
		return -1;
	t->s = span_of(t->owned, len);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Accounts of the image. */

static const char *
ctx_user_name(const struct parser_ctx *ctx, uint32_t uid)
{
	for (size_t i = 0; ctx && i < ctx->nusers; i++)
		if (ctx->users[i].uid == uid && ctx->users[i].name)
			return ctx->users[i].name;
	return NULL;
}

static const char *
ctx_group_name(const struct parser_ctx *ctx, uint32_t gid)
{
	for (size_t i = 0; ctx && i < ctx->ngroups; i++)
		if (ctx->groups[i].gid == gid && ctx->groups[i].name)
			return ctx->groups[i].name;
	return NULL;
}

/* ======================================================================================== */
/* systemd_units
 *
 * osquery asks systemd over D-Bus (ListUnits) for the loaded units; a dead image has no
 * systemd to ask, so we make one row per unit file instead and fill what the file and its
 * neighbours determine:
 *   id              the file name ("ssh.service")
 *   description     [Unit] Description=, or the id when there is none (as systemd reports)
 *   unit_file_state what `systemctl is-enabled` would say from the files alone: "masked"
 *                   (an empty file, a link to /dev/null, or an empty or /dev/null file of
 *                   the same name in a configuration directory that comes first),
 *                   "enabled" (linked from a *.wants/, *.requires/ or *.upholds/ directory
 *                   of /etc/systemd/system, or for a user unit of the user's own
 *                   ~/.config/systemd/user or /etc/systemd/user; a template through any
 *                   instance), "alias"/"linked" (the file is a link to a unit of another/
 *                   the same name), "generated"/"transient" (under /run/systemd/generator*,
 *                   /run/systemd/transient), otherwise "disabled" (it has [Install] rules),
 *                   "indirect" (only Also=) or "static" (no [Install] rules)
 *   fragment_path   the file (the link's target for an alias)
 *   user            [Service] User=
 * and leaves the live-only columns "": load_state, active_state, sub_state, following,
 * object_path, job_id, job_type, job_path; source_path is "" too (systemd sets it only for
 * units made by generators from other files, e.g. /etc/fstab). Drop-in directories
 * (foo.service.d/NAME.conf) are not merged.
 */

static const char *const systemd_units_cols[] = { "id",           "description", "load_state",
						  "active_state", "sub_state",   "unit_file_state",
						  "following",    "object_path", "job_id",
						  "job_type",     "job_path",    "fragment_path",
						  "user",         "source_path", NULL };

struct unit_file {
	struct buf desc, user;
	int has_desc;
	int rules; /* WantedBy=, RequiredBy=, UpheldBy=, Alias= assignments in [Install] */
	int also;  /* Also= assignments */
};

static void
unit_file_release(struct unit_file *u)
{
	buf_release(&u->desc);
	buf_release(&u->user);
}

static int
buf_setspan(struct buf *b, struct span v, struct dt_err *err)
{
	buf_reset(b);
	return buf_add(b, v.p, v.n, err);
}

enum unit_section { SECT_NONE, SECT_UNIT, SECT_SERVICE, SECT_INSTALL, SECT_OTHER };

/* Handle one logical line of a unit file (continuations joined already). */
static int
unit_line(struct unit_file *u, enum unit_section *section, struct span line, struct dt_err *err)
{
	struct span key, val;
	size_t eq;

	line = span_trim(line);
	if (line.n == 0 || line.p[0] == '#' || line.p[0] == ';')
		return 0;
	if (line.p[0] == '[') {
		struct span name;

		if (line.p[line.n - 1] != ']')
			return 0; /* not a section header: skipped */
		name = span_sub(line, 1, line.n - 1);
		*section = span_eq(name, "Unit")      ? SECT_UNIT
			   : span_eq(name, "Service") ? SECT_SERVICE
			   : span_eq(name, "Install") ? SECT_INSTALL
						      : SECT_OTHER;
		return 0;
	}
	eq = span_find(line, '=');
	if (eq == line.n)
		return 0;
	key = span_trim(span_sub(line, 0, eq));
	val = span_trim(span_sub(line, eq + 1, line.n));
	if (*section == SECT_UNIT && span_eq(key, "Description")) {
		u->has_desc = val.n > 0;
		return buf_setspan(&u->desc, val, err);
	}
	if (*section == SECT_SERVICE && span_eq(key, "User"))
		return buf_setspan(&u->user, val, err);
	if (*section == SECT_INSTALL) {
		/* An empty assignment resets the list, as systemd's parsers do. */
		if (span_eq(key, "WantedBy") || span_eq(key, "RequiredBy") ||
		    span_eq(key, "UpheldBy") || span_eq(key, "Alias"))
			u->rules = val.n ? u->rules + 1 : 0;
		else if (span_eq(key, "Also"))
			u->also = val.n ? u->also + 1 : 0;
	}
	return 0;
}

/*
 * Parse a unit file as systemd's config_parse() reads it: a line ending in an odd number
 * of backslashes continues on the next, its last backslash becoming a space and the next
 * line appended as it is; comment lines are dropped, inside a continuation too. A "\r"
 * before the "\n" ends the line as well.
 */
static int
unit_parse(struct unit_file *u, struct span text, struct dt_err *err)
{
	enum unit_section section = SECT_NONE;
	struct lines it;
	struct span line;
	struct buf logical;
	int ret = -1;

	buf_init(&logical, PARSERS_MAX_INPUT);
	lines_init(&it, text);
	while (lines_next(&it, &line)) {
		struct span t;
		size_t bs = 0;

		if (line.n > 0 && line.p[line.n - 1] == '\r')
			line.n--;
		t = span_trim(line);
		if (t.n > 0 && (t.p[0] == '#' || t.p[0] == ';'))
			continue;
		while (bs < line.n && line.p[line.n - 1 - bs] == '\\')
			bs++;
		if (buf_add(&logical, line.p, line.n, err) < 0)
			goto out;
		if (bs % 2 == 1) {
			logical.data[logical.len - 1] = ' ';
			continue;
		}
		if (unit_line(u, &section, span_of(logical.data, logical.len), err) < 0)
			goto out;
		buf_reset(&logical);
	}
	/* A continuation at the end of the file ends there. */
	if (logical.len > 0 && unit_line(u, &section, span_of(logical.data, logical.len), err) < 0)
		goto out;
	ret = 0;
out:
	buf_release(&logical);
	return ret;
}

/* Does name, an entry of a .wants/ directory, pull in unit id? A template "foo@.service"
 * counts as enabled through any of its instances "foo@bar.service". */
static int
unit_link_matches(struct span id, const char *name)
{
	struct span nm = span_z(name);
	size_t at = span_findstr(id, 0, "@.");

	if (span_eq(nm, "") || nm.n > SYS_MAX_PATH)
		return 0;
	if (nm.n == id.n && memcmp(nm.p, id.p, id.n) == 0)
		return 1;
	if (at < id.n) {
		struct span pre = span_sub(id, 0, at + 1);    /* "foo@" */
		struct span suf = span_sub(id, at + 1, id.n); /* ".service" */

		return nm.n > pre.n + suf.n && memcmp(nm.p, pre.p, pre.n) == 0 &&
		       memcmp(nm.p + nm.n - suf.n, suf.p, suf.n) == 0;
	}
	return 0;
}

/* 1 if a *.wants/, *.requires/ or *.upholds/ directory of confdir (listed in conf) links id. */
static int
unit_enabled(const struct parser_input *in, const char *confdir, const struct names *conf,
	     struct span id)
{
	for (size_t i = 0; i < conf->n; i++) {
		struct span d = span_z(conf->v[i]);
		struct names sub;
		char *path;
		int hit = 0;

		if (!span_ends(d, ".wants") && !span_ends(d, ".requires") &&
		    !span_ends(d, ".upholds"))
			continue;
		path = cat3(span_z(confdir), span_z("/"), d);
		if (path == NULL || other_list(in, path, &sub) < 0) {
			free(path);
			continue;
		}
		for (size_t k = 0; k < sub.n && !hit; k++)
			hit = sub.v[k] && unit_link_matches(id, sub.v[k]);
		names_release(&sub);
		free(path);
		if (hit)
			return 1;
	}
	return 0;
}

/* 1 if confdir holds a masking file (empty, or a link to /dev/null) named id. */
static int
unit_masked_by(const struct parser_input *in, const char *confdir, const struct names *conf,
	       struct span id)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	char *path;
	int masked = 0, found = 0;

	for (size_t i = 0; i < conf->n && !found; i++)
		found = conf->v[i] && span_eq(id, conf->v[i]);
	if (!found)
		return 0;
	path = cat3(span_z(confdir), span_z("/"), id);
	if (path && other_read(in, path, &bytes, &len) == 0)
		masked = len == 0 || span_eq(span_trim(span_of(bytes, len)), "/dev/null");
	free(bytes);
	free(path);
	return masked;
}

/*
 * The directories whose *.wants/ links enable the unit at path, and whose files of the
 * same name mask it, in systemd's order: for a user unit the user's own
 * ~/.config/systemd/user, then /etc/systemd/user; for a system unit /etc/systemd/system.
 * Fills dirs[] with new strings; returns how many, or -1 out of memory.
 */
static int
unit_confdirs(const char *path, char *dirs[2])
{
	struct span p = span_z(path), dir = path_dir(p);
	int n = 0;

	if (span_ends(dir, "/.config/systemd/user")) {
		dirs[n] = cat3(dir, span_z(""), span_z(""));
		if (dirs[n++] == NULL)
			return -1;
	}
	if (strstr(path, "/systemd/user/"))
		dirs[n] = cat3(span_z("/etc/systemd/user"), span_z(""), span_z(""));
	else
		dirs[n] = cat3(span_z("/etc/systemd/system"), span_z(""), span_z(""));
	if (dirs[n++] == NULL) {
		free(dirs[0]);
		return -1;
	}
	return n;
}

/*
 * The unit_file_state that the configuration directories decide ("masked", "enabled"), in
 * *state; NULL when they decide nothing. -1 only when out of memory.
 */
static int
unit_state(const struct parser_input *in, struct span id, const char **state, struct dt_err *err)
{
	char *dirs[2] = { NULL, NULL };
	int nd = unit_confdirs(in->path, dirs);

	*state = NULL;
	if (nd < 0)
		return dt_fail(err, DT_ENOMEM, "systemd_units: out of memory");
	for (int d = 0; d < nd && *state == NULL; d++) {
		struct span dir = span_z(dirs[d]), path = span_z(in->path);
		int inside =
			path.n > dir.n && memcmp(path.p, dir.p, dir.n) == 0 && path.p[dir.n] == '/';
		struct names conf;

		if (other_list(in, dirs[d], &conf) < 0)
			continue;
		if (!inside && unit_masked_by(in, dirs[d], &conf, id))
			*state = "masked";
		else if (unit_enabled(in, dirs[d], &conf, id))
			*state = "enabled";
		names_release(&conf);
	}
	for (int d = 0; d < nd; d++)
		free(dirs[d]);
	return 0;
}

int
parse_systemd_units(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct sink s;
	struct text t;
	struct unit_file u;
	struct span path, id;
	const char *state = NULL, *fragment;
	json_t *row = NULL;
	int ret = -1;

	if (sink_init(&s, "systemd_units", in, rows, err) < 0)
		return -1;
	path = span_z(in->path);
	id = path_base(path);
	if (id.n == 0)
		return 0;
	memset(&u, 0, sizeof(u));
	buf_init(&u.desc, PARSERS_MAX_INPUT);
	buf_init(&u.user, PARSERS_MAX_INPUT);
	fragment = in->path;
	if (text_load(in, &t) < 0) {
		state = t.is_devnull ? "masked" : ""; /* a link we cannot follow: unknown */
	} else if (t.s.n == 0) {
		state = "masked"; /* systemd treats an empty unit file as masked */
	} else if (t.target) {
		struct span base = path_base(span_z(t.target));

		/* A link to a unit of another name is an alias (Alias=, or by hand); to one
		 * of the same name outside the search path, `systemctl link`. */
		fragment = t.target;
		state = base.n == id.n && memcmp(base.p, id.p, id.n) == 0 ? "linked" : "alias";
	} else if (span_starts(path, "/run/systemd/generator")) {
		state = "generated";
	} else if (span_starts(path, "/run/systemd/transient/")) {
		state = "transient";
	} else if (unit_state(in, id, &state, err) < 0) {
		goto out;
	}
	/* A masked unit is not loaded: systemd shows its name as its description. */
	if (state == NULL || strcmp(state, "masked") != 0) {
		if (unit_parse(&u, t.s, err) < 0)
			goto out;
	}
	if (state == NULL)
		state = u.rules > 0 ? "disabled" : u.also > 0 ? "indirect" : "static";
	row = row_new(systemd_units_cols, err);
	if (row == NULL)
		goto out;
	if (row_set(row, "id", id, err) < 0 ||
	    row_set(row, "description", u.has_desc ? span_of(u.desc.data, u.desc.len) : id, err) <
		    0 ||
	    row_setz(row, "unit_file_state", state, err) < 0 ||
	    row_setz(row, "fragment_path", fragment, err) < 0 ||
	    row_set(row, "user", span_of(u.user.data, u.user.len), err) < 0)
		goto out;
	ret = sink_add(&s, row, err);
	row = NULL;
out:
	json_decref(row);
	unit_file_release(&u);
	text_release(&t);
	return ret;
}

/* ======================================================================================== */
/* startup_items (osquery linux/startup_items.cpp)
 *
 * Files of /etc/init.d/ and ~/.config/autostart-scripts/ are scripts: name is the file
 * name, path the file. Files of /etc/xdg/autostart/ and ~/.config/autostart/ are desktop
 * entries: name from Name=, path from Exec= (the whole command line, arguments included,
 * as osquery reports it; args stays ""). Every row has type "Startup Item", status
 * "enabled", source the directory with a trailing '/', and username the second path
 * component when the directory is under /home/ (osquery's rule; "" elsewhere, /root too).
 * Deviation: osquery drops an Exec= or Name= line whose value holds another '=' ("Exec=env
 * A=B evil"); we keep the whole value, since hiding such a line would hide evidence. The
 * systemd-unit rows osquery adds from D-Bus are live state; see systemd_units.
 */

static const char *const startup_items_cols[] = { "name",   "path",   "args",     "type",
						  "source", "status", "username", NULL };

static int
is_desktop_dir(struct span dir)
{
	return span_eq(dir, "/etc/xdg/autostart") || span_ends(dir, "/.config/autostart");
}

static int
is_script_dir(struct span dir)
{
	return span_eq(dir, "/etc/init.d") || span_ends(dir, "/.config/autostart-scripts");
}

int
parse_startup_items(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct sink s;
	struct span path, dir, name, exec = span_z(""), user = span_z("");
	struct text t = { 0 };
	json_t *row = NULL;
	char *source = NULL;
	int desktop, ret = -1;

	if (sink_init(&s, "startup_items", in, rows, err) < 0)
		return -1;
	path = span_z(in->path);
	dir = path_dir(path);
	name = path_base(path);
	if (name.n == 0)
		return 0;
	desktop = is_desktop_dir(dir) || (!is_script_dir(dir) && span_ends(name, ".desktop"));
	if (desktop) {
		struct osplit lines;
		struct span line;

		name = span_z("");
		text_load(in, &t);
		osplit_init(&lines, t.s, "\n");
		while (osplit_next(&lines, &line)) {
			/* Later lines win, as in osquery (a [Desktop Action] Exec= too). */
			if (span_starts(line, "Name="))
				name = span_trim(span_sub(line, 5, line.n));
			else if (span_starts(line, "Exec="))
				exec = span_trim(span_sub(line, 5, line.n));
		}
	} else {
		exec = path;
	}
	if (span_starts(dir, "/home/")) {
		struct span rest = span_sub(dir, 6, dir.n);

		span_token(&rest, "/", &user);
	}
	source = cat3(dir, span_z("/"), span_z(""));
	row = row_new(startup_items_cols, err);
	if (source == NULL || row == NULL) {
		dt_fail(err, DT_ENOMEM, "startup_items: out of memory");
		goto out;
	}
	if (row_set(row, "name", name, err) < 0 || row_set(row, "path", exec, err) < 0 ||
	    row_setz(row, "type", "Startup Item", err) < 0 ||
	    row_setz(row, "source", source, err) < 0 ||
	    row_setz(row, "status", "enabled", err) < 0 || row_set(row, "username", user, err) < 0)
		goto out;
	ret = sink_add(&s, row, err);
	row = NULL;
out:
	json_decref(row);
	free(source);
	text_release(&t);
	return ret;
}

/* ======================================================================================== */
/* deb_packages (osquery linux/deb_packages.cpp through libdpkg, dpkgquery.cpp)
 *
 * /var/lib/dpkg/status: RFC 822 stanzas separated by blank lines; field names are
 * case-insensitive; a line starting with a space or tab continues the previous field.
 * Packages whose status is "not-installed" are skipped, as libdpkg's listing does.
 *   name      Package
 *   version   Version as dpkg prints it (versiondescribe, vdew_nonambig): "epoch:" only
 *             when the epoch is not 0 or the rest holds a ':' ("0:1.2-1" prints "1.2-1"),
 *             "-revision" only when there is one; "" when the stanza has no Version
 *   source    Source, verbatim: libdpkg keeps "src (version)" for binNMUs, and so do we
 *   size      Installed-Size, verbatim (KiB, as dpkg records it)
 *   arch      Architecture
 *   revision  the Debian revision: after the last '-' of the version, "" when none
 *   status    Status as "want eflag status", e.g. "install ok installed"
 *   maintainer, section  verbatim
 *   priority  Priority (the standard names lower-cased), "unknown" when absent
 * The hidden admindir column is a query knob, not data: omitted.
 */

static const char *const deb_packages_cols[] = { "name",    "version",  "source", "size",
						 "arch",    "revision", "status", "maintainer",
						 "section", "priority", NULL };

enum deb_field {
	DEB_PACKAGE,
	DEB_VERSION,
	DEB_SOURCE,
	DEB_SIZE,
	DEB_ARCH,
	DEB_STATUS,
	DEB_MAINTAINER,
	DEB_SECTION,
	DEB_PRIORITY,
	DEB_NFIELDS
};

static const char *const deb_field_names[DEB_NFIELDS] = {
	"Package", "Version",    "Source",  "Installed-Size", "Architecture",
	"Status",  "Maintainer", "Section", "Priority",
};

struct deb_stanza {
	struct span f[DEB_NFIELDS]; /* first line of each field, trimmed */
	int have[DEB_NFIELDS];
	int any;
};

static void
deb_stanza_reset(struct deb_stanza *st)
{
	memset(st, 0, sizeof(*st));
	for (int f = 0; f < DEB_NFIELDS; f++)
		st->f[f] = span_z("");
}

static int
deb_emit(struct sink *s, const struct deb_stanza *st, struct dt_err *err)
{
	static const char *const prios[] = { "required", "important", "standard",
					     "optional", "extra",     "unknown" };
	struct span words[3], rest, tok, ver, epoch = span_z(""), upstream, revision = span_z("");
	struct buf vbuf, sbuf;
	size_t nw = 0, colon, dash;
	json_t *row = NULL;
	const char *prio = NULL;
	int ret = -1;

	if (!st->have[DEB_PACKAGE] || st->f[DEB_PACKAGE].n == 0 || !st->have[DEB_STATUS])
		return 0; /* not a package dpkg could list */
	rest = st->f[DEB_STATUS];
	while (span_token(&rest, WS, &tok))
		if (nw++ < 3)
			words[nw - 1] = tok;
	if (nw != 3 || span_eq(words[2], "not-installed"))
		return 0;

	/* Version: [epoch:]upstream[-revision], epoch digits only. */
	ver = span_trim(st->f[DEB_VERSION]);
	colon = span_find(ver, ':');
	upstream = ver;
	if (colon < ver.n) {
		epoch = span_sub(ver, 0, colon);
		upstream = span_sub(ver, colon + 1, ver.n);
	}
	dash = upstream.n;
	while (dash > 0 && upstream.p[dash - 1] != '-')
		dash--;
	if (dash > 0) {
		revision = span_sub(upstream, dash, upstream.n);
		upstream = span_sub(upstream, 0, dash - 1);
	}
	if (all_digits(epoch)) {
		/*
		 * dpkg reads the epoch as a number and versiondescribe(vdew_nonambig) prints
		 * it only when it is not 0 or when the rest holds a ':' that would make the
		 * version ambiguous without it.
		 */
		while (epoch.n > 1 && epoch.p[0] == '0')
			epoch = span_sub(epoch, 1, epoch.n);
		if (span_eq(epoch, "0") && span_find(upstream, ':') == upstream.n &&
		    span_find(revision, ':') == revision.n)
			epoch = span_z("");
	}
	buf_init(&vbuf, PARSERS_MAX_INPUT);
	buf_init(&sbuf, PARSERS_MAX_INPUT);
	if ((epoch.n &&
	     (buf_add(&vbuf, epoch.p, epoch.n, err) < 0 || buf_addc(&vbuf, ':', err) < 0)) ||
	    buf_add(&vbuf, upstream.p, upstream.n, err) < 0 ||
	    (revision.n &&
	     (buf_addc(&vbuf, '-', err) < 0 || buf_add(&vbuf, revision.p, revision.n, err) < 0)))
		goto out;
	for (size_t w = 0; w < 3; w++)
		if ((w && buf_addc(&sbuf, ' ', err) < 0) ||
		    buf_add(&sbuf, words[w].p, words[w].n, err) < 0)
			goto out;
	for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++)
		if (span_caseeq(st->f[DEB_PRIORITY], prios[i]))
			prio = prios[i];
	row = row_new(deb_packages_cols, err);
	if (row == NULL)
		goto out;
	if (row_set(row, "name", st->f[DEB_PACKAGE], err) < 0 ||
	    row_set(row, "version", span_of(vbuf.data, vbuf.len), err) < 0 ||
	    row_set(row, "source", st->f[DEB_SOURCE], err) < 0 ||
	    row_set_big(row, "size", st->f[DEB_SIZE], err) < 0 ||
	    row_set(row, "arch", st->f[DEB_ARCH], err) < 0 ||
	    row_set(row, "revision", revision, err) < 0 ||
	    row_set(row, "status", span_of(sbuf.data, sbuf.len), err) < 0 ||
	    row_set(row, "maintainer", st->f[DEB_MAINTAINER], err) < 0 ||
	    row_set(row, "section", st->f[DEB_SECTION], err) < 0 ||
	    row_set(row, "priority",
		    prio ? span_z(prio)
			 : (st->f[DEB_PRIORITY].n ? st->f[DEB_PRIORITY] : span_z("unknown")),
		    err) < 0)
		goto out;
	ret = sink_add(s, row, err);
	row = NULL;
out:
	json_decref(row);
	buf_release(&vbuf);
	buf_release(&sbuf);
	return ret;
}

int
parse_deb_packages(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct sink s;
	struct text t;
	struct lines it;
	struct span line;
	struct deb_stanza st;
	int ret = -1;

	if (sink_init(&s, "deb_packages", in, rows, err) < 0)
		return -1;
	text_load(in, &t);
	deb_stanza_reset(&st);
	lines_init(&it, t.s);
	for (;;) {
		int more = lines_next(&it, &line);
		struct span tl = more ? span_trim(line) : span_z("");
		size_t colon;
		struct span key;

		if (!more || tl.n == 0) {
			if (st.any && deb_emit(&s, &st, err) < 0)
				goto out;
			deb_stanza_reset(&st);
			if (!more)
				break;
			continue;
		}
		/* Continuation lines only extend multi-line fields (Description, Conffiles). */
		if (line.p[0] == ' ' || line.p[0] == '\t' || line.p[0] == '#')
			continue;
		colon = span_find(line, ':');
		if (colon == line.n)
			continue; /* not a field: skipped */
		key = span_trim(span_sub(line, 0, colon));
		st.any = 1;
		for (int f = 0; f < DEB_NFIELDS; f++) {
			/* dpkg refuses a duplicate field; we keep the first. */
			if (!st.have[f] && span_caseeq(key, deb_field_names[f])) {
				st.have[f] = 1;
				st.f[f] = span_trim(span_sub(line, colon + 1, line.n));
			}
		}
	}
	ret = 0;
out:
	text_release(&t);
	return ret;
}

/* ======================================================================================== */
/* rpm_packages (osquery linux/rpm_packages.cpp through librpm)
 *
 * rpm >= 4.16 keeps its database in rpmdb.sqlite: table Packages (hnum INTEGER PRIMARY KEY,
 * blob BLOB) holding one header blob per installed package. We read the SQLite file format
 * (sqlite.org/fileformat.html) ourselves, read-only: the schema on page 1 names the root
 * page of Packages, whose table b-tree is walked in rowid order, overflow chains followed.
 * A blob is an RPM header without its magic (rpm's headerExport): index count il and data
 * length dl (big-endian), il entries {tag, type, offset, count}, then dl bytes of data.
 * One row per header, as osquery's rpmdbNextIterator gives them:
 *   name, version, release, source (SOURCERPM), sha1 (SHA1HEADER), arch, vendor,
 *   package_group (GROUP, its first string)     the string tags, "" when absent
 *   size (SIZE), epoch (EPOCH), install_time (INSTALLTIME)   the first number, "" absent
 * Hostile input: every page is visited at most once (b-tree and overflow pages alike), so
 * a loop or a shared chain ends the walk, and the work is bounded by the file's size; a
 * damaged page or header is skipped. Not read: the older Berkeley DB "Packages" (RHEL <= 8)
 * and SUSE's ndb (no rows), and changes still in an uncheckpointed rpmdb.sqlite-wal.
 */

static const char *const rpm_packages_cols[] = { "name",   "version",       "release",
						 "source", "size",          "sha1",
						 "arch",   "epoch",         "install_time",
						 "vendor", "package_group", NULL };

static uint32_t
be16(const unsigned char *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t
be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct sq_db {
	const unsigned char *p;
	size_t len;
	uint32_t page_size, usable, npages;
	unsigned char *seen; /* owned: a bit per page, set once visited */
};

/* SQLite's varint: big-endian 7-bit groups, the ninth byte whole. Bytes used, 0 if cut. */
static size_t
sq_varint(const unsigned char *p, size_t n, uint64_t *v)
{
	*v = 0;
	for (size_t i = 0; i < 9 && i < n; i++) {
		if (i == 8) {
			*v = *v << 8 | p[i];
			return 9;
		}
		*v = *v << 7 | (p[i] & 0x7f);
		if (!(p[i] & 0x80))
			return i + 1;
	}
	return 0;
}

/* Page pgno (1-based), if it exists and was not visited yet; marks it visited. */
static const unsigned char *
sq_take(struct sq_db *db, uint64_t pgno)
{
	if (pgno == 0 || pgno > db->npages || (db->seen[(pgno - 1) / 8] >> ((pgno - 1) % 8)) & 1)
		return NULL;
	db->seen[(pgno - 1) / 8] |= (unsigned char)(1u << ((pgno - 1) % 8));
	return db->p + (size_t)(pgno - 1) * db->page_size;
}

/*
 * The payload of the table-leaf cell at page[off], local part and overflow chain, into out
 * (reset first). 0 done, 1 damaged (skip the cell), -1 out of memory.
 */
static int
sq_payload(struct sq_db *db, const unsigned char *page, size_t off, struct buf *out,
	   struct dt_err *err)
{
	uint64_t plen, rowid, next;
	size_t k, local, u = db->usable, x = u - 35, m = (u - 12) * 32 / 255 - 23;

	buf_reset(out);
	if (off >= u || (k = sq_varint(page + off, u - off, &plen)) == 0)
		return 1;
	off += k;
	if ((k = sq_varint(page + off, u - off, &rowid)) == 0)
		return 1;
	off += k;
	if (plen > PARSERS_MAX_INPUT)
		return 1;
	local = plen <= x ? (size_t)plen : m + (size_t)((plen - m) % (u - 4));
	if (local > x)
		local = m;
	if (off + local > u || (local < plen && off + local + 4 > u))
		return 1;
	if (buf_add(out, page + off, local, err) < 0)
		return -1;
	if (local == plen)
		return 0;
	next = be32(page + off + local);
	while (out->len < plen) {
		const unsigned char *ov = sq_take(db, next);
		size_t take = u - 4;

		if (ov == NULL)
			return 1;
		if (take > plen - out->len)
			take = (size_t)(plen - out->len);
		if (buf_add(out, ov + 4, take, err) < 0)
			return -1;
		next = be32(ov);
	}
	return 0;
}

/* Column col of a record: its serial type and bytes. 0, or 1 if the record lacks it. */
static int
sq_column(const unsigned char *rec, size_t n, size_t col, uint64_t *type, const unsigned char **val,
	  size_t *vlen)
{
	uint64_t hlen, st = 0;
	size_t k = sq_varint(rec, n, &hlen), h, body;

	if (k == 0 || hlen > n || hlen < k)
		return 1;
	body = (size_t)hlen;
	h = k;
	for (size_t c = 0;; c++) {
		static const unsigned char isize[] = { 0, 1, 2, 3, 4, 6, 8, 8, 0, 0 };
		size_t sz;

		if (h >= hlen || (k = sq_varint(rec + h, (size_t)hlen - h, &st)) == 0)
			return 1;
		h += k;
		if (st >= 12)
			sz = (size_t)((st - 12) / 2);
		else if (st < 10)
			sz = isize[st];
		else
			return 1; /* reserved types */
		if (body > n || sz > n - body)
			return 1;
		if (c == col) {
			*type = st;
			*val = rec + body;
			*vlen = sz;
			return 0;
		}
		body += sz;
	}
}

/* An integer column (serial types 1-6, 8, 9); -1 when it is not one. */
static int64_t
sq_int(uint64_t type, const unsigned char *v, size_t n)
{
	uint64_t u = 0;

	if (type == 8 || type == 9)
		return type == 8 ? 0 : 1;
	if (type < 1 || type > 6 || n == 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		u = u << 8 | v[i];
	if (n < 8 && (v[0] & 0x80))
		u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
	return (int64_t)u;
}

typedef int (*sq_row_fn)(void *arg, const unsigned char *rec, size_t n, struct dt_err *err);

/* Walk the table b-tree at pgno in key order; fn per row. -1 only on a fatal error. */
static int
sq_walk(struct sq_db *db, uint64_t pgno, int depth, struct buf *pl, sq_row_fn fn, void *arg,
	struct dt_err *err)
{
	const unsigned char *page = sq_take(db, pgno), *h;
	size_t hoff = pgno == 1 ? 100 : 0, ncells, hsize;

	if (page == NULL || depth > 40)
		return 0; /* damaged: missing page, a loop, or absurd depth */
	h = page + hoff;
	if (h[0] != 0x0d && h[0] != 0x05)
		return 0; /* not a table b-tree page */
	hsize = h[0] == 0x05 ? 12 : 8;
	ncells = be16(h + 3);
	if (hoff + hsize + 2 * ncells > db->usable)
		return 0;
	for (size_t i = 0; i < ncells; i++) {
		size_t off = be16(h + hsize + 2 * i);
		int r;

		if (h[0] == 0x05) {
			if (off + 4 > db->usable)
				continue;
			if (sq_walk(db, be32(page + off), depth + 1, pl, fn, arg, err) < 0)
				return -1;
			continue;
		}
		r = sq_payload(db, page, off, pl, err);
		if (r < 0)
			return -1;
		if (r == 0 && fn(arg, pl->data, pl->len, err) < 0)
			return -1;
	}
	if (h[0] == 0x05)
		return sq_walk(db, be32(h + 8), depth + 1, pl, fn, arg, err);
	return 0;
}

/* The schema row of table "Packages": its root page. */
static int
sq_find_packages(void *arg, const unsigned char *rec, size_t n, struct dt_err *err)
{
	uint64_t *root = arg, t0, t1, t3;
	const unsigned char *v0, *v1, *v3;
	size_t n0, n1, n3;
	int64_t r;

	(void)err;
	if (sq_column(rec, n, 0, &t0, &v0, &n0) || sq_column(rec, n, 1, &t1, &v1, &n1) ||
	    sq_column(rec, n, 3, &t3, &v3, &n3))
		return 0;
	if (!(t0 >= 13 && t0 % 2 == 1 && span_eq(span_of(v0, n0), "table")) ||
	    !(t1 >= 13 && t1 % 2 == 1 && span_eq(span_of(v1, n1), "Packages")))
		return 0;
	r = sq_int(t3, v3, n3);
	if (r > 0 && *root == 0)
		*root = (uint64_t)r;
	return 0;
}

/* RPM header tags and types (rpm's rpmtag.h). */
enum {
	RPMTAG_SHA1HEADER = 269,
	RPMTAG_NAME = 1000,
	RPMTAG_VERSION = 1001,
	RPMTAG_RELEASE = 1002,
	RPMTAG_EPOCH = 1003,
	RPMTAG_INSTALLTIME = 1008,
	RPMTAG_SIZE = 1009,
	RPMTAG_VENDOR = 1011,
	RPMTAG_GROUP = 1016,
	RPMTAG_ARCH = 1022,
	RPMTAG_SOURCERPM = 1044,
};
enum {
	RPM_CHAR = 1,
	RPM_INT8,
	RPM_INT16,
	RPM_INT32,
	RPM_INT64,
	RPM_STRING,
	RPM_BIN,
	RPM_STRING_ARRAY,
	RPM_I18NSTRING
};

struct rpm_hdr {
	const unsigned char *index, *data;
	uint32_t il, dl;
};

static int
rpm_hdr_init(struct rpm_hdr *h, const unsigned char *blob, size_t n)
{
	if (n < 8)
		return -1;
	h->il = be32(blob);
	h->dl = be32(blob + 4);
	if (h->il == 0 || h->il > (n - 8) / 16 || h->dl > n - 8 - (size_t)h->il * 16)
		return -1;
	h->index = blob + 8;
	h->data = h->index + (size_t)h->il * 16;
	return 0;
}

/* The first entry of tag: its type, data offset and count. */
static int
rpm_entry(const struct rpm_hdr *h, uint32_t tag, uint32_t *type, uint32_t *off, uint32_t *count)
{
	for (uint32_t i = 0; i < h->il; i++) {
		const unsigned char *e = h->index + (size_t)i * 16;

		if (be32(e) != tag)
			continue;
		*type = be32(e + 4);
		*off = be32(e + 8);
		*count = be32(e + 12);
		return *off<h->dl && * count> 0 ? 0 : -1;
	}
	return -1;
}

/* A string tag (STRING, or the first of a STRING_ARRAY/I18NSTRING); "" when absent. */
static struct span
rpm_string(const struct rpm_hdr *h, uint32_t tag)
{
	uint32_t type, off, count;
	const unsigned char *nul;

	if (rpm_entry(h, tag, &type, &off, &count) < 0 ||
	    (type != RPM_STRING && type != RPM_STRING_ARRAY && type != RPM_I18NSTRING))
		return span_z("");
	nul = memchr(h->data + off, '\0', h->dl - off);
	return nul ? span_of(h->data + off, (size_t)(nul - (h->data + off))) : span_z("");
}

/* A numeric tag's first value as librpm's rpmtdGetNumber reads it, in out; "" when absent. */
static void
rpm_number(const struct rpm_hdr *h, uint32_t tag, char out[24])
{
	static const unsigned char width[] = { 0, 1, 1, 2, 4, 8 };
	uint32_t type, off, count;
	uint64_t v = 0;

	out[0] = '\0';
	if (rpm_entry(h, tag, &type, &off, &count) < 0 || type < RPM_CHAR || type > RPM_INT64 ||
	    width[type] > h->dl - off)
		return;
	for (size_t i = 0; i < width[type]; i++)
		v = v << 8 | h->data[off + i];
	snprintf(out, 24, "%lld", (long long)v);
}

static int
rpm_row(void *arg, const unsigned char *rec, size_t n, struct dt_err *err)
{
	static const struct {
		const char *col;
		uint32_t tag;
	} strs[] = { { "name", RPMTAG_NAME },       { "version", RPMTAG_VERSION },
		     { "release", RPMTAG_RELEASE }, { "source", RPMTAG_SOURCERPM },
		     { "sha1", RPMTAG_SHA1HEADER }, { "arch", RPMTAG_ARCH },
		     { "vendor", RPMTAG_VENDOR },   { "package_group", RPMTAG_GROUP } };
	struct sink *s = arg;
	struct rpm_hdr h;
	uint64_t type;
	const unsigned char *blob;
	size_t blen;
	char size[24], epoch[24], itime[24];
	json_t *row;

	/* Column 0 is hnum (the rowid, stored as NULL); column 1 the header blob. */
	if (sq_column(rec, n, 1, &type, &blob, &blen) || type < 12 || type % 2 != 0 ||
	    rpm_hdr_init(&h, blob, blen) < 0)
		return 0; /* not a header: skipped */
	rpm_number(&h, RPMTAG_SIZE, size);
	rpm_number(&h, RPMTAG_EPOCH, epoch);
	rpm_number(&h, RPMTAG_INSTALLTIME, itime);
	row = row_new(rpm_packages_cols, err);
	if (row == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		if (row_set(row, strs[i].col, rpm_string(&h, strs[i].tag), err) < 0)
			goto fail;
	if (row_set_big(row, "size", span_z(size), err) < 0 ||
	    row_set_int(row, "epoch", span_z(epoch), err) < 0 ||
	    row_set_int(row, "install_time", span_z(itime), err) < 0)
		goto fail;
	return sink_add(s, row, err);
fail:
	json_decref(row);
	return -1;
}

int
parse_rpm_packages(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct sink s;
	struct text t;
	struct sq_db db;
	struct buf pl;
	uint64_t root = 0;
	uint32_t ps;
	int ret = 0;

	if (sink_init(&s, "rpm_packages", in, rows, err) < 0)
		return -1;
	text_load(in, &t);
	memset(&db, 0, sizeof(db));
	db.p = (const unsigned char *)t.s.p;
	db.len = t.s.n;
	if (db.len < 512 || memcmp(db.p, "SQLite format 3", 16) != 0)
		goto out; /* Berkeley DB, ndb, or not a database: no rows */
	ps = be16(db.p + 16);
	db.page_size = ps == 1 ? 65536 : ps;
	if (db.page_size < 512 || (db.page_size & (db.page_size - 1)) != 0 ||
	    db.page_size <= db.p[20] || db.page_size - db.p[20] < 480)
		goto out;
	db.usable = db.page_size - db.p[20];
	db.npages = (uint32_t)(db.len / db.page_size);
	db.seen = calloc((size_t)db.npages / 8 + 1, 1);
	if (db.seen == NULL) {
		ret = dt_fail(err, DT_ENOMEM, "rpm_packages: out of memory");
		goto out;
	}
	buf_init(&pl, PARSERS_MAX_INPUT);
	ret = sq_walk(&db, 1, 0, &pl, sq_find_packages, &root, err);
	if (ret == 0 && root > 0)
		ret = sq_walk(&db, root, 0, &pl, rpm_row, &s, err);
	buf_release(&pl);
out:
	free(db.seen);
	text_release(&t);
	return ret;
}

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
			    row_set(row, map[i][1], parts[1], err) < 0)
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
		z = cat3(hostpath, span_z("_dists_"), suite);
	else
		z = cat3(hostpath, span_z("_"), suite);
	for (char *p = z; p && *p; p++)
		if (*p == '/')
			*p = '_';
	return z;
}

static int
apt_emit(struct sink *s, const struct parser_input *in, const struct names *lists, struct span uri,
	 struct span suite, struct dt_err *err)
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
	name = cat3(hostpath, span_z(" "), suite);
	cache = apt_cache_name(hostpath, suite);
	row = row_new(apt_sources_cols, err);
	if (name == NULL || cache == NULL || row == NULL) {
		dt_fail(err, DT_ENOMEM, "apt_sources: out of memory");
		goto out;
	}
	if (row_setz(row, "name", name, err) < 0 || row_setz(row, "source", in->path, err) < 0 ||
	    row_set(row, "base_uri", uri, err) < 0)
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
		rpath = cat3(span_z(APT_LISTS), span_z("/"), span_z(best));
		if (rpath && other_read(in, rpath, &rel, &rlen) == 0 &&
		    apt_release_fill(row, span_of(rel, rlen), err) < 0)
			goto out;
	}
	ret = sink_add(s, row, err);
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
apt_one_line(struct sink *s, const struct parser_input *in, const struct names *lists,
	     struct span line, struct dt_err *err)
{
	struct span rest, tok, uri, suite;

	line = span_sub(line, 0, span_find(line, '#'));
	rest = line;
	if (!span_token(&rest, WS, &tok) || !span_eq(tok, "deb"))
		return 0;
	if (!span_token(&rest, WS, &tok))
		return 0;
	if (tok.p[0] == '[') {
		/* Options "[arch=amd64 signed-by=...]" run to the token holding ']'. */
		while (span_find(tok, ']') == tok.n)
			if (!span_token(&rest, WS, &tok))
				return 0;
		if (!span_token(&rest, WS, &tok))
			return 0;
	}
	uri = tok;
	if (span_findstr(uri, 0, "://") == uri.n || !span_token(&rest, WS, &suite))
		return 0;
	return apt_emit(s, in, lists, uri, suite, err);
}

/* One deb822 stanza (lines of text; continuation lines already part of it). */
static int
apt_deb822(struct sink *s, const struct parser_input *in, const struct names *lists,
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
		while (span_token(&rest, WS, &u))
			deb |= span_eq(u, "deb");
		if (!deb)
			goto out;
	}
	if (span_caseeq(enabled, "no") || span_caseeq(enabled, "false") ||
	    span_caseeq(enabled, "off") || span_eq(enabled, "0"))
		goto out;
	rest = uris;
	while (ret == 0 && span_token(&rest, WS, &u)) {
		struct span srest = suites;

		if (span_findstr(u, 0, "://") == u.n)
			continue;
		while (ret == 0 && span_token(&srest, WS, &su))
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
	struct sink s;
	struct text t;
	struct names lists;
	struct lines it;
	struct span line;
	int ret = 0;

	if (sink_init(&s, "apt_sources", in, rows, err) < 0)
		return -1;
	text_load(in, &t);
	if (other_list(in, APT_LISTS, &lists) < 0)
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
	names_release(&lists);
	text_release(&t);
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
yum_flush(struct sink *s, json_t **row, struct dt_err *err)
{
	json_t *r = *row;

	*row = NULL;
	return r ? sink_add(s, r, err) : 0;
}

int
parse_yum_sources(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	static const char *const keys[] = { "name",    "baseurl",  "mirrorlist", "metalink",
					    "enabled", "gpgcheck", "gpgkey" };
	struct sink s;
	struct text t;
	struct lines it;
	struct span line;
	json_t *row = NULL;
	int ret = -1, in_value = 0;

	if (sink_init(&s, "yum_sources", in, rows, err) < 0)
		return -1;
	text_load(in, &t);
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
			row = row_new(yum_sources_cols, err);
			if (row == NULL || row_setz(row, "source", in->path, err) < 0)
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
			    row_set(row, keys[i], span_trim(span_sub(tl, eq + 1, tl.n)), err) < 0)
				goto out;
	}
	ret = yum_flush(&s, &row, err);
out:
	json_decref(row);
	text_release(&t);
	return ret;
}

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
			ret = row_set(row, col, val, err);
			buf_release(&j1);
			continue;
		}
		/* VERSION_ID: split(v, '.', 2) gives major, minor and the rest as patch. */
		n = osplit_max(val, '.', 2, ver, &j2, err);
		for (int k = 0; k < n && ret == 0; k++)
			ret = row_set_int(row, vcols[k], ver[k], err);
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
		if (!(is_blank((unsigned char)text.p[i]) && i > 0 &&
		      is_blank((unsigned char)text.p[i - 1])))
			flat[o++] = text.p[i];
	flat[o] = '\0';
	if (row_setz(row, "platform", platform, err) < 0 ||
	    row_setz(row, "platform_like", platform, err) < 0 ||
	    row_set(row, "version", span_of(flat, o), err) < 0 ||
	    row_setz(row, "build", "", err) < 0) {
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
			ret = k == 0 ? row_set(row, cols[0], g[0], err)
				     : row_set_int(row, cols[k], g[k], err);
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
	int ok = other_read(in, path, &bytes, &len) == 0;

	free(bytes);
	return ok;
}

int
parse_os_version(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	static const char *const legacy[][2] = { { "/etc/redhat-release", "rhel" },
						 { "/etc/gentoo-release", "gentoo" } };
	struct sink s;
	struct text t;
	json_t *row = NULL;
	unsigned char *other = NULL;
	size_t olen = 0;
	int ret = -1, is_legacy = -1;

	if (sink_init(&s, "os_version", in, rows, err) < 0)
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
	text_load(in, &t);
	row = row_new(os_version_cols, err);
	if (row == NULL || row_setz(row, "name", "Unknown", err) < 0 ||
	    row_setz(row, "major", "0", err) < 0 || row_setz(row, "minor", "0", err) < 0 ||
	    row_setz(row, "patch", "0", err) < 0 || row_setz(row, "platform", "posix", err) < 0)
		goto out;
	if (is_legacy >= 0) {
		if (os_legacy_fill(row, legacy[is_legacy][1], t.s, err) < 0)
			goto out;
	} else {
		if (os_release_fill(row, t.s, err) < 0)
			goto out;
		/* osquery then lets /etc/redhat-release (else /etc/gentoo-release) override. */
		for (int i = 0; i < 2; i++) {
			if (other_read(in, legacy[i][0], &other, &olen) == 0) {
				if (os_legacy_fill(row, legacy[i][1], span_of(other, olen), err) <
				    0)
					goto out;
				break;
			}
		}
	}
	ret = sink_add(&s, row, err);
	row = NULL;
out:
	json_decref(row);
	free(other);
	text_release(&t);
	return ret;
}

/* ======================================================================================== */
/* shell_history (osquery posix/shell_history.cpp)
 *
 * ~/.bash_history, ~/.zsh_history, ~/.zhistory, ~/.history, ~/.sh_history and
 * ~/.bash_sessions/NAME.history: one row per line (an empty line too, as osquery gives it).
 * A line "#DIGITS" (bash HISTTIMEFORMAT) gives no row but the time of the next line,
 * whatever that line is; a zsh extended line ": 1700000000:0;cmd" gives time 1700000000
 * and command "cmd"; any other line has time "0" and is the command, verbatim (a "\r" of
 * a CRLF file stays, and defeats both time patterns, as in osquery). uid is that of the
 * account whose home holds the file; osquery reads the file once per account, so accounts
 * sharing a home (root and toor) each get all its rows. A file in no account's home (only
 * when a caller passes one) gets its owner's uid. history_file is the path.
 */

static const char *const shell_history_cols[] = { "uid", "time", "command", "history_file", NULL };

/* The zsh extended-history pattern ^: {0,10}([0-9]{1,11}):[0-9]+;(.*)$ ('.' is not '\r'). */
static int
zsh_match(struct span line, struct span *time, struct span *cmd)
{
	size_t i = 1, sp = 0, d0, d1;

	if (line.n == 0 || line.p[0] != ':')
		return 0;
	while (i < line.n && line.p[i] == ' ' && sp < 10) {
		i++;
		sp++;
	}
	d0 = i;
	while (i < line.n && line.p[i] >= '0' && line.p[i] <= '9')
		i++;
	if (i == d0 || i - d0 > 11 || i >= line.n || line.p[i] != ':')
		return 0;
	*time = span_sub(line, d0, i);
	d1 = ++i;
	while (i < line.n && line.p[i] >= '0' && line.p[i] <= '9')
		i++;
	if (i == d1 || i >= line.n || line.p[i] != ';')
		return 0;
	*cmd = span_sub(line, i + 1, line.n);
	return memchr(cmd->p, '\r', cmd->n) == NULL;
}

/* The rows of one history text for one account. */
static int
history_rows(struct sink *s, struct span text, uint32_t uid_num, struct dt_err *err)
{
	struct lines it;
	struct span line, pending = span_z("");
	char uid[16];
	int have_pending = 0;

	snprintf(uid, sizeof(uid), "%lu", (unsigned long)uid_num);
	lines_init(&it, text);
	while (lines_next(&it, &line)) {
		struct span time, cmd;
		json_t *row;

		if (!have_pending && line.n > 1 && line.p[0] == '#' &&
		    all_digits(span_sub(line, 1, line.n))) {
			pending = span_sub(line, 1, line.n);
			have_pending = 1;
			continue;
		}
		if (have_pending) {
			time = pending;
			cmd = line;
			have_pending = 0;
		} else if (!zsh_match(line, &time, &cmd)) {
			time = span_z("0");
			cmd = line;
		}
		row = row_new(shell_history_cols, err);
		if (row == NULL)
			return -1;
		if (row_set_big(row, "uid", span_z(uid), err) < 0 ||
		    row_set_int(row, "time", time, err) < 0 ||
		    row_set(row, "command", cmd, err) < 0 ||
		    row_setz(row, "history_file", s->path, err) < 0) {
			json_decref(row);
			return -1;
		}
		if (sink_add(s, row, err) < 0)
			return -1;
	}
	return 0;
}

int
parse_shell_history(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	const struct parser_ctx *ctx = in ? in->ctx : NULL;
	struct sink s;
	struct text t;
	struct span base, dir;
	char *session = NULL, *rel = NULL;
	int ret = 0, matched = 0;

	if (sink_init(&s, "shell_history", in, rows, err) < 0)
		return -1;
	base = path_base(span_z(in->path));
	dir = path_dir(span_z(in->path));
	rel = cat3(base, span_z(""), span_z(""));
	if (span_ends(dir, "/.bash_sessions"))
		session = cat3(span_z(".bash_sessions/"), base, span_z(""));
	if (rel == NULL || (span_ends(dir, "/.bash_sessions") && session == NULL)) {
		free(rel);
		free(session);
		return dt_fail(err, DT_ENOMEM, "shell_history: out of memory");
	}
	text_load(in, &t); /* a link to /dev/null: no text, no rows */
	/* osquery reads each account's home: an account sharing the home gets the rows too. */
	for (size_t i = 0; ctx && i < ctx->nusers && ret == 0; i++) {
		const struct parser_user *u = &ctx->users[i];

		if (u->home && (parsers_home_join_is(u->home, rel, in->path) ||
				(session && parsers_home_join_is(u->home, session, in->path)))) {
			matched = 1;
			ret = history_rows(&s, t.s, u->uid, err);
		}
	}
	/* A file no account's home holds (a caller's own choice of path): its owner's. */
	if (ret == 0 && !matched)
		ret = history_rows(&s, t.s, in->uid, err);
	free(session);
	free(rel);
	text_release(&t);
	return ret;
}

/* ======================================================================================== */
/* suid_bin (osquery posix/suid_bin.cpp); metadata only
 *
 * A regular file with the set-user-ID or set-group-ID bit: path, username and groupname of
 * its owner from the image's passwd and group (the number when the image has no such
 * account), permissions "S" (setuid), "G" (setgid) or "SG". Anything else: no row.
 */

static const char *const suid_bin_cols[] = { "path", "username", "groupname", "permissions", NULL };

int
parse_suid_bin(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct sink s;
	const char *user, *group;
	char ubuf[16], gbuf[16], perms[3];
	size_t np = 0;
	json_t *row;

	if (sink_init(&s, "suid_bin", in, rows, err) < 0)
		return -1;
	if (!S_ISREG(in->mode) || !(in->mode & (S_ISUID | S_ISGID)))
		return 0;
	if (in->mode & S_ISUID)
		perms[np++] = 'S';
	if (in->mode & S_ISGID)
		perms[np++] = 'G';
	perms[np] = '\0';
	user = ctx_user_name(in->ctx, in->uid);
	group = ctx_group_name(in->ctx, in->gid);
	snprintf(ubuf, sizeof(ubuf), "%lu", (unsigned long)in->uid);
	snprintf(gbuf, sizeof(gbuf), "%lu", (unsigned long)in->gid);
	row = row_new(suid_bin_cols, err);
	if (row == NULL)
		return -1;
	if (row_setz(row, "path", in->path, err) < 0 ||
	    row_setz(row, "username", user ? user : ubuf, err) < 0 ||
	    row_setz(row, "groupname", group ? group : gbuf, err) < 0 ||
	    row_setz(row, "permissions", perms, err) < 0) {
		json_decref(row);
		return -1;
	}
	return sink_add(&s, row, err);
}

/* ======================================================================================== */
/* ld_preload (deltair's own table; osquery has none)
 *
 * Libraries the dynamic linker would load into every process, with columns:
 *   path     the file the entry was read from
 *   library  one entry (a path or a bare library name), one row per entry, in file order
 *   source   "ld.so.preload" for /etc/ld.so.preload, "environment" for an LD_PRELOAD
 *            assignment anywhere else
 * /etc/ld.so.preload (any file named ld.so.preload): entries separated by spaces, tabs,
 * newlines or ':', '#' starting a comment to the end of its line, as glibc's rtld reads it
 * (so a "\r" of a CRLF file is part of a name, as it is for rtld). Other files: every LD_PRELOAD
 * assignment outside a comment line, in the shapes the environment is set:
 *   LD_PRELOAD=/x.so    export LD_PRELOAD="/x.so /y.so"    (/etc/environment, profile.d)
 *   LD_PRELOAD DEFAULT=/x.so OVERRIDE=/y.so                (pam_env.conf)
 *   Environment=LD_PRELOAD=/x.so   Environment="LD_PRELOAD=/x.so" "A=b"   (systemd units)
 * The value splits on spaces and ':' as rtld splits LD_PRELOAD; references to the previous
 * value ("$LD_PRELOAD", "${LD_PRELOAD}") are not entries.
 */

static const char *const ld_preload_cols[] = { "path", "library", "source", NULL };

static int
preload_emit(struct sink *s, struct span lib, const char *source, struct dt_err *err)
{
	json_t *row;

	if (lib.n == 0 || span_eq(lib, "$LD_PRELOAD") || span_eq(lib, "${LD_PRELOAD}"))
		return 0;
	row = row_new(ld_preload_cols, err);
	if (row == NULL)
		return -1;
	if (row_setz(row, "path", s->path, err) < 0 || row_set(row, "library", lib, err) < 0 ||
	    row_setz(row, "source", source, err) < 0) {
		json_decref(row);
		return -1;
	}
	return sink_add(s, row, err);
}

static int
preload_value(struct sink *s, struct span value, struct dt_err *err)
{
	struct span tok;

	while (span_token(&value, " :", &tok))
		if (preload_emit(s, tok, "environment", err) < 0)
			return -1;
	return 0;
}

/*
 * The value starting at v.p: quoted by q (or by a quote at its start), else up to blank
 * or ';'. Returns the span after it in *rest.
 */
static struct span
shell_word(struct span v, char q, struct span *rest)
{
	size_t i, end;

	if (q == 0 && v.n > 0 && (v.p[0] == '"' || v.p[0] == '\'')) {
		q = v.p[0];
		v = span_sub(v, 1, v.n);
	}
	if (q) {
		end = span_find(v, q);
		*rest = span_sub(v, end < v.n ? end + 1 : end, v.n);
		return span_sub(v, 0, end);
	}
	for (i = 0; i < v.n && !is_blank((unsigned char)v.p[i]) && v.p[i] != ';'; i++)
		;
	*rest = span_sub(v, i, v.n);
	return span_sub(v, 0, i);
}

static int
preload_env_line(struct sink *s, struct span line, struct dt_err *err)
{
	struct span t = span_trim(line);
	size_t at = 0;

	if (t.n == 0 || t.p[0] == '#')
		return 0;
	while ((at = span_findstr(t, at, "LD_PRELOAD")) < t.n) {
		size_t after = at + 10;
		char before = at > 0 ? t.p[at - 1] : ' ';
		struct span rest, val;

		if (!(is_blank((unsigned char)before) || before == '"' || before == '\'' ||
		      before == '=' || before == ';')) {
			at = after;
			continue;
		}
		if (after < t.n && t.p[after] == '=') {
			/* A quote before the name quotes the whole assignment (systemd). */
			char q = (before == '"' || before == '\'') ? before : 0;

			val = shell_word(span_sub(t, after + 1, t.n), q, &rest);
			if (preload_value(s, val, err) < 0)
				return -1;
			at = (size_t)(rest.p - t.p);
			continue;
		}
		if (after < t.n && is_blank((unsigned char)t.p[after]) && at == 0) {
			/* pam_env.conf: VARIABLE [DEFAULT=[value]] [OVERRIDE=[value]] */
			struct span tok;

			rest = span_sub(t, after, t.n);
			for (;;) {
				while (rest.n && is_blank((unsigned char)rest.p[0]))
					rest = span_sub(rest, 1, rest.n);
				if (span_starts(rest, "DEFAULT="))
					rest = span_sub(rest, 8, rest.n);
				else if (span_starts(rest, "OVERRIDE="))
					rest = span_sub(rest, 9, rest.n);
				else if (span_token(&rest, WS, &tok))
					continue;
				else
					break;
				val = shell_word(rest, 0, &rest);
				if (preload_value(s, val, err) < 0)
					return -1;
			}
			return 0;
		}
		at = after;
	}
	return 0;
}

int
parse_ld_preload(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct sink s;
	struct text t;
	struct lines it;
	struct span line;
	int ret = 0;

	if (sink_init(&s, "ld_preload", in, rows, err) < 0)
		return -1;
	text_load(in, &t);
	lines_init(&it, t.s);
	if (span_eq(path_base(span_z(in->path)), "ld.so.preload")) {
		while (ret == 0 && lines_next(&it, &line)) {
			struct span tok;

			line = span_sub(line, 0, span_find(line, '#'));
			while (ret == 0 && span_token(&line, " \t:", &tok))
				ret = preload_emit(&s, tok, "ld.so.preload", err);
		}
	} else {
		while (ret == 0 && lines_next(&it, &line))
			ret = preload_env_line(&s, line, err);
	}
	text_release(&t);
	return ret;
}
