/* fuzz_dtree.c - libFuzzer target: the .dtree loader on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "htree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
load(const uint8_t *data, size_t size)
{
	struct htree *t = NULL;
	struct dt_err err = { 0 };

	if (htree_load_mem(data, size, &t, &err) == 0) {
		/* A tree that loads must be usable: look up every entry by its path. */
		for (size_t i = 0; i < htree_count(t); i++) {
			const struct htree_entry *e = htree_get(t, i);
			if (htree_find(t, e->fs, e->path, e->path_len) != e)
				__builtin_trap();
		}
		htree_free(t);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;
	unsigned int n;

	load(data, size);
	/* The trailer digest stops almost every mutation at the door; also try each input
	 * with a digest that matches, so the fuzzer reaches the header and body parsers. */
	if (size < 40 || size > (1u << 24))
		return 0;
	fixed = malloc(size);
	if (fixed == NULL)
		return 0;
	memcpy(fixed, data, size);
	memcpy(fixed,
	       "\x89"
	       "DTREE\r\n",
	       8);
	memcpy(fixed + size - 40, "DTREEEND", 8);
	EVP_Digest(fixed, size - 32, fixed + size - 32, &n, EVP_sha256(), NULL);
	load(fixed, size);
	free(fixed);
	return 0;
}
