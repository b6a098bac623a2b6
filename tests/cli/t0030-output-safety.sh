#!/bin/bash
# t0030: -o never destroys what it should not (issue 8, items 1, 3, 8). For baseline, diff,
# scan and tree export: an existing file that is not a deltair output of the same kind is
# refused (left byte for byte as it was) unless --force; a symbolic link, a block device and
# a folder are refused; a character device (a null node) and a FIFO are written through and
# stay what they are; the evidence being read (same inode, also through a hard link) is
# refused even with --force. Every output path and mount point is checked before the
# evidence is opened: the evidence here is a FIFO nobody writes to, so a command that opened
# it first would hang (timeout's 124). Options a command does not use are refused.
# Oracles: sha256sum, stat(1), the .dtree magic read with head -c, timeout(1).
. "$TOP/tests/cli/lib.sh"
need mke2fs sha256sum stat mkfifo timeout losetup

mkdir -p tree/etc
printf 'root:x:0:0:root:/root:/bin/bash\n' > tree/etc/passwd
printf 'host\n' > tree/etc/hostname
mkext4 tree img 8M
sum_img=$(sha256sum < img)

is_dtree() { [ "$(head -c 6 "$1" | tail -c 5)" = "DTREE" ]; }

# 1. An evidence image given as -o: refused, untouched; --force replaces a copy.
cp img victim.img
dt baseline --no-rows -o victim.img img
expect_rc 2 "baseline -o onto an image" && expect_err_line baseline
grep -q "victim.img" err || fail "the refusal does not name the file: $(cat err)"
[ "$(sha256sum < victim.img)" = "$sum_img" ] || fail "baseline -o changed victim.img"
dt baseline --no-rows --force -o victim.img img
expect_rc 0 "baseline --force -o over a copy"
is_dtree victim.img || fail "--force did not write a .dtree over victim.img"

# The image itself (and a hard link to it): never, even with --force.
ln img hard.img
for o in img hard.img; do
	dt baseline --no-rows --force -o "$o" img
	expect_rc 2 "baseline --force -o $o (the evidence)" && expect_err_line baseline
done
[ "$(sha256sum < img)" = "$sum_img" ] || fail "the evidence image was written"

# An existing .dtree is replaced; an empty file too.
dt_ok baseline --no-rows -o gold.dtree img
dt_ok baseline --no-rows -o gold.dtree img
: > empty.dtree
dt_ok baseline --no-rows -o empty.dtree img
is_dtree empty.dtree || fail "an empty file was not replaced by the .dtree"

# A character device stays one; a FIFO is written through. The device is a private null
# node, never the host's /dev/null (a broken build would replace it for everyone).
mknod -m 666 null c 1 3 || die "mknod failed"
dt_ok baseline --no-rows -o null img
[ -c null ] || fail "baseline -o CHARDEV replaced the device node"
mkfifo pipe
cat pipe > from-pipe &
dt_ok baseline --no-rows -o pipe img
wait
[ -p pipe ] || fail "baseline -o FIFO replaced the FIFO"
is_dtree from-pipe || fail "nothing readable came through the FIFO"

# A symbolic link (even to a .dtree), a folder, a block device: refused.
ln -s gold.dtree link.dtree
dt baseline --no-rows -o link.dtree img
expect_rc 2 "baseline -o symlink" && expect_err_line baseline
[ -L link.dtree ] || fail "the symbolic link was replaced"
mkdir adir
dt baseline --no-rows -o adir img
expect_rc 2 "baseline -o folder" && expect_err_line baseline
cp img blk.img
t_loop blk.img
dt baseline --no-rows --force -o "$LOOP" img
expect_rc 2 "baseline --force -o block device" && expect_err_line baseline
[ -b "$LOOP" ] || fail "the block device node was replaced"

# Standard output (-o -, the default of diff and scan) is held to the same rule: never the
# evidence (the shell's >> appends to it without truncating, 1<> overwrites in place) and
# never a block device (> /dev/sdX does not truncate: the events would overwrite it).
for redir in append rw; do
	cp img ev.img
	rc=0
	if [ $redir = append ]; then
		"$DELTAIR" diff gold.dtree ev.img >> ev.img 2> err || rc=$?
	else
		"$DELTAIR" baseline --no-rows -o - ev.img 1<> ev.img 2> err || rc=$?
	fi
	expect_rc 2 "stdout ($redir) onto the evidence" && expect_err_line "diff|baseline"
	[ "$(sha256sum < ev.img)" = "$sum_img" ] || fail "stdout ($redir) wrote the evidence image"
done
sum_blk=$(sha256sum < "$LOOP")
rc=0
"$DELTAIR" diff gold.dtree img > "$LOOP" 2> err || rc=$?
expect_rc 2 "diff with stdout a block device" && expect_err_line diff
[ "$(sha256sum < "$LOOP")" = "$sum_blk" ] || fail "diff wrote the block device on stdout"

# diff: only JSON Lines is replaced.
printf 'notes of the case\n' > notes.txt
sum_notes=$(sha256sum < notes.txt)
dt diff -o notes.txt gold.dtree gold.dtree
expect_rc 2 "diff -o onto a text file" && expect_err_line diff
[ "$(sha256sum < notes.txt)" = "$sum_notes" ] || fail "diff -o changed notes.txt"
dt diff -o gold.dtree gold.dtree gold.dtree
expect_rc 2 "diff -o onto its own input" && expect_err_line diff
is_dtree gold.dtree || fail "diff -o wrote over its input"
dt_ok diff -o events.jsonl gold.dtree gold.dtree
dt_ok diff -o events.jsonl gold.dtree gold.dtree
dt diff -o gold.dtree --force gold.dtree gold.dtree
expect_rc 2 "diff --force -o onto its own input"
dt diff --force -o notes.txt gold.dtree gold.dtree
expect_rc 0 "diff --force -o onto a text file"
head -1 notes.txt | grep -q '^{"event"' || fail "diff --force did not replace notes.txt"

# tree export: by format.
dt_ok tree export --format hashdeep -o list.hashdeep gold.dtree
dt_ok tree export --format hashdeep -o list.hashdeep gold.dtree
dt_ok tree export --format bodyfile -o body.txt gold.dtree
dt tree export --format hashdeep -o body.txt gold.dtree
expect_rc 2 "tree export hashdeep over a body file" && expect_err_line tree
dt tree export --format jsonl -o list.hashdeep gold.dtree
expect_rc 2 "tree export jsonl over a hashdeep list" && expect_err_line tree
dt tree export --format bodyfile -o gold.dtree --force gold.dtree
expect_rc 2 "tree export over its own input" && expect_err_line tree
is_dtree gold.dtree || fail "tree export wrote over its input"

# scan: bodyfile and JSON Lines by --format.
dt_ok scan --no-rules --no-artifacts -b gold.dtree -o scan.jsonl img
dt scan --no-rules --no-artifacts -b gold.dtree -f bodyfile -o scan.jsonl img
expect_rc 2 "scan -f bodyfile over JSON Lines" && expect_err_line scan
dt scan --no-rules --no-artifacts -b gold.dtree -o img --force img
expect_rc 2 "scan -o onto its evidence" && expect_err_line scan
[ "$(sha256sum < img)" = "$sum_img" ] || fail "scan wrote the evidence image"

# 3. Fail fast: outputs are checked before the evidence is opened. A FIFO with no writer
# blocks whoever opens it: a command that read first would hang until timeout.
mkfifo never
for args in "baseline --no-rows -o nodir/x.dtree never" \
	"diff -o nodir/x.jsonl -b gold.dtree never" \
	"scan --no-rules --no-artifacts -o nodir/x.jsonl -b gold.dtree never" \
	"scan --no-rules --no-artifacts -x notes.txt -b gold.dtree never" \
	"scan --no-rules --no-artifacts -x adir/../tree -b gold.dtree never" \
	"mount never nosuchdir" "mount never notes.txt"; do
	rc=0
	timeout 20 "$DELTAIR" $args > out 2> err < /dev/null || rc=$?
	[ "$rc" -eq 124 ] && {
		fail "deltair $args read the evidence before checking its output"
		continue
	}
	[ "$rc" -ne 0 ] || fail "deltair $args succeeded"
	expect_err_line "${args%% *}"
done
[ -e nodir ] && fail "a failed run created nodir"

# 8. Options a command does not use.
for args in "tree info -o x gold.dtree" "tree info --format jsonl gold.dtree" \
	"tree info --prefix /mnt gold.dtree" "tree export --format jsonl --prefix /mnt gold.dtree" \
	"diff --offset 1048576 gold.dtree gold.dtree" "diff --threads 2 gold.dtree gold.dtree" \
	"artifacts list --json" "artifacts resolve --all img"; do
	dt $args
	expect_rc 2 "deltair $args" || continue
	head -1 err | grep -qE "^deltair: ${args%% *}: [^A-Z]" ||
		fail "deltair $args: not one usage message: $(cat err)"
done
[ -e x ] && fail "tree info -o x wrote x"
t_done
