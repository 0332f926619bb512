//! `haimg inspect IMAGE`: what a disk image holds — partition table, file
//! systems, the haimg manifest, and which secrets still sit on its boot
//! partition (names only, never their contents). Works on any MBR or GPT
//! image; reads only.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::cmdline::InspectArgs;
use crate::disk::probe::{self, Table};
use crate::render::{MANIFEST_BOOT_PATH, MANIFEST_FORMAT};
use crate::source::{Compression, sniff};

#[derive(Serialize)]
struct Report {
    image: String,
    size: u64,
    table: Table,
    /// The haimg manifest from the boot partition; `None` for other images.
    manifest: Option<serde_json::Value>,
    /// Files under `haimg/secrets/` on the boot partition (names only).
    boot_secrets: Vec<String>,
}

pub fn run(a: &InspectArgs) -> Result<()> {
    let r = report(&a.image)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", text(&r));
    }
    Ok(())
}

fn report(path: &Path) -> Result<Report> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut head = [0u8; 8];
    let n = f.read(&mut head)?;
    let kind = sniff(&head[..n]);
    if kind != Compression::None {
        bail!(
            "{} is compressed ({kind:?}): inspect the uncompressed image (e.g. NODE.img beside it)",
            path.display()
        );
    }
    let size = crate::io::device_len(&f)?;
    let table = probe::read(&f).with_context(|| format!("reading {}", path.display()))?;
    let mut manifest = None;
    let mut boot_secrets = Vec::new();
    for p in table
        .partitions
        .iter()
        .filter(|p| p.fs.as_ref().is_some_and(|fs| fs.kind == "vfat"))
    {
        if let Some(bytes) = probe::fat_file(&f, p.start, p.size, MANIFEST_BOOT_PATH) {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("{MANIFEST_BOOT_PATH} on partition {}", p.number))?;
            if v.get("format").and_then(|f| f.as_str()) != Some(MANIFEST_FORMAT) {
                bail!(
                    "{MANIFEST_BOOT_PATH} on partition {} is not a {MANIFEST_FORMAT} manifest (a newer haimg wrote it?)",
                    p.number
                );
            }
            manifest = Some(v);
            boot_secrets = probe::fat_list(&f, p.start, p.size, "haimg/secrets")
                .into_iter()
                .map(|n| format!("haimg/secrets/{n}"))
                .collect();
            boot_secrets.sort();
            break;
        }
    }
    Ok(Report {
        image: path.display().to_string(),
        size,
        table,
        manifest,
        boot_secrets,
    })
}

fn mib(b: u64) -> String {
    if b.is_multiple_of(1 << 20) {
        format!("{} MiB", b >> 20)
    } else {
        format!("{:.1} MiB", b as f64 / f64::from(1u32 << 20))
    }
}

fn text(r: &Report) -> String {
    let t = &r.table;
    let mut s = format!(
        "{}: {}, partition table {} (id {})\n",
        r.image,
        mib(r.size),
        t.label,
        t.id
    );
    for p in &t.partitions {
        s.push_str(&format!(
            "  {}  start {}  size {}  type {}{}{}{}\n",
            p.number,
            mib(p.start),
            mib(p.size),
            p.kind,
            p.type_name.map(|n| format!(" ({n})")).unwrap_or_default(),
            p.name
                .as_ref()
                .filter(|n| !n.is_empty())
                .map(|n| format!("  name {n}"))
                .unwrap_or_default(),
            p.uuid
                .as_ref()
                .map(|u| format!("  partuuid {u}"))
                .unwrap_or_default(),
        ));
        match &p.fs {
            Some(fs) => s.push_str(&format!(
                "     {}  label {}  uuid {}{}\n",
                fs.kind,
                fs.label.as_deref().unwrap_or("-"),
                fs.uuid.as_deref().unwrap_or("-"),
                fs.size
                    .map(|b| format!("  size {}", mib(b)))
                    .unwrap_or_default()
            )),
            None => s.push_str("     no file system haimg knows\n"),
        }
    }
    match &r.manifest {
        Some(m) => {
            let g = |k: &str| {
                m.get(k)
                    .map(|v| v.to_string().trim_matches('"').to_string())
            };
            s.push_str("haimg manifest:\n");
            for k in [
                "node",
                "cluster",
                "tailnet",
                "role",
                "witness",
                "profile",
                "arch",
                "base",
                "config_hash",
                "haimg_version",
                "k3s_version",
                "tailscale_version",
            ] {
                s.push_str(&format!("  {k}: {}\n", g(k).unwrap_or_else(|| "-".into())));
            }
            for p in m
                .get("payload")
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten()
            {
                s.push_str(&format!(
                    "  payload {}: sha256 {} ({} bytes)\n",
                    p.get("name").and_then(|v| v.as_str()).unwrap_or("?"),
                    p.get("sha256").and_then(|v| v.as_str()).unwrap_or("?"),
                    p.get("size").and_then(|v| v.as_u64()).unwrap_or(0)
                ));
            }
            if r.boot_secrets.is_empty() {
                s.push_str("secrets on the boot partition: none (first boot has scrubbed them)\n");
            } else {
                s.push_str(&format!(
                    "secrets on the boot partition: {} (deleted by first boot; keep this image private until then)\n",
                    r.boot_secrets.join(", ")
                ));
            }
        }
        None => s.push_str("no haimg manifest: not an image haimg built\n"),
    }
    s
}
