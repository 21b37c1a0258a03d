//! `pm2ctl reset <target...>`: restart counters back to zero, as PM2's `reset`.

use super::ManagerArgs;
use crate::lifecycle::Action;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `all`, an app name, a namespace, a pm_id or a `/regex/` on names.
    #[arg(required = true, value_name = "id|name|namespace|all|/regex/")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: Args) -> ExitCode {
    super::finish(super::act_on_targets(
        &args.manager,
        &args.targets,
        Action::Reset,
    ))
}
