//! config: read the user's cluster, node and profile TOML into the typed model,
//! collecting every problem with its file, line and column.

pub mod catalogue;
pub mod model;
pub mod parse;
pub mod stack;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::diag::{ConfigError, Diags, FileId, Sources};
pub use model::*;

/// A parsed file and where it came from.
#[derive(Debug)]
pub struct Loc<T> {
    pub file: FileId,
    pub path: PathBuf,
    pub value: T,
}

impl<T> Loc<T> {
    /// The folder relative paths in this file are resolved against.
    pub fn dir(&self) -> &Path {
        self.path.parent().unwrap_or(Path::new("."))
    }
}

/// Profiles shipped inside the binary. A node may instead name a file.
pub const BUILTIN_PROFILES: &[(&str, &str)] = &[
    ("rpi4", include_str!("../../profiles/rpi4.toml")),
    ("rpi5", include_str!("../../profiles/rpi5.toml")),
    (
        "x86_64-uefi",
        include_str!("../../profiles/x86_64-uefi.toml"),
    ),
    (
        "cloud-x86_64",
        include_str!("../../profiles/cloud-x86_64.toml"),
    ),
];

/// Everything one command needs: the cluster, all its nodes, their profiles.
pub struct Loaded {
    pub sources: Sources,
    pub cluster: Loc<ClusterFile>,
    pub nodes: Vec<Loc<NodeFile>>,
    /// Profile of each node, by the node's index.
    pub node_profiles: Vec<Option<usize>>,
    pub profiles: Vec<Loc<ProfileFile>>,
    /// Index of the node file the user named, when a node file was given.
    pub selected: Option<usize>,
    /// Warnings found while loading (errors make `load` fail).
    pub warnings: Diags,
}

/// Load from a cluster file or a node file (which names its cluster).
pub fn load(path: &Path) -> Result<Loaded, ConfigError> {
    let mut sources = Sources::default();
    let mut diags = Diags::default();

    let Some((first_id, text)) = read_source(&mut sources, &mut diags, path, None) else {
        return Err(fail(sources, diags));
    };
    let doc = match text.parse::<toml_edit::DocumentMut>() {
        Ok(doc) => doc,
        Err(_) => {
            // Report the syntax error with the right model's wording.
            let _ = parse_file::<NodeFile>(&sources, &mut diags, first_id);
            return Err(fail(sources, diags));
        }
    };
    // A node file names its cluster; read that first so that every file's
    // problems are reported in one run.
    let selected_node = match doc.get("cluster") {
        None => None,
        Some(item) => match item.as_str() {
            Some(rel) => Some((rel.to_string(), item.span())),
            None => {
                let _ = parse_file::<NodeFile>(&sources, &mut diags, first_id);
                return Err(fail(sources, diags));
            }
        },
    };
    let cluster_path = match &selected_node {
        Some((rel, _)) => path.parent().unwrap_or(Path::new(".")).join(rel),
        None => path.to_path_buf(),
    };
    let cluster_id = match &selected_node {
        Some((_, span)) => {
            match read_source(
                &mut sources,
                &mut diags,
                &cluster_path,
                Some((first_id, span.clone())),
            ) {
                Some((id, _)) => id,
                None => return Err(fail(sources, diags)),
            }
        }
        None => first_id,
    };
    let Some(cluster) = parse_file::<ClusterFile>(&sources, &mut diags, cluster_id) else {
        if selected_node.is_some() {
            let _ = parse_file::<NodeFile>(&sources, &mut diags, first_id);
        }
        return Err(fail(sources, diags));
    };
    let cluster = Loc {
        file: cluster_id,
        path: cluster_path.clone(),
        value: cluster,
    };

    let node_paths = node_file_paths(&cluster, &mut diags);
    let mut nodes = Vec::new();
    let mut selected = None;
    for (p, span) in node_paths {
        if selected_node.is_some() && same_file(&p, path) {
            // Already read: parse it from the same source text.
            selected = Some(nodes.len());
            if let Some(n) = parse_file::<NodeFile>(&sources, &mut diags, first_id) {
                nodes.push(Loc {
                    file: first_id,
                    path: p,
                    value: n,
                });
            }
            continue;
        }
        let reference = span.map(|s| (cluster_id, Some(s)));
        let Some((id, _)) = read_source(&mut sources, &mut diags, &p, reference) else {
            continue;
        };
        if let Some(n) = parse_file::<NodeFile>(&sources, &mut diags, id) {
            nodes.push(Loc {
                file: id,
                path: p,
                value: n,
            });
        }
    }
    if selected_node.is_some() && selected.is_none() {
        let _ = parse_file::<NodeFile>(&sources, &mut diags, first_id);
        diags.error(
            Some(first_id),
            None,
            format!(
                "this node is not one of the nodes of {}",
                cluster_path.display()
            ),
            "add it to the cluster file's `nodes` list",
        );
    }

    let mut profiles: Vec<Loc<ProfileFile>> = Vec::new();
    let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
    let mut node_profiles = Vec::new();
    for node in &nodes {
        let Some(pref) = node.value.profile.as_ref() else {
            node_profiles.push(None);
            continue;
        };
        let name = pref.get_ref();
        let key = if is_profile_path(name) {
            node.dir().join(name).display().to_string()
        } else {
            name.clone()
        };
        if let Some(&i) = by_key.get(&key) {
            node_profiles.push(Some(i));
            continue;
        }
        let loaded = if is_profile_path(name) {
            read_source(
                &mut sources,
                &mut diags,
                Path::new(&key),
                Some((node.file, Some(pref.span()))),
            )
            .map(|(id, _)| (id, PathBuf::from(&key)))
        } else if let Some((_, text)) = BUILTIN_PROFILES.iter().find(|(n, _)| n == name) {
            let p = PathBuf::from(format!("<built-in>/profiles/{name}.toml"));
            Some((sources.add(&p, (*text).to_string()), p))
        } else {
            let names: Vec<&str> = BUILTIN_PROFILES.iter().map(|(n, _)| *n).collect();
            diags.error(
                Some(node.file),
                Some(pref.span()),
                format!("unknown profile `{name}`"),
                format!(
                    "built-in profiles: {}; or give a path such as \"profiles/my-board.toml\"",
                    names.join(", ")
                ),
            );
            None
        };
        let idx = loaded.and_then(|(id, p)| {
            let v = parse_file::<ProfileFile>(&sources, &mut diags, id)?;
            profiles.push(Loc {
                file: id,
                path: p,
                value: v,
            });
            Some(profiles.len() - 1)
        });
        if let Some(i) = idx {
            by_key.insert(key, i);
        }
        node_profiles.push(idx);
    }

    if diags.has_errors() {
        return Err(fail(sources, diags));
    }
    Ok(Loaded {
        sources,
        cluster,
        nodes,
        node_profiles,
        profiles,
        selected,
        warnings: diags,
    })
}

fn fail(sources: Sources, diags: Diags) -> ConfigError {
    ConfigError {
        sources,
        diags: diags.items,
    }
}

fn is_profile_path(name: &str) -> bool {
    name.contains('/') || name.ends_with(".toml")
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Read a file into `sources`. On failure, report it at the place that referred
/// to it (or on its own when the user named it on the command line).
fn read_source(
    sources: &mut Sources,
    diags: &mut Diags,
    path: &Path,
    referrer: Option<(FileId, Option<std::ops::Range<usize>>)>,
) -> Option<(FileId, String)> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some((sources.add(path, text.clone()), text)),
        Err(e) => {
            let (file, span) = referrer.unwrap_or((usize::MAX, None));
            let file = (file != usize::MAX).then_some(file);
            diags.error(
                file,
                span,
                format!("cannot read {}: {e}", path.display()),
                "paths are relative to the file that names them",
            );
            None
        }
    }
}

fn parse_file<T: DeserializeOwned>(sources: &Sources, diags: &mut Diags, id: FileId) -> Option<T> {
    match parse::parse_all::<T>(sources.text(id)) {
        Ok(v) => Some(v),
        Err(problems) => {
            for p in problems {
                diags.error(Some(id), p.span, p.message, p.hint);
            }
            None
        }
    }
}

/// The node files of a cluster: its `nodes` list, or the TOML files beside it
/// that name it as their cluster.
fn node_file_paths(
    cluster: &Loc<ClusterFile>,
    diags: &mut Diags,
) -> Vec<(PathBuf, Option<std::ops::Range<usize>>)> {
    let dir = cluster.dir();
    if let Some(list) = &cluster.value.nodes {
        return list
            .get_ref()
            .iter()
            .map(|n| (dir.join(n.get_ref()), Some(n.span())))
            .collect();
    }
    let mut found = Vec::new();
    let entries = match std::fs::read_dir(if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    }) {
        Ok(e) => e,
        Err(e) => {
            diags.error(
                Some(cluster.file),
                None,
                format!("cannot list {}: {e}", dir.display()),
                "",
            );
            return found;
        }
    };
    let cluster_name = cluster.path.file_name();
    for entry in entries.flatten() {
        let p = entry.path();
        if p.extension().is_none_or(|e| e != "toml") || p.file_name() == cluster_name {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&p) else {
            continue;
        };
        let names_us = text
            .parse::<toml_edit::DocumentMut>()
            .ok()
            .and_then(|d| d.get("cluster")?.as_str().map(|c| dir.join(c)))
            .is_some_and(|c| same_file(&c, &cluster.path));
        if names_us {
            found.push((p, None));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if found.is_empty() {
        diags.error(
            Some(cluster.file),
            None,
            "no node files found",
            "list them in `nodes = [\"node1.toml\", …]` or put node files with `cluster = \"<this file>\"` beside it",
        );
    }
    found
}
