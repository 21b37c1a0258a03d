//! `pm2ctl save [--user]`: write what runs now to the saved state (`<config>/dump.toml`),
//! which `resurrect` applies and `pm2ctl-generator` brings up at every boot. With `-H`, the
//! other host's state is saved in that host's config directory.
//!
//! Exit codes: 0 written, 1 it could not be (nothing is changed then).

use super::{ManagerArgs, Prefixed};
use crate::boot::saved;
use anyhow::Result;

/// The arguments of `save`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: &Args) -> Result<()> {
    let file = saved::save(&args.manager.host, args.manager.scope())
        .map_err(|e| Prefixed::error("pm2ctl save: ", e))?;
    println!("[PM2] Saving current process list...");
    println!("[PM2] Successfully saved in {file}");
    Ok(())
}
