//! A test cluster's control server: headscale (tests/common/tailnet.rs)
//! with the cluster's auth key and CA in place, and what it knows of nodes.

use std::path::Path;

use super::tailnet::Headscale;

/// A node's first IPv4 tailnet address, as headscale lists it.
pub fn ipv4(node: &serde_json::Value) -> String {
    node["ip_addresses"]
        .as_array()
        .and_then(|a| {
            a.iter()
                .filter_map(|v| v.as_str())
                .find(|a| a.contains('.'))
        })
        .unwrap_or_else(|| panic!("no IPv4 in {node}"))
        .to_string()
}

/// The control server of one test, ready for `haimg build`: headscale with a
/// reusable, pre-approved, tagged key (a day) in the cluster's auth-key file
/// (`secrets/tailscale-authkey`, as [`super::write_secrets`] made it) and its
/// CA beside the cluster file as `control-ca.pem` (`[tailscale] login_server_ca`).
pub struct Control {
    pub hs: Headscale,
    pub key: String,
}

impl Control {
    pub fn start(dir: &Path, domain: &str) -> Control {
        let hs = Headscale::start(&dir.join("control"), domain);
        let key = hs.key(true, false, true, "24h");
        set_authkey(dir, &key);
        std::fs::copy(hs.ca(), dir.join("control-ca.pem")).expect("copy CA");
        Control { hs, key }
    }
}

/// Put `key` in the cluster's auth-key file (0600, as haimg demands).
pub fn set_authkey(dir: &Path, key: &str) {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("secrets/tailscale-authkey");
    std::fs::write(&p, format!("{key}\n")).expect("write key");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

/// headscale knows `given` (its MagicDNS name: the node's hostname) at
/// `addr`, registered with the auth key and tagged `tag:k3s`.
pub fn assert_joined(control: &Control, given: &str, addr: &str) -> serde_json::Value {
    let node = control
        .hs
        .node(given)
        .unwrap_or_else(|| panic!("headscale has no node {given}: {:?}", control.hs.nodes()));
    assert_eq!(ipv4(&node), addr, "{node}");
    assert!(
        node["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "tag:k3s")),
        "not tagged: {node}"
    );
    // REGISTER_METHOD_AUTH_KEY (headscale's proto: 1), by our key.
    assert_eq!(node["register_method"], 1, "{node}");
    // Tagged nodes' keys never expire (headscale leaves their expiry unset),
    // which is why `plan` demands tags on servers.
    assert!(node.get("expiry").is_none_or(|e| e.is_null()), "{node}");
    assert!(node["pre_auth_key"]["id"].is_u64(), "{node}");
    node
}
