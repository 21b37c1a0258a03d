//! Talking to systemd over D-Bus: proxies, transient units, job waiting, unit state.
//!
//! `Client` is a blocking facade over zbus' async API: it owns a current-thread tokio
//! runtime and drives every call with `block_on`, so commands stay plain sequential code.
//! Batches (start N units, read N units' state) are issued concurrently on the one
//! connection, so they cost one round trip's latency, not N.

pub mod cause;
mod cgroupfs;
mod jobs;
pub mod proxies;
mod restarts;
pub mod variant;

use crate::host::Host;
use crate::plan::Scope;
use crate::unit::UnitSpec;
use anyhow::{Context, Result};
use futures_util::StreamExt;
use proxies::{ManagerProxy, ServiceProps, UnitProps};
use std::process::Command;

pub use cgroupfs::Sample;
pub use jobs::JobOutcome;

/// How many calls one batch keeps in flight on the bus at once. dbus-daemon refuses more
/// pending replies per connection than its `max_replies_per_connection` (128 on Debian's
/// system bus): a batch of hundreds of units must not hit that.
const MAX_IN_FLIGHT: usize = 64;

/// Signals a connection keeps for a stream that is not read yet (zbus drops the oldest
/// beyond this). A batch reads its `JobRemoved`/`UnitRemoved` stream only once its calls are
/// sent, and hundreds of units send a few signals each meanwhile: none may be lost.
const MAX_QUEUED: std::num::NonZeroUsize = match std::num::NonZeroUsize::new(1 << 16) {
    Some(n) => n,
    None => unreachable!(),
};

/// Runs `futures` with at most `MAX_IN_FLIGHT` of them pending, results in their order.
pub(crate) async fn join_bounded<F: std::future::Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    futures_util::stream::iter(futures)
        .buffered(MAX_IN_FLIGHT)
        .collect()
        .await
}

pub use crate::unit::name::OWNED_PATTERN;

/// The env var carrying an app's fingerprint on its service units (see `apply`).
pub const FINGERPRINT_VAR: &str = "PM2CTL_FINGERPRINT";

/// One transient unit to create: the main unit and the aux units created in the same
/// transaction (for a cluster socket: the socket is main, its service aux).
#[derive(Debug, Clone)]
pub struct StartRequest<'a> {
    pub main: &'a UnitSpec,
    pub aux: Vec<&'a UnitSpec>,
}

/// A unit as `ListUnitsByPatterns` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUnit {
    pub name: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
}

/// A service unit `Client::read_listed_services` reads.
#[derive(Debug, Clone, Copy)]
pub struct ServiceToRead<'a> {
    pub name: &'a str,
    /// Its slice, when the caller needs of it no more than the kernel can tell while it runs
    /// (main pid, start time, memory, CPU, `NRestarts`); `None` to read all systemd has.
    pub slice: Option<&'a str>,
}

/// The live state of one unit, read in one batch.
#[derive(Debug, Clone, Default)]
pub struct UnitState {
    pub name: String,
    pub unit: UnitProps,
    /// Present for `.service` units that are loaded.
    pub service: Option<ServiceProps>,
    /// What the kernel said of a running service read from its cgroup (its `service`
    /// figures come from there), with its main process' own.
    pub sample: Option<Sample>,
}

impl UnitState {
    pub fn load_state(&self) -> &str {
        self.unit.load_state.as_deref().unwrap_or("not-found")
    }

    pub fn active_state(&self) -> &str {
        self.unit.active_state.as_deref().unwrap_or("inactive")
    }

    pub fn sub_state(&self) -> &str {
        self.unit.sub_state.as_deref().unwrap_or("dead")
    }

    /// Loaded in the manager (possibly failed or inactive but still referenced).
    pub fn is_loaded(&self) -> bool {
        self.load_state() == "loaded"
    }

    /// Running or on its way there (including waiting for an automatic restart).
    pub fn is_up(&self) -> bool {
        matches!(self.active_state(), "active" | "activating" | "reloading")
    }

    pub fn main_pid(&self) -> Option<u32> {
        self.service
            .as_ref()
            .and_then(|s| s.main_pid)
            .filter(|p| *p != 0)
    }

    /// The value of `KEY=` in the service's `Environment`, if set.
    pub fn env_var(&self, key: &str) -> Option<&str> {
        let env = self.service.as_ref()?.environment.as_ref()?;
        env.iter()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }
}

/// Which processes of a unit `kill` signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillWhom {
    Main,
    All,
}

impl KillWhom {
    fn as_str(self) -> &'static str {
        match self {
            KillWhom::Main => "main",
            KillWhom::All => "all",
        }
    }
}

/// Turns lingering on or off for `uid` through systemd-logind (`loginctl enable-linger`):
/// with it, the user's manager starts at boot and stays without a login.
pub fn set_user_linger(uid: u32, enable: bool) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let verb = if enable { "enable" } else { "disable" };
    runtime.block_on(async {
        let connection = zbus::Connection::system()
            .await
            .context("cannot connect to the system bus to reach systemd-logind")?;
        let login = proxies::LoginProxy::new(&connection).await?;
        login
            .set_user_linger(uid, enable, false)
            .await
            .map_err(|e| match jobs::error_name(&e) {
                Some(
                    "org.freedesktop.DBus.Error.AccessDenied"
                    | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
                ) => anyhow::anyhow!(
                    "systemd-logind does not allow this user to {verb} lingering ({}); \
                     ask an administrator to run `loginctl {verb}-linger {uid}`",
                    jobs::describe_error(&e)
                ),
                _ => anyhow::Error::new(e).context(format!(
                    "systemd-logind could not {verb} lingering for uid {uid} \
                     (is systemd-logind running?)"
                )),
            })
    })
}

/// A connection to one systemd manager (system or the caller's user manager).
pub struct Client {
    runtime: tokio::runtime::Runtime,
    connection: zbus::Connection,
    scope: Scope,
    /// The machine whose manager this is.
    host: Host,
    version: String,
    /// With `-H`: the ssh session carrying the connection (ends with the client).
    _bridge: Option<crate::host::remote::Bridge>,
    /// `Subscribe` was called: systemd sends job and unit signals only to subscribed clients,
    /// and only the verbs that wait for jobs need them, so it is sent before the first wait.
    subscribed: tokio::sync::OnceCell<()>,
}

impl Client {
    /// Connects to the system manager (`Scope::System`, honouring `DBUS_SYSTEM_BUS_ADDRESS`) or
    /// to the caller's user manager over the user bus (`DBUS_SESSION_BUS_ADDRESS`, else
    /// `$XDG_RUNTIME_DIR/bus`), and reads the manager's version. On another host (`-H`, see
    /// `crate::host::remote`), its system manager (or, for `Scope::User`, the ssh user's own
    /// manager there) through `systemd-stdio-bridge`.
    pub fn connect(host: &Host, scope: Scope) -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let mut bridge = None;
        let (connection, version) = runtime.block_on(async {
            let connection = match (host.ssh(), scope) {
                (Some(dest), scope) => {
                    let (stream, ssh) = crate::host::remote::bridge(dest, scope)?;
                    bridge = Some(ssh);
                    // The bridge speaks for the remote bus as the ssh user: no credentials
                    // cross ssh, so authenticate anonymously, as sd-bus does over ssh.
                    zbus::connection::Builder::unix_stream(stream)
                        .auth_mechanism(zbus::connection::AuthMechanism::Anonymous)
                        .max_queued(MAX_QUEUED)
                        .build()
                        .await
                        .with_context(|| {
                            let user = if scope == Scope::User { " --user" } else { "" };
                            format!(
                                "cannot reach systemd{user} on {} over ssh \
                                 (ssh {} systemd-stdio-bridge{user})",
                                dest.target, dest.target
                            )
                        })?
                }
                (None, Scope::System) => zbus::connection::Builder::system()
                    .max_queued(MAX_QUEUED)
                    .build()
                    .await
                    .context(
                        "cannot connect to the system bus (is systemd running? set DBUS_SYSTEM_BUS_ADDRESS?)",
                    )?,
                (None, Scope::User) => zbus::connection::Builder::session()
                    .max_queued(MAX_QUEUED)
                    .build()
                    .await
                    .context(
                        "cannot connect to the user bus (is `systemd --user` running? try `loginctl enable-linger`)",
                    )?,
            };
            // Not cached: a cached proxy would fetch every Manager property and watch them.
            let manager = ManagerProxy::builder(&connection)
                .cache_properties(zbus::proxy::CacheProperties::No)
                .build()
                .await?;
            let version = manager
                .version()
                .await
                .context("cannot read systemd's version (is this bus served by systemd?)")?;
            anyhow::Ok((connection, version))
        })?;
        Ok(Client {
            runtime,
            connection,
            scope,
            host: host.clone(),
            version,
            _bridge: bridge,
            subscribed: tokio::sync::OnceCell::new(),
        })
    }

    /// `Subscribe`s this connection once, before the first job or unit signal is waited for.
    async fn ensure_subscribed(&self, manager: &ManagerProxy<'_>) -> Result<()> {
        self.subscribed
            .get_or_try_init(|| async { manager.subscribe().await.context("Subscribe") })
            .await?;
        Ok(())
    }

    /// The scope chosen by default: the system manager for root, the user's manager otherwise.
    pub fn default_scope(host: &Host) -> Scope {
        // As `systemctl -H`: another host's system manager unless `--user` says otherwise.
        if !host.is_local() || nix::unistd::geteuid().is_root() {
            Scope::System
        } else {
            Scope::User
        }
    }

    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The machine whose manager this is.
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// `Manager.Version` as systemd reports it, e.g. `252.38-1~deb12u1`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The major version (252 for `252.38-1~deb12u1`), 0 if unparsable.
    pub fn major_version(&self) -> u32 {
        parse_major_version(&self.version)
    }

    /// Runs `f` with the Manager proxy on this client's runtime.
    fn with_manager<T>(
        &self,
        f: impl AsyncFnOnce(&ManagerProxy<'static>) -> Result<T>,
    ) -> Result<T> {
        self.runtime.block_on(async {
            let manager = ManagerProxy::new(&self.connection).await?;
            f(&manager).await
        })
    }

    /// Creates transient units and waits for every start job. A call systemd rejects
    /// (`UnitExists`, an unknown property…) becomes a failed outcome, not an error: the
    /// other units of the batch still start.
    pub fn start_transient(&self, requests: &[StartRequest<'_>]) -> Result<Vec<JobOutcome>> {
        self.with_manager(async |manager| {
            self.ensure_subscribed(manager).await?;
            jobs::run(
                manager,
                requests.iter().map(|r| {
                    let name = r.main.name.clone();
                    let props = variant::properties(r.main);
                    let aux: Vec<(&str, Vec<(&str, zbus::Variant<'static>)>)> = r
                        .aux
                        .iter()
                        .map(|a| (a.name.as_str(), variant::properties(a)))
                        .collect();
                    let call = async move {
                        manager
                            .start_transient_unit(&r.main.name, "fail", props, aux)
                            .await
                    };
                    (name, call)
                }),
            )
            .await
        })
    }

    /// `StartUnit` on loaded units (e.g. a socket-activated service, to run it now).
    pub fn start_units(&self, names: &[String]) -> Result<Vec<JobOutcome>> {
        self.unit_jobs("StartUnit", names)
    }

    /// Stops units and waits until they are down. Units that are not loaded count as stopped.
    pub fn stop_units(&self, names: &[String]) -> Result<Vec<JobOutcome>> {
        self.unit_jobs("StopUnit", names)
    }

    /// `RestartUnit` (same definition, new process) and waits for the jobs.
    pub fn restart_units(&self, names: &[String]) -> Result<Vec<JobOutcome>> {
        self.unit_jobs("RestartUnit", names)
    }

    /// Calls `method(name, "replace")`, a Manager method that queues one job per unit, on
    /// every unit at once and waits for the jobs.
    fn unit_jobs(&self, method: &'static str, names: &[String]) -> Result<Vec<JobOutcome>> {
        self.with_manager(async |manager| {
            self.ensure_subscribed(manager).await?;
            jobs::run(
                manager,
                names.iter().map(|n| {
                    let call = async move {
                        manager
                            .inner()
                            .call::<_, _, zbus::OwnedObjectPath>(method, &(n.as_str(), "replace"))
                            .await
                    };
                    (n.clone(), call)
                }),
            )
            .await
        })
    }

    /// Forgets the failed state of units so their names can be reused; unknown units are fine.
    pub fn reset_failed(&self, names: &[String]) -> Result<()> {
        self.with_manager(async |manager| {
            let results = join_bounded(names.iter().map(|n| manager.reset_failed_unit(n))).await;
            for (name, result) in names.iter().zip(results) {
                match result {
                    Ok(()) => {}
                    Err(e) if jobs::is_no_such_unit(&e) => {}
                    Err(e) => return Err(e).with_context(|| format!("ResetFailedUnit {name}")),
                }
            }
            Ok(())
        })
    }

    /// `stop_units`, the sockets among `names` before the rest (outcomes in `names`' order):
    /// stopped together, a service whose stop is done while its socket still listens is
    /// started again by the next connection, and stays loaded.
    fn stop_sockets_first(&self, names: &[String]) -> Result<Vec<JobOutcome>> {
        let (sockets, rest): (Vec<String>, Vec<String>) =
            names.iter().cloned().partition(|n| n.ends_with(".socket"));
        if sockets.is_empty() || rest.is_empty() {
            return self.stop_units(names);
        }
        let mut by_unit: std::collections::HashMap<String, JobOutcome> = self
            .stop_units(&sockets)?
            .into_iter()
            .chain(self.stop_units(&rest)?)
            .map(|o| (o.unit.clone(), o))
            .collect();
        Ok(names.iter().filter_map(|n| by_unit.remove(n)).collect())
    }

    /// Stops units, forgets their failed state and waits until systemd has unloaded them, so
    /// their names can be created again with `start_transient` (which refuses a loaded name
    /// with `UnitExists`). Waits on `UnitRemoved` signals, at most `UNLOAD_TIMEOUT`; a unit
    /// that stays loaded (something still references it) is an error naming it.
    pub fn remove_units(&self, names: &[String]) -> Result<Vec<JobOutcome>> {
        let outcomes = self.stop_sockets_first(names)?;
        self.with_manager(async |manager| {
            self.ensure_subscribed(manager).await?;
            let mut removed = manager
                .receive_unit_removed()
                .await
                .context("cannot listen for systemd's UnitRemoved signal")?;
            // Read while the calls below go out (see `jobs::run`: an unread stream of more
            // than 64 signals would stop the connection); units unloaded meanwhile are gone.
            let mut gone: std::collections::HashSet<String> = std::collections::HashSet::new();
            let check = async {
                let resets = join_bounded(names.iter().map(|n| manager.reset_failed_unit(n))).await;
                for (name, result) in names.iter().zip(resets) {
                    match result {
                        Ok(()) => {}
                        Err(e) if jobs::is_no_such_unit(&e) => {}
                        Err(e) => return Err(e).with_context(|| format!("ResetFailedUnit {name}")),
                    }
                }
                // Checked after listening, so a unit unloaded in between is not waited for.
                let lookups = join_bounded(names.iter().map(|n| manager.get_unit(n))).await;
                let mut loaded = std::collections::HashSet::new();
                for (name, lookup) in names.iter().zip(lookups) {
                    match lookup {
                        // A unit from a file (the generator's, at boot) stays loaded once
                        // stopped, and is no name `start_transient` will need.
                        Ok(path) if !self.is_transient(&path).await => {}
                        Ok(_) => {
                            loaded.insert(name.clone());
                        }
                        Err(e) if jobs::is_no_such_unit(&e) => {}
                        Err(e) => return Err(e).with_context(|| format!("GetUnit {name}")),
                    }
                }
                anyhow::Ok(loaded)
            };
            tokio::pin!(check);
            let mut loaded = loop {
                tokio::select! {
                    loaded = &mut check => break loaded?,
                    signal = removed.next() => {
                        let signal = signal.context(
                            "the bus connection closed while waiting for units to unload",
                        )?;
                        let args = signal.args().context("malformed UnitRemoved signal")?;
                        gone.insert(args.id.to_string());
                    }
                }
            };
            loaded.retain(|name: &String| !gone.contains(name));
            let wait = async {
                while !loaded.is_empty() {
                    let signal = removed
                        .next()
                        .await
                        .context("the bus connection closed while waiting for units to unload")?;
                    let args = signal.args().context("malformed UnitRemoved signal")?;
                    loaded.remove(args.id.as_str());
                }
                anyhow::Ok(())
            };
            match tokio::time::timeout(UNLOAD_TIMEOUT, wait).await {
                Ok(result) => result,
                Err(_) => {
                    let mut left: Vec<&String> = loaded.iter().collect();
                    left.sort();
                    anyhow::bail!(
                        "systemd still has {} loaded after stopping {} (something references {}); \
                         `systemctl status` them to see what",
                        join_names(&left),
                        if left.len() == 1 { "it" } else { "them" },
                        if left.len() == 1 { "it" } else { "them" },
                    )
                }
            }
        })?;
        Ok(outcomes)
    }

    /// `systemctl daemon-reload`: unit files are read again and generators run again.
    pub fn daemon_reload(&self) -> Result<()> {
        self.with_manager(async |manager| manager.reload().await.context("Reload (daemon-reload)"))
    }

    /// The unit's `Transient` property; true when it cannot be read (the unit is then
    /// waited for, as before it was known).
    async fn is_transient(&self, path: &zbus::OwnedObjectPath) -> bool {
        let read = async {
            let proxy = proxies::UnitPropertiesProxy::builder(&self.connection)
                .path(path.clone())
                .build()
                .await?;
            let value = proxy
                .get_u64("org.freedesktop.systemd1.Unit", "Transient")
                .await?;
            zbus::Result::Ok(bool::try_from(value).ok())
        };
        read.await.ok().flatten().unwrap_or(true)
    }

    /// Sends `signal` to a unit's main process or all its processes (`KillUnit`).
    pub fn kill(&self, name: &str, whom: KillWhom, signal: i32) -> Result<()> {
        self.with_manager(async |manager| {
            manager
                .kill_unit(name, whom.as_str(), signal)
                .await
                .with_context(|| format!("KillUnit {name} {}", whom.as_str()))
        })
    }

    /// Changes properties of a loaded unit at runtime (`SetUnitProperties`, not persisted).
    pub fn set_properties(&self, spec: &UnitSpec) -> Result<()> {
        self.with_manager(async |manager| {
            manager
                .set_unit_properties(&spec.name, true, variant::properties(spec))
                .await
                .with_context(|| format!("SetUnitProperties {}", spec.name))
        })
    }

    /// Every loaded unit whose name starts with `pm2ctl-`, in any state.
    pub fn list_owned(&self) -> Result<Vec<ListedUnit>> {
        self.list_units(&[OWNED_PATTERN])
    }

    /// Loaded units matching glob `patterns`, in any state.
    pub fn list_units(&self, patterns: &[&str]) -> Result<Vec<ListedUnit>> {
        self.with_manager(async |manager| {
            let rows = manager
                .list_units_by_patterns(Vec::new(), patterns.to_vec())
                .await
                .context("ListUnitsByPatterns")?;
            let mut units: Vec<ListedUnit> = rows
                .into_iter()
                .map(|row| ListedUnit {
                    name: row.0,
                    load_state: row.2,
                    active_state: row.3,
                    sub_state: row.4,
                })
                .collect();
            units.sort_by(|a, b| a.name.cmp(&b.name));
            Ok(units)
        })
    }

    /// Reads the Unit (and, for services, Service) properties of `names`, all requests in
    /// flight at once. A unit that is not loaded comes back with `load_state() == "not-found"`.
    ///
    /// One `GetAll("")` per unit: systemd answers the empty interface name with the properties
    /// of every interface the unit has, so a service costs one round trip, not two. A manager
    /// that answers it with nothing is asked per interface.
    pub fn read_states(&self, names: &[String]) -> Result<Vec<UnitState>> {
        self.runtime.block_on(async {
            let reads = names.iter().map(|name| async move {
                let reply = self.get_all(name, "").await?;
                let body = reply.body();
                let unit: UnitProps = body
                    .deserialize()
                    .with_context(|| format!("reading the properties of {name}"))?;
                if unit.load_state.is_none() {
                    return self.read_state_per_interface(name).await;
                }
                let service = if is_loaded_service(name, &unit) {
                    Some(
                        body.deserialize::<ServiceProps>()
                            .with_context(|| format!("reading the service properties of {name}"))?,
                    )
                } else {
                    None
                };
                anyhow::Ok(UnitState {
                    name: name.clone(),
                    unit,
                    service,
                    sample: None,
                })
            });
            join_bounded(reads).await.into_iter().collect()
        })
    }

    /// The state of service units as `read_states` gives it, for a caller that has just
    /// listed the units: load, active and sub state come from the `ListUnitsByPatterns` rows,
    /// and a unit not listed is not loaded and costs no call.
    ///
    /// A running service whose `slice` is given is read from its cgroup and `/proc`
    /// (`cgroupfs`: main pid, start time, memory, CPU) plus one `Get` of `NRestarts` unless
    /// it was read before for the same main process (`restarts`), and comes back with only
    /// those Service properties (and `Result` `success`, as systemd has it for a running
    /// service). Any other loaded service, or one whose cgroup cannot be read (another
    /// host's, with `-H`), costs one `GetAll` of the Service interface (the Unit interface's
    /// other hundred properties are not needed).
    pub fn read_listed_services(
        &self,
        services: &[ServiceToRead<'_>],
        listed: &[ListedUnit],
    ) -> Result<Vec<UnitState>> {
        let rows: std::collections::HashMap<&str, &ListedUnit> =
            listed.iter().map(|u| (u.name.as_str(), u)).collect();
        let local_host = self.host.is_local();
        let running = |s: &ServiceToRead<'_>| {
            rows.get(s.name).is_some_and(|r| {
                r.load_state == "loaded" && r.active_state == "active" && r.sub_state == "running"
            })
        };
        let kernel = if local_host && services.iter().any(|s| s.slice.is_some() && running(s)) {
            cgroupfs::Hierarchies::detect()
        } else {
            None
        };
        // Counts remembered for the processes still running: only new processes are asked.
        let remembered = kernel
            .as_ref()
            .map(|_| restarts::Remembered::load(self.scope));
        let states: Vec<UnitState> = self.runtime.block_on(async {
            let manager_root = match &kernel {
                Some(_) => self.manager_control_group().await,
                None => None,
            };
            let reads = services.iter().map(|s| {
                let row = rows.get(s.name).copied();
                let sample = match (&kernel, &manager_root, s.slice) {
                    (Some(kernel), Some(root), Some(slice)) if running(s) => {
                        kernel.sample(root, slice, s.name)
                    }
                    _ => None,
                };
                if sample.is_none() && running(s) {
                    tracing::debug!(unit = s.name, "not read from its cgroup");
                }
                let counted = sample
                    .zip(remembered.as_ref())
                    .and_then(|(sample, seen)| seen.count(s.name, &sample));
                async move {
                    let name = s.name;
                    let unit = UnitProps {
                        id: Some(name.to_string()),
                        load_state: row.map(|r| r.load_state.clone()),
                        active_state: row.map(|r| r.active_state.clone()),
                        sub_state: row.map(|r| r.sub_state.clone()),
                        ..Default::default()
                    };
                    let service =
                        match sample {
                            Some(sample) => {
                                Some(self.sampled_service(name, sample, counted).await?)
                            }
                            None if is_loaded_service(name, &unit) => {
                                let reply = self
                                    .get_all(name, "org.freedesktop.systemd1.Service")
                                    .await?;
                                Some(reply.body().deserialize::<ServiceProps>().with_context(
                                    || format!("reading the service properties of {name}"),
                                )?)
                            }
                            None => None,
                        };
                    anyhow::Ok(UnitState {
                        name: name.to_string(),
                        unit,
                        service,
                        sample,
                    })
                }
            });
            join_bounded(reads).await.into_iter().collect::<Result<_>>()
        })?;
        if let Some(remembered) = remembered {
            let mut now = restarts::Remembered::default();
            for state in &states {
                let count = state.service.as_ref().and_then(|s| s.n_restarts);
                if let (Some(sample), Some(n)) = (&state.sample, count) {
                    now.insert(&state.name, sample, n);
                }
            }
            if now != remembered {
                now.save(self.scope);
            }
        }
        Ok(states)
    }

    /// A running service's properties from the kernel's `sample`, and its `NRestarts`, which
    /// only systemd knows: `counted` when remembered for this very process, else asked.
    async fn sampled_service(
        &self,
        name: &str,
        sample: Sample,
        counted: Option<u32>,
    ) -> Result<ServiceProps> {
        let n_restarts = match counted {
            Some(n) => Some(n),
            None => {
                let reply = self
                    .connection
                    .call_method(
                        Some("org.freedesktop.systemd1"),
                        unit_object_path(name).as_str(),
                        Some("org.freedesktop.DBus.Properties"),
                        "Get",
                        &("org.freedesktop.systemd1.Service", "NRestarts"),
                    )
                    .await
                    .with_context(|| format!("reading NRestarts of {name}"))?;
                let value: zbus::OwnedVariant = reply
                    .body()
                    .deserialize()
                    .with_context(|| format!("reading NRestarts of {name}"))?;
                u32::try_from(value).ok()
            }
        };
        Ok(ServiceProps {
            main_pid: Some(sample.main_pid),
            result: Some("success".to_string()),
            n_restarts,
            exec_main_code: Some(0),
            exec_main_status: Some(0),
            exec_main_start_timestamp: Some(sample.started_at_us),
            memory_current: Some(sample.memory.unwrap_or(u64::MAX)),
            cpu_usage_nsec: Some(sample.cpu_ns.unwrap_or(u64::MAX)),
            ..Default::default()
        })
    }

    /// The manager's own cgroup (`ControlGroup`: `/` for the system manager in its cgroup
    /// namespace), under which its slices are; `None` when it cannot be read.
    async fn manager_control_group(&self) -> Option<String> {
        let reply = self
            .connection
            .call_method(
                Some("org.freedesktop.systemd1"),
                "/org/freedesktop/systemd1",
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.freedesktop.systemd1.Manager", "ControlGroup"),
            )
            .await
            .ok()?;
        let value: zbus::OwnedVariant = reply.body().deserialize().ok()?;
        let root = String::try_from(value).ok()?;
        Some(if root.is_empty() {
            "/".to_string()
        } else {
            root
        })
    }

    /// `Properties.GetAll(interface)` of one unit, as a raw reply: callers deserialize only
    /// the properties they hold (`""` asks systemd for every interface the unit has).
    async fn get_all(&self, name: &str, interface: &str) -> Result<zbus::Message> {
        self.connection
            .call_method(
                Some("org.freedesktop.systemd1"),
                unit_object_path(name).as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "GetAll",
                &(interface,),
            )
            .await
            .with_context(|| format!("reading the properties of {name}"))
    }

    /// `read_states` for one unit, one `GetAll` per interface.
    async fn read_state_per_interface(&self, name: &str) -> Result<UnitState> {
        let proxy = proxies::UnitPropertiesProxy::builder(&self.connection)
            .path(unit_object_path(name))
            .build()
            .await?;
        let unit = proxy
            .get_all_unit("org.freedesktop.systemd1.Unit")
            .await
            .with_context(|| format!("reading the properties of {name}"))?;
        let service = if is_loaded_service(name, &unit) {
            Some(
                proxy
                    .get_all_service("org.freedesktop.systemd1.Service")
                    .await
                    .with_context(|| format!("reading the service properties of {name}"))?,
            )
        } else {
            None
        };
        Ok(UnitState {
            name: name.to_string(),
            unit,
            service,
            sample: None,
        })
    }

    /// Why a unit failed, for the user: its state, systemd's `Result`, the cause of its last
    /// run's end (the step systemd could not take and its error, the exit status, the
    /// signal, an OOM kill: see `cause`), and the last lines it logged.
    pub fn failure_report(&self, name: &str) -> String {
        let mut report = String::new();
        let mut entries = self.journal_entries(name, 50);
        if !entries
            .iter()
            .any(|e| e.exit_code.is_some() || e.unit_result.is_some())
        {
            // PID 1's lines about the run that just ended can still be on their way to the
            // journal (a loaded machine): have journald write what it was sent, then look again.
            self.sync_journal();
            entries = self.journal_entries(name, 50);
        }
        let journal = cause::from_journal(&entries);
        let state = self
            .read_states(&[name.to_string()])
            .ok()
            .and_then(|s| s.into_iter().next());
        if let Some(state) = &state {
            // A unit with Restart= may already be trying again: say so.
            report.push_str(&format!(
                "state: {} ({})",
                state.active_state(),
                state.sub_state()
            ));
            if let Some(n) = state.service.as_ref().and_then(|s| s.n_restarts) {
                if n > 0 {
                    report.push_str(&format!(", restarted {n} times"));
                }
            }
            report.push('\n');
        }
        let service = state.as_ref().and_then(|s| s.service.as_ref());
        // The journal's result is the failed run's; the live one belongs to the attempt
        // under way and reads `success` until it ends.
        let live = service
            .and_then(|s| s.result.clone())
            .filter(|r| r != "success");
        if let Some(result) = journal.result.clone().or(live) {
            report.push_str(&format!("result: {result}\n"));
        }
        match journal.cause {
            Some(cause) => report.push_str(&format!("cause: {cause}\n")),
            None => {
                if let Some(cause) = service.and_then(live_cause) {
                    report.push_str(&format!("cause: {cause}\n"));
                }
            }
        }
        // systemd 255–257's executor sends its own error ("Changing to the requested working
        // directory failed: …") with garbled LogExtraFields for pm2ctl's units, and the
        // journal refuses it: say what pm2ctl sees of the directory instead.
        if journal.unexplained_step == Some("CHDIR") && self.host.is_local() {
            if let Some(problem) = service.and_then(|s| self.working_directory_problem(name, s)) {
                report.push_str(&format!("pm2ctl's check: {problem}\n"));
            }
        }
        let lines: Vec<&str> = entries
            .iter()
            .rev()
            .take(10)
            .map(|e| e.message.as_str())
            .collect();
        if !lines.is_empty() {
            report.push_str("last log lines:\n");
            for line in lines.iter().rev() {
                report.push_str("  ");
                report.push_str(line);
                report.push('\n');
            }
        }
        report.trim_end().to_string()
    }

    /// Why the service's account cannot enter its working directory on this host, if it
    /// cannot.
    fn working_directory_problem(
        &self,
        unit: &str,
        service: &ServiceProps,
    ) -> Option<crate::preflight::Problem> {
        let dir = service.working_directory.as_deref()?;
        let dir = dir.strip_prefix('!').unwrap_or(dir);
        if !dir.starts_with('/') {
            return None; // `~`: the account's home, looked up by systemd
        }
        let app = crate::unit::name::owner_of(unit)
            .map(crate::unit::name::app_name)
            .unwrap_or_else(|| unit.to_string());
        let user = service.user.as_deref().filter(|u| !u.is_empty());
        let user = match (user, self.scope) {
            (Some(user), _) => Some(user),
            // The system manager runs it as root; a user's manager as its own user.
            (None, Scope::System) => Some("root"),
            (None, Scope::User) => None,
        };
        crate::preflight::check_working_directory(&app, user, std::path::Path::new(dir))
    }

    /// `journalctl --sync`: journald writes every message it was sent before this call.
    /// Best effort (it needs the right to signal journald; without it nothing changes).
    pub fn sync_journal(&self) {
        let mut cmd = Command::new("journalctl");
        cmd.arg("--sync");
        if let Ok(mut cmd) = crate::host::remote::localize(&self.host, cmd) {
            let _ = cmd
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }

    /// The last `lines` entries of `unit`'s journal (`journalctl -u UNIT -o json`), oldest
    /// first; empty when the journal cannot be read.
    pub fn journal_entries(&self, unit: &str, lines: u32) -> Vec<cause::Entry> {
        let mut cmd = Command::new("journalctl");
        if self.scope == Scope::User {
            cmd.arg("--user");
        }
        cmd.args([
            "--no-pager",
            "-o",
            "json",
            "-n",
            &lines.to_string(),
            "-u",
            unit,
        ]);
        let Ok(mut cmd) = crate::host::remote::localize(&self.host, cmd) else {
            return Vec::new();
        };
        match cmd.output() {
            Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(cause::Entry::parse)
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// Says what a failed call means for the user when the bus connection itself is gone
/// (dbus-daemon restarted or stopped): the error then is only an I/O error on a socket.
/// `None` for any other error.
pub fn connection_lost(e: &anyhow::Error) -> Option<&'static str> {
    let lost = e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<zbus::Error>(),
            Some(zbus::Error::InputOutput(_))
        ) || cause.to_string().contains("bus connection closed")
    });
    lost.then_some(
        "the connection to systemd's bus was lost (dbus-daemon restarted or stopped); \
         systemd itself goes on running what it was given",
    )
}

fn is_loaded_service(name: &str, unit: &UnitProps) -> bool {
    name.ends_with(".service") && unit.load_state.as_deref() == Some("loaded")
}

/// How long `remove_units` waits for stopped units to be unloaded.
pub const UNLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

fn join_names(names: &[&String]) -> String {
    names
        .iter()
        .map(|n| n.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `252` from `252.38-1~deb12u1`; 0 when the string does not start with a number.
pub fn parse_major_version(version: &str) -> u32 {
    let digits: String = version.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().unwrap_or(0)
}

/// The object path systemd gives a unit: `/org/freedesktop/systemd1/unit/` plus the name
/// with every byte outside `[A-Za-z0-9]` written as `_xx` (sd-bus' `bus_label_escape`).
pub fn unit_object_path(name: &str) -> String {
    let mut path = String::from("/org/freedesktop/systemd1/unit/");
    if name.is_empty() {
        path.push('_');
    }
    for (i, b) in name.bytes().enumerate() {
        if b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()) {
            path.push(b as char);
        } else {
            path.push_str(&format!("_{b:02x}"));
        }
    }
    path
}

/// systemd's own exit statuses (200-243, `systemd.exec(5)` "Process Exit Codes"): the
/// step of setting up the process that failed, for the ones a user's file can cause.
pub fn exec_step(status: i32) -> Option<&'static str> {
    Some(match status {
        200 => "CHDIR",
        203 => "EXEC",
        204 => "MEMORY",
        209 => "STDOUT",
        210 => "STDERR",
        216 => "GROUP",
        217 => "USER",
        218 => "CAPABILITIES",
        226 => "NAMESPACE",
        _ => return None,
    })
}

/// The cause from the unit's live properties, when the journal has none: the main
/// process' exit status or signal, if it has ended.
fn live_cause(service: &ServiceProps) -> Option<String> {
    match (service.exec_main_code, service.exec_main_status) {
        (Some(1), Some(status)) => Some(match exec_step(status) {
            Some(step) => {
                format!("{step}: systemd could not start the command (exit status {status})")
            }
            None => format!("the main process exited with status {status}"),
        }),
        (Some(2 | 3), Some(signal)) => Some(format!(
            "the main process was killed by signal {}",
            signal_name(signal)
        )),
        _ => None,
    }
}

/// `SIGKILL` for 9; the number itself when unknown.
pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| signal.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_paths_match_systemds_escaping() {
        assert_eq!(
            unit_object_path("pm2ctl-api@0.service"),
            "/org/freedesktop/systemd1/unit/pm2ctl_2dapi_400_2eservice"
        );
        assert_eq!(
            unit_object_path("1x.slice"),
            "/org/freedesktop/systemd1/unit/_31x_2eslice"
        );
    }

    #[test]
    fn major_version_is_the_leading_number() {
        assert_eq!(parse_major_version("252.38-1~deb12u1"), 252);
        assert_eq!(parse_major_version("257"), 257);
        assert_eq!(parse_major_version("v1"), 0);
    }

    #[test]
    fn env_var_reads_back_from_the_environment_property() {
        let state = UnitState {
            service: Some(ServiceProps {
                environment: Some(vec!["A=1".into(), "PM2CTL_FINGERPRINT=abc".into()]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(state.env_var(FINGERPRINT_VAR), Some("abc"));
        assert_eq!(state.env_var("PM2CTL"), None);
    }
}
