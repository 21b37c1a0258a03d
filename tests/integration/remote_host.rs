//! `pm2ctl -H root@host …` against a second machine: an sshd in a sandbox
//! (tests/integration/common/remote.rs) whose systemd is reached through `systemd-stdio-bridge`.

use crate::common;

use common::remote::{RemoteHost, ADDRESS};
use common::sandbox::{assert_success, fixture, stdout};
use common::Sandbox;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(60);

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

    // Verbs that set up this machine refuse -H, saying why.
    let out = remote.pm2ctl(&["-H", &host, "startup"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`startup` does not work on another host"),
        "{err}"
    );

    // `--user`: the ssh user's own manager there (root's, started as a login would).
    assert_success(
        "starting root's user manager",
        &sb.systemctl(&["start", "user@0.service"]),
    );
    let mine = dir.join("mine.toml");
    std::fs::write(
        &mine,
        format!(
            "[[apps]]\nname = \"mine\"\nscript = \"{}\"\nmax_memory_restart = \"50M\"\n",
            fixture("printer.js")
        ),
    )
    .unwrap();
    let out = remote.pm2ctl(&["-H", &host, "apply", "--user", mine.to_str().unwrap()]);
    assert_success("pm2ctl -H --user apply", &out);
    // That host's facts: a user's manager there has no memory controller (cgroup v1/hybrid).
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("app `mine`: max_memory_restart is not enforced"),
        "{err}"
    );
    let user_state = |unit: &str| {
        let out = sb.exec_with_env(
            &[("XDG_RUNTIME_DIR", "/run/user/0")],
            &["systemctl", "--user", "is-active", unit],
        );
        stdout(&out).trim().to_string()
    };
    sb.wait_for(
        "mine runs in root's manager",
        Duration::from_secs(60),
        || user_state("pm2ctl-mine@0.service") == "active",
    );
    assert_ne!(
        sb.unit_state("pm2ctl-mine@0.service"),
        "active",
        "not the system's"
    );
    assert_success(
        "pm2ctl -H --user stop",
        &remote.pm2ctl(&["-H", &host, "stop", "--user", "mine"]),
    );
    assert_ne!(user_state("pm2ctl-mine@0.service"), "active");
}

/// What `pm2ctl -H` did to the other host, as a user there sees it.
fn main_pid(sb: &Sandbox, unit: &str) -> String {
    stdout(&sb.systemctl(&["show", "-P", "MainPID", unit]))
        .trim()
        .to_string()
}

#[test]
fn lifecycle_verbs_act_on_the_other_host_over_one_login() {
    let sb = Sandbox::boot();
    let dir = common::sandbox::workdir("remote_host", "lifecycle");
    let remote = RemoteHost::start(&sb, &dir.join("ssh"));
    let host = format!("root@{ADDRESS}");
    let h = |args: &[&str]| {
        let mut argv = vec!["-H", host.as_str()];
        argv.extend_from_slice(args);
        remote.pm2ctl(&argv)
    };
    let file = dir.join("ecosystem.toml");
    std::fs::write(
        &file,
        format!(
            "[[apps]]\nuser = \"root\"\nname = \"far\"\nscript = \"{}\"\nenv = {{ PRINT_INTERVAL_MS = \"100\" }}\n",
            fixture("printer.js")
        ),
    )
    .unwrap();
    let unit = "pm2ctl-far@0.service";
    assert_success("-H start FILE", &h(&["start", file.to_str().unwrap()]));
    sb.wait_for("far runs", PATIENCE, || sb.unit_state(unit) == "active");

    // One login per run: every ssh session of `-H stop` rides on the run's master.
    let _ = sb.journalctl(&["--sync"]);
    let before = remote.logins(&sb);
    let out = h(&["stop", "far"]);
    assert_success("-H stop", &out);
    assert!(stdout(&out).contains("[PM2] Applying action stopProcessId"));
    let _ = sb.journalctl(&["--sync"]);
    assert_eq!(remote.logins(&sb), before + 1, "-H stop logged in once");
    assert_ne!(sb.unit_state(unit), "active");
    let list: serde_json::Value =
        serde_json::from_slice(&h(&["jlist"]).stdout).expect("jlist is JSON");
    assert_eq!(list[0]["pm2_env"]["status"], "stopped", "{list}");

    assert_success("-H start NAME", &h(&["start", "far"]));
    sb.wait_for("far runs again", PATIENCE, || {
        sb.unit_state(unit) == "active"
    });
    let pid = main_pid(&sb, unit);
    assert_success("-H restart", &h(&["restart", "far"]));
    sb.wait_for("far restarted", PATIENCE, || {
        sb.unit_state(unit) == "active"
            && !["0", pid.as_str()].contains(&main_pid(&sb, unit).as_str())
    });
    let pid = main_pid(&sb, unit);
    assert_success("-H reload", &h(&["reload", "far"]));
    assert_ne!(main_pid(&sb, unit), pid, "reload restarted the instance");

    // `logs` follows the remote journal until it is stopped.
    let tmp = dir.join("client-tmp");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let mut follower = remote
        .in_client_ns(&[common::sandbox::PM2CTL, "-H", &host, "logs", "far", "--raw"])
        .env("TMPDIR", &tmp)
        .env_remove("XDG_RUNTIME_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("pm2ctl -H logs");
    let lines = BufReader::new(follower.stdout.take().expect("piped"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Lines printed after the follower started prove it follows, not only replays.
    let first = rx.recv_timeout(PATIENCE).expect("a first line");
    let newest = |line: &str| {
        line.strip_prefix("out line ")
            .and_then(|n| n.trim().parse::<u64>().ok())
    };
    let mut seen = newest(&first);
    let deadline = std::time::Instant::now() + PATIENCE;
    let mut followed = false;
    while std::time::Instant::now() < deadline && !followed {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(5)) {
            if let Some(n) = newest(&line) {
                followed = seen.is_some_and(|s| n > s + 5);
                seen = seen.or(Some(n));
            }
        }
    }
    assert!(followed, "logs -H kept showing new lines (last: {seen:?})");
    kill(Pid::from_raw(follower.id() as i32), Signal::SIGTERM).unwrap();
    let status = follower.wait().unwrap();
    assert!(
        status.success(),
        "logs -H ends cleanly on SIGTERM: {status}"
    );
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(
        left.is_empty(),
        "the ssh control directory is removed: {left:?}"
    );

    let out = h(&["show", "far"]);
    assert_success("-H show", &out);
    let text = stdout(&out);
    assert!(
        text.contains(&main_pid(&sb, unit)),
        "the remote pid: {text}"
    );
    assert!(text.contains("out line"), "the remote journal: {text}");
    assert!(
        text.contains(&format!("ssh {host} systemctl status {unit}")),
        "{text}"
    );

    // `flush` hides what the remote journal holds so far, by that host's clock.
    let shown = |out: &std::process::Output| -> Vec<u64> {
        stdout(out)
            .lines()
            .filter_map(|l| l.strip_prefix("out line ")?.trim().parse().ok())
            .collect()
    };
    let before = shown(&h(&["logs", "far", "--raw", "--nostream", "--lines", "5"]));
    let last = *before.last().expect("lines before the flush");
    assert_success("-H flush", &h(&["flush", "far"]));
    let after = shown(&h(&[
        "logs",
        "far",
        "--raw",
        "--nostream",
        "--lines",
        "1000",
    ]));
    assert!(
        !after.is_empty() && after.iter().all(|n| *n > last),
        "only lines after the flush: {after:?} (last before: {last})"
    );

    // `monit` draws the remote app, with its log lines from the remote journal, on a terminal.
    let command = format!(
        "stty rows 30 cols 120; exec {} -H {host} monit",
        common::sandbox::sh(common::sandbox::PM2CTL)
    );
    let mut monit = remote
        .in_client_ns(&["script", "-qfec", &command, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("script");
    let mut screen = monit.stdout.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut screen, &mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut drawn = Vec::new();
    let deadline = std::time::Instant::now() + PATIENCE;
    // The screen comes as words placed by cursor moves (spaces are skipped): look for words.
    // `0|far` starts each of far's log lines (the process list shows no such word); far runs
    // on the other host only, so its lines come from that host's journal.
    let shows = |bytes: &[u8]| String::from_utf8_lossy(bytes).contains("0|far");
    while !shows(&drawn) && std::time::Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_secs(1)) {
            drawn.extend(chunk);
        }
    }
    let _ = std::io::Write::write_all(monit.stdin.as_mut().expect("piped"), b"q");
    let ended = (0..200).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        matches!(monit.try_wait(), Ok(Some(_)))
    });
    if !ended {
        let _ = monit.kill();
    }
    let _ = monit.wait();
    assert!(
        shows(&drawn),
        "monit -H shows far and its lines from the remote journal: {}",
        String::from_utf8_lossy(&drawn)
    );
    assert!(ended, "monit -H quits on q");

    assert_success("-H scale", &h(&["scale", "far", "2"]));
    sb.wait_for("a second instance", PATIENCE, || {
        sb.unit_state("pm2ctl-far@1.service") == "active"
    });

    let out = h(&["save"]);
    assert_success("-H save", &out);
    let saved = sb.config_dir().join("dump.toml");
    let dump = std::fs::read_to_string(&saved).expect("the dump is on the remote host");
    assert!(dump.contains("name = \"far\""), "{dump}");
    assert!(dump.contains("instances = 2"), "{dump}");

    let out = h(&["delete", "far"]);
    assert_success("-H delete", &out);
    assert!(
        stdout(&out).contains("Removed far from the saved state"),
        "{}",
        stdout(&out)
    );
    for u in [unit, "pm2ctl-far@1.service"] {
        let load = stdout(&sb.systemctl(&["show", "-P", "LoadState", u]));
        assert_eq!(load.trim(), "not-found", "{u} is gone");
    }
    let dump = std::fs::read_to_string(&saved).unwrap();
    assert!(!dump.contains("far"), "{dump}");
    assert_eq!(stdout(&h(&["jlist"])).trim(), "[]");

    // `apply --save` saves there; `resurrect` applies what that host has saved.
    assert_success(
        "-H apply --save",
        &h(&["apply", "--save", file.to_str().unwrap()]),
    );
    let dump = std::fs::read_to_string(&saved).unwrap();
    assert!(dump.contains("name = \"far\""), "{dump}");
    std::fs::write(
        &saved,
        format!(
            "{dump}\n[[apps]]\nuser = \"root\"\nname = \"again\"\nscript = \"{}\"\n",
            fixture("printer.js")
        ),
    )
    .unwrap();
    assert_success("-H resurrect", &h(&["resurrect"]));
    sb.wait_for("the saved app runs", PATIENCE, || {
        sb.unit_state("pm2ctl-again@0.service") == "active"
    });
    assert_eq!(sb.unit_state(unit), "active");
}
