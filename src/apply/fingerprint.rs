//! An app's fingerprint: a short hash of its planned units, stamped on its service units.
//!
//! systemd reports back a transient unit's `Environment`, so the fingerprint travels with
//! the units themselves: `apply` compares what runs with what the file wants without
//! trusting the state file, which a killed pm2ctl may have left a step ahead of systemd.

use crate::plan::AppPlan;
use crate::systemd::FINGERPRINT_VAR;
use crate::unit::Value;
use sha2::{Digest, Sha256};

/// The fingerprint of `plan` (as planned, before `stamp`): 16 hex digits of the SHA-256 of
/// the JSON form of its definition: the app's name, namespace and slice, and the units of
/// its first instance without the `instances=N` variable PM2 exports. So it does not change
/// with the instance count: after `scale`, the instances kept, those added and a plan of
/// the saved file (which records the new count) all carry one fingerprint, and `save`,
/// `resurrect` and the generator find the app unchanged. A change of the count alone shows
/// in the diff as units missing (created) or beyond the plan (replaced).
pub fn fingerprint(plan: &AppPlan) -> String {
    let first = plan.instances.iter().min_by_key(|i| i.index).map(|i| {
        let mut first = i.clone();
        for property in &mut first.service.properties {
            if let (true, Value::StrList(env)) =
                (property.name == "Environment", &mut property.value)
            {
                env.retain(|kv| !kv.starts_with(COUNT_VAR));
            }
        }
        first
    });
    let definition = (&plan.name, &plan.namespace, &plan.slice, first);
    // Serialising plain data to a string cannot fail; an empty hash input would still give
    // a stable (if useless) value rather than a panic.
    let json = if plan.companions.is_empty() {
        serde_json::to_string(&definition)
    } else {
        // Companions (cron timer, watch agent) are part of the definition: a new pattern or
        // ignore list must reach systemd. Left out when absent, so the fingerprints of apps
        // without them stay what they were.
        serde_json::to_string(&(definition, &plan.companions))
    }
    .unwrap_or_default();
    let digest = Sha256::digest(json.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The instance count PM2 exports to every instance (`plan::env`), left out of fingerprints.
const COUNT_VAR: &str = "instances=";

/// Adds `PM2CTL_FINGERPRINT=<fingerprint>` to the `Environment` of every service of `plan`.
pub fn stamp(plan: &mut AppPlan, fingerprint: &str) {
    let entry = format!("{FINGERPRINT_VAR}={fingerprint}");
    for instance in &mut plan.instances {
        let service = &mut instance.service;
        let existing = service
            .properties
            .iter_mut()
            .find(|p| p.name == "Environment");
        match existing {
            Some(property) => {
                // The plan only ever writes `as` here; another type is left alone and the
                // app simply compares as changed on every apply.
                if let Value::StrList(env) = &mut property.value {
                    env.retain(|kv| !kv.starts_with(&format!("{FINGERPRINT_VAR}=")));
                    env.push(entry.clone());
                }
            }
            None => {
                service.set("Environment", Value::StrList(vec![entry.clone()]));
            }
        }
    }
}

/// Plans an app for `apply`: its fingerprint, and the plan stamped with it.
pub fn fingerprinted(mut plan: AppPlan) -> (AppPlan, String) {
    let fp = fingerprint(&plan);
    stamp(&mut plan, &fp);
    (plan, fp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::InstancePlan;
    use crate::unit::{UnitKind, UnitSpec};

    fn plan(env: &str) -> AppPlan {
        let mut service = UnitSpec::new("pm2ctl-api@0.service", UnitKind::Service);
        service.set("Environment", Value::StrList(vec![env.to_string()]));
        AppPlan {
            name: "api".into(),
            namespace: "default".into(),
            slice: UnitSpec::new("pm2ctl-api.slice", UnitKind::Slice),
            instances: vec![InstancePlan {
                index: 0,
                service,
                socket: None,
            }],
            companions: Vec::new(),
        }
    }

    #[test]
    fn same_plan_same_fingerprint_any_change_another() {
        assert_eq!(fingerprint(&plan("A=1")), fingerprint(&plan("A=1")));
        assert_ne!(fingerprint(&plan("A=1")), fingerprint(&plan("A=2")));
        assert_eq!(fingerprint(&plan("A=1")).len(), 16);
    }

    /// `api` with `n` instances, each told the count as PM2 does.
    fn counted(n: u32) -> AppPlan {
        let mut app = plan("A=1");
        let template = app.instances[0].clone();
        app.instances = (0..n)
            .map(|index| {
                let mut i = template.clone();
                i.index = index;
                i.service.name = format!("pm2ctl-api@{index}.service");
                i.service.properties.clear();
                i.service.set(
                    "Environment",
                    Value::StrList(vec![
                        "A=1".into(),
                        format!("NODE_APP_INSTANCE={index}"),
                        format!("instances={n}"),
                    ]),
                );
                i
            })
            .collect();
        app
    }

    #[test]
    fn the_instance_count_is_not_part_of_the_definition() {
        assert_eq!(fingerprint(&counted(2)), fingerprint(&counted(3)));
        let mut other = counted(3);
        other.instances[0].service.properties.clear();
        other.instances[0].service.set(
            "Environment",
            Value::StrList(vec!["A=2".into(), "instances=3".into()]),
        );
        assert_ne!(fingerprint(&other), fingerprint(&counted(3)));
    }

    /// A new cron pattern or watch setting must reach systemd: companions count.
    #[test]
    fn companions_are_part_of_the_definition() {
        let with = |calendar: &str| {
            let mut app = plan("A=1");
            let mut timer = UnitSpec::new("pm2ctl-api-cron.timer", UnitKind::Timer);
            timer.set(
                "TimersCalendar",
                Value::Pairs(vec![("OnCalendar".into(), calendar.into())]),
            );
            app.companions.push(crate::plan::Companion {
                timer: Some(timer),
                service: UnitSpec::new("pm2ctl-api-cron.service", UnitKind::Service),
            });
            app
        };
        assert_eq!(
            fingerprint(&with("*-*-* 03:00:00")),
            fingerprint(&with("*-*-* 03:00:00"))
        );
        assert_ne!(
            fingerprint(&with("*-*-* 03:00:00")),
            fingerprint(&with("*-*-* 04:00:00"))
        );
        assert_ne!(
            fingerprint(&with("*-*-* 03:00:00")),
            fingerprint(&plan("A=1"))
        );
    }

    #[test]
    fn stamping_appends_to_the_environment_once() {
        let (mut stamped, fp) = fingerprinted(plan("A=1"));
        stamp(&mut stamped, &fp);
        assert_eq!(
            stamped.instances[0].service.get("Environment"),
            Some(&Value::StrList(vec![
                "A=1".into(),
                format!("PM2CTL_FINGERPRINT={fp}")
            ]))
        );

        let mut bare = plan("A=1");
        bare.instances[0].service.properties.clear();
        stamp(&mut bare, "abc");
        assert_eq!(
            bare.instances[0].service.get("Environment"),
            Some(&Value::StrList(vec!["PM2CTL_FINGERPRINT=abc".into()]))
        );
    }
}
