#!/bin/bash
# t6040: ebs:// jobs through the worker, against the loopback AWS peer (tests/peers/). A
# submitted ebs://snap-… job (read mode direct) gives the events `deltair scan ebs://…` gives
# (zcat, less the summary's elapsed time), stored under CASE/snap-ID/; an EventBridge "EBS
# Snapshot Notification" dropped into the spool is a job with the worker's defaults; a failed
# notification is refused into failed/ with its reason; an attach-mode job off EC2 (no
# instance metadata) fails clearly (t4210 runs attach mode). The peer saw no bad signature
# or request. A job with changed_since reads only the delta (the
# worker's --gold-cache serving unchanged blocks) and gives plain scan's file events.
. "$TOP/tests/cli/lib.sh"
need mke2fs jq zcat timeout

G=snap-0123456789abcdef0
I=snap-0123456789abcdef1
mkdir -p gold/etc gold/bin
printf 'root:x:0:0:root:/root:/bin/bash\n' > gold/etc/passwd
head -c 300000 /dev/urandom > gold/bin/tool
cp -a gold inc
printf 'evil:x:0:0::/:/bin/sh\n' >> inc/etc/passwd
head -c 20000 /dev/urandom > inc/bin/dropper
mkext4 gold gold.raw 16M
mkext4 inc inc.raw 16M
# For changed_since: a larger gold (blocks the job need not fetch) and a copy of it changed
# through a mount, so most blocks stay the gold's.
G2=snap-0123456789abcdef3
I2=snap-0123456789abcdef2
cp -a gold gold2
head -c 3000000 /dev/urandom > gold2/bin/big
mkext4 gold2 gold2.raw 16M
cp gold2.raw inc2.raw
t_loop inc2.raw
t_mount "$LOOP" m2
printf 'evil:x:0:0::/:/bin/sh\n' >> m2/etc/passwd
_t_umount m2 || die "umount m2"
losetup -d "$LOOP"
cat > peer.json << EOF2
{"snapshots": {"$G": {"image": "gold.raw"}, "$I": {"image": "inc.raw", "parent": "$G"},
               "$G2": {"image": "gold2.raw"}, "$I2": {"image": "inc2.raw", "parent": "$G2"}}}
EOF2
aws_peer peer.json
export AWS_ENDPOINT_URL_EBS=$AWS_PEER_URL AWS_ENDPOINT_URL=$AWS_PEER_URL AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION

dt_ok baseline --no-progress -o gold.dtree gold.raw
dt scan --no-progress --baseline "$PWD/gold.dtree" -x plain-x -o plain.jsonl ebs://$I
[ "$rc" -le 1 ] || die "deltair scan ebs://$I: rc $rc: $(cat err)"
norm() { jq -c 'if .event == "summary" then del(.elapsed) else . end'; }
norm < plain.jsonl > plain.norm

dt_ok submit --queue spool:sp --case IR-E --baseline gold.dtree --output res ebs://$I
id=$(cat out)
jq -e --arg s "ebs://$I" '.evidence == $s' "sp/incoming/$id" > /dev/null || fail "queued: $(cat "sp/incoming/$id")"
dt worker --queue spool:sp --once
expect_rc 0 "worker --once (ebs)"
R=res/IR-E/$I
[ -f "$R/COMPLETE" ] || die "no COMPLETE for the ebs job: $(cat err)"
zcat "$R/events.jsonl.gz" | norm > w.norm
cmp -s plain.norm w.norm || fail "ebs job events differ from deltair scan's: $(diff plain.norm w.norm | head -4)"
grep -q "\"snapshot\":\"$I\"" err || fail "the log does not name the snapshot"
jq -e --arg s "$I" '.job_spec.evidence == ("ebs://" + $s) and .job_spec.read_mode == "direct"' \
	"$R/summary.json" > /dev/null || fail "summary.json job_spec: $(jq -c .job_spec "$R/summary.json")"

# EventBridge notifications: one succeeded (a job with the worker's defaults), one failed.
event()
{
	printf '{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"EBS Snapshot Notification","source":"aws.ec2","account":"012345678901","time":"2026-12-03T10:00:00Z","region":"us-east-1","resources":["arn:aws:ec2::us-east-1:snapshot/%s"],"detail":{"event":"createSnapshot","result":"%s","cause":"","request-id":"","snapshot_id":"arn:aws:ec2::us-east-1:snapshot/%s","source":"arn:aws:ec2::us-east-1:volume/vol-01234567","startTime":"2026-12-03T10:00:00Z","endTime":"2026-12-03T10:01:00Z"}}' \
		"$1" "$2" "$1"
}
event "$I" succeeded > sp/incoming/eb-ok
event "$I" failed > sp/incoming/eb-failed
dt worker --queue spool:sp --once --case fleet --baseline gold.dtree --output res2
expect_rc 0 "worker --once (EventBridge)"
[ -f "res2/fleet/$I/COMPLETE" ] && [ -f sp/done/eb-ok ] || fail "the EventBridge job was not done: $(cat err)"
# The event's region is the job's: the evidence is named ebs://us-east-1/snap-ID.
noimg() { jq -c 'if .event == "summary" then del(.evidence.image) else . end'; }
zcat "res2/fleet/$I/events.jsonl.gz" | norm | noimg > eb.norm
jq -e --arg s "$I" '.evidence.image == ("ebs://us-east-1/" + $s) and .evidence.snapshot.region == "us-east-1"' \
	"res2/fleet/$I/summary.json" > /dev/null || fail "EventBridge job: evidence $(jq -c .evidence "res2/fleet/$I/summary.json")"
noimg < plain.norm > plain.noimg
cmp -s plain.noimg eb.norm || fail "EventBridge job events differ from deltair scan's: $(diff plain.noimg eb.norm | head -5)"
grep -q "result is 'failed', not 'succeeded'" sp/failed/eb-failed.reason 2> /dev/null ||
	fail "failed notification: $(cat sp/failed/eb-failed.reason 2> /dev/null)"

# changed_since: the scan reads the delta only (its changed blocks through the worker's gold
# cache), and its file events are plain scan's.
files() { jq -c 'select(.event == "file")' | sort; }
dt_ok baseline --no-progress -o gold-ebs.dtree ebs://$G2
dt scan --no-progress --baseline "$PWD/gold-ebs.dtree" -x plain2-x -o plain2.jsonl ebs://$I2
[ "$rc" -le 1 ] || die "deltair scan ebs://$I2: rc $rc: $(cat err)"
files < plain2.jsonl > plain.files
dt_ok submit --queue spool:sp --case CS --baseline gold-ebs.dtree --output res4 --changed-since $G2 ebs://$I2
dt worker --queue spool:sp --once --gold-cache gcache
expect_rc 0 "worker --once (changed_since)"
R=res4/CS/$I2
[ -f "$R/COMPLETE" ] || fail "no COMPLETE for the changed_since job: $(cat err; cat sp/failed/*.reason 2> /dev/null)"
zcat "$R/events.jsonl.gz" | files > cs.files
cmp -s plain.files cs.files || fail "changed_since job events differ from deltair scan's: $(diff plain.files cs.files | head -4)"
jq -e --arg g "$G2" '.changed_blocks.from == $g and .evidence.snapshot.gold.blocks_from_gold > 0 and .evidence.snapshot.blocks_fetched <= .evidence.snapshot.gold.blocks_changed' \
	<(zcat "$R/events.jsonl.gz" | jq -c 'select(.event == "summary")') > /dev/null ||
	fail "changed_since job summary: $(zcat "$R/events.jsonl.gz" | jq -c 'select(.event == "summary") | {changed_blocks, files_reused, s: .evidence.snapshot}')"
[ -n "$(find gcache -type f 2> /dev/null)" ] || fail "the worker's --gold-cache was not used"

# attach mode off EC2 (instance metadata disabled): a clear failure (or a result).
dt_ok submit --queue spool:sp --case A --baseline gold.dtree --output res3 --read-mode attach ebs://$I
dt worker --queue spool:sp --once --max-receives 1
expect_rc 0 "worker --once (attach)"
if ! [ -f res3/A/$I/COMPLETE ]; then
	grep -q 'attach' sp/failed/*.reason || fail "attach job: no clear reason: $(cat sp/failed/*.reason)"
fi
aws_peer_clean
t_done
