#!/usr/bin/env python3
"""Make a vendor-like Raspberry Pi disk image for haimg's tests, without root.

  mkvendor.py OUT.img --family raspios|ubuntu [--arch arm64|amd64]
              [--root-mib N] [--luks] [--no-tools] [--drop-package P]
              [--rootfs TAR]

The layouts are the vendors': Raspberry Pi OS (pi-gen: MBR, FAT32 `bootfs`
512 MiB at 8 MiB, ext4 `rootfs`, cmdline.txt with the firstboot init that
grows root, userconfig.service enabled) and Ubuntu's preinstalled raspi
image (FAT `system-boot` at 1 MiB, ext4 `writable`, a cloud-init NoCloud
seed). Made with sfdisk, mkfs.fat, mtools and mke2fs -d — not with haimg.
Programs are stubs with a real ELF header (the architecture is read from it).
With --rootfs, root is that (bootable) tarball instead, its kernel and
initramfs go on the FAT as vmlinuz and initrd.img, and the vendor's own
networking is set up (systemd-networkd, DHCP), as a vendor image has it.
"""
import argparse, io, os, subprocess, tarfile, tempfile

EPOCH = 1700000000
MIB = 1024 * 1024
ELF_MACHINE = {"arm64": 0xB7, "amd64": 0x3E}


def elf(arch):
    # e_ident: ELF64, little endian, version 1; e_type EXEC; e_machine.
    head = b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + (2).to_bytes(2, "little")
    return head + ELF_MACHINE[arch].to_bytes(2, "little") + b"\x00" * 44


# What a Raspberry Pi OS Lite image has installed, of what haimg checks
# (it ships neither open-iscsi nor nfs-common).
PACKAGES = ["systemd-sysv", "udev", "kmod", "systemd-timesyncd", "dbus", "passwd", "sudo",
            "ca-certificates", "iproute2", "curl", "e2fsprogs", "fdisk", "mount", "openssh-server",
            "initramfs-tools", "util-linux"]


def dpkg_status(drop):
    out = []
    for p in PACKAGES:
        if p not in drop:
            out.append("Package: %s\nStatus: install ok installed\nVersion: 1.0\n" % p)
    # A package removed but not purged is not installed.
    out.append("Package: open-iscsi\nStatus: deinstall ok config-files\nVersion: 1.0\n")
    return ("\n".join(out)).encode()


def rootfs(path, family, arch, tools, drop, fill_mib=0):
    def add(tf, name, data=b"", mode=0o644, kind=tarfile.REGTYPE, link=""):
        ti = tarfile.TarInfo(name)
        ti.type, ti.mode, ti.mtime, ti.linkname = kind, mode, EPOCH, link
        if kind == tarfile.REGTYPE:
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
        else:
            tf.addfile(ti)

    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        for d in ["etc", "etc/ssh", "etc/systemd", "etc/systemd/system",
                  "etc/systemd/system/multi-user.target.wants", "usr", "usr/bin", "usr/sbin",
                  "usr/lib", "usr/lib/systemd", "usr/lib/systemd/system", "var", "var/lib",
                  "var/lib/systemd", "var/lib/dbus", "boot", "boot/firmware", "dev", "tmp"]:
            add(tf, d, kind=tarfile.DIRTYPE, mode=0o755)
        add(tf, "bin", kind=tarfile.SYMTYPE, link="usr/bin", mode=0o777)
        add(tf, "sbin", kind=tarfile.SYMTYPE, link="usr/sbin", mode=0o777)
        add(tf, "usr/bin/env", elf(arch) + b"coreutils env stub", mode=0o755)
        osr = b'ID=debian\nVERSION_CODENAME=bookworm\n' if family.startswith("raspios") or family == "debian" else b'ID=ubuntu\nVERSION_ID="24.04"\n'
        add(tf, "usr/lib/os-release", osr)
        add(tf, "etc/os-release", kind=tarfile.SYMTYPE, link="../usr/lib/os-release", mode=0o777)
        add(tf, "etc/machine-id", b"0123456789abcdef0123456789abcdef\n", mode=0o444)
        add(tf, "var/lib/dbus/machine-id", b"0123456789abcdef0123456789abcdef\n", mode=0o444)
        add(tf, "var/lib/systemd/random-seed", b"seed", mode=0o600)
        add(tf, "etc/hostname", b"raspberrypi\n" if family.startswith("raspios") else b"ubuntu\n")
        add(tf, "etc/fstab", b"PARTUUID=abcd1234-01 /boot/firmware vfat defaults 0 2\n"
                             b"PARTUUID=abcd1234-02 / ext4 defaults,noatime 0 1\n")
        for k in ["rsa", "ecdsa", "ed25519"]:
            add(tf, "etc/ssh/ssh_host_%s_key" % k, b"VENDOR PRIVATE KEY\n", mode=0o600)
            add(tf, "etc/ssh/ssh_host_%s_key.pub" % k, b"ssh-%s VENDOR\n" % k.encode())
        add(tf, "usr/lib/systemd/systemd-timesyncd", elf(arch), mode=0o755)
        for d in ["var/lib/dpkg"]:
            add(tf, d, kind=tarfile.DIRTYPE, mode=0o755)
        add(tf, "var/lib/dpkg/status", dpkg_status(drop))
        if fill_mib:
            # Data as a real root holds it (programs, libraries): incompressible.
            with tempfile.NamedTemporaryFile() as big:
                for _ in range(fill_mib):
                    big.write(os.urandom(MIB))
                big.flush()
                ti = tf.gettarinfo(big.name, "var/fill")
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = "root"
                ti.mtime = EPOCH
                with open(big.name, "rb") as f:
                    tf.addfile(ti, f)
        if tools:
            for t in ["sfdisk", "partx", "blockdev", "resize2fs", "mkfs.ext4", "blkid"]:
                add(tf, "usr/sbin/" + t, elf(arch), mode=0o755)
            for t in ["findmnt", "lsblk"]:
                add(tf, "usr/bin/" + t, elf(arch), mode=0o755)
        if family.startswith("raspios"):
            add(tf, "etc/rpi-issue", b"Raspberry Pi reference 2025-05-13\n")
            add(tf, "usr/lib/systemd/system/userconfig.service",
                b"[Unit]\nDescription=User configuration dialog\n[Service]\nExecStart=/usr/lib/userconf-pi/userconf-service\n")
            add(tf, "etc/systemd/system/multi-user.target.wants/userconfig.service",
                kind=tarfile.SYMTYPE, link="/usr/lib/systemd/system/userconfig.service", mode=0o777)
        else:
            add(tf, "etc/cloud", kind=tarfile.DIRTYPE, mode=0o755)
            add(tf, "etc/cloud/cloud.cfg", b"datasource_list: [NoCloud]\n")


def boot_files(family):
    files = {
        "start4.elf": b"firmware start4.elf" * 200,
        "fixup4.dat": b"firmware fixup4.dat" * 50,
        "bcm2711-rpi-4-b.dtb": b"dtb bcm2711-rpi-4-b",
        "bcm2712-rpi-5-b.dtb": b"dtb bcm2712-rpi-5-b",
        "overlays/vc4-kms-v3d.dtbo": b"overlay vc4-kms-v3d",
        "overlays/README": b"overlays readme",
    }
    if family.startswith("raspios"):
        files["kernel8.img"] = b"raspios kernel8" * 4000
        files["initramfs8"] = b"raspios initramfs8" * 2000
        files["config.txt"] = (b"# For more options and information see\n# http://rptl.io/configtxt\n"
                               b"dtparam=audio=on\ncamera_auto_detect=1\ndisplay_auto_detect=1\n"
                               b"auto_initramfs=1\ndtoverlay=vc4-kms-v3d\nmax_framebuffers=2\n"
                               b"arm_64bit=1\n\n[cm4]\notg_mode=1\n\n[cm5]\ndtoverlay=dwc2,dr_mode=host\n")
        files["cmdline.txt"] = (b"console=serial0,115200 console=tty1 root=PARTUUID=abcd1234-02 rootfstype=ext4 "
                                b"fsck.repair=yes rootwait quiet init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
        files["issue.txt"] = b"Raspberry Pi reference 2025-05-13\n"
        if family == "raspios-trixie":
            # Trixie builds grow root through the `resize` flag (initramfs
            # resize_early, rpi-resize.service) and read a NoCloud seed.
            files["cmdline.txt"] = (b"console=serial0,115200 console=tty1 root=PARTUUID=abcd1234-02 rootfstype=ext4 "
                                    b"fsck.repair=yes rootwait resize\n")
            files["meta-data"] = b"instance-id: rpi-imager-default\n"
    else:
        files["vmlinuz"] = b"ubuntu kernel" * 4000
        files["initrd.img"] = b"ubuntu initrd" * 2000
        files["config.txt"] = (b"[all]\nkernel=vmlinuz\ncmdline=cmdline.txt\ninitramfs initrd.img followkernel\n"
                               b"\n[pi4]\nmax_framebuffers=2\narm_boost=1\n\n[all]\ndtparam=audio=on\n")
        files["cmdline.txt"] = b"console=serial0,115200 multipath=off dwc_otg.lpm_enable=0 console=tty1 root=LABEL=writable rootfstype=ext4 rootwait fixrtc\n"
        files["user-data"] = b"#cloud-config\nchpasswd:\n  expire: true\n  users:\n  - {name: ubuntu, password: ubuntu, type: text}\nssh_pwauth: true\n"
        files["meta-data"] = b"instance-id: ubuntu-vendor\n"
        files["network-config"] = b"version: 2\nethernets:\n  eth0:\n    dhcp4: true\n    optional: true\n"
    return files


def real_boot_files(tar):
    """The newest kernel and initramfs of a bootable root tarball."""
    with tarfile.open(tar) as tf:
        names = tf.getnames()
        def newest(prefix):
            found = sorted(n for n in names if n.lstrip("./").startswith(prefix))
            return tf.extractfile(found[-1]).read()
        return {"vmlinuz": newest("boot/vmlinuz-"), "initrd.img": newest("boot/initrd.img-")}


# The vendor's networking, as Ubuntu's netplan leaves it: networkd with DHCP
# on the wired interface, resolved's stub as resolv.conf.
VENDOR_NET = """write {net} /etc/systemd/network/10-vendor.network
symlink /etc/systemd/system/multi-user.target.wants/systemd-networkd.service /lib/systemd/system/systemd-networkd.service
symlink /etc/systemd/system/sockets.target.wants/systemd-networkd.socket /lib/systemd/system/systemd-networkd.socket
symlink /etc/systemd/system/multi-user.target.wants/systemd-resolved.service /lib/systemd/system/systemd-resolved.service
rm /etc/resolv.conf
symlink /etc/resolv.conf ../run/systemd/resolve/stub-resolv.conf
"""


# A stock cloud VM's disk, as Debian's cloud images lay it out (GPT: root p1
# at 128 MiB, ESP p15 before it), booted by systemd-boot from the root's own
# package (the real images use GRUB; the VM's boot loader is not haimg's
# concern here) with root by PARTUUID.
ROOT_GUID = "6f1d2b3c-4a5e-4f60-8a7b-9c0d1e2f3a4b"


def debian_cloud(a):
    with tempfile.TemporaryDirectory() as d:
        tar = a.rootfs
        if not tar:
            # A stub root with the members the layout takes from a real one.
            tar = os.path.join(d, "root.tar")
            rootfs(tar, "debian", "amd64", not a.no_tools, a.drop_package, a.fill_mib)
            with tarfile.open(tar, "a") as tf:
                for name in ["usr/lib/systemd/boot", "usr/lib/systemd/boot/efi"]:
                    ti = tarfile.TarInfo(name)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, EPOCH
                    tf.addfile(ti)
                for name, data in [("usr/lib/systemd/boot/efi/systemd-bootx64.efi", b"MZ stub systemd-boot"),
                                   ("boot/vmlinuz-6.1.0-99-cloud-amd64", b"amd64 kernel" * 100),
                                   ("boot/initrd.img-6.1.0-99-cloud-amd64", b"amd64 initrd" * 100)]:
                    ti = tarfile.TarInfo(name)
                    ti.size, ti.mtime = len(data), EPOCH
                    tf.addfile(ti, io.BytesIO(data))
        cloud_disk(a, tar)


def cloud_disk(a, tar):
    root_mib = (os.path.getsize(tar) * 13 // 10) // MIB + 512
    total = 128 + root_mib + 1
    if os.path.exists(a.out):
        os.unlink(a.out)
    with open(a.out, "wb") as f:
        f.truncate(total * MIB)
    # Debian's cloud layout (facts §6): p14 BIOS boot at sector 2048 (3 MiB),
    # p15 ESP at sector 8192 (124 MiB), p1 root at 128 MiB.
    name = os.path.basename(a.out)
    table = ("label: gpt\n"
             "%s1 : start=%d, size=%d, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, uuid=%s\n"
             "%s14 : start=2048, size=6144, type=21686148-6449-6E6F-744E-656564454649\n"
             "%s15 : start=8192, size=%d, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n") % (
        name, 128 * 2048, root_mib * 2048, ROOT_GUID, name, name, 124 * 2048)
    run("sfdisk", "-q", a.out, input=table.encode())
    run("mkfs.fat", "-F", "32", "-s", "1", "-n", "UEFI", "--offset", "8192", a.out, str(124 * 1024),
        stdout=subprocess.DEVNULL)
    img = "%s@@%d" % (a.out, 4 * MIB)
    with tempfile.TemporaryDirectory() as d, tarfile.open(tar) as tf:
        def member(prefix):
            names = sorted(n for n in tf.getnames() if n.lstrip("./").startswith(prefix))
            return tf.extractfile(names[-1]).read()
        files = {
            "EFI/BOOT/BOOTX64.EFI": member("usr/lib/systemd/boot/efi/systemd-bootx64.efi"),
            "vmlinuz": member("boot/vmlinuz-"),
            "initrd.img": member("boot/initrd.img-"),
            "loader/loader.conf": b"timeout 0\n",
            "loader/entries/debian.conf": ("title Debian\nlinux /vmlinuz\ninitrd /initrd.img\n"
                                           "options root=PARTUUID=%s rw console=tty0 console=ttyS0,115200\n"
                                           % ROOT_GUID).encode(),
        }
        for name, data in files.items():
            p = os.path.join(d, "esp", name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        esp = os.path.join(d, "esp")
        run("mcopy", "-s", "-i", img, *[os.path.join(esp, n) for n in sorted(os.listdir(esp))], "::/")
        env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(EPOCH))
        run("mke2fs", "-q", "-t", "ext4", "-L", "root", "-E", "offset=%d" % (128 * MIB), "-d", tar, a.out,
            "%dM" % root_mib, env=env)
        vendor_net(a.out, 128 * MIB, d, env)
        # GRUB's config as grub-mkconfig leaves it in Debian's cloud images:
        # root named by the partition's GUID.
        grub = os.path.join(d, "grub.cfg")
        with open(grub, "w") as f:
            f.write("menuentry 'Debian GNU/Linux' {\n\tsearch --no-floppy --fs-uuid --set=root x\n"
                    "\tlinux /boot/vmlinuz root=PARTUUID=%s ro console=tty0 console=ttyS0,115200\n}\n" % ROOT_GUID.upper())
        script = os.path.join(d, "grub.debugfs")
        with open(script, "w") as f:
            f.write("mkdir /boot/grub\nwrite %s /boot/grub/grub.cfg\nsif /boot/grub/grub.cfg mode 0100444\n" % grub)
        run("debugfs", "-w", "-f", script, "%s?offset=%d" % (a.out, 128 * MIB),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def vendor_net(out, offset, d, env):
    net = os.path.join(d, "net")
    with open(net, "w") as f:
        f.write("[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n")
    script = os.path.join(d, "net.debugfs")
    with open(script, "w") as f:
        f.write(VENDOR_NET.format(net=net))
    run("debugfs", "-w", "-f", script, "%s?offset=%d" % (out, offset),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)


def run(*cmd, **kw):
    subprocess.run(cmd, check=True, **kw)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--family", choices=["raspios", "raspios-trixie", "ubuntu", "debian-cloud"], default="raspios")
    ap.add_argument("--arch", choices=["arm64", "amd64"], default="arm64")
    ap.add_argument("--root-mib", type=int, default=200)
    ap.add_argument("--luks", action="store_true", help="a LUKS header where root should be")
    ap.add_argument("--no-tools", action="store_true", help="no sfdisk/resize2fs/... in root")
    ap.add_argument("--rootfs", help="a bootable root tarball to use as root")
    ap.add_argument("--fill-mib", type=int, default=0, help="MiB of random data in root (benchmarks)")
    ap.add_argument("--drop-package", action="append", default=[], help="leave a package out of dpkg's status")
    a = ap.parse_args()
    if a.family == "debian-cloud":
        return debian_cloud(a)

    boot_start, boot_mib, label, root_label = (
        (8, 512, "bootfs", "rootfs") if a.family.startswith("raspios") else (1, 512, "system-boot", "writable"))
    root_start = boot_start + boot_mib
    if a.rootfs:
        a.root_mib = (os.path.getsize(a.rootfs) * 13 // 10) // MIB + 256
    total = root_start + a.root_mib
    if os.path.exists(a.out):
        os.unlink(a.out)
    with open(a.out, "wb") as f:
        f.truncate(total * MIB)
    table = "label: dos\nlabel-id: 0xabcd1234\nstart=%d, size=%d, type=c\nstart=%d, size=%d, type=83\n" % (
        boot_start * 2048, boot_mib * 2048, root_start * 2048, a.root_mib * 2048)
    run("sfdisk", "-q", a.out, input=table.encode())
    run("mkfs.fat", "-F", "32", "-n", label.upper(), "-i", "ABCD1234", "--offset", str(boot_start * 2048),
        a.out, str(boot_mib * 1024), stdout=subprocess.DEVNULL)
    img = "%s@@%d" % (a.out, boot_start * MIB)
    with tempfile.TemporaryDirectory() as d:
        files = boot_files(a.family)
        if a.rootfs:
            files.update(real_boot_files(a.rootfs))
            for k in ["kernel8.img", "initramfs8"]:
                files.pop(k, None)
            files["config.txt"] += b"\n[all]\nkernel=vmlinuz\ninitramfs initrd.img followkernel\n"
        for name, data in sorted(files.items()):
            p = os.path.join(d, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        run("mcopy", "-s", "-i", img, *[os.path.join(d, n) for n in sorted(os.listdir(d))], "::/")
        tar = a.rootfs or os.path.join(d, "root.tar")
        if not a.rootfs:
            rootfs(tar, a.family, a.arch, not a.no_tools, a.drop_package, a.fill_mib)
        if a.luks:
            with open(a.out, "r+b") as f:
                f.seek(root_start * MIB)
                f.write(b"LUKS\xba\xbe\x00\x01" + b"\x00" * 4088)
        else:
            env = dict(os.environ, E2FSPROGS_FAKE_TIME=str(EPOCH))
            run("mke2fs", "-q", "-t", "ext4", "-L", root_label, "-E", "offset=%d" % (root_start * MIB),
                "-d", tar, a.out, "%dM" % a.root_mib, env=env)
            if a.rootfs:
                vendor_net(a.out, root_start * MIB, d, env)


if __name__ == "__main__":
    main()
