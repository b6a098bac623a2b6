/*
 * t_ec2.c - the EC2 client (aws/ec2.h), the attach read mode (worker/attach.h) and baseline
 * discovery (worker/baseline.h) against tests/peers/aws_peer.py on 127.0.0.1, which checks
 * every request against botocore's EC2 model and SigV4 signer and keeps volumes in memory.
 * The oracle for "no volume left behind" is the peer's own state (GET /_peer/ec2); every
 * test also ends with the peer's violation list empty.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "aws/ec2.h"
#include "aws/http.h"
#include "t.h"
#include "worker/attach.h"
#include "worker/job.h"
#include "worker/store.h"

#define PY     "/usr/bin/python3"
#define ME     "i-0123456789abcdef0"
#define SNAP   "snap-0123456789abcdef0"
#define AMI    "ami-0123456789abcdef0"
#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

struct ec2peer {
	pid_t pid;
	char url[64];
	char env_url[96], env_imds[128];
	const char *env[12];
	struct http_pool *pool;
};

static int
have_botocore(void)
{
	static int known = -1;

	if (known < 0)
		known = access(PY, X_OK) == 0 &&
			system(PY " -c 'import botocore.auth' >/dev/null 2>&1") == 0;
	return known;
}

/* Serve config (JSON text) from aws_peer.py; 0 on success. */
static int
ec2peer_start(struct ec2peer *p, const char *config)
{
	char script[4096], line[32] = "";
	const char *top = t_top();
	int fds[2], port;
	FILE *fp;

	memset(p, 0, sizeof(*p));
	if (top == NULL || t_write("peer.json", config, strlen(config)) < 0 || pipe(fds) < 0)
		return -1;
	snprintf(script, sizeof(script), "%s/tests/peers/aws_peer.py", top);
	if ((p->pid = fork()) < 0)
		return -1;
	if (p->pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(PY, PY, script, "serve", "--config", "peer.json", "--log", "peer.log",
		      (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	fp = fdopen(fds[0], "r");
	if (fp == NULL || fgets(line, sizeof(line), fp) == NULL || (port = atoi(line)) <= 0) {
		if (fp)
			fclose(fp);
		kill(p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
		return -1;
	}
	fclose(fp);
	snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%d", port);
	snprintf(p->env_url, sizeof(p->env_url), "AWS_ENDPOINT_URL=%s", p->url);
	snprintf(p->env_imds, sizeof(p->env_imds), "AWS_EC2_METADATA_SERVICE_ENDPOINT=%s", p->url);
	p->env[0] = p->env_url;
	p->env[1] = p->env_imds;
	p->env[2] = "AWS_REGION=us-east-1";
	p->env[3] = "AWS_ACCESS_KEY_ID=AKIDEXAMPLE";
	p->env[4] = "AWS_SECRET_ACCESS_KEY=" SECRET;
	p->env[5] = "AWS_CONFIG_FILE=/dev/null";
	p->env[6] = "AWS_SHARED_CREDENTIALS_FILE=/dev/null";
	p->env[7] = NULL;
	return http_pool_new(NULL, &p->pool, NULL);
}

static void
ec2peer_stop(struct ec2peer *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
	}
	http_pool_free(p->pool);
	memset(p, 0, sizeof(*p));
}

/* GET /_peer/<what> as JSON (new reference), NULL on failure. */
static json_t *
ec2peer_ctl(struct ec2peer *p, const char *what)
{
	char url[160];
	struct http_request rq = { 0 };
	struct http_response rs;
	json_t *j = NULL;

	snprintf(url, sizeof(url), "%s/_peer/%s", p->url, what);
	rq.operation = "peer control";
	rq.method = "GET";
	rq.url = url;
	if (http_do(p->pool, &rq, &rs, NULL) == 0)
		j = json_loadb((const char *)rs.body.data, rs.body.len, 0, NULL);
	http_response_release(&rs);
	return j;
}

/* Volumes the peer holds now; -1 when it cannot be asked. */
static int
peer_volumes(struct ec2peer *p)
{
	json_t *j = ec2peer_ctl(p, "ec2");
	int n = j ? (int)json_array_size(json_object_get(j, "volumes")) : -1;

	json_decref(j);
	return n;
}

static int
peer_clean(struct ec2peer *p)
{
	json_t *j = ec2peer_ctl(p, "violations");
	int ok = json_is_array(j) && json_array_size(j) == 0;

	if (!ok && j) {
		char *s = json_dumps(j, 0);
		fprintf(stderr, "  peer violations: %.2000s\n", s ? s : "?");
		free(s);
	}
	json_decref(j);
	return ok;
}

static struct ec2 *
client(struct ec2peer *p, unsigned poll_ms)
{
	struct ec2_options o = { 0 };
	struct ec2 *e = NULL;
	struct dt_err err = { 0 };

	o.env = p->env;
	o.pool = p->pool;
	o.poll_ms = poll_ms;
	if (ec2_new(&o, &e, &err) < 0)
		fprintf(stderr, "  ec2_new: %s\n", err.msg);
	return e;
}

/* A 1 MiB image of random bytes, as a snapshot's data and as the "device" in tests. */
static int
make_image(const char *path)
{
	static unsigned char b[1 << 20];
	FILE *fp = fopen("/dev/urandom", "rb");
	int ok = fp && fread(b, 1, sizeof(b), fp) == sizeof(b);

	if (fp)
		fclose(fp);
	return ok ? t_write(path, b, sizeof(b)) : -1;
}

#define CONFIG_HEAD                                                                           \
	"{\"snapshots\": {\"" SNAP "\": {\"image\": \"disk.img\", \"volume_id\": "            \
	"\"vol-0aaaaaaaaaaaaaaaa\"}, \"snap-0123456789abcdef1\": {\"image\": \"disk.img\"}}," \
	" \"imds\": {\"instance_id\": \"" ME "\", \"availability_zone\": \"us-east-1b\"}"

static int
setup(struct ec2peer *p, const char *extra)
{
	char cfg[4096];

	if (make_image("disk.img") < 0)
		return -1;
	snprintf(cfg, sizeof(cfg), CONFIG_HEAD "%s}", extra ? extra : "");
	return ec2peer_start(p, cfg);
}

TEST(t_ec2_parse_volumes)
{
	static const char xml[] =
		"<?xml version=\"1.0\"?><DescribeVolumesResponse "
		"xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>r</requestId>"
		"<volumeSet><item><volumeId>vol-1</volumeId><status>in-use</status>"
		"<snapshotId>snap-1</snapshotId><availabilityZone>us-east-1a</availabilityZone>"
		"<attachmentSet><item><volumeId>vol-1</volumeId><instanceId>i-1</instanceId>"
		"<device>/dev/sdf</device><status>attached</status></item></attachmentSet>"
		"<tagSet><item><key>deltair:job</key><value>j&amp;1</value></item>"
		"<item><key>empty</key><value/></item></tagSet></item>"
		"<item><volumeId>vol-2</volumeId><status>available</status><attachmentSet/>"
		"</item></volumeSet><nextToken>tok 2</nextToken></DescribeVolumesResponse>";
	struct ec2_volume *v = NULL;
	size_t n = 0, cap = 0;
	char *next = NULL;
	struct dt_err err = { 0 };

	REQUIRE(ec2_parse("DescribeVolumes", xml, strlen(xml), (void **)&v, &n, &cap, &next,
			  &err) == 0);
	REQUIRE(n == 2);
	CHECK(strcmp(v[0].id, "vol-1") == 0 && strcmp(v[0].state, "in-use") == 0);
	CHECK(strcmp(v[0].snapshot_id, "snap-1") == 0);
	CHECK(strcmp(v[0].availability_zone, "us-east-1a") == 0);
	CHECK(strcmp(v[0].attach_instance, "i-1") == 0 &&
	      strcmp(v[0].attach_device, "/dev/sdf") == 0);
	CHECK(strcmp(v[0].attach_state, "attached") == 0);
	CHECK(v[0].ntags == 2 && strcmp(ec2_tag_get(v[0].tags, 2, "deltair:job"), "j&1") == 0);
	CHECK(ec2_tag_get(v[0].tags, 2, "empty") && !*ec2_tag_get(v[0].tags, 2, "empty"));
	CHECK(strcmp(v[1].id, "vol-2") == 0 && v[1].attach_state[0] == '\0' && v[1].ntags == 0);
	CHECK(next && strcmp(next, "tok 2") == 0);
	free(next);
	ec2_volumes_free(v, n);
}

TEST(t_ec2_parse_rejects_bad_answers)
{
	char big[2048];
	struct ec2_volume *v = NULL;
	size_t n = 0, cap = 0;
	char *next = NULL;
	struct dt_err err = { 0 };
	static const char bad[] = "<DescribeVolumesResponse><volumeSet><item><volumeId>vol-1";
	static const char none[] = "<CreateVolumeResponse></CreateVolumeResponse>";

	/* Truncated XML. */
	CHECK(ec2_parse("DescribeVolumes", bad, strlen(bad), (void **)&v, &n, &cap, &next, &err) ==
		      -1 &&
	      err.code == DT_EFORMAT && next == NULL);
	ec2_volumes_free(v, n);
	v = NULL, n = cap = 0;
	/* An id longer than any EC2 id is refused, not cut. */
	memset(&err, 0, sizeof(err));
	snprintf(big, sizeof(big),
		 "<R><volumeSet><item><volumeId>vol-%0200d</volumeId></item></volumeSet></R>", 1);
	CHECK(ec2_parse("DescribeVolumes", big, strlen(big), (void **)&v, &n, &cap, &next, &err) ==
		      -1 &&
	      err.code == DT_EFORMAT && strstr(err.msg, "volumeId"));
	ec2_volumes_free(v, n);
	v = NULL, n = cap = 0;
	/* A CreateVolume answer that names no volume. */
	memset(&err, 0, sizeof(err));
	CHECK(ec2_parse("CreateVolume", none, strlen(none), (void **)&v, &n, &cap, &next, &err) ==
		      0 &&
	      n == 1 && v[0].id[0] == '\0');
	ec2_volumes_free(v, n);
}

TEST(t_ec2_parse_instances)
{
	static const char xml[] =
		"<DescribeInstancesResponse><reservationSet><item><reservationId>r-1</"
		"reservationId>"
		"<instancesSet><item><instanceId>i-1</instanceId><imageId>ami-1</imageId>"
		"<instanceState><code>16</code><name>running</name></instanceState>"
		"<placement><availabilityZone>eu-west-1c</availabilityZone></placement>"
		"<blockDeviceMapping><item><ebs><status>attached</status></ebs></item>"
		"</blockDeviceMapping></item><item><instanceId>i-2</instanceId><instanceState>"
		"<name>terminated</name></instanceState></item></instancesSet></item>"
		"</reservationSet></DescribeInstancesResponse>";
	struct ec2_instance *in = NULL;
	size_t n = 0, cap = 0;
	char *next = NULL;
	struct dt_err err = { 0 };

	REQUIRE(ec2_parse("DescribeInstances", xml, strlen(xml), (void **)&in, &n, &cap, &next,
			  &err) == 0);
	REQUIRE(n == 2);
	CHECK(strcmp(in[0].id, "i-1") == 0 && strcmp(in[0].state, "running") == 0);
	CHECK(strcmp(in[0].image_id, "ami-1") == 0);
	CHECK(strcmp(in[0].availability_zone, "eu-west-1c") == 0);
	CHECK(strcmp(in[1].id, "i-2") == 0 && strcmp(in[1].state, "terminated") == 0);
	CHECK(next == NULL);
	ec2_instances_free(in, n);
}

TEST(t_ec2_volume_lifecycle)
{
	struct ec2peer p;
	struct ec2 *e;
	struct ec2_tag tags[2] = { { "deltair:job", "job 1" }, { "deltair:case", "IR-7" } };
	static const char *const job[1] = { "job 1" };
	struct ec2_filter f = { "tag:deltair:job", job, 1 };
	char vol[EC2_ID_MAX];
	const char *ids[1] = { vol };
	struct ec2_volume *v = NULL;
	struct svcerr se;
	struct dt_err err = { 0 };
	size_t n = 0;

	if (!have_botocore())
		SKIP("needs /usr/bin/python3 with python3-botocore");
	REQUIRE(setup(&p, ", \"ec2_delay\": 0.3") == 0);
	e = client(&p, 50);
	REQUIRE(e != NULL);
	REQUIRE(ec2_create_volume(e, SNAP, "us-east-1b", NULL, tags, 2, vol, &se, &err) == 0);
	CHECK(strncmp(vol, "vol-", 4) == 0);
	CHECK(ec2_describe_volumes(e, NULL, 0, &f, 1, &v, &n, &se, &err) == 0 && n == 1);
	if (n == 1) {
		CHECK(strcmp(v[0].id, vol) == 0 && strcmp(v[0].snapshot_id, SNAP) == 0);
		CHECK(strcmp(v[0].availability_zone, "us-east-1b") == 0);
		CHECK(strcmp(ec2_tag_get(v[0].tags, v[0].ntags, "deltair:case"), "IR-7") == 0);
	}
	ec2_volumes_free(v, n);
	/* Attaching a volume still creating is refused: the waiter is what makes it work. */
	CHECK(ec2_attach_volume(e, vol, ME, "/dev/sdf", &se, &err) == -1 &&
	      strcmp(se.code, "IncorrectState") == 0);
	memset(&err, 0, sizeof(err));
	CHECK(ec2_wait_volume(e, vol, EC2_WAIT_AVAILABLE, 10, &err) == 0);
	CHECK(ec2_attach_volume(e, vol, ME, "/dev/sdf", &se, &err) == 0);
	CHECK(ec2_wait_volume(e, vol, EC2_WAIT_ATTACHED, 10, &err) == 0);
	CHECK(ec2_describe_volumes(e, ids, 1, NULL, 0, &v, &n, &se, &err) == 0 && n == 1 &&
	      strcmp(v[0].attach_device, "/dev/sdf") == 0 && strcmp(v[0].attach_instance, ME) == 0);
	ec2_volumes_free(v, n);
	CHECK(ec2_detach_volume(e, vol, ME, 0, &se, &err) == 0);
	CHECK(ec2_wait_volume(e, vol, EC2_WAIT_DETACHED, 10, &err) == 0);
	CHECK(ec2_delete_volume(e, vol, &se, &err) == 0);
	CHECK(ec2_wait_volume(e, vol, EC2_WAIT_DELETED, 10, &err) == 0);
	CHECK(err.code == DT_OK);
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
	/* Gone: the service's own error code reaches the caller. */
	CHECK(ec2_delete_volume(e, vol, &se, &err) == -1 &&
	      strcmp(se.code, "InvalidVolume.NotFound") == 0 && err.code == DT_ENET &&
	      strstr(err.msg, "DeleteVolume") && strstr(err.msg, "InvalidVolume.NotFound"));
	CHECK(peer_volumes(&p) == 0);
	CHECK(peer_clean(&p));
	ec2_free(e);
	ec2peer_stop(&p);
}

/*
 * Instance-role credentials that expire between two calls: EC2 refuses the second with
 * RequestExpired (its code for an expired key, 400), the credentials are looked up again (a
 * second IMDS mint) and the call goes through.
 */
TEST(t_ec2_expired_credentials_are_looked_up_again)
{
	struct ec2peer p;
	struct ec2 *e;
	struct ec2_volume *v = NULL;
	struct http_request rq = { 0 };
	struct http_response rs;
	struct svcerr se;
	struct dt_err err = { 0 };
	char url[160], vol[EC2_ID_MAX];
	const char *ids[1] = { vol };
	size_t n = 0;
	json_t *j;

	if (!have_botocore())
		SKIP("needs /usr/bin/python3 with python3-botocore");
	REQUIRE(setup(&p, NULL) == 0);
	/* No keys in the environment: the instance role's, from the peer's IMDS. */
	p.env[3] = "AWS_CONFIG_FILE=/dev/null";
	p.env[4] = NULL;
	e = client(&p, 50);
	REQUIRE(e != NULL);
	CHECK(ec2_create_volume(e, SNAP, "us-east-1b", NULL, NULL, 0, vol, &se, &err) == 0);
	snprintf(url, sizeof(url), "%s/_peer/expire-credentials", p.url);
	rq.operation = "peer control";
	rq.method = "POST";
	rq.url = url;
	CHECK(http_do(p.pool, &rq, &rs, NULL) == 0);
	http_response_release(&rs);
	CHECK(ec2_describe_volumes(e, ids, 1, NULL, 0, &v, &n, &se, &err) == 0 && n == 1);
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
	ec2_volumes_free(v, n);
	CHECK(ec2_delete_volume(e, vol, &se, &err) == 0);
	j = ec2peer_ctl(&p, "counters");
	CHECK(json_integer_value(json_object_get(j, "imds_credentials")) == 2);
	json_decref(j);
	/* The one refusal is the expired key's. */
	j = ec2peer_ctl(&p, "violations");
	CHECK(json_array_size(j) == 1 &&
	      strstr(json_string_value(json_object_get(json_array_get(j, 0), "detail")) ?: "",
		     "expired"));
	json_decref(j);
	ec2_free(e);
	ec2peer_stop(&p);
}

TEST(t_ec2_pages_tags_and_lookups)
{
	struct ec2peer p;
	struct ec2 *e;
	struct ec2_tag t = { "deltair:worker", "i-0dead0dead0dead0d" };
	struct ec2_volume *v = NULL;
	struct ec2_snapshot *s = NULL;
	struct ec2_image *im = NULL;
	struct ec2_instance *in = NULL;
	char vol[7][EC2_ID_MAX];
	const char *res[2];
	static const char *const ami[1] = { AMI };
	struct svcerr se;
	struct dt_err err = { 0 };
	size_t n = 0;

	if (!have_botocore())
		SKIP("needs /usr/bin/python3 with python3-botocore");
	REQUIRE(setup(&p, ", \"ec2_page_cap\": 3, \"images\": [{\"ImageId\": \"" AMI
			  "\", \"Name\": \"gold\", \"State\": \"available\"}]") == 0);
	e = client(&p, 50);
	REQUIRE(e != NULL);
	for (int i = 0; i < 7; i++)
		CHECK(ec2_create_volume(e, SNAP, "us-east-1b", "gp2", NULL, 0, vol[i], NULL,
					&err) == 0);
	/* Seven volumes in pages of at most three: every one, once. */
	CHECK(ec2_describe_volumes(e, NULL, 0, NULL, 0, &v, &n, &se, &err) == 0 && n == 7);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(v[i].id, v[j].id) != 0);
	ec2_volumes_free(v, n);
	res[0] = vol[0];
	res[1] = vol[1];
	CHECK(ec2_create_tags(e, res, 2, &t, 1, &se, &err) == 0);
	{
		static const char *const key[1] = { "deltair:worker" };
		struct ec2_filter f = { "tag-key", key, 1 };
		CHECK(ec2_describe_volumes(e, NULL, 0, &f, 1, &v, &n, &se, &err) == 0 && n == 2);
		ec2_volumes_free(v, n);
	}
	res[0] = SNAP;
	CHECK(ec2_describe_snapshots(e, res, 1, NULL, 0, &s, &n, &se, &err) == 0 && n == 1 &&
	      strcmp(s[0].volume_id, "vol-0aaaaaaaaaaaaaaaa") == 0 &&
	      strcmp(s[0].state, "completed") == 0);
	ec2_snapshots_free(s, n);
	CHECK(ec2_describe_images(e, ami, 1, NULL, 0, &im, &n, &se, &err) == 0 && n == 1 &&
	      strcmp(im[0].name, "gold") == 0 && strcmp(im[0].state, "available") == 0);
	ec2_images_free(im, n);
	res[0] = ME;
	CHECK(ec2_describe_instances(e, res, 1, &in, &n, &se, &err) == 0 && n == 1 &&
	      strcmp(in[0].state, "running") == 0);
	ec2_instances_free(in, n);
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
	res[0] = "i-0dead0dead0dead0d";
	CHECK(ec2_describe_instances(e, res, 1, &in, &n, &se, &err) == -1 &&
	      strcmp(se.code, "InvalidInstanceID.NotFound") == 0 && n == 0);
	memset(&err, 0, sizeof(err));
	/* A waiter that cannot be satisfied in time says so, with the state it saw last. */
	CHECK(ec2_wait_volume(e, vol[2], EC2_WAIT_ATTACHED, 1, &err) == -1 && err.code == DT_ENET &&
	      strstr(err.msg, "timed out after 1 s") && strstr(err.msg, "(last: available)"));
	CHECK(peer_clean(&p));
	ec2_free(e);
	ec2peer_stop(&p);
}

/* The hook plays udev: the "NVMe device" of the volume is a link to disk.img. */
#define LINK_HOOK "ln -s \"$PWD/disk.img\" byid/nvme-Amazon_Elastic_Block_Store_vol${1#vol-}"

/* A job of case IR-7 on snapshot snap (the strings are not the job's to free). */
static struct job
job_of(const char *snap)
{
	struct job j;

	memset(&j, 0, sizeof(j));
	j.case_id = (char *)"IR-7";
	j.snapshot = (char *)snap;
	j.evidence = (char *)snap;
	j.read_mode = JOB_READ_ATTACH;
	return j;
}

static void
attach_opts(struct attach_options *o, struct ec2peer *p, const char *hook, unsigned timeout_s)
{
	memset(o, 0, sizeof(*o));
	o->env = p->env;
	o->pool = p->pool;
	o->by_id_dir = "byid";
	o->attach_hook = hook;
	o->timeout_seconds = timeout_s;
	o->poll_ms = 50;
}

/* The tags of the only volume the peer holds, as JSON (new), NULL when not one. */
static json_t *
only_volume(struct ec2peer *p)
{
	json_t *j = ec2peer_ctl(p, "ec2"), *vs = json_object_get(j, "volumes"), *v = NULL;

	if (json_array_size(vs) == 1)
		v = json_incref(json_array_get(vs, 0));
	json_decref(j);
	return v;
}

static const char *
vtag(json_t *v, const char *key)
{
	json_t *t;
	size_t i;

	json_array_foreach(json_object_get(v, "Tags"), i,
			   t) if (strcmp(json_string_value(json_object_get(t, "Key")), key) ==
				  0) return json_string_value(json_object_get(t, "Value"));
	return NULL;
}

TEST(t_attach_open_reads_and_close_deletes)
{
	struct ec2peer p;
	struct attach_options o;
	struct attach *a = NULL;
	struct job j_ok = job_of(SNAP);
	char *dev = NULL;
	struct dt_err err = { 0 };
	unsigned char want[4096], got[4096];
	json_t *v;
	int fd;

	if (!have_botocore())
		SKIP("needs /usr/bin/python3 with python3-botocore");
	/* /dev/sdf is taken on this instance: the attach moves on to /dev/sdg. */
	REQUIRE(setup(&p, ", \"ec2_delay\": 0.2, \"volumes\": {\"vol-0bbbbbbbbbbbbbbbb\": "
			  "{\"instance\": \"" ME "\", \"device\": \"/dev/sdf\"}}") == 0);
	REQUIRE(mkdir("byid", 0700) == 0);
	attach_opts(&o, &p, LINK_HOOK, 20);
	if (attach_open(&j_ok, &o, &a, &dev, &err) < 0)
		fprintf(stderr, "  attach_open: %s\n", err.msg);
	REQUIRE(a != NULL);
	CHECK(strncmp(attach_volume_id(a), "vol-", 4) == 0);
	CHECK(dev && strstr(dev, "/disk.img") != NULL);
	free(dev);
	/* The bytes read are the snapshot's. */
	fd = open("disk.img", O_RDONLY);
	CHECK(fd >= 0 && pread(fd, want, sizeof(want), 8192) == (ssize_t)sizeof(want));
	CHECK(pread(attach_fd(a), got, sizeof(got), 8192) == (ssize_t)sizeof(got));
	CHECK(memcmp(want, got, sizeof(got)) == 0);
	close(fd);
	/* Read-only: a write through it fails. */
	CHECK(write(attach_fd(a), "x", 1) == -1);
	{
		json_t *j = ec2peer_ctl(&p, "ec2"), *x;
		size_t i;
		int found = 0;

		json_array_foreach(json_object_get(j, "volumes"), i, x)
		{
			if (strcmp(json_string_value(json_object_get(x, "VolumeId")),
				   attach_volume_id(a)) != 0)
				continue;
			found = 1;
			CHECK(strcmp(json_string_value(json_object_get(x, "AvailabilityZone")),
				     "us-east-1b") == 0);
			CHECK(strcmp(json_string_value(json_object_get(
					     json_array_get(json_object_get(x, "Attachments"), 0),
					     "Device")),
				     "/dev/sdg") == 0);
			CHECK(strcmp(vtag(x, "deltair:job"), "IR-7/" SNAP) == 0);
			CHECK(strcmp(vtag(x, "deltair:worker"), ME) == 0);
			CHECK(strcmp(vtag(x, "deltair:case"), "IR-7") == 0);
			CHECK(vtag(x, "deltair:created") &&
			      strlen(vtag(x, "deltair:created")) == 20);
		}
		CHECK(found);
		json_decref(j);
	}
	attach_close(a, &err);
	CHECK(err.code == DT_OK);
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
	/* Only the instance's own root volume is left. */
	v = only_volume(&p);
	CHECK(v && strcmp(json_string_value(json_object_get(v, "VolumeId")),
			  "vol-0bbbbbbbbbbbbbbbb") == 0);
	json_decref(v);
	CHECK(peer_clean(&p));
	ec2peer_stop(&p);
}

TEST(t_attach_failures_leave_no_volume)
{
	struct ec2peer p;
	struct attach_options o;
	struct attach *a = NULL;
	struct job j_ok = job_of(SNAP), j_bad = job_of("snap-0ffffffffffffffff");
	char *dev = NULL;
	struct dt_err err = { 0 };
	volatile sig_atomic_t stop = 1;

	if (!have_botocore())
		SKIP("needs /usr/bin/python3 with python3-botocore");
	REQUIRE(setup(&p, ", \"ec2_delay\": 0.2") == 0);
	REQUIRE(mkdir("byid", 0700) == 0);
	/* The device never shows up: a timeout, and the volume is gone. */
	attach_opts(&o, &p, NULL, 1);
	CHECK(attach_open(&j_ok, &o, &a, &dev, &err) == -1 && a == NULL);
	CHECK(err.code == DT_ENET && strstr(err.msg, "timed out after 1 s waiting for the device"));
	CHECK(peer_volumes(&p) == 0);
	/* The hook fails. */
	memset(&err, 0, sizeof(err));
	attach_opts(&o, &p, "exit 3", 10);
	CHECK(attach_open(&j_ok, &o, &a, &dev, &err) == -1 && a == NULL);
	CHECK(strstr(err.msg, "attach hook failed") && strstr(err.msg, "status 3"));
	CHECK(peer_volumes(&p) == 0);
	/* Cancelled (a SIGTERM's flag) while waiting: the cleanup still runs to the end. */
	memset(&err, 0, sizeof(err));
	attach_opts(&o, &p, LINK_HOOK, 10);
	o.cancel = &stop;
	CHECK(attach_open(&j_ok, &o, &a, &dev, &err) == -1 && a == NULL);
	CHECK(strstr(err.msg, "cancelled") != NULL);
	CHECK(peer_volumes(&p) == 0);
	/* No such snapshot: nothing made. */
	memset(&err, 0, sizeof(err));
	attach_opts(&o, &p, LINK_HOOK, 10);
	CHECK(attach_open(&j_bad, &o, &a, &dev, &err) == -1 &&
	      strstr(err.msg, "InvalidSnapshot.NotFound"));
	CHECK(peer_volumes(&p) == 0);
	CHECK(peer_clean(&p));
	ec2peer_stop(&p);
}

TEST(t_attach_sweep_after_kill)
{
	struct ec2peer p;
	struct attach_options o;
	struct attach_sweep_stats st;
	struct ec2 *e;
	struct ec2_tag dead = { "deltair:worker", "i-0dead0dead0dead0d" };
	struct ec2_tag live = { "deltair:worker", "i-01e01e01e01e01e01" };
	char v1[EC2_ID_MAX], v2[EC2_ID_MAX];
	struct dt_err err = { 0 };
	pid_t pid;
	int status;
	json_t *v;

	if (!have_botocore())
		SKIP("needs /usr/bin/python3 with python3-botocore");
	REQUIRE(setup(&p, ", \"instances\": {\"i-01e01e01e01e01e01\": {\"state\": \"running\"}}") ==
		0);
	REQUIRE(mkdir("byid", 0700) == 0);
	attach_opts(&o, &p, LINK_HOOK, 10);
	/* A worker killed outright between attach and close (kill -9). */
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct attach *a = NULL;
		struct job j_ok = job_of(SNAP);
		char *dev = NULL;

		if (attach_open(&j_ok, &o, &a, &dev, NULL) < 0)
			_exit(1);
		raise(SIGKILL);
		_exit(2);
	}
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK(peer_volumes(&p) == 1);
	/* A gone worker's volume and a live one's. */
	e = client(&p, 50);
	REQUIRE(e != NULL);
	CHECK(ec2_create_volume(e, SNAP, "us-east-1b", NULL, &dead, 1, v1, NULL, &err) == 0);
	CHECK(ec2_create_volume(e, SNAP, "us-east-1b", NULL, &live, 1, v2, NULL, &err) == 0);
	CHECK(peer_volumes(&p) == 3);
	/* This instance is alive: a plain sweep keeps its volume, deletes the gone worker's. */
	CHECK(attach_sweep(&o, 0, &st, &err) == 0);
	CHECK(st.seen == 3 && st.deleted == 1 && st.kept == 2 && st.failed == 0);
	CHECK(peer_volumes(&p) == 2);
	/* At a worker's start: its own leftovers go too (attached: detached first). */
	CHECK(attach_sweep(&o, ATTACH_SWEEP_SELF, &st, &err) == 0);
	CHECK(st.seen == 2 && st.deleted == 1 && st.kept == 1);
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
	v = only_volume(&p);
	CHECK(v && strcmp(json_string_value(json_object_get(v, "VolumeId")), v2) == 0);
	json_decref(v);
	CHECK(peer_clean(&p));
	ec2_free(e);
	ec2peer_stop(&p);
}

TEST(t_baseline_ami_discovery)
{
	struct ec2peer p;
	struct ec2 *e;
	char ami[EC2_ID_MAX], how[256];
	struct dt_err err = { 0 };

	if (!have_botocore())
		SKIP("needs /usr/bin/python3 with python3-botocore");
	if (make_image("disk.img") < 0)
		SKIP("cannot write disk.img");
	REQUIRE(ec2peer_start(
			&p,
			"{\"snapshots\": {"
			"\"snap-00000000000000001\": {\"image\": \"disk.img\", \"tags\": "
			"{\"deltair:ami\": \"ami-0aaaaaaaaaaaaaaa1\"}, \"volume_id\": "
			"\"vol-00000000000000002\"},"
			"\"snap-00000000000000002\": {\"image\": \"disk.img\", \"volume_id\": "
			"\"vol-00000000000000002\"},"
			"\"snap-00000000000000003\": {\"image\": \"disk.img\", \"volume_id\": "
			"\"vol-00000000000000003\"},"
			"\"snap-00000000000000004\": {\"image\": \"disk.img\", \"volume_id\": "
			"\"vol-0ffffffffffffffff\", \"description\": \"Created by "
			"CreateImage(i-0123) for ami-0aaaaaaaaaaaaaaa4 from vol-0f\"},"
			"\"snap-00000000000000005\": {\"image\": \"disk.img\", \"volume_id\": "
			"\"vol-0ffffffffffffffff\", \"tags\": {\"deltair:ami\": \"ami-../../etc\"},"
			" \"description\": \"nightly\"}},"
			"\"volumes\": {\"vol-00000000000000002\": {\"tags\": {\"deltair:ami\": "
			"\"ami-0aaaaaaaaaaaaaaa2\"}}, \"vol-00000000000000003\": {\"instance\": "
			"\"i-00000000000000003\"}},"
			"\"instances\": {\"i-00000000000000003\": {\"state\": \"running\", "
			"\"image_id\": \"ami-0aaaaaaaaaaaaaaa3\"}}}") == 0);
	e = client(&p, 50);
	REQUIRE(e != NULL);
	/* 1. The snapshot's own tag comes first (its volume's tag names another AMI). */
	CHECK(attach_baseline_ami(e, "snap-00000000000000001", ami, how, sizeof(how), &err) == 0 &&
	      strcmp(ami, "ami-0aaaaaaaaaaaaaaa1") == 0 && strstr(how, "snap-00000000000000001"));
	/* 2. The source volume's tag. */
	CHECK(attach_baseline_ami(e, "snap-00000000000000002", ami, how, sizeof(how), &err) == 0 &&
	      strcmp(ami, "ami-0aaaaaaaaaaaaaaa2") == 0 && strstr(how, "vol-00000000000000002"));
	/* 3. The AMI of the instance the source volume is attached to. */
	CHECK(attach_baseline_ami(e, "snap-00000000000000003", ami, how, sizeof(how), &err) == 0 &&
	      strcmp(ami, "ami-0aaaaaaaaaaaaaaa3") == 0 && strstr(how, "i-00000000000000003"));
	/* 4. CreateImage's description, the source volume long deleted. */
	CHECK(attach_baseline_ami(e, "snap-00000000000000004", ami, how, sizeof(how), &err) == 0 &&
	      strcmp(ami, "ami-0aaaaaaaaaaaaaaa4") == 0 && strstr(how, "description"));
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
	/* A tag that is no AMI id (it would name a path) is passed over: no AMI. */
	CHECK(attach_baseline_ami(e, "snap-00000000000000005", ami, how, sizeof(how), &err) == -1 &&
	      err.code == DT_EUSAGE && strstr(err.msg, "names no AMI") && ami[0] == '\0');
	memset(&err, 0, sizeof(err));
	CHECK(attach_baseline_ami(e, "snap-0000000000000000f", ami, how, sizeof(how), &err) == -1 &&
	      err.code == DT_ENET && strstr(err.msg, "InvalidSnapshot.NotFound"));
	CHECK(peer_clean(&p));
	ec2_free(e);
	ec2peer_stop(&p);
}

/* As udev would: a read-only loop device of the image, linked by the volume's serial. */
#define LOOP_HOOK                                                                  \
	"d=$(losetup -r -f --show \"$PWD/disk.img\") && echo \"$d\" > loopdev && " \
	"ln -s \"$d\" byid/nvme-Amazon_Elastic_Block_Store_vol${1#vol-}"

TEST(t_attach_reads_a_loop_device)
{
	struct ec2peer p;
	struct attach_options o;
	struct attach *a = NULL;
	struct job j = job_of(SNAP);
	struct dt_err err = { 0 };
	unsigned char want[65536], got[65536];
	char *dev = NULL, *loop;
	int fd;

	if (!have_botocore())
		SKIP("needs /usr/bin/python3 with python3-botocore");
	if (geteuid() != 0 || system("losetup -f >/dev/null 2>&1") != 0)
		SKIP("needs root and a free loop device");
	REQUIRE(setup(&p, NULL) == 0);
	REQUIRE(mkdir("byid", 0700) == 0);
	attach_opts(&o, &p, LOOP_HOOK, 20);
	if (attach_open(&j, &o, &a, &dev, &err) < 0)
		fprintf(stderr, "  attach_open: %s\n", err.msg);
	loop = t_slurp("loopdev", NULL);
	CHECK(a != NULL && dev && loop && strncmp(dev, loop, strlen(dev)) == 0);
	if (a) {
		struct stat st;

		CHECK(fstat(attach_fd(a), &st) == 0 && S_ISBLK(st.st_mode));
		fd = open("disk.img", O_RDONLY);
		CHECK(fd >= 0 && pread(fd, want, sizeof(want), 65536) == (ssize_t)sizeof(want));
		CHECK(pread(attach_fd(a), got, sizeof(got), 65536) == (ssize_t)sizeof(got));
		CHECK(memcmp(want, got, sizeof(got)) == 0);
		if (fd >= 0)
			close(fd);
	}
	attach_close(a, &err);
	CHECK(err.code == DT_OK);
	CHECK(peer_volumes(&p) == 0);
	if (loop) {
		char cmd[300];
		loop[strcspn(loop, "\n")] = '\0';
		snprintf(cmd, sizeof(cmd), "losetup -d '%.200s'", loop);
		CHECK(system(cmd) == 0);
	}
	free(loop);
	free(dev);
	CHECK(peer_clean(&p));
	ec2peer_stop(&p);
}

TEST(t_baseline_found_in_the_output)
{
	struct ec2peer p;
	struct attach_options o;
	struct store *s = NULL;
	struct job j = job_of(SNAP), k = job_of("snap-0123456789abcdef1"), l = job_of(NULL);
	struct dt_err err = { 0 };
	char *path = NULL, *got;
	size_t len = 0;

	if (!have_botocore())
		SKIP("needs /usr/bin/python3 with python3-botocore");
	/* SNAP's source volume is tagged with the AMI; the other snapshot's AMI has no
	 * baseline in the output. */
	REQUIRE(setup(&p, ", \"volumes\": {\"vol-0aaaaaaaaaaaaaaaa\": {\"tags\": {\"deltair:ami\": "
			  "\"" AMI "\"}}}") == 0);
	REQUIRE(store_open("out", NULL, &s, &err) == 0);
	REQUIRE(store_put_mem(s, "baselines/" AMI ".dtree", "tree bytes", 10, &err) == 0);
	REQUIRE(mkdir("cache", 0700) == 0);
	attach_opts(&o, &p, NULL, 10);
	CHECK(worker_find_baseline(&j, &o, s, "cache", &path, &err) == 0);
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(path && strcmp(path, "cache/" AMI ".dtree") == 0);
	got = path ? t_slurp(path, &len) : NULL;
	CHECK(got && len == 10 && memcmp(got, "tree bytes", 10) == 0);
	free(got);
	free(path);
	path = NULL;
	/* No AMI at all for the other snapshot: a failed job, with the reason. */
	CHECK(worker_find_baseline(&k, &o, s, "cache", &path, &err) == -1 && path == NULL &&
	      err.code == DT_EUSAGE && strstr(err.msg, "names no AMI"));
	/* A local image has no snapshot to look up. */
	memset(&err, 0, sizeof(err));
	l.evidence = (char *)"/images/host.raw";
	CHECK(worker_find_baseline(&l, &o, s, "cache", &path, &err) == -1 &&
	      err.code == DT_EUSAGE && strstr(err.msg, "only a snapshot"));
	/* The AMI found, its baseline missing. */
	memset(&err, 0, sizeof(err));
	CHECK(store_delete_prefix(s, "baselines/", &err) == 0);
	CHECK(worker_find_baseline(&j, &o, s, "cache", &path, &err) == -1 && path == NULL &&
	      err.code == DT_EUSAGE && strstr(err.msg, "'baselines/" AMI ".dtree'") &&
	      strstr(err.msg, "is not in"));
	store_close(s);
	CHECK(peer_clean(&p));
	ec2peer_stop(&p);
}

TEST(t_attach_close_forces_a_stuck_detach)
{
	struct ec2peer p;
	struct attach_options o;
	struct attach *a = NULL;
	struct job j = job_of(SNAP);
	struct dt_err err = { 0 };
	char *dev = NULL;
	time_t t0;

	if (!have_botocore())
		SKIP("needs /usr/bin/python3 with python3-botocore");
	/* A plain detach would take a minute: only Force can end it within the test. */
	REQUIRE(setup(&p, ", \"detach_delay\": 60") == 0);
	REQUIRE(mkdir("byid", 0700) == 0);
	attach_opts(&o, &p, LINK_HOOK, 1);
	CHECK(attach_open(&j, &o, &a, &dev, &err) == 0);
	t0 = time(NULL);
	attach_close(a, &err);
	CHECK(err.code == DT_OK);
	if (err.code)
		fprintf(stderr, "  %s\n", err.msg);
	CHECK(time(NULL) - t0 < 10);
	CHECK(peer_volumes(&p) == 0);
	free(dev);
	CHECK(peer_clean(&p));
	ec2peer_stop(&p);
}
