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
mod progress;
pub mod reload;
pub mod remote;
pub mod resurrect;
pub mod save;
pub mod scale;
pub mod send_signal;
pub mod show;
pub mod start;
pub mod startup;
pub mod validate;
pub mod watch;

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
    /// `all`, an app name, a namespace, a pm_id or a `/regex/` on names.
    #[arg(required = true, value_name = "id|name|namespace|all|/regex/")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

impl TargetArgs {
    /// Carries out `action` on every selected process, with PM2's messages and exit codes.
    pub fn run(self, action: Action) -> ExitCode {
        finish(act_on_targets(&self.manager, &self.targets, action))
    }
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
}

impl ManagerArgs {
    pub fn scope(&self) -> Scope {
        if self.user {
            Scope::User
        } else if self.system {
            Scope::System
        } else {
            Client::default_scope()
        }
    }

    pub fn connect(&self) -> Result<Client> {
        Client::connect(self.scope())
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
    let client = manager.connect()?;
    // Held until the verb is done: another pm2ctl waits instead of acting on stale ids.
    let mut store = state::lock_current(manager.scope())?;
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let selected: Vec<&Proc> = target::select(targets, &procs)?;
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
