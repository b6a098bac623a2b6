/*
 * report.h - the case view across hosts: every host's scan results of one case, read and
 * set side by side, written as report.json and a self-contained report.html.
 *
 * Input: CASE_DIR/<name>/ per host (snapshot), as the worker writes it (docs/worker.md):
 * events.jsonl.gz (gzip JSON Lines, exactly `deltair scan`'s events), summary.json
 * (optional here: the summary event when it is missing), COMPLETE (written last). A folder
 * without COMPLETE is listed as incomplete and not read; one whose events cannot be read
 * (damaged gzip, a line that is not JSON, no summary line) is listed as unreadable, and
 * nothing of it counts. Every host is streamed once, line by line: memory holds one line,
 * one host's changes while it is read, and the case's distinct changed paths with the hosts
 * they appear on, within the named caps below.
 *
 * Output: report.json (schema: docs/worker.md, "report") and report.html (no network, no
 * script, no external asset: inline CSS and SVG under a Content-Security-Policy that allows
 * nothing else; every string from evidence escaped), both through outfile.h.
 */
#ifndef DELTAIR_REPORT_H
#define DELTAIR_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define REPORT_VERSION         1
#define REPORT_MAX_HOSTS       10000       /* result folders in one case */
#define REPORT_MAX_LINE        (16u << 20) /* bytes of one event line */
#define REPORT_MAX_SUMMARY     (64u << 10) /* bytes of summary.json (kept per host) */
#define REPORT_MAX_ITEM        (8u << 10)  /* bytes of one kept YARA match or row change */
#define REPORT_MAX_OCCURRENCES (8u << 20)  /* (changed path, host) pairs in the case */
#define REPORT_MAX_ITEMS       100         /* YARA matches and row changes kept per host */
#define REPORT_HTML_MAX_ROWS   5000        /* paths and hashes listed in report.html */
#define REPORT_TIME_BINS       24          /* bars of a host's change-time histogram */

struct report_opts {
	const char *case_dir; /* borrowed: the case's results folder */
	const char *out_dir;  /* borrowed: where report.json and .html go; NULL: case_dir */
	int force;            /* replace files that are not deltair reports */
	/* Called for each folder that is not counted (may be NULL): the folder's name (bytes,
	 * not necessarily UTF-8) and why, "incomplete: ..." or "unreadable: ...". */
	void (*on_skip)(void *ctx, const char *name, const char *why);
	void *ctx;
};

struct report_stats {
	size_t hosts;      /* complete results read */
	size_t incomplete; /* folders without COMPLETE */
	size_t unreadable; /* with COMPLETE, but events that could not be read */
	size_t paths;      /* distinct changed (fs, path) across hosts */
	size_t unique;     /* of those, seen on one host only */
	size_t hashes;     /* distinct content hashes of changed files */
};

/*
 * Whether the two outputs may be written (outfile_check() of each), without reading
 * anything: the CLI calls it first, so that a wrong -o fails at once. DT_EUSAGE or DT_EIO.
 */
int report_check(const struct report_opts *o, struct dt_err *err) DT_MUST_USE;

/*
 * Read every result folder of o->case_dir and write report.json and report.html. A case
 * folder that cannot be listed is DT_EIO; more than a cap allows is DT_ENOMEM; a host that
 * cannot be read is only counted in st (and said through on_skip). st may be NULL.
 */
int report_write(const struct report_opts *o, struct report_stats *st,
		 struct dt_err *err) DT_MUST_USE;

#endif
