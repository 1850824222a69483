//! Diagnostics: source files, spans, a sink that collects every problem of a run, and rendering
//! (miette for people, JSON for editors and CI).
//!
//! Every stage reports into a [`Sink`] instead of returning the first error, so a user sees all the
//! problems of a file at once. A [`Diagnostic`] is plain data (message, labelled spans, help); only
//! [`render`] knows about miette.

mod render;

pub use render::{RenderOptions, render_all, render_one, summary, to_json};

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span { file, start: start as u32, end: end.max(start) as u32 }
    }
    /// A span for things that have no place in a file (command-line values, built-in defaults).
    pub fn detached(file: FileId) -> Span {
        Span { file, start: 0, end: 0 }
    }
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
    /// The smallest span covering both (same file assumed; otherwise `self`).
    pub fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span { file: self.file, start: self.start.min(other.start), end: self.end.max(other.end) }
    }
}

/// One loaded source: a workspace file, an imported file, or a built-in preset file.
#[derive(Debug)]
pub struct SourceFile {
    /// How the file is named in messages: a path relative to the working directory, or `<stdlib>/x.kdl`.
    pub name: String,
    /// The real path, when the file came from disk.
    pub path: Option<PathBuf>,
    pub text: Arc<str>,
    line_starts: Vec<u32>,
}

impl SourceFile {
    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line] as usize;
        let end = (offset as usize).min(self.text.len());
        let col = self.text.get(start..end).map(|s| s.chars().count()).unwrap_or(end - start);
        (line + 1, col + 1)
    }
}

/// All source files of a run. File ids are stable for the run, so spans stay valid.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    pub fn add(&mut self, name: impl Into<String>, path: Option<&Path>, text: impl Into<Arc<str>>) -> FileId {
        let text: Arc<str> = text.into();
        let mut line_starts = vec![0u32];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i as u32 + 1));
        self.files.push(SourceFile { name: name.into(), path: path.map(Path::to_path_buf), text, line_starts });
        FileId(self.files.len() as u32 - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    pub fn find_path(&self, path: &Path) -> Option<FileId> {
        self.files.iter().position(|f| f.path.as_deref() == Some(path)).map(|i| FileId(i as u32))
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i as u32), f))
    }

    /// The text a span covers.
    pub fn snippet(&self, span: Span) -> &str {
        self.get(span.file).text.get(span.start as usize..span.end as usize).unwrap_or("")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Only used for notes attached to another diagnostic.
    Note,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One problem, with everything needed to show it: where, what, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable identifier, e.g. `msws::unknown-property`; documented in docs/language.md.
    pub code: &'static str,
    pub message: String,
    /// The first label is the primary location.
    pub labels: Vec<Label>,
    pub help: Option<String>,
    /// Secondary notes, usually in another file (a preset and the place that used it).
    pub notes: Vec<Diagnostic>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: vec![],
            help: None,
            notes: vec![],
        }
    }
    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Warning, ..Diagnostic::error(code, message) }
    }
    pub fn new_note(message: impl Into<String>) -> Diagnostic {
        Diagnostic { severity: Severity::Note, ..Diagnostic::error("msws::note", message) }
    }
    pub fn label(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push(Label { span, text: text.into() });
        self
    }
    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }
    pub fn note(mut self, note: Diagnostic) -> Diagnostic {
        self.notes.push(note);
        self
    }
    pub fn primary_span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }
}

/// Collects diagnostics. Stages push into it and keep going.
#[derive(Debug, Default)]
pub struct Sink {
    diags: Vec<Diagnostic>,
}

impl Sink {
    pub fn new() -> Sink {
        Sink::default()
    }
    pub fn push(&mut self, d: Diagnostic) {
        // The same problem reached twice (a preset used by two nodes) is shown once.
        if !self.diags.contains(&d) {
            self.diags.push(d);
        }
    }
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(|d| d.severity == Severity::Error)
    }
    pub fn error_count(&self) -> usize {
        self.diags.iter().filter(|d| d.severity == Severity::Error).count()
    }
    pub fn warning_count(&self) -> usize {
        self.diags.iter().filter(|d| d.severity == Severity::Warning).count()
    }
    pub fn is_empty(&self) -> bool {
        self.diags.is_empty()
    }
    pub fn diagnostics(&self) -> &[Diagnostic] {
        &self.diags
    }
    /// Diagnostics in file order (then by position), errors and warnings interleaved as they appear.
    pub fn sorted(&self) -> Vec<&Diagnostic> {
        let mut v: Vec<&Diagnostic> = self.diags.iter().collect();
        v.sort_by_key(|d| d.primary_span().map(|s| (s.file, s.start, s.end)));
        v
    }
    pub fn into_vec(self) -> Vec<Diagnostic> {
        self.diags
    }
    pub fn extend(&mut self, other: Sink) {
        for d in other.diags {
            self.push(d);
        }
    }
}

/// Masks anything that looks like a Hugging Face token (`hf_` and 30 or more letters and digits),
/// keeping the length so spans stay valid. Used on every source text shown to a user.
pub fn redact_tokens(text: &str) -> std::borrow::Cow<'_, str> {
    let ranges = token_ranges(text);
    if ranges.is_empty() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for (start, end) in ranges.into_iter().rev() {
        out.replace_range(start + 3..end, &"*".repeat(end - start - 3));
    }
    std::borrow::Cow::Owned(out)
}

/// Byte ranges of Hugging Face token look-alikes in `text`.
pub fn token_ranges(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("hf_") {
        let start = from + i;
        let before_ok = start == 0 || !bytes[start - 1].is_ascii_alphanumeric();
        let len = bytes[start + 3..].iter().take_while(|b| b.is_ascii_alphanumeric()).count();
        if before_ok && len >= 30 {
            out.push((start, start + 3 + len));
        }
        from = start + 3 + len;
    }
    out
}

/// Suggest the closest known name for a misspelt one ("did you mean").
///
/// Two measures, because each misses what the other catches: a small edit distance (counting a
/// swap of two neighbours as one edit) finds typos in short words (`pcv` → `pvc`), where
/// Jaro-Winkler scores poorly; Jaro-Winkler finds longer names with a shared start
/// (`servedname` → `served-name`). The closest by edits wins, then the higher score.
pub fn did_you_mean<'a>(wrong: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, f64, &str)> = None;
    for k in known {
        if k == wrong {
            continue;
        }
        let edits = strsim::osa_distance(&wrong.to_lowercase(), &k.to_lowercase());
        let score = strsim::jaro_winkler(wrong, k);
        let close = edits <= (wrong.chars().count().max(k.chars().count()) / 3).max(1) || score > 0.8;
        if close && best.is_none_or(|(e, s, _)| edits < e || (edits == e && score > s)) {
            best = Some((edits, score, k));
        }
    }
    best.map(|(_, _, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names() {
        assert_eq!(did_you_mean("pcv", ["hf", "pvc", "pvc+hf", "oci"]), Some("pvc"));
        assert_eq!(did_you_mean("servedname", ["served-name", "model"]), Some("served-name"));
        assert_eq!(did_you_mean("sise", ["access", "size", "class"]), Some("size"));
        assert_eq!(did_you_mean("nvidai", ["nvidia", "amd", "cpu"]), Some("nvidia"));
        assert_eq!(did_you_mean("ReadWriteMnay", ["ReadWriteMany", "ReadWriteOnce"]), Some("ReadWriteMany"));
        assert_eq!(did_you_mean("GB", ["G", "Gi"]), Some("G"));
        assert_eq!(did_you_mean("zzz", ["storage", "secret"]), None);
        assert_eq!(did_you_mean("x", ["secret"]), None);
    }
}
