//! Rendering diagnostics: miette's graphical report for terminals (and, colourless at a fixed width,
//! for snapshots), and a JSON form for editors and CI.

use std::fmt;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceSpan};
use serde_json::json;

use super::{Diagnostic, Severity, SourceMap};

#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    pub color: bool,
    pub width: usize,
}

impl RenderOptions {
    /// What snapshots use: no colour, no terminal-dependent width.
    pub fn plain() -> RenderOptions {
        RenderOptions { color: false, width: 100 }
    }
}

/// A diagnostic bound to its source text, in the shape miette wants.
struct Report<'a> {
    d: &'a Diagnostic,
    /// Replaces the diagnostic's message (for the notes made of labels in other files).
    message: Option<String>,
    source: Option<NamedSource<std::sync::Arc<str>>>,
    labels: Vec<LabeledSpan>,
    related: Vec<Report<'a>>,
}

/// A file's text as shown: never with a token in it, even when the error is about one.
fn shown_source(map: &SourceMap, file: super::FileId) -> NamedSource<std::sync::Arc<str>> {
    let file = map.get(file);
    let text: std::sync::Arc<str> = match super::redact_tokens(&file.text) {
        std::borrow::Cow::Borrowed(_) => file.text.clone(),
        std::borrow::Cow::Owned(s) => s.into(),
    };
    NamedSource::new(file.name.clone(), text)
}

fn labeled(l: &super::Label, primary: bool) -> LabeledSpan {
    let span = SourceSpan::new((l.span.start as usize).into(), l.span.len());
    let text = (!l.text.is_empty()).then(|| l.text.clone());
    if primary { LabeledSpan::new_primary_with_span(text, span) } else { LabeledSpan::new_with_span(text, span) }
}

impl<'a> Report<'a> {
    fn new(d: &'a Diagnostic, map: &SourceMap) -> Report<'a> {
        // miette draws the labels of one source only: labels in the primary file stay here, and
        // each other file's labels become a note of their own, so none is lost (a preset declared
        // in the standard library, an import in another file).
        let primary = d.primary_span().map(|s| s.file);
        let mut labels = Vec::new();
        let mut elsewhere: Vec<(super::FileId, Vec<LabeledSpan>)> = Vec::new();
        for (i, l) in d.labels.iter().enumerate() {
            if Some(l.span.file) == primary {
                labels.push(labeled(l, i == 0));
            } else {
                match elsewhere.iter_mut().find(|(f, _)| *f == l.span.file) {
                    Some((_, v)) => v.push(labeled(l, false)),
                    None => elsewhere.push((l.span.file, vec![labeled(l, false)])),
                }
            }
        }
        let source = primary.map(|f| shown_source(map, f));
        let mut related: Vec<Report<'a>> = Vec::new();
        for (file, labels) in elsewhere {
            related.push(Report {
                d,
                message: Some(format!("in {}", map.get(file).name)),
                source: Some(shown_source(map, file)),
                labels,
                related: vec![],
            });
        }
        for n in &d.notes {
            related.push(Report::new(n, map));
        }
        Report { d, message: None, source, labels, related }
    }

    fn message(&self) -> &str {
        self.message.as_deref().unwrap_or(&self.d.message)
    }

    /// A note made of another file's labels has no code or help of its own.
    fn is_elsewhere(&self) -> bool {
        self.message.is_some()
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}
impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}
impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        if self.is_elsewhere() {
            return Some(Box::new("msws::note"));
        }
        Some(Box::new(self.d.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        if self.is_elsewhere() {
            return Some(miette::Severity::Advice);
        }
        Some(match self.d.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Note => miette::Severity::Advice,
        })
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        if self.is_elsewhere() {
            return None;
        }
        self.d.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().cloned()))
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn miette::Diagnostic> + 'b>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(self.related.iter().map(|r| r as &dyn miette::Diagnostic)))
    }
}

fn handler(opts: RenderOptions) -> GraphicalReportHandler {
    let theme = if opts.color { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    GraphicalReportHandler::new_themed(theme).with_width(opts.width).with_links(false)
}

/// One diagnostic as text.
pub fn render_one(d: &Diagnostic, map: &SourceMap, opts: RenderOptions) -> String {
    let report = Report::new(d, map);
    let mut out = String::new();
    if handler(opts).render_report(&mut out, &report).is_err() {
        // Rendering only fails on a broken fmt::Write; fall back to the bare message.
        out = format!("{}: {}\n", d.severity, d.message);
    }
    out
}

/// Every diagnostic, in order. The command prints the one summary line, naming the file.
pub fn render_all<'a>(diags: impl IntoIterator<Item = &'a Diagnostic>, map: &SourceMap, opts: RenderOptions) -> String {
    let mut out = String::new();
    for d in diags {
        out.push_str(&render_one(d, map, opts));
        out.push('\n');
    }
    out
}

/// "2 errors, 1 warning".
pub fn summary(errors: usize, warnings: usize) -> String {
    let plural = |n: usize, w: &str| if n == 1 { format!("{n} {w}") } else { format!("{n} {w}s") };
    match (errors, warnings) {
        (0, w) => plural(w, "warning"),
        (e, 0) => plural(e, "error"),
        (e, w) => format!("{}, {}", plural(e, "error"), plural(w, "warning")),
    }
}

/// The JSON form of one diagnostic (documented in docs/commands.md, `validate --format json`).
pub fn to_json(d: &Diagnostic, map: &SourceMap) -> serde_json::Value {
    let labels: Vec<_> = d
        .labels
        .iter()
        .map(|l| {
            let file = map.get(l.span.file);
            let (line, column) = file.line_col(l.span.start);
            let (end_line, end_column) = file.line_col(l.span.end);
            json!({
                "file": file.name,
                "line": line,
                "column": column,
                "end_line": end_line,
                "end_column": end_column,
                "offset": l.span.start,
                "length": l.span.len(),
                "text": l.text,
            })
        })
        .collect();
    let primary = labels.first().cloned();
    json!({
        "severity": d.severity.to_string(),
        "code": d.code,
        "message": d.message,
        "file": primary.as_ref().map(|p| p["file"].clone()),
        "line": primary.as_ref().map(|p| p["line"].clone()),
        "column": primary.as_ref().map(|p| p["column"].clone()),
        "labels": labels,
        "help": d.help,
        "notes": d.notes.iter().map(|n| to_json(n, map)).collect::<Vec<_>>(),
    })
}
