//! Helm charts of the stack: found in their repository's `index.yaml`
//! (Helm's chart repository format: `entries.NAME[]` with `version`,
//! `digest` — the sha256 of the archive — and `urls`, relative to the
//! repository or absolute), fetched, checked against that digest and cached
//! like every other artifact.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::SourceError;
use super::checksums::Digest;
use super::fetch::{Artifact, Check, FetchError, Fetcher};
use crate::plan::charts::ChartRef;

/// A chart archive, verified, in memory (the HelmChart carries it whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub data: Vec<u8>,
}

#[derive(Deserialize)]
struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<IndexEntry>>,
}

#[derive(Deserialize)]
struct IndexEntry {
    version: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    urls: Vec<String>,
}

/// Etcd refuses requests over 1.5 MiB (its `--max-request-bytes` default);
/// a HelmChart object carries the archive in base64 (4/3 of it).
pub const MAX_CHART_BYTES: usize = 1_000_000;

/// The archive's URL and sha256 for `c` in the index `text`.
pub fn locate(text: &str, c: &ChartRef) -> Result<(String, Digest), String> {
    let index: Index =
        serde_saphyr::from_str(text).map_err(|e| format!("not a Helm repository index: {e}"))?;
    let versions = index
        .entries
        .get(&c.name)
        .ok_or_else(|| format!("it lists no chart `{}`", c.name))?;
    let e = versions
        .iter()
        .find(|e| e.version == c.version)
        .ok_or_else(|| format!("it lists no version {} of `{}`", c.version, c.name))?;
    let digest = e
        .digest
        .as_deref()
        .and_then(Digest::parse)
        .ok_or_else(|| format!("{} {} has no sha256 digest", c.name, c.version))?;
    let url = e
        .urls
        .first()
        .ok_or_else(|| format!("{} {} has no URL", c.name, c.version))?;
    let url = if url.contains("://") {
        url.clone()
    } else {
        format!("{}/{}", c.repo, url.trim_start_matches('/'))
    };
    Ok((url, digest))
}

/// Every chart of `charts`, verified. Big indexes (a repository with many
/// charts lists them all) are allowed up to 64 MiB.
pub fn charts(charts: &[ChartRef], fetcher: &Fetcher) -> Result<Vec<Chart>, SourceError> {
    let mut out = Vec::new();
    for c in charts {
        let name = format!("chart {} {}", c.name, c.version);
        let index_url = format!("{}/index.yaml", c.repo);
        let index = Artifact {
            name: name.clone(),
            url: index_url.clone(),
            check: Check::None,
        };
        let find = |t: &str| locate(t, c).map(|_| ());
        let text = fetcher.published_text(&index, &index_url, 64 << 20, &find)?;
        let (url, digest) = locate(&text, c).map_err(|why| FetchError::Checksums {
            name: name.clone(),
            url: index_url.clone(),
            why,
        })?;
        let path = fetcher.get(&Artifact {
            name: name.clone(),
            url,
            check: Check::Pinned(digest.clone()),
        })?;
        let data = std::fs::read(&path).map_err(|e| SourceError::Open {
            path: path.clone(),
            source: e,
        })?;
        if data.len() > MAX_CHART_BYTES {
            return Err(SourceError::Unsupported(format!(
                "{name}: the archive is {} bytes; a HelmChart carrying it would pass etcd's 1.5 MiB request limit",
                data.len()
            )));
        }
        out.push(Chart {
            name: c.name.clone(),
            version: c.version.clone(),
            sha256: digest.hex,
            data,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(name: &str, version: &str) -> ChartRef {
        ChartRef {
            name: name.into(),
            repo: "https://charts.example".into(),
            version: version.into(),
            namespace: "x".into(),
        }
    }

    #[test]
    fn index_entries_give_url_and_digest() {
        let d = "a".repeat(64);
        let text = format!(
            "apiVersion: v1\nentries:\n  metallb:\n  - version: 0.14.9\n    digest: {d}\n    urls:\n    - metallb-0.14.9.tgz\n  - version: 0.14.8\n    digest: {d}\n    urls:\n    - https://github.com/x/metallb-0.14.8.tgz\n"
        );
        let (u, g) = locate(&text, &r("metallb", "0.14.9")).expect("found");
        assert_eq!(u, "https://charts.example/metallb-0.14.9.tgz");
        assert_eq!(g.hex, d);
        let (u, _) = locate(&text, &r("metallb", "0.14.8")).expect("found");
        assert_eq!(u, "https://github.com/x/metallb-0.14.8.tgz");
        assert!(
            locate(&text, &r("metallb", "9"))
                .expect_err("refused")
                .contains("no version 9")
        );
        assert!(
            locate(&text, &r("loki", "1"))
                .expect_err("refused")
                .contains("no chart `loki`")
        );
        let nodigest = "entries:\n  loki:\n  - version: '1'\n    urls: [a.tgz]\n";
        assert!(
            locate(nodigest, &r("loki", "1"))
                .expect_err("refused")
                .contains("digest")
        );
    }
}
