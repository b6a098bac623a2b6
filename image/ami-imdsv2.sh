#!/bin/bash
# image/ami-imdsv2.sh - after `packer build`: register the AMI(s) of the last run as
# IMDSv2-only (ModifyImageAttribute, attribute imdsSupport = v2.0), so that an instance
# launched from it, by anyone, has no IMDSv1. Reads Packer's manifest ($PACKER_MANIFEST).
# The AWS CLI is $AWS_CLI (default aws); the EC2 endpoint, if set, AWS_ENDPOINT_URL_EC2 or
# AWS_ENDPOINT_URL (Debian 12's awscli does not read them itself).
set -euo pipefail
manifest=${PACKER_MANIFEST:-build/packer-manifest.json}
aws=${AWS_CLI:-aws}
ec2=()
ep=${AWS_ENDPOINT_URL_EC2:-${AWS_ENDPOINT_URL:-}}
[ -n "$ep" ] && ec2+=(--endpoint-url "$ep")
python3 - "$manifest" << 'PY' |
import json, sys
m = json.load(open(sys.argv[1]))
for b in m["builds"]:
    if b["packer_run_uuid"] == m["last_run_uuid"] and b["builder_type"] == "amazon-ebs":
        for part in b["artifact_id"].split(","):
            region, ami = part.split(":")
            print(region, ami)
PY
	while read -r region ami; do
		# --attribute and --value, not --imds-support: Debian 12's awscli (2.9.19) predates
		# that option; the API takes both forms.
		"$aws" ec2 modify-image-attribute "${ec2[@]}" --region "$region" --image-id "$ami" \
			--attribute imdsSupport --value v2.0 > /dev/null
		echo "ami-imdsv2: $ami in $region is IMDSv2 only"
	done
