/* cmd_baseline.c - deltair baseline: walk and hash an image into a .dtree. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "htree.h"
#include "outfile.h"
#include "scan.h"
#include "source.h"

#include "banned.h"

#define MAX_WARNINGS 20

static const char usage_text[] =
	"usage: deltair baseline [options] -o OUT.dtree IMAGE\n"
	"\n"
	"Walk every filesystem of IMAGE with libtsk, or deltair's own reader for XFS v5 (raw\n"
	"image, block device, E01, VMDK, VHD, or an EBS snapshot as ebs://snap-ID or\n"
	"ebs://REGION/snap-ID read through the EBS direct APIs: docs/aws.md; GPT and MBR\n"
	"partitions, named pN as Linux numbers them, p0 without a table) or of a mounted\n"
	"directory given as dir:PATH (for filesystems no reader here knows, such as XFS v4:\n"
	"mount -o ro,norecovery,nouuid), SHA-256 every regular file and write the Merkle\n"
	"hash-tree to OUT (atomically: a temporary name, then rename). A file with 1 GiB of\n"
	"holes or more gets a sparse-sha256 instead (its non-zero 4 KiB chunks and their\n"
	"offsets, then its size: docs/dtree-format.md), so that hashing reads only allocated\n"
	"data.\n"
	"OUT is checked before IMAGE is read. An existing OUT is replaced only if it is a .dtree\n"
	"(or empty); a symbolic link, a block device or IMAGE itself never; a character device\n"
	"or FIFO is written through.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE     the .dtree to write (required)\n"
	"      --force           replace OUT even if it is not a .dtree\n"
	"      --no-rows         do not parse the gold's files into osquery-table rows (the rows\n"
	"                        'deltair scan' diffs against)\n" CLI_SOURCE_HELP
	"      --changed-since snap-GOLD\n"
	"                        ebs://: with --gold-image or --gold-cache, read the blocks that\n"
	"                        did not change since snap-GOLD from that gold store, not the\n"
	"                        snapshot (every file is still hashed: there is no baseline)\n"
	"      --gold-image PATH, --gold-cache DIR, --gold-cache-max BYTES\n"
	"                        as for 'deltair diff'\n"
	"  -h, --help            this help\n"
	"\n"
	"Exit status: 0 done, 8 incomplete (the tree was written, but some evidence could not\n"
	"be read: the warnings name it), others errors (see 'deltair help').\n";

struct warn_ctx {
	unsigned long n;
};

static void
on_error(void *ctx, const char *fs, const char *path, size_t len, const char *msg)
{
	struct warn_ctx *w = ctx;

	if (w->n++ < MAX_WARNINGS)
		fprintf(stderr, "deltair: baseline: warning: %s:%.*s: %s\n", fs ? fs : "-",
			path ? (int)len : 0, path ? path : "", msg);
}

/* The gold's rows, parsed once now, so that a scan never parses an unchanged file. */
static int
collect_rows(struct source *s, struct htree *t, struct warn_ctx *wc, uint64_t *files,
	     struct dt_err *err)
{
	struct parser_ctx ctx;
	json_t *rows = NULL;
	int rc = -1;

	memset(&ctx, 0, sizeof(ctx));
	if (scan_image_ctx(s, t, &ctx, err) == 0 &&
	    scan_collect_rows(s, t, &ctx, &rows, files, on_error, wc, err) == 0)
		rc = htree_set_rows(t, rows, err);
	parser_ctx_release(&ctx);
	return rc;
}

int
cmd_baseline(int argc, char **argv)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
					      { "help", no_argument, NULL, 'h' },
					      { "no-rows", no_argument, NULL, 'W' },
					      { "force", no_argument, NULL, 'F' },
					      CLI_SOURCE_OPTIONS,
					      CLI_DELTA_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	struct cli_source_opts so;
	struct warn_ctx wc = { 0 };
	struct walk_stats st;
	struct htree *t = NULL;
	struct source *src = NULL;
	struct dt_err err = { 0 };
	const char *out = NULL;
	struct outfile_opts oo = { .kind = OUTFILE_DTREE };
	int c, rc, rows = 1;
	uint64_t parsed = 0;
	unsigned long read_errors;

	cli_source_opts_init(&so);
	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		int r = cli_source_opt("baseline", &so, c, optarg);
		if (r < 0)
			return EXIT_USAGE;
		if (r > 0)
			continue;
		switch (c) {
		case 'o': out = optarg; break;
		case 'W': rows = 0; break;
		case 'F': oo.force = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("baseline", argv, c);
		}
	}
	if (optind + 1 != argc)
		return cli_usage("baseline", "expected one IMAGE argument");
	if (out == NULL)
		return cli_usage("baseline", "-o OUT.dtree is required");
	/* Before the walk, which may take hours. */
	oo.inputs = (const char *const *)&argv[optind];
	oo.ninputs = 1;
	if (outfile_check(out, &oo, &err) < 0)
		return cli_fail("baseline", &err);
	rc = cli_walk("baseline", argv[optind], &so, NULL, on_error, &wc, &t, &st, &src);
	cli_source_opts_release(&so);
	if (rc)
		return rc;
	read_errors = wc.n; /* the walk's warnings: what could not be read */
	rc = rows ? collect_rows(src, t, &wc, &parsed, &err) : 0;
	cli_note_snapshot("baseline", src);
	source_free(src);
	if (rc < 0) {
		htree_free(t);
		return cli_fail("baseline", &err);
	}
	if (htree_save(t, out, &oo, &err) < 0) {
		htree_free(t);
		return cli_fail("baseline", &err);
	}
	if (wc.n > MAX_WARNINGS)
		fprintf(stderr, "deltair: baseline: %lu more warnings not shown\n",
			wc.n - MAX_WARNINGS);
	fprintf(stderr,
		"deltair: baseline: %s: %llu entries (%llu files, %llu directories, %llu deleted "
		"names), %.1f MB hashed in %.2f s, %llu files parsed into rows, %lu errors -> %s "
		"(%llu bytes, %.1f bytes/entry)\n",
		argv[optind], (unsigned long long)st.entries, (unsigned long long)st.regular,
		(unsigned long long)st.dirs, (unsigned long long)st.deleted,
		(double)st.bytes_hashed / 1e6, st.seconds, (unsigned long long)parsed, wc.n, out,
		(unsigned long long)htree_file_size(t),
		st.entries ? (double)htree_file_size(t) / (double)st.entries : 0.0);
	htree_free(t);
	if (read_errors) {
		fprintf(stderr,
			"deltair: baseline: incomplete: %lu read errors (see the warnings); what "
			"could not be read will be missing from every diff against this tree\n",
			read_errors);
		return EXIT_INCOMPLETE;
	}
	return 0;
}
