#!/usr/bin/env python3
"""Relay stdin/stdout to TCP 127.0.0.1:PORT, for QEMU's `guestfwd=…-cmd:`.

  relay.py PORT

QEMU spawns one relay per guest connection, so every connection of the guest
gets its own connection to the host server. (A `guestfwd=…-tcp:` chardev is a
single stream opened when QEMU starts: a second connection of the guest, or
one after the server restarted, goes nowhere.)
"""
import os
import socket
import sys
import threading

conn = socket.create_connection(("127.0.0.1", int(sys.argv[1])))


def guest_to_host():
    while True:
        data = os.read(0, 65536)
        if not data:
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(data)


threading.Thread(target=guest_to_host, daemon=True).start()
while True:
    data = conn.recv(65536)
    if not data:
        break
    os.write(1, data)
