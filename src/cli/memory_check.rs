//! `pm2ctl memory-check --mark BYTES -- APP` (hidden): run by an app's memory-check service
//! (`pm2ctl-<esc>-memory.service`, started by its timer), never by hand. Reloads gracefully
//! each instance of APP whose resident memory is above the mark, one at a time, through
//! `reload`'s path; prints one line per instance it replaces (to the journal, tagged with the
//! app's `PM2_APP`). Quiet when every instance is under the mark.

use super::ManagerArgs;
use crate::lifecycle::memory::{over_mark, resident_bytes, OverMark};
use crate::lifecycle::reload::{self, Printer};
use crate::lifecycle::{self, Proc};
use crate::state::{self, Store};
use anyhow::{Context, Result};

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

pub fn run(args: Args) -> Result<()> {
    check(&args)
}

fn check(args: &Args) -> Result<()> {
    let client = args.manager.connect()?;
    let dir = state::default_dir(args.manager.scope())?;
    // A look without the lock first: the check runs every 30 s and must not queue behind a
    // user's long `reload` only to find nothing to do.
    let procs = lifecycle::processes::list(&client, &state::read(&dir)?)
        .context("cannot list pm2ctl's processes")?;
    if over_mark(&procs, &args.app, args.mark, resident_bytes).is_empty() {
        return Ok(());
    }
    // Measured again under the lock: another pm2ctl may have restarted them meanwhile.
    let mut store = Store::lock(&dir)?;
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let over = over_mark(&procs, &args.app, args.mark, resident_bytes);
    for o in &over {
        println!(
            "[PM2][WORKER] Process {} ({}, pid {}) exceeds the memory mark: {} bytes resident, \
             mark {} bytes ({}% of max_memory_restart); reloading it gracefully",
            o.pm_id,
            args.app,
            o.pid,
            o.resident,
            args.mark,
            crate::plan::memory::MARK_PERCENT
        );
    }
    let selected: Vec<&Proc> = procs
        .iter()
        .filter(|p| over.iter().any(|o: &OverMark| o.pm_id == p.pm_id))
        .collect();
    let report = reload::run(
        &client,
        &mut store,
        &selected,
        1,
        &mut Printer { done: "replaced " },
    )?;
    if report.all_ok() {
        Ok(())
    } else {
        Err(
            super::ActionFailed("the graceful memory restart failed for some processes".into())
                .into(),
        )
    }
}
