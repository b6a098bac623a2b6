/* t_outfile.c - unit tests of outfile: what may be replaced, and the temporary-file registry. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"
#include "t.h"

static int
check(const char *path, enum outfile_kind kind, int force)
{
	struct outfile_opts o = { .kind = kind, .force = force };
	struct dt_err err = { 0 };

	return outfile_check(path, &o, &err) == 0 ? 0 : (int)err.code;
}

TEST(t_outfile_replaces_only_its_own_kind)
{
	REQUIRE(t_write("a.dtree",
			"\x89"
			"DTREE\r\n....",
			12) == 0);
	REQUIRE(t_write("a.jsonl", "{\"event\":\"file\"}\n{}\n", 20) == 0);
	REQUIRE(t_write("a.hd", "%%%% HASHDEEP-1.0\n", 18) == 0);
	REQUIRE(t_write("a.body", "0|/etc|2|d/drwxr-xr-x|0|0|1024|1|2|3|4\n", 39) == 0);
	REQUIRE(t_write("image.raw", "\xeb\x3c\x90mkfs.fat", 11) == 0);
	REQUIRE(t_write("empty", "", 0) == 0);

	CHECK(check("a.dtree", OUTFILE_DTREE, 0) == 0);
	CHECK(check("a.jsonl", OUTFILE_JSONL, 0) == 0);
	CHECK(check("a.hd", OUTFILE_HASHDEEP, 0) == 0);
	CHECK(check("a.body", OUTFILE_BODYFILE, 0) == 0);
	CHECK(check("empty", OUTFILE_DTREE, 0) == 0);
	CHECK(check("new", OUTFILE_DTREE, 0) == 0);
	CHECK(check("-", OUTFILE_JSONL, 0) == 0);

	CHECK(check("a.jsonl", OUTFILE_DTREE, 0) == DT_EUSAGE);
	CHECK(check("a.dtree", OUTFILE_JSONL, 0) == DT_EUSAGE);
	CHECK(check("a.body", OUTFILE_HASHDEEP, 0) == DT_EUSAGE);
	CHECK(check("image.raw", OUTFILE_DTREE, 0) == DT_EUSAGE);
	CHECK(check("image.raw", OUTFILE_DTREE, 1) == 0);

	CHECK(check("nodir/x", OUTFILE_DTREE, 0) == DT_EIO);
	CHECK(check(".", OUTFILE_DTREE, 1) == DT_EUSAGE);
}

TEST(t_outfile_refuses_links_and_inputs)
{
	const char *inputs[] = { NULL, "image.raw" };
	struct outfile_opts o = {
		.kind = OUTFILE_DTREE, .force = 1, .inputs = inputs, .ninputs = 2
	};
	struct dt_err err = { 0 };

	REQUIRE(t_write("image.raw", "evidence", 8) == 0);
	REQUIRE(symlink("image.raw", "link") == 0);
	REQUIRE(link("image.raw", "hard") == 0);
	CHECK(check("link", OUTFILE_DTREE, 1) == DT_EUSAGE);
	CHECK(outfile_check("image.raw", &o, &err) == -1 && err.code == DT_EUSAGE);
	memset(&err, 0, sizeof(err));
	CHECK(outfile_check("hard", &o, &err) == -1 && err.code == DT_EUSAGE);
	REQUIRE(mkfifo("fifo", 0600) == 0);
	CHECK(check("fifo", OUTFILE_JSONL, 0) == 0);
}

TEST(t_outfile_tracked_files_are_unlinked)
{
	struct outfile_opts o = { .kind = OUTFILE_JSONL, .mode = 0600 };
	struct outfile of;
	struct dt_err err = { 0 };
	struct stat st;
	char tmp[64];

	REQUIRE(outfile_open(&of, "out.jsonl", &o, &err) == 0);
	REQUIRE(of.tmp != NULL && of.slot >= 0);
	CHECK(stat(of.tmp, &st) == 0 && (st.st_mode & 0777) == 0600);
	snprintf(tmp, sizeof(tmp), "%s", of.tmp);
	/* What the signal handler does: the temporary file goes, the final name never came. */
	outfile_unlink_tracked();
	CHECK(access(tmp, F_OK) != 0);
	CHECK(access("out.jsonl", F_OK) != 0);
	outfile_release(&of);
	CHECK(of.slot == -1);
}

/* outfile_tmp_*: a private temporary file beside the name, tracked; renamed on success, gone
 * on failure or a signal; the umask does not widen it. */
TEST(t_outfile_tmp_beside_its_name)
{
	struct outfile_tmp t;
	struct stat st;
	mode_t old = umask(0);
	char tmp[sizeof(t.name)];
	int dfd;

	REQUIRE(mkdir("d", 0700) == 0 && t_write("d/key", "old", 3) == 0);
	dfd = open("d", O_RDONLY | O_DIRECTORY);
	REQUIRE(dfd >= 0);
	/* Committed: the new bytes carry the name, 0600, and no temporary is left. */
	REQUIRE(outfile_tmp_open(&t, dfd, "key") == 0);
	CHECK(strncmp(t.name, OUTFILE_TMP_PREFIX, strlen(OUTFILE_TMP_PREFIX)) == 0 && t.slot >= 0);
	CHECK(fstat(t.fd, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(outfile_write_all(t.fd, "new!", 4) == 0);
	CHECK(outfile_tmp_commit(&t, "key", 1, 1) == 0);
	CHECK(stat("d/key", &st) == 0 && st.st_size == 4 && (st.st_mode & 0777) == 0600);
	CHECK(faccessat(dfd, t.name, F_OK, 0) != 0);
	/* Not ok: the name keeps what it had, the temporary is gone. */
	REQUIRE(outfile_tmp_open(&t, dfd, "key") == 0);
	snprintf(tmp, sizeof(tmp), "%s", t.name);
	CHECK(outfile_tmp_commit(&t, "key", 0, 0) == -1);
	CHECK(stat("d/key", &st) == 0 && st.st_size == 4 && faccessat(dfd, tmp, F_OK, 0) != 0);
	/* A name with folders, relative to AT_FDCWD: the temporary is made in the name's folder,
	 * and a signal handler's outfile_unlink_tracked() removes it. */
	REQUIRE(outfile_tmp_open(&t, AT_FDCWD, "d/other") == 0);
	CHECK(strncmp(t.name, "d/" OUTFILE_TMP_PREFIX, 2 + strlen(OUTFILE_TMP_PREFIX)) == 0);
	CHECK(access(t.name, F_OK) == 0);
	outfile_unlink_tracked();
	CHECK(access(t.name, F_OK) != 0);
	close(t.fd);
	outfile_untrack(t.slot);
	close(dfd);
	umask(old);
}
