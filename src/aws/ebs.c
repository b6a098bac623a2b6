/*
 * ebs.c - an EBS snapshot as a disk image: block list, verified block fetches, an LRU of
 * blocks, read-ahead threads and a token bucket (aws/ebs.h).
 */
#include "aws/ebs.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "aws/creds.h"
#include "aws/endpoint.h"
#include "aws/http.h"
#include "aws/profile.h"
#include "buf.h"

#include "banned.h"

#define LIST_PAGE      10000      /* MaxResults: the model's maximum */
#define LIST_MAX_PAGES (1u << 22) /* empty pages included: a peer that never ends is refused */
#define RELIST_PAGE    100        /* the model's minimum */

enum ent_state { ENT_FREE, ENT_LOADING, ENT_READY };

/* One 512 KiB block of the LRU. data is written only by the one thread that set LOADING. */
struct ent {
	enum ent_state state;
	uint64_t idx;
	int pins;            /* readers copying out of data */
	uint64_t used;       /* LRU clock */
	unsigned char *data; /* owned; EBS_BLOCK_SIZE */
};

struct ebs {
	char id[64];
	char region[ENDPOINT_MAX_REGION];
	char url[ENDPOINT_MAX_URL]; /* the EBS endpoint, no trailing '/' */
	struct http_pool *pool;     /* owned */
	struct creds *creds;        /* owned */
	uint64_t size, nblocks;
	char **tokens; /* owned: per block index, the block token; NULL: not listed (zeros) */

	pthread_mutex_t lock; /* tokens, cache, queue, stats */
	pthread_cond_t cond;  /* an entry changed state or was unpinned */
	struct ent *ents;     /* owned */
	size_t nents;
	uint64_t clock;

	pthread_cond_t qcond; /* work for the read-ahead threads */
	uint64_t *queue;      /* owned: ring of block indexes to prefetch */
	size_t qcap, qhead, qlen;
	int stop;
	pthread_t *workers; /* owned: conc slots; started on the first read-ahead */
	int nworkers, conc;
	struct ebs *next; /* in the fork registry */
	int ahead;        /* blocks of read-ahead past a sequential read */

	pthread_mutex_t rlock; /* the token bucket */
	double rate, burst, avail;
	struct timespec last;

	struct ebs_stats st;
};

int
ebs_is_spec(const char *spec)
{
	return strncmp(spec, "ebs://", 6) == 0;
}

static int
valid_snapshot_id(const char *s)
{
	size_t n = strlen(s);

	if (n < 6 || n > 63 || strncmp(s, "snap-", 5) != 0)
		return 0;
	for (size_t i = 5; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int
ebs_parse_spec(const char *spec, char id[64], char region[64], struct dt_err *err)
{
	const char *p = spec + 6, *slash;

	id[0] = region[0] = '\0';
	if (!ebs_is_spec(spec))
		return dt_fail(err, DT_EUSAGE, "'%s' is not an ebs:// source", spec);
	slash = strchr(p, '/');
	if (slash) {
		size_t n = (size_t)(slash - p);
		if (n == 0 || n >= 64)
			return dt_fail(err, DT_EUSAGE, "'%s': bad region", spec);
		for (size_t i = 0; i < n; i++)
			if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
			      p[i] == '-'))
				return dt_fail(err, DT_EUSAGE, "'%s': bad region", spec);
		memcpy(region, p, n);
		region[n] = '\0';
		p = slash + 1;
	}
	if (strlen(p) >= 64 || !valid_snapshot_id(p))
		return dt_fail(err, DT_EUSAGE,
			       "'%s': expected ebs://snap-ID or ebs://REGION/snap-ID (ID in hex)",
			       spec);
	snprintf(id, 64, "%s", p);
	return 0;
}

uint64_t
ebs_size(const struct ebs *e)
{
	return e->size;
}

void
ebs_get_stats(struct ebs *e, struct ebs_stats *out)
{
	pthread_mutex_lock(&e->lock);
	*out = e->st;
	pthread_mutex_unlock(&e->lock);
}

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

/* The body of an EBS error names a Reason; INVALID_BLOCK_TOKEN is an expired block token. */
static int
is_bad_block_token(const struct http_response *r)
{
	json_t *j, *reason;
	int yes = 0;

	if (r->status != 400 || r->body.data == NULL)
		return 0;
	j = json_loadb((const char *)r->body.data, r->body.len, 0, NULL);
	reason = j ? json_object_get(j, "Reason") : NULL;
	if (json_is_string(reason) && strcmp(json_string_value(reason), "INVALID_BLOCK_TOKEN") == 0)
		yes = 1;
	json_decref(j);
	return yes;
}

/*
 * GET url from the EBS endpoint, signed; a GetSnapshotBlock (dst set: EBS_BLOCK_SIZE bytes)
 * takes a rate token per attempt. Credentials that expired mid-run (ExpiredToken) are
 * looked up again once, here only. rs is filled in either case: release it.
 */
static int
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
	if (http_do(e->pool, &rq, rs, err) == 0)
		return 0;
	if (!svcerr_is_expired_creds(rs->error.code))
		return -1;
	http_response_release(rs);
	dt_clear(err);
	creds_invalidate(e->creds);
	return http_do(e->pool, &rq, rs, err);
}

/*
 * One ListSnapshotBlocks page from start (or from next, the previous page's token) into
 * e->tokens; the first page also sizes the volume. *next is new (free()) or NULL at the end.
 */
static int
list_page(struct ebs *e, uint64_t start, const char *next, int max, char **next_out,
	  size_t *nentries, struct dt_err *err)
{
	struct http_response rs;
	struct buf url;
	json_t *j = NULL, *blocks, *v;
	json_error_t je;
	int ret = -1;

	*next_out = NULL;
	*nentries = 0;
	memset(&rs, 0, sizeof(rs));
	buf_init(&url, 64 * 1024);
	if (buf_printf(&url, err, "%s/snapshots/%s/blocks?maxResults=%d", e->url, e->id, max) < 0)
		goto out;
	if (next) {
		if (buf_adds(&url, "&pageToken=", err) < 0 ||
		    sigv4_uri_encode(&url, next, strlen(next), 0, err) < 0)
			goto out;
	} else if (start > 0 && buf_printf(&url, err, "&startingBlockIndex=%" PRIu64, start) < 0) {
		goto out;
	}
	if (ebs_get(e, "ListSnapshotBlocks", (const char *)url.data, NULL, &rs, err) < 0)
		goto out;
	j = json_loadb((const char *)rs.body.data, rs.body.len, 0, &je);
	if (!json_is_object(j)) {
		dt_fail(err, DT_ENET, "ListSnapshotBlocks of '%s': answer is not JSON (%s)", e->id,
			je.text);
		goto out;
	}
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
	v = json_object_get(j, "NextToken");
	if (json_is_string(v) && *json_string_value(v)) {
		*next_out = strdup(json_string_value(v));
		if (*next_out == NULL) {
			dt_fail(err, DT_ENOMEM, "out of memory");
			goto out;
		}
	}
	ret = 0;
out:
	json_decref(j);
	http_response_release(&rs);
	buf_release(&url);
	return ret;
}

/* List from start until no NextToken; with first_only, until a page names any block. */
static int
list_blocks(struct ebs *e, uint64_t start, int max, int first_only, struct dt_err *err)
{
	char *next = NULL;
	unsigned pages = 0;

	do {
		char *nx;
		size_t got;

		if (++pages > LIST_MAX_PAGES) {
			free(next);
			return dt_fail(err, DT_ENET,
				       "ListSnapshotBlocks of '%s': more than %u pages", e->id,
				       LIST_MAX_PAGES);
		}
		if (list_page(e, start, next, max, &nx, &got, err) < 0) {
			free(next);
			return -1;
		}
		free(next);
		next = nx;
		if (first_only && got > 0)
			break;
	} while (next);
	free(next);
	return 0;
}

/* base64 of a SHA-256 (44 characters) against data. */
static int
checksum_ok(const char *b64, const unsigned char *data, size_t len)
{
	unsigned char want[48], got[SHA256_DIGEST_LENGTH];

	if (b64 == NULL || strlen(b64) != 44 || b64[43] != '=' || b64[42] == '=')
		return 0;
	if (EVP_DecodeBlock(want, (const unsigned char *)b64, 44) != 33)
		return 0;
	SHA256(data, len, got);
	return CRYPTO_memcmp(want, got, sizeof(got)) == 0;
}

/*
 * Where block idx comes from: 0 it reads as zeros (not listed), 1 it is fetched from the
 * snapshot with *token (new: free()). The one place a changed-block list would route an
 * unchanged block to a gold store.
 */
static int
block_source(struct ebs *e, uint64_t idx, char **token)
{
	*token = NULL;
	pthread_mutex_lock(&e->lock);
	if (e->tokens[idx])
		*token = strdup(e->tokens[idx]);
	pthread_mutex_unlock(&e->lock);
	return *token != NULL;
}

/* Fetch block idx into dst (EBS_BLOCK_SIZE), verified. */
static int
fetch_block(struct ebs *e, uint64_t idx, unsigned char *dst, struct dt_err *err)
{
	int bad_sums = 0, relists = 0;

	for (;;) {
		struct http_response rs;
		struct buf url;
		char *token = NULL;
		int rc, short_block;

		if (!block_source(e, idx, &token)) {
			memset(dst, 0, EBS_BLOCK_SIZE); /* a re-list dropped it: never written */
			return 0;
		}
		buf_init(&url, 64 * 1024);
		rc = buf_printf(&url, err, "%s/snapshots/%s/blocks/%" PRIu64 "?blockToken=", e->url,
				e->id, idx);
		if (rc == 0)
			rc = sigv4_uri_encode(&url, token, strlen(token), 0, err);
		free(token);
		if (rc < 0) {
			buf_release(&url);
			return -1;
		}
		memset(&rs, 0, sizeof(rs));
		rc = ebs_get(e, "GetSnapshotBlock", (const char *)url.data, dst, &rs, err);
		buf_release(&url);
		if (rc < 0) {
			if (is_bad_block_token(&rs) && relists++ < EBS_FETCH_TRIES) {
				/* Block tokens expire (ExpiryTime): list this stretch again. */
				http_response_release(&rs);
				dt_clear(err);
				pthread_mutex_lock(&e->lock);
				e->st.relists++;
				pthread_mutex_unlock(&e->lock);
				if (list_blocks(e, idx, RELIST_PAGE, 1, err) < 0)
					return -1;
				continue;
			}
			http_response_release(&rs);
			return -1;
		}
		if (rs.len == EBS_BLOCK_SIZE &&
		    checksum_ok(http_response_header(&rs, "x-amz-checksum"), dst, EBS_BLOCK_SIZE)) {
			http_response_release(&rs);
			pthread_mutex_lock(&e->lock);
			e->st.blocks_fetched++;
			e->st.bytes_fetched += EBS_BLOCK_SIZE;
			pthread_mutex_unlock(&e->lock);
			return 0;
		}
		short_block = rs.len != EBS_BLOCK_SIZE;
		http_response_release(&rs);
		pthread_mutex_lock(&e->lock);
		e->st.checksum_errors++;
		pthread_mutex_unlock(&e->lock);
		if (++bad_sums >= EBS_FETCH_TRIES)
			return dt_fail(err, DT_EIO,
				       "block %" PRIu64 " of snapshot '%s': %s after %d fetches",
				       idx, e->id,
				       short_block ? "short block" : "checksum mismatch", bad_sums);
	}
}

/* Under e->lock: the entry holding idx, or NULL. */
static struct ent *
find_ent(struct ebs *e, uint64_t idx)
{
	for (size_t i = 0; i < e->nents; i++)
		if (e->ents[i].state != ENT_FREE && e->ents[i].idx == idx)
			return &e->ents[i];
	return NULL;
}

/* Under e->lock: a free entry, or the least recently used unpinned ready one; NULL if none. */
static struct ent *
take_ent(struct ebs *e)
{
	struct ent *best = NULL;

	for (size_t i = 0; i < e->nents; i++) {
		struct ent *x = &e->ents[i];
		if (x->state == ENT_FREE)
			return x;
		if (x->state == ENT_READY && x->pins == 0 && (best == NULL || x->used < best->used))
			best = x;
	}
	return best;
}

/* Load idx into a LOADING entry x (lock not held), then publish or free it. */
static int
load_ent(struct ebs *e, struct ent *x, uint64_t idx, int pin, struct dt_err *err)
{
	int rc = fetch_block(e, idx, x->data, err);

	pthread_mutex_lock(&e->lock);
	if (rc == 0) {
		x->state = ENT_READY;
		x->used = ++e->clock;
		x->pins = pin;
	} else {
		x->state = ENT_FREE; /* waiters try themselves */
	}
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

static void *ahead_main(void *arg);

/*
 * Read-ahead threads do not survive fork() (deltair mount daemonizes after opening the
 * source), and a fork while one holds a lock or a connection would leave the child stuck.
 * So every struct ebs is registered, and before any fork its threads are stopped and
 * joined (pthread_atfork); they start again on the next read-ahead, in either process.
 */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static struct ebs *reg_head;

/* Stop and join e's read-ahead threads; the queue is dropped (readers fetch themselves). */
static void
stop_workers(struct ebs *e)
{
	pthread_mutex_lock(&e->lock);
	e->stop = 1;
	pthread_cond_broadcast(&e->qcond);
	pthread_mutex_unlock(&e->lock);
	for (int i = 0; i < e->nworkers; i++)
		pthread_join(e->workers[i], NULL);
	pthread_mutex_lock(&e->lock);
	e->nworkers = 0;
	e->qlen = 0;
	e->stop = 0;
	pthread_mutex_unlock(&e->lock);
}

static void
fork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
	for (struct ebs *e = reg_head; e; e = e->next)
		stop_workers(e);
}

static void
fork_done(void)
{
	pthread_mutex_unlock(&reg_lock);
}

static void
reg_init(void)
{
	(void)pthread_atfork(fork_prepare, fork_done, fork_done);
}

/* Queue read-ahead after idx, under e->lock, when idx-1 was read: a sequential reader. */
static void
queue_ahead(struct ebs *e, uint64_t idx)
{
	if (e->conc == 0 || e->stop || idx == 0 || find_ent(e, idx - 1) == NULL)
		return;
	while (e->nworkers < e->conc &&
	       pthread_create(&e->workers[e->nworkers], NULL, ahead_main, e) == 0)
		e->nworkers++;
	if (e->nworkers == 0)
		return; /* no threads: readers fetch for themselves */
	for (uint64_t n = idx + 1; n <= idx + (uint64_t)e->ahead && n < e->nblocks; n++) {
		if (e->tokens[n] == NULL || find_ent(e, n) != NULL)
			continue;
		if (e->qlen == e->qcap)
			break;
		e->queue[(e->qhead + e->qlen++) % e->qcap] = n;
	}
	pthread_cond_broadcast(&e->qcond);
}

/* Block idx pinned in the cache: copy out of (*out)->data, then unpin(). */
static int
get_block(struct ebs *e, uint64_t idx, struct ent **out, struct dt_err *err)
{
	struct ent *x;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		x = find_ent(e, idx);
		if (x && x->state == ENT_READY) {
			x->pins++;
			x->used = ++e->clock;
			break;
		}
		if (x == NULL && (x = take_ent(e)) != NULL) {
			x->state = ENT_LOADING;
			x->idx = idx;
			x->pins = 0;
			queue_ahead(e, idx);
			pthread_mutex_unlock(&e->lock);
			if (load_ent(e, x, idx, 1, err) < 0)
				return -1;
			*out = x;
			return 0;
		}
		pthread_cond_wait(&e->cond, &e->lock); /* loading, or every entry busy */
	}
	queue_ahead(e, idx);
	pthread_mutex_unlock(&e->lock);
	*out = x;
	return 0;
}

static void
unpin(struct ebs *e, struct ent *x)
{
	pthread_mutex_lock(&e->lock);
	x->pins--;
	pthread_cond_broadcast(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

static void *
ahead_main(void *arg)
{
	struct ebs *e = arg;

	pthread_mutex_lock(&e->lock);
	for (;;) {
		uint64_t idx;
		struct ent *x;
		struct dt_err err = { 0 };

		while (!e->stop && e->qlen == 0)
			pthread_cond_wait(&e->qcond, &e->lock);
		if (e->stop)
			break;
		idx = e->queue[e->qhead];
		e->qhead = (e->qhead + 1) % e->qcap;
		e->qlen--;
		if (find_ent(e, idx) != NULL || (x = take_ent(e)) == NULL)
			continue;
		x->state = ENT_LOADING;
		x->idx = idx;
		x->pins = 0;
		pthread_mutex_unlock(&e->lock);
		(void)load_ent(e, x, idx, 0, &err); /* a reader fetches again and reports */
		pthread_mutex_lock(&e->lock);
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

ssize_t
ebs_read(struct ebs *e, uint64_t off, void *buf, size_t len, struct dt_err *err)
{
	size_t done = 0;

	if (off >= e->size)
		return 0;
	if (len > e->size - off)
		len = (size_t)(e->size - off);
	while (done < len) {
		uint64_t idx = (off + done) / EBS_BLOCK_SIZE;
		size_t in = (size_t)((off + done) % EBS_BLOCK_SIZE);
		size_t n = EBS_BLOCK_SIZE - in;
		struct ent *x;
		int listed;

		if (n > len - done)
			n = len - done;
		pthread_mutex_lock(&e->lock);
		listed = e->tokens[idx] != NULL;
		pthread_mutex_unlock(&e->lock);
		if (!listed) {
			memset((char *)buf + done, 0, n);
		} else {
			if (get_block(e, idx, &x, err) < 0)
				return -1;
			memcpy((char *)buf + done, x->data + in, n);
			unpin(e, x);
		}
		done += n;
	}
	return (ssize_t)done;
}

void
ebs_free(struct ebs *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&reg_lock);
	for (struct ebs **p = &reg_head; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			break;
		}
	pthread_mutex_unlock(&reg_lock);
	stop_workers(e);
	free(e->workers);
	for (size_t i = 0; i < e->nents; i++)
		free(e->ents[i].data);
	free(e->ents);
	free(e->queue);
	if (e->tokens)
		for (uint64_t i = 0; i < e->nblocks; i++)
			free(e->tokens[i]);
	free(e->tokens);
	creds_free(e->creds);
	http_pool_free(e->pool);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->rlock);
	pthread_cond_destroy(&e->cond);
	pthread_cond_destroy(&e->qcond);
	free(e);
}

static int
ebs_setup(struct ebs *e, const char *spec, const struct ebs_opts *o, struct dt_err *err)
{
	struct profile_files *pf = NULL;
	struct creds_options co;
	int conc = o && o->concurrency > 0 ? o->concurrency : EBS_DEFAULT_CONCURRENCY;
	size_t cap = o && o->cache_blocks ? o->cache_blocks : (size_t)conc * 4;
	int rc;

	if (ebs_parse_spec(spec, e->id, e->region, err) < 0)
		return -1;
	if (conc > EBS_MAX_CONCURRENCY)
		return dt_fail(err, DT_EUSAGE, "EBS concurrency %d is over %d", conc,
			       EBS_MAX_CONCURRENCY);
	if (cap < 64)
		cap = 64;
	/* No one-second window may hold more than rate requests: a bucket of one token
	 * refilled at rate^2/(rate+1) a second gives at most 1 + rate^2/(rate+1) < rate + 1. */
	e->rate = o && o->rate > 0 ? o->rate : EBS_DEFAULT_RATE;
	e->rate = e->rate * e->rate / (e->rate + 1);
	e->burst = 1;
	e->avail = 1;
	clock_gettime(CLOCK_MONOTONIC, &e->last);
	if (http_pool_new(NULL, &e->pool, err) < 0 || profile_load(NULL, &pf, err) < 0)
		return -1;
	rc = e->region[0] ? 0 : endpoint_region(NULL, pf, e->pool, e->region, err);
	if (rc == 0)
		rc = endpoint_url(NULL, pf, ENDPOINT_EBS, e->region, e->url, err);
	profile_free(pf);
	if (rc < 0)
		return -1;
	memset(&co, 0, sizeof(co));
	co.region = e->region;
	if (creds_new(&co, e->pool, &e->creds, err) < 0)
		return -1;
	snprintf(e->st.snapshot_id, sizeof(e->st.snapshot_id), "%s", e->id);
	snprintf(e->st.region, sizeof(e->st.region), "%s", e->region);
	if (list_blocks(e, 0, LIST_PAGE, 0, err) < 0)
		return -1;
	if (e->tokens == NULL)
		return dt_fail(err, DT_ENET, "ListSnapshotBlocks of '%s' gave no volume size",
			       e->id);
	e->nents = cap;
	e->ents = calloc(cap, sizeof(*e->ents));
	e->qcap = (size_t)conc * 4;
	e->queue = calloc(e->qcap, sizeof(*e->queue));
	e->workers = calloc((size_t)conc, sizeof(*e->workers));
	if (e->ents == NULL || e->queue == NULL || e->workers == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	for (size_t i = 0; i < cap; i++)
		if ((e->ents[i].data = malloc(EBS_BLOCK_SIZE)) == NULL)
			return dt_fail(err, DT_ENOMEM, "out of memory");
	e->ahead = conc;
	e->conc = conc;
	pthread_once(&reg_once, reg_init);
	pthread_mutex_lock(&reg_lock);
	e->next = reg_head;
	reg_head = e;
	pthread_mutex_unlock(&reg_lock);
	return 0;
}

int
ebs_open(const char *spec, const struct ebs_opts *o, struct ebs **out, struct dt_err *err)
{
	struct ebs *e = calloc(1, sizeof(*e));

	*out = NULL;
	if (e == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->rlock, NULL);
	pthread_cond_init(&e->cond, NULL);
	pthread_cond_init(&e->qcond, NULL);
	if (ebs_setup(e, spec, o, err) < 0) {
		ebs_free(e);
		return -1;
	}
	*out = e;
	return 0;
}
