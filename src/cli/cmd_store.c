/* cmd_store.c - deltair store put|get|exists|ls|rm: the worker's result stores by hand. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "outfile.h"
#include "worker/store.h"

#include "banned.h"

static const char usage_text[] =
	"usage: deltair store put [OPTIONS] STORE KEY FILE\n"
	"       deltair store get [--force] STORE KEY FILE\n"
	"       deltair store exists STORE KEY\n"
	"       deltair store ls STORE [PREFIX]\n"
	"       deltair store rm STORE PREFIX\n"
	"\n"
	"STORE is where 'deltair worker' keeps results and baselines: a folder, or\n"
	"s3://BUCKET[/PREFIX] (credentials, region and endpoint as in docs/aws.md).\n"
	"\n"
	"put     store FILE as KEY (S3: PutObject, or a multipart upload from the threshold on,\n"
	"        with x-amz-checksum-sha256; whole or absent, never half-written)\n"
	"get     copy KEY into FILE (0600, written under a temporary name and renamed); an\n"
	"        existing FILE is replaced only when empty, or with --force (never a link,\n"
	"        a device or a folder); FILE is checked before anything is fetched\n"
	"exists  exit 0 when KEY exists, 1 when not\n"
	"ls      the keys under PREFIX, one a line, sorted\n"
	"rm      delete every key under PREFIX\n"
	"\n"
	"Options (put):\n"
	"      --sse AES256|aws:kms    S3 server-side encryption\n"
	"      --sse-kms-key-id ID     the KMS key for aws:kms (default: the account's)\n"
	"      --multipart-threshold BYTES\n"
	"                              multipart upload from this size on (default 64 MiB);\n"
	"                              parts are the threshold's size up to 16 MiB, at least\n"
	"                              5 MiB\n"
	"Options (get):\n"
	"      --force                 replace FILE whatever regular file it is\n"
	"  -h, --help                  this help\n";

enum { OPT_SSE = 0x300, OPT_KMS, OPT_THRESHOLD, OPT_FORCE };

static int force_get;

static int
do_put(struct store *s, char **args)
{
	struct dt_err err = { 0 };

	if (store_put_file(s, args[0], args[1], &err) < 0)
		return cli_fail("store", &err);
	return 0;
}

static int
do_get(struct store *s, char **args)
{
	struct dt_err err = { 0 };

	const struct outfile_opts o = { .kind = OUTFILE_NEW, .force = force_get, .mode = 0600 };

	if (store_get_file(s, args[0], args[1], &o, &err) < 0)
		return cli_fail("store", &err);
	return 0;
}

static int
do_exists(struct store *s, char **args)
{
	struct dt_err err = { 0 };
	int rc = store_exists(s, args[0], &err);

	if (rc < 0)
		return cli_fail("store", &err);
	return rc == 1 ? 0 : 1;
}

static int
do_ls(struct store *s, char **args)
{
	struct dt_err err = { 0 };
	char **keys = NULL;
	size_t n = 0;

	if (store_list(s, args[0] ? args[0] : "", &keys, &n, &err) < 0)
		return cli_fail("store", &err);
	for (size_t i = 0; i < n; i++) {
		cli_put_escaped(stdout, keys[i], strlen(keys[i]));
		putchar('\n');
		free(keys[i]);
	}
	free(keys);
	if (fflush(stdout) != 0) {
		dt_fail_errno(&err, DT_EIO, "cannot write the list");
		return cli_fail("store", &err);
	}
	return 0;
}

static int
do_rm(struct store *s, char **args)
{
	struct dt_err err = { 0 };

	if (store_delete_prefix(s, args[0], &err) < 0)
		return cli_fail("store", &err);
	return 0;
}

int
cmd_store(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sse", required_argument, NULL, OPT_SSE },
		{ "sse-kms-key-id", required_argument, NULL, OPT_KMS },
		{ "multipart-threshold", required_argument, NULL, OPT_THRESHOLD },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	static const struct {
		const char *name;
		int min, max; /* arguments after STORE */
		int (*fn)(struct store *s, char **args);
	} verbs[] = {
		{ "put", 2, 2, do_put }, { "get", 2, 2, do_get }, { "exists", 1, 1, do_exists },
		{ "ls", 0, 1, do_ls },   { "rm", 1, 1, do_rm },
	};
	struct store_options so = { 0 };
	struct dt_err err = { 0 };
	struct store *s;
	char *args[3] = { NULL, NULL, NULL };
	size_t v;
	int c, nargs, rc;

	if (argc < 2)
		return cli_usage("store", "expected put, get, exists, ls or rm");
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	for (v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (strcmp(argv[1], verbs[v].name) == 0)
			break;
	if (v == sizeof(verbs) / sizeof(verbs[0]))
		return cli_usage("store", "no subcommand '%s' (put, get, exists, ls or rm)",
				 argv[1]);
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SSE: so.sse = optarg; break;
		case OPT_KMS: so.sse_kms_key_id = optarg; break;
		case OPT_THRESHOLD: {
			long long n = cli_number(optarg);
			if (n < 1)
				return cli_usage(
					"store",
					"--multipart-threshold needs a size in bytes, not '%s'",
					optarg);
			so.multipart_threshold = (uint64_t)n;
			break;
		}
		case OPT_FORCE: force_get = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("store", argv + 1, c);
		}
	}
	if ((so.sse || so.sse_kms_key_id || so.multipart_threshold) && verbs[v].fn != do_put)
		return cli_usage("store", "--sse, --sse-kms-key-id and --multipart-threshold are "
					  "for put");
	if (force_get && verbs[v].fn != do_get)
		return cli_usage("store", "--force is for get");
	nargs = argc - 1 - optind - 1;
	if (nargs < verbs[v].min || nargs > verbs[v].max)
		return cli_usage("store", "%s takes STORE and %d to %d arguments", verbs[v].name,
				 verbs[v].min, verbs[v].max);
	for (int i = 0; i < nargs; i++)
		args[i] = argv[1 + optind + 1 + i];
	if (store_open(argv[1 + optind], &so, &s, &err) < 0)
		return cli_fail("store", &err);
	rc = verbs[v].fn(s, args);
	store_close(s);
	return rc;
}
