/*
 * ruledir.c - the walker of rule folders (see ruledir.h for the policy).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "ruledir.h"

#include "banned.h"

struct walk {
	int (*want)(const char *name);
	ruledir_fn fn;
	void *arg;
	struct buf path; /* the folder or file at hand */
	size_t toplen;   /* bytes of top in path */
	struct dt_err *err;
};

static int
cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir but those starting with '.', sorted: *out is new (buf_free_strings()). */
static int
list_dir(const char *dir, char ***out, size_t *count, struct dt_err *err)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", dir);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (BUF_GROW(names, n + 1, cap, NULL) < 0)
			goto oom;
		if ((names[n] = strdup(de->d_name)) == NULL)
			goto oom;
		n++;
		errno = 0;
	}
	if (errno != 0) {
		dt_fail_errno(err, DT_EIO, "cannot read '%s'", dir);
		closedir(d);
		buf_free_strings(names, n);
		return -1;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	*out = names;
	*count = n;
	return 0;
oom:
	closedir(d);
	buf_free_strings(names, n);
	return dt_fail(err, DT_ENOMEM, "cannot list '%s': out of memory", dir);
}

/* One entry of a folder, its path in w->path. */
static int visit(struct walk *w, const char *name, unsigned depth);

/* w->path holds a folder depth levels below top; it is restored on return. */
static int
walk_folder(struct walk *w, unsigned depth)
{
	size_t plen = w->path.len, n = 0;
	char **names = NULL;
	int ret = 0;

	if (depth > RULEDIR_MAX_DEPTH)
		return dt_fail(w->err, DT_EUSAGE, "'%s' is more than %d folders deep",
			       (char *)w->path.data, RULEDIR_MAX_DEPTH);
	if (list_dir((char *)w->path.data, &names, &n, w->err) < 0)
		return -1;
	for (size_t i = 0; i < n && ret == 0; i++) {
		w->path.len = plen;
		w->path.data[plen] = '\0';
		ret = buf_printf(&w->path, w->err, "/%s", names[i]);
		if (ret == 0)
			ret = visit(w, names[i], depth);
	}
	w->path.len = plen;
	w->path.data[plen] = '\0';
	buf_free_strings(names, n);
	return ret;
}

static int
visit(struct walk *w, const char *name, unsigned depth)
{
	const char *path = (char *)w->path.data;
	struct stat st;

	if (lstat(path, &st) != 0)
		return dt_fail_errno(w->err, DT_EIO, "cannot stat '%s'", path);
	if (S_ISDIR(st.st_mode))
		return walk_folder(w, depth + 1);
	if (!w->want(name))
		return 0;
	/* A link to a rule file counts; a link to a folder is never followed. */
	if (S_ISLNK(st.st_mode) && stat(path, &st) != 0)
		return 0;
	if (!S_ISREG(st.st_mode))
		return 0;
	return w->fn(w->arg, path, path + w->toplen + 1, w->err);
}

int
ruledir_walk(const char *top, int (*want)(const char *name), ruledir_fn fn, void *arg,
	     struct dt_err *err)
{
	struct walk w = { .want = want, .fn = fn, .arg = arg, .err = err };
	size_t n = strlen(top);
	struct stat st;
	int ret;

	if (stat(top, &st) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", top);
	if (S_ISREG(st.st_mode))
		return fn(arg, top, NULL, err);
	if (!S_ISDIR(st.st_mode))
		return dt_fail(err, DT_EIO, "'%s' is not a file or a folder", top);
	while (n > 1 && top[n - 1] == '/')
		n--;
	buf_init(&w.path, PATH_MAX);
	ret = buf_add(&w.path, top, n, err);
	w.toplen = n;
	if (ret == 0)
		ret = walk_folder(&w, 0);
	buf_release(&w.path);
	return ret;
}
