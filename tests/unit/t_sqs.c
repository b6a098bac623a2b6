/*
 * t_sqs.c - aws/sqs.h and the sqs:// queue backend against fauxqs (npm), an SQS emulator
 * with visibility and redrive, behind tests/peers/aws_peer.py --proxy, which checks the
 * SigV4 signature and botocore's model of every request before it forwards it; both on
 * 127.0.0.1, started by tests/peers/sqs_peer.sh. The oracle for queue state is fauxqs's
 * own view (GET /_fauxqs/queues/NAME), read past the proxy.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "aws/creds.h"
#include "aws/endpoint.h"
#include "aws/http.h"
#include "aws/sqs.h"
#include "aws/svcerr.h"
#include "t.h"
#include "worker/queue.h"

#define AKID   "AKIDEXAMPLE"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define DLQ    "arn:aws:sqs:us-east-1:000000000000:jobs-dlq"

/* jobs (30 s visibility, redrive to jobs-dlq after 2 receives), jobs-dlq, plain (no redrive). */
static const char queues_json[] =
	"{\"queues\": [{\"name\": \"jobs-dlq\"},"
	" {\"name\": \"jobs\", \"attributes\": {\"VisibilityTimeout\": \"30\", \"RedrivePolicy\":"
	" \"{\\\"deadLetterTargetArn\\\": \\\"" DLQ "\\\", \\\"maxReceiveCount\\\": \\\"2\\\"}\"}},"
	" {\"name\": \"plain\"}]}";

static const char *const test_env[] = { "AWS_CONFIG_FILE=/dev/null",
					"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
					"AWS_EC2_METADATA_DISABLED=true", "AWS_REGION=us-east-1",
					NULL };

struct sfx {
	pid_t pid;
	char base[64];   /* the proxy: http://127.0.0.1:PORT */
	char fauxqs[64]; /* fauxqs itself, for its test-only view */
	struct http_pool *pool;
	struct creds *creds;
};

static int
read_port(const char *path)
{
	char *s = t_slurp(path, NULL);
	int port = s ? atoi(s) : 0;

	free(s);
	return port;
}

/* 0: running; 77: not installed (skip); -1: failed. */
static int
sfx_start(struct sfx *f)
{
	char script[4096];
	const char *top = t_top();
	struct stat st;
	int status;

	memset(f, 0, sizeof(*f));
	if (top == NULL || t_write("sqs.json", queues_json, strlen(queues_json)) < 0)
		return -1;
	snprintf(script, sizeof(script), "%s/tests/peers/sqs_peer.sh", top);
	f->pid = fork();
	if (f->pid < 0)
		return -1;
	if (f->pid == 0) {
		execlp("bash", "bash", script, "sqs.json", ".", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1200; i++) { /* 60 s: node and botocore load slowly on a busy machine */
		if (stat("ready", &st) == 0)
			break;
		if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
			f->pid = 0;
			return WIFEXITED(status) && WEXITSTATUS(status) == 77 ? 77 : -1;
		}
		usleep(50 * 1000);
	}
	snprintf(f->base, sizeof(f->base), "http://127.0.0.1:%d", read_port("proxy.port"));
	snprintf(f->fauxqs, sizeof(f->fauxqs), "http://127.0.0.1:%d", read_port("fauxqs.port"));
	if (stat("ready", &st) < 0 || http_pool_new(NULL, &f->pool, NULL) < 0 ||
	    creds_new_static(AKID, SECRET, NULL, &f->creds, NULL) < 0)
		return -1;
	return 0;
}

static void
sfx_stop(struct sfx *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
	}
	creds_free(f->creds);
	http_pool_free(f->pool);
}

#define SFX_START(f)                                                   \
	do {                                                           \
		int rc_ = sfx_start(f);                                \
		if (rc_ == 77) {                                       \
			sfx_stop(f);                                   \
			SKIP("no node 22 + fauxqs (install-deps.sh)"); \
		}                                                      \
		if (rc_ < 0) {                                         \
			sfx_stop(f);                                   \
			REQUIRE(!"the SQS peer did not start");        \
		}                                                      \
	} while (0)

static int
sfx_open(struct sfx *f, const char *name, struct sqs **out, struct dt_err *err)
{
	struct sqs_options o = { NULL, f->creds, f->pool, test_env };
	char url[256];

	snprintf(url, sizeof(url), "%s/000000000000/%s", f->base, name);
	return sqs_open(url, &o, out, err);
}

/* GET url unsigned: the proxy's or fauxqs's test-only endpoints. New JSON, or NULL. */
static json_t *
get_json(struct sfx *f, const char *url)
{
	struct http_request rq;
	struct http_response rs;
	json_t *j = NULL;

	memset(&rq, 0, sizeof(rq));
	rq.operation = "test";
	rq.method = "GET";
	rq.url = url;
	if (http_do(f->pool, &rq, &rs, NULL) == 0)
		j = json_loadb((const char *)rs.body.data, rs.body.len, 0, NULL);
	http_response_release(&rs);
	return j;
}

/* fauxqs's count of name's messages: visible ("approximateMessageCount"), in flight, ... */
static long
queue_count(struct sfx *f, const char *name, const char *field)
{
	char url[256];
	json_t *j, *v;
	long n = -1;

	snprintf(url, sizeof(url), "%s/_fauxqs/queues", f->fauxqs);
	j = get_json(f, url);
	for (size_t i = 0; i < json_array_size(j); i++) {
		v = json_array_get(j, i);
		if (strcmp(json_string_value(json_object_get(v, "name")) ?: "", name) == 0)
			n = (long)json_integer_value(json_object_get(v, field));
	}
	json_decref(j);
	return n;
}

/* How many requests the proxy refused (a bad signature, input the model refuses); -1 when
 * it cannot say. Each is printed unless quiet. */
static long
violations(struct sfx *f, int quiet)
{
	char url[256];
	json_t *j;
	long n;

	snprintf(url, sizeof(url), "%s/_peer/violations", f->base);
	j = get_json(f, url);
	n = json_is_array(j) ? (long)json_array_size(j) : -1;
	if (n != 0 && j && !quiet) {
		char *s = json_dumps(j, 0);
		fprintf(stderr, "violations: %s\n", s ? s : "?");
		free(s);
	}
	json_decref(j);
	return n;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

TEST(t_sqs_every_operation)
{
	struct sfx f;
	struct sqs *s = NULL, *plain = NULL;
	struct sqs_attributes a;
	struct sqs_message *m = NULL;
	struct dt_err err = { 0 };
	size_t n = 0;
	char *id = NULL;
	const char body[] = "{\"version\": 1, \"evidence\": \"ebs://snap-0123456789abcdef0\", "
			    "\"note\": \"caf\xc3\xa9\"}";

	SFX_START(&f);
	REQUIRE(sfx_open(&f, "jobs", &s, &err) == 0);
	CHECK(strcmp(sqs_region(s), "us-east-1") == 0);
	CHECK(sqs_get_attributes(s, &a, &err) == 0);
	CHECK(a.visibility_timeout == 30 && a.has_redrive && a.max_receive_count == 2);
	CHECK(strcmp(a.dead_letter_arn, DLQ) == 0);
	REQUIRE(sfx_open(&f, "plain", &plain, &err) == 0);
	CHECK(sqs_get_attributes(plain, &a, &err) == 0);
	CHECK(!a.has_redrive && a.max_receive_count == 0 && a.dead_letter_arn[0] == '\0');

	/* SendMessage, then ReceiveMessage: the same body, id and a first receive. */
	CHECK(sqs_send(s, body, 0, &id, &err) == 0 && id && *id);
	CHECK(queue_count(&f, "jobs", "approximateMessageCount") == 1);
	CHECK(sqs_receive(s, 1, 1, 30, &m, &n, &err) == 0 && n == 1);
	if (n == 1) {
		CHECK(strcmp(m[0].body, body) == 0 && m[0].body_len == strlen(body));
		CHECK(strcmp(m[0].message_id, id) == 0);
		CHECK(m[0].receive_count == 1);
	}
	CHECK(queue_count(&f, "jobs", "approximateInflightCount") == 1);
	/* Hidden for its visibility: nothing for a second receiver. */
	{
		struct sqs_message *m2 = NULL;
		size_t n2 = 9;
		CHECK(sqs_receive(s, 0, 1, -1, &m2, &n2, &err) == 0 && n2 == 0 && m2 == NULL);
	}
	/* ChangeMessageVisibility 0: back at once, its second receive. */
	REQUIRE(n == 1);
	CHECK(sqs_change_visibility(s, m[0].receipt_handle, 0, &err) == 0);
	sqs_messages_free(m, n);
	m = NULL;
	CHECK(sqs_receive(s, 1, SQS_MAX_RECEIVE, 30, &m, &n, &err) == 0 && n == 1);
	REQUIRE(n == 1);
	CHECK(m[0].receive_count == 2 && strcmp(m[0].message_id, id) == 0);
	/* DeleteMessage: gone for good. */
	CHECK(sqs_delete(s, m[0].receipt_handle, &err) == 0);
	CHECK(queue_count(&f, "jobs", "approximateMessageCount") == 0);
	CHECK(queue_count(&f, "jobs", "approximateInflightCount") == 0);
	CHECK(err.code == DT_OK);
	CHECK(violations(&f, 0) == 0);
	sqs_messages_free(m, n);
	free(id);
	sqs_free(plain);
	sqs_free(s);
	sfx_stop(&f);
}

/* A long poll answers as soon as a message arrives, not at the end of its wait. */
struct sender {
	struct sqs *s;
	int rc;
};

static void *
send_later(void *arg)
{
	struct sender *sd = arg;

	usleep(1000 * 1000);
	sd->rc = sqs_send(sd->s, "late job", 0, NULL, NULL);
	return NULL;
}

TEST(t_sqs_long_poll_returns_early)
{
	struct sfx f;
	struct sqs *s = NULL;
	struct sqs_message *m = NULL;
	struct dt_err err = { 0 };
	struct sender sd = { NULL, -1 };
	pthread_t th;
	size_t n = 0;
	double t0, dt;

	SFX_START(&f);
	REQUIRE(sfx_open(&f, "plain", &s, &err) == 0);
	/* An empty queue: the poll really waits its 2 s. */
	t0 = now_s();
	CHECK(sqs_receive(s, 2, 1, -1, &m, &n, &err) == 0 && n == 0);
	dt = now_s() - t0;
	CHECK(dt >= 1.9 && dt < 6);
	/* A message 1 s into a 15 s poll: back in about 1 s. */
	sd.s = s;
	REQUIRE(pthread_create(&th, NULL, send_later, &sd) == 0);
	t0 = now_s();
	CHECK(sqs_receive(s, 15, 1, -1, &m, &n, &err) == 0 && n == 1);
	dt = now_s() - t0;
	pthread_join(th, NULL);
	CHECK(sd.rc == 0);
	CHECK(dt >= 0.8 && dt < 5);
	if (n == 1)
		CHECK(strcmp(m[0].body, "late job") == 0);
	CHECK(violations(&f, 0) == 0);
	sqs_messages_free(m, n);
	sqs_free(s);
	sfx_stop(&f);
}

TEST(t_sqs_errors_are_one_line)
{
	struct sfx f;
	struct sqs *s = NULL, *bad = NULL;
	struct creds *wrong = NULL;
	struct sqs_attributes a;
	struct dt_err err = { 0 };
	char url[256];

	SFX_START(&f);
	/* A queue that does not exist: SQS's query-protocol code, the queue, the operation. */
	REQUIRE(sfx_open(&f, "no-such-queue", &s, &err) == 0);
	CHECK(sqs_get_attributes(s, &a, &err) == -1 && err.code == DT_ENET);
	CHECK(strstr(err.msg, "GetQueueAttributes: HTTP 400 "
			      "AWS.SimpleQueueService.NonExistentQueue") != NULL);
	CHECK(strstr(err.msg, "/000000000000/no-such-queue'") != NULL);
	CHECK(strchr(err.msg, '\n') == NULL);
	dt_clear(&err);
	/* Input the service refuses, as the service says it. */
	CHECK(sqs_change_visibility(s, "not-a-receipt", 0, &err) == -1 && err.code == DT_ENET);
	CHECK(strstr(err.msg, "ChangeMessageVisibility: HTTP 400") != NULL);
	CHECK(violations(&f, 0) == 0);
	sqs_free(s);
	s = NULL;
	dt_clear(&err);

	/* A wrong secret: the proxy refuses the signature; nothing reaches fauxqs. */
	REQUIRE(creds_new_static(AKID, "wrong-secret-wrong-secret-wrong-secret-00", NULL, &wrong,
				 &err) == 0);
	snprintf(url, sizeof(url), "%s/000000000000/jobs", f.base);
	{
		struct sqs_options o = { NULL, wrong, f.pool, test_env };
		REQUIRE(sqs_open(url, &o, &bad, &err) == 0);
	}
	CHECK(sqs_send(bad, "never", 0, NULL, &err) == -1 && err.code == DT_ENET);
	CHECK(strstr(err.msg, "SendMessage: HTTP 403") != NULL);
	CHECK(strchr(err.msg, '\n') == NULL);
	CHECK(strstr(err.msg, "wrong-secret") == NULL);
	CHECK(queue_count(&f, "jobs", "approximateMessageCount") == 0);
	CHECK(violations(&f, 1) == 1);
	dt_clear(&err);

	/* Bad queue URLs, before any request. */
	{
		struct sqs_options o = { "us-east-1", f.creds, f.pool, test_env };
		const char *bad_urls[] = { "ftp://h/1/q",   "http://h",         "http://h/",
					   "http:///1/q",   "http://h/1/q?x=1", "http://u@h/1/q",
					   "http://h/1/q w" };
		for (size_t i = 0; i < sizeof(bad_urls) / sizeof(bad_urls[0]); i++) {
			struct sqs *x = NULL;
			dt_clear(&err);
			CHECK(sqs_open(bad_urls[i], &o, &x, &err) == -1 && err.code == DT_EUSAGE &&
			      x == NULL);
		}
	}
	sqs_free(bad);
	creds_free(wrong);
	sfx_stop(&f);
}

/* The region from an AWS queue URL's host, the endpoint from AWS_ENDPOINT_URL_SQS. */
TEST(t_sqs_region_and_endpoint)
{
	struct sfx f;
	struct sqs *s = NULL;
	struct sqs_attributes a;
	struct dt_err err = { 0 };
	char ov[128];
	const char *env[] = { "AWS_CONFIG_FILE=/dev/null",
			      "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			      "AWS_EC2_METADATA_DISABLED=true",
			      "AWS_REGION=eu-west-1",
			      ov,
			      NULL };

	SFX_START(&f);
	/* The host says us-east-1, the environment eu-west-1: the host wins, and the proxy,
	 * which accepts only us-east-1 in a signature's scope, agrees. */
	snprintf(ov, sizeof(ov), "AWS_ENDPOINT_URL_SQS=%s", f.base);
	{
		struct sqs_options o = { NULL, f.creds, f.pool, env };
		REQUIRE(sqs_open("https://sqs.us-east-1.amazonaws.com/000000000000/jobs", &o, &s,
				 &err) == 0);
	}
	CHECK(strcmp(sqs_region(s), "us-east-1") == 0);
	CHECK(sqs_get_attributes(s, &a, &err) == 0 && a.has_redrive);
	CHECK(sqs_send(s, "via the override", 0, NULL, &err) == 0);
	CHECK(queue_count(&f, "jobs", "approximateMessageCount") == 1);
	sqs_free(s);
	s = NULL;
	/* The legacy host form, and a host that names no region: the environment's. */
	{
		struct sqs_options o = { NULL, f.creds, f.pool, env };
		CHECK(sqs_open("https://us-west-2.queue.amazonaws.com/1/q", &o, &s, &err) == 0);
		CHECK(s && strcmp(sqs_region(s), "us-west-2") == 0);
		sqs_free(s);
		s = NULL;
		CHECK(sqs_open("http://127.0.0.1:1/1/q", &o, &s, &err) == 0);
		CHECK(s && strcmp(sqs_region(s), "eu-west-1") == 0);
		sqs_free(s);
	}
	CHECK(err.code == DT_OK);
	CHECK(violations(&f, 0) == 0);
	sfx_stop(&f);
}

/* queue.h's calls on sqs://, through queue.c's dispatch. */
static void
count_warning(void *arg, const char *msg)
{
	(void)msg;
	++*(int *)arg;
}

static int
q_open(struct sfx *f, const char *name, int *warnings, struct queue **q, struct dt_err *err)
{
	struct queue_options o;
	char url[256];

	memset(&o, 0, sizeof(o));
	o.region = "us-east-1";
	o.creds = f->creds;
	o.pool = f->pool;
	o.lease_seconds = 60;
	o.warn = count_warning;
	o.warn_arg = warnings;
	snprintf(url, sizeof(url), "sqs://%s/000000000000/%s", f->base, name);
	return queue_open(url, &o, q, err);
}

TEST(t_queue_sqs_lifecycle)
{
	struct sfx f;
	struct queue *q = NULL, *plain = NULL;
	struct queue_msg *m = NULL, *m2 = NULL;
	struct dt_err err = { 0 };
	int warnings = 0;
	char *id = NULL;
	double t0;

	SFX_START(&f);
	REQUIRE(q_open(&f, "jobs", &warnings, &q, &err) == 0);
	CHECK(warnings == 0);
	/* A queue without a redrive policy opens, with one warning. */
	CHECK(q_open(&f, "plain", &warnings, &plain, &err) == 0 && warnings == 1);
	queue_close(plain);
	CHECK(q_open(&f, "missing", &warnings, &plain, &err) == -1 && plain == NULL);
	CHECK(strstr(err.msg, "NonExistentQueue") != NULL);
	dt_clear(&err);

	/* send, receive: hidden for the lease; heartbeat keeps it. */
	CHECK(queue_send(q, "job one", &id, &err) == 0 && id);
	CHECK(queue_receive(q, 1, &m, &err) == 0 && m);
	REQUIRE(m);
	CHECK(strcmp(m->body, "job one") == 0 && strcmp(m->id, id) == 0 && m->receive_count == 1);
	CHECK(queue_heartbeat(q, m, 120, &err) == 0);
	CHECK(queue_receive(q, 0, &m2, &err) == 0 && m2 == NULL);
	/* release: visible at once (SIGTERM). */
	CHECK(queue_release(q, m, &err) == 0);
	queue_msg_free(m);
	m = NULL;
	CHECK(queue_receive(q, 1, &m, &err) == 0 && m && m->receive_count == 2);
	REQUIRE(m);
	/* fail: not deleted, back after a short delay (5 s), not before; the check holds only
	 * when this machine answered within that delay. */
	CHECK(queue_fail(q, m, 0, "exit 3", &err) == 0);
	t0 = now_s();
	queue_msg_free(m);
	m = NULL;
	CHECK(queue_count(&f, "jobs", "approximateInflightCount") == 1);
	CHECK(queue_receive(q, 1, &m, &err) == 0);
	if (now_s() - t0 < 4.5)
		CHECK(m == NULL);
	queue_msg_free(m);
	m = NULL;
	/* Received twice (maxReceiveCount 2) and failed again: redrive moves it to the DLQ on
	 * the next receive; the worker never deleted it. */
	sleep(4);
	CHECK(queue_receive(q, 5, &m, &err) == 0 && m == NULL);
	CHECK(queue_count(&f, "jobs-dlq", "approximateMessageCount") == 1);
	CHECK(queue_count(&f, "jobs", "approximateMessageCount") == 0);
	CHECK(queue_count(&f, "jobs", "approximateInflightCount") == 0);

	/* done: deleted. A permanent failure: visible again at once. */
	free(id);
	id = NULL;
	CHECK(queue_send(q, "job two", &id, &err) == 0);
	CHECK(queue_receive(q, 1, &m, &err) == 0 && m);
	REQUIRE(m);
	CHECK(queue_fail(q, m, 1, "malformed job", &err) == 0);
	queue_msg_free(m);
	m = NULL;
	CHECK(queue_receive(q, 1, &m, &err) == 0 && m && m->receive_count == 2);
	REQUIRE(m);
	CHECK(queue_done(q, m, &err) == 0);
	CHECK(queue_count(&f, "jobs", "approximateMessageCount") == 0);
	CHECK(queue_count(&f, "jobs", "approximateInflightCount") == 0);
	CHECK(queue_count(&f, "jobs-dlq", "approximateMessageCount") == 1);
	CHECK(err.code == DT_OK);
	CHECK(violations(&f, 0) == 0);
	queue_msg_free(m);
	free(id);
	queue_close(q);
	sfx_stop(&f);
}

/*
 * Instance-role credentials that expire between two calls (the proxy's peer expires every
 * key it minted): the second SendMessage is refused once (ExpiredTokenException), the
 * credentials are looked up again (a second IMDS mint) and it goes through.
 */
TEST(t_sqs_expired_credentials_are_looked_up_again)
{
	struct sfx f;
	struct sqs *s = NULL;
	char env_imds[128], url[256];
	const char *env[] = { "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
			      "AWS_REGION=us-east-1", env_imds, NULL };
	struct sqs_options o = { NULL, NULL, NULL, env };
	struct http_request rq;
	struct http_response rs;
	struct dt_err err = { 0 };
	json_t *c;

	SFX_START(&f);
	o.pool = f.pool;
	snprintf(env_imds, sizeof(env_imds), "AWS_EC2_METADATA_SERVICE_ENDPOINT=%s", f.base);
	snprintf(url, sizeof(url), "%s/000000000000/plain", f.base);
	REQUIRE(sqs_open(url, &o, &s, &err) == 0);
	CHECK(sqs_send(s, "before", 0, NULL, &err) == 0);
	memset(&rq, 0, sizeof(rq));
	rq.operation = "test";
	rq.method = "POST";
	snprintf(url, sizeof(url), "%s/_peer/expire-credentials", f.base);
	rq.url = url;
	CHECK(http_do(f.pool, &rq, &rs, NULL) == 0);
	http_response_release(&rs);
	CHECK(sqs_send(s, "after", 0, NULL, &err) == 0);
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(queue_count(&f, "plain", "approximateMessageCount") == 2);
	snprintf(url, sizeof(url), "%s/_peer/counters", f.base);
	c = get_json(&f, url);
	CHECK(json_integer_value(json_object_get(c, "imds_credentials")) == 2);
	json_decref(c);
	/* The one refusal is the expired key's. */
	CHECK(violations(&f, 1) == 1);
	sqs_free(s);
	sfx_stop(&f);
}

/* No peer: the query-protocol code wins over the JSON one, but never over a throttle. */
TEST(t_svcerr_query_compat)
{
	const char body[] = "{\"__type\": \"com.amazonaws.sqs#QueueDoesNotExist\", "
			    "\"message\": \"The specified queue does not exist.\"}";
	const char thr[] = "{\"__type\": \"com.amazonaws.sqs#ThrottlingException\"}";
	struct svcerr e;

	svcerr_parse(NULL, body, strlen(body), &e);
	CHECK(strcmp(e.code, "QueueDoesNotExist") == 0);
	svcerr_query_compat(&e, "AWS.SimpleQueueService.NonExistentQueue;Sender");
	CHECK(strcmp(e.code, "AWS.SimpleQueueService.NonExistentQueue") == 0);
	CHECK(strcmp(e.message, "The specified queue does not exist.") == 0);
	svcerr_query_compat(&e, NULL);
	svcerr_query_compat(&e, ";Sender");
	CHECK(strcmp(e.code, "AWS.SimpleQueueService.NonExistentQueue") == 0);
	svcerr_parse(NULL, thr, strlen(thr), &e);
	svcerr_query_compat(&e, "AWS.SimpleQueueService.Throttled;Sender");
	CHECK(strcmp(e.code, "ThrottlingException") == 0 && svcerr_is_throttle(e.code));
	CHECK(svcerr_is_expired_creds("ExpiredToken") && !svcerr_is_expired_creds(NULL));
}

/* No peer: an override is told apart from the default endpoint. */
TEST(t_endpoint_override)
{
	char out[ENDPOINT_MAX_URL];
	struct dt_err err = { 0 };
	const char *none[] = { "AWS_CONFIG_FILE=/dev/null", NULL };
	const char *sqs[] = { "AWS_ENDPOINT_URL=http://127.0.0.1:2",
			      "AWS_ENDPOINT_URL_SQS=http://127.0.0.1:1/", NULL };
	const char *ign[] = { "AWS_ENDPOINT_URL_SQS=http://127.0.0.1:1",
			      "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true", NULL };
	const char *bad[] = { "AWS_ENDPOINT_URL_SQS=ftp://x", NULL };

	CHECK(endpoint_override(none, NULL, ENDPOINT_SQS, out, &err) == 0 && out[0] == '\0');
	CHECK(endpoint_override(sqs, NULL, ENDPOINT_SQS, out, &err) == 1 &&
	      strcmp(out, "http://127.0.0.1:1") == 0);
	CHECK(endpoint_override(sqs, NULL, ENDPOINT_EBS, out, &err) == 1 &&
	      strcmp(out, "http://127.0.0.1:2") == 0);
	CHECK(endpoint_override(ign, NULL, ENDPOINT_SQS, out, &err) == 0);
	CHECK(err.code == DT_OK);
	CHECK(endpoint_override(bad, NULL, ENDPOINT_SQS, out, &err) == -1 &&
	      err.code == DT_EUSAGE && strstr(err.msg, "AWS_ENDPOINT_URL_SQS") != NULL);
}
