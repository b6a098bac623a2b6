/*
 * main.c - runs the registered unit tests (all, or those whose name or file contains an
 * argument: `unit-tests htree`), each in a fresh temporary directory. Prints one line per
 * test, "ok NAME", "FAIL NAME" or "skip NAME: why", and then "N passed, N failed, N skipped".
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"

static struct t_case *cases;
static int cur_failed;
static const char *cur_skip;

void
t_register(struct t_case *c)
{
	struct t_case **pp = &cases;

	/* Keep registration order within a file, files in link order. */
	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
}

void
t_fail(const char *file, int line, const char *expr)
{
	fprintf(stderr, "  %s:%d: CHECK failed: %s\n", file, line, expr);
	cur_failed = 1;
}

void
t_skip(const char *why)
{
	cur_skip = why;
}

int
t_skipped(void)
{
	return cur_skip != NULL;
}

int
t_write(const char *path, const void *data, size_t n)
{
	FILE *fp = fopen(path, "wb");
	int ok;

	if (fp == NULL)
		return -1;
	ok = fwrite(data, 1, n, fp) == n;
	return (fclose(fp) == 0 && ok) ? 0 : -1;
}

char *
t_slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0, n = 0;

	if (fp == NULL)
		return NULL;
	for (;;) {
		if (n + 4097 > cap) {
			char *q = realloc(p, cap = cap * 2 + 8192);
			if (q == NULL) {
				free(p);
				fclose(fp);
				return NULL;
			}
			p = q;
		}
		size_t r = fread(p + n, 1, 4096, fp);
		n += r;
		if (r == 0)
			break;
	}
	fclose(fp);
	p[n] = '\0';
	if (len)
		*len = n;
	return p;
}

static int
is_dir(const char *p)
{
	struct stat sb;
	return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

const char *
t_top(void)
{
	static char top[PATH_MAX];
	const char *env = getenv("TOP");
	char probe[PATH_MAX + 16];
	ssize_t n;

	if (env && snprintf(probe, sizeof(probe), "%s/tests/unit", env) > 0 && is_dir(probe))
		return env;
	n = readlink("/proc/self/exe", top, sizeof(top) - 1);
	if (n <= 0)
		return NULL;
	top[n] = '\0';
	for (int i = 0; i < 3; i++) {
		char *slash = strrchr(top, '/');
		if (slash == NULL)
			return NULL;
		*slash = '\0';
	}
	snprintf(probe, sizeof(probe), "%s/tests/unit", top);
	return is_dir(probe) ? top : NULL;
}

const char *
t_shared(void)
{
	static char dir[PATH_MAX + 16];
	const char *env = getenv("SHARED"), *top;

	if (env && is_dir(env))
		return env;
	top = t_top();
	if (top == NULL)
		return NULL;
	snprintf(dir, sizeof(dir), "%s/../shared", top);
	return is_dir(dir) ? dir : NULL;
}

static int
selected(const struct t_case *c, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(c->name, argv[i]) || strstr(c->file, argv[i]))
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	int passed = 0, failed = 0, skipped = 0;
	char cwd[4096];
	const char *tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (struct t_case *c = cases; c; c = c->next) {
		char dir[4096];

		if (!selected(c, argc, argv))
			continue;
		snprintf(dir, sizeof(dir), "%s/deltair-unit-XXXXXX", tmpdir);
		if (mkdtemp(dir) == NULL || chdir(dir) != 0) {
			perror("mkdtemp");
			return 2;
		}
		cur_failed = 0;
		cur_skip = NULL;
		c->fn();
		if (chdir(cwd) != 0)
			return 2;
		if (cur_failed) {
			printf("FAIL unit/%s\n", c->name);
			failed++;
		} else if (cur_skip) {
			printf("skip unit/%s: %s\n", c->name, cur_skip);
			skipped++;
		} else {
			printf("ok unit/%s\n", c->name);
			passed++;
		}
		/* Leave a failed test's directory for a look; remove the rest. */
		if (!cur_failed) {
			char cmd[4200];
			snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
			if (system(cmd) != 0)
				fprintf(stderr, "cannot remove %s\n", dir);
		} else {
			fprintf(stderr, "  (files left in %s)\n", dir);
		}
	}
	printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	return failed ? 1 : 0;
}
