/* cmd_artifacts.c - deltair artifacts list|resolve: what is defined, and what matches. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifacts.h"
#include "cli.h"
#include "events.h"
#include "htree.h"
#include "parsers.h"
#include "scan.h"
#include "source.h"

#include "banned.h"

#define MAX_PATHS 64

static const char usage_text[] =
	"usage: deltair artifacts list [-a PATH]... [--all]\n"
	"       deltair artifacts resolve [-a PATH]... [--json] [--offset BYTES] IMAGE\n"
	"\n"
	"list     the loaded ForensicArtifacts definitions that apply to Linux (all of them with\n"
	"         --all): name, number of path globs or group members, first line of the doc\n"
	"resolve  walk IMAGE's metadata (no content is read) and print every entry that a\n"
	"         definition covers: FS, PATH and the covering definitions, tab-separated (or\n"
	"         JSON Lines with --json). %%users.homedir%% comes from IMAGE's /etc/passwd.\n"
	"\n"
	"Options:\n"
	"  -a, --artifacts PATH  YAML file or folder (repeatable; default: upstream's set in\n"
	"                        /usr/share/artifacts, then deltair's artifacts/)\n"
	"      --all             list definitions for every OS\n"
	"      --json            resolve: JSON Lines\n"
	"      --offset BYTES    resolve: one filesystem at this byte offset\n"
	"  -h, --help            this help\n";

static int
list(struct artifacts *a, const struct artifacts_stats *st, int all)
{
	for (size_t i = 0; i < artifacts_count(a); i++) {
		const char *doc = artifacts_doc(a, i);
		size_t n = doc ? strcspn(doc, "\n") : 0;

		if (!all && !artifacts_is_linux(a, i))
			continue;
		printf("%s\t%zu\t%.*s\n", artifacts_name(a, i),
		       artifacts_glob_count(a, i) + artifacts_member_count(a, i), (int)n,
		       doc ? doc : "");
	}
	fprintf(stderr,
		"deltair: artifacts: %zu files, %zu definitions (%zu for Linux); sources skipped: "
		"%zu of types deltair does not use, %zu for other OSes; %zu group members not "
		"defined in the loaded files\n",
		st->files, st->definitions, st->linux_definitions, st->sources_skipped_type,
		st->sources_skipped_os, st->missing_group_members);
	return 0;
}

static int
resolve_image(struct artifacts *a, const char *spec, long long offset, int json)
{
	struct source_opts so = { .offset = offset };
	struct source *s = NULL;
	struct walk_opts wo;
	struct htree *t = NULL;
	struct parser_ctx ctx;
	struct artifacts_user *u = NULL;
	struct dt_err err = { 0 };
	const char **names = NULL;
	size_t max = artifacts_count(a) + 1, hits = 0;
	int rc = EXIT_BUG;

	memset(&ctx, 0, sizeof(ctx));
	if (source_open(spec, &so, &s, &err) < 0)
		return cli_fail("artifacts", &err);
	memset(&wo, 0, sizeof(wo));
	wo.flags = WALK_NO_CONTENT;
	if (walk_source(s, &wo, &t, NULL, &err) < 0 || scan_image_ctx(s, t, &ctx, &err) < 0) {
		rc = cli_fail("artifacts", &err);
		goto out;
	}
	u = calloc(ctx.nusers + 1, sizeof(*u));
	names = calloc(max, sizeof(*names));
	if (u == NULL || names == NULL) {
		dt_fail(&err, DT_ENOMEM, "out of memory");
		rc = cli_fail("artifacts", &err);
		goto out;
	}
	for (size_t i = 0; i < ctx.nusers; i++) {
		u[i].name = ctx.users[i].name;
		u[i].home = ctx.users[i].home;
	}
	if (artifacts_prepare(a, u, ctx.nusers, &err) < 0) {
		rc = cli_fail("artifacts", &err);
		goto out;
	}
	for (size_t i = 0; i < htree_count(t); i++) {
		const struct htree_entry *e = htree_get(t, i);
		size_t n =
			artifacts_match(a, e->path, e->path_len, e->type == HTREE_DIR, names, max);
		const char *fs = htree_fs(t, e->fs)->name;

		if (n == 0)
			continue;
		hits++;
		if (json) {
			json_t *o = json_object(), *arr = json_array();
			for (size_t k = 0; k < n; k++)
				json_array_append_new(arr, json_string(names[k]));
			json_object_set_new(o, "fs", json_string(fs));
			events_set_path(o, "path", e->path, e->path_len);
			json_object_set_new(o, "type", json_string(htree_type_name(e->type)));
			json_object_set_new(o, "artifacts", arr);
			json_dumpf(o, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(o);
		} else {
			printf("%s\t", fs);
			cli_put_escaped(stdout, e->path, e->path_len);
			for (size_t k = 0; k < n; k++)
				printf("%c%s", k ? ',' : '\t', names[k]);
			putchar('\n');
		}
	}
	fprintf(stderr, "deltair: artifacts: %zu of %zu entries covered\n", hits, htree_count(t));
	rc = fflush(stdout) == 0 ? 0 : EXIT_IO;
out:
	free(u);
	free(names);
	parser_ctx_release(&ctx);
	htree_free(t);
	source_free(s);
	return rc;
}

int
cmd_artifacts(int argc, char **argv)
{
	static const struct option opts[] = { { "artifacts", required_argument, NULL, 'a' },
					      { "all", no_argument, NULL, 'l' },
					      { "json", no_argument, NULL, 'J' },
					      { "offset", required_argument, NULL, 'O' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	const char *paths[MAX_PATHS], *sub;
	size_t np = 0;
	int all = 0, json = 0, c, rc;
	long long offset = -1;
	struct artifacts *a = NULL;
	struct artifacts_stats st;

	if (argc < 2)
		return cli_usage("artifacts", "expected 'list' or 'resolve'");
	sub = argv[1];
	if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, ":a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (np == MAX_PATHS)
				return cli_usage("artifacts", "too many --artifacts");
			paths[np++] = optarg;
			break;
		case 'l': all = 1; break;
		case 'J': json = 1; break;
		case 'O':
			offset = cli_number(optarg);
			if (offset < 0)
				return cli_usage("artifacts", "--offset needs a byte offset");
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("artifacts", argv + 1, c);
		}
	}
	if (strcmp(sub, "list") != 0 && strcmp(sub, "resolve") != 0)
		return cli_usage("artifacts", "no subcommand '%s' (expected 'list' or 'resolve')",
				 sub);
	if (strcmp(sub, "list") == 0 && argc - 1 != optind)
		return cli_usage("artifacts", "list takes no arguments");
	if (strcmp(sub, "list") == 0 && (json || offset >= 0))
		return cli_usage("artifacts", "%s is for resolve, not list",
				 json ? "--json" : "--offset");
	if (strcmp(sub, "resolve") == 0 && all)
		return cli_usage("artifacts", "--all is for list, not resolve");
	if (strcmp(sub, "resolve") == 0 && argc - 1 - optind != 1)
		return cli_usage("artifacts", "resolve needs one IMAGE");
	memset(&st, 0, sizeof(st));
	rc = cli_load_artifacts("artifacts", paths, np, &a, &st);
	if (rc)
		return rc;
	if (strcmp(sub, "list") == 0)
		rc = list(a, &st, all);
	else
		rc = resolve_image(a, argv[1 + optind], offset, json);
	artifacts_free(a);
	return rc;
}
