//! `pm2ctl logs`, `pm2ctl flush` and the hidden `pm2ctl exec-wrap`.

use super::ManagerArgs;
use crate::logs::query::StreamFilter;
use crate::logs::render::Format;
use crate::logs::wrap::{self, WrapOptions};
use crate::logs::{marks, view};
use anyhow::Result;
use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Connects the app's stdout and stderr to journald (or files), then runs it in place.
///
/// Used as the ExecStart of app units; see `pm2ctl help logs` for what reaches the journal.
#[derive(clap::Args, Debug)]
pub struct ExecWrapArgs {
    /// Append stdout to this file instead of sending it to the journal.
    #[arg(long, value_name = "FILE")]
    pub out_file: Option<PathBuf>,
    /// Append stderr to this file instead of sending it to the journal.
    #[arg(long, value_name = "FILE")]
    pub err_file: Option<PathBuf>,
    /// Send stderr wherever stdout goes (one combined file or journal stream).
    #[arg(long)]
    pub merge_logs: bool,
    /// Leave streams without a file as the unit connected them.
    #[arg(long)]
    pub no_journal: bool,
    /// SYSLOG_IDENTIFIER of the journal streams and app_name of JSON lines (default: the app
    /// name of the unit, else the program's name).
    #[arg(long, value_name = "NAME")]
    pub identifier: Option<String>,
    /// Start each line written to a file with the time in this dayjs format (PM2's
    /// log_date_format).
    #[arg(long, value_name = "FORMAT")]
    pub date_format: Option<String>,
    /// Write each line to a file as PM2's JSON object (PM2's log_type = "json").
    #[arg(long)]
    pub json: bool,
    /// The process_id of JSON lines.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub process_id: u32,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Runs `exec-wrap`; returns only if the command could not be executed.
pub fn exec_wrap(args: ExecWrapArgs) -> Result<ExitCode> {
    let options = WrapOptions {
        out_file: args.out_file,
        err_file: args.err_file,
        merge_logs: args.merge_logs,
        no_journal: args.no_journal,
        identifier: args.identifier,
        date_format: args.date_format,
        json: args.json,
        process_id: args.process_id,
        command: args.command,
    };
    let error = wrap::exec_wrapped(&options);
    eprintln!("{error:#}");
    // A shell's "command not found / not executable" status.
    Ok(ExitCode::from(127))
}

/// What `pm2ctl help logs` adds below the options.
const LOGS_HELP: &str = "\
Apps log to the systemd journal: stdout at priority 6 (info), stderr at 3 (err), each line
tagged with SYSLOG_IDENTIFIER=<app> and the fields PM2_APP, PM2_INSTANCE and PM2_NAMESPACE,
so plain journalctl finds them too:

    journalctl PM2_APP=api -f            journalctl PM2_APP=api PRIORITY=3

A user's own manager (--user) does not add these fields (systemd 252 applies LogExtraFields= to
system units only); `logs --user` finds those lines by their unit, as does
`journalctl --user --user-unit 'pm2ctl-api@*'`.

systemd's own lines about an app's units (\"Starting pm2ctl-api@0.service…\", \"Started …\",
\"Deactivated successfully\") are not the app's output: `logs` leaves them out, and
`logs --events` shows them under pm2ctl's prefix (`pm2ctl | App [api:0] Started …`). Since
systemd 254 they carry the unit's fields too, so there `journalctl PM2_APP=api` shows them
beside the app's lines (they come from PID 1); the app's lines alone are

    journalctl PM2_APP=api _SYSTEMD_SLICE=pm2ctl-api.slice

The journal rotates and caps its own size (SystemMaxUse= in journald.conf). When an app logs
faster than its rate limit (log_rate_limit in the ecosystem file), journald drops lines and
says so; those notices are shown here. `pm2ctl flush` hides older lines from `logs`; they
stay in the journal until it rotates them.";

/// Show apps' logs from the journal, following new lines as PM2 does.
#[derive(clap::Args, Debug)]
#[command(after_help = LOGS_HELP)]
pub struct LogsArgs {
    /// `all` (default), an app name, a namespace, a pm_id or a `/regex/` on names.
    #[arg(value_name = "id|name|namespace|all|/regex/")]
    pub target: Option<String>,
    /// Lines of history to show first.
    #[arg(long, default_value_t = 15, value_name = "N")]
    pub lines: u32,
    /// Only stderr lines (journal priority 3 and more severe).
    #[arg(long, conflicts_with = "out")]
    pub err: bool,
    /// Only stdout lines.
    #[arg(long)]
    pub out: bool,
    /// PM2's JSON objects, one per line.
    #[arg(long, conflicts_with = "raw")]
    pub json: bool,
    /// The lines alone, without the `id|name |` prefix.
    #[arg(long)]
    pub raw: bool,
    /// Prefix each line with its time, in a dayjs format (default YYYY-MM-DD-HH:mm:ss);
    /// without it, an app's log_date_format applies.
    #[arg(
        long,
        value_name = "FORMAT",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = crate::logs::timefmt::PM2_DEFAULT
    )]
    pub timestamp: Option<String>,
    /// Print the lines and exit instead of following.
    #[arg(long, alias = "no-stream")]
    pub nostream: bool,
    /// Also show systemd's own lines about the apps' units (starting, started, stopped,
    /// failed), under pm2ctl's prefix: `pm2ctl | App [api:0] Started …`.
    #[arg(long)]
    pub events: bool,
    /// Only lines since this time, in journalctl's syntax ("2026-11-23 10:00", "-1h", "today").
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

/// Hide the logs shown so far: `logs` starts after this moment.
///
/// journald cannot delete one app's lines, so this records a mark (in the state directory)
/// and `pm2ctl logs` shows only newer lines; `journalctl` still shows everything until the
/// journal rotates it away.
#[derive(clap::Args, Debug)]
pub struct FlushArgs {
    /// `all` (default), an app name, a namespace, a pm_id or a `/regex/` on names.
    #[arg(value_name = "id|name|namespace|all|/regex/")]
    pub target: Option<String>,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn logs(args: LogsArgs) -> Result<()> {
    let stdout = std::io::stdout();
    let view = view::View {
        streams: match (args.err, args.out) {
            (true, _) => StreamFilter::Err,
            (_, true) => StreamFilter::Out,
            _ => StreamFilter::Both,
        },
        format: if args.json {
            Format::Json
        } else if args.raw {
            Format::Raw
        } else {
            Format::Pm2
        },
        colors: stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        timestamp: args.timestamp,
        lines: args.lines,
        follow: !args.nostream,
        events: args.events,
        since: args.since,
    };
    let out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    view::show(
        &args.manager.host,
        args.manager.scope(),
        args.target.as_deref(),
        view,
        out,
    )
}

pub fn flush(args: FlushArgs) -> Result<()> {
    let target = args.target.as_deref().filter(|t| *t != "all");
    let flushed = marks::flush(&args.manager.host, args.manager.scope(), target)?;
    match flushed {
        None => println!(
            "[PM2] Logs flushed: `pm2ctl logs` starts after now (the journal keeps older lines)"
        ),
        Some(what) => println!(
            "[PM2] Logs flushed for {}: `pm2ctl logs` starts after now (the journal keeps older lines)",
            what.join(", ")
        ),
    }
    Ok(())
}
