/*
 * ssh_keys.yar - SSH authorized_keys abuse: forced commands that run payloads, options that
 * open the key to anything, and scripts that plant keys. deltair's own rules (docs/rules.md).
 */

rule ssh_authorized_keys_forced_command
{
	meta:
		description = "authorized_keys entry whose command=\"...\" runs a shell payload: /dev/tcp, netcat, curl/wget, base64, python -c, perl -e, an interactive shell, a pipe into sh, or a program in /tmp, /var/tmp, /dev/shm"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1098/004/"
	strings:
		$cmd = /command\s*=\s*"[^"\n]{0,300}(\/dev\/(tcp|udp)\/|\b(nc|ncat|netcat)\s|\bcurl\s|\bwget\s|\bbase64\b|python[0-9.]*\s+-c|perl\s+-e|\b(ba|z|k|da)?sh\s+-i|\|\s*(\/usr)?(\/bin\/)?(ba|z|k|da)?sh\b|\/(tmp|var\/tmp|dev\/shm)\/)/
	condition:
		(filename == "authorized_keys" or filename == "authorized_keys2") and $cmd
}

rule ssh_authorized_keys_environment
{
	meta:
		description = "authorized_keys entry setting environment=\"LD_PRELOAD=...\" or a PATH starting in /tmp, /var/tmp or /dev/shm (effective with PermitUserEnvironment)"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1098/004/"
	strings:
		$preload = /environment\s*=\s*"LD_(PRELOAD|LIBRARY_PATH)=/
		$path = /environment\s*=\s*"PATH=\/(tmp|var\/tmp|dev\/shm)\b/
	condition:
		(filename == "authorized_keys" or filename == "authorized_keys2") and any of them
}

rule ssh_authorized_keys_open_from
{
	meta:
		description = "authorized_keys entry with a from= pattern that allows every address (from=\"*\", 0.0.0.0/0, ::/0): a restriction that restricts nothing, typical of copied attacker tooling"
		severity = "low"
		reference = "https://attack.mitre.org/techniques/T1098/004/"
	strings:
		$any = /from\s*=\s*"(\*|0\.0\.0\.0\/0|::\/0|\*,\s*!?[^"]{0,100})"/
	condition:
		(filename == "authorized_keys" or filename == "authorized_keys2") and $any
}

rule script_appends_authorized_keys
{
	meta:
		description = "Script that plants an SSH key: echo of literal key material appended to .ssh/authorized_keys, a download written into it, or chattr +i/+a to lock it"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1098/004/"
	strings:
		$append = /(>>|tee\s+-a)\s*["']?[^\s"';|&]{0,200}\.ssh\/authorized_keys2?\b/
		$key = /echo\s+(-[a-z]{1,3}\s+)?["']?(ssh-(rsa|dss|ed25519)|ecdsa-sha2-nistp[0-9]{3}|sk-ssh-ed25519@openssh\.com)\s+AAAA/
		$dl = /\b(curl|wget)\s[^\n;|]{0,200}(>>?|-O\s*|-o\s*)\s*["']?[^\s"';|&]{0,200}\.ssh\/authorized_keys2?\b/
		$lock = /\bchattr\s+\+[ai]{1,2}\s+[^\n;|]{0,200}authorized_keys/
	condition:
		($append and $key) or $dl or $lock
}
