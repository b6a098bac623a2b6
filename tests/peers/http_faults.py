#!/usr/bin/env python3
"""http_faults.py - a scripted HTTP peer on 127.0.0.1 for deltair's AWS client tests.

Usage: http_faults.py PLAN.json LOG.jsonl
Prints the port it listens on (one line), then serves until killed.

PLAN: {"routes": {"METHOD /path": [action, ...]}}. Each request to a route takes the next
action; the last one repeats. An unknown route answers 404. Actions:
  {"status": 200, "body": "text", "headers": {"k": "v"}}   a plain answer
  {"status": 400, "json": {...}}                            JSON body (application/json)
  {"reset": true}                                           close with a TCP reset, no answer
  {"partial": 10, "length": 100}                            promise 100 bytes, send 10, close
  {"delay": 2.5, ...}                                       sleep first, then the rest
  {"need_header": {"name": "value"}, ...}                   401 unless the request has it
  {"verify_sigv4": {"access_key": "...", "secret": "...", "token": "...",
                    "region": "...", "service": "..."}, ...}
        403 unless the Authorization header is what botocore's own signer computes for the
        headers the request says it signed (an independent check of our signer); with
        HTTP_FAULTS_VERBOSE set, the canonical request it expected goes to stderr.
  {"expires_in": 200, ...}       in "json" bodies, the string "@EXPIRES@" becomes now+N s
LOG: one JSON object per request: method, path, headers, body, action index, client_port.
"""
import datetime
import json
import os
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PLAN = {}
LOG = None
LOCK = threading.Lock()
COUNTS = {}


def verify_sigv4(handler, body, spec):
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "no SigV4 Authorization header"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    signed = fields["SignedHeaders"].split(";")
    headers = {}
    for name in signed:
        if handler.headers.get(name) is None:
            return "signed header %s missing" % name
        headers[name] = handler.headers.get(name)
    host = handler.headers.get("Host")
    req = AWSRequest(method=handler.command, url="http://%s%s" % (host, handler.path),
                     headers=headers, data=body)
    req.context["timestamp"] = handler.headers.get("X-Amz-Date", "")
    creds = Credentials(spec["access_key"], spec["secret"], spec.get("token"))
    signer = SigV4Auth(creds, spec["service"], spec["region"])
    # botocore signs every header it is given but these; we gave it only the signed ones.
    canonical = signer.canonical_request(req)
    sts = signer.string_to_sign(req, canonical)
    want = signer.signature(sts, req)
    if fields.get("Signature") != want:
        return "bad signature: canonical request was\n" + canonical
    want_cred = "%s/%s/%s/%s/aws4_request" % (spec["access_key"], req.context["timestamp"][:8],
                                              spec["region"], spec["service"])
    if fields.get("Credential") != want_cred:
        return "bad credential scope %s" % fields.get("Credential")
    if spec.get("token") and handler.headers.get("X-Amz-Security-Token") != spec["token"]:
        return "session token missing"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        route = "%s %s" % (self.command, self.path.split("?", 1)[0])
        actions = PLAN.get("routes", {}).get(route)
        with LOCK:
            n = COUNTS.get(route, 0)
            COUNTS[route] = n + 1
            LOG.write(json.dumps({"method": self.command, "path": self.path, "index": n,
                                  "client_port": self.client_address[1],
                                  "headers": {k.lower(): v for k, v in self.headers.items()},
                                  "body": body.decode("utf-8", "replace")}) + "\n")
            LOG.flush()
        if not actions:
            return self.answer(404, b"no route", "text/plain")
        a = actions[min(n, len(actions) - 1)]
        if a.get("delay"):
            time.sleep(a["delay"])
        if a.get("reset"):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        for k, v in a.get("need_header", {}).items():
            if self.headers.get(k) != v:
                return self.answer(401, b"missing " + k.encode(), "text/plain")
        if a.get("verify_sigv4"):
            why = verify_sigv4(self, body, a["verify_sigv4"])
            if why:
                if os.environ.get("HTTP_FAULTS_VERBOSE"):
                    sys.stderr.write(why + "\n")
                return self.answer(403, json.dumps({"__type": "SignatureDoesNotMatch",
                                                    "message": why.splitlines()[0]}).encode(),
                                   "application/json")
        if a.get("partial") is not None:
            self.send_response(a.get("status", 200))
            self.send_header("Content-Length", str(a["length"]))
            self.end_headers()
            self.wfile.write(b"x" * a["partial"])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if "json" in a:
            text = json.dumps(a["json"])
            if "expires_in" in a:
                t = datetime.datetime.utcnow() + datetime.timedelta(seconds=a["expires_in"])
                text = text.replace("@EXPIRES@", t.strftime("%Y-%m-%dT%H:%M:%SZ"))
            return self.answer(a.get("status", 200), text.encode(), "application/json",
                               a.get("headers"))
        body_out = a.get("body", "")
        if "expires_in" in a:
            t = datetime.datetime.utcnow() + datetime.timedelta(seconds=a["expires_in"])
            body_out = body_out.replace("@EXPIRES@", t.strftime("%Y-%m-%dT%H:%M:%SZ"))
        return self.answer(a.get("status", 200), body_out.encode(),
                           a.get("content_type", "text/plain"), a.get("headers"))

    def answer(self, status, body, ctype, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_any


def main():
    global PLAN, LOG
    with open(sys.argv[1]) as f:
        PLAN = json.load(f)
    LOG = open(sys.argv[2], "a")
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
