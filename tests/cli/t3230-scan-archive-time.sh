#!/bin/bash
# t3230: the "time" bound of an archive (issue 14) covers YARA on its members, not only their
# decompression. An intruder adds slow.tar.gz, whose one member (100 kB of zeros) a rule
# takes far longer than the bound to evaluate (a loop over every byte: the yara command itself
# times out on the extracted member), then after.tar.gz, whose member a plain rule matches.
# With --decomp-timeout 2 (YARA's own per-file timeout is 30 s):
#   - slow.tar.gz stops at bound "time", named in an `error` event ("bound":"time") and in
#     the summary's decomp.bounds_hit, within seconds rather than YARA's 30;
#   - its member is listed (`member` event) and said not scanned (`error` with "member"):
#     never silently clean;
#   - the run goes on: after.tar.gz's member is matched (`yara` with "member").
. "$TOP/tests/cli/lib.sh"
need mke2fs tar gzip yara jq

has()
{
	jq -c "$1" "$2" | grep -q .
}

cat > rules.yar << 'EOF2'
rule slow_loop { condition: for any i in (0..filesize - 1) : (for any k in (0..999) : (uint8(i + k) == 0x41)) }
rule marker { strings: $a = "deltair-t3230-marker" condition: $a }
EOF2

mkdir -p gold/b
t_gold_incident gold 16M
mkdir -p m1 m2
head -c 100000 /dev/zero > m1/z.bin
printf 'x deltair-t3230-marker x\n' > m2/note.txt
tar -C m1 -czf mnt/b/slow.tar.gz z.bin || die "tar"
tar -C m2 -czf mnt/b/after.tar.gz note.txt || die "tar"
t_incident_done
# The oracle: the member alone keeps the yara command busy past a 2 s timeout.
yara -a 2 rules.yar m1/z.bin > y.out 2>&1
grep -q 'timed out' y.out || die "the slow rule is not slow on the member: $(cat y.out)"

/usr/bin/time -f '%e %U %S' -o cpu "$DELTAIR" scan --no-progress --no-artifacts --no-rows \
	-r rules.yar -b gold.dtree --decomp-timeout 2 incident.img > out 2> err
rc=$?
[ "$rc" -lt 128 ] && [ "$rc" -ne "${DELTAIR_SAN_EXIT:-86}" ] || die "deltair scan died (status $rc)"
expect_rc 1 "scan with --decomp-timeout 2"
read -r wall user sys < <(tail -1 cpu)
awk -v w="$wall" 'BEGIN { exit !(w < 15) }' ||
	fail "the scan took $wall s (user $user, sys $sys): the time bound did not stop YARA on the member"
has 'select(.event == "error" and .path == "/b/slow.tar.gz" and .bound == "time" and (.member | not))' out ||
	fail "no error event names bound time for /b/slow.tar.gz: $(grep slow.tar.gz out | grep -v '"file"' | head -3)"
has 'select(.event == "summary" and .decomp.bounds_hit == ["time"] and .decomp.bounds.time == 1)' out ||
	fail "summary bounds: $(tail -1 out | jq -c .decomp)"
has 'select(.event == "member" and .path == "/b/slow.tar.gz" and .member == "z.bin" and .size == 100000)' out ||
	fail "the slow member is not listed"
has 'select(.event == "error" and .path == "/b/slow.tar.gz" and .member == "z.bin" and (.message | test("YARA did not scan")))' out ||
	fail "the slow member is not said unscanned"
has 'select(.event == "yara" and .path == "/b/slow.tar.gz")' out &&
	fail "a match on the member cut short by the bound"
has 'select(.event == "yara" and .path == "/b/after.tar.gz" and .member == "note.txt" and .rule == "marker")' out ||
	fail "the run did not go on to after.tar.gz"
# The bound is the file's, not the member YARA scan's own timeout (30 s by default).
has 'select(.event == "summary" and .decomp.bounds.time == 1 and .decomp.yara.skipped == 1)' out ||
	fail "member YARA counts: $(tail -1 out | jq -c .decomp.yara)"
t_done
