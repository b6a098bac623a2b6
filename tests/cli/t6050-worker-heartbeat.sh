#!/bin/bash
# t6050: a job that runs longer than its lease keeps its claim: the worker's heartbeats move
# the lease on (a third of --lease), so a second worker finds nothing to take, and the job
# is given back on SIGTERM uncounted (receive 1 again). Two workers with --concurrency 2 share a spool of 6 jobs: each
# is done exactly once (done/ holds 6, every result has COMPLETE, no job claimed twice).
. "$TOP/tests/cli/lib.sh"
need mke2fs jq pgrep

t_host_pair

# A FIFO as evidence: the scan stays blocked in open(2), surely running past the lease.
mkfifo ev.img
dt_ok submit --queue spool:sp --case H --baseline gold.dtree --output res ev.img
id=$(cat out)
"$DELTAIR" worker --queue spool:sp --lease 3 --work-dir wd 2> w.log &
wpid=$!
at_exit "kill -9 $wpid"
wait_log w.log scan || die "the worker never started the scan: $(cat w.log)"
pgrep -P "$wpid" > /dev/null || die "no scan child"
sleep 4.5 # past the lease: only heartbeats keep the claim
dt worker --queue spool:sp --once --lease 3
expect_rc 0 "second worker --once"
grep -q '"stage":"claim"' err && fail "a second worker took a claim kept alive by heartbeats: $(grep claim err)"
[ -f "sp/processing/$id~1" ] || fail "the claim moved: $(find sp -type f)"
kill -TERM "$wpid"
wait "$wpid" || fail "the worker did not exit 0 on SIGTERM"
[ -f "sp/incoming/$id" ] || fail "the job was not given back: $(find sp -type f)"

# Two workers, two slots each, six jobs.
for i in 1 2 3 4 5 6; do
	dt_ok submit --queue spool:sp2 --case "m$i" --baseline gold.dtree --output res2 incident.img
done
"$DELTAIR" worker --queue spool:sp2 --once --concurrency 2 2> a.log &
apid=$!
"$DELTAIR" worker --queue spool:sp2 --once --concurrency 2 2> b.log &
bpid=$!
wait "$apid" || fail "worker a failed: $(tail -3 a.log)"
wait "$bpid" || fail "worker b failed: $(tail -3 b.log)"
[ "$(find sp2/done -type f | wc -l)" -eq 6 ] || fail "done/: $(find sp2 -type f)"
[ -z "$(find sp2/incoming sp2/processing sp2/failed -type f)" ] || fail "spool: $(find sp2 -type f)"
for i in 1 2 3 4 5 6; do
	[ -f "res2/m$i/incident.img/COMPLETE" ] || fail "job m$i has no COMPLETE"
done
n=$(cat a.log b.log | grep -c '"stage":"claim"')
[ "$n" -eq 6 ] || fail "6 jobs were claimed $n times: $(cat a.log b.log | grep claim)"
t_done
