//! `pm2ctl reload` against a real systemd: a cluster app under continuous keep-alive load
//! loses no request, and a reload that meets an instance which never becomes ready stops
//! there while the others keep serving.
//!
//! Most instances are made the way the plan makes them (one `ReusePort` socket per
//! instance, the Node shim in NODE_OPTIONS, KillSignal=SIGINT) with systemd-run, so those
//! tests depend on nothing but the reload itself; one goes through `pm2ctl start` end to end.

use crate::common;

use common::load::Load;
use common::sandbox::{assert_success, fixtures_dir, main_pid, proc_list, show, stdout};
use common::Sandbox;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const PORT: u16 = 3300;

fn shim() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("shim/node/pm2ctl-shim.js")
        .display()
        .to_string()
}

/// Instance `index` of cluster app `name`: its socket on 127.0.0.1:PORT and its service
/// running fixture `script` under the shim, started.
fn run_cluster_instance(sb: &Sandbox, name: &str, index: u32, script: &str, extra: &[String]) {
    let mut argv = vec![
        "systemd-run".to_string(),
        format!("--unit=pm2ctl-{name}@{index}"),
        format!("--slice=pm2ctl-{name}.slice"),
        format!("--socket-property=ListenStream=127.0.0.1:{PORT}"),
        "--socket-property=ReusePort=yes".to_string(),
        format!("--property=LogExtraFields=PM2_APP={name}"),
        format!("--property=LogExtraFields=PM2_INSTANCE={index}"),
        "--property=LogExtraFields=PM2_NAMESPACE=default".to_string(),
        "--property=KillSignal=SIGINT".to_string(),
        "--property=TimeoutStopSec=10".to_string(),
        // Node splits NODE_OPTIONS on spaces and honours double quotes.
        format!("--setenv=NODE_OPTIONS=--require \"{}\"", shim()),
        format!("--setenv=PORT={PORT}"),
        format!("--setenv=NODE_APP_INSTANCE={index}"),
        "--setenv=PM2CTL_KILL_TIMEOUT_MS=10000".to_string(),
    ];
    argv.extend(extra.iter().cloned());
    argv.push("/usr/bin/node".to_string());
    argv.push(fixtures_dir().join(script).display().to_string());
    assert_success("systemd-run", &sb.exec(&argv));
    let service = format!("pm2ctl-{name}@{index}.service");
    assert_success("start the service", &sb.systemctl(&["start", &service]));
}

/// The main pid of each of `units` (0 for one not running).
fn main_pids(sb: &Sandbox, units: &[String]) -> Vec<u32> {
    units.iter().map(|u| main_pid(sb, u)).collect()
}

/// `pm2ctl reload APP`, which must fail with exit status 1: what it printed on stderr.
fn failed_reload(sb: &Sandbox, app: &str) -> String {
    let out = sb.pm2ctl(&["reload", app]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn services(name: &str, instances: u32) -> Vec<String> {
    (0..instances)
        .map(|i| format!("pm2ctl-{name}@{i}.service"))
        .collect()
}

fn reload_under_load_loses_nothing(instances: u32) {
    let sb = Sandbox::boot();
    for i in 0..instances {
        run_cluster_instance(&sb, "web", i, "http.js", &[]);
    }
    assert_reload_under_load_loses_nothing(&sb, instances);
}

/// `pm2ctl reload web` (`instances` instances on PORT) while the load client runs: every
/// instance gets a new process and the client sees no failed or non-2xx request.
fn assert_reload_under_load_loses_nothing(sb: &Sandbox, instances: u32) {
    let units = services("web", instances);
    let before = main_pids(sb, &units);
    assert!(before.iter().all(|p| *p != 0), "pids before: {before:?}");

    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let load = Load::start(sb, dir.path(), PORT);
    load.wait_for_more(sb, 200);

    let out = sb.pm2ctl(&["reload", "web"]);
    assert_success("pm2ctl reload web", &out);
    let printed = stdout(&out);
    assert!(
        printed.contains("[PM2] Applying action reloadProcessId on app [web]"),
        "{printed}"
    );

    // Traffic goes on after the reload, then the client stops.
    load.wait_for_more(sb, 200);
    let result = load.finish();

    let after = main_pids(sb, &units);
    for (b, a) in before.iter().zip(&after) {
        assert!(*a != 0 && a != b, "pids before {before:?}, after {after:?}");
    }
    assert_eq!(
        (result.failed, result.non2xx),
        (0, 0),
        "requests lost during the reload ({} answered), first errors: {:?}",
        result.ok,
        result.errors
    );
    assert!(result.ok > 0);
    // Every old process closed its connections, so the requests after the reload were
    // answered by new processes (which ones depends on the kernel's ReusePort hashing).
    assert!(
        after.iter().any(|p| result.pids.contains(p)),
        "no new pid among those seen by the client: {:?}, new: {after:?}",
        result.pids
    );
}

#[test]
fn reloading_two_instances_under_keep_alive_load_loses_no_request() {
    reload_under_load_loses_nothing(2);
}

#[test]
fn reloading_four_instances_under_keep_alive_load_loses_no_request() {
    reload_under_load_loses_nothing(4);
}

#[test]
fn an_app_started_by_pm2ctl_reloads_without_loss_and_reload_starts_it_when_stopped() {
    let sb = Sandbox::boot();
    let http = fixtures_dir().join("http.js").display().to_string();
    let port = PORT.to_string();
    let out = sb.pm2ctl(&[
        "start", &http, "--uid", "root", "--name", "web", "-i", "2", "--port", &port,
    ]);
    assert_success("pm2ctl start", &out);
    assert_reload_under_load_loses_nothing(&sb, 2);

    assert_success("pm2ctl stop web", &sb.pm2ctl(&["stop", "web"]));
    assert_success("pm2ctl reload web", &sb.pm2ctl(&["reload", "web"]));
    for unit in services("web", 2) {
        sb.wait_for(&format!("{unit} running again"), WAIT, || {
            main_pid(&sb, &unit) != 0
        });
    }
    assert_success("curl", &sb.curl(&format!("http://127.0.0.1:{PORT}/")));
}

#[test]
fn an_instance_that_never_becomes_ready_stops_the_reload_and_the_rest_keep_serving() {
    let sb = Sandbox::boot();
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let no_ready = dir.path().join("no-ready");
    let wait_ready = [
        "--property=Type=notify".to_string(),
        "--property=NotifyAccess=all".to_string(),
        "--property=TimeoutStartSec=3".to_string(),
        format!("--setenv=NO_READY_FILE={}", no_ready.display()),
    ];
    for i in 0..2 {
        run_cluster_instance(&sb, "slow", i, "ready-unless.js", &wait_ready);
    }
    let units = services("slow", 2);
    let before = main_pids(&sb, &units);

    // From now on new processes never signal readiness.
    std::fs::write(&no_ready, "").expect("write the marker");
    let errors = failed_reload(&sb, "slow");
    assert!(errors.contains("[PM2][ERROR] [slow]"), "{errors}");
    assert!(
        errors.contains("not reloaded: the reload stopped at [slow]"),
        "{errors}"
    );

    // The instance not reached still runs its old process, and the app still answers
    // (on instance 0's socket systemd starts it again for the next connection).
    assert_eq!(main_pid(&sb, &units[1]), before[1]);
    for _ in 0..5 {
        assert_success("curl", &sb.curl(&format!("http://127.0.0.1:{PORT}/")));
    }
}

#[test]
fn an_app_without_a_socket_is_restarted_with_a_warning() {
    let sb = Sandbox::boot();
    let out = sb.exec(&[
        "systemd-run".to_string(),
        "--unit=pm2ctl-worker@0.service".to_string(),
        "--slice=pm2ctl-worker.slice".to_string(),
        "--property=LogExtraFields=PM2_APP=worker".to_string(),
        "--property=KillSignal=SIGINT".to_string(),
        "/usr/bin/node".to_string(),
        fixtures_dir().join("signals.js").display().to_string(),
    ]);
    assert_success("systemd-run", &out);
    let before = main_pid(&sb, "pm2ctl-worker@0.service");

    let out = sb.pm2ctl(&["reload", "worker"]);
    assert_success("pm2ctl reload worker", &out);
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        errors.contains("[PM2][WARN] [worker] has no socket held by systemd"),
        "{errors}"
    );
    let after = main_pid(&sb, "pm2ctl-worker@0.service");
    assert!(after != 0 && after != before, "{before} -> {after}");
}

/// Waits until every unit of `units` is active (running, not still starting): `reload`
/// starts an instance that is not online rather than handing it over.
fn wait_until_active(sb: &Sandbox, units: &[String]) {
    for unit in units {
        sb.wait_for(&format!("{unit} active"), WAIT, || {
            sb.unit_state(unit) == "active" && main_pid(sb, unit) != 0
        });
    }
}

/// Waits until the process of every unit of `units` has loaded the app and listens (its
/// "listening on … pid=N" line is in the journal): active only means systemd ran `node`.
fn wait_until_listening(sb: &Sandbox, units: &[String]) {
    wait_until_active(sb, units);
    for unit in units {
        let pid = main_pid(sb, unit);
        sb.wait_for(&format!("{unit} listening"), WAIT, || {
            stdout(&sb.journalctl(&["-u", unit, "-o", "cat"])).contains(&format!("pid={pid} "))
        });
    }
}

/// An ecosystem file in `dir` for cluster app `name`: `instances` instances of `script` on
/// PORT, run as nobody.
fn cluster_app_as_nobody(dir: &Path, name: &str, script: &Path, instances: u32) -> String {
    let file = dir.join("ecosystem.toml");
    let toml = format!(
        "[[apps]]\nname = \"{name}\"\nuser = \"nobody\"\nscript = \"{}\"\nexec_mode = \"cluster\"\n\
         instances = {instances}\nport = {PORT}\nlisten_address = \"127.0.0.1\"\n",
        script.display()
    );
    std::fs::write(&file, toml).expect("write the ecosystem file");
    file.display().to_string()
}

#[test]
fn a_node_app_on_a_socket_is_handed_over_to_its_new_processes_without_going_down() {
    let sb = Sandbox::boot();
    let dir = common::sandbox::workdir("reload", "handover");
    let file = cluster_app_as_nobody(&dir, "web", &fixtures_dir().join("http.js"), 2);
    assert_success("pm2ctl apply", &sb.pm2ctl(&["apply", &file]));
    // At once, as a deploy script would: the new processes may not have loaded the shim yet.
    assert_success(
        "pm2ctl reload right after apply",
        &sb.pm2ctl(&["reload", "web"]),
    );
    let units = services("web", 2);
    wait_until_active(&sb, &units);
    let since: Vec<String> = units
        .iter()
        .map(|u| show(&sb, u, "ActiveEnterTimestampMonotonic"))
        .collect();
    // Twice: the second hand-over starts from a process the first one started.
    assert_reload_under_load_loses_nothing(&sb, 2);
    assert_reload_under_load_loses_nothing(&sb, 2);
    // `apply --reload` of the unchanged file (new code on disk) hands over too.
    let before = main_pids(&sb, &units);
    let out = sb.pm2ctl(&["apply", &file, "--reload"]);
    assert_success("pm2ctl apply --reload", &out);
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("its new process took over the socket"),
        "{progress}"
    );
    for (unit, old) in units.iter().zip(&before) {
        let pid = main_pid(&sb, unit);
        assert!(pid != 0 && pid != *old, "{unit}: {old} -> {pid}");
    }

    for (unit, since) in units.iter().zip(&since) {
        // systemd never stopped the unit: the new process took over inside it.
        assert_eq!(
            &show(&sb, unit, "ActiveEnterTimestampMonotonic"),
            since,
            "{unit}"
        );
        let pid = main_pid(&sb, unit);
        let owner = stdout(&sb.exec(&["ps", "-o", "user=", "-p", &pid.to_string()]));
        assert_eq!(owner.trim(), "nobody", "{unit}: pid {pid}");
        let journal = stdout(&sb.journalctl(&["-u", unit, "-o", "cat"]));
        assert!(
            journal.contains(&format!("handed over to pid {pid}")),
            "{unit}: {journal}"
        );
    }
}

#[test]
fn a_new_process_that_fails_leaves_the_old_one_serving() {
    let sb = Sandbox::boot();
    let dir = common::sandbox::workdir("reload", "handover-fails");
    let script = dir.join("app.js");
    std::fs::copy(fixtures_dir().join("http.js"), &script).expect("copy the app");
    let file = cluster_app_as_nobody(&dir, "web", &script, 2);
    assert_success("pm2ctl apply", &sb.pm2ctl(&["apply", &file]));
    let units = services("web", 2);
    // Before the script changes under them: a process still loading it would load the broken
    // code, crash, and be restarted by systemd.
    wait_until_listening(&sb, &units);
    let before = main_pids(&sb, &units);

    // A broken deploy: the new code throws at start.
    std::fs::write(&script, "throw new Error('broken deploy');\n").expect("break the app");
    let errors = failed_reload(&sb, "web");
    assert!(errors.contains("[PM2][ERROR] [web](0)"), "{errors}");
    assert!(
        errors.contains("pm2ctl: reload failed: new process")
            && errors.contains(&format!("pid {} keeps serving", before[0])),
        "{errors}"
    );
    // The new process's own words, first among them its error.
    let logged = errors
        .split_once("what the new process logged:")
        .map(|(_, log)| log)
        .unwrap_or_default();
    assert!(logged.contains("Error: broken deploy"), "{errors}");
    assert!(
        errors.contains("not reloaded: the reload stopped at [web](0)"),
        "{errors}"
    );

    // Both old processes still serve.
    let after = main_pids(&sb, &units);
    assert_eq!(after, before);
    for _ in 0..5 {
        assert_success("curl", &sb.curl(&format!("http://127.0.0.1:{PORT}/")));
    }

    // The fix deployed, the next reload goes through.
    std::fs::copy(fixtures_dir().join("http.js"), &script).expect("fix the app");
    assert_success("pm2ctl reload web", &sb.pm2ctl(&["reload", "web"]));
    for (unit, old) in units.iter().zip(&before) {
        let pid = main_pid(&sb, unit);
        assert!(pid != 0 && pid != *old, "{unit}: {old} -> {pid}");
    }
    assert_success("curl", &sb.curl(&format!("http://127.0.0.1:{PORT}/")));
}

#[test]
fn apply_of_a_changed_env_hands_over_with_the_new_variables() {
    let sb = Sandbox::boot();
    let dir = common::sandbox::workdir("reload", "env-handover");
    let file = cluster_app_as_nobody(&dir, "web", &fixtures_dir().join("http.js"), 2);
    let base = std::fs::read_to_string(&file).expect("read the file");
    let with_env = |env: &str| {
        std::fs::write(&file, format!("{base}env = {{ {env} }}\n")).expect("write the file");
    };
    with_env("MARK = \"a\", GONE = \"soon\"");
    assert_success("pm2ctl apply", &sb.pm2ctl(&["apply", &file]));
    let units = services("web", 2);
    wait_until_active(&sb, &units);
    let since: Vec<String> = units
        .iter()
        .map(|u| show(&sb, u, "ActiveEnterTimestampMonotonic"))
        .collect();
    let before = main_pids(&sb, &units);

    let load_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let load = Load::start(&sb, load_dir.path(), PORT);
    load.wait_for_more(&sb, 200);
    with_env("MARK = \"b\"");
    let out = sb.pm2ctl(&["apply", &file]);
    assert_success("pm2ctl apply of the new env", &out);
    load.wait_for_more(&sb, 200);
    load.finish().assert_no_loss("apply of a new env");
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("its new process took over the socket"),
        "{progress}"
    );

    for ((unit, since), old) in units.iter().zip(&since).zip(&before) {
        assert_eq!(
            &show(&sb, unit, "ActiveEnterTimestampMonotonic"),
            since,
            "{unit}"
        );
        let pid = main_pid(&sb, unit);
        assert!(pid != 0 && pid != *old, "{unit}: {old} -> {pid}");
        // The new process has the file's new env, as systemd's definition does.
        let env = proc_list(&sb, pid, "environ");
        assert!(env.contains(&"MARK=b".to_string()), "{unit}: {env:?}");
        assert!(
            !env.iter().any(|v| v.starts_with("GONE=")),
            "{unit}: {env:?}"
        );
        assert!(
            show(&sb, unit, "Environment").contains("MARK=b"),
            "{unit}: systemd's definition"
        );
    }
    // The files the shims read are gone.
    let left = sb.exec(&["ls", "-A", "/run/pm2ctl/handover"]);
    assert_eq!(stdout(&left).trim(), "", "left in /run/pm2ctl/handover");
    // A second apply finds nothing to do: what runs is what the file says.
    let after = main_pids(&sb, &units);
    assert_success("pm2ctl apply again", &sb.pm2ctl(&["apply", &file]));
    let again = main_pids(&sb, &units);
    assert_eq!(again, after);

    // An env the new process cannot start with: the roll stops at the first instance, which
    // kept serving, and goes back to the previous definition; the app answers throughout,
    // and no process is restarted.
    with_env("MARK = \"c\", NODE_OPTIONS = \"--no-such-option\"");
    let out = sb.pm2ctl(&["apply", &file]);
    assert_eq!(main_pids(&sb, &units), after, "a process was replaced");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let errors = String::from_utf8_lossy(&out.stderr);
    assert!(
        errors.contains("pm2ctl: reload failed: new process"),
        "{errors}"
    );
    assert!(
        errors.contains("--no-such-option"),
        "node's own words: {errors}"
    );
    for unit in &units {
        assert!(
            show(&sb, unit, "Environment").contains("MARK=b"),
            "{unit}: back to the previous definition"
        );
        let pid = main_pid(&sb, unit);
        assert!(
            proc_list(&sb, pid, "environ").contains(&"MARK=b".to_string()),
            "{unit}"
        );
    }
    assert_success("curl", &sb.curl(&format!("http://127.0.0.1:{PORT}/")));

    // A roll that fails at the second instance: the first, already on the new env, is
    // handed back over to the previous one; the second never left it. Under load, neither
    // is restarted.
    let load_dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
    let load = Load::start(&sb, load_dir.path(), PORT);
    load.wait_for_more(&sb, 200);
    with_env("MARK = \"d\", FAIL_INSTANCE = \"1\"");
    let out = sb.pm2ctl(&["apply", &file]);
    load.wait_for_more(&sb, 200);
    load.finish().assert_no_loss("a roll failing half-way");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    for text in [
        "instance 1 refuses to start",
        "rolled back pm2ctl-web@1.service to the previous definition; its process never left it",
        "rolled back pm2ctl-web@0.service to the previous definition: ready (its new process \
         took over the socket)",
    ] {
        assert!(said.contains(text), "{text:?} not in:\n{said}");
    }
    let now = main_pids(&sb, &units);
    assert!(now[0] != after[0], "web@0 was not handed over: {now:?}");
    assert_eq!(now[1], after[1], "web@1 was replaced");
    for ((unit, since), pid) in units.iter().zip(&since).zip(&now) {
        assert_eq!(
            &show(&sb, unit, "ActiveEnterTimestampMonotonic"),
            since,
            "{unit} was restarted"
        );
        assert!(show(&sb, unit, "Environment").contains("MARK=b"), "{unit}");
        assert!(
            proc_list(&sb, *pid, "environ").contains(&"MARK=b".to_string()),
            "{unit}"
        );
    }
}
