#!/bin/bash
# t5100-mount-delta: `deltair mount --delta` shows exactly the delta `deltair diff` reports
# (added, modified, appended, renamed, metadata, type; not deleted) and the directories
# that lead to it, with the incident's content and metadata, and /.deltair/events.jsonl
# holding what `deltair diff` prints (but the elapsed time); YARA over the view finds the
# planted webshell and nothing on unchanged paths, although an unchanged file matches too.
. "$TOP/tests/cli/lib.sh"

[ "$(id -u)" = 0 ] || skip "needs root (loop mounts)"
need mke2fs fusermount3 jq yara python3 sha256sum
{ exec 3<> /dev/fuse; } 2> /dev/null || skip "cannot open /dev/fuse"
exec 3>&-

fmount()
{
	local img=$1 dir=$2
	shift 2
	mkdir -p "$dir"
	dir=$(readlink -f "$dir")
	"$DELTAIR" mount --no-progress "$@" "$img" "$dir" > out 2> err ||
		die "deltair mount $* $img $dir exited $?: $(cat err)"
	at_exit "fusermount3 -u '$dir' || umount -l '$dir'"
	mountpoint -q "$dir" || die "$dir is not a mount point after deltair mount"
}

# The gold: a small server tree. An old admin page already calls system() on a request
# parameter: the YARA rule matches it, but it is not part of the delta.
mkdir -p gold/etc/ssh gold/usr/bin gold/usr/lib gold/var/www/html/uploads gold/var/log gold/tmp
printf 'root:x:0:0:root:/root:/bin/bash\n' > gold/etc/passwd
printf 'welcome\n' > gold/etc/motd
printf 'Port 22\nPermitRootLogin no\n' > gold/etc/ssh/sshd_config
cp /bin/true gold/usr/bin/tool
seq 1 3000 > gold/usr/lib/data.txt
printf '<?php echo "hello"; ?>\n' > gold/var/www/html/index.php
printf '<?php /* legacy */ system($_REQUEST["cmd"]); ?>\n' > gold/var/www/html/old-admin.php
seq 1 100 | sed 's/^/log line /' > gold/var/log/app.log
find gold -exec touch -h -d "$FIXTURE_TIME" {} +
mkext4 gold gold.img 32M
dt_ok baseline --no-progress -o gold.dtree gold.img

# The incident: the same image changed through a read-write loop mount.
cp --sparse=always gold.img incident.img
t_loop incident.img
t_mount "$LOOP" rw
shell='<?php system($_REQUEST["c"]); ?>'
printf '%s\n' "$shell" > rw/var/www/html/uploads/.thumb.php
printf 'Port 22\nPermitRootLogin yes\n' > rw/etc/ssh/sshd_config
chmod 4755 rw/usr/bin/tool
echo 'log line 101' >> rw/var/log/app.log
mv rw/usr/lib/data.txt rw/tmp/data.txt
rm rw/etc/motd
umount rw || die "cannot unmount the incident"

dt diff --no-progress --baseline gold.dtree incident.img
expect_rc 1 "diff of the incident" || t_done
cp out diff.jsonl
[ "$(jq -r "select(.event == \"file\") | .path" diff.jsonl | wc -l)" -ge 5 ] || die "diff reported too few file events"

fmount incident.img view --baseline gold.dtree --delta

note "the view holds the delta's paths, their parents and /.deltair, nothing else"
jq -r 'select(.event == "file" and .change != "deleted" and ((.flags | index("deleted_entry")) | not)) | .path' \
	diff.jsonl > delta.paths
python3 - delta.paths > want.paths << 'PYEOF'
import sys
want = {"/", "/.deltair", "/.deltair/events.jsonl"}
for p in open(sys.argv[1]).read().split("\n"):
    while p not in ("", "/"):
        want.add(p)
        p = p.rsplit("/", 1)[0] or "/"
print("\n".join(sorted(want)))
PYEOF
(cd view && find . -printf '/%P\n') | sort > got.paths
diff want.paths got.paths > paths.diff || fail "view paths differ from the delta: $(cat paths.diff)"
for p in /var/www/html/uploads/.thumb.php /etc/ssh/sshd_config /usr/bin/tool /var/log/app.log /tmp/data.txt; do
	grep -qx "$p" got.paths || fail "$p (changed) is not in the view"
done
for p in /etc/motd /usr/lib/data.txt /etc/passwd /var/www/html/index.php /var/www/html/old-admin.php; do
	grep -qx "$p" got.paths && fail "$p (deleted or unchanged) is in the view"
done

note "the view has the incident's content and metadata"
t_mount_ro incident.img inc
for p in var/www/html/uploads/.thumb.php etc/ssh/sshd_config usr/bin/tool var/log/app.log tmp/data.txt; do
	[ "$(sha256sum < "view/$p")" = "$(sha256sum < "inc/$p")" ] || fail "content of $p differs"
	[ "$(stat -c '%A %u %g %s %i %Y' "view/$p")" = "$(stat -c '%A %u %g %s %i %Y' "inc/$p")" ] ||
		fail "stat of $p: $(stat -c '%A %u %g %s %i %Y' "view/$p"), want $(stat -c '%A %u %g %s %i %Y' "inc/$p")"
done
[ "$(stat -c %a view/usr/bin/tool)" = 4755 ] || fail "the chmod is not in the view"
[ "$(cat view/var/www/html/uploads/.thumb.php)" = "$shell" ] || fail "the webshell's content differs"

note "/.deltair/events.jsonl is what deltair diff printed"
jq -cS 'del(.elapsed)' diff.jsonl > want.events || die "diff output is not JSON Lines"
jq -cS 'del(.elapsed)' view/.deltair/events.jsonl > got.events || fail "events.jsonl is not JSON Lines"
diff want.events got.events > events.diff || fail "events.jsonl differs from diff's output: $(head -c 2000 events.diff)"
[ "$(stat -c %s view/.deltair/events.jsonl)" = "$(wc -c < view/.deltair/events.jsonl)" ] ||
	fail "events.jsonl's size is not its length"
[ "$(tail -n 1 view/.deltair/events.jsonl | jq -r .event)" = summary ] || fail "the last event is not the summary"

note "YARA over the view finds the webshell and nothing unchanged"
cat > webshell.yar << 'YEOF'
rule php_request_exec { strings: $a = "system($_REQUEST" condition: $a }
YEOF
yara -r webshell.yar view > yara.view 2> yara.err || fail "yara over the view failed: $(cat yara.err)"
yara -r webshell.yar inc > yara.all 2> /dev/null
grep -q 'old-admin.php' yara.all || fail "the rule should match the unchanged admin page on the whole image"
[ "$(awk '{print $2}' yara.view | sed "s|^view||")" = /var/www/html/uploads/.thumb.php ] ||
	fail "yara over the view found: $(cat yara.view), want only the webshell"

t_done
