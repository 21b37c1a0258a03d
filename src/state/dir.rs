//! Where the state store lives.

use crate::plan::dirs::{resolve_state_dir, STATE_DIR_VAR};
use crate::plan::Scope;
use anyhow::Result;
use std::path::PathBuf;

/// The state directory for `scope`: `$PM2CTL_STATE_DIR` if set, else `/var/lib/pm2ctl` for
/// the system manager and `$XDG_STATE_HOME/pm2ctl` (default `~/.local/state/pm2ctl`) for a
/// user's manager.
/// This machine's: another host's store is reached over ssh (`crate::host::remote`).
pub fn default_dir(scope: Scope) -> Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    resolve_state_dir(
        scope,
        var(STATE_DIR_VAR).map(PathBuf::from),
        var("XDG_STATE_HOME").map(PathBuf::from),
        var("HOME").map(PathBuf::from),
    )
}
