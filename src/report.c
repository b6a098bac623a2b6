/* report.c - see report.h; report.json's schema is in docs/worker.md ("report"). */
#include "report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "buf.h"
#include "diff.h"
#include "events.h"
#include "htree.h"
#include "outfile.h"

#include "banned.h"

/* One changed (fs, path) on one host. */
struct occ {
	uint32_t host;  /* index in state.hosts */
	uint32_t yara;  /* YARA matches on the file */
	uint16_t flags; /* enum diff_flags */
	uint8_t change; /* enum diff_class */
	uint8_t has_sha;
	unsigned char sha[32];
};

/* A changed (fs, path) and the hosts it is on, in host order. */
struct rpath {
	char *key; /* owned: fs, NUL, the path's exact bytes */
	size_t klen;
	uint64_t hash;   /* key_hash() */
	struct occ *occ; /* owned */
	size_t nocc, cap;
};

enum host_status { HOST_COMPLETE, HOST_INCOMPLETE, HOST_UNREADABLE };

struct rhost {
	json_t *ident;    /* owned: {"name": ...} (with "name_bytes" when not UTF-8) */
	const char *name; /* borrowed from ident: the name as UTF-8 */
	enum host_status status;
	char *reason;    /* owned, or NULL */
	json_t *summary; /* owned, or NULL */
	uint64_t counts[DIFF_NCLASSES];
	uint64_t yara, rows_added, rows_removed, errors;
	json_t *yara_list; /* owned: at most REPORT_MAX_ITEMS */
	json_t *row_list;  /* owned: at most REPORT_MAX_ITEMS */
	uint64_t yara_more, rows_more;
	uint64_t timed; /* changes with a time, in bins */
	int64_t t_first, t_last;
	uint32_t bins[REPORT_TIME_BINS];
};

struct state {
	const struct report_opts *o;
	struct rhost *hosts; /* owned */
	size_t nhosts, hcap;
	struct rpath *paths; /* owned: in order of appearance, then rarest first */
	size_t npaths, pcap, nocc;
	uint32_t *slots;   /* owned: hash table of paths, index + 1 (0: empty) */
	size_t nslots;     /* a power of two, at least twice npaths */
	uint64_t seed;     /* of key_hash(), per run */
	int fatal;         /* a case-wide cap was hit while a host was read */
	uint32_t *touched; /* owned: the paths the host being read added an occurrence to */
	size_t ntouched, tocap;
	int64_t *times; /* owned: its change times */
	size_t ntimes, tcap;
	struct report_stats st;
};

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
	static const char digits[] = "0123456789abcdef";

	if (s == NULL || strlen(s) != 64 || strspn(s, digits) != 64)
		return 0;
	for (int i = 0; i < 32; i++)
		out[i] = (unsigned char)((strchr(digits, s[2 * i]) - digits) << 4 |
					 (strchr(digits, s[2 * i + 1]) - digits));
	return 1;
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

static void
time_str(int64_t t, char out[32])
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

static int
key_cmp(const char *a, size_t al, const char *b, size_t bl)
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
		if (p->hash == h && key_cmp(p->key, p->klen, key, klen) == 0) {
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
	static const char *const keys[] = { "fs",        "path", "sha256", "rule",
					    "namespace", "tags", NULL };
	uint32_t host = (uint32_t)(h - s->hosts);
	char *key;
	size_t klen, idx;

	h->yara++;
	if (key_of(ev, &key, &klen) == 0 && path_find(s, key, klen, 0, &idx, NULL) == 1) {
		struct rpath *p = &s->paths[idx];
		if (p->nocc && p->occ[p->nocc - 1].host == host)
			p->occ[p->nocc - 1].yara++;
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

static void
host_release(struct rhost *h)
{
	json_decref(h->ident);
	json_decref(h->summary);
	json_decref(h->yara_list);
	json_decref(h->row_list);
	free(h->reason);
}

/* Read one folder of the case; a host that cannot be read is recorded, not fatal. */
static int
read_host(struct state *s, int casefd, const char *name, struct dt_err *err)
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
		host_release(h);
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
static int
list_case(const char *dir, int *casefd, char ***names, size_t *n, struct dt_err *err)
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

/* ---- ordering for output ---- */

/* Drop the paths only hosts that failed half-way had; the hash table goes with them. */
static void
compact_paths(struct state *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->npaths; i++) {
		if (s->paths[i].nocc == 0) {
			free(s->paths[i].key);
			free(s->paths[i].occ);
			continue;
		}
		s->paths[n++] = s->paths[i];
	}
	s->npaths = n;
	free(s->slots);
	s->slots = NULL;
	s->nslots = 0;
}

static int
cmp_rarity(const void *a, const void *b)
{
	const struct rpath *x = a, *y = b;

	if (x->nocc != y->nocc)
		return x->nocc < y->nocc ? -1 : 1;
	return key_cmp(x->key, x->klen, y->key, y->klen);
}

/* One content hash on one host, at one path. */
struct hocc {
	const unsigned char *sha; /* borrowed: in the path's occurrences */
	uint32_t host;
	uint32_t path; /* index in state.paths */
};

struct hgroup {
	size_t start, n; /* in the hocc array */
	size_t hosts;    /* distinct */
	size_t paths;    /* distinct */
};

static int
cmp_hocc(const void *a, const void *b)
{
	const struct hocc *x = a, *y = b;
	int c = memcmp(x->sha, y->sha, 32);

	if (c)
		return c;
	if (x->host != y->host)
		return x->host < y->host ? -1 : 1;
	return (x->path > y->path) - (x->path < y->path);
}

/* qsort_r: the groups point into the hash list that ctx is. */
static int
cmp_hgroup(const void *a, const void *b, void *ctx)
{
	const struct hgroup *x = a, *y = b;
	const struct hocc *occ = ctx;

	if (x->hosts != y->hosts)
		return x->hosts < y->hosts ? -1 : 1;
	return memcmp(occ[x->start].sha, occ[y->start].sha, 32);
}

struct hashes {
	struct hocc *occ; /* owned */
	size_t nocc;
	struct hgroup *g; /* owned */
	size_t ng;
	uint32_t *stamp; /* owned: per path, the epoch it was last met in */
	uint32_t epoch;
};

/* 1 the first time path is met since hs->epoch was last bumped: distinct paths in O(n). */
static int
first_visit(struct hashes *hs, uint32_t path)
{
	if (hs->stamp[path] == hs->epoch)
		return 0;
	hs->stamp[path] = hs->epoch;
	return 1;
}

/* Every content hash of a changed file (not a deleted one: that is the gold's), grouped. */
static int
group_hashes(struct state *s, struct hashes *hs, struct dt_err *err)
{
	size_t cap = 0, gcap = 0;

	memset(hs, 0, sizeof(*hs));
	for (size_t i = 0; i < s->npaths; i++)
		for (size_t k = 0; k < s->paths[i].nocc; k++) {
			const struct occ *o = &s->paths[i].occ[k];
			if (!o->has_sha || o->change == DIFF_DELETED)
				continue;
			if (BUF_GROW(hs->occ, hs->nocc + 1, cap, err) < 0)
				return -1;
			hs->occ[hs->nocc].sha = o->sha;
			hs->occ[hs->nocc].host = o->host;
			hs->occ[hs->nocc].path = (uint32_t)i;
			hs->nocc++;
		}
	if (hs->nocc == 0)
		return 0;
	hs->stamp = calloc(s->npaths, sizeof(*hs->stamp));
	if (hs->stamp == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory (%zu content hashes)", hs->nocc);
	qsort(hs->occ, hs->nocc, sizeof(*hs->occ), cmp_hocc);
	for (size_t i = 0; i < hs->nocc; i++) {
		struct hgroup *g;
		if (i == 0 || memcmp(hs->occ[i].sha, hs->occ[i - 1].sha, 32) != 0) {
			if (BUF_GROW(hs->g, hs->ng + 1, gcap, err) < 0)
				return -1;
			g = &hs->g[hs->ng++];
			memset(g, 0, sizeof(*g));
			g->start = i;
			hs->epoch++;
		}
		g = &hs->g[hs->ng - 1];
		g->n++;
		if (g->n == 1 || hs->occ[i].host != hs->occ[i - 1].host)
			g->hosts++;
		g->paths += first_visit(hs, hs->occ[i].path);
	}
	qsort_r(hs->g, hs->ng, sizeof(*hs->g), cmp_hgroup, hs->occ);
	return 0;
}

/* ---- report.json ---- */

/* Set "fs", "path" (and "path_bytes") from a key. */
static int
set_key(json_t *o, const char *key, size_t klen)
{
	size_t fl = strlen(key);

	if (json_object_set_new(o, "fs", json_string(key)) < 0)
		return -1;
	return events_set_path(o, "path", key + fl + 1, klen - fl - 1);
}

static json_t *
flags_json(unsigned f)
{
	json_t *a = json_array();

	for (int b = 0; a && b < DIFF_NFLAGS; b++)
		if (f & (1u << b))
			json_array_append_new(a, json_string(diff_flag_name(1u << b)));
	return a;
}

static json_t *
counts_json(const uint64_t *counts)
{
	json_t *c = json_object();

	for (int k = 0; c && k < DIFF_NCLASSES; k++)
		json_object_set_new(c, diff_class_name((enum diff_class)k),
				    json_integer((json_int_t)counts[k]));
	return c;
}

static json_t *
host_json(const struct rhost *h)
{
	static const char *const status[] = { "complete", "incomplete", "unreadable" };
	json_t *o = json_deep_copy(h->ident), *t, *bins;
	uint64_t delta = 0;
	char a[32], b[32];

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "status", json_string(status[h->status]));
	if (h->status != HOST_COMPLETE) {
		json_object_set_new(o, "reason", json_string(h->reason ? h->reason : ""));
		return o;
	}
	for (int k = 0; k < DIFF_NCLASSES; k++)
		delta += h->counts[k];
	json_object_set_new(o, "scan_complete",
			    json_boolean(!json_is_false(json_object_get(h->summary, "complete"))));
	json_object_set_new(o, "delta", json_integer((json_int_t)delta));
	json_object_set_new(o, "counts", counts_json(h->counts));
	json_object_set_new(o, "yara_matches", json_integer((json_int_t)h->yara));
	json_object_set_new(o, "rows",
			    json_pack("{sIsI}", "added", (json_int_t)h->rows_added, "removed",
				      (json_int_t)h->rows_removed));
	json_object_set_new(o, "errors", json_integer((json_int_t)h->errors));
	if (h->timed) {
		bins = json_array();
		for (int i = 0; i < REPORT_TIME_BINS; i++)
			json_array_append_new(bins, json_integer(h->bins[i]));
		time_str(h->t_first, a);
		time_str(h->t_last, b);
		t = json_pack("{sssssIso}", "first", a, "last", b, "changes", (json_int_t)h->timed,
			      "bins", bins);
	} else {
		t = json_null();
	}
	json_object_set_new(o, "times", t);
	json_object_set(o, "yara", h->yara_list);
	if (h->yara_more)
		json_object_set_new(o, "yara_more", json_integer((json_int_t)h->yara_more));
	json_object_set(o, "row_changes", h->row_list);
	if (h->rows_more)
		json_object_set_new(o, "row_changes_more", json_integer((json_int_t)h->rows_more));
	json_object_set(o, "summary", h->summary);
	return o;
}

static int
cmp_sha(const void *a, const void *b)
{
	return memcmp(*(unsigned char *const *)a, *(unsigned char *const *)b, 32);
}

/* The distinct content hashes of a path's hosts: sorted, O(n log n) for a path on many. */
static size_t
distinct_shas(const struct rpath *p)
{
	const unsigned char **v = malloc(p->nocc * sizeof(*v));
	size_t n = 0, d = 0;

	if (v == NULL)
		return 0;
	for (size_t k = 0; k < p->nocc; k++)
		if (p->occ[k].has_sha)
			v[n++] = p->occ[k].sha;
	if (n)
		qsort(v, n, sizeof(*v), cmp_sha);
	for (size_t k = 0; k < n; k++)
		d += k == 0 || memcmp(v[k], v[k - 1], 32) != 0;
	free(v);
	return d;
}

static json_t *
path_json(const struct state *s, const struct rpath *p)
{
	json_t *o = json_object(), *on = json_array(), *changes = json_array();
	unsigned cls = 0, flags = 0;
	uint64_t yara = 0;
	char hex[65];

	if (o == NULL || on == NULL || changes == NULL || set_key(o, p->key, p->klen) < 0) {
		json_decref(o);
		json_decref(on);
		json_decref(changes);
		return NULL;
	}
	for (size_t k = 0; k < p->nocc; k++) {
		const struct occ *c = &p->occ[k];
		json_t *e = json_object();

		cls |= 1u << c->change;
		flags |= c->flags;
		yara += c->yara;
		json_object_set_new(e, "host", json_string(s->hosts[c->host].name));
		json_object_set_new(e, "change", json_string(diff_class_name(c->change)));
		if (c->has_sha)
			htree_hex(c->sha, 32, hex);
		json_object_set_new(e, "sha256", c->has_sha ? json_string(hex) : json_null());
		json_object_set_new(e, "flags", flags_json(c->flags));
		json_object_set_new(e, "yara", json_integer(c->yara));
		json_array_append_new(on, e);
	}
	for (int k = 0; k < DIFF_NCLASSES; k++)
		if (cls & (1u << k))
			json_array_append_new(changes, json_string(diff_class_name(k)));
	json_object_set_new(o, "hosts", json_integer((json_int_t)p->nocc));
	json_object_set_new(o, "rarity",
			    json_real(s->st.hosts ? (double)p->nocc / (double)s->st.hosts : 0));
	json_object_set_new(o, "changes", changes);
	json_object_set_new(o, "contents", json_integer((json_int_t)distinct_shas(p)));
	json_object_set_new(o, "flags", flags_json(flags));
	json_object_set_new(o, "yara_matches", json_integer((json_int_t)yara));
	json_object_set_new(o, "on", on);
	return o;
}

static json_t *
hash_json(const struct state *s, struct hashes *hs, const struct hgroup *g)
{
	json_t *o = json_object(), *on = json_array(), *at = json_array(), *e;
	char hex[65];

	if (o == NULL || on == NULL || at == NULL) {
		json_decref(o);
		json_decref(on);
		json_decref(at);
		return NULL;
	}
	htree_hex(hs->occ[g->start].sha, 32, hex);
	json_object_set_new(o, "sha256", json_string(hex));
	json_object_set_new(o, "hosts", json_integer((json_int_t)g->hosts));
	json_object_set_new(o, "rarity",
			    json_real(s->st.hosts ? (double)g->hosts / (double)s->st.hosts : 0));
	json_object_set_new(o, "paths", json_integer((json_int_t)g->paths));
	hs->epoch++;
	for (size_t i = g->start; i < g->start + g->n; i++) {
		const struct rpath *p = &s->paths[hs->occ[i].path];

		if (i == g->start || hs->occ[i].host != hs->occ[i - 1].host)
			json_array_append_new(on, json_string(s->hosts[hs->occ[i].host].name));
		if (!first_visit(hs, hs->occ[i].path))
			continue;
		e = json_object();
		set_key(e, p->key, p->klen);
		json_array_append_new(at, e);
	}
	json_object_set_new(o, "on", on);
	json_object_set_new(o, "at", at);
	return o;
}

/* Write one element of an array: a line of its own, after a comma but for the first. */
static int
put_elem(FILE *fp, json_t *o, size_t i, struct dt_err *err)
{
	int bad = o == NULL || fputs(i ? ",\n" : "\n", fp) == EOF ||
		  json_dumpf(o, fp, JSON_COMPACT) != 0;

	json_decref(o);
	return bad ? dt_fail(err, DT_ENOMEM, "cannot build report.json") : 0;
}

static int
write_json(struct state *s, struct hashes *hs, FILE *fp, const char *case_name, const char *created,
	   struct dt_err *err)
{
	json_t *head, *totals;
	uint64_t counts[DIFF_NCLASSES] = { 0 }, yara = 0, ra = 0, rr = 0;
	char *h;

	for (size_t i = 0; i < s->nhosts; i++) {
		for (int k = 0; k < DIFF_NCLASSES; k++)
			counts[k] += s->hosts[i].counts[k];
		yara += s->hosts[i].yara;
		ra += s->hosts[i].rows_added;
		rr += s->hosts[i].rows_removed;
	}
	totals = json_pack(
		"{sIsIsIsIsIsIsosIs{sIsI}}", "hosts", (json_int_t)s->st.hosts, "incomplete",
		(json_int_t)s->st.incomplete, "unreadable", (json_int_t)s->st.unreadable, "paths",
		(json_int_t)s->st.paths, "unique_paths", (json_int_t)s->st.unique, "hashes",
		(json_int_t)s->st.hashes, "counts", counts_json(counts), "yara_matches",
		(json_int_t)yara, "rows", "added", (json_int_t)ra, "removed", (json_int_t)rr);
	head = json_pack("{sissss?ssssso}", "version", REPORT_VERSION, "tool",
			 "deltair " DELTAIR_VERSION, "case", NULL, "created", created, "time_basis",
			 "ctime", "totals", totals);
	if (head && events_set_path(head, "case", case_name, strlen(case_name)) < 0) {
		json_decref(head);
		head = NULL;
	}
	h = head ? json_dumps(head, JSON_COMPACT) : NULL;
	json_decref(head);
	if (h == NULL)
		return dt_fail(err, DT_ENOMEM, "cannot build report.json");
	/* "report" first: its opening bytes are what outfile.h recognises. The head's own
	 * braces go: its members continue the report's object. */
	h[strlen(h) - 1] = '\0';
	fprintf(fp, "%s,%s,\"hosts\":[", OUTFILE_REPORT_JSON_MAGIC, h + 1);
	free(h);
	for (size_t i = 0; i < s->nhosts; i++)
		if (put_elem(fp, host_json(&s->hosts[i]), i, err) < 0)
			return -1;
	fputs("],\"paths\":[", fp);
	for (size_t i = 0; i < s->npaths; i++)
		if (put_elem(fp, path_json(s, &s->paths[i]), i, err) < 0)
			return -1;
	fputs("],\"hashes\":[", fp);
	for (size_t i = 0; i < hs->ng; i++)
		if (put_elem(fp, hash_json(s, hs, &hs->g[i]), i, err) < 0)
			return -1;
	fputs("]}\n", fp);
	return 0;
}

/* ---- report.html ---- */

/* Host names listed on one row of a table of paths or hashes; the rest are counted. */
#define HTML_MAX_NAMES 50

/*
 * Text from evidence as HTML text or an attribute value: markup characters as entities;
 * control bytes, '\\' and bytes that are not UTF-8 as \xHH; C1 controls and the
 * bidirectional controls (which can make a name read backwards) as \u{HHHH}. A file name
 * is hostile input: nothing of it may become markup, and what it says must be visible.
 */
static void
html_text(FILE *fp, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = events_utf8_seq(p + i, n - i);
		uint32_t cp = 0;

		if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\'))) {
			fprintf(fp, "\\x%02x", p[i]);
			i++;
			continue;
		}
		if (k == 1) {
			switch (p[i]) {
			case '&': fputs("&amp;", fp); break;
			case '<': fputs("&lt;", fp); break;
			case '>': fputs("&gt;", fp); break;
			case '"': fputs("&quot;", fp); break;
			case '\'': fputs("&#39;", fp); break;
			default: fputc(p[i], fp);
			}
			i++;
			continue;
		}
		cp = p[i] & (0xff >> (k + 1));
		for (size_t j = 1; j < k; j++)
			cp = cp << 6 | (p[i + j] & 0x3f);
		if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
		    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			fprintf(fp, "\\u{%04x}", (unsigned)cp);
		else
			fwrite(p + i, 1, k, fp);
		i += k;
	}
}

static void
html_str(FILE *fp, const char *s)
{
	html_text(fp, s ? s : "", s ? strlen(s) : 0);
}

/* "FS:PATH" of a key, escaped. */
static void
html_key(FILE *fp, const char *key, size_t klen)
{
	size_t fl = strlen(key);

	html_text(fp, key, fl);
	fputc(':', fp);
	html_text(fp, key + fl + 1, klen - fl - 1);
}

static const char *const class_color[DIFF_NCLASSES] = {
	[DIFF_ADDED] = "#d62728",    [DIFF_DELETED] = "#7f7f7f", [DIFF_MODIFIED] = "#ff7f0e",
	[DIFF_APPENDED] = "#bcbd22", [DIFF_RENAMED] = "#9467bd", [DIFF_METADATA] = "#1f77b4",
	[DIFF_TYPE] = "#8c564b",
};

/* A bar per change class, scaled to the host's largest. */
static void
svg_classes(FILE *fp, const struct rhost *h)
{
	uint64_t max = 0;

	for (int k = 0; k < DIFF_NCLASSES; k++)
		max = h->counts[k] > max ? h->counts[k] : max;
	fprintf(fp, "<svg class=\"bars\" width=\"210\" height=\"%d\" role=\"img\">",
		DIFF_NCLASSES * 13 + 2);
	for (int k = 0; k < DIFF_NCLASSES; k++) {
		int y = k * 13 + 1;
		unsigned w = max ? (unsigned)((double)h->counts[k] * 100.0 / (double)max + 0.5) : 0;

		if (h->counts[k] && w == 0)
			w = 1;
		fprintf(fp,
			"<text x=\"0\" y=\"%d\">%s</text><rect x=\"62\" y=\"%d\" width=\"%u\" "
			"height=\"10\" fill=\"%s\"><title>%s: %llu</title></rect>"
			"<text x=\"%u\" y=\"%d\">%llu</text>",
			y + 9, diff_class_name(k), y, w, class_color[k], diff_class_name(k),
			(unsigned long long)h->counts[k], 66 + w, y + 9,
			(unsigned long long)h->counts[k]);
	}
	fputs("</svg>", fp);
}

/* A histogram of the host's change times, first and last below. */
static void
svg_times(FILE *fp, const struct rhost *h)
{
	uint32_t max = 0;
	char a[32], b[32];
	int label;

	if (h->timed == 0) {
		fputs("<span class=\"dim\">no dated change</span>", fp);
		return;
	}
	for (int i = 0; i < REPORT_TIME_BINS; i++)
		max = h->bins[i] > max ? h->bins[i] : max;
	time_str(h->t_first, a);
	time_str(h->t_last, b);
	/* The axis names the days; within one day, the times of day. */
	label = memcmp(a, b, 10) == 0 ? 11 : 0;
	fprintf(fp, "<svg class=\"hist\" width=\"%d\" height=\"70\" role=\"img\">",
		REPORT_TIME_BINS * 9 + 2);
	for (int i = 0; i < REPORT_TIME_BINS; i++) {
		unsigned ht = max ? (unsigned)((double)h->bins[i] * 48.0 / (double)max + 0.5) : 0;

		if (h->bins[i] && ht == 0)
			ht = 1;
		fprintf(fp,
			"<rect x=\"%d\" y=\"%u\" width=\"8\" height=\"%u\" fill=\"#555\">"
			"<title>%u change(s)</title></rect>",
			i * 9 + 1, 50 - ht, ht, h->bins[i]);
	}
	fprintf(fp,
		"<line x1=\"0\" y1=\"50.5\" x2=\"%d\" y2=\"50.5\" stroke=\"#999\"/>"
		"<text x=\"0\" y=\"62\">%.10s</text><text x=\"%d\" y=\"62\" "
		"text-anchor=\"end\">%.10s</text></svg>"
		"<div class=\"dim\">%s &#8211; %s</div>",
		REPORT_TIME_BINS * 9 + 2, a + label, REPORT_TIME_BINS * 9 + 2, b + label, a, b);
}

static void
html_host_link(FILE *fp, const struct state *s, uint32_t host)
{
	fprintf(fp, "<a href=\"#h%u\">", host);
	html_str(fp, s->hosts[host].name);
	fputs("</a>", fp);
}

/* A JSON value of evidence (a row's columns, tags) as escaped compact text. */
static void
html_json(FILE *fp, const json_t *v)
{
	char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	html_str(fp, t ? t : "");
	free(t);
}

static const char html_css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
	"h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}"
	"table{border-collapse:collapse;margin:.5em 0}"
	"td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}"
	"th{background:#f4f4f4}code{font:12px ui-monospace,monospace;word-break:break-all}"
	"tr.rare td{background:#fff3f0}td.n{text-align:right;white-space:nowrap}"
	".dim{color:#777;font-size:12px}svg text{font:10px sans-serif;fill:#333}"
	".flag{display:inline-block;background:#eee;border-radius:3px;padding:0 4px;"
	"margin:1px;font-size:12px}.bad{color:#b00;font-weight:bold}";

static void
html_hosts(FILE *fp, const struct state *s)
{
	fputs("<h2>Hosts</h2>\n<table class=\"hosts\"><tr><th>host</th><th>changes</th>"
	      "<th>change classes</th><th>change times (ctime)</th><th>YARA</th>"
	      "<th>rows +/&#8722;</th><th>errors</th></tr>\n",
	      fp);
	for (size_t i = 0; i < s->nhosts; i++) {
		const struct rhost *h = &s->hosts[i];
		uint64_t delta = 0;

		if (h->status != HOST_COMPLETE)
			continue;
		for (int k = 0; k < DIFF_NCLASSES; k++)
			delta += h->counts[k];
		fprintf(fp, "<tr id=\"h%zu\"><td class=\"host\">", i);
		html_str(fp, h->name);
		if (json_is_false(json_object_get(h->summary, "complete")))
			fputs("<div class=\"bad\">scan incomplete: evidence not read</div>", fp);
		fprintf(fp, "</td><td class=\"n\">%llu</td><td>", (unsigned long long)delta);
		svg_classes(fp, h);
		fputs("</td><td>", fp);
		svg_times(fp, h);
		fprintf(fp,
			"</td><td class=\"n%s\">%llu</td><td class=\"n\">+%llu / &#8722;%llu</td>"
			"<td class=\"n\">%llu</td></tr>\n",
			h->yara ? " bad" : "", (unsigned long long)h->yara,
			(unsigned long long)h->rows_added, (unsigned long long)h->rows_removed,
			(unsigned long long)h->errors);
	}
	fputs("</table>\n", fp);
	if (s->st.incomplete + s->st.unreadable == 0)
		return;
	fputs("<h2>Not counted</h2>\n<ul class=\"skipped\">", fp);
	for (size_t i = 0; i < s->nhosts; i++) {
		const struct rhost *h = &s->hosts[i];
		if (h->status == HOST_COMPLETE)
			continue;
		fputs("<li><b>", fp);
		html_str(fp, h->name);
		fprintf(fp,
			"</b>: %s: ", h->status == HOST_INCOMPLETE ? "incomplete" : "unreadable");
		html_str(fp, h->reason);
		fputs("</li>\n", fp);
	}
	fputs("</ul>\n", fp);
}

static void
html_paths(FILE *fp, const struct state *s)
{
	size_t shown = s->npaths < REPORT_HTML_MAX_ROWS ? s->npaths : REPORT_HTML_MAX_ROWS;

	fputs("<h2>Changed paths across hosts, rarest first</h2>\n<table class=\"paths\"><tr>"
	      "<th>hosts</th><th>path</th><th>change</th><th>flags</th><th>YARA</th>"
	      "<th>on</th></tr>\n",
	      fp);
	for (size_t i = 0; i < shown; i++) {
		const struct rpath *p = &s->paths[i];
		unsigned cls = 0, flags = 0;
		uint64_t yara = 0;

		for (size_t k = 0; k < p->nocc; k++) {
			cls |= 1u << p->occ[k].change;
			flags |= p->occ[k].flags;
			yara += p->occ[k].yara;
		}
		fprintf(fp, "<tr%s><td class=\"n\">%zu/%zu</td><td><code>",
			p->nocc == 1 && s->st.hosts > 1 ? " class=\"rare\"" : "", p->nocc,
			s->st.hosts);
		html_key(fp, p->key, p->klen);
		fputs("</code></td><td>", fp);
		for (int k = 0, first = 1; k < DIFF_NCLASSES; k++)
			if (cls & (1u << k)) {
				fprintf(fp, "%s<span style=\"color:%s\">%s</span>",
					first ? "" : ", ", class_color[k], diff_class_name(k));
				first = 0;
			}
		fputs("</td><td>", fp);
		for (int b = 0; b < DIFF_NFLAGS; b++)
			if (flags & (1u << b))
				fprintf(fp, "<span class=\"flag\">%s</span>",
					diff_flag_name(1u << b));
		fprintf(fp, "</td><td class=\"n%s\">%llu</td><td>", yara ? " bad" : "",
			(unsigned long long)yara);
		for (size_t k = 0; k < p->nocc && k < HTML_MAX_NAMES; k++) {
			if (k)
				fputs(", ", fp);
			html_host_link(fp, s, p->occ[k].host);
		}
		if (p->nocc > HTML_MAX_NAMES)
			fprintf(fp, " and %zu more", p->nocc - HTML_MAX_NAMES);
		fputs("</td></tr>\n", fp);
	}
	fputs("</table>\n", fp);
	if (shown < s->npaths)
		fprintf(fp,
			"<p class=\"dim\">%zu more paths (the most common) are in report.json."
			"</p>\n",
			s->npaths - shown);
}

static void
html_hashes(FILE *fp, const struct state *s, struct hashes *hs)
{
	size_t shown = hs->ng < REPORT_HTML_MAX_ROWS ? hs->ng : REPORT_HTML_MAX_ROWS;
	char hex[65];

	fputs("<h2>Content (SHA-256) across hosts, rarest first</h2>\n<table class=\"hashes\">"
	      "<tr><th>hosts</th><th>sha256</th><th>paths</th><th>on</th></tr>\n",
	      fp);
	for (size_t i = 0; i < shown; i++) {
		const struct hgroup *g = &hs->g[i];
		size_t listed = 0;

		htree_hex(hs->occ[g->start].sha, 32, hex);
		fprintf(fp, "<tr%s><td class=\"n\">%zu/%zu</td><td><code>%s</code></td><td>",
			g->hosts == 1 && s->st.hosts > 1 ? " class=\"rare\"" : "", g->hosts,
			s->st.hosts, hex);
		hs->epoch++;
		for (size_t k = g->start; k < g->start + g->n && listed < HTML_MAX_NAMES; k++) {
			if (!first_visit(hs, hs->occ[k].path))
				continue;
			fputs(listed++ ? "<br><code>" : "<code>", fp);
			html_key(fp, s->paths[hs->occ[k].path].key, s->paths[hs->occ[k].path].klen);
			fputs("</code>", fp);
		}
		fputs("</td><td>", fp);
		listed = 0;
		for (size_t k = g->start; k < g->start + g->n; k++) {
			if (k > g->start && hs->occ[k].host == hs->occ[k - 1].host)
				continue;
			if (listed == HTML_MAX_NAMES) {
				fprintf(fp, " and %zu more", g->hosts - listed);
				break;
			}
			if (listed++)
				fputs(", ", fp);
			html_host_link(fp, s, hs->occ[k].host);
		}
		fputs("</td></tr>\n", fp);
	}
	fputs("</table>\n", fp);
	if (shown < hs->ng)
		fprintf(fp, "<p class=\"dim\">%zu more hashes are in report.json.</p>\n",
			hs->ng - shown);
}

/* A column of a table of kept events: its heading, the event's key, how it is shown. */
struct html_col {
	const char *head, *key;
	enum { COL_TEXT, COL_BAD, COL_CODE, COL_JSON, COL_FSPATH } how;
};

static const struct html_col yara_cols[] = {
	{ "rule", "rule", COL_BAD },      { "namespace", "namespace", COL_TEXT },
	{ "tags", "tags", COL_JSON },     { "path", "path", COL_FSPATH },
	{ "sha256", "sha256", COL_CODE }, { NULL, NULL, COL_TEXT },
};
static const struct html_col row_cols[] = {
	{ "table", "table", COL_TEXT }, { "action", "action", COL_TEXT },
	{ "file", "path", COL_CODE },   { "columns", "columns", COL_JSON },
	{ NULL, NULL, COL_TEXT },
};

static void
html_table(FILE *fp, const char *cls, const struct html_col *cols, const json_t *list)
{
	size_t k;
	json_t *v;

	fprintf(fp, "<table class=\"%s\"><tr>", cls);
	for (const struct html_col *c = cols; c->head; c++)
		fprintf(fp, "<th>%s</th>", c->head);
	fputs("</tr>\n", fp);
	json_array_foreach(list, k, v)
	{
		fputs("<tr>", fp);
		for (const struct html_col *c = cols; c->head; c++) {
			const json_t *x = json_object_get(v, c->key);

			fputs(c->how == COL_BAD ? "<td class=\"bad\">" : "<td>", fp);
			if (c->how >= COL_CODE)
				fputs("<code>", fp);
			if (c->how == COL_FSPATH) {
				html_str(fp, json_string_value(json_object_get(v, "fs")));
				fputc(':', fp);
			}
			if (c->how == COL_JSON)
				html_json(fp, x);
			else
				html_str(fp, json_string_value(x));
			fputs(c->how >= COL_CODE ? "</code></td>" : "</td>", fp);
		}
		fputs("</tr>\n", fp);
	}
	fputs("</table>\n", fp);
}

static void
html_details(FILE *fp, const struct state *s)
{
	fputs("<h2>YARA matches and row changes per host</h2>\n", fp);
	for (size_t i = 0; i < s->nhosts; i++) {
		const struct rhost *h = &s->hosts[i];

		if (h->status != HOST_COMPLETE ||
		    (h->yara == 0 && h->rows_added + h->rows_removed == 0))
			continue;
		fputs("<h3>", fp);
		html_str(fp, h->name);
		fputs("</h3>\n", fp);
		if (h->yara) {
			html_table(fp, "yara", yara_cols, h->yara_list);
			if (h->yara_more)
				fprintf(fp, "<p class=\"dim\">%llu more YARA matches.</p>\n",
					(unsigned long long)h->yara_more);
		}
		if (h->rows_added + h->rows_removed == 0)
			continue;
		html_table(fp, "rows", row_cols, h->row_list);
		if (h->rows_more)
			fprintf(fp, "<p class=\"dim\">%llu more row changes.</p>\n",
				(unsigned long long)h->rows_more);
	}
}

static void
write_html(struct state *s, struct hashes *hs, FILE *fp, const char *case_name, const char *created)
{
	/* No script, no network, no external anything: the policy forbids what escaping
	 * should already prevent. */
	fputs(OUTFILE_REPORT_HTML_MAGIC
	      "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; img-src data:; form-action 'none'\">\n"
	      "<meta name=\"referrer\" content=\"no-referrer\">\n<title>deltair report: ",
	      fp);
	html_str(fp, case_name);
	fprintf(fp, "</title>\n<style>%s</style></head>\n<body>\n<h1>Case <code>", html_css);
	html_str(fp, case_name);
	fprintf(fp,
		"</code></h1>\n<p>%zu host(s) read; %zu changed path(s), <b>%zu on one host "
		"only</b>; %zu distinct content hash(es).",
		s->st.hosts, s->st.paths, s->st.unique, s->st.hashes);
	if (s->st.incomplete + s->st.unreadable)
		fprintf(fp, " <span class=\"bad\">%zu result folder(s) not counted.</span>",
			s->st.incomplete + s->st.unreadable);
	fprintf(fp,
		"</p>\n<p class=\"dim\">Written %s by deltair %s. Paths are FS:PATH; bytes "
		"that are control characters or not UTF-8 are shown as \\xHH.</p>\n",
		created, DELTAIR_VERSION);
	html_hosts(fp, s);
	html_paths(fp, s);
	html_hashes(fp, s, hs);
	html_details(fp, s);
	fputs("</body></html>\n", fp);
}

/* ---- the two files ---- */

static void
out_path(const struct report_opts *o, const char *name, char *buf, size_t n)
{
	const char *dir = o->out_dir ? o->out_dir : o->case_dir;
	size_t dl = strlen(dir);

	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	snprintf(buf, n, "%.*s/%s", (int)dl, dir, name);
}

int
report_check(const struct report_opts *o, struct dt_err *err)
{
	struct outfile_opts oj = { .kind = OUTFILE_REPORT_JSON, .force = o->force };
	struct outfile_opts oh = { .kind = OUTFILE_REPORT_HTML, .force = o->force };
	char pj[PATH_MAX], ph[PATH_MAX];
	struct stat st;

	/* "" would put the report at "/report.json". */
	if (o->case_dir == NULL || *o->case_dir == '\0' || (o->out_dir && *o->out_dir == '\0'))
		return dt_fail(err, DT_EUSAGE, "an empty folder name");
	if (stat(o->case_dir, &st) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot open the case folder '%s'", o->case_dir);
	if (!S_ISDIR(st.st_mode))
		return dt_fail(err, DT_EUSAGE, "'%s' is not a folder", o->case_dir);
	out_path(o, "report.json", pj, sizeof(pj));
	out_path(o, "report.html", ph, sizeof(ph));
	if (outfile_check(pj, &oj, err) < 0 || outfile_check(ph, &oh, err) < 0)
		return -1;
	return 0;
}

static void
state_release(struct state *s)
{
	free(s->slots);
	free(s->touched);
	free(s->times);
	for (size_t i = 0; i < s->nhosts; i++)
		host_release(&s->hosts[i]);
	free(s->hosts);
	for (size_t i = 0; i < s->npaths; i++) {
		free(s->paths[i].key);
		free(s->paths[i].occ);
	}
	free(s->paths);
}

/* The case's name: the last component of its folder. */
static void
case_name_of(const char *dir, char *out, size_t n)
{
	size_t len = strlen(dir);
	const char *b;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	b = dir + len;
	while (b > dir && b[-1] != '/')
		b--;
	snprintf(out, n, "%.*s", (int)(dir + len - b), b);
}

int
report_write(const struct report_opts *o, struct report_stats *st, struct dt_err *err)
{
	struct outfile_opts oj = { .kind = OUTFILE_REPORT_JSON, .force = o->force };
	struct outfile_opts oh = { .kind = OUTFILE_REPORT_HTML, .force = o->force };
	struct outfile fj, fh;
	struct state s;
	struct hashes hs;
	char pj[PATH_MAX], ph[PATH_MAX], name[NAME_MAX + 1], created[32];
	char **names = NULL;
	size_t nnames = 0;
	int casefd = -1, rc = -1;

	memset(&s, 0, sizeof(s));
	memset(&hs, 0, sizeof(hs));
	memset(&fj, 0, sizeof(fj));
	memset(&fh, 0, sizeof(fh));
	s.o = o;
	if (getrandom(&s.seed, sizeof(s.seed), GRND_NONBLOCK) != (ssize_t)sizeof(s.seed))
		s.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	out_path(o, "report.json", pj, sizeof(pj));
	out_path(o, "report.html", ph, sizeof(ph));
	if (report_check(o, err) < 0)
		goto out;
	if (list_case(o->case_dir, &casefd, &names, &nnames, err) < 0)
		goto out;
	for (size_t i = 0; i < nnames; i++)
		if (read_host(&s, casefd, names[i], err) < 0)
			goto out;
	compact_paths(&s);
	if (s.npaths)
		qsort(s.paths, s.npaths, sizeof(*s.paths), cmp_rarity);
	s.st.paths = s.npaths;
	for (size_t i = 0; i < s.npaths; i++)
		s.st.unique += s.paths[i].nocc == 1;
	if (group_hashes(&s, &hs, err) < 0)
		goto out;
	s.st.hashes = hs.ng;
	case_name_of(o->case_dir, name, sizeof(name));
	time_str((int64_t)time(NULL), created);
	if (outfile_open(&fj, pj, &oj, err) < 0 ||
	    write_json(&s, &hs, fj.fp, name, created, err) < 0)
		goto out;
	if (ferror(fj.fp)) {
		dt_fail_errno(err, DT_EIO, "cannot write '%s'", pj);
		goto out;
	}
	if (outfile_open(&fh, ph, &oh, err) < 0)
		goto out;
	write_html(&s, &hs, fh.fp, name, created);
	if (ferror(fh.fp)) {
		dt_fail_errno(err, DT_EIO, "cannot write '%s'", ph);
		goto out;
	}
	/* Both or neither: the JSON is committed last, after the page it describes. */
	if (outfile_commit(&fh, err) < 0 || outfile_commit(&fj, err) < 0)
		goto out;
	rc = 0;
	if (st)
		*st = s.st;
out:
	outfile_release(&fj);
	outfile_release(&fh);
	if (casefd >= 0)
		close(casefd);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	free(hs.occ);
	free(hs.g);
	free(hs.stamp);
	state_release(&s);
	return rc;
}
