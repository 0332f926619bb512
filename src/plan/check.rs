//! Validators for single values. Each returns `Err(reason)` in words a user can
//! act on. They are deliberately strict: every value here ends up in a file on
//! the node (YAML, an env file, fstab, a kernel command line), and refusing odd
//! characters up front is simpler to trust than escaping them everywhere.

/// An RFC 1123 DNS label, lowercase: Kubernetes node names and Tailscale
/// hostnames both need it.
pub fn dns_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("must be 1 to 63 characters (is {})", s.len()));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err("may contain only lowercase letters a-z, digits and '-'".into());
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err("must not start or end with '-'".into());
    }
    Ok(())
}

/// A DNS name of two or more labels (the tailnet suffix, a SAN).
pub fn dns_name(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err("is longer than 253 characters".into());
    }
    let labels: Vec<&str> = s.split('.').collect();
    if labels.len() < 2 {
        return Err("must have at least two labels, like example.ts.net".into());
    }
    for l in labels {
        dns_label(l).map_err(|e| format!("label `{l}` {e}"))?;
    }
    Ok(())
}

/// A TLS subject alternative name: a DNS name or an IP address.
pub fn san(s: &str) -> Result<(), String> {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    dns_name(s).or_else(|_| dns_label(s))
}

/// A Kubernetes qualified name: `[prefix/]name`.
fn qualified_name(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        dns_name(p).map_err(|e| format!("prefix `{p}` {e}"))?;
    }
    label_value(name)?;
    if name.is_empty() {
        return Err("name part is empty".into());
    }
    Ok(())
}

/// A label value: up to 63 of `[A-Za-z0-9._-]`, alphanumeric at both ends.
fn label_value(v: &str) -> Result<(), String> {
    if v.len() > 63 {
        return Err(format!("`{v}` is longer than 63 characters"));
    }
    if !v
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(format!("`{v}` may contain only A-Z a-z 0-9 . _ -"));
    }
    let alnum = |c: Option<char>| c.is_none_or(|c| c.is_ascii_alphanumeric());
    if !alnum(v.chars().next()) || !alnum(v.chars().last()) {
        return Err(format!("`{v}` must start and end with a letter or digit"));
    }
    Ok(())
}

/// Label prefixes a kubelet may set on its own node (NodeRestriction); other
/// `kubernetes.io`/`k8s.io` labels make K3s fail to start (facts §3).
fn allowed_restricted_label(key: &str) -> bool {
    key.starts_with("kubelet.kubernetes.io/")
        || key.starts_with("node.kubernetes.io/")
        || key == "topology.kubernetes.io/zone"
        || key == "topology.kubernetes.io/region"
}

/// A node label `key=value`.
pub fn node_label(s: &str) -> Result<(), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or("must be key=value, e.g. topology.kubernetes.io/zone=home")?;
    qualified_name(key)?;
    label_value(value)?;
    if let Some((prefix, _)) = key.rsplit_once('/') {
        let restricted = ["kubernetes.io", "k8s.io"]
            .iter()
            .any(|r| prefix == *r || prefix.ends_with(&format!(".{r}")));
        if restricted && !allowed_restricted_label(key) {
            return Err(format!(
                "`{prefix}` labels are reserved: K3s refuses to start with them (use your own prefix, or node.kubernetes.io/…)"
            ));
        }
    }
    Ok(())
}

/// A taint `key[=value]:Effect`.
pub fn taint(s: &str) -> Result<(), String> {
    let (kv, effect) = s
        .rsplit_once(':')
        .ok_or("must be key=value:Effect, e.g. node-role.kubernetes.io/witness=true:NoSchedule")?;
    if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
        return Err(format!(
            "effect `{effect}` must be NoSchedule, PreferNoSchedule or NoExecute"
        ));
    }
    let (key, value) = kv.split_once('=').unwrap_or((kv, ""));
    qualified_name(key)?;
    label_value(value)
}

const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// An OpenSSH public key line: type, base64 blob, optional comment. The comment
/// may hold any printable text; it is written only into data files.
pub fn ssh_key(s: &str) -> Result<(), String> {
    if s.chars().any(char::is_control) {
        return Err("must be one line without control characters".into());
    }
    let mut parts = s.splitn(3, ' ');
    let ty = parts.next().unwrap_or("");
    if !SSH_KEY_TYPES.contains(&ty) {
        return Err(format!(
            "key type `{ty}` is not one of {}",
            SSH_KEY_TYPES.join(", ")
        ));
    }
    let blob = parts.next().unwrap_or("");
    if blob.len() < 16
        || !blob
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
    {
        return Err("the second field must be the key's base64 data".into());
    }
    Ok(())
}

/// A POSIX user or group name as Debian's useradd accepts it.
pub fn unix_name(s: &str) -> Result<(), String> {
    let ok_first = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if !ok_first
        || s.len() > 32
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-'))
    {
        return Err("must be 1-32 of a-z 0-9 _ -, starting with a letter or _".into());
    }
    Ok(())
}

pub fn kernel_module(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    {
        return Err("must be 1-64 of A-Z a-z 0-9 _ -".into());
    }
    Ok(())
}

pub fn sysctl_key(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.starts_with(['.', '/'])
        || !s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-' | b'/')
        })
    {
        return Err("must look like net.ipv4.ip_forward (a-z 0-9 . _ - /)".into());
    }
    Ok(())
}

/// A sysctl value: one line of printable text (it may hold spaces, as in
/// `net.ipv4.ping_group_range = 0 2147483647`).
pub fn sysctl_value(s: &str) -> Result<(), String> {
    if s.trim().is_empty() || s.len() > 256 || s.chars().any(char::is_control) {
        return Err("must be one non-empty line of printable text".into());
    }
    Ok(())
}

/// One kernel command-line argument.
pub fn cmdline_arg(s: &str) -> Result<(), String> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'))
    {
        return Err("must be one word of printable ASCII, without quotes".into());
    }
    Ok(())
}

/// A path on the node that goes into fstab and unit files.
pub fn node_path(s: &str, absolute: bool) -> Result<(), String> {
    if absolute && !s.starts_with('/') {
        return Err("must be an absolute path".into());
    }
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'_' | b'-' | b':'))
    {
        return Err("may contain only A-Z a-z 0-9 / . _ - :".into());
    }
    if s.split('/').any(|c| c == "..") {
        return Err("must not contain `..`".into());
    }
    Ok(())
}

/// A K3s release tag like `v1.31.4+k3s1`.
pub fn k3s_version(s: &str) -> Result<(), String> {
    let bad = || "must look like v1.31.4+k3s1".to_string();
    let rest = s.strip_prefix('v').ok_or_else(bad)?;
    let (semver, k3s) = rest.split_once("+k3s").ok_or_else(bad)?;
    let nums: Vec<&str> = semver.split(['.', '-']).collect();
    let numeric = nums.iter().take(3).all(|n| n.parse::<u32>().is_ok());
    if nums.len() < 3 || !numeric || k3s.parse::<u32>().is_err() {
        return Err(bad());
    }
    if !semver
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(bad());
    }
    Ok(())
}

/// A short word: component names, interface names, suites, packages, sites.
pub fn word(s: &str, max: usize) -> Result<(), String> {
    if s.is_empty()
        || s.len() > max
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    {
        return Err(format!("must be 1-{max} of A-Z a-z 0-9 . _ - +"));
    }
    Ok(())
}

/// A Tailscale ACL tag, `tag:name`.
pub fn tailscale_tag(s: &str) -> Result<(), String> {
    let name = s
        .strip_prefix("tag:")
        .ok_or("must start with `tag:`, e.g. tag:k3s")?;
    dns_label(name).map_err(|e| format!("tag name {e}"))
}

/// A URL with an `https://` scheme (or `http://` when allowed) and no spaces.
pub fn url(s: &str, allow_http: bool) -> Result<(), String> {
    let ok_scheme = s.starts_with("https://") || (allow_http && s.starts_with("http://"));
    if !ok_scheme {
        return Err(if allow_http {
            "must start with http:// or https://".into()
        } else {
            "must start with https://".into()
        });
    }
    if s.chars().any(|c| c.is_whitespace() || c.is_control()) || s.contains(['"', '\'', '`']) {
        return Err("must not contain spaces, quotes or control characters".into());
    }
    Ok(())
}

/// The PEM text of a CA file: at most 64 KiB of CERTIFICATE blocks (no
/// private key, nothing else), read once.
pub fn pem_certificates(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    const MAX: u64 = 64 * 1024;
    let f = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut text = String::new();
    f.take(MAX + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("not a PEM text file: {e}"))?;
    if text.len() as u64 > MAX {
        return Err("larger than 64 KiB: not a CA certificate file".into());
    }
    let begins = text.matches("-----BEGIN ").count();
    let certs = text.matches("-----BEGIN CERTIFICATE-----").count();
    if certs == 0 {
        return Err("holds no -----BEGIN CERTIFICATE----- block".into());
    }
    if begins != certs {
        return Err("holds PEM blocks other than certificates (a private key?)".into());
    }
    if certs != text.matches("-----END CERTIFICATE-----").count() {
        return Err("a certificate block has no END line".into());
    }
    Ok(text)
}

/// A five-field cron expression as K3s's snapshot schedule takes it.
pub fn cron(s: &str) -> Result<(), String> {
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'*' | b'/' | b',' | b'-' | b' '))
    {
        return Err("must be a five-field cron expression like `0 */6 * * *`".into());
    }
    Ok(())
}

pub fn file_mode(s: &str) -> Result<(), String> {
    if !(3..=4).contains(&s.len()) || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err("must be an octal mode like 0600".into());
    }
    Ok(())
}

pub fn sha256_hex(s: &str) -> Result<(), String> {
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("must be 64 hexadecimal digits".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert!(dns_label("raspi1").is_ok());
        for bad in [
            "",
            "-a",
            "a-",
            "Raspi",
            "a.b",
            "a b",
            "a$(id)",
            "a`x`",
            "ä",
            "a\nb",
            &"x".repeat(64),
        ] {
            assert!(dns_label(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn labels_and_taints() {
        assert!(node_label("topology.kubernetes.io/zone=home").is_ok());
        assert!(node_label("haimg.dev/disk=ssd").is_ok());
        assert!(node_label("node-role.kubernetes.io/worker=true").is_err());
        assert!(node_label("kubernetes.io/role=x").is_err());
        assert!(node_label("a=b\"c").is_err());
        assert!(node_label("noequals").is_err());
        assert!(taint("node-role.kubernetes.io/witness=true:NoSchedule").is_ok());
        assert!(taint("dedicated:NoExecute").is_ok());
        assert!(taint("a=b:Never").is_err());
        assert!(taint("a=$(x):NoSchedule").is_err());
    }

    #[test]
    fn ssh_keys() {
        let blob = "AAAAC3NzaC1lZDI1NTE5AAAAIOx1";
        assert!(ssh_key(&format!("ssh-ed25519 {blob} me@host")).is_ok());
        assert!(ssh_key(&format!("ssh-ed25519 {blob} `rm -rf /` $(x) 'q\" ü")).is_ok());
        assert!(ssh_key(&format!("ssh-ed25519 {blob}\nssh-rsa {blob}")).is_err());
        assert!(ssh_key(&format!("ssh-dss {blob}")).is_err());
        assert!(ssh_key("ssh-ed25519 not*base64!").is_err());
    }

    #[test]
    fn versions_and_misc() {
        assert!(k3s_version("v1.31.4+k3s1").is_ok());
        assert!(k3s_version("v1.32.0-rc1+k3s1").is_ok());
        assert!(k3s_version("1.31.4").is_err());
        assert!(k3s_version("v1.31.4+k3s1;rm").is_err());
        assert!(cron("0 */6 * * *").is_ok());
        assert!(cron("@daily").is_err());
        assert!(node_path("/mnt/k3s-storage", true).is_ok());
        assert!(node_path("/mnt/a b", true).is_err());
        assert!(node_path("/mnt/../etc", true).is_err());
        assert!(sysctl_value("0 2147483647").is_ok());
        assert!(sysctl_value("1\nkernel.x=1").is_err());
        assert!(tailscale_tag("tag:k3s").is_ok());
        assert!(tailscale_tag("k3s").is_err());
        assert!(san("100.64.0.1").is_ok());
        assert!(url("https://x.example/a", false).is_ok());
        assert!(url("http://x.example/a", false).is_err());
    }
}
