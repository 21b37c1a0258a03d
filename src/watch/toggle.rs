//! PM2's watch switches on apps that run: `restart --watch` toggles watching, `stop --watch`
//! stops it with the app, `start NAME --watch` turns it on. An app's watching is its watch
//! agent, a companion unit in its plan: turning it on or off changes the recorded plan (and
//! definition) and goes through the apply engine.

use crate::apply::{self, DesiredApp};
use crate::ecosystem::{App, Watch};
use crate::host::Host;
use crate::lifecycle::outcome::ActionFailed;
use crate::lifecycle::{self, act, Action, Proc};
use crate::plan::{companion, AppPlan, HostFacts, Scope};
use crate::state::{self, AppRecord, Desired, Store};
use crate::systemd::Client;
use crate::target;
use crate::unit::name::AppUnitNames;
use crate::unit::Value;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What `--watch` does to the watching of the apps it restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchChange {
    /// `restart --watch`: watched apps stop being watched, the others start.
    Toggle,
    /// `start NAME --watch`: every app is watched (those already watched are left so).
    On,
}

/// `restart --watch TARGETS`: selects, then `restart_watching`.
pub fn select_and_restart(
    host: &Host,
    scope: Scope,
    targets: &[String],
    change: WatchChange,
) -> Result<()> {
    let client = Client::connect(host, scope)?;
    let mut store = state::lock_current(host, scope)?;
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let selected = target::select(targets, &procs)?;
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
pub fn stop_and_unwatch(host: &Host, scope: Scope, targets: &[String]) -> Result<()> {
    let stopped = act::act_on_targets(host, scope, targets, Action::Stop);
    let client = Client::connect(host, scope)?;
    let mut store = state::lock_current(host, scope)?;
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let apps: BTreeSet<String> = target::select(targets, &procs)?
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
        let agent = AppUnitNames::new(name, 0)?.watch_agent();
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
    let names = AppUnitNames::new(&plan.name, 0)?;
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
