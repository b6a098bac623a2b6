/* profile.c - see profile.h. */
#include "aws/profile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "buf.h"

#include "banned.h"

extern char **environ;

enum { IN_CONFIG, IN_CREDENTIALS };

struct entry {
	int file;
	char *section; /* owned: the profile name */
	char *key;     /* owned */
	char *value;   /* owned; wiped when freed */
};

struct profile_files {
	struct entry *e; /* owned */
	size_t n, cap;
};

const char *
profile_env(const char *const *env, const char *name)
{
	size_t n = strlen(name);

	if (env == NULL)
		env = (const char *const *)environ;
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], name, n) == 0 && env[i][n] == '=')
			return env[i] + n + 1;
	return NULL;
}

const char *
profile_name(const char *const *env)
{
	const char *p = profile_env(env, "AWS_PROFILE");

	if (p == NULL || !*p)
		p = profile_env(env, "AWS_DEFAULT_PROFILE");
	return p && *p ? p : "default";
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static int
add_entry(struct profile_files *f, int file, const char *section, const char *key,
	  const char *value, struct dt_err *err)
{
	struct entry *e;

	if (BUF_GROW(f->e, f->n + 1, f->cap, err) < 0)
		return -1;
	e = &f->e[f->n];
	e->file = file;
	e->section = strdup(section);
	e->key = strdup(key);
	e->value = strdup(value);
	f->n++;
	if (e->section == NULL || e->key == NULL || e->value == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate a profile entry");
	return 0;
}

/* One INI file. In the config file, "[profile x]" names x and "[default]" default. */
static int
parse(struct profile_files *f, int file, char *text, const char *path, struct dt_err *err)
{
	char *section = NULL, *line = text, *next;
	int lineno = 0;

	for (; line; line = next) {
		char *eq, *l;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		lineno++;
		if (*line == ' ' || *line == '\t') /* a sub-key of "s3 =" and the like */
			continue;
		l = trim(line);
		if (*l == '\0' || *l == '#' || *l == ';')
			continue;
		if (*l == '[') {
			char *end = strchr(l, ']');
			if (end == NULL)
				return dt_fail(err, DT_EFORMAT, "'%s' line %d: unclosed section",
					       path, lineno);
			*end = '\0';
			l = trim(l + 1);
			if (file == IN_CONFIG && strncmp(l, "profile", 7) == 0 &&
			    (l[7] == ' ' || l[7] == '\t'))
				section = trim(l + 8);
			else if (file == IN_CONFIG && strcmp(l, "default") != 0)
				section = NULL; /* sso-session, services: not profiles */
			else
				section = l;
			continue;
		}
		eq = strchr(l, '=');
		if (eq == NULL || section == NULL)
			continue;
		*eq = '\0';
		if (add_entry(f, file, section, trim(l), trim(eq + 1), err) < 0)
			return -1;
	}
	return 0;
}

static int
load_file(struct profile_files *f, int file, const char *path, struct dt_err *err)
{
	FILE *fp = fopen(path, "r");
	struct buf b;
	char chunk[4096];
	size_t n;
	int ret = -1;

	if (fp == NULL)
		return errno == ENOENT || errno == ENOTDIR
			       ? 0
			       : dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
	buf_init(&b, PROFILE_MAX_FILE);
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
		if (buf_add(&b, chunk, n, err) < 0)
			goto out;
	if (ferror(fp)) {
		dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
		goto out;
	}
	if (buf_addc(&b, 0, err) < 0)
		goto out;
	ret = parse(f, file, (char *)b.data, path, err);
out:
	OPENSSL_cleanse(chunk, sizeof(chunk));
	if (b.data)
		OPENSSL_cleanse(b.data, b.len);
	buf_release(&b);
	fclose(fp);
	return ret;
}

int
profile_load(const char *const *env, struct profile_files **out, struct dt_err *err)
{
	struct profile_files *f = calloc(1, sizeof(*f));
	const char *home = profile_env(env, "HOME");
	const char *cfg = profile_env(env, "AWS_CONFIG_FILE");
	const char *cred = profile_env(env, "AWS_SHARED_CREDENTIALS_FILE");
	char path[4096];

	*out = NULL;
	if (f == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate profiles");
	if (cred == NULL && home) {
		snprintf(path, sizeof(path), "%s/.aws/credentials", home);
		cred = path;
	}
	if (cred && load_file(f, IN_CREDENTIALS, cred, err) < 0)
		goto fail;
	if (cfg == NULL && home) {
		snprintf(path, sizeof(path), "%s/.aws/config", home);
		cfg = path;
	}
	if (cfg && load_file(f, IN_CONFIG, cfg, err) < 0)
		goto fail;
	*out = f;
	return 0;
fail:
	profile_free(f);
	return -1;
}

void
profile_free(struct profile_files *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->n; i++) {
		if (f->e[i].value) {
			OPENSSL_cleanse(f->e[i].value, strlen(f->e[i].value));
			free(f->e[i].value);
		}
		free(f->e[i].section);
		free(f->e[i].key);
	}
	free(f->e);
	free(f);
}

/* The last assignment wins, as in botocore's parser. */
static const char *
lookup(const struct profile_files *f, int file, const char *profile, const char *key)
{
	const char *v = NULL;

	for (size_t i = 0; f && i < f->n; i++)
		if (f->e[i].file == file && strcmp(f->e[i].section, profile) == 0 &&
		    strcmp(f->e[i].key, key) == 0)
			v = f->e[i].value;
	return v;
}

const char *
profile_config(const struct profile_files *f, const char *profile, const char *key)
{
	return lookup(f, IN_CONFIG, profile, key);
}

const char *
profile_credentials(const struct profile_files *f, const char *profile, const char *key)
{
	return lookup(f, IN_CREDENTIALS, profile, key);
}

int
profile_exists(const struct profile_files *f, const char *profile)
{
	for (size_t i = 0; f && i < f->n; i++)
		if (strcmp(f->e[i].section, profile) == 0)
			return 1;
	return 0;
}
