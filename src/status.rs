//! PM2's status words, derived from what systemd says about an instance's service unit
//! (pm2-reference.md §1.3, "Status mapping").

use std::fmt;

/// PM2's process status (`pm2_env.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Online,
    Launching,
    WaitingRestart,
    Stopping,
    Stopped,
    Errored,
}

impl Status {
    /// The word PM2 prints and puts in `jlist`.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Online => "online",
            Status::Launching => "launching",
            Status::WaitingRestart => "waiting restart",
            Status::Stopping => "stopping",
            Status::Stopped => "stopped",
            Status::Errored => "errored",
        }
    }

    /// True while systemd holds a process (or is about to start one) for the instance.
    pub fn is_running(self) -> bool {
        matches!(
            self,
            Status::Online | Status::Launching | Status::WaitingRestart | Status::Stopping
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The properties of a service unit the status depends on (`ActiveState`, `SubState`,
/// the service's `Result` and its `Restart` policy, "" when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnitState<'a> {
    pub active_state: &'a str,
    pub sub_state: &'a str,
    pub result: &'a str,
    pub restart: &'a str,
}

/// The PM2 status of an instance whose unit is in `state`; `None` means systemd has no
/// such unit (a stopped transient unit is garbage-collected), which PM2 calls stopped.
pub fn status_of(state: Option<UnitState<'_>>) -> Status {
    let Some(s) = state else {
        return Status::Stopped;
    };
    match s.active_state {
        // `reloading` keeps serving; PM2 has no word for it.
        "active" | "reloading" => Status::Online,
        // Between a crash and the next start, systemd keeps the unit activating.
        "activating" if s.sub_state == "auto-restart" => Status::WaitingRestart,
        "activating" => Status::Launching,
        "deactivating" => Status::Stopping,
        // Only a restart loop that hit its limit, or a process that would not stop,
        // is an error PM2 shows; any other failure is a stop with an exit code.
        "failed" if matches!(s.result, "start-limit-hit" | "timeout") => Status::Errored,
        // A unit that restarts on failure and still ended failed was refused its next
        // restart by the start limit (`max_restarts`): systemd 252 then keeps the last
        // run's Result (`exit-code`, `signal`), not `start-limit-hit`.
        "failed" if matches!(s.restart, "always" | "on-failure") => Status::Errored,
        // `inactive`, `failed` with another result, and states newer systemds may add.
        _ => Status::Stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(active: &str, sub: &str, result: &str) -> Status {
        status_of(Some(UnitState {
            active_state: active,
            sub_state: sub,
            result,
            restart: "no",
        }))
    }

    #[test]
    fn a_restart_loop_refused_by_the_start_limit_is_errored() {
        let gave_up = |restart| {
            status_of(Some(UnitState {
                active_state: "failed",
                sub_state: "failed",
                result: "exit-code",
                restart,
            }))
        };
        assert_eq!(gave_up("always"), Status::Errored);
        assert_eq!(gave_up("on-failure"), Status::Errored);
        assert_eq!(gave_up("no"), Status::Stopped);
    }

    #[test]
    fn pm2_reference_mapping() {
        assert_eq!(status("active", "running", "success"), Status::Online);
        assert_eq!(status("activating", "start", "success"), Status::Launching);
        assert_eq!(
            status("activating", "start-pre", "success"),
            Status::Launching
        );
        assert_eq!(
            status("activating", "auto-restart", "exit-code"),
            Status::WaitingRestart
        );
        assert_eq!(
            status("deactivating", "stop-sigterm", "success"),
            Status::Stopping
        );
        assert_eq!(
            status("deactivating", "final-sigkill", "success"),
            Status::Stopping
        );
        assert_eq!(status("inactive", "dead", "success"), Status::Stopped);
        assert_eq!(
            status("failed", "failed", "start-limit-hit"),
            Status::Errored
        );
        assert_eq!(status("failed", "failed", "timeout"), Status::Errored);
        assert_eq!(status("failed", "failed", "exit-code"), Status::Stopped);
        assert_eq!(status("failed", "failed", "signal"), Status::Stopped);
        assert_eq!(status_of(None), Status::Stopped);
    }

    #[test]
    fn words_are_pm2s() {
        let words: Vec<_> = [
            Status::Online,
            Status::Launching,
            Status::WaitingRestart,
            Status::Stopping,
            Status::Stopped,
            Status::Errored,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            words,
            [
                "online",
                "launching",
                "waiting restart",
                "stopping",
                "stopped",
                "errored"
            ]
        );
    }

    #[test]
    fn unknown_states_do_not_claim_a_process_runs() {
        assert_eq!(status("maintenance", "", ""), Status::Stopped);
        assert!(!status("", "", "").is_running());
    }
}
