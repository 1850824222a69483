//! The apply lock (a Lease) on the fake cluster, with the fake's clock following tokio's paused
//! clock: acquiring, refusing, expiry and takeover, renewal, losing it, races, forced unlock.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use msws::apply::lock::{self, Holder, LEASE_SECONDS, LockError, RENEW_EVERY};
use msws::cluster::fake::{FakeCluster, Verb};
use msws::cluster::{Cluster, ClusterError, ObjectRef};
use serde_json::{Value, json};
use tokio::time::{Instant, sleep};

const NS: &str = "demo";
const WS: &str = "opt-125m";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A fake cluster on the runtime clock, and the same as the trait object the lock takes.
fn cluster() -> (Arc<FakeCluster>, Arc<dyn Cluster>) {
    let fake = Arc::new(FakeCluster::new(NS).with_runtime_clock());
    (fake.clone(), fake)
}

fn lease() -> ObjectRef {
    ObjectRef::new("coordination.k8s.io/v1", "Lease", Some(NS), "msws-opt-125m")
}

fn alice() -> Holder {
    Holder::new("alice@laptop/41/0badcafe")
}
fn bob() -> Holder {
    Holder::new("bob@ci-runner/7/deadbeef")
}

fn holder_of(fake: &FakeCluster) -> Option<String> {
    fake.peek(&lease()).map(|l| l["spec"]["holderIdentity"].as_str().unwrap_or("").to_string())
}

fn time_at(v: &Value, field: &str) -> SystemTime {
    lock::parse_time(v["spec"][field].as_str().unwrap()).unwrap()
}

async fn take(c: &Arc<dyn Cluster>, who: &Holder) -> Result<lock::LockGuard, LockError> {
    lock::acquire(c.clone(), NS, WS, who, "apply").await
}

#[tokio::test(start_paused = true)]
async fn acquire_creates_the_lease_and_release_deletes_it() {
    let (fake, c) = cluster();
    // Tokio's timers have millisecond resolution; the fake's clock goes finer.
    fake.advance(Duration::from_micros(1_234_567));
    let guard = take(&c, &alice()).await.unwrap();
    assert_eq!(lock::lease_name(WS), "msws-opt-125m");
    assert_eq!(guard.lease(), &lease());
    let l = fake.peek(&lease()).expect("the Lease exists");
    assert_eq!(
        l["spec"],
        json!({
            "holderIdentity": "alice@laptop/41/0badcafe",
            "leaseDurationSeconds": LEASE_SECONDS,
            "acquireTime": "2026-11-26T18:00:01.234567Z",
            "renewTime": "2026-11-26T18:00:01.234567Z",
        })
    );
    assert_eq!(l["metadata"]["labels"], json!({"app.kubernetes.io/managed-by": "msws", "msws.io/workspace": WS}));
    assert_eq!(l["metadata"]["annotations"], json!({"msws.io/command": "apply"}));
    // Created, never applied: two creators cannot both succeed.
    assert_eq!((fake.count(Verb::Create, "Lease"), fake.count(Verb::Apply, "Lease")), (1, 0));
    assert!(guard.lost_error().is_none());
    guard.release().await.unwrap();
    assert!(fake.peek(&lease()).is_none(), "released: the Lease is gone");
    // Free again, at once.
    let again = take(&c, &bob()).await.unwrap();
    assert_eq!(holder_of(&fake).as_deref(), Some("bob@ci-runner/7/deadbeef"));
    again.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_second_acquire_is_refused_naming_the_holder_and_when_it_renewed() {
    let (fake, c) = cluster();
    let guard = take(&c, &alice()).await.unwrap();
    sleep(secs(30)).await; // renewed at 20 s
    let err = lock::acquire(c.clone(), NS, WS, &bob(), "destroy").await.err().expect("refused");
    assert_eq!(
        err,
        LockError::Held {
            workspace: WS.into(),
            holder: "alice@laptop/41/0badcafe".into(),
            command: Some("apply".into()),
            renewed_ago: secs(10),
            expires_in: secs(50),
        }
    );
    assert_eq!(
        err.to_string(),
        "workspace opt-125m is locked by alice@laptop/41/0badcafe (msws apply), which renewed the lock 10s ago. \
         It can be taken over only once it expires, in 50s without a renewal. \
         If that msws is gone for good (killed, its machine off), `msws unlock --force FILE` removes the lock now"
    );
    assert_eq!(holder_of(&fake).as_deref(), Some("alice@laptop/41/0badcafe"), "the refusal changed nothing");
    assert_eq!(fake.count(Verb::Replace, "Lease"), 1, "only alice's renewal wrote");
    guard.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_abandoned_lock_is_taken_over_once_it_expires() {
    let (fake, c) = cluster();
    let guard = take(&c, &alice()).await.unwrap();
    drop(guard); // killed without releasing: the renewals stop
    sleep(secs(59)).await;
    match take(&c, &bob()).await {
        Err(LockError::Held { holder, renewed_ago, expires_in, .. }) => {
            assert_eq!((holder.as_str(), renewed_ago, expires_in), ("alice@laptop/41/0badcafe", secs(59), secs(1)));
        }
        other => panic!("taken over before it expired: {:?}", other.map(|g| g.holder().to_string())),
    }
    assert_eq!(fake.count(Verb::Replace, "Lease"), 0, "a dropped guard does not renew");
    sleep(secs(1)).await;
    let guard = take(&c, &bob()).await.expect("expired: taken over");
    let l = fake.peek(&lease()).unwrap();
    assert_eq!(l["spec"]["holderIdentity"], "bob@ci-runner/7/deadbeef");
    assert_eq!(l["spec"]["leaseTransitions"], 1);
    assert_eq!(l["spec"]["acquireTime"], "2026-11-26T18:01:00.000000Z");
    assert_eq!(fake.count(Verb::Replace, "Lease"), 1, "taken over with a replace");
    guard.release().await.unwrap();
    assert!(fake.peek(&lease()).is_none());
}

#[tokio::test(start_paused = true)]
async fn the_renewer_keeps_a_long_run_locked() {
    let (fake, c) = cluster();
    let start = Cluster::now(&*fake);
    let guard = take(&c, &alice()).await.unwrap();
    let lost = guard.lost();
    sleep(secs(301)).await;
    assert!(!lost.is_cancelled());
    let l = fake.peek(&lease()).unwrap();
    assert_eq!(l["spec"]["holderIdentity"], "alice@laptop/41/0badcafe");
    assert_eq!(time_at(&l, "acquireTime"), start);
    assert_eq!(time_at(&l, "renewTime").duration_since(start).unwrap(), secs(300));
    assert_eq!(fake.count(Verb::Replace, "Lease"), 300 / RENEW_EVERY.as_secs() as usize);
    assert!(matches!(take(&c, &bob()).await, Err(LockError::Held { .. })));
    guard.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_renewal_that_finds_another_holder_cancels_lost_at_once() {
    let (fake, c) = cluster();
    let guard = take(&c, &alice()).await.unwrap();
    let t0 = Instant::now();
    // Someone else writes the Lease as theirs (a forced takeover by hand).
    let mut stolen = fake.peek(&lease()).unwrap();
    stolen["spec"]["holderIdentity"] = json!("bob@ci-runner/7/deadbeef");
    fake.update_as("kubectl-edit", &stolen).unwrap();
    tokio::time::timeout(secs(60), guard.lost().cancelled()).await.expect("lost() was not cancelled");
    assert_eq!(t0.elapsed(), RENEW_EVERY, "cancelled at the first renewal, not when the lease would expire");
    let err = guard.lost_error().expect("a reason");
    assert!(matches!(&err, LockError::Lost(why) if why.contains("bob@ci-runner/7/deadbeef holds it now")), "{err}");
    // Releasing a lock lost to someone else leaves their Lease alone.
    guard.release().await.unwrap();
    assert_eq!(holder_of(&fake).as_deref(), Some("bob@ci-runner/7/deadbeef"));
}

#[tokio::test(start_paused = true)]
async fn a_renewal_that_finds_the_lease_still_ours_after_a_change_carries_on() {
    let (fake, c) = cluster();
    let guard = take(&c, &alice()).await.unwrap();
    // A label added by hand moves the resourceVersion, and leaves the holder alone.
    let mut labelled = fake.peek(&lease()).unwrap();
    labelled["metadata"]["labels"]["team"] = json!("ml");
    fake.update_as("kubectl-label", &labelled).unwrap();
    sleep(secs(25)).await;
    assert!(!guard.lost().is_cancelled(), "{:?}", guard.lost_error());
    let l = fake.peek(&lease()).unwrap();
    assert_eq!(l["metadata"]["labels"]["team"], "ml");
    assert_eq!(l["spec"]["renewTime"], "2026-11-26T18:00:22.000000Z", "retried on the fresh copy");
    guard.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn two_racing_acquires_exactly_one_wins() {
    let (fake, c) = cluster();
    // Latency makes both requests be in flight at once.
    fake.set_latency(Duration::from_millis(50));
    let (alice, bob) = (alice(), bob());
    let (a, b) = tokio::join!(take(&c, &alice), take(&c, &bob));
    let (winner, loser) = match (a, b) {
        (Ok(g), Err(e)) | (Err(e), Ok(g)) => (g, e),
        (a, b) => panic!("not exactly one winner: {:?} / {:?}", a.map(|_| ()), b.map(|_| ())),
    };
    assert!(matches!(&loser, LockError::Held { holder, .. } if holder == winner.holder()), "{loser}");
    assert_eq!(holder_of(&fake).as_deref(), Some(winner.holder()));
    winner.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn two_racing_takeovers_of_an_expired_lock_exactly_one_wins() {
    let (fake, c) = cluster();
    drop(take(&c, &Holder::new("carol@gone/1/00000000")).await.unwrap());
    sleep(secs(61)).await;
    fake.set_latency(Duration::from_millis(50));
    let (alice, bob) = (alice(), bob());
    let (a, b) = tokio::join!(take(&c, &alice), take(&c, &bob));
    let (winner, loser) = match (a, b) {
        (Ok(g), Err(e)) | (Err(e), Ok(g)) => (g, e),
        (a, b) => panic!("not exactly one winner: {:?} / {:?}", a.map(|_| ()), b.map(|_| ())),
    };
    assert!(matches!(&loser, LockError::Held { holder, .. } if holder == winner.holder()), "{loser}");
    // Both read the expired Lease and both tried to replace it: the resourceVersion let one through.
    assert_eq!(fake.count(Verb::Replace, "Lease"), 2);
    assert_eq!(fake.peek(&lease()).unwrap()["spec"]["leaseTransitions"], 1);
    winner.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn force_unlock_returns_the_previous_holder_and_the_holder_learns_it_lost() {
    let (fake, c) = cluster();
    assert_eq!(lock::force_unlock(&*c, NS, WS).await.unwrap(), None, "no lock, nothing to remove");
    let guard = take(&c, &alice()).await.unwrap();
    assert_eq!(lock::force_unlock(&*c, NS, WS).await.unwrap().as_deref(), Some("alice@laptop/41/0badcafe"));
    assert!(fake.peek(&lease()).is_none());
    let bobs = take(&c, &bob()).await.expect("free after the forced unlock");
    tokio::time::timeout(secs(60), guard.lost().cancelled()).await.expect("alice's guard noticed");
    assert!(guard.lost_error().unwrap().to_string().contains("bob@ci-runner/7/deadbeef holds it now"));
    assert!(!bobs.lost().is_cancelled());
    guard.release().await.unwrap();
    assert_eq!(holder_of(&fake).as_deref(), Some("bob@ci-runner/7/deadbeef"), "alice's release left bob's lock");
    bobs.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_deleted_lease_cancels_lost() {
    let (fake, c) = cluster();
    let guard = take(&c, &alice()).await.unwrap();
    lock::force_unlock(&*c, NS, WS).await.unwrap();
    tokio::time::timeout(secs(60), guard.lost().cancelled()).await.expect("lost() was not cancelled");
    assert!(guard.lost_error().unwrap().to_string().contains("it was deleted"));
    assert_eq!(fake.count(Verb::Replace, "Lease"), 1, "one renewal found it gone: no retries");
}

#[tokio::test(start_paused = true)]
async fn a_failed_renewal_is_retried() {
    let (fake, c) = cluster();
    let guard = take(&c, &alice()).await.unwrap();
    let error = ClusterError::Server { code: 500, message: "etcdserver: request timed out".into() };
    fake.fail_nth(Verb::Replace, "Lease", 1, error);
    sleep(secs(25)).await;
    assert!(!guard.lost().is_cancelled(), "{:?}", guard.lost_error());
    assert_eq!(fake.count(Verb::Replace, "Lease"), 2, "the renewal at 20 s failed, the one at 22 s did not");
    assert_eq!(fake.peek(&lease()).unwrap()["spec"]["renewTime"], "2026-11-26T18:00:22.000000Z");
    sleep(secs(20)).await;
    assert_eq!(fake.peek(&lease()).unwrap()["spec"]["renewTime"], "2026-11-26T18:00:42.000000Z", "back to the rhythm");
    guard.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn renewals_failing_until_the_lease_would_expire_cancel_lost_before_it_does() {
    let (fake, c) = cluster();
    let guard = take(&c, &alice()).await.unwrap();
    let t0 = Instant::now();
    fake.disconnect();
    tokio::time::timeout(secs(120), guard.lost().cancelled()).await.expect("lost() was not cancelled");
    let when = t0.elapsed();
    assert!(when > secs(50) && when < secs(LEASE_SECONDS), "cancelled after {when:?}");
    assert!(fake.count(Verb::Replace, "Lease") > 10, "retried every couple of seconds");
    let why = guard.lost_error().unwrap().to_string();
    assert!(why.contains("could not be renewed") && why.contains("connection refused"), "{why}");
    fake.reconnect();
    guard.release().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_refused_renewal_cancels_lost_at_once() {
    let (fake, c) = cluster();
    let guard = take(&c, &alice()).await.unwrap();
    let t0 = Instant::now();
    let forbidden =
        ClusterError::Forbidden { message: "leases.coordination.k8s.io is forbidden".into(), permission: None };
    fake.fail_nth(Verb::Replace, "Lease", 1, forbidden);
    tokio::time::timeout(secs(120), guard.lost().cancelled()).await.expect("lost() was not cancelled");
    assert_eq!(t0.elapsed(), RENEW_EVERY);
    assert!(guard.lost_error().unwrap().to_string().contains("refused"));
}

#[tokio::test(start_paused = true)]
async fn acquire_reports_what_the_cluster_answered() {
    let (fake, c) = cluster();
    fake.fail_nth(Verb::Create, "Lease", 1, ClusterError::Connection("connection refused".into()));
    match take(&c, &alice()).await {
        Err(LockError::Cluster(ClusterError::Connection(m))) => assert_eq!(m, "connection refused"),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // A namespace that does not exist.
    let err = lock::acquire(c.clone(), "nowhere", WS, &alice(), "apply").await.err().unwrap();
    assert!(matches!(&err, LockError::Cluster(ClusterError::NotFound(_))), "{err}");
}
