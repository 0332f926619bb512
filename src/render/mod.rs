//! render: a [`NodePlan`] becomes the exact files that node needs, on its root
//! filesystem and on its boot partition. YAML comes from a serializer, shell
//! scripts are static (from `overlays/`) and read their values from data files.

mod cloudinit;
mod k3s;
mod manifest;
mod rpi;
mod shell;
pub mod stack;
pub(crate) mod units;
mod userdata;

use std::io;
use std::path::Path;

use crate::config::{BaseKind, BootKind};
use crate::plan::{ClusterPlan, NodePlan};
use crate::secrets::Secret;
use crate::source::{Chart, PayloadFile};

pub use crate::tree::{Entry, Files, file};
pub use manifest::{FORMAT as MANIFEST_FORMAT, MANIFEST_BOOT_PATH};
pub use shell::sh_quote;
pub use userdata::{SMALL_LIMIT, VM_BOOT_DIR, vm_user_data};

/// Everything a node needs beyond its base OS.
#[derive(Debug, Default, Clone)]
pub struct Rendered {
    /// Files for the root filesystem.
    pub root: Files,
    /// Files for the FAT boot partition (or ESP).
    pub boot: Files,
}

/// The node's secrets, or `None` to write placeholders (`render` without
/// `--with-secrets`).
pub struct SecretValues<'a> {
    pub token: Option<&'a Secret>,
    pub authkey: Option<&'a Secret>,
    /// The stack's passwords by file name (`postgres-superuser`, …).
    pub stack: Option<&'a [(String, Secret)]>,
}

/// Placeholder written instead of a secret when secrets are withheld.
pub const REDACTED: &str = "[redacted: run render --with-secrets to include]\n";

/// Where the boot partition is mounted on the node.
pub fn boot_mount(node: &NodePlan) -> &'static str {
    match node.profile.boot {
        BootKind::Rpi => "/boot/firmware",
        BootKind::Uefi => "/boot/efi",
    }
}

/// What the render is for: the node's disk image, or the user-data that
/// turns a provider's stock VM into the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Image,
    UserData,
}

/// Where haimg's boot-side files (secrets, payload, manifest) are on the
/// node: the boot partition, except on a UEFI `image` base, whose small ESP
/// holds the vendor's boot loader and not a 100 MB payload (Debian
/// genericcloud: 124 MiB), and on a VM made from user-data, which has no
/// boot partition of haimg's: there they are in root, under this folder.
pub fn boot_dir(node: &NodePlan, target: Target) -> &'static str {
    if in_root(node) || target == Target::UserData {
        ROOT_BOOT_DIR
    } else {
        boot_mount(node)
    }
}

/// The folder in root that stands for the boot partition (UEFI image bases,
/// cloud VMs made from user-data).
pub const ROOT_BOOT_DIR: &str = "/var/lib/haimg/boot";

fn in_root(node: &NodePlan) -> bool {
    node.base.kind == BaseKind::Image && node.profile.boot == BootKind::Uefi
}

/// NoCloud's seed folder in root (cloud-init's `/var/lib/cloud/seed/nocloud`),
/// where the seed goes when there is no boot partition of haimg's to carry it.
const SEED_DIR: &str = "var/lib/cloud/seed/nocloud";

/// For a UEFI image base, the boot side moves into root: the seed to
/// NoCloud's seed folder, the rest under [`ROOT_BOOT_DIR`].
fn boot_into_root(node: &NodePlan, r: &mut Rendered) {
    if !in_root(node) {
        return;
    }
    for (path, entry) in std::mem::take(&mut r.boot) {
        let to = if matches!(path.as_str(), "user-data" | "meta-data" | "network-config") {
            format!("{SEED_DIR}/{path}")
        } else {
            format!("{}/{path}", ROOT_BOOT_DIR.trim_start_matches('/'))
        };
        r.root.insert(to, entry);
    }
}

/// Boot partition paths of the secrets, relative to its root.
pub const TOKEN_BOOT_PATH: &str = "haimg/secrets/k3s-token";
pub const AUTHKEY_BOOT_PATH: &str = "haimg/secrets/tailscale-authkey";

/// Boot-partition files through which first-boot customisers (Raspberry Pi
/// Imager's OS customisation writes `firstrun.sh` or a cloud-init seed)
/// configure a system. First boot warns about any of them haimg did not write
/// (scrub.sh): they would fight haimg over users, keys and the network.
pub const CUSTOMISER_FILES: &[&str] = &["firstrun.sh", "user-data", "meta-data", "network-config"];

/// `/etc/haimg/boot-owned.sha256`: "SHA256  NAME" of each customiser file
/// haimg itself writes (a cloud-init seed), for scrub.sh to tell them apart.
fn boot_owned(boot: &Files) -> String {
    use sha2::{Digest, Sha256};
    let mut s = String::from(
        "# The first-boot files haimg wrote on the boot partition; scrub.sh warns about others.\n",
    );
    for name in CUSTOMISER_FILES {
        if let Some(Entry::File { data, .. }) = boot.get(*name) {
            s.push_str(&format!("{}  {name}\n", hex::encode(Sha256::digest(data))));
        }
    }
    s
}

/// Boot partition path of `haimg build --new-cluster`'s one-shot flag, read
/// (and then wiped) by k3s-role.sh.
pub const NEW_CLUSTER_BOOT_PATH: &str = "haimg/new-cluster";

/// Let the bootstrap server create the cluster without waiting for peers.
pub fn new_cluster_flag(node: &NodePlan, r: &mut Rendered) {
    r.boot.insert(
        NEW_CLUSTER_BOOT_PATH.into(),
        file(
            0o600,
            "Written by haimg build --new-cluster: this node creates a new cluster on first boot.\n",
        ),
    );
    boot_into_root(node, r);
}

/// Render all files of one node: what its image holds beyond the base.
pub fn render(
    cluster: &ClusterPlan,
    node: &NodePlan,
    secrets: &SecretValues<'_>,
    payload: &[PayloadFile],
    charts: &[Chart],
) -> Rendered {
    render_for(cluster, node, secrets, payload, charts, Target::Image)
}

/// [`render`] for `target`.
pub fn render_for(
    cluster: &ClusterPlan,
    node: &NodePlan,
    secrets: &SecretValues<'_>,
    payload: &[PayloadFile],
    charts: &[Chart],
    target: Target,
) -> Rendered {
    let mut out = Rendered::default();
    let root = &mut out.root;

    if !payload.is_empty() {
        let mut manifest = String::from(
            "# sha256 size name; checked by /usr/lib/haimg/payload.sh before installing\n",
        );
        for p in payload {
            manifest.push_str(&format!("{} {} {}\n", p.sha256, p.size, p.name));
            out.boot.insert(
                format!("haimg/payload/{}", p.name),
                crate::tree::host(0o644, &p.path),
            );
        }
        root.insert("etc/haimg/payload.sha256".into(), file(0o644, manifest));
    }

    out.boot.insert(
        MANIFEST_BOOT_PATH.into(),
        file(0o644, manifest::json(cluster, node, payload)),
    );
    let root = &mut out.root;
    root.insert(
        "etc/hostname".into(),
        file(0o644, format!("{}\n", node.hostname)),
    );
    root.insert(
        "etc/haimg/node.env".into(),
        file(0o644, shell::node_env(cluster, node, target)),
    );
    root.insert(
        "etc/haimg/tailscale-up.args".into(),
        file(0o644, shell::tailscale_args(cluster, node)),
    );
    if let Some(ca) = &cluster.tailscale.login_server_ca {
        // Go's crypto/x509 reads every file in /etc/ssl/certs besides the
        // bundle (root_unix.go, loadSystemRoots): tailscaled trusts it for
        // control and DERP without update-ca-certificates.
        root.insert(
            "etc/ssl/certs/haimg-login-server-ca.pem".into(),
            file(0o644, ca.clone()),
        );
    }
    for u in &node.users {
        let mut keys = u.ssh_keys.join("\n");
        keys.push('\n');
        root.insert(
            format!("etc/haimg/users/{}/authorized_keys", u.name),
            file(0o644, keys),
        );
        root.insert(
            format!("etc/haimg/users/{}/groups", u.name),
            file(0o644, format!("{}\n", u.groups.join("\n"))),
        );
    }

    // Wired DHCP for systemd-networkd: Debian bases built by haimg have no
    // other network configuration (the first boot test found the NIC left
    // unconfigured). On bases with NetworkManager or ifupdown, networkd is off
    // and this file is inert.
    root.insert(
        "etc/systemd/network/80-haimg-wired.network".into(),
        file(
            0o644,
            "# Written by haimg: DHCP on every wired interface.\n[Match]\nName=en* eth* end*\n\n[Network]\nDHCP=yes\n",
        ),
    );
    if node.base.kind == BaseKind::Debian {
        // systemd-resolved (a required package of debian bases) serves the
        // DNS servers networkd gets from DHCP and, with accept-dns, the
        // tailnet's names. The base's own resolv.conf is a copy of the build
        // host's (mmdebstrap), dead on the node: use resolved's stub.
        root.insert(
            "etc/resolv.conf".into(),
            Entry::Symlink {
                target: "../run/systemd/resolve/stub-resolv.conf".into(),
            },
        );
        // Debian installs systemd-networkd disabled; the wired .network file
        // above needs it running (the arm64 boot test found no network), and
        // network-online.target should mean a configured link.
        for (wants, unit) in [
            ("multi-user.target.wants", "systemd-networkd.service"),
            ("sockets.target.wants", "systemd-networkd.socket"),
            (
                "network-online.target.wants",
                "systemd-networkd-wait-online.service",
            ),
        ] {
            root.insert(
                format!("etc/systemd/system/{wants}/{unit}"),
                Entry::Symlink {
                    target: format!("/lib/systemd/system/{unit}"),
                },
            );
        }
    }
    root.insert(
        "etc/modules-load.d/haimg.conf".into(),
        file(
            0o644,
            format!(
                "# Written by haimg: modules K3s and flannel need.\n{}\n",
                node.modules.join("\n")
            ),
        ),
    );
    let mut sysctl = String::from("# Written by haimg: K3s networking needs these (seed 000).\n");
    for (k, v) in &node.sysctls {
        sysctl.push_str(&format!("{k} = {v}\n"));
    }
    root.insert("etc/sysctl.d/90-haimg.conf".into(), file(0o644, sysctl));

    k3s::render(cluster, node, root);
    units::render(node, root);
    stack::render(cluster, node, charts, secrets.stack, root, &mut out.boot);

    let cmdline = kernel_cmdline(node);
    match node.profile.boot {
        BootKind::Rpi => rpi::render(node, &cmdline, &mut out),
        BootKind::Uefi => {
            // kernel-install (systemd-boot) reads this when a kernel is updated
            // on the node, so the command line survives upgrades.
            out.root.insert(
                "etc/kernel/cmdline".into(),
                file(0o644, format!("{cmdline}\n")),
            );
        }
    }

    let secret = |s: Option<&Secret>| match s {
        Some(v) => format!("{}\n", v.expose()),
        None => REDACTED.to_string(),
    };
    out.boot
        .insert(TOKEN_BOOT_PATH.into(), file(0o600, secret(secrets.token)));
    out.boot.insert(
        AUTHKEY_BOOT_PATH.into(),
        file(0o600, secret(secrets.authkey)),
    );

    if node.base.cloud_init || node.profile.cloud_init {
        let seed = cloudinit::seed(node, &out.root);
        out.boot.extend(seed);
    }
    out.root.insert(
        "etc/haimg/boot-owned.sha256".into(),
        file(0o644, boot_owned(&out.boot)),
    );
    // The image's own layout and identity: after the seed, which must not
    // carry them to a base with a layout of its own.
    out.root
        .insert("etc/fstab".into(), file(0o644, fstab(node)));
    // "uninitialized": systemd makes a machine-id on first boot and treats
    // that boot as the first (ConditionFirstBoot).
    out.root
        .insert("etc/machine-id".into(), file(0o444, "uninitialized\n"));
    boot_into_root(node, &mut out);
    out
}

/// `/etc/fstab`: root and boot partition by PARTUUID. The boot partition holds
/// secrets until first boot ends: mounted 0700 (FAT has no owners). First
/// boot needs it, so its device gets 5 minutes to appear, not systemd's 90 s
/// (a Pi's USB disk, a busy emulated machine: the arm64 boot test timed out).
fn fstab(node: &NodePlan) -> String {
    format!(
        "# Written by haimg. The data disk line is added on first boot.\nPARTUUID={} / ext4 defaults,noatime 0 1\nPARTUUID={} {} vfat defaults,umask=0077,nofail,x-systemd.device-timeout=5min 0 2\n",
        node.layout.root_partuuid(),
        node.layout.boot_partuuid(),
        boot_mount(node)
    )
}

/// The kernel command line: the profile's, the root device, the node's extras.
pub fn kernel_cmdline(node: &NodePlan) -> String {
    let mut args = vec![format!("root=PARTUUID={}", node.layout.root_partuuid())];
    args.extend(node.cmdline.iter().cloned());
    args.join(" ")
}

/// Write a rendered tree under `dir/root` and `dir/boot`. The caller writes into
/// a fresh temporary folder and renames it, so nothing is left half-written.
pub fn write_tree(r: &Rendered, dir: &Path) -> io::Result<()> {
    crate::tree::write(&r.root, &dir.join("root"))?;
    crate::tree::write(&r.boot, &dir.join("boot"))
}
