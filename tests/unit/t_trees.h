/*
 * t_trees.h - small hash-trees for the unit tests of htree and diff (t_trees.c).
 */
#ifndef DELTAIR_T_TREES_H
#define DELTAIR_T_TREES_H

#include <stdint.h>

#include "htree.h"

/* SHA-256 of the string s into out. */
void t_sha(const char *s, unsigned char out[32]);
/* Add an entry to t (aborts on failure): content is a file's bytes or a link's target. */
void t_tree_add(struct htree *t, const char *path, int type, unsigned mode, const char *content,
		int64_t mtime);
/* A small tree (new): added out of order on purpose; dash is the path of the last file. */
struct htree *t_sample_with(int64_t t0, const char *passwd, const char *dash);
/* t_sample_with(t0, passwd, "/usr/bin/dash") */
struct htree *t_sample(int64_t t0, const char *passwd);

#endif
