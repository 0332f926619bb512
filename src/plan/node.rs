//! Resolve one node file with its profile. Cluster-wide facts (role, peers,
//! taints, data-dir) are filled in by `cluster.rs`.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::check;
use super::{DATA_LABEL, DEFAULT_MOUNT, NodePlan, Role, StoragePlan, UserPlan};
use crate::config::{DataMode, Loaded, Loc, S};
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
    let profile = profile.and_then(|p| super::profile::resolve(p, diags));
    let base = super::base::resolve(node, profile.as_ref(), diags);

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
