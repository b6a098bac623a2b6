#!/bin/bash
# t6090: what the worker itself costs a job once its scan has ended. With --work-dir on the
# output's filesystem, the scan's extraction (here 72 files in 24 folders) goes into the
# results in one rename of the folder, not one rename per file and one mkdir per folder, and
# the results are made durable with one syncfs before COMPLETE, not one per COMPLETE moved:
# counted by strace on the worker process (not its scans), per job. The results stay those
# of `deltair scan -x` (sha256sum of every extracted file) with COMPLETE's digests matching
# sha256sum, folders 0700 and files 0600 (stat). With the scratch folder on another
# filesystem (/dev/shm, a tmpfs), the files are copied one by one, with the same results.
. "$TOP/tests/cli/lib.sh"
need mke2fs jq sha256sum strace

mkdir -p gold/etc
printf 'host-a\n' > gold/etc/hostname
for d in $(seq -w 1 24); do
	mkdir -p "gold/usr/lib/m$d"
	for f in a b c; do printf 'gold %s %s\n' "$d" "$f" > "gold/usr/lib/m$d/$f.so"; done
done
t_gold_incident gold 16M
for d in $(seq -w 1 24); do
	for f in a b c; do printf 'changed %s %s\n' "$d" "$f" > "mnt/usr/lib/m$d/$f.so"; done
done
t_incident_done

dt scan --no-progress --baseline "$PWD/gold.dtree" -x plain-x -o plain.jsonl "$PWD/incident.img"
[ "$rc" -le 1 ] || die "deltair scan: rc $rc: $(cat err)"
(cd plain-x && find . -type f ! -name COMPLETE -exec sha256sum {} + | sort -k2) > plain.sums
[ "$(grep -c '/usr/lib/m' plain.sums)" -eq 72 ] || die "the plain scan extracted: $(cat plain.sums)"

# check_results DIR: the job's results in DIR are the plain scan's, as COMPLETE says.
check_results()
{
	local R=$1
	(cd "$R/extracted" && find . -type f ! -name COMPLETE -exec sha256sum {} + | sort -k2) > worker.sums
	cmp -s plain.sums worker.sums || fail "$R: extracted files differ: $(diff plain.sums worker.sums | head -4)"
	check_complete "$R"
	[ -z "$(find "$R" -type d ! -perm 0700)" ] || fail "$R: folders not 0700: $(find "$R" -type d ! -perm 0700 | head -3)"
	[ -z "$(find "$R" -type f ! -perm 0600)" ] || fail "$R: files not 0600: $(find "$R" -type f ! -perm 0600 | head -3)"
	[ -z "$(find "$R" ! -type f ! -type d)" ] || fail "$R: not only files and folders: $(find "$R" ! -type f ! -type d)"
}

# 1. Scratch beside the output: one rename of the extraction, one syncfs, per job.
for c in A B; do
	dt_ok submit --queue spool:sp --case "$c" --baseline gold.dtree --output res incident.img
done
rc=0
# LeakSanitizer cannot run under ptrace (make SAN=1): no leak check for this one run.
ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}detect_leaks=0" strace -o trace -e trace=rename,renameat,renameat2,mkdir,mkdirat,rmdir,syncfs \
	"$DELTAIR" worker --queue spool:sp --once --work-dir "$PWD/wd" > out 2> err || rc=$?
expect_rc 0 "worker --once (scratch beside the output)"
[ "$(jq -s '[.[] | select(.stage == "done")] | length' err)" -eq 2 ] || fail "not two jobs done: $(cat err)"
for c in A B; do check_results "res/$c/incident.img"; done
renames=$(grep -c -E '^(rename|renameat|renameat2)\(' trace)
mkdirs=$(grep -c -E '^(mkdir|mkdirat)\(' trace)
rmdirs=$(grep -c -E '^rmdir\(' trace)
syncs=$(grep -c -E '^syncfs\(' trace)
note "worker, 2 jobs of 72 extracted files: $renames renames, $mkdirs mkdirs, $rmdirs rmdirs, $syncs syncfs"
# Per job: the spool's claim and done, events.jsonl.gz, extracted/, summary.json, COMPLETE.
[ "$renames" -le 16 ] || fail "$renames renames for 2 jobs (one per extracted file?): $(grep -E '^rename' trace | head -5)"
[ "$mkdirs" -le 20 ] || fail "$mkdirs mkdirs for 2 jobs (one per extracted folder?)"
[ "$rmdirs" -le 6 ] || fail "$rmdirs rmdirs for 2 jobs (the scratch folders emptied one by one?)"
[ "$syncs" -eq 2 ] || fail "$syncs syncfs for 2 jobs, want one each: $(grep syncfs trace)"
# The syncfs comes before COMPLETE is renamed into place.
awk '/^syncfs\(/ { s++ } /"COMPLETE"\) = 0/ && $0 ~ /^rename/ { if (s < ++c) bad = 1 } END { exit bad }' trace ||
	fail "a COMPLETE was renamed into place before its syncfs: $(grep -E 'syncfs|COMPLETE' trace)"

# 2. Scratch on another filesystem: copied file by file, the same results.
here=$(stat -c %d .)
if [ -d /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$here" ] && shm=$(mktemp -d /dev/shm/t6090-XXXXXX); then
	at_exit "rm -rf '$shm'"
	dt_ok submit --queue spool:sp --case C --baseline gold.dtree --output res incident.img
	dt worker --queue spool:sp --once --work-dir "$shm/wd"
	expect_rc 0 "worker --once (scratch on /dev/shm)"
	check_results res/C/incident.img
	[ -z "$(find "$shm/wd" -mindepth 1 -maxdepth 1 -name 'job-*')" ] || fail "scratch left: $(find "$shm/wd" | head)"
else
	note "no second filesystem at /dev/shm: the copy path is not checked"
fi
t_done
