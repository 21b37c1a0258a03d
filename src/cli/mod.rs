//! One module per `pm2ctl` verb (`pm2` holds PM2's small ones); `main.rs` only parses
//! arguments and dispatches here. Each file holds one verb's arguments and its `run`, which
//! turns them into the use case's inputs, calls it and prints its report. What a verb does
//! lives in the use cases (`lifecycle`, `apply`, `watch`, …). Every `run` returns a
//! `Result`; `main` hands it to `finish`, the one place an error becomes PM2's exit code.

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
pub mod reference;
pub mod reload;
pub mod remote;
pub mod reset;
pub mod restart;
pub mod resurrect;
pub mod save;
pub mod scale;
pub mod send_signal;
pub mod show;
pub mod start;
pub mod startup;
pub mod stop;
pub mod validate;
pub mod watch_agent;

use crate::ecosystem::LoadError;
use crate::host::Host;
use crate::lifecycle::{self, Action};
use crate::plan::Scope;
use crate::systemd::Client;
use crate::target::TargetError;
use anyhow::Result;
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
    /// Carries out `action` on every selected process, with PM2's messages.
    pub fn act(&self, action: Action) -> Result<()> {
        lifecycle::act::act_on(
            &self.manager.host,
            self.manager.scope(),
            &self.targets,
            &self.file.only,
            self.file.env.as_deref(),
            action,
        )
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

pub use crate::lifecycle::targets::print_warnings;

pub use crate::lifecycle::outcome::{ActionFailed, UsageError};

/// An error shown after the verb's own prefix (`pm2ctl save: …`, `[PM2][ERROR] …`): exit
/// code 1 whatever its cause, which is not looked into for another code.
#[derive(Debug, thiserror::Error)]
#[error("{prefix}{cause:#}")]
pub struct Prefixed {
    pub prefix: &'static str,
    pub cause: anyhow::Error,
}

impl Prefixed {
    /// `cause`, shown after `prefix`.
    pub fn error(prefix: &'static str, cause: anyhow::Error) -> anyhow::Error {
        Prefixed { prefix, cause }.into()
    }
}

/// The one place a verb's outcome becomes what the user sees and PM2's exit code: the
/// verb's own code when it ran to the end (it printed its report), else the error printed
/// and 2 for an invalid file or command line, 1 for everything else (unknown targets
/// included, with their own code).
pub fn finish(result: Result<ExitCode>) -> ExitCode {
    let err = match result {
        Ok(code) => return code,
        Err(err) => err,
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
