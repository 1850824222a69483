//! The apply lock: one `msws apply` or `msws destroy` per workspace at a time.
//!
//! The lock is a `coordination.k8s.io/v1` Lease named `msws-<workspace>` in the workspace's
//! namespace, the object Kubernetes itself uses for leader election. What it guarantees:
//!
//! - **one holder**: the Lease is made with `create` (POST), never with server-side apply. Two
//!   msws racing to create it get one success and one 409 `AlreadyExists`; an apply would have
//!   let both "succeed", the second silently overwriting the first. Every later write (a
//!   renewal, a takeover) is a `replace` (PUT) carrying the `resourceVersion` that was read, so a
//!   write based on a stale read is refused with a 409 instead of undoing someone else's.
//! - **expiry**: the holder renews `spec.renewTime` every [`RENEW_EVERY`]; a Lease not renewed
//!   for [`LEASE_SECONDS`] (a killed process, a lost laptop) may be taken over by the next
//!   acquire. Until then an acquire is refused with [`LockError::Held`], naming the holder, when
//!   it last renewed and when it expires; `msws unlock --force FILE` ([`force_unlock`]) breaks a
//!   lock at once for whoever knows its holder is gone.
//! - **knowing when it is lost**: the renewer cancels [`LockGuard::lost`] when a renewal finds
//!   another holder (or no Lease), when the server refuses it for good, or when transient
//!   failures have lasted until the lease is about to expire — before anyone else may take it
//!   over, so that the run holding the guard can stop mutating in time.
//!
//! Times are written in the API server's `MicroTime` format from [`Cluster::now`] (the wall
//! clock; the fake's simulated one in tests). Deciding that another machine's Lease expired
//! compares its `renewTime` with this clock, so clocks skewed by more than a few seconds shorten
//! or lengthen the wait by as much.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::jiff;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cluster::{Cluster, ClusterError, ObjectRef, Propagation};

/// How long a Lease holds without a renewal (`spec.leaseDurationSeconds`).
pub const LEASE_SECONDS: u64 = 60;
/// How often the holder renews: three chances before the lease expires.
pub const RENEW_EVERY: Duration = Duration::from_secs(20);
/// How soon a failed renewal is tried again.
pub const RETRY_EVERY: Duration = Duration::from_secs(2);
/// How long one renewal request may take before it counts as failed.
const RENEW_TIMEOUT: Duration = Duration::from_secs(10);
/// Rounds of create / read / take over before an acquire that keeps losing races gives up.
const ATTEMPTS: usize = 3;

const API_VERSION: &str = "coordination.k8s.io/v1";
const KIND: &str = "Lease";
/// The annotation naming what the holder is doing (`apply`, `destroy`).
pub const COMMAND_ANNOTATION: &str = "msws.io/command";
/// The label naming the workspace a Lease locks.
pub const WORKSPACE_LABEL: &str = "msws.io/workspace";

/// The name of a workspace's Lease (a workspace name is a DNS label, so this is a valid name).
pub fn lease_name(workspace: &str) -> String {
    format!("msws-{workspace}")
}

/// The Lease of a workspace.
pub fn lease_ref(namespace: &str, workspace: &str) -> ObjectRef {
    ObjectRef::new(API_VERSION, KIND, Some(namespace), &lease_name(workspace))
}

/// Who holds (or wants) a lock: `user@host/pid/<8 random hex>`. The random part makes two
/// holders in one process (or a reused pid) different.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub identity: String,
}

impl Holder {
    /// This process, with a fresh random suffix.
    pub fn current() -> Holder {
        let user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
            .unwrap_or_else(|| "unknown".into());
        let host = ["/proc/sys/kernel/hostname", "/etc/hostname"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .or_else(|| std::env::var("COMPUTERNAME").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "unknown-host".into());
        Holder { identity: format!("{user}@{host}/{}/{:08x}", std::process::id(), random_u32()) }
    }

    /// A holder with a given identity (tests, or a caller that names itself).
    pub fn new(identity: impl Into<String>) -> Holder {
        Holder { identity: identity.into() }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.identity)
    }
}

/// 32 random bits without a dependency: std seeds every `RandomState` with random keys.
fn random_u32() -> u32 {
    let mut h = RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos());
    h.finish() as u32
}

/// Why a lock could not be taken or kept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// Someone else holds the lock and renewed it recently.
    #[error(
        "workspace {workspace} is locked by {holder}{}, which renewed the lock {} ago. \
         It can be taken over only once it expires, in {} without a renewal. \
         If that msws is gone for good (killed, its machine off), `msws unlock --force FILE` removes the lock now",
        .command.as_deref().map(|c| format!(" (msws {c})")).unwrap_or_default(),
        human(*.renewed_ago),
        human(*.expires_in)
    )]
    Held {
        workspace: String,
        holder: String,
        /// What the holder said it is doing (`apply`, `destroy`), when it said.
        command: Option<String>,
        renewed_ago: Duration,
        expires_in: Duration,
    },
    /// The lock was held, and is not any more: the message says why.
    #[error("lost the lock: {0}")]
    Lost(String),
    #[error("cannot take the lock: {0}")]
    Cluster(#[from] ClusterError),
}

/// `45s`, `2m 5s`, `1h 0m`: durations as a person reads them (sub-seconds rounded up, so that
/// "expires in 0s" is never said of a lock that still holds).
fn human(d: Duration) -> String {
    let s = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {}s", s / 60, s % 60),
        _ => format!("{}h {}m", s / 3600, s / 60 % 60),
    }
}

/// A time as the API server writes a `MicroTime`: `2026-11-26T22:10:52.123456Z`.
pub fn micro_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let ts = i64::try_from(d.as_secs())
        .ok()
        .and_then(|s| jiff::Timestamp::new(s, d.subsec_nanos() as i32).ok())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    // The format has only fields a timestamp has: it cannot fail.
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%S%.6fZ", ts).unwrap_or_default()
}

/// An RFC 3339 time (`MicroTime` or `Time`) read back; `None` if it is not one.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    let ts: jiff::Timestamp = s.parse().ok()?;
    let secs = u64::try_from(ts.as_second()).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, u32::try_from(ts.subsec_nanosecond()).ok()?))
}

/// What a Lease says, as far as the lock cares.
struct LeaseInfo {
    holder: String,
    command: Option<String>,
    /// The last renewal (or acquisition, or creation, whichever the Lease shows first).
    renewed: SystemTime,
    duration: Duration,
}

impl LeaseInfo {
    fn read(lease: &Value) -> LeaseInfo {
        let s = |p: &str| lease.pointer(p).and_then(Value::as_str);
        let renewed = ["/spec/renewTime", "/spec/acquireTime", "/metadata/creationTimestamp"]
            .iter()
            .find_map(|p| s(p).and_then(parse_time))
            // A Lease with no time at all is not one anybody renews: treat it as long expired.
            .unwrap_or(UNIX_EPOCH);
        LeaseInfo {
            holder: holder_of(lease).to_string(),
            command: s(&format!("/metadata/annotations/{}", COMMAND_ANNOTATION.replace('/', "~1"))).map(str::to_string),
            renewed,
            duration: Duration::from_secs(
                lease.pointer("/spec/leaseDurationSeconds").and_then(Value::as_u64).unwrap_or(LEASE_SECONDS),
            ),
        }
    }

    /// Free to take: nobody holds it, or its holder stopped renewing it long enough ago.
    fn free(&self, now: SystemTime) -> bool {
        self.holder.is_empty() || now >= self.renewed + self.duration
    }

    fn held(self, workspace: &str, now: SystemTime) -> LockError {
        let expires = self.renewed + self.duration;
        LockError::Held {
            workspace: workspace.to_string(),
            holder: self.holder,
            command: self.command,
            renewed_ago: now.duration_since(self.renewed).unwrap_or_default(),
            expires_in: expires.duration_since(now).unwrap_or_default(),
        }
    }
}

fn holder_of(lease: &Value) -> &str {
    lease.pointer("/spec/holderIdentity").and_then(Value::as_str).unwrap_or("")
}

/// A new Lease held by `holder` since `now`.
fn new_lease(namespace: &str, workspace: &str, holder: &Holder, command: &str, now: SystemTime) -> Value {
    let t = micro_time(now);
    json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": lease_name(workspace),
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "msws", WORKSPACE_LABEL: workspace},
            "annotations": {COMMAND_ANNOTATION: command},
        },
        "spec": {
            "holderIdentity": holder.identity,
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": t,
            "renewTime": t,
        },
    })
}

/// An expired Lease as `holder` takes it over: the same object (its `resourceVersion` is the
/// precondition), a new holder and times, one more transition.
fn taken_over(live: &Value, workspace: &str, holder: &Holder, command: &str, now: SystemTime) -> Value {
    let mut lease = live.clone();
    let fresh = new_lease("", workspace, holder, command, now);
    let transitions = live.pointer("/spec/leaseTransitions").and_then(Value::as_i64).unwrap_or(0);
    lease["spec"] = fresh["spec"].clone();
    lease["spec"]["leaseTransitions"] = json!(transitions + 1);
    let meta = &mut lease["metadata"];
    if let Some(m) = meta.as_object_mut() {
        m.remove("managedFields");
    }
    for (field, key, value) in [
        ("labels", "app.kubernetes.io/managed-by", "msws"),
        ("labels", WORKSPACE_LABEL, workspace),
        ("annotations", COMMAND_ANNOTATION, command),
    ] {
        if !meta[field].is_object() {
            meta[field] = json!({});
        }
        meta[field][key] = json!(value);
    }
    lease
}

/// Takes the lock of `workspace` for `holder`, who is about to run `command` (`apply`,
/// `destroy`; written on the Lease for whoever finds it held). The guard renews it until it is
/// released or dropped.
pub async fn acquire(
    cluster: Arc<dyn Cluster>,
    namespace: &str,
    workspace: &str,
    holder: &Holder,
    command: &str,
) -> Result<LockGuard, LockError> {
    let r = lease_ref(namespace, workspace);
    for _ in 0..ATTEMPTS {
        match cluster.create(&new_lease(namespace, workspace, holder, command, cluster.now())).await {
            Ok(lease) => return Ok(LockGuard::start(cluster, r, holder, lease)),
            // It exists: see whose it is.
            Err(ClusterError::Conflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // Released between the create and this read: try the create again.
        let Some(live) = cluster.get(&r).await? else { continue };
        let info = LeaseInfo::read(&live);
        let now = cluster.now();
        if !info.free(now) {
            return Err(info.held(workspace, now));
        }
        match cluster.replace(&taken_over(&live, workspace, holder, command, now)).await {
            Ok(lease) => return Ok(LockGuard::start(cluster, r, holder, lease)),
            // Someone else changed it since the read (took it over, renewed it, released it):
            // look again, which reports them as the holder.
            Err(ClusterError::Conflict { .. } | ClusterError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(LockError::Cluster(ClusterError::Conflict {
        message: format!(
            "the lock of workspace {workspace} (Lease {r}) changed hands {ATTEMPTS} times while msws tried to take it; try again"
        ),
        causes: Vec::new(),
    }))
}

/// Removes a workspace's lock whoever holds it, for when its holder is known to be gone. The
/// holder it had, if any (`None`: there was no lock, or nobody held it).
pub async fn force_unlock(
    cluster: &dyn Cluster,
    namespace: &str,
    workspace: &str,
) -> Result<Option<String>, ClusterError> {
    let r = lease_ref(namespace, workspace);
    // The holder named is the one whose Lease was deleted: a Lease renewed in between is read
    // again (its holder may be alive after all, and the answer says who it was).
    for _ in 0..3 {
        let Some(live) = cluster.get(&r).await? else { return Ok(None) };
        let (uid, rv) = (meta_str(&live, "uid"), meta_str(&live, "resourceVersion"));
        match cluster.delete_exact(&r, &uid, &rv, Propagation::Background).await {
            Ok(_) | Err(ClusterError::NotFound(_)) => {
                return Ok(Some(holder_of(&live).to_string()).filter(|h| !h.is_empty()));
            }
            Err(ClusterError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ClusterError::Conflict {
        message: format!("Lease {} kept changing while it was being deleted: is its holder still running?", r.name),
        causes: Vec::new(),
    })
}

/// What the guard and its renewer share.
struct Shared {
    /// The Lease as last written or read (its `resourceVersion` is the next write's precondition).
    lease: Value,
    /// Why the lock was lost, once it was.
    lost: Option<Lost>,
}

/// How a held lock was lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lost {
    /// Someone else took it, it was deleted, or the server refused to renew it: why.
    Taken(String),
    /// The cluster stopped answering: renewals failed from `since` (the clock of the last
    /// successful renewal's answer, as [`Cluster::now`] reads) for `lasted`, the last with
    /// `error`; the lease was about to expire, so another msws could take it over.
    Unreachable { since: SystemTime, lasted: Duration, error: String },
}

impl fmt::Display for Lost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lost::Taken(why) => f.write_str(why),
            Lost::Unreachable { since, lasted, error } => write!(
                f,
                "the cluster stopped answering at {} and did not answer for {} ({error}), so the lock could not be renewed",
                micro_time(*since),
                human(*lasted)
            ),
        }
    }
}

/// What a run needs to know about its lock: a token cancelled when it is lost, and why.
#[derive(Clone)]
pub struct LockWatch {
    token: CancellationToken,
    shared: Option<Arc<Mutex<Shared>>>,
}

impl LockWatch {
    /// For a run without a lock (one with nothing to do): never lost.
    pub fn none() -> LockWatch {
        LockWatch { token: CancellationToken::new(), shared: None }
    }

    /// Cancelled when the lock is lost.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Why it was lost; `None` while it holds.
    pub fn lost(&self) -> Option<Lost> {
        self.shared.as_ref().and_then(|s| locked(s).lost.clone())
    }
}

/// A held lock. Renewed in a background task until [`LockGuard::release`]; dropping the guard
/// stops the renewals, and the Lease then expires on its own.
pub struct LockGuard {
    cluster: Arc<dyn Cluster>,
    lease: ObjectRef,
    holder: String,
    shared: Arc<Mutex<Shared>>,
    lost: CancellationToken,
    stop: CancellationToken,
    renewer: Option<JoinHandle<()>>,
}

fn locked(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // Nothing panics while holding it; if something did, the data is still usable.
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl LockGuard {
    fn start(cluster: Arc<dyn Cluster>, lease_ref: ObjectRef, holder: &Holder, lease: Value) -> LockGuard {
        let shared = Arc::new(Mutex::new(Shared { lease, lost: None }));
        let (lost, stop) = (CancellationToken::new(), CancellationToken::new());
        let renewer = Renewer {
            cluster: cluster.clone(),
            lease: lease_ref.clone(),
            holder: holder.identity.clone(),
            shared: shared.clone(),
            lost: lost.clone(),
            stop: stop.clone(),
        };
        LockGuard {
            cluster,
            lease: lease_ref,
            holder: holder.identity.clone(),
            shared,
            lost,
            stop,
            renewer: Some(tokio::spawn(renewer.run())),
        }
    }

    /// Cancelled when the lock is lost: a renewal found another holder or no Lease, the server
    /// refused renewals for good, or they failed until the lease was about to expire. Whoever
    /// mutates under the lock should stop when it fires.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// The lost signal with its reason, for the run that holds the lock.
    pub fn watch(&self) -> LockWatch {
        LockWatch { token: self.lost.clone(), shared: Some(self.shared.clone()) }
    }

    /// Why the lock was lost ([`LockError::Lost`]); `None` while it holds.
    pub fn lost_error(&self) -> Option<LockError> {
        locked(&self.shared).lost.clone().map(|l| LockError::Lost(format!("Lease {}: {l}", self.lease)))
    }

    /// The Lease this guard holds.
    pub fn lease(&self) -> &ObjectRef {
        &self.lease
    }

    /// The holder identity written on the Lease.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Stops renewing and deletes the Lease — if it is still this holder's (a lock lost to
    /// someone else is theirs to release).
    pub async fn release(mut self) -> Result<(), ClusterError> {
        self.stop.cancel();
        if let Some(renewer) = self.renewer.take() {
            // A renewal in flight lands (or is dropped) before the Lease is read.
            let _ = renewer.await;
        }
        match self.cluster.get(&self.lease).await? {
            Some(live) if holder_of(&live) == self.holder => {
                // Only this very version of the Lease: one taken over since is someone else's.
                let (uid, rv) = (meta_str(&live, "uid"), meta_str(&live, "resourceVersion"));
                match self.cluster.delete_exact(&self.lease, &uid, &rv, Propagation::Background).await {
                    Ok(_) | Err(ClusterError::NotFound(_)) | Err(ClusterError::Conflict { .. }) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            _ => Ok(()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(renewer) = self.renewer.take() {
            renewer.abort();
        }
    }
}

/// The background task that keeps a Lease renewed.
struct Renewer {
    cluster: Arc<dyn Cluster>,
    lease: ObjectRef,
    holder: String,
    shared: Arc<Mutex<Shared>>,
    lost: CancellationToken,
    stop: CancellationToken,
}

/// How one renewal ended.
enum Renewal {
    Done,
    /// Failed; may work if tried again. `unreachable`: the cluster did not answer at all.
    Failed {
        why: String,
        unreachable: bool,
    },
    /// The lock is gone: the reason.
    Lost(String),
}

impl Renewer {
    async fn run(self) {
        let lease_time = Duration::from_secs(LEASE_SECONDS);
        // When the last successful write was sent: the lease holds until this plus its
        // duration, on the monotonic clock.
        let mut renewed = Instant::now();
        // The cluster's clock at the last answer, to say when it stopped answering.
        let mut answered_at = self.cluster.now();
        let mut wait = RENEW_EVERY;
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            let sent = Instant::now();
            let outcome = tokio::select! {
                _ = self.stop.cancelled() => return,
                o = self.renew() => o,
            };
            match outcome {
                Renewal::Done => {
                    renewed = sent;
                    answered_at = self.cluster.now();
                    wait = RENEW_EVERY;
                }
                Renewal::Lost(why) => return self.lose(Lost::Taken(why)),
                Renewal::Failed { why, unreachable } => {
                    // Give up while the lease still holds, so that whoever waits for the guard
                    // stops before anyone else may take the lock over.
                    if Instant::now() + RETRY_EVERY >= renewed + lease_time {
                        let lasted = sent.saturating_duration_since(renewed);
                        return self.lose(if unreachable {
                            Lost::Unreachable { since: answered_at, lasted, error: why }
                        } else {
                            Lost::Taken(format!(
                                "it could not be renewed for {} ({why}), and it expires in {}: another msws may take it over",
                                human(lasted),
                                human((renewed + lease_time).saturating_duration_since(Instant::now())),
                            ))
                        });
                    }
                    if !unreachable {
                        answered_at = self.cluster.now();
                    }
                    wait = RETRY_EVERY;
                }
            }
        }
    }

    fn lose(&self, why: Lost) {
        locked(&self.shared).lost = Some(why);
        self.lost.cancel();
    }

    async fn renew(&self) -> Renewal {
        let mut next = locked(&self.shared).lease.clone();
        next["spec"]["renewTime"] = json!(micro_time(self.cluster.now()));
        if let Some(m) = next["metadata"].as_object_mut() {
            m.remove("managedFields");
        }
        let failed = |why: String, unreachable: bool| Renewal::Failed { why, unreachable };
        let answer = match tokio::time::timeout(RENEW_TIMEOUT, self.cluster.replace(&next)).await {
            Ok(a) => a,
            Err(_) => return failed(format!("no answer in {}", human(RENEW_TIMEOUT)), true),
        };
        match answer {
            Ok(lease) => {
                locked(&self.shared).lease = lease;
                Renewal::Done
            }
            // Written since the last read: by another holder, or by someone who left it ours
            // (a label added by hand), in which case the next try starts from the fresh copy.
            Err(ClusterError::Conflict { .. }) => match self.cluster.get(&self.lease).await {
                Ok(Some(live)) if holder_of(&live) == self.holder => {
                    locked(&self.shared).lease = live;
                    failed("the Lease changed since it was read".into(), false)
                }
                Ok(Some(live)) => Renewal::Lost(format!("{} holds it now", display_holder(holder_of(&live)))),
                Ok(None) => Renewal::Lost(deleted()),
                Err(e) => failed(e.to_string(), unanswered(&e)),
            },
            Err(ClusterError::NotFound(_)) => Renewal::Lost(deleted()),
            Err(
                e @ (ClusterError::Forbidden { .. }
                | ClusterError::Unauthorized(_)
                | ClusterError::Invalid { .. }
                | ClusterError::Client(_)),
            ) => Renewal::Lost(format!("renewing it was refused: {e}")),
            Err(e) => failed(e.to_string(), unanswered(&e)),
        }
    }
}

/// Whether an error means the cluster did not answer at all (rather than answering "no").
fn unanswered(e: &ClusterError) -> bool {
    matches!(e, ClusterError::Connection(_) | ClusterError::Timeout(_))
}

fn display_holder(h: &str) -> String {
    if h.is_empty() { "nobody (it was released)".into() } else { h.to_string() }
}

fn deleted() -> String {
    "it was deleted (by `msws unlock --force`?)".into()
}

/// A metadata string of an object (`""` when absent).
fn meta_str(obj: &Value, key: &str) -> String {
    obj.pointer(&format!("/metadata/{key}")).and_then(Value::as_str).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_times_round_trip_in_the_servers_format() {
        let t = UNIX_EPOCH + Duration::new(1_795_716_000 + 4 * 3600 + 10 * 60 + 52, 123_456_789);
        assert_eq!(micro_time(t), "2026-11-26T22:10:52.123456Z");
        assert_eq!(parse_time("2026-11-26T22:10:52.123456Z"), Some(t - Duration::from_nanos(789)));
        assert_eq!(parse_time("2026-11-26T22:10:52Z"), Some(t - Duration::from_nanos(123_456_789)));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn durations_read_like_a_person_says_them() {
        assert_eq!(human(Duration::from_secs(45)), "45s");
        assert_eq!(human(Duration::from_millis(100)), "1s");
        assert_eq!(human(Duration::from_secs(125)), "2m 5s");
        assert_eq!(human(Duration::from_secs(3600)), "1h 0m");
    }

    #[test]
    fn holders_are_user_at_host_pid_and_random() {
        let (a, b) = (Holder::current(), Holder::current());
        assert_ne!(a, b);
        let parts: Vec<&str> = a.identity.rsplitn(3, '/').collect();
        assert_eq!(parts[0].len(), 8, "{a}");
        assert!(parts[0].chars().all(|c| c.is_ascii_hexdigit()), "{a}");
        assert_eq!(parts[1], std::process::id().to_string());
        assert!(parts[2].contains('@'), "{a}");
    }
}
