#!/bin/bash
# t3050: deltair artifacts list|resolve.
#   list: the definitions of the default set (upstream's, from Debian's forensic-artifacts
#     package in /usr/share/artifacts, and the installed artifacts/) and of artifacts/ given
#     with -a, one line each (name, number of globs or group members, first line of doc), as
#     PyYAML reads the files; every upstream file loads (exit 0) and the counts on stderr are
#     those of tests/data/artifacts/counts.py; --all lists every OS.
#   resolve IMAGE: on a small GPT/ext4 image, exactly the entries (and definitions) that the
#     independent matcher tests/data/artifacts/oracle.py gives for the mounted image's paths,
#     with %%users.homedir%% taken from the IMAGE's /etc/passwd, never the host's: a .bashrc
#     in the home of an image user is covered, one in a home only the host's passwd has is not.
. "$TOP/tests/cli/lib.sh"
need mke2fs sgdisk jq python3
python3 -c 'import yaml' 2> /dev/null || skip "PyYAML is not installed"
UPSTREAM=/usr/share/artifacts
[ -f "$UPSTREAM/linux.yaml" ] || skip "the forensic-artifacts package is not installed"
unset DELTAIR_ARTIFACTS_UPSTREAM
COUNTS=$TOP/tests/data/artifacts/counts.py
ORACLE=$TOP/tests/data/artifacts/oracle.py

# expected_list DIR...: NAME<TAB>COUNT<TAB>DOC-LINE of the definitions with a source for
# Linux, from PyYAML (sorted by name, as a C-locale sort).
expected_list()
{
	python3 - "$@" << 'EOF' | sort
import glob, os, sys, yaml
for d in sys.argv[1:]:
    for f in sorted(glob.glob(os.path.join(d, "*.yaml"))):
        for doc in yaml.safe_load_all(open(f)):
            if not doc:
                continue
            dos = doc.get("supported_os") or None
            n, linux = 0, False
            for s in doc["sources"]:
                sos = s.get("supported_os") or dos
                if sos is not None and "Linux" not in sos:
                    continue
                linux = True
                a = s.get("attributes") or {}
                if s["type"] in ("FILE", "PATH", "DIRECTORY"):
                    n += len(a.get("paths", []))
                elif s["type"] == "ARTIFACT_GROUP":
                    n += len(a.get("names", []))
            if linux:
                print("%s\t%d\t%s" % (doc["name"], n, doc["doc"].split("\n")[0]))
EOF
}

# stats_line COUNTS-OUTPUT: the stderr line deltair prints, from counts.py's numbers.
stats_line()
{
	python3 -c '
import sys
c = dict(zip(sys.argv[1::2], sys.argv[2::2]))
print("deltair: artifacts: %s files, %s definitions (%s for Linux); sources skipped: %s of types "
      "deltair does not use, %s for other OSes; %s group members not defined in the loaded files" %
      (c["files"], c["definitions"], c["linux_definitions"], c["sources_skipped_type"],
       c["sources_skipped_os"], c["missing_group_members"]))' $1
}

# --- list: the default set (upstream's and ours), and ours with -a
expected_list "$TOP/artifacts" > want-ours.tsv
[ "$(wc -l < want-ours.tsv)" -gt 20 ] || die "PyYAML found too few definitions in artifacts/"
expected_list "$UPSTREAM" "$TOP/artifacts" > want-default.tsv
export DELTAIR_DATADIR=$TOP
dt artifacts list
unset DELTAIR_DATADIR
expect_rc 0 "artifacts list (default: upstream's and the installed artifacts/)"
sort out > got.tsv
diff want-default.tsv got.tsv > list.diff ||
	fail "artifacts list is not upstream's and artifacts/: $(head -20 list.diff)"
[ "$(cat err)" = "$(stats_line "$(python3 "$COUNTS" "$UPSTREAM" "$TOP/artifacts")")" ] ||
	fail "artifacts list: stderr $(cat err)"
dt artifacts list -a "$TOP/artifacts"
expect_rc 0 "artifacts list -a artifacts/"
sort out | diff want-ours.tsv - > /dev/null || fail "artifacts list -a artifacts/ is not artifacts/"

# --- list: upstream, every file
dt artifacts list --artifacts "$UPSTREAM"
expect_rc 0 "artifacts list --artifacts $UPSTREAM"
want_stats=$(stats_line "$(python3 "$COUNTS" "$UPSTREAM")")
[ "$(cat err)" = "$want_stats" ] || fail "upstream stats: $(cat err); want $want_stats"
nfiles=$(find "$UPSTREAM" -maxdepth 1 -name '*.yaml' | wc -l)
grep -q "artifacts: $nfiles files," err || fail "not all $nfiles upstream files were loaded: $(cat err)"
expected_list "$UPSTREAM" > want-up.tsv
sort out | diff want-up.tsv - > list.diff || fail "artifacts list of upstream: $(head -20 list.diff)"
dt artifacts list --all --artifacts "$UPSTREAM"
expect_rc 0 "artifacts list --all"
ndefs=$(python3 "$COUNTS" "$UPSTREAM" | sed 's/.* definitions \([0-9]*\) .*/\1/')
[ "$(wc -l < out)" -eq "$ndefs" ] || fail "artifacts list --all: $(wc -l < out) lines, want $ndefs"
# Both together: no duplicate names, and our groups' members all resolve.
dt artifacts list -a "$TOP/artifacts" -a "$UPSTREAM"
expect_rc 0 "artifacts list -a artifacts/ -a upstream"
[ "$(cut -f1 out | sort | uniq -d)" = "" ] || fail "duplicate names listed"
want_stats=$(stats_line "$(python3 "$COUNTS" "$TOP/artifacts" "$UPSTREAM")")
[ "$(cat err)" = "$want_stats" ] || fail "ours+upstream stats: $(cat err); want $want_stats"

# --- resolve: a small image
(
	set -e
	mkdir -p img && cd img
	mkdir -p etc/ssh etc/cron.d home/alice/.ssh srv/carol var/log root tmp
	cat > etc/passwd << 'EOF'
root:x:0:0:root:/root:/bin/bash
alice:x:1000:1000:Alice:/home/alice:/bin/bash
carol:x:1001:1001:Carol:/srv/carol:/bin/bash
EOF
	printf 'root:*:19000:0:99999:7:::\n' > etc/shadow
	printf 'root:x:0:\n' > etc/group
	printf 'PermitRootLogin no\n' > etc/ssh/sshd_config
	printf '* * * * * root true\n' > etc/cron.d/job
	printf 'export PS1=a\n' > home/alice/.bashrc
	printf 'ssh-ed25519 AAAA alice\n' > home/alice/.ssh/authorized_keys
	printf 'export PS1=c\n' > srv/carol/.bashrc
	printf 'notes\n' > srv/carol/notes.txt
	printf 'export PS1=r\n' > root/.bashrc
	printf 'log\n' > var/log/syslog
	printf 'log\n' > var/log/auth.log
)
[ $? -eq 0 ] || die "building the image tree failed"
# Homes that only the host's passwd has: a .bashrc there must not be covered.
host_only=()
while IFS=: read -r name _ _ _ _ home _; do
	case $home in
	/ | /root | /home/alice | /srv/carol | /nonexistent | "") continue ;;
	/proc* | /sys* | /dev*) continue ;;
	esac
	[ ${#host_only[@]} -lt 3 ] || break
	mkdir -p "img$home"
	printf 'host user %s\n' "$name" > "img$home/.bashrc"
	host_only+=("$home/.bashrc")
done < /etc/passwd
[ ${#host_only[@]} -gt 0 ] || note "the host has no other home: the host-passwd check is weak"
part_size=$((16 * 1024 * 1024))
mke2fs -q -F -t ext4 -d img p1.img "$((part_size / 1024))k" > /dev/null || die "mke2fs failed"
off=$(mkgpt disk.img p1.img 8300) || die "mkgpt failed"

dt artifacts resolve -a "$TOP/artifacts" -a "$UPSTREAM" --json disk.img
expect_rc 0 "artifacts resolve --json disk.img"
cp out resolve.jsonl
dt artifacts resolve -a "$TOP/artifacts" -a "$UPSTREAM" disk.img
expect_rc 0 "artifacts resolve disk.img"
cp out resolve.tsv

# The oracle: every path of the mounted image, the image's users.
t_loop disk.img -r -o "$off" --sizelimit "$part_size"
t_mount "$LOOP" mnt ro,noload
(cd mnt && find . -mindepth 1 -printf '%y %P\n') |
	sed -e 's/^d /d \//' -e 's/^[^d] /f \//' > paths.txt
users=()
while IFS=: read -r name _ _ _ _ home _; do
	users+=(--user "$name:$home")
done < mnt/etc/passwd
python3 "$ORACLE" "${users[@]}" "$TOP/artifacts" "$UPSTREAM" < paths.txt |
	awk -F '\t' '$2 != ""' | sort > want-resolve.tsv
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o["fs"] != "p1":
        print("fs %s" % o["fs"])
    print(o["path"] + "\t" + " ".join(o["artifacts"]))' resolve.jsonl | sort > got-resolve.tsv
diff want-resolve.tsv got-resolve.tsv > resolve.diff ||
	fail "artifacts resolve differs from the oracle (< oracle, > deltair): $(head -20 resolve.diff)"
# The plain output says the same, FS<TAB>PATH<TAB>NAME,NAME...
awk -F '\t' '{ gsub(",", " ", $3); print $2 "\t" $3 }' resolve.tsv | sort > got-tsv.tsv
diff got-resolve.tsv got-tsv.tsv > /dev/null || fail "resolve and resolve --json disagree"
grep -q -P '^p1\t' resolve.tsv || fail "resolve's plain lines do not start with the filesystem"

# The facts the oracle stands for, spelled out.
has()
{
	jq -s -e --arg p "$1" --arg n "$2" 'any(.[]; .path == $p and (.artifacts | index($n)))' \
		resolve.jsonl > /dev/null
}
has /etc/passwd LinuxPasswdFile || fail "/etc/passwd lacks LinuxPasswdFile"
has /etc/passwd UnixPasswdFile || fail "/etc/passwd lacks UnixPasswdFile"
has /home/alice/.bashrc BashShellConfigurationFile || fail "~alice/.bashrc lacks BashShellConfigurationFile"
has /srv/carol/.bashrc BashShellConfigurationFile || fail "~carol/.bashrc (home /srv/carol) is not covered"
has /home/alice/.ssh/authorized_keys SSHAuthorizedKeysFiles || fail "~alice/.ssh/authorized_keys is not covered"
for p in "${host_only[@]}"; do
	has "$p" BashShellConfigurationFile &&
		fail "$p is covered through the HOST's /etc/passwd"
done
grep -q '"path":"/srv/carol/notes.txt"' resolve.jsonl && fail "/srv/carol/notes.txt should not be covered"

# --offset: the same filesystem without the partition table, as p0.
dt artifacts resolve -a "$TOP/artifacts" -a "$UPSTREAM" --json --offset "$off" disk.img
expect_rc 0 "artifacts resolve --offset"
jq -r '.path' out | sort > off-paths.txt
jq -r '.path' resolve.jsonl | sort | diff - off-paths.txt > /dev/null || fail "resolve --offset covers other paths"
[ "$(jq -r '.fs' out | sort -u)" = p0 ] || fail "resolve --offset: fs is not p0"

# Bad use.
dt artifacts resolve -a "$TOP/artifacts"
expect_rc 2 "artifacts resolve without an image"
dt artifacts frobnicate
expect_rc 2 "artifacts frobnicate"
dt artifacts resolve -a "$TOP/artifacts" -a "$UPSTREAM" no-such.img
[ "$rc" -ge 3 ] || fail "artifacts resolve no-such.img: exit $rc"
expect_err_line artifacts
t_done
