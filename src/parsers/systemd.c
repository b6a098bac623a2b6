/*
 * systemd.c - systemd units and startup items, from the unit files and autostart folders of a dead
 * image. See parsers_int.h for the helpers every parser file shares.
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
/* systemd_units
 *
 * osquery asks systemd over D-Bus (ListUnits) for the loaded units; a dead image has no
 * systemd to ask, so we make one row per unit file instead and fill what the file and its
 * neighbours determine:
 *   id              the file name ("ssh.service")
 *   description     [Unit] Description=, or the id when there is none (as systemd reports)
 *   unit_file_state what `systemctl is-enabled` would say from the files alone: "masked"
 *                   (an empty file, a link to /dev/null, or an empty or /dev/null file of
 *                   the same name in a configuration directory that comes first),
 *                   "enabled" (linked from a *.wants/, *.requires/ or *.upholds/ directory
 *                   of /etc/systemd/system, or for a user unit of the user's own
 *                   ~/.config/systemd/user or /etc/systemd/user; a template through any
 *                   instance), "alias"/"linked" (the file is a link to a unit of another/
 *                   the same name), "generated"/"transient" (under /run/systemd/generator*,
 *                   /run/systemd/transient), otherwise "disabled" (it has [Install] rules),
 *                   "indirect" (only Also=) or "static" (no [Install] rules)
 *   fragment_path   the file (the link's target for an alias)
 *   user            [Service] User=
 * and leaves the live-only columns "": load_state, active_state, sub_state, following,
 * object_path, job_id, job_type, job_path; source_path is "" too (systemd sets it only for
 * units made by generators from other files, e.g. /etc/fstab). Drop-in directories
 * (foo.service.d/NAME.conf) are not merged.
 */

static const char *const systemd_units_cols[] = { "id",           "description", "load_state",
						  "active_state", "sub_state",   "unit_file_state",
						  "following",    "object_path", "job_id",
						  "job_type",     "job_path",    "fragment_path",
						  "user",         "source_path", NULL };

struct unit_file {
	struct buf desc, user;
	int has_desc;
	int rules; /* WantedBy=, RequiredBy=, UpheldBy=, Alias= assignments in [Install] */
	int also;  /* Also= assignments */
};

static void
unit_file_release(struct unit_file *u)
{
	buf_release(&u->desc);
	buf_release(&u->user);
}

static int
buf_setspan(struct buf *b, struct span v, struct dt_err *err)
{
	buf_reset(b);
	return buf_add(b, v.p, v.n, err);
}

enum unit_section { SECT_NONE, SECT_UNIT, SECT_SERVICE, SECT_INSTALL, SECT_OTHER };

/* Handle one logical line of a unit file (continuations joined already). */
static int
unit_line(struct unit_file *u, enum unit_section *section, struct span line, struct dt_err *err)
{
	struct span key, val;
	size_t eq;

	line = span_trim(line);
	if (line.n == 0 || line.p[0] == '#' || line.p[0] == ';')
		return 0;
	if (line.p[0] == '[') {
		struct span name;

		if (line.p[line.n - 1] != ']')
			return 0; /* not a section header: skipped */
		name = span_sub(line, 1, line.n - 1);
		*section = span_eq(name, "Unit")      ? SECT_UNIT
			   : span_eq(name, "Service") ? SECT_SERVICE
			   : span_eq(name, "Install") ? SECT_INSTALL
						      : SECT_OTHER;
		return 0;
	}
	eq = span_find(line, '=');
	if (eq == line.n)
		return 0;
	key = span_trim(span_sub(line, 0, eq));
	val = span_trim(span_sub(line, eq + 1, line.n));
	if (*section == SECT_UNIT && span_eq(key, "Description")) {
		u->has_desc = val.n > 0;
		return buf_setspan(&u->desc, val, err);
	}
	if (*section == SECT_SERVICE && span_eq(key, "User"))
		return buf_setspan(&u->user, val, err);
	if (*section == SECT_INSTALL) {
		/* An empty assignment resets the list, as systemd's parsers do. */
		if (span_eq(key, "WantedBy") || span_eq(key, "RequiredBy") ||
		    span_eq(key, "UpheldBy") || span_eq(key, "Alias"))
			u->rules = val.n ? u->rules + 1 : 0;
		else if (span_eq(key, "Also"))
			u->also = val.n ? u->also + 1 : 0;
	}
	return 0;
}

/*
 * Parse a unit file as systemd's config_parse() reads it: a line ending in an odd number
 * of backslashes continues on the next, its last backslash becoming a space and the next
 * line appended as it is; comment lines are dropped, inside a continuation too. A "\r"
 * before the "\n" ends the line as well.
 */
static int
unit_parse(struct unit_file *u, struct span text, struct dt_err *err)
{
	enum unit_section section = SECT_NONE;
	struct lines it;
	struct span line;
	struct buf logical;
	int ret = -1;

	buf_init(&logical, PARSERS_MAX_INPUT);
	lines_init(&it, text);
	while (lines_next(&it, &line)) {
		struct span t;
		size_t bs = 0;

		if (line.n > 0 && line.p[line.n - 1] == '\r')
			line.n--;
		t = span_trim(line);
		if (t.n > 0 && (t.p[0] == '#' || t.p[0] == ';'))
			continue;
		while (bs < line.n && line.p[line.n - 1 - bs] == '\\')
			bs++;
		if (buf_add(&logical, line.p, line.n, err) < 0)
			goto out;
		if (bs % 2 == 1) {
			logical.data[logical.len - 1] = ' ';
			continue;
		}
		if (unit_line(u, &section, span_of(logical.data, logical.len), err) < 0)
			goto out;
		buf_reset(&logical);
	}
	/* A continuation at the end of the file ends there. */
	if (logical.len > 0 && unit_line(u, &section, span_of(logical.data, logical.len), err) < 0)
		goto out;
	ret = 0;
out:
	buf_release(&logical);
	return ret;
}

/* Does name, an entry of a .wants/ directory, pull in unit id? A template "foo@.service"
 * counts as enabled through any of its instances "foo@bar.service". */
static int
unit_link_matches(struct span id, const char *name)
{
	struct span nm = span_z(name);
	size_t at = span_findstr(id, 0, "@.");

	if (span_eq(nm, "") || nm.n > PARSERS_MAX_NAME)
		return 0;
	if (nm.n == id.n && memcmp(nm.p, id.p, id.n) == 0)
		return 1;
	if (at < id.n) {
		struct span pre = span_sub(id, 0, at + 1);    /* "foo@" */
		struct span suf = span_sub(id, at + 1, id.n); /* ".service" */

		return nm.n > pre.n + suf.n && memcmp(nm.p, pre.p, pre.n) == 0 &&
		       memcmp(nm.p + nm.n - suf.n, suf.p, suf.n) == 0;
	}
	return 0;
}

/* 1 if a *.wants/, *.requires/ or *.upholds/ directory of confdir (listed in conf) links id. */
static int
unit_enabled(const struct parser_input *in, const char *confdir, const struct parsers_names *conf,
	     struct span id)
{
	for (size_t i = 0; i < conf->n; i++) {
		struct span d = span_z(conf->v[i]);
		struct parsers_names sub;
		char *path;
		int hit = 0;

		if (!span_ends(d, ".wants") && !span_ends(d, ".requires") &&
		    !span_ends(d, ".upholds"))
			continue;
		path = parsers_cat3(span_z(confdir), span_z("/"), d);
		if (path == NULL || parsers_other_list(in, path, &sub) < 0) {
			free(path);
			continue;
		}
		for (size_t k = 0; k < sub.n && !hit; k++)
			hit = sub.v[k] && unit_link_matches(id, sub.v[k]);
		parsers_names_release(&sub);
		free(path);
		if (hit)
			return 1;
	}
	return 0;
}

/* 1 if confdir holds a masking file (empty, or a link to /dev/null) named id. */
static int
unit_masked_by(const struct parser_input *in, const char *confdir, const struct parsers_names *conf,
	       struct span id)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	char *path;
	int masked = 0, found = 0;

	for (size_t i = 0; i < conf->n && !found; i++)
		found = conf->v[i] && span_eq(id, conf->v[i]);
	if (!found)
		return 0;
	path = parsers_cat3(span_z(confdir), span_z("/"), id);
	if (path && parsers_other_read(in, path, &bytes, &len) == 0)
		masked = len == 0 || span_eq(span_trim(span_of(bytes, len)), "/dev/null");
	free(bytes);
	free(path);
	return masked;
}

/*
 * The directories whose *.wants/ links enable the unit at path, and whose files of the
 * same name mask it, in systemd's order: for a user unit the user's own
 * ~/.config/systemd/user, then /etc/systemd/user; for a system unit /etc/systemd/system.
 * Fills dirs[] with new strings; returns how many, or -1 out of memory.
 */
static int
unit_confdirs(const char *path, char *dirs[2])
{
	struct span p = span_z(path), dir = span_path_dir(p);
	int n = 0;

	if (span_ends(dir, "/.config/systemd/user")) {
		dirs[n] = parsers_cat3(dir, span_z(""), span_z(""));
		if (dirs[n++] == NULL)
			return -1;
	}
	if (strstr(path, "/systemd/user/"))
		dirs[n] = parsers_cat3(span_z("/etc/systemd/user"), span_z(""), span_z(""));
	else
		dirs[n] = parsers_cat3(span_z("/etc/systemd/system"), span_z(""), span_z(""));
	if (dirs[n++] == NULL) {
		free(dirs[0]);
		return -1;
	}
	return n;
}

/*
 * The unit_file_state that the configuration directories decide ("masked", "enabled"), in
 * *state; NULL when they decide nothing. -1 only when out of memory.
 */
static int
unit_state(const struct parser_input *in, struct span id, const char **state, struct dt_err *err)
{
	char *dirs[2] = { NULL, NULL };
	int nd = unit_confdirs(in->path, dirs);

	*state = NULL;
	if (nd < 0)
		return dt_fail(err, DT_ENOMEM, "systemd_units: out of memory");
	for (int d = 0; d < nd && *state == NULL; d++) {
		struct span dir = span_z(dirs[d]), path = span_z(in->path);
		int inside =
			path.n > dir.n && memcmp(path.p, dir.p, dir.n) == 0 && path.p[dir.n] == '/';
		struct parsers_names conf;

		if (parsers_other_list(in, dirs[d], &conf) < 0)
			continue;
		if (!inside && unit_masked_by(in, dirs[d], &conf, id))
			*state = "masked";
		else if (unit_enabled(in, dirs[d], &conf, id))
			*state = "enabled";
		parsers_names_release(&conf);
	}
	for (int d = 0; d < nd; d++)
		free(dirs[d]);
	return 0;
}

int
parse_systemd_units(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct parsers_sink s;
	struct parsers_text t;
	struct unit_file u;
	struct span path, id;
	const char *state = NULL, *fragment;
	json_t *row = NULL;
	int ret = -1;

	if (parsers_sink_init(&s, "systemd_units", in, rows, err) < 0)
		return -1;
	path = span_z(in->path);
	id = span_path_base(path);
	if (id.n == 0)
		return 0;
	memset(&u, 0, sizeof(u));
	buf_init(&u.desc, PARSERS_MAX_INPUT);
	buf_init(&u.user, PARSERS_MAX_INPUT);
	fragment = in->path;
	if (parsers_text_load(in, &t) < 0) {
		state = t.is_devnull ? "masked" : ""; /* a link we cannot follow: unknown */
	} else if (t.s.n == 0) {
		state = "masked"; /* systemd treats an empty unit file as masked */
	} else if (t.target) {
		struct span base = span_path_base(span_z(t.target));

		/* A link to a unit of another name is an alias (Alias=, or by hand); to one
		 * of the same name outside the search path, `systemctl link`. */
		fragment = t.target;
		state = base.n == id.n && memcmp(base.p, id.p, id.n) == 0 ? "linked" : "alias";
	} else if (span_starts(path, "/run/systemd/generator")) {
		state = "generated";
	} else if (span_starts(path, "/run/systemd/transient/")) {
		state = "transient";
	} else if (unit_state(in, id, &state, err) < 0) {
		goto out;
	}
	/* A masked unit is not loaded: systemd shows its name as its description. */
	if (state == NULL || strcmp(state, "masked") != 0) {
		if (unit_parse(&u, t.s, err) < 0)
			goto out;
	}
	if (state == NULL)
		state = u.rules > 0 ? "disabled" : u.also > 0 ? "indirect" : "static";
	row = parsers_row_new(systemd_units_cols, err);
	if (row == NULL)
		goto out;
	if (span_row_set(row, "id", id, err) < 0 ||
	    span_row_set(row, "description", u.has_desc ? span_of(u.desc.data, u.desc.len) : id,
			 err) < 0 ||
	    parsers_row_setz(row, "unit_file_state", state, err) < 0 ||
	    parsers_row_setz(row, "fragment_path", fragment, err) < 0 ||
	    span_row_set(row, "user", span_of(u.user.data, u.user.len), err) < 0)
		goto out;
	ret = parsers_sink_add(&s, row, err);
	row = NULL;
out:
	json_decref(row);
	unit_file_release(&u);
	parsers_text_release(&t);
	return ret;
}

/* ======================================================================================== */
/* startup_items (osquery linux/startup_items.cpp)
 *
 * Files of /etc/init.d/ and ~/.config/autostart-scripts/ are scripts: name is the file
 * name, path the file. Files of /etc/xdg/autostart/ and ~/.config/autostart/ are desktop
 * entries: name from Name=, path from Exec= (the whole command line, arguments included,
 * as osquery reports it; args stays ""). Every row has type "Startup Item", status
 * "enabled", source the directory with a trailing '/', and username the second path
 * component when the directory is under /home/ (osquery's rule; "" elsewhere, /root too).
 * Deviation: osquery drops an Exec= or Name= line whose value holds another '=' ("Exec=env
 * A=B evil"); we keep the whole value, since hiding such a line would hide evidence. The
 * systemd-unit rows osquery adds from D-Bus are live state; see systemd_units.
 */

static const char *const startup_items_cols[] = { "name",   "path",   "args",     "type",
						  "source", "status", "username", NULL };

static int
is_desktop_dir(struct span dir)
{
	return span_eq(dir, "/etc/xdg/autostart") || span_ends(dir, "/.config/autostart");
}

static int
is_script_dir(struct span dir)
{
	return span_eq(dir, "/etc/init.d") || span_ends(dir, "/.config/autostart-scripts");
}

int
parse_startup_items(const struct parser_input *in, json_t *rows, struct dt_err *err)
{
	struct parsers_sink s;
	struct span path, dir, name, exec = span_z(""), user = span_z("");
	struct parsers_text t = { 0 };
	json_t *row = NULL;
	char *source = NULL;
	int desktop, ret = -1;

	if (parsers_sink_init(&s, "startup_items", in, rows, err) < 0)
		return -1;
	path = span_z(in->path);
	dir = span_path_dir(path);
	name = span_path_base(path);
	if (name.n == 0)
		return 0;
	desktop = is_desktop_dir(dir) || (!is_script_dir(dir) && span_ends(name, ".desktop"));
	if (desktop) {
		struct osplit lines;
		struct span line;

		name = span_z("");
		parsers_text_load(in, &t);
		osplit_init(&lines, t.s, "\n");
		while (osplit_next(&lines, &line)) {
			/* Later lines win, as in osquery (a [Desktop Action] Exec= too). */
			if (span_starts(line, "Name="))
				name = span_trim(span_sub(line, 5, line.n));
			else if (span_starts(line, "Exec="))
				exec = span_trim(span_sub(line, 5, line.n));
		}
	} else {
		exec = path;
	}
	if (span_starts(dir, "/home/")) {
		struct span rest = span_sub(dir, 6, dir.n);

		span_token(&rest, "/", &user);
	}
	source = parsers_cat3(dir, span_z("/"), span_z(""));
	row = parsers_row_new(startup_items_cols, err);
	if (source == NULL || row == NULL) {
		dt_fail(err, DT_ENOMEM, "startup_items: out of memory");
		goto out;
	}
	if (span_row_set(row, "name", name, err) < 0 || span_row_set(row, "path", exec, err) < 0 ||
	    parsers_row_setz(row, "type", "Startup Item", err) < 0 ||
	    parsers_row_setz(row, "source", source, err) < 0 ||
	    parsers_row_setz(row, "status", "enabled", err) < 0 ||
	    span_row_set(row, "username", user, err) < 0)
		goto out;
	ret = parsers_sink_add(&s, row, err);
	row = NULL;
out:
	json_decref(row);
	free(source);
	parsers_text_release(&t);
	return ret;
}
