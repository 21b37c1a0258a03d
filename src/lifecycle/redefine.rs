//! PM2's `restart` options that change the app as it restarts: `--update-env` (the
//! caller's environment again), `--node-args`, `--cron-restart`, `--name` (a new name: the
//! app's units are named after it, so the old ones go and new ones come, with new pm_ids).
//! An app started from the command line has its definition recorded: it is changed,
//! planned and handed to the apply engine (which replaces the app when its units change);
//! an app of a file is defined by its file, so the options are refused for it with what to
//! do instead.

use super::act::{act_on, lock_and_list, Listed};
use super::outcome::{ActionFailed, UsageError};
use super::start_or::{self, Then};
use super::{actions, engine, processes, start, Action, Proc};
use crate::apply::{self, DesiredApp};
use crate::ecosystem::units::split_args;
use crate::ecosystem::Ecosystem;
use crate::host::Host;
use crate::plan::Scope;
use crate::state::{self, Desired};
use crate::target;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What `restart` changes in the apps it restarts.
#[derive(Debug, Default, Clone, Copy)]
pub struct Changes<'a> {
    /// `--update-env`: an app started from the command line gets the caller's environment
    /// again.
    pub update_env: bool,
    /// New interpreter arguments.
    pub node_args: Option<&'a str>,
    /// A new cron pattern for restarts; `0` removes it.
    pub cron_restart: Option<&'a str>,
    /// A new name for the app (one app only).
    pub name: Option<&'a str>,
}

impl Changes<'_> {
    fn any(&self) -> bool {
        self.update_env || self.redefines()
    }

    /// Whether anything beyond `--update-env` is asked (refused for an app of a file).
    fn redefines(&self) -> bool {
        self.node_args.is_some() || self.cron_restart.is_some() || self.name.is_some()
    }
}

/// `restart TARGETS`: a file target is PM2's `startOrRestart FILE`; the other targets
/// restart, and with changes the selected apps are redefined first (and so replaced when
/// their units change), then the processes that still run their old definition restart.
pub fn restart(
    host: &Host,
    scope: Scope,
    targets: &[String],
    only: &[String],
    env: Option<&str>,
    changes: &Changes<'_>,
) -> Result<()> {
    start_or::files_then(host, scope, targets, only, env, Then::Restart, |targets| {
        if changes.any() {
            restart_changed(host, scope, targets, only, changes)
        } else {
            act_on(host, scope, targets, only, env, Action::Restart)
        }
    })
}

/// Checks `--name NEW` for the apps selected: one app, a valid name no other app has.
fn check_rename(new: &str, apps: &BTreeSet<String>, state: &state::State) -> Result<()> {
    if apps.len() != 1 {
        return Err(UsageError(format!(
            "[PM2][ERROR] --name renames one app; {} are selected ({})",
            apps.len(),
            apps.iter().cloned().collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    crate::ecosystem::check_name(new)
        .map_err(|p| UsageError(format!("[PM2][ERROR] --name `{new}` {}", p.message)))?;
    if state.app(new).is_some() && !apps.contains(new) {
        return Err(UsageError(format!(
            "[PM2][ERROR] --name: an app named {new} already exists"
        ))
        .into());
    }
    Ok(())
}

fn restart_changed(
    host: &Host,
    scope: Scope,
    targets: &[String],
    only: &[String],
    changes: &Changes<'_>,
) -> Result<()> {
    let Listed {
        client,
        mut store,
        procs,
        targets,
    } = lock_and_list(host, scope, targets, only, None)?;
    let selected = target::select(&targets, &procs)?;
    let apps: BTreeSet<String> = selected.iter().map(|p| p.name.clone()).collect();
    if let Some(new) = changes.name {
        check_rename(new, &apps, store.state())?;
    }
    // Every app first: an app of a file refuses before anything changes.
    let mut redefined = Vec::new();
    for name in &apps {
        let record = store
            .state()
            .app(name)
            .with_context(|| format!("{name} is not recorded"))?;
        let Some(mut app) = record.definition.clone() else {
            if !changes.update_env || changes.redefines() {
                let file = record
                    .source
                    .file
                    .as_ref()
                    .map_or("its ecosystem file".to_string(), |f| {
                        f.display().to_string()
                    });
                return Err(UsageError(format!(
                    "[PM2][ERROR] {name} is defined by {file}: change it there, then \
                     `restart {file}` (or `apply`)"
                ))
                .into());
            }
            // --update-env alone: an app of a file keeps its file's environment.
            continue;
        };
        if changes.update_env {
            app.env = start::caller_env(std::env::vars_os());
        }
        if let Some(node_args) = changes.node_args {
            app.node_args = split_args(node_args)
                .map_err(|e| UsageError(format!("[PM2][ERROR] --node-args: {e}")))?;
        }
        if let Some(pattern) = changes.cron_restart {
            app.cron_restart = Some(pattern.to_string()).filter(|c| c.trim() != "0");
            if let Some(p) = &app.cron_restart {
                crate::ecosystem::cron::parse(p)
                    .map_err(|e| UsageError(format!("[PM2][ERROR] --cron-restart: {e}")))?;
            }
        }
        if let Some(new) = changes.name {
            app.name = new.to_string();
        }
        redefined.push((record.clone(), app));
    }
    let host = engine::host_facts(&client)?;
    let mut replaced = BTreeSet::new();
    let mut failures = Vec::new();
    for (record, app) in redefined {
        if app.name != record.name {
            // The old units go first: the new ones may need the same port.
            let old: Vec<&Proc> = procs.iter().filter(|p| p.name == record.name).collect();
            let report = actions::run(&client, &mut store, Action::Delete, &old)?;
            if !report.all_ok() {
                report.print();
                return Err(ActionFailed(format!(
                    "cannot rename {}: its processes could not be deleted",
                    record.name
                ))
                .into());
            }
            println!("[PM2] {} renamed {}", record.name, app.name);
        }
        let eco = Ecosystem {
            source: record.source.file.clone().unwrap_or_default(),
            base_dir: app.cwd.clone().unwrap_or_else(|| PathBuf::from("/")),
            apps: vec![app.clone()],
            deploy: Default::default(),
        };
        let plan = engine::plan(&client, &eco, record.source.env.as_deref(), &host)?;
        let desired: Vec<DesiredApp> = plan
            .apps
            .into_iter()
            .map(|p| {
                let (plan, fingerprint) = apply::fingerprinted(p);
                DesiredApp {
                    plan,
                    fingerprint,
                    desired: Desired::Running,
                }
            })
            .collect();
        failures.extend(engine::converge(
            &client,
            &mut store,
            &desired,
            &record.source,
        )?);
        if let Some(now) = store.state_mut().app_mut(&app.name) {
            if now.fingerprint != record.fingerprint || app.name != record.name {
                replaced.insert(app.name.clone());
            }
            now.definition = Some(app);
        }
        store.save()?;
    }
    // Processes the engine replaced run the new definition already.
    let procs =
        processes::list(&client, store.state()).context("cannot list pm2ctl's processes")?;
    let ids: BTreeSet<u32> = selected.iter().map(|p| p.pm_id).collect();
    let rest: Vec<&Proc> = procs
        .iter()
        .filter(|p| ids.contains(&p.pm_id) && !replaced.contains(&p.name))
        .collect();
    actions::announce(Action::Restart, &selected);
    let report = actions::run(&client, &mut store, Action::Restart, &rest)?;
    report.print();
    for name in &replaced {
        println!("[PM2] {name}: restarted with its new definition");
    }
    for f in &failures {
        eprintln!("[PM2][ERROR] {} ({}): {}", f.app, f.unit, f.reason);
    }
    if report.all_ok() && failures.is_empty() {
        Ok(())
    } else {
        Err(ActionFailed("restartProcessId failed for some processes".into()).into())
    }
}
