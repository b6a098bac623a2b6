#!/bin/bash
# t7020: the Packer template, checked offline by Debian's Packer itself (packer validate runs
# every builder's and provisioner's own checks: both sources, the files it uploads, the
# scripts it runs; packer fmt -check its canonical layout), with no credentials and no
# network; that validate does see a bad template; and image/cleanup.sh, the build's last
# step, run for real in a chroot built from this system: it leaves no SSH host key, build
# key, shell history, machine id, first-boot marker, apt list or uploaded file behind.
. "$TOP/tests/cli/lib.sh"
need packer ssh-keygen chroot

export CHECKPOINT_DISABLE=1 PACKER_CACHE_DIR=$PWD/packer-cache
ssh-keygen -q -t ed25519 -N '' -f build-key > /dev/null || die "ssh-keygen failed"
: > base.raw
: > deltair.deb
# No credentials, no AWS configuration, nothing but PATH.
pv() {
	env -i PATH=/usr/bin:/bin HOME="$PWD/home" CHECKPOINT_DISABLE=1 packer validate \
		-var deb="$PWD/deltair.deb" -var qemu_base_image="$PWD/base.raw" \
		-var qemu_ssh_private_key_file="$PWD/build-key" "$1" > validate.out 2>&1
}
mkdir -p home

# 1. The tree's template: valid, formatted, provisioned only by image/'s scripts.
cp -a "$TOP/packer" "$TOP/image" .
pv packer/ || fail "packer validate: $(cat validate.out)"
grep -q -i '^Error' validate.out && fail "packer validate reported: $(cat validate.out)"
packer fmt -check -diff packer/ > fmt.out 2>&1 || fail "packer fmt -check: $(cat fmt.out)"
grep -q -E '^\s*inline\s*=' packer/*.pkr.hcl && fail "the template runs inline commands"
for s in $(sed -n 's/.*\(image\/[a-z0-9_-]*\.sh\).*/\1/p' packer/*.pkr.hcl | sort -u); do
	[ -x "$TOP/$s" ] || fail "the template runs $s, which is not an executable in the tree"
	bash -n "$TOP/$s" || fail "$s does not parse"
done
for v in region instance_type subnet_id kms_key_id base_ami_owner base_ami_name tags; do
	grep -q "^variable \"$v\"" packer/deltair.pkr.hcl || fail "no variable $v"
done
grep -q 'encrypt_boot *= true' packer/deltair.pkr.hcl || fail "the AMI is not encrypted"
grep -q 'encrypted *= true' packer/deltair.pkr.hcl || fail "the build volume is not encrypted"

# 2. validate sees what is wrong: an unknown setting, a provisioning script that is missing.
sed -i 's/^  encrypt_boot = true/  encrypt_boot = true\n  no_such_setting = 1/; s/^  encrypt_boot *= true/&\n  no_such_setting = 1/' packer/deltair.pkr.hcl
pv packer/ && fail "packer validate accepted an unknown setting"
grep -q no_such_setting validate.out || fail "validate did not name the unknown setting: $(cat validate.out)"
cp "$TOP/packer/deltair.pkr.hcl" packer/
mv image/cleanup.sh cleanup.moved
pv packer/ && fail "packer validate accepted a missing image/cleanup.sh"
mv cleanup.moved image/cleanup.sh
pv packer/ || fail "packer validate after restoring: $(cat validate.out)"

# The image's scripts pass shellcheck, where it is installed.
if command -v shellcheck > /dev/null; then
	shellcheck -s bash "$TOP"/image/*.sh "$TOP"/image/vm/*.sh "$TOP"/image/firstboot "$TOP"/image/incident \
		"$TOP"/goldimage/baseline-ami > sc.out 2>&1 || fail "shellcheck: $(head -40 sc.out)"
	shellcheck -s sh "$TOP"/image/deb/post* "$TOP"/image/deb/prerm > sc.out 2>&1 || fail "shellcheck: $(head -40 sc.out)"
fi

# 3. image/cleanup.sh in a chroot: this system's /usr read-only, a build's leftovers planted.
r=$PWD/root
mkdir -p "$r"/{usr,etc/ssh,etc/deltair,var/lib/apt/lists/partial,var/cache/apt/archives/partial} \
	"$r"/{var/log/apt,var/lib/deltair/results,var/lib/dbus,var/lib/dpkg,root/.ssh,home/admin} \
	"$r"/{tmp/image,dev,proc,var/log/journal/abc}
for d in bin sbin lib lib64; do ln -s "usr/$d" "$r/$d"; done
t_mount /usr "$r/usr" bind,ro
cp -a /etc/apt/. "$r/etc/apt/"
cp /var/lib/dpkg/status "$r/var/lib/dpkg/status"
for k in rsa ecdsa ed25519; do echo key > "$r/etc/ssh/ssh_host_${k}_key"; echo pub > "$r/etc/ssh/ssh_host_${k}_key.pub"; done
echo 'Port 22' > "$r/etc/ssh/sshd_config"
echo 'ssh-ed25519 AAAA build' > "$r/root/.ssh/authorized_keys"
echo 'history' | tee "$r/root/.bash_history" "$r/home/admin/.bash_history" > /dev/null
echo 0123456789abcdef0123456789abcdef > "$r/etc/machine-id"
cp "$r/etc/machine-id" "$r/var/lib/dbus/machine-id"
echo done > "$r/var/lib/deltair/firstboot.done"
echo evidence > "$r/var/lib/deltair/results/keep"
echo 'queue = spool:/var/spool/deltair' > "$r/etc/deltair/deltair.conf"
echo list > "$r/var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease"
echo deb > "$r/var/cache/apt/archives/foo.deb"
echo deb > "$r/tmp/deltair.deb"
echo script > "$r/tmp/image/provision.sh"
echo log > "$r/var/log/syslog"; echo old > "$r/var/log/syslog.1"; echo j > "$r/var/log/journal/abc/system.journal"
cp "$TOP/image/cleanup.sh" "$r/cleanup.sh"
env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root chroot "$r" /bin/bash /cleanup.sh > cleanup.out 2>&1 ||
	fail "cleanup.sh failed in the chroot: $(cat cleanup.out)"
rm -f "$r/cleanup.sh"
left=$(cd "$r" && find etc/ssh -name 'ssh_host_*'; find root home -name '.bash_history' -o -name authorized_keys;
	find tmp var/lib/apt/lists var/cache/apt/archives var/log/journal -type f ! -name lock; find var/log -type f -size +0
	ls var/lib/deltair/firstboot.done var/lib/dbus/machine-id 2> /dev/null)
[ -z "$left" ] || fail "cleanup.sh left: $left"
[ ! -s "$r/etc/machine-id" ] && [ -e "$r/etc/machine-id" ] || fail "the machine id is not emptied"
[ -s "$r/var/lib/deltair/results/keep" ] && [ -s "$r/etc/deltair/deltair.conf" ] && [ -s "$r/etc/ssh/sshd_config" ] ||
	fail "cleanup.sh removed what it must keep"

# 4. image/ami-imdsv2.sh, the post-processor, with Debian's AWS CLI (the build machine's,
# from install-deps.sh) against a loopback EC2 stand-in that records each request's form and
# answers ModifyImageAttribute (or 400 for an image named ami-0bad...).
AWS_CLI=/usr/bin/aws
if [ -x "$AWS_CLI" ]; then
	cat > ec2.py << 'PY'
import http.server, sys, urllib.parse
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        form = urllib.parse.parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        with open("requests", "a") as f:
            f.write("&".join("%s=%s" % (k, v[0]) for k, v in sorted(form.items())) + "\n")
        bad = form.get("ImageId", [""])[0].startswith("ami-0bad")
        body = (b"<Response><Errors><Error><Code>InvalidAMIID.NotFound</Code><Message>no</Message>"
                b"</Error></Errors><RequestID>r</RequestID></Response>" if bad else
                b'<ModifyImageAttributeResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">'
                b"<requestId>r</requestId><return>true</return></ModifyImageAttributeResponse>")
        self.send_response(400 if bad else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open("ec2.port.tmp", "w").write(str(s.server_port))
__import__("os").rename("ec2.port.tmp", "ec2.port")
s.serve_forever()
PY
	/usr/bin/python3 ec2.py &
	ec2_pid=$!
	at_exit "kill $ec2_pid 2> /dev/null"
	for _ in $(seq 50); do [ -s ec2.port ] && break; sleep 0.1; done
	[ -s ec2.port ] || die "the EC2 stand-in did not start"
	manifest() {
		printf '{"builds": [{"builder_type": "amazon-ebs", "packer_run_uuid": "old", "artifact_id": "us-east-1:ami-0000000000000000f"},
		  {"builder_type": "qemu", "packer_run_uuid": "new", "artifact_id": "deltair.raw"},
		  {"builder_type": "amazon-ebs", "packer_run_uuid": "new", "artifact_id": "%s"}], "last_run_uuid": "new"}\n' "$1" > manifest.json
	}
	imds() {
		env -i PATH=/usr/bin:/bin HOME="$PWD/home" AWS_CLI=$AWS_CLI PACKER_MANIFEST=manifest.json \
			AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY \
			AWS_ENDPOINT_URL="http://127.0.0.1:$(cat ec2.port)" "$TOP/image/ami-imdsv2.sh" > imds.out 2>&1
	}
	manifest "eu-west-1:ami-0123456789abcdef0,us-east-1:ami-0fedcba9876543210"
	imds || fail "ami-imdsv2.sh: $(cat imds.out)"
	printf '%s\n' "Action=ModifyImageAttribute&Attribute=imdsSupport&ImageId=ami-0123456789abcdef0&Value=v2.0&Version=2016-11-15" \
		"Action=ModifyImageAttribute&Attribute=imdsSupport&ImageId=ami-0fedcba9876543210&Value=v2.0&Version=2016-11-15" |
		cmp -s - requests || fail "ami-imdsv2.sh sent: $(cat requests 2> /dev/null) (output: $(cat imds.out))"
	grep -c 'is IMDSv2 only' imds.out | grep -q -x 2 || fail "ami-imdsv2.sh said: $(cat imds.out)"
	rm -f requests
	manifest "eu-west-1:ami-0bad0000000000000,us-east-1:ami-0fedcba9876543210"
	imds && fail "ami-imdsv2.sh exited 0 when EC2 refused an image: $(cat imds.out)"
	[ "$(wc -l < requests)" = 1 ] || fail "ami-imdsv2.sh went on after a refusal: $(cat requests)"
else
	note "no Debian awscli at $AWS_CLI: the post-processor check skipped"
fi
t_done
