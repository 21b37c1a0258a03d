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
/// its JSON form, which lists every unit and property in order.
pub fn fingerprint(plan: &AppPlan) -> String {
    // Serialising plain data to a string cannot fail; an empty hash input would still give
    // a stable (if useless) value rather than a panic.
    let json = serde_json::to_string(plan).unwrap_or_default();
    let digest = Sha256::digest(json.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

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
        }
    }

    #[test]
    fn same_plan_same_fingerprint_any_change_another() {
        assert_eq!(fingerprint(&plan("A=1")), fingerprint(&plan("A=1")));
        assert_ne!(fingerprint(&plan("A=1")), fingerprint(&plan("A=2")));
        assert_eq!(fingerprint(&plan("A=1")).len(), 16);
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
