//! The plan: a pure function from the validated model plus host facts to unit specs.
//! No I/O here; anything the host decides (CPU count, PATH lookups, systemd version)
//! comes in through `HostFacts` and `Resolver`, so it is testable without systemd.

use crate::ecosystem::Ecosystem;
use crate::unit::UnitSpec;
use std::path::PathBuf;

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
}

/// Filesystem lookups the plan needs, behind a trait so golden tests can fake them.
pub trait Resolver {
    /// `which`: the absolute path of a command found on `path`, if any.
    fn which(&self, command: &str, path: &str) -> Option<PathBuf>;
}

/// The units for one instance of an app.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct InstancePlan {
    pub index: u32,
    pub service: UnitSpec,
    /// For a cluster app with a port: the socket that activates `service`.
    pub socket: Option<UnitSpec>,
}

/// The units for one app (serialisable: the state store keeps the plan each app runs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AppPlan {
    pub name: String,
    pub namespace: String,
    pub slice: UnitSpec,
    pub instances: Vec<InstancePlan>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub apps: Vec<AppPlan>,
    /// Things the user should know (properties dropped for an old systemd, …).
    pub warnings: Vec<String>,
}

/// Translates a validated ecosystem into units.
pub fn plan(
    _eco: &Ecosystem,
    _env_name: Option<&str>,
    _host: &HostFacts,
    _resolver: &dyn Resolver,
) -> anyhow::Result<Plan> {
    anyhow::bail!("planning is not implemented yet")
}
