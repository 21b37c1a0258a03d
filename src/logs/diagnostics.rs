//! pm2ctl's own diagnostics (`tracing` events): on a terminal they go to stderr for the
//! person watching; otherwise (from scripts, timers, the generator, units) to the journal as
//! structured entries tagged `pm2ctl`, where they sit next to the apps' own lines.
//!
//! `PM2CTL_LOG` sets the filter (`tracing_subscriber::EnvFilter` syntax, default `warn`).

use std::io::IsTerminal;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// The variable holding the filter.
pub const FILTER_VAR: &str = "PM2CTL_LOG";

/// Installs the global subscriber; a second call does nothing.
pub fn init() {
    let filter = EnvFilter::try_from_env(FILTER_VAR).unwrap_or_else(|_| EnvFilter::new("warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let on_terminal = std::io::stderr().is_terminal();
    if !on_terminal {
        // No journald (a container without systemd): fall back to stderr.
        if let Ok(journal) = tracing_journald::layer() {
            let _ = registry
                .with(journal.with_syslog_identifier("pm2ctl".into()))
                .try_init();
            return;
        }
    }
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(on_terminal)
        .with_target(false)
        .without_time();
    let _ = registry.with(stderr).try_init();
}
