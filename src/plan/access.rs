//! What each app's account must reach on the host for its units to start: its script, its
//! interpreter, its working directory, the Node shim, pm2ctl's `exec-wrap` and the
//! directories of its log files. The plan only says which paths and what for; whether the
//! account can is the host's to answer (`crate::preflight`), before any unit is touched.

use std::path::PathBuf;

/// What the account must be able to do with a path (beyond passing every directory above it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read the file (a script an interpreter loads, the Node shim).
    Read,
    /// Execute the file (the interpreter, a script run directly, pm2ctl's exec-wrap).
    Execute,
    /// Enter the directory (the working directory).
    Enter,
    /// Append to the file if it exists, else create it in its directory or in the nearest
    /// one that exists (log files: exec-wrap creates what is missing).
    Append,
}

/// One path an app needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    /// What the path is to the app, for messages: "script", "interpreter", ….
    pub what: &'static str,
    pub path: PathBuf,
    pub access: Access,
}

/// The paths one app needs, and who needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppAccess {
    pub app: String,
    /// `User=`: the account the app runs as; `None` runs it as the manager's own user (root
    /// for the system manager, the caller for a user's).
    pub user: Option<String>,
    /// `Group=`, when the file sets `group`.
    pub group: Option<String>,
    pub needs: Vec<Need>,
}

impl AppAccess {
    pub(super) fn need(&mut self, what: &'static str, path: impl Into<PathBuf>, access: Access) {
        let path = path.into();
        if !self
            .needs
            .iter()
            .any(|n| n.path == path && n.access == access)
        {
            self.needs.push(Need { what, path, access });
        }
    }
}
