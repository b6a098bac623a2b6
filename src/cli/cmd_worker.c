/* cmd_worker.c - deltair worker: serve a queue of snapshot jobs (worker.h). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	OPT_CONFIG_KEYS,
	OPT_CHECK,
	OPT_ALLOW_LOCAL,
};

static const char usage_text[] =
	"usage: deltair worker --queue QUEUE [--output DEST] [options]\n"
	"       deltair worker --sweep [--region REGION]\n"
	"\n"
	"Take snapshot jobs from QUEUE and, for each, run 'deltair scan' of its evidence\n"
	"against its baseline in a child process with limits, then store events.jsonl.gz,\n"
	"summary.json, extracted/ and, last, COMPLETE under DEST/CASE/NAME/ (docs/worker.md).\n"
	"A job whose COMPLETE exists is acknowledged without running again. Whoever can\n"
	"queue jobs must not choose what the worker reads or writes: a job's output must be\n"
	"DEST or beneath it, and from a shared queue (sqs://, or a spool others may write)\n"
	"its evidence must be ebs://; else the job fails for good, before anything is read.\n"
	"JSON log lines on stderr. SIGTERM, SIGINT or SIGHUP: take no more jobs, give running\n"
	"ones back, exit 0.\n"
	"\n"
	"Options:\n"
	"  -q, --queue QUEUE     spool:DIR (a spool folder) or sqs://QUEUE_URL\n"
	"The job options below are the defaults of every job that does not say:\n" CLI_JOB_HELP
	"  -n, --concurrency N   jobs at once (default 1, at most 64)\n"
	"      --once            exit 0 when the queue is empty and no job runs\n"
	"      --baseline-cache DIR  keep baselines fetched from s3:// here (default: the\n"
	"                        scratch folder, emptied at exit)\n"
	"      --work-dir DIR    scratch folder (default: a new one in $TMPDIR, removed);\n"
	"                        beside a folder --output, results are moved, not copied\n"
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
	"      --config FILE     \"key = value\" lines (/etc/deltair/deltair.conf on the\n"
	"                        appliance; docs/worker.md): the command line wins\n"
	"      --config-keys     the keys --config knows, one a line\n"
	"      --allow-local-evidence  shared queues too may name local paths: evidence (a\n"
	"                        device, an image), baseline, rules, artifacts, known-good\n"
	"                        sets (default: ebs:// evidence, s3:// or the worker's\n"
	"                        baseline and sets, its rules)\n"
	"      --check           check the options and the config, then exit 0 (or 2)\n"
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
	int once, sweep, allow_local_evidence;
};

/*
 * --config FILE: the appliance's /etc/deltair/deltair.conf, "key = value" lines. A key is
 * an option's setting by another name (cfg_keys), applied through the same handler as the
 * command line, which wins. Lists are comma-separated ("none": the --no- option); numbers
 * are whole; a flag is yes (the option given) or no; an empty value, or a key the command
 * line gave, keeps the default.
 */
enum cfg_kind { CFG_STRING, CFG_NUMBER, CFG_LIST, CFG_FLAG /* yes or no */ };
static const struct cfg_key {
	const char *name;
	int opt;  /* the command line's option */
	int none; /* lists: the option of "none" */
	enum cfg_kind kind;
} cfg_keys[] = {
	{ "queue", 'q', 0, CFG_STRING },
	{ "output", 'o', 0, CFG_STRING },
	{ "baseline", 'b', 0, CFG_STRING },
	{ "case", 'c', 0, CFG_STRING },
	{ "region", CLI_OPT_REGION, 0, CFG_STRING },
	{ "read_mode", CLI_OPT_READ_MODE, 0, CFG_STRING },
	{ "rules", 'r', 'R', CFG_LIST },
	{ "artifacts", 'a', 'A', CFG_LIST },
	{ "known_good", CLI_OPT_JOB_KNOWN_GOOD, CLI_OPT_JOB_NO_KNOWN_GOOD, CFG_LIST },
	{ "memory_mb", CLI_OPT_MEMORY_MB, 0, CFG_NUMBER },
	{ "cpu_seconds", CLI_OPT_CPU_SECONDS, 0, CFG_NUMBER },
	{ "wall_seconds", CLI_OPT_WALL_SECONDS, 0, CFG_NUMBER },
	{ "open_files", CLI_OPT_OPEN_FILES, 0, CFG_NUMBER },
	{ "sse", OPT_SSE, 0, CFG_STRING },
	{ "sse_kms_key_id", OPT_SSE_KMS, 0, CFG_STRING },
	{ "concurrency", 'n', 0, CFG_NUMBER },
	{ "poll_seconds", OPT_POLL, 0, CFG_NUMBER },
	{ "lease_seconds", OPT_LEASE, 0, CFG_NUMBER },
	{ "max_receives", OPT_MAX_RECEIVES, 0, CFG_NUMBER },
	{ "attach_timeout", OPT_ATTACH_TIMEOUT, 0, CFG_NUMBER },
	{ "baseline_cache", OPT_BASELINE_CACHE, 0, CFG_STRING },
	{ "gold_cache", OPT_GOLD_CACHE, 0, CFG_STRING },
	{ "work_dir", OPT_WORK_DIR, 0, CFG_STRING },
	{ "host", OPT_HOST, 0, CFG_STRING },
	{ "allow_local_evidence", OPT_ALLOW_LOCAL, 0, CFG_FLAG },
};
#define CFG_NKEYS    (sizeof(cfg_keys) / sizeof(cfg_keys[0]))
#define CFG_MAX_LINE 4096

/* The config's values, one per key: the last line that sets it wins. */
struct config {
	char *val[CFG_NKEYS]; /* owned; NULL: not set, or set empty */
	unsigned line[CFG_NKEYS];
	int given[CFG_NKEYS]; /* the command line set it */
};

static void
config_release(struct config *c)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		free(c->val[i]);
}

/* The command line gave option opt: the config's key for it is not used. */
static void
config_mark(struct config *c, int opt)
{
	for (size_t i = 0; i < CFG_NKEYS; i++)
		if (cfg_keys[i].opt == opt || (cfg_keys[i].none && cfg_keys[i].none == opt))
			c->given[i] = 1;
}

static char *
trim(char *p)
{
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	n = strlen(p);
	while (n > 0 &&
	       (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\n' || p[n - 1] == '\r'))
		p[--n] = '\0';
	return p;
}

static int config_bad(const char *path, unsigned line, const char *fmt, ...) DT_PRINTF(3, 4);
static int
config_bad(const char *path, unsigned line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "deltair: worker: --config '%s': line %u: ", path, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* One "key = value" line (trimmed, not a comment) into c. */
static int
config_line(struct config *c, const char *path, unsigned n, char *line)
{
	char *eq = strchr(line, '='), *key = line, *v;
	size_t i;

	if (eq == NULL)
		return config_bad(path, n, "not 'key = value'");
	*eq = '\0';
	key = trim(key);
	v = trim(eq + 1);
	for (i = 0; i < CFG_NKEYS && strcmp(cfg_keys[i].name, key) != 0; i++)
		;
	if (i == CFG_NKEYS)
		return config_bad(path, n, "unknown key '%.64s'", key);
	for (const char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return config_bad(path, n, "a control character in the value of '%s'", key);
	if (cfg_keys[i].kind == CFG_NUMBER && *v && strspn(v, "0123456789") != strlen(v))
		return config_bad(path, n, "'%s' is not a whole number: '%.64s'", key, v);
	if (cfg_keys[i].kind == CFG_FLAG && *v && strcmp(v, "yes") != 0 && strcmp(v, "no") != 0)
		return config_bad(path, n, "'%s' is yes or no, not '%.64s'", key, v);
	free(c->val[i]);
	c->val[i] = NULL;
	c->line[i] = n;
	if (*v && (c->val[i] = strdup(v)) == NULL) {
		fprintf(stderr, "deltair: worker: out of memory\n");
		return EXIT_NOMEM;
	}
	return 0;
}

static int
config_read(struct config *c, const char *path)
{
	char line[CFG_MAX_LINE];
	unsigned n = 0;
	int rc = 0;
	FILE *fp = fopen(path, "r");

	if (fp == NULL) {
		fprintf(stderr, "deltair: worker: --config '%s': %s\n", path, strerror(errno));
		return EXIT_USAGE;
	}
	while (rc == 0 && fgets(line, sizeof(line), fp) != NULL) {
		char *l = line;
		n++;
		if (strchr(line, '\n') == NULL && !feof(fp)) {
			rc = config_bad(path, n, "longer than %d bytes", CFG_MAX_LINE - 1);
			break;
		}
		l = trim(l);
		if (*l != '\0' && *l != '#')
			rc = config_line(c, path, n, l);
	}
	if (rc == 0 && ferror(fp)) {
		fprintf(stderr, "deltair: worker: --config '%s': %s\n", path, strerror(errno));
		rc = EXIT_USAGE;
	}
	fclose(fp);
	return rc;
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

/* One setting, from the command line or the config: 0, an exit status, or -1 if c is not one. */
static int
setting(struct settings *s, struct cli_job_opts *jo, int c, const char *arg)
{
	int x = cli_job_opt("worker", jo, c, arg);

	if (x != 0)
		return x < 0 ? EXIT_USAGE : 0;
	switch (c) {
	case 'q': s->queue = arg; return 0;
	case 'n': return number("concurrency", arg, 1, WORKER_MAX_CONCURRENCY, &s->concurrency);
	case OPT_ONCE: s->once = 1; return 0;
	case OPT_BASELINE_CACHE: s->baseline_cache = arg; return 0;
	case OPT_WORK_DIR: s->work_dir = arg; return 0;
	case OPT_POLL: return number("poll", arg, 1, QUEUE_DEFAULT_WAIT, &s->poll);
	case OPT_LEASE: return number("lease", arg, 1, 12 * 3600, &s->lease);
	case OPT_MAX_RECEIVES: return number("max-receives", arg, 1, 1000, &s->max_receives);
	case OPT_HOST: s->host = arg; return 0;
	case OPT_BY_ID_DIR: s->by_id_dir = arg; return 0;
	case OPT_GOLD_CACHE: s->gold_cache = arg; return 0;
	case OPT_SSE: s->sse = arg; return 0;
	case OPT_SSE_KMS: s->sse_kms_key_id = arg; return 0;
	case OPT_SWEEP: s->sweep = 1; return 0;
	case OPT_ATTACH_HOOK: s->attach_hook = arg; return 0;
	case OPT_ATTACH_TIMEOUT: return number("attach-timeout", arg, 1, 3600, &s->attach_timeout);
	case OPT_ALLOW_LOCAL: s->allow_local_evidence = 1; return 0;
	}
	return -1;
}

/* The config's values the command line did not give, as if given (values stay in c). */
static int
config_apply(struct config *c, const char *path, struct settings *s, struct cli_job_opts *jo)
{
	for (size_t i = 0; i < CFG_NKEYS; i++) {
		const struct cfg_key *k = &cfg_keys[i];
		char *v = c->val[i], *item, *next;
		int rc = 0;

		if (v == NULL || c->given[i])
			continue;
		if (k->kind == CFG_FLAG)
			rc = strcmp(v, "yes") == 0 ? setting(s, jo, k->opt, NULL) : 0;
		else if (k->kind != CFG_LIST)
			rc = setting(s, jo, k->opt, v);
		else if (strcmp(v, "none") == 0)
			rc = setting(s, jo, k->none, NULL);
		else
			for (item = v; rc == 0 && item != NULL; item = next) {
				next = strchr(item, ',');
				if (next)
					*next++ = '\0';
				item = trim(item);
				if (*item)
					rc = setting(s, jo, k->opt, item);
			}
		if (rc != 0)
			return config_bad(path, c->line[i], "the value of '%s' (above)", k->name);
	}
	return 0;
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
		{ "config-keys", no_argument, NULL, OPT_CONFIG_KEYS },
		{ "check", no_argument, NULL, OPT_CHECK },
		{ "allow-local-evidence", no_argument, NULL, OPT_ALLOW_LOCAL },
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
	int check = 0;
	struct config cfg = { 0 };
	struct job defaults;
	int c, rc = 0;

	cli_job_opts_init(&jo);
	optind = 1;
	while ((c = getopt_long(argc, argv, ":q:n:c:b:o:r:a:h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG: config = optarg; continue;
		case OPT_CHECK: check = 1; continue;
		case OPT_CONFIG_KEYS:
			for (size_t i = 0; i < CFG_NKEYS; i++)
				puts(cfg_keys[i].name);
			return 0;
		case 'h': fputs(usage_text, stdout); return 0;
		}
		rc = setting(&s, &jo, c, optarg);
		if (rc < 0)
			return cli_bad_option("worker", argv, c);
		if (rc != 0)
			return rc;
		config_mark(&cfg, c);
	}
	if (argc != optind)
		return cli_usage("worker", "takes no arguments, not '%s'", argv[optind]);
	if (config && (rc = config_read(&cfg, config)) == 0)
		rc = config_apply(&cfg, config, &s, &jo);
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
		config_release(&cfg);
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
	wo.allow_local_evidence = s.allow_local_evidence;
	wo.attach.region = defaults.region;
	wo.attach.attach_hook = s.attach_hook;
	wo.attach.timeout_seconds = (unsigned)s.attach_timeout;
	/* SIGTERM cuts an attach's waits short; its cleanup still runs to the end. */
	wo.attach.cancel = &stop_flag;
	if (check) {
		job_free(&defaults);
		config_release(&cfg);
		return 0;
	}
	if (s.sweep) {
		rc = sweep(&wo.attach);
		job_free(&defaults);
		config_release(&cfg);
		return rc;
	}
	catch_stop();
	rc = worker_run(&wo, &st, &err) < 0 ? cli_fail("worker", &err) : 0;
	job_free(&defaults);
	config_release(&cfg);
	return rc;
}
