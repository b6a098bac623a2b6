#!/bin/bash
# t3400: package provenance (issue 15). A gold ext4 root (merged /usr) with three real Debian
# packages installed by dpkg --root (diffstat, dmidecode, dosfstools), then an incident where
# (a) diffstat is upgraded to a newer .deb (the same package rebuilt with a new version, one
# changed binary and one file dropped), (b) dosfstools' /sbin/mkfs.fat is modified and its
# package left alone, (c) dmidecode's binary is modified and its md5sums rewritten to match,
# (d) an unpackaged file is added. Expected: (a) package_verified, corroborated by a
# known-good set built from the .debs, the dropped file package_dropped; (b) package_mismatch;
# (c) package_verified but self-reported only, and the md5sums file in the unexplained delta;
# (d) unexplained. Oracles: dpkg --verify --root (which files disagree with their package),
# dpkg-deb -c (what the set must hold), md5sum.
# The .debs come from $DELTAIR_TEST_DEBS (default /var/tmp/deltair-test-debs), filled from
# the apt cache or `apt-get download` on first use and reused.
. "$TOP/tests/cli/lib.sh"
need mke2fs dpkg dpkg-deb jq md5sum gzip

cache=${DELTAIR_TEST_DEBS:-/var/tmp/deltair-test-debs}
mkdir -p "$cache" debs || die "cannot create $cache"
for p in diffstat dmidecode dosfstools; do
	f=$(ls "$cache/${p}"_*.deb 2> /dev/null | head -n1)
	if [ -z "$f" ]; then
		cp /var/cache/apt/archives/"${p}"_*_amd64.deb "$cache/" 2> /dev/null ||
			(cd "$cache" && apt-get download "$p" > /dev/null 2>&1) ||
			skip "no $p .deb in $cache, the apt cache or apt-get download"
		f=$(ls "$cache/${p}"_*.deb | head -n1)
	fi
	cp "$f" debs/ || die "cannot copy $f"
done

# A merged-/usr root with dpkg's database, as on Debian 12.
mkdir -p gold/usr/bin gold/usr/sbin gold/usr/lib gold/usr/local/bin gold/var/log \
	gold/var/lib/dpkg/info gold/var/lib/dpkg/updates gold/var/lib/dpkg/triggers gold/etc
ln -s usr/bin gold/bin && ln -s usr/sbin gold/sbin && ln -s usr/lib gold/lib
touch gold/var/lib/dpkg/status
install_debs()
{
	local root=$1
	shift
	dpkg --root="$PWD/$root" --log="$PWD/$root/var/log/dpkg.log" --force-depends \
		-i "$@" > dpkg.out 2>&1 || die "dpkg -i failed: $(tail -n3 dpkg.out)"
}
install_debs gold debs/*.deb

# The upgrade: diffstat rebuilt as a newer version, one byte more in its binary, README gone.
dpkg-deb -R debs/diffstat_*.deb up || die "dpkg-deb -R failed"
old=$(dpkg-deb -f debs/diffstat_*.deb Version)
new="$old+dt1"
sed -i "s/^Version: .*/Version: $new/" up/DEBIAN/control
poke() { printf "$2" | dd of="$1" bs=1 seek=4000 conv=notrunc status=none; }
poke up/usr/bin/diffstat U
rm up/usr/share/doc/diffstat/README
(cd up && find usr -type f -exec md5sum {} + | sort -k2 > DEBIAN/md5sums)
mkdir -p newer
dpkg-deb -b --root-owner-group up newer/diffstat_new.deb > /dev/null || die "dpkg-deb -b failed"

t_gold_incident gold 48M
install_debs mnt newer/diffstat_new.deb                              # (a)
poke mnt/usr/sbin/mkfs.fat X                                  # (b)
poke mnt/usr/sbin/dmidecode Y                                 # (c)
sum=$(md5sum < mnt/usr/sbin/dmidecode | cut -d' ' -f1)
sed -i "s|^[0-9a-f]*  usr/sbin/dmidecode\$|$sum  usr/sbin/dmidecode|" \
	mnt/var/lib/dpkg/info/dmidecode.md5sums
printf '#!/bin/sh\necho hi\n' > mnt/usr/local/bin/implant              # (d)
chmod 755 mnt/usr/local/bin/implant
# The oracle: what dpkg itself says disagrees with the packages (an md5 '5' in column 3).
dpkg --verify --root="$PWD/mnt" > verify.out 2>&1
awk '$1 ~ /^..5/ {print $NF}' verify.out | sed 's|^/sbin/|/usr/sbin/|; s|^/bin/|/usr/bin/|' |
	sort > verify.paths
[ "$(cat verify.paths)" = /usr/sbin/mkfs.fat ] ||
	die "dpkg --verify does not see exactly (b): $(cat verify.out)"
t_incident_done

# The known-good set: every .deb, old and new. Oracle: dpkg-deb -c lists the same entries.
cp newer/diffstat_new.deb debs/
dt_ok known-good build -o debian.kg debs
want=$(for d in debs/*.deb; do dpkg-deb -c "$d"; done | wc -l)
dt_ok known-good info debian.kg
got=$(jq -r .entries out)
[ "$got" = "$want" ] || fail "the set has $got entries, dpkg-deb -c lists $want"
[ "$(jq -r .packages out)" = 3 ] || fail "the set names $(jq -r .packages out) packages, want 3"

dt scan --no-progress --no-rules --no-artifacts -b gold.dtree --known-good debian.kg incident.img
expect_rc 1 "scan with provenance"
cp out scan.jsonl
prov()
{
	jq -c --arg p "$1" 'select(.event == "file" and .path == $p) |
		[.change, .provenance.reason, .provenance.explained, .provenance.trust,
		 (.flags | index("package_verified") != null)]' scan.jsonl
}
check()
{
	local got
	got=$(prov "$1")
	[ "$got" = "$2" ] || fail "$1: $got, want $2"
}
check /usr/bin/diffstat '["modified","package_verified",true,"corroborated",true]'
got=$(jq -c 'select(.path == "/usr/bin/diffstat") | .provenance |
	[.package, .gold_version, .version, .version_changed, .corroborated_by]' scan.jsonl)
[ "$got" = "[\"diffstat\",\"$old\",\"$new\",true,[\"known_good\"]]" ] ||
	fail "diffstat's provenance: $got"
check /usr/share/doc/diffstat/README '["deleted","package_dropped",true,"corroborated",false]'
check /var/lib/dpkg/info/diffstat.md5sums '["modified","package_database",true,"self-reported",false]'
check /usr/sbin/mkfs.fat '["modified","package_mismatch",false,null,false]'
check /usr/sbin/dmidecode '["modified","package_verified",true,"self-reported",true]'
check /var/lib/dpkg/info/dmidecode.md5sums '["modified","package_database_edited",false,null,false]'
check /usr/local/bin/implant '["added","not_packaged",false,null,false]'
# The oracle again: what deltair calls a mismatch is what dpkg --verify found.
jq -r 'select(.event == "file" and .provenance.reason == "package_mismatch") | .path' \
	scan.jsonl | sort > mismatch.paths
cmp -s mismatch.paths verify.paths || fail "package_mismatch: $(cat mismatch.paths), dpkg --verify: $(cat verify.paths)"
# The summary counts by reason, and they add up to the changes.
n=$(jq -s '[.[] | select(.event == "file")] | length' scan.jsonl)
s=$(jq -c 'select(.event == "summary") | .provenance |
	(.explained.total + .unexplained.total)' scan.jsonl)
[ "$s" = "$n" ] || fail "the summary explains $s changes of $n"
[ "$(jq -c 'select(.event == "summary") | .provenance.unexplained.package_mismatch' scan.jsonl)" = 1 ] ||
	fail "the summary's package_mismatch count is not 1"

# --unexplained: only (b), (c)'s md5sums, (d), and nothing an upgrade explains.
dt scan --no-progress --no-rules --no-artifacts -b gold.dtree --known-good debian.kg \
	--unexplained incident.img
expect_rc 1 "scan --unexplained"
got=$(jq -r 'select(.event == "file") | .path' out | sort | tr '\n' ' ')
[ "$got" = "/usr/local/bin/implant /usr/sbin/mkfs.fat /var/lib/dpkg/info/dmidecode.md5sums " ] ||
	fail "--unexplained shows: $got"

# The exports carry the reason: the body file beside the name (as fls's " (deleted)"),
# Timesketch as a field and a tag.
dt scan --no-progress --no-rules --no-artifacts -b gold.dtree --known-good debian.kg \
	-f bodyfile incident.img
grep -q '^0|/usr/sbin/mkfs.fat (unexplained: package_mismatch)|' out ||
	fail "bodyfile: $(grep mkfs.fat out)"
grep -q '^0|/usr/bin/diffstat (package_verified, corroborated)|' out ||
	fail "bodyfile: $(grep diffstat out)"
dt scan --no-progress --no-rules --no-artifacts -b gold.dtree --known-good debian.kg \
	-f timesketch incident.img
got=$(jq -c 'select(.path == "/usr/local/bin/implant") | [.provenance.reason, (.tag | index("unexplained") != null)]' out | sort -u)
[ "$got" = '["not_packaged",true]' ] || fail "timesketch: implant is $got"

# deltair report shows what nobody explains first (then rarest first), and says which are.
mkdir -p case/host-a
gzip -c < scan.jsonl > case/host-a/events.jsonl.gz
tail -n 1 scan.jsonl > case/host-a/summary.json
: > case/host-a/COMPLETE
dt_ok report case
got=$(jq -r '.paths[] | [.explained, .path] | @tsv' case/report.json | awk '{print $1}' | uniq | tr '\n' ' ')
[ "$got" = "false true " ] || fail "report.json: explained order is $got, want the unexplained first"
got=$(jq -r '.paths[] | select(.explained == false) | .path' case/report.json | sort | tr '\n' ' ')
[ "$got" = "/usr/local/bin/implant /usr/sbin/mkfs.fat /var/lib/dpkg/info/dmidecode.md5sums " ] ||
	fail "report.json: unexplained paths $got"
# A second host whose event says the diffstat upgrade is not explained: a path is explained only
# when every host's event explains it (oracle: jq over both hosts' events), per host in 'on',
# and marked so in report.html.
mkdir -p case/host-b
jq -c 'if .path == "/usr/bin/diffstat" then .provenance.explained = false else . end' \
	scan.jsonl | gzip > case/host-b/events.jsonl.gz
tail -n 1 scan.jsonl > case/host-b/summary.json
: > case/host-b/COMPLETE
dt_ok report case
want=$(zcat case/host-*/events.jsonl.gz | jq -s -r '[.[] | select(.event == "file")] |
	group_by([.fs, .path]) | .[] | select(all(.[]; .provenance.explained == true)) | .[0].path' |
	sort)
got=$(jq -r '.paths[] | select(.explained) | .path' case/report.json | sort)
[ -n "$want" ] && [ "$got" = "$want" ] || fail "report.json, two hosts: explained $got, want $want"
got=$(jq -r '.paths[] | .explained' case/report.json | uniq | tr '\n' ' ')
[ "$got" = "false true " ] || fail "report.json, two hosts: explained order is $got"
got=$(jq -c '.paths[] | select(.path == "/usr/bin/diffstat") | [.explained, [.on[] | [.host, .explained]]]' \
	case/report.json)
[ "$got" = '[false,[["host-a",true],["host-b",false]]]' ] || fail "report.json: diffstat is $got"
got=$(grep -o '<span class="flag">explained</span>' case/report.html | wc -l)
[ "$got" = "$(echo "$want" | wc -l)" ] || fail "report.html marks $got paths explained, want $(echo "$want" | wc -l)"

# Without the set, the upgrade rests on the incident's word alone.
dt scan --no-progress --no-rules --no-artifacts -b gold.dtree incident.img
got=$(jq -c 'select(.path == "/usr/bin/diffstat") | .provenance | [.reason, .trust]' out)
[ "$got" = '["package_verified","self-reported"]' ] || fail "without a set, diffstat: $got"
got=$(jq -c 'select(.path == "/usr/share/doc/diffstat/README") | .provenance.reason' out)
[ "$got" = '"not_packaged"' ] || fail "without a set, the dropped README: $got"

# diff explains the same way; between two trees only the set can speak.
dt diff --no-progress -b gold.dtree --known-good debian.kg incident.img
expect_rc 1 "diff with provenance"
got=$(jq -c 'select(.path == "/usr/sbin/mkfs.fat") | .provenance.reason' out)
[ "$got" = '"package_mismatch"' ] || fail "diff: mkfs.fat is $got"
dt_ok baseline --no-progress -o incident.dtree incident.img
dt diff --known-good debian.kg gold.dtree incident.dtree
got=$(jq -c 'select(.path == "/usr/bin/diffstat") | .provenance | [.reason, .trust]' out)
[ "$got" = '["known_good","corroborated"]' ] || fail "tree diff: diffstat is $got"

# A worker's job names known-good sets as scan's --known-good does: the job's own (submit
# --known-good), or the worker's (known_good in its config) for jobs that name none.
wtrust()
{
	zcat "res/$1/incident.img/events.jsonl.gz" |
		jq -r 'select(.path == "/usr/bin/diffstat") | .provenance.trust'
}
dt_ok submit --queue spool:sp --case KG --no-rules --no-artifacts -b gold.dtree \
	--known-good debian.kg incident.img
dt_ok submit --queue spool:sp --case PLAIN --no-rules --no-artifacts -b gold.dtree incident.img
dt worker --queue spool:sp --once --output res --work-dir "$PWD/wd"
expect_rc 0 "worker with a job's known-good set"
[ "$(wtrust KG)" = corroborated ] || fail "job with --known-good: diffstat is $(wtrust KG): $(tail -3 err)"
[ "$(wtrust PLAIN)" = self-reported ] || fail "plain job: diffstat is $(wtrust PLAIN): $(tail -3 err)"
printf 'queue = spool:%s/sp\noutput = res\nknown_good = %s/debian.kg\n' "$PWD" "$PWD" > w.conf
dt_ok submit --queue spool:sp --case CONF --no-rules --no-artifacts -b gold.dtree incident.img
dt worker --config w.conf --once --work-dir "$PWD/wd"
expect_rc 0 "worker with known_good in its config"
[ "$(wtrust CONF)" = corroborated ] || fail "config's known_good: diffstat is $(wtrust CONF): $(tail -3 err)"
# From a queue others may write, a job may not make the worker read a local file as a set.
mkdir -p shared/incoming
chmod 0733 shared/incoming
dt_ok submit --queue spool:shared --case SH --known-good debian.kg ebs://snap-0123456789abcdef0
j=$(cat out)
dt worker --queue spool:shared --once --output res --work-dir "$PWD/wd"
expect_rc 0 "worker on a shared spool"
grep -q "job: known_good '$PWD/debian.kg' is a local path, from a shared queue" "shared/failed/$j.reason" ||
	fail "a local set from a shared queue: $(cat "shared/failed/$j.reason" 2>&1; find shared -type f)"

# --known-good-name: what events and the summary call the set given just before.
dt scan --no-progress --no-rules --no-artifacts -b gold.dtree --known-good debian.kg \
	--known-good-name s3://sets/debian.kg incident.img
expect_rc 1 "scan --known-good-name"
got=$(jq -c 'select(.path == "/usr/bin/diffstat") | .provenance.known_good.set' out)
[ "$got" = '"s3://sets/debian.kg"' ] || fail "--known-good-name: diffstat's set is $got"
got=$(jq -c 'select(.event == "summary") | [.provenance.known_good[].path]' out)
[ "$got" = '["s3://sets/debian.kg"]' ] || fail "--known-good-name: the summary says $got"
dt scan --no-progress -b gold.dtree --known-good-name x incident.img
expect_rc 2 "--known-good-name without --known-good"
grep -q -- "--known-good-name names the --known-good just before it" err ||
	fail "--known-good-name alone: $(cat err)"

# --no-provenance: no provenance anywhere, and it does not go with --known-good.
dt scan --no-progress --no-rules --no-artifacts --no-provenance -b gold.dtree incident.img
[ "$(grep -c provenance out)" = 0 ] || fail "--no-provenance still explains"
dt scan --no-progress --no-rules --no-artifacts --no-provenance --known-good debian.kg \
	-b gold.dtree incident.img
expect_rc 2 "--no-provenance with --known-good"

# A damaged set is refused (exit 3) before the image is read.
cp debian.kg bad.kg
printf '\377' | dd of=bad.kg bs=1 seek=60 conv=notrunc status=none
dt scan --no-progress --no-rules --no-artifacts --known-good bad.kg -b gold.dtree incident.img
expect_rc 3 "a damaged known-good set"
grep -q "checksum mismatch" err || fail "damaged set: $(cat err)"

# A hashdeep known-file list (made by hashdeep itself) vouches by content alone: the implant's
# bytes under another name make it known_good; built into a set from a folder, the same.
mkdir -p lists
printf '#!/bin/sh\necho hi\n' > tool
(cd lists && hashdeep -c md5,sha256 ../tool > known.txt) || die "hashdeep failed"
for kg in lists/known.txt lists.kg; do
	[ "$kg" = lists.kg ] && dt_ok known-good build -o lists.kg lists
	dt scan --no-progress --no-rules --no-artifacts -b gold.dtree --known-good "$kg" \
		incident.img
	expect_rc 1 "scan with $kg"
	got=$(jq -c 'select(.path == "/usr/local/bin/implant") | .provenance |
		[.reason, .trust, .known_good.set, .known_good.package]' out)
	[ "$got" = "[\"known_good\",\"corroborated\",\"$kg\",null]" ] ||
		fail "implant with $kg: $got"
done

# known-good build -o replaces only a known-good set, and never an input, even with --force.
printf 'notes\n' > notes.txt
before=$(sha256sum notes.txt debs/diffstat_new.deb)
dt known-good build -o notes.txt lists
expect_rc 2 "known-good build over a file that is not a set"
dt known-good build --force -o debs/diffstat_new.deb debs/diffstat_new.deb
expect_rc 2 "known-good build over its own input"
[ "$(sha256sum notes.txt debs/diffstat_new.deb)" = "$before" ] || fail "a refused -o was written"
dt_ok known-good build -o lists.kg debs
dt_ok known-good build --force -o notes.txt lists
dt_ok known-good info notes.txt
[ "$(jq -r .entries out)" = 1 ] || fail "--force: notes.txt holds $(cat out)"
t_done
