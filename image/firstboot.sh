#!/bin/bash
# firstboot.sh - installed as /usr/libexec/deltair/firstboot and run once, at the first boot,
# by deltair-firstboot.service: applies EC2 user data to the worker's configuration.
#   firstboot [--imds URL] [--user-data FILE] [--conf FILE] [--env FILE] [--done FILE]
# User data is "key = value" lines (the keys of /etc/deltair/deltair.conf, plus endpoint_url
# and endpoint_url_sqs/_s3/_ec2/_ebs/_sts for deltair.env), "#" comments and blank lines.
# It is read as data only: nothing in it is run, sourced or expanded. An unknown key, a
# malformed line, a value outside [A-Za-z0-9._:/@%+=,~-] (at most 2048 bytes), or a script
# (#!..., #cloud-config, a MIME multipart) is refused: exit 1, nothing changed.
# User data comes from IMDSv2 (token first; $AWS_EC2_METADATA_SERVICE_ENDPOINT, the AWS SDKs'
# variable, or --imds; default http://169.254.169.254/), or from --user-data FILE (an
# on-premises VM: e.g. a file on a NoCloud seed disk). No IMDS answer within 5 attempts, or
# no user data: nothing to apply, exit 0. On success the done file records the instance and
# the keys set, and the unit's condition keeps it from running again.
set -euo pipefail

imds=${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254/}
ud_file=${DELTAIR_USER_DATA_FILE:-}
conf=/etc/deltair/deltair.conf
env=/etc/deltair/deltair.env
done_file=/var/lib/deltair/firstboot.done
while [ $# -gt 0 ]; do
	case $1 in
	--imds) imds=$2; shift 2 ;;
	--user-data) ud_file=$2; shift 2 ;;
	--conf) conf=$2; shift 2 ;;
	--env) env=$2; shift 2 ;;
	--done) done_file=$2; shift 2 ;;
	*) echo "firstboot: unknown argument '$1'" >&2; exit 2 ;;
	esac
done
imds=${imds%/}

CONF_KEYS=" queue output baseline_cache region concurrency memory_mb cpu_seconds wall_seconds
	open_files read_mode rules artifacts lease_seconds max_receives gold_cache gold_cache_size
	sse sse_kms_key_id "
ENV_KEYS=" endpoint_url endpoint_url_sqs endpoint_url_s3 endpoint_url_ec2 endpoint_url_ebs
	endpoint_url_sts "

log() { printf 'firstboot: %s\n' "$*" >&2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ud=$tmp/user-data
instance=local

if [ -n "$ud_file" ]; then
	if [ ! -e "$ud_file" ]; then
		log "no user data at '$ud_file': the configuration is kept"
		exit 0
	fi
	cp -- "$ud_file" "$ud"
else
	# IMDSv2: a session token first (PUT), then the user data with it. Short timeouts: off
	# EC2 nothing answers and the worker must still start.
	cu=(curl -q -sS --noproxy '*' --connect-timeout 2 --max-time 10 --retry 4 --retry-connrefused
		--retry-delay 1)
	if ! token=$("${cu[@]}" -f -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 300' \
		"$imds/latest/api/token" 2> "$tmp/err"); then
		log "no IMDSv2 answer at $imds ($(head -c 200 "$tmp/err")): the configuration is kept"
		exit 0
	fi
	code=$("${cu[@]}" -o "$ud" -w '%{http_code}' -H "X-aws-ec2-metadata-token: $token" \
		"$imds/latest/user-data") || { log "reading user data failed"; exit 1; }
	if [ "$code" = 404 ]; then
		log "the instance has no user data: the configuration is kept"
		exit 0
	fi
	[ "$code" = 200 ] || { log "reading user data: HTTP $code"; exit 1; }
	instance=$("${cu[@]}" -f -H "X-aws-ec2-metadata-token: $token" \
		"$imds/latest/meta-data/instance-id" 2> /dev/null) || instance=unknown
fi

[ "$(stat -c %s "$ud")" -le 16384 ] || { log "user data is over 16 KiB: refused"; exit 1; }
if head -c 2 "$ud" | grep -q '^#!' || head -n 1 "$ud" | grep -q -i -E '^(#cloud-|#include|#part-handler|content-type:|mime-version:)'; then
	log "user data is a script or cloud-init data, not deltair key = value lines: refused, nothing run"
	exit 1
fi
if LC_ALL=C grep -q -P '[^\x09\x0a\x0d\x20-\x7e]' "$ud"; then
	log "user data holds bytes other than printable ASCII: refused"
	exit 1
fi

declare -A set_conf=() set_env=()
order=()
n=0
while IFS= read -r line || [ -n "$line" ]; do
	n=$((n + 1))
	line=${line%$'\r'}
	# Trim blanks; skip comments and empty lines.
	line=${line#"${line%%[![:blank:]]*}"}
	line=${line%"${line##*[![:blank:]]}"}
	[ -z "$line" ] || [ "${line:0:1}" = '#' ] && continue
	if [[ ! $line =~ ^([a-z_]+)[[:blank:]]*=[[:blank:]]*(.*)$ ]]; then
		log "user data line $n is not 'key = value': refused, nothing changed"
		exit 1
	fi
	key=${BASH_REMATCH[1]} value=${BASH_REMATCH[2]}
	if [[ ! $value =~ ^[A-Za-z0-9._:/@%+=,~-]*$ ]] || [ ${#value} -gt 2048 ]; then
		log "user data line $n: the value of '$key' has a character outside [A-Za-z0-9._:/@%+=,~-] or is too long: refused, nothing changed"
		exit 1
	fi
	if [[ $CONF_KEYS == *[[:space:]]${key}[[:space:]]* ]]; then
		[ -n "${set_conf[$key]+x}" ] || order+=("$key")
		set_conf[$key]=$value
	elif [[ $ENV_KEYS == *[[:space:]]${key}[[:space:]]* ]]; then
		set_env[$key]=$value
	else
		log "user data line $n: unknown key '$key': refused, nothing changed"
		exit 1
	fi
done < "$ud"

# The new files beside the old ones, renamed over them: a crash leaves the old or the new.
write_conf() {
	local k
	{
		while IFS= read -r line || [ -n "$line" ]; do
			if [[ $line =~ ^[[:blank:]]*([a-z_]+)[[:blank:]]*= ]] &&
				[ -n "${set_conf[${BASH_REMATCH[1]}]+x}" ]; then
				continue
			fi
			printf '%s\n' "$line"
		done < "$conf"
		if [ ${#order[@]} -gt 0 ]; then
			printf '\n# Set by EC2 user data (deltair-firstboot, instance %s, %s):\n' \
				"$instance" "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
			for k in "${order[@]}"; do
				printf '%s = %s\n' "$k" "${set_conf[$k]}"
			done
		fi
	} > "$conf.new"
}
write_env() {
	local k name
	{
		if [ -e "$env" ]; then
			while IFS= read -r line || [ -n "$line" ]; do
				for k in "${!set_env[@]}"; do
					name=AWS_${k^^}
					[[ $line =~ ^[[:blank:]]*$name= ]] && continue 2
				done
				printf '%s\n' "$line"
			done < "$env"
		fi
		for k in $(printf '%s\n' "${!set_env[@]}" | sort); do
			printf 'AWS_%s=%s\n' "${k^^}" "${set_env[$k]}"
		done
	} > "$env.new"
}

[ -e "$conf" ] || : > "$conf"
write_conf
chmod --reference="$conf" "$conf.new"
if [ ${#set_env[@]} -gt 0 ]; then
	write_env
	chmod 0644 "$env.new"
	mv -f "$env.new" "$env"
fi
mv -f "$conf.new" "$conf"
mkdir -p "$(dirname "$done_file")"
printf 'instance=%s\nkeys=%s\n' "$instance" "${order[*]} ${!set_env[*]}" > "$done_file"
log "applied user data of instance $instance: ${order[*]} ${!set_env[*]}"
