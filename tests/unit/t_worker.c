/* t_worker.c - jobs (job.h), the spool queue (queue.h) and the folder store (store.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "outfile.h"
#include "t.h"
#include "worker/job.h"
#include "worker/queue.h"
#include "worker/store.h"

static int
parse(const char *json, struct job *j, struct dt_err *err)
{
	memset(err, 0, sizeof(*err));
	return job_parse(json, strlen(json), NULL, j, err);
}

/* job_parse fails with code and a message containing word. */
static int
rejects(const char *json, enum dt_code code, const char *word)
{
	struct job j;
	struct dt_err err;
	int r = parse(json, &j, &err);

	if (r != -1 || err.code != code || strstr(err.msg, word) == NULL) {
		fprintf(stderr, "  job %s: r=%d code=%d msg=%s\n", json, r, err.code, err.msg);
		if (r == 0)
			job_free(&j);
		return 0;
	}
	return j.evidence == NULL && j.case_id == NULL;
}

TEST(t_job_parses_version_1)
{
	struct job j;
	struct dt_err err;
	char *name;

	REQUIRE(parse("{\"version\":1,\"case\":\"IR-1\",\"evidence\":\"ebs://"
		      "snap-0123456789abcdef0\","
		      "\"region\":\"eu-west-1\",\"baseline\":\"/g/gold.dtree\",\"output\":\"/r\","
		      "\"rules\":[\"/r1.yar\"],\"artifacts\":[],\"limits\":{\"memory_mb\":512,"
		      "\"cpu_seconds\":60,\"wall_seconds\":120,\"open_files\":256}}",
		      &j, &err) == 0);
	CHECK(strcmp(j.case_id, "IR-1") == 0);
	CHECK(strcmp(j.snapshot, "snap-0123456789abcdef0") == 0);
	CHECK(strcmp(j.region, "eu-west-1") == 0);
	CHECK(j.read_mode == JOB_READ_DIRECT);
	CHECK(j.nrules == 1 && strcmp(j.rules[0], "/r1.yar") == 0);
	CHECK(j.artifacts != NULL && j.nartifacts == 0);
	CHECK(j.limits.memory_bytes == 512ull * 1024 * 1024 && j.limits.cpu_seconds == 60 &&
	      j.limits.wall_seconds == 120 && j.limits.open_files == 256);
	name = job_result_name(&j);
	CHECK(name && strcmp(name, "IR-1/snap-0123456789abcdef0") == 0);
	free(name);
	job_free(&j);
}

TEST(t_job_round_trips_through_json)
{
	struct job j, k;
	struct dt_err err;
	char *s, *t;

	REQUIRE(parse("{\"version\":1,\"snapshot\":\"snap-0123abcd\",\"read_mode\":\"attach\","
		      "\"changed_since\":\"snap-01234567\",\"limits\":{\"wall_seconds\":5}}",
		      &j, &err) == 0);
	CHECK(strcmp(j.evidence, "ebs://snap-0123abcd") == 0);
	CHECK(strcmp(j.case_id, "default") == 0);
	s = job_to_json(&j);
	REQUIRE(s != NULL);
	REQUIRE(parse(s, &k, &err) == 0);
	t = job_to_json(&k);
	CHECK(t && strcmp(s, t) == 0);
	CHECK(k.read_mode == JOB_READ_ATTACH && k.limits.wall_seconds == 5);
	free(s);
	free(t);
	job_free(&j);
	job_free(&k);
}

TEST(t_job_takes_defaults)
{
	struct job d = { 0 }, j;
	struct dt_err err = { 0 };
	char *rules[] = { "/d.yar" };

	d.case_id = "fleet";
	d.baseline = "/gold.dtree";
	d.output = "/out";
	d.rules = rules;
	d.nrules = 1;
	d.limits.wall_seconds = 99;
	const char *js = "{\"version\":1,\"evidence\":\"/img/host-a.raw\",\"output\":\"/o2\"}";
	REQUIRE(job_parse(js, strlen(js), &d, &j, &err) == 0);
	CHECK(strcmp(j.case_id, "fleet") == 0 && strcmp(j.baseline, "/gold.dtree") == 0);
	CHECK(strcmp(j.output, "/o2") == 0 && j.nrules == 1 && j.rules[0] != rules[0]);
	CHECK(j.limits.wall_seconds == 99 && j.snapshot == NULL);
	CHECK(j.read_mode == JOB_READ_DEFAULT);
	job_free(&j);
}

TEST(t_job_accepts_eventbridge_snapshot_event)
{
	struct job d = { 0 }, j;
	struct dt_err err = { 0 };
	char *name;
	const char *ev =
		"{\"version\":\"0\",\"id\":\"01234567-0123-0123-0123-012345678901\","
		"\"detail-type\":\"EBS Snapshot Notification\",\"source\":\"aws.ec2\","
		"\"account\":\"012345678901\",\"time\":\"2026-12-03T10:00:00Z\","
		"\"region\":\"us-east-1\",\"resources\":[\"arn:aws:ec2::us-west-2:snapshot/"
		"snap-01234567\"],\"detail\":{\"event\":\"createSnapshot\",\"result\":"
		"\"succeeded\","
		"\"cause\":\"\",\"request-id\":\"\",\"snapshot_id\":\"arn:aws:ec2::us-west-2:"
		"snapshot/snap-01234567\",\"source\":\"arn:aws:ec2::us-west-2:volume/"
		"vol-01234567\",\"startTime\":\"2026-12-03T10:00:00Z\"}}";

	d.case_id = "auto";
	d.output = "/results";
	REQUIRE(job_parse(ev, strlen(ev), &d, &j, &err) == 0);
	CHECK(strcmp(j.snapshot, "snap-01234567") == 0);
	CHECK(strcmp(j.evidence, "ebs://snap-01234567") == 0);
	CHECK(strcmp(j.region, "us-east-1") == 0 && strcmp(j.output, "/results") == 0);
	name = job_result_name(&j);
	CHECK(name && strcmp(name, "auto/snap-01234567") == 0);
	free(name);
	job_free(&j);
}

TEST(t_job_rejects_failed_snapshot_event)
{
	CHECK(rejects(
		"{\"detail-type\":\"EBS Snapshot Notification\",\"detail\":{\"result\":"
		"\"failed\",\"snapshot_id\":\"arn:aws:ec2::us-west-2:snapshot/snap-01234567\"}}",
		DT_EFORMAT, "'failed', not 'succeeded'"));
	CHECK(rejects("{\"detail-type\":\"EBS Volume Notification\",\"detail\":{}}", DT_EFORMAT,
		      "not an \"EBS Snapshot Notification\""));
	CHECK(rejects("{\"detail-type\":\"EBS Snapshot Notification\",\"detail\":{\"result\":"
		      "\"succeeded\",\"snapshot_id\":\"arn:aws:ec2::x:snapshot/../../etc\"}}",
		      DT_EFORMAT, "not a snapshot ARN"));
}

TEST(t_job_rejects_hostile_json)
{
	char *huge;
	size_t n = 300 * 1024;

	CHECK(rejects("", DT_EFORMAT, "not JSON"));
	CHECK(rejects("[1,2]", DT_EFORMAT, "not a JSON object"));
	CHECK(rejects("{\"version\":1,\"version\":1,\"evidence\":\"/x\"}", DT_EFORMAT, "not JSON"));
	CHECK(rejects("{\"evidence\":\"/x\"}", DT_EFORMAT, "no 'version'"));
	CHECK(rejects("{\"version\":\"1\",\"evidence\":\"/x\"}", DT_EFORMAT, "not a number"));
	CHECK(rejects("{\"version\":2,\"evidence\":\"/x\"}", DT_EVERSION, "version 2"));
	CHECK(rejects("{\"version\":1}", DT_EFORMAT, "no 'evidence'"));
	CHECK(rejects("{\"version\":1,\"evidence\":7}", DT_EFORMAT, "'evidence' is not a string"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"/x\",\"basline\":\"/g\"}", DT_EFORMAT,
		      "unknown key 'basline'"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"/x\\u0000/y\"}", DT_EFORMAT, "NUL"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"http://x/y\"}", DT_EFORMAT, "only ebs://"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"ebs://snap-zz\"}", DT_EFORMAT,
		      "names no snapshot"));
	CHECK(rejects("{\"version\":1,\"snapshot\":\"snap-01234567\",\"evidence\":\"ebs://"
		      "snap-76543210\"}",
		      DT_EFORMAT, "different snapshots"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"/x\",\"read_mode\":\"attach\"}", DT_EFORMAT,
		      "ebs:// evidence only"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"/x\",\"read_mode\":3}", DT_EFORMAT,
		      "'read_mode'"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"/x\",\"rules\":\"/r\"}", DT_EFORMAT,
		      "'rules' is not an array"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"/x\",\"rules\":[1]}", DT_EFORMAT, "entry 0"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"/x\",\"limits\":{\"memory_mb\":-1}}",
		      DT_EFORMAT, "memory_mb"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"/x\",\"limits\":{\"wall_seconds\":1.5}}",
		      DT_EFORMAT, "wall_seconds"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"/x\",\"limits\":{\"cpu\":1}}", DT_EFORMAT,
		      "unknown key 'cpu'"));
	CHECK(rejects("{\"version\":1,\"evidence\":\"/x\",\"region\":\"US EAST\"}", DT_EFORMAT,
		      "not a region"));
	huge = malloc(n + 64);
	REQUIRE(huge);
	strcpy(huge, "{\"version\":1,\"evidence\":\"/");
	memset(huge + strlen(huge), 'a', n);
	strcpy(huge + 27 + n, "\"}");
	CHECK(rejects(huge, DT_EFORMAT, "more than"));
	huge[27 + 5000] = '\0';
	strcat(huge, "\"}");
	CHECK(rejects(huge, DT_EFORMAT, "longer than"));
	free(huge);
}

TEST(t_job_rejects_path_traversal_in_case)
{
	CHECK(rejects("{\"version\":1,\"case\":\"..\",\"evidence\":\"/x\"}", DT_EFORMAT, "'case'"));
	CHECK(rejects("{\"version\":1,\"case\":\"a/../b\",\"evidence\":\"/x\"}", DT_EFORMAT,
		      "'case'"));
	CHECK(rejects("{\"version\":1,\"case\":\"/etc\",\"evidence\":\"/x\"}", DT_EFORMAT,
		      "'case'"));
	CHECK(rejects("{\"version\":1,\"case\":\"a\\nb\",\"evidence\":\"/x\"}", DT_EFORMAT,
		      "'case'"));
}

/* job_admit() of a job with this output and evidence: 0, or -1 with word in the reason. */
static int
admit(const char *output, const char *evidence, const char *root, int remote, int allow_local,
      const char *word)
{
	struct job j = { 0 };
	struct dt_err err = { 0 };
	int r;

	j.output = (char *)output;
	j.evidence = (char *)evidence;
	if (strncmp(evidence, "ebs://", 6) == 0)
		j.snapshot = (char *)evidence + 6;
	r = job_admit(&j, root, remote, allow_local, &err);
	if (word == NULL ? r != 0 : r != -1 || err.code != DT_EUSAGE || !strstr(err.msg, word)) {
		fprintf(stderr, "  output %s evidence %s root %s: r=%d %s\n", output, evidence,
			root ? root : "(none)", r, err.msg);
		return 0;
	}
	return 1;
}

TEST(t_job_admit_confines_outputs)
{
	const char *snap = "ebs://snap-0123456789abcdef0";

	CHECK(admit("/srv/res", "/dev/sdb", "/srv/res", 0, 0, NULL));
	CHECK(admit("/srv/res/team-a", "/dev/sdb", "/srv/res/", 0, 0, NULL));
	CHECK(admit("/srv/res/a/b/", "/dev/sdb", "/srv/res", 0, 0, NULL));
	CHECK(admit("/srv/other", "/dev/sdb", "/srv/res", 0, 0, "not beneath"));
	CHECK(admit("/srv/res-x", "/dev/sdb", "/srv/res", 0, 0, "not beneath"));
	CHECK(admit("/srv", "/dev/sdb", "/srv/res", 0, 0, "not beneath"));
	CHECK(admit("/srv/res/../etc", "/dev/sdb", "/srv/res", 0, 0, "not beneath"));
	CHECK(admit("/srv/res/a/./b", "/dev/sdb", "/srv/res", 0, 0, "not beneath"));
	CHECK(admit("/srv/res/..", "/dev/sdb", "/srv/res", 0, 0, "not beneath"));
	CHECK(admit("s3://bucket/res", "/dev/sdb", "/srv/res", 0, 0, "not beneath"));
	CHECK(admit("/anything", "/dev/sdb", "/", 0, 0, NULL));
	/* s3://: the same bucket, a prefix beneath. */
	CHECK(admit("s3://bucket/res/team-a", snap, "s3://bucket/res", 1, 0, NULL));
	CHECK(admit("s3://bucket/anything", snap, "s3://bucket", 1, 0, NULL));
	CHECK(admit("s3://bucket2/res", snap, "s3://bucket", 1, 0, "not beneath"));
	CHECK(admit("s3://other/res", snap, "s3://bucket/res", 1, 0, "not beneath"));
	CHECK(admit("s3://bucket/results", snap, "s3://bucket/res", 1, 0, "not beneath"));
	CHECK(admit("s3://bucket/res/../x", snap, "s3://bucket/res", 1, 0, "not beneath"));
	CHECK(admit("/srv/res", snap, "s3://bucket/res", 1, 0, "not beneath"));
	/* Without a root: a local queue's job names its output; a shared queue's may not. */
	CHECK(admit("/anywhere", "/dev/sdb", NULL, 0, 0, NULL));
	CHECK(admit("/anywhere", snap, NULL, 1, 0, "no --output to confine it"));
}

TEST(t_job_admit_refuses_local_evidence_from_shared_queues)
{
	const char *snap = "ebs://snap-0123456789abcdef0";

	CHECK(admit("/srv/res", snap, "/srv/res", 1, 0, NULL));
	CHECK(admit("/srv/res", "/dev/nvme1n1", "/srv/res", 1, 0, "local path"));
	CHECK(admit("/srv/res", "/srv/images/x.img", "/srv/res", 1, 0, "--allow-local-evidence"));
	CHECK(admit("/srv/res", "/dev/nvme1n1", "/srv/res", 1, 1, NULL));
	CHECK(admit("/srv/res", "/dev/nvme1n1", "/srv/res", 0, 0, NULL));
}

/* job_admit() of an ebs:// job from a shared queue naming a baseline, a rule, an artifact. */
static int
admit_files(const char *baseline, char *rule, char *artifact, int allow_local, const char *word)
{
	struct job j = { 0 };
	struct dt_err err = { 0 };
	int r;

	j.output = "s3://res/case";
	j.evidence = "ebs://snap-0123456789abcdef0";
	j.snapshot = j.evidence + 6;
	j.baseline = (char *)baseline;
	j.rules = rule ? &rule : NULL;
	j.nrules = rule != NULL;
	j.artifacts = artifact ? &artifact : NULL;
	j.nartifacts = artifact != NULL;
	r = job_admit(&j, "s3://res", 1, allow_local, &err);
	if (word == NULL ? r != 0 : r != -1 || err.code != DT_EUSAGE || !strstr(err.msg, word)) {
		fprintf(stderr, "  baseline %s rule %s artifact %s: r=%d %s\n",
			baseline ? baseline : "-", rule ? rule : "-", artifact ? artifact : "-", r,
			err.msg);
		return 0;
	}
	return 1;
}

TEST(t_job_admit_refuses_local_files_from_shared_queues)
{
	CHECK(admit_files(NULL, NULL, NULL, 0, NULL));
	CHECK(admit_files("s3://res/baselines/ami-0abc.dtree", NULL, NULL, 0, NULL));
	CHECK(admit_files("/etc/shadow", NULL, NULL, 0, "baseline '/etc/shadow'"));
	CHECK(admit_files(NULL, "/etc/shadow", NULL, 0, "rules"));
	CHECK(admit_files(NULL, NULL, "/root/.ssh/id_rsa", 0, "artifacts"));
	CHECK(admit_files("/srv/gold.dtree", "/srv/rules", "/srv/art", 1, NULL));
}

/* job_admit() from a shared queue of an ebs:// job (json) parsed over the defaults d. */
static int
admit_kg(const char *json, const struct job *d, const char *word)
{
	struct job j;
	struct dt_err err = { 0 };
	int r;

	if (job_parse(json, strlen(json), d, &j, &err) < 0) {
		fprintf(stderr, "  job %s: %s\n", json, err.msg);
		return 0;
	}
	r = job_admit(&j, "s3://res", 1, 0, &err);
	job_free(&j);
	if (word == NULL ? r != 0 : r != -1 || err.code != DT_EUSAGE || !strstr(err.msg, word)) {
		fprintf(stderr, "  job %s: r=%d %s\n", json, r, err.msg);
		return 0;
	}
	return 1;
}

TEST(t_job_admit_takes_known_good_from_s3_or_the_worker)
{
#define KG_JOB(kg)                                                                            \
	"{\"version\":1,\"evidence\":\"ebs://snap-0123456789abcdef0\",\"output\":\"s3://res/" \
	"c\"" kg "}"
	char *own[] = { "/srv/debian.kg" };
	struct job d = { 0 };
	struct dt_err err = { 0 };
	struct job j;

	CHECK(admit_kg(KG_JOB(",\"known_good\":[\"s3://sets/debian.kg\"]"), NULL, NULL));
	CHECK(admit_kg(KG_JOB(",\"known_good\":[\"s3://sets/a.kg\",\"/etc/shadow\"]"), NULL,
		       "known_good '/etc/shadow' is a local path, from a shared queue"));
	/* The worker's own (its config) is taken; the job naming the same path is not. */
	d.known_good = own;
	d.nknown_good = 1;
	CHECK(admit_kg(KG_JOB(""), &d, NULL));
	CHECK(admit_kg(KG_JOB(",\"known_good\":null"), &d, NULL));
	CHECK(admit_kg(KG_JOB(",\"known_good\":[\"/srv/debian.kg\"]"), &d, "known_good"));
	CHECK(admit_kg(KG_JOB(",\"known_good\":[]"), &d, NULL));
	/* Parsed: the job's list replaces the worker's, [] is none; only s3:// or a path. */
	REQUIRE(parse(KG_JOB(",\"known_good\":[\"s3://sets/x.kg\"]"), &j, &err) == 0);
	CHECK(j.nknown_good == 1 && strcmp(j.known_good[0], "s3://sets/x.kg") == 0 &&
	      !j.known_good_own);
	job_free(&j);
	CHECK(rejects(KG_JOB(",\"known_good\":[\"https://x/y.kg\"]"), DT_EFORMAT,
		      "only s3:// or a local path"));
	CHECK(rejects(KG_JOB(",\"known_good\":\"s3://sets/x.kg\""), DT_EFORMAT,
		      "'known_good' is not an array"));
#undef KG_JOB
}

TEST(t_job_result_name_is_one_safe_part)
{
	static const struct {
		const char *evidence, *want;
	} cases[] = {
		{ "/img/host a.raw", "c/host_a.raw" },
		{ "/dev/sdb/", "c/sdb" },
		{ "..", "c/_." },
		{ "/x/.hidden", "c/_hidden" },
		{ "/", "c/evidence" },
		{ "/x/\xc3\xa9t\xc3\xa9", "c/__t__" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct job j = { 0 };
		char *name;

		j.case_id = "c";
		j.evidence = (char *)cases[i].evidence;
		name = job_result_name(&j);
		CHECK(name && strcmp(name, cases[i].want) == 0);
		if (name && strcmp(name, cases[i].want) != 0)
			fprintf(stderr, "  %s -> %s\n", cases[i].evidence, name);
		free(name);
	}
}

/* ---- spool ---- */

static int
count_files(const char *dir)
{
	char cmd[512];
	FILE *fp;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A %s | grep -v '^\\.' | wc -l", dir);
	fp = popen(cmd, "r");
	if (fp && fscanf(fp, "%d", &n) != 1)
		n = -1;
	if (fp)
		pclose(fp);
	return n;
}

TEST(t_spool_send_receive_done)
{
	struct queue *q;
	struct queue_msg *m, *none;
	struct dt_err err = { 0 };
	char *id, *id2;
	struct stat sb;

	REQUIRE(queue_open("spool:sp", NULL, &q, &err) == 0);
	CHECK(stat("sp/processing", &sb) == 0 && (sb.st_mode & 0777) == 0700);
	REQUIRE(queue_send(q, "{\"a\":1}", &id, &err) == 0);
	REQUIRE(queue_send(q, "{\"b\":2}", &id2, &err) == 0);
	CHECK(strcmp(id, id2) < 0);
	CHECK(count_files("sp/incoming") == 2);
	REQUIRE(queue_receive(q, 0, &m, &err) == 0 && m != NULL);
	CHECK(strcmp(m->id, id) == 0 && strcmp(m->body, "{\"a\":1}") == 0);
	CHECK(m->body_len == 7 && m->receive_count == 1);
	CHECK(queue_heartbeat(q, m, 60, &err) == 0);
	CHECK(queue_done(q, m, &err) == 0);
	queue_msg_free(m);
	CHECK(count_files("sp/done") == 1 && count_files("sp/processing") == 0);
	REQUIRE(queue_receive(q, 0, &m, &err) == 0 && m != NULL);
	CHECK(strcmp(m->id, id2) == 0);
	REQUIRE(queue_receive(q, 0, &none, &err) == 0);
	CHECK(none == NULL);
	CHECK(queue_release(q, m, &err) == 0);
	queue_msg_free(m);
	CHECK(count_files("sp/incoming") == 1);
	/* Given back by release: the claim does not count. */
	REQUIRE(queue_receive(q, 0, &m, &err) == 0 && m != NULL);
	CHECK(m->receive_count == 1);
	CHECK(queue_done(q, m, &err) == 0);
	queue_msg_free(m);
	free(id);
	free(id2);
	queue_close(q);
}

TEST(t_spool_fail_retries_then_fails_with_reason)
{
	struct queue_options o = { 0 };
	struct queue *q;
	struct queue_msg *m;
	struct dt_err err = { 0 };
	char *id, path[256], *reason;

	o.max_receives = 2;
	REQUIRE(queue_open("spool:sp", &o, &q, &err) == 0);
	REQUIRE(queue_send(q, "{}", &id, &err) == 0);
	REQUIRE(queue_receive(q, 0, &m, &err) == 0 && m);
	CHECK(queue_fail(q, m, 0, "scan crashed", &err) == 0);
	queue_msg_free(m);
	CHECK(count_files("sp/incoming") == 1 && count_files("sp/failed") == 0);
	REQUIRE(queue_receive(q, 0, &m, &err) == 0 && m);
	CHECK(m->receive_count == 2);
	CHECK(queue_fail(q, m, 0, "scan crashed\nagain", &err) == 0);
	queue_msg_free(m);
	CHECK(count_files("sp/incoming") == 0 && count_files("sp/failed") == 2);
	snprintf(path, sizeof(path), "sp/failed/%s.reason", id);
	reason = t_slurp(path, NULL);
	CHECK(reason && strcmp(reason, "scan crashed again (after 2 claims)\n") == 0);
	free(reason);
	/* permanent: no second try. */
	free(id);
	REQUIRE(queue_send(q, "{}", &id, &err) == 0);
	REQUIRE(queue_receive(q, 0, &m, &err) == 0 && m);
	CHECK(queue_fail(q, m, 1, "malformed", &err) == 0);
	queue_msg_free(m);
	CHECK(count_files("sp/failed") == 4 && count_files("sp/incoming") == 0);
	free(id);
	queue_close(q);
}

TEST(t_spool_reclaims_expired_lease)
{
	struct queue_options o = { 0 };
	struct queue *q;
	struct queue_msg *m, *m2, *none;
	struct dt_err err = { 0 };
	char *id;

	o.lease_seconds = 1;
	REQUIRE(queue_open("spool:sp", &o, &q, &err) == 0);
	REQUIRE(queue_send(q, "{}", &id, &err) == 0);
	REQUIRE(queue_receive(q, 0, &m, &err) == 0 && m);
	REQUIRE(queue_receive(q, 0, &none, &err) == 0);
	CHECK(none == NULL);
	/* The worker holding m "dies": no heartbeat; after the lease another takes it. */
	sleep(2);
	REQUIRE(queue_receive(q, 0, &m2, &err) == 0 && m2);
	CHECK(strcmp(m2->id, id) == 0 && m2->receive_count == 2);
	/* The first claim is gone: it can neither heartbeat nor finish. */
	CHECK(queue_heartbeat(q, m, 60, &err) == -1 && strstr(err.msg, "no longer ours"));
	memset(&err, 0, sizeof(err));
	CHECK(queue_done(q, m, &err) == -1);
	memset(&err, 0, sizeof(err));
	CHECK(queue_heartbeat(q, m2, 60, &err) == 0);
	CHECK(queue_done(q, m2, &err) == 0);
	queue_msg_free(m);
	queue_msg_free(m2);
	free(id);
	queue_close(q);
}

TEST(t_spool_exceeding_max_receives_lands_in_failed)
{
	struct queue_options o = { 0 };
	struct queue *q;
	struct queue_msg *m;
	struct dt_err err = { 0 };
	char *id;

	o.lease_seconds = 1;
	o.max_receives = 1;
	REQUIRE(queue_open("spool:sp", &o, &q, &err) == 0);
	REQUIRE(queue_send(q, "{}", &id, &err) == 0);
	REQUIRE(queue_receive(q, 0, &m, &err) == 0 && m);
	queue_msg_free(m); /* its worker died */
	sleep(2);
	REQUIRE(queue_receive(q, 0, &m, &err) == 0);
	CHECK(m == NULL);
	CHECK(count_files("sp/failed") == 2 && count_files("sp/processing") == 0);
	free(id);
	queue_close(q);
}

TEST(t_spool_moves_non_files_to_failed)
{
	struct queue *q;
	struct queue_msg *m;
	struct dt_err err = { 0 };

	REQUIRE(queue_open("spool:sp", NULL, &q, &err) == 0);
	CHECK(symlink("/etc/passwd", "sp/incoming/evil") == 0);
	CHECK(mkdir("sp/incoming/dir", 0700) == 0);
	CHECK(t_write("sp/incoming/.tmp-partial", "{}", 2) == 0);
	REQUIRE(queue_receive(q, 0, &m, &err) == 0);
	CHECK(m == NULL);
	CHECK(count_files("sp/failed") == 4);
	CHECK(access("sp/incoming/.tmp-partial", F_OK) == 0);
	queue_close(q);
}

static void
count_warning(void *arg, const char *msg)
{
	(void)msg;
	(*(int *)arg)++;
}

/* A spool only its owner writes is the operator's; group- or world-writable, it is shared. */
TEST(t_spool_shared_when_others_may_write)
{
	struct queue *q;
	struct queue_options o = { 0 };
	struct dt_err err = { 0 };
	int warned = 0;

	o.warn = count_warning;
	o.warn_arg = &warned;
	REQUIRE(queue_open("spool:sp", &o, &q, &err) == 0);
	CHECK(queue_shared(q) == 0 && warned == 0);
	queue_close(q);
	CHECK(chmod("sp/incoming", 0770) == 0);
	REQUIRE(queue_open("spool:sp", &o, &q, &err) == 0);
	CHECK(queue_shared(q) == 1 && warned == 1);
	queue_close(q);
	CHECK(chmod("sp/incoming", 0700) == 0 && chmod("sp", 0703) == 0);
	REQUIRE(queue_open("spool:sp", &o, &q, &err) == 0);
	CHECK(queue_shared(q) == 1 && warned == 2);
	queue_close(q);
}

TEST(t_queue_names_unknown_and_unbuilt_schemes)
{
	struct queue *q;
	struct dt_err err = { 0 };

	CHECK(queue_open("kafka://x", NULL, &q, &err) == -1 && err.code == DT_EUSAGE && q == NULL);
	memset(&err, 0, sizeof(err));
	CHECK(queue_open("spool:", NULL, &q, &err) == -1 && err.code == DT_EUSAGE);
}

/* ---- folder store ---- */

TEST(t_store_dir_put_get_list_delete)
{
	struct store *s;
	struct dt_err err = { 0 };
	char **keys;
	size_t n;
	struct stat sb;
	char *back;

	REQUIRE(store_open("out/results", NULL, &s, &err) == 0);
	CHECK(strcmp(store_url(s), "out/results") == 0);
	CHECK(store_put_mem(s, "case/snap-1/summary.json", "{}", 2, &err) == 0);
	CHECK(store_put_mem(s, "case/snap-10/COMPLETE", "x", 1, &err) == 0);
	REQUIRE(t_write("local", "hello", 5) == 0);
	CHECK(store_put_file(s, "case/snap-1/extracted/files/etc/.hidden", "local", &err) == 0);
	CHECK(stat("out/results/case/snap-1", &sb) == 0 && (sb.st_mode & 0777) == 0700);
	CHECK(stat("out/results/case/snap-1/summary.json", &sb) == 0 &&
	      (sb.st_mode & 0777) == 0600);
	CHECK(store_exists(s, "case/snap-1/summary.json", &err) == 1);
	CHECK(store_exists(s, "case/snap-1/COMPLETE", &err) == 0);
	CHECK(store_exists(s, "nope/x", &err) == 0);
	CHECK(store_get_file(s, "case/snap-1/extracted/files/etc/.hidden", "back",
			     &(const struct outfile_opts){ .kind = OUTFILE_NEW, .mode = 0600 },
			     &err) == 0);
	back = t_slurp("back", NULL);
	CHECK(back && strcmp(back, "hello") == 0);
	CHECK(stat("back", &sb) == 0 && (sb.st_mode & 0777) == 0600);
	free(back);
	/* An existing file that is not empty is not replaced (outfile.h), unless forced. */
	REQUIRE(t_write("mine", "keep", 4) == 0);
	dt_clear(&err);
	CHECK(store_get_file(s, "case/snap-1/summary.json", "mine",
			     &(const struct outfile_opts){ .kind = OUTFILE_NEW, .mode = 0600 },
			     &err) < 0 &&
	      err.code == DT_EUSAGE);
	back = t_slurp("mine", NULL);
	CHECK(back && strcmp(back, "keep") == 0);
	free(back);
	dt_clear(&err);
	CHECK(store_get_file(s, "case/snap-1/summary.json", "mine",
			     &(const struct outfile_opts){ .kind = OUTFILE_NEW, .force = 1 },
			     &err) == 0);
	back = t_slurp("mine", NULL);
	CHECK(back && strcmp(back, "{}") == 0);
	free(back);
	REQUIRE(store_list(s, "case/", &keys, &n, &err) == 0);
	REQUIRE(n == 3);
	CHECK(strcmp(keys[0], "case/snap-1/extracted/files/etc/.hidden") == 0);
	CHECK(strcmp(keys[1], "case/snap-1/summary.json") == 0);
	CHECK(strcmp(keys[2], "case/snap-10/COMPLETE") == 0);
	for (size_t i = 0; i < n; i++)
		free(keys[i]);
	free(keys);
	/* "case/snap-1/" must not take snap-10 with it. */
	CHECK(store_delete_prefix(s, "case/snap-1/", &err) == 0);
	CHECK(store_exists(s, "case/snap-1/summary.json", &err) == 0);
	CHECK(store_exists(s, "case/snap-10/COMPLETE", &err) == 1);
	CHECK(store_delete_prefix(s, "missing/", &err) == 0);
	store_close(s);
}

TEST(t_store_dir_refuses_climbing_keys_and_links)
{
	struct store *s;
	struct dt_err err = { 0 };

	REQUIRE(store_open("out", NULL, &s, &err) == 0);
	CHECK(store_put_mem(s, "../escape", "x", 1, &err) == -1 && err.code == DT_EUSAGE);
	memset(&err, 0, sizeof(err));
	CHECK(store_put_mem(s, "/abs", "x", 1, &err) == -1);
	memset(&err, 0, sizeof(err));
	CHECK(store_put_mem(s, "a//b", "x", 1, &err) == -1);
	memset(&err, 0, sizeof(err));
	CHECK(store_delete_prefix(s, "", &err) == -1);
	memset(&err, 0, sizeof(err));
	CHECK(store_delete_prefix(s, "../", &err) == -1);
	memset(&err, 0, sizeof(err));
	REQUIRE(mkdir("elsewhere", 0700) == 0);
	REQUIRE(symlink("../elsewhere", "out/link") == 0);
	CHECK(store_put_mem(s, "link/x", "x", 1, &err) == -1 && err.code == DT_EIO);
	CHECK(access("elsewhere/x", F_OK) != 0);
	store_close(s);
	memset(&err, 0, sizeof(err));
	CHECK(store_open("s3x://b", NULL, &s, &err) == -1 && s == NULL);
}

/* A file on the store's filesystem is renamed into place (the same inode, 0600), not copied. */
TEST(t_store_dir_move_renames_on_the_same_filesystem)
{
	struct store *s;
	struct dt_err err = { 0 };
	struct stat before, after;
	int moved = -1;
	char *back;

	REQUIRE(store_open("out", NULL, &s, &err) == 0);
	REQUIRE(t_write("local", "hello", 5) == 0);
	REQUIRE(chmod("local", 0644) == 0 && stat("local", &before) == 0);
	CHECK(store_move_file(s, "case/extracted/files/a", "local", &moved, &err) == 0);
	CHECK(moved == 1);
	CHECK(access("local", F_OK) != 0);
	CHECK(stat("out/case/extracted/files/a", &after) == 0 && after.st_ino == before.st_ino &&
	      after.st_dev == before.st_dev && (after.st_mode & 0777) == 0600);
	back = t_slurp("out/case/extracted/files/a", NULL);
	CHECK(back && strcmp(back, "hello") == 0);
	free(back);
	/* A COMPLETE is a commit marker: written (fsynced) as ever, never moved. */
	REQUIRE(t_write("marker", "done", 4) == 0);
	CHECK(store_move_file(s, "case/COMPLETE", "marker", &moved, &err) == 0 && moved == 0);
	CHECK(access("marker", F_OK) == 0);
	back = t_slurp("out/case/COMPLETE", NULL);
	CHECK(back && strcmp(back, "done") == 0);
	free(back);
	/* A link at the path is not followed: neither it nor its target is taken. */
	REQUIRE(t_write("target", "secret", 6) == 0);
	REQUIRE(symlink("target", "link") == 0);
	CHECK(store_move_file(s, "case/l", "link", &moved, &err) == -1 && err.code == DT_EIO);
	CHECK(moved == 0 && access("target", F_OK) == 0 && store_exists(s, "case/l", NULL) == 0);
	store_close(s);
}

/*
 * A folder on the store's filesystem is renamed into place whole (the same inodes), tidied:
 * folders 0700, files 0600, a link and a FIFO in it removed; not onto a key that is taken.
 */
TEST(t_store_dir_move_tree_renames_a_folder_whole)
{
	struct store *s;
	struct dt_err err = { 0 };
	struct stat dir_before, file_before, sb;
	int moved = -1;
	char *back;

	REQUIRE(store_open("out", NULL, &s, &err) == 0);
	REQUIRE(mkdir("ex", 0755) == 0 && mkdir("ex/files", 0755) == 0 &&
		mkdir("ex/files/deep", 0750) == 0);
	REQUIRE(t_write("ex/COMPLETE", "scan done", 9) == 0);
	REQUIRE(t_write("ex/files/deep/a", "hello", 5) == 0 && chmod("ex/files/deep/a", 0644) == 0);
	REQUIRE(symlink("/etc/passwd", "ex/files/link") == 0 && mkfifo("ex/files/fifo", 0600) == 0);
	REQUIRE(stat("ex", &dir_before) == 0 && stat("ex/files/deep/a", &file_before) == 0);
	CHECK(store_move_tree(s, "case/x/extracted", "ex", &moved, &err) == 0 && moved == 1);
	CHECK(access("ex", F_OK) != 0);
	CHECK(stat("out/case/x/extracted", &sb) == 0 && sb.st_ino == dir_before.st_ino &&
	      (sb.st_mode & 0777) == 0700);
	CHECK(stat("out/case/x/extracted/files/deep", &sb) == 0 && (sb.st_mode & 0777) == 0700);
	CHECK(stat("out/case/x/extracted/files/deep/a", &sb) == 0 &&
	      sb.st_ino == file_before.st_ino && (sb.st_mode & 0777) == 0600);
	back = t_slurp("out/case/x/extracted/files/deep/a", NULL);
	CHECK(back && strcmp(back, "hello") == 0);
	free(back);
	/* A COMPLETE in the folder is moved as any file. */
	CHECK(store_exists(s, "case/x/extracted/COMPLETE", NULL) == 1);
	CHECK(lstat("out/case/x/extracted/files/link", &sb) != 0 &&
	      lstat("out/case/x/extracted/files/fifo", &sb) != 0);
	/* A key taken: nothing moved, the folder stays. */
	REQUIRE(mkdir("ex2", 0700) == 0 && t_write("ex2/b", "b", 1) == 0);
	CHECK(store_move_tree(s, "case/x/extracted", "ex2", &moved, &err) == 0 && moved == 0);
	CHECK(access("ex2/b", F_OK) == 0 && store_exists(s, "case/x/extracted/b", NULL) == 0);
	/* Not a folder (a link to one): refused. */
	REQUIRE(symlink("ex2", "ex3") == 0);
	CHECK(store_move_tree(s, "case/y", "ex3", &moved, &err) == -1 && moved == 0);
	CHECK(access("ex2/b", F_OK) == 0 && store_exists(s, "case/y/b", NULL) == 0);
	store_close(s);
}

/* A folder deeper than the store lists, or on another filesystem: not moved, left as it was. */
TEST(t_store_dir_move_tree_leaves_what_it_cannot_move)
{
	struct store *s;
	struct dt_err err = { 0 };
	struct stat here, shm;
	char path[4096] = "deep", dir[] = "/dev/shm/t_worker-XXXXXX", file[64];
	int moved = -1;

	REQUIRE(store_open("out", NULL, &s, &err) == 0);
	REQUIRE(mkdir(path, 0700) == 0);
	for (int i = 0; i < 70; i++) {
		strcat(path, "/d");
		REQUIRE(mkdir(path, 0700) == 0);
	}
	CHECK(store_move_tree(s, "case/deep", "deep", &moved, &err) == 0 && moved == 0);
	CHECK(access(path, F_OK) == 0 && store_exists(s, "case/deep/d/d", NULL) == 0);
	if (stat(".", &here) == 0 && stat("/dev/shm", &shm) == 0 && here.st_dev != shm.st_dev &&
	    mkdtemp(dir) != NULL) {
		snprintf(file, sizeof(file), "%s/f", dir);
		REQUIRE(t_write(file, "across", 6) == 0);
		CHECK(store_move_tree(s, "case/shm", dir, &moved, &err) == 0 && moved == 0);
		CHECK(access(file, F_OK) == 0 && store_exists(s, "case/shm/f", NULL) == 0);
		unlink(file);
		rmdir(dir);
	}
	store_close(s);
}

/* Across filesystems (/dev/shm, a tmpfs, when the test folder is elsewhere) it is a copy. */
TEST(t_store_dir_move_copies_across_filesystems)
{
	struct store *s;
	struct dt_err err = { 0 };
	struct stat here, shm;
	char dir[] = "/dev/shm/t_worker-XXXXXX", path[64], *back;
	int moved = -1;

	if (stat(".", &here) != 0 || stat("/dev/shm", &shm) != 0 || here.st_dev == shm.st_dev ||
	    mkdtemp(dir) == NULL)
		SKIP("no second filesystem at /dev/shm");
	snprintf(path, sizeof(path), "%s/f", dir);
	REQUIRE(t_write(path, "across", 6) == 0);
	REQUIRE(store_open("out", NULL, &s, &err) == 0);
	CHECK(store_move_file(s, "case/f", path, &moved, &err) == 0 && moved == 0);
	back = t_slurp("out/case/f", NULL);
	CHECK(back && strcmp(back, "across") == 0);
	free(back);
	CHECK(access(path, F_OK) == 0);
	store_close(s);
	unlink(path);
	rmdir(dir);
}
