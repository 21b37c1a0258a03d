//! Where the state store lives.

use crate::plan::dirs::{resolve_state_dir, STATE_DIR_VAR};
use crate::plan::Scope;
use anyhow::{bail, Result};
use std::path::PathBuf;

/// The state directory for `scope`: `$PM2CTL_STATE_DIR` if set, else `/var/lib/pm2ctl` for
/// the system manager and `$XDG_STATE_HOME/pm2ctl` (default `~/.local/state/pm2ctl`) for a
/// user's manager.
/// With `-H`, there is no local directory to use: the remote host's store is reached over
/// ssh (`crate::host::remote`), and this is an error rather than a silent mix of two machines.
pub fn default_dir(scope: Scope) -> Result<PathBuf> {
    if let Some(target) = crate::host::remote::selected_target() {
        bail!(
            "internal error: the local state directory was asked for with -H {target} \
             (state::lock_current and state::read_current reach the remote one)"
        );
    }
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    resolve_state_dir(
        scope,
        var(STATE_DIR_VAR).map(PathBuf::from),
        var("XDG_STATE_HOME").map(PathBuf::from),
        var("HOME").map(PathBuf::from),
    )
}
