/* ec2.c - see ec2.h. */
#include "aws/ec2.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <expat.h>
#include <openssl/rand.h>

#include "aws/creds.h"
#include "aws/endpoint.h"
#include "aws/http.h"
#include "aws/profile.h"
#include "buf.h"
#include "mono.h"

#include "banned.h"

#define EC2_MAX_PAGES 10000
#define EC2_FORM_MAX  (256u * 1024)
#define EC2_XML_DEPTH 32
#define EC2_XML_PATH  512
#define EC2_MAX_TAGS  1000 /* tags of one resource; EC2 allows 50 */

struct ec2 {
	char region[ENDPOINT_MAX_REGION];
	char url[ENDPOINT_MAX_URL + 2]; /* with the trailing '/' */
	struct creds *creds;            /* owned when own_creds */
	struct http_pool *pool;         /* owned when own_pool */
	int own_creds, own_pool;
	unsigned poll_ms;
	volatile sig_atomic_t *cancel;
};

/* ---- the answers: one table of fields per record type ---- */

struct field {
	const char *path; /* below the record, '/'-joined local names */
	size_t off, size;
};

struct kind {
	const char *action;
	const char *record; /* path of one record below the root; "" for the root itself */
	size_t size;
	size_t tags_off, ntags_off;
	const struct field *fields;
	size_t nfields;
};

#define F(type, path, member)                                             \
	{                                                                 \
		path, offsetof(type, member), sizeof(((type *)0)->member) \
	}

static const struct field volume_fields[] = {
	F(struct ec2_volume, "volumeId", id),
	F(struct ec2_volume, "status", state),
	F(struct ec2_volume, "snapshotId", snapshot_id),
	F(struct ec2_volume, "availabilityZone", availability_zone),
	F(struct ec2_volume, "createTime", create_time),
	F(struct ec2_volume, "attachmentSet/item/instanceId", attach_instance),
	F(struct ec2_volume, "attachmentSet/item/device", attach_device),
	F(struct ec2_volume, "attachmentSet/item/status", attach_state),
};

static const struct field snapshot_fields[] = {
	F(struct ec2_snapshot, "snapshotId", id),
	F(struct ec2_snapshot, "volumeId", volume_id),
	F(struct ec2_snapshot, "status", state),
	F(struct ec2_snapshot, "description", description),
};

static const struct field image_fields[] = {
	F(struct ec2_image, "imageId", id),
	F(struct ec2_image, "imageState", state),
	F(struct ec2_image, "name", name),
};

static const struct field instance_fields[] = {
	F(struct ec2_instance, "instanceId", id),
	F(struct ec2_instance, "instanceState/name", state),
	F(struct ec2_instance, "imageId", image_id),
	F(struct ec2_instance, "placement/availabilityZone", availability_zone),
};

#define NF(a) (sizeof(a) / sizeof((a)[0]))
#define KIND(action, record, type, fields)                                                         \
	{                                                                                          \
		action, record, sizeof(type), offsetof(type, tags), offsetof(type, ntags), fields, \
			NF(fields)                                                                 \
	}

static const struct kind kinds[] = {
	KIND("DescribeVolumes", "volumeSet/item", struct ec2_volume, volume_fields),
	KIND("CreateVolume", "", struct ec2_volume, volume_fields),
	KIND("DescribeSnapshots", "snapshotSet/item", struct ec2_snapshot, snapshot_fields),
	KIND("DescribeImages", "imagesSet/item", struct ec2_image, image_fields),
	KIND("DescribeInstances", "reservationSet/item/instancesSet/item", struct ec2_instance,
	     instance_fields),
};

static const struct kind *
kind_of(const char *action)
{
	for (size_t i = 0; i < NF(kinds); i++)
		if (strcmp(kinds[i].action, action) == 0)
			return &kinds[i];
	return NULL;
}

/* Free n records of kind k and their tags. */
static void
recs_free(const char *action, void *recs, size_t n)
{
	const struct kind *k = kind_of(action);

	for (size_t i = 0; recs && i < n; i++)
		free(*(struct ec2_tag **)((char *)recs + i * k->size + k->tags_off));
	free(recs);
}

struct parse {
	const struct kind *k;
	void **recs;
	size_t *n, *cap;
	char **next_token;
	char path[EC2_XML_PATH + 1];
	size_t lens[EC2_XML_DEPTH + 1];
	int depth;      /* elements open, the root included */
	int in_rec;     /* inside a record; *n counts it already */
	size_t rec_len; /* strlen of the record's path */
	struct buf text;
	struct ec2_tag tag; /* the tag being read */
	struct dt_err *err;
	int failed;
};

static const char *
local_name(const XML_Char *name)
{
	const char *sp = strrchr(name, ' '); /* namespace separator */

	return sp ? sp + 1 : name;
}

static void *
cur_rec(struct parse *p)
{
	return (char *)*p->recs + (*p->n - 1) * p->k->size;
}

static void
parse_fail(struct parse *p, const char *what)
{
	if (!p->failed)
		dt_fail(p->err, DT_EFORMAT, "%s: the answer is not what EC2 sends: %s",
			p->k->action, what);
	p->failed = 1;
}

static void XMLCALL
x_start(void *ud, const XML_Char *name, const XML_Char **attr)
{
	struct parse *p = ud;
	const char *local = local_name(name);
	size_t len = strlen(p->path), add = strlen(local) + (len ? 1 : 0);

	(void)attr;
	if (p->failed)
		return;
	if (++p->depth > EC2_XML_DEPTH || len + add > EC2_XML_PATH) {
		parse_fail(p, "nested too deep");
		return;
	}
	p->lens[p->depth] = len;
	if (p->depth >= 2) {
		if (len)
			p->path[len++] = '/';
		memcpy(p->path + len, local, strlen(local) + 1);
	}
	buf_reset(&p->text);
	if (p->in_rec || strcmp(p->path, p->k->record) != 0 ||
	    (p->k->record[0] == '\0' && p->depth != 1))
		return;
	if (*p->n >= EC2_MAX_ITEMS) {
		parse_fail(p, "too many records");
		return;
	}
	if (buf_grow_array(p->recs, p->cap, *p->n + 1, p->k->size, p->err) < 0) {
		p->failed = 1;
		return;
	}
	(*p->n)++;
	memset(cur_rec(p), 0, p->k->size);
	p->in_rec = 1;
	p->rec_len = strlen(p->path);
}

static void XMLCALL
x_text(void *ud, const XML_Char *s, int len)
{
	struct parse *p = ud;

	if (!p->failed && buf_add(&p->text, s, (size_t)len, NULL) < 0)
		parse_fail(p, "a value too long");
}

/* Copy the element's text into dst (size bytes): the first value wins; too long fails. */
static void
set_text(struct parse *p, char *dst, size_t size, const char *what)
{
	const char *t = p->text.data ? (const char *)p->text.data : "";

	if (dst[0])
		return;
	if (p->text.len >= size || memchr(t, '\0', p->text.len)) {
		parse_fail(p, what);
		return;
	}
	memcpy(dst, t, p->text.len + 1);
}

static void
push_tag(struct parse *p, char *rec)
{
	struct ec2_tag **tags = (struct ec2_tag **)(rec + p->k->tags_off);
	size_t *ntags = (size_t *)(rec + p->k->ntags_off);
	struct ec2_tag *nt;

	if (*ntags >= EC2_MAX_TAGS) {
		parse_fail(p, "too many tags");
		return;
	}
	nt = realloc(*tags, (*ntags + 1) * sizeof(**tags));
	if (nt == NULL) {
		dt_fail(p->err, DT_ENOMEM, "out of memory");
		p->failed = 1;
		return;
	}
	*tags = nt;
	nt[(*ntags)++] = p->tag;
	memset(&p->tag, 0, sizeof(p->tag));
}

static void XMLCALL
x_end(void *ud, const XML_Char *name)
{
	struct parse *p = ud;
	size_t plen = strlen(p->path);

	(void)name;
	if (p->failed)
		return;
	if (p->in_rec && plen >= p->rec_len) {
		char *rec = cur_rec(p);
		const char *rel = p->path + p->rec_len + (p->rec_len && plen > p->rec_len ? 1 : 0);

		if (plen == p->rec_len && (p->rec_len || p->depth == 1)) {
			p->in_rec = 0;
		} else if (strcmp(rel, "tagSet/item/key") == 0) {
			set_text(p, p->tag.key, sizeof(p->tag.key), "a tag key too long");
		} else if (strcmp(rel, "tagSet/item/value") == 0) {
			set_text(p, p->tag.value, sizeof(p->tag.value), "a tag value too long");
		} else if (strcmp(rel, "tagSet/item") == 0) {
			push_tag(p, rec);
		} else {
			for (size_t i = 0; i < p->k->nfields; i++)
				if (strcmp(rel, p->k->fields[i].path) == 0)
					set_text(p, rec + p->k->fields[i].off, p->k->fields[i].size,
						 p->k->fields[i].path);
		}
	} else if (!p->in_rec && strcmp(p->path, "nextToken") == 0 && p->text.len > 0) {
		free(*p->next_token);
		*p->next_token =
			strndup(p->text.data ? (const char *)p->text.data : "", p->text.len);
		if (*p->next_token == NULL) {
			dt_fail(p->err, DT_ENOMEM, "out of memory");
			p->failed = 1;
		}
	}
	buf_reset(&p->text);
	if (p->depth >= 1)
		p->path[p->lens[p->depth]] = '\0';
	p->depth--;
}

int
ec2_parse(const char *action, const void *body, size_t len, void **recs, size_t *n, size_t *cap,
	  char **next_token, struct dt_err *err)
{
	struct parse p;
	XML_Parser xp;
	int ok;

	*next_token = NULL;
	memset(&p, 0, sizeof(p));
	p.k = kind_of(action);
	if (p.k == NULL)
		return dt_fail(err, DT_EBUG, "ec2_parse: no records for '%s'", action);
	if (len > EC2_MAX_BODY)
		return dt_fail(err, DT_EFORMAT, "%s: an answer over %u bytes", action,
			       EC2_MAX_BODY);
	p.recs = recs;
	p.n = n;
	p.cap = cap;
	p.next_token = next_token;
	p.err = err;
	buf_init(&p.text, 64 * 1024);
	xp = XML_ParserCreateNS(NULL, ' ');
	if (xp == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot allocate an XML parser");
	XML_SetUserData(xp, &p);
	XML_SetElementHandler(xp, x_start, x_end);
	XML_SetCharacterDataHandler(xp, x_text);
	ok = XML_Parse(xp, body, (int)len, 1) == XML_STATUS_OK;
	if (!ok && !p.failed)
		dt_fail(err, DT_EFORMAT, "%s: bad XML in the answer: %s (line %lu)", action,
			XML_ErrorString(XML_GetErrorCode(xp)), XML_GetCurrentLineNumber(xp));
	XML_ParserFree(xp);
	buf_release(&p.text);
	if (ok && !p.failed && p.k->record[0] == '\0' && *n == 0)
		ok = dt_fail(err, DT_EFORMAT, "%s: an empty answer", action) == 0;
	if (!ok || p.failed) {
		free(*next_token);
		*next_token = NULL;
		return -1;
	}
	return 0;
}

/* ---- requests ---- */

/* "&key=value", value URI-encoded; key printf-formatted. A NULL value adds nothing. */
static int DT_PRINTF(4, 5)
	form_add(struct buf *b, struct dt_err *err, const char *value, const char *keyfmt, ...)
{
	char key[128];
	va_list ap;

	if (value == NULL)
		return 0;
	va_start(ap, keyfmt);
	vsnprintf(key, sizeof(key), keyfmt, ap);
	va_end(ap);
	if (buf_printf(b, err, "&%s=", key) < 0)
		return -1;
	return sigv4_uri_encode(b, value, strlen(value), 0, err);
}

/* name.1=ids[0]&name.2=ids[1]... */
static int
form_list(struct buf *b, const char *name, const char *const *ids, size_t n, struct dt_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (form_add(b, err, ids[i], "%s.%zu", name, i + 1) < 0)
			return -1;
	return 0;
}

static int
form_filters(struct buf *b, const struct ec2_filter *f, size_t n, struct dt_err *err)
{
	for (size_t i = 0; i < n; i++) {
		if (form_add(b, err, f[i].name, "Filter.%zu.Name", i + 1) < 0)
			return -1;
		for (size_t j = 0; j < f[i].nvalues; j++)
			if (form_add(b, err, f[i].values[j], "Filter.%zu.Value.%zu", i + 1, j + 1) <
			    0)
				return -1;
	}
	return 0;
}

/* prefix.N.Key / prefix.N.Value for each tag. */
static int
form_tags(struct buf *b, const char *prefix, const struct ec2_tag *t, size_t n, struct dt_err *err)
{
	for (size_t i = 0; i < n; i++)
		if (form_add(b, err, t[i].key, "%s.%zu.Key", prefix, i + 1) < 0 ||
		    form_add(b, err, t[i].value, "%s.%zu.Value", prefix, i + 1) < 0)
			return -1;
	return 0;
}

/*
 * POST Action=action&Version=...<params> to the endpoint, signed. rs is filled in either
 * case: release it.
 */
static int
ec2_call(struct ec2 *e, const char *action, const struct buf *params, struct http_response *rs,
	 struct svcerr *se, struct dt_err *err)
{
	struct sigv4_header ct = { "Content-Type",
				   "application/x-www-form-urlencoded; charset=utf-8" };
	struct http_request rq;
	struct buf form;
	int ret = -1;

	memset(rs, 0, sizeof(*rs));
	if (se)
		se->code[0] = se->message[0] = '\0';
	buf_init(&form, EC2_FORM_MAX);
	if (buf_printf(&form, err, "Action=%s&Version=%s", action, EC2_API_VERSION) < 0 ||
	    (params->len && buf_add(&form, params->data, params->len, err) < 0))
		goto out;
	memset(&rq, 0, sizeof(rq));
	rq.operation = action;
	rq.method = "POST";
	rq.url = e->url;
	rq.headers = &ct;
	rq.nheaders = 1;
	rq.body = form.data;
	rq.body_len = form.len;
	rq.creds = e->creds;
	rq.region = e->region;
	rq.service = "ec2";
	rq.max_body = EC2_MAX_BODY;
	ret = http_do(e->pool, &rq, rs, err);
	if (ret < 0 && se)
		*se = rs->error;
out:
	buf_release(&form);
	return ret;
}

/* A call whose answer is only success or an error. */
static int
ec2_simple(struct ec2 *e, const char *action, const struct buf *params, struct svcerr *se,
	   struct dt_err *err)
{
	struct http_response rs;
	int ret = ec2_call(e, action, params, &rs, se, err);

	http_response_release(&rs);
	return ret;
}

/* A listing call: every page (MaxResults only when no ids are given, as EC2 wants). */
static int
ec2_list(struct ec2 *e, const char *action, const struct buf *params, int page, void **recs,
	 size_t *n, struct svcerr *se, struct dt_err *err)
{
	char *next = NULL;
	size_t cap = 0;
	struct buf form;
	int ret = -1;

	*recs = NULL;
	*n = 0;
	buf_init(&form, EC2_FORM_MAX);
	for (int pages = 0;; pages++) {
		struct http_response rs;
		char *nt = NULL;
		int rc;

		if (pages >= EC2_MAX_PAGES) {
			dt_fail(err, DT_EFORMAT, "%s: over %d pages", action, EC2_MAX_PAGES);
			break;
		}
		buf_reset(&form);
		if ((params->len && buf_add(&form, params->data, params->len, err) < 0) ||
		    (page && buf_printf(&form, err, "&MaxResults=%d", EC2_PAGE_SIZE) < 0) ||
		    form_add(&form, err, next, "NextToken") < 0)
			break;
		rc = ec2_call(e, action, &form, &rs, se, err);
		if (rc == 0)
			rc = ec2_parse(action, rs.body.data, rs.body.len, recs, n, &cap, &nt, err);
		http_response_release(&rs);
		if (rc < 0)
			break;
		/* The same token twice would loop for ever. */
		if (nt && next && strcmp(nt, next) == 0) {
			free(nt);
			dt_fail(err, DT_EFORMAT, "%s: the same nextToken twice", action);
			break;
		}
		free(next);
		next = nt;
		if (next == NULL) {
			ret = 0;
			break;
		}
	}
	free(next);
	buf_release(&form);
	return ret;
}

/* ---- the client ---- */

static int
ec2_setup(struct ec2 *e, const struct ec2_options *o, struct dt_err *err)
{
	const char *const *env = o ? o->env : NULL;
	struct profile_files *pf = NULL;
	struct creds_options co;
	int rc;

	e->poll_ms = o && o->poll_ms ? o->poll_ms : EC2_DEFAULT_POLL;
	e->cancel = o ? o->cancel : NULL;
	if (o && o->pool) {
		e->pool = o->pool;
	} else {
		if (http_pool_new(NULL, &e->pool, err) < 0)
			return -1;
		e->own_pool = 1;
	}
	if (profile_load(env, &pf, err) < 0)
		return -1;
	if (o && o->region)
		rc = snprintf(e->region, sizeof(e->region), "%s", o->region) <
				     (int)sizeof(e->region)
			     ? 0
			     : dt_fail(err, DT_EUSAGE, "region '%.80s' too long", o->region);
	else
		rc = endpoint_region(env, pf, e->pool, e->region, err);
	if (rc == 0)
		rc = endpoint_url(env, pf, ENDPOINT_EC2, e->region, e->url, err);
	profile_free(pf);
	if (rc < 0)
		return -1;
	memcpy(e->url + strlen(e->url), "/", 2);
	if (o && o->creds) {
		e->creds = o->creds;
		return 0;
	}
	memset(&co, 0, sizeof(co));
	co.env = env;
	co.region = e->region;
	if (creds_new(&co, e->pool, &e->creds, err) < 0)
		return -1;
	e->own_creds = 1;
	return 0;
}

int
ec2_new(const struct ec2_options *o, struct ec2 **out, struct dt_err *err)
{
	struct ec2 *e = calloc(1, sizeof(*e));

	*out = NULL;
	if (e == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (ec2_setup(e, o, err) < 0) {
		ec2_free(e);
		return -1;
	}
	*out = e;
	return 0;
}

void
ec2_free(struct ec2 *e)
{
	if (e == NULL)
		return;
	if (e->own_creds)
		creds_free(e->creds);
	if (e->own_pool)
		http_pool_free(e->pool);
	free(e);
}

void
ec2_set_cancel(struct ec2 *e, volatile sig_atomic_t *cancel)
{
	e->cancel = cancel;
}

const char *
ec2_region(const struct ec2 *e)
{
	return e->region;
}

/* ---- the calls ---- */

int
ec2_create_volume(struct ec2 *e, const char *snapshot_id, const char *az, const char *volume_type,
		  const struct ec2_tag *tags, size_t ntags, char id_out[EC2_ID_MAX],
		  struct svcerr *se, struct dt_err *err)
{
	unsigned char rnd[16];
	char token[33];
	struct http_response rs;
	struct ec2_volume *v = NULL;
	size_t n = 0, cap = 0;
	char *nt = NULL;
	struct buf b;
	int ret = -1;

	id_out[0] = '\0';
	/* One ClientToken for every attempt of this call: a retry after a lost answer is the
	 * same request to EC2, never a second volume. */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return dt_fail(err, DT_EIO, "CreateVolume: no random bytes for a ClientToken");
	for (size_t i = 0; i < sizeof(rnd); i++)
		snprintf(token + 2 * i, 3, "%02x", rnd[i]);
	buf_init(&b, EC2_FORM_MAX);
	if (form_add(&b, err, snapshot_id, "SnapshotId") < 0 ||
	    form_add(&b, err, az, "AvailabilityZone") < 0 ||
	    form_add(&b, err, volume_type ? volume_type : "gp3", "VolumeType") < 0 ||
	    form_add(&b, err, token, "ClientToken") < 0 ||
	    (ntags && form_add(&b, err, "volume", "TagSpecification.1.ResourceType") < 0) ||
	    form_tags(&b, "TagSpecification.1.Tag", tags, ntags, err) < 0)
		goto out;
	if (ec2_call(e, "CreateVolume", &b, &rs, se, err) == 0 &&
	    ec2_parse("CreateVolume", rs.body.data, rs.body.len, (void **)&v, &n, &cap, &nt, err) ==
		    0) {
		if (v[0].id[0] == '\0')
			dt_fail(err, DT_EFORMAT, "CreateVolume: the answer names no volume");
		else {
			memcpy(id_out, v[0].id, sizeof(v[0].id));
			ret = 0;
		}
	}
	http_response_release(&rs);
	free(nt);
	ec2_volumes_free(v, n);
out:
	buf_release(&b);
	return ret;
}

/* A Describe call by ids (idname.N) and filters, every page; nothing left on failure. */
static int
describe(struct ec2 *e, const char *action, const char *idname, const char *const *ids, size_t nids,
	 const struct ec2_filter *filters, size_t nfilters, void **out, size_t *n,
	 struct svcerr *se, struct dt_err *err)
{
	struct buf b;
	int ret = -1;

	*out = NULL;
	*n = 0;
	buf_init(&b, EC2_FORM_MAX);
	if (form_list(&b, idname, ids, nids, err) == 0 &&
	    form_filters(&b, filters, nfilters, err) == 0)
		ret = ec2_list(e, action, &b, nids == 0, out, n, se, err);
	buf_release(&b);
	if (ret < 0) {
		recs_free(action, *out, *n);
		*out = NULL;
		*n = 0;
	}
	return ret;
}

int
ec2_describe_volumes(struct ec2 *e, const char *const *ids, size_t nids,
		     const struct ec2_filter *filters, size_t nfilters, struct ec2_volume **out,
		     size_t *n, struct svcerr *se, struct dt_err *err)
{
	return describe(e, "DescribeVolumes", "VolumeId", ids, nids, filters, nfilters,
			(void **)out, n, se, err);
}

/* A call of named values (NULL values left out) whose answer is only success or an error. */
static int
ec2_op(struct ec2 *e, const char *action, const char *const (*kv)[2], size_t n, struct svcerr *se,
       struct dt_err *err)
{
	struct buf b;
	int ret = -1;

	buf_init(&b, EC2_FORM_MAX);
	for (size_t i = 0; i < n; i++)
		if (form_add(&b, err, kv[i][1], "%s", kv[i][0]) < 0)
			goto out;
	ret = ec2_simple(e, action, &b, se, err);
out:
	buf_release(&b);
	return ret;
}

int
ec2_attach_volume(struct ec2 *e, const char *volume_id, const char *instance_id, const char *device,
		  struct svcerr *se, struct dt_err *err)
{
	const char *const kv[][2] = { { "Device", device },
				      { "InstanceId", instance_id },
				      { "VolumeId", volume_id } };

	return ec2_op(e, "AttachVolume", kv, 3, se, err);
}

int
ec2_detach_volume(struct ec2 *e, const char *volume_id, const char *instance_id, int force,
		  struct svcerr *se, struct dt_err *err)
{
	const char *const kv[][2] = { { "VolumeId", volume_id },
				      { "InstanceId", instance_id },
				      { "Force", force ? "true" : NULL } };

	return ec2_op(e, "DetachVolume", kv, 3, se, err);
}

int
ec2_delete_volume(struct ec2 *e, const char *volume_id, struct svcerr *se, struct dt_err *err)
{
	const char *const kv[][2] = { { "VolumeId", volume_id } };

	return ec2_op(e, "DeleteVolume", kv, 1, se, err);
}

int
ec2_create_tags(struct ec2 *e, const char *const *resources, size_t nresources,
		const struct ec2_tag *tags, size_t ntags, struct svcerr *se, struct dt_err *err)
{
	struct buf b;
	int ret = -1;

	buf_init(&b, EC2_FORM_MAX);
	if (form_list(&b, "ResourceId", resources, nresources, err) == 0 &&
	    form_tags(&b, "Tag", tags, ntags, err) == 0)
		ret = ec2_simple(e, "CreateTags", &b, se, err);
	buf_release(&b);
	return ret;
}

int
ec2_describe_snapshots(struct ec2 *e, const char *const *ids, size_t nids,
		       const struct ec2_filter *filters, size_t nfilters, struct ec2_snapshot **out,
		       size_t *n, struct svcerr *se, struct dt_err *err)
{
	return describe(e, "DescribeSnapshots", "SnapshotId", ids, nids, filters, nfilters,
			(void **)out, n, se, err);
}

int
ec2_describe_images(struct ec2 *e, const char *const *ids, size_t nids,
		    const struct ec2_filter *filters, size_t nfilters, struct ec2_image **out,
		    size_t *n, struct svcerr *se, struct dt_err *err)
{
	return describe(e, "DescribeImages", "ImageId", ids, nids, filters, nfilters, (void **)out,
			n, se, err);
}

int
ec2_describe_instances(struct ec2 *e, const char *const *ids, size_t nids,
		       struct ec2_instance **out, size_t *n, struct svcerr *se, struct dt_err *err)
{
	return describe(e, "DescribeInstances", "InstanceId", ids, nids, NULL, 0, (void **)out, n,
			se, err);
}

/* ---- waiters ---- */

static const char *const wait_names[] = {
	[EC2_WAIT_AVAILABLE] = "available",
	[EC2_WAIT_ATTACHED] = "attached",
	[EC2_WAIT_DETACHED] = "detached",
	[EC2_WAIT_DELETED] = "deleted",
};

int
ec2_nap(unsigned ms, volatile sig_atomic_t *cancel)
{
	while (ms > 0) {
		unsigned step = ms < 50 ? ms : 50;
		struct timespec d = { 0, (long)step * 1000000L };

		if (cancel && *cancel)
			return 1;
		while (nanosleep(&d, &d) != 0 && errno == EINTR)
			;
		ms -= step;
	}
	return cancel && *cancel;
}

/* 1: reached, 0: not yet, -1: never will (err). last gets the state seen. */
static int
reached(const struct ec2_volume *v, enum ec2_wait what, char *last, size_t lastsz,
	struct dt_err *err)
{
	snprintf(last, lastsz, "%s%s%s", v->state, v->attach_state[0] ? ", attachment " : "",
		 v->attach_state);
	if (strcmp(v->state, "error") == 0)
		return dt_fail(err, DT_ENET, "volume '%s' is in state error", v->id);
	switch (what) {
	case EC2_WAIT_AVAILABLE: return strcmp(v->state, "available") == 0;
	case EC2_WAIT_ATTACHED: return strcmp(v->attach_state, "attached") == 0;
	case EC2_WAIT_DETACHED:
		return strcmp(v->state, "available") == 0 &&
		       (v->attach_state[0] == '\0' || strcmp(v->attach_state, "detached") == 0);
	case EC2_WAIT_DELETED: return strcmp(v->state, "deleted") == 0;
	}
	return 0;
}

int
ec2_wait_volume(struct ec2 *e, const char *volume_id, enum ec2_wait what, unsigned timeout_s,
		struct dt_err *err)
{
	const char *ids[1] = { volume_id };
	double end = mono_now() + timeout_s;
	char last[80] = "unknown";

	for (;;) {
		struct ec2_volume *v = NULL;
		struct svcerr se;
		struct dt_err e2 = { 0 };
		size_t n = 0;
		int rc;

		if (ec2_describe_volumes(e, ids, 1, NULL, 0, &v, &n, &se, &e2) < 0) {
			if (strcmp(se.code, "InvalidVolume.NotFound") != 0) {
				dt_fail(err, e2.code, "%s", e2.msg);
				return -1;
			}
			if (what == EC2_WAIT_DELETED)
				return 0;
			return dt_fail(err, DT_ENET,
				       "volume '%s' is gone while waiting for it to be %s",
				       volume_id, wait_names[what]);
		}
		rc = n == 0 ? (what == EC2_WAIT_DELETED ? 1 : -2)
			    : reached(&v[0], what, last, sizeof(last), err);
		ec2_volumes_free(v, n);
		if (rc == -2)
			return dt_fail(err, DT_ENET,
				       "volume '%s' is not listed while waiting for it to be %s",
				       volume_id, wait_names[what]);
		if (rc != 0)
			return rc > 0 ? 0 : -1;
		if (mono_now() >= end)
			return dt_fail(err, DT_ENET,
				       "timed out after %u s waiting for '%s' to be %s (last: %s)",
				       timeout_s, volume_id, wait_names[what], last);
		if (ec2_nap(e->poll_ms, e->cancel))
			return dt_fail(err, DT_EUSAGE, "cancelled waiting for '%s' to be %s",
				       volume_id, wait_names[what]);
	}
}

/* ---- records ---- */

const char *
ec2_tag_get(const struct ec2_tag *tags, size_t ntags, const char *key)
{
	for (size_t i = 0; i < ntags; i++)
		if (strcmp(tags[i].key, key) == 0)
			return tags[i].value;
	return NULL;
}

void
ec2_volumes_free(struct ec2_volume *v, size_t n)
{
	recs_free("DescribeVolumes", v, n);
}

void
ec2_snapshots_free(struct ec2_snapshot *s, size_t n)
{
	recs_free("DescribeSnapshots", s, n);
}

void
ec2_images_free(struct ec2_image *im, size_t n)
{
	recs_free("DescribeImages", im, n);
}

void
ec2_instances_free(struct ec2_instance *in, size_t n)
{
	recs_free("DescribeInstances", in, n);
}
