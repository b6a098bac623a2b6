#!/bin/bash
# t4000-aws-peer: the test AWS peer (tests/peers/aws_peer.py) checked before it is trusted.
# Oracles: Debian's awscli (its own SigV4 signer, IMDS client, retries and response parsers),
# cmp and dd over the raw images for blocks, openssl for checksums, the sigv4-vectors for the
# signature verifier. Negative checks: a wrong secret, a tampered request, an unknown key,
# expired credentials and input the model rejects are refused and recorded as violations.
. "$TOP/tests/cli/lib.sh"
need cmp dd openssl base64
[ -x /usr/bin/aws ] || skip "Debian's awscli is not installed"
AWS=/usr/bin/aws

# 1. The signature verifier on the shared vectors: each signed request verifies, each
# tampered one fails. Left out: the suite's *-unnormalized cases (S3 path rules, which the
# peer applies to S3 only), get-space-* (a raw space in the request line is no HTTP request)
# and post-sts-header-after (a token added after signing).
if [ -d "${SHARED:-}/sigv4-vectors" ]; then
	cases=("$SHARED"/sigv4-vectors/project-cases/*)
	for c in "$SHARED"/sigv4-vectors/aws-signing-test-suite/v4/*; do
		case $(basename "$c") in
		*-unnormalized | get-space-* | post-sts-header-after) ;;
		*) cases+=("$c") ;;
		esac
	done
	"$AWS_PEER_PY" "$TOP/tests/peers/aws_peer.py" vectors "${cases[@]}" > vectors.out ||
		fail "the verifier disagrees with sigv4-vectors: $(grep -v '^ok' vectors.out)"
	[ "$(grep -c '^ok' vectors.out)" -ge 100 ] || fail "too few vector checks: $(wc -l < vectors.out)"
else
	note "no sigv4-vectors under SHARED: verifier vectors not checked"
fi

# 2. Two images of one lineage: small markers in a few 512 KiB blocks, the rest holes.
BS=524288
truncate -s 64M gold.raw
for b in 0 1 5 40 100 127; do
	printf 'gold block %d\n' "$b" | dd of=gold.raw bs=1 seek=$((b * BS + 4000)) conv=notrunc status=none
done
cp --sparse=always gold.raw inc.raw
printf 'changed' | dd of=inc.raw bs=1 seek=$((5 * BS + 9)) conv=notrunc status=none
printf 'new' | dd of=inc.raw bs=1 seek=$((7 * BS + 3)) conv=notrunc status=none
dd if=/dev/zero of=inc.raw bs=1 count=100 seek=$((40 * BS + 3990)) conv=notrunc status=none
# The independent truth: which blocks hold a nonzero byte, which differ (cmp -l, 1-based).
blocks_of() { awk -v bs=$BS '{ print int(($1 - 1) / bs) }' | sort -n -u; }
truncate -s 64M zero.raw
cmp -l gold.raw zero.raw | blocks_of > gold.blocks
cmp -l inc.raw zero.raw | blocks_of > inc.blocks
cmp -l gold.raw inc.raw | blocks_of > changed.blocks
[ "$(tr '\n' ' ' < changed.blocks)" = "5 7 40 " ] || die "fixture: changed blocks $(cat changed.blocks)"

G=snap-0123456789abcdef0
I=snap-0123456789abcdef1
U=snap-00000000000000fff
cat > peer.json << EOF
{"snapshots": {"$G": {"image": "gold.raw"},
               "$I": {"image": "inc.raw", "parent": "$G"},
               "$U": {"image": "inc.raw"}},
 "roles": {"arn:aws:iam::111122223333:role/forensics": {"external_id": "case-42"}},
 "imds": {"role": "deltair-worker", "credential_ttl": 600, "user_data": "#!/bin/sh\\n"},
 "images": [{"ImageId": "ami-0123456789abcdef0", "Name": "gold", "State": "available"}]}
EOF
aws_peer peer.json
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_PAGER= AWS_EC2_METADATA_DISABLED=true AWS_RETRY_MODE=standard AWS_MAX_ATTEMPTS=4
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
aws() { $AWS --endpoint-url "$AWS_PEER_URL" --output json "$@"; }
jq_() { jq -r "$@" || die "jq $*"; }

# 3. ListSnapshotBlocks: all nonzero blocks, no others, 512 KiB, 1 GiB volume.
aws ebs list-snapshot-blocks --snapshot-id $G > lsb.json || die "list-snapshot-blocks failed"
jq_ '.Blocks[].BlockIndex' lsb.json > got.blocks
cmp -s got.blocks gold.blocks || fail "ListSnapshotBlocks $(tr '\n' ' ' < got.blocks), want $(tr '\n' ' ' < gold.blocks)"
[ "$(jq_ '"\(.BlockSize) \(.VolumeSize) \(.NextToken)"' lsb.json)" = "524288 1 null" ] ||
	fail "ListSnapshotBlocks sizes: $(jq -c 'del(.Blocks)' lsb.json)"

# 4. GetSnapshotBlock: the bytes dd reads, with openssl's SHA-256 in base64.
tok=$(jq_ '.Blocks[] | select(.BlockIndex == 5) | .BlockToken' lsb.json)
aws ebs get-snapshot-block --snapshot-id $G --block-index 5 --block-token "$tok" blk5 > gsb.json ||
	die "get-snapshot-block failed"
dd if=gold.raw of=want5 bs=$BS skip=5 count=1 status=none
cmp -s blk5 want5 || fail "GetSnapshotBlock 5: not the image's block"
sum=$(openssl dgst -sha256 -binary want5 | base64)
[ "$(jq_ '"\(.Checksum) \(.ChecksumAlgorithm) \(.DataLength)"' gsb.json)" = "$sum SHA256 524288" ] ||
	fail "GetSnapshotBlock headers: $(cat gsb.json), want checksum $sum"
# A token of another block, or of the same block of another snapshot, is refused.
if aws ebs get-snapshot-block --snapshot-id $G --block-index 6 --block-token "$tok" x 2> err; then
	fail "a block token served another block"
fi
grep -q ValidationException err || fail "wrong block token: $(cat err)"
aws ebs get-snapshot-block --snapshot-id $I --block-index 5 --block-token "$tok" x 2> err &&
	fail "a block token served another snapshot"
aws_peer_ctl DELETE /_peer/violations > /dev/null

# 5. ListChangedBlocks: the blocks cmp finds different; tokens for the side that has data.
aws ebs list-changed-blocks --first-snapshot-id $G --second-snapshot-id $I > lcb.json ||
	die "list-changed-blocks failed"
jq_ '.ChangedBlocks[].BlockIndex' lcb.json > got.changed
cmp -s got.changed changed.blocks || fail "ListChangedBlocks $(tr '\n' ' ' < got.changed)"
[ "$(jq_ -c '[.ChangedBlocks[] | [.BlockIndex, (.FirstBlockToken != null), (.SecondBlockToken != null)]]' lcb.json)" = \
	'[[5,true,true],[7,false,true],[40,true,false]]' ] || fail "ListChangedBlocks tokens: $(cat lcb.json)"
tok=$(jq_ '.ChangedBlocks[] | select(.BlockIndex == 7) | .SecondBlockToken' lcb.json)
aws ebs get-snapshot-block --snapshot-id $I --block-index 7 --block-token "$tok" blk7 > /dev/null ||
	fail "GetSnapshotBlock with a SecondBlockToken failed"
dd if=inc.raw bs=$BS skip=7 count=1 status=none | cmp -s - blk7 || fail "block 7 of the incident differs"
aws ebs list-changed-blocks --first-snapshot-id $G --second-snapshot-id $U 2> err &&
	fail "ListChangedBlocks across lineages succeeded"
grep -q UNRELATED_SNAPSHOTS .aws-peer.log 2> /dev/null || grep -q ValidationException err ||
	fail "unrelated snapshots: $(cat err)"
aws ebs list-changed-blocks --second-snapshot-id $I | jq -r '.ChangedBlocks[].BlockIndex' > got.all
cmp -s got.all inc.blocks || fail "ListChangedBlocks without a first snapshot: $(tr '\n' ' ' < got.all)"

# 6. Pagination: MaxResults 100 capped to 2 a page, a 512-block scan window: empty pages with a
# NextToken in the holes; the pages together are the blocks, each once.
aws_peer_ctl GET /_peer/health > /dev/null || die "no health"
kill "$AWS_PEER_PID"
wait "$AWS_PEER_PID" 2> /dev/null
jq '. + {"page_cap": 2, "scan_window": 512}' peer.json > paged.json
aws_peer paged.json
: > pages.blocks
next=() empty=0 pages=0
while :; do
	aws ebs list-snapshot-blocks --snapshot-id $G --max-results 100 --no-paginate "${next[@]}" > page.json ||
		die "list-snapshot-blocks page $pages failed"
	pages=$((pages + 1))
	n=$(jq_ '.Blocks | length' page.json)
	[ "$n" -le 2 ] || fail "page of $n blocks, over the cap of 2"
	t=$(jq_ '.NextToken // empty' page.json)
	[ "$n" -eq 0 ] && [ -n "$t" ] && empty=$((empty + 1))
	jq_ '.Blocks[].BlockIndex' page.json >> pages.blocks
	[ -n "$t" ] || break
	next=(--next-token "$t")
	[ $pages -lt 50 ] || die "pagination does not end"
done
cmp -s pages.blocks gold.blocks || fail "paged blocks $(tr '\n' ' ' < pages.blocks)"
[ "$empty" -gt 0 ] || fail "no empty page with a NextToken in $pages pages"
note "pagination: $pages pages, $empty empty with a NextToken"
kill "$AWS_PEER_PID"
wait "$AWS_PEER_PID" 2> /dev/null
aws_peer peer.json

# 7. STS: who am I; AssumeRole with the external id gives working temporary credentials; a
# wrong external id is refused.
[ "$(aws sts get-caller-identity | jq_ .Arn)" = arn:aws:iam::111122223333:user/test ] ||
	fail "GetCallerIdentity"
aws sts assume-role --role-arn arn:aws:iam::111122223333:role/forensics --role-session-name t4000 \
	--external-id case-42 > role.json || die "assume-role failed"
(
	export AWS_ACCESS_KEY_ID=$(jq -r .Credentials.AccessKeyId role.json)
	export AWS_SECRET_ACCESS_KEY=$(jq -r .Credentials.SecretAccessKey role.json)
	export AWS_SESSION_TOKEN=$(jq -r .Credentials.SessionToken role.json)
	[ "$(aws sts get-caller-identity | jq -r .Arn)" = \
		arn:aws:sts::111122223333:assumed-role/forensics/t4000 ] || exit 1
	aws ebs list-snapshot-blocks --snapshot-id $G > /dev/null || exit 2
	# Every temporary key expires now: the next call is refused (ExpiredToken).
	aws_peer_ctl POST /_peer/expire-credentials > /dev/null
	aws ebs list-snapshot-blocks --snapshot-id $G 2> err && exit 3
	grep -q ExpiredTokenException err || exit 4
) || fail "temporary credentials from AssumeRole (step $?)"
aws sts assume-role --role-arn arn:aws:iam::111122223333:role/forensics --role-session-name t4000 \
	--external-id wrong 2> err && fail "AssumeRole with a wrong external id succeeded"
grep -q AccessDenied err || fail "wrong external id: $(cat err)"
n=$(aws_peer_ctl GET /_peer/violations | jq length)
[ "$n" = 1 ] || fail "expired credentials: $n violations recorded, want 1"
aws_peer_ctl DELETE /_peer/violations > /dev/null

# 8. IMDSv2, through awscli's own IMDS credential provider (no other credentials): token first,
# then the role's credentials. Without a token: 401.
(
	unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
	export AWS_EC2_METADATA_DISABLED=false AWS_EC2_METADATA_SERVICE_ENDPOINT=$AWS_PEER_URL/
	$AWS --endpoint-url "$AWS_PEER_URL" sts get-caller-identity --output json
) > imds.json 2> err || fail "awscli with IMDS credentials: $(cat err)"
[ "$(jq_ .Arn imds.json)" = arn:aws:sts::111122223333:assumed-role/deltair-worker/i-0123456789abcdef0 ] ||
	fail "IMDS role: $(cat imds.json)"
[ "$(aws_peer_ctl GET /_peer/counters | jq .imds_credentials)" -ge 1 ] || fail "no IMDS credentials served"
"$AWS_PEER_PY" - "$AWS_PEER_URL" > imds.out 2>&1 << 'EOF' || fail "IMDS: $(cat imds.out)"
import datetime, json, sys, urllib.request, urllib.error
url = sys.argv[1]
def get(path, token=None, method="GET", headers=None):
    r = urllib.request.Request(url + path, method=method, headers=headers or {})
    if token:
        r.add_header("X-aws-ec2-metadata-token", token)
    try:
        with urllib.request.urlopen(r) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
assert get("/latest/meta-data/instance-id")[0] == 401, "no token must be 401"
assert get("/latest/api/token", method="PUT")[0] == 400, "no TTL must be 400"
st, tok = get("/latest/api/token", method="PUT",
              headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
assert st == 200 and tok, st
assert get("/latest/meta-data/instance-id", tok) == (200, "i-0123456789abcdef0")
assert get("/latest/meta-data/placement/availability-zone", tok) == (200, "us-east-1a")
assert get("/latest/meta-data/iam/security-credentials/", tok) == (200, "deltair-worker")
assert get("/latest/user-data", tok) == (200, "#!/bin/sh\n")
assert get("/latest/meta-data/instance-id", "bogus")[0] == 401
st, body = get("/latest/meta-data/iam/security-credentials/deltair-worker", tok)
c = json.loads(body)
assert st == 200 and c["Code"] == "Success" and c["AccessKeyId"].startswith("ASIA"), body
left = (datetime.datetime.strptime(c["Expiration"], "%Y-%m-%dT%H:%M:%SZ") -
        datetime.datetime.utcnow()).total_seconds()
assert 590 < left <= 600, "credentials live %r s, want the configured 600" % left
print("imds ok")
EOF
# The token-less request above is recorded (an IMDSv1 client is a bug of ours).
[ "$(aws_peer_ctl GET /_peer/violations | jq '[.[] | select(.kind == "imds")] | length')" = 1 ] ||
	fail "an IMDSv1 request was not recorded"
aws_peer_ctl DELETE /_peer/violations > /dev/null

# 9. EC2: a volume from the snapshot, attached, found by tag, detached, deleted; none left.
aws ec2 describe-snapshots --snapshot-ids $G | jq -e '.Snapshots[0].VolumeSize == 1' > /dev/null ||
	fail "DescribeSnapshots"
vol=$(aws ec2 create-volume --availability-zone us-east-1a --snapshot-id $G \
	--tag-specifications 'ResourceType=volume,Tags=[{Key=deltair-job,Value=t4000}]' | jq -r .VolumeId)
[[ $vol == vol-* ]] || die "create-volume: $vol"
aws ec2 attach-volume --volume-id "$vol" --instance-id i-0123456789abcdef0 --device /dev/sdf > att.json ||
	fail "attach-volume"
aws ec2 describe-volumes --filters Name=tag:deltair-job,Values=t4000 > dv.json || fail "describe-volumes"
[ "$(jq_ -c '[.Volumes[] | [.VolumeId, .State, .Attachments[0].State]]' dv.json)" = "[[\"$vol\",\"in-use\",\"attached\"]]" ] ||
	fail "describe-volumes: $(cat dv.json)"
aws ec2 create-tags --resources "$vol" --tags Key=case,Value=42 || fail "create-tags"
aws ec2 delete-volume --volume-id "$vol" 2> err && fail "an attached volume was deleted"
grep -q VolumeInUse err || fail "delete of an attached volume: $(cat err)"
aws ec2 detach-volume --volume-id "$vol" > /dev/null || fail "detach-volume"
aws ec2 delete-volume --volume-id "$vol" || fail "delete-volume"
[ "$(aws_peer_ctl GET /_peer/ec2 | jq '.volumes | length')" = 0 ] || fail "a volume was left behind"
aws ec2 describe-images --image-ids ami-0123456789abcdef0 | jq -e '.Images[0].Name == "gold"' > /dev/null ||
	fail "DescribeImages"
aws ec2 describe-volumes --volume-ids vol-0000000000000dead 2> err && fail "a missing volume was found"
grep -q InvalidVolume.NotFound err || fail "missing volume: $(cat err)"
aws_peer_clean

# 10. Negative: a wrong secret, an unknown key (awscli signs them; the peer refuses and records).
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ aws ebs list-snapshot-blocks \
	--snapshot-id $G 2> err && fail "a wrong secret was accepted"
grep -q InvalidSignatureException err || fail "wrong secret: $(cat err)"
AWS_SECRET_ACCESS_KEY=x AWS_ACCESS_KEY_ID=AKIDUNKNOWN aws sts get-caller-identity 2> err &&
	fail "an unknown key was accepted"
grep -q InvalidClientTokenId err || fail "unknown key: $(cat err)"
AWS_SECRET_ACCESS_KEY=x aws ec2 describe-volumes 2> err && fail "EC2: a wrong secret was accepted"
grep -q AuthFailure err || fail "EC2 wrong secret: $(cat err)"
[ "$(aws_peer_ctl GET /_peer/violations | jq '[.[] | select(.kind == "auth")] | length')" = 3 ] ||
	fail "bad signatures not all recorded: $(aws_peer_ctl GET /_peer/violations)"
aws_peer_ctl DELETE /_peer/violations > /dev/null

# Requests signed by botocore, then tampered, or holding input the model rejects (awscli
# itself would refuse to send those).
"$AWS_PEER_PY" - "$AWS_PEER_URL" $G > raw.out 2>&1 << 'EOF' || fail "raw requests: $(cat raw.out)"
import json, sys, http.client, urllib.parse
import botocore.auth, botocore.awsrequest, botocore.credentials
url, snap = sys.argv[1], sys.argv[2]
creds = botocore.credentials.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
host = urllib.parse.urlsplit(url).netloc
def send(method, path, service="ebs", body=b"", headers=None, tamper=None):
    r = botocore.awsrequest.AWSRequest(method=method, url=url + path, data=body,
                                       headers=headers or {})
    botocore.auth.SigV4Auth(creds, service, "us-east-1").add_auth(r)
    p = r.prepare()
    target, hs = p.url[len(url):], dict(p.headers)
    if tamper:
        target, hs, body = tamper(target, hs, body)
    c = http.client.HTTPConnection(host)
    c.request(method, target, body=body, headers=hs)
    resp = c.getresponse()
    return resp.status, resp.getheader("x-amzn-ErrorType"), resp.read()
st, _, _ = send("GET", "/snapshots/%s/blocks?maxResults=100" % snap)
assert st == 200, "a correctly signed request was refused: %d" % st
st, code, _ = send("GET", "/snapshots/%s/blocks?maxResults=100" % snap,
                   tamper=lambda t, h, b: (t.replace("100", "101"), h, b))
assert (st, code) == (403, "InvalidSignatureException"), (st, code)
st, code, _ = send("GET", "/snapshots/%s/blocks" % snap,
                   tamper=lambda t, h, b: (t, dict(h, **{"X-Amz-Date": "20200101T000000Z"}), b))
assert st == 403, st
st, code, body = send("GET", "/snapshots/%s/blocks?maxResults=5" % snap)
assert (st, code) == (400, "ValidationException") and b"MaxResults" in body, (st, code, body)
st, code, body = send("GET", "/snapshots/%s/blocks?colour=blue" % snap)
assert (st, code) == (400, "ValidationException"), (st, code, body)
st, code, body = send("GET", "/snapshots/snap-XYZ/blocks")
assert (st, code) == (400, "ValidationException"), (st, code, body)
def later(d):  # one second on, the same day: only the signature can tell
    return d[:-3] + "%02dZ" % ((int(d[-3:-1]) + 1) % 60)
form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
st, _, body = send("POST", "/", "ec2", b"Action=CreateVolume&Version=2016-11-15&Size=1", form)
assert st == 400 and b"MissingParameter" in body, (st, body)
st, _, body = send("POST", "/", "ec2", b"Action=DescribeVolumes&Version=2016-11-15&Colour=1", form)
assert st == 400 and b"UnknownParameter" in body, (st, body)
st, _, body = send("POST", "/", "sts", b"Action=AssumeRole&Version=2011-06-15&RoleArn="
                   b"arn:aws:iam::111122223333:role/forensics&RoleSessionName=x&DurationSeconds=60",
                   form)
assert st == 400 and b"ValidationError" in body and b"DurationSeconds" in body, (st, body)
st, _, body = send("POST", "/", "sts", b"Action=GetCallerIdentity&Version=2011-06-15", form,
                   tamper=lambda t, h, b: (t, dict(h, **{"X-Amz-Date": later(h["X-Amz-Date"])}), b))
assert st == 403 and b"SignatureDoesNotMatch" in body, (st, body)
print("raw ok")
EOF
n=$(aws_peer_ctl GET /_peer/violations | jq length)
[ "$n" = 9 ] || fail "raw requests: $n violations recorded, want 9: $(aws_peer_ctl GET /_peer/violations)"
aws_peer_ctl DELETE /_peer/violations > /dev/null

# 11. Faults, each seen through awscli's own retries: throttling and 500s are retried to the
# right data; a slow block arrives whole; a connection dropped mid-block is an error in awscli
# (it does not retry a body it has begun to stream), then the block is served; a wrong checksum
# is served as such; an expired token is an error.
aws_peer_ctl DELETE /_peer/counters > /dev/null
tok=$(aws ebs list-snapshot-blocks --snapshot-id $G | jq_ '.Blocks[] | select(.BlockIndex == 5) | .BlockToken')
get5() { aws ebs get-snapshot-block --snapshot-id $G --block-index 5 --block-token "$tok" "$@"; }
for f in '{"kind": "throttle", "count": 2}' '{"kind": "throttle", "status": 503, "count": 1}' \
	'{"kind": "throttle", "status": 429, "count": 1}' '{"kind": "error500", "count": 2}' \
	'{"kind": "slow", "delay": 0.3, "mid_body": true}'; do
	aws_peer_ctl POST /_peer/faults "[$(jq -c '. + {"op": "GetSnapshotBlock"}' <<< "$f")]" > /dev/null
	rm -f got5
	get5 got5 > /dev/null 2> err || fail "fault $f: not retried: $(cat err)"
	cmp -s got5 want5 || fail "fault $f: wrong data"
	[ "$(aws_peer_ctl GET /_peer/faults | jq '.[0].fired')" -ge 1 ] || fail "fault $f did not fire"
done
aws_peer_ctl POST /_peer/faults '[{"op": "GetSnapshotBlock", "kind": "drop"}]' > /dev/null
get5 got5 > /dev/null 2> err && fail "drop: a block cut in half was accepted"
grep -q "262144 read, but total bytes expected is 524288" err || fail "drop: $(cat err)"
get5 got5 > /dev/null || fail "drop: no block after the dropped connection"
cmp -s got5 want5 || fail "drop: wrong data after the dropped connection"
c=$(aws_peer_ctl GET /_peer/counters)
[ "$(jq ".snapshots[\"$G\"].throttled" <<< "$c")" = 4 ] || fail "throttled count: $c"
[ "$(jq ".snapshots[\"$G\"].GetSnapshotBlock" <<< "$c")" -ge 6 ] || fail "served count: $c"
aws_peer_ctl POST /_peer/faults '[{"op": "GetSnapshotBlock", "kind": "bad_checksum"}]' > /dev/null
get5 got5 > gsb.json || fail "bad_checksum: no answer"
[ "$(jq_ .Checksum gsb.json)" != "$sum" ] || fail "bad_checksum: the true checksum was sent"
aws_peer_ctl POST /_peer/faults '[{"op": "GetSnapshotBlock", "kind": "expired_token"}]' > /dev/null
get5 got5 2> err && fail "an expired block token was served"
grep -q "expired" err || fail "expired token: $(cat err)"
aws_peer_ctl POST /_peer/faults '[{"op": "ListSnapshotBlocks", "kind": "empty_page"}]' > /dev/null
aws ebs list-snapshot-blocks --snapshot-id $G --no-paginate > page.json || fail "empty_page"
[ "$(jq -c '[(.Blocks | length), (.NextToken != null)]' page.json)" = "[0,true]" ] ||
	fail "empty_page: $(cat page.json)"
aws_peer_ctl POST /_peer/faults '[]' > /dev/null

# 12. Rate limit: 5 GetSnapshotBlock/s per snapshot; a burst of 30 without retries is throttled
# beyond it, and what was served stays within the bucket (5 at once + 5/s).
aws_peer_ctl POST /_peer/rate '{"GetSnapshotBlock": 5}' > /dev/null
aws_peer_ctl DELETE /_peer/counters > /dev/null
"$AWS_PEER_PY" - "$AWS_PEER_URL" $G "$tok" > rate.out 2>&1 << 'EOF' || fail "rate: $(cat rate.out)"
import sys, time, concurrent.futures
import botocore.session, botocore.config
url, snap, tok = sys.argv[1:]
s = botocore.session.get_session()
cfg = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"},
                             max_pool_connections=8)
ebs = s.create_client("ebs", "us-east-1", endpoint_url=url, config=cfg,
                      aws_access_key_id="AKIDEXAMPLE",
                      aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
def one(_):
    try:
        ebs.get_snapshot_block(SnapshotId=snap, BlockIndex=5, BlockToken=tok)["BlockData"].read()
        return "ok"
    except ebs.exceptions.RequestThrottledException:
        return "throttled"
t0 = time.monotonic()
with concurrent.futures.ThreadPoolExecutor(8) as ex:
    got = list(ex.map(one, range(30)))
dt = time.monotonic() - t0
print(got.count("ok"), got.count("throttled"), "%.3f" % dt)
assert got.count("throttled") > 0, got
assert got.count("ok") <= 5 + 5 * dt + 1, (got.count("ok"), dt)
EOF
c=$(aws_peer_ctl GET /_peer/counters)
read -r ok thr _ < rate.out
[ "$(jq ".snapshots[\"$G\"].throttled" <<< "$c")" = "$thr" ] || fail "rate: throttled counter $c vs $thr"
[ "$(jq ".snapshots[\"$G\"].blocks" <<< "$c")" = "$ok" ] || fail "rate: blocks counter $c vs $ok"
note "rate limit 5/s: $(cat rate.out) (served, throttled, seconds)"
aws_peer_ctl POST /_peer/rate '{}' > /dev/null
aws_peer_clean

# 13. The reverse proxy: SigV4 checked, then forwarded to an upstream (here a stub answering
# SQS ListQueues); a bad signature never reaches it.
"$AWS_PEER_PY" - > up.port 2> up.err << 'EOF' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = (b'<ListQueuesResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">'
                b'<ListQueuesResult><QueueUrl>http://127.0.0.1/1/jobs</QueueUrl></ListQueuesResult>'
                b'<ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></ListQueuesResponse>')
        self.send_response(200)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        sys.stderr.write("upstream %s\n" % self.headers.get("X-Amz-Target", "query"))
        sys.stderr.flush()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
up=$!
at_exit "kill $up"
for i in $(seq 50); do [ -s up.port ] && break; sleep 0.1; done
kill "$AWS_PEER_PID"
wait "$AWS_PEER_PID" 2> /dev/null
aws_peer peer.json --proxy "http://127.0.0.1:$(cat up.port)"
aws sqs list-queues > lq.json 2> err || fail "SQS through the proxy: $(cat err)"
jq -e '.QueueUrls[0] == "http://127.0.0.1/1/jobs"' lq.json > /dev/null || fail "proxy answer: $(cat lq.json)"
AWS_SECRET_ACCESS_KEY=x aws sqs list-queues 2> err && fail "the proxy forwarded a bad signature"
[ "$(grep -c upstream up.err)" = 1 ] || fail "upstream saw $(grep -c upstream up.err) requests, want 1"
# awscli retries SignatureDoesNotMatch (it may be clock skew): one violation per attempt.
[ "$(aws_peer_ctl GET /_peer/violations | jq '[.[] | select(.kind != "auth")] | length')" = 0 ] &&
	[ "$(aws_peer_ctl GET /_peer/violations | jq length)" -ge 1 ] ||
	fail "proxy: bad signature not recorded: $(aws_peer_ctl GET /_peer/violations)"

t_done
