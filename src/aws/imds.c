/* imds.c - see imds.h. */
#include "aws/imds.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "aws/http.h"
#include "aws/profile.h"

#include "banned.h"

static long
env_long(const char *const *env, const char *name, long dflt, long lo, long hi)
{
	const char *v = profile_env(env, name);
	char *end;
	long n;

	if (v == NULL || !*v)
		return dflt;
	n = strtol(v, &end, 10);
	return (*end || n < lo || n > hi) ? dflt : n;
}

int
imds_get(struct http_pool *pool, const char *const *env, const char *path, char **out, long *status,
	 struct dt_err *err)
{
	const char *disabled = profile_env(env, "AWS_EC2_METADATA_DISABLED");
	const char *base = profile_env(env, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
	struct sigv4_header ttl = { "X-aws-ec2-metadata-token-ttl-seconds", "21600" };
	struct sigv4_header tok;
	struct http_request req = { 0 };
	struct http_response resp;
	char url[1024], op[128];
	char *token = NULL;
	size_t blen;
	int ret = -1;

	*out = NULL;
	if (status)
		*status = 0;
	if (disabled && strcasecmp(disabled, "true") == 0)
		return dt_fail(err, DT_ENET,
			       "instance metadata is disabled "
			       "(AWS_EC2_METADATA_DISABLED)");
	if (base == NULL || !*base)
		base = IMDS_DEFAULT_ENDPOINT;
	blen = strlen(base);
	while (blen > 0 && base[blen - 1] == '/')
		blen--;
	req.timeout_ms = 1000 * env_long(env, "AWS_METADATA_SERVICE_TIMEOUT", 1, 1, 3600);
	req.max_attempts =
		(int)env_long(env, "AWS_METADATA_SERVICE_NUM_ATTEMPTS", 1, 1, HTTP_MAX_ATTEMPTS);
	req.max_body = IMDS_MAX_BODY;

	snprintf(url, sizeof(url), "%.*s/latest/api/token", (int)blen, base);
	req.operation = "IMDS token";
	req.method = "PUT";
	req.url = url;
	req.headers = &ttl;
	req.nheaders = 1;
	if (http_do(pool, &req, &resp, err) < 0) {
		http_response_release(&resp);
		return -1;
	}
	token = strndup((const char *)resp.body.data, resp.body.len);
	http_response_release(&resp);
	if (token == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate the IMDS token");

	if (snprintf(url, sizeof(url), "%.*s%s", (int)blen, base, path) >= (int)sizeof(url)) {
		dt_fail(err, DT_EUSAGE, "IMDS path too long");
		goto out;
	}
	tok = (struct sigv4_header){ "X-aws-ec2-metadata-token", token };
	snprintf(op, sizeof(op), "IMDS GET %.100s", path);
	req.operation = op;
	req.method = "GET";
	req.headers = &tok;
	if (http_do(pool, &req, &resp, err) == 0) {
		*out = strndup((const char *)resp.body.data, resp.body.len);
		if (*out == NULL)
			dt_fail(err, DT_ENOMEM, "cannot allocate an IMDS answer");
		else
			ret = 0;
	}
	if (status)
		*status = resp.status;
	http_response_release(&resp);
out:
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	return ret;
}
