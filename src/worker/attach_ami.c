/* attach_ami.c - attach_baseline_ami() (attach.h): which AMI a snapshot comes from.
 * worker_find_baseline() is in attach_baseline.c, so a program that only looks AMIs up
 * needs no store. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "aws/ec2.h"
#include "worker/attach.h"

#include "banned.h"

/* ami- and 8 or 17 lower-case hex digits, as EC2 names images. */
static int
valid_ami(const char *s, size_t n)
{
	if (n != 12 && n != 21)
		return 0;
	if (strncmp(s, "ami-", 4) != 0)
		return 0;
	for (size_t i = 4; i < n; i++)
		if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
			return 0;
	return 1;
}

static int
take(char ami[ATTACH_AMI_MAX], const char *s, size_t n)
{
	if (!valid_ami(s, n))
		return 0;
	memcpy(ami, s, n);
	ami[n] = '\0';
	return 1;
}

/* The AMI a CreateImage or CopyImage description names, if it is one of theirs. */
static int
from_description(const char *d, char ami[ATTACH_AMI_MAX])
{
	static const char create[] = "Created by CreateImage(";
	static const char copy[] = "Copied for DestinationAmi ";
	const char *p;

	if (strncmp(d, create, sizeof(create) - 1) == 0) {
		p = strchr(d + sizeof(create) - 1, ')');
		if (p == NULL || strncmp(p, ") for ", 6) != 0)
			return 0;
		p += 6;
	} else if (strncmp(d, copy, sizeof(copy) - 1) == 0) {
		p = d + sizeof(copy) - 1;
	} else {
		return 0;
	}
	return take(ami, p, strcspn(p, " "));
}

static int
from_tag(const struct ec2_tag *tags, size_t ntags, char ami[ATTACH_AMI_MAX])
{
	const char *v = ec2_tag_get(tags, ntags, ATTACH_TAG_AMI);

	return v && take(ami, v, strlen(v));
}

/* Steps 2 and 3 of attach_baseline_ami(): the source volume's tag, then its instance's AMI. */
static int
from_volume(struct ec2 *e, const char *vol, char ami[ATTACH_AMI_MAX], char *how, size_t howsz,
	    struct dt_err *err)
{
	const char *ids[1] = { vol };
	struct ec2_volume *v = NULL;
	struct ec2_instance *in = NULL;
	struct svcerr se;
	size_t n = 0, ni = 0;
	int found = 0;

	if (ec2_describe_volumes(e, ids, 1, NULL, 0, &v, &n, &se, err) < 0) {
		if (strcmp(se.code, "InvalidVolume.NotFound") != 0)
			return -1;
		dt_clear(err);
		return 0;
	}
	if (n > 0 && from_tag(v[0].tags, v[0].ntags, ami)) {
		snprintf(how, howsz, "tag " ATTACH_TAG_AMI " of %s", vol);
		found = 1;
	} else if (n > 0 && v[0].attach_instance[0]) {
		ids[0] = v[0].attach_instance;
		if (ec2_describe_instances(e, ids, 1, &in, &ni, &se, err) < 0) {
			if (strcmp(se.code, "InvalidInstanceID.NotFound") != 0)
				found = -1;
			else
				dt_clear(err);
		} else if (ni > 0 && take(ami, in[0].image_id, strlen(in[0].image_id))) {
			snprintf(how, howsz, "the AMI of %s, which %s is attached to", in[0].id,
				 vol);
			found = 1;
		}
	}
	ec2_instances_free(in, ni);
	ec2_volumes_free(v, n);
	return found;
}

int
attach_baseline_ami(struct ec2 *e, const char *snapshot_id, char ami[ATTACH_AMI_MAX], char *how,
		    size_t howsz, struct dt_err *err)
{
	const char *ids[1] = { snapshot_id };
	struct ec2_snapshot *s = NULL;
	size_t n = 0;
	int found = 0;

	ami[0] = '\0';
	if (howsz)
		how[0] = '\0';
	if (ec2_describe_snapshots(e, ids, 1, NULL, 0, &s, &n, NULL, err) < 0)
		return -1;
	if (n == 0) {
		ec2_snapshots_free(s, n);
		return dt_fail(err, DT_EUSAGE, "DescribeSnapshots does not list '%s'", snapshot_id);
	}
	if (from_tag(s[0].tags, s[0].ntags, ami)) {
		snprintf(how, howsz, "tag " ATTACH_TAG_AMI " of %s", snapshot_id);
		found = 1;
	}
	if (!found && s[0].volume_id[0])
		found = from_volume(e, s[0].volume_id, ami, how, howsz, err);
	if (found == 0 && from_description(s[0].description, ami)) {
		snprintf(how, howsz, "the description of %s", snapshot_id);
		found = 1;
	}
	if (found == 0)
		dt_fail(err, DT_EUSAGE,
			"no baseline for '%s': it names no AMI (no " ATTACH_TAG_AMI
			" tag on it or its volume '%s', no instance's AMI, no CreateImage "
			"description)",
			snapshot_id, s[0].volume_id);
	ec2_snapshots_free(s, n);
	return found > 0 ? 0 : -1;
}
