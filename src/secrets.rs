//! Secrets: the K3s token and the Tailscale auth key. Read from 0600 files or the
//! environment, never printed (Debug and Display redact), created by
//! `haimg secrets init` from the OS's CSPRNG.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Environment variables that override the secret files.
pub const TOKEN_ENV: &str = "HAIMG_K3S_TOKEN";
pub const AUTHKEY_ENV: &str = "HAIMG_TAILSCALE_AUTHKEY";

/// A secret value. Its only way out is [`Secret::expose`], used where it is
/// written into the image.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Why a secret could not be used. Never carries the value.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SecretError {
    #[error("secret file {0} does not exist")]
    Missing(PathBuf),
    #[error("secret file {path} has mode {mode:04o}: readable or writable by group or others")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("secret file {0} holds no value yet (only comments or blank lines)")]
    Empty(PathBuf),
    #[error("secret in {0} contains whitespace or control characters inside the value")]
    Malformed(PathBuf),
    #[error("secret in {0} is too short ({1} characters; at least 16)")]
    TooShort(PathBuf, usize),
    #[error("cannot read secret file {0}: {1}")]
    Io(PathBuf, String),
}

impl SecretError {
    pub fn hint(&self) -> String {
        match self {
            SecretError::Missing(_) => {
                "run `haimg secrets init CLUSTER.toml`, or set HAIMG_K3S_TOKEN / HAIMG_TAILSCALE_AUTHKEY".into()
            }
            SecretError::TooOpen { path, .. } => format!("chmod 600 {}", path.display()),
            SecretError::Empty(_) => {
                "put the value on its own line (lines starting with # are ignored)".into()
            }
            _ => String::new(),
        }
    }
}

/// Where a secret comes from.
pub struct SecretSource<'a> {
    pub path: &'a Path,
    pub env: &'a str,
}

/// Read a secret: the environment variable if set and non-empty, else the file.
pub fn load(src: &SecretSource<'_>) -> Result<Secret, SecretError> {
    if let Ok(v) = std::env::var(src.env)
        && !v.trim().is_empty()
    {
        return validate(v.trim(), Path::new(src.env));
    }
    let path = src.path;
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SecretError::Missing(path.to_path_buf()));
        }
        Err(e) => return Err(SecretError::Io(path.to_path_buf(), e.to_string())),
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SecretError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text =
        fs::read_to_string(path).map_err(|e| SecretError::Io(path.to_path_buf(), e.to_string()))?;
    let value = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| SecretError::Empty(path.to_path_buf()))?;
    validate(value, path)
}

fn validate(value: &str, origin: &Path) -> Result<Secret, SecretError> {
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(SecretError::Malformed(origin.to_path_buf()));
    }
    let n = value.chars().count();
    if n < 16 {
        return Err(SecretError::TooShort(origin.to_path_buf(), n));
    }
    Ok(Secret(value.to_string()))
}

/// A new K3s token: 32 bytes from the OS CSPRNG as 64 hex digits. K3s accepts a
/// plain "short" token on the first server (facts §3, Tokens).
pub fn new_token() -> std::io::Result<Secret> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(Secret(hex::encode(bytes)))
}

pub const AUTHKEY_PLACEHOLDER: &str = "\
# Tailscale auth key for the nodes of this cluster.
#
# Make one in the Tailscale admin console (Settings -> Keys -> Generate auth
# key): reusable (one key serves every node: a single-use key lets only the
# first in), pre-approved, not ephemeral (the control server deletes an
# ephemeral node that stays offline), and tagged if the cluster's
# [tailscale] tags are set. headscale: `headscale preauthkeys create -u ID
# --reusable --tags tag:k3s -e 8760h`. Paste it on its own line below,
# replacing nothing else.
# Lines starting with # are ignored. Keep this file mode 0600.
# haimg copies the key to each node's boot partition for first boot only; the
# node deletes it once `tailscale up` has used it.
";

/// What `secrets init` did with one file.
#[derive(Debug, PartialEq)]
pub enum InitOutcome {
    Created,
    Kept,
}

/// Create a 0600 file with `contents` unless it exists (never overwritten).
pub fn create_secret_file(path: &Path, contents: &str) -> std::io::Result<InitOutcome> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match file {
        Ok(mut f) => {
            f.write_all(contents.as_bytes())?;
            f.sync_all()?;
            Ok(InitOutcome::Created)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(InitOutcome::Kept),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_redact() {
        let s = Secret("supersecretvalue123".into());
        assert!(!format!("{s:?}").contains("supersecret"));
        assert!(!format!("{s}").contains("supersecret"));
    }

    #[test]
    fn tokens_are_random_and_long() {
        let a = new_token().expect("rng");
        let b = new_token().expect("rng");
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 64);
    }

    #[test]
    fn file_rules() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("s");
        let src = SecretSource {
            path: &p,
            env: "HAIMG_TEST_UNSET_VAR",
        };
        assert_eq!(load(&src), Err(SecretError::Missing(p.clone())));
        assert_eq!(
            create_secret_file(&p, "# comment\n\n").expect("create"),
            InitOutcome::Created
        );
        assert_eq!(load(&src), Err(SecretError::Empty(p.clone())));
        assert_eq!(
            create_secret_file(&p, "x").expect("again"),
            InitOutcome::Kept
        );
        fs::write(&p, "# c\n  abcdefghijklmnopqrstuvwxyz  \n").expect("write");
        assert_eq!(
            load(&src).expect("ok").expose(),
            "abcdefghijklmnopqrstuvwxyz"
        );
        fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).expect("chmod");
        assert!(matches!(
            load(&src),
            Err(SecretError::TooOpen { mode: 0o640, .. })
        ));
    }
}
