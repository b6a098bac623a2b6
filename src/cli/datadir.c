/* datadir.c - where the installed rules/ and artifacts/ are, and the default artifact set. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts.h"
#include "cli.h"

#include "banned.h"

static int
is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int
cli_data_path(const char *what, char *out, size_t n)
{
	const char *env = getenv("DELTAIR_DATADIR");
	char exe[PATH_MAX], *slash;
	ssize_t len;

	/* $DELTAIR_DATADIR, then the install prefix, then beside the binary: an installed tree
	 * (PREFIX/share/deltair) or a build tree (build/deltair, build/rel/deltair). */
	if (env && *env) {
		snprintf(out, n, "%s/%s", env, what);
		if (is_dir(out))
			return 0;
	}
	snprintf(out, n, "%s/%s", DELTAIR_DATADIR, what);
	if (is_dir(out))
		return 0;
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		exe[len] = '\0';
		for (int up = 0; up < 3; up++) {
			slash = strrchr(exe, '/');
			if (slash == NULL)
				break;
			*slash = '\0';
			snprintf(out, n, "%s/%s", exe, what);
			if (is_dir(out))
				return 0;
			/* PREFIX/bin/deltair with PREFIX/share/deltair/, wherever PREFIX moved. */
			snprintf(out, n, "%s/share/deltair/%s", exe, what);
			if (is_dir(out))
				return 0;
		}
	}
	return -1;
}

/* Where Debian's forensic-artifacts package puts upstream's definitions. */
#define UPSTREAM_ARTIFACTS "/usr/share/artifacts"
#define MAX_MISSING_SHOWN  10

/* Group members that name no loaded definition: said, since they silently cover nothing. */
static void
warn_missing_members(const char *cmd, const struct artifacts *a)
{
	size_t shown = 0, total = 0;

	for (size_t i = 0; i < artifacts_count(a); i++)
		for (size_t j = 0; j < artifacts_member_count(a, i); j++) {
			const char *m = artifacts_member(a, i, j);

			if (artifacts_find(a, m) != ARTIFACTS_NONE)
				continue;
			if (shown++ < MAX_MISSING_SHOWN)
				fprintf(stderr,
					"deltair: %s: warning: artifact group '%s' names '%s', "
					"which no loaded file defines\n",
					cmd, artifacts_name(a, i), m);
			total++;
		}
	if (total > MAX_MISSING_SHOWN)
		fprintf(stderr, "deltair: %s: warning: %zu more undefined group members\n", cmd,
			total - MAX_MISSING_SHOWN);
}

int
cli_load_artifacts(const char *cmd, const char *const *paths, size_t n, struct artifacts **out,
		   struct artifacts_stats *st)
{
	const char *env = getenv("DELTAIR_ARTIFACTS_UPSTREAM"), *def[2];
	char own[4096];
	struct dt_err err = { 0 };
	size_t nd = 0;

	*out = NULL;
	if (n == 0) {
		const char *up = env && *env ? env : UPSTREAM_ARTIFACTS;

		if (is_dir(up))
			def[nd++] = up;
		else
			fprintf(stderr,
				"deltair: %s: warning: no upstream ForensicArtifacts in '%s' "
				"(install the forensic-artifacts package): only deltair's own "
				"definitions are used\n",
				cmd, up);
		if (cli_data_path("artifacts", own, sizeof(own)) == 0)
			def[nd++] = own;
		if (nd == 0)
			return cli_usage(cmd, "no artifact definitions found; give --artifacts");
		paths = def;
		n = nd;
	}
	if (artifacts_load(paths, n, out, st, &err) < 0)
		return cli_fail(cmd, &err);
	warn_missing_members(cmd, *out);
	return 0;
}
