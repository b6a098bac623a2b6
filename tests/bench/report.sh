#!/bin/bash
# tests/bench/report.sh - deltair report on a generated case: HOSTS results folders, each
# with EVENTS file events (COMMON of them the same paths and content on every host, the rest
# the host's own), gzip'd as the worker writes them. Prints wall time and peak RSS, so that
# memory can be seen to follow the distinct changed paths, not the lines read.
#   tests/bench/report.sh [HOSTS [EVENTS [COMMON]]]     (defaults 400 5000 4000)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
hosts=${1:-400} events=${2:-5000} common=${3:-4000}
dir=$(mktemp -d /var/tmp/deltair-report-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
/usr/bin/python3 - "$dir/case" "$hosts" "$events" "$common" << 'PY'
import gzip, hashlib, json, os, sys
case, hosts, events, common = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for h in range(hosts):
    d = os.path.join(case, "i-%06d" % h)
    os.makedirs(d)
    with gzip.open(os.path.join(d, "events.jsonl.gz"), "wt", compresslevel=1) as f:
        for i in range(events):
            own = i >= common
            p = "/usr/lib/host%d/f%d" % (h, i) if own else "/usr/lib/common/f%d" % i
            sha = hashlib.sha256(p.encode()).hexdigest()
            f.write(json.dumps({"event": "file", "fs": "p1", "change": "added", "path": p,
                                "type": "file", "size": 10, "mode": "0644",
                                "ctime": "2026-11-%02dT09:23:57.279119613Z" % (1 + i % 28),
                                "sha256": sha, "changed": [], "flags": []}) + "\n")
        f.write(json.dumps({"event": "summary", "fs": "*", "complete": True}) + "\n")
    open(os.path.join(d, "COMPLETE"), "w").close()
PY
du -sh "$dir/case" | sed 's/^/input: /'
/usr/bin/time -f 'deltair report: %e s wall, %M KB peak RSS' "$top/build/deltair" report "$dir/case" > /dev/null
ls -l "$dir/case/report.json" "$dir/case/report.html" | awk '{print "output: " $5 " bytes " $9}'
