//! Roles, peers, quorum, packages and layout of small clusters, planned from
//! files written to a temporary folder.

use super::*;

/// `servers`: `(name, "bootstrap" | "witness" | "")`; `agents`: names.
fn plan(servers: &[(&str, &str)], agents: &[&str]) -> ClusterPlan {
    plan_with(servers, agents, "[tailscale]\ntags = [\"tag:k3s\"]\n").expect("plan")
}

fn plan_with(
    servers: &[(&str, &str)],
    agents: &[&str],
    extra: &str,
) -> Result<ClusterPlan, String> {
    let dir = tempfile::tempdir().expect("tmp");
    let all: Vec<&str> = servers
        .iter()
        .map(|s| s.0)
        .chain(agents.iter().copied())
        .collect();
    let mut cluster = format!(
        "name = \"lab\"\ntailnet = \"lab.ts.net\"\nnodes = [{}]\n",
        all.iter()
            .map(|n| format!("\"{n}.toml\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (name, kind) in servers {
        cluster.push_str(&format!("[[server]]\nname = \"{name}\"\n"));
        if !kind.is_empty() {
            cluster.push_str(&format!("{kind} = true\n"));
        }
    }
    cluster.push_str(extra);
    std::fs::write(dir.path().join("cluster.toml"), cluster).expect("write");
    for n in &all {
        let profile = if servers.iter().any(|s| s.0 == *n && s.1 == "witness") {
            "cloud-x86_64"
        } else {
            "rpi4"
        };
        std::fs::write(
            dir.path().join(format!("{n}.toml")),
            format!("cluster = \"cluster.toml\"\nhostname = \"{n}\"\nprofile = \"{profile}\"\n[base]\nkind = \"debian\"\nsuite = \"bookworm\"\npackages = [\"linux-image-arm64\", \"sudo\"]\n"),
        )
        .expect("write");
    }
    let loaded = crate::config::load(&dir.path().join("cluster.toml")).expect("load");
    build(loaded).map(|(p, _, _)| p).map_err(|e| e.to_string())
}

#[test]
fn roles_voters_and_quorum() {
    let p = plan(&[("a", "bootstrap"), ("b", ""), ("w", "witness")], &["c"]);
    let role = |h: &str| p.node(h).expect("node").role;
    assert_eq!(role("a"), Role::Bootstrap);
    assert_eq!(role("b"), Role::Server);
    assert_eq!(role("w"), Role::Server);
    assert_eq!(role("c"), Role::Agent);
    assert!(p.node("w").expect("w").witness);
    assert_eq!(p.node("w").expect("w").taints, [WITNESS_TAINT]);
    assert_eq!((p.voters(), p.quorum(), p.tolerance()), (3, 2, 1));
}

#[test]
fn peers_are_the_other_servers_bootstrap_first() {
    let p = plan(&[("b", ""), ("a", "bootstrap"), ("w", "witness")], &["c"]);
    let peers = |h: &str| p.node(h).expect("node").peers.clone();
    assert_eq!(peers("b"), ["a", "w"]);
    assert_eq!(peers("w"), ["a", "b"]);
    assert_eq!(peers("a"), ["b", "w"]);
    // An agent joins through any server, the bootstrap first.
    assert_eq!(peers("c")[0], "a");
}

#[test]
fn two_voters_tolerate_nothing_and_say_so() {
    let p = plan(&[("a", "bootstrap"), ("b", "")], &[]);
    assert_eq!((p.voters(), p.quorum(), p.tolerance()), (2, 2, 0));
    assert!(risks(&p).iter().any(|r| r.contains("2 etcd voters")));
}

#[test]
fn debian_bases_get_haimg_packages_once_and_sorted() {
    let p = plan(&[("a", "bootstrap"), ("w", "witness")], &[]);
    let pi = packages::debian_include(p.node("a").expect("a"));
    for want in [
        "systemd-timesyncd",
        "systemd-resolved",
        "sudo",
        "raspi-firmware",
        "linux-image-arm64",
    ] {
        assert_eq!(
            pi.iter().filter(|x| *x == want).count(),
            1,
            "{want}: {pi:?}"
        );
    }
    assert!(pi.windows(2).all(|w| w[0] < w[1]), "{pi:?}");
    let cloud = packages::debian_include(p.node("w").expect("w"));
    assert!(cloud.iter().any(|x| x == "cloud-init") && cloud.iter().any(|x| x == "systemd-boot"));
    assert!(!cloud.iter().any(|x| x == "raspi-firmware"));
}

#[test]
fn layout_follows_the_profile_and_ids_the_config() {
    let p = plan(&[("a", "bootstrap"), ("b", "")], &[]);
    let (a, b) = (
        &p.node("a").expect("a").layout,
        &p.node("b").expect("b").layout,
    );
    assert_eq!(a.boot, (8 * layout::MIB, 512 * layout::MIB));
    assert_eq!(a.root.0, 520 * layout::MIB);
    assert_eq!(a.size, a.root.0 + a.root.1);
    assert_ne!(a.ids.mbr_disk_id, b.ids.mbr_disk_id);
    assert!(a.root_partuuid().ends_with("-02"));
}

#[test]
fn untagged_servers_are_refused_unless_key_expiry_is_accepted() {
    let e = plan_with(&[("a", "bootstrap"), ("b", "")], &[], "").expect_err("untagged");
    assert!(e.contains("node keys expire"), "{e}");
    let p = plan_with(
        &[("a", "bootstrap"), ("b", "")],
        &[],
        "[tailscale]\nkey_expiry_ok = true\n",
    )
    .expect("accepted");
    assert!(acl::snippet(&p).is_none());
}

#[test]
fn acl_snippet_opens_the_k3s_ports_between_tagged_nodes() {
    let p = plan(&[("a", "bootstrap"), ("b", "")], &[]);
    let v = acl::snippet(&p).expect("tags");
    assert_eq!(v["tagOwners"]["tag:k3s"][0], "autogroup:admin");
    assert_eq!(v["acls"][0]["src"][0], "tag:k3s");
    assert_eq!(v["acls"][0]["proto"], "tcp");
    assert_eq!(v["acls"][0]["dst"][0], "tag:k3s:6443,2379-2380,10250");
    assert_eq!(v["acls"][1]["proto"], "udp");
    assert_eq!(v["acls"][1]["dst"][0], "tag:k3s:8472");
}
