#!/bin/bash
# image/ami-imdsv2.sh - after `packer build`: register the AMI(s) of the last run as
# IMDSv2-only (aws ec2 modify-image-attribute --imds-support v2.0), so that an instance
# launched from it, by anyone, has no IMDSv1. Reads Packer's manifest ($PACKER_MANIFEST).
set -euo pipefail
manifest=${PACKER_MANIFEST:-build/packer-manifest.json}
python3 - "$manifest" << 'PY' > /tmp/deltair-amis.$$
import json, sys
m = json.load(open(sys.argv[1]))
for b in m["builds"]:
    if b["packer_run_uuid"] == m["last_run_uuid"] and b["builder_type"] == "amazon-ebs":
        for part in b["artifact_id"].split(","):
            region, ami = part.split(":")
            print(region, ami)
PY
while read -r region ami; do
	aws ec2 modify-image-attribute --region "$region" --image-id "$ami" --imds-support v2.0
	echo "ami-imdsv2: $ami in $region is IMDSv2 only"
done < /tmp/deltair-amis.$$
rm -f /tmp/deltair-amis.$$
