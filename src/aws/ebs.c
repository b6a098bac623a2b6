/*
 * ebs.c - an EBS snapshot as a disk image: block list, verified block fetches, an LRU of
 * blocks, read-ahead threads and a token bucket (aws/ebs.h).
 */
#include "aws/ebs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "aws/creds.h"
#include "aws/endpoint.h"
#include "aws/http.h"
#include "aws/profile.h"
#include "buf.h"
#include "cblk.h"
#include "outfile.h"

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

	/* Reads proportional to the delta (ebs_opts.changed_since) */
	struct cblk *changed; /* owned, sealed: blocks that differ from the gold snapshot */
	char note[512];       /* why a list asked for is not used */
	struct ebs *gold;     /* owned: the gold snapshot, for the gold store */
	int gold_fd;          /* the gold image, or -1 */
	char *cache_dir;      /* owned: DIR/snap-GOLD of the block cache, or NULL */
	uint64_t cache_max, cache_used; /* bytes; cache_used as this process counts it */
	int cache_counted;              /* cache_used was counted (at the first fill) */
	/* Blocks once fetched, so that none is fetched twice when the LRU drops it: an unlinked,
	 * sparse file of ours (O_TMPFILE), block idx at idx * EBS_BLOCK_SIZE. */
	int spill_fd;
	unsigned char *spilled; /* owned: a bit per block, set once it is in the file */
	uint64_t spill_used;    /* bytes written or being written; at most EBS_SPILL_MAX */

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
static int
is_bad_block_token(const struct http_response *r)
{
	return has_reason(r, "INVALID_BLOCK_TOKEN");
}

/*
 * GET url from the EBS endpoint, signed; a GetSnapshotBlock (dst set: EBS_BLOCK_SIZE bytes)
 * takes a rate token per attempt. rs is filled in either case: release it.
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

/*
 * GET url, a listing op, with &pageToken=next when next is set, into *out (new: json_decref()),
 * a JSON object; what names the listing in errors. rs is filled in either case: release it.
 */
static int
get_page(struct ebs *e, const char *op, const char *what, struct buf *url, const char *next,
	 struct http_response *rs, json_t **out, struct dt_err *err)
{
	json_error_t je;

	*out = NULL;
	if (next && (buf_adds(url, "&pageToken=", err) < 0 ||
		     sigv4_uri_encode(url, next, strlen(next), 0, err) < 0))
		return -1;
	if (ebs_get(e, op, (const char *)url->data, NULL, rs, err) < 0)
		return -1;
	*out = json_loadb((const char *)rs->body.data, rs->body.len, 0, &je);
	if (json_is_object(*out))
		return 0;
	json_decref(*out);
	*out = NULL;
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
	struct http_response rs;
	struct buf url;
	json_t *j = NULL, *blocks;
	char what[96];
	int ret = -1;

	*next_out = NULL;
	*nentries = 0;
	memset(&rs, 0, sizeof(rs));
	buf_init(&url, 64 * 1024);
	snprintf(what, sizeof(what), "ListSnapshotBlocks of '%s'", e->id);
	if (buf_printf(&url, err, "%s/snapshots/%s/blocks?maxResults=%d", e->url, e->id, max) < 0 ||
	    (!next && start > 0 &&
	     buf_printf(&url, err, "&startingBlockIndex=%" PRIu64, start) < 0) ||
	    get_page(e, "ListSnapshotBlocks", what, &url, next, &rs, &j, err) < 0)
		goto out;
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
	json_decref(j);
	http_response_release(&rs);
	buf_release(&url);
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
static int
list_blocks(struct ebs *e, uint64_t start, int max, int first_only, struct dt_err *err)
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
	struct http_response rs;
	struct buf url;
	json_t *j = NULL, *blocks;
	char what[160];
	int ret = -1;

	*next_out = NULL;
	memset(&rs, 0, sizeof(rs));
	buf_init(&url, 64 * 1024);
	snprintf(what, sizeof(what), "ListChangedBlocks of '%s' and '%s'", gold, e->id);
	if (buf_printf(&url, err, "%s/snapshots/%s/changedblocks?firstSnapshotId=%s&maxResults=%d",
		       e->url, e->id, gold, LIST_PAGE) < 0)
		goto out;
	if (get_page(e, "ListChangedBlocks", what, &url, next, &rs, &j, err) < 0) {
		if (has_reason(&rs, "UNRELATED_SNAPSHOTS")) {
			dt_clear(err);
			a->unrelated = *stop = 1;
			ret = 0;
		}
		goto out;
	}
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
	json_decref(j);
	http_response_release(&rs);
	buf_release(&url);
	return ret;
}

/* ListChangedBlocks(gold, e), every page (empty ones included), into a new e->changed; or
 * none and a note when the snapshots are not of one lineage. */
static int
list_changed(struct ebs *e, const char *gold, struct dt_err *err)
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

/* ---- the gold block store: unchanged blocks from a gold image or a cache of the gold ---- */

/* Serialises the cache's byte count and its eviction among this process's threads; other
 * processes sharing the directory only ever see whole files (temporary name, rename). */
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

#define CACHE_FILE_SIZE (EBS_BLOCK_SIZE + SHA256_DIGEST_LENGTH) /* the block, its SHA-256 */

struct cache_file {
	char path[96]; /* "snap-ID/NAME", under the cache's root */
	struct timespec used;
	uint64_t size;
};

static int
cache_file_cmp(const void *pa, const void *pb)
{
	const struct cache_file *a = pa, *b = pb;

	if (a->used.tv_sec != b->used.tv_sec)
		return a->used.tv_sec < b->used.tv_sec ? -1 : 1;
	return (a->used.tv_nsec > b->used.tv_nsec) - (a->used.tv_nsec < b->used.tv_nsec);
}

/*
 * The cache's files (every gold snapshot's directory under root) into *out (new: free());
 * their bytes into *total. Temporary files of other writers count but are never listed.
 */
static int
cache_scan(const char *root, struct cache_file **out, size_t *n, uint64_t *total,
	   struct dt_err *err)
{
	DIR *d = opendir(root), *sd;
	struct dirent *de, *fe;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	*total = 0;
	if (d == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot read the gold cache '%s'", root);
	while ((de = readdir(d)) != NULL) {
		char sub[512];

		if (strncmp(de->d_name, "snap-", 5) != 0)
			continue;
		if (strlen(de->d_name) > 63 ||
		    (size_t)snprintf(sub, sizeof(sub), "%s/%s", root, de->d_name) >= sizeof(sub) ||
		    (sd = opendir(sub)) == NULL)
			continue;
		while ((fe = readdir(sd)) != NULL) {
			struct stat st;
			struct cache_file *c;

			if (fe->d_name[0] == '.' && fe->d_name[1] != 't')
				continue; /* ".", ".." */
			if (fstatat(dirfd(sd), fe->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			*total += (uint64_t)st.st_size;
			if (fe->d_name[0] == '.' || strlen(fe->d_name) > 31)
				continue; /* another writer's temporary file */
			if (BUF_GROW(*out, *n + 1, cap, err) < 0) {
				closedir(sd);
				closedir(d);
				free(*out);
				*out = NULL;
				return -1;
			}
			c = &(*out)[(*n)++];
			if ((size_t)snprintf(c->path, sizeof(c->path), "%s/%s", de->d_name,
					     fe->d_name) >= sizeof(c->path))
				(*n)--;
			c->used = st.st_mtim;
			c->size = (uint64_t)st.st_size;
		}
		closedir(sd);
	}
	closedir(d);
	return 0;
}

/* The cache's root: e->cache_dir without its last component (the gold snapshot's id). */
static void
cache_root(const struct ebs *e, char root[512])
{
	char *slash;

	snprintf(root, 512, "%s", e->cache_dir);
	slash = strrchr(root, '/');
	if (slash)
		*slash = '\0';
}

/*
 * Under cache_lock: count the cache's bytes once, before this process first adds to it. Not
 * at open: a warm run, which only reads, would pay for a stat of every file of a large cache.
 */
static void
cache_count(struct ebs *e)
{
	struct cache_file *v = NULL;
	size_t n = 0;
	char root[512];

	if (e->cache_counted)
		return;
	cache_root(e, root);
	if (cache_scan(root, &v, &n, &e->cache_used, NULL) == 0)
		e->cache_counted = 1; /* else counted again at the next fill */
	free(v);
}

/* Over its bound: remove the least recently used files down to 90% of it. */
static void
cache_trim(struct ebs *e)
{
	struct cache_file *v = NULL;
	size_t n = 0;
	uint64_t total = 0, goal = e->cache_max / 10 * 9;
	char root[512];

	cache_root(e, root);
	if (cache_scan(root, &v, &n, &total, NULL) < 0)
		return; /* the bound is kept at the next fill */
	if (n)
		qsort(v, n, sizeof(*v), cache_file_cmp);
	for (size_t i = 0; i < n && total > goal; i++) {
		char path[700];

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, v[i].path) < sizeof(path) &&
		    unlink(path) == 0)
			total -= v[i].size < total ? v[i].size : total;
	}
	e->cache_used = total;
	free(v);
}

/* The cache's directory: made 0700, or, when it exists, a directory of ours nobody else can
 * read or write (the blocks are the gold's data). */
static int
cache_dir_ok(const char *path, struct dt_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return dt_fail_errno(err, DT_EIO, "cannot make the gold cache '%s'", path);
	if (lstat(path, &st) < 0)
		return dt_fail_errno(err, DT_EIO, "cannot use the gold cache '%s'", path);
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
		return dt_fail(err, DT_EUSAGE,
			       "the gold cache '%s' must be a directory of this user's that no "
			       "one else can read or write (chmod 700)",
			       path);
	return 0;
}

/* A verified block idx of the cache into dst: 1, or 0 when absent or damaged (removed). */
static int
cache_get(struct ebs *e, const char *path, unsigned char *dst)
{
	unsigned char sum[SHA256_DIGEST_LENGTH], want[SHA256_DIGEST_LENGTH];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t got;
	struct stat st;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size != CACHE_FILE_SIZE ||
	    (got = pread(fd, dst, EBS_BLOCK_SIZE, 0)) != (ssize_t)EBS_BLOCK_SIZE ||
	    pread(fd, want, sizeof(want), EBS_BLOCK_SIZE) != (ssize_t)sizeof(want)) {
		close(fd);
		goto refuse;
	}
	SHA256(dst, EBS_BLOCK_SIZE, sum);
	if (CRYPTO_memcmp(sum, want, sizeof(sum)) != 0) {
		close(fd);
		goto refuse;
	}
	/* Recently used: trimmed last. An hour's precision is enough for that, and spares a
	 * metadata write on every read. */
	if (time(NULL) - st.st_mtim.tv_sec > 3600)
		(void)futimens(fd, NULL);
	close(fd);
	return 1;
refuse:
	pthread_mutex_lock(&e->lock);
	e->st.gold_cache_refused++;
	pthread_mutex_unlock(&e->lock);
	(void)unlink(path);
	return 0;
}

/* Keep block data (verified) as path: a temporary file of ours, renamed over path. */
static void
cache_put(struct ebs *e, const char *path, const unsigned char *data)
{
	char tmp[600];
	unsigned char sum[SHA256_DIGEST_LENGTH];
	int fd, ok, slot;

	pthread_mutex_lock(&cache_lock);
	cache_count(e);
	pthread_mutex_unlock(&cache_lock);
	snprintf(tmp, sizeof(tmp), "%s/.tXXXXXX", e->cache_dir);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return; /* a full disk costs fetches, never a wrong read */
	slot = outfile_track(AT_FDCWD, tmp); /* a signal (SIGINT of a diff) removes it */
	SHA256(data, EBS_BLOCK_SIZE, sum);
	ok = fchmod(fd, 0600) == 0 && pwrite(fd, data, EBS_BLOCK_SIZE, 0) == EBS_BLOCK_SIZE &&
	     pwrite(fd, sum, sizeof(sum), EBS_BLOCK_SIZE) == (ssize_t)sizeof(sum);
	ok = close(fd) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		(void)unlink(tmp);
		outfile_untrack(slot);
		return;
	}
	outfile_untrack(slot);
	pthread_mutex_lock(&cache_lock);
	e->cache_used += CACHE_FILE_SIZE;
	if (e->cache_used > e->cache_max)
		cache_trim(e);
	pthread_mutex_unlock(&cache_lock);
}

/*
 * Block idx of a gold image into dst. An image that ends inside the block (a raw image of
 * the filesystem alone) reads as zeros past its end, as the volume does; one that ends
 * before the block is an error.
 */
static int
gold_pread(int fd, unsigned char *dst, uint64_t idx, struct dt_err *err)
{
	size_t got = 0;

	while (got < EBS_BLOCK_SIZE) {
		ssize_t n = pread(fd, dst + got, EBS_BLOCK_SIZE - got,
				  (off_t)(idx * EBS_BLOCK_SIZE + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return dt_fail_errno(err, DT_EIO,
					     "cannot read block %" PRIu64 " of the gold image",
					     idx);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	if (got == 0)
		return dt_fail(err, DT_EIO, "the gold image ends before block %" PRIu64, idx);
	memset(dst + got, 0, EBS_BLOCK_SIZE - got);
	return 0;
}

/* Unchanged block idx from the gold store into dst (EBS_BLOCK_SIZE). */
static int
gold_read(struct ebs *e, uint64_t idx, unsigned char *dst, struct dt_err *err)
{
	char path[600];
	int listed;

	pthread_mutex_lock(&e->gold->lock);
	listed = e->gold->tokens[idx] != NULL;
	pthread_mutex_unlock(&e->gold->lock);
	if (e->gold_fd >= 0) {
		/* Never written in the gold: zeros, wherever the image ends. */
		if (!listed)
			memset(dst, 0, EBS_BLOCK_SIZE);
		else if (gold_pread(e->gold_fd, dst, idx, err) < 0)
			return -1;
		pthread_mutex_lock(&e->lock);
		e->st.gold_blocks++;
		pthread_mutex_unlock(&e->lock);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/%016" PRIx64, e->cache_dir, idx);
	if (cache_get(e, path, dst)) {
		pthread_mutex_lock(&e->lock);
		e->st.gold_blocks++;
		e->st.gold_cache_hits++;
		pthread_mutex_unlock(&e->lock);
		return 0;
	}
	if (ebs_read(e->gold, idx * EBS_BLOCK_SIZE, dst, EBS_BLOCK_SIZE, err) !=
	    (ssize_t)EBS_BLOCK_SIZE)
		return dt_fail(err, DT_EIO, "cannot read block %" PRIu64 " of the gold snapshot",
			       idx);
	cache_put(e, path, dst);
	pthread_mutex_lock(&e->lock);
	e->st.gold_blocks++;
	e->st.gold_fetched++;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

/*
 * A gold image is trusted only once it matches the gold snapshot: EBS_GOLD_IMAGE_CHECK of
 * the gold's listed blocks, spread over the volume, fetched (checksums verified) and
 * compared byte for byte.
 */
static int
gold_image_check(struct ebs *e, const char *path, struct dt_err *err)
{
	unsigned char *a = malloc(EBS_BLOCK_SIZE), *b = malloc(EBS_BLOCK_SIZE);
	struct ebs *g = e->gold;
	uint64_t listed = 0, last = 0, step, seen = 0, checked = 0;
	struct stat st;
	int rc = -1;

	if (a == NULL || b == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	if (fstat(e->gold_fd, &st) < 0) {
		dt_fail_errno(err, DT_EIO, "cannot read the gold image '%s'", path);
		goto out;
	}
	for (uint64_t i = 0; i < g->nblocks; i++)
		if (g->tokens[i] != NULL) {
			listed++;
			last = i;
		}
	/* A raw image may stop at the filesystem's end, short of the volume; not before a block
	 * the gold snapshot holds data in. */
	if (S_ISREG(st.st_mode) && listed && (uint64_t)st.st_size <= last * EBS_BLOCK_SIZE) {
		dt_fail(err, DT_EFORMAT,
			"the gold image '%s' ends at byte %llu, before block %" PRIu64
			" of the gold snapshot '%s': not its image",
			path, (unsigned long long)st.st_size, last, g->id);
		goto out;
	}
	step = listed > EBS_GOLD_IMAGE_CHECK ? listed / EBS_GOLD_IMAGE_CHECK : 1;
	for (uint64_t i = 0; i < g->nblocks && checked < EBS_GOLD_IMAGE_CHECK; i++) {
		if (g->tokens[i] == NULL || seen++ % step != 0)
			continue;
		if (ebs_read(g, i * EBS_BLOCK_SIZE, a, EBS_BLOCK_SIZE, err) !=
		    (ssize_t)EBS_BLOCK_SIZE)
			goto out;
		if (gold_pread(e->gold_fd, b, i, err) < 0)
			goto out;
		if (memcmp(a, b, EBS_BLOCK_SIZE) != 0) {
			dt_fail(err, DT_EFORMAT,
				"the gold image '%s' is not the gold snapshot '%s': block %" PRIu64
				" differs",
				path, g->id, i);
			goto out;
		}
		checked++;
	}
	rc = 0;
out:
	free(a);
	free(b);
	return rc;
}

/* Open the gold store of o (with e->changed): the gold snapshot, then the image or cache. */
static int
gold_open(struct ebs *e, const char *gold, const struct ebs_opts *o, struct dt_err *err)
{
	struct ebs_opts go;
	char spec[160];

	memset(&go, 0, sizeof(go));
	go.concurrency = o->concurrency;
	go.rate = o->rate;
	snprintf(spec, sizeof(spec), "ebs://%s/%s", e->region, gold);
	if (ebs_open(spec, &go, &e->gold, err) < 0)
		return -1;
	if (e->gold->size != e->size)
		return dt_fail(err, DT_EUSAGE,
			       "the gold snapshot '%s' is %llu bytes, '%s' %llu: a gold store "
			       "needs volumes of one size",
			       gold, (unsigned long long)e->gold->size, e->id,
			       (unsigned long long)e->size);
	if (o->gold_image) {
		e->gold_fd = open(o->gold_image, O_RDONLY | O_CLOEXEC);
		if (e->gold_fd < 0)
			return dt_fail_errno(err, DT_EIO, "cannot open the gold image '%s'",
					     o->gold_image);
		return gold_image_check(e, o->gold_image, err);
	}
	if (strlen(o->gold_cache) > 400)
		return dt_fail(err, DT_EUSAGE, "--gold-cache: a path of at most 400 bytes");
	if (cache_dir_ok(o->gold_cache, err) < 0)
		return -1;
	if (asprintf(&e->cache_dir, "%s/%s", o->gold_cache, gold) < 0) {
		e->cache_dir = NULL;
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	if (cache_dir_ok(e->cache_dir, err) < 0)
		return -1;
	e->cache_max = o->gold_cache_max ? o->gold_cache_max : EBS_GOLD_CACHE_MAX;
	return 0;
}

/*
 * The spill file of fetched blocks: unlinked from the start (O_TMPFILE), in the gold cache's
 * directory (private to the user) or else in /tmp. Without one (or past EBS_SPILL_MAX bytes),
 * blocks the LRU dropped are fetched again: a walk comes back to a block (its other small
 * files, the inode table) long after a 64-block LRU let it go.
 */
static void
spill_open(struct ebs *e)
{
	e->spilled = calloc(e->nblocks / 8 + 1, 1);
	if (e->spilled == NULL)
		return;
	e->spill_fd =
		open(e->cache_dir ? e->cache_dir : P_tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

/* Block idx from the spill file into dst: 1, or 0 when it is not there. */
static int
spill_get(struct ebs *e, uint64_t idx, unsigned char *dst)
{
	int have;

	if (e->spill_fd < 0)
		return 0;
	pthread_mutex_lock(&e->lock);
	have = (e->spilled[idx / 8] >> (idx % 8)) & 1;
	pthread_mutex_unlock(&e->lock);
	return have && pread(e->spill_fd, dst, EBS_BLOCK_SIZE, (off_t)(idx * EBS_BLOCK_SIZE)) ==
			       (ssize_t)EBS_BLOCK_SIZE;
}

/* A fetched block into the spill file, while there is room. A full disk costs fetches, never a
 * wrong read: the bit is set only once the block is written. */
static void
spill_put(struct ebs *e, uint64_t idx, const unsigned char *data)
{
	int room;

	if (e->spill_fd < 0)
		return;
	pthread_mutex_lock(&e->lock);
	room = e->spill_used + EBS_BLOCK_SIZE <= EBS_SPILL_MAX;
	if (room)
		e->spill_used += EBS_BLOCK_SIZE;
	pthread_mutex_unlock(&e->lock);
	if (room && pwrite(e->spill_fd, data, EBS_BLOCK_SIZE, (off_t)(idx * EBS_BLOCK_SIZE)) ==
			    (ssize_t)EBS_BLOCK_SIZE) {
		pthread_mutex_lock(&e->lock);
		e->spilled[idx / 8] |= (unsigned char)(1u << (idx % 8));
		pthread_mutex_unlock(&e->lock);
	}
}

/*
 * Where block idx comes from: 0 it reads as zeros (not listed), 1 it is fetched from the
 * snapshot with *token (new: free()), 2 it did not change since the gold: from the gold
 * store. The one place a changed-block list routes a block.
 */
static int
block_source(struct ebs *e, uint64_t idx, char **token)
{
	*token = NULL;
	pthread_mutex_lock(&e->lock);
	if (e->tokens[idx] && e->gold && !cblk_has(e->changed, idx)) {
		pthread_mutex_unlock(&e->lock);
		return 2;
	}
	if (e->tokens[idx])
		*token = strdup(e->tokens[idx]);
	pthread_mutex_unlock(&e->lock);
	return *token != NULL;
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
			return gold_read(e, idx, dst, err);
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
			spill_put(e, idx, dst);
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
	if (spill_get(e, idx, dst))
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
		int listed;

		pthread_mutex_lock(&p->lock);
		k = p->next++;
		pthread_mutex_unlock(&p->lock);
		if (k >= cblk_count(p->e->changed))
			break;
		idx = cblk_at(p->e->changed, k);
		pthread_mutex_lock(&p->e->lock);
		listed = p->e->tokens[idx] != NULL;
		pthread_mutex_unlock(&p->e->lock);
		if (listed)
			(void)fetch_block(p->e, idx, buf, &err);
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
	if (o && o->changed_since) {
		if (!valid_snapshot_id(o->changed_since))
			return dt_fail(err, DT_EUSAGE,
				       "--changed-since: '%s' is not a snapshot id (snap-HEX)",
				       o->changed_since);
		if (strcmp(o->changed_since, e->id) == 0)
			return dt_fail(err, DT_EUSAGE,
				       "--changed-since: '%s' is the snapshot being read", e->id);
		snprintf(e->st.gold_id, sizeof(e->st.gold_id), "%s", o->changed_since);
		if (list_changed(e, o->changed_since, err) < 0)
			return -1;
		if (e->changed && (o->gold_image || o->gold_cache) &&
		    gold_open(e, o->changed_since, o, err) < 0)
			return -1;
	}
	spill_open(e);
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
