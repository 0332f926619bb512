//! The bootloader configuration haimg writes: the release's own
//! `bootconf.txt` with BOOT_ORDER (and PCIE_PROBE for NVMe on a Pi 5) set.

/// Boot modes by name, as the Raspberry Pi documentation's BOOT_ORDER
/// table numbers them (computers/raspberry-pi/eeprom-bootloader.adoc):
/// read right to left, `f` restarts the list.
pub const MODES: [(&str, char); 6] = [
    ("sd", '1'),
    ("network", '2'),
    ("rpiboot", '3'),
    ("usb", '4'),
    ("nvme", '6'),
    ("http", '7'),
];

/// `usb,nvme,sd` → `0xf164`: the first mode tried is the lowest digit,
/// and `f` (start again) is the highest.
pub fn boot_order(list: &[String]) -> Result<String, String> {
    if list.is_empty() {
        return Err("--boot-order needs at least one mode".into());
    }
    if list.len() > 7 {
        return Err("--boot-order takes at most 7 modes".into());
    }
    let mut digits = String::new();
    for name in list {
        let d = MODES
            .iter()
            .find(|(n, _)| *n == name.as_str())
            .map(|(_, d)| *d)
            .ok_or_else(|| {
                format!(
                    "unknown boot mode `{name}` (known: {})",
                    MODES.map(|(n, _)| n).join(", ")
                )
            })?;
        if digits.contains(d) {
            return Err(format!("boot mode `{name}` is listed twice"));
        }
        digits.insert(0, d);
    }
    Ok(format!("0xf{digits}"))
}

/// `base` (the release's bootconf.txt) with every BOOT_ORDER (and, when
/// `pcie_probe`, PCIE_PROBE) line dropped and the new values set at the end
/// under `[all]`: a later value overrides, and `[all]` applies to every
/// board whatever section came before (config_txt conditional filters).
pub fn edit(base: &str, order: &str, pcie_probe: bool) -> String {
    let keys: &[&str] = if pcie_probe {
        &["BOOT_ORDER", "PCIE_PROBE"]
    } else {
        &["BOOT_ORDER"]
    };
    let mut out = String::new();
    let mut section = "all".to_string();
    for line in base.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            section = name.to_string();
        }
        let key = t.split('=').next().unwrap_or_default().trim();
        if keys.contains(&key) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if section != "all" {
        out.push_str("[all]\n");
    }
    out.push_str(&format!("BOOT_ORDER={order}\n"));
    if pcie_probe {
        out.push_str("PCIE_PROBE=1\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split(',').map(String::from).collect()
    }

    #[test]
    fn boot_order_reads_right_to_left() {
        // The documented presets: Pi 4 USB first 0xf14, Pi 5 0xf146/0xf461.
        assert_eq!(boot_order(&v("usb,sd")).as_deref(), Ok("0xf14"));
        assert_eq!(boot_order(&v("nvme,usb,sd")).as_deref(), Ok("0xf146"));
        assert_eq!(boot_order(&v("sd,nvme,usb")).as_deref(), Ok("0xf461"));
        assert!(
            boot_order(&v("usb,usb"))
                .expect_err("dup")
                .contains("twice")
        );
        assert!(
            boot_order(&v("floppy"))
                .expect_err("unknown")
                .contains("known: sd")
        );
        assert!(boot_order(&[]).is_err());
    }

    #[test]
    fn edit_replaces_and_keeps_the_rest() {
        let base = "[all]\nBOOT_UART=1\nBOOT_ORDER=0xf461\nNET_INSTALL_AT_POWER_ON=1\n";
        assert_eq!(
            edit(base, "0xf146", true),
            "[all]\nBOOT_UART=1\nNET_INSTALL_AT_POWER_ON=1\nBOOT_ORDER=0xf146\nPCIE_PROBE=1\n"
        );
        let filtered = "[all]\nBOOT_UART=0\n[cm4]\nBOOT_ORDER=0xf21\n";
        assert_eq!(
            edit(filtered, "0xf14", false),
            "[all]\nBOOT_UART=0\n[cm4]\n[all]\nBOOT_ORDER=0xf14\n"
        );
    }
}
