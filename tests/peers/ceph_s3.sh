#!/bin/bash
# ceph_s3.sh - a real S3 for the tests: Debian's radosgw on a throw-away one-node Ceph.
#
#   ceph_s3.sh start DIR    start it under DIR (made, must not exist); print the variables
#                           CEPH_S3_URL, CEPH_S3_ACCESS_KEY, CEPH_S3_SECRET_KEY (sh syntax)
#   ceph_s3.sh stop DIR     stop every daemon of DIR and remove DIR
# Sourced (tests/cli/lib.sh does), it defines ceph_s3_start and ceph_s3_stop, which set
# those variables instead of printing them.
#
# The cluster: one monitor and one OSD on the memstore object store (RAM, nothing on disk
# but logs), `auth none` between the daemons and crc-mode messengers, pools of one PG and
# size 1, no manager; radosgw (beast) on 127.0.0.1 on a port the OS picked, and a user made
# with radosgw-admin with fake keys. SSE-KMS works against rgw's "testing" KMS backend
# (key ids testkey-1 and testkey-2) and plain HTTP is allowed for encryption headers.
# Everything (config, admin sockets, logs, pid files) lives under DIR: nothing in /etc,
# /var/lib/ceph or /run is touched, and several clusters may run at once.
# Packages: ceph-mon ceph-osd radosgw ceph-common (image/install-deps.sh, TEST).

CEPH_S3_ACCESS_KEY=${CEPH_S3_ACCESS_KEY:-AKIDCEPHTESTKEY00001}
CEPH_S3_SECRET_KEY=${CEPH_S3_SECRET_KEY:-cephTestSecretKey/0000000000000000000000}
CEPH_S3_PY=${CEPH_S3_PY:-/usr/bin/python3}

# n free TCP ports on 127.0.0.1, as the OS picks them.
_ceph_s3_ports()
{
	"$CEPH_S3_PY" -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

_ceph_s3_fail()
{
	echo "ceph_s3: $*" >&2
	return 1
}

# Wait until CMD succeeds, at most N tenths of a second.
_ceph_s3_wait()
{
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" > /dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

_ceph_s3_http_up()
{
	# Any HTTP answer will do: radosgw is serving.
	exec 9<> "/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET / HTTP/1.0\r\n\r\n' >&9
	head -c 12 <&9 | grep -q '^HTTP/1'
	local rc=$?
	exec 9>&-
	return $rc
}

ceph_s3_start()
{
	local d=$1 mp rp fsid uuid conf c k1 k2
	[ -e "$d" ] && { _ceph_s3_fail "$d exists"; return 1; }
	mkdir -p "$d/mon" "$d/osd" "$d/run" "$d/log" || return 1
	d=$(cd "$d" && pwd)
	read -r mp rp < <(_ceph_s3_ports 2) || { _ceph_s3_fail "no free ports"; return 1; }
	fsid=$(cat /proc/sys/kernel/random/uuid)
	uuid=$(cat /proc/sys/kernel/random/uuid)
	k1=$(head -c 32 /dev/urandom | base64)
	k2=$(head -c 32 /dev/urandom | base64)
	conf=$d/ceph.conf
	cat > "$conf" << EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mp
mon initial members = a
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms client mode = crc
ms cluster mode = crc
ms service mode = crc
ms bind ipv6 = false
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 1
osd pool default pgp num = 1
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
paxos propose interval = 0.01
paxos min wait = 0.001
mon lease = 5
mon data avail warn = 1
mon data avail crit = 0
osd crush chooseleaf type = 0
osd objectstore = memstore
memstore device bytes = 1073741824
run dir = $d/run
admin socket = $d/run/\$name.asok
log file = $d/log/\$name.log
pid file = $d/run/\$name.pid
mon data = $d/mon
osd data = $d/osd
keyring = $d/keyring
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rp
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = testkey-1=$k1 testkey-2=$k2
rgw crypt default encryption key = $k1
EOF
	c=(ceph -c "$conf" --connect-timeout 10)
	ceph-authtool --create-keyring "$d/keyring" --gen-key -n mon. --cap mon 'allow *' \
		> /dev/null || { _ceph_s3_fail "ceph-authtool failed"; return 1; }
	monmaptool --create --addv a "[v2:127.0.0.1:$mp]" --fsid "$fsid" "$d/monmap" \
		> /dev/null || { _ceph_s3_fail "monmaptool failed"; return 1; }
	ceph-mon -c "$conf" --mkfs -i a --monmap "$d/monmap" --keyring "$d/keyring" \
		> "$d/log/mkfs.out" 2>&1 || { _ceph_s3_fail "ceph-mon --mkfs: $(tail -1 "$d/log/mkfs.out")"; return 1; }
	# In the foreground, as our children: stopped and reaped by ceph_s3_stop.
	ceph-mon -f -c "$conf" -i a > "$d/log/mon.out" 2>&1 &
	echo $! >> "$d/pids"
	_ceph_s3_wait 100 timeout 10 "${c[@]}" mon stat ||
		{ _ceph_s3_fail "the monitor did not answer"; return 1; }
	timeout 20 "${c[@]}" osd new "$uuid" > /dev/null 2>&1 ||
		{ _ceph_s3_fail "ceph osd new failed"; return 1; }
	printf '[osd.0]\n' >> "$conf"
	ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$uuid" > "$d/log/osd-mkfs.out" 2>&1 ||
		{ _ceph_s3_fail "ceph-osd --mkfs: $(tail -1 "$d/log/osd-mkfs.out")"; return 1; }
	ceph-osd -f -c "$conf" -i 0 > "$d/log/osd.out" 2>&1 &
	echo $! >> "$d/pids"
	_ceph_s3_wait 300 sh -c "timeout 10 ${c[*]} osd stat | grep -q '1 up'" ||
		{ _ceph_s3_fail "the OSD did not come up"; return 1; }
	radosgw -f -c "$conf" -n client.rgw > "$d/log/rgw.out" 2>&1 &
	echo $! >> "$d/pids"
	_ceph_s3_wait 300 _ceph_s3_http_up "$rp" ||
		{ _ceph_s3_fail "radosgw did not answer on port $rp"; return 1; }
	timeout 60 radosgw-admin -c "$conf" user create --uid test \
		--display-name test --access-key "$CEPH_S3_ACCESS_KEY" \
		--secret-key "$CEPH_S3_SECRET_KEY" > "$d/log/user.out" 2>&1 ||
		{ _ceph_s3_fail "radosgw-admin user create: $(tail -1 "$d/log/user.out")"; return 1; }
	CEPH_S3_URL=http://127.0.0.1:$rp
	CEPH_S3_DIR=$d
}

ceph_s3_stop()
{
	local d=$1 pid i
	[ -s "$d/pids" ] || { rm -rf "$d"; return 0; }
	# Throw-away daemons on RAM: SIGKILL loses nothing, and a clean stop takes seconds.
	while read -r pid; do
		kill -9 "$pid" 2> /dev/null || continue
		wait "$pid" 2> /dev/null
		# Not our child (started by "ceph_s3.sh start"): wait until it is gone or a zombie.
		for ((i = 0; i < 100; i++)); do
			[ -r "/proc/$pid/stat" ] || break
			[ "$(cut -d' ' -f3 "/proc/$pid/stat" 2> /dev/null)" = Z ] && break
			sleep 0.05
		done
	done < "$d/pids"
	rm -rf "$d"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-}" in
	start)
		ceph_s3_start "$2" || exit 1
		printf 'CEPH_S3_URL=%s\nCEPH_S3_ACCESS_KEY=%s\nCEPH_S3_SECRET_KEY=%s\n' \
			"$CEPH_S3_URL" "$CEPH_S3_ACCESS_KEY" "$CEPH_S3_SECRET_KEY"
		;;
	stop) ceph_s3_stop "$2" ;;
	*)
		echo "usage: ceph_s3.sh start|stop DIR" >&2
		exit 2
		;;
	esac
fi
