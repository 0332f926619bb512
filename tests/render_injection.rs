//! `haimg render` against values that try to break out of YAML, shell or
//! files: each is rejected with an error or rendered exactly, as PyYAML and
//! `sh` read it back.

mod common;

use std::process::Command;

use common::*;

/// Values that try to break out of YAML, shell or files.
const NASTY: &[&str] = &[
    "a'b",
    "a\"b",
    "a`id`b",
    "a$(touch PWNED)b",
    "a\nb",
    "a: b",
    "- x",
    "&anchor *alias",
    "{x: 1}",
    "#comment",
    "ünïcödé",
    "a\\b",
    "a;touch PWNED",
];

/// A TOML basic string holding exactly `v`.
fn toml_str(v: &str) -> String {
    let mut s = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            c if c.is_control() => s.push_str(&format!("\\u{:04x}", c as u32)),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

fn edit_node(text: &str, field: &str, value: &str) -> String {
    let quoted = toml_str(value);
    match field {
        "hostname" => text.replace("hostname = \"a\"", &format!("hostname = {quoted}")),
        "ssh_key_comment" => text.replace(
            "test@host\"]",
            &format!("{}\"]", &quoted[1..quoted.len() - 1]),
        ),
        "label" => format!(
            "{text}\n[k3s]\nlabels = [{}]\n",
            toml_str(&format!("x.dev/k={value}"))
        ),
        "sysctl" => format!("{text}\n[sysctl]\n\"net.core.somaxconn\" = {quoted}\n"),
        "mount" => format!("{text}\n[storage]\nmount = {quoted}\n"),
        "module" => format!("{text}\n[kernel]\nmodules = [{quoted}]\n"),
        _ => unreachable!(),
    }
}

#[test]
fn injection_is_rejected_or_rendered_exactly() {
    let fields = [
        "hostname",
        "ssh_key_comment",
        "label",
        "sysctl",
        "mount",
        "module",
    ];
    let mut accepted = 0;
    for field in fields {
        for value in NASTY {
            let tmp = tempfile::tempdir().expect("tmp");
            let mut files = small_cluster();
            files[1].1 = edit_node(&files[1].1, field, value);
            write_files(tmp.path(), &files);
            write_secrets(tmp.path());
            let out = tmp.path().join("out");
            let o = haimg()
                .args(["render", "a.toml", "--out", "out"])
                .current_dir(tmp.path())
                .output()
                .expect("run");
            match o.status.code() {
                Some(2) => {
                    assert!(
                        !out.exists(),
                        "{field}={value:?}: rejected but wrote output"
                    );
                    assert!(
                        stderr(&o).contains("a.toml:"),
                        "{field}={value:?}: no location: {}",
                        stderr(&o)
                    );
                    continue;
                }
                Some(0) => accepted += 1,
                other => panic!("{field}={value:?}: exit {other:?}: {}", stderr(&o)),
            }
            // Accepted: every YAML file parses; the env file sources cleanly and
            // runs nothing; the value arrives intact where it belongs.
            for (path, _, _) in tree(&out) {
                if path.ends_with(".yaml")
                    || path.ends_with("user-data")
                    || path.ends_with("meta-data")
                {
                    yaml_to_json(&out.join(&path));
                }
            }
            let env = out.join("root/etc/haimg/node.env");
            let sh = Command::new("sh")
                .arg("-c")
                .arg(". \"$1\"; printf '%s' \"$HAIMG_HOSTNAME|$HAIMG_DATA_MOUNT\"")
                .arg("sh")
                .arg(&env)
                .current_dir(tmp.path())
                .output()
                .expect("sh");
            assert!(
                sh.status.success(),
                "{field}={value:?}: node.env does not source"
            );
            assert!(
                !tmp.path().join("PWNED").exists(),
                "{field}={value:?}: command ran"
            );
            match field {
                "ssh_key_comment" => {
                    let keys = std::fs::read_to_string(
                        out.join("root/etc/haimg/users/admin/authorized_keys"),
                    )
                    .expect("keys");
                    assert!(
                        keys.trim_end().ends_with(value),
                        "{value:?} not kept in authorized_keys: {keys:?}"
                    );
                }
                "sysctl" => {
                    let s = std::fs::read_to_string(out.join("root/etc/sysctl.d/90-haimg.conf"))
                        .expect("sysctl");
                    assert!(s.contains(&format!("net.core.somaxconn = {value}\n")));
                }
                _ => panic!("{field}={value:?} accepted: it must be rejected"),
            }
        }
    }
    assert!(
        accepted > 0,
        "nothing accepted: the test proves nothing about rendering"
    );
}

#[test]
fn ssh_key_with_specials_round_trips_through_cloud_init() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut files = small_cluster();
    let comment = "o'brien \"x\" `id` $(id) ü: - &a *b #c";
    let q = toml_str(comment);
    files[3].1 = files[3].1.replace("test@host", &q[1..q.len() - 1]);
    write_files(tmp.path(), &files);
    write_secrets(tmp.path());
    let o = haimg()
        .args(["render", "w.toml", "--out", "out"])
        .current_dir(tmp.path())
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", stderr(&o));
    let ud = yaml_to_json(&tmp.path().join("out/boot/user-data"));
    let key = ud["users"][0]["ssh_authorized_keys"][0]
        .as_str()
        .expect("key");
    assert!(key.ends_with(comment), "{key:?}");
}
