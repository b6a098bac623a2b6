/* cmd_tree.c - deltair tree info|export: look inside a .dtree. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "events.h"
#include "htree.h"
#include "outfile.h"

#include "banned.h"

static const char usage_text[] =
	"usage: deltair tree info FILE.dtree\n"
	"       deltair tree export --format jsonl|hashdeep|bodyfile [-o OUT] [--force]\n"
	"                           [--prefix DIR] FILE.dtree\n"
	"\n"
	"info    print the header (format version, tool, evidence, filesystems) and counts\n"
	"export  jsonl: one 'file'-shaped JSON object per entry;\n"
	"        hashdeep: a known-file list for 'hashdeep -a -k' (size,sha256,filename);\n"
	"        bodyfile: TSK 3 body file for mactime ('|' and '%' in names percent-encoded)\n"
	"\n"
	"Options (export only; info takes none):\n"
	"  -f, --format FMT   export format\n"
	"  -o, --output FILE  write to FILE (atomically) instead of stdout; an existing FILE\n"
	"                     is replaced only if it is of the same format (or empty)\n"
	"      --force        replace FILE whatever it holds (never FILE.dtree itself)\n"
	"      --prefix DIR   put DIR before every path (hashdeep, bodyfile), e.g. a mount point\n"
	"hashdeep names are relative (etc/passwd), as 'hashdeep -r -l *' prints them when run\n"
	"in a mount of the filesystem; audit with: cd MOUNT && hashdeep -c sha256 -a -k LIST -r -l "
	"*\n"
	"  -h, --help         this help\n"
	"With several filesystems, hashdeep names start with pN/ and bodyfile names with /pN.\n";

static int
info(const char *path)
{
	struct htree *t;
	struct dt_err err = { 0 };
	const struct htree_info *in;
	struct htree_counts c;
	char hex[65];

	if (htree_load(path, &t, &err) < 0)
		return cli_fail("tree", &err);
	in = htree_info(t);
	htree_count_types(t, &c);
	htree_hex(in->digest, 32, hex);
	printf("file: %s\n", path);
	printf("format: deltair tree %d.%d\n", in->major, in->minor);
	printf("hash: sha256\n");
	printf("tool: %s\n", in->tool);
	printf("created: %s\n", in->created);
	printf("digest: %s\n", hex);
	printf("image: %s\n", in->image ? in->image : "");
	printf("image format: %s\n", in->format ? in->format : "");
	printf("image size: %llu\n", (unsigned long long)in->image_size);
	printf("layout: %s\n", in->layout ? in->layout : "");
	for (size_t i = 0; i < htree_nfs(t); i++) {
		const struct htree_fs *f = htree_fs(t, i);
		printf("filesystem: %s %s offset=%llu size=%llu entries=%u deleted=%u", f->name,
		       f->type, (unsigned long long)f->offset, (unsigned long long)f->size,
		       f->count, f->dcount);
		if (f->uuid[0])
			printf(" uuid=%s", f->uuid);
		if (f->label[0])
			printf(" label=%s", f->label);
		putchar('\n');
	}
	printf("entries: %zu\n", htree_count(t));
	printf("regular: %llu\n", (unsigned long long)c.regular);
	printf("directories: %llu\n", (unsigned long long)c.dirs);
	printf("symlinks: %llu\n", (unsigned long long)c.symlinks);
	printf("other: %llu\n", (unsigned long long)c.other);
	printf("deleted names: %zu\n", htree_ndeleted(t));
	printf("bytes: %llu\n", (unsigned long long)c.bytes);
	printf("file size: %llu\n", (unsigned long long)htree_file_size(t));
	printf("bytes per entry: %.1f\n",
	       htree_count(t) ? (double)htree_file_size(t) / (double)htree_count(t) : 0.0);
	if (htree_rows(t))
		printf("row tables: %zu\n", json_object_size(htree_rows(t)));
	htree_free(t);
	return 0;
}

/*
 * A hashdeep name: relative, as `hashdeep -r -l *` run in a mount of the filesystem prints
 * it; "pN/" first with several filesystems; "PREFIX/" first when asked.
 */
static void
put_hashdeep_name(FILE *fp, const struct htree *t, const struct htree_entry *e, const char *prefix)
{
	if (prefix && *prefix) {
		fputs(prefix, fp);
		if (prefix[strlen(prefix) - 1] != '/')
			fputc('/', fp);
	}
	if (htree_nfs(t) > 1)
		fprintf(fp, "%s/", htree_fs(t, e->fs)->name);
	fwrite(e->path + 1, 1, e->path_len - 1, fp);
}

#define MAX_NAMED 20 /* files left out of a hashdeep list that are named on stderr */

/* One name on stderr, control bytes as \xHH: a newline in it must not end the line. */
static void
put_left_out(const struct htree *t, const struct htree_entry *e, const char *why)
{
	fprintf(stderr, "deltair: tree: left out of the hashdeep list (%s): %s:", why,
		htree_fs(t, e->fs)->name);
	cli_put_escaped(stderr, e->path, e->path_len);
	fputc('\n', stderr);
}

static int export(const char *path, const char *format, const char *out, const char *prefix,
		  int force, int argc, char **argv)
{
	const struct htree_entry *named[MAX_NAMED]; /* borrowed from t */
	char cwd[4096];
	struct outfile_opts oo = { .force = force, .inputs = &path, .ninputs = 1 };
	struct htree *t = NULL;
	struct dt_err err = { 0 };
	struct outfile of;
	struct sink sink = { 0 };
	unsigned long skipped = 0;
	int rc = EXIT_BUG;

	memset(&of, 0, sizeof(of));
	if (strcmp(format, "jsonl") == 0)
		oo.kind = OUTFILE_JSONL;
	else if (strcmp(format, "hashdeep") == 0)
		oo.kind = OUTFILE_HASHDEEP;
	else if (strcmp(format, "bodyfile") == 0)
		oo.kind = OUTFILE_BODYFILE;
	else
		return cli_usage("tree", "unknown export format '%s'", format);
	if (prefix && oo.kind == OUTFILE_JSONL)
		return cli_usage("tree", "--prefix is for hashdeep and bodyfile, not jsonl");
	if (prefix && strpbrk(prefix, "\n\r|"))
		return cli_usage("tree", "--prefix must not hold a newline or '|' (it starts every "
					 "line of the list)");
	if (outfile_check(out, &oo, &err) < 0)
		return cli_fail("tree", &err);
	if (htree_load(path, &t, &err) < 0)
		return cli_fail("tree", &err);
	if (outfile_open(&of, out, &oo, &err) < 0) {
		rc = cli_fail("tree", &err);
		goto out;
	}
	sink.fp = of.fp;
	if (strcmp(format, "hashdeep") == 0) {
		/* As hashdeep writes it: the folder it ran in, then the command line; escaped, so
		 * that a newline in either cannot add a line to the list. */
		fputs("%%%% HASHDEEP-1.0\n%%%% size,sha256,filename\n## Invoked from: ", of.fp);
		if (getcwd(cwd, sizeof(cwd)))
			cli_put_escaped(of.fp, cwd, strlen(cwd));
		else
			fputc('?', of.fp);
		fputs("\n## $ deltair", of.fp);
		for (int i = 0; i < argc; i++) {
			fputc(' ', of.fp);
			cli_put_escaped(of.fp, argv[i], strlen(argv[i]));
		}
		fprintf(of.fp, "\n## \n");
	} else if (strcmp(format, "bodyfile") == 0)
		fprintf(of.fp, "# TSK 3 body file written by deltair %s from %s\n", DELTAIR_VERSION,
			path);
	for (size_t i = 0; i < htree_count(t); i++) {
		const struct htree_entry *e = htree_get(t, i);
		char hex[65];

		if (strcmp(format, "jsonl") == 0) {
			if (sink_emit(&sink, events_entry_fields(htree_fs(t, e->fs)->name, e),
				      &err) < 0)
				break;
		} else if (strcmp(format, "hashdeep") == 0) {
			if (e->type != HTREE_REG)
				continue;
			/* hashdeep's format has no escape for a newline in a name. */
			/* A sparse-sha256 is no sha256: hashdeep would call the file changed. */
			if (!(e->flags & HTREE_F_HASHED) || (e->flags & HTREE_F_SPARSE) ||
			    memchr(e->path, '\n', e->path_len) ||
			    memchr(e->path, '\r', e->path_len)) {
				if (skipped < MAX_NAMED)
					named[skipped] = e;
				skipped++;
				continue;
			}
			htree_hex(e->sha256, 32, hex);
			fprintf(of.fp, "%llu,%s,", (unsigned long long)e->size, hex);
			put_hashdeep_name(of.fp, t, e, prefix);
			fputc('\n', of.fp);
		} else {
			events_body_line(of.fp, prefix,
					 htree_nfs(t) > 1 ? htree_fs(t, e->fs)->name : NULL, e, NULL);
		}
	}
	if (strcmp(format, "jsonl") == 0)
		for (size_t i = 0; i < htree_ndeleted(t); i++) {
			const struct htree_entry *e = htree_deleted(t, i);
			sink_emit(&sink, events_entry_fields(htree_fs(t, e->fs)->name, e), &err);
		}
	else if (strcmp(format, "bodyfile") == 0)
		for (size_t i = 0; i < htree_ndeleted(t); i++)
			events_body_line(of.fp, prefix,
					 htree_nfs(t) > 1
						 ? htree_fs(t, htree_deleted(t, i)->fs)->name
						 : NULL,
					 htree_deleted(t, i), NULL);
	if (err.code != DT_OK || outfile_commit(&of, &err) < 0) {
		rc = cli_fail("tree", &err);
		goto out;
	}
	for (unsigned long i = 0; i < skipped && i < MAX_NAMED; i++)
		put_left_out(t, named[i],
			     (named[i]->flags & HTREE_F_HASHED) ? "a newline in the name"
								: "content unreadable when hashed");
	if (skipped > MAX_NAMED)
		fprintf(stderr, "deltair: tree: %lu more files left out of the hashdeep list\n",
			skipped - MAX_NAMED);
	rc = 0;
out:
	outfile_release(&of);
	htree_free(t);
	return rc;
}

int
cmd_tree(int argc, char **argv)
{
	static const struct option opts[] = { { "format", required_argument, NULL, 'f' },
					      { "output", required_argument, NULL, 'o' },
					      { "prefix", required_argument, NULL, 'p' },
					      { "force", no_argument, NULL, 'F' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *format = NULL, *out = NULL, *prefix = NULL, *sub;
	int c, force = 0;

	if (argc < 2)
		return cli_usage("tree", "expected 'info' or 'export'");
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, ":f:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f': format = optarg; break;
		case 'o': out = optarg; break;
		case 'p': prefix = optarg; break;
		case 'F': force = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("tree", argv + 1, c);
		}
	}
	if (argc - 1 - optind != 1)
		return cli_usage("tree", "expected one .dtree file");
	if (strcmp(sub, "info") == 0) {
		if (format || out || prefix || force)
			return cli_usage("tree", "info takes no --format, --output, --prefix or "
						 "--force (it prints to stdout)");
		return info(argv[1 + optind]);
	}
	if (strcmp(sub, "export") == 0) {
		if (format == NULL)
			return cli_usage("tree", "export needs --format jsonl|hashdeep|bodyfile");
		return export(argv[1 + optind], format, out ? out : "-", prefix, force, argc, argv);
	}
	return cli_usage("tree", "no subcommand '%s' (expected 'info' or 'export')", sub);
}
