/*
 * main.c - deltair's command table and exit statuses. Each command lives in cmd_<name>.c,
 * parses its own options and calls the library.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "outfile.h"

#include "banned.h"

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);

static const struct command commands[] = {
	{ "baseline", cmd_baseline, "walk and hash an image into a .dtree hash-tree" },
	{ "diff", cmd_diff, "compare an image (or a .dtree) with a baseline; print the delta" },
	{ "scan", cmd_scan, "diff, then YARA, artifacts and osquery-table rows on the delta" },
	{ "artifacts", cmd_artifacts,
	  "list ForensicArtifacts definitions, or resolve them on an image" },
	{ "tree", cmd_tree, "inspect or export a .dtree (info, export)" },
	{ "mount", cmd_mount, "read-only FUSE view of an image (or only its delta)" },
	{ "submit", cmd_submit, "put a snapshot job on a queue (spool folder or SQS)" },
	{ "worker", cmd_worker, "serve a queue of snapshot jobs: scan each, store the results" },
	{ "known-good", cmd_known_good,
	  "build a known-good set from .deb files or hashdeep lists (build, info)" },
	{ "report", cmd_report, "the case view across hosts: report.json and report.html" },
	{ "store", cmd_store, "put, get, list or delete results in a folder or s3:// store" },
	{ "help", cmd_help, "list commands and exit statuses" },
	{ "version", cmd_version, "print the version" },
};

static const struct {
	int code;
	const char *meaning;
} exit_codes[] = {
	{ EXIT_NO_DELTA, "success; for diff and scan: no delta" },
	{ EXIT_DELTA, "diff and scan: a delta was found" },
	{ EXIT_USAGE, "usage error (bad option or arguments)" },
	{ EXIT_BADINPUT,
	  "bad input: not an image, no readable filesystem, damaged or foreign .dtree" },
	{ EXIT_IO, "I/O error: cannot read input or write output (e.g. no space left)" },
	{ EXIT_VERSION, ".dtree of an unsupported format version" },
	{ EXIT_NOMEM, "out of memory, or a size limit was exceeded" },
	{ EXIT_NET, "network or remote service error" },
	{ EXIT_INCOMPLETE,
	  "diff, scan, baseline: incomplete, some evidence could not be read\n"
	  "       (all output written; never read it as 'no delta'); report:\n"
	  "       written, but some hosts' results were incomplete or unreadable" },
	{ EXIT_BUG, "internal error (a bug: please report it)" },
};

void
cli_print_exit_codes(FILE *fp)
{
	fprintf(fp, "Exit status:\n");
	for (size_t i = 0; i < sizeof(exit_codes) / sizeof(exit_codes[0]); i++)
		fprintf(fp, "  %3d  %s\n", exit_codes[i].code, exit_codes[i].meaning);
	fprintf(fp, "  128+N  stopped by signal N: SIGHUP 129, SIGINT 130, SIGTERM 143 (temporary\n"
		    "       files removed first)\n");
}

int
cli_exit_code(const struct dt_err *err)
{
	switch (err->code) {
	case DT_OK: return EXIT_BUG;
	case DT_EUSAGE: return EXIT_USAGE;
	case DT_EIO: return EXIT_IO;
	case DT_EFORMAT: return EXIT_BADINPUT;
	case DT_EVERSION: return EXIT_VERSION;
	case DT_ENOMEM: return EXIT_NOMEM;
	case DT_ENET: return EXIT_NET;
	case DT_EBUG: return EXIT_BUG;
	}
	return EXIT_BUG;
}

int
cli_fail(const char *cmd, const struct dt_err *err)
{
	fprintf(stderr, "deltair: %s: %s\n", cmd,
		err->code != DT_OK ? err->msg : "failed for an unknown reason");
	return cli_exit_code(err);
}

int
cli_diff_status(const char *cmd, const struct diff_stats *ds, uint64_t read_errors)
{
	uint64_t total = 0;

	for (int k = 0; k < DIFF_NCLASSES; k++)
		total += ds->count[k];
	if (diff_complete(ds, read_errors))
		return total ? EXIT_DELTA : EXIT_NO_DELTA;
	fprintf(stderr,
		"deltair: %s: incomplete: %llu read error(s), %llu file(s) of unknown content; "
		"the delta (%llu change(s)) may miss what was not read\n",
		cmd, (unsigned long long)read_errors, (unsigned long long)ds->unread,
		(unsigned long long)total);
	return EXIT_INCOMPLETE;
}

int
cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "deltair: %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'deltair %s --help'.\n", cmd);
	return EXIT_USAGE;
}

int
cli_bad_option(const char *cmd, char **argv, int c)
{
	const char *arg = optind > 1 ? argv[optind - 1] : "";

	if (c == ':')
		return cli_usage(cmd, "option '%s' needs a value", arg);
	if (optopt && !(arg[0] == '-' && arg[1] == '-'))
		return cli_usage(cmd, "unknown option '-%c'", optopt);
	return cli_usage(cmd, "unknown option '%s'", arg);
}

long long
cli_number(const char *s)
{
	char *end;
	long long v;

	if (s == NULL || *s == '\0' || *s == '-')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10); /* decimal: "010" is ten, not eight */
	return (*end == '\0' && errno == 0) ? v : -1;
}

void
cli_progress_init(struct cli_progress *p, const char *cmd, int wanted)
{
	p->cmd = cmd;
	p->enabled = wanted && isatty(STDERR_FILENO);
	p->shown = 0;
}

void
cli_progress_cb(void *ctx, const struct walk_progress *wp)
{
	struct cli_progress *p = ctx;
	/* Between filesystems, or hashing once every metadata walk is over: no fs name. */
	const char *fs = wp->fs && *wp->fs ? wp->fs : "hashing";
	double mb = (double)wp->bytes_done / 1e6, rate = wp->elapsed > 0 ? mb / wp->elapsed : 0;

	if (p == NULL || !p->enabled)
		return;
	if (wp->bytes_total > 0 && rate > 0)
		fprintf(stderr,
			"\r\033[Kdeltair: %s: %s: %llu entries, %.0f/%.0f MB hashed, %.0f MB/s, "
			"ETA %.0f s",
			p->cmd, fs, (unsigned long long)wp->entries, mb,
			(double)wp->bytes_total / 1e6, rate,
			((double)wp->bytes_total / 1e6 - mb) / rate);
	else
		fprintf(stderr, "\r\033[Kdeltair: %s: %s: %llu entries, %.0f MB hashed", p->cmd, fs,
			(unsigned long long)wp->entries, mb);
	p->shown = 1;
}

void
cli_progress_done(struct cli_progress *p)
{
	if (p->enabled && p->shown)
		fprintf(stderr, "\r\033[K");
	p->shown = 0;
}

static void
usage(FILE *fp)
{
	fprintf(fp,
		"usage: deltair <command> [options] [args]\n\n"
		"deltair baselines a gold disk image into a Merkle hash-tree and reports what an\n"
		"incident image changed against it.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(fp, "\nRun 'deltair <command> --help' for a command's options.\n\n");
	cli_print_exit_codes(fp);
}

static int
cmd_help(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc > 1) {
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (strcmp(argv[1], commands[i].name) == 0 && commands[i].fn != cmd_help) {
				char *args[] = { argv[1], "--help", NULL };
				return commands[i].fn(2, args);
			}
		return cli_usage("help", "no command '%s'", argv[1]);
	}
	usage(stdout);
	return 0;
}

static int
cmd_version(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: deltair version\n\nPrint deltair's version.\n");
		return 0;
	}
	if (argc > 1)
		return cli_usage("version", "takes no arguments, not '%s'", argv[1]);
	printf("deltair %s\n", DELTAIR_VERSION);
	return 0;
}

/* SIGINT, SIGTERM, SIGHUP: no temporary file is left behind; exit 128+signal. */
static void
on_signal(int sig)
{
	outfile_unlink_tracked();
	_exit(128 + sig);
}

static const int caught[] = { SIGINT, SIGTERM, SIGHUP };
static struct sigaction before[sizeof(caught) / sizeof(caught[0])];

static void
catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigfillset(&sa.sa_mask); /* one handler at a time */
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++) {
		/* An ignored signal (nohup) stays ignored. */
		if (sigaction(caught[i], NULL, &before[i]) == 0 && before[i].sa_handler == SIG_IGN)
			continue;
		sigaction(caught[i], &sa, NULL);
	}
}

void
cli_signals_release(void)
{
	for (size_t i = 0; i < sizeof(caught) / sizeof(caught[0]); i++)
		sigaction(caught[i], &before[i], NULL);
}

int
main(int argc, char **argv)
{
	opterr = 0; /* getopt's own messages would carry a second prefix: cli_bad_option() */
	catch_signals();
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
		return cmd_help(1, argv + 1);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv + 1);
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "deltair: '%s' is not a command; see 'deltair help'\n", argv[1]);
	return EXIT_USAGE;
}
