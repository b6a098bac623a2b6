#!/bin/bash
# tests/bench/scale.sh - a million entries (issue 7, "Scale"): an ext4 image of 1,000 folders
# x 1,000 small files made with mke2fs -d, and a copy of it with 1% of the files appended to
# through a loop mount. Times and peak RSS (/usr/bin/time) of the baseline, of the
# tree-against-tree diff and of the image diff, median of RUNS; the table goes to
# docs/benchmarks.md between the BENCH:scale markers.
#   tests/bench/scale.sh                  (as root; the images are made once, ~10 min)
#   RUNS=3 SCALE_DIR=/var/tmp/deltair-scale DELTAIR=build/deltair tests/bench/scale.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
deltair=${DELTAIR:-$top/build/deltair}
dir=${SCALE_DIR:-/var/tmp/deltair-scale}
RUNS=${RUNS:-3}
[ "$(id -u)" = 0 ] || { echo "scale: run as root (loop mount)" >&2; exit 2; }
mkdir -p "$dir"
if [ ! -f "$dir/gold.img" ]; then
	echo "scale: making 1,000,000 files under $dir (once; several minutes)" >&2
	rm -rf "$dir/tree"; mkdir "$dir/tree"
	/usr/bin/python3 - "$dir/tree" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(1000):
    p = os.path.join(root, "d%03d" % d)
    os.mkdir(p)
    for f in range(1000):
        with open(os.path.join(p, "f%03d" % f), "w") as fp:
            fp.write("%d/%d\n" % (d, f))
PY
	mke2fs -q -F -t ext4 -N 1100000 -d "$dir/tree" "$dir/gold.img.tmp" 6G
	rm -rf "$dir/tree"
	mv "$dir/gold.img.tmp" "$dir/gold.img"
fi
if [ ! -f "$dir/incident.img" ]; then
	cp --sparse=always "$dir/gold.img" "$dir/incident.img.tmp"
	mkdir -p "$dir/mnt"
	mount -o loop "$dir/incident.img.tmp" "$dir/mnt"
	/usr/bin/python3 - "$dir/mnt" <<'PY'
import sys
for d in range(1000):
    for f in range(0, 1000, 100):
        with open("%s/d%03d/f%03d" % (sys.argv[1], d, f), "a") as fp:
            fp.write("appended\n")
PY
	umount "$dir/mnt"
	mv "$dir/incident.img.tmp" "$dir/incident.img"
fi

# measure NAME CMD...: RUNS runs; "wall user sys rss_kb" of each to $dir/NAME.times
measure() {
	local name=$1; shift
	: > "$dir/$name.times"
	for _ in $(seq "$RUNS"); do
		/usr/bin/time -f '%e %U %S %M' -o "$dir/time.out" "$@" > /dev/null 2>&1 || true
		tail -1 "$dir/time.out" >> "$dir/$name.times"
	done
}
measure baseline "$deltair" baseline --no-progress --no-rows --force -o "$dir/gold.dtree" "$dir/gold.img"
"$deltair" baseline --no-progress --no-rows --force -o "$dir/incident.dtree" "$dir/incident.img" 2>/dev/null
measure treediff "$deltair" diff --no-progress "$dir/gold.dtree" "$dir/incident.dtree"
measure imagediff "$deltair" diff --no-progress -b "$dir/gold.dtree" "$dir/incident.img"
changes=$("$deltair" diff --no-progress "$dir/gold.dtree" "$dir/incident.dtree" | grep -c '"event":"file"' || true)

/usr/bin/python3 - "$dir" "$RUNS" "$changes" <<'PY' | tee "$dir/table.md"
import datetime, os, platform, statistics, sys
d, runs, changes = sys.argv[1:]
def load(n):
    rows = [list(map(float, l.split())) for l in open(os.path.join(d, n + ".times")) if l.strip()]
    return [statistics.median(c) for c in zip(*rows)]
lines = ["Measured %s (%d cores, %s, load average %.1f), `tests/bench/scale.sh`: ext4, 1,000 folders x "
         "1,000 files (1,001,002 entries), the incident with 1%% of the files appended to "
         "(%s changes); median of %s runs, warm cache." % (
         datetime.date.today().isoformat(), os.cpu_count(), platform.release(),
         os.getloadavg()[0], changes, runs), "",
         "| 1M entries | wall s | user s | sys s | peak RSS | target |", "|---|---:|---:|---:|---:|---|"]
for name, label, tgt_s in (("baseline", "baseline of the gold image", None),
                           ("treediff", "diff, tree against tree", 0.7),
                           ("imagediff", "diff of the incident image", None)):
    w, u, s, m = load(name)
    mb = m / 1024
    t = "RSS ≤ 250 MB %s" % ("met" if mb <= 250 else "MISSED")
    if tgt_s:
        t += "; ≤ %.1f s %s" % (tgt_s, "met" if w <= tgt_s else "MISSED")
    lines.append("| %s | %.2f | %.2f | %.2f | %.0f MB | %s |" % (label, w, u, s, mb, t))
table = "\n".join(lines)
print(table)
PY
/usr/bin/python3 "$top/tests/bench/put-section.py" "$top/docs/benchmarks.md" scale "" "$dir/table.md"
