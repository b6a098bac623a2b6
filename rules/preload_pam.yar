/*
 * preload_pam.yar - code forced into every process (ld.so.preload, LD_PRELOAD) and PAM
 * backdoors that let an attacker in or record passwords. deltair's own rules (docs/rules.md).
 */

rule ld_so_preload_present
{
	meta:
		description = "/etc/ld.so.preload lists a library: it is loaded into every dynamically linked process; rare on servers, the classic userland-rootkit hook"
		severity = "medium"
		reference = "https://attack.mitre.org/techniques/T1574/006/"
	strings:
		$so = /\.so\b/
	condition:
		filepath == "/etc/ld.so.preload" and $so
}

rule ld_so_preload_odd_path
{
	meta:
		description = "ld.so.preload naming a library in a world-writable or hidden place (/tmp, /var/tmp, /dev/shm, /run/shm, a dot-directory)"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1574/006/"
	strings:
		$odd = /\/(tmp|var\/tmp|dev\/shm|run\/shm)\/[^\s]{1,255}/
		$hidden = /\/\.[^\/\s]{1,255}\/[^\s]{0,200}\.so/
	condition:
		filename == "ld.so.preload" and any of them
}

rule script_writes_ld_so_preload
{
	meta:
		description = "Script that writes /etc/ld.so.preload (echo ... > /etc/ld.so.preload, tee -a)"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1574/006/"
	strings:
		$w = /(>>?|tee\s+(-a\s+)?|cp\s+[^\n;]{1,200}\s)\s*["']?\/etc\/ld\.so\.preload\b/
	condition:
		$w and filepath != "/etc/ld.so.preload"
}

rule ld_preload_in_shell_profile
{
	meta:
		description = "LD_PRELOAD set in a login environment (/etc/environment, /etc/profile, /etc/profile.d/, /etc/bash.bashrc, a user's .bashrc/.profile/.bash_profile/.zshrc)"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1574/006/"
	strings:
		$set = /\bLD_PRELOAD\s*=/
	condition:
		$set and
		(filepath == "/etc/environment" or filepath == "/etc/profile" or
		 filepath startswith "/etc/profile.d/" or filepath == "/etc/bash.bashrc" or
		 filename == ".bashrc" or filename == ".profile" or filename == ".bash_profile" or
		 filename == ".bash_login" or filename == ".zshrc" or filename == ".zshenv")
}

rule pam_exec_odd_program
{
	meta:
		description = "PAM configuration running pam_exec with expose_authtok (hands the typed password to a program) or a program in /tmp, /var/tmp, /dev/shm or a dot-directory"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1556/003/"
	strings:
		$authtok = /pam_exec\.so[^\n]{0,200}\bexpose_authtok\b/
		$odd = /pam_exec\.so[^\n]{0,200}\s\/(tmp|var\/tmp|dev\/shm|run\/shm)\//
		$hidden = /pam_exec\.so[^\n]{0,200}\s\/[^\s]{0,100}\/\.[^\/\s]{1,100}/
	condition:
		(filepath startswith "/etc/pam.d/" or filename == "pam.conf") and any of them
}

rule pam_module_odd_path
{
	meta:
		description = "PAM configuration loading a module by absolute path from /tmp, /var/tmp, /dev/shm, /home, /root or a dot-directory instead of the system module directory"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1556/003/"
	strings:
		$odd = /(auth|account|password|session)\s+(\[[^\]\n]{1,200}\]|[a-z_]{1,20})\s+\/(tmp|var\/tmp|dev\/shm|run\/shm|home|root)\/[^\s]{1,200}\.so/
		$hidden = /(auth|account|password|session)\s+(\[[^\]\n]{1,200}\]|[a-z_]{1,20})\s+\/[^\s]{0,100}\/\.[^\/\s]{1,100}\/[^\s]{0,100}\.so/
	condition:
		(filepath startswith "/etc/pam.d/" or filename == "pam.conf") and any of them
}

rule pam_module_backdoor_strings
{
	meta:
		description = "PAM module of the pam_unix kind (pam_sm_authenticate with unix_chkpwd or /etc/shadow) carrying what patched backdoors add: a credential log format (user=%s pass=%s) or a log file in /tmp, /var/tmp or /dev/shm"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1556/003/"
	strings:
		$sym = "pam_sm_authenticate" ascii
		$unix1 = "unix_chkpwd" ascii
		$unix2 = "/etc/shadow" ascii
		$fmt = /(user(name)?|login|u)\s{0,2}[:=]\s{0,2}%s[^\x00]{0,16}(pass(word|wd)?|pwd|p)\s{0,2}[:=]\s{0,2}%s/ nocase
		$drop = /\x00\/(tmp|var\/tmp|dev\/shm|run\/shm)\/[^\x00]{1,128}\x00/
	condition:
		uint32(0) == 0x464c457f and $sym and any of ($unix*) and ($fmt or $drop)
}
