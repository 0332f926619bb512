//! `haimg build`: the whole pipeline for one node, from its plan to
//! `NODE.img` + `NODE.img.sha256`. The image is made under a temporary name in
//! the output folder and renamed only when complete.

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::config::{BootKind, TableKind};
use crate::disk::{self, DiskError, bootfiles, fat, layout::Layout, tarstream};
use crate::emit::{self, Progress};
use crate::plan::{ClusterPlan, NodePlan};
use crate::render::{self, Entry, ROOT_PARTUUID_PLACEHOLDER, SecretValues};
use crate::source;

/// Timestamps inside the image when SOURCE_DATE_EPOCH is not set
/// (2024-01-01T00:00:00Z).
pub const DEFAULT_EPOCH: i64 = 1_704_067_200;

pub struct Options {
    pub out_dir: PathBuf,
    pub cache: PathBuf,
    /// Folder with `k3s`, `tailscale`, `tailscaled` (and `images/*`) to carry
    /// on the boot partition for first boot.
    pub payload: Option<PathBuf>,
    pub quiet: bool,
    /// Never open a network connection.
    pub offline: bool,
    /// Accept artifacts without any checksum.
    pub insecure: bool,
}

pub struct Built {
    pub image: PathBuf,
    pub sha256: String,
}

pub fn epoch() -> i64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_EPOCH)
}

/// Root-filesystem paths that would give every node flashed from this image
/// the same identity; each node makes its own on first boot.
const IDENTITY: &[&str] = &[
    "var/lib/dbus/machine-id",
    "var/lib/systemd/random-seed",
    "var/lib/systemd/credential.secret",
    "etc/rancher/node/password",
    "var/lib/tailscale/",
    "etc/ssh/ssh_host_rsa_key",
    "etc/ssh/ssh_host_rsa_key.pub",
    "etc/ssh/ssh_host_ecdsa_key",
    "etc/ssh/ssh_host_ecdsa_key.pub",
    "etc/ssh/ssh_host_ed25519_key",
    "etc/ssh/ssh_host_ed25519_key.pub",
];

fn fill_partuuid(files: &mut render::Files, partuuid: &str) {
    for e in files.values_mut() {
        if let Entry::File { data, .. } = e
            && let Ok(text) = std::str::from_utf8(data)
            && text.contains(ROOT_PARTUUID_PLACEHOLDER)
        {
            *data = text
                .replace(ROOT_PARTUUID_PLACEHOLDER, partuuid)
                .into_bytes();
        }
    }
}

/// `/etc/fstab`: root and boot partition by PARTUUID. The boot partition holds
/// secrets until first boot ends: mounted 0700 (FAT has no owners).
fn fstab(node: &NodePlan, layout: &Layout) -> String {
    format!(
        "# Written by haimg. The data disk line is added on first boot.\nPARTUUID={} / ext4 defaults,noatime 0 1\nPARTUUID={} {} vfat defaults,umask=0077,nofail 0 2\n",
        layout.root_partuuid(),
        layout.boot_partuuid(),
        render::boot_mount(node)
    )
}

/// The payload files from a folder: `k3s`, `tailscale`, `tailscaled`, `images/*`.
fn payload_from_dir(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for name in ["k3s", "tailscale", "tailscaled"] {
        if dir.join(name).is_file() {
            out.insert(name.to_string(), dir.join(name));
        }
    }
    if let Ok(rd) = std::fs::read_dir(dir.join("images")) {
        for e in rd.flatten().filter(|e| e.path().is_file()) {
            out.insert(
                format!("images/{}", e.file_name().to_string_lossy()),
                e.path(),
            );
        }
    }
    anyhow::ensure!(
        !out.is_empty(),
        "payload folder {} holds none of k3s, tailscale, tailscaled",
        dir.display()
    );
    Ok(out)
}

/// Put the payload on the boot partition, with a manifest (sha256, size,
/// name) on the root filesystem that the node checks before installing.
fn add_payload(
    files: &BTreeMap<String, PathBuf>,
    boot: &mut BTreeMap<String, fat::Source>,
    root: &mut render::Files,
) -> Result<()> {
    let mut manifest = String::from(
        "# sha256 size name; checked by /usr/lib/haimg/payload.sh before installing\n",
    );
    for (name, p) in files {
        let mut f = std::fs::File::open(p).with_context(|| format!("reading {}", p.display()))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 16];
        let mut size = 0u64;
        loop {
            let n = f
                .read(&mut buf)
                .with_context(|| format!("reading {}", p.display()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
            size += n as u64;
        }
        manifest.push_str(&format!("{} {size} {name}\n", hex::encode(h.finalize())));
        boot.insert(
            format!("haimg/payload/{name}"),
            fat::Source::File(p.clone()),
        );
    }
    root.insert(
        "etc/haimg/payload.sha256".into(),
        render::file(0o644, manifest),
    );
    Ok(())
}

pub fn build(
    cluster: &ClusterPlan,
    node: &NodePlan,
    secrets: &SecretValues<'_>,
    opts: &Options,
) -> Result<Built> {
    disk::ext4::check_version()?;
    let epoch = epoch();
    let layout = Layout::for_node(node);
    if layout.table == TableKind::Mbr && !disk::mbr::fits(&layout) {
        return Err(DiskError::TooLargeForMbr(PathBuf::from(&node.hostname)).into());
    }

    let fetcher =
        source::fetch::Fetcher::new(opts.cache.clone(), opts.offline, opts.insecure, opts.quiet);
    let base = source::base_tarball(node, &fetcher)?;
    let payload_files = match &opts.payload {
        Some(dir) => payload_from_dir(dir)?,
        None => source::payload(cluster, node, &fetcher)?,
    };

    let mut rendered = render::render(cluster, node, secrets);
    let partuuid = layout.root_partuuid();
    fill_partuuid(&mut rendered.boot, &partuuid);
    fill_partuuid(&mut rendered.root, &partuuid);
    rendered.root.insert(
        "etc/fstab".into(),
        render::file(0o644, fstab(node, &layout)),
    );
    // "uninitialized": systemd makes a machine-id on first boot and treats
    // that boot as the first (ConditionFirstBoot).
    rendered.root.insert(
        "etc/machine-id".into(),
        render::file(0o444, "uninitialized\n"),
    );
    let mut extra_boot: BTreeMap<String, fat::Source> = BTreeMap::new();
    if payload_files.is_empty() {
        if !opts.quiet {
            eprintln!(
                "haimg: warning: no payload (set [k3s] version and [tailscale] version, or pass --payload): first boot will stop at the payload step"
            );
        }
    } else {
        add_payload(&payload_files, &mut extra_boot, &mut rendered.root)?;
    }

    std::fs::create_dir_all(&opts.out_dir)
        .with_context(|| format!("creating {}", opts.out_dir.display()))?;
    let final_img = opts.out_dir.join(format!("{}.img", node.hostname));
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{}.img.", node.hostname))
        .tempfile_in(&opts.out_dir)
        .with_context(|| format!("creating a temporary image in {}", opts.out_dir.display()))?;
    // The image holds secrets: owner-only from the first byte.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))?;
    tmp.as_file()
        .set_len(layout.size)
        .context("sizing the image")?;

    // Partition table.
    match layout.table {
        TableKind::Mbr => {
            std::os::unix::fs::FileExt::write_all_at(
                tmp.as_file(),
                &disk::mbr::sector0(&layout),
                0,
            )
            .context("writing the MBR")?;
        }
        TableKind::Gpt => {
            let mut f = tmp.reopen().context("reopening the image")?;
            disk::gpt::write(&mut f, &layout, node.profile.arch)?;
        }
    }

    // ext4 root from one tar stream.
    let capture_dir = tempfile::Builder::new()
        .prefix(".haimg-boot-")
        .tempdir_in(&opts.out_dir)?;
    let boot_kind = node.profile.boot;
    let capture = move |p: &str| bootfiles::wanted(boot_kind, p);
    let mut drop: Vec<&str> = IDENTITY.to_vec();
    drop.push(match boot_kind {
        BootKind::Rpi => "boot/firmware/",
        BootKind::Uefi => "boot/efi/",
    });
    let rules = tarstream::Rules {
        replace: &rendered.root,
        drop: &drop,
        capture: &capture,
        capture_dir: capture_dir.path(),
        epoch,
    };
    let base_len = std::fs::metadata(&base).map(|m| m.len()).unwrap_or(0);
    let bar = Progress::bytes(opts.quiet, base_len, "root filesystem");
    let reader = bar.wrap_read(
        std::fs::File::open(&base).with_context(|| format!("opening {}", base.display()))?,
    );
    let decompressed =
        source::open_reader(reader).with_context(|| format!("reading {}", base.display()))?;
    let mut mk = disk::ext4::spawn(tmp.path(), &layout, &node.profile.root_label, epoch)?;
    let stdin = mk.child.stdin.take().context("mke2fs has no stdin")?;
    let merged = tarstream::merge(decompressed, stdin, &rules);
    let root_len = layout.root.1;
    let stats = match merged {
        Ok(s) => {
            mk.finish(root_len, s.data_bytes)?;
            s
        }
        Err(DiskError::Stream(e)) => {
            // mke2fs stopping early (a full filesystem) breaks our pipe: its
            // own error says more than the broken pipe.
            let needed = measure(&base).unwrap_or(0);
            mk.finish(root_len, needed)?;
            return Err(DiskError::Stream(e).into());
        }
        Err(e) => {
            // Our own finding about the tarball is the one to report; mke2fs
            // only saw a stream that stopped.
            let _ = mk.finish(root_len, 0);
            return Err(e.into());
        }
    };
    bar.finish();

    // FAT boot partition.
    let cmdline = render::kernel_cmdline(node).replace(ROOT_PARTUUID_PLACEHOLDER, &partuuid);
    let mut boot = bootfiles::assemble(node, &stats.captured, &cmdline)?;
    boot.extend(extra_boot);
    for (path, entry) in &rendered.boot {
        if let Entry::File { data, .. } = entry {
            boot.insert(path.clone(), fat::Source::Bytes(data.clone()));
        }
    }
    let boot_files: Vec<(String, fat::Source)> = boot.into_iter().collect();
    let total: u64 = boot_files
        .iter()
        .map(|(_, s)| match s {
            fat::Source::Bytes(b) => b.len() as u64,
            fat::Source::File(p) => std::fs::metadata(p).map(|m| m.len()).unwrap_or(0),
        })
        .sum();
    let bar = Progress::bytes(opts.quiet, total, "boot partition");
    let volume = fat::Volume {
        start: layout.boot.0,
        len: layout.boot.1,
        label: &node.profile.boot_label,
        volume_id: layout.ids.fat_volume_id,
        epoch,
    };
    fat::build(tmp.as_file(), &volume, &boot_files, &|n| bar.set(n))?;
    bar.finish();
    // Captured boot files are in the image now.
    let _ = capture_dir.close();

    tmp.as_file().sync_all().context("syncing the image")?;
    let sha =
        emit::sha256_sparse(tmp.as_file(), layout.size, opts.quiet).context("hashing the image")?;
    emit::write_sidecar(
        &opts.out_dir.join(format!("{}.img.sha256", node.hostname)),
        &format!("{sha}  {}.img\n", node.hostname),
    )?;
    tmp.persist(&final_img)
        .with_context(|| format!("renaming the image to {}", final_img.display()))?;
    Ok(Built {
        image: final_img,
        sha256: sha,
    })
}

/// Bytes of file data in a tarball: for the "does not fit" message.
fn measure(base: &Path) -> Result<u64> {
    let r = source::open_decompressed(base)?;
    let mut a = tar::Archive::new(r);
    let mut total = 0u64;
    for e in a.entries()? {
        total += e?.header().size().unwrap_or(0);
    }
    Ok(total)
}
