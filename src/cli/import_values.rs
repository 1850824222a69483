//! `msws import-values VALUES.yaml [-f more.yaml]… [--set k=v]…`: ModelService chart values in,
//! an equivalent workspace file out (stdout).

use std::path::PathBuf;
use std::process::ExitCode;

use super::common::Output;
use super::{CliError, CmdResult};
use crate::import_values::{self as iv, ImportError, Request, ValuesFile};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The values file (YAML), as given to `helm install -f`
    #[arg(value_name = "VALUES.yaml")]
    pub values: PathBuf,
    /// More values files, merged in order over the first (later files win)
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub more: Vec<PathBuf>,
    /// Set a value as `helm --set` does: `key.path=value`, `list[0].key=value`, `a=1,b=2`, `{a,b}`
    /// for a list, `null` to delete; applied in order after the files
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Like --set, but every value is a string; applied after every --set
    #[arg(long = "set-string", value_name = "KEY=VALUE")]
    pub set_string: Vec<String>,
    /// The Helm release name, which names the objects as the chart does (default: the first
    /// values file's name without `.yaml`)
    #[arg(long, value_name = "RELEASE")]
    pub name: Option<String>,
    /// The namespace of the workspace
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
}

pub fn run(args: Args, out: &Output) -> CmdResult {
    // Usage problems first, before any file is read.
    let release = match &args.name {
        Some(n) => {
            iv::check_release(n).map_err(CliError::usage)?;
            n.clone()
        }
        None => iv::release_from_file(&args.values.to_string_lossy()),
    };
    if let Some(ns) = &args.namespace {
        crate::lower::check_dns_label(ns)
            .map_err(|why| CliError::usage(format!("`{ns}` is not a valid namespace: {why}")))?;
    }
    for (flag, lines, typing) in
        [("--set", &args.set, iv::Typing::Typed), ("--set-string", &args.set_string, iv::Typing::Strings)]
    {
        for line in lines {
            iv::strvals::parse(line, typing).map_err(|e| CliError::usage(format!("{flag} {line}: {e}")))?;
        }
    }

    let mut files = Vec::new();
    for path in std::iter::once(&args.values).chain(&args.more) {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::failure(format!("cannot read {}: {e}", path.display())))?;
        files.push(ValuesFile { name: path.display().to_string(), text });
    }
    let req = Request { files, sets: args.set, set_strings: args.set_string, release, namespace: args.namespace };
    match iv::import(&req) {
        Ok(text) => {
            print!("{text}");
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Usage(m)) => Err(CliError::usage(m)),
        Err(ImportError::Problems(problems)) => {
            for p in &problems {
                out.error(&p.to_string());
            }
            let n = problems.len();
            Err(CliError::failure(format!(
                "{} cannot be imported: {n} problem{} (msws reads the values of the {} chart {})",
                args.values.display(),
                if n == 1 { "" } else { "s" },
                iv::CHART_NAME,
                iv::CHART_VERSION
            )))
        }
    }
}
