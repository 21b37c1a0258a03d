//! `start`: PM2's `start`, for an ecosystem file, a script, or apps already known.
//!
//! * `start ecosystem.toml` applies the file without pruning (`start_or`);
//! * `start api` / `start 3` / `start web` (a known name, id or namespace) restarts what it
//!   selects, starting stopped instances, as PM2 does;
//! * `start app.js --name api -i max -- --flag`: one app, built from PM2's common start
//!   flags by the command line (`Request::script_app`), recorded with its definition (for
//!   `scale`) and applied through the same engine.

use super::outcome::ActionFailed;
use super::start_or::{report_failures, start_apps, start_or, Then};
use super::{actions, processes, scale, targets, Action, Proc};
use crate::apply::Failure;
use crate::ecosystem::{App, Ecosystem};
use crate::host::Host;
use crate::plan::Scope;
use crate::state::{self, Source, Store};
use crate::systemd::Client;
use crate::target::Target;
use crate::watch::toggle::{self, WatchChange};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// What `start` was asked besides its targets.
pub struct Request<'a> {
    /// With a file: only these apps (all when empty).
    pub only: &'a [String],
    /// With a file: its `env_<NAME>` tables; with a script: recorded as its source's env.
    pub env: Option<&'a str>,
    /// `--watch`: a known app is watched from now on.
    pub watch: bool,
    /// `--name`: the name a script runs under.
    pub name: Option<&'a str>,
    /// `-f`: start a script already running once more.
    pub force: bool,
    /// The app a script target describes (its flags applied, relative paths against the
    /// caller's directory, given); called only for a target that is neither a known app
    /// nor an ecosystem file.
    pub script_app: &'a dyn Fn(&str, &Path) -> Result<App>,
}

/// Starts `targets` one after the other, stopping at the first that fails, as PM2 does.
pub fn start(host: &Host, scope: Scope, targets: &[String], request: &Request<'_>) -> Result<()> {
    let client = Client::connect(host, scope)?;
    let mut store = state::lock_current(host, scope)?;
    for target in targets {
        start_one(&client, &mut store, target, request)?;
    }
    Ok(())
}

fn start_one(
    client: &Client,
    store: &mut Store,
    target: &str,
    request: &Request<'_>,
) -> Result<()> {
    // PM2 looks for a known name, namespace or id first: `start api` starts it again.
    let procs = processes::list(client, store.state()).context("cannot list pm2ctl's processes")?;
    let known = Target::parse(target)
        .ok()
        .and_then(|t| t.select(&procs).ok())
        .or_else(|| stopped_same_script(target, request, store, &procs));
    if let Some(selected) = known {
        if request.watch {
            // PM2's `start NAME --watch`: watching on, then the restart.
            return toggle::restart_watching(client, store, &selected, WatchChange::On);
        }
        return restart_known(client, store, &selected);
    }

    if targets::is_file(target) {
        let (eco, source) = targets::load(target, request.only, request.env)?;
        return start_or(client, store, &eco, &source, Then::Restart);
    }
    let failures = start_script(client, store, target, request)?;
    report_failures(&failures)
}

/// PM2's `start SCRIPT` of a script it runs under the same name, stopped: the processes
/// of that app, to start again (a running one is refused by `start_script`).
fn stopped_same_script<'a>(
    target: &str,
    request: &Request<'_>,
    store: &Store,
    procs: &'a [Proc],
) -> Option<Vec<&'a Proc>> {
    if targets::is_file(target) {
        return None;
    }
    let name = request
        .name
        .map_or_else(|| default_name(target), String::from);
    if !targets::script_apps(target, store.state()).contains(&name) {
        return None;
    }
    let selected: Vec<&Proc> = procs.iter().filter(|p| p.name == name).collect();
    let stopped = !selected.is_empty() && selected.iter().all(|p| !p.loaded);
    stopped.then_some(selected)
}

fn restart_known(client: &Client, store: &mut Store, selected: &[&Proc]) -> Result<()> {
    actions::announce(Action::Restart, selected);
    let report = actions::run(client, store, Action::Restart, selected)?;
    report.print();
    if report.all_ok() {
        Ok(())
    } else {
        Err(ActionFailed("restartProcessId failed for some processes".into()).into())
    }
}

/// `start SCRIPT`: one app from the flags, recorded with its definition (for `scale`).
fn start_script(
    client: &Client,
    store: &mut Store,
    script: &str,
    request: &Request<'_>,
) -> Result<Vec<Failure>> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let app = (request.script_app)(script, &cwd)?;
    if store.state().app(&app.name).is_some() {
        if !request.force {
            anyhow::bail!(
                "[PM2][ERROR] Script already launched as {}, add -f option to force re-execution",
                app.name
            );
        }
        // PM2 starts one more process under the same name: here, one more instance of the
        // app (names are unique; `list` shows both processes with that name, as PM2's).
        println!(
            "[PM2] Starting {} as {} (one more process)",
            app.script, app.name
        );
        let scaled = scale::scale(client, store, &app.name, scale::ScaleTo::More(1))?;
        for f in &scaled.failures {
            eprintln!("[PM2][ERROR] {f}");
        }
        if !scaled.failures.is_empty() {
            return Err(ActionFailed("the new process did not start".into()).into());
        }
        return Ok(Vec::new());
    }
    let eco = Ecosystem {
        source: PathBuf::from(&app.script),
        base_dir: cwd,
        apps: vec![app.clone()],
        deploy: Default::default(),
    };
    println!("[PM2] Starting {} as {}", app.script, app.name);
    let source = Source {
        file: None,
        env: request.env.map(String::from),
    };
    let failures = start_apps(client, store, &eco, &source)?;
    if let Some(record) = store.state_mut().app_mut(&app.name) {
        record.definition = Some(app);
    }
    store.save()?;
    Ok(failures)
}

/// The name PM2 gives a script started without `--name`: its file name without extension.
pub fn default_name(script: &str) -> String {
    let path = Path::new(script);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if stem.is_empty() {
        script.to_string()
    } else {
        stem
    }
}

/// Where `-l` without a path writes, as PM2's `~/.pm2/logs/<name>.log`: `/var/log/pm2ctl`
/// for the system manager, the state directory's `logs` for a user's.
pub fn default_log_file(scope: Scope, name: &str) -> Result<PathBuf> {
    let dir = match scope {
        Scope::System => PathBuf::from("/var/log/pm2ctl"),
        Scope::User => state::default_dir(scope)
            .context("-l without a path: give it a path")?
            .join("logs"),
    };
    // PM2's file names: the name with anything but letters, digits, `.` and `-` as `-`.
    let file: String = name
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                true => c,
                false => '-',
            },
        )
        .collect();
    Ok(dir.join(format!("{file}.log")))
}

/// The caller's environment as an app started from the command line gets it (PM2's rule),
/// less what `ecosystem::pm2_dump::inheritable` leaves out.
pub fn caller_env(vars: impl Iterator<Item = (OsString, OsString)>) -> BTreeMap<String, String> {
    vars.filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .filter(|(k, v)| crate::ecosystem::pm2_dump::inheritable(k, v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_environment_is_passed_on_as_pm2_does() {
        let vars = [
            ("NODE_ENV", "production"),
            ("PATH", "/opt/node/bin:/usr/bin"),
            ("HOME", "/root"),
            ("INVOCATION_ID", "abc"),
            ("PM2CTL_STATE_DIR", "/x"),
            ("BASH_FUNC_f%%", "() { :; }"),
            ("MULTI", "a\nb"),
        ]
        .map(|(k, v)| (k.into(), v.into()));
        let env = caller_env(vars.into_iter());
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(keys, ["NODE_ENV", "PATH"]);
    }

    #[test]
    fn pm2s_default_log_file_is_named_after_the_app() {
        assert_eq!(
            default_log_file(Scope::System, "my api").unwrap(),
            Path::new("/var/log/pm2ctl/my-api.log")
        );
    }
}
