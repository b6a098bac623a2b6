/*
 * fuzz_parsers.c - libFuzzer target for every row of parsers_table: the first byte picks
 * the parser, the rest is the file's content (for the metadata-only suid_bin, its mode,
 * uid and gid). One more pick feeds the bytes to parser_ctx_init (as passwd and as group)
 * and to parsers_gunzip. The file's path is one its parser's first glob matches, and the
 * context has an account whose home that glob may name. Includes read the same bytes
 * back under any name, and every directory lists the same three names, so sudoers'
 * nesting and loop limits get exercised too.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parsers.h"

#define FUZZ_HOME "/home/fuzz"

static const char fuzz_passwd[] = "root:x:0:0:root:/root:/bin/bash\n"
				  "fuzz:x:1000:1000::" FUZZ_HOME ":/bin/sh\n"
				  "slash:x:1001:1001::/:/bin/sh\n";

struct fuzz_image {
	const uint8_t *data;
	size_t len;
	int reads;
};

static int
fuzz_read(void *rctx, const char *path, unsigned char **data, size_t *len)
{
	struct fuzz_image *im = rctx;

	(void)path;
	/* The parser's own caps are tested elsewhere; here each run stays quick. */
	if (im->reads++ >= 64)
		return -1;
	*data = malloc(im->len ? im->len : 1);
	if (*data == NULL)
		return -1;
	if (im->len)
		memcpy(*data, im->data, im->len);
	*len = im->len;
	return 0;
}

static int
fuzz_list(void *rctx, const char *path, char ***names)
{
	static const char *const some[] = { "a", "b.conf", "c~" };

	(void)rctx;
	(void)path;
	*names = calloc(3, sizeof(**names));
	if (*names == NULL)
		return -1;
	for (int i = 0; i < 3; i++)
		(*names)[i] = strdup(some[i]);
	return 3;
}

/* A path the glob matches: the home placeholder becomes FUZZ_HOME, each '*' an 'x'. */
static void
sample_path(const char *glob, char *out, size_t n)
{
	static const char home[] = "%%users.homedir%%";
	size_t k = 0;

	if (strncmp(glob, home, sizeof(home) - 1) == 0) {
		k = (size_t)snprintf(out, n, "%s", FUZZ_HOME);
		glob += sizeof(home) - 1;
	}
	for (; *glob && k + 1 < n; glob++)
		out[k++] = *glob == '*' ? 'x' : *glob;
	out[k] = '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct parser_ctx ctx;
	static size_t ntables;
	static int ready;
	struct fuzz_image im = { 0 };
	struct parser_input in;
	struct dt_err err = { 0 };
	const struct parser *p;
	char path[256];
	size_t pick;
	json_t *rows;

	if (!ready) {
		if (parser_ctx_init(&ctx, (const unsigned char *)fuzz_passwd,
				    sizeof(fuzz_passwd) - 1, NULL, 0, &err) < 0)
			abort();
		while (parsers_table[ntables].table)
			ntables++;
		ready = 1;
	}
	if (size < 1)
		return 0;
	pick = data[0] % (ntables + 1);
	data++;
	size--;
	if (pick == ntables) {
		struct parser_ctx c;
		unsigned char *out = NULL;
		size_t olen;

		if (parser_ctx_init(&c, data, size, data, size, &err) == 0)
			parser_ctx_release(&c);
		dt_clear(&err);
		if (parsers_gunzip(data, size, 1u << 20, &out, &olen, &err) == 0)
			free(out);
		return 0;
	}
	p = &parsers_table[pick];
	sample_path(p->paths[0], path, sizeof(path));
	memset(&in, 0, sizeof(in));
	in.path = path;
	in.ctx = &ctx;
	im.data = data;
	im.len = size;
	in.read_other = fuzz_read;
	in.list_dir = fuzz_list;
	in.rctx = &im;
	if (p->meta_only) {
		for (size_t i = 0; i < size && i < 12; i++) {
			uint32_t *f = i < 4 ? &in.mode : i < 8 ? &in.uid : &in.gid;

			*f = *f << 8 | data[i];
		}
	} else {
		in.data = data;
		in.len = size;
	}
	rows = json_array();
	if (rows == NULL)
		return 0;
	(void)p->fn(&in, rows, &err);
	json_decref(rows);
	return 0;
}
