//! Named artifacts (`profiles/catalogue.toml`, shipped in the binary): a name,
//! a version and an architecture become a URL and the publisher's checksums
//! file. Part of the configuration: plan resolves names with it, source
//! fetches what it names.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Arch;

pub(crate) const CATALOGUE: &str = include_str!("../../profiles/catalogue.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    #[allow(dead_code)]
    description: String,
    url: String,
    checksums: Option<String>,
    #[serde(default)]
    assets: BTreeMap<String, String>,
    arch: Option<Arch>,
}

fn entries() -> BTreeMap<String, Entry> {
    // The catalogue is part of the binary and checked by a unit test.
    toml::from_str(CATALOGUE).unwrap_or_default()
}

pub fn names() -> Vec<String> {
    entries().into_keys().collect()
}

/// A catalogue entry resolved for one version and architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// For messages: "k3s v1.31.4+k3s1 (arm64)".
    pub name: String,
    pub url: String,
    /// The publisher's checksums file, if it has one.
    pub checksums: Option<String>,
    /// The file name to look up in it.
    pub file: String,
}

/// Resolve `name` at `version` for `arch`.
pub fn resolve(name: &str, version: &str, arch: Arch) -> Result<Resolved, String> {
    let all = entries();
    let e = all.get(name).ok_or_else(|| {
        format!(
            "no catalogue entry `{name}` (known: {})",
            names().join(", ")
        )
    })?;
    if let Some(a) = e.arch
        && a != arch
    {
        return Err(format!(
            "catalogue entry `{name}` is for {}, the node is {}",
            a.debian(),
            arch.debian()
        ));
    }
    let asset = e.assets.get(arch.debian()).cloned().unwrap_or_default();
    let fill = |t: &str, url: &str| {
        t.replace("{version_url}", &version.replace('+', "%2B"))
            .replace("{version}", version)
            .replace("{arch}", arch.debian())
            .replace("{asset}", &asset)
            .replace("{url}", url)
    };
    let url = fill(&e.url, "");
    let file = url.rsplit('/').next().unwrap_or_default().to_string();
    Ok(Resolved {
        name: format!("{name} {version} ({})", arch.debian()),
        checksums: e.checksums.as_ref().map(|c| fill(c, &url)),
        url,
        file,
    })
}

pub(crate) const CHARTS: &str = include_str!("../../profiles/charts.toml");

/// A pinned Helm chart of the stack (`profiles/charts.toml`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ChartPin {
    #[allow(dead_code)]
    description: String,
    /// The chart repository (its `index.yaml` is at `{repo}/index.yaml`).
    pub repo: String,
    pub version: String,
    /// Where its release goes (the HelmChart's targetNamespace).
    pub namespace: String,
}

/// The pinned chart `name`, if the catalogue has one.
pub fn chart(name: &str) -> Option<ChartPin> {
    // Part of the binary and checked by a unit test.
    let all: BTreeMap<String, ChartPin> = toml::from_str(CHARTS).unwrap_or_default();
    all.get(name).cloned()
}

/// The names of the pinned charts.
pub fn chart_names() -> Vec<String> {
    let all: BTreeMap<String, ChartPin> = toml::from_str(CHARTS).unwrap_or_default();
    all.into_keys().collect()
}
