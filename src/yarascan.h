/*
 * yarascan.h - YARA on the delta: compile rule sets once, scan one file at a time through a
 * read callback, without ever holding a whole file in memory.
 *
 * Build: yarascan_compile() the rule paths; yarascan_file() per file, from any number of threads
 * (at most YR_MAX_THREADS, 32, at once: a libyara limit); yarascan_free() at the end. Compiled
 * rules are read-only and shared; each yarascan_file() call uses its own YR_SCANNER. A thread
 * that scans many files (the members of archives) keeps one instead: yarascan_scanner_new(),
 * yarascan_scan() per file, yarascan_scanner_free().
 *
 * libyara's global state: yarascan_compile() calls yr_initialize() and yarascan_free() calls
 * yr_finalize(), one pair per compiled set. libyara counts those pairs and tears down only at the
 * last yr_finalize(); its count is not atomic, so we take a mutex around both. A program that also
 * uses libyara directly pairs its own calls the same way and never finalises more often than it
 * initialised.
 *
 * Scanning: a file is read in windows of YARASCAN_BLOCK_SIZE bytes, each starting
 * YARASCAN_BLOCK_SIZE - YARASCAN_BLOCK_OVERLAP bytes after the previous one, and handed to libyara
 * as a YR_MEMORY_BLOCK_ITERATOR. libyara never matches a string across two blocks; thanks to the
 * overlap, any match of at most YARASCAN_BLOCK_OVERLAP bytes is found wherever it lies, and one
 * that lies in an overlap is counted once (libyara merges matches at the same offset). A longer
 * match that straddles a window edge is missed. `filesize`, uint8..uint32be(offset) at any offset,
 * and the hash and math modules see the whole file. The elf and pe modules parse only a header
 * that starts a block and only within that block (1 MiB), which for files means the header at
 * offset 0. Conditions and modules that read past the first block re-read those blocks through
 * the callback (the first block stays in memory); *bytes_read counts every byte read. Notably
 * `import "elf"` (and "pe" on a file that is not PE) makes libyara look at every block again, so
 * a file over one block is read twice.
 *
 * Rules see these externals (all strings; empty when compiled, set per file):
 *   filename   the last path component, "sshd" (of a member: after the last '/' or '!')
 *   filepath   the whole absolute path inside the image, "/usr/sbin/sshd" (as LOKI sets it;
 *              THOR passes the directory, so portable rules test `contains`/`startswith`);
 *              for a member of an archive "OUTER!member/path", nested members with more '!'
 *              ("/tmp/x.tar!inner.tar.gz!bin/miner", filename "miner")
 *   extension  from the last dot of the file name, lowercase, with the dot: ".php"; "" for none
 *              and for a leading dot only (".bashrc")
 *   filetype   from the first bytes: "ELF", "EXE" (MZ), "MACHO", "ZIP", "GZIP", "BZIP2", "XZ",
 *              "7Z", "RAR", "PDF", "SCRIPT" (#!), or ""
 *   owner      the owner's user name or uid, as the caller gives it
 */
#ifndef DELTAIR_YARASCAN_H
#define DELTAIR_YARASCAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "error.h"

#define YARASCAN_DEFAULT_MAX_SIZE (64ULL << 20) /* bytes; larger files are not read */
#define YARASCAN_DEFAULT_TIMEOUT  30            /* seconds per file */
#define YARASCAN_BLOCK_SIZE       (1u << 20)    /* bytes handed to libyara at once */
#define YARASCAN_BLOCK_OVERLAP    4096u         /* bytes each block repeats of the previous one */
#define YARASCAN_MAX_MATCHES      64            /* rules reported per file; the rest are dropped */
#define YARASCAN_MAX_STRINGS      32            /* string matches reported per rule */
#define YARASCAN_MAX_RULE_FILES   10000         /* rule files per yarascan_compile() */

struct yarascan; /* compiled rules, shareable read-only */

/*
 * Compile every .yar/.yara file (any case) under each of paths: a file is compiled whatever its
 * name; a folder is walked as every rule folder is (ruledir.h: byte order of names, names that
 * start with '.' skipped, links to files followed, links to folders not, RULEDIR_MAX_DEPTH
 * levels at most, a deeper folder is an error).
 *
 * Each rule file gets its own namespace, so that third-party sets whose rule names collide
 * compile together and a `global` rule only gates its own file. The name is the file's stem for a
 * file given directly ("webshells" for rules/webshells.yar), and "DIR/REL" for a file found under
 * a directory, DIR being the directory's last component and REL the path below it without the
 * extension ("yara-permissive/eset/windigo/ebury"); "#2", "#3"... is appended to a name already
 * used. Consequently a rule can only refer to rules of its own file (or of files it `include`s).
 *
 * A bad rule: DT_EFORMAT, "bad YARA rule: 'FILE' line N: libyara's message" (an included file is
 * named itself). An unreadable path: DT_EIO. A path with no rule file, a folder too deep, or
 * more than YARASCAN_MAX_RULE_FILES files: DT_EUSAGE. libyara's warnings (slow strings) are
 * ignored. On success *out is new (yarascan_free() it) and *nrules (may be NULL) is the number of
 * rules, private and global ones included.
 */
int yarascan_compile(const char *const *paths, size_t npaths, struct yarascan **out, size_t *nrules,
		     struct dt_err *err) DT_MUST_USE;
/* NULL is a no-op. No yarascan_file() call on y may be running. */
void yarascan_free(struct yarascan *y);

struct yarascan_opts {
	uint64_t max_size; /* 0: YARASCAN_DEFAULT_MAX_SIZE */
	int timeout;       /* seconds per file; 0 or less: YARASCAN_DEFAULT_TIMEOUT */
	/* mono_now() past which the scan ends as YARASCAN_TIMEOUT whatever timeout says (a
	 * caller's own bound over many files); 0: none. Checked per block and by libyara, whose
	 * clock counts whole seconds: a scan may overrun it by up to one second. */
	double deadline;
};

enum yarascan_status {
	YARASCAN_SCANNED,    /* every rule was evaluated; matches were delivered */
	YARASCAN_TOO_LARGE,  /* size > max_size: nothing was read */
	YARASCAN_TIMEOUT,    /* the scan took longer than timeout: no match is delivered */
	YARASCAN_UNREADABLE, /* read failed or came up short of size: no match is delivered */
	YARASCAN_FAILED,     /* libyara gave up on this file (a too complex regular expression,
			      * an exhausted stack...): no match is delivered */
};

struct yarascan_file {
	const char *path; /* borrowed; absolute path inside the image, not NUL-terminated */
	size_t path_len;
	uint64_t size;     /* content length: `filesize` and where reading stops */
	const char *owner; /* borrowed; owner user name or uid string; NULL: "" */
	/* Read up to len bytes at off of the file's content into buf; return the count (0 only at
	 * the end of the content) or -1. May be called for any offset, more than once. */
	ssize_t (*read)(void *rctx, uint64_t off, void *buf, size_t len);
	void *rctx;
	int member; /* path is "OUTER!member" (decomp.h): the name is after a '/' or a '!' */
};

/*
 * Scan the content of f with y (o may be NULL for the defaults). For each matching rule, in rule
 * order and only once the whole scan succeeded, on_match(ctx, match) (may be NULL) gets a NEW
 * object that it steals:
 *   {"rule", "namespace", "tags": [...], "meta": {...},
 *    "strings": [{"id": "$a", "offset": N, "length": N}, ...]}
 * Meta values keep their YARA type (string, integer, boolean); a key repeated in one rule becomes
 * an array of its values. Strings that are not valid UTF-8 are given lossily (U+FFFD). At most
 * YARASCAN_MAX_MATCHES rules and YARASCAN_MAX_STRINGS matches per rule are reported; a cut list
 * carries "strings_truncated": true. The caller adds event, fs, path and sha256.
 *
 * *status says what became of the file; *bytes_read (may be NULL) counts the bytes read through
 * f->read. A per-file problem is a status and the call returns 0: for YARASCAN_UNREADABLE
 * (DT_EIO) and YARASCAN_FAILED (DT_EFORMAT) err also holds one line saying why, in libyara's
 * words where they are the reason: turn it into an `error` event and dt_clear() it. Returns -1
 * only for what stops all scanning: bad arguments (DT_EUSAGE), more than YR_MAX_THREADS
 * concurrent scans (DT_EUSAGE), memory (DT_ENOMEM); *status is then meaningless.
 */
int yarascan_file(struct yarascan *y, const struct yarascan_opts *o, const struct yarascan_file *f,
		  void (*on_match)(void *ctx, json_t *match), void *ctx,
		  enum yarascan_status *status, uint64_t *bytes_read,
		  struct dt_err *err) DT_MUST_USE;

/*
 * One libyara scanner, kept from file to file: creating one costs about as much as scanning a
 * small file. Used by one thread at a time. New: yarascan_scanner_free() it before y is freed.
 * Only memory fails (DT_ENOMEM).
 */
struct yarascan_scanner;
int yarascan_scanner_new(struct yarascan *y, struct yarascan_scanner **out,
			 struct dt_err *err) DT_MUST_USE;
void yarascan_scanner_free(struct yarascan_scanner *s); /* NULL is a no-op */

/* yarascan_file() with s's scanner: the same rules, externals set afresh for f, results alike. */
int yarascan_scan(struct yarascan_scanner *s, const struct yarascan_opts *o,
		  const struct yarascan_file *f, void (*on_match)(void *ctx, json_t *match),
		  void *ctx, enum yarascan_status *status, uint64_t *bytes_read,
		  struct dt_err *err) DT_MUST_USE;

/* A short name of a status, for events: "scanned", "too large", "timeout", "unreadable"... */
const char *yarascan_status_name(enum yarascan_status s);

#endif
