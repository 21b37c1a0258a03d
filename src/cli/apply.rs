//! `pm2ctl apply FILE [--env NAME] [--prune] [--dry-run] [--save] [--user]`: make systemd run what
//! the file says, changing only the apps that differ.
//!
//! Exit codes: 0 done (or nothing to do), 1 a unit failed to start or systemd could not be
//! reached, 2 the file (or its plan) is invalid; in that case nothing is touched.

use super::{ManagerArgs, Prefixed};
use crate::apply::run::{self, Outcome, Refusal};
use crate::apply::{self, Failure};
use crate::ecosystem::Ecosystem;
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// The arguments of `apply`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ecosystem file.
    pub file: PathBuf,
    /// Apply the `env_<NAME>` tables of each app.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Also remove apps applied from this file before that it no longer has.
    #[arg(long)]
    pub prune: bool,
    /// Print what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Then save what runs (as `pm2ctl save`), so it comes back at boot.
    #[arg(long, conflicts_with = "dry_run")]
    pub save: bool,
    /// Also roll the apps whose definition did not change, one instance at a time, so new
    /// code on disk runs with no downtime (PM2's `startOrReload`).
    #[arg(long)]
    pub reload: bool,
    /// When a new instance does not become ready, leave the instances already replaced
    /// with the new definition (by default they go back to the previous one).
    #[arg(long)]
    pub no_rollback: bool,
    /// Print what was done (or, with --dry-run, would be) as one JSON document on stdout
    /// (docs/apply-json.md); progress and messages stay on stderr.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    run_with(args, None)
}

/// `apply` of `eco`, already loaded from `args.file` (which may be a file on the `-H` host:
/// `resurrect` reads the saved file there).
pub fn run_loaded(args: &Args, eco: Ecosystem) -> Result<ExitCode> {
    run_with(args, Some(eco))
}

fn run_with(args: &Args, eco: Option<Ecosystem>) -> Result<ExitCode> {
    match apply(args, eco) {
        Ok(code) if args.save && code == ExitCode::SUCCESS => {
            let file = crate::boot::saved::save(&args.manager.host, args.manager.scope())
                .map_err(|e| Prefixed::error("pm2ctl apply: applied, but not saved: ", e))?;
            eprintln!("saved in {file}");
            Ok(code)
        }
        Ok(code) => Ok(code),
        Err(e) => {
            print_json_error(args, &format!("{e:#}"));
            Err(Prefixed::error("pm2ctl apply: ", e))
        }
    }
}

fn apply(args: &Args, loaded: Option<Ecosystem>) -> Result<ExitCode> {
    // The file first: a broken file stops everything before systemd is even asked.
    let eco = match loaded.map_or_else(|| super::load_file(&args.file), Ok) {
        Ok(eco) => eco,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("{}: not applied, nothing was changed", args.file.display());
            print_json_error(args, &e.to_string());
            return Ok(ExitCode::from(2));
        }
    };
    let request = run::Request {
        file: &args.file,
        env: args.env.as_deref(),
        options: apply::Options {
            prune: args.prune,
            reload: args.reload,
            rollback: !args.no_rollback,
        },
        dry_run: args.dry_run,
    };
    // On a terminal the per-unit lines become one counting line (hundreds of units stay
    // readable); in a pipe every line is kept.
    let stderr = std::io::stderr();
    let mut progress: Box<dyn std::io::Write> = if stderr.is_terminal() {
        Box::new(super::progress::Counting::new(stderr))
    } else {
        Box::new(stderr)
    };
    let outcome = run::run(
        &args.manager.host,
        args.manager.scope(),
        &eco,
        &request,
        &mut progress,
    );
    progress.flush()?;
    drop(progress);
    let (diff, desired, failures) = match outcome? {
        Outcome::Refused(why) => {
            let file = args.file.display();
            let why = match why {
                Refusal::Plan(e) => e.to_string(),
                Refusal::Preflight(e) => e.to_string(),
            };
            eprintln!("{file}:\n{why}");
            eprintln!("{file}: not applied, nothing was changed");
            print_json_error(args, &format!("{file}:\n{why}"));
            return Ok(ExitCode::from(2));
        }
        Outcome::Looked { diff, desired } => {
            if args.json {
                print_json(&apply::report::report(&diff, &desired, &[], true))?;
            } else {
                print!("{}", apply::render(&diff));
            }
            return Ok(ExitCode::SUCCESS);
        }
        Outcome::Applied {
            diff,
            desired,
            failures,
        } => (diff, desired, failures),
    };
    for orphan in &diff.orphans {
        eprintln!("{orphan}: no longer in the file, left running (--prune removes it)");
    }
    if diff.is_empty() {
        eprintln!("nothing to change");
    }
    if args.json {
        print_json(&apply::report::report(&diff, &desired, &failures, false))?;
    }
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        print_failures(&failures);
        Ok(ExitCode::from(1))
    }
}

fn print_json(report: &apply::report::Report) -> Result<()> {
    let text = serde_json::to_string_pretty(report).context("cannot write the JSON report")?;
    println!("{text}");
    Ok(())
}

/// With `--json`, an apply that stopped on an error still prints one document: `error`
/// holds the message also printed on stderr.
fn print_json_error(args: &Args, message: &str) {
    if args.json {
        println!("{}", serde_json::json!({ "error": message }));
    }
}

fn print_failures(failures: &[Failure]) {
    for f in failures {
        eprintln!();
        eprintln!("{}: {} did not start: {}", f.app, f.unit, f.reason);
        for line in f.report.lines() {
            eprintln!("  {line}");
        }
    }
    eprintln!();
    eprintln!(
        "{} unit{} failed to start; the other apps were applied",
        failures.len(),
        if failures.len() == 1 { "" } else { "s" }
    );
}
