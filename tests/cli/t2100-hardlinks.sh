#!/bin/bash
# t2070: one inode has one content: every name of a hard-linked file gets the same class,
# flags and hash in the diff. For each class (appended, modified, metadata, a truncated log)
# and each shape (two names in one folder; three names in three folders; a name added since
# the gold, in folders walked before and after the old name; a name removed since the gold)
# the incident is made by changing the file through one name on a mounted copy of the gold.
# Oracle: sha256sum and stat of every name on the mounted incident; the classes are what
# the test did to each inode.
. "$TOP/tests/cli/lib.sh"
need mke2fs python3 jq sha256sum

classes="appended modified metadata truncated"
mkdir -p g/var/log g/d0 g/d1 g/d2 g/d3/sub g/d9
for c in $classes; do
	if [ "$c" = truncated ]; then
		p=var/log/$c
		ext=.log
	else
		p=d1/$c
		ext=
	fi
	for s in two three added removed; do
		f=g/$p-$s$ext
		if [ "$c" = truncated ]; then
			seq 1 400 | sed 's/^/log line /' > "$f"
		else
			head -c 20000 /dev/urandom > "$f"
		fi
		case $s in
		two) ln "$f" "g/$p-$s-b" ;;
		three)
			ln "$f" "g/d2/$c-$s"
			ln "$f" "g/d3/sub/$c-$s"
			;;
		removed)
			ln "$f" "g/d2/$c-$s"
			ln "$f" "g/d3/$c-$s"
			;;
		esac
	done
done
# The incident: the gold changed through a mount, inode numbers kept.
t_gold_incident g 32M
for c in $classes; do
	if [ "$c" = truncated ]; then
		p=mnt/var/log/$c
		ext=.log
	else
		p=mnt/d1/$c
		ext=
	fi
	for s in two three added removed; do
		f=$p-$s$ext
		case $c in
		appended) printf 'appended by the intruder\n' >> "$f" ;;
		modified) printf 'CHANGED' | dd of="$f" bs=1 seek=100 conv=notrunc status=none ;;
		metadata) chmod 4755 "$f" ;;
		truncated) truncate -s 100 "$f" ;;
		esac
		case $s in
		added)
			# Before the old name in the walk (d0) and after it (d9).
			ln "$f" "mnt/d0/$c-$s-new"
			ln "$f" "mnt/d9/$c-$s-new"
			;;
		removed) rm "mnt/d2/$c-$s" ;;
		esac
	done
done
sync
# Oracle: every name's inode and content hash, read through the kernel.
# (The test's names have no spaces.)
(cd mnt && find . -type f -printf '%P %i\n' | while read -r n i; do
	printf '/%s %s %s\n' "$n" "$i" "$(sha256sum < "$n" | cut -c1-64)"
done) > oracle.txt
_t_umount "$PWD/mnt" || die "umount failed"
[ "$(wc -l < oracle.txt)" -ge 40 ] || die "oracle.txt: $(cat oracle.txt)"

cat > check.py << 'EOF'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
files = {e["path"]: e for e in ev if e.get("event") == "file"}
oracle = {}
for line in open(sys.argv[2]):
    p, ino, sha = line.split()
    oracle[p] = (int(ino), sha)
want_class = {"appended": "appended", "modified": "modified", "metadata": "metadata",
              "truncated": "modified"}
want_flags = {"appended": [], "modified": [],
              "metadata": ["suid_added", "executable", "permissions_widened"],
              "truncated": ["truncated_log"]}
bad = 0
def err(*a):
    global bad
    bad += 1
    print(" ", *a)
for c in sys.argv[3].split():
    first = "/var/log/%s" % c if c == "truncated" else "/d1/%s" % c
    ext = ".log" if c == "truncated" else ""
    for s in ("two", "three", "added", "removed"):
        f = "%s-%s%s" % (first, s, ext)
        names = {"two": [f, "%s-%s-b" % (first, s)],
                 "three": [f, "/d2/%s-%s" % (c, s), "/d3/sub/%s-%s" % (c, s)],
                 "added": [f],
                 "removed": [f, "/d3/%s-%s" % (c, s)]}[s]
        new = ["/d0/%s-%s-new" % (c, s), "/d9/%s-%s-new" % (c, s)] if s == "added" else []
        inode, sha = oracle[f]
        for n in names + new:
            e = files.get(n)
            if e is None:
                err("no event for", n)
                continue
            want = "added" if n in new else want_class[c]
            if e["change"] != want:
                err(n, "is", e["change"], "want", want)
            if e["flags"] != want_flags[c]:
                err(n, "flags", e["flags"], "want", want_flags[c])
            if e["sha256"] != sha or oracle[n][1] != sha:
                err(n, "sha256", e["sha256"], "want", sha)
            if e["inode"] != inode or oracle[n][0] != inode:
                err(n, "inode", e["inode"], "want", inode)
        if s == "removed":
            e = files.get("/d2/%s-%s" % (c, s))
            if e is None or e["change"] != "deleted":
                err("/d2/%s-%s" % (c, s), "is not deleted:", e)
n = sum(1 for e in ev if e.get("event") == "file")
if n != 4 * 11:
    err(n, "file events, want", 4 * 11)
sys.exit(1 if bad else 0)
EOF

dt diff --no-progress -b gold.dtree incident.img
expect_rc 1 "diff of the hard links"
cp out events.jsonl
python3 check.py events.jsonl oracle.txt "$classes" || fail "hard links disagree (image)"

# The same incident through a kernel mount (dir:, content read by the host).
t_mount_ro incident.img ro
dt diff --no-progress -b gold.dtree dir:ro
expect_rc 1 "diff of the hard links through dir:"
cp out events-dir.jsonl
python3 check.py events-dir.jsonl oracle.txt "$classes" || fail "hard links disagree (dir:)"
t_done
