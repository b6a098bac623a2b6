#!/bin/bash
# t3040: deltair scan with bad or limiting input.
#   A YARA rule file with a syntax error (given as a file or inside a folder): exit 3, one
#   stderr line naming the file and the line, nothing written at -o. A malformed artifacts
#   YAML (a syntax error, an unknown key): exit 3 naming the file and line. A missing
#   baseline: exit 4; one that is not a .dtree or is cut short: exit 3. Bad option values:
#   exit 2. --max-size 10: every changed file larger than 10 bytes is counted as too_large
#   in summary.yara.skipped (never silently "clean"), the others are scanned. The
#   third-party rules in $SHARED/yara-permissive compile and run unchanged (alone and beside
#   ours: summary.yara.rules is the number of rules in the files, counted here).
. "$TOP/tests/cli/lib.sh"
need mke2fs sgdisk jq python3

(
	set -e
	mkdir -p gold && cd gold
	mkdir -p etc var/www/html
	printf 'root:x:0:0:root:/root:/bin/bash\n' > etc/passwd
	printf '<?php echo 1; ?>\n' > var/www/html/index.php
	find . -depth -exec touch -h -d '2021-06-01 12:00:00 UTC' {} +
)
[ $? -eq 0 ] || die "building the gold tree failed"
part_size=$((16 * 1024 * 1024))
mke2fs -q -F -t ext4 -d gold p1.img "$((part_size / 1024))k" > /dev/null || die "mke2fs failed"
off=$(mkgpt gold.img p1.img 8300) || die "mkgpt failed"
rm -f p1.img
dt_ok baseline --no-progress -o gold.dtree gold.img

cp --sparse=always gold.img incident.img
t_loop incident.img -o "$off" --sizelimit "$part_size"
t_mount "$LOOP" m
(
	set -e
	cd m
	echo 'toor:x:0:0::/root:/bin/sh' >> etc/passwd
	printf '<?php system($_REQUEST["c"]); ?>\n' > var/www/html/shell.php
	printf '<?php eval(base64_decode($_POST["x"])); ?>\n' > var/www/html/packed.php
	printf '123456789\n' > var/www/html/ten.txt      # 10 bytes: at the limit, scanned
	printf '1234567890\n' > var/www/html/eleven.txt  # 11 bytes: over it
	: > var/www/html/empty.txt
	ln -s index.php var/www/html/link.php           # not a regular file: no candidate
)
[ $? -eq 0 ] || die "changing the incident failed"
sync
_t_umount "$PWD/m" || die "umount failed"
losetup -d "$LOOP"

SCAN=(scan --no-progress --baseline gold.dtree)

# --- a bad rule: file and line named, exit 3, no output file
cat > bad.yar << 'EOF'
rule fine { condition: true }

rule broken
{
	condition: $nope and
}
EOF
mkdir -p rules-dir/sub
cp "$TOP/rules/webshells.yar" rules-dir/
cp bad.yar rules-dir/sub/bad.yar
for r in bad.yar rules-dir; do
	want=bad.yar
	[ "$r" = rules-dir ] && want=rules-dir/sub/bad.yar
	dt "${SCAN[@]}" --rules "$r" -o ev.jsonl incident.img
	expect_rc 3 "scan --rules $r (syntax error)"
	expect_err_line scan
	grep -q -F "'$want'" err || fail "scan --rules $r: the message does not name $want: $(cat err)"
	grep -q -E '(line |:)5\b' err || fail "scan --rules $r: the message does not name line 5: $(cat err)"
	[ ! -e ev.jsonl ] || fail "scan --rules $r wrote -o ev.jsonl"
	[ -z "$(find . -maxdepth 1 -name '.ev.jsonl.*')" ] || fail "scan --rules $r left a temporary file"
done
# A folder without rules is an error too, not a scan without YARA.
mkdir no-rules
dt "${SCAN[@]}" --rules no-rules -o ev.jsonl incident.img
[ "$rc" -ge 2 ] || fail "scan --rules (a folder without rule files): exit $rc"
[ ! -e ev.jsonl ] || fail "scan --rules no-rules wrote -o ev.jsonl"

# --- malformed artifacts YAML
cat > syntax.yaml << 'EOF'
# line 1
name: BrokenFlow
doc: A definition whose flow sequence never closes.
sources:
- type: FILE
  attributes: {paths: ['/etc/x', '/etc/y'}
supported_os: [Linux]
EOF
cat > unknown.yaml << 'EOF'
name: GoodOne
doc: Fine.
sources:
- type: FILE
  attributes: {paths: ['/etc/fine']}
supported_os: [Linux]
---
name: UnknownKey
doc: A definition with a key the format does not have.
favourite: blue
sources:
- type: FILE
  attributes: {paths: ['/etc/z']}
EOF
for y in syntax.yaml:6 unknown.yaml:10; do
	f=${y%:*} line=${y#*:}
	dt scan --no-progress --no-rules --artifacts "$f" --baseline gold.dtree -o ev.jsonl incident.img
	expect_rc 3 "scan --artifacts $f"
	expect_err_line scan
	grep -q -F "$f" err || fail "scan --artifacts $f: the message does not name the file: $(cat err)"
	grep -q -E "line $line\b" err || fail "scan --artifacts $f: the message does not name line $line: $(cat err)"
	[ ! -e ev.jsonl ] || fail "scan --artifacts $f wrote -o ev.jsonl"
	dt artifacts list --artifacts "$f"
	expect_rc 3 "artifacts list --artifacts $f"
	grep -q -E "line $line\b" err || fail "artifacts list --artifacts $f: no line $line: $(cat err)"
done

# --- baselines
dt "${SCAN[@]}" --no-rules --baseline no-such.dtree -o ev.jsonl incident.img
expect_rc 4 "scan --baseline no-such.dtree"
expect_err_line scan
grep -q no-such.dtree err || fail "the message does not name the missing baseline: $(cat err)"
[ ! -e ev.jsonl ] || fail "scan with a missing baseline wrote -o ev.jsonl"
printf 'not a tree\n' > text.dtree
dt "${SCAN[@]}" --no-rules --baseline text.dtree incident.img
expect_rc 3 "scan --baseline text.dtree"
expect_err_line scan
head -c $(($(stat -c %s gold.dtree) / 2)) gold.dtree > half.dtree
dt "${SCAN[@]}" --no-rules --baseline half.dtree incident.img
expect_rc 3 "scan --baseline half.dtree (cut short)"
expect_err_line scan

# A baseline made with --no-rows: rows are not diffed against nothing (which would report
# every row of a changed file as added); a note says so, the summary has no "rows".
dt_ok baseline --no-progress --no-rows -o norows.dtree gold.img
dt "${SCAN[@]}" --no-rules --baseline norows.dtree -o ev.jsonl incident.img
expect_rc 1 "scan --baseline norows.dtree"
jq -s -e 'any(.[]; .event == "row")' ev.jsonl > /dev/null &&
	fail "scan against a baseline without rows reports rows: $(jq -c 'select(.event == "row")' ev.jsonl | head -3)"
jq -e 'select(.event == "summary") | has("rows") | not' ev.jsonl > /dev/null ||
	fail "summary has rows although none were diffed: $(tail -n 1 ev.jsonl)"
grep -q 'no rows' err || fail "no note about the baseline without rows: $(cat err)"
dt "${SCAN[@]}" --no-rules -o ev.jsonl incident.img
jq -s -e 'any(.[]; .event == "row" and .table == "users")' ev.jsonl > /dev/null ||
	fail "no users row against the baseline with rows"
rm -f ev.jsonl

# --- bad option values: usage errors
for a in "--max-size 0" "--max-size ten" "--timeout 0" "--timeout 86401" "--format xml"; do
	# shellcheck disable=SC2086
	dt "${SCAN[@]}" --no-rules $a incident.img
	expect_rc 2 "scan $a"
done
dt "${SCAN[@]}" --no-rules -o no-such-dir/ev.jsonl incident.img
expect_rc 4 "scan -o no-such-dir/ev.jsonl"

# --- the reference: our rules find the webshell
dt "${SCAN[@]}" --rules "$TOP/rules" -o full.jsonl incident.img
expect_rc 1 "scan --rules rules/"
jq -s -e 'any(.[]; .event == "yara" and .path == "/var/www/html/shell.php" and .rule == "php_webshell_request_exec")' \
	full.jsonl > /dev/null || fail "no php_webshell_request_exec on shell.php without --max-size"

# --- --max-size 10
dt "${SCAN[@]}" --rules "$TOP/rules" --max-size 10 -o small.jsonl incident.img
expect_rc 1 "scan --max-size 10"
python3 - small.jsonl << 'EOF' || fail "--max-size 10 is not reported as it should be"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1], "rb")]
bad = []
files = [e for e in ev if e["event"] == "file" and e["type"] == "file" and
         e["change"] in ("added", "modified", "appended", "renamed", "type")]
big = {e["path"] for e in files if e["size"] > 10}
small = {e["path"] for e in files if e["size"] <= 10}
if not ({"/var/www/html/shell.php", "/var/www/html/eleven.txt"} <= big and
        {"/var/www/html/ten.txt", "/var/www/html/empty.txt"} <= small):
    bad.append("the test's sizes are wrong: big %s small %s" % (sorted(big), sorted(small)))
y = ev[-1].get("yara", {})
if y.get("candidates") != len(files) or y.get("scanned") != len(small) or \
   y.get("skipped", {}).get("too_large") != len(big) or \
   any(v for k, v in y.get("skipped", {}).items() if k != "too_large"):
    bad.append("summary.yara %s; want candidates %d, scanned %d, too_large %d" %
               (json.dumps(y), len(files), len(small), len(big)))
hits = [e["path"] for e in ev if e["event"] == "yara" and e["path"] in big]
if hits:
    bad.append("yara events for files over the limit: %s" % hits)
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
EOF

# --- third-party rules, unchanged
PERM=${SHARED:-}/yara-permissive
if [ -n "${SHARED:-}" ] && [ -d "$PERM" ]; then
	# Rules in the files (per file: one may not end with a newline).
	nrules()
	{
		local f n=0 k
		while IFS= read -r -d '' f; do
			k=$(grep -c -E '^[[:space:]]*((private|global)[[:space:]]+)*rule[[:space:]]+[A-Za-z_]' "$f")
			n=$((n + k))
		done < <(find "$@" \( -name '*.yar' -o -name '*.yara' \) -print0)
		echo "$n"
	}
	n_perm=$(nrules "$PERM")
	n_ours=$(nrules "$TOP/rules")
	dt "${SCAN[@]}" --rules "$PERM" -o perm.jsonl incident.img
	expect_rc 1 "scan --rules \$SHARED/yara-permissive"
	got=$(jq -r 'select(.event == "summary") | .yara.rules' perm.jsonl)
	[ "$got" = "$n_perm" ] || fail "yara-permissive: summary.yara.rules $got, the files have $n_perm rules"
	# tenable's obfuscated_php.yar matches eval(base64_decode($_POST...)) (its README).
	jq -s -e 'any(.[]; .event == "yara" and .path == "/var/www/html/packed.php" and .rule == "eval_statement"
		and (.namespace | contains("tenable")))' perm.jsonl > /dev/null ||
		fail "yara-permissive: no eval_statement on packed.php: $(jq -c 'select(.event == "yara") | [.path, .rule, .namespace]' perm.jsonl)"
	dt "${SCAN[@]}" --rules "$TOP/rules" --rules "$PERM" -o both.jsonl incident.img
	expect_rc 1 "scan --rules rules/ --rules \$SHARED/yara-permissive"
	got=$(jq -r 'select(.event == "summary") | .yara.rules' both.jsonl)
	[ "$got" = "$((n_perm + n_ours))" ] || fail "both rule sets: summary.yara.rules $got, want $((n_perm + n_ours))"
	jq -s -e 'any(.[]; .event == "yara" and .rule == "php_webshell_request_exec")' both.jsonl > /dev/null ||
		fail "both rule sets: our webshell rule did not fire"
	jq -s -e 'any(.[]; .event == "yara" and .rule == "eval_statement")' both.jsonl > /dev/null ||
		fail "both rule sets: tenable's eval_statement did not fire"
else
	note "no \$SHARED/yara-permissive: third-party rules not tested"
fi
t_done
