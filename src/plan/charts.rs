//! The Helm charts the stack needs, resolved against the pinned catalogue
//! (`profiles/charts.toml`) and `[stack.chart_repos]` mirrors.

use serde::Serialize;

use crate::config::catalogue;
use crate::config::stack::StackConfig;
use crate::diag::{Diags, FileId};

/// One chart to fetch at build time and carry as `chartContent`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ChartRef {
    pub name: String,
    /// Repository URL (no trailing `/`), the catalogue's or a mirror.
    pub repo: String,
    pub version: String,
    pub namespace: String,
}

/// The charts of the enabled components, in a fixed order.
pub(super) fn resolve(cfg: &StackConfig, cf: FileId, diags: &mut Diags) -> Vec<ChartRef> {
    let mut names = Vec::new();
    if cfg.metallb.is_some() {
        names.push("metallb");
    }
    if cfg.longhorn.is_some() {
        names.push("longhorn");
    }
    if cfg.monitoring.is_some() {
        names.extend(["kube-prometheus-stack", "loki"]);
    }
    for (name, url) in &cfg.chart_repos {
        if catalogue::chart(name).is_none() {
            diags.error(
                Some(cf),
                Some(url.span()),
                format!("[stack.chart_repos] names `{name}`, which is not a chart of the stack"),
                format!("known: {}", catalogue::chart_names().join(", ")),
            );
        } else if !url.get_ref().contains("://") {
            diags.error(
                Some(cf),
                Some(url.span()),
                format!("chart repository {:?} is not a URL", url.get_ref()),
                "https://… (or http://127.0.0.1:… for a mirror on this machine)",
            );
        }
    }
    names
        .into_iter()
        .filter_map(|name| {
            let pin = catalogue::chart(name)?;
            let repo = cfg
                .chart_repos
                .get(name)
                .map_or(pin.repo, |u| u.get_ref().clone());
            Some(ChartRef {
                name: name.to_string(),
                repo: repo.trim_end_matches('/').to_string(),
                version: pin.version,
                namespace: pin.namespace,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_chart_of_the_stack_is_pinned() {
        let all: std::collections::BTreeMap<String, crate::config::catalogue::ChartPin> =
            toml::from_str(crate::config::catalogue::CHARTS).expect("charts.toml parses");
        for name in ["metallb", "longhorn", "kube-prometheus-stack", "loki"] {
            let pin = all.get(name).expect(name);
            assert!(pin.repo.starts_with("https://"), "{name}");
            assert!(
                !pin.version.is_empty() && !pin.namespace.is_empty(),
                "{name}"
            );
        }
    }
}
