/*
 * parsers_int.h - what the files of src/parsers/ share behind parsers.h.
 * core.c: the table of parsers, path matching, the context, gunzip and the helpers below;
 * identity.c: accounts and access (users ... sshd_configs); system.c: the other tables.
 * Every helper treats its bytes as hostile and fails only on a cap or out of memory.
 */
#ifndef DELTAIR_PARSERS_INT_H
#define DELTAIR_PARSERS_INT_H

#include <stddef.h>
#include <stdint.h>

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

/* system.c */
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

#endif
