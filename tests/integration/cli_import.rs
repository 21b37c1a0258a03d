//! `pm2ctl import FILE` as a user runs it: a PM2 file in, an ecosystem.toml out.

use std::path::Path;
use std::process::{Command, Output};

fn pm2ctl(args: &[&Path]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pm2ctl"));
    for a in args {
        cmd.arg(a);
    }
    cmd.output().expect("run pm2ctl")
}

#[test]
fn import_prints_toml_that_validates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("ecosystem.config.json");
    std::fs::write(
        &json,
        r#"{"apps": [{"name": "api", "script": "server.js", "instances": 4,
            "max_memory_restart": "512M", "env_production": {"NODE_ENV": "production"}}]}"#,
    )
    .expect("write");
    let out = pm2ctl(&[Path::new("import"), &json]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let toml = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        toml.contains("[[apps]]\nname = \"api\"\nscript = \"server.js\"\ninstances = 4\n"),
        "{toml}"
    );
    assert!(toml.contains("max_memory_restart = \"512M\""), "{toml}");
    assert!(
        toml.contains("[apps.env_production]\nNODE_ENV = \"production\""),
        "{toml}"
    );

    let converted = dir.path().join("ecosystem.toml");
    std::fs::write(&converted, &toml).expect("write");
    let out = pm2ctl(&[Path::new("validate"), &converted]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn import_of_an_invalid_file_exits_2_and_prints_no_toml() {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("ecosystem.config.json");
    std::fs::write(
        &json,
        "{\"apps\": [{\"script\": \"a.js\", \"instances\": \"lots\"}]}",
    )
    .expect("write");
    let out = pm2ctl(&[Path::new("import"), &json]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ecosystem.config.json:1:43: error: apps[0].instances"),
        "{stderr}"
    );
}

#[test]
fn javascript_without_node_says_what_to_do() {
    let dir = tempfile::tempdir().expect("tempdir");
    let js = dir.path().join("ecosystem.config.js");
    std::fs::write(&js, "module.exports = { apps: [{ script: 'a.js' }] };\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_pm2ctl"))
        .arg("validate")
        .arg(&js)
        .env("PM2CTL_NODE", dir.path().join("no-such-node"))
        .output()
        .expect("run pm2ctl");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot run `node`"), "{stderr}");
    assert!(stderr.contains("help: install Node.js"), "{stderr}");
}

#[test]
fn the_pm2_example_means_the_same_as_the_toml_example() {
    if Command::new("node").arg("--version").output().is_err() {
        eprintln!("node is not installed; skipping");
        return;
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let load = |name: &str| {
        let mut eco =
            pm2ctl::load::ecosystem(&examples.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        for app in &mut eco.apps {
            app.span = Default::default();
        }
        (eco.apps, eco.deploy, eco.base_dir)
    };
    assert_eq!(load("ecosystem.config.js"), load("ecosystem.toml"));
}
