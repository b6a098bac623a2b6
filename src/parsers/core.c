/* core.c - the table of parsers, path matching, the context, gunzip; see parsers.h. */
#include "parsers/parsers_int.h"

#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "buf.h"

#include "banned.h"

#define HOMEDIR "%%users.homedir%%"

/*
 * Default paths, from osquery's implementations (the notes in ECOSYSTEM.md §1). Where
 * osquery reads every file of a directory, the glob is the directory and a '*' component;
 * FNM_PATHNAME keeps the '*' inside one component, and without FNM_PERIOD it matches dot
 * files as osquery's listing does.
 */
static const char *const p_users[] = { "/etc/passwd", NULL };
static const char *const p_group[] = { "/etc/group", NULL };
static const char *const p_shadow[] = { "/etc/shadow", NULL };
/*
 * osquery reads /etc/sudoers and follows its includes. A file of /etc/sudoers.d is matched
 * on its own as well, so that a changed or added drop-in yields its rows even when
 * /etc/sudoers itself did not change; parse_sudoers gives such a file the rows it would
 * give through @includedir (none for the names sudo skips).
 */
static const char *const p_sudoers[] = { "/etc/sudoers", "/etc/sudoers.d/*", NULL };
static const char *const p_authorized_keys[] = { HOMEDIR "/.ssh/authorized_keys",
						 HOMEDIR "/.ssh/authorized_keys2", NULL };
static const char *const p_crontab[] = { "/etc/crontab", "/etc/cron.d/*", "/var/spool/cron/*",
					 "/var/spool/cron/crontabs/*", NULL };
static const char *const p_etc_hosts[] = { "/etc/hosts", NULL };
static const char *const p_etc_services[] = { "/etc/services", NULL };
static const char *const p_ssh_configs[] = { "/etc/ssh/ssh_config", HOMEDIR "/.ssh/config", NULL };
static const char *const p_sshd_configs[] = { "/etc/ssh/sshd_config",
					      "/etc/ssh/sshd_config.d/*.conf", NULL };

/* Unit files: fragment paths systemd loads (unit_file_state comes from the *.wants links). */
static const char *const p_systemd_units[] = {
	"/etc/systemd/system/*", "/run/systemd/system/*",           "/usr/lib/systemd/system/*",
	"/lib/systemd/system/*", HOMEDIR "/.config/systemd/user/*", NULL
};
static const char *const p_startup_items[] = { "/etc/xdg/autostart/*.desktop",
					       HOMEDIR "/.config/autostart/*.desktop",
					       "/etc/init.d/*", NULL };
static const char *const p_deb_packages[] = { "/var/lib/dpkg/status", NULL };
/* BDB and NDB rpmdbs, and the sqlite one (also at its newer home, /usr/lib/sysimage/rpm). */
static const char *const p_rpm_packages[] = { "/var/lib/rpm/Packages", "/var/lib/rpm/Packages.db",
					      "/var/lib/rpm/rpmdb.sqlite",
					      "/usr/lib/sysimage/rpm/rpmdb.sqlite", NULL };
static const char *const p_apt_sources[] = { "/etc/apt/sources.list",
					     "/etc/apt/sources.list.d/*.list",
					     "/etc/apt/sources.list.d/*.sources", NULL };
static const char *const p_yum_sources[] = { "/etc/yum.conf", "/etc/yum.repos.d/*.repo", NULL };
static const char *const p_os_version[] = { "/etc/os-release", "/etc/redhat-release",
					    "/etc/gentoo-release", NULL };
static const char *const p_shell_history[] = { HOMEDIR "/.bash_history",
					       HOMEDIR "/.zsh_history",
					       HOMEDIR "/.zhistory",
					       HOMEDIR "/.history",
					       HOMEDIR "/.sh_history",
					       HOMEDIR "/.bash_sessions/*.history",
					       NULL };
/*
 * osquery walks these directories recursively; fnmatch has no "any depth", so each gets
 * its first eight levels.
 */
#define DEEP(d)                                                                       \
	d "/*", d "/*/*", d "/*/*/*", d "/*/*/*/*", d "/*/*/*/*/*", d "/*/*/*/*/*/*", \
		d "/*/*/*/*/*/*/*", d "/*/*/*/*/*/*/*/*"
static const char *const p_suid_bin[] = { DEEP("/bin"),           DEEP("/sbin"),
					  DEEP("/usr/bin"),       DEEP("/usr/sbin"),
					  DEEP("/usr/local/bin"), DEEP("/usr/local/sbin"),
					  DEEP("/tmp"),           NULL };
/* Where a preload can be set: the loader's file, and LD_PRELOAD= in environment files,
 * PAM's environment, profile scripts, systemd units and drop-ins, and shell start-up files. */
static const char *const p_ld_preload[] = { "/etc/ld.so.preload",
					    "/etc/environment",
					    "/etc/security/pam_env.conf",
					    "/etc/profile",
					    "/etc/profile.d/*",
					    "/etc/bash.bashrc",
					    "/etc/systemd/system.conf",
					    "/etc/systemd/system/*.service",
					    "/etc/systemd/system/*.d/*.conf",
					    HOMEDIR "/.bashrc",
					    HOMEDIR "/.profile",
					    HOMEDIR "/.bash_profile",
					    HOMEDIR "/.pam_environment",
					    NULL };

const struct parser parsers_table[] = {
	{ "users", parse_users, p_users, 0 },
	{ "groups", parse_groups, p_group, 0 },
	/* Its rows also depend on ctx (the image's passwd): re-run it when /etc/passwd changes. */
	{ "user_groups", parse_user_groups, p_group, 0 },
	{ "shadow", parse_shadow, p_shadow, 0 },
	{ "sudoers", parse_sudoers, p_sudoers, 0 },
	{ "authorized_keys", parse_authorized_keys, p_authorized_keys, 0 },
	{ "crontab", parse_crontab, p_crontab, 0 },
	{ "etc_hosts", parse_etc_hosts, p_etc_hosts, 0 },
	{ "etc_services", parse_etc_services, p_etc_services, 0 },
	{ "ssh_configs", parse_ssh_configs, p_ssh_configs, 0 },
	{ "sshd_configs", parse_sshd_configs, p_sshd_configs, 0 },
	{ "systemd_units", parse_systemd_units, p_systemd_units, 0 },
	{ "startup_items", parse_startup_items, p_startup_items, 0 },
	{ "deb_packages", parse_deb_packages, p_deb_packages, 0 },
	{ "rpm_packages", parse_rpm_packages, p_rpm_packages, 0 },
	{ "apt_sources", parse_apt_sources, p_apt_sources, 0 },
	{ "yum_sources", parse_yum_sources, p_yum_sources, 0 },
	{ "os_version", parse_os_version, p_os_version, 0 },
	{ "shell_history", parse_shell_history, p_shell_history, 0 },
	{ "suid_bin", parse_suid_bin, p_suid_bin, 1 },
	{ "ld_preload", parse_ld_preload, p_ld_preload, 0 },
	{ NULL, NULL, NULL, 0 },
};

const struct parser *
parsers_find(const char *table)
{
	if (table == NULL)
		return NULL;
	for (const struct parser *p = parsers_table; p->table; p++)
		if (strcmp(p->table, table) == 0)
			return p;
	return NULL;
}

/*
 * The home is compared literally, never as a pattern, so a home holding '*' or '[' is just
 * a name; only the part of the glob after the home is a pattern.
 */
static const char *
home_rest(const char *home, const char *path)
{
	size_t hl;

	if (home == NULL || home[0] != '/')
		return NULL;
	hl = strlen(home);
	if (strncmp(path, home, hl) != 0)
		return NULL;
	if (home[hl - 1] == '/')
		return path + hl;
	return path[hl] == '/' ? path + hl + 1 : NULL;
}

int
parsers_home_join_is(const char *home, const char *rel, const char *path)
{
	const char *rest = home_rest(home, path);

	return rest != NULL && strcmp(rest, rel) == 0;
}

static int
glob_matches(const char *glob, const char *path, const struct parser_ctx *ctx)
{
	const char *rel;

	if (strncmp(glob, HOMEDIR, strlen(HOMEDIR)) != 0)
		return fnmatch(glob, path, FNM_PATHNAME) == 0;
	rel = glob + strlen(HOMEDIR);
	if (*rel == '/')
		rel++;
	if (ctx == NULL)
		return 0;
	for (size_t i = 0; i < ctx->nusers; i++) {
		const char *rest = home_rest(ctx->users[i].home, path);

		if (rest != NULL && fnmatch(rel, rest, FNM_PATHNAME) == 0)
			return 1;
	}
	return 0;
}

size_t
parsers_for_path(const char *path, const struct parser_ctx *ctx, const struct parser **out,
		 size_t max)
{
	size_t n = 0;

	if (path == NULL)
		return 0;
	for (const struct parser *p = parsers_table; p->table && n < max; p++) {
		for (const char *const *g = p->paths; g && *g; g++) {
			if (glob_matches(*g, path, ctx)) {
				out[n++] = p;
				break;
			}
		}
	}
	return n;
}

/* Rows */

/* Length of the well-formed UTF-8 sequence at s (Unicode table 3-7), 0 if there is none. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c == 0)
		return 0;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

static json_t *
lossy_string(const char *s, size_t n, struct dt_err *err)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned char *o;
	size_t i = 0, k = 0, l;
	json_t *j;

	while (i < n && (l = utf8_len(u + i, n - i)) != 0)
		i += l;
	if (i == n) {
		j = json_stringn_nocheck(n ? s : "", n);
		goto out;
	}
	if (n > (SIZE_MAX - 1) / 3) {
		dt_fail(err, DT_ENOMEM, "a value of %zu bytes is too long", n);
		return NULL;
	}
	o = malloc(n * 3 + 1);
	if (o == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		return NULL;
	}
	memcpy(o, u, i);
	k = i;
	while (i < n) {
		l = utf8_len(u + i, n - i);
		if (l == 0) {
			o[k++] = 0xef;
			o[k++] = 0xbf;
			o[k++] = 0xbd;
			i++;
		} else {
			memcpy(o + k, u + i, l);
			k += l;
			i += l;
		}
	}
	j = json_stringn_nocheck((const char *)o, k);
	free(o);
out:
	if (j == NULL)
		dt_fail(err, DT_ENOMEM, "out of memory");
	return j;
}

json_t *
parsers_row_new(const char *const *cols, struct dt_err *err)
{
	json_t *row = json_object();

	if (row == NULL)
		goto fail;
	for (; *cols; cols++)
		if (json_object_set_new(row, *cols, json_string("")) < 0)
			goto fail;
	return row;
fail:
	json_decref(row);
	dt_fail(err, DT_ENOMEM, "out of memory");
	return NULL;
}

int
parsers_row_setn(json_t *row, const char *col, const char *s, size_t n, struct dt_err *err)
{
	json_t *v = lossy_string(s, n, err);

	if (v == NULL)
		return -1;
	if (json_object_set_new(row, col, v) < 0)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	return 0;
}

int
parsers_row_set(json_t *row, const char *col, const char *s, struct dt_err *err)
{
	return parsers_row_setn(row, col, s, strlen(s), err);
}

int
parsers_row_set_i64(json_t *row, const char *col, long long v, struct dt_err *err)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v);
	return parsers_row_set(row, col, num, err);
}

static int
set_osquery_int(json_t *row, const char *col, const char *s, size_t n, int narrow,
		struct dt_err *err)
{
	char *tmp, *end;
	long long v;
	int bad;

	tmp = malloc(n + 1);
	if (tmp == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (n)
		memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	v = strtoll(tmp, &end, 0);
	bad = end == tmp || errno == ERANGE;
	free(tmp);
	if (bad)
		return parsers_row_set(row, col, "", err);
	/* sqlite3_result_int(ctx, long): the value wraps to 32 bits, as on every osquery host. */
	if (narrow)
		v = (int32_t)(uint32_t)(unsigned long long)v;
	return parsers_row_set_i64(row, col, v, err);
}

int
parsers_row_set_integer(json_t *row, const char *col, const char *s, size_t n, struct dt_err *err)
{
	return set_osquery_int(row, col, s, n, 1, err);
}

int
parsers_row_set_bigint(json_t *row, const char *col, const char *s, size_t n, struct dt_err *err)
{
	return set_osquery_int(row, col, s, n, 0, err);
}

int
parsers_rows_add(json_t *rows, size_t base, json_t *row, struct dt_err *err)
{
	size_t have = json_array_size(rows);

	if (have >= base && have - base >= PARSERS_MAX_ROWS) {
		json_decref(row);
		return dt_fail(err, DT_ENOMEM, "more than %u rows from one file", PARSERS_MAX_ROWS);
	}
	if (json_array_append_new(rows, row) < 0)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	return 0;
}

char *
parsers_path_norm(const char *p)
{
	size_t n = strlen(p), k = 0;
	char *o = malloc(n + 2);

	if (o == NULL)
		return NULL;
	if (p[0] == '/')
		o[k++] = '/';
	while (*p) {
		const char *c = p;
		size_t cl;

		while (*p && *p != '/')
			p++;
		cl = (size_t)(p - c);
		while (*p == '/')
			p++;
		if (cl == 0 || (cl == 1 && c[0] == '.'))
			continue;
		if (cl == 2 && c[0] == '.' && c[1] == '.') {
			while (k > 0 && o[k - 1] != '/')
				k--;
			if (k > 1)
				k--;
			continue;
		}
		if (k > 0 && o[k - 1] != '/')
			o[k++] = '/';
		memcpy(o + k, c, cl);
		k += cl;
	}
	if (k == 0)
		o[k++] = '.';
	o[k] = '\0';
	return o;
}

int
parsers_input_check(const struct parser_input *in, struct dt_err *err)
{
	if (in->len > PARSERS_MAX_INPUT)
		return dt_fail(err, DT_ENOMEM, "'%s' is larger than %u bytes",
			       in->path ? in->path : "", PARSERS_MAX_INPUT);
	if (in->data == NULL && in->len != 0)
		return dt_fail(err, DT_EUSAGE, "no data for '%s'", in->path ? in->path : "");
	return 0;
}

/* Text */

void
parsers_split_init(struct parsers_split *sp, const void *s, size_t n, const char *delims)
{
	sp->p = s;
	sp->end = sp->p ? sp->p + n : NULL;
	sp->delims = delims;
}

static const char *
split_find(const struct parsers_split *sp, const char *s)
{
	if (sp->delims[0] != '\0' && sp->delims[1] == '\0')
		return memchr(s, sp->delims[0], (size_t)(sp->end - s));
	for (; s < sp->end; s++)
		if (*s != '\0' && strchr(sp->delims, *s) != NULL)
			return s;
	return NULL;
}

int
parsers_split_next(struct parsers_split *sp, const char **tok, size_t *n)
{
	while (sp->p != NULL) {
		const char *s = sp->p, *e = split_find(sp, s);

		if (e == NULL) {
			e = sp->end;
			sp->p = NULL;
		} else {
			sp->p = e + 1;
		}
		if (e == s)
			continue;
		while (s < e && parsers_isspace((unsigned char)*s))
			s++;
		while (e > s && parsers_isspace((unsigned char)e[-1]))
			e--;
		*tok = s;
		*n = (size_t)(e - s);
		return 1;
	}
	return 0;
}

/* passwd, group, shadow as glibc reads them */

int
parsers_nss_init(struct parsers_nss *it, const unsigned char *data, size_t len, struct dt_err *err)
{
	memset(it, 0, sizeof(*it));
	if (len > PARSERS_MAX_INPUT)
		return dt_fail(err, DT_ENOMEM, "input larger than %u bytes", PARSERS_MAX_INPUT);
	it->buf = malloc(len + 1);
	if (it->buf == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (len)
		memcpy(it->buf, data, len);
	it->buf[len] = '\0';
	it->len = len;
	return 0;
}

char *
parsers_nss_next(struct parsers_nss *it, int raw)
{
	while (it->pos < it->len) {
		char *line = it->buf + it->pos;
		char *nl = memchr(line, '\n', it->len - it->pos);

		if (nl != NULL) {
			*nl = '\0';
			it->pos = (size_t)(nl - it->buf) + 1;
		} else {
			it->pos = it->len;
		}
		if (raw)
			return line;
		while (parsers_isspace((unsigned char)*line))
			line++;
		if (*line == '\0' || *line == '#')
			continue;
		return line;
	}
	return NULL;
}

void
parsers_nss_release(struct parsers_nss *it)
{
	free(it->buf);
	memset(it, 0, sizeof(*it));
}

int
parsers_nss_each(const unsigned char *data, size_t len, parsers_nss_fn fn, void *arg,
		 struct dt_err *err)
{
	struct parsers_nss it;
	char *line;
	int ret = 0;

	if (parsers_nss_init(&it, data, len, err) < 0)
		return -1;
	while (ret == 0 && (line = parsers_nss_next(&it, 0)) != NULL)
		ret = fn(line, arg, err) < 0 ? -1 : 0;
	parsers_nss_release(&it);
	return ret;
}

uint32_t
parsers_strtou32(const char *s, char **endp)
{
	const char *p = s;
	unsigned long long v = 0;
	int neg = 0, over = 0, any = 0;

	while (parsers_isspace((unsigned char)*p))
		p++;
	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned d = (unsigned)(*p - '0');

		any = 1;
		if (v > (ULLONG_MAX - d) / 10)
			over = 1;
		else
			v = v * 10 + d;
	}
	if (!any) {
		*endp = (char *)s;
		return 0;
	}
	*endp = (char *)p;
	/* strtoul: overflow is ULONG_MAX; a minus negates modulo 2^64; then clamp to 32 bits. */
	if (over)
		return UINT32_MAX;
	if (neg)
		v = 0 - v;
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* STRING_FIELD (ISCOLON, no swallowing) of nss/nss_files/files-parse.c */
static char *
nss_field(char **linep)
{
	char *start = *linep, *p = start;

	while (*p != '\0' && *p != ':')
		p++;
	if (*p != '\0')
		*p++ = '\0';
	*linep = p;
	return start;
}

/* INT_FIELD: the line is rejected without a number or with junk after it. */
static int
nss_int(char **linep, uint32_t *v)
{
	char *endp;

	*v = parsers_strtou32(*linep, &endp);
	if (endp == *linep)
		return 0;
	if (*endp == ':')
		endp++;
	else if (*endp != '\0')
		return 0;
	*linep = endp;
	return 1;
}

/* INT_FIELD_MAYBE_NULL: an empty field takes dflt; the line must not end before it. */
static int
nss_int_maybe(char **linep, uint32_t *v, uint32_t dflt)
{
	char *endp;

	if (**linep == '\0')
		return 0;
	*v = parsers_strtou32(*linep, &endp);
	if (endp == *linep)
		*v = dflt;
	if (*endp == ':')
		endp++;
	else if (*endp != '\0')
		return 0;
	*linep = endp;
	return 1;
}

int
parsers_pw_parse(char *line, struct parsers_pw *pw)
{
	memset(pw, 0, sizeof(*pw));
	pw->name = nss_field(&line);
	/* A lone "+name" or "-name" is nss_compat's; glibc returns it with every field empty. */
	if (*line == '\0' && (pw->name[0] == '+' || pw->name[0] == '-'))
		return 1;
	pw->passwd = nss_field(&line);
	if (pw->name[0] == '+' || pw->name[0] == '-') {
		if (!nss_int_maybe(&line, &pw->uid, 0) || !nss_int_maybe(&line, &pw->gid, 0))
			return 0;
	} else if (!nss_int(&line, &pw->uid) || !nss_int(&line, &pw->gid)) {
		return 0;
	}
	pw->gecos = nss_field(&line);
	pw->dir = nss_field(&line);
	pw->shell = line;
	return 1;
}

int
parsers_gr_parse(char *line, struct parsers_gr *gr)
{
	memset(gr, 0, sizeof(*gr));
	gr->name = nss_field(&line);
	if (*line == '\0' && (gr->name[0] == '+' || gr->name[0] == '-')) {
		gr->members = line;
		return 1;
	}
	gr->passwd = nss_field(&line);
	if (gr->name[0] == '+' || gr->name[0] == '-') {
		if (!nss_int_maybe(&line, &gr->gid, 0))
			return 0;
	} else if (!nss_int(&line, &gr->gid)) {
		return 0;
	}
	gr->members = line;
	return 1;
}

/* glibc's (long int) (int) conversion of a 32-bit field, written without UB. */
static long long
as_int(uint32_t v)
{
	return v > INT32_MAX ? (long long)v - 4294967296LL : (long long)v;
}

int
parsers_sp_parse(char *line, struct parsers_sp *sp)
{
	uint32_t v;
	char *endp;

	memset(sp, 0, sizeof(*sp));
	sp->name = nss_field(&line);
	if (*line == '\0' && (sp->name[0] == '+' || sp->name[0] == '-')) {
		sp->warn = sp->inact = sp->expire = -1;
		sp->flag = ULLONG_MAX;
		return 1;
	}
	sp->passwd = nss_field(&line);
	if (!nss_int_maybe(&line, &v, UINT32_MAX))
		return 0;
	sp->lstchg = as_int(v);
	if (!nss_int_maybe(&line, &v, UINT32_MAX))
		return 0;
	sp->min = as_int(v);
	if (!nss_int_maybe(&line, &v, UINT32_MAX))
		return 0;
	sp->max = as_int(v);
	while (parsers_isspace((unsigned char)*line))
		line++;
	/* The old form stops after max. */
	sp->warn = sp->inact = sp->expire = -1;
	sp->flag = ULLONG_MAX;
	if (*line == '\0')
		return 1;
	if (!nss_int_maybe(&line, &v, UINT32_MAX))
		return 0;
	sp->warn = as_int(v);
	if (!nss_int_maybe(&line, &v, UINT32_MAX))
		return 0;
	sp->inact = as_int(v);
	if (!nss_int_maybe(&line, &v, UINT32_MAX))
		return 0;
	sp->expire = as_int(v);
	if (*line == '\0')
		return 1;
	/* The flag is the last field: anything after its digits rejects the line. */
	v = parsers_strtou32(line, &endp);
	if (endp != line)
		sp->flag = v;
	return *endp == '\0';
}

char *
parsers_gr_member(char **cur)
{
	char *line = *cur;

	while (*line != '\0') {
		char *elt;

		while (parsers_isspace((unsigned char)*line))
			line++;
		elt = line;
		while (*line != '\0' && *line != ',')
			line++;
		if (*line != '\0')
			*line++ = '\0';
		*cur = line;
		if (*elt != '\0')
			return elt;
	}
	*cur = line;
	return NULL;
}

int
parsers_idset_add(struct parsers_idset *s, uint32_t id, struct dt_err *err)
{
	size_t i;

	if (s->n * 2 >= s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 64;
		uint32_t *ns;

		if (ncap > SIZE_MAX / sizeof(*ns) / 2)
			return dt_fail(err, DT_ENOMEM, "too many ids");
		/* Two words a slot: a used flag and the id, so that every 32-bit id fits. */
		ns = calloc(ncap * 2, sizeof(*ns));
		if (ns == NULL)
			return dt_fail(err, DT_ENOMEM, "out of memory");
		for (size_t k = 0; k < s->cap; k++) {
			if (!s->slot[2 * k])
				continue;
			i = (s->slot[2 * k + 1] * 2654435761u) & (ncap - 1);
			while (ns[2 * i])
				i = (i + 1) & (ncap - 1);
			ns[2 * i] = 1;
			ns[2 * i + 1] = s->slot[2 * k + 1];
		}
		free(s->slot);
		s->slot = ns;
		s->cap = ncap;
	}
	i = (id * 2654435761u) & (s->cap - 1);
	while (s->slot[2 * i]) {
		if (s->slot[2 * i + 1] == id)
			return 0;
		i = (i + 1) & (s->cap - 1);
	}
	s->slot[2 * i] = 1;
	s->slot[2 * i + 1] = id;
	s->n++;
	return 1;
}

void
parsers_idset_release(struct parsers_idset *s)
{
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/* The context */

void
parser_ctx_release(struct parser_ctx *ctx)
{
	if (ctx == NULL)
		return;
	for (size_t i = 0; i < ctx->nusers; i++) {
		free(ctx->users[i].name);
		free(ctx->users[i].home);
	}
	for (size_t i = 0; i < ctx->ngroups; i++)
		free(ctx->groups[i].name);
	free(ctx->users);
	free(ctx->groups);
	memset(ctx, 0, sizeof(*ctx));
}

/* parser_ctx_init's growing array: the context and the capacity of the array being filled. */
struct ctx_fill {
	struct parser_ctx *ctx;
	size_t cap;
};

static int
ctx_user(char *line, void *arg, struct dt_err *err)
{
	struct ctx_fill *f = arg;
	struct parser_ctx *ctx = f->ctx;
	struct parsers_pw pw;
	struct parser_user *u;

	if (!parsers_pw_parse(line, &pw))
		return 0;
	if (BUF_GROW(ctx->users, ctx->nusers + 1, f->cap, err) < 0)
		return -1;
	u = &ctx->users[ctx->nusers++];
	u->name = strdup(pw.name);
	u->home = strdup(pw.dir ? pw.dir : "");
	u->uid = pw.uid;
	u->gid = pw.gid;
	if (u->name == NULL || u->home == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	return 0;
}

static int
ctx_group(char *line, void *arg, struct dt_err *err)
{
	struct ctx_fill *f = arg;
	struct parser_ctx *ctx = f->ctx;
	struct parsers_gr gr;

	if (!parsers_gr_parse(line, &gr))
		return 0;
	if (BUF_GROW(ctx->groups, ctx->ngroups + 1, f->cap, err) < 0)
		return -1;
	ctx->groups[ctx->ngroups].gid = gr.gid;
	if ((ctx->groups[ctx->ngroups++].name = strdup(gr.name)) == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	return 0;
}

int
parser_ctx_init(struct parser_ctx *ctx, const unsigned char *passwd, size_t passwd_len,
		const unsigned char *group, size_t group_len, struct dt_err *err)
{
	struct ctx_fill users = { ctx, 0 }, groups = { ctx, 0 };

	memset(ctx, 0, sizeof(*ctx));
	if ((passwd != NULL && parsers_nss_each(passwd, passwd_len, ctx_user, &users, err) < 0) ||
	    (group != NULL && parsers_nss_each(group, group_len, ctx_group, &groups, err) < 0)) {
		parser_ctx_release(ctx);
		return -1;
	}
	return 0;
}

/* gunzip */

static int
all_zero(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return 0;
	return 1;
}

int
parsers_gunzip(const unsigned char *data, size_t len, size_t cap, unsigned char **out,
	       size_t *out_len, struct dt_err *err)
{
	const unsigned char *in = data;
	size_t left = len; /* input not yet handed to zlib */
	struct buf b;
	z_stream zs;
	int zr, ret = -1;

	*out = NULL;
	*out_len = 0;
	if (data == NULL || len < 2 || data[0] != 0x1f || data[1] != 0x8b)
		return dt_fail(err, DT_EFORMAT, "not gzip data");
	memset(&zs, 0, sizeof(zs));
	/* 15 + 16: the largest window, and a gzip header and trailer (CRC, length) required. */
	if (inflateInit2(&zs, 15 + 16) != Z_OK)
		return dt_fail(err, DT_ENOMEM, "cannot start zlib");
	buf_init(&b, cap);
	for (;;) {
		unsigned char probe;
		size_t room = cap - b.len, asked;

		if (zs.avail_in == 0 && left > 0) {
			zs.next_in = (Bytef *)in;
			zs.avail_in = left > UINT_MAX ? UINT_MAX : (uInt)left;
			in += zs.avail_in;
			left -= zs.avail_in;
		}
		if (room > 65536)
			room = 65536;
		if (room > 0) {
			if (buf_reserve(&b, room, err) < 0)
				goto out;
			zs.next_out = b.data + b.len;
			asked = room;
		} else {
			/* At the cap: one more byte of output means the data is too large. */
			zs.next_out = &probe;
			asked = 1;
		}
		zs.avail_out = (uInt)asked;
		zr = inflate(&zs, Z_NO_FLUSH);
		if (room == 0 && zs.avail_out != asked) {
			dt_fail(err, DT_ENOMEM, "gzip data inflates past %zu bytes", cap);
			goto out;
		}
		if (room > 0)
			b.len += asked - zs.avail_out;
		if (zr == Z_STREAM_END) {
			unsigned char next[2];
			size_t rest = zs.avail_in + left, k = 0;

			/* Padding after the last member (tar and some loggers leave it) is no data.
			 */
			if (all_zero(zs.next_in, zs.avail_in) && all_zero(in, left))
				break;
			for (size_t i = 0; i < zs.avail_in && k < 2; i++)
				next[k++] = zs.next_in[i];
			for (size_t i = 0; i < left && k < 2; i++)
				next[k++] = in[i];
			if (rest < 2 || next[0] != 0x1f || next[1] != 0x8b) {
				dt_fail(err, DT_EFORMAT, "trailing garbage after gzip data");
				goto out;
			}
			/* Another member, as `cat a.gz b.gz` makes: its output follows. */
			if (inflateReset(&zs) != Z_OK) {
				dt_fail(err, DT_EFORMAT, "damaged gzip data");
				goto out;
			}
			continue;
		}
		if (zr == Z_MEM_ERROR) {
			dt_fail(err, DT_ENOMEM, "out of memory inflating gzip data");
			goto out;
		}
		if (zr != Z_OK && zr != Z_BUF_ERROR) {
			dt_fail(err, DT_EFORMAT, "damaged gzip data%s%s", zs.msg ? ": " : "",
				zs.msg ? zs.msg : "");
			goto out;
		}
		if (zs.avail_out != 0 && zs.avail_in == 0 && left == 0) {
			/* Room for output, no input left, and still no end of the stream. */
			dt_fail(err, DT_EFORMAT, "truncated gzip data");
			goto out;
		}
		if (zr == Z_BUF_ERROR && zs.avail_out != 0) {
			dt_fail(err, DT_EFORMAT, "damaged gzip data");
			goto out;
		}
	}
	/* Even empty output is a new pointer the caller can free(). */
	if (b.data == NULL && buf_reserve(&b, 0, err) < 0)
		goto out;
	*out = buf_detach(&b, out_len);
	ret = 0;
out:
	inflateEnd(&zs);
	buf_release(&b);
	return ret;
}
