//! Watches on the fake: a change history, and watch streams that replay it from a resource
//! version and then follow it as it grows.
//!
//! Every write and delete of the store (`State::commit`, `State::remove`) records a [`Change`]
//! (resource version, ADDED / MODIFIED / DELETED, the object as the server would send it). A
//! watch from resource version R replays the recorded changes after R that match it (kind,
//! namespace, label and field selector) and then streams new ones as they are recorded —
//! including those the simulated controllers make as time passes: on the runtime clock nothing
//! else may be making requests while a caller waits on a watch, so the stream itself sleeps (on
//! tokio's clock) until the next moment a controller has something to do, runs the controllers
//! (`State::catch_up`) and delivers what they changed. On the manual clock it wakes when a
//! request or [`FakeCluster::advance`](super::FakeCluster::advance) records a change.
//!
//! As a real API server does (held to the Kubernetes API documentation, not recorded):
//! - a watch from `""` or `"0"` starts now, with an ADDED event for every object that matches;
//! - a resource version older than the retained history gets one ERROR event carrying a 410
//!   `Status` (reason `Expired`, message `too old resource version: R (OLDEST)`), then the end;
//! - with `allowWatchBookmarks`, a BOOKMARK carrying the current resource version after a quiet
//!   minute (inferred: the real server's bookmark timing is its own), and the watch ends after
//!   its `timeoutSeconds`;
//! - a DELETED event carries the object as it was, with the deletion's resource version;
//! - a lost connection ([`FakeCluster::disconnect`](super::FakeCluster::disconnect)) breaks
//!   every open watch with a connection error.
//!
//! Simplifications: the history keeps the last [`HISTORY_LIMIT`] changes (etcd compacts by time);
//! field selectors accept any path (see `selector.rs`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::selector::{FieldSelector, Selector};
use super::server::State;
use crate::cluster::{ClusterError, Kind, ObjectRef, WatchEvent, WatchRequest, WatchStream};

/// How many changes the history keeps; a watch from before the oldest is expired.
pub(super) const HISTORY_LIMIT: usize = 20_000;

/// A quiet watch with bookmarks gets one this often (simulated time).
pub(super) const BOOKMARK_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ChangeType {
    Added,
    Modified,
    Deleted,
}

/// One recorded change of the store.
#[derive(Clone, Debug)]
pub(super) struct Change {
    pub rv: u64,
    pub r: ObjectRef,
    pub ty: ChangeType,
    /// As the server sends it (managed fields included).
    pub object: Value,
}

/// A scripted misbehaviour of the next watch of a kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum WatchFault {
    /// The connection breaks after this many events.
    BreakAfter(usize),
    /// The resource version is too old: the 410 ERROR event at once.
    Expire,
}

/// Which changes a watch delivers.
struct Filter {
    api_version: String,
    kind: String,
    namespace: Option<String>,
    labels: Selector,
    fields: FieldSelector,
}

impl Filter {
    fn matches(&self, r: &ObjectRef, obj: &Value) -> bool {
        r.api_version == self.api_version
            && r.kind == self.kind
            && (self.namespace.is_none() || r.namespace == self.namespace)
            && self.labels.matches(obj.pointer("/metadata/labels"))
            && self.fields.matches(obj)
    }
}

fn event(ty: ChangeType, obj: &Value) -> WatchEvent {
    match ty {
        ChangeType::Added => WatchEvent::Added(obj.clone()),
        ChangeType::Modified => WatchEvent::Modified(obj.clone()),
        ChangeType::Deleted => WatchEvent::Deleted(obj.clone()),
    }
}

/// The 410 a real server sends in a watch from a compacted resource version.
fn expired(from: u64, oldest: u64) -> WatchEvent {
    WatchEvent::Error {
        code: 410,
        reason: "Expired".into(),
        message: format!("too old resource version: {from} ({oldest})"),
    }
}

impl State {
    /// Records a change (see the module comment), dropping the oldest beyond the limit.
    pub(super) fn record(&mut self, r: &ObjectRef, ty: ChangeType, object: Value) {
        self.history.push_back(Change { rv: self.rv, r: r.clone(), ty, object });
        while self.history.len() > HISTORY_LIMIT {
            if let Some(old) = self.history.pop_front() {
                self.history_floor = old.rv;
            }
        }
        self.changed.notify_waiters();
    }

    /// Forgets the history up to now: a watch from any earlier resource version is expired.
    pub(super) fn compact(&mut self) {
        self.history.clear();
        self.history_floor = self.rv;
    }

    /// Starts a watch: what it delivers first, and its state. The request was counted already.
    pub(super) fn start_watch(
        &mut self,
        state: Arc<Mutex<State>>,
        req: &WatchRequest,
        kind: &'static Kind,
    ) -> Result<WatchStream, ClusterError> {
        let filter = Filter {
            api_version: req.api_version.clone(),
            kind: req.kind.clone(),
            namespace: kind.namespaced.then(|| req.namespace.clone().unwrap_or_else(|| self.default_namespace.clone())),
            labels: Selector::parse(&req.labels)?,
            fields: FieldSelector::parse(&req.fields)?,
        };
        let fault = self.watch_faults.iter().position(|(k, _)| *k == req.kind).map(|i| self.watch_faults.remove(i).1);
        let mut pending = VecDeque::new();
        let mut ended = false;
        let cursor = match req.resource_version.as_str() {
            "" | "0" => {
                for (r, s) in &self.objects {
                    let obj = self.render(&s.obj, &s.managers);
                    if filter.matches(r, &obj) {
                        pending.push_back(Ok(WatchEvent::Added(obj)));
                    }
                }
                self.rv
            }
            rv => rv.parse::<u64>().map_err(|_| {
                ClusterError::from_status(
                    400,
                    &serde_json::json!({"message": format!("resourceVersion: Invalid value: \"{rv}\": must be a number"), "reason": "BadRequest"}),
                )
            })?,
        };
        if fault == Some(WatchFault::Expire) || cursor < self.history_floor {
            pending.push_back(Ok(expired(cursor, self.history_floor.max(cursor + 1))));
            ended = true;
        }
        let break_after = match fault {
            Some(WatchFault::BreakAfter(n)) => Some(n),
            _ => None,
        };
        let watch = Watch {
            state,
            changed: self.changed.clone(),
            filter,
            cursor,
            pending,
            ended,
            break_after,
            delivered: 0,
            deadline: self.now + req.timeout,
            last_sent: self.now,
            bookmarks: req.bookmarks,
        };
        Ok(Box::pin(futures::stream::unfold(watch, Watch::next)))
    }
}

/// One open watch.
struct Watch {
    state: Arc<Mutex<State>>,
    changed: Arc<tokio::sync::Notify>,
    filter: Filter,
    /// Every change up to this resource version was looked at.
    cursor: u64,
    pending: VecDeque<Result<WatchEvent, ClusterError>>,
    /// Nothing more after `pending`.
    ended: bool,
    break_after: Option<usize>,
    delivered: usize,
    /// The watch's `timeoutSeconds` runs out then (simulated time).
    deadline: Duration,
    /// When the last event or bookmark went out (simulated time).
    last_sent: Duration,
    bookmarks: bool,
}

impl Watch {
    async fn next(mut self) -> Option<(Result<WatchEvent, ClusterError>, Watch)> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                if self.break_after.is_some_and(|n| self.delivered >= n) {
                    self.pending.clear();
                    self.ended = true;
                    let lost =
                        ClusterError::Connection("fake: the watch's connection was lost (FakeCluster fault)".into());
                    return Some((Err(lost), self));
                }
                self.delivered += 1;
                return Some((e, self));
            }
            if self.ended {
                return None;
            }
            let changed = self.changed.clone();
            let notified = changed.notified();
            tokio::pin!(notified);
            // Registered before the state is read: a change recorded after this is not missed.
            notified.as_mut().enable();
            let wake = {
                let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
                s.catch_up();
                // The controllers run on what the last request wrote (a request runs them before
                // it is served, not after), so the moments they note below are up to date.
                if s.rv != s.settled {
                    s.advance(Duration::ZERO);
                }
                if s.fail_after == Some(0) {
                    self.pending.push_back(Err(ClusterError::Connection(
                        "fake: the watch's connection was lost (FakeCluster disconnected)".into(),
                    )));
                    self.ended = true;
                    continue;
                }
                if self.cursor < s.history_floor {
                    self.pending.push_back(Ok(expired(self.cursor, s.history_floor)));
                    self.ended = true;
                    continue;
                }
                let from = s.history.partition_point(|c| c.rv <= self.cursor);
                for c in s.history.range(from..) {
                    if self.filter.matches(&c.r, &c.object) {
                        self.pending.push_back(Ok(event(c.ty, &c.object)));
                    }
                }
                self.cursor = s.rv;
                if !self.pending.is_empty() {
                    self.last_sent = s.now;
                    continue;
                }
                if s.now >= self.deadline {
                    // The server's timeout: the watch ends, cleanly.
                    return None;
                }
                if self.bookmarks && s.now >= self.last_sent + BOOKMARK_EVERY {
                    self.pending.push_back(Ok(WatchEvent::Bookmark(s.rv.to_string())));
                    self.last_sent = s.now;
                    continue;
                }
                // The next moment something may happen, on tokio's clock (the runtime clock
                // only: on the manual clock only a recorded change wakes the watch).
                s.runtime.map(|anchor| {
                    let mut next = self.deadline;
                    if self.bookmarks {
                        next = next.min(self.last_sent + BOOKMARK_EVERY);
                    }
                    if let Some(t) = s.wakeups.iter().copied().find(|t| *t > s.now) {
                        next = next.min(t);
                    }
                    anchor.tokio + next.saturating_sub(anchor.sim)
                })
            };
            match wake {
                Some(at) => {
                    tokio::select! {
                        _ = &mut notified => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}
