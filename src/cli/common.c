/* common.c - option handling and the evidence walk the commands share. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aws/ebs.h"
#include "cli.h"
#include "events.h"
#include "htree.h"
#include "source.h"

#include "banned.h"

#define PAIRING_SLACK_S 3600 /* seconds; see cli_check_pairing() */

void
cli_source_opts_init(struct cli_source_opts *o)
{
	o->offset = -1;
	o->include_meta = 0;
	o->threads = 0;
	o->progress = 1;
	o->ebs_concurrency = 0;
	o->ebs_rate = 0;
	o->changed_blocks = o->changed_since = o->gold_image = o->gold_cache = NULL;
	o->gold_cache_max = 0;
	o->trust_metadata = 0;
	o->changed_file = NULL;
	o->changed = NULL;
	o->pruned = 0;
}

void
cli_source_opts_release(struct cli_source_opts *o)
{
	cblk_free(o->changed_file);
	o->changed_file = NULL;
	o->changed = NULL;
}

const char *
cli_source_opts_given(const struct cli_source_opts *o)
{
	if (o->offset >= 0)
		return "--offset";
	if (o->include_meta)
		return "--include-meta";
	if (o->threads)
		return "--threads";
	if (o->changed_blocks)
		return "--changed-blocks";
	if (o->changed_since)
		return "--changed-since";
	if (o->gold_image)
		return "--gold-image";
	if (o->gold_cache)
		return "--gold-cache";
	if (o->trust_metadata)
		return "--trust-metadata";
	return NULL;
}

int
cli_source_opt(const char *cmd, struct cli_source_opts *o, int c, const char *arg)
{
	switch (c) {
	case 'O':
		o->offset = cli_number(arg);
		if (o->offset < 0) {
			cli_usage(cmd, "--offset needs a byte offset, not '%s'", arg);
			return -1;
		}
		return 1;
	case 'M': o->include_meta = 1; return 1;
	case 'P': o->progress = 0; return 1;
	case 'j': {
		long long n = cli_number(arg);
		if (n < 1 || n > 64) {
			cli_usage(cmd, "--threads needs a number from 1 to 64, not '%s'", arg);
			return -1;
		}
		o->threads = (int)n;
		return 1;
	}
	case CLI_OPT_EBS_CONCURRENCY: {
		long long n = cli_number(arg);
		if (n < 1 || n > EBS_MAX_CONCURRENCY) {
			cli_usage(cmd, "--ebs-concurrency needs a number from 1 to %d, not '%s'",
				  EBS_MAX_CONCURRENCY, arg);
			return -1;
		}
		o->ebs_concurrency = (int)n;
		return 1;
	}
	case CLI_OPT_EBS_RATE: {
		long long n = cli_number(arg);
		if (n < 1 || n > 1000000) {
			cli_usage(cmd, "--ebs-rate needs a number of requests a second, not '%s'",
				  arg);
			return -1;
		}
		o->ebs_rate = (double)n;
		return 1;
	}
	case CLI_OPT_CHANGED_BLOCKS: o->changed_blocks = arg; return 1;
	case CLI_OPT_CHANGED_SINCE: o->changed_since = arg; return 1;
	case CLI_OPT_GOLD_IMAGE: o->gold_image = arg; return 1;
	case CLI_OPT_GOLD_CACHE: o->gold_cache = arg; return 1;
	case CLI_OPT_TRUST_METADATA: o->trust_metadata = 1; return 1;
	case CLI_OPT_GOLD_CACHE_MAX: {
		long long n = cli_number(arg);
		if (n < EBS_BLOCK_SIZE) {
			cli_usage(cmd,
				  "--gold-cache-max needs a size in bytes (at least %u), not "
				  "'%s'",
				  EBS_BLOCK_SIZE, arg);
			return -1;
		}
		o->gold_cache_max = (uint64_t)n;
		return 1;
	}
	}
	return 0;
}

void
cli_summary_snapshot(json_t *sum, struct source *src)
{
	struct ebs_stats st;
	json_t *ev = json_object_get(sum, "evidence");

	if (src == NULL || !json_is_object(ev) || source_ebs_stats(src, &st) < 0)
		return;
	json_t *snap = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I}", "id", st.snapshot_id,
				 "region", st.region, "volume_size", (json_int_t)st.volume_size,
				 "blocks_listed", (json_int_t)st.blocks_listed, "blocks_fetched",
				 (json_int_t)st.blocks_fetched, "bytes_fetched",
				 (json_int_t)st.bytes_fetched, "checksum_errors",
				 (json_int_t)st.checksum_errors);

	/* With --changed-since: what the list said, and what the gold store served. */
	if (st.gold_id[0])
		json_object_set_new(snap, "gold",
				    json_pack("{s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "id",
					      st.gold_id, "related", source_changed(src) != NULL,
					      "blocks_changed", (json_int_t)st.blocks_changed,
					      "blocks_from_gold", (json_int_t)st.gold_blocks,
					      "gold_fetched", (json_int_t)st.gold_fetched,
					      "cache_hits", (json_int_t)st.gold_cache_hits,
					      "cache_refused", (json_int_t)st.gold_cache_refused,
					      "pieces_verified", (json_int_t)st.gold_pieces,
					      "cache_converted", (json_int_t)st.gold_cache_converted));
	json_object_set_new(ev, "snapshot", snap);
}

void
cli_summary_reads(json_t *sum, const struct cli_source_opts *o, const struct walk_stats *ws)
{
	events_summary_reads(sum, ws, o->changed,
			     o->changed_file ? o->changed_blocks : o->changed_since, o->pruned,
			     o->trust_metadata);
}

void
cli_note_snapshot(const char *cmd, struct source *src)
{
	struct ebs_stats st;

	if (src == NULL || source_ebs_stats(src, &st) < 0)
		return;
	fprintf(stderr,
		"deltair: %s: snapshot %s (%s, %llu bytes, %llu blocks listed): %llu blocks "
		"(%llu bytes) fetched, %llu checksum mismatches refused\n",
		cmd, st.snapshot_id, st.region, (unsigned long long)st.volume_size,
		(unsigned long long)st.blocks_listed, (unsigned long long)st.blocks_fetched,
		(unsigned long long)st.bytes_fetched, (unsigned long long)st.checksum_errors);
	if (st.gold_id[0] && source_changed(src))
		fprintf(stderr,
			"deltair: %s: %llu blocks changed since %s; %llu read from the gold store "
			"(%llu fetched from %s, %llu cache hits, %llu 64 KiB pieces verified, "
			"cache files refused: %llu)\n",
			cmd, (unsigned long long)st.blocks_changed, st.gold_id,
			(unsigned long long)st.gold_blocks, (unsigned long long)st.gold_fetched,
			st.gold_id, (unsigned long long)st.gold_cache_hits,
			(unsigned long long)st.gold_pieces,
			(unsigned long long)st.gold_cache_refused);
	/* A store of an older deltair is used, not refused: say it changed under the user. */
	if (st.gold_cache_converted)
		fprintf(stderr,
			"deltair: %s: %llu gold cache files of format 1 (the block, then its "
			"SHA-256) verified and rewritten in format 2 (64 KiB pieces; docs/aws.md)\n",
			cmd, (unsigned long long)st.gold_cache_converted);
}

/*
 * A gold image must hold the baseline's filesystems: each one it pairs with (htree_fs_pair)
 * has the same id, where both have one. 0, or an exit status after saying why.
 */
static int
gold_image_identity(const char *cmd, const char *path, const struct htree *gold)
{
	struct source *g = NULL;
	struct dt_err err = { 0 };
	size_t matched = 0;

	if (source_open(path, NULL, &g, &err) < 0)
		return cli_fail(cmd, &err);
	for (size_t i = 0; i < source_nfs(g); i++) {
		const struct source_fs *f = source_fs(g, i);
		int gi = htree_fs_pair(gold, f->name, source_nfs(g));
		const struct htree_fs *b = gi >= 0 ? htree_fs(gold, (size_t)gi) : NULL;

		if (b == NULL)
			continue;
		if (b->uuid[0] && f->uuid[0] && strcmp(b->uuid, f->uuid) != 0) {
			dt_fail(&err, DT_EFORMAT,
				"the gold image '%s' is not the baseline's: its %s has UUID %s, "
				"the "
				"baseline's %s has %s",
				path, f->name, f->uuid, b->name, b->uuid);
			break;
		}
		matched++;
	}
	if (err.code == DT_OK && matched == 0)
		dt_fail(&err, DT_EFORMAT,
			"the gold image '%s' holds none of the baseline's filesystems", path);
	source_free(g);
	return err.code == DT_OK ? 0 : cli_fail(cmd, &err);
}

/* The source options that cannot go together, or need a baseline: 0, or the usage status. */
static int
check_source_opts(const char *cmd, const struct cli_source_opts *so, const struct htree *gold)
{
	if (so->changed_blocks && so->changed_since)
		return cli_usage(cmd, "--changed-blocks and --changed-since are two ways to give "
				      "one list: give one");
	if (so->trust_metadata && (so->changed_blocks || so->changed_since))
		return cli_usage(cmd, "--trust-metadata is for sources without a changed-block "
				      "list: the list is sound, drop --trust-metadata");
	if ((so->gold_image || so->gold_cache) && !so->changed_since)
		return cli_usage(cmd, "%s needs --changed-since snap-GOLD",
				 so->gold_image ? "--gold-image" : "--gold-cache");
	if (so->gold_image && so->gold_cache)
		return cli_usage(cmd, "--gold-image and --gold-cache: give one gold block store");
	if (gold == NULL && (so->changed_blocks || so->trust_metadata))
		return cli_usage(cmd, "%s needs a baseline to reuse hashes from",
				 so->changed_blocks ? "--changed-blocks" : "--trust-metadata");
	return 0;
}

/*
 * so->pruned: whether the walk may reuse the baseline's hashes for blocks the changed-block
 * list (or --trust-metadata) says did not change; said on stderr when it may not.
 */
static void
decide_pruned(const char *cmd, struct cli_source_opts *so, const struct htree *gold)
{
	const struct htree_info *gi = htree_info(gold);
	char gid[64], greg[64];

	so->pruned = gi->major > 2 || (gi->major == 2 && gi->minor >= 1);
	/* The list speaks of snap-GOLD's blocks: a baseline read from another snapshot
	 * may hold other content in the same blocks. */
	if (so->pruned && so->changed_since && so->changed && gi->image && ebs_is_spec(gi->image) &&
	    ebs_parse_spec(gi->image, gid, greg, NULL) == 0 &&
	    strcmp(gid, so->changed_since) != 0) {
		so->pruned = 0;
		fprintf(stderr,
			"deltair: %s: warning: the baseline was made from %s, not from %s: "
			"every file is read, no hash is reused\n",
			cmd, gid, so->changed_since);
	} else if (!so->pruned)
		fprintf(stderr,
			"deltair: %s: warning: the baseline's format %d.%d records no block "
			"runs: every file is read, no hash is reused (make the baseline "
			"again with this deltair)\n",
			cmd, gi->major, gi->minor);
}

/*
 * The partitions the source skipped: a warning each, and an error event for each that has
 * a way to be read.
 */
static void
say_skipped(const char *cmd, const struct source *src, walk_error_fn *on_error, void *ctx)
{
	for (size_t i = 0; i < source_nskipped(src); i++) {
		const struct source_skip *k = source_skipped(src, i);
		fprintf(stderr, "deltair: %s: warning: %s at byte %llu skipped: %s\n", cmd, k->name,
			(unsigned long long)k->offset, k->reason);
		/* A filesystem we recognise but cannot read is missing evidence: say so in the
		 * events too, with the way to read it. */
		if (k->hint[0] && on_error) {
			char msg[600];
			snprintf(msg, sizeof(msg), "partition skipped: %s; %s", k->reason, k->hint);
			on_error(ctx, k->name, NULL, 0, msg);
		}
	}
}

/* The walk's options from the source options (the progress callback aside). */
static void
walk_opts_of(struct walk_opts *wo, const struct cli_source_opts *so, const struct htree *gold,
	     walk_error_fn *on_error, void *ctx)
{
	memset(wo, 0, sizeof(*wo));
	wo->flags = so->include_meta ? WALK_INCLUDE_META : 0;
	wo->threads = so->threads;
	wo->gold = gold;
	if (so->pruned) {
		wo->changed = so->changed;
		wo->trust_metadata = so->trust_metadata;
	}
	wo->on_error = on_error;
	wo->ctx = ctx;
}

int
cli_walk(const char *cmd, const char *spec, struct cli_source_opts *so, const struct htree *gold,
	 walk_error_fn *on_error, void *ctx, struct htree **out, struct walk_stats *st,
	 struct source **keep)
{
	struct source_opts sopt = { .offset = so->offset,
				    .ebs_concurrency = so->ebs_concurrency,
				    .ebs_rate = so->ebs_rate,
				    .changed_since = so->changed_since,
				    .gold_image = so->gold_image,
				    .gold_cache = so->gold_cache,
				    .gold_cache_max = so->gold_cache_max };
	struct source *src = NULL;
	struct walk_opts wo;
	struct cli_progress prog;
	struct dt_err err = { 0 };
	int rc;

	*out = NULL;
	if (keep)
		*keep = NULL;
	if ((rc = check_source_opts(cmd, so, gold)) != 0)
		return rc;
	if (so->changed_blocks && cblk_load(so->changed_blocks, &so->changed_file, &err) < 0)
		return cli_fail(cmd, &err);
	if (so->gold_image && gold && (rc = gold_image_identity(cmd, so->gold_image, gold)) != 0)
		return rc;
	if (source_open(spec, &sopt, &src, &err) < 0)
		return cli_fail(cmd, &err);
	if (source_changed_note(src)[0])
		fprintf(stderr, "deltair: %s: warning: %s\n", cmd, source_changed_note(src));
	so->changed = so->changed_file ? so->changed_file : source_changed(src);
	if (so->changed && cblk_volume_size(so->changed) &&
	    source_size(src) > cblk_volume_size(so->changed)) {
		dt_fail(&err, DT_EUSAGE,
			"the changed-block list covers %llu bytes, the image has %llu: not this "
			"image's list",
			(unsigned long long)cblk_volume_size(so->changed),
			(unsigned long long)source_size(src));
		source_free(src);
		return cli_fail(cmd, &err);
	}
	if (gold && (so->changed || so->trust_metadata))
		decide_pruned(cmd, so, gold);
	say_skipped(cmd, src, on_error, ctx);
	walk_opts_of(&wo, so, gold, on_error, ctx);
	cli_progress_init(&prog, cmd, so->progress);
	if (prog.enabled) {
		wo.on_progress = cli_progress_cb;
		wo.progress_ctx = &prog;
	}
	rc = walk_source(src, &wo, out, st, &err);
	cli_progress_done(&prog);
	if (rc < 0) {
		source_free(src);
		return cli_fail(cmd, &err);
	}
	if (keep)
		*keep = src;
	else
		source_free(src);
	return 0;
}

/* The newest change in t: ctime where the filesystem keeps one, else mtime. */
static struct htree_time
newest_change(const struct htree *t)
{
	struct htree_time newest = { HTREE_NO_TIME, 0 };

	for (size_t i = 0; i < htree_count(t); i++) {
		const struct htree_entry *e = htree_get(t, i);
		struct htree_time c = htree_time_of(
			e, e->time_s[HTREE_CTIME] != HTREE_NO_TIME ? HTREE_CTIME : HTREE_MTIME);

		if (htree_time_cmp(c, newest) > 0)
			newest = c;
	}
	return newest;
}

/* A warning on stderr, and as an error event of filesystem fs (NULL: of none). */
static void
pairing_warning(const char *cmd, const char *fs, const char *msg, walk_error_fn *on_error,
		void *ctx)
{
	fprintf(stderr, "deltair: %s: warning: %s\n", cmd, msg);
	if (on_error)
		on_error(ctx, fs, NULL, 0, msg);
}

void
cli_check_pairing(const char *cmd, const struct htree *gold, const struct htree *cur,
		  walk_error_fn *on_error, void *ctx)
{
	int single = htree_nfs(gold) == 1 && htree_nfs(cur) == 1;
	struct htree_time gn = newest_change(gold), cn = newest_change(cur);
	char msg[600], gt[40], ct[40];

	for (size_t ci = 0; ci < htree_nfs(cur); ci++) {
		const struct htree_fs *c = htree_fs(cur, ci), *g;
		int gi = htree_fs_pair(gold, c->name, htree_nfs(cur));

		if (gi < 0)
			continue;
		g = htree_fs(gold, (size_t)gi);
		/* A clone keeps its filesystem's id (an AMI's volumes, a dd copy); another
		 * filesystem has its own, and every file in it looks changed. */
		if (g->uuid[0] && c->uuid[0]) {
			if (strcmp(g->uuid, c->uuid) == 0)
				continue;
			snprintf(msg, sizeof(msg),
				 "the evidence's %s (%s, UUID %s) is not the baseline's %s (%s, "
				 "UUID "
				 "%s) nor a clone of it: the diff compares unrelated filesystems",
				 c->name, c->type, c->uuid, g->name, g->type, g->uuid);
			pairing_warning(cmd, c->name, msg, on_error, ctx);
		} else if (single && strcmp(g->type, c->type) != 0 && strcmp(g->type, "dir") != 0 &&
			   strcmp(c->type, "dir") != 0) {
			snprintf(
				msg, sizeof(msg),
				"the baseline's only filesystem (%s, %s) is compared with the "
				"evidence's only one (%s, %s): they may not be the same filesystem",
				g->name, g->type, c->name, c->type);
			pairing_warning(cmd, c->name, msg, on_error, ctx);
		}
	}
	/* An incident only adds changes to its gold's, so its newest change is the later one.
	 * The hour of slack keeps images made minutes apart, in either order, quiet. */
	if (gn.s != HTREE_NO_TIME && cn.s != HTREE_NO_TIME &&
	    (gn.s - cn.s > PAIRING_SLACK_S || (gn.s - cn.s == PAIRING_SLACK_S && gn.ns > cn.ns))) {
		htree_format_time(gn, gt);
		htree_format_time(cn, ct);
		snprintf(msg, sizeof(msg),
			 "the baseline's newest change (%s) is later than the evidence's (%s): "
			 "the baseline seems newer than the evidence (given the other way round?)",
			 gt, ct);
		pairing_warning(cmd, NULL, msg, on_error, ctx); /* not one filesystem's */
	}
}

int
cli_is_dtree(const char *path)
{
	unsigned char m[8];
	FILE *fp = fopen(path, "rb");
	int yes;

	if (fp == NULL)
		return 0;
	yes = fread(m, 1, 8, fp) == 8 && memcmp(m, HTREE_MAGIC, 8) == 0;
	fclose(fp);
	return yes;
}

void
cli_put_escaped(FILE *fp, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			fprintf(fp, "\\x%02x", c);
		else
			fputc(c, fp);
	}
}
