/*
 * deb.c - deb_packages, from dpkg's status file.
 * See parsers_int.h for the helpers every parser file shares.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "buf.h"
#include "parsers.h"
#include "parsers/parsers_int.h"

#include "banned.h"

/* ======================================================================================== */
/* deb_packages (osquery linux/deb_packages.cpp through libdpkg, dpkgquery.cpp)
 *
 * /var/lib/dpkg/status: RFC 822 stanzas separated by blank lines; field names are
 * case-insensitive; a line starting with a space or tab continues the previous field.
 * Packages whose status is "not-installed" are skipped, as libdpkg's listing does.
 *   name      Package
 *   version   Version as dpkg prints it (versiondescribe, vdew_nonambig): "epoch:" only
 *             when the epoch is not 0 or the rest holds a ':' ("0:1.2-1" prints "1.2-1"),
 *             "-revision" only when there is one; "" when the stanza has no Version
 *   source    Source, verbatim: libdpkg keeps "src (version)" for binNMUs, and so do we
 *   size      Installed-Size, verbatim (KiB, as dpkg records it)
 *   arch      Architecture
 *   revision  the Debian revision: after the last '-' of the version, "" when none
 *   status    Status as "want eflag status", e.g. "install ok installed"
 *   maintainer, section  verbatim
 *   priority  Priority (the standard names lower-cased), "unknown" when absent
 * The hidden admindir column is a query knob, not data: omitted.
 */

static const char *const deb_packages_cols[] = { "name",    "version",  "source", "size",
						 "arch",    "revision", "status", "maintainer",
						 "section", "priority", NULL };

enum deb_field {
	DEB_PACKAGE,
	DEB_VERSION,
	DEB_SOURCE,
	DEB_SIZE,
	DEB_ARCH,
	DEB_STATUS,
	DEB_MAINTAINER,
	DEB_SECTION,
	DEB_PRIORITY,
	DEB_NFIELDS
};

static const char *const deb_field_names[DEB_NFIELDS] = {
	"Package", "Version",    "Source",  "Installed-Size", "Architecture",
	"Status",  "Maintainer", "Section", "Priority",
};

struct deb_stanza {
	struct span f[DEB_NFIELDS]; /* first line of each field, trimmed */
	int have[DEB_NFIELDS];
	int any;
};

static void
deb_stanza_reset(struct deb_stanza *st)
{
	memset(st, 0, sizeof(*st));
	for (int f = 0; f < DEB_NFIELDS; f++)
		st->f[f] = span_z("");
}

static int
deb_emit(struct parsers_sink *s, const struct deb_stanza *st, struct dt_err *err)
{
	static const char *const prios[] = { "required", "important", "standard",
					     "optional", "extra",     "unknown" };
	struct span words[3], rest, tok, ver, epoch = span_z(""), upstream, revision = span_z("");
	struct buf vbuf, sbuf;
	size_t nw = 0, colon, dash;
	json_t *row = NULL;
	const char *prio = NULL;
	int ret = -1;

	if (!st->have[DEB_PACKAGE] || st->f[DEB_PACKAGE].n == 0 || !st->have[DEB_STATUS])
		return 0; /* not a package dpkg could list */
	rest = st->f[DEB_STATUS];
	while (span_token(&rest, PARSERS_WS, &tok))
		if (nw++ < 3)
			words[nw - 1] = tok;
	if (nw != 3 || span_eq(words[2], "not-installed"))
		return 0;

	/* Version: [epoch:]upstream[-revision], epoch digits only. */
	ver = span_trim(st->f[DEB_VERSION]);
	colon = span_find(ver, ':');
	upstream = ver;
	if (colon < ver.n) {
		epoch = span_sub(ver, 0, colon);
		upstream = span_sub(ver, colon + 1, ver.n);
	}
	dash = upstream.n;
	while (dash > 0 && upstream.p[dash - 1] != '-')
		dash--;
	if (dash > 0) {
		revision = span_sub(upstream, dash, upstream.n);
		upstream = span_sub(upstream, 0, dash - 1);
	}
	if (span_all_digits(epoch)) {
		/*
		 * dpkg reads the epoch as a number and versiondescribe(vdew_nonambig) prints
		 * it only when it is not 0 or when the rest holds a ':' that would make the
		 * version ambiguous without it.
		 */
		while (epoch.n > 1 && epoch.p[0] == '0')
			epoch = span_sub(epoch, 1, epoch.n);
		if (span_eq(epoch, "0") && span_find(upstream, ':') == upstream.n &&
		    span_find(revision, ':') == revision.n)
			epoch = span_z("");
	}
	buf_init(&vbuf, PARSERS_MAX_INPUT);
	buf_init(&sbuf, PARSERS_MAX_INPUT);
	if ((epoch.n &&
	     (buf_add(&vbuf, epoch.p, epoch.n, err) < 0 || buf_addc(&vbuf, ':', err) < 0)) ||
	    buf_add(&vbuf, upstream.p, upstream.n, err) < 0 ||
	    (revision.n &&
	     (buf_addc(&vbuf, '-', err) < 0 || buf_add(&vbuf, revision.p, revision.n, err) < 0)))
		goto out;
	for (size_t w = 0; w < 3; w++)
		if ((w && buf_addc(&sbuf, ' ', err) < 0) ||
		    buf_add(&sbuf, words[w].p, words[w].n, err) < 0)
			goto out;
	for (size_t i = 0; i < sizeof(prios) / sizeof(prios[0]); i++)
		if (span_caseeq(st->f[DEB_PRIORITY], prios[i]))
			prio = prios[i];
	row = parsers_row_new(deb_packages_cols, err);
	if (row == NULL)
		goto out;
	if (span_row_set(row, "name", st->f[DEB_PACKAGE], err) < 0 ||
	    span_row_set(row, "version", span_of(vbuf.data, vbuf.len), err) < 0 ||
	    span_row_set(row, "source", st->f[DEB_SOURCE], err) < 0 ||
	    span_row_big(row, "size", st->f[DEB_SIZE], err) < 0 ||
	    span_row_set(row, "arch", st->f[DEB_ARCH], err) < 0 ||
	    span_row_set(row, "revision", revision, err) < 0 ||
	    span_row_set(row, "status", span_of(sbuf.data, sbuf.len), err) < 0 ||
	    span_row_set(row, "maintainer", st->f[DEB_MAINTAINER], err) < 0 ||
	    span_row_set(row, "section", st->f[DEB_SECTION], err) < 0 ||
	    span_row_set(row, "priority",
			 prio ? span_z(prio)
			      : (st->f[DEB_PRIORITY].n ? st->f[DEB_PRIORITY] : span_z("unknown")),
			 err) < 0)
		goto out;
	ret = parsers_sink_add(s, row, err);
	row = NULL;
out:
	json_decref(row);
	buf_release(&vbuf);
	buf_release(&sbuf);
	return ret;
}

int
parse_deb_packages(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct parsers_sink s;
	struct parsers_text t;
	struct lines it;
	struct span line;
	struct deb_stanza st;
	int ret = -1;

	if (parsers_sink_init(&s, "deb_packages", in, rows, err) < 0)
		return -1;
	parsers_text_load(in, &t);
	deb_stanza_reset(&st);
	lines_init(&it, t.s);
	for (;;) {
		int more = lines_next(&it, &line);
		struct span tl = more ? span_trim(line) : span_z("");
		size_t colon;
		struct span key;

		if (!more || tl.n == 0) {
			if (st.any && deb_emit(&s, &st, err) < 0)
				goto out;
			deb_stanza_reset(&st);
			if (!more)
				break;
			continue;
		}
		/* Continuation lines only extend multi-line fields (Description, Conffiles). */
		if (line.p[0] == ' ' || line.p[0] == '\t' || line.p[0] == '#')
			continue;
		colon = span_find(line, ':');
		if (colon == line.n)
			continue; /* not a field: skipped */
		key = span_trim(span_sub(line, 0, colon));
		st.any = 1;
		for (int f = 0; f < DEB_NFIELDS; f++) {
			/* dpkg refuses a duplicate field; we keep the first. */
			if (!st.have[f] && span_caseeq(key, deb_field_names[f])) {
				st.have[f] = 1;
				st.f[f] = span_trim(span_sub(line, colon + 1, line.n));
			}
		}
	}
	ret = 0;
out:
	parsers_text_release(&t);
	return ret;
}
