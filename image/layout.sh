#!/bin/bash
# image/layout.sh - install the appliance's runtime layout under DESTDIR (the .deb's tree;
# `make deb` and the tests use it):
#   /usr/bin/deltair                      the binary (built with PREFIX=/usr)
#   /usr/share/deltair/{rules,artifacts}  the packaged YARA rules and artifact definitions
#   /etc/deltair/deltair.conf, deltair.env  the worker's configuration (conffiles)
#   /lib/systemd/system/deltair-*.{service,timer}  the units (enabled by image/provision.sh)
#   /usr/libexec/deltair/firstboot        EC2 user data -> deltair.conf (deltair-firstboot)
#   /usr/libexec/deltair/incident         one incident, one instance (deltair-incident)
#   /etc/cloud/cloud.cfg.d/99-deltair.cfg  cloud-init never runs user data
#   /usr/share/doc/deltair/               README, operator guide, manual, formats
#   /var/spool/deltair /var/lib/deltair/{results,work} /var/cache/deltair/baselines
#                                          made (owner deltair) by the package's postinst
#   image/layout.sh DESTDIR BINARY
set -euo pipefail
dest=${1:?usage: layout.sh DESTDIR BINARY}
bin=${2:?usage: layout.sh DESTDIR BINARY}
top=$(cd "$(dirname "$0")/.." && pwd)

install -d -m 0755 "$dest/usr/bin" "$dest/usr/share/deltair/rules" \
	"$dest/usr/share/deltair/artifacts" "$dest/etc/deltair" "$dest/lib/systemd/system" \
	"$dest/usr/libexec/deltair" "$dest/etc/cloud/cloud.cfg.d" "$dest/usr/share/doc/deltair"
install -m 0755 "$bin" "$dest/usr/bin/deltair"
install -m 0644 "$top"/rules/*.yar "$dest/usr/share/deltair/rules/"
install -m 0644 "$top"/artifacts/*.yaml "$dest/usr/share/deltair/artifacts/"
install -m 0644 "$top/image/deltair.conf" "$top/image/deltair.env" "$dest/etc/deltair/"
install -m 0644 "$top"/image/systemd/deltair-*.service "$top"/image/systemd/deltair-*.timer \
	"$dest/lib/systemd/system/"
install -m 0755 "$top/image/firstboot" "$top/image/incident" \
	"$dest/usr/libexec/deltair/"
install -m 0644 "$top/image/cloud-init.cfg" "$dest/etc/cloud/cloud.cfg.d/99-deltair.cfg"
install -m 0644 "$top/README.md" "$top"/docs/*.md "$dest/usr/share/doc/deltair/"
