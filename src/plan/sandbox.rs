//! Least privilege by default: the systemd sandboxing every app service gets, and the
//! capabilities it is granted.
//!
//! The defaults were chosen to leave a typical Node app working (checked with the test apps
//! in the sandbox, where node runs under all of them): the JIT needs writable+executable
//! memory, so `MemoryDenyWriteExecute` is off; the app writes its working directory, its log
//! files' directories and its user's home (npm/yarn caches), so those stay writable under
//! `ProtectSystem=strict` and `ProtectHome=read-only` through `ReadWritePaths` (each with
//! `-`: a path that does not exist is skipped rather than failing the start). `/tmp` is the
//! app's own (`PrivateTmp`), unless the app itself lives in `/tmp` or `/var/tmp` (its
//! script, binary, log files or working directory), which a private `/tmp` would hide: such
//! an app writes the host's `/tmp` and `/var/tmp` as it would unsandboxed, unless its file
//! sets `private_tmp`.
//!
//! A user's own systemd (`--user`) cannot set up mount namespaces without unprivileged user
//! namespaces, so there only the options that need none (seccomp, `NoNewPrivileges`) apply.
//! Options newer than the target's systemd are dropped by `gate`, with a warning.
//!
//! Capabilities: an app that is not root gets none (`CapabilityBoundingSet=` empty), unless
//! `sandbox.capabilities` grants some, which it then holds as ambient capabilities (e.g.
//! `CAP_NET_BIND_SERVICE` for a fork-mode app binding a port below 1024 itself). A root app
//! keeps root's set unless `capabilities` bounds it. pm2ctl grants only capabilities its
//! caller holds itself.
//!
//! Companion units (cron's oneshot, the watch agent, the memory check; see `companion`) run
//! pm2ctl itself, as root on the system manager, so they get a tighter set whatever the app's
//! `sandbox` says: every switch on (pm2ctl has no JIT, so `MemoryDenyWriteExecute` too), no
//! network but the local sockets of the system bus and the journal, `@system-service` system
//! calls without the privileged ones, the system read-only but for pm2ctl's state, and only
//! the one capability each needs beyond root's uid (see `CompanionNeed`).

use super::{HostFacts, Scope};
use crate::ecosystem::{App, Sandbox};
use crate::unit::sandbox::{mask, names, Switch, PROTECT_HOME, PROTECT_SYSTEM, SWITCHES};
use crate::unit::{UnitSpec, Value};
use std::path::{Path, PathBuf};

/// The system calls an app may make with `system_call_filter` on.
const APP_SYSCALLS: &[&str] = &["@system-service"];
/// The socket families an app may open with `restrict_address_families` on.
const APP_ADDRESS_FAMILIES: &[&str] = &["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"];

/// The properties an on switch sets.
fn switch_properties(s: &Switch) -> Vec<(&'static str, Value)> {
    let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match s.property {
        "RestrictNamespaces" => vec![(s.property, Value::U64(0))],
        "SystemCallArchitectures" => {
            vec![(s.property, Value::StrList(vec!["native".into()]))]
        }
        "SystemCallFilter" => vec![
            (s.property, Value::Filter(true, names(APP_SYSCALLS))),
            ("SystemCallErrorNumber", Value::I32(EPERM)),
        ],
        "RestrictAddressFamilies" => {
            vec![(s.property, Value::Filter(true, names(APP_ADDRESS_FAMILIES)))]
        }
        _ => vec![(s.property, Value::Bool(true))],
    }
}

/// The directories `ProtectHome` covers as a whole.
const PROTECT_HOME_PATHS: &[&str] = &["/home", "/root", "/run/user"];

/// What the sandboxing of one app needs from the rest of its plan.
pub struct Inputs<'a> {
    pub app: &'a App,
    pub host: &'a HostFacts,
    /// The account the service runs as (`User=`); `None`: the manager's own (root on the
    /// system manager, the caller on a user's).
    pub user: Option<&'a str>,
    /// The home of that account, when known.
    pub home: Option<&'a Path>,
    /// Directories the app writes besides its home: its working directory, its log files'.
    pub writable: Vec<PathBuf>,
    /// What relative `read_write_paths` are relative to (the file's directory).
    pub base_dir: &'a Path,
}

/// The directories `PrivateTmp` replaces with the service's own.
const PRIVATE_TMP_PATHS: &[&str] = &["/tmp", "/var/tmp"];

/// Whether `path` is in a directory `PrivateTmp` replaces.
fn in_tmp(path: &Path) -> bool {
    PRIVATE_TMP_PATHS.iter().any(|t| path.starts_with(t))
}

/// The absolute paths a service's command names (program and arguments: the script, log
/// files) and its working directory: what a private `/tmp` would hide when they are in it.
fn exec_paths(spec: &UnitSpec) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = Vec::new();
    if let Some(Value::Exec(commands)) = spec.get("ExecStart") {
        for c in commands {
            paths.extend(
                std::iter::once(&c.path)
                    .chain(&c.argv)
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute()),
            );
        }
    }
    if let Some(Value::Str(dir)) = spec.get("WorkingDirectory") {
        paths.push(PathBuf::from(dir));
    }
    paths
}

/// The one capability a companion needs beyond root's uid (which is what systemd's D-Bus API
/// asks of its callers), by what the companion does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompanionNeed {
    /// `pm2ctl restart` (cron's oneshot): systemd and pm2ctl's state only. No capability.
    Nothing,
    /// The watch agent reads the app's tree, whoever owns it: `CAP_DAC_READ_SEARCH`.
    ReadAnyFile,
    /// The memory check sees when a replaced instance accepts on its socket through
    /// `/proc/<pid>/fdinfo` of the app's processes, which the kernel shows another user (or a
    /// process holding capabilities the reader lacks) only with `CAP_SYS_PTRACE`. The
    /// `ptrace` system call itself stays filtered.
    InspectProcesses,
}

impl CompanionNeed {
    fn capabilities(self) -> u64 {
        match self {
            CompanionNeed::Nothing => 0,
            CompanionNeed::ReadAnyFile => caps::Capability::CAP_DAC_READ_SEARCH.bitmask(),
            CompanionNeed::InspectProcesses => caps::Capability::CAP_SYS_PTRACE.bitmask(),
        }
    }
}

/// System calls a companion may make: what a system service needs, less the privileged
/// groups. A call outside them fails with EPERM rather than killing pm2ctl mid-operation.
const COMPANION_SYSCALLS: &[&str] = &["@system-service"];
const COMPANION_DENIED_SYSCALLS: &[&str] = &["@privileged", "@resources"];
/// The only sockets a companion opens: the system bus and the journal.
const COMPANION_ADDRESS_FAMILIES: &[&str] = &["AF_UNIX"];
/// `EPERM`, for `SystemCallErrorNumber`.
const EPERM: i32 = 1;

/// Sets the sandboxing of a companion service that runs pm2ctl; `state_dir` is the one place
/// it writes (`None`: the user's manager, where nothing is mounted read-only anyway).
pub fn companion(
    spec: &mut UnitSpec,
    host: &HostFacts,
    state_dir: Option<&Path>,
    need: CompanionNeed,
) {
    let system = host.scope == Scope::System;
    // pm2ctl itself, its state or the watched tree in /tmp: a private /tmp would hide them.
    let mut runs_from = exec_paths(spec);
    runs_from.extend(state_dir.map(Path::to_path_buf));
    let host_tmp = runs_from.iter().any(|p| in_tmp(p));
    for s in SWITCHES {
        // The companion's own, tighter, filters follow.
        if (s.namespaced && !system)
            || matches!(s.property, "SystemCallFilter" | "RestrictAddressFamilies")
            || (s.property == "PrivateTmp" && host_tmp)
        {
            continue;
        }
        for (property, value) in switch_properties(s) {
            spec.set(property, value);
        }
    }
    let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    spec.set(
        "SystemCallFilter",
        Value::Filter(true, names(COMPANION_SYSCALLS)),
    );
    spec.set(
        "SystemCallFilter",
        Value::Filter(false, names(COMPANION_DENIED_SYSCALLS)),
    );
    spec.set("SystemCallErrorNumber", Value::I32(EPERM));
    spec.set(
        "RestrictAddressFamilies",
        Value::Filter(true, names(COMPANION_ADDRESS_FAMILIES)),
    );
    if !system {
        return;
    }
    // AF_UNIX sockets are reached by path, not through the network namespace.
    spec.set("PrivateNetwork", Value::Bool(true));
    spec.set("ProtectSystem", Value::Str("strict".into()));
    spec.set("ProtectHome", Value::Str("read-only".into()));
    let mut writable: Vec<String> = state_dir
        .map(|d| format!("-{}", d.to_string_lossy()))
        .into_iter()
        .collect();
    // Where `apply`'s engine marks an app handed over from its generated units.
    writable.push(format!("-{}", super::dirs::SYSTEM_RUNTIME_DIR));
    spec.set("ReadWritePaths", Value::StrList(writable));
    spec.set("CapabilityBoundingSet", Value::U64(need.capabilities()));
}

/// Whether the service runs as root.
pub fn runs_as_root(user: Option<&str>, host: &HostFacts) -> bool {
    match (host.scope, user) {
        (Scope::User, _) => host.uid == 0,
        (Scope::System, None) => true,
        (Scope::System, Some(u)) => u == "root" || u == "0",
    }
}

/// Sets the sandboxing and capability properties on an app's service.
pub fn apply(spec: &mut UnitSpec, inputs: &Inputs<'_>) {
    let sandbox = &inputs.app.sandbox;
    let system = inputs.host.scope == Scope::System;
    // An app that lives in /tmp keeps the host's /tmp (a private one would hide it), writable
    // as it would be without the sandbox.
    let host_tmp =
        !sandbox.switches.contains_key("private_tmp") && exec_paths(spec).iter().any(|p| in_tmp(p));
    if !sandbox.off {
        for s in SWITCHES {
            if s.namespaced && !system {
                continue;
            }
            if !switch_value(sandbox, s) {
                continue;
            }
            if s.property == "PrivateTmp" && host_tmp {
                continue;
            }
            for (property, value) in switch_properties(s) {
                spec.set(property, value);
            }
        }
        if system {
            let protect_system = choice(&sandbox.protect_system, PROTECT_SYSTEM);
            let protect_home = choice(&sandbox.protect_home, PROTECT_HOME);
            if protect_system != "false" {
                spec.set("ProtectSystem", Value::Str(dbus_choice(protect_system)));
            }
            if protect_home != "false" {
                spec.set("ProtectHome", Value::Str(dbus_choice(protect_home)));
            }
            let mut paths =
                read_write_paths(inputs, &sandbox.read_write_paths, protect_home != "false");
            if host_tmp {
                for tmp in PRIVATE_TMP_PATHS {
                    let tmp = format!("-{tmp}");
                    if !paths.contains(&tmp) {
                        paths.push(tmp);
                    }
                }
            }
            if !paths.is_empty() && (protect_system != "false" || protect_home != "false") {
                spec.set("ReadWritePaths", Value::StrList(paths));
            }
        }
    }
    if system {
        capabilities(spec, inputs);
    }
}

/// The warning for writable paths holding a `\`: systemd (252, checked) writes a transient
/// unit's `ReadWritePaths=` to its file under /run/systemd/transient without escaping the
/// backslash, and a `daemon-reload` reads `\x` back as `x`, so such a path is writable only
/// until the next reload. Unit files (the generator's) and every other property keep it.
pub fn reload_loses_backslashes(spec: &UnitSpec, app_name: &str) -> Option<String> {
    let Some(Value::StrList(paths)) = spec.get("ReadWritePaths") else {
        return None;
    };
    let lost: Vec<&str> = paths
        .iter()
        .filter(|p| p.contains('\\'))
        .map(|p| p.strip_prefix('-').unwrap_or(p))
        .collect();
    (!lost.is_empty()).then(|| {
        format!(
            "app `{app_name}`: {} {} a backslash, which systemd drops from ReadWritePaths= when \
             it reloads (daemon-reload): the app can write there only until then; a path \
             without one keeps working",
            lost.join(", "),
            if lost.len() == 1 { "holds" } else { "hold" },
        )
    })
}

/// The effective value of an on/off option.
pub fn switch_value(sandbox: &Sandbox, s: &Switch) -> bool {
    sandbox.switches.get(s.key).copied().unwrap_or(s.default)
}

fn choice<'a>(given: &'a Option<String>, values: &'a [&'a str]) -> &'a str {
    given.as_deref().unwrap_or(values[0])
}

/// systemd's D-Bus values: `yes`/`no` for the booleans of the file.
fn dbus_choice(value: &str) -> String {
    match value {
        "true" => "yes".into(),
        other => other.into(),
    }
}

/// The paths that stay writable, each at most once, in a stable order, with systemd's `-`
/// (skip it when missing).
fn read_write_paths(inputs: &Inputs<'_>, extra: &[PathBuf], protect_home: bool) -> Vec<String> {
    let mut paths: Vec<&Path> = inputs.writable.iter().map(PathBuf::as_path).collect();
    // systemd lets the more specific of two paths win, and `ProtectHome` wins over
    // `ReadWritePaths` on the very paths it covers: root's own home stays read-only.
    paths.extend(
        inputs
            .home
            .filter(|h| !(protect_home && PROTECT_HOME_PATHS.iter().any(|p| Path::new(p) == *h))),
    );
    let extra: Vec<PathBuf> = extra
        .iter()
        .map(|p| {
            super::paths::resolve(p, inputs.base_dir, inputs.home.unwrap_or(&inputs.host.home))
        })
        .collect();
    paths.extend(extra.iter().map(PathBuf::as_path));
    let mut out: Vec<String> = Vec::new();
    for p in paths {
        let s = format!("-{}", p.to_string_lossy());
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// `CapabilityBoundingSet` and `AmbientCapabilities` from `sandbox.capabilities`.
fn capabilities(spec: &mut UnitSpec, inputs: &Inputs<'_>) {
    let granted = mask(&inputs.app.sandbox.capabilities);
    if runs_as_root(inputs.user, inputs.host) {
        if !inputs.app.sandbox.capabilities.is_empty() {
            spec.set("CapabilityBoundingSet", Value::U64(granted));
        }
    } else {
        spec.set("CapabilityBoundingSet", Value::U64(granted));
        if granted != 0 {
            spec.set("AmbientCapabilities", Value::U64(granted));
        }
    }
}

/// Capabilities an app asks for that the caller does not hold: pm2ctl does not hand out
/// more than its caller has.
pub fn beyond_caller(app: &App, host: &HostFacts) -> Vec<String> {
    let asked = mask(&app.sandbox.capabilities);
    names(asked & !host.caller_capabilities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_paths_with_a_backslash_are_warned_about() {
        let mut spec = UnitSpec::new("pm2ctl-a@0.service", crate::unit::UnitKind::Service);
        spec.set(
            "ReadWritePaths",
            Value::StrList(vec!["-/srv/a\\b".into(), "-/srv/ok %i $X".into()]),
        );
        let warning = reload_loses_backslashes(&spec, "a").expect("a warning");
        assert!(
            warning.starts_with("app `a`: /srv/a\\b holds a backslash"),
            "{warning}"
        );
        assert!(!warning.contains("/srv/ok"), "{warning}");
        spec.properties.clear();
        assert_eq!(reload_loses_backslashes(&spec, "a"), None);
    }

    #[test]
    fn every_switch_key_is_unique() {
        let mut keys: Vec<&str> = SWITCHES.iter().map(|s| s.key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), SWITCHES.len());
    }
}
