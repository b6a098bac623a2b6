/*
 * ebs.h - an EBS snapshot read as a disk image through the EBS direct APIs.
 * Spec: "ebs://snap-ID" or "ebs://REGION/snap-ID". ebs_open() lists the snapshot's blocks
 * (ListSnapshotBlocks, every page, empty pages included) and takes the volume size from the
 * answer; ebs_read() reads any byte range: blocks the list did not name read as zeros, the
 * others are fetched (GetSnapshotBlock), their x-amz-Checksum (base64 SHA-256) checked before
 * a byte is used, and kept in a bounded LRU of 512 KiB blocks. A checksum mismatch is
 * fetched again, then is an I/O error: never wrong data. An expired block token re-lists that
 * stretch of the snapshot and fetches again; ExpiredToken credentials are looked up again.
 * Sequential reads start read-ahead fetches on background threads (concurrency in flight);
 * every GetSnapshotBlock request, each retry included, takes a token from a bucket refilled
 * just under rate per second.
 * Every block is routed in one place (ebs.c: block_route): with a changed-block list
 * (ListChangedBlocks against a gold snapshot), a listed block that did not change is read
 * from a gold store (a gold image, or a block cache of the gold snapshot, verified in 64 KiB
 * pieces) instead, straight into the reader's buffer, so the snapshot costs its changed
 * blocks.
 * A struct ebs is thread-safe: ebs_read() may be called from any number of threads.
 */
#ifndef DELTAIR_AWS_EBS_H
#define DELTAIR_AWS_EBS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define EBS_BLOCK_SIZE          (512u * 1024)
#define EBS_DEFAULT_CONCURRENCY 16
#define EBS_MAX_CONCURRENCY     256
#define EBS_DEFAULT_RATE        1000 /* GetSnapshotBlock per second per snapshot: the quota */
#define EBS_FETCH_TRIES         3    /* checksum mismatches and expired tokens, each */
/* The LRU's least capacity (32 MiB). 256 blocks fetched a few less again but cost a baseline
 * about a sixth more CPU (every lookup scans the LRU; docs/benchmarks.md). */
#define EBS_MIN_CACHE_BLOCKS 64

struct ebs;

struct ebs_opts {
	int concurrency;     /* fetches in flight for read-ahead; 0: EBS_DEFAULT_CONCURRENCY */
	double rate;         /* GetSnapshotBlock per second; 0: EBS_DEFAULT_RATE */
	size_t cache_blocks; /* LRU capacity in blocks; 0: 4 * concurrency, at least 64 */
	/*
	 * "snap-GOLD" or NULL: ask ListChangedBlocks(GOLD, this snapshot), every page. Snapshots
	 * of unrelated lineage (or a gold that cannot be compared) give no list and a note
	 * (ebs_changed_note()): a full read, never a wrong one.
	 */
	const char *changed_since;
	/* With changed_since, at most one: where a block that did not change is read instead of
	 * this snapshot. gold_image: a raw image or volume of the gold (a sample of its blocks
	 * is checked against the gold snapshot first); gold_cache: a directory of the gold
	 * snapshot's blocks, filled on first use, each checked against its SHA-256 when read,
	 * at most gold_cache_max bytes (0: EBS_GOLD_CACHE_MAX). */
	const char *gold_image;
	const char *gold_cache;
	uint64_t gold_cache_max;
};

#define EBS_GOLD_CACHE_MAX   (64ull << 30)
#define EBS_PREFETCH_MAX     16384u       /* changed blocks fetched before the walk (8 GiB) */
#define EBS_SPILL_MAX        (8ull << 30) /* fetched blocks kept on disk, not fetched again */
#define EBS_GOLD_IMAGE_CHECK 16           /* gold image blocks checked against the gold snapshot */

struct ebs_stats {
	char snapshot_id[64];
	char region[64];
	uint64_t volume_size;    /* bytes */
	uint64_t blocks_listed;  /* blocks the snapshot holds data for */
	uint64_t blocks_fetched; /* GetSnapshotBlock answers used (verified) */
	uint64_t bytes_fetched;
	uint64_t checksum_errors; /* answers refused for a checksum mismatch */
	uint64_t relists;         /* ListSnapshotBlocks runs after an expired block token */
	/* With changed_since: */
	char gold_id[64];            /* the gold snapshot, "" when none */
	uint64_t blocks_changed;     /* in the list; 0 also when there is no list */
	uint64_t gold_blocks;        /* blocks read from the gold store instead */
	uint64_t gold_fetched;       /* of which fetched from the gold snapshot (cache fills) */
	uint64_t gold_cache_hits;    /* of which found in the cache */
	uint64_t gold_cache_refused; /* cache files that failed their checksum (fetched again) */
	uint64_t gold_pieces;        /* 64 KiB pieces of cache files read and verified */
	uint64_t gold_cache_converted; /* cache files of format 1 checked and rewritten as 2 */
};

/* Is spec an ebs:// spec? */
int ebs_is_spec(const char *spec);
/* Split spec into its snapshot id and region ("" when not given). Bad spec: DT_EUSAGE. */
int ebs_parse_spec(const char *spec, char id[64], char region[64], struct dt_err *err);

/*
 * Open the snapshot of spec: region, endpoint and credentials as the AWS SDKs find them
 * (docs/aws.md), then the block list. o may be NULL. *out is new: ebs_free() it.
 */
int ebs_open(const char *spec, const struct ebs_opts *o, struct ebs **out, struct dt_err *err);
void ebs_free(struct ebs *e);
uint64_t ebs_size(const struct ebs *e);
/* Read len bytes at off; short only at the end of the volume. -1 with err (DT_ENET, DT_EIO). */
ssize_t ebs_read(struct ebs *e, uint64_t off, void *buf, size_t len, struct dt_err *err);
void ebs_get_stats(struct ebs *e, struct ebs_stats *out);
/* Borrowed, valid until e is freed: the changed-block list (sealed), or NULL. */
struct cblk;
const struct cblk *ebs_changed(const struct ebs *e);
/* Borrowed: why the list asked for is not used, one line; "" when it is (or none asked). */
const char *ebs_changed_note(const struct ebs *e);

#endif
