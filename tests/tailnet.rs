//! The real tailnet programs on the host, in a network namespace of the
//! test's own: headscale and real tailscaled (userspace networking). What
//! haimg's node scripts rely on, proven against them: the key kinds (a
//! reusable key lets every node in; a single-use, an expired or a revoked
//! key is refused with a message `tailscale up` prints as "backend error",
//! which tailscale.sh reports), a saved login that outlives its key, peers
//! found by name, and a peer that went away listed offline as join.sh reads
//! it.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::control::ipv4;
use common::tailnet::Headscale;
use common::tailnet_client::{Client, Netns};
use common::*;

fn up(c: &Client, key_file: &Path, host: &str, url: &str) -> std::process::Output {
    c.cli(&[
        "up",
        "--timeout=60s",
        &format!("--auth-key=file:{}", key_file.display()),
        &format!("--hostname={host}"),
        &format!("--login-server={url}"),
    ])
}

fn key_file(dir: &Path, name: &str, key: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, format!("{key}\n")).expect("key");
    p
}

/// Wait until `f` holds, for at most `secs`.
fn eventually(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(secs), "{what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn key_kinds_saved_logins_and_offline_peers() {
    need(&["ip"]);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let ns = Netns::new("tailnet");
    let hs = Headscale::start_in(&dir.join("hs"), "lab-net.ts.net", &ns);
    let url = hs.url();
    let reusable = key_file(dir, "reusable", &hs.key(true, false, true, "1h"));
    let once = key_file(dir, "once", &hs.key(false, false, true, "1h"));

    // A reusable, tagged key: two nodes in, each by its hostname.
    let a = Client::start(&dir.join("a"), &ns, &hs.ca());
    let mut b = Client::start(&dir.join("b"), &ns, &hs.ca());
    for (c, n) in [(&a, "a"), (&b, "b")] {
        ok(&up(c, &reusable, n, &url), &format!("tailscale up {n}"));
    }
    let b_addr = ipv4(&hs.node("b").expect("b in headscale"));
    let found = ok(&a.cli(&["ip", "-4", "b"]), "tailscale ip -4 b");
    assert_eq!(found.trim(), b_addr, "a finds b by name");

    // A single-use key lets one node in and refuses the next, in words
    // `tailscale up` prints (tailscale.sh matches "backend error: ").
    let c1 = Client::start(&dir.join("c1"), &ns, &hs.ca());
    let c2 = Client::start(&dir.join("c2"), &ns, &hs.ca());
    ok(&up(&c1, &once, "c1", &url), "first use of a single-use key");
    let o = up(&c2, &once, "c2", &url);
    assert!(
        !o.status.success(),
        "a used single-use key let a second node in"
    );
    let msg = stderr(&o);
    assert!(
        msg.contains("backend error: ") && msg.contains("already used"),
        "{msg}"
    );
    assert!(hs.node("c2").is_none(), "{:?}", hs.nodes());

    // An expired key is refused the same way.
    let old = key_file(dir, "old", &hs.key(true, false, true, "1s"));
    std::thread::sleep(Duration::from_secs(2));
    let d = Client::start(&dir.join("d"), &ns, &hs.ca());
    let o = up(&d, &old, "d", &url);
    let msg = stderr(&o);
    assert!(
        !o.status.success() && msg.contains("backend error: ") && msg.contains("expired"),
        "{msg}"
    );

    // A saved login outlives its key: b restarts on its state after the
    // reusable key was expired in headscale, and is back with its address
    // without `tailscale up` (what a re-flash that kept the data disk does).
    b.down();
    let reusable_key = std::fs::read_to_string(&reusable).expect("key");
    hs.expire(reusable_key.trim());
    b.up();
    eventually(60, "b did not come back Running from its state", || {
        b.status()["BackendState"] == "Running"
    });
    let back = b.status();
    assert_eq!(back["Self"]["TailscaleIPs"][0], b_addr, "{back}");
    assert_eq!(
        hs.nodes().iter().filter(|n| n["given_name"] == "b").count(),
        1
    );

    // A peer that went away: listed, offline, as join.sh's offline_peers
    // reads the real `tailscale status --json`.
    b.down();
    let offline = || {
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                ". {}; HAIMG_PEERS='b c1 nobody'; offline_peers",
                repo().join("overlays/usr/lib/haimg/join.sh").display()
            ))
            .env("PATH", format!("{}:/usr/bin:/bin", a.cli_dir().display()))
            .output()
            .expect("sh");
        stdout(&o)
    };
    eventually(120, "b never listed offline", || offline() == "b");
}
