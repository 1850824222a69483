//! Waits that react to events: on tokio's paused clock, with the fake following it, a wait ends
//! at the simulated instant the change it waits for happens (a Job completing, a claim binding,
//! a Deployment becoming available), not at its next look — and still ends correctly when its
//! watch breaks, expires (410) or never starts (it then polls). Each timing test also runs with
//! watches off, to show that the instant it asserts is one polling would miss.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use msws::apply::engine::{Command, Options, Outcome};
use msws::apply::progress::{Event, Reporter};
use msws::apply::session::{self, Stop};
use msws::cluster::fake::{FakeCluster, Verb};
use msws::cluster::{Cluster, ClusterError, ObjectRef};
use msws::plan::Plan;
use serde_json::Value;

use crate::apply::{World, completes, fast, world};

/// Every event, with the simulated time it was emitted at; at a step's end, the object it
/// waited for as the cluster had it then.
struct Timed {
    cluster: Arc<FakeCluster>,
    ns: String,
    events: Mutex<Vec<(SystemTime, Event, Option<Value>)>>,
}

impl Reporter for Timed {
    fn event(&self, e: &Event) {
        let seen = match e {
            Event::StepDone { step, .. } => {
                let r = if step.starts_with("download") {
                    Some(ObjectRef::new("batch/v1", "Job", Some(&self.ns), "opt-125m-download"))
                } else if step.starts_with("model-service") {
                    Some(ObjectRef::new("apps/v1", "Deployment", Some(&self.ns), "opt-decode"))
                } else {
                    None
                };
                r.and_then(|r| self.cluster.peek(&r))
            }
            _ => None,
        };
        self.events.lock().unwrap().push((self.cluster.now(), e.clone(), seen));
    }
}

impl Timed {
    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().iter().map(|(_, e, _)| e.clone()).collect()
    }

    /// When the step whose name starts with `prefix` ended, and what it waited for then.
    fn done(&self, prefix: &str) -> (SystemTime, Duration, Option<Value>) {
        let found = self.events.lock().unwrap().iter().find_map(|(t, e, seen)| match e {
            Event::StepDone { step, elapsed, .. } if step.starts_with(prefix) => Some((*t, *elapsed, seen.clone())),
            _ => None,
        });
        found.unwrap_or_else(|| panic!("no step {prefix}… ended: {:#?}", self.events()))
    }
}

async fn run(w: &World, opts: Options, stop: Stop) -> (Outcome, Arc<Timed>) {
    let rec = Arc::new(Timed { cluster: w.cluster.clone(), ns: w.namespace(), events: Mutex::new(Vec::new()) });
    let mut yes = |_: &Plan| true;
    let c: Arc<dyn Cluster> = w.cluster.clone();
    let r = session::run(c, w.request(Command::Apply, opts), rec.clone(), &mut yes, stop).await;
    let (_, report) = r.unwrap_or_else(|e| panic!("{e}\n{:#?}", rec.events()));
    (report.outcome, rec)
}

/// Looks once a minute when polling: an event-driven wait ends long before a polling one would.
fn slow_poll(watch: bool) -> Options {
    Options { poll: Duration::from_secs(60), watch, ..fast() }
}

/// `2026-11-26T18:10:01Z` as a time (the fake writes whole seconds, in UTC).
fn rfc3339(t: &str) -> SystemTime {
    let n = |a: usize, b: usize| t[a..b].parse::<i64>().unwrap_or_else(|_| panic!("not a time: {t}"));
    let (y, m, d) = (n(0, 4), n(5, 7), n(8, 10));
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19);
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
}

/// A world whose download takes 601 s (so its end falls between two looks a minute apart).
fn download_world() -> World {
    let w = world("opt-125m-rwo.kdl");
    let d = &w.l.ws.downloads[0];
    w.cluster.script_job(&msws::render::job_name(&d.name), completes(d, Duration::from_secs(601)));
    w
}

/// How long after the Job completed the download step ended (the Job's `completionTime` has
/// whole seconds: the step ends less than a second after it, at the latest).
fn download_lag(rec: &Timed) -> Duration {
    let (at, _, job) = rec.done("download");
    let job = job.expect("the Job is there when its step ends");
    let completed = rfc3339(job["status"]["completionTime"].as_str().expect("a completion time"));
    at.duration_since(completed).expect("the step ended after the Job completed")
}

#[tokio::test(start_paused = true)]
async fn a_download_step_ends_on_the_event_of_its_job_completing() {
    let w = download_world();
    let (outcome, rec) = run(&w, slow_poll(true), Stop::default()).await;
    assert_eq!(outcome, Outcome::Applied, "{:#?}", rec.events());
    let lag = download_lag(&rec);
    assert!(lag < Duration::from_secs(1), "the step ended {lag:?} after the Job completed");
    assert!(w.cluster.count(Verb::Watch, "Job") >= 1, "{:?}", w.cluster.requests());
    // Polling, the same step ends at the next look, long after.
    let w = download_world();
    let (outcome, rec) = run(&w, slow_poll(false), Stop::default()).await;
    assert_eq!(outcome, Outcome::Applied);
    assert!(download_lag(&rec) >= Duration::from_secs(2), "polling ended {:?} after", download_lag(&rec));
    assert_eq!(w.cluster.count(Verb::Watch, "Job"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_claim_step_ends_on_the_event_of_its_binding() {
    // The claim is created as its step starts, and binds `bind` seconds later. Bound after 1 s,
    // nothing else asks the cluster anything before the lock's renewal 20 s later: the watch
    // itself must see the bind come due.
    for (bind, watch, expect) in [(157, true, 157), (157, false, 180), (1, true, 1)] {
        let w = world("opt-125m-rwo.kdl");
        w.cluster.set_bind_delay(Duration::from_secs(bind));
        let (outcome, rec) = run(&w, slow_poll(watch), Stop::default()).await;
        assert_eq!(outcome, Outcome::Applied, "{:#?}", rec.events());
        let (_, elapsed, _) = rec.done("storage");
        assert_eq!(elapsed.as_secs(), expect, "bind {bind} s, watch {watch}: {elapsed:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_release_ends_when_the_downloaders_pod_is_gone() {
    // Pods take 20 s to go once deleted (the kubelet stops them, unmounts the claim): the
    // release waits that long, and not a poll longer.
    for (termination, expect) in [(20, 20), (0, 0)] {
        let w = world("opt-125m-rwo.kdl");
        w.cluster.set_pod_termination(Duration::from_secs(termination));
        let (outcome, rec) = run(&w, slow_poll(true), Stop::default()).await;
        assert_eq!(outcome, Outcome::Applied, "{:#?}", rec.events());
        let (_, elapsed, _) = rec.done("release");
        assert_eq!(elapsed.as_secs(), expect, "pods go in {termination} s: {elapsed:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_rollout_step_ends_on_the_event_of_its_deployment_becoming_available() {
    let lag = |rec: &Timed| {
        let (at, _, d) = rec.done("model-service");
        let d = d.expect("the Deployment");
        let available = d["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Available" && c["status"] == "True")
            .unwrap_or_else(|| panic!("{d:#}"))["lastTransitionTime"]
            .as_str()
            .unwrap()
            .to_string();
        at.duration_since(rfc3339(&available)).unwrap()
    };
    let w = world("opt-125m-rwo.kdl");
    w.cluster.set_ready_delay(Duration::from_secs(97));
    let (outcome, rec) = run(&w, slow_poll(true), Stop::default()).await;
    assert_eq!(outcome, Outcome::Applied, "{:#?}", rec.events());
    assert!(lag(&rec) < Duration::from_secs(1), "{:?}", lag(&rec));
    let w = world("opt-125m-rwo.kdl");
    w.cluster.set_ready_delay(Duration::from_secs(97));
    let (_, rec) = run(&w, slow_poll(false), Stop::default()).await;
    assert!(lag(&rec) >= Duration::from_secs(2), "polling: {:?}", lag(&rec));
}

#[tokio::test(start_paused = true)]
async fn a_watch_that_breaks_mid_wait_is_resumed_and_the_wait_still_ends_on_the_event() {
    let w = download_world();
    w.cluster.break_next_watch("Job", 1);
    w.cluster.break_next_watch("Pod", 2);
    let (outcome, rec) = run(&w, slow_poll(true), Stop::default()).await;
    assert_eq!(outcome, Outcome::Applied, "{:#?}", rec.events());
    assert!(download_lag(&rec) < Duration::from_secs(2), "{:?}", download_lag(&rec));
    // Watched again, from where it was: no second list of the Job for the wait.
    let watches = w.cluster.count(Verb::Watch, "Job");
    assert!(watches >= 2, "the broken watch was started again: {watches}");
}

#[tokio::test(start_paused = true)]
async fn an_expired_watch_lists_again_and_the_wait_still_ends_on_the_event() {
    let w = download_world();
    w.cluster.expire_next_watch("Job");
    let lists_before =
        |w: &World| w.cluster.request_log().iter().filter(|r| r.verb == Verb::List && r.kind == "Job").count();
    let (outcome, rec) = run(&w, slow_poll(true), Stop::default()).await;
    assert_eq!(outcome, Outcome::Applied, "{:#?}", rec.events());
    assert!(download_lag(&rec) < Duration::from_secs(2), "{:?}", download_lag(&rec));
    // Compared with a run whose watch did not expire: one more list (the relist after the 410).
    let plain = download_world();
    let _ = run(&plain, slow_poll(true), Stop::default()).await;
    assert_eq!(lists_before(&w), lists_before(&plain) + 1);
}

#[tokio::test(start_paused = true)]
async fn a_compaction_mid_watch_expires_it_and_the_wait_lists_again() {
    let w = download_world();
    let c = w.cluster.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(300)).await;
        c.compact();
    });
    let (outcome, rec) = run(&w, slow_poll(true), Stop::default()).await;
    assert_eq!(outcome, Outcome::Applied, "{:#?}", rec.events());
    assert!(download_lag(&rec) < Duration::from_secs(2), "{:?}", download_lag(&rec));
    assert!(w.cluster.count(Verb::Watch, "Job") >= 2);
}

#[tokio::test(start_paused = true)]
async fn a_watch_that_cannot_start_makes_the_wait_poll_and_says_so_once() {
    let w = download_world();
    let forbidden = ClusterError::from_status(
        403,
        &serde_json::json!({"message": "jobs.batch is forbidden: User \"alice\" cannot watch resource \"jobs\" in API group \"batch\" in the namespace \"llm-d\""}),
    );
    w.cluster.fail_nth(Verb::Watch, "Job", 1, forbidden);
    let (outcome, rec) = run(&w, slow_poll(true), Stop::default()).await;
    assert_eq!(outcome, Outcome::Applied, "{:#?}", rec.events());
    // It polled: ended at a look after the Job completed, within one poll interval.
    let lag = download_lag(&rec);
    assert!(lag >= Duration::from_secs(2) && lag <= Duration::from_secs(61), "{lag:?}\n{:#?}", rec.events());
    let notes: Vec<String> = rec
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Note { message } if message.starts_with("cannot watch") => Some(message),
            _ => None,
        })
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("cannot watch Job (forbidden:") && notes[0].contains("every 1m00s"), "{notes:?}");
}

#[tokio::test(start_paused = true)]
async fn cancelling_during_a_watched_wait_stops_at_once() {
    let w = download_world();
    let stop = Stop::default();
    let cancel = stop.cancel.clone();
    let c = w.cluster.clone();
    let at = Arc::new(Mutex::new(None));
    let at2 = at.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(200)).await;
        *at2.lock().unwrap() = Some(c.now());
        cancel.cancel();
    });
    let (outcome, rec) = run(&w, slow_poll(true), stop).await;
    assert_eq!(outcome, Outcome::RolledBack, "{:#?}", rec.events());
    let cancelled_at = at.lock().unwrap().expect("cancelled");
    let found =
        rec.events.lock().unwrap().iter().find_map(|(t, e, _)| {
            matches!(e, Event::StepCancelled { step } if step.starts_with("download")).then_some(*t)
        });
    let failed_at = found.unwrap_or_else(|| panic!("{:#?}", rec.events()));
    // The download's wait stopped at the moment of the cancellation, not at a later look.
    assert_eq!(failed_at, cancelled_at);
}

#[tokio::test(start_paused = true)]
async fn a_download_wait_shows_the_downloaders_progress_as_it_changes() {
    let w = download_world();
    let job = msws::render::job_name(&w.l.ws.downloads[0].name);
    let line = |bytes: u64, eta: u64| {
        format!("msws-progress bytes={bytes} total=16000000000 rate=410000000B/s eta={eta}s files=1/4 | …")
    };
    w.cluster.script_job_lines(
        &job,
        vec![
            (Duration::from_secs(31), line(3_200_000_000, 31)),
            (Duration::from_secs(32), line(3_300_000_000, 30)),
            (Duration::from_secs(300), line(9_000_000_000, 17)),
        ],
    );
    let (outcome, rec) = run(&w, slow_poll(true), Stop::default()).await;
    assert_eq!(outcome, Outcome::Applied, "{:#?}", rec.events());
    let reasons: Vec<(Duration, String)> = rec
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::StepWaiting { step, reason, elapsed } if step.starts_with("download") => Some((elapsed, reason)),
            _ => None,
        })
        .collect();
    let shown: Vec<&(Duration, String)> = reasons.iter().filter(|(_, r)| r.contains("downloading: ")).collect();
    // Read every few seconds, not at every line: the two lines a second apart show as one
    // change, then the third; each reason once.
    assert_eq!(shown.len(), 2, "{reasons:#?}");
    assert!(
        shown[0].1.ends_with("downloading: 3.1 GiB of 14.9 GiB (20%), 391.0 MiB/s, 30s left, 1/4 files"),
        "{shown:?}"
    );
    assert!(shown[1].1.contains("downloading: 8.4 GiB of 14.9 GiB (56%)"), "{shown:?}");
    // Shown within one read interval of the line's appearing (the pod starts as the step does).
    assert!(shown[1].0 >= Duration::from_secs(300) && shown[1].0 <= Duration::from_secs(306), "{shown:?}");
}

// ---- the fake's watches, on their own ----

fn cm(name: &str, labels: Value) -> Value {
    serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "demo", "labels": labels}, "data": {"k": "v"}})
}

fn watch_of(kind: &str, api_version: &str, labels: &str, rv: &str) -> msws::cluster::WatchRequest {
    msws::cluster::WatchRequest {
        api_version: api_version.into(),
        kind: kind.into(),
        namespace: Some("demo".into()),
        labels: labels.into(),
        fields: String::new(),
        resource_version: rv.into(),
        bookmarks: true,
        timeout: Duration::from_secs(300),
    }
}

fn rv_of(v: &Value) -> String {
    v["metadata"]["resourceVersion"].as_str().unwrap().to_string()
}

#[tokio::test(start_paused = true)]
async fn the_fakes_watch_replays_from_a_version_then_follows_with_selectors_bookmarks_and_deletions() {
    use futures::StreamExt;
    use msws::cluster::WatchEvent;
    let c = Arc::new(FakeCluster::new("demo").with_runtime_clock());
    let opts = msws::cluster::ApplyOptions { dry_run: false, force: true };
    c.apply(&cm("a", serde_json::json!({"app": "x"})), opts).await.unwrap();
    let list = c.list_versioned("v1", "ConfigMap", Some("demo"), "app=x", "").await.unwrap();
    assert_eq!(list.items.len(), 1);
    // After the list: one change that matches, one that does not.
    let b = c.apply(&cm("b", serde_json::json!({"app": "x"})), opts).await.unwrap();
    c.apply(&cm("other", serde_json::json!({"app": "y"})), opts).await.unwrap();
    let mut w = c.watch(&watch_of("ConfigMap", "v1", "app=x", &list.resource_version)).await.unwrap();
    match w.next().await {
        Some(Ok(WatchEvent::Added(o))) => {
            assert_eq!((o["metadata"]["name"].as_str(), rv_of(&o)), (Some("b"), rv_of(&b)))
        }
        other => panic!("{other:?}"),
    }
    // Live: a deletion comes with the deletion's version, newer than the object's last one.
    let c2 = c.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(10)).await;
        c2.delete(&ObjectRef::new("v1", "ConfigMap", Some("demo"), "b"), msws::cluster::Propagation::Background, false)
            .await
            .unwrap();
    });
    match w.next().await {
        Some(Ok(WatchEvent::Deleted(o))) => {
            assert!(rv_of(&o).parse::<u64>().unwrap() > rv_of(&b).parse::<u64>().unwrap());
        }
        other => panic!("{other:?}"),
    }
    // Nothing else happens: a bookmark after a quiet minute, with the current version.
    let before = tokio::time::Instant::now();
    match w.next().await {
        Some(Ok(WatchEvent::Bookmark(rv))) => assert!(rv.parse::<u64>().is_ok()),
        other => panic!("{other:?}"),
    }
    assert_eq!(before.elapsed(), Duration::from_secs(60));
    assert_eq!(c.count(Verb::Watch, "ConfigMap"), 1);
}

#[tokio::test(start_paused = true)]
async fn the_fakes_watch_wakes_when_its_controllers_change_something() {
    use futures::StreamExt;
    use msws::cluster::WatchEvent;
    use msws::cluster::fake::{JobScript, storage_class};
    let c = FakeCluster::new("demo").with_runtime_clock();
    c.insert(&storage_class("standard", "Immediate", true, "Retain")).unwrap();
    c.script_job("dl", JobScript { duration: Duration::from_secs(77), ..JobScript::default() });
    let job = serde_json::json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "dl", "namespace": "demo"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never",
            "containers": [{"name": "dl", "image": "busybox"}]}}}});
    let created = c.apply(&job, msws::cluster::ApplyOptions { dry_run: false, force: true }).await.unwrap();
    let start = tokio::time::Instant::now();
    let mut req = watch_of("Job", "batch/v1", "", &rv_of(&created));
    req.fields = "metadata.name=dl".into();
    let w = c.watch(&req).await.unwrap();
    // No request is made while the watch runs: the watch itself runs the controllers.
    let complete = Box::pin(w.filter_map(|e| async move {
        match e {
            Ok(WatchEvent::Modified(j)) if j["status"]["succeeded"] == 1 => Some(j),
            _ => None,
        }
    }))
    .next()
    .await
    .unwrap();
    assert!(complete["status"]["completionTime"].is_string());
    // The pod ran 77 s from its start (it starts as the Job is created, no request latency).
    assert_eq!(start.elapsed(), Duration::from_secs(77));
}

#[tokio::test(start_paused = true)]
async fn the_fakes_watch_from_a_compacted_version_is_expired_and_a_disconnect_breaks_watches() {
    use futures::StreamExt;
    use msws::cluster::WatchEvent;
    let c = FakeCluster::new("demo").with_runtime_clock();
    let opts = msws::cluster::ApplyOptions { dry_run: false, force: true };
    let a = c.apply(&cm("a", serde_json::json!({})), opts).await.unwrap();
    c.apply(&cm("b", serde_json::json!({})), opts).await.unwrap();
    // Compacted past a's version: a watch from it would miss b.
    c.compact();
    let w = c.watch(&watch_of("ConfigMap", "v1", "", &rv_of(&a))).await.unwrap();
    let events: Vec<_> = w.collect().await;
    assert_eq!(events.len(), 1, "{events:?}");
    match &events[0] {
        Ok(e @ WatchEvent::Error { code: 410, message, .. }) => {
            assert!(e.is_expired());
            assert!(message.starts_with(&format!("too old resource version: {} (", rv_of(&a))), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // From now (""): the objects that exist, as ADDED.
    let mut w = c.watch(&watch_of("ConfigMap", "v1", "", "")).await.unwrap();
    assert!(matches!(w.next().await, Some(Ok(WatchEvent::Added(o))) if o["metadata"]["name"] == "a"));
    assert!(matches!(w.next().await, Some(Ok(WatchEvent::Added(o))) if o["metadata"]["name"] == "b"));
    c.disconnect();
    assert!(matches!(w.next().await, Some(Err(ClusterError::Connection(_)))));
    assert!(w.next().await.is_none());
    // A refused watch never starts.
    c.reconnect();
    c.fail_nth(Verb::Watch, "ConfigMap", 1, ClusterError::Server { code: 500, message: "boom".into() });
    assert!(c.watch(&watch_of("ConfigMap", "v1", "", "")).await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_watched_download_wait_makes_far_fewer_requests_than_polling() {
    let requests = |w: &World| w.cluster.requests().values().sum::<usize>();
    let watched = download_world();
    let (outcome, _) = run(&watched, fast(), Stop::default()).await;
    assert_eq!(outcome, Outcome::Applied);
    let polled = download_world();
    let (outcome, _) = run(&polled, Options { watch: false, ..fast() }, Stop::default()).await;
    assert_eq!(outcome, Outcome::Applied);
    let (n_watched, n_polled) = (requests(&watched), requests(&polled));
    println!("requests for an apply with a 601 s download: watched {n_watched}, polling every 2 s {n_polled}");
    assert!(n_watched * 2 < n_polled, "watched {n_watched}, polled {n_polled}");
}
