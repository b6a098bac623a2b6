/*
 * ruledir.h - the one walker of rule folders: YARA rules (yarascan.c) and ForensicArtifacts
 * definitions (src/artifacts/) are found the same way.
 *
 * A path the user names is taken whatever it is: a file (or a link to one) is a rule file
 * whatever its name; a folder (or a link to one) is walked. Below it:
 *   - names starting with '.' are skipped, entries are visited in strcmp order of names;
 *   - a file counts when want() accepts its name; a symbolic link to a regular file counts
 *     as that file; anything else (devices, FIFOs, dangling links) is skipped;
 *   - a symbolic link to a folder is never followed, so a link loop cannot make the walk
 *     run away, and no folder is walked twice through a link;
 *   - a folder more than RULEDIR_MAX_DEPTH levels below the path fails the walk with
 *     DT_EUSAGE naming it: rules are never dropped in silence.
 */
#ifndef DELTAIR_RULEDIR_H
#define DELTAIR_RULEDIR_H

#include "error.h"

#define RULEDIR_MAX_DEPTH 32 /* folder levels walked below a rule path */

/*
 * Called for each rule file: path is the file's path (borrowed for the call), rel its path
 * below top ("sub/x.yar"), or NULL when path is top itself. A return < 0 stops the walk.
 */
typedef int (*ruledir_fn)(void *arg, const char *path, const char *rel, struct dt_err *err);

/*
 * Walk top as above, calling fn for each rule file. top missing or unreadable: DT_EIO; top
 * neither a file nor a folder: DT_EIO; a folder that cannot be listed: DT_EIO; too deep:
 * DT_EUSAGE; a path over PATH_MAX: DT_ENOMEM. Returns 0, or -1 with err filled.
 */
int ruledir_walk(const char *top, int (*want)(const char *name), ruledir_fn fn, void *arg,
		 struct dt_err *err) DT_MUST_USE;

#endif
