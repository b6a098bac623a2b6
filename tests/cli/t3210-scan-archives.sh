#!/bin/bash
# t3210: deltair scan opens the archives and compressed files of the delta (issue 14). An
# intruder adds, to a copy of a gold ext4 image: a webshell inside a zip upload, an ELF (set-uid)
# inside a tar.gz inside a tar, and archives made by tar, zip, gzip, bzip2, xz, zstd, cpio and
# ar, nested two and four deep. The oracle is the archivers themselves: every archive is
# extracted with tar, unzip, cpio, ar, gzip, bzip2, xz and zstd, recursively, and sha256sum and
# the yara command run on what they extracted. Checked:
#   - the `member` events of regular files (nested path and SHA-256) equal the files the
#     archivers extract, at every depth (with --decomp-depth 4);
#   - the yara events on members equal `yara` run on the extracted members;
#   - the default depth (3) stops the four-deep archive at its bound, named in an `error`
#     event ("bound":"depth") and in the summary's decomp.bounds_hit;
#   - mode, set-uid and executable bits of the ELF member; an encrypted zip member is listed
#     as encrypted and not read; a truncated tar.gz is an error event for that file only;
#   - --extract-members: every member's copy (0600, in 0700 folders) has the SHA-256 of its
#     member event and of the manifest; a member named ../../x (zip slip) stays inside;
#     a tar holding one name twice (tar -r) keeps both copies, each with its own SHA-256;
#     --force replaces such an extraction whole, members/ included;
#   - a gzip'd file that starts with zero blocks (an empty tar to a tar reader) is read as
#     one compressed stream: the webshell behind the zeros is a member and a YARA match;
#   - a member over 16 MiB (spooled to a temporary file) is handed over whole, as the others;
#     with no temporary space for it, an error event names the file and the run goes on;
#   - --no-decompose: no member events, no decomp summary.
. "$TOP/tests/cli/lib.sh"
need mke2fs tar zip unzip gzip bzip2 xz zstd cpio ar yara jq sha256sum

cat > rules.yar << 'EOF'
rule webshell_eval { strings: $a = "eval($_POST" condition: $a }
rule elf_file { condition: uint32(0) == 0x464c457f }
EOF
cat > ext.yar << 'EOF'
rule member_php { condition: extension == ".php" and filename == "shell.php" and filepath contains "!" }
EOF

# has FILTER FILE: jq's FILTER gives something for some line of FILE.
has()
{
	jq -c "$1" "$2" | grep -q .
}

mkdir -p gold/var/www gold/tmp gold/srv
t_gold_incident gold 32M

# The staging area: what the intruder packs.
mkdir -p st/shell st/miner/bin st/deep st/mix/etc st/deb
printf '<?php eval($_POST["c"]); ?>\n' > st/shell/shell.php
cp /bin/true st/miner/bin/xmrig
chmod 4755 st/miner/bin/xmrig
printf 'not an archive\n' > st/mix/etc/readme.txt
cp st/shell/shell.php st/mix/etc/cmd.php
(
	set -e
	cd st
	# A webshell in a zip upload.
	(cd shell && zip -q ../upload.zip shell.php)
	# An ELF in a tar.gz in a tar.
	tar -C miner -czf inner.tar.gz bin
	tar -cf .x.tar inner.tar.gz
	# One of each format.
	tar -C mix -cJf mix.tar.xz etc
	tar -C mix --zstd -cf mix.tar.zst etc
	tar -C mix -cjf mix.tar.bz2 etc
	(cd mix && find etc | cpio -o -H newc --quiet) | gzip > initrd.cpio.gz
	printf '2.0\n' > deb/debian-binary
	tar -C mix -czf deb/control.tar.gz etc
	tar -C miner -cJf deb/data.tar.xz bin
	(cd deb && ar rc ../pkg.deb debian-binary control.tar.gz data.tar.xz)
	bzip2 -c shell/shell.php > shell.php.bz2
	# Two deep: a zip in a zstd'd tar.
	mkdir two && cp upload.zip two/ && tar -C two --zstd -cf two.tar.zst upload.zip
	# Four deep: tar > zip > tar.gz > cpio > shell.php.
	(cd shell && echo shell.php | cpio -o -H newc --quiet > ../deep/l1.cpio)
	tar -C deep -czf l2.tar.gz l1.cpio
	zip -q l3.zip l2.tar.gz
	tar -cf d4.tar l3.zip
	# An encrypted member.
	(cd shell && zip -q -P secret ../locked.zip shell.php)
	# A damaged archive: cut in the middle.
	tar -C mix -czf whole.tar.gz etc
	head -c 100 whole.tar.gz > broken.tar.gz
	# Zip slip: a member that names its way out of any folder it is extracted to.
	/usr/bin/python3 -c '
import io, tarfile
with tarfile.open("slip.tar", "w") as t:
    i = tarfile.TarInfo("../../../slipped.txt")
    i.size = 4
    t.addfile(i, io.BytesIO(b"out\n"))
'
	# One name twice: an update appended with tar -r; tar -x keeps only the last.
	mkdir dup && printf 'first\n' > dup/note.txt && tar -C dup -cf dup.tar note.txt
	printf 'second\n' > dup/note.txt && tar -C dup -rf dup.tar note.txt
	# A member over the 16 MiB kept in memory: spooled to an unnamed temporary file.
	mkdir big && seq 1 2500000 > big/big.txt && tar -C big -czf big.tar.gz big.txt
	# A webshell behind 1024 zero bytes, gzip'd: it reads as an empty tar (a zero block ends
	# a tar); it must be read as the one member of a compressed stream.
	(head -c 1024 /dev/zero && cat shell/shell.php) | gzip > pad.log.gz
) || die "cannot build the archives"

cp st/upload.zip mnt/var/www/upload.zip
cp st/.x.tar mnt/tmp/.x.tar
cp st/mix.tar.xz st/mix.tar.zst st/mix.tar.bz2 st/initrd.cpio.gz st/pkg.deb st/shell.php.bz2 \
	st/two.tar.zst st/d4.tar st/locked.zip st/broken.tar.gz st/slip.tar st/dup.tar \
	st/big.tar.gz st/pad.log.gz mnt/srv/
OUTERS="/var/www/upload.zip /tmp/.x.tar /srv/mix.tar.xz /srv/mix.tar.zst /srv/mix.tar.bz2
	/srv/initrd.cpio.gz /srv/pkg.deb /srv/shell.php.bz2 /srv/two.tar.zst /srv/d4.tar
	/srv/big.tar.gz /srv/pad.log.gz"
t_incident_done

# The oracle: extract FILE into DIR with the archivers, then every archive found inside into
# MEMBER! beside it, recursively.
unpack()
{
	local f=$1 d=$2 b
	b=$(basename "$f")
	mkdir -p "$d"
	case "$b" in
	*.tar.gz | *.tgz) tar -xzf "$f" -C "$d" ;;
	*.tar.xz) tar -xJf "$f" -C "$d" ;;
	*.tar.zst) tar --zstd -xf "$f" -C "$d" ;;
	*.tar.bz2) tar -xjf "$f" -C "$d" ;;
	*.tar) tar -xf "$f" -C "$d" ;;
	*.zip) unzip -q "$f" -d "$d" ;;
	*.cpio.gz) gzip -dc "$f" | (cd "$d" && cpio -id --quiet) ;;
	*.cpio) (cd "$d" && cpio -id --quiet) < "$f" ;;
	*.deb)
		f=$(realpath "$f")
		(cd "$d" && ar x "$f")
		;;
	*.bz2) bzip2 -dc "$f" > "$d/${b%.bz2}" ;;
	*.gz) gzip -dc "$f" > "$d/${b%.gz}" ;;
	*) return 0 ;;
	esac
	local m
	find "$d" -type f | while read -r m; do
		case "$(basename "$m")" in
		*.tar* | *.tgz | *.zip | *.cpio* | *.deb | *.bz2 | *.gz) unpack "$m" "$m!" ;;
		esac
	done
}
# Lines "OUTER MEMBER SHA256" of every regular file the archivers extract.
for o in $OUTERS; do
	unpack "st/$(basename "$o")" "oracle$o!" || die "the archivers cannot unpack $o"
done
(cd oracle && find . -type f -print0 | xargs -0 sha256sum) |
	sed -E 's#^([0-9a-f]{64})  \./#\1 /#; s#!/#!#g' |
	awk '{ h = $1; p = substr($0, 66); i = index(p, "!"); print substr(p, 1, i - 1), substr(p, i + 1), h }' |
	sort > expected.members

# The yara command on what the archivers extracted: "OUTER MEMBER RULE".
yara -r rules.yar oracle |
	sed -E 's#^([^ ]+) oracle/#\1 /#; s#!/#!#g' |
	awk '{ r = $1; p = substr($0, length(r) + 2); i = index(p, "!"); print substr(p, 1, i - 1), substr(p, i + 1), r }' |
	sort > expected.yara
[ -s expected.yara ] || die "the oracle found no YARA match"

dt scan --no-artifacts --no-rows -r rules.yar -r ext.yar --decomp-depth 4 -b gold.dtree incident.img
expect_rc 1 "scan with archives"
cp out deep.jsonl
jq -r 'select(.event == "member" and .type == "file" and .sha256 != null and .path != "/srv/slip.tar" and .path != "/srv/dup.tar") |
	"\(.path) \(.member) \(.sha256)"' deep.jsonl | sort > got.members
diff expected.members got.members > members.diff || fail "members differ from the archivers' (< archivers, > deltair): $(head -20 members.diff)"
jq -r 'select(.event == "yara" and .member != null and .namespace == "rules") | "\(.path) \(.member) \(.rule)"' \
	deep.jsonl | sort > got.yara
diff expected.yara got.yara > yara.diff || fail "YARA on members differs from yara on the extracted members: $(head -20 yara.diff)"

# The done-when cases, by name.
grep -qx '/var/www/upload.zip shell.php webshell_eval' got.yara || fail "the webshell in the zip is not named"
grep -qx '/tmp/.x.tar inner.tar.gz!bin/xmrig elf_file' got.yara || fail "the ELF in the tar.gz in the tar is not named"
grep -qx '/srv/pad.log.gz pad.log webshell_eval' got.yara || fail "the webshell behind zeros is not named"
grep -qx '/srv/d4.tar l3.zip!l2.tar.gz!l1.cpio!shell.php webshell_eval' got.yara ||
	fail "the webshell four deep is not named with --decomp-depth 4"
# Externals per member: the member's own file name and extension, OUTER!member as filepath.
n=$(jq -r 'select(.event == "yara" and .rule == "member_php") | "\(.path) \(.member)"' deep.jsonl | sort -u | grep -c 'shell.php$')
[ "$n" -eq 4 ] || fail "extension/filename/filepath externals not set per member ($n matches)"
has 'select(.event == "yara" and .rule == "member_php" and .member == null)' deep.jsonl &&
	fail "member_php matched an outer file"
# The ELF's metadata.
has 'select(.event == "member" and .member == "inner.tar.gz!bin/xmrig") |
	select(.mode == "4755" and .depth == 2 and (.flags | contains(["setuid", "executable"])))' \
	deep.jsonl || fail "the set-uid ELF member lacks mode, depth or flags"
# Encrypted: listed, flagged, not read.
has 'select(.event == "member" and .path == "/srv/locked.zip" and .member == "shell.php") |
	select((.flags | contains(["encrypted"])) and .sha256 == null)' deep.jsonl ||
	fail "the encrypted member is not flagged encrypted"
has 'select(.event == "summary" and .decomp.encrypted == 1)' deep.jsonl ||
	fail "the summary does not count the encrypted member"
# Damaged: one error event for that file, and the run goes on.
has 'select(.event == "error" and .path == "/srv/broken.tar.gz") | select(.message | test("damaged archive"))' \
	deep.jsonl || fail "the truncated tar.gz is not an error event"
has 'select(.event == "summary" and .decomp.corrupt == 1 and .decomp.bounds_hit == [])' deep.jsonl ||
	fail "summary: corrupt count or bounds wrong at depth 4: $(jq -c 'select(.event == "summary") | .decomp' deep.jsonl)"

# The default depth (3): the four-deep archive stops at its bound, said twice.
dt scan --no-artifacts --no-rows -r rules.yar -b gold.dtree incident.img
expect_rc 1 "scan at the default depth"
has 'select(.event == "error" and .path == "/srv/d4.tar" and .bound == "depth")' out ||
	fail "no error event names bound depth for d4.tar"
has 'select(.event == "summary" and .decomp.bounds_hit == ["depth"] and .decomp.bounds.depth == 1)' out ||
	fail "the summary does not name the depth bound: $(jq -c 'select(.event == "summary") | .decomp' out)"
has 'select(.event == "member" and .member == "l3.zip!l2.tar.gz!l1.cpio")' out ||
	fail "the archive at the depth bound is not listed"
has 'select(.event == "member" and (.member | test("l1.cpio!")))' out &&
	fail "a member deeper than the bound was read"

# --extract-members: the copies, as the member events say, private, never outside DIR.
dt scan --no-artifacts --no-rows --no-rules --decomp-depth 4 -x ex --extract-members \
	-b gold.dtree incident.img
expect_rc 1 "scan --extract-members"
jq -r 'select(.member != null) | "\(.path) \(.member) \(.sha256) \(.file)"' ex/manifest.jsonl | sort > man.txt
jq -r 'select(.event == "member" and .sha256 != null) | "\(.path) \(.member) \(.sha256)"' out | sort > ev.txt
[ "$(cut -d' ' -f1-3 man.txt)" = "$(cat ev.txt)" ] || fail "the manifest's members are not the member events"
[ "$(wc -l < man.txt)" -ge 20 ] || fail "only $(wc -l < man.txt) members extracted"
while read -r p m h f; do
	[ "$(sha256sum < "ex/$f" | cut -c1-64)" = "$h" ] || fail "ex/$f: not the SHA-256 of $p!$m"
	[ "$(stat -c %a "ex/$f")" = 600 ] || fail "ex/$f is not 0600"
done < man.txt
[ -z "$(find ex -type d ! -perm 0700)" ] || fail "folders not 0700: $(find ex -type d ! -perm 0700 | head -3)"
grep -q '"member":"../../../slipped.txt".*"file":"members/p0/srv/slip.tar/%2E./%2E./%2E./slipped.txt"' \
	ex/manifest.jsonl || fail "the zip-slip member is not escaped: $(grep slipped ex/manifest.jsonl)"
[ -z "$(find . -name slipped.txt ! -path './ex/members/*')" ] || fail "a member escaped the folder"
[ "$(awk '$1 == "/srv/dup.tar" && $2 == "note.txt" { print $4 }' man.txt | sort | tr '\n' ' ')" = \
	'members/p0/srv/dup.tar/note.txt members/p0/srv/dup.tar/note.txt%~2 ' ] ||
	fail "the two note.txt of dup.tar are not two copies: $(grep dup.tar man.txt)"
has 'select(.event == "file" and .path == "/tmp/.x.tar")' out || fail "no file event"
grep -q '"file":"files/p0/tmp/.x.tar"' ex/manifest.jsonl || fail "the outer file is not extracted as before"
# --force replaces the extraction whole: no member copy of the last run stays beside the new
# manifest, which lists none.
dt scan --no-artifacts --no-rows --no-rules -x ex --force -b gold.dtree incident.img
expect_rc 1 "scan -x --force over an extraction with members/"
[ ! -e ex/members ] || fail "--force left the last run's members/: $(find ex/members | head -3)"
grep -q '"member"' ex/manifest.jsonl && fail "the new manifest lists members"
[ -e ex/COMPLETE ] || fail "no COMPLETE after --force"
dt scan --no-artifacts --no-rows --no-rules --extract-members -b gold.dtree incident.img
expect_rc 2 "--extract-members without --extract"

# No temporary space for a member over 16 MiB (a 1 MiB tmpfs as TMPDIR): an error event for
# that file, which is not counted as read whole; the other archives are read as before.
t_mount none tiny size=1m tmpfs
TMPDIR=$PWD/tiny dt scan --no-artifacts --no-rows --no-rules -b gold.dtree incident.img
expect_rc 1 "scan with no temporary space"
has 'select(.event == "error" and .path == "/srv/big.tar.gz") |
	select(.message | test("^cannot write a member.s temporary file: No space left"))' out ||
	fail "no error event for the member that did not fit: $(jq -c 'select(.event == "error")' out)"
has 'select(.event == "member" and .path == "/srv/big.tar.gz")' out &&
	fail "a member cut short by the full temporary space was listed"
has 'select(.event == "member" and .member == "inner.tar.gz!bin/xmrig")' out ||
	fail "the other archives were not read"
[ -z "$(ls -A tiny)" ] || fail "a temporary file was left: $(ls -A tiny)"

# --no-decompose: as before issue 14.
dt scan --no-artifacts --no-rows -r rules.yar --no-decompose -b gold.dtree incident.img
expect_rc 1 "scan --no-decompose"
has 'select(.event == "member" or .member != null)' out && fail "--no-decompose still opened archives"
has 'select(.event == "summary" and (has("decomp") | not))' out || fail "--no-decompose: decomp in the summary"
t_done
