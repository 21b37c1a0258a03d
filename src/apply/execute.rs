//! Carries out a `Diff` through systemd, writing progress lines as it goes.
//!
//! Order of writes, so that a pm2ctl killed at any point leaves a host the next `apply`
//! converges from:
//! 1. every app of the file is recorded in the state (new ids, new plan) and saved, before
//!    systemd is touched: whatever then runs is owned by a record, so `--prune` finds it;
//! 2. systemd is changed app by app (a changed app rolled instance by instance, see `roll`;
//!    new units created, removed ones stopped and unloaded); the next `apply` compares with
//!    what systemd reports (fingerprints on the units), not with the state, so a half-done
//!    app is seen as changed or down and done again. A roll is marked in the state while it
//!    runs (a unit holds its new definition a moment before its new process runs), so a
//!    roll cut short is redone whole;
//! 3. pruned apps are forgotten only after their units are gone, so a prune cut short is
//!    retried by the next `apply --prune`;
//! 4. what an app's change updates in the state (restart counts, a pruned record) is saved
//!    once its units are back: a state write that fails (a full disk) never leaves an app
//!    removed and not re-created; it is reported after every change was made.
//!
//! An error talking to systemd (the bus went away) stops the apply with an [`Interrupted`]:
//! the apps applied, the one under way and how far it got, the apps not applied.

mod new_env;
mod roll;

use super::diff::{Action, Change, CompanionChange, DesiredApp, Diff, LiveUnit, Options};
use crate::boot::generator;
use crate::boot::handover;
use crate::boot::saved;
use crate::checkpoint;
use crate::plan::AppPlan;
use crate::state::{self, AppRecord, Source, Store};
use crate::systemd::{self, Client, JobOutcome, StartRequest};
use crate::unit::UnitSpec;
use anyhow::{Context, Result};
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
/// other apps are still applied. An `Err` is a failure to talk to systemd or to save state:
/// once systemd has been touched it is an [`Interrupted`], which says what was applied and
/// what was not.
#[allow(clippy::too_many_arguments)]
pub fn execute(
    client: &Client,
    store: &mut Store,
    diff: &Diff,
    desired: &[DesiredApp],
    live: &[LiveUnit],
    source: &Source,
    options: Options,
    progress: &mut dyn Write,
) -> Result<Vec<Failure>> {
    // What each app was before this apply: a roll that fails goes back to it.
    let previous: Vec<AppRecord> = desired
        .iter()
        .filter_map(|d| store.state().app(&d.plan.name).cloned())
        .collect();
    // By name first: with -H, where the saved file is takes asking the host.
    let saved_copy = source.file.as_deref().is_some_and(|file| {
        file.file_name() == Some(std::ffi::OsStr::new(saved::SAVED_FILE))
            && saved::SavedFile::of(client.host(), client.scope())
                .is_ok_and(|saved| saved.path() == file)
    });
    record_desired(store, desired, source, saved_copy)
        .context("cannot record the file's apps in the state store; nothing was changed")?;
    checkpoint::reached("apply:recorded");

    let mut failures = Vec::new();
    let mut applied: Vec<String> = Vec::new();
    // A state write that failed after systemd was changed: the changes go on (an app left
    // half-replaced would be worse than a restart count not recorded), and it is reported.
    let mut unsaved: Option<anyhow::Error> = None;
    let changes: Vec<&Change> = diff
        .changes
        .iter()
        .filter(|c| !matches!(c.action, Action::Unchanged | Action::LeftStopped))
        .collect();
    // New apps are created together, first (nothing of them runs, so nothing else waits on
    // them); then every other change in the file's order, each app's on its own.
    let (creates, others): (Vec<&Change>, Vec<&Change>) =
        changes.iter().partition(|c| c.action == Action::Create);
    let mut steps: Vec<Vec<&Change>> = Vec::new();
    if !creates.is_empty() {
        steps.push(creates);
    }
    steps.extend(others.into_iter().map(|c| vec![c]));
    for (done, step) in steps.iter().enumerate() {
        checkpoint::reached("apply:app");
        let change = step[0];
        let app = desired.iter().find(|d| d.plan.name == change.app);
        let batch: Vec<&AppPlan> = step
            .iter()
            .filter_map(|c| desired.iter().find(|d| d.plan.name == c.app))
            .map(|d| &d.plan)
            .collect();
        let mut run = Run {
            client,
            change,
            progress: &mut *progress,
            failures: &mut failures,
            reached: Reached::Untouched,
            previous: previous.iter().find(|r| r.name == change.app),
            rollback: options.rollback,
            unsaved: None,
            batch,
        };
        let result = if step.len() > 1 {
            run.create_all()
        } else {
            run.apply(app, store, live)
        };
        let reached = run.reached.clone();
        match result {
            Ok(saved) => {
                if let Err(e) = saved {
                    unsaved.get_or_insert(e);
                }
                applied.extend(step.iter().map(|c| describe_change(c)));
            }
            Err(cause) => {
                let names: Vec<String> = step.iter().map(|c| describe_change(c)).collect();
                return Err(Interrupted {
                    app: names.join(", "),
                    reached: reached.describe(&change.action),
                    applied,
                    not_applied: steps[done + 1..]
                        .iter()
                        .flatten()
                        .map(|c| describe_change(c))
                        .collect(),
                    cause: match systemd::connection_lost(&cause) {
                        Some(why) => format!("{why} ({cause:#})"),
                        None => format!("{cause:#}"),
                    },
                }
                .into());
            }
        }
    }
    if let Some(e) = unsaved {
        return Err(e.context(
            "every change was applied and runs, but the state store could not be written \
             afterwards: the restart counts of replaced instances were not carried over, and \
             a pruned app is still recorded (the next `apply --prune` forgets it)",
        ));
    }
    Ok(failures)
}

/// An apply stopped by an error after it had begun changing systemd (the bus went away, a
/// call failed): what was done, what was under way and how far it got, and what was not.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped while applying {app}: {cause}\n  {app}: {reached}\n  applied: {}\n  \
     not applied: {}\n  apps not listed were unchanged and not touched\n\
     Run the same `pm2ctl apply` again once systemd answers: it completes what is missing.",
    list_or_none(applied),
    list_or_none(not_applied)
)]
pub struct Interrupted {
    /// The app under way, with its action: `web (replace)`.
    pub app: String,
    /// How far it got, in words.
    pub reached: String,
    pub applied: Vec<String>,
    pub not_applied: Vec<String>,
    pub cause: String,
}

fn list_or_none(apps: &[String]) -> String {
    if apps.is_empty() {
        "none".into()
    } else {
        apps.join(", ")
    }
}

fn describe_change(change: &Change) -> String {
    let action = match change.action {
        Action::Create => "create",
        Action::Replace { .. } => "replace",
        Action::Roll { .. } => "roll",
        Action::Repair { .. } => "restart instances",
        Action::Stop => "stop",
        Action::Prune => "prune",
        Action::Unchanged | Action::LeftStopped => "unchanged",
    };
    format!("{} ({action})", change.app)
}

/// How far one app's change got.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reached {
    /// Nothing of it changed yet.
    Untouched,
    /// Its old units are stopped and unloaded.
    Removed,
    /// Its new units are (being) created.
    Creating,
    /// A roll: these instances were replaced, `at` is under way.
    Rolling { replaced: Vec<u32>, at: u32 },
    /// A roll went through its instances (`replaced` were replaced).
    Rolled { replaced: Vec<u32> },
}

fn list_instances(instances: &[u32]) -> String {
    if instances.is_empty() {
        return "none".into();
    }
    let list: Vec<String> = instances.iter().map(u32::to_string).collect();
    list.join(", ")
}

impl Reached {
    fn describe(self, action: &Action) -> String {
        match (self, action) {
            (Reached::Rolling { replaced, at }, _) => format!(
                "instances replaced: {}; instance {at} was being replaced (`pm2ctl list` shows \
                 whether it runs); the others run as before",
                list_instances(&replaced)
            ),
            (Reached::Rolled { replaced }, _) => format!(
                "instances replaced: {}; its other units were being updated",
                list_instances(&replaced)
            ),
            (Reached::Untouched, _) => {
                "nothing of it was changed (it runs as before, if it ran)".into()
            }
            (Reached::Removed, Action::Stop | Action::Prune) => {
                "its units are stopped and removed".into()
            }
            (Reached::Removed, _) => {
                "its old units are stopped and removed, the new ones not created: it is not running"
                    .into()
            }
            (Reached::Creating, _) => {
                "its units were being created: some of it may not run (`pm2ctl list` shows which)"
                    .into()
            }
        }
    }
}

/// Step 1: record every desired app; saves only when a record changes, so an apply that
/// changes nothing writes nothing. `saved_copy`: the file is the saved state (`resurrect`), a
/// copy of apps applied from their own files: an app recorded with the definition the copy
/// holds keeps the file (and `--env`) it came from, as when the generator brings it back at
/// boot, so `show` still names that file and `apply --prune` of that file still finds it.
fn record_desired(
    store: &mut Store,
    desired: &[DesiredApp],
    source: &Source,
    saved_copy: bool,
) -> Result<()> {
    let mut changed = false;
    for app in desired {
        let current = store.state().app(&app.plan.name);
        let source = match current {
            Some(r) if saved_copy && r.fingerprint == app.fingerprint => &r.source,
            _ => source,
        };
        let same = current.is_some_and(|r| {
            r.fingerprint == app.fingerprint
                && r.desired == app.desired
                && &r.source == source
                && r.plan == app.plan
        });
        if !same {
            let source = source.clone();
            store.state_mut().upsert_app(
                app.plan.clone(),
                app.fingerprint.clone(),
                source,
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
/// instances' restart offsets, so the count PM2 shows keeps growing. In memory only: the
/// caller saves once the app's units are back (a full disk must not stop a replace half-way).
/// Returns whether a record changed.
fn carry_restarts(
    store: &mut Store,
    app: &str,
    removed: &[String],
    live: &[LiveUnit],
    extra: i64,
) -> bool {
    let Some(app) = store.state_mut().app_mut(app) else {
        return false;
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
    changed
}

/// One app's changes in progress.
struct Run<'a> {
    client: &'a Client,
    change: &'a Change,
    progress: &'a mut dyn Write,
    failures: &'a mut Vec<Failure>,
    reached: Reached,
    /// The app's record before this apply.
    previous: Option<&'a AppRecord>,
    /// A roll that fails goes back to `previous`.
    rollback: bool,
    /// A state write that failed once systemd was changed, reported at the end.
    unsaved: Option<anyhow::Error>,
    /// The apps created together with this one (see `create_many`).
    batch: Vec<&'a AppPlan>,
}

/// How many units' calls are in flight at once: enough that many apps cost a few round
/// trips, few enough that a file of hundreds of apps does not flood the bus.
const BATCH: usize = 64;

impl Run<'_> {
    /// Carries out this app's change. The outer `Err` stops the apply (systemd could not
    /// be talked to); the inner one is a state write that failed once systemd was changed.
    fn apply(
        &mut self,
        app: Option<&DesiredApp>,
        store: &mut Store,
        live: &[LiveUnit],
    ) -> Result<Result<()>> {
        let change = self.change;
        let mut record_changed = false;
        match (&change.action, app) {
            (Action::Unchanged | Action::LeftStopped, _) => {}
            (Action::Create, Some(app)) => {
                self.say(&format!("{}: create", change.app))?;
                self.create(&app.plan, None, true, true)?;
            }
            (Action::Replace { reason }, Some(app)) => {
                self.say(&format!("{}: replace ({reason})", change.app))?;
                record_changed = self.replace(app, store, live)?;
            }
            (Action::Roll { .. }, Some(app))
                if generator::generated(self.client.host(), self.client.scope(), &change.live) =>
            {
                // The generator's files cannot take another definition (systemd writes
                // them again at every daemon-reload): the app is handed over whole.
                self.say(&format!(
                    "{}: replace (it runs from the saved state's generated units, which \
                     cannot be rolled)",
                    change.app
                ))?;
                record_changed = self.replace(app, store, live)?;
            }
            (
                Action::Roll {
                    reason,
                    instances,
                    extra,
                    companions,
                    limits,
                },
                Some(app),
            ) => {
                if !instances.is_empty() {
                    let roll = super::describe_roll(instances, reason);
                    self.say(&format!("{}: {roll}", change.app))?;
                }
                if !limits.is_empty() {
                    self.set_limits(&app.plan, instances, limits)?;
                }
                let roll = roll::Roll {
                    app,
                    previous: self.previous,
                    instances,
                    rollback: self.rollback,
                };
                record_changed = self.roll(&roll, store, live)?;
                if !extra.is_empty() {
                    self.say(&format!(
                        "{}: remove the instances beyond the file's count (the others keep \
                         running)",
                        change.app
                    ))?;
                    self.remove(extra)?;
                    record_changed |= carry_restarts(store, &change.app, extra, live, 0);
                }
                if let Some(why) = companions {
                    self.renew_companions(app, *why)?;
                }
            }
            (
                Action::Repair {
                    companions: Some(CompanionChange::Changed),
                    ..
                },
                Some(app),
            ) if generator::generated(self.client.host(), self.client.scope(), &change.live) => {
                // The generator's files hold the old companions and cannot be re-created
                // as transient units one by one: the app is handed over whole.
                self.say(&format!(
                    "{}: replace (its cron timer, watch agent or memory check changed)",
                    change.app
                ))?;
                record_changed = self.replace(app, store, live)?;
            }
            (
                Action::Repair {
                    instances,
                    companions,
                    limits,
                },
                Some(app),
            ) => {
                if !limits.is_empty() {
                    self.set_limits(&app.plan, instances, limits)?;
                    if instances.is_empty() && companions.is_none() {
                        return Ok(Ok(()));
                    }
                }
                let list: Vec<String> = instances.iter().map(u32::to_string).collect();
                if !instances.is_empty() {
                    self.say(&format!(
                        "{}: restart instance{} {} (not running)",
                        change.app,
                        if instances.len() == 1 { "" } else { "s" },
                        list.join(", ")
                    ))?;
                }
                let mut units: Vec<String> = app
                    .plan
                    .instances
                    .iter()
                    .filter(|i| instances.contains(&i.index))
                    .flat_map(|i| std::iter::once(&i.service).chain(i.socket.as_ref()))
                    .map(|u| u.name.clone())
                    .collect();
                if let Some(why) = companions {
                    self.say(&match why {
                        CompanionChange::Down => format!(
                            "{}: re-create its cron timer or watch agent (not running)",
                            change.app
                        ),
                        CompanionChange::Changed => format!(
                            "{}: update its cron timer, watch agent or memory check (its \
                             instances keep running)",
                            change.app
                        ),
                    })?;
                    units.extend(self.live_companions());
                }
                if generator::generated(self.client.host(), self.client.scope(), &units) {
                    // The generator's files hold this very definition (same fingerprint):
                    // start them where they are; they cannot be re-created as transient.
                    let outcomes = self.client.start_units(&units)?;
                    self.reached = Reached::Creating;
                    self.report(&outcomes, &[])?;
                } else {
                    self.remove(&units)?;
                    record_changed = carry_restarts(store, &change.app, &units, live, 0);
                    let slice_missing = !change.live.contains(&app.plan.slice.name);
                    self.create(
                        &app.plan,
                        Some(instances),
                        slice_missing,
                        companions.is_some(),
                    )?;
                }
            }
            (Action::Stop, _) => {
                self.say(&format!("{}: stop (recorded as stopped)", change.app))?;
                self.remove(&change.live)?;
                record_changed = carry_restarts(store, &change.app, &change.live, live, 0);
            }
            (Action::Prune, _) => {
                self.say(&format!("{}: prune (no longer in the file)", change.app))?;
                self.remove(&change.live)?;
                // Out of the saved file and then forgotten, only once its units are gone, so
                // a prune cut short is retried by the next `apply --prune`.
                self.unsave(&change.app, &change.live)?;
                store.state_mut().remove_app(&change.app);
                record_changed = true;
            }
            (_, None) => anyhow::bail!("internal error: no plan for app {}", change.app),
        }
        let saved = if record_changed { store.save() } else { Ok(()) };
        Ok(match self.unsaved.take() {
            Some(e) => Err(e),
            None => saved,
        })
    }

    /// Creates every app of `batch` (all new), together.
    fn create_all(&mut self) -> Result<Result<()>> {
        let batch = self.batch.clone();
        for plan in &batch {
            self.say(&format!("{}: create", plan.name))?;
        }
        let apps: Vec<(&AppPlan, Option<&[u32]>)> = batch.iter().map(|p| (*p, None)).collect();
        self.create_many(&apps, true, true)?;
        Ok(Ok(()))
    }

    /// Removes what runs of the app (handing it over from the generator's units when it
    /// came from them) and creates it anew. Returns whether its record changed.
    fn replace(&mut self, app: &DesiredApp, store: &mut Store, live: &[LiveUnit]) -> Result<bool> {
        let change = self.change;
        if generator::generated(self.client.host(), self.client.scope(), &change.live) {
            self.hand_over(&change.app, &change.live)?;
        } else {
            self.remove(&change.live)?;
        }
        // Replacing is a restart of every instance that ran: it counts, as PM2's.
        let record_changed = carry_restarts(store, &change.app, &change.live, live, 1);
        self.create(&app.plan, None, true, true)?;
        Ok(record_changed)
    }

    /// Sets the changed limits on the app's instances but `except` (those re-created or
    /// rolled, which get them with their definition) with `SetUnitProperties`: their
    /// processes keep running.
    fn set_limits(
        &mut self,
        plan: &AppPlan,
        except: &[u32],
        limits: &[crate::unit::live::LiveChange],
    ) -> Result<()> {
        self.say(&format!(
            "{}: {}",
            plan.name,
            super::describe_limits(limits)
        ))?;
        for instance in plan.instances.iter().filter(|i| !except.contains(&i.index)) {
            let spec = crate::unit::live::live_only(&instance.service);
            self.client.set_properties(&spec)?;
            self.reached = Reached::Creating;
            self.say(&format!("  updated {}", instance.service.name))?;
        }
        Ok(())
    }

    /// Re-creates the app's companions: every companion unit systemd has goes, the planned
    /// ones are created.
    fn renew_companions(&mut self, app: &DesiredApp, why: CompanionChange) -> Result<()> {
        let change = self.change;
        self.say(&match why {
            CompanionChange::Down => format!(
                "{}: re-create its cron timer or watch agent (not running)",
                change.app
            ),
            CompanionChange::Changed => format!(
                "{}: update its cron timer, watch agent or memory check",
                change.app
            ),
        })?;
        let units = self.live_companions();
        self.remove(&units)?;
        self.create(&app.plan, Some(&[]), false, true)
    }

    /// Every companion unit of the app systemd has, those no longer planned included.
    fn live_companions(&self) -> Vec<String> {
        self.change
            .live
            .iter()
            .filter(|u| crate::unit::name::companion_owner(u).is_some())
            .cloned()
            .collect()
    }

    /// A pruned app leaves the saved state too, as a deleted one does, so it does not come
    /// back at the next boot (or `daemon-reload`, when the generator brought it up). A saved
    /// file that cannot be updated is said, not fatal: the app is gone from systemd.
    fn unsave(&mut self, app: &str, units: &[String]) -> Result<()> {
        match saved::unsave(self.client, &[app.to_string()], units) {
            Ok(Some(said)) => self.say(&format!("  {said}")),
            Ok(None) => Ok(()),
            Err(e) => self.say(&format!("  warning: {e:#}")),
        }
    }

    /// The app `unit` belongs to: this change's, or in a batch, the one whose slice owns it.
    fn app_of(&self, unit: &str) -> String {
        let owner = crate::unit::name::owner_of(unit);
        self.batch
            .iter()
            .find(|plan| owner.is_some() && crate::unit::name::owner_of(&plan.slice.name) == owner)
            .map_or_else(|| self.change.app.clone(), |plan| plan.name.clone())
    }

    fn say(&mut self, line: &str) -> Result<()> {
        writeln!(self.progress, "{line}")?;
        Ok(())
    }

    /// The app runs from the generator's unit files (it came back at boot), which stay
    /// loaded once stopped, so no transient unit could take their names: the app is marked
    /// handed over (the generator leaves it out until the next boot), its units stopped,
    /// and systemd reloaded, so the generated files are gone before the new units are made.
    fn hand_over(&mut self, app: &str, units: &[String]) -> Result<()> {
        let scope = self.client.scope();
        handover::mark(scope, app).context("cannot hand the app over from its generated units")?;
        self.remove(units)?;
        self.client
            .daemon_reload()
            .context("cannot reload systemd to drop the generated units")?;
        self.say(&format!(
            "  {app} ran from the saved state's generated units: it runs from this definition \
             now, which differs from the saved one until `pm2ctl save` (the saved one comes \
             back at the next boot)"
        ))
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
                self.say(&format!("  stopped {} ({})", outcome.unit, outcome.why()))?;
            }
        }
        self.reached = Reached::Removed;
        checkpoint::reached("apply:removed");
        Ok(())
    }

    /// Creates the slice (when `with_slice`) and the instances listed in `only` (all when
    /// `None`), then starts the socket-activated services so every instance runs now; then
    /// the companions (when `with_companions`), once the app runs.
    fn create(
        &mut self,
        plan: &AppPlan,
        only: Option<&[u32]>,
        with_slice: bool,
        with_companions: bool,
    ) -> Result<()> {
        self.create_many(&[(plan, only)], with_slice, with_companions)
    }

    /// `create` for several apps at once: each step's calls for every app are sent together
    /// (slices, then sockets and services, then the socket-activated services' starts, then
    /// companions), `BATCH` at a time, so many apps cost a few round trips, not a few each.
    fn create_many(
        &mut self,
        apps: &[(&AppPlan, Option<&[u32]>)],
        with_slice: bool,
        with_companions: bool,
    ) -> Result<()> {
        if with_slice {
            let slices: Vec<StartRequest<'_>> = apps
                .iter()
                .map(|(plan, _)| StartRequest {
                    main: &plan.slice,
                    aux: Vec::new(),
                })
                .collect();
            self.start_transient(&slices)?;
        }
        let instances: Vec<&crate::plan::InstancePlan> = apps
            .iter()
            .flat_map(|(plan, only)| {
                plan.instances
                    .iter()
                    .filter(move |i| only.is_none_or(|o| o.contains(&i.index)))
            })
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
        checkpoint::reached("apply:created");

        // A socket's service is only loaded by the call above; start it like PM2 would.
        let activated: Vec<String> = instances
            .iter()
            .filter(|i| i.socket.as_ref().is_some_and(|s| started.contains(&s.name)))
            .map(|i| i.service.name.clone())
            .collect();
        for chunk in activated.chunks(BATCH) {
            let outcomes = self.client.start_units(chunk)?;
            self.report(&outcomes, &[])?;
        }
        if with_companions {
            // A timer loads its service (aux) and starts only itself.
            let requests: Vec<StartRequest<'_>> = apps
                .iter()
                .flat_map(|(plan, _)| &plan.companions)
                .map(|c| StartRequest {
                    main: c.main(),
                    aux: c.timer.as_ref().map(|_| &c.service).into_iter().collect(),
                })
                .collect();
            if !requests.is_empty() {
                self.start_transient(&requests)?;
            }
        }
        Ok(())
    }

    /// `StartTransientUnit` for `requests`; a name systemd still has loaded (`UnitExists`,
    /// e.g. a unit someone stopped by hand and that something still references) is
    /// removed and created once more. Returns the main units that started.
    fn start_transient(&mut self, requests: &[StartRequest<'_>]) -> Result<Vec<String>> {
        let mut started = Vec::new();
        for chunk in requests.chunks(BATCH) {
            started.extend(self.start_transient_batch(chunk)?);
        }
        Ok(started)
    }

    fn start_transient_batch(&mut self, requests: &[StartRequest<'_>]) -> Result<Vec<String>> {
        let outcomes = self.client.start_transient(requests)?;
        self.reached = Reached::Creating;
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
                let reason = outcome.why();
                self.say(&format!("  FAILED {}{with}: {reason}", outcome.unit))?;
                // The service is what has a Result, an exit status and a journal.
                let service = aux
                    .iter()
                    .find(|a| a.ends_with(".service"))
                    .unwrap_or(&outcome.unit);
                self.failures.push(Failure {
                    app: self.app_of(&outcome.unit),
                    unit: outcome.unit.clone(),
                    reason,
                    report: self.client.failure_report(service),
                });
            }
        }
        Ok(())
    }
}
