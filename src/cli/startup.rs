//! `pm2ctl startup [--user]` and `pm2ctl unstartup [--user]`: what makes the saved state
//! (`pm2ctl save`) come back at every boot, and what undoes it (see `boot::startup`).
//!
//! Exit codes: 0 done, 1 something is missing or not allowed (said on stderr).

use super::{ManagerArgs, Prefixed};
use crate::boot::startup::{startup, unstartup};
use anyhow::{bail, Result};
use std::path::PathBuf;

/// The arguments of `startup`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manager: ManagerArgs,
    #[command(flatten)]
    pub pm2: Pm2StartupArgs,
}

/// What PM2's `startup` takes (`pm2 startup systemd -u deploy --hp /home/deploy`), so the
/// lines of runbooks and Dockerfiles run: there each user's PM2 gets a boot service; here
/// every saved app comes back at boot and runs as its own `user`.
#[derive(clap::Args, Debug, Default)]
pub struct Pm2StartupArgs {
    /// PM2's init system: only `systemd` (pm2ctl runs on systemd).
    #[arg(value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// PM2's user whose PM2 starts at boot: accepted; each app runs as its own `user`.
    #[arg(short = 'u', value_name = "USER")]
    pub pm2_user: Option<String>,
    /// PM2's home of that user: accepted, not needed.
    #[arg(long = "hp", value_name = "HOME")]
    pub home: Option<PathBuf>,
    /// PM2's name of its boot service: accepted; the saved apps are units of their own.
    #[arg(long, value_name = "NAME")]
    pub service_name: Option<String>,
    /// PM2's wait for the network: accepted.
    #[arg(long)]
    pub wait_ip: bool,
}

/// The arguments of `unstartup`.
#[derive(clap::Args, Debug)]
pub struct UnstartupArgs {
    /// Also delete the saved file (`dump.toml`); without it, `pm2ctl startup` brings the
    /// same apps back at boot again.
    #[arg(long)]
    pub delete_saved: bool,
    #[command(flatten)]
    pub manager: ManagerArgs,
    #[command(flatten)]
    pub pm2: Pm2StartupArgs,
}

pub fn run(args: &Args) -> Result<()> {
    if let Some(platform) = args.pm2.platform.as_deref().filter(|p| *p != "systemd") {
        bail!(
            "[PM2][ERROR] Init system {platform} is not supported: pm2ctl runs on systemd \
             (`startup` or `startup systemd`)"
        );
    }
    if args.pm2.platform.is_some() {
        println!("[PM2] Init System found: systemd");
    }
    startup(args.manager.scope()).map_err(|e| Prefixed::error("pm2ctl startup: ", e))
}

pub fn run_unstartup(args: &UnstartupArgs) -> Result<()> {
    unstartup(args.manager.scope(), args.delete_saved)
        .map_err(|e| Prefixed::error("pm2ctl unstartup: ", e))
}
