//! What PM2 accepts as a target besides names, namespaces and ids: an ecosystem file (or
//! `-`, one read from stdin) stands for the apps it declares, and a script's file name
//! (`stop echo.js`) for the apps that run that script, as PM2 resolves them.

use crate::ecosystem::{self, Ecosystem, Format};
use crate::state::{Source, State};
use anyhow::{Context, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// PM2's rule for an ecosystem file (a known config extension anywhere in the name) plus
/// pm2ctl's `.toml`.
pub fn is_ecosystem_file(target: &str) -> bool {
    const KNOWN: [&str; 7] = [
        ".toml",
        ".json",
        ".yml",
        ".yaml",
        ".config.js",
        ".config.cjs",
        ".config.mjs",
    ];
    KNOWN.iter().any(|ext| target.contains(ext))
}

/// An ecosystem file (PM2's rule on the name, plus `.toml`) or `-` for stdin.
pub fn is_file(target: &str) -> bool {
    target == "-" || is_ecosystem_file(target)
}

/// The ecosystem a file target names, with only the apps of `only` (comma-separated on
/// the command line; all when empty), and where it came from. `-` reads JSON from stdin,
/// as PM2's `start -` does; its relative paths are the current directory's.
pub fn load(target: &str, only: &[String], env: Option<&str>) -> Result<(Ecosystem, Source)> {
    let (mut eco, file) = if target == "-" {
        let mut text = String::new();
        std::io::stdin()
            .take(ecosystem::MAX_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .context("cannot read the ecosystem from stdin")?;
        let (mut eco, warnings) = crate::load::from_text(Path::new("<stdin>"), &text, Format::Json)
            .map_err(anyhow::Error::new)?;
        print_warnings(&warnings);
        eco.base_dir = std::env::current_dir().context("cannot read the current directory")?;
        (eco, None)
    } else {
        let file = std::path::absolute(target)
            .with_context(|| format!("cannot resolve the path {target}"))?;
        let (eco, warnings) = crate::boot::saved::load(&file).map_err(anyhow::Error::new)?;
        print_warnings(&warnings);
        (eco, Some(file))
    };
    if !only.is_empty() {
        eco.apps.retain(|a| only.contains(&a.name));
    }
    let source = Source {
        file,
        env: env.map(String::from),
    };
    Ok((eco, source))
}

/// A file's warnings (unknown keys of PM2's formats), on stderr.
pub fn print_warnings(warnings: &[ecosystem::Warning]) {
    for w in warnings {
        eprintln!("{w}");
    }
}

/// The names of the apps of a file target as they run (`append_env_to_name` adds the env).
pub fn app_names(eco: &Ecosystem, env: Option<&str>) -> Vec<String> {
    eco.apps
        .iter()
        .map(|a| match env {
            Some(env) if a.append_env_to_name => format!("{}-{env}", a.name),
            _ => a.name.clone(),
        })
        .collect()
}

/// The apps that run the script `target` names (PM2 compares the script's path, resolved
/// against the current directory, with each process' `pm_exec_path`); none when `target`
/// is an app's name, which comes first.
pub fn script_apps(target: &str, state: &State) -> Vec<String> {
    if state.app(target).is_some() || target == "all" {
        return Vec::new();
    }
    let Ok(path) = std::path::absolute(target) else {
        return Vec::new();
    };
    let wanted = normal(&path);
    state
        .apps
        .values()
        .filter(|app| {
            app.plan.instances.first().is_some_and(|i| {
                let (command, _, _) = crate::inspect::collect::command_of(&i.service);
                !command.exec_path.is_empty() && normal(Path::new(&command.exec_path)) == wanted
            })
        })
        .map(|app| app.name.clone())
        .collect()
}

/// `path` without `.` components, and with its symbolic links resolved when it exists.
fn normal(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| {
        path.components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect()
    })
}

/// Replaces file targets by the names of their apps and script targets by the apps that
/// run them, for the verbs that only select (`stop`, `delete`): other targets are kept.
pub fn expand(
    targets: &[String],
    only: &[String],
    env: Option<&str>,
    state: &State,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for target in targets {
        if is_file(target) {
            let (eco, source) = load(target, only, env)?;
            out.extend(app_names(&eco, source.env.as_deref()));
            continue;
        }
        let by_script = script_apps(target, state);
        if by_script.is_empty() {
            out.push(target.clone());
        } else {
            out.extend(by_script);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_stdin_are_file_targets() {
        assert!(is_file("-"));
        assert!(is_file("ecosystem.config.js"));
        assert!(is_file("all.json"));
        assert!(is_file("process.yml"));
        assert!(!is_file("echo.js"));
        assert!(!is_file("api"));
    }

    #[test]
    fn files_and_scripts_are_told_apart_as_pm2_does() {
        assert!(is_ecosystem_file("ecosystem.config.js"));
        assert!(is_ecosystem_file("deploy/ecosystem.toml"));
        assert!(is_ecosystem_file("apps.json"));
        assert!(!is_ecosystem_file("app.js"));
        assert!(!is_ecosystem_file("python3"));
    }
}
