#!/bin/bash
# image/vm/mkbase.sh - the Debian 12 base root of the local VM image: mmdebstrap (Debian
# packages only; apt's parallel downloads and one unpack pass, several times faster than
# debootstrap on a CI machine that starts with no cache) with systemd, the cloud kernel
# (linux-image-cloud-amd64: virtio drivers, the fastest boot) and the deltair package's
# runtime dependencies (install-deps.sh --list-runtime), so that image/provision.sh
# installs the package with no download.
# The root is kept as a tarball in the cache, keyed by the SHA-256 of this script, the
# package list, the suite and the mirror (not the rest of install-deps.sh: an edit of its
# build or test packages does not force a new base): a second run only unpacks it. A run
# stopped by a signal removes its partial root.
#   image/vm/mkbase.sh [--ssh] ROOT     unpack the base into ROOT (made; must not exist)
#     --ssh  also openssh-server and sudo (the Packer qemu source logs in over SSH)
# Environment:
#   DELTAIR_MIRROR      the Debian mirror (default: the first bookworm one of this machine's
#                       apt sources, e.g. http://deb.example.org/debian)
#   DELTAIR_BASE_CACHE  the cache folder (default /var/cache/deltair-vm)
# Run as root (mmdebstrap, chroot). Prints the tarball's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
suite=bookworm
ssh=no
[ "${1:-}" = --ssh ] && { ssh=yes; shift; }
root=${1:?usage: mkbase.sh [--ssh] ROOT}
[ $# -eq 1 ] || { echo "usage: mkbase.sh [--ssh] ROOT" >&2; exit 2; }
[ ! -e "$root" ] || { echo "mkbase: $root exists" >&2; exit 2; }
cache=${DELTAIR_BASE_CACHE:-/var/cache/deltair-vm}

# The mirror: this machine's apt sources (deb822 .sources or one-line .list), first bookworm.
apt_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -e "$f" ] || continue
		awk -v s="$suite" 'BEGIN { RS = ""; FS = "\n" }
			{ u = ""; ok = 0
			  for (i = 1; i <= NF; i++) {
				if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); u = a[2] }
				if ($i ~ /^Suites:/ && (" " $i " ") ~ (" " s " ")) ok = 1 }
			  if (ok && u != "") { print u; exit } }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -e "$f" ] || continue
		awk -v s="$suite" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) break
			if ($(i + 1) == s) print $i }' "$f"
	done
}
mirror=${DELTAIR_MIRROR:-$(apt_mirror | head -n 1)}
[ -n "$mirror" ] || { echo "mkbase: no $suite mirror in the apt sources: set DELTAIR_MIRROR" >&2; exit 2; }

pkgs=(systemd-sysv udev linux-image-cloud-amd64 initramfs-tools e2fsprogs kmod)
[ "$ssh" = yes ] && pkgs+=(openssh-server sudo)
mapfile -t runtime < <("$here/../install-deps.sh" --list-runtime)
pkgs+=("${runtime[@]}")
key=$( { cat "$0"; printf '%s\n' "$suite" "$mirror" "${pkgs[@]}"; } |
	sha256sum | cut -c1-16)
tarball=$cache/base-$suite-$key.tar.zst

if [ ! -s "$tarball" ]; then
	echo "mkbase: building the base root (mmdebstrap $suite from $mirror; cache $tarball)" >&2
	mkdir -p "$cache"
	work=$(mktemp -d "$cache/.build-XXXXXX")
	# EXIT alone does not run on a signal: INT, TERM and HUP exit through it.
	trap 'rm -rf "$work"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
	# force-unsafe-io: no fsync per unpacked file; the root is packed into a tarball at the end.
	mmdebstrap --variant=minbase --dpkgopt=force-unsafe-io --include="$(IFS=,; echo "${pkgs[*]}")" \
		"$suite" "$work/root" "$mirror" > "$work/mmdebstrap.log" 2>&1 ||
		{ tail -n 30 "$work/mmdebstrap.log" >&2; echo "mkbase: mmdebstrap failed" >&2; exit 1; }
	ls "$work"/root/boot/vmlinuz-* "$work"/root/boot/initrd.img-* > /dev/null ||
		{ echo "mkbase: no kernel or initrd in the base" >&2; exit 1; }
	# Nothing of the build machine: no apt lists or downloaded packages.
	rm -rf "$work"/root/var/cache/apt/archives/*.deb "$work"/root/var/lib/apt/lists/*
	echo deltair > "$work/root/etc/hostname"
	tar -C "$work/root" --numeric-owner --xattrs -I 'zstd -T0 -3 -q' -cf "$work/base.tar.zst" .
	mv -f "$work/base.tar.zst" "$tarball"
else
	echo "mkbase: the base root from the cache ($tarball)" >&2
fi
mkdir -p "$root"
tar -C "$root" --numeric-owner --xattrs -I 'zstd -q' -xf "$tarball"
echo "$tarball"
