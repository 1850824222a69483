//! Progress: what a running apply tells the person (or the CI job) watching it.
//!
//! The engine emits [`Event`]s to a [`Reporter`]; the reporters turn them into one line per
//! running step on a terminal (indicatif), plain timestamped lines otherwise, or a JSON event
//! stream (`--json`). None of them ever sees a secret value: events carry names and reasons only.

use std::time::Duration;

use serde::Serialize;

/// One thing that happened during an apply, destroy or recover.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The run starts: the steps it will go through, in order.
    Started { command: String, workspace: String, namespace: String, cluster: String, steps: Vec<String> },
    /// A step began: `what` says what it does ("create PersistentVolumeClaim llm-d/model-pvc").
    StepStarted { step: String, what: String },
    /// A step is waiting, and why (each time the reason changes).
    StepWaiting { step: String, reason: String, elapsed: Duration },
    /// A step finished: `summary` says what it did.
    StepDone { step: String, summary: String, elapsed: Duration },
    /// A step had nothing to do.
    StepSkipped { step: String, why: String },
    /// A step failed.
    StepFailed { step: String, error: String, elapsed: Duration },
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
    /// The end: `outcome` is "applied", "no changes", "rolled back", "stopped" or "failed".
    Finished { outcome: String, elapsed: Duration, steps: Vec<StepTime> },
}

/// How long one step took, for the closing summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepTime {
    pub step: String,
    pub outcome: String,
    pub elapsed: Duration,
}

/// Where events go. Implementations must be cheap and must not block.
pub trait Reporter: Send + Sync {
    fn event(&self, e: &Event);
}
