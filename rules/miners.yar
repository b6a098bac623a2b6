/*
 * miners.yar - cryptocurrency miners: pool URLs, xmrig-style configurations, miner command
 * lines. deltair's own rules (docs/rules.md).
 */

rule cryptominer_stratum_url
{
	meta:
		description = "Mining-pool URL in the stratum protocol (stratum+tcp://, stratum+ssl://, stratum+tls://, stratum2+tcp://)"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1496/"
	strings:
		$url = /stratum[0-9]?\+(tcp|ssl|tls):\/\/[a-zA-Z0-9.\-]{1,255}(:[0-9]{1,5})?/ nocase
	condition:
		$url
}

rule cryptominer_xmrig_config
{
	meta:
		description = "xmrig-style JSON miner configuration: a \"pools\" array with a Monero wallet address as \"user\" or at least two miner keys (donate-level, randomx, algo, nicehash, rig-id, keepalive, coin)"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1496/"
	strings:
		$pools = /"pools"\s*:\s*\[/
		$k1 = "\"donate-level\"" ascii
		$k2 = "\"randomx\"" ascii
		$k3 = /"algo"\s*:/
		$k4 = /"nicehash"\s*:/
		$k5 = /"rig-id"\s*:/
		$k6 = /"keepalive"\s*:/
		$k7 = /"coin"\s*:/
		$xmr = /"user"\s*:\s*"[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}[".]/
	condition:
		$pools and ($xmr or 2 of ($k*))
}

rule cryptominer_cmdline
{
	meta:
		description = "Miner invocation or binary: xmrig's --donate-level option, or a miner name with a pool (-o HOST:PORT) and a wallet (-u)"
		severity = "high"
		reference = "https://attack.mitre.org/techniques/T1496/"
	strings:
		$donate = /--donate-level[ =][0-9]/
		$name = /\b(xmrig|xmr-stak|cpuminer|minerd|ccminer|t-rex|nbminer|lolminer|phoenixminer)\b/ nocase
		$pool = /\s(-o|--url)[ =]["']?[a-zA-Z0-9.\-]{1,255}:[0-9]{2,5}\b/
		$user = /\s(-u|--user)[ =]["']?[a-zA-Z0-9]{20,128}/
	condition:
		$donate or ($name and $pool and $user)
}
