//! Helpers of the download tests (tests/fetch.rs, tests/fetch_more.rs): a
//! real HTTP server on 127.0.0.1 with a cache beside it, and a fetcher that
//! gives up quickly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use haimg::source::checksums::Digest;
use haimg::source::fetch::{Artifact, Check, Fetcher, Options};
use sha2::{Digest as _, Sha256};

use super::httpd::Server;

pub fn sha256(d: &[u8]) -> String {
    hex::encode(Sha256::digest(d))
}

pub fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

pub struct Env {
    pub _tmp: tempfile::TempDir,
    pub srv: Server,
    pub cache: PathBuf,
}

pub fn env() -> Env {
    let tmp = tempfile::tempdir().expect("tmp");
    let root = tmp.path().join("www");
    std::fs::create_dir(&root).expect("mkdir");
    let srv = Server::start(&root);
    Env {
        cache: tmp.path().join("cache"),
        srv,
        _tmp: tmp,
    }
}

pub fn fetcher(e: &Env) -> Fetcher {
    let mut f = Fetcher::new(&Options {
        cache: Some(e.cache.clone()),
        quiet: true,
        ..Options::default()
    });
    f.tries = 4;
    f.timeout = Duration::from_secs(2);
    f.backoff = Duration::from_millis(50);
    f
}

pub fn pinned(e: &Env, path: &str, hex: &str) -> Artifact {
    Artifact {
        name: format!("test {path}"),
        url: e.srv.url(path),
        check: Check::Pinned(Digest::parse(hex).expect("digest")),
    }
}

/// Nothing under a final name in the cache's blobs.
pub fn no_final_entries(cache: &Path) {
    let names: Vec<String> = std::fs::read_dir(cache.join("blobs"))
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    assert!(names.is_empty(), "blobs holds {names:?}");
}
