#!/usr/bin/env python3
"""extract-cfn-schema.py - regenerate cfn-schema.json, the list of CloudFormation resource
types, their properties (nested) and their GetAtt attributes that cfn_check.py checks
deploy/*.yaml against.

Source: the CloudFormation resource provider schemas (the registry's JSON schemas, region
us-east-1) as bundled in cfn-lint's data/schemas/resources (cfn-lint 1.51.0 from PyPI made
the committed file). CloudFormation's own specification is not reachable offline, and
cfn-lint is not a Debian package, so the test reads this extract, not cfn-lint.

  python3 extract-cfn-schema.py CFNLINT_SCHEMA_DIR TYPE... > cfn-schema.json

Each type: {"source": schema sourceUrl, "props": TREE, "required": [...], "attrs": [...]}.
A TREE node: {"p": {name: node}, "r": [required], "i": node (array items), "free": true
(an object of any keys, e.g. a policy document)}; {} is a scalar or anything.
"""
import glob
import json
import sys

import cfnlint.schema._getatts as getatts

MAX_DEPTH = 8


def resolve(schema, node, depth):
    if depth > MAX_DEPTH or not isinstance(node, dict):
        return {}
    if "$ref" in node:
        name = node["$ref"].split("/")[-1]
        return resolve(schema, schema.get("definitions", {}).get(name, {}), depth + 1)
    out = {}
    types = node.get("type")
    types = types if isinstance(types, list) else [types]
    variants = node.get("oneOf") or node.get("anyOf") or []
    if "properties" in node or any("properties" in v for v in variants if isinstance(v, dict)):
        props = dict(node.get("properties", {}))
        for v in variants:
            if isinstance(v, dict):
                props.update(v.get("properties", {}))
        out["p"] = {k: resolve(schema, v, depth + 1) for k, v in sorted(props.items())}
        if node.get("required"):
            out["r"] = sorted(node["required"])
    elif "object" in types:
        out["free"] = True
    if "items" in node:
        out["i"] = resolve(schema, node["items"], depth + 1)
    return out


def main():
    d, want = sys.argv[1], set(sys.argv[2:])
    out = {}
    for f in sorted(glob.glob(d + "/*.json")):
        s = json.load(open(f))
        t = s.get("typeName")
        if t not in want:
            continue
        top = resolve(s, {"properties": s.get("properties", {}), "required": s.get("required", [])}, 0)
        attrs = {".".join(p.split("/")[2:]) for p in s.get("readOnlyProperties", [])}
        # GetAtt beyond readOnlyProperties: cfn-lint's own lists (resources whose every
        # scalar property is an attribute, and per-type exceptions).
        if t in getatts._all_property_types:
            attrs |= {k for k, v in top.get("p", {}).items() if "p" not in v and "free" not in v}
        attrs |= set(getatts._exceptions.get(t, []))
        attrs = sorted(attrs)
        out[t] = {"source": s.get("sourceUrl"), "props": top.get("p", {}),
                  "required": top.get("r", []), "attrs": attrs}
    missing = want - set(out)
    if missing:
        sys.exit("no schema for %s" % sorted(missing))
    json.dump({"source": "CloudFormation resource provider schemas (us-east-1), bundled in "
                         "cfn-lint 1.51.0 data/schemas/resources; extract-cfn-schema.py",
               "types": out}, sys.stdout, indent=None, sort_keys=True, separators=(",", ":"))
    print()


main()
