//! `msws validate FILE`: parse and check, report every problem; `--format json` for editors and CI.

use std::process::ExitCode;

use serde_json::json;

use super::common::{Output, WorkspaceArgs, count_severity};
use super::{CliError, CmdResult};
use crate::diag::{Severity, to_json};
use crate::lower::VarSource;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub workspace: WorkspaceArgs,
    /// Output format: text (diagnostics on stderr, a one-line verdict on stdout) or json (one
    /// JSON document on stdout)
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// Version of the JSON document `validate --format json` prints (docs/commands.md).
pub const JSON_VERSION: u32 = 1;

pub fn run(args: Args, out: &Output) -> CmdResult {
    let opts = args.workspace.options();
    let mut fe = crate::lower::load(&args.workspace.file, &crate::lower::DiskFiles, &opts);
    let graph = fe.workspace.as_ref().and_then(|ws| crate::graph::build(ws, &mut fe.sink));
    let valid = graph.is_some() && !fe.sink.has_errors();
    match args.format {
        Format::Json => {
            let steps: Vec<serde_json::Value> = graph
                .iter()
                .flat_map(|g| {
                    g.order().iter().map(|&i| {
                        json!({
                            "id": g.step(i).id.to_string(),
                            "after": g.dependencies(i).into_iter().map(|d| g.step(d).id.to_string()).collect::<Vec<_>>(),
                        })
                    })
                })
                .collect();
            let vars: Vec<serde_json::Value> = fe
                .vars
                .iter()
                .map(|v| {
                    json!({
                        "name": v.name,
                        "source": match &v.source {
                            VarSource::CommandLine => "command-line".to_string(),
                            VarSource::Environment(e) => format!("env:{e}"),
                            VarSource::Import => "import".to_string(),
                            VarSource::Default => "default".to_string(),
                        },
                    })
                })
                .collect();
            let doc = json!({
                "version": JSON_VERSION,
                "file": args.workspace.file.display().to_string(),
                "valid": valid,
                "errors": count_severity(&fe, Severity::Error),
                "warnings": count_severity(&fe, Severity::Warning),
                "diagnostics": fe.sink.sorted().into_iter().map(|d| to_json(d, &fe.map)).collect::<Vec<_>>(),
                "workspace": fe.workspace.as_ref().map(|w| w.name.clone()),
                "variables": vars,
                "steps": steps,
            });
            println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        }
        Format::Text => {
            out.diagnostics(&fe);
            if let (Some(ws), Some(g)) = (&fe.workspace, &graph)
                && valid
            {
                let warnings = count_severity(&fe, Severity::Warning);
                println!(
                    "{}: workspace `{}` is valid ({} step{}{})",
                    args.workspace.file.display(),
                    ws.name,
                    g.len(),
                    if g.len() == 1 { "" } else { "s" },
                    match warnings {
                        0 => String::new(),
                        1 => ", 1 warning".into(),
                        n => format!(", {n} warnings"),
                    }
                );
            }
        }
    }
    if valid {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(CliError { code: 1, message: super::common::summary(&fe, &args.workspace.file) })
    }
}
