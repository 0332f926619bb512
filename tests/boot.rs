//! The boot test: images built by `haimg build` from a Debian base boot in QEMU
//! (TCG: KVM fails with OVMF on these machines) and first boot is asserted
//! from the serial console, then from the disk after a clean power-down.
//! k3s and tailscale are the stand-ins under tests/standins/.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// How long one boot may take to reach "first boot done" under TCG.
const BOOT_LIMIT: Duration = Duration::from_secs(900);

fn ready() {
    need(&[
        "qemu-system-x86_64",
        "/usr/share/OVMF/OVMF_CODE_4M.fd",
        "/usr/share/OVMF/OVMF_VARS_4M.fd",
        "mmdebstrap",
        "sfdisk",
        "debugfs",
        "mtype",
        "mcopy",
        "mdir",
        "blkid",
        "mkfs.ext4",
        "openssl",
        "python3",
    ]);
}

/// The one amd64 base every x86_64 boot test shares (one cache entry):
/// haimg adds its required packages; the test adds only the kernel. QEMU's
/// virtio disk needs only these modules in the initramfs.
const AMD64_BASE: &str = r#"[base]
kind = "debian"
suite = "bookworm"
packages = ["linux-image-cloud-amd64"]
initramfs_modules = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"]
"#;

/// The one arm64 base, made under qemu-user emulation: Debian's default
/// initramfs (MODULES=most) would cost most of its time there.
const ARM64_BASE: &str = r#"[base]
kind = "debian"
suite = "bookworm"
components = ["main", "non-free-firmware"]
packages = ["linux-image-arm64"]
initramfs_modules = ["virtio_pci", "virtio_blk", "ext4", "crc32c_generic"]
"#;

/// Makes (once; cached by its spec in the haimg cache) the base that every
/// boot test of this profile shares, exactly as `haimg build` would, and
/// checks that it holds what haimg requires of every base.
fn shared_base(profile: &str, base: &str) -> PathBuf {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    write_files(
        dir,
        &[
            (
                "cluster.toml",
                "name = \"bases\"\ntailnet = \"boot-net.ts.net\"\nnodes = [\"b.toml\"]\n[[server]]\nname = \"b\"\nbootstrap = true\n".to_string(),
            ),
            (
                "b.toml",
                format!("cluster = \"cluster.toml\"\nhostname = \"b\"\nprofile = \"{profile}\"\n{base}"),
            ),
        ],
    );
    write_secrets(dir);
    let t = Instant::now();
    let o = haimg()
        .args(["fetch", "b.toml", "-q"])
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(dir)
        .output()
        .expect("haimg");
    let out = ok(&o, "haimg fetch");
    eprintln!("boot test: {profile} base ready in {:.0?}", t.elapsed());
    let tar = PathBuf::from(
        out.lines()
            .find_map(|l| l.strip_prefix("b: base "))
            .unwrap_or_else(|| panic!("no base path in {out:?}")),
    );
    let list = ok(&sh("tar", &["-tf", tar.to_str().expect("p")]), "tar -t");
    // One file of each package haimg requires (plan/packages.rs), and the
    // initramfs setting that keeps the emulated build short.
    for f in [
        "./usr/lib/systemd/systemd-timesyncd",
        "./usr/lib/systemd/systemd-resolved",
        "./usr/bin/dbus-daemon",
        "./usr/bin/sudo",
        "./usr/sbin/useradd",
        "./usr/sbin/iscsid",
        "./usr/sbin/mount.nfs",
        "./usr/sbin/sshd",
        "./usr/sbin/sfdisk",
        "./usr/bin/curl",
        "./etc/initramfs-tools/conf.d/haimg",
        "./usr/share/initramfs-tools/modules.d/haimg",
    ] {
        assert!(list.lines().any(|l| l == f), "the {profile} base lacks {f}");
    }
    assert!(
        list.lines().any(|l| l.starts_with("./boot/initrd.img-")),
        "no initramfs"
    );
    tar
}

const EPOCH: &str = "1704067200";

#[test]
fn bases_amd64() {
    ready();
    shared_base("x86_64-uefi", AMD64_BASE);
}

#[test]
fn bases_arm64() {
    ready();
    need(&["arch-test", "/proc/sys/fs/binfmt_misc/qemu-aarch64"]);
    shared_base("rpi4", ARM64_BASE);
}

/// The cluster of the boot test: three x86_64 servers; `one` bootstraps.
fn cluster(dir: &Path, data: &str) {
    let cluster = r#"name = "boot"
tailnet = "boot-net.ts.net"
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
disable = ["traefik"]
[tailscale]
tags = ["tag:k3s"]
"#;
    let node = |h: &str, data: &str| {
        format!(
            r#"cluster = "cluster.toml"
hostname = "{h}"
profile = "test-uefi.toml"
{AMD64_BASE}[storage]
{data}
[[user]]
name = "admin"
groups = ["sudo"]
ssh_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHaimgBootTestKeyAAAAAAAAAAAAAAAAAAAAAAA boot@test"]
"#
        )
    };
    // Small root, so the disk keeps room for the data partition.
    let profile = std::fs::read_to_string(repo().join("profiles/x86_64-uefi.toml"))
        .expect("profile")
        .replace("root_size_mib = 8192", "root_size_mib = 2048")
        .replace("boot_size_mib = 512", "boot_size_mib = 256");
    write_files(
        dir,
        &[
            ("cluster.toml", cluster.to_string()),
            ("test-uefi.toml", profile),
            ("one.toml", node("one", data)),
            ("two.toml", node("two", "data = \"rest\"")),
            ("w.toml", node("w", "data = \"none\"")),
        ],
    );
    write_secrets(dir);
}

fn build(dir: &Path, node: &str, out: &str) -> PathBuf {
    let t = Instant::now();
    let o = haimg()
        .args([
            "build",
            &format!("{node}.toml"),
            "--out",
            out,
            "-q",
            "--payload",
        ])
        .arg(repo().join("tests/standins"))
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .current_dir(dir)
        .output()
        .expect("haimg");
    ok(&o, "haimg build");
    eprintln!("boot test: built {node} in {:.0?}", t.elapsed());
    dir.join(out).join(format!("{node}.img"))
}

struct Vm {
    child: Child,
    log: PathBuf,
    qmp: PathBuf,
    _vars: tempfile::NamedTempFile,
}

impl Vm {
    /// Boot `disk` (and `extra` disks) under OVMF. `peer_port`: where the
    /// guest's 10.0.2.100:6443 leads on this machine (a peer answering /ping).
    fn start(disk: &Path, extra: &[&Path], peer_port: Option<u16>, log: &Path) -> Vm {
        Vm::start_with(disk, extra, peer_port, log, None)
    }

    /// `arm`: the kernel, initrd and command line for a direct-kernel boot of
    /// `qemu-system-aarch64 -M virt`; `None`: x86_64 under OVMF.
    fn start_with(
        disk: &Path,
        extra: &[&Path],
        peer_port: Option<u16>,
        log: &Path,
        arm: Option<(&Path, &Path, &str)>,
    ) -> Vm {
        let vars = tempfile::NamedTempFile::new().expect("vars");
        std::fs::copy(OVMF_VARS, vars.path()).expect("copy OVMF vars");
        let qmp = log.with_extension("qmp");
        let _ = std::fs::remove_file(&qmp);
        // restrict=on: the guest reaches nothing but the forwarded peer port.
        let mut nic = String::from("user,model=virtio-net-pci,restrict=on");
        if let Some(p) = peer_port {
            nic.push_str(&format!(",guestfwd=tcp:10.0.2.100:6443-tcp:127.0.0.1:{p}"));
        }
        let mut c;
        match arm {
            None => {
                c = Command::new("qemu-system-x86_64");
                c.args([
                    "-machine",
                    "q35",
                    "-accel",
                    "tcg",
                    "-m",
                    "1536",
                    "-smp",
                    "2",
                    "-nographic",
                    "-no-reboot",
                ])
                .arg("-drive")
                .arg(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"))
                .arg("-drive")
                .arg(format!(
                    "if=pflash,format=raw,file={}",
                    vars.path().display()
                ));
            }
            Some((kernel, initrd, append)) => {
                c = Command::new("qemu-system-aarch64");
                c.args([
                    "-M",
                    "virt",
                    "-cpu",
                    "cortex-a72",
                    "-accel",
                    "tcg",
                    "-m",
                    "1536",
                    "-smp",
                    "2",
                    "-nographic",
                    "-no-reboot",
                ])
                .arg("-kernel")
                .arg(kernel)
                .arg("-initrd")
                .arg(initrd)
                .args(["-append", append]);
            }
        }
        c.arg("-drive")
            .arg(format!("file={},format=raw,if=virtio", disk.display()));
        for d in extra {
            c.arg("-drive")
                .arg(format!("file={},format=raw,if=virtio", d.display()));
        }
        c.args(["-nic", &nic])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(log).expect("log"))
            .stderr(Stdio::inherit());
        Vm {
            child: c.spawn().expect("qemu"),
            log: log.to_path_buf(),
            qmp,
            _vars: vars,
        }
    }

    fn console(&self) -> String {
        let raw = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&raw).into_owned()
    }

    /// Wait until the console shows `want`; fail early on `haimg: …: failed`.
    fn wait_for(&mut self, want: &str, limit: Duration) -> String {
        let t = Instant::now();
        loop {
            let text = self.console();
            if text.contains(want) {
                return text;
            }
            if let Some(line) = text
                .lines()
                .find(|l| l.contains("haimg: ") && l.contains(": failed:"))
            {
                self.kill();
                panic!(
                    "first boot failed: {line}\n--- console tail:\n{}",
                    tail(&text)
                );
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "qemu exited ({st}) before {want:?}\n--- console tail:\n{}",
                    tail(&text)
                );
            }
            if t.elapsed() > limit {
                self.kill();
                panic!(
                    "no {want:?} within {limit:?}\n--- console tail:\n{}",
                    tail(&text)
                );
            }
            std::thread::sleep(Duration::from_secs(2));
        }
    }

    /// Wait for the guest to power off (the k3s stand-in does it after first
    /// boot); press the ACPI button every 15 s too, for bases with logind.
    fn power_down(mut self) {
        let t = Instant::now();
        let mut pressed: Option<Instant> = None;
        while t.elapsed() < Duration::from_secs(240) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            if pressed.is_none_or(|p| p.elapsed() > Duration::from_secs(15)) {
                self.press_power();
                pressed = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        self.kill();
        panic!("the guest did not power down\n{}", tail(&self.console()));
    }

    fn press_power(&self) {
        if let Ok(mut s) = UnixStream::connect(&self.qmp) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut r = BufReader::new(s.try_clone().expect("clone"));
            let mut line = String::new();
            let _ = r.read_line(&mut line); // greeting
            let _ = s.write_all(b"{\"execute\":\"qmp_capabilities\"}\n");
            let _ = r.read_line(&mut line);
            let _ = s.write_all(b"{\"execute\":\"system_powerdown\"}\n");
            let _ = r.read_line(&mut line);
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Copy a partition out of a disk image (offsets from sfdisk) for debugfs.
fn partition(img: &Path, n: usize, out: &Path) {
    let pt: serde_json::Value = serde_json::from_str(&ok(
        &sh("sfdisk", &["-J", img.to_str().expect("p")]),
        "sfdisk",
    ))
    .expect("json");
    let p = &pt["partitiontable"]["partitions"][n - 1];
    let (start, size) = (
        p["start"].as_u64().expect("start"),
        p["size"].as_u64().expect("size"),
    );
    ok(
        &sh(
            "dd",
            &[
                &format!("if={}", img.display()),
                &format!("of={}", out.display()),
                "bs=512",
                &format!("skip={start}"),
                &format!("count={size}"),
                "conv=sparse",
                "status=none",
            ],
        ),
        "dd",
    );
}

fn debugfs(part: &Path, cmd: &str) -> String {
    stdout(&sh("debugfs", &["-R", cmd, part.to_str().expect("p")]))
}

/// A host-side "peer": HTTPS on 127.0.0.1 answering /ping with pong.
struct Peer {
    child: Child,
    port: u16,
}

impl Peer {
    fn start(dir: &Path) -> Peer {
        let key = dir.join("peer.key");
        let crt = dir.join("peer.crt");
        ok(
            &sh(
                "openssl",
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "1",
                    "-subj",
                    "/CN=peer",
                    "-keyout",
                    key.to_str().expect("p"),
                    "-out",
                    crt.to_str().expect("p"),
                ],
            ),
            "openssl",
        );
        let portfile = dir.join("peer.port");
        let script = r#"
import http.server, ssl, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_GET(self):
        body = b"pong" if self.path == "/ping" else b"no"
        self.send_response(200 if self.path == "/ping" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(sys.argv[3], "w").write(str(srv.server_address[1]))
threading.Timer(1800, srv.shutdown).start()
srv.serve_forever()
"#;
        let child = Command::new("python3")
            .arg("-c")
            .arg(script)
            .args([&crt, &key, &portfile])
            .spawn()
            .expect("peer");
        let t = Instant::now();
        while std::fs::read_to_string(&portfile)
            .map(|s| s.is_empty())
            .unwrap_or(true)
        {
            assert!(t.elapsed() < Duration::from_secs(10), "peer did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let port = std::fs::read_to_string(&portfile)
            .expect("port")
            .trim()
            .parse()
            .expect("port");
        Peer { child, port }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// "Flash" an image onto a disk file, growing it to `size` (empty: as is)
/// so first boot finds free space for the data partition.
fn flash(img: &Path, disk: &Path, size: &str) {
    let (img, disk) = (img.to_str().expect("p"), disk.to_str().expect("p"));
    ok(&sh("cp", &["--sparse=always", img, disk]), "cp");
    if !size.is_empty() {
        ok(&sh("truncate", &["-s", size, disk]), "truncate");
    }
}

/// Console logs are kept here, so a failed run can be read afterwards.
fn log_path(name: &str) -> PathBuf {
    let d = repo().join("target/boot-test");
    std::fs::create_dir_all(&d).expect("log dir");
    d.join(format!("{name}.log"))
}

fn boot_until_done(
    disk: &Path,
    extra: &[&Path],
    peer: Option<u16>,
    log: &Path,
    name: &str,
) -> String {
    let t = Instant::now();
    let mut vm = Vm::start(disk, extra, peer, log);
    let console = vm.wait_for("haimg: first boot done", BOOT_LIMIT);
    eprintln!(
        "boot test: {name}: boot to \"first boot done\" in {:.0?}",
        t.elapsed()
    );
    vm.power_down();
    console
}

#[test]
fn x86_64_first_boot_scenarios() {
    ready();
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    cluster(dir, "data = \"rest\"");

    // Scenario 1: the bootstrap server's full first boot.
    let img = build(dir, "one", "out");
    // Before boot: no identity in the image.
    let root0 = dir.join("root0.part");
    partition(&img, 2, &root0);
    assert_eq!(debugfs(&root0, "cat /etc/machine-id"), "uninitialized\n");
    assert!(!debugfs(&root0, "ls /etc/ssh").contains("ssh_host_ed25519_key"));
    // Flash it onto a larger "SSD": the data partition goes in the rest.
    let disk = dir.join("ssd.img");
    flash(&img, &disk, "6G");
    let console = boot_until_done(
        &disk,
        &[],
        None,
        &log_path("x86-boot1"),
        "bootstrap first boot",
    );
    for step in [
        "haimg: prepare: ok",
        "haimg: storage: ok",
        "haimg: payload: ok",
        "haimg: tailscale: ok",
        "creating the cluster",
        "haimg: scrub: ok",
    ] {
        assert!(
            console.contains(step),
            "console lacks {step:?}\n{}",
            tail(&console)
        );
    }
    assert!(
        console.contains("formatted blank"),
        "the data partition must be made on first boot"
    );

    // The disk after power-down, through independent tools.
    let pt = ok(&sh("sfdisk", &["-d", disk.to_str().expect("p")]), "sfdisk");
    assert_eq!(
        pt.lines().filter(|l| l.contains(" : start=")).count(),
        3,
        "{pt}"
    );
    let data = dir.join("data.part");
    partition(&disk, 3, &data);
    let blk = ok(
        &sh("blkid", &["-p", "-o", "export", data.to_str().expect("p")]),
        "blkid",
    );
    assert!(
        blk.contains("TYPE=ext4") && blk.contains("LABEL=k3s-storage"),
        "{blk}"
    );
    let root = dir.join("root.part");
    partition(&disk, 2, &root);
    let esp = dir.join("esp.part");
    partition(&disk, 1, &esp);
    let secrets = stdout(&sh(
        "mdir",
        &["-i", esp.to_str().expect("p"), "-b", "::haimg/secrets"],
    ));
    assert!(
        !secrets.contains("k3s-token") && !secrets.contains("tailscale-authkey"),
        "secrets left on the ESP: {secrets}"
    );
    let mid = debugfs(&root, "cat /etc/machine-id");
    assert!(
        mid.trim().len() == 32 && mid.trim() != "uninitialized",
        "machine-id {mid:?}"
    );
    assert!(
        debugfs(&root, "ls /etc/ssh").contains("ssh_host_ed25519_key"),
        "host keys made on the node"
    );
    let ts = debugfs(&root, "cat /var/lib/haimg-standin/tailscale-up.args");
    assert!(
        ts.contains("--auth-key=file:/boot/efi/haimg/secrets/tailscale-authkey")
            && ts.contains("--hostname=one"),
        "{ts}"
    );
    assert_eq!(
        debugfs(&root, "cat /var/lib/haimg-standin/authkey-seen").trim(),
        AUTHKEY
    );
    let k3s = debugfs(&root, "cat /var/lib/haimg-standin/k3s.run");
    assert!(
        k3s.starts_with("args: server\ntailscale0: up\n"),
        "K3s must start after tailscale0 has its address:\n{k3s}"
    );
    assert!(
        k3s.contains("cluster-init: true") && !k3s.contains("config.yaml.d"),
        "{k3s}"
    );
    assert!(debugfs(&root, "cat /var/lib/haimg/status").contains("role=bootstrap"));
    let fstab = debugfs(&root, "cat /etc/fstab");
    assert!(fstab.contains("/mnt/k3s-storage ext4"), "{fstab}");
    // The K3s token stays on the root disk where K3s reads it.
    assert_eq!(debugfs(&root, "cat /etc/rancher/k3s/token").trim(), TOKEN);
    let starts = debugfs(&data, "cat /k3s/standin-starts");
    assert_eq!(starts.lines().count(), 1, "{starts}");

    // Scenario 2: a second boot of the same disk: nothing re-made, data kept.
    let console = boot_until_done_again(&disk, &log_path("x86-boot2"));
    assert!(
        !console.contains("formatted blank"),
        "second boot must not format"
    );
    partition(&disk, 3, &data);
    assert_eq!(
        debugfs(&data, "cat /k3s/standin-starts").lines().count(),
        2,
        "data from the first boot kept"
    );

    // Scenario 3: re-flash of the bootstrap server while a peer answers /ping.
    let peer = Peer::start(dir);
    let disk3 = dir.join("reflash.img");
    flash(&img, &disk3, "6G");
    let console = boot_until_done(
        &disk3,
        &[],
        Some(peer.port),
        &log_path("x86-reflash"),
        "re-flashed bootstrap",
    );
    assert!(
        console.contains("answers, joining the existing cluster"),
        "{}",
        tail(&console)
    );
    partition(&disk3, 2, &root);
    let k3s = debugfs(&root, "cat /var/lib/haimg-standin/k3s.run");
    assert!(
        k3s.contains("cluster-init: false")
            && k3s.contains("server: https://two.boot-net.ts.net:6443"),
        "{k3s}"
    );
    drop(peer);

    // Scenario 4: a second disk that already holds ext4 and a file.
    cluster(dir, "data = \"device\"\ndevice = \"/dev/vdb\"");
    let img4 = build(dir, "one", "out4");
    let disk4 = dir.join("dev.img");
    flash(&img4, &disk4, "");
    let second = dir.join("second.img");
    ok(
        &sh("truncate", &["-s", "1G", second.to_str().expect("p")]),
        "truncate",
    );
    ok(
        &sh(
            "mkfs.ext4",
            &["-q", "-L", "precious", second.to_str().expect("p")],
        ),
        "mkfs.ext4",
    );
    let note = dir.join("note");
    std::fs::write(&note, "keep me\n").expect("note");
    ok(
        &sh(
            "debugfs",
            &[
                "-w",
                "-R",
                &format!("write {} note", note.display()),
                second.to_str().expect("p"),
            ],
        ),
        "debugfs write",
    );
    let console = boot_until_done(
        &disk4,
        &[&second],
        None,
        &log_path("x86-second-disk"),
        "existing second disk",
    );
    assert!(
        console.contains("already holds ext4: mounting it as it is"),
        "{}",
        tail(&console)
    );
    assert_eq!(debugfs(&second, "cat /note"), "keep me\n");
    let blk = ok(
        &sh(
            "blkid",
            &["-p", "-o", "export", second.to_str().expect("p")],
        ),
        "blkid",
    );
    assert!(blk.contains("LABEL=precious"), "not re-formatted: {blk}");
}

/// A later boot prints "first boot already completed" instead.
fn boot_until_done_again(disk: &Path, log: &Path) -> String {
    let t = Instant::now();
    let mut vm = Vm::start(disk, &[], None, log);
    let console = vm.wait_for(
        "haimg: scrub: skipped: first boot already completed",
        BOOT_LIMIT,
    );
    eprintln!("boot test: second boot in {:.0?}", t.elapsed());
    vm.power_down();
    console
}

#[test]
fn rpi4_arm64_first_boot() {
    ready();
    need(&[
        "qemu-system-aarch64",
        "arch-test",
        "/proc/sys/fs/binfmt_misc/qemu-aarch64",
    ]);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let profile = std::fs::read_to_string(repo().join("profiles/rpi4.toml"))
        .expect("profile")
        .replace("root_size_mib = 8192", "root_size_mib = 2048");
    let node = format!(
        r#"cluster = "cluster.toml"
hostname = "pi"
profile = "test-rpi4.toml"
{ARM64_BASE}"#
    );
    write_files(dir, &[
        ("cluster.toml", "name = \"boot\"\ntailnet = \"boot-net.ts.net\"\nnodes = [\"pi.toml\"]\n[[server]]\nname = \"pi\"\nbootstrap = true\n".to_string()),
        ("test-rpi4.toml", profile),
        ("pi.toml", node),
    ]);
    write_secrets(dir);
    let img = build(dir, "pi", "out");
    // The Pi's boot files, as its firmware would load them.
    let boot = dir.join("boot.part");
    partition(&img, 1, &boot);
    let get = |f: &str| {
        let p = dir.join(f);
        ok(
            &sh(
                "mcopy",
                &[
                    "-n",
                    "-i",
                    boot.to_str().expect("p"),
                    &format!("::{f}"),
                    p.to_str().expect("p"),
                ],
            ),
            "mcopy",
        );
        p
    };
    let (kernel, initrd) = (get("vmlinuz"), get("initrd.img"));
    let cmdline = std::fs::read_to_string(get("cmdline.txt")).expect("cmdline");
    assert!(cmdline.contains("cgroup_enable=memory"));
    // serial0 is the Pi's UART; on QEMU's virt board it is ttyAMA0.
    let append = cmdline
        .trim()
        .replace("console=serial0,115200", "console=ttyAMA0,115200")
        .replace("console=tty1 ", "");
    let disk = dir.join("ssd.img");
    flash(&img, &disk, "5G");
    let t = Instant::now();
    let mut vm = Vm::start_with(
        &disk,
        &[],
        None,
        &log_path("rpi4-arm64"),
        Some((&kernel, &initrd, &append)),
    );
    let console = vm.wait_for("haimg: first boot done", BOOT_LIMIT);
    eprintln!(
        "boot test: rpi4 arm64: boot to \"first boot done\" in {:.0?}",
        t.elapsed()
    );
    vm.power_down();
    for step in [
        "haimg: prepare: ok",
        "formatted blank",
        "haimg: payload: ok",
        "haimg: tailscale: ok",
        "creating the cluster",
        "haimg: scrub: ok",
    ] {
        assert!(
            console.contains(step),
            "console lacks {step:?}\n{}",
            tail(&console)
        );
    }
    let pt = ok(&sh("sfdisk", &["-d", disk.to_str().expect("p")]), "sfdisk");
    assert!(
        pt.contains("label: dos") && pt.lines().filter(|l| l.contains(" : start=")).count() == 3,
        "{pt}"
    );
    let data = dir.join("data.part");
    partition(&disk, 3, &data);
    assert!(
        ok(
            &sh("blkid", &["-p", "-o", "export", data.to_str().expect("p")]),
            "blkid"
        )
        .contains("LABEL=k3s-storage")
    );
    partition(&disk, 1, &boot);
    let secrets = stdout(&sh(
        "mdir",
        &["-i", boot.to_str().expect("p"), "-b", "::haimg/secrets"],
    ));
    assert!(
        !secrets.contains("k3s-token") && !secrets.contains("tailscale-authkey"),
        "{secrets}"
    );
    let root = dir.join("root.part");
    partition(&disk, 2, &root);
    let k3s = debugfs(&root, "cat /var/lib/haimg-standin/k3s.run");
    assert!(
        k3s.starts_with("args: server\ntailscale0: up\n") && k3s.contains("cluster-init: true"),
        "{k3s}"
    );
    let ts = debugfs(&root, "cat /var/lib/haimg-standin/tailscale-up.args");
    assert!(
        ts.contains("--auth-key=file:/boot/firmware/haimg/secrets/tailscale-authkey")
            && ts.contains("--hostname=pi"),
        "{ts}"
    );
}
