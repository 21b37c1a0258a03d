//! `pm2ctl import FILE`: print the `ecosystem.toml` equivalent of a PM2 ecosystem file.

use crate::ecosystem;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

/// Prints the TOML on stdout (exit 0), or every problem of the input (exit 2).
/// The output is not written anywhere else, so nothing is overwritten by mistake:
/// `pm2ctl import ecosystem.config.js > ecosystem.toml`.
pub fn run(file: &Path) -> Result<ExitCode> {
    let dump = ecosystem::is_pm2_dump(file);
    let loaded = if dump {
        crate::load::pm2_dump(file).map(|(eco, warnings)| {
            super::print_warnings(&warnings);
            eco
        })
    } else {
        super::load_file(file)
    };
    match loaded {
        Ok(eco) => {
            print!("{}", ecosystem::to_toml(&eco, file));
            if dump {
                eprintln!(
                    "{}: {} app{} of a PM2 host. To move them over:\n  \
                     pm2ctl import {} > ecosystem.toml\n  \
                     pm2 kill                                  # PM2's own pm2: its apps stop\n  \
                     pm2ctl apply ecosystem.toml --save        # they run under systemd, and at boot",
                    file.display(),
                    eco.apps.len(),
                    if eco.apps.len() == 1 { "" } else { "s" },
                    file.display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::from(2))
        }
    }
}
