/* events.c - see events.h and docs/events.md. */
#include "events.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "banned.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
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
		size_t k = p[i] ? utf8_seq(p + i, len - i) : 0;
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
		size_t k = p[i] ? utf8_seq(p + i, len - i) : 0;
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
set_time(json_t *o, const char *key, int64_t ns)
{
	char buf[40];

	if (ns == HTREE_NO_TIME) {
		json_object_set_new(o, key, json_null());
		return;
	}
	htree_format_time(ns, buf);
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
	set_time(o, "mtime", e->mtime);
	set_time(o, "atime", e->atime);
	set_time(o, "ctime", e->ctime);
	set_time(o, "crtime", e->crtime);
	if (e->type == HTREE_REG) {
		if (e->flags & HTREE_F_HASHED) {
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
			json_array_append_new(arr, json_string(diff_field_name(f)));
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
