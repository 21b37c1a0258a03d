//! Where the state store lives.

use crate::plan::Scope;
use anyhow::{bail, Result};
use std::path::PathBuf;

/// Overrides the state directory for either scope (tests, sandboxes, packaging).
pub const STATE_DIR_VAR: &str = "PM2CTL_STATE_DIR";

/// The state directory for `scope`: `$PM2CTL_STATE_DIR` if set, else `/var/lib/pm2ctl` for
/// the system manager and `$XDG_STATE_HOME/pm2ctl` (default `~/.local/state/pm2ctl`) for a
/// user's manager.
/// With `-H`, there is no local directory to use: the remote host's store is reached over
/// ssh (`crate::remote`), and this is an error rather than a silent mix of two machines.
pub fn default_dir(scope: Scope) -> Result<PathBuf> {
    if let Some(target) = crate::remote::selected_target() {
        bail!(
            "internal error: the local state directory was asked for with -H {target} \
             (state::lock_current and state::read_current reach the remote one)"
        );
    }
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    resolve(
        scope,
        var(STATE_DIR_VAR).map(PathBuf::from),
        var("XDG_STATE_HOME").map(PathBuf::from),
        var("HOME").map(PathBuf::from),
    )
}

pub(crate) fn resolve(
    scope: Scope,
    explicit: Option<PathBuf>,
    xdg_state_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    match scope {
        Scope::System => Ok(PathBuf::from("/var/lib/pm2ctl")),
        Scope::User => {
            // The XDG spec says relative values are invalid and must be ignored.
            if let Some(xdg) = xdg_state_home.filter(|p| p.is_absolute()) {
                return Ok(xdg.join("pm2ctl"));
            }
            match home {
                Some(home) => Ok(home.join(".local/state/pm2ctl")),
                None => bail!(
                    "cannot find a place for pm2ctl's state: neither {STATE_DIR_VAR}, \
                     XDG_STATE_HOME nor HOME is set"
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<PathBuf> {
        Some(PathBuf::from(s))
    }

    #[test]
    fn the_override_wins_in_both_scopes() {
        for scope in [Scope::System, Scope::User] {
            let dir = resolve(scope, p("/x"), p("/xdg"), p("/home/u")).unwrap();
            assert_eq!(dir, PathBuf::from("/x"));
        }
    }

    #[test]
    fn system_and_user_defaults() {
        assert_eq!(
            resolve(Scope::System, None, p("/xdg"), p("/root")).unwrap(),
            PathBuf::from("/var/lib/pm2ctl")
        );
        assert_eq!(
            resolve(Scope::User, None, p("/xdg"), p("/home/u")).unwrap(),
            PathBuf::from("/xdg/pm2ctl")
        );
        assert_eq!(
            resolve(Scope::User, None, p("relative"), p("/home/u")).unwrap(),
            PathBuf::from("/home/u/.local/state/pm2ctl")
        );
        assert!(resolve(Scope::User, None, None, None).is_err());
    }
}
