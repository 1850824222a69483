//! `msws fmt FILE…`: rewrite workspace files in the canonical layout, keeping comments;
//! `--check` changes nothing and exits 1 when a file would change. `-` reads stdin, writes stdout.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use super::common::{Output, write_atomically};
use super::{CliError, CmdResult};
use crate::diag::{RenderOptions, Sink, SourceMap, render_all};
use crate::syntax::fmt::{FmtError, format_source};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files to format (`-` for stdin to stdout)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Change nothing; exit 1 if any file is not formatted
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args, out: &Output) -> CmdResult {
    let mut unformatted = Vec::new();
    let mut failed = false;
    for path in &args.files {
        let stdin = path.as_os_str() == "-";
        let text = if stdin {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| CliError::failure(format!("cannot read stdin: {e}")))?;
            s
        } else {
            std::fs::read_to_string(path)
                .map_err(|e| CliError::failure(format!("cannot read {}: {e}", path.display())))?
        };
        let formatted = match format_source(&text) {
            Ok(f) => f,
            Err(FmtError::Syntax) => {
                // Show why, exactly as `validate` would.
                let mut map = SourceMap::new();
                let mut sink = Sink::new();
                let id = map.add(path.display().to_string(), Some(path), text.as_str());
                crate::syntax::parse(id, &text, &mut sink);
                let rendered =
                    render_all(sink.sorted(), &map, RenderOptions { color: out.color_stderr, width: out.width });
                eprint!("{rendered}");
                out.error(&format!("{} is not valid KDL; left unchanged", path.display()));
                failed = true;
                continue;
            }
            Err(e) => {
                out.error(&format!("{}: {e}", path.display()));
                failed = true;
                continue;
            }
        };
        if stdin {
            let _ = std::io::stdout().write_all(formatted.as_bytes());
            continue;
        }
        if formatted == text {
            continue;
        }
        if args.check {
            println!("{}: would be reformatted", path.display());
            unformatted.push(path.clone());
        } else {
            write_atomically(path, formatted.as_bytes())
                .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))?;
            println!("{}: formatted", path.display());
        }
    }
    if failed {
        return Ok(ExitCode::FAILURE);
    }
    if !unformatted.is_empty() {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
