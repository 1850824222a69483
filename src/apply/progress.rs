//! Progress: what a running apply tells the person (or the CI job) watching it.
//!
//! The engine emits [`Event`]s to a [`Reporter`]; the reporters turn them into one line per
//! running step on a terminal (indicatif), plain timestamped lines otherwise, or a JSON event
//! stream (`--json`). None of them ever sees a secret value: events carry names and reasons only.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde::{Serialize, Serializer};
use serde_json::Value;

/// One thing that happened during an apply, destroy or recover.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The run starts: the steps it will go through, in order.
    Started { command: String, workspace: String, namespace: String, cluster: String, steps: Vec<String> },
    /// A step began: `what` says what it does ("create PersistentVolumeClaim llm-d/model-pvc").
    StepStarted { step: String, what: String },
    /// A step is waiting, and why (each time the reason changes).
    StepWaiting {
        step: String,
        reason: String,
        #[serde(serialize_with = "secs")]
        elapsed: Duration,
    },
    /// A step finished: `summary` says what it did.
    StepDone {
        step: String,
        summary: String,
        #[serde(serialize_with = "secs")]
        elapsed: Duration,
    },
    /// A step had nothing to do.
    StepSkipped { step: String, why: String },
    /// A step failed.
    StepFailed {
        step: String,
        error: String,
        #[serde(serialize_with = "secs")]
        elapsed: Duration,
    },
    /// A step was not started because the run stopped first.
    StepCancelled { step: String },
    /// The rollback begins, because of `reason`.
    RollbackStarted { reason: String },
    /// One mutation of this run was undone: `how` is "deleted", "restored" or "recreated".
    RolledBack { object: String, how: String },
    /// Something the rollback deliberately left in place, and why.
    Kept { object: String, why: String },
    /// Something the rollback could not undo, and why (the journal keeps it for `msws recover`).
    RollbackFailed { object: String, error: String },
    /// A warning that does not stop the run.
    Warning { message: String },
    /// What the run is doing outside any step (the model check's inspection before the plan).
    Note { message: String },
    /// The end: `outcome` is "applied", "destroyed", "no changes", "rolled back" or "stopped".
    Finished {
        outcome: String,
        #[serde(serialize_with = "secs")]
        elapsed: Duration,
        steps: Vec<StepTime>,
    },
}

/// How long one step took, for the closing summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepTime {
    pub step: String,
    pub outcome: String,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

/// Where events go. Implementations must be cheap and must not block.
pub trait Reporter: Send + Sync {
    fn event(&self, e: &Event);
}

/// A duration as JSON: seconds, with the fraction.
fn secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A duration for people: `850ms`, `42s`, `4m12s`, `1h02m` (truncated to the unit shown).
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s == 0 {
        format!("{}ms", d.subsec_millis())
    } else if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    }
}

/// `18:00:41`: the time of day in UTC, for the start of a log line.
pub fn hms(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{:02}:{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60, secs % 60)
}

/// A clock for the start of each line or the `time` of each JSON event; injectable for tests.
pub type Clock = Box<dyn Fn() -> String + Send + Sync>;

/// A reporter must never stop the run: a poisoned lock (a panic while printing) is used anyway.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The text of an event, as lines without a timestamp (the first is the event, the others
/// continue it). Every word in it is either one of the event's strings or one of these fixed words.
fn describe(e: &Event) -> Vec<String> {
    let mut lines = match e {
        Event::Started { command, workspace, namespace, cluster, steps } => vec![format!(
            "{command} workspace {workspace} (namespace {namespace}, cluster {cluster}): {} — {}",
            count(steps.len(), "step"),
            steps.join(", ")
        )],
        Event::StepStarted { step, what } => vec![format!("{step}: {what}")],
        Event::StepWaiting { step, reason, elapsed } => {
            vec![format!("{step}: waiting ({}): {reason}", human(*elapsed))]
        }
        Event::StepDone { step, summary, elapsed } => vec![format!("{step}: done in {} — {summary}", human(*elapsed))],
        Event::StepSkipped { step, why } => vec![format!("{step}: skipped — {why}")],
        Event::StepFailed { step, error, elapsed } => {
            vec![format!("{step}: failed after {}: {error}", human(*elapsed))]
        }
        Event::StepCancelled { step } => vec![format!("{step}: cancelled")],
        Event::RollbackStarted { reason } => vec![format!("rollback started: {reason}")],
        Event::RolledBack { object, how } => vec![format!("rollback: {how} {object}")],
        Event::Kept { object, why } => vec![format!("kept {object} — {why}")],
        Event::RollbackFailed { object, error } => vec![format!("rollback: could not undo {object}: {error}")],
        Event::Warning { message } => vec![format!("warning: {message}")],
        Event::Note { message } => vec![message.clone()],
        Event::Finished { outcome, elapsed, steps } => {
            let mut lines = vec![format!("{outcome} in {}", human(*elapsed))];
            lines.extend(summary(steps));
            lines
        }
    };
    // A message with several lines (an API server's error) stays readable, and stays one event.
    lines = lines.iter().flat_map(|l| l.lines().map(str::to_string).collect::<Vec<_>>()).collect();
    lines
}

fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

/// The closing table: each step, its outcome and how long it took.
fn summary(steps: &[StepTime]) -> Vec<String> {
    if steps.is_empty() {
        return Vec::new();
    }
    let w_step = steps.iter().map(|s| s.step.chars().count()).max().unwrap_or(0).max("step".len());
    let w_outcome = steps.iter().map(|s| s.outcome.chars().count()).max().unwrap_or(0).max("outcome".len());
    let row = |a: &str, b: &str, c: &str| format!("  {a:<w_step$}  {b:<w_outcome$}  {c}").trim_end().to_string();
    let mut out = vec![row("step", "outcome", "time")];
    out.extend(steps.iter().map(|s| row(&s.step, &s.outcome, &human(s.elapsed))));
    out
}

/// Timestamped lines, for logs and CI: `22:10:52 storage/model-pvc: create PersistentVolumeClaim llm-d/model-pvc`.
pub struct Plain<W: Write + Send> {
    out: Mutex<W>,
    clock: Clock,
}

impl<W: Write + Send> Plain<W> {
    /// Lines stamped with the time of day in UTC.
    pub fn new(out: W) -> Plain<W> {
        Plain::with_clock(out, Box::new(|| hms(SystemTime::now())))
    }
    pub fn with_clock(out: W, clock: Clock) -> Plain<W> {
        Plain { out: Mutex::new(out), clock }
    }
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W: Write + Send> Reporter for Plain<W> {
    fn event(&self, e: &Event) {
        let stamp = (self.clock)();
        let indent = " ".repeat(stamp.chars().count());
        let mut text = String::new();
        for (i, line) in describe(e).iter().enumerate() {
            let _ = writeln!(text, "{} {line}", if i == 0 { &stamp } else { &indent });
        }
        let mut out = lock(&self.out);
        // Progress output failing (a closed pipe) must not fail the apply.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
}

/// One JSON object per line (`--json`): the event's fields, its kind in `event`, and `time` (RFC
/// 3339, UTC); durations in seconds.
pub struct Json<W: Write + Send> {
    out: Mutex<W>,
    clock: Clock,
}

impl<W: Write + Send> Json<W> {
    pub fn new(out: W) -> Json<W> {
        Json::with_clock(out, Box::new(|| super::rfc3339(SystemTime::now())))
    }
    pub fn with_clock(out: W, clock: Clock) -> Json<W> {
        Json { out: Mutex::new(out), clock }
    }
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<W: Write + Send> Reporter for Json<W> {
    fn event(&self, e: &Event) {
        let Ok(Value::Object(mut fields)) = serde_json::to_value(e) else { return };
        let mut obj = serde_json::Map::new();
        if let Some(kind) = fields.remove("event") {
            obj.insert("event".into(), kind);
        }
        obj.insert("time".into(), Value::String((self.clock)()));
        obj.extend(fields);
        let Ok(mut line) = serde_json::to_string(&obj) else { return };
        line.push('\n');
        let mut out = lock(&self.out);
        let _ = out.write_all(line.as_bytes()).and_then(|()| out.flush());
    }
}

/// On a terminal: one spinner line per running step (name, state, elapsed, why it waits); a
/// permanent line for each finished step; rollback lines and warnings above the spinners.
pub struct Tty {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// The width step names are padded to, so the spinner lines line up.
    width: Mutex<usize>,
    color: bool,
    /// When the target turns out not to be a terminal, plain lines on stderr instead.
    fallback: Option<Plain<io::Stderr>>,
}

impl Tty {
    /// Spinners on stderr.
    pub fn new(color: bool) -> Tty {
        Tty::with_target(ProgressDrawTarget::stderr(), color)
    }

    /// Spinners on `target`; a hidden target (not a terminal) gets plain lines on stderr.
    pub fn with_target(target: ProgressDrawTarget, color: bool) -> Tty {
        let multi = MultiProgress::with_draw_target(target);
        let fallback = multi.is_hidden().then(|| Plain::new(io::stderr()));
        Tty { multi, bars: Mutex::new(HashMap::new()), width: Mutex::new(0), color, fallback }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    /// The spinner of `step`, created when the step has none yet.
    fn bar(&self, step: &str) -> ProgressBar {
        let mut bars = lock(&self.bars);
        if let Some(bar) = bars.get(step) {
            return bar.clone();
        }
        let width = (*lock(&self.width)).max(step.chars().count());
        let template = if self.color {
            "{spinner:.cyan} {prefix:.bold}  {human:>6}  {wide_msg}"
        } else {
            "{spinner} {prefix}  {human:>6}  {wide_msg}"
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            .with_key("human", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = w.write_str(&human(state.elapsed()));
            });
        let bar = self.multi.add(ProgressBar::new_spinner().with_style(style).with_prefix(format!("{step:<width$}")));
        bar.enable_steady_tick(Duration::from_millis(120));
        bars.insert(step.to_string(), bar.clone());
        bar
    }

    /// Replaces the spinner of `step` (if any) by a permanent line.
    fn settle(&self, step: &str, line: String) {
        let bar = lock(&self.bars).remove(step);
        self.println(&line);
        if let Some(bar) = bar {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn step_line(&self, mark: String, step: &str, elapsed: Option<Duration>, text: &str) -> String {
        let width = *lock(&self.width);
        let time = elapsed.map(human).unwrap_or_default();
        let first = text.lines().next().unwrap_or("");
        let mut line = format!("{mark} {step:<width$}  {time:>6}  {first}").trim_end().to_string();
        for more in text.lines().skip(1) {
            let _ = write!(line, "\n    {more}");
        }
        line
    }
}

impl Reporter for Tty {
    fn event(&self, e: &Event) {
        if let Some(plain) = &self.fallback {
            return plain.event(e);
        }
        match e {
            Event::Started { steps, .. } => {
                *lock(&self.width) = steps.iter().map(|s| s.chars().count()).max().unwrap_or(0);
                describe(e).iter().for_each(|l| self.println(l));
            }
            Event::StepStarted { step, what } => self.bar(step).set_message(what.clone()),
            Event::StepWaiting { step, reason, elapsed } => {
                let bar = self.bar(step);
                bar.set_elapsed(*elapsed);
                bar.set_message(format!("waiting: {reason}"));
            }
            Event::StepDone { step, summary, elapsed } => {
                let line = self.step_line(self.paint("32", "✓"), step, Some(*elapsed), summary);
                self.settle(step, line);
            }
            Event::StepFailed { step, error, elapsed } => {
                let line = self.step_line(self.paint("31", "✗"), step, Some(*elapsed), error);
                self.settle(step, line);
            }
            Event::StepSkipped { step, why } => {
                let line = self.step_line(self.paint("2", "-"), step, None, &format!("skipped — {why}"));
                self.settle(step, line);
            }
            Event::StepCancelled { step } => {
                let line = self.step_line(self.paint("2", "-"), step, None, "cancelled");
                self.settle(step, line);
            }
            Event::RollbackStarted { .. }
            | Event::RolledBack { .. }
            | Event::Kept { .. }
            | Event::RollbackFailed { .. } => {
                let color = if matches!(e, Event::RollbackFailed { .. }) { "31" } else { "33" };
                let lines = describe(e);
                let mut text = self.paint(color, "↩");
                for (i, l) in lines.iter().enumerate() {
                    let _ = write!(text, "{}{l}", if i == 0 { " " } else { "\n    " });
                }
                self.println(&text);
            }
            Event::Warning { .. } => {
                let lines = describe(e);
                self.println(&format!("{} {}", self.paint("33", "!"), lines.join("\n    ")));
            }
            Event::Note { .. } => {
                let lines = describe(e);
                self.println(&format!("{} {}", self.paint("2", "·"), lines.join("\n    ")));
            }
            Event::Finished { .. } => {
                for (_, bar) in lock(&self.bars).drain() {
                    bar.finish_and_clear();
                    self.multi.remove(&bar);
                }
                describe(e).iter().for_each(|l| self.println(l));
            }
        }
    }
}

/// Keeps every event, for tests.
#[derive(Default)]
pub struct Recording {
    events: Mutex<Vec<Event>>,
}

impl Recording {
    pub fn new() -> Recording {
        Recording::default()
    }
    /// The events so far, in order.
    pub fn events(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }
}

impl Reporter for Recording {
    fn event(&self, e: &Event) {
        lock(&self.events).push(e.clone());
    }
}

/// Every event to each of several reporters, in order.
pub struct Fanout(pub Vec<Arc<dyn Reporter>>);

impl Reporter for Fanout {
    fn event(&self, e: &Event) {
        self.0.iter().for_each(|r| r.event(e));
    }
}

/// The reporter for a command run by a person or a job: JSON lines on stdout with `--json`,
/// spinners when stderr is a terminal, plain timestamped lines on stderr otherwise.
pub fn for_terminal(json: bool, color: bool) -> Arc<dyn Reporter> {
    if json {
        Arc::new(Json::new(io::stdout()))
    } else if io::stderr().is_terminal() {
        Arc::new(Tty::new(color))
    } else {
        Arc::new(Plain::new(io::stderr()))
    }
}
