/*
 * fuzz_decomp.c - libFuzzer target: the bytes of a changed file that claims to be an archive
 * or a compressed stream, decomposed as scan does (every member read back whole, nested
 * archives opened), under small bounds so that a bomb costs milliseconds.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "decomp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mem {
	const uint8_t *p;
	size_t n;
};

static ssize_t
mem_read(void *rctx, uint64_t off, void *buf, size_t len)
{
	const struct mem *m = rctx;

	if (off >= m->n)
		return 0;
	if (len > m->n - off)
		len = (size_t)(m->n - off);
	memcpy(buf, m->p + off, len);
	return (ssize_t)len;
}

/* Read every member back, as YARA and --extract-members do; its size must hold. */
static int
on_member(void *ctx, const struct decomp_member *m, struct dt_err *err)
{
	unsigned char buf[4096];
	uint64_t off = 0;

	(void)ctx;
	(void)err;
	if (m->path == NULL || m->path_len != strlen(m->path))
		__builtin_trap();
	while (m->has_data && off < m->size) {
		ssize_t got = m->read(m->rctx, off, buf, sizeof(buf));

		if (got <= 0)
			__builtin_trap();
		off += (uint64_t)got;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct decomp_limits lim = { .max_depth = 4,
						  .max_members = 200,
						  .max_file_bytes = 8u << 20,
						  .max_run_bytes = 8u << 20,
						  .max_ratio = 250,
						  .timeout = 5 };
	struct mem m = { data, size };
	struct decomp_input in = {
		.name = "/fuzz/x.tar.gz", .size = size, .read = mem_read, .rctx = &m
	};
	struct decomp_result res;
	struct decomp *d = decomp_new(&lim, NULL);

	if (d == NULL)
		return 0;
	if (decomp_file(d, &in, on_member, NULL, &res, NULL) == 0 &&
	    res.bytes > (8u << 20) + (64u << 10))
		__builtin_trap(); /* the file bound, give or take one data block */
	decomp_free(d);
	return 0;
}
