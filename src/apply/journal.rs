//! The apply journal: before each mutation, the intended action and the prior object, on disk.
//!
//! An apply, destroy or recover writes `<dir of the workspace file>/.msws/<workspace>.journal.jsonl`,
//! one JSON object per line: a [`Header`], then for every mutation an [`Entry::Intent`] written and
//! flushed to disk *before* the request is sent, and an [`Entry::Done`] or [`Entry::Refused`] once
//! the API server answered. A run that ends cleanly writes [`Entry::Finished`] and deletes the file;
//! a file that is still there means a run was interrupted (Ctrl-C, a crash, a lost connection), and
//! the next run refuses to start until `msws recover` rolled it back or resumed it.
//!
//! An intent with no answer is *uncertain*: the request may or may not have reached the server,
//! so recovery has to look at the live object. A crash can also tear the last line; [`read`]
//! tolerates that (with a warning) but reports damage anywhere else.
//!
//! Secret values never reach the disk: the prior state of a Secret is journalled without its
//! `data`, `stringData` and last-applied annotation, and carries [`WITHHELD_FIELD`] instead
//! ([`withheld`] reads it).

use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cluster::ObjectRef;
use crate::plan::DownloadRecord;

/// The version of the journal's line format. A journal of a newer format is refused, not guessed at.
pub const JOURNAL_FORMAT: u32 = 1;

/// The top-level field a journalled Secret carries instead of its data: the names of the keys whose
/// values were withheld (names only). A prior object with this field cannot be restored from the
/// journal — sending it back would empty the Secret. It is not an annotation, so nothing that
/// copies metadata can carry it onto a live object.
pub const WITHHELD_FIELD: &str = "mswsWithheldData";

/// The annotation `kubectl apply` leaves, which holds a copy of the whole object (a Secret's data too).
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Where the journal of `workspace`, declared in `workspace_file`, lives:
/// `<dir of the file>/.msws/<workspace>.journal.jsonl`.
pub fn path_for(workspace_file: &Path, workspace: &str) -> PathBuf {
    let dir = workspace_file.parent().unwrap_or(Path::new(""));
    dir.join(".msws").join(format!("{workspace}.journal.jsonl"))
}

/// The first line: which run wrote the journal.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Header {
    pub format: u32,
    /// `apply` or `destroy` (a recovery appends to the journal of the run it recovers).
    pub command: String,
    pub workspace: String,
    pub namespace: String,
    pub cluster: String,
    pub workspace_hash: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// Who held the lock (the lock's holder identity).
    pub holder: String,
    pub msws_version: String,
    /// The run's storage flags, so that `recover --resume` finishes it with the same ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace_storage: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_storage: bool,
}

/// What a mutation does to its object.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Mutation {
    Create,
    Update,
    Delete,
}

impl Mutation {
    /// The verb people read: `create`, `update`, `delete`.
    pub fn verb(self) -> &'static str {
        match self {
            Mutation::Create => "create",
            Mutation::Update => "update",
            Mutation::Delete => "delete",
        }
    }
}

/// One line of the journal.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "entry", rename_all = "kebab-case")]
pub enum Entry {
    Header(Header),
    /// Written (and flushed to disk) before the request is sent.
    Intent {
        seq: u64,
        step: String,
        mutation: Mutation,
        object: ObjectRef,
        prior: Option<Value>,
    },
    /// Written after the API server accepted it; `uid` / `resource_version` of the result when there is one.
    Done {
        seq: u64,
        uid: Option<String>,
        resource_version: Option<String>,
    },
    /// The API server refused it: nothing changed.
    Refused {
        seq: u64,
        error: String,
    },
    /// A download completed and was recorded (kept on rollback); `download` is its name in the
    /// workspace, as the inventory keys it.
    Download {
        download: String,
        record: DownloadRecord,
    },
    RollbackStarted {
        reason: String,
    },
    Undone {
        seq: u64,
    },
    /// The run ended cleanly ("applied", "rolled back"); a journal is deleted right after this.
    Finished {
        outcome: String,
    },
}

#[derive(thiserror::Error, Debug)]
pub enum JournalError {
    #[error(
        "a journal of an interrupted run is in the way: {}\n\
         Undo what that run did with `msws recover FILE --rollback`, or finish it with `msws recover FILE --resume`",
        .0.display()
    )]
    Exists(PathBuf),
    #[error("cannot write or read the journal {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "the journal {} is damaged at line {line}: {message}\n\
         Check the cluster (`msws status FILE`), then move the journal aside by hand",
        path.display()
    )]
    Corrupt { path: PathBuf, line: usize, message: String },
    #[error(
        "the journal {} has format {found}, and this msws reads format {JOURNAL_FORMAT}\n\
         Recover with the msws version that wrote it (`msws recover FILE --rollback` or `--resume`)",
        path.display()
    )]
    Format { path: PathBuf, found: u32 },
}

/// An open journal, appended to line by line; every append is on disk when it returns.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    next_seq: u64,
}

impl Journal {
    /// Creates the journal (and its `.msws` directory) and writes the header. An existing journal
    /// is never overwritten: it is the record of an interrupted run ([`JournalError::Exists`]).
    pub fn create(path: &Path, header: Header) -> Result<Journal, JournalError> {
        let io_err = |source| JournalError::Io { path: path.to_path_buf(), source };
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            fs::create_dir_all(dir).map_err(io_err)?;
        }
        let file = OpenOptions::new().append(true).create_new(true).open(path).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists { JournalError::Exists(path.to_path_buf()) } else { io_err(e) }
        })?;
        let mut journal = Journal { path: path.to_path_buf(), file, next_seq: 1 };
        journal.append(&Entry::Header(header))?;
        // The file's name must be on disk too, or a crash could lose the whole journal.
        if let Some(dir) = dir {
            sync_dir(dir).map_err(io_err)?;
        }
        Ok(journal)
    }

    /// Continues an existing journal (recover does): appends go after the last complete line, and
    /// sequence numbers continue after the highest one recorded. A torn last line is cut off.
    pub fn reopen(path: &Path) -> Result<(Journal, Recorded), JournalError> {
        let (recorded, good_len) = read_with_len(path)?;
        let io_err = |source| JournalError::Io { path: path.to_path_buf(), source };
        let mut file = OpenOptions::new().write(true).open(path).map_err(io_err)?;
        // Cut a torn last line off and end the last good one, so the next line starts cleanly.
        file.set_len(good_len).map_err(io_err)?;
        file.seek(SeekFrom::End(0)).map_err(io_err)?;
        file.write_all(b"\n").and_then(|()| file.sync_data()).map_err(io_err)?;
        let next_seq = recorded.mutations().iter().map(|m| m.seq).max().unwrap_or(0) + 1;
        Ok((Journal { path: path.to_path_buf(), file, next_seq }, recorded))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that `mutation` of `object` is about to be sent, with the object as it is now
    /// (sanitised: no managed fields, no status, no Secret data). Returns the mutation's number.
    pub fn intent(
        &mut self,
        step: &str,
        mutation: Mutation,
        object: &ObjectRef,
        prior: Option<&Value>,
    ) -> Result<u64, JournalError> {
        let seq = self.next_seq;
        let prior = prior.map(|p| sanitise(object, p));
        self.append(&Entry::Intent { seq, step: step.into(), mutation, object: object.clone(), prior })?;
        self.next_seq += 1;
        Ok(seq)
    }

    /// Records that the API server accepted mutation `seq`; `result` is the object it answered with.
    pub fn done(&mut self, seq: u64, result: Option<&Value>) -> Result<(), JournalError> {
        let field = |name: &str| {
            result.and_then(|r| r.pointer(&format!("/metadata/{name}"))).and_then(Value::as_str).map(str::to_string)
        };
        self.append(&Entry::Done { seq, uid: field("uid"), resource_version: field("resourceVersion") })
    }

    /// Records that the API server refused mutation `seq`: nothing changed.
    pub fn refused(&mut self, seq: u64, error: &str) -> Result<(), JournalError> {
        self.append(&Entry::Refused { seq, error: error.into() })
    }

    /// Records a completed download, by its name (a rollback keeps it).
    pub fn download(&mut self, download: &str, record: &DownloadRecord) -> Result<(), JournalError> {
        self.append(&Entry::Download { download: download.into(), record: record.clone() })
    }

    pub fn rollback_started(&mut self, reason: &str) -> Result<(), JournalError> {
        self.append(&Entry::RollbackStarted { reason: reason.into() })
    }

    /// Records that mutation `seq` was undone.
    pub fn undone(&mut self, seq: u64) -> Result<(), JournalError> {
        self.append(&Entry::Undone { seq })
    }

    /// Ends the run cleanly: writes [`Entry::Finished`], then deletes the journal (and its
    /// `.msws` directory when nothing else is in it).
    pub fn finish(mut self, outcome: &str) -> Result<(), JournalError> {
        self.append(&Entry::Finished { outcome: outcome.into() })?;
        let Journal { path, file, .. } = self;
        drop(file);
        fs::remove_file(&path).map_err(|source| JournalError::Io { path: path.clone(), source })?;
        if let Some(dir) = path.parent().filter(|d| d.file_name().is_some_and(|n| n == ".msws")) {
            // Fails when another workspace's journal (or anything else) is there: then it stays.
            let _ = fs::remove_dir(dir);
        }
        Ok(())
    }

    /// One line, written in one call, then flushed to the disk before returning.
    fn append(&mut self, entry: &Entry) -> Result<(), JournalError> {
        let io_err = |source| JournalError::Io { path: self.path.clone(), source };
        let mut line = serde_json::to_string(entry).map_err(|e| io_err(io::Error::other(e)))?;
        line.push('\n');
        self.file.write_all(line.as_bytes()).and_then(|()| self.file.sync_data()).map_err(io_err)
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Directories cannot be opened as files here; the file's own sync has to do.
    Ok(())
}

/// The prior object as the journal keeps it: without managed fields and status (noise, and large),
/// and for a Secret without any value — only the names of the withheld keys.
fn sanitise(object: &ObjectRef, prior: &Value) -> Value {
    let mut prior = prior.clone();
    let Some(map) = prior.as_object_mut() else { return prior };
    map.remove("status");
    if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    let is_secret = object.kind == "Secret" || map.get("kind").and_then(Value::as_str) == Some("Secret");
    if is_secret {
        let mut keys: Vec<String> = ["data", "stringData"]
            .into_iter()
            .filter_map(|f| map.remove(f))
            .filter_map(|v| v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>()))
            .flatten()
            .collect();
        keys.sort();
        keys.dedup();
        // `kubectl apply` keeps a full copy of the object, data included, in this annotation.
        if let Some(annotations) =
            map.get_mut("metadata").and_then(|m| m.get_mut("annotations")).and_then(Value::as_object_mut)
        {
            annotations.remove(LAST_APPLIED);
        }
        map.insert(WITHHELD_FIELD.into(), Value::from(keys));
    }
    prior
}

/// The names of the keys whose values the journal withheld from this prior Secret, or `None` when
/// nothing was withheld (not a Secret, or journalled by something else).
pub fn withheld(prior: &Value) -> Option<Vec<String>> {
    let keys = prior.get(WITHHELD_FIELD)?.as_array()?;
    Some(keys.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

/// Everything a journal recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub header: Header,
    /// Every line after the header, in order.
    pub entries: Vec<Entry>,
    /// Things worth telling the person, such as a torn last line that was ignored.
    pub warnings: Vec<String>,
}

/// What became of an intended mutation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// The API server accepted it: it happened.
    Done,
    /// The API server refused it: nothing changed.
    Refused,
    /// The intent was written but no answer was: the request may or may not have reached the
    /// server, so the live object has to say.
    Uncertain,
}

/// One intended mutation with its fate.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedMutation {
    pub seq: u64,
    pub step: String,
    pub mutation: Mutation,
    pub object: ObjectRef,
    /// The object before (sanitised); `None` for a create.
    pub prior: Option<Value>,
    pub fate: Fate,
    /// With [`Fate::Done`]: the uid and resource version of the object the server answered with.
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    /// With [`Fate::Refused`]: the server's reason.
    pub error: Option<String>,
    /// A rollback already undid it.
    pub undone: bool,
}

impl Recorded {
    /// Every intent with its fate, in order: Done (happened), Refused (did not), Uncertain (intent
    /// written, no answer: the request may or may not have reached the server), plus whether it
    /// was already undone.
    pub fn mutations(&self) -> Vec<RecordedMutation> {
        let mut out: Vec<RecordedMutation> = Vec::new();
        for e in &self.entries {
            match e {
                Entry::Intent { seq, step, mutation, object, prior } => out.push(RecordedMutation {
                    seq: *seq,
                    step: step.clone(),
                    mutation: *mutation,
                    object: object.clone(),
                    prior: prior.clone(),
                    fate: Fate::Uncertain,
                    uid: None,
                    resource_version: None,
                    error: None,
                    undone: false,
                }),
                Entry::Done { seq, uid, resource_version } => {
                    if let Some(m) = out.iter_mut().rev().find(|m| m.seq == *seq) {
                        m.fate = Fate::Done;
                        m.uid.clone_from(uid);
                        m.resource_version.clone_from(resource_version);
                    }
                }
                Entry::Refused { seq, error } => {
                    if let Some(m) = out.iter_mut().rev().find(|m| m.seq == *seq) {
                        m.fate = Fate::Refused;
                        m.error = Some(error.clone());
                    }
                }
                Entry::Undone { seq } => {
                    if let Some(m) = out.iter_mut().rev().find(|m| m.seq == *seq) {
                        m.undone = true;
                    }
                }
                Entry::Header(_) | Entry::Download { .. } | Entry::RollbackStarted { .. } | Entry::Finished { .. } => {}
            }
        }
        out
    }

    /// The downloads completed during the run, with their steps.
    pub fn downloads(&self) -> Vec<(String, DownloadRecord)> {
        self.entries
            .iter()
            .filter_map(|e| match e {
                Entry::Download { download, record } => Some((download.clone(), record.clone())),
                _ => None,
            })
            .collect()
    }

    /// The outcome, when the run ended cleanly.
    pub fn finished(&self) -> Option<&str> {
        self.entries.iter().rev().find_map(|e| match e {
            Entry::Finished { outcome } => Some(outcome.as_str()),
            _ => None,
        })
    }

    /// The reason of the (last) rollback that started, if one did.
    pub fn rollback_reason(&self) -> Option<&str> {
        self.entries.iter().rev().find_map(|e| match e {
            Entry::RollbackStarted { reason } => Some(reason.as_str()),
            _ => None,
        })
    }

    /// One paragraph for people: when it started, by whom, which command, how many mutations
    /// done/uncertain, whether a rollback started.
    pub fn describe(&self) -> String {
        let h = &self.header;
        let mutations = self.mutations();
        let count = |f: &dyn Fn(&RecordedMutation) -> bool| mutations.iter().filter(|m| f(m)).count();
        let done = count(&|m| m.fate == Fate::Done);
        let uncertain = count(&|m| m.fate == Fate::Uncertain);
        let refused = count(&|m| m.fate == Fate::Refused);
        let undone = count(&|m| m.undone);
        let mut s = format!(
            "`msws {}` of workspace {} (namespace {}, cluster {}) was started at {} by {} with msws {}",
            h.command, h.workspace, h.namespace, h.cluster, h.started_at, h.holder, h.msws_version
        );
        match self.finished() {
            Some(outcome) => {
                let _ = write!(s, " and finished: {outcome}.");
            }
            None => s.push_str(" and did not finish."),
        }
        let _ = write!(
            s,
            " It made {} ({} done, {} uncertain — sent with no answer, {} refused)",
            plural(mutations.len(), "mutation"),
            done,
            uncertain,
            refused
        );
        match self.downloads().len() {
            0 => s.push('.'),
            n => {
                let _ = write!(s, " and completed {}.", plural(n, "download"));
            }
        }
        match self.rollback_reason() {
            Some(reason) => {
                let _ = write!(s, " A rollback started ({reason}) and undid {undone} of them.");
            }
            None => s.push_str(" No rollback started."),
        }
        s
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// Reads a journal. A torn or garbled *last* line (a crash in the middle of writing it) is
/// ignored with a warning; damage anywhere else, a missing header or an unknown format is an error.
pub fn read(path: &Path) -> Result<Recorded, JournalError> {
    read_with_len(path).map(|(r, _)| r)
}

/// [`read`], and the length of the file up to the end of its last good line (without its newline).
fn read_with_len(path: &Path) -> Result<(Recorded, u64), JournalError> {
    let text = fs::read(path).map_err(|source| JournalError::Io { path: path.to_path_buf(), source })?;
    let corrupt = |line: usize, message: String| JournalError::Corrupt { path: path.to_path_buf(), line, message };
    // A torn line may stop in the middle of a UTF-8 sequence, so lines are decoded one by one.
    let lines: Vec<(usize, &[u8], usize)> = {
        let mut out = Vec::new();
        let mut start = 0;
        for (i, chunk) in text.split(|b| *b == b'\n').enumerate() {
            out.push((i + 1, chunk, start + chunk.len()));
            start += chunk.len() + 1;
        }
        out
    };
    let last_content = lines.iter().rposition(|(_, l, _)| !l.iter().all(u8::is_ascii_whitespace));
    let mut header: Option<Header> = None;
    let mut entries = Vec::new();
    let mut warnings = Vec::new();
    let mut good_len = 0u64;
    for (idx, &(number, bytes, end)) in lines.iter().enumerate() {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let is_last = Some(idx) == last_content;
        let parsed = std::str::from_utf8(bytes)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str::<Value>(s).map_err(|e| e.to_string()));
        let value = match parsed {
            Ok(v) => v,
            Err(_) if is_last && header.is_some() => {
                warnings.push(format!(
                    "line {number}, the last of the journal, is incomplete (the run stopped while writing it) and was ignored"
                ));
                break;
            }
            Err(message) => return Err(corrupt(number, message)),
        };
        if header.is_none() {
            // The format is checked before the rest of the header, which a newer format may change.
            match value.get("format").and_then(Value::as_u64) {
                Some(f) if f == u64::from(JOURNAL_FORMAT) => {}
                Some(f) if value.get("entry").and_then(Value::as_str) == Some("header") => {
                    return Err(JournalError::Format {
                        path: path.to_path_buf(),
                        found: u32::try_from(f).unwrap_or(u32::MAX),
                    });
                }
                _ => return Err(corrupt(number, "the first line is not a journal header".into())),
            }
        }
        let entry: Entry = serde_json::from_value(value).map_err(|e| corrupt(number, e.to_string()))?;
        match (entry, &header) {
            (Entry::Header(h), None) => header = Some(h),
            (Entry::Header(_), Some(_)) => return Err(corrupt(number, "a second header".into())),
            (_, None) => return Err(corrupt(number, "the first line is not a journal header".into())),
            (e, Some(_)) => entries.push(e),
        }
        good_len = end as u64;
    }
    let header = header.ok_or_else(|| corrupt(1, "the journal is empty: it has no header".into()))?;
    Ok((Recorded { header, entries, warnings }, good_len))
}
