#!/bin/bash
# t7000: the appliance's runtime layout (image/layout.sh), its systemd units and the first-boot
# script. systemd-analyze verify (the tool that loads them) on every unit, in a root holding
# the layout and this system's own units; the hardening the worker unit promises, read back
# by systemd-analyze security --offline; every key of deltair.conf documented once; the
# packaged config, and one with every key set, read by the real `deltair worker --config`,
# which serves a submitted job from it with the config's values (summary.json's job_spec);
# a bad config refused, naming the line; EC2 user data
# through IMDSv2 (the AWS peer) applied to the config, and hostile user data refused with
# nothing run and nothing changed.
. "$TOP/tests/cli/lib.sh"
need systemd-analyze curl

KEYS=$("$DELTAIR" worker --config-keys) || die "deltair worker --config-keys failed"
UNITS="deltair-worker.service deltair-sweep.service deltair-sweep.timer deltair-firstboot.service
deltair-incident.service"

# 1. The layout, and the units verified in it.
mkdir -p root/usr/lib
ln -s usr/lib root/lib
"$TOP/image/layout.sh" root "$DELTAIR" || die "image/layout.sh failed"
for p in usr/bin/deltair usr/share/deltair/rules usr/share/deltair/artifacts etc/deltair/deltair.conf \
	etc/deltair/deltair.env usr/libexec/deltair/firstboot \
	usr/libexec/deltair/incident lib/systemd/system/deltair-incident.service \
	etc/cloud/cloud.cfg.d/99-deltair.cfg; do
	[ -e "root/$p" ] || fail "the layout lacks /$p"
done
cp -a /usr/lib/systemd/system/. root/usr/lib/systemd/system/
ROOT=$(readlink -f root)
verify() {
	(cd "$ROOT/lib/systemd/system" && systemd-analyze verify --man=no --root="$ROOT" "$@") > verify.out 2>&1
}
verify $UNITS || fail "systemd-analyze verify exited $?: $(cat verify.out)"
[ ! -s verify.out ] || fail "systemd-analyze verify complained: $(cat verify.out)"
# The check sees a bad unit (so that its silence above means something).
cp root/lib/systemd/system/deltair-worker.service worker.orig
sed -i 's/^DeviceAllow=block-sd r$/DeviceAllow=block-sd rq/' root/lib/systemd/system/deltair-worker.service
verify deltair-worker.service
grep -q "Invalid device rights" verify.out || fail "verify did not see a bad DeviceAllow: $(cat verify.out)"
cp worker.orig root/lib/systemd/system/deltair-worker.service
mv root/usr/bin/deltair deltair.moved
verify deltair-worker.service
grep -q "/usr/bin/deltair is not executable" verify.out || fail "verify did not see a missing binary"
mv deltair.moved root/usr/bin/deltair

# 2. The worker's hardening, as systemd reads it.
(cd "$ROOT" && systemd-analyze security --offline=true --root="$ROOT" deltair-worker.service) > security.out 2>&1 ||
	fail "systemd-analyze security failed: $(tail -5 security.out)"
for want in NoNewPrivileges= ProtectSystem= ProtectHome= PrivateTmp= CapabilityBoundingSet=~CAP_SYS_ADMIN \
	User=/DynamicUser= RestrictSUIDSGID= ProtectKernelModules=; do
	line=$(grep -F -- " $want" security.out | head -n 1)
	[ -n "$line" ] || { fail "no '$want' line in systemd-analyze security"; continue; }
	# ✓ or, in the C locale, +: the setting protects.
	case $line in ✓* | +*) ;; *) fail "systemd-analyze security: $line" ;; esac
done
score=$(sed -n 's/.*Overall exposure level for deltair-worker.service: \([0-9.]*\).*/\1/p' security.out)
note "worker unit exposure (systemd-analyze security): $score"
awk -v s="$score" 'BEGIN { exit !(s != "" && s + 0 <= 3.0) }' ||
	fail "worker unit exposure $score, want at most 3.0: $(head -40 security.out)"
grep -q '^CapabilityBoundingSet=CAP_DAC_READ_SEARCH$' root/lib/systemd/system/deltair-worker.service ||
	fail "the worker's capability set is not CAP_DAC_READ_SEARCH alone"
for want in 'ReadWritePaths=/var/spool/deltair /var/lib/deltair /var/cache/deltair' Restart=on-failure \
	MemoryMax= User=deltair; do
	grep -q "^$want" root/lib/systemd/system/deltair-worker.service || fail "the worker unit lacks $want"
done
# A failed deltair-firstboot (refused user data) keeps the worker from starting on the
# configuration it did not apply (docs/operator-guide.md, section 3): systemd starts a unit
# whose Wants= dependency failed, not one whose Requires= (with After=) did.
unit_deps() { sed -n '/^\[Unit\]/,/^\[/s/^'"$1"'=//p' root/lib/systemd/system/deltair-worker.service | tr ' ' '\n'; }
unit_deps Requires | grep -q -x deltair-firstboot.service &&
	unit_deps After | grep -q -x deltair-firstboot.service ||
	fail "the worker unit would start after a failed deltair-firstboot (want Requires= and After=)"

# 3. Every key documented once (a comment block, then "#key = default"); firstboot knows the same.
conf=root/etc/deltair/deltair.conf
python3 - "$conf" $KEYS << 'PY' || fail "deltair.conf does not document every key"
import re, sys
lines = open(sys.argv[1]).read().split("\n")
bad = 0
for k in sys.argv[2:]:
    at = [i for i, l in enumerate(lines) if re.match(r"#?%s =( |$)" % k, l)]
    if len(at) != 1:
        print("  '%s =' appears %d times, want once" % (k, len(at))); bad = 1; continue
    i = at[0] - 1
    while i >= 0 and re.match(r"#?[a-z_]+ =( |$)", lines[i]):
        i -= 1
    if i < 0 or not lines[i].startswith("# "):
        print("  %s has no comment above it" % k); bad = 1
sys.exit(bad)
PY
got=$(grep -o -E '^#?[a-z_]+ =( |$)' "$conf" | tr -d '# =' | sort | paste -sd' ')
[ "$got" = "$(printf '%s\n' $KEYS | sort | paste -sd' ')" ] || fail "deltair.conf keys: $got"

# 4. The config as the worker reads it: the packaged one, and one with every key set, are
# accepted by the real worker (an unknown key would be a usage error, exit 2).
"$AWS_PEER_PY" - "$conf" << 'PY' || fail "the packaged config's values are wrong"
import sys
vals = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line and not line.startswith("#"):
        k, _, v = line.partition("=")
        vals[k.strip()] = v.strip()
want = {"queue": "spool:/var/spool/deltair", "output": "/var/lib/deltair/results",
        "baseline_cache": "/var/cache/deltair/baselines", "work_dir": "/var/lib/deltair/work"}
sys.exit(0 if vals == want else "deltair.conf: %r" % vals)
PY
# The worker reads the packaged config (the command line wins over the four paths it sets).
mkdir -p pspool pwork pcache pres
timeout 60 "$DELTAIR" worker --config "$conf" --queue "spool:$PWD/pspool" --output "$PWD/pres" \
	--work-dir "$PWD/pwork" --baseline-cache "$PWD/pcache" --once > worker.out 2> worker.err
rc=$?
expect_rc 0 "deltair worker --config deltair.conf --once" || head -5 worker.err
mkdir -p spool work cache results
tree=$PWD/tree
mkdir -p "$tree/etc" && printf 'gold\n' > "$tree/etc/motd"
mkext4 "$tree" gold.img 8M
dt_ok baseline --no-progress -o gold.dtree gold.img
cp gold.img incident.img
printf 'implant\n' > "$tree/etc/motd"
# memory_mb 0 (no limit): a sanitizer build's scan cannot start under an address-space limit.
cat > full.conf << CONF
queue = spool:$PWD/spool
output = $PWD/results
baseline = $PWD/gold.dtree
case = IR-7000
region = eu-west-1
read_mode = direct
rules = $TOP/rules, $TOP/rules/miners.yar
artifacts = none
known_good = none
memory_mb = 0
cpu_seconds = 600
wall_seconds = 900
open_files = 1024
concurrency = 2
poll_seconds = 1
lease_seconds = 120
attach_timeout = 60
gold_cache = $PWD/gcache
max_receives = 2
sse = aws:kms
sse_kms_key_id = alias/deltair-results
baseline_cache = $PWD/cache
work_dir = $PWD/work
host = appliance-test
allow_local_evidence = no
CONF
# Every key of the list is in full.conf (so that a key added later is tried here too).
for k in $KEYS; do grep -q "^$k = " full.conf || fail "full.conf does not try key $k"; done
dt_ok submit --queue "spool:$PWD/spool" "$PWD/incident.img"
timeout 120 "$DELTAIR" worker --config full.conf --once > worker.out 2> worker.err
rc=$?
expect_rc 0 "deltair worker --config full.conf --once" || cat worker.err | head -5
ls results/IR-7000/*/COMPLETE > /dev/null 2>&1 || fail "the worker wrote no COMPLETE: $(ls -R results | head; tail -3 worker.err)"
# The job ran with the config's values.
"$AWS_PEER_PY" -c '
import glob, json, os, sys
j = json.load(open(glob.glob("results/IR-7000/*/summary.json")[0]))["job_spec"]
ok = (j.get("limits") == {"cpu_seconds": 600, "wall_seconds": 900, "open_files": 1024}
      and j.get("rules") == [os.environ["TOP"] + "/rules", os.environ["TOP"] + "/rules/miners.yar"]
      and j.get("artifacts") == [] and j.get("known_good") == [] and j["case"] == "IR-7000" and j.get("region") == "eu-west-1"
      and j["baseline"] == os.getcwd() + "/gold.dtree")
sys.exit(0 if ok else "job_spec: %r" % j)' || fail "the job did not get the config's values"
# A bad config is refused by the worker (exit 2), naming the line, before anything runs.
printf 'queue = spool:%s/bspool\nsse_key = AES256\n' "$PWD" > bad.conf
"$DELTAIR" worker --config bad.conf --once 2> wc.err
rc=$?
expect_rc 2 "worker --config with an unknown key"
grep -q "line 2: unknown key 'sse_key'" wc.err || fail "worker --config said: $(cat wc.err)"
[ ! -e bspool ] || fail "the worker opened the queue of a bad config"
printf '# c\n\nconcurrency = two\n' > bad.conf
"$DELTAIR" worker --config bad.conf --once 2> wc.err
rc=$?
expect_rc 2 "worker --config with a bad number"
grep -q "line 3: 'concurrency' is not a whole number: 'two'" wc.err || fail "worker --config said: $(cat wc.err)"
printf 'queue = spool:/x\nconcurrency = 65\n' > bad.conf
"$DELTAIR" worker --config bad.conf --once 2> wc.err
rc=$?
expect_rc 2 "worker --config with concurrency 65"
grep -q "line 2: the value of 'concurrency'" wc.err || fail "worker --config said: $(cat wc.err)"

# 5. User data through IMDSv2, applied to the config and the environment file.
fbs=root/usr/libexec/deltair/firstboot
cp "$conf" conf.orig
cp root/etc/deltair/deltair.env env.orig
cat > ud.txt << 'UD'
# deltair user data
queue = sqs://https://sqs.eu-west-1.amazonaws.com/111122223333/deltair-jobs
output=s3://forensics-evidence/results
  concurrency =	2
read_mode = attach
baseline = s3://forensics-evidence/baselines/ami-0123456789abcdef0.dtree
rules = /usr/share/deltair/rules,/srv/rules
memory_mb = 2048
concurrency = 3
endpoint_url_sqs = http://127.0.0.1:9324
UD
python3 -c 'import json,sys; print(json.dumps({"imds": {"user_data": open("ud.txt").read(), "instance_id": "i-0fedcba9876543210"}}))' > peer.json
aws_peer peer.json
AWS_EC2_METADATA_SERVICE_ENDPOINT=$AWS_PEER_URL/ "$fbs" --conf "$conf" --env root/etc/deltair/deltair.env \
	--done done.txt 2> fb.err || fail "firstboot exited $?: $(cat fb.err)"
python3 - "$conf" << 'PY' || fail "the config after user data is wrong"
import sys
vals = {}
for line in open(sys.argv[1]):
    line = line.strip()
    if line and not line.startswith("#"):
        k, _, v = line.partition("=")
        if k.strip() in vals:
            sys.exit("key %s set twice" % k)
        vals[k.strip()] = v.strip()
want = {"queue": "sqs://https://sqs.eu-west-1.amazonaws.com/111122223333/deltair-jobs",
        "output": "s3://forensics-evidence/results", "concurrency": "3", "read_mode": "attach",
        "baseline": "s3://forensics-evidence/baselines/ami-0123456789abcdef0.dtree",
        "rules": "/usr/share/deltair/rules,/srv/rules", "memory_mb": "2048",
        "baseline_cache": "/var/cache/deltair/baselines", "work_dir": "/var/lib/deltair/work"}
if vals != want:
    sys.exit("config values %r, want %r" % (vals, want))
PY
"$DELTAIR" worker --config "$conf" --check 2> wc.err ||
	fail "deltair worker --check on the config user data made: $(cat wc.err)"
grep -q '^AWS_ENDPOINT_URL_SQS=http://127.0.0.1:9324$' root/etc/deltair/deltair.env ||
	fail "deltair.env lacks the SQS endpoint: $(cat root/etc/deltair/deltair.env)"
grep -q '^instance=i-0fedcba9876543210$' done.txt || fail "done file: $(cat done.txt)"
# The documentation of the config survives (only the user data block is added).
diff <(grep '^#' conf.orig) <(grep '^#' "$conf" | grep -v '^# Set by EC2 user data') > /dev/null ||
	fail "the config's comments changed"
aws_peer_clean
# Every IMDS request carried a token (the peer answers 401 and records one that does not).
grep -q '"status": 401' .aws-peer.log 2> /dev/null && fail "an IMDS request without a token"

# 6. Hostile or malformed user data: refused, nothing run, nothing changed.
cp conf.orig "$conf"
cp env.orig root/etc/deltair/deltair.env
i=0
while IFS= read -r -d '' ud; do
	i=$((i + 1))
	printf '%s' "$ud" > "bad$i.txt"
	rc=0
	"$fbs" --user-data "bad$i.txt" --conf "$conf" --env root/etc/deltair/deltair.env --done "done$i" \
		2> "bad$i.err" || rc=$?
	[ "$rc" = 1 ] || fail "hostile user data $i: exit $rc, want 1: $(cat "bad$i.txt")"
	grep -q refused "bad$i.err" || fail "hostile user data $i: no reason given: $(cat "bad$i.err")"
	cmp -s conf.orig "$conf" || fail "hostile user data $i changed the config"
	cmp -s env.orig root/etc/deltair/deltair.env || fail "hostile user data $i changed the env file"
	[ ! -e "done$i" ] || fail "hostile user data $i wrote the done file"
	[ ! -e pwned ] || fail "hostile user data $i ran something"
done < <(printf '%s\0' \
	"$(printf '#!/bin/sh\ntouch pwned\n')" \
	"$(printf '#cloud-config\nruncmd:\n  - touch pwned\n')" \
	"$(printf 'queue = $(touch pwned)\n')" \
	"$(printf 'queue = `touch pwned`\n')" \
	"$(printf 'output = /tmp/x; touch pwned\n')" \
	"$(printf 'concurrency = 2\nExecStart = /bin/sh\n')" \
	"$(printf 'concurrency = 2\nqueue\n')" \
	"$(printf 'output = a\\\nb\n')" \
	"$(printf 'Content-Type: multipart/mixed; boundary="x"\n')" \
	"$(printf 'queue = caf\303\251\n')")

# 7. No IMDS (nothing listens), and no user data at all: nothing to apply, exit 0, unchanged.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start=$(date +%s)
"$fbs" --imds "http://127.0.0.1:$port/" --conf "$conf" --env root/etc/deltair/deltair.env --done d.none \
	2> none.err || fail "firstboot without IMDS exited $?: $(cat none.err)"
[ $(($(date +%s) - start)) -le 30 ] || fail "firstboot without IMDS took over 30 s"
cmp -s conf.orig "$conf" || fail "firstboot without IMDS changed the config"
"$fbs" --user-data nonexistent --conf "$conf" --done d.none 2> none.err || fail "no user-data file: exit $?"
cmp -s conf.orig "$conf" || fail "firstboot without a user-data file changed the config"
t_done
