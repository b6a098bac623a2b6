/* outfile.c - see outfile.h. */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "banned.h"

int
outfile_open(struct outfile *of, const char *path, struct dt_err *err)
{
	const char *slash, *base;
	size_t dirlen, n;
	mode_t mask;
	int fd;

	memset(of, 0, sizeof(*of));
	if (strcmp(path, "-") == 0) {
		of->fp = stdout;
		of->is_stdout = 1;
		return 0;
	}
	slash = strrchr(path, '/');
	base = slash ? slash + 1 : path;
	dirlen = slash ? (size_t)(slash - path) + 1 : 0;
	if (*base == '\0')
		return dt_fail(err, DT_EUSAGE, "'%s' names a directory, not a file", path);
	n = strlen(path) + 16;
	of->path = strdup(path);
	of->tmp = malloc(n);
	if (of->path == NULL || of->tmp == NULL) {
		outfile_release(of);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	snprintf(of->tmp, n, "%.*s.%s.XXXXXX", (int)dirlen, path, base);
	fd = mkstemp(of->tmp);
	if (fd < 0) {
		dt_fail_errno(err, DT_EIO, "cannot create a file beside '%s'", path);
		free(of->tmp);
		of->tmp = NULL;
		outfile_release(of);
		return -1;
	}
	/* mkstemp makes 0600; outputs are ordinary files, so honour the umask. */
	mask = umask(0);
	umask(mask);
	(void)fchmod(fd, 0666 & ~mask);
	of->fp = fdopen(fd, "w");
	if (of->fp == NULL) {
		dt_fail_errno(err, DT_EIO, "cannot open '%s'", of->tmp);
		close(fd);
		outfile_release(of);
		return -1;
	}
	return 0;
}

int
outfile_commit(struct outfile *of, struct dt_err *err)
{
	char *dir, *slash;
	int fd;

	if (of->is_stdout) {
		if (fflush(stdout) != 0 || ferror(stdout))
			return dt_fail_errno(err, DT_EIO, "cannot write to standard output");
		of->committed = 1;
		return 0;
	}
	if (fflush(of->fp) != 0 || ferror(of->fp))
		return dt_fail_errno(err, DT_EIO, "cannot write '%s'", of->path);
	if (fsync(fileno(of->fp)) != 0 && errno != EINVAL)
		return dt_fail_errno(err, DT_EIO, "cannot write '%s'", of->path);
	if (fclose(of->fp) != 0) {
		of->fp = NULL;
		return dt_fail_errno(err, DT_EIO, "cannot write '%s'", of->path);
	}
	of->fp = NULL;
	if (rename(of->tmp, of->path) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot rename into '%s'", of->path);
	of->committed = 1;
	/* Make the rename itself durable. */
	dir = strdup(of->path);
	if (dir) {
		slash = strrchr(dir, '/');
		if (slash)
			slash[slash == dir ? 1 : 0] = '\0';
		fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			(void)fsync(fd);
			close(fd);
		}
		free(dir);
	}
	return 0;
}

void
outfile_release(struct outfile *of)
{
	if (of == NULL)
		return;
	if (of->fp && !of->is_stdout)
		fclose(of->fp);
	if (of->tmp && !of->committed)
		unlink(of->tmp);
	free(of->tmp);
	free(of->path);
	memset(of, 0, sizeof(*of));
}
