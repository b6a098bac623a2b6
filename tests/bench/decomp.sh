#!/bin/bash
# tests/bench/decomp.sh - issue 14: the cost of opening the archives of the delta. Two
# generated incidents (ext4 images, made once under $WORK), each scanned with decomposition
# on and off, side by side in one hyperfine run (wall time, and user+sys CPU, which holds on
# a shared machine):
#   logs    the delta holds 24 rotated gzip'd logs (120 MB of syslog lines) and 40 MB of
#           other changed files: the overhead of decomposition, target <= 20%;
#   tgz     a 200 MB tar.gz (26 members, 260 MB expanded) added: expanded MB per second of
#           the time decomposition adds, target >= 100 MB/s.
#   corpus  the shared corpus's incident.raw against gold.raw (/var/tmp/corpus, made by
#           ../shared/corpus/make-corpus.sh): its delta holds no archive, so this is the cost
#           of looking for them;
#   corpus-rot  a copy of incident.raw after one logrotate of /var/log (X.N.gz -> X.N+1.gz,
#           X.1 gzip'd to X.2.gz, X -> X.1): the corpus incident whose delta holds rotated
#           gzip'd logs, the issue's overhead target (<= 20%).
# Rules: the project's rules/. Writes the BENCH:decomp section of docs/benchmarks.md.
#   tests/bench/decomp.sh          (as root; RUNS=3 WORK=/var/tmp/deltair-bench-decomp;
#                                   CORPUS=/var/tmp/corpus: skipped, said so, without it;
#                                   ONLY=1: only the --no-rules comparison, then the table;
#                                   REUSE=1: keep the timings of a comparison already made)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
deltair=${DELTAIR:-$top/build/deltair}
RUNS=${RUNS:-3}
WORK=${WORK:-/var/tmp/deltair-bench-decomp}
[ -x "$deltair" ] || { echo "bench: build first" >&2; exit 2; }
mkdir -p "$WORK"
cd "$WORK"
export LOAD_START
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

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
	[ -z "${REUSE:-}" ] || [ ! -f "$name.json" ] || return 0
	hyperfine -N --warmup 1 --runs "$RUNS" -i --export-json "$name.json" --style basic \
		-n on "$deltair scan --no-progress $* -b gold-$img.dtree -o $name-on.jsonl $img.img" \
		-n off "$deltair scan --no-progress $* --no-decompose -b gold-$img.dtree -o $name-off.jsonl $img.img" >&2
}
[ -n "${ONLY:-}" ] || run logs logs -r "$top/rules"
[ -n "${ONLY:-}" ] || run tgz tgz -r "$top/rules"
run tgz-norules tgz --no-rules

# The corpus incident, as made, then after one logrotate.
CORPUS=${CORPUS:-/var/tmp/corpus}
if [ -f "$CORPUS/.ready" ] && [ -z "${ONLY:-}" ]; then
	if [ ! -f corpus-rot.raw ] || [ corpus-rot.raw -ot "$CORPUS/incident.raw" ]; then
		cp --sparse=always "$CORPUS/incident.raw" corpus-rot.raw.tmp
		mkdir -p mnt
		mount -o loop,offset=$((2048 * 512)) corpus-rot.raw.tmp mnt
		/usr/bin/python3 - mnt/var/log << 'EOF'
import gzip, os, re, shutil, sys
top = sys.argv[1]
for d, _, names in os.walk(top):
    for n in sorted(names):
        if not n.endswith(".1") or not os.path.exists(os.path.join(d, n[:-2])):
            continue
        base = os.path.join(d, n[:-2])
        gzs = sorted((int(m.group(1)), m.group(0)) for m in
                     (re.fullmatch(re.escape(n[:-2]) + r"\.(\d+)\.gz", x) for x in names) if m)
        for k, g in reversed(gzs):
            os.rename(os.path.join(d, g), "%s.%d.gz" % (base, k + 1))
        with open(base + ".1", "rb") as f, gzip.open(base + ".2.gz", "wb", compresslevel=6) as g:
            shutil.copyfileobj(f, g)
        shutil.copystat(base + ".1", base + ".2.gz")
        os.rename(base, base + ".1")
        open(base, "w").close()
        shutil.copystat(base + ".1", base)
EOF
		umount mnt
		mv corpus-rot.raw.tmp corpus-rot.raw
	fi
	[ corpus-gold.dtree -nt "$CORPUS/gold.raw" ] ||
		"$deltair" baseline --no-progress -o corpus-gold.dtree "$CORPUS/gold.raw" 2> /dev/null
	for name in corpus corpus-rot; do
		img=$CORPUS/incident.raw
		[ "$name" = corpus ] || img=$WORK/corpus-rot.raw
		[ -z "${REUSE:-}" ] || [ ! -f "$name.json" ] || continue
		hyperfine -N --warmup 1 --runs "$RUNS" -i --export-json "$name.json" --style basic \
			-n on "$deltair scan --no-progress -r $top/rules -b corpus-gold.dtree -o $name-on.jsonl $img" \
			-n off "$deltair scan --no-progress -r $top/rules --no-decompose -b corpus-gold.dtree -o $name-off.jsonl $img" >&2
	done
else
	echo "bench decomp: no corpus at $CORPUS (.ready): its rows are left out" >&2
	rm -f corpus.json corpus-rot.json
fi

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg) /usr/bin/python3 - "$WORK" "$RUNS" << 'EOF' | tee "$WORK/table.md"
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
for name, what in (("corpus", "the corpus incident (no archive in its delta)"),
                   ("corpus-rot", "the corpus incident after one logrotate (%s .gz logs, %d MB expanded)")):
    if not os.path.exists(os.path.join(work, name + ".json")):
        continue
    c, sc = res(name), summ(name)
    if "%" in what:
        what = what % (sc["decomp"]["archives"], sc["decomp"]["bytes_expanded"] / 1e6)
    oc = c["on"][1] / c["off"][1] - 1
    lines.append("| %s | off | %.2f | %.2f | | |" % (what, c["off"][0], c["off"][1]))
    lines.append("| same | on | %.2f | %.2f | overhead %+.0f%% wall, %+.0f%% CPU | <= 20%% %s |" % (
        c["on"][0], c["on"][1], 100 * (c["on"][0] / c["off"][0] - 1), 100 * oc,
        "met" if oc <= 0.20 else "MISSED"))
lines.append("")
lines.append("Load average (1, 5, 15 min) %s at the start, %s at the end, on 2 cores shared with "
             "other builds: wall times swing with it, read the CPU columns (on and off run side by side)."
             % (os.environ["LOAD_START"], os.environ["LOAD_END"]) + " YARA over the members (rules/) is most of the cost on: see the `--no-rules` row.")
table = "\n".join(lines)
print(table)
EOF
"$top/tests/bench/put-section.py" "$top/docs/benchmarks.md" decomp "## Archives in the delta (issue 14)" \
	"$WORK/table.md"
