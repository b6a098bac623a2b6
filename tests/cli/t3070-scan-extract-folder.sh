#!/bin/bash
# t3070: the folder of scan --extract (issue 8, item 4). Missing parent folders are created;
# the folder is 0700 and every file in it (copies, manifest.jsonl, COMPLETE) 0600, whatever
# the umask (extracted files are evidence: shadow files, keys). A folder that holds anything
# is refused: one with other files even with --force (left as it was), one with an earlier
# extraction unless --force, which then replaces it whole. Oracle: stat(1), find(1).
. "$TOP/tests/cli/lib.sh"
need mke2fs stat find sha256sum jq cmp

mkdir -p gold/etc
printf 'root:x:0:0:root:/root:/bin/bash\n' > gold/etc/passwd
printf 'host-a\n' > gold/etc/hostname
cp -a gold incident
printf 'root:x:0:0:root:/root:/bin/bash\nevil:x:0:0::/:/bin/sh\n' > incident/etc/passwd
printf 'secret key\n' > incident/etc/key
mkext4 gold gold.img 8M
mkext4 incident incident.img 8M
dt_ok baseline --no-rows -o gold.dtree gold.img
SCAN=(scan --no-progress --no-rules --no-artifacts --no-rows -b gold.dtree)

# A new folder two levels down, with a permissive umask.
umask 000
dt "${SCAN[@]}" -x a/b/ex -o ev.jsonl incident.img
umask 022
expect_rc 1 "scan -x a/b/ex"
[ -f a/b/ex/COMPLETE ] || die "no extraction in a/b/ex: $(cat err)"
[ "$(stat -c %a a/b/ex)" = 700 ] || fail "the folder is $(stat -c %a a/b/ex), want 700"
bad=$(find a/b/ex -mindepth 1 \( -type d ! -perm 700 -o -type f ! -perm 600 \) -printf '%m %p\n')
[ -z "$bad" ] || fail "modes in the extraction folder: $bad"
[ "$(find a/b/ex -type f | wc -l)" -eq 4 ] || fail "want 2 copies, a manifest and COMPLETE: $(find a/b/ex -type f)"
cmp -s a/b/ex/files/p0/etc/key incident/etc/key || fail "the copy of /etc/key differs"

# An existing empty folder is used, and made 0700.
mkdir -m 755 empty
dt "${SCAN[@]}" -x empty -o ev.jsonl incident.img
expect_rc 1 "scan -x empty"
[ "$(stat -c %a empty)" = 700 ] || fail "the empty folder is $(stat -c %a empty), want 700"

# A folder with other files: refused, with --force too, and left as it was.
mkdir notes
printf 'case notes\n' > notes/todo.txt
for f in "" --force; do
	dt "${SCAN[@]}" $f -x notes -o ev.jsonl incident.img
	expect_rc 2 "scan $f -x notes (not empty)" && expect_err_line scan
	[ "$(ls -A notes)" = todo.txt ] || fail "scan $f -x notes changed the folder: $(ls -A notes)"
done

# An earlier extraction: refused, then replaced whole with --force.
dt "${SCAN[@]}" -x a/b/ex -o ev.jsonl incident.img
expect_rc 2 "scan -x over an earlier extraction" && expect_err_line scan
printf 'stale\n' > a/b/ex/files/p0/etc/stale
dt "${SCAN[@]}" --force -x a/b/ex -o ev.jsonl incident.img
expect_rc 1 "scan --force -x over an earlier extraction"
[ -e a/b/ex/files/p0/etc/stale ] && fail "--force kept a stale file"
[ -f a/b/ex/COMPLETE ] || fail "no COMPLETE after --force"

# --force never replaces an extraction that holds what the run reads: an image found in the
# delta, extracted, then scanned with the same -x, would be removed before it is read.
cp incident.img a/b/ex/files/inner.img
cp gold.dtree a/b/ex/files/p0/gold.dtree
sum_inner=$(sha256sum < a/b/ex/files/inner.img)
for args in "-x a/b/ex a/b/ex/files/inner.img" "-x a/b/ex/ incident.img"; do
	base=gold.dtree
	[ "${args##* }" = incident.img ] && base=a/b/ex/files/p0/gold.dtree
	dt scan --no-progress --no-rules --no-artifacts --no-rows -b $base --force $args -o ev.jsonl
	expect_rc 2 "scan --force $args (an input inside)" && expect_err_line scan
done
[ "$(sha256sum < a/b/ex/files/inner.img)" = "$sum_inner" ] || fail "--force removed the evidence"
[ -f a/b/ex/files/p0/gold.dtree ] || fail "--force removed the baseline"
[ -f a/b/ex/COMPLETE ] || fail "the refused run touched the earlier extraction"

# The copies' temporary name is no name an evidence file can be extracted to: a planted
# .deltair-tmp.<pid> beside another changed file was once removed when that file was
# copied. In a new PID namespace deltair is pid 1, so the name to plant is known. Oracle:
# every file the manifest lists exists with the manifest's SHA-256 (sha256sum), and the
# planted file's copy equals the original (cmp).
if unshare -pf true 2> /dev/null; then
	printf 'planted\n' > incident/etc/.deltair-tmp.1
	mkext4 incident planted.img 8M
	rc=0
	unshare -pf "$DELTAIR" "${SCAN[@]}" -x pl -o ev.jsonl planted.img > out 2> err || rc=$?
	expect_rc 1 "scan -x pl (in a PID namespace)"
	[ -f pl/COMPLETE ] || die "no extraction in pl: $(cat err)"
	cmp -s pl/files/p0/etc/.deltair-tmp.1 incident/etc/.deltair-tmp.1 ||
		fail "the copy of /etc/.deltair-tmp.1 is missing or differs: $(ls -A pl/files/p0/etc)"
	jq -r '.file + " " + .sha256' pl/manifest.jsonl > listed
	[ "$(wc -l < listed)" -eq 3 ] || fail "want 3 files in the manifest: $(cat listed)"
	while read -r f sum; do
		[ "$(sha256sum < "pl/$f" | cut -d' ' -f1)" = "$sum" ] ||
			fail "the manifest's $f is missing or differs"
	done < listed
else
	echo "    (no PID namespace: the temporary-name check is skipped)"
fi
t_done
