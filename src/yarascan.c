/* yarascan.c - see yarascan.h. */
#include "yarascan.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <yara.h>

#include "buf.h"
#include "mono.h"
#include "ruledir.h"

#include "banned.h"

struct yarascan {
	YR_RULES *rules; /* owned */
	size_t nrules;
};

/*
 * libyara's yr_initialize()/yr_finalize() keep a plain int count: serialise them so that two
 * threads compiling or freeing rule sets at once cannot lose a count.
 */
static pthread_mutex_t yr_lock = PTHREAD_MUTEX_INITIALIZER;

static int
yr_ref(struct dt_err *err)
{
	int rc;

	pthread_mutex_lock(&yr_lock);
	rc = yr_initialize();
	pthread_mutex_unlock(&yr_lock);
	if (rc != ERROR_SUCCESS)
		return dt_fail(err, rc == ERROR_INSUFFICIENT_MEMORY ? DT_ENOMEM : DT_EIO,
			       "cannot initialise libyara (libyara error %d)", rc);
	return 0;
}

static void
yr_unref(void)
{
	pthread_mutex_lock(&yr_lock);
	yr_finalize();
	pthread_mutex_unlock(&yr_lock);
}

/* libyara has no strerror for scan errors: the few a scan can return, in its own terms. */
static const char *
yr_error_name(int rc)
{
	switch (rc) {
	case ERROR_INSUFFICIENT_MEMORY: return "insufficient memory";
	case ERROR_EXEC_STACK_OVERFLOW: return "condition stack overflow";
	case ERROR_SCAN_TIMEOUT: return "scan timed out";
	case ERROR_TOO_MANY_SCAN_THREADS: return "too many scan threads";
	case ERROR_TOO_MANY_MATCHES: return "too many matches";
	case ERROR_TOO_MANY_RE_FIBERS: return "too many regular expression fibers";
	case ERROR_REGULAR_EXPRESSION_TOO_COMPLEX: return "regular expression too complex";
	case ERROR_COULD_NOT_READ_FILE: return "could not read file";
	case ERROR_INTERNAL_FATAL_ERROR: return "internal fatal error";
	case ERROR_INVALID_MODULE_DATA: return "invalid module data";
	}
	return "scan error";
}

/* Compiling ---------------------------------------------------------------------------------- */

struct compile_ctx {
	YR_COMPILER *compiler; /* borrowed */
	struct dt_err *err;
	const char *cur; /* the file being added, for messages without a file name */
	char **names;    /* owned: namespaces used so far */
	size_t nnames, cap;
	size_t nfiles;
};

static void
compile_ctx_release(struct compile_ctx *cc)
{
	while (cc->nnames > 0)
		free(cc->names[--cc->nnames]);
	free(cc->names);
	cc->names = NULL;
}

/* One rule path being added: its namespace prefix and a scratch buffer. */
struct add_ctx {
	struct compile_ctx *cc;
	const char *base; /* borrowed: the path's last component */
	size_t base_len;
	struct buf ns;
};

static void
compiler_cb(int level, const char *file, int line, const YR_RULE *rule, const char *msg, void *ud)
{
	struct compile_ctx *cc = ud;

	(void)rule;
	/* Warnings (a string that may slow scanning down) are common in public sets: ignored. */
	if (level != YARA_ERROR_LEVEL_ERROR)
		return;
	dt_fail(cc->err, DT_EFORMAT, "bad YARA rule: '%s' line %d: %s",
		file != NULL ? file : cc->cur, line, msg != NULL ? msg : "error");
}

static int
has_rule_ext(const char *name)
{
	size_t n = strlen(name);

	return (n > 4 && strcasecmp(name + n - 4, ".yar") == 0) ||
	       (n > 5 && strcasecmp(name + n - 5, ".yara") == 0);
}

/* Length of name without its last extension; a leading dot does not start one. */
static size_t
stem_len(const char *name, size_t n)
{
	for (size_t i = n; i > 1; i--)
		if (name[i - 1] == '.')
			return i - 1;
	return n;
}

/* Record ns, suffixed "#2", "#3"... until unused; *out is borrowed from cc. */
static int
unique_ns(struct compile_ctx *cc, const char *ns, const char **out)
{
	size_t n = strlen(ns) + 24;
	char *name = malloc(n);

	if (name == NULL)
		return dt_fail(cc->err, DT_ENOMEM, "out of memory");
	snprintf(name, n, "%s", ns);
	for (unsigned k = 2;; k++) {
		size_t i;

		for (i = 0; i < cc->nnames; i++)
			if (strcmp(cc->names[i], name) == 0)
				break;
		if (i == cc->nnames)
			break;
		snprintf(name, n, "%s#%u", ns, k);
	}
	if (BUF_GROW(cc->names, cc->nnames + 1, cc->cap, cc->err) < 0) {
		free(name);
		return -1;
	}
	cc->names[cc->nnames++] = name;
	*out = name;
	return 0;
}

static int
add_rule_file(struct compile_ctx *cc, const char *path, const char *ns)
{
	const char *name = NULL;
	FILE *fp;
	int errors;

	if (++cc->nfiles > YARASCAN_MAX_RULE_FILES)
		return dt_fail(cc->err, DT_EUSAGE, "more than %d YARA rule files",
			       YARASCAN_MAX_RULE_FILES);
	if (unique_ns(cc, ns, &name) < 0)
		return -1;
	fp = fopen(path, "re");
	if (fp == NULL)
		return dt_fail_errno(cc->err, DT_EIO, "cannot open '%s'", path);
	cc->cur = path;
	errors = yr_compiler_add_file(cc->compiler, fp, name, path);
	fclose(fp);
	if (errors > 0)
		/* The callback named file and line; this only covers a silent failure. */
		return dt_fail(cc->err, DT_EFORMAT, "bad YARA rule: '%s'", path);
	return 0;
}

/* ruledir_fn: namespace "DIR/REL" without the extension, or the file's stem for top itself. */
static int
add_found(void *arg, const char *path, const char *rel, struct dt_err *err)
{
	struct add_ctx *ac = arg;
	struct buf *ns = &ac->ns;
	int ret;

	buf_reset(ns);
	if (rel == NULL)
		ret = buf_add(ns, ac->base, stem_len(ac->base, ac->base_len), err);
	else
		ret = buf_printf(ns, err, "%.*s/%s", (int)ac->base_len, ac->base, rel);
	if (ret < 0)
		return -1;
	if (rel != NULL) {
		ns->len = stem_len((char *)ns->data, ns->len);
		ns->data[ns->len] = '\0';
	}
	return add_rule_file(ac->cc, path, (char *)ns->data);
}

static int
add_path(struct compile_ctx *cc, const char *top)
{
	size_t n = strlen(top), b;
	struct add_ctx ac = { .cc = cc };
	size_t before = cc->nfiles;
	int ret;

	if (n == 0)
		return dt_fail(cc->err, DT_EUSAGE, "empty YARA rule path");
	while (n > 1 && top[n - 1] == '/')
		n--;
	for (b = n; b > 0 && top[b - 1] != '/'; b--)
		;
	/* A folder's files are named after its last component ("root" for "/"). */
	ac.base = n - b ? top + b : "root";
	ac.base_len = n - b ? n - b : 4;
	buf_init(&ac.ns, PATH_MAX);
	ret = ruledir_walk(top, has_rule_ext, add_found, &ac, cc->err);
	buf_release(&ac.ns);
	if (ret == 0 && cc->nfiles == before)
		ret = dt_fail(cc->err, DT_EUSAGE, "no YARA rule file (.yar, .yara) under '%s'",
			      top);
	return ret;
}

/* The externals that LOKI/THOR-style public rule sets use, empty until a file sets them. */
static const char *const externals[] = { "filename", "filepath", "extension", "filetype", "owner" };

int
yarascan_compile(const char *const *paths, size_t npaths, struct yarascan **out, size_t *nrules,
		 struct dt_err *err)
{
	struct compile_ctx cc = { .err = err };
	struct yarascan *y = NULL;
	YR_COMPILER *compiler = NULL;
	YR_RULE *rule;
	int rc;

	if (out == NULL || (paths == NULL && npaths > 0))
		return dt_fail(err, DT_EUSAGE, "yarascan_compile: bad arguments");
	*out = NULL;
	if (nrules != NULL)
		*nrules = 0;
	if (npaths == 0)
		return dt_fail(err, DT_EUSAGE, "no YARA rule path given");
	if (yr_ref(err) < 0)
		return -1;
	y = calloc(1, sizeof(*y));
	if (y == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto fail;
	}
	rc = yr_compiler_create(&compiler);
	if (rc != ERROR_SUCCESS) {
		dt_fail(err, DT_ENOMEM, "cannot create a YARA compiler (libyara error %d)", rc);
		goto fail;
	}
	cc.compiler = compiler;
	yr_compiler_set_callback(compiler, compiler_cb, &cc);
	for (size_t i = 0; i < sizeof(externals) / sizeof(externals[0]); i++) {
		rc = yr_compiler_define_string_variable(compiler, externals[i], "");
		if (rc != ERROR_SUCCESS) {
			dt_fail(err, DT_ENOMEM,
				"cannot define YARA external '%s' (libyara error %d)", externals[i],
				rc);
			goto fail;
		}
	}
	for (size_t i = 0; i < npaths; i++) {
		if (paths[i] == NULL) {
			dt_fail(err, DT_EUSAGE, "yarascan_compile: NULL path");
			goto fail;
		}
		if (add_path(&cc, paths[i]) < 0)
			goto fail;
	}
	rc = yr_compiler_get_rules(compiler, &y->rules);
	if (rc != ERROR_SUCCESS) {
		dt_fail(err, rc == ERROR_INSUFFICIENT_MEMORY ? DT_ENOMEM : DT_EFORMAT,
			"cannot build the YARA rules (libyara error %d)", rc);
		goto fail;
	}
	yr_compiler_destroy(compiler);
	compile_ctx_release(&cc);
	yr_rules_foreach(y->rules, rule)
	{
		y->nrules++;
	}
	if (nrules != NULL)
		*nrules = y->nrules;
	*out = y;
	return 0;
fail:
	if (compiler != NULL)
		yr_compiler_destroy(compiler);
	compile_ctx_release(&cc);
	free(y);
	yr_unref();
	return -1;
}

void
yarascan_free(struct yarascan *y)
{
	if (y == NULL)
		return;
	if (y->rules != NULL)
		yr_rules_destroy(y->rules);
	free(y);
	yr_unref();
}

const char *
yarascan_status_name(enum yarascan_status s)
{
	switch (s) {
	case YARASCAN_SCANNED: return "scanned";
	case YARASCAN_TOO_LARGE: return "too large";
	case YARASCAN_TIMEOUT: return "timeout";
	case YARASCAN_UNREADABLE: return "unreadable";
	case YARASCAN_FAILED: return "failed";
	}
	return "unknown";
}

/* Matches as JSON ---------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned c = p[0], cp;
	size_t need;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		need = 2, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		need = 3, cp = c & 0x07;
	else
		return 0;
	if (need >= n)
		return 0;
	for (size_t k = 1; k <= need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF are not UTF-8. */
	if ((need == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 3 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need + 1;
}

/* New: s as a JSON string; bytes that are not UTF-8 become U+FFFD. */
static json_t *
jstr_lossy(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), o = 0;
	json_t *j = json_stringn(s, n);
	char *out;

	if (j != NULL)
		return j;
	if (n > (SIZE_MAX - 1) / 3 || (out = malloc(n * 3 + 1)) == NULL)
		return NULL;
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(p + i, n - i);

		if (l > 0) {
			memcpy(out + o, p + i, l);
			o += l;
			i += l;
		} else {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	j = json_stringn(out, o);
	free(out);
	return j;
}

/* Steals v (also on failure). A repeated key collects its values in an array. */
static int
meta_add(json_t *meta, const char *key, json_t *v)
{
	json_t *k = jstr_lossy(key), *prev, *arr;
	int rc = -1;

	if (k == NULL || v == NULL)
		goto out;
	prev = json_object_get(meta, json_string_value(k));
	if (prev == NULL) {
		rc = json_object_set_new(meta, json_string_value(k), v);
		v = NULL;
	} else if (json_is_array(prev)) {
		/* YARA meta values are never arrays: this one is ours. */
		rc = json_array_append_new(prev, v);
		v = NULL;
	} else if ((arr = json_array()) != NULL) {
		if (json_array_append(arr, prev) == 0 && json_array_append_new(arr, v) == 0) {
			v = NULL;
			rc = json_object_set_new(meta, json_string_value(k), arr);
		} else {
			json_decref(arr);
		}
	}
out:
	json_decref(v);
	json_decref(k);
	return rc;
}

static int
set_new(json_t *obj, const char *key, json_t *v)
{
	return v == NULL ? -1 : json_object_set_new(obj, key, v);
}

/* New: the match object for rule, or NULL when out of memory. */
static json_t *
match_json(YR_SCAN_CONTEXT *yctx, YR_RULE *rule)
{
	json_t *m = json_object(), *tags = json_array(), *meta = json_object();
	json_t *strs = json_array();
	const char *tag;
	YR_META *mt;
	YR_STRING *s;
	size_t nstr = 0;
	int truncated = 0;

	if (m == NULL || tags == NULL || meta == NULL || strs == NULL)
		goto fail;
	yr_rule_tags_foreach(rule, tag)
	{
		if (json_array_append_new(tags, jstr_lossy(tag)) < 0)
			goto fail;
	}
	yr_rule_metas_foreach(rule, mt)
	{
		json_t *v;

		switch (mt->type) {
		case META_TYPE_INTEGER: v = json_integer(mt->integer); break;
		case META_TYPE_BOOLEAN: v = json_boolean(mt->integer); break;
		default: v = jstr_lossy(mt->string != NULL ? mt->string : ""); break;
		}
		if (meta_add(meta, mt->identifier, v) < 0)
			goto fail;
	}
	yr_rule_strings_foreach(rule, s)
	{
		const YR_MATCH *mp = yctx->matches[s->idx].head;

		/*
		 * libyara 4.2 hands out YR_MATCH records at unaligned addresses (its notebook
		 * allocator does not align): copy each to aligned storage rather than dereference
		 * it, which is undefined behaviour (yr_string_matches_foreach does, hence not used
		 * here).
		 */
		while (mp != NULL) {
			YR_MATCH match;
			json_t *sj;

			memcpy(&match, mp, sizeof(match));
			mp = match.next;
			if (match.is_private)
				continue;
			if (nstr == YARASCAN_MAX_STRINGS) {
				truncated = 1;
				break;
			}
			sj = json_object();
			if (sj == NULL || set_new(sj, "id", jstr_lossy(s->identifier)) < 0 ||
			    set_new(sj, "offset", json_integer(match.base + match.offset)) < 0 ||
			    set_new(sj, "length", json_integer(match.match_length)) < 0 ||
			    json_array_append_new(strs, sj) < 0) {
				json_decref(sj);
				goto fail;
			}
			nstr++;
		}
		if (truncated)
			break;
	}
	if (set_new(m, "rule", jstr_lossy(rule->identifier)) < 0 ||
	    set_new(m, "namespace", jstr_lossy(rule->ns->name)) < 0)
		goto fail;
	if (json_object_set_new(m, "tags", tags) < 0) {
		tags = NULL;
		goto fail;
	}
	tags = NULL;
	if (json_object_set_new(m, "meta", meta) < 0) {
		meta = NULL;
		goto fail;
	}
	meta = NULL;
	if (json_object_set_new(m, "strings", strs) < 0) {
		strs = NULL;
		goto fail;
	}
	strs = NULL;
	if (truncated && json_object_set_new(m, "strings_truncated", json_true()) < 0)
		goto fail;
	return m;
fail:
	json_decref(m);
	json_decref(tags);
	json_decref(meta);
	json_decref(strs);
	return NULL;
}

/* Scanning ----------------------------------------------------------------------------------- */

struct scan_ctx {
	const struct yarascan_file *f;
	uint64_t size;
	unsigned char *head; /* owned: block 0, kept for the whole scan (headers, modules) */
	size_t head_len;
	unsigned char *cur; /* owned: YARASCAN_BLOCK_SIZE bytes, the latest other block */
	uint64_t cur_base;
	size_t cur_len;
	int cur_valid;
	YR_MEMORY_BLOCK block;
	uint64_t bytes_read;
	int read_failed;
	uint64_t fail_off;
	int fail_errno; /* errno after a failed read, or 0 */
	int short_read;
	int timed_out;
	double start; /* mono_now() */
	int timeout;
	double deadline; /* mono_now(), or 0 */
	json_t *matches; /* owned: delivered only when the whole scan succeeded */
	int oom;
};

#define BLOCK_STRIDE ((uint64_t)YARASCAN_BLOCK_SIZE - YARASCAN_BLOCK_OVERLAP)

static int
over_time(struct scan_ctx *sc)
{
	double now;

	if (sc->timed_out)
		return 1;
	now = mono_now();
	if (now - sc->start > (double)sc->timeout || (sc->deadline > 0 && now > sc->deadline))
		sc->timed_out = 1;
	return sc->timed_out;
}

/* libyara's own timeout, in whole seconds: the per-file one, or less to meet the deadline. */
static int
yr_timeout(const struct scan_ctx *sc)
{
	double left;
	int t;

	if (sc->deadline <= 0)
		return sc->timeout;
	left = sc->deadline - mono_now();
	t = left < 1 ? 1 : (int)left + ((double)(int)left < left);
	return t < sc->timeout ? t : sc->timeout;
}

/* Fill buf with exactly len bytes at off, or record why not. */
static int
read_exact(struct scan_ctx *sc, uint64_t off, unsigned char *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r;

		errno = 0;
		r = sc->f->read(sc->f->rctx, off + done, buf + done, len - done);
		if (r <= 0 || (size_t)r > len - done) {
			/* A callback that claims more than asked for is as broken as one that
			 * fails. */
			sc->read_failed = 1;
			sc->fail_off = off + done;
			sc->fail_errno = r < 0 ? errno : 0;
			sc->short_read = r == 0;
			return -1;
		}
		done += (size_t)r;
		sc->bytes_read += (uint64_t)r;
	}
	return 0;
}

/*
 * The data of the block that sc->block describes. Block 0 is read once, before the scan. Another
 * block goes to sc->cur; when it follows the block held there (or block 0), the overlap is moved
 * rather than read again. The pointer stays valid until the next fetch of another block; cur is
 * never reallocated during a scan, so a module that kept an older pointer reads stale bytes,
 * never freed memory.
 */
static const uint8_t *
fetch_block(YR_MEMORY_BLOCK *block)
{
	struct scan_ctx *sc = block->context;
	uint64_t base = block->base;
	const unsigned char *prev = NULL;
	size_t prev_len = 0, keep = 0;

	if (base == 0)
		return sc->head;
	if (sc->cur_valid && sc->cur_base == base)
		return sc->cur;
	if (sc->read_failed || over_time(sc))
		return NULL;
	if (base == BLOCK_STRIDE) {
		prev = sc->head;
		prev_len = sc->head_len;
	} else if (sc->cur_valid && sc->cur_base + BLOCK_STRIDE == base) {
		prev = sc->cur;
		prev_len = sc->cur_len;
	}
	if (prev != NULL && prev_len > BLOCK_STRIDE) {
		keep = prev_len - (size_t)BLOCK_STRIDE;
		if (keep > block->size)
			keep = block->size;
		memmove(sc->cur, prev + BLOCK_STRIDE, keep);
	}
	sc->cur_valid = 0;
	if (read_exact(sc, base + keep, sc->cur + keep, block->size - keep) < 0)
		return NULL;
	sc->cur_valid = 1;
	sc->cur_base = base;
	sc->cur_len = block->size;
	return sc->cur;
}

static YR_MEMORY_BLOCK *
first_block(YR_MEMORY_BLOCK_ITERATOR *it)
{
	struct scan_ctx *sc = it->context;

	sc->block.base = 0;
	sc->block.size = sc->head_len;
	return &sc->block;
}

static YR_MEMORY_BLOCK *
next_block(YR_MEMORY_BLOCK_ITERATOR *it)
{
	struct scan_ctx *sc = it->context;
	uint64_t base = sc->block.base + BLOCK_STRIDE;

	if (sc->block.base + sc->block.size >= sc->size)
		return NULL;
	/* Stop early: libyara returns last_error from the scan. */
	if (sc->read_failed) {
		it->last_error = ERROR_COULD_NOT_READ_FILE;
		return NULL;
	}
	if (over_time(sc)) {
		it->last_error = ERROR_SCAN_TIMEOUT;
		return NULL;
	}
	sc->block.base = base;
	sc->block.size = (size_t)(sc->size - base < YARASCAN_BLOCK_SIZE ? sc->size - base
									: YARASCAN_BLOCK_SIZE);
	return &sc->block;
}

static uint64_t
file_size(YR_MEMORY_BLOCK_ITERATOR *it)
{
	return ((struct scan_ctx *)it->context)->size;
}

static int
scan_cb(YR_SCAN_CONTEXT *yctx, int message, void *data, void *ud)
{
	struct scan_ctx *sc = ud;
	json_t *m;

	/* Console-module output, imports and too-many-matches notes need nothing from us. */
	if (message != CALLBACK_MSG_RULE_MATCHING)
		return CALLBACK_CONTINUE;
	m = match_json(yctx, data);
	if (m == NULL || json_array_append_new(sc->matches, m) < 0) {
		sc->oom = 1;
		return CALLBACK_ERROR;
	}
	return json_array_size(sc->matches) >= YARASCAN_MAX_MATCHES ? CALLBACK_ABORT
								    : CALLBACK_CONTINUE;
}

static const char *
file_type(const unsigned char *p, size_t n)
{
	static const struct {
		const char *magic;
		size_t len;
		const char *name;
	} types[] = {
		{ "\x7f"
		  "ELF",
		  4, "ELF" },
		{ "MZ", 2, "EXE" },
		{ "\xfe\xed\xfa\xce", 4, "MACHO" },
		{ "\xfe\xed\xfa\xcf", 4, "MACHO" },
		{ "\xce\xfa\xed\xfe", 4, "MACHO" },
		{ "\xcf\xfa\xed\xfe", 4, "MACHO" },
		{ "PK\x03\x04", 4, "ZIP" },
		{ "\x1f\x8b", 2, "GZIP" },
		{ "BZh", 3, "BZIP2" },
		{ "\xfd"
		  "7zXZ\x00",
		  6, "XZ" },
		{ "7z\xbc\xaf\x27\x1c", 6, "7Z" },
		{ "Rar!\x1a\x07", 6, "RAR" },
		{ "%PDF", 4, "PDF" },
		{ "#!", 2, "SCRIPT" },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (n >= types[i].len && memcmp(p, types[i].magic, types[i].len) == 0)
			return types[i].name;
	return "";
}

static int
set_externals(YR_SCANNER *s, const struct scan_ctx *sc, const char *path)
{
	const char *base = path + strlen(path);
	char ext[32] = "";
	size_t n, e;

	/* An archive member's path is "OUTER!member/path": its name is the member's. */
	while (base > path && base[-1] != '/' && (base[-1] != '!' || !sc->f->member))
		base--;
	n = strlen(base);
	e = stem_len(base, n);
	/* An extension longer than any real one is not one a rule could want: left empty. */
	if (e < n && n - e < sizeof(ext)) {
		for (size_t i = e; i < n; i++) {
			char c = base[i];
			ext[i - e] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
		}
		ext[n - e] = '\0';
	}
	if (yr_scanner_define_string_variable(s, "filename", base) != ERROR_SUCCESS ||
	    yr_scanner_define_string_variable(s, "filepath", path) != ERROR_SUCCESS ||
	    yr_scanner_define_string_variable(s, "extension", ext) != ERROR_SUCCESS ||
	    yr_scanner_define_string_variable(s, "filetype", file_type(sc->head, sc->head_len)) !=
		    ERROR_SUCCESS ||
	    yr_scanner_define_string_variable(s, "owner", sc->f->owner ? sc->f->owner : "") !=
		    ERROR_SUCCESS)
		return -1;
	return 0;
}

static void
read_failure(const struct scan_ctx *sc, const char *path, struct dt_err *err)
{
	if (sc->short_read) {
		dt_fail(err, DT_EIO,
			"cannot read '%s' at offset %llu: content ends before %llu bytes", path,
			(unsigned long long)sc->fail_off, (unsigned long long)sc->size);
	} else if (sc->fail_errno != 0) {
		errno = sc->fail_errno;
		dt_fail_errno(err, DT_EIO, "cannot read '%s' at offset %llu", path,
			      (unsigned long long)sc->fail_off);
	} else {
		dt_fail(err, DT_EIO, "cannot read '%s' at offset %llu", path,
			(unsigned long long)sc->fail_off);
	}
}

struct yarascan_scanner {
	struct yarascan *y; /* borrowed */
	YR_SCANNER *s;      /* owned */
};

int
yarascan_scanner_new(struct yarascan *y, struct yarascan_scanner **out, struct dt_err *err)
{
	struct yarascan_scanner *s;
	int rc;

	if (y == NULL || out == NULL)
		return dt_fail(err, DT_EUSAGE, "yarascan_scanner_new: bad arguments");
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	rc = yr_scanner_create(y->rules, &s->s);
	if (rc != ERROR_SUCCESS) {
		free(s);
		return dt_fail(err, DT_ENOMEM, "cannot create a YARA scanner (libyara error %d)",
			       rc);
	}
	s->y = y;
	*out = s;
	return 0;
}

void
yarascan_scanner_free(struct yarascan_scanner *s)
{
	if (s == NULL)
		return;
	yr_scanner_destroy(s->s);
	free(s);
}

/*
 * yarascan_file() with libyara scanner given (reused: every setting is made again for f), or
 * with a new one (given NULL) created once block 0 was read and destroyed at the end.
 */
static int
scan_one(struct yarascan *y, YR_SCANNER *given, const struct yarascan_opts *o,
	 const struct yarascan_file *f, void (*on_match)(void *ctx, json_t *match), void *ctx,
	 enum yarascan_status *status, uint64_t *bytes_read, struct dt_err *err)
{
	struct scan_ctx sc;
	YR_MEMORY_BLOCK_ITERATOR it;
	YR_SCANNER *scanner = given;
	uint64_t max_size = YARASCAN_DEFAULT_MAX_SIZE;
	char *path = NULL;
	size_t plen;
	int rc, ret = -1;

	if (bytes_read != NULL)
		*bytes_read = 0;
	if (y == NULL || f == NULL || f->read == NULL || status == NULL ||
	    (f->path == NULL && f->path_len > 0))
		return dt_fail(err, DT_EUSAGE, "yarascan_file: bad arguments");
	memset(&sc, 0, sizeof(sc));
	memset(&it, 0, sizeof(it));
	sc.f = f;
	sc.size = f->size;
	sc.timeout = YARASCAN_DEFAULT_TIMEOUT;
	if (o != NULL && o->max_size > 0)
		max_size = o->max_size;
	if (o != NULL && o->timeout > 0)
		sc.timeout = o->timeout;
	if (o != NULL && o->deadline > 0)
		sc.deadline = o->deadline;
	sc.start = mono_now();

	if (f->size > max_size) {
		*status = YARASCAN_TOO_LARGE;
		return 0;
	}
	if (over_time(&sc)) {
		*status = YARASCAN_TIMEOUT;
		return 0;
	}
	/* Externals are C strings: a path cut at a NUL byte is the best they can hold. */
	plen = f->path_len;
	if (plen > 0 && memchr(f->path, '\0', plen) != NULL)
		plen = strlen(f->path);
	if ((path = malloc(plen + 1)) == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (plen > 0)
		memcpy(path, f->path, plen);
	path[plen] = '\0';

	sc.head_len = (size_t)(f->size < YARASCAN_BLOCK_SIZE ? f->size : YARASCAN_BLOCK_SIZE);
	sc.head = malloc(sc.head_len ? sc.head_len : 1);
	if (sc.head == NULL ||
	    (f->size > YARASCAN_BLOCK_SIZE && (sc.cur = malloc(YARASCAN_BLOCK_SIZE)) == NULL) ||
	    (sc.matches = json_array()) == NULL) {
		dt_fail(err, DT_ENOMEM, "out of memory");
		goto out;
	}
	/* Block 0 first: filetype comes from it, and it stays for uint32(0) and the modules. */
	if (read_exact(&sc, 0, sc.head, sc.head_len) < 0) {
		*status = YARASCAN_UNREADABLE;
		read_failure(&sc, path, err);
		ret = 0;
		goto out;
	}

	if (scanner == NULL && (rc = yr_scanner_create(y->rules, &scanner)) != ERROR_SUCCESS) {
		scanner = NULL;
		dt_fail(err, DT_ENOMEM, "cannot create a YARA scanner (libyara error %d)", rc);
		goto out;
	}
	if (set_externals(scanner, &sc, path) < 0) {
		dt_fail(err, DT_ENOMEM, "cannot set the YARA externals for '%s'", path);
		goto out;
	}
	yr_scanner_set_callback(scanner, scan_cb, &sc);
	yr_scanner_set_timeout(scanner, yr_timeout(&sc));
	/* Our blocks are heap memory, not a mapping: no SIGBUS to catch, no signal handlers. */
	yr_scanner_set_flags(scanner, SCAN_FLAGS_NO_TRYCATCH | SCAN_FLAGS_REPORT_RULES_MATCHING);

	sc.block.context = &sc;
	sc.block.fetch_data = fetch_block;
	it.context = &sc;
	it.first = first_block;
	it.next = next_block;
	it.file_size = file_size;
	it.last_error = ERROR_SUCCESS;
	rc = yr_scanner_scan_mem_blocks(scanner, &it);

	if (sc.oom || rc == ERROR_INSUFFICIENT_MEMORY || rc == ERROR_CALLBACK_ERROR) {
		dt_fail(err, DT_ENOMEM, "out of memory while scanning '%s'", path);
		goto out;
	}
	if (rc == ERROR_TOO_MANY_SCAN_THREADS) {
		dt_fail(err, DT_EUSAGE, "more than %d YARA scans at once", YR_MAX_THREADS);
		goto out;
	}
	ret = 0;
	if (sc.timed_out || rc == ERROR_SCAN_TIMEOUT) {
		*status = YARASCAN_TIMEOUT;
	} else if (sc.read_failed || rc == ERROR_COULD_NOT_READ_FILE) {
		/* Also a failed read while conditions ran: libyara saw it as undefined data. */
		*status = YARASCAN_UNREADABLE;
		read_failure(&sc, path, err);
	} else if (rc != ERROR_SUCCESS) {
		*status = YARASCAN_FAILED;
		dt_fail(err, DT_EFORMAT, "YARA gave up on '%s': %s (libyara error %d)", path,
			yr_error_name(rc), rc);
	} else {
		*status = YARASCAN_SCANNED;
		for (size_t i = 0; on_match != NULL && i < json_array_size(sc.matches); i++)
			on_match(ctx, json_incref(json_array_get(sc.matches, i)));
	}
out:
	if (bytes_read != NULL)
		*bytes_read = sc.bytes_read;
	if (scanner != NULL && scanner != given)
		yr_scanner_destroy(scanner);
	json_decref(sc.matches);
	free(sc.head);
	free(sc.cur);
	free(path);
	return ret;
}

int
yarascan_file(struct yarascan *y, const struct yarascan_opts *o, const struct yarascan_file *f,
	      void (*on_match)(void *ctx, json_t *match), void *ctx, enum yarascan_status *status,
	      uint64_t *bytes_read, struct dt_err *err)
{
	return scan_one(y, NULL, o, f, on_match, ctx, status, bytes_read, err);
}

int
yarascan_scan(struct yarascan_scanner *s, const struct yarascan_opts *o,
	      const struct yarascan_file *f, void (*on_match)(void *ctx, json_t *match), void *ctx,
	      enum yarascan_status *status, uint64_t *bytes_read, struct dt_err *err)
{
	if (s == NULL) {
		if (bytes_read != NULL)
			*bytes_read = 0;
		return dt_fail(err, DT_EUSAGE, "yarascan_scan: bad arguments");
	}
	return scan_one(s->y, s->s, o, f, on_match, ctx, status, bytes_read, err);
}
