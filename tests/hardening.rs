//! Least privilege by default, inside a sandboxed systemd: what an app may and may not do
//! under the sandboxing pm2ctl sets, a port below 1024 served without root, and a root app
//! that only runs when the file asks for it.

mod common;

use common::sandbox::{assert_success, fixture, stdout};
use common::Sandbox;
use std::path::Path;
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
    assert_eq!(
        admin["tmpEntries"], 0,
        "a private /tmp starts empty: {admin}"
    );

    // `sandbox = false` is the opt-out: the same root app writes /etc.
    let legacy = probe(&sb, 4192);
    assert_eq!(legacy["writes"]["etc"], "ok", "{legacy}");
    assert_eq!(legacy["noNewPrivs"], "0", "{legacy}");
}

fn show(sb: &Sandbox, unit: &str, property: &str) -> String {
    let out = sb.systemctl(&["show", &format!("--property={property}"), "--value", unit]);
    stdout(&out).trim().to_string()
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
    assert!(sb.curl("http://127.0.0.1:4193/").status.success());
}
