#!/bin/bash
# t4200-worker-sqs: `deltair submit` and `deltair worker` on an sqs:// queue, end to end.
# The queue is fauxqs (npm) behind aws_peer.py --proxy, which refuses any request whose SigV4
# signature is wrong (tests/peers/sqs_peer.sh). Oracles: `deltair scan` of the same image and
# baseline (the worker must give the same events), fauxqs's own view of its queues (visible,
# in flight, the dead-letter queue), the proxy's record of refused requests.
#   1. a job submitted with `deltair submit` is done once: results equal scan's, deleted
#   2. kill -9 of the worker mid-job: redelivered after the visibility timeout, done once
#   3. a job whose scan dies every time reaches the DLQ after maxReceiveCount, never deleted
#      by the worker, while the worker serves the job behind it
#   4. SIGTERM mid-job: the worker gives the message back at once (visibility 0), exits 0
# A job is held "mid-job" by a FIFO as its evidence: the scan blocks opening it until the
# test swaps the real image in (the worker's child dies with the worker: PR_SET_PDEATHSIG).
. "$TOP/tests/cli/lib.sh"
need mke2fs jq curl gzip mkfifo timeout
"$DELTAIR" worker --help > /dev/null 2>&1 || skip "this build has no 'deltair worker'"
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS

# The gold and an incident: a few changes of different classes.
mkdir -p tree/etc tree/bin tree/data
printf 'root:x:0:0::/root:/bin/sh\n' > tree/etc/passwd
printf 'gold\n' > tree/etc/motd
head -c 200000 /dev/urandom > tree/data/blob
cp /bin/true tree/bin/true
t_gold_incident tree 16M
printf 'evil:x:0:0::/:/bin/sh\n' >> mnt/etc/passwd
printf 'implant\n' > mnt/bin/.hidden
rm mnt/etc/motd
_t_umount "$(readlink -f mnt)"
dt scan --no-progress --no-rules --no-artifacts --baseline gold.dtree -o scan.jsonl incident.img
expect_rc 1 "the oracle scan" || die "no oracle"
canon_jsonl < scan.jsonl > want.canon
[ -s want.canon ] || die "the oracle scan gave no file events"

DLQ_ARN=arn:aws:sqs:us-east-1:000000000000:jobs-dlq
cat > sqs.json << EOF
{"queues": [{"name": "jobs-dlq"},
            {"name": "jobs", "attributes": {"VisibilityTimeout": "30", "RedrivePolicy":
             "{\"deadLetterTargetArn\": \"$DLQ_ARN\", \"maxReceiveCount\": \"2\"}"}},
            {"name": "plain"}, {"name": "trust-dlq"},
            {"name": "trust", "attributes": {"RedrivePolicy":
             "{\"deadLetterTargetArn\": \"${DLQ_ARN%jobs-dlq}trust-dlq\", \"maxReceiveCount\": \"1\"}"}}]}
EOF
sqs_peer sqs.json
Q=sqs://$SQS_PEER_URL/000000000000/jobs

# wait_for SECONDS CMD...: until CMD succeeds, or fail.
wait_for()
{
	local t=$1 i
	shift
	for ((i = 0; i < t * 10; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
count_is() { [ "$(sqs_count "$1" "$2")" = "$3" ]; }
logged() { grep -q "$1" "$2" 2> /dev/null; }
# results_equal DIR: the worker's events equal the oracle scan's.
results_equal()
{
	[ -f "$1/COMPLETE" ] || { fail "no COMPLETE in $1: $(ls "$1" 2>&1)"; return; }
	gzip -dc "$1/events.jsonl.gz" | canon_jsonl > got.canon || { fail "events of $1"; return; }
	compare want.canon got.canon p type mode size sha256 change flags ||
		fail "the worker's events in $1 differ from deltair scan's"
}
worker_args=(worker --queue "$Q" --output results --baseline gold.dtree --no-rules
	--no-artifacts --poll 1 --allow-local-evidence)

# 0. Errors in one line: a queue that does not exist (SQS's own code), a wrong secret (the
# proxy refuses the signature). A queue without a redrive policy: a warning, then served.
dt submit --queue "sqs://$SQS_PEER_URL/000000000000/missing" incident.img
expect_rc 7 "submit to a missing queue" && expect_err_line submit &&
	grep -q "GetQueueAttributes: HTTP 400 AWS.SimpleQueueService.NonExistentQueue" err ||
	fail "submit to a missing queue: $(cat err)"
AWS_SECRET_ACCESS_KEY=not-the-secret dt submit --queue "$Q" incident.img
expect_rc 7 "submit with a wrong secret" && expect_err_line submit &&
	grep -q "HTTP 403 InvalidSignatureException" err || fail "wrong secret: $(cat err)"
grep -q not-the-secret err && fail "the secret is in the message"
aws_peer_ctl DELETE /_peer/violations > /dev/null || die "cannot clear the proxy's record"
dt_ok worker --queue "sqs://$SQS_PEER_URL/000000000000/plain" --output results --once --poll 1
[ "$(grep -c '"level":"warn".*has no RedrivePolicy' err)" -eq 1 ] ||
	fail "no warning for a queue without a redrive policy: $(cat err)"

# 0b. Whoever may send to the queue must not choose what the worker reads or writes: a job
# whose evidence is a local path (a FIFO here: opening it would block the scan) without
# --allow-local-evidence, or whose output is not beneath the worker's --output, is refused
# before anything is read, for good: visible again at once, never deleted by the worker, and
# the redrive (maxReceiveCount 1) moves it to the DLQ on the next receive; nothing written.
T=sqs://$SQS_PEER_URL/000000000000/trust
mkfifo local.fifo
dt_ok submit --queue "$T" --case local --wall-seconds 5 "$PWD/local.fifo"
dt_ok submit --queue "$T" --case away --output "$PWD/away" ebs://snap-0123456789abcdef0
dt_ok worker --queue "$T" --output results --baseline gold.dtree --once --poll 1
grep -q '"level":"error","stage":"failed".*evidence .*local.fifo.* is a local path, from a shared queue.*(permanent)' err ||
	fail "local evidence from sqs:// not refused: $(grep error err)"
grep -q "\"level\":\"error\",\"stage\":\"failed\".*output '$PWD/away' is not beneath the worker's --output '$PWD/results'" err ||
	fail "an output outside --output not refused: $(grep error err)"
grep -q '"stage":"scan"' err && fail "a refused job was scanned: $(grep scan err)"
[ ! -e results/local ] && [ ! -e away ] || fail "a refused job wrote results: $(find results away 2> /dev/null)"
count_is trust approximateMessageCount 0 && count_is trust approximateInflightCount 0 &&
	count_is trust-dlq approximateMessageCount 2 ||
	fail "the refused jobs are not in the DLQ: $(curl -s "$FAUXQS_URL/_fauxqs/queues")"

# 1. submit, then one worker run: done once, results equal scan's, the message deleted.
dt_ok submit --queue "$Q" --case c1 incident.img
id=$(cat out)
[ -n "$id" ] || fail "submit printed no message id"
count_is jobs approximateMessageCount 1 || fail "after submit: $(sqs_count jobs approximateMessageCount) visible, want 1"
dt_ok "${worker_args[@]}" --once
results_equal results/c1/incident.img
count_is jobs approximateMessageCount 0 && count_is jobs approximateInflightCount 0 ||
	fail "after the job: the message is still on the queue"
count_is jobs-dlq approximateMessageCount 0 || fail "a done job reached the DLQ"

# 2. kill -9 mid-job. The lease (the message's visibility) is 4 s: redelivered after it.
rm -f slow.img
mkfifo slow.img
dt_ok submit --queue "$Q" --case c2 "$PWD/slow.img"
"$DELTAIR" "${worker_args[@]}" --lease 4 2> w2.log &
wpid=$!
at_exit "kill -9 $wpid"
wait_for 15 logged '"claim"' w2.log || die "the worker claimed nothing: $(tail -5 w2.log)"
sleep 0.5
kill -9 "$wpid"
wait "$wpid" 2> /dev/null
count_is jobs approximateInflightCount 1 || fail "after kill -9: the message is not in flight"
[ ! -e results/c2/slow.img/COMPLETE ] || fail "a killed job left COMPLETE"
rm -f slow.img
cp incident.img slow.img
t0=$(date +%s)
wait_for 15 count_is jobs approximateMessageCount 1 || fail "the killed job did not come back"
waited=$(($(date +%s) - t0))
[ "$waited" -ge 2 ] || fail "visible again after ${waited}s, before the 4 s visibility ran out"
dt_ok "${worker_args[@]}" --once
results_equal results/c2/slow.img
grep -q 'receive 2' err || fail "the redelivered job is not its second receive: $(grep claim err)"
count_is jobs approximateMessageCount 0 && count_is jobs approximateInflightCount 0 ||
	fail "after the redelivered job: the message is still on the queue"
[ "$(grep -c '"claim"' err)" -eq 1 ] || fail "the redelivered job was claimed $(grep -c '"claim"' err) times"

# 3. A job whose scan dies every time (a 1 MiB address space: the child cannot even load),
# then a good one. The bad one goes to the DLQ after 2 receives (the worker makes a failed
# job visible again after 5 s, never deletes it); the good one is done meanwhile.
dt_ok submit --queue "$Q" --case c3 --memory-mb 1 incident.img
dt_ok submit --queue "$Q" --case c4 incident.img
"$DELTAIR" "${worker_args[@]}" 2> w3.log &
wpid=$!
at_exit "kill -9 $wpid"
wait_for 40 count_is jobs-dlq approximateMessageCount 1 ||
	fail "the poison job is not in the DLQ: $(curl -s "$FAUXQS_URL/_fauxqs/queues")"
wait_for 10 test -e results/c4/incident.img/COMPLETE || fail "the good job was not done"
kill -TERM "$wpid"
wait "$wpid" || fail "the worker exited $? after SIGTERM"
results_equal results/c4/incident.img
[ ! -e results/c3/incident.img/COMPLETE ] || fail "the poison job has results"
[ "$(grep -c 'receive 1)' w3.log)" -eq 2 ] && [ "$(grep -c 'receive 2)' w3.log)" -eq 1 ] ||
	fail "claims: $(grep -o 'claimed (receive [0-9]*)' w3.log | tr '\n' ' '), want 1, 1, 2"
count_is jobs approximateMessageCount 0 && count_is jobs approximateInflightCount 0 ||
	fail "after the poison job: messages left on the queue"

# 4. SIGTERM mid-job: released at once (visible again long before the 300 s lease).
rm -f slow.img
mkfifo slow.img
dt_ok submit --queue "$Q" --case c5 "$PWD/slow.img"
"$DELTAIR" "${worker_args[@]}" 2> w4.log &
wpid=$!
at_exit "kill -9 $wpid"
wait_for 15 logged '"claim"' w4.log || die "the worker claimed nothing: $(tail -5 w4.log)"
count_is jobs approximateInflightCount 1 || fail "the job is not in flight"
kill -TERM "$wpid"
rc=0
timeout 20 tail --pid="$wpid" -f /dev/null || fail "the worker did not exit after SIGTERM"
wait "$wpid" || rc=$?
[ "$rc" -eq 0 ] || fail "the worker exited $rc after SIGTERM, want 0: $(tail -3 w4.log)"
count_is jobs approximateMessageCount 1 && count_is jobs approximateInflightCount 0 ||
	fail "after SIGTERM: the message is not visible at once"
[ ! -e results/c5/slow.img/COMPLETE ] || fail "a released job left COMPLETE"

aws_peer_clean
t_done
