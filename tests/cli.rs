//! `secrets init`, `plan`, `forget`, secrets never printed, and shellcheck of
//! the scripts.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

#[test]
fn secrets_init_creates_0600_files_and_never_overwrites() {
    let tmp = tempfile::tempdir().expect("tmp");
    write_files(tmp.path(), &small_cluster());
    let o = haimg()
        .args(["secrets", "init", "cluster.toml"])
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let token_path = tmp.path().join("secrets/k3s-token");
    let token = std::fs::read_to_string(&token_path).expect("token");
    let token = token.trim();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    for f in ["secrets/k3s-token", "secrets/tailscale-authkey"] {
        let mode = std::fs::metadata(tmp.path().join(f))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let dir_mode = std::fs::metadata(tmp.path().join("secrets"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o077, 0, "secrets folder is private");
    assert!(!stdout(&o).contains(token) && !stderr(&o).contains(token));

    // Again: nothing changes.
    let o = haimg()
        .args(["secrets", "init", "cluster.toml"])
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert!(o.status.success());
    assert!(stderr(&o).contains("kept"));
    assert_eq!(
        std::fs::read_to_string(&token_path).expect("token").trim(),
        token
    );

    // The placeholder is not a key: render refuses until one is pasted in.
    let o = haimg()
        .args(["render", "a.toml", "--out", "out"])
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("holds no value yet"), "{}", stderr(&o));
}

#[test]
fn secrets_never_appear_in_any_output() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    // A second run of every command with the secrets from the environment.
    files[0]
        .1
        .push_str("\n[secrets]\ntoken_file = \"secrets/k3s-token\"\n");
    write_files(tmp.path(), &files);
    write_secrets(tmp.path());
    let runs: Vec<Vec<&str>> = vec![
        vec!["plan", "cluster.toml"],
        vec!["plan", "cluster.toml", "--json"],
        vec!["plan", "a.toml"],
        vec!["render", "a.toml", "--out", "o1"],
        vec!["render", "cluster.toml", "--out", "o2", "--with-secrets"],
        vec!["render", "a.toml", "--out", "o2"], // fails: not empty
        vec!["secrets", "init", "cluster.toml"],
    ];
    for env in [false, true] {
        let _ = std::fs::remove_dir_all(tmp.path().join("o1"));
        let _ = std::fs::remove_dir_all(tmp.path().join("o2"));
        for args in &runs {
            let mut c = haimg();
            c.args(args).current_dir(tmp.path());
            if env {
                c.env("HAIMG_K3S_TOKEN", format!("{TOKEN}env"))
                    .env("HAIMG_TAILSCALE_AUTHKEY", format!("{AUTHKEY}env"));
            }
            let o = c.output().expect("run");
            let all = format!("{}{}", stdout(&o), stderr(&o));
            for secret in [TOKEN, AUTHKEY] {
                assert!(!all.contains(secret), "{args:?} printed a secret:\n{all}");
            }
        }
    }
    // The --with-secrets run of the second pass did hold the secrets (from the
    // environment), so the silence above is about runs that had them.
    let t = std::fs::read_to_string(tmp.path().join("o2/a/boot/haimg/secrets/k3s-token"))
        .expect("token file");
    assert_eq!(t.trim(), format!("{TOKEN}env"));
}

#[test]
fn forget_prints_the_cleanup_and_applies_it_with_kubectl() {
    let o = haimg()
        .args(["forget", "examples/homelab/raspi2.toml"])
        .current_dir(repo())
        .output()
        .expect("run");
    let t = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(t.contains("\nkubectl delete node raspi2\n"), "{t}");
    assert!(t.contains("raspi2.node-password.k3s"), "{t}");
    assert!(
        t.contains("etcd member") && t.contains("Tailscale device"),
        "{t}"
    );
    // Pasteable: every line is a command or a comment.
    assert!(
        t.lines()
            .all(|l| l.starts_with('#') || l.starts_with("kubectl ")),
        "{t}"
    );

    let o = haimg()
        .args(["forget", "examples/homelab/cluster.toml"])
        .current_dir(repo())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("name the node to forget"),
        "{}",
        stderr(&o)
    );

    // --apply: kubectl (a recording stand-in first on PATH) runs both steps.
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).expect("mkdir");
    let log = tmp.path().join("kubectl.log");
    std::fs::write(
        bin.join("kubectl"),
        format!("#!/bin/sh\necho \"$*\" >>{}\n", log.display()),
    )
    .expect("write");
    std::fs::set_permissions(bin.join("kubectl"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = haimg()
        .args([
            "forget",
            "examples/homelab/raspi2.toml",
            "--apply",
            "/k/config",
        ])
        .env("PATH", &path)
        .current_dir(repo())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let calls = std::fs::read_to_string(&log).expect("kubectl ran");
    let calls: Vec<&str> = calls.lines().collect();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("--kubeconfig /k/config delete node raspi2 ")
            && !calls[0].contains("--force"),
        "{calls:?}"
    );
    assert!(
        calls[1].contains("-n kube-system delete secret raspi2.node-password.k3s"),
        "{calls:?}"
    );
}

#[test]
fn plan_reports_quorum_tolerance_and_risks() {
    let o = haimg()
        .args(["plan", "examples/homelab/cluster.toml", "--json"])
        .current_dir(repo())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["etcd_voters"], 3);
    assert_eq!(v["quorum"], 2);
    assert_eq!(v["tolerates_failures"], 1);
    let nodes = v["nodes"].as_array().expect("nodes");
    let role = |h: &str| {
        nodes
            .iter()
            .find(|n| n["hostname"] == h)
            .map(|n| n["role"].clone())
    };
    assert_eq!(role("raspi1"), Some("bootstrap".into()));
    assert_eq!(role("pc"), Some("agent".into()));
    let risks = v["risks"].to_string();
    assert!(risks.contains("etcd runs across sites"), "{risks}");

    let text = haimg()
        .args(["plan", "examples/homelab/raspi2.toml"])
        .current_dir(repo())
        .output()
        .expect("run");
    let t = stdout(&text);
    assert!(t.contains("quorum 2, tolerates 1"), "{t}");
    assert!(
        t.contains("witness  cloud-x86_64/amd64  server (witness)"),
        "{t}"
    );
}

#[test]
fn even_voter_count_is_a_risk() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    files[0].1 = files[0]
        .1
        .replace("[[server]]\nname = \"w\"\nwitness = true\n", "");
    write_files(tmp.path(), &files);
    let o = haimg()
        .args(["plan", "cluster.toml", "--json"])
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["etcd_voters"], 2);
    assert_eq!(v["tolerates_failures"], 0);
    assert!(
        v["risks"].to_string().contains("2 etcd voters"),
        "{}",
        v["risks"]
    );
}

#[test]
fn overlay_scripts_are_shellcheck_clean() {
    need(&["shellcheck"]);
    let dir = repo().join("overlays/usr/lib/haimg");
    let scripts: Vec<_> = std::fs::read_dir(&dir)
        .expect("dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "sh"))
        .collect();
    assert!(scripts.len() >= 7, "scripts missing: {scripts:?}");
    let o = Command::new("shellcheck")
        .args(["-x", "-P", "SCRIPTDIR", "--shell=sh", "--severity=style"])
        .args(&scripts)
        .output()
        .expect("shellcheck");
    assert!(o.status.success(), "{}", stdout(&o));
    // POSIX sh, not bash: every script declares /bin/sh or shell=sh.
    for s in &scripts {
        let text = std::fs::read_to_string(s).expect("read");
        let first = text.lines().next().unwrap_or("");
        assert!(
            first == "#!/bin/sh" || first == "# shellcheck shell=sh",
            "{}",
            s.display()
        );
    }
}
