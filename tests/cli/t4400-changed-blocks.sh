#!/bin/bash
# t4400: reads proportional to the delta, on raw images (--changed-blocks FILE). A gold ext4
# image is baselined; a copy is compromised through a read-write mount with every change
# class, and one file's data block is then overwritten on the image itself, behind the
# filesystem (no inode, size or time changes: an attacker writing the block device). The
# changed-block list is the image's own: the 4 KiB and 512 KiB blocks in which it differs
# from the gold (as ListChangedBlocks would say).
# - the pruned diff equals the full diff, event for event, with either block size; it reads
#   and hashes less, and reuses the gold's hashes of the other files;
# - the planted file is reported modified (its block is listed);
# - a list that leaves out the planted block misses it: proof that files are really skipped;
# - --trust-metadata misses the plant too, and every file event and the summary say that
#   metadata was trusted;
# - a baseline of format 2.0 (no block-run digests) still loads; nothing is reused, and
#   stderr says so once;
# - a list that is one page of several, or has no BlockSize, is refused (exit 3).
# Oracle: the full diff (t2010 checks it against ground truth), cmp of the two images for the
# list, debugfs's block map for the plant.
. "$TOP/tests/cli/lib.sh"
need mke2fs debugfs dumpe2fs jq python3

# changed_list GOLD INCIDENT BLOCKSIZE [SKIP,...]: the blocks that differ, as JSON, but the
# blocks holding the byte offsets SKIP.
changed_list()
{
	python3 - "$@" << 'EOF'
import json, os, sys
g, i, bs = open(sys.argv[1], "rb"), open(sys.argv[2], "rb"), int(sys.argv[3])
skip = {int(x) // bs for x in sys.argv[4].split(",")} if len(sys.argv) > 4 else set()
size = os.path.getsize(sys.argv[2])
out, idx = [], 0
while idx * bs < size:
    a, b = g.read(bs), i.read(bs)
    if a != b and idx not in skip:
        out.append({"BlockIndex": idx, "FirstBlockToken": "x", "SecondBlockToken": "y"})
    idx += 1
gib = -(-size // (1 << 30))
print(json.dumps({"ChangedBlocks": out, "VolumeSize": gib, "BlockSize": bs,
                  "ExpiryTime": 1.0}))
EOF
}
files() { jq -c 'select(.event == "file")' out | sort; }
summary() { jq -c 'select(.event == "summary")' out; }

mkdir gold
(
	set -e
	cd gold
	mkdir -p etc usr/bin usr/lib var/log srv/old home/user
	for i in $(seq 1 40); do head -c $((i * 3000)) /dev/urandom > usr/lib/lib$i.so; done
	head -c 300000 /dev/urandom > usr/bin/big
	printf 'root:x:0:0:root:/root:/bin/bash\n' > etc/passwd
	printf 'root:x:0:\n' > etc/group
	printf 'welcome\n' > etc/motd
	printf 'data\n' > srv/data.txt
	printf 'old\n' > srv/old/file
	printf 'doc\n' > home/user/doc.txt
	printf 'todelete\n' > home/user/gone.txt
	for i in $(seq 1 200); do printf 'line %d\n' "$i"; done > var/log/syslog
	head -c 20000 /dev/urandom > srv/plant.bin
	chmod 0640 srv/data.txt
)
[ $? -eq 0 ] || die "building the gold tree failed"
t_gold_incident gold 64M
(
	set -e
	cd mnt
	printf 'added\n' > etc/added.conf                     # added
	rm home/user/gone.txt                                 # deleted
	head -c 3000 /dev/urandom > usr/lib/lib1.so           # modified (same size)
	printf 'evil:x:0:\n' >> etc/group                     # appended
	printf 'line 201\n' >> var/log/syslog                 # appended
	mv home/user/doc.txt srv/doc-moved.txt                # renamed
	chmod 0644 srv/data.txt                               # metadata
	rm etc/motd && mkdir etc/motd                         # type
	rm -r srv/old                                         # deleted dir
	cp /bin/true usr/bin/dropper && chmod 4755 usr/bin/dropper
)
[ $? -eq 0 ] || die "the compromise failed"
# The plant: two bytes of srv/plant.bin's first block, written onto the image.
t_plant incident.img /srv/plant.bin
bs=$(dumpe2fs -h incident.img 2> /dev/null | awk -F': *' '/^Block size/ {print $2}')
cmp -s <(debugfs -R 'stat /srv/plant.bin' gold.img 2> /dev/null | grep -v -i time) \
	<(debugfs -R 'stat /srv/plant.bin' incident.img 2> /dev/null | grep -v -i time) ||
	die "the plant changed the inode"

changed_list gold.img incident.img 4096 > cb4k.json
changed_list gold.img incident.img 524288 > cb512k.json
# Every block of the planted file, so that it is in no listed block.
pblocks=$(debugfs -R 'blocks /srv/plant.bin' incident.img 2> /dev/null | tr -s ' ' '\n' |
	awk -v bs="$bs" 'NF {printf "%s%d", sep, $1 * bs; sep = ","}')
[ -n "$pblocks" ] || die "no blocks of /srv/plant.bin"
changed_list gold.img incident.img 4096 "$pblocks" > cb-noplant.json
n4=$(jq '.ChangedBlocks | length' cb4k.json)
note "changed 4 KiB blocks: $n4 of $(($(stat -c %s incident.img) / 4096))"

# The baseline's block-run digests (.dtree 2.1, tag 4) as docs/dtree-format.md defines them,
# read by the page's own Python reader and recomputed from debugfs's block lists.
python3 - "$TOP/docs/dtree-format.md" gold.dtree gold.img "$bs" << 'EOF' || fail "the block-run digests are not the documented ones"
import hashlib, io, contextlib, struct, subprocess, sys
doc = open(sys.argv[1]).read()
code = doc[doc.index("```python", doc.index("## An independent reader")) + 9:]
code = code[:code.index("```")]
img, bs = sys.argv[3], int(sys.argv[4])
sys.argv = [sys.argv[0], sys.argv[2]]
g = {}
with contextlib.redirect_stdout(io.StringIO()):
    exec(code, g)
byname = {e["path"]: e for e in g["ents"] if not e["deleted"]}
bad = seen = 0
for p in (b"/usr/bin/big", b"/usr/lib/lib40.so", b"/usr/lib/lib7.so", b"/srv/plant.bin"):
    e = byname[p]
    out = subprocess.run(["debugfs", "-R", "blocks " + p.decode(), img],
                         capture_output=True, text=True).stdout.split()
    runs = []
    for i, b in enumerate(int(x) for x in out):
        if runs and runs[-1][1] + runs[-1][2] == b * bs:
            runs[-1][2] += bs
        else:
            runs.append([i * bs, b * bs, bs])
    runs[-1][2] = e["size"] - runs[-1][0]
    d = hashlib.sha256(struct.pack("<Q", e["size"]) +
                       b"".join(struct.pack("<QQQ", *r) for r in runs)).digest()
    seen += 1
    if e.get("runs") != d:
        print("  %s: runs %s, digest %s, the tree's %s" % (p, runs, d.hex(), (e.get("runs") or b"").hex()))
        bad += 1
nd = sum(1 for e in byname.values() if e.get("runs"))
nreg = sum(1 for e in byname.values() if e["type"] == 1)
if nd != nreg:
    print("  %d digests for %d regular files" % (nd, nreg))
    bad += 1
sys.exit(1 if bad or not seen else 0)
EOF

# The full diff: the reference.
dt diff --no-progress --baseline gold.dtree incident.img
expect_rc 1 "full diff"
files > full.jsonl
summary > full.sum
grep -q '"path":"/srv/plant.bin"' full.jsonl || fail "the full diff misses the plant"
for c in added deleted modified appended renamed metadata type; do
	grep -q "\"change\":\"$c\"" full.jsonl || fail "the full diff has no $c change"
done
[ "$(jq .files_reused full.sum)" = 0 ] || fail "a full diff reused hashes: $(cat full.sum)"
[ "$(jq .metadata_trusted full.sum)" = false ] || fail "full diff: metadata_trusted"
[ "$(jq -c .changed_blocks full.sum)" = null ] || fail "full diff: changed_blocks not null"

for list in cb4k.json cb512k.json; do
	dt diff --no-progress --baseline gold.dtree --changed-blocks $list incident.img
	expect_rc 1 "diff --changed-blocks $list"
	files > pruned.jsonl
	summary > pruned.sum
	cmp -s full.jsonl pruned.jsonl ||
		fail "$list: the pruned diff differs from the full diff: $(diff full.jsonl pruned.jsonl | head -6)"
	jq -e '.changed_blocks.pruned == true and .changed_blocks.blocks > 0' pruned.sum > /dev/null ||
		fail "$list: summary changed_blocks: $(jq -c .changed_blocks pruned.sum)"
	[ "$(jq .bytes_hashed pruned.sum)" -lt "$(jq .bytes_hashed full.sum)" ] ||
		fail "$list: hashed $(jq .bytes_hashed pruned.sum) bytes, no fewer than the full diff's $(jq .bytes_hashed full.sum)"
	[ "$(jq .bytes_read pruned.sum)" -lt "$(jq .bytes_read full.sum)" ] ||
		fail "$list: read no fewer bytes than the full diff"
	[ "$(jq .files_reused pruned.sum)" -gt 0 ] || fail "$list: no hash reused"
	# What was not read was reused: the two add up to the full diff's bytes.
	[ $(($(jq '.bytes_hashed + .bytes_reused' pruned.sum))) -eq "$(jq .bytes_hashed full.sum)" ] ||
		fail "$list: hashed + reused != the full diff's hashed: $(cat pruned.sum)"
done
[ "$(jq .files_reused pruned.sum)" -le "$(jq .files_reused <(dt diff --no-progress --baseline gold.dtree --changed-blocks cb4k.json incident.img; summary))" ] ||
	fail "512 KiB blocks reused more than 4 KiB ones"

# A list without the plant's block: the plant is missed (files really are skipped).
dt diff --no-progress --baseline gold.dtree --changed-blocks cb-noplant.json incident.img
files > noplant.jsonl
grep -q '"path":"/srv/plant.bin"' noplant.jsonl &&
	fail "a list without the plant's block still found it: nothing is skipped"

# --trust-metadata: the plant's inode, size and times are the gold's: missed, and said.
dt diff --no-progress --baseline gold.dtree --trust-metadata incident.img
expect_rc 1 "diff --trust-metadata"
files > trusted.jsonl
grep -q '"path":"/srv/plant.bin"' trusted.jsonl &&
	fail "--trust-metadata found the plant: metadata was not trusted"
[ "$(jq -s 'map(select(.metadata_trusted != true)) | length' trusted.jsonl)" = 0 ] ||
	fail "a file event of a --trust-metadata run does not say metadata_trusted"
jq -e '.metadata_trusted == true and .files_reused > 0' <(summary) > /dev/null ||
	fail "--trust-metadata summary: $(summary)"
# ... and what it did find is what the full diff found, but the plant.
grep -v '"path":"/srv/plant.bin"' full.jsonl | jq -c 'del(.metadata_trusted)' | sort > full-np.jsonl
jq -c 'del(.metadata_trusted)' trusted.jsonl | sort > trusted-np.jsonl
cmp -s full-np.jsonl trusted-np.jsonl ||
	fail "--trust-metadata differs from the full diff beyond the plant: $(diff full-np.jsonl trusted-np.jsonl | head -6)"

# A format 2.0 baseline: no digests. It loads, the diff is the full one, said once.
python3 - gold.dtree old.dtree << 'EOF' || die "cannot write a 2.0 tree"
import hashlib, struct, sys, zlib
d = open(sys.argv[1], "rb").read()
hl = struct.unpack_from("<I", d, 12)[0]
zl = struct.unpack_from("<Q", d, 16 + hl)[0]
raw = zlib.decompress(d[32 + hl:32 + hl + zl])
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1; v |= (c & 0x7f) << s; s += 7
        if c < 0x80: return v, i
out, i = b"", 0
def enc(v):
    o = b""
    while True:
        if v < 0x80: return o + bytes([v])
        o += bytes([v & 0x7f | 0x80]); v >>= 7
while i < len(raw):
    tag, j = varint(raw, i); ln, j = varint(raw, j)
    if tag != 4: out += enc(tag) + enc(ln) + raw[j:j + ln]
    i = j + ln
assert len(out) < len(raw), "the 2.1 tree has no block-run section"
z = zlib.compress(out, 6)
body = d[:8] + struct.pack("<HH", 2, 0) + d[12:16 + hl] + struct.pack("<QQ", len(z), len(out)) + z + b"DTREEEND"
open(sys.argv[2], "wb").write(body + hashlib.sha256(body).digest())
EOF
dt diff --no-progress --baseline old.dtree --changed-blocks cb4k.json incident.img
expect_rc 1 "diff with a 2.0 baseline"
files > old.jsonl
cmp -s full.jsonl old.jsonl || fail "a 2.0 baseline gives another diff: $(diff full.jsonl old.jsonl | head -4)"
[ "$(grep -c 'records no block runs' err)" = 1 ] || fail "the 2.0 baseline is not said once: $(cat err)"
jq -e '.files_reused == 0 and .changed_blocks.pruned == false' <(summary) > /dev/null ||
	fail "a 2.0 baseline reused hashes: $(summary)"

# Bad lists and misuse.
jq '. + {"NextToken": "more"}' cb4k.json > paged.json
dt diff --no-progress --baseline gold.dtree --changed-blocks paged.json incident.img
expect_rc 3 "a list with a NextToken" && expect_err_line diff
grep -q 'one page of several' err || fail "NextToken refusal does not say why: $(cat err)"
jq 'del(.BlockSize)' cb4k.json > nobs.json
dt diff --no-progress --baseline gold.dtree --changed-blocks nobs.json incident.img
expect_rc 3 "a list without BlockSize"
jq '.VolumeSize = 1 | .ChangedBlocks += [{"BlockIndex": 999999999}]' cb4k.json > far.json
dt diff --no-progress --baseline gold.dtree --changed-blocks far.json incident.img
expect_rc 3 "a block index beyond the volume"
dt diff --no-progress --baseline gold.dtree --changed-since snap-0123456789abcdef0 incident.img
expect_rc 2 "--changed-since on a raw image"
dt diff --no-progress --baseline gold.dtree --changed-blocks cb4k.json --trust-metadata incident.img
expect_rc 2 "--changed-blocks with --trust-metadata"
dt baseline --no-progress -o x.dtree --changed-blocks cb4k.json incident.img
expect_rc 2 "baseline --changed-blocks"
[ ! -e x.dtree ] || fail "a refused baseline wrote its output"
dt diff gold.dtree old.dtree --changed-blocks cb4k.json
expect_rc 2 "--changed-blocks between two trees"

# scan takes the same list: its file events are the pruned diff's.
dt scan --no-progress --no-rules --no-artifacts --baseline gold.dtree --changed-blocks cb4k.json incident.img
expect_rc 1 "scan --changed-blocks"
files | jq -c 'del(.artifacts)' | sort > scan.jsonl
jq -c 'del(.artifacts)' full.jsonl | sort > full-noart.jsonl
cmp -s full-noart.jsonl scan.jsonl || fail "scan --changed-blocks differs from the full diff: $(diff full-noart.jsonl scan.jsonl | head -4)"
t_done
