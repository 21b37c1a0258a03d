//! `stop`: the selected processes stop and stay listed as stopped; with PM2's `--watch`,
//! their apps stop being watched too. An app with `cron_restart` is warned about: its timer
//! starts it again at cron time, as PM2's cron does.

use super::act::act_on;
use super::Action;
use crate::host::Host;
use crate::plan::Scope;
use crate::state;
use crate::target;
use crate::unit::name::AppUnitNames;
use crate::unit::Value;
use crate::watch::toggle;
use anyhow::Result;
use std::collections::BTreeSet;

/// Stops what `targets` select (file targets as `only` of their apps, named as with `env`);
/// `unwatch`: their watch agents go too.
pub fn stop(
    host: &Host,
    scope: Scope,
    targets: &[String],
    only: &[String],
    env: Option<&str>,
    unwatch: bool,
) -> Result<()> {
    let stopped = if unwatch {
        toggle::stop_and_unwatch(host, scope, targets)
    } else {
        act_on(host, scope, targets, only, env, Action::Stop)
    };
    warn_cron_still_armed(host, scope, targets);
    stopped
}

/// PM2's warning after `stop`: an app with `cron_restart` starts again at cron time.
fn warn_cron_still_armed(host: &Host, scope: Scope, targets: &[String]) {
    let Ok(store) = state::lock_current(host, scope) else {
        return;
    };
    let procs = store.state().processes();
    let Ok(selected) = target::select(targets, &procs) else {
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
