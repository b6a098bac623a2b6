/*
 * creds.h - AWS credentials, found in the order the AWS SDKs look (docs/aws.md):
 *   1. the environment: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN;
 *   2. the shared files (aws/profile.h) for the profile (AWS_PROFILE, else "default"):
 *      role_arn + source_profile (+ external_id, role_session_name, duration_seconds) is an
 *      STS AssumeRole with the source profile's keys; else aws_access_key_id and friends,
 *      from the credentials file before the config file;
 *   3. IMDSv2 (aws/imds.h): a token, then the instance role's credentials.
 * With creds_options.role_arn set, what the chain found is then used to assume that role
 * (the cross-account forensics role). Temporary credentials are refreshed before they
 * expire. A struct creds is thread-safe. Secrets never enter an error message, and are
 * wiped (OPENSSL_cleanse) when freed.
 */
#ifndef DELTAIR_AWS_CREDS_H
#define DELTAIR_AWS_CREDS_H

#include <time.h>

#include "error.h"

struct http_pool;
struct creds;

/* Refresh temporary credentials this long before they expire. */
#define CREDS_REFRESH_WINDOW_S 300

struct creds_value {
	char access_key_id[128];
	char secret_access_key[256];
	char session_token[4096]; /* "" for long-term keys */
	time_t expiration;        /* 0: does not expire */
	char source[160];         /* where they came from, for messages; never a secret */
};

struct creds_options {
	const char *const *env; /* "NAME=value" array; NULL: the process environment */
	const char *profile;    /* NULL: AWS_PROFILE, AWS_DEFAULT_PROFILE, else "default" */
	const char *role_arn;   /* NULL, or a role to assume with what the chain found */
	const char *external_id;
	const char *session_name; /* NULL: "deltair" */
	long duration_s;          /* 0: 3600 */
	const char *region;       /* for STS; NULL: aws/endpoint.h's region */
};

/*
 * A provider. Nothing is looked up yet: the first creds_get() walks the chain. pool is
 * borrowed (for IMDS and STS) and must outlive c. *out is new: creds_free() it.
 */
int creds_new(const struct creds_options *o, struct http_pool *pool, struct creds **out,
	      struct dt_err *err) DT_MUST_USE;
/* Fixed keys (tests, or keys the caller read itself). The strings are copied. */
int creds_new_static(const char *access_key_id, const char *secret_access_key,
		     const char *session_token, struct creds **out, struct dt_err *err) DT_MUST_USE;
void creds_free(struct creds *c);

/* Current credentials into out, refreshed when near expiry. None found: DT_EUSAGE. */
int creds_get(struct creds *c, struct creds_value *out, struct dt_err *err) DT_MUST_USE;
/* Forget cached credentials, so the next creds_get() looks again (after ExpiredToken). */
void creds_invalidate(struct creds *c);
void creds_value_wipe(struct creds_value *v);

#endif
