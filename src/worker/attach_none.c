/*
 * attach_none.c - attach.h without EC2: every call says what is missing. The attach work
 * replaces this file with attach.c.
 */
#include <stddef.h>

#include "worker/attach.h"

#include "banned.h"

int
attach_open(const struct job *j, const struct attach_options *o, struct attach **out,
	    char **device_path, struct dt_err *err)
{
	(void)j;
	(void)o;
	*out = NULL;
	*device_path = NULL;
	return dt_fail(err, DT_EUSAGE, "attach mode: not built");
}

void
attach_close(struct attach *a, struct dt_err *err)
{
	(void)a;
	(void)err;
}

int
worker_find_baseline(const struct job *j, const struct attach_options *o, struct store *output,
		     const char *cache_dir, char **path, struct dt_err *err)
{
	(void)j;
	(void)o;
	(void)output;
	(void)cache_dir;
	*path = NULL;
	return dt_fail(err, DT_EUSAGE, "baseline discovery needs attach/EC2 (not built)");
}
