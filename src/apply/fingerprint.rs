//! An app's fingerprints: short hashes of its planned units, stamped on its service units.
//!
//! systemd reports back a transient unit's `Environment`, so the fingerprint travels with
//! the units themselves: `apply` compares what runs with what the file wants without
//! trusting the state file, which a killed pm2ctl may have left a step ahead of systemd.
//!
//! The instances carry the app's fingerprint; each companion (cron timer, watch agent,
//! memory check) carries one of its own on its service. A new cron pattern or watch setting
//! then changes only that companion's fingerprint: `apply` re-creates the companion and
//! leaves the app's processes running, as PM2 does when only its cron or watch changes.

use crate::plan::{AppPlan, Companion};
use crate::systemd::FINGERPRINT_VAR;
use crate::unit::{UnitSpec, Value};
use sha2::{Digest, Sha256};

/// The fingerprint of `plan`'s instances (stamped or not): 16 hex digits of the SHA-256 of
/// the JSON form of its definition: the app's name, namespace and slice, and the units of
/// its first instance without the `instances=N` variable PM2 exports and without the limits
/// systemd changes in place (`unit::live`: `apply` sets those on the running units). So it
/// does not change
/// with the instance count: after `scale`, the instances kept, those added and a plan of
/// the saved file (which records the new count) all carry one fingerprint, and `save`,
/// `resurrect` and the generator find the app unchanged. A change of the count alone shows
/// in the diff as units missing (created) or beyond the plan (removed).
///
/// Companions are not part of it: each has its own ([`companion_fingerprint`]).
pub fn fingerprint(plan: &AppPlan) -> String {
    let first = plan.instances.iter().min_by_key(|i| i.index).map(|i| {
        // Limits systemd changes on a running unit are not part of it (`unit::live`):
        // the fingerprint says what needs a new process.
        let mut first = i.clone();
        first.service = crate::unit::live::without_live(&first.service);
        for property in &mut first.service.properties {
            if let (true, Value::StrList(env)) =
                (property.name == "Environment", &mut property.value)
            {
                env.retain(|kv| !kv.starts_with(COUNT_VAR) && !is_stamp(kv));
            }
        }
        first
    });
    let definition = (&plan.name, &plan.namespace, &plan.slice, first);
    // Serialising plain data to a string cannot fail; an empty hash input would still give
    // a stable (if useless) value rather than a panic.
    digest(&serde_json::to_string(&definition).unwrap_or_default())
}

/// The fingerprint of one companion (stamped or not): its timer and service, without the
/// stamp.
pub fn companion_fingerprint(companion: &Companion) -> String {
    let mut bare = companion.clone();
    unstamp(&mut bare.service);
    digest(&serde_json::to_string(&bare).unwrap_or_default())
}

/// The fingerprint stamped on a unit, if any.
pub fn stamped(unit: &UnitSpec) -> Option<&str> {
    match unit.get("Environment") {
        Some(Value::StrList(env)) => env
            .iter()
            .find_map(|kv| kv.strip_prefix(FINGERPRINT_VAR)?.strip_prefix('=')),
        _ => None,
    }
}

fn digest(json: &str) -> String {
    let digest = Sha256::digest(json.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// The instance count PM2 exports to every instance (`plan::env`), left out of fingerprints.
const COUNT_VAR: &str = "instances=";

fn is_stamp(kv: &str) -> bool {
    kv.strip_prefix(FINGERPRINT_VAR)
        .is_some_and(|rest| rest.starts_with('='))
}

/// Adds `PM2CTL_FINGERPRINT=<fingerprint>` to the `Environment` of every instance service
/// of `plan`, and each companion's own fingerprint to its service.
pub fn stamp(plan: &mut AppPlan, fingerprint: &str) {
    for instance in &mut plan.instances {
        stamp_unit(&mut instance.service, fingerprint);
    }
    for companion in &mut plan.companions {
        let own = companion_fingerprint(companion);
        stamp_unit(&mut companion.service, &own);
    }
}

fn stamp_unit(service: &mut UnitSpec, fingerprint: &str) {
    let entry = format!("{FINGERPRINT_VAR}={fingerprint}");
    let existing = service
        .properties
        .iter_mut()
        .find(|p| p.name == "Environment");
    match existing {
        Some(property) => {
            // The plan only ever writes `as` here; another type is left alone and the
            // unit simply compares as changed on every apply.
            if let Value::StrList(env) = &mut property.value {
                env.retain(|kv| !is_stamp(kv));
                env.push(entry);
            }
        }
        None => {
            service.set("Environment", Value::StrList(vec![entry]));
        }
    }
}

/// Takes the stamp off a unit; an `Environment` that held only the stamp goes with it.
fn unstamp(service: &mut UnitSpec) {
    for property in &mut service.properties {
        if let (true, Value::StrList(env)) = (property.name == "Environment", &mut property.value) {
            env.retain(|kv| !is_stamp(kv));
        }
    }
    service
        .properties
        .retain(|p| !(p.name == "Environment" && p.value == Value::StrList(Vec::new())));
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
            listen_timeout: crate::plan::DEFAULT_LISTEN_TIMEOUT,
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

    /// An app with a cron companion firing at `calendar`.
    fn with_cron(calendar: &str) -> AppPlan {
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
    }

    /// A new cron pattern or watch setting changes the companion's fingerprint only: the
    /// app's instances keep theirs, so `apply` leaves them running.
    #[test]
    fn companions_have_fingerprints_of_their_own() {
        let three = with_cron("*-*-* 03:00:00");
        let four = with_cron("*-*-* 04:00:00");
        assert_eq!(fingerprint(&three), fingerprint(&four));
        assert_eq!(fingerprint(&three), fingerprint(&plan("A=1")));
        assert_eq!(
            companion_fingerprint(&three.companions[0]),
            companion_fingerprint(&with_cron("*-*-* 03:00:00").companions[0])
        );
        assert_ne!(
            companion_fingerprint(&three.companions[0]),
            companion_fingerprint(&four.companions[0])
        );

        // Stamped: each companion's service carries its own, which stamping again keeps.
        let (stamped_plan, fp) = fingerprinted(three.clone());
        let own = companion_fingerprint(&three.companions[0]);
        assert_eq!(
            stamped(&stamped_plan.companions[0].service),
            Some(own.as_str())
        );
        assert_eq!(
            stamped(&stamped_plan.instances[0].service),
            Some(fp.as_str())
        );
        assert_eq!(companion_fingerprint(&stamped_plan.companions[0]), own);
        assert_eq!(fingerprint(&stamped_plan), fp);
        let (again, _) = fingerprinted(stamped_plan.clone());
        assert_eq!(again, stamped_plan);
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
