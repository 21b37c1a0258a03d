//! `pm2ctl restart TARGETS [--watch] [--update-env] [--node-args …] [--name …]`: PM2's
//! restart (a file target is its `startOrRestart`); `--watch` toggles watching
//! (`watch::toggle`), the other options change the apps as they restart
//! (`lifecycle::redefine`).

use super::TargetArgs;
use crate::lifecycle::redefine;
use crate::watch::toggle::{self, WatchChange};
use anyhow::Result;

/// `restart`, with PM2's `--watch`: toggles watching of the selected apps as it restarts them.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Toggle watching: a watched app stops being watched, any other starts (its directory,
    /// or the paths and ignores of its definition).
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub changes: Changes,
}

/// What `restart` changes in the apps it restarts.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct Changes {
    /// New interpreter arguments (`--interpreter-args` too).
    #[arg(long, alias = "interpreter-args", allow_hyphen_values = true)]
    pub node_args: Option<String>,
    /// A new cron pattern for restarts; `0` removes it.
    #[arg(
        short = 'c',
        long = "cron-restart",
        alias = "cron",
        value_name = "PATTERN"
    )]
    pub cron_restart: Option<String>,
    /// A new name for the app (one app only).
    #[arg(short = 'n', long, value_name = "NAME")]
    pub name: Option<String>,
}

pub fn run(args: &Args) -> Result<()> {
    let t = &args.target;
    let (host, scope) = (&t.manager.host, t.manager.scope());
    if args.watch {
        return toggle::select_and_restart(host, scope, &t.targets, WatchChange::Toggle);
    }
    let changes = redefine::Changes {
        update_env: t.file.update_env,
        node_args: args.changes.node_args.as_deref(),
        cron_restart: args.changes.cron_restart.as_deref(),
        name: args.changes.name.as_deref(),
    };
    redefine::restart(
        host,
        scope,
        &t.targets,
        &t.file.only,
        t.file.env.as_deref(),
        &changes,
    )
}
