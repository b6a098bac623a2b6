#!/bin/bash
# t6010: kill -9 of a worker mid-job. The scan it ran dies with it (no orphan); its claim
# stays in processing/ until the lease runs out; a new worker then claims it again
# (receive_count 2), deletes the partial result the killed run left under the job's prefix,
# and completes the job once: results equal to `deltair scan` of the image (zcat, as t6000),
# nothing of the partial run mixed in, COMPLETE listing exactly what is there.
. "$TOP/tests/cli/lib.sh"
need mke2fs jq sha256sum zcat pgrep

mkdir -p gold/etc gold/bin
printf 'host-a\n' > gold/etc/hostname
head -c 100000 /dev/urandom > gold/bin/tool
t_gold_incident gold 16M
printf 'host-b\n' > mnt/etc/hostname
head -c 5000 /dev/urandom > mnt/bin/dropper
t_incident_done
# The oracle first, so that the lease below is not spent on it: the image's own scan.
cp incident.img ev.img
dt scan --no-progress --baseline "$PWD/gold.dtree" -x plain-x -o plain.jsonl "$PWD/ev.img"
[ "$rc" -le 1 ] || die "deltair scan: rc $rc: $(cat err)"
rm ev.img
# The evidence is a FIFO at first, so the scan is surely still running (blocked in open)
# when the worker is killed; then the image takes its name.
mkfifo ev.img
dt_ok submit --queue spool:sp --case IR-9 --baseline gold.dtree --output res ev.img
id=$(cat out)
R=res/IR-9/ev.img

"$DELTAIR" worker --queue spool:sp --lease 10 --poll 1 --work-dir wd 2> w1.log &
wpid=$!
at_exit "kill -9 $wpid"
wait_log w1.log scan || die "the worker never started the scan: $(cat w1.log)"
scan_pid=$(pgrep -P "$wpid") || die "no scan child under the worker"
# What a run killed while storing leaves: part of a result, no COMPLETE.
mkdir -p "$R/extracted/files/p0"
printf 'stale\n' > "$R/extracted/files/p0/stale-from-killed-run"
printf 'not gzip\n' > "$R/events.jsonl.gz"
kill -9 "$wpid"
wait "$wpid" 2> /dev/null
for i in $(seq 50); do kill -0 "$scan_pid" 2> /dev/null || break; sleep 0.1; done
kill -0 "$scan_pid" 2> /dev/null && { kill -9 "$scan_pid"; fail "the scan outlived its killed worker"; }
[ -f "sp/processing/$id~1" ] || die "the claim is not in processing/: $(find sp -type f)"
rm ev.img
cp incident.img ev.img

# Before the lease runs out, nobody takes it.
# The claim's mtime is when its lease runs out (docs/worker.md).
expiry=$(stat -c %Y "sp/processing/$id~1")
[ "$expiry" -gt "$(date +%s)" ] || die "the lease ran out already (a slow machine?)"
dt worker --queue spool:sp --once --lease 2 --work-dir wd
expect_rc 0 "worker --once (lease running)"
[ "$(date +%s)" -lt "$expiry" ] && grep -q '"stage":"claim"' err && fail "a claim was taken before its lease ran out"
while [ "$(date +%s)" -le "$expiry" ]; do sleep 0.2; done
dt worker --queue spool:sp --once --lease 2 --work-dir wd
expect_rc 0 "worker --once (after the lease)"
grep -q '"stage":"claim","msg":"claimed (receive 2)"' err || fail "not claimed again as receive 2: $(cat err)"
[ -f "sp/done/$id" ] || fail "the job is not done: $(find sp -type f)"
[ -z "$(find sp/incoming sp/processing sp/failed -type f)" ] || fail "spool: $(find sp -type f)"
[ ! -e "$R/extracted/files/p0/stale-from-killed-run" ] || fail "the killed run's partial result was kept"
jq -c 'if .event == "summary" then del(.elapsed) else . end' plain.jsonl > plain.norm
zcat "$R/events.jsonl.gz" | jq -c 'if .event == "summary" then del(.elapsed) else . end' > w.norm ||
	fail "events.jsonl.gz is not gzip"
cmp -s plain.norm w.norm || fail "events differ from deltair scan's: $(diff plain.norm w.norm | head -4)"
jq -e '.worker.receive_count == 2' "$R/summary.json" > /dev/null || fail "summary.json receive_count"
check_complete "$R"
[ -z "$(ls -A wd | grep -v '^baselines$')" ] || fail "scratch left in the work dir: $(ls -A wd)"

# A scan blocked in open(2) of a FIFO (not stopped): it must die with its worker too.
mkfifo hang.fifo
dt_ok submit --queue spool:sp3 --case F --baseline gold.dtree --output res hang.fifo
"$DELTAIR" worker --queue spool:sp3 --work-dir wd3 2> w3.log &
wpid=$!
at_exit "kill -9 $wpid"
wait_log w3.log scan || die "the worker never started the FIFO scan: $(cat w3.log)"
scan_pid=$(pgrep -P "$wpid") || die "no scan child under the worker"
kill -9 "$wpid"
wait "$wpid" 2> /dev/null
for i in $(seq 50); do kill -0 "$scan_pid" 2> /dev/null || break; sleep 0.1; done
kill -0 "$scan_pid" 2> /dev/null && { kill -9 "$scan_pid"; fail "a blocked scan outlived its killed worker"; }
t_done
