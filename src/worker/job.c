/*
 * job.c - parse, check and print snapshot jobs (job.h; the format is docs/worker.md).
 * Every job comes from a queue anyone with send rights can write to: each field is checked
 * for its type, length and characters before it is used, and a job that fails any check is
 * DT_EFORMAT (DT_EVERSION for an unknown version) with the field named in the reason.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "buf.h"
#include "worker/job.h"

#include "banned.h"

#define JOB_MAX_BYTES   (256u * 1024) /* a job is a few hundred bytes; this is generous */
#define JOB_MAX_STRING  4096          /* a path, a URL */
#define JOB_MAX_CASE    128
#define JOB_MAX_NAME    128              /* the result name made from a local path */
#define JOB_MAX_LIST    256              /* rule or artifact paths */
#define JOB_MAX_KG      32               /* known-good sets: scan's CLI_MAX_KNOWN_GOOD */
#define JOB_MAX_MEMORY  (1024ull * 1024) /* memory_mb: a TiB */
#define JOB_MAX_SECONDS (30u * 24 * 3600)
#define JOB_MAX_FILES   (1u << 20)

static const char *const job_keys[] = { "version",       "case",     "evidence",  "snapshot",
					"region",        "baseline", "output",    "read_mode",
					"changed_since", "rules",    "artifacts", "limits",
					"known_good" };

static int
is_safe_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/* A name that is one path component on every store: [A-Za-z0-9._-], not "." or "..". */
static int
is_safe_name(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n > max || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_safe_char((unsigned char)s[i]))
			return 0;
	return 1;
}

/* snap-<8 or 17 hex digits>, as EC2 names them. */
static int
is_snapshot_id(const char *s)
{
	size_t n;

	if (strncmp(s, "snap-", 5) != 0)
		return 0;
	s += 5;
	n = strlen(s);
	if (n != 8 && n != 17)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int
is_region(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 32)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

/*
 * The string value of key in o, or NULL when absent or null (0). Not a string, a string
 * with a NUL byte (JSON allows \u0000, C paths cannot hold one), or one longer than max:
 * -1 with the reason in err.
 */
static int
get_string(json_t *o, const char *key, size_t max, const char **out, struct dt_err *err)
{
	json_t *v = json_object_get(o, key);
	const char *s;

	*out = NULL;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return dt_fail(err, DT_EFORMAT, "job: '%s' is not a string", key);
	s = json_string_value(v);
	if (json_string_length(v) != strlen(s))
		return dt_fail(err, DT_EFORMAT, "job: '%s' holds a NUL byte", key);
	if (json_string_length(v) == 0)
		return dt_fail(err, DT_EFORMAT, "job: '%s' is empty", key);
	if (json_string_length(v) > max)
		return dt_fail(err, DT_EFORMAT, "job: '%s' is longer than %zu bytes", key, max);
	*out = s;
	return 0;
}

static int
dup_into(char **dst, const char *s, struct dt_err *err)
{
	free(*dst);
	*dst = NULL;
	if (s == NULL)
		return 0;
	*dst = strdup(s);
	return *dst ? 0 : dt_fail(err, DT_ENOMEM, "job: out of memory");
}

static int
dup_list(char ***dst, size_t *ndst, char *const *src, size_t n, struct dt_err *err)
{
	char **v;

	*dst = NULL;
	*ndst = 0;
	if (src == NULL)
		return 0;
	v = calloc(n + 1, sizeof(*v));
	if (v == NULL)
		return dt_fail(err, DT_ENOMEM, "job: out of memory");
	for (size_t i = 0; i < n; i++) {
		v[i] = strdup(src[i]);
		if (v[i] == NULL) {
			buf_free_strings(v, i);
			return dt_fail(err, DT_ENOMEM, "job: out of memory");
		}
	}
	*dst = v;
	*ndst = n;
	return 0;
}

/* key: absent or null leaves *dst alone; else an array of path strings. */
static int
get_list(json_t *o, const char *key, char ***dst, size_t *ndst, struct dt_err *err)
{
	json_t *v = json_object_get(o, key), *e;
	size_t i, n;
	char **list;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v))
		return dt_fail(err, DT_EFORMAT, "job: '%s' is not an array of strings", key);
	n = json_array_size(v);
	if (n > JOB_MAX_LIST)
		return dt_fail(err, DT_EFORMAT, "job: '%s' has more than %d entries", key,
			       JOB_MAX_LIST);
	list = calloc(n + 1, sizeof(*list));
	if (list == NULL)
		return dt_fail(err, DT_ENOMEM, "job: out of memory");
	json_array_foreach(v, i, e)
	{
		const char *s = json_string_value(e);
		if (s == NULL || json_string_length(e) != strlen(s) || *s == '\0' ||
		    json_string_length(e) > JOB_MAX_STRING) {
			buf_free_strings(list, i);
			return dt_fail(err, DT_EFORMAT,
				       "job: '%s' entry %zu is not a non-empty path string", key,
				       i);
		}
		list[i] = strdup(s);
		if (list[i] == NULL) {
			buf_free_strings(list, i);
			return dt_fail(err, DT_ENOMEM, "job: out of memory");
		}
	}
	buf_free_strings(*dst, *ndst);
	*dst = list;
	*ndst = n;
	return 0;
}

/* A whole number in [0, max] under key of o; absent or null leaves *out alone. */
static int
get_uint(json_t *o, const char *key, uint64_t max, uint64_t *out, struct dt_err *err)
{
	json_t *v = json_object_get(o, key);

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return dt_fail(err, DT_EFORMAT,
			       "job: limits: '%s' is not a whole number from 0 to %llu", key,
			       (unsigned long long)max);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

static int
get_limits(json_t *o, struct job_limits *l, struct dt_err *err)
{
	json_t *v = json_object_get(o, "limits");
	const char *key;
	json_t *val;
	uint64_t mb = l->memory_bytes / (1024 * 1024), cpu = l->cpu_seconds, wall = l->wall_seconds,
		 files = l->open_files;

	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_object(v))
		return dt_fail(err, DT_EFORMAT, "job: 'limits' is not an object");
	json_object_foreach(v, key, val)
	{
		if (strcmp(key, "memory_mb") != 0 && strcmp(key, "cpu_seconds") != 0 &&
		    strcmp(key, "wall_seconds") != 0 && strcmp(key, "open_files") != 0)
			return dt_fail(err, DT_EFORMAT, "job: limits: unknown key '%.64s'", key);
	}
	if (get_uint(v, "memory_mb", JOB_MAX_MEMORY, &mb, err) < 0 ||
	    get_uint(v, "cpu_seconds", JOB_MAX_SECONDS, &cpu, err) < 0 ||
	    get_uint(v, "wall_seconds", JOB_MAX_SECONDS, &wall, err) < 0 ||
	    get_uint(v, "open_files", JOB_MAX_FILES, &files, err) < 0)
		return -1;
	l->memory_bytes = mb * 1024 * 1024;
	l->cpu_seconds = (unsigned)cpu;
	l->wall_seconds = (unsigned)wall;
	l->open_files = (unsigned)files;
	return 0;
}

/* Start from the defaults: every field the job does not give. */
static int
copy_defaults(struct job *out, const struct job *d, struct dt_err *err)
{
	if (d == NULL)
		return 0;
	if (dup_into(&out->case_id, d->case_id, err) < 0 ||
	    dup_into(&out->region, d->region, err) < 0 ||
	    dup_into(&out->baseline, d->baseline, err) < 0 ||
	    dup_into(&out->output, d->output, err) < 0 ||
	    dup_list(&out->rules, &out->nrules, d->rules, d->nrules, err) < 0 ||
	    dup_list(&out->artifacts, &out->nartifacts, d->artifacts, d->nartifacts, err) < 0 ||
	    dup_list(&out->known_good, &out->nknown_good, d->known_good, d->nknown_good, err) < 0)
		return -1;
	out->known_good_own = d->known_good != NULL;
	/* d->read_mode is applied by check_job(), to snapshot jobs only. */
	out->limits = d->limits;
	return 0;
}

static int
set_snapshot(struct job *out, const char *snap, struct dt_err *err)
{
	char ev[5 + 6 + 17 + 1];

	snprintf(ev, sizeof(ev), "ebs://%s", snap);
	if (dup_into(&out->snapshot, snap, err) < 0 || dup_into(&out->evidence, ev, err) < 0)
		return -1;
	return 0;
}

/*
 * An EventBridge "EBS Snapshot Notification": detail.snapshot_id is the snapshot's ARN,
 * arn:aws:ec2:REGION::snapshot/snap-ID (REGION may be empty), detail.result says whether
 * the snapshot was made; only "succeeded" is a job.
 */
static int
parse_event(json_t *root, struct job *out, struct dt_err *err)
{
	json_t *detail = json_object_get(root, "detail");
	const char *result, *arn, *region, *slash;

	if (!json_is_object(detail))
		return dt_fail(err, DT_EFORMAT, "job: snapshot event: no 'detail' object");
	if (get_string(detail, "result", 64, &result, err) < 0)
		return -1;
	if (result == NULL || strcmp(result, "succeeded") != 0)
		return dt_fail(err, DT_EFORMAT,
			       "job: snapshot event: result is '%s', not 'succeeded' (the snapshot "
			       "was not made)",
			       result ? result : "(none)");
	if (get_string(detail, "snapshot_id", 256, &arn, err) < 0)
		return -1;
	if (arn == NULL)
		return dt_fail(err, DT_EFORMAT, "job: snapshot event: no 'detail.snapshot_id'");
	slash = strrchr(arn, '/');
	if (slash == NULL || strncmp(arn, "arn:", 4) != 0 || !is_snapshot_id(slash + 1))
		return dt_fail(err, DT_EFORMAT,
			       "job: snapshot event: 'detail.snapshot_id' '%.80s' is not a "
			       "snapshot ARN",
			       arn);
	if (set_snapshot(out, slash + 1, err) < 0)
		return -1;
	if (get_string(root, "region", 64, &region, err) < 0)
		return -1;
	if (region != NULL) {
		if (!is_region(region))
			return dt_fail(err, DT_EFORMAT, "job: snapshot event: bad region '%.64s'",
				       region);
		if (dup_into(&out->region, region, err) < 0)
			return -1;
	}
	return 0;
}

static int
parse_v1(json_t *root, struct job *out, struct dt_err *err)
{
	json_t *ver = json_object_get(root, "version"), *rm, *kg;
	const char *key, *s;
	json_t *val;
	size_t i;

	if (ver == NULL)
		return dt_fail(err, DT_EFORMAT,
			       "job: no 'version' (nor an EventBridge snapshot "
			       "event)");
	if (!json_is_integer(ver))
		return dt_fail(err, DT_EFORMAT, "job: 'version' is not a number");
	if (json_integer_value(ver) != JOB_VERSION)
		return dt_fail(err, DT_EVERSION, "job: version %lld is not supported (only %d)",
			       (long long)json_integer_value(ver), JOB_VERSION);
	json_object_foreach(root, key, val)
	{
		for (i = 0; i < sizeof(job_keys) / sizeof(job_keys[0]); i++)
			if (strcmp(key, job_keys[i]) == 0)
				break;
		/* A misspelt "baseline" must not quietly mean "find one". */
		if (i == sizeof(job_keys) / sizeof(job_keys[0]))
			return dt_fail(err, DT_EFORMAT, "job: unknown key '%.64s'", key);
	}

	if (get_string(root, "case", JOB_MAX_CASE, &s, err) < 0)
		return -1;
	if (s != NULL && dup_into(&out->case_id, s, err) < 0)
		return -1;

	if (get_string(root, "snapshot", 64, &s, err) < 0)
		return -1;
	if (s != NULL) {
		if (!is_snapshot_id(s))
			return dt_fail(err, DT_EFORMAT,
				       "job: 'snapshot' '%.64s' is not a snapshot id", s);
		if (set_snapshot(out, s, err) < 0)
			return -1;
	}
	if (get_string(root, "evidence", JOB_MAX_STRING, &s, err) < 0)
		return -1;
	if (s != NULL) {
		if (strncmp(s, "ebs://", 6) == 0) {
			const char *id = strrchr(s + 6, '/');
			id = id ? id + 1 : s + 6;
			if (!is_snapshot_id(id))
				return dt_fail(err, DT_EFORMAT,
					       "job: 'evidence' '%.80s' names no snapshot id", s);
			if (out->snapshot && strcmp(out->snapshot, id) != 0)
				return dt_fail(err, DT_EFORMAT,
					       "job: 'evidence' and 'snapshot' name different "
					       "snapshots");
			if (dup_into(&out->snapshot, id, err) < 0)
				return -1;
		} else if (strstr(s, "://") != NULL) {
			return dt_fail(err, DT_EFORMAT,
				       "job: 'evidence' '%.80s': only ebs:// or a local path", s);
		} else if (out->snapshot) {
			return dt_fail(err, DT_EFORMAT,
				       "job: 'evidence' is a path but 'snapshot' is given too");
		}
		if (dup_into(&out->evidence, s, err) < 0)
			return -1;
	}

	if (get_string(root, "region", 64, &s, err) < 0)
		return -1;
	if (s != NULL) {
		if (!is_region(s))
			return dt_fail(err, DT_EFORMAT, "job: 'region' '%.64s' is not a region", s);
		if (dup_into(&out->region, s, err) < 0)
			return -1;
	}
	if (get_string(root, "baseline", JOB_MAX_STRING, &s, err) < 0)
		return -1;
	if (s != NULL && dup_into(&out->baseline, s, err) < 0)
		return -1;
	if (get_string(root, "output", JOB_MAX_STRING, &s, err) < 0)
		return -1;
	if (s != NULL && dup_into(&out->output, s, err) < 0)
		return -1;
	if (get_string(root, "changed_since", 64, &s, err) < 0)
		return -1;
	if (s != NULL) {
		if (!is_snapshot_id(s))
			return dt_fail(err, DT_EFORMAT,
				       "job: 'changed_since' '%.64s' is not a snapshot id", s);
		if (dup_into(&out->changed_since, s, err) < 0)
			return -1;
	}
	rm = json_object_get(root, "read_mode");
	if (rm != NULL && !json_is_null(rm)) {
		s = json_string_value(rm);
		if (s != NULL && strcmp(s, "direct") == 0)
			out->read_mode = JOB_READ_DIRECT;
		else if (s != NULL && strcmp(s, "attach") == 0)
			out->read_mode = JOB_READ_ATTACH;
		else
			return dt_fail(err, DT_EFORMAT,
				       "job: 'read_mode' is not \"direct\" or \"attach\"");
	}
	if (get_list(root, "rules", &out->rules, &out->nrules, err) < 0 ||
	    get_list(root, "artifacts", &out->artifacts, &out->nartifacts, err) < 0 ||
	    get_limits(root, &out->limits, err) < 0)
		return -1;
	/* The job's own list, even [], replaces the worker's: then it is the job's to admit. */
	kg = json_object_get(root, "known_good");
	if (get_list(root, "known_good", &out->known_good, &out->nknown_good, err) < 0)
		return -1;
	if (kg != NULL && !json_is_null(kg))
		out->known_good_own = 0;
	if (out->nknown_good > JOB_MAX_KG)
		return dt_fail(err, DT_EFORMAT, "job: 'known_good' has more than %d entries",
			       JOB_MAX_KG);
	/* A set is fetched from S3 or read from a path: no other scheme means anything. */
	for (i = 0; i < out->nknown_good; i++)
		if (strstr(out->known_good[i], "://") != NULL &&
		    strncmp(out->known_good[i], "s3://", 5) != 0)
			return dt_fail(err, DT_EFORMAT,
				       "job: 'known_good' '%.80s': only s3:// or a local path",
				       out->known_good[i]);
	return 0;
}

/* What every job must hold once the defaults are merged. */
static int
check_job(struct job *j, const struct job *d, struct dt_err *err)
{
	if (j->evidence == NULL)
		return dt_fail(err, DT_EFORMAT, "job: no 'evidence' (nor 'snapshot')");
	if (j->case_id == NULL && dup_into(&j->case_id, "default", err) < 0)
		return -1;
	if (!is_safe_name(j->case_id, JOB_MAX_CASE))
		return dt_fail(err, DT_EFORMAT,
			       "job: 'case' '%.64s' is not 1 to %d of A-Z a-z 0-9 . _ - (nor . or "
			       "..)",
			       j->case_id, JOB_MAX_CASE);
	if (j->snapshot == NULL && j->read_mode != JOB_READ_DEFAULT)
		return dt_fail(err, DT_EFORMAT,
			       "job: 'read_mode' applies to ebs:// evidence only, not a path");
	if (j->changed_since && j->snapshot == NULL)
		return dt_fail(err, DT_EFORMAT,
			       "job: 'changed_since' applies to ebs:// evidence only");
	if (j->snapshot && j->read_mode == JOB_READ_DEFAULT)
		j->read_mode =
			d && d->read_mode != JOB_READ_DEFAULT ? d->read_mode : JOB_READ_DIRECT;
	return 0;
}

int
job_parse(const char *json, size_t len, const struct job *defaults, struct job *out,
	  struct dt_err *err)
{
	json_error_t jerr;
	json_t *root = NULL;
	json_t *dt;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (len > JOB_MAX_BYTES) {
		dt_fail(err, DT_EFORMAT, "job: %zu bytes, more than %u", len, JOB_MAX_BYTES);
		goto out;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		dt_fail(err, DT_EFORMAT, "job: not JSON: %s (line %d)", jerr.text, jerr.line);
		goto out;
	}
	if (!json_is_object(root)) {
		dt_fail(err, DT_EFORMAT, "job: not a JSON object");
		goto out;
	}
	if (copy_defaults(out, defaults, err) < 0)
		goto out;
	/* Snapshot ids and read modes of the defaults never apply: a job names its own. */
	dt = json_object_get(root, "detail-type");
	if (dt != NULL) {
		if (!json_is_string(dt) ||
		    strcmp(json_string_value(dt), "EBS Snapshot Notification") != 0) {
			dt_fail(err, DT_EFORMAT,
				"job: an EventBridge event, but not an \"EBS Snapshot "
				"Notification\"");
			goto out;
		}
		if (parse_event(root, out, err) < 0)
			goto out;
	} else if (parse_v1(root, out, err) < 0) {
		goto out;
	}
	ret = check_job(out, defaults, err);
out:
	json_decref(root);
	if (ret < 0)
		job_free(out);
	return ret;
}

static int
set_str(json_t *o, const char *key, const char *s)
{
	return s == NULL ? 0 : json_object_set_new(o, key, json_string(s));
}

static json_t *
list_json(char *const *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

char *
job_to_json(const struct job *j)
{
	json_t *o = json_object(), *l = json_object();
	char *s = NULL;
	int bad = o == NULL || l == NULL;

	bad |= json_object_set_new(o, "version", json_integer(JOB_VERSION)) < 0;
	bad |= set_str(o, "case", j->case_id) < 0;
	bad |= set_str(o, "evidence", j->evidence) < 0;
	bad |= set_str(o, "region", j->region) < 0;
	bad |= set_str(o, "baseline", j->baseline) < 0;
	bad |= set_str(o, "output", j->output) < 0;
	if (j->read_mode == JOB_READ_DIRECT)
		bad |= set_str(o, "read_mode", "direct") < 0;
	else if (j->read_mode == JOB_READ_ATTACH)
		bad |= set_str(o, "read_mode", "attach") < 0;
	bad |= set_str(o, "changed_since", j->changed_since) < 0;
	if (j->rules)
		bad |= json_object_set_new(o, "rules", list_json(j->rules, j->nrules)) < 0;
	if (j->artifacts)
		bad |= json_object_set_new(o, "artifacts", list_json(j->artifacts, j->nartifacts)) <
		       0;
	if (j->known_good)
		bad |= json_object_set_new(o, "known_good",
					   list_json(j->known_good, j->nknown_good)) < 0;
	if (j->limits.memory_bytes)
		bad |= json_object_set_new(l, "memory_mb",
					   json_integer((json_int_t)(j->limits.memory_bytes /
								     (1024 * 1024)))) < 0;
	if (j->limits.cpu_seconds)
		bad |= json_object_set_new(l, "cpu_seconds", json_integer(j->limits.cpu_seconds)) <
		       0;
	if (j->limits.wall_seconds)
		bad |= json_object_set_new(l, "wall_seconds",
					   json_integer(j->limits.wall_seconds)) < 0;
	if (j->limits.open_files)
		bad |= json_object_set_new(l, "open_files", json_integer(j->limits.open_files)) < 0;
	if (!bad && json_object_size(l) > 0) {
		bad |= json_object_set(o, "limits", l) < 0;
	}
	if (!bad)
		s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(l);
	json_decref(o);
	return s;
}

char *
job_result_name(const struct job *j)
{
	char name[JOB_MAX_NAME + 1];
	const char *base;
	size_t n = 0;
	char *out;

	if (j->snapshot) {
		base = j->snapshot;
	} else {
		/* The last component of the path that is not empty: "/dev/sdb/" is "sdb". */
		size_t end = strlen(j->evidence);
		while (end > 0 && j->evidence[end - 1] == '/')
			end--;
		size_t start = end;
		while (start > 0 && j->evidence[start - 1] != '/')
			start--;
		for (size_t i = start; i < end && n < JOB_MAX_NAME; i++)
			name[n++] =
				is_safe_char((unsigned char)j->evidence[i]) ? j->evidence[i] : '_';
		name[n] = '\0';
		/* A dot first would hide the folder, and "." or ".." would climb. */
		if (n > 0 && name[0] == '.')
			name[0] = '_';
		base = n ? name : "evidence";
	}
	if (asprintf(&out, "%s/%s", j->case_id ? j->case_id : "default", base) < 0)
		return NULL;
	return out;
}

/*
 * 1 if url is root or beneath it: root's text, then '/' (or root ends in '/'), and no "." or
 * ".." part after it. Lexical, as the stores take keys: the same for a folder and s3://.
 */
static int
url_beneath(const char *url, const char *root)
{
	size_t n = strlen(root);
	const char *p;

	while (n > 1 && root[n - 1] == '/')
		n--;
	if (n == 0 || strncmp(url, root, n) != 0)
		return 0;
	p = url + n;
	if (*p != '\0' && *p != '/' && root[n - 1] != '/')
		return 0;
	while (*p) {
		size_t len;
		p += strspn(p, "/");
		len = strcspn(p, "/");
		if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		p += len;
	}
	return 1;
}

int
job_admit(const struct job *j, const char *root, int shared, int allow_local, struct dt_err *err)
{
	if (j->output == NULL)
		return dt_fail(err, DT_EUSAGE, "job: no 'output', and the worker has no --output");
	if (root == NULL && shared)
		return dt_fail(err, DT_EUSAGE,
			       "job: output '%.200s' from a shared queue, and the worker has no "
			       "--output to confine it",
			       j->output);
	if (root != NULL && !url_beneath(j->output, root))
		return dt_fail(err, DT_EUSAGE,
			       "job: output '%.200s' is not beneath the worker's --output '%.200s'",
			       j->output, root);
	if (!shared || allow_local)
		return 0;
	if (j->snapshot == NULL)
		return dt_fail(err, DT_EUSAGE,
			       "job: evidence '%.200s' is a local path, from a shared queue: the "
			       "worker takes only ebs:// from it (--allow-local-evidence)",
			       j->evidence);
	/* Nor any other local file: a tree, rule or definition it names would be read (and
	 * a parser's message about it could quote it into the job's FAILED record). */
	if (j->baseline != NULL && strncmp(j->baseline, "s3://", 5) != 0)
		return dt_fail(err, DT_EUSAGE,
			       "job: baseline '%.200s' is a local path, from a shared queue: the "
			       "worker takes only s3:// from it, or its own (--allow-local-evidence)",
			       j->baseline);
	if (j->nrules > 0 || j->nartifacts > 0)
		return dt_fail(err, DT_EUSAGE,
			       "job: %s from a shared queue name local files: the worker scans "
			       "with its own (--allow-local-evidence)",
			       j->nrules > 0 ? "rules" : "artifacts");
	for (size_t i = 0; !j->known_good_own && i < j->nknown_good; i++)
		if (strncmp(j->known_good[i], "s3://", 5) != 0)
			return dt_fail(err, DT_EUSAGE,
				       "job: known_good '%.200s' is a local path, from a shared "
				       "queue: the worker takes only s3:// from it, or its own "
				       "(--allow-local-evidence)",
				       j->known_good[i]);
	return 0;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->case_id);
	free(j->evidence);
	free(j->snapshot);
	free(j->region);
	free(j->baseline);
	free(j->output);
	free(j->changed_since);
	buf_free_strings(j->rules, j->nrules);
	buf_free_strings(j->artifacts, j->nartifacts);
	buf_free_strings(j->known_good, j->nknown_good);
	memset(j, 0, sizeof(*j));
}
