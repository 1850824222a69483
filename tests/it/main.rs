//! The integration tests: one binary, one module per area.

mod cli;
mod docs;
mod downloader;
mod fmt;
mod frontend;
mod graph;
mod import_values;
mod manifests;
mod parser;
mod props;
mod render;
mod robustness;
mod support;
