//! The ext4 root filesystem, made by e2fsprogs' `mke2fs -d -` from a tar stream
//! on its standard input (e2fsprogs ≥ 1.47.1), written at the root partition's
//! offset inside the image. No root, no loop device, no staging folder.

use std::path::Path;
use std::process::{ChildStdin, Command};

use super::DiskError;
use crate::plan::layout::MIB;
use crate::tool::{Running, Tool};

/// The first e2fsprogs that reads a tarball and honours SOURCE_DATE_EPOCH.
const MIN_VERSION: (u32, u32, u32) = (1, 47, 1);

pub const INSTALL_HINT: &str = "install e2fsprogs >= 1.47.1 and libarchive: on Debian 13 `apt-get install e2fsprogs libarchive13t64`; on Debian 12 add the bookworm-backports suite and `apt-get install -t bookworm-backports e2fsprogs libarchive13`";

/// haimg's own mke2fs.conf, so the features do not depend on the host's: what
/// Debian 12's kernel (6.1) and e2fsck 1.47.0 accept. `orphan_file` and
/// `metadata_csum_seed` are left out on purpose (older e2fsck refuse them).
/// `lazy_itable_init = 1`: in a regular file mke2fs "zeroes" inode tables by
/// punching holes and then marks them zeroed; a bmap-aware flash skips holes,
/// so a reused disk would keep stale bytes the filesystem trusts to be zero.
/// Left uninitialised, the kernel zeroes them itself on first mount.
const MKE2FS_CONF: &str = "\
[defaults]
\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384
\treserved_ratio = 1
\tlazy_itable_init = 1
\tlazy_journal_init = 0

[fs_types]
\text4 = {
\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
\t}
\tsmall = {
\t}
\tfloppy = {
\t}
\tbig = {
\t}
\thuge = {
\t}
";

fn parse_version(s: &str) -> Option<(u32, u32, u32)> {
    let v = s.split_whitespace().nth(1)?;
    let mut it = v.split(['.', '-', '~']).map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}

/// Fail early, with the package to install, when mke2fs cannot read tar input.
pub fn check_version() -> Result<(), DiskError> {
    let out = Command::new("mke2fs")
        .arg("-V")
        .output()
        .map_err(|_| DiskError::Tool(format!("mke2fs was not found; {INSTALL_HINT}")))?;
    let text = String::from_utf8_lossy(&out.stderr);
    match parse_version(text.lines().next().unwrap_or("")) {
        Some(v) if v >= MIN_VERSION => Ok(()),
        Some((a, b, c)) => Err(DiskError::Tool(format!(
            "mke2fs {a}.{b}.{c} cannot read a tarball; {INSTALL_HINT}"
        ))),
        None => Err(DiskError::Tool(format!(
            "cannot tell the version of mke2fs from {text:?}; {INSTALL_HINT}"
        ))),
    }
}

/// A running mke2fs reading the root tar stream on its stdin.
pub struct Mke2fs {
    run: Running,
    _conf: tempfile::NamedTempFile,
}

const MKE2FS: Tool = Tool::new("mke2fs", "e2fsprogs");

/// Where mke2fs makes a file system, and the identifiers it gets.
pub struct Target<'a> {
    pub image: &'a Path,
    pub offset: u64,
    pub len: u64,
    pub label: &'a str,
    pub uuid: uuid::Uuid,
    pub hash_seed: uuid::Uuid,
}

pub fn spawn(t: &Target<'_>, epoch: i64) -> Result<Mke2fs, DiskError> {
    let mut conf = tempfile::NamedTempFile::new().map_err(|e| DiskError::io("mke2fs.conf", e))?;
    std::io::Write::write_all(&mut conf, MKE2FS_CONF.as_bytes())
        .map_err(|e| DiskError::io("mke2fs.conf", e))?;
    let uuid = t.uuid.to_string();
    let mut cmd = MKE2FS.command();
    cmd.env("MKE2FS_CONFIG", conf.path())
        .env("SOURCE_DATE_EPOCH", epoch.to_string())
        .env("E2FSPROGS_FAKE_TIME", epoch.to_string())
        .args([
            "-q", "-F", "-t", "ext4", "-d", "-", "-L", t.label, "-U", &uuid,
        ])
        .arg("-E")
        .arg(format!(
            "offset={},hash_seed={},root_owner=0:0",
            t.offset, t.hash_seed
        ))
        .arg(t.image)
        .arg(format!("{}k", t.len / 1024));
    Ok(Mke2fs {
        run: MKE2FS.spawn(cmd)?,
        _conf: conf,
    })
}

const TUNE2FS: Tool = Tool::new("tune2fs", "e2fsprogs");

/// Give the ext4 at `offset` in `image` a new UUID. With `metadata_csum`
/// (and no `metadata_csum_seed`, left out above) the checksums are seeded by
/// the UUID, and tune2fs rewrites every one of them (tune2fs.c,
/// rewrite_metadata_checksums): the result checks clean under `e2fsck -fn`.
/// The fake time keeps the superblock's write time at the build's.
pub fn set_uuid(image: &Path, offset: u64, uuid: uuid::Uuid, epoch: i64) -> Result<(), DiskError> {
    let mut cmd = TUNE2FS.command();
    cmd.env("E2FSPROGS_FAKE_TIME", epoch.to_string())
        .arg("-U")
        .arg(uuid.to_string())
        .arg(format!("{}?offset={offset}", image.display()));
    Ok(TUNE2FS.run(cmd)?)
}

impl Mke2fs {
    pub fn stdin(&mut self) -> Result<ChildStdin, DiskError> {
        self.run
            .stdin()
            .ok_or_else(|| DiskError::Tool("mke2fs has no stdin".into()))
    }

    /// Wait for mke2fs; `needed` is the byte count of the root tree, for the
    /// message when the filesystem was too small.
    pub fn finish(self, root_len: u64, needed: u64) -> Result<(), DiskError> {
        let Err(e) = self.run.finish() else {
            return Ok(());
        };
        let err = e.tail();
        if err.contains("Could not allocate block") || err.contains("No space left") {
            return Err(too_small(root_len, needed));
        }
        if err.contains("archive") && err.contains("not") {
            return Err(DiskError::Tool(format!(
                "mke2fs cannot read tar input ({}); {INSTALL_HINT}",
                err.trim()
            )));
        }
        Err(e.into())
    }
}

/// The message for a root tree that does not fit its partition.
pub fn too_small(root_len: u64, needed: u64) -> DiskError {
    // Metadata (inode tables, journal, directories) adds roughly a fifth.
    let suggest = (needed + needed / 4 + 256 * MIB)
        .div_ceil(MIB)
        .next_power_of_two();
    DiskError::RootTooSmall {
        have_mib: root_len / MIB,
        need_mib: needed.div_ceil(MIB),
        suggest_mib: suggest,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions() {
        assert_eq!(
            parse_version("mke2fs 1.47.2 (1-Jan-2025)"),
            Some((1, 47, 2))
        );
        assert_eq!(
            parse_version("mke2fs 1.47.0 (5-Feb-2023)"),
            Some((1, 47, 0))
        );
        assert!(parse_version("mke2fs 1.47.0") < Some((1, 47, 1)));
        assert_eq!(parse_version("garbage"), None);
    }
}
