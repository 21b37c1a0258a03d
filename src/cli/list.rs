//! `pm2ctl list` (`ls`, `l`, `ps`, `status`): PM2's process table.

use super::ManagerArgs;
use crate::inspect::{self, table, Snapshot};
use anyhow::Result;
use std::io::IsTerminal;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "cpu: the share of one CPU the process used on average since it started \
(its CPU time over its age, as `ps` shows it), read once without waiting; PM2 shows the use since \
its daemon's last sample, `pm2ctl monit` the use between refreshes.\n\
mem: the main process' resident memory (VmRSS), as PM2 counts it."
)]
pub struct Args {
    /// The rows as a JSON array (numbers as numbers; uptime in ms).
    #[arg(long)]
    pub json: bool,
    /// Order rows by name, id, pid, memory, cpu, status or uptime, optionally `:asc`/`:desc`.
    #[arg(long, value_name = "FIELD[:asc|desc]")]
    pub sort: Option<String>,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: Args) -> Result<()> {
    list(&args)
}

/// `inspect::snapshot` of the manager the command line names.
pub fn snapshot(manager: &ManagerArgs) -> Result<Snapshot> {
    inspect::snapshot(&manager.host, manager.scope())
}

/// Colors only on a terminal, and never with `NO_COLOR` set (no-color.org).
pub fn colors_wanted(stream: &impl IsTerminal) -> bool {
    stream.is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn list(args: &Args) -> Result<()> {
    if let Some(spec) = &args.sort {
        // Checked before touching systemd, so a typo is a usage error and nothing else.
        table::sort(&mut Snapshot::default(), spec)?;
    }
    let mut snapshot = snapshot(&args.manager)?;
    if let Some(spec) = &args.sort {
        table::sort(&mut snapshot, spec)?;
    }
    if args.json {
        println!("{}", table::json_rows(&snapshot));
        return Ok(());
    }
    let stdout = std::io::stdout();
    let colors = colors_wanted(&stdout);
    let width = stdout
        .is_terminal()
        .then(|| crossterm::terminal::size().ok().map(|(w, _)| w))
        .flatten();
    println!("{}", table::render(&snapshot, colors, width));
    if snapshot.instances.is_empty() {
        println!("No process is running: `pm2ctl start <ecosystem.toml|script>` starts some.");
    }
    Ok(())
}
