//! The verbs that select and act (`stop`, `restart`, `delete`, `reset`, `sendSignal`, `reload`):
//! resolve the targets against every instance, run the action on the selection, and, for
//! `delete`, take apps deleted as a whole out of the saved state too (`saved::unsave`), so
//! they do not come back at the next boot. A partly deleted app (some of its instances by
//! id) stays saved as it was, until the next `save`.

use super::outcome::ActionFailed;
use super::start_or::{self, Then};
use super::{actions, processes, reload, targets, Action, Proc};
use crate::boot::saved;
use crate::host::Host;
use crate::plan::Scope;
use crate::state::{self, Store};
use crate::systemd::Client;
use crate::target;
use anyhow::{Context, Result};
use std::collections::BTreeSet;

/// What a verb that selects works on.
pub struct Listed {
    pub client: Client,
    /// Locked until the verb is done: another pm2ctl waits instead of acting on stale ids.
    pub store: Store,
    /// Every instance.
    pub procs: Vec<Proc>,
    /// The targets, file targets (`only` of their apps, named as with `env`) and script
    /// targets standing for their apps (`targets::expand`).
    pub targets: Vec<String>,
}

/// Connects, locks the store and lists every instance, for `targets` to select from.
pub fn lock_and_list(
    host: &Host,
    scope: Scope,
    targets: &[String],
    only: &[String],
    env: Option<&str>,
) -> Result<Listed> {
    let client = Client::connect(host, scope)?;
    let store = state::lock_current(host, scope)?;
    let targets = targets::expand(targets, only, env, store.state())?;
    let procs =
        processes::list(&client, store.state()).context("cannot list pm2ctl's processes")?;
    Ok(Listed {
        client,
        store,
        procs,
        targets,
    })
}

/// Resolves `targets` against every instance, then runs `action` on the selection:
/// nothing is touched unless every target matched.
pub fn act_on_targets(host: &Host, scope: Scope, targets: &[String], action: Action) -> Result<()> {
    act_on(host, scope, targets, &[], None, action)
}

/// `act_on_targets`, where file targets (`only` of their apps, named as with `env`) and
/// script targets stand for their apps (see `targets`).
pub fn act_on(
    host: &Host,
    scope: Scope,
    targets: &[String],
    only: &[String],
    env: Option<&str>,
    action: Action,
) -> Result<()> {
    let Listed {
        client,
        mut store,
        procs,
        targets,
    } = lock_and_list(host, scope, targets, only, env)?;
    let selected: Vec<&Proc> = target::select(&targets, &procs)?;
    actions::announce(action, &selected);
    let known: Vec<String> = store.state().apps.keys().cloned().collect();
    let report = actions::run(&client, &mut store, action, &selected)?;
    report.print();
    if action == Action::Delete {
        // Apps the store forgot: every one of their instances was deleted.
        let deleted: Vec<String> = known
            .into_iter()
            .filter(|name| store.state().app(name).is_none())
            .collect();
        let units: Vec<String> = selected
            .iter()
            .flat_map(|p| p.socket.iter().chain([&p.service, &p.slice]))
            .cloned()
            .collect();
        if let Some(said) = saved::unsave(&client, &deleted, &units)? {
            println!("[PM2] {said}");
        }
    }
    if report.all_ok() {
        Ok(())
    } else {
        Err(ActionFailed(format!("{} failed for some processes", action.pm2_name())).into())
    }
}

/// `reload TARGETS`: a file target is PM2's `startOrReload FILE`; the other targets (script
/// targets standing for their apps) reload `parallel` instances at a time, each ready
/// before the next.
pub fn reload_targets(
    host: &Host,
    scope: Scope,
    targets: &[String],
    only: &[String],
    env: Option<&str>,
    parallel: usize,
) -> Result<()> {
    start_or::files_then(host, scope, targets, only, env, Then::Reload, |others| {
        let Listed {
            client,
            mut store,
            procs,
            targets,
        } = lock_and_list(host, scope, others, only, None)?;
        let selected: Vec<&Proc> = target::select(&targets, &procs)?;
        if reload::reload_selected(&client, &mut store, &selected, parallel)? {
            Ok(())
        } else {
            Err(ActionFailed("reload failed for some processes".into()).into())
        }
    })
}

/// `kill`: every app stopped and removed, as PM2's `kill` deletes every process before it
/// stops its daemon, with PM2's lines.
pub fn kill_all(host: &Host, scope: Scope) -> Result<()> {
    let client = Client::connect(host, scope)?;
    let mut store = state::lock_current(host, scope)?;
    let procs =
        processes::list(&client, store.state()).context("cannot list pm2ctl's processes")?;
    let all: Vec<&Proc> = procs.iter().collect();
    let mut failed = false;
    if !all.is_empty() {
        actions::announce(Action::Delete, &all);
        let report = actions::run(&client, &mut store, Action::Delete, &all)?;
        report.print();
        failed = !report.all_ok();
    }
    println!("[PM2] [v] All Applications Stopped");
    println!("[PM2] [v] PM2 Daemon Stopped");
    if failed {
        anyhow::bail!("[PM2][ERROR] some processes could not be stopped");
    }
    Ok(())
}

/// `reloadLogs`: the apps that write log files are reloaded, one instance at a time, each
/// ready before the next, and so open their files anew.
pub fn reopen_logs(host: &Host, scope: Scope) -> Result<()> {
    let client = Client::connect(host, scope)?;
    let mut store = state::lock_current(host, scope)?;
    let writers: BTreeSet<String> = store
        .state()
        .apps
        .values()
        .filter(|app| {
            app.plan.instances.iter().any(|i| {
                let (_, out, err) = crate::inspect::collect::command_of(&i.service);
                out.is_some() || err.is_some()
            })
        })
        .map(|app| app.name.clone())
        .collect();
    let procs =
        processes::list(&client, store.state()).context("cannot list pm2ctl's processes")?;
    let selected: Vec<&Proc> = procs
        .iter()
        .filter(|p| p.loaded && writers.contains(&p.name))
        .collect();
    if selected.is_empty() || reload::reload_selected(&client, &mut store, &selected, 1)? {
        Ok(())
    } else {
        anyhow::bail!("[PM2][ERROR] some apps did not reopen their log files")
    }
}
