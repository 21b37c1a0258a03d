//! `pm2ctl scale NAME N` (or `+N`, `-N`): PM2's scale, with instance units.

use super::{ManagerArgs, UsageError};
use crate::lifecycle::scale::{self, ScaleTo};
use crate::state;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The app's name.
    pub name: String,
    /// The instance count: `N`, `+N` (more) or `-N` (fewer).
    #[arg(allow_hyphen_values = true)]
    pub count: String,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: &Args) -> Result<()> {
    let Some(to) = ScaleTo::parse(&args.count) else {
        return Err(UsageError(format!(
            "[PM2][ERROR] scale {} {}: expected a number, +N or -N",
            args.name, args.count
        ))
        .into());
    };
    let client = args.manager.connect()?;
    let mut store = state::lock_current(&args.manager.host, args.manager.scope())?;
    let scaled = scale::scale(&client, &mut store, &args.name, to)?;
    if scaled.from == scaled.to {
        println!(
            "[PM2] {} already has {} instance{}",
            args.name,
            scaled.to,
            plural(scaled.to)
        );
    } else {
        println!(
            "[PM2] Scaling {} from {} to {} instance{}",
            args.name,
            scaled.from,
            scaled.to,
            plural(scaled.to)
        );
    }
    for f in &scaled.failures {
        eprintln!("[PM2][ERROR] {f}");
    }
    if scaled.failures.is_empty() {
        Ok(())
    } else {
        Err(super::ActionFailed(format!("some instances of {} did not start", args.name)).into())
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}
