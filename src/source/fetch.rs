//! Get an artifact exactly once, prove it is the published file, and keep it
//! in a content-addressed cache.
//!
//! Cache layout (under `$XDG_CACHE_HOME/haimg`):
//! - `blobs/sha256-HEX` / `blobs/sha512-HEX`: verified content, named by the
//!   publisher's digest, entered only by an atomic rename after it matched;
//! - `checksums/KEY`: publishers' checksum files, by URL;
//! - `partial/KEY.part`: an interrupted download, resumed with `Range`.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::checksums::{self, Algo, Digest};
use super::http::Attempt;
use crate::io::Hasher;

/// How an artifact proves itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Pinned(Digest),
    /// The publisher's checksum file and the file name to look up in it.
    Checksums {
        url: String,
        file: String,
    },
    /// Nothing: allowed only with `--insecure` (or for local files).
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    /// What it is, for messages: "k3s v1.31.4+k3s1 (arm64)".
    pub name: String,
    pub url: String,
    pub check: Check,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(
        "{name}: {url} has no sha256 and no checksums file; pin `sha256` or name the publisher's checksums, or pass --insecure"
    )]
    Unverifiable { name: String, url: String },
    #[error(
        "{name}: refusing plain http:// for {url} without a pinned sha256 (use https, or pin `sha256`)"
    )]
    PlainHttp { name: String, url: String },
    #[error(
        "{name}: not in the cache and --offline is set ({url}); run `haimg fetch` while online"
    )]
    Offline { name: String, url: String },
    #[error("{name}: {url} was not found (HTTP 404)")]
    NotFound { name: String, url: String },
    #[error("{name}: {url} answered HTTP {status}")]
    Status {
        name: String,
        url: String,
        status: u16,
    },
    #[error("{name}: downloading {url} failed after {tries} tries: {why}")]
    Network {
        name: String,
        url: String,
        tries: u32,
        why: String,
    },
    #[error(
        "{name}: checksum mismatch for {url}: expected {expected}, got {actual}; the download was deleted"
    )]
    Mismatch {
        name: String,
        url: String,
        expected: String,
        actual: String,
    },
    #[error("{name}: checksums file {url}: {why}")]
    Checksums {
        name: String,
        url: String,
        why: String,
    },
    #[error("{name}: {what}: {source}")]
    Io {
        name: String,
        what: String,
        source: io::Error,
    },
}

/// Settings for one run.
pub struct Fetcher {
    pub cache: PathBuf,
    pub offline: bool,
    pub insecure: bool,
    pub quiet: bool,
    /// Tries per download (first try included).
    pub tries: u32,
    pub timeout: Duration,
    /// First retry delay; doubles each time.
    pub backoff: Duration,
}

fn env_num(key: &str) -> Option<u64> {
    std::env::var(key).ok()?.parse().ok()
}

/// What the user chose about fetching (the command line's fetch options).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `None`: [`super::cache_dir`].
    pub cache: Option<PathBuf>,
    /// Never open a network connection.
    pub offline: bool,
    /// Accept artifacts without any checksum.
    pub insecure: bool,
    /// No progress bars.
    pub quiet: bool,
}

impl Fetcher {
    pub fn new(o: &Options) -> Fetcher {
        Fetcher {
            cache: o.cache.clone().unwrap_or_else(super::cache_dir),
            offline: o.offline,
            insecure: o.insecure,
            quiet: o.quiet,
            tries: env_num("HAIMG_HTTP_TRIES").map_or(5, |n| n.max(1) as u32),
            timeout: Duration::from_secs(env_num("HAIMG_HTTP_TIMEOUT").unwrap_or(60)),
            backoff: Duration::from_millis(env_num("HAIMG_HTTP_BACKOFF_MS").unwrap_or(1000)),
        }
    }

    fn agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(self.timeout))
            .timeout_recv_response(Some(self.timeout))
            .timeout_per_read(Some(self.timeout))
            .user_agent(concat!("haimg/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    }

    /// The artifact as a local file: verified, from the cache or downloaded.
    pub fn get(&self, a: &Artifact) -> Result<PathBuf, FetchError> {
        if let Some(local) = local_path(&a.url) {
            return self.local(a, &local);
        }
        let is_http = a.url.starts_with("http://") && !is_loopback(&a.url);
        match &a.check {
            Check::Pinned(_) => {}
            _ if is_http => {
                return Err(FetchError::PlainHttp {
                    name: a.name.clone(),
                    url: a.url.clone(),
                });
            }
            Check::None if !self.insecure => {
                return Err(FetchError::Unverifiable {
                    name: a.name.clone(),
                    url: a.url.clone(),
                });
            }
            _ => {}
        }
        let expected = match &a.check {
            Check::Pinned(d) => Some(d.clone()),
            Check::Checksums { url, file } => Some(self.checksum_for(a, url, file)?),
            Check::None => None,
        };
        let blob = match &expected {
            Some(d) => self
                .cache
                .join("blobs")
                .join(format!("{}-{}", algo_name(d.algo), d.hex)),
            None => self
                .cache
                .join("blobs")
                .join(format!("url-{}", key(&a.url))),
        };
        if blob.is_file() {
            return Ok(blob);
        }
        if self.offline {
            return Err(FetchError::Offline {
                name: a.name.clone(),
                url: a.url.clone(),
            });
        }
        self.download(a, expected.as_ref(), &blob)?;
        Ok(blob)
    }

    fn io(&self, a: &Artifact, what: &str) -> impl Fn(io::Error) -> FetchError {
        let name = a.name.clone();
        let what = what.to_string();
        move |source| FetchError::Io {
            name: name.clone(),
            what: what.clone(),
            source,
        }
    }

    /// A local file: verified when a digest is known, used in place.
    fn local(&self, a: &Artifact, path: &Path) -> Result<PathBuf, FetchError> {
        let mut f = File::open(path).map_err(self.io(a, &format!("opening {}", path.display())))?;
        let expected = match &a.check {
            Check::Pinned(d) => Some(d.clone()),
            Check::Checksums { url, file } => Some(self.checksum_for(a, url, file)?),
            Check::None => None,
        };
        if let Some(d) = expected {
            let mut h = Hasher::new(d.algo);
            io::copy(&mut f, &mut h).map_err(self.io(a, "reading"))?;
            let actual = h.hex();
            if actual != d.hex {
                return Err(FetchError::Mismatch {
                    name: a.name.clone(),
                    url: a.url.clone(),
                    expected: d.to_string(),
                    actual: format!("{}:{actual}", algo_name(d.algo)),
                });
            }
        }
        Ok(path.to_path_buf())
    }

    /// The digest the publisher lists for `file` in the checksums file at `url`.
    fn checksum_for(&self, a: &Artifact, url: &str, file: &str) -> Result<Digest, FetchError> {
        let find = |text: &str| checksums::find(text, file).map_err(|e| e.to_string());
        let text = self.published_text(a, url, 1 << 20, &|t| find(t).map(|_| ()))?;
        find(&text).map_err(|why| FetchError::Checksums {
            name: a.name.clone(),
            url: url.to_string(),
            why,
        })
    }

    /// A publisher's small text file that vouches for `a` (a checksums file,
    /// a Helm repository's index), from `url` or the cache, at most `max`
    /// bytes. `check` must accept it before it is cached: a broken file is
    /// never kept; a cached one it refuses is fetched again once (an index
    /// older than the pinned version).
    pub(crate) fn published_text(
        &self,
        a: &Artifact,
        url: &str,
        max: u64,
        check: &dyn Fn(&str) -> Result<(), String>,
    ) -> Result<String, FetchError> {
        let cached = self.cache.join("checksums").join(key(url));
        let bad = |why: String| FetchError::Checksums {
            name: a.name.clone(),
            url: url.to_string(),
            why,
        };
        if let Some(local) = local_path(url) {
            return fs::read_to_string(&local)
                .map_err(self.io(a, &format!("reading {}", local.display())));
        }
        if cached.is_file() {
            let text = fs::read_to_string(&cached)
                .map_err(self.io(a, "reading a cached checksums file"))?;
            if check(&text).is_ok() || self.offline {
                return Ok(text);
            }
        }
        if url.starts_with("http://") && !is_loopback(url) {
            return Err(FetchError::PlainHttp {
                name: a.name.clone(),
                url: url.to_string(),
            });
        }
        if self.offline {
            return Err(FetchError::Offline {
                name: a.name.clone(),
                url: url.to_string(),
            });
        }
        let sums = Artifact {
            name: format!("{} checksums", a.name),
            url: url.to_string(),
            check: Check::None,
        };
        let tmp = self.download_to_temp(&sums, None, max)?;
        let text = fs::read_to_string(tmp.path()).map_err(|_| bad("it is not text".into()))?;
        check(&text).map_err(bad)?;
        persist(tmp, &cached).map_err(self.io(a, "caching the checksums file"))?;
        Ok(text)
    }

    fn download(
        &self,
        a: &Artifact,
        expected: Option<&Digest>,
        blob: &Path,
    ) -> Result<(), FetchError> {
        let tmp = self.download_to_temp(a, expected, u64::MAX)?;
        persist(tmp, blob).map_err(self.io(a, "entering the download into the cache"))
    }

    /// Download into `partial/KEY.part` (resuming what is there), verify, and
    /// hand back a temporary file ready to be renamed into place.
    fn download_to_temp(
        &self,
        a: &Artifact,
        expected: Option<&Digest>,
        max: u64,
    ) -> Result<tempfile::NamedTempFile, FetchError> {
        let partial_dir = self.cache.join("partial");
        fs::create_dir_all(&partial_dir).map_err(self.io(a, "creating the cache"))?;
        let part = partial_dir.join(format!("{}.part", key(&a.url)));
        let agent = self.agent();
        let mut why = String::new();
        let mut delay = self.backoff;
        for attempt in 1..=self.tries {
            if attempt > 1 {
                std::thread::sleep(delay);
                delay *= 2;
            }
            match self.attempt(&agent, a, &part, max) {
                Ok(()) => {
                    why.clear();
                    break;
                }
                Err(Attempt::Fatal(e)) => return Err(e),
                Err(Attempt::Retry(w)) => why = w,
            }
        }
        if !why.is_empty() {
            return Err(FetchError::Network {
                name: a.name.clone(),
                url: a.url.clone(),
                tries: self.tries,
                why,
            });
        }
        // Verify the whole file, then move it out of partial/.
        let mut f = File::open(&part).map_err(self.io(a, "reading the download"))?;
        if let Some(d) = expected {
            let mut h = Hasher::new(d.algo);
            io::copy(&mut f, &mut h).map_err(self.io(a, "hashing the download"))?;
            let actual = h.hex();
            if actual != d.hex {
                let _ = fs::remove_file(&part);
                return Err(FetchError::Mismatch {
                    name: a.name.clone(),
                    url: a.url.clone(),
                    expected: d.to_string(),
                    actual: format!("{}:{actual}", algo_name(d.algo)),
                });
            }
        }
        let blobs = self.cache.join("blobs");
        fs::create_dir_all(&blobs).map_err(self.io(a, "creating the cache"))?;
        let tmp = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempfile_in(&blobs)
            .map_err(self.io(a, "creating a temporary file"))?;
        fs::rename(&part, tmp.path()).map_err(self.io(a, "moving the download"))?;
        Ok(tmp)
    }
}

fn algo_name(a: Algo) -> &'static str {
    match a {
        Algo::Sha256 => "sha256",
        Algo::Sha512 => "sha512",
    }
}

/// A cache key for a URL.
pub fn key(url: &str) -> String {
    hex::encode(&Sha256::digest(url.as_bytes())[..16])
}

/// A plain-http URL to this machine (a local mirror): nothing on the way to
/// tamper with, so the http rule does not apply.
pub fn is_loopback(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(v6) = host.strip_prefix('[') {
        v6.split(']').next().unwrap_or("")
    } else {
        host.split(':').next().unwrap_or("")
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `file://` URLs and plain paths.
pub fn local_path(url: &str) -> Option<PathBuf> {
    if let Some(p) = url.strip_prefix("file://") {
        return Some(PathBuf::from(p));
    }
    (!url.contains("://")).then(|| PathBuf::from(url))
}

fn persist(tmp: tempfile::NamedTempFile, dest: &Path) -> io::Result<()> {
    if let Some(d) = dest.parent() {
        fs::create_dir_all(d)?;
    }
    tmp.persist(dest).map(|_| ()).map_err(|e| e.error)
}
