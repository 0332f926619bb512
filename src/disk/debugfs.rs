//! An ext4 file system inside an image, read and edited in place by
//! e2fsprogs' `debugfs` at the partition's byte offset (`IMAGE?offset=N`, the
//! unix I/O manager's option): no root, no loop device, no mount.
//! `E2FSPROGS_FAKE_TIME` pins every time debugfs stamps, so the same edit
//! gives the same bytes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};

use super::DiskError;
use crate::tree::{Entry, Files};

/// An ext4 file system at `offset` in `image`.
pub struct Ext4<'a> {
    pub image: &'a Path,
    pub offset: u64,
    pub epoch: i64,
}

/// One entry of a folder as `ls -p` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub mode: u32,
    pub uid: u32,
    pub size: u64,
}

impl Ext4<'_> {
    fn spec(&self) -> String {
        format!("{}?offset={}", self.image.display(), self.offset)
    }

    /// Run a debugfs script; its stdout, stderr.
    fn run(&self, script: &str, write: bool) -> Result<(String, String), DiskError> {
        let mut f =
            tempfile::NamedTempFile::new().map_err(|e| DiskError::io("a debugfs script", e))?;
        std::io::Write::write_all(&mut f, script.as_bytes())
            .map_err(|e| DiskError::io("a debugfs script", e))?;
        let mut cmd = Command::new("debugfs");
        if write {
            cmd.arg("-w");
        }
        cmd.arg("-f").arg(f.path()).arg(self.spec());
        let out = cmd
            .env("E2FSPROGS_FAKE_TIME", self.epoch.to_string())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| DiskError::Tool(format!("cannot run debugfs (e2fsprogs): {e}")))?;
        if !out.status.success() {
            return Err(DiskError::Tool(format!(
                "debugfs failed on the root file system: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok((
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// The entries of each folder in `dirs` (absent folders are empty).
    pub fn list(
        &self,
        dirs: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, BTreeMap<String, Listed>>, DiskError> {
        let script: String = dirs.iter().map(|d| format!("ls -p \"/{d}\"\n")).collect();
        let (out, _) = self.run(&script, false)?;
        let mut res: BTreeMap<String, BTreeMap<String, Listed>> =
            dirs.iter().map(|d| (d.clone(), BTreeMap::new())).collect();
        let mut current: Option<String> = None;
        for line in out.lines() {
            if let Some(cmd) = line.strip_prefix("debugfs: ls -p ") {
                current = Some(cmd.trim_matches('"').trim_start_matches('/').to_string());
                continue;
            }
            // "/inode/mode/uid/gid/name/size/"
            let parts: Vec<&str> = line.split('/').collect();
            let (Some(dir), 8) = (&current, parts.len()) else {
                continue;
            };
            let (Ok(mode), Ok(uid)) = (u32::from_str_radix(parts[2], 8), parts[3].parse()) else {
                continue;
            };
            if matches!(parts[5], "." | "..") {
                continue;
            }
            let size = parts[6].parse().unwrap_or(0);
            if let Some(m) = res.get_mut(dir) {
                m.insert(parts[5].to_string(), Listed { mode, uid, size });
            }
        }
        Ok(res)
    }

    /// The superblock summary (`stats`).
    pub fn stats(&self) -> Result<String, DiskError> {
        Ok(self.run("stats\n", false)?.0)
    }

    /// The contents of a regular file, `None` when it is not there.
    pub fn read(&self, path: &str) -> Result<Option<Vec<u8>>, DiskError> {
        let out = Command::new("debugfs")
            .arg("-R")
            .arg(format!("cat \"/{path}\""))
            .arg(self.spec())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| DiskError::Tool(format!("cannot run debugfs (e2fsprogs): {e}")))?;
        let err = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || err.contains("File not found") {
            return Ok(None);
        }
        Ok(Some(out.stdout))
    }

    /// Remove `remove`, then write `files` (folders made as needed, 0755),
    /// each owned by root with its mode and the build's time; then read the
    /// folders back and check every entry arrived as asked.
    pub fn apply(&self, files: &Files, remove: &[&str], staging: &Path) -> Result<(), DiskError> {
        let mut script = String::new();
        let mut dirs = BTreeSet::new();
        let mut staged: Vec<std::path::PathBuf> = Vec::new();
        let t = self.epoch;
        for r in remove {
            check_path(r)?;
            script.push_str(&format!("rm \"/{r}\"\n"));
        }
        for (path, entry) in files {
            check_path(path)?;
            let mut parent = String::new();
            for comp in path
                .split('/')
                .rev()
                .skip(1)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                parent = if parent.is_empty() {
                    comp.to_string()
                } else {
                    format!("{parent}/{comp}")
                };
                if dirs.insert(parent.clone()) {
                    script.push_str(&format!("mkdir \"/{parent}\"\n"));
                }
            }
            script.push_str(&format!("rm \"/{path}\"\n"));
            let mode = match entry {
                Entry::Symlink { target } => {
                    check_target(target)?;
                    script.push_str(&format!("symlink \"/{path}\" \"{target}\"\n"));
                    None
                }
                Entry::File { mode, data } => {
                    let host = staging.join((staged.len() + 1).to_string());
                    // Staged bytes may be secrets (token, auth key): 0600,
                    // and overwritten before they are deleted (below).
                    write_private(&host, data).map_err(|e| DiskError::io(path, e))?;
                    staged.push(host.clone());
                    script.push_str(&format!("write \"{}\" \"/{path}\"\n", host.display()));
                    Some(*mode)
                }
                Entry::Host { mode, path: host } => {
                    script.push_str(&format!("write \"{}\" \"/{path}\"\n", host.display()));
                    Some(*mode)
                }
            };
            if let Some(m) = mode {
                script.push_str(&format!(
                    "sif \"/{path}\" mode 0{:o}\n",
                    0o100000 | (m & 0o7777)
                ));
            }
            for field in [
                "uid 0",
                "gid 0",
                &format!("mtime @{t}"),
                &format!("atime @{t}"),
                &format!("ctime @{t}"),
            ] {
                script.push_str(&format!("sif \"/{path}\" {field}\n"));
            }
        }
        let ran = self.run(&script, true);
        for host in &staged {
            overwrite(host);
        }
        ran?;
        self.verify(files, remove, &dirs)
    }

    fn verify(
        &self,
        files: &Files,
        remove: &[&str],
        dirs: &BTreeSet<String>,
    ) -> Result<(), DiskError> {
        let mut parents: BTreeSet<String> = dirs.clone();
        parents.insert(String::new());
        for r in remove {
            parents.insert(parent(r).to_string());
        }
        let listed = self.list(&parents)?;
        let find = |p: &str| listed.get(parent(p)).and_then(|m| m.get(leaf(p)));
        for (path, entry) in files {
            let want = match entry {
                Entry::Symlink { target } => (0o120777, target.len() as u64),
                Entry::File { mode, .. } | Entry::Host { mode, .. } => (
                    0o100000 | (mode & 0o7777),
                    entry.size().map_err(|e| DiskError::io(path, e))?,
                ),
            };
            match find(path) {
                Some(l) if (l.mode, l.size) == want && l.uid == 0 => {}
                got => {
                    return Err(DiskError::Tool(format!(
                        "writing /{path} into the base's root file system failed (read back: {got:?}); is it full or read-only (e2fsck it)?"
                    )));
                }
            }
        }
        if let Some(r) = remove.iter().find(|r| find(r).is_some()) {
            return Err(DiskError::Tool(format!(
                "/{r} could not be removed from the base's root file system"
            )));
        }
        Ok(())
    }
}

fn parent(p: &str) -> &str {
    p.rsplit_once('/').map_or("", |(d, _)| d)
}

fn leaf(p: &str) -> &str {
    p.rsplit_once('/').map_or(p, |(_, l)| l)
}

/// debugfs reads its script word by word: a path with a quote, a backslash
/// or a newline cannot be said safely, so none is accepted.
fn check_path(p: &str) -> Result<(), DiskError> {
    if p.is_empty()
        || p.contains(['"', '\\', '\n'])
        || p.split('/').any(|c| c.is_empty() || c == "..")
    {
        return Err(DiskError::Tool(format!("cannot write {p:?} with debugfs")));
    }
    Ok(())
}

/// A symlink's target may climb (`../run/systemd/resolve/stub-resolv.conf`):
/// only what debugfs cannot read back whole is refused.
fn check_target(t: &str) -> Result<(), DiskError> {
    if t.is_empty() || t.contains(['"', '\\', '\n']) {
        return Err(DiskError::Tool(format!(
            "cannot write a symlink to {t:?} with debugfs"
        )));
    }
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)
}

/// Zero a staged file in place and sync it, so that deleting it (the
/// staging folder's guard) leaves no copy of its bytes in free blocks
/// that a later read of the host disk could find. Best effort.
fn overwrite(path: &Path) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path)
        && let Ok(m) = f.metadata()
    {
        let zeros = vec![0u8; m.len() as usize];
        let _ = f.write_all(&zeros).and_then(|_| f.sync_all());
    }
    let _ = std::fs::remove_file(path);
}

/// Where a host file for the script goes, for callers that stage bytes.
pub fn staging_dir(near: &Path) -> Result<tempfile::TempDir, DiskError> {
    tempfile::Builder::new()
        .prefix(".haimg-edit-")
        .tempdir_in(near.parent().unwrap_or(Path::new(".")))
        .map_err(|e| DiskError::io("a folder for the files to write", e))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    /// A staged file's bytes are zeroed before it goes: a handle kept open
    /// on it (its inode outlives the name) reads zeros afterwards.
    #[test]
    fn a_staged_file_is_overwritten_then_removed() {
        let dir = tempfile::tempdir().expect("dir");
        let p = dir.path().join("1");
        super::write_private(&p, b"K10secret::server:abc").expect("stage");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&p).expect("meta").permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        let mut held = std::fs::File::open(&p).expect("open");
        super::overwrite(&p);
        assert!(!p.exists(), "the staged file is removed");
        let mut got = Vec::new();
        held.read_to_end(&mut got).expect("read");
        assert_eq!(got, vec![0u8; 21], "its bytes were zeroed first");
    }

    /// The debian bases' resolv.conf points up and over
    /// (`../run/systemd/resolve/stub-resolv.conf`): written as said.
    #[test]
    fn a_symlink_may_climb_and_arrives_as_written() {
        use crate::tree::{Entry, Files};
        let dir = tempfile::tempdir().expect("dir");
        let img = dir.path().join("fs.img");
        std::fs::File::create(&img)
            .and_then(|f| f.set_len(16 << 20))
            .expect("image");
        let made = std::process::Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4"])
            .arg(&img)
            .output()
            .expect("mke2fs");
        assert!(made.status.success(), "{made:?}");
        let target = "../run/systemd/resolve/stub-resolv.conf";
        let mut files = Files::new();
        files.insert(
            "etc/resolv.conf".into(),
            Entry::Symlink {
                target: target.into(),
            },
        );
        let fs = super::Ext4 {
            image: &img,
            offset: 0,
            epoch: 1_704_067_200,
        };
        fs.apply(&files, &[], dir.path()).expect("apply");
        let (out, _) = fs.run("stat /etc/resolv.conf\n", false).expect("stat");
        assert!(
            out.contains(&format!("Fast link dest: \"{target}\"")),
            "{out}"
        );
        files.insert(
            "etc/bad".into(),
            Entry::Symlink {
                target: "a\"b".into(),
            },
        );
        assert!(fs.apply(&files, &[], dir.path()).is_err());
    }
}
