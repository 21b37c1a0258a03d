//! `pm2ctl watch-agent` (hidden): the process of an app's watch unit; and `restart --watch`,
//! which toggles watching as PM2's does.

use super::{act_on_targets, finish, ActionFailed, ManagerArgs, TargetArgs};
use crate::apply::{self, DesiredApp};
use crate::ecosystem::{App, Watch};
use crate::lifecycle::{self, Action};
use crate::plan::naming::AppUnitNames;
use crate::plan::{companion, AppPlan, HostFacts};
use crate::state::{self, AppRecord, Desired};
use crate::systemd::FINGERPRINT_VAR;
use crate::target;
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
}

pub fn restart(args: RestartArgs) -> ExitCode {
    if !args.watch {
        return args.target.run(Action::Restart);
    }
    finish(toggle_and_restart(&args.target))
}

fn toggle_and_restart(args: &TargetArgs) -> Result<()> {
    let client = args.manager.connect()?;
    let mut store = state::lock_current(args.manager.scope())?;
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let selected = target::select(&args.targets, &procs)?;
    let apps: BTreeSet<String> = selected.iter().map(|p| p.name.clone()).collect();
    let host = lifecycle::engine::host_facts(&client)?;
    let mut failures = Vec::new();
    for name in &apps {
        let Some(record) = store.state().app(name) else {
            continue;
        };
        let plan = toggled(record, &host)?;
        let on = plan.is_watched();
        let (plan, fingerprint) = apply::fingerprinted(plan);
        let desired = DesiredApp {
            plan,
            fingerprint,
            desired: Desired::Running,
        };
        let source = record.source.clone();
        failures.extend(lifecycle::engine::converge(
            &client,
            &mut store,
            std::slice::from_ref(&desired),
            &source,
        )?);
        println!(
            "[PM2] {name}: restarted, watching {}",
            if on { "enabled" } else { "disabled" }
        );
    }
    if failures.is_empty() {
        Ok(())
    } else {
        for f in &failures {
            eprintln!(
                "{}: {} did not start: {}\n{}",
                f.app, f.unit, f.reason, f.report
            );
        }
        Err(ActionFailed("restart failed for some processes".into()).into())
    }
}

/// The app's recorded plan with watching flipped: its watch agent dropped, or one added
/// (planned from the recorded definition when there is one, else watching the app's
/// working directory with PM2's default ignores). The fingerprint stamp is dropped so the
/// plan fingerprints like a freshly planned one.
fn toggled(record: &AppRecord, host: &HostFacts) -> Result<AppPlan> {
    let mut plan = record.plan.clone();
    for instance in &mut plan.instances {
        for property in &mut instance.service.properties {
            if let (true, Value::StrList(env)) =
                (property.name == "Environment", &mut property.value)
            {
                env.retain(|kv| !kv.starts_with(&format!("{FINGERPRINT_VAR}=")));
            }
        }
    }
    if plan.is_watched() {
        let agent = AppUnitNames::new(&plan.name, 0)
            .map(|n| n.watch_agent())
            .map_err(anyhow::Error::msg)?;
        plan.companions.retain(|c| c.service.name != agent);
        return Ok(plan);
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
    let names = AppUnitNames::new(&plan.name, 0).map_err(anyhow::Error::msg)?;
    // The agent runs where the app runs: with -H, that host's own pm2ctl.
    let pm2ctl = match crate::remote::selected_target() {
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
    Ok(plan)
}
