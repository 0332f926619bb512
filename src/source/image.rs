//! `image` bases: the vendor's disk image (Raspberry Pi OS, Ubuntu, Debian
//! cloud), fetched and verified as any artifact, then decompressed once into
//! the cache as a sparse raw image that every node of that base copies.

use std::path::PathBuf;

use super::{Compression, SourceError, fetch::Fetcher, sniff};
use crate::plan::NodePlan;

/// The base image of `node` as an uncompressed (sparse) file.
pub fn base_image(node: &NodePlan, fetcher: &Fetcher) -> Result<PathBuf, SourceError> {
    let a = super::base_artifact(node)
        .ok_or_else(|| SourceError::Unsupported("the image base has no url".into()))?;
    let fetched = fetcher.get(&a)?;
    let open_err = |p: &std::path::Path| {
        let path = p.to_path_buf();
        move |e| SourceError::Open {
            path: path.clone(),
            source: e,
        }
    };
    let mut head = [0u8; 8];
    let n = {
        use std::io::Read;
        std::fs::File::open(&fetched)
            .and_then(|mut f| f.read(&mut head))
            .map_err(open_err(&fetched))?
    };
    if sniff(&head[..n]) == Compression::None {
        return Ok(fetched);
    }
    // Cache entries are named after the verified download (the fetch cache
    // keys them by digest) or a local file's sha256, so a new base never
    // meets a stale image.
    let leaf = if fetched.starts_with(&fetcher.cache) {
        fetched
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        format!("local-{}", local_sum(&fetched).map_err(open_err(&fetched))?)
    };
    let dir = fetcher.cache.join("images");
    let dest = dir.join(format!("{leaf}.raw"));
    if dest.is_file() {
        return Ok(dest);
    }
    std::fs::create_dir_all(&dir).map_err(open_err(&dir))?;
    let tmp = tempfile::Builder::new()
        .prefix(".image-")
        .tempfile_in(&dir)
        .map_err(open_err(&dir))?;
    let _guard = crate::cleanup::Guard::new(tmp.path());
    let len = std::fs::metadata(&fetched).map(|m| m.len()).unwrap_or(0);
    let bar = crate::io::Progress::bytes(fetcher.quiet, len, "decompressing the base image");
    let file = std::fs::File::open(&fetched).map_err(open_err(&fetched))?;
    let mut r = super::open_reader(bar.wrap_read(file)).map_err(open_err(&fetched))?;
    crate::sparse::write_stream(&mut r, tmp.as_file()).map_err(|e| {
        SourceError::Tool(format!(
            "{} cannot be decompressed ({e}): the download is truncated or corrupt; delete it from the cache ({}) and fetch again",
            a.url,
            fetched.display()
        ))
    })?;
    bar.finish();
    tmp.persist(&dest).map_err(|e| SourceError::Open {
        path: dest.clone(),
        source: e.error,
    })?;
    Ok(dest)
}

/// A local base's sha256, hashed once per run and file version: `build`
/// asks for the base in `prepare` and again for each node that uses it.
fn local_sum(path: &std::path::Path) -> std::io::Result<String> {
    use std::collections::BTreeMap;
    use std::sync::Mutex;
    type Key = (PathBuf, u64, Option<std::time::SystemTime>);
    static SEEN: Mutex<BTreeMap<Key, String>> = Mutex::new(BTreeMap::new());
    let meta = std::fs::metadata(path)?;
    let key = (path.to_path_buf(), meta.len(), meta.modified().ok());
    let mut seen = SEEN
        .lock()
        .map_err(|_| std::io::Error::other("a build thread panicked"))?;
    if let Some(s) = seen.get(&key) {
        return Ok(s.clone());
    }
    let (sum, _) = crate::io::sha256_file(path)?;
    seen.insert(key, sum.clone());
    Ok(sum)
}
