/*
 * fuzz_s3list.c - libFuzzer target for the ListObjectsV2 answer reader (aws/s3.h): the input
 * is a response body, read as one page and then again as the next page of the same list.
 * Every key returned must be a NUL-terminated string of 1 to S3_MAX_KEY bytes; a truncated
 * answer must come with a token. Seeds: tests/fuzz/corpus/s3list/.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char **keys = NULL, *token = NULL;
	size_t n = 0, cap = 0;
	int truncated = 0;

	for (int page = 0; page < 2; page++) {
		if (s3_parse_list(data, size, &keys, &n, &cap, &truncated, &token, NULL) < 0)
			break;
		if (truncated && (token == NULL || token[0] == '\0'))
			__builtin_trap();
		for (size_t i = 0; i < n; i++) {
			size_t len = strnlen(keys[i], S3_MAX_KEY + 1);
			if (len == 0 || len > S3_MAX_KEY)
				__builtin_trap();
		}
	}
	s3_keys_free(keys, n);
	free(token);
	return 0;
}
