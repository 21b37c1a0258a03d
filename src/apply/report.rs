//! `apply --json`: what an apply did (or, with `--dry-run`, would do), as one JSON document
//! for tools that drive pm2ctl (configuration management, CI). The schema is documented in
//! docs/apply-json.md; fields are only ever added.

use super::diff::{Action, DesiredApp, Diff};
use super::execute::Failure;
use serde::Serialize;

/// The document.
#[derive(Debug, Serialize)]
pub struct Report {
    /// Whether systemd was (or, in a dry run, would be) changed.
    pub changed: bool,
    pub dry_run: bool,
    /// One entry per app of the file, in its order, then the pruned ones.
    pub apps: Vec<AppReport>,
    /// Apps applied from this file before that it no longer has, left running.
    pub orphans: Vec<String>,
    /// Units that did not start or did not become ready.
    pub failures: Vec<FailureReport>,
}

#[derive(Debug, Serialize)]
pub struct AppReport {
    pub name: String,
    /// `create`, `roll`, `replace`, `update`, `unchanged`, `stopped`, `stop` or `prune`.
    pub action: &'static str,
    /// Why, for `roll` and `replace`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The instances replaced one at a time (`roll`) or started because they were down.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub instances: Vec<u32>,
    /// Limits set in place, e.g. `MemoryMax 300M → 400M`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<String>,
    /// Its companions (cron timer, watch agent, memory check) are re-created.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub companions: bool,
    /// The units the action creates, restarts, updates or removes.
    pub units: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct FailureReport {
    pub app: String,
    pub unit: String,
    pub reason: String,
    /// systemd's result, exit status and the last lines the unit logged.
    pub report: String,
}

/// The report of `diff`, applied (`dry_run` false) with `failures`, or not.
pub fn report(diff: &Diff, desired: &[DesiredApp], failures: &[Failure], dry_run: bool) -> Report {
    let apps = diff
        .changes
        .iter()
        .map(|change| {
            let plan = desired
                .iter()
                .find(|d| d.plan.name == change.app)
                .map(|d| &d.plan);
            let instance_units = |indexes: &[u32]| -> Vec<String> {
                plan.into_iter()
                    .flat_map(|p| &p.instances)
                    .filter(|i| indexes.contains(&i.index))
                    .flat_map(|i| i.socket.iter().chain(std::iter::once(&i.service)))
                    .map(|u| u.name.clone())
                    .collect()
            };
            // The units of `instances` (replaced or started), the services of the others when
            // limits are set on them in place, and the companions when they are re-created.
            let touched = |instances: &[u32], limits: bool, companions: bool| -> Vec<String> {
                let mut units = instance_units(instances);
                if limits {
                    let others: Vec<u32> = plan
                        .into_iter()
                        .flat_map(|p| &p.instances)
                        .map(|i| i.index)
                        .filter(|i| !instances.contains(i))
                        .collect();
                    units.extend(
                        instance_units(&others)
                            .into_iter()
                            .filter(|u| u.ends_with(".service")),
                    );
                }
                if companions {
                    units.extend(
                        plan.into_iter()
                            .flat_map(|p| &p.companions)
                            .flat_map(|c| c.units())
                            .map(|u| u.name.clone()),
                    );
                }
                units
            };
            let mut entry = AppReport {
                name: change.app.clone(),
                action: "unchanged",
                reason: None,
                instances: Vec::new(),
                limits: Vec::new(),
                companions: false,
                units: Vec::new(),
            };
            match &change.action {
                Action::Create => {
                    entry.action = "create";
                    entry.units = plan
                        .map(|p| p.units().map(|u| u.name.clone()).collect())
                        .unwrap_or_default();
                }
                Action::Replace { reason } => {
                    entry.action = "replace";
                    entry.reason = Some(reason.clone());
                    entry.units = change.live.clone();
                }
                Action::Roll {
                    reason,
                    instances,
                    extra,
                    companions,
                    limits,
                } => {
                    entry.action = "roll";
                    entry.reason = Some(reason.clone());
                    entry.instances = instances.clone();
                    entry.limits = limits.iter().map(|l| l.describe()).collect();
                    entry.companions = companions.is_some();
                    entry.units = touched(instances, !limits.is_empty(), companions.is_some());
                    entry.units.extend(extra.iter().cloned());
                }
                Action::Repair {
                    instances,
                    companions,
                    limits,
                } => {
                    entry.action = "update";
                    entry.instances = instances.clone();
                    entry.limits = limits.iter().map(|l| l.describe()).collect();
                    entry.companions = companions.is_some();
                    entry.units = touched(instances, !limits.is_empty(), companions.is_some());
                }
                Action::Unchanged => {}
                Action::LeftStopped => entry.action = "stopped",
                Action::Stop => {
                    entry.action = "stop";
                    entry.units = change.live.clone();
                }
                Action::Prune => {
                    entry.action = "prune";
                    entry.units = change.live.clone();
                }
            }
            entry
        })
        .collect();
    Report {
        changed: !diff.is_empty(),
        dry_run,
        apps,
        orphans: diff.orphans.clone(),
        failures: failures
            .iter()
            .map(|f| FailureReport {
                app: f.app.clone(),
                unit: f.unit.clone(),
                reason: f.reason.clone(),
                report: f.report.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::diff::Change;

    #[test]
    fn the_report_names_each_app_s_action_and_units() {
        let diff = Diff {
            changes: vec![
                Change {
                    app: "web".into(),
                    action: Action::Roll {
                        reason: "pm2ctl-web@0.service runs another definition".into(),
                        instances: vec![0],
                        extra: vec!["pm2ctl-web@1.service".into()],
                        companions: None,
                        limits: Vec::new(),
                    },
                    live: Vec::new(),
                },
                Change {
                    app: "old".into(),
                    action: Action::Prune,
                    live: vec!["pm2ctl-old@0.service".into()],
                },
                Change {
                    app: "jobs".into(),
                    action: Action::Unchanged,
                    live: Vec::new(),
                },
            ],
            orphans: vec!["gone".into()],
        };
        let json = serde_json::to_value(report(&diff, &[], &[], true)).expect("JSON");
        assert_eq!(json["changed"], true);
        assert_eq!(json["dry_run"], true);
        assert_eq!(json["apps"][0]["action"], "roll");
        assert_eq!(json["apps"][0]["instances"], serde_json::json!([0]));
        assert_eq!(
            json["apps"][0]["units"],
            serde_json::json!(["pm2ctl-web@1.service"])
        );
        assert_eq!(json["apps"][1]["action"], "prune");
        assert_eq!(json["apps"][2]["action"], "unchanged");
        assert!(json["apps"][2].get("reason").is_none());
        assert_eq!(json["orphans"], serde_json::json!(["gone"]));
        let quiet = Diff {
            changes: vec![diff.changes[2].clone()],
            orphans: Vec::new(),
        };
        let json = serde_json::to_value(report(&quiet, &[], &[], false)).expect("JSON");
        assert_eq!(json["changed"], false);
    }

    /// A roll that also sets limits on the instances it keeps names their services too.
    #[test]
    fn a_roll_names_the_kept_instances_it_updates_in_place() {
        use crate::plan::{AppPlan, InstancePlan};
        use crate::state::Desired;
        use crate::unit::live::LiveChange;
        use crate::unit::{UnitKind, UnitSpec};
        let instance = |index: u32| InstancePlan {
            index,
            service: UnitSpec::new(format!("pm2ctl-web@{index}.service"), UnitKind::Service),
            socket: None,
        };
        let web = DesiredApp {
            plan: AppPlan {
                name: "web".into(),
                namespace: "default".into(),
                slice: UnitSpec::new("pm2ctl-web.slice", UnitKind::Slice),
                instances: vec![instance(0), instance(1)],
                companions: Vec::new(),
                listen_timeout: crate::plan::DEFAULT_LISTEN_TIMEOUT,
            },
            fingerprint: "f".into(),
            desired: Desired::Running,
        };
        let diff = Diff {
            changes: vec![Change {
                app: "web".into(),
                action: Action::Roll {
                    reason: "pm2ctl-web@0.service is down".into(),
                    instances: vec![0],
                    extra: Vec::new(),
                    companions: None,
                    limits: vec![LiveChange {
                        property: "MemoryMax",
                        from: 1 << 20,
                        to: 2 << 20,
                    }],
                },
                live: Vec::new(),
            }],
            orphans: Vec::new(),
        };
        let json = serde_json::to_value(report(&diff, &[web], &[], true)).expect("JSON");
        assert_eq!(
            json["apps"][0]["units"],
            serde_json::json!(["pm2ctl-web@0.service", "pm2ctl-web@1.service"])
        );
        assert_eq!(
            json["apps"][0]["limits"],
            serde_json::json!(["MemoryMax 1M → 2M"])
        );
    }
}
