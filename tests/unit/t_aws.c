/*
 * t_aws.c - the AWS client against tests/peers/http_faults.py on 127.0.0.1: retries and
 * their bounds, timeouts, resets, error lines, bodies into caller buffers; the credential
 * chain's order with fake files, an IMDSv2 peer and an STS peer whose signature check is
 * botocore's own signer; region and endpoint lookup. Nothing here reaches AWS: every
 * environment below names 127.0.0.1 or disables instance metadata.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "aws/creds.h"
#include "aws/endpoint.h"
#include "aws/http.h"
#include "aws/profile.h"
#include "aws/svcerr.h"
#include "t.h"

struct peer {
	pid_t pid;
	int port;
	char url[64];
};

/* Start the peer with plan (JSON text); 0 on success. It logs to peer.log. */
static int
peer_start(struct peer *p, const char *plan)
{
	char script[4096];
	int fds[2];
	const char *top = t_top();
	char line[32] = "";
	FILE *fp;

	if (top == NULL || t_write("plan.json", plan, strlen(plan)) < 0 || pipe(fds) < 0)
		return -1;
	snprintf(script, sizeof(script), "%s/tests/peers/http_faults.py", top);
	p->pid = fork();
	if (p->pid < 0)
		return -1;
	if (p->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execlp("python3", "python3", script, "plan.json", "peer.log", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	fp = fdopen(fds[0], "r");
	if (fp == NULL || fgets(line, sizeof(line), fp) == NULL) {
		if (fp)
			fclose(fp);
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		return -1;
	}
	fclose(fp);
	p->port = atoi(line);
	snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", p->port);
	return p->port > 0 ? 0 : -1;
}

static void
peer_stop(struct peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
	}
}

/* Requests the peer saw for "METHOD /path" (any path when route is NULL). */
static int
peer_count(const char *route)
{
	FILE *fp = fopen("peer.log", "r");
	char line[65536];
	int n = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp)) {
		json_t *j = json_loads(line, 0, NULL);
		char r[4096];
		const char *path = json_string_value(json_object_get(j, "path"));
		snprintf(r, sizeof(r), "%s %.*s", json_string_value(json_object_get(j, "method")),
			 path ? (int)strcspn(path, "?") : 0, path ? path : "");
		if (route == NULL || strcmp(r, route) == 0)
			n++;
		json_decref(j);
	}
	fclose(fp);
	return n;
}

/* The n-th logged request's header (its body when name is NULL): a new string, or NULL. */
static char *
peer_header(int n, const char *name)
{
	FILE *fp = fopen("peer.log", "r");
	char line[65536];
	char *v = NULL;

	if (fp == NULL)
		return NULL;
	for (int i = 0; fgets(line, sizeof(line), fp); i++) {
		if (i != n)
			continue;
		json_t *j = json_loads(line, 0, NULL);
		const char *s = json_string_value(
			name ? json_object_get(json_object_get(j, "headers"), name)
			     : json_object_get(j, "body"));
		v = s ? strdup(s) : NULL;
		json_decref(j);
	}
	fclose(fp);
	return v;
}

/* How many distinct client ports (connections) the peer saw. */
static int
peer_connections(void)
{
	FILE *fp = fopen("peer.log", "r");
	char line[65536];
	json_int_t ports[1024];
	int n = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp)) {
		json_t *j = json_loads(line, 0, NULL);
		json_int_t port = json_integer_value(json_object_get(j, "client_port"));
		int seen = 0;
		for (int i = 0; i < n; i++)
			seen |= ports[i] == port;
		if (!seen && n < 1024)
			ports[n++] = port;
		json_decref(j);
	}
	fclose(fp);
	return n;
}

static struct http_pool *
fast_pool(long timeout_ms, int attempts)
{
	struct http_options o = { 0 };
	struct http_pool *p = NULL;

	o.connect_timeout_ms = 1000;
	o.timeout_ms = timeout_ms;
	o.max_attempts = attempts;
	o.backoff_base_ms = 1;
	o.backoff_cap_ms = 20;
	if (http_pool_new(&o, &p, NULL) < 0)
		return NULL;
	return p;
}

/* A pool and a running peer; url is the peer's URL of one path. */
struct fx {
	struct peer pe;
	struct http_pool *pool;
	char url[256];
};

static void
fx_close(struct fx *f)
{
	peer_stop(&f->pe);
	http_pool_free(f->pool);
}

static int
fx_open(struct fx *f, long timeout_ms, int attempts, const char *path, const char *plan)
{
	memset(f, 0, sizeof(*f));
	f->pool = fast_pool(timeout_ms, attempts);
	if (f->pool == NULL || peer_start(&f->pe, plan) < 0) {
		fx_close(f);
		return -1;
	}
	snprintf(f->url, sizeof(f->url), "%s%s", f->pe.url, path);
	return 0;
}

static int
get(struct http_pool *pool, const char *url, const char *op, struct http_response *r,
    struct dt_err *err)
{
	struct http_request q = { 0 };

	q.operation = op;
	q.method = "GET";
	q.url = url;
	return http_do(pool, &q, r, err);
}

/* Asked once per run: each ask starts a Python. */
static int
have_python(void)
{
	static int known = -1;

	if (known < 0)
		known = system("python3 -c 'import http.server' >/dev/null 2>&1") == 0;
	return known;
}

static int
have_botocore(void)
{
	static int known = -1;

	if (known < 0)
		known = system("python3 -c 'import botocore.auth' >/dev/null 2>&1") == 0;
	return known;
}

TEST(t_http_backoff_stays_within_full_jitter_bounds)
{
	struct http_options o = { 0 };

	o.backoff_base_ms = 100;
	o.backoff_cap_ms = 20000;
	for (int a = 1; a <= 20; a++) {
		long ceil = 100L << (a - 1 < 20 ? a - 1 : 20);
		double sum = 0;
		if (ceil > 20000)
			ceil = 20000;
		CHECK(http_backoff_ms(&o, a, 0) == 0);
		CHECK(http_backoff_ms(&o, a, UINT32_MAX) == ceil);
		for (int i = 0; i < 2000; i++) {
			uint32_t r = (uint32_t)random() ^ ((uint32_t)random() << 16);
			long d = http_backoff_ms(&o, a, r);
			CHECK(d >= 0 && d <= ceil);
			sum += (double)d;
		}
		/* Uniform over [0, ceil]: the mean is near ceil / 2. */
		CHECK(sum / 2000 > ceil * 0.4 && sum / 2000 < ceil * 0.6);
	}
}

TEST(t_http_retries_throttling_and_5xx_then_succeeds)
{
	struct fx f;
	struct http_response r;
	struct dt_err err = { 0 };

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 5000, 6, "/x",
			"{\"routes\":{\"GET /x\":["
			"{\"status\":429,\"body\":\"slow\"},"
			"{\"status\":503,\"body\":\"\"},"
			"{\"status\":400,\"json\":{\"__type\":\"com.amazon#ThrottlingException\"}},"
			"{\"status\":400,\"body\":\"<Response><Errors><Error><Code>"
			"RequestLimitExceeded</Code></Error></Errors></Response>\"},"
			"{\"status\":502,\"body\":\"\"},"
			"{\"status\":200,\"body\":\"ok\"}]}}") == 0);
	CHECK(get(f.pool, f.url, "ListSnapshotBlocks", &r, &err) == 0);
	CHECK(r.attempts == 6 && r.status == 200 && r.len == 2);
	CHECK(r.body.data && memcmp(r.body.data, "ok", 2) == 0);
	CHECK(peer_count("GET /x") == 6);
	http_response_release(&r);
	fx_close(&f);
}

TEST(t_http_attempts_are_bounded_and_error_names_op_status_code)
{
	struct fx f;
	struct http_response r;
	struct dt_err err = { 0 };

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 5000, 3, "/b/k",
			"{\"routes\":{\"GET /b/k\":[{\"status\":503,\"body\":"
			"\"<?xml version=\\\"1.0\\\"?><Error><Code>SlowDown</Code>"
			"<Message>Please reduce\\nyour rate</Message></Error>\"}]}}") == 0);
	CHECK(get(f.pool, f.url, "GetObject", &r, &err) == -1);
	CHECK(err.code == DT_ENET);
	CHECK(strcmp(err.msg,
		     "GetObject: HTTP 503 SlowDown: Please reduce your rate (3 attempts)") == 0);
	CHECK(r.attempts == 3 && peer_count("GET /b/k") == 3);
	CHECK(strcmp(r.error.code, "SlowDown") == 0);
	http_response_release(&r);
	fx_close(&f);
}

TEST(t_http_client_errors_are_not_retried)
{
	struct fx f;
	struct http_response r;
	struct dt_err err = { 0 };

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 5000, 5, "/s",
			"{\"routes\":{\"GET /s\":[{\"status\":403,\"json\":"
			"{\"message\":\"User is not authorized\"},\"headers\":"
			"{\"x-amzn-ErrorType\":\"AccessDeniedException:http://x/\"}}]}}") == 0);
	CHECK(get(f.pool, f.url, "GetSnapshotBlock", &r, &err) == -1);
	CHECK(strcmp(err.msg, "GetSnapshotBlock: HTTP 403 AccessDeniedException: User is not "
			      "authorized (1 attempt)") == 0);
	CHECK(peer_count(NULL) == 1);
	http_response_release(&r);
	fx_close(&f);
}

/*
 * S3's ExpiredToken (XML, 400): the credentials are looked up again and the operation runs
 * once more; an answer that stays expired ends after that one more run, not in a loop.
 */
TEST(t_http_expired_credentials_run_the_operation_once_more)
{
	struct fx f;
	struct http_request q = { 0 };
	struct http_response r;
	struct creds *c = NULL;
	struct dt_err err = { 0 };

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 5000, 3, "/b/k",
			"{\"routes\":{\"GET /b/k\":[{\"status\":400,\"body\":"
			"\"<Error><Code>ExpiredToken</Code><Message>The provided token has "
			"expired.</Message></Error>\"},{\"status\":200,\"body\":\"data\"}],"
			"\"GET /b/gone\":[{\"status\":400,\"body\":"
			"\"<Error><Code>ExpiredToken</Code></Error>\"}]}}") == 0);
	REQUIRE(creds_new_static("AKIDEXAMPLE", "secret", NULL, &c, &err) == 0);
	q.operation = "GetObject";
	q.method = "GET";
	q.url = f.url;
	q.creds = c;
	q.region = "us-east-1";
	q.service = "s3";
	CHECK(http_do(f.pool, &q, &r, &err) == 0 && r.body.len == 4 &&
	      memcmp(r.body.data, "data", 4) == 0);
	CHECK(peer_count("GET /b/k") == 2);
	http_response_release(&r);
	snprintf(f.url, sizeof(f.url), "%s/b/gone", f.pe.url);
	CHECK(http_do(f.pool, &q, &r, &err) == -1 && strcmp(r.error.code, "ExpiredToken") == 0 &&
	      strstr(err.msg, "GetObject: HTTP 400 ExpiredToken"));
	CHECK(peer_count("GET /b/gone") == 2);
	http_response_release(&r);
	creds_free(c);
	fx_close(&f);
}

TEST(t_http_resets_and_short_bodies_are_retried)
{
	struct fx f;
	struct http_response r;
	struct dt_err err = { 0 };

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 5000, 4, "/blk",
			"{\"routes\":{\"GET /blk\":[{\"reset\":true},"
			"{\"partial\":10,\"length\":100},"
			"{\"status\":200,\"body\":\"whole block\"}]}}") == 0);
	CHECK(get(f.pool, f.url, "GetSnapshotBlock", &r, &err) == 0);
	CHECK(r.attempts == 3 && r.len == 11);
	http_response_release(&r);
	fx_close(&f);
}

TEST(t_http_timeouts_are_retried_and_bounded)
{
	struct fx f;
	struct http_response r;
	struct dt_err err = { 0 };
	time_t t0;

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 300, 2, "/slow",
			"{\"routes\":{\"GET /slow\":[{\"delay\":2,\"status\":200},"
			"{\"status\":200,\"body\":\"late\"}],"
			"\"GET /hang\":[{\"delay\":30,\"status\":200}]}}") == 0);
	CHECK(get(f.pool, f.url, "Slow", &r, &err) == 0);
	CHECK(r.attempts == 2);
	http_response_release(&r);
	snprintf(f.url, sizeof(f.url), "%s/hang", f.pe.url);
	t0 = time(NULL);
	CHECK(get(f.pool, f.url, "Hang", &r, &err) == -1);
	/* Two attempts of 0.3 s: never the peer's 30 s. */
	CHECK(time(NULL) - t0 < 5);
	CHECK(err.code == DT_ENET && strstr(err.msg, "Hang: ") == err.msg &&
	      strstr(err.msg, "(2 attempts)"));
	CHECK(strstr(err.msg, "imed out") != NULL);
	http_response_release(&r);
	fx_close(&f);
}

TEST(t_http_body_lands_in_caller_buffer_with_headers)
{
	struct fx f;
	struct http_request q = { 0 };
	struct http_response r;
	struct dt_err err = { 0 };
	char dst[16];

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 5000, 2, "/b",
			"{\"routes\":{\"GET /b\":[{\"status\":200,\"body\":"
			"\"0123456789abcdef\",\"headers\":{\"x-amz-Checksum\":"
			"\"c2hh\",\"x-amz-Data-Length\":\"16\"}}]}}") == 0);
	q.operation = "GetSnapshotBlock";
	q.method = "GET";
	q.url = f.url;
	q.dst = dst;
	q.dst_cap = sizeof(dst);
	CHECK(http_do(f.pool, &q, &r, &err) == 0);
	CHECK(r.len == 16 && memcmp(dst, "0123456789abcdef", 16) == 0);
	CHECK(r.body.len == 0);
	CHECK(http_response_header(&r, "X-Amz-Checksum") &&
	      strcmp(http_response_header(&r, "X-Amz-Checksum"), "c2hh") == 0);
	CHECK(http_response_header(&r, "x-amz-data-length") &&
	      strcmp(http_response_header(&r, "x-amz-data-length"), "16") == 0);
	http_response_release(&r);
	q.dst_cap = 8;
	CHECK(http_do(f.pool, &q, &r, &err) == -1 && err.code == DT_EFORMAT);
	CHECK(r.attempts == 1);
	http_response_release(&r);
	fx_close(&f);
}

#define SIG_SPEC                                                                     \
	"\"verify_sigv4\":{\"access_key\":\"AKIDTEST\",\"secret\":\"s3cr3t/KEY+x\"," \
	"\"token\":\"TOKEN/abc+=\",\"region\":\"eu-west-1\",\"service\":\"ebs\"}"

TEST(t_http_signature_checked_by_botocore)
{
	struct fx f;
	struct http_request q = { 0 };
	struct http_response r;
	struct dt_err err = { 0 };
	struct creds *good = NULL, *bad = NULL;
	struct sigv4_header h = { "Content-Type", "application/json" };
	char url[256];

	if (!have_python() || !have_botocore())
		SKIP("needs python3 with botocore");
	REQUIRE(fx_open(&f, 5000, 3, "",
			"{\"routes\":{\"POST /snapshots/snap-1/blocks\":[{" SIG_SPEC
			",\"status\":200,\"json\":{\"ok\":1}}]}}") == 0);
	REQUIRE(creds_new_static("AKIDTEST", "s3cr3t/KEY+x", "TOKEN/abc+=", &good, &err) == 0);
	REQUIRE(creds_new_static("AKIDTEST", "wrong", "TOKEN/abc+=", &bad, &err) == 0);
	snprintf(url, sizeof(url), "%s/snapshots/snap-1/blocks?pageToken=a%%2Bb&maxResults=100",
		 f.pe.url);
	q.operation = "ListSnapshotBlocks";
	q.method = "POST";
	q.url = url;
	q.headers = &h;
	q.nheaders = 1;
	q.body = "{\"x\": 1}";
	q.body_len = 8;
	q.creds = good;
	q.region = "eu-west-1";
	q.service = "ebs";
	CHECK(http_do(f.pool, &q, &r, &err) == 0);
	if (err.msg[0])
		fprintf(stderr, "  %s\n", err.msg);
	http_response_release(&r);
	q.creds = bad;
	dt_clear(&err);
	CHECK(http_do(f.pool, &q, &r, &err) == -1);
	CHECK(strstr(err.msg, "HTTP 403 SignatureDoesNotMatch") != NULL);
	CHECK(strstr(err.msg, "wrong") == NULL && strstr(err.msg, "TOKEN") == NULL);
	http_response_release(&r);
	creds_free(good);
	creds_free(bad);
	fx_close(&f);
}

TEST(t_svcerr_reads_each_protocol)
{
	struct svcerr e;
	const char *s3 = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The key"
			 "</Message><Key>a</Key></Error>";
	const char *ec2 = "<Response><Errors><Error><Code>InvalidSnapshot.NotFound</Code>"
			  "<Message>no snap</Message></Error></Errors><RequestID>1</RequestID>"
			  "</Response>";
	const char *sts = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
			  "<Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not "
			  "allowed</Message></Error></ErrorResponse>";
	const char *json = "{\"__type\":\"aws.ebs#ValidationException\",\"Message\":\"bad\"}";
	/* A message naming <Code> inside text must not be taken for the code. */
	const char *tricky = "<Error><Message>see &lt;Code&gt;X&lt;/Code&gt;</Message>"
			     "<Code>Real</Code></Error>";

	svcerr_parse(NULL, s3, strlen(s3), &e);
	CHECK(strcmp(e.code, "NoSuchKey") == 0 && strcmp(e.message, "The key") == 0);
	svcerr_parse(NULL, ec2, strlen(ec2), &e);
	CHECK(strcmp(e.code, "InvalidSnapshot.NotFound") == 0);
	svcerr_parse(NULL, sts, strlen(sts), &e);
	CHECK(strcmp(e.code, "AccessDenied") == 0 && strcmp(e.message, "not allowed") == 0);
	svcerr_parse(NULL, json, strlen(json), &e);
	CHECK(strcmp(e.code, "ValidationException") == 0 && strcmp(e.message, "bad") == 0);
	svcerr_parse("ThrottlingException:http://internal", "{}", 2, &e);
	CHECK(strcmp(e.code, "ThrottlingException") == 0);
	svcerr_parse(NULL, tricky, strlen(tricky), &e);
	CHECK(strcmp(e.code, "Real") == 0 && strcmp(e.message, "see <Code>X</Code>") == 0);
	svcerr_parse(NULL, "garbage", 7, &e);
	CHECK(e.code[0] == '\0' && e.message[0] == '\0');
	CHECK(svcerr_is_throttle("SlowDown") && svcerr_is_throttle("RequestLimitExceeded") &&
	      !svcerr_is_throttle("AccessDenied"));
}

TEST(t_endpoint_region_order)
{
	const char *both[] = { "AWS_REGION=eu-west-3", "AWS_DEFAULT_REGION=us-west-2", "HOME=.",
			       NULL };
	const char *dflt[] = { "AWS_DEFAULT_REGION=us-west-2", "HOME=.", NULL };
	const char *prof[] = { "HOME=.", "AWS_PROFILE=dev", NULL };
	const char *none[] = { "HOME=.", "AWS_PROFILE=nothere", NULL };
	const char *bad[] = { "AWS_REGION=../evil", NULL };
	struct profile_files *pf = NULL;
	struct dt_err err = { 0 };
	char r[ENDPOINT_MAX_REGION];
	const char *cfg = "[default]\nregion = ap-south-1\n[profile dev]\nregion=ca-central-1\n";

	REQUIRE(system("mkdir -p .aws") == 0);
	REQUIRE(t_write(".aws/config", cfg, strlen(cfg)) == 0);
	REQUIRE(profile_load(prof, &pf, &err) == 0);
	CHECK(endpoint_region(both, pf, NULL, r, &err) == 0 && strcmp(r, "eu-west-3") == 0);
	CHECK(endpoint_region(dflt, pf, NULL, r, &err) == 0 && strcmp(r, "us-west-2") == 0);
	CHECK(endpoint_region(prof, pf, NULL, r, &err) == 0 && strcmp(r, "ca-central-1") == 0);
	CHECK(endpoint_region(none, pf, NULL, r, &err) == -1 && err.code == DT_EUSAGE);
	dt_clear(&err);
	CHECK(endpoint_region(bad, pf, NULL, r, &err) == -1 && err.code == DT_EUSAGE);
	profile_free(pf);
}

TEST(t_endpoint_region_from_imds)
{
	struct fx f;
	char ep[128];
	const char *env[] = { "HOME=.", ep, NULL };
	struct dt_err err = { 0 };
	char r[ENDPOINT_MAX_REGION];

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 2000, 1, "",
			"{\"routes\":{\"PUT /latest/api/token\":[{\"status\":200,"
			"\"body\":\"TOK\"}],\"GET /latest/meta-data/placement/region\":"
			"[{\"need_header\":{\"X-aws-ec2-metadata-token\":\"TOK\"},"
			"\"status\":200,\"body\":\"sa-east-1\"}]}}") == 0);
	snprintf(ep, sizeof(ep), "AWS_EC2_METADATA_SERVICE_ENDPOINT=%s/", f.pe.url);
	CHECK(endpoint_region(env, NULL, f.pool, r, &err) == 0 && strcmp(r, "sa-east-1") == 0);
	if (err.msg[0])
		fprintf(stderr, "  %s\n", err.msg);
	fx_close(&f);
}

TEST(t_endpoint_url_overrides)
{
	const char *specific[] = { "AWS_ENDPOINT_URL=http://127.0.0.1:1",
				   "AWS_ENDPOINT_URL_EBS=http://127.0.0.1:2/", NULL };
	const char *global[] = { "AWS_ENDPOINT_URL=http://127.0.0.1:1", NULL };
	const char *ignored[] = { "AWS_ENDPOINT_URL=http://127.0.0.1:1",
				  "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true", NULL };
	const char *empty[] = { NULL };
	const char *bad[] = { "AWS_ENDPOINT_URL_S3=ftp://x", NULL };
	struct dt_err err = { 0 };
	char u[ENDPOINT_MAX_URL];

	CHECK(endpoint_url(specific, NULL, ENDPOINT_EBS, "us-east-1", u, &err) == 0 &&
	      strcmp(u, "http://127.0.0.1:2") == 0);
	CHECK(endpoint_url(specific, NULL, ENDPOINT_STS, "us-east-1", u, &err) == 0 &&
	      strcmp(u, "http://127.0.0.1:1") == 0);
	CHECK(endpoint_url(global, NULL, ENDPOINT_SQS, "us-east-1", u, &err) == 0 &&
	      strcmp(u, "http://127.0.0.1:1") == 0);
	CHECK(endpoint_url(ignored, NULL, ENDPOINT_EC2, "eu-central-1", u, &err) == 0 &&
	      strcmp(u, "https://ec2.eu-central-1.amazonaws.com") == 0);
	CHECK(endpoint_url(empty, NULL, ENDPOINT_S3, "cn-north-1", u, &err) == 0 &&
	      strcmp(u, "https://s3.cn-north-1.amazonaws.com.cn") == 0);
	CHECK(endpoint_url(bad, NULL, ENDPOINT_S3, "us-east-1", u, &err) == -1 &&
	      err.code == DT_EUSAGE);
	CHECK(strcmp(endpoint_signing_name(ENDPOINT_EBS), "ebs") == 0);
}

static const char cred_file[] = "[default]\naws_access_key_id = AKIDFILE\n"
				"aws_secret_access_key = secretfile\n"
				"[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key=sdev\n"
				"aws_session_token=tokdev\n"
				"[src]\naws_access_key_id=AKIDSRC\naws_secret_access_key=ssrc\n";
static const char config_file[] = "[default]\naws_access_key_id = AKIDCONFIG\n"
				  "aws_secret_access_key = secretconfig\nregion = us-east-2\n"
				  "[profile cfgonly]\naws_access_key_id = AKIDCFG2\n"
				  "aws_secret_access_key = scfg2\n"
				  "[profile dev]\naws_access_key_id = AKIDNOTTHIS\n"
				  "aws_secret_access_key = x\n";

static int
write_aws_files(int with_creds)
{
	if (system("mkdir -p .aws") != 0)
		return -1;
	if (with_creds && t_write(".aws/credentials", cred_file, strlen(cred_file)) < 0)
		return -1;
	return t_write(".aws/config", config_file, strlen(config_file));
}

/* Credentials from env through the chain; returns creds_get's result. */
static int
chain(const char *const *env, struct creds_value *v, struct dt_err *err)
{
	struct creds *c = NULL;
	int ret;

	if (creds_new(&(struct creds_options){ .env = env }, NULL, &c, err) < 0)
		return -1;
	ret = creds_get(c, v, err);
	creds_free(c);
	return ret;
}

TEST(t_creds_chain_order_with_files)
{
	const char *env_first[] = { "HOME=.",
				    "AWS_EC2_METADATA_DISABLED=true",
				    "AWS_ACCESS_KEY_ID=AKIDENV",
				    "AWS_SECRET_ACCESS_KEY=senv",
				    "AWS_SESSION_TOKEN=tokenv",
				    NULL };
	const char *half_env[] = { "HOME=.", "AWS_EC2_METADATA_DISABLED=true",
				   "AWS_ACCESS_KEY_ID=AKIDENV", NULL };
	const char *dev[] = { "HOME=.", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=dev", NULL };
	const char *cfgonly[] = { "HOME=.", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=cfgonly",
				  NULL };
	const char *missing[] = { "HOME=.", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=missing",
				  NULL };
	const char *named[] = { "HOME=/nonexistent", "AWS_EC2_METADATA_DISABLED=true",
				"AWS_SHARED_CREDENTIALS_FILE=.aws/credentials",
				"AWS_CONFIG_FILE=.aws/config", NULL };
	struct creds_value v;
	struct dt_err err = { 0 };

	REQUIRE(write_aws_files(1) == 0);
	CHECK(chain(env_first, &v, &err) == 0 && strcmp(v.access_key_id, "AKIDENV") == 0 &&
	      strcmp(v.session_token, "tokenv") == 0 && strcmp(v.source, "environment") == 0);
	/* Half a pair in the environment is no credentials: on to the files. */
	CHECK(chain(half_env, &v, &err) == 0 && strcmp(v.access_key_id, "AKIDFILE") == 0);
	CHECK(strcmp(v.source, "profile 'default' (credentials file)") == 0);
	CHECK(chain(dev, &v, &err) == 0 && strcmp(v.access_key_id, "AKIDDEV") == 0 &&
	      strcmp(v.session_token, "tokdev") == 0);
	CHECK(chain(cfgonly, &v, &err) == 0 && strcmp(v.access_key_id, "AKIDCFG2") == 0);
	CHECK(chain(named, &v, &err) == 0 && strcmp(v.access_key_id, "AKIDFILE") == 0);
	CHECK(chain(missing, &v, &err) == -1 && err.code == DT_EUSAGE &&
	      strstr(err.msg, "'missing' not found"));
	creds_value_wipe(&v);
	CHECK(v.secret_access_key[0] == '\0');
}

TEST(t_creds_config_file_when_no_credentials_file)
{
	const char *env[] = { "HOME=.", "AWS_EC2_METADATA_DISABLED=true", NULL };
	const char *nothing[] = { "HOME=/nonexistent", "AWS_EC2_METADATA_DISABLED=true", NULL };
	struct creds_value v;
	struct dt_err err = { 0 };

	REQUIRE(write_aws_files(0) == 0);
	CHECK(chain(env, &v, &err) == 0 && strcmp(v.access_key_id, "AKIDCONFIG") == 0);
	CHECK(chain(nothing, &v, &err) == -1 && err.code == DT_EUSAGE &&
	      strstr(err.msg, "no AWS credentials"));
}

#define IMDS_ROUTES(expires)                                                                \
	"\"PUT /latest/api/token\":[{\"need_header\":{\"X-aws-ec2-metadata-token-ttl-"      \
	"seconds\":\"21600\"},\"status\":200,\"body\":\"T0K\"}],"                           \
	"\"GET /latest/meta-data/iam/security-credentials/\":[{\"need_header\":"            \
	"{\"X-aws-ec2-metadata-token\":\"T0K\"},\"status\":200,\"body\":\"forensics\"}],"   \
	"\"GET /latest/meta-data/iam/security-credentials/forensics\":[{\"need_header\":"   \
	"{\"X-aws-ec2-metadata-token\":\"T0K\"},\"expires_in\":" #expires                   \
	",\"json\":{\"Code\":\"Success\",\"AccessKeyId\":\"ASIAIMDS\",\"SecretAccessKey\":" \
	"\"simds\",\"Token\":\"timds\",\"Expiration\":\"@EXPIRES@\"}}]"

static int
imds_chain_gets(const char *plan, int gets, struct creds_value *v, struct dt_err *err)
{
	struct fx f;
	struct creds *c = NULL;
	char ep[128];
	const char *env[] = { "HOME=/nonexistent", ep, NULL };
	int ret = -1;

	if (fx_open(&f, 2000, 1, "", plan) < 0)
		return -1;
	snprintf(ep, sizeof(ep), "AWS_EC2_METADATA_SERVICE_ENDPOINT=%s", f.pe.url);
	if (creds_new(&(struct creds_options){ .env = env }, f.pool, &c, err) == 0) {
		ret = 0;
		for (int i = 0; i < gets && ret == 0; i++)
			ret = creds_get(c, v, err);
	}
	creds_free(c);
	fx_close(&f);
	return ret;
}

TEST(t_creds_from_imdsv2_with_token)
{
	struct creds_value v;
	struct dt_err err = { 0 };

	if (!have_python())
		SKIP("needs python3");
	CHECK(imds_chain_gets("{\"routes\":{" IMDS_ROUTES(3600) "}}", 3, &v, &err) == 0);
	if (err.msg[0])
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(strcmp(v.access_key_id, "ASIAIMDS") == 0 && strcmp(v.session_token, "timds") == 0);
	CHECK(strcmp(v.source, "instance role 'forensics'") == 0);
	CHECK(v.expiration > time(NULL) + 3000);
	/* Valid for an hour: fetched once for three creds_get() calls, token first. */
	CHECK(peer_count("GET /latest/meta-data/iam/security-credentials/forensics") == 1);
	CHECK(peer_count("PUT /latest/api/token") == 2);
	char *first = peer_header(0, "x-aws-ec2-metadata-token-ttl-seconds");
	CHECK(first && strcmp(first, "21600") == 0);
	free(first);
}

TEST(t_creds_imds_refreshed_before_expiry)
{
	struct creds_value v;
	struct dt_err err = { 0 };

	if (!have_python())
		SKIP("needs python3");
	/* 100 s left is inside the refresh window: every get fetches anew. */
	CHECK(imds_chain_gets("{\"routes\":{" IMDS_ROUTES(100) "}}", 3, &v, &err) == 0);
	CHECK(peer_count("GET /latest/meta-data/iam/security-credentials/forensics") == 3);
}

TEST(t_creds_imds_without_token_is_refused)
{
	struct creds_value v;
	struct dt_err err = { 0 };

	if (!have_python())
		SKIP("needs python3");
	/* The token PUT fails (IMDSv1-only or a proxy): no credentials, no v1 fallback. */
	CHECK(imds_chain_gets("{\"routes\":{\"PUT /latest/api/token\":[{\"status\":403}]}}", 1, &v,
			      &err) == -1);
	CHECK(err.code == DT_EUSAGE && strstr(err.msg, "no AWS credentials"));
	CHECK(peer_count("GET /latest/meta-data/iam/security-credentials/") == 0);
}

#define STS_OK                                                                                \
	"\"status\":200,\"expires_in\":3600,\"content_type\":\"text/xml\",\"body\":"          \
	"\"<AssumeRoleResponse xmlns=\\\"https://sts.amazonaws.com/doc/2011-06-15/\\\">"      \
	"<AssumeRoleResult><AssumedRoleUser><Arn>arn:aws:sts::1:assumed-role/r/s</Arn>"       \
	"</AssumedRoleUser><Credentials><AccessKeyId>ASIAROLE</AccessKeyId><SecretAccessKey>" \
	"srole</SecretAccessKey><SessionToken>trole</SessionToken><Expiration>@EXPIRES@"      \
	"</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>\""

TEST(t_creds_profile_role_assumed_through_sts)
{
	struct fx f;
	struct creds *c = NULL;
	struct creds_value v;
	struct dt_err err = { 0 };
	char sts[128];
	const char *env[] = { "HOME=.", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=ir", sts,
			      NULL };
	const char *cfg = "[profile ir]\nrole_arn = arn:aws:iam::123456789012:role/forensics\n"
			  "source_profile = src\nexternal_id = case-42/x\nregion = eu-west-1\n";
	const char *creds = "[src]\naws_access_key_id=AKIDSRC\naws_secret_access_key=ssrc\n";
	FILE *fp;
	char line[65536];
	int saw_body = 0;

	if (!have_python() || !have_botocore())
		SKIP("needs python3 with botocore");
	REQUIRE(system("mkdir -p .aws") == 0);
	REQUIRE(t_write(".aws/config", cfg, strlen(cfg)) == 0);
	REQUIRE(t_write(".aws/credentials", creds, strlen(creds)) == 0);
	REQUIRE(fx_open(&f, 5000, 2, "",
			"{\"routes\":{\"POST /\":[{\"verify_sigv4\":{"
			"\"access_key\":\"AKIDSRC\",\"secret\":\"ssrc\","
			"\"region\":\"eu-west-1\",\"service\":\"sts\"}," STS_OK "}]}}") == 0);
	snprintf(sts, sizeof(sts), "AWS_ENDPOINT_URL_STS=%s", f.pe.url);
	REQUIRE(creds_new(&(struct creds_options){ .env = env }, f.pool, &c, &err) == 0);
	CHECK(creds_get(c, &v, &err) == 0);
	if (err.msg[0])
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(strcmp(v.access_key_id, "ASIAROLE") == 0 && strcmp(v.session_token, "trole") == 0);
	CHECK(strstr(v.source, "role 'arn:aws:iam::123456789012:role/forensics'") == v.source);
	CHECK(v.expiration > time(NULL) + 3000);
	fp = fopen("peer.log", "r");
	while (fp && fgets(line, sizeof(line), fp))
		saw_body |= strstr(line, "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws"
					 "%3Aiam%3A%3A123456789012%3Arole%2Fforensics&"
					 "RoleSessionName=deltair&DurationSeconds=3600&"
					 "ExternalId=case-42%2Fx") != NULL;
	if (fp)
		fclose(fp);
	CHECK(saw_body);
	creds_free(c);
	fx_close(&f);
}

TEST(t_creds_assume_role_failure_keeps_secrets_out)
{
	struct fx f;
	struct creds *c = NULL;
	struct creds_value v;
	struct dt_err err = { 0 };
	char sts[128];
	const char *env[] = { "HOME=/nonexistent",
			      "AWS_EC2_METADATA_DISABLED=true",
			      "AWS_ACCESS_KEY_ID=AKIDBASE",
			      "AWS_SECRET_ACCESS_KEY=SUPERSECRET",
			      "AWS_SESSION_TOKEN=SESSIONSECRET",
			      "AWS_REGION=us-east-1",
			      sts,
			      NULL };

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 5000, 2, "",
			"{\"routes\":{\"POST /\":[{\"status\":403,\"body\":"
			"\"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied"
			"</Code><Message>not authorized to perform sts:AssumeRole"
			"</Message></Error></ErrorResponse>\"}]}}") == 0);
	snprintf(sts, sizeof(sts), "AWS_ENDPOINT_URL_STS=%s", f.pe.url);
	REQUIRE(creds_new(
			&(struct creds_options){ .env = env, .role_arn = "arn:aws:iam::1:role/ir" },
			f.pool, &c, &err) == 0);
	CHECK(creds_get(c, &v, &err) == -1);
	CHECK(strcmp(err.msg, "AssumeRole: HTTP 403 AccessDenied: not authorized to perform "
			      "sts:AssumeRole (1 attempt)") == 0);
	CHECK(strstr(err.msg, "SECRET") == NULL);
	CHECK(peer_count("POST /") == 1);
	creds_free(c);
	fx_close(&f);
}

TEST(t_http_pool_reuses_connections)
{
	struct fx f;
	struct http_response r;
	struct dt_err err = { 0 };
	char url[128];

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 5000, 2, "",
			"{\"routes\":{\"GET /k\":[{\"status\":200,\"body\":\"v\"}]}}") == 0);
	snprintf(url, sizeof(url), "%s/k", f.pe.url);
	for (int i = 0; i < 5; i++) {
		CHECK(get(f.pool, url, "Get", &r, &err) == 0);
		http_response_release(&r);
	}
	CHECK(peer_count("GET /k") == 5);
	CHECK(peer_connections() == 1);
	fx_close(&f);
}

struct getter {
	struct http_pool *pool;
	const char *url;
	int ok;
};

static void *
get_many(void *arg)
{
	struct getter *g = arg;
	char dst[64];

	for (int i = 0; i < 10; i++) {
		struct http_request q = { 0 };
		struct http_response r;
		q.operation = "GetSnapshotBlock";
		q.method = "GET";
		q.url = g->url;
		q.dst = dst;
		q.dst_cap = sizeof(dst);
		if (http_do(g->pool, &q, &r, NULL) == 0 && r.len == 5 &&
		    memcmp(dst, "block", 5) == 0)
			g->ok++;
		http_response_release(&r);
	}
	return NULL;
}

TEST(t_http_pool_serves_many_threads_at_once)
{
	struct fx f;
	struct getter g[8];
	pthread_t th[8];
	int ok = 0;

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 10000, 4, "/b",
			"{\"routes\":{\"GET /b\":[{\"delay\":0.05,\"status\":200,"
			"\"body\":\"block\"}]}}") == 0);
	for (int i = 0; i < 8; i++) {
		g[i] = (struct getter){ f.pool, f.url, 0 };
		REQUIRE(pthread_create(&th[i], NULL, get_many, &g[i]) == 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		ok += g[i].ok;
	}
	CHECK(ok == 80);
	CHECK(peer_count("GET /b") == 80);
	/* Requests were in flight together, and connections were kept between them. */
	CHECK(peer_connections() > 1 && peer_connections() <= 8);
	fx_close(&f);
}

TEST(t_creds_files_come_before_imds)
{
	struct fx f;
	struct creds *c = NULL;
	struct creds_value v;
	struct dt_err err = { 0 };
	char ep[128];
	const char *env[] = { "HOME=.", ep, NULL };

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(write_aws_files(1) == 0);
	REQUIRE(fx_open(&f, 2000, 1, "", "{\"routes\":{" IMDS_ROUTES(3600) "}}") == 0);
	snprintf(ep, sizeof(ep), "AWS_EC2_METADATA_SERVICE_ENDPOINT=%s", f.pe.url);
	REQUIRE(creds_new(&(struct creds_options){ .env = env }, f.pool, &c, &err) == 0);
	CHECK(creds_get(c, &v, &err) == 0 && strcmp(v.access_key_id, "AKIDFILE") == 0);
	/* The files answered: instance metadata was never asked. */
	CHECK(peer_count(NULL) == 0);
	creds_free(c);
	REQUIRE(system("rm -r .aws") == 0);
	REQUIRE(creds_new(&(struct creds_options){ .env = env }, f.pool, &c, &err) == 0);
	CHECK(creds_get(c, &v, &err) == 0 && strcmp(v.access_key_id, "ASIAIMDS") == 0);
	creds_free(c);
	fx_close(&f);
}

TEST(t_creds_source_profile_loop_is_refused)
{
	const char *env[] = { "HOME=.", "AWS_EC2_METADATA_DISABLED=true", "AWS_PROFILE=a", NULL };
	const char *cfg = "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
			  "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n";
	struct creds_value v;
	struct dt_err err = { 0 };

	REQUIRE(system("mkdir -p .aws") == 0);
	REQUIRE(t_write(".aws/config", cfg, strlen(cfg)) == 0);
	CHECK(chain(env, &v, &err) == -1 && err.code == DT_EUSAGE &&
	      strstr(err.msg, "chain deeper than"));
}

TEST(t_http_body_file_is_sent_again_by_each_attempt)
{
	struct fx f;
	struct http_request q = { 0 };
	struct http_response r;
	struct dt_err err = { 0 };
	struct http_file_body fb;
	char *b0, *b1;

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(t_write("body.bin", "0123456789abcdefXYZ", 19) == 0);
	REQUIRE(fx_open(&f, 5000, 3, "/up",
			"{\"routes\":{\"PUT /up\":[{\"status\":500},{\"status\":200}]}}") == 0);
	fb.fd = open("body.bin", O_RDONLY);
	fb.off = 3;
	q.operation = "PutObject";
	q.method = "PUT";
	q.url = f.url;
	q.body_file = &fb;
	q.body_len = 10;
	CHECK(http_do(f.pool, &q, &r, &err) == 0);
	CHECK(r.attempts == 2);
	http_response_release(&r);
	b0 = peer_header(0, NULL);
	b1 = peer_header(1, NULL);
	CHECK(b0 && strcmp(b0, "3456789abc") == 0);
	CHECK(b1 && strcmp(b1, "3456789abc") == 0);
	free(b0);
	free(b1);
	/* A file shorter than promised is never sent short: an I/O error, no retry. */
	q.body_len = 100;
	CHECK(http_do(f.pool, &q, &r, &err) == -1 && err.code == DT_EIO);
	http_response_release(&r);
	close(fb.fd);
	fx_close(&f);
}

struct sink_buf {
	char data[32];
	size_t high;
	int restarts;
};

static int
sink_to_buf(void *arg, uint64_t off, const void *data, size_t len)
{
	struct sink_buf *s = arg;

	if (off == 0)
		s->restarts++;
	if (off + len > sizeof(s->data))
		return -1;
	memcpy(s->data + off, data, len);
	if (off + len > s->high)
		s->high = off + len;
	return 0;
}

TEST(t_http_sink_starts_again_at_zero_on_retry)
{
	struct fx f;
	struct http_request q = { 0 };
	struct http_response r;
	struct dt_err err = { 0 };
	struct sink_buf sb = { { 0 }, 0, 0 };

	if (!have_python())
		SKIP("needs python3");
	REQUIRE(fx_open(&f, 5000, 3, "/obj",
			"{\"routes\":{\"GET /obj\":[{\"partial\":10,\"length\":100},"
			"{\"status\":200,\"body\":\"whole object\"}]}}") == 0);
	q.operation = "GetObject";
	q.method = "GET";
	q.url = f.url;
	q.sink = sink_to_buf;
	q.sink_arg = &sb;
	CHECK(http_do(f.pool, &q, &r, &err) == 0);
	CHECK(r.attempts == 2 && r.len == 12 && sb.restarts == 2);
	CHECK(memcmp(sb.data, "whole object", 12) == 0);
	CHECK(r.body.len == 0);
	http_response_release(&r);
	/* Over the cap: refused, as for dst. */
	q.dst_cap = 5;
	CHECK(http_do(f.pool, &q, &r, &err) == -1 && err.code == DT_EFORMAT);
	http_response_release(&r);
	fx_close(&f);
}
