//! The model check: a model service that serves a path on a claim msws did not download into
//! (an `existing=#true` claim, or a `pvc://` / `pvc+hf://` URI that no download of the workspace
//! writes) is checked before its workloads change, so that a wrong path is a refusal at plan
//! time that names the claim, the path, what is there instead and the nearest model directories
//! — not a crash-looping vLLM ten minutes later.
//!
//! It runs after [`super::plan`], on an online plan only, for the model services the plan
//! changes (one whose workloads are already as the workspace says is not checked again, so a
//! plan with nothing to do makes no pod), with one inspection (src/inspect/) per claim, kept in
//! [`ModelChecks`] for the rest of the run (an apply plans twice: without and with the lock).
//! What cannot be checked — a claim that does not exist yet or is not bound, a ReadWriteOncePod
//! claim in use, an inspection that failed — is a warning that says why: it is no evidence of a
//! missing model. `--skip-model-check` turns the check off.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Plan;
use crate::cluster::{Cluster, ClusterError, ObjectRef};
use crate::inspect::find::{Verdict, Want, check as check_listing};
use crate::inspect::{InspectError, Inspection, Request};
use crate::model::{ModelSource, ModelUri, Workspace};

/// The inspections of one run, by claim and depth.
pub struct ModelChecks {
    done: tokio::sync::Mutex<BTreeMap<(String, u32), Result<Inspection, InspectError>>>,
    /// Of each inspection.
    pub timeout: Duration,
    pub poll: Duration,
}

impl Default for ModelChecks {
    fn default() -> ModelChecks {
        ModelChecks { done: Default::default(), timeout: crate::inspect::DEFAULT_TIMEOUT, poll: Duration::from_secs(1) }
    }
}

/// Why a plan could not be checked at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("interrupted while checking the models on the claims{}: nothing was changed", pod.as_ref().map(|p| format!(" (the inspection pod {p} was deleted)")).unwrap_or_default())]
    Interrupted { pod: Option<String> },
    #[error("{0}")]
    Cluster(#[from] ClusterError),
}

/// A model service's URI to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub service: String,
    pub claim: String,
    pub uri: ModelUri,
    /// The claim is declared `existing=#true`.
    pub existing: bool,
}

/// The URIs the plan must check: of the model services it changes, those on a claim that no
/// download of the workspace wrote them into.
pub fn targets(ws: &Workspace, plan: &Plan) -> Vec<Target> {
    let lookup = ws.lookup();
    let mut out = Vec::new();
    for svc in &ws.services {
        let ModelSource::Uri { uri, .. } = &svc.model else { continue };
        let Some(claim) = uri.claim() else { continue };
        let changes = plan
            .steps
            .iter()
            .find(|s| s.step == format!("model-service/{}", svc.name))
            .is_some_and(|s| s.has_changes());
        if !changes {
            continue;
        }
        if let ModelUri::Pvc { path, .. } = uri
            && lookup
                .downloads_into
                .get(claim)
                .is_some_and(|ds| ds.iter().any(|d| d.path.trim_matches('/') == path.trim_matches('/')))
        {
            continue;
        }
        let existing = lookup.storages.get(claim).is_some_and(|s| s.existing);
        out.push(Target { service: svc.name.clone(), claim: claim.to_string(), uri: uri.clone(), existing });
    }
    out
}

/// Checks the plan's targets, adding a refusal for each URI whose claim holds no model there and
/// a warning for each that could not be checked. `progress` hears what it is doing.
pub async fn check(
    cluster: &dyn Cluster,
    ws: &Workspace,
    plan: &mut Plan,
    checks: &ModelChecks,
    cancel: &CancellationToken,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<(), CheckError> {
    let targets = targets(ws, plan);
    let mut by_claim: BTreeMap<String, Vec<Target>> = BTreeMap::new();
    for t in targets {
        by_claim.entry(t.claim.clone()).or_default().push(t);
    }
    for (claim, targets) in by_claim {
        let r = ObjectRef::new("v1", "PersistentVolumeClaim", Some(&plan.namespace), &claim);
        let uris = || targets.iter().map(|t| t.uri.to_string()).collect::<Vec<_>>().join(", ");
        match plan.read.get(&r.to_string()) {
            Some(Some(_)) => {}
            // An existing claim that is not there is refused by the plan already.
            _ if targets.iter().any(|t| t.existing) => continue,
            _ => {
                let services = targets.iter().map(|t| format!("model-service/{}", t.service)).collect::<Vec<_>>();
                plan.warnings.push(format!(
                    "{}: {} not checked for a model: claim {claim} does not exist yet (msws creates it; it holds files only if it binds to a volume that has them)",
                    services.join(", "),
                    uris()
                ));
                continue;
            }
        }
        let paths: Vec<String> = targets.iter().filter_map(|t| Want::of(&t.uri).map(|w| w.path())).collect();
        let depth = crate::inspect::depth_for(paths.iter().map(String::as_str));
        let inspection = {
            let mut done = checks.done.lock().await;
            match done.get(&(claim.clone(), depth)) {
                Some(r) => r.clone(),
                None => {
                    progress(&format!("checking that claim {claim} holds {}", uris()));
                    let req = Request {
                        image: crate::inspect::image_for(ws, &claim),
                        depth,
                        timeout: checks.timeout,
                        poll: checks.poll,
                        ..Request::new(&plan.namespace, &claim, &ws.name)
                    };
                    let r = crate::inspect::inspect(cluster, &req, cancel, progress).await;
                    match r.as_ref().map_err(InspectError::root) {
                        Err(InspectError::Interrupted { pod }) => {
                            return Err(CheckError::Interrupted { pod: pod.clone() });
                        }
                        Err(InspectError::Cluster(e))
                            if e.is_transient() || matches!(e, ClusterError::Unauthorized(_)) =>
                        {
                            return Err(CheckError::Cluster(e.clone()));
                        }
                        _ => {}
                    }
                    done.insert((claim.clone(), depth), r.clone());
                    r
                }
            }
        };
        let inspection = match inspection {
            Ok(i) => i,
            Err(e) => {
                for t in &targets {
                    plan.warnings.push(format!(
                        "model-service/{}: could not check that {} holds a model: {e} (--skip-model-check skips this check)",
                        t.service, t.uri
                    ));
                }
                continue;
            }
        };
        for note in &inspection.notes {
            plan.warnings.push(format!("storage/{claim}: {note}"));
        }
        for t in &targets {
            let Some(want) = Want::of(&t.uri) else { continue };
            if let Verdict::Missing { there, nearest } = check_listing(&inspection.listing, &claim, want) {
                plan.refusals.push(refusal(t, &claim, &there, &nearest, inspection.listing.depth));
            }
        }
    }
    Ok(())
}

fn refusal(t: &Target, claim: &str, there: &str, nearest: &[String], depth: u32) -> String {
    let mut s = format!("model-service/{}: no model at {} — {there}", t.service, t.uri);
    match nearest.split_first() {
        Some((first, rest)) => {
            s.push_str(&format!("; did you mean {first}?"));
            if !rest.is_empty() {
                s.push_str(&format!(" (also on the claim: {})", rest.join(", ")));
            }
        }
        None => s.push_str(&format!("; claim {claim} holds no model directory within {depth} levels of its root")),
    }
    s.push_str(&format!(" (`msws inspect {claim} FILE` lists the claim; --skip-model-check skips this check)"));
    s
}
