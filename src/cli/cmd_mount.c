/* cmd_mount.c - deltair mount: a read-only FUSE view of an image, or of only its delta. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "fusefs.h"
#include "htree.h"
#include "source.h"

#include "banned.h"

#define MAX_WARNINGS 20

static const char usage_text[] =
	"usage: deltair mount [options] IMAGE MOUNTPOINT\n"
	"       deltair mount [options] --baseline GOLD.dtree --delta IMAGE MOUNTPOINT\n"
	"\n"
	"Mount a read-only view of IMAGE's filesystems on MOUNTPOINT (FUSE): names, sizes,\n"
	"modes, owners, times, symlinks and hard links (shared inode numbers) as the image\n"
	"has them, content read from the image (libtsk, or deltair's XFS reader). One\n"
	"filesystem is shown at the root, several as top-level pN/ folders. With --delta, only\n"
	"what changed against the baseline (added, modified, appended, renamed, metadata,\n"
	"type; not deleted) and the directories that lead to it are shown, and\n"
	"/.deltair/events.jsonl holds the events 'deltair diff' prints. The image is never\n"
	"written; every change fails with EROFS. MOUNTPOINT must be an empty folder with no\n"
	"other FUSE view on it; it is checked before IMAGE is read. FAT and exFAT (no Unix\n"
	"modes) show dirs 0555 and files 0444. Unmount with 'fusermount3 -u MOUNTPOINT' (or\n"
	"SIGINT/SIGTERM to deltair).\n"
	"\n"
	"Options:\n"
	"      --fs pN           show only this filesystem, at the root\n"
	"  -b, --baseline FILE   the gold .dtree (with --delta)\n"
	"      --delta           show only the delta against the baseline\n"
	"  -f, --foreground      stay in the foreground (default: detach once mounted)\n"
	"      --allow-other     let other users in (the image's modes still "
	"apply)\n" CLI_SOURCE_HELP "  -h, --help            this help\n"
	"\n"
	"Exit status: 0 once unmounted (or detached), 2 and above errors (see 'deltair help').\n";

struct warn_ctx {
	unsigned long n;
	int quiet; /* delta view: the errors are events in /.deltair/events.jsonl */
};

static void
on_error(void *ctx, const char *fs, const char *path, size_t len, const char *msg)
{
	struct warn_ctx *w = ctx;

	if (!w->quiet && w->n < MAX_WARNINGS)
		fprintf(stderr, "deltair: mount: warning: %s:%.*s: %s\n", fs ? fs : "-",
			path ? (int)len : 0, path ? path : "", msg);
	w->n++;
}

int
cmd_mount(int argc, char **argv)
{
	enum { OPT_FS = 256, OPT_DELTA, OPT_ALLOW_OTHER };
	static const struct option opts[] = { { "fs", required_argument, NULL, OPT_FS },
					      { "baseline", required_argument, NULL, 'b' },
					      { "delta", no_argument, NULL, OPT_DELTA },
					      { "foreground", no_argument, NULL, 'f' },
					      { "allow-other", no_argument, NULL, OPT_ALLOW_OTHER },
					      { "help", no_argument, NULL, 'h' },
					      CLI_SOURCE_OPTIONS,
					      { NULL, 0, NULL, 0 } };
	struct cli_source_opts so;
	struct fusefs_opts fo;
	struct fusefs_mount_opts mo;
	struct fusefs_stats fst;
	struct source_opts sopt;
	struct cli_progress prog;
	struct warn_ctx wc = { 0, 0 };
	struct dt_err err = { 0 };
	struct htree *gold = NULL;
	struct source *src = NULL;
	struct fusefs *view = NULL;
	const char *base = NULL, *fs = NULL, *image, *mnt;
	char fsname[300];
	int c, delta = 0, rc = EXIT_BUG;

	cli_source_opts_init(&so);
	memset(&mo, 0, sizeof(mo));
	optind = 1;
	while ((c = getopt_long(argc, argv, ":b:fh", opts, NULL)) != -1) {
		int x = cli_source_opt("mount", &so, c, optarg);
		if (x < 0)
			return EXIT_USAGE;
		if (x > 0)
			continue;
		switch (c) {
		case OPT_FS: fs = optarg; break;
		case 'b': base = optarg; break;
		case OPT_DELTA: delta = 1; break;
		case 'f': mo.foreground = 1; break;
		case OPT_ALLOW_OTHER: mo.allow_other = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_bad_option("mount", argv, c);
		}
	}
	if (argc - optind != 2)
		return cli_usage("mount", "expected IMAGE and MOUNTPOINT");
	if (delta && base == NULL)
		return cli_usage("mount", "--delta needs --baseline GOLD.dtree");
	if (base && !delta)
		return cli_usage("mount", "--baseline is for --delta (a view of only the delta)");
	if (fs && (fs[0] != 'p' || cli_number(fs + 1) < 0 || strlen(fs) > 6))
		return cli_usage("mount", "--fs needs a filesystem name such as p1, not '%s'", fs);
	image = argv[optind];
	mnt = argv[optind + 1];
	/* Before the walk, which can take long: a mount point that cannot take the view. */
	if (fusefs_check_mountpoint(mnt, &err) < 0)
		return cli_fail("mount", &err);
	if (base && htree_load(base, &gold, &err) < 0)
		return cli_fail("mount", &err);
	memset(&sopt, 0, sizeof(sopt));
	sopt.offset = so.offset;
	sopt.ebs_concurrency = so.ebs_concurrency;
	sopt.ebs_rate = so.ebs_rate;
	if (source_open(image, &sopt, &src, &err) < 0) {
		rc = cli_fail("mount", &err);
		goto out;
	}
	for (size_t i = 0; i < source_nskipped(src); i++) {
		const struct source_skip *k = source_skipped(src, i);
		fprintf(stderr, "deltair: mount: note: %s at byte %llu skipped: %s\n", k->name,
			(unsigned long long)k->offset, k->reason);
	}
	memset(&fo, 0, sizeof(fo));
	fo.fs = fs;
	fo.gold = gold;
	fo.gold_path = base;
	fo.walk_flags = so.include_meta ? WALK_INCLUDE_META : 0;
	fo.threads = so.threads;
	fo.on_error = on_error;
	fo.ctx = &wc;
	wc.quiet = delta;
	cli_progress_init(&prog, "mount", so.progress);
	if (prog.enabled) {
		fo.on_progress = cli_progress_cb;
		fo.progress_ctx = &prog;
	}
	rc = fusefs_new(src, &fo, &view, &err);
	cli_progress_done(&prog);
	if (rc < 0) {
		rc = cli_fail("mount", &err);
		goto out;
	}
	fusefs_stats(view, &fst);
	if (wc.n > MAX_WARNINGS && !delta)
		fprintf(stderr, "deltair: mount: warning: %lu more entries could not be read\n",
			wc.n - MAX_WARNINGS);
	if (delta && fst.errors)
		fprintf(stderr,
			"deltair: mount: warning: %llu entries could not be read; see "
			"/.deltair/events.jsonl\n",
			(unsigned long long)fst.errors);
	snprintf(fsname, sizeof(fsname), "deltair:%s", image);
	mo.fsname = fsname;
	/* From here libfuse's handlers unmount on SIGINT, SIGTERM and SIGHUP; it sets them
	 * only where the default is, so ours (no temporary file to remove now) go. */
	cli_signals_release();
	if (fusefs_mount(view, mnt, &mo, &err) < 0) {
		rc = cli_fail("mount", &err);
		goto out;
	}
	/* Detaches here unless --foreground; returns once unmounted or signalled. */
	if (fusefs_serve(view, &err) < 0) {
		rc = cli_fail("mount", &err);
		goto out;
	}
	rc = EXIT_NO_DELTA;
out:
	fusefs_free(view);
	source_free(src);
	htree_free(gold);
	return rc;
}
