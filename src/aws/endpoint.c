/* endpoint.c - see endpoint.h. */
#include "aws/endpoint.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/imds.h"
#include "aws/profile.h"

#include "banned.h"

static const struct {
	const char *signing; /* SigV4 name and host prefix */
	const char *env;     /* AWS_ENDPOINT_URL_<env> */
} services[] = {
	[ENDPOINT_EBS] = { "ebs", "EBS" }, [ENDPOINT_EC2] = { "ec2", "EC2" },
	[ENDPOINT_STS] = { "sts", "STS" }, [ENDPOINT_S3] = { "s3", "S3" },
	[ENDPOINT_SQS] = { "sqs", "SQS" },
};

const char *
endpoint_signing_name(enum endpoint_service s)
{
	return services[s].signing;
}

/* A region is lower-case letters, digits and '-': it goes into host names and scopes. */
static int
valid_region(const char *r)
{
	size_t n = strlen(r);

	if (n == 0 || n >= ENDPOINT_MAX_REGION)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)r[i]) || isdigit((unsigned char)r[i]) || r[i] == '-'))
			return 0;
	return 1;
}

static int
set_region(char out[ENDPOINT_MAX_REGION], const char *r, const char *from, struct dt_err *err)
{
	if (!valid_region(r))
		return dt_fail(err, DT_EUSAGE, "'%.80s' from %s is not an AWS region", r, from);
	memcpy(out, r, strlen(r) + 1);
	return 0;
}

int
endpoint_region(const char *const *env, const struct profile_files *pf, struct http_pool *pool,
		char out[ENDPOINT_MAX_REGION], struct dt_err *err)
{
	const char *r;
	char *imds = NULL, from[160];
	struct dt_err ierr = { 0 };
	int ret;

	out[0] = '\0';
	if ((r = profile_env(env, "AWS_REGION")) && *r)
		return set_region(out, r, "AWS_REGION", err);
	if ((r = profile_env(env, "AWS_DEFAULT_REGION")) && *r)
		return set_region(out, r, "AWS_DEFAULT_REGION", err);
	if ((r = profile_config(pf, profile_name(env), "region")) && *r) {
		snprintf(from, sizeof(from), "profile '%.100s'", profile_name(env));
		return set_region(out, r, from, err);
	}
	if (pool &&
	    imds_get(pool, env, "/latest/meta-data/placement/region", &imds, NULL, &ierr) == 0) {
		size_t n = strlen(imds);
		while (n > 0 && isspace((unsigned char)imds[n - 1]))
			imds[--n] = '\0';
		ret = set_region(out, imds, "instance metadata", err);
		free(imds);
		return ret;
	}
	return dt_fail(err, DT_EUSAGE, "no AWS region: set AWS_REGION or the profile's region%s%s",
		       pool ? "; instance metadata: " : "", pool ? ierr.msg : "");
}

static int
set_url(char out[ENDPOINT_MAX_URL], const char *url, const char *from, struct dt_err *err)
{
	size_t n = strlen(url);

	while (n > 0 && url[n - 1] == '/')
		n--;
	if ((strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) ||
	    n >= ENDPOINT_MAX_URL || strpbrk(url, " \t\r\n?#"))
		return dt_fail(err, DT_EUSAGE, "%s: '%.200s' is not an http(s) URL", from, url);
	memcpy(out, url, n);
	out[n] = '\0';
	return 0;
}

int
endpoint_override(const char *const *env, const struct profile_files *pf, enum endpoint_service s,
		  char out[ENDPOINT_MAX_URL], struct dt_err *err)
{
	const char *ignore = profile_env(env, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
	char name[64];
	const char *v;

	out[0] = '\0';
	if (ignore && strcasecmp(ignore, "true") == 0)
		return 0;
	snprintf(name, sizeof(name), "AWS_ENDPOINT_URL_%s", services[s].env);
	if ((v = profile_env(env, name)) && *v)
		return set_url(out, v, name, err) < 0 ? -1 : 1;
	if ((v = profile_env(env, "AWS_ENDPOINT_URL")) && *v)
		return set_url(out, v, "AWS_ENDPOINT_URL", err) < 0 ? -1 : 1;
	if ((v = profile_config(pf, profile_name(env), "endpoint_url")) && *v)
		return set_url(out, v, "the profile's endpoint_url", err) < 0 ? -1 : 1;
	return 0;
}

int
endpoint_url(const char *const *env, const struct profile_files *pf, enum endpoint_service s,
	     const char *region, char out[ENDPOINT_MAX_URL], struct dt_err *err)
{
	int rc = endpoint_override(env, pf, s, out, err);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	if (region == NULL || !valid_region(region))
		return dt_fail(err, DT_EUSAGE, "no endpoint for %s without a region",
			       services[s].signing);
	snprintf(out, ENDPOINT_MAX_URL, "https://%s.%s.amazonaws.com%s", services[s].signing,
		 region, strncmp(region, "cn-", 3) == 0 ? ".cn" : "");
	return 0;
}
