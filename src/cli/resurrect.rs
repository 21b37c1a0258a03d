//! `pm2ctl resurrect [--user]`: apply the saved state (`pm2ctl save`) now, as `apply` does
//! with the saved file; apps already running as saved are left alone.

use super::ManagerArgs;
use crate::saved;
use std::process::ExitCode;

/// The arguments of `resurrect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: &Args) -> ExitCode {
    let file = match saved::saved_file(args.manager.scope()) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("pm2ctl resurrect: {e:#}");
            return ExitCode::from(1);
        }
    };
    if !file.exists() {
        eprintln!(
            "pm2ctl resurrect: nothing saved ({} does not exist; `pm2ctl save` writes it)",
            file.display()
        );
        return ExitCode::from(1);
    }
    println!("[PM2] Resurrecting from {}", file.display());
    super::apply::run(&super::apply::Args {
        file,
        env: None,
        prune: false,
        dry_run: false,
        save: false,
        manager: args.manager.clone(),
    })
}
