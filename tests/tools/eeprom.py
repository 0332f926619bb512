#!/usr/bin/env python3
"""A Raspberry Pi bootloader EEPROM image for tests, and a reader for it.

Written from the format as raspberrypi/rpi-eeprom's rpi-eeprom-config reads
it (sections: big-endian magic and length, 8-byte aligned; files with magic
0x55aaf11f, a 12-byte name and 4 reserved bytes before the data; padding
sections 0x55aafeef; bootconf.txt last, in its own 4 KiB sector, and the
last 4 KiB of the image reserved), independently of haimg's Rust code.

  eeprom.py make OUT SIZE CONFIG_FILE   write a synthetic image
  eeprom.py read IMAGE NAME             print file NAME from an image
  eeprom.py sections IMAGE              print offset magic length name
"""
import struct
import sys

MAGIC, MASK, PAD, FILE = 0x55AAF00F, 0xFFFFF00F, 0x55AAFEEF, 0x55AAF11F


def section(img, at, magic, body):
    struct.pack_into(">LL", img, at, magic, len(body))
    img[at + 8:at + 8 + len(body)] = body
    return (at + 8 + len(body) + 7) & ~7


def pad(img, at, to):
    section(img, at, PAD, b"\xff" * (to - at - 8))


def filebody(name, data):
    return name.encode().ljust(16, b"\0") + data


def make(out, size, conf):
    img = bytearray(b"\xff" * size)
    # A bootcode-like first section, then the partition's files.
    at = section(img, 0, MAGIC, bytes(range(256)) * 40)
    pad(img, at, 64 * 1024)
    at = section(img, 64 * 1024, MAGIC | 0x100, b"\x5a" * 50000)
    at = section(img, at, FILE, filebody("pubkey.bin", b"\x01" * 264))
    at = section(img, at, FILE, filebody("cacert.der", b"\x02" * 900))
    conf_at = ((at + 4095) // 4096) * 4096 + 4096
    pad(img, at, conf_at)
    section(img, conf_at, FILE, filebody("bootconf.txt", conf))
    open(out, "wb").write(img)


def sections(img):
    at, out = 0, []
    while at + 8 <= len(img):
        magic, length = struct.unpack_from(">LL", img, at)
        if magic in (0, 0xFFFFFFFF):
            break
        if magic & MASK != MAGIC:
            raise SystemExit("corrupt section at %d" % at)
        name = img[at + 8:at + 20].rstrip(b"\0").decode() if magic == FILE else ""
        out.append((at, magic, length, name))
        at = (at + 8 + length + 7) & ~7
    return out


def read(img, want):
    for at, magic, length, name in sections(img):
        if magic == FILE and name == want:
            return img[at + 24:at + 24 + length - 16]
    raise SystemExit("no file " + want)


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make":
        make(sys.argv[2], int(sys.argv[3]), open(sys.argv[4], "rb").read())
    elif cmd == "read":
        sys.stdout.buffer.write(read(open(sys.argv[2], "rb").read(), sys.argv[3]))
    else:
        for s in sections(open(sys.argv[2], "rb").read()):
            print("%d %08x %d %s" % s)
