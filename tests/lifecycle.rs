//! PM2's lifecycle verbs against a real systemd: what a user sees after `stop`, `restart`,
//! `delete` and `sendSignal`, and how targets select processes.

mod common;

use common::sandbox::{assert_success, fixtures_dir, stdout};
use common::Sandbox;
use std::process::Output;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// Starts one instance unit the way pm2ctl names and tags them.
fn run_instance(sb: &Sandbox, name: &str, namespace: &str, index: u32, fixture: &str) {
    let script = fixtures_dir().join(fixture);
    let out = sb.exec(&[
        "systemd-run".to_string(),
        format!("--unit=pm2ctl-{name}@{index}.service"),
        format!("--slice=pm2ctl-{name}.slice"),
        format!("--property=LogExtraFields=PM2_APP={name}"),
        format!("--property=LogExtraFields=PM2_NAMESPACE={namespace}"),
        format!("--property=LogExtraFields=PM2_INSTANCE={index}"),
        "--property=Restart=always".to_string(),
        "--property=KillSignal=SIGINT".to_string(),
        "/usr/bin/node".to_string(),
        script.display().to_string(),
    ]);
    assert_success("systemd-run", &out);
}

/// Three apps: `api` (2 instances, namespace `web`), `admin` (namespace `web`),
/// `worker` (namespace `jobs`).
fn three_apps(sb: &Sandbox) {
    run_instance(sb, "admin", "web", 0, "signals.js");
    run_instance(sb, "api", "web", 0, "signals.js");
    run_instance(sb, "api", "web", 1, "signals.js");
    run_instance(sb, "worker", "jobs", 0, "signals.js");
}

const ALL_UNITS: [&str; 4] = [
    "pm2ctl-admin@0.service",
    "pm2ctl-api@0.service",
    "pm2ctl-api@1.service",
    "pm2ctl-worker@0.service",
];

fn main_pid(sb: &Sandbox, unit: &str) -> u32 {
    let out = sb.systemctl(&["show", "--property=MainPID", "--value", unit]);
    stdout(&out).trim().parse().unwrap_or(0)
}

fn active(sb: &Sandbox, units: &[&str]) -> Vec<String> {
    units.iter().map(|u| sb.unit_state(u)).collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn stop_by_name_stops_only_that_app() {
    let sb = Sandbox::boot();
    three_apps(&sb);

    let out = sb.pm2ctl(&["stop", "api"]);
    assert_success("pm2ctl stop api", &out);

    assert_eq!(
        active(&sb, &ALL_UNITS),
        ["active", "inactive", "inactive", "active"]
    );
    assert!(
        stdout(&out).contains("[PM2] Applying action stopProcessId on app [api]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn restart_gives_a_new_pid_and_leaves_others_alone() {
    let sb = Sandbox::boot();
    three_apps(&sb);
    let before: Vec<u32> = ALL_UNITS.iter().map(|u| main_pid(&sb, u)).collect();
    assert!(before.iter().all(|p| *p != 0), "pids before: {before:?}");

    assert_success("pm2ctl restart worker", &sb.pm2ctl(&["restart", "worker"]));

    let after: Vec<u32> = ALL_UNITS.iter().map(|u| main_pid(&sb, u)).collect();
    assert_eq!(after[..3], before[..3], "other apps kept their processes");
    assert_ne!(after[3], 0, "worker runs again");
    assert_ne!(after[3], before[3], "worker has a new process");
}

#[test]
fn delete_by_namespace_removes_its_units_and_slices() {
    let sb = Sandbox::boot();
    three_apps(&sb);

    assert_success("pm2ctl delete web", &sb.pm2ctl(&["delete", "web"]));

    let listed = sb.systemctl(&["list-units", "--all", "--plain", "--no-legend", "pm2ctl-*"]);
    let listed = stdout(&listed);
    assert!(!listed.contains("pm2ctl-api"), "api units left:\n{listed}");
    assert!(
        !listed.contains("pm2ctl-admin"),
        "admin units left:\n{listed}"
    );
    assert!(
        listed.contains("pm2ctl-worker@0.service"),
        "worker gone too:\n{listed}"
    );
    // `del` is the same verb.
    assert_success("pm2ctl del worker", &sb.pm2ctl(&["del", "worker"]));
    assert_eq!(sb.unit_state("pm2ctl-worker@0.service"), "inactive");
}

#[test]
fn send_signal_reaches_the_app() {
    let sb = Sandbox::boot();
    three_apps(&sb);
    let pid = main_pid(&sb, "pm2ctl-worker@0.service");

    assert_success(
        "pm2ctl sendSignal SIGUSR2 worker",
        &sb.pm2ctl(&["sendSignal", "SIGUSR2", "worker"]),
    );

    let expected = format!("received SIGUSR2 {pid}");
    sb.wait_for("the SIGUSR2 journal line", WAIT, || {
        let journal = sb.journalctl(&["-o", "cat", "-u", "pm2ctl-worker@0.service"]);
        stdout(&journal).contains(&expected)
    });
    // Only the target got it.
    let journal = sb.journalctl(&["-o", "cat", "-u", "pm2ctl-admin@0.service"]);
    assert!(
        !stdout(&journal).contains("SIGUSR2"),
        "{}",
        stdout(&journal)
    );
    assert_eq!(
        main_pid(&sb, "pm2ctl-worker@0.service"),
        pid,
        "still running"
    );
}

#[test]
fn targets_select_by_id_regex_and_all() {
    let sb = Sandbox::boot();
    three_apps(&sb);

    // Ids follow the process list: admin 0, api 1 and 2, worker 3.
    assert_success("pm2ctl stop 2", &sb.pm2ctl(&["stop", "2"]));
    assert_eq!(
        active(&sb, &ALL_UNITS),
        ["active", "active", "inactive", "active"]
    );

    assert_success("pm2ctl stop /^a/", &sb.pm2ctl(&["stop", "/^a/"]));
    assert_eq!(
        active(&sb, &ALL_UNITS),
        ["inactive", "inactive", "inactive", "active"]
    );

    assert_success("pm2ctl restart all", &sb.pm2ctl(&["restart", "all"]));
    assert_eq!(
        active(&sb, &ALL_UNITS[3..]),
        ["active"],
        "all restarts what is listed"
    );
}

#[test]
fn an_unknown_target_exits_1_and_touches_nothing() {
    let sb = Sandbox::boot();
    three_apps(&sb);
    let before: Vec<u32> = ALL_UNITS.iter().map(|u| main_pid(&sb, u)).collect();

    for verb in ["stop", "restart", "delete"] {
        let out = sb.pm2ctl(&[verb, "api", "nope"]);
        assert_eq!(out.status.code(), Some(1), "{verb}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("[PM2][ERROR] Process or Namespace nope not found"),
            "{verb}: {}",
            stderr(&out)
        );
    }
    let out = sb.pm2ctl(&["sendSignal", "SIGUSR2", "42"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("[PM2][ERROR] Process 42 not found"),
        "{}",
        stderr(&out)
    );

    let after: Vec<u32> = ALL_UNITS.iter().map(|u| main_pid(&sb, u)).collect();
    assert_eq!(after, before, "every process kept running untouched");
}
