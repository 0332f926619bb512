//! Secret files in the configuration: a world-readable one is refused at
//! its place in cluster.toml without printing it; a missing one is a
//! warning for `plan` and an error for `render`.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

const SECRETS_TABLE: &str = "\n[secrets]\ntoken_file = \"secrets/k3s-token\"\nauthkey_file = \"secrets/tailscale-authkey\"\n";

#[test]
fn world_readable_secret_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    files[0].1.push_str(SECRETS_TABLE);
    write_files(tmp.path(), &files);
    write_secrets(tmp.path());
    let token = tmp.path().join("secrets/k3s-token");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    for cmd in [
        &["plan", "cluster.toml"][..],
        &["render", "a.toml", "--out", "out"][..],
    ] {
        let o = haimg()
            .args(cmd)
            .current_dir(tmp.path())
            .output()
            .expect("run");
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{cmd:?}: {err}");
        let (line, col) = line_col(
            &files[0].1,
            files[0].1.find("\"secrets/k3s-token\"").expect("needle"),
        );
        assert!(
            err.contains(&format!("cluster.toml:{line}:{col}:")),
            "{err}"
        );
        assert!(
            err.contains("mode 0644") && err.contains("chmod 600"),
            "{err}"
        );
        assert!(!err.contains(TOKEN) && !stdout(&o).contains(TOKEN));
    }
    assert!(!tmp.path().join("out").exists());
}

#[test]
fn plan_warns_but_render_refuses_when_secrets_are_missing() {
    let tmp = tempfile::tempdir().expect("tmp");
    write_files(tmp.path(), &small_cluster());
    let o = haimg()
        .args(["plan", "cluster.toml"])
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("does not exist"));
    let o = haimg()
        .args(["render", "a.toml", "--out", "out"])
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2));
}
