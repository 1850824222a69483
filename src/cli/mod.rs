//! The command line: one file per command, each holding its clap arguments and one `run`
//! function; `main` parses and dispatches with a single `match`.
//!
//! Exit codes (docs/commands.md): 0 success; 1 errors in the workspace or a failed operation;
//! 2 a usage error (clap's own, or bad flag values). `plan --detailed-exitcode` uses 2 for
//! "changes present", as Terraform does.

mod apply;
mod common;
mod fmt;
mod graph;
mod import_manifests;
mod import_values;
mod inspect;
mod plan;
mod render;
mod status;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use common::{ColorChoice, Output};

#[derive(Parser, Debug)]
#[command(name = "msws", version, about = "Plan and apply LLM model services on Kubernetes from one declarative workspace file", long_about = None)]
pub struct Cli {
    /// When to use colour: auto (a terminal, and NO_COLOR unset), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Parse and check a workspace file; report every problem
    Validate(validate::Args),
    /// Show the steps and their order, as a tree or as Graphviz DOT
    Graph(graph::Args),
    /// Format workspace files in place, keeping comments
    Fmt(fmt::Args),
    /// Print the Kubernetes objects each step applies, in apply order (YAML), or write them to a directory
    Render(render::Args),
    /// Turn ModelService Helm chart values into an equivalent workspace file
    ImportValues(import_values::Args),
    /// Turn manifests (an llm-d Kustomize recipe, a YAML file) into a workspace that serves them from a claim
    ImportManifests(import_manifests::Args),
    /// Show what apply would change in the cluster, by step; save it with --out
    Plan(plan::Args),
    /// Show each step's live state in the cluster
    Status(status::Args),
    /// List what is on a claim with a short-lived read-only pod, and the URI of every model on it
    Inspect(inspect::Args),
    /// Apply a workspace (or a saved plan): in order, with waits, rolling back on failure
    Apply(apply::ApplyArgs),
    /// Delete what a workspace created, last step first; storage is kept unless --delete-storage
    Destroy(apply::DestroyArgs),
    /// Roll back or resume an apply or destroy that was interrupted (its journal is in .msws/)
    Recover(apply::RecoverArgs),
    /// Remove a workspace's lock left by a run that died (--force)
    Unlock(apply::UnlockArgs),
}

/// A failure that is not a diagnostic in a workspace file: bad usage, IO, a cluster error.
#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn failure(message: impl Into<String>) -> CliError {
        CliError { code: 1, message: message.into() }
    }
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError { code: 2, message: message.into() }
    }
}

pub type CmdResult = Result<ExitCode, CliError>;

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Output::new(cli.color);
    let result = match cli.command {
        Command::Validate(args) => validate::run(args, &out),
        Command::Graph(args) => graph::run(args, &out),
        Command::Fmt(args) => fmt::run(args, &out),
        Command::Render(args) => render::run(args, &out),
        Command::ImportValues(args) => import_values::run(args, &out),
        Command::ImportManifests(args) => import_manifests::run(args, &out),
        Command::Plan(args) => plan::run(args, &out),
        Command::Status(args) => status::run(args, &out),
        Command::Inspect(args) => inspect::run(args, &out),
        Command::Apply(args) => apply::apply(args, &out),
        Command::Destroy(args) => apply::destroy(args, &out),
        Command::Recover(args) => apply::recover(args, &out),
        Command::Unlock(args) => apply::unlock(args, &out),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            out.error(&e.message);
            ExitCode::from(e.code)
        }
    }
}
