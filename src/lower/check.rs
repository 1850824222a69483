//! Checks that need the whole workspace: references between declarations, names that would collide
//! in the cluster, and the runbook's lints that need no cluster (spec §5).

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::diag::{Diagnostic, Span, did_you_mean};
use crate::model::*;
use crate::syntax::Origin;

use super::read::{Cx, with_origin};

/// Warns about a path inside a claim that looks absolute or carries a debugging pod's mount prefix.
pub fn path_lint(cx: &mut Cx, path: &str, span: Span, origin: Option<&Origin>) {
    let relative = path.trim_start_matches('/');
    if path.starts_with('/') {
        cx.error(with_origin(
            Diagnostic::warning("msws::lint::model-path", format!("`{path}` looks like an absolute path"))
                .label(span, "paths here are relative to the claim's root")
                .help(format!("the leading `/` is ignored; write the path inside the claim: `{relative}`")),
            origin,
        ));
    }
    if let Some(inside) = relative.strip_prefix("mnt/").or((relative == "mnt").then_some("")) {
        cx.error(with_origin(
            Diagnostic::warning(
                "msws::lint::model-path",
                format!("`{path}` starts with `mnt/`, like a debugging pod's mount path"),
            )
            .label(span, "probably includes where a debug pod mounted the claim")
            .help(format!(
                "write the path inside the claim: what a debug pod saw at `/{relative}` is at `{inside}` on the claim"
            )),
            origin,
        ));
    }
}

fn not_found(cx: &mut Cx, what: &str, name: &str, span: Span, known: Vec<&str>, declare: &str) {
    let mut d = Diagnostic::error("msws::dangling-reference", format!("there is no {what} `{name}`"))
        .label(span, format!("no {what} of that name"));
    d = match did_you_mean(name, known) {
        Some(m) => d.help(format!("did you mean `{m}`?")),
        None => d.help(declare.to_string()),
    };
    cx.error(d);
}

pub fn check(cx: &mut Cx, ws: &mut Workspace) {
    duplicates(cx, ws);
    let storage_names: Vec<String> = ws.storages.iter().map(|s| s.name.clone()).collect();
    let secret_names: Vec<String> = ws.secrets.iter().map(|s| s.name.clone()).collect();
    let download_names: Vec<String> = ws.downloads.iter().map(|d| d.name.clone()).collect();
    fn names(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }

    let lookup = ws.lookup();
    for d in &ws.downloads {
        if !lookup.storages.contains_key(d.storage.as_str()) {
            not_found(
                cx,
                "storage",
                &d.storage,
                d.storage_span,
                names(&storage_names),
                &format!("declare it: `storage \"{}\" {{ access \"ReadWriteMany\"; size \"…\" }}`", d.storage),
            );
        }
        if let Some(t) = &d.token
            && !lookup.secrets.contains_key(t.secret.as_str())
        {
            not_found(
                cx,
                "secret",
                &t.secret,
                t.span,
                names(&secret_names),
                &format!(
                    "declare it: `secret \"{}\" from-env=\"HF_TOKEN\"`, or `existing=#true` for a Secret already in the namespace",
                    t.secret
                ),
            );
        }
        if d.name.len() + "-download".len() > 63 {
            cx.error(
                Diagnostic::error("msws::invalid-name", format!("download name `{}` is too long", d.name))
                    .label(d.span, "its Job, `<name>-download`, would exceed 63 characters"),
            );
        }
    }
    // Two downloads writing the same place would overwrite each other.
    let mut targets: HashMap<(&str, &str), &Download> = HashMap::new();
    for d in &ws.downloads {
        if let Some(prev) = targets.insert((d.storage.as_str(), d.path.as_str()), d) {
            let place = if d.path.is_empty() { "the root".to_string() } else { format!("`{}`", d.path) };
            cx.error(
                Diagnostic::error(
                    "msws::download-target",
                    format!("downloads `{}` and `{}` write to the same place", prev.name, d.name),
                )
                .label(d.storage_span, format!("writes {place} of claim `{}`", d.storage))
                .label(prev.storage_span, "and so does this one")
                .help("give each download its own `path=`"),
            );
        }
        // A download writes; a claim that can only be read would fail it at apply time.
        if let Some(storage) = lookup.storages.get(d.storage.as_str())
            && storage.access == AccessMode::ReadOnlyMany
        {
            cx.error(
                Diagnostic::error(
                    "msws::download-target",
                    format!("download `{}` writes into `{}`, a ReadOnlyMany claim", d.name, d.storage),
                )
                .label(d.storage_span, "the downloader cannot write here")
                .label(storage.span, "ReadOnlyMany")
                .help("download into a ReadWriteMany or ReadWriteOnce claim; ReadOnlyMany fits a claim that already holds the model, served with `uri \"pvc://…\"`"),
            );
        }
    }

    // Where each download puts its model, for the services that serve it.
    let targets: HashMap<String, ModelUri> = ws
        .downloads
        .iter()
        .map(|d| (d.name.clone(), ModelUri::Pvc { claim: d.storage.clone(), path: d.path.clone() }))
        .collect();
    let storage_set: HashSet<&str> = storage_names.iter().map(String::as_str).collect();
    for svc in &mut ws.services {
        if let ModelSource::Download { name, uri, span } = &mut svc.model {
            match targets.get(name.as_str()) {
                Some(target) => *uri = target.clone(),
                None => not_found(
                    cx,
                    "download",
                    name,
                    *span,
                    names(&download_names),
                    "declare the download, or serve a URI with `uri \"hf://org/model\"`",
                ),
            }
        }
        if let ModelSource::Uri { uri, span } = &svc.model
            && let Some(claim) = uri.claim()
            && !storage_set.contains(claim)
        {
            not_found(
                cx,
                "storage",
                claim,
                *span,
                names(&storage_names),
                &format!(
                    "declare the claim so msws can order and check it: `storage \"{claim}\" existing=#true {{ access \"ReadWriteMany\" }}`"
                ),
            );
        }
        if let Some(t) = &svc.token
            && !secret_names.contains(&t.secret)
        {
            not_found(
                cx,
                "secret",
                &t.secret,
                t.span,
                names(&secret_names),
                &format!("declare it: `secret \"{}\" existing=#true`", t.secret),
            );
        }
        if svc.fullname.len() + "-prefill".len() > 63 {
            cx.error(
                Diagnostic::error(
                    "msws::invalid-name",
                    format!("`{}` is too long to name this model-service's objects", svc.fullname),
                )
                .label(svc.span, "`<name>-prefill` would exceed 63 characters")
                .help("set a shorter `fullname`"),
            );
        }
        if svc.fullname.contains('.') && svc.roles().any(|(_, r)| r.multinode.is_some()) {
            cx.error(
                Diagnostic::error(
                    "msws::invalid-name",
                    format!("`{}` cannot name a LeaderWorkerSet: it contains `.`", svc.fullname),
                )
                .label(svc.span, "a multi-node role's LeaderWorkerSet is named `<name>-<role>`")
                .help("the LeaderWorkerSet controller names a headless Service after it, and Service names may not contain dots: set a `fullname` without them"),
            );
        }
    }

    // Objects two model-services would both write, and pods both would select.
    let mut fullnames: HashMap<&str, &ModelService> = HashMap::new();
    let mut selectors: HashMap<&Map, &ModelService> = HashMap::new();
    let mut names: HashSet<&str> = HashSet::new();
    for svc in &ws.services {
        // A second declaration of the same name is already reported as a duplicate; that it also
        // collides with the first would say the same thing twice.
        if !names.insert(&svc.name) {
            continue;
        }
        if let Some(prev) = fullnames.insert(&svc.fullname, svc) {
            cx.error(
                Diagnostic::error(
                    "msws::name-collision",
                    format!("model-services `{}` and `{}` would create the same objects", prev.name, svc.name),
                )
                .label(svc.span, format!("objects named `{}`", svc.fullname))
                .label(prev.span, "same names")
                .help("give one of them another `fullname`"),
            );
        }
        if let Some(prev) = selectors.insert(&svc.labels, svc) {
            cx.error(
                Diagnostic::error(
                    "msws::selector-overlap",
                    format!("model-services `{}` and `{}` select the same pods", prev.name, svc.name),
                )
                .label(svc.span, "same `labels`")
                .label(prev.span, "as this one")
                .help(
                    "their Deployments would fight over each other's pods; give each a distinct `llm-d.ai/model` label",
                ),
            );
        }
    }

    selector_subsets(cx, ws, &selectors);

    let known_steps = steps(ws);
    let all_after: Vec<After> = ws
        .downloads
        .iter()
        .flat_map(|d| d.after.clone())
        .chain(ws.services.iter().flat_map(|s| s.after.clone()))
        .collect();
    let step_set: HashSet<&str> = known_steps.iter().map(String::as_str).collect();
    for a in all_after {
        let id = format!("{}/{}", a.kind.as_str(), a.name);
        if !step_set.contains(id.as_str()) {
            let mut d = Diagnostic::error("msws::dangling-reference", format!("there is no step `{id}`"))
                .label(a.span, "no such step");
            d = match did_you_mean(&id, known_steps.iter().map(String::as_str)) {
                Some(m) => d.help(format!("did you mean `{m}`?")),
                None if a.kind == StepKind::Release => {
                    d.help("a release step exists only for a download into a ReadWriteOnce or ReadWriteOncePod claim")
                }
                None => d.help(format!("steps: {}", known_steps.join(", "))),
            };
            cx.error(d);
        }
    }
    model_mounts(cx, ws);
    claim_templates(cx, ws);
    // An error often causes a lint (a misspelt `served-name` is also a missing one): lint only a
    // workspace that is otherwise right.
    if !cx.sink.has_errors() {
        lints(cx, ws);
    }
}

fn duplicates(cx: &mut Cx, ws: &Workspace) {
    fn check<'a>(cx: &mut Cx, kind: &str, items: impl Iterator<Item = (&'a str, Span)>) {
        let mut seen: BTreeMap<&str, Span> = BTreeMap::new();
        for (name, span) in items {
            if let Some(first) = seen.get(name) {
                cx.error(
                    Diagnostic::error("msws::duplicate", format!("two {kind} declarations are named `{name}`"))
                        .label(span, "declared again here")
                        .label(*first, "first declared here")
                        .help(format!(
                            "names are unique among {kind} declarations (imported files included): rename or remove one"
                        )),
                );
            } else {
                seen.insert(name, span);
            }
        }
    }
    check(cx, "storage", ws.storages.iter().map(|s| (s.name.as_str(), s.span)));
    check(cx, "secret", ws.secrets.iter().map(|s| (s.name.as_str(), s.span)));
    check(cx, "download", ws.downloads.iter().map(|s| (s.name.as_str(), s.span)));
    check(cx, "model-service", ws.services.iter().map(|s| (s.name.as_str(), s.span)));
}

/// A Deployment selects the pods whose labels include its selector, so a model-service whose
/// labels are a strict subset of another's (`{inference-serving}` and `{inference-serving,
/// model: x}`) selects the other's pods of the same role too. Found by enumerating the subsets of
/// each service's (few) labels and looking them up, rather than comparing every pair.
fn selector_subsets(cx: &mut Cx, ws: &Workspace, by_labels: &HashMap<&Map, &ModelService>) {
    for svc in &ws.services {
        let entries: Vec<(&String, &String)> = svc.labels.iter().collect();
        // Label sets are small; a service with very many labels is not enumerated.
        if entries.len() > 10 {
            continue;
        }
        for mask in 0u32..(1 << entries.len()) - 1 {
            let subset: Map = entries
                .iter()
                .enumerate()
                .filter(|(k, _)| mask & (1 << k) != 0)
                .map(|(_, (k, v))| ((*k).clone(), (*v).clone()))
                .collect();
            let Some(wide) = by_labels.get(&subset) else { continue };
            let selector = if subset.is_empty() {
                "only `llm-d.ai/role`".to_string()
            } else {
                subset.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
            };
            cx.error(
                Diagnostic::error(
                    "msws::selector-overlap",
                    format!("model-service `{}` would also select the pods of `{}`", wide.name, svc.name),
                )
                .label(wide.span, format!("selects pods labelled {selector}"))
                .label(svc.span, "whose pods carry those labels too")
                .help(format!(
                    "give `{}` a label `{}` does not have, such as its own `llm-d.ai/model`",
                    wide.name, svc.name
                )),
            );
        }
    }
}

/// Every step id the workspace has (for checking `after`).
fn steps(ws: &Workspace) -> Vec<String> {
    let lookup = ws.lookup();
    let mut out = Vec::new();
    out.extend(ws.storages.iter().map(|s| format!("storage/{}", s.name)));
    out.extend(ws.secrets.iter().map(|s| format!("secret/{}", s.name)));
    for d in &ws.downloads {
        out.push(format!("download/{}", d.name));
        if lookup.single_attach(&d.storage) {
            out.push(format!("release/{}", d.name));
        }
    }
    out.extend(ws.services.iter().map(|s| format!("model-service/{}", s.name)));
    out
}

/// A vLLM container told to serve a model from a claim or an image must see it: the ModelService
/// chart passes the path even when the container does not mount the volume, and vLLM then fails
/// at start with a path that does not exist. msws says so before anything is applied.
fn model_mounts(cx: &mut Cx, ws: &Workspace) {
    for svc in &ws.services {
        if matches!(svc.model.uri(), ModelUri::Hf { .. } | ModelUri::PvcHf { .. }) {
            // A repository id: vLLM can fetch it itself (pvc+hf needs the cache, but only as a
            // cache, so a missing mount downloads instead of failing).
            continue;
        }
        for (_, role) in svc.roles() {
            for c in role.containers.iter().filter(|c| c.command_kind != CommandKind::Custom && !c.mount_model) {
                cx.error(
                    Diagnostic::error(
                        "msws::model-mount",
                        format!("container `{}` serves `{}` but does not mount it", c.name, svc.model.uri()),
                    )
                    .label(c.span, "no `mount-model=#true`")
                    .label(svc.model.span(), "the model is on a volume")
                    .help(format!(
                        "add `mount-model=#true`: vLLM is told to load the model from {}, which only exists where the model volume is mounted",
                        svc.mount_path
                    )),
                );
            }
        }
    }
}

/// Two model services with DRA accelerators of the same template name would write the same
/// ResourceClaimTemplate (`<template>-<role>`, as the ModelService chart names it).
fn claim_templates(cx: &mut Cx, ws: &Workspace) {
    let mut seen: HashMap<String, &ModelService> = HashMap::new();
    for svc in &ws.services {
        let mut own: HashSet<String> = HashSet::new();
        for (kind, role) in svc.roles() {
            let Some(dra) = &role.accelerator.dra else { continue };
            let name = format!("{}-{}", dra.template, kind.as_str());
            if !own.insert(name.clone()) {
                continue;
            }
            if let Some(prev) = seen.insert(name.clone(), svc) {
                cx.error(
                    Diagnostic::error(
                        "msws::name-collision",
                        format!(
                            "model-services `{}` and `{}` would both create ResourceClaimTemplate `{name}`",
                            prev.name, svc.name
                        ),
                    )
                    .label(svc.span, "uses the same DRA template")
                    .label(prev.span, "as this one")
                    .help("give one of them its own template name: `accelerator \"…\" { dra template=\"…\" }`"),
                );
            }
        }
    }
}

/// Whether a role's pods mount the model volume.
fn mounts_model(role: &Role) -> bool {
    role.containers.iter().any(|c| c.mount_model)
}

fn lints(cx: &mut Cx, ws: &Workspace) {
    let lookup = ws.lookup();
    // The pods that mount each claim.
    let mut mounted: HashMap<&str, Vec<(String, u32, Span)>> = HashMap::new();
    for svc in &ws.services {
        let Some(claim) = svc.model.uri().claim() else { continue };
        for (kind, role) in svc.roles() {
            if mounts_model(role) && role.replicas > 0 {
                let user = (format!("{}/{}", svc.name, kind.as_str()), role.replicas, role.span);
                mounted.entry(claim).or_default().push(user);
            }
        }
    }
    // A single-attach claim can serve one pod (ReadWriteOncePod) or pods of one node (ReadWriteOnce).
    for storage in ws.storages.iter().filter(|s| s.access.is_single_attach()) {
        let users = mounted.remove(storage.name.as_str()).unwrap_or_default();
        // Summed wide: replicas are any u32, and two roles of u32::MAX must not overflow.
        let pods: u64 = users.iter().map(|u| u64::from(u.1)).sum();
        if pods > 1 {
            let who = users.iter().map(|(n, r, _)| format!("{n} ×{r}")).collect::<Vec<_>>().join(", ");
            let mut d = Diagnostic::warning(
                "msws::lint::single-attach",
                format!("claim `{}` is {} but {pods} pods mount it ({who})", storage.name, storage.access.as_str()),
            )
            .label(storage.span, storage.access.as_str());
            for (n, _, span) in &users {
                d = d.label(*span, format!("{n} mounts it"));
            }
            d = d.help(if storage.access == AccessMode::ReadWriteOncePod {
                "only one pod can use a ReadWriteOncePod claim: the others will not start; use ReadWriteMany (or ReadOnlyMany) storage"
            } else {
                "a ReadWriteOnce claim attaches to one node: pods scheduled elsewhere will not start; use ReadWriteMany storage, or keep one replica"
            });
            cx.error(d);
        }
    }
    for svc in &ws.services {
        let serves = svc.roles().any(|(_, r)| r.containers.iter().any(|c| c.command_kind != CommandKind::Custom));
        if svc.served_name.is_none() && serves {
            cx.error(
                Diagnostic::warning("msws::lint::served-name", format!("model-service `{}` has no served name", svc.name))
                    .label(svc.span, "no `served-name`")
                    .help(format!(
                        "add `served-name \"org/model\"`: without it clients must send the model's path ({}) as the model name",
                        crate::model::ModelUri::to_string(svc.model.uri())
                    )),
            );
        }
        if let (Some(size), Some(claim)) = (&svc.model_size, svc.model.uri().claim())
            && let Some(storage) = lookup.storages.get(claim)
            && let Some(claim_size) = &storage.size
            && claim_size.value() < size.value()
        {
            cx.error(
                Diagnostic::warning(
                    "msws::lint::claim-size",
                    format!("claim `{claim}` ({claim_size}) is smaller than the model ({size})"),
                )
                .label(storage.span, format!("{claim_size}"))
                .label(svc.span, format!("model-size {size}"))
                .help(format!("the model will not fit: make the claim at least {size}, with room to spare")),
            );
        }
    }
}
