/*
 * shell.c - shell-level tables: shell_history, suid_bin and deltair's ld_preload.
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
history_rows(struct parsers_sink *s, struct span text, uint32_t uid_num, struct dt_err *err)
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
		    span_all_digits(span_sub(line, 1, line.n))) {
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
		row = parsers_row_new(shell_history_cols, err);
		if (row == NULL)
			return -1;
		if (span_row_big(row, "uid", span_z(uid), err) < 0 ||
		    span_row_int(row, "time", time, err) < 0 ||
		    span_row_set(row, "command", cmd, err) < 0 ||
		    parsers_row_setz(row, "history_file", s->path, err) < 0) {
			json_decref(row);
			return -1;
		}
		if (parsers_sink_add(s, row, err) < 0)
			return -1;
	}
	return 0;
}

int
parse_shell_history(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	const struct parser_ctx *ctx = in ? in->ctx : NULL;
	struct parsers_sink s;
	struct parsers_text t;
	struct span base, dir;
	char *session = NULL, *rel = NULL;
	int ret = 0, matched = 0;

	if (parsers_sink_init(&s, "shell_history", in, rows, err) < 0)
		return -1;
	base = span_path_base(span_z(in->path));
	dir = span_path_dir(span_z(in->path));
	rel = parsers_cat3(base, span_z(""), span_z(""));
	if (span_ends(dir, "/.bash_sessions"))
		session = parsers_cat3(span_z(".bash_sessions/"), base, span_z(""));
	if (rel == NULL || (span_ends(dir, "/.bash_sessions") && session == NULL)) {
		free(rel);
		free(session);
		return dt_fail(err, DT_ENOMEM, "shell_history: out of memory");
	}
	parsers_text_load(in, &t); /* a link to /dev/null: no text, no rows */
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
	parsers_text_release(&t);
	return ret;
}

/* ======================================================================================== */
/* suid_bin (osquery posix/suid_bin.cpp); metadata only
 *
 * A regular file with the set-user-ID or set-group-ID bit: path, username and groupname of
 * its owner from the image's passwd and group (the number when the image has no such
 * account), permissions "S" (setuid), "G" (setgid) or "SG". Anything else: no row.
 */

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

static const char *const suid_bin_cols[] = { "path", "username", "groupname", "permissions", NULL };

int
parse_suid_bin(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct parsers_sink s;
	const char *user, *group;
	char ubuf[16], gbuf[16], perms[3];
	size_t np = 0;
	json_t *row;

	if (parsers_sink_init(&s, "suid_bin", in, rows, err) < 0)
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
	row = parsers_row_new(suid_bin_cols, err);
	if (row == NULL)
		return -1;
	if (parsers_row_setz(row, "path", in->path, err) < 0 ||
	    parsers_row_setz(row, "username", user ? user : ubuf, err) < 0 ||
	    parsers_row_setz(row, "groupname", group ? group : gbuf, err) < 0 ||
	    parsers_row_setz(row, "permissions", perms, err) < 0) {
		json_decref(row);
		return -1;
	}
	return parsers_sink_add(&s, row, err);
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
preload_emit(struct parsers_sink *s, struct span lib, const char *source, struct dt_err *err)
{
	json_t *row;

	if (lib.n == 0 || span_eq(lib, "$LD_PRELOAD") || span_eq(lib, "${LD_PRELOAD}"))
		return 0;
	row = parsers_row_new(ld_preload_cols, err);
	if (row == NULL)
		return -1;
	if (parsers_row_setz(row, "path", s->path, err) < 0 ||
	    span_row_set(row, "library", lib, err) < 0 ||
	    parsers_row_setz(row, "source", source, err) < 0) {
		json_decref(row);
		return -1;
	}
	return parsers_sink_add(s, row, err);
}

static int
preload_value(struct parsers_sink *s, struct span value, struct dt_err *err)
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
	for (i = 0; i < v.n && !parsers_isspace((unsigned char)v.p[i]) && v.p[i] != ';'; i++)
		;
	*rest = span_sub(v, i, v.n);
	return span_sub(v, 0, i);
}

static int
preload_env_line(struct parsers_sink *s, struct span line, struct dt_err *err)
{
	struct span t = span_trim(line);
	size_t at = 0;

	if (t.n == 0 || t.p[0] == '#')
		return 0;
	while ((at = span_findstr(t, at, "LD_PRELOAD")) < t.n) {
		size_t after = at + 10;
		char before = at > 0 ? t.p[at - 1] : ' ';
		struct span rest, val;

		if (!(parsers_isspace((unsigned char)before) || before == '"' || before == '\'' ||
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
		if (after < t.n && parsers_isspace((unsigned char)t.p[after]) && at == 0) {
			/* pam_env.conf: VARIABLE [DEFAULT=[value]] [OVERRIDE=[value]] */
			struct span tok;

			rest = span_sub(t, after, t.n);
			for (;;) {
				while (rest.n && parsers_isspace((unsigned char)rest.p[0]))
					rest = span_sub(rest, 1, rest.n);
				if (span_starts(rest, "DEFAULT="))
					rest = span_sub(rest, 8, rest.n);
				else if (span_starts(rest, "OVERRIDE="))
					rest = span_sub(rest, 9, rest.n);
				else if (span_token(&rest, PARSERS_WS, &tok))
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
	struct parsers_sink s;
	struct parsers_text t;
	struct lines it;
	struct span line;
	int ret = 0;

	if (parsers_sink_init(&s, "ld_preload", in, rows, err) < 0)
		return -1;
	parsers_text_load(in, &t);
	lines_init(&it, t.s);
	if (span_eq(span_path_base(span_z(in->path)), "ld.so.preload")) {
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
	parsers_text_release(&t);
	return ret;
}
