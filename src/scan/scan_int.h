/*
 * scan_int.h - what the files of the scan share (the .c files of src/scan/, behind scan.h).
 * scan.c: the run over the delta (scan_delta); read.c: files out of the image for the
 * parsers; rows.c: rows parsed and diffed; yara.c: YARA; decomp.c: the archives of the
 * delta; extract.c: evidence extraction. Not a public header: only the scan's files include it.
 */
#ifndef DELTAIR_SCAN_INT_H
#define DELTAIR_SCAN_INT_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "scan.h"

/* Where a parser's reads go: the tree t of source s, paths resolved in filesystem fs. */
struct reader {
	struct source *s;
	const struct htree *t;
	uint32_t fs;
};

/* The delta's changes, in diff order. */
struct pending {
	struct diff_change *v;
	size_t n, cap;
};

/* The state of one scan_delta() run. */
struct scanner {
	struct source *s;
	const struct htree *gold, *cur;
	const struct scan_config *c;
	scan_emit_fn emit;
	void *ectx;
	struct scan_stats *st;
	struct parser_ctx cur_ctx;
	json_t *gold_idx;
	json_t *done; /* (fs, table, path) keys whose rows were already diffed */
	int extract_fd;
	json_t *manifest;
	struct yarascan_scanner *ys; /* owned: made for the first file YARA reads, then kept */
};

/* ---- scan.c ---- */

/* An `error` event for e (may be NULL) in fs: "what: err's message"; counted in st. */
void scan_report_error(scan_emit_fn emit, void *ectx, struct scan_stats *st, const char *fs,
		       const struct htree_entry *e, const char *what, const struct dt_err *err);

/* ---- read.c ---- */

/*
 * Parse e with parser p into rows (an array of column objects). A file parser reads the
 * content (gunzipped for .gz, both capped); a metadata parser gets none.
 */
int scan_parse_entry(struct reader *r, const struct parser *p, const struct htree_entry *e,
		     const struct parser_ctx *ctx, json_t *rows, struct dt_err *err);

/* ---- rows.c ---- */

/* Index of the gold's rows by (fs, table, path), built once per scan: new (json_decref). */
json_t *scan_index_gold_rows(const struct htree *gold);
/* Rows of every parser that covers the change (as of the gold, as of now) diffed. */
int scan_rows_for_change(struct scanner *sc, const char *fs, const struct htree_entry *gold_e,
			 const struct htree_entry *cur_e, struct dt_err *err);
/* Re-parse files whose rows depend on files that changed (see rows.c's top). */
int scan_dependents(struct scanner *sc, struct pending *p, struct dt_err *err);

/* ---- yara.c ---- */

/* A changed file's content, read through the source: the rctx of scan_yara_read(). */
struct yread {
	struct scanner *sc;
	const struct htree_entry *e;
	EVP_MD_CTX *md;
};
/* yarascan_file's read callback over a struct yread. */
ssize_t scan_yara_read(void *rctx, uint64_t off, void *buf, size_t len);
/* The owner's user name in the image (ctx), else the uid written into buf. Borrowed. */
const char *scan_owner_name(const struct parser_ctx *ctx, uint32_t uid, char buf[16]);

/* The run's YARA scanner (sc->ys), made on first use. Borrowed; NULL on failure (err). */
struct yarascan_scanner *scan_yara_scanner(struct scanner *sc, struct dt_err *err);
/* YARA on e: `yara` events, the counts in sc->st; a file YARA cannot scan is an error event. */
int scan_yara_change(struct scanner *sc, const char *fs, const struct htree_entry *e,
		     struct dt_err *err);

/* ---- decomp.c ---- */

/* One outer file being decomposed, and the member at hand. */
struct scan_member {
	struct scanner *sc;
	const char *fs;
	const struct htree_entry *e; /* the outer file */
	const struct decomp_member *m;
	const char *sha256; /* the member's, hex */
	const char *change; /* the outer file's class, for the manifest */
	int n;
	int failed;
	struct dt_err err;
};

/* New: the keys a member's `member`, `yara` and `error` events share. */
json_t *scan_member_event(const char *kind, const char *fs, const struct htree_entry *e,
			  const struct decomp_member *m);
/* An `error` event for member m: "what: why"; counted. The emit's result. */
int scan_member_error(struct scan_member *ms, const struct decomp_member *m, const char *what,
		      const char *why, struct dt_err *err);
/* Decompose e (sc->c->decomp): member, yara and error events; change is its class. */
int scan_decomp_change(struct scanner *sc, const char *fs, const char *change,
		       const struct htree_entry *e, struct dt_err *err);

/* ---- extract.c ---- */

/* Check dir again, create it, replace an earlier extraction with o->force. */
int scan_extract_open(struct scanner *sc, const char *dir, const struct outfile_opts *o,
		      struct dt_err *err);
/* Copy e out; a failure is an error event, not fatal. */
int scan_extract_one(struct scanner *sc, const char *fs, const char *change,
		     const struct htree_entry *e, struct dt_err *err);
/* --extract-members: copy m (of ms->e) out; a failure is an error event with "member". */
int scan_extract_member(struct scan_member *ms, const struct decomp_member *m, struct dt_err *err);
/* manifest.jsonl, then the COMPLETE marker. */
int scan_extract_close(struct scanner *sc, const char *dir, struct dt_err *err);

#endif
