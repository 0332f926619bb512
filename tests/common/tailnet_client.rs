//! Host-side tailnet clients for the tests: real tailscaled in userspace
//! networking, and headscale with them, inside a network namespace of the
//! test's own (only its loopback), so they reach nothing but each other.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tailnet::{TAILSCALE_VERSION, tools};
use super::{ok, sh};

/// A command, run inside network namespace `netns` when one is given.
pub fn in_netns(netns: Option<&str>, program: &Path) -> Command {
    match netns {
        None => Command::new(program),
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(program);
            c
        }
    }
}

/// A network namespace of the test's own: its loopback, and a veth pair
/// whose both ends stay inside it, with a TEST-NET-1 address (RFC 5737) and
/// the default route. tailscaled pauses its control client while no
/// interface but loopback is up ("control: setPaused(true)"); with the
/// pair it runs, and whatever it sends beyond loopback dies on the pair: no
/// probe of the machine's gateway, no DNS, no internet. Deleted when dropped.
pub struct Netns(pub String);

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("haimg-{tag}-{}", std::process::id());
        ok(&sh("ip", &["netns", "add", &name]), "ip netns add");
        let ns = Netns(name);
        for cmd in [
            "ip link set lo up",
            "ip link add hv0 type veth peer name hv1",
            "ip addr add 192.0.2.1/24 dev hv0",
            "ip link set hv0 up",
            "ip link set hv1 up",
            "ip route add default dev hv0",
        ] {
            let mut args = vec!["netns", "exec", &ns.0];
            args.extend(cmd.split(' '));
            ok(&sh("ip", &args), cmd);
        }
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh("ip", &["netns", "delete", &self.0]);
    }
}

/// A real tailscaled on the host, in userspace networking inside a
/// [`Netns`], trusting `ca`; and its CLI. Stopped when dropped.
pub struct Client {
    child: Option<Child>,
    dir: PathBuf,
    netns: String,
    ca: PathBuf,
}

impl Client {
    pub fn start(dir: &Path, netns: &Netns, ca: &Path) -> Client {
        std::fs::create_dir_all(dir.join("ca")).expect("mkdir client");
        std::fs::copy(ca, dir.join("ca/ca.pem")).expect("copy CA");
        let mut c = Client {
            child: None,
            dir: dir.to_path_buf(),
            netns: netns.0.clone(),
            ca: dir.join("ca"),
        };
        c.up();
        c
    }

    fn bin(name: &str) -> PathBuf {
        tools()
            .join(format!("tailscale-{TAILSCALE_VERSION}-amd64"))
            .join(name)
    }

    /// (Re)start the daemon on its state folder.
    pub fn up(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tailscaled.log"))
            .expect("log");
        let child = in_netns(Some(&self.netns), &Self::bin("tailscaled"))
            .env("SSL_CERT_DIR", &self.ca)
            .arg("--tun=userspace-networking")
            .arg(format!("--statedir={}", self.dir.display()))
            .arg(format!("--socket={}", self.socket().display()))
            .args(["--port=0", "--no-logs-no-support"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("tailscaled");
        self.child = Some(child);
        let t = Instant::now();
        while !self.socket().exists() {
            assert!(
                t.elapsed() < Duration::from_secs(30),
                "tailscaled did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn down(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("tailscaled.sock")
    }

    /// A folder with a `tailscale` on PATH that talks to this daemon, for
    /// running haimg's own node scripts against it.
    pub fn cli_dir(&self) -> PathBuf {
        let d = self.dir.join("bin");
        std::fs::create_dir_all(&d).expect("mkdir bin");
        let w = d.join("tailscale");
        std::fs::write(
            &w,
            format!(
                "#!/bin/sh\nexec {} --socket={} \"$@\"\n",
                Self::bin("tailscale").display(),
                self.socket().display()
            ),
        )
        .expect("wrapper");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        d
    }

    /// `tailscale ARGS` against this daemon.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        Command::new(Self::bin("tailscale"))
            .arg(format!("--socket={}", self.socket().display()))
            .args(args)
            .output()
            .expect("tailscale")
    }

    /// `tailscale status --json`.
    pub fn status(&self) -> serde_json::Value {
        let o = self.cli(&["status", "--json"]);
        serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.down();
    }
}
