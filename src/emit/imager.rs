//! `OUT/imager.json`: a Raspberry Pi Imager repository list for the Pi
//! images of the folder (`rpi-imager --repo OUT/imager.json`). Fields as
//! rpi-imager's os-list schema requires them (doc/json-schema/
//! os-list-schema.json: name, description, icon, url, extract_size,
//! extract_sha256, image_download_size, release_date; image_download_sha256
//! and devices optional). `init_format` is absent on purpose: without it
//! Imager offers no OS customisation (anchors.md, Imager 2.x,
//! doc/os_customisation_formats.md), whose `firstrun.sh` or cloud-init seed
//! would fight haimg's first boot. URLs are `file://` URIs of the files
//! beside the list, as rpi-imager's own create_local_json.py writes them.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The list's file name in the output folder.
pub const FILE: &str = "imager.json";
/// The icon every entry shows, written beside the list.
pub const ICON: &str = "haimg-icon.svg";

const ICON_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 40 40\"><rect width=\"40\" height=\"40\" rx=\"8\" fill=\"#1f6f5c\"/><text x=\"20\" y=\"27\" font-size=\"18\" text-anchor=\"middle\" fill=\"#fff\" font-family=\"sans-serif\">ha</text></svg>\n";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub name: String,
    pub description: String,
    pub icon: String,
    pub url: String,
    pub extract_size: u64,
    pub extract_sha256: String,
    pub image_download_size: u64,
    pub image_download_sha256: String,
    pub release_date: String,
    pub devices: Vec<String>,
}

#[derive(Serialize, Deserialize, Default)]
struct List {
    os_list: Vec<Entry>,
}

/// One Pi image to list.
pub struct Image<'a> {
    pub node: &'a str,
    pub cluster: &'a str,
    pub role: &'a str,
    /// The device tree blobs the profile carries: they name the boards.
    pub dtbs: &'a [String],
    pub image: &'a Path,
    pub image_sha256: &'a str,
    /// Every file the build wrote, with its sha256 (the compressed copies).
    pub outputs: &'a [(PathBuf, String)],
}

/// Imager's device tags (pi4-64bit, pi5-64bit, …, as in the official lists)
/// for the boards whose device trees the profile carries.
pub fn devices(dtbs: &[String]) -> Vec<String> {
    let mut tags: Vec<String> = [
        ("bcm2712", "pi5-64bit"),
        ("bcm2711", "pi4-64bit"),
        ("bcm2710", "pi3-64bit"),
        ("bcm2837", "pi3-64bit"),
    ]
    .iter()
    .filter(|(soc, _)| dtbs.iter().any(|d| d.starts_with(soc)))
    .map(|(_, tag)| tag.to_string())
    .collect();
    tags.dedup();
    tags
}

/// `YYYY-MM-DD` of a Unix time (UTC).
pub fn date(unix: i64) -> String {
    let (y, m, d) = crate::disk::fat::civil_from_days(unix.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

fn uri(p: &Path) -> io::Result<String> {
    let abs = std::path::absolute(p)?;
    let mut s = String::from("file://");
    for b in abs.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'.' | b'_' | b'~' => {
                s.push(char::from(*b))
            }
            _ => s.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(s)
}

/// The entry for one image: the download is its `.xz` if built (every
/// Imager reads xz; zstd only since 1.7), else `.zst`, else the raw image.
pub fn entry(img: &Image<'_>, release_date: &str) -> io::Result<Entry> {
    let with = |suffix: &str| {
        let want = format!("{}.{suffix}", img.image.display());
        img.outputs
            .iter()
            .find(|(p, _)| p.display().to_string() == want)
    };
    let (download, download_sha) = match with("xz").or_else(|| with("zst")) {
        Some((p, s)) => (p.as_path(), s.as_str()),
        None => (img.image, img.image_sha256),
    };
    Ok(Entry {
        name: format!("haimg: {} ({})", img.node, img.cluster),
        description: format!(
            "K3s {} node {} of cluster {}, built by haimg {}. Keep Imager's OS customisation off: the image configures itself.",
            img.role,
            img.node,
            img.cluster,
            env!("CARGO_PKG_VERSION")
        ),
        icon: uri(&img.image.with_file_name(ICON))?,
        url: uri(download)?,
        extract_size: std::fs::metadata(img.image)?.len(),
        extract_sha256: img.image_sha256.to_string(),
        image_download_size: std::fs::metadata(download)?.len(),
        image_download_sha256: download_sha.to_string(),
        release_date: release_date.to_string(),
        devices: devices(img.dtbs),
    })
}

/// Write (or update) `DIR/imager.json` and its icon; entries of earlier runs
/// whose download still exists are kept, one per node name. Returns the
/// files written with their sha256, for SHA256SUMS.
pub fn write(dir: &Path, new: Vec<Entry>) -> io::Result<Vec<(PathBuf, String)>> {
    let path = dir.join(FILE);
    let old: List = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut list = List {
        os_list: old
            .os_list
            .into_iter()
            .filter(|e| !new.iter().any(|n| n.name == e.name))
            .filter(|e| {
                e.url
                    .strip_prefix("file://")
                    .is_some_and(|p| Path::new(p).is_file())
            })
            .collect(),
    };
    list.os_list.extend(new);
    list.os_list.sort_by(|a, b| a.name.cmp(&b.name));
    let text = serde_json::to_string_pretty(&list).map_err(io::Error::other)? + "\n";
    super::write_sidecar(&path, &text)?;
    let icon = dir.join(ICON);
    super::write_sidecar(&icon, ICON_SVG)?;
    use sha2::{Digest, Sha256};
    Ok(vec![
        (path, hex::encode(Sha256::digest(text.as_bytes()))),
        (icon, hex::encode(Sha256::digest(ICON_SVG.as_bytes()))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_704_067_200), "2024-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_796_256_000), "2026-12-03");
    }

    #[test]
    fn device_tags_follow_the_device_trees() {
        let d = |v: &[&str]| devices(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            d(&["bcm2711-rpi-4-b.dtb", "bcm2711-rpi-400.dtb"]),
            ["pi4-64bit"]
        );
        assert_eq!(d(&["bcm2712-rpi-5-b.dtb"]), ["pi5-64bit"]);
        assert!(d(&[]).is_empty());
    }
}
