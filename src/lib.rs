//! msws: a workspace file in, a Kubernetes cluster that matches it out.
//!
//! The pipeline, stage by stage; each stage is a module, in this order:
//!
//! 1. **parse** ([`syntax`]): KDL text → a syntax tree of nodes, values and spans. A fast parser
//!    reads the common subset of KDL v2; the `kdl` crate reads the rest and reports syntax errors.
//!    `msws fmt` lives here too.
//! 2. **lower** ([`lower`]): syntax trees → the typed [`model::Workspace`]. Imports are loaded,
//!    variables substituted, presets (`extends`) expanded, every node read and checked, references
//!    resolved, and the lints that need no cluster run. Every problem goes to a
//!    [`diag::Sink`]; the workspace comes out only when there is no error.
//! 3. **graph** ([`graph`]): the workspace → steps (`storage/…`, `secret/…`, `download/…`,
//!    `release/…`, `pre-pull/…`, `model-service/…`) and the edges between them, in a
//!    deterministic order; cycles are errors.
//! 4. **render** ([`render`]): steps → the Kubernetes objects each applies (k8s-openapi types):
//!    claims, secrets, download Jobs, and the ServiceAccount and Deployments of each model
//!    service as the llm-d ModelService chart renders them.
//! 5. **diff** ([`diff`]): a desired object against the live one — through the server's
//!    dry-run answer when there is a server, as a subset check otherwise; secret data redacted.
//! 6. **plan** ([`plan`]): per step, the action on each object (create, update, replace, delete,
//!    nothing), each download planned from its completion record, preflight findings; shown as
//!    text or JSON, saved to a file.
//! 7. **apply**: execute a plan, wait, roll back on failure (to come).
//!
//! Beside the pipeline: [`cluster`] is the only door to Kubernetes (the `Cluster` trait, the kube
//! adapter and the in-memory fake); [`readiness`] reads an object's status as ready / waiting /
//! failed; [`import_values`] turns ModelService Helm values into a workspace file; [`inspect`]
//! runs a short-lived pod that lists what is on a claim (`msws inspect`, and the model check of
//! plan and apply).
//!
//! Stages 1–4 are pure: no network, no clock, the same output for the same input. Diff and plan
//! are pure functions of what was read from the cluster ([`plan::Live`]); only reading it
//! ([`plan::observe`]) and apply talk to a cluster, through [`cluster::Cluster`]. [`cli`] holds one
//! file per command; `main.rs` only calls [`cli::main`].

pub mod apply;
pub mod cli;
pub mod cluster;
pub mod diag;
pub mod diff;
pub mod graph;
pub mod import_manifests;
pub mod import_values;
pub mod inspect;
pub mod lower;
pub mod model;
pub mod plan;
pub mod readiness;
pub mod render;
pub mod syntax;
