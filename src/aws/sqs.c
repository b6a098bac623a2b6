/* sqs.c - see sqs.h. */
#include "aws/sqs.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "aws/creds.h"
#include "aws/endpoint.h"
#include "aws/http.h"
#include "aws/profile.h"

#include "banned.h"

/* What a long poll may take beyond its WaitTimeSeconds before we call the transfer dead. */
#define SQS_POLL_SLACK_MS 20000

struct sqs {
	char queue_url[SQS_MAX_URL];
	char endpoint[ENDPOINT_MAX_URL + 2]; /* where requests go, "/" included */
	char region[ENDPOINT_MAX_REGION];
	struct creds *creds;    /* borrowed or owned (own_creds) */
	struct http_pool *pool; /* borrowed or owned (own_pool) */
	int own_creds, own_pool;
};

const char *
sqs_queue_url(const struct sqs *s)
{
	return s->queue_url;
}

const char *
sqs_region(const struct sqs *s)
{
	return s->region;
}

void
sqs_free(struct sqs *s)
{
	if (s == NULL)
		return;
	if (s->own_creds)
		creds_free(s->creds);
	if (s->own_pool)
		http_pool_free(s->pool);
	free(s);
}

/*
 * The region an AWS queue URL's host names: sqs.REGION.amazonaws.com[.cn] or the legacy
 * REGION.queue.amazonaws.com[.cn]. host is the authority without the port. "" when none.
 */
static void
region_of_host(const char *host, size_t n, char out[ENDPOINT_MAX_REGION])
{
	const char *r = NULL, *end = NULL;
	size_t len;

	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char)host[i]) || isdigit((unsigned char)host[i]) ||
		      host[i] == '-' || host[i] == '.'))
			return;
	if (n > 4 && strncmp(host, "sqs.", 4) == 0) {
		r = host + 4;
		end = memchr(r, '.', n - 4);
		if (end == NULL || strncmp(end, ".amazonaws.com", 14) != 0)
			return;
	} else {
		end = memchr(host, '.', n);
		if (end == NULL || strncmp(end, ".queue.amazonaws.com", 20) != 0)
			return;
		r = host;
	}
	len = (size_t)(end - r);
	if (len == 0 || len >= ENDPOINT_MAX_REGION || memchr(r, '.', len))
		return;
	memcpy(out, r, len);
	out[len] = '\0';
}

/*
 * Check url is http(s)://host[:port]/PATH with a path and nothing odd in it; the scheme and
 * authority go to origin ("https://host:port"), the host alone sets region_out.
 */
static int
split_queue_url(const char *url, char origin[ENDPOINT_MAX_URL],
		char region_out[ENDPOINT_MAX_REGION], struct dt_err *err)
{
	const char *auth, *path, *colon;
	size_t n = strlen(url);

	if (strncmp(url, "https://", 8) == 0)
		auth = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		auth = url + 7;
	else
		return dt_fail(err, DT_EUSAGE,
			       "queue URL '%.200s' is not http(s)://HOST/ACCOUNT/NAME", url);
	if (n >= SQS_MAX_URL)
		return dt_fail(err, DT_EUSAGE, "queue URL '%.200s...' is over %d bytes", url,
			       SQS_MAX_URL - 1);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f || url[i] == '?' ||
		    url[i] == '#')
			return dt_fail(err, DT_EUSAGE,
				       "queue URL '%.200s' holds a character no "
				       "queue URL has",
				       url);
	path = strchr(auth, '/');
	if (path == NULL || path == auth || path[1] == '\0' || auth[0] == '@')
		return dt_fail(err, DT_EUSAGE,
			       "queue URL '%.200s' is not http(s)://HOST/ACCOUNT/NAME", url);
	if (memchr(auth, '@', (size_t)(path - auth)))
		return dt_fail(err, DT_EUSAGE, "queue URL '%.200s' holds user information", url);
	memcpy(origin, url, (size_t)(path - url));
	origin[path - url] = '\0';
	colon = memchr(auth, ':', (size_t)(path - auth));
	region_of_host(auth, (size_t)((colon ? colon : path) - auth), region_out);
	return 0;
}

static int
sqs_setup(struct sqs *s, const char *url, const struct sqs_options *o, struct dt_err *err)
{
	const char *const *env = o ? o->env : NULL;
	struct profile_files *pf = NULL;
	char origin[ENDPOINT_MAX_URL], override[ENDPOINT_MAX_URL], host_region[ENDPOINT_MAX_REGION];
	int rc;

	if (split_queue_url(url, origin, host_region, err) < 0)
		return -1;
	memcpy(s->queue_url, url, strlen(url) + 1);
	if (o && o->pool) {
		s->pool = o->pool;
	} else {
		if (http_pool_new(NULL, &s->pool, err) < 0)
			return -1;
		s->own_pool = 1;
	}
	if (profile_load(env, &pf, err) < 0)
		return -1;
	rc = endpoint_override(env, pf, ENDPOINT_SQS, override, err);
	if (rc >= 0 && o && o->region && *o->region) {
		snprintf(s->region, sizeof(s->region), "%s", o->region);
	} else if (rc >= 0 && host_region[0]) {
		memcpy(s->region, host_region, sizeof(s->region));
	} else if (rc >= 0) {
		if (endpoint_region(env, pf, s->pool, s->region, err) < 0)
			rc = -1;
	}
	profile_free(pf);
	if (rc < 0)
		return -1;
	snprintf(s->endpoint, sizeof(s->endpoint), "%s/", rc == 1 ? override : origin);
	if (o && o->creds) {
		s->creds = o->creds;
	} else {
		struct creds_options co;

		memset(&co, 0, sizeof(co));
		co.env = env;
		co.region = s->region;
		if (creds_new(&co, s->pool, &s->creds, err) < 0)
			return -1;
		s->own_creds = 1;
	}
	return 0;
}

int
sqs_open(const char *queue_url, const struct sqs_options *o, struct sqs **out, struct dt_err *err)
{
	struct sqs *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (s == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (sqs_setup(s, queue_url, o, err) < 0) {
		sqs_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

/*
 * One operation: in (stolen, also on failure) gets the QueueUrl and goes as the body; *out is
 * the answer (new: json_decref()), an empty object for an empty body.
 */
static int
sqs_call(struct sqs *s, const char *op, json_t *in, long timeout_ms, json_t **out,
	 struct dt_err *err)
{
	char target[64];
	struct sigv4_header hdrs[2] = { { "Content-Type", "application/x-amz-json-1.0" },
					{ "X-Amz-Target", target } };
	struct http_request rq;
	struct http_response rs;
	struct dt_err herr = { 0 };
	json_error_t je;
	char *body = NULL;
	int ret = -1;

	*out = NULL;
	memset(&rs, 0, sizeof(rs));
	snprintf(target, sizeof(target), "AmazonSQS.%s", op);
	if (in == NULL || json_object_set_new(in, "QueueUrl", json_string(s->queue_url)) < 0 ||
	    (body = json_dumps(in, JSON_COMPACT)) == NULL) {
		json_decref(in);
		return dt_fail(err, DT_ENOMEM, "%s: cannot build the request", op);
	}
	json_decref(in);
	memset(&rq, 0, sizeof(rq));
	rq.operation = op;
	rq.method = "POST";
	rq.url = s->endpoint;
	rq.headers = hdrs;
	rq.nheaders = 2;
	rq.body = body;
	rq.body_len = strlen(body);
	rq.creds = s->creds;
	rq.region = s->region;
	rq.service = "sqs";
	rq.timeout_ms = timeout_ms;
	/* The queue goes before http.h's line: a worker may serve several. */
	if (http_do(s->pool, &rq, &rs, &herr) < 0) {
		dt_fail(err, herr.code, "queue '%.300s': %s", s->queue_url, herr.msg);
		goto out;
	}
	if (rs.body.len == 0) {
		*out = json_object();
	} else {
		*out = json_loadb((const char *)rs.body.data, rs.body.len, 0, &je);
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			dt_fail(err, DT_ENET, "%s: the answer is not a JSON object (%s)", op,
				je.text);
			goto out;
		}
	}
	if (*out == NULL) {
		dt_fail(err, DT_ENOMEM, "%s: out of memory", op);
		goto out;
	}
	ret = 0;
out:
	http_response_release(&rs);
	free(body);
	return ret;
}

/* Lower-case hex MD5 of n bytes: what SQS sends as MD5OfBody. */
static void
md5_hex(const char *data, size_t n, char hex[33])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	if (EVP_Digest(data, n, md, &len, EVP_md5(), NULL) != 1 || len != 16) {
		hex[0] = '\0';
		return;
	}
	for (unsigned i = 0; i < 16; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

/* A copy of the JSON string v (NUL bytes kept, NUL-terminated): new, or NULL. */
static char *
dup_string(json_t *v, size_t *len)
{
	size_t n = json_string_length(v);
	char *p = malloc(n + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, json_string_value(v), n);
	p[n] = '\0';
	if (len)
		*len = n;
	return p;
}

void
sqs_messages_free(struct sqs_message *msgs, size_t n)
{
	for (size_t i = 0; msgs && i < n; i++) {
		free(msgs[i].message_id);
		free(msgs[i].receipt_handle);
		free(msgs[i].body);
	}
	free(msgs);
}

/* A count in an attribute map: SQS sends numbers as strings. 0 when absent or odd. */
static unsigned
attr_uint(json_t *attrs, const char *name)
{
	json_t *v = json_object_get(attrs, name);
	unsigned long long u;
	char *end;

	if (json_is_integer(v))
		return json_integer_value(v) > 0 && json_integer_value(v) <= 0xffffffffLL
			       ? (unsigned)json_integer_value(v)
			       : 0;
	if (!json_is_string(v))
		return 0;
	u = strtoull(json_string_value(v), &end, 10);
	return *json_string_value(v) && *end == '\0' && u <= 0xffffffffu ? (unsigned)u : 0;
}

static int
take_message(json_t *m, struct sqs_message *out, struct dt_err *err)
{
	json_t *id = json_object_get(m, "MessageId"), *rh = json_object_get(m, "ReceiptHandle");
	json_t *body = json_object_get(m, "Body"), *md5 = json_object_get(m, "MD5OfBody");
	char hex[33];

	if (!json_is_string(id) || !json_is_string(rh) || !json_is_string(body))
		return dt_fail(err, DT_ENET,
			       "ReceiveMessage: a message without MessageId, "
			       "ReceiptHandle or Body");
	/* The SDKs check the body against its MD5 too: a mangled job is never run. */
	md5_hex(json_string_value(body), json_string_length(body), hex);
	if (json_is_string(md5) && strcasecmp(hex, json_string_value(md5)) != 0)
		return dt_fail(err, DT_ENET,
			       "ReceiveMessage: message '%.100s': MD5OfBody does "
			       "not match the body",
			       json_string_value(id));
	out->message_id = dup_string(id, NULL);
	out->receipt_handle = dup_string(rh, NULL);
	out->body = dup_string(body, &out->body_len);
	if (!out->message_id || !out->receipt_handle || !out->body)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	out->receive_count = attr_uint(json_object_get(m, "Attributes"), "ApproximateReceiveCount");
	return 0;
}

int
sqs_receive(struct sqs *s, unsigned wait_seconds, unsigned max, int visibility,
	    struct sqs_message **msgs, size_t *n, struct dt_err *err)
{
	json_t *in = json_object(), *ans = NULL, *list;
	struct sqs_message *m = NULL;
	size_t count;

	*msgs = NULL;
	*n = 0;
	if (wait_seconds > SQS_MAX_WAIT || max < 1 || max > SQS_MAX_RECEIVE ||
	    visibility > SQS_MAX_VISIBILITY) {
		json_decref(in);
		return dt_fail(err, DT_EUSAGE,
			       "ReceiveMessage: wait %u s (at most %d), %u "
			       "messages (1 to %d), visibility %d s (at most %d)",
			       wait_seconds, SQS_MAX_WAIT, max, SQS_MAX_RECEIVE, visibility,
			       SQS_MAX_VISIBILITY);
	}
	json_object_set_new(in, "MaxNumberOfMessages", json_integer(max));
	json_object_set_new(in, "WaitTimeSeconds", json_integer(wait_seconds));
	if (visibility >= 0)
		json_object_set_new(in, "VisibilityTimeout", json_integer(visibility));
	json_object_set_new(in, "MessageSystemAttributeNames",
			    json_pack("[s]", "ApproximateReceiveCount"));
	if (sqs_call(s, "ReceiveMessage", in, (long)wait_seconds * 1000 + SQS_POLL_SLACK_MS, &ans,
		     err) < 0)
		return -1;
	list = json_object_get(ans, "Messages");
	count = json_array_size(list);
	if (list && !json_is_null(list) && !json_is_array(list)) {
		json_decref(ans);
		return dt_fail(err, DT_ENET, "ReceiveMessage: Messages is not a list");
	}
	if (count > max) {
		json_decref(ans);
		return dt_fail(err, DT_ENET, "ReceiveMessage: %zu messages, asked for %u", count,
			       max);
	}
	if (count > 0 && (m = calloc(count, sizeof(*m))) == NULL) {
		json_decref(ans);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < count; i++) {
		if (take_message(json_array_get(list, i), &m[i], err) < 0) {
			sqs_messages_free(m, count);
			json_decref(ans);
			return -1;
		}
	}
	json_decref(ans);
	*msgs = m;
	*n = count;
	return 0;
}

int
sqs_delete(struct sqs *s, const char *receipt_handle, struct dt_err *err)
{
	json_t *ans = NULL;

	if (sqs_call(s, "DeleteMessage", json_pack("{ss}", "ReceiptHandle", receipt_handle), 0,
		     &ans, err) < 0)
		return -1;
	json_decref(ans);
	return 0;
}

int
sqs_change_visibility(struct sqs *s, const char *receipt_handle, unsigned seconds,
		      struct dt_err *err)
{
	json_t *ans = NULL;

	if (seconds > SQS_MAX_VISIBILITY)
		return dt_fail(err, DT_EUSAGE, "ChangeMessageVisibility: %u s is over %d s",
			       seconds, SQS_MAX_VISIBILITY);
	if (sqs_call(s, "ChangeMessageVisibility",
		     json_pack("{sssI}", "ReceiptHandle", receipt_handle, "VisibilityTimeout",
			       (json_int_t)seconds),
		     0, &ans, err) < 0)
		return -1;
	json_decref(ans);
	return 0;
}

int
sqs_send(struct sqs *s, const char *body, unsigned delay_seconds, char **message_id,
	 struct dt_err *err)
{
	size_t n = strlen(body);
	json_t *in, *ans = NULL, *id, *md5;
	char hex[33];
	int ret = -1;

	if (message_id)
		*message_id = NULL;
	if (n == 0 || n > SQS_MAX_MESSAGE_BYTES)
		return dt_fail(err, DT_EUSAGE, "SendMessage: a body of %zu bytes (1 to %u)", n,
			       SQS_MAX_MESSAGE_BYTES);
	/* json_stringn refuses bytes that are not UTF-8: SQS would too. */
	in = json_object();
	if (in && json_object_set_new(in, "MessageBody", json_stringn(body, n)) < 0) {
		json_decref(in);
		return dt_fail(err, DT_EUSAGE, "SendMessage: the body is not UTF-8 text");
	}
	if (in && delay_seconds)
		json_object_set_new(in, "DelaySeconds", json_integer(delay_seconds));
	if (sqs_call(s, "SendMessage", in, 0, &ans, err) < 0)
		return -1;
	id = json_object_get(ans, "MessageId");
	md5 = json_object_get(ans, "MD5OfMessageBody");
	md5_hex(body, n, hex);
	if (!json_is_string(id)) {
		dt_fail(err, DT_ENET, "SendMessage: the answer names no MessageId");
	} else if (json_is_string(md5) && strcasecmp(hex, json_string_value(md5)) != 0) {
		dt_fail(err, DT_ENET, "SendMessage: MD5OfMessageBody does not match what was sent");
	} else if (message_id && (*message_id = dup_string(id, NULL)) == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
	} else {
		ret = 0;
	}
	json_decref(ans);
	return ret;
}

int
sqs_get_attributes(struct sqs *s, struct sqs_attributes *out, struct dt_err *err)
{
	json_t *ans = NULL, *attrs, *rp, *pol = NULL, *arn;
	json_error_t je;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (sqs_call(s, "GetQueueAttributes",
		     json_pack("{s[ss]}", "AttributeNames", "VisibilityTimeout", "RedrivePolicy"),
		     0, &ans, err) < 0)
		return -1;
	attrs = json_object_get(ans, "Attributes");
	out->visibility_timeout = attr_uint(attrs, "VisibilityTimeout");
	rp = json_object_get(attrs, "RedrivePolicy");
	if (json_is_string(rp) && json_string_length(rp) > 0) {
		/* The policy is JSON inside a string; maxReceiveCount a number or a string. */
		pol = json_loadb(json_string_value(rp), json_string_length(rp), 0, &je);
		arn = json_object_get(pol, "deadLetterTargetArn");
		if (!json_is_object(pol) || !json_is_string(arn)) {
			dt_fail(err, DT_ENET,
				"GetQueueAttributes: RedrivePolicy '%.200s' is not a "
				"redrive policy",
				json_string_value(rp));
			goto out;
		}
		out->has_redrive = 1;
		out->max_receive_count = attr_uint(pol, "maxReceiveCount");
		snprintf(out->dead_letter_arn, sizeof(out->dead_letter_arn), "%s",
			 json_string_value(arn));
	}
	ret = 0;
out:
	json_decref(pol);
	json_decref(ans);
	return ret;
}
