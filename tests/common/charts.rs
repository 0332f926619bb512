//! A Helm chart repository for the tests: tiny chart archives and an
//! `index.yaml` listing each with its sha256 digest, as a real repository does.

use std::path::Path;

use haimg::plan::charts::ChartRef;
use haimg::source::fetch::{Fetcher, Options};
use sha2::Digest as _;

pub const CHARTS: &[(&str, &str, &str)] = &[
    ("metallb", "0.14.9", "metallb-system"),
    ("longhorn", "1.7.2", "longhorn-system"),
    ("kube-prometheus-stack", "66.3.1", "monitoring"),
    ("loki", "6.23.0", "monitoring"),
];

/// A minimal chart archive (`NAME/Chart.yaml` in a .tgz), as `helm package`
/// lays it out.
pub fn chart_tgz(name: &str, version: &str) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut b = tar::Builder::new(gz);
    let text = format!("apiVersion: v2\nname: {name}\nversion: {version}\n");
    let mut h = tar::Header::new_gnu();
    h.set_size(text.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, format!("{name}/Chart.yaml"), text.as_bytes())
        .expect("append");
    b.into_inner().expect("tar").finish().expect("gz")
}

/// A chart repository under `root/NAME/` per chart: index.yaml (digest =
/// sha256 of the archive, relative URL) and the archive. Returns the archives.
pub fn chart_repo(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, version, _) in CHARTS {
        let data = chart_tgz(name, version);
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = format!("{name}-{version}.tgz");
        std::fs::write(dir.join(&file), &data).expect("tgz");
        let index = format!(
            "apiVersion: v1\nentries:\n  {name}:\n  - name: {name}\n    version: {version}\n    digest: {}\n    urls:\n    - {file}\n  - name: {name}\n    version: 0.0.1\n    digest: {}\n    urls:\n    - old.tgz\n",
            hex::encode(sha2::Sha256::digest(&data)),
            "0".repeat(64)
        );
        std::fs::write(dir.join("index.yaml"), index).expect("index");
        out.push((name.to_string(), data));
    }
    out
}

pub fn refs(base: &str) -> Vec<ChartRef> {
    CHARTS
        .iter()
        .map(|(n, v, ns)| ChartRef {
            name: n.to_string(),
            repo: format!("{base}/{n}"),
            version: v.to_string(),
            namespace: ns.to_string(),
        })
        .collect()
}

pub fn fetcher(cache: &Path) -> Fetcher {
    Fetcher::new(&Options {
        cache: Some(cache.to_path_buf()),
        quiet: true,
        ..Options::default()
    })
}
