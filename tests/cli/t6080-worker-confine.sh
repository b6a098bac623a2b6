#!/bin/bash
# t6080: a worker with --output writes only beneath it. A queued job whose output is
# elsewhere (another folder, a sibling whose name starts the same, a path that climbs out with
# "..") is a permanent failure on its first claim, with the reason, nothing made where it
# pointed and its evidence never opened (a FIFO whose writer would see the open); a job whose
# output is beneath --output, or that names none, is done. (sqs:// and local evidence: t4200;
# s3:// prefixes: the unit test t_job_admit_confines_outputs.) A spool others may write (or
# another user's) is a shared queue: local evidence refused unless allow_local_evidence.
. "$TOP/tests/cli/lib.sh"
need mke2fs jq

t_host_pair
mkfifo held.fifo
# The FIFO's writer gets through its open only if something opens the FIFO to read it.
(: > held.fifo && touch opened) &
writer=$!
at_exit "kill $writer 2> /dev/null"

sub() { dt_ok submit --queue spool:sp --case C --baseline gold.dtree "$@"; cat out; }
elsewhere=$(sub --output "$PWD/elsewhere" incident.img)
sibling=$(sub --output "$PWD/res-other" incident.img)
climb=$(sub --output "$PWD/res/../climbed" incident.img)
fifo=$(sub --output "$PWD/elsewhere" --wall-seconds 5 held.fifo)
inside=$(sub --output "$PWD/res/team-a" incident.img)
default=$(sub incident.img)

dt worker --queue spool:sp --once --max-receives 3 --output res --work-dir "$PWD/wd"
expect_rc 0 "worker --once --output res"
for j in "$elsewhere" "$sibling" "$climb" "$fifo"; do
	[ -f "sp/failed/$j" ] || { fail "job $j is not in failed/: $(find sp -type f)"; continue; }
	grep -q "job: output '.*' is not beneath the worker's --output '$PWD/res'" "sp/failed/$j.reason" ||
		fail "job $j: reason: $(cat "sp/failed/$j.reason")"
	grep -q "after 1 claim" "sp/failed/$j.reason" || fail "job $j: not permanent: $(cat "sp/failed/$j.reason")"
done
for d in elsewhere res-other climbed; do
	[ ! -e "$d" ] || fail "a refused job made $d: $(find "$d")"
done
[ ! -e opened ] || fail "the refused job's evidence (a FIFO) was opened"
[ -f res/team-a/C/incident.img/COMPLETE ] || fail "the job beneath --output is not done: $(tail -3 err)"
[ -f res/C/incident.img/COMPLETE ] || fail "the job naming no output is not done: $(tail -3 err)"
[ -z "$(find sp/incoming sp/claimed -type f 2> /dev/null)" ] || fail "jobs left on the queue: $(find sp -type f)"
grep -q '"level":"error".*not beneath' err || fail "no error log line for a refused job: $(head -5 err)"

# A spool others may write is a shared queue: a job naming local evidence is refused there
# (the worker warns at start), unless the operator allows it: allow_local_evidence = yes in
# the config (--allow-local-evidence). A spool folder of another user is shared too.
mkdir -p sp2/incoming
chmod 0733 sp2/incoming
shared=$(dt_ok submit --queue spool:sp2 --case S --baseline gold.dtree incident.img; cat out)
dt worker --queue spool:sp2 --once --output res --work-dir "$PWD/wd"
expect_rc 0 "worker on a shared spool"
grep -q '"level":"warn".*spool .*sp2.*incoming/ is owned by uid 0 with mode 0733: others may queue' err ||
	fail "no warning for a spool others may write: $(head -3 err)"
grep -q "job: evidence '$PWD/incident.img' is a local path, from a shared queue" "sp2/failed/$shared.reason" ||
	fail "local evidence from a shared spool: $(cat "sp2/failed/$shared.reason" 2>&1; find sp2 -type f)"
[ ! -e res/S ] || fail "the refused job wrote results: $(find res/S)"
printf 'queue = spool:sp2\noutput = res\nallow_local_evidence = maybe\n' > bad.conf
dt worker --config bad.conf --check
expect_rc 2 "a bad allow_local_evidence" &&
	grep -q "line 3: 'allow_local_evidence' is yes or no, not 'maybe'" err || fail "bad flag: $(cat err)"
printf 'queue = spool:sp2\noutput = res\nallow_local_evidence = yes\n' > w.conf
dt_ok submit --queue spool:sp2 --case S --baseline gold.dtree incident.img
dt worker --config w.conf --once --work-dir "$PWD/wd"
expect_rc 0 "worker with allow_local_evidence = yes"
[ -f res/S/incident.img/COMPLETE ] || fail "allow_local_evidence = yes: not done: $(tail -3 err)"
mkdir sp3
chown nobody sp3 || die "chown nobody"
dt_ok worker --queue spool:sp3 --once --output res --work-dir "$PWD/wd"
grep -q '"level":"warn".*spool .*sp3.*the folder is owned by uid [1-9][0-9]*' err ||
	fail "no warning for another user's spool: $(head -3 err)"
t_done
