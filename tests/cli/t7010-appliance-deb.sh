#!/bin/bash
# t7010: the deltair Debian package (image/mkdeb.sh, what `make deb` runs) as dpkg-deb and
# lintian see it: the runtime layout, conffiles, Depends equal to install-deps.sh's runtime
# list and covering every shared library the binary needs (dpkg -S of each), md5sums that
# match, maintainer scripts that parse, and the extracted binary finding its packaged data.
. "$TOP/tests/cli/lib.sh"
need dpkg-deb dpkg ldd objdump

deb=$("$TOP/image/mkdeb.sh" "$DELTAIR" 0.1.0 .) || die "mkdeb.sh failed"
[ -f "$deb" ] || die "mkdeb.sh printed '$deb', no such file"

# 1. Control fields.
dpkg-deb -f "$deb" Package Version Architecture > fields || die "dpkg-deb -f failed"
printf 'Package: deltair\nVersion: 0.1.0\nArchitecture: %s\n' "$(dpkg --print-architecture)" |
	cmp -s - fields || fail "control fields: $(cat fields)"
dpkg-deb -f "$deb" Depends | tr -d ' ' | tr ',' '\n' | sort > depends
"$TOP/image/install-deps.sh" --list-runtime | sort > runtime
cmp -s depends runtime || fail "Depends differs from install-deps.sh --list-runtime: $(diff depends runtime)"
# A mistyped or extra argument is refused before apt or npm runs (stand-ins record any call).
mkdir -p fakebin
for c in apt-get dpkg-query npm; do
	printf '#!/bin/sh\necho "%s $*" >> "%s/calls"\n' "$c" "$PWD" > "fakebin/$c"
	chmod +x "fakebin/$c"
done
for a in --runtme "--runtime --list-runtime" --help; do
	# shellcheck disable=SC2086 # two words for the extra-argument case
	PATH=$PWD/fakebin:$PATH "$TOP/image/install-deps.sh" $a > deps.out 2>&1
	rc=$?
	[ $rc = 2 ] || fail "install-deps.sh $a: exit $rc, not 2: $(cat deps.out)"
	grep -q '^usage: install-deps.sh' deps.out || fail "install-deps.sh $a: no usage line: $(cat deps.out)"
	[ ! -e calls ] || fail "install-deps.sh $a ran: $(cat calls)"
	rm -f calls
done

# 2. Contents: the layout, owned by root, modes as installed.
dpkg-deb -c "$deb" > contents || die "dpkg-deb -c failed"
for p in ./usr/bin/deltair ./usr/share/deltair/rules/ ./usr/share/deltair/artifacts/ \
	./etc/deltair/deltair.conf ./etc/deltair/deltair.env ./lib/systemd/system/deltair-worker.service \
	./lib/systemd/system/deltair-sweep.service ./lib/systemd/system/deltair-sweep.timer \
	./lib/systemd/system/deltair-firstboot.service ./usr/libexec/deltair/firstboot \
	./lib/systemd/system/deltair-incident.service ./usr/libexec/deltair/incident \
	./etc/cloud/cloud.cfg.d/99-deltair.cfg ./usr/share/doc/deltair/copyright; do
	grep -q " $p\$" contents || fail "the package lacks $p"
done
for f in "$TOP"/rules/*.yar "$TOP"/artifacts/*.yaml; do
	grep -q "/usr/share/deltair/$(basename "$(dirname "$f")")/$(basename "$f")\$" contents ||
		fail "the package lacks $(basename "$f")"
done
awk '{ print $2 }' contents | grep -v -x root/root && fail "files not owned by root/root"
grep -q -- '-rwxr-xr-x .* ./usr/bin/deltair$' contents || fail "usr/bin/deltair is not 0755"
grep -E -q '\./(build|src|tests)/|\.o$' contents && fail "build tree files in the package"

# 3. Control archive: conffiles, md5sums, scripts.
dpkg-deb -e "$deb" ctl || die "dpkg-deb -e failed"
dpkg-deb -x "$deb" x || die "dpkg-deb -x failed"
[ "$(sort ctl/conffiles)" = "$(cd x && find etc -type f | sed 's|^|/|' | sort)" ] ||
	fail "conffiles is not every file under /etc: $(cat ctl/conffiles)"
(cd x && md5sum --quiet -c ../ctl/md5sums) > md5.out 2>&1 || fail "md5sums: $(head -5 md5.out)"
[ "$(wc -l < ctl/md5sums)" = "$(cd x && find . -type f | wc -l)" ] || fail "md5sums does not list every file"
for s in postinst prerm postrm; do
	[ -x "ctl/$s" ] || { fail "no executable $s"; continue; }
	sh -n "ctl/$s" || fail "$s does not parse"
done

# 4. Every library the binary links (its NEEDED entries, resolved by ldd) comes from a package
# it depends on (dpkg -S, the oracle); the libraries those pull in are their packages' business.
objdump -p x/usr/bin/deltair | awk '$1 == "NEEDED" { print $2 }' > needed
# A sanitizer build (SAN=1) links its runtimes, and libstdc++ for them: not the package's.
if grep -q '^libasan' needed; then
	note "sanitizer build: its runtime libraries are left out of the Depends check"
	grep -v -E '^lib(asan|ubsan|lsan|tsan|stdc\+\+)\.' needed > needed.pkg || true
	mv needed.pkg needed
fi
ldd x/usr/bin/deltair | awk '/=> \// { print $1, $3 }' > resolved
grep -F -w -f needed resolved | awk '{ print $2 }' > libs
[ "$(wc -l < libs)" = "$(wc -l < needed)" ] || die "ldd did not resolve every NEEDED library: $(cat needed)"
while read -r lib; do
	real=$(readlink -f "$lib")
	pkg=$(dpkg -S "$lib" 2> /dev/null || dpkg -S "$real" 2> /dev/null || dpkg -S "/usr$lib" 2> /dev/null) ||
		{ fail "no package owns $lib"; continue; }
	pkg=${pkg%%:*}
	grep -q -x "$pkg" depends || fail "$lib comes from $pkg, which is not in Depends"
done < libs

# 5. The extracted binary runs and finds the packaged rules and artifacts (beside it).
x/usr/bin/deltair version > version.out 2>&1 || fail "the packaged binary does not run: $(cat version.out)"
grep -q 0.1.0 version.out || fail "deltair version: $(cat version.out)"
DELTAIR_DATADIR= x/usr/bin/deltair artifacts list --all > arts.out 2>&1 ||
	fail "the packaged binary does not find its artifacts: $(head -3 arts.out)"
bash -n x/usr/libexec/deltair/firstboot || fail "firstboot does not parse"

# 6. lintian, Debian's own package checker: no error, no warning.
if command -v lintian > /dev/null; then
	lintian --fail-on error,warning "$deb" > lintian.out 2>&1 || fail "lintian: $(cat lintian.out)"
else
	note "lintian not installed: that check skipped"
fi
t_done
