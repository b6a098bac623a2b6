/*
 * t_sigv4.c - the signer against ../shared/sigv4-vectors: the AWS suite from aws-c-auth
 * (38 cases, header and presigned) and the project cases signed by botocore and smithy
 * (16 cases). Canonical request, string to sign and signature must match byte for byte.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "aws/sigv4.h"
#include "buf.h"
#include "t.h"

#define MAX_HEADERS 32

struct vreq {
	char *text; /* owned: request.txt, cut in place */
	char *method, *path, *query;
	struct sigv4_header h[MAX_HEADERS];
	char *hv[MAX_HEADERS]; /* owned folded values */
	size_t nh;
	const char *body;
	size_t body_len;
};

static void
vreq_release(struct vreq *r)
{
	for (size_t i = 0; i < r->nh; i++)
		free(r->hv[i]);
	free(r->text);
}

/* request.txt: "METHOD target HTTP/1.1", headers, blank line, body. */
static int
vreq_parse(struct vreq *r, const char *path)
{
	size_t len;
	char *p, *eol, *sp, *http;

	memset(r, 0, sizeof(*r));
	r->text = t_slurp(path, &len);
	if (r->text == NULL)
		return -1;
	p = r->text;
	eol = strchr(p, '\n');
	if (eol == NULL)
		eol = p + strlen(p);
	*eol = '\0';
	sp = strchr(p, ' ');
	http = strstr(p, " HTTP/");
	if (sp == NULL || http == NULL)
		return -1;
	*sp = '\0';
	*http = '\0';
	r->method = p;
	r->path = sp + 1;
	if ((r->query = strchr(r->path, '?')) != NULL)
		*r->query++ = '\0';
	p = eol < r->text + len ? eol + 1 : eol;
	while (*p && *p != '\n') {
		char *colon;
		eol = strchr(p, '\n');
		if (eol)
			*eol = '\0';
		if ((*p == ' ' || *p == '\t') && r->nh > 0) {
			/* A continuation folds into the previous header with one space. */
			char *prev = r->hv[r->nh - 1];
			while (*p == ' ' || *p == '\t')
				p++;
			size_t n = strlen(prev) + strlen(p) + 2;
			char *v = malloc(n);
			snprintf(v, n, "%s %s", prev, p);
			free(prev);
			r->hv[r->nh - 1] = v;
			r->h[r->nh - 1].value = v;
		} else if ((colon = strchr(p, ':')) != NULL && r->nh < MAX_HEADERS) {
			*colon = '\0';
			r->h[r->nh].name = p;
			r->hv[r->nh] = strdup(colon + 1);
			r->h[r->nh].value = r->hv[r->nh];
			r->nh++;
		}
		if (eol == NULL)
			return 0;
		p = eol + 1;
	}
	if (*p == '\n') {
		r->body = p + 1;
		r->body_len = (size_t)(r->text + len - (p + 1));
	}
	return 0;
}

static char *
expected(const char *dir, const char *file)
{
	char path[4096];
	char *s;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	s = t_slurp(path, &n);
	if (s == NULL)
		return NULL;
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' '))
		s[--n] = '\0';
	return s;
}

static int
same(const char *dir, const char *file, const char *got)
{
	char *want = expected(dir, file);
	int ok = want && got && strcmp(want, got) == 0;

	if (!ok)
		fprintf(stderr, "  %s/%s:\n--- want\n%s\n--- got\n%s\n", dir, file,
			want ? want : "(missing)", got ? got : "(null)");
	free(want);
	return ok;
}

/* Authorization from header-signed-request.txt. */
static int
same_authorization(const char *dir, const char *got)
{
	char *want = expected(dir, "header-signed-request.txt");
	char *a = want ? strstr(want, "\nAuthorization:") : NULL;
	int ok = 0;

	if (a) {
		char *e = strchr(a + 1, '\n');
		if (e)
			*e = '\0';
		ok = got && strcmp(a + 15, got) == 0;
	}
	if (!ok)
		fprintf(stderr, "  %s: Authorization differs: %s\n", dir, got ? got : "(null)");
	free(want);
	return ok;
}

static int
bool_of(json_t *ctx, const char *key, int dflt)
{
	json_t *v = json_object_get(ctx, key);
	return v ? json_is_true(v) : dflt;
}

/* Run one case directory; returns the number of failed comparisons. */
static int
run_case(const char *dir, int project, int *presigned)
{
	char path[4096];
	struct vreq r;
	json_t *ctx;
	struct sigv4_creds c;
	struct sigv4_params p = { 0 };
	struct sigv4_request q = { 0 };
	struct sigv4_signed s;
	struct dt_err err = { 0 };
	struct sigv4_header signed_h[MAX_HEADERS];
	size_t n = 0;
	int bad = 0;
	struct tm tm = { 0 };
	const char *ts, *body_value;

	snprintf(path, sizeof(path), "%s/request.txt", dir);
	if (vreq_parse(&r, path) < 0) {
		fprintf(stderr, "  %s: cannot parse request.txt\n", dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/context.json", dir);
	ctx = json_load_file(path, 0, NULL);
	if (ctx == NULL) {
		vreq_release(&r);
		return 1;
	}
	c.access_key_id = json_string_value(
		json_object_get(json_object_get(ctx, "credentials"), "access_key_id"));
	c.secret_access_key = json_string_value(
		json_object_get(json_object_get(ctx, "credentials"), "secret_access_key"));
	c.session_token =
		json_string_value(json_object_get(json_object_get(ctx, "credentials"), "token"));
	ts = json_string_value(json_object_get(ctx, "timestamp"));
	if (ts == NULL || strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm) == NULL) {
		json_decref(ctx);
		vreq_release(&r);
		return 1;
	}
	p.when = timegm(&tm);
	p.region = json_string_value(json_object_get(ctx, "region"));
	p.service = json_string_value(json_object_get(ctx, "service"));
	p.creds = &c;
	p.expires = (long)json_integer_value(json_object_get(ctx, "expiration_in_seconds"));
	if (!bool_of(ctx, "double_uri_encode", 1))
		p.flags |= SIGV4_S3;
	if (!bool_of(ctx, "normalize", 1))
		p.flags |= SIGV4_NO_NORMALIZE;
	if (bool_of(ctx, "sign_body", 0))
		p.flags |= SIGV4_SIGN_BODY;
	if (bool_of(ctx, "omit_session_token", 0))
		p.flags |= SIGV4_OMIT_TOKEN;
	body_value = json_string_value(json_object_get(ctx, "signed_body_value"));

	/* The project cases send Content-Length but do not sign it (their README says so). */
	for (size_t i = 0; i < r.nh; i++)
		if (!project || strcasecmp(r.h[i].name, "content-length") != 0)
			signed_h[n++] = r.h[i];
	q.method = r.method;
	q.path = r.path;
	q.query = r.query;
	q.headers = signed_h;
	q.nheaders = n;
	q.body = r.body;
	q.body_len = r.body_len;
	q.payload_hash = body_value;

	if (sigv4_sign(&q, &p, &s, &err) < 0) {
		fprintf(stderr, "  %s: %s\n", dir, err.msg);
		bad++;
	} else {
		bad += !same(dir, "header-canonical-request.txt", s.canonical_request);
		bad += !same(dir, "header-string-to-sign.txt", s.string_to_sign);
		bad += !same(dir, "header-signature.txt", s.signature);
		bad += !same_authorization(dir, s.authorization);
		const char *pub = json_string_value(json_object_get(ctx, "published_signature"));
		if (pub && strcmp(pub, s.signature) != 0) {
			fprintf(stderr, "  %s: not the published signature\n", dir);
			bad++;
		}
	}
	sigv4_signed_release(&s);

	snprintf(path, sizeof(path), "%s/query-signature.txt", dir);
	if (access(path, R_OK) == 0) {
		(*presigned)++;
		if (sigv4_presign(&q, &p, &s, &err) < 0) {
			fprintf(stderr, "  %s: %s\n", dir, err.msg);
			bad++;
		} else {
			bad += !same(dir, "query-canonical-request.txt", s.canonical_request);
			bad += !same(dir, "query-string-to-sign.txt", s.string_to_sign);
			bad += !same(dir, "query-signature.txt", s.signature);
		}
		sigv4_signed_release(&s);
	}
	json_decref(ctx);
	vreq_release(&r);
	return bad;
}

static int
run_dir(const char *base, int project, int *ncases, int *npresigned)
{
	DIR *d = opendir(base);
	struct dirent *e;
	int bad = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char dir[4096];
		if (e->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof(dir), "%s/%s", base, e->d_name);
		snprintf(dir + strlen(dir), sizeof(dir) - strlen(dir), "/request.txt");
		if (access(dir, R_OK) != 0)
			continue;
		dir[strlen(dir) - strlen("/request.txt")] = '\0';
		(*ncases)++;
		bad += run_case(dir, project, npresigned) != 0;
	}
	closedir(d);
	return bad;
}

TEST(t_sigv4_aws_suite_matches)
{
	char base[4096];
	int n = 0, np = 0;
	const char *shared = t_shared();

	if (shared == NULL)
		SKIP("no ../shared/sigv4-vectors");
	snprintf(base, sizeof(base), "%s/sigv4-vectors/aws-signing-test-suite/v4", shared);
	CHECK(run_dir(base, 0, &n, &np) == 0);
	CHECK(n == 38);
	CHECK(np == 38);
}

TEST(t_sigv4_project_cases_match)
{
	char base[4096];
	int n = 0, np = 0;
	const char *shared = t_shared();

	if (shared == NULL)
		SKIP("no ../shared/sigv4-vectors");
	snprintf(base, sizeof(base), "%s/sigv4-vectors/project-cases", shared);
	CHECK(run_dir(base, 1, &n, &np) == 0);
	CHECK(n == 16);
}

TEST(t_sigv4_refuses_without_host_or_keys)
{
	struct sigv4_creds c = { "AKID", "secret", NULL };
	struct sigv4_params p = { "us-east-1", "ebs", 0, &c, 0, 0 };
	struct sigv4_header h = { "X-Other", "1" };
	struct sigv4_request q = { "GET", "/", NULL, &h, 1, NULL, 0, NULL };
	struct sigv4_signed s;
	struct dt_err err = { 0 };

	CHECK(sigv4_sign(&q, &p, &s, &err) == -1 && err.code == DT_EUSAGE);
	CHECK(s.authorization == NULL);
	c.secret_access_key = "";
	h.name = "Host";
	dt_clear(&err);
	CHECK(sigv4_sign(&q, &p, &s, &err) == -1 && err.code == DT_EUSAGE);
	CHECK(strstr(err.msg, "AKID") == NULL);
}
