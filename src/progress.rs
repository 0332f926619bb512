//! Progress of long steps: byte bars on stderr, all of a run in one
//! MultiProgress (parallel node builds do not overwrite each other), each
//! named by the node its thread works for; or, for `build --json`, JSON
//! lines on stdout when a step starts and ends. Ground floor.

use std::cell::RefCell;
use std::io::{self, IsTerminal, Read, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

static MULTI: OnceLock<MultiProgress> = OnceLock::new();
static JSON: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The node this thread works for: bars and JSON lines name it.
    static NODE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Report progress as JSON lines on stdout from now on.
pub fn json_progress() {
    JSON.store(true, Ordering::Relaxed);
}

pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Name the node this thread's progress is for.
pub fn set_node(name: &str) {
    NODE.with(|n| *n.borrow_mut() = name.to_string());
}

/// One JSON object on its own line of stdout (whole lines: stdout is locked).
pub fn json_line(v: &serde_json::Value) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// A byte progress bar on stderr, hidden when stderr is not a terminal or the
/// user asked for quiet; in JSON mode a line when a step starts and ends.
pub struct Progress {
    bar: ProgressBar,
    step: String,
    node: String,
    json: bool,
}

impl Progress {
    pub fn bytes(quiet: bool, len: u64, what: &str) -> Progress {
        let node = NODE.with(|n| n.borrow().clone());
        let json = is_json();
        let p = |bar| Progress {
            bar,
            step: what.to_string(),
            node: node.clone(),
            json,
        };
        if json {
            let me = p(ProgressBar::hidden());
            me.bar.set_length(len);
            me.emit(false);
            return me;
        }
        if quiet || !io::stderr().is_terminal() {
            return p(ProgressBar::hidden());
        }
        let bar = MULTI
            .get_or_init(MultiProgress::new)
            .add(ProgressBar::new(len));
        let style = ProgressStyle::with_template(
            "{prefix:>10} {msg:>16} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(node.clone());
        bar.set_message(what.to_string());
        p(bar)
    }

    fn emit(&self, done: bool) {
        json_line(&serde_json::json!({
            "node": self.node,
            "step": self.step,
            "bytes": self.bar.position(),
            "total": self.bar.length(),
            "done": done,
        }));
    }

    pub fn wrap_read<R: Read>(&self, r: R) -> indicatif::ProgressBarIter<R> {
        self.bar.wrap_read(r)
    }

    pub fn set(&self, n: u64) {
        self.bar.set_position(n);
    }

    pub fn finish(&self) {
        if self.json {
            self.emit(true);
        }
        self.bar.finish_and_clear();
    }
}
