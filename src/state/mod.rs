//! What systemd cannot hold for transient units: stopped apps, ids, counters,
//! the config each app was started from.
//!
//! Transient units vanish when they stop and at reboot, and carry no PM2 ids. The state
//! store keeps, per app: its instances' `pm_id`s, name and namespace, creation time, whether
//! the user wants it running, restart-count offsets (`reset`), the plan it runs (its unit
//! specs, so a stopped app can be started again as it was) with that plan's fingerprint, and
//! the ecosystem file it came from.
//!
//! Usage: a command that changes anything takes [`lock_current`] first and holds it until it
//! is done (a second pm2ctl waits), edits [`Store::state_mut`], and calls [`Store::save`]
//! after each step it wants to survive a crash. Read-only commands use [`read`].
//! `dir::default_dir` says where the store lives.

mod dir;
mod store;

pub use crate::plan::dirs::STATE_DIR_VAR;
pub use dir::default_dir;
pub use store::{parse, read, Store, STATE_FILE};

use crate::host::Host;
use crate::plan::{AppPlan, Scope};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The state of `host`'s manager `scope` names, read without locking: the local store, or
/// another host's (`crate::host::remote`).
pub fn read_current(host: &Host, scope: Scope) -> anyhow::Result<State> {
    match host.ssh() {
        Some(dest) => crate::host::remote::read_state(dest, scope),
        None => read(&default_dir(scope)?),
    }
}

/// The store of `host`'s manager `scope` names, locked: the local one, or another host's,
/// locked there and saved there (`crate::host::remote::store`). The one way verbs that
/// change the state open it.
pub fn lock_current(host: &Host, scope: Scope) -> anyhow::Result<Store> {
    match host.ssh() {
        Some(dest) => Store::remote(crate::host::remote::LockedFile::lock(
            dest,
            crate::host::remote::RemoteDir::State(scope),
            STATE_FILE,
        )?),
        None => Store::lock(&default_dir(scope)?),
    }
}

/// The version of the state file's layout this pm2ctl writes. Fields added later carry
/// `#[serde(default)]`, so older files still read; a newer layout is refused.
pub const FORMAT_VERSION: u32 = 1;

/// Everything pm2ctl remembers for one systemd manager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub version: u32,
    /// The `pm_id` the next new instance gets. Ids are never reused, as in PM2 (whose
    /// counter lives as long as its daemon; ours as long as the store).
    pub next_pm_id: u32,
    /// Apps by name: names are unique per manager, as in PM2.
    pub apps: BTreeMap<String, AppRecord>,
}

impl Default for State {
    fn default() -> State {
        State {
            version: FORMAT_VERSION,
            next_pm_id: 0,
            apps: BTreeMap::new(),
        }
    }
}

/// What the user wants an app to be doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Desired {
    Running,
    Stopped,
}

/// Where an app's definition came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The ecosystem file, absolute; `None` for `pm2ctl start script.js`.
    pub file: Option<PathBuf>,
    /// `--env NAME` it was applied with.
    pub env: Option<String>,
}

/// One app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AppRecord {
    pub name: String,
    pub namespace: String,
    /// Milliseconds since the Unix epoch (PM2's `created_at`).
    pub created_at_ms: u64,
    pub desired: Desired,
    /// One per instance, in index order.
    pub instances: Vec<InstanceRecord>,
    /// The units the app runs (or would run, when stopped).
    pub plan: AppPlan,
    /// The fingerprint of `plan` (see `apply::fingerprint`); also set on the app's
    /// service units, so what runs can be compared without trusting this file.
    pub fingerprint: String,
    pub source: Source,
    /// The app definition the plan was made from, when recorded (`pm2ctl start` does):
    /// `scale` plans new instances from it. Without it, `scale` reads `source.file` again.
    #[serde(default)]
    pub definition: Option<crate::ecosystem::App>,
    /// Set while `apply` rolls the app (saved before the first instance is replaced, cleared
    /// once the last one is ready): an instance's unit already holds the new definition a
    /// moment before its new process runs, so a roll cut short is redone whole.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rolling: bool,
}

/// One instance of an app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    pub index: u32,
    pub pm_id: u32,
    /// Added to systemd's `NRestarts` to get the restart count PM2 shows; `reset` sets it to
    /// minus the current `NRestarts`.
    #[serde(default)]
    pub restart_offset: i64,
}

impl State {
    pub fn app(&self, name: &str) -> Option<&AppRecord> {
        self.apps.get(name)
    }

    pub fn app_mut(&mut self, name: &str) -> Option<&mut AppRecord> {
        self.apps.get_mut(name)
    }

    /// Records `plan` as the definition of its app. An app already known keeps its creation
    /// time and the `pm_id`s (and restart offsets) of the instances it still has; new
    /// instances get fresh ids; instances beyond the plan's are forgotten. Its recorded
    /// `definition` is kept only while the fingerprint and the companions stay the same.
    pub fn upsert_app(
        &mut self,
        plan: AppPlan,
        fingerprint: String,
        source: Source,
        desired: Desired,
        now_ms: u64,
    ) -> &mut AppRecord {
        let old = self.apps.remove(&plan.name);
        let mut next_pm_id = self.next_pm_id;
        let instances = plan
            .instances
            .iter()
            .map(|inst| {
                let kept = old
                    .as_ref()
                    .and_then(|o| o.instances.iter().find(|i| i.index == inst.index));
                match kept {
                    Some(kept) => kept.clone(),
                    None => {
                        let pm_id = next_pm_id;
                        next_pm_id += 1;
                        InstanceRecord {
                            index: inst.index,
                            pm_id,
                            restart_offset: 0,
                        }
                    }
                }
            })
            .collect();
        self.next_pm_id = next_pm_id;
        let record = AppRecord {
            name: plan.name.clone(),
            namespace: plan.namespace.clone(),
            created_at_ms: old.as_ref().map_or(now_ms, |o| o.created_at_ms),
            desired,
            instances,
            fingerprint,
            source,
            plan,
            // A definition describes one fingerprint; a new one makes it stale.
            definition: None,
            rolling: old.as_ref().is_some_and(|o| o.rolling),
        };
        // Companions have fingerprints of their own: a new cron pattern or watch setting
        // leaves the app's fingerprint as it was, but not the definition.
        let definition = old
            .filter(|o| {
                o.fingerprint == record.fingerprint && o.plan.companions == record.plan.companions
            })
            .and_then(|o| o.definition);
        let record = AppRecord {
            definition,
            ..record
        };
        self.apps.entry(record.name.clone()).or_insert(record)
    }

    /// Forgets an app; returns what was recorded.
    pub fn remove_app(&mut self, name: &str) -> Option<AppRecord> {
        self.apps.remove(name)
    }

    /// Every instance of every app, ordered by `pm_id` (PM2's list order), ready for
    /// `target::select`.
    pub fn processes(&self) -> Vec<ProcessRef<'_>> {
        let mut procs: Vec<ProcessRef<'_>> = self
            .apps
            .values()
            .flat_map(|app| {
                app.instances
                    .iter()
                    .map(move |instance| ProcessRef { app, instance })
            })
            .collect();
        procs.sort_by_key(|p| p.instance.pm_id);
        procs
    }
}

/// One instance seen through its app, as target selection and listings want it.
#[derive(Debug, Clone, Copy)]
pub struct ProcessRef<'a> {
    pub app: &'a AppRecord,
    pub instance: &'a InstanceRecord,
}

impl crate::target::Process for ProcessRef<'_> {
    fn pm_id(&self) -> u32 {
        self.instance.pm_id
    }
    fn name(&self) -> &str {
        &self.app.name
    }
    fn namespace(&self) -> &str {
        &self.app.namespace
    }
}

/// Milliseconds since the Unix epoch, for `created_at_ms`.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::plan::InstancePlan;
    use crate::unit::{UnitKind, UnitSpec};

    pub(crate) fn plan(name: &str, instances: u32) -> AppPlan {
        AppPlan {
            name: name.into(),
            namespace: "default".into(),
            slice: UnitSpec::new(format!("pm2ctl-{name}.slice"), UnitKind::Slice),
            instances: (0..instances)
                .map(|index| InstancePlan {
                    index,
                    service: UnitSpec::new(
                        format!("pm2ctl-{name}@{index}.service"),
                        UnitKind::Service,
                    ),
                    socket: None,
                })
                .collect(),
            companions: Vec::new(),
            listen_timeout: crate::plan::DEFAULT_LISTEN_TIMEOUT,
        }
    }

    fn source() -> Source {
        Source {
            file: Some("/srv/eco.toml".into()),
            env: None,
        }
    }

    fn ids(state: &State, app: &str) -> Vec<u32> {
        state.apps[app].instances.iter().map(|i| i.pm_id).collect()
    }

    #[test]
    fn ids_are_allocated_in_order_and_never_reused() {
        let mut state = State::default();
        state.upsert_app(plan("api", 2), "f1".into(), source(), Desired::Running, 5);
        state.upsert_app(
            plan("worker", 1),
            "f2".into(),
            source(),
            Desired::Running,
            6,
        );
        assert_eq!(ids(&state, "api"), vec![0, 1]);
        assert_eq!(ids(&state, "worker"), vec![2]);

        state.remove_app("api");
        state.upsert_app(plan("api", 1), "f1".into(), source(), Desired::Running, 7);
        assert_eq!(ids(&state, "api"), vec![3]);
    }

    #[test]
    fn updating_an_app_keeps_its_ids_creation_time_and_offsets() {
        let mut state = State::default();
        state.upsert_app(plan("api", 3), "f1".into(), source(), Desired::Running, 5);
        state.app_mut("api").unwrap().instances[1].restart_offset = -4;

        let app = state.upsert_app(plan("api", 2), "f2".into(), source(), Desired::Stopped, 9);
        assert_eq!(app.created_at_ms, 5);
        assert_eq!(app.fingerprint, "f2");
        assert_eq!(app.desired, Desired::Stopped);
        assert_eq!(app.instances[1].restart_offset, -4);
        assert_eq!(ids(&state, "api"), vec![0, 1]);

        // Scaling back up gives the new instance a new id.
        state.upsert_app(plan("api", 3), "f3".into(), source(), Desired::Running, 9);
        assert_eq!(ids(&state, "api"), vec![0, 1, 3]);
    }

    #[test]
    fn processes_are_listed_by_pm_id_and_selectable_by_target() {
        let mut state = State::default();
        state.upsert_app(plan("b", 1), "f".into(), source(), Desired::Running, 0);
        state.upsert_app(plan("a", 2), "f".into(), source(), Desired::Running, 0);
        let procs = state.processes();
        let names: Vec<(u32, &str)> = procs
            .iter()
            .map(|p| (p.instance.pm_id, p.app.name.as_str()))
            .collect();
        assert_eq!(names, vec![(0, "b"), (1, "a"), (2, "a")]);

        let picked = crate::target::select(&["a"], &procs).unwrap();
        assert_eq!(picked.len(), 2);
    }
}
