/*
 * outfile.h - write a file under a temporary name and rename it into place.
 * Nothing half-written ever carries the final name: outfile_commit() flushes, fsyncs and
 * renames; outfile_release() unlinks the temporary file unless it was committed.
 * A path of "-" writes to stdout directly (no temporary file, commit only flushes).
 */
#ifndef DELTAIR_OUTFILE_H
#define DELTAIR_OUTFILE_H

#include <stdio.h>

#include "error.h"

struct outfile {
	FILE *fp;   /* write here */
	char *path; /* owned: the final name */
	char *tmp;  /* owned: the temporary name, NULL for stdout */
	int is_stdout;
	int committed;
};

/* Open "DIR/.NAME.XXXXXX" beside path (0644 less the umask), or stdout for "-". */
int outfile_open(struct outfile *of, const char *path, struct dt_err *err);
/* Flush, fsync, rename over path, fsync the directory. Reports ENOSPC and friends. */
int outfile_commit(struct outfile *of, struct dt_err *err);
/* Close and unlink the temporary file unless committed; safe on a zeroed struct. */
void outfile_release(struct outfile *of);

#endif
