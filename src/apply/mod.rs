//! Apply: the plan, carried out in graph order with the runbook's waits, a journal written before
//! every mutation, a lock held for the whole run, and a rollback of this run's mutations when a
//! step fails — which never deletes storage or download records unless asked.

pub mod engine;
pub mod journal;
pub mod lock;
pub mod progress;
pub mod session;

/// A time as Kubernetes and the journal write it: RFC 3339, UTC, seconds.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    crate::cluster::time::rfc3339(t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default())
}
