/* report.c - see report.h: the case is read, aggregated, then written as two files. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "outfile.h"
#include "report/report_int.h"

#include "banned.h"

static void
out_path(const struct report_opts *o, const char *name, char *buf, size_t n)
{
	const char *dir = o->out_dir ? o->out_dir : o->case_dir;
	size_t dl = strlen(dir);

	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	snprintf(buf, n, "%.*s/%s", (int)dl, dir, name);
}

int
report_check(const struct report_opts *o, struct dt_err *err)
{
	struct outfile_opts oj = { .kind = OUTFILE_REPORT_JSON, .force = o->force };
	struct outfile_opts oh = { .kind = OUTFILE_REPORT_HTML, .force = o->force };
	char pj[PATH_MAX], ph[PATH_MAX];
	struct stat st;

	/* "" would put the report at "/report.json". */
	if (o->case_dir == NULL || *o->case_dir == '\0' || (o->out_dir && *o->out_dir == '\0'))
		return dt_fail(err, DT_EUSAGE, "an empty folder name");
	if (stat(o->case_dir, &st) != 0)
		return dt_fail_errno(err, DT_EIO, "cannot open the case folder '%s'", o->case_dir);
	if (!S_ISDIR(st.st_mode))
		return dt_fail(err, DT_EUSAGE, "'%s' is not a folder", o->case_dir);
	out_path(o, "report.json", pj, sizeof(pj));
	out_path(o, "report.html", ph, sizeof(ph));
	if (outfile_check(pj, &oj, err) < 0 || outfile_check(ph, &oh, err) < 0)
		return -1;
	return 0;
}

static void
state_release(struct state *s)
{
	free(s->slots);
	free(s->touched);
	free(s->times);
	for (size_t i = 0; i < s->nhosts; i++)
		report_host_release(&s->hosts[i]);
	free(s->hosts);
	for (size_t i = 0; i < s->npaths; i++) {
		free(s->paths[i].key);
		free(s->paths[i].occ);
	}
	free(s->paths);
}

/* The case's name: the last component of its folder. */
static void
case_name_of(const char *dir, char *out, size_t n)
{
	size_t len = strlen(dir);
	const char *b;

	while (len > 1 && dir[len - 1] == '/')
		len--;
	b = dir + len;
	while (b > dir && b[-1] != '/')
		b--;
	snprintf(out, n, "%.*s", (int)(dir + len - b), b);
}

int
report_write(const struct report_opts *o, struct report_stats *st, struct dt_err *err)
{
	struct outfile_opts oj = { .kind = OUTFILE_REPORT_JSON, .force = o->force };
	struct outfile_opts oh = { .kind = OUTFILE_REPORT_HTML, .force = o->force };
	struct outfile fj, fh;
	struct state s;
	struct hashes hs;
	char pj[PATH_MAX], ph[PATH_MAX], name[NAME_MAX + 1], created[32];
	char **names = NULL;
	size_t nnames = 0;
	int casefd = -1, rc = -1;

	memset(&s, 0, sizeof(s));
	memset(&hs, 0, sizeof(hs));
	memset(&fj, 0, sizeof(fj));
	memset(&fh, 0, sizeof(fh));
	s.o = o;
	if (getrandom(&s.seed, sizeof(s.seed), GRND_NONBLOCK) != (ssize_t)sizeof(s.seed))
		s.seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	out_path(o, "report.json", pj, sizeof(pj));
	out_path(o, "report.html", ph, sizeof(ph));
	if (report_check(o, err) < 0)
		goto out;
	if (report_list_case(o->case_dir, &casefd, &names, &nnames, err) < 0)
		goto out;
	for (size_t i = 0; i < nnames; i++)
		if (report_read_host(&s, casefd, names[i], err) < 0)
			goto out;
	if (report_aggregate(&s, &hs, err) < 0)
		goto out;
	case_name_of(o->case_dir, name, sizeof(name));
	report_time_str((int64_t)time(NULL), created);
	if (outfile_open(&fj, pj, &oj, err) < 0 ||
	    report_write_json(&s, &hs, fj.fp, name, created, err) < 0)
		goto out;
	if (ferror(fj.fp)) {
		dt_fail_errno(err, DT_EIO, "cannot write '%s'", pj);
		goto out;
	}
	if (outfile_open(&fh, ph, &oh, err) < 0)
		goto out;
	report_write_html(&s, &hs, fh.fp, name, created);
	if (ferror(fh.fp)) {
		dt_fail_errno(err, DT_EIO, "cannot write '%s'", ph);
		goto out;
	}
	/* Both or neither: the JSON is committed last, after the page it describes. */
	if (outfile_commit(&fh, err) < 0 || outfile_commit(&fj, err) < 0)
		goto out;
	rc = 0;
	if (st)
		*st = s.st;
out:
	outfile_release(&fj);
	outfile_release(&fh);
	if (casefd >= 0)
		close(casefd);
	for (size_t i = 0; i < nnames; i++)
		free(names[i]);
	free(names);
	report_hashes_release(&hs);
	state_release(&s);
	return rc;
}
