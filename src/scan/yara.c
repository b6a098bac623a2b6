/*
 * yara.c - YARA on one changed file, read through the source; each match a `yara`
 * event. See scan_int.h.
 */
#include "scan/scan_int.h"

#include <string.h>

#include <openssl/evp.h>

#include "events.h"

#include "banned.h"

ssize_t
scan_yara_read(void *rctx, uint64_t off, void *buf, size_t len)
{
	struct yread *y = rctx;
	struct dt_err err = { 0 };

	return source_read_file(y->sc->s, y->e->fs, y->e->inode, y->e->path, off, buf, len, &err);
}

struct ymatch {
	struct scanner *sc;
	const char *fs;
	const struct htree_entry *e;
	int n;
	int failed;
	struct dt_err err;
};

static void
on_match(void *ctx, json_t *m)
{
	struct ymatch *ym = ctx;
	json_t *ev = json_object();
	char hex[65];

	json_object_set_new(ev, "event", json_string("yara"));
	json_object_set_new(ev, "fs", json_string(ym->fs));
	events_set_path(ev, "path", ym->e->path, ym->e->path_len);
	if (ym->e->flags & HTREE_F_HASHED) {
		htree_hex(ym->e->sha256, 32, hex);
		json_object_set_new(ev,
				    (ym->e->flags & HTREE_F_SPARSE) ? "sparse_sha256" : "sha256",
				    json_string(hex));
	}
	json_object_update(ev, m);
	json_decref(m);
	ym->n++;
	if (!ym->failed && ym->sc->emit(ym->sc->ectx, ev, NULL, &ym->err) < 0)
		ym->failed = 1;
}

const char *
scan_owner_name(const struct parser_ctx *ctx, uint32_t uid, char buf[16])
{
	for (size_t i = 0; i < ctx->nusers; i++)
		if (ctx->users[i].uid == uid)
			return ctx->users[i].name;
	snprintf(buf, 16, "%u", uid);
	return buf;
}

struct yarascan_scanner *
scan_yara_scanner(struct scanner *sc, struct dt_err *err)
{
	if (sc->ys == NULL && yarascan_scanner_new(sc->c->rules, &sc->ys, err) < 0)
		return NULL;
	return sc->ys;
}

int
scan_yara_change(struct scanner *sc, const char *fs, const struct htree_entry *e,
		 struct dt_err *err)
{
	struct yread yr = { sc, e, NULL };
	struct yarascan_file f;
	struct ymatch ym;
	enum yarascan_status status;
	uint64_t bytes = 0;
	char ubuf[16];
	struct dt_err ferr = { 0 };

	memset(&ym, 0, sizeof(ym));
	memset(&f, 0, sizeof(f));
	ym.sc = sc;
	ym.fs = fs;
	ym.e = e;
	f.path = e->path;
	f.path_len = e->path_len;
	f.size = e->size;
	f.owner = scan_owner_name(&sc->cur_ctx, e->uid, ubuf);
	f.read = scan_yara_read;
	f.rctx = &yr;
	sc->st->yara_candidates++;
	if (scan_yara_scanner(sc, err) == NULL)
		return -1;
	if (yarascan_scan(sc->ys, &sc->c->yara, &f, on_match, &ym, &status, &bytes, &ferr) < 0) {
		dt_fail(err, ferr.code, "%s", ferr.msg);
		return -1;
	}
	sc->st->yara_bytes += bytes;
	if (ym.failed) {
		*err = ym.err;
		return -1;
	}
	switch (status) {
	case YARASCAN_SCANNED:
		sc->st->yara_scanned++;
		sc->st->yara_matches += (uint64_t)ym.n;
		sc->st->yara_files_matched += ym.n > 0;
		break;
	case YARASCAN_TOO_LARGE: sc->st->yara_too_large++; break;
	case YARASCAN_TIMEOUT: sc->st->yara_timeout++; break;
	case YARASCAN_UNREADABLE: sc->st->yara_unreadable++; break;
	case YARASCAN_FAILED: sc->st->yara_failed++; break;
	}
	if (status == YARASCAN_UNREADABLE || status == YARASCAN_FAILED ||
	    status == YARASCAN_TIMEOUT) {
		if (ferr.code == DT_OK)
			dt_fail(&ferr, DT_EIO, "%s", yarascan_status_name(status));
		scan_report_error(sc->emit, sc->ectx, sc->st, fs, e, "YARA did not scan the file",
				  &ferr);
	}
	return 0;
}
