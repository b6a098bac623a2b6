/* t_diff.c - diff.h: classes, flags, pruning of equal subtrees, hard links. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "diff.h"
#include "htree.h"
#include "t.h"
#include "t_trees.h"

/* ---- diff ---- */

struct seen {
	char line[64][128];
	int n;
};

static int
collect(void *ctx, const struct diff_change *c, struct dt_err *err)
{
	struct seen *s = ctx;
	const struct htree_entry *e = c->e ? c->e : c->gold;
	char flags[64] = "";

	(void)err;
	for (unsigned f = 1; f < (1u << DIFF_NFLAGS); f <<= 1)
		if (c->flags & f) {
			strncat(flags, ",", sizeof(flags) - strlen(flags) - 1);
			strncat(flags, diff_flag_name(f), sizeof(flags) - strlen(flags) - 1);
		}
	if (s->n < 64)
		snprintf(s->line[s->n++], 128, "%s %s%s", diff_class_name(c->cls), e->path, flags);
	return 0;
}

static int
has(const struct seen *s, const char *line)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->line[i], line) == 0)
			return 1;
	return 0;
}

TEST(t_diff_reports_each_class_once)
{
	struct htree *g = t_sample(1700000000000000000LL, "root\n");
	struct htree *c = htree_new();
	struct seen s = { .n = 0 };
	struct diff_stats st;
	int64_t t0 = 1700000000000000000LL;
	struct htree_entry *e;

	CHECK(htree_add_fs(c, "p1", "ext4", 1048576, 1 << 20, NULL) == 0);
	t_tree_add(c, "/", HTREE_DIR, 0755, NULL, t0 + 99);
	t_tree_add(c, "/etc", HTREE_DIR, 0700, NULL, t0 + 99);                  /* metadata */
	t_tree_add(c, "/etc/passwd", HTREE_REG, 0644, "root\nevil\n", t0 + 50); /* appended */
	t_tree_add(c, "/etc/hosts", HTREE_REG, 0644, "10.0.0.1 x\n", t0); /* modified, stomped */
	t_tree_add(c, "/etc.d", HTREE_REG, 0644, "now a file", t0);       /* type */
	t_tree_add(c, "/var", HTREE_DIR, 0755, NULL, t0 + 99);
	t_tree_add(c, "/var/log", HTREE_DIR, 0755, NULL, t0 + 99); /* child changed: not reported */
	t_tree_add(c, "/var/log/syslog", HTREE_REG, 0640, "xxxxx\n", t0 + 60); /* edited log */
	t_tree_add(c, "/usr", HTREE_DIR, 0755, NULL, t0);
	t_tree_add(c, "/usr/bin", HTREE_DIR, 0755, NULL, t0);
	t_tree_add(c, "/usr/bin/true", HTREE_REG, 04755,
		   "\x7f"
		   "ELFtrue",
		   t0);                                            /* suid added */
	t_tree_add(c, "/usr/bin/sh", HTREE_LNK, 0777, "bash", t0); /* link retarget */
	t_tree_add(c, "/usr/bin/.dash", HTREE_REG, 0755,
		   "\x7f"
		   "ELFdash",
		   t0);                                    /* renamed */
	t_tree_add(c, "/tmp", HTREE_DIR, 01777, NULL, t0); /* added */
	/* The walk computes the prefix hash of /etc/passwd for the gold's length. */
	{
		unsigned char p[32];

		t_sha("root\n", p);
		REQUIRE(htree_set_prefix(c, 2, p, 5, NULL) == 0);
	}
	e = htree_at(c, 7);
	t_sha("line1\n", e->sha256); /* same length, other bytes */
	t_sha("xxxxx\n", e->sha256);
	e->flags |= HTREE_F_PREFIX;
	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, &st, NULL) == 0);
	CHECK(has(&s, "metadata /etc"));
	CHECK(has(&s, "appended /etc/passwd"));
	CHECK(has(&s, "modified /etc/hosts,timestomp_suspected"));
	CHECK(has(&s, "type /etc.d"));
	CHECK(has(&s, "modified /var/log/syslog,truncated_log"));
	CHECK(has(&s, "metadata /usr/bin/true,suid_added,executable"));
	CHECK(has(&s, "metadata /usr/bin/sh"));
	CHECK(has(&s, "renamed /usr/bin/.dash,executable,hidden"));
	CHECK(has(&s, "added /tmp"));
	CHECK(s.n == 9);
	CHECK(st.count[DIFF_METADATA] == 3 && st.count[DIFF_RENAMED] == 1);
	htree_free(g);
	htree_free(c);
}

TEST(t_diff_skips_equal_subtrees)
{
	struct htree *g = t_sample(1700000000000000000LL, "root\n");
	struct htree *c = t_sample(1600000000000000000LL, "root\n");
	struct seen s = { .n = 0 };
	struct diff_stats st;

	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, &st, NULL) == 0);
	CHECK(s.n == 0);
	CHECK(st.skipped_entries == htree_count(c) - 1);
	htree_free(g);
	htree_free(c);
}

TEST(t_diff_compares_like_hash_kinds)
{
	struct htree *g = t_sample(1700000000000000000LL, "root\n");
	struct htree *c = t_sample(1700000000000000000LL, "root\n");
	struct htree *r = t_sample_with(1700000000000000000LL, "root\n", "/usr/bin/dash2");
	struct seen s = { .n = 0 };
	struct diff_stats st;

	/* /etc/passwd: sparse-sha256 on both sides, equal. /etc/hosts: the same 32 bytes as a
	 * sha256 in the gold and a sparse-sha256 here, same size: unknown, not modified. */
	htree_at(g, 0)->flags |= HTREE_F_SPARSE;
	htree_at(c, 0)->flags |= HTREE_F_SPARSE;
	htree_at(c, 4)->flags |= HTREE_F_SPARSE;
	/* The same bytes under another name, but of the other kind: no rename. */
	htree_at(r, 12)->flags |= HTREE_F_SPARSE;
	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0 && htree_seal(r, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, &st, NULL) == 0);
	CHECK(s.n == 0);
	s.n = 0;
	htree_free(c);
	c = t_sample(1700000000000000000LL, "root\n");
	REQUIRE(htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(c, r, collect, &s, &st, NULL) == 0);
	CHECK(has(&s, "added /usr/bin/dash2,executable"));
	CHECK(st.count[DIFF_DELETED] == 1 && st.count[DIFF_RENAMED] == 0);
	htree_free(g);
	htree_free(c);
	htree_free(r);
}

/* Two trees of one filesystem, the same files; the caller edits the incident's entries. */
static void
pair(struct htree **g, struct htree **c)
{
	static const struct {
		const char *path;
		int type;
		unsigned mode;
		const char *content;
	} files[] = {
		{ "/", HTREE_DIR, 0755, NULL },
		{ "/etc", HTREE_DIR, 0755, NULL },
		{ "/etc/shadow", HTREE_REG, 0640, "root:*:1::::::\n" },
		{ "/etc/motd", HTREE_REG, 0644, "hello\n" },
		{ "/etc/ssh", HTREE_DIR, 0755, NULL },
		{ "/etc/ssh/ssh_host_ed25519_key", HTREE_REG, 0600, "private\n" },
		{ "/etc/ssh/ssh_host_ed25519_key.pub", HTREE_REG, 0600, "public\n" },
		{ "/srv", HTREE_DIR, 0755, NULL },
		{ "/srv/app-data", HTREE_REG, 0644, "one\ntwo\n" },
		{ "/srv/tool", HTREE_REG, 0755,
		  "\x7f"
		  "ELF tool" },
		{ "/var", HTREE_DIR, 0755, NULL },
		{ "/var/log", HTREE_DIR, 0755, NULL },
		{ "/var/log/app", HTREE_REG, 0644, "one\ntwo\n" },
		{ "/var/log/sub", HTREE_DIR, 0755, NULL },
		{ "/var/log/sub/.app", HTREE_REG, 0644, "one\ntwo\n" },
		{ "/var/log/sub/data", HTREE_REG, 0644, "unreadable, but the same\n" },
	};
	struct htree *t[2] = { htree_new(), htree_new() };

	for (int k = 0; k < 2; k++) {
		CHECK(htree_add_fs(t[k], "p1", "ext4", 1048576, 1 << 20, NULL) == 0);
		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
			t_tree_add(t[k], files[i].path, files[i].type, files[i].mode,
				   files[i].content, 1700000000000000000LL);
	}
	*g = t[0];
	*c = t[1];
}

static struct htree_entry *
at(struct htree *t, const char *path)
{
	for (size_t i = 0; i < htree_count(t); i++)
		if (strcmp(htree_at(t, i)->path, path) == 0)
			return htree_at(t, i);
	abort();
}

TEST(t_diff_flags_widened_permissions_and_root_owner)
{
	struct htree *g, *c;
	struct seen s = { .n = 0 };

	pair(&g, &c);
	at(c, "/etc/shadow")->mode = 0644;                       /* other read on a secret */
	at(c, "/etc/motd")->mode = 0664;                         /* group write */
	at(c, "/etc/ssh/ssh_host_ed25519_key")->mode = 0640;     /* group read on a key */
	at(c, "/etc/ssh/ssh_host_ed25519_key.pub")->mode = 0644; /* read on a public key */
	at(c, "/srv")->mode = 0757;                              /* other write on a folder */
	at(c, "/srv/tool")->mode = 0700;                         /* narrowed */
	at(c, "/srv/app-data")->uid = 0;                         /* chown root */
	at(c, "/var/log/app")->gid = 0;                          /* chgrp root */
	at(g, "/var/log/sub/.app")->uid = 0;                     /* root to a user: not flagged */
	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, NULL, NULL) == 0);
	CHECK(has(&s, "metadata /etc/shadow,permissions_widened"));
	CHECK(has(&s, "metadata /etc/motd,permissions_widened"));
	CHECK(has(&s, "metadata /etc/ssh/ssh_host_ed25519_key,permissions_widened"));
	CHECK(has(&s, "metadata /etc/ssh/ssh_host_ed25519_key.pub"));
	CHECK(has(&s, "metadata /srv,permissions_widened"));
	CHECK(has(&s, "metadata /srv/tool,executable"));
	CHECK(has(&s, "metadata /srv/app-data,owner_to_root"));
	CHECK(has(&s, "metadata /var/log/app,owner_to_root"));
	CHECK(has(&s, "metadata /var/log/sub/.app,hidden"));
	CHECK(s.n == 9);
	htree_free(g);
	htree_free(c);
}

TEST(t_diff_reports_unread_content_from_what_is_known)
{
	struct htree *g, *c;
	struct seen s = { .n = 0 };
	struct diff_stats st;
	struct htree_entry *e;

	pair(&g, &c);
	/* Unread now, other size: modified. Unread now, same size: metadata. */
	e = at(c, "/etc/motd");
	e->flags = HTREE_F_READERR;
	e->size = 100;
	at(c, "/srv/tool")->flags = HTREE_F_READERR;
	/* Unread in the gold only. */
	at(g, "/etc/shadow")->flags = HTREE_F_READERR;
	/* Unread on both sides, in a folder whose node hash is the gold's. */
	at(g, "/var/log/sub/data")->flags = HTREE_F_READERR;
	at(c, "/var/log/sub/data")->flags = HTREE_F_READERR;
	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, &st, NULL) == 0);
	CHECK(has(&s, "modified /etc/motd,timestomp_suspected,content_unread"));
	CHECK(has(&s, "metadata /srv/tool,executable,content_unread"));
	CHECK(has(&s, "metadata /etc/shadow,content_unread"));
	CHECK(has(&s, "metadata /var/log/sub/data,content_unread"));
	CHECK(s.n == 4);
	CHECK(st.unread == 4 && st.count[DIFF_MODIFIED] == 1 && st.count[DIFF_METADATA] == 3);
	htree_free(g);
	htree_free(c);
}

/* Three names of one inode: a log under /var/log, a hidden name, a name elsewhere. */
TEST(t_diff_hard_links_share_flags)
{
	struct htree *g, *c;
	struct seen s = { .n = 0 };
	const char *names[] = { "/srv/app-data", "/var/log/app", "/var/log/sub/.app" };

	pair(&g, &c);
	for (int k = 0; k < 3; k++) {
		struct htree_entry *x = at(g, names[k]), *e = at(c, names[k]);
		x->inode = 77;
		x->nlink = 3;
		e->inode = 77;
		e->nlink = 3;
		e->size = 4; /* shrunk */
		t_sha("one\n", e->sha256);
		e->time_s[HTREE_MTIME] += 1;
	}
	REQUIRE(htree_seal(g, NULL) == 0 && htree_seal(c, NULL) == 0);
	REQUIRE(diff_trees(g, c, collect, &s, NULL, NULL) == 0);
	CHECK(has(&s, "modified /srv/app-data,truncated_log"));
	CHECK(has(&s, "modified /var/log/app,truncated_log"));
	CHECK(has(&s, "modified /var/log/sub/.app,hidden,truncated_log"));
	CHECK(s.n == 3);
	htree_free(g);
	htree_free(c);
}
