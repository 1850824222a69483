pub mod cli;
pub mod diag;
pub mod graph;
pub mod lower;
pub mod model;
pub mod syntax;
