/* error.c - see error.h. */
#include "error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "banned.h"

int
dt_vfail(struct dt_err *err, enum dt_code code, int errnum, const char *fmt, va_list ap)
{
	size_t n;

	if (err == NULL || err->code != DT_OK)
		return -1;
	err->code = code;
	err->sys_errno = errnum;
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	n = strlen(err->msg);
	if (errnum != 0 && n + 3 < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
	/* One line: a message that quotes hostile input must not break the line. */
	for (char *p = err->msg; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	return -1;
}

int
dt_fail(struct dt_err *err, enum dt_code code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	dt_vfail(err, code, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int
dt_fail_errno(struct dt_err *err, enum dt_code code, const char *fmt, ...)
{
	int e = errno;
	va_list ap;

	va_start(ap, fmt);
	dt_vfail(err, code, e, fmt, ap);
	va_end(ap);
	return -1;
}

void
dt_clear(struct dt_err *err)
{
	if (err == NULL)
		return;
	err->code = DT_OK;
	err->sys_errno = 0;
	err->msg[0] = '\0';
}

const char *
dt_code_name(enum dt_code code)
{
	switch (code) {
	case DT_OK: return "success";
	case DT_EUSAGE: return "usage error";
	case DT_EIO: return "I/O error";
	case DT_EFORMAT: return "bad input";
	case DT_EVERSION: return "unsupported version";
	case DT_ENOMEM: return "out of memory";
	case DT_ENET: return "network error";
	case DT_EBUG: return "internal error";
	}
	return "unknown error";
}

void
dt_bug(const char *file, int line, const char *msg)
{
	fprintf(stderr, "deltair: BUG at %s:%d: %s\n", file, line, msg);
	abort();
}
