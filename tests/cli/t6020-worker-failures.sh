#!/bin/bash
# t6020: jobs that fail do not stop the worker. An image no filesystem reader knows (scan
# exits 3), a scan that hangs (a FIFO as evidence) past its --wall-seconds, and a scan under a
# memory limit too small to start: each is claimed --max-receives times, then lands in
# failed/ with its reason and a FAILED record under its results; a good job submitted after
# them is done, with COMPLETE. No scan process is left behind.
. "$TOP/tests/cli/lib.sh"
need mke2fs jq pgrep

t_host_pair
head -c 1000000 /dev/urandom > junk.img
mkfifo hang.fifo

sub() { dt_ok submit --queue spool:sp --case C --baseline gold.dtree --output res "$@"; cat out; }
junk=$(sub junk.img)
hang=$(sub --wall-seconds 2 hang.fifo)
small=$(sub --memory-mb 16 incident.img)
good=$(sub incident.img)

start=$(date +%s)
dt worker --queue spool:sp --once --max-receives 2 --work-dir wd
expect_rc 0 "worker --once"
elapsed=$(($(date +%s) - start))
[ "$elapsed" -le 40 ] || fail "the worker took $elapsed s"
for j in "$junk" "$hang" "$small"; do
	[ -f "sp/failed/$j" ] || fail "job $j is not in failed/: $(find sp -type f)"
	grep -q '(after 2 claims)' "sp/failed/$j.reason" 2> /dev/null ||
		fail "job $j: not claimed twice: $(cat "sp/failed/$j.reason" 2> /dev/null)"
done
grep -q 'scan exited 3: .*no filesystem' "sp/failed/$junk.reason" || fail "junk reason: $(cat "sp/failed/$junk.reason")"
grep -q 'wall-clock limit of 2 seconds' "sp/failed/$hang.reason" || fail "hang reason: $(cat "sp/failed/$hang.reason")"
grep -q 'scan' "sp/failed/$small.reason" || fail "small reason: $(cat "sp/failed/$small.reason")"
jq -e --arg id "$junk" '.job == $id and .receive_count == 2 and (.reason | test("scan exited 3"))' \
	res/C/junk.img/FAILED > /dev/null || fail "FAILED record: $(cat res/C/junk.img/FAILED)"
[ ! -e res/C/junk.img/COMPLETE ] || fail "a failed job has COMPLETE"
jq -e '.reason | test("wall-clock")' res/C/hang.fifo/FAILED > /dev/null || fail "no FAILED for the hung job"
[ -f "sp/done/$good" ] && [ -f res/C/incident.img/COMPLETE ] || fail "the good job was not done: $(cat err)"
[ ! -e res/C/incident.img/FAILED ] || fail "the good job has a FAILED record"
pgrep -f "hang.fifo" > /dev/null && fail "a scan of the FIFO is still running"
grep -q '"level":"warn","stage":"timeout"' err || fail "no timeout log line"
t_done
