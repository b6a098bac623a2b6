/* t_trees.c - small hash-trees the htree and diff tests build (t_trees.h). */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "t.h"
#include "t_trees.h"

void
t_sha(const char *s, unsigned char out[32])
{
	unsigned int n;
	EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL);
}

/* ns since the epoch as a time. */
static struct htree_time
ns_time(int64_t ns)
{
	int64_t s = ns / 1000000000, r = ns % 1000000000;

	if (r < 0) {
		r += 1000000000;
		s--;
	}
	return htree_time_make(s, r);
}

void
t_tree_add(struct htree *t, const char *path, int type, unsigned mode, const char *content,
	   int64_t mtime)
{
	struct htree_entry e;

	memset(&e, 0, sizeof(e));
	e.path = path;
	e.path_len = (uint32_t)strlen(path);
	e.type = (uint8_t)type;
	e.mode = mode;
	e.uid = 1000;
	e.gid = 1000;
	e.nlink = 1;
	e.inode = (uint64_t)(strlen(path) * 7 + (size_t)mtime);
	htree_set_time(&e, HTREE_MTIME, ns_time(mtime));
	htree_set_time(&e, HTREE_ATIME, ns_time(mtime + 5));
	htree_set_time(&e, HTREE_CTIME, ns_time(mtime + 7));
	htree_set_time(&e, HTREE_CRTIME, (struct htree_time){ HTREE_NO_TIME, 0 });
	if (type == HTREE_REG && content) {
		e.size = strlen(content);
		t_sha(content, e.sha256);
		e.flags = HTREE_F_HASHED;
	}
	if (type == HTREE_LNK) {
		e.link = content;
		e.link_len = (uint32_t)strlen(content);
	}
	if (htree_add(t, &e, NULL) < 0)
		abort();
}

/* A small tree: added out of order on purpose; dash is the path of the last file added. */
struct htree *
t_sample_with(int64_t t0, const char *passwd, const char *dash)
{
	struct htree *t = htree_new();

	CHECK(htree_add_fs(t, "p1", "ext4", 1048576, 1 << 20, NULL) == 0);
	t_tree_add(t, "/etc/passwd", HTREE_REG, 0644, passwd, t0);
	t_tree_add(t, "/", HTREE_DIR, 0755, NULL, t0);
	t_tree_add(t, "/etc", HTREE_DIR, 0755, NULL, t0);
	t_tree_add(t, "/etc.d", HTREE_DIR, 0755, NULL, t0);
	t_tree_add(t, "/etc/hosts", HTREE_REG, 0644, "127.0.0.1 localhost\n", t0 + 1);
	t_tree_add(t, "/var", HTREE_DIR, 0755, NULL, t0);
	t_tree_add(t, "/var/log", HTREE_DIR, 0755, NULL, t0);
	t_tree_add(t, "/var/log/syslog", HTREE_REG, 0640, "line1\n", t0 + 2);
	t_tree_add(t, "/usr", HTREE_DIR, 0755, NULL, t0);
	t_tree_add(t, "/usr/bin", HTREE_DIR, 0755, NULL, t0);
	t_tree_add(t, "/usr/bin/true", HTREE_REG, 0755,
		   "\x7f"
		   "ELFtrue",
		   t0);
	t_tree_add(t, "/usr/bin/sh", HTREE_LNK, 0777, "dash", t0);
	t_tree_add(t, dash, HTREE_REG, 0755,
		   "\x7f"
		   "ELFdash",
		   t0);
	return t;
}

struct htree *
t_sample(int64_t t0, const char *passwd)
{
	return t_sample_with(t0, passwd, "/usr/bin/dash");
}
