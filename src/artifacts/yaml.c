/*
 * yaml.c - the ForensicArtifacts YAML loader (libyaml's document API): definitions,
 * their sources, and the compiled Linux globs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "artifacts/artifacts_int.h"
#include "buf.h"

#include "banned.h"

/* ---- loading ----------------------------------------------------------------------------- */

struct loader {
	struct artifacts *a;
	const char *file; /* arena */
	yaml_document_t *doc;
	struct dt_err *err;
	/* Scratch for the definition being read. */
	struct art_strvec os, aliases, members, sos;
	struct art_glob *globs;
	size_t nglobs, globs_cap;
};

/* Up to 64 bytes of a scalar for a message, with anything unprintable as '?'. */
static const char *
show(const yaml_node_t *n, char *buf, size_t size)
{
	size_t i, len;

	if (n == NULL || n->type != YAML_SCALAR_NODE)
		return n && n->type == YAML_MAPPING_NODE ? "(a mapping)" : "(a list)";
	len = n->data.scalar.length;
	if (len > size - 4)
		len = size - 4;
	for (i = 0; i < len; i++) {
		unsigned char c = n->data.scalar.value[i];
		buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	if (len < n->data.scalar.length) {
		memcpy(buf + len, "...", 3);
		len += 3;
	}
	buf[len] = '\0';
	return buf;
}

static int ld_fail(struct loader *ld, const yaml_node_t *n, const char *fmt, ...) DT_PRINTF(3, 4);

static int
ld_fail(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return dt_fail(ld->err, DT_EFORMAT, "'%s' line %lu: %s", ld->file,
		       n ? (unsigned long)n->start_mark.line + 1 : 0UL, msg);
}

/* Every node we look at is charged, so aliases cannot make a small file cost much. */
static yaml_node_t *
ld_node(struct loader *ld, int id, const yaml_node_t *parent)
{
	yaml_node_t *n = yaml_document_get_node(ld->doc, id);

	if (n == NULL) {
		ld_fail(ld, parent, "damaged YAML document");
		return NULL;
	}
	if (++ld->a->nodes > ARTIFACTS_MAX_NODES) {
		dt_fail(ld->err, DT_ENOMEM, "'%s': more than %u YAML nodes", ld->file,
			ARTIFACTS_MAX_NODES);
		return NULL;
	}
	return n;
}

static int
scalar_is(const yaml_node_t *n, const char *s)
{
	size_t len = strlen(s);

	return n->type == YAML_SCALAR_NODE && n->data.scalar.length == len &&
	       memcmp(n->data.scalar.value, s, len) == 0;
}

/* Which of keys[] the mapping key k is, or -1 (k must be a scalar). */
static int
key_index(const yaml_node_t *k, const char *const *keys, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (scalar_is(k, keys[i]))
			return (int)i;
	return -1;
}

/* A YAML null: an empty document or value. */
static int
is_null(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (n->data.scalar.length == 0 || scalar_is(n, "~") || scalar_is(n, "null") ||
		scalar_is(n, "Null") || scalar_is(n, "NULL"));
}

static const char *
ld_string(struct loader *ld, const yaml_node_t *n, const char *what, size_t maxlen)
{
	if (n->type != YAML_SCALAR_NODE) {
		ld_fail(ld, n, "%s must be a string", what);
		return NULL;
	}
	if (n->data.scalar.length > maxlen) {
		ld_fail(ld, n, "%s is longer than %zu bytes", what, maxlen);
		return NULL;
	}
	if (memchr(n->data.scalar.value, '\0', n->data.scalar.length) != NULL) {
		ld_fail(ld, n, "%s contains a NUL byte", what);
		return NULL;
	}
	return arena_strndup(&ld->a->arena, (const char *)n->data.scalar.value,
			     n->data.scalar.length, ld->err);
}

/* Append the strings of a sequence node (list: its name; what: an item's) to out. */
static int
ld_strings(struct loader *ld, const yaml_node_t *n, const char *list, const char *what,
	   size_t maxlen, struct art_strvec *out)
{
	if (n->type != YAML_SEQUENCE_NODE)
		return ld_fail(ld, n, "%s must be a list", list);
	for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	     it++) {
		const yaml_node_t *item = ld_node(ld, *it, n);
		const char *s;

		if (item == NULL)
			return -1;
		s = ld_string(ld, item, what, maxlen);
		if (s == NULL || art_strvec_add(out, s, ld->err) < 0)
			return -1;
	}
	return 0;
}

static const char *const known_os[] = { "Android", "Darwin", "ESXi", "iOS", "Linux", "Windows" };

/* Read a supported_os list into out; returns 1 if it names Linux, 0 if not, -1 on error. */
static int
ld_os(struct loader *ld, const yaml_node_t *n, struct art_strvec *out)
{
	size_t first = out->n;
	int linux_ = 0;

	if (ld_strings(ld, n, "supported_os", "an operating system", ART_MAX_OS_LEN, out) < 0)
		return -1;
	for (size_t i = first; i < out->n; i++) {
		size_t k;

		for (k = 0; k < sizeof(known_os) / sizeof(known_os[0]); k++)
			if (strcmp(out->v[i], known_os[k]) == 0)
				break;
		if (k == sizeof(known_os) / sizeof(known_os[0])) {
			const yaml_node_t *item = yaml_document_get_node(
				ld->doc, n->data.sequence.items.start[i - first]);
			char buf[80];
			return ld_fail(ld, item ? item : n, "unknown operating system '%s'",
				       show(item, buf, sizeof(buf)));
		}
		if (strcmp(out->v[i], "Linux") == 0)
			linux_ = 1;
	}
	return linux_;
}

int
art_has_meta(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] == '*' || s[i] == '?' || s[i] == '[' || s[i] == '\\')
			return 1;
	return 0;
}

/* Where the variable var starts in s[0..len), case-insensitively, or NULL. */
const char *
art_find_var(const char *s, size_t len, const char *var)
{
	size_t vlen = strlen(var);

	for (size_t i = 0; i + vlen <= len; i++)
		if (strncasecmp(s + i, var, vlen) == 0)
			return s + i;
	return NULL;
}

/* Whether s[0..len) holds "%%" outside occurrences of the username variable. */
static int
other_var(const char *s, size_t len)
{
	size_t vlen = strlen(ART_USERNAME_VAR);

	for (size_t i = 0; i + 1 < len;) {
		if (i + vlen <= len && strncasecmp(s + i, ART_USERNAME_VAR, vlen) == 0) {
			i += vlen;
			continue;
		}
		if (s[i] == '%' && s[i + 1] == '%')
			return 1;
		i++;
	}
	return 0;
}

/*
 * Compile one Linux glob of def. Returns 0 (compiled or skipped) or -1. The checks are
 * upstream's validator's: at most one globstar, a whole segment, depth 1..10.
 */
static int
ld_compile(struct loader *ld, const yaml_node_t *n, const char *path, char sep, struct art_def *def,
	   enum artifacts_type type)
{
	struct artifacts *a = ld->a;
	struct art_seg segs[ARTIFACTS_MAX_SEGMENTS];
	struct art_pat pat = { .def = def, .star = -1, .type = (uint8_t)type };
	size_t len = strlen(path), i = 0, raw = 0;
	int home = 0, user = 0;
	char buf[80];

	/* Variables first: a glob we cannot expand is skipped, not an error. */
	while (i <= len) {
		size_t e = i;

		while (e < len && path[e] != sep)
			e++;
		if (memchr(path + i, '%', e - i) && art_find_var(path + i, e - i, "%%")) {
			if (raw == 0 && e - i == strlen(ART_HOMEDIR_VAR) &&
			    strncasecmp(path + i, ART_HOMEDIR_VAR, e - i) == 0)
				home = 1;
			else if (art_find_var(path + i, e - i, ART_USERNAME_VAR) &&
				 !other_var(path + i, e - i))
				user = 1;
			else {
				a->st.paths_skipped++;
				return 0;
			}
		}
		i = e + 1;
		raw++;
	}
	if (!home && path[0] != sep)
		return ld_fail(ld, n, "path '%s' is not absolute", show(n, buf, sizeof(buf)));
	if (++a->nglobs > ARTIFACTS_MAX_GLOBS)
		return dt_fail(ld->err, DT_ENOMEM, "'%s': more than %u path globs", ld->file,
			       ARTIFACTS_MAX_GLOBS);

	pat.home = (uint8_t)home;
	for (i = home ? strlen(ART_HOMEDIR_VAR) : 0; i < len;) {
		size_t e = i, slen;
		const char *s = path + i;

		while (e < len && path[e] != sep)
			e++;
		slen = e - i;
		i = e + 1;
		if (slen == 0)
			continue; /* repeated or trailing separators */
		if (slen >= 2 && s[0] == '*' && s[1] == '*') {
			unsigned depth = ART_MAX_STAR;

			if (pat.star >= 0)
				return ld_fail(ld, n, "path '%s' has more than one globstar",
					       show(n, buf, sizeof(buf)));
			if (slen > 2) {
				depth = 0;
				for (size_t k = 2; k < slen; k++) {
					if (s[k] < '0' || s[k] > '9' || depth > ART_MAX_STAR) {
						depth = 0;
						break;
					}
					depth = depth * 10 + (unsigned)(s[k] - '0');
				}
				if (depth < 1 || depth > ART_MAX_STAR)
					return ld_fail(ld, n,
						       "path '%s': a globstar is ** or **N with N "
						       "from 1 to 10",
						       show(n, buf, sizeof(buf)));
			}
			pat.star = (int16_t)pat.nseg;
			pat.star_max = (uint8_t)depth;
			continue;
		}
		if (art_find_var(s, slen, "**"))
			return ld_fail(ld, n, "path '%s': a globstar must be a whole segment",
				       show(n, buf, sizeof(buf)));
		if (pat.nseg == ARTIFACTS_MAX_SEGMENTS)
			return ld_fail(ld, n, "path '%s' has more than %u segments",
				       show(n, buf, sizeof(buf)), ARTIFACTS_MAX_SEGMENTS);
		segs[pat.nseg].s = arena_strndup(&a->arena, s, slen, ld->err);
		if (segs[pat.nseg].s == NULL)
			return -1;
		segs[pat.nseg].len = (uint32_t)slen;
		segs[pat.nseg].literal = !art_has_meta(s, slen);
		pat.nseg++;
	}
	if (pat.nseg) {
		pat.seg = arena_memdup(&a->arena, segs, pat.nseg * sizeof(segs[0]), ld->err);
		if (pat.seg == NULL)
			return -1;
	}
	def->compiled = 1;
	if (user) {
		if (BUF_GROW(a->tmpls, a->ntmpls + 1, a->tmpls_cap, ld->err) < 0)
			return -1;
		a->tmpls[a->ntmpls++] = pat;
		return 0;
	}
	return art_index_add(home ? &a->home : &a->root, &pat, ld->err);
}

/*
 * The values of mapping map by key: val[i] for keys[i] (NULL when absent). A key not in
 * keys, or one given twice, fails, the message naming it as what ("source key").
 */
static int
ld_keys(struct loader *ld, const yaml_node_t *map, const char *const *keys, size_t nkeys,
	const char *what, const yaml_node_t **val)
{
	char buf[80];

	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
	     p++) {
		const yaml_node_t *k = ld_node(ld, p->key, map), *v;
		int ki;

		if (k == NULL || (v = ld_node(ld, p->value, map)) == NULL)
			return -1;
		ki = key_index(k, keys, nkeys);
		if (ki < 0)
			return ld_fail(ld, k, "unknown %s '%s'", what, show(k, buf, sizeof(buf)));
		if (val[ki] != NULL)
			return ld_fail(ld, k, "duplicate %s '%s'", what, keys[ki]);
		val[ki] = v;
	}
	return 0;
}

enum { S_TYPE, S_ATTRIBUTES, S_OS, S_CONDITIONS, S_RETURNED_TYPES };
static const char *const source_keys[] = { "type", "attributes", "supported_os", "conditions",
					   "returned_types" };
enum { A_PATHS, A_SEPARATOR, A_NAMES };

/* Read one source of def; def_os: 1 if the definition's supported_os names Linux, 0 if
 * it names others only, -1 if it says nothing. */
static int
ld_source(struct loader *ld, const yaml_node_t *src, struct art_def *def, int def_os)
{
	static const char *const path_keys[] = { "paths", "separator" };
	static const char *const group_keys[] = { "names" };
	struct artifacts *a = ld->a;
	const yaml_node_t *val[5] = { NULL };
	const yaml_node_t *paths = NULL, *sepn = NULL, *names = NULL;
	const yaml_node_t *type;
	enum artifacts_type ptype = ARTIFACTS_FILE;
	int applies, is_paths = 0, is_group = 0;
	char buf[80];

	if (src->type != YAML_MAPPING_NODE)
		return ld_fail(ld, src, "a source must be a mapping");
	if (ld_keys(ld, src, source_keys, 5, "source key", val) < 0)
		return -1;
	type = val[S_TYPE];
	if (type == NULL)
		return ld_fail(ld, src, "a source has no type");
	if (type->type != YAML_SCALAR_NODE)
		return ld_fail(ld, type, "a source type must be a string");

	applies = def_os != 0;
	if (val[S_OS] != NULL) {
		int r;

		ld->sos.n = 0;
		r = ld_os(ld, val[S_OS], &ld->sos);
		if (r < 0)
			return -1;
		if (ld->sos.n > 0) /* an empty list says nothing, as upstream reads it */
			applies = r;
	}

	if (scalar_is(type, "FILE") || scalar_is(type, "PATH") || scalar_is(type, "DIRECTORY")) {
		is_paths = 1;
		ptype = scalar_is(type, "FILE")   ? ARTIFACTS_FILE
			: scalar_is(type, "PATH") ? ARTIFACTS_PATH
						  : ARTIFACTS_DIRECTORY;
	} else if (scalar_is(type, "ARTIFACT_GROUP")) {
		is_group = 1;
	}

	/* Group members are read whatever the OS: unresolved ones are counted for all. */
	if ((is_paths || is_group) && (applies || is_group)) {
		const yaml_node_t *attr = val[S_ATTRIBUTES];
		const char *const *keys = is_paths ? path_keys : group_keys;
		size_t nkeys = is_paths ? 2 : 1;

		if (attr == NULL)
			return ld_fail(ld, src, "a %s source has no attributes",
				       show(type, buf, sizeof(buf)));
		if (attr->type != YAML_MAPPING_NODE)
			return ld_fail(ld, attr, "attributes must be a mapping");
		for (yaml_node_pair_t *p = attr->data.mapping.pairs.start;
		     p < attr->data.mapping.pairs.top; p++) {
			const yaml_node_t *k = ld_node(ld, p->key, attr), *v;
			int ki;

			if (k == NULL || (v = ld_node(ld, p->value, attr)) == NULL)
				return -1;
			ki = key_index(k, keys, nkeys);
			if (ki < 0)
				return ld_fail(ld, k, "unknown attribute '%s' of a %s source",
					       show(k, buf, sizeof(buf)),
					       is_paths ? "path" : "group");
			if (!is_paths)
				ki = A_NAMES;
			if ((ki == A_PATHS && paths) || (ki == A_SEPARATOR && sepn) ||
			    (ki == A_NAMES && names))
				return ld_fail(ld, k, "duplicate attribute '%s'", keys[ki % 2]);
			if (ki == A_PATHS)
				paths = v;
			else if (ki == A_SEPARATOR)
				sepn = v;
			else
				names = v;
		}
	}

	if (!applies) {
		a->st.sources_skipped_os++;
	} else if (!is_paths && !is_group) {
		a->st.sources_skipped_type++;
		def->is_linux = 1;
	} else {
		a->st.sources_used++;
		def->is_linux = 1;
	}

	if (is_paths && applies) {
		struct art_strvec pv = { 0 };
		char sep = '/';
		int ret = 0;

		if (paths == NULL)
			return ld_fail(ld, src, "a %s source has no paths",
				       show(type, buf, sizeof(buf)));
		if (sepn != NULL) {
			if (sepn->type != YAML_SCALAR_NODE || sepn->data.scalar.length != 1 ||
			    sepn->data.scalar.value[0] == '\0')
				return ld_fail(ld, sepn, "separator must be one character");
			sep = (char)sepn->data.scalar.value[0];
		}
		if (ld_strings(ld, paths, "paths", "a path", ARTIFACTS_MAX_GLOB_LEN, &pv) < 0) {
			free(pv.v);
			return -1;
		}
		for (size_t i = 0; i < pv.n && ret == 0; i++) {
			const yaml_node_t *pn = yaml_document_get_node(
				ld->doc, paths->data.sequence.items.start[i]);

			ret = ld_compile(ld, pn, pv.v[i], sep, def, ptype);
			if (ret == 0 &&
			    BUF_GROW(ld->globs, ld->nglobs + 1, ld->globs_cap, ld->err) < 0)
				ret = -1;
			if (ret == 0)
				ld->globs[ld->nglobs++] = (struct art_glob){ pv.v[i], ptype };
		}
		free(pv.v);
		return ret;
	}
	if (is_group) {
		struct art_strvec nv = { 0 };
		int ret = 0;

		if (names == NULL)
			return ld_fail(ld, src, "an ARTIFACT_GROUP source has no names");
		if (ld_strings(ld, names, "names", "a member name", ART_MAX_NAME_LEN, &nv) < 0) {
			free(nv.v);
			return -1;
		}
		for (size_t i = 0; i < nv.n && ret == 0; i++) {
			ret = BUF_GROW(a->refs, a->nrefs + 1, a->refs_cap, ld->err);
			if (ret == 0 && applies)
				ret = art_strvec_add(&ld->members, nv.v[i], ld->err);
			if (ret == 0)
				a->refs[a->nrefs++] = (struct art_ref){ nv.v[i], def, applies };
		}
		free(nv.v);
		return ret;
	}
	return 0;
}

enum { K_NAME, K_DOC, K_SOURCES, K_OS, K_URLS, K_ALIASES, K_CONDITIONS, K_LABELS, K_PROVIDES };
static const char *const top_keys[] = { "name",    "doc",        "sources", "supported_os", "urls",
					"aliases", "conditions", "labels",  "provides" };

static int
ld_definition(struct loader *ld, const yaml_node_t *root)
{
	struct artifacts *a = ld->a;
	const yaml_node_t *val[9] = { NULL };
	const yaml_node_t *sources;
	struct art_def *def;
	int def_os = -1;
	char buf[80];

	if (is_null(root))
		return 0; /* an empty document, e.g. after a trailing '---' */
	if (root->type != YAML_MAPPING_NODE)
		return ld_fail(ld, root, "a definition must be a mapping");
	if (a->ndefs >= ARTIFACTS_MAX_DEFINITIONS)
		return dt_fail(ld->err, DT_ENOMEM, "'%s': more than %u artifact definitions",
			       ld->file, ARTIFACTS_MAX_DEFINITIONS);
	if (ld_keys(ld, root, top_keys, 9, "key", val) < 0)
		return -1;
	if (val[K_NAME] == NULL)
		return ld_fail(ld, root, "a definition has no name");
	if (val[K_DOC] == NULL || val[K_SOURCES] == NULL)
		return ld_fail(ld, root, "definition '%s' has no %s",
			       show(val[K_NAME], buf, sizeof(buf)),
			       val[K_DOC] == NULL ? "doc" : "sources");

	def = arena_alloc(&a->arena, sizeof(*def), ld->err);
	if (def == NULL)
		return -1;
	memset(def, 0, sizeof(*def));
	def->file = ld->file;
	def->line = root->start_mark.line + 1;
	def->seq = a->ndefs;
	ld->os.n = ld->aliases.n = ld->members.n = 0;
	ld->nglobs = 0;

	def->name = ld_string(ld, val[K_NAME], "name", ART_MAX_NAME_LEN);
	if (def->name == NULL)
		return -1;
	if (def->name[0] == '\0')
		return ld_fail(ld, val[K_NAME], "name is empty");
	def->doc = ld_string(ld, val[K_DOC], "doc", ART_MAX_DOC_LEN);
	if (def->doc == NULL)
		return -1;
	if (def->doc[0] == '\0')
		return ld_fail(ld, val[K_DOC], "doc of '%s' is empty", def->name);
	if (val[K_OS] != NULL) {
		int r = ld_os(ld, val[K_OS], &ld->os);

		if (r < 0)
			return -1;
		if (ld->os.n > 0)
			def_os = r;
	}
	if (val[K_ALIASES] != NULL && ld_strings(ld, val[K_ALIASES], "aliases", "an alias",
						 ART_MAX_NAME_LEN, &ld->aliases) < 0)
		return -1;
	/* urls, conditions, labels and provides carry nothing we use. */

	sources = val[K_SOURCES];
	if (sources->type != YAML_SEQUENCE_NODE)
		return ld_fail(ld, sources, "sources must be a list");
	if (sources->data.sequence.items.start == sources->data.sequence.items.top)
		return ld_fail(ld, sources, "definition '%s' has no sources", def->name);
	for (yaml_node_item_t *it = sources->data.sequence.items.start;
	     it < sources->data.sequence.items.top; it++) {
		const yaml_node_t *src = ld_node(ld, *it, sources);

		if (src == NULL || ld_source(ld, src, def, def_os) < 0)
			return -1;
	}

	/* The scratch lists become the definition's own, in the arena (memdup of 0 is NULL). */
	def->nos = ld->os.n;
	def->naliases = ld->aliases.n;
	def->nmembers = ld->members.n;
	def->nglobs = ld->nglobs;
	def->os = arena_memdup(&a->arena, ld->os.v, ld->os.n * sizeof(char *), ld->err);
	def->aliases =
		arena_memdup(&a->arena, ld->aliases.v, ld->aliases.n * sizeof(char *), ld->err);
	def->members =
		arena_memdup(&a->arena, ld->members.v, ld->members.n * sizeof(char *), ld->err);
	def->globs = arena_memdup(&a->arena, ld->globs, ld->nglobs * sizeof(*ld->globs), ld->err);
	if ((def->nos && !def->os) || (def->naliases && !def->aliases) ||
	    (def->nmembers && !def->members) || (def->nglobs && !def->globs))
		return -1;
	if (BUF_GROW(a->defs, a->ndefs + 1, a->defs_cap, ld->err) < 0)
		return -1;
	a->defs[a->ndefs++] = def;
	a->st.definitions++;
	if (def->is_linux)
		a->st.linux_definitions++;
	return 0;
}

static int
yaml_fail(const yaml_parser_t *p, const char *file, struct dt_err *err)
{
	if (p->error == YAML_MEMORY_ERROR)
		return dt_fail(err, DT_ENOMEM, "'%s': out of memory reading YAML", file);
	if (p->error == YAML_READER_ERROR)
		return dt_fail(err, DT_EFORMAT, "'%s' offset %zu: %s", file, p->problem_offset,
			       p->problem ? p->problem : "unreadable YAML");
	if (p->context != NULL)
		return dt_fail(err, DT_EFORMAT, "'%s' line %lu: %s %s (line %lu)", file,
			       (unsigned long)p->problem_mark.line + 1,
			       p->problem ? p->problem : "bad YAML", p->context,
			       (unsigned long)p->context_mark.line + 1);
	return dt_fail(err, DT_EFORMAT, "'%s' line %lu: %s", file,
		       (unsigned long)p->problem_mark.line + 1,
		       p->problem ? p->problem : "bad YAML");
}

/*
 * libyaml rejects "key:[" (and ":," ":]" ":{" ":}") inside a flow collection, where PyYAML,
 * which upstream validates with, ends the plain scalar at the ':' and reads a value indicator
 * (upstream's unix_common.yaml has `{paths:['/var/cache/cups/job.cache']}`). When the only
 * complaint is that, at a ':' followed by one of ",[]{}", insert a space after the ':' and
 * look again; the result reads as PyYAML reads the original. Anything else is an error.
 */
static int
yaml_check(const unsigned char *data, size_t len, size_t *fix, const char *file, struct dt_err *err)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	int ret = 0;

	*fix = SIZE_MAX;
	if (!yaml_parser_initialize(&parser))
		return dt_fail(err, DT_ENOMEM, "'%s': cannot set up the YAML parser", file);
	yaml_parser_set_input_string(&parser, data, len);
	for (;;) {
		int end;

		if (!yaml_parser_parse(&parser, &ev)) {
			size_t pos = 0, idx = parser.problem_mark.index;

			if (parser.error == YAML_SCANNER_ERROR && parser.problem &&
			    strcmp(parser.problem, "found unexpected ':'") == 0 &&
			    parser.encoding == YAML_UTF8_ENCODING) {
				/* The mark counts characters; find the byte. */
				if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0)
					pos = 3;
				for (size_t c = 0; c < idx && pos < len; c++) {
					unsigned char b = data[pos];

					pos += b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
				}
				if (pos + 1 < len && data[pos] == ':' &&
				    strchr(",[]{}", data[pos + 1]) != NULL) {
					*fix = pos + 1;
					break;
				}
			}
			ret = yaml_fail(&parser, file, err);
			break;
		}
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (end)
			break;
	}
	yaml_parser_delete(&parser);
	return ret;
}

#define MAX_FLOW_FIXES 16

int
art_load_buffer(struct artifacts *a, const char *file, const void *data, size_t len,
		struct dt_err *err)
{
	struct loader ld = { .a = a, .err = err };
	unsigned char *fixed = NULL; /* owned: data with spaces put in */
	const unsigned char *in = data;
	yaml_parser_t parser;
	int ret = 0;

	if (a->st.files >= ARTIFACTS_MAX_FILES)
		return dt_fail(err, DT_ENOMEM, "more than %u artifact files", ARTIFACTS_MAX_FILES);
	a->st.files++;
	ld.file = arena_strndup(&a->arena, file, strlen(file), err);
	if (ld.file == NULL)
		return -1;
	for (unsigned tries = 0;; tries++) {
		size_t fix;
		unsigned char *p;

		if (yaml_check(in, len, &fix, file, err) < 0) {
			free(fixed);
			return -1;
		}
		if (fix == SIZE_MAX)
			break;
		if (tries == MAX_FLOW_FIXES) {
			free(fixed);
			return dt_fail(err, DT_EFORMAT, "'%s': too many ':' in flow collections",
				       file);
		}
		p = malloc(len + 1);
		if (p == NULL) {
			free(fixed);
			return dt_fail(err, DT_ENOMEM, "'%s': out of memory", file);
		}
		memcpy(p, in, fix);
		p[fix] = ' ';
		memcpy(p + fix + 1, in + fix, len - fix);
		free(fixed);
		in = fixed = p;
		len++;
	}
	if (!yaml_parser_initialize(&parser)) {
		free(fixed);
		return dt_fail(err, DT_ENOMEM, "'%s': cannot set up the YAML parser", file);
	}
	yaml_parser_set_input_string(&parser, in, len);
	for (;;) {
		yaml_document_t doc;
		const yaml_node_t *root;

		if (!yaml_parser_load(&parser, &doc)) {
			ret = yaml_fail(&parser, file, err);
			break;
		}
		root = yaml_document_get_root_node(&doc);
		if (root == NULL) { /* the end of the stream */
			yaml_document_delete(&doc);
			break;
		}
		ld.doc = &doc;
		ret = ld_definition(&ld, root);
		yaml_document_delete(&doc);
		if (ret < 0)
			break;
	}
	yaml_parser_delete(&parser);
	free(fixed);
	free(ld.os.v);
	free(ld.aliases.v);
	free(ld.members.v);
	free(ld.sos.v);
	free(ld.globs);
	return ret;
}
