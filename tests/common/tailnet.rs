//! The real tailnet of the boot tests: `tailscale` and `tailscaled` built
//! from their Go module (tests/tools/tailnet-build.sh) go into the images as
//! their payload beside the k3s miniature, and headscale, built the same
//! way, runs on 127.0.0.1 as the control server the guests log in to
//! (through QEMU's guestfwd, as `https://10.0.2.101`, with a certificate of
//! a CA made here that the images trust through `[tailscale] login_server_ca`;
//! tests/common/control.rs readies it for a test cluster).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tailnet_client::{Netns, in_netns};
use super::{ok, repo, sh};

pub const TAILSCALE_VERSION: &str = "1.102.5";
pub const HEADSCALE_VERSION: &str = "0.29.2";
/// The headscale user the test keys belong to; tagged nodes belong to their
/// tags instead (headscale ≥ 0.27).
pub const USER: &str = "boot";
/// What the guests call the control server (QEMU forwards it to headscale).
pub const LOGIN_SERVER: &str = "https://10.0.2.101";

/// The folder of built programs: builds them first if needed (locked, so
/// test binaries started together build once).
pub fn tools() -> PathBuf {
    let o = sh(
        "sh",
        &[repo()
            .join("tests/tools/tailnet-build.sh")
            .to_str()
            .expect("p")],
    );
    let out = ok(&o, "tests/tools/tailnet-build.sh");
    PathBuf::from(
        out.lines()
            .last()
            .expect("tailnet-build.sh prints its folder"),
    )
}

/// A `--payload` folder for `arch` (amd64, arm64): the k3s miniature of
/// tests/standins and the real tailscale and tailscaled.
pub fn payload(dir: &Path, arch: &str) -> PathBuf {
    let tools = tools().join(format!("tailscale-{TAILSCALE_VERSION}-{arch}"));
    let out = dir.join(format!("payload-{arch}"));
    std::fs::create_dir_all(&out).expect("mkdir payload");
    let k3s = repo().join("tests/standins/k3s");
    for (from, name) in [
        (k3s, "k3s"),
        (tools.join("tailscale"), "tailscale"),
        (tools.join("tailscaled"), "tailscaled"),
    ] {
        let to = out.join(name);
        let _ = std::fs::remove_file(&to);
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
        }
    }
    out
}

/// A free TCP port on 127.0.0.1 (bound, then released for the server).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// headscale serving on 127.0.0.1 with its own database, certificate and
/// policy under its folder; stopped when dropped.
pub struct Headscale {
    child: Option<Child>,
    dir: PathBuf,
    pub port: u16,
    /// The network namespace it serves in (host-side tailnet tests).
    netns: Option<String>,
}

impl Headscale {
    /// A new control server for tailnet `domain` (MagicDNS suffix) whose
    /// policy lets `tag:k3s` be owned by [`USER`] and everything reach
    /// everything. Its CA certificate is `ca()`.
    pub fn start(dir: &Path, domain: &str) -> Headscale {
        Headscale::start_with(dir, domain, None)
    }

    /// The same, serving inside network namespace `netns` (see [`Netns`])
    /// at `https://127.0.0.1:PORT`, its DERP there too: for tailnet tests of
    /// host processes, which then reach nothing but that loopback.
    pub fn start_in(dir: &Path, domain: &str, netns: &Netns) -> Headscale {
        Headscale::start_with(dir, domain, Some(netns.0.clone()))
    }

    /// What the clients dial: the guests' forward, or the namespace's own
    /// loopback.
    pub fn url(&self) -> String {
        match self.netns {
            None => LOGIN_SERVER.to_string(),
            Some(_) => format!("https://127.0.0.1:{}", self.port),
        }
    }

    fn start_with(dir: &Path, domain: &str, netns: Option<String>) -> Headscale {
        std::fs::create_dir_all(dir).expect("mkdir headscale");
        let (crt, key) = (dir.join("tls.crt"), dir.join("tls.key"));
        ok(
            &sh(
                "openssl",
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:prime256v1",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=haimg test control server",
                    "-addext",
                    "subjectAltName=IP:10.0.2.101,IP:127.0.0.1",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-keyout",
                    key.to_str().expect("p"),
                    "-out",
                    crt.to_str().expect("p"),
                ],
            ),
            "openssl",
        );
        std::fs::write(
            dir.join("policy.hujson"),
            format!(
                "{{\n  \"tagOwners\": {{ \"tag:k3s\": [\"{USER}@\"] }},\n  \"acls\": [ {{ \"action\": \"accept\", \"src\": [\"*\"], \"dst\": [\"*:*\"] }} ]\n}}\n"
            ),
        )
        .expect("policy");
        let port = free_port();
        let stun = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .map(|a| a.port())
            .expect("free UDP port");
        let d = dir.display();
        let (server_url, derp_ip) = match netns {
            None => (LOGIN_SERVER.to_string(), "10.0.2.101"),
            Some(_) => (format!("https://127.0.0.1:{port}"), "127.0.0.1"),
        };
        // headscale needs a DERP map: its embedded DERP server, on the same
        // TLS listener (guests reach it as 10.0.2.101:443, the relay of last
        // resort; the cluster's peers meet directly on their LAN,
        // tests/tools/hub.py), STUN on a loopback port. Nothing listens on
        // any address but 127.0.0.1 or reaches out (no update check, no
        // public DERP map).
        let config = format!(
            r#"server_url: {server_url}
listen_addr: 127.0.0.1:{port}
metrics_listen_addr: 127.0.0.1:0
grpc_listen_addr: 127.0.0.1:0
grpc_allow_insecure: false
noise:
  private_key_path: {d}/noise_private.key
prefixes:
  v4: 100.64.0.0/10
  v6: fd7a:115c:a1e0::/48
  allocation: sequential
derp:
  server:
    enabled: true
    region_id: 999
    region_code: "haimg-test"
    region_name: "haimg test DERP"
    verify_clients: true
    stun_listen_addr: "127.0.0.1:{stun}"
    private_key_path: {d}/derp_server_private.key
    automatically_add_embedded_derp_region: true
    ipv4: {derp_ip}
  urls: []
  paths: []
  auto_update_enabled: false
disable_check_updates: true
database:
  type: sqlite
  sqlite:
    path: {d}/db.sqlite
    write_ahead_log: true
tls_cert_path: {d}/tls.crt
tls_key_path: {d}/tls.key
log:
  level: info
  format: text
policy:
  mode: file
  path: {d}/policy.hujson
dns:
  magic_dns: true
  base_domain: {domain}
  override_local_dns: false
  nameservers:
    global: []
unix_socket: {d}/headscale.sock
unix_socket_permission: "0770"
logtail:
  enabled: false
"#
        );
        std::fs::write(dir.join("config.yaml"), config).expect("config");
        let mut h = Headscale {
            child: None,
            dir: dir.to_path_buf(),
            port,
            netns,
        };
        h.up();
        let o = h.cmd(&["users", "create", USER]);
        ok(&o, "headscale users create");
        h
    }

    fn bin() -> PathBuf {
        tools().join(format!("headscale-{HEADSCALE_VERSION}-amd64/headscale"))
    }

    /// Start (or restart, same database and keys) the server; wait until it
    /// answers its health check.
    pub fn up(&mut self) {
        assert!(self.child.is_none(), "headscale already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("headscale.log"))
            .expect("log");
        let child = in_netns(self.netns.as_deref(), &Self::bin())
            .arg("-c")
            .arg(self.dir.join("config.yaml"))
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start headscale");
        self.child = Some(child);
        let t = Instant::now();
        loop {
            let o = self.cmd(&["health"]);
            if o.status.success() {
                return;
            }
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("headscale exited ({st}):\n{}", self.log());
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "headscale did not become healthy:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stop the server (the control plane goes down; its state is kept).
    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("tls.crt")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("headscale.log")).unwrap_or_default()
    }

    /// Run the headscale CLI against this server (through its socket).
    pub fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new(Self::bin())
            .arg("-c")
            .arg(self.dir.join("config.yaml"))
            .args(args)
            .output()
            .expect("headscale CLI")
    }

    /// The CLI's JSON answer (`-o json`), after asserting it succeeded.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.extend(["-o", "json"]);
        let out = ok(&self.cmd(&a), &format!("headscale {}", args.join(" ")));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("headscale {args:?}: {e}: {out}"))
    }

    fn user_id(&self) -> String {
        let users = self.json(&["users", "list"]);
        users
            .as_array()
            .and_then(|a| a.iter().find(|u| u["name"] == USER))
            .and_then(|u| u["id"].as_u64().or_else(|| u["id"].as_str()?.parse().ok()))
            .unwrap_or_else(|| panic!("no user {USER} in {users}"))
            .to_string()
    }

    /// A new pre-auth key: `reusable`, `ephemeral`, tagged `tag:k3s` when
    /// `tagged`, expiring after `expiration` (e.g. "1h").
    pub fn key(&self, reusable: bool, ephemeral: bool, tagged: bool, expiration: &str) -> String {
        let id = self.user_id();
        let mut a = vec!["preauthkeys", "create", "-u", &id, "-e", expiration];
        if reusable {
            a.push("--reusable");
        }
        if ephemeral {
            a.push("--ephemeral");
        }
        if tagged {
            a.extend(["--tags", "tag:k3s"]);
        }
        let k = self.json(&a);
        k["key"]
            .as_str()
            .unwrap_or_else(|| panic!("no key in {k}"))
            .to_string()
    }

    /// Expire (revoke) pre-auth key `key` now (headscale lists keys masked,
    /// "PREFIX-***": found by that prefix).
    pub fn expire(&self, key: &str) {
        let id = self
            .json(&["preauthkeys", "list"])
            .as_array()
            .and_then(|l| {
                l.iter()
                    .find(|k| {
                        k["key"].as_str().is_some_and(|m| {
                            key.starts_with(m.trim_end_matches('*').trim_end_matches('-'))
                        })
                    })
                    .and_then(|k| k["id"].as_u64())
            })
            .unwrap_or_else(|| panic!("no key like {key:.16} in headscale"));
        ok(
            &self.cmd(&["preauthkeys", "expire", "-i", &id.to_string()]),
            "headscale preauthkeys expire",
        );
    }

    /// The nodes headscale knows, as its CLI lists them.
    pub fn nodes(&self) -> Vec<serde_json::Value> {
        self.json(&["nodes", "list"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The node named `given` (headscale's given name = its MagicDNS name).
    pub fn node(&self, given: &str) -> Option<serde_json::Value> {
        self.nodes().into_iter().find(|n| n["given_name"] == given)
    }
}

impl Drop for Headscale {
    fn drop(&mut self) {
        self.down();
    }
}
