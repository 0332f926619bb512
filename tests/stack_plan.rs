//! `[stack.*]` in `haimg plan`: where each component runs, what one node
//! failure does to it, the availability estimate, and every config error
//! at once with its line and column.

mod common;

use common::*;

fn plan_json(dir: &std::path::Path, file: &str) -> serde_json::Value {
    let o = haimg()
        .args(["plan", file, "--json"])
        .current_dir(dir)
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("json")
}

/// `haimg plan cluster.toml` in `dir`, which must fail: its stderr.
fn plan_fails(dir: &std::path::Path) -> String {
    let o = haimg()
        .args(["plan", "cluster.toml"])
        .current_dir(dir)
        .output()
        .expect("run");
    assert!(!o.status.success(), "plan passed:\n{}", stdout(&o));
    stderr(&o)
}

/// P(at least k of n up), written out again here so the test does not take
/// haimg's arithmetic on trust.
fn k_of_n(k: u32, n: u32, a: f64) -> f64 {
    let mut p = 0.0;
    for i in k..=n {
        let c = (0..i).fold(1.0, |acc, j| acc * f64::from(n - j) / f64::from(j + 1));
        p += c * a.powi(i as i32) * (1.0 - a).powi((n - i) as i32);
    }
    p
}

#[test]
fn the_example_stack_is_placed_off_the_witness_and_estimated() {
    let v = plan_json(&repo(), "examples/homelab/cluster.toml");
    let st = &v["stack"];
    let comps = st["components"].as_array().expect("components");
    let names: Vec<&str> = comps.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "metallb",
            "longhorn",
            "patroni",
            "vaultwarden",
            "coredns",
            "monitoring",
            "backups"
        ]
    );
    for c in comps {
        let nodes = c["nodes"].to_string();
        assert!(
            !nodes.contains("witness"),
            "{} may run on the witness: {nodes}",
            c["name"]
        );
    }
    let get = |n: &str| comps.iter().find(|c| c["name"] == n).expect(n);
    // Seed 000's choices: strict synchronous replication on two nodes.
    let db = get("patroni");
    assert_eq!(db["needs_up"], 2);
    assert!(
        db["one_node_down"]
            .as_str()
            .expect("s")
            .contains("writes stop"),
        "{db}"
    );
    assert!(
        st["spofs"].to_string().contains("patroni"),
        "{}",
        st["spofs"]
    );
    assert_eq!(get("longhorn")["replicas"], 2);
    assert!(
        get("vaultwarden")["settings"]
            .to_string()
            .contains("signups=false")
    );

    // The estimate: control plane 2 of 3, each serving component k of n.
    let a = 8760.0 / 8764.0;
    let want = k_of_n(2, 3, a)           // etcd
        * k_of_n(1, 3, a)                // metallb: a speaker on each worker
        * k_of_n(1, 2, a)                // longhorn: 2 replicas
        * k_of_n(2, 2, a)                // patroni, strict
        * k_of_n(1, 2, a)                // vaultwarden
        * k_of_n(1, 2, a); // coredns
    let got = st["estimate"]["availability"].as_f64().expect("f64");
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    assert!(got > 0.999 && got < 0.9995, "{got}");

    let text = stdout(
        &haimg()
            .args(["plan", "examples/homelab/cluster.toml"])
            .current_dir(repo())
            .output()
            .expect("run"),
    );
    assert!(text.contains("availability estimate: 99.909 %"), "{text}");
    assert!(
        text.contains("single points of failure:\n    - patroni"),
        "{text}"
    );
    assert!(
        text.contains("node_mtbf_h"),
        "the assumptions are printed: {text}"
    );
}

#[test]
fn every_stack_error_is_reported_at_once_with_its_place() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    files[0].1.push_str(
        r#"
[stack.metallb]
addresses = ["192.168.1.250-192.168.1.240"]

[stack.longhorn]
replicas = 3

[stack.vaultwarden]
domain = "vault warden"

[stack.monitoring]
retention = "15 days"

[stack.availability]
node_mttr_h = -1.0
"#,
    );
    write_files(tmp.path(), &files);
    write_secrets(tmp.path());
    let e = plan_fails(tmp.path());
    let line = |needle: &str| {
        let at = files[0].1.find(needle).expect(needle);
        line_col(&files[0].1, at).0
    };
    for (msg, place) in [
        (
            "first address is after its last",
            format!("cluster.toml:{}:", line("addresses = [\"192.168.1.250")),
        ),
        (
            "3 replicas cannot be spread over the 2 node(s)",
            format!("cluster.toml:{}:", line("replicas = 3")),
        ),
        (
            "[stack.vaultwarden] needs [stack.patroni]",
            format!("cluster.toml:{}:", line("[stack.vaultwarden]")),
        ),
        (
            "invalid retention",
            format!("cluster.toml:{}:", line("retention =")),
        ),
        (
            "not a positive number of hours",
            format!("cluster.toml:{}:", line("node_mttr_h")),
        ),
    ] {
        assert!(e.contains(msg), "missing {msg:?} in:\n{e}");
        assert!(e.contains(&place), "missing {place} for {msg:?} in:\n{e}");
    }
    assert!(e.contains("5 errors"), "{e}");
}

#[test]
fn patroni_on_its_own_etcd_over_two_nodes_is_warned_and_counted() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    files[0]
        .1
        .push_str("\n[stack.patroni]\ndcs = \"etcd\"\nsynchronous_mode_strict = false\n");
    write_files(tmp.path(), &files);
    write_secrets(tmp.path());
    let v = plan_json(tmp.path(), "cluster.toml");
    let db = &v["stack"]["components"][0];
    assert_eq!(db["name"], "patroni");
    // Not strict: one database node is enough, but the lock's etcd puts two
    // of its three members on one node: that node must be up.
    assert_eq!(db["needs_up"], 1);
    let a = 8760.0 / 8764.0;
    let got = db["availability"]["availability"].as_f64().expect("f64");
    assert!((got - k_of_n(1, 2, a) * a).abs() < 1e-12, "{got}");
    assert!(
        db["one_node_down"]
            .to_string()
            .contains("two of the 3 etcd members")
    );
    assert!(
        v["warnings"]
            .to_string()
            .contains("one node holds two members"),
        "{}",
        v["warnings"]
    );
}

/// `secrets init` makes one password per stack secret the enabled tables
/// need: 0600, 256 bits each, all different, never printed, kept on a
/// second run; none for tables that are off.
#[test]
fn secrets_init_makes_the_stack_passwords() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    files[0]
        .1
        .push_str("\n[stack.patroni]\n\n[stack.vaultwarden]\n\n[stack.monitoring]\n");
    write_files(tmp.path(), &files);
    let init = || {
        let o = haimg()
            .args(["secrets", "init", "cluster.toml"])
            .current_dir(tmp.path())
            .output()
            .expect("run");
        assert!(o.status.success(), "{}", stderr(&o));
        format!("{}{}", stdout(&o), stderr(&o))
    };
    let said = init();
    let names = [
        "postgres-superuser",
        "postgres-replication",
        "vaultwarden-admin-token",
        "grafana-admin",
    ];
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        let p = tmp.path().join("secrets").join(n);
        let v = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{n}: {e}"));
        let v = v.trim().to_string();
        assert_eq!(v.len(), 64, "{n}");
        assert!(v.bytes().all(|b| b.is_ascii_hexdigit()), "{n}");
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{n}");
        assert!(!said.contains(&v), "{n} printed");
        assert!(seen.insert(v), "{n} repeats another secret");
    }
    let again = init();
    assert!(again.contains("kept"), "{again}");
    for (n, v) in names.iter().zip(&seen) {
        let now = std::fs::read_to_string(tmp.path().join("secrets").join(n)).expect("read");
        assert!(
            seen.contains(now.trim()),
            "{n} changed on the second run ({v})"
        );
    }

    // A cluster without a stack gets none of them.
    let bare = tempfile::tempdir().expect("tmp");
    write_files(bare.path(), &small_cluster());
    let o = haimg()
        .args(["secrets", "init", "cluster.toml"])
        .current_dir(bare.path())
        .output()
        .expect("run");
    assert!(o.status.success());
    for n in names {
        assert!(!bare.path().join("secrets").join(n).exists(), "{n}");
    }
}

/// Longhorn keeps its replicas on data mounts: with none on the nodes that
/// may run it, the table itself is the error (not a 0 % estimate).
#[test]
fn longhorn_without_a_data_mount_is_an_error_at_its_table() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    files[0].1.push_str("\n[stack.longhorn]\n");
    for f in files.iter_mut().skip(1) {
        f.1.push_str("\n[storage]\ndata = \"none\"\n");
    }
    write_files(tmp.path(), &files);
    write_secrets(tmp.path());
    let e = plan_fails(tmp.path());
    let at = files[0].1.find("[stack.longhorn]").expect("table");
    let (line, col) = line_col(&files[0].1, at);
    assert!(
        e.contains(&format!("cluster.toml:{line}:{col}: no node may run this")),
        "{e}"
    );
}

/// Longhorn's data path is one setting for the cluster: data nodes that
/// mount their data at different places are named, at the table.
#[test]
fn longhorn_over_different_data_mounts_is_an_error() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    files[0].1.push_str("\n[stack.longhorn]\n");
    files[1]
        .1
        .push_str("\n[storage]\ndata = \"rest\"\nmount = \"/srv/data\"\n");
    files[2].1.push_str("\n[storage]\ndata = \"rest\"\n");
    write_files(tmp.path(), &files);
    write_secrets(tmp.path());
    let e = plan_fails(tmp.path());
    let at = files[0].1.find("[stack.longhorn]").expect("table");
    let (line, col) = line_col(&files[0].1, at);
    assert!(
        e.contains(&format!(
            "cluster.toml:{line}:{col}: Longhorn keeps its data at one path"
        )) && e.contains("a: /srv/data, b: /mnt/k3s-storage"),
        "{e}"
    );
}

/// An image that deploys the stack is not built without its passwords;
/// `plan` only warns (its report lists the warning).
#[test]
fn build_refuses_a_stack_without_its_secrets() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    files[0].1.push_str("\n[stack.patroni]\nreplicas = 2\n");
    write_files(tmp.path(), &files);
    write_secrets(tmp.path());
    std::fs::remove_file(tmp.path().join("secrets/postgres-replication")).expect("rm");
    let plan = haimg()
        .args(["plan", "cluster.toml"])
        .current_dir(tmp.path())
        .output()
        .expect("plan");
    assert!(plan.status.success(), "{}", stderr(&plan));
    let report = stdout(&plan);
    assert!(
        report.contains("PostgreSQL replication password") && report.contains("does not exist"),
        "{report}"
    );
    let o = haimg()
        .args(["build", "a.toml", "--out", "out", "-q"])
        .current_dir(tmp.path())
        .output()
        .expect("build");
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("the stack needs its secrets") && e.contains("postgres-replication"),
        "{e}"
    );
    assert!(!tmp.path().join("out/a.img").exists());
}
