/* cmd_diff.c - deltair diff: the delta of an image (or a tree) against a baseline. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "diff.h"
#include "events.h"
#include "htree.h"
#include "mono.h"
#include "outfile.h"
#include "provenance.h"
#include "source.h"

#include "banned.h"

static const char usage_text[] =
	"usage: deltair diff [options] --baseline GOLD.dtree IMAGE\n"
	"       deltair diff [options] GOLD.dtree INCIDENT.dtree\n"
	"\n"
	"Compare an image (walked and hashed now, like 'deltair baseline') or a second tree\n"
	"with a baseline and print the delta as JSON Lines: one 'file' event per change\n"
	"(added, deleted, modified, appended, renamed, metadata, type) with its flags\n"
	"(suid_added, timestomp_suspected, executable, hidden, truncated_log, deleted_entry,\n"
	"content_unread, permissions_widened, owner_to_root), 'error' events for what could\n"
	"not be read, and a last 'summary' line. A file whose content could not be read is\n"
	"still reported from what is known (modified if its size changed, else metadata),\n"
	"flagged content_unread.\n"
	"Between two trees, 'appended' cannot be told from 'modified' (it needs the content).\n"
	"\n"
	"Options:\n"
	"  -b, --baseline FILE   the gold .dtree\n"
	"  -o, --output FILE     write the events to FILE (atomically) instead of stdout;\n"
	"                        checked before anything is read; an existing FILE is\n"
	"                        replaced only if it is JSON Lines (or empty)\n"
	"      --force           replace FILE whatever it holds (never an input)\n" CLI_PROV_HELP
	"                        (between two trees: known-good sets only)\n" CLI_SOURCE_HELP
		CLI_DELTA_HELP
	"                        (the options above: not between two trees)\n"
	"  -h, --help            this help\n"
	"\n"
	"Exit status: 0 no delta, 1 delta found, 8 incomplete (evidence that could not be\n"
	"read: the delta may miss changes), others errors (see 'deltair help').\n";

struct run {
	struct sink sink;
	struct dt_err err;
	unsigned long errors;
	int trusted; /* --trust-metadata: every file event says so */
	struct prov *prov;
	int unexplained;
};

static void
on_error(void *ctx, const char *fs, const char *path, size_t len, const char *msg)
{
	struct run *r = ctx;

	r->errors++;
	sink_emit(&r->sink, events_error(fs, path, len, msg), &r->err);
}

static int
on_change(void *ctx, const struct diff_change *c, struct dt_err *err)
{
	struct run *r = ctx;
	json_t *ev = events_file(c);

	if (r->trusted && ev)
		json_object_set_new(ev, "metadata_trusted", json_true());
	if (r->prov && prov_explain(r->prov, c, ev, err) < 0) {
		json_decref(ev);
		return -1;
	}
	if (r->unexplained && prov_event_explained(ev)) {
		json_decref(ev);
		return 0;
	}
	return sink_emit(&r->sink, ev, err);
}

/* What could not be read when the evidence's tree was made is still unknown now. */
static void
tree_read_errors(struct run *r, const struct htree *cur)
{
	for (size_t i = 0; i < htree_count(cur); i++) {
		const struct htree_entry *e = htree_get(cur, i);
		if (e->type == HTREE_REG && (e->flags & HTREE_F_READERR))
			on_error(r, htree_fs(cur, e->fs)->name, e->path, e->path_len,
				 "content was unreadable when the tree was made; content unknown");
	}
}

int
cmd_diff(int argc, char **argv)
{
	static const struct option opts[] = { { "baseline", required_argument, NULL, 'b' },
					      { "output", required_argument, NULL, 'o' },
					      { "force", no_argument, NULL, 'F' },
					      { "help", no_argument, NULL, 'h' },
					      CLI_SOURCE_OPTIONS,
					      CLI_DELTA_OPTIONS,
					      CLI_PROV_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	struct cli_source_opts so;
	struct cli_prov_opts po;
	const char *base = NULL, *out = "-", *cur_path;
	struct htree *gold = NULL, *cur = NULL;
	struct source *src = NULL;
	struct walk_stats ws;
	struct diff_stats ds;
	struct outfile of;
	struct outfile_opts oo = { .kind = OUTFILE_JSONL };
	const char *inputs[2], *given;
	struct run r;
	int c, rc = EXIT_BUG, from_tree;
	unsigned long read_errors;
	double t0 = mono_now();
	json_t *sum;

	memset(&r, 0, sizeof(r));
	memset(&of, 0, sizeof(of));
	memset(&ws, 0, sizeof(ws));
	memset(&po, 0, sizeof(po));
	cli_source_opts_init(&so);
	optind = 1;
	while ((c = getopt_long(argc, argv, ":b:o:h", opts, NULL)) != -1) {
		int x = cli_delta_opt("diff", &so, &po, c, optarg);
		if (x < 0)
			return EXIT_USAGE;
		if (x > 0)
			continue;
		switch (c) {
		case 'b': base = optarg; break;
		case 'o': out = optarg; break;
		case 'F': oo.force = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("diff", argv, c);
		}
	}
	if (base == NULL && argc - optind == 2) {
		base = argv[optind++];
	} else if (base == NULL) {
		return cli_usage("diff",
				 "expected --baseline GOLD.dtree IMAGE, or two .dtree files");
	}
	if (argc - optind != 1)
		return cli_usage("diff", "expected one IMAGE (or .dtree) after the baseline");
	cur_path = argv[optind];
	/* The output first: a run must not end in "cannot write" after the work. */
	inputs[0] = base;
	inputs[1] = cur_path;
	oo.inputs = inputs;
	oo.ninputs = 2;
	if (outfile_check(out, &oo, &r.err) < 0)
		return cli_fail("diff", &r.err);
	if ((rc = cli_prov_load("diff", &po)) != 0)
		goto out;
	rc = EXIT_BUG;
	if (htree_load(base, &gold, &r.err) < 0) {
		rc = cli_fail("diff", &r.err);
		goto out;
	}
	if (outfile_open(&of, out, &oo, &r.err) < 0) {
		rc = cli_fail("diff", &r.err);
		goto out;
	}
	r.sink.fp = of.fp;
	from_tree = cli_is_dtree(cur_path);
	given = cli_source_opts_given(&so);
	if (from_tree && given) {
		rc = cli_usage("diff", "%s is for reading an image, not a second .dtree", given);
		goto out;
	}
	if (from_tree) {
		if (htree_load(cur_path, &cur, &r.err) < 0) {
			rc = cli_fail("diff", &r.err);
			goto out;
		}
		tree_read_errors(&r, cur);
	} else {
		r.trusted = so.trust_metadata;
		rc = cli_walk("diff", cur_path, &so, gold, on_error, &r, &cur, &ws, &src);
		if (rc)
			goto out;
	}
	read_errors = r.errors; /* so far, every error event says what was not read */
	cli_check_pairing("diff", gold, cur, on_error, &r);
	if ((rc = cli_prov_open("diff", &po, src, gold, cur, &r.prov)) != 0)
		goto out;
	rc = EXIT_BUG;
	r.unexplained = po.unexplained;
	if (diff_trees(gold, cur, on_change, &r, &ds, &r.err) < 0) {
		rc = cli_fail("diff", &r.err);
		goto out;
	}
	sum = events_summary(&ds, ws.bytes_hashed, r.errors, read_errors, mono_now() - t0, gold,
			     base, cur, from_tree ? cur_path : NULL);
	cli_summary_snapshot(sum, src);
	if (!from_tree)
		cli_summary_reads(sum, &so, &ws);
	cli_summary_prov(sum, r.prov);
	if (sink_emit(&r.sink, sum, &r.err) < 0 || r.sink.failed ||
	    outfile_commit(&of, &r.err) < 0) {
		if (r.err.code == DT_OK)
			dt_fail_errno(&r.err, DT_EIO, "cannot write '%s'", out);
		rc = cli_fail("diff", &r.err);
		goto out;
	}
	rc = cli_diff_status("diff", &ds, read_errors);
out:
	outfile_release(&of);
	prov_free(r.prov);
	cli_prov_release(&po);
	source_free(src);
	cli_source_opts_release(&so);
	htree_free(gold);
	htree_free(cur);
	return rc;
}
