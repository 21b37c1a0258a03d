//! What `pm2ctl logs` shows: the journal lines of the apps a target selects, as PM2 prints
//! them, followed or not; and the log tails of `show` and `monit`.

use super::query::{Query, StreamFilter, UserJournal};
use super::reader::{self, Sink};
use super::record::Record;
use super::render::{Format, Renderer};
use super::{marks, targets};
use crate::host::Host;
use crate::plan::Scope;
use crate::unit::name as naming;
use anyhow::{Context, Result};
use std::io::Write;

/// How `logs` shows the lines.
pub struct View {
    pub streams: StreamFilter,
    pub format: Format,
    pub colors: bool,
    /// A dayjs format for each line's time; `None`: the app's `log_date_format`, if any.
    pub timestamp: Option<String>,
    /// Lines of history first.
    pub lines: u32,
    /// Follow new lines until interrupted.
    pub follow: bool,
    /// systemd's own lines about the apps' units too.
    pub events: bool,
    /// Only lines since this time (journalctl's syntax).
    pub since: Option<String>,
}

/// `logs TARGET` of `scope`'s manager on `host`, written to `out` (notices to stderr with
/// `Format::Raw`).
pub fn show(
    host: &Host,
    scope: Scope,
    target: Option<&str>,
    view: View,
    out: impl Write,
) -> Result<()> {
    let known = targets::discover(host, scope);
    let resolved = known.resolve(target)?;
    let mut query = journal_query(host, scope, known, &resolved, view.lines, view.follow)?;
    query.events = view.events;
    query.streams = view.streams;
    query.since = view.since;
    let renderer = Renderer {
        format: view.format,
        colors: view.colors,
        timestamp: view.timestamp,
        name_width: resolved.name_width,
        pm_ids: resolved.pm_ids,
    };
    let mut sink = Terminal { out, renderer };
    reader::run(host, &query, &mut sink)
}

/// What `logs` asks the journal for `resolved`, both streams, since any time: a user
/// manager's apps are found by their units (see `UserJournal`), `flush` marks apply.
fn journal_query(
    host: &Host,
    scope: Scope,
    known: targets::Known,
    resolved: &targets::Resolved,
    lines: u32,
    follow: bool,
) -> Result<Query> {
    Ok(Query {
        selection: resolved.selection.clone(),
        streams: StreamFilter::Both,
        lines,
        follow,
        since: None,
        user: match scope {
            Scope::User => Some(UserJournal {
                uid: journal_uid(host)?,
                apps: known.fields,
            }),
            Scope::System => None,
        },
        marks: marks::read_current(host, scope)?,
        every_app: resolved.every_app,
        events: false,
        event_units: resolved
            .pm_ids
            .keys()
            .map(|(app, index)| {
                format!("{}{}@{index}.service", naming::PREFIX, naming::escape(app))
            })
            .collect(),
    })
}

/// The last `lines` lines of app `name` as `logs --nostream --timestamp` prints them, without
/// colors: the log tails of `show` and `monit`, found as `logs` finds them (a user's own
/// manager, `-H`). A failure is one line saying why.
pub fn tail(host: &Host, name: &str, scope: Scope, lines: u32) -> Vec<String> {
    let read = || -> Result<Vec<String>> {
        let known = targets::discover(host, scope);
        let resolved = known.resolve(Some(name))?;
        let query = journal_query(host, scope, known, &resolved, lines, false)?;
        let mut sink = Collected {
            lines: Vec::new(),
            renderer: Renderer {
                format: Format::Pm2,
                colors: false,
                timestamp: Some(crate::logs::timefmt::PM2_DEFAULT.into()),
                name_width: resolved.name_width,
                pm_ids: resolved.pm_ids,
            },
        };
        reader::run(host, &query, &mut sink)?;
        Ok(sink.lines)
    };
    read().unwrap_or_else(|e| vec![format!("(cannot read the journal: {e:#})")])
}

/// Rendered records kept in memory.
struct Collected {
    lines: Vec<String>,
    renderer: Renderer,
}

impl Sink for Collected {
    fn record(&mut self, record: &Record) -> std::io::Result<()> {
        self.lines.push(self.renderer.render(record).text);
        Ok(())
    }

    fn idle(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The user whose apps `logs --user` shows: the caller, or with `-H` the user ssh logs in as.
fn journal_uid(host: &Host) -> Result<u32> {
    match host.ssh() {
        Some(dest) => crate::host::remote::run_script(dest, "id -u")?
            .trim()
            .parse()
            .with_context(|| format!("unexpected `id -u` from {}", dest.target)),
        None => Ok(nix::unistd::getuid().as_raw()),
    }
}

/// Writes rendered records to `out` (notices to stderr with `--raw`).
struct Terminal<W: Write> {
    out: W,
    renderer: Renderer,
}

impl<W: Write> Sink for Terminal<W> {
    fn record(&mut self, record: &Record) -> std::io::Result<()> {
        let output = self.renderer.render(record);
        if output.to_stderr {
            self.out.flush()?;
            let _ = writeln!(std::io::stderr(), "{}", output.text);
            Ok(())
        } else {
            writeln!(self.out, "{}", output.text)
        }
    }

    fn idle(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}
