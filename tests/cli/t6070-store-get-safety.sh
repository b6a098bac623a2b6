#!/bin/bash
# t6070: `deltair store` on a folder store, and what `store get` may write (outfile.h's one
# rule, checked before anything is fetched). put/get round-trips by sha256sum; get into a new
# file makes it 0600; an existing file that is not empty (an evidence image here) is refused
# and left byte for byte as it was, unless --force; a symbolic link, a block device and a
# folder are refused; no temporary file is left beside the refused target; a `store put`
# stopped by a signal leaves no temporary file in the store.
# Oracles: sha256sum, stat(1), ls.
. "$TOP/tests/cli/lib.sh"
need sha256sum stat losetup

head -c 300000 /dev/urandom > obj.bin
want=$(sha256sum < obj.bin)
dt_ok store put "$PWD/st" case/h1/events.jsonl.gz obj.bin
dt_ok store exists "$PWD/st" case/h1/events.jsonl.gz
dt_ok store ls "$PWD/st" case/
grep -qx "case/h1/events.jsonl.gz" out || fail "store ls: $(cat out)"

# 1. Into a new file: the object, 0600.
dt_ok store get "$PWD/st" case/h1/events.jsonl.gz back.bin
[ "$(sha256sum < back.bin)" = "$want" ] || fail "store get: the bytes differ"
[ "$(stat -c %a back.bin)" = 600 ] || fail "store get: back.bin is $(stat -c %a back.bin), not 600"

# 2. Onto an existing file that is not empty (an image): refused, untouched; --force replaces.
head -c 65536 /dev/urandom > evidence.img
ev=$(sha256sum < evidence.img)
dt store get "$PWD/st" case/h1/events.jsonl.gz evidence.img
expect_rc 2 "store get onto an existing image" && expect_err_line store
grep -q "evidence.img" err || fail "the refusal does not name the file: $(cat err)"
[ "$(sha256sum < evidence.img)" = "$ev" ] || fail "store get replaced evidence.img"
[ -z "$(ls -A | grep -F '.evidence.img.')" ] || fail "a temporary file was left: $(ls -A)"
dt store get --force "$PWD/st" case/h1/events.jsonl.gz evidence.img
expect_rc 0 "store get --force"
[ "$(sha256sum < evidence.img)" = "$want" ] || fail "store get --force did not replace the file"
: > empty.bin
dt_ok store get "$PWD/st" case/h1/events.jsonl.gz empty.bin
[ "$(sha256sum < empty.bin)" = "$want" ] || fail "store get into an empty file"

# 3. A link, a folder, a block device: refused, even with --force.
ln -s obj.bin link.bin
dt store get --force "$PWD/st" case/h1/events.jsonl.gz link.bin
expect_rc 2 "store get onto a symbolic link"
[ -L link.bin ] && [ "$(sha256sum < obj.bin)" = "$want" ] || fail "the link or its target changed"
mkdir dir.out
dt store get --force "$PWD/st" case/h1/events.jsonl.gz dir.out
expect_rc 2 "store get onto a folder"
dev=$(losetup -f --show -r evidence.img) || die "losetup failed"
at_exit "losetup -d $dev"
dt store get --force "$PWD/st" case/h1/events.jsonl.gz "$dev"
expect_rc 2 "store get onto a block device"

# 4. --force belongs to get only.
dt store put --force "$PWD/st" case/h1/x obj.bin
expect_rc 2 "store put --force"

# 5. A `store put` stopped by SIGTERM mid-copy (its source a FIFO no one writes to yet)
# exits 143 and leaves no temporary file in the store, and no key.
mkfifo slow.fifo
"$DELTAIR" store put "$PWD/st" case/h2/slow.bin slow.fifo > out 2> err &
put=$!
exec 7> slow.fifo # the put's open returns; its copy now waits for data
for _ in $(seq 50); do
	[ -n "$(ls -A st/case/h2 2>/dev/null)" ] && break
	sleep 0.1
done
[ -n "$(ls -A st/case/h2 2>/dev/null)" ] || fail "store put never created its temporary file"
kill -TERM "$put"
rc=0
wait "$put" || rc=$?
exec 7>&-
[ "$rc" -eq 143 ] || fail "store put on SIGTERM exited $rc (want 143)"
[ -z "$(ls -A st/case/h2)" ] || fail "SIGTERM left in the store: $(ls -A st/case/h2)"
t_done
