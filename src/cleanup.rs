//! Ctrl-C, SIGTERM or SIGHUP at any point of any command: what the command
//! had half-written (a temporary image, a capture folder, a bootstrap
//! tarball, a render folder) is removed and the programs it started are
//! stopped before haimg exits with 130. Normal runs remove their temporary
//! files themselves (tempfile deletes on drop); a signal skips destructors,
//! hence this registry. Ground floor: uses nothing else of haimg.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static WIPES: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static STOPPING: AtomicBool = AtomicBool::new(false);

/// Bytes zeroed at the start of a disk whose writing was interrupted: the
/// MBR, the primary GPT and the first partition's start (where a boot
/// sector would otherwise still look valid).
pub const WIPE_LEN: usize = 1 << 20;

/// Install the handler (once, from `main`).
pub fn install() {
    let _ = ctrlc::set_handler(|| {
        STOPPING.store(true, Ordering::SeqCst);
        for pid in CHILDREN.lock().map(|c| c.clone()).unwrap_or_default() {
            if let Some(p) = i32::try_from(pid)
                .ok()
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
            }
        }
        let wiped = WIPES.lock().map(|w| w.clone()).unwrap_or_default();
        for dev in &wiped {
            wipe_head(dev);
        }
        for p in PATHS.lock().map(|p| p.clone()).unwrap_or_default() {
            if p.is_dir() {
                let _ = std::fs::remove_dir_all(&p);
            } else {
                let _ = std::fs::remove_file(&p);
            }
        }
        if wiped.is_empty() {
            eprintln!("haimg: interrupted; temporary files removed, nothing written");
        }
        for dev in &wiped {
            eprintln!(
                "haimg: interrupted; {} holds no partition table now (its first MiB is zeroed): flash it again",
                dev.display()
            );
        }
        std::process::exit(130);
    });
}

/// Called by `main` before it exits: while a signal is being handled, the
/// command's own error (a program the handler stopped "failed") must not
/// end the process before the handler has removed what it must and exited
/// with 130; so wait for it.
pub fn wait_if_stopping() {
    while STOPPING.load(Ordering::SeqCst) {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A temporary path removed on a signal while this guard lives.
pub struct Guard(PathBuf);

impl Guard {
    pub fn new(path: &Path) -> Guard {
        if let Ok(mut p) = PATHS.lock() {
            p.push(path.to_path_buf());
        }
        Guard(path.to_path_buf())
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut p) = PATHS.lock()
            && let Some(i) = p.iter().rposition(|x| *x == self.0)
        {
            p.remove(i);
        }
    }
}

/// A started program stopped on a signal while this guard lives.
pub struct ChildGuard(u32);

impl ChildGuard {
    pub fn new(pid: u32) -> ChildGuard {
        if let Ok(mut c) = CHILDREN.lock() {
            c.push(pid);
        }
        ChildGuard(pid)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(mut c) = CHILDREN.lock() {
            c.retain(|p| *p != self.0);
        }
    }
}

/// Zero a disk's first MiB and wait for it to reach the disk.
pub fn wipe_head(dev: &Path) {
    use std::os::unix::fs::FileExt;
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(dev) {
        let _ = f.write_all_at(&vec![0u8; WIPE_LEN], 0);
        let _ = f.sync_all();
    }
}

/// A disk being written: its first MiB is zeroed on a signal while this
/// guard lives, so a half-written disk never looks bootable.
pub struct WipeGuard(PathBuf);

impl WipeGuard {
    pub fn new(dev: &Path) -> WipeGuard {
        if let Ok(mut w) = WIPES.lock() {
            w.push(dev.to_path_buf());
        }
        WipeGuard(dev.to_path_buf())
    }
}

impl Drop for WipeGuard {
    fn drop(&mut self) {
        if let Ok(mut w) = WIPES.lock() {
            w.retain(|p| *p != self.0);
        }
    }
}
