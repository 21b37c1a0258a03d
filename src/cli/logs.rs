//! `pm2ctl exec-wrap`, `pm2ctl logs` and `pm2ctl flush`.

use crate::logs::wrap::{self, WrapOptions};
use std::ffi::OsString;
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
    /// SYSLOG_IDENTIFIER of the journal streams (default: the app name of the unit, else the
    /// program's name).
    #[arg(long, value_name = "NAME")]
    pub identifier: Option<String>,
    /// The command and its arguments.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// Runs `exec-wrap`; returns only if the command could not be executed.
pub fn exec_wrap(args: ExecWrapArgs) -> ExitCode {
    let options = WrapOptions {
        out_file: args.out_file,
        err_file: args.err_file,
        merge_logs: args.merge_logs,
        no_journal: args.no_journal,
        identifier: args.identifier,
        command: args.command,
    };
    let error = wrap::exec_wrapped(&options);
    eprintln!("{error:#}");
    // A shell's "command not found / not executable" status.
    ExitCode::from(127)
}
