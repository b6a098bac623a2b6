/*
 * spawn.c - a job's scan in a child process: `deltair scan` with the job's options, under
 * the job's limits, in its own process group, dying with the worker. See worker_int.h.
 */
#include "worker/worker_int.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "banned.h"

#define WORKER_MAX_ARGS (16 + 4 * 256 + 4 * 32) /* rules, artifacts; known-good sets */

static void
set_limit(int resource, rlim_t v)
{
	struct rlimit rl = { v, v };
	setrlimit(resource, &rl);
}

/* In the child: limits, own process group, outputs, then exec. Never returns. */
static void
child_exec(struct worker *w, struct slot *s, char **argv)
{
	const struct job_limits *l = &s->job.limits;
	pid_t parent = getppid();
	sigset_t none;
	int fd;
	char *log = NULL;

	setpgid(0, 0);
	/* Die with the worker: a kill -9 of the worker must not leave scans behind. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (l->memory_bytes)
		set_limit(RLIMIT_AS, (rlim_t)l->memory_bytes);
	if (l->cpu_seconds)
		set_limit(RLIMIT_CPU, (rlim_t)l->cpu_seconds);
	if (l->open_files)
		set_limit(RLIMIT_NOFILE, (rlim_t)l->open_files);
	fd = open("/dev/null", O_RDONLY);
	if (fd >= 0) {
		dup2(fd, 0);
		close(fd);
	}
	if (asprintf(&log, "%s/scan.log", s->dir) >= 0) {
		fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
	}
	execv(w->exe, argv);
	_exit(127);
}

static int
add_arg(char **argv, size_t *n, const char *a)
{
	if (*n + 2 > WORKER_MAX_ARGS)
		return -1;
	argv[(*n)++] = (char *)a;
	argv[*n] = NULL;
	return 0;
}

/* Start the scan of s's job. */
int
worker_spawn(struct worker *w, struct slot *s, const char *evidence, struct dt_err *err)
{
	char **argv = calloc(WORKER_MAX_ARGS, sizeof(*argv));
	char *events = NULL, *extract = NULL;
	size_t n = 0;
	int bad = 0;
	pid_t pid;

	if (argv == NULL || asprintf(&events, "%s/events.jsonl", s->dir) < 0 ||
	    asprintf(&extract, "%s/extract", s->dir) < 0) {
		free(argv);
		free(events);
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	}
	bad |= add_arg(argv, &n, "deltair");
	bad |= add_arg(argv, &n, "scan");
	bad |= add_arg(argv, &n, "--no-progress");
	bad |= add_arg(argv, &n, "--baseline");
	bad |= add_arg(argv, &n, s->baseline);
	bad |= add_arg(argv, &n, "--output");
	bad |= add_arg(argv, &n, events);
	bad |= add_arg(argv, &n, "--extract");
	bad |= add_arg(argv, &n, extract);
	if (s->job.rules && s->job.nrules == 0)
		bad |= add_arg(argv, &n, "--no-rules");
	for (size_t i = 0; i < s->job.nrules; i++) {
		bad |= add_arg(argv, &n, "--rules");
		bad |= add_arg(argv, &n, s->job.rules[i]);
	}
	if (s->job.artifacts && s->job.nartifacts == 0)
		bad |= add_arg(argv, &n, "--no-artifacts");
	for (size_t i = 0; i < s->job.nartifacts; i++) {
		bad |= add_arg(argv, &n, "--artifacts");
		bad |= add_arg(argv, &n, s->job.artifacts[i]);
	}
	for (size_t i = 0; i < s->nknown_good; i++) {
		bad |= add_arg(argv, &n, "--known-good");
		bad |= add_arg(argv, &n, s->known_good[i]);
		/* Events name a fetched set by its URL, not the cache's file. */
		if (strcmp(s->known_good[i], s->job.known_good[i]) != 0) {
			bad |= add_arg(argv, &n, "--known-good-name");
			bad |= add_arg(argv, &n, s->job.known_good[i]);
		}
	}
	/* Reads proportional to the delta (job.c allows it for ebs:// evidence only). */
	if (s->job.changed_since) {
		bad |= add_arg(argv, &n, "--changed-since");
		bad |= add_arg(argv, &n, s->job.changed_since);
		if (w->o->gold_cache) {
			bad |= add_arg(argv, &n, "--gold-cache");
			bad |= add_arg(argv, &n, w->o->gold_cache);
		}
	}
	/* "--" so that evidence named "-x" is a path, not an option. */
	bad |= add_arg(argv, &n, "--");
	bad |= add_arg(argv, &n, evidence);
	if (bad) {
		free(argv);
		free(events);
		free(extract);
		return dt_fail(err, DT_EUSAGE, "job: too many rules, artifacts or known-good sets");
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0)
		child_exec(w, s, argv);
	free(argv);
	free(events);
	free(extract);
	if (pid < 0)
		return dt_fail_errno(err, DT_EIO, "worker: fork");
	/* Also here: the parent may kill the group before the child ran setpgid(). */
	setpgid(pid, pid);
	s->pid = pid;
	return 0;
}

/* The scan's evidence argument for the job; attach mode attaches the volume first. */
int
worker_evidence_spec(struct worker *w, struct slot *s, char **spec, struct dt_err *err)
{
	const struct job *j = &s->job;
	int r;

	*spec = NULL;
	if (j->snapshot == NULL)
		r = asprintf(spec, "%s", j->evidence);
	else if (j->read_mode == JOB_READ_ATTACH)
		return attach_open(j, &w->o->attach, &s->att, spec, err);
	else if (j->region)
		r = asprintf(spec, "ebs://%s/%s", j->region, j->snapshot);
	else
		r = asprintf(spec, "ebs://%s", j->snapshot);
	return r < 0 ? dt_fail(err, DT_ENOMEM, "worker: out of memory") : 0;
}
