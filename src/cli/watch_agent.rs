//! `pm2ctl watch-agent` (hidden): the process of an app's watch unit (see `watch::agent`).

use super::ManagerArgs;
use crate::watch::agent;
use crate::watch::ignore::IgnoreRules;
use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct Args {
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
    /// Watch the directories symbolic links point to (`watch_options.followSymlinks`).
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Poll every MS milliseconds instead of using inotify (`watch_options.usePolling`).
    #[arg(long, value_name = "MS")]
    pub poll_ms: Option<u64>,
    #[command(flatten)]
    pub manager: ManagerArgs,
    /// The app to restart.
    pub app: String,
}

pub fn run(args: &Args) -> Result<()> {
    let config = agent::Config {
        app: args.app.clone(),
        paths: args.path.clone(),
        ignore: IgnoreRules::new(&args.ignore, &args.cwd)?,
        delay: Duration::from_millis(args.delay_ms),
        follow_symlinks: args.follow_symlinks,
        poll: args.poll_ms.map(Duration::from_millis),
    };
    agent::restart_on_changes(&config, &args.manager.host, args.manager.scope())
}
