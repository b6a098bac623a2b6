/* cmd_report.c - deltair report: the case view across hosts (report.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "report.h"

#include "banned.h"

static const char usage_text[] =
	"usage: deltair report [options] CASE_DIR\n"
	"\n"
	"Read the scan results of every host of a case - CASE_DIR/<name>/ as 'deltair worker'\n"
	"writes them: events.jsonl.gz, summary.json, COMPLETE - and write CASE_DIR/report.json\n"
	"and a self-contained CASE_DIR/report.html (no script, no network, nothing external):\n"
	"each changed path and each content hash with the hosts it is on, rarest first (a\n"
	"change on one host stands out; the same implant on 40 hosts is one line), YARA\n"
	"matches and row changes per host, and per host a bar chart of change classes and a\n"
	"histogram of change times (ctime). A folder without COMPLETE is listed as incomplete\n"
	"and not read; one whose events cannot be read is listed as unreadable.\n"
	"\n"
	"Options:\n"
	"  -o, --output DIR      write the two files into DIR (it must exist) instead\n"
	"      --force           replace files there that are not deltair reports\n"
	"  -h, --help            this help\n"
	"\n"
	"The paths of the two files are printed on stdout when they were written.\n"
	"Exit status: 0 every result folder was read, 8 the report was written but some\n"
	"folders were incomplete or unreadable (said on stderr), others errors (see\n"
	"'deltair help').\n";

static void
on_skip(void *ctx, const char *name, const char *why)
{
	(void)ctx;
	fputs("deltair: report: '", stderr);
	cli_put_escaped(stderr, name, strlen(name));
	fprintf(stderr, "': %s\n", why);
}

int
cmd_report(int argc, char **argv)
{
	static const struct option opts[] = { { "output", required_argument, NULL, 'o' },
					      { "force", no_argument, NULL, 'F' },
					      { "help", no_argument, NULL, 'h' },
					      { NULL, 0, NULL, 0 } };
	struct report_opts ro = { .on_skip = on_skip };
	struct report_stats st;
	struct dt_err err = { 0 };
	const char *dir;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': ro.out_dir = optarg; break;
		case 'F': ro.force = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("report", argv, c);
		}
	}
	if (argc - optind != 1)
		return cli_usage("report", "expected one CASE_DIR");
	ro.case_dir = argv[optind];
	if (*ro.case_dir == '\0' || (ro.out_dir && *ro.out_dir == '\0'))
		return cli_usage("report", "an empty folder name");
	dir = ro.out_dir ? ro.out_dir : ro.case_dir;
	if (report_check(&ro, &err) < 0 || report_write(&ro, &st, &err) < 0)
		return cli_fail("report", &err);
	printf("%s%sreport.json\n%s%sreport.html\n", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
	       dir, dir[strlen(dir) - 1] == '/' ? "" : "/");
	if (st.incomplete + st.unreadable) {
		fprintf(stderr,
			"deltair: report: %zu host(s) read; %zu result folder(s) incomplete, %zu "
			"unreadable: not in the report\n",
			st.hosts, st.incomplete, st.unreadable);
		return EXIT_INCOMPLETE;
	}
	return 0;
}
