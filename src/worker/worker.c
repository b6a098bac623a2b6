/*
 * worker.c - the serving loop (worker.h). Each job's scan is `deltair scan` itself, run in
 * a child process (fork, limits, exec), so its results are exactly the command's and a
 * hostile image that crashes or hangs libtsk takes down only that child. The child gets
 * its own process group (a timeout kills everything it started) and dies with the worker
 * (PR_SET_PDEATHSIG), so a worker killed with -9 leaves no scan running on behind it.
 * The child is started in spawn.c; what the two files share: worker_int.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "buf.h"
#include "htree.h"
#include "mono.h"
#include "outfile.h"
#include "worker/queue.h"
#include "worker/store.h"
#include "worker/worker_int.h"

#include "banned.h"

#define WORKER_TICK_MS     200
#define WORKER_LOG_TAIL    400 /* bytes of the scan's stderr kept in a failure reason */
#define WORKER_MAX_EXTRACT 100000
#define WORKER_RETRY_MAX_S 30

/* Exit statuses of `deltair scan` that mean its outputs are whole (src/cli/main.c). */
#define SCAN_NO_DELTA   0
#define SCAN_DELTA      1
#define SCAN_INCOMPLETE 8

static void
now_rfc3339(char *out, size_t n)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/*
 * One JSON line on the log: ts, level, stage, msg, and for a job its id, case, snapshot
 * (or evidence), elapsed seconds; bytes when non-negative.
 */
static void
wlog_v(struct worker *w, const char *level, const struct slot *s, const char *stage, int64_t bytes,
       const char *fmt, va_list ap)
{
	char ts[64], msg[1024];
	json_t *o;
	char *line;

	if (w->o->log == NULL)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	now_rfc3339(ts, sizeof(ts));
	o = json_pack("{s:s, s:s, s:s, s:s}", "ts", ts, "level", level, "stage", stage, "msg", msg);
	if (o == NULL)
		return;
	if (s && s->msg)
		json_object_set_new(o, "job", json_string(s->msg->id));
	if (s && s->have_job) {
		json_object_set_new(o, "case", json_string(s->job.case_id));
		json_object_set_new(
			o, s->job.snapshot ? "snapshot" : "evidence",
			json_string(s->job.snapshot ? s->job.snapshot : s->job.evidence));
	}
	if (s && s->busy)
		json_object_set_new(o, "elapsed", json_real(mono_now() - s->t0));
	if (bytes >= 0)
		json_object_set_new(o, "bytes", json_integer(bytes));
	line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	if (line) {
		fprintf(w->o->log, "%s\n", line);
		fflush(w->o->log);
	}
	free(line);
	json_decref(o);
}

DT_PRINTF(5, 6)
static void
wlog(struct worker *w, const char *level, const struct slot *s, const char *stage, const char *fmt,
     ...)
{
	va_list ap;

	va_start(ap, fmt);
	wlog_v(w, level, s, stage, -1, fmt, ap);
	va_end(ap);
}

DT_PRINTF(5, 6)
static void
wlog_bytes(struct worker *w, const struct slot *s, const char *stage, uint64_t bytes,
	   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	wlog_v(w, "info", s, stage, (int64_t)bytes, fmt, ap);
	va_end(ap);
}

/* queue_options.warn: what the queue says that is no failure (an SQS queue without a redrive
 * policy), as a "warn" line of stage "start". */
static void
queue_warning(void *arg, const char *msg)
{
	wlog(arg, "warn", NULL, "start", "%s", msg);
}

/* rm -rf path (a scratch folder of ours). */
static void
remove_path(const char *path)
{
	struct stat sb;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &sb) < 0)
		return;
	if (!S_ISDIR(sb.st_mode)) {
		unlink(path);
		return;
	}
	d = opendir(path);
	while (d && (de = readdir(d)) != NULL) {
		char *sub;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (asprintf(&sub, "%s/%s", path, de->d_name) < 0)
			break;
		remove_path(sub);
		free(sub);
	}
	if (d)
		closedir(d);
	rmdir(path);
}

/* SHA-256 of the file name in dirfd (AT_FDCWD: a path; a link is not followed) as hex into
 * hex; *size its length. */
static int
sha256_file(int dirfd, const char *name, char hex[65], uint64_t *size, struct dt_err *err)
{
	unsigned char buf[65536], md[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t r = 0;
	unsigned mdlen = 0;
	int ok;

	*size = 0;
	ok = ctx && fd >= 0 && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	while (ok && (r = read(fd, buf, sizeof(buf))) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		ok = r > 0 && EVP_DigestUpdate(ctx, buf, (size_t)r) == 1;
		*size += r > 0 ? (uint64_t)r : 0;
	}
	ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return dt_fail_errno(err, DT_EIO, "cannot hash '%s'", name);
	htree_hex(md, 32, hex);
	return 0;
}

static void
sha256_mem(const void *p, size_t n, char hex[65])
{
	unsigned char md[32];
	unsigned mdlen = 0;

	EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL);
	htree_hex(md, 32, hex);
}

/*
 * Move the local file path (a scratch file: nothing writes it any more) into the store as
 * prefix/rel and record its digest in objects. known: the SHA-256 the scan recorded as it
 * wrote the file, or NULL: the file is hashed first. When the store renamed the file into
 * place the object is the very file hashed; when it copied it, a known digest is not taken on
 * trust: the file is hashed.
 */
static int
put_object(struct slot *s, json_t *objects, const char *rel, const char *path, const char *known,
	   uint64_t *bytes, struct dt_err *err)
{
	char hex[65], *key;
	struct stat sb;
	uint64_t size = 0;
	int r, moved = 0;

	if (known == NULL && sha256_file(AT_FDCWD, path, hex, &size, err) < 0)
		return -1;
	if (known) {
		if (lstat(path, &sb) < 0)
			return dt_fail_errno(err, DT_EIO, "cannot stat '%s'", path);
		memcpy(hex, known, sizeof(hex));
		size = (uint64_t)sb.st_size;
	}
	if (asprintf(&key, "%s/%s", s->prefix, rel) < 0)
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	r = store_move_file(s->out, key, path, &moved, err);
	free(key);
	if (r == 0 && known && !moved)
		r = sha256_file(AT_FDCWD, path, hex, &size, err);
	if (r < 0)
		return -1;
	*bytes += size;
	json_object_set_new(objects, rel, json_string(hex));
	return 0;
}

static int
put_json(struct slot *s, json_t *objects, const char *rel, json_t *v, struct dt_err *err)
{
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER), *key = NULL;
	char hex[65];
	int r = -1;

	if (text == NULL || asprintf(&key, "%s/%s", s->prefix, rel) < 0) {
		free(text);
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	}
	/* A text file ends with a newline. */
	size_t n = strlen(text);
	char *body = realloc(text, n + 2);
	if (body == NULL) {
		free(text);
		free(key);
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	}
	body[n++] = '\n';
	body[n] = '\0';
	if (store_put_mem(s->out, key, body, n, err) == 0) {
		r = 0;
		if (objects) {
			sha256_mem(body, n, hex);
			json_object_set_new(objects, rel, json_string(hex));
		}
	}
	free(body);
	free(key);
	return r;
}

/* gzip src into dst (zlib's gzip format). */
static int
gzip_file(const char *src, const char *dst, struct dt_err *err)
{
	unsigned char buf[65536];
	FILE *in = fopen(src, "rb");
	gzFile out = in ? gzopen(dst, "wb6") : NULL;
	size_t r;
	int ok = in && out;

	while (ok && (r = fread(buf, 1, sizeof(buf), in)) > 0)
		ok = gzwrite(out, buf, (unsigned)r) == (int)r;
	ok = ok && !ferror(in);
	if (in)
		fclose(in);
	if (out)
		ok = gzclose(out) == Z_OK && ok;
	if (!ok)
		return dt_fail(err, DT_EIO, "cannot compress '%s' into '%s'", src, dst);
	return 0;
}

/* The last line of the events file that is a summary event: new, or NULL. */
static json_t *
read_summary(const char *path)
{
	FILE *fp = fopen(path, "rb");
	char *line = NULL;
	size_t cap = 0;
	json_t *last = NULL;

	if (fp == NULL)
		return NULL;
	while (getline(&line, &cap, fp) > 0) {
		/* Only the summary line is parsed; every other line is a change or a row. */
		if (strstr(line, "\"event\":\"summary\"") == NULL &&
		    strstr(line, "\"event\": \"summary\"") == NULL)
			continue;
		json_t *v = json_loads(line, 0, NULL);
		if (json_is_object(v)) {
			json_decref(last);
			last = v;
		} else {
			json_decref(v);
		}
	}
	free(line);
	fclose(fp);
	return last;
}

/*
 * extract/manifest.jsonl as {"files/...": {"sha256", "size"}}: what `scan -x` hashed as it
 * wrote each file (a name listed twice with different digests is left out). New; an empty
 * object when there is none.
 */
static json_t *
read_manifest(const char *extract)
{
	json_t *map = json_object();
	char *path = NULL, *line = NULL;
	size_t cap = 0;
	FILE *fp = NULL;

	if (map && asprintf(&path, "%s/manifest.jsonl", extract) >= 0)
		fp = fopen(path, "rb");
	while (fp && getline(&line, &cap, fp) > 0) {
		json_t *m = json_loads(line, 0, NULL);
		const char *file = json_string_value(json_object_get(m, "file"));
		const char *hex = json_string_value(json_object_get(m, "sha256"));
		json_t *size = json_object_get(m, "size"), *had;

		if (file && hex && strlen(hex) == 64 && strspn(hex, "0123456789abcdef") == 64 &&
		    json_is_integer(size)) {
			had = json_object_get(map, file);
			if (had == NULL)
				json_object_set_new(
					map, file,
					json_pack("{s:s, s:O}", "sha256", hex, "size", size));
			else if (!json_equal(json_object_get(had, "sha256"),
					     json_object_get(m, "sha256")))
				json_object_set_new(map, file, json_null());
		}
		json_decref(m);
	}
	if (fp)
		fclose(fp);
	free(line);
	free(path);
	return map;
}

/* The manifest's SHA-256 for the file rel ("extracted/files/...") of size bytes, or NULL. */
static const char *
manifest_hash(json_t *manifest, const char *rel, uint64_t size)
{
	json_t *m = json_object_get(manifest, rel + strlen("extracted/"));
	json_t *sz = json_object_get(m, "size");

	if (!json_is_integer(sz) || (uint64_t)json_integer_value(sz) != size)
		return NULL;
	return json_string_value(json_object_get(m, "sha256"));
}

/*
 * Every file under the folder fd (path dir; rel "extracted/...") into objects. whole: the
 * folder is in the store already (store_move_tree()), each file is the very one the scan
 * wrote: listed with the manifest's SHA-256 (hashed where the manifest has none). Else each
 * file is put into the store (put_object(): moved, or copied). Takes fd.
 */
static int
put_tree(struct slot *s, json_t *objects, json_t *manifest, int fd, const char *dir,
	 const char *rel, int whole, int depth, uint64_t *bytes, size_t *count, struct dt_err *err)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	if (d == NULL) {
		close(fd);
		return dt_fail_errno(err, DT_EIO, "cannot read '%s'", dir);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (BUF_GROW(names, n + 1, cap, err) < 0 ||
		    (names[n] = strdup(de->d_name)) == NULL) {
			ret = dt_fail(err, DT_ENOMEM, "worker: out of memory");
			break;
		}
		n++;
	}
	/* The scan's own COMPLETE goes last, as in its folder: a reader trusts it last. */
	for (int pass = 0; pass < 2 && ret == 0; pass++) {
		for (size_t i = 0; i < n && ret == 0; i++) {
			int is_complete = depth == 0 && strcmp(names[i], "COMPLETE") == 0;
			char *path = NULL, *sub = NULL, *key = NULL;
			const char *known;
			char hex[65];
			struct stat sb;
			uint64_t size;
			int subfd;

			if (is_complete != (pass == 1))
				continue;
			if (asprintf(&path, "%s/%s", dir, names[i]) < 0 ||
			    asprintf(&sub, "%s/%s", rel, names[i]) < 0) {
				free(path);
				ret = dt_fail(err, DT_ENOMEM, "worker: out of memory");
				break;
			}
			if (fstatat(dirfd(d), names[i], &sb, AT_SYMLINK_NOFOLLOW) < 0) {
				/* Gone: as if it never was. */
			} else if (S_ISDIR(sb.st_mode) && depth < 256) {
				subfd = openat(dirfd(d), names[i],
					       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				ret = subfd < 0 ? dt_fail_errno(err, DT_EIO, "cannot read '%s'", path)
						: put_tree(s, objects, manifest, subfd, path, sub,
							   whole, depth + 1, bytes, count, err);
			} else if (!S_ISREG(sb.st_mode)) {
				/* Not a result: left behind (and removed from a moved folder). */
			} else if (++*count > WORKER_MAX_EXTRACT) {
				ret = dt_fail(err, DT_ENOMEM, "more than %d extracted files",
					      WORKER_MAX_EXTRACT);
			} else if (!whole) {
				ret = put_object(s, objects, sub, path,
						 manifest_hash(manifest, sub, (uint64_t)sb.st_size),
						 bytes, err);
			} else if (asprintf(&key, "%s/%s", s->prefix, sub) < 0) {
				ret = dt_fail(err, DT_ENOMEM, "worker: out of memory");
			} else if (store_check_key(key, err) == 0) {
				/* What store_move_file() would have refused fails the job as ever. */
				size = (uint64_t)sb.st_size;
				known = manifest_hash(manifest, sub, size);
				if (known)
					memcpy(hex, known, sizeof(hex));
				else if (sha256_file(dirfd(d), names[i], hex, &size, err) < 0)
					ret = -1;
				if (ret == 0) {
					*bytes += size;
					json_object_set_new(objects, sub, json_string(hex));
				}
			} else {
				ret = -1;
			}
			free(key);
			free(path);
			free(sub);
		}
	}
	closedir(d);
	buf_free_strings(names, n);
	return ret;
}

/*
 * The scan's extraction (the folder extract) into the store as extracted/: moved whole in
 * one rename where the store can (a folder store on the scratch folder's filesystem), else
 * file by file. The folder is opened first, so that it is still at hand once moved.
 */
static int
put_extracted(struct slot *s, json_t *objects, json_t *manifest, const char *extract,
	      uint64_t *bytes, size_t *count, struct dt_err *err)
{
	char *key = NULL;
	int fd, moved = 0;

	fd = open(extract, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : dt_fail_errno(err, DT_EIO, "cannot read '%s'", extract);
	if (asprintf(&key, "%s/extracted", s->prefix) < 0) {
		close(fd);
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	}
	if (store_move_tree(s->out, key, extract, &moved, err) < 0) {
		close(fd);
		free(key);
		return -1;
	}
	free(key);
	return put_tree(s, objects, manifest, fd, extract, "extracted", moved, 0, bytes, count,
			err);
}

/*
 * The scan finished with outputs: store events.jsonl.gz, extracted/, summary.json, then
 * COMPLETE with every object's SHA-256.
 */
static int
publish(struct worker *w, struct slot *s, int scan_status, struct dt_err *err)
{
	json_t *objects = json_object(), *manifest = NULL, *summary, *complete, *fetched;
	char *events = NULL, *gz = NULL, *extract = NULL, finished[64];
	uint64_t ev_bytes = 0, gz_bytes = 0, ex_bytes = 0;
	size_t ex_count = 0;
	struct stat sb;
	int ret = -1;

	if (objects == NULL || asprintf(&events, "%s/events.jsonl", s->dir) < 0 ||
	    asprintf(&gz, "%s/events.jsonl.gz", s->dir) < 0 ||
	    asprintf(&extract, "%s/extract", s->dir) < 0 ||
	    (manifest = read_manifest(extract)) == NULL) {
		dt_fail(err, DT_ENOMEM, "worker: out of memory");
		goto out;
	}
	if (stat(events, &sb) < 0) {
		dt_fail_errno(err, DT_EIO, "cannot stat '%s'", events);
		goto out;
	}
	ev_bytes = (uint64_t)sb.st_size;
	if (gzip_file(events, gz, err) < 0 ||
	    put_object(s, objects, "events.jsonl.gz", gz, NULL, &gz_bytes, err) < 0 ||
	    put_extracted(s, objects, manifest, extract, &ex_bytes, &ex_count, err) < 0)
		goto out;
	now_rfc3339(finished, sizeof(finished));
	summary = read_summary(events);
	if (summary == NULL)
		summary = json_object();
	fetched = json_object_get(json_object_get(json_object_get(summary, "evidence"), "snapshot"),
				  "bytes_fetched");
	if (json_is_integer(fetched))
		wlog_bytes(w, s, "fetched", (uint64_t)json_integer_value(fetched),
			   "snapshot blocks fetched");
	json_object_set_new(
		summary, "worker",
		json_pack("{s:s, s:s, s:I, s:s, s:s, s:f, s:i, s:b, s:{s:I, s:I, s:I, s:I}}", "job",
			  s->msg->id, "host", w->host, "receive_count",
			  (json_int_t)s->msg->receive_count, "started", s->started, "finished",
			  finished, "elapsed", mono_now() - s->t0, "scan_exit", scan_status,
			  "complete", scan_status != SCAN_INCOMPLETE, "bytes", "events",
			  (json_int_t)ev_bytes, "events_gz", (json_int_t)gz_bytes, "extracted",
			  (json_int_t)ex_bytes, "extracted_files", (json_int_t)ex_count));
	json_object_set_new(summary, "job_spec", json_null());
	{
		char *spec = job_to_json(&s->job);
		json_t *v = spec ? json_loads(spec, 0, NULL) : NULL;
		json_object_set_new(summary, "job_spec", v ? v : json_null());
		free(spec);
	}
	ret = put_json(s, objects, "summary.json", summary, err);
	json_decref(summary);
	if (ret < 0)
		goto out;
	complete = json_pack("{s:s, s:s, s:s, s:s, s:O}", "job", s->msg->id, "case", s->job.case_id,
			     "host", w->host, "finished", finished, "objects", objects);
	ret = complete ? put_json(s, NULL, "COMPLETE", complete, err)
		       : dt_fail(err, DT_ENOMEM, "worker: out of memory");
	json_decref(complete);
	if (ret == 0)
		wlog_bytes(w, s, "stored", gz_bytes + ex_bytes, "results stored, COMPLETE written");
out:
	json_decref(objects);
	json_decref(manifest);
	free(events);
	free(gz);
	free(extract);
	return ret;
}

/* The FAILED record beside a job's results: why, and which attempt. */
static void
write_failed(struct worker *w, struct slot *s, const char *reason)
{
	json_t *rec;
	char ts[64];
	struct dt_err err = { 0 };

	if (s->out == NULL || s->prefix == NULL)
		return;
	now_rfc3339(ts, sizeof(ts));
	rec = json_pack("{s:s, s:s, s:s, s:I, s:s}", "job", s->msg->id, "host", w->host, "reason",
			reason, "receive_count", (json_int_t)s->msg->receive_count, "time", ts);
	if (rec && put_json(s, NULL, "FAILED", rec, &err) < 0)
		wlog(w, "warn", s, "failed", "cannot write FAILED: %s", err.msg);
	json_decref(rec);
}

static void
slot_clear(struct worker *w, struct slot *s)
{
	struct dt_err err = { 0 };

	if (s->att) {
		attach_close(s->att, &err);
		if (err.code != DT_OK)
			wlog(w, "error", s, "detach", "%s", err.msg);
		s->att = NULL;
	}
	if (s->dir) {
		remove_path(s->dir);
		free(s->dir);
	}
	if (s->have_job)
		job_free(&s->job);
	store_close(s->out);
	free(s->prefix);
	free(s->baseline);
	buf_free_strings(s->known_good, s->nknown_good);
	queue_msg_free(s->msg);
	memset(s, 0, sizeof(*s));
}

/* Give the job up: FAILED record, queue_fail(), and the slot is free again. */
static void
job_failed(struct worker *w, struct slot *s, int permanent, const char *reason)
{
	struct dt_err err = { 0 };

	wlog(w, "error", s, "failed", "%s%s", reason, permanent ? " (permanent)" : "");
	write_failed(w, s, reason);
	if (queue_fail(w->q, s->msg, permanent, reason, &err) < 0)
		wlog(w, "error", s, "failed", "%s", err.msg);
	w->st->failed++;
	slot_clear(w, s);
}

/*
 * When the job's COMPLETE is in its output already (a finished run of it: a redelivery, or a
 * duplicate delivery that finished first), its results stand: acknowledge the message, count
 * the job skipped, clear the slot; 1. 0: not complete. -1: cannot tell (err).
 */
static int
ack_if_complete(struct worker *w, struct slot *s, const char *why, struct dt_err *err)
{
	struct dt_err e = { 0 };
	char *complete = NULL;
	int r;

	if (asprintf(&complete, "%s/COMPLETE", s->prefix) < 0)
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	r = store_exists(s->out, complete, err);
	free(complete);
	if (r != 1)
		return r;
	wlog(w, "info", s, "done", "%s", why);
	if (queue_done(w->q, s->msg, &e) < 0)
		wlog(w, "error", s, "done", "%s", e.msg);
	w->st->skipped++;
	slot_clear(w, s);
	return 1;
}

/* A baseline or a known-good set fetched into the worker's own cache: private. */
static const struct outfile_opts baseline_out = { .kind = OUTFILE_DTREE, .mode = 0600 };
static const struct outfile_opts knowngood_out = { .kind = OUTFILE_KNOWNGOOD, .mode = 0600 };

/*
 * url (s3://BUCKET/KEY) as a local file in the cache, named by its URL's digest and ext,
 * fetched once: *out new. what names it in messages ("baseline", "known_good").
 */
static int
fetch_s3(struct worker *w, struct slot *s, const char *what, const char *url, const char *ext,
	 const struct outfile_opts *oo, char **out, struct dt_err *err)
{
	char hex[65], *path = NULL;
	struct store *st = NULL;
	const char *slash;
	struct stat sb;
	int r;

	slash = strchr(url + 5, '/');
	if (slash == NULL || slash[1] == '\0')
		return dt_fail(err, DT_EUSAGE, "%s '%s': no key after the bucket", what, url);
	sha256_mem(url, strlen(url), hex);
	if (asprintf(&path, "%s/%s.%s", w->cache, hex, ext) < 0)
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	if (stat(path, &sb) == 0) {
		*out = path;
		return 0;
	}
	char *bucket = strndup(url, (size_t)(slash - url));
	struct store_options so = { 0 };
	so.creds = w->creds;
	so.pool = w->pool;
	r = bucket ? store_open(bucket, &so, &st, err) : dt_fail(err, DT_ENOMEM, "out of memory");
	if (r == 0)
		r = store_get_file(st, slash + 1, path, oo, err);
	store_close(st);
	free(bucket);
	if (r < 0) {
		free(path);
		return -1;
	}
	wlog(w, "info", s, what, "fetched %s", url);
	*out = path;
	return 0;
}

/* A local file the job names, as it is (it must be there). */
static int
local_file(const char *what, const char *path, char **out, struct dt_err *err)
{
	struct stat sb;

	if (stat(path, &sb) < 0)
		return dt_fail_errno(err, DT_EUSAGE, "%s '%s'", what, path);
	*out = strdup(path);
	return *out ? 0 : dt_fail(err, DT_ENOMEM, "worker: out of memory");
}

/* The baseline as a local file: a path as it is, s3:// fetched once into the cache. */
static int
get_baseline(struct worker *w, struct slot *s, struct dt_err *err)
{
	const char *b = s->job.baseline;

	if (b == NULL)
		return worker_find_baseline(&s->job, &w->o->attach, s->out, w->cache, &s->baseline,
					    err);
	if (strncmp(b, "s3://", 5) != 0)
		return local_file("baseline", b, &s->baseline, err);
	return fetch_s3(w, s, "baseline", b, "dtree", &baseline_out, &s->baseline, err);
}

/* The job's known-good sets as local files, the same way (each checked when scan loads it). */
static int
get_known_good(struct worker *w, struct slot *s, struct dt_err *err)
{
	const struct job *j = &s->job;

	if (j->nknown_good == 0)
		return 0;
	s->known_good = calloc(j->nknown_good, sizeof(*s->known_good));
	if (s->known_good == NULL)
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	for (; s->nknown_good < j->nknown_good; s->nknown_good++) {
		const char *k = j->known_good[s->nknown_good];
		char **out = &s->known_good[s->nknown_good];
		if ((strncmp(k, "s3://", 5) == 0
			     ? fetch_s3(w, s, "known_good", k, "kg", &knowngood_out, out, err)
			     : local_file("known_good", k, out, err)) < 0)
			return -1;
	}
	return 0;
}

/* A message arrived in slot s: parse it, skip it when complete, else start its scan. */
static void
start_job(struct worker *w, struct slot *s)
{
	struct dt_err err = { 0 };
	struct store_options so = { 0 };
	char *sub = NULL, *spec = NULL;
	int r;

	s->busy = 1;
	s->t0 = mono_now();
	s->last_beat = s->t0;
	now_rfc3339(s->started, sizeof(s->started));
	w->st->claimed++;
	if (job_parse(s->msg->body, s->msg->body_len, w->o->defaults, &s->job, &err) < 0) {
		job_failed(w, s, 1, err.msg);
		return;
	}
	s->have_job = 1;
	wlog(w, "info", s, "claim", "claimed (receive %u)", s->msg->receive_count);
	/* Before anything of the job is read or written: where it may write, what it may read. */
	if (job_admit(&s->job, w->o->defaults ? w->o->defaults->output : NULL, queue_shared(w->q),
		      w->o->allow_local_evidence, &err) < 0) {
		job_failed(w, s, 1, err.msg);
		return;
	}
	so.creds = w->creds;
	so.pool = w->pool;
	so.sse = w->o->sse;
	so.sse_kms_key_id = w->o->sse_kms_key_id;
	s->prefix = job_result_name(&s->job);
	if (s->prefix == NULL || store_open(s->job.output, &so, &s->out, &err) < 0) {
		job_failed(w, s, 0, err.code ? err.msg : "worker: out of memory");
		return;
	}
	if (asprintf(&sub, "%s/", s->prefix) < 0) {
		job_failed(w, s, 0, "worker: out of memory");
		return;
	}
	/* A redelivery of a finished job: nothing to do. */
	r = ack_if_complete(w, s, "results already complete: nothing to do", &err);
	if (r == 1)
		goto out;
	/* Anything under the prefix without COMPLETE is a killed run's: never mix with it. */
	if (r < 0 || store_delete_prefix(s->out, sub, &err) < 0 || get_baseline(w, s, &err) < 0 ||
	    get_known_good(w, s, &err) < 0 ||
	    asprintf(&s->dir, "%s/job-%u-%s", w->work, (unsigned)(s - w->slots), s->msg->id) < 0) {
		job_failed(w, s, 0, err.code ? err.msg : "worker: out of memory");
		goto out;
	}
	remove_path(s->dir);
	if (mkdir(s->dir, 0700) < 0) {
		dt_fail_errno(&err, DT_EIO, "worker: cannot make '%s'", s->dir);
		job_failed(w, s, 0, err.msg);
		goto out;
	}
	if (worker_evidence_spec(w, s, &spec, &err) < 0 || worker_spawn(w, s, spec, &err) < 0) {
		job_failed(w, s, 0, err.msg);
		goto out;
	}
	s->scan_t0 = mono_now();
	wlog(w, "info", s, "scan", "scanning %s against %s", spec, s->baseline);
out:
	free(spec);
	free(sub);
}

/* The end of the scan's stderr, one line, for a failure reason. */
static void
log_tail(const struct slot *s, char *out, size_t n)
{
	char *path = NULL, buf[WORKER_LOG_TAIL + 1];
	FILE *fp;
	size_t r = 0;

	out[0] = '\0';
	if (asprintf(&path, "%s/scan.log", s->dir) < 0)
		return;
	fp = fopen(path, "rb");
	free(path);
	if (fp == NULL)
		return;
	if (fseek(fp, -(long)WORKER_LOG_TAIL, SEEK_END) < 0)
		rewind(fp);
	r = fread(buf, 1, WORKER_LOG_TAIL, fp);
	fclose(fp);
	buf[r] = '\0';
	while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
		buf[--r] = '\0';
	char *last = strrchr(buf, '\n');
	snprintf(out, n, "%s", last ? last + 1 : buf);
}

/* s's child ended with status. */
static void
finish_job(struct worker *w, struct slot *s, int status)
{
	struct dt_err err = { 0 };
	char reason[WORKER_LOG_TAIL + 200], tail[WORKER_LOG_TAIL + 1];
	int code;

	s->pid = 0;
	if (s->att) {
		/* The volume goes before the results do: nothing more reads it. */
		attach_close(s->att, &err);
		s->att = NULL;
		if (err.code != DT_OK)
			wlog(w, "error", s, "detach", "%s", err.msg);
		dt_clear(&err);
	}
	if (WIFEXITED(status)) {
		code = WEXITSTATUS(status);
		if (code == SCAN_NO_DELTA || code == SCAN_DELTA || code == SCAN_INCOMPLETE) {
			wlog(w, "info", s, "scan", "scan exited %d", code);
			/* A duplicate delivery (SQS may deliver a message twice) finished
			 * first: ours are dropped. Narrows, but does not close, the window in
			 * which two runs of one job store at once (docs/worker.md). Cannot
			 * tell: publish. */
			if (ack_if_complete(w, s,
					    "results completed meanwhile by another run: ours "
					    "dropped",
					    &err) == 1)
				return;
			dt_clear(&err);
			if (publish(w, s, code, &err) < 0) {
				job_failed(w, s, 0, err.msg);
				return;
			}
			if (queue_done(w->q, s->msg, &err) < 0)
				wlog(w, "error", s, "done", "%s", err.msg);
			else
				wlog(w, "info", s, "done", "done");
			w->st->done++;
			slot_clear(w, s);
			return;
		}
		log_tail(s, tail, sizeof(tail));
		snprintf(reason, sizeof(reason), "scan exited %d: %s", code,
			 tail[0] ? tail : "(no message)");
	} else if (s->timed_out) {
		snprintf(reason, sizeof(reason),
			 "scan killed after its wall-clock limit of %u seconds",
			 s->job.limits.wall_seconds);
	} else {
		int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
		snprintf(reason, sizeof(reason), "scan killed by signal %d (%s)%s", sig,
			 strsignal(sig), sig == SIGXCPU ? ": its CPU-time limit" : "");
	}
	job_failed(w, s, 0, reason);
}

/* Heartbeats and wall-clock limits of running jobs. */
static void
tick(struct worker *w)
{
	double t = mono_now();

	for (unsigned i = 0; i < w->nslots; i++) {
		struct slot *s = &w->slots[i];
		struct dt_err err = { 0 };

		if (!s->busy || s->pid == 0)
			continue;
		if (s->job.limits.wall_seconds && !s->timed_out &&
		    t - s->scan_t0 > (double)s->job.limits.wall_seconds) {
			wlog(w, "warn", s, "timeout", "wall-clock limit reached: killing the scan");
			kill(-s->pid, SIGKILL);
			s->timed_out = 1;
		}
		if (t - s->last_beat >= (double)w->lease / 3) {
			s->last_beat = t;
			if (queue_heartbeat(w->q, s->msg, w->lease, &err) < 0) {
				/* The claim is gone: another worker has the job now. */
				wlog(w, "error", s, "heartbeat", "%s: abandoning the job", err.msg);
				kill(-s->pid, SIGKILL);
				waitpid(s->pid, NULL, 0);
				slot_clear(w, s);
			}
		}
	}
}

static void
reap(struct worker *w)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0)
			return;
		for (unsigned i = 0; i < w->nslots; i++)
			if (w->slots[i].busy && w->slots[i].pid == pid)
				finish_job(w, &w->slots[i], status);
	}
}

/* SIGTERM: kill every running scan and give its job back. */
static void
release_all(struct worker *w)
{
	for (unsigned i = 0; i < w->nslots; i++) {
		struct slot *s = &w->slots[i];
		struct dt_err err = { 0 };

		if (!s->busy)
			continue;
		if (s->pid > 0) {
			kill(-s->pid, SIGKILL);
			waitpid(s->pid, NULL, 0);
		}
		if (queue_release(w->q, s->msg, &err) < 0)
			wlog(w, "error", s, "release", "%s", err.msg);
		else
			wlog(w, "info", s, "release", "stopping: job given back to the queue");
		w->st->released++;
		slot_clear(w, s);
	}
}

static unsigned
running(const struct worker *w)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->nslots; i++)
		n += w->slots[i].busy;
	return n;
}

static int
stopping(const struct worker *w)
{
	return w->o->stop && *w->o->stop;
}

/*
 * Wait up to ms for a child to end (SIGCHLD, blocked in the worker so that it waits here
 * until taken) or another signal (SIGTERM: the loop looks at why).
 */
static void
nap(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigtimedwait(&chld, NULL, &ts);
}

static int
make_aws(struct http_pool **pool, struct creds **creds, struct dt_err *err)
{
	struct creds_options co = { 0 };

	if (http_pool_new(NULL, pool, err) < 0)
		return -1;
	if (creds_new(&co, *pool, creds, err) < 0) {
		http_pool_free(*pool);
		*pool = NULL;
		return -1;
	}
	return 0;
}

static int
setup(struct worker *w, const struct worker_options *o, struct dt_err *err)
{
	struct queue_options qo = { 0 };
	ssize_t n;

	w->nslots = o->concurrency ? o->concurrency : 1;
	if (w->nslots > WORKER_MAX_CONCURRENCY)
		return dt_fail(err, DT_EUSAGE, "worker: concurrency above %d",
			       WORKER_MAX_CONCURRENCY);
	w->slots = calloc(w->nslots, sizeof(*w->slots));
	if (w->slots == NULL)
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	w->lease = o->lease_seconds ? o->lease_seconds : QUEUE_DEFAULT_LEASE;
	if (o->host)
		snprintf(w->host, sizeof(w->host), "%s", o->host);
	else if (gethostname(w->host, sizeof(w->host) - 1) < 0)
		snprintf(w->host, sizeof(w->host), "unknown");
	if (o->exe) {
		snprintf(w->exe, sizeof(w->exe), "%s", o->exe);
	} else {
		n = readlink("/proc/self/exe", w->exe, sizeof(w->exe) - 1);
		if (n <= 0)
			return dt_fail_errno(err, DT_EIO, "worker: cannot find its own program");
		w->exe[n] = '\0';
	}
	if (o->work_dir) {
		if (mkdir(o->work_dir, 0700) < 0 && errno != EEXIST)
			return dt_fail_errno(err, DT_EIO, "worker: cannot make '%s'", o->work_dir);
		w->work = strdup(o->work_dir);
	} else {
		const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		if (asprintf(&w->work, "%s/deltair-worker-XXXXXX", tmp) < 0)
			w->work = NULL;
		else if (mkdtemp(w->work) == NULL)
			return dt_fail_errno(err, DT_EIO, "worker: cannot make a folder in '%s'",
					     tmp);
		w->own_work = 1;
	}
	if (w->work == NULL)
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	if (o->baseline_cache)
		w->cache = strdup(o->baseline_cache);
	else if (asprintf(&w->cache, "%s/baselines", w->work) < 0)
		w->cache = NULL;
	if (w->cache == NULL)
		return dt_fail(err, DT_ENOMEM, "worker: out of memory");
	if (mkdir(w->cache, 0700) < 0 && errno != EEXIST)
		return dt_fail_errno(err, DT_EIO, "worker: cannot make '%s'", w->cache);
	if (make_aws(&w->pool, &w->creds, err) < 0)
		return -1;
	qo.creds = w->creds;
	qo.pool = w->pool;
	qo.lease_seconds = w->lease;
	qo.max_receives = o->max_receives;
	qo.warn = queue_warning;
	qo.warn_arg = w;
	qo.stop = o->stop;
	return queue_open(o->queue, &qo, &w->q, err);
}

static void
teardown(struct worker *w)
{
	queue_close(w->q);
	creds_free(w->creds);
	http_pool_free(w->pool);
	if (w->own_work && w->work)
		remove_path(w->work);
	free(w->work);
	free(w->cache);
	free(w->slots);
}

/*
 * Attach mode by default: volumes a killed run of this worker's instance left behind are
 * deleted before any job is taken (attach.h). A failure is logged, not fatal.
 */
static void
sweep_own(struct worker *w)
{
	struct attach_sweep_stats ss;
	struct dt_err e = { 0 };

	if (attach_sweep(&w->o->attach, ATTACH_SWEEP_SELF, &ss, &e) < 0)
		wlog(w, "error", NULL, "sweep", "%s", e.msg);
	else if (ss.deleted)
		wlog(w, "info", NULL, "sweep", "deleted %u volume(s) this instance left behind",
		     ss.deleted);
}

int
worker_run(const struct worker_options *o, struct worker_stats *st, struct dt_err *err)
{
	struct worker w = { 0 };
	struct worker_stats dummy;
	unsigned poll = o->poll_seconds ? o->poll_seconds : QUEUE_DEFAULT_WAIT;
	unsigned backoff = 1;
	double next_poll = 0;
	sigset_t chld, old_mask;
	int ret = 0;

	memset(&dummy, 0, sizeof(dummy));
	w.o = o;
	w.st = st ? st : &dummy;
	memset(w.st, 0, sizeof(*w.st));
	if (setup(&w, o, err) < 0) {
		teardown(&w);
		return -1;
	}
	/* SIGCHLD stays pending until nap() takes it; children start with it unblocked. */
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old_mask);
	wlog(&w, "info", NULL, "start", "serving %s with %u slot(s) on %s", o->queue, w.nslots,
	     w.host);
	if (o->defaults && o->defaults->read_mode == JOB_READ_ATTACH)
		sweep_own(&w);
	while (!stopping(&w)) {
		struct queue_msg *m = NULL;
		struct dt_err qerr = { 0 };
		unsigned busy, wait;

		reap(&w);
		tick(&w);
		busy = running(&w);
		/* While scans run, the queue is asked at most once a second, without waiting:
		 * their heartbeats and ends need the loop. */
		if (busy == w.nslots || (busy && mono_now() < next_poll)) {
			nap(WORKER_TICK_MS);
			continue;
		}
		wait = busy ? 0 : o->once ? o->poll_seconds : poll;
		if (queue_receive(w.q, wait, &m, &qerr) < 0) {
			wlog(&w, "error", NULL, "receive", "%s", qerr.msg);
			if (o->once && busy == 0) {
				*err = qerr;
				ret = -1;
				break;
			}
			sleep(backoff);
			backoff =
				backoff * 2 > WORKER_RETRY_MAX_S ? WORKER_RETRY_MAX_S : backoff * 2;
			continue;
		}
		backoff = 1;
		if (m == NULL) {
			if (o->once && busy == 0 && !stopping(&w))
				break;
			next_poll = mono_now() + 1;
			continue;
		}
		if (stopping(&w)) {
			/* It came as we were told to stop: give it straight back. */
			if (queue_release(w.q, m, &qerr) < 0)
				wlog(&w, "error", NULL, "release", "%s", qerr.msg);
			queue_msg_free(m);
			break;
		}
		for (unsigned i = 0; i < w.nslots; i++)
			if (!w.slots[i].busy) {
				w.slots[i].msg = m;
				start_job(&w, &w.slots[i]);
				break;
			}
	}
	if (stopping(&w))
		release_all(&w);
	wlog(&w, "info", NULL, "stop",
	     "claimed %lu, done %lu, already complete %lu, failed %lu, released %lu", w.st->claimed,
	     w.st->done, w.st->skipped, w.st->failed, w.st->released);
	teardown(&w);
	sigprocmask(SIG_SETMASK, &old_mask, NULL);
	return ret;
}

int
worker_submit(const char *url, const char *body, char **id, struct dt_err *err)
{
	struct queue_options qo = { 0 };
	struct http_pool *pool = NULL;
	struct creds *creds = NULL;
	struct queue *q = NULL;
	int ret = -1;

	*id = NULL;
	if (make_aws(&pool, &creds, err) == 0) {
		qo.creds = creds;
		qo.pool = pool;
		if (queue_open(url, &qo, &q, err) == 0)
			ret = queue_send(q, body, id, err);
	}
	queue_close(q);
	creds_free(creds);
	http_pool_free(pool);
	return ret;
}
