#!/bin/bash
# t1020: a GPT disk with ext4 as partition 1 and FAT32 as partition 2 gives filesystems p1 and
# p2, each with exactly the files that were put in it, hashed right; a bare filesystem image
# gives p0; --offset opens the one filesystem at that byte offset, named p0.
# Oracle: sha256sum and find -printf of the trees copied in (mke2fs -d, mtools mcopy).
. "$TOP/tests/cli/lib.sh"
need mke2fs mkfs.vfat mcopy sgdisk python3

fixture_tree ext
mkext4 ext ext4.img 32M

mkdir -p fat/Sub/Deeper fat/Empty-Dir
printf 'hello fat\n' > 'fat/Long File Name.txt'
: > fat/EMPTY
head -c 2000000 /dev/urandom > fat/Sub/random.bin
head -c 4096 /dev/urandom > fat/Sub/cluster.bin
printf 'deep\n' > fat/Sub/Deeper/x.TXT
printf 'mixed\n' > fat/MixedCase.Ext
# No volume label: its directory entry is not a file (see the report).
truncate -s 40M fat.img
mkfs.vfat -F 32 fat.img > /dev/null || die "mkfs.vfat failed"
mcopy -s -i fat.img fat/* ::/ || die "mcopy failed"

oracle ext p1 > want-p1.jsonl
oracle fat p2 > want-p2.jsonl

mapfile -t offs < <(mkgpt disk.img ext4.img 8300 fat.img 0700)
[ ${#offs[@]} -eq 2 ] || die "mkgpt failed"

dt_ok baseline --no-progress -o disk.dtree disk.img
dt_ok tree export --format jsonl disk.dtree
cp out disk.jsonl

fsnames=$(python3 -c '
import json, sys
print(" ".join(sorted({json.loads(l)["fs"] for l in open(sys.argv[1], "rb")})))' disk.jsonl)
[ "$fsnames" = "p1 p2" ] || fail "filesystems in the export: '$fsnames', want 'p1 p2'"

# ext4 in p1: every entry of the tree (directory sizes aside) plus lost+found.
canon_jsonl --fs p1 < disk.jsonl | canon_drop '^/lost\+found$' > got-p1.jsonl
compare want-p1.jsonl got-p1.jsonl type mode uid gid link sha256 ||
	fail "p1 (ext4) differs from the tree put in it"

# FAT in p2: names, types and content; FAT has no owners or Unix modes to compare.
canon_jsonl --fs p2 < disk.jsonl > got-p2.jsonl
compare want-p2.jsonl got-p2.jsonl type sha256 || fail "p2 (FAT32) differs from the files put in it"

dt_ok tree info disk.dtree
cp out info.txt
grep -q -E '^layout: *gpt' info.txt || fail "tree info layout is not gpt: $(grep layout info.txt)"
grep -q -E '^filesystem: *p1 ext4' info.txt || fail "tree info does not list p1 ext4: $(cat info.txt)"
grep -q -E '^filesystem: *p2 fat' info.txt || fail "tree info does not list p2 fat*: $(cat info.txt)"

# Exports of a disk with several filesystems: bodyfile names start with /pN, hashdeep names
# with pN/ (the path inside the filesystem without its leading slash, after pN/).
dt_ok tree export --format bodyfile disk.dtree
cp out disk.body
dt_ok tree export --format hashdeep disk.dtree
cp out disk.hashdeep
python3 - want-p1.jsonl want-p2.jsonl disk.body disk.hashdeep << 'EOF' || fail "the multi-filesystem exports have wrong names"
import base64, json, re, sys
dec = lambda s: re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), s)
want_body, want_hd = set(), set()
for fs, f in (("p1", sys.argv[1]), ("p2", sys.argv[2])):
    for l in open(f):
        r = json.loads(l)
        p = base64.b64decode(r["p"])
        if p == b"/" or b"\n" in p:
            continue
        want_body.add(b"/" + fs.encode() + p)
        if r["type"] == "file":
            want_hd.add(b"%d,%s,%s%s" % (r["size"], r["sha256"].encode(), fs.encode() + b"/", p[1:]))
got_body = set()
for line in open(sys.argv[3], "rb"):
    if line.startswith(b"#"):
        continue
    name = dec(line.split(b"|")[1])
    name = name.split(b" -> ")[0] if b" -> " in name else name
    if name not in (b"/p1", b"/p2", b"/p1/", b"/p2/") and not name.startswith((b"/p1/lost+found", b"/p1/names/new")):
        got_body.add(name)
got_hd = {l.rstrip(b"\n") for l in open(sys.argv[4], "rb") if not l.startswith((b"%", b"#"))}
bad = 0
for what, w, g in (("bodyfile", want_body, got_body), ("hashdeep", want_hd, got_hd)):
    for x in sorted(w - g)[:5]:
        print("  %s: missing %r" % (what, x)); bad += 1
    for x in sorted(g - w)[:5]:
        print("  %s: extra %r" % (what, x)); bad += 1
sys.exit(1 if bad else 0)
EOF

# A bare filesystem: p0.
dt_ok baseline --no-progress -o fat.dtree fat.img
dt_ok tree export --format jsonl fat.dtree
canon_jsonl < out > got-bare.jsonl
python3 -c '
import json, sys
fs = {json.loads(l)["fs"] for l in open(sys.argv[1])}
sys.exit(0 if fs == {"p0"} else "filesystems %s, want p0" % sorted(fs))' got-bare.jsonl ||
	fail "a bare FAT image is not named p0"
compare <(sed 's/"fs": "p2"/"fs": "p0"/' want-p2.jsonl) got-bare.jsonl fs type sha256 ||
	fail "the bare FAT image differs from the files put in it"

# --offset: only the filesystem at that offset, named p0.
for i in 0 1; do
	want=$([ "$i" -eq 0 ] && echo want-p1.jsonl || echo want-p2.jsonl)
	dt_ok baseline --no-progress --offset "${offs[i]}" -o off$i.dtree disk.img
	dt_ok tree export --format jsonl off$i.dtree
	canon_jsonl < out | canon_drop '^/lost\+found$' > got-off$i.jsonl
	compare <(sed 's/"fs": "p[12]"/"fs": "p0"/' "$want") got-off$i.jsonl fs type sha256 ||
		fail "baseline --offset ${offs[i]} differs from partition $((i + 1))'s files"
done
# An offset where there is no filesystem.
dt baseline --no-progress --offset 512 -o bad.dtree disk.img
expect_rc 3 "baseline --offset 512 (no filesystem there)" && expect_err_line baseline
[ ! -e bad.dtree ] || fail "a failed baseline left bad.dtree"
t_done
