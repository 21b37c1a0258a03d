//! Reads the journal through `journalctl -o json` as a child process.
//!
//! Why a child and not sd-journal: there is no C library to link (the binary stays static
//! of libsystemd, and the version on the host always matches its journal files),
//! journalctl's JSON output is a documented, stable interface, and it already implements
//! following (inotify on the journal directory, rotation, new files) and `--since` parsing.
//! The cost is one process and one JSON parse per line, far below what journald itself
//! spends writing the line.

use super::query::Query;
use super::record::{self, Record};
use crate::host::Host;
use anyhow::{bail, Context, Result};
use std::io::ErrorKind;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{signal, SignalKind};

/// Where records go.
pub trait Sink {
    /// Shows one record. An `Err` of kind `BrokenPipe` ends the read quietly (`| head`).
    fn record(&mut self, record: &Record) -> std::io::Result<()>;
    /// Nothing more is ready right now: make what was written visible.
    fn idle(&mut self) -> std::io::Result<()>;
}

/// Runs the query and hands every accepted record to `sink`, until journalctl ends (without
/// `--follow`), the reader of our output goes away, or Ctrl-C / SIGTERM arrives — all of
/// which are a normal end.
pub fn run(host: &Host, query: &Query, sink: &mut dyn Sink) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(read(host, query, sink))
}

/// How one journalctl run ended.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// journalctl printed everything and exited.
    Done,
    /// Ctrl-C, SIGTERM, or nobody reads our output any more: stop quietly.
    Stop,
}

struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

async fn read(host: &Host, query: &Query, sink: &mut dyn Sink) -> Result<()> {
    let mut signals = Signals {
        interrupt: signal(SignalKind::interrupt()).context("SIGINT handler")?,
        terminate: signal(SignalKind::terminate()).context("SIGTERM handler")?,
    };
    if !(query.follow && query.every_app && !query.selection.matchers.is_empty()) {
        pump(spawn(host, query)?, query, sink, &mut signals, 0).await?;
        return Ok(());
    }
    // Every app, following: the history comes from the apps known now (so --lines counts
    // only their lines), the new lines from every app, including apps started later. The
    // follower starts first so nothing falls between the two; what both see is shown once.
    let follow_query = Query {
        selection: Default::default(),
        lines: 0,
        ..query.clone()
    };
    let follower = spawn(host, &follow_query)?;
    let history_query = Query {
        follow: false,
        ..query.clone()
    };
    let mut last_shown = 0;
    let mut history = Recorder {
        inner: sink,
        latest_usec: &mut last_shown,
    };
    if pump(
        spawn(host, &history_query)?,
        &history_query,
        &mut history,
        &mut signals,
        0,
    )
    .await?
        == Ended::Stop
    {
        return Ok(());
    }
    pump(follower, &follow_query, sink, &mut signals, last_shown).await?;
    Ok(())
}

/// Passes records on and remembers the time of the latest.
struct Recorder<'a> {
    inner: &'a mut dyn Sink,
    latest_usec: &'a mut u64,
}

impl Sink for Recorder<'_> {
    fn record(&mut self, record: &Record) -> std::io::Result<()> {
        *self.latest_usec = (*self.latest_usec).max(record.realtime_usec);
        self.inner.record(record)
    }

    fn idle(&mut self) -> std::io::Result<()> {
        self.inner.idle()
    }
}

fn spawn(host: &Host, query: &Query) -> Result<tokio::process::Child> {
    let args = query.journalctl_args();
    tracing::debug!(?args, "running journalctl");
    let mut cmd = std::process::Command::new("journalctl");
    cmd.args(&args);
    tokio::process::Command::from(crate::host::remote::localize(host, cmd)?)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run journalctl (is systemd's journal installed?)")
}

/// Reads `child`'s records into `sink`, skipping those at or before `after_usec`.
async fn pump(
    mut child: tokio::process::Child,
    query: &Query,
    sink: &mut dyn Sink,
    signals: &mut Signals,
    after_usec: u64,
) -> Result<Ended> {
    let Some(stdout) = child.stdout.take() else {
        bail!("journalctl's output is not a pipe");
    };
    let mut reader = tokio::io::BufReader::with_capacity(256 * 1024, stdout);
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        tokio::select! {
            read = reader.read_until(b'\n', &mut line) => {
                if read.context("reading journalctl's output")? == 0 {
                    break;
                }
            }
            _ = signals.interrupt.recv() => return Ok(Ended::Stop),
            _ = signals.terminate.recv() => return Ok(Ended::Stop),
        }
        let text = String::from_utf8_lossy(&line);
        let record = record::parse(&text).map(|mut record| {
            query.attribute(&mut record);
            record
        });
        let written = match record {
            Some(record) if record.realtime_usec > after_usec && query.accepts(&record) => {
                sink.record(&record)
            }
            _ => Ok(()),
        };
        let written = written.and_then(|()| {
            if reader.buffer().is_empty() {
                sink.idle()
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(Ended::Stop),
            Err(e) => return Err(e).context("cannot write the logs"),
        }
    }
    match sink.idle() {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(Ended::Stop),
        Err(e) => return Err(e).context("cannot write the logs"),
    }
    let status = child.wait().await.context("waiting for journalctl")?;
    // Ctrl-C on a terminal reaches journalctl too (same process group): not a failure.
    let interrupted = matches!(
        status.signal(),
        Some(nix::libc::SIGINT | nix::libc::SIGTERM | nix::libc::SIGPIPE)
    );
    if interrupted {
        return Ok(Ended::Stop);
    }
    if !status.success() {
        bail!("journalctl failed ({status})");
    }
    Ok(Ended::Done)
}
