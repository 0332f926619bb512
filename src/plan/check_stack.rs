//! Value checks for `[stack.*]`: address pools, sizes, durations.

use std::net::Ipv4Addr;

/// A MetalLB address pool entry: `A.B.C.D/N` or `A.B.C.D-A.B.C.E` (IPv4,
/// first ≤ last), as MetalLB's IPAddressPool `addresses` takes them.
pub fn ip_pool(s: &str) -> Result<(), String> {
    let ip = |v: &str| {
        v.trim()
            .parse::<Ipv4Addr>()
            .map_err(|_| format!("{v:?} is not an IPv4 address"))
    };
    if let Some((a, n)) = s.split_once('/') {
        ip(a)?;
        match n.parse::<u8>() {
            Ok(0..=32) => Ok(()),
            _ => Err(format!("/{n} is not a prefix length (0-32)")),
        }
    } else if let Some((a, b)) = s.split_once('-') {
        if ip(a)? > ip(b)? {
            return Err("the range's first address is after its last".into());
        }
        Ok(())
    } else {
        Err("use A.B.C.D-A.B.C.E or A.B.C.D/N".into())
    }
}

/// A Kubernetes storage quantity in binary units: `10Gi`, `512Mi`.
pub fn quantity(s: &str) -> Result<(), String> {
    let n = ["Ki", "Mi", "Gi", "Ti"]
        .iter()
        .find_map(|u| s.strip_suffix(u));
    match n {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n != "0" => Ok(()),
        _ => Err("must be a size like 10Gi or 512Mi".into()),
    }
}

/// A Prometheus-style retention: a number and one of h, d, w, y (`15d`).
pub fn duration(s: &str) -> Result<(), String> {
    let n = s.strip_suffix(['h', 'd', 'w', 'y']);
    match n {
        Some(n) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n != "0" => Ok(()),
        _ => Err("must be a duration like 15d, 12h or 4w".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_sizes_and_durations() {
        assert!(ip_pool("192.168.1.240-192.168.1.250").is_ok());
        assert!(ip_pool("192.168.1.240/28").is_ok());
        assert!(ip_pool("192.168.1.250-192.168.1.240").is_err());
        assert!(ip_pool("192.168.1.240/33").is_err());
        assert!(ip_pool("192.168.1").is_err());
        assert!(ip_pool("fd00::1-fd00::2").is_err());
        assert!(quantity("10Gi").is_ok() && quantity("10GB").is_err() && quantity("Gi").is_err());
        assert!(duration("15d").is_ok() && duration("15").is_err() && duration("0d").is_err());
    }
}
