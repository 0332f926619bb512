//! Catalogue names as artifacts to fetch: the configuration's catalogue
//! ([`crate::config::catalogue`]) says where; this says how it is checked.

use super::fetch::{Artifact, Check};
use crate::config::{Arch, catalogue};

/// The artifact `name` at `version` for `arch`, checked against the
/// publisher's checksums file where the catalogue names one.
pub fn artifact(name: &str, version: &str, arch: Arch) -> Result<Artifact, String> {
    let r = catalogue::resolve(name, version, arch)?;
    Ok(Artifact {
        name: r.name,
        check: match r.checksums {
            Some(url) => Check::Checksums { url, file: r.file },
            None => Check::None,
        },
        url: r.url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_parses_and_resolves() {
        let parsed: std::collections::BTreeMap<String, catalogue::Entry> =
            toml::from_str(catalogue::CATALOGUE).expect("catalogue parses");
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
