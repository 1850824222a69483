//! Progress reporters: the plain lines for a scripted run, the JSON stream, the terminal
//! reporter's permanent lines, durations for people, and that nothing but the events is printed.

use std::collections::BTreeSet;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressDrawTarget, TermLike};
use msws::apply::progress::{Clock, Event, Fanout, Json, Plain, Recording, Reporter, StepTime, Tty, human};
use serde_json::Value;

/// A clock that starts at 22:10:00 and advances 7 seconds each time it is read.
fn ticking(format: fn(u64) -> String) -> Clock {
    let n = AtomicU64::new(0);
    Box::new(move || format(22 * 3600 + 10 * 60 + 7 * n.fetch_add(1, Ordering::SeqCst)))
}

fn hms(s: u64) -> String {
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

fn rfc3339(s: u64) -> String {
    format!("2026-11-26T{}Z", hms(s))
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// An apply that downloads, fails at the model service, and rolls back.
fn script() -> Vec<Event> {
    let steps = ["storage/model-pvc", "download/opt-125m", "model-service/opt"];
    vec![
        Event::Started {
            command: "apply".into(),
            workspace: "opt-125m".into(),
            namespace: "llm-d".into(),
            cluster: "kind-dev".into(),
            steps: steps.iter().map(|s| s.to_string()).collect(),
        },
        Event::StepStarted { step: steps[0].into(), what: "create PersistentVolumeClaim llm-d/model-pvc".into() },
        Event::StepDone {
            step: steps[0].into(),
            summary: "created; Bound".into(),
            elapsed: Duration::from_millis(850),
        },
        Event::StepStarted { step: steps[1].into(), what: "create Job llm-d/opt-125m-download".into() },
        Event::StepWaiting { step: steps[1].into(), reason: "Pending: pulling image".into(), elapsed: secs(12) },
        Event::StepWaiting { step: steps[1].into(), reason: "running".into(), elapsed: secs(130) },
        Event::StepDone { step: steps[1].into(), summary: "downloaded 8 files".into(), elapsed: secs(252) },
        Event::Warning { message: "ReadWriteOnce claim: the downloader is released first".into() },
        Event::StepStarted { step: steps[2].into(), what: "create Deployment llm-d/opt-decode".into() },
        Event::StepFailed {
            step: steps[2].into(),
            error: "rollout stalled: 0/1 available\nImagePullBackOff".into(),
            elapsed: secs(3725),
        },
        Event::RollbackStarted { reason: "model-service/opt failed".into() },
        Event::RolledBack { object: "Deployment llm-d/opt-decode".into(), how: "deleted".into() },
        Event::Kept { object: "PersistentVolumeClaim llm-d/model-pvc".into(), why: "storage is kept".into() },
        Event::RollbackFailed { object: "ServiceAccount llm-d/opt".into(), error: "forbidden".into() },
        Event::StepCancelled { step: "release/opt-125m".into() },
        Event::StepSkipped { step: "secret/hf-token".into(), why: "no changes".into() },
        Event::Finished {
            outcome: "rolled back".into(),
            elapsed: secs(4000),
            steps: vec![
                StepTime { step: steps[0].into(), outcome: "done".into(), elapsed: Duration::from_millis(850) },
                StepTime { step: steps[1].into(), outcome: "done".into(), elapsed: secs(252) },
                StepTime { step: steps[2].into(), outcome: "failed".into(), elapsed: secs(3725) },
            ],
        },
    ]
}

fn plain_text(events: &[Event]) -> String {
    let plain = Plain::with_clock(Vec::new(), ticking(hms));
    events.iter().for_each(|e| plain.event(e));
    String::from_utf8(plain.into_inner()).unwrap()
}

fn json_text(events: &[Event]) -> String {
    let json = Json::with_clock(Vec::new(), ticking(rfc3339));
    events.iter().for_each(|e| json.event(e));
    String::from_utf8(json.into_inner()).unwrap()
}

#[test]
fn plain_lines_of_a_failed_and_rolled_back_apply() {
    insta::assert_snapshot!(plain_text(&script()), @r"
    22:10:00 apply workspace opt-125m (namespace llm-d, cluster kind-dev): 3 steps — storage/model-pvc, download/opt-125m, model-service/opt
    22:10:07 storage/model-pvc: create PersistentVolumeClaim llm-d/model-pvc
    22:10:14 storage/model-pvc: done in 850ms — created; Bound
    22:10:21 download/opt-125m: create Job llm-d/opt-125m-download
    22:10:28 download/opt-125m: waiting (12s): Pending: pulling image
    22:10:35 download/opt-125m: waiting (2m10s): running
    22:10:42 download/opt-125m: done in 4m12s — downloaded 8 files
    22:10:49 warning: ReadWriteOnce claim: the downloader is released first
    22:10:56 model-service/opt: create Deployment llm-d/opt-decode
    22:11:03 model-service/opt: failed after 1h02m: rollout stalled: 0/1 available
             ImagePullBackOff
    22:11:10 rollback started: model-service/opt failed
    22:11:17 rollback: deleted Deployment llm-d/opt-decode
    22:11:24 kept PersistentVolumeClaim llm-d/model-pvc — storage is kept
    22:11:31 rollback: could not undo ServiceAccount llm-d/opt: forbidden
    22:11:38 release/opt-125m: cancelled
    22:11:45 secret/hf-token: skipped — no changes
    22:11:52 rolled back in 1h06m
               step               outcome  time
               storage/model-pvc  done     850ms
               download/opt-125m  done     4m12s
               model-service/opt  failed   1h02m
    ");
}

#[test]
fn json_lines_carry_the_event_and_the_time() {
    let events = script();
    let text = json_text(&events);
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), events.len());
    for (line, event) in lines.iter().zip(&events) {
        assert!(line["event"].is_string(), "{line}");
        assert!(line["time"].as_str().is_some_and(|t| t.starts_with("2026-11-26T22:")), "{line}");
        // Apart from the time, a line is the event itself, with durations in seconds.
        let mut without_time = line.clone();
        without_time.as_object_mut().unwrap().remove("time");
        assert_eq!(without_time, serde_json::to_value(event).unwrap());
    }
    assert_eq!(lines[0]["event"], "started");
    assert_eq!(lines[0]["time"], "2026-11-26T22:10:00Z");
    assert_eq!(lines[2]["event"], "step-done");
    assert_eq!(lines[2]["elapsed"], 0.85);
    assert_eq!(lines[5]["event"], "step-waiting");
    assert_eq!(lines[5]["elapsed"], 130.0);
    let finished = lines.last().unwrap();
    assert_eq!(finished["steps"][1]["elapsed"], 252.0);
    assert_eq!(finished["outcome"], "rolled back");
    // `event` comes first, then `time`: easy to read with `jq -c` or by eye.
    assert!(text.lines().all(|l| l.starts_with(r#"{"event":""#)), "{text}");
}

#[test]
fn durations_for_people() {
    let cases = [
        (Duration::ZERO, "0ms"),
        (Duration::from_millis(850), "850ms"),
        (Duration::from_millis(999), "999ms"),
        (Duration::from_millis(1500), "1s"),
        (secs(59), "59s"),
        (secs(60), "1m00s"),
        (secs(130), "2m10s"),
        (secs(252), "4m12s"),
        (secs(3599), "59m59s"),
        (secs(3600), "1h00m"),
        (secs(3725), "1h02m"),
        (secs(27 * 3600 + 60), "27h01m"),
    ];
    for (d, want) in cases {
        assert_eq!(human(d), want, "{d:?}");
    }
}

/// Words: the runs of letters, digits and the characters names and tokens are made of.
fn words(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !(c.is_alphanumeric() || "_-/.".contains(c)))
        .map(|w| w.trim_matches('.'))
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Every string an event carries.
fn event_words(events: &[Event]) -> BTreeSet<String> {
    let mut text = String::new();
    fn strings(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
            Value::Object(o) => o.values().for_each(|v| strings(v, out)),
            _ => {}
        }
    }
    for e in events {
        strings(&serde_json::to_value(e).unwrap(), &mut text);
    }
    words(&text)
}

#[test]
fn reporters_print_nothing_but_the_events() {
    let token = "hf_FAKEabcdefghijklmnopqrstuvwxyz0123";
    let mut events = script();
    events.insert(
        5,
        Event::StepWaiting {
            step: "download/opt-125m".into(),
            reason: format!("Pending: HF_TOKEN={token} rejected"),
            elapsed: secs(20),
        },
    );
    let text = plain_text(&events);
    assert_eq!(text.matches(token).count(), 1, "{text}");

    // What is left once the events' own words are taken away is the reporter's fixed vocabulary,
    // timestamps and durations: nothing invented, nothing read from elsewhere.
    let vocabulary: BTreeSet<String> = words(
        "apply workspace namespace cluster steps step waiting done in failed after skipped cancelled \
         rollback kept could not undo warning outcome time",
    );
    let from_events = event_words(&events);
    let unexplained: Vec<String> = words(&text)
        .into_iter()
        .filter(|w| !from_events.contains(w) && !vocabulary.contains(w))
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !is_duration(w))
        .collect();
    assert!(unexplained.is_empty(), "{unexplained:?} in\n{text}");

    // The JSON stream is exactly the events plus their time.
    let json = json_text(&events);
    assert_eq!(json.matches(token).count(), 1, "{json}");
    for (line, event) in json.lines().zip(&events) {
        let mut v: Value = serde_json::from_str(line).unwrap();
        v.as_object_mut().unwrap().remove("time");
        assert_eq!(v, serde_json::to_value(event).unwrap());
    }
}

fn is_duration(w: &str) -> bool {
    let rest = w.trim_start_matches(|c: char| c.is_ascii_digit());
    ["ms", "s", "m", "h"].iter().any(|unit| rest.starts_with(unit))
        && rest.trim_matches(|c: char| c.is_ascii_digit() || "msh".contains(c)).is_empty()
}

/// A terminal that keeps what is written to it, line by line.
#[derive(Debug, Default, Clone)]
struct Screen(Arc<Mutex<Vec<String>>>);

impl Screen {
    fn text(&self) -> String {
        self.0.lock().unwrap().join("\n")
    }
}

impl TermLike for Screen {
    fn width(&self) -> u16 {
        100
    }
    fn move_cursor_up(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> io::Result<()> {
        self.0.lock().unwrap().push(s.to_string());
        Ok(())
    }
    fn write_str(&self, s: &str) -> io::Result<()> {
        self.0.lock().unwrap().push(s.to_string());
        Ok(())
    }
    fn clear_line(&self) -> io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn terminal_prints_a_permanent_line_per_finished_step() {
    let screen = Screen::default();
    let tty = Tty::with_target(ProgressDrawTarget::term_like(Box::new(screen.clone())), false);
    script().iter().for_each(|e| tty.event(e));
    let text = screen.text();
    for want in [
        "✓ storage/model-pvc   850ms  created; Bound",
        "✓ download/opt-125m   4m12s  downloaded 8 files",
        "✗ model-service/opt   1h02m  rollout stalled: 0/1 available",
        "! warning: ReadWriteOnce claim: the downloader is released first",
        "↩ rollback: deleted Deployment llm-d/opt-decode",
        "↩ rollback: could not undo ServiceAccount llm-d/opt: forbidden",
        "rolled back in 1h06m",
        "  model-service/opt  failed   1h02m",
    ] {
        assert!(text.contains(want), "{want:?} not in\n{text}");
    }
    assert!(!text.contains('\x1b'), "no colour was asked for:\n{text}");
}

#[test]
fn terminal_without_a_terminal_does_not_fail() {
    // A hidden target (stderr is not a terminal) falls back to plain lines: this must not panic.
    let tty = Tty::with_target(ProgressDrawTarget::hidden(), true);
    script().iter().take(3).for_each(|e| tty.event(e));
}

#[test]
fn recording_and_fanout_keep_every_event_in_order() {
    let a = Arc::new(Recording::new());
    let b = Arc::new(Recording::new());
    let fan = Fanout(vec![a.clone(), b.clone() as Arc<dyn Reporter>]);
    let events = script();
    events.iter().for_each(|e| fan.event(e));
    assert_eq!(a.events(), events);
    assert_eq!(b.events(), events);
}
