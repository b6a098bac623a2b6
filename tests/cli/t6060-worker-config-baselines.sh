#!/bin/bash
# t6060: where a job's baseline comes from, and --config. A job naming a baseline that does
# not exist fails with that reason (FAILED record, failed/ after --max-receives); one naming
# none fails clearly while baseline discovery is not built (or is found by it, once built);
# an s3:// baseline without an S3 backend says so. --config gives the worker its queue,
# output, baseline and case from "key = value" lines (the command line wins, the last line of
# a key wins, "none" empties a list); an unknown key or a line that is no setting is a usage
# error naming the line.
. "$TOP/tests/cli/lib.sh"
need mke2fs jq

t_host_pair

dt_ok submit --queue spool:sp --case B --baseline /nonexistent/gold.dtree --output res incident.img
missing=$(cat out)
dt_ok submit --queue spool:sp --case B2 --output res incident.img
none=$(cat out)
dt_ok submit --queue spool:sp --case S --baseline s3://bucket/baselines/gold.dtree --output res incident.img
s3=$(cat out)
dt worker --queue spool:sp --once --max-receives 1
expect_rc 0 "worker --once"
grep -q "baseline '/nonexistent/gold.dtree'.*No such file" "sp/failed/$missing.reason" 2> /dev/null ||
	fail "missing baseline: $(cat "sp/failed/$missing.reason" 2> /dev/null)"
jq -e '.reason | test("nonexistent")' res/B/incident.img/FAILED > /dev/null || fail "no FAILED record"
if [ -f "sp/failed/$none.reason" ]; then
	grep -q "baseline" "sp/failed/$none.reason" || fail "no baseline: $(cat "sp/failed/$none.reason")"
fi
if [ -f "sp/failed/$s3.reason" ]; then
	[ -s "sp/failed/$s3.reason" ] || fail "s3 baseline: no reason"
fi

cat > cfg.conf << EOF2
# the worker's config
queue = spool:$PWD/sp2
output = $PWD/wrong
  baseline=$PWD/gold.dtree
case = from-config
concurrency = 1
lease_seconds = 60
wall_seconds = 30
wall_seconds = 300
artifacts = none
rules =
EOF2
printf '{"version":1,"evidence":"%s/incident.img"}' "$PWD" > job.json
mkdir -p sp2/incoming
cp job.json sp2/incoming/j1
dt worker --config cfg.conf --output res2 --once
expect_rc 0 "worker --config"
[ -f res2/from-config/incident.img/COMPLETE ] || fail "--config job not done: $(tail -3 err)"
[ ! -e wrong ] || fail "--output on the command line did not win over the config's"
jq -e '.job_spec.limits.wall_seconds == 300' res2/from-config/incident.img/summary.json > /dev/null ||
	fail "the config's limits are not the job's: $(jq -c .job_spec res2/from-config/incident.img/summary.json)"
jq -e '.job_spec.artifacts == [] and (.job_spec | has("rules") | not)' \
	res2/from-config/incident.img/summary.json > /dev/null ||
	fail "artifacts = none, rules empty (the default): $(jq -c .job_spec res2/from-config/incident.img/summary.json)"
printf 'queue = spool:x\ncolour = 1\n' > bad.conf
dt worker --config bad.conf --once
expect_rc 2 "worker --config with an unknown key"
grep -q "line 2: unknown key 'colour'" err || fail "unknown key message: $(cat err)"
printf 'queue = spool:x\nthis is not a setting\n' > bad.conf
dt worker --config bad.conf --once
expect_rc 2 "worker --config with a line without '='"
grep -q "line 2: not 'key = value'" err || fail "no-'=' message: $(cat err)"
printf '{"queue": "spool:x"}\n' > bad.conf
dt worker --config bad.conf --check
expect_rc 2 "worker --config with JSON"
printf 'queue = spool:x\ncase = a\033b\n' > bad.conf
dt worker --config bad.conf --check
expect_rc 2 "worker --config with a control character"
grep -q "line 2: a control character in the value of 'case'" err || fail "control character: $(cat err)"
{ printf 'queue = spool:x\n# '; head -c 5000 /dev/zero | tr '\0' x; printf '\n'; } > bad.conf
dt worker --config bad.conf --check
expect_rc 2 "worker --config with a line of 5000 bytes"
grep -q "line 2: longer than 4095 bytes" err || fail "long line: $(cat err)"
dt worker --config nonexistent.conf --once
expect_rc 2 "worker --config missing"
dt_ok worker --config cfg.conf --check
t_done
