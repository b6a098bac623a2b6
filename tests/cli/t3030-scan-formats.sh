#!/bin/bash
# t3030: the timeline formats of deltair scan. The same incident is scanned as JSON Lines
# (the reference) and as --format timesketch and --format bodyfile.
#   timesketch: every line is a JSON object with message, datetime (ISO 8601, microseconds,
#     +00:00), timestamp (microseconds, the same instant as datetime), timestamp_desc in
#     plaso's wording; a file event gives one line per time it has, each equal to the JSONL
#     event's time cut to microseconds; yara and row events one line each; no summary on
#     stdout (it goes to stderr). Times before 1970 and after 2038 included.
#   bodyfile: TSK's mactime parses it (mactime -b FILE -d -y), and every changed path
#     appears, hostile names ('|', '%', newline, non-UTF-8) decoded back to their bytes.
#   -o FILE is atomic: an existing FILE keeps its content until a run succeeds, and keeps it
#     when a run fails; no temporary file is left behind.
. "$TOP/tests/cli/lib.sh"
need mke2fs sgdisk mactime jq python3

(
	set -e
	mkdir -p gold && cd gold
	mkdir -p etc var/www/html srv
	printf 'root:x:0:0:root:/root:/bin/bash\n' > etc/passwd
	printf 'one\n' > srv/edit.txt
	printf 'gone\n' > srv/gone.txt
	printf '<?php echo 1; ?>\n' > var/www/html/index.php
	find . -depth -exec touch -h -d '2021-06-01 12:00:00 UTC' {} +
)
[ $? -eq 0 ] || die "building the gold tree failed"
part_size=$((24 * 1024 * 1024))
mke2fs -q -F -t ext4 -d gold p1.img "$((part_size / 1024))k" > /dev/null || die "mke2fs failed"
off=$(mkgpt gold.img p1.img 8300) || die "mkgpt failed"
rm -f p1.img
dt_ok baseline --no-progress -o gold.dtree gold.img

cp --sparse=always gold.img incident.img
t_loop incident.img -o "$off" --sizelimit "$part_size"
t_mount "$LOOP" m
(
	set -e
	cd m
	echo 'toor:x:0:0::/root:/bin/sh' >> etc/passwd
	printf 'two\n' > srv/edit.txt
	rm srv/gone.txt
	printf '<?php system($_GET["c"]); ?>\n' > var/www/html/c.php
	printf 'pipe\n' > 'srv/a|b'
	printf 'percent\n' > 'srv/100%'
	printf 'looks encoded\n' > 'srv/%7C%25'
	printf 'newline\n' > 'srv/new
line'
	printf 'latin-1\n' > "srv/$(printf 'caf\351')"
	printf 'tab\n' > "srv/$(printf 'a\tb')"
	ln -s /etc/passwd srv/link
	printf 'old\n' > srv/old
	touch -d '1965-03-04 05:06:07.123456789 UTC' srv/old
	printf 'future\n' > srv/future
	touch -d '2100-01-02 03:04:05.987654321 UTC' srv/future
)
[ $? -eq 0 ] || die "changing the incident failed"
sync
_t_umount "$PWD/m" || die "umount failed"
losetup -d "$LOOP"

SCAN=(scan --no-progress --rules "$TOP/rules" --baseline gold.dtree)
dt "${SCAN[@]}" -o ref.jsonl incident.img
expect_rc 1 "scan (jsonl)"
jq -s -e 'any(.[]; .event == "yara")' ref.jsonl > /dev/null || fail "no yara event in the reference run"
jq -s -e 'any(.[]; .event == "row")' ref.jsonl > /dev/null || fail "no row event in the reference run"
jq -s -e 'any(.[]; .event == "file" and .path == "/srv/future" and .mtime == "2100-01-02T03:04:05.987654321Z")' \
	ref.jsonl > /dev/null || fail "the 2100 mtime is not in the JSONL: $(grep srv/future ref.jsonl)"
# libtsk (4.11; istat shows it too) reads an ext4 time before 1970 as 2^32 s later (2101):
# the timeline can only be as right as the walk, so the 1965 line is checked only if the
# walk got it right.
old_ok=1
jq -s -e 'any(.[]; .event == "file" and .path == "/srv/old" and .mtime == "1965-03-04T05:06:07.123456789Z")' \
	ref.jsonl > /dev/null || {
	old_ok=0
	note "known: pre-1970 mtime read as $(jq -r 'select(.path == "/srv/old") | .mtime' ref.jsonl) (libtsk)"
}

# --- timesketch
dt "${SCAN[@]}" --format timesketch incident.img
expect_rc 1 "scan --format timesketch"
cp out ts.jsonl
cp err ts.err
python3 - ts.jsonl ref.jsonl ts.err "$old_ok" << 'EOF' || fail "--format timesketch is wrong"
import calendar, json, re, sys
bad = []
# plaso's descriptions of file times (plaso/lib/definitions.py: TIME_DESCRIPTION_MODIFICATION,
# _LAST_ACCESS, _CHANGE, _CREATION); yara and row lines are dated by the file's mtime.
PLASO = {"Content Modification Time", "Last Access Time", "Metadata Modification Time",
         "Creation Time"}
ts = []
for n, l in enumerate(open(sys.argv[1], "rb"), 1):
    try:
        o = json.loads(l)
    except ValueError as x:
        bad.append("line %d is not JSON: %s" % (n, x))
        continue
    if not isinstance(o, dict):
        bad.append("line %d is not an object" % n)
        continue
    ts.append(o)
def us_of(dt):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{6})\+00:00", dt or "")
    if not m:
        return None
    g = [int(x) for x in m.groups()]
    return calendar.timegm((g[0], g[1], g[2], g[3], g[4], g[5], 0, 0, 0)) * 10**6 + g[6]
def us_rfc3339(t):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.(\d{9})Z", t)
    g = [int(x) for x in m.groups()]
    ns = calendar.timegm((g[0], g[1], g[2], g[3], g[4], g[5], 0, 0, 0)) * 10**9 + g[6]
    return ns // 1000
for o in ts:
    if not isinstance(o.get("message"), str) or not o["message"]:
        bad.append("no message: %s" % json.dumps(o)[:200])
    u = us_of(o.get("datetime"))
    if u is None:
        bad.append("datetime %r is not ISO 8601 with microseconds and +00:00" % o.get("datetime"))
    elif o.get("timestamp") != u:
        bad.append("timestamp %r != datetime %r (%d)" % (o.get("timestamp"), o["datetime"], u))
    if o.get("timestamp_desc") not in PLASO:
        bad.append("timestamp_desc %r is not plaso's" % o.get("timestamp_desc"))
    if o.get("event") == "summary" or "counts" in o:
        bad.append("a summary on stdout")
# Against the JSONL reference.
ref = [json.loads(l) for l in open(sys.argv[2], "rb")]
descs = {"mtime": "Content Modification Time", "atime": "Last Access Time",
         "ctime": "Metadata Modification Time", "crtime": "Creation Time"}
def key(o):
    return o.get("path_bytes") or o.get("path")
for e in (e for e in ref if e["event"] == "file"):
    lines = [o for o in ts if o.get("data_type") == "fs:stat" and key(o) == key(e)]
    want = sorted((descs[k], us_rfc3339(e[k])) for k in descs if e.get(k))
    got = sorted((o["timestamp_desc"], o["timestamp"]) for o in lines)
    if got != want:
        bad.append("%s: timeline %s, want %s" % (e["path"], got, want))
    for o in lines:
        if o.get("change") != e["change"] or e["path"] not in o["message"]:
            bad.append("%s: line %s" % (e["path"], json.dumps(o)[:300]))
for k, dt in (("yara", "yara:match"), ("row", None)):
    n = sum(1 for e in ref if e["event"] == k)
    m = sum(1 for o in ts if (o.get("data_type") == dt if dt else
                              str(o.get("data_type", "")).startswith("config:")))
    if n != m:
        bad.append("%d %s events, %d timeline lines" % (n, k, m))
if len(ts) != sum(1 for o in ts if o.get("data_type") in ("fs:stat", "yara:match") or
                  str(o.get("data_type", "")).startswith("config:")):
    bad.append("lines of unknown data_type")
# The pre-1970 and post-2038 times come through.
checks = [("/srv/future", "2100-01-02T03:04:05.987654+00:00")]
if sys.argv[4] == "1":
    checks.append(("/srv/old", "1965-03-04T05:06:07.123456+00:00"))
for p, dt in checks:
    if not any(o.get("path") == p and o.get("timestamp_desc") == "Content Modification Time"
               and o.get("datetime") == dt for o in ts):
        bad.append("%s: no mtime line at %s" % (p, dt))
# The summary went to stderr, as JSON.
s = [json.loads(l) for l in open(sys.argv[3]) if l.startswith("{")]
if len(s) != 1 or s[0].get("event") != "summary":
    bad.append("stderr has no summary: %r" % open(sys.argv[3]).read()[:300])
for b in bad[:40]:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF

# --- bodyfile
dt "${SCAN[@]}" --format bodyfile -o body.txt incident.img
expect_rc 1 "scan --format bodyfile"
[ ! -s out ] || fail "scan -o body.txt also wrote to stdout"
mactime -b body.txt -d -y > mactime.csv 2> mactime.err || fail "mactime -b body.txt failed: $(head -c 500 mactime.err)"
[ ! -s mactime.err ] || fail "mactime complains: $(head -c 500 mactime.err)"
python3 - ref.jsonl body.txt mactime.csv << 'EOF' || fail "--format bodyfile is wrong"
import base64, calendar, csv, io, json, re, sys
bad = []
ref = [json.loads(l) for l in open(sys.argv[1], "rb")]
def raw(o, k):
    return base64.b64decode(o[k + "_bytes"]) if k + "_bytes" in o else o[k].encode()
def secs(t):
    if not t:
        return 0
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{9}Z", t)
    return calendar.timegm(tuple(int(x) for x in m.groups()) + (0, 0, 0))
want = {}
for e in (e for e in ref if e["event"] == "file"):
    name = raw(e, "path")
    if e["type"] == "symlink":
        name += b" -> " + raw(e, "link_target")
    if e["change"] == "deleted":
        name += b" (deleted)"  # as fls -r -m marks a deleted name
    want[name] = e
# The body lines themselves: 11 fields, one line per file event, times in seconds.
lines = open(sys.argv[2], "rb").read().split(b"\n")
if lines[-1] != b"":
    bad.append("body file does not end with a newline")
lines = lines[:-1]
if len(lines) != len(want):
    bad.append("%d body lines, %d file events" % (len(lines), len(want)))
got = {}
for l in lines:
    f = l.split(b"|")
    if len(f) != 11:
        bad.append("body line with %d fields: %r" % (len(f), l))
        continue
    name = re.sub(rb"%([0-9A-F]{2})", lambda m: bytes([int(m.group(1), 16)]), f[1])
    got[name] = f
    e = want.get(name)
    if e is None:
        bad.append("body line for %r, not a file event" % name)
        continue
    exp = [str(e["inode"]), str(e["uid"]), str(e["gid"]), str(e["size"]),
           str(secs(e["atime"])), str(secs(e["mtime"])), str(secs(e["ctime"])), str(secs(e["crtime"]))]
    act = [x.decode() for x in (f[2], f[4], f[5], f[6], f[7], f[8], f[9], f[10])]
    if exp != act:
        bad.append("%r: body fields %s, want %s" % (name, act, exp))
    if int(e["mode"], 8) & 0o777 != sum(1 << (8 - i) for i, c in enumerate(f[3][-9:].decode())
                                          if c not in "-"):
        bad.append("%r: mode %r vs %s" % (name, f[3], e["mode"]))
if set(got) != set(want):
    bad.append("body names %s != events %s" % (sorted(got), sorted(want)))
# mactime's view: every changed path is a File Name of its output, except a name with a
# newline: mactime's output loop matches keys with "." and drops it (as in t1050); its body
# line was checked above.
text = open(sys.argv[3], "rb").read().decode("latin-1")
rows = list(csv.reader(io.StringIO(text, newline="")))
if not rows or rows[0][:2] != ["Date", "Size"]:
    bad.append("mactime -d output has no header: %r" % text[:200])
names = {r[7].encode("latin-1") for r in rows[1:] if len(r) >= 8}
missing = {n for n in want if b"\n" not in n} - names
if missing:
    bad.append("not in mactime's output: %s" % sorted(missing))
for b in bad[:40]:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF

# --- -o is atomic
printf '{"previous":"content"}\n' > keep.jsonl
# A run that fails (the evidence does not exist) leaves FILE as it was.
dt "${SCAN[@]}" -o keep.jsonl no-such.img
[ "$rc" -ge 2 ] || fail "scan of a missing image: exit $rc"
[ "$(cat keep.jsonl)" = '{"previous":"content"}' ] || fail "a failed scan changed -o keep.jsonl"
# While a run works, FILE keeps its old content; then it is the whole output at once.
"$DELTAIR" "${SCAN[@]}" --threads 1 -o keep.jsonl incident.img 2> /dev/null &
pid=$!
seen_partial=0
while kill -0 "$pid" 2> /dev/null; do
	c=$(cat keep.jsonl 2> /dev/null || echo MISSING)
	if [ "$c" != '{"previous":"content"}' ] && ! tail -n 1 keep.jsonl | grep -q '"event":"summary"'; then
		seen_partial=1
	fi
done
wait "$pid"
rc=$?
[ "$rc" -eq 1 ] || fail "scan -o keep.jsonl: exit $rc"
[ "$seen_partial" -eq 0 ] || fail "-o keep.jsonl was seen missing or incomplete during the run"
cmp -s <(grep -v '"event":"summary"' keep.jsonl) <(grep -v '"event":"summary"' ref.jsonl) ||
	fail "scan -o keep.jsonl is not the reference output"
left=$(find . -maxdepth 1 -name '.*.jsonl.*' -o -maxdepth 1 -name '.body.txt.*')
[ -z "$left" ] || fail "temporary files left: $left"

# --- an error event of the walk (a directory whose block is out of the filesystem), in
# each format: it comes before the tree exists (the timeline used to crash on it).
if command -v debugfs > /dev/null; then
	mkdir -p t2/d t2/e
	printf 'in d\n' > t2/d/f
	printf 'in e\n' > t2/e/g
	mke2fs -q -F -t ext2 -d t2 e2.img 8M > /dev/null || die "mke2fs ext2 failed"
	dt_ok baseline --no-progress -o e2.dtree e2.img
	cp e2.img e2-bad.img
	debugfs -w -R 'set_inode_field /d block[0] 4000000' e2-bad.img > /dev/null 2>&1 ||
		die "debugfs set_inode_field failed"
	for f in jsonl timesketch bodyfile; do
		dt scan --no-progress --no-rules --no-artifacts --format "$f" --baseline e2.dtree e2-bad.img
		expect_rc 8 "scan --format $f with a walk error (incomplete)"
		cp out "e2.$f"
		cp err "e2.$f.err"
		s=$(grep '"event":"summary"' "e2.$f" "e2.$f.err" | sed 's/^[^:]*://' | head -1)
		[ "$(printf '%s' "$s" | jq -r '.errors')" = 1 ] || fail "--format $f: summary.errors is not 1: $s"
		grep -q '/d/f' "e2.$f" || fail "--format $f: /d/f (gone with its directory) is missing"
	done
	jq -s -e 'any(.[]; .event == "error" and .path == "/d" and (.message | startswith("cannot read directory")))' \
		e2.jsonl > /dev/null || fail "no error event for /d: $(cat e2.jsonl)"
else
	note "no debugfs: the walk-error case is not tested"
fi
t_done
