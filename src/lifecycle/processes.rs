//! The process list the verbs select from: one entry per app instance, with the units
//! that make it up and what systemd says about them.

use crate::state::State;
use crate::status::{self, Status};
use crate::systemd::{Client, ServiceToRead, UnitState};
use crate::target;
use crate::unit::name::{self, parse_instance_unit, AppUnitNames};
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};

/// One instance of an app: PM2's "process".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pm_id: u32,
    pub name: String,
    pub namespace: String,
    /// The instance index (`NODE_APP_INSTANCE`).
    pub index: u32,
    /// `pm2ctl-<esc>@<i>.service`.
    pub service: String,
    /// `pm2ctl-<esc>@<i>.socket`, when the instance is socket-activated.
    pub socket: Option<String>,
    /// `pm2ctl-<esc>.slice`.
    pub slice: String,
    /// systemd currently has the service or its socket loaded.
    pub loaded: bool,
    pub status: Status,
    pub main_pid: Option<u32>,
    /// systemd's automatic restarts of the current unit (`NRestarts`).
    pub n_restarts: u32,
}

/// An online, loaded instance with pm2ctl's unit names and no socket: the unit tests' fixture.
#[cfg(test)]
impl Proc {
    pub fn online(name: &str, pm_id: u32, index: u32, main_pid: u32) -> Proc {
        Proc {
            pm_id,
            name: name.into(),
            namespace: "default".into(),
            index,
            service: format!("pm2ctl-{name}@{index}.service"),
            socket: None,
            slice: format!("pm2ctl-{name}.slice"),
            loaded: true,
            status: Status::Online,
            main_pid: Some(main_pid),
            n_restarts: 0,
        }
    }
}

target::process_by_fields!(Proc);

impl Proc {
    /// The units to stop for this instance: the socket first, so nothing re-activates
    /// the service while it goes down.
    pub fn units_to_stop(&self) -> Vec<String> {
        self.socket
            .iter()
            .cloned()
            .chain(std::iter::once(self.service.clone()))
            .collect()
    }
}

/// The value of `KEY=` among a service's `LogExtraFields`.
fn extra_field(state: &UnitState, key: &str) -> Option<String> {
    let fields = state.service.as_ref()?.log_extra_fields.as_ref()?;
    fields.iter().find_map(|f| {
        let text = std::str::from_utf8(f).ok()?;
        Some(text.strip_prefix(key)?.strip_prefix('=')?.to_string())
    })
}

/// The PM2 status of a service unit's live state.
pub fn status_of(state: &UnitState) -> Status {
    if !state.is_loaded() {
        return Status::Stopped;
    }
    let result = state
        .service
        .as_ref()
        .and_then(|s| s.result.as_deref())
        .unwrap_or("success");
    let restart = state
        .service
        .as_ref()
        .and_then(|s| s.restart.as_deref())
        .unwrap_or("");
    status::status_of(Some(status::UnitState {
        active_state: state.active_state(),
        sub_state: state.sub_state(),
        result,
        restart,
    }))
}

/// The process list: every instance the state store records, in `pm_id` order, with what
/// systemd says about it; then instances of units pm2ctl owns but the store does not know
/// (a store moved aside, a pm2ctl killed between starting units and recording them), so
/// they can still be stopped or deleted. Those get ids after the store's, for this run only.
pub fn list(client: &Client, state: &State) -> Result<Vec<Proc>> {
    Ok(observe(client, state)?
        .into_iter()
        .map(|o| o.proc)
        .collect())
}

/// One instance of the process list with everything systemd said about its service unit
/// (for listings that show more than the verbs need: memory, CPU, start time…).
#[derive(Debug, Clone)]
pub struct Observed {
    pub proc: Proc,
    /// The service unit's states and Service properties, read in the same batch as `proc`.
    pub live: UnitState,
}

/// `list`, keeping each service unit's properties: one `ListUnitsByPatterns`, then for each
/// running recorded service its cgroup and `/proc` (and a `Get` of `NRestarts` for a new main
/// process), for each other loaded service one `GetAll` (see `Client::read_listed_services`),
/// all in one batch.
pub fn observe(client: &Client, state: &State) -> Result<Vec<Observed>> {
    let started = std::time::Instant::now();
    let listed = client.list_owned()?;
    let loaded: BTreeSet<String> = listed
        .iter()
        .filter(|u| u.load_state == "loaded")
        .map(|u| u.name.clone())
        .collect();
    tracing::debug!(elapsed = ?started.elapsed(), units = loaded.len(), "units listed");

    let mut procs: Vec<Proc> = state
        .processes()
        .iter()
        .filter_map(|p| {
            let planned = p
                .app
                .plan
                .instances
                .iter()
                .find(|i| i.index == p.instance.index)?;
            Some(Proc {
                pm_id: p.instance.pm_id,
                name: p.app.name.clone(),
                namespace: p.app.namespace.clone(),
                index: p.instance.index,
                service: planned.service.name.clone(),
                socket: planned.socket.as_ref().map(|s| s.name.clone()),
                slice: p.app.plan.slice.name.clone(),
                loaded: false,
                status: Status::Stopped,
                main_pid: None,
                n_restarts: 0,
            })
        })
        .collect();

    let known: BTreeSet<String> = procs.iter().flat_map(|p| p.units_to_stop()).collect();
    // (escaped name, index) -> has a socket, for units the store does not know.
    let mut unknown: BTreeMap<(String, u32), bool> = BTreeMap::new();
    for unit in loaded.iter().filter(|u| !known.contains(*u)) {
        if let Some(parsed) = parse_instance_unit(unit) {
            let socket = unknown
                .entry((parsed.escaped.to_string(), parsed.index))
                .or_default();
            *socket |= parsed.suffix == "socket";
        }
    }
    let mut next_id = state.next_pm_id;
    let mut orphans: Vec<Proc> = unknown
        .into_iter()
        .map(|((escaped, index), has_socket)| Proc {
            pm_id: 0,
            name: name::app_name(&escaped),
            namespace: "default".to_string(),
            index,
            service: AppUnitNames::from_escaped(&escaped).service(index),
            socket: has_socket.then(|| AppUnitNames::from_escaped(&escaped).socket(index)),
            slice: AppUnitNames::from_escaped(&escaped).slice(),
            loaded: true,
            status: Status::Stopped,
            main_pid: None,
            n_restarts: 0,
        })
        .collect();
    // Orphans are listed after the store's processes, in (name, index) order.
    orphans.sort_by(|a, b| (&a.name, a.index).cmp(&(&b.name, b.index)));
    for p in &mut orphans {
        p.pm_id = next_id;
        next_id = next_id.saturating_add(1);
    }
    let recorded = procs.len();
    procs.extend(orphans);

    // A recorded instance's environment, user and restart policy are its plan's: of a running
    // one systemd need only say what the kernel cannot (see `read_listed_services`). Of units
    // the store does not know, everything is read (their journal fields name their app).
    let services: Vec<ServiceToRead<'_>> = procs
        .iter()
        .enumerate()
        .map(|(i, p)| ServiceToRead {
            name: &p.service,
            slice: (i < recorded).then_some(p.slice.as_str()),
        })
        .collect();
    let states = client.read_listed_services(&services, &listed)?;
    drop(services);
    tracing::debug!(elapsed = ?started.elapsed(), units = states.len(), "unit properties read");
    for (p, live) in procs.iter_mut().zip(&states) {
        p.loaded = p.units_to_stop().iter().any(|u| loaded.contains(u));
        p.status = status_of(live);
        p.main_pid = live.main_pid();
        p.n_restarts = live
            .service
            .as_ref()
            .and_then(|s| s.n_restarts)
            .unwrap_or(0);
        // Units started by hand (or by an older pm2ctl) name their app in the journal fields.
        if !state.apps.contains_key(&p.name) {
            if let Some(name) = extra_field(live, "PM2_APP") {
                p.name = name;
            }
            if let Some(ns) = extra_field(live, "PM2_NAMESPACE") {
                p.namespace = ns;
            }
        }
    }
    Ok(procs
        .into_iter()
        .zip(states)
        .map(|(proc, live)| Observed { proc, live })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_is_stopped_before_its_service() {
        let p = Proc {
            pm_id: 0,
            name: "api".into(),
            namespace: "default".into(),
            index: 0,
            service: "pm2ctl-api@0.service".into(),
            socket: Some("pm2ctl-api@0.socket".into()),
            slice: "pm2ctl-api.slice".into(),
            loaded: true,
            status: Status::Online,
            main_pid: Some(1),
            n_restarts: 0,
        };
        assert_eq!(
            p.units_to_stop(),
            ["pm2ctl-api@0.socket", "pm2ctl-api@0.service"]
        );
    }
}
