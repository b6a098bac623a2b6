#!/bin/bash
# t1050: exports are read back by the real tools.
#   hashdeep: `hashdeep -a -k EXPORT -r -l *` run in the image mounted read-only says "Audit
#     passed" (hashdeep's audit matches hash, size AND name: a file whose name differs counts
#     as "moved" and fails the audit); a copy with one file changed, removed or added fails.
#   bodyfile: mactime parses every line; its rows (date, macb, name) are exactly those the
#     image's times give, with `|`, `%`, tab and newline in names decoded back.
#   jsonl: every line parses with jq and with Python's json, one per entry.
# Oracle: hashdeep and mactime themselves; find -printf of the mounted image.
. "$TOP/tests/cli/lib.sh"
need mke2fs hashdeep mactime jq python3

fixture_tree tree
# hashdeep's own format has no way to carry a newline in a name: that one file gets its own
# image below.
rm -f "tree/names/new
line"
mkext4 tree ext4.img 32M
t_mount_ro ext4.img mnt
dt_ok baseline --no-progress -o gold.dtree ext4.img

# hashdeep.
dt_ok tree export --format hashdeep gold.dtree
cp out known.txt
head -n 2 known.txt > head.txt
printf '%%%%%%%% HASHDEEP-1.0\n%%%%%%%% size,sha256,filename\n' | cmp -s - head.txt ||
	fail "the hashdeep export does not start with the HASHDEEP-1.0 header: $(cat head.txt)"
audit()
{
	(cd "$1" && hashdeep -o f -c sha256 -a -v -k "$OLDPWD/known.txt" -r -l -- *) > audit.txt 2>&1
}
audit mnt
grep -q '^hashdeep: Audit passed' audit.txt ||
	fail "hashdeep audit of the mounted image with the export did not pass: $(cat audit.txt)"
cp -a mnt copy
audit copy
grep -q '^hashdeep: Audit passed' audit.txt ||
	fail "hashdeep audit of a cp -a copy did not pass: $(cat audit.txt)"
printf 'x' >> copy/data/b4096
audit copy
grep -q '^hashdeep: Audit failed' audit.txt || fail "hashdeep audit passed with a modified file"
cp mnt/data/b4096 copy/data/b4096
audit copy
grep -q '^hashdeep: Audit passed' audit.txt || fail "hashdeep audit of the restored copy did not pass"
rm copy/etc/hostname
audit copy
grep -q '^hashdeep: Audit failed' audit.txt || fail "hashdeep audit passed with a file missing"
cp mnt/etc/hostname copy/etc/hostname
printf 'new\n' > copy/etc/added
audit copy
grep -q '^hashdeep: Audit failed' audit.txt || fail "hashdeep audit passed with a file added"

# A name with a newline: hashdeep lines cannot hold it. Whatever deltair does with it, the
# other lines stay intact (each is size,sha256,name with a 64-hex hash).
mkdir nl
printf 'newline\n' > "nl/new
line"
printf 'plain\n' > nl/plain
mkext4 nl nl.img 4M
dt_ok baseline --no-progress -o nl.dtree nl.img
dt tree export --format hashdeep nl.dtree
[ "$rc" -le 1 ] || fail "tree export --format hashdeep with a newline name exited $rc"
grep -v -E '^(%%%%|##)' out | grep -v -q -E '^[0-9]+,[0-9a-f]{64},.' &&
	fail "the hashdeep export has a broken line: $(grep -v -E '^(%%%%|##)' out | grep -v -E '^[0-9]+,[0-9a-f]{64},.')"
grep -q -E '^6,[0-9a-f]{64},plain$' out || fail "the hashdeep export lost 'plain' beside a newline name"

# bodyfile -> mactime. Expected rows from the mounted image: one per distinct time of an
# entry, with the macb letters of the times equal to it.
dt_ok tree export --format bodyfile gold.dtree
cp out export.body
# (find's %B@ prints -1 here; stat's %W has the birth time.)
(cd mnt && find . -printf '%p\0%y\0%l\0') > types.bin
(cd mnt && find . -exec stat --printf '%n\0%Y\0%X\0%Z\0%W\0' {} +) > times.bin
mactime -b export.body -z UTC -d -y > mactime.csv 2> mactime.err ||
	fail "mactime failed: $(head -c 500 mactime.err)"
[ ! -s mactime.err ] || fail "mactime complained: $(head -c 500 mactime.err)"
python3 - export.body types.bin times.bin mactime.csv << 'EOF' || fail "mactime's timeline differs"
import csv, datetime, io, sys
body = open(sys.argv[1], "rb").read().split(b"\n")
assert body[-1] == b""
bad = 0
for n, line in enumerate(body[:-1], 1):
    if line.startswith(b"#"):
        continue
    f = line.split(b"|")
    if len(f) != 11 or f[0] != b"0" or not all(x.lstrip(b"-").isdigit() for x in f[6:]):
        print("  body line %d is not 11 fields (md5 0): %r" % (n, line[:200])); bad += 1
def path(p):
    return b"/" + p[2:] if p != b"." else b"/"
ty = open(sys.argv[2], "rb").read().split(b"\0")[:-1]
links = {path(ty[i]): ty[i + 2] for i in range(0, len(ty), 3) if ty[i + 1] == b"l"}
meta = open(sys.argv[3], "rb").read().split(b"\0")[:-1]
want = set()
for i in range(0, len(meta), 5):
    p, m, a, c, b = meta[i:i + 5]
    name = path(p)
    times = {}
    for letter, t in zip("macb", (m, a, c, b)):
        s = int(t)
        if s > 0:
            times.setdefault(s, set()).add(letter)
    for s, letters in times.items():
        macb = "".join(x if x in letters else "." for x in "macb")
        date = datetime.datetime.fromtimestamp(s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        want.add((date, macb, name))
got = set()
text = open(sys.argv[4], "rb").read().decode("latin-1")
rows = list(csv.reader(io.StringIO(text, newline="")))
if rows[0][:2] != ["Date", "Size"]:
    print("  mactime header:", rows[0]); bad += 1
for r in rows[1:]:
    name = r[7].encode("latin-1")
    for p, t in links.items():
        if name == p + b" -> " + t:
            name = p
    got.add((r[0], r[2], name))
for x in sorted(want - got)[:20]:
    print("  missing from mactime:", x)
for x in sorted(got - want)[:20]:
    print("  extra in mactime:", x)
bad += len(want ^ got)
sys.exit(1 if bad else 0)
EOF
# mactime cannot print a name with a newline (its output loop matches with "."); check that
# the body line itself holds it, decoded as mactime's tm_split does (%XX -> byte).
dt_ok tree export --format bodyfile nl.dtree
python3 - out << 'EOF' || fail "the body line of the newline name is wrong"
import re, sys
names = []
for line in open(sys.argv[1], "rb"):
    if not line.startswith(b"#"):
        f = line.rstrip(b"\n").split(b"|")
        names.append(re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), f[1]))
sys.exit(0 if sorted(names) == [b"/", b"/lost+found", b"/new\nline", b"/plain"] else "names: %r" % names)
EOF

# jsonl.
dt_ok tree export --format jsonl gold.dtree
cp out export.jsonl
jq -e -c 'select(.event == "file")' export.jsonl > jq.out || fail "jq cannot parse the jsonl export"
[ "$(wc -l < jq.out)" -eq "$(wc -l < export.jsonl)" ] || fail "not every jsonl line is a file event"
n=$(cd mnt && find . | wc -l)
[ "$(wc -l < export.jsonl)" -eq "$n" ] || fail "jsonl has $(wc -l < export.jsonl) lines, the image $n entries"
python3 -c '
import json, sys
for n, line in enumerate(open(sys.argv[1], "rb"), 1):
    if not line.endswith(b"\n"):
        sys.exit("line %d has no newline" % n)
    line.decode("utf-8")
    json.loads(line)
' export.jsonl || fail "Python cannot parse the jsonl export as UTF-8 JSON lines"
t_done
