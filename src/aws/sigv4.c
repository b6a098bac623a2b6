/* sigv4.c - see sigv4.h. */
#include "aws/sigv4.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"

#include "banned.h"

#define ALGORITHM "AWS4-HMAC-SHA256"

/* One header after canonicalisation: lower-case name, folded value. */
struct canon_header {
	char *name;  /* owned */
	char *value; /* owned */
	size_t order;
};

/* One query parameter, re-encoded. */
struct canon_param {
	char *key;   /* owned */
	char *value; /* owned */
};

static int
is_unreserved(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

int
sigv4_uri_encode(struct buf *b, const char *s, size_t n, int keep_slash, struct dt_err *err)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (is_unreserved(c) || (keep_slash && c == '/')) {
			if (buf_addc(b, c, err) < 0)
				return -1;
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };
			if (buf_add(b, e, 3, err) < 0)
				return -1;
		}
	}
	return 0;
}

/* Percent-decode then re-encode n bytes: "%e1%88%b4", "\xe1\x88\xb4" and "%E1%88%B4" agree. */
static char *
recode(const char *s, size_t n, struct dt_err *err)
{
	struct buf raw, enc;
	char *out = NULL;

	buf_init(&raw, SIGV4_MAX_CANONICAL);
	buf_init(&enc, SIGV4_MAX_CANONICAL);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		/* A '%' not followed by two hex digits is a literal '%' (c is left as it is). */
		if (c == '%' && i + 2 < n && buf_unhex(s + i + 1, 1, &c) == 0)
			i += 2;
		if (buf_addc(&raw, c, err) < 0)
			goto out;
	}
	if (sigv4_uri_encode(&enc, (const char *)raw.data, raw.len, 0, err) < 0 ||
	    buf_addc(&enc, 0, err) < 0)
		goto out;
	out = (char *)buf_detach(&enc, NULL);
out:
	buf_release(&raw);
	buf_release(&enc);
	return out;
}

static int
cmp_param(const void *a, const void *b)
{
	const struct canon_param *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	return c ? c : strcmp(x->value, y->value);
}

static int
cmp_header(const void *a, const void *b)
{
	const struct canon_header *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	/* Repeated names keep the order they were given in. */
	return x->order < y->order ? -1 : x->order > y->order;
}

/* A value trimmed, inner runs of whitespace folded to one space: new (free()). */
static char *
fold_value(const char *v)
{
	size_t n = strlen(v), o = 0;
	char *out = malloc(n + 1);
	int space = 0;

	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r') {
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = 0;
		out[o++] = v[i];
	}
	out[o] = '\0';
	return out;
}

static void
free_headers(struct canon_header *h, size_t n)
{
	for (size_t i = 0; h && i < n; i++) {
		if (h[i].value) {
			OPENSSL_cleanse(h[i].value, strlen(h[i].value));
			free(h[i].value);
		}
		free(h[i].name);
	}
	free(h);
}

static void
free_params(struct canon_param *q, size_t n)
{
	for (size_t i = 0; q && i < n; i++) {
		free(q[i].key);
		if (q[i].value) {
			OPENSSL_cleanse(q[i].value, strlen(q[i].value));
			free(q[i].value);
		}
	}
	free(q);
}

/* Append to the header list; the list has room (the caller counted). */
static int
add_header(struct canon_header *h, size_t *n, const char *name, const char *value,
	   struct dt_err *err)
{
	size_t len = strlen(name);
	struct canon_header *e = &h[*n];

	e->name = malloc(len + 1);
	e->value = fold_value(value);
	e->order = *n;
	(*n)++;
	if (e->name == NULL || e->value == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate a header");
	for (size_t i = 0; i <= len; i++)
		e->name[i] = (char)tolower((unsigned char)name[i]);
	return 0;
}

/* Split a query into parameters, re-encoded; extra ones appended. *out is new. */
static int
parse_query(const char *q, const struct sigv4_header *extra, size_t nextra,
	    struct canon_param **out, size_t *nout, struct dt_err *err)
{
	size_t cap = nextra + 1, n = 0;
	struct canon_param *p;
	const char *s = q ? q : "";

	for (const char *c = s; *c; c++)
		cap += *c == '&';
	p = calloc(cap, sizeof(*p));
	if (p == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate the query");
	while (*s) {
		const char *end = strchr(s, '&'), *eq;
		size_t len = end ? (size_t)(end - s) : strlen(s);

		eq = memchr(s, '=', len);
		if (len > 0) {
			size_t klen = eq ? (size_t)(eq - s) : len;
			p[n].key = recode(s, klen, err);
			p[n].value = eq ? recode(eq + 1, len - klen - 1, err) : strdup("");
			n++;
			if (p[n - 1].key == NULL || p[n - 1].value == NULL) {
				free_params(p, n);
				return dt_fail(err, DT_ENOMEM, "cannot allocate the query");
			}
		}
		s += len + (end != NULL);
	}
	for (size_t i = 0; i < nextra; i++, n++) {
		p[n].key = recode(extra[i].name, strlen(extra[i].name), err);
		p[n].value = recode(extra[i].value, strlen(extra[i].value), err);
		if (p[n].key == NULL || p[n].value == NULL) {
			free_params(p, n + 1);
			return dt_fail(err, DT_ENOMEM, "cannot allocate the query");
		}
	}
	qsort(p, n, sizeof(*p), cmp_param);
	*out = p;
	*nout = n;
	return 0;
}

/* RFC 3986 section 5.2.4 as the SDKs apply it: no empty, "." or ".." segments. */
static int
normalise_path(struct buf *b, const char *path, struct dt_err *err)
{
	size_t n = strlen(path);
	size_t *starts = calloc(n + 1, sizeof(*starts)); /* where each kept segment begins */
	size_t depth = 0;
	int ret = -1;

	if (starts == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate the path");
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && path[j] != '/')
			j++;
		if (j == i || (j - i == 1 && path[i] == '.')) {
			/* empty or "." */
		} else if (j - i == 2 && path[i] == '.' && path[i + 1] == '.') {
			if (depth > 0)
				b->len = starts[--depth];
		} else {
			starts[depth++] = b->len;
			if (buf_addc(b, '/', err) < 0 || buf_add(b, path + i, j - i, err) < 0)
				goto out;
		}
		i = j + 1;
	}
	if (b->len == 0 || (n > 0 && path[n - 1] == '/'))
		if (buf_addc(b, '/', err) < 0)
			goto out;
	ret = 0;
out:
	free(starts);
	return ret;
}

static int
canonical_uri(struct buf *cr, const char *path, unsigned flags, struct dt_err *err)
{
	struct buf norm;
	int ret;

	if (path == NULL || *path == '\0')
		return buf_addc(cr, '/', err);
	if (flags & SIGV4_S3)
		return buf_adds(cr, path, err);
	buf_init(&norm, SIGV4_MAX_CANONICAL);
	if (flags & SIGV4_NO_NORMALIZE)
		ret = buf_adds(&norm, path, err);
	else
		ret = normalise_path(&norm, path, err);
	/* Every service but S3 encodes the path it was given once more. */
	if (ret == 0)
		ret = sigv4_uri_encode(cr, (const char *)norm.data, norm.len, 1, err);
	buf_release(&norm);
	return ret;
}

void
sigv4_sha256_hex(const void *data, size_t n, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;

	EVP_Digest(data ? data : "", n, md, &mdlen, EVP_sha256(), NULL);
	for (unsigned int i = 0; i < 32; i++) {
		hex[2 * i] = "0123456789abcdef"[md[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	hex[64] = '\0';
}

static void
hmac(const void *key, size_t klen, const char *msg, unsigned char out[32])
{
	unsigned int len = 32;

	HMAC(EVP_sha256(), key, (int)klen, (const unsigned char *)msg, strlen(msg), out, &len);
}

/* The signing key: HMAC chain from "AWS4" + secret over date, region, service. */
static int
signature(const struct sigv4_params *p, const char *date8, const char *sts, char hex[65],
	  struct dt_err *err)
{
	size_t slen = strlen(p->creds->secret_access_key);
	char *k = malloc(slen + 5);
	unsigned char a[32], b[32];

	if (k == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate the signing key");
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, p->creds->secret_access_key, slen + 1);
	hmac(k, slen + 4, date8, a);
	OPENSSL_cleanse(k, slen + 5);
	free(k);
	hmac(a, 32, p->region, b);
	hmac(b, 32, p->service, a);
	hmac(a, 32, "aws4_request", b);
	hmac(b, 32, sts, a);
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = "0123456789abcdef"[a[i] >> 4];
		hex[2 * i + 1] = "0123456789abcdef"[a[i] & 15];
	}
	hex[64] = '\0';
	OPENSSL_cleanse(a, sizeof(a));
	OPENSSL_cleanse(b, sizeof(b));
	return 0;
}

static char *
detach_str(struct buf *b, struct dt_err *err)
{
	if (buf_addc(b, 0, err) < 0)
		return NULL;
	return (char *)buf_detach(b, NULL);
}

/* What signing needs from p (credentials, region, service, lifetime), and out->amz_date. */
static int
check_params(const struct sigv4_params *p, int presign, struct sigv4_signed *out,
	     struct dt_err *err)
{
	struct tm tm;

	if (p->creds == NULL || p->creds->access_key_id == NULL || !*p->creds->access_key_id ||
	    p->creds->secret_access_key == NULL || !*p->creds->secret_access_key)
		return dt_fail(err, DT_EUSAGE, "cannot sign a request without credentials");
	if (p->region == NULL || !*p->region || p->service == NULL || !*p->service)
		return dt_fail(err, DT_EUSAGE, "cannot sign a request without region and service");
	if (presign && (p->expires < 1 || p->expires > 604800))
		return dt_fail(err, DT_EUSAGE, "presigned URL lifetime %ld s is not 1 to 604800",
			       p->expires);
	if (gmtime_r(&p->when, &tm) == NULL ||
	    strftime(out->amz_date, sizeof(out->amz_date), "%Y%m%dT%H%M%SZ", &tm) != 16)
		return dt_fail(err, DT_EUSAGE, "cannot sign at time %lld", (long long)p->when);
	return 0;
}

/* The SignedHeaders list of the sorted headers h: each name once, ';' between. */
static int
signed_headers(struct buf *sh, const struct canon_header *h, size_t nh, struct dt_err *err)
{
	for (size_t i = 0; i < nh; i++) {
		if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0)
			continue;
		if ((sh->len && buf_addc(sh, ';', err) < 0) || buf_adds(sh, h[i].name, err) < 0)
			return -1;
	}
	return 0;
}

/*
 * The canonical headers of the sorted headers h: "name:value" lines, the values of a
 * repeated name joined with ','.
 */
static int
canonical_headers(struct buf *cr, const struct canon_header *h, size_t nh, struct dt_err *err)
{
	for (size_t i = 0; i < nh; i++) {
		if (i > 0 && strcmp(h[i].name, h[i - 1].name) == 0) {
			if (buf_printf(cr, err, ",%s", h[i].value) < 0)
				return -1;
			continue;
		}
		if ((i > 0 && buf_addc(cr, '\n', err) < 0) ||
		    buf_printf(cr, err, "%s:%s", h[i].name, h[i].value) < 0)
			return -1;
	}
	return 0;
}

/*
 * The headers to sign (*hp, *nh; the caller frees them, also after a failure): the
 * request's, then x-amz-date, the session token and the payload hash unless presigning.
 */
static int
collect_headers(const struct sigv4_request *req, const struct sigv4_params *p, int presign,
		const char *token, const char *payload, struct sigv4_signed *out,
		struct canon_header **hp, size_t *nh, struct dt_err *err)
{
	struct canon_header *h;
	int have_host = 0;

	h = *hp = calloc(req->nheaders + 4, sizeof(*h));
	if (h == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate headers");
	for (size_t i = 0; i < req->nheaders; i++) {
		if (add_header(h, nh, req->headers[i].name, req->headers[i].value, err) < 0)
			return -1;
		have_host |= strcmp(h[*nh - 1].name, "host") == 0;
	}
	if (!have_host)
		return dt_fail(err, DT_EUSAGE, "cannot sign a request without a host header");
	if (!presign) {
		if (add_header(h, nh, "x-amz-date", out->amz_date, err) < 0)
			return -1;
		if (token && !(p->flags & SIGV4_OMIT_TOKEN) &&
		    add_header(h, nh, "x-amz-security-token", token, err) < 0)
			return -1;
		if (p->flags & (SIGV4_S3 | SIGV4_SIGN_BODY)) {
			if (strlen(payload) >= sizeof(out->content_sha256))
				return dt_fail(err, DT_EUSAGE, "payload hash too long");
			memcpy(out->content_sha256, payload, strlen(payload) + 1);
			if (add_header(h, nh, "x-amz-content-sha256", payload, err) < 0)
				return -1;
		}
	}
	return 0;
}

static int
sign(const struct sigv4_request *req, const struct sigv4_params *p, int presign,
     struct sigv4_signed *out, struct dt_err *err)
{
	struct canon_header *h = NULL;
	struct canon_param *q = NULL;
	size_t nh = 0, nq = 0;
	struct buf cr, sh, sts, qs;
	struct sigv4_header extra[6];
	size_t nextra = 0;
	char scope[256], cred[512], hash[65], expires[24], date8[9];
	const char *payload, *token;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	buf_init(&cr, SIGV4_MAX_CANONICAL);
	buf_init(&sh, SIGV4_MAX_CANONICAL);
	buf_init(&sts, SIGV4_MAX_CANONICAL);
	buf_init(&qs, SIGV4_MAX_CANONICAL);
	if (check_params(p, presign, out, err) < 0)
		return -1;
	token = p->creds->session_token && *p->creds->session_token ? p->creds->session_token
								    : NULL;
	if (snprintf(scope, sizeof(scope), "%.8s/%s/%s/aws4_request", out->amz_date, p->region,
		     p->service) >= (int)sizeof(scope) ||
	    snprintf(cred, sizeof(cred), "%s/%s", p->creds->access_key_id, scope) >=
		    (int)sizeof(cred))
		return dt_fail(err, DT_EUSAGE, "credential scope too long");

	if (req->payload_hash) {
		payload = req->payload_hash;
	} else {
		sigv4_sha256_hex(req->body, req->body_len, hash);
		payload = hash;
	}

	/* Headers: the caller's, then what signing adds. */
	if (collect_headers(req, p, presign, token, payload, out, &h, &nh, err) < 0)
		goto out;
	qsort(h, nh, sizeof(*h), cmp_header);
	if (signed_headers(&sh, h, nh, err) < 0)
		goto out;

	if (presign) {
		snprintf(expires, sizeof(expires), "%ld", p->expires);
		extra[nextra++] = (struct sigv4_header){ "X-Amz-Algorithm", ALGORITHM };
		extra[nextra++] = (struct sigv4_header){ "X-Amz-Credential", cred };
		extra[nextra++] = (struct sigv4_header){ "X-Amz-Date", out->amz_date };
		extra[nextra++] = (struct sigv4_header){ "X-Amz-Expires", expires };
		if (token && !(p->flags & SIGV4_OMIT_TOKEN))
			extra[nextra++] = (struct sigv4_header){ "X-Amz-Security-Token", token };
		extra[nextra++] =
			(struct sigv4_header){ "X-Amz-SignedHeaders", (const char *)sh.data };
	}
	if (parse_query(req->query, extra, nextra, &q, &nq, err) < 0)
		goto out;

	/* The canonical request. */
	if (buf_adds(&cr, req->method, err) < 0 || buf_addc(&cr, '\n', err) < 0 ||
	    canonical_uri(&cr, req->path, p->flags, err) < 0 || buf_addc(&cr, '\n', err) < 0)
		goto out;
	for (size_t i = 0; i < nq; i++)
		if ((i && buf_addc(&qs, '&', err) < 0) ||
		    buf_printf(&qs, err, "%s=%s", q[i].key, q[i].value) < 0)
			goto out;
	if ((qs.len && buf_add(&cr, qs.data, qs.len, err) < 0) || buf_addc(&cr, '\n', err) < 0)
		goto out;
	if (canonical_headers(&cr, h, nh, err) < 0)
		goto out;
	if (buf_printf(&cr, err, "\n\n%s\n%s", (const char *)sh.data, payload) < 0)
		goto out;

	sigv4_sha256_hex(cr.data, cr.len, hash);
	if (buf_printf(&sts, err, "%s\n%s\n%s\n%s", ALGORITHM, out->amz_date, scope, hash) < 0)
		goto out;
	memcpy(date8, out->amz_date, 8);
	date8[8] = '\0';
	if (signature(p, date8, (const char *)sts.data, out->signature, err) < 0)
		goto out;
	if (presign) {
		if (buf_printf(&qs, err, "&X-Amz-Signature=%s", out->signature) < 0 ||
		    (out->query = detach_str(&qs, err)) == NULL)
			goto out;
	} else {
		struct buf a;
		buf_init(&a, SIGV4_MAX_CANONICAL);
		if (buf_printf(&a, err, "%s Credential=%s, SignedHeaders=%s, Signature=%s",
			       ALGORITHM, cred, (const char *)sh.data, out->signature) < 0 ||
		    (out->authorization = detach_str(&a, err)) == NULL) {
			buf_release(&a);
			goto out;
		}
	}
	if ((out->canonical_request = detach_str(&cr, err)) == NULL ||
	    (out->string_to_sign = detach_str(&sts, err)) == NULL)
		goto out;
	ret = 0;
out:
	free_headers(h, nh);
	free_params(q, nq);
	/* The canonical request and query may hold the session token. */
	if (cr.data)
		OPENSSL_cleanse(cr.data, cr.len);
	if (qs.data)
		OPENSSL_cleanse(qs.data, qs.len);
	buf_release(&cr);
	buf_release(&sh);
	buf_release(&sts);
	buf_release(&qs);
	if (ret < 0)
		sigv4_signed_release(out);
	return ret;
}

int
sigv4_sign(const struct sigv4_request *req, const struct sigv4_params *p, struct sigv4_signed *out,
	   struct dt_err *err)
{
	return sign(req, p, 0, out, err);
}

int
sigv4_presign(const struct sigv4_request *req, const struct sigv4_params *p,
	      struct sigv4_signed *out, struct dt_err *err)
{
	return sign(req, p, 1, out, err);
}

static void
wipe_free(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void
sigv4_signed_release(struct sigv4_signed *s)
{
	if (s == NULL)
		return;
	wipe_free(s->authorization);
	wipe_free(s->query);
	wipe_free(s->canonical_request);
	wipe_free(s->string_to_sign);
	s->authorization = s->query = s->canonical_request = s->string_to_sign = NULL;
}
