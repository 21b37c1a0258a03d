//! Where an app's output goes: the journal always (tagged so `journalctl PM2_APP=api` finds
//! it), plus the files `out_file`/`error_file`/`log_file` ask for.
//!
//! With `HostFacts::self_exe` set, `ExecStart` runs `pm2ctl exec-wrap`, which connects stdout
//! (priority 6) and stderr (priority 3) to separate journal streams, or appends a stream to
//! its file instead, then execs the real command (the wrapper contract). Without it, the real
//! command runs directly: both streams reach the journal at one priority, and a requested
//! file replaces the journal for that stream (`StandardOutputFileToAppend`). Either way a
//! stream written to a file is not in the journal, as under PM2 where files are the only log.
//! `/dev/null` (`NULL`) as a log file means "no file": the stream stays in the journal.
//!
//! PM2's `log_date_format` and `log_type = "json"` shape the lines written to files: the
//! wrapper is told the format and the instance (`--date-format`, `--json`, `--process-id`)
//! and copies the app's lines into the files in that shape. Without the wrapper the files get
//! the lines as written, and the plan says so.
//!
//! journald drops lines above 10,000 per 30 s per unit by default; a busy app would lose
//! output silently, so every unit gets a higher limit: [`LOG_RATE_LIMIT_BURST`] lines per
//! [`LOG_RATE_LIMIT_INTERVAL`].

use crate::ecosystem::{App, LogRateLimit, LogTarget};
use crate::unit::{ExecCommand, UnitSpec, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Lines journald accepts from one unit per interval before it suppresses the rest, unless
/// the app sets `log_rate_limit`.
pub const LOG_RATE_LIMIT_BURST: u32 = LogRateLimit::DEFAULT.burst;
/// The interval of [`LOG_RATE_LIMIT_BURST`].
pub const LOG_RATE_LIMIT_INTERVAL: Duration = LogRateLimit::DEFAULT.interval;

/// The journal fields of one instance: `SyslogIdentifier`, `LogExtraFields`, and the
/// rate limit (`log_rate_limit`). An app's `log_date_format` travels as the field
/// `PM2_LOG_DATE_FORMAT`, so `pm2ctl logs` renders its lines' times without the store.
pub fn journal_properties(spec: &mut UnitSpec, app: &App, index: u32) {
    spec.set("SyslogIdentifier", Value::Str(app.name.clone()));
    let mut fields = vec![
        format!("PM2_APP={}", app.name).into_bytes(),
        format!("PM2_INSTANCE={index}").into_bytes(),
        format!("PM2_NAMESPACE={}", app.namespace).into_bytes(),
    ];
    if let Some(format) = &app.log_date_format {
        fields.push(format!("PM2_LOG_DATE_FORMAT={format}").into_bytes());
    }
    spec.set("LogExtraFields", Value::Bytes(fields));
    spec.set(
        "LogRateLimitIntervalUSec",
        Value::U64(super::app::micros(app.log_rate_limit.interval)),
    );
    spec.set("LogRateLimitBurst", Value::U32(app.log_rate_limit.burst));
}

/// The log files of one instance, absolute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFiles {
    pub out: Option<PathBuf>,
    pub err: Option<PathBuf>,
}

/// Which files instance `index` appends to. Relative paths are against the file's
/// directory; without `merge_logs`, each instance gets its own file (`out-1.log`), as PM2
/// does with its process id.
pub fn log_files(
    app: &App,
    index: u32,
    merge: bool,
    base_dir: &Path,
    home: &Path,
    warnings: &mut Vec<String>,
) -> LogFiles {
    let file = |t: &LogTarget| match t {
        LogTarget::File(p) => {
            let abs = super::paths::resolve(p, base_dir, home);
            Some(if merge { abs } else { with_index(&abs, index) })
        }
        LogTarget::Journal | LogTarget::Null => None,
    };
    let mut files = LogFiles {
        out: file(&app.out_file),
        err: file(&app.error_file),
    };
    if let Some(combined) = file(&app.log_file) {
        if files.out.is_none() && files.err.is_none() {
            files.out = Some(combined.clone());
            files.err = Some(combined);
        } else if index == 0 {
            warnings.push(format!(
                "app `{}`: log_file together with out_file/error_file: only the separate files are written (and the journal)",
                app.name
            ));
        }
    }
    files
}

/// `api-out.log` → `api-out-2.log`.
fn with_index(path: &Path, index: u32) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{index}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{index}"),
    };
    path.with_file_name(name)
}

/// The command systemd runs for instance `index`: the real one, or
/// `self_exe exec-wrap … -- real…`; plus the output properties when there is no wrapper.
/// `disable_logs` needs no wrapper: both streams go to `null`.
pub fn exec_start(
    real: &ExecCommand,
    app: &App,
    index: u32,
    files: &LogFiles,
    self_exe: Option<&str>,
    spec_out: &mut Vec<(&'static str, Value)>,
    warnings: &mut Vec<String>,
) -> ExecCommand {
    if app.disable_logs {
        spec_out.push(("StandardOutput", Value::Str("null".into())));
        spec_out.push(("StandardError", Value::Str("null".into())));
        return real.clone();
    }
    let has_file = files.out.is_some() || files.err.is_some();
    let formatted = has_file && (app.log_json || app.log_date_format.is_some());
    let Some(wrapper) = self_exe else {
        if formatted && index == 0 {
            warnings.push(format!(
                "app `{}`: log_date_format/log_type apply to log files only through pm2ctl's \
                 exec-wrap, which this host's plan has no pm2ctl binary for: the files get the \
                 app's lines as it writes them",
                app.name
            ));
        }
        if let Some(out) = &files.out {
            spec_out.push((
                "StandardOutputFileToAppend",
                Value::Str(out.to_string_lossy().into_owned()),
            ));
        }
        if let Some(err) = &files.err {
            spec_out.push((
                "StandardErrorFileToAppend",
                Value::Str(err.to_string_lossy().into_owned()),
            ));
        }
        return real.clone();
    };
    let mut argv = vec![wrapper.to_string(), "exec-wrap".to_string()];
    match (&files.out, &files.err) {
        // One combined file (`log_file`): stderr follows stdout.
        (Some(out), Some(err)) if out == err => {
            argv.push("--out-file".into());
            argv.push(out.to_string_lossy().into_owned());
            argv.push("--merge-logs".into());
        }
        (out, err) => {
            if let Some(out) = out {
                argv.push("--out-file".into());
                argv.push(out.to_string_lossy().into_owned());
            }
            if let Some(err) = err {
                argv.push("--err-file".into());
                argv.push(err.to_string_lossy().into_owned());
            }
        }
    }
    if formatted {
        if let Some(format) = &app.log_date_format {
            argv.push("--date-format".into());
            argv.push(format.clone());
        }
        if app.log_json {
            argv.push("--json".into());
            argv.push("--process-id".into());
            argv.push(index.to_string());
        }
    }
    argv.push("--".into());
    argv.push(real.path.clone());
    argv.extend(real.argv.iter().skip(1).cloned());
    crate::unit::dollar::encode(&mut argv, 2);
    ExecCommand {
        path: wrapper.to_string(),
        argv,
        ignore_failure: real.ignore_failure,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmerged_files_get_the_instance_index() {
        assert_eq!(
            with_index(Path::new("/l/api-out.log"), 2),
            Path::new("/l/api-out-2.log")
        );
        assert_eq!(with_index(Path::new("/l/out"), 0), Path::new("/l/out-0"));
    }

    #[test]
    fn wrapper_form_follows_the_contract() {
        let real = ExecCommand {
            path: "/usr/bin/node".into(),
            argv: vec!["/usr/bin/node".into(), "/srv/app.js".into(), "--x".into()],
            ignore_failure: false,
        };
        let app = App::with_defaults("api", "app.js");
        let files = LogFiles {
            out: Some("/l/o.log".into()),
            err: None,
        };
        let mut extra = Vec::new();
        let wrapped = exec_start(
            &real,
            &app,
            0,
            &files,
            Some("/usr/bin/pm2ctl"),
            &mut extra,
            &mut Vec::new(),
        );
        assert_eq!(wrapped.path, "/usr/bin/pm2ctl");
        assert_eq!(
            wrapped.argv,
            [
                "/usr/bin/pm2ctl",
                "exec-wrap",
                "--out-file",
                "/l/o.log",
                "--",
                "/usr/bin/node",
                "/srv/app.js",
                "--x"
            ]
        );
        assert!(extra.is_empty());

        let direct = exec_start(&real, &app, 0, &files, None, &mut extra, &mut Vec::new());
        assert_eq!(direct, real);
        assert_eq!(
            extra,
            [("StandardOutputFileToAppend", Value::Str("/l/o.log".into()))]
        );
    }

    #[test]
    fn formatted_files_tell_the_wrapper_the_format_and_the_instance() {
        let real = ExecCommand {
            path: "/usr/bin/node".into(),
            argv: vec!["/usr/bin/node".into(), "/srv/app.js".into()],
            ignore_failure: false,
        };
        let mut app = App::with_defaults("api", "app.js");
        app.log_date_format = Some("YYYY-MM-DD HH:mm Z".into());
        app.log_json = true;
        let files = LogFiles {
            out: Some("/l/o.log".into()),
            err: Some("/l/o.log".into()),
        };
        let (mut extra, mut warnings) = (Vec::new(), Vec::new());
        let wrapped = exec_start(
            &real,
            &app,
            3,
            &files,
            Some("/usr/bin/pm2ctl"),
            &mut extra,
            &mut warnings,
        );
        assert_eq!(
            wrapped.argv[2..],
            [
                "--out-file",
                "/l/o.log",
                "--merge-logs",
                "--date-format",
                "YYYY-MM-DD HH:mm Z",
                "--json",
                "--process-id",
                "3",
                "--",
                "/usr/bin/node",
                "/srv/app.js"
            ]
        );
        assert!(warnings.is_empty());

        // The journal timestamps every line itself: no format to pass without a file.
        let journal_only = exec_start(
            &real,
            &app,
            0,
            &LogFiles::default(),
            Some("/usr/bin/pm2ctl"),
            &mut extra,
            &mut warnings,
        );
        assert_eq!(
            journal_only.argv[2..],
            ["--", "/usr/bin/node", "/srv/app.js"]
        );

        // Without the wrapper the files cannot be shaped, and the plan says so once.
        exec_start(&real, &app, 0, &files, None, &mut extra, &mut warnings);
        exec_start(&real, &app, 1, &files, None, &mut extra, &mut warnings);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("as it writes them"), "{warnings:?}");
    }
}
