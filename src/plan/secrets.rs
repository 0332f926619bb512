//! The plan reads the cluster's secrets: the last of its I/O. Values stay
//! in [`Secret`]s, which never print.

use std::path::Path;

use super::ClusterPlan;
use crate::config::Loaded;
use crate::diag::Diags;
use crate::secrets::{AUTHKEY_ENV, Secret, SecretError, SecretSource, TOKEN_ENV, load};

/// The cluster's two secrets, as far as they could be read.
pub struct ClusterSecrets {
    pub token: Option<Secret>,
    pub authkey: Option<Secret>,
}

/// Read the cluster's secrets. Unsafe files are always errors; missing or empty
/// ones are errors when `strict` (render, build) and warnings otherwise (plan).
pub fn for_cluster(
    plan: &ClusterPlan,
    loaded: &Loaded,
    strict: bool,
    diags: &mut Diags,
) -> ClusterSecrets {
    let cfg = &loaded.cluster.value.secrets;
    let file = Some(loaded.cluster.file);
    let mut get =
        |path: &Path, env: &str, span: Option<std::ops::Range<usize>>| match load(&SecretSource {
            path,
            env,
        }) {
            Ok(s) => Some(s),
            Err(e) => {
                let soft = matches!(e, SecretError::Missing(_) | SecretError::Empty(_));
                if soft && !strict {
                    diags.warning(file, span, e.to_string(), e.hint());
                } else {
                    diags.error(file, span, e.to_string(), e.hint());
                }
                None
            }
        };
    let token = get(
        &plan.token_file,
        TOKEN_ENV,
        cfg.token_file.as_ref().map(|s| s.span()),
    );
    let authkey = get(
        &plan.authkey_file,
        AUTHKEY_ENV,
        cfg.authkey_file.as_ref().map(|s| s.span()),
    );
    ClusterSecrets { token, authkey }
}
