#!/usr/bin/env python3
"""A real HTTP server for haimg's download tests, on 127.0.0.1 only.

  httpd.py ROOT PORTFILE [--tls CERT KEY] [--lifetime SECONDS]

Serves files under ROOT (over TLS with --tls), honours `Range: bytes=N-`, and writes its port to
PORTFILE once listening. Faults are chosen by a path prefix:
  /drop-once/F     first GET of F sends half the body, then drops the connection
  /fail-N/F        answers 503 for the first N GETs of F, then serves it
  /hang/F          accepts, then never answers
  /count           plain text: how many GETs (of anything else) were served
  /log             one line per such GET: "PATH RANGE-or--"
Anything missing is a 404. It stops by itself after --lifetime seconds
(default 600).
"""
import argparse, os, re, ssl, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = argparse.ArgumentParser()
ARGS.add_argument("root")
ARGS.add_argument("portfile")
ARGS.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
ARGS.add_argument("--lifetime", type=float, default=600)
OPTS = ARGS.parse_args()
ROOT = os.path.abspath(OPTS.root)
LOCK = threading.Lock()
STATE = {"count": 0, "seen": {}, "log": []}

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.path.partition("?")[0]
        if path in ("/count", "/log"):
            body = (str(STATE["count"]) if path == "/count" else "".join(l + "\n" for l in STATE["log"])).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with LOCK:
            STATE["count"] += 1
            STATE["log"].append("%s %s" % (path, self.headers.get("Range") or "-"))
            n = STATE["seen"].get(path, 0)
            STATE["seen"][path] = n + 1
        fault, rel = None, path
        m = re.match(r"^/(drop-once|fail-(\d+)|hang)(/.*)$", path)
        if m:
            fault, rel = m.group(1), m.group(3)
        if fault == "hang":
            time.sleep(600)
            return
        if fault and fault.startswith("fail-") and n < int(m.group(2)):
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        full = os.path.normpath(os.path.join(ROOT, rel.lstrip("/")))
        if not full.startswith(ROOT) or not os.path.isfile(full):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = open(full, "rb").read()
        start = 0
        rng = self.headers.get("Range")
        if rng:
            mr = re.match(r"bytes=(\d+)-$", rng)
            if mr and int(mr.group(1)) < len(data):
                start = int(mr.group(1))
        body = data[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if fault == "drop-once" and n == 0:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)
            self.close_connection = True
            return
        self.wfile.write(body)

def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    if OPTS.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(OPTS.tls[0], OPTS.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(OPTS.portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(OPTS.portfile + ".tmp", OPTS.portfile)
    threading.Timer(OPTS.lifetime, srv.shutdown).start()
    srv.serve_forever()

if __name__ == "__main__":
    main()
