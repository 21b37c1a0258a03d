//! `pm2ctl watch-agent` (hidden): the process of an app's watch unit.

use super::{act_on_targets, finish, ManagerArgs};
use crate::lifecycle::Action;
use crate::state::{self, Desired};
use crate::watch::{agent, ignore::IgnoreRules};
use anyhow::Result;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// Quiet time after the last change before the app restarts (`watch_delay`).
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// An `ignore_watch` pattern (repeatable).
    #[arg(long)]
    pub ignore: Vec<String>,
    /// A directory or file to watch, recursively (repeatable).
    #[arg(long, required = true)]
    pub path: Vec<PathBuf>,
    /// The app's working directory: relative ignore patterns start there.
    #[arg(long)]
    pub cwd: PathBuf,
    #[command(flatten)]
    pub manager: ManagerArgs,
    /// The app to restart.
    pub app: String,
}

pub fn run_agent(args: AgentArgs) -> ExitCode {
    finish(agent_loop(&args))
}

fn agent_loop(args: &AgentArgs) -> Result<()> {
    let config = agent::Config {
        app: args.app.clone(),
        paths: args.path.clone(),
        ignore: IgnoreRules::new(&args.ignore, &args.cwd)?,
        delay: Duration::from_millis(args.delay_ms),
    };
    agent::run(&config, |changed| {
        // A stopped app stays stopped: only `start` or `restart` runs it again.
        let dir = state::default_dir(args.manager.scope())?;
        let stopped = state::read(&dir)
            .ok()
            .and_then(|s| s.app(&args.app).map(|a| a.desired == Desired::Stopped))
            .unwrap_or(false);
        if stopped {
            println!(
                "change detected on {}: app {} is stopped, not restarted",
                changed.display(),
                args.app
            );
            return Ok(());
        }
        println!(
            "change detected on {}: restarting app {}",
            changed.display(),
            args.app
        );
        act_on_targets(
            &args.manager,
            std::slice::from_ref(&args.app),
            Action::Restart,
        )
    })
}
