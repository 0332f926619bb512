//! `haimg render`: golden trees of the example cluster, YAML judged by an
//! independent parser (PyYAML), the env file judged by `sh` (injection
//! attempts: tests/render_injection.rs).

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// One text file per node: every entry with its mode; overlay files (static,
/// tested on their own) by hash so the golden files stay reviewable.
fn golden_text(node_dir: &Path) -> String {
    use sha2::Digest;
    let mut s = String::new();
    for (path, mode, data) in tree(node_dir) {
        s.push_str(&format!("=== {path} {mode:04o}\n"));
        let overlay = path
            .strip_prefix("root/")
            .map(|p| repo().join("overlays").join(p))
            .filter(|p| p.is_file());
        match overlay {
            Some(_) => s.push_str(&format!(
                "(overlay file, sha256 {})\n",
                hex::encode(sha2::Sha256::digest(&data))
            )),
            None => {
                s.push_str(&String::from_utf8_lossy(&data));
                if !data.ends_with(b"\n") {
                    s.push('\n');
                }
            }
        }
    }
    s
}

/// Render every node of examples/homelab into `out` (secrets from the env).
fn render_examples(out: &Path) {
    let o = haimg()
        .args(["render", "examples/homelab/cluster.toml", "--out"])
        .arg(out)
        .env("HAIMG_K3S_TOKEN", TOKEN)
        .env("HAIMG_TAILSCALE_AUTHKEY", AUTHKEY)
        .current_dir(repo())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn golden_render_of_every_example_node() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    render_examples(&out);
    let golden_dir = repo().join("tests/golden/homelab");
    let update = std::env::var("HAIMG_UPDATE_GOLDEN").is_ok();
    let mut failures = Vec::new();
    for node in ["raspi1", "raspi2", "witness", "pc"] {
        let text = golden_text(&out.join(node));
        let path = golden_dir.join(format!("{node}.txt"));
        if update {
            std::fs::create_dir_all(&golden_dir).expect("mkdir");
            std::fs::write(&path, &text).expect("write golden");
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if want != text {
            let diff = Command::new("diff")
                .arg("-u")
                .arg(&path)
                .arg("-")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().expect("stdin").write_all(text.as_bytes())?;
                    c.wait_with_output()
                })
                .map(|o| stdout(&o))
                .unwrap_or_default();
            failures.push(format!(
                "{node}: rendered tree differs from {}\n{diff}",
                path.display()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(set HAIMG_UPDATE_GOLDEN=1 to accept)",
        failures.join("\n")
    );
}

#[test]
fn rendered_yaml_parses_and_says_what_the_plan_says() {
    let tmp = tempfile::tempdir().expect("tmp");
    let out = tmp.path().join("out");
    render_examples(&out);
    let r1 = yaml_to_json(&out.join("raspi1/root/etc/rancher/k3s/config.yaml"));
    assert_eq!(r1["cluster-init"], true);
    assert_eq!(r1["flannel-iface"], "tailscale0");
    assert_eq!(r1["data-dir"], "/mnt/k3s-storage/k3s");
    assert_eq!(r1["etcd-snapshot-schedule-cron"], "0 */6 * * *");
    let r2 = yaml_to_json(&out.join("raspi2/root/etc/rancher/k3s/config.yaml"));
    // Whom to join is found at first boot (tailscale ip -4 PEER), not baked.
    assert!(r2.get("server").is_none() && r2.get("cluster-init").is_none());
    let env = std::fs::read_to_string(out.join("raspi2/root/etc/haimg/node.env")).expect("env");
    assert!(env.contains("HAIMG_PEERS='raspi1 witness'"), "{env}");
    let w = yaml_to_json(&out.join("witness/root/etc/rancher/k3s/config.yaml"));
    assert_eq!(
        w["node-taint"][0],
        "node-role.kubernetes.io/witness=true:NoSchedule"
    );
    assert!(
        w.get("data-dir").is_none(),
        "witness keeps K3s's default data-dir"
    );
    let pc = yaml_to_json(&out.join("pc/root/etc/rancher/k3s/config.yaml"));
    assert!(
        pc.get("tls-san").is_none() && pc.get("disable").is_none(),
        "agent gets no server flags"
    );

    assert!(!out.join("raspi1/root/etc/haimg/k3s-join").exists());

    // cloud-init seed: only for the cloud profile; carries the files, no secret.
    assert!(!out.join("raspi1/boot/user-data").exists());
    let ud_path = out.join("witness/boot/user-data");
    let ud_text = std::fs::read_to_string(&ud_path).expect("user-data");
    assert!(ud_text.starts_with("#cloud-config\n"));
    let ud = yaml_to_json(&ud_path);
    let files = ud["write_files"].as_array().expect("write_files");
    let cfg = files
        .iter()
        .find(|f| f["path"] == "/etc/rancher/k3s/config.yaml")
        .expect("config in write_files");
    let on_disk = std::fs::read_to_string(out.join("witness/root/etc/rancher/k3s/config.yaml"))
        .expect("read");
    assert_eq!(cfg["content"], on_disk.as_str());
    assert_eq!(
        cfg["permissions"], "0600",
        "cloud-init wants an octal string"
    );
    assert!(!ud_text.contains(TOKEN) && !ud_text.contains(AUTHKEY));
    let md = yaml_to_json(&out.join("witness/boot/meta-data"));
    assert!(
        md["instance-id"]
            .as_str()
            .expect("id")
            .starts_with("haimg-")
    );
}

#[test]
fn secrets_are_redacted_unless_asked_and_files_are_0600() {
    let tmp = tempfile::tempdir().expect("tmp");
    write_files(tmp.path(), &small_cluster());
    write_secrets(tmp.path());
    let a = tmp.path().join("a.toml");
    let out = tmp.path().join("o1");
    let o = run(&[
        "render",
        a.to_str().expect("p"),
        "--out",
        out.to_str().expect("p"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tok = std::fs::read_to_string(out.join("boot/haimg/secrets/k3s-token")).expect("read");
    assert!(!tok.contains(TOKEN) && tok.contains("redacted"));

    let out2 = tmp.path().join("o2");
    let o = run(&[
        "render",
        a.to_str().expect("p"),
        "--out",
        out2.to_str().expect("p"),
        "--with-secrets",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (name, value) in [("k3s-token", TOKEN), ("tailscale-authkey", AUTHKEY)] {
        let p = out2.join("boot/haimg/secrets").join(name);
        assert_eq!(std::fs::read_to_string(&p).expect("read").trim(), value);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777,
            0o600
        );
    }
    // Never inlined anywhere else.
    for (path, _, data) in tree(&out2) {
        if !path.starts_with("boot/haimg/secrets/") {
            let text = String::from_utf8_lossy(&data);
            assert!(
                !text.contains(TOKEN) && !text.contains(AUTHKEY),
                "secret inlined in {path}"
            );
        }
    }
}

#[test]
fn existing_output_is_kept_without_force() {
    let tmp = tempfile::tempdir().expect("tmp");
    write_files(tmp.path(), &small_cluster());
    write_secrets(tmp.path());
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("precious"), "x").expect("write");
    let a = tmp.path().join("a.toml");
    let o = run(&[
        "render",
        a.to_str().expect("p"),
        "--out",
        out.to_str().expect("p"),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--force"));
    assert!(out.join("precious").exists());
    let o = run(&[
        "render",
        a.to_str().expect("p"),
        "--out",
        out.to_str().expect("p"),
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!out.join("precious").exists() && out.join("root/etc/hostname").exists());
}

#[test]
fn render_makes_missing_parent_folders() {
    let tmp = tempfile::tempdir().expect("tmp");
    write_files(tmp.path(), &small_cluster());
    write_secrets(tmp.path());
    let out = tmp.path().join("not/yet/here");
    let o = run(&[
        "render",
        tmp.path().join("a.toml").to_str().expect("p"),
        "--out",
        out.to_str().expect("p"),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("root/etc/hostname").exists());
    // Nothing else left beside it.
    let beside: Vec<_> = std::fs::read_dir(out.parent().expect("parent"))
        .expect("dir")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(beside.len(), 1, "{beside:?}");
}

/// The seed files haimg writes are listed with their sha256 (so first boot
/// can tell them from a customiser's), checked here by sha256sum itself.
#[test]
fn boot_owned_lists_the_seed_files_by_their_sha256() {
    let tmp = tempfile::tempdir().expect("tmp");
    render_examples(&tmp.path().join("all"));
    let out = tmp.path().join("all/witness");
    let list =
        std::fs::read_to_string(out.join("root/etc/haimg/boot-owned.sha256")).expect("boot-owned");
    let sums: Vec<&str> = list.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(sums.len(), 3, "{list}");
    std::fs::write(out.join("boot/check"), sums.join("\n") + "\n").expect("write");
    let c = std::process::Command::new("sha256sum")
        .args(["-c", "check"])
        .current_dir(out.join("boot"))
        .output()
        .expect("sha256sum");
    assert!(c.status.success(), "{}", stdout(&c));
    for name in ["user-data", "meta-data", "network-config"] {
        assert!(
            stdout(&c).contains(&format!("{name}: OK")),
            "{}",
            stdout(&c)
        );
    }
}
