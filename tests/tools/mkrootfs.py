#!/usr/bin/env python3
"""Make a small root filesystem tarball for haimg's tests, without root.

  mkrootfs.py OUT.tar --kind rpi|uefi [--adversarial] [--no-kernel] [--big MIB]

Every member is described by the tarball itself; the tests compare the built
image against it, so nothing here is a hard-coded expectation.
"""
import argparse, io, os, subprocess, sys, tarfile, tempfile

EPOCH = 1700000000

def add(tf, name, data=b"", mode=0o644, uid=0, gid=0, kind=tarfile.REGTYPE, link="", pax=None, dev=(0, 0)):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.uid, ti.gid, ti.mtime = kind, mode, uid, gid, EPOCH
    ti.linkname = link
    ti.devmajor, ti.devminor = dev
    if pax:
        ti.pax_headers = pax
    if kind == tarfile.REGTYPE:
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    else:
        tf.addfile(ti)

def dirs(tf, *names, mode=0o755):
    for n in names:
        add(tf, n, kind=tarfile.DIRTYPE, mode=mode)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--kind", choices=["rpi", "uefi"], default="rpi")
    ap.add_argument("--adversarial", action="store_true")
    ap.add_argument("--no-kernel", action="store_true", help="no boot files at all")
    ap.add_argument("--drop-kernel", action="store_true", help="firmware but no kernel")
    ap.add_argument("--big", type=int, default=0, help="a file of this many MiB of random data")
    ap.add_argument("--evil", action="store_true", help="a member named ../evil")
    ap.add_argument("--no-clock", action="store_true", help="no time daemon")
    a = ap.parse_args()

    with tarfile.open(a.out, "w", format=tarfile.PAX_FORMAT, encoding="utf-8", errors="surrogateescape") as tf:
        dirs(tf, ".", "etc", "boot", "usr", "usr/lib", "usr/bin", "var", "var/lib", "var/lib/systemd", "dev", "tmp", "etc/ssh")
        add(tf, "tmp", kind=tarfile.DIRTYPE, mode=0o1777)
        add(tf, "etc/os-release", b"ID=haimgtest\n")
        add(tf, "etc/machine-id", b"0123456789abcdef0123456789abcdef\n", mode=0o444)
        add(tf, "etc/hostname", b"base-hostname\n")
        add(tf, "etc/ssh/ssh_host_ed25519_key", b"PRIVATE\n", mode=0o600)
        add(tf, "var/lib/systemd/random-seed", b"seed", mode=0o600)
        add(tf, "usr/bin/tool", b"#!/bin/sh\necho tool\n", mode=0o755)
        if not a.no_clock:
            # haimg refuses a base without a time daemon.
            dirs(tf, "usr/sbin")
            add(tf, "usr/sbin/chronyd", b"#!/bin/sh\n", mode=0o755)
        add(tf, "dev/null", kind=tarfile.CHRTYPE, mode=0o666, dev=(1, 3))
        if not a.no_kernel:
            if a.kind == "rpi":
                dirs(tf, "usr/lib/raspi-firmware", "usr/lib/linux-image-6.1.0-9-arm64",
                     "usr/lib/linux-image-6.1.0-9-arm64/broadcom", "usr/lib/linux-image-6.1.0-9-arm64/overlays")
                for f in ["start4.elf", "fixup4.dat", "bootcode.bin"]:
                    add(tf, "usr/lib/raspi-firmware/" + f, ("firmware " + f).encode() * 100)
                for d in ["bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb"]:
                    add(tf, "usr/lib/linux-image-6.1.0-9-arm64/broadcom/" + d, ("dtb " + d).encode())
                add(tf, "usr/lib/linux-image-6.1.0-9-arm64/overlays/disable-bt.dtbo", b"overlay")
                if not a.drop_kernel:
                    add(tf, "boot/vmlinuz-6.1.0-9-arm64", b"arm64 kernel 9" * 1000)
                    add(tf, "boot/initrd.img-6.1.0-9-arm64", b"initrd 9" * 1000)
                    add(tf, "boot/vmlinuz-6.1.0-10-arm64", b"arm64 kernel 10" * 1000)
                    add(tf, "boot/initrd.img-6.1.0-10-arm64", b"initrd 10" * 1000)
                dirs(tf, "boot/firmware")
            else:
                dirs(tf, "usr/lib/systemd", "usr/lib/systemd/boot", "usr/lib/systemd/boot/efi", "boot/efi")
                add(tf, "usr/lib/systemd/boot/efi/systemd-bootx64.efi", b"MZ systemd-boot" * 100)
                add(tf, "boot/vmlinuz-6.1.0-27-amd64", b"amd64 kernel" * 1000)
                add(tf, "boot/initrd.img-6.1.0-27-amd64", b"amd64 initrd" * 1000)
        if a.big:
            add(tf, "var/big", os.urandom(a.big * 1024 * 1024))
        if a.evil:
            add(tf, "../evil", b"escaped")
        if a.adversarial:
            dirs(tf, "many", "a", "b", "names", "links")
            for i in range(20000):
                add(tf, "many/f%05d" % i, b"" if i % 7 else b"x%d" % i)
            add(tf, "a/orig", b"hard linked content\n", mode=0o640, uid=1000, gid=1000)
            add(tf, "b/hardlink", kind=tarfile.LNKTYPE, link="a/orig")
            add(tf, "links/long", kind=tarfile.SYMTYPE, link="/" + "t" * 3999, mode=0o777)
            add(tf, "links/abs-escape", kind=tarfile.SYMTYPE, link="/../../../../etc/passwd", mode=0o777)
            add(tf, "links/rel", kind=tarfile.SYMTYPE, link="../a/orig", mode=0o777)
            add(tf, "names/" + "n" * 255, b"longest name")
            add(tf, "names/ünïcödé ☃", b"utf8")
            add(tf, "names/odd\udcff\udcfebytes", b"not utf8")
            add(tf, "names/space and 'quote' \"dq\" $(x) `y`", b"shell")
            add(tf, "dev/sda", kind=tarfile.BLKTYPE, mode=0o660, gid=6, dev=(8, 0))
            add(tf, "dev/fifo", kind=tarfile.FIFOTYPE, mode=0o600)
            add(tf, "usr/bin/su", b"setuid", mode=0o4755)
            add(tf, "usr/bin/ping", b"cap", mode=0o755,
                pax={"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"})
            add(tf, "var/shared", kind=tarfile.DIRTYPE, mode=0o1777)
            add(tf, "var/owned", b"owned", uid=4242, gid=4343, mode=0o600)

    if a.adversarial:
        # A 300 MiB sparse file, through GNU tar (tarfile cannot write sparse).
        with tempfile.TemporaryDirectory() as d:
            os.makedirs(os.path.join(d, "var"))
            p = os.path.join(d, "var", "sparse")
            with open(p, "wb") as f:
                f.write(b"head")
                f.seek(150 * 1024 * 1024)
                f.write(b"middle")
                f.truncate(300 * 1024 * 1024)
            os.utime(p, (EPOCH, EPOCH))
            sp = os.path.join(d, "sparse.tar")
            subprocess.run(["tar", "--sparse", "--format=pax", "--numeric-owner", "--owner=0", "--group=0",
                            "-C", d, "-cf", sp, "var/sparse"], check=True)
            subprocess.run(["tar", "--concatenate", "-f", a.out, sp], check=True)

if __name__ == "__main__":
    main()
