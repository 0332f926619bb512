#!/usr/bin/env python3
"""An Ethernet hub for QEMU guests, on 127.0.0.1 only (no multicast), with
the DHCP server a home LAN's router would be.

  hub.py N PORTFILE

Each of N guests gets a pair of UDP ports, written to PORTFILE as
"HUB_PORT GUEST_PORT" lines once listening; a guest joins with
  -netdev socket,id=lan,udp=127.0.0.1:HUB_PORT,localaddr=127.0.0.1:GUEST_PORT
Every frame a guest sends reaches every other guest, as on one wire.
A guest's frames can be dropped by creating PORTFILE.cut-I (I from 0): its
cable is pulled.

DHCP: a guest whose MAC is 52:54:00:77:00:NN is offered 10.77.0.NN/24 (a
day's lease, no router and no DNS server: the LAN carries only the nodes'
own traffic, such as Tailscale's direct paths). Runs until killed.
"""
import os, select, socket, struct, sys

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

SERVER = bytes([10, 77, 0, 254])
SERVER_MAC = bytes.fromhex("525400770fe0")

def cut(i):
    return os.path.exists("%s.cut-%d" % (portfile, i))

def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

def dhcp_reply(frame):
    """The DHCP server's answer to a DISCOVER or REQUEST frame, or None."""
    if len(frame) < 14 + 20 + 8 + 240 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 15) * 4
    if ip[9] != 17:
        return None
    udp = ip[ihl:]
    if struct.unpack("!HH", udp[:4]) != (68, 67):
        return None
    bootp = udp[8:]
    if bootp[0] != 1 or bootp[236:240] != b"\x63\x82\x53\x63":
        return None
    chaddr = bootp[28:34]
    if chaddr[:5] != bytes.fromhex("5254007700"):
        return None
    kind, opts, i = None, bootp[240:], 0
    while i < len(opts) and opts[i] != 255:
        if opts[i] == 0:
            i += 1
            continue
        if i + 1 >= len(opts):
            break
        if opts[i] == 53 and opts[i + 1] >= 1 and i + 2 < len(opts):
            kind = opts[i + 2]
        i += 2 + opts[i + 1]
    answer = {1: 2, 3: 5}.get(kind)  # DISCOVER → OFFER, REQUEST → ACK
    if answer is None:
        return None
    yiaddr = bytes([10, 77, 0, chaddr[5]])
    reply = bytearray(240)
    reply[0:4] = b"\x02\x01\x06\x00"
    reply[4:8] = bootp[4:8]  # xid
    reply[10:12] = bootp[10:12]  # flags
    reply[16:20] = yiaddr
    reply[20:24] = SERVER
    reply[28:44] = bootp[28:44]
    reply[236:240] = b"\x63\x82\x53\x63"
    reply += bytes([53, 1, answer, 54, 4]) + SERVER
    reply += bytes([51, 4]) + struct.pack("!I", 86400)
    reply += bytes([1, 4, 255, 255, 255, 0, 255])
    udp_out = struct.pack("!HHHH", 67, 68, 8 + len(reply), 0) + bytes(reply)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp_out), 0, 0, 64, 17, 0,
                      SERVER, b"\xff\xff\xff\xff")
    hdr = hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:]
    return b"\xff" * 6 + SERVER_MAC + b"\x08\x00" + hdr + udp_out

while True:
    ready, _, _ = select.select(hubs, [], [])
    for s in ready:
        i = hubs.index(s)
        frame, _ = s.recvfrom(65536)
        if cut(i):
            continue
        reply = dhcp_reply(frame)
        if reply is not None:
            try:
                s.sendto(reply, ("127.0.0.1", ports[i]))
            except OSError:
                pass
        for j, h in enumerate(hubs):
            if j != i and not cut(j):
                try:
                    h.sendto(frame, ("127.0.0.1", ports[j]))
                except OSError:
                    pass  # that guest is not running (yet)
