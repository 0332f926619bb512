#!/usr/bin/env python3
"""A real HTTP server for haimg's download tests, on 127.0.0.1 only.

  httpd.py ROOT PORTFILE [--tls CERT KEY] [--lifetime SECONDS]

Serves files under ROOT (over TLS with --tls: a K3s server's /ping for the
boot tests is ROOT/ping), honours `Range: bytes=N-`, and writes its port to
PORTFILE once listening. Faults are chosen by a path prefix:
  /drop-once/F     first GET of F sends half the body, then drops the connection
  /fail-N/F        answers 503 for the first N GETs of F, then serves it
  /hang/F          accepts, then never answers
  /count           plain text: how many GETs (of anything else) were served
  /log             one line per such GET: "PATH RANGE-or--"
Anything missing is a 404.

With --control it is also the stand-ins' Tailscale control plane, up while
ROOT/netmap exists (503 otherwise). ROOT/netmap's "NAME ADDRESS" lines are
fixed peers, always online; nodes register themselves:
  /register?host=H&key=K&ep=E  node key K gets a 100.64.0.x address, the same
                               one every time; its DNS name is H, or H-1, H-2…
                               when another node key already holds H (as
                               Tailscale names a re-installed device); E is
                               its underlay endpoint. Answers "DNSNAME ADDR".
  /netmap?key=K                K is seen now; one line per node:
                               "KEY HOST DNSNAME ADDR EP ONLINE" (online:
                               seen in the last 45 s), fixed peers too. It stops by itself after --lifetime seconds
(default 600).
"""
import argparse, os, re, ssl, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = argparse.ArgumentParser()
ARGS.add_argument("root")
ARGS.add_argument("portfile")
ARGS.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
ARGS.add_argument("--lifetime", type=float, default=600)
ARGS.add_argument("--control", action="store_true")
OPTS = ARGS.parse_args()
ROOT = os.path.abspath(OPTS.root)
LOCK = threading.Lock()
STATE = {"count": 0, "seen": {}, "log": [], "nodes": {}}

def control(path, query):
    """The control plane's answer to path, or None when path is not its."""
    if path not in ("/register", "/netmap"):
        return None
    if not os.path.isfile(os.path.join(ROOT, "netmap")):
        return 503, b""
    q = dict(kv.split("=", 1) for kv in query.split("&") if "=" in kv)
    key = q.get("key", "")
    if not re.match(r"^[0-9a-f-]{8,64}$", key):
        return 400, b""
    nodes = STATE["nodes"]
    with LOCK:
        if path == "/register":
            if key not in nodes:
                host = q.get("host", "node")
                names = {n["dns"] for n in nodes.values()}
                dns, i = host, 0
                while dns in names:
                    i += 1
                    dns = "%s-%d" % (host, i)
                nodes[key] = {"host": host, "dns": dns, "addr": "100.64.0.%d" % (len(nodes) + 1)}
            nodes[key]["ep"] = q.get("ep", "-") or "-"
            nodes[key]["seen"] = time.time()
            n = nodes[key]
            return 200, ("%s %s\n" % (n["dns"], n["addr"])).encode()
        if key in nodes:
            nodes[key]["seen"] = time.time()
        out = []
        for k, n in nodes.items():
            online = "online" if time.time() - n["seen"] < 45 else "offline"
            out.append("%s %s %s %s %s %s" % (k, n["host"], n["dns"], n["addr"], n["ep"], online))
        for line in open(os.path.join(ROOT, "netmap")):
            f = line.split()
            if len(f) == 2:
                out.append("fixed-%s %s %s %s - online" % (f[0], f[0], f[0], f[1]))
        return 200, "".join(l + "\n" for l in out).encode()

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_GET(self):
        path, _, query = self.path.partition("?")
        answer = control(path, query) if OPTS.control else None
        if answer:
            self.send_response(answer[0])
            self.send_header("Content-Length", str(len(answer[1])))
            self.end_headers()
            self.wfile.write(answer[1])
            return
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

    def do_POST(self):
        # A K3s peer admitting a joiner: ROOT/join is its answer.
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        full = os.path.join(ROOT, "join")
        body = open(full, "rb").read() if self.path == "/join" and os.path.isfile(full) else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
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
