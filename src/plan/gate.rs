//! systemd version gating. Over D-Bus, one property the manager does not know fails the whole
//! `StartTransientUnit` call ("Cannot set property X, or unknown property"), so properties
//! newer than the target are dropped here, with a warning that says what the app loses.
//! Versions are from systemd-reference.md §1.2/§1.6 (checked on 252).

use crate::unit::{UnitSpec, Value};
use std::collections::BTreeMap;

/// A property that needs systemd `since` or newer.
struct Gated {
    property: &'static str,
    since: u32,
    /// What the app loses without it (the warning's text).
    loses: &'static str,
}

const GATED: &[Gated] = &[
    Gated {
        property: "RestartSteps",
        since: 254,
        loses: "exp_backoff_restart_delay: restarts wait a fixed delay instead of backing off exponentially",
    },
    Gated {
        property: "RestartMaxDelayUSec",
        since: 254,
        loses: "exp_backoff_restart_delay: restarts wait a fixed delay instead of backing off exponentially",
    },
    Gated {
        property: "RestartMode",
        since: 254,
        loses: "restarts pass through the failed state",
    },
    Gated {
        property: "ExitType",
        since: 250,
        loses: "the unit ends when its main process exits, not when its cgroup is empty",
    },
    Gated {
        property: "OOMPolicy",
        since: 243,
        loses: "the out-of-memory policy: the systemd default applies",
    },
    Gated {
        property: "LogRateLimitIntervalUSec",
        since: 240,
        loses: "the raised log rate limit: journald's default (10,000 lines per 30 s) may drop lines of a busy app",
    },
    Gated {
        property: "LogRateLimitBurst",
        since: 240,
        loses: "the raised log rate limit: journald's default (10,000 lines per 30 s) may drop lines of a busy app",
    },
    Gated {
        property: "StandardOutputFileToAppend",
        since: 240,
        loses: "out_file: stdout goes to the journal only",
    },
    Gated {
        property: "StandardErrorFileToAppend",
        since: 240,
        loses: "error_file: stderr goes to the journal only",
    },
    Gated {
        property: "LogExtraFields",
        since: 236,
        loses: "the PM2_APP/PM2_INSTANCE/PM2_NAMESPACE journal fields (lines are still tagged by SyslogIdentifier)",
    },
    Gated {
        property: "CollectMode",
        since: 236,
        loses: "the garbage-collection mode: failed units stay loaded until reset",
    },
    Gated {
        property: "ProtectClock",
        since: 245,
        loses: "sandbox.protect_clock: the app is not kept from setting the clock",
    },
    Gated {
        property: "ProtectKernelLogs",
        since: 244,
        loses: "sandbox.protect_kernel_logs: the app is not kept from the kernel log",
    },
    Gated {
        property: "ProtectHostname",
        since: 242,
        loses: "sandbox.protect_hostname: the app is not kept from changing the host name",
    },
    Gated {
        property: "RestrictSUIDSGID",
        since: 242,
        loses: "sandbox.restrict_suid_sgid: the app may create set-user-ID files",
    },
    Gated {
        property: "LockPersonality",
        since: 235,
        loses: "sandbox.lock_personality: the app may change its execution domain",
    },
    Gated {
        property: "RestrictNamespaces",
        since: 233,
        loses: "sandbox.restrict_namespaces: the app may create namespaces",
    },
    Gated {
        property: "ProtectKernelTunables",
        since: 232,
        loses: "sandbox.protect_kernel_tunables: the app is not kept from /proc/sys",
    },
    Gated {
        property: "ProtectKernelModules",
        since: 232,
        loses: "sandbox.protect_kernel_modules: the app is not kept from loading kernel modules",
    },
    Gated {
        property: "ProtectControlGroups",
        since: 232,
        loses: "sandbox.protect_control_groups: the app is not kept from writing cgroups",
    },
    Gated {
        property: "RestrictRealtime",
        since: 231,
        loses: "sandbox.restrict_realtime: the app may take realtime scheduling",
    },
    Gated {
        property: "MemoryDenyWriteExecute",
        since: 231,
        loses: "sandbox.memory_deny_write_execute: writable memory may be executable",
    },
    Gated {
        property: "AmbientCapabilities",
        since: 229,
        loses: "sandbox.capabilities: a non-root app is not granted its capabilities",
    },
    Gated {
        property: "MemoryMax",
        since: 231,
        loses: "max_memory_restart: no memory limit is set",
    },
];

/// Properties newer systemd no longer has, from the version that lacks them: sending one
/// fails the whole call there, as an unknown property does on older versions. Each is left
/// out without a warning, since that version gives what it asked for anyway.
const REMOVED: &[(&str, u32)] = &[
    // On 262 the manager has no CPUAccounting (tests/integration/gate.rs against sid), on 257 it has: CPU
    // usage is accounted without it on cgroup v2, which newer releases require. The first
    // version without it lies between; 258 is the first that requires cgroup v2.
    ("CPUAccounting", 258),
];

/// `ProtectSystem=strict` (232); older systemd gets `full` (only /usr, /boot and /etc
/// read-only).
const PROTECT_SYSTEM_STRICT_SINCE: u32 = 232;

/// `Type=exec` (240) tells apart "started" from "exec failed"; older systemd gets `simple`.
const TYPE_EXEC_SINCE: u32 = 240;

/// Drops (or downgrades) what `version` lacks from an app's units. Returns one warning per
/// distinct loss, naming the app and the missing properties.
pub fn apply(units: &mut [&mut UnitSpec], version: u32, app_name: &str) -> Vec<String> {
    // loss text → (property names, needed version), kept ordered for stable output
    let mut losses: BTreeMap<&'static str, (Vec<&'static str>, u32)> = BTreeMap::new();
    for spec in units.iter_mut() {
        spec.properties.retain(|p| {
            !REMOVED
                .iter()
                .any(|(name, from)| p.name == *name && version >= *from)
        });
        spec.properties.retain(|p| {
            let Some(g) = GATED.iter().find(|g| g.property == p.name) else {
                return true;
            };
            if version >= g.since {
                return true;
            }
            let entry = losses.entry(g.loses).or_insert((Vec::new(), g.since));
            if !entry.0.contains(&g.property) {
                entry.0.push(g.property);
            }
            entry.1 = entry.1.max(g.since);
            false
        });
        if version < PROTECT_SYSTEM_STRICT_SINCE {
            for p in spec.properties.iter_mut() {
                if p.name == "ProtectSystem" && p.value == Value::Str("strict".into()) {
                    p.value = Value::Str("full".into());
                    losses
                        .entry("sandbox.protect_system: only /usr, /boot and /etc are read-only (\"full\")")
                        .or_insert((vec!["ProtectSystem=strict"], PROTECT_SYSTEM_STRICT_SINCE));
                }
            }
        }
        if version < TYPE_EXEC_SINCE {
            for p in spec.properties.iter_mut() {
                if p.name == "Type" && p.value == Value::Str("exec".into()) {
                    p.value = Value::Str("simple".into());
                    losses
                        .entry("a failed exec is reported when it happens, not as a quick exit")
                        .or_insert((vec!["Type=exec"], TYPE_EXEC_SINCE));
                }
            }
        }
    }
    losses
        .into_iter()
        .map(|(loses, (props, since))| {
            format!(
                "app `{app_name}`: systemd {version} lacks {} (needs {since}): {loses}",
                props.join(", ")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::UnitKind;

    fn spec() -> UnitSpec {
        let mut s = UnitSpec::new("pm2ctl-a@0.service", UnitKind::Service);
        s.set("Type", Value::Str("exec".into()))
            .set("RestartUSec", Value::U64(100_000))
            .set("RestartSteps", Value::U32(13))
            .set("RestartMaxDelayUSec", Value::U64(15_000_000));
        s
    }

    #[test]
    fn drops_what_252_lacks_and_says_so_once() {
        let (mut a, mut b) = (spec(), spec());
        let warnings = apply(&mut [&mut a, &mut b], 252, "api");
        assert_eq!(a.get("RestartSteps"), None);
        assert_eq!(b.get("RestartMaxDelayUSec"), None);
        assert_eq!(a.get("RestartUSec"), Some(&Value::U64(100_000)));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("app `api`"), "{}", warnings[0]);
        assert!(
            warnings[0].contains("RestartSteps, RestartMaxDelayUSec (needs 254)"),
            "{}",
            warnings[0]
        );
    }

    #[test]
    fn keeps_everything_on_254() {
        let mut a = spec();
        assert!(apply(&mut [&mut a], 254, "api").is_empty());
        assert_eq!(a, spec());
    }

    #[test]
    fn what_newer_systemd_removed_is_left_out_silently() {
        let mut a = spec();
        a.set("CPUAccounting", Value::Bool(true));
        assert!(apply(&mut [&mut a], 257, "api").is_empty());
        assert_eq!(a.get("CPUAccounting"), Some(&Value::Bool(true)));
        assert!(apply(&mut [&mut a], 262, "api").is_empty());
        assert_eq!(a.get("CPUAccounting"), None);
    }

    #[test]
    fn type_exec_becomes_simple_before_240() {
        let mut a = spec();
        let warnings = apply(&mut [&mut a], 239, "api");
        assert_eq!(a.get("Type"), Some(&Value::Str("simple".into())));
        assert!(warnings.iter().any(|w| w.contains("Type=exec")));
    }
}
