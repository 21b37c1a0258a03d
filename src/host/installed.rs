//! Where the packages install pm2ctl's own files, and how pm2ctl finds them at run time
//! (packaging/README.md lists the whole layout).

use std::path::{Path, PathBuf};

/// Overrides where the Node shim is looked for (tests, unusual installs).
pub const NODE_SHIM_VAR: &str = "PM2CTL_SHIM";

/// Where the .deb and .rpm put the Node shim.
pub const NODE_SHIM_INSTALLED: &str = "/usr/lib/pm2ctl/pm2ctl-shim.js";

/// Where an install from source under /usr/local puts it.
const NODE_SHIM_LOCAL: &str = "/usr/local/lib/pm2ctl/pm2ctl-shim.js";

/// The shim in the source tree this binary was built from, for `cargo run` and the tests.
const NODE_SHIM_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/shim/node/pm2ctl-shim.js");

/// The Node shim apps are started with: `$PM2CTL_SHIM` if set, else the first of the
/// packaged copy, a /usr/local copy and the build tree's that exists. When none does, the
/// packaged path, so that whatever fails later names the place a package would have put it.
pub fn node_shim() -> PathBuf {
    let var = std::env::var_os(NODE_SHIM_VAR).filter(|v| !v.is_empty());
    resolve_node_shim(var.map(PathBuf::from), |p| p.is_file())
}

fn resolve_node_shim(explicit: Option<PathBuf>, exists: impl Fn(&Path) -> bool) -> PathBuf {
    if let Some(path) = explicit {
        return path;
    }
    [NODE_SHIM_INSTALLED, NODE_SHIM_LOCAL, NODE_SHIM_SOURCE]
        .into_iter()
        .map(Path::new)
        .find(|p| exists(p))
        .unwrap_or(Path::new(NODE_SHIM_INSTALLED))
        .to_path_buf()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_wins_then_the_package_then_usr_local_then_the_build_tree() {
        let only = |wanted: &'static str| move |p: &Path| p == Path::new(wanted);
        assert_eq!(
            resolve_node_shim(Some("/opt/shim.js".into()), |_| true),
            PathBuf::from("/opt/shim.js")
        );
        assert_eq!(
            resolve_node_shim(None, |_| true),
            PathBuf::from(NODE_SHIM_INSTALLED)
        );
        assert_eq!(
            resolve_node_shim(None, only(NODE_SHIM_LOCAL)),
            PathBuf::from(NODE_SHIM_LOCAL)
        );
        let built = resolve_node_shim(None, only(NODE_SHIM_SOURCE));
        assert!(built.ends_with("shim/node/pm2ctl-shim.js"), "{built:?}");
        assert!(built.is_file(), "the build tree's shim exists: {built:?}");
        assert_eq!(
            resolve_node_shim(None, |_| false),
            PathBuf::from(NODE_SHIM_INSTALLED)
        );
    }
}
