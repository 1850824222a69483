//! What the commands share: loading a workspace with its variables, printing diagnostics, colour,
//! and writing files without ever leaving a half-written one.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use crate::diag::{RenderOptions, Severity, render_all};
use crate::graph::StepGraph;
use crate::lower::{DiskFiles, Frontend, Options};

use super::CliError;

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Where and how a command writes for people.
pub struct Output {
    pub color_stderr: bool,
    pub color_stdout: bool,
    pub width: usize,
}

impl Output {
    pub fn new(choice: ColorChoice) -> Output {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let decide = |tty: bool| match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Output {
            color_stderr: decide(std::io::stderr().is_terminal()),
            color_stdout: decide(std::io::stdout().is_terminal()),
            width: 100,
        }
    }

    pub fn error(&self, message: &str) {
        let prefix = if self.color_stderr { "\x1b[31;1merror\x1b[0m" } else { "error" };
        eprintln!("{prefix}: {message}");
    }

    /// Prints the front end's diagnostics (errors and warnings) to stderr.
    pub fn diagnostics(&self, fe: &Frontend) {
        if fe.sink.is_empty() {
            return;
        }
        let opts = RenderOptions { color: self.color_stderr, width: self.width };
        let text = render_all(fe.sink.sorted(), &fe.map, opts);
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}

/// The arguments of every command that reads a workspace file.
#[derive(clap::Args, Debug, Clone)]
pub struct WorkspaceArgs {
    /// The workspace file (KDL)
    pub file: PathBuf,
    /// Set a variable: `--var name=value` (repeatable); wins over MSWS_VAR_<NAME> and the default
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

pub(crate) fn parse_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}

impl WorkspaceArgs {
    pub fn options(&self) -> Options {
        Options {
            vars: self.vars.iter().cloned().collect(),
            env: std::env::vars().filter(|(k, _)| k.starts_with("MSWS_VAR_")).collect::<BTreeMap<_, _>>(),
        }
    }

    /// Loads, checks and graphs the workspace, printing diagnostics. `Err(exit code 1)` when the
    /// workspace has errors.
    pub fn load(&self, out: &Output) -> Result<(Frontend, StepGraph), CliError> {
        let mut fe = crate::lower::load(&self.file, &DiskFiles, &self.options());
        let graph = fe.workspace.as_ref().and_then(|ws| crate::graph::build(ws, &mut fe.sink));
        out.diagnostics(&fe);
        match graph {
            Some(g) if !fe.sink.has_errors() => Ok((fe, g)),
            _ => Err(CliError { code: 1, message: summary(&fe, &self.file) }),
        }
    }
}

/// The last line of a failed run: `FILE has N errors`. It names the path the user typed, even when
/// the file could not be read at all.
/// The one line that ends a failed run: "w.kdl has 2 errors, 1 warning".
pub fn summary(fe: &Frontend, file: &Path) -> String {
    format!("{} has {}", file.display(), crate::diag::summary(fe.sink.error_count(), fe.sink.warning_count()))
}

pub fn count_severity(fe: &Frontend, s: Severity) -> usize {
    fe.sink.diagnostics().iter().filter(|d| d.severity == s).count()
}

/// Writes `contents` to `path` through a temporary file in the same directory and a rename, so a
/// crash or a full disk never leaves a half-written file.
pub fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.msws-tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Where the cluster is: `--context` and `--namespace`.
#[derive(clap::Args, Debug, Clone)]
pub struct ClusterArgs {
    /// The kubeconfig context to use; default: the current one
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The namespace; overrides the workspace's `namespace`
    #[arg(long, short = 'n', global = true)]
    pub namespace: Option<String>,
}

impl ClusterArgs {
    /// Connects to the cluster (no request is made yet).
    pub fn connect(
        &self,
        ws: &crate::model::Workspace,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<Box<dyn crate::cluster::Cluster>, CliError> {
        let ns = self.namespace.clone().or_else(|| ws.namespace.clone());
        runtime
            .block_on(crate::cluster::kube::KubeCluster::connect(self.context.as_deref(), ns.as_deref()))
            .map(|c| Box::new(c) as Box<dyn crate::cluster::Cluster>)
            .map_err(|e| cluster_error(&e))
    }

    /// `--namespace`, else the workspace's, else the context's, else `default`.
    pub fn namespace_for(&self, ws: &crate::model::Workspace, cluster: Option<&dyn crate::cluster::Cluster>) -> String {
        self.namespace
            .clone()
            .or_else(|| ws.namespace.clone())
            .or_else(|| cluster.map(|c| c.default_namespace().to_string()))
            .unwrap_or_else(|| "default".into())
    }
}

/// The async runtime for commands that talk to a cluster.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::failure(format!("cannot start: {e}")))
}

/// A cluster error as the one line a user reads, with what to do about it.
pub fn cluster_error(e: &crate::cluster::ClusterError) -> CliError {
    use crate::cluster::ClusterError as E;
    let message = match e {
        E::Forbidden { permission: Some(p), .. } => {
            format!("{e}\nmissing permission: {p} (docs/rbac.md lists what msws needs)")
        }
        E::Connection(_) | E::Timeout(_) => format!(
            "{e}\nnothing was changed; check the kubeconfig context (`--context`) and that the API server is reachable"
        ),
        E::Unauthorized(_) => format!("{e}\nthe kubeconfig's credentials were refused; log in again"),
        other => other.to_string(),
    };
    CliError::failure(message)
}

/// Values of the secrets built from the environment, by secret name and key. Secrets whose
/// variable is unset are absent (the plan says so; apply refuses).
pub fn secret_values(ws: &crate::model::Workspace) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for s in &ws.secrets {
        if let crate::model::SecretSource::FromEnv { var, key } = &s.source
            && let Ok(v) = std::env::var(var)
        {
            out.insert(s.name.clone(), BTreeMap::from([(key.clone(), v)]));
        }
    }
    out
}

/// The workspace hash a plan records: the user's files, the variables' values, the namespace.
/// Files are named relative to the root file's directory, so the same workspace hashes the same
/// whichever directory msws runs from and however the path was typed.
pub fn workspace_hash(fe: &Frontend, namespace: &str) -> String {
    let root_dir = fe
        .files
        .first()
        .map(|f| Path::new(&fe.map.get(*f).name).parent().map(Path::to_path_buf).unwrap_or_default())
        .unwrap_or_default();
    let names: Vec<(String, &str)> = fe
        .files
        .iter()
        .map(|f| {
            let file = fe.map.get(*f);
            let p = Path::new(&file.name);
            let rel = p.strip_prefix(&root_dir).unwrap_or(p);
            (rel.display().to_string(), &*file.text)
        })
        .collect();
    let files: Vec<(&str, &str)> = names.iter().map(|(n, t)| (n.as_str(), *t)).collect();
    let vars: Vec<(String, String)> =
        fe.vars.iter().map(|v| (v.name.clone(), v.value.clone().unwrap_or_default())).collect();
    crate::plan::workspace_hash(files, &vars, namespace)
}
