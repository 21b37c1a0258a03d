//! Logs through journald, against a real systemd: `exec-wrap` keeps stdout and stderr apart in
//! the journal, files when asked, and `pm2ctl logs` reads them back as PM2 shows them.

use crate::common;

use common::sandbox::{assert_success, fixtures_dir, sh, stdout, PM2CTL};
use common::Sandbox;
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Starts `script` (a fixture) as instance 0 of app `app`, through `pm2ctl exec-wrap` with
/// `wrap_args`, with the journal fields every pm2ctl unit carries.
fn start_app(sb: &Sandbox, app: &str, script: &str, wrap_args: &[&str], env: &[&str]) {
    start_app_with(sb, app, script, wrap_args, env, &[]);
}

/// As `start_app`, with extra unit properties (`-p` values).
fn start_app_with(
    sb: &Sandbox,
    app: &str,
    script: &str,
    wrap_args: &[&str],
    env: &[&str],
    properties: &[&str],
) {
    let unit = format!("--unit=pm2ctl-{app}@0.service");
    let identifier = format!("SyslogIdentifier={app}");
    let app_field = format!("LogExtraFields=PM2_APP={app}");
    let script = fixtures_dir().join(script);
    let mut argv: Vec<String> = [
        "systemd-run",
        "--quiet",
        &unit,
        "-p",
        &identifier,
        "-p",
        &app_field,
        "-p",
        "LogExtraFields=PM2_INSTANCE=0",
        "-p",
        "LogExtraFields=PM2_NAMESPACE=default",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for var in env {
        argv.push("-E".into());
        argv.push(var.to_string());
    }
    for property in properties {
        argv.push("-p".into());
        argv.push(property.to_string());
    }
    argv.extend([PM2CTL.to_string(), "exec-wrap".to_string()]);
    argv.extend(wrap_args.iter().map(|s| s.to_string()));
    argv.extend([
        "--".to_string(),
        "/usr/bin/node".to_string(),
        script.display().to_string(),
    ]);
    assert_success("systemd-run", &sb.exec(&argv));
}

/// The app's journal entries as JSON records.
fn journal_records(sb: &Sandbox, app: &str) -> Vec<serde_json::Value> {
    let out = sb.journalctl(&[&format!("PM2_APP={app}"), "-o", "json"]);
    stdout(&out)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn field<'a>(record: &'a serde_json::Value, name: &str) -> &'a str {
    record.get(name).and_then(|v| v.as_str()).unwrap_or("")
}

/// A per-test scratch directory the sandbox can see (its /tmp is its own).
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("logs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Applies an ecosystem file holding `apps` (TOML `[[apps]]` tables) with `pm2ctl apply`,
/// which runs every app through `pm2ctl exec-wrap`.
fn apply(sb: &Sandbox, test: &str, apps: &str) {
    let dir = scratch(test);
    let file = dir.join("ecosystem.toml");
    std::fs::write(&file, apps).expect("write the ecosystem file");
    let file = file.display().to_string();
    assert_success("pm2ctl apply", &sb.pm2ctl(&["apply", &file]));
}

/// An `[[apps]]` table running fixture `script` with `extra` options.
fn app_table(name: &str, script: &str, extra: &str) -> String {
    format!(
        "[[apps]]\nuser = \"root\"\nname = \"{name}\"\nscript = \"{}\"\n{extra}\n",
        fixtures_dir().join(script).display()
    )
}

#[test]
fn exec_wrap_keeps_stdout_and_stderr_apart_in_the_journal() {
    let sb = Sandbox::boot();
    start_app(&sb, "printer", "printer.js", &[], &["PRINT_INTERVAL_MS=50"]);

    sb.wait_for("both lines under PM2_APP=printer", WAIT, || {
        let records = journal_records(&sb, "printer");
        let has = |text: &str| records.iter().any(|r| field(r, "MESSAGE") == text);
        has("out line 1") && has("err line 1")
    });
    let records = journal_records(&sb, "printer");
    for record in &records {
        let message = field(record, "MESSAGE");
        let expected = if message.starts_with("out line") {
            "6"
        } else if message.starts_with("err line") {
            "3"
        } else {
            continue;
        };
        assert_eq!(field(record, "PRIORITY"), expected, "{record}");
        assert_eq!(field(record, "SYSLOG_IDENTIFIER"), "printer", "{record}");
        assert_eq!(field(record, "PM2_INSTANCE"), "0", "{record}");
        assert_eq!(field(record, "_SYSTEMD_UNIT"), "pm2ctl-printer@0.service");
    }

    // The app itself is the unit's main process: nothing of pm2ctl stays between it and systemd.
    // (Its executable, not its comm: newer Node names its main thread "MainThread".)
    let main_pid = stdout(&sb.systemctl(&["show", "-P", "MainPID", "pm2ctl-printer@0.service"]));
    let exe = stdout(&sb.exec(&["readlink", &format!("/proc/{}/exe", main_pid.trim())]));
    assert!(
        exe.trim().ends_with("/node") || exe.trim().ends_with("/nodejs"),
        "main process runs {exe:?}"
    );
}

#[test]
fn exec_wrap_appends_to_files_and_creates_their_directories() {
    let sb = Sandbox::boot();
    let dir = scratch("files");
    // The out file's directories do not exist yet; the error file has earlier content.
    let out_file = dir.join("nested/dir/printer-out.log");
    let err_file = dir.join("printer-error.log");
    std::fs::write(&err_file, "kept from before\n").unwrap();
    let (out_arg, err_arg) = (
        out_file.display().to_string(),
        err_file.display().to_string(),
    );
    start_app(
        &sb,
        "printer",
        "printer.js",
        &["--out-file", &out_arg, "--err-file", &err_arg],
        &["PRINT_INTERVAL_MS=50"],
    );
    sb.wait_for("lines in both files", WAIT, || {
        let out = std::fs::read_to_string(&out_file).unwrap_or_default();
        let err = std::fs::read_to_string(&err_file).unwrap_or_default();
        out.contains("out line 2") && err.contains("err line 2")
    });
    let out = std::fs::read_to_string(&out_file).unwrap();
    let err = std::fs::read_to_string(&err_file).unwrap();
    assert!(!out.contains("err line"), "stderr in the out file:\n{out}");
    assert!(
        err.starts_with("kept from before\n"),
        "not appended:\n{err}"
    );
    assert!(
        !err.contains("out line"),
        "stdout in the error file:\n{err}"
    );
    // A stream sent to a file does not also reach the journal.
    let records = journal_records(&sb, "printer");
    assert!(
        !records
            .iter()
            .any(|r| field(r, "MESSAGE").starts_with("out line")),
        "stdout reached the journal too"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exec_wrap_merge_logs_writes_one_combined_file() {
    let sb = Sandbox::boot();
    let dir = scratch("merged");
    let log = dir.join("printer.log");
    let log_arg = log.display().to_string();
    start_app(
        &sb,
        "printer",
        "printer.js",
        &["--out-file", &log_arg, "--merge-logs"],
        &["PRINT_INTERVAL_MS=50"],
    );
    sb.wait_for("both streams in the combined file", WAIT, || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.contains("out line 2") && text.contains("err line 2")
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exec_wrap_starts_the_app_even_when_its_log_file_cannot_be_opened() {
    let sb = Sandbox::boot();
    let dir = scratch("unwritable");
    // A regular file where a directory should be: the log file cannot be created.
    std::fs::write(dir.join("blocker"), "").unwrap();
    let bad = dir.join("blocker/printer-out.log").display().to_string();
    start_app(
        &sb,
        "printer",
        "printer.js",
        &["--out-file", &bad],
        &["PRINT_INTERVAL_MS=50"],
    );
    // stdout falls back to what the unit gave it (the journal), and a warning says why.
    sb.wait_for("the app's lines and the warning", WAIT, || {
        let records = journal_records(&sb, "printer");
        let has = |prefix: &str| {
            records
                .iter()
                .any(|r| field(r, "MESSAGE").starts_with(prefix))
        };
        has("out line 1") && has("pm2ctl exec-wrap: stdout keeps its original destination")
    });
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// pm2ctl logs

/// Starts the printer and waits until it has logged `lines` lines on each stream.
fn printer_with_lines(sb: &Sandbox, lines: u32) {
    apply(
        sb,
        "printer",
        &app_table(
            "printer",
            "printer.js",
            "env = { PRINT_INTERVAL_MS = \"100\" }",
        ),
    );
    let last_out = format!("out line {lines}");
    let last_err = format!("err line {lines}");
    sb.wait_for("the printer's lines", WAIT, || {
        let records = journal_records(sb, "printer");
        let has = |text: &str| records.iter().any(|r| field(r, "MESSAGE") == text);
        has(&last_out) && has(&last_err)
    });
}

/// `pm2ctl ARGS` inside the sandbox, which must succeed; its stdout lines.
fn pm2ctl_lines(sb: &Sandbox, args: &[&str]) -> Vec<String> {
    let out = sb.pm2ctl(args);
    assert_success(&format!("pm2ctl {}", args.join(" ")), &out);
    stdout(&out).lines().map(String::from).collect()
}

#[test]
fn logs_shows_stdout_and_stderr_told_apart() {
    let sb = Sandbox::boot();
    printer_with_lines(&sb, 3);

    let all = pm2ctl_lines(&sb, &["logs", "printer", "--nostream", "--lines", "1000"]);
    assert!(
        all.contains(&"0|printer | out line 1".to_string()),
        "{all:#?}"
    );
    assert!(
        all.contains(&"0|printer | err line 1".to_string()),
        "{all:#?}"
    );
    // No colors when the output is not a terminal.
    assert!(all.iter().all(|l| !l.contains('\x1b')), "{all:#?}");

    let err = pm2ctl_lines(
        &sb,
        &["logs", "printer", "--nostream", "--lines", "1000", "--err"],
    );
    assert!(
        err.contains(&"0|printer | err line 2".to_string()),
        "{err:#?}"
    );
    assert!(
        err.iter().all(|l| l.contains("| err line")),
        "--err: {err:#?}"
    );

    let out = pm2ctl_lines(
        &sb,
        &["logs", "printer", "--nostream", "--lines", "1000", "--out"],
    );
    assert!(
        out.contains(&"0|printer | out line 2".to_string()),
        "{out:#?}"
    );
    assert!(
        out.iter().all(|l| l.contains("| out line")),
        "--out: {out:#?}"
    );

    // Without a target: every app.
    let every = pm2ctl_lines(&sb, &["logs", "--nostream", "--lines", "1000", "--raw"]);
    assert!(every.contains(&"out line 1".to_string()), "{every:#?}");
}

/// systemd's own lines about the app's unit ("Starting …", "Started …", "Stopping …"), which
/// systemd 257 tags with the unit's `PM2_APP`, are never shown as the app's output: not by
/// `logs` (history or following), nor in `show`; `logs --events` shows them under pm2ctl's
/// prefix, on every release.
#[test]
fn systemds_lines_about_an_app_are_events_not_its_output() {
    let sb = Sandbox::boot();
    printer_with_lines(&sb, 2);
    let unit = "pm2ctl-printer@0.service";
    // The journal has them (PID 1's, about the unit), as on a real host.
    sb.wait_for("PID 1's lines about the unit", WAIT, || {
        !stdout(&sb.journalctl(&["_PID=1", &format!("UNIT={unit}"), "-o", "cat"]))
            .trim()
            .is_empty()
    });
    // systemd's wording: "Started pm2ctl-printer@0.service - pm2ctl app printer …" from 249 on,
    // "Started pm2ctl app printer …" (the description alone) before; the printer's own lines
    // are "out line N" and "err line N".
    let is_event = |l: &str| {
        [
            "Starting ",
            "Started ",
            "Stopping ",
            "Stopped ",
            "Deactivated",
            "Succeeded",
        ]
        .iter()
        .any(|w| l.contains(w))
    };

    let history = pm2ctl_lines(&sb, &["logs", "printer", "--nostream", "--lines", "1000"]);
    assert!(
        history.iter().any(|l| l.contains("| out line")),
        "{history:#?}"
    );
    assert!(!history.iter().any(|l| is_event(l)), "{history:#?}");
    let shown = stdout(&sb.pm2ctl(&["show", "printer"]));
    assert!(
        !shown.lines().any(|l| l.contains("|printer") && is_event(l)),
        "{shown}"
    );

    let events = pm2ctl_lines(
        &sb,
        &[
            "logs",
            "printer",
            "--nostream",
            "--lines",
            "1000",
            "--events",
        ],
    );
    assert!(
        events
            .iter()
            .any(|l| l.starts_with("pm2ctl | App [printer:0] ") && l.contains("Started ")),
        "{events:#?}"
    );
    assert!(
        events
            .iter()
            .filter(|l| is_event(l))
            .all(|l| l.starts_with("pm2ctl | ")),
        "{events:#?}"
    );

    // Following, across a restart: the app's new lines, and its events only when asked.
    let pm2ctl = sh(PM2CTL);
    for flag in ["", "--events"] {
        let script = format!(
            "timeout --preserve-status --signal=INT 6 {pm2ctl} logs printer --lines 0 {flag} & \
             sleep 2; {pm2ctl} restart printer >/dev/null; wait"
        );
        let out = sb.exec(&["sh", "-c", &script]);
        assert_success(&script, &out);
        let lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
        assert!(
            lines.iter().any(|l| l.contains("| out line")),
            "{flag}: {lines:#?}"
        );
        let shown: Vec<&String> = lines.iter().filter(|l| is_event(l)).collect();
        if flag.is_empty() {
            assert!(shown.is_empty(), "{lines:#?}");
        } else {
            assert!(
                !shown.is_empty()
                    && shown
                        .iter()
                        .all(|l| l.starts_with("pm2ctl | App [printer:0] ")),
                "{lines:#?}"
            );
        }
    }
}

#[test]
fn logs_lines_json_and_unknown_targets() {
    let sb = Sandbox::boot();
    printer_with_lines(&sb, 3);

    let three = pm2ctl_lines(&sb, &["logs", "printer", "--nostream", "--lines", "3"]);
    assert_eq!(three.len(), 3, "{three:#?}");

    let json = pm2ctl_lines(
        &sb,
        &["logs", "printer", "--nostream", "--lines", "4", "--json"],
    );
    assert_eq!(json.len(), 4, "{json:#?}");
    for line in &json {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        let message = value["message"].as_str().unwrap_or_default();
        let expected = if message.starts_with("out line") {
            "out"
        } else {
            "err"
        };
        assert_eq!(value["type"], expected, "{line}");
        assert_eq!(value["app_name"], "printer", "{line}");
        assert_eq!(value["process_id"], 0, "{line}");
        assert!(
            value["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
    }

    let unknown = sb.pm2ctl(&["logs", "nope", "--nostream"]);
    assert_eq!(unknown.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("Process or Namespace nope not found"),
        "{unknown:?}"
    );
}

#[test]
fn logs_ends_cleanly_on_a_closed_pipe_and_on_ctrl_c() {
    let sb = Sandbox::boot();
    printer_with_lines(&sb, 3);
    let pm2ctl = sh(PM2CTL);

    for command in [
        format!("{pm2ctl} logs printer --nostream --lines 1000 | head -1"),
        // Following: the printer keeps printing, so the closed pipe is noticed.
        format!("{pm2ctl} logs printer | head -1"),
    ] {
        let out = sb.exec(&["bash", "-o", "pipefail", "-c", &command]);
        assert_success(&command, &out);
        assert_eq!(stdout(&out).lines().count(), 1, "{command}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim().is_empty(), "{command} complained:\n{stderr}");
    }

    // Ctrl-C while following.
    let out = sb.exec(&[
        "timeout",
        "--preserve-status",
        "--signal=INT",
        "2",
        PM2CTL,
        "logs",
        "printer",
    ]);
    assert_success("logs interrupted by SIGINT", &out);
    assert!(stdout(&out).contains("| out line"), "{out:?}");
}

#[test]
fn flush_hides_earlier_lines_from_logs_only() {
    let sb = Sandbox::boot();
    printer_with_lines(&sb, 2);
    assert_success("pm2ctl stop", &sb.pm2ctl(&["stop", "printer"]));

    let flushed = sb.pm2ctl(&["flush", "printer"]);
    assert_success("flush", &flushed);
    let after = pm2ctl_lines(&sb, &["logs", "printer", "--nostream", "--lines", "1000"]);
    assert!(after.is_empty(), "flushed lines still shown: {after:#?}");
    // The journal itself still has them.
    assert!(!journal_records(&sb, "printer").is_empty());

    // New lines show again.
    assert_success("pm2ctl restart", &sb.pm2ctl(&["restart", "printer"]));
    sb.wait_for("new lines after the flush", WAIT, || {
        let out = sb.pm2ctl(&["logs", "printer", "--nostream", "--lines", "1000"]);
        stdout(&out).contains("0|printer | out line 1")
    });
}

/// The `chatty N` lines of `app` in the journal.
fn chatty_lines(sb: &Sandbox, app: &str) -> usize {
    let out = sb.journalctl(&[&format!("PM2_APP={app}"), "-o", "cat"]);
    stdout(&out)
        .lines()
        .filter(|l| l.starts_with("chatty ") && l[7..].bytes().all(|b| b.is_ascii_digit()))
        .count()
}

#[test]
fn a_chatty_app_loses_no_line_under_a_raised_limit_and_losses_are_shown() {
    let sb = Sandbox::boot();
    const LINES: usize = 50_000;
    // `loud` gets pm2ctl's default limit; `lossy` a low one, so journald drops lines and
    // says so (with its first line after the 2 s interval).
    let apps = [
        app_table(
            "loud",
            "chatty.js",
            &format!("env = {{ CHATTY_LINES = \"{LINES}\" }}"),
        ),
        app_table(
            "lossy",
            "chatty.js",
            &format!(
                "env = {{ CHATTY_LINES = \"{LINES}\", CHATTY_LATER_MS = \"3000\" }}\n\
                 log_rate_limit = {{ burst = 100, interval = \"2s\" }}"
            ),
        ),
    ]
    .concat();
    apply(&sb, "chatty", &apps);

    sb.wait_for("the loud app's last line", Duration::from_secs(120), || {
        journal_records(&sb, "loud")
            .iter()
            .any(|r| field(r, "MESSAGE") == "chatty done")
    });
    assert_eq!(
        chatty_lines(&sb, "loud"),
        LINES,
        "lines lost under the raised limit"
    );

    sb.wait_for(
        "journald's notice in pm2ctl logs",
        Duration::from_secs(60),
        || {
            let out = sb.pm2ctl(&["logs", "lossy", "--nostream", "--lines", "100000"]);
            stdout(&out).contains("journald: Suppressed")
        },
    );
    assert!(
        chatty_lines(&sb, "lossy") < LINES,
        "the low limit dropped nothing"
    );
    // Another app's losses are not shown for this one.
    let loud = pm2ctl_lines(&sb, &["logs", "loud", "--nostream", "--lines", "100"]);
    assert!(loud.iter().all(|l| !l.contains("Suppressed")), "{loud:#?}");
}

#[test]
fn applied_apps_honour_log_files_and_log_date_format() {
    let sb = Sandbox::boot();
    let dir = scratch("applied-files");
    let out_file = dir.join("logs/deep/filed-out.log");
    let err_file = dir.join("logs/deep/filed-error.log");
    let apps = [
        app_table(
            "filed",
            "printer.js",
            &format!(
                "env = {{ PRINT_INTERVAL_MS = \"100\" }}\nout_file = \"{}\"\nerror_file = \"{}\"",
                out_file.display(),
                err_file.display()
            ),
        ),
        app_table(
            "dated",
            "printer.js",
            "env = { PRINT_INTERVAL_MS = \"100\" }\nlog_date_format = \"[stamp]\"",
        ),
    ]
    .concat();
    apply(&sb, "applied", &apps);

    sb.wait_for("lines in the app's files", WAIT, || {
        let out = std::fs::read_to_string(&out_file).unwrap_or_default();
        let err = std::fs::read_to_string(&err_file).unwrap_or_default();
        out.contains("out line 2") && err.contains("err line 2")
    });
    let out = std::fs::read_to_string(&out_file).unwrap_or_default();
    assert!(!out.contains("err line"), "stderr in the out file:\n{out}");

    // log_date_format travels with the lines and is applied when they are shown.
    sb.wait_for("the dated app's lines", WAIT, || {
        let out = sb.pm2ctl(&["logs", "dated", "--nostream", "--lines", "1000"]);
        // `filed` came first in the file, so it has pm_id 0 and `dated` 1.
        stdout(&out).contains("1|dated | stamp: out line 1")
    });
    // --timestamp overrides it.
    let custom = pm2ctl_lines(
        &sb,
        &[
            "logs",
            "dated",
            "--nostream",
            "--lines",
            "1",
            "--timestamp=[T]",
        ],
    );
    assert_eq!(custom.len(), 1, "{custom:#?}");
    assert!(custom[0].starts_with("1|dated | T: "), "{custom:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn following_every_app_includes_apps_started_later() {
    let sb = Sandbox::boot();
    printer_with_lines(&sb, 1);
    let dir = scratch("late");
    let late = dir.join("late.toml");
    std::fs::write(
        &late,
        app_table(
            "late",
            "printer.js",
            "env = { PRINT_INTERVAL_MS = \"100\" }",
        ),
    )
    .expect("write late.toml");
    // `pm2ctl logs` (every app, following) runs while `late` is applied; a signal ends it.
    let script = format!(
        "{pm2ctl} logs > {out} & logs=$!; sleep 2; {pm2ctl} apply {late} >/dev/null; \
         for _ in $(seq 1 100); do grep -q '|late ' {out} && break; sleep 0.2; done; \
         kill -INT $logs; wait $logs",
        pm2ctl = sh(PM2CTL),
        out = sh(dir.join("out.txt").display()),
        late = sh(late.display()),
    );
    assert_success(
        "logs while an app starts",
        &sb.exec(&["bash", "-c", &script]),
    );
    let out = std::fs::read_to_string(dir.join("out.txt")).unwrap_or_default();
    assert!(out.contains("|printer | out line"), "{out}");
    assert!(out.contains("|late    | out line 1"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
