/*
 * parsers.h - Linux configuration files to rows in osquery's table schemas.
 *
 * A parser turns one file's bytes into rows of one osquery table (column names and value
 * formatting exactly as osquery's specs; every value a JSON string, as osquery logs with
 * "numerics": false). Parsers never touch the host: the caller reads the file out of the
 * image and passes its bytes; per-image knowledge (users, groups) arrives in the context.
 * A parser of untrusted bytes must never crash, hang or allocate without a cap; a line it
 * cannot read is skipped (and counted), never fatal.
 */
#ifndef DELTAIR_PARSERS_H
#define DELTAIR_PARSERS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "error.h"

#define PARSERS_MAX_INPUT (64u << 20) /* bytes of one (decompressed) input */
#define PARSERS_MAX_ROWS  1000000u    /* rows from one input */

/* One account of the image, from its own /etc/passwd (and group from /etc/group). */
struct parser_user {
	char *name; /* owned */
	char *home; /* owned */
	uint32_t uid, gid;
};
struct parser_group {
	char *name; /* owned */
	uint32_t gid;
};

struct parser_ctx {
	struct parser_user *users; /* owned */
	size_t nusers;
	struct parser_group *groups; /* owned */
	size_t ngroups;
};

/* Fill ctx from passwd and group bytes (either may be NULL); release with parser_ctx_release. */
int parser_ctx_init(struct parser_ctx *ctx, const unsigned char *passwd, size_t passwd_len,
		    const unsigned char *group, size_t group_len, struct dt_err *err) DT_MUST_USE;
void parser_ctx_release(struct parser_ctx *ctx);

/* What a parser gets: one file of the image. */
struct parser_input {
	const char *path;          /* absolute within its filesystem, NUL-terminated */
	const unsigned char *data; /* the whole content (gunzipped already); NULL for metadata-only
				      parsers */
	size_t len;
	uint32_t mode, uid, gid;      /* of the file: mode is 07777 bits plus S_IFMT type bits */
	const struct parser_ctx *ctx; /* borrowed; may hold no users */
	/* Borrowed: lets a parser read another file of the same image (sudoers includes,
	 * systemd .wants links). Returns new bytes in *data (free()) or -1; may be NULL. */
	int (*read_other)(void *rctx, const char *path, unsigned char **data, size_t *len);
	/* Borrowed: list a directory of the image: names are new (free each and the array);
	 * may be NULL. Returns the number of names or -1. */
	int (*list_dir)(void *rctx, const char *path, char ***names);
	void *rctx;
};

/* Parse in; append one JSON object of columns (all values strings) per row to rows. */
typedef int (*parser_fn)(const struct parser_input *in, json_t *rows, struct dt_err *err);

struct parser {
	const char *table; /* osquery table name: "users" */
	parser_fn fn;
	/*
	 * Path globs (fnmatch with FNM_PATHNAME) of the files this parser reads by default;
	 * a leading "%%users.homedir%%" stands for each user's home directory. NULL-terminated.
	 */
	const char *const *paths;
	int meta_only; /* rows come from metadata alone (suid_bin): data is NULL */
};

/* The table of parsers, terminated by a row whose table is NULL. */
extern const struct parser parsers_table[];
/* Borrowed: the parser of a table, or NULL. */
const struct parser *parsers_find(const char *table);
/*
 * The parsers whose paths match path (with ctx's users for %%users.homedir%%): fills
 * out[] (at most max) and returns how many.
 */
size_t parsers_for_path(const char *path, const struct parser_ctx *ctx, const struct parser **out,
			size_t max);

/* Decompress gzip data with a cap on the output: *out is new (free()). DT_EFORMAT if the
 * data is not gzip or is damaged, DT_ENOMEM if it would exceed cap. */
int parsers_gunzip(const unsigned char *data, size_t len, size_t cap, unsigned char **out,
		   size_t *out_len, struct dt_err *err) DT_MUST_USE;

#endif
