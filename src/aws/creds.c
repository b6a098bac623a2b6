/* creds.c - see creds.h. */
#include "aws/creds.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <expat.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "aws/endpoint.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "aws/profile.h"
#include "buf.h"

#include "banned.h"

/* role -> source_profile -> role ... deeper than this is a loop or a mistake. */
#define MAX_ROLE_CHAIN 5
#define STS_MAX_BODY   (64u * 1024)

struct creds {
	pthread_mutex_t lock; /* guards cur and have */
	struct creds_value cur;
	int have;
	int fixed; /* creds_new_static(): never refreshed */
	struct http_pool *pool;
	char **env; /* owned copy, NULL-terminated; wiped when freed */
	char *profile, *role_arn, *external_id, *session_name, *region; /* owned */
	long duration_s;
};

/* What a chain walk sees: the provider's settings, the files, the region once known. */
struct walk {
	struct creds *c;
	const char *const *env;
	struct profile_files *pf;
	char region[ENDPOINT_MAX_REGION];
};

void
creds_value_wipe(struct creds_value *v)
{
	if (v)
		OPENSSL_cleanse(v, sizeof(*v));
}

static void
wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

static int
copy_field(char *dst, size_t cap, const char *src, const char *what, struct dt_err *err)
{
	size_t n = src ? strlen(src) : 0;

	if (n >= cap)
		return dt_fail(err, DT_EFORMAT, "%s is longer than %zu bytes", what, cap - 1);
	memcpy(dst, src ? src : "", n);
	dst[n] = '\0';
	return 0;
}

static int
set_value(struct creds_value *v, const char *akid, const char *secret, const char *token,
	  time_t expiration, const char *source, struct dt_err *err)
{
	memset(v, 0, sizeof(*v));
	if (copy_field(v->access_key_id, sizeof(v->access_key_id), akid, "the access key id", err) <
		    0 ||
	    copy_field(v->secret_access_key, sizeof(v->secret_access_key), secret,
		       "the secret access key", err) < 0 ||
	    copy_field(v->session_token, sizeof(v->session_token), token, "the session token",
		       err) < 0)
		return -1;
	v->expiration = expiration;
	snprintf(v->source, sizeof(v->source), "%s", source);
	return 0;
}

/* "2026-12-03T10:00:00Z", fractions of a second allowed. 0 when unreadable. */
static time_t
parse_time(const char *s)
{
	struct tm tm = { 0 };
	const char *end;

	if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return 0;
	return timegm(&tm);
}

static int
new_provider(struct creds **out, struct dt_err *err)
{
	struct creds *c = calloc(1, sizeof(*c));

	*out = NULL;
	if (c == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate credentials");
	pthread_mutex_init(&c->lock, NULL);
	*out = c;
	return 0;
}

int
creds_new_static(const char *akid, const char *secret, const char *token, struct creds **out,
		 struct dt_err *err)
{
	struct creds *c;

	if (new_provider(&c, err) < 0)
		return -1;
	c->fixed = 1;
	if (set_value(&c->cur, akid, secret, token, 0, "fixed keys", err) < 0) {
		creds_free(c);
		return -1;
	}
	c->have = 1;
	*out = c;
	return 0;
}

static int
dup_opt(char **dst, const char *src)
{
	if (src == NULL)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

int
creds_new(const struct creds_options *o, struct http_pool *pool, struct creds **out,
	  struct dt_err *err)
{
	static const struct creds_options none;
	extern char **environ;
	const char *const *env;
	struct creds *c;
	size_t n = 0;

	if (o == NULL)
		o = &none;
	env = o->env ? o->env : (const char *const *)environ;
	if (new_provider(&c, err) < 0)
		return -1;
	c->pool = pool;
	c->duration_s = o->duration_s > 0 ? o->duration_s : 3600;
	while (env && env[n])
		n++;
	c->env = calloc(n + 1, sizeof(*c->env));
	if (c->env == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++)
		if ((c->env[i] = strdup(env[i])) == NULL)
			goto nomem;
	if (dup_opt(&c->profile, o->profile) < 0 || dup_opt(&c->role_arn, o->role_arn) < 0 ||
	    dup_opt(&c->external_id, o->external_id) < 0 ||
	    dup_opt(&c->session_name, o->session_name ? o->session_name : "deltair") < 0 ||
	    dup_opt(&c->region, o->region) < 0)
		goto nomem;
	*out = c;
	return 0;
nomem:
	creds_free(c);
	return dt_fail(err, DT_ENOMEM, "cannot allocate credentials");
}

void
creds_free(struct creds *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; c->env && c->env[i]; i++)
		wipe_free(c->env[i]);
	free(c->env);
	free(c->profile);
	free(c->role_arn);
	free(c->external_id);
	free(c->session_name);
	free(c->region);
	creds_value_wipe(&c->cur);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void
creds_invalidate(struct creds *c)
{
	pthread_mutex_lock(&c->lock);
	if (!c->fixed) {
		creds_value_wipe(&c->cur);
		c->have = 0;
	}
	pthread_mutex_unlock(&c->lock);
}

/* 1: found in the environment; 0: not there. */
static int
from_env(struct walk *w, struct creds_value *v, struct dt_err *err)
{
	const char *akid = profile_env(w->env, "AWS_ACCESS_KEY_ID");
	const char *secret = profile_env(w->env, "AWS_SECRET_ACCESS_KEY");
	const char *token = profile_env(w->env, "AWS_SESSION_TOKEN");

	if (akid == NULL || !*akid || secret == NULL || !*secret)
		return 0;
	if (token == NULL || !*token)
		token = profile_env(w->env, "AWS_SECURITY_TOKEN");
	return set_value(v, akid, secret, token, 0, "environment", err) < 0 ? -1 : 1;
}

/* 1: the instance role's credentials; 0: no IMDS or no role; -1: IMDS answered badly. */
static int
from_imds(struct walk *w, struct creds_value *v, struct dt_err *err)
{
	static const char base[] = "/latest/meta-data/iam/security-credentials/";
	char *role = NULL, *body = NULL, path[512], source[160];
	struct dt_err ierr = { 0 };
	json_t *j = NULL;
	int ret = 0;
	size_t n;

	if (w->c->pool == NULL)
		return 0;
	if (imds_get(w->c->pool, w->env, base, &role, NULL, &ierr) < 0)
		return 0; /* no instance metadata: not on EC2, or it is disabled */
	n = strcspn(role, "\r\n");
	role[n] = '\0';
	if (n == 0 || n > 128 || strpbrk(role, "/?#%")) {
		ret = dt_fail(err, DT_EFORMAT, "instance metadata names no usable role");
		goto out;
	}
	snprintf(path, sizeof(path), "%s%s", base, role);
	if (imds_get(w->c->pool, w->env, path, &body, NULL, err) < 0) {
		ret = -1;
		goto out;
	}
	j = json_loads(body, 0, NULL);
	if (!json_is_object(j) ||
	    (json_string_value(json_object_get(j, "Code")) &&
	     strcmp(json_string_value(json_object_get(j, "Code")), "Success") != 0)) {
		ret = dt_fail(err, DT_EFORMAT, "instance metadata: role '%s' has no credentials",
			      role);
		goto out;
	}
	snprintf(source, sizeof(source), "instance role '%s'", role);
	if (set_value(v, json_string_value(json_object_get(j, "AccessKeyId")),
		      json_string_value(json_object_get(j, "SecretAccessKey")),
		      json_string_value(json_object_get(j, "Token")),
		      parse_time(json_string_value(json_object_get(j, "Expiration"))), source,
		      err) < 0) {
		ret = -1;
		goto out;
	}
	if (!v->access_key_id[0] || !v->secret_access_key[0]) {
		ret = dt_fail(err, DT_EFORMAT, "instance metadata: role '%s' has no keys", role);
		goto out;
	}
	ret = 1;
out:
	json_decref(j);
	wipe_free(body);
	free(role);
	return ret;
}

/* The AssumeRole response: Credentials/{AccessKeyId,SecretAccessKey,SessionToken,Expiration}. */
struct sts_state {
	int in_creds;
	int field; /* 0 none, 1..4 the one being read */
	int failed; /* a field did not fit (its buffer's limit, or out of memory) */
	struct buf f[5];
};

static void XMLCALL
sts_start(void *ud, const XML_Char *name, const XML_Char **attr)
{
	static const char *const fields[] = { NULL, "AccessKeyId", "SecretAccessKey",
					      "SessionToken", "Expiration" };
	struct sts_state *s = ud;
	const char *local = strrchr(name, ' ');

	(void)attr;
	local = local ? local + 1 : name;
	if (strcmp(local, "Credentials") == 0) {
		s->in_creds = 1;
		return;
	}
	s->field = 0;
	for (int i = 1; s->in_creds && i < 5; i++)
		if (strcmp(local, fields[i]) == 0)
			s->field = i;
}

static void XMLCALL
sts_end(void *ud, const XML_Char *name)
{
	struct sts_state *s = ud;
	const char *local = strrchr(name, ' ');

	local = local ? local + 1 : name;
	if (strcmp(local, "Credentials") == 0)
		s->in_creds = 0;
	s->field = 0;
}

static void XMLCALL
sts_text(void *ud, const XML_Char *text, int len)
{
	struct sts_state *s = ud;

	if (s->field && buf_add(&s->f[s->field], text, (size_t)len, NULL) < 0)
		s->failed = 1;
}

static int
parse_sts(const void *body, size_t len, const char *source, struct creds_value *v,
	  struct dt_err *err)
{
	XML_Parser p = XML_ParserCreateNS(NULL, ' ');
	struct sts_state s = { 0 };
	int ok, ret = -1;

	if (p == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate an XML parser");
	for (int i = 0; i < 5; i++)
		buf_init(&s.f[i], 8192);
	XML_SetUserData(p, &s);
	XML_SetElementHandler(p, sts_start, sts_end);
	XML_SetCharacterDataHandler(p, sts_text);
	ok = XML_Parse(p, body, (int)len, 1) == XML_STATUS_OK && !s.failed;
	for (int i = 1; i < 5; i++)
		if (buf_addc(&s.f[i], 0, NULL) < 0)
			ok = 0;
	if (!ok || !s.f[1].data[0] || !s.f[2].data[0])
		dt_fail(err, DT_EFORMAT, "AssumeRole: the response holds no credentials");
	else
		ret = set_value(v, (char *)s.f[1].data, (char *)s.f[2].data, (char *)s.f[3].data,
				parse_time((char *)s.f[4].data), source, err);
	for (int i = 0; i < 5; i++) {
		if (s.f[i].data)
			OPENSSL_cleanse(s.f[i].data, s.f[i].cap);
		buf_release(&s.f[i]);
	}
	XML_ParserFree(p);
	return ret;
}

/* The region STS is asked in: the provider's, else the SDK's lookup. */
static int
sts_region(struct walk *w, struct dt_err *err)
{
	if (w->region[0])
		return 0;
	if (w->c->region)
		return copy_field(w->region, sizeof(w->region), w->c->region, "the region", err);
	return endpoint_region(w->env, w->pf, w->c->pool, w->region, err);
}

static int
add_form(struct buf *b, const char *key, const char *value, struct dt_err *err)
{
	if (value == NULL)
		return 0;
	if (buf_printf(b, err, "&%s=", key) < 0)
		return -1;
	return sigv4_uri_encode(b, value, strlen(value), 0, err);
}

/* STS AssumeRole (query protocol) signed with src; the answer into v. */
static int
assume_role(struct walk *w, const struct creds_value *src, const char *role_arn,
	    const char *external_id, const char *session_name, long duration_s,
	    struct creds_value *v, struct dt_err *err)
{
	struct sigv4_header ct = { "Content-Type",
				   "application/x-www-form-urlencoded; charset=utf-8" };
	struct http_request req = { 0 };
	struct http_response resp = { 0 };
	struct creds *sc = NULL;
	char url[ENDPOINT_MAX_URL + 2], dur[24], source[160];
	struct buf form;
	int ret = -1;

	if (w->c->pool == NULL)
		return dt_fail(err, DT_EUSAGE, "cannot assume role '%s' without HTTP", role_arn);
	buf_init(&form, 16384);
	snprintf(dur, sizeof(dur), "%ld", duration_s);
	if (sts_region(w, err) < 0 ||
	    endpoint_url(w->env, w->pf, ENDPOINT_STS, w->region, url, err) < 0)
		goto out;
	memcpy(url + strlen(url), "/", 2);
	if (buf_adds(&form, "Action=AssumeRole&Version=2011-06-15", err) < 0 ||
	    add_form(&form, "RoleArn", role_arn, err) < 0 ||
	    add_form(&form, "RoleSessionName", session_name, err) < 0 ||
	    add_form(&form, "DurationSeconds", dur, err) < 0 ||
	    add_form(&form, "ExternalId", external_id, err) < 0)
		goto out;
	if (creds_new_static(src->access_key_id, src->secret_access_key, src->session_token, &sc,
			     err) < 0)
		goto out;
	req.operation = "AssumeRole";
	req.method = "POST";
	req.url = url;
	req.headers = &ct;
	req.nheaders = 1;
	req.body = form.data;
	req.body_len = form.len;
	req.creds = sc;
	req.region = w->region;
	req.service = "sts";
	req.max_body = STS_MAX_BODY;
	if (http_do(w->c->pool, &req, &resp, err) < 0)
		goto out;
	snprintf(source, sizeof(source), "role '%.100s' (%.40s)", role_arn, src->source);
	ret = parse_sts(resp.body.data, resp.body.len, source, v, err);
out:
	http_response_release(&resp);
	creds_free(sc);
	buf_release(&form);
	return ret;
}

/* A key of a profile: the credentials file first, then the config file. */
static const char *
pget(struct walk *w, const char *profile, const char *key)
{
	const char *v = profile_credentials(w->pf, profile, key);

	return v ? v : profile_config(w->pf, profile, key);
}

static int from_profile(struct walk *w, const char *name, int depth, struct creds_value *v,
			struct dt_err *err);

/* role_arn with source_profile or credential_source. */
static int
profile_role(struct walk *w, const char *name, const char *role_arn, int depth,
	     struct creds_value *v, struct dt_err *err)
{
	const char *src_name = pget(w, name, "source_profile");
	const char *csrc = pget(w, name, "credential_source");
	const char *dur = pget(w, name, "duration_seconds");
	const char *sess = pget(w, name, "role_session_name");
	struct creds_value src;
	long duration = w->c->duration_s;
	int found, ret;

	if (dur && *dur)
		duration = strtol(dur, NULL, 10);
	if (src_name && *src_name) {
		if (strcmp(src_name, name) == 0) {
			/* A profile may be its own source: its static keys. */
			const char *akid = pget(w, name, "aws_access_key_id");
			const char *sk = pget(w, name, "aws_secret_access_key");
			if (akid == NULL || sk == NULL)
				return dt_fail(err, DT_EUSAGE,
					       "profile '%s' is its own "
					       "source_profile but has no keys",
					       name);
			found = set_value(&src, akid, sk, pget(w, name, "aws_session_token"), 0,
					  "profile keys", err) < 0
					? -1
					: 1;
		} else {
			found = from_profile(w, src_name, depth + 1, &src, err);
		}
	} else if (csrc && strcasecmp(csrc, "Environment") == 0) {
		found = from_env(w, &src, err);
	} else if (csrc && strcasecmp(csrc, "Ec2InstanceMetadata") == 0) {
		found = from_imds(w, &src, err);
	} else {
		return dt_fail(
			err, DT_EUSAGE,
			"profile '%s' has role_arn but no source_profile or credential_source",
			name);
	}
	if (found < 0)
		return -1;
	if (found == 0) {
		creds_value_wipe(&src);
		return dt_fail(err, DT_EUSAGE, "profile '%s': its source has no credentials", name);
	}
	ret = assume_role(w, &src, role_arn, pget(w, name, "external_id"),
			  sess && *sess ? sess : w->c->session_name, duration, v, err);
	creds_value_wipe(&src);
	return ret < 0 ? -1 : 1;
}

/* 1: found; 0: the profile has no credentials; -1: an error. */
static int
from_profile(struct walk *w, const char *name, int depth, struct creds_value *v, struct dt_err *err)
{
	const char *role = pget(w, name, "role_arn");
	const char *akid, *sk;
	char source[160];

	if (depth > MAX_ROLE_CHAIN)
		return dt_fail(err, DT_EUSAGE, "profile '%s': source_profile chain deeper than %d",
			       name, MAX_ROLE_CHAIN);
	if (role && *role)
		return profile_role(w, name, role, depth, v, err);
	akid = profile_credentials(w->pf, name, "aws_access_key_id");
	sk = profile_credentials(w->pf, name, "aws_secret_access_key");
	if (akid && sk) {
		snprintf(source, sizeof(source), "profile '%.100s' (credentials file)", name);
		return set_value(v, akid, sk, profile_credentials(w->pf, name, "aws_session_token"),
				 0, source, err) < 0
			       ? -1
			       : 1;
	}
	akid = profile_config(w->pf, name, "aws_access_key_id");
	sk = profile_config(w->pf, name, "aws_secret_access_key");
	if (akid && sk) {
		snprintf(source, sizeof(source), "profile '%.100s' (config file)", name);
		return set_value(v, akid, sk, profile_config(w->pf, name, "aws_session_token"), 0,
				 source, err) < 0
			       ? -1
			       : 1;
	}
	if (depth > 0 && !profile_exists(w->pf, name))
		return dt_fail(err, DT_EUSAGE, "source_profile '%s' not found", name);
	return 0;
}

/* The chain, then the provider's own role on top. */
static int
resolve(struct creds *c, struct creds_value *v, struct dt_err *err)
{
	struct walk w = { c, (const char *const *)c->env, NULL, "" };
	const char *profile = c->profile ? c->profile : profile_name(w.env);
	int explicit = c->profile || strcmp(profile, "default") != 0;
	struct creds_value base;
	int found, ret = -1;

	if (profile_load(w.env, &w.pf, err) < 0)
		return -1;
	memset(&base, 0, sizeof(base));
	found = from_env(&w, &base, err);
	if (found == 0) {
		if (explicit && !profile_exists(w.pf, profile)) {
			dt_fail(err, DT_EUSAGE, "AWS profile '%s' not found", profile);
			goto out;
		}
		found = from_profile(&w, profile, 0, &base, err);
	}
	if (found == 0)
		found = from_imds(&w, &base, err);
	if (found < 0)
		goto out;
	if (found == 0) {
		dt_fail(err, DT_EUSAGE,
			"no AWS credentials: none in the environment, in profile '%s' or from "
			"instance metadata",
			profile);
		goto out;
	}
	if (c->role_arn)
		ret = assume_role(&w, &base, c->role_arn, c->external_id, c->session_name,
				  c->duration_s, v, err);
	else
		ret = (*v = base, 0);
out:
	creds_value_wipe(&base);
	profile_free(w.pf);
	return ret;
}

int
creds_get(struct creds *c, struct creds_value *out, struct dt_err *err)
{
	time_t now = time(NULL);
	int ret = 0;

	pthread_mutex_lock(&c->lock);
	if (!c->have || (c->cur.expiration && c->cur.expiration - now <= CREDS_REFRESH_WINDOW_S)) {
		struct creds_value fresh;
		struct dt_err rerr = { 0 };

		if (resolve(c, &fresh, &rerr) == 0) {
			creds_value_wipe(&c->cur);
			c->cur = fresh;
			c->have = 1;
		} else if (!(c->have && c->cur.expiration > now)) {
			/* Still-valid credentials outlive a failed early refresh. */
			dt_fail(err, rerr.code, "%s", rerr.msg);
			ret = -1;
		}
		creds_value_wipe(&fresh);
	}
	if (ret == 0)
		*out = c->cur;
	pthread_mutex_unlock(&c->lock);
	return ret;
}
