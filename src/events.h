/*
 * events.h - the JSON Lines events every sink shares (docs/events.md).
 * An event is built as a jansson object and written as one line by a sink. Paths that are
 * not valid UTF-8 are given lossily in "path" and exactly, base64, in "path_bytes".
 */
#ifndef DELTAIR_EVENTS_H
#define DELTAIR_EVENTS_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "diff.h"
#include "error.h"
#include "htree.h"

/*
 * Length of the valid UTF-8 sequence at s (n >= 1 bytes there), or 0: overlong forms,
 * surrogates and code points past U+10FFFF are invalid (NUL is a valid one-byte sequence).
 */
size_t events_utf8_seq(const unsigned char *s, size_t n);
/* Set "KEY" (and "KEY_bytes" when s is not UTF-8) on obj. */
int events_set_path(json_t *obj, const char *key, const char *s, size_t len);
/* New: the metadata of one entry, as the `file` event and `tree export --format jsonl`. */
json_t *events_entry_fields(const char *fs, const struct htree_entry *e);
/* New: a `file` event for a change. */
json_t *events_file(const struct diff_change *c);
/* New: an `error` event; path may be NULL. */
json_t *events_error(const char *fs, const char *path, size_t path_len, const char *msg);

/*
 * One TSK 3 body-file line for e (mactime reads it): prefix (may be NULL) and "/FS" (fs may
 * be NULL) go before the path, " (note)" after it (note may be NULL), as fls's " (deleted)";
 * '|', '%' and control bytes are percent-encoded.
 */
void events_body_line(FILE *fp, const char *prefix, const char *fs, const struct htree_entry *e,
		      const char *note);

/*
 * Timesketch lines for one event (message, datetime with offset, timestamp in µs,
 * timestamp_desc in plaso's words): a new array, one object per time the event carries
 * (a `file` event gives one per known timestamp of its entry; `yara` and `row` events are
 * dated by the file's modification time, given as file_mtime; none when it is absent). Other
 * events: empty.
 */
json_t *events_timesketch(const json_t *ev, const struct htree_entry *e,
			  struct htree_time file_mtime);

/* New: where a tree came from ("path", "digest", "image", "format", "layout", "size",
 * "created"), as summaries name the baseline and the evidence. path may be NULL. */
json_t *events_tree_identity(const struct htree *t, const char *path);
/*
 * New: the `summary` event of a diff (what diff, scan and mount --delta share; scan adds
 * its "yara", "rows" and "extracted" objects). errors: all `error` events; read_errors:
 * those about evidence that could not be read (the run is complete when there are none and
 * no change is flagged content_unread). cur_path: the evidence's tree file, or NULL when
 * the evidence was walked.
 */
json_t *events_summary(const struct diff_stats *ds, uint64_t bytes_hashed, uint64_t errors,
		       uint64_t read_errors, double elapsed, const struct htree *gold,
		       const char *gold_path, const struct htree *cur, const char *cur_path);

/*
 * The summary's account of reads (docs/events.md): bytes_read, bytes_reused, files_reused from
 * the walk's ws, changed_blocks (null without a list; else from, blocks, block_size and
 * pruned) and metadata_trusted, added to sum before its last key "tool". One rule for every
 * front-end that prints a summary (diff, scan, the mount view's events.jsonl).
 */
struct walk_stats; /* walk.h */
struct cblk;       /* cblk.h */
void events_summary_reads(json_t *sum, const struct walk_stats *ws, const struct cblk *changed,
			  const char *changed_from, int pruned, int metadata_trusted);

/* A sink: one JSON object per line. */
struct sink {
	FILE *fp; /* borrowed */
	int failed;
};
/*
 * Write obj as one line and decref it (steals obj, also on failure). A failure is sticky
 * (s->failed, and the first one in err, as ferror() is), so a caller may check it once at
 * the end rather than at every event.
 */
int sink_emit(struct sink *s, json_t *obj, struct dt_err *err);

#endif
