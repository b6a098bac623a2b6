/* datadir.c - where the installed rules/ and artifacts/ are. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
