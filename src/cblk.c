/*
 * cblk.c - a changed-block list (cblk.h): a sorted array of block indexes.
 */
#include "cblk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "buf.h"

#include "banned.h"

struct cblk {
	uint32_t bs;
	uint64_t volume; /* bytes, 0: unknown */
	uint64_t *v;     /* owned */
	size_t n, cap;
	int sealed;
};

struct cblk *
cblk_new(uint32_t block_size)
{
	struct cblk *c;

	if (block_size < 512 || (block_size & (block_size - 1)) != 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c)
		c->bs = block_size;
	return c;
}

void
cblk_free(struct cblk *c)
{
	if (c == NULL)
		return;
	free(c->v);
	free(c);
}

int
cblk_add(struct cblk *c, uint64_t idx, struct dt_err *err)
{
	if (c->sealed)
		DT_BUG("cblk_add() on a sealed list");
	if (c->n >= CBLK_MAX_BLOCKS)
		return dt_fail(err, DT_ENOMEM, "more than %u changed blocks", CBLK_MAX_BLOCKS);
	if (BUF_GROW(c->v, c->n + 1, c->cap, err) < 0)
		return -1;
	c->v[c->n++] = idx;
	return 0;
}

static int
u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void
cblk_seal(struct cblk *c)
{
	size_t k = 0;

	if (c->n)
		qsort(c->v, c->n, sizeof(*c->v), u64_cmp);
	for (size_t i = 0; i < c->n; i++)
		if (k == 0 || c->v[k - 1] != c->v[i])
			c->v[k++] = c->v[i];
	c->n = k;
	c->sealed = 1;
}

uint32_t
cblk_block_size(const struct cblk *c)
{
	return c->bs;
}

uint64_t
cblk_volume_size(const struct cblk *c)
{
	return c->volume;
}

void
cblk_set_volume_size(struct cblk *c, uint64_t bytes)
{
	c->volume = bytes;
}

size_t
cblk_count(const struct cblk *c)
{
	return c->n;
}

/* Index of the first changed block >= idx (c->n when none). */
static size_t
lower_bound(const struct cblk *c, uint64_t idx)
{
	size_t lo = 0, hi = c->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (c->v[mid] < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

uint64_t
cblk_at(const struct cblk *c, size_t k)
{
	return c->v[k];
}

size_t
cblk_rank(const struct cblk *c, uint64_t idx)
{
	size_t i = lower_bound(c, idx);

	return i < c->n && c->v[i] == idx ? i : SIZE_MAX;
}

int
cblk_has(const struct cblk *c, uint64_t idx)
{
	return cblk_rank(c, idx) != SIZE_MAX;
}

int
cblk_touches(const struct cblk *c, uint64_t off, uint64_t len)
{
	uint64_t first, last;
	size_t i;

	if (len == 0)
		return 0;
	first = off / c->bs;
	/* A range past 2^64 cannot be in any image: treat it as changed. */
	if (off + len < off)
		return 1;
	last = (off + len - 1) / c->bs;
	i = lower_bound(c, first);
	return i < c->n && c->v[i] <= last;
}

int
cblk_load_mem(const char *data, size_t len, struct cblk **out, struct dt_err *err)
{
	json_error_t je;
	json_t *j, *blocks, *v;
	json_int_t bs, gib = 0;
	uint64_t nblocks = UINT64_MAX;
	struct cblk *c = NULL;

	*out = NULL;
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!json_is_object(j)) {
		json_decref(j);
		return dt_fail(err, DT_EFORMAT,
			       "not a ListChangedBlocks answer (JSON object): %s (line %d)",
			       j ? "not an object" : je.text, je.line);
	}
	v = json_object_get(j, "NextToken");
	if (v && !json_is_null(v) && !(json_is_string(v) && *json_string_value(v) == '\0')) {
		dt_fail(err, DT_EFORMAT,
			"the list has a NextToken: it is one page of several (merge every page, "
			"as 'aws ebs list-changed-blocks' does)");
		goto fail;
	}
	v = json_object_get(j, "BlockSize");
	bs = json_integer_value(v);
	if (!json_is_integer(v) || bs < 512 || bs > (1 << 26) || (bs & (bs - 1)) != 0) {
		dt_fail(err, DT_EFORMAT,
			"BlockSize must be a power of two from 512 to 64 MiB (EBS: 524288)");
		goto fail;
	}
	v = json_object_get(j, "VolumeSize");
	if (v) {
		gib = json_integer_value(v);
		if (!json_is_integer(v) || gib <= 0 || gib > 65536) {
			dt_fail(err, DT_EFORMAT, "VolumeSize must be 1 to 65536 (GiB)");
			goto fail;
		}
		nblocks = ((uint64_t)gib << 30) / (uint64_t)bs;
	}
	blocks = json_object_get(j, "ChangedBlocks");
	if (!json_is_array(blocks)) {
		dt_fail(err, DT_EFORMAT, "ChangedBlocks must be a list");
		goto fail;
	}
	c = cblk_new((uint32_t)bs);
	if (c == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < json_array_size(blocks); i++) {
		json_t *b = json_array_get(blocks, i), *x = json_object_get(b, "BlockIndex");
		json_int_t idx = json_integer_value(x);

		if (!json_is_integer(x) || idx < 0 || (uint64_t)idx >= nblocks) {
			dt_fail(err, DT_EFORMAT,
				"ChangedBlocks[%zu]: BlockIndex must be an integer from 0 to the "
				"volume's last block",
				i);
			goto fail;
		}
		if (cblk_add(c, (uint64_t)idx, err) < 0)
			goto fail;
	}
	json_decref(j);
	c->volume = (uint64_t)gib << 30;
	cblk_seal(c);
	*out = c;
	return 0;
fail:
	json_decref(j);
	cblk_free(c);
	return -1;
}

int
cblk_load(const char *path, struct cblk **out, struct dt_err *err)
{
	struct stat st;
	char *data = NULL;
	size_t got = 0;
	int fd, rc = -1;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
	if (fstat(fd, &st) < 0) {
		dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > CBLK_MAX_FILE) {
		dt_fail(err, DT_EFORMAT, "'%s': not a regular file of at most %llu bytes", path,
			(unsigned long long)CBLK_MAX_FILE);
		goto out;
	}
	data = malloc((size_t)st.st_size + 1);
	if (data == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
			goto out;
		}
		got += (size_t)n;
	}
	if (cblk_load_mem(data, got, out, err) < 0) {
		if (err) {
			struct dt_err e2 = *err;
			dt_clear(err);
			dt_fail(err, e2.code, "'%s': %s", path, e2.msg);
		}
		goto out;
	}
	rc = 0;
out:
	free(data);
	close(fd);
	return rc;
}
