//! Least privilege by default, inside a sandboxed systemd: what an app may and may not do
//! under the sandboxing pm2ctl sets, a port below 1024 served without root, and a root app
//! that only runs when the file asks for it.

use crate::common;

use common::sandbox::{assert_success, fixture, proc_list, show, stdout};
use common::Sandbox;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(60);

fn write_file(dir: &Path, toml: &str) -> String {
    let path = dir.join("ecosystem.toml");
    std::fs::write(&path, toml).expect("write the ecosystem file");
    path.display().to_string()
}

/// The probe's report from `port`, once it answers.
fn probe(sb: &Sandbox, port: u16) -> serde_json::Value {
    let url = format!("http://127.0.0.1:{port}/");
    let mut body = String::new();
    sb.wait_for(&format!("an answer on port {port}"), PATIENCE, || {
        let out = sb.curl(&url);
        body = stdout(&out);
        out.status.success()
    });
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{url} answered {body:?}: {e}"))
}

#[test]
fn apps_run_sandboxed_with_no_privilege_they_did_not_ask_for() {
    let sb = Sandbox::boot();
    let dir = common::sandbox::workdir("hardening", "defaults");
    // The unprivileged app's working directory is its own, as a deployment would have it.
    let own = dir.join("guest");
    std::fs::create_dir(&own).expect("create the app's directory");
    nix::unistd::chown(&own, Some(nix::unistd::Uid::from_raw(65534)), None)
        .expect("give nobody its directory");
    let probe_js = fixture("probe.js");

    // Run as root, pm2ctl refuses an app that does not say who it runs as: nothing starts.
    let file = write_file(
        &dir,
        &format!("[[apps]]\nname = \"anon\"\nscript = \"{probe_js}\"\nport = 4190\n"),
    );
    let out = sb.pm2ctl(&["apply", &file]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("would run as root"), "{err}");
    assert!(err.contains("user = \"root\""), "{err}");
    assert_ne!(sb.unit_state("pm2ctl-anon@0.service"), "active");

    let file = write_file(
        &dir,
        &format!(
            "[[apps]]\nname = \"guest\"\nscript = \"{probe_js}\"\ncwd = \"{own}\"\n\
             user = \"nobody\"\nexec_mode = \"fork\"\nport = 80\n\n\
             [[apps]]\nname = \"admin\"\nscript = \"{probe_js}\"\nuser = \"root\"\nport = 4191\n\n\
             [[apps]]\nname = \"legacy\"\nscript = \"{probe_js}\"\nuser = \"root\"\nport = 4192\n\
             sandbox = false\n",
            own = own.display()
        ),
    );
    assert_success("apply", &sb.pm2ctl(&["apply", &file]));

    // Port 80 without root: systemd opened it; the app holds no capability at all.
    let guest = probe(&sb, 80);
    assert_eq!(guest["uid"], 65534, "{guest}");
    assert_eq!(guest["noNewPrivs"], "1", "{guest}");
    assert_eq!(guest["capEff"], "0000000000000000", "{guest}");
    assert_eq!(guest["writes"]["cwd"], "ok", "{guest}");
    assert_eq!(guest["writes"]["tmp"], "ok", "{guest}");
    // Under a system-call filter, and Node still lists the network interfaces (netlink).
    assert_eq!(guest["seccomp"], "2", "{guest}");
    assert!(guest["interfaces"].as_u64() >= Some(1), "{guest}");
    let families = show(&sb, "pm2ctl-guest@0.service", "RestrictAddressFamilies");
    for family in ["AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK"] {
        assert!(families.contains(family), "{families}");
    }
    assert!(!families.contains("AF_PACKET"), "{families}");
    let calls = show(&sb, "pm2ctl-guest@0.service", "SystemCallFilter");
    assert!(
        calls.contains("execve") && !calls.contains("reboot"),
        "@system-service: {calls}"
    );
    assert_eq!(
        sb.unit_state("pm2ctl-guest@0.socket"),
        "active",
        "the port comes from systemd's socket"
    );

    // Root, but the system is read-only to it except its own places, and /tmp is its own.
    let admin = probe(&sb, 4191);
    assert_eq!(admin["uid"], 0, "{admin}");
    assert_eq!(admin["writes"]["etc"], "EROFS", "{admin}");
    assert_eq!(admin["writes"]["cwd"], "ok", "{admin}");
    // ProtectHome covers /root as a whole; only `protect_home = false` opens it.
    assert_eq!(admin["writes"]["home"], "EROFS", "{admin}");
    assert_eq!(admin["writes"]["tmp"], "ok", "{admin}");
    if probe_js.starts_with("/tmp/") {
        // A build tree in /tmp: the app lives there, and keeps the host's /tmp.
        assert_eq!(
            show(&sb, "pm2ctl-admin@0.service", "PrivateTmp"),
            "no",
            "{admin}"
        );
    } else {
        assert_eq!(
            admin["tmpEntries"], 0,
            "a private /tmp starts empty: {admin}"
        );
    }

    // `sandbox = false` is the opt-out: the same root app writes /etc.
    let legacy = probe(&sb, 4192);
    assert_eq!(legacy["writes"]["etc"], "ok", "{legacy}");
    assert_eq!(legacy["noNewPrivs"], "0", "{legacy}");
    assert_eq!(legacy["seccomp"], "0", "{legacy}");
}

/// Values holding what systemd reads specially — `%` specifiers, `$` variables, backslashes,
/// newlines, quotes — in the app's name, arguments, environment, working directory, script
/// path and log file. (The log file's directory holds no backslash: systemd 252 drops one from
/// `ReadWritePaths=` when it reloads, and the plan warns about it.)
const NASTY_NAME: &str = "pct%n \\ $USER app";
const NASTY_ARGS: [&str; 7] = [
    "%i",
    "%%n",
    "$HOME",
    "${PATH}x",
    "back\\slash\\",
    "two\nlines",
    "say \"hi\" 'there'",
];
const NASTY_ENV: [(&str, &str); 4] = [
    ("SPEC", "%h %u %%"),
    ("DOLLAR", "$PATH ${HOME} $$"),
    ("SLASHES", "a\\b\\\\c\\"),
    ("LINES", "one\ntwo"),
];
const NASTY_DIR: &str = "cwd %i $HOME \\ d";
const NASTY_LOG: &str = "logs %i $USER/out %n $HOME.log";

/// A TOML string holding `s` exactly.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The nasty app: its ecosystem file, its directory (created, with the fixture in it) and its
/// log file (whose directory is created).
struct Nasty {
    file: String,
    cwd: PathBuf,
    log: PathBuf,
}

fn nasty_app(dir: &Path) -> Nasty {
    let cwd = dir.join(NASTY_DIR);
    let log = dir.join(NASTY_LOG);
    std::fs::create_dir_all(&cwd).expect("create the app's directory");
    if let Some(logs) = log.parent() {
        std::fs::create_dir_all(logs).expect("create the log directory");
    }
    std::fs::copy(fixture("argv.js"), cwd.join("app.js")).expect("copy the fixture");
    let args: Vec<String> = NASTY_ARGS.iter().map(|a| toml_str(a)).collect();
    let env: Vec<String> = NASTY_ENV
        .iter()
        .map(|(k, v)| format!("{k} = {}", toml_str(v)))
        .collect();
    let file = write_file(
        dir,
        &format!(
            "[[apps]]\nname = {}\nuser = \"root\"\ncwd = {}\nscript = \"app.js\"\n\
             args = [{}]\nenv = {{ {} }}\nout_file = {}\ncron_restart = \"0 0 1 1 *\"\n",
            toml_str(NASTY_NAME),
            toml_str(&cwd.display().to_string()),
            args.join(", "),
            env.join(", "),
            toml_str(&log.display().to_string()),
        ),
    );
    Nasty { file, cwd, log }
}

/// Asserts that the nasty app's process got every value exactly as the file wrote it.
fn assert_nasty_values_arrived(sb: &Sandbox, unit: &str, app: &Nasty, when: &str) {
    let cwd = &app.cwd;
    let mut pid = 0;
    sb.wait_for(&format!("{unit} to run ({when})"), PATIENCE, || {
        let out = sb.systemctl(&["show", "--property=MainPID", "--value", unit]);
        pid = stdout(&out).trim().parse().unwrap_or(0);
        pid != 0
    });
    let script = cwd.join("app.js").display().to_string();
    let cmdline = proc_list(sb, pid, "cmdline");
    let mut expected = vec![script.as_str()];
    expected.extend(NASTY_ARGS);
    assert!(
        cmdline.ends_with(&expected.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        "{when}: the arguments changed on their way: {cmdline:?}"
    );
    let environ = proc_list(sb, pid, "environ");
    for (k, v) in NASTY_ENV {
        assert!(
            environ.contains(&format!("{k}={v}")),
            "{when}: {k} changed on its way: {environ:?}"
        );
    }
    let out = sb.exec(&["readlink", &format!("/proc/{pid}/cwd")]);
    assert_eq!(
        stdout(&out).trim_end_matches('\n'),
        cwd.display().to_string(),
        "{when}: the working directory"
    );
    let log = &app.log;
    sb.wait_for(&format!("{} ({when})", log.display()), PATIENCE, || {
        std::fs::read_to_string(log).is_ok_and(|t| t.contains("argv ["))
    });
    let name = stdout(&sb.systemctl(&["show", "--property=SyslogIdentifier", "--value", unit]));
    assert_eq!(
        name.trim_end_matches('\n'),
        NASTY_NAME,
        "{when}: the journal tag"
    );
}

/// The service of the nasty app's instance 0.
fn nasty_unit(suffix: &str) -> String {
    format!(
        "pm2ctl-{}{suffix}.service",
        pm2ctl::unit::name::escape(NASTY_NAME)
    )
}

#[test]
fn specifiers_variables_and_escapes_reach_the_process_unchanged_through_dbus_and_a_daemon_reload() {
    let sb = Sandbox::boot();
    let dir = common::sandbox::workdir("hardening", "nasty-dbus");
    let app = nasty_app(&dir);
    let out = sb.pm2ctl(&["apply", &app.file]);
    assert_success("apply", &out);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("a backslash, which systemd drops from ReadWritePaths="),
        "apply warns about the working directory's backslash: {said}"
    );
    let unit = nasty_unit("@0");
    assert_nasty_values_arrived(&sb, &unit, &app, "over D-Bus");

    // systemd reads its transient units back from the files it wrote for them.
    assert_success("daemon-reload", &sb.systemctl(&["daemon-reload"]));
    std::fs::remove_file(&app.log).expect("remove the log file");
    assert_success("restart", &sb.pm2ctl(&["restart", NASTY_NAME]));
    assert_nasty_values_arrived(&sb, &unit, &app, "after a daemon-reload");

    // The cron companion, which runs pm2ctl with the name, still names the app.
    let before = show(&sb, &unit, "MainPID");
    let cron = nasty_unit("-cron");
    assert_success("the cron service", &sb.systemctl(&["start", &cron]));
    assert_eq!(show(&sb, &cron, "Result"), "success");
    assert_ne!(
        show(&sb, &unit, "MainPID"),
        before,
        "the cron service restarted the app"
    );
}

#[test]
fn specifiers_variables_and_escapes_reach_the_process_unchanged_through_the_generator() {
    if let Some(why) = common::generator::skip_reason() {
        return common::sandbox::skip(&why);
    }
    let dir = common::sandbox::workdir("hardening", "nasty-generator");
    let state = dir.join("state");
    std::fs::create_dir_all(&state).expect("create the state directory");
    let app = nasty_app(&dir);
    let unit = nasty_unit("@0");
    let saved = {
        let sb = Sandbox::boot_with_state(&state);
        assert_success("apply --save", &sb.pm2ctl(&["apply", "--save", &app.file]));
        assert_nasty_values_arrived(&sb, &unit, &app, "over D-Bus");
        std::fs::read_to_string(sb.config_dir().join("dump.toml")).expect("save wrote dump.toml")
    };
    std::fs::remove_file(&app.log).expect("remove the log file");

    // A "reboot": the generator writes the saved app's unit files, systemd loads them.
    let sb = Sandbox::boot_with_state(&state);
    std::fs::write(sb.config_dir().join("dump.toml"), &saved).expect("restore the saved file");
    common::generator::install(&sb);
    assert_success("daemon-reload", &sb.systemctl(&["daemon-reload"]));
    let services = common::generator::wanted(&sb, "multi-user.target");
    assert!(services.contains(&unit), "{services:?}");
    assert_success("start", &sb.systemctl(&["start", &unit]));
    assert_nasty_values_arrived(&sb, &unit, &app, "from the generated unit file");

    // The generated cron companion names the app too.
    let cron = nasty_unit("-cron");
    assert_success("the cron service", &sb.systemctl(&["start", &cron]));
    assert_eq!(show(&sb, &cron, "Result"), "success");
}

#[test]
fn companion_units_run_sandboxed_and_still_do_their_work() {
    let sb = Sandbox::boot();
    let dir = common::sandbox::workdir("hardening", "companions");
    // The app's tree is nobody's and closed to everyone else: the watch agent reads it anyway.
    let own = dir.join("guarded");
    std::fs::create_dir(&own).expect("create the app's directory");
    std::fs::copy(fixture("http.js"), own.join("app.js")).expect("copy the fixture");
    for path in [&own, &own.join("app.js")] {
        nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(65534)), None)
            .expect("give nobody its files");
    }
    std::fs::set_permissions(&own, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("close the app's directory");
    let file = write_file(
        &dir,
        &format!(
            "[[apps]]\nname = \"guarded\"\nscript = \"app.js\"\ncwd = \"{}\"\nuser = \"nobody\"\n\
             port = 4193\ncron_restart = \"0 0 1 1 *\"\nwatch = true\nwatch_delay = 300\n\
             max_memory_restart = \"400M\"\n",
            own.display()
        ),
    );
    assert_success("apply", &sb.pm2ctl(&["apply", &file]));
    let app = "pm2ctl-guarded@0.service";
    let (cron, watch, memory) = (
        "pm2ctl-guarded-cron.service",
        "pm2ctl-guarded-watch.service",
        "pm2ctl-guarded-memory.service",
    );
    sb.wait_for("the app to answer", PATIENCE, || {
        sb.curl("http://127.0.0.1:4193/").status.success()
    });

    // Each companion runs with the system read-only, no network and at most one capability.
    for (unit, capability) in [
        (cron, ""),
        (watch, "cap_dac_read_search"),
        (memory, "cap_sys_ptrace"),
    ] {
        assert_eq!(show(&sb, unit, "NoNewPrivileges"), "yes", "{unit}");
        assert_eq!(show(&sb, unit, "ProtectSystem"), "strict", "{unit}");
        assert_eq!(show(&sb, unit, "PrivateNetwork"), "yes", "{unit}");
        assert_eq!(
            show(&sb, unit, "RestrictAddressFamilies"),
            "AF_UNIX",
            "{unit}"
        );
        assert_eq!(
            show(&sb, unit, "CapabilityBoundingSet"),
            capability,
            "{unit}"
        );
    }

    // The cron oneshot restarts the app (the timer fires once a year: start it now).
    let first = show(&sb, app, "MainPID");
    assert_success("the cron service", &sb.systemctl(&["start", cron]));
    assert_eq!(show(&sb, cron, "Result"), "success");
    let second = show(&sb, app, "MainPID");
    assert!(second != first && second != "0", "{first} -> {second}");

    // The watch agent sees a change in the closed tree and restarts the app.
    sb.wait_for("the watch agent to watch", PATIENCE, || {
        stdout(&sb.journalctl(&["-u", watch, "-o", "cat"])).contains("watching")
    });
    std::fs::write(own.join("changed.js"), "// changed\n").expect("change a watched file");
    sb.wait_for("the watch agent to restart the app", PATIENCE, || {
        let now = show(&sb, app, "MainPID");
        now != second && now != "0"
    });

    // The memory check reads the instances and finds nothing over the mark.
    assert_success("the memory check", &sb.systemctl(&["start", memory]));
    assert_eq!(show(&sb, memory, "Result"), "success");
    // The watch agent's restart runs a new process, which listens a moment later.
    sb.wait_for("the app to answer", PATIENCE, || {
        sb.curl("http://127.0.0.1:4193/").status.success()
    });
}
