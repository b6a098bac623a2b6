#!/bin/bash
# tests/bench/decomp.sh - issue 14: the cost of opening the archives of the delta. Two
# generated incidents (ext4 images, made once under $WORK), each scanned with decomposition
# on and off, side by side in one hyperfine run (wall time, and user+sys CPU, which holds on
# a shared machine):
#   logs    the delta holds 24 rotated gzip'd logs (120 MB of syslog lines) and 40 MB of
#           other changed files: the overhead of decomposition, target <= 20%;
#   tgz     a 200 MB tar.gz (26 members, 260 MB expanded) added: expanded MB per second of
#           the time decomposition adds, target >= 100 MB/s.
# Rules: the project's rules/. Writes the BENCH:decomp section of docs/benchmarks.md.
#   tests/bench/decomp.sh          (as root; RUNS=3 WORK=/var/tmp/deltair-bench-decomp;
#                                   ONLY=1: only the --no-rules comparison, then the table)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
deltair=${DELTAIR:-$top/build/deltair}
RUNS=${RUNS:-3}
WORK=${WORK:-/var/tmp/deltair-bench-decomp}
[ -x "$deltair" ] || { echo "bench: build first" >&2; exit 2; }
mkdir -p "$WORK"
cd "$WORK"

if [ ! -f logs.img ]; then
	rm -rf g i && mkdir -p g/var/log g/usr/bin
	printf 'boot\n' > g/var/log/syslog
	cp -a g i
	/usr/bin/python3 - i/var/log << 'EOF'
import gzip, os, random, sys
d = sys.argv[1]
rnd = random.Random(14)
procs = ["sshd", "cron", "systemd", "kernel", "nginx", "dockerd", "sudo"]
for n in range(1, 25):
    lines = []
    size = 0
    while size < 5 << 20:
        l = "Dec %2d %02d:%02d:%02d web-%d %s[%d]: session %08x opened for user u%d from 10.%d.%d.%d port %d\n" % (
            rnd.randint(1, 28), rnd.randint(0, 23), rnd.randint(0, 59), rnd.randint(0, 59),
            rnd.randint(1, 9), rnd.choice(procs), rnd.randint(100, 99999), rnd.getrandbits(32),
            rnd.randint(0, 500), rnd.randint(0, 255), rnd.randint(0, 255), rnd.randint(0, 255),
            rnd.randint(1024, 65535))
        lines.append(l)
        size += len(l)
    with gzip.open(os.path.join(d, "syslog.%d.gz" % n), "wt", compresslevel=6) as f:
        f.write("".join(lines))
EOF
	# Other changed files: binaries and libraries, as an update leaves them.
	find /usr/bin /usr/lib/x86_64-linux-gnu -maxdepth 1 -type f -size +100k -size -4M | sort |
		head -n 400 | while read -r f; do
		[ "$(du -sm i/usr/bin | cut -f1)" -lt 40 ] || break
		cp "$f" i/usr/bin/
	done || true
	mke2fs -q -F -t ext4 -U 14141414-1414-1414-1414-141414141414 -d g gold-logs.img 400M
	mke2fs -q -F -t ext4 -U 14141414-1414-1414-1414-141414141414 -d i logs.img 400M
	rm -rf i && mkdir -p i/var/log i/srv && cp g/var/log/syslog i/var/log/
	mkdir -p t && for k in $(seq 1 26); do head -c 7500000 /dev/urandom | base64 -w 76 > "t/part$k.txt"; done
	tar -C t -czf i/srv/dump.tar.gz . && rm -rf t
	mke2fs -q -F -t ext4 -U 14141414-1414-1414-1414-141414141414 -d g gold-tgz.img 400M
	mke2fs -q -F -t ext4 -U 14141414-1414-1414-1414-141414141414 -d i tgz.img 600M
	rm -rf g i
fi
"$deltair" baseline --no-progress -o gold-logs.dtree gold-logs.img 2> /dev/null
"$deltair" baseline --no-progress -o gold-tgz.dtree gold-tgz.img 2> /dev/null

run() { # run NAME IMAGE RULES...: hyperfine, decomposition on and off
	local name=$1 img=$2
	shift 2
	hyperfine -N --warmup 1 --runs "$RUNS" -i --export-json "$name.json" --style basic \
		-n on "$deltair scan --no-progress $* -b gold-$img.dtree -o $name-on.jsonl $img.img" \
		-n off "$deltair scan --no-progress $* --no-decompose -b gold-$img.dtree -o $name-off.jsonl $img.img" >&2
}
[ -n "${ONLY:-}" ] || run logs logs -r "$top/rules"
[ -n "${ONLY:-}" ] || run tgz tgz -r "$top/rules"
run tgz-norules tgz --no-rules

/usr/bin/python3 - "$WORK" "$RUNS" << 'EOF' | tee "$WORK/table.md"
import datetime, json, os, sys
work, runs = sys.argv[1:]
def res(name):
    r = {x["command"]: x for x in json.load(open(os.path.join(work, name + ".json")))["results"]}
    return {k: (v["median"], v["user"] + v["system"])
            for k, v in r.items()}
def summ(name):
    return json.loads(open(os.path.join(work, name + "-on.jsonl")).read().splitlines()[-1])
lines = ["Measured %s, `tests/bench/decomp.sh` (hyperfine, median of %s runs; CPU is the mean "
         "user+sys), rules: `rules/`." % (datetime.date.today().isoformat(), runs), "",
         "| incident | decomposition | wall s | CPU s | result | target |", "|---|---|---:|---:|---:|---:|"]
l, sl = res("logs"), summ("logs")
ow, oc = l["on"][0] / l["off"][0] - 1, l["on"][1] / l["off"][1] - 1
lines.append("| 24 rotated .gz logs (%d MB expanded) + 40 MB changed files | off | %.2f | %.2f | | |" % (
    sl["decomp"]["bytes_expanded"] / 1e6, l["off"][0], l["off"][1]))
lines.append("| same | on | %.2f | %.2f | overhead %+.0f%% wall, %+.0f%% CPU | <= 20%% %s |" % (
    l["on"][0], l["on"][1], 100 * ow, 100 * oc, "met" if oc <= 0.20 else "MISSED"))
t, st = res("tgz"), summ("tgz")
mb = st["decomp"]["bytes_expanded"] / 1e6
dw, dc = t["on"][0] - t["off"][0], t["on"][1] - t["off"][1]
rate_c = mb / dc if dc > 0 else float("inf")
rate_w = mb / dw if dw > 0 else float("inf")
lines.append("| a 200 MB tar.gz (%.0f MB expanded, %d members) | off | %.2f | %.2f | | |" % (
    mb, st["decomp"]["members"], t["off"][0], t["off"][1]))
lines.append("| same | on | %.2f | %.2f | %.0f MB/s CPU, %.0f MB/s wall of expanded data | >= 100 MB/s %s |" % (
    t["on"][0], t["on"][1], rate_c, rate_w, "met" if rate_c >= 100 else "MISSED"))
n = res("tgz-norules")
dc = n["on"][1] - n["off"][1]
lines.append("| same, `--no-rules` (decomposition alone) | off / on | %.2f / %.2f | %.2f / %.2f | %.0f MB/s CPU of expanded data | >= 100 MB/s %s |" % (
    n["off"][0], n["on"][0], n["off"][1], n["on"][1], mb / dc if dc > 0 else float("inf"),
    "met" if dc > 0 and mb / dc >= 100 else "MISSED"))
lines.append("")
lines.append("Wall times are from a machine shared by several builds (load 20+ on 2 cores): read the CPU "
             "columns. YARA over the members (rules/) is most of the cost on: see the `--no-rules` row.")
table = "\n".join(lines)
print(table)
EOF
"$top/tests/bench/put-section.py" "$top/docs/benchmarks.md" decomp "## Archives in the delta (issue 14)" \
	"$WORK/table.md"
