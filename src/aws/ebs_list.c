/*
 * ebs_list.c - the EBS direct APIs' listings: ListSnapshotBlocks into the block tokens (and
 * the volume size), ListChangedBlocks into the changed-block list, page by page; and the
 * signed GET every EBS request goes through, with the token bucket of GetSnapshotBlock.
 * See ebs_int.h.
 */
#include "aws/ebs_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "aws/sigv4.h"
#include "buf.h"
#include "cblk.h"

#include "banned.h"

#define LIST_MAX_PAGES (1u << 22) /* empty pages included: a peer that never ends is refused */

/*
 * Take one GetSnapshotBlock token: the bucket holds at most burst, refills at rate. The
 * http_request pace hook, so each attempt of a retried request takes its own.
 */
static void
rate_take(void *arg)
{
	struct ebs *e = arg;

	for (;;) {
		struct timespec now, d;
		double wait;

		pthread_mutex_lock(&e->rlock);
		clock_gettime(CLOCK_MONOTONIC, &now);
		e->avail += ((double)(now.tv_sec - e->last.tv_sec) +
			     (double)(now.tv_nsec - e->last.tv_nsec) / 1e9) *
			    e->rate;
		e->last = now;
		if (e->avail > e->burst)
			e->avail = e->burst;
		if (e->avail >= 1.0) {
			e->avail -= 1.0;
			pthread_mutex_unlock(&e->rlock);
			return;
		}
		wait = (1.0 - e->avail) / e->rate;
		pthread_mutex_unlock(&e->rlock);
		d.tv_sec = (time_t)wait;
		d.tv_nsec = (long)((wait - (double)d.tv_sec) * 1e9) + 1000;
		while (nanosleep(&d, &d) != 0 && errno == EINTR)
			;
	}
}

/* The body of an EBS ValidationException names a Reason: is it why? */
static int
has_reason(const struct http_response *r, const char *why)
{
	json_t *j, *reason;
	int yes = 0;

	if (r->status != 400 || r->body.data == NULL)
		return 0;
	j = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
	reason = j ? json_object_get(j, "Reason") : NULL;
	if (json_is_string(reason) && strcmp(json_string_value(reason), why) == 0)
		yes = 1;
	json_decref(j);
	return yes;
}

/* INVALID_BLOCK_TOKEN is an expired block token. */
int
ebs_is_bad_block_token(const struct http_response *r)
{
	return has_reason(r, "INVALID_BLOCK_TOKEN");
}

/*
 * GET url from the EBS endpoint, signed; a GetSnapshotBlock (dst set: EBS_BLOCK_SIZE bytes)
 * takes a rate token per attempt. rs is filled in either case: release it.
 */
int
ebs_get(struct ebs *e, const char *op, const char *url, unsigned char *dst,
	struct http_response *rs, struct dt_err *err)
{
	struct http_request rq;

	memset(&rq, 0, sizeof(rq));
	rq.operation = op;
	rq.method = "GET";
	rq.url = url;
	rq.creds = e->creds;
	rq.region = e->region;
	rq.service = "ebs";
	if (dst) {
		rq.dst = dst;
		rq.dst_cap = EBS_BLOCK_SIZE;
		rq.pace = rate_take;
		rq.pace_arg = e;
	}
	return http_do(e->pool, &rq, rs, err);
}

/* A listing's NextToken into *next_out (new), or NULL when there is none (the last page). */
static int
next_token(json_t *page, char **next_out, struct dt_err *err)
{
	json_t *v = json_object_get(page, "NextToken");

	*next_out = NULL;
	if (json_is_string(v) && *json_string_value(v)) {
		*next_out = strdup(json_string_value(v));
		if (*next_out == NULL)
			return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	return 0;
}

/* One listing page: its URL (built by the caller), the answer, and the answer's JSON. */
struct page {
	struct buf url;
	struct http_response rs;
	json_t *j;
};

static void
page_init(struct page *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->url, 64 * 1024);
}

static void
page_release(struct page *p)
{
	json_decref(p->j);
	http_response_release(&p->rs);
	buf_release(&p->url);
}

/*
 * GET p->url, a listing op, with &pageToken=next when next is set, into p->j, a JSON object;
 * what names the listing in errors. p->rs is filled in either case.
 */
static int
get_page(struct ebs *e, const char *op, const char *what, struct page *p, const char *next,
	 struct dt_err *err)
{
	json_error_t je;

	if (next && (buf_adds(&p->url, "&pageToken=", err) < 0 ||
		     sigv4_uri_encode(&p->url, next, strlen(next), 0, err) < 0))
		return -1;
	if (ebs_get(e, op, (const char *)p->url.data, NULL, &p->rs, err) < 0)
		return -1;
	p->j = json_loadb((const char *)p->rs.body.data, p->rs.body.len, 0, &je);
	if (json_is_object(p->j))
		return 0;
	json_decref(p->j);
	p->j = NULL;
	return dt_fail(err, DT_ENET, "%s: answer is not JSON (%s)", what, je.text);
}

/*
 * One ListSnapshotBlocks page from start (or from next, the previous page's token) into
 * e->tokens; the first page also sizes the volume. *next is new (free()) or NULL at the end.
 */
static int
list_page(struct ebs *e, uint64_t start, const char *next, int max, char **next_out,
	  size_t *nentries, struct dt_err *err)
{
	struct page p;
	struct buf *url = &p.url;
	json_t *j, *blocks;
	char what[96];
	int ret = -1;

	*next_out = NULL;
	*nentries = 0;
	page_init(&p);
	snprintf(what, sizeof(what), "ListSnapshotBlocks of '%s'", e->id);
	if (buf_printf(url, err, "%s/snapshots/%s/blocks?maxResults=%d", e->url, e->id, max) < 0 ||
	    (!next && start > 0 &&
	     buf_printf(url, err, "&startingBlockIndex=%" PRIu64, start) < 0) ||
	    get_page(e, "ListSnapshotBlocks", what, &p, next, err) < 0)
		goto out;
	j = p.j;
	if (e->tokens == NULL) {
		json_int_t gib = json_integer_value(json_object_get(j, "VolumeSize"));
		json_int_t bs = json_integer_value(json_object_get(j, "BlockSize"));
		if (gib <= 0 || gib > 65536 || bs != (json_int_t)EBS_BLOCK_SIZE) {
			dt_fail(err, DT_ENET,
				"ListSnapshotBlocks of '%s': volume size %lld GiB, block size %lld "
				"(expected 1 to 65536 GiB of %u-byte blocks)",
				e->id, (long long)gib, (long long)bs, EBS_BLOCK_SIZE);
			goto out;
		}
		e->size = (uint64_t)gib << 30;
		e->nblocks = e->size / EBS_BLOCK_SIZE;
		e->st.volume_size = e->size;
		e->tokens = calloc((size_t)e->nblocks, sizeof(*e->tokens));
		if (e->tokens == NULL) {
			dt_fail(err, DT_ENOMEM, "out of memory");
			goto out;
		}
	}
	blocks = json_object_get(j, "Blocks");
	if (blocks && !json_is_array(blocks)) {
		dt_fail(err, DT_ENET, "ListSnapshotBlocks of '%s': Blocks is not a list", e->id);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(blocks); i++) {
		json_t *b = json_array_get(blocks, i);
		json_int_t idx = json_integer_value(json_object_get(b, "BlockIndex"));
		const char *tok = json_string_value(json_object_get(b, "BlockToken"));
		char *copy;

		if (!json_is_integer(json_object_get(b, "BlockIndex")) || idx < 0 ||
		    (uint64_t)idx >= e->nblocks || tok == NULL) {
			dt_fail(err, DT_ENET,
				"ListSnapshotBlocks of '%s': a block entry outside the volume",
				e->id);
			goto out;
		}
		copy = strdup(tok);
		if (copy == NULL) {
			dt_fail(err, DT_ENOMEM, "out of memory");
			goto out;
		}
		pthread_mutex_lock(&e->lock);
		if (e->tokens[idx] == NULL)
			e->st.blocks_listed++;
		free(e->tokens[idx]);
		e->tokens[idx] = copy;
		pthread_mutex_unlock(&e->lock);
	}
	*nentries = json_array_size(blocks);
	ret = next_token(j, next_out, err);
out:
	page_release(&p);
	return ret;
}

/* One page of a listing: *next_out is the next page's token (new) or NULL; *stop ends it. */
typedef int page_fn(struct ebs *e, void *arg, const char *next, char **next_out, int *stop,
		    struct dt_err *err);

/* Call page until no NextToken (or *stop), empty pages included, at most LIST_MAX_PAGES. */
static int
each_page(struct ebs *e, const char *op, page_fn *page, void *arg, struct dt_err *err)
{
	char *next = NULL;
	unsigned pages = 0;
	int stop = 0;

	do {
		char *nx;

		if (++pages > LIST_MAX_PAGES) {
			free(next);
			return dt_fail(err, DT_ENET, "%s of '%s': more than %u pages", op, e->id,
				       LIST_MAX_PAGES);
		}
		if (page(e, arg, next, &nx, &stop, err) < 0) {
			free(next);
			return -1;
		}
		free(next);
		next = nx;
	} while (next && !stop);
	free(next);
	return 0;
}

struct list_args {
	uint64_t start;
	int max, first_only;
};

static int
blocks_page(struct ebs *e, void *arg, const char *next, char **next_out, int *stop,
	    struct dt_err *err)
{
	struct list_args *a = arg;
	size_t got;

	if (list_page(e, a->start, next, a->max, next_out, &got, err) < 0)
		return -1;
	*stop = a->first_only && got > 0;
	return 0;
}

/* List from start until no NextToken; with first_only, until a page names any block. */
int
ebs_list_blocks(struct ebs *e, uint64_t start, int max, int first_only, struct dt_err *err)
{
	struct list_args a = { start, max, first_only };

	return each_page(e, "ListSnapshotBlocks", blocks_page, &a, err);
}

/*
 * One ListChangedBlocks(a->gold, e) page into e->changed. *next is new (free()) or NULL at
 * the end. a->unrelated is set, and nothing else done, when EBS says the two snapshots are
 * not of one lineage.
 */
struct changed_args {
	const char *gold;
	int unrelated; /* EBS said the two snapshots are not of one lineage */
};

static int
changed_page(struct ebs *e, void *arg, const char *next, char **next_out, int *stop,
	     struct dt_err *err)
{
	struct changed_args *a = arg;
	const char *gold = a->gold;
	struct page p;
	struct buf *url = &p.url;
	json_t *j, *blocks;
	char what[160];
	int ret = -1;

	*next_out = NULL;
	page_init(&p);
	snprintf(what, sizeof(what), "ListChangedBlocks of '%s' and '%s'", gold, e->id);
	if (buf_printf(url, err, "%s/snapshots/%s/changedblocks?firstSnapshotId=%s&maxResults=%d",
		       e->url, e->id, gold, LIST_PAGE) < 0)
		goto out;
	if (get_page(e, "ListChangedBlocks", what, &p, next, err) < 0) {
		if (has_reason(&p.rs, "UNRELATED_SNAPSHOTS")) {
			dt_clear(err);
			a->unrelated = *stop = 1;
			ret = 0;
		}
		goto out;
	}
	j = p.j;
	if (json_integer_value(json_object_get(j, "BlockSize")) != (json_int_t)EBS_BLOCK_SIZE) {
		dt_fail(err, DT_ENET, "ListChangedBlocks of '%s' and '%s': block size is not %u",
			gold, e->id, EBS_BLOCK_SIZE);
		goto out;
	}
	blocks = json_object_get(j, "ChangedBlocks");
	if (blocks && !json_is_array(blocks)) {
		dt_fail(err, DT_ENET, "ListChangedBlocks of '%s' and '%s': not a list", gold,
			e->id);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(blocks); i++) {
		json_t *x = json_object_get(json_array_get(blocks, i), "BlockIndex");
		json_int_t idx = json_integer_value(x);

		if (!json_is_integer(x) || idx < 0 || (uint64_t)idx >= e->nblocks) {
			dt_fail(err, DT_ENET,
				"ListChangedBlocks of '%s' and '%s': a block outside the volume",
				gold, e->id);
			goto out;
		}
		if (cblk_add(e->changed, (uint64_t)idx, err) < 0)
			goto out;
	}
	ret = next_token(j, next_out, err);
out:
	page_release(&p);
	return ret;
}

/* ListChangedBlocks(gold, e), every page (empty ones included), into a new e->changed; or
 * none and a note when the snapshots are not of one lineage. */
int
ebs_list_changed(struct ebs *e, const char *gold, struct dt_err *err)
{
	struct changed_args a = { gold, 0 };

	e->changed = cblk_new(EBS_BLOCK_SIZE);
	if (e->changed == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (each_page(e, "ListChangedBlocks", changed_page, &a, err) < 0)
		return -1;
	if (a.unrelated) {
		cblk_free(e->changed);
		e->changed = NULL;
		snprintf(e->note, sizeof(e->note),
			 "snapshots '%s' and '%s' are not of one lineage (ListChangedBlocks: "
			 "UNRELATED_SNAPSHOTS): no changed-block list, every block is read from "
			 "'%s' and every file is hashed",
			 gold, e->id, e->id);
		return 0;
	}
	cblk_set_volume_size(e->changed, e->size);
	cblk_seal(e->changed);
	e->st.blocks_changed = cblk_count(e->changed);
	return 0;
}
