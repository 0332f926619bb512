//! Diagnostics: every problem found in the user's files, each with file, line,
//! column and a hint, collected so that one run reports all of them.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use codespan_reporting::diagnostic::{Diagnostic, Label, Severity as CsSeverity};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term;

/// Index of a loaded source file in [`Sources`].
pub type FileId = usize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about the user's configuration.
#[derive(Debug, Clone)]
pub struct Diag {
    pub severity: Severity,
    pub file: Option<FileId>,
    pub span: Option<Range<usize>>,
    pub message: String,
    pub hint: Option<String>,
}

/// The text of every file read, so that findings can quote their line.
#[derive(Default)]
pub struct Sources {
    files: SimpleFiles<String, String>,
    paths: Vec<PathBuf>,
}

impl Sources {
    pub fn add(&mut self, path: &Path, text: String) -> FileId {
        self.paths.push(path.to_path_buf());
        self.files.add(path.display().to_string(), text)
    }

    pub fn text(&self, id: FileId) -> &str {
        self.files
            .get(id)
            .map(|f| f.source().as_str())
            .unwrap_or("")
    }

    pub fn path(&self, id: FileId) -> &Path {
        &self.paths[id]
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, id: FileId, offset: usize) -> (usize, usize) {
        let text = self.text(id);
        let offset = offset.min(text.len());
        let before = &text[..floor_char_boundary(text, offset)];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A growing list of findings.
#[derive(Debug, Default)]
pub struct Diags {
    pub items: Vec<Diag>,
}

impl Diags {
    pub fn error(
        &mut self,
        file: Option<FileId>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Error, file, span, message, hint);
    }

    pub fn warning(
        &mut self,
        file: Option<FileId>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        self.push(Severity::Warning, file, span, message, hint);
    }

    fn push(
        &mut self,
        severity: Severity,
        file: Option<FileId>,
        span: Option<Range<usize>>,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let hint = hint.into();
        self.items.push(Diag {
            severity,
            file,
            span,
            message: message.into(),
            hint: (!hint.is_empty()).then_some(hint),
        });
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count()
    }

    pub fn extend(&mut self, other: Diags) {
        self.items.extend(other.items);
    }
}

/// Renders findings as `error: … --> file:line:col` blocks with the source line
/// quoted and a caret under the span.
pub fn render(sources: &Sources, diags: &[Diag]) -> String {
    let mut out = String::new();
    let config = term::Config::default();
    for d in diags {
        let sev = match d.severity {
            Severity::Error => CsSeverity::Error,
            Severity::Warning => CsSeverity::Warning,
        };
        let mut cs = Diagnostic::new(sev).with_message(&d.message);
        match (d.file, &d.span) {
            (Some(f), Some(span)) => {
                let (line, col) = sources.line_col(f, span.start);
                // The location is also part of the message so that it survives
                // being grepped out of a log without the quoted source.
                cs = cs
                    .with_message(format!(
                        "{}:{line}:{col}: {}",
                        sources.path(f).display(),
                        d.message
                    ))
                    .with_labels(vec![Label::primary(f, span.clone())]);
            }
            (Some(f), None) => {
                cs = cs.with_message(format!("{}: {}", sources.path(f).display(), d.message));
            }
            _ => {}
        }
        if let Some(h) = &d.hint {
            cs = cs.with_notes(vec![format!("hint: {h}")]);
        }
        // Writing into an in-memory buffer cannot fail except on a broken span,
        // and then the message alone (already in the header) is enough.
        if term::emit_to_string(&mut out, &config, &sources.files, &cs).is_err() {
            out.push_str(&format!("{:?}: {}\n", d.severity, d.message));
        }
    }
    out
}

/// A configuration that cannot be used: the findings and the files they quote.
pub struct ConfigError {
    pub sources: Sources,
    pub diags: Vec<Diag>,
}

impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(&self.sources, &self.diags))?;
        let n = self
            .diags
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        write!(
            f,
            "{n} error{} in the configuration; nothing was written",
            if n == 1 { "" } else { "s" }
        )
    }
}

impl std::error::Error for ConfigError {}
