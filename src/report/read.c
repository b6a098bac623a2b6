/* read.c - the result folders of a case, host by host, into struct state (report_int.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "events.h"
#include "provenance.h"
#include "report/report_int.h"

#include "banned.h"

/* ---- small decoders ---- */

static int
class_of(const char *s)
{
	for (int k = 0; s && k < DIFF_NCLASSES; k++)
		if (strcmp(s, diff_class_name((enum diff_class)k)) == 0)
			return k;
	return -1;
}

static unsigned
flags_of(const json_t *arr)
{
	unsigned f = 0;
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
	{
		for (int b = 0; b < DIFF_NFLAGS; b++)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), diff_flag_name(1u << b)) == 0)
				f |= 1u << b;
	}
	return f;
}

/* 1 when s is 64 lowercase hex digits (then decoded into out), as events write sha256. */
static int
sha_of(const char *s, unsigned char out[32])
{
	return s && strlen(s) == 64 && strspn(s, "0123456789abcdef") == 64 &&
	       buf_unhex(s, 32, out) == 0;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* Seconds of an RFC 3339 UTC time as events carry it ("2026-11-27T09:23:57.279119613Z"). */
static int
time_of(const char *s, int64_t *out)
{
	int v[6], len[6] = { 4, 2, 2, 2, 2, 2 };
	const char sep[6] = { '-', '-', 'T', ':', ':', 0 };

	if (s == NULL)
		return -1;
	for (int f = 0; f < 6; f++) {
		v[f] = 0;
		for (int i = 0; i < len[f]; i++, s++) {
			if (*s < '0' || *s > '9')
				return -1;
			v[f] = v[f] * 10 + (*s - '0');
		}
		if (sep[f] && *s++ != sep[f])
			return -1;
	}
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
		return -1;
	*out = days_from_civil(v[0], (unsigned)v[1], (unsigned)v[2]) * 86400 + v[3] * 3600 +
	       v[4] * 60 + v[5];
	return 0;
}

void
report_time_str(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", (long long)t);
}

/*
 * The exact bytes of an event's KEY: KEY_bytes (base64) when present, else KEY. *out is
 * new (free()); -1 when neither is a string or the base64 is damaged.
 */
static int
bytes_of(const json_t *ev, const char *key, char **out, size_t *len)
{
	char bkey[64];
	const json_t *b;
	const char *s;
	size_t n, pad = 0;
	int got;

	snprintf(bkey, sizeof(bkey), "%s_bytes", key);
	b = json_object_get(ev, bkey);
	if (json_is_string(b)) {
		s = json_string_value(b);
		n = json_string_length(b);
		if (n % 4 != 0 || n > INT_MAX)
			return -1;
		*out = malloc(n / 4 * 3 + 1);
		if (*out == NULL)
			return -1;
		got = EVP_DecodeBlock((unsigned char *)*out, (const unsigned char *)s, (int)n);
		if (got < 0) {
			free(*out);
			*out = NULL;
			return -1;
		}
		/* EVP_DecodeBlock counts the padding as zero bytes. */
		pad = (n >= 1 && s[n - 1] == '=') + (n >= 2 && s[n - 2] == '=');
		*len = (size_t)got - pad;
		return 0;
	}
	b = json_object_get(ev, key);
	if (!json_is_string(b))
		return -1;
	n = json_string_length(b);
	*out = malloc(n + 1);
	if (*out == NULL)
		return -1;
	memcpy(*out, json_string_value(b), n);
	*len = n;
	return 0;
}

/* A new key: fs, NUL, the path bytes of ev. */
static int
key_of(const json_t *ev, char **key, size_t *klen)
{
	const char *fs = json_string_value(json_object_get(ev, "fs"));
	size_t fl = fs ? strlen(fs) : 0;
	char *p, *k;
	size_t pl;

	if (bytes_of(ev, "path", &p, &pl) < 0)
		return -1;
	k = malloc(fl + 1 + pl);
	if (k == NULL) {
		free(p);
		return -1;
	}
	if (fl)
		memcpy(k, fs, fl);
	k[fl] = '\0';
	memcpy(k + fl + 1, p, pl);
	free(p);
	*key = k;
	*klen = fl + 1 + pl;
	return 0;
}

int
report_key_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c ? c : (al > bl) - (al < bl);
}

/* ---- reading one host ---- */

/* A gzip file read line by line: one line in memory at a time. */
struct gzlines {
	gzFile gz;
	unsigned char in[1 << 16];
	size_t pos, len;
	int eof;
	uint64_t lineno;
};

/* 1: a line in *line; 0: the end; -1: a failure in err. */
static int
gz_next(struct gzlines *g, struct buf *line, struct dt_err *err)
{
	buf_reset(line);
	for (;;) {
		const unsigned char *nl;
		size_t take;

		if (g->pos == g->len) {
			int n, zerr;
			const char *msg;

			if (g->eof)
				break;
			n = gzread(g->gz, g->in, sizeof(g->in));
			msg = gzerror(g->gz, &zerr);
			/* A truncated stream reads short with Z_BUF_ERROR; a bad CRC is
			 * Z_DATA_ERROR: either way the events are not all there. */
			if (n < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
				/* zlib names a gzdopen()ed file "<fd:N>: ": not for people. */
				const char *sep = msg && msg[0] == '<' ? strstr(msg, ">: ") : NULL;
				return dt_fail(err, DT_EFORMAT, "events.jsonl.gz: %s",
					       sep   ? sep + 3
					       : msg ? msg
						     : "gzip error");
			}
			if (n == 0) {
				g->eof = 1;
				break;
			}
			g->pos = 0;
			g->len = (size_t)n;
		}
		nl = memchr(g->in + g->pos, '\n', g->len - g->pos);
		take = nl ? (size_t)(nl - (g->in + g->pos)) : g->len - g->pos;
		if (buf_add(line, g->in + g->pos, take, err) < 0) {
			dt_clear(err);
			return dt_fail(err, DT_EFORMAT,
				       "events.jsonl.gz: line %llu is longer than %u bytes",
				       (unsigned long long)g->lineno + 1, REPORT_MAX_LINE);
		}
		g->pos += take + (nl != NULL);
		if (nl) {
			g->lineno++;
			return 1;
		}
	}
	if (line->len) {
		g->lineno++;
		return 1;
	}
	return 0;
}

/* FNV-1a, seeded per run so that names from evidence cannot be chosen to collide. */
static uint64_t
key_hash(const struct state *s, const char *k, size_t n)
{
	uint64_t h = 14695981039346656037ull ^ s->seed;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)k[i];
		h *= 1099511628211ull;
	}
	return h ^ (h >> 32);
}

static int
grow_slots(struct state *s, struct dt_err *err)
{
	size_t n = s->nslots ? s->nslots * 2 : 4096;
	uint32_t *t = calloc(n, sizeof(*t));

	if (t == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory (%zu changed paths)", s->npaths);
	for (size_t i = 0; i < s->npaths; i++) {
		size_t k = s->paths[i].hash & (n - 1);
		while (t[k])
			k = (k + 1) & (n - 1);
		t[k] = (uint32_t)(i + 1);
	}
	free(s->slots);
	s->slots = t;
	s->nslots = n;
	return 0;
}

/*
 * The index of key's path in *idx: 1 found (or added, with add), 0 not found, -1 failure.
 * Steals key (also on failure).
 */
static int
path_find(struct state *s, char *key, size_t klen, int add, size_t *idx, struct dt_err *err)
{
	uint64_t h = key_hash(s, key, klen);
	struct rpath *p;
	size_t i;

	if (add && (s->npaths + 1) * 2 > s->nslots && grow_slots(s, err) < 0) {
		free(key);
		return -1;
	}
	for (i = s->nslots ? h & (s->nslots - 1) : 0; s->nslots && s->slots[i];
	     i = (i + 1) & (s->nslots - 1)) {
		p = &s->paths[s->slots[i] - 1];
		if (p->hash == h && report_key_cmp(p->key, p->klen, key, klen) == 0) {
			free(key);
			*idx = s->slots[i] - 1;
			return 1;
		}
	}
	if (!add) {
		free(key);
		return 0;
	}
	if (BUF_GROW(s->paths, s->npaths + 1, s->pcap, err) < 0) {
		free(key);
		return -1;
	}
	p = &s->paths[s->npaths];
	memset(p, 0, sizeof(*p));
	p->key = key;
	p->klen = klen;
	p->hash = h;
	s->slots[i] = (uint32_t)++s->npaths;
	*idx = s->npaths - 1;
	return 1;
}

/* A host that failed half-way: its occurrences go (they are the last of each path). */
static void
host_rollback(struct state *s)
{
	for (size_t i = s->ntouched; i > 0; i--) {
		s->paths[s->touched[i - 1]].nocc--;
		s->nocc--;
	}
	s->ntouched = 0;
	s->ntimes = 0;
}

static int
on_file(struct state *s, struct rhost *h, const json_t *ev, struct dt_err *err)
{
	int cls = class_of(json_string_value(json_object_get(ev, "change")));
	uint32_t host = (uint32_t)(h - s->hosts);
	struct rpath *p;
	struct occ *o;
	char *key;
	size_t klen, idx;
	int64_t t;

	if (cls < 0)
		return dt_fail(err, DT_EFORMAT, "a file event without a known change class");
	if (key_of(ev, &key, &klen) < 0)
		return dt_fail(err, DT_EFORMAT, "a file event without a readable path");
	if (path_find(s, key, klen, 1, &idx, err) < 0)
		return -1;
	h->counts[cls]++;
	p = &s->paths[idx];
	/* A path named twice by one host (a damaged or doctored stream): the first counts. */
	if (p->nocc && p->occ[p->nocc - 1].host == host)
		return 0;
	if (s->nocc >= REPORT_MAX_OCCURRENCES) {
		s->fatal = 1;
		return dt_fail(err, DT_ENOMEM,
			       "more than %u changes across the hosts of the case "
			       "(REPORT_MAX_OCCURRENCES)",
			       REPORT_MAX_OCCURRENCES);
	}
	if (BUF_GROW(s->touched, s->ntouched + 1, s->tocap, err) < 0 ||
	    BUF_GROW(p->occ, p->nocc + 1, p->cap, err) < 0) {
		s->fatal = 1;
		return -1;
	}
	o = &p->occ[p->nocc++];
	s->nocc++;
	s->touched[s->ntouched++] = (uint32_t)idx;
	memset(o, 0, sizeof(*o));
	o->host = host;
	o->change = (uint8_t)cls;
	o->flags = (uint16_t)flags_of(json_object_get(ev, "flags"));
	o->has_sha = (uint8_t)sha_of(json_string_value(json_object_get(ev, "sha256")), o->sha);
	o->explained = (uint8_t)prov_event_explained(ev);
	/* When the change was made: the inode change time (harder to set back than mtime);
	 * mtime where the filesystem has no ctime (FAT). A deleted file's times are the gold's. */
	if (cls != DIFF_DELETED &&
	    (time_of(json_string_value(json_object_get(ev, "ctime")), &t) == 0 ||
	     time_of(json_string_value(json_object_get(ev, "mtime")), &t) == 0)) {
		if (BUF_GROW(s->times, s->ntimes + 1, s->tcap, err) < 0) {
			s->fatal = 1;
			return -1;
		}
		s->times[s->ntimes++] = t;
	}
	return 0;
}

/*
 * A new object of ev's keys that the report keeps (a path keeps its _bytes twin). Every
 * host's are kept to the end: one larger than REPORT_MAX_ITEM (a row parsed from a hostile
 * file) loses its "columns" and "tags", and says "truncated".
 */
static json_t *
pick(const json_t *ev, const char *const *keys)
{
	json_t *o = json_object();
	int big = json_dumpb(ev, NULL, 0, JSON_COMPACT) > REPORT_MAX_ITEM;
	char bkey[64];

	for (; o && *keys; keys++) {
		json_t *v = json_object_get(ev, *keys);

		if (big && (strcmp(*keys, "columns") == 0 || strcmp(*keys, "tags") == 0)) {
			json_object_set_new(o, *keys, json_null());
			continue;
		}
		if (v)
			json_object_set(o, *keys, v);
		snprintf(bkey, sizeof(bkey), "%s_bytes", *keys);
		v = json_object_get(ev, bkey);
		if (v)
			json_object_set(o, bkey, v);
	}
	if (o && big)
		json_object_set_new(o, "truncated", json_true());
	return o;
}

static void
on_yara(struct state *s, struct rhost *h, const json_t *ev)
{
	/* A match on an archive's member has "member": kept, and counted for the outer file. */
	static const char *const keys[] = { "fs",   "path",      "member", "sha256",
					    "rule", "namespace", "tags",   NULL };
	int member = json_object_get(ev, "member") != NULL;
	uint32_t host = (uint32_t)(h - s->hosts);
	char *key;
	size_t klen, idx;

	h->yara++;
	if (key_of(ev, &key, &klen) == 0 && path_find(s, key, klen, 0, &idx, NULL) == 1) {
		struct rpath *p = &s->paths[idx];
		if (p->nocc && p->occ[p->nocc - 1].host == host) {
			p->occ[p->nocc - 1].yara++;
			p->occ[p->nocc - 1].yara_members += member;
		}
	}
	if (json_array_size(h->yara_list) < REPORT_MAX_ITEMS)
		json_array_append_new(h->yara_list, pick(ev, keys));
	else
		h->yara_more++;
}

static void
on_row(struct rhost *h, const json_t *ev)
{
	static const char *const keys[] = { "fs", "table", "action", "path", "columns", NULL };
	const char *action = json_string_value(json_object_get(ev, "action"));

	if (action && strcmp(action, "removed") == 0)
		h->rows_removed++;
	else
		h->rows_added++;
	if (json_array_size(h->row_list) < REPORT_MAX_ITEMS)
		json_array_append_new(h->row_list, pick(ev, keys));
	else
		h->rows_more++;
}

/* A small JSON file of the host folder: new object in *out, NULL when it does not exist. */
static int
load_small_json(int dirfd, const char *name, json_t **out, struct dt_err *err)
{
	/* O_NONBLOCK: a FIFO planted in place of the file must not hang the report. */
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	json_error_t je;
	struct stat st;
	FILE *fp;

	*out = NULL;
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open %s", name);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > REPORT_MAX_SUMMARY) {
		close(fd);
		return dt_fail(err, DT_EFORMAT, "%s is not a regular file of at most %u bytes",
			       name, REPORT_MAX_SUMMARY);
	}
	fp = fdopen(fd, "r");
	if (fp == NULL) {
		close(fd);
		return dt_fail_errno(err, DT_EIO, "cannot read %s", name);
	}
	*out = json_loadf(fp, 0, &je);
	fclose(fp);
	if (!json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return dt_fail(err, DT_EFORMAT, "%s is not a JSON object (%s)", name, je.text);
	}
	return 0;
}

/* The events of one host into h and s->paths. Any failure: the host is unreadable. */
static int
read_events(struct state *s, struct rhost *h, int hostfd, struct dt_err *err)
{
	struct gzlines *g = NULL;
	struct stat st;
	struct buf line;
	json_t *last = NULL;
	int fd, rc = -1, r;

	buf_init(&line, REPORT_MAX_LINE);
	fd = openat(hostfd, "events.jsonl.gz", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open events.jsonl.gz");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return dt_fail(err, DT_EFORMAT, "events.jsonl.gz is not a regular file");
	}
	g = calloc(1, sizeof(*g));
	if (g == NULL || (g->gz = gzdopen(fd, "rb")) == NULL) {
		close(fd);
		dt_fail(err, DT_ENOMEM, "cannot read events.jsonl.gz: out of memory");
		goto out;
	}
	while ((r = gz_next(g, &line, err)) == 1) {
		json_error_t je;
		json_t *ev;
		const char *kind;

		if (line.len == 0)
			continue;
		ev = json_loadb((const char *)line.data, line.len, 0, &je);
		kind = json_string_value(json_object_get(ev, "event"));
		if (kind == NULL) {
			json_decref(ev);
			dt_fail(err, DT_EFORMAT, "events.jsonl.gz: line %llu is not an event (%s)",
				(unsigned long long)g->lineno, ev ? "no \"event\"" : je.text);
			goto out;
		}
		json_decref(last);
		last = ev;
		if (strcmp(kind, "file") == 0) {
			if (on_file(s, h, ev, err) < 0) {
				dt_fail(err, DT_EFORMAT, "events.jsonl.gz: line %llu",
					(unsigned long long)g->lineno);
				goto out;
			}
		} else if (strcmp(kind, "yara") == 0) {
			on_yara(s, h, ev);
		} else if (strcmp(kind, "row") == 0) {
			on_row(h, ev);
		} else if (strcmp(kind, "error") == 0) {
			h->errors++;
		}
	}
	if (r < 0)
		goto out;
	/* Without its summary line a scan did not finish (docs/events.md). */
	if (strcmp(json_string_value(json_object_get(last, "event")) ?: "", "summary") != 0) {
		dt_fail(err, DT_EFORMAT,
			"events.jsonl.gz does not end with a summary line: the scan did not "
			"finish");
		goto out;
	}
	if (h->summary == NULL) {
		/* Kept to the end, as summary.json is: within the same size. */
		if (json_dumpb(last, NULL, 0, JSON_COMPACT) <= REPORT_MAX_SUMMARY) {
			h->summary = last;
			last = NULL;
		} else {
			h->summary = json_pack("{sssOsb}", "event", "summary", "complete",
					       json_object_get(last, "complete") ?: json_null(),
					       "truncated", 1);
		}
	}
	rc = 0;
out:
	json_decref(last);
	if (g && g->gz)
		gzclose(g->gz);
	free(g);
	buf_release(&line);
	return rc;
}

static int
cmp_time(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void
bin_times(struct state *s, struct rhost *h)
{
	int64_t span;

	if (s->ntimes == 0)
		return;
	qsort(s->times, s->ntimes, sizeof(*s->times), cmp_time);
	h->t_first = s->times[0];
	h->t_last = s->times[s->ntimes - 1];
	span = h->t_last - h->t_first + 1;
	h->timed = s->ntimes;
	for (size_t i = 0; i < s->ntimes; i++) {
		/* time_of() takes 4-digit years: a span of at most 10,000 years (3.2e11 s)
		 * times the bins fits in 64 bits whatever the evidence says. */
		int64_t b = (s->times[i] - h->t_first) * REPORT_TIME_BINS / span;
		h->bins[b < REPORT_TIME_BINS ? b : REPORT_TIME_BINS - 1]++;
	}
}

void
report_host_release(struct rhost *h)
{
	json_decref(h->ident);
	json_decref(h->summary);
	json_decref(h->yara_list);
	json_decref(h->row_list);
	free(h->reason);
}

/* Read one folder of the case; a host that cannot be read is recorded, not fatal. */
int
report_read_host(struct state *s, int casefd, const char *name, struct dt_err *err)
{
	struct rhost *h;
	struct dt_err herr = { 0 };
	struct stat st;
	int fd;

	if (s->nhosts >= REPORT_MAX_HOSTS)
		return dt_fail(err, DT_ENOMEM, "more than %u result folders in the case",
			       REPORT_MAX_HOSTS);
	if (BUF_GROW(s->hosts, s->nhosts + 1, s->hcap, err) < 0)
		return -1;
	h = &s->hosts[s->nhosts];
	memset(h, 0, sizeof(*h));
	h->ident = json_object();
	h->yara_list = json_array();
	h->row_list = json_array();
	if (h->ident == NULL || h->yara_list == NULL || h->row_list == NULL ||
	    events_set_path(h->ident, "name", name, strlen(name)) < 0) {
		report_host_release(h);
		return dt_fail(err, DT_ENOMEM, "out of memory");
	}
	s->nhosts++;
	h->name = json_string_value(json_object_get(h->ident, "name"));
	fd = openat(casefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		dt_fail_errno(&herr, DT_EIO, "cannot open the folder");
		h->status = HOST_UNREADABLE;
	} else if (fstatat(fd, "COMPLETE", &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
		json_t *failed = NULL;
		struct dt_err ferr = { 0 };
		const char *why;

		/* The worker's record of a failed run says why (docs/worker.md, "Results"). */
		if (load_small_json(fd, "FAILED", &failed, &ferr) == 0 &&
		    (why = json_string_value(json_object_get(failed, "reason"))) != NULL)
			dt_fail(&herr, DT_EFORMAT, "no COMPLETE marker; the job failed: %s", why);
		else
			dt_fail(&herr, DT_EFORMAT,
				"no COMPLETE marker (not finished, or a killed job)");
		json_decref(failed);
		h->status = HOST_INCOMPLETE;
	} else if (load_small_json(fd, "summary.json", &h->summary, &herr) < 0 ||
		   read_events(s, h, fd, &herr) < 0) {
		h->status = HOST_UNREADABLE;
	}
	if (fd >= 0)
		close(fd);
	if (s->fatal) { /* a cap of the whole case, not this host's fault */
		return dt_fail(err, herr.code, "%s", herr.msg);
	}
	if (h->status != HOST_COMPLETE) {
		char why[600];

		h->reason = strdup(herr.msg);
		snprintf(why, sizeof(why), "%s: %s",
			 h->status == HOST_INCOMPLETE ? "incomplete" : "unreadable", herr.msg);
		if (h->status == HOST_INCOMPLETE)
			s->st.incomplete++;
		else
			s->st.unreadable++;
		/* Nothing of a host that failed half-way counts. */
		memset(h->counts, 0, sizeof(h->counts));
		h->yara = h->rows_added = h->rows_removed = h->errors = 0;
		json_array_clear(h->yara_list);
		json_array_clear(h->row_list);
		h->yara_more = h->rows_more = 0;
		json_decref(h->summary);
		h->summary = NULL;
		host_rollback(s);
		if (s->o->on_skip)
			s->o->on_skip(s->o->ctx, name, why);
		return 0;
	}
	s->st.hosts++;
	bin_times(s, h);
	s->ntouched = 0;
	s->ntimes = 0;
	return 0;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The result folders of the case, sorted: names starting with '.' and non-folders skipped. */
int
report_list_case(const char *dir, int *casefd, char ***names, size_t *n, struct dt_err *err)
{
	size_t cap = 0;
	struct dirent *de;
	int dfd;
	DIR *d;

	*names = NULL;
	*n = 0;
	*casefd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*casefd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open the case folder '%s'", dir);
	dfd = dup(*casefd);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (d == NULL) {
		dt_fail_errno(err, DT_EIO, "cannot list '%s'", dir);
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct stat st;

		if (de->d_name[0] == '.' ||
		    fstatat(*casefd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (*n >= REPORT_MAX_HOSTS) {
			dt_fail(err, DT_ENOMEM, "more than %u result folders in '%s'",
				REPORT_MAX_HOSTS, dir);
			break;
		}
		if (BUF_GROW(*names, *n + 1, cap, err) < 0)
			break;
		if (((*names)[*n] = strdup(de->d_name)) == NULL) {
			dt_fail(err, DT_ENOMEM, "out of memory");
			break;
		}
		(*n)++;
	}
	if (de == NULL && errno != 0)
		dt_fail_errno(err, DT_EIO, "cannot list '%s'", dir);
	closedir(d);
	if (err && err->code != DT_OK)
		return -1;
	if (*n)
		qsort(*names, *n, sizeof(**names), cmp_name);
	return 0;
}
