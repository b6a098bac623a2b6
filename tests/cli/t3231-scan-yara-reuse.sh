#!/bin/bash
# t3231: one libyara scanner serves the whole scan (issue 14), for changed files and archive
# members alike, so nothing of one file's scan may leak into the next: string counts and
# offsets, "not $x", module data (elf, math), the externals (filename, filepath, extension),
# and a scan cut short by YARA's own time limit. An intruder adds, to a copy of a gold ext4
# image, 40 plain files, a tar.gz of 80 members, and a zip of 40 members holding a tar of 24
# more, in an order where matching and non-matching files alternate (ELF binaries, random
# bytes, empty files, texts with a string 2 or 3 times or at offset 100, a 1.5 MiB text read
# in two blocks, webshells), and one member a rule cannot finish within --timeout 1. The
# oracle: the archives are extracted with tar and unzip, and the yara command runs once per
# file, with the externals of that file (-d), on the plain files, the archives and every
# extracted member. Checked:
#   - the (path, member, rule) triples of deltair's yara events equal the yara command's;
#   - the slow member is said unscanned (timeout), and the members after it are matched.
. "$TOP/tests/cli/lib.sh"
need mke2fs tar zip unzip gzip yara jq

cat > rules.yar << 'EOF'
import "elf"
import "math"
rule count3 { strings: $a = "AAAAB" condition: #a == 3 }
rule needle_at { strings: $n = "NEEDLE-t3231" condition: $n at 100 }
rule needle_any { strings: $n = "NEEDLE-t3231" condition: $n }
rule no_needle { strings: $n = "NEEDLE-t3231" condition: not $n and filesize > 0 }
rule elf_sections { condition: elf.number_of_sections > 10 }
rule high_entropy { condition: filesize > 0 and filesize < 1000000 and math.entropy(0, filesize) > 7.5 }
rule webshell { strings: $a = "eval($_POST" condition: $a }
rule ext_php { condition: extension == ".php" }
rule nested { condition: filepath contains ".tar!" }
rule name_ends_3 { condition: filename matches /_[0-9]*3\./ }
rule slow_loop { condition: filesize == 100000 and for any i in (0..filesize - 1) : (for any k in (0..999) : (uint8(i + k) == 0x41)) }
EOF

mkdir -p gold/srv
t_gold_incident gold 48M
mkdir -p st/plain st/a st/z st/inner
/usr/bin/python3 - st << 'EOF' || die "cannot make the files"
import os, random, shutil, sys
st = sys.argv[1]
rnd = random.Random(3231)
elfs = [p for p in ("/bin/true", "/bin/ls", "/bin/cat", "/bin/echo") if os.path.exists(p)]
def text(n, extra):
    b = bytearray(b"".join(b"line %06d of filler text\n" % i for i in range(n // 25 + 1))[:n])
    for off, s in extra:
        b[off:off + len(s)] = s
    return bytes(b)
def make(d, i):
    k = i % 8
    if k == 0:
        name, data = "t_%d.txt" % i, text(400, [(100, b"NEEDLE-t3231"), (10, b"AAAAB"), (200, b"AAAAB"), (300, b"AAAAB")])
    elif k == 1:
        name, data = "t_%d.txt" % i, text(400, [(10, b"AAAAB"), (300, b"AAAAB")])
    elif k == 2:
        name, data = "e_%d" % i, open(elfs[i % len(elfs)], "rb").read()
    elif k == 3:
        name, data = "r_%d.bin" % i, bytes(rnd.getrandbits(8) for _ in range(3000))
    elif k == 4:
        name, data = "empty_%d.txt" % i, b""
    elif k == 5:
        name, data = "big_%d.log" % i, text(1500000, [(10, b"AAAAB"), (500000, b"AAAAB"),
                                                       (1200000, b"AAAAB"), (1100000, b"NEEDLE-t3231")])
    elif k == 6:
        name, data = "s_%d.php" % i, b'<?php eval($_POST["c%d"]); ?>\n' % i
    else:
        name, data = "n_%d.PHP.txt" % i, text(120, [(50, b"AAAAB")])
    with open(os.path.join(st, d, name), "wb") as f:
        f.write(data)
for i in range(40):
    make("plain", i)
for i in range(80):
    make("a", i)
for i in range(40):
    make("z", 200 + i)
for i in range(24):
    make("inner", 300 + i)
# The one member no rule set can finish within a second: after it, more members follow.
open(os.path.join(st, "a", "slow_050.bin"), "wb").write(bytes(100000))
EOF
(
	set -e
	cd st
	tar -C a --sort=name -czf a.tar.gz .
	tar -C inner --sort=name -cf z/inner.tar .
	(cd z && zip -q -r ../z.zip .)
) || die "cannot make the archives"
cp st/plain/* mnt/srv/
cp st/a.tar.gz st/z.zip mnt/srv/
t_incident_done

# The oracle tree: ORACLE/srv/NAME for the plain files and the archives, ORACLE/srv/NAME!/...
# for what tar and unzip extract from them (inner.tar again, inside z.zip!).
mkdir -p oracle/srv "oracle/srv/a.tar.gz!" "oracle/srv/z.zip!" || die "mkdir"
cp st/plain/* st/a.tar.gz st/z.zip oracle/srv/
tar -xzf st/a.tar.gz -C "oracle/srv/a.tar.gz!" || die "tar -x"
unzip -q st/z.zip -d "oracle/srv/z.zip!" || die "unzip"
mkdir "oracle/srv/z.zip!/inner.tar!" && tar -xf "oracle/srv/z.zip!/inner.tar" -C "oracle/srv/z.zip!/inner.tar!" ||
	die "tar -x inner.tar"
# "PATH MEMBER RULE" (MEMBER "-" for a file of the image) from the yara command, run per
# file with that file's externals: filepath /srv/OUTER!member/path, filename its last name,
# extension its last ".ext" in lower case.
(cd oracle && find . -type f | sort) | while read -r f; do
	p=${f#.}
	fp=$(printf '%s' "$p" | sed 's#!/#!#g')
	name=${fp##*/}
	name=${name##*!}
	ext=""
	case "$name" in ?*.*) ext=.${name##*.} ;; esac
	ext=$(printf '%s' "$ext" | tr 'A-Z' 'a-z')
	yara -a 1 -d "filename=$name" -d "filepath=$fp" -d "extension=$ext" rules.yar "oracle$p" 2> /dev/null |
		while read -r rule _; do
			case "$fp" in
			*!*) printf '%s %s %s\n' "${fp%%!*}" "${fp#*!}" "$rule" ;;
			*) printf '%s - %s\n' "$fp" "$rule" ;;
			esac
		done
done | sort > expected.yara
[ "$(wc -l < expected.yara)" -gt 150 ] || die "the oracle found few matches: $(wc -l < expected.yara)"
yara -a 1 -d filename= -d filepath= -d extension= rules.yar "oracle/srv/a.tar.gz!/slow_050.bin" 2>&1 | grep -q 'timed out' ||
	die "the slow rule is not slow on the member"

dt scan --no-progress --no-artifacts --no-rows -r rules.yar --timeout 1 -b gold.dtree incident.img
expect_rc 1 "scan"
jq -r 'select(.event == "yara") | "\(.path) \(.member // "-") \(.rule)"' out | sort > got.yara
diff expected.yara got.yara > yara.diff ||
	fail "deltair's YARA matches differ from the yara command's (< yara, > deltair): $(head -20 yara.diff)"
jq -c 'select(.event == "error" and .path == "/srv/a.tar.gz" and .member == "slow_050.bin") |
	select(.message | test("YARA did not scan.*time"))' out | grep -q . ||
	fail "the slow member is not said unscanned: $(grep slow_050 out | grep -v '"member"' | head -3)"
# Members after the slow one, in the same archive, were scanned by the same scanner.
grep -q '^/srv/a.tar.gz t_56.txt needle_at$' got.yara || fail "no match after the timed-out member"
jq -c 'select(.event == "summary") | select(.decomp.yara.skipped == 1 and .decomp.bounds_hit == [])' out |
	grep -q . || fail "summary: $(tail -1 out | jq -c .decomp)"
t_done
