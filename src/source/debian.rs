//! `debian` bases: mmdebstrap makes a root filesystem tarball from Debian's
//! archive, cached under the haimg cache by the hash of its spec, so the
//! (slow, especially under emulation) bootstrap runs once per spec.

use crate::tool::Tool;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::SourceError;
use crate::config::Arch;
use crate::plan::{Initramfs, NodePlan, packages};

const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// The mmdebstrap command line, minus the output path: also the cache key.
fn spec(node: &NodePlan) -> Vec<String> {
    let b = &node.base;
    let suite = b.suite.clone().unwrap_or_else(|| "bookworm".into());
    let components = if b.components.is_empty() {
        vec!["main".to_string()]
    } else {
        b.components.clone()
    };
    let mut args = vec![
        "--variant=minbase".to_string(),
        format!("--architectures={}", node.profile.arch.debian()),
        format!("--components={}", components.join(",")),
        // Docs, man pages and locales cost time (most under emulation) and space.
        "--dpkgopt=path-exclude=/usr/share/man/*".into(),
        "--dpkgopt=path-exclude=/usr/share/doc/*".into(),
        "--dpkgopt=path-include=/usr/share/doc/*/copyright".into(),
        "--dpkgopt=path-exclude=/usr/share/locale/*".into(),
        // Debian's raspi-firmware and kernel hooks write into /boot/firmware.
        "--essential-hook=mkdir -p \"$1/boot/firmware\" \"$1/boot/efi\"".into(),
    ];
    // Before the kernel is installed, so that its first mkinitramfs already
    // uses the setting. modules.d is read by mkinitramfs whatever MODULES is
    // and is no package's conffile (initramfs-tools' own `modules` is).
    // Module names passed plan's check (A-Z a-z 0-9 . _ - +): nothing here
    // is special to the shell.
    match &b.initramfs {
        None => {}
        Some(Initramfs::Most) => args.push(initramfs_hook("most", &[])),
        Some(Initramfs::Dep) => args.push(initramfs_hook("dep", &[])),
        Some(Initramfs::List(l)) => args.push(initramfs_hook("list", l)),
    }
    args.push(format!(
        "--include={}",
        packages::debian_include(node).join(",")
    ));
    args.push(suite);
    args.push("-".into()); // placeholder for the output
    args.push(b.mirror.clone().unwrap_or_else(|| DEFAULT_MIRROR.into()));
    args
}

fn initramfs_hook(modules: &str, list: &[String]) -> String {
    let mut hook = format!(
        "mkdir -p \"$1/etc/initramfs-tools/conf.d\" \"$1/usr/share/initramfs-tools/modules.d\" && echo MODULES={modules} > \"$1/etc/initramfs-tools/conf.d/haimg\""
    );
    if !list.is_empty() {
        hook.push_str(&format!(
            " && printf '%s\\n' {} > \"$1/usr/share/initramfs-tools/modules.d/haimg\"",
            list.join(" ")
        ));
    }
    format!("--essential-hook={hook}")
}

fn key(node: &NodePlan, epoch: &str) -> String {
    let mut h = Sha256::new();
    for a in spec(node) {
        h.update(a.as_bytes());
        h.update([0]);
    }
    h.update(epoch.as_bytes());
    hex::encode(&h.finalize()[..16])
}

fn host_arch() -> Option<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Arch::Amd64),
        "aarch64" => Some(Arch::Arm64),
        _ => None,
    }
}

/// For a foreign architecture, mmdebstrap runs the target's binaries through
/// qemu-user via binfmt_misc.
fn check_binfmt(arch: Arch) -> Result<(), SourceError> {
    if host_arch() == Some(arch) {
        return Ok(());
    }
    let name = match arch {
        Arch::Arm64 => "qemu-aarch64",
        Arch::Amd64 => "qemu-x86_64",
    };
    if Path::new("/proc/sys/fs/binfmt_misc").join(name).exists() {
        return Ok(());
    }
    Err(SourceError::Tool(format!(
        "building a {} root filesystem on this machine needs qemu-user emulation, and binfmt_misc has no {name} entry: `apt-get install qemu-user-static binfmt-support` (and `mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc` if that folder is empty)",
        arch.debian()
    )))
}

pub fn tarball(
    node: &NodePlan,
    cache: &Path,
    quiet: bool,
    offline: bool,
) -> Result<PathBuf, SourceError> {
    let epoch = std::env::var("SOURCE_DATE_EPOCH").unwrap_or_default();
    let dir = cache.join("debian");
    let out = dir.join(format!(
        "{}-{}.tar",
        node.base.suite.as_deref().unwrap_or("debian"),
        key(node, &epoch)
    ));
    if out.is_file() {
        return Ok(out);
    }
    if offline {
        return Err(SourceError::Tool(format!(
            "the debian base of {} is not in the cache and --offline is set; run `haimg fetch` while online",
            node.hostname
        )));
    }
    check_binfmt(node.profile.arch)?;
    std::fs::create_dir_all(&dir).map_err(|e| SourceError::Open {
        path: dir.clone(),
        source: e,
    })?;
    // Written under a temporary name and renamed: no half-made cache entry.
    let tmp = tempfile::Builder::new()
        .prefix(".mmdebstrap-")
        .suffix(".tar")
        .tempfile_in(&dir)
        .map_err(|e| SourceError::Open {
            path: dir.clone(),
            source: e,
        })?;
    let _guard = crate::cleanup::Guard::new(tmp.path());
    let mut args = spec(node);
    let n = args.len();
    args[n - 2] = tmp.path().display().to_string();
    if !quiet {
        eprintln!(
            "haimg: running mmdebstrap for {} ({}), cached as {}",
            node.hostname,
            node.profile.arch.debian(),
            out.display()
        );
    }
    // Its progress is shown as it comes unless quiet; a failure carries the
    // tail of what it said.
    let mmdebstrap = Tool::new("mmdebstrap", "mmdebstrap").echo(!quiet);
    let mut cmd = mmdebstrap.command();
    cmd.args(if quiet { vec!["--quiet"] } else { vec![] })
        .args(&args);
    mmdebstrap
        .run(cmd)
        .map_err(|e| SourceError::Tool(e.to_string()))?;
    tmp.persist(&out).map_err(|e| SourceError::Open {
        path: out.clone(),
        source: e.error,
    })?;
    Ok(out)
}
