//! pm2ctl's own directories on a host: where its state store lives and its runtime
//! directory. Pure rules over values the caller reads (environment, scope): `state` and the
//! boot-time hand-over use them at run time, the plan to leave them writable to companions.

use super::Scope;
use anyhow::Result;
use std::path::PathBuf;

/// Overrides the state directory for either scope (tests, sandboxes, packaging).
pub const STATE_DIR_VAR: &str = "PM2CTL_STATE_DIR";

/// The state directory of the system manager when `PM2CTL_STATE_DIR` does not say.
pub const SYSTEM_STATE_DIR: &str = "/var/lib/pm2ctl";

/// pm2ctl's runtime directory on the system manager (cleared at boot).
pub const SYSTEM_RUNTIME_DIR: &str = "/run/pm2ctl";

/// pm2ctl's runtime directory for `scope`: [`SYSTEM_RUNTIME_DIR`], or `pm2ctl` under the
/// user's runtime directory (`$XDG_RUNTIME_DIR`, given by the caller) for a user's manager;
/// `None` when a user's manager has none.
pub fn runtime_dir(scope: Scope, xdg_runtime_dir: Option<PathBuf>) -> Option<PathBuf> {
    match scope {
        Scope::System => Some(PathBuf::from(SYSTEM_RUNTIME_DIR)),
        Scope::User => Some(xdg_runtime_dir.filter(|d| d.is_absolute())?.join("pm2ctl")),
    }
}

/// Where `apply` leaves the new environment of an instance it rolls by hand-over, for the
/// instance's Node shim to start the new process with (`<dir>/<INVOCATION_ID>.json`):
/// under pm2ctl's runtime directory, which a unit's sandbox leaves readable.
pub fn handover_dir(scope: Scope, uid: u32) -> PathBuf {
    match scope {
        Scope::System => PathBuf::from(SYSTEM_RUNTIME_DIR).join("handover"),
        Scope::User => PathBuf::from(format!("/run/user/{uid}/pm2ctl/handover")),
    }
}

/// The state directory for `scope`: `explicit` (`$PM2CTL_STATE_DIR`) if given, else
/// [`SYSTEM_STATE_DIR`] for the system manager and `$XDG_STATE_HOME/pm2ctl` (default
/// `~/.local/state/pm2ctl`) for a user's manager.
pub fn resolve_state_dir(
    scope: Scope,
    explicit: Option<PathBuf>,
    xdg_state_home: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    match scope {
        Scope::System => Ok(PathBuf::from(SYSTEM_STATE_DIR)),
        Scope::User => {
            // The XDG spec says relative values are invalid and must be ignored.
            if let Some(xdg) = xdg_state_home.filter(|p| p.is_absolute()) {
                return Ok(xdg.join("pm2ctl"));
            }
            match home {
                Some(home) => Ok(home.join(".local/state/pm2ctl")),
                None => anyhow::bail!(
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
    fn the_runtime_directory_is_the_scope_s_own() {
        assert_eq!(
            runtime_dir(Scope::System, p("/run/user/1000")),
            p("/run/pm2ctl")
        );
        assert_eq!(
            runtime_dir(Scope::User, p("/run/user/1000")),
            p("/run/user/1000/pm2ctl")
        );
        assert_eq!(runtime_dir(Scope::User, None), None);
        assert_eq!(runtime_dir(Scope::User, p("relative")), None);
    }

    #[test]
    fn the_hand_over_directory_is_under_the_scope_s_runtime_directory() {
        assert_eq!(
            handover_dir(Scope::System, 0),
            PathBuf::from("/run/pm2ctl/handover")
        );
        assert_eq!(
            handover_dir(Scope::User, 1000),
            PathBuf::from("/run/user/1000/pm2ctl/handover")
        );
    }

    #[test]
    fn the_override_wins_in_both_scopes() {
        for scope in [Scope::System, Scope::User] {
            let dir = resolve_state_dir(scope, p("/x"), p("/xdg"), p("/home/u")).unwrap();
            assert_eq!(dir, PathBuf::from("/x"));
        }
    }

    #[test]
    fn system_and_user_defaults() {
        assert_eq!(
            resolve_state_dir(Scope::System, None, p("/xdg"), p("/root")).unwrap(),
            PathBuf::from("/var/lib/pm2ctl")
        );
        assert_eq!(
            resolve_state_dir(Scope::User, None, p("/xdg"), p("/home/u")).unwrap(),
            PathBuf::from("/xdg/pm2ctl")
        );
        assert_eq!(
            resolve_state_dir(Scope::User, None, p("relative"), p("/home/u")).unwrap(),
            PathBuf::from("/home/u/.local/state/pm2ctl")
        );
        assert!(resolve_state_dir(Scope::User, None, None, None).is_err());
    }
}
