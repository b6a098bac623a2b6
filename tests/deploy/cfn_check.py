#!/usr/bin/python3
"""cfn_check.py - check a CloudFormation template offline, with Debian's python3-yaml and
python3-botocore only:
  - it parses as YAML with CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...), each
    turned into its long form; an unknown tag is an error;
  - every Ref, GetAtt and ${...} of a Sub names a parameter, resource or pseudo-parameter of
    the template (a GetAtt also an attribute of the resource's type), every condition used
    is defined;
  - every resource type is in cfn-schema.json (see extract-cfn-schema.py for its source), and
    every property, nested ones included, is one of its type's; required ones are present;
  - every IAM action in a policy (Action, NotAction) is an operation of the service in
    botocore's models, or one of the few IAM actions named otherwise (IAM_ONLY below);
    a wildcard must match at least one.
  cfn_check.py TEMPLATE...   prints each problem, exits 1 if any
"""
import json
import os
import re
import sys

import botocore.loaders
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
PSEUDO = {"AWS::AccountId", "AWS::NotificationARNs", "AWS::NoValue", "AWS::Partition",
          "AWS::Region", "AWS::StackId", "AWS::StackName", "AWS::URLSuffix"}
TOP_KEYS = {"AWSTemplateFormatVersion", "Description", "Metadata", "Parameters", "Mappings",
            "Conditions", "Transform", "Resources", "Outputs", "Rules"}
RESOURCE_KEYS = {"Type", "Properties", "DependsOn", "Condition", "DeletionPolicy",
                 "UpdateReplacePolicy", "Metadata", "CreationPolicy", "UpdatePolicy"}
# IAM actions whose API operation has another name, or that authorise several operations
# (the Service Authorization Reference, docs.aws.amazon.com/service-authorization/).
IAM_ONLY = {
    "s3:ListBucket": "ListObjects, ListObjectsV2, HeadBucket",
    "s3:ListMultipartUploadParts": "ListParts",
    "kms:ReEncryptFrom": "ReEncrypt",
    "kms:ReEncryptTo": "ReEncrypt",
}
# IAM service prefixes whose botocore service name differs.
PREFIX_SERVICE = {"autoscaling": "autoscaling", "events": "events", "ebs": "ebs"}

SHORT = {"Ref": "Ref", "Condition": "Condition"}
FNS = ["And", "Base64", "Cidr", "Equals", "FindInMap", "GetAtt", "GetAZs", "If", "ImportValue",
       "Join", "Not", "Or", "Select", "Split", "Sub", "Transform", "ToJsonString", "Length"]


class Loader(yaml.SafeLoader):
    pass


def _construct(name):
    def f(loader, node):
        if isinstance(node, yaml.ScalarNode):
            v = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            v = loader.construct_sequence(node, deep=True)
        else:
            v = loader.construct_mapping(node, deep=True)
        if name == "Fn::GetAtt" and isinstance(v, str):
            v = v.split(".", 1)
        return {name: v}
    return f


for _k, _v in SHORT.items():
    Loader.add_constructor("!" + _k, _construct(_v))
for _f in FNS:
    Loader.add_constructor("!" + _f, _construct("Fn::" + _f))


def _unknown(loader, suffix, node):
    raise yaml.constructor.ConstructorError(None, None, "unknown tag !%s" % suffix, node.start_mark)


Loader.add_multi_constructor("!", _unknown)


class Checker:
    def __init__(self, path, schema, models):
        self.path, self.schema, self.models, self.problems = path, schema, models, []

    def bad(self, where, msg):
        self.problems.append("%s: %s: %s" % (self.path, where, msg))

    def run(self):
        try:
            t = yaml.load(open(self.path), Loader=Loader)
        except yaml.YAMLError as e:
            self.bad("yaml", str(e).replace("\n", " "))
            return
        if not isinstance(t, dict) or not isinstance(t.get("Resources"), dict):
            self.bad("template", "no Resources mapping")
            return
        for k in t:
            if k not in TOP_KEYS:
                self.bad("template", "unknown top-level key %s" % k)
        self.t = t
        self.params = set(t.get("Parameters") or {})
        self.resources = t["Resources"]
        self.conditions = set(t.get("Conditions") or {})
        self.names = self.params | set(self.resources) | PSEUDO
        for name, r in self.resources.items():
            self.resource(name, r)
        for name, c in (t.get("Conditions") or {}).items():
            self.refs(c, "Conditions/" + name)
        for name, o in (t.get("Outputs") or {}).items():
            self.refs(o, "Outputs/" + name)
            if "Condition" in o and o["Condition"] not in self.conditions:
                self.bad("Outputs/" + name, "unknown condition %s" % o["Condition"])

    # -- references ---------------------------------------------------------------------
    def getatt(self, where, res, attr):
        if res not in self.resources:
            self.bad(where, "GetAtt of %s, which is not a resource" % res)
            return
        typ = self.resources[res].get("Type")
        known = self.schema.get(typ, {}).get("attrs")
        if known is not None and attr not in known:
            self.bad(where, "GetAtt %s.%s: %s has no attribute %s (it has %s)"
                     % (res, attr, typ, attr, ", ".join(known)))

    def refs(self, v, where, subvars=frozenset()):
        if isinstance(v, list):
            for i, x in enumerate(v):
                self.refs(x, "%s/%d" % (where, i), subvars)
            return
        if not isinstance(v, dict):
            return
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                if a not in self.names and a not in subvars:
                    self.bad(where, "Ref %s names nothing in the template" % a)
                return
            if k == "Fn::GetAtt":
                if not (isinstance(a, list) and len(a) == 2 and isinstance(a[0], str)):
                    self.bad(where, "malformed GetAtt %r" % (a,))
                    return
                self.getatt(where, a[0], a[1] if isinstance(a[1], str) else "?")
                self.refs(a[1], where, subvars)
                return
            if k == "Fn::Sub":
                s, m = (a, {}) if isinstance(a, str) else (a[0], a[1] if len(a) > 1 else {})
                if not isinstance(s, str) or not isinstance(m, dict):
                    self.bad(where, "malformed Sub")
                    return
                for name in re.findall(r"\$\{([^!}][^}]*)\}", s):
                    name = name.strip()
                    if name in m:
                        continue
                    if "." in name and not name.startswith("AWS::"):
                        r, attr = name.split(".", 1)
                        self.getatt(where, r, attr)
                    elif name not in self.names:
                        self.bad(where, "Sub ${%s} names nothing in the template" % name)
                self.refs(m, where, subvars)
                return
            if k == "Fn::If":
                if not isinstance(a, list) or len(a) != 3:
                    self.bad(where, "malformed If")
                elif a[0] not in self.conditions:
                    self.bad(where, "If on unknown condition %s" % a[0])
                self.refs(a[1:] if isinstance(a, list) else a, where, subvars)
                return
            if k == "Condition" and isinstance(a, str):
                if a not in self.conditions:
                    self.bad(where, "unknown condition %s" % a)
                return
            if k.startswith("Fn::") and k[4:] not in FNS:
                self.bad(where, "unknown function %s" % k)
        for k, x in v.items():
            self.refs(x, "%s/%s" % (where, k), subvars)

    # -- resources and their properties --------------------------------------------------
    def resource(self, name, r):
        where = "Resources/" + name
        if not isinstance(r, dict):
            self.bad(where, "not a mapping")
            return
        for k in r:
            if k not in RESOURCE_KEYS:
                self.bad(where, "unknown resource attribute %s" % k)
        if "Condition" in r and r["Condition"] not in self.conditions:
            self.bad(where, "unknown condition %s" % r["Condition"])
        for d in [r["DependsOn"]] if isinstance(r.get("DependsOn"), str) else r.get("DependsOn") or []:
            if d not in self.resources:
                self.bad(where, "DependsOn %s, not a resource" % d)
        typ = r.get("Type")
        if typ not in self.schema:
            self.bad(where, "resource type %s is not in the list (tests/deploy/cfn-schema.json)" % typ)
            return
        props = r.get("Properties") or {}
        self.refs(props, where + "/Properties")
        self.props(props, {"p": self.schema[typ]["props"], "r": self.schema[typ]["required"]},
                   where + "/Properties")
        self.policies(props, where + "/Properties")

    def props(self, v, node, where):
        if isinstance(v, dict) and len(v) == 1:
            (k, a), = v.items()
            if k == "Fn::If" and isinstance(a, list) and len(a) == 3:
                for i, b in enumerate(a[1:]):
                    if b != {"Ref": "AWS::NoValue"}:
                        self.props(b, node, "%s[if %d]" % (where, i))
                return
            if k == "Ref" or k.startswith("Fn::"):
                return  # a value computed at deploy time
        if "p" in node and isinstance(v, dict):
            for k, x in v.items():
                if k not in node["p"]:
                    self.bad(where, "unknown property %s (known: %s)" % (k, ", ".join(sorted(node["p"]))))
                else:
                    self.props(x, node["p"][k], where + "/" + k)
            for k in node.get("r", []):
                if k not in v:
                    self.bad(where, "required property %s missing" % k)
        elif "i" in node and isinstance(v, list):
            for i, x in enumerate(v):
                self.props(x, node["i"], "%s/%d" % (where, i))

    # -- IAM actions ---------------------------------------------------------------------
    def policies(self, v, where):
        if isinstance(v, list):
            for i, x in enumerate(v):
                self.policies(x, "%s/%d" % (where, i))
        elif isinstance(v, dict):
            for k, x in v.items():
                if k in ("Action", "NotAction"):
                    for a in x if isinstance(x, list) else [x]:
                        self.action(a, where + "/" + k)
                else:
                    self.policies(x, where + "/" + k)

    def action(self, a, where):
        if not isinstance(a, str) or ":" not in a:
            self.bad(where, "IAM action %r is not service:Action" % (a,))
            return
        prefix, op = a.split(":", 1)
        ops = self.models(PREFIX_SERVICE.get(prefix, prefix))
        if ops is None:
            self.bad(where, "IAM action %s: no botocore service %s" % (a, prefix))
            return
        if "*" in op or "?" in op:
            rx = re.compile("^" + re.escape(op).replace(r"\*", ".*").replace(r"\?", ".") + "$")
            if not any(rx.match(o) for o in ops):
                self.bad(where, "IAM action %s matches no operation of %s" % (a, prefix))
            return
        if op in ops:
            return
        if a in IAM_ONLY:
            return
        self.bad(where, "IAM action %s is not an operation of %s in botocore's model" % (a, prefix))


def main():
    schema = json.load(open(os.path.join(HERE, "cfn-schema.json")))["types"]
    loader = botocore.loaders.Loader()
    cache = {}

    def models(service):
        if service not in cache:
            try:
                cache[service] = set(loader.load_service_model(service, "service-2")["operations"])
            except Exception:
                cache[service] = None
        return cache[service]

    problems = []
    for path in sys.argv[1:]:
        c = Checker(path, schema, models)
        c.run()
        problems += c.problems
    for p in problems:
        print(p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
