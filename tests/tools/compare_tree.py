#!/usr/bin/env python3
"""Compare a mounted filesystem against the tarball it was made from.

  compare_tree.py TARBALL MOUNTPOINT [--skip PATH ...] [--skip-prefix P ...]

Checks every member: type, mode (incl. setuid/sticky), owner, mtime, size,
content sha256, symlink target, device numbers, hard links (same inode),
the security.capability xattr, and that sparse files stayed sparse.
Prints one line per mismatch and exits 1 if there is any.
"""
import argparse, hashlib, os, stat, sys, tarfile

def norm(name):
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/").rstrip("/")

def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tarball")
    ap.add_argument("root")
    ap.add_argument("--skip", action="append", default=[])
    ap.add_argument("--skip-prefix", action="append", default=[])
    a = ap.parse_args()
    bad = []
    seen = 0
    with tarfile.open(a.tarball, "r:*", encoding="utf-8", errors="surrogateescape") as tf:
        members = {}
        for m in tf:
            members[norm(m.name)] = m
        for name, m in members.items():
            if not name or name in a.skip or any(name.startswith(p) for p in a.skip_prefix):
                continue
            seen += 1
            p = os.path.join(os.fsencode(a.root), os.fsencode(name))
            try:
                st = os.lstat(p)
            except FileNotFoundError:
                bad.append(f"{name!r}: missing")
                continue
            want_type = {tarfile.REGTYPE: stat.S_ISREG, tarfile.AREGTYPE: stat.S_ISREG,
                         tarfile.DIRTYPE: stat.S_ISDIR, tarfile.SYMTYPE: stat.S_ISLNK,
                         tarfile.CHRTYPE: stat.S_ISCHR, tarfile.BLKTYPE: stat.S_ISBLK,
                         tarfile.FIFOTYPE: stat.S_ISFIFO, tarfile.LNKTYPE: stat.S_ISREG,
                         tarfile.GNUTYPE_SPARSE: stat.S_ISREG}.get(m.type)
            if want_type is None:
                bad.append(f"{name!r}: unexpected member type {m.type!r}")
                continue
            if not want_type(st.st_mode):
                bad.append(f"{name!r}: wrong type {stat.filemode(st.st_mode)}")
                continue
            if m.type == tarfile.LNKTYPE:
                other = os.lstat(os.path.join(os.fsencode(a.root), os.fsencode(norm(m.linkname))))
                if other.st_ino != st.st_ino:
                    bad.append(f"{name!r}: not a hard link of {m.linkname!r}")
                continue
            if not stat.S_ISLNK(st.st_mode) and stat.S_IMODE(st.st_mode) != m.mode:
                bad.append(f"{name!r}: mode {oct(stat.S_IMODE(st.st_mode))} != {oct(m.mode)}")
            if (st.st_uid, st.st_gid) != (m.uid, m.gid):
                bad.append(f"{name!r}: owner {st.st_uid}:{st.st_gid} != {m.uid}:{m.gid}")
            if not stat.S_ISDIR(st.st_mode) and int(st.st_mtime) != int(m.mtime):
                bad.append(f"{name!r}: mtime {int(st.st_mtime)} != {int(m.mtime)}")
            if m.issym():
                target = os.readlink(p)
                if target != os.fsencode(m.linkname):
                    bad.append(f"{name!r}: link target differs ({len(target)} vs {len(m.linkname)} bytes)")
            if m.ischr() or m.isblk():
                if (os.major(st.st_rdev), os.minor(st.st_rdev)) != (m.devmajor, m.devminor):
                    bad.append(f"{name!r}: device {os.major(st.st_rdev)},{os.minor(st.st_rdev)} != {m.devmajor},{m.devminor}")
            if m.isreg():
                if st.st_size != m.size:
                    bad.append(f"{name!r}: size {st.st_size} != {m.size}")
                else:
                    want = hashlib.sha256()
                    f = tf.extractfile(m)
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        want.update(chunk)
                    if sha(p) != want.hexdigest():
                        bad.append(f"{name!r}: content differs")
                if m.sparse is not None and st.st_blocks * 512 > 16 * 1024 * 1024:
                    bad.append(f"{name!r}: sparse file takes {st.st_blocks * 512} bytes on disk")
            for key, val in m.pax_headers.items():
                if key.startswith("SCHILY.xattr."):
                    attr = key[len("SCHILY.xattr."):]
                    try:
                        got = os.getxattr(p, attr, follow_symlinks=False)
                    except OSError as e:
                        bad.append(f"{name!r}: xattr {attr} missing ({e})")
                        continue
                    if got != val.encode("utf-8", "surrogateescape") and got != val.encode("latin-1", "replace"):
                        bad.append(f"{name!r}: xattr {attr} differs")
    for line in bad:
        print(line)
    print(f"checked {seen} members, {len(bad)} mismatches")
    sys.exit(1 if bad else 0)

if __name__ == "__main__":
    main()
