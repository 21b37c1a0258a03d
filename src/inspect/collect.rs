//! Gathering a snapshot: the state store, systemd, and `/proc` when systemd's accounting is off.

use super::{package, Command, Exit, Instance, MetricSource, Mode, Snapshot};
use crate::host::procfs::{self, stat_field, ticks_per_second};
use crate::lifecycle::processes::{self, Observed};
use crate::plan::Scope;
use crate::state::{self, State};
use crate::systemd::{Client, UnitState};
use crate::unit::{UnitSpec, Value};
use anyhow::Result;
use std::time::{Duration, Instant};

/// One snapshot of every instance pm2ctl knows of or owns, in `pm_id` order.
///
/// `cpu` is the average since the process started: its CPU time over its age, as `ps` shows
/// it (and as PM2's sampler reports a process it has not sampled before). One reading, no
/// waiting for a second; callers that sample across snapshots use `cpu_time_ns`.
pub fn collect(client: &Client, state: &State) -> Result<Snapshot> {
    let started = Instant::now();
    let observed = processes::observe(client, state)?;
    let taken_at_ms = state::now_ms();

    let default_user = default_user(client.scope());
    // `/proc` and the app's files are this machine's: on another host they would describe
    // other processes, so only systemd's figures are used there.
    let local = client.host().is_local();
    let mut versions = package::Finder::default();
    let mut instances: Vec<Instance> = observed
        .iter()
        .map(|o| instance(o, state, &default_user, local, &mut versions))
        .collect();
    for (inst, o) in instances.iter_mut().zip(&observed) {
        inst.cpu_time_ns = cpu_time_ns(o, local);
        inst.cpu = match (inst.cpu_time_ns, inst.started_at_ms) {
            (Some(ns), Some(since)) => Some(cpu_percent(
                0,
                ns,
                Duration::from_millis(taken_at_ms.saturating_sub(since)),
            )),
            _ => None,
        };
    }
    tracing::debug!(elapsed = ?started.elapsed(), "instances built");

    Ok(Snapshot {
        instances,
        taken_at_ms,
    })
}

/// Percent of one CPU used between two readings of cumulative CPU time, rounded to 0.1 as
/// PM2 rounds `monit.cpu`.
pub fn cpu_percent(before_ns: u64, after_ns: u64, wall: Duration) -> f64 {
    let wall_ns = wall.as_nanos();
    if wall_ns == 0 {
        return 0.0;
    }
    let used = after_ns.saturating_sub(before_ns) as f64;
    (used * 1000.0 / wall_ns as f64).round() / 10.0
}

/// The cumulative CPU time of a running instance: systemd's `CPUUsageNSec` (the whole unit),
/// else its main process' from `/proc`.
fn cpu_time_ns(o: &Observed, local: bool) -> Option<u64> {
    let pid = o.live.main_pid()?;
    let service = o.live.service.as_ref()?;
    let threads = o.live.sample.map(|s| s.main_threads);
    known(service.cpu_usage_nsec).or_else(|| local.then(|| proc_cpu_ns(pid, threads)).flatten())
}

/// systemd reports `u64::MAX` for a figure it does not track.
fn known(value: Option<u64>) -> Option<u64> {
    value.filter(|v| *v != u64::MAX)
}

fn default_user(scope: Scope) -> String {
    match scope {
        Scope::System => "root".to_string(),
        Scope::User => std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .or_else(|| {
                nix::unistd::User::from_uid(nix::unistd::getuid())
                    .ok()
                    .flatten()
                    .map(|u| u.name)
            })
            .unwrap_or_else(|| nix::unistd::getuid().to_string()),
    }
}

/// One instance from what the store and systemd say (no CPU percentage yet).
fn instance(
    o: &Observed,
    state: &State,
    default_user: &str,
    local: bool,
    versions: &mut package::Finder,
) -> Instance {
    let p = &o.proc;
    let live = &o.live;
    let service = live.service.as_ref();
    let record = state.app(&p.name);
    let instance_record = record.and_then(|a| a.instances.iter().find(|i| i.pm_id == p.pm_id));
    let planned = record.and_then(|a| {
        a.plan
            .instances
            .iter()
            .find(|i| i.index == p.index)
            .map(|i| &i.service)
    });

    let env = environment(planned, live);
    let mode = match env.iter().find(|(k, _)| k == "exec_mode") {
        Some((_, v)) if v == "cluster_mode" => Mode::Cluster,
        _ => Mode::Fork,
    };
    let app_instances = record
        .map(|a| a.plan.instances.len() as u32)
        .or_else(|| {
            env.iter()
                .find(|(k, _)| k == "instances")
                .and_then(|(_, v)| v.parse().ok())
        })
        .unwrap_or(1);

    let n_restarts = service.and_then(|s| s.n_restarts).unwrap_or(0);
    let offset = instance_record.map_or(0, |i| i.restart_offset);
    let restarts = (i64::from(n_restarts) + offset).max(0) as u64;

    let pid = live.main_pid();
    let running = pid.is_some();
    let cgroup_memory = known(service.and_then(|s| s.memory_current)).filter(|_| running);
    // PM2's figure is the main process' RSS; the cgroup's count differs (on cgroup v1 it
    // leaves out file pages first charged to other cgroups, and adds children).
    let memory = live
        .sample
        .and_then(|s| s.main_rss)
        .or_else(|| pid.filter(|_| local).and_then(process_rss_bytes))
        .or(cgroup_memory);
    let cpu_source = match (running, known(service.and_then(|s| s.cpu_usage_nsec))) {
        (false, _) => MetricSource::None,
        (true, Some(_)) => MetricSource::Cgroup,
        (true, None) if local => MetricSource::Proc,
        (true, None) => MetricSource::None,
    };

    let started_at_ms = service
        .and_then(|s| s.exec_main_start_timestamp)
        .filter(|t| *t != 0 && running)
        .map(|us| us / 1000);
    let exit = match (running, service.and_then(|s| s.exec_main_code)) {
        (false, Some(1)) => service
            .and_then(|s| s.exec_main_status)
            .filter(|c| *c != 0)
            .map(Exit::Code),
        (false, Some(2 | 3)) => service.and_then(|s| s.exec_main_status).map(Exit::Signal),
        _ => None,
    };

    let user = service
        .and_then(|s| s.user.clone())
        .filter(|u| !u.is_empty())
        .or_else(|| planned.and_then(|s| str_prop(s, "User")))
        .unwrap_or_else(|| default_user.to_string());
    let restart_policy = planned
        .and_then(|s| str_prop(s, "Restart"))
        .or_else(|| service.and_then(|s| s.restart.clone()));
    let definition = record.and_then(|a| a.definition.as_ref());
    // Watched when its recorded plan has a watch agent, whatever it was started from.
    let watching = record.is_some_and(|a| a.plan.is_watched());
    let autorestart = definition
        .map_or(restart_policy.as_deref().is_some_and(|r| r != "no"), |d| {
            d.autorestart
        });
    let (command, out_log, err_log) = planned.map(command_of).unwrap_or_default();
    let cwd = planned
        .and_then(|s| str_prop(s, "WorkingDirectory"))
        .unwrap_or_default();
    let version = if local {
        versions.version(&command.exec_path, &cwd)
    } else {
        package::Version::NotFound
    };

    Instance {
        pm_id: p.pm_id,
        name: p.name.clone(),
        namespace: p.namespace.clone(),
        index: p.index,
        mode,
        app_instances,
        status: p.status,
        pid,
        restarts,
        started_at_ms,
        created_at_ms: record.map(|a| a.created_at_ms),
        memory,
        cgroup_memory,
        cpu: None,
        cpu_source,
        cpu_time_ns: None,
        user,
        watching,
        autorestart,
        recorded: instance_record.is_some(),
        service: p.service.clone(),
        socket: p.socket.clone(),
        slice: p.slice.clone(),
        active_state: live.active_state().to_string(),
        sub_state: live.sub_state().to_string(),
        result: service
            .and_then(|s| s.result.clone())
            .unwrap_or_else(|| "success".to_string()),
        exit,
        command,
        cwd,
        env,
        out_log,
        err_log,
        memory_max: planned.and_then(|s| match s.get("MemoryMax") {
            Some(Value::U64(bytes)) if *bytes != u64::MAX => Some(*bytes),
            _ => None,
        }),
        restart_policy,
        restart_delay_us: planned.and_then(|s| match s.get("RestartUSec") {
            Some(Value::U64(us)) => Some(*us),
            _ => None,
        }),
        version,
    }
}

fn str_prop(spec: &UnitSpec, name: &str) -> Option<String> {
    match spec.get(name) {
        Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The app's environment: as planned when the store knows the app, else as the unit has it.
/// pm2ctl's own bookkeeping variables (`PM2CTL_*`) are left out.
fn environment(planned: Option<&UnitSpec>, live: &UnitState) -> Vec<(String, String)> {
    let planned_env = planned.and_then(|s| match s.get("Environment") {
        Some(Value::StrList(list)) => Some(list.clone()),
        _ => None,
    });
    let list = planned_env
        .or_else(|| live.service.as_ref().and_then(|s| s.environment.clone()))
        .unwrap_or_default();
    list.iter()
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| !k.starts_with("PM2CTL_"))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The command line of a planned service, with its log files: the log wrapper's
/// (`pm2ctl exec-wrap --out-file F --err-file F -- real…`) or systemd's file outputs.
pub fn command_of(spec: &UnitSpec) -> (Command, Option<String>, Option<String>) {
    let Some(Value::Exec(commands)) = spec.get("ExecStart") else {
        return Default::default();
    };
    let Some(exec) = commands.first() else {
        return Default::default();
    };
    let mut out_log = str_prop(spec, "StandardOutputFileToAppend");
    let mut err_log = str_prop(spec, "StandardErrorFileToAppend");
    let mut argv = crate::unit::dollar::decode_strings(&exec.argv);
    if argv.get(1).map(String::as_str) == Some("exec-wrap") {
        let separator = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
        let options = &argv[2..separator];
        let value_of = |flag: &str| {
            options
                .iter()
                .position(|a| a == flag)
                .and_then(|i| options.get(i + 1))
                .cloned()
        };
        out_log = value_of("--out-file").or(out_log);
        err_log = value_of("--err-file").or(err_log);
        argv = argv.get(separator + 1..).unwrap_or_default().to_vec();
    }
    (command_from_argv(argv), out_log, err_log)
}

/// Splits a real argv into PM2's interpreter, its arguments, the script and the script's
/// arguments: `node --x app.js a` is node running app.js; `bash -c LINE` is a shell line;
/// anything else is a binary run directly (interpreter `none`).
pub fn command_from_argv(argv: Vec<String>) -> Command {
    let Some(program) = argv.first() else {
        return Command::default();
    };
    let base = program.rsplit('/').next().unwrap_or(program).to_string();
    let interpreted = matches!(
        base.as_str(),
        "node" | "nodejs" | "bun" | "deno" | "ts-node" | "tsx" | "ruby" | "perl" | "php"
    ) || base.starts_with("python");
    if (base == "bash" || base == "sh") && argv.get(1).map(String::as_str) == Some("-c") {
        return Command {
            exec_path: argv.get(2).cloned().unwrap_or_default(),
            interpreter: base,
            interpreter_args: vec!["-c".to_string()],
            args: argv.get(4..).map(<[String]>::to_vec).unwrap_or_default(),
            argv,
        };
    }
    if interpreted {
        if let Some(at) = argv.iter().skip(1).position(|a| !a.starts_with('-')) {
            let at = at + 1;
            return Command {
                exec_path: argv[at].clone(),
                interpreter: base,
                interpreter_args: argv[1..at].to_vec(),
                args: argv[at + 1..].to_vec(),
                argv,
            };
        }
    }
    Command {
        exec_path: program.clone(),
        interpreter: "none".to_string(),
        interpreter_args: Vec::new(),
        args: argv[1..].to_vec(),
        argv,
    }
}

/// CPU time of a process, in ns: the sum of its threads' `schedstat` run times (exact), else
/// utime + stime from `stat` (in clock ticks, too coarse for a short window). A process known
/// to have one thread (`threads`, from its `stat`) is that thread: its own `schedstat` is
/// read without listing `task/`.
fn proc_cpu_ns(pid: u32, threads: Option<u64>) -> Option<u64> {
    if threads == Some(1) {
        let own = procfs::read(format!("/proc/{pid}/schedstat")).ok();
        if let Some(ns) = own
            .as_deref()
            .and_then(schedstat_run_ns)
            .filter(|ns| *ns > 0)
        {
            return Some(ns);
        }
    }
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        let total: Option<u64> = tasks
            .flatten()
            .map(|task| {
                let text = procfs::read(task.path().join("schedstat")).ok()?;
                schedstat_run_ns(&text)
            })
            .sum();
        if let Some(ns) = total.filter(|ns| *ns > 0) {
            return Some(ns);
        }
    }
    let stat = procfs::read(format!("/proc/{pid}/stat")).ok()?;
    let ticks = stat_cpu_ticks(&stat)?;
    Some(ticks.saturating_mul(1_000_000_000) / ticks_per_second()?)
}

/// Time spent on a CPU, ns: the first field of a `schedstat` line.
fn schedstat_run_ns(schedstat: &str) -> Option<u64> {
    schedstat.split_whitespace().next()?.parse().ok()
}

/// utime + stime from a `/proc/<pid>/stat` line (fields 14 and 15; the command name in
/// parentheses may itself contain spaces and parentheses).
pub fn stat_cpu_ticks(stat: &str) -> Option<u64> {
    Some(stat_field(stat, 14)? + stat_field(stat, 15)?)
}

/// Resident memory of a process, bytes: `/proc/<pid>/statm`'s second field (resident pages,
/// the figure `status` shows as `VmRSS`, PM2's measure), which the kernel formats far more
/// cheaply.
pub fn process_rss_bytes(pid: u32) -> Option<u64> {
    let statm = procfs::read(format!("/proc/{pid}/statm")).ok()?;
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .filter(|p| *p > 0)? as u64;
    statm_rss_bytes(&statm, page)
}

fn statm_rss_bytes(statm: &str, page_size: u64) -> Option<u64> {
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages.saturating_mul(page_size))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_is_of_one_cpu_rounded_to_a_tenth() {
        let window = Duration::from_millis(100);
        assert_eq!(cpu_percent(0, 50_000_000, window), 50.0);
        assert_eq!(cpu_percent(0, 150_000_000, window), 150.0);
        assert_eq!(cpu_percent(10, 10 + 123_456, window), 0.1);
        assert_eq!(cpu_percent(5, 4, window), 0.0);
        assert_eq!(cpu_percent(0, 5, Duration::ZERO), 0.0);
    }

    #[test]
    fn proc_files_parse() {
        let stat =
            "4242 (node (worker) x) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 11 0";
        assert_eq!(stat_cpu_ticks(stat), Some(300));
        assert_eq!(stat_cpu_ticks("garbage"), None);
        assert_eq!(
            statm_rss_bytes("12000 10825 1900 1 0 5000 0\n", 4096),
            Some(10825 * 4096)
        );
        assert_eq!(statm_rss_bytes("12000\n", 4096), None);
        assert_eq!(schedstat_run_ns("52719823 1208 31\n"), Some(52719823));
        assert_eq!(schedstat_run_ns(""), None);
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn commands_split_as_pm2_describes_them() {
        let node = command_from_argv(strings(&[
            "/usr/bin/node",
            "--enable-source-maps",
            "/srv/app.js",
            "--port",
            "3",
        ]));
        assert_eq!(node.interpreter, "node");
        assert_eq!(node.exec_path, "/srv/app.js");
        assert_eq!(node.interpreter_args, ["--enable-source-maps"]);
        assert_eq!(node.args, ["--port", "3"]);

        let binary = command_from_argv(strings(&["/usr/bin/sleep", "infinity"]));
        assert_eq!(binary.interpreter, "none");
        assert_eq!(binary.exec_path, "/usr/bin/sleep");
        assert_eq!(binary.args, ["infinity"]);

        let shell = command_from_argv(strings(&["/bin/bash", "-c", "echo hi; sleep 9"]));
        assert_eq!(shell.interpreter, "bash");
        assert_eq!(shell.exec_path, "echo hi; sleep 9");

        assert_eq!(command_from_argv(Vec::new()), Command::default());
    }

    #[test]
    fn the_log_wrapper_is_looked_through() {
        let mut spec = UnitSpec::new("pm2ctl-api@0.service", crate::unit::UnitKind::Service);
        spec.set(
            "ExecStart",
            Value::Exec(vec![crate::unit::ExecCommand {
                path: "/usr/bin/pm2ctl".into(),
                argv: strings(&[
                    "/usr/bin/pm2ctl",
                    "exec-wrap",
                    "--out-file",
                    "/l/out.log",
                    "--",
                    "/usr/bin/node",
                    "/srv/app.js",
                ]),
                ignore_failure: false,
            }]),
        );
        let (command, out, err) = command_of(&spec);
        assert_eq!(command.exec_path, "/srv/app.js");
        assert_eq!(command.argv, ["/usr/bin/node", "/srv/app.js"]);
        assert_eq!(out.as_deref(), Some("/l/out.log"));
        assert_eq!(err, None);
    }
}
