//! The few systemd D-Bus methods and properties pm2ctl uses, as our own `#[proxy]` traits.
//!
//! Signatures follow systemd's introspection data (`org.freedesktop.systemd1(5)`) and are
//! limited to what systemd 249+ has, so one proxy works on every supported distro. Property
//! batches are read with `Properties.GetAll` into typed dictionaries, pipelined over the one
//! connection.

use zbus::{DeserializeDict, OwnedObjectPath, Type, Variant};

/// One row of `ListUnitsByPatterns`' `a(ssssssouso)`.
pub type ListedUnitRow = (
    String,          // name
    String,          // description
    String,          // load state
    String,          // active state
    String,          // sub state
    String,          // followed unit
    OwnedObjectPath, // unit object path
    u32,             // job id
    String,          // job type
    OwnedObjectPath, // job object path
);

#[zbus::proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
pub trait Manager {
    fn start_transient_unit(
        &self,
        name: &str,
        mode: &str,
        properties: Vec<(&str, Variant<'_>)>,
        aux: Vec<(&str, Vec<(&str, Variant<'_>)>)>,
    ) -> zbus::Result<OwnedObjectPath>;

    // StartUnit, StopUnit and RestartUnit are called by name (`Client::unit_jobs`).

    fn kill_unit(&self, name: &str, whom: &str, signal: i32) -> zbus::Result<()>;

    fn reset_failed_unit(&self, name: &str) -> zbus::Result<()>;

    fn set_unit_properties(
        &self,
        name: &str,
        runtime: bool,
        properties: Vec<(&str, Variant<'_>)>,
    ) -> zbus::Result<()>;

    fn list_units_by_patterns(
        &self,
        states: Vec<&str>,
        patterns: Vec<&str>,
    ) -> zbus::Result<Vec<ListedUnitRow>>;

    fn subscribe(&self) -> zbus::Result<()>;

    /// `daemon-reload`: generators run again; returns once the reload is done.
    fn reload(&self) -> zbus::Result<()>;

    fn get_unit(&self, name: &str) -> zbus::Result<OwnedObjectPath>;

    /// Sent when a unit is unloaded (garbage-collected), to subscribed clients.
    #[zbus(signal)]
    fn unit_removed(&self, id: String, unit: OwnedObjectPath) -> zbus::Result<()>;

    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: OwnedObjectPath,
        unit: String,
        result: String,
    ) -> zbus::Result<()>;

    #[zbus(property)]
    fn version(&self) -> zbus::Result<String>;
}

/// systemd-logind's manager: lingering (a user's manager started at boot, without a login).
#[zbus::proxy(
    interface = "org.freedesktop.login1.Manager",
    default_service = "org.freedesktop.login1",
    default_path = "/org/freedesktop/login1"
)]
pub trait Login {
    fn set_user_linger(&self, uid: u32, enable: bool, interactive: bool) -> zbus::Result<()>;
}

/// `org.freedesktop.systemd1.Unit` properties pm2ctl reads (a subset; others are ignored).
#[derive(Debug, Default, Clone, DeserializeDict, Type)]
#[zbus(signature = "a{sv}", rename_all = "PascalCase")]
pub struct UnitProps {
    pub id: Option<String>,
    pub description: Option<String>,
    pub load_state: Option<String>,
    pub active_state: Option<String>,
    pub sub_state: Option<String>,
    /// µs since the epoch; 0 when never entered.
    pub active_enter_timestamp: Option<u64>,
    pub state_change_timestamp: Option<u64>,
    #[zbus(rename = "InvocationID")]
    pub invocation_id: Option<Vec<u8>>,
    /// The file the unit was loaded from: for a transient unit, the one systemd wrote
    /// under its runtime directory (`/run/systemd/transient/…`), read again at every
    /// `daemon-reload`.
    pub fragment_path: Option<String>,
    pub transient: Option<bool>,
}

/// `org.freedesktop.systemd1.Service` properties pm2ctl reads.
#[derive(Debug, Default, Clone, DeserializeDict, Type)]
#[zbus(signature = "a{sv}", rename_all = "PascalCase")]
pub struct ServiceProps {
    /// `simple`, `exec`, `notify`, …: with `notify` a start job completes at READY=1.
    #[zbus(rename = "Type")]
    pub service_type: Option<String>,
    #[zbus(rename = "MainPID")]
    pub main_pid: Option<u32>,
    pub result: Option<String>,
    pub n_restarts: Option<u32>,
    /// `CLD_EXITED` (1), `CLD_KILLED` (2), `CLD_DUMPED` (3), or 0 while running.
    pub exec_main_code: Option<i32>,
    /// The exit status, or the signal number when killed.
    pub exec_main_status: Option<i32>,
    pub exec_main_start_timestamp: Option<u64>,
    pub exec_main_exit_timestamp: Option<u64>,
    /// `STATUS=` the service last sent (the Node shim says there why a hand-over failed).
    pub status_text: Option<String>,
    /// `u64::MAX` when unknown.
    pub memory_current: Option<u64>,
    #[zbus(rename = "CPUUsageNSec")]
    pub cpu_usage_nsec: Option<u64>,
    pub environment: Option<Vec<String>>,
    pub user: Option<String>,
    /// `WorkingDirectory=`: a path, `~`, or either after `!` (missing is fine).
    pub working_directory: Option<String>,
    pub restart: Option<String>,
    /// `LogExtraFields`: `KEY=value` entries (pm2ctl puts `PM2_APP`, `PM2_NAMESPACE` there).
    pub log_extra_fields: Option<Vec<Vec<u8>>>,
    // The limits systemd changes on a running service (`unit::live`).
    pub memory_max: Option<u64>,
    pub memory_high: Option<u64>,
    pub memory_swap_max: Option<u64>,
    #[zbus(rename = "CPUQuotaPerSecUSec")]
    pub cpu_quota_per_sec_usec: Option<u64>,
    #[zbus(rename = "CPUWeight")]
    pub cpu_weight: Option<u64>,
    #[zbus(rename = "IOWeight")]
    pub io_weight: Option<u64>,
}

impl ServiceProps {
    /// The live properties (`unit::live::LIVE`) the service reported, by name.
    pub fn live_values(&self) -> Vec<(&'static str, u64)> {
        [
            ("MemoryMax", self.memory_max),
            ("MemoryHigh", self.memory_high),
            ("MemorySwapMax", self.memory_swap_max),
            ("CPUQuotaPerSecUSec", self.cpu_quota_per_sec_usec),
            ("CPUWeight", self.cpu_weight),
            ("IOWeight", self.io_weight),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

#[zbus::proxy(
    interface = "org.freedesktop.DBus.Properties",
    default_service = "org.freedesktop.systemd1"
)]
pub trait UnitProperties {
    /// `GetAll("org.freedesktop.systemd1.Unit")`.
    #[zbus(name = "GetAll")]
    fn get_all_unit(&self, interface: &str) -> zbus::Result<UnitProps>;

    /// `GetAll("org.freedesktop.systemd1.Service")`.
    #[zbus(name = "GetAll")]
    fn get_all_service(&self, interface: &str) -> zbus::Result<ServiceProps>;

    /// `Get(interface, property)` of one property whose type the caller knows.
    #[zbus(name = "Get")]
    fn get_u64(&self, interface: &str, property: &str) -> zbus::Result<zbus::OwnedVariant>;
}
