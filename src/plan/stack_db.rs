//! The stack's database side (Patroni, Vaultwarden on it) and its
//! watchers (monitoring, backups): placement and failure behaviour.

use super::availability;
use super::check::{cron, san};
use super::check_stack as check;
use super::node::checked;
use super::stack::{Component, Ctx};
use crate::config::stack::StackConfig;
use crate::diag::Diags;

/// Patroni's PostgreSQL and, on it, Vaultwarden.
///
/// DCS: `kubernetes` by default. Patroni then keeps its leader lock in the
/// K3s API (Endpoints/ConfigMaps), whose etcd already spans the witness:
/// the lock survives the loss of either database node. The seed's own
/// 3-member etcd cannot: the witness takes no pods, so three members
/// share two nodes and the node holding two takes quorum with it.
///
/// synchronous_mode_strict (the seed's choice, the default here): "if no
/// synchronous standby is available the primary will not accept writes"
/// (patroni.readthedocs.io/en/latest/replication_modes.html). With two
/// database nodes, writes stop while either is down — no commit is ever
/// lost. Without strict, the survivor goes on alone.
pub(super) fn patroni(cfg: &StackConfig, cx: &Ctx, diags: &mut Diags) -> Vec<Component> {
    let mut out = Vec::new();
    let cf = cx.cf;
    let Some(table) = &cfg.patroni else {
        if let Some(v) = &cfg.vaultwarden {
            diags.error(
                Some(cf),
                Some(v.span()),
                "[stack.vaultwarden] needs [stack.patroni]: its database is the cluster's PostgreSQL",
                "add [stack.patroni] (replicas = 2)",
            );
        }
        return out;
    };
    let p = table.get_ref();
    let on = if cfg.longhorn.is_some() {
        &cx.data
    } else {
        &cx.workers
    };
    let r = cx.replicas(diags, table.span(), &p.replicas, 2, on.len());
    let dcs = p.dcs.as_ref().map_or("kubernetes".to_string(), |s| {
        if !matches!(s.get_ref().as_str(), "kubernetes" | "etcd") {
            diags.error(
                Some(cf),
                Some(s.span()),
                format!("unknown Patroni DCS {:?}", s.get_ref()),
                "dcs = \"kubernetes\" (the K3s API) or \"etcd\" (a 3-member etcd of its own)",
            );
        }
        s.get_ref().clone()
    });
    let sync = p.synchronous_mode.as_ref().is_none_or(|b| *b.get_ref());
    let strict = sync
        && p.synchronous_mode_strict
            .as_ref()
            .is_none_or(|b| *b.get_ref());
    if let Some(s) = &p.synchronous_mode_strict
        && *s.get_ref()
        && r < 2
    {
        diags.error(
            Some(cf),
            Some(s.span()),
            "synchronous_mode_strict with one replica: the primary would never accept a write",
            "replicas = 2, or synchronous_mode_strict = false",
        );
    }
    let size = p.volume_size.as_ref().map_or("10Gi".into(), |v| {
        checked(diags, cf, v, "volume size", check::quantity);
        v.get_ref().clone()
    });
    let needs_up = if strict { r.min(2) } else { 1 };
    let mut db = cx.component(
        "patroni",
        on,
        r,
        needs_up,
        true,
        vec![
            format!("replicas={r}"),
            format!("dcs={dcs}"),
            format!("synchronous_mode={sync}"),
            format!("synchronous_mode_strict={strict}"),
            format!("volume_size={size}"),
        ],
    );
    if strict && r == 2 {
        db.one_node_down = "reads go on; writes stop until the other database node is back (synchronous_mode_strict)".into();
    }
    if dcs == "etcd" {
        // Three members on the non-witness nodes: with fewer than three,
        // one node holds two and quorum goes with it.
        let n = cx.workers.len() as u32;
        let lock = if n >= 3 {
            availability::at_least(2, 3, cx.a)
        } else {
            cx.a
        };
        db.availability = availability::Budget::of(db.availability.availability * lock);
        if n < 3 {
            db.one_node_down = format!(
                "{}; losing the node that holds two of the 3 etcd members stops failover",
                db.one_node_down
            );
            if let Some(s) = &p.dcs {
                diags.warning(
                    Some(cf),
                    Some(s.span()),
                    format!("a 3-member etcd on {n} node(s) that take pods: one node holds two members and its loss takes quorum"),
                    "dcs = \"kubernetes\" keeps Patroni's lock in K3s's etcd, which spans the witness",
                );
            }
        }
    }
    out.push(db);
    if let Some(table) = &cfg.vaultwarden {
        let v = table.get_ref();
        let r = cx.replicas(diags, table.span(), &v.replicas, 2, cx.workers.len());
        let domain = v
            .domain
            .as_ref()
            .map_or("vaultwarden.internal".into(), |s| {
                checked(diags, cf, s, "domain", san);
                s.get_ref().clone()
            });
        let signups = v.signups.as_ref().is_some_and(|b| *b.get_ref());
        out.push(cx.component(
            "vaultwarden",
            &cx.workers,
            r,
            1,
            true,
            vec![
                format!("replicas={r}"),
                format!("domain={domain}"),
                format!("signups={signups}"),
            ],
        ));
    }
    out
}

/// Prometheus, Grafana, Alertmanager, Loki; and the backups. Neither
/// serves a user: they are planned and shown, not counted in the estimate.
pub(super) fn monitoring_backups(cfg: &StackConfig, cx: &Ctx, diags: &mut Diags) -> Vec<Component> {
    let mut out = Vec::new();
    let cf = cx.cf;
    if let Some(table) = &cfg.monitoring {
        let m = table.get_ref();
        let r = cx.replicas(diags, table.span(), &m.replicas, 2, cx.workers.len());
        let retention = m.retention.as_ref().map_or("15d".into(), |s| {
            checked(diags, cf, s, "retention", check::duration);
            s.get_ref().clone()
        });
        out.push(cx.component(
            "monitoring",
            &cx.workers,
            r,
            1,
            false,
            vec![format!("replicas={r}"), format!("retention={retention}")],
        ));
    }
    if let Some(b) = &cfg.backups {
        let b = b.get_ref();
        let schedule = b.schedule.as_ref().map_or("0 3 * * *".into(), |s| {
            checked(diags, cf, s, "backup schedule", cron);
            s.get_ref().clone()
        });
        let target = b.target.as_ref().map_or("pvc".into(), |s| {
            checked(diags, cf, s, "backup target", |v| {
                if v == "pvc" || v.strip_prefix("s3://").is_some_and(|r| !r.is_empty()) {
                    Ok(())
                } else {
                    Err("use \"pvc\" or an s3://bucket/prefix URL".into())
                }
            });
            s.get_ref().clone()
        });
        // A CronJob: its next run is scheduled on whichever node is up.
        let n = cx.workers.len() as u32;
        let mut job = cx.component(
            "backups",
            &cx.workers,
            n,
            1,
            false,
            vec![format!("schedule={schedule}"), format!("target={target}")],
        );
        job.one_node_down = "the next run goes to another node".into();
        out.push(job);
    }
    out
}
