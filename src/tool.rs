//! Running external programs (mke2fs, mmdebstrap, debugfs, …) one way: a
//! missing program names its Debian package; a failing one puts the tail of
//! its stderr and that package into the error. Ground floor: uses only the
//! signal cleanup registry (a started program is stopped on Ctrl-C).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::JoinHandle;

/// How many of the last stderr lines an error carries.
const TAIL_LINES: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("{program} was not found: install the Debian package {package}")]
    Missing { program: String, package: String },
    #[error("cannot run {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed ({status}){}", tail_text(.tail))]
    Failed {
        program: String,
        status: String,
        /// The last lines it wrote to stderr.
        tail: String,
        package: String,
    },
}

fn tail_text(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!(":\n{}", tail.trim_end())
    }
}

impl ToolError {
    /// What the program said last; empty unless it ran and failed.
    pub fn tail(&self) -> &str {
        match self {
            ToolError::Failed { tail, .. } => tail,
            _ => "",
        }
    }
}

/// A program and the Debian package it comes from.
#[derive(Debug, Clone, Copy)]
pub struct Tool {
    pub program: &'static str,
    pub package: &'static str,
    /// Also show its stderr as it comes (long steps whose output is progress).
    pub echo: bool,
}

impl Tool {
    pub const fn new(program: &'static str, package: &'static str) -> Tool {
        Tool {
            program,
            package,
            echo: false,
        }
    }

    pub fn echo(mut self, on: bool) -> Tool {
        self.echo = on;
        self
    }

    pub fn command(&self) -> Command {
        Command::new(self.program)
    }

    /// Run to the end with no input; stdout is discarded.
    pub fn run(&self, mut cmd: Command) -> Result<(), ToolError> {
        cmd.stdin(Stdio::null());
        self.start(cmd, false)?.finish()
    }

    /// Start with a pipe on its stdin (take it with [`Running::stdin`]).
    pub fn spawn(&self, cmd: Command) -> Result<Running, ToolError> {
        self.start(cmd, true)
    }

    fn start(&self, mut cmd: Command, piped: bool) -> Result<Running, ToolError> {
        if piped {
            cmd.stdin(Stdio::piped());
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ToolError::Missing {
                    program: self.program.into(),
                    package: self.package.into(),
                }
            } else {
                ToolError::Spawn {
                    program: self.program.into(),
                    source: e,
                }
            }
        })?;
        // Drained on a thread so a chatty program never blocks on stderr.
        let echo = self.echo;
        let stderr = child.stderr.take().map(|e| {
            std::thread::spawn(move || {
                let mut tail = VecDeque::new();
                for line in BufReader::new(e).lines().map_while(Result::ok) {
                    if echo {
                        let _ = writeln!(std::io::stderr(), "{line}");
                    }
                    if tail.len() == TAIL_LINES {
                        tail.pop_front();
                    }
                    tail.push_back(line);
                }
                tail.into_iter().collect::<Vec<_>>().join("\n")
            })
        });
        Ok(Running {
            _guard: crate::cleanup::ChildGuard::new(child.id()),
            child,
            stderr,
            tool: *self,
        })
    }
}

/// A started program.
pub struct Running {
    _guard: crate::cleanup::ChildGuard,
    child: Child,
    stderr: Option<JoinHandle<String>>,
    tool: Tool,
}

impl Running {
    pub fn stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Close its stdin, wait, and turn a failure into an error with its tail.
    pub fn finish(mut self) -> Result<(), ToolError> {
        drop(self.child.stdin.take());
        let status = self.child.wait().map_err(|e| ToolError::Spawn {
            program: self.tool.program.into(),
            source: e,
        })?;
        let tail = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        Err(ToolError::Failed {
            program: self.tool.program.into(),
            status: status.to_string(),
            tail,
            package: self.tool.package.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_program_names_its_package() {
        let t = Tool::new("haimg-no-such-program", "haimg-pkg");
        let e = t.run(t.command()).expect_err("missing");
        assert!(matches!(e, ToolError::Missing { .. }));
        assert!(
            e.to_string()
                .contains("install the Debian package haimg-pkg")
        );
    }

    #[test]
    fn failure_carries_the_last_stderr_lines() {
        let t = Tool::new("sh", "dash");
        let mut c = t.command();
        c.args([
            "-c",
            "for i in $(seq 1 40); do echo line$i >&2; done; exit 3",
        ]);
        let e = t.run(c).expect_err("fails");
        let text = e.to_string();
        assert!(text.contains("line40") && text.contains("line29"), "{text}");
        assert!(!text.contains("line28"), "{text}");
        assert!(text.contains("exit status: 3"), "{text}");
    }

    #[test]
    fn stdin_pipe_reaches_the_program() {
        let t = Tool::new("sh", "dash");
        let mut c = t.command();
        c.args(["-c", "test \"$(cat)\" = hello"]);
        let mut r = t.spawn(c).expect("spawn");
        let mut i = r.stdin().expect("stdin");
        i.write_all(b"hello").expect("write");
        drop(i);
        r.finish().expect("ok");
    }
}
