//! Where the packages install pm2ctl's own files, and how pm2ctl finds them at run time
//! (packaging/README.md lists the whole layout).

use std::path::{Path, PathBuf};

/// Overrides where the Node shim is looked for (tests, unusual installs).
pub const NODE_SHIM_VAR: &str = "PM2CTL_SHIM";

/// Where the .deb and .rpm put the Node shim.
pub const NODE_SHIM_INSTALLED: &str = "/usr/lib/pm2ctl/pm2ctl-shim.js";

/// The shim in the source tree this binary was built from, for `cargo run` and the tests.
const NODE_SHIM_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/shim/node/pm2ctl-shim.js");

/// The Node shim apps are started with: `$PM2CTL_SHIM` if set, else the installed copy if it
/// exists, else the build tree's. The path is returned even when nothing is there, so that the
/// error (at plan or start time) names the place pm2ctl looked last.
pub fn node_shim() -> PathBuf {
    let var = std::env::var_os(NODE_SHIM_VAR).filter(|v| !v.is_empty());
    resolve_node_shim(var.map(PathBuf::from), |p| p.is_file())
}

fn resolve_node_shim(explicit: Option<PathBuf>, exists: impl Fn(&Path) -> bool) -> PathBuf {
    if let Some(path) = explicit {
        return path;
    }
    let installed = Path::new(NODE_SHIM_INSTALLED);
    if exists(installed) {
        return installed.to_path_buf();
    }
    PathBuf::from(NODE_SHIM_SOURCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_wins_then_the_installed_copy_then_the_build_tree() {
        let anywhere = |_: &Path| true;
        let nowhere = |_: &Path| false;
        assert_eq!(
            resolve_node_shim(Some("/opt/shim.js".into()), anywhere),
            PathBuf::from("/opt/shim.js")
        );
        assert_eq!(
            resolve_node_shim(None, anywhere),
            PathBuf::from(NODE_SHIM_INSTALLED)
        );
        let built = resolve_node_shim(None, nowhere);
        assert!(built.ends_with("shim/node/pm2ctl-shim.js"), "{built:?}");
        assert!(built.is_file(), "the build tree's shim exists: {built:?}");
    }
}
