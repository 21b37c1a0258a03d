//! `list`, `jlist`, `prettylist`, `show` and `monit` as a user sees them, against apps that
//! `pm2ctl apply` started in a sandboxed systemd.

use crate::common;

use common::sandbox::{assert_success, fixture, stdout};
use common::Sandbox;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

/// A bound against hanging, not a claim about speed.
const PATIENCE: Duration = Duration::from_secs(60);

fn workdir(test: &str) -> PathBuf {
    common::sandbox::workdir("list", test)
}

/// `web`: http.js in cluster mode, 2 instances on a shared port; `worker`: signals.js in
/// fork mode. Applied and waited for; returns the directory of the ecosystem file (the apps'
/// working directory).
fn start_two_apps(sb: &Sandbox, test: &str) -> PathBuf {
    let dir = workdir(test);
    let file = dir.join("ecosystem.toml");
    let toml = format!(
        "[[apps]]\nuser = \"root\"\nname = \"web\"\nscript = \"{}\"\ninstances = 2\nexec_mode = \"cluster\"\n\
         port = 3100\nmax_memory_restart = \"200M\"\n\n\
         [[apps]]\nuser = \"root\"\nname = \"worker\"\nscript = \"{}\"\n",
        fixture("http.js"),
        fixture("signals.js")
    );
    std::fs::write(&file, toml).expect("write the ecosystem file");
    let out = sb.pm2ctl(&["apply", &file.display().to_string()]);
    assert_success("pm2ctl apply", &out);
    for unit in [
        "pm2ctl-web@0.service",
        "pm2ctl-web@1.service",
        "pm2ctl-worker@0.service",
    ] {
        // Socket-activated instances start on their first connection; start them now.
        assert_success("systemctl start", &sb.systemctl(&["start", unit]));
        sb.wait_for(&format!("{unit} active"), PATIENCE, || {
            sb.unit_state(unit) == "active"
        });
    }
    dir
}

fn main_pid(sb: &Sandbox, unit: &str) -> u64 {
    stdout(&sb.systemctl(&["show", "-P", "MainPID", unit]))
        .trim()
        .parse()
        .unwrap_or(0)
}

fn json_of(sb: &Sandbox, args: &[&str]) -> Value {
    let out = sb.pm2ctl(args);
    assert_success(&format!("pm2ctl {}", args.join(" ")), &out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "pm2ctl {} printed no JSON ({e}):\n{}",
            args.join(" "),
            stdout(&out)
        )
    })
}

/// The `jlist` entry of `name`'s instance `index`.
fn entry<'a>(list: &'a Value, name: &str, index: u64) -> &'a Value {
    list.as_array()
        .expect("jlist is an array")
        .iter()
        .find(|e| e["name"] == name && e["pm2_env"]["NODE_APP_INSTANCE"] == index)
        .unwrap_or_else(|| panic!("no {name} #{index} in {list:#}"))
}

#[test]
fn list_shows_every_instance_online_with_its_own_pid() {
    let sb = Sandbox::boot();
    let _ = start_two_apps(&sb, "online");

    // Through a pipe: the table without colors.
    let out = sb.pm2ctl(&["list"]);
    assert_success("pm2ctl list", &out);
    let table = stdout(&out);
    assert!(!table.contains('\u{1b}'), "colors in a pipe:\n{table}");
    for heading in [
        "id",
        "name",
        "namespace",
        "mode",
        "pid",
        "uptime",
        "↺",
        "status",
    ] {
        assert!(table.contains(heading), "no {heading} column:\n{table}");
    }
    let rows: Vec<&str> = table.lines().filter(|l| l.contains("online")).collect();
    assert_eq!(rows.len(), 3, "three online rows expected:\n{table}");
    assert_eq!(
        rows.iter()
            .filter(|r| r.contains(" web ") && r.contains("cluster"))
            .count(),
        2,
        "{table}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains(" worker ") && r.contains("fork")),
        "{table}"
    );

    // The aliases print the same table.
    for alias in ["ls", "status", "l"] {
        let out = sb.pm2ctl(&[alias]);
        assert_success(alias, &out);
        assert_eq!(
            stdout(&out).lines().count(),
            table.lines().count(),
            "{alias}"
        );
    }

    let rows = json_of(&sb, &["list", "--json"]);
    let rows = rows.as_array().expect("an array of rows");
    assert_eq!(rows.len(), 3, "{rows:#?}");
    let pids: BTreeSet<u64> = rows.iter().filter_map(|r| r["pid"].as_u64()).collect();
    assert_eq!(pids.len(), 3, "distinct pids: {rows:#?}");
    assert!(!pids.contains(&0), "{rows:#?}");
    for row in rows {
        assert_eq!(row["status"], "online", "{row:#}");
        assert!(row["memory"].as_u64().unwrap_or(0) > 0, "{row:#}");
        assert!(row["cpu"].is_number(), "{row:#}");
        assert_eq!(row["user"], "root", "{row:#}");
    }
}

#[test]
fn jlist_has_pm2s_shape_and_counts_restarts() {
    let sb = Sandbox::boot();
    let dir = start_two_apps(&sb, "jlist");

    let out = sb.pm2ctl(&["jlist"]);
    assert_success("pm2ctl jlist", &out);
    assert!(
        !out.stdout.ends_with(b"\n"),
        "PM2 writes jlist without a newline"
    );
    let list: Value = serde_json::from_slice(&out.stdout).expect("jlist is JSON");
    let entries = list.as_array().expect("jlist is an array");
    assert_eq!(entries.len(), 3);

    let ids: Vec<u64> = entries
        .iter()
        .map(|e| e["pm_id"].as_u64().expect("pm_id is a number"))
        .collect();
    assert_eq!(ids, [0, 1, 2], "sorted by pm_id, numbered from 0");
    for e in entries {
        let keys: Vec<&String> = e.as_object().expect("an object").keys().collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
        let env = &e["pm2_env"];
        assert_eq!(env["pm_id"], e["pm_id"]);
        assert_eq!(env["name"], e["name"]);
        assert_eq!(env["status"], "online");
        assert_eq!(env["namespace"], "default");
        assert_eq!(env["restart_time"], 0);
        assert_eq!(env["unstable_restarts"], 0);
        assert!(
            env["pm_uptime"].as_u64().unwrap_or(0) > 1_700_000_000_000,
            "{env:#}"
        );
        assert!(
            env["created_at"].as_u64().unwrap_or(0) > 1_700_000_000_000,
            "{env:#}"
        );
        assert!(env["env"].is_object(), "{env:#}");
        assert_eq!(env["pm_cwd"], dir.display().to_string());
        assert!(e["monit"]["memory"].as_u64().unwrap_or(0) > 0, "{e:#}");
        assert!(e["monit"]["cpu"].is_number(), "{e:#}");
        let unit = format!(
            "pm2ctl-{}@{}.service",
            e["name"].as_str().unwrap_or_default(),
            env["NODE_APP_INSTANCE"]
        );
        assert_eq!(e["pid"].as_u64(), Some(main_pid(&sb, &unit)), "{unit}");
    }
    let web = entry(&list, "web", 1);
    assert_eq!(web["pm2_env"]["exec_mode"], "cluster_mode");
    assert_eq!(web["pm2_env"]["instances"], 2);
    assert_eq!(web["pm2_env"]["pm_exec_path"], fixture("http.js"));
    assert_eq!(web["pm2_env"]["exec_interpreter"], "node");
    assert_eq!(web["pm2_env"]["max_memory_restart"], 200 * 1024 * 1024);
    assert_eq!(web["pm2_env"]["env"]["PORT"], "3100");
    let worker = entry(&list, "worker", 0);
    assert_eq!(worker["pm2_env"]["exec_mode"], "fork_mode");
    assert_eq!(worker["pm2_env"]["instances"], 1);
    // No package.json above the fixtures: PM2 says N/A.
    assert_eq!(worker["pm2_env"]["version"], "N/A", "{worker:#}");
    assert_eq!(worker["pm2_env"]["unit"], "pm2ctl-worker@0.service");
    assert_eq!(worker["pm2_env"]["autorestart"], true);
    assert_eq!(worker["pm2_env"]["username"], "root");
    assert_eq!(worker["pm2_env"]["exec_interpreter"], "node");
    assert!(worker["pm2_env"]["axm_actions"]
        .as_array()
        .is_some_and(|a| a.is_empty()));

    // A crash: systemd restarts the process, and PM2's restart_time counts it.
    let before = main_pid(&sb, "pm2ctl-worker@0.service");
    assert_success("kill -9", &sb.exec(&["kill", "-9", &before.to_string()]));
    sb.wait_for("a new worker process", PATIENCE, || {
        let now = main_pid(&sb, "pm2ctl-worker@0.service");
        now != 0 && now != before
    });
    let list = json_of(&sb, &["jlist"]);
    let worker = entry(&list, "worker", 0);
    assert_eq!(worker["pm2_env"]["restart_time"], 1, "{worker:#}");
    assert_eq!(
        worker["pid"].as_u64(),
        Some(main_pid(&sb, "pm2ctl-worker@0.service"))
    );
    assert_eq!(entry(&list, "web", 0)["pm2_env"]["restart_time"], 0);

    // An app with a package.json next to its script reports that version, as PM2 does.
    let app_dir = dir.join("versioned");
    std::fs::create_dir_all(&app_dir).expect("create the app's directory");
    std::fs::copy(fixture("signals.js"), app_dir.join("main.js")).expect("copy the app");
    std::fs::write(
        app_dir.join("package.json"),
        r#"{ "name": "versioned", "version": "3.1.4" }"#,
    )
    .expect("write package.json");
    let file = dir.join("versioned.toml");
    std::fs::write(
        &file,
        format!(
            "[[apps]]\nuser = \"root\"\nname = \"versioned\"\nscript = \"{}\"\n",
            app_dir.join("main.js").display()
        ),
    )
    .expect("write the ecosystem file");
    assert_success(
        "pm2ctl apply",
        &sb.pm2ctl(&["apply", &file.display().to_string()]),
    );
    sb.wait_for("versioned online", PATIENCE, || {
        sb.unit_state("pm2ctl-versioned@0.service") == "active"
    });
    let list = json_of(&sb, &["jlist"]);
    let versioned = entry(&list, "versioned", 0);
    assert_eq!(versioned["pm2_env"]["version"], "3.1.4", "{versioned:#}");
    assert_eq!(versioned["pm2_env"]["status"], "online");
    assert_eq!(versioned["pm_id"], 3, "the next pm_id");

    // prettylist: the same list as a JavaScript literal.
    let out = sb.pm2ctl(&["prettylist"]);
    assert_success("pm2ctl prettylist", &out);
    let text = stdout(&out);
    for needle in [
        "status: 'online'",
        "restart_time: 1",
        "exec_mode: 'cluster_mode'",
        "NODE_APP_INSTANCE: 1",
        "name: 'worker'",
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
}

#[test]
fn a_stopped_app_stays_listed_as_stopped() {
    let sb = Sandbox::boot();
    let _ = start_two_apps(&sb, "stopped");
    assert_success("pm2ctl stop worker", &sb.pm2ctl(&["stop", "worker"]));

    let rows = json_of(&sb, &["list", "--json"]);
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 3, "the stopped app is still listed: {rows:#?}");
    let worker = rows
        .iter()
        .find(|r| r["name"] == "worker")
        .expect("worker listed");
    assert_eq!(worker["status"], "stopped");
    assert_eq!(worker["pid"], 0);
    assert_eq!(worker["memory"], 0);
    assert!(rows
        .iter()
        .filter(|r| r["name"] == "web")
        .all(|r| r["status"] == "online"));

    let list = json_of(&sb, &["jlist"]);
    let worker = entry(&list, "worker", 0);
    assert_eq!(worker["pid"], 0);
    assert_eq!(worker["pm2_env"]["status"], "stopped");
    assert_eq!(worker["monit"]["memory"], 0);
    assert_eq!(worker["pm2_env"]["pm_exec_path"], fixture("signals.js"));

    let table = stdout(&sb.pm2ctl(&["list"]));
    assert!(
        table
            .lines()
            .any(|l| l.contains(" worker ") && l.contains("stopped")),
        "{table}"
    );
}

#[test]
fn show_describes_one_app_and_refuses_unknown_ones() {
    let sb = Sandbox::boot();
    let _ = start_two_apps(&sb, "show");

    let out = sb.pm2ctl(&["show", "web"]);
    assert_success("pm2ctl show web", &out);
    let text = stdout(&out);
    for needle in [
        "Describing app web (2 instances, cluster mode)",
        "pm2ctl-web.slice",
        "pm2ctl-web@0.service",
        "pm2ctl-web@1.service",
        "pm2ctl-web@0.socket",
        "MemoryMax",
        "200.0mb",
        "Restart=always",
        "online",
        "systemctl status pm2ctl-web@0.service pm2ctl-web@1.service",
        "journalctl PM2_APP=web _SYSTEMD_SLICE=pm2ctl-web.slice -f",
        "PORT=3100",
        "Last 10 log lines",
    ] {
        assert!(text.contains(needle), "{needle:?} not in:\n{text}");
    }
    assert!(text.contains(&fixture("http.js")), "{text}");

    // By pm_id, and through PM2's alias.
    let by_id = stdout(&sb.pm2ctl(&["describe", "2"]));
    assert!(by_id.contains("Describing app worker"), "{by_id}");

    let out = sb.pm2ctl(&["show", "nope"]);
    assert_eq!(out.status.code(), Some(1), "unknown app: exit 1");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("[PM2][WARN] nope doesn't exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What tmux shows in the pane of session `session`, inside the sandbox.
fn pane(sb: &Sandbox, session: &str) -> String {
    stdout(&sb.exec(&["tmux", "capture-pane", "-p", "-t", session]))
}

#[test]
fn monit_shows_the_apps_in_a_terminal_and_quits_cleanly() {
    let sb = Sandbox::boot();
    let _ = start_two_apps(&sb, "monit");

    // A shell in an 80x24 tmux pane runs monit, then reports its exit status and whether
    // the terminal is back in canonical (cooked) mode.
    let session = "monit";
    assert_success(
        "tmux new-session",
        &sb.exec(&[
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "80",
            "-y",
            "24",
            "sh",
        ]),
    );
    let command = format!(
        "{} monit; echo \"EXIT=$?\"; stty -a | grep -o -- '-*icanon'",
        common::sandbox::sh(common::sandbox::PM2CTL)
    );
    assert_success(
        "tmux send-keys",
        &sb.exec(&["tmux", "send-keys", "-t", session, "-l", &command]),
    );
    assert_success(
        "tmux send-keys Enter",
        &sb.exec(&["tmux", "send-keys", "-t", session, "Enter"]),
    );

    sb.wait_for("monit to show both apps", PATIENCE, || {
        let screen = pane(&sb, session);
        screen.contains("worker") && screen.contains("web") && screen.contains("online")
    });
    let screen = pane(&sb, session);
    assert!(screen.contains("pm2ctl processes"), "{screen}");
    assert!(screen.contains("web logs"), "first row selected:\n{screen}");

    // j twice: from web #0 to worker; its logs replace web's.
    for _ in 0..2 {
        assert_success(
            "tmux send-keys j",
            &sb.exec(&["tmux", "send-keys", "-t", session, "j"]),
        );
    }
    sb.wait_for("the worker to be selected", PATIENCE, || {
        pane(&sb, session).contains("worker logs")
    });
    // k goes back up.
    assert_success(
        "tmux send-keys k",
        &sb.exec(&["tmux", "send-keys", "-t", session, "k"]),
    );
    sb.wait_for("web to be selected again", PATIENCE, || {
        pane(&sb, session).contains("web logs")
    });

    assert_success(
        "tmux send-keys q",
        &sb.exec(&["tmux", "send-keys", "-t", session, "q"]),
    );
    // The typed command line contains `EXIT=` too; the echo's output starts a line.
    let exit_line = |screen: &str| {
        screen
            .lines()
            .find(|l| l.starts_with("EXIT="))
            .map(str::to_owned)
    };
    sb.wait_for("monit to exit", PATIENCE, || {
        exit_line(&pane(&sb, session)).is_some()
    });
    let screen = pane(&sb, session);
    assert_eq!(exit_line(&screen).as_deref(), Some("EXIT=0"), "{screen}");
    // Back on the main screen, in cooked mode.
    assert!(!screen.contains("pm2ctl processes"), "{screen}");
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "the terminal is still raw:\n{screen}"
    );
    let _ = sb.exec(&["tmux", "kill-server"]);
}

/// What `systemctl show` says of `units`, one map of property → value per unit, in one call.
fn systemd_says(
    sb: &Sandbox,
    units: &[String],
    properties: &str,
) -> Vec<std::collections::HashMap<String, String>> {
    let mut args = vec!["show".to_string(), "-p".to_string(), properties.to_string()];
    args.extend(units.iter().cloned());
    let out = sb.systemctl(&args);
    assert_success("systemctl show", &out);
    stdout(&out)
        .split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            block
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// `list` reads running instances from their cgroups and `/proc`, not from systemd one by one:
/// at a hundred instances, every figure it shows still is systemd's (pid, restarts, start
/// time, the cgroup's memory, where the CPU figure comes from), on whatever cgroup version
/// the sandboxed systemd runs.
#[test]
fn list_figures_agree_with_systemd_at_a_hundred_instances() {
    const N: usize = 100;
    let sb = Sandbox::boot();
    let dir = workdir("hundred");
    let file = dir.join("ecosystem.toml");
    std::fs::write(
        &file,
        format!(
            "[[apps]]\nuser = \"root\"\nname = \"sleepers\"\nscript = \"/bin/sleep\"\n\
             args = \"infinity\"\ninterpreter = \"none\"\ninstances = {N}\n"
        ),
    )
    .expect("write the ecosystem file");
    assert_success(
        "pm2ctl apply",
        &sb.pm2ctl(&["apply", &file.display().to_string()]),
    );
    let units: Vec<String> = (0..N)
        .map(|i| format!("pm2ctl-sleepers@{i}.service"))
        .collect();
    // Listed once before the crash: the count read then is remembered for that process, and
    // the crash must still be counted (a new process is asked again).
    let rows = json_of(&sb, &["list", "--json"]);
    assert_eq!(rows[7]["restarts"], 0, "{rows:#}");
    // One crash, so one instance has a restart to count.
    let before = main_pid(&sb, &units[7]);
    assert_success("kill -9", &sb.exec(&["kill", "-9", &before.to_string()]));
    sb.wait_for("a new sleeper #7", PATIENCE, || {
        let now = main_pid(&sb, &units[7]);
        now != 0 && now != before && sb.unit_state(&units[7]) == "active"
    });

    let rows = json_of(&sb, &["list", "--json"]);
    let rows = rows.as_array().expect("an array of rows");
    let systemd = systemd_says(
        &sb,
        &units,
        "Id,ActiveState,MainPID,NRestarts,MemoryCurrent,CPUUsageNSec,ExecMainStartTimestamp",
    );
    assert_eq!(rows.len(), N, "{rows:#?}");
    assert_eq!(systemd.len(), N);
    let now_ms = |sb: &Sandbox| -> u64 {
        stdout(&sb.exec(&["date", "+%s%3N"]))
            .trim()
            .parse()
            .expect("date prints ms")
    };
    let taken_ms = now_ms(&sb);
    for s in &systemd {
        let row = rows
            .iter()
            .find(|r| r["unit"] == s["Id"].as_str())
            .unwrap_or_else(|| panic!("no row for {}", s["Id"]));
        let what = format!("{row:#}\nsystemd: {s:#?}");
        assert_eq!(s["ActiveState"], "active", "{what}");
        assert_eq!(row["status"], "online", "{what}");
        assert_eq!(row["pid"].to_string(), s["MainPID"], "{what}");
        assert_eq!(row["restarts"].to_string(), s["NRestarts"], "{what}");
        let restarted = u64::from(s["Id"] == units[7]);
        assert_eq!(row["restarts"], restarted, "{what}");
        // systemd prints the start to the second: the uptime agrees to within that.
        let start = stdout(&sb.exec(&["date", "-d", &s["ExecMainStartTimestamp"], "+%s"]));
        let start_ms: u64 = start.trim().parse::<u64>().expect("a start time") * 1000;
        let uptime = row["uptime_ms"].as_u64().expect("an uptime");
        let expected = taken_ms.saturating_sub(start_ms);
        assert!(
            uptime + 1000 >= expected.saturating_sub(5000) && uptime <= expected + 1000,
            "uptime {uptime} ms, systemd's start {expected} ms ago\n{what}"
        );
        // The cgroup's memory: there exactly where systemd counts it, and about the same.
        match s["MemoryCurrent"].parse::<u64>() {
            Ok(bytes) => {
                let ours = row["cgroup_memory"].as_u64().expect("cgroup memory");
                assert!(
                    ours.abs_diff(bytes) <= bytes / 4 + 256 * 1024,
                    "cgroup memory {ours} vs systemd's {bytes}\n{what}"
                );
            }
            Err(_) => assert!(row["cgroup_memory"].is_null(), "{what}"),
        }
        let cpu_source = if s["CPUUsageNSec"].parse::<u64>().is_ok() {
            "systemd (CPUUsageNSec)"
        } else {
            "/proc of the main process"
        };
        assert_eq!(row["cpu_source"], cpu_source, "{what}");
        assert!(row["memory"].as_u64().unwrap_or(0) > 0, "{what}");
    }

    // jlist and the table agree with the rows.
    let list = json_of(&sb, &["jlist"]);
    assert_eq!(list.as_array().map(Vec::len), Some(N));
    assert_eq!(entry(&list, "sleepers", 7)["pm2_env"]["restart_time"], 1);
    let table = stdout(&sb.pm2ctl(&["list"]));
    assert_eq!(
        table.lines().filter(|l| l.contains("online")).count(),
        N,
        "{table}"
    );
}
