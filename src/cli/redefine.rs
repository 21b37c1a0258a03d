//! PM2's `restart` options that change the app as it restarts: `--update-env` (the
//! caller's environment again), `--node-args`, `--cron-restart`, `--name` (a new name: the
//! app's units are named after it, so the old ones go and new ones come, with new pm_ids).
//! An app started from the
//! command line has its definition recorded: it is changed, planned and handed to the apply
//! engine (which replaces the app when its units change); an app of a file is defined by
//! its file, so the options are refused for it with what to do instead.

use super::{ActionFailed, TargetArgs, UsageError};
use crate::apply::{self, DesiredApp};
use crate::ecosystem::units::split_args;
use crate::ecosystem::Ecosystem;
use crate::lifecycle::start_or::{self, Then};
use crate::lifecycle::{self, act, engine, Action, Proc};
use crate::state::{self, Desired};
use crate::target;
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// What `restart` changes in the apps it restarts.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct Changes {
    /// New interpreter arguments (`--interpreter-args` too).
    #[arg(long, alias = "interpreter-args", allow_hyphen_values = true)]
    pub node_args: Option<String>,
    /// A new cron pattern for restarts; `0` removes it.
    #[arg(
        short = 'c',
        long = "cron-restart",
        alias = "cron",
        value_name = "PATTERN"
    )]
    pub cron_restart: Option<String>,
    /// A new name for the app (one app only).
    #[arg(short = 'n', long, value_name = "NAME")]
    pub name: Option<String>,
}

impl Changes {
    fn any(&self, update_env: bool) -> bool {
        update_env || self.node_args.is_some() || self.cron_restart.is_some() || self.name.is_some()
    }

    /// Whether anything beyond `--update-env` is asked (refused for an app of a file).
    fn redefines(&self) -> bool {
        self.node_args.is_some() || self.cron_restart.is_some() || self.name.is_some()
    }
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

/// `restart TARGETS` with changes: the selected apps are redefined (and so replaced when
/// their units change), then the processes that still run their old definition restart.
pub fn restart(args: &TargetArgs, changes: &Changes) -> Result<()> {
    let (host, scope) = (&args.manager.host, args.manager.scope());
    let (only, env) = (&args.file.only, args.file.env.as_deref());
    start_or::files_then(
        host,
        scope,
        &args.targets,
        only,
        env,
        Then::Restart,
        |targets| {
            if changes.any(args.file.update_env) {
                restart_changed(args, targets, changes)
            } else {
                act::act_on(host, scope, targets, only, env, Action::Restart)
            }
        },
    )
}

fn restart_changed(args: &TargetArgs, targets: &[String], changes: &Changes) -> Result<()> {
    let client = args.manager.connect()?;
    let mut store = state::lock_current(&args.manager.host, args.manager.scope())?;
    let targets = lifecycle::targets::expand(targets, &args.file.only, None, store.state())?;
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let selected = target::select(&targets, &procs)?;
    let apps: BTreeSet<String> = selected.iter().map(|p| p.name.clone()).collect();
    if let Some(new) = &changes.name {
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
            if !args.file.update_env || changes.redefines() {
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
        if args.file.update_env {
            app.env = lifecycle::start::caller_env(std::env::vars_os());
        }
        if let Some(node_args) = &changes.node_args {
            app.node_args = split_args(node_args)
                .map_err(|e| UsageError(format!("[PM2][ERROR] --node-args: {e}")))?;
        }
        if let Some(pattern) = &changes.cron_restart {
            app.cron_restart = Some(pattern.clone()).filter(|c| c.trim() != "0");
            if let Some(p) = &app.cron_restart {
                crate::ecosystem::cron::parse(p)
                    .map_err(|e| UsageError(format!("[PM2][ERROR] --cron-restart: {e}")))?;
            }
        }
        if let Some(new) = &changes.name {
            app.name = new.clone();
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
            let report = lifecycle::actions::run(&client, &mut store, Action::Delete, &old)?;
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
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let ids: BTreeSet<u32> = selected.iter().map(|p| p.pm_id).collect();
    let rest: Vec<&Proc> = procs
        .iter()
        .filter(|p| ids.contains(&p.pm_id) && !replaced.contains(&p.name))
        .collect();
    lifecycle::actions::announce(Action::Restart, &selected);
    let report = lifecycle::actions::run(&client, &mut store, Action::Restart, &rest)?;
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
