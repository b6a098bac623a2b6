/*
 * fuzz_kg.c - libFuzzer target: the known-good set loader (kg_load_mem) on arbitrary bytes,
 * and again with the magic and trailer digest made valid so that the body parser is reached.
 * Seeds: tests/fuzz/corpus/kg/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "knowngood.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
load(const uint8_t *data, size_t size)
{
	struct kg *k = NULL;

	if (kg_load_mem(data, size, &k, NULL) == 0) {
		/* A set that loads is sorted: every entry is found by its digest. */
		for (size_t i = 0; i < kg_count(k); i++) {
			const struct kg_entry *e = kg_get(k, i);
			size_t first, n = kg_find(k, e->sha256, &first);
			if (n == 0 || first > i || first + n <= i)
				__builtin_trap();
			(void)kg_vouch(k, e->path, strlen(e->path), e->type, e->sha256, e->package,
				       e->version);
		}
		kg_free(k);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;
	unsigned int n;

	load(data, size);
	if (size < 72 || size > (1u << 24))
		return 0;
	fixed = malloc(size);
	if (fixed == NULL)
		return 0;
	memcpy(fixed, data, size);
	memcpy(fixed, KG_MAGIC, 8);
	EVP_Digest(fixed, size - 32, fixed + size - 32, &n, EVP_sha256(), NULL);
	load(fixed, size);
	free(fixed);
	return 0;
}
