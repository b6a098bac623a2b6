#!/bin/bash
# tests/bench/corpus-check.sh [xfs|ext4]... - part of `make bench`: the corpus read raw is
# what the kernel shows, and the raw diff of the incident is its ground truth (issue 13 for
# XFS; ext4 the same way). Per filesystem (default: xfs ext4):
#  1. `deltair baseline` of the gold image read raw against the `dir:` baseline of the same
#     partition through a read-only loop mount (XFS ro,norecovery,nouuid; ext4 ro,noload):
#     `deltair diff` of the two trees gives no file event, and `tree export` of both is the
#     same, entry for entry and field for field (but `fs`, p1 against p0).
#  2. `deltair diff` of the incident image read raw against the gold's raw baseline, against
#     the manifest (../shared/corpus: the changes make-incident.sh made), path by path: every
#     manifest path has one event and every event of an allocated entry a manifest path; the
#     kind (added, deleted, modified: any content class) and the type of an added entry
#     agree; what the manifest says changed (content, size, inode, mode) is what the event's
#     `changed` says, no more and no less; a timestomped entry is flagged
#     timestomp_suspected. Names the incident left in the free space of directories (flag
#     deleted_entry: sed -i's temporary file, a file renamed over another) are not in the
#     manifest; each must lie in a directory the manifest changed, and they are listed.
# Exit 1 on any mismatch (each printed); the numbers go to docs/benchmarks.md (BENCH:corpus).
#   CORPUS=/var/tmp/corpus tests/bench/corpus-check.sh xfs        (as root)
# DOC= (empty) leaves docs/benchmarks.md alone (a trial on another corpus).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
deltair=${DELTAIR:-$top/build/deltair}
CORPUS=${CORPUS:-/var/tmp/corpus}
doc=${DOC-$top/docs/benchmarks.md}
[ "$(id -u)" = 0 ] || { echo "corpus-check: run as root (loop mounts)" >&2; exit 2; }
[ -x "$deltair" ] || { echo "corpus-check: build first" >&2; exit 2; }
[ $# -gt 0 ] || set -- xfs ext4
out=$(mktemp -d "${TMPDIR:-/var/tmp}/deltair-corpus-check.XXXXXX")
loop=
cleanup()
{
	umount "$out/m" 2> /dev/null || true
	[ -z "$loop" ] || losetup -d "$loop" 2> /dev/null || true
	rm -rf "$out"
}
trap cleanup EXIT
mkdir "$out/m"
now() { date +%s.%N; }
rc=0
: > "$out/table.md"
for fs in "$@"; do
	case $fs in
	xfs) gold=$CORPUS/gold-xfs.raw inc=$CORPUS/incident-xfs.raw opts=ro,norecovery,nouuid
		man=$CORPUS/incident-xfs-manifest.jsonl ;;
	ext4) gold=$CORPUS/gold.raw inc=$CORPUS/incident.raw opts=ro,noload
		man=$CORPUS/incident-manifest.jsonl ;;
	*) echo "corpus-check: no such filesystem '$fs' (xfs, ext4)" >&2; exit 2 ;;
	esac
	for f in "$gold" "$inc" "$man"; do
		[ -f "$f" ] || { echo "corpus-check: $fs: no $f (build the corpus: ../shared/corpus)" >&2; exit 2; }
	done
	d=$out/$fs
	mkdir "$d"
	# Partition 1 at 1 MiB, as make-gold.sh makes it.
	loop=$(losetup -f --show -r -o 1048576 "$gold")
	mount -o "$opts" "$loop" "$out/m"
	t0=$(now)
	"$deltair" baseline --no-progress -o "$d/raw.dtree" "$gold" 2> "$d/raw.err"
	t1=$(now)
	"$deltair" baseline --no-progress -o "$d/dir.dtree" "dir:$out/m" 2> "$d/dir.err"
	t2=$(now)
	umount "$out/m"
	losetup -d "$loop"
	loop=
	drc=0
	"$deltair" diff --no-progress -o "$d/raw-vs-dir.jsonl" "$d/dir.dtree" "$d/raw.dtree" \
		2> "$d/raw-vs-dir.err" || drc=$?
	"$deltair" tree export --format jsonl -o "$d/raw.jsonl" "$d/raw.dtree"
	"$deltair" tree export --format jsonl -o "$d/dir.jsonl" "$d/dir.dtree"
	t3=$(now)
	irc=0
	"$deltair" diff --no-progress -b "$d/raw.dtree" -o "$d/inc.jsonl" "$inc" 2> "$d/inc.err" ||
		irc=$?
	t4=$(now)
	/usr/bin/python3 - "$fs" "$d" "$man" "$drc" "$irc" "$t0" "$t1" "$t2" "$t3" "$t4" \
		>> "$out/table.md" << 'EOF' || rc=1
import json, os, sys
fs, d, man, drc, irc = sys.argv[1:6]
t = [float(x) for x in sys.argv[6:11]]
bad = []
def events(f):
    return [e for e in map(json.loads, open(os.path.join(d, f))) if e.get("event") == "file"]
# 1. raw against dir:
rd = events("raw-vs-dir.jsonl")
if drc != "0" or rd:
    bad.append("raw against dir: gave %d file events (exit %s): %s"
               % (len(rd), drc, ", ".join("%s %s" % (e["change"], e["path"]) for e in rd[:10])))
def load(f):
    out = {}
    for e in events(f):
        e.pop("fs", None)
        out[e["path"]] = e
    return out
raw, dirt = load("raw.jsonl"), load("dir.jsonl")
fields = 0
for p in sorted(set(raw) | set(dirt)):
    a, b = raw.get(p), dirt.get(p)
    if a != b:
        fields += 1
        if fields <= 10:
            bad.append("export %s: raw %s, dir: %s" % (p, a, b))
# 2. the incident against the manifest
want = {e["path"]: e for e in map(json.loads, open(man))}
got, ghosts = {}, []
for e in events("inc.jsonl"):
    if "deleted_entry" in e.get("flags", []):
        ghosts.append(e["path"])
    elif e["path"] in got:
        bad.append("%s: two events" % e["path"])
    else:
        got[e["path"]] = e
if irc != "1":
    bad.append("diff of the incident exited %s, not 1 (changes found)" % irc)
kinds = {"added": {"added"}, "deleted": {"deleted"}, "metadata": {"metadata"},
         "modified": {"modified", "appended", "truncated"}}
types = {"file": "file", "dir": "dir", "symlink": "symlink"}
fieldmap = {"content": "sha256", "size": "size", "inode": "inode", "mode": "mode"}
per = {}
for p in sorted(set(want) | set(got)):
    w, g = want.get(p), got.get(p)
    if w is None:
        bad.append("%s: %s, not in the manifest" % (p, g["change"]))
        continue
    c = per.setdefault(w["class"], [0, 0])
    c[0] += 1
    if g is None:
        bad.append("%s: in the manifest (%s), no event" % (p, w["kind"]))
        continue
    why = []
    if g["change"] not in kinds[w["kind"]]:
        why.append("change %s for a %s entry" % (g["change"], w["kind"]))
    if w["kind"] == "added":
        t_ = [types[x] for x in w["what"] if x in types]
        if t_ and g.get("type") != t_[0]:
            why.append("type %s, not %s" % (g.get("type"), t_[0]))
    if w["kind"] in ("modified", "metadata"):
        a = sorted(fieldmap[x] for x in w["what"] if x in fieldmap)
        b = sorted(x for x in g.get("changed", []) if x in fieldmap.values())
        if a != b:
            why.append("changed %s, the manifest says %s" % (b, a))
    if "timestomp" in w["what"] and "timestomp_suspected" not in g.get("flags", []):
        why.append("not flagged timestomp_suspected")
    if why:
        bad.append("%s: %s" % (p, "; ".join(why)))
    else:
        c[1] += 1
dirs = {os.path.dirname(p) for p in want}
for p in ghosts:
    if os.path.dirname(p) not in dirs:
        bad.append("%s: a deleted name in a directory the manifest did not change" % p)
for b in bad:
    print("corpus-check: %s: %s" % (fs, b), file=sys.stderr)
print("| %s | %d | %s | %s | %d / %d | %s | %s | %.1f + %.1f | %.1f | %s |" % (
    fs, len(raw), "none" if drc == "0" and not rd and not fields else "%d events, %d entries differ"
    % (len(rd), fields), ", ".join("%s %d / %d" % (k, v[1], v[0]) for k, v in sorted(per.items())),
    sum(v[1] for v in per.values()), len(want),
    len(set(got) - set(want)), ", ".join("`%s`" % p for p in ghosts) or "none",
    t[1] - t[0], t[2] - t[1], t[4] - t[3], "yes" if not bad else "**NO** (%d)" % len(bad)))
sys.exit(1 if bad else 0)
EOF
done
{
	echo "Measured $(date -u +%F) by \`tests/bench/corpus-check.sh\` (part of \`make bench\`; load"
	echo "$(cut -d' ' -f1 /proc/loadavg)): the corpus's gold image read raw against its \`dir:\` over a"
	echo "read-only loop mount, and the raw diff of the incident against the manifest"
	echo "(../shared/corpus). Times in seconds, wall clock."
	echo
	echo "| fs | entries | raw against \`dir:\` | manifest paths matched (class) | all | events not in the manifest | deleted names (not in the manifest) | baseline raw + \`dir:\` s | diff s | exact |"
	echo "|---|---:|---|---|---:|---:|---|---:|---:|---|"
	cat "$out/table.md"
} > "$out/doc.md"
cat "$out/doc.md"
[ -z "$doc" ] || python3 "$top/tests/bench/put-section.py" "$doc" corpus \
	"## The corpus read raw: kernel view and ground truth" "$out/doc.md"
exit $rc
