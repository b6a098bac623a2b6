#!/bin/bash
# t2090: permission bits gained by group or other are flagged permissions_widened (read on
# secrets such as /etc/shadow and private keys; write or execute on anything), ownership
# moving to root is flagged owner_to_root; narrowing, read on ordinary files and chown away
# from root are not flagged.
# Oracle: stat of every file on the mounted incident (the modes and owners really are what
# the test set), and the rule applied by hand per file.
. "$TOP/tests/cli/lib.sh"
need mke2fs python3 jq stat

mkdir -p g/etc/ssh g/etc/sudoers.d g/root/.ssh g/usr/local/bin g/srv
for f in etc/shadow etc/sudoers etc/sudoers.d/admins etc/ssh/ssh_host_ed25519_key \
	etc/ssh/ssh_host_ed25519_key.pub root/.ssh/id_ed25519 etc/motd etc/notes \
	usr/local/bin/tool srv/owned srv/group srv/user srv/narrow; do
	printf 'content of %s\n' "$f" > "g/$f"
done
chmod 0640 g/etc/shadow
chmod 0440 g/etc/sudoers g/etc/sudoers.d/admins
chmod 0600 g/etc/ssh/ssh_host_ed25519_key g/etc/ssh/ssh_host_ed25519_key.pub \
	g/root/.ssh/id_ed25519 g/etc/notes
chmod 0644 g/etc/motd
chmod 0700 g/usr/local/bin/tool g/root
chmod 0755 g/srv
chmod 0664 g/srv/narrow
chown 1000:1000 g/srv/owned g/srv/group
t_gold_incident g 16M
chmod 0644 mnt/etc/shadow                         # other read on a secret
chmod 0444 mnt/etc/sudoers                        # other read on sudo rules
chmod 0460 mnt/etc/sudoers.d/admins               # group write
chmod 0640 mnt/etc/ssh/ssh_host_ed25519_key       # group read on a host key
chmod 0644 mnt/etc/ssh/ssh_host_ed25519_key.pub   # read on a public key: not flagged
chmod 0604 mnt/root/.ssh/id_ed25519               # other read on a user's key
chmod 0664 mnt/etc/motd                           # group write
chmod 0644 mnt/etc/notes                          # read on an ordinary file: not flagged
chmod 0711 mnt/usr/local/bin/tool                 # group and other execute
chmod 0777 mnt/srv                                # write on a folder
chmod 0600 mnt/srv/narrow                         # narrowed: not flagged
chown 0 mnt/srv/owned                             # to root
chgrp 0 mnt/srv/group                             # group to root
chown 1000:1000 mnt/srv/user                      # away from root: not flagged
sync
(cd mnt && find . -printf '/%P %m %U %G\n') > after.txt
_t_umount "$PWD/mnt" || die "umount failed"
if ! grep -q '^/etc/shadow 644 0 0$' after.txt || ! grep -q '^/srv/owned 644 0 1000$' after.txt; then
	die "the incident is not what the test made: $(cat after.txt)"
fi

dt diff --no-progress -b gold.dtree incident.img
expect_rc 1 "diff of widened permissions"
cp out events.jsonl
python3 - events.jsonl after.txt << 'EOF' || fail "permissions_widened / owner_to_root wrong"
import json, sys
ev = {e["path"]: e for e in map(json.loads, open(sys.argv[1])) if e["event"] == "file"}
after = {}
for line in open(sys.argv[2]):
    p, m, u, g = line.split()
    after[p.rstrip("/") or "/"] = (int(m, 8), int(u), int(g))
want = {
    "/etc/shadow": ["permissions_widened"],
    "/etc/sudoers": ["permissions_widened"],
    "/etc/sudoers.d/admins": ["permissions_widened"],
    "/etc/ssh/ssh_host_ed25519_key": ["permissions_widened"],
    "/etc/ssh/ssh_host_ed25519_key.pub": [],
    "/root/.ssh/id_ed25519": ["hidden", "permissions_widened"],
    "/etc/motd": ["permissions_widened"],
    "/etc/notes": [],
    "/usr/local/bin/tool": ["executable", "permissions_widened"],
    "/srv": ["permissions_widened"],
    "/srv/narrow": [],
    "/srv/owned": ["owner_to_root"],
    "/srv/group": ["owner_to_root"],
    "/srv/user": [],
}
bad = 0
for p, flags in want.items():
    e = ev.get(p)
    if e is None:
        print("  no event for", p); bad += 1
        continue
    if e["change"] != "metadata" or e["flags"] != flags:
        print("  %s: %s %s, want metadata %s" % (p, e["change"], e["flags"], flags)); bad += 1
    m, u, g = after[p]
    if int(e["mode"], 8) != m or e["uid"] != u or e["gid"] != g:
        print("  %s: mode/owner %s %s %s, stat says %o %d %d" % (p, e["mode"], e["uid"], e["gid"], m, u, g)); bad += 1
extra = sorted(set(ev) - set(want))
if extra:
    print("  unexpected events:", extra); bad += 1
sys.exit(1 if bad else 0)
EOF
t_done
