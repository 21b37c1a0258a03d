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
pub fn run(query: &Query, sink: &mut dyn Sink) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(read(query, sink))
}

async fn read(query: &Query, sink: &mut dyn Sink) -> Result<()> {
    let args = query.journalctl_args();
    tracing::debug!(?args, "running journalctl");
    let mut child = tokio::process::Command::new("journalctl")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot run journalctl (is systemd's journal installed?)")?;
    let Some(stdout) = child.stdout.take() else {
        bail!("journalctl's output is not a pipe");
    };
    let mut reader = tokio::io::BufReader::with_capacity(256 * 1024, stdout);
    let mut interrupt = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut terminate = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        tokio::select! {
            read = reader.read_until(b'\n', &mut line) => {
                if read.context("reading journalctl's output")? == 0 {
                    break;
                }
            }
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
        let text = String::from_utf8_lossy(&line);
        let written = match record::parse(&text) {
            Some(record) if query.accepts(&record) => sink.record(&record),
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
            Err(e) if e.kind() == ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).context("cannot write the logs"),
        }
    }
    match sink.idle() {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            return Err(e).context("cannot write the logs")
        }
        _ => {}
    }
    let status = child.wait().await.context("waiting for journalctl")?;
    // Ctrl-C on a terminal reaches journalctl too (same process group): not a failure.
    let interrupted = matches!(
        status.signal(),
        Some(nix::libc::SIGINT | nix::libc::SIGTERM | nix::libc::SIGPIPE)
    );
    if !status.success() && !interrupted {
        bail!("journalctl failed ({status})");
    }
    Ok(())
}
