//! `pm2ctl -H root@host …` against a second machine: an sshd in a sandbox
//! (tests/common/remote.rs) whose systemd is reached through `systemd-stdio-bridge`.

mod common;

use common::remote::{RemoteHost, ADDRESS};
use common::sandbox::{assert_success, fixture, stdout};
use common::Sandbox;
use std::time::Duration;

#[test]
fn apply_list_and_logs_reach_the_other_hosts_systemd_and_state() {
    let sb = Sandbox::boot();
    let dir = common::sandbox::workdir("remote_host", "list");
    let remote = RemoteHost::start(&sb, &dir.join("ssh"));
    let file = dir.join("ecosystem.toml");
    std::fs::write(
        &file,
        format!(
            "[[apps]]\nuser = \"root\"\nname = \"faraway\"\nscript = \"{}\"\nenv = {{ PRINT_INTERVAL_MS = \"100\" }}\n",
            fixture("printer.js")
        ),
    )
    .unwrap();
    // Applied on that host by its own pm2ctl: the store -H reads is the remote one.
    assert_success(
        "apply on the remote host",
        &sb.pm2ctl(&["apply", file.to_str().unwrap()]),
    );
    sb.wait_for("the printer runs", Duration::from_secs(60), || {
        sb.unit_state("pm2ctl-faraway@0.service") == "active"
    });

    let host = format!("root@{ADDRESS}");
    // Applied from here with -H: the units and the store entry are the remote host's.
    let near = dir.join("near.toml");
    std::fs::write(
        &near,
        format!(
            "[[apps]]\nuser = \"root\"\nname = \"nearby\"\nscript = \"{}\"\n",
            fixture("printer.js")
        ),
    )
    .unwrap();
    let out = remote.pm2ctl(&["-H", &host, "apply", near.to_str().unwrap()]);
    assert_success("pm2ctl -H apply", &out);
    sb.wait_for("nearby runs", Duration::from_secs(60), || {
        sb.unit_state("pm2ctl-nearby@0.service") == "active"
    });
    let there = stdout(&sb.pm2ctl(&["jlist"]));
    assert!(
        there.contains("\"name\":\"nearby\""),
        "the remote store records it: {there}"
    );
    let out = remote.pm2ctl(&["-H", &host, "apply", near.to_str().unwrap()]);
    assert_success("pm2ctl -H apply, again", &out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to change"));

    let out = remote.pm2ctl(&["-H", &host, "jlist"]);
    assert_success("pm2ctl -H jlist", &out);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("jlist is JSON");
    let rows = list.as_array().expect("an array");
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(rows[0]["name"], "faraway");
    assert_eq!(rows[0]["pm2_env"]["status"], "online");
    assert_eq!(rows[1]["name"], "nearby");
    let remote_pid = stdout(&sb.systemctl(&["show", "-P", "MainPID", "pm2ctl-faraway@0.service"]));
    assert_eq!(
        rows[0]["pid"].to_string(),
        remote_pid.trim(),
        "the remote pid"
    );

    let out = remote.pm2ctl(&["-H", &host, "list"]);
    assert_success("pm2ctl -H list", &out);
    assert!(stdout(&out).contains("faraway"), "{}", stdout(&out));

    let out = remote.pm2ctl(&["-H", &host, "logs", "faraway", "--nostream", "--lines", "3"]);
    assert_success("pm2ctl -H logs", &out);
    assert!(stdout(&out).contains("out line"), "{}", stdout(&out));

    // Verbs that would need the local store refuse -H instead of mixing two machines.
    let out = remote.pm2ctl(&["-H", &host, "stop", "all"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("only list, jlist"));
}
