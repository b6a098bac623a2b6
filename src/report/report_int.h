/*
 * report_int.h - what the files of the report module share (the .c files of
 * src/report/, behind report.h): the case's state as read.c fills it, the content-hash groups
 * aggregate.c builds from it, and the two writers (json.c, html.c) that read both. Not a public
 * header: nothing outside src/report/ includes it.
 */
#ifndef DELTAIR_REPORT_INT_H
#define DELTAIR_REPORT_INT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "diff.h"
#include "report.h"

/* One changed (fs, path) on one host. */
struct occ {
	uint32_t host;  /* index in state.hosts */
	uint32_t yara;  /* YARA matches on the file, its archive members' included */
	uint32_t yara_members; /* of those, matches on a member (decomp.h) */
	uint16_t flags; /* enum diff_flags */
	uint8_t change; /* enum diff_class */
	uint8_t has_sha;
	uint8_t explained; /* its provenance explains it (provenance.h); 0 without provenance */
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

/* 1 when provenance explains the path on every host it changed on. */
int report_path_explained(const struct rpath *p);

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

struct hashes {
	struct hocc *occ; /* owned */
	size_t nocc;
	struct hgroup *g; /* owned */
	size_t ng;
	uint32_t *stamp; /* owned: per path, the epoch it was last met in */
	uint32_t epoch;
};

/* ---- read.c: reading the result folders ---- */

/* The result folders of the case, sorted: names starting with '.' and non-folders skipped.
 * *casefd is new (close() it, also on failure when >= 0); *names and each name are new. */
int report_list_case(const char *dir, int *casefd, char ***names, size_t *n, struct dt_err *err);
/* Read one folder of the case; a host that cannot be read is recorded, not fatal. -1 only
 * when a cap of the whole case was hit. */
int report_read_host(struct state *s, int casefd, const char *name, struct dt_err *err);
void report_host_release(struct rhost *h);
/* memcmp order of two keys of different lengths. */
int report_key_cmp(const char *a, size_t al, const char *b, size_t bl);
/* t as "YYYY-MM-DDTHH:MM:SSZ" (the number of seconds when gmtime_r cannot). */
void report_time_str(int64_t t, char out[32]);

/* ---- aggregate.c: ordering and grouping for output ---- */

/*
 * Once every host is read: drop the paths only failed hosts had, sort the rest rarest
 * first, fill s->st's paths, unique and hashes, and group the content hashes into *hs
 * (released with report_hashes_release(), also on failure).
 */
int report_aggregate(struct state *s, struct hashes *hs, struct dt_err *err);
void report_hashes_release(struct hashes *hs);
/* 1 the first time path is met since hs->epoch was last bumped: distinct paths in O(n). */
int report_first_visit(struct hashes *hs, uint32_t path);

/* ---- json.c and html.c: the two outputs ---- */

int report_write_json(struct state *s, struct hashes *hs, FILE *fp, const char *case_name,
		      const char *created, struct dt_err *err);
void report_write_html(struct state *s, struct hashes *hs, FILE *fp, const char *case_name,
		       const char *created);

#endif
