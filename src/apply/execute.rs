//! Carries out a `Diff` through systemd, writing progress lines as it goes.
//!
//! Order of writes, so that a pm2ctl killed at any point leaves a host the next `apply`
//! converges from:
//! 1. every app of the file is recorded in the state (new ids, new plan) and saved, before
//!    systemd is touched: whatever then runs is owned by a record, so `--prune` finds it;
//! 2. systemd is changed app by app (old units stopped and unloaded, new ones created);
//!    the next `apply` compares with what systemd reports (fingerprints on the units), not
//!    with the state, so a half-done app is seen as changed or down and done again;
//! 3. pruned apps are forgotten only after their units are gone, so a prune cut short is
//!    retried by the next `apply --prune`.

use super::diff::{Action, Change, DesiredApp, Diff, LiveUnit};
use crate::plan::AppPlan;
use crate::state::{self, Source, Store};
use crate::systemd::{Client, JobOutcome, StartRequest};
use crate::unit::UnitSpec;
use anyhow::Result;
use std::io::Write;

/// A unit that did not start, and why.
#[derive(Debug, Clone)]
pub struct Failure {
    pub app: String,
    pub unit: String,
    /// systemd's job result or the error of the rejected call.
    pub reason: String,
    /// `Client::failure_report`: Result, exit status or signal, last journal lines.
    pub report: String,
}

/// Applies `diff`. `desired` holds the file's apps (the diff names them) and `live` the
/// units the diff was computed from; `progress` gets
/// one line per app and per unit. Units that fail to start are returned, not errors: the
/// other apps are still applied. An `Err` is a failure to talk to systemd or to save state.
pub fn execute(
    client: &Client,
    store: &mut Store,
    diff: &Diff,
    desired: &[DesiredApp],
    live: &[LiveUnit],
    source: &Source,
    progress: &mut dyn Write,
) -> Result<Vec<Failure>> {
    record_desired(store, desired, source)?;

    let mut failures = Vec::new();
    for change in &diff.changes {
        let app = desired.iter().find(|d| d.plan.name == change.app);
        let mut run = Run {
            client,
            change,
            progress: &mut *progress,
            failures: &mut failures,
        };
        match (&change.action, app) {
            (Action::Unchanged | Action::LeftStopped, _) => {}
            (Action::Create, Some(app)) => {
                run.say(&format!("{}: create", change.app))?;
                run.create(&app.plan, None, true)?;
            }
            (Action::Replace { reason }, Some(app)) => {
                run.say(&format!("{}: replace ({reason})", change.app))?;
                run.remove(&change.live)?;
                // Replacing is a restart of every instance that ran: it counts, as PM2's.
                carry_restarts(store, &change.app, &change.live, live, 1)?;
                run.create(&app.plan, None, true)?;
            }
            (Action::Repair { instances }, Some(app)) => {
                let list: Vec<String> = instances.iter().map(u32::to_string).collect();
                run.say(&format!(
                    "{}: restart instance{} {} (not running)",
                    change.app,
                    if instances.len() == 1 { "" } else { "s" },
                    list.join(", ")
                ))?;
                let units: Vec<String> = app
                    .plan
                    .instances
                    .iter()
                    .filter(|i| instances.contains(&i.index))
                    .flat_map(|i| std::iter::once(&i.service).chain(i.socket.as_ref()))
                    .map(|u| u.name.clone())
                    .collect();
                run.remove(&units)?;
                carry_restarts(store, &change.app, &units, live, 0)?;
                let slice_missing = !change.live.contains(&app.plan.slice.name);
                run.create(&app.plan, Some(instances), slice_missing)?;
            }
            (Action::Stop, _) => {
                run.say(&format!("{}: stop (recorded as stopped)", change.app))?;
                run.remove(&change.live)?;
                carry_restarts(store, &change.app, &change.live, live, 0)?;
            }
            (Action::Prune, _) => {
                run.say(&format!("{}: prune (no longer in the file)", change.app))?;
                run.remove(&change.live)?;
                store.state_mut().remove_app(&change.app);
                store.save()?;
            }
            (_, None) => anyhow::bail!("internal error: no plan for app {}", change.app),
        }
    }
    Ok(failures)
}

/// Step 1: record every desired app; saves only when a record changes, so an apply that
/// changes nothing writes nothing.
fn record_desired(store: &mut Store, desired: &[DesiredApp], source: &Source) -> Result<()> {
    let mut changed = false;
    for app in desired {
        let current = store.state().app(&app.plan.name);
        let same = current.is_some_and(|r| {
            r.fingerprint == app.fingerprint
                && r.desired == app.desired
                && &r.source == source
                && r.plan == app.plan
        });
        if !same {
            store.state_mut().upsert_app(
                app.plan.clone(),
                app.fingerprint.clone(),
                source.clone(),
                app.desired,
                state::now_ms(),
            );
            changed = true;
        }
    }
    if changed {
        store.save()?;
    }
    Ok(())
}

/// systemd starts `NRestarts` again from 0 for a re-created unit: add what the `removed`
/// services of `app` had counted (plus `extra` each, for a restart pm2ctl made) to their
/// instances' restart offsets, so the count PM2 shows keeps growing.
fn carry_restarts(
    store: &mut Store,
    app: &str,
    removed: &[String],
    live: &[LiveUnit],
    extra: i64,
) -> Result<()> {
    let Some(app) = store.state_mut().app_mut(app) else {
        return Ok(());
    };
    let mut changed = false;
    for unit in live.iter().filter(|u| removed.contains(&u.name)) {
        let index = unit
            .name
            .strip_suffix(".service")
            .and_then(|n| n.rsplit_once('@'))
            .and_then(|(_, i)| i.parse::<u32>().ok());
        let instance = index.and_then(|i| app.instances.iter_mut().find(|r| r.index == i));
        if let Some(instance) = instance {
            instance.restart_offset += i64::from(unit.n_restarts) + extra;
            changed = true;
        }
    }
    if changed {
        store.save()?;
    }
    Ok(())
}

/// One app's changes in progress.
struct Run<'a> {
    client: &'a Client,
    change: &'a Change,
    progress: &'a mut dyn Write,
    failures: &'a mut Vec<Failure>,
}

impl Run<'_> {
    fn say(&mut self, line: &str) -> Result<()> {
        writeln!(self.progress, "{line}")?;
        Ok(())
    }

    /// Stops `units` and waits until systemd has unloaded them.
    fn remove(&mut self, units: &[String]) -> Result<()> {
        if units.is_empty() {
            return Ok(());
        }
        for outcome in self.client.remove_units(units)? {
            if outcome.ok() {
                self.say(&format!("  stopped {}", outcome.unit))?;
            } else {
                // A stop that failed still ends with the unit down (systemd kills what
                // does not stop in time); say so, the removal itself succeeded.
                self.say(&format!(
                    "  stopped {} ({})",
                    outcome.unit,
                    describe(&outcome)
                ))?;
            }
        }
        Ok(())
    }

    /// Creates the slice (when `with_slice`) and the instances listed in `only` (all when
    /// `None`), then starts the socket-activated services so every instance runs now.
    fn create(&mut self, plan: &AppPlan, only: Option<&[u32]>, with_slice: bool) -> Result<()> {
        if with_slice {
            let slice = [StartRequest {
                main: &plan.slice,
                aux: Vec::new(),
            }];
            self.start_transient(&slice)?;
        }
        let instances: Vec<_> = plan
            .instances
            .iter()
            .filter(|i| only.is_none_or(|o| o.contains(&i.index)))
            .collect();
        let requests: Vec<StartRequest<'_>> = instances
            .iter()
            .map(|i| match &i.socket {
                Some(socket) => StartRequest {
                    main: socket,
                    aux: vec![&i.service],
                },
                None => StartRequest {
                    main: &i.service,
                    aux: Vec::new(),
                },
            })
            .collect();
        let started = self.start_transient(&requests)?;

        // A socket's service is only loaded by the call above; start it like PM2 would.
        let activated: Vec<String> = instances
            .iter()
            .filter(|i| i.socket.as_ref().is_some_and(|s| started.contains(&s.name)))
            .map(|i| i.service.name.clone())
            .collect();
        if !activated.is_empty() {
            let outcomes = self.client.start_units(&activated)?;
            self.report(&outcomes, &[])?;
        }
        Ok(())
    }

    /// `StartTransientUnit` for `requests`; a name systemd still has loaded (`UnitExists`,
    /// e.g. a unit someone stopped by hand and that something still references) is
    /// removed and created once more. Returns the main units that started.
    fn start_transient(&mut self, requests: &[StartRequest<'_>]) -> Result<Vec<String>> {
        let outcomes = self.client.start_transient(requests)?;
        let exists = |o: &JobOutcome| {
            o.error
                .as_deref()
                .is_some_and(|e| e.contains("org.freedesktop.systemd1.UnitExists"))
        };
        let retry: Vec<StartRequest<'_>> = requests
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| exists(o))
            .map(|(r, _)| r.clone())
            .collect();
        let mut outcomes: Vec<JobOutcome> = outcomes.into_iter().filter(|o| !exists(o)).collect();
        if !retry.is_empty() {
            let names: Vec<String> = retry
                .iter()
                .flat_map(|r| std::iter::once(r.main).chain(r.aux.iter().copied()))
                .map(|u: &UnitSpec| u.name.clone())
                .collect();
            self.client.remove_units(&names)?;
            outcomes.extend(self.client.start_transient(&retry)?);
        }
        let aux_of = |unit: &str| -> Vec<String> {
            requests
                .iter()
                .find(|r| r.main.name == unit)
                .map(|r| r.aux.iter().map(|a| a.name.clone()).collect())
                .unwrap_or_default()
        };
        let mut started = Vec::new();
        for outcome in &outcomes {
            if outcome.ok() {
                started.push(outcome.unit.clone());
            }
            self.report(std::slice::from_ref(outcome), &aux_of(&outcome.unit))?;
        }
        Ok(started)
    }

    /// One progress line per outcome; failures are recorded with systemd's account.
    /// `aux` names units created with it (a socket's service), for the line.
    fn report(&mut self, outcomes: &[JobOutcome], aux: &[String]) -> Result<()> {
        for outcome in outcomes {
            let with = if aux.is_empty() {
                String::new()
            } else {
                format!(" (with {})", aux.join(", "))
            };
            if outcome.ok() {
                self.say(&format!("  started {}{with}", outcome.unit))?;
            } else {
                let reason = describe(outcome);
                self.say(&format!("  FAILED {}{with}: {reason}", outcome.unit))?;
                // The service is what has a Result, an exit status and a journal.
                let service = aux
                    .iter()
                    .find(|a| a.ends_with(".service"))
                    .unwrap_or(&outcome.unit);
                self.failures.push(Failure {
                    app: self.change.app.clone(),
                    unit: outcome.unit.clone(),
                    reason,
                    report: self.client.failure_report(service),
                });
            }
        }
        Ok(())
    }
}

fn describe(outcome: &JobOutcome) -> String {
    match &outcome.error {
        Some(error) => error.clone(),
        None => format!("job {}", outcome.result),
    }
}
