//! One app → its slice, its instance services and (cluster with a port) their sockets.
//!
//! PM2 options map to properties as pm2-reference.md §1.2 proposes, with these choices:
//! - `autorestart` → `Restart=always` (PM2 restarts on any exit, 0 included) or `no`.
//! - `max_restarts`/`min_uptime` → `StartLimitBurst = max_restarts + 1` and
//!   `StartLimitIntervalUSec = min_uptime × max_restarts`. An approximation: PM2 counts only
//!   *unstable* restarts (up less than `min_uptime`); systemd counts every start inside the
//!   window. An app crashing at once is stopped after the same number of restarts as under
//!   PM2; one that runs a while between crashes may be stopped a little earlier or later.
//!   The unit then fails with `start-limit-hit`, which pm2ctl shows as `errored`.
//! - `stop_exit_codes` → `RestartPreventExitStatus` and `SuccessExitStatus`: such an exit is
//!   a deliberate stop, shown as stopped rather than failed.
//! - `exp_backoff_restart_delay` → `RestartUSec` = the delay, `RestartSteps` and
//!   `RestartMaxDelayUSec = 15 s` (PM2's cap, ×1.5 per step); systemd < 254 keeps the fixed
//!   first delay (see `gate`). PM2's reset after 30 s of uptime has no systemd equivalent.
//! - `kill_timeout` → `TimeoutStopUSec`; `kill_signal` → `KillSignal`; `treekill` →
//!   `KillMode=control-group` (the whole cgroup, which a double fork cannot escape) or `process`.
//! - `wait_ready` → `Type=notify`, `NotifyAccess=all` (the Node shim turns
//!   `process.send('ready')` into READY=1), `TimeoutStartUSec = listen_timeout`. Stricter than
//!   PM2, which carries on as if ready after the timeout: systemd fails the start.
//! - a `node` app on a socket systemd holds gets `NotifyAccess=all` and the shim's hand-over
//!   settings, so `reload` starts the new process before the old one stops (see
//!   `lifecycle::reload`).
//! - `max_memory_restart` → `MemoryMax` (bytes): a hard cgroup limit, the kernel kills the app
//!   and `Restart=` brings it back. On a cgroup v1 host systemd (252) applies it as the v1
//!   `memory.limit_in_bytes`. Below it, a companion timer checks every 30 s (as PM2 polls)
//!   and reloads gracefully the instances over a mark at 90 % of it (see `memory`).
//! - cluster mode: the instances share `port`, or else the `PORT` of the app's environment,
//!   through one `ReusePort` socket per instance (unless `increment_var = "PORT"`).
//! - `MemoryAccounting`/`CPUAccounting` are always on, so `monit` can read usage.
//! - `user`/`group` → `User`/`Group`. On the system manager an app without `user` runs as the
//!   caller (as under PM2), not as root, unless the caller is root.

use super::access::{Access, AppAccess};
use super::env::{self, EnvInputs};
use super::exec::{self, Runtime};
use super::sandbox::{self, Inputs};
use super::{companion, gate, logs, memory, AppPlan, HostFacts, InstancePlan, Resolver, Scope};
use crate::ecosystem::{App, ExecMode, Instances};
use crate::unit::name::AppUnitNames;
use crate::unit::{UnitKind, UnitSpec, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// More instances than this is a typo, not a deployment.
pub const MAX_INSTANCES: u32 = 1024;

/// PM2's cap for `exp_backoff_restart_delay`, and its growth factor per restart.
const BACKOFF_MAX: Duration = Duration::from_secs(15);
const BACKOFF_FACTOR: f64 = 1.5;

/// What every app of one file shares.
pub struct Context<'a> {
    pub base_dir: &'a Path,
    pub env_name: Option<&'a str>,
    pub deploy_env: Option<&'a BTreeMap<String, String>>,
    pub host: &'a HostFacts,
    pub resolver: &'a dyn Resolver,
}

/// Durations as systemd's `…USec` (`t`); `u64::MAX` means infinity, so it is never produced
/// from a finite duration.
pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX - 1)
        .min(u64::MAX - 1)
}

/// The number of instances PM2 would start on a host with `cpus` CPUs.
pub fn instance_count(instances: Option<Instances>, cpus: u32) -> u32 {
    let cpus = cpus.max(1);
    match instances {
        None => 1,
        Some(Instances::Count(0)) | Some(Instances::Max) => cpus,
        Some(Instances::Count(n)) => n,
        Some(Instances::MaxMinus(n)) => cpus.saturating_sub(n).max(1),
    }
}

/// Plans one app; `Err` holds every problem found, each naming the app.
/// Also says which paths the app's account must reach (`access`).
pub fn plan_app(
    app: &App,
    ctx: &Context<'_>,
) -> Result<(AppPlan, Vec<String>, AppAccess), Vec<String>> {
    let mut app = app.clone();
    if app.append_env_to_name {
        if let Some(env) = ctx.env_name {
            app.name = format!("{}-{env}", app.name);
        }
    }
    let app = &app;
    let host = ctx.host;
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let fail = |problems: &mut Vec<String>, msg: String| {
        problems.push(format!("app `{}`: {msg}", app.name));
    };

    let command = exec::resolve(app, ctx.base_dir, host, ctx.resolver);
    let count = instance_count(app.instances, host.cpus);
    if count > MAX_INSTANCES {
        fail(
            &mut problems,
            format!("instances: {count} is more than pm2ctl starts for one app ({MAX_INSTANCES})"),
        );
    }
    let names = AppUnitNames::new(&app.name, count.saturating_sub(1))
        .map_err(|e| fail(&mut problems, format!("name: {e}")))
        .ok();
    let user = run_as(app, host).map_err(|e| fail(&mut problems, e)).ok();
    for problem in privilege_problems(app, host) {
        fail(&mut problems, problem);
    }
    let kill_signal = signal_number(&app.kill_signal)
        .map_err(|e| fail(&mut problems, e))
        .ok();
    for code in &app.stop_exit_codes {
        if !(0..=255).contains(code) {
            fail(
                &mut problems,
                format!("stop_exit_codes: {code} is not an exit status (0 to 255)"),
            );
        }
    }
    let command = match command {
        Ok(c) => Some(c),
        Err(e) => {
            fail(&mut problems, e);
            None
        }
    };
    let (Some(command), Some(names), Some((user, group)), Some(kill_signal), true) =
        (command, names, user, kill_signal, problems.is_empty())
    else {
        return Err(problems);
    };

    let exec_mode = app.exec_mode.unwrap_or(
        if app.instances.is_some() && command.runtime.cluster_capable() {
            ExecMode::Cluster
        } else {
            ExecMode::Fork
        },
    );
    let runs_as_other_user = user.as_deref().is_some_and(|u| u != host.user);
    let mut app_env = env::app_env(
        app,
        &EnvInputs {
            env_name: ctx.env_name,
            deploy_env: ctx.deploy_env,
            host,
            command: &command,
            exec_mode,
            instances: count,
            runs_as_other_user,
        },
    )
    .map_err(|e| vec![format!("app `{}`: {e}", app.name)])?;

    let port = shared_port(app, &app_env);
    let low_port = port.filter(|p| *p < host.unprivileged_port_start);
    let root = sandbox::runs_as_root(user.as_deref(), host);
    let may_bind_low = root
        || crate::unit::sandbox::holds(
            crate::unit::sandbox::mask(&app.sandbox.capabilities),
            caps::Capability::CAP_NET_BIND_SERVICE,
        );
    if let Some(p) = low_port {
        let problem = low_port_problem(
            p,
            host,
            exec_mode,
            may_bind_low,
            command.runtime.loads_node_shim(),
        );
        if let Some(problem) = problem {
            return Err(vec![format!("app `{}`: {problem}", app.name)]);
        }
    }
    // A fork-mode Node app on a privileged port gets it as a cluster app does: from the
    // socket systemd opens, so it needs no privilege of its own.
    let socket_for_fork = exec_mode == ExecMode::Fork && low_port.is_some() && !may_bind_low;
    let listen = match (exec_mode, port) {
        (ExecMode::Fork, Some(port)) if socket_for_fork => {
            Some(listen_address(app.listen_address.as_deref(), port))
        }
        (ExecMode::Cluster, Some(port)) => {
            if !command.runtime.loads_node_shim() {
                warnings.push(format!(
                    "app `{}`: cluster mode with a port: only Node apps adopt the listening socket by themselves; \
                     this app must accept it as fd 3 (LISTEN_FDS)",
                    app.name
                ));
            }
            Some(listen_address(app.listen_address.as_deref(), port))
        }
        (ExecMode::Cluster, None) if count > 1 && app.increment_var.as_deref() != Some("PORT") => {
            // PM2's cluster master shares whatever port the code listens on. Here the Node
            // shim shares it with SO_REUSEPORT where Node offers it; a known port gets a
            // socket systemd holds, which also keeps connections waiting across restarts.
            let how = if command.runtime.loads_node_shim() {
                "its instances share it where Node offers reusePort (22.12 and later); with an \
                 older Node only the first can listen, and the others fail saying so"
            } else {
                "its instances fight over it"
            };
            warnings.push(format!(
                "app `{}`: cluster mode without `port` (nor PORT in its env): if its code \
                 listens on a fixed port (`app.listen(8004)`), {how}; set `port = 8004` (that \
                 port), and systemd holds one socket all {count} instances share, which also \
                 keeps connections waiting through restarts and reloads",
                app.name
            ));
            None
        }
        _ => None,
    };
    // A Node app on a socket systemd holds reloads by hand-over: the shim starts the new
    // process beside the old one, which tells systemd the new main pid (hence
    // `NotifyAccess=all`). A launcher (`ts-node`) is left out: the shim sees its script, not
    // the launcher's command line.
    let hands_over = listen.is_some() && command.runtime == Runtime::Node;
    if hands_over {
        app_env.extend(env::handover_settings(
            app,
            &super::dirs::handover_dir(host.scope, host.uid),
        ));
    }
    let merge_logs = app
        .merge_logs
        .unwrap_or(exec_mode == ExecMode::Fork && app.instances.is_none());
    let self_exe = host
        .self_exe
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned());

    let home = home_of(user.as_deref(), host, ctx.resolver);
    let mut access = AppAccess {
        app: app.name.clone(),
        user: user.clone(),
        group: group.clone(),
        needs: Vec::new(),
    };
    if let Some(wrapper) = &self_exe {
        if !app.disable_logs {
            access.need("pm2ctl binary (exec-wrap)", wrapper, Access::Execute);
        }
    }
    match &command.script {
        Some(script) => {
            access.need("interpreter", &command.exec.path, Access::Execute);
            access.need("script", script, Access::Read);
        }
        None => access.need("command", &command.exec.path, Access::Execute),
    }
    access.need("working directory", &command.cwd, Access::Enter);
    if command.runtime.loads_node_shim() {
        access.need("Node shim", &host.node_shim, Access::Read);
    }

    let mut slice = UnitSpec::new(names.slice(), UnitKind::Slice);
    slice.set(
        "Description",
        Value::Str(format!("pm2ctl app {}", readable(&app.name))),
    );

    let mut instances = Vec::new();
    for index in 0..count {
        let environment = match env::instance_env(&app_env, app, index) {
            Ok(e) => e,
            Err(e) => return Err(vec![format!("app `{}`: {e}", app.name)]),
        };
        let files = logs::log_files(
            app,
            index,
            merge_logs,
            ctx.base_dir,
            &host.home,
            &mut warnings,
        );
        for file in [&files.out, &files.err].into_iter().flatten() {
            access.need("log file", file, Access::Append);
        }
        let writable: Vec<std::path::PathBuf> = std::iter::once(command.cwd.clone())
            .chain(
                [&files.out, &files.err]
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.parent())
                    .map(|d| existing_ancestor(d, ctx.resolver)),
            )
            .collect();
        let mut output = Vec::new();
        let exec_start = logs::exec_start(
            &command.exec,
            app,
            index,
            &files,
            self_exe.as_deref(),
            &mut output,
            &mut warnings,
        );

        let mut s = UnitSpec::new(names.service(index), UnitKind::Service);
        s.set(
            "Description",
            Value::Str(format!(
                "pm2ctl app {} (instance {index})",
                readable(&app.name)
            )),
        );
        s.set("Slice", Value::Str(names.slice()));
        if app.wait_ready {
            s.set("Type", Value::Str("notify".into()));
            s.set("NotifyAccess", Value::Str("all".into()));
        } else {
            s.set("Type", Value::Str("exec".into()));
            if hands_over {
                s.set("NotifyAccess", Value::Str("all".into()));
            }
        }
        s.set("ExecStart", Value::Exec(vec![exec_start]));
        s.set(
            "WorkingDirectory",
            Value::Str(command.cwd.to_string_lossy().into_owned()),
        );
        s.set("Environment", Value::StrList(environment));
        if let Some(u) = &user {
            s.set("User", Value::Str(u.clone()));
        }
        if let Some(g) = &group {
            s.set("Group", Value::Str(g.clone()));
        }
        restart_properties(&mut s, app);
        if !app.stop_exit_codes.is_empty() {
            let codes = app.stop_exit_codes.clone();
            s.set(
                "SuccessExitStatus",
                Value::ExitStatus(codes.clone(), vec![]),
            );
            s.set("RestartPreventExitStatus", Value::ExitStatus(codes, vec![]));
        }
        if app.wait_ready {
            s.set("TimeoutStartUSec", Value::U64(micros(app.listen_timeout)));
        }
        s.set("TimeoutStopUSec", Value::U64(micros(app.kill_timeout)));
        s.set("KillSignal", Value::I32(kill_signal));
        s.set(
            "KillMode",
            Value::Str(
                if app.treekill {
                    "control-group"
                } else {
                    "process"
                }
                .into(),
            ),
        );
        s.set("MemoryAccounting", Value::Bool(true));
        s.set("CPUAccounting", Value::Bool(true));
        if let Some(bytes) = app.max_memory_restart {
            s.set("MemoryMax", Value::U64(bytes));
        }
        sandbox::apply(
            &mut s,
            &Inputs {
                app,
                host,
                user: user.as_deref(),
                home: home.as_deref(),
                writable,
                base_dir: ctx.base_dir,
            },
        );
        for (name, value) in output {
            s.set(name, value);
        }
        logs::journal_properties(&mut s, app, index);

        let socket = listen.as_ref().map(|address| {
            let mut k = UnitSpec::new(names.socket(index), UnitKind::Socket);
            k.set(
                "Description",
                Value::Str(format!(
                    "pm2ctl app {} (instance {index}, listening on {address})",
                    readable(&app.name)
                )),
            );
            k.set("Slice", Value::Str(names.slice()));
            k.set(
                "Listen",
                Value::Pairs(vec![("Stream".into(), address.clone())]),
            );
            k.set("ReusePort", Value::Bool(true));
            k
        });
        instances.push(InstancePlan {
            index,
            service: s,
            socket,
        });
    }

    // The version gate's warnings come first; it runs once the companions are planned.
    let gate_warnings_at = warnings.len();
    warnings.extend(unsupported(app, command.runtime));
    if let Some(first) = instances.first() {
        warnings.extend(sandbox::reload_loses_backslashes(&first.service, &app.name));
    }
    if let (Some(_), Some(why)) = (app.max_memory_restart, &host.memory_unenforced) {
        warnings.push(format!(
            "app `{}`: max_memory_restart is not enforced: {why}",
            app.name
        ));
    }

    // Companions run pm2ctl: this binary when apps are wrapped by it, else the one on PATH.
    let pm2ctl = self_exe.clone().or_else(|| {
        ctx.resolver
            .which("pm2ctl", &host.path)
            .map(|p| p.to_string_lossy().into_owned())
    });
    let inputs = companion::Inputs {
        app,
        names: &names,
        host,
        cwd: &command.cwd,
        pm2ctl: pm2ctl.as_deref(),
        readable_name: &readable(&app.name),
    };
    let mut companions = companion::plan(&inputs).map_err(|problems| {
        problems
            .into_iter()
            .map(|p| format!("app `{}`: {p}", app.name))
            .collect::<Vec<_>>()
    })?;
    match memory::companion(&inputs, count) {
        Some(check) => companions.push(check),
        None if app.max_memory_restart.is_some() => warnings.push(format!(
            "app `{}`: max_memory_restart: pm2ctl is not on PATH to run the graceful check; \
             only the hard limit (MemoryMax) applies",
            app.name
        )),
        None => {}
    }

    // Companions are sandboxed too: what the target's systemd lacks goes from them as well.
    let mut units: Vec<&mut UnitSpec> = vec![&mut slice];
    for i in instances.iter_mut() {
        if let Some(k) = i.socket.as_mut() {
            units.push(k);
        }
        units.push(&mut i.service);
    }
    for c in companions.iter_mut() {
        if let Some(t) = c.timer.as_mut() {
            units.push(t);
        }
        units.push(&mut c.service);
    }
    let gated = gate::apply(&mut units, host.systemd_version, &app.name);
    warnings.splice(gate_warnings_at..gate_warnings_at, gated);

    Ok((
        AppPlan {
            name: app.name.clone(),
            namespace: app.namespace.clone(),
            slice,
            instances,
            companions,
            listen_timeout: app.listen_timeout,
        },
        warnings,
        access,
    ))
}

fn restart_properties(s: &mut UnitSpec, app: &App) {
    s.set(
        "Restart",
        Value::Str(if app.autorestart { "always" } else { "no" }.into()),
    );
    match app.exp_backoff_restart_delay.filter(|d| !d.is_zero()) {
        Some(first) => {
            s.set("RestartUSec", Value::U64(micros(first)));
            if first < BACKOFF_MAX {
                let ratio = BACKOFF_MAX.as_secs_f64() / first.as_secs_f64();
                let steps = (ratio.ln() / BACKOFF_FACTOR.ln()).ceil().max(1.0) as u32;
                s.set("RestartSteps", Value::U32(steps));
                s.set("RestartMaxDelayUSec", Value::U64(micros(BACKOFF_MAX)));
            }
        }
        None => {
            s.set("RestartUSec", Value::U64(micros(app.restart_delay)));
        }
    }
    // A zero interval would switch rate limiting off altogether.
    let window = app.min_uptime.saturating_mul(app.max_restarts.max(1));
    let window = if window.is_zero() {
        Duration::from_millis(1)
    } else {
        window
    };
    s.set(
        "StartLimitBurst",
        Value::U32(app.max_restarts.saturating_add(1)),
    );
    s.set("StartLimitIntervalUSec", Value::U64(micros(window)));
}

/// `User`/`Group` for the app, checked against what the manager can do.
type RunAs = (Option<String>, Option<String>);

fn run_as(app: &App, host: &HostFacts) -> Result<RunAs, String> {
    let is_caller = |u: &str| u == host.user || u == host.uid.to_string();
    match host.scope {
        Scope::User => {
            if let Some(u) = app.user.as_deref().filter(|u| !is_caller(u)) {
                return Err(format!(
                    "user: `{u}`: a user's own systemd runs apps only as that user ({}); \
                     run pm2ctl as root to use the system manager",
                    host.user
                ));
            }
            if let Some(g) = &app.group {
                return Err(format!(
                    "group: `{g}`: a user's own systemd cannot change the group; \
                     run pm2ctl as root to use the system manager"
                ));
            }
            Ok((None, None))
        }
        Scope::System => {
            let user = match &app.user {
                Some(u) => Some(u.clone()),
                None if host.uid != 0 => Some(host.user.clone()),
                None => None,
            };
            Ok((user, app.group.clone()))
        }
    }
}

/// The directory to keep writable for a log directory that may not exist yet (exec-wrap
/// creates it): the nearest one that exists, but never `/` itself, which would undo
/// `ProtectSystem` (the app then cannot create such a directory, and says so).
fn existing_ancestor(dir: &Path, resolver: &dyn Resolver) -> std::path::PathBuf {
    dir.ancestors()
        .take_while(|a| a.parent().is_some())
        .find(|a| resolver.file_kind(a) == super::FileKind::Directory)
        .unwrap_or(dir)
        .to_path_buf()
}

/// The home of the account a service runs as: the caller's, or looked up.
fn home_of(
    user: Option<&str>,
    host: &HostFacts,
    resolver: &dyn Resolver,
) -> Option<std::path::PathBuf> {
    match (host.scope, user) {
        (Scope::User, _) => Some(host.home.clone()),
        (Scope::System, Some(u)) if u == host.user || u == host.uid.to_string() => {
            Some(host.home.clone())
        }
        (Scope::System, Some(u)) => resolver.home_of(u),
        (Scope::System, None) => resolver.home_of("root"),
    }
}

/// What a root caller, or a file's capabilities, must not get past: a root app nobody asked
/// for, capabilities the caller lacks or a user's systemd cannot grant.
fn privilege_problems(app: &App, host: &HostFacts) -> Vec<String> {
    let mut out = Vec::new();
    if host.scope == Scope::System
        && host.uid == 0
        && host.require_root_opt_in
        && app.user.is_none()
    {
        out.push(
            "would run as root: pm2ctl runs as root and the app names no `user`. \
             Name the account it should run as (`user = \"www-data\"`), or write \
             `user = \"root\"` to run it as root (`--uid root` for `pm2ctl start`)"
                .to_string(),
        );
    }
    if !app.sandbox.capabilities.is_empty() {
        if host.scope == Scope::User {
            out.push(format!(
                "sandbox.capabilities: a user's own systemd cannot grant capabilities ({}); \
                 run pm2ctl as root to use the system manager",
                app.sandbox.capabilities.join(", ")
            ));
        } else {
            let beyond = sandbox::beyond_caller(app, host);
            if !beyond.is_empty() {
                out.push(format!(
                    "sandbox.capabilities: pm2ctl does not hold {} itself, and grants an app \
                     no capability its caller lacks",
                    beyond.join(", ")
                ));
            }
        }
    }
    out
}

/// Why an app cannot have port `port` (below the unprivileged start), if it cannot.
fn low_port_problem(
    port: u16,
    host: &HostFacts,
    exec_mode: ExecMode,
    may_bind: bool,
    node: bool,
) -> Option<String> {
    let start = host.unprivileged_port_start;
    if host.scope == Scope::User {
        return Some(format!(
            "port {port} is below {start}: a user's own systemd cannot open it; \
             use a port from {start} up, or run pm2ctl as root (the system manager opens it)"
        ));
    }
    if exec_mode == ExecMode::Fork && !may_bind && !node {
        return Some(format!(
            "port {port} is below {start} and the app does not run as root: it cannot bind it. \
             Use exec_mode = \"cluster\" if it accepts its socket from systemd (LISTEN_FDS), \
             or grant it `sandbox = {{ capabilities = [\"CAP_NET_BIND_SERVICE\"] }}`"
        ));
    }
    None
}

/// `SIGINT`, `INT` or `2` → 2.
fn signal_number(name: &str) -> Result<i32, String> {
    if let Ok(n) = name.parse::<i32>() {
        if nix::sys::signal::Signal::try_from(n).is_ok() {
            return Ok(n);
        }
    }
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&full)
        .map(|s| s as i32)
        .map_err(|_| format!("kill_signal: `{name}` is not a signal (e.g. SIGINT, SIGTERM)"))
}

/// The port a cluster app's instances share: `port`, else the `PORT` its environment sets
/// (that is what the app listens on, and what PM2's cluster master shares). None when
/// `increment_var = "PORT"` gives each instance its own port.
fn shared_port(app: &App, app_env: &BTreeMap<String, String>) -> Option<u16> {
    if app.increment_var.as_deref() == Some("PORT") {
        return None;
    }
    app.port.or_else(|| {
        app_env
            .get("PORT")
            .and_then(|p| p.trim().parse::<u16>().ok())
            .filter(|p| *p != 0)
    })
}

/// `0.0.0.0:3000`, `[::]:3000`: what systemd's `ListenStream=` takes.
fn listen_address(address: Option<&str>, port: u16) -> String {
    let address = address.unwrap_or("0.0.0.0");
    if address.contains(':') && !address.starts_with('[') {
        format!("[{address}]:{port}")
    } else {
        format!("{address}:{port}")
    }
}

/// The app name inside a Description: control characters and backslashes escaped, ends
/// trimmed (systemd trims them anyway), so any name reads as one line.
pub(crate) fn readable(name: &str) -> String {
    name.trim()
        .chars()
        .map(|c| {
            if c.is_control() || c == '\\' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Options the plan does not turn into units (yet), so the user is not misled.
fn unsupported(app: &App, runtime: Runtime) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |what: &str| out.push(format!("app `{}`: {what}", app.name));
    if app.shutdown_with_message && !runtime.loads_node_shim() {
        note("shutdown_with_message: only Node apps get the 'shutdown' message (from pm2ctl's shim); this app gets its kill signal instead");
    }
    if app.pid_file.is_some() {
        note("pid_file is not written: systemd tracks the main process itself");
    }
    if app.wait_ready && !runtime.loads_node_shim() {
        note("wait_ready: only Node apps get `process.send('ready')` mapped to systemd; this app must send READY=1 itself (sd_notify)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_counts_follow_pm2() {
        assert_eq!(instance_count(None, 4), 1);
        assert_eq!(instance_count(Some(Instances::Max), 4), 4);
        assert_eq!(instance_count(Some(Instances::Count(0)), 4), 4);
        assert_eq!(instance_count(Some(Instances::Count(3)), 4), 3);
        assert_eq!(instance_count(Some(Instances::MaxMinus(1)), 4), 3);
        assert_eq!(instance_count(Some(Instances::MaxMinus(9)), 4), 1);
        assert_eq!(instance_count(Some(Instances::Max), 0), 1);
    }

    #[test]
    fn signals_by_name_or_number() {
        assert_eq!(signal_number("SIGINT"), Ok(2));
        assert_eq!(signal_number("term"), Ok(15));
        assert_eq!(signal_number("9"), Ok(9));
        assert!(signal_number("SIGNOPE").is_err());
    }

    #[test]
    fn listen_addresses() {
        assert_eq!(listen_address(None, 3000), "0.0.0.0:3000");
        assert_eq!(listen_address(Some("::"), 80), "[::]:80");
        assert_eq!(listen_address(Some("[::1]"), 80), "[::1]:80");
        assert_eq!(listen_address(Some("127.0.0.1"), 80), "127.0.0.1:80");
    }

    #[test]
    fn descriptions_stay_on_one_line() {
        assert_eq!(readable("api v2/beta"), "api v2/beta");
        assert_eq!(readable(" a\nb\\ "), "a\\nb\\\\");
    }

    #[test]
    fn backoff_steps_match_pm2s_growth() {
        let mut app = App::with_defaults("a", "a.js");
        app.exp_backoff_restart_delay = Some(Duration::from_millis(100));
        let mut s = UnitSpec::new("x.service", UnitKind::Service);
        restart_properties(&mut s, &app);
        assert_eq!(s.get("RestartUSec"), Some(&Value::U64(100_000)));
        assert_eq!(s.get("RestartSteps"), Some(&Value::U32(13)));
        assert_eq!(s.get("RestartMaxDelayUSec"), Some(&Value::U64(15_000_000)));
        assert_eq!(s.get("StartLimitBurst"), Some(&Value::U32(17)));
        assert_eq!(
            s.get("StartLimitIntervalUSec"),
            Some(&Value::U64(16_000_000))
        );
    }
}
