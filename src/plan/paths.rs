//! Path helpers for the plan: lexical only (the plan does no I/O, and a path must mean the
//! same thing whether or not it exists yet, e.g. a log file).

use std::path::{Component, Path, PathBuf};

/// Removes `.` and resolves `..` lexically (`/a/b/../c` → `/a/c`); never climbs above `/`.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let popped =
                    matches!(out.components().next_back(), Some(Component::Normal(_))) && out.pop();
                if !popped && !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// Resolves `p` against `base` (absolute `p` stays), with `~/` meaning `home`.
pub fn resolve(p: &Path, base: &Path, home: &Path) -> PathBuf {
    if let Ok(rest) = p.strip_prefix("~") {
        return normalize(&home.join(rest));
    }
    normalize(&base.join(p))
}

/// systemd properties are strings: a path that is not UTF-8 cannot be sent.
pub fn to_utf8(path: &Path, what: &str) -> Result<String, String> {
    path.to_str()
        .map(str::to_string)
        .ok_or_else(|| format!("the {what} path {} is not valid UTF-8", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_lexically() {
        assert_eq!(normalize(Path::new("/a/./b/../c")), Path::new("/a/c"));
        assert_eq!(normalize(Path::new("/../x")), Path::new("/x"));
        assert_eq!(normalize(Path::new("a/../..")), Path::new(".."));
        assert_eq!(normalize(Path::new("./")), Path::new("."));
    }

    #[test]
    fn resolves_against_base_and_home() {
        let (base, home) = (Path::new("/srv/app"), Path::new("/home/u"));
        assert_eq!(
            resolve(Path::new("x.js"), base, home),
            Path::new("/srv/app/x.js")
        );
        assert_eq!(
            resolve(Path::new("/opt/y"), base, home),
            Path::new("/opt/y")
        );
        assert_eq!(
            resolve(Path::new("~/bin/z"), base, home),
            Path::new("/home/u/bin/z")
        );
        assert_eq!(
            resolve(Path::new("../lib"), base, home),
            Path::new("/srv/lib")
        );
    }
}
