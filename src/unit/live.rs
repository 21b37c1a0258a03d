//! Properties systemd changes on a running unit: `SetUnitProperties` accepts them on a loaded
//! service and applies them to its cgroup at once, with no new process.
//!
//! Every other property of a transient service is fixed once the unit exists (systemd takes
//! `ExecStart`, `Environment`, `User`… only while it creates the unit), so a change of any of
//! them needs a new process; a change of these alone is made in place. Each comes with the
//! value systemd reports when it is not set, so a limit dropped from the file is lifted.
//!
//! All of them are `t` (bytes, µs per second, weights); `u64::MAX` is "infinity" or "unset".
//! `TasksMax` is not here: unset, it reads back as the manager's `DefaultTasksMax`, which
//! depends on the host, so "is it what the file wants" could not be answered from the unit.

use super::{UnitSpec, Value};

/// `(property, the value systemd reports when it is not set)`.
pub const LIVE: &[(&str, u64)] = &[
    ("MemoryMax", u64::MAX),
    ("MemoryHigh", u64::MAX),
    ("MemorySwapMax", u64::MAX),
    ("CPUQuotaPerSecUSec", u64::MAX),
    ("CPUWeight", u64::MAX),
    ("IOWeight", u64::MAX),
];

/// Whether systemd changes `property` on a running unit.
pub fn is_live(property: &str) -> bool {
    LIVE.iter().any(|(name, _)| *name == property)
}

/// The value of every live property `spec` asks for: its own, or systemd's default where it
/// sets none (so that applying them lifts a limit the file no longer has).
pub fn wanted(spec: &UnitSpec) -> Vec<(&'static str, u64)> {
    LIVE.iter()
        .map(|(name, default)| {
            let value = match spec.get(name) {
                Some(Value::U64(v)) => *v,
                _ => *default,
            };
            (*name, value)
        })
        .collect()
}

/// `spec` without its live properties: what decides whether it needs a new process.
pub fn without_live(spec: &UnitSpec) -> UnitSpec {
    let mut bare = spec.clone();
    bare.properties.retain(|p| !is_live(p.name));
    bare
}

/// A unit holding only the live properties of `spec`, each set (defaults included), for
/// `SetUnitProperties` on the unit of the same name.
pub fn live_only(spec: &UnitSpec) -> UnitSpec {
    let mut live = UnitSpec::new(spec.name.clone(), spec.kind);
    for (name, value) in wanted(spec) {
        live.set(name, Value::U64(value));
    }
    live
}

/// One live property whose value differs from what the file wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveChange {
    pub property: &'static str,
    /// What systemd reports now.
    pub from: u64,
    /// What the file wants.
    pub to: u64,
}

impl LiveChange {
    /// `MemoryMax 300M → 400M`, in the spelling of unit files.
    pub fn describe(&self) -> String {
        format!(
            "{} {} → {}",
            unit_file_name(self.property),
            spell(self.property, self.from),
            spell(self.property, self.to)
        )
    }
}

/// The live properties of `spec` whose value differs from `reported`, the values systemd
/// reports for the unit (a property it did not report is taken as unchanged).
pub fn changes(spec: &UnitSpec, reported: &[(&'static str, u64)]) -> Vec<LiveChange> {
    wanted(spec)
        .into_iter()
        .filter_map(|(property, to)| {
            let from = reported.iter().find(|(n, _)| *n == property)?.1;
            (from != to).then_some(LiveChange { property, from, to })
        })
        .collect()
}

fn unit_file_name(property: &str) -> &str {
    match property {
        "CPUQuotaPerSecUSec" => "CPUQuota",
        other => other,
    }
}

fn spell(property: &str, value: u64) -> String {
    if value == u64::MAX {
        return if property.ends_with("Weight") {
            "unset".into()
        } else {
            "infinity".into()
        };
    }
    match property {
        // µs of CPU per second of wall time, as a percentage of one CPU.
        "CPUQuotaPerSecUSec" => format!("{}%", value / 10_000),
        p if p.starts_with("Memory") => bytes(value),
        _ => value.to_string(),
    }
}

/// Bytes in the largest binary unit that divides them, as unit files accept them.
fn bytes(value: u64) -> String {
    const UNITS: [(u64, &str); 4] = [
        (1 << 40, "T"),
        (1 << 30, "G"),
        (1 << 20, "M"),
        (1 << 10, "K"),
    ];
    UNITS
        .iter()
        .find(|(size, _)| value >= *size && value.is_multiple_of(*size))
        .map_or_else(
            || value.to_string(),
            |(size, suffix)| format!("{}{suffix}", value / size),
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::UnitKind;

    fn service(memory_max: Option<u64>) -> UnitSpec {
        let mut s = UnitSpec::new("pm2ctl-api@0.service", UnitKind::Service);
        s.set("Environment", Value::StrList(vec!["A=1".into()]));
        if let Some(m) = memory_max {
            s.set("MemoryMax", Value::U64(m));
        }
        s
    }

    #[test]
    fn live_properties_leave_the_rest_of_the_definition() {
        let bare = without_live(&service(Some(300 << 20)));
        assert_eq!(bare, service(None));
        assert!(is_live("MemoryMax") && !is_live("Environment") && !is_live("TasksMax"));
    }

    #[test]
    fn a_limit_dropped_from_the_file_is_lifted() {
        let reported = [("MemoryMax", 300 << 20), ("CPUWeight", u64::MAX)];
        let dropped = changes(&service(None), &reported);
        assert_eq!(
            dropped,
            vec![LiveChange {
                property: "MemoryMax",
                from: 300 << 20,
                to: u64::MAX
            }]
        );
        assert_eq!(dropped[0].describe(), "MemoryMax 300M → infinity");
        assert!(changes(&service(Some(300 << 20)), &reported).is_empty());
        let raised = changes(&service(Some(400 << 20)), &reported);
        assert_eq!(raised[0].describe(), "MemoryMax 300M → 400M");
        // What systemd did not report is not taken as a change.
        assert!(changes(&service(Some(1)), &[]).is_empty());
    }

    #[test]
    fn the_live_unit_sets_every_live_property() {
        let live = live_only(&service(Some(1 << 30)));
        assert_eq!(live.properties.len(), LIVE.len());
        assert_eq!(live.get("MemoryMax"), Some(&Value::U64(1 << 30)));
        assert_eq!(live.get("MemoryHigh"), Some(&Value::U64(u64::MAX)));
        assert_eq!(live.get("Environment"), None);
    }

    #[test]
    fn values_are_spelled_as_in_unit_files() {
        assert_eq!(spell("CPUQuotaPerSecUSec", 500_000), "50%");
        assert_eq!(spell("MemoryHigh", 1536), "1536");
        assert_eq!(spell("MemoryHigh", 3 << 30), "3G");
        assert_eq!(spell("CPUWeight", u64::MAX), "unset");
        assert_eq!(spell("IOWeight", 100), "100");
    }
}
