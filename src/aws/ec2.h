/*
 * ec2.h - the EC2 calls deltair makes: volumes from snapshots (attach read mode), their
 * sweep, and the look-ups that find a snapshot's AMI.
 * The EC2 Query protocol: Action=...&Version=2016-11-15, form-encoded POST, SigV4 service
 * "ec2"; answers and errors are XML read with libexpat. Listing calls follow nextToken to
 * the end. Retries (throttling, 5xx) are http.h's; CreateVolume carries a ClientToken, so a
 * retried CreateVolume never makes a second volume. ExpiredToken credentials are looked up
 * again once.
 * A struct ec2 holds no state between calls but its connection pool and credentials: it may
 * be used by several threads at once.
 */
#ifndef DELTAIR_AWS_EC2_H
#define DELTAIR_AWS_EC2_H

#include <signal.h>
#include <stddef.h>

#include "aws/svcerr.h"
#include "error.h"

#define EC2_API_VERSION   "2016-11-15"
#define EC2_MAX_BODY      (16u * 1024 * 1024)
#define EC2_MAX_ITEMS     100000 /* records one listing call may return in all */
#define EC2_PAGE_SIZE     500    /* MaxResults of listing calls without ids */
#define EC2_DEFAULT_POLL  2000   /* milliseconds between two waiter polls */
#define EC2_ID_MAX        64
#define EC2_TAG_KEY_MAX   512  /* 128 characters of UTF-8 */
#define EC2_TAG_VALUE_MAX 1024 /* 256 characters of UTF-8 */

struct ec2;
struct creds;     /* aws/creds.h */
struct http_pool; /* aws/http.h */

struct ec2_options {
	const char *const *env; /* "NAME=value" array; NULL: the process environment */
	const char *region;     /* NULL: aws/endpoint.h's region */
	struct creds *creds;    /* borrowed; NULL: a chain of our own (creds_new) */
	struct http_pool *pool; /* borrowed; NULL: a pool of our own */
	unsigned poll_ms;       /* waiters; 0: EC2_DEFAULT_POLL */
	/* Waiters give up when *cancel turns non-zero (a SIGTERM handler's flag); NULL: never. */
	volatile sig_atomic_t *cancel;
};

struct ec2_tag {
	char key[EC2_TAG_KEY_MAX];
	char value[EC2_TAG_VALUE_MAX];
};

/* A filter as EC2 takes it: "tag:deltair:worker" or "status" with one or more values. */
struct ec2_filter {
	const char *name;
	const char *const *values;
	size_t nvalues;
};

struct ec2_volume {
	char id[EC2_ID_MAX];
	char state[32]; /* creating, available, in-use, deleting, deleted, error */
	char snapshot_id[EC2_ID_MAX];
	char availability_zone[EC2_ID_MAX];
	char create_time[40];
	/* Its first attachment; "" when none. */
	char attach_instance[EC2_ID_MAX];
	char attach_device[EC2_ID_MAX];
	char attach_state[32]; /* attaching, attached, detaching, detached, busy */
	struct ec2_tag *tags;  /* owned */
	size_t ntags;
};

struct ec2_snapshot {
	char id[EC2_ID_MAX];
	char volume_id[EC2_ID_MAX];
	char state[32];
	char description[1024];
	struct ec2_tag *tags; /* owned */
	size_t ntags;
};

struct ec2_image {
	char id[EC2_ID_MAX];
	char state[32];
	char name[512];
	struct ec2_tag *tags; /* owned */
	size_t ntags;
};

struct ec2_instance {
	char id[EC2_ID_MAX];
	char state[32]; /* pending, running, shutting-down, terminated, stopping, stopped */
	char image_id[EC2_ID_MAX];
	char availability_zone[EC2_ID_MAX];
	struct ec2_tag *tags; /* owned */
	size_t ntags;
};

/* What a waiter waits for. */
enum ec2_wait {
	EC2_WAIT_AVAILABLE, /* state available (after CreateVolume) */
	EC2_WAIT_ATTACHED,  /* its attachment attached */
	EC2_WAIT_DETACHED,  /* no attachment left: state available */
	EC2_WAIT_DELETED,   /* state deleted, or InvalidVolume.NotFound */
};

/*
 * A client: region and endpoint (AWS_ENDPOINT_URL_EC2 ...) as the SDKs find them (o may be
 * NULL). *out is new: ec2_free() it.
 */
int ec2_new(const struct ec2_options *o, struct ec2 **out, struct dt_err *err) DT_MUST_USE;
void ec2_free(struct ec2 *e);
/* Replace the cancel flag (NULL: waiters never give up early): cleanup after a SIGTERM
 * must still wait for its detach and delete. */
void ec2_set_cancel(struct ec2 *e, volatile sig_atomic_t *cancel);
/* The region it signs for. Borrowed until e is freed. */
const char *ec2_region(const struct ec2 *e);

/*
 * Every call below: 0 on success; -1 with err ("CreateVolume: HTTP 400
 * InvalidSnapshot.NotFound: ...") and, when se is not NULL, the service's error code and
 * message in *se ("" when the failure was not the service's answer).
 */

/* CreateVolume of snapshot_id in az; volume_type NULL: "gp3"; tags go on the volume. */
int ec2_create_volume(struct ec2 *e, const char *snapshot_id, const char *az,
		      const char *volume_type, const struct ec2_tag *tags, size_t ntags,
		      char id_out[EC2_ID_MAX], struct svcerr *se, struct dt_err *err) DT_MUST_USE;
/* DescribeVolumes by ids (nids may be 0) and filters; every page. *out is new:
 * ec2_volumes_free(). */
int ec2_describe_volumes(struct ec2 *e, const char *const *ids, size_t nids,
			 const struct ec2_filter *filters, size_t nfilters, struct ec2_volume **out,
			 size_t *n, struct svcerr *se, struct dt_err *err) DT_MUST_USE;
int ec2_attach_volume(struct ec2 *e, const char *volume_id, const char *instance_id,
		      const char *device, struct svcerr *se, struct dt_err *err) DT_MUST_USE;
/* instance_id may be NULL; force: the last resort when a plain detach did not finish. */
int ec2_detach_volume(struct ec2 *e, const char *volume_id, const char *instance_id, int force,
		      struct svcerr *se, struct dt_err *err) DT_MUST_USE;
int ec2_delete_volume(struct ec2 *e, const char *volume_id, struct svcerr *se,
		      struct dt_err *err) DT_MUST_USE;
int ec2_create_tags(struct ec2 *e, const char *const *resources, size_t nresources,
		    const struct ec2_tag *tags, size_t ntags, struct svcerr *se,
		    struct dt_err *err) DT_MUST_USE;
/* DescribeSnapshots by ids and filters; every page. *out is new: ec2_snapshots_free(). */
int ec2_describe_snapshots(struct ec2 *e, const char *const *ids, size_t nids,
			   const struct ec2_filter *filters, size_t nfilters,
			   struct ec2_snapshot **out, size_t *n, struct svcerr *se,
			   struct dt_err *err) DT_MUST_USE;
/* DescribeImages by ids and filters; every page. *out is new: ec2_images_free(). */
int ec2_describe_images(struct ec2 *e, const char *const *ids, size_t nids,
			const struct ec2_filter *filters, size_t nfilters, struct ec2_image **out,
			size_t *n, struct svcerr *se, struct dt_err *err) DT_MUST_USE;
/* DescribeInstances by ids; every page, every reservation. *out is new:
 * ec2_instances_free(). An id EC2 no longer knows: InvalidInstanceID.NotFound. */
int ec2_describe_instances(struct ec2 *e, const char *const *ids, size_t nids,
			   struct ec2_instance **out, size_t *n, struct svcerr *se,
			   struct dt_err *err) DT_MUST_USE;

/*
 * Poll DescribeVolumes every poll_ms until volume_id reaches what, for at most timeout_s
 * seconds. Timeout: DT_ENET "timed out after N s waiting for vol-... to be attached (last:
 * attaching)"; a volume in state error, or gone while waiting for anything but
 * EC2_WAIT_DELETED: DT_ENET at once; *cancel set: DT_EUSAGE "cancelled".
 */
int ec2_wait_volume(struct ec2 *e, const char *volume_id, enum ec2_wait what, unsigned timeout_s,
		    struct dt_err *err) DT_MUST_USE;

/* Sleep ms milliseconds in short slices, so that *cancel (may be NULL) turning non-zero is
 * seen within 50 ms. 1 when cancelled, else 0. */
int ec2_nap(unsigned ms, volatile sig_atomic_t *cancel);

/* The value of key among tags, NULL when absent. Borrowed from tags. */
const char *ec2_tag_get(const struct ec2_tag *tags, size_t ntags, const char *key);
void ec2_volumes_free(struct ec2_volume *v, size_t n);
void ec2_snapshots_free(struct ec2_snapshot *s, size_t n);
void ec2_images_free(struct ec2_image *im, size_t n);
void ec2_instances_free(struct ec2_instance *in, size_t n);

/*
 * Parse one answer of action (DescribeVolumes, ...) into records of the type that action
 * lists (struct ec2_volume ...; CreateVolume: one ec2_volume), appended to *recs (*n
 * records, room for *cap); *next_token (new, or NULL) is the answer's nextToken. Bad XML or
 * an over-long field: DT_EFORMAT. Exposed for tests.
 */
int ec2_parse(const char *action, const void *body, size_t len, void **recs, size_t *n, size_t *cap,
	      char **next_token, struct dt_err *err) DT_MUST_USE;

#endif
