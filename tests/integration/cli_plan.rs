//! `pm2ctl plan FILE` as a user runs it: text, JSON, unit files and exit codes.
//! Needs no systemd; the host's own facts are used (scripts are created next to the file).

use std::path::Path;
use std::process::Command;

fn plan_in(dir: &Path, toml: &str, args: &[&str]) -> (i32, String, String) {
    let path = dir.join("ecosystem.toml");
    std::fs::write(&path, toml).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_pm2ctl"))
        .arg("plan")
        .arg(&path)
        .args(args)
        .output()
        .expect("run pm2ctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const CLUSTER: &str = r#"
[[apps]]
user = "root"
name = "web"
script = "run.sh"
exec_mode = "cluster"
instances = 2
port = 3000
exp_backoff_restart_delay = 100
env_production = { MODE = "prod" }
"#;

fn with_script() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("run.sh"), "sleep 100\n").unwrap();
    dir
}

#[test]
fn prints_every_unit_and_property() {
    let dir = with_script();
    let (code, out, err) = plan_in(
        dir.path(),
        CLUSTER,
        &["--env", "production", "--systemd-version", "252"],
    );
    assert_eq!(code, 0, "{err}");
    for unit in [
        "pm2ctl-web.slice",
        "pm2ctl-web@0.socket",
        "pm2ctl-web@0.service",
        "pm2ctl-web@1.socket",
        "pm2ctl-web@1.service",
    ] {
        assert!(
            out.contains(&format!("\n  {unit}\n")),
            "{unit} missing:\n{out}"
        );
    }
    assert!(out.contains("\"MODE=prod\""), "{out}");
    assert!(out.contains("ReusePort b = true"), "{out}");
    assert!(
        out.contains("systemd 252 lacks RestartSteps, RestartMaxDelayUSec (needs 254)"),
        "{out}"
    );

    let (code, out, _) = plan_in(dir.path(), CLUSTER, &["--systemd-version", "254"]);
    assert_eq!(code, 0);
    assert!(out.contains("RestartSteps u = 13"), "{out}");
    assert!(!out.contains("MODE=prod"), "{out}");
}

#[test]
fn json_lists_units_with_signatures() {
    let dir = with_script();
    let (code, out, err) = plan_in(dir.path(), CLUSTER, &["--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let units = v["apps"][0]["units"].as_array().expect("units");
    assert_eq!(units.len(), 5);
    let service = &units[2];
    assert_eq!(service["name"], "pm2ctl-web@0.service");
    let exec = service["properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "ExecStart")
        .expect("ExecStart");
    assert_eq!(exec["signature"], "a(sasb)");
}

#[test]
fn unit_files_are_printed_on_request() {
    let dir = with_script();
    let (code, out, _) = plan_in(dir.path(), CLUSTER, &["--unit-files"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(
            "[Socket]\nSlice=pm2ctl-web.slice\nListenStream=0.0.0.0:3000\nReusePort=yes\n"
        ),
        "{out}"
    );
    assert!(out.contains("[Service]\n"), "{out}");
}

#[test]
fn invalid_files_and_unplannable_apps_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = plan_in(dir.path(), "[[apps]]\nnmae = 1\n", &[]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = plan_in(
        dir.path(),
        "[[apps]]\nuser = \"root\"\nname = \"api\"\nscript = \"missing.js\"\n",
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("app `api`: script `missing.js` not found"),
        "{err}"
    );
}
