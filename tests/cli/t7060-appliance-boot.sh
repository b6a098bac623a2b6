#!/bin/bash
# t7060: the appliance as a local VM image, booted under QEMU (`make check APPLIANCE=1`, which
# .ci/run runs, or `make appliance-test` alone; plain `make check` skips it). image/vm/mkimage.sh builds the image from
# the cached mmdebstrap'd Debian 12 base with the same image/provision.sh and
# image/cleanup.sh Packer runs and the package `make deb` built. A second disk, a NoCloud-style
# seed (ext4 labelled cidata), holds the configuration as user data, a spool with one job
# (`deltair submit`) and make demo's images (tests/demo.sh). The VM boots (TCG: no KVM here)
# from the disk with the kernel and initrd beside it, no hand step: deltair-firstboot applies
# the user data, the worker unit starts and serves the job onto the seed disk. A test-only
# observer unit (added with mkimage.sh --extra, not part of the appliance) waits for the job
# to leave the spool, records `systemctl --failed` and the journal on the seed disk and
# powers off. The test reads the seed disk back (a read-only loop mount) and checks: the job
# in done/; the results equal a local `deltair scan -x` of the same pair (events but for the
# summary's elapsed time and the evidence paths; extracted files by sha256sum); COMPLETE's
# digests by sha256sum; the worker ran as the deltair user; no failed unit.
# Times of make appliance-test (TCG; 2 cores shared with helpers' builds and tests): warm
# (base cached) 2 min 36 s wall, 63 s user+sys at load 6-11; cold (mmdebstrap of the base
# too) 18 min 22 s wall, 192 s user+sys at load 12-17 (image 928 s of it: the wall time is
# the load's; with debootstrap it was 238 s user+sys). tests/run gives it
# the limit of its test-timeout line below. A cold run at load 4-8: 5 min 37 s wall, 208 s
# user+sys.
# test-timeout: 1500
#   DELTAIR_DEB  the package (default build/deltair_*.deb, newest)
#   DELTAIR_BASE_CACHE  where image/vm/mkbase.sh keeps the base root (default /var/cache/deltair-vm)
. "$TOP/tests/cli/lib.sh"
[ "${DELTAIR_APPLIANCE_TEST:-}" = 1 ] ||
	skip "the appliance boot test runs in make check APPLIANCE=1 and make appliance-test"
need qemu-system-x86_64 mmdebstrap mke2fs zstd jq sha256sum zcat unshare
deb=${DELTAIR_DEB:-$(ls -t "$TOP"/build/deltair_*.deb 2> /dev/null | head -n 1)}
[ -n "$deb" ] && [ -s "$deb" ] || die "no deltair .deb: run make deb (or set DELTAIR_DEB)"
t0=$(date +%s)
SEED=/var/lib/deltair/seed

# 1. make demo's images: gold.img, its baseline, the compromised incident.img.
DELTAIR=$DELTAIR "$TOP/tests/demo.sh" "$PWD/demo" > demo.log 2>&1 || die "tests/demo.sh: $(tail -5 demo.log)"
for f in gold.dtree incident.img; do [ -s "demo/$f" ] || die "tests/demo.sh made no $f"; done

# 2. The image, with the observer (test only).
mkdir -p extra/etc/systemd/system/multi-user.target.wants extra/usr/local/sbin
cat > extra/usr/local/sbin/deltair-test-observer << 'SH'
#!/bin/bash
# The boot test's observer: waits (at most 20 minutes) for the spool's job to be served,
# then for the boot to settle, records the system's state on the seed disk, powers off.
seed=/var/lib/deltair/seed out=/var/lib/deltair/seed/test-out
say() { echo "deltair-test-observer: $*" > /dev/console; }
if ! mountpoint -q "$seed"; then
	say "no seed disk at $seed"; systemctl poweroff; exit 0
fi
mkdir -p "$out"
for _ in $(seq 600); do
	[ -n "$(find "$seed/spool/done" "$seed/spool/failed" -type f 2> /dev/null)" ] && break
	sleep 2
done
timeout 300 systemctl is-system-running --wait > "$out/state" 2>&1
systemctl --failed --plain --no-legend > "$out/failed" 2>&1
systemctl show -p User,ActiveState,NRestarts,Requires,After deltair-worker.service > "$out/worker.show"
systemctl show -p ActiveState,Result deltair-firstboot.service > "$out/firstboot.show"
cp /etc/deltair/deltair.conf /var/lib/deltair/firstboot.done "$out/" 2>&1
journalctl -b -o short-monotonic --no-pager > "$out/journal.txt" 2>&1
say "state $(cat "$out/state"); failed units: $(wc -l < "$out/failed"); powering off"
sync
systemctl poweroff
SH
chmod 0755 extra/usr/local/sbin/deltair-test-observer
cat > extra/etc/systemd/system/deltair-test-observer.service << 'UNIT'
[Unit]
Description=deltair boot test: wait for the job, record the state, power off
After=var-lib-deltair-seed.mount

[Service]
Type=exec
ExecStart=/usr/local/sbin/deltair-test-observer
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
UNIT
ln -s ../deltair-test-observer.service extra/etc/systemd/system/multi-user.target.wants/
# The appliance waits 60 s for a seed disk (x-systemd.device-timeout in provision.sh's fstab
# line: on EC2 there is none, and firstboot should not wait long for it). Under emulation on a
# loaded host udevd itself can take 40 s to start and the label came too late (seen with load
# 17): the test's drop-in, applied after the generator's 50-device-timeout.conf, waits longer.
dev='extra/etc/systemd/system/dev-disk-by\x2dlabel-cidata.device.d'
mkdir -p "$dev"
printf '[Unit]\nJobRunningTimeoutSec=900\n' > "$dev/90-boot-test.conf"
"$TOP/image/vm/mkimage.sh" --extra extra "$deb" vm > mkimage.log 2>&1 || die "mkimage.sh: $(tail -20 mkimage.log)"
t1=$(date +%s)
note "image built in $((t1 - t0)) s ($(grep -o 'building the base root\|the base root from the cache' mkimage.log | head -n 1))"

# 3. The seed disk: user data, the demo pair, a spool with one job, owned by deltair's user.
ids=$(awk -F: '$1 == "deltair" { print $3 ":" $4 }' vm/root/etc/passwd)
[ -n "$ids" ] || die "the image has no deltair user"
mkdir -p seed/demo seed/results
cp --sparse=always demo/gold.dtree demo/incident.img seed/demo/
cat > seed/user-data << UD
# deltair user data: the same key = value lines as EC2 user data (deltair-firstboot)
queue = spool:$SEED/spool
output = $SEED/results
host = appliance-vm
concurrency = 1
poll_seconds = 2
UD
printf 'instance-id: deltair-boot-test\nlocal-hostname: deltair\n' > seed/meta-data
dt submit --queue spool:seed/spool --case IR-VM --baseline "$SEED/demo/gold.dtree" "$SEED/demo/incident.img"
expect_rc 0 "submit" || die "submit failed: $(cat err)"
job=$(cat out)
chown -R "$ids" seed
mke2fs -q -F -t ext4 -L cidata -d seed seed.raw 256M || die "mke2fs of the seed disk failed"

# 4. Boot: TCG, 2 CPUs, 2 GiB, the serial console to a log; QEMU exits at the power-off.
# no_timer_check: on a loaded host the emulated timer can miss the kernel's IO-APIC check
# ("IO-APIC + timer doesn't work!", a panic at 0.04 s; seen here at load 30).
qemu-system-x86_64 -accel tcg,thread=multi -smp 2 -m 2G -nodefaults -display none -no-reboot \
	-serial file:console.log -kernel vm/vmlinuz -initrd vm/initrd.img \
	-append "root=/dev/vda rw console=ttyS0 panic=-1 no_timer_check" \
	-drive file=vm/deltair.raw,format=raw,if=virtio -drive file=seed.raw,format=raw,if=virtio \
	-nic none > qemu.log 2>&1 &
qpid=$!
at_exit "kill $qpid"
limit=${DELTAIR_APPLIANCE_BOOT_SECONDS:-1200}
while kill -0 "$qpid" 2> /dev/null; do
	[ $(($(date +%s) - t1)) -lt "$limit" ] || { kill "$qpid"; die "the VM did not power off in $limit s: $(tail -30 console.log)"; }
	sleep 2
done
wait "$qpid" || die "qemu failed: $(cat qemu.log)"
t2=$(date +%s)
note "VM booted, served the job and powered off in $((t2 - t1)) s"
grep -q 'deltair-test-observer: state' console.log || die "the observer did not finish: $(tail -40 console.log)"

# 5. Read the seed disk back.
t_mount_ro seed.raw back
O=back/test-out
[ -f "back/spool/done/$job" ] || fail "the job is not in done/: $(cd back/spool && find . -type f)"
[ ! -s "$O/failed" ] || fail "failed units: $(cat "$O/failed")"
[ -e "$O/failed" ] || fail "no systemctl --failed record"
grep -q -x running "$O/state" || fail "the system is not running: $(cat "$O/state")"
grep -q -x 'User=deltair' "$O/worker.show" || fail "the worker unit: $(cat "$O/worker.show")"
grep -q -x 'ActiveState=active' "$O/worker.show" || fail "the worker unit: $(cat "$O/worker.show")"
grep -q -x 'Result=success' "$O/firstboot.show" || fail "deltair-firstboot: $(cat "$O/firstboot.show")"
# The worker reads deltair.conf itself (no JSON config any more): the user data's keys there;
# its host is in COMPLETE below, its queue is the spool it served.
grep -q "^queue = spool:$SEED/spool\$" "$O/deltair.conf" && grep -q '^host = appliance-vm$' "$O/deltair.conf" ||
	fail "user data not applied: $(tail -8 "$O/deltair.conf")"
# As systemd read the unit: a failed deltair-firstboot keeps the worker down.
for dep in Requires After; do
	grep -q "^$dep=.*\bdeltair-firstboot\.service\b" "$O/worker.show" ||
		fail "the worker unit's $dep= lacks deltair-firstboot: $(cat "$O/worker.show")"
done

R=back/results/IR-VM/incident.img
for f in COMPLETE events.jsonl.gz summary.json extracted/manifest.jsonl; do
	[ -f "$R/$f" ] || fail "no results/IR-VM/incident.img/$f"
done
# The oracle: a local scan of the same pair, with the default rules and artifacts (the
# tree's rules/ and artifacts/ and Debian's forensic-artifacts, as the package's).
dt scan --no-progress --baseline "$PWD/demo/gold.dtree" -x plain-x -o plain.jsonl "$PWD/demo/incident.img"
[ "$rc" -le 1 ] || die "deltair scan: rc $rc: $(cat err)"
norm() { sed "s|$1|EVIDENCE|g" | jq -c 'if .event == "summary" then del(.elapsed) else . end'; }
zcat "$R/events.jsonl.gz" | norm "$SEED/demo" > vm.norm || fail "events.jsonl.gz is not gzip"
norm "$PWD/demo" < plain.jsonl > plain.norm
[ -s plain.norm ] || die "the local scan wrote no events"
cmp -s vm.norm plain.norm || fail "the VM's events differ from deltair scan's: $(diff vm.norm plain.norm | head -8)"
grep -q '"path":"/etc/cron.d/sysupdate"' vm.norm || fail "the demo's implant is not in the VM's events"
(cd plain-x && find . -type f ! -name COMPLETE -exec sha256sum {} + | sort -k2) > plain.sums
(cd "$R/extracted" && find . -type f ! -name COMPLETE -exec sha256sum {} + | sort -k2) > vm.sums
cmp -s plain.sums vm.sums || fail "extracted files differ: $(diff plain.sums vm.sums | head -6)"
while read -r k; do
	want=$(jq -r --arg k "$k" '.objects[$k]' "$R/COMPLETE")
	got=$(sha256sum < "$R/$k" | cut -c1-64)
	[ "$want" = "$got" ] || fail "COMPLETE says $k is $want, sha256sum says $got"
done < <(jq -r '.objects | keys[]' "$R/COMPLETE")
jq -e --arg id "$job" '.job == $id and .case == "IR-VM" and .host == "appliance-vm"' "$R/COMPLETE" > /dev/null ||
	fail "COMPLETE: $(jq -c 'del(.objects)' "$R/COMPLETE")"
note "total $(($(date +%s) - t0)) s"
if [ "$T_FAILS" -gt 0 ]; then
	cp console.log "${DELTAIR_APPLIANCE_LOG:-/tmp/deltair-t7060-console.log}" 2> /dev/null &&
		note "console log kept in ${DELTAIR_APPLIANCE_LOG:-/tmp/deltair-t7060-console.log}"
fi
t_done
