//! `pm2ctl plan FILE [--env NAME] [--json] [--unit-files]`: the units pm2ctl would create for
//! a file, with every property as it would be sent to systemd. Reads nothing but the file and
//! this machine's facts (CPUs, user, PATH, systemd version); needs no running systemd.

use super::{ManagerArgs, UsageError};
use crate::host::local::SystemResolver;
use crate::plan::{self, HostFacts};
use crate::unit;
use anyhow::Result;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ecosystem file (ecosystem.toml, or PM2's .json/.js).
    pub file: PathBuf,
    /// Apply the `env_<NAME>` tables (and `deploy.<NAME>.env`), as `pm2 start --env NAME`.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Print the unit files the same units become (as the boot-time generator writes them).
    #[arg(long, conflicts_with = "json")]
    pub unit_files: bool,
    /// Plan for this systemd version instead of the installed one (`systemctl --version`, else 252).
    #[arg(long, value_name = "N")]
    pub systemd_version: Option<u32>,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: Args) -> Result<()> {
    plan(&args)
}

fn plan(args: &Args) -> Result<()> {
    let eco = super::load_file(&args.file)?;
    let host = HostFacts::detect(args.manager.scope(), args.systemd_version);
    let plan = plan::plan(&eco, args.env.as_deref(), &host, &SystemResolver)
        .map_err(|e| UsageError(format!("{}:\n{e}", args.file.display())))?;
    // What the apps' accounts must reach, checked as `apply` does.
    crate::preflight::verdict(&plan)
        .map_err(|e| UsageError(format!("{}:\n{e}", args.file.display())))?;
    if args.json {
        println!("{:#}", plan::show::json(&plan));
    } else if args.unit_files {
        for spec in plan.units() {
            let text = unit::render(spec).map_err(|e| UsageError(e.to_string()))?;
            println!("{text}");
        }
        for w in &plan.warnings {
            eprintln!("warning: {w}");
        }
    } else {
        print!("{}", plan::show::text(&plan));
    }
    Ok(())
}
