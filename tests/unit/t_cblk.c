/* t_cblk.c - unit tests of the changed-block list (cblk.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cblk.h"
#include "t.h"

static struct cblk *
load(const char *json, struct dt_err *err)
{
	struct cblk *c = (struct cblk *)1;

	if (cblk_load_mem(json, strlen(json), &c, err) < 0) {
		CHECK(c == NULL);
		return NULL;
	}
	return c;
}

TEST(t_cblk_touches_block_edges)
{
	struct cblk *c = load("{\"BlockSize\": 4096, \"ChangedBlocks\": [{\"BlockIndex\": 7},"
			      " {\"BlockIndex\": 2}, {\"BlockIndex\": 7}]}",
			      NULL);

	REQUIRE(c != NULL);
	CHECK(cblk_count(c) == 2 && cblk_block_size(c) == 4096 && cblk_volume_size(c) == 0);
	CHECK(cblk_has(c, 2) && cblk_has(c, 7) && !cblk_has(c, 3) && !cblk_has(c, 8));
	CHECK(cblk_rank(c, 2) == 0 && cblk_rank(c, 7) == 1 && cblk_rank(c, 3) == SIZE_MAX &&
	      cblk_rank(c, 0) == SIZE_MAX && cblk_rank(c, 9) == SIZE_MAX);
	CHECK(!cblk_touches(c, 0, 8192));            /* blocks 0 and 1 */
	CHECK(cblk_touches(c, 8191, 2));             /* the last byte of 1, the first of 2 */
	CHECK(!cblk_touches(c, 3 * 4096, 4 * 4096)); /* 3 to 6 */
	CHECK(cblk_touches(c, 3 * 4096, 4 * 4096 + 1));
	CHECK(!cblk_touches(c, 8 * 4096, 1 << 30));
	CHECK(!cblk_touches(c, 7 * 4096, 0));
	CHECK(cblk_touches(c, UINT64_MAX - 10, 100)); /* past 2^64: never unchanged */
	cblk_free(c);
}

TEST(t_cblk_refuses_partial_or_bad_lists)
{
	static const char *bad[] = {
		"{\"BlockSize\": 524288, \"ChangedBlocks\": [], \"NextToken\": \"more\"}",
		"{\"ChangedBlocks\": []}",
		"{\"BlockSize\": 1000, \"ChangedBlocks\": []}",
		"{\"BlockSize\": 524288}",
		"{\"BlockSize\": 524288, \"ChangedBlocks\": [{\"BlockIndex\": -1}]}",
		"{\"BlockSize\": 524288, \"ChangedBlocks\": [{\"BlockIndex\": \"1\"}]}",
		"{\"BlockSize\": 524288, \"VolumeSize\": 1, \"ChangedBlocks\": [{\"BlockIndex\": "
		"2048}]}",
		"{\"BlockSize\": 524288, \"BlockSize\": 4096, \"ChangedBlocks\": []}",
		"[1]",
		"{",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dt_err err = { 0 };
		struct cblk *c = load(bad[i], &err);

		CHECK(c == NULL && err.code == DT_EFORMAT);
		cblk_free(c);
	}
}

TEST(t_cblk_accepts_aws_cli_output)
{
	/* `aws ebs list-changed-blocks` prints the pages merged, with an empty NextToken
	 * absent; ExpiryTime as a number or a string. */
	struct dt_err err = { 0 };
	struct cblk *c = load("{\"ChangedBlocks\": [{\"BlockIndex\": 2047, \"FirstBlockToken\": "
			      "\"a\", \"SecondBlockToken\": \"b\"}], \"ExpiryTime\": "
			      "\"2026-12-03T10:00:00Z\", \"VolumeSize\": 1, \"BlockSize\": 524288, "
			      "\"NextToken\": null}",
			      &err);

	REQUIRE(c != NULL);
	CHECK(cblk_count(c) == 1 && cblk_has(c, 2047) && cblk_volume_size(c) == 1ull << 30);
	cblk_free(c);
}
