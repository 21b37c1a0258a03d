//! Surviving a reboot: `save` in one sandbox, then a fresh sandbox (a "reboot") with the
//! same state directory and the saved file on disk, where systemd itself runs
//! pm2ctl-generator on `daemon-reload` and starts what it wired to the boot targets. The
//! apps serve again under the units `apply` named, and pm2ctl sees them as its own.
//! A broken saved file or app never makes the generator (or the reload) fail.

use crate::common;

use common::generator::{self, wanted, GENERATOR};
use common::sandbox::{assert_success, fixtures_dir, stdout};
use common::Sandbox;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(60);

fn workdir(test: &str) -> PathBuf {
    common::sandbox::workdir("generator", test)
}

fn http_app(name: &str, port: u16, extra: &str) -> String {
    format!(
        "[[apps]]\nuser = \"root\"\nname = \"{name}\"\nscript = \"{}\"\nport = {port}\n\
         listen_address = \"127.0.0.1\"\n{extra}\n",
        fixtures_dir().join("http.js").display()
    )
}

fn answers(sb: &Sandbox, port: u16) -> bool {
    sb.curl(&format!("http://127.0.0.1:{port}/"))
        .status
        .success()
}

/// A state directory that outlives the sandboxes booted with it, and an ecosystem file
/// holding `apps`, for the test `test`.
fn state_and_file(test: &str, apps: &str) -> (PathBuf, PathBuf) {
    let dir = workdir(test);
    let state = dir.join("state");
    std::fs::create_dir_all(&state).unwrap();
    let file = dir.join("ecosystem.toml");
    std::fs::write(&file, apps).unwrap();
    (state, file)
}

/// Boots with `state`, runs `apply --save` of `file`, then `then` in that sandbox, and
/// returns the saved file as it is after that; the sandbox then powers off (the "shutdown").
fn saved_after(state: &Path, file: &Path, then: impl FnOnce(&Sandbox)) -> String {
    let sb = Sandbox::boot_with_state(state);
    assert_success(
        "apply --save",
        &sb.pm2ctl(&["apply", "--save", file.to_str().unwrap()]),
    );
    then(&sb);
    std::fs::read_to_string(sb.config_dir().join("dump.toml")).expect("save wrote dump.toml")
}

/// The "reboot": a fresh systemd with the state directory and the saved file as they were on
/// disk, where nothing of pm2ctl runs until the generator, installed, runs at `daemon-reload`.
fn reboot(state: &Path, saved: &str) -> Sandbox {
    let sb = Sandbox::boot_with_state(state);
    std::fs::write(sb.config_dir().join("dump.toml"), saved).unwrap();
    let units = stdout(&sb.systemctl(&[
        "list-units",
        "--all",
        "--no-legend",
        "pm2ctl-*.service",
        "pm2ctl-*.socket",
        "pm2ctl-*.slice",
    ]));
    assert!(
        units.trim().is_empty(),
        "pm2ctl units before the generator ran:\n{units}"
    );
    generator::install(&sb);
    assert_success("daemon-reload", &sb.systemctl(&["daemon-reload"]));
    sb
}

/// Starts what the generator wired to the boot targets, as boot would (starting the whole
/// multi-user.target here would start the host's own services too); returns those units.
fn start_wanted(sb: &Sandbox) -> Vec<String> {
    let units: Vec<String> = ["sockets.target", "multi-user.target"]
        .iter()
        .flat_map(|target| wanted(sb, target))
        .collect();
    let mut start = vec!["start".to_string()];
    start.extend(units.iter().cloned());
    assert_success("start the wanted units", &sb.systemctl(&start));
    units
}

#[test]
fn saved_apps_come_back_after_a_reboot_under_the_same_units() {
    if let Some(why) = generator::skip_reason() {
        return common::sandbox::skip(&why);
    }
    let (state, file) = state_and_file(
        "reboot",
        &format!(
            "{}\n{}",
            http_app("web", 4160, "exec_mode = \"cluster\"\ninstances = 2"),
            http_app("api", 4161, "")
        ),
    );
    let saved = saved_after(&state, &file, |sb| {
        // `api` has no socket (fork mode): it answers once node listens, a moment after
        // apply returns (longer on a loaded machine).
        sb.wait_for("both apps to answer", PATIENCE, || {
            answers(sb, 4160) && answers(sb, 4161)
        });
    });

    let sb = reboot(&state, &saved);
    let services = wanted(&sb, "multi-user.target");
    let sockets = wanted(&sb, "sockets.target");
    assert_eq!(
        services,
        [
            "pm2ctl-api@0.service",
            "pm2ctl-web@0.service",
            "pm2ctl-web@1.service"
        ]
    );
    assert_eq!(sockets, ["pm2ctl-web@0.socket", "pm2ctl-web@1.socket"]);
    start_wanted(&sb);
    sb.wait_for("both apps to answer", PATIENCE, || {
        answers(&sb, 4160) && answers(&sb, 4161)
    });
    assert_eq!(
        sb.unit_state("pm2ctl-web@1.service"),
        "active",
        "the generated unit has apply's name"
    );

    // One view: pm2ctl lists the generated units as its apps, online, no duplicates...
    let list = sb.pm2ctl(&["jlist"]);
    assert_success("jlist", &list);
    let procs: serde_json::Value = serde_json::from_slice(&list.stdout).expect("jlist is JSON");
    let online: Vec<(String, String)> = procs
        .as_array()
        .expect("jlist is an array")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default().to_string(),
                p["pm2_env"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(online.len(), 3, "{online:?}");
    assert!(online.iter().all(|(_, s)| s == "online"), "{online:?}");
    // ...and resurrect finds them already running as saved: same plans, same fingerprints.
    let again = sb.pm2ctl(&["resurrect"]);
    assert_success("resurrect", &again);
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(
        !said.contains(": create") && !said.contains(": replace") && !said.contains("started"),
        "resurrect changed something:\n{said}"
    );
}

#[test]
fn a_broken_saved_file_or_app_does_not_fail_the_generator() {
    if let Some(why) = generator::skip_reason() {
        return common::sandbox::skip(&why);
    }
    let sb = Sandbox::boot();
    generator::install(&sb);
    let dump = sb.config_dir().join("dump.toml");

    // One app whose script is gone: skipped, the other generated.
    std::fs::write(
        &dump,
        format!(
            "{}\n[[apps]]\nuser = \"root\"\nname = \"gone\"\nscript = \"/no/such/app.js\"\n",
            http_app("ok", 4162, "")
        ),
    )
    .unwrap();
    assert_success("daemon-reload", &sb.systemctl(&["daemon-reload"]));
    assert_eq!(wanted(&sb, "multi-user.target"), ["pm2ctl-ok@0.service"]);
    let logged = || std::fs::read_to_string(generator::log(&sb)).unwrap_or_default();
    assert!(
        logged().contains("pm2ctl-generator: app `gone` skipped"),
        "the generator did not say why it skipped `gone`:\n{}",
        logged()
    );
    assert_success("start", &sb.systemctl(&["start", "pm2ctl-ok@0.service"]));
    sb.wait_for("the good app to answer", PATIENCE, || answers(&sb, 4162));

    assert_success("stop", &sb.systemctl(&["stop", "pm2ctl-ok@0.service"]));
    // A corrupt file: nothing generated, the generator exits 0 and says why, the reload works.
    std::fs::write(&dump, "[[apps]\nname = ").unwrap();
    let out = sb.exec_with_env(
        &[
            ("PM2CTL_CONFIG_DIR", &sb.config_dir().display().to_string()),
            ("PM2CTL_GENERATOR_LOG", generator::LOG_INSIDE),
        ],
        &[GENERATOR, "/run/pm2ctl-generator-test", "/tmp", "/tmp"],
    );
    assert!(out.status.success(), "the generator failed: {out:?}");
    assert!(
        logged().contains("dump.toml: not loaded, no app started"),
        "the generator did not say the file is corrupt:\n{}",
        logged()
    );
    assert_success("daemon-reload", &sb.systemctl(&["daemon-reload"]));
    assert!(wanted(&sb, "multi-user.target").is_empty());
    let units = stdout(&sb.systemctl(&["list-unit-files", "pm2ctl-ok*", "--no-legend"]));
    assert!(
        units.trim().is_empty(),
        "units from a corrupt file:\n{units}"
    );
}

/// `delete` after `save` takes the app out of the saved file (and so out of the next boot);
/// `stop` leaves the saved file alone, as `pm2 stop` leaves PM2's dump: a stopped app comes
/// back at boot as it was saved, until the next `save`.
#[test]
fn a_deleted_app_does_not_come_back_after_a_reboot_and_a_stopped_one_does() {
    if let Some(why) = generator::skip_reason() {
        return common::sandbox::skip(&why);
    }
    let (state, file) = state_and_file(
        "delete",
        &format!(
            "{}\n{}",
            http_app("kept", 4163, ""),
            http_app("gone", 4164, "")
        ),
    );
    let saved = saved_after(&state, &file, |sb| {
        let dump = sb.config_dir().join("dump.toml");
        let read = || std::fs::read_to_string(&dump).expect("save wrote dump.toml");
        let with_both = read();

        let stop = sb.pm2ctl(&["stop", "kept"]);
        assert_success("stop", &stop);
        assert_eq!(read(), with_both, "stop changed the saved file");

        let delete = sb.pm2ctl(&["delete", "gone"]);
        assert_success("delete", &delete);
        let said = stdout(&delete);
        assert!(
            said.contains("Removed gone from the saved state"),
            "delete did not say it updated the saved file:\n{said}"
        );
        let after = read();
        assert!(!after.contains("\"gone\""), "gone is still saved:\n{after}");
        assert!(after.contains("\"kept\""), "kept was lost:\n{after}");
    });

    let sb = reboot(&state, &saved);
    assert_eq!(wanted(&sb, "multi-user.target"), ["pm2ctl-kept@0.service"]);
    let units = stdout(&sb.systemctl(&["list-unit-files", "pm2ctl-gone*", "--no-legend"]));
    assert!(units.trim().is_empty(), "units of a deleted app:\n{units}");

    // The app the generator brought up is pm2ctl's to delete, generated units and all.
    assert_success(
        "start kept",
        &sb.systemctl(&["start", "pm2ctl-kept@0.service"]),
    );
    sb.wait_for("kept to answer", PATIENCE, || answers(&sb, 4163));
    let delete = sb.pm2ctl(&["delete", "kept"]);
    assert_success("delete kept", &delete);
    assert!(!answers(&sb, 4163), "kept still answers after delete");
    assert!(stdout(&delete).contains("Removed kept from the saved state"));
    let units = stdout(&sb.systemctl(&["list-unit-files", "pm2ctl-kept*", "--no-legend"]));
    assert!(units.trim().is_empty(), "generated units left:\n{units}");
}

/// Apps the generator brought up at boot, then `resurrect`d, are still the apps of the file
/// they were applied from (`show` names it, not the saved copy), so `apply --prune` of that
/// file without one of them removes it, from the saved state too, as `delete` does: a
/// `daemon-reload` (the generator again, as at the next boot) does not bring it back.
#[test]
fn resurrected_apps_keep_their_file_and_a_pruned_one_leaves_the_saved_state() {
    if let Some(why) = generator::skip_reason() {
        return common::sandbox::skip(&why);
    }
    let (state, file) = state_and_file(
        "prune",
        &format!(
            "{}\n{}",
            http_app("stays", 4171, ""),
            http_app("pruned", 4172, "")
        ),
    );
    let saved = saved_after(&state, &file, |_| {});
    let sb = reboot(&state, &saved);
    start_wanted(&sb);
    sb.wait_for("both apps to answer", PATIENCE, || {
        answers(&sb, 4171) && answers(&sb, 4172)
    });
    assert_success("resurrect", &sb.pm2ctl(&["resurrect"]));
    let show = stdout(&sb.pm2ctl(&["show", "pruned"]));
    let file_row = show
        .lines()
        .find(|l| l.contains("ecosystem file"))
        .unwrap_or_default();
    assert!(
        file_row.contains(file.to_str().unwrap()),
        "show does not name the app's file after resurrect:\n{show}"
    );

    std::fs::write(&file, http_app("stays", 4171, "")).unwrap();
    let prune = sb.pm2ctl(&["apply", "--prune", file.to_str().unwrap()]);
    assert_success("apply --prune", &prune);
    let said = String::from_utf8_lossy(&prune.stderr);
    assert!(
        said.contains("pruned: prune") && said.contains("Removed pruned from the saved state"),
        "apply --prune did not say it updated the saved file:\n{said}"
    );
    assert!(!answers(&sb, 4172), "pruned still answers");
    let dump = std::fs::read_to_string(sb.config_dir().join("dump.toml")).unwrap();
    assert!(
        !dump.contains("\"pruned\""),
        "pruned is still saved:\n{dump}"
    );
    assert!(dump.contains("\"stays\""), "stays was lost:\n{dump}");

    assert_success("daemon-reload", &sb.systemctl(&["daemon-reload"]));
    assert_eq!(wanted(&sb, "multi-user.target"), ["pm2ctl-stays@0.service"]);
    let units = stdout(&sb.systemctl(&["list-unit-files", "pm2ctl-pruned*", "--no-legend"]));
    assert!(units.trim().is_empty(), "pruned came back:\n{units}");
    assert!(!answers(&sb, 4172), "pruned answers again");
    assert!(answers(&sb, 4171), "stays went with it");
}

/// After `scale`, the instances kept, those added, the saved file and what the generator
/// makes of it are one definition: `save` then `resurrect` changes nothing, and neither does
/// `resurrect` after a reboot.
#[test]
fn after_scale_save_resurrect_and_the_generator_change_nothing() {
    if let Some(why) = generator::skip_reason() {
        return common::sandbox::skip(&why);
    }
    let (state, file) = state_and_file(
        "scale",
        &http_app("grown", 4165, "exec_mode = \"cluster\"\ninstances = 2"),
    );
    let unchanged = |sb: &Sandbox, when: &str| {
        let out = sb.pm2ctl(&["resurrect"]);
        assert_success("resurrect", &out);
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(
            said.contains("nothing to change") && !said.contains("started"),
            "resurrect {when} changed something:\n{said}"
        );
    };

    let saved = saved_after(&state, &file, |sb| {
        assert_success("scale", &sb.pm2ctl(&["scale", "grown", "+1"]));
        assert_success("save", &sb.pm2ctl(&["save"]));
        unchanged(sb, "after scale and save");
    });

    let sb = reboot(&state, &saved);
    let started = start_wanted(&sb);
    assert_eq!(started.len(), 6, "3 sockets and 3 services: {started:?}");
    sb.wait_for("grown to answer", PATIENCE, || answers(&sb, 4165));
    unchanged(&sb, "after the reboot");
}

/// `startup` says what is missing when the generator is not installed; installed, it runs
/// it (daemon-reload) and says what comes back at boot. `unstartup` turns boot start off and
/// keeps the saved file.
#[test]
fn startup_checks_the_generator_and_unstartup_keeps_the_saved_file() {
    if let Some(why) = generator::skip_reason() {
        return common::sandbox::skip(&why);
    }
    let dir = workdir("startup");
    let file = dir.join("ecosystem.toml");
    std::fs::write(&file, http_app("booted", 4166, "")).unwrap();
    let sb = Sandbox::boot();
    assert_success(
        "apply --save",
        &sb.pm2ctl(&["apply", "--save", file.to_str().unwrap()]),
    );

    let missing = sb.pm2ctl(&["startup"]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(
        said.contains("pm2ctl-generator is not installed where systemd runs generators")
            && said.contains("/usr/lib/systemd/system-generators"),
        "{said}"
    );

    generator::install(&sb);
    let startup = sb.pm2ctl(&["startup"]);
    assert_success("startup", &startup);
    let said = stdout(&startup);
    assert!(said.contains("booted: started, 1 instance"), "{said}");
    assert_eq!(
        wanted(&sb, "multi-user.target"),
        ["pm2ctl-booted@0.service"]
    );

    assert_success("unstartup", &sb.pm2ctl(&["unstartup"]));
    assert!(wanted(&sb, "multi-user.target").is_empty());
    assert!(sb.config_dir().join("dump.toml").exists(), "dump deleted");
    assert!(answers(&sb, 4166), "unstartup stopped the running app");

    assert_success("startup again", &sb.pm2ctl(&["startup"]));
    assert_eq!(
        wanted(&sb, "multi-user.target"),
        ["pm2ctl-booted@0.service"]
    );
}

/// After a boot, `apply` of a changed definition of an app the generator brought up takes
/// it over: the generated units give way to transient ones with the new definition, `list`
/// shows the app once, and a later `daemon-reload` does not bring the generated units back.
#[test]
fn apply_of_a_changed_saved_app_takes_over_its_generated_units() {
    if let Some(why) = generator::skip_reason() {
        return common::sandbox::skip(&why);
    }
    let dir = workdir("handover");
    let file = dir.join("ecosystem.toml");
    let sb = Sandbox::boot();
    // The saved state as a boot finds it on disk.
    std::fs::write(
        sb.config_dir().join("dump.toml"),
        http_app("moved", 4167, "env = { GREETING = \"saved\" }"),
    )
    .unwrap();
    generator::install(&sb);
    assert_success("daemon-reload", &sb.systemctl(&["daemon-reload"]));
    assert_eq!(wanted(&sb, "multi-user.target"), ["pm2ctl-moved@0.service"]);
    assert_success(
        "start moved",
        &sb.systemctl(&["start", "pm2ctl-moved@0.service"]),
    );
    sb.wait_for("moved to answer", PATIENCE, || answers(&sb, 4167));

    std::fs::write(
        &file,
        http_app("moved", 4167, "env = { GREETING = \"applied\" }"),
    )
    .unwrap();
    let apply = sb.pm2ctl(&["apply", file.to_str().unwrap()]);
    assert_success("apply of the changed definition", &apply);
    let said = String::from_utf8_lossy(&apply.stderr);
    assert!(
        said.contains("differs from the saved one until `pm2ctl save`"),
        "apply did not say the saved state differs:\n{said}"
    );
    sb.wait_for("moved to answer again", PATIENCE, || answers(&sb, 4167));

    let serves_the_applied_definition = |when: &str| {
        let show = stdout(&sb.systemctl(&[
            "show",
            "-p",
            "Environment",
            "-p",
            "Transient",
            "pm2ctl-moved@0.service",
        ]));
        assert!(
            show.contains("GREETING=applied") && show.contains("Transient=yes"),
            "{when}: not the applied definition:\n{show}"
        );
        let list = sb.pm2ctl(&["jlist"]);
        assert_success("jlist", &list);
        let procs: serde_json::Value = serde_json::from_slice(&list.stdout).expect("jlist is JSON");
        let names: Vec<&str> = procs
            .as_array()
            .expect("jlist is an array")
            .iter()
            .map(|p| p["name"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(names, ["moved"], "{when}: one app");
        assert!(answers(&sb, 4167), "{when}: moved does not answer");
    };
    serves_the_applied_definition("after apply");

    assert_success("daemon-reload again", &sb.systemctl(&["daemon-reload"]));
    assert!(
        wanted(&sb, "multi-user.target").is_empty(),
        "the generated units came back"
    );
    serves_the_applied_definition("after daemon-reload");
}

/// An instance of a generated app that stopped is started again by `resurrect` (a repair
/// of the same definition) from its generated unit file.
#[test]
fn resurrect_restarts_a_stopped_generated_instance() {
    if let Some(why) = generator::skip_reason() {
        return common::sandbox::skip(&why);
    }
    let sb = Sandbox::boot();
    std::fs::write(
        sb.config_dir().join("dump.toml"),
        http_app("repaired", 4168, ""),
    )
    .unwrap();
    generator::install(&sb);
    assert_success("daemon-reload", &sb.systemctl(&["daemon-reload"]));
    let unit = "pm2ctl-repaired@0.service";
    assert_success("start", &sb.systemctl(&["start", unit]));
    sb.wait_for("repaired to answer", PATIENCE, || answers(&sb, 4168));
    assert_success("stop", &sb.systemctl(&["stop", unit]));

    let out = sb.pm2ctl(&["resurrect"]);
    assert_success("resurrect", &out);
    sb.wait_for("repaired to answer again", PATIENCE, || answers(&sb, 4168));
    assert_eq!(sb.unit_state(unit), "active");
}

#[test]
fn an_app_whose_account_cannot_reach_its_files_is_skipped_at_boot_saying_why() {
    if let Some(why) = generator::skip_reason() {
        return common::sandbox::skip(&why);
    }
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::boot();
    generator::install(&sb);
    let dir = workdir("closed");
    let closed = dir.join("closed");
    std::fs::create_dir_all(&closed).unwrap();
    std::fs::write(closed.join("app.js"), "setInterval(() => {}, 1000);\n").unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    // The same check as apply's: the app nobody cannot reach is left out, the other generated.
    std::fs::write(
        sb.config_dir().join("dump.toml"),
        format!(
            "{}\n[[apps]]\nuser = \"nobody\"\nname = \"closed\"\nscript = \"{}/app.js\"\n",
            http_app("ok", 4163, ""),
            closed.display()
        ),
    )
    .unwrap();
    assert_success("daemon-reload", &sb.systemctl(&["daemon-reload"]));
    assert_eq!(wanted(&sb, "multi-user.target"), ["pm2ctl-ok@0.service"]);
    let logged = std::fs::read_to_string(generator::log(&sb)).unwrap_or_default();
    assert!(
        logged.contains("pm2ctl-generator: app `closed` skipped")
            && logged.contains("`nobody`")
            && logged.contains(&format!("{} (owner root:root, mode 0700", closed.display())),
        "the generator did not say why it skipped `closed`:\n{logged}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
