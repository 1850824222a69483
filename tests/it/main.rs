//! The integration tests: one binary, one module per area.

mod cli;
mod docs;
mod fmt;
mod frontend;
mod graph;
mod parser;
mod props;
mod robustness;
mod support;
