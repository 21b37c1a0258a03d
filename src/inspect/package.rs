//! An app's version as PM2 reports it (`pm2_env.version`): the `version` of the first
//! `package.json` found walking up from the script, as PM2's `Utility.findPackageVersion`
//! (lib/tools/find-package-json.js) does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What PM2 puts in `pm2_env.version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Version {
    /// The `version` of the package.json found (a non-string value as its JSON text).
    Found(String),
    /// A package.json was found but has no `version`: PM2 leaves the key out.
    Unversioned,
    /// No package.json up to the root: PM2 prints `N/A`.
    NotFound,
}

impl Version {
    /// The value PM2 shows, `None` when it leaves the key out.
    pub fn as_pm2(&self) -> Option<&str> {
        match self {
            Version::Found(v) => Some(v),
            Version::Unversioned => None,
            Version::NotFound => Some("N/A"),
        }
    }
}

/// Looks versions up, reading each start path once (every instance of an app shares one).
#[derive(Debug, Default)]
pub struct Finder {
    seen: HashMap<PathBuf, Version>,
}

impl Finder {
    /// The version for a process whose script is `exec_path` (PM2's `pm_exec_path`), else
    /// whose working directory is `cwd`. Relative paths (a shell line, nothing planned) have
    /// nothing to walk up from.
    pub fn version(&mut self, exec_path: &str, cwd: &str) -> Version {
        let start = [exec_path, cwd]
            .into_iter()
            .map(Path::new)
            .find(|p| p.is_absolute());
        let Some(start) = start else {
            return Version::NotFound;
        };
        self.seen
            .entry(start.to_path_buf())
            .or_insert_with(|| find(start))
            .clone()
    }
}

/// PM2's walk: `<dir>/package.json` for `start` itself, then each parent, stopping below the
/// root (PM2 never reads `/package.json`). Files that are not valid JSON are skipped.
pub fn find(start: &Path) -> Version {
    for dir in start.ancestors() {
        if dir.parent().is_none() {
            break;
        }
        let Ok(text) = std::fs::read(dir.join("package.json")) else {
            continue;
        };
        let text = text.strip_prefix("\u{feff}".as_bytes()).unwrap_or(&text);
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(text) else {
            continue;
        };
        return match json.get("version") {
            Some(serde_json::Value::String(v)) => Version::Found(v.clone()),
            Some(serde_json::Value::Null) | None => Version::Unversioned,
            Some(other) => Version::Found(other.to_string()),
        };
    }
    Version::NotFound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_valid_package_json_above_the_script_wins() {
        let root = tempfile::tempdir().expect("a temp dir");
        let app = root.path().join("app");
        let lib = app.join("lib");
        std::fs::create_dir_all(&lib).expect("dirs");
        let script = lib.join("server.js");
        std::fs::write(&script, "").expect("script");
        assert_eq!(find(&script), Version::NotFound);

        std::fs::write(
            app.join("package.json"),
            r#"{"name":"app","version":"1.4.2"}"#,
        )
        .expect("package.json");
        assert_eq!(find(&script), Version::Found("1.4.2".into()));

        // A broken file nearer the script is passed over, as PM2 does.
        std::fs::write(lib.join("package.json"), "{ not json").expect("broken");
        assert_eq!(find(&script), Version::Found("1.4.2".into()));

        std::fs::write(lib.join("package.json"), "\u{feff}{\"private\":true}").expect("bom");
        assert_eq!(find(&script), Version::Unversioned);
        assert_eq!(Version::Unversioned.as_pm2(), None);
        assert_eq!(Version::NotFound.as_pm2(), Some("N/A"));
    }

    #[test]
    fn the_script_comes_before_the_working_directory() {
        let root = tempfile::tempdir().expect("a temp dir");
        let (a, b) = (root.path().join("a"), root.path().join("b"));
        for (dir, version) in [(&a, "1.0.0"), (&b, "2.0.0")] {
            std::fs::create_dir_all(dir).expect("dir");
            std::fs::write(
                dir.join("package.json"),
                format!("{{\"version\":\"{version}\"}}"),
            )
            .expect("package.json");
        }
        let script = a.join("index.js").display().to_string();
        let cwd = b.display().to_string();
        let mut finder = Finder::default();
        assert_eq!(
            finder.version(&script, &cwd),
            Version::Found("1.0.0".into())
        );
        assert_eq!(
            finder.version("echo hi", &cwd),
            Version::Found("2.0.0".into())
        );
        assert_eq!(finder.version("echo hi", ""), Version::NotFound);
    }
}
