//! PM2's lifecycle verbs against a real systemd: what a user sees after `start`, `stop`,
//! `restart`, `delete`, `scale`, `reset` and `sendSignal`, and which processes a target selects.

use crate::common;

use common::sandbox::{assert_success, fixture, main_pid, stdout};
use common::Sandbox;
use std::collections::BTreeSet;
use std::process::Output;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `pm2ctl ARGS`, which must succeed.
fn pm2ctl(sb: &Sandbox, args: &[&str]) -> Output {
    let out = sb.pm2ctl(args);
    assert_success(&format!("pm2ctl {}", args.join(" ")), &out);
    out
}

fn n_restarts(sb: &Sandbox, unit: &str) -> i64 {
    let out = sb.systemctl(&["show", "--property=NRestarts", "--value", unit]);
    stdout(&out).trim().parse().unwrap_or(0)
}

/// The units systemd has loaded that match `pattern`, sorted (the sandbox's own target,
/// `pm2ctl-sandbox.target`, is not pm2ctl's).
fn units(sb: &Sandbox, pattern: &str) -> Vec<String> {
    let out = sb.systemctl(&["list-units", "--all", "--plain", "--no-legend", pattern]);
    let mut names: Vec<String> = stdout(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "pm2ctl-sandbox.target")
        .map(String::from)
        .collect();
    names.sort();
    names
}

/// pm2ctl's state file in this sandbox, as JSON (`{}` when there is none yet).
fn state(sb: &Sandbox) -> serde_json::Value {
    let text = std::fs::read_to_string(sb.state_dir().join("state.json")).unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(serde_json::json!({}))
}

/// The apps the state lists, with what the user wants of each ("running" / "stopped").
fn listed(sb: &Sandbox) -> Vec<(String, String)> {
    let state = state(sb);
    let Some(apps) = state["apps"].as_object() else {
        return Vec::new();
    };
    apps.iter()
        .map(|(name, app)| (name.clone(), app["desired"].as_str().unwrap_or("").into()))
        .collect()
}

/// `pm2ctl jlist` as (name, status, restart_time) per process, in pm_id order.
fn jlist(sb: &Sandbox) -> Vec<(String, String, i64)> {
    let out = pm2ctl(sb, &["jlist"]);
    let list: serde_json::Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("jlist is not JSON ({e}): {}", stdout(&out)));
    list.as_array()
        .map(|procs| {
            procs
                .iter()
                .map(|p| {
                    let env = &p["pm2_env"];
                    (
                        p["name"].as_str().unwrap_or("").to_string(),
                        env["status"].as_str().unwrap_or("").to_string(),
                        env["restart_time"].as_i64().unwrap_or(-1),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The PIDs answering on `port`: curls until `expected` distinct ones answered (the kernel
/// spreads connections over the instances' sockets), then a few more times to see that no
/// other answers.
fn pids_on_port(sb: &Sandbox, port: u16, expected: usize) -> BTreeSet<u64> {
    let url = format!("http://127.0.0.1:{port}/");
    let mut pids = BTreeSet::new();
    let ask = |pids: &mut BTreeSet<u64>| {
        let out = sb.curl(&url);
        assert_success("curl", &out);
        let body: serde_json::Value = serde_json::from_str(stdout(&out).trim())
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(&out)));
        pids.insert(body["pid"].as_u64().unwrap_or(0));
    };
    sb.wait_for(
        &format!("{expected} distinct PIDs on :{port}"),
        WAIT,
        || {
            ask(&mut pids);
            pids.len() >= expected
        },
    );
    for _ in 0..20 {
        ask(&mut pids);
    }
    pids
}

/// `api` (2 instances, namespace `web`), `admin` (namespace `web`), `worker` (namespace
/// `jobs`): ids 0, 1 (api), 2 (admin), 3 (worker).
fn three_apps(sb: &Sandbox) {
    let signals = fixture("signals.js");
    pm2ctl(
        sb,
        &[
            "start",
            &signals,
            "--uid",
            "root",
            "--name",
            "api",
            "--namespace",
            "web",
            "-i",
            "2",
        ],
    );
    pm2ctl(
        sb,
        &[
            "start",
            &signals,
            "--uid",
            "root",
            "--name",
            "admin",
            "--namespace",
            "web",
        ],
    );
    pm2ctl(
        sb,
        &[
            "start",
            &signals,
            "--uid",
            "root",
            "--name",
            "worker",
            "--namespace",
            "jobs",
        ],
    );
}

const ALL_UNITS: [&str; 4] = [
    "pm2ctl-api@0.service",
    "pm2ctl-api@1.service",
    "pm2ctl-admin@0.service",
    "pm2ctl-worker@0.service",
];

fn active(sb: &Sandbox, units: &[&str]) -> Vec<String> {
    units.iter().map(|u| sb.unit_state(u)).collect()
}

fn pids(sb: &Sandbox) -> Vec<u32> {
    ALL_UNITS.iter().map(|u| main_pid(sb, u)).collect()
}

#[test]
fn scale_4_2_3_changes_the_instances_answering_on_the_shared_port() {
    let sb = Sandbox::boot();
    let http = fixture("http.js");
    pm2ctl(
        &sb,
        &[
            "start", &http, "--uid", "root", "--name", "web", "-i", "4", "--port", "3100",
        ],
    );
    assert_eq!(units(&sb, "pm2ctl-web@*.service").len(), 4);
    let four = pids_on_port(&sb, 3100, 4);
    assert_eq!(four.len(), 4, "4 instances answer: {four:?}");

    let out = pm2ctl(&sb, &["scale", "web", "2"]);
    assert!(stdout(&out).contains("from 4 to 2"), "{}", stdout(&out));
    assert_eq!(
        units(&sb, "pm2ctl-web@*.service"),
        ["pm2ctl-web@0.service", "pm2ctl-web@1.service"]
    );
    assert_eq!(units(&sb, "pm2ctl-web@*.socket").len(), 2);
    let two = pids_on_port(&sb, 3100, 2);
    assert_eq!(two.len(), 2, "2 instances answer: {two:?}");
    assert!(
        two.is_subset(&four),
        "the kept instances were not restarted"
    );

    pm2ctl(&sb, &["scale", "web", "+1"]);
    assert_eq!(units(&sb, "pm2ctl-web@*.service").len(), 3);
    let three = pids_on_port(&sb, 3100, 3);
    assert_eq!(three.len(), 3, "3 instances answer: {three:?}");
    assert!(two.is_subset(&three), "scaling up left the others alone");
    assert_eq!(listed(&sb), [("web".to_string(), "running".to_string())]);
}

#[test]
fn stop_leaves_the_app_listed_as_stopped_and_restart_brings_it_back() {
    let sb = Sandbox::boot();
    three_apps(&sb);
    let before = pids(&sb);

    let out = pm2ctl(&sb, &["stop", "api"]);
    assert!(
        stdout(&out).contains("[PM2] Applying action stopProcessId on app [api](ids: [ 0, 1 ])"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        active(&sb, &ALL_UNITS),
        ["inactive", "inactive", "active", "active"]
    );
    assert!(listed(&sb).contains(&("api".into(), "stopped".into())));
    let statuses: Vec<(String, String)> = jlist(&sb).into_iter().map(|(n, s, _)| (n, s)).collect();
    assert_eq!(
        statuses,
        [
            ("api", "stopped"),
            ("api", "stopped"),
            ("admin", "online"),
            ("worker", "online")
        ]
        .map(|(n, s)| (n.to_string(), s.to_string())),
        "PM2's list shows stopped apps"
    );
    assert_eq!(pids(&sb)[2..], before[2..], "other apps untouched");

    // Still known by name: restart starts it again, as PM2 does for a stopped process.
    pm2ctl(&sb, &["restart", "api"]);
    assert_eq!(active(&sb, &ALL_UNITS[..2]), ["active", "active"]);
    assert!(listed(&sb).contains(&("api".into(), "running".into())));
}

#[test]
fn restart_gives_a_new_pid_and_leaves_others_alone() {
    let sb = Sandbox::boot();
    three_apps(&sb);
    let before = pids(&sb);
    assert!(before.iter().all(|p| *p != 0), "pids before: {before:?}");

    pm2ctl(&sb, &["restart", "worker"]);

    let after = pids(&sb);
    assert_eq!(after[..3], before[..3], "other apps kept their processes");
    assert_ne!(after[3], 0, "worker runs again");
    assert_ne!(after[3], before[3], "worker has a new process");
}

#[test]
fn delete_removes_units_and_state() {
    let sb = Sandbox::boot();
    three_apps(&sb);

    pm2ctl(&sb, &["delete", "web"]);
    let left = units(&sb, "pm2ctl-*");
    assert_eq!(
        left,
        ["pm2ctl-worker.slice", "pm2ctl-worker@0.service"].map(String::from),
        "only worker's units are left"
    );
    assert_eq!(listed(&sb), [("worker".to_string(), "running".to_string())]);
    // Forgotten: the name means nothing any more.
    let out = sb.pm2ctl(&["restart", "api"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // `del` is the same verb.
    pm2ctl(&sb, &["del", "worker"]);
    assert!(units(&sb, "pm2ctl-*").is_empty());
    assert!(listed(&sb).is_empty());
}

#[test]
fn send_signal_reaches_the_app() {
    let sb = Sandbox::boot();
    three_apps(&sb);
    let pid = main_pid(&sb, "pm2ctl-worker@0.service");
    // Node installs the fixture's handlers only once its script runs; SIGUSR2 before that
    // ends the process (seen on systemd 257, which starts it sooner).
    let started = format!("signals fixture started pid={pid}");
    sb.wait_for("the worker's handlers", WAIT, || {
        let journal = sb.journalctl(&["-o", "cat", "-u", "pm2ctl-worker@0.service"]);
        stdout(&journal).contains(&started)
    });

    pm2ctl(&sb, &["sendSignal", "SIGUSR2", "worker"]);

    let expected = format!("received SIGUSR2 {pid}");
    sb.wait_for("the SIGUSR2 journal line", WAIT, || {
        let journal = sb.journalctl(&["-o", "cat", "-u", "pm2ctl-worker@0.service"]);
        stdout(&journal).contains(&expected)
    });
    // Only the target got it, and it still runs.
    let journal = sb.journalctl(&["-o", "cat", "-u", "pm2ctl-admin@0.service"]);
    assert!(
        !stdout(&journal).contains("SIGUSR2"),
        "{}",
        stdout(&journal)
    );
    assert_eq!(main_pid(&sb, "pm2ctl-worker@0.service"), pid);
}

#[test]
fn reset_zeroes_the_restart_count() {
    let sb = Sandbox::boot();
    pm2ctl(
        &sb,
        &[
            "start",
            &fixture("signals.js"),
            "--uid",
            "root",
            "--name",
            "flaky",
        ],
    );
    let unit = "pm2ctl-flaky@0.service";
    // Two crashes (systemd restarts it) and one manual restart.
    for round in 1..=2 {
        let pid = main_pid(&sb, unit);
        assert_success("kill -9", &sb.exec(&["kill", "-9", &pid.to_string()]));
        sb.wait_for(&format!("crash {round} restarted"), WAIT, || {
            n_restarts(&sb, unit) == round && main_pid(&sb, unit) != 0
        });
    }
    pm2ctl(&sb, &["restart", "flaky"]);
    // The count pm2ctl shows: systemd's NRestarts plus the recorded offset.
    let shown = |sb: &Sandbox| {
        let offset = state(sb)["apps"]["flaky"]["instances"][0]["restart_offset"]
            .as_i64()
            .unwrap_or(i64::MIN);
        n_restarts(sb, unit) + offset
    };
    assert_eq!(shown(&sb), 3, "2 crashes and 1 restart");
    assert_eq!(jlist(&sb)[0].2, 3, "jlist's restart_time");

    pm2ctl(&sb, &["reset", "flaky"]);
    assert_eq!(shown(&sb), 0);
    assert_eq!(jlist(&sb)[0].2, 0, "jlist's restart_time after reset");
    assert_eq!(sb.unit_state(unit), "active", "reset touches no process");
}

#[test]
fn targets_select_by_name_namespace_id_regex_and_all() {
    let sb = Sandbox::boot();
    three_apps(&sb);

    // Ids: api 0 and 1, admin 2, worker 3.
    pm2ctl(&sb, &["stop", "1"]);
    assert_eq!(
        active(&sb, &ALL_UNITS),
        ["active", "inactive", "active", "active"]
    );
    pm2ctl(&sb, &["stop", "jobs"]);
    assert_eq!(
        active(&sb, &ALL_UNITS),
        ["active", "inactive", "active", "inactive"]
    );
    pm2ctl(&sb, &["stop", "/^adm/"]);
    assert_eq!(
        active(&sb, &ALL_UNITS),
        ["active", "inactive", "inactive", "inactive"]
    );
    // `all` includes stopped processes: restart starts every one of them.
    pm2ctl(&sb, &["restart", "all"]);
    assert_eq!(active(&sb, &ALL_UNITS), ["active"; 4]);
    pm2ctl(&sb, &["stop", "web"]);
    assert_eq!(
        active(&sb, &ALL_UNITS),
        ["inactive", "inactive", "inactive", "active"]
    );
}

#[test]
fn an_unknown_target_exits_1_and_touches_nothing() {
    let sb = Sandbox::boot();
    three_apps(&sb);
    let before = pids(&sb);
    let state_before = state(&sb);

    for verb in ["stop", "restart", "delete", "reset"] {
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
    let out = sb.pm2ctl(&["scale", "nope", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    assert_eq!(pids(&sb), before, "every process kept running untouched");
    assert_eq!(state(&sb), state_before, "the state is unchanged");
}

#[test]
fn start_passes_arguments_after_the_double_dash_to_every_instance() {
    let sb = Sandbox::boot();
    let out = pm2ctl(
        &sb,
        &[
            "start",
            &fixture("argv.js"),
            "--uid",
            "root",
            "-i",
            "2",
            "--name",
            "x",
            "--",
            "--flag",
            "-v",
        ],
    );
    assert!(stdout(&out).contains("Starting"), "{}", stdout(&out));
    assert_eq!(
        units(&sb, "pm2ctl-x@*.service"),
        ["pm2ctl-x@0.service", "pm2ctl-x@1.service"]
    );
    for i in 0..2 {
        let expected = format!(r#"argv ["--flag","-v"] instance={i}"#);
        sb.wait_for(&format!("instance {i}'s argv line"), WAIT, || {
            let journal = sb.journalctl(&["-o", "cat", "-u", &format!("pm2ctl-x@{i}.service")]);
            stdout(&journal).contains(&expected)
        });
    }
    // Starting the same name again is PM2's duplicate error.
    let again = sb.pm2ctl(&["start", &fixture("argv.js"), "--uid", "root", "--name", "x"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already launched"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn start_of_a_known_name_starts_it_again() {
    let sb = Sandbox::boot();
    three_apps(&sb);
    pm2ctl(&sb, &["stop", "worker"]);
    assert_eq!(sb.unit_state("pm2ctl-worker@0.service"), "inactive");
    pm2ctl(&sb, &["start", "worker"]);
    assert_eq!(sb.unit_state("pm2ctl-worker@0.service"), "active");
}

/// Units pm2ctl owns that its state does not know (left by a pm2ctl killed mid-way, or a
/// state moved aside) can still be stopped and deleted by name.
#[test]
fn units_unknown_to_the_state_can_be_deleted() {
    let sb = Sandbox::boot();
    let out = sb.exec(&[
        "systemd-run",
        "--unit=pm2ctl-ghost@0.service",
        "--slice=pm2ctl-ghost.slice",
        "--property=LogExtraFields=PM2_APP=ghost",
        "/usr/bin/node",
        &fixture("signals.js"),
    ]);
    assert_success("systemd-run", &out);
    pm2ctl(&sb, &["delete", "ghost"]);
    assert!(
        units(&sb, "pm2ctl-ghost*").is_empty(),
        "{:?}",
        units(&sb, "pm2ctl-*")
    );
}
