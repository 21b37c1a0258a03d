//! What each verb does to the units of the instances it selected, and how it reports it
//! (PM2's lines: `[PM2] Applying action stopProcessId on app [api](ids: [ 0, 1 ])`,
//! then `[PM2] [api](0) ✓` per instance).

use super::engine;
use super::processes::Proc;
use super::record;
use crate::apply::DesiredApp;
use crate::state::{Desired, Store};
use crate::systemd::{Client, JobOutcome, KillWhom};
use crate::unit::name::{self, parse_instance_unit, AppUnitNames};
use anyhow::Result;
use nix::sys::signal::Signal;
use std::collections::{BTreeMap, BTreeSet};

/// A verb's effect on systemd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Stop,
    Restart,
    Delete,
    /// Zero the restart counters (no unit is touched).
    Reset,
    Signal(Signal),
}

impl Action {
    /// PM2's internal action name, as it prints it.
    pub fn pm2_name(self) -> &'static str {
        match self {
            Action::Stop => "stopProcessId",
            Action::Restart => "restartProcessId",
            Action::Delete => "deleteProcessId",
            Action::Reset => "resetMetaProcessId",
            Action::Signal(_) => "sendSignalToProcessId",
        }
    }
}

/// How the action went for each selected instance, in selection order.
#[derive(Debug, Default)]
pub struct Report {
    pub results: Vec<(Proc, Result<(), String>)>,
}

impl Report {
    pub fn all_ok(&self) -> bool {
        self.results.iter().all(|(_, r)| r.is_ok())
    }

    /// PM2's per-instance lines; failures carry systemd's reason on the next lines.
    pub fn print(&self) {
        for (p, result) in &self.results {
            match result {
                Ok(()) => println!("[PM2] [{}]({}) ✓", p.name, p.pm_id),
                Err(why) => {
                    eprintln!("[PM2][ERROR] [{}]({}) ✗", p.name, p.pm_id);
                    for line in why.lines() {
                        eprintln!("  {line}");
                    }
                }
            }
        }
    }
}

/// Prints PM2's "Applying action" line once per app, with the ids selected in it.
pub fn announce(action: Action, procs: &[&Proc]) {
    let mut by_app: Vec<(&str, Vec<u32>)> = Vec::new();
    for p in procs {
        match by_app.iter_mut().find(|(name, _)| *name == p.name) {
            Some((_, ids)) => ids.push(p.pm_id),
            None => by_app.push((&p.name, vec![p.pm_id])),
        }
    }
    for (name, ids) in by_app {
        let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
        println!(
            "[PM2] Applying action {} on app [{name}](ids: [ {} ])",
            action.pm2_name(),
            ids.join(", ")
        );
    }
}

/// Runs `action` on the units of `procs`, waits for systemd to finish every job, then
/// records the outcome in the state store (saved before returning).
pub fn run(client: &Client, store: &mut Store, action: Action, procs: &[&Proc]) -> Result<Report> {
    let outcomes = match action {
        Action::Stop => stop(client, procs)?,
        Action::Delete => delete(client, procs)?,
        Action::Restart => restart(client, store, procs)?,
        Action::Reset => BTreeMap::new(),
        Action::Signal(signal) => {
            let mut failed = BTreeMap::new();
            for p in procs {
                if let Err(e) = client.kill(&p.service, KillWhom::Main, signal as i32) {
                    failed.insert(p.service.clone(), format!("{e:#}"));
                }
            }
            failed
        }
    };
    let state = store.state_mut();
    match action {
        Action::Stop => record::stopped(state, procs),
        Action::Restart => record::restarted(state, procs),
        Action::Delete => record::deleted(state, procs),
        Action::Reset => record::reset(state, procs, crate::state::now_ms()),
        Action::Signal(_) => {}
    }
    if !matches!(action, Action::Signal(_)) {
        store.save()?;
    }
    let results = procs
        .iter()
        .map(|p| {
            let failure = p
                .units_to_stop()
                .iter()
                .find_map(|u| outcomes.get(u).cloned());
            let result = match failure {
                None => Ok(()),
                Some(why) => Err(explain(client, action, p, why)),
            };
            ((*p).clone(), result)
        })
        .collect();
    Ok(Report { results })
}

/// Restarts loaded instances in place; stopped ones (whose transient units systemd has
/// forgotten) are created again from their recorded plan by the apply engine, as an `apply`
/// of that app alone would.
fn restart(
    client: &Client,
    store: &mut Store,
    procs: &[&Proc],
) -> Result<BTreeMap<String, String>> {
    let (loaded, stopped): (Vec<&Proc>, Vec<&Proc>) = procs.iter().partition(|p| p.loaded);
    let services: Vec<String> = loaded.iter().map(|p| p.service.clone()).collect();
    let mut failed = by_unit(client.restart_units(&services)?);

    let apps: BTreeSet<&str> = stopped.iter().map(|p| p.name.as_str()).collect();
    for name in apps {
        let Some(record) = store.state().app(name).cloned() else {
            continue;
        };
        let desired = [DesiredApp {
            plan: record.plan.clone(),
            fingerprint: record.fingerprint.clone(),
            desired: Desired::Running,
        }];
        let failures = engine::converge(client, store, &desired, &record.source)?;
        // `explain` adds systemd's account once, as for the loaded instances.
        for f in failures {
            failed.insert(f.unit, f.reason);
        }
    }
    Ok(failed)
}

/// Stops the instances' sockets and services (sockets first, see `remove_units`) and waits
/// until systemd has forgotten them: a stopped instance has no unit left (a failed one would
/// keep its old `NRestarts`, already carried into the store), and `restart` creates it anew
/// from its recorded plan.
fn stop(client: &Client, procs: &[&Proc]) -> Result<BTreeMap<String, String>> {
    let units: Vec<String> = procs
        .iter()
        .flat_map(|p| p.socket.iter().chain([&p.service]))
        .cloned()
        .collect();
    Ok(by_unit(client.remove_units(&units)?))
}

/// Stops the instances, lets systemd forget them, and removes an app's slice, with its
/// companions (cron timer, watch agent), once none of its instances is left.
fn delete(client: &Client, procs: &[&Proc]) -> Result<BTreeMap<String, String>> {
    let failed = stop(client, procs)?;
    // An app's slice goes once no instance unit of that app is still up.
    let owned = client.list_owned()?;
    let still_up: BTreeSet<String> = owned
        .iter()
        .filter(|u| !matches!(u.active_state.as_str(), "inactive" | "failed"))
        .filter_map(|u| parse_instance_unit(&u.name).map(|i| i.escaped.to_string()))
        .collect();
    let emptied: Vec<String> = procs
        .iter()
        .map(|p| p.slice.as_str())
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .filter(|slice| name::owner_of(slice).is_some_and(|e| !still_up.contains(e)))
        .map(str::to_string)
        .collect();
    let companions: Vec<String> = owned
        .iter()
        .filter(|u| {
            name::companion_owner(&u.name)
                .is_some_and(|owner| emptied.contains(&AppUnitNames::from_escaped(owner).slice()))
        })
        .map(|u| u.name.clone())
        .collect();
    client.remove_units(&companions)?;
    client.remove_units(&emptied)?;
    Ok(failed)
}

/// Failed jobs by unit name.
fn by_unit(outcomes: Vec<JobOutcome>) -> BTreeMap<String, String> {
    outcomes
        .into_iter()
        .filter(|o| !o.ok())
        .map(|o| {
            let why = o.why();
            (o.unit, why)
        })
        .collect()
}

fn explain(client: &Client, action: Action, p: &Proc, why: String) -> String {
    match action {
        // A unit that failed to come back: systemd's result and the last log lines say why.
        Action::Restart => {
            let report = client.failure_report(&p.service);
            if report.is_empty() {
                why
            } else {
                format!("{why}\n{report}")
            }
        }
        _ => why,
    }
}

/// A signal as PM2 accepts it: `SIGUSR2`, `sigusr2`, `USR2` or its number.
pub fn parse_signal(text: &str) -> Option<Signal> {
    crate::ecosystem::units::canonical_signal(text)
        .ok()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_as_pm2_accepts_them() {
        assert_eq!(parse_signal("SIGUSR2"), Some(Signal::SIGUSR2));
        assert_eq!(parse_signal("sigusr1"), Some(Signal::SIGUSR1));
        assert_eq!(parse_signal("HUP"), Some(Signal::SIGHUP));
        assert_eq!(parse_signal("15"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("SIGNOPE"), None);
        assert_eq!(parse_signal("999"), None);
        assert_eq!(parse_signal(""), None);
    }
}
