/* cmd_scan.c - deltair scan: the diff, then YARA, artifacts and rows on the delta only. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "artifacts.h"
#include "cli.h"
#include "decomp.h"
#include "events.h"
#include "htree.h"
#include "mono.h"
#include "outfile.h"
#include "provenance.h"
#include "scan.h"
#include "yarascan.h"

#include "banned.h"

#define MAX_PATHS 64

static const char usage_text[] =
	"usage: deltair scan [options] --baseline GOLD.dtree IMAGE\n"
	"\n"
	"Diff IMAGE against the baseline (as 'deltair diff'), then triage only the delta:\n"
	"YARA on every added, modified, appended, renamed or retyped regular file (read from\n"
	"the image, never a kernel mount), the ForensicArtifacts definitions that cover each\n"
	"change ('artifacts' on file events), and osquery-table rows parsed from the changed\n"
	"files, diffed against the rows the baseline parsed from the gold ('row' events with\n"
	"action added/removed). The summary says how many files YARA scanned and skipped, and\n"
	"why. Archives and compressed files among them (tar, zip, cpio, ar, gzip, bzip2, xz,\n"
	"zstd, nested) are opened in memory or bounded temporary space: a 'member' event per\n"
	"member and YARA on each ('yara' events with \"member\"), within bounds named in the\n"
	"summary and in an 'error' event when hit.\n"
	"\n"
	"Options:\n"
	"  -b, --baseline FILE   the gold .dtree (made by 'deltair baseline')\n"
	"  -r, --rules PATH      YARA rules: a .yar/.yara file or a folder (repeatable;\n"
	"                        default: the installed rules/)\n"
	"  -a, --artifacts PATH  ForensicArtifacts YAML: a file or folder (repeatable;\n"
	"                        default: upstream's set in /usr/share/artifacts, then\n"
	"                        deltair's artifacts/)\n"
	"      --no-rules        no YARA\n"
	"      --no-artifacts    no artifact matching\n"
	"      --no-rows         no parsing into rows\n"
	"  -x, --extract DIR     copy every changed file out of the image into DIR, with\n"
	"                        manifest.jsonl and a COMPLETE marker written last; DIR must\n"
	"                        be new (missing parents are created) or empty; DIR is made\n"
	"                        0700 and every file in it 0600, whatever the umask\n"
	"      --extract-members with -x, also copy every member of the archives read into\n"
	"                        DIR/members/pN/PATH/MEMBER (each nested archive a folder\n"
	"                        NAME%21; a name held twice: NAME%~2), in the same manifest\n"
	"                        with \"member\"\n"
	"      --max-size BYTES  YARA skips larger files (default 64 MiB; reported)\n"
	"      --timeout SECONDS YARA time limit per file (default 30; reported)\n"
	"      --no-decompose    do not open archives and compressed files\n"
	"      --decomp-depth N  open archives nested at most N deep (default 3)\n"
	"      --decomp-members N  read at most N members of one archive (default 10000)\n"
	"      --decomp-max-bytes BYTES  expand at most BYTES from one file, at all depths\n"
	"                        (default 1 GiB)\n"
	"      --decomp-run-bytes BYTES  expand at most BYTES in the run (default 16 GiB)\n"
	"      --decomp-ratio N  stop a file expanding more than N times the bytes read from\n"
	"                        it, once 16 MiB were expanded (default 250: bombs)\n"
	"      --decomp-timeout SECONDS  time limit per archive file, YARA on its members\n"
	"                        included (default 120)\n"
	"  -f, --format FMT      jsonl (default), timesketch (Timesketch JSONL), bodyfile\n"
	"  -o, --output FILE     write to FILE (atomically) instead of stdout; an existing\n"
	"                        FILE is replaced only if it is of the same format (or empty)\n"
	"      --force           replace FILE whatever it holds (never an input), and replace\n"
	"                        an earlier extraction in DIR whole (files/, members/,\n"
	"                        manifest.jsonl, COMPLETE; a folder holding anything\n"
	"                        else, or this run's IMAGE or baseline, is refused)\n"
	"Outputs and DIR are checked before anything is read.\n" CLI_PROV_HELP CLI_SOURCE_HELP
		CLI_DELTA_HELP "  -h, --help            this help\n"
	"\n"
	"Exit status: 0 no delta, 1 delta found, 8 incomplete (evidence that could not be\n"
	"read: the delta may miss changes), others errors (see 'deltair help').\n";

enum fmt { FMT_JSONL, FMT_TIMESKETCH, FMT_BODYFILE };

struct run {
	struct sink sink;
	enum fmt fmt;
	const struct htree *cur;
	struct htree_time last_mtime;
	const char *last_path;
	unsigned long errors;
	unsigned long yara_hits;
	int trusted;     /* --trust-metadata: every file event says so */
	int unexplained; /* --unexplained: leave out the file events provenance explains */
};

static int
emit(void *ctx, json_t *ev, const struct htree_entry *e, struct dt_err *err)
{
	struct run *r = ctx;
	const char *kind = json_string_value(json_object_get(ev, "event"));
	json_t *lines, *l;
	size_t i;
	int rc = 0;

	if (kind && strcmp(kind, "error") == 0)
		r->errors++;
	if (kind && strcmp(kind, "yara") == 0)
		r->yara_hits++;
	if (r->trusted && kind && strcmp(kind, "file") == 0)
		json_object_set_new(ev, "metadata_trusted", json_true());
	if (r->unexplained && kind && strcmp(kind, "file") == 0 && prov_event_explained(ev)) {
		json_decref(ev);
		return 0;
	}
	if (e) {
		r->last_mtime = htree_time_of(e, HTREE_MTIME);
		r->last_path = e->path;
	}
	switch (r->fmt) {
	case FMT_JSONL: return sink_emit(&r->sink, ev, err);
	case FMT_BODYFILE:
		if (e && kind && strcmp(kind, "file") == 0) {
			const char *fs = json_string_value(json_object_get(ev, "fs"));
			const char *ch = json_string_value(json_object_get(ev, "change"));
			struct htree_entry d = *e;
			/* A deleted file is the gold's entry: mark it as `fls -r -m` does. */
			if (ch && strcmp(ch, "deleted") == 0)
				d.flags |= HTREE_F_DELETED;
			json_t *pv = json_object_get(ev, "provenance");
			char note[96];
			/* The reason where mactime shows it: beside the name, as " (deleted)". */
			if (pv)
				snprintf(note, sizeof(note), "%s%s%s",
					 json_is_true(json_object_get(pv, "explained"))
						 ? ""
						 : "unexplained: ",
					 json_string_value(json_object_get(pv, "reason")),
					 json_object_get(pv, "trust") ? ", " : "");
			if (pv && json_object_get(pv, "trust"))
				strncat(note, json_string_value(json_object_get(pv, "trust")),
					sizeof(note) - strlen(note) - 1);
			events_body_line(r->sink.fp, NULL, htree_nfs(r->cur) > 1 ? fs : NULL, &d,
					 pv ? note : NULL);
		}
		json_decref(ev);
		return 0;
	case FMT_TIMESKETCH: {
		struct htree_time mt = r->last_mtime;
		if (e == NULL && kind && strcmp(kind, "file") != 0) {
			/* Date a yara or row event by its file's modification time. An error
			 * of the walk comes before there is a tree (r->cur is still NULL). */
			const char *fs = json_string_value(json_object_get(ev, "fs"));
			const char *p = json_string_value(json_object_get(ev, "path"));
			int fi = (fs && r->cur) ? htree_fs_index(r->cur, fs) : -1;
			const struct htree_entry *f =
				(fi >= 0 && p) ? htree_find(r->cur, (uint32_t)fi, p, strlen(p))
					       : NULL;
			if (f)
				mt = htree_time_of(f, HTREE_MTIME);
		}
		lines = events_timesketch(ev, e, mt);
		json_array_foreach(lines, i, l)
		{
			if (sink_emit(&r->sink, json_incref(l), err) < 0) {
				rc = -1;
				break;
			}
		}
		json_decref(lines);
		json_decref(ev);
		return rc;
	}
	}
	json_decref(ev);
	return 0;
}

static void
walk_error(void *ctx, const char *fs, const char *path, size_t len, const char *msg)
{
	struct dt_err err = { 0 };

	emit(ctx, events_error(fs, path, len, msg), NULL, &err);
}

/* New: the summary's "decomp" object: what was opened, and every bound hit, by name. */
static json_t *
decomp_summary(const struct decomp_stats *d, const struct scan_stats *st)
{
	json_t *o =
		json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "files", (json_int_t)d->files,
			  "archives", (json_int_t)d->archives, "members", (json_int_t)d->members,
			  "encrypted", (json_int_t)d->encrypted, "corrupt", (json_int_t)d->corrupt,
			  "bytes_expanded", (json_int_t)d->bytes);
	json_t *bounds = json_object(), *hit = json_array();

	for (int b = DECOMP_BOUND_NONE + 1; b < DECOMP_NBOUNDS; b++) {
		json_object_set_new(bounds, decomp_bound_name(b),
				    json_integer((json_int_t)d->bounds[b]));
		if (d->bounds[b] > 0)
			json_array_append_new(hit, json_string(decomp_bound_name(b)));
	}
	json_object_set_new(o, "bounds", bounds);
	json_object_set_new(o, "bounds_hit", hit);
	json_object_set_new(o, "yara",
			    json_pack("{s:I, s:I, s:I, s:I}", "scanned",
				      (json_int_t)st->member_yara_scanned, "skipped",
				      (json_int_t)st->member_yara_skipped, "matches",
				      (json_int_t)st->member_yara_matches, "members_matched",
				      (json_int_t)st->member_yara_matched));
	return o;
}

static json_t *
summary(const struct diff_stats *ds, const struct scan_stats *st, const struct walk_stats *ws,
	const struct htree *gold, const char *base, const struct htree *cur, size_t nrules,
	int yara_on, int rows_on, int extract_on, const struct decomp *dc, unsigned long errors,
	uint64_t read_errors, double elapsed)
{
	json_t *s = events_summary(ds, ws->bytes_hashed, errors, read_errors, elapsed, gold, base,
				   cur, NULL);
	json_t *tool = json_incref(json_object_get(s, "tool"));

	/* Scan adds its own counts; "tool" stays the last key. */
	json_object_del(s, "tool");
	if (yara_on)
		json_object_set_new(
			s, "yara",
			json_pack("{s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I}, s:I, s:I, s:I}", "rules",
				  (json_int_t)nrules, "candidates", (json_int_t)st->yara_candidates,
				  "scanned", (json_int_t)st->yara_scanned, "skipped", "too_large",
				  (json_int_t)st->yara_too_large, "timeout",
				  (json_int_t)st->yara_timeout, "unreadable",
				  (json_int_t)st->yara_unreadable, "failed",
				  (json_int_t)st->yara_failed, "matches",
				  (json_int_t)st->yara_matches, "files_matched",
				  (json_int_t)st->yara_files_matched, "bytes_read",
				  (json_int_t)st->yara_bytes));
	if (rows_on)
		json_object_set_new(s, "rows",
				    json_pack("{s:I, s:I, s:I, s:I}", "files_parsed",
					      (json_int_t)st->files_parsed, "parsed",
					      (json_int_t)st->rows_parsed, "added",
					      (json_int_t)st->rows_added, "removed",
					      (json_int_t)st->rows_removed));
	if (extract_on)
		json_object_set_new(s, "extracted",
				    json_pack("{s:I, s:I}", "files", (json_int_t)st->extracted,
					      "bytes", (json_int_t)st->extracted_bytes));
	if (dc != NULL)
		json_object_set_new(s, "decomp", decomp_summary(decomp_stats(dc), st));
	json_object_set_new(s, "tool", tool);
	return s;
}

static const struct option opts[] = { { "baseline", required_argument, NULL, 'b' },
				      { "rules", required_argument, NULL, 'r' },
				      { "artifacts", required_argument, NULL, 'a' },
				      { "no-rules", no_argument, NULL, 'R' },
				      { "no-artifacts", no_argument, NULL, 'A' },
				      { "no-rows", no_argument, NULL, 'W' },
				      { "extract", required_argument, NULL, 'x' },
				      { "max-size", required_argument, NULL, 's' },
				      { "timeout", required_argument, NULL, 't' },
				      { "format", required_argument, NULL, 'f' },
				      { "output", required_argument, NULL, 'o' },
				      { "force", no_argument, NULL, 'F' },
				      { "no-decompose", no_argument, NULL, 'D' },
				      { "extract-members", no_argument, NULL, 1007 },
				      { "decomp-depth", required_argument, NULL, 1001 },
				      { "decomp-members", required_argument, NULL, 1002 },
				      { "decomp-max-bytes", required_argument, NULL, 1003 },
				      { "decomp-run-bytes", required_argument, NULL, 1004 },
				      { "decomp-ratio", required_argument, NULL, 1005 },
				      { "decomp-timeout", required_argument, NULL, 1006 },
				      { "help", no_argument, NULL, 'h' },
				      CLI_SOURCE_OPTIONS,
				      CLI_DELTA_OPTIONS,
				      CLI_PROV_OPTIONS,
				      { NULL, 0, NULL, 0 } };

/* --decomp-depth and the other limits of decomposition (options 1001 to 1006). */
static int
decomp_opt(int c, const char *arg, struct decomp_limits *dl)
{
	long long v = cli_number(arg);

	if (v < 1 || (c == 1001 && v > 64) || (c == 1006 && v > 86400))
		return cli_usage("scan", "--%s needs a %s, not '%s'",
				 c == 1001   ? "decomp-depth (1-64)"
				 : c == 1002 ? "decomp-members"
				 : c == 1003 ? "decomp-max-bytes"
				 : c == 1004 ? "decomp-run-bytes"
				 : c == 1005 ? "decomp-ratio"
					     : "decomp-timeout (1-86400)",
				 c == 1003 || c == 1004 ? "byte count"
				 : c == 1006            ? "number of seconds"
							: "number",
				 arg);
	if (c == 1001)
		dl->max_depth = (unsigned)v;
	else if (c == 1002)
		dl->max_members = (uint64_t)v;
	else if (c == 1003)
		dl->max_file_bytes = (uint64_t)v;
	else if (c == 1004)
		dl->max_run_bytes = (uint64_t)v;
	else if (c == 1005)
		dl->max_ratio = (uint64_t)v;
	else
		dl->timeout = (int)v;
	return 0;
}

/* One more --rules or --artifacts PATH (at most MAX_PATHS). */
static int
add_path(const char **paths, size_t *n, const char *opt, const char *arg)
{
	if (*n == MAX_PATHS)
		return cli_usage("scan", "too many --%s", opt);
	paths[(*n)++] = arg;
	return 0;
}

/* --max-size (s) and --timeout (t) of the YARA scans. */
static int
yara_opt(int c, const char *arg, struct yarascan_opts *o)
{
	long long v = cli_number(arg);

	if (c == 's') {
		if (v < 1)
			return cli_usage("scan", "--max-size needs a byte count, not '%s'", arg);
		o->max_size = (uint64_t)v;
	} else {
		if (v < 1 || v > 86400)
			return cli_usage("scan", "--timeout needs seconds (1-86400), not '%s'",
					 arg);
		o->timeout = (int)v;
	}
	return 0;
}

/* --format: jsonl, timesketch or bodyfile. */
static int
format_opt(const char *arg, enum fmt *fmt)
{
	if (strcmp(arg, "jsonl") == 0)
		*fmt = FMT_JSONL;
	else if (strcmp(arg, "timesketch") == 0)
		*fmt = FMT_TIMESKETCH;
	else if (strcmp(arg, "bodyfile") == 0)
		*fmt = FMT_BODYFILE;
	else
		return cli_usage("scan", "unknown format '%s'", arg);
	return 0;
}

/* The summary (stolen): the last event, or for a timeline, which has no place for it, stderr. */
static int
put_summary(struct run *r, json_t *s, struct dt_err *err)
{
	char *txt;

	if (r->fmt == FMT_JSONL)
		return sink_emit(&r->sink, s, err);
	txt = json_dumps(s, JSON_COMPACT);
	if (txt)
		fprintf(stderr, "%s\n", txt);
	free(txt);
	json_decref(s);
	return 0;
}

/* What cmd_scan's options set; so, po, dl, cfg, fmt and force are the caller's. */
struct scan_args {
	const char *base, *out, *rules[MAX_PATHS], *arts[MAX_PATHS];
	size_t nrules_paths, narts;
	int no_rules, no_arts, no_rows, no_decomp;
	char def_rules[4096];
	struct cli_source_opts *so;
	struct cli_prov_opts *po;
	struct decomp_limits *dl;
	struct scan_config *cfg;
	enum fmt *fmt;
	int *force;
};

/* parse_args' checks of the options together, and the default rules: as parse_args returns. */
static int
check_args(int argc, struct scan_args *a)
{
	if (a->base == NULL)
		return cli_usage("scan", "--baseline GOLD.dtree is required");
	if (a->cfg->extract_members && (a->cfg->extract_dir == NULL || a->no_decomp))
		return cli_usage("scan", "--extract-members needs --extract DIR, without "
					 "--no-decompose");
	if (argc - optind != 1)
		return cli_usage("scan", "expected one IMAGE");
	if (!a->no_rules && a->nrules_paths == 0) {
		if (cli_data_path("rules", a->def_rules, sizeof(a->def_rules)) < 0)
			return cli_usage("scan",
					 "no installed rules/ found; give --rules or --no-rules");
		a->rules[a->nrules_paths++] = a->def_rules;
	}
	return -1;
}

/* Read and check scan's options: -1 to go on, else the exit status (usage, or 0 after --help). */
static int
parse_args(int argc, char **argv, struct scan_args *a)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":b:r:a:x:f:o:h", opts, NULL)) != -1) {
		int x = cli_delta_opt("scan", a->so, a->po, c, optarg);
		if (x < 0)
			return EXIT_USAGE;
		if (x > 0)
			continue;
		switch (c) {
		case 'b': a->base = optarg; break;
		case 'r':
			if (add_path(a->rules, &a->nrules_paths, "rules", optarg) != 0)
				return EXIT_USAGE;
			break;
		case 'a':
			if (add_path(a->arts, &a->narts, "artifacts", optarg) != 0)
				return EXIT_USAGE;
			break;
		case 'R': a->no_rules = 1; break;
		case 'A': a->no_arts = 1; break;
		case 'W': a->no_rows = 1; break;
		case 'D': a->no_decomp = 1; break;
		case 1007: a->cfg->extract_members = 1; break;
		case 1001:
		case 1002:
		case 1003:
		case 1004:
		case 1005:
		case 1006:
			if (decomp_opt(c, optarg, a->dl) != 0)
				return EXIT_USAGE;
			break;
		case 'x': a->cfg->extract_dir = optarg; break;
		case 's':
		case 't':
			if (yara_opt(c, optarg, &a->cfg->yara) != 0)
				return EXIT_USAGE;
			break;
		case 'f':
			if (format_opt(optarg, a->fmt) != 0)
				return EXIT_USAGE;
			break;
		case 'o': a->out = optarg; break;
		case 'F': *a->force = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("scan", argv, c);
		}
	}
	return check_args(argc, a);
}

int
cmd_scan(int argc, char **argv)
{
	struct cli_source_opts so;
	struct cli_prov_opts po;
	struct prov *prov = NULL;
	struct scan_args args = { .out = "-" };
	size_t nrules = 0;
	int c, rc = EXIT_BUG;
	struct decomp_limits dl;
	struct decomp *dc = NULL;
	struct scan_config cfg;
	struct yarascan *y = NULL;
	struct artifacts *a = NULL;
	struct htree *gold = NULL, *cur = NULL;
	struct source *src = NULL;
	struct walk_stats ws;
	struct diff_stats ds;
	struct scan_stats st;
	struct outfile of;
	struct outfile_opts oo = { .kind = OUTFILE_JSONL };
	const char *inputs[2];
	struct run r;
	struct dt_err err = { 0 };
	double t0 = mono_now();
	uint64_t read_errors;

	memset(&cfg, 0, sizeof(cfg));
	memset(&dl, 0, sizeof(dl));
	memset(&r, 0, sizeof(r));
	memset(&of, 0, sizeof(of));
	memset(&ws, 0, sizeof(ws));
	memset(&ds, 0, sizeof(ds));
	memset(&st, 0, sizeof(st));
	memset(&po, 0, sizeof(po));
	cli_source_opts_init(&so);
	args.so = &so;
	args.po = &po;
	args.dl = &dl;
	args.cfg = &cfg;
	args.fmt = &r.fmt;
	args.force = &oo.force;
	if ((c = parse_args(argc, argv, &args)) >= 0)
		return c;
	/* Everything that can be wrong with the outputs and inputs is found before the long
	 * work. */
	oo.kind = r.fmt == FMT_BODYFILE ? OUTFILE_BODYFILE : OUTFILE_JSONL;
	inputs[0] = args.base;
	inputs[1] = argv[optind];
	oo.inputs = inputs;
	oo.ninputs = 2;
	cfg.extract = &oo;
	if (outfile_check(args.out, &oo, &err) < 0)
		return cli_fail("scan", &err);
	if (cfg.extract_dir && scan_extract_check(cfg.extract_dir, &oo, &err) < 0)
		return cli_fail("scan", &err);
	if ((rc = cli_prov_load("scan", &po)) != 0)
		goto out;
	rc = EXIT_BUG;
	if (!args.no_rules &&
	    yarascan_compile(args.rules, args.nrules_paths, &y, &nrules, &err) < 0) {
		rc = cli_fail("scan", &err);
		goto out;
	}
	if (!args.no_arts &&
	    (rc = cli_load_artifacts("scan", args.arts, args.narts, &a, NULL)) != 0)
		goto out;
	if (htree_load(args.base, &gold, &err) < 0) {
		rc = cli_fail("scan", &err);
		goto out;
	}
	cfg.parse_rows = !args.no_rows;
	if (cfg.parse_rows && htree_rows(gold) == NULL) {
		/* Made with --no-rows: every row of a changed file would look added. */
		fprintf(stderr,
			"deltair: scan: note: '%s' has no rows (baseline --no-rows): no row "
			"events\n",
			args.base);
		cfg.parse_rows = 0;
	}
	if (outfile_open(&of, args.out, &oo, &err) < 0) {
		rc = cli_fail("scan", &err);
		goto out;
	}
	r.sink.fp = of.fp;
	r.trusted = so.trust_metadata;
	c = cli_walk("scan", argv[optind], &so, gold, walk_error, &r, &cur, &ws, &src);
	if (c) {
		rc = c;
		goto out;
	}
	r.cur = cur;
	r.unexplained = po.unexplained;
	if ((rc = cli_prov_open("scan", &po, src, gold, cur, &prov)) != 0)
		goto out;
	rc = EXIT_BUG;
	cfg.prov = prov;
	cfg.rules = y;
	cfg.artifacts = a;
	if (!args.no_decomp && (dc = decomp_new(&dl, &err)) == NULL) {
		rc = cli_fail("scan", &err);
		goto out;
	}
	cfg.decomp = dc;
	read_errors = r.errors; /* so far, every error event says what was not read */
	cli_check_pairing("scan", gold, cur, walk_error, &r);
	if (scan_delta(src, gold, cur, &cfg, emit, &r, &ds, &st, &err) < 0) {
		rc = cli_fail("scan", &err);
		goto out;
	}
	{
		json_t *s = summary(&ds, &st, &ws, gold, args.base, cur, nrules, y != NULL,
				    cfg.parse_rows, cfg.extract_dir != NULL, dc, r.errors,
				    read_errors + st.yara_unreadable, mono_now() - t0);
		cli_summary_snapshot(s, src);
		cli_summary_reads(s, &so, &ws);
		cli_summary_prov(s, prov);
		if (put_summary(&r, s, &err) < 0) {
			rc = cli_fail("scan", &err);
			goto out;
		}
	}
	if (r.sink.failed || outfile_commit(&of, &err) < 0) {
		if (err.code == DT_OK)
			dt_fail_errno(&err, DT_EIO, "cannot write '%s'", args.out);
		rc = cli_fail("scan", &err);
		goto out;
	}
	rc = cli_diff_status("scan", &ds, read_errors + st.yara_unreadable);
out:
	outfile_release(&of);
	prov_free(prov);
	cli_prov_release(&po);
	source_free(src);
	cli_source_opts_release(&so);
	htree_free(gold);
	htree_free(cur);
	yarascan_free(y);
	artifacts_free(a);
	decomp_free(dc);
	return rc;
}
