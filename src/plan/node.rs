//! Resolve one node file with its profile. Cluster-wide facts (role, peers,
//! taints, data-dir) are filled in by `cluster.rs`.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::check;
use super::{
    BasePlan, DATA_LABEL, DEFAULT_MOUNT, Initramfs, NodePlan, ProfilePlan, Role, StoragePlan,
    UserPlan,
};
use crate::config::{BaseKind, DataMode, InitramfsModules, Loaded, Loc, ProfileFile, S, TableKind};
use crate::diag::{Diags, FileId};

/// Check a spanned value with a validator; report at its span on failure.
pub(super) fn checked(
    diags: &mut Diags,
    file: FileId,
    v: &S<String>,
    what: &str,
    f: impl Fn(&str) -> Result<(), String>,
) -> bool {
    match f(v.get_ref()) {
        Ok(()) => true,
        Err(e) => {
            diags.error(
                Some(file),
                Some(v.span()),
                format!("invalid {what} {:?}: {e}", v.get_ref()),
                "",
            );
            false
        }
    }
}

/// A required key: report it missing at the start of the file.
pub(super) fn required<'a, T>(
    diags: &mut Diags,
    file: FileId,
    v: &'a Option<S<T>>,
    key: &str,
    example: &str,
) -> Option<&'a T> {
    if v.is_none() {
        diags.error(
            Some(file),
            Some(0..0),
            format!("missing required key `{key}`"),
            format!("add it, e.g. {example}"),
        );
    }
    v.as_ref().map(|s| s.get_ref())
}

pub(super) fn resolve(
    loaded: &Loaded,
    idx: usize,
    tailnet: &str,
    diags: &mut Diags,
) -> Option<NodePlan> {
    let node = &loaded.nodes[idx];
    let f = node.file;
    let n = &node.value;
    let hostname = required(diags, f, &n.hostname, "hostname", "hostname = \"raspi1\"");
    if let Some(h) = &n.hostname {
        checked(diags, f, h, "hostname", check::dns_label);
    }
    let _ = required(diags, f, &n.profile, "profile", "profile = \"rpi4\"");
    let profile = loaded.node_profiles[idx].map(|i| &loaded.profiles[i]);
    let profile = profile.and_then(|p| resolve_profile(p, diags));
    let base = resolve_base(node, profile.as_ref(), diags);

    let site = match &n.site {
        Some(s) => {
            checked(diags, f, s, "site", |v| check::word(v, 32));
            s.get_ref().clone()
        }
        None => profile
            .as_ref()
            .map_or_else(|| "home".into(), |p| p.1.clone()),
    };

    let storage = resolve_storage(node, diags);
    let users = resolve_users(node, diags);

    let mut modules: Vec<String> = ["overlay", "br_netfilter", "vxlan"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut cmdline: Vec<String> = profile.as_ref().map(|p| p.2.clone()).unwrap_or_default();
    for m in &n.kernel.modules {
        if checked(diags, f, m, "kernel module", check::kernel_module)
            && !modules.contains(m.get_ref())
        {
            modules.push(m.get_ref().clone());
        }
    }
    for a in &n.kernel.cmdline {
        if checked(diags, f, a, "kernel argument", check::cmdline_arg) {
            cmdline.push(a.get_ref().clone());
        }
    }

    // The three sysctls of seed 000, then the node's own (which may override).
    let mut sysctls: BTreeMap<String, String> = [
        ("net.bridge.bridge-nf-call-iptables", "1"),
        ("net.bridge.bridge-nf-call-ip6tables", "1"),
        ("net.ipv4.ip_forward", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in &n.sysctl {
        let value = match v.get_ref() {
            toml::Value::String(s) => Some(s.clone()),
            toml::Value::Integer(i) => Some(i.to_string()),
            toml::Value::Boolean(b) => Some(u8::from(*b).to_string()),
            _ => None,
        };
        let key_ok = check::sysctl_key(k);
        match (key_ok, value) {
            (Err(e), _) => diags.error(
                Some(f),
                Some(v.span()),
                format!("invalid sysctl name {k:?}: {e}"),
                "",
            ),
            (Ok(()), None) => diags.error(
                Some(f),
                Some(v.span()),
                format!("sysctl {k} must be a string, integer or boolean"),
                "",
            ),
            (Ok(()), Some(val)) => match check::sysctl_value(&val) {
                Ok(()) => {
                    sysctls.insert(k.clone(), val);
                }
                Err(e) => diags.error(
                    Some(f),
                    Some(v.span()),
                    format!("invalid value for sysctl {k}: {e}"),
                    "",
                ),
            },
        }
    }

    let mut labels = Vec::new();
    for l in &n.k3s.labels {
        if checked(diags, f, l, "node label", check::node_label) {
            labels.push(l.get_ref().clone());
        }
    }
    let mut taints = Vec::new();
    if let Some(ts) = &n.k3s.taints {
        for t in ts.get_ref() {
            if checked(diags, f, t, "taint", check::taint) {
                taints.push(t.get_ref().clone());
            }
        }
    }

    let (profile, _, _) = profile?;
    let hostname = hostname?.clone();
    let config_hash = config_hash(loaded, idx);
    let layout = super::layout::Layout::new(&profile, &config_hash);
    Some(NodePlan {
        fqdn: format!("{hostname}.{tailnet}"),
        hostname,
        role: Role::Agent,
        witness: false,
        etcd_voter: false,
        site,
        peers: Vec::new(),
        profile,
        base: base?,
        storage: storage?,
        data_dir: None,
        k3s_version: n
            .k3s
            .version
            .as_ref()
            .filter(|v| checked(diags, f, v, "K3s version", check::k3s_version))
            .map(|v| v.get_ref().clone()),
        users,
        modules,
        sysctls,
        cmdline,
        labels,
        taints,
        config_hash,
        layout,
        source_file: node.path.clone(),
    })
}

/// The plan of a profile, plus its default site and kernel command line.
fn resolve_profile(
    p: &Loc<ProfileFile>,
    diags: &mut Diags,
) -> Option<(ProfilePlan, String, Vec<String>)> {
    let f = p.file;
    let v = &p.value;
    let name = required(diags, f, &v.name, "name", "name = \"my-board\"");
    let arch = required(diags, f, &v.arch, "arch", "arch = \"arm64\"");
    let boot = required(diags, f, &v.boot, "boot", "boot = \"uefi\"");
    let disk = required(diags, f, &v.disk, "disk", "[disk] table = \"gpt\"");
    let disk = disk?;
    let table = required(diags, f, &disk.table, "disk.table", "table = \"gpt\"");
    let get = |o: &Option<S<u64>>, d: u64| o.as_ref().map_or(d, |s| *s.get_ref());
    let boot_offset_mib = get(&disk.boot_offset_mib, 1);
    let boot_size_mib = get(&disk.boot_size_mib, 512);
    let root_size_mib = get(&disk.root_size_mib, 8192);
    if let Some(s) = &disk.boot_size_mib
        && !(64..=4096).contains(s.get_ref())
    {
        diags.error(
            Some(f),
            Some(s.span()),
            "boot_size_mib must be 64 to 4096",
            "FAT32 needs at least 64 MiB with 512-byte clusters",
        );
    }
    if let Some(s) = &disk.root_size_mib
        && *s.get_ref() < 512
    {
        diags.error(
            Some(f),
            Some(s.span()),
            "root_size_mib must be at least 512",
            "",
        );
    }
    if let Some(s) = &disk.boot_offset_mib
        && *s.get_ref() < 1
    {
        diags.error(
            Some(f),
            Some(s.span()),
            "boot_offset_mib must be at least 1 (the partition table lives before it)",
            "",
        );
    }
    let mut label = |o: &Option<S<String>>, d: &str, max: usize| -> String {
        match o {
            Some(s) => {
                checked(diags, f, s, "label", |v| {
                    if v.len() > max
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        Err(format!("must be 1-{max} of A-Z a-z 0-9 - _"))
                    } else {
                        Ok(())
                    }
                });
                s.get_ref().clone()
            }
            None => d.to_string(),
        }
    };
    let boot_label = label(&disk.boot_label, "BOOT", 11);
    let root_label = label(&disk.root_label, "root", 16);
    let strings = |list: &[S<String>],
                   what: &str,
                   diags: &mut Diags,
                   f2: fn(&str) -> Result<(), String>|
     -> Vec<String> {
        list.iter()
            .filter(|s| checked(diags, f, s, what, f2))
            .map(|s| s.get_ref().clone())
            .collect()
    };
    let (firmware, dtbs, config_txt) = match &v.rpi {
        Some(r) => {
            let r = r.get_ref();
            (
                strings(&r.firmware, "firmware file", diags, |s| check::word(s, 64)),
                strings(&r.dtbs, "DTB name", diags, |s| check::word(s, 64)),
                strings(&r.config_txt, "config.txt line", diags, config_txt_line),
            )
        }
        None => Default::default(),
    };
    let cmdline = strings(
        &v.kernel.cmdline,
        "kernel argument",
        diags,
        check::cmdline_arg,
    );
    let boot = *boot?;
    if boot == crate::config::BootKind::Rpi && *table? != TableKind::Mbr {
        diags.error(
            Some(f),
            disk.table.as_ref().map(|t| t.span()),
            "Raspberry Pi profiles use an MBR partition table here",
            "set table = \"mbr\"",
        );
    }
    let plan = ProfilePlan {
        name: name?.clone(),
        description: v
            .description
            .as_ref()
            .map(|d| d.get_ref().clone())
            .unwrap_or_default(),
        arch: *arch?,
        boot,
        table: *table?,
        boot_offset_mib,
        boot_size_mib,
        root_size_mib,
        boot_label,
        root_label,
        media: v
            .media
            .as_ref()
            .map_or(crate::config::Media::Ssd, |m| *m.get_ref()),
        firmware,
        dtbs,
        config_txt,
        cloud_init: v.cloud_init.as_ref().is_some_and(|c| *c.get_ref()),
    };
    let site = v
        .site
        .as_ref()
        .map_or_else(|| "home".into(), |s| s.get_ref().clone());
    Some((plan, site, cmdline))
}

/// A `config.txt` line: `key=value`, `[section]`, or `initramfs FILE followkernel`
/// style; no quotes, no spaces around `=` (facts §1).
fn config_txt_line(s: &str) -> Result<(), String> {
    if s.chars().any(|c| c.is_control() || c == '"' || c == '\'')
        || s.contains(" =")
        || s.contains("= ")
    {
        return Err("one line, no quotes, no spaces around `=`".into());
    }
    Ok(())
}

fn resolve_base(
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
            required(
                diags,
                f,
                &base.url,
                "base.url",
                "url = \"https://…/rootfs.tar.xz\"",
            );
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
    // A catalogue name becomes its URL and checksums file now, so every later
    // stage sees one kind of reference.
    let (mut url, mut checksums) = (
        base.url.as_ref().map(|s| s.get_ref().clone()),
        base.checksums.as_ref().map(|s| s.get_ref().clone()),
    );
    if let (Some(c), Some(v), Some(p)) = (&base.catalogue, &base.version, profile) {
        match crate::source::catalogue::artifact(c.get_ref(), v.get_ref(), p.0.arch) {
            Ok(a) => {
                url = Some(a.url);
                if let crate::source::fetch::Check::Checksums { url: c, .. } = a.check {
                    checksums = Some(c);
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

fn resolve_storage(node: &Loc<crate::config::NodeFile>, diags: &mut Diags) -> Option<StoragePlan> {
    let f = node.file;
    let s = &node.value.storage;
    let data = s.data.as_ref().map_or(DataMode::Rest, |d| *d.get_ref());
    let mount = match &s.mount {
        Some(m) => {
            checked(diags, f, m, "mount point", |v| check::node_path(v, true));
            m.get_ref().clone()
        }
        None => DEFAULT_MOUNT.into(),
    };
    if matches!(mount.as_str(), "/" | "/boot" | "/usr" | "/etc" | "/var") {
        diags.error(
            Some(f),
            s.mount.as_ref().map(|m| m.span()),
            format!("mount point {mount} would hide the system"),
            "use a folder of its own such as /mnt/k3s-storage",
        );
    }
    let device = match (&data, &s.device) {
        (DataMode::Device, None) => {
            diags.error(
                Some(f),
                s.data.as_ref().map(|d| d.span()),
                "data = \"device\" needs `device`",
                "e.g. device = \"/dev/disk/by-id/usb-Samsung_SSD…\"",
            );
            None
        }
        (DataMode::Device, Some(d)) => {
            checked(diags, f, d, "device", |v| {
                check::node_path(v, true)?;
                if v.starts_with("/dev/") {
                    Ok(())
                } else {
                    Err("must be under /dev/".into())
                }
            });
            Some(d.get_ref().clone())
        }
        (_, Some(d)) => {
            diags.error(
                Some(f),
                Some(d.span()),
                "`device` applies only with data = \"device\"",
                "set data = \"device\" or remove `device`",
            );
            None
        }
        (_, None) => None,
    };
    Some(StoragePlan {
        data,
        device,
        mount,
        label: DATA_LABEL.into(),
    })
}

fn resolve_users(node: &Loc<crate::config::NodeFile>, diags: &mut Diags) -> Vec<UserPlan> {
    let f = node.file;
    let mut out: Vec<UserPlan> = Vec::new();
    for u in &node.value.users {
        let u = u.get_ref();
        let Some(name) = required(diags, f, &u.name, "user.name", "name = \"pi\"") else {
            continue;
        };
        let name_ok = u
            .name
            .as_ref()
            .is_some_and(|n| checked(diags, f, n, "user name", check::unix_name));
        if out.iter().any(|o| &o.name == name) {
            diags.error(
                Some(f),
                u.name.as_ref().map(|n| n.span()),
                format!("user {name} is listed twice"),
                "",
            );
        }
        let ssh_keys = u
            .ssh_keys
            .iter()
            .filter(|k| checked(diags, f, k, "SSH key", check::ssh_key))
            .map(|k| k.get_ref().clone())
            .collect();
        let groups = u
            .groups
            .iter()
            .filter(|g| checked(diags, f, g, "group", check::unix_name))
            .map(|g| g.get_ref().clone())
            .collect();
        if name_ok {
            out.push(UserPlan {
                name: name.clone(),
                groups,
                ssh_keys,
            });
        }
    }
    out
}

/// sha256 over the cluster, node and profile texts, length-prefixed so that no
/// two different sets of files hash alike.
fn config_hash(loaded: &Loaded, idx: usize) -> String {
    let mut h = Sha256::new();
    let mut add = |id: FileId| {
        let t = loaded.sources.text(id).as_bytes();
        h.update((t.len() as u64).to_le_bytes());
        h.update(t);
    };
    add(loaded.cluster.file);
    add(loaded.nodes[idx].file);
    if let Some(p) = loaded.node_profiles[idx] {
        add(loaded.profiles[p].file);
    }
    hex::encode(h.finalize())
}
