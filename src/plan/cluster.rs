//! Cluster-level resolution and checks: roles, peers, quorum, the witness,
//! unique names, and the risks worth telling the user about.

use std::collections::{BTreeMap, BTreeSet};

use super::node::{checked, required, resolve};
use super::{
    ClusterPlan, K3sPlan, NodePlan, Role, TailscalePlan, WAN_ELECTION_MS, WAN_HEARTBEAT_MS,
    WITNESS_TAINT, check,
};
use crate::config::{DataMode, Loaded};
use crate::diag::Diags;

/// The bootstrap server's wait for a peer before it founds the cluster: long
/// enough for servers rebooting after a power cut to answer again (a Pi boots
/// and starts K3s in one to three minutes), short enough for a new cluster.
const DEFAULT_FOUND_WAIT_S: u32 = 300;

pub(super) fn build(loaded: &Loaded, diags: &mut Diags) -> Option<ClusterPlan> {
    let cf = loaded.cluster.file;
    let c = &loaded.cluster.value;
    let name = required(diags, cf, &c.name, "name", "name = \"homelab\"").cloned();
    if let Some(n) = &c.name {
        checked(diags, cf, n, "cluster name", check::dns_label);
    }
    let tailnet = required(
        diags,
        cf,
        &c.tailnet,
        "tailnet",
        "tailnet = \"example-tailnet.ts.net\"",
    )
    .cloned();
    if let Some(t) = &c.tailnet {
        checked(diags, cf, t, "tailnet", check::dns_name);
    }
    let tailnet_s = tailnet.clone().unwrap_or_default();

    let mut nodes: Vec<Option<NodePlan>> = (0..loaded.nodes.len())
        .map(|i| resolve(loaded, i, &tailnet_s, diags))
        .collect();

    // Unique hostnames, reported at the second file that uses one.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, node) in loaded.nodes.iter().enumerate() {
        let Some(h) = &node.value.hostname else {
            continue;
        };
        if let Some(&first) = seen.get(h.get_ref()) {
            diags.error(
                Some(node.file),
                Some(h.span()),
                format!("hostname {} is already used by {}", h.get_ref(), loaded.nodes[first].path.display()),
                "every node needs its own hostname: it is its Kubernetes node name and its tailnet name",
            );
        } else {
            seen.insert(h.get_ref().clone(), i);
        }
    }

    // Servers: each names a node; exactly one bootstrap; at most one witness.
    let mut server_order: Vec<String> = Vec::new();
    let mut bootstrap: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    let mut witness: Vec<(String, std::ops::Range<usize>)> = Vec::new();
    for s in &c.servers {
        let e = s.get_ref();
        let Some(n) = required(diags, cf, &e.name, "server.name", "name = \"raspi1\"") else {
            continue;
        };
        let span = e.name.as_ref().map(|n| n.span());
        if !seen.contains_key(n) {
            diags.error(
                Some(cf),
                span.clone(),
                format!("server {n} is not the hostname of any node of this cluster"),
                format!(
                    "node hostnames: {}",
                    seen.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            );
            continue;
        }
        if server_order.contains(n) {
            diags.error(
                Some(cf),
                span.clone(),
                format!("server {n} is listed twice"),
                "",
            );
            continue;
        }
        server_order.push(n.clone());
        if let Some(b) = &e.bootstrap
            && *b.get_ref()
        {
            bootstrap.push((n.clone(), b.span()));
        }
        if let Some(w) = &e.witness
            && *w.get_ref()
        {
            witness.push((n.clone(), w.span()));
        }
    }
    match bootstrap.len() {
        0 => diags.error(
            Some(cf),
            c.servers.first().map(|s| s.span()).or(Some(0..0)),
            "no server is marked bootstrap",
            "mark exactly one server `bootstrap = true`: it creates the cluster on the very first boot",
        ),
        1 => {}
        _ => {
            for (n, span) in &bootstrap[1..] {
                diags.error(
                    Some(cf),
                    Some(span.clone()),
                    format!("{n} is a second bootstrap server (the first is {})", bootstrap[0].0),
                    "exactly one server creates the cluster; two would make two clusters",
                );
            }
        }
    }
    for (n, span) in witness.iter().skip(1) {
        diags.error(
            Some(cf),
            Some(span.clone()),
            format!("{n} is a second witness"),
            "a cluster has at most one witness",
        );
    }
    if server_order.is_empty() && !c.servers.is_empty() {
        // Already reported per entry.
    } else if c.servers.is_empty() {
        diags.error(
            Some(cf),
            Some(0..0),
            "no [[server]] entries: the cluster has no control plane",
            "add [[server]] tables naming the etcd members",
        );
    }

    // Peers: the bootstrap server first, then the others in file order.
    let mut ordered = server_order.clone();
    if let Some((b, _)) = bootstrap.first() {
        ordered.retain(|s| s != b);
        ordered.insert(0, b.clone());
    }
    let k3s = k3s_plan(loaded, diags);

    for (i, slot) in nodes.iter_mut().enumerate() {
        let Some(n) = slot.as_mut() else { continue };
        let is_server = server_order.contains(&n.hostname);
        n.role = if bootstrap.first().is_some_and(|(b, _)| *b == n.hostname) {
            Role::Bootstrap
        } else if is_server {
            Role::Server
        } else {
            Role::Agent
        };
        n.etcd_voter = is_server;
        n.witness = witness.first().is_some_and(|(w, _)| *w == n.hostname);
        n.peers = ordered
            .iter()
            .filter(|s| **s != n.hostname)
            .map(|s| s.to_string())
            .collect();
        if check::dns_name(&n.fqdn).is_err() && tailnet.is_some() {
            diags.error(
                Some(loaded.nodes[i].file),
                loaded.nodes[i].value.hostname.as_ref().map(|h| h.span()),
                format!("{} is not a valid DNS name", n.fqdn),
                "hostname + tailnet must stay within 253 characters",
            );
        }
        let nf = &loaded.nodes[i];
        match (&nf.value.k3s.taints, n.witness) {
            (None, true) => n.taints.push(WITNESS_TAINT.into()),
            (Some(t), true) if !n.taints.iter().any(|x| x == WITNESS_TAINT) => diags.error(
                Some(nf.file),
                Some(t.span()),
                "the witness must carry the taint node-role.kubernetes.io/witness=true:NoSchedule",
                "add it to taints (or remove `taints` to get it by default): without it workloads land on the cloud VM",
            ),
            _ => {}
        }
        if n.witness && n.storage.data != DataMode::None && nf.value.storage.data.is_none() {
            // The witness runs no workloads: no data disk unless asked for.
            n.storage.data = DataMode::None;
        }
        // One K3s version across the control plane (facts §3: servers must
        // agree); agents may differ.
        match (&nf.value.k3s.version, is_server) {
            (Some(v), true) if Some(v.get_ref()) != k3s.version.as_ref() => diags.error(
                Some(nf.file),
                Some(v.span()),
                format!(
                    "server {} would run K3s {} but the cluster runs {}",
                    n.hostname,
                    v.get_ref(),
                    k3s.version.as_deref().unwrap_or("no pinned version")
                ),
                "all servers run the cluster's [k3s] version; only agents may differ",
            ),
            (None, _) => n.k3s_version = k3s.version.clone(),
            _ => {}
        }
        n.data_dir = match n.storage.data {
            DataMode::None => None,
            _ if k3s.data_dir.starts_with('/') => Some(k3s.data_dir.clone()),
            _ => Some(format!("{}/{}", n.storage.mount, k3s.data_dir)),
        };
    }

    let tailscale = tailscale_plan(loaded, diags);
    let (token_file, authkey_file) = super::secret_files(loaded);
    let nodes: Vec<NodePlan> = nodes.into_iter().flatten().collect();
    if nodes.len() != loaded.nodes.len() {
        return None;
    }
    let mut plan = ClusterPlan {
        name: name?,
        tailnet: tailnet?,
        k3s,
        tailscale,
        nodes,
        stack: None,
        token_file,
        authkey_file,
    };
    // Untagged nodes log in as their user and their keys expire (180 days by
    // default); etcd members then lose each other one by one. Tagged nodes'
    // keys do not expire (tailscale.com/kb/1068/tags).
    if plan.tailscale.tags.is_empty()
        && !plan.tailscale.key_expiry_ok
        && plan.nodes.iter().any(|n| n.etcd_voter)
    {
        diags.error(
            Some(cf),
            c.servers.first().map(|s| s.span()),
            "the servers would join the tailnet untagged: their node keys expire (180 days by default) and the etcd members then lose each other",
            "set [tailscale] tags = [\"tag:k3s\"] (`haimg plan --acl` prints the policy the tag needs), or key_expiry_ok = true if key expiry is disabled for these machines",
        );
    }
    // etcd across sites: render WAN timings unless the user chose their own.
    if servers_span_sites(&plan) {
        plan.k3s
            .heartbeat_interval_ms
            .get_or_insert(WAN_HEARTBEAT_MS);
        plan.k3s.election_timeout_ms.get_or_insert(WAN_ELECTION_MS);
    }
    plan.stack = super::stack::plan(&c.stack, cf, &plan, diags);
    Some(plan)
}

/// The sites the etcd voters stand at.
pub(super) fn server_sites(plan: &ClusterPlan) -> BTreeSet<&str> {
    plan.nodes
        .iter()
        .filter(|n| n.etcd_voter)
        .map(|n| n.site.as_str())
        .collect()
}

pub(super) fn servers_span_sites(plan: &ClusterPlan) -> bool {
    server_sites(plan).len() > 1
}

fn k3s_plan(loaded: &Loaded, diags: &mut Diags) -> K3sPlan {
    let cf = loaded.cluster.file;
    let k = &loaded.cluster.value.k3s;
    let opt = |diags: &mut Diags,
               v: &Option<crate::config::S<String>>,
               what: &str,
               f: fn(&str) -> Result<(), String>| {
        v.as_ref()
            .and_then(|s| checked(diags, cf, s, what, f).then(|| s.get_ref().clone()))
    };
    let version = opt(diags, &k.version, "K3s version", check::k3s_version);
    let flannel_iface = opt(diags, &k.flannel_iface, "flannel interface", |v| {
        check::word(v, 15)
    })
    .unwrap_or_else(|| "tailscale0".into());
    let data_dir = opt(diags, &k.data_dir, "data_dir", |v| {
        check::node_path(v, false)
    })
    .unwrap_or_else(|| "k3s".into());
    let write_kubeconfig_mode = opt(
        diags,
        &k.write_kubeconfig_mode,
        "write_kubeconfig_mode",
        check::file_mode,
    );
    let snapshot_schedule = opt(
        diags,
        &k.etcd.snapshot_schedule,
        "snapshot schedule",
        check::cron,
    );
    let list = |diags: &mut Diags,
                l: &[crate::config::S<String>],
                what: &str,
                f: fn(&str) -> Result<(), String>|
     -> Vec<String> {
        l.iter()
            .filter(|s| checked(diags, cf, s, what, f))
            .map(|s| s.get_ref().clone())
            .collect()
    };
    let disable = list(diags, &k.disable, "component to disable", |v| {
        check::word(v, 64)
    });
    let tls_san = list(diags, &k.tls_san, "tls_san entry", check::san);
    let num = |v: &Option<crate::config::S<u32>>| v.as_ref().map(|s| *s.get_ref());
    let (hb, el) = (
        num(&k.etcd.heartbeat_interval_ms),
        num(&k.etcd.election_timeout_ms),
    );
    if let (Some(h), Some(e)) = (hb, el)
        && e < 5 * h
    {
        diags.error(
            Some(cf),
            k.etcd.election_timeout_ms.as_ref().map(|s| s.span()),
            format!("election timeout {e} ms is less than 5× the heartbeat ({h} ms)"),
            "etcd needs the election timeout well above the heartbeat; 10× is usual",
        );
    }
    K3sPlan {
        airgap_images: k.airgap_images.as_ref().is_some_and(|b| *b.get_ref()),
        version,
        disable,
        flannel_iface,
        data_dir,
        tls_san,
        write_kubeconfig_mode,
        snapshot_schedule,
        snapshot_retention: num(&k.etcd.snapshot_retention),
        heartbeat_interval_ms: hb,
        election_timeout_ms: el,
        found_wait_s: num(&k.found_wait_s).unwrap_or(DEFAULT_FOUND_WAIT_S),
    }
}

fn tailscale_plan(loaded: &Loaded, diags: &mut Diags) -> TailscalePlan {
    let cf = loaded.cluster.file;
    let t = &loaded.cluster.value.tailscale;
    let tags: Vec<String> = t
        .tags
        .iter()
        .filter(|s| checked(diags, cf, s, "tailscale tag", check::tailscale_tag))
        .map(|s| s.get_ref().clone())
        .collect();
    let version = t.version.as_ref().and_then(|v| {
        checked(diags, cf, v, "tailscale version", |s| check::word(s, 32))
            .then(|| v.get_ref().clone())
    });
    let login_server = t.login_server.as_ref().and_then(|v| {
        checked(diags, cf, v, "login server", |s| check::url(s, false)).then(|| v.get_ref().clone())
    });
    let login_server_ca = t.login_server_ca.as_ref().and_then(|v| {
        let path = loaded.cluster.dir().join(v.get_ref());
        match check::pem_certificates(&path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                diags.error(
                    Some(cf),
                    Some(v.span()),
                    format!("login_server_ca {:?}: {e}", v.get_ref()),
                    "name a PEM file of the CA that signed the control server's certificate",
                );
                None
            }
        }
    });
    if login_server_ca.is_some() && login_server.is_none() {
        let v = t.login_server_ca.as_ref().map(|v| v.span());
        diags.error(
            Some(cf),
            v,
            "login_server_ca without login_server".to_string(),
            "Tailscale's own control server has a public certificate; set login_server to your control server's URL",
        );
    }
    // headscale rejects RequestTags on a pre-auth-key registration ("PreAuthKey
    // nodes get their tags from the key itself", hscontrol/state/state.go,
    // v0.29): every node's first `tailscale up` would be refused.
    if login_server.is_some() && t.advertise_tags.is_none() && !tags.is_empty() {
        diags.warning(
            Some(cf),
            t.login_server.as_ref().map(|v| v.span()),
            "with a login_server, `tailscale up` still passes --advertise-tags".to_string(),
            "headscale refuses --advertise-tags with a pre-auth key (its nodes take the key's tags): if your control server is headscale, set advertise_tags = false and create the key with --tags",
        );
    }
    TailscalePlan {
        advertise_tags: t.advertise_tags.as_ref().is_none_or(|b| *b.get_ref()),
        login_server_ca,
        version,
        tags,
        // On by default: with systemd-resolved on the node, tailscaled hands
        // it the tailnet's names (MagicDNS) for the admin's tools and for
        // workloads. haimg's own joining never depends on it.
        accept_dns: t.accept_dns.as_ref().is_none_or(|b| *b.get_ref()),
        ssh: t.ssh.as_ref().is_some_and(|b| *b.get_ref()),
        login_server,
        key_expiry_ok: t.key_expiry_ok.as_ref().is_some_and(|b| *b.get_ref()),
    }
}
