/*
 * scan.h - triage of the delta: YARA on the changed files, the ForensicArtifacts
 * definitions that cover each change, osquery-schema rows parsed from the changed files
 * and diffed against the gold's rows, and evidence extraction.
 *
 * Only the delta is read: an unchanged file is never scanned or parsed (the gold's rows
 * were parsed once, at baseline time, and travel in the .dtree). File content always comes
 * out of the image through the source (never through a kernel mount).
 */
#ifndef DELTAIR_SCAN_H
#define DELTAIR_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "artifacts.h"
#include "decomp.h"
#include "diff.h"
#include "error.h"
#include "htree.h"
#include "outfile.h"
#include "parsers.h"
#include "provenance.h"
#include "source.h"
#include "walk.h"
#include "yarascan.h"

#define SCAN_MAX_ARTIFACTS 64 /* artifact names listed on one file event */

struct scan_config {
	struct yarascan *rules; /* borrowed; NULL: no YARA */
	struct yarascan_opts yara;
	struct artifacts *artifacts;        /* borrowed, prepared by scan_delta; NULL: none */
	const char *extract_dir;            /* NULL: no extraction; see scan_extract_check() */
	const struct outfile_opts *extract; /* borrowed: force and inputs, with extract_dir */
	int parse_rows;                     /* parse the delta's files into rows */
	struct prov *prov;                  /* borrowed; NULL: no provenance on file events */
	struct decomp *decomp; /* borrowed; NULL: archives in the delta are not opened */
	int extract_members;   /* with extract_dir and decomp: also copy members (members/) */
};

struct scan_stats {
	uint64_t yara_candidates; /* regular files of the delta that YARA should see */
	uint64_t yara_scanned, yara_too_large, yara_timeout, yara_unreadable, yara_failed;
	uint64_t yara_matches, yara_files_matched, yara_bytes;
	uint64_t files_parsed, rows_parsed, rows_added, rows_removed;
	uint64_t extracted, extracted_bytes;
	uint64_t errors;
	/* YARA on the members of archives (decomp.h): scanned, skipped (too large, timeout,
	 * failed), matches and members matched. */
	uint64_t member_yara_scanned, member_yara_skipped, member_yara_matches;
	uint64_t member_yara_matched;
};

/*
 * Events go to emit (which steals ev, also on failure); e is the entry a `file` event
 * describes (the incident's, or the gold's for a deleted file), NULL for other events.
 * emit returns 0, or -1 to stop the scan (with err filled).
 */
typedef int (*scan_emit_fn)(void *ctx, json_t *ev, const struct htree_entry *e, struct dt_err *err);

/*
 * The whole content of e (an entry of a tree walked from s), at most cap bytes (more is
 * DT_ENOMEM): *data is new (free()), NUL-terminated past *len.
 */
int scan_slurp(struct source *s, const struct htree_entry *e, size_t cap, unsigned char **data,
	       size_t *len, struct dt_err *err) DT_MUST_USE;

/* The image's accounts, from its own /etc/passwd and /etc/group (in filesystem fs). */
int scan_image_ctx(struct source *s, const struct htree *t, struct parser_ctx *ctx,
		   struct dt_err *err) DT_MUST_USE;

/*
 * Parse every file of t that a parser covers (what `deltair baseline` keeps in the .dtree):
 * *rows is new, { TABLE: [ {"fs", "path", "columns": {...}}, ... ] }. Per-file failures go
 * to on_error (may be NULL).
 */
int scan_collect_rows(struct source *s, const struct htree *t, const struct parser_ctx *ctx,
		      json_t **rows, uint64_t *files, walk_error_fn *on_error, void *ectx,
		      struct dt_err *err) DT_MUST_USE;

/*
 * Whether dir can take an extraction, without creating anything (called again when the
 * extraction starts): a new folder (missing parents are created; new folders are 0700),
 * or an empty one, or with o->force one that holds only an earlier extraction (files/,
 * members/, manifest.jsonl, COMPLETE) and none of o->inputs, which is then replaced whole. Never a
 * symbolic link. The folder is made 0700, the copies, manifest.jsonl and COMPLETE 0600.
 * Only o->force and o->inputs are used.
 */
int scan_extract_check(const char *dir, const struct outfile_opts *o, struct dt_err *err);

/*
 * Diff gold against cur (cur was walked from s) and triage the delta: `file` events (with
 * "artifacts"), `yara` events, `row` events, `error` events for per-file failures. With
 * c->decomp, every changed regular file YARA would see is also decomposed: a `member` event
 * per member, `yara` events with "member" for members that match, and an `error` event
 * (with "bound" when one was hit) for an archive that was damaged or not read whole. The
 * caller writes the summary from *ds, *st and decomp_stats().
 */
int scan_delta(struct source *s, const struct htree *gold, const struct htree *cur,
	       const struct scan_config *c, scan_emit_fn emit, void *ectx, struct diff_stats *ds,
	       struct scan_stats *st, struct dt_err *err) DT_MUST_USE;

#endif
