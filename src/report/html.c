/* html.c - report.html: one self-contained page, every string from evidence escaped. */
#include <string.h>

#include "events.h"
#include "htree.h"
#include "outfile.h"
#include "report/report_int.h"

#include "banned.h"

/* Host names listed on one row of a table of paths or hashes; the rest are counted. */
#define HTML_MAX_NAMES 50

/*
 * Text from evidence as HTML text or an attribute value: markup characters as entities;
 * control bytes, '\\' and bytes that are not UTF-8 as \xHH; C1 controls and the
 * bidirectional controls (which can make a name read backwards) as \u{HHHH}. A file name
 * is hostile input: nothing of it may become markup, and what it says must be visible.
 */
static void
html_text(FILE *fp, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t k = events_utf8_seq(p + i, n - i);
		uint32_t cp = 0;

		if (k == 0 || (k == 1 && (p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\'))) {
			fprintf(fp, "\\x%02x", p[i]);
			i++;
			continue;
		}
		if (k == 1) {
			switch (p[i]) {
			case '&': fputs("&amp;", fp); break;
			case '<': fputs("&lt;", fp); break;
			case '>': fputs("&gt;", fp); break;
			case '"': fputs("&quot;", fp); break;
			case '\'': fputs("&#39;", fp); break;
			default: fputc(p[i], fp);
			}
			i++;
			continue;
		}
		cp = p[i] & (0xff >> (k + 1));
		for (size_t j = 1; j < k; j++)
			cp = cp << 6 | (p[i + j] & 0x3f);
		if ((cp >= 0x80 && cp <= 0x9f) || cp == 0x61c || cp == 0x200e || cp == 0x200f ||
		    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))
			fprintf(fp, "\\u{%04x}", (unsigned)cp);
		else
			fwrite(p + i, 1, k, fp);
		i += k;
	}
}

static void
html_str(FILE *fp, const char *s)
{
	html_text(fp, s ? s : "", s ? strlen(s) : 0);
}

/* "FS:PATH" of a key, escaped. */
static void
html_key(FILE *fp, const char *key, size_t klen)
{
	size_t fl = strlen(key);

	html_text(fp, key, fl);
	fputc(':', fp);
	html_text(fp, key + fl + 1, klen - fl - 1);
}

static const char *const class_color[DIFF_NCLASSES] = {
	[DIFF_ADDED] = "#d62728",    [DIFF_DELETED] = "#7f7f7f", [DIFF_MODIFIED] = "#ff7f0e",
	[DIFF_APPENDED] = "#bcbd22", [DIFF_RENAMED] = "#9467bd", [DIFF_METADATA] = "#1f77b4",
	[DIFF_TYPE] = "#8c564b",
};

/* A bar per change class, scaled to the host's largest. */
static void
svg_classes(FILE *fp, const struct rhost *h)
{
	uint64_t max = 0;

	for (int k = 0; k < DIFF_NCLASSES; k++)
		max = h->counts[k] > max ? h->counts[k] : max;
	fprintf(fp, "<svg class=\"bars\" width=\"210\" height=\"%d\" role=\"img\">",
		DIFF_NCLASSES * 13 + 2);
	for (int k = 0; k < DIFF_NCLASSES; k++) {
		int y = k * 13 + 1;
		unsigned w = max ? (unsigned)((double)h->counts[k] * 100.0 / (double)max + 0.5) : 0;

		if (h->counts[k] && w == 0)
			w = 1;
		fprintf(fp,
			"<text x=\"0\" y=\"%d\">%s</text><rect x=\"62\" y=\"%d\" width=\"%u\" "
			"height=\"10\" fill=\"%s\"><title>%s: %llu</title></rect>"
			"<text x=\"%u\" y=\"%d\">%llu</text>",
			y + 9, diff_class_name(k), y, w, class_color[k], diff_class_name(k),
			(unsigned long long)h->counts[k], 66 + w, y + 9,
			(unsigned long long)h->counts[k]);
	}
	fputs("</svg>", fp);
}

/* A histogram of the host's change times, first and last below. */
static void
svg_times(FILE *fp, const struct rhost *h)
{
	uint32_t max = 0;
	char a[32], b[32];
	int label;

	if (h->timed == 0) {
		fputs("<span class=\"dim\">no dated change</span>", fp);
		return;
	}
	for (int i = 0; i < REPORT_TIME_BINS; i++)
		max = h->bins[i] > max ? h->bins[i] : max;
	report_time_str(h->t_first, a);
	report_time_str(h->t_last, b);
	/* The axis names the days; within one day, the times of day. */
	label = memcmp(a, b, 10) == 0 ? 11 : 0;
	fprintf(fp, "<svg class=\"hist\" width=\"%d\" height=\"70\" role=\"img\">",
		REPORT_TIME_BINS * 9 + 2);
	for (int i = 0; i < REPORT_TIME_BINS; i++) {
		unsigned ht = max ? (unsigned)((double)h->bins[i] * 48.0 / (double)max + 0.5) : 0;

		if (h->bins[i] && ht == 0)
			ht = 1;
		fprintf(fp,
			"<rect x=\"%d\" y=\"%u\" width=\"8\" height=\"%u\" fill=\"#555\">"
			"<title>%u change(s)</title></rect>",
			i * 9 + 1, 50 - ht, ht, h->bins[i]);
	}
	fprintf(fp,
		"<line x1=\"0\" y1=\"50.5\" x2=\"%d\" y2=\"50.5\" stroke=\"#999\"/>"
		"<text x=\"0\" y=\"62\">%.10s</text><text x=\"%d\" y=\"62\" "
		"text-anchor=\"end\">%.10s</text></svg>"
		"<div class=\"dim\">%s &#8211; %s</div>",
		REPORT_TIME_BINS * 9 + 2, a + label, REPORT_TIME_BINS * 9 + 2, b + label, a, b);
}

static void
html_host_link(FILE *fp, const struct state *s, uint32_t host)
{
	fprintf(fp, "<a href=\"#h%u\">", host);
	html_str(fp, s->hosts[host].name);
	fputs("</a>", fp);
}

/* A JSON value of evidence (a row's columns, tags) as escaped compact text. */
static void
html_json(FILE *fp, const json_t *v)
{
	char *t = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	html_str(fp, t ? t : "");
	free(t);
}

static const char html_css[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}"
	"h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ccc}"
	"table{border-collapse:collapse;margin:.5em 0}"
	"td,th{border:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}"
	"th{background:#f4f4f4}code{font:12px ui-monospace,monospace;word-break:break-all}"
	"tr.rare td{background:#fff3f0}td.n{text-align:right;white-space:nowrap}"
	".dim{color:#777;font-size:12px}svg text{font:10px sans-serif;fill:#333}"
	".flag{display:inline-block;background:#eee;border-radius:3px;padding:0 4px;"
	"margin:1px;font-size:12px}.bad{color:#b00;font-weight:bold}";

static void
html_hosts(FILE *fp, const struct state *s)
{
	fputs("<h2>Hosts</h2>\n<table class=\"hosts\"><tr><th>host</th><th>changes</th>"
	      "<th>change classes</th><th>change times (ctime)</th><th>YARA</th>"
	      "<th>rows +/&#8722;</th><th>errors</th></tr>\n",
	      fp);
	for (size_t i = 0; i < s->nhosts; i++) {
		const struct rhost *h = &s->hosts[i];
		uint64_t delta = 0;

		if (h->status != HOST_COMPLETE)
			continue;
		for (int k = 0; k < DIFF_NCLASSES; k++)
			delta += h->counts[k];
		fprintf(fp, "<tr id=\"h%zu\"><td class=\"host\">", i);
		html_str(fp, h->name);
		if (json_is_false(json_object_get(h->summary, "complete")))
			fputs("<div class=\"bad\">scan incomplete: evidence not read</div>", fp);
		fprintf(fp, "</td><td class=\"n\">%llu</td><td>", (unsigned long long)delta);
		svg_classes(fp, h);
		fputs("</td><td>", fp);
		svg_times(fp, h);
		fprintf(fp,
			"</td><td class=\"n%s\">%llu</td><td class=\"n\">+%llu / &#8722;%llu</td>"
			"<td class=\"n\">%llu</td></tr>\n",
			h->yara ? " bad" : "", (unsigned long long)h->yara,
			(unsigned long long)h->rows_added, (unsigned long long)h->rows_removed,
			(unsigned long long)h->errors);
	}
	fputs("</table>\n", fp);
	if (s->st.incomplete + s->st.unreadable == 0)
		return;
	fputs("<h2>Not counted</h2>\n<ul class=\"skipped\">", fp);
	for (size_t i = 0; i < s->nhosts; i++) {
		const struct rhost *h = &s->hosts[i];
		if (h->status == HOST_COMPLETE)
			continue;
		fputs("<li><b>", fp);
		html_str(fp, h->name);
		fprintf(fp,
			"</b>: %s: ", h->status == HOST_INCOMPLETE ? "incomplete" : "unreadable");
		html_str(fp, h->reason);
		fputs("</li>\n", fp);
	}
	fputs("</ul>\n", fp);
}

static void
html_paths(FILE *fp, const struct state *s)
{
	size_t shown = s->npaths < REPORT_HTML_MAX_ROWS ? s->npaths : REPORT_HTML_MAX_ROWS;

	fputs("<h2>Changed paths across hosts, unexplained first, then rarest first</h2>\n"
	      "<table class=\"paths\"><tr>"
	      "<th>hosts</th><th>path</th><th>change</th><th>flags</th><th>YARA</th>"
	      "<th>on</th></tr>\n",
	      fp);
	for (size_t i = 0; i < shown; i++) {
		const struct rpath *p = &s->paths[i];
		unsigned cls = 0, flags = 0;
		uint64_t yara = 0, in_members = 0;

		for (size_t k = 0; k < p->nocc; k++) {
			cls |= 1u << p->occ[k].change;
			flags |= p->occ[k].flags;
			yara += p->occ[k].yara;
			in_members += p->occ[k].yara_members;
		}
		fprintf(fp, "<tr%s><td class=\"n\">%zu/%zu</td><td><code>",
			p->nocc == 1 && s->st.hosts > 1 ? " class=\"rare\"" : "", p->nocc,
			s->st.hosts);
		html_key(fp, p->key, p->klen);
		fputs("</code></td><td>", fp);
		for (int k = 0, first = 1; k < DIFF_NCLASSES; k++)
			if (cls & (1u << k)) {
				fprintf(fp, "%s<span style=\"color:%s\">%s</span>",
					first ? "" : ", ", class_color[k], diff_class_name(k));
				first = 0;
			}
		fputs("</td><td>", fp);
		for (int b = 0; b < DIFF_NFLAGS; b++)
			if (flags & (1u << b))
				fprintf(fp, "<span class=\"flag\">%s</span>",
					diff_flag_name(1u << b));
		if (report_path_explained(p))
			fputs("<span class=\"flag\">explained</span>", fp);
		fprintf(fp, "</td><td class=\"n%s\">%llu", yara ? " bad" : "",
			(unsigned long long)yara);
		if (in_members)
			fprintf(fp, "<br><span class=\"dim\">%llu in members</span>",
				(unsigned long long)in_members);
		fputs("</td><td>", fp);
		for (size_t k = 0; k < p->nocc && k < HTML_MAX_NAMES; k++) {
			if (k)
				fputs(", ", fp);
			html_host_link(fp, s, p->occ[k].host);
		}
		if (p->nocc > HTML_MAX_NAMES)
			fprintf(fp, " and %zu more", p->nocc - HTML_MAX_NAMES);
		fputs("</td></tr>\n", fp);
	}
	fputs("</table>\n", fp);
	if (shown < s->npaths)
		fprintf(fp,
			"<p class=\"dim\">%zu more paths (the most common) are in report.json."
			"</p>\n",
			s->npaths - shown);
}

static void
html_hashes(FILE *fp, const struct state *s, struct hashes *hs)
{
	size_t shown = hs->ng < REPORT_HTML_MAX_ROWS ? hs->ng : REPORT_HTML_MAX_ROWS;
	char hex[65];

	fputs("<h2>Content (SHA-256) across hosts, rarest first</h2>\n<table class=\"hashes\">"
	      "<tr><th>hosts</th><th>sha256</th><th>paths</th><th>on</th></tr>\n",
	      fp);
	for (size_t i = 0; i < shown; i++) {
		const struct hgroup *g = &hs->g[i];
		size_t listed = 0;

		htree_hex(hs->occ[g->start].sha, 32, hex);
		fprintf(fp, "<tr%s><td class=\"n\">%zu/%zu</td><td><code>%s</code></td><td>",
			g->hosts == 1 && s->st.hosts > 1 ? " class=\"rare\"" : "", g->hosts,
			s->st.hosts, hex);
		hs->epoch++;
		for (size_t k = g->start; k < g->start + g->n && listed < HTML_MAX_NAMES; k++) {
			if (!report_first_visit(hs, hs->occ[k].path))
				continue;
			fputs(listed++ ? "<br><code>" : "<code>", fp);
			html_key(fp, s->paths[hs->occ[k].path].key, s->paths[hs->occ[k].path].klen);
			fputs("</code>", fp);
		}
		fputs("</td><td>", fp);
		listed = 0;
		for (size_t k = g->start; k < g->start + g->n; k++) {
			if (k > g->start && hs->occ[k].host == hs->occ[k - 1].host)
				continue;
			if (listed == HTML_MAX_NAMES) {
				fprintf(fp, " and %zu more", g->hosts - listed);
				break;
			}
			if (listed++)
				fputs(", ", fp);
			html_host_link(fp, s, hs->occ[k].host);
		}
		fputs("</td></tr>\n", fp);
	}
	fputs("</table>\n", fp);
	if (shown < hs->ng)
		fprintf(fp, "<p class=\"dim\">%zu more hashes are in report.json.</p>\n",
			hs->ng - shown);
}

/* A column of a table of kept events: its heading, the event's key, how it is shown. */
struct html_col {
	const char *head, *key;
	enum { COL_TEXT, COL_BAD, COL_CODE, COL_JSON, COL_FSPATH } how;
};

static const struct html_col yara_cols[] = {
	{ "rule", "rule", COL_BAD },      { "namespace", "namespace", COL_TEXT },
	{ "tags", "tags", COL_JSON },     { "path", "path", COL_FSPATH },
	{ "member", "member", COL_CODE }, { "sha256", "sha256", COL_CODE },
	{ NULL, NULL, COL_TEXT },
};
static const struct html_col row_cols[] = {
	{ "table", "table", COL_TEXT }, { "action", "action", COL_TEXT },
	{ "file", "path", COL_CODE },   { "columns", "columns", COL_JSON },
	{ NULL, NULL, COL_TEXT },
};

static void
html_table(FILE *fp, const char *cls, const struct html_col *cols, const json_t *list)
{
	size_t k;
	json_t *v;

	fprintf(fp, "<table class=\"%s\"><tr>", cls);
	for (const struct html_col *c = cols; c->head; c++)
		fprintf(fp, "<th>%s</th>", c->head);
	fputs("</tr>\n", fp);
	json_array_foreach(list, k, v)
	{
		fputs("<tr>", fp);
		for (const struct html_col *c = cols; c->head; c++) {
			const json_t *x = json_object_get(v, c->key);

			fputs(c->how == COL_BAD ? "<td class=\"bad\">" : "<td>", fp);
			if (c->how >= COL_CODE)
				fputs("<code>", fp);
			if (c->how == COL_FSPATH) {
				html_str(fp, json_string_value(json_object_get(v, "fs")));
				fputc(':', fp);
			}
			if (c->how == COL_JSON)
				html_json(fp, x);
			else
				html_str(fp, json_string_value(x));
			fputs(c->how >= COL_CODE ? "</code></td>" : "</td>", fp);
		}
		fputs("</tr>\n", fp);
	}
	fputs("</table>\n", fp);
}

static void
html_details(FILE *fp, const struct state *s)
{
	fputs("<h2>YARA matches and row changes per host</h2>\n", fp);
	for (size_t i = 0; i < s->nhosts; i++) {
		const struct rhost *h = &s->hosts[i];

		if (h->status != HOST_COMPLETE ||
		    (h->yara == 0 && h->rows_added + h->rows_removed == 0))
			continue;
		fputs("<h3>", fp);
		html_str(fp, h->name);
		fputs("</h3>\n", fp);
		if (h->yara) {
			html_table(fp, "yara", yara_cols, h->yara_list);
			if (h->yara_more)
				fprintf(fp, "<p class=\"dim\">%llu more YARA matches.</p>\n",
					(unsigned long long)h->yara_more);
		}
		if (h->rows_added + h->rows_removed == 0)
			continue;
		html_table(fp, "rows", row_cols, h->row_list);
		if (h->rows_more)
			fprintf(fp, "<p class=\"dim\">%llu more row changes.</p>\n",
				(unsigned long long)h->rows_more);
	}
}

void
report_write_html(struct state *s, struct hashes *hs, FILE *fp, const char *case_name,
		  const char *created)
{
	/* No script, no network, no external anything: the policy forbids what escaping
	 * should already prevent. */
	fputs(OUTFILE_REPORT_HTML_MAGIC
	      "<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
	      "style-src 'unsafe-inline'; img-src data:; form-action 'none'\">\n"
	      "<meta name=\"referrer\" content=\"no-referrer\">\n<title>deltair report: ",
	      fp);
	html_str(fp, case_name);
	fprintf(fp, "</title>\n<style>%s</style></head>\n<body>\n<h1>Case <code>", html_css);
	html_str(fp, case_name);
	fprintf(fp,
		"</code></h1>\n<p>%zu host(s) read; %zu changed path(s), <b>%zu on one host "
		"only</b>; %zu distinct content hash(es).",
		s->st.hosts, s->st.paths, s->st.unique, s->st.hashes);
	if (s->st.incomplete + s->st.unreadable)
		fprintf(fp, " <span class=\"bad\">%zu result folder(s) not counted.</span>",
			s->st.incomplete + s->st.unreadable);
	fprintf(fp,
		"</p>\n<p class=\"dim\">Written %s by deltair %s. Paths are FS:PATH; bytes "
		"that are control characters or not UTF-8 are shown as \\xHH.</p>\n",
		created, DELTAIR_VERSION);
	html_hosts(fp, s);
	html_paths(fp, s);
	html_hashes(fp, s, hs);
	html_details(fp, s);
	fputs("</body></html>\n", fp);
}
