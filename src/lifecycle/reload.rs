//! `reload`: a rolling restart that keeps an app serving.
//!
//! Each instance of a cluster app has its own `ReusePort` socket, held by systemd: while one
//! instance restarts, connections hashed to its socket wait in that socket's backlog, and the
//! other instances keep serving theirs. The Node shim's graceful stop lets the old process
//! finish what it has in flight. So a reload restarts the selected instances a few at a time
//! (`parallel`, 1 by default) and waits until each is **ready** before touching the next:
//!
//! * `Type=notify` (the app has `wait_ready`): the restart job completes when the app sent
//!   READY=1 (`process.send('ready')` under the shim); systemd fails it after
//!   `listen_timeout`.
//! * a socket-activated instance otherwise: its new process accepts on the socket (see
//!   `readiness`), or `listen_timeout` has passed since it started (as PM2, which carries on
//!   as if ready after that time);
//! * an instance without a socket (fork mode, or no `port`): its new process has started.
//!   Connections to it are refused while it restarts, so such a reload is not seamless.
//!
//! An instance that fails to come back stops the reload there: the instances not reached yet
//! keep their old processes and keep serving.
//!
//! A `node` app on a socket (its units carry `PM2CTL_HANDOVER=1`) is not restarted but
//! **handed over**: pm2ctl sends its main process SIGWINCH, and the Node shim starts the new
//! process beside it on the same socket, waits until it is ready, makes it the unit's main
//! process (`MAINPID=`) and drains. The old process serves until the new one does, so the
//! app never runs an instance short and no connection waits for a process to start. A new
//! process that fails leaves the old one serving; the shim says why in the unit's status
//! text, where the reload reads it.

use super::actions::{self, Action, Report};
use super::processes::Proc;
use super::readiness;
use super::record;
use crate::checkpoint;
use crate::plan::HANDOVER_VAR;
use crate::state::Store;
use crate::status::Status;
use crate::systemd::{self, Client, JobOutcome, KillWhom, UnitState};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

/// How often a restarted instance is checked while waiting for it.
const POLL: Duration = Duration::from_millis(20);

/// What asks the Node shim for a hand-over (`HANDOVER_SIGNAL` in `pm2ctl-shim.js`).
const HANDOVER_SIGNAL: nix::sys::signal::Signal = nix::sys::signal::Signal::SIGWINCH;

/// How the shim's status text starts when a hand-over failed (`RELOAD_FAILED` in the shim).
const HANDOVER_FAILED: &str = "pm2ctl: reload failed";

/// The shim's log line before it starts the new process (`HANDOVER_STARTING` in the shim):
/// what the new process logs comes after it.
const HANDOVER_STARTING: &str = "pm2ctl: SIGWINCH: starting a new process";

/// The shim's log line once the new process is started (`HANDOVER_STARTED` in the shim).
/// The new process may log before it; a shim older than `HANDOVER_STARTING` writes only
/// this one.
const HANDOVER_STARTED: &str = "pm2ctl: SIGWINCH: started new process";

/// At most this many of the new process's lines go into a failed hand-over's report (the
/// first ones: where a crash at start says what went wrong).
const HANDOVER_LOG_LINES: usize = 30;

/// How long a failed hand-over's report waits for the journal to hold the new process's
/// lines (only a failure waits).
const HANDOVER_LOG_WAIT: Duration = Duration::from_secs(6);

/// How long past `listen_timeout` a hand-over may take: the shim decides by then (ready,
/// or failed), and what remains is starting processes on a loaded machine.
const HANDOVER_SLACK: Duration = Duration::from_secs(10);

/// Why an instance was judged ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// `Type=notify`: it sent READY=1.
    Notified,
    /// It accepts connections on the socket systemd holds for it.
    Accepting,
    /// `listen_timeout` passed with the process up.
    ListenTimeout,
    /// No socket: its process started.
    Started,
    /// The Node shim handed the socket over to the new process, which became the main one.
    HandedOver,
}

/// The PM2-style line for one instance, as soon as it is known.
pub trait Progress {
    fn instance(&mut self, proc: &Proc, result: &Result<Ready, String>);
    fn warning(&mut self, text: &str);
}

/// Reloads `procs` in their order: instances not running are started (as `restart` does),
/// then running ones are restarted `parallel` at a time, each batch ready before the next.
pub fn run(
    client: &Client,
    store: &mut Store,
    procs: &[&Proc],
    parallel: usize,
    progress: &mut dyn Progress,
) -> Result<Report> {
    let (running, not_running): (Vec<&Proc>, Vec<&Proc>) = procs
        .iter()
        .partition(|p| p.loaded && p.status == Status::Online);

    let mut report = Report::default();
    if !not_running.is_empty() {
        let started = actions::run(client, store, Action::Restart, &not_running)
            .map_err(|e| interrupted(e, &[], &not_running, &running))?;
        for (p, result) in &started.results {
            progress.instance(p, &result.clone().map(|()| Ready::Started));
        }
        report.results.extend(started.results);
    }

    let mut warned = BTreeSet::new();
    for p in &running {
        if p.socket.is_none() && warned.insert(p.name.as_str()) {
            progress.warning(&format!(
                "[{}] has no socket held by systemd (fork mode, or no `port`): reload restarts it, \
                 and connections to it are refused while it starts",
                p.name
            ));
        }
    }

    let mut reloaded: Vec<&Proc> = Vec::new();
    let mut stopped_at: Option<String> = None;
    let batches: Vec<&[&Proc]> = running.chunks(parallel.max(1)).collect();
    for (n, batch) in batches.iter().copied().enumerate() {
        if let Some(at) = &stopped_at {
            for p in batch {
                let result = Err(format!("not reloaded: the reload stopped at {at}"));
                progress.instance(p, &result);
                report.results.push(((*p).clone(), result.map(|_| ())));
            }
            continue;
        }
        let results = match reload_batch(client, store, batch) {
            Ok(results) => results,
            Err(e) => {
                let rest: Vec<&Proc> = batches[n + 1..]
                    .iter()
                    .flat_map(|b| b.iter().copied())
                    .collect();
                return Err(interrupted(e, &reloaded, batch, &rest));
            }
        };
        reloaded.extend(batch);
        for (p, result) in batch.iter().zip(results) {
            progress.instance(p, &result);
            if result.is_err() && stopped_at.is_none() {
                stopped_at = Some(format!("[{}]({})", p.name, p.pm_id));
            }
            report.results.push(((*p).clone(), result.map(|_| ())));
        }
    }

    checkpoint::reached("reload:done");
    if !reloaded.is_empty() {
        record::restarted(store.state_mut(), &reloaded);
        store.save().context(
            "every instance was reloaded, but their restart counts could not be recorded",
        )?;
    }
    Ok(report)
}

/// The error of a reload stopped by a failure to talk to systemd: what was reloaded, what
/// was under way, and what keeps its old processes.
fn interrupted(
    cause: anyhow::Error,
    reloaded: &[&Proc],
    batch: &[&Proc],
    rest: &[&Proc],
) -> anyhow::Error {
    let names = |procs: &[&Proc]| -> String {
        if procs.is_empty() {
            return "none".into();
        }
        let names: Vec<String> = procs
            .iter()
            .map(|p| format!("[{}]({})", p.name, p.pm_id))
            .collect();
        names.join(", ")
    };
    let why = match systemd::connection_lost(&cause) {
        Some(why) => format!("{why} ({cause:#})"),
        None => format!("{cause:#}"),
    };
    anyhow::anyhow!(
        "reload stopped at {}: {why}\n  reloaded: {}\n  under way: {} (its restart was asked \
         for; `pm2ctl list` shows whether it runs)\n  not reloaded, still running their old \
         processes: {}",
        names(batch),
        names(reloaded),
        names(batch),
        names(rest),
    )
}

/// Replaces one batch together, then waits for each instance of it to be ready: instances
/// whose shim hands over get the signal, the others are restarted.
fn reload_batch(
    client: &Client,
    store: &Store,
    batch: &[&Proc],
) -> Result<Vec<Result<Ready, String>>> {
    let services: Vec<String> = batch.iter().map(|p| p.service.clone()).collect();
    let before = client.read_states(&services)?;
    let handing: Vec<bool> = batch
        .iter()
        .zip(&before)
        .map(|(p, state)| {
            ready_to_hand_over(client, state, Instant::now() + listen_timeout(store, p))
        })
        .collect();
    let to_restart: Vec<String> = before
        .iter()
        .zip(&handing)
        .filter(|(_, hands)| !**hands)
        .map(|(s, _)| s.name.clone())
        .collect();
    for (state, _) in before.iter().zip(&handing).filter(|(_, hands)| **hands) {
        client.kill(&state.name, KillWhom::Main, HANDOVER_SIGNAL as i32)?;
    }
    let outcomes = if to_restart.is_empty() {
        Vec::new()
    } else {
        client.restart_units(&to_restart)?
    };
    checkpoint::reached("reload:restarted");
    let started = Instant::now();
    Ok(batch
        .iter()
        .zip(before.iter().zip(handing))
        .map(|(p, (state, hands))| {
            let deadline = started + listen_timeout(store, p);
            if hands {
                return handed_over(client, state, deadline + HANDOVER_SLACK);
            }
            let outcome = outcomes.iter().find(|o| o.unit == p.service);
            // systemd's automatic restarts as listed: one more while waiting means the new
            // process died and systemd started it again.
            let restarted = Restarted {
                service: &p.service,
                socket: p.socket.is_some(),
                restarts: Some(p.n_restarts),
            };
            ready_after(client, outcome, &restarted, deadline)
        })
        .collect())
}

/// Hands `service` over to a new process when its Node shim can (see [`hands_over`]) and
/// waits for it, as `reload` does; `None` when it cannot, and the caller restarts it.
pub fn hand_over(
    client: &Client,
    service: &str,
    listen_timeout: Duration,
) -> Result<Option<Result<Ready, String>>> {
    let Some(state) = client.read_states(&[service.to_string()])?.pop() else {
        return Ok(None);
    };
    if !ready_to_hand_over(client, &state, Instant::now() + listen_timeout) {
        return Ok(None);
    }
    client.kill(service, KillWhom::Main, HANDOVER_SIGNAL as i32)?;
    let deadline = Instant::now() + listen_timeout + HANDOVER_SLACK;
    Ok(Some(handed_over(client, &state, deadline)))
}

/// Whether `why`, a failed hand-over's account, is the shim's own: its new process failed
/// and the old one keeps serving, as it ran before. (The other failures leave the unit down,
/// or a new process still starting.)
pub fn old_process_kept(why: &str) -> bool {
    why.starts_with(HANDOVER_FAILED)
}

/// The lines the unit logged after its shim's last "starting a new process" line, without the
/// shim's own, indented: what the new process of a failed hand-over said. The shim's failure
/// line follows them on the same stream (stderr), but its status text can reach pm2ctl
/// before journald has read them (seconds before, on a loaded machine): the journal is asked
/// again until that line is in, for `HANDOVER_LOG_WAIT` at most. `None` when it holds
/// nothing of the new process.
fn new_process_log(client: &Client, service: &str) -> Option<String> {
    let own = format!("{service}: ");
    let mut found = None;
    let deadline = Instant::now() + HANDOVER_LOG_WAIT;
    while Instant::now() < deadline {
        client.sync_journal();
        let entries = client.journal_entries(service, 200);
        let last = |marker: &str| entries.iter().rposition(|e| e.message.starts_with(marker));
        if let Some(start) = last(HANDOVER_STARTING).or_else(|| last(HANDOVER_STARTED)) {
            let after = &entries[start + 1..];
            let lines: Vec<String> = after
                .iter()
                .map(|e| e.message.trim_end())
                // Neither the shim's lines nor systemd's about the unit ("…: Sent signal").
                .filter(|m| !m.starts_with("pm2ctl: ") && !m.starts_with(&own))
                .take(HANDOVER_LOG_LINES)
                .map(|m| format!("  {m}"))
                .collect();
            if lines.iter().any(|l| !l.trim().is_empty()) {
                found = Some(lines.join("\n"));
            }
            if after.iter().any(|e| e.message.starts_with(HANDOVER_FAILED)) {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    found
}

/// Whether the service hands over (see [`hands_over`]) and its shim listens for the signal
/// already: a process that has just started may not have loaded the shim yet, and would
/// ignore SIGWINCH (its default). Waits for that until `deadline`, seen on this host in the
/// signals its main process catches; `false` (restart it) when it cannot be seen (`-H`).
pub fn ready_to_hand_over(client: &Client, state: &UnitState, deadline: Instant) -> bool {
    if !client.host().is_local() || !hands_over(state) {
        return false;
    }
    let Some(pid) = state.main_pid() else {
        return false;
    };
    loop {
        match catches(pid, HANDOVER_SIGNAL) {
            Some(true) => return true,
            None => return false, // gone
            Some(false) if Instant::now() >= deadline => return false,
            Some(false) => std::thread::sleep(POLL),
        }
    }
}

/// Whether process `pid` has a handler for `signal` (`SigCgt` in its status); `None` when
/// it is gone.
fn catches(pid: u32, signal: nix::sys::signal::Signal) -> Option<bool> {
    let status = crate::host::procfs::read(format!("/proc/{pid}/status")).ok()?;
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())?;
    Some(mask & (1u64 << (signal as i32 - 1)) != 0)
}

/// Whether the service's Node shim is to hand over: its unit is marked so, it runs, and a
/// second process as big as the one running fits under its `MemoryMax` (`max_memory_restart`)
/// beside it. Otherwise the kernel would kill one of them, most likely the old one, at
/// once: a reload because of the memory mark always restarts.
fn hands_over(state: &UnitState) -> bool {
    let Some(service) = &state.service else {
        return false;
    };
    if state.env_var(HANDOVER_VAR) != Some("1") || state.main_pid().is_none() {
        return false;
    }
    let known = |v: Option<u64>| v.filter(|v| *v != u64::MAX);
    match known(service.memory_max) {
        None => true,
        Some(max) => {
            known(service.memory_current).is_some_and(|used| used.saturating_mul(2) <= max)
        }
    }
}

/// The state of `service`, or why it cannot be read, for the user.
fn read_one(client: &Client, service: &str) -> Result<UnitState, String> {
    client
        .read_states(&[service.to_string()])
        .map_err(|e| match systemd::connection_lost(&e) {
            Some(why) => format!("{why} ({e:#})"),
            None => format!("{e:#}"),
        })?
        .pop()
        .ok_or_else(|| format!("systemd reported nothing about {service}"))
}

/// Waits until the service `before` describes has a new main process (the hand-over is
/// done), or its shim reports in the status text that the hand-over failed.
fn handed_over(client: &Client, before: &UnitState, deadline: Instant) -> Result<Ready, String> {
    let service = before.name.clone();
    let old_pid = before.main_pid();
    let old_status = before.service.as_ref().and_then(|s| s.status_text.clone());
    loop {
        let state = read_one(client, &service)?;
        if state.active_state() != "active" {
            let why = format!(
                "{service} is {} ({}) during its hand-over",
                state.active_state(),
                state.sub_state()
            );
            return Err(with_report(client, &service, why));
        }
        if state.main_pid().is_some() && state.main_pid() != old_pid {
            return Ok(Ready::HandedOver);
        }
        let status = state.service.as_ref().and_then(|s| s.status_text.clone());
        if let Some(text) =
            status.filter(|t| t.starts_with(HANDOVER_FAILED) && Some(t) != old_status.as_ref())
        {
            return Err(match new_process_log(client, &service) {
                Some(log) => format!("{text}\nwhat the new process logged:\n{log}"),
                None => text,
            });
        }
        if Instant::now() >= deadline {
            let why = format!(
                "{service}: no new process took over within listen_timeout and {} s more; \
                 the old one keeps serving",
                HANDOVER_SLACK.as_secs()
            );
            return Err(with_report(client, &service, why));
        }
        std::thread::sleep(POLL);
    }
}

/// The readiness of a service whose restart job ended with `outcome`: the job's failure with
/// systemd's account, or what [`wait_ready`] sees.
pub fn ready_after(
    client: &Client,
    outcome: Option<&JobOutcome>,
    unit: &Restarted<'_>,
    deadline: Instant,
) -> Result<Ready, String> {
    match outcome {
        Some(o) if !o.ok() => Err(with_report(client, unit.service, o.why())),
        _ => wait_ready(client, unit, deadline),
    }
}

/// The app's `listen_timeout`, as the store recorded its plan.
fn listen_timeout(store: &Store, p: &Proc) -> Duration {
    store
        .state()
        .app(&p.name)
        .map_or(crate::plan::DEFAULT_LISTEN_TIMEOUT, |app| {
            app.plan.listen_timeout
        })
}

/// A service just (re)started, to wait for.
pub struct Restarted<'a> {
    pub service: &'a str,
    /// It has a socket systemd holds: ready means accepting on it.
    pub socket: bool,
    /// Its `NRestarts` before the restart, when it ran steadily. `None` when systemd may
    /// have been restarting it on its own (a failed version rolled back): the count first
    /// seen after the restart is the one to compare with then.
    pub restarts: Option<u32>,
}

/// Waits until the restarted instance is ready (see the module's doc), or fails if its
/// process does not stay up: it is no longer active, or systemd restarted it on its own
/// (it died at start and `Restart=` brought it back).
pub fn wait_ready(
    client: &Client,
    unit: &Restarted<'_>,
    deadline: Instant,
) -> Result<Ready, String> {
    let service = unit.service.to_string();
    // The process the restart started: another one later means it died and systemd started
    // it again (its NRestarts may have been reset by the restart, so both are watched).
    let mut first_pid: Option<u32> = None;
    let mut baseline = unit.restarts;
    loop {
        let state = read_one(client, &service)?;
        let restarts = state
            .service
            .as_ref()
            .and_then(|s| s.n_restarts)
            .unwrap_or(0);
        let pid = state.main_pid();
        let before = *baseline.get_or_insert(restarts);
        let respawned = restarts > before
            || matches!((first_pid, pid), (Some(first), Some(now)) if first != now);
        if first_pid.is_none() {
            first_pid = pid;
        }
        if state.active_state() != "active" || respawned {
            let why = if respawned {
                format!("{service} exited after it started, and systemd started it again")
            } else {
                format!(
                    "{service} is {} ({}) after its restart",
                    state.active_state(),
                    state.sub_state()
                )
            };
            return Err(with_report(client, &service, why));
        }
        let notify = state
            .service
            .as_ref()
            .and_then(|s| s.service_type.as_deref())
            == Some("notify");
        if notify {
            return Ok(Ready::Notified);
        }
        if !unit.socket {
            return Ok(Ready::Started);
        }
        if state
            .main_pid()
            .is_some_and(readiness::accepting_on_passed_socket)
        {
            return Ok(Ready::Accepting);
        }
        if Instant::now() >= deadline {
            return Ok(Ready::ListenTimeout);
        }
        std::thread::sleep(POLL);
    }
}

/// `why`, followed by systemd's result and the service's last log lines.
pub fn with_report(client: &Client, service: &str, why: String) -> String {
    let report = client.failure_report(service);
    if report.is_empty() {
        why
    } else {
        format!("{why}\n{report}")
    }
}

/// `reload` of `selected` with PM2's lines; true when every instance came back.
pub fn reload_selected(
    client: &Client,
    store: &mut Store,
    selected: &[&Proc],
    parallel: usize,
) -> Result<bool> {
    announce(selected);
    let report = run(client, store, selected, parallel, &mut Printer { done: "" })?;
    Ok(report.all_ok())
}

/// PM2's line per app: `[PM2] Applying action reloadProcessId on app [api](ids: [ 0, 1 ])`.
fn announce(procs: &[&Proc]) {
    let mut by_app: Vec<(&str, Vec<String>)> = Vec::new();
    for p in procs {
        match by_app.iter_mut().find(|(name, _)| *name == p.name) {
            Some((_, ids)) => ids.push(p.pm_id.to_string()),
            None => by_app.push((&p.name, vec![p.pm_id.to_string()])),
        }
    }
    for (name, ids) in by_app {
        println!(
            "[PM2] Applying action reloadProcessId on app [{name}](ids: [ {} ])",
            ids.join(", ")
        );
    }
}

/// Prints each replaced instance as PM2 does; `done` comes before the tick (e.g. `replaced `).
pub struct Printer {
    pub done: &'static str,
}

impl Progress for Printer {
    fn instance(&mut self, p: &Proc, result: &Result<Ready, String>) {
        match result {
            Ok(ready) => {
                let how = if *ready == Ready::ListenTimeout {
                    " (listen_timeout passed)"
                } else {
                    ""
                };
                println!("[PM2] [{}]({}) {}✓{how}", p.name, p.pm_id, self.done);
            }
            Err(why) => {
                eprintln!("[PM2][ERROR] [{}]({}) ✗", p.name, p.pm_id);
                for line in why.lines() {
                    eprintln!("  {line}");
                }
            }
        }
    }

    fn warning(&mut self, text: &str) {
        eprintln!("[PM2][WARN] {text}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::systemd::proxies::ServiceProps;

    fn service(env: &[&str], memory_max: Option<u64>, memory_current: Option<u64>) -> UnitState {
        UnitState {
            name: "pm2ctl-web@0.service".into(),
            service: Some(ServiceProps {
                main_pid: Some(42),
                environment: Some(env.iter().map(|e| e.to_string()).collect()),
                memory_max,
                memory_current,
                ..ServiceProps::default()
            }),
            ..UnitState::default()
        }
    }

    #[test]
    fn a_process_is_seen_to_catch_a_signal_once_it_handles_it() {
        use nix::sys::signal::Signal;
        use std::process::Command;
        // sh handles SIGURG once its trap is set; sleep leaves it at its default.
        let mut trapping = Command::new("sh")
            .args(["-c", "trap : URG; while :; do sleep 0.05; done"])
            .spawn()
            .expect("spawn sh");
        let mut plain = Command::new("sleep").arg("5").spawn().expect("spawn sleep");
        let deadline = Instant::now() + Duration::from_secs(5);
        while catches(trapping.id(), Signal::SIGURG) != Some(true) && Instant::now() < deadline {
            std::thread::sleep(POLL);
        }
        assert_eq!(catches(trapping.id(), Signal::SIGURG), Some(true));
        assert_eq!(catches(plain.id(), Signal::SIGURG), Some(false));
        for child in [&mut trapping, &mut plain] {
            let _ = child.kill();
            let _ = child.wait();
        }
        assert_eq!(catches(u32::MAX, Signal::SIGURG), None);
    }

    #[test]
    fn only_marked_units_hand_over() {
        assert!(hands_over(&service(&["PM2CTL_HANDOVER=1"], None, None)));
        assert!(!hands_over(&service(&[], None, None)));
        assert!(!hands_over(&service(&["PM2CTL_HANDOVER=0"], None, None)));
        let mut stopped = service(&["PM2CTL_HANDOVER=1"], None, None);
        stopped.service.as_mut().unwrap().main_pid = Some(0);
        assert!(!hands_over(&stopped));
    }

    #[test]
    fn a_second_process_must_fit_under_the_memory_limit() {
        let mb = 1 << 20;
        let marked = ["PM2CTL_HANDOVER=1"];
        assert!(hands_over(&service(
            &marked,
            Some(u64::MAX),
            Some(500 * mb)
        )));
        assert!(hands_over(&service(
            &marked,
            Some(200 * mb),
            Some(100 * mb)
        )));
        // Over half the limit (the memory mark is at 90 %): restarted instead.
        assert!(!hands_over(&service(
            &marked,
            Some(200 * mb),
            Some(101 * mb)
        )));
        // A limit, and no figure to compare with it.
        assert!(!hands_over(&service(&marked, Some(200 * mb), None)));
        assert!(!hands_over(&service(
            &marked,
            Some(200 * mb),
            Some(u64::MAX)
        )));
    }
}
