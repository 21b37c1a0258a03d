//! `pm2ctl restart TARGETS [--watch] [--update-env] [--node-args …] [--name …]`: PM2's
//! restart (a file target is its `startOrRestart`); `--watch` toggles watching
//! (`watch::toggle`), the other options change the apps as they restart (`redefine`).

use super::{redefine, TargetArgs};
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
    pub changes: redefine::Changes,
}

pub fn run(args: &Args) -> Result<()> {
    let t = &args.target;
    if args.watch {
        return toggle::select_and_restart(
            &t.manager.host,
            t.manager.scope(),
            &t.targets,
            WatchChange::Toggle,
        );
    }
    redefine::restart(t, &args.changes)
}
