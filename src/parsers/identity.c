/*
 * identity.c - accounts and access: users, groups, user_groups, shadow, sudoers,
 * authorized_keys, crontab, etc_hosts, etc_services, ssh_configs and sshd_configs.
 *
 * Each parser gives the rows osquery gives for the same file. Accounts are read as glibc's
 * nss_files reads them (osquery calls getpwent, getgrent, getspent, getgrouplist); the
 * rest follows osquery's table code line by line (the .cpp files of osquery/tables/system/
 * and osquery/tables/networking/). Where osquery's only limit is a fixed buffer that
 * silently ends the table (a passwd line past 16 KiB), we read on: hiding accounts behind
 * one long line must not work on us.
 */
#include "parsers/parsers_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#include "banned.h"

static const char *const c_users[] = { "uid",      "gid",         "uid_signed", "gid_signed",
				       "username", "description", "directory",  "shell",
				       "uuid",     NULL };
static const char *const c_groups[] = { "gid", "gid_signed", "groupname", NULL };
static const char *const c_user_groups[] = { "uid", "gid", NULL };
static const char *const c_shadow[] = {
	"password_status", "hash_alg", "last_change", "min",      "max", "warning",
	"inactive",        "expire",   "flag",        "username", NULL
};
static const char *const c_sudoers[] = { "source", "header", "rule_details", NULL };
static const char *const c_authorized_keys[] = { "uid",     "algorithm", "key", "options",
						 "comment", "key_file",  NULL };
static const char *const c_crontab[] = { "event",        "minute", "hour",
					 "day_of_month", "month",  "day_of_week",
					 "command",      "path",   NULL };
static const char *const c_etc_hosts[] = { "address", "hostnames", NULL };
static const char *const c_etc_services[] = {
	"name", "port", "protocol", "aliases", "comment", NULL
};
static const char *const c_ssh_configs[] = { "uid", "block", "option", "ssh_config_file", NULL };

static const char *
in_path(const struct parser_input *in)
{
	return in->path ? in->path : "";
}

/*
 * Where a passwd, group or shadow parser appends: the rows, where this file's rows start,
 * and the ids seen (groups: the first entry of each gid only).
 */
struct table {
	json_t *rows;
	size_t base;
	struct parsers_idset seen;
};

/* Append row (stolen) after fill succeeded; on a failed fill the row is dropped. */
static int
emit(json_t *rows, size_t base, json_t *row, int filled, struct dt_err *err)
{
	if (filled < 0) {
		json_decref(row);
		return -1;
	}
	return parsers_rows_add(rows, base, row, err);
}

/* The rows of fn's table from each line of in (passwd, group or shadow). */
static int
nss_table(const struct parser_input *in, json_t *rows, parsers_nss_fn fn, struct dt_err *err)
{
	struct table t = { rows, json_array_size(rows), { 0 } };
	int ret;

	if (parsers_input_check(in, err) < 0)
		return -1;
	ret = parsers_nss_each(in->data, in->len, fn, &t, err);
	parsers_idset_release(&t.seen);
	return ret;
}

/* A row of cols filled by fill from entry, appended to t's rows. */
static int
table_row(struct table *t, const char *const *cols,
	  int (*fill)(json_t *row, const void *entry, struct dt_err *err), const void *entry,
	  struct dt_err *err)
{
	json_t *row = parsers_row_new(cols, err);

	if (row == NULL)
		return -1;
	return emit(t->rows, t->base, row, fill(row, entry, err), err);
}

/* users (osquery/tables/system/linux/users.cpp: genUser) */

static int
user_row(json_t *row, const void *entry, struct dt_err *err)
{
	const struct parsers_pw *pw = entry;

	if (parsers_row_set_i64(row, "uid", pw->uid, err) < 0 ||
	    parsers_row_set_i64(row, "gid", pw->gid, err) < 0 ||
	    parsers_row_set_i64(row, "uid_signed", (int32_t)pw->uid, err) < 0 ||
	    parsers_row_set_i64(row, "gid_signed", (int32_t)pw->gid, err) < 0 ||
	    parsers_row_set(row, "username", pw->name, err) < 0)
		return -1;
	if (pw->gecos && parsers_row_set(row, "description", pw->gecos, err) < 0)
		return -1;
	if (pw->dir && parsers_row_set(row, "directory", pw->dir, err) < 0)
		return -1;
	if (pw->shell && parsers_row_set(row, "shell", pw->shell, err) < 0)
		return -1;
	return 0;
}

static int
users_line(char *line, void *arg, struct dt_err *err)
{
	struct parsers_pw pw;

	return parsers_pw_parse(line, &pw) ? table_row(arg, c_users, user_row, &pw, err) : 0;
}

int
parse_users(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	return nss_table(in, rows, users_line, err);
}

/* groups (linux/groups.cpp): the first entry of each gid only. */

static int
group_row(json_t *row, const void *entry, struct dt_err *err)
{
	const struct parsers_gr *gr = entry;

	if (parsers_row_set_i64(row, "gid", gr->gid, err) < 0 ||
	    parsers_row_set_i64(row, "gid_signed", (int32_t)gr->gid, err) < 0 ||
	    parsers_row_set(row, "groupname", gr->name, err) < 0)
		return -1;
	return 0;
}

static int
groups_line(char *line, void *arg, struct dt_err *err)
{
	struct table *t = arg;
	struct parsers_gr gr;
	int fresh;

	if (!parsers_gr_parse(line, &gr))
		return 0;
	if ((fresh = parsers_idset_add(&t->seen, gr.gid, err)) <= 0)
		return fresh;
	return table_row(t, c_groups, group_row, &gr, err);
}

int
parse_groups(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	return nss_table(in, rows, groups_line, err);
}

/*
 * user_groups (linux/user_groups.cpp, user_groups.h): for each account of ctx (the first
 * of each uid), getgrouplist(name, gid): the primary gid, then in file order the gid of
 * every /etc/group line naming the user, unless it is the primary one. glibc's initgroups
 * reads /etc/group raw: comment lines and indented lines count as groups too (so a
 * "commented-out" sudo line still grants sudo at login). osquery prints the uid through an
 * int, hence signed.
 */

struct member {
	const char *name;
	size_t line;
	uint32_t gid;
};

static int
member_cmp(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int
ug_row(json_t *rows, size_t base, uint32_t uid, uint32_t gid, struct dt_err *err)
{
	json_t *row = parsers_row_new(c_user_groups, err);

	if (row == NULL)
		return -1;
	if (parsers_row_set_i64(row, "uid", (int32_t)uid, err) < 0 ||
	    parsers_row_set_i64(row, "gid", gid, err) < 0) {
		json_decref(row);
		return -1;
	}
	return parsers_rows_add(rows, base, row, err);
}

int
parse_user_groups(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	size_t base = json_array_size(rows), nm = 0, cap = 0, lineno = 0;
	const struct parser_ctx *ctx = in->ctx;
	struct parsers_idset seen = { 0 };
	struct member *m = NULL;
	struct parsers_nss it;
	struct parsers_gr gr;
	char *line, *cur, *who;
	int ret = -1, fresh;

	if (parsers_input_check(in, err) < 0 || parsers_nss_init(&it, in->data, in->len, err) < 0)
		return -1;
	while ((line = parsers_nss_next(&it, 1)) != NULL) {
		lineno++;
		if (!parsers_gr_parse(line, &gr))
			continue;
		cur = gr.members;
		while ((who = parsers_gr_member(&cur)) != NULL) {
			if (BUF_GROW(m, nm + 1, cap, err) < 0)
				goto out;
			m[nm].name = who;
			m[nm].line = lineno;
			m[nm++].gid = gr.gid;
		}
	}
	if (nm)
		qsort(m, nm, sizeof(*m), member_cmp);
	for (size_t u = 0; ctx && u < ctx->nusers; u++) {
		const struct parser_user *pu = &ctx->users[u];
		size_t lo = 0, hi = nm, last = 0;

		if ((fresh = parsers_idset_add(&seen, pu->uid, err)) < 0)
			goto out;
		if (!fresh)
			continue;
		if (ug_row(rows, base, pu->uid, pu->gid, err) < 0)
			goto out;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (strcmp(m[mid].name, pu->name) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		/* glibc takes a line once however often it names the user. */
		for (size_t i = lo; i < nm && strcmp(m[i].name, pu->name) == 0; i++) {
			if (m[i].line == last || m[i].gid == pu->gid)
				continue;
			last = m[i].line;
			if (ug_row(rows, base, pu->uid, m[i].gid, err) < 0)
				goto out;
		}
	}
	ret = 0;
out:
	free(m);
	parsers_idset_release(&seen);
	parsers_nss_release(&it);
	return ret;
}

/* shadow (linux/shadow.cpp: genShadowForAccount) */

static const char *
password_status(const char *pw)
{
	if (pw == NULL)
		return "empty";
	if (strcmp(pw, "!!") == 0)
		return "not_set";
	if (pw[0] == '!' || pw[0] == '*' || pw[0] == 'x')
		return "locked";
	return pw[0] == '\0' ? "empty" : "active";
}

/* std::regex("^\\$(\\w+)\\$"): the word characters between a leading '$' and the next. */
static size_t
hash_alg(const char *pw, const char **alg)
{
	size_t k = 1;

	if (pw == NULL || pw[0] != '$')
		return 0;
	while ((pw[k] >= 'a' && pw[k] <= 'z') || (pw[k] >= 'A' && pw[k] <= 'Z') ||
	       (pw[k] >= '0' && pw[k] <= '9') || pw[k] == '_')
		k++;
	if (k == 1 || pw[k] != '$')
		return 0;
	*alg = pw + 1;
	return k - 1;
}

static int
shadow_row(json_t *row, const void *entry, struct dt_err *err)
{
	const struct parsers_sp *sp = entry;

	const char *alg = NULL;
	size_t algn = hash_alg(sp->passwd, &alg);

	if (parsers_row_set(row, "password_status", password_status(sp->passwd), err) < 0 ||
	    (algn && parsers_row_setn(row, "hash_alg", alg, algn, err) < 0) ||
	    parsers_row_set_i64(row, "last_change", sp->lstchg, err) < 0 ||
	    parsers_row_set_i64(row, "min", sp->min, err) < 0 ||
	    parsers_row_set_i64(row, "max", sp->max, err) < 0 ||
	    parsers_row_set_i64(row, "warning", sp->warn, err) < 0 ||
	    parsers_row_set_i64(row, "inactive", sp->inact, err) < 0 ||
	    parsers_row_set_i64(row, "expire", sp->expire, err) < 0 ||
	    parsers_row_set(row, "username", sp->name, err) < 0)
		return -1;
	/* An empty flag is ~0ul, which SQLite cannot take as a BIGINT: osquery prints "". */
	if (sp->flag != ULLONG_MAX &&
	    parsers_row_set_i64(row, "flag", (long long)sp->flag, err) < 0)
		return -1;
	return 0;
}

static int
shadow_line(char *line, void *arg, struct dt_err *err)
{
	struct parsers_sp sp;

	return parsers_sp_parse(line, &sp) ? table_row(arg, c_shadow, shadow_row, &sp, err) : 0;
}

int
parse_shadow(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	return nss_table(in, rows, shadow_line, err);
}

/*
 * sudoers (posix/sudoers.cpp). A row per line: header = the first token, rule_details =
 * the rest; a trailing '\' joins the next line onto the row (dropping the '\'); the
 * #include/@include and #includedir/@includedir lines are rows too, and are followed:
 * relative to the including file's directory, an includedir's names skipped when they
 * hold '.' or end in '~', sorted as sudo reads them. Nesting stops at sudoers(5)'s 128 (a
 * file's depth, where osquery counts every include of a file as one more level), a file
 * already open is not read again (no loop), and at most SUDOERS_MAX_FILES files or
 * listings and PARSERS_MAX_INPUT bytes are read through includes in one parse.
 */

#define SUDOERS_MAX_NEST  128
#define SUDOERS_MAX_FILES 1024
#define SUDOERS_MAX_PATH  4096

struct sudo {
	const struct parser_input *in;
	json_t *rows;
	size_t base;
	size_t files, bytes;
	char *stack[SUDOERS_MAX_NEST + 1]; /* normalised paths of the files being read */
	unsigned depth;
};

static int sudo_file(struct sudo *s, const char *name, const unsigned char *data, size_t len,
		     unsigned level, struct dt_err *err);

/* boost's parent_path(name) / rel, as osquery builds a relative include's path. */
static char *
join_parent(const char *name, const char *rel)
{
	const char *slash = strrchr(name, '/');
	size_t pl = 0, rl = strlen(rel);
	char *o;

	if (slash != NULL) {
		pl = (size_t)(slash - name);
		while (pl > 0 && name[pl - 1] == '/')
			pl--;
		if (pl == 0)
			pl = 1; /* the root */
	}
	o = malloc(pl + rl + 2);
	if (o == NULL)
		return NULL;
	memcpy(o, name, pl);
	if (pl > 0 && o[pl - 1] != '/')
		o[pl++] = '/';
	memcpy(o + pl, rel, rl + 1);
	return o;
}

/* boost's dir / name: a '/' between unless dir ends with one. */
static char *
join_dir(const char *dir, const char *name)
{
	size_t dl = strlen(dir), nl = strlen(name);
	char *o = malloc(dl + nl + 2);

	if (o == NULL)
		return NULL;
	memcpy(o, dir, dl);
	if (dl > 0 && dir[dl - 1] != '/')
		o[dl++] = '/';
	memcpy(o + dl, name, nl + 1);
	return o;
}

static int
sudo_include(struct sudo *s, const char *path, unsigned level, struct dt_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	char *norm;
	int ret = 0;

	if (level > SUDOERS_MAX_NEST || s->in->read_other == NULL ||
	    strlen(path) > SUDOERS_MAX_PATH || s->files >= SUDOERS_MAX_FILES)
		return 0;
	if ((norm = parsers_path_norm(path)) == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	for (unsigned i = 0; i < s->depth; i++) {
		if (strcmp(s->stack[i], norm) == 0) {
			free(norm);
			return 0;
		}
	}
	s->files++;
	if (s->in->read_other(s->in->rctx, norm, &data, &len) < 0) {
		free(norm);
		return 0;
	}
	if (len <= PARSERS_MAX_INPUT - s->bytes && (data != NULL || len == 0)) {
		s->bytes += len;
		s->stack[s->depth++] = norm;
		ret = sudo_file(s, path, data, len, level, err);
		s->depth--;
	}
	free(data);
	free(norm);
	return ret;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
sudo_includedir(struct sudo *s, const char *dir, unsigned level, struct dt_err *err)
{
	char **names = NULL, *norm;
	int n, ret = 0;

	if (s->in->list_dir == NULL || level > SUDOERS_MAX_NEST || strlen(dir) > SUDOERS_MAX_PATH ||
	    s->files >= SUDOERS_MAX_FILES)
		return 0;
	s->files++; /* a listing counts as a file read */
	if ((norm = parsers_path_norm(dir)) == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	n = s->in->list_dir(s->in->rctx, norm, &names);
	free(norm);
	if (n <= 0 || names == NULL) {
		free(names);
		return 0;
	}
	qsort(names, (size_t)n, sizeof(*names), name_cmp);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i];
		size_t nl = nm ? strlen(nm) : 0;
		char *path;

		/* sudoers(5): names holding '.' or ending in '~' are skipped. */
		if (ret < 0 || nl == 0 || strchr(nm, '.') != NULL || nm[nl - 1] == '~')
			continue;
		if ((path = join_dir(dir, nm)) == NULL) {
			ret = dt_fail(err, DT_ENOMEM, "out of memory");
			continue;
		}
		ret = sudo_include(s, path, level, err);
		free(path);
	}
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ret;
}

static int
sudo_row(struct sudo *s, const char *name, const struct buf *h, const struct buf *d,
	 struct dt_err *err)
{
	json_t *row = parsers_row_new(c_sudoers, err);

	if (row == NULL)
		return -1;
	if (parsers_row_set(row, "source", name, err) < 0 ||
	    parsers_row_setn(row, "header", (const char *)h->data, h->len, err) < 0 ||
	    parsers_row_setn(row, "rule_details", (const char *)d->data, d->len, err) < 0) {
		json_decref(row);
		return -1;
	}
	return parsers_rows_add(s->rows, s->base, row, err);
}

static int
is_ws(char c)
{
	return c == '\t' || c == '\v' || c == ' ';
}

/* Follow an include line's target (details, not empty), as osquery resolves it. */
static int
sudo_follow(struct sudo *s, const char *name, const struct buf *d, int dir, unsigned level,
	    struct dt_err *err)
{
	const char *t = (const char *)d->data;
	char *path;
	int ret;

	if (memchr(t, '\0', d->len) != NULL)
		return 0; /* no such path can exist */
	path = t[0] == '/' ? strdup(t) : join_parent(name, t);
	if (path == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	ret = dir ? sudo_includedir(s, path, level + 1, err)
		  : sudo_include(s, path, level + 1, err);
	free(path);
	return ret;
}

static int
sudo_file(struct sudo *s, const char *name, const unsigned char *data, size_t len, unsigned level,
	  struct dt_err *err)
{
	struct buf h, d;
	struct parsers_split sp;
	const char *line;
	size_t n;
	int pending = 0, is_long = 0, ret = -1;

	buf_init(&h, PARSERS_MAX_INPUT);
	buf_init(&d, PARSERS_MAX_INPUT);
	parsers_split_init(&sp, data, len, "\n");
	/* The pieces come trimmed of isspace, which covers sudo's own "\t\v " trim. */
	while (parsers_split_next(&sp, &line, &n)) {
		size_t hl = 0, ds, de;
		int inc, incdir;

		if (n == 0)
			continue;
		if (is_long) {
			/* The row of the previous line grows: its '\' goes, this line follows. */
			is_long = line[n - 1] == '\\';
			if (d.len == 0) {
				if (h.len > 0)
					h.len--;
			} else {
				d.len--;
			}
			if (buf_add(&d, line, n, err) < 0)
				goto out;
			continue;
		}
		if (pending && sudo_row(s, name, &h, &d, err) < 0)
			goto out;
		pending = 0;
		while (hl < n && !is_ws(line[hl]))
			hl++;
		inc = hl == 8 &&
		      (memcmp(line, "#include", 8) == 0 || memcmp(line, "@include", 8) == 0);
		incdir = hl == 11 && (memcmp(line, "#includedir", 11) == 0 ||
				      memcmp(line, "@includedir", 11) == 0);
		if (line[0] == '#' && !inc && !incdir)
			continue;
		for (ds = hl; ds < n && is_ws(line[ds]); ds++)
			;
		for (de = n; de > ds && is_ws(line[de - 1]); de--)
			;
		/* An include without a target is a comment. */
		if (de == ds && (inc || incdir))
			continue;
		buf_reset(&h);
		buf_reset(&d);
		if (buf_add(&h, line, hl, err) < 0 || buf_add(&d, line + ds, de - ds, err) < 0)
			goto out;
		if (!inc && !incdir) {
			is_long = line[n - 1] == '\\';
			pending = 1;
			continue;
		}
		/* The include's own row comes before the rows of what it includes. */
		if (sudo_row(s, name, &h, &d, err) < 0 ||
		    sudo_follow(s, name, &d, incdir, level, err) < 0)
			goto out;
	}
	if (pending && sudo_row(s, name, &h, &d, err) < 0)
		goto out;
	ret = 0;
out:
	buf_release(&h);
	buf_release(&d);
	return ret;
}

/* A drop-in of /etc/sudoers.d given on its own: no rows for a name @includedir skips. */
static int
sudo_skipped_dropin(const char *path)
{
	static const char dir[] = "/etc/sudoers.d/";
	const char *nm;
	size_t nl;

	if (strncmp(path, dir, sizeof(dir) - 1) != 0)
		return 0;
	nm = path + sizeof(dir) - 1;
	nl = strlen(nm);
	return strchr(nm, '/') == NULL && (nl == 0 || strchr(nm, '.') != NULL || nm[nl - 1] == '~');
}

int
parse_sudoers(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct sudo s;
	int ret;

	if (parsers_input_check(in, err) < 0)
		return -1;
	if (sudo_skipped_dropin(in_path(in)))
		return 0;
	memset(&s, 0, sizeof(s));
	s.in = in;
	s.rows = rows;
	s.base = json_array_size(rows);
	if ((s.stack[0] = parsers_path_norm(in_path(in))) == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	s.depth = 1;
	ret = sudo_file(&s, in_path(in), in->data, in->len, 1, err);
	free(s.stack[0]);
	return ret;
}

/*
 * The uids osquery would read a per-user file for: every account whose home joined with
 * one of rels is path, in ctx order. A file no account's home leads to still gets its rows,
 * under its owner's uid.
 */
typedef int (*per_uid_fn)(const struct parser_input *in, json_t *rows, size_t base, const char *uid,
			  struct dt_err *err);

static int
for_home_uids(const struct parser_input *in, json_t *rows, const char *const *rels, per_uid_fn fn,
	      struct dt_err *err)
{
	size_t base = json_array_size(rows), matched = 0;
	const struct parser_ctx *ctx = in->ctx;
	char uid[16];

	for (size_t i = 0; ctx && i < ctx->nusers; i++) {
		for (const char *const *r = rels; *r; r++) {
			if (!parsers_home_join_is(ctx->users[i].home, *r, in_path(in)))
				continue;
			snprintf(uid, sizeof(uid), "%u", ctx->users[i].uid);
			if (fn(in, rows, base, uid, err) < 0)
				return -1;
			matched++;
			break;
		}
	}
	if (matched)
		return 0;
	snprintf(uid, sizeof(uid), "%u", in->uid);
	return fn(in, rows, base, uid, err);
}

/* authorized_keys (posix/authorized_keys.cpp) */

static const char *const key_types[] = { "ssh-rsa",
					 "ssh-ed25519",
					 "ecdsa-sha2-nistp256",
					 "ecdsa-sha2-nistp384",
					 "ecdsa-sha2-nistp521",
					 "sk-ecdsa-sha2-nistp256@openssh.com",
					 "sk-ssh-ed25519@openssh.com",
					 NULL };

static int
ak_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* A line without a key type is kept only when an option is a z/OS key ring label. */
static int
zos_label(const char *line, size_t n)
{
	static const char pre[] = "zos-key-ring-label=";
	struct parsers_split sp;
	const char *t;
	size_t tn;

	parsers_split_init(&sp, line, n, ",");
	while (parsers_split_next(&sp, &t, &tn))
		if (tn >= sizeof(pre) - 1 && memcmp(t, pre, sizeof(pre) - 1) == 0)
			return 1;
	return 0;
}

static int
ak_key_row(json_t *row, const char *line, size_t n, const char *type, size_t kp, struct dt_err *err)
{
	size_t tl = strlen(type), ks, ke, cs, o = kp;

	/* The options are what precedes the type, less trailing blanks. */
	while (o > 0 && ak_ws(line[o - 1]))
		o--;
	if (o > 0 && parsers_row_setn(row, "options", line, o, err) < 0)
		return -1;
	for (ks = kp + tl; ks < n && ak_ws(line[ks]); ks++)
		;
	for (ke = ks; ke < n && !ak_ws(line[ke]); ke++)
		;
	for (cs = ke; cs < n && ak_ws(line[cs]); cs++)
		;
	if (parsers_row_setn(row, "key", line + ks, ke - ks, err) < 0 ||
	    (ke < n && parsers_row_setn(row, "comment", line + cs, n - cs, err) < 0) ||
	    parsers_row_set(row, "algorithm", type, err) < 0)
		return -1;
	return 0;
}

static int
ak_rows(const struct parser_input *in, json_t *rows, size_t base, const char *uid,
	struct dt_err *err)
{
	struct parsers_split sp;
	const char *line;
	size_t n;

	parsers_split_init(&sp, in->data, in->len, "\n");
	while (parsers_split_next(&sp, &line, &n)) {
		const char *type = NULL;
		size_t kp = 0;
		json_t *row;
		int r;

		if (n == 0 || line[0] == '#')
			continue;
		/* The first listed type found in the line whose first occurrence ends at a blank.
		 */
		for (const char *const *t = key_types; *t; t++) {
			size_t tl = strlen(*t);
			const char *at = memmem(line, n, *t, tl);

			if (at == NULL)
				continue;
			kp = (size_t)(at - line);
			if (kp + tl < n && ak_ws(line[kp + tl])) {
				type = *t;
				break;
			}
		}
		if (type != NULL) {
			/* No key after the type: osquery makes no row. */
			size_t ks = kp + strlen(type);

			while (ks < n && ak_ws(line[ks]))
				ks++;
			if (ks == n)
				continue;
		} else if (!zos_label(line, n)) {
			continue;
		}
		if ((row = parsers_row_new(c_authorized_keys, err)) == NULL)
			return -1;
		if (type != NULL)
			r = ak_key_row(row, line, n, type, kp, err);
		else
			r = parsers_row_setn(row, "options", line, n, err);
		if (r == 0 && (parsers_row_set(row, "uid", uid, err) < 0 ||
			       parsers_row_set(row, "key_file", in_path(in), err) < 0))
			r = -1;
		if (emit(rows, base, row, r, err) < 0)
			return -1;
	}
	return 0;
}

int
parse_authorized_keys(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	static const char *const rels[] = { ".ssh/authorized_keys", ".ssh/authorized_keys2", NULL };

	if (parsers_input_check(in, err) < 0)
		return -1;
	return for_home_uids(in, rows, rels, ak_rows, err);
}

/* crontab (posix/crontab.cpp: genCronLine) */

static int
cron_line(const char *path, const char *line, size_t n, json_t *rows, size_t base,
	  struct dt_err *err)
{
	static const char *const cols[] = { "minute", "hour", "day_of_month", "month",
					    "day_of_week" };
	const char *f[5] = { NULL }, *ev = NULL, *tok;
	size_t fl[5] = { 0 }, evl = 0, tn, index = 0;
	struct parsers_split sp;
	struct buf cmd;
	json_t *row;
	int r = 0;

	buf_init(&cmd, PARSERS_MAX_INPUT);
	parsers_split_init(&sp, line, n, " \t");
	while (parsers_split_next(&sp, &tok, &tn)) {
		if (index == 0 && tn > 0 && tok[0] == '@') {
			/* @reboot and friends stand for all five time fields. */
			ev = tok;
			evl = tn;
			index = 5;
			continue;
		}
		if (index < 5) {
			f[index] = tok;
			fl[index] = tn;
		} else if (index == 5) {
			buf_reset(&cmd);
			r = buf_add(&cmd, tok, tn, err);
		} else {
			r = buf_addc(&cmd, ' ', err) < 0 ? -1 : buf_add(&cmd, tok, tn, err);
		}
		if (r < 0)
			goto out;
		index++;
	}
	/* No command: not a job (a VAR=value line, say). */
	if (cmd.len == 0)
		goto out;
	if ((row = parsers_row_new(c_crontab, err)) == NULL) {
		r = -1;
		goto out;
	}
	if (parsers_row_setn(row, "command", (const char *)cmd.data, cmd.len, err) < 0 ||
	    parsers_row_set(row, "path", path, err) < 0 ||
	    (ev && parsers_row_setn(row, "event", ev, evl, err) < 0))
		r = -1;
	for (int i = 0; i < 5 && r == 0; i++)
		if (f[i] && parsers_row_setn(row, cols[i], f[i], fl[i], err) < 0)
			r = -1;
	r = emit(rows, base, row, r, err);
out:
	buf_release(&cmd);
	return r;
}

int
parse_crontab(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	size_t base = json_array_size(rows), n;
	struct parsers_split sp;
	const char *line;

	if (parsers_input_check(in, err) < 0)
		return -1;
	parsers_split_init(&sp, in->data, in->len, "\n");
	while (parsers_split_next(&sp, &line, &n)) {
		if (n == 0 || line[0] == '#')
			continue;
		if (cron_line(in_path(in), line, n, rows, base, err) < 0)
			return -1;
	}
	return 0;
}

/* etc_hosts (networking/etc_hosts.cpp: parseEtcHostsContent) */

int
parse_etc_hosts(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	size_t base = json_array_size(rows), n;
	struct parsers_split lines;
	const char *line;
	struct buf names;
	int ret = -1;

	if (parsers_input_check(in, err) < 0)
		return -1;
	buf_init(&names, PARSERS_MAX_INPUT);
	parsers_split_init(&lines, in->data, in->len, "\n");
	while (parsers_split_next(&lines, &line, &n)) {
		struct parsers_split sp;
		const char *addr, *tok;
		size_t addrn, tn, ntok = 0;
		json_t *row;

		parsers_split_init(&sp, line, n, "\t ");
		if (!parsers_split_next(&sp, &addr, &addrn) || (addrn > 0 && addr[0] == '#'))
			continue;
		buf_reset(&names);
		/* Names end at the first token that starts a comment. */
		while (parsers_split_next(&sp, &tok, &tn) && !(tn > 0 && tok[0] == '#')) {
			if ((ntok++ > 0 && buf_addc(&names, ' ', err) < 0) ||
			    buf_add(&names, tok, tn, err) < 0)
				goto out;
		}
		if ((row = parsers_row_new(c_etc_hosts, err)) == NULL)
			goto out;
		if (parsers_row_setn(row, "address", addr, addrn, err) < 0 ||
		    parsers_row_setn(row, "hostnames", (const char *)names.data, names.len, err) <
			    0) {
			json_decref(row);
			goto out;
		}
		if (parsers_rows_add(rows, base, row, err) < 0)
			goto out;
	}
	ret = 0;
out:
	buf_release(&names);
	return ret;
}

/* etc_services (networking/etc_services.cpp: parseEtcServicesContent) */

static int
service_line(const char *line, size_t n, json_t *rows, size_t base, struct buf *tmp,
	     struct dt_err *err)
{
	struct parsers_split parts, words, pp;
	const char *info, *name, *portproto, *port = NULL, *proto = NULL, *t, *c;
	size_t infon, namen, ppn, portn = 0, proton = 0, tn, cn, k = 0, ncomm = 0;
	json_t *row;
	int r;

	parsers_split_init(&parts, line, n, "#");
	if (!parsers_split_next(&parts, &info, &infon))
		return 0;
	parsers_split_init(&words, info, infon, "\t ");
	if (!parsers_split_next(&words, &name, &namen) ||
	    !parsers_split_next(&words, &portproto, &ppn))
		return 0;
	/* port/protocol must split into exactly two pieces. */
	parsers_split_init(&pp, portproto, ppn, "/");
	while (parsers_split_next(&pp, &t, &tn)) {
		if (k == 0) {
			port = t;
			portn = tn;
		} else if (k == 1) {
			proto = t;
			proton = tn;
		}
		k++;
	}
	if (k != 2)
		return 0;
	if ((row = parsers_row_new(c_etc_services, err)) == NULL)
		return -1;
	r = 0;
	if (parsers_row_setn(row, "name", name, namen, err) < 0 ||
	    parsers_row_set_integer(row, "port", port, portn, err) < 0 ||
	    parsers_row_setn(row, "protocol", proto, proton, err) < 0)
		r = -1;
	buf_reset(tmp);
	for (k = 0; r == 0 && parsers_split_next(&words, &t, &tn); k++)
		if ((k > 0 && buf_addc(tmp, ' ', err) < 0) || buf_add(tmp, t, tn, err) < 0)
			r = -1;
	if (r == 0 && parsers_row_setn(row, "aliases", (const char *)tmp->data, tmp->len, err) < 0)
		r = -1;
	/* The comment: every later '#' piece, joined with " # ". */
	buf_reset(tmp);
	while (r == 0 && parsers_split_next(&parts, &c, &cn))
		if ((ncomm++ > 0 && buf_adds(tmp, " # ", err) < 0) || buf_add(tmp, c, cn, err) < 0)
			r = -1;
	if (r == 0 && ncomm > 0 &&
	    parsers_row_setn(row, "comment", (const char *)tmp->data, tmp->len, err) < 0)
		r = -1;
	return emit(rows, base, row, r, err);
}

int
parse_etc_services(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	size_t base = json_array_size(rows), n;
	struct parsers_split lines;
	const char *line;
	struct buf tmp;
	int ret = 0;

	if (parsers_input_check(in, err) < 0)
		return -1;
	buf_init(&tmp, PARSERS_MAX_INPUT);
	parsers_split_init(&lines, in->data, in->len, "\n");
	while (ret == 0 && parsers_split_next(&lines, &line, &n))
		if (n > 0 && line[0] != '#')
			ret = service_line(line, n, rows, base, &tmp, err);
	buf_release(&tmp);
	return ret;
}

/*
 * ssh_configs (posix/ssh_configs.cpp): every line lower-cased; "host " and "match " lines
 * open a block, every other line is an option of the current block. sshd_configs, ours,
 * reads sshd_config and its drop-ins the same way, as root's.
 */

static int
ssh_rows(const struct parser_input *in, json_t *rows, size_t base, const char *uid,
	 struct dt_err *err)
{
	struct parsers_split lines;
	struct buf block, low;
	const char *line;
	size_t n;
	int ret = -1;

	buf_init(&block, PARSERS_MAX_INPUT);
	buf_init(&low, PARSERS_MAX_INPUT);
	parsers_split_init(&lines, in->data, in->len, "\n");
	while (parsers_split_next(&lines, &line, &n)) {
		json_t *row;
		char *l;

		buf_reset(&low);
		if (buf_add(&low, line, n, err) < 0)
			goto out;
		l = (char *)low.data;
		for (size_t i = 0; i < n; i++)
			if (l[i] >= 'A' && l[i] <= 'Z')
				l[i] = (char)(l[i] - 'A' + 'a');
		if (n == 0 || l[0] == '#')
			continue;
		if ((n >= 5 && memcmp(l, "host ", 5) == 0) ||
		    (n >= 6 && memcmp(l, "match ", 6) == 0)) {
			buf_reset(&block);
			if (buf_add(&block, l, n, err) < 0)
				goto out;
			continue;
		}
		if ((row = parsers_row_new(c_ssh_configs, err)) == NULL)
			goto out;
		if (parsers_row_set(row, "uid", uid, err) < 0 ||
		    parsers_row_setn(row, "block", (const char *)block.data, block.len, err) < 0 ||
		    parsers_row_setn(row, "option", l, n, err) < 0 ||
		    parsers_row_set(row, "ssh_config_file", in_path(in), err) < 0) {
			json_decref(row);
			goto out;
		}
		if (parsers_rows_add(rows, base, row, err) < 0)
			goto out;
	}
	ret = 0;
out:
	buf_release(&block);
	buf_release(&low);
	return ret;
}

int
parse_ssh_configs(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	static const char *const rels[] = { ".ssh/config", NULL };

	if (parsers_input_check(in, err) < 0)
		return -1;
	/* osquery reads the system-wide file as uid 0. */
	if (strcmp(in_path(in), "/etc/ssh/ssh_config") == 0)
		return ssh_rows(in, rows, json_array_size(rows), "0", err);
	return for_home_uids(in, rows, rels, ssh_rows, err);
}

int
parse_sshd_configs(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	if (parsers_input_check(in, err) < 0)
		return -1;
	return ssh_rows(in, rows, json_array_size(rows), "0", err);
}
