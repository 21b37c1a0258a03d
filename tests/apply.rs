//! `pm2ctl apply` as a user runs it, inside a sandboxed systemd: what changes, what is left
//! alone, and what the apps then do under systemd's supervision.

mod common;

use common::sandbox::{assert_success, fixture, stdout};
use common::Sandbox;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// How long a test waits for something systemd does on its own (a restart, an OOM kill).
/// A bound against hanging, not a claim about speed.
const PATIENCE: Duration = Duration::from_secs(60);

fn workdir(test: &str) -> PathBuf {
    common::sandbox::workdir("apply", test)
}

/// Writes `ecosystem.toml` in `dir` and returns its path.
fn write_file(dir: &Path, toml: &str) -> String {
    let path = dir.join("ecosystem.toml");
    std::fs::write(&path, toml).expect("write the ecosystem file");
    path.display().to_string()
}

/// An `[[apps]]` table running fixtures/http.js on `port` in fork mode, as root unless
/// `extra` names a user (pm2ctl runs as root in the sandbox, so root must be asked for).
fn http_app(name: &str, port: u16, extra: &str) -> String {
    let user = if extra.contains("user =") {
        ""
    } else {
        "user = \"root\"\n"
    };
    format!(
        "[[apps]]\n{user}name = \"{name}\"\nscript = \"{}\"\nport = {port}\n{extra}\n",
        fixture("http.js")
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn apply(sb: &Sandbox, file: &str, extra: &[&str]) -> Output {
    let mut args = vec!["apply", file];
    args.extend_from_slice(extra);
    sb.pm2ctl(&args)
}

/// `systemctl show -P PROPERTY UNIT`, trimmed.
fn show(sb: &Sandbox, unit: &str, property: &str) -> String {
    stdout(&sb.systemctl(&["show", "-P", property, unit]))
        .trim()
        .to_owned()
}

/// The pid an http.js app reports for a request on `port`, if it answers.
fn pid_on(sb: &Sandbox, port: u16) -> Option<u32> {
    let out = sb.curl(&format!("http://127.0.0.1:{port}/"));
    if !out.status.success() {
        return None;
    }
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    body["pid"].as_u64().map(|p| p as u32)
}

fn wait_for_pid(sb: &Sandbox, port: u16) -> u32 {
    let mut pid = None;
    sb.wait_for(&format!("an answer on port {port}"), PATIENCE, || {
        pid = pid_on(sb, port);
        pid.is_some()
    });
    pid.unwrap_or_default()
}

/// Waits until `unit`'s journal has a line containing `text` (`n` times).
fn wait_for_log(sb: &Sandbox, unit: &str, text: &str, n: usize) {
    sb.wait_for(&format!("{n} × {text:?} from {unit}"), PATIENCE, || {
        let journal = stdout(&sb.journalctl(&["-u", unit, "-o", "cat"]));
        journal.matches(text).count() >= n
    });
}

#[test]
fn a_second_apply_changes_nothing_and_an_env_edit_restarts_only_that_app() {
    let sb = Sandbox::boot();
    let dir = workdir("twice");
    let file = write_file(
        &dir,
        &[
            http_app("alpha", 4101, "env = { GREETING = \"hi\" }"),
            http_app("beta", 4102, "env = { GREETING = \"hi\" }"),
        ]
        .concat(),
    );

    let first = apply(&sb, &file, &[]);
    assert_success("first apply", &first);
    let alpha = wait_for_pid(&sb, 4101);
    let beta = wait_for_pid(&sb, 4102);

    let second = apply(&sb, &file, &[]);
    assert_success("second apply", &second);
    assert!(
        stderr(&second).contains("nothing to change"),
        "second apply said:\n{}",
        stderr(&second)
    );
    assert_eq!(pid_on(&sb, 4101), Some(alpha), "alpha was restarted");
    assert_eq!(pid_on(&sb, 4102), Some(beta), "beta was restarted");

    // --dry-run shows the one change and makes none.
    write_file(
        &dir,
        &[
            http_app("alpha", 4101, "env = { GREETING = \"hi\" }"),
            http_app("beta", 4102, "env = { GREETING = \"hello\" }"),
        ]
        .concat(),
    );
    let dry = apply(&sb, &file, &["--dry-run"]);
    assert_success("apply --dry-run", &dry);
    let plan = stdout(&dry);
    assert!(plan.contains("= alpha: unchanged"), "{plan}");
    assert!(plan.contains("~ beta: replace"), "{plan}");
    assert_eq!(pid_on(&sb, 4102), Some(beta), "--dry-run restarted beta");

    let third = apply(&sb, &file, &[]);
    assert_success("apply after editing beta's env", &third);
    assert_eq!(pid_on(&sb, 4101), Some(alpha), "alpha was restarted");
    let new_beta = wait_for_pid(&sb, 4102);
    assert_ne!(new_beta, beta, "beta still runs its old process");
    let env = show(&sb, "pm2ctl-beta@0.service", "Environment");
    assert!(env.contains("GREETING=hello"), "beta's environment: {env}");
}

#[test]
fn prune_removes_only_the_app_dropped_from_the_file() {
    let sb = Sandbox::boot();
    let dir = workdir("prune");
    let both = [http_app("keep", 4111, ""), http_app("drop", 4112, "")].concat();
    let file = write_file(&dir, &both);
    assert_success("apply", &apply(&sb, &file, &[]));
    let keep = wait_for_pid(&sb, 4111);
    wait_for_pid(&sb, 4112);

    write_file(&dir, &http_app("keep", 4111, ""));
    let without = apply(&sb, &file, &[]);
    assert_success("apply without --prune", &without);
    assert!(
        stderr(&without).contains("--prune"),
        "apply did not mention the dropped app:\n{}",
        stderr(&without)
    );
    assert!(
        pid_on(&sb, 4112).is_some(),
        "drop was removed without --prune"
    );

    assert_success("apply --prune", &apply(&sb, &file, &["--prune"]));
    assert_eq!(pid_on(&sb, 4112), None, "drop still answers");
    assert_eq!(sb.unit_state("pm2ctl-drop@0.service"), "inactive");
    assert_eq!(pid_on(&sb, 4111), Some(keep), "keep was restarted");
}

#[test]
fn a_broken_file_exits_2_and_leaves_running_apps_untouched() {
    let sb = Sandbox::boot();
    let dir = workdir("broken");
    let file = write_file(&dir, &http_app("steady", 4121, ""));
    assert_success("apply", &apply(&sb, &file, &[]));
    let pid = wait_for_pid(&sb, 4121);

    write_file(
        &dir,
        &[
            http_app("steady", 4121, "env = { CHANGED = \"yes\" }"),
            "[[apps]]\nuser = \"root\"\nname = \"bad\"\nscript = \"x.js\"\ninstances = \"lots\"\n"
                .to_string(),
        ]
        .concat(),
    );
    let out = apply(&sb, &file, &["--prune"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("instances"),
        "the error does not name the key:\n{}",
        stderr(&out)
    );
    assert_eq!(pid_on(&sb, 4121), Some(pid), "the running app was touched");
    let env = show(&sb, "pm2ctl-steady@0.service", "Environment");
    assert!(!env.contains("CHANGED"), "{env}");
}

#[test]
fn a_unit_that_cannot_start_fails_the_apply_and_others_still_run() {
    let sb = Sandbox::boot();
    let dir = workdir("fails");
    // An app that exits with status 3 before it reports ready: its start job fails.
    let doomed = dir.join("doomed.js");
    std::fs::write(&doomed, "process.exit(3);\n").expect("write the app");
    let file = write_file(
        &dir,
        &[
            http_app("fine", 4131, ""),
            format!(
                "[[apps]]\nname = \"doomed\"\nuser = \"root\"\nscript = \"{}\"\nwait_ready = true\n",
                doomed.display()
            ),
        ]
        .concat(),
    );
    let out = apply(&sb, &file, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("pm2ctl-doomed@0.service"), "{err}");
    assert!(
        err.contains("result: exit-code"),
        "no systemd Result in:\n{err}"
    );
    assert!(
        err.contains("cause: the main process exited with status 3"),
        "no cause in:\n{err}"
    );
    assert!(!err.contains("result: success"), "{err}");
    assert!(err.contains("state:"), "no unit state in:\n{err}");
    assert!(wait_for_pid(&sb, 4131) > 0);
}

#[test]
fn cluster_instances_share_one_port_and_a_killed_one_comes_back() {
    let sb = Sandbox::boot();
    let dir = workdir("cluster");
    let file = write_file(
        &dir,
        &http_app(
            "web",
            4140,
            "exec_mode = \"cluster\"\ninstances = 4\nlisten_address = \"127.0.0.1\"",
        ),
    );
    assert_success("apply", &apply(&sb, &file, &[]));

    // The kernel spreads connections over the four listening sockets; keep asking until
    // each instance has answered.
    let mut pids = BTreeSet::new();
    for _ in 0..400 {
        if let Some(pid) = pid_on(&sb, 4140) {
            pids.insert(pid);
        }
        if pids.len() == 4 {
            break;
        }
    }
    assert_eq!(pids.len(), 4, "answers came from {pids:?}");
    let units: Vec<String> = (0..4).map(|i| format!("pm2ctl-web@{i}.service")).collect();
    let main_pids: BTreeSet<u32> = units
        .iter()
        .map(|u| show(&sb, u, "MainPID").parse().unwrap_or(0))
        .collect();
    assert_eq!(main_pids, pids, "the answering pids are not the instances'");

    let victim = &units[2];
    let old_pid = show(&sb, victim, "MainPID");
    let restarts_before: u32 = show(&sb, victim, "NRestarts").parse().unwrap_or(0);
    assert_success("kill -9", &sb.exec(&["kill", "-9", &old_pid]));
    sb.wait_for("the killed instance to run again", PATIENCE, || {
        show(&sb, victim, "ActiveState") == "active" && {
            let pid = show(&sb, victim, "MainPID");
            pid != old_pid && pid != "0"
        }
    });
    let restarts_after: u32 = show(&sb, victim, "NRestarts").parse().unwrap_or(0);
    assert!(
        restarts_after > restarts_before,
        "NRestarts stayed {restarts_after}"
    );
}

#[test]
fn max_memory_restart_kills_a_leaking_app_and_systemd_restarts_it() {
    let sb = Sandbox::boot();
    let dir = workdir("leak");
    let file = write_file(
        &dir,
        &format!(
            "[[apps]]\nuser = \"root\"\nname = \"leaky\"\nscript = \"{}\"\nmax_memory_restart = \"64M\"\n\
             env = {{ LEAK_MB_PER_TICK = \"8\" }}\n",
            fixture("leak.js")
        ),
    );
    assert_success("apply", &apply(&sb, &file, &[]));
    let unit = "pm2ctl-leaky@0.service";
    sb.wait_for(
        "the leaking app to be killed and restarted",
        PATIENCE,
        || show(&sb, unit, "NRestarts").parse::<u32>().unwrap_or(0) >= 1,
    );
    // It never exits on its own: it was killed at its limit and started again (the journal
    // may lag behind systemd's counter a little).
    wait_for_log(&sb, unit, "leak fixture started", 2);
    // By the kernel's OOM killer at the hard limit (the cgroup it names is this sandbox's
    // unit), not by the graceful check, which the jump outran: its timer is there, idle.
    let oom_line =
        |line: &str| line.contains("oom-kill:") && line.contains(sb.id()) && line.contains(unit);
    sb.wait_for("the kernel's OOM kill in the journal", PATIENCE, || {
        stdout(&sb.journalctl(&["-k", "-o", "cat"]))
            .lines()
            .any(oom_line)
    });
    assert_eq!(
        show(&sb, "pm2ctl-leaky-memory.timer", "ActiveState"),
        "active"
    );
}

#[test]
fn exceeding_max_restarts_leaves_the_app_errored() {
    let sb = Sandbox::boot();
    let dir = workdir("errored");
    let file = write_file(
        &dir,
        &format!(
            "[[apps]]\nuser = \"root\"\nname = \"crashy\"\nscript = \"{}\"\nmax_restarts = 2\nmin_uptime = \"5s\"\n",
            fixture("crash.js")
        ),
    );
    assert_success("apply", &apply(&sb, &file, &[]));
    let unit = "pm2ctl-crashy@0.service";
    sb.wait_for("the crash loop to give up", PATIENCE, || {
        show(&sb, unit, "ActiveState") == "failed"
    });
    let active = show(&sb, unit, "ActiveState");
    let sub = show(&sb, unit, "SubState");
    let result = show(&sb, unit, "Result");
    let restart = show(&sb, unit, "Restart");
    let status = pm2ctl::status::status_of(Some(pm2ctl::status::UnitState {
        active_state: &active,
        sub_state: &sub,
        result: &result,
        restart: &restart,
    }));
    assert_eq!(status, pm2ctl::status::Status::Errored, "Result={result}");
}

#[test]
fn kill_timeout_is_how_long_a_stubborn_app_gets_before_sigkill() {
    let sb = Sandbox::boot();
    let dir = workdir("kill-timeout");
    let stubborn = format!(
        "[[apps]]\nuser = \"root\"\nname = \"stubborn\"\nscript = \"{}\"\nkill_timeout = \"3s\"\n",
        fixture("ignore-sigint.js")
    );
    let other = http_app("other", 4160, "");
    let file = write_file(&dir, &[stubborn, other.clone()].concat());
    assert_success("apply", &apply(&sb, &file, &[]));
    let unit = "pm2ctl-stubborn@0.service";
    // Running is not enough: node must have installed its handlers.
    wait_for_log(&sb, unit, "ignore-sigint fixture started", 1);
    assert_eq!(show(&sb, unit, "TimeoutStopUSec"), "3s");

    // It ignores the stop signal, so stopping it ends with systemd's SIGKILL once the
    // timeout has passed.
    assert_success("systemctl stop", &sb.systemctl(&["stop", unit]));
    assert_eq!(show(&sb, unit, "Result"), "timeout");
    assert_eq!(show(&sb, unit, "ExecMainStatus"), "9");

    // And removing the app from the file takes it down the same way.
    assert_success("restart it", &apply(&sb, &file, &[]));
    write_file(&dir, &other);
    assert_success("apply --prune", &apply(&sb, &file, &["--prune"]));
    assert_eq!(sb.unit_state(unit), "inactive");
}

#[test]
fn an_app_runs_as_the_user_it_names() {
    let sb = Sandbox::boot();
    let dir = workdir("user");
    let file = write_file(&dir, &http_app("guest", 4150, "user = \"nobody\""));
    assert_success("apply", &apply(&sb, &file, &[]));
    let pid = wait_for_pid(&sb, 4150);
    let owner = stdout(&sb.exec(&["ps", "-o", "user=", "-p", &pid.to_string()]));
    assert_eq!(owner.trim(), "nobody");
}

#[test]
fn a_user_without_root_applies_to_their_own_systemd() {
    let sb = Sandbox::boot();
    let dir = workdir("user-manager");
    // A user's app names no `user`: it runs as whoever applies it.
    let file = write_file(
        &dir,
        &http_app("mine", 4170, "").replace("user = \"root\"\n", ""),
    );
    // nobody's own state directory and user manager (with its bus at /run/user/65534/bus).
    let state = dir.join("state");
    std::fs::create_dir(&state).expect("create the state directory");
    nix::unistd::chown(&state, Some(nix::unistd::Uid::from_raw(65534)), None)
        .expect("give nobody the state directory");
    assert_success(
        "start nobody's manager",
        &sb.systemctl(&["start", "user@65534.service"]),
    );
    let state_var = format!("PM2CTL_STATE_DIR={}", state.display());
    let as_nobody = |args: &[&str]| {
        let mut argv = vec![
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "env",
            "XDG_RUNTIME_DIR=/run/user/65534",
            &state_var,
        ];
        argv.extend_from_slice(args);
        sb.exec(&argv)
    };

    let out = as_nobody(&[common::sandbox::PM2CTL, "apply", &file]);
    assert_success("apply as nobody", &out);
    let pid = wait_for_pid(&sb, 4170);
    let owner = stdout(&sb.exec(&["ps", "-o", "user=", "-p", &pid.to_string()]));
    assert_eq!(owner.trim(), "nobody");
    // The app is the user's manager's, not the system's.
    let listed = stdout(&as_nobody(&[
        "systemctl",
        "--user",
        "is-active",
        "pm2ctl-mine@0.service",
    ]));
    assert_eq!(listed.trim(), "active");
    assert_ne!(sb.unit_state("pm2ctl-mine@0.service"), "active");
}

#[test]
fn an_apply_killed_half_way_is_completed_by_the_next_one() {
    let sb = Sandbox::boot();
    let dir = workdir("killed");
    // An app that ignores its stop signal keeps `apply` waiting while it replaces it.
    let stubborn = |mark: &str| {
        format!(
            "[[apps]]\nuser = \"root\"\nname = \"stubborn\"\nscript = \"{}\"\nkill_timeout = \"5s\"\n\
             env = {{ MARK = \"{mark}\" }}\n",
            fixture("ignore-sigint.js")
        )
    };
    let file = write_file(&dir, &stubborn("one"));
    assert_success("apply", &apply(&sb, &file, &[]));
    let unit = "pm2ctl-stubborn@0.service";
    wait_for_log(&sb, unit, "ignore-sigint fixture started", 1);

    // Edit it and kill -9 the apply while it waits for the old process to stop.
    write_file(&dir, &stubborn("two"));
    let script = format!(
        "{} apply {file} >/dev/null 2>&1 & pid=$!; \
         i=0; until [ \"$(systemctl show -P ActiveState {unit})\" = deactivating ] || [ $i = 1200 ]; \
         do sleep 0.05; i=$((i+1)); done; \
         [ $i -lt 1200 ] || echo never-deactivating; kill -9 $pid; wait $pid; echo killed",
        common::sandbox::PM2CTL
    );
    let killed = sb.exec(&["sh", "-c", &script]);
    assert_eq!(stdout(&killed).trim(), "killed");

    // The next apply takes the lock the dead one held and finishes the job.
    let again = apply(&sb, &file, &[]);
    assert_success("apply after the kill", &again);
    sb.wait_for("the new definition to run", PATIENCE, || {
        show(&sb, unit, "ActiveState") == "active"
    });
    let env = show(&sb, unit, "Environment");
    assert!(env.contains("MARK=two"), "{env}");
    let last = apply(&sb, &file, &[]);
    assert!(
        stderr(&last).contains("nothing to change"),
        "{}",
        stderr(&last)
    );
}
