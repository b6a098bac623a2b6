/*
 * fuzz_svcerr.c - libFuzzer target for the AWS error-response reader: the input is a
 * response body (JSON or XML), read once as it is and once with its first line taken as the
 * x-amzn-ErrorType header. Whatever comes back must be one NUL-terminated line.
 * Seeds: tests/fuzz/corpus/svcerr/.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "aws/svcerr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_line(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		__builtin_trap(); /* not terminated */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			__builtin_trap(); /* a control character would break the error line */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct svcerr e;
	char header[256];
	const uint8_t *nl = memchr(data, '\n', size);
	size_t hlen = nl ? (size_t)(nl - data) : 0;

	svcerr_parse(NULL, data, size, &e);
	check_line(e.code, sizeof(e.code));
	check_line(e.message, sizeof(e.message));
	if (nl && hlen < sizeof(header)) {
		memcpy(header, data, hlen);
		header[hlen] = '\0';
		svcerr_parse(header, nl + 1, size - hlen - 1, &e);
		check_line(e.code, sizeof(e.code));
		check_line(e.message, sizeof(e.message));
	}
	(void)svcerr_is_throttle(e.code);
	return 0;
}
