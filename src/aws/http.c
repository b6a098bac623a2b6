/* http.c - see http.h. */
#include "aws/http.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "aws/creds.h"
#include "buf.h"

#include "banned.h"

#define MAX_HEADER_BYTES (64u * 1024)
#define MAX_AUTHORITY    256
#define HTTP_RECV_BUFFER 524288L /* curl's receive buffer for a body into dst */

struct http_pool {
	struct http_options o;
	char *user_agent; /* owned */
	CURLSH *share;
	pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
	pthread_mutex_t lock; /* guards free_handles */
	CURL **free_handles;  /* owned: idle easy handles */
	size_t nfree, capfree;
};

/* What the callbacks of one attempt write into. */
struct transfer {
	CURL *h;
	const struct http_request *req;
	struct http_response *resp;
	size_t max_body;
	size_t header_bytes;
	int too_big;
	int sink_failed;
	uint64_t read_off; /* next byte of body_file to send, relative to its start */
	struct dt_err *err;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void
global_init(void)
{
	global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
	struct http_pool *p = ud;

	(void)h;
	(void)access;
	pthread_mutex_lock(&p->share_locks[data]);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	struct http_pool *p = ud;

	(void)h;
	pthread_mutex_unlock(&p->share_locks[data]);
}

int
http_pool_new(const struct http_options *opts, struct http_pool **out, struct dt_err *err)
{
	struct http_pool *p;

	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_rc != CURLE_OK)
		return dt_fail(err, DT_ENET, "cannot initialise libcurl: %s",
			       curl_easy_strerror(global_rc));
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate an HTTP pool");
	if (opts)
		p->o = *opts;
	if (p->o.connect_timeout_ms <= 0)
		p->o.connect_timeout_ms = 3000;
	if (p->o.timeout_ms <= 0)
		p->o.timeout_ms = 60000;
	if (p->o.max_attempts <= 0)
		p->o.max_attempts = 5;
	if (p->o.max_attempts > HTTP_MAX_ATTEMPTS)
		p->o.max_attempts = HTTP_MAX_ATTEMPTS;
	if (p->o.max_connections <= 0)
		p->o.max_connections = 64;
	if (p->o.backoff_base_ms <= 0)
		p->o.backoff_base_ms = 100;
	if (p->o.backoff_cap_ms <= 0)
		p->o.backoff_cap_ms = 20000;
	p->user_agent = strdup(p->o.user_agent ? p->o.user_agent : "deltair/" DELTAIR_VERSION);
	p->o.user_agent = p->user_agent;
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&p->share_locks[i], NULL);
	pthread_mutex_init(&p->lock, NULL);
	p->share = curl_share_init();
	if (p->share == NULL || p->user_agent == NULL) {
		http_pool_free(p);
		return dt_fail(err, DT_ENOMEM, "cannot allocate an HTTP pool");
	}
	curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(p->share, CURLSHOPT_USERDATA, p);
	curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(p->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
	*out = p;
	return 0;
}

void
http_pool_free(struct http_pool *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nfree; i++)
		curl_easy_cleanup(p->free_handles[i]);
	free(p->free_handles);
	if (p->share)
		curl_share_cleanup(p->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&p->share_locks[i]);
	pthread_mutex_destroy(&p->lock);
	free(p->user_agent);
	free(p);
}

static CURL *
take_handle(struct http_pool *p)
{
	CURL *h = NULL;

	pthread_mutex_lock(&p->lock);
	if (p->nfree > 0)
		h = p->free_handles[--p->nfree];
	pthread_mutex_unlock(&p->lock);
	if (h == NULL)
		h = curl_easy_init();
	return h;
}

static void
give_handle(struct http_pool *p, CURL *h)
{
	pthread_mutex_lock(&p->lock);
	if (BUF_GROW(p->free_handles, p->nfree + 1, p->capfree, NULL) < 0) {
		pthread_mutex_unlock(&p->lock);
		curl_easy_cleanup(h);
		return;
	}
	p->free_handles[p->nfree++] = h;
	pthread_mutex_unlock(&p->lock);
}

long
http_backoff_ms(const struct http_options *o, int attempt, uint32_t rnd)
{
	long base = o->backoff_base_ms > 0 ? o->backoff_base_ms : 100;
	long cap = o->backoff_cap_ms > 0 ? o->backoff_cap_ms : 20000;
	long ceil = base;

	for (int i = 1; i < attempt && ceil < cap; i++)
		ceil *= 2;
	if (ceil > cap)
		ceil = cap;
	/* Full jitter: uniform over [0, ceil], so a burst of clients spreads out. */
	return (long)(((uint64_t)rnd * (uint64_t)(ceil + 1)) >> 32);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
clear_headers(struct http_response *r)
{
	for (size_t i = 0; i < r->nheaders; i++)
		free(r->headers[i]);
	r->nheaders = 0;
}

static size_t
header_cb(char *data, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	struct http_response *r = t->resp;
	size_t len = size * n, nlen, vlen;
	const char *colon, *v;
	char *e;

	t->header_bytes += len;
	if (t->header_bytes > MAX_HEADER_BYTES)
		return 0;
	/* A new status line (after 100 Continue) starts a new set of headers. */
	if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
		clear_headers(r);
		return len;
	}
	colon = memchr(data, ':', len);
	if (colon == NULL || r->nheaders == HTTP_MAX_HEADERS)
		return len;
	nlen = (size_t)(colon - data);
	v = colon + 1;
	vlen = len - nlen - 1;
	while (vlen > 0 && (*v == ' ' || *v == '\t'))
		v++, vlen--;
	while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	e = malloc(nlen + vlen + 2);
	if (e == NULL)
		return 0;
	for (size_t i = 0; i < nlen; i++)
		e[i] = (char)tolower((unsigned char)data[i]);
	e[nlen] = '\0';
	memcpy(e + nlen + 1, v, vlen);
	e[nlen + 1 + vlen] = '\0';
	r->headers[r->nheaders++] = e;
	return len;
}

static size_t
write_cb(char *data, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	struct http_response *r = t->resp;
	size_t len = size * n;
	long status = 0;

	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 300) {
		/* An error body: keep what svcerr needs, drop the rest. */
		size_t room = SVCERR_MAX_BODY > r->body.len ? SVCERR_MAX_BODY - r->body.len : 0;
		if (room > 0 && buf_add(&r->body, data, len < room ? len : room, NULL) < 0)
			return len; /* out of memory: the status alone names the error */
		return len;
	}
	if (t->req->sink) {
		if (t->req->dst_cap && len > t->req->dst_cap - r->len) {
			t->too_big = 1;
			return 0;
		}
		if (t->req->sink(t->req->sink_arg, r->len, data, len) < 0) {
			t->sink_failed = 1;
			return 0;
		}
	} else if (t->req->dst) {
		if (len > t->req->dst_cap - r->len) {
			t->too_big = 1;
			return 0;
		}
		memcpy((char *)t->req->dst + r->len, data, len);
	} else if (buf_add(&r->body, data, len, NULL) < 0) {
		t->too_big = 1;
		return 0;
	}
	r->len += len;
	return len;
}

/* An upload from body_file: pread, so that every attempt sends the same bytes again. */
static size_t
read_cb(char *data, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	const struct http_file_body *f = t->req->body_file;
	size_t want = size * n;
	ssize_t got;

	if (want > t->req->body_len - t->read_off)
		want = t->req->body_len - t->read_off;
	if (want == 0)
		return 0;
	do
		got = pread(f->fd, data, want, (off_t)(f->off + t->read_off));
	while (got < 0 && errno == EINTR);
	/* A file that shrank under us must not be sent short with the promised length. */
	if (got <= 0)
		return CURL_READFUNC_ABORT;
	t->read_off += (uint64_t)got;
	return (size_t)got;
}

const char *
http_response_header(const struct http_response *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->headers[i], name) == 0)
			return r->headers[i] + strlen(r->headers[i]) + 1;
	return NULL;
}

void
http_response_release(struct http_response *r)
{
	if (r == NULL)
		return;
	if (r->body.data)
		OPENSSL_cleanse(r->body.data, r->body.cap);
	buf_release(&r->body);
	clear_headers(r);
}

/* Split scheme://authority/path?query. authority and path are copied, query borrowed. */
static int
split_url(const char *url, char *authority, size_t acap, char **path, const char **query,
	  struct dt_err *err)
{
	const char *a = strstr(url, "://"), *end;
	size_t alen, plen;

	if (a == NULL || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return dt_fail(err, DT_EUSAGE, "not an http(s) URL: '%s'", url);
	a += 3;
	alen = strcspn(a, "/?");
	if (alen == 0 || alen >= acap || memchr(a, '@', alen))
		return dt_fail(err, DT_EUSAGE, "bad host in URL '%s'", url);
	memcpy(authority, a, alen);
	authority[alen] = '\0';
	end = a + alen;
	plen = strcspn(end, "?");
	*path = strndup(end, plen);
	if (*path == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate a URL");
	*query = end[plen] == '?' ? end + plen + 1 : NULL;
	return 0;
}

/* Add "Name: value" to the list; the copy is wiped when the list is freed (wipe_list). */
static int
add_line(struct curl_slist **l, const char *name, const char *value)
{
	size_t n = strlen(name) + strlen(value) + 3;
	char *s = malloc(n);
	struct curl_slist *nl;

	if (s == NULL)
		return -1;
	snprintf(s, n, "%s: %s", name, value);
	nl = curl_slist_append(*l, s);
	OPENSSL_cleanse(s, n);
	free(s);
	if (nl == NULL)
		return -1;
	*l = nl;
	return 0;
}

static void
wipe_list(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		OPENSSL_cleanse(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

/* The headers of one attempt, signed at now when creds are given. */
static int
build_headers(const struct http_request *req, const char *authority, const char *path,
	      const char *query, const struct creds_value *cv, struct curl_slist **out,
	      struct dt_err *err)
{
	struct sigv4_header *h = calloc(req->nheaders + 1, sizeof(*h));
	struct sigv4_signed s = { 0 };
	struct curl_slist *l = NULL;
	int ret = -1;

	if (h == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate headers");
	for (size_t i = 0; i < req->nheaders; i++)
		h[i] = req->headers[i];
	h[req->nheaders] = (struct sigv4_header){ "Host", authority };
	for (size_t i = 0; i <= req->nheaders; i++)
		if (add_line(&l, h[i].name, h[i].value) < 0)
			goto nomem;
	/* No "Expect: 100-continue" round trip, no default content type. */
	if ((l = curl_slist_append(l, "Expect:")) == NULL)
		goto nomem;
	if (cv) {
		struct sigv4_creds c = { cv->access_key_id, cv->secret_access_key,
					 cv->session_token };
		struct sigv4_params p = { req->region, req->service,     time(NULL),
					  &c,          req->sigv4_flags, 0 };
		struct sigv4_request r = {
			req->method,       path,      query,         h,
			req->nheaders + 1, req->body, req->body_len, req->payload_hash
		};
		if (sigv4_sign(&r, &p, &s, err) < 0)
			goto out;
		if (add_line(&l, "X-Amz-Date", s.amz_date) < 0 ||
		    (s.content_sha256[0] &&
		     add_line(&l, "X-Amz-Content-SHA256", s.content_sha256) < 0) ||
		    (cv->session_token[0] &&
		     add_line(&l, "X-Amz-Security-Token", cv->session_token) < 0) ||
		    add_line(&l, "Authorization", s.authorization) < 0)
			goto nomem;
	}
	*out = l;
	l = NULL;
	ret = 0;
	goto out;
nomem:
	dt_fail(err, DT_ENOMEM, "cannot allocate headers");
out:
	sigv4_signed_release(&s);
	wipe_list(l);
	free(h);
	return ret;
}

/* Transport failures worth another attempt: the next connection may well work. */
static int
retryable_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM: return 1;
	default: return 0;
	}
}

static int
retryable_status(long status, const char *code)
{
	return status == 429 || status >= 500 || svcerr_is_throttle(code);
}

static uint32_t
random_u32(void)
{
	uint32_t r = 0;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint32_t)time(NULL) * 2654435761u;
	return r;
}

static void
set_common(CURL *h, struct http_pool *p, const struct http_request *req, struct transfer *t)
{
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_SHARE, p->share);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_URL, req->url);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, p->user_agent);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->o.connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS,
			 req->timeout_ms > 0 ? req->timeout_ms : p->o.timeout_ms);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	/* The shared cache keeps this many idle connections; curl's default is 5. */
	curl_easy_setopt(h, CURLOPT_MAXCONNECTS, (long)p->o.max_connections);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, t);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
	/* A large body into dst (an EBS block) in a few reads, not in curl's default 16 KiB
	 * ones: per 512 KiB block, 30 fewer recv calls and as many polls and write callbacks. */
	if (req->dst && req->dst_cap > CURL_MAX_WRITE_SIZE)
		curl_easy_setopt(h, CURLOPT_BUFFERSIZE, HTTP_RECV_BUFFER);
	if (strcmp(req->method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else if (strcmp(req->method, "HEAD") == 0) {
		curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
	} else if (req->body_file && req->body_file->fd >= 0) {
		t->read_off = 0;
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, t);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
	} else {
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	}
}

static void
reset_attempt(struct http_response *r)
{
	r->status = 0;
	r->len = 0;
	if (r->body.data)
		OPENSSL_cleanse(r->body.data, r->body.len);
	buf_reset(&r->body);
	clear_headers(r);
	r->error.code[0] = r->error.message[0] = '\0';
}

/* One run of the attempts, with the credentials creds_get() gives now. */
static int
http_run(struct http_pool *p, const struct http_request *req, struct http_response *resp,
	 struct dt_err *err)
{
	struct transfer t = { 0 };
	struct creds_value cv;
	char authority[MAX_AUTHORITY], curlerr[CURL_ERROR_SIZE];
	char *path = NULL;
	const char *query = NULL, *op = req->operation ? req->operation : req->method;
	int max = req->max_attempts > 0 ? req->max_attempts : p->o.max_attempts;
	int ret = -1, have_creds = 0;
	CURLcode rc = CURLE_OK;
	CURL *h = NULL;

	memset(resp, 0, sizeof(*resp));
	buf_init(&resp->body, req->max_body ? req->max_body : HTTP_DEFAULT_MAX_BODY);
	if (max > HTTP_MAX_ATTEMPTS)
		max = HTTP_MAX_ATTEMPTS;
	if (split_url(req->url, authority, sizeof(authority), &path, &query, err) < 0)
		return -1;
	/* Credentials once per operation, outside the attempts: no retries inside retries. */
	if (req->creds) {
		if (creds_get(req->creds, &cv, err) < 0)
			goto out;
		have_creds = 1;
	}
	h = take_handle(p);
	if (h == NULL) {
		dt_fail(err, DT_ENOMEM, "%s: cannot allocate a curl handle", op);
		goto out;
	}
	t.h = h;
	t.req = req;
	t.resp = resp;
	for (int attempt = 1; attempt <= max; attempt++) {
		struct curl_slist *hl = NULL;

		if (attempt > 1)
			sleep_ms(http_backoff_ms(&p->o, attempt - 1, random_u32()));
		if (req->pace)
			req->pace(req->pace_arg);
		reset_attempt(resp);
		t.header_bytes = 0;
		t.too_big = 0;
		t.sink_failed = 0;
		resp->attempts = attempt;
		set_common(h, p, req, &t);
		curlerr[0] = '\0';
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, curlerr);
		if (build_headers(req, authority, path, query, have_creds ? &cv : NULL, &hl, err) <
		    0)
			goto out;
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
		rc = curl_easy_perform(h);
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		wipe_list(hl);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
		if (t.too_big) {
			dt_fail(err, DT_EFORMAT, "%s: response body larger than %zu bytes", op,
				req->dst || req->sink ? req->dst_cap : resp->body.limit);
			goto out;
		}
		if (t.sink_failed) {
			dt_fail(err, DT_EIO, "%s: cannot keep the response body", op);
			goto out;
		}
		if (rc == CURLE_ABORTED_BY_CALLBACK && req->body_file) {
			dt_fail(err, DT_EIO, "%s: the file to send shrank or cannot be read", op);
			goto out;
		}
		if (rc != CURLE_OK) {
			if (retryable_curl(rc) && attempt < max)
				continue;
			dt_fail(err, DT_ENET, "%s: %s (%d attempt%s)", op,
				curlerr[0] ? curlerr : curl_easy_strerror(rc), attempt,
				attempt == 1 ? "" : "s");
			goto out;
		}
		if (resp->status >= 200 && resp->status < 300) {
			ret = 0;
			goto out;
		}
		svcerr_parse(http_response_header(resp, "x-amzn-errortype"), resp->body.data,
			     resp->body.len, &resp->error);
		svcerr_query_compat(&resp->error, http_response_header(resp, "x-amzn-query-error"));
		if (retryable_status(resp->status, resp->error.code) && attempt < max)
			continue;
		dt_fail(err, DT_ENET, "%s: HTTP %ld%s%s%s%s (%d attempt%s)", op, resp->status,
			resp->error.code[0] ? " " : "", resp->error.code,
			resp->error.message[0] ? ": " : "", resp->error.message, attempt,
			attempt == 1 ? "" : "s");
		goto out;
	}
out:
	if (h) {
		curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
		give_handle(p, h);
	}
	if (have_creds)
		creds_value_wipe(&cv);
	free(path);
	return ret;
}

int
http_do(struct http_pool *p, const struct http_request *req, struct http_response *resp,
	struct dt_err *err)
{
	if (http_run(p, req, resp, err) == 0)
		return 0;
	if (req->creds == NULL || !svcerr_is_expired_creds(resp->error.code))
		return -1;
	/* Expired mid-run: look the credentials up again and run the operation once more. */
	http_response_release(resp);
	dt_clear(err);
	creds_invalidate(req->creds);
	return http_run(p, req, resp, err);
}
