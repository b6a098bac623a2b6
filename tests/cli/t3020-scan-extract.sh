#!/bin/bash
# t3020: deltair scan --extract DIR. Every changed regular file of the incident (added,
# modified, appended, renamed, metadata; not deleted ones) is copied to DIR/files/p1/PATH
# with the bytes it has in the image (checked with sha256sum against a read-only loop mount
# of the incident), listed in DIR/manifest.jsonl, and DIR/COMPLETE is written. Hostile names
# (a newline, non-UTF-8 bytes, '%', names that look like "." and "..") stay inside DIR;
# symlinks in the image (to the host's /etc/passwd, to /tmp) are never followed or
# extracted; symlinks planted inside DIR on the host are not followed either. A name too long
# for the host once encoded is an error event, not a silent gap. A re-run into the same DIR
# gives the same manifest. DIR being a symlink, a file or unwritable: an error before the walk.
. "$TOP/tests/cli/lib.sh"
need mke2fs sgdisk sha256sum jq python3

TOK=t3020tok$$ # in every planted name: find(1) on the host looks for it
EXP=$PWD/expected.jsonl
: > "$EXP"
# expect CHANGE PATH: a regular file that must be extracted (CHANGE "noextract": one whose
# name cannot be a host name, which must be an error event instead).
expect()
{
	python3 -c '
import base64, json, sys
p = sys.argv[2].encode("utf-8", "surrogateescape")
print(json.dumps({"p": base64.b64encode(p).decode(), "change": sys.argv[1]}, sort_keys=True))' \
		"$@" >> "$EXP"
}

(
	set -e
	mkdir -p gold && cd gold
	mkdir -p etc data/sub var/log srv
	printf 'root:x:0:0:root:/root:/bin/bash\n' > etc/passwd
	printf 'host-a\n' > etc/hostname
	for i in $(seq 1 50); do printf 'line %d\n' "$i"; done > var/log/app.log
	head -c 200000 /dev/urandom > data/blob.bin
	printf 'to be moved\n' > data/move-me.txt
	printf 'to be deleted\n' > data/delete-me.txt
	printf 'mode change\n' > data/mode.txt
	printf 'unchanged\n' > data/sub/same.txt
	find . -depth -exec touch -h -d '2021-06-01 12:00:00 UTC' {} +
)
[ $? -eq 0 ] || die "building the gold tree failed"
part_size=$((24 * 1024 * 1024))
mke2fs -q -F -t ext4 -d gold p1.img "$((part_size / 1024))k" > /dev/null || die "mke2fs failed"
off=$(mkgpt gold.img p1.img 8300) || die "mkgpt failed"
rm -f p1.img
dt_ok baseline --no-progress --no-rows -o gold.dtree gold.img

cp --sparse=always gold.img incident.img
t_loop incident.img -o "$off" --sizelimit "$part_size"
t_mount "$LOOP" m
(
	set -e
	cd m
	printf 'host-b\n' > etc/hostname
	expect modified /etc/hostname
	printf 'line 51\n' >> var/log/app.log
	expect appended /var/log/app.log
	head -c 300000 /dev/urandom > "data/big-$TOK.bin"
	expect added "/data/big-$TOK.bin"
	mv data/move-me.txt "srv/moved-$TOK.txt"
	expect renamed "/srv/moved-$TOK.txt"
	rm data/delete-me.txt
	chmod 0600 data/mode.txt
	expect metadata /data/mode.txt
	: > "data/empty-$TOK"
	expect added "/data/empty-$TOK"
	mkdir -p "drop/$TOK/deeper"
	printf 'nested\n' > "drop/$TOK/deeper/nested-$TOK.txt"
	expect added "/drop/$TOK/deeper/nested-$TOK.txt"
	# Hostile names.
	printf 'newline\n' > "drop/new
line-$TOK"
	expect added "/drop/new
line-$TOK"
	n=$(printf 'bad\377\376-%s' "$TOK")
	printf 'not utf-8\n' > "drop/$n"
	expect added "/drop/$n"
	printf 'percent\n' > "drop/100%-$TOK"
	expect added "/drop/100%-$TOK"
	printf 'looks encoded\n' > "drop/%2E%2E-$TOK"
	expect added "/drop/%2E%2E-$TOK"
	printf 'three dots\n' > drop/...
	expect added /drop/...
	printf 'dot dot x\n' > drop/..x
	expect added /drop/..x
	printf 'dot\n' > drop/.hidden
	expect added /drop/.hidden
	# 100 x U+00E9 is 200 bytes here, 600 as %XX: longer than a host name may be.
	n=$(python3 -c 'print("\u00e9" * 100, end="")')
	printf 'long\n' > "drop/$n"
	expect noextract "/drop/$n"
	printf 'slashes\n' > "drop/back\\slash-$TOK"
	expect added "/drop/back\\slash-$TOK"
	# Symlinks out of the image: never followed, never extracted.
	ln -s /etc/passwd "drop/evil-link-$TOK"
	ln -s /tmp "drop/evil-dir-$TOK"
	ln -s ../../../../../../etc/passwd "drop/evil-rel-$TOK"
)
[ $? -eq 0 ] || die "changing the incident failed"
sync
_t_umount "$PWD/m" || die "umount failed"
losetup -d "$LOOP"

# The truth about the image's files: a read-only mount (no journal replay).
t_loop incident.img -r -o "$off" --sizelimit "$part_size"
t_mount "$LOOP" ro ro,noload
RO=$PWD/ro

host_passwd=$(sha256sum < /etc/passwd)
touch marker
sleep 1

# check_extraction DIR EVENTS: every expected file is in DIR with the image's bytes, the
# manifest lists exactly them, COMPLETE exists, nothing else is in DIR/files.
check_extraction()
{
	python3 - "$EXP" "$1" "$2" "$RO" << 'EOF'
import base64, hashlib, json, os, sys
exp_f, d, ev_f, ro = sys.argv[1:]
exp = {base64.b64decode(json.loads(l)["p"]): json.loads(l)["change"] for l in open(exp_f)}
bad = []
def raw(o, k):
    return base64.b64decode(o[k + "_bytes"]) if k + "_bytes" in o else o[k].encode()
ev = [json.loads(l) for l in open(ev_f, "rb")]
noext = {p for p, c in exp.items() if c == "noextract"}
errs = {raw(e, "path") for e in ev if e.get("event") == "error" and
        e.get("message", "").startswith("cannot extract")}
if errs != noext:
    bad.append("cannot-extract errors for %s, want %s" % (sorted(errs), sorted(noext)))
fe = {raw(e, "path"): e for e in ev if e.get("event") == "file"}
for p in noext:
    if fe.get(p, {}).get("change") != "added":
        bad.append("%r has no added file event" % p)
    exp.pop(p)
# The file events agree with the truth: the extracted set is the non-deleted regular files.
fe = {raw(e, "path"): e for e in ev if e.get("event") == "file"}
want = {p: e["change"] for p, e in fe.items()
        if e["type"] == "file" and e["change"] != "deleted" and p not in noext}
if want != exp:
    bad.append("file events %s != truth %s" % (sorted(want.items()), sorted(exp.items())))
if not os.path.isfile(os.path.join(d, "COMPLETE")):
    bad.append("no COMPLETE")
man = [json.loads(l) for l in open(os.path.join(d, "manifest.jsonl"), "rb")]
seen = {}
for m in man:
    p = raw(m, "path")
    if p in seen:
        bad.append("manifest lists %r twice" % p)
    seen[p] = m
    f = m.get("file", "")
    if m.get("fs") != "p1" or not f.startswith("files/p1/") or ".." in f.split("/"):
        bad.append("manifest entry %r" % m)
        continue
    host = os.path.join(d.encode(), f.encode())
    real = os.path.realpath(host)
    if not real.startswith(os.path.realpath(d.encode()) + b"/") or os.path.islink(host):
        bad.append("%r is written outside DIR or as a link: %r" % (p, real))
    img = os.path.join(ro.encode(), p[1:])
    want_sha = hashlib.sha256(open(img, "rb").read()).hexdigest()
    try:
        got = hashlib.sha256(open(host, "rb").read()).hexdigest()
    except OSError as x:
        bad.append("%r: %s" % (p, x))
        continue
    if not (got == want_sha == m.get("sha256")):
        bad.append("%r: copy %s, image %s, manifest %s" % (p, got, want_sha, m.get("sha256")))
    if m.get("size") != os.path.getsize(img) or m.get("change") != exp.get(p):
        bad.append("%r: manifest size/change %r" % (p, m))
    if fe.get(p, {}).get("sha256") != want_sha:
        bad.append("%r: the file event's sha256 is not the image's" % p)
if set(seen) != set(exp):
    bad.append("manifest paths %s, want %s" % (sorted(seen), sorted(exp)))
# Nothing else under files/: only the copies and their folders.
files = set()
for root, dirs, names in os.walk(os.path.join(d.encode(), b"files")):
    for n in names + [x for x in dirs if os.path.islink(os.path.join(root, x))]:
        files.add(os.path.relpath(os.path.join(root, n), d.encode()).decode("utf-8", "surrogateescape"))
extra = files - {m["file"] for m in man}
if extra:
    bad.append("extra files in DIR: %s" % sorted(extra))
s = ev[-1]
if s.get("extracted", {}).get("files") != len(exp):
    bad.append("summary.extracted %s, want %d files" % (s.get("extracted"), len(exp)))
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF
}

# Nothing from the image outside the folder it was extracted to.
check_host()
{
	local hits
	[ "$(sha256sum < /etc/passwd)" = "$host_passwd" ] || fail "the host's /etc/passwd changed"
	hits=$(find / -xdev -path "$PWD/$1" -prune -o -path "$RO" -prune -o -newer marker \
		-name "*$TOK*" -print 2> /dev/null | head -5)
	[ -z "$hits" ] || fail "files from the image outside $1: $hits"
}

dt scan --no-progress --no-rules --no-artifacts --baseline gold.dtree --extract ex -o ev1.jsonl incident.img
expect_rc 1 "scan --extract ex"
check_extraction ex ev1.jsonl || fail "the extraction is wrong"
[ "$(jq -c 'select(.event == "error")' ev1.jsonl | grep -c .)" -eq 1 ] ||
	fail "errors: $(jq -c 'select(.event == "error")' ev1.jsonl)"
check_host ex
grep -c . ex/manifest.jsonl > /dev/null || fail "empty manifest"

# A re-run into the same folder: refused without --force (stale files would mix with new
# ones); with --force the earlier extraction is replaced whole: the same manifest, the same
# files, and nothing stale.
cp ex/manifest.jsonl manifest1.jsonl
dt scan --no-progress --no-rules --no-artifacts --baseline gold.dtree --extract ex -o ev2.jsonl incident.img
expect_rc 2 "scan --extract ex (again, no --force)" && expect_err_line scan
cmp -s manifest1.jsonl ex/manifest.jsonl || fail "a refused re-run changed the manifest"
printf 'stale\n' > ex/files/p1/stale-$TOK
dt scan --no-progress --force --no-rules --no-artifacts --baseline gold.dtree --extract ex -o ev2.jsonl incident.img
expect_rc 1 "scan --force --extract ex (again)"
[ -e ex/files/p1/stale-$TOK ] && fail "--force kept a stale file of the earlier extraction"
cmp -s manifest1.jsonl ex/manifest.jsonl || fail "the re-run wrote another manifest: $(diff manifest1.jsonl ex/manifest.jsonl | head -5)"
check_extraction ex ev2.jsonl || fail "the re-run's extraction is wrong"
[ -z "$(find ex -name '.deltair-tmp*')" ] || fail "temporary files left in ex: $(find ex -name '.deltair-tmp*')"

# Symlinks planted inside DIR on the host (a folder of the layout replaced by a link to a
# host folder, a copy replaced by a link to a host file): --force removes them without
# following them, and nothing is written through them.
mkdir outside
printf 'host file\n' > outside/victim
rm -r ex/files/p1/drop
ln -s "$PWD/outside" ex/files/p1/drop
rm ex/files/p1/etc/hostname
ln -s "$PWD/outside/victim" ex/files/p1/etc/hostname
dt scan --no-progress --force --no-rules --no-artifacts --baseline gold.dtree --extract ex -o ev3.jsonl incident.img
expect_rc 1 "scan --force into a folder with planted links"
[ "$(ls -A outside)" = victim ] || fail "files written through a planted link: $(ls -A outside)"
[ "$(cat outside/victim)" = 'host file' ] || fail "outside/victim was overwritten"
[ -L ex/files/p1/drop ] && fail "the planted folder link is still there"
[ -L ex/files/p1/etc/hostname ] && fail "/etc/hostname's copy is a link"
check_extraction ex ev3.jsonl || fail "the extraction over planted links is wrong"
check_host ex

# DIR is a symlink: refused.
mkdir real-out
ln -s real-out link-out
dt scan --no-progress --no-rules --no-artifacts --baseline gold.dtree --extract link-out -o ev4.jsonl incident.img
[ "$rc" -ge 2 ] || fail "scan --extract to a symlink: exit $rc, want an error"
expect_err_line scan
grep -q 'symbolic link' err || fail "scan --extract to a symlink does not say why: $(cat err)"
[ -z "$(ls -A real-out)" ] || fail "scan --extract wrote through the symlink: $(ls -A real-out)"
[ ! -e ev4.jsonl ] || fail "-o ev4.jsonl was written although the scan failed"

# DIR is a regular file: refused.
printf 'not a folder\n' > plain
dt scan --no-progress --no-rules --no-artifacts --baseline gold.dtree --extract plain -o ev4.jsonl incident.img
[ "$rc" -ge 2 ] || fail "scan --extract to a regular file: exit $rc, want an error"
expect_err_line scan
[ "$(cat plain)" = 'not a folder' ] || fail "scan --extract changed the regular file"
[ ! -e ev4.jsonl ] || fail "-o ev4.jsonl was written although the scan failed"

# DIR on a read-only filesystem (root ignores mode bits, so a read-only tmpfs).
mkdir rofs
t_mount tmpfs rofs ro,size=1m tmpfs
for d in rofs rofs/sub; do
	dt scan --no-progress --no-rules --no-artifacts --baseline gold.dtree --extract "$d" -o ev5.jsonl incident.img
	[ "$rc" -ge 2 ] || fail "scan --extract $d (read-only): exit $rc, want an error"
	expect_err_line scan
	grep -q -i 'read-only' err || fail "scan --extract $d (read-only) does not say why: $(cat err)"
	[ ! -e ev5.jsonl ] || fail "-o ev5.jsonl was written although the scan failed"
done
t_done
