/*
 * error.h - one error record per call chain: the first failure wins.
 * The library never prints; it fills a struct dt_err and returns -1. Only src/cli/ turns
 * the record into a line on stderr and an exit status (the table is in src/cli/main.c).
 */
#ifndef DELTAIR_ERROR_H
#define DELTAIR_ERROR_H

#include <stdarg.h>

#define DT_PRINTF(f, a) __attribute__((format(printf, f, a)))
/* On a fallible function: the compiler rejects a caller that drops its result (as curl's
 * dynbuf does); GCC does not take a (void) cast as handling it. */
#define DT_MUST_USE __attribute__((warn_unused_result))

enum dt_code {
	DT_OK,
	DT_EUSAGE,   /* the caller asked for something impossible */
	DT_EIO,      /* reading or writing failed (disk full, read error) */
	DT_EFORMAT,  /* input is not what it claims: not an image, damaged tree, bad rule */
	DT_EVERSION, /* a .dtree of an unknown major version */
	DT_ENOMEM,   /* allocation failed or a named cap was exceeded */
	DT_ENET,     /* network or remote service */
	DT_EBUG,     /* only a bug can cause it */
};

struct dt_err {
	enum dt_code code;
	int sys_errno; /* errno at the failure, or 0 */
	char msg[512]; /* one line: what failed first, subject in quotes */
};

/* Record a failure in err (may be NULL) unless one is there already; return -1. */
int dt_fail(struct dt_err *err, enum dt_code code, const char *fmt, ...) DT_PRINTF(3, 4);
/* The same, appending ": strerror(errno)"; errno is read on entry. */
int dt_fail_errno(struct dt_err *err, enum dt_code code, const char *fmt, ...) DT_PRINTF(3, 4);
int dt_vfail(struct dt_err *err, enum dt_code code, int errnum, const char *fmt, va_list ap);
/* Forget a recorded failure (for a per-item failure that was turned into an event). */
void dt_clear(struct dt_err *err);
/* A short name of a code, for messages: "I/O error", "bad input". */
const char *dt_code_name(enum dt_code code);

/* For what only a bug can cause: prints file:line and aborts. Bad input never reaches it. */
#define DT_BUG(msg) dt_bug(__FILE__, __LINE__, (msg))
_Noreturn void dt_bug(const char *file, int line, const char *msg);

#endif
