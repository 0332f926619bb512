//! The cloud-init NoCloud seed (`user-data`, `meta-data`, `network-config` at
//! the root of the boot partition, facts §5). It carries the same root files as
//! `write_files` and enables the first-boot target, for bases whose own boot
//! runs cloud-init. Secrets are never inlined: they stay separate files.

use base64::Engine as _;
use serde::Serialize;

use super::{Entry, Files, file, units::TARGET};
use crate::plan::NodePlan;

#[derive(Serialize)]
struct MetaData {
    #[serde(rename = "instance-id")]
    instance_id: String,
    #[serde(rename = "local-hostname")]
    local_hostname: String,
}

#[derive(Serialize)]
struct UserData {
    hostname: String,
    preserve_hostname: bool,
    ssh_pwauth: bool,
    /// Root is grown by haimg's first boot, never past the profile's end
    /// where the data partition starts: cloud-init's cc_growpart (`mode:
    /// off`) and cc_resizefs (`resize_rootfs: false`) must not grow it to
    /// the disk's end first (cloud-init docs, modules growpart/resizefs).
    #[serde(skip_serializing_if = "Option::is_none")]
    growpart: Option<GrowPart>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resize_rootfs: Option<bool>,
    users: Vec<CiUser>,
    write_files: Vec<WriteFile>,
    runcmd: Vec<Vec<String>>,
}

#[derive(Serialize)]
struct GrowPart {
    mode: &'static str,
}

#[derive(Serialize)]
struct CiUser {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    groups: Option<String>,
    shell: String,
    lock_passwd: bool,
    ssh_authorized_keys: Vec<String>,
}

#[derive(Serialize)]
struct WriteFile {
    path: String,
    permissions: String,
    owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<String>,
    content: String,
}

#[derive(Serialize)]
struct NetworkConfig {
    version: u8,
    ethernets: std::collections::BTreeMap<String, Ethernet>,
}

#[derive(Serialize)]
struct Ethernet {
    #[serde(rename = "match")]
    matching: Match,
    dhcp4: bool,
    dhcp6: bool,
}

#[derive(Serialize)]
struct Match {
    name: String,
}

fn yaml<T: Serialize>(header: &str, v: &T) -> Vec<u8> {
    let body = serde_saphyr::to_string(v).unwrap_or_default();
    format!("{header}{body}").into_bytes()
}

/// What a cloud VM's user-data adds to the seed's cloud-config.
#[derive(Default)]
pub(super) struct Extra {
    /// More files: path (absolute), mode, content.
    pub files: Vec<(String, u32, Vec<u8>)>,
    /// Commands run before the first-boot target starts.
    pub before_start: Vec<Vec<String>>,
    /// Leave root's growth to cloud-init (a cloud VM's own disk layout).
    pub vm: bool,
}

fn write_file(path: String, mode: u32, data: &[u8]) -> WriteFile {
    // Text goes as is; anything else as base64.
    let (encoding, content) = match std::str::from_utf8(data) {
        Ok(s) => (None, s.to_string()),
        Err(_) => (
            Some("b64".to_string()),
            base64::engine::general_purpose::STANDARD.encode(data),
        ),
    };
    WriteFile {
        path,
        permissions: format!("{mode:04o}"),
        owner: "root:root".into(),
        encoding,
        content,
    }
}

/// `#cloud-config` text: the root files as `write_files`, symlinks and the
/// first-boot target by `runcmd`, users with keys only.
pub(super) fn cloud_config(node: &NodePlan, root: &Files, extra: &Extra) -> Vec<u8> {
    let mut write_files = Vec::new();
    let mut symlinks = Vec::new();
    for (path, entry) in root {
        match entry {
            Entry::File { mode, data } => {
                write_files.push(write_file(format!("/{path}"), *mode, data))
            }
            Entry::Symlink { target } => symlinks.push((path.clone(), target.clone())),
            // Host files (the payload) travel on the boot partition or are
            // downloaded, never in user-data.
            Entry::Host { .. } => {}
        }
    }
    for (path, mode, data) in &extra.files {
        write_files.push(write_file(path.clone(), *mode, data));
    }
    let mut runcmd: Vec<Vec<String>> = symlinks
        .into_iter()
        .map(|(p, t)| vec!["ln".into(), "-sfn".into(), t, format!("/{p}")])
        .collect();
    runcmd.extend(extra.before_start.iter().cloned());
    runcmd.push(vec!["systemctl".into(), "daemon-reload".into()]);
    runcmd.push(vec!["systemctl".into(), "enable".into(), TARGET.into()]);
    // --no-block: cloud-init's final stage must not wait for the cluster.
    runcmd.push(vec![
        "systemctl".into(),
        "start".into(),
        "--no-block".into(),
        TARGET.into(),
    ]);
    let users = node
        .users
        .iter()
        .map(|u| CiUser {
            name: u.name.clone(),
            groups: (!u.groups.is_empty()).then(|| u.groups.join(",")),
            shell: "/bin/bash".into(),
            lock_passwd: true,
            ssh_authorized_keys: u.ssh_keys.clone(),
        })
        .collect();
    let user = UserData {
        hostname: node.hostname.clone(),
        preserve_hostname: false,
        ssh_pwauth: false,
        growpart: (!extra.vm).then_some(GrowPart { mode: "off" }),
        resize_rootfs: (!extra.vm).then_some(false),
        users,
        write_files,
        runcmd,
    };
    yaml("#cloud-config\n", &user)
}

pub fn seed(node: &NodePlan, root: &Files) -> Files {
    let mut out = Files::new();
    let meta = MetaData {
        // A new configuration is a new instance: cloud-init runs again.
        instance_id: format!("haimg-{}", &node.config_hash[..16]),
        local_hostname: node.hostname.clone(),
    };
    out.insert("meta-data".into(), file(0o644, yaml("", &meta)));

    let user = cloud_config(node, root, &Extra::default());
    out.insert("user-data".into(), file(0o644, user));

    let mut ethernets = std::collections::BTreeMap::new();
    ethernets.insert(
        "wired".to_string(),
        Ethernet {
            matching: Match { name: "e*".into() },
            dhcp4: true,
            dhcp6: true,
        },
    );
    let net = NetworkConfig {
        version: 2,
        ethernets,
    };
    out.insert("network-config".into(), file(0o644, yaml("", &net)));
    out
}
