//! One module per `pm2ctl` verb; `main.rs` only parses arguments and dispatches here.
//! Each file holds one verb's arguments and its `run`.
//! What a verb does lives in its concept module (`lifecycle`, `apply`, …); this layer parses,
//! connects, prints and turns the outcome into PM2's exit codes.

pub mod apply;
pub mod delete;
pub mod deploy;
pub mod import;
pub mod jlist;
pub mod list;
pub mod logs;
pub mod memory_check;
pub mod monit;
pub mod plan;
pub mod pm2;
mod progress;
pub mod redefine;
pub mod reference;
pub mod reload;
pub mod remote;
pub mod resurrect;
pub mod save;
pub mod scale;
pub mod send_signal;
pub mod show;
pub mod start;
pub mod startup;
pub mod targets;
pub mod validate;
pub mod watch;

use crate::ecosystem::LoadError;
use crate::host::Host;
use crate::lifecycle::{self, Action, Proc};
use crate::plan::Scope;
use crate::state;
use crate::systemd::Client;
use crate::target::{self, TargetError};
use anyhow::{Context, Result};
use std::process::ExitCode;

/// The arguments of the verbs that only act on PM2 targets: stop, restart, delete, reset.
#[derive(clap::Args, Debug)]
pub struct TargetArgs {
    /// `all`, an app name, a namespace, a pm_id, a `/regex/` on names, a script's file
    /// name, an ecosystem file (its apps) or `-` (an ecosystem read from stdin).
    #[arg(
        required = true,
        value_name = "id|name|namespace|all|/regex/|script|file|-"
    )]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub file: FileOptions,
    #[command(flatten)]
    pub manager: ManagerArgs,
    #[command(flatten)]
    pub pm2: Pm2NoOps,
}

impl TargetArgs {
    /// Carries out `action` on every selected process, with PM2's messages and exit codes.
    /// `restart FILE` is PM2's `startOrRestart FILE`.
    pub fn run(self, action: Action) -> ExitCode {
        if action == Action::Restart {
            return finish(self.restart_files_then(|rest| {
                act_on(
                    &self.manager,
                    rest,
                    &self.file.only,
                    self.file.env.as_deref(),
                    action,
                )
            }));
        }
        finish(act_on(
            &self.manager,
            &self.targets,
            &self.file.only,
            self.file.env.as_deref(),
            action,
        ))
    }

    /// `restart FILE`: each file target as `startOrRestart` (its apps applied, those that
    /// ran restarted); then `rest` on the other targets, if any.
    pub fn restart_files_then(&self, rest: impl FnOnce(&[String]) -> Result<()>) -> Result<()> {
        let (files, others): (Vec<String>, Vec<String>) = self
            .targets
            .iter()
            .cloned()
            .partition(|t| targets::is_file(t));
        for file in &files {
            start::start_or_file(
                &self.manager,
                file,
                &self.file.only,
                self.file.env.as_deref(),
                start::Then::Restart,
            )?;
        }
        if others.is_empty() {
            return Ok(());
        }
        rest(&others)
    }
}

/// PM2's options for an ecosystem file given as a target (`restart FILE --only a,b`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct FileOptions {
    /// With an ecosystem file: only these of its apps (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "APPS")]
    pub only: Vec<String>,
    /// With an ecosystem file: its `env_<NAME>` tables.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// `restart`: an app started from the command line gets the caller's environment
    /// again (an ecosystem file always brings its own env, as in PM2).
    #[arg(short = 'a', long)]
    pub update_env: bool,
}

/// PM2's options that mean nothing here (PM2 Plus and its agent, git metadata, PM2's own
/// daemon and output switches): accepted, so command lines written for PM2 run unchanged.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Pm2NoOps {
    #[arg(long = "no-vizion", hide = true)]
    pub no_vizion: bool,
    #[arg(long = "no-pmx", hide = true)]
    pub no_pmx: bool,
    #[arg(long = "no-automation", hide = true)]
    pub no_automation: bool,
    #[arg(long = "no-daemon", hide = true)]
    pub no_daemon: bool,
    #[arg(long = "no-color", hide = true)]
    pub no_color: bool,
    #[arg(short = 's', long = "silent", hide = true)]
    pub silent: bool,
    #[arg(short = 'm', long = "mini-list", hide = true)]
    pub mini_list: bool,
    #[arg(short = 'w', long = "write", hide = true)]
    pub write: bool,
    #[arg(long, hide = true)]
    pub trace: bool,
    #[arg(long, hide = true)]
    pub disable_trace: bool,
    #[arg(long, hide = true)]
    pub v8: bool,
    #[arg(long, hide = true)]
    pub event_loop_inspector: bool,
    #[arg(long, hide = true)]
    pub deep_monitoring: bool,
    #[arg(long, hide = true)]
    pub attach: bool,
    #[arg(long, hide = true)]
    pub fresh: bool,
    #[arg(long, hide = true)]
    pub source_map_support: bool,
}

/// Which systemd manager to talk to.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ManagerArgs {
    /// Use the calling user's systemd manager (the default when not root).
    #[arg(long, conflicts_with = "system")]
    pub user: bool,
    /// Use the system manager (the default for root).
    #[arg(long)]
    pub system: bool,
    /// The machine: this one, or the `-H` host (`main` sets it once the command line is
    /// parsed).
    #[arg(skip)]
    pub host: Host,
}

impl ManagerArgs {
    pub fn scope(&self) -> Scope {
        if self.user {
            Scope::User
        } else if self.system {
            Scope::System
        } else {
            Client::default_scope(&self.host)
        }
    }

    pub fn connect(&self) -> Result<Client> {
        Client::connect(&self.host, self.scope())
    }
}

/// Loads an ecosystem file as `ecosystem::load` does, showing its warnings on stderr.
pub fn load_file(path: &std::path::Path) -> Result<crate::ecosystem::Ecosystem, LoadError> {
    let (eco, warnings) = crate::load::ecosystem_with_warnings(path)?;
    print_warnings(&warnings);
    Ok(eco)
}

/// Shows a file's warnings (unknown keys of PM2's formats) on stderr.
pub fn print_warnings(warnings: &[crate::ecosystem::Warning]) {
    for w in warnings {
        eprintln!("{w}");
    }
}

/// A command line that makes no sense (exit code 2, as for clap's own usage errors).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Some instances did not reach the state asked for; each was already reported.
#[derive(Debug, thiserror::Error)]
#[error("[PM2][ERROR] {0}")]
pub struct ActionFailed(pub String);

/// Prints an error the way the user should see it and picks PM2's exit code:
/// 2 for an invalid file or command line, 1 for everything else (unknown targets included).
pub fn finish(result: Result<()>) -> ExitCode {
    let Err(err) = result else {
        return ExitCode::SUCCESS;
    };
    if let Some(e) = err.downcast_ref::<TargetError>() {
        eprintln!("{e}");
        return ExitCode::from(e.exit_code());
    }
    eprintln!("{err:#}");
    let usage = err.downcast_ref::<UsageError>().is_some()
        || err.downcast_ref::<crate::ecosystem::LoadError>().is_some();
    ExitCode::from(if usage { 2 } else { 1 })
}

/// Resolves `targets` against every instance, then runs `action` on the selection:
/// nothing is touched unless every target matched.
pub fn act_on_targets(manager: &ManagerArgs, targets: &[String], action: Action) -> Result<()> {
    act_on(manager, targets, &[], None, action)
}

/// `act_on_targets`, where file targets (`only` of their apps, named as with `env`) and
/// script targets stand for their apps (see `targets`).
pub fn act_on(
    manager: &ManagerArgs,
    targets: &[String],
    only: &[String],
    env: Option<&str>,
    action: Action,
) -> Result<()> {
    let client = manager.connect()?;
    // Held until the verb is done: another pm2ctl waits instead of acting on stale ids.
    let mut store = state::lock_current(&manager.host, manager.scope())?;
    let targets = targets::expand(targets, only, env, store.state())?;
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let selected: Vec<&Proc> = target::select(&targets, &procs)?;
    lifecycle::actions::announce(action, &selected);
    let known: Vec<String> = store.state().apps.keys().cloned().collect();
    let report = lifecycle::actions::run(&client, &mut store, action, &selected)?;
    report.print();
    if action == Action::Delete {
        // Apps the store forgot: every one of their instances was deleted.
        let deleted: Vec<String> = known
            .into_iter()
            .filter(|name| store.state().app(name).is_none())
            .collect();
        let units: Vec<String> = selected
            .iter()
            .flat_map(|p| p.socket.iter().chain([&p.service, &p.slice]))
            .cloned()
            .collect();
        delete::unsave(&client, &deleted, &units)?;
    }
    if report.all_ok() {
        Ok(())
    } else {
        Err(ActionFailed(format!("{} failed for some processes", action.pm2_name())).into())
    }
}
