/*
 * imds.h - the EC2 instance metadata service, version 2 only: a session token (PUT
 * /latest/api/token), then the GET with that token. Read from the environment:
 * AWS_EC2_METADATA_DISABLED=true turns it off; AWS_EC2_METADATA_SERVICE_ENDPOINT (default
 * http://169.254.169.254); AWS_METADATA_SERVICE_TIMEOUT seconds (1) and
 * AWS_METADATA_SERVICE_NUM_ATTEMPTS (1), as the SDKs read them.
 */
#ifndef DELTAIR_AWS_IMDS_H
#define DELTAIR_AWS_IMDS_H

#include <stddef.h>

#include "error.h"

#define IMDS_DEFAULT_ENDPOINT "http://169.254.169.254"
#define IMDS_MAX_BODY         (64u * 1024)

struct http_pool;

/*
 * GET path ("/latest/meta-data/placement/region"). *out is new, NUL-terminated: free it
 * (wipe it first when it holds credentials). Disabled, unreachable or an error: -1, DT_ENET;
 * *status is the HTTP status of the GET (404: no such item) or 0.
 */
int imds_get(struct http_pool *pool, const char *const *env, const char *path, char **out,
	     long *status, struct dt_err *err);

#endif
