//! `pm2ctl apply` as a user runs it, inside a sandboxed systemd: what changes, what is left
//! alone, and what the apps then do under systemd's supervision.

use crate::common;

use common::sandbox::{assert_success, fixture, show, stdout};
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
    assert!(
        plan.contains("~ beta: roll instance 0 one at a time"),
        "{plan}"
    );
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
    if !sb.memory_enforced() {
        return common::sandbox::skip(Sandbox::NO_MEMORY_CONTROLLER);
    }
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
        "{} apply {} >/dev/null 2>&1 & pid=$!; \
         i=0; until [ \"$(systemctl show -P ActiveState {unit})\" = deactivating ] || [ $i = 1200 ]; \
         do sleep 0.05; i=$((i+1)); done; \
         [ $i -lt 1200 ] || echo never-deactivating; kill -9 $pid; wait $pid; echo killed",
        common::sandbox::sh(common::sandbox::PM2CTL),
        common::sandbox::sh(&file),
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

/// A cluster app of `instances` instances on `port`, running `script` as root with `extra`
/// lines (env, limits).
fn cluster_app(name: &str, script: &str, port: u16, instances: u32, extra: &str) -> String {
    format!(
        "[[apps]]\nuser = \"root\"\nname = \"{name}\"\nscript = \"{script}\"\nport = {port}\n\
         exec_mode = \"cluster\"\ninstances = {instances}\n{extra}\n"
    )
}

/// `(MainPID, socket ActiveEnterTimestampMonotonic)` of each instance of `name`.
fn instance_pids_and_sockets(sb: &Sandbox, name: &str, instances: u32) -> Vec<(String, String)> {
    (0..instances)
        .map(|i| {
            (
                show(sb, &format!("pm2ctl-{name}@{i}.service"), "MainPID"),
                show(
                    sb,
                    &format!("pm2ctl-{name}@{i}.socket"),
                    "ActiveEnterTimestampMonotonic",
                ),
            )
        })
        .collect()
}

/// An app that answers with its pid and `VERSION` (from its code), and exits at once when
/// its environment has `CRASH=1`.
fn versioned_app(dir: &Path, version: &str) -> String {
    let path = dir.join("versioned.js");
    std::fs::write(
        &path,
        format!(
            "'use strict';\nif (process.env.CRASH === '1') {{ console.error('crash at start'); \
             process.exit(3); }}\nrequire('http').createServer((q, r) => {{\n  \
             r.setHeader('Content-Type', 'application/json');\n  \
             r.end(JSON.stringify({{ pid: process.pid, version: '{version}' }}) + '\\n');\n\
             }}).listen(Number(process.env.PORT));\n"
        ),
    )
    .expect("write the app");
    path.display().to_string()
}

/// The `MainPID` of each of `name`'s first `instances` instances.
fn main_pids(sb: &Sandbox, name: &str, instances: u32) -> Vec<String> {
    (0..instances)
        .map(|i| show(sb, &format!("pm2ctl-{name}@{i}.service"), "MainPID"))
        .collect()
}

/// `apply FILE EXTRA…` under keep-alive load on `port`, which must exit 1 having said each
/// of `says` and lose no request.
fn failing_apply_under_load(sb: &Sandbox, file: &str, port: u16, extra: &[&str], says: &[&str]) {
    let load_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let load = common::load::Load::start(sb, load_dir.path(), port);
    load.wait_for_more(sb, 200);
    let out = apply(sb, file, extra);
    load.wait_for_more(sb, 200);
    let result = load.finish();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    for text in says {
        assert!(said.contains(text), "{text:?} not in:\n{said}");
    }
    result.assert_no_loss(&format!("the failed apply {}", extra.join(" ")));
}

/// What `versioned.js` answers on `port`.
fn version_on(sb: &Sandbox, port: u16) -> Option<String> {
    let out = sb.curl(&format!("http://127.0.0.1:{port}/"));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    body["version"].as_str().map(String::from)
}

#[test]
fn an_env_change_rolls_a_cluster_app_under_load_without_losing_a_request() {
    let sb = Sandbox::boot();
    let dir = workdir("roll-env");
    let http = fixture("http.js");
    let port = 4181;
    let file = write_file(
        &dir,
        &cluster_app("web", &http, port, 4, "env = { MARK = \"a\" }"),
    );
    assert_success("first apply", &apply(&sb, &file, &[]));
    wait_for_pid(&sb, port);
    let before = instance_pids_and_sockets(&sb, "web", 4);

    write_file(
        &dir,
        &cluster_app("web", &http, port, 4, "env = { MARK = \"b\" }"),
    );
    let dry = apply(&sb, &file, &["--dry-run"]);
    assert!(
        stdout(&dry).contains("~ web: roll instances 0, 1, 2, 3 one at a time"),
        "{}",
        stdout(&dry)
    );

    let load_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let load = common::load::Load::start(&sb, load_dir.path(), port);
    load.wait_for_more(&sb, 200);
    let out = apply(&sb, &file, &[]);
    assert_success("apply of the env change", &out);
    load.wait_for_more(&sb, 200);
    let result = load.finish();
    result.assert_no_loss("the apply");

    let after = instance_pids_and_sockets(&sb, "web", 4);
    for (i, ((pid_before, socket_before), (pid_after, socket_after))) in
        before.iter().zip(&after).enumerate()
    {
        assert_ne!(pid_before, pid_after, "web@{i} kept its process");
        assert_eq!(
            socket_before,
            socket_after,
            "web@{i}'s socket was stopped:\n{}",
            stderr(&out)
        );
        let env = show(&sb, &format!("pm2ctl-web@{i}.service"), "Environment");
        assert!(env.contains("MARK=b"), "web@{i}: {env}");
    }
    // One at a time, each ready before the next.
    let said = stderr(&out);
    let replaced: Vec<usize> = (0..4)
        .map(|i| {
            said.find(&format!("replaced pm2ctl-web@{i}.service: ready"))
                .unwrap_or_else(|| panic!("web@{i} not replaced:\n{said}"))
        })
        .collect();
    assert!(replaced.windows(2).all(|w| w[0] < w[1]), "{said}");
    let again = apply(&sb, &file, &[]);
    assert!(
        stderr(&again).contains("nothing to change"),
        "{}",
        stderr(&again)
    );
}

/// The limit of `unit`'s cgroup: `memory.max` on cgroup v2, `memory.limit_in_bytes` on v1;
/// `None` where the sandbox has no memory controller (a release booted on this host's
/// hybrid hierarchy gets a cgroup2 without controllers: limits are accepted, not enforced).
fn cgroup_memory_limit(sb: &Sandbox, unit: &str) -> Option<String> {
    let cgroup = show(sb, unit, "ControlGroup");
    let script = format!(
        "cat /sys/fs/cgroup{cgroup}/memory.max 2>/dev/null || \
         cat /sys/fs/cgroup/memory{cgroup}/memory.limit_in_bytes 2>/dev/null"
    );
    let out = sb.exec(&["sh", "-c", &script]);
    out.status.success().then(|| stdout(&out).trim().to_owned())
}

#[test]
fn a_new_memory_limit_is_set_in_place_and_a_later_roll_keeps_the_file_s_value() {
    let sb = Sandbox::boot();
    let dir = workdir("roll-limit");
    let http = fixture("http.js");
    let port = 4183;
    let with = |limit: &str, mark: &str| {
        cluster_app(
            "web",
            &http,
            port,
            2,
            &format!("max_memory_restart = \"{limit}\"\nenv = {{ MARK = \"{mark}\" }}"),
        )
    };
    let file = write_file(&dir, &with("300M", "a"));
    assert_success("first apply", &apply(&sb, &file, &[]));
    wait_for_pid(&sb, port);
    let pids: Vec<String> = (0..2)
        .map(|i| show(&sb, &format!("pm2ctl-web@{i}.service"), "MainPID"))
        .collect();

    write_file(&dir, &with("400M", "a"));
    let dry = apply(&sb, &file, &["--dry-run"]);
    assert!(
        stdout(&dry).contains("~ web: update in place: MemoryMax 300M → 400M"),
        "{}",
        stdout(&dry)
    );
    let out = apply(&sb, &file, &[]);
    assert_success("apply of a new limit", &out);
    for (i, pid) in pids.iter().enumerate() {
        let unit = format!("pm2ctl-web@{i}.service");
        assert_eq!(&show(&sb, &unit, "MainPID"), pid, "{unit} was restarted");
        assert_eq!(show(&sb, &unit, "MemoryMax"), (400u64 << 20).to_string());
        match cgroup_memory_limit(&sb, &unit) {
            Some(limit) => assert_eq!(limit, (400u64 << 20).to_string()),
            // The host's own systemd has the v1 memory controller: there it must be seen.
            None => assert!(
                std::env::var("PM2CTL_TEST_SYSTEMD").is_ok_and(|r| !r.is_empty() && r != "host"),
                "no memory limit in {unit}'s cgroup"
            ),
        }
    }
    let again = apply(&sb, &file, &[]);
    assert!(
        stderr(&again).contains("nothing to change"),
        "{}",
        stderr(&again)
    );

    // A later roll writes the file's limit with the rest of the definition.
    write_file(&dir, &with("500M", "b"));
    assert_success("apply of a roll", &apply(&sb, &file, &[]));
    for i in 0..2 {
        let unit = format!("pm2ctl-web@{i}.service");
        assert_eq!(show(&sb, &unit, "MemoryMax"), (500u64 << 20).to_string());
        assert!(show(&sb, &unit, "Environment").contains("MARK=b"));
    }
    let again = apply(&sb, &file, &[]);
    assert!(
        stderr(&again).contains("nothing to change"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn apply_reload_rolls_new_code_in_and_a_crashing_version_is_rolled_back() {
    let sb = Sandbox::boot();
    let dir = workdir("roll-code");
    let port = 4185;
    let script = versioned_app(&dir, "v1");
    let file = write_file(&dir, &cluster_app("web", &script, port, 3, ""));
    assert_success("first apply", &apply(&sb, &file, &[]));
    sb.wait_for("v1 answering", PATIENCE, || {
        version_on(&sb, port).as_deref() == Some("v1")
    });

    // New code on disk, the same file: plain apply leaves it, --reload rolls it in.
    versioned_app(&dir, "v2");
    let plain = apply(&sb, &file, &[]);
    assert!(
        stderr(&plain).contains("nothing to change"),
        "{}",
        stderr(&plain)
    );
    let load_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let load = common::load::Load::start(&sb, load_dir.path(), port);
    load.wait_for_more(&sb, 200);
    let out = apply(&sb, &file, &["--reload"]);
    assert_success("apply --reload", &out);
    load.wait_for_more(&sb, 200);
    load.finish().assert_no_loss("apply --reload");
    for _ in 0..6 {
        assert_eq!(version_on(&sb, port).as_deref(), Some("v2"));
    }

    // New code that throws at start, rolled in with --reload: the first instance's new
    // process fails, its old one keeps serving, and no instance is restarted into the
    // broken code.
    let pids = main_pids(&sb, "web", 3);
    let code = std::fs::read_to_string(&script).expect("read the app");
    std::fs::write(&script, "throw new Error('broken deploy');\n").expect("break the app");
    failing_apply_under_load(
        &sb,
        &file,
        port,
        &["--reload"],
        &[
            "Error: broken deploy",
            "FAILED pm2ctl-web@0.service: the roll stopped there",
            "its process never left it and kept serving",
        ],
    );
    assert_eq!(
        main_pids(&sb, "web", 3),
        pids,
        "an instance was restarted into the broken code"
    );
    for _ in 0..6 {
        assert_eq!(version_on(&sb, port).as_deref(), Some("v2"));
    }
    std::fs::write(&script, code).expect("mend the app");

    // A version that exits at start: the roll stops at its first instance, whose old
    // process keeps serving, and which gets the previous definition back; the others are
    // not touched.
    let pids = main_pids(&sb, "web", 3);
    write_file(
        &dir,
        &cluster_app("web", &script, port, 3, "env = { CRASH = \"1\" }"),
    );
    failing_apply_under_load(
        &sb,
        &file,
        port,
        &[],
        &[
            "FAILED pm2ctl-web@0.service: the roll stopped there; instances 1, 2 keep the previous definition",
            "rolled back pm2ctl-web@0.service to the previous definition; its process never left it",
            "crash at start",
        ],
    );
    for i in 0..3 {
        let env = show(&sb, &format!("pm2ctl-web@{i}.service"), "Environment");
        assert!(
            !env.contains("CRASH"),
            "web@{i} runs the failed definition: {env}"
        );
        assert_eq!(sb.unit_state(&format!("pm2ctl-web@{i}.service")), "active");
    }
    assert_eq!(main_pids(&sb, "web", 3), pids, "instances were restarted");
    // The file still wants the new version: the next apply tries again.
    let dry = apply(&sb, &file, &["--dry-run"]);
    assert!(stdout(&dry).contains("~ web: roll"), "{}", stdout(&dry));
}

#[test]
fn a_port_change_moves_each_instance_to_the_new_port_in_turn() {
    let sb = Sandbox::boot();
    let dir = workdir("roll-port");
    let http = fixture("http.js");
    let file = write_file(&dir, &cluster_app("web", &http, 4187, 2, ""));
    assert_success("first apply", &apply(&sb, &file, &[]));
    wait_for_pid(&sb, 4187);

    write_file(&dir, &cluster_app("web", &http, 4188, 2, ""));
    let load_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let load = common::load::Load::start(&sb, load_dir.path(), 4187);
    load.wait_for_more(&sb, 100);
    let out = apply(&sb, &file, &[]);
    assert_success("apply of the port change", &out);
    let on_old_port = load.finish();
    // The old port served until its last instance moved.
    assert!(on_old_port.ok >= 100, "{on_old_port:?}");
    wait_for_pid(&sb, 4188);
    assert_eq!(pid_on(&sb, 4187), None, "the old port still answers");
    let said = stderr(&out);
    let first = said.find("replaced pm2ctl-web@0.service");
    let second = said.find("stopped pm2ctl-web@1.socket");
    assert!(
        first.is_some() && second.is_some() && first < second,
        "the instances did not move one at a time:\n{said}"
    );
    for i in 0..2 {
        let listen = show(&sb, &format!("pm2ctl-web@{i}.socket"), "Listen");
        assert!(listen.contains(":4188"), "web@{i}: {listen}");
    }
}

/// More apps than a batch keeps in flight, and more signals than zbus queues unread: apply,
/// list, restart and delete all still finish, each unit accounted for.
#[test]
fn a_hundred_apps_are_applied_listed_restarted_and_deleted() {
    let sb = Sandbox::boot();
    let dir = workdir("hundred");
    let apps: String = (0..100)
        .map(|i| {
            format!(
                "[[apps]]\nuser = \"root\"\nname = \"many-{i}\"\nscript = \"/bin/sleep\"\n\
                 args = \"1000\"\n\n"
            )
        })
        .collect();
    let file = write_file(&dir, &apps);
    assert_success("apply of 100 apps", &apply(&sb, &file, &[]));
    let active = |sb: &Sandbox| {
        stdout(&sb.systemctl(&[
            "list-units",
            "pm2ctl-many*.service",
            "--state=active",
            "--plain",
            "--no-legend",
        ]))
        .lines()
        .count()
    };
    assert_eq!(active(&sb), 100);
    let list = sb.pm2ctl(&["jlist"]);
    assert_success("jlist", &list);
    let procs: Vec<serde_json::Value> = serde_json::from_slice(&list.stdout).expect("JSON");
    assert_eq!(procs.len(), 100);
    assert_success("restart all", &sb.pm2ctl(&["restart", "all"]));
    assert_eq!(active(&sb), 100);
    assert_success("delete all", &sb.pm2ctl(&["delete", "all"]));
    let left = stdout(&sb.systemctl(&[
        "list-units",
        "pm2ctl-many*",
        "--all",
        "--plain",
        "--no-legend",
    ]));
    assert_eq!(left.trim(), "", "units left after delete all");
}

/// `apply --json` as a tool reads it: what changed per app, then nothing, then a dry run of
/// an edit, and a broken file's message.
#[test]
fn apply_json_reports_each_app_s_action() {
    let sb = Sandbox::boot();
    let dir = workdir("json");
    let http = fixture("http.js");
    let file = write_file(&dir, &cluster_app("web", &http, 4190, 2, ""));
    let json = |out: &Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(out)))
    };

    let first = apply(&sb, &file, &["--json"]);
    assert_success("apply --json", &first);
    let doc = json(&first);
    assert_eq!(doc["changed"], true, "{doc}");
    assert_eq!(doc["dry_run"], false);
    assert_eq!(doc["apps"][0]["name"], "web");
    assert_eq!(doc["apps"][0]["action"], "create");
    assert!(
        doc["apps"][0]["units"]
            .as_array()
            .is_some_and(|u| u.contains(&"pm2ctl-web@1.socket".into())),
        "{doc}"
    );

    let again = json(&apply(&sb, &file, &["--json"]));
    assert_eq!(again["changed"], false, "{again}");
    assert_eq!(again["apps"][0]["action"], "unchanged");

    write_file(
        &dir,
        &cluster_app("web", &http, 4190, 2, "env = { MARK = \"new\" }"),
    );
    let dry = json(&apply(&sb, &file, &["--dry-run", "--json"]));
    assert_eq!(dry["changed"], true);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["apps"][0]["action"], "roll");
    assert_eq!(dry["apps"][0]["instances"], serde_json::json!([0, 1]));
    assert!(!show(&sb, "pm2ctl-web@0.service", "Environment").contains("MARK"));

    write_file(&dir, "[[apps]]\nname = \"web\"\nscript = 3\n");
    let broken = apply(&sb, &file, &["--json"]);
    assert_eq!(broken.status.code(), Some(2));
    let error = json(&broken);
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|e| e.contains("script")),
        "{error}"
    );
}
