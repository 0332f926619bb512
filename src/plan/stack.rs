//! `[stack.*]`: where each application runs, what one node failure does to
//! it, and the stack's availability estimate (plan::availability). The
//! rules are seed 002's: two or more replicas spread over the non-witness
//! nodes, nothing on the witness (its NoSchedule taint).

use serde::Serialize;

use super::ClusterPlan;
use super::availability::{self, Budget};
use super::check::{san, word};
use super::check_stack::ip_pool;
use super::node::checked;
use crate::config::DataMode;
use crate::config::stack::StackConfig;
use crate::diag::{Diags, FileId};

/// Defaults of the estimate, printed as assumptions: a Pi with an SSD at
/// home fails about once a year (power, disk, SD card, a child); a spare
/// flashed with haimg is back within four hours.
const MTBF_H: f64 = 8760.0;
const MTTR_H: f64 = 4.0;

#[derive(Debug, Clone, Serialize)]
pub struct StackPlan {
    pub components: Vec<Component>,
    pub mtbf_h: f64,
    pub mttr_h: f64,
    /// The K3s control plane alone (etcd quorum of the voters).
    pub control: Budget,
    /// The control plane's and the serving components' combined estimate.
    pub estimate: Budget,
    pub spofs: Vec<String>,
    pub assumptions: Vec<String>,
    /// The Helm charts it installs, pinned.
    pub charts: Vec<super::charts::ChartRef>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    pub name: &'static str,
    /// The nodes its pods may run on.
    pub nodes: Vec<String>,
    pub replicas: u32,
    /// How many of its replicas' nodes must be up for it to serve.
    pub needs_up: u32,
    /// What losing one node does to it.
    pub one_node_down: String,
    /// Counted in the estimate (monitoring and backups serve no user).
    pub serving: bool,
    pub availability: Budget,
    /// Its settings as planned, `key=value`, for the report.
    pub settings: Vec<String>,
}

impl StackPlan {
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }

    /// The component `name`, if enabled.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
}

impl Component {
    /// One of its planned settings (`replicas`, `zone`, …), as the plan
    /// wrote it.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find_map(|s| s.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Plan the stack of `plan` (its nodes resolved). `None` when nothing is
/// enabled.
pub(super) fn plan(
    cfg: &StackConfig,
    cf: FileId,
    plan: &ClusterPlan,
    diags: &mut Diags,
) -> Option<StackPlan> {
    let enabled = [
        cfg.metallb.as_ref().map(|s| s.span()),
        cfg.longhorn.as_ref().map(|s| s.span()),
        cfg.patroni.as_ref().map(|s| s.span()),
        cfg.vaultwarden.as_ref().map(|s| s.span()),
        cfg.dns.as_ref().map(|s| s.span()),
        cfg.monitoring.as_ref().map(|s| s.span()),
        cfg.backups.as_ref().map(|s| s.span()),
    ];
    let first = enabled.iter().flatten().next().cloned()?;
    let workers: Vec<String> = plan
        .nodes
        .iter()
        .filter(|n| !n.witness)
        .map(|n| n.hostname.clone())
        .collect();
    let data: Vec<String> = plan
        .nodes
        .iter()
        .filter(|n| !n.witness && n.storage.data != DataMode::None)
        .map(|n| n.hostname.clone())
        .collect();
    if workers.is_empty() {
        diags.error(
            Some(cf),
            Some(first),
            "the stack has no node to run on: every node is the witness",
            "the witness never runs workloads; add a non-witness node",
        );
        return None;
    }
    let av = &cfg.availability;
    let positive = |diags: &mut Diags, v: &Option<crate::config::S<f64>>, dflt: f64| match v {
        Some(s) if !(*s.get_ref() > 0.0 && s.get_ref().is_finite()) => {
            diags.error(
                Some(cf),
                Some(s.span()),
                format!("{} is not a positive number of hours", s.get_ref()),
                "",
            );
            dflt
        }
        Some(s) => *s.get_ref(),
        None => dflt,
    };
    let mtbf_h = positive(diags, &av.node_mtbf_h, MTBF_H);
    let mttr_h = positive(diags, &av.node_mttr_h, MTTR_H);
    let cx = Ctx {
        cf,
        a: availability::node(mtbf_h, mttr_h),
        workers,
        data,
    };
    let mut components = Vec::new();
    if let Some(m) = &cfg.metallb {
        if m.get_ref().addresses.is_empty() {
            diags.error(
                Some(cf),
                Some(m.span()),
                "[stack.metallb] has no addresses",
                "addresses = [\"192.168.1.240-192.168.1.250\"]: free addresses on the home LAN",
            );
        }
        for s in &m.get_ref().addresses {
            checked(diags, cf, s, "MetalLB address range", ip_pool);
        }
        let pool: Vec<&str> = m
            .get_ref()
            .addresses
            .iter()
            .map(|s| s.get_ref().as_str())
            .collect();
        // A speaker on every node that may hold an address; one is enough
        // to answer ARP for a service (L2 mode moves the address).
        let n = cx.workers.len() as u32;
        components.push(cx.component(
            "metallb",
            &cx.workers,
            n,
            1,
            true,
            vec![format!("addresses={}", pool.join(","))],
        ));
    }
    if let Some(table) = &cfg.longhorn {
        let l = table.get_ref();
        let class = l
            .storage_class
            .as_ref()
            .map_or("longhorn-replicated".into(), |s| {
                checked(diags, cf, s, "storage class", |v| word(v, 63));
                s.get_ref().clone()
            });
        let r = cx.replicas(diags, table.span(), &l.replicas, 2, cx.data.len());
        // Longhorn's data path is one cluster-wide setting (defaultDataPath).
        let mut mounts: Vec<String> = cx
            .data
            .iter()
            .filter_map(|h| plan.node(h))
            .map(|n| format!("{}: {}", n.hostname, n.storage.mount))
            .collect();
        let distinct: std::collections::BTreeSet<&str> = mounts
            .iter()
            .filter_map(|m| m.split_once(": ").map(|(_, p)| p))
            .collect();
        if distinct.len() > 1 {
            mounts.sort();
            diags.error(
                Some(cf),
                Some(table.span()),
                format!(
                    "Longhorn keeps its data at one path on every node, and the data nodes mount theirs at different places ({})",
                    mounts.join(", ")
                ),
                "give every data node the same [storage] mount",
            );
        }
        components.push(cx.component(
            "longhorn",
            &cx.data,
            r,
            1,
            true,
            vec![format!("storage_class={class}"), format!("replicas={r}")],
        ));
    }
    components.extend(super::stack_db::patroni(cfg, &cx, diags));
    if let Some(d) = &cfg.dns {
        let zone = d.get_ref().zone.as_ref().map_or("internal".into(), |s| {
            checked(diags, cf, s, "DNS zone", san);
            s.get_ref().clone()
        });
        // K3s's CoreDNS runs one replica; the stack asks for two.
        let r = 2.min(cx.workers.len() as u32);
        components.push(cx.component(
            "coredns",
            &cx.workers,
            r,
            1,
            true,
            vec![format!("zone={zone}")],
        ));
    }
    components.extend(super::stack_db::monitoring_backups(cfg, &cx, diags));
    let a = cx.a;

    let control = availability::at_least(plan.quorum() as u32, plan.voters() as u32, a);
    let total = components
        .iter()
        .filter(|c| c.serving)
        .fold(control, |acc, c| acc * c.availability.availability);
    let mut spofs: Vec<String> = components
        .iter()
        .filter(|c| {
            c.nodes.len() as u32 >= c.needs_up && c.replicas.min(c.nodes.len() as u32) <= c.needs_up
        })
        .map(|c| format!("{}: {}", c.name, c.one_node_down))
        .collect();
    if plan.tolerance() == 0 {
        spofs.insert(0, "control plane: etcd tolerates no failure".into());
    }
    let assumptions = vec![
        format!("each node fails once in {mtbf_h} h and is back in {mttr_h} h ([stack.availability] node_mtbf_h, node_mttr_h), independently of the others"),
        format!("control plane: {} of {} etcd voters up", plan.quorum(), plan.voters()),
        "each component serves while enough of its replicas' nodes are up; the stack while all serving components and the control plane do".into(),
        "software faults, the home network, the power supply shared by the nodes and the tailnet are not counted: an upper bound".into(),
    ];
    Some(StackPlan {
        components,
        mtbf_h,
        mttr_h,
        control: Budget::of(control),
        estimate: Budget::of(total),
        spofs,
        assumptions,
        charts: super::charts::resolve(cfg, cf, diags),
    })
}

/// What the component planners share.
pub(super) struct Ctx {
    pub cf: FileId,
    /// One node's availability.
    pub a: f64,
    /// Non-witness nodes, and those of them with a data mount.
    pub workers: Vec<String>,
    pub data: Vec<String>,
}

impl Ctx {
    /// `v` or `dflt` replicas, at most one per node of `on` (anti-affinity).
    pub fn replicas(
        &self,
        diags: &mut Diags,
        table: std::ops::Range<usize>,
        v: &Option<crate::config::S<u32>>,
        dflt: u32,
        on: usize,
    ) -> u32 {
        let r = v.as_ref().map_or(dflt, |s| *s.get_ref());
        if on == 0 {
            diags.error(
                Some(self.cf),
                Some(table),
                "no node may run this: it keeps its data on a data mount and every non-witness node has `data = \"none\"`",
                "give a non-witness node a data mount ([storage] data = \"rest\" or \"device\")",
            );
        } else if let Some(s) = v
            && (r == 0 || r as usize > on)
        {
            diags.error(
                Some(self.cf),
                Some(s.span()),
                format!("{r} replicas cannot be spread over the {on} node(s) that may run them"),
                "at most one replica per non-witness node (anti-affinity): lower it or add nodes",
            );
        }
        r.clamp(1, on.max(1) as u32)
    }

    /// A component of `replicas` on distinct nodes of `nodes`, serving while
    /// `needs_up` of them are up.
    pub fn component(
        &self,
        name: &'static str,
        nodes: &[String],
        replicas: u32,
        needs_up: u32,
        serving: bool,
        settings: Vec<String>,
    ) -> Component {
        let placed = replicas.min(nodes.len() as u32);
        let one_node_down = match placed.saturating_sub(needs_up) {
            _ if placed < needs_up => "cannot run: too few nodes".to_string(),
            0 if placed == 1 => "stops until that node is back".to_string(),
            0 => format!("stops: it needs all {placed} of its nodes up"),
            _ => "keeps serving (a replica on another node)".to_string(),
        };
        Component {
            name,
            nodes: nodes.to_vec(),
            replicas,
            needs_up,
            one_node_down,
            serving,
            availability: Budget::of(availability::at_least(needs_up, placed, self.a)),
            settings,
        }
    }
}

/// The stack section of `haimg plan`'s text.
pub fn to_text(st: &StackPlan) -> String {
    let mut out = String::from("\nstack:\n");
    let w = st
        .components
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(0);
    let w = w.max("control plane".len());
    out.push_str(&format!(
        "  {:<w$}  etcd quorum of the voters, down {}\n",
        "control plane",
        st.control.downtime()
    ));
    for c in &st.components {
        out.push_str(&format!(
            "  {:<w$}  {} over {} ({}){}\n  {:<w$}  one node down: {}\n",
            c.name,
            c.replicas,
            c.nodes.join(", "),
            c.settings.join(" "),
            if c.serving {
                format!(", down {}", c.availability.downtime())
            } else {
                ", not counted".into()
            },
            "",
            c.one_node_down,
        ));
    }
    out.push_str("  single points of failure:");
    if st.spofs.is_empty() {
        out.push_str(" none\n");
    } else {
        out.push('\n');
        for s in &st.spofs {
            out.push_str(&format!("    - {s}\n"));
        }
    }
    if !st.charts.is_empty() {
        let pins: Vec<String> = st
            .charts
            .iter()
            .map(|c| format!("{} {}", c.name, c.version))
            .collect();
        out.push_str(&format!(
            "  charts (carried in the image): {}\n",
            pins.join(", ")
        ));
    }
    let e = &st.estimate;
    out.push_str(&format!(
        "  availability estimate: {} ({:.1} h a year, {:.1} min a month down)\n  assuming:\n",
        e.percent(),
        e.downtime_h_per_year,
        e.downtime_min_per_month
    ));
    for a in &st.assumptions {
        out.push_str(&format!("    - {a}\n"));
    }
    out
}
