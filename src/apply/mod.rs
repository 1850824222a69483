//! Apply: the plan, carried out in graph order with the runbook's waits, a journal written before
//! every mutation, a lock held for the whole run, and a rollback of this run's mutations when a
//! step fails — which never deletes storage or download records unless asked.

pub mod journal;
pub mod lock;
pub mod progress;
