//! Logs through journald, against a real systemd: `exec-wrap` keeps stdout and stderr apart in
//! the journal, files when asked, and `pm2ctl logs` reads them back as PM2 shows them.

mod common;

use common::sandbox::{assert_success, fixtures_dir, stdout, PM2CTL};
use common::Sandbox;
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Starts `script` (a fixture) as instance 0 of app `app`, through `pm2ctl exec-wrap` with
/// `wrap_args`, with the journal fields every pm2ctl unit carries.
fn start_app(sb: &Sandbox, app: &str, script: &str, wrap_args: &[&str], env: &[&str]) {
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
    let main_pid = stdout(&sb.systemctl(&["show", "-P", "MainPID", "pm2ctl-printer@0.service"]));
    let comm = stdout(&sb.exec(&["cat", &format!("/proc/{}/comm", main_pid.trim())]));
    assert_eq!(comm.trim(), "node");
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
