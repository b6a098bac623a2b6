/*
 * store_int.h - what store.c asks of a backend (store.h). One struct store_ops per kind of
 * URL; store.c picks by prefix ("s3://"), a folder being the rest. A backend's struct store
 * begins with a struct store_base. Internal to src/worker/: no front-end includes it.
 */
#ifndef DELTAIR_WORKER_STORE_INT_H
#define DELTAIR_WORKER_STORE_INT_H

#include "worker/store.h"

struct store_ops {
	const char *scheme; /* "s3://"; NULL: a folder (the fallback) */
	/* url: the whole URL, scheme included. */
	int (*open)(const char *url, const struct store_options *opt, struct store **out,
		    struct dt_err *err);
	void (*close)(struct store *s);
	int (*put_file)(struct store *s, const char *key, const char *path, struct dt_err *err);
	/* NULL: store.c copies with put_file. */
	int (*move_file)(struct store *s, const char *key, const char *path, int *moved,
			 struct dt_err *err);
	/* NULL: never moved (*moved 0). */
	int (*move_tree)(struct store *s, const char *key, const char *path, int *moved,
			 struct dt_err *err);
	int (*put_mem)(struct store *s, const char *key, const void *data, size_t len,
		       struct dt_err *err);
	int (*exists)(struct store *s, const char *key, struct dt_err *err);
	/* Write key's bytes into fd, a new regular file (store.c names and renames it). */
	int (*get_fd)(struct store *s, const char *key, int fd, struct dt_err *err);
	int (*delete_prefix)(struct store *s, const char *prefix, struct dt_err *err);
	/* The keys under prefix, in any order (store.c sorts them). */
	int (*list)(struct store *s, const char *prefix, char ***keys, size_t *n,
		    struct dt_err *err);
};

/* The first member of every backend's struct store; store.c fills it after open. */
struct store_base {
	const struct store_ops *ops;
	char *url; /* owned by store.c */
};

extern const struct store_ops store_dir_ops;
extern const struct store_ops store_s3_ops;

#endif
