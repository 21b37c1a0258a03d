//! `pm2ctl reload <target...> [--parallel N]`: replace instances one batch at a time, each
//! ready before the next, so a cluster app keeps serving (see `lifecycle::reload`).

use super::ManagerArgs;
use crate::lifecycle;
use anyhow::Result;

#[derive(clap::Args, Debug)]
#[command(after_long_help = READY_HELP)]
pub struct Args {
    /// `all`, an app name, a namespace, a pm_id or a `/regex/` on names.
    #[arg(required = true, value_name = "id|name|namespace|all|/regex/")]
    pub targets: Vec<String>,
    /// How many instances are replaced at the same time.
    #[arg(long, default_value_t = 1, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub parallel: u16,
    #[command(flatten)]
    pub file: super::FileOptions,
    #[command(flatten)]
    pub manager: ManagerArgs,
    #[command(flatten)]
    pub pm2: super::Pm2NoOps,
}

const READY_HELP: &str = "\
A Node app on a socket systemd holds (cluster mode with a port) is handed over: its Node shim
starts the new process beside the old one, on the same socket, and the old one serves until the
new one listens (or sent 'ready' with wait_ready; listen_timeout counts as ready otherwise), then
makes it the unit's main process and drains. If the new process fails, the old one keeps
serving and the reason is reported. An instance near its max_memory_restart is restarted
instead.
Any other instance is restarted, then waited for until it is ready, before the next one:
  * an app with wait_ready (Type=notify): when it sent READY=1 (process.send('ready') in Node);
    it fails after listen_timeout;
  * a cluster app on a port: when its new process accepts connections on the socket systemd
    holds for it (seen as the socket in one of its epoll sets), or once listen_timeout has
    passed (PM2's rule; for servers that do not use epoll);
  * an app without a socket (fork mode, or no port): when its new process has started. Such an
    app is down while it restarts: a warning says so.
Meanwhile the other instances keep serving, and systemd keeps the restarting instance's socket
open, so its new connections wait instead of being refused. An instance that does not come
back stops the reload; the ones not reached keep running. Stopped apps are started.
Exit status: 0 when every instance reloaded, 1 otherwise or when a target matches nothing.";

pub fn run(args: &Args) -> Result<()> {
    lifecycle::act::reload_targets(
        &args.manager.host,
        args.manager.scope(),
        &args.targets,
        &args.file.only,
        args.file.env.as_deref(),
        usize::from(args.parallel),
    )
}
