//! `pm2ctl reload <target...> [--parallel N]`: restart instances one batch at a time, each
//! ready before the next, so a cluster app keeps serving (see `lifecycle::reload`).

use super::{ActionFailed, ManagerArgs};
use crate::lifecycle::reload::{self, Progress, Ready};
use crate::lifecycle::{self, Proc};
use crate::state;
use crate::target;
use anyhow::{Context, Result};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
#[command(after_long_help = READY_HELP)]
pub struct Args {
    /// `all`, an app name, a namespace, a pm_id or a `/regex/` on names.
    #[arg(required = true, value_name = "id|name|namespace|all|/regex/")]
    pub targets: Vec<String>,
    /// How many instances restart at the same time.
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
Each instance is restarted, then waited for until it is ready, before the next one:
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

pub fn run(args: Args) -> ExitCode {
    super::finish(reload(&args))
}

fn reload(args: &Args) -> Result<()> {
    // `reload FILE` is PM2's `startOrReload FILE`.
    let (files, others): (Vec<String>, Vec<String>) = args
        .targets
        .iter()
        .cloned()
        .partition(|t| super::targets::is_file(t));
    for file in &files {
        super::start::start_or_file(
            &args.manager,
            file,
            &args.file.only,
            args.file.env.as_deref(),
            super::start::Then::Reload,
        )?;
    }
    if others.is_empty() {
        return Ok(());
    }
    let client = args.manager.connect()?;
    // Held for the whole reload: another pm2ctl waits instead of acting on stale units.
    let mut store = state::lock_current(&args.manager.host, args.manager.scope())?;
    let targets = super::targets::expand(&others, &args.file.only, None, store.state())?;
    let procs = lifecycle::processes::list(&client, store.state())
        .context("cannot list pm2ctl's processes")?;
    let selected: Vec<&Proc> = target::select(&targets, &procs)?;
    if reload_selected(&client, &mut store, &selected, usize::from(args.parallel))? {
        Ok(())
    } else {
        Err(ActionFailed("reload failed for some processes".into()).into())
    }
}

/// Reloads `selected` with PM2's lines; true when every instance came back.
pub fn reload_selected(
    client: &crate::systemd::Client,
    store: &mut state::Store,
    selected: &[&Proc],
    parallel: usize,
) -> Result<bool> {
    announce(selected);
    let report = reload::run(client, store, selected, parallel, &mut Printer { done: "" })?;
    Ok(report.all_ok())
}

/// PM2's line per app: `[PM2] Applying action reloadProcessId on app [api](ids: [ 0, 1 ])`.
fn announce(procs: &[&Proc]) {
    let mut by_app: Vec<(&str, Vec<String>)> = Vec::new();
    for p in procs {
        match by_app.iter_mut().find(|(name, _)| *name == p.name) {
            Some((_, ids)) => ids.push(p.pm_id.to_string()),
            None => by_app.push((&p.name, vec![p.pm_id.to_string()])),
        }
    }
    for (name, ids) in by_app {
        println!(
            "[PM2] Applying action reloadProcessId on app [{name}](ids: [ {} ])",
            ids.join(", ")
        );
    }
}

/// Prints each replaced instance as PM2 does; `done` comes before the tick (e.g. `replaced `).
pub(super) struct Printer {
    pub done: &'static str,
}

impl Progress for Printer {
    fn instance(&mut self, p: &Proc, result: &Result<Ready, String>) {
        match result {
            Ok(ready) => {
                let how = if *ready == Ready::ListenTimeout {
                    " (listen_timeout passed)"
                } else {
                    ""
                };
                println!("[PM2] [{}]({}) {}✓{how}", p.name, p.pm_id, self.done);
            }
            Err(why) => {
                eprintln!("[PM2][ERROR] [{}]({}) ✗", p.name, p.pm_id);
                for line in why.lines() {
                    eprintln!("  {line}");
                }
            }
        }
    }

    fn warning(&mut self, text: &str) {
        eprintln!("[PM2][WARN] {text}");
    }
}
