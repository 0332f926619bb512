//! One HTTP request of a download: resume with Range where the server
//! honours it, progress on stderr, and a verdict — retry or give up.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use super::fetch::{Artifact, FetchError, Fetcher};
use crate::io::{LimitWriter, Progress};

impl Fetcher {
    /// One HTTP request, appending to `part` from where it ends.
    pub(super) fn attempt(
        &self,
        agent: &ureq::Agent,
        a: &Artifact,
        part: &Path,
        max: u64,
    ) -> Result<(), Attempt> {
        let have = fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        let mut req = agent.get(&a.url);
        if have > 0 {
            req = req.header("Range", format!("bytes={have}-"));
        }
        let resp = req.call().map_err(|e| Attempt::Retry(e.to_string()))?;
        let status = resp.status().as_u16();
        match status {
            200 | 206 => {}
            404 | 410 => {
                return Err(Attempt::Fatal(FetchError::NotFound {
                    name: a.name.clone(),
                    url: a.url.clone(),
                }));
            }
            408 | 429 | 500..=599 => return Err(Attempt::Retry(format!("HTTP {status}"))),
            416 if have > 0 => {
                // Our partial file is not a prefix of theirs: start over.
                let _ = fs::remove_file(part);
                return Err(Attempt::Retry("HTTP 416 on resume; starting over".into()));
            }
            _ => {
                return Err(Attempt::Fatal(FetchError::Status {
                    name: a.name.clone(),
                    url: a.url.clone(),
                    status,
                }));
            }
        }
        let resumed = status == 206
            && resp
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(&format!("bytes {have}-")));
        let len = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let mut file = OpenOptions::new()
            .create(true)
            .append(resumed)
            .write(true)
            .truncate(!resumed)
            .open(part)
            .map_err(|e| {
                Attempt::Fatal(FetchError::Io {
                    name: a.name.clone(),
                    what: "writing the download".into(),
                    source: e,
                })
            })?;
        let start = if resumed { have } else { 0 };
        file.seek(io::SeekFrom::Start(start))
            .map_err(|e| Attempt::Retry(e.to_string()))?;
        let bar = Progress::bytes(self.quiet, start + len.unwrap_or(0), &short(&a.name));
        bar.set(start);
        let mut body = resp.into_body().into_reader();
        // Checksums files are fetched with a small `max`: a server that
        // sends more is refused, not written to disk without end.
        let mut out = LimitWriter::new(&mut file, max.saturating_sub(start));
        let mut buf = vec![0u8; 1 << 16];
        let mut got = 0u64;
        loop {
            let n = match body.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    bar.finish();
                    return Err(Attempt::Retry(format!(
                        "connection lost after {} bytes: {e}",
                        start + got
                    )));
                }
            };
            out.write_all(&buf[..n]).map_err(|e| {
                Attempt::Fatal(if e.kind() == io::ErrorKind::FileTooLarge {
                    FetchError::Checksums {
                        name: a.name.clone(),
                        url: a.url.clone(),
                        why: "larger than any checksums file should be".into(),
                    }
                } else {
                    FetchError::Io {
                        name: a.name.clone(),
                        what: "writing the download".into(),
                        source: e,
                    }
                })
            })?;
            got += n as u64;
            bar.set(start + got);
        }
        bar.finish();
        if let Some(l) = len
            && got < l
        {
            return Err(Attempt::Retry(format!(
                "connection closed after {} of {} bytes",
                start + got,
                start + l
            )));
        }
        file.sync_all().map_err(|e| Attempt::Retry(e.to_string()))?;
        Ok(())
    }
}

pub(super) enum Attempt {
    Retry(String),
    Fatal(FetchError),
}

pub(super) fn short(name: &str) -> String {
    name.chars().take(16).collect()
}
