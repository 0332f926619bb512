//! The availability estimate `haimg plan` prints for the stack, in seed
//! 002's terms (a yearly/monthly downtime budget). A deliberately simple
//! model, printed with its assumptions: nodes fail independently, each is
//! up with probability A = MTBF / (MTBF + MTTR); a component placed on n
//! distinct nodes (anti-affinity) works while at least k of them are up;
//! the stack works while the control plane and every serving component do
//! (a series system). Software faults, the network and the tailnet are not
//! in it: it is an upper bound on what the hardware allows.

use serde::Serialize;

/// Hours in a year (365 days) and a month (a twelfth of it).
const YEAR_H: f64 = 8760.0;

/// P(at least `k` of `n` independent nodes are up), each up with `a`.
pub fn at_least(k: u32, n: u32, a: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    (k..=n)
        .map(|i| binomial(n, i) * a.powi(i as i32) * (1.0 - a).powi((n - i) as i32))
        .sum()
}

fn binomial(n: u32, k: u32) -> f64 {
    (0..k).fold(1.0, |acc, i| acc * f64::from(n - i) / f64::from(i + 1))
}

/// One node's availability from its MTBF and MTTR (hours).
pub fn node(mtbf_h: f64, mttr_h: f64) -> f64 {
    mtbf_h / (mtbf_h + mttr_h)
}

/// An availability as seed 002 states one.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Budget {
    /// Fraction of time up, 0..=1.
    pub availability: f64,
    pub downtime_h_per_year: f64,
    pub downtime_min_per_month: f64,
}

impl Budget {
    pub fn of(a: f64) -> Budget {
        let down = (1.0 - a) * YEAR_H;
        Budget {
            availability: a,
            downtime_h_per_year: down,
            downtime_min_per_month: down * 60.0 / 12.0,
        }
    }

    /// The expected downtime in the unit that reads best, "a year".
    pub fn downtime(&self) -> String {
        let h = self.downtime_h_per_year;
        if h >= 1.0 {
            format!("{h:.1} h a year")
        } else if h * 60.0 >= 0.1 {
            format!("{:.1} min a year", h * 60.0)
        } else {
            format!("{:.1} s a year", h * 3600.0)
        }
    }

    pub fn percent(&self) -> String {
        // Enough digits to tell 99.9 from 99.95 and 99.99.
        format!("{:.3} %", self.availability * 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_matches_hand_computed_cases() {
        let a = 0.99;
        assert!((at_least(1, 1, a) - 0.99).abs() < 1e-12);
        // 1 of 2: 1 - 0.01².
        assert!((at_least(1, 2, a) - 0.9999).abs() < 1e-12);
        // 2 of 2 (a strict synchronous pair): 0.99².
        assert!((at_least(2, 2, a) - 0.9801).abs() < 1e-12);
        // 2 of 3 (etcd's quorum): 3a²(1-a) + a³.
        let want = 3.0 * a * a * (1.0 - a) + a * a * a;
        assert!((at_least(2, 3, a) - want).abs() < 1e-12);
        assert_eq!(at_least(3, 2, a), 0.0);
        assert_eq!(at_least(0, 2, a), 1.0);
    }

    #[test]
    fn a_budget_reads_like_seed_002() {
        // 99.9 %: 8.76 hours a year, 43.8 minutes a month.
        let b = Budget::of(0.999);
        assert!((b.downtime_h_per_year - 8.76).abs() < 1e-9);
        assert!((b.downtime_min_per_month - 43.8).abs() < 1e-9);
        assert_eq!(b.percent(), "99.900 %");
        assert!((node(8760.0, 4.0) - 8760.0 / 8764.0).abs() < 1e-15);
    }
}
