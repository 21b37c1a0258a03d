//! The `pm2ctl` command line: parses arguments and hands each verb to its module.

use clap::Parser;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "pm2ctl",
    version,
    about = "PM2's process management with systemd as the supervisor"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Check an ecosystem file and report every problem in it.
    Validate { file: std::path::PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { file } => pm2ctl::cli::validate::run(&file),
    }
}
