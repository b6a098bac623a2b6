/* t_source.c - source.h: opening beneath a dir: root. */
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source.h"
#include "t.h"

TEST(t_source_openat_beneath_follows_no_link)
{
	int root, fd;
	char deep[8192];
	size_t n = 0;

	REQUIRE(mkdir("root", 0755) == 0 && mkdir("root/real", 0755) == 0);
	REQUIRE(t_write("root/real/f", "x", 1) == 0 && t_write("outside", "y", 1) == 0);
	REQUIRE(symlink("real", "root/dirlink") == 0 && symlink("../outside", "root/out") == 0);
	REQUIRE(symlink("f", "root/real/flink") == 0);
	root = open("root", O_RDONLY | O_DIRECTORY);
	REQUIRE(root >= 0);
	fd = source_openat_beneath(root, "/real/f");
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(source_openat_beneath(root, "/dirlink/f") < 0);  /* a link on the way */
	CHECK(source_openat_beneath(root, "/real/flink") < 0); /* a link at the end */
	CHECK(source_openat_beneath(root, "/out") < 0);
	CHECK(source_openat_beneath(root, "/real/../../outside") < 0);
	CHECK(source_openat_beneath(root, "real/f") < 0); /* not absolute */
	/* Deeper than PATH_MAX: still opened, one component at a time. */
	REQUIRE(chdir("root") == 0);
	for (int i = 0; i < 40; i++) {
		static const char d[] =
			"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
			"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
		REQUIRE(mkdir(d, 0755) == 0 && chdir(d) == 0);
		n += (size_t)snprintf(deep + n, sizeof(deep) - n, "/%s", d);
	}
	REQUIRE(t_write("leaf", "z", 1) == 0);
	snprintf(deep + n, sizeof(deep) - n, "/leaf");
	fd = source_openat_beneath(root, deep);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	close(root);
}
