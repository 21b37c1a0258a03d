//! `pm2ctl jlist` and `pm2ctl prettylist`: the process list in PM2's JSON shape, for scripts
//! and dashboards that parse `pm2 jlist`.

use super::list::snapshot;
use super::ManagerArgs;
use crate::inspect::jlist;
use anyhow::Result;
use std::io::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manager: ManagerArgs,
}

/// `jlist`: `JSON.stringify(list)`, one line and, as PM2, no trailing newline.
pub fn run(args: Args) -> Result<()> {
    print(&args, |list| list.to_json())
}

/// `prettylist`: Node's `util.inspect` of the same list (a JavaScript literal, not JSON).
pub fn run_pretty(args: Args) -> Result<()> {
    print(&args, |list| list.to_inspect() + "\n")
}

fn print(args: &Args, render: impl Fn(&crate::inspect::js::Js) -> String) -> Result<()> {
    let snapshot = snapshot(&args.manager)?;
    let text = render(&jlist::jlist(&snapshot));
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}
