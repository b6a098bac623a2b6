#!/bin/bash
# t7040: goldimage/baseline-ami against the AWS peer: DescribeImages (Debian's awscli, checked
# against botocore's model and SigV4 by the peer) gives the AMI's snapshots, root first;
# each is baselined through ebs://; the root's tree holds exactly what the gold tree holds
# (find + sha256sum oracle) and what a local baseline of the same image holds; the sidecar
# names the AMI, the snapshots, the tool version and each tree's digest (deltair tree info);
# an unknown AMI or an unreadable snapshot writes nothing. The local raw variant (--raw) too.
. "$TOP/tests/cli/lib.sh"
need mke2fs
AWS_CLI=${AWS_CLI:-/usr/bin/aws}
[ -x "$AWS_CLI" ] || skip "no Debian awscli at $AWS_CLI"
export AWS_CLI DELTAIR PYTHONDONTWRITEBYTECODE=1
ba=$TOP/goldimage/baseline-ami

fixture_tree gold
find gold -depth -exec touch -h -d "$FIXTURE_TIME" {} +
mkext4 gold gold.raw 32M
mkdir data && printf 'data volume\n' > data/readme && mkext4 data data.raw 8M
cat > peer.json << 'JSON'
{"snapshots": {"snap-0123456789abcdef0": {"image": "gold.raw"},
               "snap-0123456789abcdef1": {"image": "data.raw"}},
 "images": [{"ImageId": "ami-0123456789abcdef0", "Name": "gold-2026-12", "State": "available",
             "RootDeviceName": "/dev/xvda", "RootDeviceType": "ebs",
             "BlockDeviceMappings": [
               {"DeviceName": "/dev/xvdb", "Ebs": {"SnapshotId": "snap-0123456789abcdef1", "VolumeSize": 1}},
               {"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-0123456789abcdef0", "VolumeSize": 1}},
               {"DeviceName": "/dev/sdc", "VirtualName": "ephemeral0"}]},
            {"ImageId": "ami-0123456789abcdef9", "Name": "broken", "State": "available",
             "RootDeviceName": "/dev/xvda",
             "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"SnapshotId": "snap-0123456789abcdef9"}}]}]}
JSON
aws_peer peer.json
export AWS_ENDPOINT_URL=$AWS_PEER_URL AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=AKIDEXAMPLE \
	AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY AWS_CONFIG_FILE=/dev/null \
	AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true

# 1. The AMI: two trees, root first, and the sidecar last.
"$ba" --output res ami-0123456789abcdef0 > ba.out 2> ba.err || die "baseline-ami exited $?: $(cat ba.err)"
printf 'res/%s\n' ami-0123456789abcdef0.dtree ami-0123456789abcdef0-xvdb.dtree ami-0123456789abcdef0.json |
	cmp -s - ba.out || fail "baseline-ami printed: $(cat ba.out)"
dt_ok tree export --format jsonl res/ami-0123456789abcdef0.dtree
canon_jsonl < out > ami.canon
canon_drop '^/lost\+found$' < ami.canon > ami-nolf.canon
oracle gold > gold.canon
compare gold.canon ami-nolf.canon type mode sha256 link > cmp.out || fail "the AMI's tree differs from the gold tree: $(cat cmp.out)"
dt_ok baseline --no-progress -o local.dtree gold.raw
dt_ok tree export --format jsonl local.dtree
canon_jsonl < out > local.canon
compare local.canon ami.canon type mode uid gid size sha256 inode mtime_ns link > cmp.out ||
	fail "the AMI's tree differs from a local baseline: $(cat cmp.out)"
dt_ok tree export --format jsonl res/ami-0123456789abcdef0-xvdb.dtree
grep -q '"path":"/readme"\|"path": "/readme"' out || fail "the data volume's tree lacks /readme"
for f in ami-0123456789abcdef0 ami-0123456789abcdef0-xvdb; do
	dt_ok tree info "res/$f.dtree"
	awk '$1 == "digest:" { print $2 }' out > "$f.digest"
done
"$DELTAIR" version | awk '{ print $2 }' > version
"$AWS_PEER_PY" - res/ami-0123456789abcdef0.json << 'PY' || fail "the sidecar is wrong: $(cat res/ami-0123456789abcdef0.json)"
import datetime, json, sys
j = json.load(open(sys.argv[1]))
d = lambda f: open(f).read().strip()
want = {"ami": "ami-0123456789abcdef0", "name": "gold-2026-12", "region": "us-east-1",
        "tool_version": d("version"), "tree_digest": d("ami-0123456789abcdef0.digest")}
bad = [k for k, v in want.items() if j.get(k) != v]
s = j.get("snapshots", [])
got = [(x["device"], x["snapshot"], x["dtree"], x["tree_digest"]) for x in s]
exp = [("/dev/xvda", "snap-0123456789abcdef0", "ami-0123456789abcdef0.dtree", d("ami-0123456789abcdef0.digest")),
       ("/dev/xvdb", "snap-0123456789abcdef1", "ami-0123456789abcdef0-xvdb.dtree", d("ami-0123456789abcdef0-xvdb.digest"))]
if got != exp:
    bad.append("snapshots %r" % got)
t = datetime.datetime.strptime(j.get("date", ""), "%Y-%m-%dT%H:%M:%SZ")
if abs((datetime.datetime.utcnow() - t).total_seconds()) > 600:
    bad.append("date")
if bad:
    sys.exit("sidecar: " + ", ".join(bad))
PY
aws_peer_ctl GET /_peer/counters > counters.json
"$AWS_PEER_PY" -c 'import json,sys; c=json.load(open("counters.json")); sys.exit(0 if "snap-0123456789abcdef0" in json.dumps(c) else 1)' ||
	fail "the peer served no block of the root snapshot: $(head -c 500 counters.json)"

# 2. Failures leave nothing: an unknown AMI, a snapshot the peer does not have, a bad id.
rc=0; "$ba" --output none1 ami-0fedcba9876543210 > /dev/null 2> e1 || rc=$?
[ "$rc" = 1 ] || fail "an unknown AMI: exit $rc, want 1"
grep -q 'InvalidAMIID.NotFound' e1 || fail "an unknown AMI: $(cat e1)"
[ ! -e none1 ] || fail "an unknown AMI wrote $(ls none1)"
rc=0; "$ba" --output none2 ami-0123456789abcdef9 > /dev/null 2> e2 || rc=$?
[ "$rc" = 1 ] || fail "a missing snapshot: exit $rc, want 1: $(cat e2)"
[ ! -e none2 ] || fail "a missing snapshot wrote $(ls none2)"
rc=0; "$ba" --output none3 'ami-$(id)' > /dev/null 2> e3 || rc=$?
[ "$rc" = 2 ] || fail "a bad AMI id: exit $rc, want 2"
aws_peer_ctl DELETE /_peer/violations > /dev/null # the unknown snapshot's 404s are expected
aws_peer_clean

# 3. The local raw variant: the same tree as the AMI's root, and its sidecar.
"$ba" --output local --raw gold.raw gold-local > raw.out 2> raw.err || fail "--raw exited $?: $(cat raw.err)"
[ "$(cat raw.out)" = "$(printf 'local/gold-local.dtree\nlocal/gold-local.json')" ] || fail "--raw printed: $(cat raw.out)"
dt_ok tree export --format jsonl local/gold-local.dtree
canon_jsonl < out > raw.canon
compare local.canon raw.canon type mode uid gid size sha256 inode mtime_ns > cmp.out || fail "--raw tree differs: $(cat cmp.out)"
"$AWS_PEER_PY" -c '
import json, sys
j = json.load(open("local/gold-local.json"))
ok = j["name"] == "gold-local" and j["image"].endswith("/gold.raw") and j["snapshots"][0]["device"] == "root"
sys.exit(0 if ok else 1)' || fail "--raw sidecar: $(cat local/gold-local.json)"
t_done
