//! `msws fmt FILE…`: rewrite workspace files in the canonical layout, keeping comments;
//! `--check` changes nothing and exits 1 when a file would change. `-` reads stdin, writes stdout.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use super::CmdResult;
use super::common::{Output, write_atomically};
use crate::diag::{RenderOptions, Sink, SourceMap, render_all};
use crate::syntax::fmt::{FmtError, format_source};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Files to format (`-` for stdin to stdout)
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Change nothing; list the files that would change and exit 1 if there are any
    #[arg(long)]
    pub check: bool,
}

pub fn run(args: Args, out: &Output) -> CmdResult {
    let mut unformatted = false;
    let mut failed = false;
    for path in &args.files {
        let stdin = path.as_os_str() == "-";
        // What messages call the file; `-` alone would read as a typo.
        let name = if stdin { "<stdin>".to_string() } else { path.display().to_string() };
        let read = if stdin {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s).map(|_| s)
        } else {
            std::fs::read_to_string(path)
        };
        // A file that cannot be read or written does not stop the others from being formatted.
        let text = match read {
            Ok(text) => text,
            Err(e) => {
                out.error(&format!("cannot read {name}: {e}"));
                failed = true;
                continue;
            }
        };
        let formatted = match format_source(&text) {
            Ok(f) => f,
            Err(FmtError::Syntax) => {
                // Show why, exactly as `validate` would.
                let mut map = SourceMap::new();
                let mut sink = Sink::new();
                let id = map.add(name.clone(), (!stdin).then_some(path.as_path()), text.as_str());
                crate::syntax::parse(id, &text, &mut sink);
                let rendered =
                    render_all(sink.sorted(), &map, RenderOptions { color: out.color_stderr, width: out.width });
                eprint!("{rendered}");
                if sink.has_errors() {
                    out.error(&format!("{name} is not valid KDL; left unchanged"));
                } else {
                    // The file parses (as KDL v1), but converting it to KDL v2 failed.
                    out.error(&format!("{name} could not be converted from KDL v1 to KDL v2; left unchanged"));
                }
                failed = true;
                continue;
            }
            Err(e) => {
                out.error(&format!("{name}: {e}"));
                failed = true;
                continue;
            }
        };
        if formatted == text {
            if stdin && !args.check {
                let _ = std::io::stdout().write_all(formatted.as_bytes());
            }
            continue;
        }
        if args.check {
            println!("{name}: would be reformatted");
            unformatted = true;
        } else if stdin {
            let _ = std::io::stdout().write_all(formatted.as_bytes());
        } else {
            match write_atomically(path, formatted.as_bytes()) {
                Ok(()) => println!("{name}: formatted"),
                Err(e) => {
                    out.error(&format!("cannot write {name}: {e}"));
                    failed = true;
                }
            }
        }
    }
    if failed || unformatted { Ok(ExitCode::FAILURE) } else { Ok(ExitCode::SUCCESS) }
}
