/* s3.c - S3 objects: put (single, multipart), get, head, list, delete (aws/s3.h). */
#include "aws/s3.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <expat.h>
#include <openssl/evp.h>
#include <openssl/md5.h>
#include <openssl/sha.h>

#include "aws/creds.h"
#include "aws/endpoint.h"
#include "aws/http.h"
#include "aws/profile.h"
#include "buf.h"
#include "outfile.h"

#include "banned.h"

#define XML_MAX_DEPTH  8
#define XML_MAX_NAME   40
#define XML_MAX_TEXT   (16u * 1024)
#define LIST_MAX_BODY  (8u * 1024 * 1024)
#define DELETE_BATCH   1000
#define HASH_CHUNK     (1u << 20)
#define B64_SHA256_LEN 44

struct s3 {
	struct http_pool *pool; /* borrowed */
	struct creds *creds;    /* borrowed */
	char region[ENDPOINT_MAX_REGION];
	char base[ENDPOINT_MAX_URL]; /* "https://s3.eu-west-1.amazonaws.com", no '/' at the end */
	int override;                /* the endpoint was configured: path-style addressing */
	const char *sse;             /* static string or NULL */
	char *kms_key;               /* owned */
	uint64_t threshold, part;
};

/* The SHA-256 of what is sent, in the two spellings S3 wants. */
struct digest {
	char hex[65];
	char b64[B64_SHA256_LEN + 1];
};

static void
digest_final(EVP_MD_CTX *ctx, struct digest *d)
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	static const char x[] = "0123456789abcdef";

	EVP_DigestFinal_ex(ctx, md, NULL);
	for (size_t i = 0; i < sizeof(md); i++) {
		d->hex[2 * i] = x[md[i] >> 4];
		d->hex[2 * i + 1] = x[md[i] & 15];
	}
	d->hex[64] = '\0';
	EVP_EncodeBlock((unsigned char *)d->b64, md, sizeof(md));
}

static void
digest_mem(const void *data, size_t len, struct digest *d)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL)
		DT_BUG("cannot allocate a digest context");
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, data, len);
	digest_final(ctx, d);
	EVP_MD_CTX_free(ctx);
}

/* SHA-256 of len bytes of fd from off, read in pieces (a part is never held whole). */
static int
digest_fd(int fd, uint64_t off, uint64_t len, const char *path, struct digest *d,
	  struct dt_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *chunk = malloc(HASH_CHUNK);
	int ret = -1;

	if (ctx == NULL || chunk == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while (len > 0) {
		size_t want = len < HASH_CHUNK ? (size_t)len : HASH_CHUNK;
		ssize_t got = pread(fd, chunk, want, (off_t)off);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
			goto out;
		}
		if (got == 0) {
			dt_fail(err, DT_EIO, "'%s' shrank while it was being stored", path);
			goto out;
		}
		EVP_DigestUpdate(ctx, chunk, (size_t)got);
		off += (uint64_t)got;
		len -= (uint64_t)got;
	}
	digest_final(ctx, d);
	ret = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(chunk);
	return ret;
}

int
s3_bucket_ok(const char *name)
{
	size_t n = strlen(name);

	if (n < 3 || n > S3_MAX_BUCKET)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '-'))
			return 0;
	}
	return name[0] != '.' && name[0] != '-' && name[n - 1] != '.' && name[n - 1] != '-';
}

int
s3_object_url(const char *base, int path_style, const char *bucket, const char *key,
	      const char *query, char **out, struct dt_err *err)
{
	const char *host = strstr(base, "://");
	struct buf b;

	*out = NULL;
	if (host == NULL)
		return dt_fail(err, DT_EUSAGE, "S3 endpoint '%s' has no scheme", base);
	host += 3;
	buf_init(&b, ENDPOINT_MAX_URL + 3 * S3_MAX_KEY + 4096);
	if (path_style) {
		if (buf_adds(&b, base, err) < 0 || buf_addc(&b, '/', err) < 0 ||
		    buf_adds(&b, bucket, err) < 0)
			goto fail;
		if (key && buf_addc(&b, '/', err) < 0)
			goto fail;
	} else {
		/* scheme://BUCKET.host[:port][/...] */
		if (buf_add(&b, base, (size_t)(host - base), err) < 0 ||
		    buf_adds(&b, bucket, err) < 0 || buf_addc(&b, '.', err) < 0 ||
		    buf_adds(&b, host, err) < 0 || buf_addc(&b, '/', err) < 0)
			goto fail;
	}
	if (key && sigv4_uri_encode(&b, key, strlen(key), 1, err) < 0)
		goto fail;
	if (query && (buf_addc(&b, '?', err) < 0 || buf_adds(&b, query, err) < 0))
		goto fail;
	if (buf_addc(&b, 0, err) < 0)
		goto fail;
	*out = (char *)buf_detach(&b, NULL);
	return 0;
fail:
	buf_release(&b);
	return -1;
}

/*
 * One S3 operation on bucket/key: its URL and signing. The failure names the object:
 * "'s3://b/k': PutObject: HTTP 403 SignatureDoesNotMatch (1 attempt)".
 */
static int
s3_do(struct s3 *c, struct http_request *rq, const char *bucket, const char *key, const char *query,
      struct http_response *resp, struct dt_err *err)
{
	struct dt_err e = { 0 };
	char *url = NULL;
	int path_style = c->override || strchr(bucket, '.') != NULL;
	int rc;

	if (s3_object_url(c->base, path_style, bucket, key, query, &url, err) < 0) {
		memset(resp, 0, sizeof(*resp));
		return -1;
	}
	rq->url = url;
	rq->creds = c->creds;
	rq->region = c->region;
	rq->service = "s3";
	rq->sigv4_flags = SIGV4_S3;
	rc = http_do(c->pool, rq, resp, &e);
	free(url);
	if (rc < 0)
		dt_fail(err, e.code, "'s3://%s/%s': %s", bucket, key ? key : "", e.msg);
	return rc;
}

static int
check_names(const char *bucket, const char *key, struct dt_err *err)
{
	if (!s3_bucket_ok(bucket))
		return dt_fail(err, DT_EUSAGE, "'%.100s' is not an S3 bucket name", bucket);
	if (key && (key[0] == '\0' || strlen(key) > S3_MAX_KEY))
		return dt_fail(err, DT_EUSAGE, "S3 key of %zu bytes (1 to %d)", strlen(key),
			       S3_MAX_KEY);
	return 0;
}

/* ---- XML answers, through libexpat ---- */

/*
 * A small walk over an XML answer: for each element that ends, on_end() sees the local
 * names from the root down (names[0..depth-1]) and the element's own text. Elements deeper
 * than XML_MAX_DEPTH are skipped; text beyond XML_MAX_TEXT makes the answer malformed.
 */
struct xml_walk {
	int depth;
	char names[XML_MAX_DEPTH][XML_MAX_NAME];
	struct buf text;
	int bad;
	int (*on_end)(struct xml_walk *w, void *arg); /* -1 stops: malformed */
	void *arg;
};

static int
at(const struct xml_walk *w, int depth, const char *a, const char *b, const char *c)
{
	const char *want[3] = { a, b, c };

	if (w->depth != depth)
		return 0;
	for (int i = 0; i < depth && i < 3; i++)
		if (strcmp(w->names[i], want[i]) != 0)
			return 0;
	return 1;
}

static const char *
text(const struct xml_walk *w)
{
	return w->text.data ? (const char *)w->text.data : "";
}

static void XMLCALL
walk_start(void *ud, const XML_Char *name, const XML_Char **attr)
{
	struct xml_walk *w = ud;
	const char *local = strrchr(name, ' '); /* after the namespace */

	(void)attr;
	local = local ? local + 1 : name;
	if (w->depth < XML_MAX_DEPTH)
		snprintf(w->names[w->depth], XML_MAX_NAME, "%s", local);
	w->depth++;
	buf_reset(&w->text);
}

static void XMLCALL
walk_end(void *ud, const XML_Char *name)
{
	struct xml_walk *w = ud;

	(void)name;
	if (w->depth <= XML_MAX_DEPTH && !w->bad && w->on_end(w, w->arg) < 0)
		w->bad = 1;
	w->depth--;
	buf_reset(&w->text);
}

static void XMLCALL
walk_text(void *ud, const XML_Char *s, int len)
{
	struct xml_walk *w = ud;

	if (buf_add(&w->text, s, (size_t)len, NULL) < 0)
		w->bad = 1;
}

static int
xml_walk(const void *xml, size_t len, const char *what, int (*on_end)(struct xml_walk *, void *),
	 void *arg, struct dt_err *err)
{
	XML_Parser p = XML_ParserCreateNS(NULL, ' ');
	struct xml_walk w = { 0 };
	int ok;

	if (p == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	buf_init(&w.text, XML_MAX_TEXT);
	w.on_end = on_end;
	w.arg = arg;
	XML_SetUserData(p, &w);
	XML_SetElementHandler(p, walk_start, walk_end);
	XML_SetCharacterDataHandler(p, walk_text);
	ok = len <= INT32_MAX && XML_Parse(p, xml, (int)len, 1) == XML_STATUS_OK;
	if (!ok)
		dt_fail(err, DT_EFORMAT, "%s: malformed XML answer: %s", what,
			XML_ErrorString(XML_GetErrorCode(p)));
	else if (w.bad)
		dt_fail(err, DT_EFORMAT, "%s: unexpected XML answer", what);
	XML_ParserFree(p);
	buf_release(&w.text);
	return ok && !w.bad ? 0 : -1;
}

/* %XX and '+' (encoding-type=url answers, decoded as botocore does), in place. */
static void
url_decode(char *s)
{
	size_t n = strlen(s), o = 0;

	for (size_t i = 0; i < n; i++) {
		int hi, lo;
		if (s[i] == '+') {
			s[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n &&
			   (hi = OPENSSL_hexchar2int((unsigned char)s[i + 1])) >= 0 &&
			   (lo = OPENSSL_hexchar2int((unsigned char)s[i + 2])) >= 0) {
			s[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			s[o++] = s[i];
		}
	}
	s[o] = '\0';
}

struct list_state {
	char ***keys;
	size_t *n, *cap;
	int *truncated;
	char **token;
	int root_ok;
	int encoded; /* <EncodingType>url</EncodingType>: the server did encode the keys */
};

static int
list_end(struct xml_walk *w, void *arg)
{
	struct list_state *st = arg;

	if (w->depth == 1) {
		st->root_ok = strcmp(w->names[0], "ListBucketResult") == 0;
		return st->root_ok ? 0 : -1;
	}
	if (at(w, 3, "ListBucketResult", "Contents", "Key")) {
		char *k;
		if (*st->n >= S3_MAX_LIST)
			return -1;
		if (buf_grow_array(st->keys, st->cap, *st->n + 1, sizeof(char *), NULL) < 0)
			return -1;
		if ((k = strdup(text(w))) == NULL)
			return -1;
		(*st->keys)[(*st->n)++] = k;
	} else if (at(w, 2, "ListBucketResult", "EncodingType", NULL)) {
		st->encoded = strcmp(text(w), "url") == 0;
	} else if (at(w, 2, "ListBucketResult", "IsTruncated", NULL)) {
		*st->truncated = strcmp(text(w), "true") == 0;
	} else if (at(w, 2, "ListBucketResult", "NextContinuationToken", NULL)) {
		free(*st->token);
		if ((*st->token = strdup(text(w))) == NULL)
			return -1;
	}
	return 0;
}

int
s3_parse_list(const void *xml, size_t len, char ***keys, size_t *n, size_t *cap, int *truncated,
	      char **token, struct dt_err *err)
{
	struct list_state st = { keys, n, cap, truncated, token, 0, 0 };
	size_t first = *n;

	*truncated = 0;
	free(*token);
	*token = NULL;
	if (xml_walk(xml, len, "ListObjectsV2", list_end, &st, err) < 0)
		return -1;
	if (!st.root_ok)
		return dt_fail(err, DT_EFORMAT, "ListObjectsV2: no ListBucketResult");
	/* Decoded only when the answer says it encoded them (it may come after the keys). */
	for (size_t i = first; i < *n; i++) {
		char *k = (*keys)[i];
		if (st.encoded)
			url_decode(k);
		if (k[0] == '\0' || strlen(k) > S3_MAX_KEY)
			return dt_fail(err, DT_EFORMAT, "ListObjectsV2: a key of %zu bytes",
				       strlen(k));
	}
	if (*truncated && (*token == NULL || **token == '\0'))
		return dt_fail(err, DT_EFORMAT, "ListObjectsV2: truncated, with no token");
	return 0;
}

/* What an answer to a multipart call or DeleteObjects holds that we need. */
struct answer {
	const char *root; /* the expected root element */
	char upload_id[1024];
	int is_error; /* the root was <Error> (Complete may say so with HTTP 200) */
	char code[128], message[256], key[S3_MAX_KEY + 1];
	int have_error;
};

static int
answer_end(struct xml_walk *w, void *arg)
{
	struct answer *a = arg;
	const char *t = text(w);

	if (w->depth == 1) {
		a->is_error = strcmp(w->names[0], "Error") == 0;
		return a->is_error || strcmp(w->names[0], a->root) == 0 ? 0 : -1;
	}
	if (w->depth == 2 && strcmp(w->names[1], "UploadId") == 0) {
		snprintf(a->upload_id, sizeof(a->upload_id), "%s", t);
	} else if (w->depth == 2 && strcmp(w->names[0], "Error") == 0 && !a->have_error) {
		if (strcmp(w->names[1], "Code") == 0)
			snprintf(a->code, sizeof(a->code), "%s", t);
		else if (strcmp(w->names[1], "Message") == 0)
			snprintf(a->message, sizeof(a->message), "%s", t);
	} else if (w->depth == 3 && strcmp(w->names[1], "Error") == 0 && !a->have_error) {
		/* DeleteResult/Error: one key that could not be deleted */
		if (strcmp(w->names[2], "Code") == 0)
			snprintf(a->code, sizeof(a->code), "%s", t);
		else if (strcmp(w->names[2], "Message") == 0)
			snprintf(a->message, sizeof(a->message), "%s", t);
		else if (strcmp(w->names[2], "Key") == 0)
			snprintf(a->key, sizeof(a->key), "%s", t);
	} else if (w->depth == 2 && strcmp(w->names[1], "Error") == 0) {
		a->have_error = 1;
	}
	return 0;
}

/* Control characters become spaces: a message from the server stays one line. */
static void
one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = ' ';
}

/* ---- Uploads ---- */

/* The headers every upload of a whole object carries: checksum and encryption. */
static size_t
object_headers(const struct s3 *c, const struct digest *d, struct sigv4_header *h)
{
	size_t n = 0;

	h[n++] = (struct sigv4_header){ "Content-Type", "application/octet-stream" };
	if (d)
		h[n++] = (struct sigv4_header){ "x-amz-checksum-sha256", d->b64 };
	if (c->sse) {
		h[n++] = (struct sigv4_header){ "x-amz-server-side-encryption", c->sse };
		if (c->kms_key)
			h[n++] = (struct sigv4_header){
				"x-amz-server-side-encryption-aws-kms-key-id", c->kms_key
			};
	}
	return n;
}

static int
put_one(struct s3 *c, const char *bucket, const char *key, const void *data, size_t len,
	const struct http_file_body *fb, const struct digest *d, struct dt_err *err)
{
	struct sigv4_header h[4];
	struct http_request rq = { 0 };
	struct http_response resp;
	int rc;

	rq.operation = "PutObject";
	rq.method = "PUT";
	rq.headers = h;
	rq.nheaders = object_headers(c, d, h);
	rq.body = data;
	rq.body_len = len;
	rq.body_file = fb;
	rq.payload_hash = d->hex;
	rc = s3_do(c, &rq, bucket, key, NULL, &resp, err);
	http_response_release(&resp);
	return rc;
}

int
s3_put_mem(struct s3 *c, const char *bucket, const char *key, const void *data, size_t len,
	   struct dt_err *err)
{
	struct digest d;

	if (check_names(bucket, key, err) < 0)
		return -1;
	digest_mem(data, len, &d);
	return put_one(c, bucket, key, len ? data : NULL, len, NULL, &d, err);
}

struct part {
	char etag[80];
	struct digest d;
};

/* "uploadId=ENC[&partNumber=N]" into q. */
static int
upload_query(struct buf *q, const char *upload_id, unsigned part, struct dt_err *err)
{
	buf_reset(q);
	if (part && buf_printf(q, err, "partNumber=%u&", part) < 0)
		return -1;
	if (buf_adds(q, "uploadId=", err) < 0 ||
	    sigv4_uri_encode(q, upload_id, strlen(upload_id), 0, err) < 0 ||
	    buf_addc(q, 0, err) < 0)
		return -1;
	return 0;
}

static int
xml_escape(struct buf *b, const char *s, struct dt_err *err)
{
	for (; *s; s++) {
		int rc;
		switch (*s) {
		case '&': rc = buf_adds(b, "&amp;", err); break;
		case '<': rc = buf_adds(b, "&lt;", err); break;
		case '>': rc = buf_adds(b, "&gt;", err); break;
		case '"': rc = buf_adds(b, "&quot;", err); break;
		default: rc = buf_addc(b, (unsigned char)*s, err);
		}
		if (rc < 0)
			return -1;
	}
	return 0;
}

static void
abort_upload(struct s3 *c, const char *bucket, const char *key, const char *upload_id)
{
	struct http_request rq = { 0 };
	struct http_response resp;
	struct buf q;

	/* Best effort: the failure that brought us here is the one to report. */
	buf_init(&q, 4096);
	if (upload_query(&q, upload_id, 0, NULL) == 0) {
		rq.operation = "AbortMultipartUpload";
		rq.method = "DELETE";
		rq.payload_hash = NULL;
		if (s3_do(c, &rq, bucket, key, (const char *)q.data, &resp, NULL) < 0) {
			/* nothing more to do: a lifecycle rule cleans what is left */
		}
		http_response_release(&resp);
	}
	buf_release(&q);
}

static int
create_upload(struct s3 *c, const char *bucket, const char *key, char *upload_id, size_t cap,
	      struct dt_err *err)
{
	struct sigv4_header h[5];
	struct http_request rq = { 0 };
	struct http_response resp;
	struct answer a = { .root = "InitiateMultipartUploadResult" };
	size_t n;
	int rc;

	n = object_headers(c, NULL, h);
	h[n++] = (struct sigv4_header){ "x-amz-checksum-algorithm", "SHA256" };
	rq.operation = "CreateMultipartUpload";
	rq.method = "POST";
	rq.headers = h;
	rq.nheaders = n;
	rc = s3_do(c, &rq, bucket, key, "uploads", &resp, err);
	if (rc == 0)
		rc = xml_walk(resp.body.data, resp.body.len, "CreateMultipartUpload", answer_end,
			      &a, err);
	http_response_release(&resp);
	if (rc < 0)
		return -1;
	if (a.upload_id[0] == '\0' || a.is_error)
		return dt_fail(err, DT_EFORMAT,
			       "'s3://%s/%s': CreateMultipartUpload gave no UploadId", bucket, key);
	snprintf(upload_id, cap, "%s", a.upload_id);
	return 0;
}

static int
upload_part(struct s3 *c, const char *bucket, const char *key, const char *upload_id, unsigned num,
	    int fd, uint64_t off, uint64_t len, const char *path, struct part *p,
	    struct dt_err *err)
{
	struct sigv4_header h[1];
	struct http_request rq = { 0 };
	struct http_response resp;
	struct http_file_body fb = { fd, off };
	const char *etag;
	struct buf q;
	int rc = -1;

	buf_init(&q, 4096);
	if (digest_fd(fd, off, len, path, &p->d, err) < 0 ||
	    upload_query(&q, upload_id, num, err) < 0)
		goto out;
	h[0] = (struct sigv4_header){ "x-amz-checksum-sha256", p->d.b64 };
	rq.operation = "UploadPart";
	rq.method = "PUT";
	rq.headers = h;
	rq.nheaders = 1;
	rq.body_file = &fb;
	rq.body_len = (size_t)len;
	rq.payload_hash = p->d.hex;
	rc = s3_do(c, &rq, bucket, key, (const char *)q.data, &resp, err);
	if (rc == 0) {
		etag = http_response_header(&resp, "etag");
		if (etag == NULL || etag[0] == '\0' || strlen(etag) >= sizeof(p->etag))
			rc = dt_fail(err, DT_EFORMAT, "'s3://%s/%s': UploadPart %u gave no ETag",
				     bucket, key, num);
		else
			snprintf(p->etag, sizeof(p->etag), "%s", etag);
	}
	http_response_release(&resp);
out:
	buf_release(&q);
	return rc;
}

static int
complete_upload(struct s3 *c, const char *bucket, const char *key, const char *upload_id,
		const struct part *parts, unsigned nparts, struct dt_err *err)
{
	struct sigv4_header h[1] = { { "Content-Type", "application/xml" } };
	struct http_request rq = { 0 };
	struct http_response resp = { 0 };
	struct answer a = { .root = "CompleteMultipartUploadResult" };
	struct buf body, q;
	int rc = -1;

	buf_init(&body, (size_t)nparts * 256 + 256);
	buf_init(&q, 4096);
	if (buf_adds(&body,
		     "<CompleteMultipartUpload "
		     "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">",
		     err) < 0)
		goto out;
	for (unsigned i = 0; i < nparts; i++)
		if (buf_printf(&body, err, "<Part><PartNumber>%u</PartNumber><ETag>", i + 1) < 0 ||
		    xml_escape(&body, parts[i].etag, err) < 0 ||
		    buf_printf(&body, err, "</ETag><ChecksumSHA256>%s</ChecksumSHA256></Part>",
			       parts[i].d.b64) < 0)
			goto out;
	if (buf_adds(&body, "</CompleteMultipartUpload>", err) < 0 ||
	    upload_query(&q, upload_id, 0, err) < 0)
		goto out;
	rq.operation = "CompleteMultipartUpload";
	rq.method = "POST";
	rq.headers = h;
	rq.nheaders = 1;
	rq.body = body.data;
	rq.body_len = body.len;
	if (s3_do(c, &rq, bucket, key, (const char *)q.data, &resp, err) < 0 ||
	    xml_walk(resp.body.data, resp.body.len, "CompleteMultipartUpload", answer_end, &a,
		     err) < 0)
		goto out;
	/* S3 may answer 200 and still fail: the error is then the body. */
	if (a.is_error) {
		one_line(a.code);
		one_line(a.message);
		dt_fail(err, DT_ENET, "'s3://%s/%s': CompleteMultipartUpload: %s: %s", bucket, key,
			a.code, a.message);
		goto out;
	}
	rc = 0;
out:
	http_response_release(&resp);
	buf_release(&body);
	buf_release(&q);
	return rc;
}

static int
put_multipart(struct s3 *c, const char *bucket, const char *key, int fd, uint64_t size,
	      const char *path, struct dt_err *err)
{
	uint64_t part = c->part;
	unsigned nparts;
	struct part *parts;
	char upload_id[1024];
	struct stat st;
	int rc = -1;

	/* Grow the part so that the file fits in S3's 10,000 parts, in whole MiB. */
	if (size / part >= S3_MAX_PARTS) {
		part = (size + S3_MAX_PARTS - 1) / S3_MAX_PARTS;
		part = (part + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
	}
	nparts = size == 0 ? 1 : (unsigned)((size + part - 1) / part);
	parts = calloc(nparts, sizeof(*parts));
	if (parts == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (create_upload(c, bucket, key, upload_id, sizeof(upload_id), err) < 0)
		goto out;
	for (unsigned i = 0; i < nparts; i++) {
		uint64_t off = (uint64_t)i * part;
		uint64_t len = size - off < part ? size - off : part;
		if (upload_part(c, bucket, key, upload_id, i + 1, fd, off, len, path, &parts[i],
				err) < 0)
			goto abort;
	}
	/* A file that grew while it was sent would be stored short: refuse it. */
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != size) {
		dt_fail(err, DT_EIO, "'%s' changed size while it was being stored", path);
		goto abort;
	}
	if (complete_upload(c, bucket, key, upload_id, parts, nparts, err) < 0)
		goto abort;
	rc = 0;
	goto out;
abort:
	abort_upload(c, bucket, key, upload_id);
out:
	free(parts);
	return rc;
}

int
s3_put_file(struct s3 *c, const char *bucket, const char *key, const char *path, struct dt_err *err)
{
	struct http_file_body fb;
	struct digest d;
	struct stat st;
	int fd, rc = -1;

	if (check_names(bucket, key, err) < 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
	if (fstat(fd, &st) < 0) {
		dt_fail_errno(err, DT_EIO, "cannot stat '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		dt_fail(err, DT_EUSAGE, "'%s' is not a regular file", path);
		goto out;
	}
	if ((uint64_t)st.st_size > S3_MAX_OBJECT) {
		dt_fail(err, DT_EUSAGE, "'%s' is larger than S3's 5 TiB", path);
		goto out;
	}
	if ((uint64_t)st.st_size >= c->threshold) {
		rc = put_multipart(c, bucket, key, fd, (uint64_t)st.st_size, path, err);
		goto out;
	}
	if (digest_fd(fd, 0, (uint64_t)st.st_size, path, &d, err) < 0)
		goto out;
	fb = (struct http_file_body){ fd, 0 };
	rc = put_one(c, bucket, key, NULL, (size_t)st.st_size, st.st_size ? &fb : NULL, &d, err);
out:
	close(fd);
	return rc;
}

/* ---- Downloads ---- */

struct sink {
	int fd;
	EVP_MD_CTX *ctx;
};

static int
sink_write(void *arg, uint64_t off, const void *data, size_t len)
{
	struct sink *s = arg;
	const char *p = data;

	/* Every attempt starts again at 0: so does the hash. */
	if (off == 0)
		EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(s->ctx, data, len);
	while (len > 0) {
		ssize_t w = pwrite(s->fd, p, len, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		off += (uint64_t)w;
		len -= (size_t)w;
	}
	return 0;
}

static int
not_found(struct dt_err *err, const char *op, const char *bucket, const char *key)
{
	int first = err && err->code == DT_OK;

	dt_fail(err, DT_EUSAGE, "'s3://%s/%s': %s: no such object", bucket, key, op);
	if (first)
		err->sys_errno = ENOENT;
	return -1;
}

int
s3_get_fd(struct s3 *c, const char *bucket, const char *key, int fd, uint64_t max_size,
	  struct dt_err *err)
{
	struct sigv4_header h[1] = { { "x-amz-checksum-mode", "ENABLED" } };
	struct http_request rq = { 0 };
	struct http_response resp = { 0 };
	struct sink sk = { fd, NULL };
	struct dt_err e = { 0 };
	const char *sum;
	int rc = -1;

	if (check_names(bucket, key, err) < 0)
		return -1;
	if ((sk.ctx = EVP_MD_CTX_new()) == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	EVP_DigestInit_ex(sk.ctx, EVP_sha256(), NULL);
	rq.operation = "GetObject";
	rq.method = "GET";
	rq.headers = h;
	rq.nheaders = 1;
	rq.sink = sink_write;
	rq.sink_arg = &sk;
	rq.dst_cap = max_size > SIZE_MAX ? SIZE_MAX : (size_t)max_size;
	if (s3_do(c, &rq, bucket, key, NULL, &resp, &e) < 0) {
		if (resp.status == 404)
			not_found(err, "GetObject", bucket, key);
		else if (e.code == DT_EFORMAT && max_size)
			dt_fail(err, DT_ENOMEM, "'s3://%s/%s' is larger than %" PRIu64 " bytes",
				bucket, key, max_size);
		else
			dt_fail(err, e.code, "%s", e.msg);
		goto out;
	}
	/* The object's full SHA-256, when S3 kept one ("...-N" is a checksum of checksums). */
	sum = http_response_header(&resp, "x-amz-checksum-sha256");
	if (sum && strlen(sum) == B64_SHA256_LEN) {
		struct digest d;
		digest_final(sk.ctx, &d);
		if (strcmp(d.b64, sum) != 0) {
			dt_fail(err, DT_ENET,
				"'s3://%s/%s': GetObject: the bytes do not match the "
				"object's SHA-256",
				bucket, key);
			goto out;
		}
	}
	if (ftruncate(fd, (off_t)resp.len) < 0) {
		dt_fail_errno(err, DT_EIO, "cannot write 's3://%s/%s' out", bucket, key);
		goto out;
	}
	rc = 0;
out:
	http_response_release(&resp);
	EVP_MD_CTX_free(sk.ctx);
	return rc;
}

int
s3_head(struct s3 *c, const char *bucket, const char *key, struct s3_object_info *info,
	struct dt_err *err)
{
	struct sigv4_header h[1] = { { "x-amz-checksum-mode", "ENABLED" } };
	struct http_request rq = { 0 };
	struct http_response resp;
	struct dt_err e = { 0 };
	const char *v;
	int rc;

	if (check_names(bucket, key, err) < 0)
		return -1;
	rq.operation = "HeadObject";
	rq.method = "HEAD";
	rq.headers = h;
	rq.nheaders = 1;
	rc = s3_do(c, &rq, bucket, key, NULL, &resp, &e);
	if (rc < 0) {
		/* A HEAD answer has no body: a 404 is the whole story. */
		rc = resp.status == 404 ? 0 : dt_fail(err, e.code, "%s", e.msg);
		http_response_release(&resp);
		return rc;
	}
	if (info) {
		memset(info, 0, sizeof(*info));
		if ((v = http_response_header(&resp, "content-length")) != NULL)
			info->size = strtoull(v, NULL, 10);
		if ((v = http_response_header(&resp, "etag")) != NULL)
			snprintf(info->etag, sizeof(info->etag), "%s", v);
		if ((v = http_response_header(&resp, "x-amz-checksum-sha256")) != NULL)
			snprintf(info->checksum_sha256, sizeof(info->checksum_sha256), "%s", v);
		if ((v = http_response_header(&resp, "x-amz-server-side-encryption")) != NULL)
			snprintf(info->sse, sizeof(info->sse), "%s", v);
	}
	http_response_release(&resp);
	return 1;
}

/* ---- Lists and deletes ---- */

void
s3_keys_free(char **keys, size_t n)
{
	for (size_t i = 0; keys && i < n; i++)
		free(keys[i]);
	free(keys);
}

int
s3_list(struct s3 *c, const char *bucket, const char *prefix, char ***keys, size_t *n,
	struct dt_err *err)
{
	char **k = NULL, *token = NULL;
	size_t nk = 0, cap = 0;
	int truncated = 1, rc = -1;
	struct buf q;

	*keys = NULL;
	*n = 0;
	if (check_names(bucket, NULL, err) < 0)
		return -1;
	buf_init(&q, 3 * (S3_MAX_KEY + 4096) + 256);
	while (truncated) {
		struct http_request rq = { 0 };
		struct http_response resp;

		/* Parameters in any order: the signer sorts them. */
		buf_reset(&q);
		if (buf_adds(&q, "list-type=2&encoding-type=url&prefix=", err) < 0 ||
		    sigv4_uri_encode(&q, prefix, strlen(prefix), 0, err) < 0)
			goto out;
		if (token && (buf_adds(&q, "&continuation-token=", err) < 0 ||
			      sigv4_uri_encode(&q, token, strlen(token), 0, err) < 0))
			goto out;
		if (buf_addc(&q, 0, err) < 0)
			goto out;
		rq.operation = "ListObjectsV2";
		rq.method = "GET";
		rq.max_body = LIST_MAX_BODY;
		if (s3_do(c, &rq, bucket, NULL, (const char *)q.data, &resp, err) < 0 ||
		    s3_parse_list(resp.body.data, resp.body.len, &k, &nk, &cap, &truncated, &token,
				  err) < 0) {
			http_response_release(&resp);
			goto out;
		}
		http_response_release(&resp);
	}
	*keys = k;
	*n = nk;
	k = NULL;
	rc = 0;
out:
	s3_keys_free(k, nk);
	free(token);
	buf_release(&q);
	return rc;
}

/* XML 1.0 cannot carry control characters: such a key is deleted on its own. */
static int
xml_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20)
			return 0;
	return 1;
}

static int
delete_one(struct s3 *c, const char *bucket, const char *key, struct dt_err *err)
{
	struct http_request rq = { 0 };
	struct http_response resp;
	int rc;

	rq.operation = "DeleteObject";
	rq.method = "DELETE";
	rc = s3_do(c, &rq, bucket, key, NULL, &resp, err);
	http_response_release(&resp);
	return rc;
}

static int
delete_batch(struct s3 *c, const char *bucket, char *const *keys, size_t n, struct dt_err *err)
{
	unsigned char md5[MD5_DIGEST_LENGTH];
	char md5_b64[32];
	struct sigv4_header h[2] = { { "Content-Type", "application/xml" },
				     { "Content-MD5", md5_b64 } };
	struct http_request rq = { 0 };
	struct http_response resp = { 0 };
	struct answer a = { .root = "DeleteResult" };
	struct buf body;
	int rc = -1;

	buf_init(&body, n * (6 * S3_MAX_KEY + 64) + 256);
	if (buf_adds(&body,
		     "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		     "<Quiet>true</Quiet>",
		     err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (buf_adds(&body, "<Object><Key>", err) < 0 ||
		    xml_escape(&body, keys[i], err) < 0 ||
		    buf_adds(&body, "</Key></Object>", err) < 0)
			goto out;
	if (buf_adds(&body, "</Delete>", err) < 0)
		goto out;
	/* DeleteObjects requires an integrity header; S3 checks it. */
	EVP_Digest(body.data, body.len, md5, NULL, EVP_md5(), NULL);
	EVP_EncodeBlock((unsigned char *)md5_b64, md5, sizeof(md5));
	rq.operation = "DeleteObjects";
	rq.method = "POST";
	rq.headers = h;
	rq.nheaders = 2;
	rq.body = body.data;
	rq.body_len = body.len;
	if (s3_do(c, &rq, bucket, NULL, "delete", &resp, err) < 0 ||
	    xml_walk(resp.body.data, resp.body.len, "DeleteObjects", answer_end, &a, err) < 0)
		goto out;
	if (a.is_error || a.code[0]) {
		one_line(a.code);
		one_line(a.message);
		one_line(a.key);
		dt_fail(err, DT_ENET, "'s3://%s/%s': DeleteObjects: %s: %s", bucket, a.key, a.code,
			a.message);
		goto out;
	}
	rc = 0;
out:
	http_response_release(&resp);
	buf_release(&body);
	return rc;
}

int
s3_delete(struct s3 *c, const char *bucket, char *const *keys, size_t n, struct dt_err *err)
{
	char **batch;
	size_t nb = 0;
	int rc = 0;

	if (check_names(bucket, NULL, err) < 0)
		return -1;
	batch = calloc(DELETE_BATCH, sizeof(*batch));
	if (batch == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!xml_safe(keys[i])) {
			rc = delete_one(c, bucket, keys[i], err);
			continue;
		}
		batch[nb++] = keys[i];
		if (nb == DELETE_BATCH || i + 1 == n) {
			rc = delete_batch(c, bucket, batch, nb, err);
			nb = 0;
		}
	}
	if (rc == 0 && nb > 0)
		rc = delete_batch(c, bucket, batch, nb, err);
	free(batch);
	return rc;
}

/* ---- Set-up ---- */

int
s3_new(const struct s3_options *o, struct s3 **out, struct dt_err *err)
{
	/* The endpoint with every override ignored: what S3 itself would be. */
	static const char *const no_override[] = { "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true",
						   NULL };
	struct profile_files *pf = NULL;
	char def[ENDPOINT_MAX_URL];
	struct s3 *c;
	int rc;

	*out = NULL;
	if (o->sse && *o->sse && strcmp(o->sse, "AES256") != 0 && strcmp(o->sse, "aws:kms") != 0)
		return dt_fail(err, DT_EUSAGE, "server-side encryption '%.40s' (AES256 or aws:kms)",
			       o->sse);
	if (o->sse_kms_key_id && *o->sse_kms_key_id &&
	    (o->sse == NULL || strcmp(o->sse, "aws:kms")))
		return dt_fail(err, DT_EUSAGE, "a KMS key id needs aws:kms encryption");
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	c->pool = o->pool;
	c->creds = o->creds;
	c->sse = o->sse && *o->sse ? (strcmp(o->sse, "AES256") == 0 ? "AES256" : "aws:kms") : NULL;
	if (o->sse_kms_key_id && *o->sse_kms_key_id &&
	    (c->kms_key = strdup(o->sse_kms_key_id)) == NULL) {
		free(c);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	c->threshold = o->multipart_threshold ? o->multipart_threshold : S3_DEFAULT_MULTIPART;
	c->part = o->part_size ? o->part_size : S3_DEFAULT_PART;
	if (c->part < S3_MIN_PART)
		c->part = S3_MIN_PART;
	if (profile_load(o->env, &pf, err) < 0) {
		s3_free(c);
		return -1;
	}
	if (o->region && *o->region)
		rc = snprintf(c->region, sizeof(c->region), "%s", o->region) <
				     (int)sizeof(c->region)
			     ? 0
			     : dt_fail(err, DT_EUSAGE, "region name too long");
	else
		rc = endpoint_region(o->env, pf, c->pool, c->region, err);
	if (rc == 0)
		rc = endpoint_url(o->env, pf, ENDPOINT_S3, c->region, c->base, err);
	if (rc == 0)
		rc = endpoint_url(no_override, NULL, ENDPOINT_S3, c->region, def, err);
	profile_free(pf);
	if (rc < 0) {
		s3_free(c);
		return -1;
	}
	c->override = strcmp(c->base, def) != 0;
	*out = c;
	return 0;
}

void
s3_free(struct s3 *c)
{
	if (c == NULL)
		return;
	free(c->kms_key);
	free(c);
}
