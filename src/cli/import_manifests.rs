//! `msws import-manifests DIR|FILE [--out FILE]`: a user's manifests (an llm-d Kustomize recipe,
//! or a YAML file) in, a workspace that downloads their model onto a claim and serves them from
//! it out (stdout, or a new file).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::common::{Output, write_atomically};
use super::{CliError, CmdResult};
use crate::import_manifests::{self as im, ImportError, Request};

const ACCESS_MODES: [&str; 3] = ["ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod"];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A Kustomize directory (built with `kubectl kustomize`) or a YAML file of manifests
    #[arg(value_name = "DIR|FILE")]
    pub manifests: PathBuf,
    /// Write the workspace to this new file (its `manifests` path relative to it) instead of
    /// printing it
    #[arg(long, short = 'o', value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace the --out file if it exists
    #[arg(long)]
    pub force: bool,
    /// The workspace's and the model service's name (default: the directory's or file's name)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// The namespace (default: the one the manifests name)
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// The claim's size (default: estimated from the model's name, and said so; else a variable
    /// for `plan` to ask for)
    #[arg(long, visible_alias = "model-size", value_name = "SIZE")]
    pub size: Option<String>,
    /// The claim's access mode: ReadWriteMany (pods on many nodes), ReadWriteOnce, ReadWriteOncePod
    #[arg(long, value_name = "MODE", default_value = "ReadWriteMany")]
    pub access: String,
    /// The claim's storage class (default: the cluster's default class)
    #[arg(long, value_name = "CLASS")]
    pub class: Option<String>,
    /// Where to download the model from (`hf://ORG/NAME`), when the manifests serve it from a path
    #[arg(long, value_name = "hf://ORG/NAME")]
    pub model: Option<String>,
    /// The model's revision to download: a branch, tag or commit
    #[arg(long, value_name = "REV", default_value = "main")]
    pub revision: String,
    /// The container that serves the model, when several could
    #[arg(long, value_name = "NAME")]
    pub serving_container: Option<String>,
}

pub fn run(args: Args, out: &Output) -> CmdResult {
    if !ACCESS_MODES.contains(&args.access.as_str()) {
        return Err(CliError::usage(format!("--access {}: one of {}", args.access, ACCESS_MODES.join(", "))));
    }
    if let Some(s) = &args.size {
        crate::model::Quantity::parse(s).map_err(|why| CliError::usage(format!("--size {s}: {why} (e.g. 200Gi)")))?;
    }
    if let Some(ns) = &args.namespace {
        crate::lower::check_dns_label(ns)
            .map_err(|why| CliError::usage(format!("`{ns}` is not a valid namespace: {why}")))?;
    }
    if let Some(o) = &args.out
        && o.exists()
        && !args.force
    {
        return Err(CliError::usage(format!(
            "{} exists: choose another file, or give --force to replace it",
            o.display()
        )));
    }
    let (text, source) = im::read(&args.manifests, &crate::lower::DiskFiles).map_err(CliError::failure)?;
    // The workspace names its manifests relative to itself.
    let at = args.out.clone().unwrap_or_else(|| PathBuf::from(format!("{}.kdl", im::name_from(&args.manifests))));
    let dir = at.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let req = Request {
        manifests: im::relative_path(dir, &args.manifests),
        source,
        text: text.clone(),
        name: args.name.clone().unwrap_or_else(|| im::name_from(&args.manifests)),
        namespace: args.namespace.clone(),
        size: args.size.clone(),
        access: args.access.clone(),
        class: args.class.clone(),
        model: args.model.clone(),
        revision: args.revision.clone(),
        serving_container: args.serving_container.clone(),
    };
    let built = (text, req.source.clone());
    let result = im::import(&req).and_then(|ws| im::self_check(&ws, &at, &args.manifests, &built).map(|()| ws));
    match result {
        Ok(ws) => {
            match &args.out {
                Some(o) => {
                    write_atomically(o, ws.as_bytes())
                        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", o.display())))?;
                    eprintln!("wrote {}: review it with `msws plan --offline {}`", o.display(), o.display());
                }
                None => print!("{ws}"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(ImportError::Usage(m)) => Err(CliError::usage(m)),
        Err(ImportError::Problems(problems)) => {
            for p in &problems {
                out.error(&format!("{}\n  help: {}", p.message, p.help));
            }
            let n = problems.len();
            Err(CliError::failure(format!(
                "{} cannot be served from a claim: {n} problem{}",
                args.manifests.display(),
                if n == 1 { "" } else { "s" }
            )))
        }
    }
}
