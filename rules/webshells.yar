/*
 * webshells.yar - server-side scripts that run what a web request tells them to.
 * deltair's own rules (docs/rules.md); tested in tests/unit/t_yarascan.c.
 */

rule php_webshell_request_exec
{
	meta:
		description = "PHP passing request input ($_GET, $_POST, $_REQUEST, $_COOKIE, $_SERVER, $_FILES) straight, or through a decoder, to eval, assert, system, exec, passthru, shell_exec, popen, proc_open, pcntl_exec or create_function"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1505/003/"
	strings:
		$php = "<?" ascii
		$call = /\b(eval|assert|system|exec|passthru|shell_exec|popen|proc_open|pcntl_exec|create_function)\s*\(\s*@?\s*((base64_decode|gzinflate|gzuncompress|str_rot13|strrev|urldecode|rawurldecode|stripslashes|trim|hex2bin)\s*\(\s*)*@?\$_(GET|POST|REQUEST|COOKIE|SERVER|FILES)\s*\[/ nocase
		$backtick = /`\s*\$_(GET|POST|REQUEST|COOKIE)\s*\[[^\]]{1,40}\]\s*`/ nocase
		$preg_e = /preg_replace\s*\(\s*["'][\/#~|!@%][^\n]{0,64}[\/#~|!@%][a-df-z]{0,6}e[a-z]{0,6}["']\s*,\s*@?\$_(GET|POST|REQUEST|COOKIE)/ nocase
	condition:
		$php and ($call or $backtick or $preg_e)
}

rule php_webshell_packed_eval
{
	meta:
		description = "PHP that evaluates code it first decodes or decompresses (eval(gzinflate(base64_decode(...))) and the like): the usual wrapper of packed webshells"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1027/"
	strings:
		$php = "<?" ascii
		$eval = /\b(eval|assert)\s*\(\s*@?\s*(gzinflate|gzuncompress|gzdecode|str_rot13|base64_decode|strrev|convert_uudecode|hex2bin)\s*\(/ nocase
	condition:
		$php and $eval
}

rule jsp_webshell_request_exec
{
	meta:
		description = "JSP page that reads a request parameter and runs a process (Runtime.exec or ProcessBuilder)"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1505/003/"
	strings:
		$jsp = "<%" ascii
		$exec1 = /Runtime\s*\.\s*getRuntime\s*\(\s*\)\s*\.\s*exec\s*\(/
		$exec2 = /new\s+ProcessBuilder\s*\(/
		$req = /request\s*\.\s*getParameter\s*\(/
	condition:
		$jsp and $req and any of ($exec*)
}

rule aspx_webshell_request_exec
{
	meta:
		description = "ASP.NET page that starts a process from request input (Process.Start, ProcessStartInfo) or evaluates request input (China Chopper style eval(Request.Item[...]))"
		severity = "critical"
		reference = "https://attack.mitre.org/techniques/T1505/003/"
	strings:
		$page = /<%@\s*Page\b/ nocase
		$runat = /<script[^>]{0,100}runat\s*=\s*["']?server/ nocase
		$proc1 = "ProcessStartInfo" nocase
		$proc2 = /Process\s*\.\s*Start\s*\(/ nocase
		$req = /Request\s*(\.\s*(Form|QueryString|Params|Item)\s*)?[\[(]\s*["']/ nocase
		$eval = /\beval\s*\(\s*Request\s*(\.\s*(Item|Form|QueryString|Params)\s*)?[\[(]/ nocase
	condition:
		($page or $runat) and ($eval or ($req and any of ($proc*)))
}
