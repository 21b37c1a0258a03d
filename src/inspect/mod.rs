//! The read side: what runs, as `list`, `jlist`, `show` and `monit` show it.
//!
//! `collect` takes one snapshot of every instance (PM2's "process") from the state store,
//! systemd and the kernel: one `ListUnitsByPatterns`, then each running service's cgroup and
//! `/proc`, with a `Get` of `NRestarts` only for a main process not seen before
//! (`systemd::restarts`), and a `GetAll` only of the other loaded services
//! (`processes::observe`), with no second CPU sample (the figure is the average since the
//! process started).
//! Everything after that is pure: `table` (the `list` table), `jlist` (PM2's JSON shape),
//! `format` (PM2's uptime and memory spellings); `package` finds the app's version as PM2 does.

pub mod collect;
pub mod format;
pub mod jlist;
pub mod js;
pub mod package;
pub mod table;

pub use collect::collect;

use crate::host::Host;
use crate::plan::Scope;
use anyhow::Context;

/// One snapshot of every instance of `scope`'s manager on `host`: the state store (read
/// without locking: listing never waits for another pm2ctl) and systemd.
pub fn snapshot(host: &Host, scope: Scope) -> anyhow::Result<Snapshot> {
    let started = std::time::Instant::now();
    let client = crate::systemd::Client::connect(host, scope)?;
    tracing::debug!(elapsed = ?started.elapsed(), "connected");
    let state = crate::state::read_current(host, scope)?;
    tracing::debug!(elapsed = ?started.elapsed(), "state store read");
    let snapshot = collect(&client, &state).context("cannot read the state of pm2ctl's units");
    tracing::debug!(elapsed = ?started.elapsed(), "snapshot taken");
    snapshot
}

use crate::status::Status;

/// Where an instance's CPU figure comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricSource {
    /// systemd's cgroup accounting (`CPUUsageNSec`): the whole unit, children included.
    Cgroup,
    /// `/proc/<MainPID>` (its threads' `schedstat`), when systemd's CPU accounting is off
    /// (cgroup v1 without the cpuacct controller): the main process only, as PM2 measures.
    Proc,
    /// Not running, or nothing readable.
    None,
}

impl MetricSource {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricSource::Cgroup => "systemd (CPUUsageNSec)",
            MetricSource::Proc => "/proc of the main process",
            MetricSource::None => "none",
        }
    }
}

/// PM2's two exec modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Fork,
    Cluster,
}

impl Mode {
    /// The word `list` prints.
    pub fn short(self) -> &'static str {
        match self {
            Mode::Fork => "fork",
            Mode::Cluster => "cluster",
        }
    }

    /// `pm2_env.exec_mode`.
    pub fn pm2_name(self) -> &'static str {
        match self {
            Mode::Fork => "fork_mode",
            Mode::Cluster => "cluster_mode",
        }
    }
}

/// How the last process of an instance ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// The command line an instance runs, as PM2 describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    /// `pm_exec_path`: the script (or the binary, or the shell line).
    pub exec_path: String,
    /// `exec_interpreter`: `node`, `python3`, `bash`…, or `none` for a binary run directly.
    pub interpreter: String,
    /// Arguments to the interpreter before the script (`node_args`).
    pub interpreter_args: Vec<String>,
    /// Arguments to the script.
    pub args: Vec<String>,
    /// The full argv systemd runs, the log wrapper left out.
    pub argv: Vec<String>,
}

/// One instance with everything the read side shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    pub pm_id: u32,
    pub name: String,
    pub namespace: String,
    /// Instance index (`NODE_APP_INSTANCE`).
    pub index: u32,
    pub mode: Mode,
    /// How many instances its app has.
    pub app_instances: u32,
    pub status: Status,
    pub pid: Option<u32>,
    /// PM2's `restart_time`: systemd's `NRestarts` plus the store's offset, at least 0.
    pub restarts: u64,
    /// When the current process started, ms since the epoch (`pm_uptime`).
    pub started_at_ms: Option<u64>,
    /// When the app was first started, ms since the epoch (`created_at`).
    pub created_at_ms: Option<u64>,
    /// Resident memory of the main process, bytes, as PM2 counts it (`VmRSS`); the
    /// cgroup's figure when `/proc` cannot be read. `None` when not running.
    pub memory: Option<u64>,
    /// systemd's `MemoryCurrent` for the unit (children and charged page cache included).
    pub cgroup_memory: Option<u64>,
    /// Percent of one CPU, rounded to 0.1: the average since the process started (`monit`
    /// replaces it with the use since its previous refresh); `None` when unknown.
    pub cpu: Option<f64>,
    pub cpu_source: MetricSource,
    /// Cumulative CPU time (ns), for callers that sample across snapshots (`monit`).
    pub cpu_time_ns: Option<u64>,
    pub user: String,
    pub watching: bool,
    pub autorestart: bool,
    /// Known to the state store (an instance whose units run without a record is not).
    pub recorded: bool,
    pub service: String,
    pub socket: Option<String>,
    pub slice: String,
    /// systemd's view: ActiveState, SubState, Result.
    pub active_state: String,
    pub sub_state: String,
    pub result: String,
    pub exit: Option<Exit>,
    pub command: Command,
    pub cwd: String,
    /// The app's environment as the unit gets it (pm2ctl's own variables left out).
    pub env: Vec<(String, String)>,
    pub out_log: Option<String>,
    pub err_log: Option<String>,
    /// `MemoryMax`, bytes (`max_memory_restart`).
    pub memory_max: Option<u64>,
    /// systemd's `Restart=` (`always`, `on-failure`, `no`).
    pub restart_policy: Option<String>,
    /// `RestartUSec`, µs.
    pub restart_delay_us: Option<u64>,
    /// The app's package.json version, found as PM2 finds it.
    pub version: package::Version,
}

/// Every instance, ordered by `pm_id` (PM2's list order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    pub instances: Vec<Instance>,
    /// When it was taken, ms since the epoch (uptimes are relative to it).
    pub taken_at_ms: u64,
}

impl Snapshot {
    /// The instances of app `name`, in index order.
    pub fn app(&self, name: &str) -> Vec<&Instance> {
        let mut found: Vec<&Instance> = self.instances.iter().filter(|i| i.name == name).collect();
        found.sort_by_key(|i| i.index);
        found
    }

    /// App names in order of their first `pm_id`.
    pub fn app_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for i in &self.instances {
            if !names.contains(&i.name.as_str()) {
                names.push(&i.name);
            }
        }
        names
    }
}
