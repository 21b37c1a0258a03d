//! `pm2ctl stop TARGETS [--watch]`: see `lifecycle::stop`.

use super::TargetArgs;
use crate::lifecycle;
use anyhow::Result;

/// `stop`, with PM2's `--watch`: stops watching the selected apps as well.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Stop watching too: the app's watch agent goes, and a later `restart` runs it
    /// unwatched (without it, a stopped app keeps its agent, which leaves it stopped).
    #[arg(long)]
    pub watch: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let t = &args.target;
    lifecycle::stop::stop(
        &t.manager.host,
        t.manager.scope(),
        &t.targets,
        &t.file.only,
        t.file.env.as_deref(),
        args.watch,
    )
}
