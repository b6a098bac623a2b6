/*
 * resolve.c - from files to a usable set: rule files and folders read, definitions
 * ordered, aliases and groups resolved, user variables expanded (artifacts_prepare).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifacts/artifacts_int.h"
#include "buf.h"
#include "ruledir.h"

#include "banned.h"

static int
load_file(struct artifacts *a, const char *path, struct dt_err *err)
{
	unsigned char *data = NULL;
	size_t len = 0;
	struct stat sb;
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return dt_fail_errno(err, DT_EIO, "cannot open '%s'", path);
	if (fstat(fd, &sb) != 0) {
		ret = dt_fail_errno(err, DT_EIO, "cannot stat '%s'", path);
		close(fd);
		return ret;
	}
	if (sb.st_size < 0 || (uint64_t)sb.st_size > ARTIFACTS_MAX_FILE_SIZE) {
		close(fd);
		return dt_fail(err, DT_ENOMEM, "'%s' is larger than %u bytes", path,
			       ARTIFACTS_MAX_FILE_SIZE);
	}
	/* Read to EOF with the cap, whatever st_size said. */
	data = malloc((size_t)sb.st_size + 1);
	if (data == NULL) {
		close(fd);
		return dt_fail(err, DT_ENOMEM, "cannot read '%s': out of memory", path);
	}
	for (;;) {
		ssize_t r = read(fd, data + len, (size_t)sb.st_size + 1 - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			ret = dt_fail_errno(err, DT_EIO, "cannot read '%s'", path);
			free(data);
			close(fd);
			return ret;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > (size_t)sb.st_size) {
			free(data);
			close(fd);
			return dt_fail(err, DT_EIO, "'%s' grew while being read", path);
		}
	}
	close(fd);
	ret = art_load_buffer(a, path, data, len, err);
	free(data);
	return ret;
}

static int
yaml_name(const char *name)
{
	size_t len = strlen(name);

	return (len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
	       (len > 4 && strcmp(name + len - 4, ".yml") == 0);
}

/* ruledir_fn: every definition file found, whatever its place. */
static int
load_found(void *arg, const char *path, const char *rel, struct dt_err *err)
{
	(void)rel;
	return load_file(arg, path, err);
}

/* ---- after loading: order, groups, indexes ---------------------------------------------- */

static int
def_cmp(const void *x, const void *y)
{
	const struct art_def *a = *(const struct art_def *const *)x;
	const struct art_def *b = *(const struct art_def *const *)y;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

static int
alias_cmp(const void *x, const void *y)
{
	const struct art_alias *a = x, *b = y;
	int c = strcmp(a->name, b->name);

	if (c != 0)
		return c;
	return (a->def->idx > b->def->idx) - (a->def->idx < b->def->idx);
}

/*
 * For each definition with globs, the groups that contain it directly or through other
 * groups (loop-safe: each group is visited once per definition).
 */
static int
build_closures(struct artifacts *a, struct dt_err *err)
{
	size_t n = a->ndefs, nedges = 0, total = 0;
	size_t *off = NULL, *fill = NULL, *stamp = NULL;
	uint32_t *parents = NULL, *stack = NULL, *out = NULL;
	int ret = -1;

	off = calloc(n + 1, sizeof(*off));
	fill = calloc(n + 1, sizeof(*fill));
	stamp = malloc((n + 1) * sizeof(*stamp));
	stack = malloc((n + 1) * sizeof(*stack));
	out = malloc((n + 1) * sizeof(*out));
	if (!off || !fill || !stamp || !stack || !out) {
		dt_fail(err, DT_ENOMEM, "artifact groups: out of memory");
		goto done;
	}
	/* Edges member -> group, from the Linux group sources, as compressed rows. */
	for (size_t r = 0; r < a->nrefs; r++) {
		size_t m = art_find_name(a, a->refs[r].name);

		if (m == ARTIFACTS_NONE) {
			a->st.missing_group_members++;
			continue;
		}
		if (a->refs[r].is_linux) {
			off[m + 1]++;
			nedges++;
		}
	}
	for (size_t i = 0; i < n; i++)
		off[i + 1] += off[i];
	parents = malloc((nedges + 1) * sizeof(*parents));
	if (parents == NULL) {
		dt_fail(err, DT_ENOMEM, "artifact groups: out of memory");
		goto done;
	}
	for (size_t r = 0; r < a->nrefs; r++) {
		size_t m;

		if (!a->refs[r].is_linux ||
		    (m = art_find_name(a, a->refs[r].name)) == ARTIFACTS_NONE)
			continue;
		parents[off[m] + fill[m]++] = (uint32_t)a->refs[r].group->idx;
	}
	for (size_t i = 0; i < n; i++)
		stamp[i] = SIZE_MAX;
	for (size_t d = 0; d < n; d++) {
		size_t sp = 0, nout = 0;

		if (!a->defs[d]->compiled)
			continue;
		stamp[d] = d;
		stack[sp++] = (uint32_t)d;
		while (sp > 0) {
			uint32_t m = stack[--sp];

			for (size_t e = off[m]; e < off[m + 1]; e++) {
				uint32_t g = parents[e];

				if (stamp[g] == d)
					continue;
				stamp[g] = d;
				stack[sp++] = g;
				out[nout++] = g;
			}
		}
		if (nout == 0)
			continue;
		total += nout;
		if (total > ARTIFACTS_MAX_CLOSURE) {
			dt_fail(err, DT_ENOMEM,
				"artifact groups nest too widely (more than %u links)",
				ARTIFACTS_MAX_CLOSURE);
			goto done;
		}
		a->defs[d]->anc = arena_memdup(&a->arena, out, nout * sizeof(*out), err);
		if (a->defs[d]->anc == NULL)
			goto done;
		a->defs[d]->nanc = nout;
	}
	ret = 0;
done:
	free(off);
	free(fill);
	free(stamp);
	free(stack);
	free(out);
	free(parents);
	return ret;
}

static int
finish(struct artifacts *a, struct dt_err *err)
{
	size_t nal = 0;

	if (a->ndefs > 1)
		qsort(a->defs, a->ndefs, sizeof(*a->defs), def_cmp);
	for (size_t i = 0; i < a->ndefs; i++) {
		a->defs[i]->idx = i;
		nal += a->defs[i]->naliases;
		if (i > 0 && strcmp(a->defs[i - 1]->name, a->defs[i]->name) == 0) {
			const struct art_def *p = a->defs[i - 1], *d = a->defs[i];

			return dt_fail(err, DT_EFORMAT,
				       "'%s' line %zu: artifact '%s' is defined again (first in "
				       "'%s' line %zu)",
				       d->file, d->line, d->name, p->file, p->line);
		}
	}
	if (nal > 0) {
		a->aliases = malloc(nal * sizeof(*a->aliases));
		if (a->aliases == NULL)
			return dt_fail(err, DT_ENOMEM, "artifact aliases: out of memory");
		for (size_t i = 0; i < a->ndefs; i++)
			for (size_t j = 0; j < a->defs[i]->naliases; j++)
				a->aliases[a->naliases++] =
					(struct art_alias){ a->defs[i]->aliases[j], a->defs[i] };
		qsort(a->aliases, a->naliases, sizeof(*a->aliases), alias_cmp);
	}
	if (build_closures(a, err) < 0)
		return -1;
	free(a->refs);
	a->refs = NULL;
	a->nrefs = a->refs_cap = 0;
	if (art_index_build(&a->root, &a->arena, err) < 0 ||
	    art_index_build(&a->home, &a->arena, err) < 0)
		return -1;
	return 0;
}

static int
load_done(struct artifacts *a, int ret, struct artifacts **out, struct artifacts_stats *st,
	  struct dt_err *err)
{
	if (ret == 0)
		ret = finish(a, err);
	if (ret < 0) {
		artifacts_free(a);
		if (st)
			memset(st, 0, sizeof(*st));
		return -1;
	}
	if (st)
		*st = a->st;
	*out = a;
	return 0;
}

int
artifacts_load(const char *const *paths, size_t n, struct artifacts **out,
	       struct artifacts_stats *st, struct dt_err *err)
{
	struct artifacts *a;
	int ret = 0;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return dt_fail(err, DT_ENOMEM, "artifact definitions: out of memory");
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = ruledir_walk(paths[i], yaml_name, load_found, a, err);
	return load_done(a, ret, out, st, err);
}

int
artifacts_load_mem(const char *name, const void *data, size_t len, struct artifacts **out,
		   struct artifacts_stats *st, struct dt_err *err)
{
	struct artifacts *a;

	*out = NULL;
	a = calloc(1, sizeof(*a));
	if (a == NULL)
		return dt_fail(err, DT_ENOMEM, "artifact definitions: out of memory");
	return load_done(a, art_load_buffer(a, name, data, len, err), out, st, err);
}

/* ---- users ------------------------------------------------------------------------------ */

static int
home_cmp(const void *x, const void *y)
{
	const struct art_home *a = x, *b = y;

	return art_bytes_cmp(a->s, a->len, b->s, b->len);
}

/* A home as "\0seg\0seg" in the prepare arena, its depth in *depth; NULL if unusable. */
static const char *
norm_home(struct artifacts *a, const char *home, size_t *len, size_t *depth, int *bad,
	  struct dt_err *err)
{
	size_t hlen = strlen(home), o = 0, d = 0;
	char *s;

	*bad = 1;
	if (hlen == 0 || home[0] != '/' || hlen > ARTIFACTS_MATCH_MAX_PATH)
		return NULL;
	s = arena_alloc(&a->parena, hlen + 1, err);
	if (s == NULL) {
		*bad = 0;
		return NULL;
	}
	for (size_t i = 0; i < hlen;) {
		size_t e = i;

		while (e < hlen && home[e] != '/')
			e++;
		if (e > i) {
			s[o++] = '\0';
			memcpy(s + o, home + i, e - i);
			o += e - i;
			d++;
		}
		i = e + 1;
	}
	if (d > ARTIFACTS_MAX_SEGMENTS)
		return NULL;
	*bad = 0;
	*len = o;
	*depth = d;
	return s;
}

/* Segment k of template t with the username put in: literal, or a pattern with the name
 * escaped for fnmatch. */
static int
user_seg(struct artifacts *a, const struct art_seg *t, const char *user, struct art_seg *out,
	 struct dt_err *err)
{
	size_t vlen = strlen(ART_USERNAME_VAR), ulen = strlen(user), n = 0, cap;
	int literal = 1;
	char *s;

	if (!art_find_var(t->s, t->len, ART_USERNAME_VAR)) {
		*out = *t;
		return 0;
	}
	for (size_t i = 0; i < t->len;) {
		if (i + vlen <= t->len && strncasecmp(t->s + i, ART_USERNAME_VAR, vlen) == 0) {
			i += vlen;
			continue;
		}
		if (art_has_meta(t->s + i, 1))
			literal = 0;
		i++;
	}
	cap = t->len + 2 * ulen * (t->len / vlen + 1) + 1;
	s = arena_alloc(&a->parena, cap, err);
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < t->len;) {
		if (i + vlen <= t->len && strncasecmp(t->s + i, ART_USERNAME_VAR, vlen) == 0) {
			for (size_t k = 0; k < ulen; k++) {
				if (!literal && art_has_meta(user + k, 1))
					s[n++] = '\\';
				s[n++] = user[k];
			}
			i += vlen;
			continue;
		}
		s[n++] = t->s[i++];
	}
	s[n] = '\0';
	*out = (struct art_seg){ .s = s, .len = (uint32_t)n, .literal = (uint32_t)literal };
	return 0;
}

/* Add template t expanded for one user (home may be NULL when t is not home-relative). */
static int
expand_user(struct artifacts *a, const struct art_pat *t, const char *user, const char *home,
	    size_t hlen, size_t hdepth, size_t *count, struct dt_err *err)
{
	struct art_seg *segs;
	struct art_pat p = *t;
	size_t o = 0, k = 0;

	if (++*count > ARTIFACTS_MAX_GLOBS)
		return dt_fail(err, DT_ENOMEM, "more than %u path globs for the users",
			       ARTIFACTS_MAX_GLOBS);
	if (t->home == 0)
		hdepth = 0;
	if (hdepth + t->nseg == 0) {
		p.seg = NULL;
		return art_index_add(&a->user, &p, err);
	}
	segs = arena_alloc(&a->parena, (hdepth + t->nseg) * sizeof(*segs), err);
	if (segs == NULL)
		return -1;
	/* Home segments are literal: a '*' in someone's home is just a character. */
	for (size_t i = 0; t->home && i < hlen; k++) {
		size_t e = i + 1;

		while (e < hlen && home[e] != '\0')
			e++;
		segs[k] = (struct art_seg){ .s = arena_strndup(&a->parena, home + i + 1, e - i - 1,
							       err),
					    .len = (uint32_t)(e - i - 1),
					    .literal = 1 };
		if (segs[k].s == NULL)
			return -1;
		i = e;
	}
	for (o = 0; o < t->nseg; o++, k++)
		if (user_seg(a, &t->seg[o], user, &segs[k], err) < 0)
			return -1;
	p.seg = segs;
	p.nseg = (uint16_t)(hdepth + t->nseg);
	if (t->star >= 0)
		p.star = (int16_t)(t->star + (int)hdepth);
	p.home = 0;
	return art_index_add(&a->user, &p, err);
}

int
artifacts_prepare(struct artifacts *a, const struct artifacts_user *users, size_t nusers,
		  struct dt_err *err)
{
	size_t count = 0, cap = 0;

	if (a == NULL)
		return dt_fail(err, DT_EUSAGE, "artifacts_prepare: no definitions");
	art_prepared_release(a);
	for (size_t u = 0; u < nusers; u++) {
		const char *home = users[u].home, *name = users[u].name;
		const char *h = NULL;
		size_t hlen = 0, hdepth = 0;
		int bad = 1;

		if (home != NULL) {
			h = norm_home(a, home, &hlen, &hdepth, &bad, err);
			if (h == NULL && !bad)
				goto fail;
		}
		if (h != NULL) {
			if (BUF_GROW(a->homes, a->nhomes + 1, cap, err) < 0)
				goto fail;
			a->homes[a->nhomes++] = (struct art_home){ h, hlen };
			if (hdepth > a->home_depth)
				a->home_depth = hdepth;
		}
		if (name == NULL || name[0] == '\0' || strchr(name, '/') != NULL ||
		    strlen(name) > ART_MAX_NAME_LEN)
			continue;
		for (size_t t = 0; t < a->ntmpls; t++) {
			if (a->tmpls[t].home && h == NULL)
				continue;
			if (expand_user(a, &a->tmpls[t], name, h, hlen, hdepth, &count, err) < 0)
				goto fail;
		}
	}
	if (a->nhomes > 1) {
		size_t o = 1;

		qsort(a->homes, a->nhomes, sizeof(*a->homes), home_cmp);
		for (size_t i = 1; i < a->nhomes; i++)
			if (home_cmp(&a->homes[o - 1], &a->homes[i]) != 0)
				a->homes[o++] = a->homes[i];
		a->nhomes = o;
	}
	if (art_index_build(&a->user, &a->parena, err) < 0)
		goto fail;
	return 0;
fail:
	art_prepared_release(a);
	return -1;
}
