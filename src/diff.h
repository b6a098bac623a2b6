/*
 * diff.h - compare a gold tree with an incident tree: the delta.
 *
 * Entries are matched by filesystem name and path, never by inode. Equal subtrees (same
 * node hash) are skipped whole. A directory is reported only for its own change (added,
 * deleted, metadata, type), never because something below it changed. A regular file whose
 * content could not be read (HTREE_F_READERR) on either side is always reported, flagged
 * DIFF_F_CONTENT_UNREAD, from what is known: modified if its size changed, else metadata.
 * The names of one hard-linked inode (same filesystem and incident inode) share one set of
 * flags, but for DIFF_F_HIDDEN, which is the name's own.
 */
#ifndef DELTAIR_DIFF_H
#define DELTAIR_DIFF_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "htree.h"

enum diff_class {
	DIFF_ADDED,
	DIFF_DELETED,
	DIFF_MODIFIED,
	DIFF_APPENDED,
	DIFF_RENAMED,
	DIFF_METADATA,
	DIFF_TYPE,
	DIFF_NCLASSES
};

enum diff_flags {
	DIFF_F_SUID_ADDED = 1 << 0,
	DIFF_F_TIMESTOMP = 1 << 1, /* "timestomp_suspected" */
	DIFF_F_EXECUTABLE = 1 << 2,
	DIFF_F_HIDDEN = 1 << 3,
	DIFF_F_TRUNCATED_LOG = 1 << 4,
	DIFF_F_DELETED_ENTRY = 1 << 5,
	DIFF_F_CONTENT_UNREAD = 1 << 6, /* a side's content could not be read: unknown */
	DIFF_F_PERMS_WIDENED = 1 << 7,  /* "permissions_widened": group/other gained bits */
	DIFF_F_OWNER_ROOT = 1 << 8,     /* "owner_to_root": uid or gid became 0 */
};
#define DIFF_NFLAGS 9

enum diff_fields {
	DIFF_FIELD_TYPE = 1 << 0,
	DIFF_FIELD_SIZE = 1 << 1,
	DIFF_FIELD_MODE = 1 << 2,
	DIFF_FIELD_UID = 1 << 3,
	DIFF_FIELD_GID = 1 << 4,
	DIFF_FIELD_SHA256 = 1 << 5,
	DIFF_FIELD_LINK = 1 << 6,
	DIFF_FIELD_INODE = 1 << 7,
	DIFF_FIELD_MTIME = 1 << 8,
	DIFF_FIELD_ATIME = 1 << 9,
	DIFF_FIELD_CTIME = 1 << 10,
	DIFF_FIELD_CRTIME = 1 << 11,
};
#define DIFF_NFIELDS 12

struct diff_change {
	enum diff_class cls;
	unsigned flags;  /* enum diff_flags */
	unsigned fields; /* enum diff_fields that differ (with a gold entry) */
	const char *fs;  /* borrowed: the filesystem's name */
	int unix_modes;  /* the filesystem keeps Unix modes (not FAT, NTFS, exFAT, ISO 9660) */
	/* added: the gold had this inode (same number and birth time) under another name:
	 * a new hard link to an old file, or the file moved, not a new file */
	int old_inode;
	const struct htree_entry *e;    /* borrowed from the incident tree; NULL for deleted */
	const struct htree_entry *gold; /* borrowed from the gold tree; NULL for added */
	/* The filesystem's place in the output (the sort key): the incident's in their order,
	 * then those only the gold has. */
	unsigned fs_order;
};

struct diff_stats {
	uint64_t count[DIFF_NCLASSES];
	uint64_t entries;         /* incident entries considered */
	uint64_t skipped_entries; /* incident entries inside equal subtrees */
	uint64_t skipped_bytes;   /* regular-file bytes inside equal subtrees */
	uint64_t unread;          /* changes flagged DIFF_F_CONTENT_UNREAD */
};

/*
 * Compare; calls cb once per change, in tree order (renames where the added path sorts).
 * cb returns 0 to go on, -1 to stop (the diff then returns -1 and keeps cb's err).
 */
int diff_trees(const struct htree *gold, const struct htree *cur,
	       int (*cb)(void *ctx, const struct diff_change *c, struct dt_err *err), void *ctx,
	       struct diff_stats *stats, struct dt_err *err) DT_MUST_USE;

/*
 * The one rule for a complete run (the summary's "complete", exit status 8 when not): no
 * evidence that could not be read (read_errors: the run's count of such error events) and
 * no change flagged content_unread.
 */
int diff_complete(const struct diff_stats *ds, uint64_t read_errors);

const char *diff_class_name(enum diff_class c);     /* "added", ... */
const char *diff_flag_name(unsigned single_flag);   /* "suid_added", ... */
const char *diff_field_name(unsigned single_field); /* "sha256", ... */

#endif
