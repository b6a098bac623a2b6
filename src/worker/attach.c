/* attach.c - see attach.h. */
#include "worker/attach.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "aws/ec2.h"
#include "aws/http.h"
#include "aws/imds.h"
#include "worker/job.h"

#include "banned.h"

struct attach {
	struct ec2 *ec2; /* owned */
	char volume_id[EC2_ID_MAX];
	char instance_id[EC2_ID_MAX];
	char device_name[16];  /* "/dev/sdf": where EC2 attached it */
	char device[PATH_MAX]; /* the block device we read */
	int fd;
	unsigned timeout_s;
	unsigned poll_ms;
	volatile sig_atomic_t *cancel;
};

/* One IMDS item, trimmed, into out. */
static int
imds_item(const struct attach_options *o, struct http_pool *pool, const char *path, char *out,
	  size_t outsz, struct dt_err *err)
{
	char *v = NULL;
	size_t n;
	int ret = -1;

	if (imds_get(pool, o->env, path, &v, NULL, err) < 0)
		return -1;
	n = strlen(v);
	while (n > 0 && isspace((unsigned char)v[n - 1]))
		v[--n] = '\0';
	if (n == 0 || n >= outsz)
		dt_fail(err, DT_EFORMAT, "instance metadata '%s' is not an id: '%.60s'", path, v);
	else {
		memcpy(out, v, n + 1);
		ret = 0;
	}
	free(v);
	return ret;
}

/* The instance id and zone: the options', else IMDSv2's. */
static int
whereami(const struct attach_options *o, char id[EC2_ID_MAX], char az[EC2_ID_MAX],
	 struct dt_err *err)
{
	struct http_pool *pool = o->pool;
	struct dt_err e2 = { 0 };
	int ret = 0;

	if (o->instance_id && o->availability_zone) {
		snprintf(id, EC2_ID_MAX, "%s", o->instance_id);
		snprintf(az, EC2_ID_MAX, "%s", o->availability_zone);
		return 0;
	}
	if (pool == NULL && http_pool_new(NULL, &pool, err) < 0)
		return -1;
	if (o->instance_id)
		snprintf(id, EC2_ID_MAX, "%s", o->instance_id);
	else
		ret = imds_item(o, pool, "/latest/meta-data/instance-id", id, EC2_ID_MAX, &e2);
	if (ret == 0 && o->availability_zone)
		snprintf(az, EC2_ID_MAX, "%s", o->availability_zone);
	else if (ret == 0)
		ret = imds_item(o, pool, "/latest/meta-data/placement/availability-zone", az,
				EC2_ID_MAX, &e2);
	if (pool != o->pool)
		http_pool_free(pool);
	if (ret < 0)
		dt_fail(err, e2.code,
			"attach mode runs on an EC2 instance and needs its id and zone: %s",
			e2.msg);
	return ret;
}

int
attach_ec2_new(const struct attach_options *o, const char *region, struct ec2 **e,
	       struct dt_err *err)
{
	struct ec2_options eo = { 0 };

	eo.env = o->env;
	eo.region = o->region ? o->region : region;
	eo.creds = o->creds;
	eo.pool = o->pool;
	eo.poll_ms = o->poll_ms;
	eo.cancel = o->cancel;
	return ec2_new(&eo, e, err);
}

/* Run the test hook: sh -c HOOK deltair-attach-hook VOLUME DEVICE. */
static int
run_hook(const char *hook, const char *vol, const char *dev, struct dt_err *err)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return dt_fail_errno(err, DT_EIO, "cannot run the attach hook");
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", hook, "deltair-attach-hook", vol, dev, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return dt_fail_errno(err, DT_EIO, "cannot wait for the attach hook");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return dt_fail(err, DT_EIO, "the attach hook failed for '%s' (status %d)", vol,
			       WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

/*
 * Wait for the NVMe device whose serial is the volume id: udev names it after the serial,
 * "vol" and the id's hex without the dash. Opened read-only; it must be a block device
 * (or, in tests, a regular file standing for one).
 */
static int
find_device(struct attach *a, const char *dir, struct dt_err *err)
{
	char link[PATH_MAX];
	time_t end = time(NULL) + a->timeout_s;
	struct stat st;

	if (snprintf(link, sizeof(link), "%s/" ATTACH_BY_ID_PREFIX "vol%s", dir,
		     a->volume_id + 4) >= (int)sizeof(link))
		return dt_fail(err, DT_EUSAGE, "by-id folder '%.200s' too long", dir);
	while (stat(link, &st) != 0) {
		if (errno != ENOENT)
			return dt_fail_errno(err, DT_EIO, "cannot look at '%s'", link);
		if (time(NULL) >= end)
			return dt_fail(err, DT_ENET,
				       "timed out after %u s waiting for the device of '%s' (%s)",
				       a->timeout_s, a->volume_id, link);
		if (ec2_nap(a->poll_ms < 200 ? a->poll_ms : 200, a->cancel))
			return dt_fail(err, DT_EUSAGE, "cancelled waiting for the device of '%s'",
				       a->volume_id);
	}
	if (realpath(link, a->device) == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot resolve '%s'", link);
	a->fd = open(a->device, O_RDONLY | O_CLOEXEC);
	if (a->fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s' of '%s'", a->device,
				     a->volume_id);
	if (fstat(a->fd, &st) != 0 || !(S_ISBLK(st.st_mode) || S_ISREG(st.st_mode)))
		return dt_fail(err, DT_EIO, "'%s' of '%s' is not a block device", a->device,
			       a->volume_id);
	return 0;
}

/* AttachVolume at the first free name of /dev/sdf../dev/sdp. */
static int
attach_somewhere(struct attach *a, struct dt_err *err)
{
	struct dt_err e2 = { 0 };

	for (char c = 'f'; c <= 'p'; c++) {
		struct svcerr se;

		dt_clear(&e2);
		snprintf(a->device_name, sizeof(a->device_name), "/dev/sd%c", c);
		if (ec2_attach_volume(a->ec2, a->volume_id, a->instance_id, a->device_name, &se,
				      &e2) == 0) {
			return 0;
		}
		/* "Attachment point /dev/sdf is already in use": try the next name. */
		if (strcmp(se.code, "InvalidParameterValue") != 0) {
			dt_fail(err, e2.code, "%s", e2.msg);
			return -1;
		}
	}
	a->device_name[0] = '\0';
	return dt_fail(err, DT_ENET, "every device name /dev/sdf../dev/sdp refused; the last: %s",
		       e2.msg);
}

static void
iso_now(char out[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
set_tag(struct ec2_tag *t, const char *key, const char *value)
{
	snprintf(t->key, sizeof(t->key), "%s", key);
	snprintf(t->value, sizeof(t->value), "%s", value ? value : "");
}

static int
valid_id(const char *id, const char *prefix)
{
	size_t n = strlen(prefix), len = strlen(id);

	if (strncmp(id, prefix, n) != 0 || len <= n || len >= EC2_ID_MAX)
		return 0;
	for (size_t i = n; i < len; i++)
		if (!isxdigit((unsigned char)id[i]))
			return 0;
	return 1;
}

/*
 * Is vol attached (or on its way)? What EC2 says, not what we believe: an AttachVolume whose
 * answer was lost may have worked. 1 with its instance in instance, 0 not, -1 gone (err
 * clear), -2 on failure (err).
 */
static int
attachment_of(struct ec2 *e, const char *vol, char instance[EC2_ID_MAX], struct dt_err *err)
{
	const char *ids[1] = { vol };
	struct ec2_volume *v = NULL;
	struct svcerr se;
	size_t n = 0;
	int rc;

	if (ec2_describe_volumes(e, ids, 1, NULL, 0, &v, &n, &se, err) < 0) {
		if (strcmp(se.code, "InvalidVolume.NotFound") != 0)
			return -2;
		dt_clear(err);
		return -1;
	}
	rc = n > 0 && v[0].attach_instance[0] && strcmp(v[0].attach_state, "detached") != 0;
	if (rc)
		memcpy(instance, v[0].attach_instance, EC2_ID_MAX);
	ec2_volumes_free(v, n);
	return rc;
}

/* Detach if attached (Force after a plain detach timed out), delete, wait until gone. */
static int
release_volume(struct ec2 *e, const char *vol, unsigned timeout_s, struct dt_err *err)
{
	char instance[EC2_ID_MAX];
	struct svcerr se;
	struct dt_err e2 = { 0 };
	int rc;

	/* Cleanup after a SIGTERM must still wait for its detach and delete. */
	ec2_set_cancel(e, NULL);
	rc = attachment_of(e, vol, instance, err);
	if (rc == -1)
		return 0;
	if (rc < 0)
		return -1;
	if (rc == 1) {
		if (ec2_detach_volume(e, vol, instance, 0, &se, &e2) < 0 &&
		    strcmp(se.code, "IncorrectState") != 0 &&
		    strcmp(se.code, "InvalidAttachment.NotFound") != 0) {
			dt_fail(err, e2.code, "%s", e2.msg);
			return -1;
		}
		dt_clear(&e2);
		if (ec2_wait_volume(e, vol, EC2_WAIT_DETACHED, timeout_s, &e2) < 0) {
			struct dt_err e3 = { 0 };

			/* The last resort: the instance may lose writes it had buffered, but
			 * we only ever read. */
			if (ec2_detach_volume(e, vol, instance, 1, &se, &e3) < 0 &&
			    strcmp(se.code, "IncorrectState") != 0) {
				dt_fail(err, e3.code, "%s (after: %s)", e3.msg, e2.msg);
				return -1;
			}
			if (ec2_wait_volume(e, vol, EC2_WAIT_DETACHED, timeout_s, err) < 0)
				return -1;
		}
	} else {
		/* A volume still creating cannot be deleted yet. A volume in state error can:
		 * the delete below is tried whatever this wait says. */
		(void)!ec2_wait_volume(e, vol, EC2_WAIT_DETACHED, timeout_s, &e2);
	}
	dt_clear(&e2);
	if (ec2_delete_volume(e, vol, &se, &e2) < 0) {
		if (strcmp(se.code, "InvalidVolume.NotFound") == 0)
			return 0;
		dt_fail(err, e2.code, "%s", e2.msg);
		return -1;
	}
	return ec2_wait_volume(e, vol, EC2_WAIT_DELETED, timeout_s, err);
}

void
attach_close(struct attach *a, struct dt_err *err)
{
	struct dt_err e2 = { 0 };

	if (a == NULL)
		return;
	if (a->fd >= 0)
		close(a->fd);
	if (a->volume_id[0] && release_volume(a->ec2, a->volume_id, a->timeout_s, &e2) < 0)
		dt_fail(err, e2.code, "volume '%s' is left behind (deltair worker --sweep): %s",
			a->volume_id, e2.msg);
	ec2_free(a->ec2);
	free(a);
}

static int
open_steps(struct attach *a, const struct attach_options *o, const struct job *j,
	   struct dt_err *err)
{
	const char *snapshot_id = j->snapshot ? j->snapshot : "";
	char az[EC2_ID_MAX], created[32];
	struct ec2_tag tags[4];

	if (!valid_id(snapshot_id, "snap-"))
		return dt_fail(err, DT_EUSAGE, "attach mode needs a snapshot, not '%.80s'",
			       j->evidence ? j->evidence : "");
	if (whereami(o, a->instance_id, az, err) < 0 ||
	    attach_ec2_new(o, j->region, &a->ec2, err) < 0)
		return -1;
	iso_now(created);
	set_tag(&tags[0], ATTACH_TAG_JOB, "");
	snprintf(tags[0].value, sizeof(tags[0].value), "%.400s/%s",
		 j->case_id ? j->case_id : "default", snapshot_id);
	set_tag(&tags[1], ATTACH_TAG_WORKER, a->instance_id);
	set_tag(&tags[2], ATTACH_TAG_CASE, j->case_id ? j->case_id : "default");
	set_tag(&tags[3], ATTACH_TAG_CREATED, created);
	if (ec2_create_volume(a->ec2, snapshot_id, az, o->volume_type, tags, 4, a->volume_id, NULL,
			      err) < 0)
		return -1;
	if (!valid_id(a->volume_id, "vol-"))
		return dt_fail(err, DT_EFORMAT, "CreateVolume: '%s' is not a volume id",
			       a->volume_id);
	if (ec2_wait_volume(a->ec2, a->volume_id, EC2_WAIT_AVAILABLE, a->timeout_s, err) < 0 ||
	    attach_somewhere(a, err) < 0)
		return -1;
	if (o->attach_hook && run_hook(o->attach_hook, a->volume_id, a->device_name, err) < 0)
		return -1;
	if (ec2_wait_volume(a->ec2, a->volume_id, EC2_WAIT_ATTACHED, a->timeout_s, err) < 0)
		return -1;
	return find_device(a, o->by_id_dir ? o->by_id_dir : ATTACH_BY_ID_DIR, err);
}

int
attach_open(const struct job *j, const struct attach_options *o, struct attach **out,
	    char **device_path, struct dt_err *err)
{
	struct attach *a = calloc(1, sizeof(*a));
	struct dt_err e2 = { 0 }, e3 = { 0 };

	*out = NULL;
	*device_path = NULL;
	if (a == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	a->fd = -1;
	a->timeout_s = o->timeout_seconds ? o->timeout_seconds : ATTACH_DEFAULT_TIMEOUT;
	a->poll_ms = o->poll_ms ? o->poll_ms : EC2_DEFAULT_POLL;
	a->cancel = o->cancel;
	if (open_steps(a, o, j, &e2) == 0) {
		*device_path = strdup(a->device);
		if (*device_path) {
			*out = a;
			return 0;
		}
		dt_fail(&e2, DT_ENOMEM, "out of memory");
	}
	/* The first failure is the one to report; a cleanup that fails too adds the volume. */
	attach_close(a, &e3);
	if (e3.code)
		return dt_fail(err, e2.code, "%.200s; %.280s", e2.msg, e3.msg);
	return dt_fail(err, e2.code, "%s", e2.msg);
}

int
attach_fd(const struct attach *a)
{
	return a->fd;
}

const char *
attach_volume_id(const struct attach *a)
{
	return a->volume_id;
}

/* Is the instance gone: unknown to EC2, shutting down or terminated? -1 on failure. */
static int
instance_gone(struct ec2 *e, const char *id, struct dt_err *err)
{
	const char *ids[1] = { id };
	struct ec2_instance *in = NULL;
	struct svcerr se;
	size_t n = 0;
	int gone;

	if (ec2_describe_instances(e, ids, 1, &in, &n, &se, err) < 0) {
		if (strcmp(se.code, "InvalidInstanceID.NotFound") != 0 &&
		    strcmp(se.code, "InvalidInstanceID.Malformed") != 0)
			return -1;
		dt_clear(err);
		return 1;
	}
	gone = n == 0 || strcmp(in[0].state, "terminated") == 0 ||
	       strcmp(in[0].state, "shutting-down") == 0;
	ec2_instances_free(in, n);
	return gone;
}

int
attach_sweep(const struct attach_options *o, unsigned flags, struct attach_sweep_stats *st,
	     struct dt_err *err)
{
	static const char *const key[1] = { ATTACH_TAG_WORKER };
	const struct ec2_filter f = { "tag-key", key, 1 };
	struct ec2 *e = NULL;
	struct ec2_volume *v = NULL;
	char self[EC2_ID_MAX] = "", az[EC2_ID_MAX];
	struct dt_err ie = { 0 };
	size_t n = 0;
	int ret = 0;

	memset(st, 0, sizeof(*st));
	/* Off an instance (an operator's machine) there is no self: only liveness counts. */
	if (whereami(o, self, az, &ie) < 0) {
		if (flags & ATTACH_SWEEP_SELF)
			return dt_fail(err, ie.code, "%s", ie.msg);
		self[0] = '\0';
	}
	if (attach_ec2_new(o, NULL, &e, err) < 0)
		return -1;
	ec2_set_cancel(e, NULL);
	if (ec2_describe_volumes(e, NULL, 0, &f, 1, &v, &n, NULL, err) < 0) {
		ec2_free(e);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *w = ec2_tag_get(v[i].tags, v[i].ntags, ATTACH_TAG_WORKER);
		struct dt_err e2 = { 0 };
		int gone;

		st->seen++;
		if (w == NULL)
			continue;
		if (self[0] && strcmp(w, self) == 0)
			gone = (flags & ATTACH_SWEEP_SELF) ? 1 : 0;
		else
			gone = instance_gone(e, w, &e2);
		if (gone == 0) {
			st->kept++;
			continue;
		}
		if (gone > 0 &&
		    release_volume(e, v[i].id,
				   o->timeout_seconds ? o->timeout_seconds : ATTACH_DEFAULT_TIMEOUT,
				   &e2) == 0) {
			st->deleted++;
			continue;
		}
		st->failed++;
		ret = dt_fail(err, e2.code, "volume '%s' of worker '%s': %s", v[i].id, w, e2.msg);
	}
	ec2_volumes_free(v, n);
	ec2_free(e);
	return ret;
}
