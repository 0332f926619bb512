//! The stack as rendered for the example cluster: charts fetched from a
//! chart repository on 127.0.0.1 and carried whole, every object checked
//! by an independent schema validator (kubernetes-validate), seed 002's
//! workload rules, nothing for the witness, no secret outside the Secrets.

mod common;

use std::path::{Path, PathBuf};

use base64::Engine as _;

use common::charts::*;
use common::*;

/// The example cluster in `dir`, its charts from `base`.
fn example(dir: &Path, base: &str) {
    for f in [
        "cluster.toml",
        "raspi1.toml",
        "raspi2.toml",
        "witness.toml",
        "pc.toml",
    ] {
        let mut text =
            std::fs::read_to_string(repo().join("examples/homelab").join(f)).expect("example");
        if f == "cluster.toml" {
            text.push_str("\n[stack.chart_repos]\n");
            for (n, _, _) in CHARTS {
                text.push_str(&format!("{n} = \"{base}/{n}\"\n"));
            }
        }
        std::fs::write(dir.join(f), text).expect("write");
    }
    write_secrets(dir);
}

/// Every YAML document of the manifests folder as JSON, with its file.
fn documents(dir: &Path) -> Vec<(String, serde_json::Value)> {
    let mut out = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("manifests")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    for f in files {
        let name = f.file_name().expect("name").to_string_lossy().into_owned();
        let py = format!(
            "import json, sys, yaml\nprint(json.dumps([d for d in yaml.safe_load_all(open({:?})) if d]))",
            f.display()
        );
        let docs: Vec<serde_json::Value> =
            serde_json::from_str(&ok(&sh("python3", &["-c", &py]), "yaml")).expect("json");
        out.extend(docs.into_iter().map(|d| (name.clone(), d)));
    }
    out
}

/// The offline schema check: kubernetes-validate (bundled schemas), from
/// the test venv .ci/install-deps makes, or PATH.
fn validator() -> PathBuf {
    let venv = PathBuf::from("/opt/haimg-test-venv/bin/kubernetes-validate");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("kubernetes-validate")
}

#[test]
fn stack_renders_valid_objects_with_charts_carried_whole() {
    let tmp = tempfile::tempdir().expect("tmp");
    let served = tmp.path().join("charts");
    let archives = chart_repo(&served);
    let http = common::httpd::Server::start(&served);
    let base = http.url("").trim_end_matches('/').to_string();
    let cache = tmp.path().join("cache");

    // Fetched once (the build's path), verified against the index's digest.
    let got = haimg::source::charts(&refs(&base), &fetcher(&cache)).expect("charts");
    assert_eq!(got.len(), CHARTS.len());
    for (c, (_, data)) in got.iter().zip(&archives) {
        assert_eq!(&c.data, data, "{}", c.name);
    }

    let dir = tmp.path().join("lab");
    std::fs::create_dir_all(&dir).expect("mkdir");
    example(&dir, &base);
    let out = tmp.path().join("out");
    let o = haimg()
        .args(["render", "cluster.toml", "--with-secrets", "--out"])
        .arg(&out)
        .env("HAIMG_CACHE", &cache)
        .current_dir(&dir)
        .output()
        .expect("render");
    ok(&o, "haimg render");

    let man = out.join("raspi1/root/usr/lib/haimg/manifests");
    let docs = documents(&man);
    // HelmCharts: the archive byte for byte, no repository needed, only
    // fields K3s's helm-controller knows (facts §3).
    let known = [
        "chart",
        "repo",
        "version",
        "chartContent",
        "targetNamespace",
        "createNamespace",
        "valuesContent",
        "set",
        "failurePolicy",
        "timeout",
        "bootstrap",
    ];
    for (name, data) in &archives {
        let (_, hc) = docs
            .iter()
            .find(|(_, d)| d["kind"] == "HelmChart" && d["metadata"]["name"] == name.as_str())
            .unwrap_or_else(|| panic!("no HelmChart {name}"));
        let spec = hc["spec"].as_object().expect("spec");
        let content = base64::engine::general_purpose::STANDARD
            .decode(spec["chartContent"].as_str().expect("chartContent"))
            .expect("base64");
        assert_eq!(
            &content, data,
            "{name}: chartContent is not the served archive"
        );
        assert!(
            spec.get("repo").is_none(),
            "{name}: first boot must need no repository"
        );
        for k in spec.keys() {
            assert!(
                known.contains(&k.as_str()),
                "{name}: unknown HelmChart field {k}"
            );
        }
        let ns = CHARTS.iter().find(|c| c.0 == name).expect("pinned").2;
        assert_eq!(spec["targetNamespace"], ns);
        let values = spec["valuesContent"].as_str().expect("values");
        assert!(
            !values.contains("tolerations"),
            "{name}: values tolerate a taint"
        );
    }

    // kubernetes-validate, strict: every core object passes; only the
    // custom resources (schemas not bundled) are skipped, by name.
    let files: Vec<String> = std::fs::read_dir(&man)
        .expect("dir")
        .map(|e| e.expect("e").path().display().to_string())
        .collect();
    let mut args = vec!["-k", "1.31.0", "--strict"];
    args.extend(files.iter().map(String::as_str));
    let v = std::process::Command::new(validator())
        .args(&args)
        .output()
        .expect("kubernetes-validate (installed by .ci/install-deps)");
    let report = format!("{}{}", stdout(&v), stderr(&v));
    assert!(v.status.success(), "{report}");
    let passed = report.matches(" passed for resource ").count();
    let crds = [
        "HelmChart",
        "IPAddressPool",
        "L2Advertisement",
        "PrometheusRule",
    ];
    let custom = docs
        .iter()
        .filter(|(_, d)| crds.contains(&d["kind"].as_str().unwrap_or("")))
        .count();
    assert_eq!(passed + custom, docs.len(), "{report}");
    for l in report
        .lines()
        .filter(|l| l.contains("Couldn't find schema"))
    {
        assert!(
            crds.iter().any(|k| l.contains(&format!("kind {k} "))),
            "{l}"
        );
    }

    workload_rules(&docs);
    witness_taint_tolerated_by_none(&out, &docs);

    // The witness and the agent deploy nothing; both servers carry the same.
    for n in ["witness", "pc"] {
        let t = tree(&out.join(n));
        assert!(
            !t.iter()
                .any(|(p, _, _)| p.contains("manifests/") || p.contains("stack")),
            "{n} carries stack files"
        );
    }
    assert_eq!(
        tree(&man),
        tree(&out.join("raspi2/root/usr/lib/haimg/manifests"))
    );
    no_secret_outside_secrets(&out);
}

/// Seed 002 on every workload: ≥ 2 replicas where the example asks for
/// them, one per node, a PDB, probes, requests and limits, no toleration.
fn workload_rules(docs: &[(String, serde_json::Value)]) {
    let workloads: Vec<&serde_json::Value> = docs
        .iter()
        .map(|(_, d)| d)
        .filter(|d| matches!(d["kind"].as_str(), Some("Deployment" | "StatefulSet")))
        .collect();
    assert_eq!(workloads.len(), 2, "Patroni and Vaultwarden");
    for w in workloads {
        let name = w["metadata"]["name"].as_str().expect("name");
        assert_eq!(w["spec"]["replicas"], 2, "{name}");
        let pod = &w["spec"]["template"]["spec"];
        let labels = &w["spec"]["template"]["metadata"]["labels"];
        let anti = &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
            [0];
        assert_eq!(anti["topologyKey"], "kubernetes.io/hostname", "{name}");
        assert_eq!(&anti["labelSelector"]["matchLabels"], labels, "{name}");
        assert!(pod.get("tolerations").is_none(), "{name} tolerates a taint");
        for c in pod["containers"].as_array().expect("containers") {
            for k in ["readinessProbe", "livenessProbe"] {
                assert!(c.get(k).is_some(), "{name}: no {k}");
            }
            assert!(c["resources"]["requests"]["memory"].is_string(), "{name}");
            assert!(c["resources"]["limits"]["memory"].is_string(), "{name}");
            assert!(
                !c["image"].as_str().expect("image").ends_with(":latest"),
                "{name}"
            );
        }
        assert!(
            docs.iter().any(|(_, d)| d["kind"] == "PodDisruptionBudget"
                && &d["spec"]["selector"]["matchLabels"] == labels),
            "{name} has no PodDisruptionBudget"
        );
    }
}

/// The witness's taint, as its K3s config sets it, against every pod
/// template's tolerations (Kubernetes's matching: the same key, or an
/// empty key with `Exists`; the effect empty or equal).
fn witness_taint_tolerated_by_none(out: &Path, docs: &[(String, serde_json::Value)]) {
    let cfg = yaml_to_json(&out.join("witness/root/etc/rancher/k3s/config.yaml"));
    let taint = cfg["node-taint"][0]
        .as_str()
        .expect("the witness has a taint");
    let (kv, effect) = taint.rsplit_once(':').expect("effect");
    let key = kv.split('=').next().expect("key");
    assert_eq!(effect, "NoSchedule");
    let mut pods = 0;
    for (_, d) in docs {
        let spec = match d["kind"].as_str() {
            Some("Deployment" | "StatefulSet") => &d["spec"]["template"]["spec"],
            Some("CronJob") => &d["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        pods += 1;
        for t in spec["tolerations"].as_array().into_iter().flatten() {
            let k = t["key"].as_str().unwrap_or("");
            let op = t["operator"].as_str().unwrap_or("Equal");
            let e = t["effect"].as_str().unwrap_or("");
            let matches =
                (k == key || (k.is_empty() && op == "Exists")) && (e.is_empty() || e == effect);
            assert!(
                !matches,
                "{} tolerates the witness's taint",
                d["metadata"]["name"]
            );
        }
    }
    assert_eq!(pods, 3, "Patroni, Vaultwarden, the backup job");
}

/// The stack's passwords are in exactly one file: the boot partition's
/// Secret list, 0600, which holds nothing but Namespaces and Secrets.
fn no_secret_outside_secrets(out: &Path) {
    for node in ["raspi1", "raspi2", "witness", "pc"] {
        for (path, mode, data) in tree(&out.join(node)) {
            let holds: Vec<&str> = STACK_SECRETS
                .iter()
                .filter(|(_, v)| data.windows(v.len()).any(|w| w == v.as_bytes()))
                .map(|(n, _)| *n)
                .collect();
            if path == "boot/haimg/secrets/stack-secrets.json" {
                assert_eq!(mode, 0o600, "{node}");
                assert_eq!(holds.len(), STACK_SECRETS.len(), "{node}: {holds:?}");
                let list: serde_json::Value = serde_json::from_slice(&data).expect("json");
                for item in list["items"].as_array().expect("items") {
                    assert!(matches!(
                        item["kind"].as_str(),
                        Some("Namespace" | "Secret")
                    ));
                }
            } else {
                assert!(holds.is_empty(), "{node}: {path} holds {holds:?}");
            }
        }
    }
}

#[test]
fn a_chart_that_is_not_the_published_one_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let served = tmp.path().join("charts");
    chart_repo(&served);
    // The archive changed after the index was made.
    std::fs::write(
        served.join("loki/loki-6.23.0.tgz"),
        chart_tgz("loki", "6.23.1"),
    )
    .expect("w");
    let http = common::httpd::Server::start(&served);
    let base = http.url("").trim_end_matches('/').to_string();
    let cache = tmp.path().join("cache");
    let err = haimg::source::charts(&refs(&base), &fetcher(&cache)).expect_err("tampered");
    let msg = err.to_string();
    assert!(
        msg.contains("chart loki 6.23.0") && msg.contains("checksum mismatch"),
        "{msg}"
    );
    let blobs: Vec<_> = std::fs::read_dir(cache.join("blobs"))
        .expect("blobs")
        .map(|e| e.expect("e").file_name())
        .collect();
    assert_eq!(
        blobs.len(),
        3,
        "only the three good charts are cached: {blobs:?}"
    );

    // A version the repository does not list: named.
    let mut r = refs(&base);
    r[0].version = "9.9.9".into();
    let err = haimg::source::charts(&r[..1], &fetcher(&cache)).expect_err("missing");
    assert!(
        err.to_string().contains("no version 9.9.9 of `metallb`"),
        "{err}"
    );
}
