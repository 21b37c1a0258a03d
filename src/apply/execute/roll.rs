//! A rolling replacement: an app's instances are replaced one at a time, each new one ready
//! before the next old one goes, so the app keeps serving through an `apply`.
//!
//! An instance whose socket keeps its address keeps its socket: systemd goes on holding it
//! (its queued connections survive), and only the service gets its new definition. A
//! transient service's definition cannot be changed over D-Bus once it exists, so the new one
//! is written where systemd keeps the transient unit's file (its `FragmentPath`, in systemd's
//! runtime directory) and systemd reads it again (`daemon-reload`), then the service is
//! restarted: the Node shim drains the old process, systemd starts the new one on the same
//! socket. An instance whose socket changed (a new port), or that is missing or down, has its
//! socket and service removed and created anew instead.
//!
//! An instance that already has its planned definition (`apply --reload` after new code was
//! deployed) and whose Node shim can hand over is handed over, as `reload` does: the new
//! process starts beside the old one, which serves until it is ready.
//!
//! Readiness is `reload`'s (`lifecycle::reload::wait_ready`): READY=1, accepting on its
//! socket, or `listen_timeout`. A new instance that does not become ready stops the roll:
//! the instances not reached keep the previous definition; with rollback (the default) the
//! replaced ones get it back too, from the state store's previous record.

use super::{new_env, Reached, Run};
use crate::apply::diff::{DesiredApp, LiveUnit};
use crate::checkpoint;
use crate::host::Host;
use crate::lifecycle::reload::{self, Ready, Restarted};
use crate::plan::{AppPlan, InstancePlan};
use crate::state::{AppRecord, Store};
use crate::unit::{self, UnitSpec};
use anyhow::{Context, Result};
use std::path::Path;
use std::time::Instant;

/// How one instance was replaced.
enum Way {
    /// Its unit got the new definition in place and was restarted; its socket was kept.
    InPlace { file: String },
    /// Its socket and service were removed (if any) and created anew.
    Anew,
}

/// What a roll asks of each instance.
pub(super) struct Roll<'a> {
    pub app: &'a DesiredApp,
    /// The app's record before this apply: the definition a failed roll goes back to.
    pub previous: Option<&'a AppRecord>,
    pub instances: &'a [u32],
    pub rollback: bool,
}

impl Run<'_> {
    /// Replaces `roll.instances` one at a time. Returns whether the app's record changed.
    /// A roll stopped by an instance that did not become ready is a failure, not an error.
    pub(super) fn roll(
        &mut self,
        roll: &Roll<'_>,
        store: &mut Store,
        live: &[LiveUnit],
    ) -> Result<bool> {
        let app = roll.app;
        let name = &app.plan.name;
        if roll.instances.is_empty() {
            return Ok(false);
        }
        // A mark that cannot be saved (a full disk) does not stop the roll: it is reported
        // once every change is made, as other state writes are.
        if let Err(e) = set_rolling(store, name, true) {
            self.unsaved.get_or_insert(e);
        }
        let no_socket = app
            .plan
            .instances
            .iter()
            .any(|i| roll.instances.contains(&i.index) && i.socket.is_none());
        if no_socket {
            self.say(&format!(
                "  warning: [{name}] has no socket held by systemd (fork mode, or no `port`): \
                 connections to it are refused while each instance restarts"
            ))?;
        }

        let mut replaced: Vec<u32> = Vec::new();
        let mut record_changed = false;
        let mut failed = None;
        for &index in roll.instances {
            let Some(planned) = app.plan.instances.iter().find(|i| i.index == index) else {
                continue;
            };
            self.reached = Reached::Rolling {
                replaced: replaced.clone(),
                at: index,
            };
            let old_socket = previous_socket(roll.previous, live, planned);
            let result = self.replace_instance(
                planned,
                running_definition(roll.previous, live, planned),
                &app.fingerprint,
                old_socket,
                live,
                &app.plan,
                Running::Steadily,
            )?;
            record_changed |= super::carry_restarts(
                store,
                name,
                std::slice::from_ref(&planned.service.name),
                live,
                1,
            );
            replaced.push(index);
            match result {
                Ok(ready) => self.say(&format!(
                    "  replaced {}: {}",
                    planned.service.name,
                    describe_ready(ready)
                ))?,
                Err(why) => {
                    failed = Some((index, why));
                    break;
                }
            }
        }
        self.reached = Reached::Rolled {
            replaced: replaced.clone(),
        };

        if let Some((index, why)) = failed {
            let service = app
                .plan
                .instances
                .iter()
                .find(|i| i.index == index)
                .map(|i| i.service.name.clone())
                .unwrap_or_default();
            let (reason, report) = why.split_once('\n').unwrap_or((&why, ""));
            self.failures.push(super::Failure {
                app: name.clone(),
                unit: service.clone(),
                reason: format!("not ready after its replacement: {reason}"),
                report: report.to_string(),
            });
            let rest: Vec<String> = roll
                .instances
                .iter()
                .filter(|i| !replaced.contains(i))
                .map(u32::to_string)
                .collect();
            self.say(&format!(
                "  FAILED {service}: the roll stopped there{}",
                if rest.is_empty() {
                    String::new()
                } else {
                    format!(
                        "; instance{} {} keep{} the previous definition",
                        if rest.len() == 1 { "" } else { "s" },
                        rest.join(", "),
                        if rest.len() == 1 { "s" } else { "" }
                    )
                }
            ))?;
            if roll.rollback {
                // A hand-over whose new process failed left the old one serving.
                let kept = reload::old_process_kept(&why).then_some(index);
                record_changed |= self.roll_back(roll, &replaced, kept, store, live)?;
            }
        }
        if let Err(e) = set_rolling(store, name, false) {
            self.unsaved.get_or_insert(e);
        }
        Ok(record_changed)
    }

    /// Replaces one instance and waits until it is ready. The outer `Err` is a failure to
    /// talk to systemd (the apply stops); the inner one says why the instance is not ready.
    /// `running_now`: the definition the instance runs, when the state store knows it.
    #[allow(clippy::too_many_arguments)]
    fn replace_instance(
        &mut self,
        planned: &InstancePlan,
        running_now: Option<&InstancePlan>,
        fingerprint: &str,
        old_socket: SocketFate,
        live: &[LiveUnit],
        plan: &AppPlan,
        running: Running,
    ) -> Result<Result<Ready, String>> {
        let service = live.iter().find(|u| u.name == planned.service.name);
        let way = match (service.and_then(|s| s.transient_file.clone()), old_socket) {
            (Some(file), SocketFate::Kept | SocketFate::None) => Way::InPlace { file },
            _ => Way::Anew,
        };
        let restarts = match running {
            Running::Steadily => Some(service.map_or(0, |s| s.n_restarts)),
            Running::MaybeFailing => None,
        };
        let started = Instant::now();
        match way {
            Way::InPlace { file } => {
                let same = service.and_then(|s| s.fingerprint.as_deref()) == Some(fingerprint);
                // Only the app's `env` changed: its Node shim can start the new process with
                // the new variables beside the old one (see `new_env`). What runs is read
                // before systemd reads the new definition.
                let env_handover = match running_now {
                    Some(now) if !same && running == Running::Steadily => {
                        match new_env::env_only_change(&now.service, &planned.service) {
                            Some(change) => self.env_handover(
                                &planned.service.name,
                                change,
                                plan.listen_timeout,
                            )?,
                            None => None,
                        }
                    }
                    _ => None,
                };
                if !same {
                    // Otherwise nothing changed yet: the instance is created anew instead,
                    // which keeps the others serving but not its socket.
                    if !self.redefine(&planned.service, &file, "is created anew, its socket too")? {
                        return self.replace_anew(planned, plan, live, started);
                    }
                    checkpoint::reached("apply:reloaded");
                }
                if let Some(target) = env_handover {
                    if let Some(ready) =
                        self.hand_over_with(&planned.service.name, &target, plan)?
                    {
                        checkpoint::reached("apply:restarted");
                        return Ok(ready);
                    }
                }
                // Already the planned definition (`apply --reload`, new code on disk): a
                // Node shim hands over to the new process as `reload` does.
                if same && running == Running::Steadily {
                    let handed =
                        reload::hand_over(self.client, &planned.service.name, plan.listen_timeout)?;
                    if let Some(ready) = handed {
                        checkpoint::reached("apply:restarted");
                        return Ok(ready);
                    }
                }
                if running == Running::MaybeFailing {
                    // A restart asked for while systemd restarts a failing process on its own
                    // is merged into that restart, which may still be starting the failed
                    // version: stopping first cancels it, and what starts next is what
                    // systemd has just read.
                    self.client
                        .stop_units(std::slice::from_ref(&planned.service.name))?;
                }
                let outcomes = self
                    .client
                    .restart_units(std::slice::from_ref(&planned.service.name))?;
                checkpoint::reached("apply:restarted");
                Ok(reload::ready_after(
                    self.client,
                    outcomes.first(),
                    &Restarted {
                        service: &planned.service.name,
                        socket: planned.socket.is_some(),
                        restarts,
                    },
                    started + plan.listen_timeout,
                ))
            }
            Way::Anew => self.replace_anew(planned, plan, live, started),
        }
    }

    /// What an `env`-only roll of `service` needs from the running unit before systemd reads
    /// the new definition: it hands over, its invocation (the file's name) and its account.
    /// `None` when it cannot be handed over (the roll restarts it).
    fn env_handover(
        &self,
        service: &str,
        change: new_env::EnvChange,
        listen_timeout: std::time::Duration,
    ) -> Result<Option<EnvHandover>> {
        // Over -H the file would have to be written over ssh: `ready_to_hand_over` says no.
        let Some(state) = self.client.read_states(&[service.to_string()])?.pop() else {
            return Ok(None);
        };
        if !reload::ready_to_hand_over(self.client, &state, Instant::now() + listen_timeout) {
            return Ok(None);
        }
        let Some(invocation) = state
            .unit
            .invocation_id
            .as_deref()
            .filter(|id| id.len() == 16)
        else {
            return Ok(None);
        };
        let invocation: String = invocation.iter().map(|b| format!("{b:02x}")).collect();
        let user = state.service.as_ref().and_then(|s| s.user.as_deref());
        let owner = new_env::owner(user)?;
        Ok(Some(EnvHandover {
            change,
            invocation,
            owner,
        }))
    }

    /// Leaves the new environment for the shim and hands over; `None` when the unit no
    /// longer hands over once systemd read the new definition.
    fn hand_over_with(
        &mut self,
        service: &str,
        target: &EnvHandover,
        plan: &AppPlan,
    ) -> Result<Option<Result<Ready, String>>> {
        let file = match new_env::write(&target.change, &target.invocation, target.owner) {
            Ok(file) => file,
            Err(e) => {
                self.say(&format!("  warning: {e:#}: {service} is restarted instead"))?;
                return Ok(None);
            }
        };
        let handed = reload::hand_over(self.client, service, plan.listen_timeout);
        if let Err(e) = new_env::remove(&file) {
            self.say(&format!("  warning: {e:#}"))?;
        }
        let handed = handed?;
        // A shim that could not see the file (a sandbox option hiding pm2ctl's runtime
        // directory) starts the new process with the old variables: check the fingerprint.
        if let Some(Ok(_)) = &handed {
            let fingerprint = target.change.set.get(crate::systemd::FINGERPRINT_VAR);
            let pid = self
                .client
                .read_states(&[service.to_string()])?
                .pop()
                .and_then(|s| s.main_pid());
            let has_it = match (pid, fingerprint) {
                (Some(pid), Some(fp)) => {
                    new_env::process_has(pid, crate::systemd::FINGERPRINT_VAR, fp)
                }
                _ => false,
            };
            if !has_it {
                return Ok(Some(Err(format!(
                    "{service}'s new process did not start with the new environment: its \
                     Node shim could not read {} (a sandbox option hiding {}?)",
                    file.display(),
                    target.change.dir.display()
                ))));
            }
        }
        Ok(handed)
    }

    /// Removes the instance's units that systemd has and creates them from `planned`.
    fn replace_anew(
        &mut self,
        planned: &InstancePlan,
        plan: &AppPlan,
        live: &[LiveUnit],
        started: Instant,
    ) -> Result<Result<Ready, String>> {
        let mut old: Vec<String> = vec![planned.service.name.clone()];
        old.extend(planned.socket.as_ref().map(|s| s.name.clone()));
        // The socket of the previous definition may have another name only if the app
        // changed, which the plan's names rule out: the names are the instance's.
        old.retain(|n| live.iter().any(|u| &u.name == n));
        self.remove(&old)?;
        let failures_before = self.failures.len();
        self.create(plan, Some(&[planned.index]), false, false)?;
        if self.failures.len() > failures_before {
            // `create` reported it with systemd's account: take it back as this roll's.
            let failure = self.failures.pop();
            let why = failure.map_or_else(
                || "it did not start".to_string(),
                |f| format!("{}\n{}", f.reason, f.report),
            );
            self.failures.truncate(failures_before);
            return Ok(Err(why));
        }
        Ok(reload::wait_ready(
            self.client,
            &Restarted {
                service: &planned.service.name,
                socket: planned.socket.is_some(),
                restarts: Some(0),
            },
            started + plan.listen_timeout,
        ))
    }

    /// Gives the `replaced` instances the previous definition again, and the record its
    /// previous plan. `kept`: the instance whose old process still serves (its hand-over
    /// failed), which only its definition goes back for. Returns whether the record changed.
    fn roll_back(
        &mut self,
        roll: &Roll<'_>,
        replaced: &[u32],
        kept: Option<u32>,
        store: &mut Store,
        live: &[LiveUnit],
    ) -> Result<bool> {
        let app = roll.app;
        let name = &app.plan.name;
        // Only a previous record of what ran can be gone back to: the replaced instances
        // ran it when their units carried its fingerprint.
        let previous = roll.previous.filter(|p| {
            replaced.iter().all(|index| {
                let service = app.plan.instances.iter().find(|i| i.index == *index);
                service.is_none_or(|s| {
                    live.iter()
                        .find(|u| u.name == s.service.name)
                        .is_none_or(|u| u.fingerprint.as_deref() == Some(p.fingerprint.as_str()))
                })
            })
        });
        let Some(previous) = previous else {
            self.say(&format!(
                "  {name}: no previous definition to go back to (the state store has none that \
                 the replaced instances ran): they keep the new one"
            ))?;
            return Ok(false);
        };
        // The units as they are now: the replaced ones run the new definition.
        let now: Vec<LiveUnit> = live
            .iter()
            .map(|u| {
                let mut u = u.clone();
                if replaced.iter().any(|i| {
                    app.plan
                        .instances
                        .iter()
                        .any(|p| p.index == *i && p.service.name == u.name)
                }) {
                    u.fingerprint = Some(app.fingerprint.clone());
                }
                u
            })
            .collect();
        for index in replaced.iter().rev() {
            let Some(old) = previous.plan.instances.iter().find(|i| i.index == *index) else {
                // A new instance (a higher count): it goes.
                let mut units = Vec::new();
                if let Some(i) = app.plan.instances.iter().find(|i| i.index == *index) {
                    units.push(i.service.name.clone());
                    units.extend(i.socket.as_ref().map(|s| s.name.clone()));
                }
                self.remove(&units)?;
                continue;
            };
            if kept == Some(*index) && self.restore_in_place(old, &previous.fingerprint, &now)? {
                self.say(&format!(
                    "  rolled back {} to the previous definition; its process never left it \
                     and kept serving",
                    old.service.name
                ))?;
                continue;
            }
            let new = app.plan.instances.iter().find(|i| i.index == *index);
            let socket = match (&old.socket, new) {
                (Some(o), Some(new)) if new.socket.as_ref() == Some(o) => SocketFate::Kept,
                (None, Some(new)) if new.socket.is_none() => SocketFate::None,
                _ => SocketFate::Changed,
            };
            // The instances before the failed one became ready on the new definition: they
            // run steadily, and go back the way they came (an `env` change is handed over
            // again). The failed one may be crash-looping.
            let (running_now, running) = if Some(index) == replaced.last() {
                (None, Running::MaybeFailing)
            } else {
                (new, Running::Steadily)
            };
            match self.replace_instance(
                old,
                running_now,
                &previous.fingerprint,
                socket,
                &now,
                &previous.plan,
                running,
            )? {
                Ok(ready) => self.say(&format!(
                    "  rolled back {} to the previous definition: {}",
                    old.service.name,
                    describe_ready(ready)
                ))?,
                Err(why) => {
                    let first = why.lines().next().unwrap_or_default().to_string();
                    self.say(&format!(
                        "  {} did not come back with the previous definition either: {first}",
                        old.service.name
                    ))?
                }
            }
        }
        // The record says what runs again; restart counts stay as they were counted.
        if let Some(record) = store.state_mut().app_mut(name) {
            record.plan = previous.plan.clone();
            record.fingerprint = previous.fingerprint.clone();
            record.definition = previous.definition.clone();
            record.source = previous.source.clone();
        }
        Ok(true)
    }

    /// Gives `old`'s unit its definition back without touching its process, which still
    /// runs it (its hand-over failed): the unit file again, if systemd has read the new one
    /// (an `env` change), and nothing if the definition was the same (`apply --reload`).
    /// `false` when that cannot be done in place (the instance is then restarted).
    fn restore_in_place(
        &mut self,
        old: &InstancePlan,
        fingerprint: &str,
        now: &[LiveUnit],
    ) -> Result<bool> {
        let Some(unit) = now.iter().find(|u| u.name == old.service.name) else {
            return Ok(false);
        };
        if unit.fingerprint.as_deref() == Some(fingerprint) {
            return Ok(true);
        }
        match &unit.transient_file {
            Some(file) => self.redefine(&old.service, file, "is restarted"),
            None => Ok(false),
        }
    }

    /// Writes `service` over its transient unit's `file` and has systemd read it. `false`
    /// when it cannot be written (said, with what happens `instead`) or holds a value no
    /// unit file can: the caller replaces the instance another way.
    fn redefine(&mut self, service: &UnitSpec, file: &str, instead: &str) -> Result<bool> {
        let Ok(text) = unit::render(service) else {
            return Ok(false);
        };
        if let Err(e) = write_unit_file(self.client.host(), Path::new(file), &text) {
            self.say(&format!("  warning: {e:#}: {} {instead}", service.name))?;
            return Ok(false);
        }
        self.client
            .daemon_reload()
            .context("cannot make systemd read the instance's definition")?;
        Ok(true)
    }
}

/// An instance rolled by hand-over with a new environment.
struct EnvHandover {
    change: new_env::EnvChange,
    /// The running invocation's id, in hex (`INVOCATION_ID`).
    invocation: String,
    /// The uid its processes run as.
    owner: u32,
}

/// The definition `planned`'s instance runs, from the app's previous record, when its
/// service carries that record's fingerprint.
fn running_definition<'a>(
    previous: Option<&'a AppRecord>,
    live: &[LiveUnit],
    planned: &InstancePlan,
) -> Option<&'a InstancePlan> {
    let running = live
        .iter()
        .find(|u| u.name == planned.service.name)?
        .fingerprint
        .as_deref()?;
    let record = previous.filter(|r| r.fingerprint == running)?;
    record
        .plan
        .instances
        .iter()
        .find(|i| i.index == planned.index)
}

/// How the instance being replaced runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Running {
    /// Steadily: its count of systemd's restarts before the replacement is the baseline.
    Steadily,
    /// Perhaps failing and being restarted by systemd: a roll back of a failed version.
    MaybeFailing,
}

/// What happens to an instance's socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SocketFate {
    /// It has one and keeps it: same definition, and systemd has it up.
    Kept,
    /// It has none, before and after.
    None,
    /// Its socket is new, changed, gone or down: the instance is created anew.
    Changed,
}

/// Whether the socket of `planned` is the one that runs. What runs is known from the
/// previous record, when the instance's unit carries that record's fingerprint.
fn previous_socket(
    previous: Option<&AppRecord>,
    live: &[LiveUnit],
    planned: &InstancePlan,
) -> SocketFate {
    let up = |name: &str| {
        live.iter()
            .any(|u| u.name == name && matches!(u.active_state.as_str(), "active" | "activating"))
    };
    let running_fp = live
        .iter()
        .find(|u| u.name == planned.service.name)
        .and_then(|u| u.fingerprint.as_deref());
    let previous = previous
        .filter(|p| Some(p.fingerprint.as_str()) == running_fp)
        .and_then(|p| p.plan.instances.iter().find(|i| i.index == planned.index));
    match &planned.socket {
        None => {
            // A socket left from a cluster definition would keep the port: not in place.
            let stray = unit::name::parse_instance_unit(&planned.service.name)
                .map(|u| unit::name::AppUnitNames::from_escaped(u.escaped).socket(u.index));
            if stray.is_some_and(|s| live.iter().any(|u| u.name == s)) {
                SocketFate::Changed
            } else {
                SocketFate::None
            }
        }
        Some(socket) => match previous {
            Some(old) if old.socket.as_ref() == Some(socket) && up(&socket.name) => {
                SocketFate::Kept
            }
            // Without a record of what runs, the same fingerprint means the same socket.
            None if running_fp.is_some()
                && up(&socket.name)
                && same_as_running(planned, running_fp) =>
            {
                SocketFate::Kept
            }
            _ => SocketFate::Changed,
        },
    }
}

/// True when the instance already runs the planned definition (a `--reload` or a roll
/// cut short): its socket is the planned one.
fn same_as_running(planned: &InstancePlan, running_fp: Option<&str>) -> bool {
    crate::apply::stamped(&planned.service) == running_fp
}

fn describe_ready(ready: Ready) -> &'static str {
    match ready {
        Ready::Notified => "ready (it sent READY=1)",
        Ready::Accepting => "ready (accepting on its socket)",
        Ready::ListenTimeout => "taken as ready (listen_timeout passed)",
        Ready::Started => "started",
        Ready::HandedOver => "ready (its new process took over the socket)",
    }
}

/// Saves the roll mark of `app` (see `AppRecord::rolling`).
fn set_rolling(store: &mut Store, app: &str, rolling: bool) -> Result<()> {
    let Some(record) = store.state_mut().app_mut(app) else {
        return Ok(());
    };
    if record.rolling == rolling {
        return Ok(());
    }
    record.rolling = rolling;
    store.save()
}

/// Writes a transient unit's new definition over the file systemd keeps for it, on the
/// managed host, whole or not at all; drop-ins systemd wrote beside it for properties set
/// at runtime (`SetUnitProperties`) are removed, since the new file holds their values and
/// a drop-in would override it.
fn write_unit_file(host: &Host, path: &Path, text: &str) -> Result<()> {
    let dropins = format!("{}.d", path.display());
    if let Some(dest) = host.ssh() {
        crate::host::remote::write_file(dest, path, text)?;
        crate::host::remote::run_script(
            dest,
            &format!("rm -rf -- {}", crate::host::ssh::quote(&dropins)?),
        )?;
        return Ok(());
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write a new definition in {}", dir.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    match std::fs::remove_dir_all(&dropins) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {dropins}"))
        }
        _ => Ok(()),
    }
}
