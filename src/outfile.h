/*
 * outfile.h - every file deltair writes goes through here: one rule for what may be written.
 *
 * Where an output may go (outfile_check(), also done by outfile_open()):
 *   "-"                        standard output, unless it is a block device or an input;
 *   nothing there yet          created, if its folder exists and is writable;
 *   a character device, FIFO   written through (opened, never replaced): /dev/null, a pipe;
 *   a regular file             replaced only when it is empty or already a deltair output of
 *                              the same kind (a .dtree by its magic, JSON Lines by its first
 *                              line, ...), or with force;
 *   anything else              refused: a symbolic link, a block device, a folder, a socket.
 * Never onto one of the run's inputs (same device and inode), force or not.
 *
 * A regular file is written under a temporary name and renamed into place: nothing
 * half-written ever carries the final name. outfile_commit() flushes, fsyncs and renames;
 * outfile_release() unlinks the temporary file unless it was committed.
 *
 * Temporary files are tracked (outfile_track()) so that a signal handler can remove them:
 * outfile_unlink_tracked() is async-signal-safe.
 */
#ifndef DELTAIR_OUTFILE_H
#define DELTAIR_OUTFILE_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "error.h"

/* What an existing regular file must already be for an output of this kind to replace it. */
enum outfile_kind {
	OUTFILE_DTREE,       /* starts with the .dtree magic */
	OUTFILE_JSONL,       /* JSON Lines: the first line is a JSON object */
	OUTFILE_HASHDEEP,    /* starts with "%%%% HASHDEEP-1.0" */
	OUTFILE_BODYFILE,    /* a TSK 3 body file: deltair's header, or a first line of 11 fields */
	OUTFILE_REPORT_JSON, /* starts with OUTFILE_REPORT_JSON_MAGIC */
	OUTFILE_REPORT_HTML, /* starts with OUTFILE_REPORT_HTML_MAGIC */
	OUTFILE_KNOWNGOOD,   /* a known-good set: starts with KG_MAGIC (knowngood.h) */
	OUTFILE_NEW,         /* of no kind deltair can tell: an existing one only if empty */
};

/* The first bytes of deltair's case reports (report.h), which tell them apart. */
#define OUTFILE_REPORT_JSON_MAGIC "{\"report\":\"deltair case report\""
#define OUTFILE_REPORT_HTML_MAGIC "<!DOCTYPE html>\n<!-- deltair case report -->\n"

struct outfile_opts {
	enum outfile_kind kind;
	int force;                 /* replace any regular file (never an input) */
	mode_t mode;               /* 0: 0666 less the umask; else exactly this, e.g. 0600 */
	const char *const *inputs; /* borrowed: files the run reads, NULL entries skipped */
	size_t ninputs;
};

struct outfile {
	FILE *fp;   /* write here */
	char *path; /* owned: the final name */
	char *tmp;  /* owned: the temporary name, NULL for stdout or a write-through */
	int slot;   /* outfile_track() slot of tmp, or -1 */
	int is_stdout;
	int committed;
};

/*
 * Whether path may be written under o (see the top of this file), without creating or
 * opening anything: commands call it before they read evidence, so that a wrong output
 * fails in a second, not after hours. Refusals: DT_EUSAGE; a missing or unwritable
 * folder: DT_EIO.
 */
int outfile_check(const char *path, const struct outfile_opts *o, struct dt_err *err) DT_MUST_USE;
/* outfile_check(), then open: stdout, the device or FIFO itself, or "DIR/.NAME.XXXXXX". */
int outfile_open(struct outfile *of, const char *path, const struct outfile_opts *o,
		 struct dt_err *err) DT_MUST_USE;
/* Flush; for a temporary file also fsync, rename over path, fsync the directory. */
int outfile_commit(struct outfile *of, struct dt_err *err) DT_MUST_USE;
/* Close and unlink the temporary file unless committed; safe on a zeroed struct. */
void outfile_release(struct outfile *of);

/* Write all n bytes of p to fd (EINTR retried): 0, or -1 with errno set. */
int outfile_write_all(int fd, const void *p, size_t n) DT_MUST_USE;

/*
 * A file of deltair's own in a folder of its own (a spool's, a store's, the gold cache's),
 * where none of the rules above applies and the file at the final name is simply replaced:
 * outfile_tmp_open() makes "OUTFILE_TMP_PREFIX<random>" (0600, O_EXCL, no link followed)
 * beside name, both relative to dirfd (AT_FDCWD: to the working folder), and tracks it, so
 * that a signal removes it; write to t->fd; outfile_tmp_commit() closes it (fsync first with
 * sync) and, when ok, renames it over name, else (or when that fails) unlinks it. Readers of
 * such folders skip names that start with OUTFILE_TMP_PREFIX. 0, or -1 with errno set.
 */
#define OUTFILE_TMP_PREFIX ".deltair-tmp-"
struct outfile_tmp {
	int fd;              /* write here */
	int dirfd;           /* borrowed */
	int slot;            /* outfile_track() slot, or -1 */
	char name[PATH_MAX]; /* the temporary name, relative to dirfd */
};
int outfile_tmp_open(struct outfile_tmp *t, int dirfd, const char *name) DT_MUST_USE;
int outfile_tmp_commit(struct outfile_tmp *t, const char *name, int ok, int sync) DT_MUST_USE;

/*
 * Remember a temporary file (name relative to dirfd, or AT_FDCWD) until outfile_untrack():
 * a slot number, or -1 when the name is too long or OUTFILE_MAX_TRACKED are in use.
 * Thread-safe. dirfd must stay open until outfile_untrack().
 */
#define OUTFILE_MAX_TRACKED 32
int outfile_track(int dirfd, const char *name);
/* Forget a slot (-1 is a no-op). */
void outfile_untrack(int slot);
/* Unlink every tracked file. Async-signal-safe: for SIGINT, SIGTERM and SIGHUP handlers. */
void outfile_unlink_tracked(void);

#endif
