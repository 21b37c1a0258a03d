//! `pm2ctl memory-check --mark BYTES -- APP` (hidden): run by an app's memory-check service
//! (`pm2ctl-<esc>-memory.service`, started by its timer), never by hand. Reloads gracefully
//! each instance of APP whose resident memory is above the mark, one at a time, through
//! `reload`'s path; prints one line per instance it replaces (to the journal, tagged with the
//! app's `PM2_APP`). Quiet when every instance is under the mark.

use super::ManagerArgs;
use crate::lifecycle::memory;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Resident bytes above which an instance is reloaded.
    #[arg(long, value_name = "BYTES")]
    pub mark: u64,
    /// The app's name.
    pub app: String,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: &Args) -> Result<()> {
    memory::reload_over_mark(
        &args.manager.host,
        args.manager.scope(),
        &args.app,
        args.mark,
    )
}
