#!/bin/bash
# tests/bench/ebs.sh - part of `make bench`: reads proportional to the delta (issue 10, section
# 3). The corpus's gold.raw and incident.raw are served as two EBS snapshots of one lineage by
# the loopback peer (tests/peers/aws_peer.py); results go to docs/benchmarks.md between the
# BENCH:ebs markers.
#   - baseline ebs://GOLD: throughput against the peer, and against the peer limited to 1,000
#     GetSnapshotBlock a second (the per-snapshot quota): the rate kept, never over it;
#   - diff --changed-since GOLD --gold-cache (warm) ebs://INCIDENT: blocks fetched from the
#     incident against its changed blocks, bytes hashed against the changed files' bytes,
#     wall time against the full ebs:// diff, and the result against the full diff;
#   - diff --changed-blocks FILE incident.raw: bytes hashed, result against the full diff.
# Each deltair run is repeated RUNS times (default 3), the runs of one round side by side; the
# tables give the median wall time, deltair's CPU (user + sys, /usr/bin/time) and the peer's
# (its /proc/PID/stat ticks), since on a shared machine wall time follows the load; the peer's
# counters give the fetches.
#   RUNS=3 CORPUS=/var/tmp/corpus tests/bench/ebs.sh
# DELTAIR=BIN measures another build; BENCH_OUT=DIR keeps the runs (default under $TMPDIR or
# /var/tmp, never in the corpus); BENCH_DOC=FILE takes the table instead of docs/benchmarks.md.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
export CORPUS=${CORPUS:-/var/tmp/corpus}
deltair=${DELTAIR:-$top/build/deltair}
py=/usr/bin/python3
RUNS=${RUNS:-3}
G=snap-00000000000000c0
I=snap-00000000000000c1
export CORPUS_SHARED=$CORPUS
# Without the shared corpus (../shared/corpus, which needs a Debian mirror or a small host),
# a smaller one of this machine's files: /etc, /usr/lib/python3 and /usr/share/doc on a 1 GiB
# ext4 image, and a copy changed through a mount (files modified, appended, added, deleted,
# chmod'ed). EBS_CORPUS=DIR keeps it between runs.
if [ ! -f "$CORPUS/gold.raw" ] || [ ! -f "$CORPUS/incident.raw" ]; then
	CORPUS=${EBS_CORPUS:-/var/tmp/deltair-ebs-corpus}
	if [ ! -f "$CORPUS/incident.raw" ]; then
		echo "bench ebs: no corpus at \$CORPUS: building a small one in $CORPUS" >&2
		rm -rf "$CORPUS" && mkdir -p "$CORPUS/tree/usr/lib" "$CORPUS/tree/usr/share" "$CORPUS/mnt"
		cp -a /etc "$CORPUS/tree/" && cp -a /usr/lib/python3 "$CORPUS/tree/usr/lib/" &&
			cp -a /usr/share/doc "$CORPUS/tree/usr/share/"
		mke2fs -q -F -t ext4 -d "$CORPUS/tree" "$CORPUS/gold.raw" 1G
		rm -rf "$CORPUS/tree"
		cp --sparse=always "$CORPUS/gold.raw" "$CORPUS/incident.raw"
		mount -o loop "$CORPUS/incident.raw" "$CORPUS/mnt"
		(
			cd "$CORPUS/mnt"
			find usr/lib/python3 -name '*.py' | sort | awk 'NR % 997 == 1' | head -40 |
				while read -r f; do printf '# changed\n' >> "$f"; done
			find usr/share/doc -name 'copyright' | sort | awk 'NR % 97 == 5' | head -20 | xargs rm -f
			mkdir -p usr/lib/.hidden
			for i in $(seq 1 30); do cp /bin/true "usr/lib/.hidden/tool$i"; done
			head -c 20000000 /dev/urandom > usr/lib/python3/dropper.bin
			chmod 4755 usr/lib/python3/dropper.bin
			printf 'evil:x:0:0::/root:/bin/sh\n' >> etc/passwd
			find etc -type f -name '*.conf' | sort | head -10 | xargs chmod 0666
		)
		sync
		umount "$CORPUS/mnt"
	fi
fi
"$py" -c 'import botocore' 2> /dev/null || { echo "bench ebs: no python3-botocore" >&2; exit 2; }
# Never inside the corpus, which is shared and read-only to us.
out=${BENCH_OUT:-${TMPDIR:-/var/tmp}/deltair-bench-ebs}
rm -rf "$out"
mkdir -p "$out"
cd "$out"
ln -s "$CORPUS/gold.raw" gold.raw
ln -s "$CORPUS/incident.raw" incident.raw
cat > peer.json << EOF
{"snapshots": {"$G": {"image": "gold.raw"}, "$I": {"image": "incident.raw", "parent": "$G"}}}
EOF
"$py" "$top/tests/peers/aws_peer.py" serve --config peer.json --port-file port > /dev/null 2> peer.err &
peer=$!
trap 'kill $peer 2> /dev/null || true' EXIT
for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
[ -s port ] || { echo "bench ebs: the peer did not start: $(cat peer.err)" >&2; exit 1; }
url=http://127.0.0.1:$(cat port)
export AWS_ENDPOINT_URL=$url AWS_ENDPOINT_URL_EBS=$url AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
ctl() { "$py" "$top/tests/peers/aws_peer.py" ctl "$(cat port)" "$@"; }
ticks() { awk '{print $14 + $15}' "/proc/$peer/stat"; }
hz=$(getconf CLK_TCK)
# timed NAME CMD...: one run; "wall deltair_cpu peer_cpu" (seconds) appended to NAME.t, stdout
# NAME.out, the peer's counters NAME.c (of the last run)
timed() {
	local name=$1 t0 p0 rc=0
	shift
	ctl DELETE /_peer/counters > /dev/null
	p0=$(ticks)
	t0=$(date +%s.%N)
	/usr/bin/time -f '%U %S' -o "$name.cpu" "$@" > "$name.out" 2> "$name.err" || rc=$?
	# The last line: /usr/bin/time puts "Command exited with non-zero status 1" before it.
	tail -n 1 "$name.cpu" | awk -v a="$(date +%s.%N)" -v b="$t0" -v p="$(($(ticks) - p0))" -v hz="$hz" \
		'{printf "%.3f %.2f %.2f\n", a - b, $1 + $2, p / hz}' >> "$name.t"
	ctl GET /_peer/counters > "$name.c"
	[ "$rc" -le 1 ] || { echo "bench ebs: $name exited $rc: $(head -c 500 "$name.err")" >&2; exit 1; }
}
# The peer hashes each snapshot's blocks on first use: do it before timing anything.
"$deltair" baseline --no-progress -o warm.dtree "ebs://$I" 2> /dev/null

"$py" - gold.raw incident.raw > changed.json << 'EOF'
import json, os, sys
g, i = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
out, idx = [], 0
while True:
    a, b = g.read(524288), i.read(524288)
    if not a and not b:
        break
    if a != b:
        out.append({"BlockIndex": idx})
    idx += 1
print(json.dumps({"BlockSize": 524288, "ChangedBlocks": out}))
EOF
for _ in $(seq "$RUNS"); do
	timed base-free "$deltair" baseline --no-progress --ebs-rate 1000000 --ebs-concurrency 32 -o gold-ebs.dtree "ebs://$G"
	ctl POST /_peer/rate '{"GetSnapshotBlock": 1000}' > /dev/null
	timed base-1000 "$deltair" baseline --no-progress -o gold-1000.dtree "ebs://$G"
	ctl POST /_peer/rate '{"GetSnapshotBlock": 0}' > /dev/null

	timed full-raw "$deltair" diff --no-progress -b gold-ebs.dtree incident.raw
	timed full-ebs "$deltair" diff --no-progress --ebs-concurrency 32 -b gold-ebs.dtree "ebs://$I"
	rm -rf cache
	timed cs-cold "$deltair" diff --no-progress --ebs-concurrency 32 -b gold-ebs.dtree --changed-since $G --gold-cache cache "ebs://$I"
	timed cs-warm "$deltair" diff --no-progress --ebs-concurrency 32 -b gold-ebs.dtree --changed-since $G --gold-cache cache "ebs://$I"
	timed cb-raw "$deltair" diff --no-progress -b gold-ebs.dtree --changed-blocks changed.json incident.raw
done
jq -r 'select(.event == "file") | .change' full-raw.out | sort | uniq -c |
	awk '{printf "%s%d %s", sep, $1, $2; sep = ", "}' > changes

"$py" - "$G" "$I" "$CORPUS" "$RUNS" "$(uptime | sed 's/.*load average: //')" << 'EOF' | tee table.md
import datetime, json, os, platform, statistics, subprocess, sys
G, I, corpus, runs, load = sys.argv[1:]
def times(n):
    """Medians over the runs: wall, deltair's CPU, the peer's CPU (seconds)."""
    rows = [list(map(float, l.split())) for l in open(n + ".t")]
    return [statistics.median(r[k] for r in rows) for k in range(3)]
def run(n):
    ev = [json.loads(l) for l in open(n + ".out")]
    files = sorted(json.dumps(e, sort_keys=True) for e in ev if e["event"] == "file")
    summ = [e for e in ev if e["event"] == "summary"][-1]
    return files, summ, times(n), json.load(open(n + ".c"))
def snap(c, s, k):
    return c["snapshots"].get(s, {}).get(k, 0)
blocks_gold = sum(1 for _ in json.load(open("changed.json"))["ChangedBlocks"])
fr, sr, tr, _ = run("full-raw")
fe, se, te, ce = run("full-ebs")
fw, sw, tw, cw = run("cs-warm")
fc, sc, tc, cc = run("cs-cold")
fb, sb, tb, _ = run("cb-raw")
changed_bytes = sum(json.loads(f).get("size", 0) for f in fr
                    if json.loads(f)["type"] == "file" and json.loads(f)["change"] != "deleted")
incident_changed = sc["changed_blocks"]["blocks"]
def base(n):
    c = json.load(open(n + ".c"))
    return snap(c, G, "blocks"), times(n), snap(c, G, "peak_per_second")
bf, tf, pf = base("base-free")
bl, tl, pl = base("base-1000")
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                     capture_output=True, text=True).stdout.strip()
ok = lambda c: "met" if c else "MISSED"
L = []
what = ("the corpus's gold.raw and incident.raw" if corpus == os.environ.get("CORPUS_SHARED")
        else "the small corpus tests/bench/ebs.sh builds when ../shared/corpus has none (this "
             "machine's /etc, /usr/lib/python3 and /usr/share/doc on a 1 GiB ext4 image; the "
             "incident changed through a mount: %s)" % open("changes").read().strip())
L.append("Measured %s on %s (%d cores, %s, load average %s), `make bench` (tests/bench/ebs.sh): "
         "%s, served as snapshots `%s` and `%s` (one lineage) by tests/peers/aws_peer.py on "
         "127.0.0.1 (every request's SigV4 signature and input checked with botocore; blocks "
         "sent with sendfile). Median of %s runs: wall clock, deltair's CPU (user + sys) and "
         "the peer's CPU." % (datetime.date.today().isoformat(), cpu, os.cpu_count(),
                              platform.release(), load, what, G, I, runs))
L.append("")
L.append("| baseline ebs://gold | blocks | s | blocks/s | busiest second | deltair CPU s (ms/block) | peer CPU s (ms/block) | target |")
L.append("|---|---:|---:|---:|---:|---:|---:|---|")
L.append("| peer unlimited (`--ebs-rate 1000000 --ebs-concurrency 32`) | %d | %.1f | %.0f | %d | %.2f (%.2f) | %.2f (%.2f) | |" % (
    bf, tf[0], bf / tf[0], pf, tf[1], 1000 * tf[1] / bf, tf[2], 1000 * tf[2] / bf))
L.append("| peer limited to 1,000/s, deltair's default `--ebs-rate 1000` | %d | %.1f | %.0f | %d | %.2f (%.2f) | %.2f (%.2f) | ≥ 800/s %s, never over 1,000 %s |" % (
    bl, tl[0], bl / tl[0], pl, tl[1], 1000 * tl[1] / bl, tl[2], 1000 * tl[2] / bl,
    ok(bl / tl[0] >= 800), ok(pl <= 1000)))
L.append("")
L.append("| diff of the incident | s | deltair CPU s | peer CPU s | fetched from incident | from gold | bytes hashed | bytes reused | same result as the full diff |")
L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
L.append("| raw image, full | %.1f | %.2f | | | | %d | %d | (reference) |" % (tr[0], tr[1], sr["bytes_hashed"], sr["bytes_reused"]))
L.append("| ebs://, full | %.1f | %.2f | %.2f | %d | | %d | %d | %s |" % (te[0], te[1], te[2], snap(ce, I, "blocks"), se["bytes_hashed"], se["bytes_reused"], "yes" if fe == fr else "NO"))
L.append("| ebs://, `--changed-since --gold-cache`, cold | %.1f | %.2f | %.2f | %d | %d | %d | %d | %s |" % (tc[0], tc[1], tc[2], snap(cc, I, "blocks"), snap(cc, G, "blocks"), sc["bytes_hashed"], sc["bytes_reused"], "yes" if fc == fr else "NO"))
L.append("| ebs://, `--changed-since --gold-cache`, warm | %.1f | %.2f | %.2f | %d | %d | %d | %d | %s |" % (tw[0], tw[1], tw[2], snap(cw, I, "blocks"), snap(cw, G, "blocks"), sw["bytes_hashed"], sw["bytes_reused"], "yes" if fw == fr else "NO"))
L.append("| raw image, `--changed-blocks FILE` | %.1f | %.2f | | | | %d | %d | %s |" % (tb[0], tb[1], sb["bytes_hashed"], sb["bytes_reused"], "yes" if fb == fr else "NO"))
L.append("")
fi_ = snap(cw, I, "blocks")
gold = sw["evidence"]["snapshot"].get("gold", {})
L.append("| target (issue 10) | value | |")
L.append("|---|---:|---|")
L.append("| warm cache: blocks fetched from the incident ≤ its changed blocks (target equal) | %d of %d changed (%d listed by ListChangedBlocks) | %s |" % (
    fi_, blocks_gold, incident_changed, ok(fi_ <= incident_changed)))
L.append("| `--changed-since`: bytes hashed ≤ 2× the changed files' bytes (%d) | %d (%.2f×) | %s |" % (
    changed_bytes, sw["bytes_hashed"], sw["bytes_hashed"] / max(changed_bytes, 1), ok(sw["bytes_hashed"] <= 2 * changed_bytes)))
L.append("| `--changed-since` warm: wall time ≤ 1/5 of the full ebs:// diff | %.1f s / %.1f s = 1/%.1f | %s |" % (
    tw[0], te[0], te[0] / tw[0], ok(tw[0] * 5 <= te[0])))
L.append("| (the same in CPU, deltair + peer) | %.2f s / %.2f s = 1/%.1f | |" % (
    tw[1] + tw[2], te[1] + te[2], (te[1] + te[2]) / (tw[1] + tw[2])))
L.append("| (warm: reads from the gold cache, re-reads included; the 64 KiB pieces they touched, each verified) | %d reads, %d pieces (the incident lists %d unchanged blocks) | |" % (
    gold.get("blocks_from_gold", 0), gold.get("pieces_verified", 0),
    sw["evidence"]["snapshot"]["blocks_listed"] - incident_changed))
L.append("| `--changed-blocks` on the raw image: bytes hashed ≤ 2× the changed files' bytes | %d (%.2f×) | %s |" % (
    sb["bytes_hashed"], sb["bytes_hashed"] / max(changed_bytes, 1), ok(sb["bytes_hashed"] <= 2 * changed_bytes)))
L.append("| results equal the full diff | %s | %s |" % (
    "all" if fr == fe == fc == fw == fb else "NOT all", ok(fr == fe == fc == fw == fb)))
table = "\n".join(L)
print(table)
EOF
"$py" "$top/tests/bench/put-section.py" "${BENCH_DOC:-$top/docs/benchmarks.md}" ebs \
	"## Reads proportional to the delta (ebs://)" table.md
