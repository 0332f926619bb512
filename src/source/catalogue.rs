//! Named artifacts (`profiles/catalogue.toml`, shipped in the binary): a name,
//! a version and an architecture become a URL and the publisher's checksums.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::fetch::{Artifact, Check};
use crate::config::Arch;

const CATALOGUE: &str = include_str!("../../profiles/catalogue.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
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

/// Resolve `name` at `version` for `arch`.
pub fn artifact(name: &str, version: &str, arch: Arch) -> Result<Artifact, String> {
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
    let check = match &e.checksums {
        Some(c) => Check::Checksums {
            url: fill(c, &url),
            file,
        },
        None => Check::None,
    };
    Ok(Artifact {
        name: format!("{name} {version} ({})", arch.debian()),
        url,
        check,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_parses_and_resolves() {
        let parsed: BTreeMap<String, Entry> = toml::from_str(CATALOGUE).expect("catalogue parses");
        assert!(parsed.len() >= 6);
        let k = artifact("k3s", "v1.31.4+k3s1", Arch::Arm64).expect("k3s");
        assert_eq!(
            k.url,
            "https://github.com/k3s-io/k3s/releases/download/v1.31.4%2Bk3s1/k3s-arm64"
        );
        assert_eq!(
            k.check,
            Check::Checksums {
                url: "https://github.com/k3s-io/k3s/releases/download/v1.31.4%2Bk3s1/sha256sum-arm64.txt".into(),
                file: "k3s-arm64".into()
            }
        );
        let amd = artifact("k3s", "v1.31.4+k3s1", Arch::Amd64).expect("k3s");
        assert!(amd.url.ends_with("/k3s"));
        let t = artifact("tailscale", "1.90.6", Arch::Amd64).expect("tailscale");
        assert_eq!(
            t.url,
            "https://pkgs.tailscale.com/stable/tailscale_1.90.6_amd64.tgz"
        );
        assert!(
            matches!(t.check, Check::Checksums { ref url, .. } if url.ends_with(".tgz.sha256"))
        );
        assert!(artifact("raspios-lite-arm64", "2025-11-24", Arch::Amd64).is_err());
        assert!(artifact("nope", "1", Arch::Amd64).is_err());
    }
}
