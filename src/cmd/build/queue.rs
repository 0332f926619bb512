//! The order of a build's work. Each node's build has two halves: making
//! its image (render, root file system, boot partition) and finishing it
//! (sha256 and block map, sync, rename). Each half is a task for whichever
//! worker is free, so that a worker whose node is made takes another node's
//! finishing instead of idling while the last node finishes alone.
//!
//! Which task next: a node to make that can start at once (its base's root
//! is not being made by another worker, `disk::shared`), then the oldest
//! image to finish, then a node that will wait for its base's root.
//! Making goes first because it is the long half, and it starts the roots
//! the other nodes copy.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::config::BaseKind;
use crate::plan::NodePlan;

/// One task: a node `N` to make, or a made image `T` to finish.
pub enum Task<N, T> {
    Make(N),
    Finish(N, T),
}

pub struct Queue<N, T> {
    state: Mutex<State<N, T>>,
    wake: Condvar,
    /// The root a node's base shares with others (`disk::shared::group`),
    /// if it shares one.
    shares: fn(N) -> Option<String>,
}

struct State<N, T> {
    makes: VecDeque<N>,
    finishes: VecDeque<(N, T)>,
    /// Makes under way: while any is, a Finish may still come.
    making: usize,
    /// Roots a worker is making (a base's first node taken), and those
    /// whose first node is made.
    started: BTreeSet<String>,
    rooted: BTreeSet<String>,
}

/// The root a node's base shares with the run's other nodes of that base:
/// a tarball base's (an image base's nodes each copy their own).
pub fn shares(node: &NodePlan) -> Option<String> {
    (node.base.kind != BaseKind::Image).then(|| crate::disk::shared::group(node))
}

impl<N: Copy, T> State<N, T> {
    fn waits(&self, root: Option<String>) -> bool {
        root.is_some_and(|g| self.started.contains(&g) && !self.rooted.contains(&g))
    }

    fn pick(&mut self, shares: fn(N) -> Option<String>) -> Option<Task<N, T>> {
        let at = match self.makes.iter().position(|n| !self.waits(shares(*n))) {
            Some(i) => Some(i),
            None if !self.finishes.is_empty() => None,
            None => (!self.makes.is_empty()).then_some(0),
        };
        if let Some(node) = at.and_then(|i| self.makes.remove(i)) {
            if let Some(g) = shares(node) {
                self.started.insert(g);
            }
            self.making += 1;
            return Some(Task::Make(node));
        }
        self.finishes
            .pop_front()
            .map(|(node, made)| Task::Finish(node, made))
    }
}

impl<N: Copy, T> Queue<N, T> {
    /// The nodes in the order their making should start.
    pub fn new(nodes: impl IntoIterator<Item = N>, shares: fn(N) -> Option<String>) -> Self {
        Queue {
            state: Mutex::new(State {
                makes: nodes.into_iter().collect(),
                finishes: VecDeque::new(),
                making: 0,
                started: BTreeSet::new(),
                rooted: BTreeSet::new(),
            }),
            wake: Condvar::new(),
            shares,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<N, T>> {
        // A worker that panicked holding the lock left consistent lists:
        // every change is one push or pop.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next task; waits while another worker's make may still hand one
    /// over. `None` when everything is done.
    pub fn next(&self) -> Option<Task<N, T>> {
        let mut s = self.lock();
        loop {
            if let Some(t) = s.pick(self.shares) {
                return Some(t);
            }
            if s.making == 0 {
                return None;
            }
            s = self.wake.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// A make has ended: its image to finish, or `None` (it failed, or it
    /// was complete already). Call exactly once per `Task::Make`.
    pub fn made(&self, node: N, made: Option<T>) {
        let mut s = self.lock();
        s.making = s.making.saturating_sub(1);
        if let Some(g) = (self.shares)(node) {
            s.rooted.insert(g);
        }
        if let Some(m) = made {
            s.finishes.push_back((node, m));
        }
        drop(s);
        self.wake.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes named "base/name": nodes of one base share its root.
    fn root(n: &'static str) -> Option<String> {
        n.split_once('/').map(|(b, _)| b.to_string())
    }

    fn name<T>(t: &Task<&'static str, T>) -> String {
        match t {
            Task::Make(n) => format!("make {n}"),
            Task::Finish(n, _) => format!("finish {n}"),
        }
    }

    #[test]
    fn makes_that_can_start_go_first_then_finishes_then_makes_that_wait() {
        let q: Queue<&str, u32> = Queue::new(["arm/a", "amd/w", "arm/b", "amd/p"], root);
        let a = q.next().expect("a task");
        let w = q.next().expect("a task");
        assert_eq!(
            (name(&a), name(&w)),
            ("make arm/a".into(), "make amd/w".into())
        );
        // w made: p (its root is made) before anything else; b still waits
        // for a, and w's finishing comes before it.
        q.made("amd/w", Some(1));
        assert_eq!(name(&q.next().expect("a task")), "make amd/p");
        assert_eq!(name(&q.next().expect("a task")), "finish amd/w");
        assert_eq!(name(&q.next().expect("a task")), "make arm/b");
        // Both makes and p end; a failed (nothing to finish).
        q.made("arm/a", None);
        q.made("amd/p", Some(2));
        q.made("arm/b", Some(3));
        let rest: Vec<String> = std::iter::from_fn(|| q.next()).map(|t| name(&t)).collect();
        assert_eq!(rest, ["finish amd/p", "finish arm/b"]);
    }

    #[test]
    fn a_worker_waits_for_the_finish_another_make_hands_over() {
        let q: Queue<&str, u32> = Queue::new(["x"], |_| None);
        let Some(Task::Make(n)) = q.next() else {
            panic!("the make comes first")
        };
        std::thread::scope(|s| {
            let other = s.spawn(|| q.next().map(|t| name(&t)));
            std::thread::sleep(std::time::Duration::from_millis(50));
            q.made(n, Some(7));
            assert_eq!(other.join().ok().flatten().as_deref(), Some("finish x"));
        });
        assert!(
            q.next().is_none(),
            "nothing is left once all is made and taken"
        );
    }
}
