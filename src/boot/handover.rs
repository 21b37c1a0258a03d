//! Hand-over markers: apps whose generated units `apply` replaced with transient ones.
//!
//! After a boot, an app saved with `pm2ctl save` runs from the unit files pm2ctl-generator
//! wrote. `apply` of another definition of it cannot create transient units under those
//! names while the files are loaded, so it marks the app here, stops its units and runs
//! `daemon-reload`: the generator then leaves the app out and its files are gone. The
//! markers live under `/run` (the user's runtime directory for a user's manager), so the
//! next boot clears them and brings the saved state back, as PM2's dump does.
//!
//! The generator reads them too: plain files, no process asked, any error read as "none".

use crate::plan::dirs::runtime_dir;
use crate::plan::Scope;
use crate::unit::name as naming;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Where the markers of `scope` are: `/run/pm2ctl/handed-over`, or
/// `$XDG_RUNTIME_DIR/pm2ctl/handed-over` for a user's manager.
pub fn dir(scope: Scope) -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    Some(runtime_dir(scope, xdg)?.join("handed-over"))
}

/// Marks `app` as handed over until the next boot. The file is named by the escaped app
/// name (any name is a valid file name then) and holds the name itself.
pub fn mark(scope: Scope, app: &str) -> Result<()> {
    let dir = dir(scope).context("XDG_RUNTIME_DIR is not set: no runtime directory")?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let file = dir.join(naming::escape(app));
    std::fs::write(&file, app).with_context(|| format!("cannot write {}", file.display()))
}

/// The apps marked in `scope`; none when the directory cannot be read.
pub fn marked(scope: Scope) -> Vec<String> {
    let Some(entries) = dir(scope).and_then(|d| std::fs::read_dir(d).ok()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect()
}
