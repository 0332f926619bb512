//! TOML → typed model, reporting every type and unknown-key error of a file in
//! one run.
//!
//! serde stops at the first error. To find the next one we blank the offending
//! entry (key through value, replaced by spaces of the same byte length so every
//! later span still points into the user's original text) and deserialize again.
//! Required keys are `Option`s in the model and are checked afterwards, so blanking
//! an entry never produces a spurious "missing field".

use std::ops::Range;

use serde::de::DeserializeOwned;
use toml_edit::{Document, Item, Table};

/// One problem with its byte span in the original text.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseProblem {
    pub span: Option<Range<usize>>,
    pub message: String,
    pub hint: String,
}

/// At most this many errors are collected from one file; past it the rest is
/// noise from one mistake repeated.
const MAX_ERRORS: usize = 50;

pub fn parse_all<T: DeserializeOwned>(text: &str) -> Result<T, Vec<ParseProblem>> {
    let mut work = text.to_string();
    let mut problems: Vec<ParseProblem> = Vec::new();
    loop {
        // Syntax first: toml_edit gives the span and also serves to locate
        // entries for blanking.
        let doc = match Document::parse(work.clone()) {
            Ok(doc) => doc,
            Err(e) => {
                // A syntax error after blanking is an artefact of the blanking
                // (e.g. an inline table left with a dangling comma): the real
                // problems are already recorded.
                if problems.is_empty() {
                    problems.push(ParseProblem {
                        span: e.span(),
                        message: format!("TOML syntax error: {}", first_line(e.message())),
                        hint: "see https://toml.io for the syntax; strings need double quotes"
                            .into(),
                    });
                }
                return Err(problems);
            }
        };
        match toml::from_str::<T>(&work) {
            Ok(v) if problems.is_empty() => return Ok(v),
            Ok(_) => return Err(problems),
            Err(e) => {
                let span = e.span();
                let problem = ParseProblem {
                    span: span.clone(),
                    message: first_line(e.message()).to_string(),
                    hint: hint_for(e.message()),
                };
                if problems.iter().any(|p| p.span == problem.span) {
                    return Err(problems);
                }
                problems.push(problem);
                let Some(span) = span else {
                    return Err(problems);
                };
                let Some(range) = entry_range(doc.as_table(), &span) else {
                    return Err(problems);
                };
                if problems.len() >= MAX_ERRORS {
                    return Err(problems);
                }
                blank(&mut work, range);
            }
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

fn hint_for(message: &str) -> String {
    if message.starts_with("unknown field") {
        "remove the key or fix its spelling; the keys this table accepts are listed above".into()
    } else if message.starts_with("unknown variant") {
        "use one of the values listed above".into()
    } else if message.starts_with("invalid type") {
        "check the value's type: strings need quotes, numbers and booleans do not".into()
    } else {
        String::new()
    }
}

/// Replace a byte range with spaces, keeping newlines so line numbers hold.
fn blank(text: &mut String, range: Range<usize>) {
    let mut bytes = std::mem::take(text).into_bytes();
    let end = range.end.min(bytes.len());
    for b in &mut bytes[range.start.min(end)..end] {
        if *b != b'\n' {
            *b = b' ';
        }
    }
    // Whole UTF-8 sequences inside the range became ASCII spaces and the range
    // ends on span boundaries, so the text is still valid UTF-8.
    *text = String::from_utf8(bytes).unwrap_or_default();
}

/// The innermost `key = value` entry (or table, with its body) whose text
/// contains `span`.
fn entry_range(table: &Table, span: &Range<usize>) -> Option<Range<usize>> {
    for (key, item) in table.iter() {
        let Some(key_span) = table.key(key).and_then(|k| k.span()) else {
            // Implicit parent tables (`[a.b]` without `[a]`) have no key span:
            // look inside them.
            if let Some(inner) = item_children(item, span) {
                return Some(inner);
            }
            continue;
        };
        let whole = match item_extent(item) {
            Some(end) => key_span.start.min(end.start)..end.end.max(key_span.end),
            None => key_span.clone(),
        };
        if contains(&whole, span) || contains(&key_span, span) {
            return item_children(item, span).or(Some(whole));
        }
        if let Some(inner) = item_children(item, span) {
            return Some(inner);
        }
    }
    None
}

fn item_children(item: &Item, span: &Range<usize>) -> Option<Range<usize>> {
    match item {
        Item::Table(t) => entry_range(t, span).or_else(|| {
            let ext = table_extent(t)?;
            contains(&ext, span).then_some(ext)
        }),
        Item::ArrayOfTables(a) => a.iter().find_map(|t| {
            entry_range(t, span).or_else(|| {
                let ext = table_extent(t)?;
                contains(&ext, span).then_some(ext)
            })
        }),
        Item::Value(toml_edit::Value::InlineTable(t)) => {
            let mut found = None;
            for (k, v) in t.iter() {
                let (Some(ks), Some(vs)) = (t.key(k).and_then(|k| k.span()), v.span()) else {
                    continue;
                };
                let whole = ks.start..vs.end;
                if contains(&whole, span) {
                    // Take the trailing comma too, or the blanked inline table
                    // would not parse.
                    found = Some(whole);
                }
            }
            found
        }
        _ => None,
    }
}

fn item_extent(item: &Item) -> Option<Range<usize>> {
    match item {
        Item::Value(v) => v.span(),
        Item::Table(t) => table_extent(t),
        Item::ArrayOfTables(a) => {
            let spans: Vec<_> = a.iter().filter_map(table_extent).collect();
            Some(spans.first()?.start..spans.last()?.end)
        }
        Item::None => None,
    }
}

/// A header table from its `[header]` to the end of its last entry.
fn table_extent(t: &Table) -> Option<Range<usize>> {
    let mut ext = t.span();
    for (key, item) in t.iter() {
        let parts = [t.key(key).and_then(|k| k.span()), item_extent(item)];
        for r in parts.into_iter().flatten() {
            ext = Some(match ext {
                Some(e) => e.start.min(r.start)..e.end.max(r.end),
                None => r,
            });
        }
    }
    ext
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        size: Option<u64>,
        name: Option<String>,
    }

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        hostname: Option<String>,
        count: Option<u32>,
        inner: Option<Inner>,
        #[serde(default)]
        item: Vec<Inner>,
    }

    fn at(text: &str, p: &ParseProblem) -> String {
        text[p.span.clone().expect("span")].to_string()
    }

    #[test]
    fn collects_every_type_and_unknown_key_error() {
        let text = "hostname = \"a\"\ncount = \"three\"\nbogus = 1\n[inner]\nsize = \"big\"\nnmae = \"x\"\n[[item]]\nsize = 1\n[[item]]\nextra = true\n";
        let errs = parse_all::<Outer>(text).expect_err("must fail");
        let found: Vec<String> = errs.iter().map(|p| at(text, p)).collect();
        assert_eq!(errs.len(), 5, "{errs:#?}");
        assert!(found.contains(&"\"three\"".to_string()), "{found:?}");
        assert!(found.contains(&"bogus".to_string()), "{found:?}");
        assert!(found.contains(&"\"big\"".to_string()), "{found:?}");
        assert!(found.contains(&"nmae".to_string()), "{found:?}");
        assert!(found.contains(&"extra".to_string()), "{found:?}");
    }

    #[test]
    fn syntax_error_is_reported_once_with_span() {
        let text = "hostname = \"a\"\ncount = = 3\n";
        let errs = parse_all::<Outer>(text).expect_err("must fail");
        assert_eq!(errs.len(), 1);
        assert!(errs[0].message.contains("syntax"));
        let span = errs[0].span.clone().expect("span");
        assert!(span.start >= text.find("count").expect("count"));
    }

    #[test]
    fn inline_table_errors_are_found() {
        let text = "inner = { size = 1, colour = 2 }\nbad = 3\n";
        let errs = parse_all::<Outer>(text).expect_err("must fail");
        let found: Vec<String> = errs.iter().map(|p| at(text, p)).collect();
        assert!(found.contains(&"colour".to_string()), "{found:?}");
        assert!(found.contains(&"bad".to_string()), "{found:?}");
    }

    #[test]
    fn unknown_table_is_one_error() {
        let text = "[nonsense]\na = 1\nb = 2\n[inner]\nsize = 1\n";
        let errs = parse_all::<Outer>(text).expect_err("must fail");
        assert_eq!(errs.len(), 1, "{errs:#?}");
    }

    #[test]
    fn good_input_parses() {
        let v: Outer = parse_all("hostname = \"h\"\n[inner]\nsize = 4\n").expect("ok");
        assert_eq!(v.inner.and_then(|i| i.size), Some(4));
    }
}
