//! Named points in long operations (`apply`, `reload`) where pm2ctl can be made to stop
//! itself, so that a fault (a SIGKILL, a restarted bus, a `daemon-reload`, a full disk) can be
//! injected at an exact step instead of after a guessed delay.
//!
//! `PM2CTL_STOP_AT=NAME` (or `NAME#N`: the Nth time NAME is reached) makes pm2ctl print
//! `pm2ctl: stopped at NAME` on stderr and send itself SIGSTOP there. Whoever watches sees
//! the process stopped (state `T` in /proc/PID/stat), does its harm, and then either kills it
//! or lets it go on with SIGCONT. Unset, a checkpoint costs one environment lookup.
//!
//! The names, in the order an operation reaches them:
//! * `apply:recorded`: every app of the file is recorded in the state, systemd not yet touched;
//! * `apply:app`: before each app's change (`apply:app#2` is before the second change);
//! * `apply:removed`: an app's old units are stopped and unloaded, the new ones not created;
//! * `apply:created`: an app's units are created, its socket-activated services not started;
//! * `apply:reloaded`: in a roll, an instance's unit holds its new definition (systemd read
//!   it), its process is still the old one;
//! * `apply:restarted`: in a roll, an instance was restarted, not yet waited for;
//! * `reload:restarted`: one batch of instances restarted, not yet waited for;
//! * `reload:done`: every batch reloaded, the restart counts not yet saved.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The variable naming where to stop.
pub const STOP_AT_VAR: &str = "PM2CTL_STOP_AT";

/// How many times the named checkpoint has been reached in this process.
static REACHED: AtomicUsize = AtomicUsize::new(0);

/// Marks the checkpoint `name`: stops the process here if `PM2CTL_STOP_AT` asks for it.
pub fn reached(name: &str) {
    let Some(wanted) = std::env::var_os(STOP_AT_VAR) else {
        return;
    };
    let Some((wanted_name, nth)) = wanted.to_str().and_then(parse) else {
        return;
    };
    if wanted_name != name {
        return;
    }
    if REACHED.fetch_add(1, Ordering::SeqCst) + 1 != nth {
        return;
    }
    eprintln!("pm2ctl: stopped at {name} ({STOP_AT_VAR})");
    // Nothing to do if the signal cannot be sent: the run simply goes on.
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
}

/// `NAME` or `NAME#N` (N from 1).
fn parse(spec: &str) -> Option<(&str, usize)> {
    match spec.rsplit_once('#') {
        Some((name, n)) => Some((name, n.parse().ok().filter(|n| *n > 0)?)),
        None => Some((spec, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn a_stop_spec_names_a_checkpoint_and_which_time_it_is_reached() {
        assert_eq!(parse("apply:removed"), Some(("apply:removed", 1)));
        assert_eq!(parse("apply:app#3"), Some(("apply:app", 3)));
        assert_eq!(parse("apply:app#0"), None);
        assert_eq!(parse("apply:app#x"), None);
    }
}
