//! Companion units: what serves a whole app beside its instances, planned from the same
//! model and applied, pruned, deleted and rendered with the app.
//!
//! - `cron_restart` → `pm2ctl-<esc>-cron.timer` (`OnCalendar=` from `ecosystem::cron`) and
//!   the oneshot `pm2ctl-<esc>-cron.service` it triggers, which runs `pm2ctl restart <app>`:
//!   the app's instances restart, and a stopped app starts, as under PM2. A transient timer
//!   cannot name another unit (`Unit=` is not transient), hence the service of its own name.
//! - `max_memory_restart` → `pm2ctl-<esc>-memory.timer` and `.service`: the graceful check
//!   below the hard limit (see `memory`).
//! - `watch` → `pm2ctl-<esc>-watch.service` running `pm2ctl watch-agent`, which watches the
//!   paths recursively (inotify), skips the ignored ones and restarts the app over D-Bus
//!   once changes settle for `watch_delay`. systemd's `.path` units are not recursive and
//!   have no ignore patterns.
//!
//! Both run pm2ctl itself, against the same manager (`--system`/`--user`) and state
//! directory (`PM2CTL_STATE_DIR` when the caller set it) as the command that planned them,
//! sandboxed by `sandbox::companion` with only what each needs.

use super::sandbox::{self, CompanionNeed};
use super::{Companion, HostFacts, Scope};
use crate::ecosystem::{cron, App, Watch};
use crate::unit::name::AppUnitNames;
use crate::unit::{ExecCommand, UnitKind, UnitSpec, Value};
use std::path::{Path, PathBuf};

/// Variables a companion's pm2ctl needs from the caller to find the same state.
const FORWARDED_VARS: &[&str] = &["PM2CTL_STATE_DIR", "PM2CTL_CONFIG_DIR"];

/// What the companions of one app are planned from.
pub struct Inputs<'a> {
    pub app: &'a App,
    pub names: &'a AppUnitNames,
    pub host: &'a HostFacts,
    /// The app's working directory: `watch = true` watches it, relative paths start there.
    pub cwd: &'a Path,
    /// The pm2ctl binary the companions run; `None` when it cannot be found.
    pub pm2ctl: Option<&'a str>,
    /// The app's description text (control characters escaped).
    pub readable_name: &'a str,
}

/// The companions an app needs, or the problems that prevent them.
pub fn plan(inputs: &Inputs<'_>) -> Result<Vec<Companion>, Vec<String>> {
    let app = inputs.app;
    let wants_cron = app.cron_restart.is_some();
    let wants_watch = app.watch != Watch::Off;
    if !wants_cron && !wants_watch {
        return Ok(Vec::new());
    }
    let Some(pm2ctl) = inputs.pm2ctl else {
        return Err(vec![
            "cron_restart and watch run pm2ctl itself, which is not on PATH".to_string(),
        ]);
    };
    let mut companions = Vec::new();
    let mut problems = Vec::new();
    if let Some(pattern) = &app.cron_restart {
        match cron::on_calendar(pattern) {
            Ok(calendar) => companions.push(cron_companion(inputs, pm2ctl, pattern, calendar)),
            Err(e) => problems.push(format!("cron_restart: {e}")),
        }
    }
    if wants_watch {
        companions.push(watch_agent(inputs, pm2ctl));
    }
    if problems.is_empty() {
        Ok(companions)
    } else {
        Err(problems)
    }
}

fn cron_companion(
    inputs: &Inputs<'_>,
    pm2ctl: &str,
    pattern: &str,
    calendar: Vec<String>,
) -> Companion {
    let names = inputs.names;
    let mut timer = UnitSpec::new(names.cron_timer(), UnitKind::Timer);
    timer.set(
        "Description",
        Value::Str(format!(
            "pm2ctl cron_restart of {} ({})",
            inputs.readable_name,
            pattern.trim()
        )),
    );
    timer.set(
        "TimersCalendar",
        Value::Pairs(
            calendar
                .into_iter()
                .map(|spec| ("OnCalendar".to_string(), spec))
                .collect(),
        ),
    );
    // systemd's default accuracy is a minute; cron patterns may name seconds.
    timer.set("AccuracyUSec", Value::U64(1_000_000));

    let mut service = base_service(
        inputs,
        names.cron_service(),
        format!("pm2ctl cron_restart of {}", inputs.readable_name),
    );
    service.set("Type", Value::Str("oneshot".into()));
    service.set(
        "ExecStart",
        Value::Exec(vec![pm2ctl_command(
            pm2ctl,
            inputs.host.scope,
            &["restart"],
            &inputs.app.name,
        )]),
    );
    finish(inputs, &mut service, CompanionNeed::Nothing);
    Companion {
        timer: Some(timer),
        service,
    }
}

/// The watch agent of `inputs.app` (whose `watch` is on).
pub fn watch_agent(inputs: &Inputs<'_>, pm2ctl: &str) -> Companion {
    let app = inputs.app;
    let paths: Vec<String> = match &app.watch {
        Watch::Paths(paths) => paths
            .iter()
            .map(|p| inputs.cwd.join(p).to_string_lossy().into_owned())
            .collect(),
        Watch::Cwd | Watch::Off => vec![inputs.cwd.to_string_lossy().into_owned()],
    };
    let delay_ms = app.watch_delay.as_millis().to_string();
    let mut args: Vec<String> = vec![
        "watch-agent".into(),
        "--delay-ms".into(),
        delay_ms,
        "--cwd".into(),
        inputs.cwd.to_string_lossy().into_owned(),
    ];
    // Only when set, so the agents of apps without `watch_options` keep their fingerprint.
    if app.watch_options.follow_symlinks {
        args.push("--follow-symlinks".into());
    }
    if let Some(every) = app.watch_options.poll_interval() {
        args.push("--poll-ms".into());
        args.push(every.as_millis().to_string());
    }
    for pattern in &app.ignore_watch {
        args.push("--ignore".into());
        args.push(pattern.clone());
    }
    for path in paths {
        args.push("--path".into());
        args.push(path);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let mut service = base_service(
        inputs,
        inputs.names.watch_agent(),
        format!("pm2ctl watch of {}", inputs.readable_name),
    );
    service.set("Type", Value::Str("exec".into()));
    service.set(
        "ExecStart",
        Value::Exec(vec![pm2ctl_command(
            pm2ctl,
            inputs.host.scope,
            &args,
            &app.name,
        )]),
    );
    service.set("Restart", Value::Str("on-failure".into()));
    service.set("RestartUSec", Value::U64(1_000_000));
    finish(inputs, &mut service, CompanionNeed::ReadAnyFile);
    Companion {
        timer: None,
        service,
    }
}

/// What every companion service has first: description and the app's slice.
pub(super) fn base_service(inputs: &Inputs<'_>, name: String, description: String) -> UnitSpec {
    let mut s = UnitSpec::new(name, UnitKind::Service);
    s.set("Description", Value::Str(description));
    s.set("Slice", Value::Str(inputs.names.slice()));
    s
}

/// What every companion service has last: the caller's state location, its sandbox (with
/// `need`), and its journal tag.
pub(super) fn finish(inputs: &Inputs<'_>, s: &mut UnitSpec, need: CompanionNeed) {
    let env: Vec<String> = FORWARDED_VARS
        .iter()
        .filter_map(|var| {
            let (_, value) = inputs.host.caller_env.iter().find(|(k, _)| k == var)?;
            Some(format!("{var}={value}"))
        })
        .collect();
    if !env.is_empty() {
        s.set("Environment", Value::StrList(env));
    }
    let state_dir = system_state_dir(inputs.host);
    sandbox::companion(s, inputs.host, state_dir.as_deref(), need);
    s.set("SyslogIdentifier", Value::Str("pm2ctl".into()));
}

/// The state directory the companion's pm2ctl uses on the system manager: the caller's
/// `PM2CTL_STATE_DIR` (forwarded above), else the default. `None` on a user's manager.
fn system_state_dir(host: &HostFacts) -> Option<PathBuf> {
    if host.scope != Scope::System {
        return None;
    }
    let explicit = host
        .caller_env
        .iter()
        .find(|(k, v)| k == super::dirs::STATE_DIR_VAR && !v.is_empty())
        .map(|(_, v)| PathBuf::from(v));
    super::dirs::resolve_state_dir(Scope::System, explicit, None, None).ok()
}

/// `pm2ctl <verb…> --system|--user -- <app>`: the app's name after `--`, so no name can
/// read as an option.
pub(super) fn pm2ctl_command(pm2ctl: &str, scope: Scope, verb: &[&str], app: &str) -> ExecCommand {
    let scope_flag = match scope {
        Scope::System => "--system",
        Scope::User => "--user",
    };
    let mut argv = vec![pm2ctl.to_string()];
    argv.extend(verb.iter().map(|s| s.to_string()));
    argv.push(scope_flag.into());
    argv.push("--".into());
    argv.push(app.to_string());
    crate::unit::dollar::encode(&mut argv, 2);
    ExecCommand {
        path: pm2ctl.to_string(),
        argv,
        ignore_failure: false,
    }
}
