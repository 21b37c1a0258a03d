//! `pm2ctl import FILE`: print the `ecosystem.toml` equivalent of a PM2 ecosystem file.

use crate::ecosystem;
use std::path::Path;
use std::process::ExitCode;

/// Prints the TOML on stdout (exit 0), or every problem of the input (exit 2).
/// The output is not written anywhere else, so nothing is overwritten by mistake:
/// `pm2ctl import ecosystem.config.js > ecosystem.toml`.
pub fn run(file: &Path) -> ExitCode {
    match super::load_file(file) {
        Ok(eco) => {
            print!("{}", ecosystem::to_toml(&eco, file));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
