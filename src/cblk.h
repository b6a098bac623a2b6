/*
 * cblk.h - a changed-block list: the blocks in which an image differs from its gold.
 *
 * Built by aws/ebs.c from ListChangedBlocks(gold, incident), or loaded from a file in the
 * shape of that call's JSON answer (`--changed-blocks FILE`: one page, or the AWS CLI's
 * pages merged into one object) for any image. A block not in the list holds the same
 * bytes as the gold's block at the same index; whoever builds the list vouches for that.
 * A sealed list is read-only and may be shared by threads.
 */
#ifndef DELTAIR_CBLK_H
#define DELTAIR_CBLK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define CBLK_MAX_BLOCKS (1u << 27)   /* blocks in one list: 64 TiB of 512 KiB blocks */
#define CBLK_MAX_FILE   (1ull << 30) /* bytes of a --changed-blocks file we agree to read */

struct cblk;

/* New, empty, unsealed list of blocks of block_size bytes (a power of two, at least 512);
 * NULL when out of memory or block_size is not one. */
struct cblk *cblk_new(uint32_t block_size);
void cblk_free(struct cblk *c);
/* Add block idx (not after cblk_seal()); DT_ENOMEM past CBLK_MAX_BLOCKS. */
int cblk_add(struct cblk *c, uint64_t idx, struct dt_err *err) DT_MUST_USE;
/* Sort and drop repeats; the list is read-only afterwards. */
void cblk_seal(struct cblk *c);

/*
 * Read a ListChangedBlocks answer (JSON: "BlockSize", "ChangedBlocks": [{"BlockIndex": N,
 * ...}], optional "VolumeSize" in GiB, which then bounds every index). An answer that has a
 * "NextToken" is one page of several: refused (DT_EFORMAT), since a list missing blocks
 * would pass changed files as unchanged. On success *out is new and sealed: cblk_free() it.
 */
int cblk_load(const char *path, struct cblk **out, struct dt_err *err) DT_MUST_USE;
int cblk_load_mem(const char *data, size_t len, struct cblk **out, struct dt_err *err) DT_MUST_USE;

uint32_t cblk_block_size(const struct cblk *c);
/* The volume's size in bytes when the list says (VolumeSize), else 0. */
uint64_t cblk_volume_size(const struct cblk *c);
void cblk_set_volume_size(struct cblk *c, uint64_t bytes);
/* Changed blocks in the list. */
size_t cblk_count(const struct cblk *c);
/* Sealed only: the place of block idx in the sorted list (0 to count - 1), or SIZE_MAX
 * when it did not change. */
size_t cblk_rank(const struct cblk *c, uint64_t idx);
/* Sealed only: the k-th changed block (k < cblk_count()), in ascending order. */
uint64_t cblk_at(const struct cblk *c, size_t k);
/* Sealed only: 1 when block idx changed. */
int cblk_has(const struct cblk *c, uint64_t idx);
/* Sealed only: 1 when any byte of [off, off + len) of the image lies in a changed block. */
int cblk_touches(const struct cblk *c, uint64_t off, uint64_t len);

#endif
