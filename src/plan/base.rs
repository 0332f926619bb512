//! A node's `[base]`: which kind, where it comes from, and what haimg adds
//! to a `debian` base's bootstrap.

use super::check;
use super::node::{checked, required};
use super::{BasePlan, Initramfs, ProfilePlan};
use crate::config::{BaseKind, InitramfsModules, Loc, S};
use crate::diag::{Diags, FileId};

pub(super) fn resolve(
    node: &Loc<crate::config::NodeFile>,
    profile: Option<&(ProfilePlan, String, Vec<String>)>,
    diags: &mut Diags,
) -> Option<BasePlan> {
    let f = node.file;
    let base = required(
        diags,
        f,
        &node.value.base,
        "base",
        "[base] kind = \"debian\"",
    )?;
    let kind = *required(diags, f, &base.kind, "base.kind", "kind = \"debian\"")?;
    let list = |l: &[S<String>], what: &str, diags: &mut Diags| -> Vec<String> {
        l.iter()
            .filter(|s| checked(diags, f, s, what, |v| check::word(v, 128)))
            .map(|s| s.get_ref().clone())
            .collect()
    };
    let packages = list(&base.packages, "package name", diags);
    let components = list(&base.components, "archive component", diags);
    let initramfs = base
        .initramfs_modules
        .as_ref()
        .and_then(|m| initramfs(m, kind, f, diags));
    if let Some(s) = &base.suite {
        checked(diags, f, s, "suite", |v| check::word(v, 32));
    }
    if let Some(m) = &base.mirror {
        checked(diags, f, m, "mirror", |v| check::url(v, true));
    }
    if let Some(h) = &base.sha256 {
        checked(diags, f, h, "sha256", check::sha256_hex);
    }
    if let Some(c) = &base.checksums {
        checked(diags, f, c, "checksums URL", |v| {
            check::url(v, false).or_else(|_| check::node_path(v, false))
        });
    }
    match kind {
        BaseKind::Debian => {
            required(diags, f, &base.suite, "base.suite", "suite = \"bookworm\"");
            for (k, present) in [
                ("url", base.url.is_some()),
                ("sha256", base.sha256.is_some()),
                ("checksums", base.checksums.is_some()),
            ] {
                if present {
                    diags.error(
                        Some(f),
                        base_span(node),
                        format!("`{k}` does not apply to a debian base"),
                        "a debian base is built by mmdebstrap from suite, components and packages",
                    );
                }
            }
        }
        BaseKind::Rootfs | BaseKind::Image => {
            // A catalogue name stands for the URL (and its checksums).
            match &base.catalogue {
                None => {
                    required(
                        diags,
                        f,
                        &base.url,
                        "base.url",
                        "url = \"https://…/rootfs.tar.xz\" (or catalogue = … with version = …)",
                    );
                }
                Some(c) if base.version.is_none() => diags.error(
                    Some(f),
                    Some(c.span()),
                    "`catalogue` needs a `version`",
                    "e.g. version = \"2025-11-24\" (the publisher's release name or date)",
                ),
                Some(_) => {}
            }
            if base.suite.is_some() || !base.packages.is_empty() {
                diags.error(
                    Some(f),
                    base_span(node),
                    "`suite` and `packages` apply only to a debian base",
                    "",
                );
            }
        }
    }
    if let (Some(a), Some(p)) = (
        base.arch.as_ref().map(|a| (*a.get_ref(), a.span())),
        profile,
    ) && a.0 != p.0.arch
    {
        diags.error(
            Some(f),
            Some(a.1.clone()),
            format!(
                "base architecture {} does not fit profile {} ({})",
                a.0.debian(),
                p.0.name,
                p.0.arch.debian()
            ),
            "pick a profile for this architecture, or a base built for it",
        );
    }
    // Debian bookworm's kernel has no support for the Pi 5's BCM2712 and RP1
    // (no device tree, no Ethernet or USB): such a node would never boot.
    if let Some(p) = profile
        && kind == BaseKind::Debian
        && p.0.dtbs.iter().any(|d| d.starts_with("bcm2712"))
    {
        diags.error(
            Some(f),
            base_span(node),
            format!(
                "profile {} (Raspberry Pi 5) cannot boot a debian base: Debian's kernel lacks BCM2712/RP1 support",
                p.0.name
            ),
            "use an `image` base with Raspberry Pi OS Lite (catalogue = \"raspios-lite-arm64\"), or the rpi4 profile on a Pi 4",
        );
    }
    // A catalogue name becomes its URL and checksums file now, so every later
    // stage sees one kind of reference.
    let (mut url, mut checksums) = (
        base.url.as_ref().map(|s| s.get_ref().clone()),
        base.checksums.as_ref().map(|s| s.get_ref().clone()),
    );
    if let (Some(c), Some(v), Some(p)) = (&base.catalogue, &base.version, profile) {
        match crate::config::catalogue::resolve(c.get_ref(), v.get_ref(), p.0.arch) {
            Ok(a) => {
                url = Some(a.url);
                if a.checksums.is_some() {
                    checksums = a.checksums;
                }
            }
            Err(e) => diags.error(Some(f), Some(c.span()), e, ""),
        }
    }
    Some(BasePlan {
        kind,
        suite: base.suite.as_ref().map(|s| s.get_ref().clone()),
        mirror: base.mirror.as_ref().map(|s| s.get_ref().clone()),
        components,
        packages,
        initramfs,
        url,
        sha256: base.sha256.as_ref().map(|s| s.get_ref().to_lowercase()),
        checksums,
        cloud_init: base
            .cloud_init
            .as_ref()
            .map_or(kind == BaseKind::Image, |c| *c.get_ref()),
    })
}

fn initramfs(
    m: &S<InitramfsModules>,
    kind: BaseKind,
    f: FileId,
    diags: &mut Diags,
) -> Option<Initramfs> {
    let bad = |diags: &mut Diags, msg: String| {
        diags.error(
            Some(f),
            Some(m.span()),
            msg,
            "initramfs_modules = \"most\", \"dep\" or a list such as [\"virtio_blk\", \"ext4\"]",
        );
        None
    };
    if kind != BaseKind::Debian {
        return bad(
            diags,
            "`initramfs_modules` applies only to a debian base (haimg makes its initramfs)".into(),
        );
    }
    match m.get_ref() {
        InitramfsModules::Policy(p) if p == "most" => Some(Initramfs::Most),
        InitramfsModules::Policy(p) if p == "dep" => Some(Initramfs::Dep),
        InitramfsModules::Policy(p) => bad(diags, format!("unknown initramfs_modules {p:?}")),
        InitramfsModules::List(l) if l.is_empty() => bad(
            diags,
            "an empty module list makes an initramfs that cannot find the root disk".into(),
        ),
        InitramfsModules::List(l) => match l.iter().find(|x| check::word(x, 64).is_err()) {
            Some(x) => bad(
                diags,
                format!("module name {x:?} must be 1-64 of A-Z a-z 0-9 . _ - +"),
            ),
            None => Some(Initramfs::List(l.clone())),
        },
    }
}

fn base_span(node: &Loc<crate::config::NodeFile>) -> Option<std::ops::Range<usize>> {
    node.value.base.as_ref().map(|b| b.span())
}
