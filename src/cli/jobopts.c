/* jobopts.c - the job options `deltair submit` gives a job and `deltair worker` takes as
 * the defaults of every job (cli.h). */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "worker/job.h"

#include "banned.h"

void
cli_job_opts_init(struct cli_job_opts *o)
{
	memset(o, 0, sizeof(*o));
}

static int
limit(const char *cmd, const char *name, const char *arg, long long max, long long *out)
{
	long long n = cli_number(arg);

	if (n < 0 || n > max) {
		cli_usage(cmd, "--%s needs a number from 0 to %lld, not '%s'", name, max, arg);
		return -1;
	}
	*out = n;
	return 1;
}

int
cli_job_opt(const char *cmd, struct cli_job_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'c': o->case_id = arg; return 1;
	case 'b': o->baseline = arg; return 1;
	case 'o': o->output = arg; return 1;
	case CLI_OPT_REGION: o->region = arg; return 1;
	case CLI_OPT_READ_MODE: o->read_mode = arg; return 1;
	case 'r':
	case 'a': {
		const char **v = c == 'r' ? o->rules : o->artifacts;
		size_t *n = c == 'r' ? &o->nrules : &o->nartifacts;
		if (*n == CLI_JOB_MAX_PATHS) {
			cli_usage(cmd, "too many --%s", c == 'r' ? "rules" : "artifacts");
			return -1;
		}
		v[(*n)++] = arg;
		return 1;
	}
	case CLI_OPT_JOB_KNOWN_GOOD:
		if (o->nknown_good == CLI_JOB_MAX_PATHS) {
			cli_usage(cmd, "too many --known-good");
			return -1;
		}
		o->known_good[o->nknown_good++] = arg;
		return 1;
	case CLI_OPT_JOB_NO_KNOWN_GOOD: o->no_known_good = 1; return 1;
	case 'R': o->no_rules = 1; return 1;
	case 'A': o->no_artifacts = 1; return 1;
	case CLI_OPT_MEMORY_MB: return limit(cmd, "memory-mb", arg, 1024 * 1024, &o->memory_mb);
	case CLI_OPT_CPU_SECONDS:
		return limit(cmd, "cpu-seconds", arg, 30 * 24 * 3600, &o->cpu_seconds);
	case CLI_OPT_WALL_SECONDS:
		return limit(cmd, "wall-seconds", arg, 30 * 24 * 3600, &o->wall_seconds);
	case CLI_OPT_OPEN_FILES: return limit(cmd, "open-files", arg, 1 << 20, &o->open_files);
	}
	return 0;
}

/* A local path as an absolute one: the worker may run elsewhere (another folder). */
static json_t *
path_value(const char *p)
{
	char abs[PATH_MAX], cwd[PATH_MAX];

	if (p[0] == '/' || strstr(p, "://") != NULL)
		return json_string(p);
	if (realpath(p, abs) != NULL)
		return json_string(abs);
	/* Not there yet (an output folder): relative to here. */
	if (getcwd(cwd, sizeof(cwd)) != NULL &&
	    snprintf(abs, sizeof(abs), "%s/%s", cwd, p) < (int)sizeof(abs))
		return json_string(abs);
	return json_string(p);
}

static json_t *
list_value(const char *const *v, size_t n, int none)
{
	json_t *a = json_array();

	for (size_t i = 0; a && !none && i < n; i++)
		json_array_append_new(a, path_value(v[i]));
	return a;
}

int
cli_job_parse(const char *cmd, const struct cli_job_opts *o, const char *evidence,
	      const struct job *defaults, struct job *out, char **text_out)
{
	json_t *j = json_object(), *l = json_object();
	struct dt_err err = { 0 };
	char *text;
	int r;

	json_object_set_new(j, "version", json_integer(JOB_VERSION));
	json_object_set_new(j, "evidence", path_value(evidence));
	if (o->case_id)
		json_object_set_new(j, "case", json_string(o->case_id));
	if (o->baseline)
		json_object_set_new(j, "baseline", path_value(o->baseline));
	if (o->output)
		json_object_set_new(j, "output", path_value(o->output));
	if (o->region)
		json_object_set_new(j, "region", json_string(o->region));
	if (o->read_mode)
		json_object_set_new(j, "read_mode", json_string(o->read_mode));
	if (o->changed_since)
		json_object_set_new(j, "changed_since", json_string(o->changed_since));
	if (o->nrules || o->no_rules)
		json_object_set_new(j, "rules", list_value(o->rules, o->nrules, o->no_rules));
	if (o->nartifacts || o->no_artifacts)
		json_object_set_new(j, "artifacts",
				    list_value(o->artifacts, o->nartifacts, o->no_artifacts));
	if (o->nknown_good || o->no_known_good)
		json_object_set_new(j, "known_good",
				    list_value(o->known_good, o->nknown_good, o->no_known_good));
	if (o->memory_mb)
		json_object_set_new(l, "memory_mb", json_integer(o->memory_mb));
	if (o->cpu_seconds)
		json_object_set_new(l, "cpu_seconds", json_integer(o->cpu_seconds));
	if (o->wall_seconds)
		json_object_set_new(l, "wall_seconds", json_integer(o->wall_seconds));
	if (o->open_files)
		json_object_set_new(l, "open_files", json_integer(o->open_files));
	if (json_object_size(l))
		json_object_set_new(j, "limits", l);
	else
		json_decref(l);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (text == NULL) {
		fprintf(stderr, "deltair: %s: out of memory\n", cmd);
		return EXIT_NOMEM;
	}
	r = job_parse(text, strlen(text), defaults, out, &err);
	if (r == 0 && text_out)
		*text_out = text;
	else
		free(text);
	if (r < 0) {
		/* The job's words ("job: 'case' ...") name the option's value. */
		fprintf(stderr, "deltair: %s: %s\n", cmd, err.msg);
		return EXIT_USAGE;
	}
	return 0;
}
