#!/bin/bash
# image/mkdeb.sh - the deltair Debian package (dpkg-deb layout, no debhelper): the runtime
# layout of image/layout.sh, maintainer scripts from image/deb/, and Depends: the packages of
# `image/install-deps.sh --list-runtime` (the same list the AMI installs).
#   image/mkdeb.sh BINARY VERSION OUTDIR    prints the .deb's path
set -euo pipefail
bin=${1:?usage: mkdeb.sh BINARY VERSION OUTDIR}
version=${2:?usage: mkdeb.sh BINARY VERSION OUTDIR}
outdir=${3:?usage: mkdeb.sh BINARY VERSION OUTDIR}
top=$(cd "$(dirname "$0")/.." && pwd)
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root

"$top/image/layout.sh" "$root" "$bin"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/bin/deltair"
doc=$root/usr/share/doc/deltair
gzip -9n "$doc"/*.md
cat > "$doc/copyright" << EOT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: deltair
Source: the deltair repository

Files: *
Copyright: 2026 the deltair authors
License: other
 The deltair repository names no licence yet; until it does, this package may be used
 only as its authors allow.
EOT
printf 'deltair (%s) unstable; urgency=medium\n\n  * Built from the deltair tree.\n\n -- deltair maintainers <deltair@users.noreply.github.com>  %s\n' \
	"$version" "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$top" log -1 --format=%ct 2> /dev/null || date +%s)}")" |
	gzip -9n > "$doc/changelog.gz"
install -d "$root/usr/share/lintian/overrides"
install -m 0644 "$top/image/deb/lintian-overrides" "$root/usr/share/lintian/overrides/deltair"

install -d "$root/DEBIAN"
depends=$("$top/image/install-deps.sh" --list-runtime | paste -sd, | sed 's/,/, /g')
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" << EOT
Package: deltair
Version: $version
Architecture: $arch
Maintainer: deltair maintainers <deltair@users.noreply.github.com>
Installed-Size: $size
Depends: $depends
Section: admin
Priority: optional
Homepage: https://github.com/deltair/deltair
Description: disk forensics against a gold baseline, and its snapshot worker
 deltair baselines a gold disk image into a Merkle hash-tree and reports
 what an incident image changed against it (ext4, XFS, NTFS, FAT, ...; raw,
 E01, VMDK, EBS snapshots). This package holds the binary, the YARA rules and
 artifact definitions, and the systemd units of the snapshot worker
 appliance (installed disabled).
EOT
( cd "$root" && find etc -type f | sed 's|^|/|' | sort ) > "$root/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$top/image/deb/$s" "$root/DEBIAN/$s"
done
( cd "$root" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z |
	xargs -0 md5sum | sed 's| \./| |' ) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/conffiles" "$root/DEBIAN/control"
mkdir -p "$outdir"
out=$outdir/deltair_${version}_$arch.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" > /dev/null
echo "$out"
