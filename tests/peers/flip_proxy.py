#!/usr/bin/env python3
"""flip_proxy.py - a reverse proxy on 127.0.0.1 that damages request bodies in transit.

Usage: flip_proxy.py UPSTREAM_URL PORT_FILE [--flip N ...] [--flip-all]
Forwards every request to UPSTREAM_URL unchanged (method, path, headers, Host included, so a
signature made for the proxy's address still verifies upstream) and the answer back, except
that the body of the PUT requests named by --flip (1 = the first PUT) or of every PUT
(--flip-all) has one bit of its middle byte flipped. What a server that checks the payload
hash (x-amz-content-sha256) must then refuse. Writes its port to PORT_FILE, serves until
killed. Each request is logged on stderr: method, path, flipped or not.
"""
import http.client
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UP = None
FLIP = set()
FLIP_ALL = False
LOCK = threading.Lock()
PUTS = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        flipped = False
        if self.command == "PUT":
            with LOCK:
                PUTS[0] += 1
                k = PUTS[0]
            if body and (FLIP_ALL or k in FLIP):
                b = bytearray(body)
                b[len(b) // 2] ^= 0x01
                body = bytes(b)
                flipped = True
        sys.stderr.write("%s %s%s\n" % (self.command, self.path, " flipped" if flipped else ""))
        conn = http.client.HTTPConnection(UP.hostname, UP.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, body=body if n else None, headers=headers)
        r = conn.getresponse()
        data = r.read()
        self.send_response_only(r.status, r.reason)
        for k, v in r.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        length = r.getheader("Content-Length")
        if self.command == "HEAD" and length is not None:
            self.send_header("Content-Length", length)
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


def main():
    global UP, FLIP_ALL
    args = sys.argv[1:]
    UP = urllib.parse.urlsplit(args[0])
    port_file = args[1]
    i = 2
    while i < len(args):
        if args[i] == "--flip":
            FLIP.add(int(args[i + 1]))
            i += 2
        elif args[i] == "--flip-all":
            FLIP_ALL = True
            i += 1
        else:
            sys.exit("flip_proxy.py: unknown argument %s" % args[i])
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
