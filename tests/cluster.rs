//! The cluster as a cluster: three x86_64 images (bootstrap, second server,
//! witness) boot together in QEMU on one LAN (tests/tools/hub.py, 127.0.0.1
//! only, with DHCP), log in to headscale with the real tailscaled (peers
//! meet directly over the LAN), and form one cluster through the k3s
//! stand-in, a miniature of what haimg relies on (tests/standins/). Then
//! the bootstrap server is re-flashed with its data disk kept (it comes back
//! as itself), a server is powered off (the other two still agree), and the
//! bootstrap is re-flashed onto a blank disk (it never founds a second
//! cluster; K3s refuses its name until `haimg forget`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::bases::{AMD64_BASE, EPOCH, ready};
use common::image::{debugfs, flash, partition};
use common::qemu::{Lan, Net, Vm, log_path, tail};
use common::*;

/// Generous: three guests share two host cores under TCG.
const LIMIT: Duration = Duration::from_secs(1500);

fn files(dir: &Path) {
    let cluster = r#"name = "trio"
tailnet = "trio-net.ts.net"
nodes = ["one.toml", "two.toml", "w.toml"]
[[server]]
name = "one"
bootstrap = true
[[server]]
name = "two"
[[server]]
name = "w"
witness = true
[k3s]
# The three boot together: long enough for the others to be seen, short
# enough for the test.
found_wait_s = 60
[tailscale]
tags = ["tag:k3s"]
login_server = "https://10.0.2.101"
login_server_ca = "control-ca.pem"
# headscale gives nodes their pre-auth key's tags, and refuses --advertise-tags.
advertise_tags = false
"#;
    let profile = std::fs::read_to_string(repo().join("profiles/x86_64-uefi.toml"))
        .expect("profile")
        .replace("root_size_mib = 8192", "root_size_mib = 2048")
        .replace("boot_size_mib = 512", "boot_size_mib = 256")
        .replace("data_offset_mib = 8705", "data_offset_mib = 2560");
    let node = |h: &str| {
        format!(
            "cluster = \"cluster.toml\"\nhostname = \"{h}\"\nprofile = \"p.toml\"\n{AMD64_BASE}[storage]\ndata = \"rest\"\n"
        )
    };
    write_files(
        dir,
        &[
            ("cluster.toml", cluster.to_string()),
            ("p.toml", profile),
            ("one.toml", node("one")),
            ("two.toml", node("two")),
            ("w.toml", node("w")),
        ],
    );
    write_secrets(dir);
}

fn build(dir: &Path, node: &str) -> PathBuf {
    let payload = common::tailnet::payload(dir, "amd64");
    let o = haimg()
        .args([
            "build",
            &format!("{node}.toml"),
            "--out",
            "out",
            "-q",
            "--payload",
        ])
        .arg(&payload)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(dir)
        .output()
        .expect("haimg");
    ok(&o, "haimg build");
    dir.join("out").join(format!("{node}.img"))
}

/// tests/tools/hub.py for `n` guests, and its port pairs.
struct Hub {
    child: Child,
    lans: Vec<Lan>,
}

impl Hub {
    fn start(dir: &Path, n: u8) -> Hub {
        let ports = dir.join("hub.ports");
        let child = Command::new("python3")
            .arg(repo().join("tests/tools/hub.py"))
            .arg(n.to_string())
            .arg(&ports)
            .spawn()
            .expect("hub.py");
        let t = Instant::now();
        while !ports.exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "hub did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&ports).expect("ports");
        let lans = text
            .lines()
            .zip(1u8..)
            .map(|(l, nn)| {
                let mut w = l.split(' ').map(|p| p.parse().expect("port"));
                Lan {
                    hub: w.next().expect("hub port"),
                    guest: w.next().expect("guest port"),
                    nn,
                }
            })
            .collect();
        Hub { child, lans }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The stand-in's last `view` line: (cluster id, "NAME=ADDR[:taint]" items).
fn last_view(console: &str) -> Option<(String, Vec<String>)> {
    let line = console
        .lines()
        .filter_map(|l| l.split("standin: k3s: view ").nth(1))
        .next_back()?;
    let mut w = line.split_whitespace().map(str::to_string);
    Some((w.next()?, w.collect()))
}

/// Wait until `vm`'s view lists every one of `names`; returns the view.
fn wait_view(vm: &Vm, names: &[&str], what: &str) -> (String, Vec<String>) {
    let t = Instant::now();
    loop {
        let c = vm.console();
        if let Some(v) = last_view(&c)
            && names
                .iter()
                .all(|n| v.1.iter().any(|i| i.starts_with(&format!("{n}="))))
        {
            eprintln!("cluster test: {what} in {:.0?}", t.elapsed());
            return v;
        }
        if let Some(l) = c.lines().find(|l| l.contains(": failed:")) {
            panic!("{what}: {l}\n{}", tail(&c));
        }
        assert!(
            t.elapsed() < LIMIT,
            "{what}: no view of {names:?}\n{}",
            tail(&c)
        );
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// Wait until a console line (after `from` bytes) holds `want`, or, with
/// `whole`, ends with it.
fn wait_line(vm: &Vm, from: usize, want: &str, whole: bool, what: &str) -> String {
    let t = Instant::now();
    loop {
        let c = vm.console();
        let hit = |l: &str| {
            let l = l.trim_end();
            if whole {
                l.ends_with(want)
            } else {
                l.contains(want)
            }
        };
        if c.get(from..).is_some_and(|s| s.lines().any(hit)) {
            eprintln!("cluster test: {what} in {:.0?}", t.elapsed());
            return c;
        }
        assert!(t.elapsed() < LIMIT, "{what}: no {want:?}\n{}", tail(&c));
        std::thread::sleep(Duration::from_secs(3));
    }
}

/// This boot's tailnet address, from the k3s stand-in's start line.
fn tailnet_addr(console: &str) -> String {
    console
        .lines()
        .filter_map(|l| l.split("(tailscale0: ").nth(1))
        .next_back()
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no k3s start line\n{}", tail(console)))
        .to_string()
}

#[test]
fn three_nodes_form_one_cluster_and_survive_reflash() {
    ready();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    files(dir);
    let control = common::control::Control::start(dir, "trio-net.ts.net");
    let imgs: Vec<PathBuf> = ["one", "two", "w"].iter().map(|n| build(dir, n)).collect();
    let disks: Vec<PathBuf> = ["one", "two", "w"]
        .iter()
        .zip(&imgs)
        .map(|(n, img)| {
            let d = dir.join(format!("{n}.disk"));
            flash(img, &d, "4G");
            d
        })
        .collect();
    let hub = Hub::start(dir, 3);
    let net = |i: usize| Net {
        control: Some(control.hs.port),
        lan: Some(hub.lans[i]),
        ..Net::default()
    };
    let start = |i: usize, tag: &str| {
        Vm::start(&disks[i], &[], net(i), &log_path(&format!("cluster-{tag}")))
    };

    // 1. Three fresh nodes, powered on together: one cluster.
    let one = start(0, "one");
    let two = start(1, "two");
    let w = start(2, "w");
    let all = ["one", "two", "w"];
    let views = [
        wait_view(&one, &all, "one sees three"),
        wait_view(&two, &all, "two sees three"),
        wait_view(&w, &all, "w sees three"),
    ];
    let id = views[0].0.clone();
    assert!(!id.starts_with("sqlite-"), "{views:?}");
    assert!(
        views.iter().all(|v| v.0 == id),
        "more than one cluster: {views:?}"
    );
    let consoles = [one.console(), two.console(), w.console()];
    assert!(consoles[0].contains("standin: k3s: founded a new cluster"));
    for c in &consoles[1..] {
        assert!(
            c.contains("standin: k3s: joined through https://100.64.0.") && !c.contains("founded"),
            "{}",
            tail(c)
        );
    }
    // Each registered with its own tailnet address; the witness with its taint.
    for (c, n) in consoles.iter().zip(all) {
        let item = format!("{n}={}", tailnet_addr(c));
        assert!(
            views[0].1.iter().any(|i| i.starts_with(&item)),
            "{item} {views:?}"
        );
    }
    assert!(
        views[0].1.iter().any(|i| i.starts_with("w=")
            && i.ends_with(":node-role.kubernetes.io/witness=true:NoSchedule")),
        "{views:?}"
    );
    let one_addr = tailnet_addr(&consoles[0]);

    // 2. Re-flash the bootstrap server, its data partition kept, after the
    // auth key it carries was revoked in headscale: same tailnet identity
    // from tailscaled's saved state (the key is not sent again), same etcd
    // member, same cluster.
    one.power_down();
    control.hs.expire(&control.key);
    let kept = &disks[0];
    ok(
        &sh(
            "dd",
            &[
                &format!("if={}", imgs[0].display()),
                &format!("of={}", kept.display()),
                "bs=4M",
                "conv=notrunc,sparse,fsync",
                "status=none",
            ],
        ),
        "dd",
    );
    let pt = ok(&sh("sfdisk", &["-d", kept.to_str().expect("p")]), "sfdisk");
    assert_eq!(pt.matches(" : start=").count(), 2, "re-flashed table: {pt}");
    let one = start(0, "one-reflashed");
    let c = wait_line(
        &one,
        0,
        "standin: k3s: restarted its etcd member",
        false,
        "one re-flashed",
    );
    assert!(
        c.contains("haimg: storage: ok: found this node's data filesystem at 2560 MiB"),
        "{}",
        tail(&c)
    );
    assert!(c.contains("etcd data is on its data disk"), "{}", tail(&c));
    assert_eq!(
        tailnet_addr(&c),
        one_addr,
        "a re-flashed node keeps its address"
    );
    assert!(!c.contains("formatted blank"), "{}", tail(&c));
    let v = wait_view(&one, &all, "re-flashed one sees three");
    assert_eq!(v.0, id);
    assert!(c.contains("logged in from its saved state"), "{}", tail(&c));
    assert_eq!(control.hs.nodes().len(), 3, "{:?}", control.hs.nodes());

    // 3. A server powered off: the other two still answer each other and
    // agree on the cluster.
    let (from_one, from_w) = (one.console().len(), w.console().len());
    two.power_down();
    wait_line(
        &one,
        from_one,
        "standin: k3s: answering w",
        true,
        "one: only w answers",
    );
    wait_line(
        &w,
        from_w,
        "standin: k3s: answering one",
        true,
        "w: only one answers",
    );
    assert_eq!(last_view(&one.console()).map(|v| v.0), Some(id.clone()));
    assert_eq!(last_view(&w.console()).map(|v| v.0), Some(id.clone()));

    // 4. The bootstrap re-flashed onto a blank disk: a new Tailscale node
    // (one-1), and a peer answers, so it joins; K3s refuses the known name
    // with another node password (haimg forget is the way out). Never a
    // second cluster.
    // First with the revoked key it carries: refused, in the control
    // server's words, on the console and in the node's status; then with a
    // good key put on its boot partition (the README's remedy).
    one.power_down();
    let blank = dir.join("one-blank.disk");
    flash(&imgs[0], &blank, "4G");
    let refused = Vm::start(&blank, &[], net(0), &log_path("cluster-one-refused"));
    let c = wait_line(
        &refused,
        0,
        "haimg: tailscale: failed: the control server refused the auth key",
        false,
        "blank one with a revoked key",
    );
    assert!(c.contains("authkey expired"), "{}", tail(&c));
    refused.power_down();
    let root = dir.join("root.part");
    partition(&blank, 2, &root);
    let status = debugfs(&root, "cat /var/lib/haimg/status");
    assert!(
        status.contains("failed=tailscale: the control server refused the auth key"),
        "{status}"
    );
    let good = dir.join("good-key");
    std::fs::write(
        &good,
        format!("{}\n", control.hs.key(true, false, true, "1h")),
    )
    .expect("key");
    ok(
        &sh(
            "mcopy",
            &[
                "-o",
                "-i",
                &format!("{}@@1M", blank.display()),
                good.to_str().expect("p"),
                "::haimg/secrets/tailscale-authkey",
            ],
        ),
        "mcopy the new key",
    );
    let mut fresh = Vm::start(&blank, &[], net(0), &log_path("cluster-one-blank"));
    let c = wait_line(
        &fresh,
        0,
        "Node password rejected",
        false,
        "blank one refused",
    );
    assert!(
        c.contains("answers, joining the existing cluster"),
        "{}",
        tail(&c)
    );
    assert!(
        !c.contains("founded a new cluster") && !c.contains("sqlite"),
        "{}",
        tail(&c)
    );
    // headscale names a second node with a taken hostname HOST-1
    // (hscontrol/state/node_store.go, resolveGivenName).
    let again = control.hs.node("one-1");
    assert!(
        again.is_some(),
        "no one-1 in {:?}\n{}",
        control.hs.nodes(),
        tail(&c)
    );
    fresh.kill();
    w.power_down();

    // The kept disk, read by independent tools: K3s ran on the tailnet
    // address, through tailscale0; identity lives on the data partition.
    partition(kept, 2, &root);
    let run = debugfs(&root, "cat /var/lib/haimg-standin/k3s.run");
    assert!(run.contains("flannel-iface: tailscale0"), "{run}");
    assert!(run.contains(&format!("node-ip: {one_addr}")), "{run}");
    let data = dir.join("data.part");
    partition(kept, 3, &data);
    let ids = debugfs(&data, "ls -l /haimg/identity");
    assert!(
        ids.contains("tailscale") && ids.contains("rancher-node"),
        "{ids}"
    );
    assert!(debugfs(&data, "cat /haimg/identity/rancher-node/password").len() > 16);
    drop(hub);
}
