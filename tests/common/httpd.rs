//! The test HTTP(S) server, tests/tools/httpd.py, on 127.0.0.1 only: the
//! download tests' publisher (plain or TLS) and the user-data boot's
//! payload mirror.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use super::{ok, repo, sh, stdout};

/// A running server, stopped when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub root: PathBuf,
}

impl Server {
    /// Plain HTTP serving the files under `root`.
    pub fn start(root: &Path) -> Server {
        Server::spawn(root, &[])
    }

    /// HTTPS with a fresh self-signed certificate (made beside `root`).
    pub fn tls(root: &Path, secs: u32) -> Server {
        Server::tls_with(root, secs, &[])
    }

    fn tls_with(root: &Path, secs: u32, extra: &[&str]) -> Server {
        std::fs::create_dir_all(root).expect("mkdir");
        let key = root.with_extension("key");
        let crt = root.with_extension("crt");
        let (k, c) = (key.to_str().expect("p"), crt.to_str().expect("p"));
        ok(
            &sh(
                "openssl",
                &[
                    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=peer", "-keyout", k, "-out", c,
                ],
            ),
            "openssl",
        );
        let secs = secs.to_string();
        let mut args = vec!["--tls", c, k, "--lifetime", &secs];
        args.extend_from_slice(extra);
        Server::spawn(root, &args)
    }

    fn spawn(root: &Path, args: &[&str]) -> Server {
        let portfile = root.join(".port");
        let child = Command::new("python3")
            .arg(repo().join("tests/tools/httpd.py"))
            .arg(root)
            .arg(&portfile)
            .args(args)
            .spawn()
            .expect("start httpd.py");
        let t = Instant::now();
        while !portfile.exists() {
            assert!(t.elapsed() < Duration::from_secs(10), "httpd did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        let port = std::fs::read_to_string(&portfile)
            .expect("port")
            .trim()
            .parse()
            .expect("port number");
        Server {
            child,
            port,
            root: root.to_path_buf(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }

    pub fn get(&self, path: &str) -> String {
        let out = Command::new("python3")
            .arg("-c")
            .arg("import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode(), end='')")
            .arg(self.url(path))
            .output()
            .expect("python3");
        stdout(&out)
    }

    /// How many GETs were served (of anything but /count and /log).
    pub fn count(&self) -> u32 {
        self.get("count").parse().expect("count")
    }

    pub fn log(&self) -> String {
        self.get("log")
    }

    pub fn put(&self, name: &str, data: &[u8]) {
        std::fs::write(self.root.join(name), data).expect("write fixture");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
