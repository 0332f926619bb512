#!/usr/bin/env python3
"""An Ethernet hub for QEMU guests, on 127.0.0.1 only (no multicast).

  hub.py N PORTFILE

Each of N guests gets a pair of UDP ports, written to PORTFILE as
"HUB_PORT GUEST_PORT" lines once listening; a guest joins with
  -netdev socket,id=lan,udp=127.0.0.1:HUB_PORT,localaddr=127.0.0.1:GUEST_PORT
Every frame a guest sends reaches every other guest, as on one wire.
A guest's frames can be dropped by creating PORTFILE.cut-I (I from 0): its
cable is pulled. Runs until killed.
"""
import os, select, socket, sys

n, portfile = int(sys.argv[1]), sys.argv[2]
hubs, guests = [], []
for _ in range(n):
    h = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    h.bind(("127.0.0.1", 0))
    hubs.append(h)
    # A free port for the guest's end: bound here, released just before use.
    g = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    g.bind(("127.0.0.1", 0))
    guests.append(g)
ports = [g.getsockname()[1] for g in guests]
for g in guests:
    g.close()
with open(portfile + ".tmp", "w") as f:
    for h, p in zip(hubs, ports):
        f.write("%d %d\n" % (h.getsockname()[1], p))
os.rename(portfile + ".tmp", portfile)

def cut(i):
    return os.path.exists("%s.cut-%d" % (portfile, i))

while True:
    ready, _, _ = select.select(hubs, [], [])
    for s in ready:
        i = hubs.index(s)
        frame, _ = s.recvfrom(65536)
        if cut(i):
            continue
        for j, h in enumerate(hubs):
            if j != i and not cut(j):
                try:
                    h.sendto(frame, ("127.0.0.1", ports[j]))
                except OSError:
                    pass  # that guest is not running (yet)
