/* cmd_submit.c - deltair submit: put one snapshot job on a queue (worker.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "worker/job.h"
#include "worker/worker.h"

#include "banned.h"

enum { OPT_CHANGED_SINCE = 0x400 };

static const char usage_text[] =
	"usage: deltair submit --queue QUEUE [options] EVIDENCE\n"
	"\n"
	"Put a job on QUEUE for 'deltair worker': scan EVIDENCE (ebs://snap-ID, or a local\n"
	"image or device path, made absolute) against a baseline and store the results under\n"
	"OUTPUT/CASE/NAME/ (docs/worker.md). The job is checked as the worker checks it, and\n"
	"its id is printed on stdout. What the job does not say, the worker's options say.\n"
	"\n"
	"Options:\n"
	"  -q, --queue QUEUE     spool:DIR (a spool folder) or sqs://QUEUE_URL\n" CLI_JOB_HELP
	"      --changed-since SNAP  ebs://: SNAP is the gold snapshot the baseline was made\n"
	"                        from; files in no block changed since it are not read\n"
	"  -h, --help            this help\n"
	"\n"
	"Exit status: 0 queued; 2 usage or a job the worker would refuse; 4 the queue\n"
	"could not be written; 7 network or queue service error.\n";

int
cmd_submit(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "changed-since", required_argument, NULL, OPT_CHANGED_SINCE },
		{ "help", no_argument, NULL, 'h' },
		CLI_JOB_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_job_opts jo;
	const char *queue = NULL;
	struct dt_err err = { 0 };
	struct job j;
	char *id = NULL, *text = NULL;
	int c, rc;

	cli_job_opts_init(&jo);
	optind = 1;
	while ((c = getopt_long(argc, argv, ":q:c:b:o:r:a:h", opts, NULL)) != -1) {
		int x = cli_job_opt("submit", &jo, c, optarg);
		if (x < 0)
			return EXIT_USAGE;
		if (x > 0)
			continue;
		switch (c) {
		case 'q': queue = optarg; break;
		case OPT_CHANGED_SINCE: jo.changed_since = optarg; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("submit", argv, c);
		}
	}
	if (queue == NULL)
		return cli_usage("submit", "--queue is required");
	if (argc - optind != 1)
		return cli_usage("submit", "needs one EVIDENCE");
	/* What is sent is what was given: the worker's defaults fill the rest. */
	rc = cli_job_parse("submit", &jo, argv[optind], NULL, &j, &text);
	if (rc != 0)
		return rc;
	job_free(&j);
	rc = worker_submit(queue, text, &id, &err);
	free(text);
	if (rc < 0)
		return cli_fail("submit", &err);
	printf("%s\n", id);
	free(id);
	return 0;
}
