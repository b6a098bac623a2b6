#!/bin/bash
# t6030: SIGTERM stops a worker cleanly. Idle (even in a 20 s poll), it exits 0 at once.
# Mid-job, it kills the scan, gives the job back to incoming/ (its claim not counted), leaves
# no result, no scratch and no process, and exits 0; the next worker completes the job as
# receive 1.
. "$TOP/tests/cli/lib.sh"
need mke2fs jq pgrep

t_host_pair

# Idle.
"$DELTAIR" worker --queue spool:sp --output res 2> idle.log &
wpid=$!
at_exit "kill -9 $wpid"
wait_log idle.log start || die "the worker did not start: $(cat idle.log)"
sleep 0.5
t0=$(date +%s%N)
kill -TERM "$wpid"
rc=0
wait "$wpid" || rc=$?
[ "$rc" -eq 0 ] || fail "idle worker: SIGTERM gave exit $rc"
[ $((($(date +%s%N) - t0) / 1000000)) -lt 3000 ] || fail "an idle worker took 3 s or more to stop"
# A SIGTERM between two of the spool's 200 ms sleeps (while it lists the folders) ended the
# wait only at the poll's end, 20 s later (1 run in 6 here). 20,000 claims held by others
# (leases a day ahead) make each listing long enough to be hit: signals at times spread over
# one sleep's span, each worker must stop within 3 s.
mkdir -p sp2/processing
(cd sp2/processing && seq -f 'held%05g~1' 20000 | xargs touch -d '+1 day')
for i in $(seq 0 14); do
	"$DELTAIR" worker --queue spool:sp2 --output res 2> idle$i.log &
	wpid=$!
	wait_log idle$i.log start || die "the worker did not start: $(cat idle$i.log)"
	sleep "0.$(printf '%03d' $((i * 15)))"
	t0=$(date +%s%N)
	kill -TERM "$wpid"
	wait "$wpid"
	[ $((($(date +%s%N) - t0) / 1000000)) -lt 3000 ] ||
		fail "an idle worker signalled $((i * 15)) ms after its start took 3 s or more to stop"
done

# Mid-job: the evidence is a FIFO at first, so the scan is surely still running (blocked in
# open) when the worker is stopped; then the image takes its name.
mkfifo ev.img
dt_ok submit --queue spool:sp --case T --baseline gold.dtree --output res ev.img
id=$(cat out)
"$DELTAIR" worker --queue spool:sp --work-dir wd 2> w.log &
wpid=$!
at_exit "kill -9 $wpid"
wait_log w.log scan || die "the worker never started the scan: $(cat w.log)"
scan_pid=$(pgrep -P "$wpid") || die "no scan child"
kill -TERM "$wpid"
rc=0
wait "$wpid" || rc=$?
[ "$rc" -eq 0 ] || fail "SIGTERM mid-job gave exit $rc: $(tail -3 w.log)"
kill -0 "$scan_pid" 2> /dev/null && { kill -9 "$scan_pid"; fail "the scan outlived the worker"; }
[ -f "sp/incoming/$id" ] || fail "the job is not back in incoming/ as it was: $(find sp -type f)"
[ -z "$(find sp/processing sp/done sp/failed -type f)" ] || fail "spool: $(find sp -type f)"
grep -q '"stage":"release"' w.log || fail "no release log line: $(cat w.log)"
[ -z "$(find res -type f 2> /dev/null)" ] || fail "a released job left results: $(find res -type f)"
[ -z "$(ls -A wd | grep -v '^baselines$')" ] || fail "scratch left: $(ls -A wd)"

rm ev.img
mv incident.img ev.img
dt worker --queue spool:sp --once
expect_rc 0 "worker --once after the release"
grep -q '"msg":"claimed (receive 1)"' err || fail "the released claim counted: $(grep claim err)"
[ -f res/T/ev.img/COMPLETE ] && [ -f "sp/done/$id" ] || fail "the released job was not done"
t_done
