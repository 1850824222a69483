//! The integration tests: one binary, one module per area.

mod apply;
mod cli;
mod docs;
mod downloader;
mod fake;
mod fake_workloads;
mod fmt;
mod frontend;
mod graph;
mod helm;
mod import_values;
mod journal;
mod kube;
mod lock;
mod manifests;
mod parser;
mod plan;
mod plan_cluster;
mod progress;
mod props;
mod pyenv;
mod rbac;
mod recipes;
mod render;
mod robustness;
mod support;
