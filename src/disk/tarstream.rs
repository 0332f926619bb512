//! One tar stream for the root filesystem: the base tarball's members copied
//! through byte for byte (so types, modes, owners, xattrs, long names, sparse
//! maps and device numbers arrive exactly as the base had them), minus the ones
//! haimg replaces or that would bake an identity into every node; then haimg's
//! own files. Boot files are captured on the way past, for the FAT partition.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::DiskError;
use crate::tree::{Entry, Files};

use super::tarheader::{BLOCK, Header, bad, read_block};

/// What to do with base members, by path (relative, no leading `/` or `./`).
pub struct Rules<'a> {
    /// Paths haimg writes itself: the base's version is dropped.
    pub replace: &'a Files,
    /// Paths (or prefixes ending in `/`) dropped from the base.
    pub drop: &'a [&'a str],
    /// Regular files whose contents are kept for the boot partition.
    pub capture: &'a dyn Fn(&str) -> bool,
    /// Folder for captured contents.
    pub capture_dir: &'a Path,
    /// Paths whose presence in the base (as any kept member) is reported.
    pub probe: &'a [&'a str],
    pub epoch: i64,
}

/// What the stream held.
#[derive(Debug, Default)]
pub struct Stats {
    /// Bytes of file data written (a floor for the filesystem size).
    pub data_bytes: u64,
    pub entries: u64,
    /// Captured file path → where its bytes now are.
    pub captured: BTreeMap<String, PathBuf>,
    /// The probed paths the base holds.
    pub found: BTreeSet<String>,
}

/// Normalise a member path: no leading `./` or `/`, no trailing `/`.
pub fn normalize(p: &str) -> String {
    let mut s = p;
    loop {
        if let Some(r) = s.strip_prefix("./") {
            s = r;
        } else if let Some(r) = s.strip_prefix('/') {
            s = r;
        } else {
            break;
        }
    }
    s.trim_end_matches('/').to_string()
}

/// Copy `len` data bytes plus padding from `r` to `w` (and the data to `tee`).
fn copy_data(
    r: &mut impl Read,
    w: &mut impl Write,
    len: u64,
    mut tee: Option<&mut std::fs::File>,
) -> Result<(), DiskError> {
    let padded = len.div_ceil(BLOCK as u64) * BLOCK as u64;
    let mut left = padded;
    let mut data_left = len;
    let mut buf = vec![0u8; 1 << 16];
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = match r.read(&mut buf[..want]) {
            Ok(0) => return Err(bad("the tarball is truncated (ends inside a member)")),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(DiskError::BadTar(format!("reading the tarball: {e}"))),
        };
        w.write_all(&buf[..n]).map_err(DiskError::Stream)?;
        if let Some(t) = tee.as_deref_mut() {
            let d = (n as u64).min(data_left) as usize;
            t.write_all(&buf[..d])
                .map_err(|e| DiskError::io("captured boot file", e))?;
        }
        data_left = data_left.saturating_sub(n as u64);
        left -= n as u64;
    }
    Ok(())
}

/// Read one member's data fully into memory (extension headers are small).
fn read_data(r: &mut impl Read, len: u64) -> Result<Vec<u8>, DiskError> {
    if len > 16 * 1024 * 1024 {
        return Err(bad("an extension header is implausibly large"));
    }
    let mut v = Vec::new();
    copy_data(r, &mut v, len, None)?;
    v.truncate(len as usize);
    Ok(v)
}

fn pax_path(data: &[u8]) -> Option<String> {
    // Records: "<len> <key>=<value>\n".
    let mut rest = data;
    let mut found = None;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len == 0 || len > rest.len() {
            return None;
        }
        let rec = &rest[sp + 1..len];
        if let Some(v) = rec.strip_prefix(b"path=") {
            found = Some(String::from_utf8_lossy(v.strip_suffix(b"\n").unwrap_or(v)).into_owned());
        }
        rest = &rest[len..];
    }
    found
}

fn dropped(path: &str, rules: &Rules<'_>) -> bool {
    rules.replace.contains_key(path)
        || rules.drop.iter().any(|d| match d.strip_suffix('/') {
            // "dir/": everything below, the folder itself stays.
            Some(_) => path.starts_with(d),
            None => path == *d,
        })
}

/// Stream the merged tar from `base` into `out`.
pub fn merge(mut base: impl Read, out: impl Write, rules: &Rules<'_>) -> Result<Stats, DiskError> {
    let mut out = io::BufWriter::with_capacity(1 << 20, out);
    let mut stats = Stats::default();
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut long_name: Option<String> = None;
    let mut block = [0u8; BLOCK];
    let mut capture_n = 0usize;
    // Headers of regular files, for hard links to copy their metadata from.
    let mut regular_headers: std::collections::HashMap<String, [u8; BLOCK]> =
        std::collections::HashMap::new();
    let mut long_link: Option<String> = None;

    loop {
        if !read_block(&mut base, &mut block)? {
            return Err(bad("the tarball is truncated (no end-of-archive marker)"));
        }
        if block.iter().all(|&b| b == 0) {
            break; // end of archive (the second zero block is not needed)
        }
        let mut h = Header { raw: block };
        if !h.checksum_ok() {
            return Err(bad(
                "a header's checksum is wrong: not a tarball, or a corrupt one",
            ));
        }
        let size = h.size()?;
        let mut ext_blocks: Vec<u8> = Vec::new();
        if h.gnu_sparse_extended() {
            loop {
                let mut ext = [0u8; BLOCK];
                if !read_block(&mut base, &mut ext)? {
                    return Err(bad("the tarball is truncated (in a sparse map)"));
                }
                ext_blocks.extend_from_slice(&ext);
                if ext[504] == 0 {
                    break;
                }
            }
        }
        match h.typeflag() {
            // GNU long name / long link, PAX per-file header: attach to the next member.
            b'L' | b'K' | b'x' => {
                let data = read_data(&mut base, size)?;
                match h.typeflag() {
                    b'L' => {
                        let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                        long_name = Some(String::from_utf8_lossy(&data[..end]).into_owned());
                    }
                    b'K' => {
                        let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                        long_link = Some(String::from_utf8_lossy(&data[..end]).into_owned());
                    }
                    b'x' => {
                        if let Some(p) = pax_path(&data) {
                            long_name = Some(p);
                        }
                    }
                    _ => {}
                }
                pending.extend_from_slice(&h.raw);
                pending.extend_from_slice(&data);
                let pad = (BLOCK - data.len() % BLOCK) % BLOCK;
                pending.extend(std::iter::repeat_n(0u8, pad));
                continue;
            }
            // Global PAX header: applies to the whole archive; keep as is.
            b'g' => {
                out.write_all(&h.raw).map_err(DiskError::Stream)?;
                copy_data(&mut base, &mut out, size, None)?;
                continue;
            }
            _ => {}
        }
        let raw_name = long_name.take().unwrap_or_else(|| h.name());
        let link = long_link.take().unwrap_or_else(|| h.link_name());
        let path = normalize(&raw_name);
        if path.split('/').any(|c| c == "..") {
            return Err(DiskError::BadTar(format!(
                "member {raw_name:?} climbs out of the root with `..`"
            )));
        }
        let typeflag = h.typeflag();
        if typeflag == b'5' && !path.is_empty() {
            dirs.insert(path.clone());
        }
        // Data size of a member: hard links, symlinks, devices and folders
        // carry none, whatever the size field says (GNU 'S' carries its own).
        let data_len = match typeflag {
            b'1' | b'2' | b'3' | b'4' | b'5' | b'6' => 0,
            _ => size,
        };
        if !path.is_empty() && dropped(&path, rules) {
            pending.clear();
            copy_data(&mut base, &mut io::sink(), data_len, None)?;
            continue;
        }
        if rules.probe.contains(&path.as_str()) {
            stats.found.insert(path.clone());
        }
        match typeflag {
            b'0' | 0 | b'7' => {
                regular_headers.insert(path.clone(), h.raw);
            }
            b'1' => {
                if let Some(t) = regular_headers.get(&normalize(&link)) {
                    h.adopt_metadata(t);
                }
            }
            _ => {}
        }
        out.write_all(&pending).map_err(DiskError::Stream)?;
        pending.clear();
        out.write_all(&h.raw).map_err(DiskError::Stream)?;
        out.write_all(&ext_blocks).map_err(DiskError::Stream)?;
        let regular = matches!(typeflag, b'0' | 0 | b'7');
        let mut tee = if regular && (rules.capture)(&path) {
            capture_n += 1;
            let p = rules.capture_dir.join(format!("{capture_n:05}"));
            let f = std::fs::File::create(&p).map_err(|e| DiskError::io("capture folder", e))?;
            stats.captured.insert(path.clone(), p);
            Some(f)
        } else {
            None
        };
        copy_data(&mut base, &mut out, data_len, tee.as_mut())?;
        stats.data_bytes += data_len;
        stats.entries += 1;
    }

    // haimg's files, with any folder the base lacks, parents first.
    let mut b = tar::Builder::new(out);
    let need = missing_dirs(rules.replace.keys(), &dirs);
    for d in &need {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_mtime(rules.epoch.max(0) as u64);
        b.append_data(&mut h, format!("{d}/"), io::empty())
            .map_err(DiskError::Stream)?;
    }
    for (path, entry) in rules.replace {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(rules.epoch.max(0) as u64);
        match entry {
            Entry::File { mode, .. } | Entry::Host { mode, .. } => {
                let size = entry.size().map_err(|e| DiskError::io(path, e))?;
                let data = entry.reader().map_err(|e| DiskError::io(path, e))?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(size);
                b.append_data(&mut h, path, data)
                    .map_err(DiskError::Stream)?;
                stats.data_bytes += size;
            }
            Entry::Symlink { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target)
                    .map_err(DiskError::Stream)?;
            }
        }
        stats.entries += 1;
    }
    let mut out = b.into_inner().map_err(DiskError::Stream)?;
    out.flush().map_err(DiskError::Stream)?;
    Ok(stats)
}

/// Folders the added paths need that the base did not have, parents first.
fn missing_dirs<'a>(
    paths: impl Iterator<Item = &'a String>,
    have: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut need = BTreeSet::new();
    for path in paths {
        let mut cur = Path::new(path.as_str()).parent();
        while let Some(d) = cur {
            if d.as_os_str().is_empty() {
                break;
            }
            let s = d.display().to_string();
            if !have.contains(&s) {
                need.insert(s);
            }
            cur = d.parent();
        }
    }
    need
}
