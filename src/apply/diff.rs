//! The diff: what `apply` must do, per app, to make the host match the file. Pure: it
//! reads the desired plan, the state store and what systemd reports, and decides; the
//! executor does.
//!
//! The comparison is with systemd, not with the state file: an app is unchanged when each
//! of its units is loaded and up, each service carries the app's fingerprint and the limits
//! the file sets (`unit::live`), and it has no unit beyond the plan's. The state file only
//! says which apps came from this file, for `--prune`, and which roll a killed pm2ctl left
//! half-done.
//!
//! A changed definition is rolled (instance by instance, each new one ready before the next
//! old one goes); changed limits alone are set on the running units; neither stops the app.

use crate::plan::AppPlan;
use crate::state::{Desired, State};
use crate::unit::live::{self, LiveChange};
use crate::unit::name::owner_of;
use std::collections::BTreeMap;
use std::path::Path;

/// One app as the file wants it, already fingerprinted and stamped.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredApp {
    pub plan: AppPlan,
    pub fingerprint: String,
    /// `Stopped` for an app recorded as stopped (`pm2ctl stop`), or a new app with
    /// `autostart = false`: its definition is recorded, its units are not started.
    pub desired: Desired,
}

/// What systemd reports about one unit pm2ctl owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveUnit {
    pub name: String,
    pub active_state: String,
    /// `PM2CTL_FINGERPRINT` from a service's `Environment`; `None` for other kinds.
    pub fingerprint: Option<String>,
    /// A service's `NRestarts` (0 for other kinds): carried into the state's restart
    /// offset when the unit is replaced, so the count PM2 shows survives.
    pub n_restarts: u32,
    /// A service's limits that systemd changes in place (`unit::live`), as it reports them.
    pub limits: Vec<(&'static str, u64)>,
    /// A transient unit's file under systemd's runtime directory: a roll writes the new
    /// definition there. `None` for units loaded from elsewhere (the generator's).
    pub transient_file: Option<String>,
}

impl LiveUnit {
    /// Running, starting, or waiting for an automatic restart.
    fn is_up(&self) -> bool {
        matches!(
            self.active_state.as_str(),
            "active" | "activating" | "reloading"
        )
    }
}

/// What to do with one app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing of it runs: create all its units.
    Create,
    /// Remove what runs and create it anew. The executor's way for an app that runs from
    /// the generator's unit files, which cannot be rolled (see `execute`).
    Replace { reason: String },
    /// It runs another definition (or `--reload` asked for new processes): its instances are
    /// replaced one at a time, each new one ready before the next old one goes, sockets kept
    /// when their address did not change. Instances down are started on the way; units
    /// beyond the plan (after scaling down) are removed at the end.
    Roll {
        reason: String,
        /// The instances to replace or start, in order.
        instances: Vec<u32>,
        /// Instance units beyond the plan, removed once the others are done.
        extra: Vec<String>,
        companions: Option<CompanionChange>,
        /// Limits set in place on the instances that are not replaced.
        limits: Vec<LiveChange>,
    },
    /// It runs with this definition but some instances are down (failed, stopped by hand),
    /// its companions are down or changed, or its limits changed: re-create those only and
    /// set the limits in place. The instances that run are left running.
    Repair {
        instances: Vec<u32>,
        /// Its companions (cron timer, watch agent, memory check) are re-created: every
        /// companion unit of the app that systemd has is removed, the planned ones created.
        companions: Option<CompanionChange>,
        /// Limits that differ, set on the running instances (`SetUnitProperties`).
        limits: Vec<LiveChange>,
    },
    /// Its units run with this definition.
    Unchanged,
    /// Recorded as stopped and nothing of it runs: its definition is recorded, that is all.
    LeftStopped,
    /// Recorded as stopped but units of it run: stop them.
    Stop,
    /// No longer in the file (with `--prune`): stop its units and forget it.
    Prune,
}

/// Why an app's companions are re-created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompanionChange {
    /// Same definition, but one of them is not up.
    Down,
    /// Their definition changed (a new cron pattern, watch settings), one was added, or one
    /// is no longer planned.
    Changed,
}

/// One app's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub app: String,
    pub action: Action,
    /// The app's units systemd has loaded now: what `Replace`, `Stop` and `Prune` remove.
    pub live: Vec<String>,
}

/// The whole diff, in the file's order, pruned apps last.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diff {
    pub changes: Vec<Change>,
    /// Apps recorded from this file that it no longer has, left alone (no `--prune`).
    pub orphans: Vec<String>,
}

impl Diff {
    /// True when applying would touch nothing in systemd.
    pub fn is_empty(&self) -> bool {
        self.changes
            .iter()
            .all(|c| matches!(c.action, Action::Unchanged | Action::LeftStopped))
    }
}

/// What `apply` was asked for beyond the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Remove apps recorded from this file that it no longer has.
    pub prune: bool,
    /// Roll every running app, changed or not (`apply --reload`): new code on disk is
    /// picked up with no downtime.
    pub reload: bool,
    /// A roll whose new instance does not become ready gives the instances it replaced the
    /// previous definition again (on by default; `--no-rollback` leaves them).
    pub rollback: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            prune: false,
            reload: false,
            rollback: true,
        }
    }
}

/// Computes what to do. `source` is the ecosystem file being applied (absolute): apps the
/// state records from it that `desired` lacks are pruned with `options.prune`, else
/// reported as orphans.
pub fn diff(
    desired: &[DesiredApp],
    state: &State,
    live: &[LiveUnit],
    source: &Path,
    options: Options,
) -> Diff {
    let prune = options.prune;
    let mut by_owner: BTreeMap<&str, Vec<&LiveUnit>> = BTreeMap::new();
    for unit in live {
        if let Some(owner) = owner_of(&unit.name) {
            by_owner.entry(owner).or_default().push(unit);
        }
    }
    let live_of = |slice: &str| -> Vec<&LiveUnit> {
        owner_of(slice)
            .and_then(|owner| by_owner.get(owner))
            .cloned()
            .unwrap_or_default()
    };

    let mut result = Diff::default();
    for app in desired {
        let mut units = live_of(&app.plan.slice.name);
        let action = match app.desired {
            Desired::Running => {
                let cut_short = state.app(&app.plan.name).is_some_and(|r| r.rolling);
                running_action(app, &units, cut_short, options.reload)
            }
            Desired::Stopped => {
                // A stopped app keeps its cron timer (PM2 starts stopped apps at cron time)
                // and its watch agent (which leaves a stopped app alone): only its own units
                // are stopped. Companions that run are kept up to date with the file.
                let is_companion =
                    |u: &&LiveUnit| crate::unit::name::companion_owner(&u.name).is_some();
                let mut companions = None;
                if units.iter().any(is_companion) {
                    companions =
                        companion_change(app, &units).filter(|c| *c == CompanionChange::Changed);
                    // Stopping the slice would stop everything in it, companions included.
                    let instances: Vec<&LiveUnit> = units
                        .iter()
                        .copied()
                        .filter(|u| !is_companion(u) && u.name != app.plan.slice.name)
                        .collect();
                    if companions.is_none() || !instances.is_empty() {
                        units = instances;
                    }
                }
                if units.is_empty() {
                    Action::LeftStopped
                } else if units
                    .iter()
                    .any(|u| crate::unit::name::companion_owner(&u.name).is_some())
                {
                    Action::Repair {
                        instances: Vec::new(),
                        companions,
                        limits: Vec::new(),
                    }
                } else {
                    Action::Stop
                }
            }
        };
        result.changes.push(Change {
            app: app.plan.name.clone(),
            action,
            live: names(&units),
        });
    }

    for record in state.apps.values() {
        let from_here = record.source.file.as_deref() == Some(source);
        let still_wanted = desired.iter().any(|d| d.plan.name == record.name);
        if !from_here || still_wanted {
            continue;
        }
        if prune {
            result.changes.push(Change {
                app: record.name.clone(),
                action: Action::Prune,
                live: names(&live_of(&record.plan.slice.name)),
            });
        } else {
            result.orphans.push(record.name.clone());
        }
    }
    result
}

fn names(units: &[&LiveUnit]) -> Vec<String> {
    units.iter().map(|u| u.name.clone()).collect()
}

/// Whether the app's companions must be re-created, given its live units: changed (a
/// companion no longer planned runs, or one runs another definition or not at all), or
/// only down.
fn companion_change(app: &DesiredApp, units: &[&LiveUnit]) -> Option<CompanionChange> {
    let find = |name: &str| units.iter().copied().find(|u| u.name == name);
    let wanted: Vec<&str> = app.plan.units().map(|u| u.name.as_str()).collect();
    let retired = units.iter().any(|u| {
        crate::unit::name::companion_owner(&u.name).is_some() && !wanted.contains(&u.name.as_str())
    });
    // Each companion's service carries the companion's own fingerprint (a plan recorded
    // before companions had one carries none, and is taken as it runs).
    let changed = app.plan.companions.iter().any(|c| {
        crate::apply::stamped(&c.service).is_some_and(|planned| {
            find(&c.service.name).and_then(|u| u.fingerprint.as_deref()) != Some(planned)
        })
    });
    // A timer's service only runs when the timer fires: the timer is what must be up.
    let down = app
        .plan
        .companions
        .iter()
        .any(|c| !find(&c.main().name).is_some_and(LiveUnit::is_up));
    if retired || changed {
        Some(CompanionChange::Changed)
    } else if down {
        Some(CompanionChange::Down)
    } else {
        None
    }
}

/// The action for an app that should run, given its live units. `cut_short`: the state
/// says a roll of it was under way when pm2ctl stopped, so an instance may run an older
/// process than its unit says; `reload`: roll it even if nothing changed.
fn running_action(app: &DesiredApp, units: &[&LiveUnit], cut_short: bool, reload: bool) -> Action {
    if units.is_empty() {
        return Action::Create;
    }
    let find = |name: &str| units.iter().copied().find(|u| u.name == name);
    let is_companion = |name: &str| crate::unit::name::companion_owner(name).is_some();

    let wanted: Vec<&str> = app.plan.units().map(|u| u.name.as_str()).collect();
    // A companion no longer planned goes with the companions; any other unit beyond the
    // plan (an instance after scaling down) is removed once the others are done.
    let extra: Vec<String> = units
        .iter()
        .filter(|u| !wanted.contains(&u.name.as_str()) && !is_companion(&u.name))
        .filter(|u| u.name != app.plan.slice.name)
        .map(|u| u.name.clone())
        .collect();
    let is_stale = |unit: &LiveUnit| unit.fingerprint.as_deref() != Some(app.fingerprint.as_str());
    let stale: Vec<(u32, &LiveUnit)> = app
        .plan
        .instances
        .iter()
        .filter_map(|i| Some((i.index, find(&i.service.name)?)))
        .filter(|(_, unit)| is_stale(unit))
        .collect();
    let down: Vec<u32> = app
        .plan
        .instances
        .iter()
        .filter(|i| {
            let service_up = find(&i.service.name).is_some_and(LiveUnit::is_up);
            let socket_up = i
                .socket
                .as_ref()
                .is_none_or(|s| find(&s.name).is_some_and(LiveUnit::is_up));
            !(service_up && socket_up)
        })
        .map(|i| i.index)
        .collect();
    let companions = companion_change(app, units);
    // Limits: what the first running instance of this definition reports against the plan
    // (the instances of one app share them).
    let limits = app
        .plan
        .instances
        .iter()
        .find_map(|i| {
            let unit = find(&i.service.name).filter(|u| u.is_up() && !is_stale(u))?;
            Some(live::changes(&i.service, &unit.limits))
        })
        .unwrap_or_default();

    let reason = if let Some((_, unit)) = stale.first() {
        Some(format!("{} runs another definition", unit.name))
    } else if cut_short {
        Some("a roll of it was cut short".to_string())
    } else if reload {
        Some("--reload".to_string())
    } else {
        extra
            .first()
            .map(|unit| format!("{unit} is no longer planned"))
    };
    let roll_all = cut_short || reload;
    match reason {
        Some(reason) => {
            let instances: Vec<u32> = app
                .plan
                .instances
                .iter()
                .map(|i| i.index)
                .filter(|index| {
                    roll_all || down.contains(index) || stale.iter().any(|(i, _)| i == index)
                })
                .collect();
            // The instances kept get the limits in place; rolled ones get them with their
            // new definition.
            let kept = app.plan.instances.len() > instances.len();
            Action::Roll {
                reason,
                instances,
                extra,
                companions,
                limits: if kept { limits } else { Vec::new() },
            }
        }
        None if down.is_empty() && companions.is_none() && limits.is_empty() => Action::Unchanged,
        None => Action::Repair {
            instances: down,
            companions,
            limits,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::InstancePlan;
    use crate::state::Source;
    use crate::unit::{UnitKind, UnitSpec};

    const FILE: &str = "/srv/eco.toml";
    const PRUNE: Options = Options {
        prune: true,
        reload: false,
        rollback: true,
    };

    fn app(name: &str, instances: u32, socket: bool, fp: &str) -> DesiredApp {
        DesiredApp {
            plan: AppPlan {
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
                        socket: socket.then(|| {
                            UnitSpec::new(format!("pm2ctl-{name}@{index}.socket"), UnitKind::Socket)
                        }),
                    })
                    .collect(),
                companions: Vec::new(),
                listen_timeout: crate::plan::DEFAULT_LISTEN_TIMEOUT,
            },
            fingerprint: fp.into(),
            desired: Desired::Running,
        }
    }

    fn unit(name: &str, state: &str, fp: Option<&str>) -> LiveUnit {
        LiveUnit {
            name: name.into(),
            active_state: state.into(),
            fingerprint: fp.map(String::from),
            n_restarts: 0,
            limits: Vec::new(),
            transient_file: None,
        }
    }

    /// The live units of `app` as if it ran with fingerprint `fp`.
    fn running(app: &DesiredApp, fp: &str) -> Vec<LiveUnit> {
        let mut units = vec![unit(&app.plan.slice.name, "active", None)];
        for i in &app.plan.instances {
            units.push(unit(&i.service.name, "active", Some(fp)));
            if let Some(s) = &i.socket {
                units.push(unit(&s.name, "active", None));
            }
        }
        units
    }

    fn state_with(apps: &[&DesiredApp], file: &str) -> State {
        let mut state = State::default();
        for a in apps {
            state.upsert_app(
                a.plan.clone(),
                a.fingerprint.clone(),
                Source {
                    file: Some(file.into()),
                    env: None,
                },
                Desired::Running,
                0,
            );
        }
        state
    }

    fn actions(d: &Diff) -> Vec<(&str, &Action)> {
        d.changes
            .iter()
            .map(|c| (c.app.as_str(), &c.action))
            .collect()
    }

    #[test]
    fn nothing_running_means_create_and_everything_current_means_unchanged() {
        let api = app("api", 2, false, "f1");
        let web = app("web", 2, true, "f2");
        let d = diff(
            &[api.clone(), web.clone()],
            &State::default(),
            &[],
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(
            actions(&d),
            vec![("api", &Action::Create), ("web", &Action::Create)]
        );
        assert!(!d.is_empty());

        let live = [running(&api, "f1"), running(&web, "f2")].concat();
        let d = diff(
            &[api, web],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(
            actions(&d),
            vec![("api", &Action::Unchanged), ("web", &Action::Unchanged)]
        );
        assert!(d.is_empty());
    }

    #[test]
    fn only_the_app_whose_definition_changed_is_rolled() {
        let api = app("api", 2, false, "new");
        let web = app("web", 1, false, "f2");
        let live = [running(&api, "old"), running(&web, "f2")].concat();
        let d = diff(
            &[api, web],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert!(
            matches!(&d.changes[0].action, Action::Roll { reason, instances, extra, .. }
                if reason.contains("pm2ctl-api@0.service") && instances == &[0, 1] && extra.is_empty()),
            "{d:?}"
        );
        assert_eq!(d.changes[0].live.len(), 3);
        assert_eq!(d.changes[1].action, Action::Unchanged);
    }

    #[test]
    fn scaling_down_removes_the_extra_instances_and_scaling_up_or_failures_repair() {
        let four = app("api", 4, true, "f");
        let two = app("api", 2, true, "f");
        let d = diff(
            std::slice::from_ref(&two),
            &State::default(),
            &running(&four, "f"),
            FILE.as_ref(),
            Options::default(),
        );
        // Same definition: nothing is restarted, the instances beyond the plan go.
        assert!(
            matches!(&d.changes[0].action, Action::Roll { reason, instances, extra, .. }
                if reason.contains("@2.") && instances.is_empty() && extra == &[
                    "pm2ctl-api@2.service", "pm2ctl-api@2.socket",
                    "pm2ctl-api@3.service", "pm2ctl-api@3.socket"]),
            "{d:?}"
        );

        // Two more instances wanted, same definition: only the missing ones are created.
        let d = diff(
            std::slice::from_ref(&four),
            &State::default(),
            &running(&two, "f"),
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(
            d.changes[0].action,
            Action::Repair {
                instances: vec![2, 3],
                companions: None,
                limits: Vec::new(),
            }
        );

        // A failed service, or a socket that stopped, is repaired alone.
        let mut live = running(&four, "f");
        live[1].active_state = "failed".into(); // api@0.service
        live[6].active_state = "inactive".into(); // api@2.socket
        let d = diff(
            &[four],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(
            d.changes[0].action,
            Action::Repair {
                instances: vec![0, 2],
                companions: None,
                limits: Vec::new(),
            }
        );
    }

    /// An app with a cron timer (and its service) and a watch agent.
    fn with_companions(mut app: DesiredApp) -> DesiredApp {
        let name = app.plan.name.clone();
        app.plan.companions = vec![
            crate::plan::Companion {
                timer: Some(UnitSpec::new(
                    format!("pm2ctl-{name}-cron.timer"),
                    UnitKind::Timer,
                )),
                service: UnitSpec::new(format!("pm2ctl-{name}-cron.service"), UnitKind::Service),
            },
            crate::plan::Companion {
                timer: None,
                service: UnitSpec::new(format!("pm2ctl-{name}-watch.service"), UnitKind::Service),
            },
        ];
        app
    }

    #[test]
    fn companions_belong_to_their_app_and_are_repaired_alone() {
        assert_eq!(owner_of("pm2ctl-api-cron.timer"), Some("api"));
        assert_eq!(owner_of("pm2ctl-api-watch.service"), Some("api"));
        let api = with_companions(app("api", 1, false, "f"));
        let mut live = running(&api, "f");
        live.push(unit("pm2ctl-api-cron.timer", "active", None));
        // The timer's service is idle until the timer fires.
        live.push(unit("pm2ctl-api-cron.service", "inactive", Some("x")));
        live.push(unit("pm2ctl-api-watch.service", "active", Some("x")));
        let d = diff(
            std::slice::from_ref(&api),
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(d.changes[0].action, Action::Unchanged);

        live[4].active_state = "failed".into(); // the watch agent
        let d = diff(
            std::slice::from_ref(&api),
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(
            d.changes[0].action,
            Action::Repair {
                instances: vec![],
                companions: Some(CompanionChange::Down),
                limits: Vec::new(),
            }
        );

        // Recorded as stopped: the app's services stop; its companions and their slice stay.
        let mut stopped = api.clone();
        stopped.desired = Desired::Stopped;
        let d = diff(
            std::slice::from_ref(&stopped),
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(d.changes[0].action, Action::Stop);
        assert_eq!(d.changes[0].live, ["pm2ctl-api@0.service"]);

        // Without companions in the plan, the live ones are removed; the app runs on.
        let plain = app("api", 1, false, "f");
        let d = diff(
            &[plain],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(
            d.changes[0].action,
            Action::Repair {
                instances: vec![],
                companions: Some(CompanionChange::Changed),
                limits: Vec::new(),
            }
        );
    }

    /// `api` with one cron companion stamped with `companion_fp`, running with its
    /// instances on fingerprint `f` and its cron service carrying `live_fp`.
    fn cron_app(companion_fp: &str, live_fp: Option<&str>) -> (DesiredApp, Vec<LiveUnit>) {
        let mut api = app("api", 2, false, "f");
        let mut service = UnitSpec::new("pm2ctl-api-cron.service", UnitKind::Service);
        service.set(
            "Environment",
            crate::unit::Value::StrList(vec![format!("PM2CTL_FINGERPRINT={companion_fp}")]),
        );
        api.plan.companions = vec![crate::plan::Companion {
            timer: Some(UnitSpec::new("pm2ctl-api-cron.timer", UnitKind::Timer)),
            service,
        }];
        let mut live = running(&api, "f");
        live.push(unit("pm2ctl-api-cron.timer", "active", None));
        live.push(unit("pm2ctl-api-cron.service", "inactive", live_fp));
        (api, live)
    }

    /// A new cron pattern or watch setting re-creates the companions only: the instances,
    /// which run the same definition, are not touched.
    #[test]
    fn a_changed_companion_is_updated_and_the_app_left_running() {
        let (api, live) = cron_app("c1", Some("c1"));
        let d = diff(
            &[api],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(d.changes[0].action, Action::Unchanged);

        let (api, live) = cron_app("c2", Some("c1"));
        let d = diff(
            &[api],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(
            d.changes[0].action,
            Action::Repair {
                instances: vec![],
                companions: Some(CompanionChange::Changed),
                limits: Vec::new(),
            }
        );
        assert_eq!(
            crate::apply::render(&d),
            "~ api: update its cron timer, watch agent or memory check (changed; the app keeps \
             running)\n"
        );

        // A companion newly planned (watch turned on) is created beside the running app.
        let (mut api, live) = cron_app("c1", Some("c1"));
        api.plan.companions.push(crate::plan::Companion {
            timer: None,
            service: UnitSpec::new("pm2ctl-api-watch.service", UnitKind::Service),
        });
        let d = diff(
            &[api],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert!(
            matches!(
                d.changes[0].action,
                Action::Repair { ref instances, companions: Some(_), .. } if instances.is_empty()
            ),
            "{d:?}"
        );

        // An app recorded as stopped keeps its cron timer, updated to the file's pattern;
        // its instances stay stopped.
        let (mut stopped, live) = cron_app("c2", Some("c1"));
        stopped.desired = Desired::Stopped;
        let companions_only: Vec<LiveUnit> = live
            .iter()
            .filter(|u| !u.name.contains('@'))
            .cloned()
            .collect();
        let d = diff(
            std::slice::from_ref(&stopped),
            &State::default(),
            &companions_only,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(
            d.changes[0].action,
            Action::Repair {
                instances: vec![],
                companions: Some(CompanionChange::Changed),
                limits: Vec::new(),
            }
        );
        // Unchanged, it is left alone; with instances still up, they are stopped first.
        let (mut same, _) = cron_app("c1", Some("c1"));
        same.desired = Desired::Stopped;
        let d = diff(
            std::slice::from_ref(&same),
            &State::default(),
            &companions_only,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(d.changes[0].action, Action::LeftStopped);
        let d = diff(
            &[stopped],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(d.changes[0].action, Action::Stop);

        // A plan recorded before companions were stamped is taken as it runs.
        let (mut api, live) = cron_app("c1", None);
        api.plan.companions[0].service.properties.clear();
        let d = diff(
            &[api],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(d.changes[0].action, Action::Unchanged);
    }

    #[test]
    fn waiting_for_a_restart_counts_as_up() {
        let api = app("api", 1, false, "f");
        let mut live = running(&api, "f");
        live[1].active_state = "activating".into();
        let d = diff(
            &[api],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert!(d.is_empty());
    }

    #[test]
    fn apps_dropped_from_this_file_are_pruned_only_when_asked() {
        let api = app("api", 1, false, "f");
        let old = app("old", 1, false, "f");
        let elsewhere = app("elsewhere", 1, false, "f");
        let mut state = state_with(&[&api, &old], FILE);
        let other = state_with(&[&elsewhere], "/srv/other.toml");
        state.apps.extend(other.apps);
        let live = [
            running(&api, "f"),
            running(&old, "f"),
            running(&elsewhere, "f"),
        ]
        .concat();

        let d = diff(
            std::slice::from_ref(&api),
            &state,
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(actions(&d), vec![("api", &Action::Unchanged)]);
        assert_eq!(d.orphans, vec!["old".to_string()]);
        assert!(d.is_empty());

        let d = diff(&[api], &state, &live, FILE.as_ref(), PRUNE);
        assert_eq!(
            actions(&d),
            vec![("api", &Action::Unchanged), ("old", &Action::Prune)]
        );
        assert_eq!(
            d.changes[1].live,
            vec!["pm2ctl-old.slice", "pm2ctl-old@0.service"]
        );
        assert!(d.orphans.is_empty());
        assert!(!d.is_empty());
    }

    #[test]
    fn an_app_recorded_stopped_is_left_stopped_or_stopped() {
        let mut api = app("api", 1, false, "f");
        api.desired = Desired::Stopped;
        let d = diff(
            &[api.clone()],
            &State::default(),
            &[],
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(d.changes[0].action, Action::LeftStopped);
        assert!(d.is_empty());
        let live = running(&api, "f");
        let d = diff(
            &[api],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(d.changes[0].action, Action::Stop);
    }

    /// `api` with one instance whose service asks for `memory_max`.
    fn limited(memory_max: Option<u64>) -> DesiredApp {
        let mut api = app("api", 2, true, "f");
        for i in &mut api.plan.instances {
            if let Some(m) = memory_max {
                i.service.set("MemoryMax", crate::unit::Value::U64(m));
            }
        }
        api
    }

    #[test]
    fn changed_limits_are_set_in_place() {
        let api = limited(Some(400 << 20));
        let mut live = running(&api, "f");
        for u in &mut live {
            if u.name.ends_with(".service") {
                u.limits = vec![("MemoryMax", 300 << 20), ("MemoryHigh", u64::MAX)];
            }
        }
        let d = diff(
            std::slice::from_ref(&api),
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert_eq!(
            d.changes[0].action,
            Action::Repair {
                instances: vec![],
                companions: None,
                limits: vec![LiveChange {
                    property: "MemoryMax",
                    from: 300 << 20,
                    to: 400 << 20
                }],
            }
        );
        // The same limits: nothing to do; a limit dropped from the file is lifted.
        let same = limited(Some(300 << 20));
        let d = diff(
            &[same],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert!(d.is_empty(), "{d:?}");
        let d = diff(
            &[limited(None)],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert!(
            matches!(&d.changes[0].action, Action::Repair { limits, .. }
                if limits[0].to == u64::MAX),
            "{d:?}"
        );
    }

    #[test]
    fn reload_rolls_every_instance_of_an_unchanged_app_and_a_cut_short_roll_is_redone() {
        let api = app("api", 3, true, "f");
        let live = running(&api, "f");
        let reload = Options {
            reload: true,
            ..Options::default()
        };
        let d = diff(
            std::slice::from_ref(&api),
            &State::default(),
            &live,
            FILE.as_ref(),
            reload,
        );
        assert!(
            matches!(&d.changes[0].action, Action::Roll { reason, instances, .. }
                if reason == "--reload" && instances == &[0, 1, 2]),
            "{d:?}"
        );
        // Stopped apps stay stopped.
        let mut stopped = api.clone();
        stopped.desired = Desired::Stopped;
        let d = diff(&[stopped], &State::default(), &[], FILE.as_ref(), reload);
        assert_eq!(d.changes[0].action, Action::LeftStopped);

        let mut state = state_with(&[&api], FILE);
        if let Some(record) = state.app_mut("api") {
            record.rolling = true;
        }
        let d = diff(&[api], &state, &live, FILE.as_ref(), Options::default());
        assert!(
            matches!(&d.changes[0].action, Action::Roll { reason, instances, .. }
                if reason.contains("cut short") && instances == &[0, 1, 2]),
            "{d:?}"
        );
    }

    #[test]
    fn a_roll_replaces_the_stale_and_down_instances_and_sets_limits_on_the_others() {
        let api = limited(Some(1 << 30));
        let mut live = running(&api, "f");
        // api@1 runs an older definition; api@0 runs this one with another limit.
        live[3].fingerprint = Some("old".into());
        for u in &mut live {
            if u.name.ends_with(".service") {
                u.limits = vec![("MemoryMax", 1 << 20)];
            }
        }
        let d = diff(
            &[api],
            &State::default(),
            &live,
            FILE.as_ref(),
            Options::default(),
        );
        assert!(
            matches!(&d.changes[0].action, Action::Roll { instances, limits, .. }
                if instances == &[1] && limits.len() == 1 && limits[0].to == 1 << 30),
            "{d:?}"
        );
    }
}
