//! A tarball base's root file system made once per run and copied into every
//! node's image that uses it. mke2fs reading the base's tar stream is most of
//! a node's build; the nodes of one cluster differ in a few dozen small
//! rendered files. So the base's ext4 is made alone (nothing of a node in
//! it, its UUID and hash seed from the base): by the first node, in place in
//! its own image; when other nodes of the run use the same base, a copy is
//! kept beside the images and each of them copies it in. Every node then gets
//! its own files by debugfs and its own UUID by tune2fs. A node built alone
//! takes the same steps, so its image has the same bytes whether built alone
//! or with others.
//!
//! The copy is kept where the root is in an image (its partition's offset),
//! so that the last node of the base to be built can take the copy over as
//! its own image file ([`take`]) instead of copying it once more; the others
//! copy it in.
//!
//! Copies live in a hidden folder beside the images until [`release`] (the
//! build command calls it when it ends) or a signal.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::{DiskError, ext4, root};
use crate::config::BootKind;
use crate::plan::NodePlan;

/// One base's root file system, made.
pub struct SharedRoot {
    /// Its copy, for the nodes that did not make it, with the root at
    /// `offset` and nothing else; `None` when no other node of the run uses
    /// its base, or once a node has taken the copy over.
    copy: Mutex<Option<PathBuf>>,
    offset: u64,
    len: u64,
    /// Boot files captured from the base (path in the base → copy here).
    pub captured: BTreeMap<String, PathBuf>,
    _guard: crate::cleanup::Guard,
    _dir: tempfile::TempDir,
}

/// What a shared root is made from: two nodes with the same key share one.
pub struct Key<'a> {
    pub base: &'a Path,
    /// The root's size (it follows the node's files, rounded up to 64 MiB:
    /// nodes of one cluster almost always agree).
    pub len: u64,
    pub label: &'a str,
    pub boot: BootKind,
    pub epoch: i64,
}

impl Key<'_> {
    /// What identifies the root's bytes: the base by its file name in the
    /// cache (named by its content) and size, never by the folder, so that
    /// another machine's build gives the same bytes.
    fn text(&self) -> String {
        let name = self.base.file_name().unwrap_or_default().to_string_lossy();
        let size = std::fs::metadata(self.base).map_or(0, |m| m.len());
        let boot = match self.boot {
            BootKind::Rpi => "rpi",
            BootKind::Uefi => "uefi",
        };
        format!(
            "{name}\0{size}\0{}\0{}\0{boot}\0{}",
            self.len, self.label, self.epoch
        )
    }
}

/// Where a node's root goes: the image file and the partition's offset.
pub struct Place<'a> {
    pub image: &'a Path,
    pub file: &'a File,
    pub offset: u64,
}

type Cell = Arc<OnceLock<Result<Arc<SharedRoot>, String>>>;

static ROOTS: Mutex<BTreeMap<String, Cell>> = Mutex::new(BTreeMap::new());
/// Per group, the root offsets of the nodes whose root is not placed yet.
static USERS: Mutex<BTreeMap<String, Vec<u64>>> = Mutex::new(BTreeMap::new());
/// The nodes that took a root's copy over as their image: nothing to copy.
static TAKEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// The nodes that may share a root: the same base, architecture and boot.
pub fn group(node: &NodePlan) -> String {
    format!(
        "{:?} {:?} {:?}",
        node.base, node.profile.arch, node.profile.boot
    )
}

/// Tell which nodes this run builds, before it builds them: a root is kept
/// for copying only when another node of its group will want it.
pub fn expect<'a>(nodes: impl IntoIterator<Item = &'a NodePlan>) {
    if let Ok(mut users) = USERS.lock() {
        for n in nodes {
            users.entry(group(n)).or_default().push(n.layout.root.0);
        }
    }
}

/// Where to keep a copy of the root `maker` made, when other nodes of the
/// run will want it: the root offset most of them have (ties: the largest),
/// so that the last of them can take the copy over.
fn copy_offset(maker: &NodePlan) -> Option<u64> {
    let users = USERS.lock().ok()?;
    most_common_other(users.get(&group(maker))?, maker.layout.root.0)
}

/// Of `offsets` without one `mine`, the most frequent (ties: the largest);
/// `None` when no other is left.
fn most_common_other(offsets: &[u64], mine: u64) -> Option<u64> {
    let mut others = offsets.to_vec();
    let me = others.iter().position(|o| *o == mine)?;
    others.remove(me);
    let count = |o: &u64| others.iter().filter(|x| *x == o).count();
    others.iter().copied().max_by_key(|o| (count(o), *o))
}

/// `node`'s root is placed: one user fewer.
fn placed(node: &NodePlan) {
    if let Ok(mut users) = USERS.lock()
        && let Some(left) = users.get_mut(&group(node))
        && let Some(i) = left.iter().position(|o| *o == node.layout.root.0)
    {
        left.remove(i);
    }
}

/// The copy of `key`'s root for `node` to take over as its image file, if
/// `node` is the last of its base to be built, another node made the root
/// (waited for, if it is being made) and kept its copy at `node`'s root
/// offset. The file then holds the root and nothing else (holes around
/// it): what `place` would have copied into a new image. `None`: build as
/// usual.
pub fn take(key: &Key<'_>, node: &NodePlan) -> Option<PathBuf> {
    let cell = ROOTS.lock().ok()?.get(&key.text())?.clone();
    let root = cell.wait().as_ref().ok()?.clone();
    let last = USERS.lock().ok()?.get(&group(node))?.len() == 1;
    if !last || root.offset != node.layout.root.0 {
        return None;
    }
    let path = root.copy.lock().ok()?.take()?;
    TAKEN.lock().ok()?.insert(node.hostname.clone());
    Some(path)
}

/// Put the base's root file system for `key` at `at`: made there if no node
/// of this run made it yet (the others wait for it), else copied from the
/// one made. The maker gets its own error; the others a copy of its text.
pub fn place(
    key: &Key<'_>,
    node: &NodePlan,
    at: &Place<'_>,
    quiet: bool,
) -> Result<Arc<SharedRoot>, DiskError> {
    let text = key.text();
    let cell = {
        let mut map = ROOTS
            .lock()
            .map_err(|_| DiskError::Tool("a node's build failed while making a root".into()))?;
        map.entry(text.clone()).or_default().clone()
    };
    let (mut mine, mut here) = (None, false);
    let made = cell.get_or_init(|| {
        here = true;
        let r = make(key, &text, at, copy_offset(node), quiet);
        // Before the others see the root: the last of them can tell it is.
        placed(node);
        match r {
            Ok(r) => Ok(Arc::new(r)),
            Err(e) => {
                let m = e.to_string();
                mine = Some(e);
                Err(m)
            }
        }
    });
    if let Some(e) = mine {
        return Err(e);
    }
    let made = made.clone().map_err(|m| {
        DiskError::Tool(format!("{m} (making the root file system the nodes share)"))
    })?;
    let taken = TAKEN.lock().is_ok_and(|mut t| t.remove(&node.hostname));
    if here {
        return Ok(made);
    }
    if taken {
        placed(node);
        return Ok(made);
    }
    let copy = made.copy.lock().ok().and_then(|c| c.clone());
    let placed_root = match copy {
        Some(copy) => {
            let src = File::open(&copy).map_err(|e| DiskError::io("the shared root", e))?;
            crate::sparse::copy_span(&src, made.offset, at.file, at.offset, made.len)
                .map_err(|e| DiskError::io("copying the root file system", e))?;
            made
        }
        // Not foreseen by `expect` (the same base in another group): made
        // again, the same bytes.
        None => Arc::new(make(key, &text, at, None, quiet)?),
    };
    placed(node);
    Ok(placed_root)
}

/// Forget every shared root: each one's folder goes with its last user.
pub fn release() {
    if let Ok(mut map) = ROOTS.lock() {
        map.clear();
    }
    if let Ok(mut users) = USERS.lock() {
        users.clear();
    }
    if let Ok(mut taken) = TAKEN.lock() {
        taken.clear();
    }
}

/// The UUID and directory-hash seed of a shared root, from its key: random
/// looking, the same on every run. Each node's copy then gets its own UUID;
/// the hash seed stays (directories already indexed by it).
fn ids(text: &str) -> (uuid::Uuid, uuid::Uuid) {
    let uuid = |what| crate::plan::layout::derive_uuid(b"haimg-shared-root\0", text, what);
    (uuid("ext4-uuid"), uuid("ext4-hash-seed"))
}

/// mke2fs at `at`; with `keep`, a copy of the result beside the images,
/// the root at that offset.
fn make(
    key: &Key<'_>,
    text: &str,
    at: &Place<'_>,
    keep: Option<u64>,
    quiet: bool,
) -> Result<SharedRoot, DiskError> {
    let dir = at.image.parent().unwrap_or(Path::new("."));
    let folder = tempfile::Builder::new()
        .prefix(".haimg-root-")
        .tempdir_in(dir)
        .map_err(|e| DiskError::io("a folder for the root file system", e))?;
    let guard = crate::cleanup::Guard::new(folder.path());
    let capture = folder.path().join("boot");
    std::fs::create_dir(&capture).map_err(|e| DiskError::io("a folder for the boot files", e))?;
    let (uuid, hash_seed) = ids(text);
    let target = ext4::Target {
        image: at.image,
        offset: at.offset,
        len: key.len,
        label: key.label,
        uuid,
        hash_seed,
    };
    let captured = root::make(&target, key.base, key.boot, &capture, key.epoch, quiet)?;
    let copy = match keep {
        // Dirty pages of a file deleted before writeback never reach the
        // disk: the copy costs a copy in memory, rarely a write (and none
        // when a node takes it over as its image).
        Some(offset) => {
            let path = folder.path().join("root.img");
            File::options()
                .create_new(true)
                .read(true)
                .write(true)
                .open(&path)
                .and_then(|f| {
                    f.set_len(offset + key.len)?;
                    crate::sparse::copy_span(at.file, at.offset, &f, offset, key.len)
                })
                .map_err(|e| {
                    DiskError::io("keeping the root file system for the other nodes", e)
                })?;
            Some((path, offset))
        }
        None => None,
    };
    Ok(SharedRoot {
        offset: copy.as_ref().map_or(0, |c| c.1),
        copy: Mutex::new(copy.map(|c| c.0)),
        len: key.len,
        captured,
        _guard: guard,
        _dir: folder,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_goes_where_most_other_nodes_have_their_root() {
        assert_eq!(most_common_other(&[8, 8], 8), Some(8));
        assert_eq!(most_common_other(&[1, 4], 1), Some(4));
        assert_eq!(most_common_other(&[1, 4], 4), Some(1));
        assert_eq!(most_common_other(&[1, 4, 2, 2], 1), Some(2));
        assert_eq!(most_common_other(&[1, 4, 2], 1), Some(4));
        assert_eq!(most_common_other(&[8], 8), None, "no other node");
        assert_eq!(most_common_other(&[4, 4], 8), None, "not a user");
    }

    #[test]
    fn the_key_names_the_base_by_file_not_folder_and_changes_with_each_input() {
        let k = |base: &'static str, len: u64, boot: BootKind| Key {
            base: Path::new(base),
            len,
            label: "root",
            boot,
            epoch: 1,
        };
        let a = k("/home/a/.cache/haimg/debian/x.tar", 64, BootKind::Rpi).text();
        assert_eq!(
            a,
            k("/root/.cache/haimg/debian/x.tar", 64, BootKind::Rpi).text()
        );
        for other in [
            k("/home/a/.cache/haimg/debian/y.tar", 64, BootKind::Rpi),
            k("/home/a/.cache/haimg/debian/x.tar", 128, BootKind::Rpi),
            k("/home/a/.cache/haimg/debian/x.tar", 64, BootKind::Uefi),
        ] {
            assert_ne!(a, other.text());
            assert_ne!(ids(&a), ids(&other.text()));
        }
    }
}
