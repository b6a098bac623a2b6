/* fuzz_cblk.c - libFuzzer target: a --changed-blocks list (ListChangedBlocks JSON). */
#include <stddef.h>
#include <stdint.h>

#include "cblk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cblk *c = NULL;

	if (cblk_load_mem((const char *)data, size, &c, NULL) == 0) {
		/* A list that loads is sorted without repeats: each block is found. */
		uint64_t bs = cblk_block_size(c);
		if (cblk_count(c) > 0 && !cblk_touches(c, 0, UINT64_MAX / bs * bs))
			__builtin_trap();
		cblk_free(c);
	}
	return 0;
}
