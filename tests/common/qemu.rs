//! QEMU guests for the boot tests, under TCG (KVM fails with OVMF on these
//! machines): x86_64 under OVMF, or aarch64 `-M virt` booting a kernel and
//! initrd directly; the serial console goes to a log file that is kept.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::repo;

pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// How long one boot may take to reach "first boot done" under TCG.
pub const BOOT_LIMIT: Duration = Duration::from_secs(900);

pub struct Vm {
    child: Child,
    log: PathBuf,
    qmp: PathBuf,
    _vars: tempfile::NamedTempFile,
}

/// What the guest's user-mode network forwards to servers on 127.0.0.1;
/// with restrict=on the guest reaches nothing else.
#[derive(Debug, Default, Clone, Copy)]
pub struct Net {
    /// The guest's 10.0.2.100:6443: a K3s peer answering /ping.
    pub peer: Option<u16>,
    /// The guest's 10.0.2.101:443: the Tailscale control server (headscale,
    /// tests/common/tailnet.rs) the nodes log in to
    /// (`login_server = "https://10.0.2.101"`).
    pub control: Option<u16>,
    /// The guest's 10.0.2.102:80: a plain HTTP server (the payload a VM made
    /// from user-data downloads).
    pub files: Option<u16>,
    /// A second NIC on tests/tools/hub.py (the guests' shared LAN, with
    /// DHCP: the tailnet's direct paths), one CPU, and no power-off after
    /// first boot: a guest of the cluster test.
    pub lan: Option<Lan>,
}

/// A guest's place on the hub: its ports (a line of hub.py's port file) and
/// the last byte of its MAC, 52:54:00:77:00:NN.
#[derive(Debug, Clone, Copy)]
pub struct Lan {
    pub hub: u16,
    pub guest: u16,
    pub nn: u8,
}

/// The address the test network gives peers (see [`Net::peer`]).
pub const PEER_ADDR: &str = "10.0.2.100";

impl Vm {
    /// Boot `disk` (and `extra` disks) under OVMF.
    pub fn start(disk: &Path, extra: &[&Path], net: Net, log: &Path) -> Vm {
        Vm::start_with(disk, extra, net, log, None)
    }

    /// `arm`: the kernel, initrd and command line for a direct-kernel boot of
    /// `qemu-system-aarch64 -M virt`; `None`: x86_64 under OVMF.
    pub fn start_with(
        disk: &Path,
        extra: &[&Path],
        net: Net,
        log: &Path,
        arm: Option<(&Path, &Path, &str)>,
    ) -> Vm {
        let vars = tempfile::NamedTempFile::new().expect("vars");
        std::fs::copy(OVMF_VARS, vars.path()).expect("copy OVMF vars");
        let qmp = log.with_extension("qmp");
        let _ = std::fs::remove_file(&qmp);
        // restrict=on: the guest reaches nothing but the forwarded ports.
        let mut nic = String::from("user,model=virtio-net-pci,restrict=on");
        // One relay process per guest connection (tests/tools/relay.py).
        let relay = repo().join("tests/tools/relay.py");
        let fwd = |guest: &str, port: u16| {
            format!(
                ",guestfwd=tcp:{guest}-cmd:python3 {} {port}",
                relay.display()
            )
        };
        if let Some(p) = net.peer {
            nic.push_str(&fwd(&format!("{PEER_ADDR}:6443"), p));
        }
        if let Some(p) = net.control {
            nic.push_str(&fwd("10.0.2.101:443", p));
        }
        if let Some(p) = net.files {
            nic.push_str(&fwd("10.0.2.102:80", p));
        }
        // TCG (KVM fails with OVMF here), 1.5 GiB, two CPUs (one for the
        // cluster test's three guests, which share the host), serial console.
        let cpus = if net.lan.is_some() { "1" } else { "2" };
        let common = [
            "-accel",
            "tcg",
            "-m",
            "1536",
            "-smp",
            cpus,
            "-nographic",
            "-no-reboot",
        ];
        let mut c;
        match arm {
            None => {
                c = Command::new("qemu-system-x86_64");
                c.args(["-machine", "q35"])
                    .args(common)
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
                c.args(["-M", "virt", "-cpu", "cortex-a72"])
                    .args(common)
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
        if let Some(l) = net.lan {
            c.arg("-netdev")
                .arg(format!(
                    "socket,id=lan,udp=127.0.0.1:{},localaddr=127.0.0.1:{}",
                    l.hub, l.guest
                ))
                .arg("-device")
                .arg(format!(
                    "virtio-net-pci,netdev=lan,mac=52:54:00:77:00:{:02x}",
                    l.nn
                ))
                // Read by the k3s stand-in: keep running after first boot.
                .args(["-smbios", "type=11,value=haimg-standin:stay-up"]);
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

    pub fn console(&self) -> String {
        let raw = std::fs::read(&self.log).unwrap_or_default();
        String::from_utf8_lossy(&raw).into_owned()
    }

    /// Wait until the console shows `want`; fail early on `haimg: …: failed`.
    pub fn wait_for(&mut self, want: &str, limit: Duration) -> String {
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
    pub fn power_down(mut self) {
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

    pub fn press_power(&self) {
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

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn tail(s: &str) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

/// Every line of `steps` is on the console (else the console's tail shows why).
pub fn expect_steps(console: &str, steps: &[&str]) {
    for step in steps {
        assert!(
            console.contains(step),
            "console lacks {step:?}\n{}",
            tail(console)
        );
    }
}

/// Console logs are kept here, so a failed run can be read afterwards.
pub fn log_path(name: &str) -> PathBuf {
    let d = repo().join("target/boot-test");
    std::fs::create_dir_all(&d).expect("log dir");
    d.join(format!("{name}.log"))
}

/// A Pi image booted as its firmware would load it, on QEMU's virt board:
/// the kernel, initrd and cmdline.txt read from its FAT partition (`kernel`
/// and `initrd` name them there), serial0 as ttyAMA0. `disk` is the image
/// flashed onto a 5 GB disk. Returns the running guest and the cmdline.
pub fn start_pi(
    dir: &Path,
    img: &Path,
    files: (&str, &str),
    disk: &Path,
    net: Net,
    name: &str,
) -> (Vm, String) {
    let boot = dir.join("boot.part");
    super::image::partition(img, 1, &boot);
    let get = |f: &str| {
        let p = dir.join(f);
        super::ok(
            &super::sh(
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
    let (kernel, initrd) = (get(files.0), get(files.1));
    let cmdline = std::fs::read_to_string(get("cmdline.txt")).expect("cmdline");
    // serial0 is the Pi's UART; on QEMU's virt board it is ttyAMA0.
    let append = cmdline
        .trim()
        .replace("console=serial0,115200", "console=ttyAMA0,115200")
        .replace("console=tty1 ", "");
    super::image::flash(img, disk, "5G");
    let vm = Vm::start_with(
        disk,
        &[],
        net,
        &log_path(name),
        Some((&kernel, &initrd, &append)),
    );
    (vm, cmdline)
}
