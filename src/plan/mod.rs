//! The plan: a pure function from the validated model plus host facts to unit specs.
//! No I/O here; anything the host decides (CPU count, PATH lookups, systemd version)
//! comes in through `HostFacts` and `Resolver`, so it is testable without systemd.
//!
//! Per app: a slice `pm2ctl-<esc>.slice`; per instance a service `pm2ctl-<esc>@<i>.service`;
//! for a cluster app with a `port`, one socket `pm2ctl-<esc>@<i>.socket` per instance, each
//! with `ReusePort=yes` and activating the service of the same name (a transient service
//! cannot take `Sockets=`, so the instances cannot share one socket unit; the kernel balances
//! connections across the N listening sockets, and systemd holds each one open while its
//! instance restarts).

pub mod access;
mod app;
pub use app::instance_count;
pub(crate) use app::readable;
pub use env::{HANDOVER_DIR_VAR, HANDOVER_VAR};
pub mod companion;
pub mod dirs;
pub mod env;
pub mod exec;
pub mod gate;
pub mod logs;
pub mod memory;
mod paths;
pub mod sandbox;
pub mod show;
#[cfg(test)]
mod tests;

use crate::ecosystem::Ecosystem;
use crate::unit::UnitSpec;
use std::fmt;
use std::path::{Path, PathBuf};

/// Which systemd manager the units are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    System,
    User,
}

/// Facts about the target host that the plan depends on.
#[derive(Debug, Clone, PartialEq)]
pub struct HostFacts {
    pub cpus: u32,
    pub uid: u32,
    pub user: String,
    pub home: PathBuf,
    /// The caller's PATH, used to resolve interpreters to absolute paths.
    pub path: String,
    /// systemd's major version (252 for "252.38-1~deb12u1").
    pub systemd_version: u32,
    pub scope: Scope,
    /// Where the Node shim is installed (injected with NODE_OPTIONS for node apps).
    pub node_shim: PathBuf,
    /// The caller's environment, used only by apps with `inherit_env = true`.
    pub caller_env: Vec<(String, String)>,
    /// The pm2ctl binary, when app output goes through `pm2ctl exec-wrap` (stdout and
    /// stderr as separate journal streams, optional log files). `None`: the real command
    /// runs directly and both streams reach the journal at the same priority.
    pub self_exe: Option<PathBuf>,
    /// The caller's working directory: a relative `Ecosystem::base_dir` is resolved against it.
    pub cwd: PathBuf,
    /// Why this manager would not enforce `MemoryMax=` (a user's manager without the memory
    /// controller delegated), or `None` when it does; apps with `max_memory_restart` are
    /// warned about it.
    pub memory_unenforced: Option<String>,
    /// The capabilities the caller holds (bitmask by `caps::Capability::bitmask`); an app is
    /// granted none beyond them.
    pub caller_capabilities: u64,
    /// The lowest port an unprivileged process may bind (`net.ipv4.ip_unprivileged_port_start`,
    /// 1024 unless lowered).
    pub unprivileged_port_start: u16,
    /// A root caller must ask for root apps in the file (`user = "root"`): true for anything a
    /// user runs; false when re-planning apps already running (the generator at boot), so an
    /// app applied before this rule existed is not lost.
    pub require_root_opt_in: bool,
}

/// Filesystem lookups the plan needs, behind a trait so golden tests can fake them.
pub trait Resolver {
    /// `which`: the absolute path of a command found on `path`, if any.
    fn which(&self, command: &str, path: &str) -> Option<PathBuf>;
    /// What is at `path` (an absolute path): decides how a `script` runs.
    fn file_kind(&self, path: &Path) -> FileKind;
    /// The home directory of an account (a name or a numeric id), if it exists.
    fn home_of(&self, _user: &str) -> Option<PathBuf> {
        None
    }
}

/// What a path points at, as far as running it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A file with an execute bit (a binary or a `#!` script).
    Executable,
    /// Any other file (a script for an interpreter).
    Other,
    Directory,
    Missing,
}

/// The units for one instance of an app.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InstancePlan {
    pub index: u32,
    pub service: UnitSpec,
    /// For a cluster app with a port: the socket that activates `service`. Created as the
    /// main unit of `StartTransientUnit` with the service as its aux unit (a transient socket
    /// cannot name its service; it triggers the one of the same name). That call only loads
    /// the service: `StartUnit` it too, as PM2 starts every instance at once.
    pub socket: Option<UnitSpec>,
}

/// A unit that serves a whole app beside its instances: `cron_restart`'s timer with the
/// service it triggers, or the watch agent's service. Planned, applied, pruned, deleted and
/// rendered with its app; see `companion`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Companion {
    /// A timer that triggers `service` (the service of its own name), created as the main
    /// unit of `StartTransientUnit` with the service as its aux unit, which only loads the
    /// service. `None`: `service` runs on its own, started with the app.
    pub timer: Option<UnitSpec>,
    pub service: UnitSpec,
}

impl Companion {
    /// The unit that must be up while the app is applied: the timer, or the service.
    pub fn main(&self) -> &UnitSpec {
        self.timer.as_ref().unwrap_or(&self.service)
    }

    /// Its units, the main one first.
    pub fn units(&self) -> impl Iterator<Item = &UnitSpec> {
        self.timer.iter().chain(std::iter::once(&self.service))
    }
}

/// The units for one app (serialisable: the state store keeps the plan each app runs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AppPlan {
    /// The app's name as in the file (after `append_env_to_name`).
    pub name: String,
    pub namespace: String,
    pub slice: UnitSpec,
    pub instances: Vec<InstancePlan>,
    /// Units beside the instances (cron timer, watch agent); absent in states saved before
    /// they existed.
    #[serde(default)]
    pub companions: Vec<Companion>,
    /// How long a started instance may take to accept on its socket before it is taken as
    /// ready anyway (PM2's `listen_timeout`): `reload` and a rolling `apply` wait that long
    /// at most before replacing the next instance.
    #[serde(default = "default_listen_timeout", with = "millis")]
    pub listen_timeout: std::time::Duration,
}

/// PM2's `listen_timeout` default, for plans recorded before it was.
pub const DEFAULT_LISTEN_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(3000);

fn default_listen_timeout() -> std::time::Duration {
    DEFAULT_LISTEN_TIMEOUT
}

/// A `Duration` kept as whole milliseconds in the state store.
mod millis {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let ms = <u64 as serde::Deserialize>::deserialize(d)?;
        Ok(Duration::from_millis(ms))
    }
}

impl AppPlan {
    /// Every unit of the app: its slice, per instance the socket (if any) and the service,
    /// then its companions.
    pub fn units(&self) -> impl Iterator<Item = &UnitSpec> {
        std::iter::once(&self.slice)
            .chain(
                self.instances
                    .iter()
                    .flat_map(|i| i.socket.iter().chain(std::iter::once(&i.service))),
            )
            .chain(self.companions.iter().flat_map(Companion::units))
    }

    /// Whether the app has a watch agent (PM2's "watching" column).
    pub fn is_watched(&self) -> bool {
        let agent = format!("{}.service", crate::unit::name::WATCH_SUFFIX);
        self.companions
            .iter()
            .any(|c| c.timer.is_none() && c.service.name.ends_with(&agent))
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub apps: Vec<AppPlan>,
    /// Things the user should know (properties dropped for an old systemd, …).
    pub warnings: Vec<String>,
    /// Per app, in the order of `apps`: the paths its account must reach (see `access`).
    pub access: Vec<access::AppAccess>,
}

/// Every reason a file could not be planned, each naming its app and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    pub problems: Vec<String>,
}

impl fmt::Display for PlanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PlanError {}

impl Plan {
    /// Every unit of the plan, in order: per app its slice, then per instance the
    /// socket (if any) and the service, then its companions.
    pub fn units(&self) -> impl Iterator<Item = &UnitSpec> {
        self.apps.iter().flat_map(AppPlan::units)
    }
}

/// Translates a validated ecosystem into units. `env_name` is `--env NAME`: it selects the
/// `env_<NAME>` tables (and `deploy.<NAME>.env`). Fails with every problem found, not the
/// first; warnings (options a too-old systemd cannot honour, …) are in `Plan::warnings`.
pub fn plan(
    eco: &Ecosystem,
    env_name: Option<&str>,
    host: &HostFacts,
    resolver: &dyn Resolver,
) -> Result<Plan, PlanError> {
    let base_dir = paths::normalize(&host.cwd.join(&eco.base_dir));
    let deploy_env = env_name.and_then(|e| eco.deploy.get(e)).map(|d| &d.env);
    let ctx = app::Context {
        base_dir: &base_dir,
        env_name,
        deploy_env,
        host,
        resolver,
    };
    let mut plan = Plan::default();
    let mut problems = Vec::new();
    for app in &eco.apps {
        match app::plan_app(app, &ctx) {
            Ok((app_plan, warnings, access)) => {
                plan.apps.push(app_plan);
                plan.warnings.extend(warnings);
                plan.access.push(access);
            }
            Err(errs) => problems.extend(errs),
        }
    }
    check_unique_units(&plan, &mut problems);
    if problems.is_empty() {
        Ok(plan)
    } else {
        Err(PlanError { problems })
    }
}

/// Two apps with one name (`append_env_to_name` can make a name clash with another app's).
fn check_unique_units(plan: &Plan, problems: &mut Vec<String>) {
    let mut seen = std::collections::BTreeSet::new();
    for app in &plan.apps {
        if !seen.insert(app.slice.name.as_str()) {
            problems.push(format!(
                "two apps are named `{}` (once `append_env_to_name` is applied); \
                 their units would be the same, rename one",
                app.name
            ));
        }
    }
}
