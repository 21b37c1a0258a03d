//! `ignore_watch`: which changed paths do not restart the app.
//!
//! PM2 hands the patterns to chokidar, which anchors a relative pattern at the app's
//! directory, so `"logs"` ignores `<cwd>/logs` but not `<cwd>/src/logs`, and PM2's own
//! default is the regular expression `/[\/\\]\.|node_modules/` (a dot file or `node_modules`
//! at any depth). Users trip over the difference (PM2 #2629). pm2ctl reads each pattern as a
//! `.gitignore` line does, which keeps PM2's default meaning and the intent of most files:
//! - a pattern without `/` (`node_modules`, `.*`, `*.log`) matches a file or directory name
//!   at any depth;
//! - a pattern with `/` (`logs/*.txt`, `/tmp/cache`) matches the path from the app's
//!   directory (or the absolute path, when it starts with `/`);
//! - `*`, `?`, `[…]`, `{a,b}` are globs, `**` crosses directories;
//! - what is inside an ignored directory is ignored too, and not even watched.

use anyhow::{Context, Result};
use globset::{GlobBuilder, GlobMatcher};
use std::path::{Component, Path, PathBuf};

/// The compiled `ignore_watch` patterns of one app.
#[derive(Debug, Clone)]
pub struct IgnoreRules {
    /// Relative paths are anchored here: the app's working directory.
    base: PathBuf,
    /// Patterns matched against every name in a path.
    names: Vec<GlobMatcher>,
    /// Patterns matched against the whole path (relative to `base`, or absolute).
    paths: Vec<(GlobMatcher, bool)>,
}

impl IgnoreRules {
    pub fn new(patterns: &[String], base: &Path) -> Result<IgnoreRules> {
        let mut rules = IgnoreRules {
            base: base.to_path_buf(),
            names: Vec::new(),
            paths: Vec::new(),
        };
        for pattern in patterns {
            let trimmed = pattern.trim_end_matches('/');
            if trimmed.is_empty() {
                continue;
            }
            let glob = |text: &str| {
                GlobBuilder::new(text)
                    .literal_separator(true)
                    .build()
                    .map(|g| g.compile_matcher())
                    .with_context(|| format!("ignore_watch: `{pattern}` is not a valid pattern"))
            };
            if trimmed.contains('/') {
                let absolute = trimmed.starts_with('/');
                let text = trimmed.trim_start_matches("./");
                rules.paths.push((glob(text)?, absolute));
            } else {
                rules.names.push(glob(trimmed)?);
            }
        }
        Ok(rules)
    }

    /// Whether a change at `path` (absolute) is ignored: it, or a directory it is in,
    /// matches a pattern.
    pub fn is_ignored(&self, path: &Path) -> bool {
        let relative = path.strip_prefix(&self.base).ok();
        // Names are checked below the base only: the app's own directory may well sit
        // inside a dot directory.
        let below_base = relative.unwrap_or(path);
        let name_hit = below_base.components().any(|c| match c {
            Component::Normal(name) => self.names.iter().any(|g| g.is_match(name)),
            _ => false,
        });
        if name_hit {
            return true;
        }
        self.paths.iter().any(|(glob, absolute)| {
            let candidate = if *absolute { Some(path) } else { relative };
            candidate.is_some_and(|p| {
                p.ancestors()
                    .any(|a| !a.as_os_str().is_empty() && glob.is_match(a))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(patterns: &[&str]) -> IgnoreRules {
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
        IgnoreRules::new(&patterns, Path::new("/srv/app")).unwrap()
    }

    fn ignored(r: &IgnoreRules, path: &str) -> bool {
        r.is_ignored(Path::new(path))
    }

    #[test]
    fn the_default_ignores_dot_files_and_node_modules_at_any_depth() {
        let r = rules(&["node_modules", ".*"]);
        assert!(ignored(&r, "/srv/app/node_modules/x/index.js"));
        assert!(ignored(&r, "/srv/app/lib/node_modules/y.js"));
        assert!(ignored(&r, "/srv/app/.git/HEAD"));
        assert!(ignored(&r, "/srv/app/src/.app.js.swp"));
        assert!(!ignored(&r, "/srv/app/src/app.js"));
        assert!(!ignored(&r, "/srv/app/index.js"));
    }

    #[test]
    fn the_apps_own_directory_may_be_under_a_dot_directory() {
        let r = IgnoreRules::new(&[".*".to_string()], Path::new("/home/u/.apps/api")).unwrap();
        assert!(!ignored(&r, "/home/u/.apps/api/server.js"));
        assert!(ignored(&r, "/home/u/.apps/api/.env"));
    }

    #[test]
    fn names_and_globs_match_at_any_depth() {
        let r = rules(&["logs", "*.log", "tmp?"]);
        assert!(ignored(&r, "/srv/app/logs/out.txt"));
        assert!(ignored(&r, "/srv/app/a/b/logs"));
        assert!(ignored(&r, "/srv/app/a/b/c.log"));
        assert!(ignored(&r, "/srv/app/tmp1/x"));
        assert!(!ignored(&r, "/srv/app/logsx/a"));
        assert!(!ignored(&r, "/srv/app/c.logx"));
    }

    #[test]
    fn patterns_with_a_slash_are_anchored() {
        let r = rules(&["public/uploads", "./cache/", "data/**/*.json", "/var/tmp/x"]);
        assert!(ignored(&r, "/srv/app/public/uploads/a.png"));
        assert!(!ignored(&r, "/srv/app/other/public/uploads/a.png"));
        assert!(ignored(&r, "/srv/app/cache/k"));
        assert!(ignored(&r, "/srv/app/data/a/b/c.json"));
        assert!(!ignored(&r, "/srv/app/data/a/b/c.js"));
        assert!(ignored(&r, "/var/tmp/x/y"));
        assert!(!ignored(&r, "/var/tmp/y"));
    }

    #[test]
    fn a_bad_pattern_is_an_error() {
        let err = IgnoreRules::new(&["a[".to_string()], Path::new("/")).unwrap_err();
        assert!(format!("{err:#}").contains("`a[`"), "{err:#}");
    }
}
