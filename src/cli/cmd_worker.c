/* cmd_worker.c - deltair worker: serve a queue of snapshot jobs (worker.h). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "worker/job.h"
#include "worker/queue.h"
#include "worker/worker.h"

#include "banned.h"

enum {
	OPT_BASELINE_CACHE = 0x400,
	OPT_WORK_DIR,
	OPT_CONCURRENCY,
	OPT_ONCE,
	OPT_POLL,
	OPT_LEASE,
	OPT_MAX_RECEIVES,
	OPT_HOST,
	OPT_BY_ID_DIR,
	OPT_GOLD_CACHE,
	OPT_CONFIG,
	OPT_SSE,
	OPT_SSE_KMS,
	OPT_SWEEP,
	OPT_ATTACH_HOOK,
	OPT_ATTACH_TIMEOUT,
};

static const char usage_text[] =
	"usage: deltair worker --queue QUEUE [--output DEST] [options]\n"
	"       deltair worker --sweep [--region REGION]\n"
	"\n"
	"Take snapshot jobs from QUEUE and, for each, run 'deltair scan' of its evidence\n"
	"against its baseline in a child process with limits, then store events.jsonl.gz,\n"
	"summary.json, extracted/ and, last, COMPLETE under DEST/CASE/NAME/ (docs/worker.md).\n"
	"A job whose COMPLETE exists is acknowledged without running again. JSON log lines on\n"
	"stderr. SIGTERM, SIGINT or SIGHUP: take no more jobs, give running ones back, exit 0.\n"
	"\n"
	"Options:\n"
	"  -q, --queue QUEUE     spool:DIR (a spool folder) or sqs://QUEUE_URL\n"
	"The job options below are the defaults of every job that does not say:\n" CLI_JOB_HELP
	"  -n, --concurrency N   jobs at once (default 1, at most 64)\n"
	"      --once            exit 0 when the queue is empty and no job runs\n"
	"      --baseline-cache DIR  keep baselines fetched from s3:// here (default: the\n"
	"                        scratch folder, emptied at exit)\n"
	"      --work-dir DIR    scratch folder (default: a new one in $TMPDIR, removed)\n"
	"      --poll SECONDS    wait this long for a job when idle (default 20; with --once\n"
	"                        0: the queue is asked once; give SQS a long poll)\n"
	"      --lease SECONDS   a claim lasts this long without a heartbeat (default 300;\n"
	"                        heartbeats every third of it)\n"
	"      --max-receives N  spool: claims before a job goes to failed/ (default 3)\n"
	"      --host NAME       this worker's name in logs and results (default: hostname)\n"
	"      --attach-timeout SECONDS  attach mode: each wait for a volume (created,\n"
	"                        attached, detached, deleted) at most (default 300)\n"
	"      --sweep           delete the volumes of attach-mode workers that are gone\n"
	"                        (tagged deltair:worker, instance terminated), then exit\n"
	"      --by-id-dir DIR   attach mode: where attached volumes appear (tests)\n"
	"      --sse AES256|aws:kms  s3:// outputs: server-side encryption of every object\n"
	"      --sse-kms-key-id ID   with aws:kms: the KMS key (default: the account's)\n"
	"      --attach-hook CMD attach mode, tests only: after AttachVolume run CMD with\n"
	"                        sh -c, $1 the volume id, $2 its device (it plays udev)\n"
	"      --gold-cache DIR  jobs with changed_since: the gold block cache their scans\n"
	"                        share (scan --gold-cache): only changed blocks are fetched\n"
	"      --config FILE     a JSON object of these options (docs/worker.md); the\n"
	"                        command line wins\n"
	"  -h, --help            this help\n"
	"\n"
	"Exit status: 0 stopped (SIGTERM/SIGINT, or --once and the queue is empty); 2 usage;\n"
	"4 the queue or the scratch folder cannot be used; 7 network or queue service error.\n"
	"A failed job does not change it: see failed/ (spool), the FAILED record, the log.\n";

static volatile sig_atomic_t stop_flag;

static void
on_stop(int sig)
{
	(void)sig;
	stop_flag = 1;
}

/* SIGTERM, SIGINT, SIGHUP set the flag; no SA_RESTART, so a wait ends at once. */
static void
catch_stop(void)
{
	struct sigaction sa;
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP };

	cli_signals_release();
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

struct settings {
	const char *queue, *baseline_cache, *work_dir, *host, *by_id_dir, *attach_hook, *gold_cache;
	const char *sse, *sse_kms_key_id; /* s3:// outputs (store.h) */
	long long concurrency, poll, lease, max_receives, attach_timeout;
	int once, sweep;
};

static int
cfg_string(json_t *v, const char *key, const char **dst)
{
	if (!json_is_string(v))
		return cli_usage("worker", "--config: '%s' is not a string", key);
	if (*dst == NULL)
		*dst = json_string_value(v);
	return 0;
}

static int
cfg_number(json_t *v, const char *key, long long *dst)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return cli_usage("worker", "--config: '%s' is not a whole number", key);
	if (*dst == 0)
		*dst = json_integer_value(v);
	return 0;
}

static int
cfg_list(json_t *v, const char *key, const char **dst, size_t *n, int none)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v) || json_array_size(v) > CLI_JOB_MAX_PATHS)
		return cli_usage("worker", "--config: '%s' is not an array of paths", key);
	if (*n || none)
		return 0;
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e))
			return cli_usage("worker", "--config: '%s' is not an array of paths", key);
		dst[(*n)++] = json_string_value(e);
	}
	return 0;
}

/* Fill what the command line did not set from the config file's object. */
static int
apply_config(json_t *cfg, struct settings *s, struct cli_job_opts *jo)
{
	const char *key;
	json_t *v;
	int rc = 0;

	json_object_foreach(cfg, key, v)
	{
		if (strcmp(key, "queue") == 0)
			rc = cfg_string(v, key, &s->queue);
		else if (strcmp(key, "output") == 0)
			rc = cfg_string(v, key, &jo->output);
		else if (strcmp(key, "baseline") == 0)
			rc = cfg_string(v, key, &jo->baseline);
		else if (strcmp(key, "case") == 0)
			rc = cfg_string(v, key, &jo->case_id);
		else if (strcmp(key, "region") == 0)
			rc = cfg_string(v, key, &jo->region);
		else if (strcmp(key, "read_mode") == 0)
			rc = cfg_string(v, key, &jo->read_mode);
		else if (strcmp(key, "baseline_cache") == 0)
			rc = cfg_string(v, key, &s->baseline_cache);
		else if (strcmp(key, "work_dir") == 0)
			rc = cfg_string(v, key, &s->work_dir);
		else if (strcmp(key, "host") == 0)
			rc = cfg_string(v, key, &s->host);
		else if (strcmp(key, "by_id_dir") == 0)
			rc = cfg_string(v, key, &s->by_id_dir);
		else if (strcmp(key, "sse") == 0)
			rc = cfg_string(v, key, &s->sse);
		else if (strcmp(key, "sse_kms_key_id") == 0)
			rc = cfg_string(v, key, &s->sse_kms_key_id);
		else if (strcmp(key, "gold_cache") == 0)
			rc = cfg_string(v, key, &s->gold_cache);
		else if (strcmp(key, "concurrency") == 0)
			rc = cfg_number(v, key, &s->concurrency);
		else if (strcmp(key, "poll_seconds") == 0)
			rc = cfg_number(v, key, &s->poll);
		else if (strcmp(key, "lease_seconds") == 0)
			rc = cfg_number(v, key, &s->lease);
		else if (strcmp(key, "max_receives") == 0)
			rc = cfg_number(v, key, &s->max_receives);
		else if (strcmp(key, "rules") == 0)
			rc = cfg_list(v, key, jo->rules, &jo->nrules, jo->no_rules);
		else if (strcmp(key, "artifacts") == 0)
			rc = cfg_list(v, key, jo->artifacts, &jo->nartifacts, jo->no_artifacts);
		else if (strcmp(key, "limits") == 0 && json_is_object(v)) {
			json_t *l;
			const char *lk;
			json_object_foreach(v, lk, l)
			{
				long long *dst = strcmp(lk, "memory_mb") == 0     ? &jo->memory_mb
						 : strcmp(lk, "cpu_seconds") == 0 ? &jo->cpu_seconds
						 : strcmp(lk, "wall_seconds") == 0
							 ? &jo->wall_seconds
						 : strcmp(lk, "open_files") == 0 ? &jo->open_files
										 : NULL;
				if (dst == NULL)
					return cli_usage("worker", "--config: unknown limit '%s'",
							 lk);
				if ((rc = cfg_number(l, lk, dst)) != 0)
					return rc;
			}
		} else
			return cli_usage("worker", "--config: unknown key '%s'", key);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int
number(const char *name, const char *arg, long long lo, long long hi, long long *out)
{
	long long n = cli_number(arg);

	if (n < lo || n > hi)
		return cli_usage("worker", "--%s needs a number from %lld to %lld, not '%s'", name,
				 lo, hi, arg);
	*out = n;
	return 0;
}

/* --sweep: one line of counts on stdout. */
static int
sweep(const struct attach_options *ao)
{
	struct attach_sweep_stats ss;
	struct dt_err err = { 0 };
	int rc = attach_sweep(ao, 0, &ss, &err);

	printf("volumes of workers: %u; deleted: %u; kept (worker running): %u; failed: %u\n",
	       ss.seen, ss.deleted, ss.kept, ss.failed);
	return rc < 0 ? cli_fail("worker", &err) : 0;
}

int
cmd_worker(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "queue", required_argument, NULL, 'q' },
		{ "concurrency", required_argument, NULL, 'n' },
		{ "once", no_argument, NULL, OPT_ONCE },
		{ "baseline-cache", required_argument, NULL, OPT_BASELINE_CACHE },
		{ "work-dir", required_argument, NULL, OPT_WORK_DIR },
		{ "poll", required_argument, NULL, OPT_POLL },
		{ "lease", required_argument, NULL, OPT_LEASE },
		{ "max-receives", required_argument, NULL, OPT_MAX_RECEIVES },
		{ "host", required_argument, NULL, OPT_HOST },
		{ "by-id-dir", required_argument, NULL, OPT_BY_ID_DIR },
		{ "gold-cache", required_argument, NULL, OPT_GOLD_CACHE },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "sse", required_argument, NULL, OPT_SSE },
		{ "sse-kms-key-id", required_argument, NULL, OPT_SSE_KMS },
		{ "sweep", no_argument, NULL, OPT_SWEEP },
		{ "attach-hook", required_argument, NULL, OPT_ATTACH_HOOK },
		{ "attach-timeout", required_argument, NULL, OPT_ATTACH_TIMEOUT },
		{ "help", no_argument, NULL, 'h' },
		CLI_JOB_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct cli_job_opts jo;
	struct settings s = { 0 };
	struct worker_options wo = { 0 };
	struct worker_stats st;
	struct dt_err err = { 0 };
	const char *config = NULL;
	json_t *cfg = NULL;
	struct job defaults;
	int c, rc = 0;

	cli_job_opts_init(&jo);
	optind = 1;
	while ((c = getopt_long(argc, argv, ":q:n:c:b:o:r:a:h", opts, NULL)) != -1) {
		int x = cli_job_opt("worker", &jo, c, optarg);
		if (x < 0)
			return EXIT_USAGE;
		if (x > 0)
			continue;
		switch (c) {
		case 'q': s.queue = optarg; break;
		case 'n':
			rc = number("concurrency", optarg, 1, WORKER_MAX_CONCURRENCY,
				    &s.concurrency);
			break;
		case OPT_ONCE: s.once = 1; break;
		case OPT_BASELINE_CACHE: s.baseline_cache = optarg; break;
		case OPT_WORK_DIR: s.work_dir = optarg; break;
		case OPT_POLL: rc = number("poll", optarg, 1, QUEUE_DEFAULT_WAIT, &s.poll); break;
		case OPT_LEASE: rc = number("lease", optarg, 1, 12 * 3600, &s.lease); break;
		case OPT_MAX_RECEIVES:
			rc = number("max-receives", optarg, 1, 1000, &s.max_receives);
			break;
		case OPT_HOST: s.host = optarg; break;
		case OPT_BY_ID_DIR: s.by_id_dir = optarg; break;
		case OPT_GOLD_CACHE: s.gold_cache = optarg; break;
		case OPT_CONFIG: config = optarg; break;
		case OPT_SSE: s.sse = optarg; break;
		case OPT_SSE_KMS: s.sse_kms_key_id = optarg; break;
		case OPT_SWEEP: s.sweep = 1; break;
		case OPT_ATTACH_HOOK: s.attach_hook = optarg; break;
		case OPT_ATTACH_TIMEOUT:
			rc = number("attach-timeout", optarg, 1, 3600, &s.attach_timeout);
			break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("worker", argv, c);
		}
		if (rc != 0)
			return rc;
	}
	if (argc != optind)
		return cli_usage("worker", "takes no arguments, not '%s'", argv[optind]);
	if (config) {
		json_error_t je;
		cfg = json_load_file(config, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(cfg)) {
			fprintf(stderr, "deltair: worker: --config '%s': %s\n", config,
				cfg ? "not a JSON object" : je.text);
			json_decref(cfg);
			return EXIT_USAGE;
		}
		rc = apply_config(cfg, &s, &jo);
	}
	if (rc == 0 && s.queue == NULL && !s.sweep)
		rc = cli_usage("worker", "--queue is required");
	if (rc == 0 && s.sse && strcmp(s.sse, "AES256") != 0 && strcmp(s.sse, "aws:kms") != 0)
		rc = cli_usage("worker", "--sse is AES256 or aws:kms, not '%s'", s.sse);
	if (rc == 0 && s.sse_kms_key_id && (s.sse == NULL || strcmp(s.sse, "aws:kms") != 0))
		rc = cli_usage("worker", "--sse-kms-key-id needs --sse aws:kms");
	/* The defaults are checked as a job's fields are; the evidence is a stand-in. */
	if (rc == 0)
		rc = cli_job_parse("worker", &jo, "ebs://snap-00000000", NULL, &defaults, NULL);
	if (rc != 0) {
		json_decref(cfg);
		return rc;
	}
	wo.queue = s.queue;
	wo.defaults = &defaults;
	wo.work_dir = s.work_dir;
	wo.baseline_cache = s.baseline_cache;
	wo.host = s.host;
	wo.concurrency = (unsigned)s.concurrency;
	wo.poll_seconds = (unsigned)s.poll;
	wo.lease_seconds = (unsigned)s.lease;
	wo.max_receives = (unsigned)s.max_receives;
	wo.once = s.once;
	wo.log = stderr;
	wo.stop = &stop_flag;
	wo.attach.by_id_dir = s.by_id_dir;
	wo.sse = s.sse;
	wo.sse_kms_key_id = s.sse_kms_key_id;
	wo.gold_cache = s.gold_cache;
	wo.attach.region = defaults.region;
	wo.attach.attach_hook = s.attach_hook;
	wo.attach.timeout_seconds = (unsigned)s.attach_timeout;
	/* SIGTERM cuts an attach's waits short; its cleanup still runs to the end. */
	wo.attach.cancel = &stop_flag;
	if (s.sweep) {
		rc = sweep(&wo.attach);
		job_free(&defaults);
		json_decref(cfg);
		return rc;
	}
	catch_stop();
	rc = worker_run(&wo, &st, &err) < 0 ? cli_fail("worker", &err) : 0;
	job_free(&defaults);
	json_decref(cfg);
	return rc;
}
