/*
 * decomp.c - the archives of the delta (decomp.h) in the scan: a `member` event per member,
 * YARA on each member's bytes (`yara` events with "member"), --extract-members, and an
 * `error` event for a damaged archive or a bound. See scan_int.h.
 */
#include "scan/scan_int.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "events.h"

#include "banned.h"

static const char *
member_type_name(char t)
{
	switch (t) {
	case 'f': return "file";
	case 'd': return "dir";
	case 'l': return "symlink";
	case 'h': return "hardlink";
	case 'c': return "chardev";
	case 'b': return "blockdev";
	case 'p': return "fifo";
	case 's': return "socket";
	}
	return "other";
}

json_t *
scan_member_event(const char *kind, const char *fs, const struct htree_entry *e,
		  const struct decomp_member *m)
{
	json_t *ev = json_object();

	json_object_set_new(ev, "event", json_string(kind));
	json_object_set_new(ev, "fs", json_string(fs));
	events_set_path(ev, "path", e->path, e->path_len);
	events_set_path(ev, "member", m->path, m->path_len);
	return ev;
}

static void
on_member_match(void *ctx, json_t *match)
{
	struct scan_member *ms = ctx;
	json_t *ev = scan_member_event("yara", ms->fs, ms->e, ms->m);

	json_object_set_new(ev, "sha256", json_string(ms->sha256));
	json_object_update(ev, match);
	json_decref(match);
	ms->n++;
	if (!ms->failed && ms->sc->emit(ms->sc->ectx, ev, NULL, &ms->err) < 0)
		ms->failed = 1;
}

int
scan_member_error(struct scan_member *ms, const struct decomp_member *m, const char *what,
		  const char *why, struct dt_err *err)
{
	json_t *ev = scan_member_event("error", ms->fs, ms->e, m);
	char msg[600];

	snprintf(msg, sizeof(msg), "%s: %s", what, why);
	json_object_set_new(ev, "message", json_string(msg));
	ms->sc->st->errors++;
	return ms->sc->emit(ms->sc->ectx, ev, NULL, err);
}

/* YARA on one member, with filepath "OUTER!member" (filename and extension: the member's). */
static int
yara_member(struct scan_member *ms, struct dt_err *err)
{
	struct scanner *sc = ms->sc;
	const struct decomp_member *m = ms->m;
	struct yarascan_file f;
	struct yarascan_opts o = sc->c->yara;
	enum yarascan_status status;
	struct buf path;
	uint64_t bytes = 0;
	char ubuf[16];
	struct dt_err ferr = { 0 };
	int rc = -1;

	buf_init(&path, HTREE_MAX_PATH + DECOMP_MAX_NAME + 2);
	if (buf_add(&path, ms->e->path, ms->e->path_len, err) < 0 ||
	    buf_addc(&path, '!', err) < 0 || buf_add(&path, m->path, m->path_len, err) < 0)
		goto out;
	memset(&f, 0, sizeof(f));
	f.path = (const char *)path.data;
	f.path_len = path.len;
	f.size = m->size;
	f.owner = scan_owner_name(&sc->cur_ctx, ms->e->uid, ubuf);
	f.read = m->read;
	f.rctx = m->rctx;
	f.member = 1;
	/* The outer file's time bound holds for YARA on its members too. */
	o.deadline = m->deadline;
	if (scan_yara_scanner(sc, err) == NULL)
		goto out;
	if (yarascan_scan(sc->ys, &o, &f, on_member_match, ms, &status, &bytes, &ferr) < 0) {
		dt_fail(err, ferr.code, "%s", ferr.msg);
		goto out;
	}
	if (ms->failed) {
		*err = ms->err;
		goto out;
	}
	rc = 0;
	if (status == YARASCAN_SCANNED) {
		sc->st->member_yara_scanned++;
		sc->st->member_yara_matches += (uint64_t)ms->n;
		sc->st->member_yara_matched += ms->n > 0;
		goto out;
	}
	sc->st->member_yara_skipped++;
	if (status != YARASCAN_TOO_LARGE)
		rc = scan_member_error(ms, m, "YARA did not scan the member",
				       ferr.code != DT_OK ? ferr.msg : yarascan_status_name(status),
				       err);
out:
	buf_release(&path);
	return rc;
}

/* decomp_member_fn: the `member` event, then YARA on its bytes, then its copy. */
static int
on_member(void *ctx, const struct decomp_member *m, struct dt_err *err)
{
	struct scan_member *ms = ctx;
	json_t *ev = scan_member_event("member", ms->fs, ms->e, m), *flags = json_array();
	char mode[8], hex[65];
	unsigned xbits = m->type == 'f' ? (m->mode & 0111) : 0;

	snprintf(mode, sizeof(mode), "%04o", m->mode & 07777);
	json_object_set_new(ev, "depth", json_integer(m->depth));
	json_object_set_new(ev, "type", json_string(member_type_name(m->type)));
	json_object_set_new(ev, "size", json_integer((json_int_t)m->size));
	json_object_set_new(ev, "mode", json_string(mode));
	if (m->has_data) {
		htree_hex(m->sha256, 32, hex);
		json_object_set_new(ev, "sha256", json_string(hex));
	} else if (m->type == 'f') {
		json_object_set_new(ev, "sha256", json_null());
	}
	if (m->link != NULL)
		events_set_path(ev, "link_target", m->link, strlen(m->link));
	if (xbits)
		json_array_append_new(flags, json_string("executable"));
	if (m->type == 'f' && (m->mode & 04000))
		json_array_append_new(flags, json_string("setuid"));
	if (m->type == 'f' && (m->mode & 02000))
		json_array_append_new(flags, json_string("setgid"));
	if (m->encrypted)
		json_array_append_new(flags, json_string("encrypted"));
	json_object_set_new(ev, "flags", flags);
	if (ms->sc->emit(ms->sc->ectx, ev, NULL, err) < 0)
		return -1;
	if (!m->has_data)
		return 0;
	ms->m = m;
	ms->sha256 = hex;
	ms->n = 0;
	if (ms->sc->c->rules != NULL && yara_member(ms, err) < 0)
		return -1;
	if (ms->sc->c->extract_dir != NULL && ms->sc->c->extract_members)
		return scan_extract_member(ms, m, err);
	return 0;
}

int
scan_decomp_change(struct scanner *sc, const char *fs, const char *change,
		   const struct htree_entry *e, struct dt_err *err)
{
	struct yread yr = { sc, e, NULL };
	struct decomp_input in = { .size = e->size, .read = scan_yara_read, .rctx = &yr };
	struct decomp_result res;
	struct scan_member ms;
	char name[HTREE_MAX_PATH + 1];
	json_t *ev;

	snprintf(name, sizeof(name), "%.*s", (int)e->path_len, e->path);
	in.name = name;
	memset(&ms, 0, sizeof(ms));
	ms.sc = sc;
	ms.fs = fs;
	ms.e = e;
	ms.change = change;
	if (decomp_file(sc->c->decomp, &in, on_member, &ms, &res, err) < 0)
		return -1;
	if (res.status == DECOMP_DONE || res.status == DECOMP_NOT_ARCHIVE)
		return 0;
	/* Never silently clean: a damaged archive or a bound is said for the file. */
	ev = events_error(fs, e->path, e->path_len, res.msg);
	if (res.bound != DECOMP_BOUND_NONE)
		json_object_set_new(ev, "bound", json_string(decomp_bound_name(res.bound)));
	sc->st->errors++;
	return sc->emit(sc->ectx, ev, NULL, err);
}
