/*
 * endpoint.h - which region, and which URL for each service, as the AWS SDKs decide.
 * Region: AWS_REGION, AWS_DEFAULT_REGION, the profile's "region" in the config file, then
 * IMDS (placement/region). Endpoint: AWS_ENDPOINT_URL_<SERVICE> (EBS, EC2, STS, S3, SQS),
 * AWS_ENDPOINT_URL, the profile's "endpoint_url", then https://<service>.<region>.amazonaws.com
 * (.amazonaws.com.cn in cn- regions). AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true skips the
 * overrides. Tests point every endpoint at 127.0.0.1.
 */
#ifndef DELTAIR_AWS_ENDPOINT_H
#define DELTAIR_AWS_ENDPOINT_H

#include <stddef.h>

#include "error.h"

#define ENDPOINT_MAX_REGION 64
#define ENDPOINT_MAX_URL    1024

struct http_pool;
struct profile_files;

enum endpoint_service { ENDPOINT_EBS, ENDPOINT_EC2, ENDPOINT_STS, ENDPOINT_S3, ENDPOINT_SQS };

/* The SigV4 signing name: "ebs", "ec2", "sts", "s3", "sqs". */
const char *endpoint_signing_name(enum endpoint_service s);

/*
 * The region into out. env as in profile.h; pf may be NULL (no files); pool may be NULL
 * (no IMDS). None found, or a name that is not a region's: DT_EUSAGE.
 */
int endpoint_region(const char *const *env, const struct profile_files *pf, struct http_pool *pool,
		    char out[ENDPOINT_MAX_REGION], struct dt_err *err);

/*
 * The configured override of service s alone (AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, the
 * profile's endpoint_url) into out: 1 when there is one, 0 when none (out ""), -1 when it is
 * not an http(s) URL (DT_EUSAGE). SQS uses it: without an override, the queue URL's own host.
 */
int endpoint_override(const char *const *env, const struct profile_files *pf,
		      enum endpoint_service s, char out[ENDPOINT_MAX_URL], struct dt_err *err);
/* The base URL (no trailing '/') of service s in region into out. Bad override: DT_EUSAGE. */
int endpoint_url(const char *const *env, const struct profile_files *pf, enum endpoint_service s,
		 const char *region, char out[ENDPOINT_MAX_URL], struct dt_err *err);

#endif
