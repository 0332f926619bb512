//! `haimg-status` (overlays/usr/lib/haimg/status.sh) against a fake
//! `k3s kubectl` that answers from a table: each part pending, deployed or
//! healthy by the API's fields, and the table kept in the state folder.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

#[test]
fn status_reads_each_part_from_the_api() {
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    // Answers: "NS KIND NAME JSONPATH VALUE" lines; an object with no line
    // at all is NotFound (exit 1), as kubectl says.
    let answers = "\
kube-system helmchart metallb {.status.jobName} helm-install-metallb
kube-system job helm-install-metallb {.status.succeeded} 1
kube-system helmchart longhorn {.status.jobName} helm-install-longhorn
kube-system job helm-install-longhorn {.status.succeeded} -
database statefulset patroni {.spec.replicas} 2
database statefulset patroni {.status.readyReplicas} 1
vaultwarden deployment vaultwarden {.spec.replicas} 2
vaultwarden deployment vaultwarden {.status.readyReplicas} 2
database cronjob postgres-basebackup {.status.lastSuccessfulTime} 2026-12-04T03:00:00Z
";
    std::fs::write(tmp.path().join("answers"), answers).expect("answers");
    let fake = format!(
        "#!/bin/sh\n# k3s kubectl -n NS get KIND NAME [-o jsonpath=P]\nns=$3 kind=$5 name=$6\npath=${{8#jsonpath=}}\ngrep -q \"^$ns $kind $name \" {a} || {{ echo 'Error from server (NotFound)' >&2; exit 1; }}\n[ -n \"$path\" ] || exit 0\nv=$(grep \"^$ns $kind $name $path \" {a} | cut -d' ' -f5)\n[ \"$v\" = - ] || printf %s \"$v\"\n",
        a = tmp.path().join("answers").display()
    );
    let k3s = bin.join("k3s");
    std::fs::write(&k3s, fake).expect("fake");
    std::fs::set_permissions(&k3s, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let components = tmp.path().join("components");
    std::fs::write(
        &components,
        "# parts\nmetallb helmchart kube-system metallb\nlonghorn helmchart kube-system longhorn\nloki helmchart kube-system loki\npatroni statefulset database patroni\nvaultwarden deployment vaultwarden vaultwarden\nbackups cronjob database postgres-basebackup\n",
    )
    .expect("components");
    let o = std::process::Command::new("sh")
        .arg(repo().join("overlays/usr/lib/haimg/status.sh"))
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("HAIMG_STACK_COMPONENTS", &components)
        .env("HAIMG_STATE", tmp.path())
        .output()
        .expect("status.sh");
    let table = ok(&o, "status.sh");
    let line = |part: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{part} ")))
            .unwrap_or_else(|| panic!("no {part} in\n{table}"))
            .to_string()
    };
    assert!(line("metallb").ends_with(" healthy"), "{table}");
    assert!(line("longhorn").ends_with(" deployed"), "{table}");
    assert!(line("loki").ends_with(" pending"), "{table}");
    assert!(
        line("patroni").ends_with(" deployed (1/2 ready)"),
        "{table}"
    );
    assert!(line("vaultwarden").ends_with(" healthy"), "{table}");
    assert!(
        line("backups").ends_with(" healthy (last run 2026-12-04T03:00:00Z)"),
        "{table}"
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("stack-status")).expect("kept"),
        table
    );
}
