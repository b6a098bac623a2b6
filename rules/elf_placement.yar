/*
 * elf_placement.yar - ELF executables where none belongs: temporary and shared-memory
 * directories, web roots, hidden names. Uses the filepath and filename externals, so it only
 * means something when deltair (or another scanner) sets them. deltair's own rules.
 */

rule elf_in_temp_dir
{
	meta:
		description = "ELF file in /tmp, /var/tmp, /dev/shm or /run/shm: where droppers put downloaded binaries"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1105/"
	condition:
		uint32(0) == 0x464c457f and
		(filepath startswith "/tmp/" or filepath startswith "/var/tmp/" or
		 filepath startswith "/dev/shm/" or filepath startswith "/run/shm/")
}

rule elf_in_web_root
{
	meta:
		description = "ELF file under a web root (/var/www, /srv/www, /srv/http, /usr/share/nginx/html, Tomcat webapps): uploaded through the web server"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1505/003/"
	condition:
		uint32(0) == 0x464c457f and
		(filepath startswith "/var/www/" or filepath startswith "/srv/www/" or
		 filepath startswith "/srv/http/" or filepath startswith "/usr/share/nginx/html/" or
		 filepath matches /^\/(var\/lib|usr\/share|opt)\/tomcat[0-9]*\/webapps\//)
}

rule elf_hidden_file
{
	meta:
		description = "ELF file whose own name starts with a dot"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1564/001/"
	condition:
		uint32(0) == 0x464c457f and filename startswith "."
}

rule elf_in_hidden_dir
{
	meta:
		description = "ELF file inside a dot-directory other than the usual per-user tool caches (.cargo, .rustup, .local, .cache, .vscode-server, .npm, .nvm, .pyenv, .conda, .gradle, .m2, .dotnet, .deno, .bun, .sdkman, .git, .venv, .tox, .virtualenvs, .vscode, .build-id and .dwz of debug symbols)"
		severity = "medium"
		reference = "https://attack.mitre.org/techniques/T1564/001/"
	condition:
		uint32(0) == 0x464c457f and not (filename startswith ".") and
		filepath matches /\/\.[^\/]+\// and
		not filepath matches /\/\.(cargo|rustup|local|cache|vscode-server|vscode|npm|nvm|pyenv|conda|gradle|m2|dotnet|deno|bun|sdkman|git|venv|tox|virtualenvs|build-id|dwz)\//
}
