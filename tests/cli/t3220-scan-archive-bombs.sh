#!/bin/bash
# t3220: hostile archives added in the incident stop at their bounds (issue 14), each within
# seconds, each named in an `error` event ("bound") and in the summary's decomp.bounds_hit,
# and the run goes on to the next file:
#   n12.gz      a gzip of a gzip ... twelve deep            -> depth
#   n40.gz      forty deep (more than libarchive stacks)   -> depth
#   zeros.tgz   a tar whose one member is 1 GiB of zeros    -> ratio (default), file_bytes,
#                                                              time, run_bytes (given bounds)
#   overlap.zip Fifield's overlapping-entry zip bomb (every entry's data holds the next
#               entry): 300 entries of 1 MiB and more from 50 KB -> ratio, file_bytes
#   many.tar.gz 100000 one-byte members                     -> members
# The test's own bombs are generated here (python3's zlib and tarfile, gzip); none is larger
# than 2 MB on disk. Each scan must end within 30 s of CPU (300 under the sanitizers).
. "$TOP/tests/cli/lib.sh"
need mke2fs gzip tar jq /usr/bin/python3

has()
{
	jq -c "$1" "$2" | grep -q .
}

mkdir -p gold/b
t_gold_incident gold 16M

(
	set -e
	cd mnt/b
	printf 'x' > n12
	for i in $(seq 12); do gzip -n -c n12 > t && mv t n12; done
	mv n12 n12.gz
	printf 'x' > n40
	for i in $(seq 40); do gzip -n -c n40 > t && mv t n40; done
	mv n40 n40.gz
	/usr/bin/python3 - << 'EOF'
import io, struct, tarfile, zlib

def gz(data):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush()

# zeros.tgz: a tar of one 1 GiB member of zeros, as concatenated gzip members (gzip -d and
# libarchive read them as one stream), built without ever holding 1 GiB.
MIB = 1 << 20
ti = tarfile.TarInfo("zeros.bin")
ti.size = 1024 * MIB
hdr = ti.tobuf(tarfile.GNU_FORMAT)
zero = gz(b"\0" * MIB)
with open("zeros.tgz", "wb") as f:
    f.write(gz(hdr + b"\0" * (MIB - len(hdr))))
    for _ in range(1023):
        f.write(zero)
    f.write(gz(b"\0" * len(hdr) + b"\0" * 1024))

# overlap.zip (D. Fifield, "A better zip bomb", 2019): entry i's deflate data is a stored
# block quoting entry i+1's local header, then entry i+1's own data, down to one kernel.
N, NAME = 300, lambda i: b"%04d" % i
kernel_plain = b"\0" * MIB
co = zlib.compressobj(9, zlib.DEFLATED, -15)
kernel = co.compress(kernel_plain) + co.flush()
def lh(i, crc, csize, usize):
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, csize, usize, 4, 0) + NAME(i)
headers, entries = [None] * N, [None] * N
after = b""          # the plain bytes that follow in entry i (quoted headers of later entries)
csize = len(kernel)  # entry i's compressed size
for i in range(N - 1, -1, -1):
    plain = after + kernel_plain
    crc = zlib.crc32(kernel_plain, zlib.crc32(after)) & 0xFFFFFFFF
    headers[i] = lh(i, crc, csize, len(plain))
    entries[i] = (crc, csize, len(plain))
    after = headers[i] + after
    csize += 5 + len(headers[i])
body, offsets = b"", []
for i in range(N):
    offsets.append(len(body))
    body += headers[i]
    if i < N - 1:
        q = headers[i + 1]
        body += struct.pack("<BHH", 0, len(q), len(q) ^ 0xFFFF)
body += kernel
cd = b""
for i in range(N):
    crc, cs, us = entries[i]
    cd += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, cs, us, 4,
                      0, 0, 0, 0, 0, offsets[i]) + NAME(i)
eocd = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, N, N, len(cd), len(body), 0)
open("overlap.zip", "wb").write(body + cd + eocd)

# many.tar.gz: 100000 members of one byte.
with open("many.tar.gz", "wb") as raw:
    import gzip
    with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as z:
        with tarfile.open(fileobj=z, mode="w", format=tarfile.GNU_FORMAT) as t:
            for i in range(100000):
                m = tarfile.TarInfo("m%06d" % i)
                m.size = 1
                t.addfile(m, io.BytesIO(b"a"))
EOF
) || die "cannot build the bombs"
# The archivers agree these are what they claim (the oracle for the bombs' contents).
[ "$(gzip -dc mnt/b/zeros.tgz | tar -tvf - | awk '{ print $3 }')" = 1073741824 ] ||
	die "zeros.tgz is not a tar of one 1 GiB member"
[ "$(gzip -dc mnt/b/many.tar.gz | tar -tf - | wc -l)" = 100000 ] || die "many.tar.gz is not 100000 members"
if command -v unzip > /dev/null; then
	[ "$(unzip -l mnt/b/overlap.zip | tail -1 | awk '{ print $2 }')" = 300 ] ||
		die "overlap.zip does not list 300 entries"
fi
t_incident_done
echo 'rule never { strings: $a = "no such string here" condition: $a }' > r.yar

# scan ARGS...: a scan of the bombs; its CPU time (user + system) in $secs. CPU, not wall
# time: the machines that run the tests are shared. The time bound (wall clock) is kept out
# of the way (an hour) except where it is the bound under test.
scan()
{
	/usr/bin/time -f '%U %S' -o cpu "$DELTAIR" scan --no-artifacts --no-rows -r r.yar \
		-b gold.dtree --decomp-timeout 3600 "$@" incident.img > out 2> err
	rc=$?
	secs=$(awk '{ printf "%.1f", $1 + $2 }' cpu)
	[ "$rc" -lt 128 ] && [ "$rc" -ne "${DELTAIR_SAN_EXIT:-86}" ] || fail "deltair scan died of signal $((rc - 128))"
	grep -q -E '^==[0-9]+==ERROR: [A-Za-z]+Sanitizer|: runtime error: ' err &&
		fail "deltair scan stopped in a sanitizer: $(head -c 2000 err)"
	expect_rc 1 "scan $*"
}
# Seconds of CPU a scan may take: ASan and UBSan make libyara's scanners slow to create, so
# there the members bound is 1000 rather than the default 10000 (the runner allows 600 s).
limit=30 members=()
case "$DELTAIR" in */san/*) limit=300 members=(--decomp-members 1000) ;; esac
nmembers=${members[1]:-10000}
# bound FILE PATH BOUND: an error event names BOUND for PATH.
bound()
{
	has "select(.event == \"error\" and .path == \"$2\" and .bound == \"$3\")" "$1" ||
		fail "$1: no error event names bound $3 for $2: $(grep "\"$2\"" "$1" | grep -v '"file"' | head -3)"
}
quick()
{
	awk -v s="$secs" -v m="$1" 'BEGIN { exit !(s < m) }' || fail "$2 took $secs s of CPU (more than $1 s)"
}

# Default bounds (but the members bound under the sanitizers).
scan "${members[@]}"
cp out default.jsonl
quick $limit "the default scan of the bombs"
bound default.jsonl /b/n12.gz depth
bound default.jsonl /b/n40.gz depth
bound default.jsonl /b/zeros.tgz ratio
bound default.jsonl /b/overlap.zip ratio
bound default.jsonl /b/many.tar.gz members
has 'select(.event == "summary" and .decomp.bounds_hit == ["depth", "members", "ratio"] and
	.decomp.bounds.depth == 2 and .decomp.bounds.ratio == 2 and .decomp.bounds.members == 1)' \
	default.jsonl || fail "summary bounds: $(tail -1 default.jsonl | jq -c .decomp)"
n=$(jq -r 'select(.event == "member" and .path == "/b/many.tar.gz") | .member' default.jsonl | wc -l)
[ "$n" = "$nmembers" ] || fail "many.tar.gz: $n members listed, not the $nmembers of the bound"
# Never a member cut short: zeros.bin stopped at the ratio bound has no member event.
has 'select(.event == "member" and .member == "zeros.bin")' default.jsonl &&
	fail "a member cut short by a bound was handed over"

# file_bytes, with the ratio out of the way: 64 MiB from each file at most.
scan --decomp-ratio 1000000000 --decomp-max-bytes 67108864 --decomp-members 100
cp out bytes.jsonl
quick $limit "the scan at 64 MiB per file"
bound bytes.jsonl /b/zeros.tgz file_bytes
bound bytes.jsonl /b/overlap.zip file_bytes
has 'select(.event == "summary" and .decomp.bytes_expanded < 3 * 67108864)' bytes.jsonl ||
	fail "more than the file bound was expanded: $(tail -1 bytes.jsonl | jq -c .decomp.bytes_expanded)"
# The overlapping entries before the bound were read whole (each 1 MiB and more).
n=$(jq -r 'select(.event == "member" and .path == "/b/overlap.zip") | .size' bytes.jsonl | wc -l)
[ "$n" -ge 30 ] || fail "overlap.zip: only $n entries before the bound"

# time: 1 second per file, the other bounds out of the way.
scan --decomp-ratio 1000000000 --decomp-max-bytes 100000000000 --decomp-members 100 \
	--decomp-timeout 1
cp out time.jsonl
quick $limit "the scan at 1 s per file"
bound time.jsonl /b/zeros.tgz time

# run_bytes: 8 MiB for the whole run; overlap.zip stops at it, zeros.tgz (after it) is not opened.
scan --decomp-run-bytes 8388608 --decomp-members 100
cp out run.jsonl
bound run.jsonl /b/overlap.zip run_bytes
bound run.jsonl /b/zeros.tgz run_bytes
has 'select(.event == "error" and .bound == "run_bytes" and (.message | test("not opened")))' run.jsonl ||
	fail "no file says it was not opened after the run bound"
t_done
