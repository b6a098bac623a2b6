/* events.c - see events.h and docs/events.md. */
#include "events.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cblk.h"
#include "walk.h"

#include "banned.h"

size_t
events_utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int
events_set_path(json_t *obj, const char *key, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, valid = 1;
	char *lossy, *b64, bkey[64];
	size_t w = 0;

	for (i = 0; i < len; i++) {
		size_t k = p[i] ? events_utf8_seq(p + i, len - i) : 0;
		if (k == 0) {
			valid = 0;
			break;
		}
		i += k - 1;
	}
	if (valid)
		return json_object_set_new(obj, key, json_stringn(s, len));
	/* Lossy text for people, exact bytes for tools. */
	lossy = malloc(len * 3 + 1);
	b64 = malloc(4 * ((len + 2) / 3) + 1);
	if (lossy == NULL || b64 == NULL) {
		free(lossy);
		free(b64);
		return -1;
	}
	for (i = 0; i < len;) {
		size_t k = p[i] ? events_utf8_seq(p + i, len - i) : 0;
		if (k == 0) {
			memcpy(lossy + w, "\xef\xbf\xbd", 3); /* U+FFFD */
			w += 3;
			i++;
		} else {
			memcpy(lossy + w, p + i, k);
			w += k;
			i += k;
		}
	}
	EVP_EncodeBlock((unsigned char *)b64, p, (int)len);
	snprintf(bkey, sizeof(bkey), "%s_bytes", key);
	json_object_set_new(obj, key, json_stringn(lossy, w));
	json_object_set_new(obj, bkey, json_string(b64));
	free(lossy);
	free(b64);
	return 0;
}

static void
set_time(json_t *o, const char *key, struct htree_time t)
{
	char buf[40];

	if (t.s == HTREE_NO_TIME) {
		json_object_set_new(o, key, json_null());
		return;
	}
	htree_format_time(t, buf);
	json_object_set_new(o, key, json_string(buf));
}

/* The fields of one entry, without "fs" and "path" (the caller decides those keys). */
static void
entry_body(json_t *o, const struct htree_entry *e)
{
	char mode[8], hex[65];

	snprintf(mode, sizeof(mode), "%04o", e->mode & 07777);
	json_object_set_new(o, "type", json_string(htree_type_name(e->type)));
	json_object_set_new(o, "size", json_integer((json_int_t)e->size));
	json_object_set_new(o, "mode", json_string(mode));
	json_object_set_new(o, "uid", json_integer(e->uid));
	json_object_set_new(o, "gid", json_integer(e->gid));
	json_object_set_new(o, "inode", json_integer((json_int_t)e->inode));
	json_object_set_new(o, "nlink", json_integer(e->nlink));
	set_time(o, "mtime", htree_time_of(e, HTREE_MTIME));
	set_time(o, "atime", htree_time_of(e, HTREE_ATIME));
	set_time(o, "ctime", htree_time_of(e, HTREE_CTIME));
	set_time(o, "crtime", htree_time_of(e, HTREE_CRTIME));
	if (e->type == HTREE_REG) {
		if ((e->flags & HTREE_F_HASHED) && (e->flags & HTREE_F_SPARSE)) {
			/* Not sha256sum's value: never under that name (docs/events.md). */
			htree_hex(e->sha256, 32, hex);
			json_object_set_new(o, "sha256", json_null());
			json_object_set_new(o, "sparse_sha256", json_string(hex));
		} else if (e->flags & HTREE_F_HASHED) {
			htree_hex(e->sha256, 32, hex);
			json_object_set_new(o, "sha256", json_string(hex));
		} else {
			json_object_set_new(o, "sha256", json_null());
		}
	}
	if (e->type == HTREE_LNK) {
		if (e->link)
			events_set_path(o, "link_target", e->link, e->link_len);
		else
			json_object_set_new(o, "link_target", json_null());
	}
}

json_t *
events_entry_fields(const char *fs, const struct htree_entry *e)
{
	json_t *o = json_object();

	json_object_set_new(o, "event", json_string("file"));
	json_object_set_new(o, "fs", json_string(fs));
	events_set_path(o, "path", e->path, e->path_len);
	entry_body(o, e);
	if (e->flags & HTREE_F_DELETED)
		json_object_set_new(o, "deleted_entry", json_true());
	return o;
}

json_t *
events_file(const struct diff_change *c)
{
	const struct htree_entry *e = c->e ? c->e : c->gold;
	json_t *o = json_object(), *arr;

	json_object_set_new(o, "event", json_string("file"));
	json_object_set_new(o, "fs", json_string(c->fs));
	json_object_set_new(o, "change", json_string(diff_class_name(c->cls)));
	events_set_path(o, "path", e->path, e->path_len);
	if (c->cls == DIFF_RENAMED)
		events_set_path(o, "old_path", c->gold->path, c->gold->path_len);
	entry_body(o, e);
	if (c->e && c->gold) {
		json_t *g = json_object();
		entry_body(g, c->gold);
		json_object_set_new(o, "gold", g);
	}
	arr = json_array();
	for (unsigned f = 1; f < (1u << DIFF_NFIELDS); f <<= 1)
		if (c->fields & f)
			/* Content compared as sparse-sha256 on both sides is named so. */
			json_array_append_new(
				arr, json_string(f == DIFF_FIELD_SHA256 && c->e && c->gold &&
								 (c->e->flags & c->gold->flags &
								  HTREE_F_SPARSE)
							 ? "sparse_sha256"
							 : diff_field_name(f)));
	json_object_set_new(o, "changed", arr);
	arr = json_array();
	for (unsigned f = 1; f < (1u << DIFF_NFLAGS); f <<= 1)
		if (c->flags & f)
			json_array_append_new(arr, json_string(diff_flag_name(f)));
	json_object_set_new(o, "flags", arr);
	return o;
}

json_t *
events_error(const char *fs, const char *path, size_t path_len, const char *msg)
{
	json_t *o = json_object();

	json_object_set_new(o, "event", json_string("error"));
	json_object_set_new(o, "fs", fs ? json_string(fs) : json_null());
	if (path)
		events_set_path(o, "path", path, path_len);
	events_set_path(o, "message", msg, strlen(msg));
	return o;
}

int
sink_emit(struct sink *s, json_t *obj, struct dt_err *err)
{
	int rc = 0;

	if (obj == NULL)
		return dt_fail(err, DT_ENOMEM, "out of memory");
	if (s->failed) {
		json_decref(obj);
		return -1;
	}
	if (json_dumpf(obj, s->fp, JSON_COMPACT) != 0 || fputc('\n', s->fp) == EOF) {
		s->failed = 1;
		rc = dt_fail_errno(err, DT_EIO, "cannot write events");
	}
	json_decref(obj);
	return rc;
}

/* Whole seconds of time k of e as mactime reads them: 0 when absent. */
static long long
secs(const struct htree_entry *e, enum htree_time_kind k)
{
	return e->time_s[k] == HTREE_NO_TIME ? 0 : (long long)e->time_s[k];
}

/* The 10-character ls-style mode after TSK's type letters ("r/rrw-r--r--"). */
static void
mode_string(const struct htree_entry *e, char out[16])
{
	static const char types[] = "-rdlcbps-";
	const char *perm = "rwxrwxrwx";
	uint32_t m = e->mode;
	char t = types[e->type <= HTREE_SOCK ? e->type : 0];

	out[0] = t;
	out[1] = '/';
	out[2] = t;
	for (int i = 0; i < 9; i++)
		out[3 + i] = (m & (0400u >> i)) ? perm[i] : '-';
	if (m & 04000)
		out[5] = (m & 0100) ? 's' : 'S';
	if (m & 02000)
		out[8] = (m & 0010) ? 's' : 'S';
	if (m & 01000)
		out[11] = (m & 0001) ? 't' : 'T';
	out[12] = '\0';
}

/* mactime percent-decodes every field: '|', '%' and control bytes are written as %XX. */
static void
put_escaped(FILE *fp, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '|' || c == '%' || c < 0x20 || c == 0x7f)
			fprintf(fp, "%%%02X", c);
		else
			fputc(c, fp);
	}
}

void
events_body_line(FILE *fp, const char *prefix, const char *fs, const struct htree_entry *e,
		 const char *note)
{
	char mode[16];

	mode_string(e, mode);
	fputs("0|", fp);
	if (prefix) {
		/* The path starts with '/': "/mnt/ev/" must not give "/mnt/ev//etc". */
		size_t n = strlen(prefix);
		while (n > 0 && prefix[n - 1] == '/')
			n--;
		put_escaped(fp, prefix, n);
		if (n == 0 && fs == NULL && e->path_len == 1)
			fputc('/', fp); /* prefix "/" and the root itself */
	}
	if (fs) {
		fputc('/', fp);
		put_escaped(fp, fs, strlen(fs));
	}
	if (!(e->path_len == 1 && (prefix || fs)))
		put_escaped(fp, e->path, e->path_len);
	if (e->type == HTREE_LNK && e->link) {
		fputs(" -> ", fp);
		put_escaped(fp, e->link, e->link_len);
	}
	if (e->flags & HTREE_F_DELETED)
		fputs(" (deleted)", fp);
	if (note) {
		fputs(" (", fp);
		put_escaped(fp, note, strlen(note));
		fputc(')', fp);
	}
	fprintf(fp, "|%llu|%s|%u|%u|%llu|%lld|%lld|%lld|%lld\n", (unsigned long long)e->inode, mode,
		e->uid, e->gid, (unsigned long long)e->size, secs(e, HTREE_ATIME),
		secs(e, HTREE_MTIME), secs(e, HTREE_CTIME), secs(e, HTREE_CRTIME));
}

static void
ts_time(json_t *o, struct htree_time t, const char *desc)
{
	char buf[64], full[80];
	/* µs fit in int64 for every time the tree holds (HTREE_TIME_MAX is 2.5e17 µs). */
	int64_t us = t.s * 1000000 + t.ns / 1000;

	htree_format_time(t, buf); /* ...T03:17:00.123456789Z */
	if (strlen(buf) >= 27)
		snprintf(full, sizeof(full), "%.26s+00:00", buf);
	else
		snprintf(full, sizeof(full), "1970-01-01T00:00:00.000000+00:00");
	json_object_set_new(o, "datetime", json_string(full));
	json_object_set_new(o, "timestamp", json_integer((json_int_t)us));
	json_object_set_new(o, "timestamp_desc", json_string(desc));
}

static json_t *
ts_base(const json_t *ev, const char *data_type, const char *event_type, const char *message)
{
	json_t *o = json_object();

	json_object_set_new(o, "message", json_string(message));
	json_object_set_new(o, "data_type", json_string(data_type));
	json_object_set_new(o, "event_type", json_string(event_type));
	json_object_set(o, "fs", json_object_get(ev, "fs"));
	json_object_set(o, "path", json_object_get(ev, "path"));
	if (json_object_get(ev, "path_bytes"))
		json_object_set(o, "path_bytes", json_object_get(ev, "path_bytes"));
	return o;
}

static void
join_strings(const json_t *arr, char *out, size_t n, const char *sep)
{
	size_t i;
	json_t *v;

	out[0] = '\0';
	json_array_foreach(arr, i, v)
	{
		const char *s = json_string_value(v);
		if (!s)
			continue;
		if (out[0])
			strncat(out, sep, n - strlen(out) - 1);
		strncat(out, s, n - strlen(out) - 1);
	}
}

/* The Timesketch events of a file event: one for each of its times. */
static void
ts_file(json_t *out, const json_t *ev, const struct htree_entry *e, const char *path)
{
	char msg[1200], list[400];
	const char *change = json_string_value(json_object_get(ev, "change"));
	const char *old = json_string_value(json_object_get(ev, "old_path"));
	static const char *const descs[] = { "Content Modification Time", "Last Access Time",
					     "Metadata Modification Time", "Creation Time" };
	static const enum htree_time_kind kinds[] = { HTREE_MTIME, HTREE_ATIME, HTREE_CTIME,
						      HTREE_CRTIME };
	char et[64];

	join_strings(json_object_get(ev, "flags"), list, sizeof(list), ",");
	snprintf(msg, sizeof(msg), "%s %s %s:%s%s%s%s%s%s", change ? change : "",
		 htree_type_name(e->type), json_string_value(json_object_get(ev, "fs")), path,
		 old ? " (was " : "", old ? old : "", old ? ")" : "", list[0] ? " [" : "",
		 list[0] ? list : "");
	if (list[0])
		strncat(msg, "]", sizeof(msg) - strlen(msg) - 1);
	snprintf(et, sizeof(et), "file_%s", change ? change : "changed");
	for (int k = 0; k < 4; k++) {
		json_t *o, *tags;
		struct htree_time t = htree_time_of(e, kinds[k]);
		if (t.s == HTREE_NO_TIME)
			continue;
		o = ts_base(ev, "fs:stat", et, msg);
		ts_time(o, t, descs[k]);
		json_object_set(o, "change", json_object_get(ev, "change"));
		json_object_set(o, "flags", json_object_get(ev, "flags"));
		for (const char *const *f =
			     (const char *const[]){ "old_path", "type", "size", "mode", "uid",
						    "gid", "inode", "sha256", "sparse_sha256",
						    "link_target", "artifacts", "provenance",
						    NULL };
		     *f; f++)
			if (json_object_get(ev, *f))
				json_object_set(o, *f, json_object_get(ev, *f));
		if (json_object_get(json_object_get(ev, "gold"), "sha256"))
			json_object_set(o, "baseline_sha256",
					json_object_get(json_object_get(ev, "gold"), "sha256"));
		tags = json_pack("[s,s]", "deltair", change ? change : "changed");
		if (json_object_get(ev, "provenance"))
			json_array_append_new(
				tags,
				json_string(json_is_true(json_object_get(
						    json_object_get(ev, "provenance"), "explained"))
						    ? "explained"
						    : "unexplained"));
		json_object_set_new(o, "tag", tags);
		json_array_append_new(out, o);
	}
}

/* The Timesketch event of a yara event, at the file's mtime. */
static void
ts_yara(json_t *out, const json_t *ev, struct htree_time file_mtime, const char *path)
{
	char msg[1200], list[400];
	const char *rule = json_string_value(json_object_get(ev, "rule"));
	json_t *o, *strs = json_array(), *s;
	size_t i;

	join_strings(json_object_get(ev, "tags"), list, sizeof(list), ",");
	snprintf(msg, sizeof(msg), "YARA match %s%s%s%s in %s", rule ? rule : "",
		 list[0] ? " [" : "", list, list[0] ? "]" : "", path);
	o = ts_base(ev, "yara:match", "yara_match", msg);
	ts_time(o, file_mtime, "Content Modification Time");
	json_object_set(o, "rule", json_object_get(ev, "rule"));
	json_object_set(o, "namespace", json_object_get(ev, "namespace"));
	json_object_set(o, "rule_tags", json_object_get(ev, "tags"));
	json_object_set(o, "meta", json_object_get(ev, "meta"));
	if (json_object_get(ev, "sha256"))
		json_object_set(o, "sha256", json_object_get(ev, "sha256"));
	json_array_foreach(json_object_get(ev, "strings"), i, s)
	{
		char b[160];
		snprintf(b, sizeof(b), "%s:0x%llx",
			 json_string_value(json_object_get(s, "id")) ?: "",
			 (unsigned long long)json_integer_value(json_object_get(s, "offset")));
		json_array_append_new(strs, json_string(b));
	}
	json_object_set_new(o, "strings", strs);
	json_object_set_new(o, "tag", json_pack("[s]", "yara"));
	json_array_append_new(out, o);
}

/* The Timesketch event of a row event, at the file's mtime. */
static void
ts_row(json_t *out, const json_t *ev, struct htree_time file_mtime, const char *path)
{
	static const char *const reserved[] = { "message",   "datetime",
						"timestamp", "timestamp_desc",
						"data_type", "event_type",
						"path",      "fs",
						"tag",       NULL };
	char msg[1200];
	const char *table = json_string_value(json_object_get(ev, "table"));
	const char *action = json_string_value(json_object_get(ev, "action"));
	json_t *cols = json_object_get(ev, "columns"), *o, *v;
	const char *k;
	char dt[96];
	size_t used = 0;

	msg[0] = '\0';
	used = (size_t)snprintf(msg, sizeof(msg), "%s %s row in %s:", action ? action : "",
				table ? table : "", path);
	json_object_foreach(cols, k, v)
	{
		const char *sv = json_string_value(v);
		if (sv && *sv && used < sizeof(msg) - 1)
			used += (size_t)snprintf(msg + used, sizeof(msg) - used, " %s=%s", k, sv);
	}
	snprintf(dt, sizeof(dt), "config:%s", table ? table : "");
	o = ts_base(ev, dt,
		    action && strcmp(action, "removed") == 0 ? "config_entry_removed"
							     : "config_entry_added",
		    msg);
	ts_time(o, file_mtime, "Content Modification Time");
	json_object_set(o, "osquery_table", json_object_get(ev, "table"));
	json_object_set(o, "action", json_object_get(ev, "action"));
	json_object_foreach(cols, k, v)
	{
		int clash = 0;
		char key[128];
		for (const char *const *r = reserved; *r; r++)
			clash |= strcmp(*r, k) == 0;
		snprintf(key, sizeof(key), "%s%s", clash ? "column_" : "", k);
		json_object_set(o, key, v);
	}
	json_object_set_new(o, "tag", json_pack("[s,s]", "deltair", "config"));
	json_array_append_new(out, o);
}

json_t *
events_timesketch(const json_t *ev, const struct htree_entry *e, struct htree_time file_mtime)
{
	const char *kind = json_string_value(json_object_get(ev, "event"));
	const char *path = json_string_value(json_object_get(ev, "path"));
	json_t *out = json_array();

	if (kind == NULL || path == NULL)
		return out;
	if (strcmp(kind, "file") == 0 && e)
		ts_file(out, ev, e, path);
	else if (file_mtime.s != HTREE_NO_TIME && strcmp(kind, "yara") == 0)
		ts_yara(out, ev, file_mtime, path);
	else if (file_mtime.s != HTREE_NO_TIME && strcmp(kind, "row") == 0)
		ts_row(out, ev, file_mtime, path);
	return out;
}

json_t *
events_tree_identity(const struct htree *t, const char *path)
{
	const struct htree_info *in = htree_info(t);
	char hex[65] = "";
	json_t *o = json_object();

	if (in->has_digest)
		htree_hex(in->digest, 32, hex);
	if (path)
		json_object_set_new(o, "path", json_string(path));
	if (hex[0])
		json_object_set_new(o, "digest", json_string(hex));
	json_object_set_new(o, "image", json_string(in->image ? in->image : ""));
	json_object_set_new(o, "format", json_string(in->format ? in->format : ""));
	json_object_set_new(o, "layout", json_string(in->layout ? in->layout : ""));
	json_object_set_new(o, "size", json_integer((json_int_t)in->image_size));
	if (in->created[0])
		json_object_set_new(o, "created", json_string(in->created));
	return o;
}

json_t *
events_summary(const struct diff_stats *ds, uint64_t bytes_hashed, uint64_t errors,
	       uint64_t read_errors, double elapsed, const struct htree *gold,
	       const char *gold_path, const struct htree *cur, const char *cur_path)
{
	json_t *sum = json_object(), *counts = json_object();
	uint64_t total = 0;

	for (int k = 0; k < DIFF_NCLASSES; k++) {
		json_object_set_new(counts, diff_class_name(k),
				    json_integer((json_int_t)ds->count[k]));
		total += ds->count[k];
	}
	json_object_set_new(sum, "event", json_string("summary"));
	json_object_set_new(sum, "fs", json_string("*"));
	json_object_set_new(sum, "counts", counts);
	json_object_set_new(sum, "delta", json_integer((json_int_t)total));
	json_object_set_new(sum, "entries", json_integer((json_int_t)ds->entries));
	json_object_set_new(sum, "entries_unchanged",
			    json_integer((json_int_t)ds->skipped_entries));
	json_object_set_new(sum, "bytes_hashed", json_integer((json_int_t)bytes_hashed));
	json_object_set_new(sum, "bytes_unchanged", json_integer((json_int_t)ds->skipped_bytes));
	json_object_set_new(sum, "errors", json_integer((json_int_t)errors));
	json_object_set_new(sum, "complete", json_boolean(diff_complete(ds, read_errors)));
	json_object_set_new(sum, "unread",
			    json_pack("{s:I, s:I}", "files", (json_int_t)ds->unread, "read_errors",
				      (json_int_t)read_errors));
	json_object_set_new(sum, "elapsed", json_real(elapsed));
	json_object_set_new(sum, "baseline", events_tree_identity(gold, gold_path));
	json_object_set_new(sum, "evidence", events_tree_identity(cur, cur_path));
	json_object_set_new(sum, "tool", json_string("deltair " DELTAIR_VERSION));
	return sum;
}

void
events_summary_reads(json_t *sum, const struct walk_stats *ws, const struct cblk *changed,
		     const char *changed_from, int pruned, int metadata_trusted)
{
	json_t *cb = json_null(), *tool = json_incref(json_object_get(sum, "tool"));

	json_object_del(sum, "tool"); /* "tool" stays the last key */
	json_object_set_new(sum, "bytes_read", json_integer((json_int_t)ws->bytes_read));
	json_object_set_new(sum, "bytes_reused", json_integer((json_int_t)ws->bytes_reused));
	json_object_set_new(sum, "files_reused", json_integer((json_int_t)ws->files_reused));
	if (changed)
		cb = json_pack("{s:s, s:I, s:I, s:b}", "from", changed_from ? changed_from : "",
			       "blocks", (json_int_t)cblk_count(changed), "block_size",
			       (json_int_t)cblk_block_size(changed), "pruned", pruned);
	json_object_set_new(sum, "changed_blocks", cb);
	json_object_set_new(sum, "metadata_trusted", json_boolean(metadata_trusted));
	if (tool)
		json_object_set_new(sum, "tool", tool);
}
