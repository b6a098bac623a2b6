/*
 * decomp.h - recursive decomposition of archives and compressed streams (libarchive):
 * the members of a changed file, and of the archives among them, handed one by one to the
 * caller with their SHA-256 and their bytes, within bounds that a hostile archive cannot
 * get past.
 *
 * Build: decomp_new() once per run with its limits; decomp_file() per file (one thread at
 * a time per struct decomp); decomp_free(). The run's counters are in decomp_stats().
 *
 * Formats: tar (all of libarchive's dialects), cpio, zip, ar, and single compressed streams
 * (gzip, bzip2, xz, lzma, zstd), each through libarchive's own readers; compression filters
 * stack (x.tar.gz, x.gz.xz). A file is opened only when its first bytes are one of those
 * formats' magic, so a text file is never taken for an archive. Filters that libarchive
 * would run as an external program are not enabled: nothing is ever executed.
 *
 * Where the bytes go: the outer file is read through the caller's callback (from the
 * evidence; never written anywhere). Each member is spooled once, in memory up to
 * DECOMP_MEM_SPOOL bytes and beyond that in an unnamed temporary file (O_TMPFILE under
 * $TMPDIR, else /tmp, 0600, gone when closed), never more than the per-file byte bound.
 *
 * Bounds (struct decomp_limits; 0 in a field: its DECOMP_DEFAULT_*), each named when hit:
 *   "depth"      archives nested deeper than max_depth are listed but not opened; a member of
 *                the outer file is at depth 1; each stacked compression filter after the
 *                first counts one more level (x.gz.gz.gz is three);
 *   "members"    more than max_members entries in one archive: the rest are not read;
 *   "file_bytes" more than max_file_bytes expanded from one outer file, at all depths;
 *   "run_bytes"  more than max_run_bytes expanded in the whole run: no more decomposition;
 *   "ratio"      expanded bytes max_ratio times the outer file's size or more, once more than
 *                DECOMP_RATIO_FLOOR bytes were expanded (a bomb);
 *   "time"       more than timeout seconds on one outer file, the caller's work on its members
 *                (YARA) included: each member carries the deadline, and the bound is checked
 *                again when the callback returns.
 * A member cut short by a bound is not handed over (its SHA-256 would be of a prefix).
 */
#ifndef DELTAIR_DECOMP_H
#define DELTAIR_DECOMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

#define DECOMP_DEFAULT_DEPTH      3
#define DECOMP_DEFAULT_MEMBERS    10000
#define DECOMP_DEFAULT_FILE_BYTES (1ULL << 30)  /* expanded bytes per outer file */
#define DECOMP_DEFAULT_RUN_BYTES  (16ULL << 30) /* expanded bytes per run */
#define DECOMP_DEFAULT_RATIO      250           /* expanded / outer file size */
#define DECOMP_DEFAULT_TIMEOUT    120           /* seconds per outer file */
#define DECOMP_RATIO_FLOOR        (16ULL << 20) /* ratio checked past this many bytes */
#define DECOMP_MEM_SPOOL          (16u << 20)   /* member bytes kept in memory */
#define DECOMP_MAX_NAME           4096          /* bytes of a member's nested path */

struct decomp_limits {
	unsigned max_depth;
	uint64_t max_members;
	uint64_t max_file_bytes;
	uint64_t max_run_bytes;
	uint64_t max_ratio;
	int timeout;
};

enum decomp_bound {
	DECOMP_BOUND_NONE,
	DECOMP_BOUND_DEPTH,
	DECOMP_BOUND_MEMBERS,
	DECOMP_BOUND_FILE_BYTES,
	DECOMP_BOUND_RUN_BYTES,
	DECOMP_BOUND_RATIO,
	DECOMP_BOUND_TIME,
	DECOMP_NBOUNDS
};

/* The bound's name, as above: "depth", "members"... ("" for none). */
const char *decomp_bound_name(enum decomp_bound b);

struct decomp_stats {
	uint64_t files;                  /* outer files that were archives or compressed */
	uint64_t archives;               /* archives opened, nested ones included */
	uint64_t members;                /* members handed over */
	uint64_t encrypted;              /* members whose data is encrypted (listed, not read) */
	uint64_t corrupt;                /* archives that ended in an error */
	uint64_t bytes;                  /* expanded bytes */
	uint64_t bounds[DECOMP_NBOUNDS]; /* outer files that hit each bound */
};

struct decomp; /* a run: limits and counters */

/* New: decomp_free() it. l may be NULL for the defaults. */
struct decomp *decomp_new(const struct decomp_limits *l, struct dt_err *err);
void decomp_free(struct decomp *d); /* NULL is a no-op */
/* Borrowed: valid until d is freed. */
const struct decomp_stats *decomp_stats(const struct decomp *d);

/* One member, valid during the callback only. */
struct decomp_member {
	const char *path; /* nested path: "dir/inner.tar.gz!bin/x" (no outer path), NUL-ended */
	size_t path_len;
	unsigned depth; /* 1 for a member of the outer file */
	char type;      /* 'f' file, 'd' dir, 'l' symlink, 'h' hard link, 'c' 'b' 'p' 's' */
	unsigned mode;  /* permission bits with setuid/setgid/sticky (07777) */
	uint64_t size;  /* bytes of data read (files); the size the archive says otherwise */
	int has_data;   /* a regular file whose data was read whole: sha256 and read valid */
	int encrypted;  /* its data is encrypted: not read */
	unsigned char sha256[32];
	const char *link; /* symlink or hard-link target, or NULL */
	double deadline;  /* mono_now() at which the file's "time" bound ends it: finish by then */
	/* Read up to len bytes of the data at off (as yarascan_file's read wants). */
	ssize_t (*read)(void *rctx, uint64_t off, void *buf, size_t len);
	void *rctx;
};

/* Return 0 to go on, -1 to stop everything (err filled): decomp_file() then returns -1. */
typedef int (*decomp_member_fn)(void *ctx, const struct decomp_member *m, struct dt_err *err);

/* The outer file: read as yarascan_file's callback (any offset, 0 only at the end). */
struct decomp_input {
	const char *name; /* borrowed: its path, for its extension and messages */
	uint64_t size;
	ssize_t (*read)(void *rctx, uint64_t off, void *buf, size_t len);
	void *rctx;
};

enum decomp_status {
	DECOMP_NOT_ARCHIVE, /* not a format above: nothing was handed over */
	DECOMP_DONE,        /* every member at every depth was handed over */
	DECOMP_BOUNDED,     /* stopped at a bound (result->bound); what was read was handed */
	DECOMP_CORRUPT,     /* an archive at some depth is damaged (result->msg says which and
			     * why); its members before the damage were handed over */
	DECOMP_FAILED,      /* no temporary space for a member (result->msg): the rest of the
			     * file was not read */
};

struct decomp_result {
	enum decomp_status status;
	enum decomp_bound bound; /* the first bound hit */
	uint64_t members, bytes;
	char msg[512]; /* why, for DECOMP_CORRUPT and DECOMP_BOUNDED */
};

/*
 * Decompose in: every member (also of nested archives, depth first: an archive member comes
 * before its own members) goes to fn. A per-file problem (damage, a bound) is res->status
 * and the call returns 0. -1 only when fn asked to stop, or for memory (DT_ENOMEM), with err
 * filled.
 */
int decomp_file(struct decomp *d, const struct decomp_input *in, decomp_member_fn fn, void *ctx,
		struct decomp_result *res, struct dt_err *err) DT_MUST_USE;

#endif
