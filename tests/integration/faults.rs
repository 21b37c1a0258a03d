//! Faults injected at exact steps of `apply` and `reload`, in a sandboxed systemd: pm2ctl
//! killed with SIGKILL, dbus-daemon restarted, `systemctl daemon-reload`, a full state store.
//! After each, every app must still serve on its socket-activated port and the next `apply`
//! must converge: no app lost, nothing left to change, systemd running exactly the file.
//!
//! The steps are pm2ctl's checkpoints (`PM2CTL_STOP_AT`, src/checkpoint.rs): pm2ctl stops
//! itself there, the test sees it stopped in /proc, does its harm, and kills it or lets it go
//! on. No sleep stands in for "it has got that far".

use crate::common;

use common::sandbox::{assert_success, fixture, sh, show, stdout, PM2CTL};
use common::Sandbox;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

/// A bound against hanging, not a claim about speed.
const PATIENCE: Duration = Duration::from_secs(60);

/// One app of the test file: its name, port and instance count.
struct App {
    name: &'static str,
    port: u16,
    instances: u32,
}

/// A cluster app and a fork-mode app, each on its own port.
fn apps(base_port: u16) -> [App; 2] {
    [
        App {
            name: "web",
            port: base_port,
            instances: 2,
        },
        App {
            name: "api",
            port: base_port + 1,
            instances: 1,
        },
    ]
}

/// The ecosystem file for `apps`, every app's environment carrying `mark` (a new mark
/// replaces every app).
fn ecosystem(apps: &[App], mark: &str) -> String {
    apps.iter()
        .map(|a| {
            let mode = if a.instances > 1 {
                format!("exec_mode = \"cluster\"\ninstances = {}\n", a.instances)
            } else {
                String::new()
            };
            format!(
                "[[apps]]\nuser = \"root\"\nname = \"{}\"\nscript = \"{}\"\nport = {}\n{mode}\
                 env = {{ MARK = \"{mark}\" }}\n\n",
                a.name,
                fixture("http.js"),
                a.port
            )
        })
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write the ecosystem file");
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// How a pm2ctl run under a fault ended.
struct Faulted {
    /// It reached the checkpoint and stopped there.
    stopped: bool,
    /// Its exit status; `None` when killed by a signal.
    code: Option<i32>,
    /// What it printed (stdout and stderr).
    output: String,
}

/// Runs `pm2ctl ARGS` with `PM2CTL_STOP_AT=point` (no checkpoint when `None`), waits until it
/// stopped there, then runs the shell text `fault` (`$pid` is pm2ctl's pid; the fault decides
/// whether to `kill -9` or `kill -CONT` it) and waits for pm2ctl to end.
fn run_with_fault(sb: &Sandbox, point: Option<&str>, fault: &str, args: &[&str]) -> Faulted {
    let stop = point.map_or(String::new(), |p| format!("PM2CTL_STOP_AT='{p}' "));
    let script = format!(
        "state() {{ cut -d' ' -f3 /proc/$pid/stat 2>/dev/null; }}\n\
         {stop}{pm2ctl} {args} >/tmp/faulted.out 2>&1 & pid=$!\n\
         if [ -n '{point}' ]; then\n\
           i=0; while [ -e /proc/$pid ] && [ \"$(state)\" != T ] && [ $i -lt 1200 ]; do\n\
             sleep 0.05; i=$((i+1)); done\n\
           [ \"$(state)\" = T ] && echo stopped\n\
         fi\n\
         {fault}\n\
         wait $pid; echo \"exit=$?\"; echo ---; cat /tmp/faulted.out",
        pm2ctl = sh(PM2CTL),
        args = args.iter().map(sh).collect::<Vec<_>>().join(" "),
        point = point.unwrap_or(""),
    );
    let out = sb.exec(&["sh", "-c", &script]);
    let text = stdout(&out);
    let (head, output) = text.split_once("---\n").unwrap_or((&text, ""));
    let status: i32 = head
        .lines()
        .find_map(|l| l.strip_prefix("exit="))
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no exit status in:\n{text}\n{}", stderr(&out)));
    Faulted {
        stopped: head.lines().any(|l| l == "stopped"),
        code: (status < 128).then_some(status),
        output: output.to_owned(),
    }
}

/// The pid an http.js app reports for a request on `port`, if it answers.
fn pid_on(sb: &Sandbox, port: u16) -> Option<u64> {
    let out = sb.curl(&format!("http://127.0.0.1:{port}/"));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    body["pid"].as_u64()
}

/// Every app answers on its port.
fn assert_serving(sb: &Sandbox, apps: &[App]) {
    for app in apps {
        sb.wait_for(
            &format!("{} to answer on port {}", app.name, app.port),
            PATIENCE,
            || pid_on(sb, app.port).is_some(),
        );
    }
}

/// The main pid of every instance of `apps`.
fn main_pids(sb: &Sandbox, apps: &[App]) -> Vec<String> {
    apps.iter()
        .flat_map(|a| (0..a.instances).map(move |i| format!("pm2ctl-{}@{i}.service", a.name)))
        .map(|unit| show(sb, &unit, "MainPID"))
        .collect()
}

/// The next `apply` converges: it succeeds, a dry run after it has nothing to change, every
/// app serves with the file's definition (`mark`), `pm2ctl jlist` shows exactly the file's
/// instances online, and systemd has no pm2ctl unit beyond them, none down.
fn assert_converged(sb: &Sandbox, file: &str, apps: &[App], mark: &str) {
    assert_success("the apply after the fault", &sb.pm2ctl(&["apply", file]));
    let dry = sb.pm2ctl(&["apply", file, "--dry-run"]);
    assert_success("apply --dry-run", &dry);
    assert!(
        stdout(&dry).contains("nothing to change"),
        "drift after converging:\n{}",
        stdout(&dry)
    );
    assert_serving(sb, apps);

    let jlist = sb.pm2ctl(&["jlist"]);
    assert_success("jlist", &jlist);
    let procs: Vec<serde_json::Value> =
        serde_json::from_slice(&jlist.stdout).expect("jlist prints JSON");
    let listed: BTreeSet<(String, String)> = procs
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_owned(),
                p["pm2_env"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    let wanted: BTreeSet<(String, String)> = apps
        .iter()
        .map(|a| (a.name.to_owned(), "online".to_owned()))
        .collect();
    assert_eq!(listed, wanted, "jlist: {}", stdout(&jlist));
    for app in apps {
        let count = procs.iter().filter(|p| p["name"] == app.name).count();
        assert_eq!(count, app.instances as usize, "instances of {}", app.name);
        for i in 0..app.instances {
            let unit = format!("pm2ctl-{}@{i}.service", app.name);
            let env = show(sb, &unit, "Environment");
            assert!(env.contains(&format!("MARK={mark}")), "{unit}: {env}");
        }
    }

    let units =
        stdout(&sb.systemctl(&["list-units", "pm2ctl-*", "--all", "--plain", "--no-legend"]));
    for line in units.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [unit, _load, active, ..] = fields[..] else {
            continue;
        };
        if unit == "pm2ctl-sandbox.target" {
            continue;
        }
        let owner = unit
            .strip_prefix("pm2ctl-")
            .and_then(|r| r.split(['@', '.']).next())
            .unwrap_or_default();
        let index = unit
            .split_once('@')
            .and_then(|(_, r)| r.split('.').next())
            .and_then(|i| i.parse::<u32>().ok());
        let app = apps.iter().find(|a| a.name == owner);
        assert!(
            app.is_some_and(|a| index.is_none_or(|i| i < a.instances)),
            "systemd runs {unit}, which the file does not have:\n{units}"
        );
        assert_eq!(active, "active", "{unit} is not active:\n{units}");
    }
}

/// Boots a sandbox, applies `apps` with mark `m0` and waits until they serve.
fn start(test: &str, apps: &[App]) -> (Sandbox, std::path::PathBuf, String) {
    let sb = Sandbox::boot();
    let dir = common::sandbox::workdir("faults", test);
    let path = dir.join("ecosystem.toml");
    write(&path, &ecosystem(apps, "m0"));
    let file = path.display().to_string();
    assert_success("first apply", &sb.pm2ctl(&["apply", &file]));
    assert_serving(&sb, apps);
    (sb, path, file)
}

#[test]
fn an_apply_killed_at_any_step_is_completed_by_the_next_one() {
    let apps = apps(4301);
    let (sb, path, file) = start("apply-killed", &apps);
    // Every app is rolled each round (a new mark), so each step is reached: web's two
    // instances get their new definition (`reloaded`) and are restarted, then api's one.
    let steps = [
        "apply:recorded",
        "apply:app",
        "apply:reloaded",
        "apply:restarted",
        "apply:reloaded#2",
        "apply:app#2",
        "apply:restarted#3",
    ];
    for (round, step) in steps.iter().enumerate() {
        let mark = format!("m{}", round + 1);
        write(&path, &ecosystem(&apps, &mark));
        let run = run_with_fault(&sb, Some(step), "kill -9 $pid", &["apply", &file]);
        assert!(run.stopped, "apply never reached {step}:\n{}", run.output);
        assert_eq!(run.code, None, "apply was not killed at {step}");
        assert_converged(&sb, &file, &apps, &mark);
    }

    // A prune killed once the pruned app's units are gone: the next `apply --prune` forgets it.
    let kept = &apps[..1];
    write(&path, &ecosystem(kept, "m8"));
    let run = run_with_fault(
        &sb,
        Some("apply:removed"),
        "kill -9 $pid",
        &["apply", &file, "--prune"],
    );
    assert!(run.stopped, "the prune never got there:\n{}", run.output);
    assert_success("apply --prune", &sb.pm2ctl(&["apply", &file, "--prune"]));
    assert_converged(&sb, &file, kept, "m8");
}

#[test]
fn a_reload_killed_at_any_step_leaves_every_instance_serving() {
    let apps = apps(4311);
    let (sb, _path, file) = start("reload-killed", &apps);
    for step in ["reload:restarted", "reload:restarted#2", "reload:done"] {
        let run = run_with_fault(&sb, Some(step), "kill -9 $pid", &["reload", "web"]);
        assert!(run.stopped, "reload never reached {step}:\n{}", run.output);
        assert_eq!(run.code, None, "reload was not killed at {step}");
        assert_converged(&sb, &file, &apps, "m0");
        assert_success("the next reload", &sb.pm2ctl(&["reload", "all"]));
    }
}

#[test]
fn a_restarted_dbus_daemon_is_reported_with_what_was_and_was_not_applied() {
    let apps = apps(4321);
    let (sb, path, file) = start("dbus-restart", &apps);
    write(&path, &ecosystem(&apps, "m1"));
    let restart_bus = "systemctl restart dbus.service; kill -CONT $pid";

    // The bus goes away once web's first instance has its new definition, before its
    // restart.
    let run = run_with_fault(&sb, Some("apply:reloaded"), restart_bus, &["apply", &file]);
    assert!(run.stopped, "{}", run.output);
    assert_eq!(run.code, Some(1), "{}", run.output);
    for said in [
        "the connection to systemd's bus was lost",
        "stopped while applying web (roll)",
        "web (roll): instances replaced: none; instance 0 was being replaced (`pm2ctl list` \
         shows whether it runs); the others run as before",
        "not applied: api (roll)",
        "Run the same `pm2ctl apply` again",
    ] {
        assert!(
            run.output.contains(said),
            "{said:?} not in:\n{}",
            run.output
        );
    }
    assert_converged(&sb, &file, &apps, "m1");

    // During a reload: the restart asked for goes on in systemd, the rest is not reloaded.
    let run = run_with_fault(
        &sb,
        Some("reload:restarted"),
        restart_bus,
        &["reload", "all"],
    );
    assert!(run.stopped, "{}", run.output);
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(
        run.output
            .contains("the connection to systemd's bus was lost"),
        "{}",
        run.output
    );
    assert_converged(&sb, &file, &apps, "m1");
}

#[test]
fn a_daemon_reload_during_apply_or_reload_changes_nothing_for_them() {
    let apps = apps(4331);
    let (sb, path, file) = start("daemon-reload", &apps);
    let daemon_reload = "systemctl daemon-reload; kill -CONT $pid";
    for (round, step) in ["apply:recorded", "apply:reloaded", "apply:restarted"]
        .iter()
        .enumerate()
    {
        let mark = format!("m{}", round + 1);
        write(&path, &ecosystem(&apps, &mark));
        let run = run_with_fault(&sb, Some(step), daemon_reload, &["apply", &file]);
        assert!(run.stopped, "{}", run.output);
        assert_eq!(
            run.code,
            Some(0),
            "daemon-reload at {step}:\n{}",
            run.output
        );
        assert_converged(&sb, &file, &apps, &mark);
    }
    for step in ["reload:restarted", "reload:restarted#2"] {
        let run = run_with_fault(&sb, Some(step), daemon_reload, &["reload", "all"]);
        assert!(run.stopped, "{}", run.output);
        assert_eq!(
            run.code,
            Some(0),
            "daemon-reload at {step}:\n{}",
            run.output
        );
        assert_converged(&sb, &file, &apps, "m3");
    }

    // While a job is pending: an app that ignores SIGINT keeps its stop job running for its
    // kill_timeout; the daemon-reload lands in the middle of it.
    let stubborn = |mark: &str| {
        format!(
            "{}[[apps]]\nuser = \"root\"\nname = \"stubborn\"\nscript = \"{}\"\nkill_timeout = \"3s\"\n\
             env = {{ MARK = \"{mark}\" }}\n",
            ecosystem(&apps, "m3"),
            fixture("ignore-sigint.js")
        )
    };
    write(&path, &stubborn("one"));
    assert_success("apply with stubborn", &sb.pm2ctl(&["apply", &file]));
    let unit = "pm2ctl-stubborn@0.service";
    sb.wait_for("stubborn to handle its signals", PATIENCE, || {
        stdout(&sb.journalctl(&["-u", unit, "-o", "cat"])).contains("ignore-sigint fixture started")
    });
    write(&path, &stubborn("two"));
    let mid_job = format!(
        "kill -CONT $pid; i=0; until [ \"$(systemctl show -P ActiveState {unit})\" = deactivating ] \
         || [ $i = 1200 ]; do sleep 0.05; i=$((i+1)); done; systemctl daemon-reload"
    );
    let run = run_with_fault(&sb, Some("apply:app"), &mid_job, &["apply", &file]);
    assert_eq!(run.code, Some(0), "{}", run.output);
    assert_eq!(show(&sb, unit, "ActiveState"), "active");
    assert!(show(&sb, unit, "Environment").contains("MARK=two"));
    assert_serving(&sb, &apps);
}

#[test]
fn a_full_state_store_is_a_clear_error_and_running_apps_are_untouched() {
    let apps = apps(4341);
    let (sb, path, file) = start("disk-full", &apps);
    // The state directory becomes a tiny tmpfs holding what was there, then filled up.
    let mount = "d=$PM2CTL_STATE_DIR; cp -a \"$d/.\" /tmp/state-copy/ \
                 && mount -t tmpfs -o size=256k,mode=0700 pm2ctl-state \"$d\" \
                 && cp -a /tmp/state-copy/. \"$d/\"";
    assert_success(
        "a tmpfs for the state",
        &sb.exec(&["sh", "-c", &format!("mkdir /tmp/state-copy && {mount}")]),
    );
    let fill = "dd if=/dev/zero of=\"$PM2CTL_STATE_DIR/fill\" bs=4k 2>/dev/null; true";
    let free = "rm -f \"$PM2CTL_STATE_DIR/fill\"";
    assert_success("fill it", &sb.exec(&["sh", "-c", fill]));
    let before = main_pids(&sb, &apps);

    // Full before the apply: nothing is changed.
    write(&path, &ecosystem(&apps, "m1"));
    let out = sb.pm2ctl(&["apply", &file]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for said in ["No space left on device", "nothing was changed"] {
        assert!(
            stderr(&out).contains(said),
            "{said:?} not in:\n{}",
            stderr(&out)
        );
    }
    assert_eq!(main_pids(&sb, &apps), before, "a running app was restarted");
    assert_serving(&sb, &apps);
    assert!(show(&sb, "pm2ctl-web@0.service", "Environment").contains("MARK=m0"));

    // A reload on a full disk reloads, and says the counts were not recorded.
    let out = sb.pm2ctl(&["reload", "all"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("every instance was reloaded"),
        "{}",
        stderr(&out)
    );
    assert_serving(&sb, &apps);

    // Full in the middle of an apply (after the file's apps were recorded): every app is
    // still rolled and runs; the error says what could not be recorded.
    assert_success("free space", &sb.exec(&["sh", "-c", free]));
    let run = run_with_fault(
        &sb,
        Some("apply:recorded"),
        &format!("{fill}; kill -CONT $pid"),
        &["apply", &file],
    );
    assert!(run.stopped, "{}", run.output);
    assert_eq!(run.code, Some(1), "{}", run.output);
    assert!(
        run.output.contains("every change was applied and runs"),
        "{}",
        run.output
    );
    assert_serving(&sb, &apps);
    assert!(show(&sb, "pm2ctl-web@1.service", "Environment").contains("MARK=m1"));

    // Once space returns, the next apply converges.
    assert_success("free space", &sb.exec(&["sh", "-c", free]));
    assert_converged(&sb, &file, &apps, "m1");
}
