#!/usr/bin/python3
"""aws_peer.py - a loopback AWS peer for deltair's tests: EBS direct APIs, STS, IMDSv2 and an
EC2 subset, every request checked against botocore's own service models and SigV4 signer.

It never talks to AWS. It binds 127.0.0.1 only, on a port the OS picks.

Usage (run it with Debian's interpreter, /usr/bin/python3, so it uses python3-botocore):

  aws_peer.py serve --config CONFIG.json [--port-file FILE] [--log FILE] [--proxy URL]
      Serve until SIGTERM/SIGINT. The chosen port is printed on stdout (one line) and, with
      --port-file, written to FILE (atomically, once the socket listens). --log appends one JSON
      line per request (method, path, service, operation, status, time: a monotonic clock in
      seconds, for rates). --proxy URL: requests that are none of the services below are checked
      (signature, model when botocore knows the service) and forwarded to URL (e.g. an SQS
      emulator); the upstream's answer is relayed.
  aws_peer.py ctl PORT|PORTFILE METHOD PATH [JSON]
      Call a test-only endpoint (below) and print the JSON answer; exit 1 on an HTTP error.
  aws_peer.py vectors CASEDIR...
      Check the signature verifier itself on sigv4-vectors cases (../shared/sigv4-vectors):
      each *-signed-request.txt must verify, and fail with one byte added to its path.

Services, all on the one port (point AWS_ENDPOINT_URL, `aws --endpoint-url` and
AWS_EC2_METADATA_SERVICE_ENDPOINT at http://127.0.0.1:PORT):
  EBS   GET /snapshots/ID/blocks (ListSnapshotBlocks), /snapshots/ID/blocks/N?blockToken=
        (GetSnapshotBlock: 512 KiB, x-amz-Checksum = base64 SHA-256, x-amz-Checksum-Algorithm,
        x-amz-Data-Length), /snapshots/ID/changedblocks (ListChangedBlocks). Blocks that are all
        zeros are not listed, as EBS does not list blocks never written.
  STS   POST / Action=AssumeRole | GetCallerIdentity (query protocol, XML).
  EC2   POST / Action=DescribeSnapshots | CreateVolume | DescribeVolumes | AttachVolume |
        DetachVolume | DeleteVolume | CreateTags | DescribeImages | DescribeInstances (state kept
        in memory; DescribeVolumes pages with MaxResults/NextToken).
  IMDSv2 PUT /latest/api/token (X-aws-ec2-metadata-token-ttl-seconds), then GET with
        X-aws-ec2-metadata-token: /latest/meta-data/{instance-id, placement/availability-zone,
        placement/region, iam/security-credentials/, iam/security-credentials/ROLE},
        /latest/dynamic/instance-identity/document, /latest/user-data. No token: 401.

Every signed request is verified by recomputing its SigV4 signature with botocore.auth over the
received request (method, path, query, the headers it names in SignedHeaders, the body hash)
with the known credentials, and its input is decoded and checked against the operation's input
shape (botocore's ParamValidator, plus enums, maximums and patterns). A bad signature, unknown
key, expired credentials, skewed clock or a request the model rejects gets the service's own
error response and is recorded as a violation (GET /_peer/violations); tests fail on any.

Test-only endpoints (no signature): GET /_peer/violations, DELETE /_peer/violations (clear),
GET /_peer/counters (per snapshot: requests per operation, blocks and bytes served, throttled,
faults, the busiest second), DELETE /_peer/counters, GET /_peer/ec2 (volumes, tags), GET|POST
/_peer/faults (POST a JSON list: replaces the faults), POST /_peer/instances (replaces the
config's "instances": {"i-...": {"state": "terminated"}}), POST /_peer/rate ({"GetSnapshotBlock":
N}: per snapshot per second, 0 = off), POST /_peer/expire-credentials (every temporary key
expires now), GET /_peer/health.

Config (JSON; every key optional):
  {"region": "us-east-1", "account": "111122223333",
   "credentials": [{"access_key": "AKIDEXAMPLE",
                    "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                    "session_token": null, "arn": "arn:aws:iam::111122223333:user/test"}],
   "snapshots": {"snap-0123456789abcdef0": {"image": "gold.raw", "volume_size": 1,
                                             "parent": null, "tags": {"Name": "gold"}}},
   "block_token_ttl": 3600,          # seconds a block token lives
   "page_cap": 10000,                # at most this many entries a page, whatever MaxResults
   "scan_window": 0,                 # >0: a page scans at most this many block indexes, so
                                     #     sparse ranges give empty pages with a NextToken
   "roles": {"arn:aws:iam::111122223333:role/forensics": {"external_id": "x"}},
   "assume_role_ttl": 0,             # >0: caps DurationSeconds (short credentials for tests)
   "imds": {"role": "deltair-worker", "credential_ttl": 21600, "instance_id":
            "i-0123456789abcdef0", "availability_zone": "us-east-1a", "user_data": "..."},
   "images": [{"ImageId": "ami-...", "Name": "...", ...}],   # DescribeImages answers (model names)
   "instances": {"i-...": {"state": "running", "image_id": "ami-..."}},  # DescribeInstances;
                                     # the IMDS instance is always there (running)
   "volumes": {"vol-...": {"size": 1, "tags": {...}, "instance": "i-...",
                           "device": "/dev/xvda"}},  # volumes that exist at start (a
                                     # snapshot's source volume; one attached at a device)
   "ec2_page_cap": 0,                # >0: DescribeVolumes pages hold at most this many
   "ec2_delay": 0,                   # seconds a volume stays creating/attaching/detaching
   "detach_delay": ec2_delay,        # seconds a plain DetachVolume stays detaching (Force:
                                     # detached at once)
   "rate": {"GetSnapshotBlock": 0},  # per snapshot per second (token bucket of one second)
   "max_skew": 900,                  # seconds of clock skew accepted
   "faults": [...]}
  "volume_size" is GiB (default: the image's size rounded up); "parent" names the snapshot this
  one was taken after (one lineage: ListChangedBlocks between snapshots with a common root).
  An image path is relative to the config file's directory. Images must not change while they
  are served: blocks are found and hashed once, on the first request for the snapshot.

Faults: {"op": "GetSnapshotBlock" | "ListSnapshotBlocks" | ... | "*", "kind": KIND,
         "count": 1 (times it fires; 0 = always), "skip": 0 (matching requests let through
         first), "every": 1 (fire on every Nth match), "snapshot": ID, "block": N,
         "status": S, "code": C, "delay": SECONDS}
  kinds: throttle (EBS RequestThrottledException 400, EC2 RequestLimitExceeded 503, STS
         Throttling 400; "status"/"code" override, e.g. 429 or 503), error500, drop (the
         connection is closed: for GetSnapshotBlock after the headers and half the block),
         bad_checksum (x-amz-Checksum of other data), corrupt (one byte of the block flipped,
         checksum of the true data), expired_token (GetSnapshotBlock: the block token has
         expired), empty_page (ListSnapshotBlocks/ListChangedBlocks: no entries, a NextToken to
         the same place), slow (sleep "delay" seconds first; "mid_body": true sleeps halfway
         through the block instead), expire_credentials (GetSnapshotBlock: every temporary
         key expires now, this request's included: a deterministic "expired mid-run").

The credentials here are the documentation's fake ones; never put real credentials in a config.
"""

import argparse
import base64
import collections
import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import secrets
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import botocore.loaders
import botocore.model
import botocore.validate

BLOCK = 512 * 1024
GIB = 1 << 30
ZERO_BLOCK = bytes(BLOCK)
ZERO_SHA256 = hashlib.sha256(ZERO_BLOCK).digest()

DEFAULT_CREDENTIALS = [{
    "access_key": "AKIDEXAMPLE",
    "secret_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    "session_token": None,
}]


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def jsonable(v):
    if isinstance(v, datetime.datetime):
        return iso(v)
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    return v


class PeerError(Exception):
    """An answer in the service's own error format. violation: record it (the client's fault)."""

    def __init__(self, status, code, message, reason=None, violation=None, sender=True):
        super().__init__(message)
        self.status, self.code, self.message, self.reason = status, code, message, reason
        self.violation = violation
        self.sender = sender


# ---------------------------------------------------------------------------------------------
# Models: botocore's own service descriptions, and checks of a decoded input against a shape.

class Models:
    def __init__(self):
        self._loader = botocore.loaders.Loader()
        self._cache = {}
        self._lock = threading.Lock()

    def get(self, service):
        with self._lock:
            if service not in self._cache:
                try:
                    raw = self._loader.load_service_model(service, "service-2")
                    self._cache[service] = botocore.model.ServiceModel(raw, service)
                except Exception:  # an unknown service: no model checks for it
                    self._cache[service] = None
            return self._cache[service]


# Input members newer than Debian 12's botocore models (1.29), with the values the current
# API allows: checked here, then left out of the model check. SQS's ReceiveMessage took
# MessageSystemAttributeNames in 2024 (AttributeNames, which it replaces, lacks
# ApproximateReceiveCount in the 1.29 model's enum).
NEWER_MEMBERS = {
    ("sqs", "ReceiveMessage", "MessageSystemAttributeNames"): {
        "All", "SenderId", "SentTimestamp", "ApproximateReceiveCount",
        "ApproximateFirstReceiveTimestamp", "SequenceNumber", "MessageDeduplicationId",
        "MessageGroupId", "AWSTraceHeader", "DeadLetterQueueSourceArn"},
}

_pattern_cache = {}


def _pattern(p):
    if p not in _pattern_cache:
        try:
            _pattern_cache[p] = re.compile(p)
        except re.error:  # a Java-only construct: the check is skipped, not guessed
            _pattern_cache[p] = None
    return _pattern_cache[p]


def extra_checks(shape, value, path, errs):
    """What botocore's ParamValidator leaves out: enums, maximums, patterns."""
    t = shape.type_name
    md = shape.metadata
    if t == "structure" and isinstance(value, dict):
        for k, v in value.items():
            if k in shape.members:
                extra_checks(shape.members[k], v, "%s.%s" % (path, k), errs)
    elif t == "list" and isinstance(value, list):
        if "max" in md and len(value) > md["max"]:
            errs.append("%s: %d items, at most %d" % (path, len(value), md["max"]))
        for i, v in enumerate(value):
            extra_checks(shape.member, v, "%s[%d]" % (path, i), errs)
    elif t == "map" and isinstance(value, dict):
        for k, v in value.items():
            extra_checks(shape.key, k, path + " key", errs)
            extra_checks(shape.value, v, "%s[%s]" % (path, k), errs)
    elif t == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            errs.append("%s: %r is not one of %s" % (path, value, "|".join(shape.enum)))
        if "max" in md and len(value) > md["max"]:
            errs.append("%s: length %d, at most %d" % (path, len(value), md["max"]))
        rx = _pattern(md["pattern"]) if "pattern" in md else None
        if rx is not None and not rx.fullmatch(value):
            errs.append("%s: %r does not match %s" % (path, value, md["pattern"]))
    elif t in ("integer", "long") and isinstance(value, int):
        if "max" in md and value > md["max"]:
            errs.append("%s: %d is over %d" % (path, value, md["max"]))


def validate_input(shape, params):
    """Error strings for params (member names as in the model) against an input shape."""
    if shape is None:
        return ["unexpected input %r" % sorted(params)] if params else []
    errs = []
    report = botocore.validate.ParamValidator().validate(params, shape)
    if report.has_errors():
        errs += [line.strip() for line in report.generate_report().splitlines()
                 if line.strip() and not line.startswith("Parameter validation failed")]
    extra_checks(shape, params, "input", errs)
    return errs


def _scalar_in(shape, raw, where, errs):
    t = shape.type_name
    try:
        if t in ("integer", "long"):
            if not re.fullmatch(r"-?[0-9]+", raw):
                raise ValueError
            return int(raw)
        if t in ("float", "double"):
            return float(raw)
        if t == "boolean":
            if raw not in ("true", "false"):
                raise ValueError
            return raw == "true"
        if t == "timestamp":
            if re.fullmatch(r"[0-9]+(\.[0-9]+)?", raw):
                return datetime.datetime.fromtimestamp(float(raw), datetime.timezone.utc)
            return datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        if t == "blob":
            return base64.b64decode(raw, validate=True)
    except ValueError:
        errs.append("%s: %r is not a valid %s" % (where, raw, t))
        return raw
    return raw


def _present(flat, prefix):
    if prefix in flat:
        return True
    p = prefix + "."
    return any(k.startswith(p) for k in flat)


def query_decode(shape, flat, prefix, used, errs, ec2):
    """The inverse of botocore's QuerySerializer/EC2Serializer for one shape at prefix."""
    t = shape.type_name
    if t == "structure":
        out = {}
        for name, m in shape.members.items():
            if ec2:
                key = m.serialization.get("queryName")
                if not key:
                    loc = m.serialization.get("name")
                    key = loc[0].upper() + loc[1:] if loc else name
            else:
                key = m.serialization.get("name", name)
            sub = "%s.%s" % (prefix, key) if prefix else key
            if _present(flat, sub):
                out[name] = query_decode(m, flat, sub, used, errs, ec2)
        return out
    if t == "list":
        if not ec2 and flat.get(prefix) == "":
            used.add(prefix)
            return []
        if ec2 or shape.serialization.get("flattened"):
            base = prefix
        else:
            base = prefix + "." + shape.member.serialization.get("name", "member")
        items, i = [], 1
        while _present(flat, "%s.%d" % (base, i)):
            items.append(query_decode(shape.member, flat, "%s.%d" % (base, i), used, errs, ec2))
            i += 1
        return items
    if t == "map":
        base = prefix if shape.serialization.get("flattened") else prefix + ".entry"
        ks = shape.key.serialization.get("name", "key")
        vs = shape.value.serialization.get("name", "value")
        out, i = {}, 1
        while _present(flat, "%s.%d" % (base, i)):
            k = query_decode(shape.key, flat, "%s.%d.%s" % (base, i, ks), used, errs, ec2)
            out[k] = query_decode(shape.value, flat, "%s.%d.%s" % (base, i, vs), used, errs, ec2)
            i += 1
        return out
    if prefix not in flat:
        errs.append("%s: a %s has no sub-parameters" % (prefix, t))
        return None
    used.add(prefix)
    return _scalar_in(shape, flat[prefix], prefix, errs)


# ---------------------------------------------------------------------------------------------
# Responses in each protocol's format.

def xml_put(parent, shape, value, name):
    t = shape.type_name
    if t == "list":
        mname = shape.member.serialization.get("name", "member")
        if shape.serialization.get("flattened"):
            for v in value:
                xml_put(parent, shape.member, v, mname)
        else:
            el = ET.SubElement(parent, name)
            for v in value:
                xml_put(el, shape.member, v, mname)
    elif t == "structure":
        xml_members(ET.SubElement(parent, name), shape, value)
    elif t == "map":
        el = ET.SubElement(parent, name)
        for k, v in value.items():
            e = ET.SubElement(el, "entry")
            xml_put(e, shape.key, k, shape.key.serialization.get("name", "key"))
            xml_put(e, shape.value, v, shape.value.serialization.get("name", "value"))
    else:
        el = ET.SubElement(parent, name)
        if t == "timestamp":
            el.text = iso(value)
        elif t == "boolean":
            el.text = "true" if value else "false"
        elif t == "blob":
            el.text = base64.b64encode(value).decode()
        else:
            el.text = str(value)


def xml_members(el, shape, value):
    for mname, mshape in shape.members.items():
        if value.get(mname) is not None:
            xml_put(el, mshape, value[mname], mshape.serialization.get("name", mname))


def xml_bytes(root):
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)


def ebs_json(shape, value):
    out = {}
    for mname, mshape in shape.members.items():
        v = value.get(mname)
        if v is None or mshape.serialization.get("location"):
            continue
        if mshape.type_name == "timestamp":
            v = v.timestamp()
        out[mshape.serialization.get("name", mname)] = v
    return out


# ---------------------------------------------------------------------------------------------
# Snapshots served from raw images.

class FileSlice:
    """length bytes of a file at off, as a response body: Handler.send() hands it to
    socket.sendfile (the kernel copies it; Python never holds the block)."""

    def __init__(self, f, off, length):
        self.file, self.off, self.length = f, off, length

    def __len__(self):
        return self.length


class Snapshot:
    def __init__(self, sid, spec, base):
        self.id = sid
        self.path = os.path.join(base, spec["image"])
        self.image_size = os.path.getsize(self.path)
        gib = spec.get("volume_size") or max(1, -(-self.image_size // GIB))
        self.volume_size = int(gib)
        self.nblocks = self.volume_size * GIB // BLOCK
        self.parent = spec.get("parent")
        self.tags = spec.get("tags") or {}
        self.volume_id = spec.get("volume_id")  # None: the Peer names it after the lineage
        self.start_time = utcnow()
        self.description = spec.get("description", "")
        self._digests = None  # block index -> sha256 of the nonzero blocks; lazily
        self._fd = None
        self._file = None  # for FileSlice: socket.sendfile takes a file object
        self._lock = threading.Lock()

    def slice(self, idx):
        """Block idx as a FileSlice when the image holds all of it (sent with sendfile, no
        copy through Python), else as bytes."""
        off = idx * BLOCK
        if off + BLOCK > self.image_size:
            return self.read(idx)
        with self._lock:
            if self._file is None:
                self._file = open(self.path, "rb", buffering=0)
        return FileSlice(self._file, off, BLOCK)

    def read(self, idx):
        off = idx * BLOCK
        if off >= self.image_size:
            return ZERO_BLOCK
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)  # pread is safe across threads
        data = os.pread(self._fd, BLOCK, off)
        return data + bytes(BLOCK - len(data))

    def digests(self):
        """The nonzero blocks (as EBS lists only written blocks), found once; holes skipped."""
        with self._lock:
            if self._digests is not None:
                return self._digests
            d = {}
            fd = os.open(self.path, os.O_RDONLY)
            try:
                off = 0
                while off < self.image_size:
                    try:
                        data_at = os.lseek(fd, off, os.SEEK_DATA)
                    except OSError:
                        break
                    off = data_at - data_at % BLOCK
                    end = os.lseek(fd, data_at, os.SEEK_HOLE)
                    while off < end:
                        b = os.pread(fd, BLOCK, off)
                        if b.count(0) != len(b):
                            b += bytes(BLOCK - len(b))
                            d[off // BLOCK] = hashlib.sha256(b).digest()
                        off += BLOCK
            finally:
                os.close(fd)
            self._digests = d
            return d


# ---------------------------------------------------------------------------------------------
# The peer's state.

class Bucket:
    """A token bucket holding one second of the rate, refilled continuously."""

    def __init__(self, rate):
        self.rate, self.tokens, self.t = rate, float(rate), time.monotonic()

    def take(self):
        now = time.monotonic()
        self.tokens = min(self.rate, self.tokens + (now - self.t) * self.rate)
        self.t = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


def new_snap_counters():
    return {"ListSnapshotBlocks": 0, "GetSnapshotBlock": 0, "ListChangedBlocks": 0,
            "blocks": 0, "bytes": 0, "throttled": 0, "faults": 0, "peak_per_second": 0,
            "first": None, "last": None}


class Peer:
    def __init__(self, config, base, log_path=None, proxy=None):
        self.cfg = config
        self.region = config.get("region", "us-east-1")
        self.account = str(config.get("account", "111122223333"))
        self.models = Models()
        self.lock = threading.RLock()
        self.key = secrets.token_bytes(32)  # signs block and page tokens
        self.log_path = log_path
        self.proxy = proxy
        self.creds = {}
        for c in config.get("credentials") or DEFAULT_CREDENTIALS:
            self.creds[c["access_key"]] = {
                "secret": c["secret_key"], "token": c.get("session_token"), "expires": None,
                "arn": c.get("arn", "arn:aws:iam::%s:user/test" % self.account),
                "user_id": c.get("user_id", "AIDAEXAMPLEUSERID0000")}
        self.snapshots = {sid: Snapshot(sid, spec, base)
                          for sid, spec in (config.get("snapshots") or {}).items()}
        imds = config.get("imds") or {}
        self.imds = {"role": imds.get("role", "deltair-worker"),
                     "credential_ttl": imds.get("credential_ttl", 21600),
                     "instance_id": imds.get("instance_id", "i-0123456789abcdef0"),
                     "availability_zone": imds.get("availability_zone", self.region + "a"),
                     "user_data": imds.get("user_data")}
        self.imds_tokens = {}
        self.faults = []
        self.set_faults(config.get("faults") or [])
        self.rates = {}
        self.buckets = {}
        self.set_rates(config.get("rate") or {})
        self.violations = []
        self.reset_counters()
        self.volumes = {}
        self.tags = collections.defaultdict(dict)  # resource id -> {key: value}
        for vid, spec in (config.get("volumes") or {}).items():
            inst = spec.get("instance")
            self.volumes[vid] = {
                "VolumeId": vid, "Size": spec.get("size", 1), "SnapshotId": "",
                "AvailabilityZone": spec.get("availability_zone", self.imds["availability_zone"]),
                "State": "in-use" if inst else "available", "CreateTime": utcnow(),
                "Attachments": [{"VolumeId": vid, "InstanceId": inst,
                                 "Device": spec.get("device", "/dev/xvda"),
                                 "State": "attached", "AttachTime": utcnow(),
                                 "DeleteOnTermination": True}] if inst else [],
                "VolumeType": "gp3", "Encrypted": False, "MultiAttachEnabled": False,
                "_changed": 0}
            self.tags[vid].update(spec.get("tags") or {})
        for sid, s in self.snapshots.items():
            self.tags[sid].update(s.tags)
            if s.volume_id is None:  # snapshots of one lineage come from one volume
                root = self.lineage_root(sid)
                s.volume_id = "vol-" + hashlib.sha256(root.encode()).hexdigest()[:17]

    # -- bookkeeping --------------------------------------------------------------------------
    def reset_counters(self):
        with self.lock:
            self.counters = {"requests": 0, "operations": collections.Counter(),
                             "snapshots": collections.defaultdict(new_snap_counters),
                             "imds_credentials": 0, "imds_tokens": 0}
            self.recent = collections.defaultdict(collections.deque)

    def count(self, op, snap=None, blocks=0, nbytes=0):
        with self.lock:
            self.counters["operations"][op] += 1
            if snap:
                c = self.counters["snapshots"][snap]
                c[op] = c.get(op, 0) + 1
                c["blocks"] += blocks
                c["bytes"] += nbytes
                now = time.time()
                c["first"] = c["first"] or now
                c["last"] = now
                if op == "GetSnapshotBlock":
                    q = self.recent[snap]
                    q.append(time.monotonic())
                    while q[0] < q[-1] - 1.0:
                        q.popleft()
                    c["peak_per_second"] = max(c["peak_per_second"], len(q))

    def snap_counter(self, snap, what):
        with self.lock:
            self.counters["snapshots"][snap][what] += 1

    def violation(self, kind, detail, req):
        v = {"time": iso(utcnow()), "kind": kind, "detail": detail,
             "method": req.get("method"), "path": req.get("path"),
             "service": req.get("service"), "operation": req.get("operation")}
        with self.lock:
            self.violations.append(v)
        self.log({"violation": v})

    def log(self, rec):
        if not self.log_path:
            return
        with self.lock, open(self.log_path, "a") as f:
            f.write(json.dumps(rec, sort_keys=True) + "\n")

    def set_faults(self, faults):
        with self.lock:
            self.faults = [dict(f, seen=0, fired=0) for f in faults]

    def set_rates(self, rates):
        with self.lock:
            self.rates = {k: int(v) for k, v in rates.items()}
            self.buckets = {}

    def fault(self, op, snap=None, block=None, kinds=None):
        """The fault that fires on this request, or None."""
        with self.lock:
            for f in self.faults:
                if f.get("op", "*") not in ("*", op):
                    continue
                if kinds and f["kind"] not in kinds:
                    continue
                if "snapshot" in f and f["snapshot"] != snap:
                    continue
                if "block" in f and f["block"] != block:
                    continue
                count = f.get("count", 1)
                if count and f["fired"] >= count:
                    continue
                f["seen"] += 1
                if f["seen"] <= f.get("skip", 0):
                    continue
                if (f["seen"] - f.get("skip", 0) - 1) % f.get("every", 1):
                    continue
                f["fired"] += 1
                if snap:
                    self.counters["snapshots"][snap]["faults"] += 1
                return f
        return None

    def rate_ok(self, op, snap):
        with self.lock:
            rate = self.rates.get(op, 0)
            if not rate:
                return True
            b = self.buckets.get((op, snap))
            if b is None or b.rate != rate:
                b = self.buckets[(op, snap)] = Bucket(rate)
            if b.take():
                return True
            self.counters["snapshots"][snap]["throttled"] += 1
            return False

    def now(self):
        """The clock signatures are checked against ("now" in the config fixes it, for vectors)."""
        if "now" in self.cfg:
            return datetime.datetime.fromisoformat(self.cfg["now"].replace("Z", "+00:00"))
        return utcnow()

    # -- credentials ----------------------------------------------------------------------------
    def mint_credentials(self, ttl, arn, user_id):
        ak = "ASIA" + "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))
        rec = {"secret": secrets.token_urlsafe(30)[:40],
               "token": base64.b64encode(secrets.token_bytes(96)).decode(),
               "expires": utcnow() + datetime.timedelta(seconds=ttl), "arn": arn,
               "user_id": user_id}
        with self.lock:
            self.creds[ak] = rec
        return ak, rec

    def expire_credentials(self):
        with self.lock:
            past = utcnow() - datetime.timedelta(seconds=1)
            n = 0
            for rec in self.creds.values():
                if rec["expires"] is not None:
                    rec["expires"] = past
                    n += 1
            return n

    # -- tokens ---------------------------------------------------------------------------------
    def token(self, kind, idx, exp):
        body = struct.pack(">QQ", idx, exp)
        mac = hmac.new(self.key, kind.encode() + body, hashlib.sha256).digest()[:18]
        return base64.b64encode(body + mac).decode()

    def untoken(self, kind, tok):
        """(index, expiry) of a token minted for kind, or None if it was not."""
        try:
            raw = base64.b64decode(tok, validate=True)
        except ValueError:
            return None
        if len(raw) != 34:
            return None
        body, mac = raw[:16], raw[16:]
        want = hmac.new(self.key, kind.encode() + body, hashlib.sha256).digest()[:18]
        if not hmac.compare_digest(mac, want):
            return None
        return struct.unpack(">QQ", body)

    def lineage_root(self, sid):
        seen = set()
        while sid in self.snapshots and self.snapshots[sid].parent and sid not in seen:
            seen.add(sid)
            sid = self.snapshots[sid].parent
        return sid


# ---------------------------------------------------------------------------------------------
# SigV4 verification with botocore's signer.

class _Recompute(botocore.auth.SigV4Auth):
    """botocore's SigV4Auth over exactly the headers the client signed."""

    def __init__(self, creds, service, region, signed):
        super().__init__(creds, service, region)
        self._signed = signed

    def headers_to_sign(self, request):
        hm = botocore.awsrequest.HTTPHeaders()
        for name in self._signed:
            for v in request.headers.get_all(name) or []:
                hm[name] = v
        return hm


class _RecomputeS3(_Recompute):
    def _normalize_url_path(self, path):
        return path  # S3: the path is encoded once, as sent


class _RecomputeQuery(_Recompute):
    def payload(self, request):
        return botocore.auth.UNSIGNED_PAYLOAD if self._service_name == "s3" \
            else super().payload(request)


class _RecomputeQueryS3(_RecomputeQuery):
    def _normalize_url_path(self, path):
        return path


AUTH_RX = re.compile(r"AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)"
                     r"\s*,\s*Signature=([0-9a-f]{64})\s*$")


def auth_error(protocol, what, message):
    """The error each protocol answers for an authentication failure of kind what."""
    table = {
        "json": {"missing": (403, "MissingAuthenticationTokenException"),
                 "key": (403, "UnrecognizedClientException"),
                 "signature": (403, "InvalidSignatureException"),
                 "expired": (403, "ExpiredTokenException"),
                 "skew": (403, "InvalidSignatureException")},
        "query": {"missing": (403, "MissingAuthenticationToken"),
                  "key": (403, "InvalidClientTokenId"),
                  "signature": (403, "SignatureDoesNotMatch"),
                  "expired": (400, "ExpiredToken"),
                  "skew": (403, "SignatureDoesNotMatch")},
        "ec2": {"missing": (401, "AuthFailure"), "key": (401, "AuthFailure"),
                "signature": (401, "AuthFailure"), "expired": (400, "RequestExpired"),
                "skew": (400, "RequestExpired")},
    }[protocol]
    status, code = table[what]
    return PeerError(status, code, message, violation="auth")


def verify_sigv4(peer, req, service, protocol):
    """The credential record that signed req (raises PeerError otherwise)."""
    h = req["headers"]
    q = req["query"]
    presigned = "X-Amz-Algorithm" in q
    if presigned:
        if q.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise auth_error(protocol, "signature", "unsupported X-Amz-Algorithm")
        try:
            cred, signed_s, sig = (q["X-Amz-Credential"], q["X-Amz-SignedHeaders"],
                                   q["X-Amz-Signature"])
            amz_date = q["X-Amz-Date"]
            expires = int(q["X-Amz-Expires"])
        except (KeyError, ValueError):
            raise auth_error(protocol, "missing", "incomplete presigned query parameters")
        token = q.get("X-Amz-Security-Token")
    else:
        auth = h.get("authorization")
        if not auth:
            raise auth_error(protocol, "missing", "Missing Authentication Token")
        m = AUTH_RX.fullmatch(auth.strip())
        if not m:
            raise auth_error(protocol, "signature",
                             "malformed Authorization header (want AWS4-HMAC-SHA256 "
                             "Credential=..., SignedHeaders=..., Signature=<64 hex>)")
        cred, signed_s, sig = m.groups()
        amz_date = h.get("x-amz-date")
        if amz_date is None:
            raise auth_error(protocol, "signature", "no X-Amz-Date header")
        token = h.get("x-amz-security-token")
        expires = None
    parts = cred.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise auth_error(protocol, "signature", "malformed credential scope %r" % cred)
    ak, day, region, svc, _ = parts
    signed = signed_s.split(";")
    if signed != sorted(signed) or any(s != s.lower() for s in signed):
        raise auth_error(protocol, "signature", "SignedHeaders not lowercase and sorted: %s"
                         % signed_s)
    if "host" not in signed:
        raise auth_error(protocol, "signature", "the host header is not signed")
    if not presigned and "x-amz-date" not in signed:
        raise auth_error(protocol, "signature", "x-amz-date is not signed")
    for name in signed:
        if name not in h:
            raise auth_error(protocol, "signature", "signed header %r is absent" % name)
    if not re.fullmatch(r"[0-9]{8}T[0-9]{6}Z", amz_date) or amz_date[:8] != day:
        raise auth_error(protocol, "signature", "X-Amz-Date %r does not match the scope date %r"
                         % (amz_date, day))
    if region != peer.region:
        raise auth_error(protocol, "signature", "credential scope region %r, want %r"
                         % (region, peer.region))
    if svc != service:
        raise auth_error(protocol, "signature", "credential scope service %r, want %r"
                         % (svc, service))
    with peer.lock:
        rec = peer.creds.get(ak)
    if rec is None:
        raise auth_error(protocol, "key", "The security token included in the request is "
                         "invalid (unknown access key %s)" % ak)
    if rec["token"] is not None and token != rec["token"]:
        raise auth_error(protocol, "key", "The security token included in the request is "
                         "invalid (session token %s)" % ("missing" if token is None else "wrong"))
    if rec["token"] is None and token is not None:
        raise auth_error(protocol, "key", "a session token with long-term credentials")
    when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
        tzinfo=datetime.timezone.utc)
    now = peer.now()
    skew = peer.cfg.get("max_skew", 900)
    if presigned:
        if now > when + datetime.timedelta(seconds=expires) or when - now > \
                datetime.timedelta(seconds=skew):
            raise auth_error(protocol, "skew", "Request has expired")
    elif abs((now - when).total_seconds()) > skew:
        raise auth_error(protocol, "skew", "Signature expired: %s is now earlier than %s"
                         % (amz_date, iso(now)))
    if rec["expires"] is not None and now >= rec["expires"]:
        raise auth_error(protocol, "expired", "The security token included in the request is "
                         "expired")
    # The body's declared hash must be the body's (S3 answers XAmzContentSHA256Mismatch).
    declared = h.get("x-amz-content-sha256")
    if declared and re.fullmatch(r"[0-9a-f]{64}", declared) and \
            declared != hashlib.sha256(req["body"]).hexdigest():
        raise auth_error(protocol, "signature", "x-amz-content-sha256 is not the body's hash")

    # Rebuild the request as botocore would hold it: the path as received (botocore encodes it
    # a second time for every service but S3, as clients must), the query decoded and encoded
    # again canonically, the headers as received.
    pairs = [(k, v) for k, v in req["query_pairs"] if not (presigned and k == "X-Amz-Signature")]
    query = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"),
                                urllib.parse.quote(v, safe="-_.~")) for k, v in pairs)
    url = "http://%s%s%s" % (h.get("host", "localhost"), req["raw_path"],
                             "?" + query if query else "")
    headers = botocore.awsrequest.HTTPHeaders()
    for k, v in req["header_list"]:
        headers[k.lower()] = v
    areq = botocore.awsrequest.AWSRequest(method=req["method"], url=url, headers=headers,
                                          data=req["body"])
    areq.context["timestamp"] = amz_date
    creds = botocore.credentials.Credentials(ak, rec["secret"], rec["token"])
    if presigned:
        cls = _RecomputeQueryS3 if service == "s3" else _RecomputeQuery
    else:
        cls = _RecomputeS3 if service == "s3" else _Recompute
    signer = cls(creds, service, region, signed)
    canonical = signer.canonical_request(areq)
    string_to_sign = signer.string_to_sign(areq, canonical)
    want = signer.signature(string_to_sign, areq)
    if not hmac.compare_digest(want, sig):
        raise auth_error(protocol, "signature",
                         "The request signature we calculated does not match the signature you "
                         "provided. Canonical request: %r" % canonical)
    return dict(rec, access_key=ak)


# ---------------------------------------------------------------------------------------------
# EBS direct APIs (rest-json).

EBS_ROUTES = []  # (regex, operation name, uri label -> member)


def ebs_routes(model):
    if EBS_ROUTES:
        return EBS_ROUTES
    for name in model.operation_names:
        op = model.operation_model(name)
        uri = op.http["requestUri"].split("?")[0]
        labels = {}
        for mname, m in op.input_shape.members.items():
            if m.serialization.get("location") == "uri":
                labels[m.serialization.get("name", mname)] = mname
        rx = re.sub(r"\\\{([^}]+)\\\}", lambda g: "(?P<%s>[^/]+)" % g.group(1),
                    re.escape(uri))
        EBS_ROUTES.append((op.http["method"], re.compile(rx + "$"), name, labels))
    return EBS_ROUTES


def ebs_error(status, code, message, reason=None, violation=None):
    return PeerError(status, code, message, reason=reason, violation=violation)


class EBS:
    def __init__(self, peer):
        self.peer = peer
        self.model = peer.models.get("ebs")

    def route(self, req):
        path = urllib.parse.unquote(req["raw_path"])
        for method, rx, name, labels in ebs_routes(self.model):
            m = rx.match(path)
            if m and method == req["method"]:
                return name, {labels[k]: v for k, v in m.groupdict().items()}
        return None, None

    def decode(self, op, uri_params, req):
        shape = op.input_shape
        errs = []
        params = {}
        by_query = {}
        for mname, m in shape.members.items():
            loc = m.serialization.get("location")
            if loc == "querystring":
                by_query[m.serialization.get("name", mname)] = (mname, m)
            elif loc == "header":
                hv = req["headers"].get(m.serialization.get("name", mname).lower())
                if hv is not None:
                    params[mname] = _scalar_in(m, hv, mname, errs)
            elif loc == "uri":
                params[mname] = _scalar_in(m, uri_params[mname], mname, errs)
        for k, v in req["input_pairs"]:
            if k not in by_query:
                errs.append("unknown query parameter %r" % k)
                continue
            mname, m = by_query[k]
            if mname in params:
                errs.append("query parameter %r repeated" % k)
            params[mname] = _scalar_in(m, v, k, errs)
        if req["body"]:
            errs.append("%s takes no body" % op.name)
        return params, errs + validate_input(shape, params)

    def handle(self, req, principal):
        name, uri_params = self.route(req)
        if name is None:
            raise ebs_error(404, "ResourceNotFoundException", "no EBS operation at %s %s"
                            % (req["method"], req["raw_path"]), violation="model")
        req["operation"] = name
        op = self.model.operation_model(name)
        params, errs = self.decode(op, uri_params, req)
        if errs:
            raise ebs_error(400, "ValidationException", "; ".join(errs),
                            reason="INVALID_PARAMETER_VALUE", violation="model")
        return getattr(self, name)(op, params, req)

    def snapshot(self, sid):
        s = self.peer.snapshots.get(sid)
        if s is None:
            raise ebs_error(404, "ResourceNotFoundException", "The snapshot '%s' does not exist"
                            % sid, reason="SNAPSHOT_NOT_FOUND")
        return s

    def gate(self, op, snap, block=None):
        """Rate limit, then the faults that answer before any work."""
        peer = self.peer
        if not peer.rate_ok(op, snap):
            raise ebs_error(400, "RequestThrottledException", "Rate exceeded for snapshot "
                            "'%s'" % snap, reason="RESOURCE_LEVEL_THROTTLE")
        f = peer.fault(op, snap, block, kinds=("throttle", "error500", "slow", "drop"))
        if f is None:
            return None
        if f["kind"] == "slow" and not f.get("mid_body"):
            time.sleep(f.get("delay", 1.0))
            return None
        if f["kind"] == "throttle":
            peer.snap_counter(snap, "throttled")
            status = f.get("status", 400)
            code = f.get("code") or {400: "RequestThrottledException", 429: "ThrottlingException",
                                     503: "ServiceUnavailableException"}.get(status,
                                                                             "ThrottlingException")
            raise ebs_error(status, code, "Rate exceeded", reason="ACCOUNT_THROTTLED")
        if f["kind"] == "error500":
            raise ebs_error(f.get("status", 500), f.get("code", "InternalServerException"),
                            "An internal error has occurred (injected)")
        if op != "GetSnapshotBlock":
            if f["kind"] == "drop":
                raise ConnectionAbortedError("injected drop")
            time.sleep(f.get("delay", 1.0))  # slow, mid_body: a listing is sent whole
            return None
        return f

    def page(self, op, snap_key, params, nblocks):
        peer = self.peer
        kind = "page|%s|%s" % (op, snap_key)
        if params.get("NextToken") is not None:
            t = peer.untoken(kind, params["NextToken"])
            if t is None:
                raise ebs_error(400, "ValidationException", "The pagination token is invalid",
                                reason="INVALID_PAGE_TOKEN", violation="semantics")
            start = t[0]
        else:
            start = params.get("StartingBlockIndex", 0)
        limit = min(params.get("MaxResults", 10000), peer.cfg.get("page_cap", 10000))
        window = peer.cfg.get("scan_window", 0) or nblocks
        return kind, start, limit, min(nblocks, start + window)

    def _list(self, op, params, req, snap_key, nblocks, entries_of, out_member, snap_for_gate):
        peer = self.peer
        f = self.gate(op.name, snap_for_gate)
        kind, start, limit, stop = self.page(op.name, snap_key, params, nblocks)
        exp = int(time.time()) + int(peer.cfg.get("block_token_ttl", 3600))
        out = {"VolumeSize": self.peer.snapshots[snap_for_gate].volume_size, "BlockSize": BLOCK,
               "ExpiryTime": datetime.datetime.fromtimestamp(exp, datetime.timezone.utc)}
        if f is None:
            f = peer.fault(op.name, snap_for_gate, None, kinds=("empty_page",))
        if f is not None and f["kind"] == "empty_page":
            out[out_member] = []
            out["NextToken"] = peer.token(kind, start, exp)
        else:
            entries, nxt = entries_of(start, stop, limit, exp)
            out[out_member] = entries
            if nxt < nblocks:
                out["NextToken"] = peer.token(kind, nxt, exp)
        peer.count(op.name, snap_for_gate)
        return self.json_answer(op, out)

    def json_answer(self, op, out):
        errs = []
        extra_checks(op.output_shape, out, "output", errs)
        if errs:
            raise PeerError(500, "PeerBug", "; ".join(errs), violation="peer", sender=False)
        body = json.dumps(ebs_json(op.output_shape, out)).encode()
        return 200, {"Content-Type": "application/json"}, body

    def ListSnapshotBlocks(self, op, params, req):
        s = self.snapshot(params["SnapshotId"])
        digests = s.digests()

        def entries(start, stop, limit, exp):
            got = []
            for idx in sorted(i for i in digests if start <= i < stop):
                if len(got) == limit:
                    return got, idx
                got.append({"BlockIndex": idx,
                            "BlockToken": self.peer.token("block|" + s.id, idx, exp)})
            return got, stop

        return self._list(op, params, req, s.id, s.nblocks, entries, "Blocks", s.id)

    def ListChangedBlocks(self, op, params, req):
        second = self.snapshot(params["SecondSnapshotId"])
        first = None
        if params.get("FirstSnapshotId") is not None:
            first = self.snapshot(params["FirstSnapshotId"])
            if self.peer.lineage_root(first.id) != self.peer.lineage_root(second.id):
                raise ebs_error(400, "ValidationException", "The snapshots '%s' and '%s' are not "
                                "of one lineage" % (first.id, second.id),
                                reason="UNRELATED_SNAPSHOTS")
            if first.id == second.id:
                raise ebs_error(400, "ValidationException", "the two snapshots are one",
                                reason="INVALID_PARAMETER_VALUE")
        d2 = second.digests()
        d1 = first.digests() if first else {}
        nblocks = second.nblocks

        def entries(start, stop, limit, exp):
            got = []
            idxs = set(d2) | set(d1) if first else set(d2)
            for idx in sorted(i for i in idxs if start <= i < stop):
                if first and d1.get(idx) == d2.get(idx):
                    continue
                if len(got) == limit:
                    return got, idx
                e = {"BlockIndex": idx}
                if idx in d1 and idx < first.nblocks:
                    e["FirstBlockToken"] = self.peer.token("block|" + first.id, idx, exp)
                if idx in d2:
                    e["SecondBlockToken"] = self.peer.token("block|" + second.id, idx, exp)
                got.append(e)
            return got, stop

        key = "%s|%s" % (first.id if first else "", second.id)
        return self._list(op, params, req, key, nblocks, entries, "ChangedBlocks", second.id)

    def GetSnapshotBlock(self, op, params, req):
        peer = self.peer
        s = self.snapshot(params["SnapshotId"])
        idx = params["BlockIndex"]
        if idx >= s.nblocks:
            raise ebs_error(400, "ValidationException", "block index %d is beyond the volume "
                            "(%d blocks)" % (idx, s.nblocks), reason="INVALID_BLOCK",
                            violation="semantics")
        t = peer.untoken("block|" + s.id, params["BlockToken"])
        if t is None or t[0] != idx:
            raise ebs_error(400, "ValidationException", "The block token is not valid for "
                            "block %d of '%s'" % (idx, s.id), reason="INVALID_BLOCK_TOKEN",
                            violation="semantics")
        f = self.gate(op.name, s.id, idx)
        if peer.fault(op.name, s.id, idx, kinds=("expire_credentials",)):
            peer.expire_credentials()
            raise auth_error("json", "expired", "The security token included in the request is "
                             "expired")
        if t[1] < time.time() or peer.fault(op.name, s.id, idx, kinds=("expired_token",)):
            raise ebs_error(400, "ValidationException", "The block token has expired",
                            reason="INVALID_BLOCK_TOKEN")
        # The digest from the scan: images must not change while they are served.
        digest = s.digests().get(idx) or ZERO_SHA256
        checksum = base64.b64encode(digest).decode()
        g = f or peer.fault(op.name, s.id, idx, kinds=("bad_checksum", "corrupt"))
        data = s.read(idx) if g is not None else s.slice(idx)
        if g is not None and g["kind"] == "bad_checksum":
            checksum = base64.b64encode(hashlib.sha256(data + b"x").digest()).decode()
        elif g is not None and g["kind"] == "corrupt":
            data = bytearray(data)
            data[g.get("offset", 4096)] ^= 0x01
            data = bytes(data)
        peer.count(op.name, s.id, blocks=1, nbytes=len(data))
        headers = {"Content-Type": "application/octet-stream", "x-amz-Checksum": checksum,
                   "x-amz-Checksum-Algorithm": "SHA256", "x-amz-Data-Length": str(len(data))}
        return 200, headers, data, g


# ---------------------------------------------------------------------------------------------
# Query-protocol services: STS and EC2.

class QueryService:
    service = None
    protocol = "query"
    xmlns = None

    def __init__(self, peer):
        self.peer = peer
        self.model = peer.models.get(self.service)

    def error(self, status, code, message, violation=None, sender=True):
        return PeerError(status, code, message, violation=violation, sender=sender)

    def handle(self, req, principal):
        flat = req["form"]
        action = flat.get("Action")
        req["operation"] = action
        if action not in self.model.operation_names or not hasattr(self, action):
            raise self.error(400, "InvalidAction", "The action %s is not valid for this web "
                             "service" % action, violation="model")
        op = self.model.operation_model(action)
        if flat.get("Version") != self.model.api_version:
            raise self.error(400, "InvalidParameterValue" if self.protocol == "ec2" else
                             "InvalidVersion", "Version %r, want %r" %
                             (flat.get("Version"), self.model.api_version), violation="model")
        used = {"Action", "Version"}
        errs = []
        params = {}
        if op.input_shape is not None:
            params = query_decode(op.input_shape, flat, "", used, errs, self.protocol == "ec2")
        unknown = sorted(k for k in flat if k not in used)
        if unknown:
            code = "UnknownParameter"
            errs.insert(0, "unknown parameter(s) %s" % ", ".join(unknown))
        else:
            code = "InvalidParameterValue"
        errs += validate_input(op.input_shape, params)
        if errs:
            if any("Missing required" in e for e in errs):
                code = "MissingParameter"
            if self.protocol != "ec2":
                code = "ValidationError"
            raise self.error(400, code, "; ".join(errs), violation="model")
        f = self.peer.fault(action, None, None, kinds=("throttle", "error500", "slow", "drop"))
        if f is not None:
            self.injected(f)
        if params.get("DryRun"):
            raise self.error(412, "DryRunOperation", "Request would have succeeded, but DryRun "
                             "flag is set.")
        out = getattr(self, action)(params, principal, req)
        self.peer.count(action)
        return self.answer(op, out or {})

    def injected(self, f):
        if f["kind"] == "slow":
            time.sleep(f.get("delay", 1.0))
            return
        if f["kind"] == "drop":
            raise ConnectionAbortedError("injected drop")
        if f["kind"] == "throttle":
            status, code = (503, "RequestLimitExceeded") if self.protocol == "ec2" else \
                (400, "Throttling")
            raise self.error(f.get("status", status), f.get("code", code), "Rate exceeded")
        raise self.error(f.get("status", 500), f.get("code", "InternalError" if self.protocol ==
                                                     "ec2" else "InternalFailure"),
                         "An internal error has occurred (injected)", sender=False)

    def answer(self, op, out):
        errs = []
        if op.output_shape is not None:
            extra_checks(op.output_shape, out, "output", errs)
        if errs:
            raise self.error(500, "PeerBug", "; ".join(errs), violation="peer", sender=False)
        rid = secrets.token_hex(16)
        root = ET.Element(op.name + "Response", xmlns=self.xmlns)
        if self.protocol == "ec2":
            ET.SubElement(root, "requestId").text = rid
            if op.output_shape is not None:
                xml_members(root, op.output_shape, out)
            elif op.name in ("DeleteVolume", "CreateTags"):
                ET.SubElement(root, "return").text = "true"
        else:
            if op.output_shape is not None:
                wrapper = op.output_shape.serialization.get("resultWrapper", op.name + "Result")
                xml_members(ET.SubElement(root, wrapper), op.output_shape, out)
            ET.SubElement(ET.SubElement(root, "ResponseMetadata"), "RequestId").text = rid
        return 200, {"Content-Type": "text/xml;charset=UTF-8"}, xml_bytes(root)


class STS(QueryService):
    service = "sts"
    xmlns = "https://sts.amazonaws.com/doc/2011-06-15/"

    def GetCallerIdentity(self, params, principal, req):
        return {"UserId": principal["user_id"], "Account": self.peer.account,
                "Arn": principal["arn"]}

    def AssumeRole(self, params, principal, req):
        roles = self.peer.cfg.get("roles")
        arn = params["RoleArn"]
        if roles is not None:
            role = roles.get(arn)
            if role is None or role.get("external_id") != params.get("ExternalId"):
                raise self.error(403, "AccessDenied", "User: %s is not authorized to perform: "
                                 "sts:AssumeRole on resource: %s" % (principal["arn"], arn))
        ttl = params.get("DurationSeconds", 3600)
        cap = self.peer.cfg.get("assume_role_ttl", 0)
        if cap:
            ttl = min(ttl, cap)
        name = params["RoleSessionName"]
        m = re.fullmatch(r"arn:aws:iam::([0-9]{12}):role/(?:.*/)?([^/]+)", arn)
        if not m:
            raise self.error(400, "ValidationError", "%r is not a role ARN" % arn,
                             violation="semantics")
        role_id = "AROA" + hashlib.sha256(arn.encode()).hexdigest()[:17].upper()
        assumed = "arn:aws:sts::%s:assumed-role/%s/%s" % (m.group(1), m.group(2), name)
        ak, rec = self.peer.mint_credentials(ttl, assumed, "%s:%s" % (role_id, name))
        return {"Credentials": {"AccessKeyId": ak, "SecretAccessKey": rec["secret"],
                                "SessionToken": rec["token"], "Expiration": rec["expires"]},
                "AssumedRoleUser": {"AssumedRoleId": "%s:%s" % (role_id, name),
                                    "Arn": assumed}}


def _filters_match(filters, get):
    """EC2 filters: every filter matches if any of its values does (* and ? as wildcards)."""
    for flt in filters or []:
        have = get(flt["Name"])
        if have is None:
            return False
        have = have if isinstance(have, list) else [have]
        rxs = [re.compile(re.escape(v).replace(r"\*", ".*").replace(r"\?", ".") + "$")
               for v in flt.get("Values", [])]
        if not any(rx.match(str(h)) for rx in rxs for h in have):
            return False
    return True


class EC2(QueryService):
    service = "ec2"
    protocol = "ec2"
    xmlns = "http://ec2.amazonaws.com/doc/2016-11-15/"

    def tag_list(self, rid):
        return [{"Key": k, "Value": v} for k, v in sorted(self.peer.tags.get(rid, {}).items())]

    def settle(self, vol):
        """A volume's pending state becomes final after ec2_delay seconds."""
        delay = self.peer.cfg.get("ec2_delay", 0)
        age = time.time() - vol["_changed"]
        if any(a["State"] == "detaching" for a in vol["Attachments"]):
            if age >= self.peer.cfg.get("detach_delay", delay):
                vol["Attachments"] = []
                vol["State"] = "available"
            return
        if age < delay:
            return
        if vol["State"] == "creating":
            vol["State"] = "available"
        for a in vol["Attachments"]:
            if a["State"] == "attaching":
                a["State"] = "attached"
        if any(a["State"] == "detaching" for a in vol["Attachments"]):
            vol["Attachments"] = []
            vol["State"] = "available"
        if vol["State"] == "deleting":
            del self.peer.volumes[vol["VolumeId"]]

    def volume(self, vid):
        v = self.peer.volumes.get(vid)
        if v is None:
            raise self.error(400, "InvalidVolume.NotFound", "The volume '%s' does not exist."
                             % vid)
        return v

    def public(self, vol):
        return dict({k: v for k, v in vol.items() if not k.startswith("_")},
                    Tags=self.tag_list(vol["VolumeId"]) or None,
                    Attachments=[dict(a) for a in vol["Attachments"]])

    def apply_tag_specs(self, specs, rtype, rid):
        for spec in specs or []:
            if spec.get("ResourceType") == rtype:
                for t in spec.get("Tags", []):
                    self.peer.tags[rid][t["Key"]] = t.get("Value", "")

    def CreateVolume(self, params, principal, req):
        peer = self.peer
        size = params.get("Size")
        sid = params.get("SnapshotId")
        if sid is not None:
            s = peer.snapshots.get(sid)
            if s is None:
                raise self.error(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not "
                                 "exist." % sid)
            if size is not None and size < s.volume_size:
                raise self.error(400, "InvalidParameterValue", "Volume of %d GiB is smaller "
                                 "than snapshot '%s' (%d GiB)" % (size, sid, s.volume_size))
            size = size or s.volume_size
        elif size is None:
            raise self.error(400, "MissingParameter", "The request must contain the parameter "
                             "size or snapshotId", violation="model")
        vid = "vol-" + secrets.token_hex(9)[:17]
        vol = {"VolumeId": vid, "Size": size, "SnapshotId": sid or "",
               "AvailabilityZone": params["AvailabilityZone"], "State": "creating",
               "CreateTime": utcnow(), "Attachments": [],
               "VolumeType": params.get("VolumeType", "gp2"),
               "Encrypted": params.get("Encrypted", False), "MultiAttachEnabled": False,
               "_changed": time.time()}
        with peer.lock:
            peer.volumes[vid] = vol
            self.apply_tag_specs(params.get("TagSpecifications"), "volume", vid)
            return self.public(vol)

    def DescribeVolumes(self, params, principal, req):
        peer = self.peer
        with peer.lock:
            for v in list(peer.volumes.values()):
                self.settle(v)
            ids = params.get("VolumeIds")
            if ids:
                for vid in ids:
                    self.volume(vid)
            out = []
            for v in peer.volumes.values():
                if ids and v["VolumeId"] not in ids:
                    continue
                tags = peer.tags.get(v["VolumeId"], {})

                def get(name, v=v, tags=tags):
                    if name.startswith("tag:"):
                        return tags.get(name[4:])
                    return {"volume-id": v["VolumeId"], "status": v["State"],
                            "snapshot-id": v["SnapshotId"], "availability-zone":
                            v["AvailabilityZone"], "tag-key": list(tags),
                            "attachment.instance-id": [a["InstanceId"] for a in
                                                       v["Attachments"]],
                            "attachment.status": [a["State"] for a in v["Attachments"]],
                            "attachment.device": [a["Device"] for a in v["Attachments"]],
                            }.get(name)

                if _filters_match(params.get("Filters"), get):
                    out.append(self.public(v))
            if ids and params.get("MaxResults") is not None:
                raise self.error(400, "InvalidParameterCombination", "The parameter volumeSet "
                                 "cannot be used with the parameter maxResults",
                                 violation="semantics")
            start = int(params.get("NextToken") or 0)
            limit = params.get("MaxResults") or len(out) or 1
            limit = min(limit, peer.cfg.get("ec2_page_cap") or limit)
            page = out[start:start + limit]
            res = {"Volumes": page}
            if start + limit < len(out):
                res["NextToken"] = str(start + limit)
            return res

    def AttachVolume(self, params, principal, req):
        peer = self.peer
        with peer.lock:
            vol = self.volume(params["VolumeId"])
            self.settle(vol)
            if params["InstanceId"] != peer.imds["instance_id"]:
                raise self.error(400, "InvalidInstanceID.NotFound", "The instance ID '%s' does "
                                 "not exist" % params["InstanceId"])
            if vol["State"] != "available":
                raise self.error(400, "IncorrectState", "vol '%s' is not 'available' (%s)"
                                 % (vol["VolumeId"], vol["State"]))
            for other in peer.volumes.values():
                for a in other["Attachments"]:
                    if a["Device"] == params["Device"] and a["InstanceId"] == params["InstanceId"]:
                        raise self.error(400, "InvalidParameterValue", "Attachment point %s is "
                                         "already in use" % params["Device"])
            att = {"VolumeId": vol["VolumeId"], "InstanceId": params["InstanceId"],
                   "Device": params["Device"], "State": "attaching", "AttachTime": utcnow(),
                   "DeleteOnTermination": False}
            vol["Attachments"] = [att]
            vol["State"] = "in-use"
            vol["_changed"] = time.time()
            return dict(att)

    def DetachVolume(self, params, principal, req):
        peer = self.peer
        with peer.lock:
            vol = self.volume(params["VolumeId"])
            self.settle(vol)
            if not vol["Attachments"]:
                raise self.error(400, "IncorrectState", "Volume '%s' is in the 'available' state."
                                 % vol["VolumeId"])
            att = vol["Attachments"][0]
            if params.get("InstanceId") not in (None, att["InstanceId"]):
                raise self.error(400, "InvalidAttachment.NotFound", "not attached to %s"
                                 % params["InstanceId"])
            att["State"] = "detaching"
            vol["_changed"] = time.time()
            out = dict(att)
            if params.get("Force"):  # at once, whatever detach_delay says
                vol["Attachments"] = []
                vol["State"] = "available"
            return out

    def DeleteVolume(self, params, principal, req):
        peer = self.peer
        with peer.lock:
            vol = self.volume(params["VolumeId"])
            self.settle(vol)
            if vol["State"] != "available":
                raise self.error(400, "VolumeInUse", "Volume %s is currently attached"
                                 % vol["VolumeId"])
            vol["State"] = "deleting"
            vol["_changed"] = time.time()
            if not peer.cfg.get("ec2_delay", 0):
                del peer.volumes[vol["VolumeId"]]
            peer.tags.pop(vol["VolumeId"], None)
        return {}

    def CreateTags(self, params, principal, req):
        peer = self.peer
        with peer.lock:
            for rid in params["Resources"]:
                if rid.startswith("vol-"):
                    self.volume(rid)
                elif rid.startswith("snap-") and rid not in peer.snapshots:
                    raise self.error(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does "
                                     "not exist." % rid)
                for t in params["Tags"]:
                    peer.tags[rid][t["Key"]] = t.get("Value", "")
        return {}

    def DescribeSnapshots(self, params, principal, req):
        peer = self.peer
        ids = params.get("SnapshotIds")
        for sid in ids or []:
            if sid not in peer.snapshots:
                raise self.error(400, "InvalidSnapshot.NotFound", "The snapshot '%s' does not "
                                 "exist." % sid)
        out = []
        for s in peer.snapshots.values():
            if ids and s.id not in ids:
                continue
            tags = peer.tags.get(s.id, {})

            def get(name, s=s, tags=tags):
                if name.startswith("tag:"):
                    return tags.get(name[4:])
                return {"snapshot-id": s.id, "volume-id": s.volume_id, "status": "completed",
                        "owner-id": peer.account, "volume-size": str(s.volume_size),
                        "tag-key": list(tags)}.get(name)

            if not _filters_match(params.get("Filters"), get):
                continue
            if params.get("OwnerIds") and not set(params["OwnerIds"]) & {"self", peer.account}:
                continue
            out.append({"SnapshotId": s.id, "VolumeId": s.volume_id, "State": "completed",
                        "StartTime": s.start_time, "Progress": "100%", "OwnerId": peer.account,
                        "VolumeSize": s.volume_size, "Description": s.description,
                        "Encrypted": False, "Tags": self.tag_list(s.id) or None})
        return {"Snapshots": out}

    def DescribeImages(self, params, principal, req):
        ids = params.get("ImageIds")
        out = []
        for img in self.peer.cfg.get("images") or []:
            if ids and img.get("ImageId") not in ids:
                continue
            if not _filters_match(params.get("Filters"),
                                  lambda n, img=img: {"image-id": img.get("ImageId"),
                                                      "name": img.get("Name"),
                                                      "state": img.get("State")}.get(n)):
                continue
            out.append(img)
        if ids and len(out) < len(ids):
            raise self.error(400, "InvalidAMIID.NotFound", "The image id '%s' does not exist"
                             % sorted(set(ids) - {i.get("ImageId") for i in out}))
        return {"Images": out}


    def instances(self):
        out = dict(self.peer.cfg.get("instances") or {})
        out.setdefault(self.peer.imds["instance_id"], {"state": "running"})
        return out

    def DescribeInstances(self, params, principal, req):
        known = self.instances()
        ids = params.get("InstanceIds")
        missing = sorted(set(ids or []) - set(known))
        if missing:
            raise self.error(400, "InvalidInstanceID.NotFound", "The instance IDs '%s' do not "
                             "exist" % ", ".join(missing))
        codes = {"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48,
                 "stopping": 64, "stopped": 80}
        res = []
        for iid, spec in sorted(known.items()):
            if ids and iid not in ids:
                continue
            inst = {"InstanceId": iid, "State": {"Code": codes.get(spec.get("state", "running"),
                                                                   16),
                                                 "Name": spec.get("state", "running")},
                    "Placement": {"AvailabilityZone": self.peer.imds["availability_zone"]}}
            if spec.get("image_id"):
                inst["ImageId"] = spec["image_id"]
            res.append({"ReservationId": "r-" + hashlib.sha256(iid.encode()).hexdigest()[:17],
                        "OwnerId": self.peer.account, "Instances": [inst]})
        return {"Reservations": res}


def query_error_body(protocol, xmlns, e):
    rid = secrets.token_hex(16)
    if protocol == "ec2":
        root = ET.Element("Response")
        err = ET.SubElement(ET.SubElement(root, "Errors"), "Error")
        ET.SubElement(err, "Code").text = e.code
        ET.SubElement(err, "Message").text = e.message
        ET.SubElement(root, "RequestID").text = rid
    else:
        root = ET.Element("ErrorResponse", xmlns=xmlns)
        err = ET.SubElement(root, "Error")
        ET.SubElement(err, "Type").text = "Sender" if e.sender else "Receiver"
        ET.SubElement(err, "Code").text = e.code
        ET.SubElement(err, "Message").text = e.message
        ET.SubElement(root, "RequestId").text = rid
    return xml_bytes(root)


# ---------------------------------------------------------------------------------------------
# HTTP.

API_VERSIONS = {"2011-06-15": "sts", "2016-11-15": "ec2"}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "aws-peer"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    @property
    def peer(self):
        return self.server.peer

    def do_GET(self):
        self.dispatch()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_GET

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, headers, body, fault=None):
        self.send_response(status)
        headers = dict(headers)
        headers.setdefault("x-amzn-RequestId", secrets.token_hex(16))
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if isinstance(body, FileSlice):
            self.connection.sendfile(body.file, body.off, body.length)
            return
        if fault is not None and fault["kind"] in ("drop", "slow"):
            half = len(body) // 2
            self.wfile.write(body[:half])
            self.wfile.flush()
            if fault["kind"] == "slow":
                time.sleep(fault.get("delay", 1.0))
                self.wfile.write(body[half:])
                return
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)

    def dispatch(self):
        # Not urlsplit: a path such as //x is a path here, not a network location.
        path, _, query = self.path.partition("?")
        split = collections.namedtuple("Split", "path query")(path, query)
        pairs = urllib.parse.parse_qsl(split.query, keep_blank_values=True)
        input_pairs = pairs  # the operation's input: not a presigned URL's auth parameters
        if any(k == "X-Amz-Algorithm" for k, _ in pairs):
            input_pairs = [(k, v) for k, v in pairs if not k.startswith("X-Amz-")]
        body = self.read_body()
        req = {"method": self.command, "raw_path": split.path, "path": split.path,
               "query_pairs": pairs, "input_pairs": input_pairs, "query": dict(pairs),
               "body": body,
               "header_list": list(self.headers.items()),
               "headers": {k.lower(): v for k, v in self.headers.items()}}
        # Repeated headers are joined as SigV4 joins them.
        for k in {k.lower() for k, _ in req["header_list"]}:
            vals = self.headers.get_all(k) or []
            if len(vals) > 1:
                req["headers"][k] = ",".join(vals)
        with self.peer.lock:
            self.peer.counters["requests"] += 1
        try:
            if split.path.startswith("/_peer/"):
                return self.control(req)
            if split.path.startswith("/latest/"):
                return self.imds(req)
            return self.service(req)
        except ConnectionAbortedError:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        finally:
            self.peer.log({"method": req["method"], "path": req["path"],
                           "service": req.get("service"), "operation": req.get("operation"),
                           "status": req.get("status"), "time": time.monotonic()})

    # -- AWS services -----------------------------------------------------------------------------
    def service(self, req):
        peer = self.peer
        if req["raw_path"].startswith("/snapshots/"):
            service, protocol = "ebs", "json"
        else:
            form = dict(req["input_pairs"])
            ctype = req["headers"].get("content-type", "")
            if req["body"] and ctype.startswith("application/x-www-form-urlencoded"):
                try:
                    form.update(urllib.parse.parse_qsl(req["body"].decode(), keep_blank_values=True,
                                                       strict_parsing=True))
                except (UnicodeDecodeError, ValueError):
                    pass
            req["form"] = form
            service = API_VERSIONS.get(form.get("Version")) if req["raw_path"] == "/" else None
            if service is None and peer.proxy:
                return self.forward(req)
            if service is None:
                e = PeerError(404, "UnknownOperationException", "no service here for %s %s"
                              % (req["method"], req["raw_path"]), violation="model")
                return self.fail(req, "json", e)
            protocol = "ec2" if service == "ec2" else "query"
        req["service"] = service
        handler = {"ebs": EBS, "sts": STS, "ec2": EC2}[service](peer)
        try:
            principal = verify_sigv4(peer, req, service, protocol)
            ans = handler.handle(req, principal)
        except PeerError as e:
            return self.fail(req, protocol, e)
        except ConnectionAbortedError:
            raise
        except Exception as e:  # a bug of ours: answer 500 and record it, do not hang
            return self.fail(req, protocol, PeerError(500, "PeerBug", "%s: %s"
                                                      % (type(e).__name__, e),
                                                      violation="peer", sender=False))
        status, headers, body = ans[:3]
        req["status"] = status
        self.send(status, headers, body, ans[3] if len(ans) > 3 else None)

    def fail(self, req, protocol, e):
        req["status"] = e.status
        if e.violation:
            self.peer.violation(e.violation, "%s: %s" % (e.code, e.message), req)
        if protocol == "json":
            body = {"message": e.message, "Message": e.message}
            if e.reason:
                body["Reason"] = e.reason
            return self.send(e.status, {"Content-Type": "application/json",
                                        "x-amzn-ErrorType": e.code}, json.dumps(body).encode())
        xmlns = STS.xmlns if req.get("service") == "sts" else None
        self.send(e.status, {"Content-Type": "text/xml;charset=UTF-8"},
                  query_error_body(protocol, xmlns, e))

    # -- reverse proxy ----------------------------------------------------------------------------
    def forward(self, req):
        peer = self.peer
        h = req["headers"]
        target = h.get("x-amz-target")
        protocol = "json" if target or h.get("content-type", "").startswith(
            "application/x-amz-json") else "query"
        m = re.search(r"Credential=[^/]+/[0-9]{8}/[^/]+/([^/]+)/", h.get("authorization", "")) \
            or re.search(r"^[^/]+/[0-9]{8}/[^/]+/([^/]+)/", req["query"].get("X-Amz-Credential",
                                                                            ""))
        service = m.group(1) if m else "unknown"
        req["service"] = service
        try:
            verify_sigv4(peer, req, service, protocol)
            model = peer.models.get(service)
            if model is not None:
                self.proxy_model_check(model, req, target, protocol)
        except PeerError as e:
            return self.fail(req, protocol, e)
        up = urllib.parse.urlsplit(peer.proxy)
        conn = http.client.HTTPConnection(up.hostname, up.port or 80, timeout=60)
        path = (up.path.rstrip("/") + req["raw_path"]) + \
            ("?" + urllib.parse.urlsplit(self.path).query if "?" in self.path else "")
        headers = {k: v for k, v in req["header_list"]
                   if k.lower() not in ("host", "content-length", "transfer-encoding",
                                        "connection", "expect")}
        headers["Host"] = up.netloc
        try:
            conn.request(req["method"], path, body=req["body"], headers=headers)
            r = conn.getresponse()
            data = r.read()
        except OSError as e:
            return self.fail(req, protocol, PeerError(502, "BadGateway", "upstream %s: %s"
                                                      % (peer.proxy, e), sender=False))
        finally:
            conn.close()
        req["status"] = r.status
        peer.count("proxy:" + (req.get("operation") or "?"))
        self.send(r.status, {k: v for k, v in r.getheaders()
                             if k.lower() not in ("content-length", "transfer-encoding",
                                                  "connection", "date", "server")}, data)

    def proxy_model_check(self, model, req, target, protocol):
        if target:
            op_name = target.split(".")[-1]
        else:
            op_name = req["form"].get("Action")
        req["operation"] = op_name
        if op_name not in model.operation_names:
            raise PeerError(400, "InvalidAction", "unknown operation %r" % op_name,
                            violation="model")
        op = model.operation_model(op_name)
        errs = []
        if target:
            try:
                params = json.loads(req["body"] or b"{}")
            except ValueError as e:
                raise PeerError(400, "SerializationException", str(e), violation="model")
        else:
            used = {"Action", "Version"}
            params = query_decode(op.input_shape, req["form"], "", used, errs, False) \
                if op.input_shape is not None else {}
            unknown = sorted(k for k in req["form"] if k not in used and
                             not k.startswith("X-Amz-"))
            if unknown:
                errs.append("unknown parameter(s) %s" % ", ".join(unknown))
        for (svc, name, member), allowed in NEWER_MEMBERS.items():
            if (svc, name) == (req.get("service"), op_name) and member in params:
                v = params.pop(member)
                if not (isinstance(v, list) and v and all(x in allowed for x in v)):
                    errs.append("invalid %s: %r" % (member, v))
        errs += validate_input(op.input_shape, params)
        if errs:
            raise PeerError(400, "ValidationError" if not target else "InvalidParameterValue",
                            "; ".join(errs), violation="model")

    # -- IMDSv2 ---------------------------------------------------------------------------------
    def imds(self, req):
        peer = self.peer
        path = req["raw_path"]
        text = {"Content-Type": "text/plain"}
        if path == "/latest/api/token":
            if req["method"] != "PUT":
                return self.send(405, text, b"")
            if "x-forwarded-for" in req["headers"]:
                return self.send(403, text, b"")
            try:
                ttl = int(req["headers"].get("x-aws-ec2-metadata-token-ttl-seconds", ""))
            except ValueError:
                return self.send(400, text, b"")
            if not 1 <= ttl <= 21600:
                return self.send(400, text, b"")
            tok = base64.b64encode(secrets.token_bytes(42)).decode()
            with peer.lock:
                peer.imds_tokens[tok] = time.time() + ttl
                peer.counters["imds_tokens"] += 1
            return self.send(200, dict(text, **{"X-aws-ec2-metadata-token-ttl-seconds":
                                                str(ttl)}), tok.encode())
        tok = req["headers"].get("x-aws-ec2-metadata-token")
        with peer.lock:
            exp = peer.imds_tokens.get(tok)
        if exp is None or exp < time.time():
            if tok is None:
                peer.violation("imds", "IMDSv1 request (no token)", req)
            return self.send(401, text, b"")
        if req["method"] not in ("GET", "HEAD"):
            return self.send(405, text, b"")
        i = peer.imds
        md = {
            "/latest/meta-data/": "ami-id\nhostname\niam/\ninstance-id\nplacement/\n",
            "/latest/meta-data/instance-id": i["instance_id"],
            "/latest/meta-data/placement/": "availability-zone\nregion\n",
            "/latest/meta-data/placement/availability-zone": i["availability_zone"],
            "/latest/meta-data/placement/region": peer.region,
            "/latest/meta-data/iam/": "info\nsecurity-credentials/\n",
            "/latest/meta-data/iam/security-credentials/": i["role"],
            "/latest/dynamic/instance-identity/document": json.dumps({
                "accountId": peer.account, "instanceId": i["instance_id"],
                "region": peer.region, "availabilityZone": i["availability_zone"]}),
        }
        if i["user_data"] is not None:
            md["/latest/user-data"] = i["user_data"]
        role_path = "/latest/meta-data/iam/security-credentials/" + i["role"]
        if path in (role_path, role_path + "/"):
            arn = "arn:aws:sts::%s:assumed-role/%s/%s" % (peer.account, i["role"],
                                                          i["instance_id"])
            ak, rec = peer.mint_credentials(i["credential_ttl"], arn,
                                            "AROAEXAMPLEROLEID0000:" + i["instance_id"])
            with peer.lock:
                peer.counters["imds_credentials"] += 1
            body = {"Code": "Success", "LastUpdated": iso(utcnow())[:19] + "Z",
                    "Type": "AWS-HMAC", "AccessKeyId": ak, "SecretAccessKey": rec["secret"],
                    "Token": rec["token"], "Expiration": iso(rec["expires"])[:19] + "Z"}
            return self.send(200, text, json.dumps(body, indent=2).encode())
        if path not in md:
            return self.send(404, text, b"")
        return self.send(200, text, md[path].encode())

    # -- test-only endpoints ------------------------------------------------------------------
    def control(self, req):
        peer = self.peer
        what, method = req["raw_path"][len("/_peer/"):].strip("/"), req["method"]
        out = None
        try:
            arg = json.loads(req["body"]) if req["body"] else None
        except ValueError:
            return self.send(400, {}, b'{"error": "body is not JSON"}')
        with peer.lock:
            if what == "health":
                out = {"ok": True, "snapshots": sorted(peer.snapshots)}
            elif what == "violations" and method == "GET":
                out = list(peer.violations)
            elif what == "violations" and method == "DELETE":
                out, peer.violations = len(peer.violations), []
            elif what == "counters" and method == "GET":
                c = peer.counters
                out = {"requests": c["requests"], "operations": dict(c["operations"]),
                       "snapshots": {k: dict(v) for k, v in c["snapshots"].items()},
                       "imds_credentials": c["imds_credentials"],
                       "imds_tokens": c["imds_tokens"]}
            elif what == "counters" and method == "DELETE":
                peer.reset_counters()
                out = True
            elif what == "ec2":
                ec2 = EC2(peer)
                for v in list(peer.volumes.values()):
                    ec2.settle(v)
                out = {"volumes": [jsonable(ec2.public(v)) for v in peer.volumes.values()],
                       "tags": {k: dict(v) for k, v in peer.tags.items() if v}}
            elif what == "instances" and method == "POST" and isinstance(arg, dict):
                peer.cfg["instances"] = arg
                out = arg
            elif what == "faults" and method == "GET":
                out = peer.faults
            elif what == "faults" and method == "POST" and isinstance(arg, list):
                peer.set_faults(arg)
                out = len(arg)
            elif what == "rate" and method == "POST" and isinstance(arg, dict):
                peer.set_rates(arg)
                out = peer.rates
            elif what == "expire-credentials" and method == "POST":
                out = peer.expire_credentials()
        if out is None:
            return self.send(404, {}, b'{"error": "no such test endpoint"}')
        self.send(200, {"Content-Type": "application/json"},
                  json.dumps(out, sort_keys=True, indent=1).encode())


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def serve(args):
    with open(args.config) as f:
        config = json.load(f)
    base = os.path.dirname(os.path.abspath(args.config))
    peer = Peer(config, base, args.log, args.proxy)
    srv = Server(("127.0.0.1", 0), Handler)
    srv.peer = peer
    port = srv.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, args.port_file)
    print(port, flush=True)

    def stop(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    srv.serve_forever(poll_interval=0.2)
    srv.server_close()


def ctl(args):
    port = args.port
    if not port.isdigit():
        with open(port) as f:
            port = f.read().strip()
    data = args.json.encode() if args.json is not None else None
    r = urllib.request.Request("http://127.0.0.1:%s%s" % (port, args.path), data=data,
                               method=args.method.upper())
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            sys.stdout.write(resp.read().decode() + "\n")
    except urllib.error.HTTPError as e:
        sys.stderr.write("aws_peer ctl: %s %s: %d %s\n" % (args.method, args.path, e.code,
                                                          e.read().decode()))
        return 1
    return 0


def parse_vector(raw):
    """A sigv4-vectors *-signed-request.txt: request line, Name:value headers (continuation lines
    fold into the previous one), a blank line, the body."""
    head, _, body = raw.partition(b"\n\n")
    lines = head.decode().split("\n")
    method, target, _ = lines[0].split(" ", 2) if lines[0].count(" ") >= 2 else \
        (lines[0].split(" ") + ["", ""])[:3]
    headers = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:
            headers[-1] = (headers[-1][0], headers[-1][1] + " " + line.strip())
        elif line:
            k, _, v = line.partition(":")
            headers.append((k, v))
    return method, target, headers, body


def vectors(args):
    """Each case's signed request must verify, and fail once tampered: the verifier's check."""
    bad = 0
    for d in args.dirs:
        ctx = json.load(open(os.path.join(d, "context.json")))
        c = ctx["credentials"]
        peer = Peer({"region": ctx["region"], "now": ctx["timestamp"],
                     "credentials": [{"access_key": c["access_key_id"],
                                      "secret_key": c["secret_access_key"],
                                      "session_token": c.get("token")}]}, d)
        for mode in ("header", "query"):
            f = os.path.join(d, mode + "-signed-request.txt")
            if not os.path.exists(f):
                continue
            method, target, headers, body = parse_vector(open(f, "rb").read())
            for tamper in (False, True):
                hs = list(headers)
                tgt = target
                path, _, query = tgt.partition("?")
                if tamper:  # one more byte in the path: what a signature must cover
                    path += "x"
                pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
                req = {"method": method, "raw_path": path, "path": path,
                       "query_pairs": pairs, "query": dict(pairs), "body": body,
                       "header_list": hs, "headers": {}}
                for k, v in hs:
                    lk = k.lower()
                    req["headers"][lk] = req["headers"][lk] + "," + v if lk in req["headers"] \
                        else v
                try:
                    verify_sigv4(peer, req, ctx["service"], "json")
                    ok, why = not tamper, "accepted"
                except PeerError as e:
                    ok, why = tamper, e.message
                print("%s %s %s%s%s" % ("ok" if ok else "FAIL", os.path.basename(d.rstrip("/")),
                                        mode, " tampered" if tamper else "",
                                        "" if ok else ": " + why[:300]))
                bad += not ok
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(prog="aws_peer.py", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--config", required=True)
    s.add_argument("--port-file")
    s.add_argument("--log")
    s.add_argument("--proxy")
    c = sub.add_parser("ctl")
    c.add_argument("port")
    c.add_argument("method")
    c.add_argument("path")
    c.add_argument("json", nargs="?")
    v = sub.add_parser("vectors")
    v.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    if args.cmd == "vectors":
        return vectors(args)
    if args.cmd == "serve":
        serve(args)
        return 0
    return ctl(args)


if __name__ == "__main__":
    sys.exit(main())
