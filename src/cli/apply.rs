//! `pm2ctl apply FILE [--env NAME] [--prune] [--dry-run] [--save] [--user]`: make systemd run what
//! the file says, changing only the apps that differ.
//!
//! Exit codes: 0 done (or nothing to do), 1 a unit failed to start or systemd could not be
//! reached, 2 the file (or its plan) is invalid; in that case nothing is touched.

use super::{ManagerArgs, Prefixed};
use crate::apply::{self, DesiredApp, Failure};
use crate::ecosystem::Ecosystem;
use crate::lifecycle::engine;
use crate::state::{self, Desired, Source};
use anyhow::{Context, Result};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
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
    let scope = args.manager.scope();
    let client = args.manager.connect()?;
    // On another host the paths in the file are that host's (see host::remote::facts).
    let facts = engine::host_facts(&client)?;
    let planned = match engine::plan_on(&client, &eco, args.env.as_deref(), &facts)? {
        Ok(planned) => planned,
        Err(e) => {
            eprintln!("{}:\n{e}", args.file.display());
            eprintln!("{}: not applied, nothing was changed", args.file.display());
            print_json_error(args, &format!("{}:\n{e}", args.file.display()));
            return Ok(ExitCode::from(2));
        }
    };
    // Before anything is touched: can each app's account reach its files? (With -H they
    // are the other host's, which systemd there checks at start.)
    if client.host().is_local() {
        if let Err(e) = crate::preflight::verdict(&planned) {
            eprintln!("{}:\n{e}", args.file.display());
            eprintln!("{}: not applied, nothing was changed", args.file.display());
            return Ok(ExitCode::from(2));
        }
    }
    for warning in &planned.warnings {
        eprintln!("warning: {warning}");
    }
    // Dry runs only look; a real run holds the lock until it is done, so the diff and its
    // execution see one state. With -H, the lock and the state are the remote host's.
    let mut store = match args.dry_run {
        true => None,
        false => Some(state::lock_current(client.host(), scope)?),
    };
    let current = match &store {
        Some(store) => store.state().clone(),
        None => state::read_current(client.host(), scope)?,
    };
    // `plan` keeps the file's order, one plan per app.
    let desired: Vec<DesiredApp> = planned
        .apps
        .into_iter()
        .zip(&eco.apps)
        .map(|(app, model)| {
            // The file decides what an app is; whether it runs is the verbs' (`stop`,
            // `start`) once it is known, and `autostart` only for a new app.
            let desired = match current.app(&app.name) {
                Some(record) => record.desired,
                None if model.autostart => Desired::Running,
                None => Desired::Stopped,
            };
            let (plan, fingerprint) = apply::fingerprinted(app);
            DesiredApp {
                plan,
                fingerprint,
                desired,
            }
        })
        .collect();
    let source = Source {
        file: Some(absolute(&args.file)?),
        env: args.env.clone(),
    };
    let source_file = source.file.clone().unwrap_or_default();
    let live = apply::live_units(&client).map_err(|e| {
        let why = crate::systemd::connection_lost(&e).unwrap_or("cannot read what systemd runs");
        e.context(format!("{why}; nothing was changed"))
    })?;
    let options = apply::Options {
        prune: args.prune,
        reload: args.reload,
        rollback: !args.no_rollback,
    };
    let diff = apply::diff(&desired, &current, &live, &source_file, options);
    let Some(store) = store.as_mut() else {
        if args.json {
            print_json(&apply::report::report(&diff, &desired, &[], true))?;
        } else {
            print!("{}", apply::render(&diff));
        }
        return Ok(ExitCode::SUCCESS);
    };
    // On a terminal the per-unit lines become one counting line (hundreds of units stay
    // readable); in a pipe every line is kept.
    let stderr = std::io::stderr();
    let mut progress: Box<dyn std::io::Write> = if stderr.is_terminal() {
        Box::new(super::progress::Counting::new(stderr))
    } else {
        Box::new(stderr)
    };
    let executed = apply::execute(
        &client,
        store,
        &diff,
        &desired,
        &live,
        &source,
        options,
        &mut progress,
    );
    progress.flush()?;
    drop(progress);
    let failures = executed?;
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

/// The file as recorded in the state: absolute, so `--prune` recognises it from any
/// directory (not canonicalised: a symlinked config stays the path the user chose).
fn absolute(file: &Path) -> Result<PathBuf> {
    std::path::absolute(file).with_context(|| format!("cannot resolve {}", file.display()))
}
