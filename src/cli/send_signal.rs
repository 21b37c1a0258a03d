//! `pm2ctl sendSignal <signal> <target...>`: PM2's argument order, the signal first.
//! The signal goes to each instance's main process, as PM2's `process.kill(pid, sig)`.

use super::{ManagerArgs, UsageError};
use crate::lifecycle::{self, actions::parse_signal, Action};
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `SIGUSR2`, `USR2` or a number.
    pub signal: String,
    /// `all`, an app name, a namespace, a pm_id or a `/regex/` on names.
    #[arg(required = true, value_name = "id|name|namespace|all|/regex/")]
    pub targets: Vec<String>,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: &Args) -> Result<()> {
    let Some(signal) = parse_signal(&args.signal) else {
        return Err(UsageError(format!(
            "[PM2][ERROR] unknown signal {:?} (expected a name such as SIGUSR2, or a number)",
            args.signal
        ))
        .into());
    };
    lifecycle::act::act_on_targets(
        &args.manager.host,
        args.manager.scope(),
        &args.targets,
        Action::Signal(signal),
    )
}
