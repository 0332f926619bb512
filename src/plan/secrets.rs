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
    /// The stack's passwords that could be read, by file name
    /// (`postgres-superuser`, …; [`super::stack_secret_files`]).
    pub stack: Vec<(String, Secret)>,
}

/// The environment variable that overrides a stack secret file:
/// `postgres-superuser` → `HAIMG_STACK_POSTGRES_SUPERUSER`.
pub fn stack_env(name: &str) -> String {
    format!(
        "HAIMG_STACK_{}",
        name.to_ascii_uppercase().replace('-', "_")
    )
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
    // Missing stack secrets are warnings here: only an image of a server
    // that deploys the stack needs them (build checks that).
    let mut stack = Vec::new();
    for (path, what) in super::stack_secret_files(loaded) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let env = stack_env(&name);
        match load(&SecretSource {
            path: &path,
            env: &env,
        }) {
            Ok(v) => stack.push((name, v)),
            Err(e @ (SecretError::Missing(_) | SecretError::Empty(_))) => diags.warning(
                file,
                None,
                format!("{what}: {e}"),
                format!("run `haimg secrets init CLUSTER.toml`, or set {env}"),
            ),
            Err(e) => diags.error(file, None, format!("{what}: {e}"), e.hint()),
        }
    }
    ClusterSecrets {
        token,
        authkey,
        stack,
    }
}
