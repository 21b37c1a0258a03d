//! What the verbs change in the state store. Pure edits of `State`, kept apart from the
//! systemd side so they can be checked without one.
//!
//! Restart counts: PM2 shows `restart_time`, automatic and manual restarts together. systemd
//! counts only automatic ones (`NRestarts`), and starts again from 0 when a unit is stopped,
//! restarted by hand or created anew. So before any of those, the current `NRestarts` is
//! carried into the instance's `restart_offset` (plus one for a manual restart), and the count
//! shown stays `NRestarts + restart_offset`.

use super::processes::Proc;
use crate::state::{AppRecord, Desired, State};
use crate::status::Status;
use std::collections::BTreeSet;

/// Apps every instance of which is among `procs`.
fn whole_apps(state: &State, procs: &[&Proc]) -> Vec<String> {
    let selected: BTreeSet<u32> = procs.iter().map(|p| p.pm_id).collect();
    state
        .apps
        .values()
        .filter(|app| {
            !app.instances.is_empty() && app.instances.iter().all(|i| selected.contains(&i.pm_id))
        })
        .map(|app| app.name.clone())
        .collect()
}

/// The app record of `p` and the position of its instance, when the store knows `p`.
fn known<'a>(state: &'a mut State, p: &Proc) -> Option<(&'a mut AppRecord, usize)> {
    let app = state.app_mut(&p.name)?;
    let at = app.instances.iter().position(|i| i.pm_id == p.pm_id)?;
    Some((app, at))
}

/// Adds `by(proc)` to the restart offset of each selected instance the store knows.
fn carry(state: &mut State, procs: &[&Proc], by: impl Fn(&Proc) -> i64) {
    for p in procs {
        if let Some((app, at)) = known(state, p) {
            app.instances[at].restart_offset += by(p);
        }
    }
}

/// `stop`: apps stopped as a whole are recorded as stopped (PM2 lists them so, and `apply`
/// leaves them down); restart counts survive the units going away.
pub fn stopped(state: &mut State, procs: &[&Proc]) {
    carry(state, procs, |p| i64::from(p.n_restarts));
    for name in whole_apps(state, procs) {
        if let Some(app) = state.app_mut(&name) {
            app.desired = Desired::Stopped;
        }
    }
}

/// `restart`: a restart of a running process counts once (PM2 does not count starting a
/// stopped or errored one), and a restarted app is wanted running again.
pub fn restarted(state: &mut State, procs: &[&Proc]) {
    carry(state, procs, |p| {
        let ran = p.loaded && matches!(p.status, Status::Online | Status::Launching);
        i64::from(p.n_restarts) + i64::from(ran)
    });
    for p in procs {
        if let Some((app, _)) = known(state, p) {
            app.desired = Desired::Running;
        }
    }
}

/// `delete`: apps deleted as a whole are forgotten; a deleted instance of an app that keeps
/// others leaves its plan and its record (as after `scale` down).
pub fn deleted(state: &mut State, procs: &[&Proc]) {
    for name in whole_apps(state, procs) {
        state.remove_app(&name);
    }
    for p in procs {
        if let Some((app, at)) = known(state, p) {
            app.instances.remove(at);
            app.plan.instances.retain(|i| i.index != p.index);
        }
    }
    // PM2's ids start again at 0 once its list is empty.
    if state.apps.is_empty() {
        state.next_pm_id = 0;
    }
}

/// `reset`: the restart count shown becomes 0 and, as in PM2, the creation time is now.
pub fn reset(state: &mut State, procs: &[&Proc], now_ms: u64) {
    for p in procs {
        if let Some((app, at)) = known(state, p) {
            app.created_at_ms = now_ms;
            app.instances[at].restart_offset = -i64::from(p.n_restarts);
        }
    }
}

/// The restart count PM2 would show for an instance.
pub fn restart_count(offset: i64, n_restarts: u32) -> u64 {
    u64::try_from(offset + i64::from(n_restarts)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::plan;
    use crate::state::Source;

    /// `api` with 2 instances (ids 0, 1) and `worker` (id 2).
    fn state() -> State {
        let mut state = State::default();
        let source = Source {
            file: None,
            env: None,
        };
        for (name, n) in [("api", 2), ("worker", 1)] {
            state.upsert_app(
                plan(name, n),
                "fp".into(),
                source.clone(),
                Desired::Running,
                5,
            );
        }
        state
    }

    fn proc(name: &str, pm_id: u32, index: u32, n_restarts: u32) -> Proc {
        Proc {
            n_restarts,
            ..Proc::online(name, pm_id, index, 100 + pm_id)
        }
    }

    fn offsets(state: &State, app: &str) -> Vec<i64> {
        state.apps[app]
            .instances
            .iter()
            .map(|i| i.restart_offset)
            .collect()
    }

    #[test]
    fn stopping_a_whole_app_records_it_stopped_and_keeps_its_count() {
        let mut s = state();
        let (a0, a1) = (proc("api", 0, 0, 3), proc("api", 1, 1, 0));
        stopped(&mut s, &[&a0]);
        assert_eq!(s.apps["api"].desired, Desired::Running, "one instance only");
        stopped(&mut s, &[&a0, &a1]);
        assert_eq!(s.apps["api"].desired, Desired::Stopped);
        assert_eq!(s.apps["worker"].desired, Desired::Running);
        assert_eq!(offsets(&s, "api"), [6, 0]);
    }

    #[test]
    fn a_manual_restart_counts_once_on_top_of_automatic_ones() {
        let mut s = state();
        stopped(&mut s, &[&proc("worker", 2, 0, 0)]);
        restarted(&mut s, &[&proc("worker", 2, 0, 4)]);
        assert_eq!(s.apps["worker"].desired, Desired::Running);
        // After the restart systemd counts from 0 again.
        assert_eq!(restart_count(offsets(&s, "worker")[0], 0), 5);
    }

    #[test]
    fn starting_a_stopped_process_again_is_no_restart() {
        let mut s = state();
        let stopped_proc = Proc {
            loaded: false,
            status: Status::Stopped,
            main_pid: None,
            ..proc("worker", 2, 0, 0)
        };
        restarted(&mut s, &[&stopped_proc]);
        assert_eq!(restart_count(offsets(&s, "worker")[0], 0), 0);
        let errored = Proc {
            status: Status::Errored,
            ..proc("worker", 2, 0, 3)
        };
        restarted(&mut s, &[&errored]);
        assert_eq!(
            restart_count(offsets(&s, "worker")[0], 0),
            3,
            "its automatic ones"
        );
    }

    #[test]
    fn ids_start_again_at_zero_when_the_list_empties() {
        let mut s = state();
        s.next_pm_id = 3;
        deleted(&mut s, &[&proc("api", 0, 0, 0)]);
        assert_eq!(s.next_pm_id, 3, "apps remain");
        deleted(&mut s, &[&proc("api", 1, 1, 0), &proc("worker", 2, 0, 0)]);
        assert_eq!(s.next_pm_id, 0);
    }

    #[test]
    fn reset_zeroes_the_count_and_renews_creation() {
        let mut s = state();
        s.app_mut("api").unwrap().instances[0].restart_offset = 7;
        reset(&mut s, &[&proc("api", 0, 0, 2)], 99);
        assert_eq!(restart_count(offsets(&s, "api")[0], 2), 0);
        assert_eq!(restart_count(offsets(&s, "api")[0], 3), 1, "counts on");
        assert_eq!(s.apps["api"].created_at_ms, 99);
    }

    #[test]
    fn deleting_all_instances_forgets_the_app_and_one_shrinks_it() {
        let mut s = state();
        deleted(&mut s, &[&proc("api", 1, 1, 0)]);
        assert_eq!(s.apps["api"].instances.len(), 1);
        assert_eq!(s.apps["api"].plan.instances.len(), 1);
        assert_eq!(s.apps["api"].plan.instances[0].index, 0);
        deleted(&mut s, &[&proc("api", 0, 0, 0), &proc("worker", 2, 0, 0)]);
        assert!(s.apps.is_empty());
    }

    #[test]
    fn processes_the_store_does_not_know_change_nothing() {
        let mut s = state();
        let before = s.clone();
        let stranger = proc("stranger", 9, 0, 3);
        stopped(&mut s, &[&stranger]);
        restarted(&mut s, &[&stranger]);
        deleted(&mut s, &[&stranger]);
        reset(&mut s, &[&stranger], 1);
        assert_eq!(s, before);
    }
}
