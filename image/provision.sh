#!/bin/bash
# image/provision.sh - turn a Debian 12 machine into the deltair appliance (Packer runs it as
# root on the AMI's build instance and on the qemu base; so can anyone, by hand):
# runtime packages (install-deps.sh --runtime), the deltair package, the units enabled.
#   DELTAIR_DEB=/path/deltair.deb DELTAIR_IMAGE=/path/to/image image/provision.sh
set -euo pipefail
deb=${DELTAIR_DEB:?DELTAIR_DEB must name the deltair .deb}
image=${DELTAIR_IMAGE:-$(cd "$(dirname "$0")" && pwd)}
export DEBIAN_FRONTEND=noninteractive

# Wait for cloud-init (it runs apt on first boot of a cloud image) before using apt.
if command -v cloud-init > /dev/null; then
	cloud-init status --wait > /dev/null || true
fi
"$image/install-deps.sh" --runtime
# The package's own Depends are the same list: apt installs nothing more.
apt-get install -y -q --no-install-recommends "$(readlink -f "$deb")"
# The sweep timer deletes volumes left by crashed attach-mode workers (docs/worker.md).
systemctl enable deltair-firstboot.service deltair-worker.service deltair-incident.service \
	deltair-sweep.timer
# A machine without cloud-init (the local VM image) regenerates SSH host keys at boot, and
# reads user data from a NoCloud-style seed disk (label cidata) mounted at
# /var/lib/deltair/seed, if one is attached (image/vm/deltair-firstboot.default).
if ! command -v cloud-init > /dev/null; then
	if [ -d /etc/ssh ]; then
		install -m 0644 "$image/vm/deltair-ssh-hostkeys.service" /etc/systemd/system/
		systemctl enable deltair-ssh-hostkeys.service
	fi
	install -m 0644 "$image/vm/deltair-firstboot.default" /etc/default/deltair-firstboot
	install -d /etc/systemd/system/deltair-firstboot.service.d
	install -m 0644 "$image/vm/deltair-firstboot.service.d/seed.conf" \
		/etc/systemd/system/deltair-firstboot.service.d/
	# Headless: systemd-firstboot must find the locale and time zone set, not ask on the console.
	[ -e /etc/locale.conf ] || echo 'LANG=C.UTF-8' > /etc/locale.conf
	[ -e /etc/localtime ] || [ -L /etc/localtime ] || ln -s /usr/share/zoneinfo/Etc/UTC /etc/localtime
	grep -q '^LABEL=cidata[[:blank:]]' /etc/fstab 2> /dev/null ||
		echo 'LABEL=cidata /var/lib/deltair/seed auto nofail,nosuid,nodev,noexec,x-systemd.device-timeout=60s 0 0' \
			>> /etc/fstab
fi
deltair version
echo "provision: deltair installed, units enabled"
