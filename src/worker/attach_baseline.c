/* attach_baseline.c - worker_find_baseline() (attach.h): the AMI, then its .dtree. */
#include <stdio.h>
#include <stdlib.h>

#include "aws/ec2.h"
#include "outfile.h"
#include "worker/attach.h"
#include "worker/job.h"
#include "worker/store.h"

#include "banned.h"

int
worker_find_baseline(const struct job *j, const struct attach_options *o, struct store *output,
		     const char *cache_dir, char **path, struct dt_err *err)
{
	struct ec2 *e = NULL;
	char ami[ATTACH_AMI_MAX], how[256], key[ATTACH_AMI_MAX + 32];
	int rc;

	*path = NULL;
	if (j->snapshot == NULL)
		return dt_fail(err, DT_EUSAGE,
			       "no baseline for '%.200s': only a snapshot's baseline can be found",
			       j->evidence ? j->evidence : "");
	if (attach_ec2_new(o, j->region, &e, err) < 0)
		return -1;
	rc = attach_baseline_ami(e, j->snapshot, ami, how, sizeof(how), err);
	ec2_free(e);
	if (rc < 0)
		return -1;
	snprintf(key, sizeof(key), ATTACH_BASELINES "%s.dtree", ami);
	rc = store_exists(output, key, err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return dt_fail(err, DT_EUSAGE,
			       "no baseline for '%s': '%s' (%s, from %s) is not in '%s'",
			       j->snapshot, key, ami, how, store_url(output));
	if (asprintf(path, "%s/%s.dtree", cache_dir, ami) < 0) {
		*path = NULL;
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	if (store_get_file(output, key, *path,
			   &(const struct outfile_opts){ .kind = OUTFILE_DTREE, .mode = 0600 },
			   err) == 0)
		return 0;
	free(*path);
	*path = NULL;
	return -1;
}
