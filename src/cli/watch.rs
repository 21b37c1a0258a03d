//! `pm2ctl watch-agent` (hidden): the process of an app's watch unit; and PM2's watch
//! switches: `restart --watch` toggles watching, `stop --watch` stops it with the app,
//! `start NAME --watch` turns it on.

use super::{act_on_targets, finish, ActionFailed, ManagerArgs, TargetArgs};
use crate::apply::{self, DesiredApp};
use crate::ecosystem::{App, Watch};
use crate::host::Host;
use crate::lifecycle::Proc;
use crate::lifecycle::{self, Action};
use crate::plan::{companion, AppPlan, HostFacts};
use crate::state::{self, AppRecord, Desired, Store};
use crate::systemd::Client;
use crate::target;
use crate::unit::name::AppUnitNames;
use crate::unit::Value;
use crate::watch::{agent, ignore::IgnoreRules};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// Quiet time after the last change before the app restarts (`watch_delay`).
    #[arg(long, default_value_t = 0)]
    pub delay_ms: u64,
    /// An `ignore_watch` pattern (repeatable).
    #[arg(long)]
    pub ignore: Vec<String>,
    /// A directory or file to watch, recursively (repeatable).
    #[arg(long, required = true)]
    pub path: Vec<PathBuf>,
    /// The app's working directory: relative ignore patterns start there.
    #[arg(long)]
    pub cwd: PathBuf,
    /// Watch the directories symbolic links point to (`watch_options.followSymlinks`).
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Poll every MS milliseconds instead of using inotify (`watch_options.usePolling`).
    #[arg(long, value_name = "MS")]
    pub poll_ms: Option<u64>,
    #[command(flatten)]
    pub manager: ManagerArgs,
    /// The app to restart.
    pub app: String,
}

pub fn run_agent(args: AgentArgs) -> ExitCode {
    finish(agent_loop(&args))
}

fn agent_loop(args: &AgentArgs) -> Result<()> {
    let config = agent::Config {
        app: args.app.clone(),
        paths: args.path.clone(),
        ignore: IgnoreRules::new(&args.ignore, &args.cwd)?,
        delay: Duration::from_millis(args.delay_ms),
        follow_symlinks: args.follow_symlinks,
        poll: args.poll_ms.map(Duration::from_millis),
    };
    agent::run(&config, |changed| {
        // A stopped app stays stopped: only `start` or `restart` runs it again.
        let dir = state::default_dir(args.manager.scope())?;
        let stopped = state::read(&dir)
            .ok()
            .and_then(|s| s.app(&args.app).map(|a| a.desired == Desired::Stopped))
            .unwrap_or(false);
        if stopped {
            println!(
                "change detected on {}: app {} is stopped, not restarted",
                changed.display(),
                args.app
            );
            return Ok(());
        }
        println!(
            "change detected on {}: restarting app {}",
            changed.display(),
            args.app
        );
        act_on_targets(
            &args.manager,
            std::slice::from_ref(&args.app),
            Action::Restart,
        )
    })
}

/// `restart`, with PM2's `--watch`: toggles watching of the selected apps as it restarts them.
#[derive(clap::Args, Debug)]
pub struct RestartArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Toggle watching: a watched app stops being watched, any other starts (its directory,
    /// or the paths and ignores of its definition).
    #[arg(long)]
    pub watch: bool,
    #[command(flatten)]
    pub changes: super::redefine::Changes,
}

pub fn restart(args: RestartArgs) -> ExitCode {
    if !args.watch {
        return finish(super::redefine::restart(&args.target, &args.changes));
    }
    finish(select_and_restart(&args.target, WatchChange::Toggle))
}

/// `stop`, with PM2's `--watch`: stops watching the selected apps as well.
#[derive(clap::Args, Debug)]
pub struct StopArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Stop watching too: the app's watch agent goes, and a later `restart` runs it
    /// unwatched (without it, a stopped app keeps its agent, which leaves it stopped).
    #[arg(long)]
    pub watch: bool,
}

pub fn stop(args: StopArgs) -> ExitCode {
    let code = if args.watch {
        finish(stop_and_unwatch(&args.target))
    } else {
        finish(super::act_on(
            &args.target.manager,
            &args.target.targets,
            &args.target.file.only,
            args.target.file.env.as_deref(),
            Action::Stop,
        ))
    };
    warn_cron_still_armed(&args.target);
    code
}

/// PM2's warning after `stop`: an app with `cron_restart` starts again at cron time.
fn warn_cron_still_armed(args: &TargetArgs) {
    let Ok(store) = state::lock_current(&args.manager.host, args.manager.scope()) else {
        return;
    };
    let procs = store.state().processes();
    let Ok(selected) = target::select(&args.targets, &procs) else {
        return;
    };
    let apps: BTreeSet<&str> = selected.iter().map(|p| p.app.name.as_str()).collect();
    for name in apps {
        let Some(app) = store.state().app(name) else {
            continue;
        };
        let Ok(names) = AppUnitNames::new(name, 0) else {
            continue;
        };
        let timer = names.cron_timer();
        let cron = app
            .plan
            .companions
            .iter()
            .filter_map(|c| c.timer.as_ref())
            .find(|t| t.name == timer)
            .map(cron_pattern);
        if let Some(pattern) = cron {
            eprintln!(
                "[PM2][WARN] App {name} stopped but its cron_restart ({pattern}) is still armed: \
                 it starts again at cron time (`delete` removes it)"
            );
        }
    }
}

/// The calendar a cron timer fires on, as systemd reads it.
fn cron_pattern(timer: &crate::unit::UnitSpec) -> String {
    match timer.get("TimersCalendar") {
        Some(Value::Pairs(pairs)) => pairs
            .iter()
            .map(|(_, spec)| spec.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        _ => "its timer".to_string(),
    }
}

/// What `--watch` does to the watching of the apps it restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchChange {
    /// `restart --watch`: watched apps stop being watched, the others start.
    Toggle,
    /// `start NAME --watch`: every app is watched (those already watched are left so).
    On,
}

fn select_and_restart(args: &TargetArgs, change: WatchChange) -> Result<()> {
    let client = args.manager.connect()?;
    let mut store = state::lock_current(&args.manager.host, args.manager.scope())?;
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let selected = target::select(&args.targets, &procs)?;
    restart_watching(&client, &mut store, &selected, change)
}

/// Sets the watching of the apps of `selected` as `change` says (their watch agents created
/// or removed beside them, through the apply engine), then restarts the selected instances,
/// as PM2's `restart --watch` does.
pub fn restart_watching(
    client: &Client,
    store: &mut Store,
    selected: &[&Proc],
    change: WatchChange,
) -> Result<()> {
    let apps: BTreeSet<String> = selected.iter().map(|p| p.name.clone()).collect();
    let host = lifecycle::engine::host_facts(client)?;
    let mut failures = Vec::new();
    for name in &apps {
        let Some(record) = store.state().app(name).cloned() else {
            continue;
        };
        let watched = record.plan.is_watched();
        let turn_on = match change {
            WatchChange::Toggle => !watched,
            WatchChange::On => true,
        };
        if turn_on != watched {
            let (plan, definition) = with_watching(&record, turn_on, &host, client.host())?;
            let (plan, fingerprint) = apply::fingerprinted(plan);
            let desired = DesiredApp {
                plan,
                fingerprint,
                desired: Desired::Running,
            };
            for f in lifecycle::engine::converge(
                client,
                store,
                std::slice::from_ref(&desired),
                &record.source,
            )? {
                failures.push(format!(
                    "{}: {} did not start: {}\n{}",
                    f.app, f.unit, f.reason, f.report
                ));
            }
            if let (Some(definition), Some(app)) = (definition, store.state_mut().app_mut(name)) {
                app.definition = Some(definition);
            }
            store.save()?;
        }
        // The instances that ran restart; stopped ones were just started by the engine.
        let running: Vec<&Proc> = selected
            .iter()
            .filter(|p| &p.name == name && p.loaded)
            .copied()
            .collect();
        if !running.is_empty() {
            let report = lifecycle::actions::run(client, store, Action::Restart, &running)?;
            for (p, result) in &report.results {
                if let Err(why) = result {
                    failures.push(format!("{}({}): {why}", p.name, p.pm_id));
                }
            }
        }
        println!(
            "[PM2] {name}: restarted, watching {}",
            if turn_on { "enabled" } else { "disabled" }
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        for f in &failures {
            eprintln!("{f}");
        }
        Err(ActionFailed("restart failed for some processes".into()).into())
    }
}

/// Stops the selected processes (as `stop`), then removes the watch agents of their apps
/// and records them unwatched.
fn stop_and_unwatch(args: &TargetArgs) -> Result<()> {
    let stopped = act_on_targets(&args.manager, &args.targets, Action::Stop);
    let client = args.manager.connect()?;
    let mut store = state::lock_current(&args.manager.host, args.manager.scope())?;
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let apps: BTreeSet<String> = target::select(&args.targets, &procs)?
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let host = lifecycle::engine::host_facts(&client)?;
    for name in &apps {
        let Some(record) = store.state().app(name).cloned() else {
            continue;
        };
        if !record.plan.is_watched() {
            continue;
        }
        let (plan, definition) = with_watching(&record, false, &host, client.host())?;
        let agent = AppUnitNames::new(name, 0)
            .map(|n| n.watch_agent())
            .map_err(anyhow::Error::msg)?;
        client.remove_units(std::slice::from_ref(&agent))?;
        let (plan, _) = apply::fingerprinted(plan);
        if let Some(app) = store.state_mut().app_mut(name) {
            app.plan = plan;
            if definition.is_some() {
                app.definition = definition;
            }
        }
        store.save()?;
        println!("[PM2] {name}: watching disabled");
    }
    stopped
}

/// The app's recorded plan with its watch agent dropped (`on` false) or added (planned
/// from the recorded definition when there is one, else watching the app's working
/// directory with PM2's default ignores), and its recorded definition to match, if any.
fn with_watching(
    record: &AppRecord,
    on: bool,
    host: &HostFacts,
    machine: &Host,
) -> Result<(AppPlan, Option<App>)> {
    let mut plan = record.plan.clone();
    let names = AppUnitNames::new(&plan.name, 0).map_err(anyhow::Error::msg)?;
    if !on {
        let agent = names.watch_agent();
        plan.companions.retain(|c| c.service.name != agent);
        let definition = record.definition.clone().map(|mut app| {
            app.watch = Watch::Off;
            app
        });
        return Ok((plan, definition));
    }
    let mut app = record
        .definition
        .clone()
        .unwrap_or_else(|| App::with_defaults(&plan.name, ""));
    if app.watch == Watch::Off {
        app.watch = Watch::Cwd;
    }
    let cwd = plan
        .instances
        .first()
        .and_then(|i| match i.service.get("WorkingDirectory") {
            Some(Value::Str(dir)) => Some(PathBuf::from(dir)),
            _ => None,
        })
        .unwrap_or_else(|| host.cwd.clone());
    // The agent runs where the app runs: on another host, that host's own pm2ctl.
    let pm2ctl = match machine.target() {
        Some(target) => host.self_exe.clone().with_context(|| {
            format!("watching on {target} needs pm2ctl on its PATH: the watch agent runs there")
        })?,
        None => std::env::current_exe().context("cannot find the pm2ctl binary")?,
    };
    let pm2ctl = pm2ctl.to_string_lossy();
    let readable = crate::plan::readable(&plan.name);
    plan.companions.push(companion::watch_agent(
        &companion::Inputs {
            app: &app,
            names: &names,
            host,
            cwd: &cwd,
            pm2ctl: Some(&pm2ctl),
            readable_name: &readable,
        },
        &pm2ctl,
    ));
    let definition = record.definition.is_some().then_some(app);
    Ok((plan, definition))
}
