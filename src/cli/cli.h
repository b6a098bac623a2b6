/*
 * cli.h - what the subcommands share: the exit-status table, error printing, progress.
 * Only src/cli/ prints to the terminal or exits.
 */
#ifndef DELTAIR_CLI_H
#define DELTAIR_CLI_H

#include <stdio.h>

#include <jansson.h>

#include "cblk.h"
#include "diff.h"
#include "error.h"
#include "walk.h"

enum cli_exit {
	EXIT_NO_DELTA = 0,
	EXIT_DELTA = 1,
	EXIT_USAGE = 2,
	EXIT_BADINPUT = 3,
	EXIT_IO = 4,
	EXIT_VERSION = 5,
	EXIT_NOMEM = 6,
	EXIT_NET = 7,
	EXIT_INCOMPLETE = 8,
	EXIT_BUG = 70,
};

int cmd_baseline(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_tree(int argc, char **argv);
int cmd_scan(int argc, char **argv);
int cmd_artifacts(int argc, char **argv);
int cmd_submit(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_store(int argc, char **argv);

/* The installed data folder `what` ("rules", "artifacts") into out; -1 if none is found. */
int cli_data_path(const char *what, char *out, size_t n);

struct artifacts;
struct artifacts_stats;
/*
 * Load the ForensicArtifacts definitions of paths[0..n); with n == 0 the default set:
 * upstream's (Debian's forensic-artifacts package in /usr/share/artifacts, or
 * $DELTAIR_ARTIFACTS_UPSTREAM), then deltair's own artifacts/, which only adds what upstream
 * lacks. Warns on stderr when upstream's set is missing and when a group names an undefined
 * member. st may be NULL. Returns 0 with *out new (artifacts_free()), or an exit status
 * after printing the error.
 */
int cli_load_artifacts(const char *cmd, const char *const *paths, size_t n, struct artifacts **out,
		       struct artifacts_stats *st);

/* The exit status for a failure. */
int cli_exit_code(const struct dt_err *err);
/* "deltair: CMD: message" on stderr; returns the exit status. */
int cli_fail(const char *cmd, const struct dt_err *err);
/*
 * The status of a finished diff or scan: EXIT_INCOMPLETE (said on stderr) when evidence
 * could not be read (read_errors, or changes flagged content_unread), else EXIT_DELTA or
 * EXIT_NO_DELTA.
 */
int cli_diff_status(const char *cmd, const struct diff_stats *ds, uint64_t read_errors);
/* Usage error: the message and a pointer to --help on stderr; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) DT_PRINTF(2, 3);
/*
 * getopt_long returned '?' or ':' (optstrings start with ':'): say which option, once,
 * with our prefix; returns EXIT_USAGE.
 */
int cli_bad_option(const char *cmd, char **argv, int c);
/* Parse a non-negative integer option value; -1 on junk. */
long long cli_number(const char *s);

/* A progress line on stderr when it is a terminal. */
struct cli_progress {
	const char *cmd; /* borrowed: the label, "deltair: CMD: FS: ..." */
	int enabled;
	int shown;
};
void cli_progress_init(struct cli_progress *p, const char *cmd, int wanted);
void cli_progress_cb(void *ctx, const struct walk_progress *wp);
void cli_progress_done(struct cli_progress *p);

/* Options every command that reads evidence takes. */
struct cli_source_opts {
	long long offset; /* -1: none */
	int include_meta;
	int threads;
	int progress;
	int ebs_concurrency; /* 0: the default */
	double ebs_rate;     /* 0: the default */
	/* Reads proportional to the delta (CLI_DELTA_OPTIONS; docs/aws.md) */
	const char *changed_blocks; /* --changed-blocks FILE, or NULL */
	const char *changed_since;  /* --changed-since snap-GOLD, or NULL */
	const char *gold_image;     /* --gold-image PATH, or NULL */
	const char *gold_cache;     /* --gold-cache DIR, or NULL */
	uint64_t gold_cache_max;    /* --gold-cache-max bytes; 0: the default */
	int trust_metadata;
	/* Filled by cli_walk(), released by cli_source_opts_release(): */
	struct cblk *changed_file;  /* owned: the --changed-blocks list */
	const struct cblk *changed; /* borrowed: the list the walk used (file or snapshot) */
	int pruned;                 /* hashes of the gold could be reused */
};
enum {
	CLI_OPT_EBS_CONCURRENCY = 0x200,
	CLI_OPT_EBS_RATE,
	CLI_OPT_CHANGED_BLOCKS,
	CLI_OPT_CHANGED_SINCE,
	CLI_OPT_GOLD_IMAGE,
	CLI_OPT_GOLD_CACHE,
	CLI_OPT_GOLD_CACHE_MAX,
	CLI_OPT_TRUST_METADATA,
};
/* The options of commands that read evidence against a gold (baseline, diff, scan). */
#define CLI_DELTA_OPTIONS                                                              \
	{ "changed-blocks", required_argument, NULL, CLI_OPT_CHANGED_BLOCKS },         \
		{ "changed-since", required_argument, NULL, CLI_OPT_CHANGED_SINCE },   \
		{ "gold-image", required_argument, NULL, CLI_OPT_GOLD_IMAGE },         \
		{ "gold-cache", required_argument, NULL, CLI_OPT_GOLD_CACHE },         \
		{ "gold-cache-max", required_argument, NULL, CLI_OPT_GOLD_CACHE_MAX }, \
	{                                                                              \
		"trust-metadata", no_argument, NULL, CLI_OPT_TRUST_METADATA            \
	}
#define CLI_DELTA_HELP                                                                             \
	"      --changed-since snap-GOLD\n"                                                        \
	"                        ebs://: ask EBS which blocks changed since the gold snapshot\n"   \
	"                        (ListChangedBlocks); files in none of them take the baseline's\n" \
	"                        hash unread (baseline made by deltair 0.1.0 with format 2.1+)\n"  \
	"      --changed-blocks FILE\n"                                                            \
	"                        the same list from FILE (ListChangedBlocks' JSON answer), for\n"  \
	"                        any image\n"                                                      \
	"      --gold-image PATH with --changed-since: read unchanged blocks from PATH, a raw\n"   \
	"                        image or volume of the gold snapshot (checked first)\n"           \
	"      --gold-cache DIR  with --changed-since: read unchanged blocks from DIR, a cache\n"  \
	"                        of the gold snapshot's blocks filled on first use\n"              \
	"      --gold-cache-max BYTES\n"                                                           \
	"                        the cache's size bound (default 64 GiB)\n"                        \
	"      --trust-metadata  without a list: a file whose inode, size, mtime, ctime and\n"     \
	"                        block runs are the baseline's takes its hash unread (NOT safe\n"  \
	"                        against writes to the block device; said in every event)\n"
/* Free what cli_walk() kept in o. */
void cli_source_opts_release(struct cli_source_opts *o);
/* The summary's account of what was read and reused (bytes_read, bytes_reused, ...). */
void cli_summary_reads(json_t *sum, const struct cli_source_opts *o, const struct walk_stats *ws);
#define CLI_SOURCE_OPTIONS                                                                      \
	{ "offset", required_argument, NULL, 'O' }, { "include-meta", no_argument, NULL, 'M' }, \
		{ "threads", required_argument, NULL, 'j' },                                    \
		{ "ebs-concurrency", required_argument, NULL, CLI_OPT_EBS_CONCURRENCY },        \
		{ "ebs-rate", required_argument, NULL, CLI_OPT_EBS_RATE },                      \
	{                                                                                       \
		"no-progress", no_argument, NULL, 'P'                                           \
	}
#define CLI_SOURCE_HELP                                                                          \
	"      --offset BYTES    read one filesystem at this byte offset (no partition table)\n" \
	"      --include-meta    keep virtual entries ($OrphanFiles, NTFS $ files)\n"            \
	"      --threads N       hashing threads (default: one per CPU)\n"                       \
	"      --no-progress     no progress line on stderr\n"                                   \
	"      --ebs-concurrency N\n"                                                            \
	"                        ebs://: block fetches in flight for read-ahead (default 16)\n"  \
	"      --ebs-rate N      ebs://: at most N GetSnapshotBlock a second (default 1000,\n"   \
	"                        the per-snapshot quota)\n"
void cli_source_opts_init(struct cli_source_opts *o);
/* The name of a source option given that changes what is read (not --no-progress), or NULL. */
const char *cli_source_opts_given(const struct cli_source_opts *o);
struct source;
/* An ebs:// source: name the snapshot and what was fetched in sum's "evidence" (the
 * summary event) as "snapshot"; nothing for other sources. */
void cli_summary_snapshot(json_t *sum, struct source *src);
/* An ebs:// source: the same, one line on stderr. */
void cli_note_snapshot(const char *cmd, struct source *src);
/* Handle one of CLI_SOURCE_OPTIONS; 1 if c was one of them, -1 on a bad value, 0 if not. */
int cli_source_opt(const char *cmd, struct cli_source_opts *o, int c, const char *arg);
/*
 * Open spec and walk it into a new sealed tree. Per-entry failures go to on_error (ctx);
 * gold may be NULL. keep may be NULL; else *keep is the opened source (new: source_free()
 * it), for commands that read content after the walk. Returns 0 or an exit status after
 * printing the error.
 */
int cli_walk(const char *cmd, const char *spec, struct cli_source_opts *so,
	     const struct htree *gold, walk_error_fn *on_error, void *ctx, struct htree **out,
	     struct walk_stats *st, struct source **keep);
/*
 * Warn (stderr, and an error event through on_error) about a pairing that makes the diff
 * meaningless: a filesystem of the evidence whose id (UUID, serial, volume id) differs from
 * that of the baseline's filesystem it is compared with (filesystems pair as htree_fs_pair()
 * says: the same name, or the only one on each side whatever their names, so that an ext4
 * read raw compares with the same tree read through dir:); without ids, only filesystems of
 * different types (neither dir:) are said to differ. And a baseline whose newest change
 * (ctime, else mtime) is more than an hour later than the evidence's: the two given the
 * other way round.
 */
void cli_check_pairing(const char *cmd, const struct htree *gold, const struct htree *cur,
		       walk_error_fn *on_error, void *ctx);
/* 1 if path is a file that starts with the .dtree magic. */
int cli_is_dtree(const char *path);

/* Write len bytes of s to fp with control bytes and '\\' as \xHH: one name, one line. */
void cli_put_escaped(FILE *fp, const char *s, size_t len);

/*
 * SIGINT, SIGTERM and SIGHUP back to what they were when deltair started, for code that
 * handles them itself (libfuse installs its handlers only over the default ones).
 */
void cli_signals_release(void);

/* What a job says (jobopts.c): `deltair submit` gives them to one job, `deltair worker`
 * makes them the defaults of every job. Strings are borrowed from argv. */
#define CLI_JOB_MAX_PATHS 64
struct cli_job_opts {
	const char *case_id, *baseline, *output, *region, *read_mode, *changed_since;
	const char *rules[CLI_JOB_MAX_PATHS], *artifacts[CLI_JOB_MAX_PATHS];
	const char *known_good[CLI_JOB_MAX_PATHS];
	size_t nrules, nartifacts, nknown_good;
	int no_rules, no_artifacts, no_known_good;
	long long memory_mb, cpu_seconds, wall_seconds, open_files;
};
enum {
	CLI_OPT_REGION = 0x300,
	CLI_OPT_READ_MODE,
	CLI_OPT_MEMORY_MB,
	CLI_OPT_CPU_SECONDS,
	CLI_OPT_WALL_SECONDS,
	CLI_OPT_OPEN_FILES,
	CLI_OPT_JOB_KNOWN_GOOD,
	CLI_OPT_JOB_NO_KNOWN_GOOD,
};
#define CLI_JOB_OPTIONS                                                                         \
	{ "case", required_argument, NULL, 'c' }, { "baseline", required_argument, NULL, 'b' }, \
		{ "output", required_argument, NULL, 'o' },                                     \
		{ "region", required_argument, NULL, CLI_OPT_REGION },                          \
		{ "read-mode", required_argument, NULL, CLI_OPT_READ_MODE },                    \
		{ "rules", required_argument, NULL, 'r' },                                      \
		{ "artifacts", required_argument, NULL, 'a' },                                  \
		{ "no-rules", no_argument, NULL, 'R' },                                         \
		{ "no-artifacts", no_argument, NULL, 'A' },                                     \
		{ "known-good", required_argument, NULL, CLI_OPT_JOB_KNOWN_GOOD },              \
		{ "no-known-good", no_argument, NULL, CLI_OPT_JOB_NO_KNOWN_GOOD },              \
		{ "memory-mb", required_argument, NULL, CLI_OPT_MEMORY_MB },                    \
		{ "cpu-seconds", required_argument, NULL, CLI_OPT_CPU_SECONDS },                \
		{ "wall-seconds", required_argument, NULL, CLI_OPT_WALL_SECONDS },              \
	{                                                                                       \
		"open-files", required_argument, NULL, CLI_OPT_OPEN_FILES                       \
	}
#define CLI_JOB_HELP                                                                           \
	"  -c, --case ID         the case the results go under (A-Z a-z 0-9 . _ -)\n"          \
	"  -b, --baseline GOLD   the gold .dtree: a local path or s3://BUCKET/KEY\n"           \
	"  -o, --output DEST     results: a folder or s3://BUCKET[/PREFIX]\n"                  \
	"      --region REGION   the snapshot's region (ebs://)\n"                             \
	"      --read-mode MODE  direct (EBS direct APIs) or attach (a volume), for ebs://\n"  \
	"  -r, --rules PATH      YARA rules (repeatable); --no-rules for none\n"               \
	"  -a, --artifacts PATH  ForensicArtifacts YAML (repeatable); --no-artifacts\n"        \
	"      --known-good SET  a known-good set for provenance: a path or s3://BUCKET/KEY\n" \
	"                        (repeatable); --no-known-good for none\n"                     \
	"      --memory-mb N     the scan's address-space limit (RLIMIT_AS)\n"                 \
	"      --cpu-seconds N   the scan's CPU-time limit (RLIMIT_CPU)\n"                     \
	"      --wall-seconds N  the scan is killed after N seconds\n"                         \
	"      --open-files N    the scan's open-file limit (RLIMIT_NOFILE)\n"
void cli_job_opts_init(struct cli_job_opts *o);
/* Handle one of CLI_JOB_OPTIONS; 1 if c was one of them, -1 on a bad value, 0 if not. */
int cli_job_opt(const char *cmd, struct cli_job_opts *o, int c, const char *arg);
struct job;
/*
 * o and evidence as a job (local paths made absolute), checked as a queued job would be,
 * with defaults (may be NULL): 0 and *out (job_free()) and, when text_out is not NULL, the
 * job as given (JSON, new: free()); or an exit status after saying why.
 */
int cli_job_parse(const char *cmd, const struct cli_job_opts *o, const char *evidence,
		  const struct job *defaults, struct job *out, char **text_out);

/* Provenance on diff and scan (provenance.h): --known-good, --no-provenance, --unexplained. */
struct kg;
struct prov;
#define CLI_MAX_KNOWN_GOOD 32
struct cli_prov_opts {
	const char *paths[CLI_MAX_KNOWN_GOOD]; /* borrowed from argv */
	const char *names[CLI_MAX_KNOWN_GOOD]; /* borrowed: the sets' names in events */
	size_t n;
	int off;         /* --no-provenance */
	int unexplained; /* --unexplained: file events that provenance explains are left out */
	struct kg *sets[CLI_MAX_KNOWN_GOOD]; /* owned: loaded by cli_prov_load() */
};
enum {
	CLI_OPT_KNOWN_GOOD = 0x280,
	CLI_OPT_NO_PROVENANCE,
	CLI_OPT_UNEXPLAINED,
	CLI_OPT_KNOWN_GOOD_NAME,
};
#define CLI_PROV_OPTIONS                                                                 \
	{ "known-good", required_argument, NULL, CLI_OPT_KNOWN_GOOD },                   \
		{ "no-provenance", no_argument, NULL, CLI_OPT_NO_PROVENANCE },           \
		{ "known-good-name", required_argument, NULL, CLI_OPT_KNOWN_GOOD_NAME }, \
	{                                                                                \
		"unexplained", no_argument, NULL, CLI_OPT_UNEXPLAINED                    \
	}
#define CLI_PROV_HELP                                                                           \
	"      --known-good FILE a known-good set ('deltair known-good build') or a hashdeep\n" \
	"                        list (repeatable): files found there are known_good, and\n"    \
	"                        corroborate what the image's own package database says\n"      \
	"      --known-good-name NAME  the name events give the set of the --known-good just\n" \
	"                        before (default its path; the worker gives s3:// URLs)\n"      \
	"      --no-provenance   do not explain changes (no dpkg lookups, no MD5 reads)\n"      \
	"      --unexplained     leave out the file events that provenance explains (the\n"     \
	"                        summary still counts them)\n"
/* Handle one of CLI_PROV_OPTIONS; 1 if c was one of them, -1 on a bad value, 0 if not. */
int cli_prov_opt(const char *cmd, struct cli_prov_opts *o, int c, const char *arg);
/* diff's and scan's shared options: cli_source_opt's, then cli_prov_opt's (same returns). */
int cli_delta_opt(const char *cmd, struct cli_source_opts *so, struct cli_prov_opts *po, int c,
		  const char *arg);
/* Load the --known-good sets: 0, or an exit status after saying why. */
int cli_prov_load(const char *cmd, struct cli_prov_opts *o);
/*
 * Unless --no-provenance: *out new (prov_free()), from the evidence s (NULL between two
 * trees). 0, or an exit status after saying why.
 */
int cli_prov_open(const char *cmd, const struct cli_prov_opts *o, struct source *s,
		  const struct htree *gold, const struct htree *cur, struct prov **out);
void cli_prov_release(struct cli_prov_opts *o);
/* p's "provenance" object in the summary sum, before its last key "tool" (p may be NULL). */
void cli_summary_prov(json_t *sum, const struct prov *p);
int cmd_known_good(int argc, char **argv);

/* Print the exit-status table (for `deltair help` and --help pages). */
void cli_print_exit_codes(FILE *fp);

#endif
