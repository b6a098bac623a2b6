#!/bin/bash
# image/cleanup.sh - the last step of an appliance build (Packer runs it as root after
# provision.sh): nothing of the build stays in the image. Removes the uploaded package and
# scripts, apt's caches and lists, SSH host keys (regenerated at first boot: by cloud-init on
# EC2, by deltair-ssh-hostkeys.service on the local VM image), the build's authorised key
# (local VM image), shell histories, the machine id (a new one at first boot), cloud-init's
# per-instance state, logs, and the first-boot marker, so that user data is read at launch.
set -euo pipefail
shopt -s nullglob

rm -rf /tmp/deltair.deb /tmp/image /tmp/deltair-* /var/tmp/deltair-*
apt-get clean
rm -rf /var/lib/apt/lists/*
rm -f /etc/ssh/ssh_host_*
rm -f /var/lib/deltair/firstboot.done
if command -v cloud-init > /dev/null; then
	cloud-init clean --logs
else
	# The local VM's base authorised a build key for root: gone, like the root password.
	rm -f /root/.ssh/authorized_keys
fi
for h in /root /home/*; do
	rm -f "$h"/.bash_history "$h"/.lesshst "$h"/.viminfo "$h"/.python_history "$h"/.wget-hsts
done
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id
find /var/log -type f \( -name '*.gz' -o -name '*.[0-9]' -o -name '*.old' \) -delete
find /var/log -type f -exec truncate -s 0 {} +
rm -rf /var/log/journal/*
# This script's own shell must not write one either.
unset HISTFILE
echo "cleanup: done"
