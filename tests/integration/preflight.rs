//! The preflight of `plan`, `apply`, `start` and `resurrect`: an app whose account cannot
//! reach its files, or that names an account or interpreter the host lacks, stops the
//! command with exit 2 before any unit is touched, and the message names the app, the
//! account and the path component in the way, with its owner and mode.

use crate::common;

use common::sandbox::{assert_success, fixture, stdout};
use common::Sandbox;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;

fn workdir(test: &str) -> PathBuf {
    common::sandbox::workdir("preflight", test)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn write(path: &Path, body: &str) -> String {
    std::fs::write(path, body).expect("write a file");
    path.display().to_string()
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A running root app whose pid must not change while the bad files are refused.
fn start_bystander(sb: &Sandbox, dir: &Path) -> String {
    let file = write(
        &dir.join("bystander.toml"),
        &format!(
            "[[apps]]\nname = \"bystander\"\nuser = \"root\"\nscript = \"{}\"\n",
            fixture("http.js")
        ),
    );
    assert_success("apply the bystander", &sb.pm2ctl(&["apply", &file]));
    main_pid(sb)
}

fn main_pid(sb: &Sandbox) -> String {
    stdout(&sb.systemctl(&["show", "-P", "MainPID", "pm2ctl-bystander@0.service"]))
        .trim()
        .to_string()
}

/// Every pm2ctl unit systemd has loaded, the bystander's aside.
fn other_units(sb: &Sandbox) -> Vec<String> {
    stdout(&sb.systemctl(&["list-units", "--all", "--plain", "--no-legend", "pm2ctl-*"]))
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|u| !u.starts_with("pm2ctl-bystander") && !u.starts_with("pm2ctl-sandbox"))
        .map(str::to_string)
        .collect()
}

/// Runs `args` (with the file last) and checks the refusal: exit 2, each of `expected` in
/// the message, no unit created, the bystander still the same process.
fn refused(sb: &Sandbox, pid: &str, args: &[&str], expected: &[&str]) {
    let out = sb.pm2ctl(args);
    let said = text(&out);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} should exit 2:\n{said}"
    );
    for e in expected {
        assert!(
            said.contains(e),
            "{args:?}: the message lacks {e:?}:\n{said}"
        );
    }
    assert_eq!(
        other_units(sb),
        Vec::<String>::new(),
        "{args:?} created units"
    );
    assert_eq!(main_pid(sb), pid, "{args:?} touched the running app");
}

#[test]
fn apply_plan_and_start_refuse_what_the_account_cannot_reach() {
    let sb = Sandbox::boot();
    let dir = workdir("apply");
    let pid = start_bystander(&sb, &dir);

    // The script under a 0700 directory.
    let closed = dir.join("closed");
    std::fs::create_dir(&closed).expect("mkdir");
    write(&closed.join("app.js"), "setInterval(() => {}, 1000);\n");
    chmod(&closed, 0o700);
    let file = write(
        &dir.join("closed.toml"),
        &format!(
            "[[apps]]\nname = \"closed\"\nuser = \"nobody\"\nscript = \"{}/app.js\"\n",
            closed.display()
        ),
    );
    let component = format!("{} (owner root:root, mode 0700", closed.display());
    let fix = format!("chmod o+x {}", common::sandbox::sh(closed.display()));
    let expected = ["app `closed`", "`nobody`", &component, &fix, "user = "];
    refused(&sb, &pid, &["apply", &file], &expected);
    refused(&sb, &pid, &["plan", &file], &expected);
    refused(&sb, &pid, &["start", &file], &expected);
    refused(&sb, &pid, &["apply", "--dry-run", &file], &expected);
    // With --json, the refusal is the one document on stdout.
    let out = sb.pm2ctl(&["apply", "--json", &file]);
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert!(
        doc["error"].as_str().is_some_and(|e| e.contains(&fix)),
        "{doc}"
    );

    // An interpreter that is not there.
    let file = write(
        &dir.join("interpreter.toml"),
        &format!(
            "[[apps]]\nname = \"interp\"\nuser = \"nobody\"\nscript = \"{}\"\n\
             interpreter = \"{}/venv/bin/node\"\n",
            fixture("http.js"),
            dir.display()
        ),
    );
    let missing = format!("({}/venv is missing)", dir.display());
    refused(
        &sb,
        &pid,
        &["apply", &file],
        &["app `interp`", "interpreter", &missing, "set `interpreter`"],
    );

    // An account the host does not have.
    let file = write(
        &dir.join("ghost.toml"),
        &format!(
            "[[apps]]\nname = \"ghost\"\nuser = \"pm2ctl-ghost\"\nscript = \"{}\"\n",
            fixture("http.js")
        ),
    );
    refused(
        &sb,
        &pid,
        &["apply", &file],
        &["app `ghost`", "`pm2ctl-ghost` does not exist", "useradd"],
    );

    // A log directory the account may not write.
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    chmod(&logs, 0o755);
    let file = write(
        &dir.join("logs.toml"),
        &format!(
            "[[apps]]\nname = \"logs\"\nuser = \"nobody\"\nscript = \"{}\"\n\
             out_file = \"{}/app/out.log\"\n",
            fixture("http.js"),
            logs.display()
        ),
    );
    let component = format!("{} (owner root:root, mode 0755", logs.display());
    refused(
        &sb,
        &pid,
        &["apply", &file],
        &["app `logs`", "`nobody`", &component, "create files in"],
    );

    // The same app once the directory is open: the check is not a blanket refusal.
    chmod(&closed, 0o711);
    let file = dir.join("closed.toml").display().to_string();
    assert_success("apply once reachable", &sb.pm2ctl(&["apply", &file]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resurrect_refuses_a_saved_app_its_account_cannot_reach() {
    let sb = Sandbox::boot();
    let dir = workdir("resurrect");
    let pid = start_bystander(&sb, &dir);
    let closed = dir.join("closed");
    std::fs::create_dir(&closed).expect("mkdir");
    write(&closed.join("app.js"), "setInterval(() => {}, 1000);\n");
    chmod(&closed, 0o700);
    write(
        &sb.config_dir().join("dump.toml"),
        &format!(
            "[[apps]]\nname = \"saved\"\nuser = \"nobody\"\nscript = \"{}/app.js\"\n",
            closed.display()
        ),
    );
    let component = format!("{} (owner root:root, mode 0700", closed.display());
    refused(
        &sb,
        &pid,
        &["resurrect"],
        &["app `saved`", "`nobody`", &component],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_directory_closed_after_apply_is_reported_with_systemds_own_cause() {
    // What the preflight could not see: the directory is closed after the app was applied,
    // then the stopped app is started again. The failure says what systemd says.
    let sb = Sandbox::boot();
    let dir = workdir("closed_later");
    let app = dir.join("app");
    std::fs::create_dir(&app).expect("mkdir");
    write(&app.join("app.js"), "setInterval(() => {}, 1000);\n");
    let file = write(
        &dir.join("later.toml"),
        &format!(
            "[[apps]]\nname = \"later\"\nuser = \"nobody\"\nscript = \"app.js\"\ncwd = \"{}\"\n",
            app.display()
        ),
    );
    assert_success("apply", &sb.pm2ctl(&["apply", &file]));
    assert_success("stop", &sb.pm2ctl(&["stop", "later"]));
    chmod(&app, 0o700);
    let out = sb.pm2ctl(&["restart", "later"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("cause: CHDIR: systemd could not start the command (exit status 200)"),
        "{said}"
    );
    // The reason: systemd's own words where its journal has them; systemd 255–257's
    // executor sends them with this unit's LogExtraFields garbled and the journal refuses
    // the message, so there pm2ctl says what it sees of the directory.
    let own_words = said.contains("Permission denied");
    let checked = said.contains(&format!(
        "pm2ctl's check: app `later` runs as `nobody`, who cannot reach its working directory {}",
        app.display()
    ));
    if sb.systemd_version() < 255 {
        assert!(own_words, "{said}");
    } else {
        assert!(own_words || checked, "{said}");
    }
    assert!(!said.contains("result: success"), "{said}");
    assert_eq!(
        said.matches("cause:").count(),
        1,
        "one report, once:\n{said}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
