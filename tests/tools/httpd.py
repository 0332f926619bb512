#!/usr/bin/env python3
"""A real HTTP server for haimg's download tests, on 127.0.0.1 only.

  httpd.py ROOT PORTFILE

Serves files under ROOT, honours `Range: bytes=N-`, and writes its port to
PORTFILE once listening. Faults are chosen by a path prefix:
  /drop-once/F     first GET of F sends half the body, then drops the connection
  /fail-N/F        answers 503 for the first N GETs of F, then serves it
  /hang/F          accepts, then never answers
  /count           plain text: how many GETs (of anything else) were served
  /log             one line per such GET: "PATH RANGE-or--"
Anything missing is a 404. It stops by itself after 10 minutes.
"""
import os, re, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(sys.argv[1])
LOCK = threading.Lock()
STATE = {"count": 0, "seen": {}, "log": []}

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        path = self.path.split("?")[0]
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
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(sys.argv[2] + ".tmp", sys.argv[2])
    threading.Timer(600, srv.shutdown).start()
    srv.serve_forever()

if __name__ == "__main__":
    main()
