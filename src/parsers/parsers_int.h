/*
 * parsers_int.h - what the files of src/parsers/ share behind parsers.h.
 * core.c: the table of parsers, path matching, the context, gunzip and the row helpers;
 * identity.c: accounts and access (users ... sshd_configs); input.c: the row sink and the
 * rest of the image (spans and lines are inline below); one file per family of the other
 * tables: systemd.c (systemd_units, startup_items), deb.c, rpm.c (with its SQLite reader),
 * repos.c (apt_sources, yum_sources), os_version.c, shell.c (shell_history, suid_bin,
 * ld_preload).
 * Every helper treats its bytes as hostile and fails only on a cap or out of memory.
 */
#ifndef DELTAIR_PARSERS_INT_H
#define DELTAIR_PARSERS_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "parsers.h"

/* identity.c */
int parse_users(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_groups(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_user_groups(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_shadow(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_sudoers(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_authorized_keys(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_crontab(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_etc_hosts(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_etc_services(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_ssh_configs(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_sshd_configs(const struct parser_input *in, json_t *rows, struct dt_err *err);

/* systemd.c, deb.c, rpm.c, repos.c, os_version.c, shell.c */
int parse_systemd_units(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_startup_items(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_deb_packages(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_rpm_packages(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_apt_sources(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_yum_sources(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_os_version(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_shell_history(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_suid_bin(const struct parser_input *in, json_t *rows, struct dt_err *err);
int parse_ld_preload(const struct parser_input *in, json_t *rows, struct dt_err *err);

/*
 * Rows. A row is a JSON object whose every value is a string, in the spec's column order.
 * Strings are made valid UTF-8: each byte that is not part of a well-formed sequence, and
 * each NUL, becomes U+FFFD, so a row never carries a NUL that C consumers would cut at.
 */

/* A new row holding every column of cols (NULL-terminated) as "", in that order. */
json_t *parsers_row_new(const char *const *cols, struct dt_err *err);
/* Set col to the n bytes at s (made valid UTF-8, see above). */
int parsers_row_setn(json_t *row, const char *col, const char *s, size_t n, struct dt_err *err);
int parsers_row_set(json_t *row, const char *col, const char *s, struct dt_err *err);
int parsers_row_set_i64(json_t *row, const char *col, long long v, struct dt_err *err);
/*
 * Set an INTEGER or BIGINT column from the text a table put in its row, as osquery prints
 * it: SQLite reads the text back with std::stol/std::stoll(text, base 0) (leading space,
 * a sign, 0x hex and 0 octal accepted, trailing junk ignored); no digits or out of range
 * is NULL and prints as ""; INTEGER is then narrowed to a 32-bit int.
 */
int parsers_row_set_integer(json_t *row, const char *col, const char *s, size_t n,
			    struct dt_err *err);
int parsers_row_set_bigint(json_t *row, const char *col, const char *s, size_t n,
			   struct dt_err *err);
/*
 * Append row to rows; steals row, also on failure. base is the size rows had when the
 * parser started: more than PARSERS_MAX_ROWS rows since then fail with DT_ENOMEM (the rows
 * appended so far stay).
 */
int parsers_rows_add(json_t *rows, size_t base, json_t *row, struct dt_err *err);
/*
 * The one path normaliser of the parsers: "//", "/./" and "/../" resolved lexically, as
 * an image path is (no symlinks followed): "/a/../.." is "/", a relative path stays
 * relative ("" is "."), a trailing '/' is dropped. New (free()), or NULL when out of memory.
 */
char *parsers_path_norm(const char *p);
/* Check in's length against PARSERS_MAX_INPUT (DT_ENOMEM past it). */
int parsers_input_check(const struct parser_input *in, struct dt_err *err);

/* Text, the way osquery and the C library see it (C locale, whatever the process's). */
static inline int
parsers_isspace(int c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * osquery's split(s, delims) (osquery/utils/conversions/split.cpp): pieces between any of
 * the delimiter bytes, empty pieces dropped, then each piece trimmed of isspace (so a
 * piece may end up empty). split(content, "\n") is osquery's line loop.
 */
struct parsers_split {
	const char *p, *end;
	const char *delims;
};
void parsers_split_init(struct parsers_split *sp, const void *s, size_t n, const char *delims);
/* The next piece (borrowed from the input), or 0 at the end. */
int parsers_split_next(struct parsers_split *sp, const char **tok, size_t *n);

/*
 * Lines of passwd, group and shadow as glibc's nss_files reads them: each line is a C
 * string (an embedded NUL ends it), in a private copy the field parsers may cut up.
 */
struct parsers_nss {
	char *buf; /* owned */
	size_t len, pos;
};
int parsers_nss_init(struct parsers_nss *it, const unsigned char *data, size_t len,
		     struct dt_err *err);
/*
 * The next line, or NULL. raw = 0 reads like getpwent/getgrent/getspent (leading blanks
 * skipped, empty and '#' lines skipped); raw = 1 gives every line untouched, as glibc's
 * initgroups reads /etc/group (nss/nss_files/files-initgroups.c).
 */
char *parsers_nss_next(struct parsers_nss *it, int raw);
void parsers_nss_release(struct parsers_nss *it);
/*
 * fn(line, arg, err) for each line of data as parsers_nss_next(raw = 0) gives it (the line
 * is in a copy fn may cut up, gone when parsers_nss_each returns). Stops at the first fn < 0:
 * -1 then, else 0.
 */
typedef int (*parsers_nss_fn)(char *line, void *arg, struct dt_err *err);
int parsers_nss_each(const unsigned char *data, size_t len, parsers_nss_fn fn, void *arg,
		     struct dt_err *err);

/* One passwd entry as glibc's fgetpwent_r parses it; NULL where glibc leaves NULL. */
struct parsers_pw {
	const char *name, *passwd, *gecos, *dir, *shell;
	uint32_t uid, gid;
};
/* Parse line in place; 1 for an entry, 0 for a line glibc rejects. */
int parsers_pw_parse(char *line, struct parsers_pw *pw);

/* One group entry as glibc's fgetgrent_r parses it. */
struct parsers_gr {
	const char *name, *passwd;
	uint32_t gid;
	char *members; /* the member list, for parsers_gr_member() */
};
int parsers_gr_parse(char *line, struct parsers_gr *gr);
/* The next member of *cur as glibc's parse_list splits it (cuts in place), or NULL. */
char *parsers_gr_member(char **cur);

/* One shadow entry as glibc's sgetspent_r parses it (shadow/sgetspent_r.c). */
struct parsers_sp {
	const char *name, *passwd;                       /* passwd NULL for a lone "+name" line */
	long long lstchg, min, max, warn, inact, expire; /* -1 where the field is empty */
	unsigned long long flag;                         /* ULLONG_MAX (~0ul) where empty */
};
int parsers_sp_parse(char *line, struct parsers_sp *sp);

/* glibc's strtoul for passwd/group/shadow numbers, clamped to 32 bits (files-parse.c). */
uint32_t parsers_strtou32(const char *s, char **endp);

/* A set of 32-bit ids (first-seen de-duplication). */
struct parsers_idset {
	uint32_t *slot; /* owned; slot value + 1, 0 for empty */
	size_t cap, n;
};
/* 1 if id was new (now added), 0 if seen, -1 out of memory. Release frees. */
int parsers_idset_add(struct parsers_idset *s, uint32_t id, struct dt_err *err);
void parsers_idset_release(struct parsers_idset *s);

/*
 * osquery's boost path join, home / rel: "/" is inserted unless home is empty or already
 * ends with one. True if path is exactly that join. Homes that are empty or relative never
 * match (osquery would read them relative to its working directory).
 */
int parsers_home_join_is(const char *home, const char *rel, const char *path);

/*
 * The vocabulary of the system-table parsers (systemd.c, deb.c, rpm.c, repos.c,
 * os_version.c, shell.c; input.c implements the non-inline part).
 *
 * Spans: borrowed, length-counted views of the input; the input may hold NUL bytes.
 * span_ and lines_ helpers are static inline, so nothing of them is exported.
 */

struct span {
	const char *p;
	size_t n;
};

static inline struct span
span_of(const void *p, size_t n)
{
	struct span s = { p ? (const char *)p : "", p ? n : 0 };
	return s;
}

static inline struct span
span_z(const char *z)
{
	return span_of(z, z ? strlen(z) : 0);
}

static inline struct span
span_trim(struct span s)
{
	while (s.n > 0 && parsers_isspace((unsigned char)s.p[0])) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && parsers_isspace((unsigned char)s.p[s.n - 1]))
		s.n--;
	return s;
}

static inline struct span
span_sub(struct span s, size_t from, size_t to)
{
	if (to > s.n)
		to = s.n;
	if (from > to)
		from = to;
	return span_of(s.p + from, to - from);
}

static inline int
span_eq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static inline int
span_caseeq(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n == n && strncasecmp(s.p, lit, n) == 0 && memchr(s.p, '\0', n) == NULL;
}

static inline int
span_starts(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n >= n && memcmp(s.p, lit, n) == 0;
}

static inline int
span_ends(struct span s, const char *lit)
{
	size_t n = strlen(lit);
	return s.n >= n && memcmp(s.p + s.n - n, lit, n) == 0;
}

/* Index of the first c in s, or s.n. */
static inline size_t
span_find(struct span s, char c)
{
	const char *q = memchr(s.p, c, s.n);
	return q ? (size_t)(q - s.p) : s.n;
}

/* Index of the first occurrence of lit at or after from, or s.n. */
static inline size_t
span_findstr(struct span s, size_t from, const char *lit)
{
	size_t n = strlen(lit);

	for (size_t i = from; n > 0 && i + n <= s.n; i++)
		if (s.p[i] == lit[0] && memcmp(s.p + i, lit, n) == 0)
			return i;
	return s.n;
}

static inline int
span_all_digits(struct span s)
{
	if (s.n == 0)
		return 0;
	for (size_t i = 0; i < s.n; i++)
		if (s.p[i] < '0' || s.p[i] > '9')
			return 0;
	return 1;
}

/* The next token of *rest delimited by any of seps; 0 when none is left. */
static inline int
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

/* The last path component of path. */
static inline struct span
span_path_base(struct span path)
{
	size_t i = path.n;

	while (i > 0 && path.p[i - 1] != '/')
		i--;
	return span_sub(path, i, path.n);
}

/* Everything before the last '/': "" for "/x" and for a path without '/'. */
static inline struct span
span_path_dir(struct span path)
{
	size_t i = path.n;

	while (i > 0 && path.p[i - 1] != '/')
		i--;
	return span_sub(path, 0, i > 0 ? i - 1 : 0);
}

#define PARSERS_WS " \t\r\n\v\f" /* isspace in the C locale */

/* Lines: split on '\n' only; a final line without '\n' counts; "\r" stays in the line. */

struct lines {
	struct span rest;
};

static inline void
lines_init(struct lines *l, struct span text)
{
	l->rest = text;
}

static inline int
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

/*
 * Rows, through the helpers above (values made valid UTF-8 there). A sink is the rows of
 * one input: parsers_sink_init checks the input (DT_EUSAGE, or DT_ENOMEM past
 * PARSERS_MAX_INPUT); parsers_sink_add steals the row, also on failure, and fails past
 * PARSERS_MAX_ROWS rows of this input.
 */
struct parsers_sink {
	json_t *rows;     /* borrowed */
	size_t base;      /* rows already there before this input */
	const char *path; /* borrowed: the input's */
};

int parsers_sink_init(struct parsers_sink *s, const char *table, const struct parser_input *in,
		      json_t *rows, struct dt_err *err);

static inline int
span_row_set(json_t *row, const char *col, struct span v, struct dt_err *err)
{
	return parsers_row_setn(row, col, v.p ? v.p : "", v.p ? v.n : 0, err);
}

static inline int
parsers_row_setz(json_t *row, const char *col, const char *v, struct dt_err *err)
{
	return parsers_row_set(row, col, v ? v : "", err);
}

/* INTEGER and BIGINT columns print as osquery's SQLite layer reads the text back. */
static inline int
span_row_int(json_t *row, const char *col, struct span v, struct dt_err *err)
{
	return parsers_row_set_integer(row, col, v.p ? v.p : "", v.p ? v.n : 0, err);
}

static inline int
span_row_big(json_t *row, const char *col, struct span v, struct dt_err *err)
{
	return parsers_row_set_bigint(row, col, v.p ? v.p : "", v.p ? v.n : 0, err);
}

static inline int
parsers_sink_add(struct parsers_sink *s, json_t *row, struct dt_err *err)
{
	return parsers_rows_add(s->rows, s->base, row, err);
}

/* osquery's split(s, delims), see parsers_int.h: pieces as spans. */
struct osplit {
	struct parsers_split sp;
};

static inline void
osplit_init(struct osplit *o, struct span s, const char *delims)
{
	parsers_split_init(&o->sp, s.p, s.n, delims);
}

static inline int
osplit_next(struct osplit *o, struct span *piece)
{
	const char *p;
	size_t n;

	if (!parsers_split_next(&o->sp, &p, &n))
		return 0;
	*piece = span_of(p, n);
	return 1;
}

/* New NUL-terminated copy of the concatenation of the three spans, or NULL. */
char *parsers_cat3(struct span a, struct span b, struct span c);

/*
 * The rest of the image, through the input's callbacks. parsers_other_read: 0 and new
 * bytes in *data (free()), or -1 (no callback, unreadable, or over PARSERS_MAX_INPUT).
 * parsers_other_list: the names of a directory into nm (parsers_names_release it), or -1.
 */
#define PARSERS_MAX_NAME 4096 /* longest directory entry name we compare */

int parsers_other_read(const struct parser_input *in, const char *path, unsigned char **data,
		       size_t *len);
struct parsers_names {
	char **v; /* owned, each owned */
	size_t n;
};
int parsers_other_list(const struct parser_input *in, const char *path, struct parsers_names *nm);
void parsers_names_release(struct parsers_names *nm);

/*
 * The text of the input. A regular file is its data. For a symbolic link, data (when the
 * caller gives it) is the target, which is read through read_other; a link to /dev/null
 * (is_devnull) or one that cannot be followed has no text. Without data, read_other of the
 * link's own path is tried (a caller that follows links itself).
 */
struct parsers_text {
	struct span s;
	unsigned char *owned; /* the bytes read through read_other */
	int is_link;
	int is_devnull;
	char *target; /* owned: the resolved target of a link, when known */
};
/* Fill t (parsers_text_release it, also after -1); -1 when the input has no text. */
int parsers_text_load(const struct parser_input *in, struct parsers_text *t);
void parsers_text_release(struct parsers_text *t);

#endif
