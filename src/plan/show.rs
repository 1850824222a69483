//! Showing a plan: the text `msws plan` prints (only what changes, by step, with the symbols
//! `+ ~ -/+ -`, unified diffs and a summary line) and the JSON document of `plan --json`.

use std::fmt::Write;

use serde_json::{Value, json};

use super::{Action, DownloadAction, Plan, ReleaseAction};

/// ANSI colours, or none.
#[derive(Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
    fn action(&self, a: Action, s: &str) -> String {
        match a {
            Action::Create => self.paint("32", s),
            Action::Update => self.paint("33", s),
            Action::Replace => self.paint("35", s),
            Action::Delete => self.paint("31", s),
            Action::Keep | Action::NoOp => s.to_string(),
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The plan as a person reads it.
pub fn to_text(plan: &Plan, style: Style) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        style
            .bold(&format!("Plan for workspace {} in namespace {} ({})", plan.workspace, plan.namespace, plan.cluster))
    );
    if plan.mode == super::Mode::Offline {
        let _ = writeln!(out, "Offline: planned against an empty cluster; nothing was read from a cluster.");
    }
    // A pre-pull that cannot see the nodes says so, changes or not: it is a permission to grant.
    let unlisted = |s: &super::StepPlan| {
        s.pre_pull.as_ref().and_then(|p| p.note.as_deref()).is_some_and(|n| n.starts_with(super::prepull::CANNOT_LIST))
    };
    for step in plan.steps.iter().filter(|s| s.has_changes() || unlisted(s)) {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", style.bold(&step.step));
        if let Some(pp) = &step.pre_pull {
            for i in pp.images.iter().filter(|i| !i.pull_on.is_empty()) {
                let mut line = format!(
                    "  + pre-pull {} on {} ({})",
                    i.image,
                    plural(i.pull_on.len(), "node", "nodes"),
                    i.pull_on.join(", ")
                );
                if !i.present_on.is_empty() {
                    line += &format!("; present on {}", i.present_on.join(", "));
                }
                let _ = writeln!(out, "{}", style.paint("32", &line));
            }
            if let Some(n) = &pp.note {
                let mark = if pp.decided { "·" } else { "?" };
                let _ = writeln!(out, "  {mark} pre-pull {n}");
            }
        }
        for o in step.objects.iter().filter(|o| o.action.is_change()) {
            let mut line = format!("  {} {} {}", o.action.symbol(), o.object.kind, o.object.name);
            if o.sensitive {
                line += " (sensitive)";
            }
            let _ = writeln!(out, "{}", style.action(o.action, &line));
            if let Some(r) = &o.reason {
                let _ = writeln!(out, "      {r}");
            }
            if let Some(d) = &o.diff {
                for l in d.lines().filter(|l| !l.starts_with("---") && !l.starts_with("+++")) {
                    let painted = match l.chars().next() {
                        Some('+') => style.paint("32", l),
                        Some('-') => style.paint("31", l),
                        Some('@') => style.paint("36", l),
                        _ => l.to_string(),
                    };
                    let _ = writeln!(out, "      {painted}");
                }
            }
        }
        if let Some(a) = &step.adapted {
            // Said whenever the workloads change: the review of a change to the manifests is also
            // the review of what msws does to them.
            let _ = writeln!(out, "  msws changes the workloads of {}:", a.source);
            for c in &a.changes {
                let _ = writeln!(out, "    {}", style.paint("2", c));
            }
        }
        if let Some(d) = &step.download
            && d.action != DownloadAction::Skip
        {
            let verb = if d.action == DownloadAction::Rerun { "download again" } else { "download" };
            let _ = writeln!(
                out,
                "{}",
                style.paint(
                    "32",
                    &format!("  ↓ {verb} {}@{} into {}:{} — {}", d.source, d.revision, d.storage, d.path, d.reason)
                )
            );
        }
        if let Some(r) = &step.release {
            match r.action {
                ReleaseAction::AfterDownload => {
                    let _ = writeln!(
                        out,
                        "{}",
                        style.paint(
                            "31",
                            &format!("  - Job {} and its pods, once the download is verified", r.job.name)
                        )
                    );
                }
                ReleaseAction::Leftover => {
                    let _ = writeln!(
                        out,
                        "{}",
                        style.paint("31", &format!("  - Job {} and its pods, left by an earlier download", r.job.name))
                    );
                }
                ReleaseAction::Nothing => {}
            }
        }
    }
    let pruned: Vec<_> = plan.prune.iter().collect();
    if !pruned.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "{}", style.bold("no longer in the workspace"));
        for o in pruned {
            let _ = writeln!(
                out,
                "{}",
                style.action(o.action, &format!("  {} {} {}", o.action.symbol(), o.object.kind, o.object.name))
            );
            if let Some(r) = &o.reason {
                let _ = writeln!(out, "      {r}");
            }
        }
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(out);
        for w in &plan.warnings {
            let _ = writeln!(out, "{} {w}", style.paint("33", "warning:"));
        }
    }
    if !plan.refusals.is_empty() {
        let _ = writeln!(out);
        for r in &plan.refusals {
            let _ = writeln!(out, "{} {r}", style.paint("31", "refused:"));
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", summary_line(plan));
    out
}

/// "Plan: 2 to create, 1 to update, …" or "No changes: …".
pub fn summary_line(plan: &Plan) -> String {
    if !plan.has_changes() {
        return format!("No changes: the cluster matches workspace {}.", plan.workspace);
    }
    let s = plan.summary();
    let mut line = format!(
        "Plan: {} to create, {} to update, {} to replace, {} to delete",
        s.create, s.update, s.replace, s.delete
    );
    if s.keep > 0 {
        line += &format!(", {} kept", plural(s.keep, "claim", "claims"));
    }
    if s.downloads > 0 {
        line += &format!("; {}", plural(s.downloads, "download", "downloads"));
    }
    if s.releases > 0 {
        line += &format!(", {}", plural(s.releases, "release", "releases"));
    }
    if s.pulls > 0 {
        line += &format!(", pre-pull on {}", plural(s.pulls, "node", "nodes"));
    }
    line.push('.');
    if !plan.refusals.is_empty() {
        line += &format!(" It cannot be applied: {}.", plural(plan.refusals.len(), "refusal", "refusals"));
    }
    line
}

/// The document `plan --json` prints: the plan without the objects to apply and the read
/// versions (those are for `apply PLANFILE`), with its summary.
pub fn to_json(plan: &Plan) -> Value {
    let mut v = serde_json::to_value(plan).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.remove("read");
        for step in m.get_mut("steps").and_then(Value::as_array_mut).into_iter().flatten() {
            for o in step.get_mut("objects").and_then(Value::as_array_mut).into_iter().flatten() {
                if let Some(o) = o.as_object_mut() {
                    o.remove("desired");
                }
            }
            let pods = step.pointer_mut("/pre_pull/pods").and_then(Value::as_array_mut);
            for o in pods.into_iter().flatten() {
                if let Some(o) = o.as_object_mut() {
                    o.remove("desired");
                }
            }
        }
        m.insert("summary".into(), json!(plan.summary()));
        m.insert("changes".into(), json!(plan.has_changes()));
    }
    v
}
