//! `pm2ctl save [--user]`: write what runs now to the saved state (`<config>/dump.toml`),
//! which `resurrect` applies and `pm2ctl-generator` brings up at every boot. With `-H`, the
//! other host's state is saved in that host's config directory.
//!
//! Exit codes: 0 written, 1 it could not be (nothing is changed then).

use super::{ManagerArgs, Prefixed};
use crate::boot::saved::{self, SavedFile};
use crate::plan::HostFacts;
use crate::state;
use anyhow::{Context, Result};

/// The arguments of `save`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: &Args) -> Result<()> {
    let file = save(&args.manager).map_err(|e| Prefixed::error("pm2ctl save: ", e))?;
    println!("[PM2] Saving current process list...");
    println!("[PM2] Successfully saved in {file}");
    Ok(())
}

/// Writes the saved state of `manager`'s scope (with `-H`, on that host); returns the file
/// written.
pub fn save(manager: &ManagerArgs) -> Result<SavedFile> {
    let scope = manager.scope();
    // Under the store's lock: a `delete` running meanwhile edits the saved file too.
    let host = &manager.host;
    let store = state::lock_current(host, scope)?;
    let state = store.state();
    let file = SavedFile::of(host, scope)?;
    let home = match host.ssh() {
        Some(dest) => crate::host::remote::facts::home(dest)?,
        None => HostFacts::detect(scope, Some(0)).home,
    };
    let (eco, warnings) = saved::ecosystem_of(host, state, file.path(), &home);
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    // The state it replaces, when it reads, is kept for `resurrect` to fall back to.
    if let Some(previous) = file.read()? {
        if saved::load_text(file.path(), &previous).is_ok() {
            let backup = file.backup();
            backup
                .write(&previous)
                .with_context(|| format!("the previous saved state was not kept in {backup}"))?;
        }
    }
    file.write(&saved::to_toml(&eco))
        .with_context(|| format!("the saved state was not written to {file}"))?;
    Ok(file)
}
