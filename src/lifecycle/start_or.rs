//! PM2's `startOrRestart`, `startOrReload` and `startOrGracefulReload` of an ecosystem file,
//! which `start FILE`, `restart FILE` and `reload FILE` are too: the file's apps go through
//! the apply engine without pruning (missing ones are created, stopped ones started, changed
//! ones replaced), then those that were running unchanged are restarted or reloaded.

use super::outcome::{ActionFailed, UsageError};
use super::{actions, engine, processes, reload, targets, Action, Proc};
use crate::apply::{self, DesiredApp, Failure};
use crate::ecosystem::Ecosystem;
use crate::host::Host;
use crate::plan::Scope;
use crate::state::{self, Desired, Source, Store};
use crate::systemd::Client;
use anyhow::{Context, Result};

/// What `start FILE` and the `startOr…` verbs do to the file's apps that already ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// `start FILE`, `startOrRestart`, `restart FILE`: restarted.
    Restart,
    /// `startOrReload`, `startOrGracefulReload`, `reload FILE`: reloaded, one instance at
    /// a time, each ready before the next.
    Reload,
}

/// `start_or` of a file target (or `-`), under the store's lock.
pub fn start_or_file(
    host: &Host,
    scope: Scope,
    file: &str,
    only: &[String],
    env: Option<&str>,
    then: Then,
) -> Result<()> {
    // The file first: a broken one changes nothing.
    let (eco, source) = targets::load(file, only, env)?;
    let client = Client::connect(host, scope)?;
    let mut store = state::lock_current(host, scope)?;
    start_or(&client, &mut store, &eco, &source, then)
}

/// `restart FILE`, `reload FILE`: each file target of `targets` as `start_or_file` (its
/// apps applied, those that ran restarted or reloaded); then `rest` on the other targets,
/// if any.
pub fn files_then(
    host: &Host,
    scope: Scope,
    targets: &[String],
    only: &[String],
    env: Option<&str>,
    then: Then,
    rest: impl FnOnce(&[String]) -> Result<()>,
) -> Result<()> {
    let (files, others): (Vec<String>, Vec<String>) =
        targets.iter().cloned().partition(|t| targets::is_file(t));
    for file in &files {
        start_or_file(host, scope, file, only, env, then)?;
    }
    if others.is_empty() {
        return Ok(());
    }
    rest(&others)
}

/// PM2's `start FILE` / `startOrRestart` / `startOrReload`: the file's apps go through the
/// apply engine without pruning (missing ones are created, stopped ones started, changed
/// ones replaced), then those that were running unchanged are restarted or reloaded.
pub fn start_or(
    client: &Client,
    store: &mut Store,
    eco: &Ecosystem,
    source: &Source,
    then: Then,
) -> Result<()> {
    let before =
        processes::list(client, store.state()).context("cannot list pm2ctl's processes")?;
    // The file's names as they run (`append_env_to_name` adds `-<env>`).
    let host = engine::host_facts(client)?;
    let planned = engine::plan(client, eco, source.env.as_deref(), &host)?;
    let running_before: Vec<(String, String)> = planned
        .apps
        .iter()
        .filter(|a| before.iter().any(|p| p.name == a.name && p.loaded))
        .filter_map(|a| {
            let record = store.state().app(&a.name)?;
            Some((a.name.clone(), record.fingerprint.clone()))
        })
        .collect();
    let failures = start_planned(client, store, eco, planned, source)?;
    // Apps the engine replaced (their definition changed) already run new processes.
    let unchanged: Vec<String> = running_before
        .into_iter()
        .filter(|(name, fingerprint)| {
            store
                .state()
                .app(name)
                .is_some_and(|r| &r.fingerprint == fingerprint)
        })
        .map(|(name, _)| name)
        .collect();
    for app in &eco.apps {
        let started = !unchanged.contains(&app.name)
            && !failures.iter().any(|f| f.app == app.name)
            && store.state().app(&app.name).is_some();
        if started {
            let n = store
                .state()
                .app(&app.name)
                .map_or(0, |r| r.instances.len());
            println!("[PM2] App [{}] launched ({n} instances)", app.name);
        }
    }
    let procs = processes::list(client, store.state()).context("cannot list pm2ctl's processes")?;
    let selected: Vec<&Proc> = procs
        .iter()
        .filter(|p| p.loaded && unchanged.contains(&p.name))
        .collect();
    let ok = selected.is_empty()
        || match then {
            Then::Restart => {
                actions::announce(Action::Restart, &selected);
                let report = actions::run(client, store, Action::Restart, &selected)?;
                report.print();
                report.all_ok()
            }
            Then::Reload => reload::reload_selected(client, store, &selected, 1)?,
        };
    report_failures(&failures)?;
    if ok {
        Ok(())
    } else {
        Err(ActionFailed("some processes did not restart".into()).into())
    }
}

/// Plans `eco` and hands its apps to the apply engine, wanted running (a new app with
/// `autostart = false` is only recorded).
pub fn start_apps(
    client: &Client,
    store: &mut Store,
    eco: &Ecosystem,
    source: &Source,
) -> Result<Vec<Failure>> {
    let host = engine::host_facts(client)?;
    let plan = engine::plan(client, eco, source.env.as_deref(), &host)?;
    start_planned(client, store, eco, plan, source)
}

/// `start_apps` of an ecosystem already planned.
fn start_planned(
    client: &Client,
    store: &mut Store,
    eco: &Ecosystem,
    plan: crate::plan::Plan,
    source: &Source,
) -> Result<Vec<Failure>> {
    if client.host().is_local() {
        crate::preflight::verdict(&plan)
            .map_err(|e| UsageError(format!("{e}\n[PM2][ERROR] nothing was started or changed")))?;
    }
    for warning in &plan.warnings {
        eprintln!("[PM2][WARN] {warning}");
    }
    let desired: Vec<DesiredApp> = plan
        .apps
        .into_iter()
        .map(|app_plan| {
            let known = store.state().app(&app_plan.name).is_some();
            let autostart = eco
                .apps
                .iter()
                .find(|a| a.name == app_plan.name)
                .is_none_or(|a| a.autostart);
            let (plan, fingerprint) = apply::fingerprinted(app_plan);
            DesiredApp {
                plan,
                fingerprint,
                desired: if known || autostart {
                    Desired::Running
                } else {
                    Desired::Stopped
                },
            }
        })
        .collect();
    engine::converge(client, store, &desired, source)
}

/// Prints the units that did not start, as `start` reports them.
pub fn report_failures(failures: &[Failure]) -> Result<()> {
    if failures.is_empty() {
        return Ok(());
    }
    for f in failures {
        eprintln!("[PM2][ERROR] {} ({}): {}", f.app, f.unit, f.reason);
        for line in f.report.lines() {
            eprintln!("  {line}");
        }
    }
    Err(ActionFailed("some apps did not start".into()).into())
}
