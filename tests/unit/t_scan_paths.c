/* t_scan_paths.c - which parsers a scan asks about a path (parsers_for_path). */
#include <string.h>

#include "parsers.h"
#include "t.h"

static int
covers(const char *path, const struct parser_ctx *ctx, const char *table)
{
	const struct parser *ps[16];
	size_t n = parsers_for_path(path, ctx, ps, 16);

	for (size_t i = 0; i < n; i++)
		if (strcmp(ps[i]->table, table) == 0)
			return 1;
	return 0;
}

TEST(t_parsers_ld_preload_covers_environment_files)
{
	static const char pw[] =
		"root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n";
	struct parser_ctx ctx;

	REQUIRE(parser_ctx_init(&ctx, (const unsigned char *)pw, sizeof(pw) - 1, NULL, 0, NULL) ==
		0);
	CHECK(covers("/etc/ld.so.preload", &ctx, "ld_preload"));
	CHECK(covers("/etc/environment", &ctx, "ld_preload"));
	CHECK(covers("/etc/security/pam_env.conf", &ctx, "ld_preload"));
	CHECK(covers("/etc/profile.d/zz-evil.sh", &ctx, "ld_preload"));
	CHECK(covers("/etc/systemd/system/sshd.service.d/override.conf", &ctx, "ld_preload"));
	CHECK(covers("/home/alice/.bashrc", &ctx, "ld_preload"));
	CHECK(covers("/root/.profile", &ctx, "ld_preload"));
	CHECK(!covers("/home/bob/.bashrc", &ctx, "ld_preload")); /* bob is not in this passwd */
	CHECK(!covers("/etc/hostname", &ctx, "ld_preload"));
	parser_ctx_release(&ctx);
}
