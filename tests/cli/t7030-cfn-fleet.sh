#!/bin/bash
# t7030: deploy/fleet.yaml, the fleet's CloudFormation template, checked offline by
# tests/deploy/cfn_check.py (YAML with CloudFormation's short-form tags; every Ref, GetAtt and
# Sub names something of the template; every resource type and property against the
# resource provider schemas listed in tests/deploy/cfn-schema.json; every IAM action against
# botocore's service models from Debian's python3-botocore); that the checker catches each
# kind of mistake; what the fleet promises (DLQ redrive, IMDSv2, encryption, public access
# blocked, backlog-per-instance scaling); and cfn-lint as a second opinion where installed.
. "$TOP/tests/cli/lib.sh"
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
"$PY" -c 'import yaml, botocore' 2> /dev/null || skip "no python3-yaml/python3-botocore for $PY"
chk="$PY $TOP/tests/deploy/cfn_check.py"
tpl=$TOP/deploy/fleet.yaml

# 1. The template passes.
$chk "$tpl" > check.out 2>&1 || fail "cfn_check: $(cat check.out)"

# 2. Each kind of mistake is caught (so that the pass above means something).
mutate() { # WHAT SED-EXPR EXPECTED-OUTPUT-REGEX
	sed "$2" "$tpl" > bad.yaml
	cmp -s "$tpl" bad.yaml && { fail "mutation '$1' changed nothing"; return; }
	if $chk bad.yaml > bad.out 2>&1; then
		fail "cfn_check accepted $1"
	elif ! grep -q -E "$3" bad.out; then
		fail "cfn_check on $1 said: $(head -3 bad.out)"
	fi
}
mutate "a Ref to nothing" 's/Bucket: !Ref EvidenceBucket$/Bucket: !Ref EvidenceBukket/' 'Ref EvidenceBukket names nothing'
mutate "a GetAtt of an unknown attribute" 's/!GetAtt DeadLetterQueue.Arn/!GetAtt DeadLetterQueue.Arnn/' 'has no attribute Arnn'
mutate "a GetAtt of an unknown resource" 's/!GetAtt DeadLetterQueue.Arn/!GetAtt DeadQueue.Arn/' 'DeadQueue, which is not a resource'
mutate "a Sub of nothing" 's/queue = sqs:\/\/${JobQueue}/queue = sqs:\/\/${JobQueues}/' 'Sub \$\{JobQueues\} names nothing'
mutate "a Sub of an unknown attribute" 's/"${EvidenceBucket.Arn}\/results\/\*"/"${EvidenceBucket.Arm}\/results\/*"/' 'has no attribute Arm'
mutate "an unknown property" 's/SqsManagedSseEnabled: true/SqsManagedSSEEnabled: true/' 'unknown property SqsManagedSSEEnabled'
mutate "an unknown nested property" 's/HttpTokens: required/HttpToken: required/' 'unknown property HttpToken'
mutate "a missing required property" '/GroupDescription: deltair workers/d' 'required property GroupDescription'
mutate "an unknown resource type" 's/Type: AWS::SQS::QueuePolicy/Type: AWS::SQS::QueuePolicies/' 'AWS::SQS::QueuePolicies is not in the list'
mutate "an IAM action that does not exist" 's/- ebs:GetSnapshotBlock/- ebs:GetSnapshotBlocks/' 'ebs:GetSnapshotBlocks is not an operation'
mutate "an IAM service that does not exist" 's/- sqs:GetQueueUrl/- sqsx:GetQueueUrl/' 'no botocore service sqsx'
mutate "an unknown short-form tag" 's/!GetAtt JobQueue.Arn$/!GetAttr JobQueue.Arn/' 'unknown tag !GetAttr'
mutate "an If on an unknown condition" 's/!If \[HasKmsKey, true/!If [HasKmsKeys, true/' 'unknown condition HasKmsKeys'
mutate "broken YAML" 's/^Resources:$/Resources: [/' 'yaml'

# 3. What the fleet promises, read from the parsed template.
"$PY" - "$tpl" "$TOP/tests/deploy/cfn_check.py" << 'PY' || fail "the fleet template lacks a promised setting"
import os, sys
import yaml
sys.path.insert(0, os.path.dirname(sys.argv[2]))
import cfn_check
t = yaml.load(open(sys.argv[1]), Loader=cfn_check.Loader)
R = t["Resources"]
bad = []
def want(cond, what):
    if not cond:
        bad.append(what)
q = R["JobQueue"]["Properties"]
want(q["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}, "redrive to the DLQ")
want(q["RedrivePolicy"]["maxReceiveCount"] == {"Ref": "MaxReceives"}, "maxReceiveCount")
want(q["ReceiveMessageWaitTimeSeconds"] == 20, "long polling")
b = R["EvidenceBucket"]["Properties"]
want(all(b["PublicAccessBlockConfiguration"][k] is True for k in
         ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")), "public access blocked")
want(b["VersioningConfiguration"]["Status"] == "Enabled", "versioning")
want(b["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced", "bucket owner enforced")
want("ServerSideEncryptionConfiguration" in b["BucketEncryption"], "default encryption")
want("ObjectLockConfiguration" in b and b["LifecycleConfiguration"]["Rules"], "object lock option, lifecycle")
lt = R["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]
want(lt["MetadataOptions"]["HttpTokens"] == "required", "IMDSv2 required")
want(all(m["Ebs"]["Encrypted"] is True for m in lt["BlockDeviceMappings"]), "encrypted volumes")
ud = lt["UserData"]["Fn::Base64"]["Fn::Sub"]
want(all(l.count(" = ") == 1 for l in ud.strip().split("\n")), "user data as key = value lines")
tt = R["BacklogScaling"]["Properties"]["TargetTrackingConfiguration"]["CustomizedMetricSpecification"]["Metrics"]
names = {m.get("MetricStat", {}).get("Metric", {}).get("MetricName") for m in tt}
want({"ApproximateNumberOfMessagesVisible", "GroupInServiceInstances"} <= names, "backlog metrics")
want(sum(1 for m in tt if m.get("ReturnData")) == 1 and any("Expression" in m for m in tt), "one metric math expression")
want("GroupInServiceInstances" in R["WorkerGroup"]["Properties"]["MetricsCollection"][0]["Metrics"], "group metrics collected")
ev = R["SnapshotEventsRule"]["Properties"]["EventPattern"]
want(ev["detail-type"] == ["EBS Snapshot Notification"] and ev["detail"]["result"] == ["succeeded"], "snapshot events rule")
for b_ in bad:
    print("  missing: " + b_)
sys.exit(1 if bad else 0)
PY

# 4. A second opinion, where cfn-lint (not a Debian package) is installed.
if command -v cfn-lint > /dev/null 2>&1; then
	cfn-lint "$tpl" > lint.out 2>&1 || fail "cfn-lint: $(head -20 lint.out)"
else
	note "cfn-lint not installed: that second opinion skipped"
fi
t_done
