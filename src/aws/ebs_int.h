/*
 * ebs_int.h - what the files of the EBS reader share behind aws/ebs.h. ebs.c: the snapshot
 * as an image (block routing, verified fetches, the LRU, read-ahead, opening); ebs_list.c:
 * the listing APIs (ListSnapshotBlocks, ListChangedBlocks) and the signed, rate-limited GET;
 * ebs_gold.c: the gold block store (a gold image or a block cache) and the spill file.
 * Not a public header: only those three files include it.
 */
#ifndef DELTAIR_EBS_INT_H
#define DELTAIR_EBS_INT_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "aws/ebs.h"
#include "aws/endpoint.h"
#include "aws/http.h"

#define LIST_PAGE   10000 /* MaxResults: the model's maximum */
#define RELIST_PAGE 100   /* the model's minimum */

enum ent_state { ENT_FREE, ENT_LOADING, ENT_READY };

/* One 512 KiB block of the LRU. data is written only by the one thread that set LOADING. */
struct ent {
	enum ent_state state;
	uint64_t idx;
	int pins;            /* readers copying out of data */
	uint64_t used;       /* LRU clock */
	uint64_t consumed;   /* bytes readers copied out since it was loaded */
	int spill;           /* while LOADING: data still holds block spill_idx, to keep first */
	uint64_t spill_idx;
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

/* ---- ebs_list.c ---- */

/*
 * GET url from the EBS endpoint, signed; a GetSnapshotBlock (dst set: EBS_BLOCK_SIZE bytes)
 * takes a rate token per attempt. rs is filled in either case: release it.
 */
int ebs_get(struct ebs *e, const char *op, const char *url, unsigned char *dst,
	    struct http_response *rs, struct dt_err *err);
/* INVALID_BLOCK_TOKEN is an expired block token. */
int ebs_is_bad_block_token(const struct http_response *r);
/* List from start until no NextToken; with first_only, until a page names any block. */
int ebs_list_blocks(struct ebs *e, uint64_t start, int max, int first_only, struct dt_err *err);
/* ListChangedBlocks(gold, e), every page (empty ones included), into a new e->changed; or
 * none and a note when the snapshots are not of one lineage. */
int ebs_list_changed(struct ebs *e, const char *gold, struct dt_err *err);

/* ---- ebs_gold.c ---- */

/* Block idx (unchanged since the gold) from the gold store into dst. */
int ebs_gold_read(struct ebs *e, uint64_t idx, unsigned char *dst, struct dt_err *err);
/* Bytes [in, in + n) of that block into dst: with a cache, only the 64 KiB pieces they touch
 * are read and verified. Readers call it directly: the gold store's blocks bypass the LRU. */
int ebs_gold_range(struct ebs *e, uint64_t idx, size_t in, unsigned char *dst, size_t n,
		   struct dt_err *err);
/* Open the gold store of snapshot gold: o's gold image, or its block cache. */
int ebs_gold_open(struct ebs *e, const char *gold, const struct ebs_opts *o, struct dt_err *err);
/* The spill file; without one, blocks the LRU dropped are fetched again. */
void ebs_spill_open(struct ebs *e);
/* Under e->lock: is block idx in the spill file? */
int ebs_spilled(const struct ebs *e, uint64_t idx);
/* 1 when block idx was spilled, now in dst; 0 when it must be fetched. */
int ebs_spill_get(struct ebs *e, uint64_t idx, unsigned char *dst);
/* 1 when block idx was spilled, bytes [in, in + n) of it now in dst; 0 when it was not. */
int ebs_spill_range(struct ebs *e, uint64_t idx, size_t in, unsigned char *dst, size_t n);
/* Keep a fetched block in the spill file (while under EBS_SPILL_MAX). */
void ebs_spill_put(struct ebs *e, uint64_t idx, const unsigned char *data);

#endif
