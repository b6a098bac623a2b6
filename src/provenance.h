/*
 * provenance.h - what explains a change, and how far the explanation can be trusted.
 *
 * A host drifts from its gold for innocent reasons, package upgrades above all. For each
 * change, provenance looks for an explanation:
 *   package_verified  a file of a package (the incident's own dpkg database: info/PKG.list),
 *                     whose content matches the digest that package records (PKG.md5sums;
 *                     for a conffile, status's Conffiles: the version the package shipped)
 *   package_listed    a folder or symbolic link that a package lists (no digest to check)
 *   package_database  dpkg's and apt's own records (status, info/PKG.*, dpkg.log) when
 *                     some package changed version between the gold and the incident
 *   package_dropped   a deleted file that a known-good set says the gold's version of its
 *                     package shipped, when that package changed version since
 *   known_good        a file that a known-good set (knowngood.h) vouches for
 * and when there is none, says why:
 *   package_mismatch  a packaged file that does not match its package's digest, or is missing
 *   package_database_edited  a package's info file edited while its version did not change
 *   conffile_modified a conffile that is not the version its package shipped: edited on the
 *                     host (dpkg keeps such edits across upgrades), so no package explains it
 *   not_verifiable    a packaged file whose change nothing can check (metadata, no digest)
 *   not_packaged      nothing knows the file
 * Trust: the incident's database can be rewritten by whoever had root, so what rests on it
 * alone is "self-reported"; it is "corroborated" when the package's digest list is the
 * gold's for the same version, or a known-good set (built elsewhere) vouches for the file.
 * docs/events.md has the event fields.
 *
 * The dpkg database is read out of the evidence (the filesystem that holds
 * /var/lib/dpkg/status), never the host's; a file's MD5 is read only for changed files that
 * a package owns.
 */
#ifndef DELTAIR_PROVENANCE_H
#define DELTAIR_PROVENANCE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "diff.h"
#include "error.h"
#include "htree.h"
#include "knowngood.h"
#include "source.h"

enum prov_reason {
	PROV_PACKAGE_VERIFIED,
	PROV_PACKAGE_LISTED,
	PROV_PACKAGE_DATABASE,
	PROV_PACKAGE_DROPPED,
	PROV_KNOWN_GOOD,
	PROV_PACKAGE_MISMATCH, /* the first unexplained reason */
	PROV_DATABASE_EDITED,
	PROV_CONFFILE_MODIFIED,
	PROV_NOT_VERIFIABLE,
	PROV_NOT_PACKAGED,
	PROV_NREASONS
};
#define PROV_FIRST_UNEXPLAINED PROV_PACKAGE_MISMATCH

enum prov_trust { PROV_SELF_REPORTED, PROV_CORROBORATED };

struct prov_stats {
	uint64_t reasons[PROV_NREASONS];
	uint64_t trust[2];  /* explained changes by enum prov_trust */
	uint64_t md5_files; /* files read for their MD5 */
	uint64_t md5_bytes;
	uint64_t unreadable; /* files whose MD5 could not be read (not_verifiable) */
};

struct prov;

/*
 * Read the incident's dpkg database out of s (cur was walked from it; s may be NULL, as
 * between two trees: known-good sets only) and the gold's package versions from its
 * deb_packages rows. sets[0..nsets) are borrowed until prov_free(), as are names (the sets'
 * file names, for events). An incident without a dpkg database is not an error. On success
 * *out is new: prov_free() it.
 */
int prov_open(struct source *s, const struct htree *gold, const struct htree *cur,
	      const struct kg *const *sets, const char *const *names, size_t nsets,
	      struct prov **out, struct dt_err *err) DT_MUST_USE;
void prov_free(struct prov *p);
/* 1 when p has something to say: a dpkg database in the evidence, or a known-good set. */
int prov_active(const struct prov *p);

/*
 * Explain change c (whose `file` event is ev): adds "provenance" to ev and the flags
 * package_verified, package_mismatch or known_good. Returns the enum prov_reason, or -1
 * when out of memory. A file that cannot be read is not_verifiable, said in the event.
 */
int prov_explain(struct prov *p, const struct diff_change *c, json_t *ev,
		 struct dt_err *err) DT_MUST_USE;

/* Borrowed: the counts so far. */
const struct prov_stats *prov_stats(const struct prov *p);
/* New: the summary's "provenance" object (docs/events.md). */
json_t *prov_summary(const struct prov *p);

const char *prov_reason_name(enum prov_reason r); /* "package_verified", ... */
/* 1 when ev is a `file` event whose provenance explains it, else 0. */
int prov_event_explained(const json_t *ev);

#endif
