//! `pm2ctl validate FILE` as a user runs it: exit codes, summary and diagnostics.

use std::process::Command;

fn validate(text: &str) -> (i32, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ecosystem.toml");
    std::fs::write(&path, text).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_pm2ctl"))
        .arg("validate")
        .arg(&path)
        .output()
        .expect("run pm2ctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_valid_file_exits_0_with_a_one_line_summary() {
    let (code, stdout, _) = validate(
        "[[apps]]\nname = \"api\"\nscript = \"a.js\"\n[[apps]]\nname = \"worker\"\nscript = \"w.js\"\n",
    );
    assert_eq!(code, 0);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with("ecosystem.toml: ok, 2 apps (api, worker)"),
        "{stdout}"
    );
}

#[test]
fn an_invalid_file_exits_2_with_every_diagnostic() {
    let (code, stdout, stderr) = validate(
        "[[apps]]\nname = \"api\"\nscript = \"a.js\"\ninstances = \"lots\"\nmax_memory_restrat = \"1G\"\n",
    );
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains(
            "ecosystem.toml:4:13: error: apps[0].instances: expected a number of instances"
        ),
        "{stderr}"
    );
    assert!(
        stderr
            .contains("ecosystem.toml:5:1: error: apps[0].max_memory_restrat: unknown app option"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: did you mean `max_memory_restart`?"),
        "{stderr}"
    );
    assert!(stderr.contains("2 problems found"), "{stderr}");
}

#[test]
fn ignored_pm2_options_are_noted_not_fatal() {
    let (code, _, stderr) = validate("[[apps]]\nname = \"api\"\nscript = \"a.js\"\npmx = false\n");
    assert_eq!(code, 0);
    assert!(
        stderr.contains("note: app \"api\": ignored PM2 options with no effect here: pmx"),
        "{stderr}"
    );
}

#[test]
fn the_shipped_example_validates() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/ecosystem.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_pm2ctl"))
        .arg("validate")
        .arg(&example)
        .output()
        .expect("run pm2ctl");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
