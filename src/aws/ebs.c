/*
 * ebs.c - an EBS snapshot as a disk image: verified block fetches, an LRU of blocks and
 * read-ahead threads (aws/ebs.h). The block list, the changed-block list and the signed GET
 * with its token bucket: ebs_list.c; the gold block store and spill file: ebs_gold.c; what
 * they share: ebs_int.h.
 */
#include "aws/ebs_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "aws/creds.h"
#include "aws/endpoint.h"
#include "aws/http.h"
#include "aws/profile.h"
#include "buf.h"
#include "cblk.h"

#include "banned.h"

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

const struct cblk *
ebs_changed(const struct ebs *e)
{
	return e->changed;
}

const char *
ebs_changed_note(const struct ebs *e)
{
	return e->note;
}

void
ebs_get_stats(struct ebs *e, struct ebs_stats *out)
{
	pthread_mutex_lock(&e->lock);
	*out = e->st;
	pthread_mutex_unlock(&e->lock);
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
 * Where block idx comes from, under e->lock: 0 it reads as zeros (not listed), 1 it is fetched
 * from the snapshot, 2 it did not change since the gold: from the gold store. The one place a
 * changed-block list routes a block.
 */
static int
block_route(const struct ebs *e, uint64_t idx)
{
	if (e->tokens[idx] == NULL)
		return 0;
	return e->gold && !cblk_has(e->changed, idx) ? 2 : 1;
}

/* block_route() under e->lock, and the token of a block to fetch into *token. */
static int
block_source(struct ebs *e, uint64_t idx, char **token)
{
	int route;

	*token = NULL;
	pthread_mutex_lock(&e->lock);
	route = block_route(e, idx);
	if (route == 1 && (*token = strdup(e->tokens[idx])) == NULL)
		route = 0;
	pthread_mutex_unlock(&e->lock);
	return route;
}

/* Fetch block idx into dst (EBS_BLOCK_SIZE), verified. */
static int
fetch_remote(struct ebs *e, uint64_t idx, unsigned char *dst, struct dt_err *err)
{
	int bad_sums = 0, relists = 0;

	for (;;) {
		struct http_response rs;
		struct buf url;
		char *token = NULL;
		int rc, short_block;

		rc = block_source(e, idx, &token);
		if (rc == 2)
			return ebs_gold_read(e, idx, dst, err);
		if (rc == 0) {
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
			if (ebs_is_bad_block_token(&rs) && relists++ < EBS_FETCH_TRIES) {
				/* Block tokens expire (ExpiryTime): list this stretch again. */
				http_response_release(&rs);
				dt_clear(err);
				pthread_mutex_lock(&e->lock);
				e->st.relists++;
				pthread_mutex_unlock(&e->lock);
				if (ebs_list_blocks(e, idx, RELIST_PAGE, 1, err) < 0)
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

/*
 * Block idx into dst: from the spill file when it was fetched before, else from the gold store
 * when it did not change, else fetched, verified (and kept in the spill file).
 */
static int
fetch_block(struct ebs *e, uint64_t idx, unsigned char *dst, struct dt_err *err)
{
	if (ebs_spill_get(e, idx, dst))
		return 0;
	return fetch_remote(e, idx, dst, err);
}

struct prefetch {
	struct ebs *e;
	pthread_mutex_t lock;
	size_t next; /* the next place in the changed-block list */
};

/* A prefetch thread: fetch changed blocks into the spill file until none is left. Failures
 * are left to the reader that needs the block, which fetches again and reports. */
static void *
prefetch_main(void *arg)
{
	struct prefetch *p = arg;
	unsigned char *buf = malloc(EBS_BLOCK_SIZE);

	while (buf) {
		size_t k;
		uint64_t idx;
		struct dt_err err = { 0 };

		pthread_mutex_lock(&p->lock);
		k = p->next++;
		pthread_mutex_unlock(&p->lock);
		if (k >= cblk_count(p->e->changed))
			break;
		idx = cblk_at(p->e->changed, k);
		/* A block the snapshot does not list reads as zeros: nothing is fetched. */
		if (fetch_remote(p->e, idx, buf, &err) == 0)
			ebs_spill_put(p->e, idx, buf);
	}
	free(buf);
	return NULL;
}

/*
 * Fetch every changed block the snapshot holds into the spill file, conc at a time, before
 * the walk: the walk's reads of metadata are one at a time, and would each wait a round trip.
 * Not past EBS_PREFETCH_MAX blocks (a list that large is read as the walk goes).
 */
static void
prefetch_changed(struct ebs *e, int conc)
{
	struct prefetch p = { e, PTHREAD_MUTEX_INITIALIZER, 0 };
	pthread_t t[EBS_MAX_CONCURRENCY];
	int n = 0;

	if (e->spill_fd < 0 || e->gold == NULL || cblk_count(e->changed) == 0 ||
	    cblk_count(e->changed) > EBS_PREFETCH_MAX)
		return;
	while (n < conc && pthread_create(&t[n], NULL, prefetch_main, &p) == 0)
		n++;
	if (n == 0)
		prefetch_main(&p);
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	pthread_mutex_destroy(&p.lock);
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

/*
 * Under e->lock: x (from take_ent()) now loads idx. The block it held goes to the spill file
 * first (in load_ent(), without the lock) unless it is there already or readers copied it
 * out exactly once, whole: the data of a file read through, which the walk does not come
 * back to. A block read in part (metadata, small files' tails), more than once or not at
 * all (read-ahead overshoot) is kept: the walk comes back to those long after a 64-block
 * LRU let them go. Writing every fetched block cost a third of the CPU of a baseline.
 */
static void
claim_ent(struct ebs *e, struct ent *x, uint64_t idx)
{
	x->spill = x->state == ENT_READY && x->consumed != EBS_BLOCK_SIZE &&
		   e->spill_fd >= 0 && !ebs_spilled(e, x->idx);
	x->spill_idx = x->idx;
	x->state = ENT_LOADING;
	x->idx = idx;
	x->pins = 0;
	x->consumed = 0;
}

/* Load idx into a LOADING entry x (lock not held), then publish or free it. */
static int
load_ent(struct ebs *e, struct ent *x, uint64_t idx, int pin, struct dt_err *err)
{
	int rc;

	if (x->spill) {
		ebs_spill_put(e, x->spill_idx, x->data);
		x->spill = 0;
	}
	rc = fetch_block(e, idx, x->data, err);

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
		/* The gold store's and the spill file's blocks are read in place, never
		 * through the LRU. */
		if (block_route(e, n) != 1 || ebs_spilled(e, n) || find_ent(e, n) != NULL)
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
			claim_ent(e, x, idx);
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

/* Done copying n bytes out of x. */
static void
unpin(struct ebs *e, struct ent *x, size_t n)
{
	pthread_mutex_lock(&e->lock);
	x->pins--;
	x->consumed += n;
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
		claim_ent(e, x, idx);
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
		int route;

		if (n > len - done)
			n = len - done;
		pthread_mutex_lock(&e->lock);
		route = block_route(e, idx);
		pthread_mutex_unlock(&e->lock);
		if (route == 0) {
			memset((char *)buf + done, 0, n);
		} else if (route == 2) {
			/* Straight from the gold store into buf: of a cached block, only the
			 * pieces the read touches are read and verified; no copy through the
			 * LRU, no read-ahead thread. */
			if (ebs_gold_range(e, idx, in, (unsigned char *)buf + done, n, err) < 0)
				return -1;
		} else if (ebs_spill_range(e, idx, in, (unsigned char *)buf + done, n)) {
			/* Fetched and verified before: the bytes asked for, from the spill
			 * file, not the whole block through the LRU. */
		} else {
			if (get_block(e, idx, &x, err) < 0)
				return -1;
			memcpy((char *)buf + done, x->data + in, n);
			unpin(e, x, n);
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
	cblk_free(e->changed);
	if (e->spill_fd >= 0)
		close(e->spill_fd);
	free(e->spilled);
	ebs_free(e->gold);
	if (e->gold_fd >= 0)
		close(e->gold_fd);
	free(e->cache_dir);
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
	if (cap < EBS_MIN_CACHE_BLOCKS)
		cap = EBS_MIN_CACHE_BLOCKS;
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
	if (ebs_list_blocks(e, 0, LIST_PAGE, 0, err) < 0)
		return -1;
	if (e->tokens == NULL)
		return dt_fail(err, DT_ENET, "ListSnapshotBlocks of '%s' gave no volume size",
			       e->id);
	if (o && o->changed_since) {
		if (!valid_snapshot_id(o->changed_since))
			return dt_fail(err, DT_EUSAGE,
				       "--changed-since: '%s' is not a snapshot id (snap-HEX)",
				       o->changed_since);
		if (strcmp(o->changed_since, e->id) == 0)
			return dt_fail(err, DT_EUSAGE,
				       "--changed-since: '%s' is the snapshot being read", e->id);
		snprintf(e->st.gold_id, sizeof(e->st.gold_id), "%s", o->changed_since);
		if (ebs_list_changed(e, o->changed_since, err) < 0)
			return -1;
		if (e->changed && (o->gold_image || o->gold_cache) &&
		    ebs_gold_open(e, o->changed_since, o, err) < 0)
			return -1;
	}
	ebs_spill_open(e);
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
	prefetch_changed(e, conc);
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
	e->gold_fd = -1;
	e->spill_fd = -1;
	if (ebs_setup(e, spec, o, err) < 0) {
		ebs_free(e);
		return -1;
	}
	*out = e;
	return 0;
}
