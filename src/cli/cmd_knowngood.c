/*
 * cmd_knowngood.c - deltair known-good: build and inspect known-good sets; and the
 * provenance options that diff and scan share (--known-good, --no-provenance,
 * --unexplained).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "knowngood.h"
#include "outfile.h"
#include "provenance.h"

#include "banned.h"

static const char usage_text[] =
	"usage: deltair known-good build -o SET.kg [--force] INPUT...\n"
	"       deltair known-good info SET.kg\n"
	"\n"
	"build: read Debian packages (.deb files, or folders searched for them, such as a\n"
	"mirror's pool/) and hashdeep known-file lists, and write a known-good set: for every\n"
	"file, folder and symbolic link a package ships, its path, SHA-256 (of the content, or\n"
	"of a link's target), package and version; a hashdeep list adds its files by content\n"
	"alone. The set is compressed and ends with the SHA-256 of all before it, checked\n"
	"when it is read. Give it to 'deltair diff' and 'deltair scan' with --known-good.\n"
	"info: check a set (or a hashdeep list) and print its counts as one JSON line.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE     the set to write (atomically); an existing FILE is replaced\n"
	"                        only if it is a known-good set (or empty)\n"
	"      --force           replace FILE whatever it holds (never an input)\n"
	"  -h, --help            this help\n"
	"\n"
	"Exit status: 0 written, 3 an input is not a .deb or hashdeep list or is damaged,\n"
	"others errors (see 'deltair help').\n";

/* Print o (stolen) as one line. */
static int
print_json(json_t *o)
{
	char *txt = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (txt == NULL) {
		fprintf(stderr, "deltair: known-good: out of memory\n");
		return EXIT_NOMEM;
	}
	printf("%s\n", txt);
	free(txt);
	return 0;
}

static int
kg_build(int argc, char **argv)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
					      { "force", no_argument, NULL, 'F' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct outfile_opts oo = { .kind = OUTFILE_KNOWNGOOD };
	struct kg_stats st = { 0 };
	struct dt_err err = { 0 };
	const char *out = NULL;
	struct kg *k;
	int c, rc;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'F': oo.force = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("known-good", argv, c);
		}
	}
	if (out == NULL)
		return cli_usage("known-good", "build needs -o SET.kg");
	if (optind >= argc)
		return cli_usage("known-good", "build needs at least one .deb, folder or list");
	oo.inputs = (const char *const *)(argv + optind);
	oo.ninputs = (size_t)(argc - optind);
	if (outfile_check(out, &oo, &err) < 0)
		return cli_fail("known-good", &err);
	k = kg_new();
	if (k == NULL) {
		dt_fail(&err, DT_ENOMEM, "out of memory");
		return cli_fail("known-good", &err);
	}
	for (int i = optind; i < argc; i++)
		if (kg_add_path(k, argv[i], &st, &err) < 0) {
			kg_free(k);
			return cli_fail("known-good", &err);
		}
	if (kg_seal(k, &err) < 0 || kg_save(k, out, &oo, &err) < 0) {
		kg_free(k);
		return cli_fail("known-good", &err);
	}
	rc = print_json(json_pack("{s:s, s:I, s:I, s:I, s:I}", "known_good", out, "debs",
				  (json_int_t)st.debs, "lists", (json_int_t)st.lists, "entries",
				  (json_int_t)kg_count(k), "skipped", (json_int_t)st.skipped));
	kg_free(k);
	return rc;
}

static int
kg_info(int argc, char **argv)
{
	struct dt_err err = { 0 };
	struct kg *k;
	json_t *o, *pk = json_object();
	size_t regular = 0, links = 0, dirs = 0;

	if (argc != 2)
		return cli_usage("known-good", "info needs one SET.kg");
	if (kg_load(argv[1], &k, &err) < 0) {
		json_decref(pk);
		return cli_fail("known-good", &err);
	}
	for (size_t i = 0; i < kg_count(k); i++) {
		const struct kg_entry *e = kg_get(k, i);
		regular += e->type == KG_REG;
		links += e->type == KG_LNK;
		dirs += e->type == KG_DIR;
		if (e->package[0])
			json_object_set_new(pk, e->package, json_true());
	}
	o = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "known_good", argv[1], "entries",
		      (json_int_t)kg_count(k), "files", (json_int_t)regular, "symlinks",
		      (json_int_t)links, "dirs", (json_int_t)dirs, "packages",
		      (json_int_t)json_object_size(pk));
	json_decref(pk);
	kg_free(k);
	return print_json(o);
}

int
cmd_known_good(int argc, char **argv)
{
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "build") == 0)
		return kg_build(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "info") == 0)
		return kg_info(argc - 1, argv + 1);
	return cli_usage("known-good", "expected 'build' or 'info'");
}

/* ---- the options of diff and scan ---- */

int
cli_prov_opt(const char *cmd, struct cli_prov_opts *o, int c, const char *arg)
{
	switch (c) {
	case CLI_OPT_KNOWN_GOOD:
		if (o->n == CLI_MAX_KNOWN_GOOD) {
			cli_usage(cmd, "too many --known-good (at most %d)", CLI_MAX_KNOWN_GOOD);
			return -1;
		}
		o->names[o->n] = arg;
		o->paths[o->n++] = arg;
		return 1;
	case CLI_OPT_KNOWN_GOOD_NAME:
		if (o->n == 0 || o->names[o->n - 1] != o->paths[o->n - 1]) {
			cli_usage(cmd, "--known-good-name names the --known-good just before it");
			return -1;
		}
		o->names[o->n - 1] = arg;
		return 1;
	case CLI_OPT_NO_PROVENANCE: o->off = 1; return 1;
	case CLI_OPT_UNEXPLAINED: o->unexplained = 1; return 1;
	}
	return 0;
}

int
cli_delta_opt(const char *cmd, struct cli_source_opts *so, struct cli_prov_opts *po, int c,
	      const char *arg)
{
	int x = cli_source_opt(cmd, so, c, arg);

	return x == 0 ? cli_prov_opt(cmd, po, c, arg) : x;
}

int
cli_prov_load(const char *cmd, struct cli_prov_opts *o)
{
	struct dt_err err = { 0 };

	if (o->off && (o->n || o->unexplained))
		return cli_usage(cmd, "--no-provenance goes with neither --known-good nor "
				      "--unexplained");
	for (size_t i = 0; i < o->n; i++)
		if (kg_load(o->paths[i], &o->sets[i], &err) < 0)
			return cli_fail(cmd, &err);
	return 0;
}

int
cli_prov_open(const char *cmd, const struct cli_prov_opts *o, struct source *s,
	      const struct htree *gold, const struct htree *cur, struct prov **out)
{
	struct dt_err err = { 0 };

	*out = NULL;
	if (o->off)
		return 0;
	if (prov_open(s, gold, cur, (const struct kg *const *)o->sets, o->names, o->n, out, &err) <
	    0)
		return cli_fail(cmd, &err);
	/* No package database and no set: nothing to explain with, so no provenance at all
	 * (rather than "not_packaged" on every change). */
	if (!prov_active(*out)) {
		prov_free(*out);
		*out = NULL;
	}
	return 0;
}

void
cli_prov_release(struct cli_prov_opts *o)
{
	for (size_t i = 0; i < o->n; i++) {
		kg_free(o->sets[i]);
		o->sets[i] = NULL;
	}
}

void
cli_summary_prov(json_t *sum, const struct prov *p)
{
	json_t *tool;

	if (p == NULL)
		return;
	tool = json_incref(json_object_get(sum, "tool"));
	json_object_del(sum, "tool");
	json_object_set_new(sum, "provenance", prov_summary(p));
	if (tool)
		json_object_set_new(sum, "tool", tool);
}
