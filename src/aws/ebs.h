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
 * Every block goes through one routing point (ebs.c: block_source), where a later
 * changed-block list can send unchanged blocks to another store.
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

struct ebs;

struct ebs_opts {
	int concurrency;     /* fetches in flight for read-ahead; 0: EBS_DEFAULT_CONCURRENCY */
	double rate;         /* GetSnapshotBlock per second; 0: EBS_DEFAULT_RATE */
	size_t cache_blocks; /* LRU capacity in blocks; 0: 4 * concurrency, at least 64 */
};

struct ebs_stats {
	char snapshot_id[64];
	char region[64];
	uint64_t volume_size;    /* bytes */
	uint64_t blocks_listed;  /* blocks the snapshot holds data for */
	uint64_t blocks_fetched; /* GetSnapshotBlock answers used (verified) */
	uint64_t bytes_fetched;
	uint64_t checksum_errors; /* answers refused for a checksum mismatch */
	uint64_t relists;         /* ListSnapshotBlocks runs after an expired block token */
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

#endif
