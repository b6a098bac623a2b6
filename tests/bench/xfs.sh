#!/bin/bash
# tests/bench/xfs.sh - part of `make bench` (issue 13): `deltair baseline` of an XFS root read
# raw by deltair's own reader, side by side with the same tree on ext4 read raw (libtsk;
# target: XFS within 20%) and with the same XFS through `dir:` over a read-only kernel mount.
# Warm cache, one hyperfine run (median of RUNS), then user+sys CPU and peak RSS of one run of
# each (/usr/bin/time). The trees are checked equal (`deltair diff`) before anything is timed.
# Images: the corpus's gold-xfs.raw and gold.raw (GPT, partition 1 at 1 MiB) when they are
# there; without them (building the corpus needs a Debian mirror), this host's /usr/share and
# /usr/lib/x86_64-linux-gnu put on ext4 with `mke2fs -d` and on XFS with mkfs.xfs and `cp -a`
# through a loop mount, kept in XFS_CORPUS between runs. Results go to docs/benchmarks.md
# between the BENCH:xfs markers.
#   RUNS=3 CORPUS=/var/tmp/corpus tests/bench/xfs.sh      (as root)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
deltair=${DELTAIR:-$top/build/deltair}
CORPUS=${CORPUS:-/var/tmp/corpus}
RUNS=${RUNS:-3}
doc=$top/docs/benchmarks.md
[ "$(id -u)" = 0 ] || { echo "bench xfs: run as root (loop mounts)" >&2; exit 2; }
[ -x "$deltair" ] || { echo "bench xfs: build first" >&2; exit 2; }

if [ -f "$CORPUS/gold-xfs.raw" ] && [ -f "$CORPUS/gold.raw" ]; then
	dir=$CORPUS
	xfs=$dir/gold-xfs.raw ext4=$dir/gold.raw xoff=1048576
	what="the corpus's gold-xfs.raw and gold.raw (the same tree)"
else
	dir=${XFS_CORPUS:-/var/tmp/deltair-xfs-corpus}
	xfs=$dir/xfs.img ext4=$dir/ext4.img xoff=0
	what="this host's /usr/share and /usr/lib/x86_64-linux-gnu, on ext4 (mke2fs -d) and on XFS (cp -a through a loop mount)"
	if [ ! -f "$dir/ready" ]; then
		echo "bench xfs: no corpus at $CORPUS: building one in $dir" >&2
		# Only what this script makes: XFS_CORPUS may name a folder that holds other things.
		rm -rf "$dir/tree" "$dir/out" && rm -f "$ext4" "$xfs"
		mkdir -p "$dir/tree/usr/lib" "$dir/m"
		cp -a /usr/share "$dir/tree/usr/"
		cp -a /usr/lib/x86_64-linux-gnu "$dir/tree/usr/lib/"
		mke2fs -q -F -t ext4 -d "$dir/tree" "$ext4" 3G
		truncate -s 3G "$xfs"
		mkfs.xfs -q -f "$xfs"
		trap 'umount "$dir/m" 2> /dev/null || true' EXIT
		mount -o loop "$xfs" "$dir/m"
		cp -a "$dir/tree/." "$dir/m/"
		umount "$dir/m"
		rm -rf "$dir/tree"
		touch "$dir/ready"
	fi
fi
out=$dir/out/deltair-bench-xfs
rm -rf "$out"
mkdir -p "$out" "$out/m"
loop=$(losetup -f --show -r -o "$xoff" "$xfs")
cleanup() { umount "$out/m" 2> /dev/null || true; losetup -d "$loop" 2> /dev/null || true; }
trap cleanup EXIT
mount -o ro,norecovery,nouuid "$loop" "$out/m"

# The same tree three ways first: what is timed is the same work.
"$deltair" baseline --no-progress -o "$out/xfs.dtree" "$xfs" 2> "$out/xfs.err"
"$deltair" baseline --no-progress -o "$out/ext4.dtree" "$ext4" 2> "$out/ext4.err"
"$deltair" baseline --no-progress -o "$out/dir.dtree" "dir:$out/m" 2> "$out/dir.err"
rc=0
"$deltair" diff --no-progress -b "$out/dir.dtree" -o "$out/xfs-vs-dir.jsonl" "$xfs" 2> /dev/null || rc=$?
xd=$(grep -c '"event":"file"' "$out/xfs-vs-dir.jsonl" || true)
"$deltair" diff --no-progress -b "$out/ext4.dtree" -o "$out/xfs-vs-ext4.jsonl" "$xfs" 2> /dev/null || true
xe=$(jq -r 'select(.event == "file") | .path' "$out/xfs-vs-ext4.jsonl" | tr '\n' ' ')
entries=$("$deltair" tree info "$out/xfs.dtree" | awk -F': ' '/^entries:/ {print $2}')

hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$out/hf.json" --style basic \
	-n "ext4 raw" "$deltair baseline --no-progress -o $out/b1.dtree $ext4" \
	-n "xfs raw" "$deltair baseline --no-progress -o $out/b2.dtree $xfs" \
	-n "xfs dir:" "$deltair baseline --no-progress -o $out/b3.dtree dir:$out/m" >&2
for k in ext4:"$ext4" xfs:"$xfs" dir:"dir:$out/m"; do
	/usr/bin/time -f '%U %S %M' -o "$out/time-${k%%:*}" \
		"$deltair" baseline --no-progress -o "$out/t.dtree" "${k#*:}" 2> /dev/null
done

python3 - "$out" "$what" "$entries" "$xd" "$rc" "$xe" "$RUNS" > "$out/table.md" << 'EOF'
import datetime, json, os, subprocess, sys
out, what, entries, xd, rc, xe, runs = sys.argv[1:]
res = {r["command"]: r for r in json.load(open(os.path.join(out, "hf.json")))["results"]}
t = {k: open(os.path.join(out, "time-" + k)).read().split() for k in ("ext4", "xfs", "dir")}
load = open("/proc/loadavg").read().split()[0]
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
lines = ["Measured %s on %s (%d cores, load %s), warm cache, `tests/bench/xfs.sh` (hyperfine, "
         "median of %s runs; CPU and peak RSS from one run under /usr/bin/time): %s, %s entries."
         % (datetime.date.today().isoformat(), cpu, os.cpu_count(), load, runs, what, entries), "",
         "| `deltair baseline` of | median s (min–max) | user+sys s | peak RSS | against ext4 raw |",
         "|---|---:|---:|---:|---:|"]
names = {"ext4 raw": ("ext4", "ext4 raw (libtsk)"), "xfs raw": ("xfs", "XFS raw (deltair's reader)"),
         "xfs dir:": ("dir", "XFS through `dir:` (kernel mount, ro,norecovery,nouuid)")}
base = res["ext4 raw"]["median"]
for cmd, (k, label) in names.items():
    r = res[cmd]
    u, s, m = t[k]
    lines.append("| %s | %.2f (%.2f–%.2f) | %.2f | %.0f MB | %s |" % (
        label, r["median"], r["min"], r["max"], float(u) + float(s), int(m) / 1024,
        "" if cmd == "ext4 raw" else "%+.0f%%" % (100 * (r["median"] / base - 1))))
ratio = res["xfs raw"]["median"] / base
lines.append("")
lines.append("XFS raw against ext4 raw: %.2f× the time (target: within 20%%: %s). `deltair diff` of "
             "the raw XFS against its own `dir:` baseline: %s file events (exit %s); against the "
             "ext4 tree: %s." % (ratio, "met" if ratio <= 1.2 else "MISSED", xd, rc,
                                 ("only " + xe.strip()) if xe.strip() else "no delta"))
print("\n".join(lines))
EOF
cat "$out/table.md"
python3 "$top/tests/bench/put-section.py" "$doc" xfs "## XFS read raw" "$out/table.md"
