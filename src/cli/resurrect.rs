//! `pm2ctl resurrect [--user]`: apply the saved state (`pm2ctl save`) now, as `apply` does
//! with the saved file; apps already running as saved are left alone. With `-H`, the other
//! host's saved state, on that host.

use super::{ManagerArgs, Prefixed};
use crate::boot::saved::SavedFile;
use anyhow::{bail, Result};
use std::process::ExitCode;

/// The arguments of `resurrect`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: &Args) -> Result<ExitCode> {
    let saved = SavedFile::of(&args.manager.host, args.manager.scope()).and_then(|file| {
        let text = file.read()?;
        Ok((file, text))
    });
    let (file, text) = match saved.map_err(|e| Prefixed::error("pm2ctl resurrect: ", e))? {
        (file, Some(text)) => (file, text),
        (file, None) => bail!(
            "pm2ctl resurrect: nothing saved ({file} does not exist; `pm2ctl save` writes it)"
        ),
    };
    println!("[PM2] Resurrecting from {file}");
    let args = super::apply::Args {
        file: file.path().to_path_buf(),
        env: None,
        prune: false,
        dry_run: false,
        save: false,
        reload: false,
        no_rollback: false,
        json: false,
        manager: args.manager.clone(),
    };
    match crate::boot::saved::load_text(file.path(), &text) {
        Ok(eco) => super::apply::run_loaded(&args, eco),
        Err(e) => {
            eprintln!("{e}");
            // PM2's fallback: the saved state before the last `save`.
            let backup = file.backup();
            if let Ok(Some(text)) = backup.read() {
                if let Ok(eco) = crate::boot::saved::load_text(backup.path(), &text) {
                    eprintln!(
                        "[PM2][WARN] {file} cannot be read (left as it is): resurrecting from {backup}"
                    );
                    // Recorded as the saved file's apps, as any resurrect.
                    return super::apply::run_loaded(&args, eco);
                }
            }
            eprintln!("{file}: not applied, nothing was changed");
            Ok(ExitCode::from(2))
        }
    }
}
