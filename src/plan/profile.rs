//! A board profile (built in, or a path) checked into a [`ProfilePlan`].

use super::ProfilePlan;
use super::check;
use super::node::{checked, required};
use crate::config::{Loc, ProfileFile, S, TableKind};
use crate::diag::Diags;

/// The plan of a profile, plus its default site and kernel command line.
pub(super) fn resolve(
    p: &Loc<ProfileFile>,
    diags: &mut Diags,
) -> Option<(ProfilePlan, String, Vec<String>)> {
    let f = p.file;
    let v = &p.value;
    let name = required(diags, f, &v.name, "name", "name = \"my-board\"");
    let arch = required(diags, f, &v.arch, "arch", "arch = \"arm64\"");
    let boot = required(diags, f, &v.boot, "boot", "boot = \"uefi\"");
    let disk = required(diags, f, &v.disk, "disk", "[disk] table = \"gpt\"");
    let disk = disk?;
    let table = required(diags, f, &disk.table, "disk.table", "table = \"gpt\"");
    let get = |o: &Option<S<u64>>, d: u64| o.as_ref().map_or(d, |s| *s.get_ref());
    let boot_offset_mib = get(&disk.boot_offset_mib, 1);
    let boot_size_mib = get(&disk.boot_size_mib, 512);
    let root_size_mib = get(&disk.root_size_mib, 8192);
    // Default: right after root, where earlier haimg images appended it.
    let root_end_mib = boot_offset_mib + boot_size_mib + root_size_mib;
    let data_offset_mib = get(&disk.data_offset_mib, root_end_mib);
    if data_offset_mib < root_end_mib {
        diags.error(
            Some(f),
            disk.data_offset_mib
                .as_ref()
                .or(disk.root_size_mib.as_ref())
                .map(|s| s.span()),
            format!(
                "the root partition would end at {root_end_mib} MiB, past the data partition at {data_offset_mib} MiB"
            ),
            format!(
                "a re-flash must never move or overlap a node's data: keep boot_offset_mib + boot_size_mib + root_size_mib <= data_offset_mib ({data_offset_mib}); moving data_offset_mib means starting from a blank data disk"
            ),
        );
    }
    if let Some(s) = &disk.boot_size_mib
        && !(64..=4096).contains(s.get_ref())
    {
        diags.error(
            Some(f),
            Some(s.span()),
            "boot_size_mib must be 64 to 4096",
            "FAT32 needs at least 64 MiB with 512-byte clusters",
        );
    }
    if let Some(s) = &disk.root_size_mib
        && *s.get_ref() < 512
    {
        diags.error(
            Some(f),
            Some(s.span()),
            "root_size_mib must be at least 512",
            "",
        );
    }
    if let Some(s) = &disk.boot_offset_mib
        && *s.get_ref() < 1
    {
        diags.error(
            Some(f),
            Some(s.span()),
            "boot_offset_mib must be at least 1 (the partition table lives before it)",
            "",
        );
    }
    let mut label = |o: &Option<S<String>>, d: &str, max: usize| -> String {
        match o {
            Some(s) => {
                checked(diags, f, s, "label", |v| {
                    if v.len() > max
                        || !v
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    {
                        Err(format!("must be 1-{max} of A-Z a-z 0-9 - _"))
                    } else {
                        Ok(())
                    }
                });
                s.get_ref().clone()
            }
            None => d.to_string(),
        }
    };
    let boot_label = label(&disk.boot_label, "BOOT", 11);
    let root_label = label(&disk.root_label, "root", 16);
    let strings = |list: &[S<String>],
                   what: &str,
                   diags: &mut Diags,
                   f2: fn(&str) -> Result<(), String>|
     -> Vec<String> {
        list.iter()
            .filter(|s| checked(diags, f, s, what, f2))
            .map(|s| s.get_ref().clone())
            .collect()
    };
    let (firmware, dtbs, config_txt) = match &v.rpi {
        Some(r) => {
            let r = r.get_ref();
            (
                strings(&r.firmware, "firmware file", diags, |s| check::word(s, 64)),
                strings(&r.dtbs, "DTB name", diags, |s| check::word(s, 64)),
                strings(&r.config_txt, "config.txt line", diags, config_txt_line),
            )
        }
        None => Default::default(),
    };
    let cmdline = strings(
        &v.kernel.cmdline,
        "kernel argument",
        diags,
        check::cmdline_arg,
    );
    let boot = *boot?;
    if boot == crate::config::BootKind::Rpi && *table? != TableKind::Mbr {
        diags.error(
            Some(f),
            disk.table.as_ref().map(|t| t.span()),
            "Raspberry Pi profiles use an MBR partition table here",
            "set table = \"mbr\"",
        );
    }
    let plan = ProfilePlan {
        name: name?.clone(),
        description: v
            .description
            .as_ref()
            .map(|d| d.get_ref().clone())
            .unwrap_or_default(),
        arch: *arch?,
        boot,
        table: *table?,
        boot_offset_mib,
        boot_size_mib,
        root_size_mib,
        data_offset_mib,
        boot_label,
        root_label,
        media: v
            .media
            .as_ref()
            .map_or(crate::config::Media::Ssd, |m| *m.get_ref()),
        firmware,
        dtbs,
        config_txt,
        cloud_init: v.cloud_init.as_ref().is_some_and(|c| *c.get_ref()),
        clock_sync_wait_s: v.clock_sync_wait_s.as_ref().map_or(0, |c| *c.get_ref()),
    };
    let site = v
        .site
        .as_ref()
        .map_or_else(|| "home".into(), |s| s.get_ref().clone());
    Some((plan, site, cmdline))
}

/// A `config.txt` line: `key=value`, `[section]`, or `initramfs FILE followkernel`
/// style; no quotes, no spaces around `=` (facts §1).
fn config_txt_line(s: &str) -> Result<(), String> {
    if s.chars().any(|c| c.is_control() || c == '"' || c == '\'')
        || s.contains(" =")
        || s.contains("= ")
    {
        return Err("one line, no quotes, no spaces around `=`".into());
    }
    Ok(())
}

impl super::ProfilePlan {
    /// Where root ends (MiB) at the profile's size: first boot grows root up
    /// to here, and the data partition starts at or after it.
    pub fn root_end_mib(&self) -> u64 {
        self.boot_offset_mib + self.boot_size_mib + self.root_size_mib
    }
}
