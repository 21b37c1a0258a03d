//! `NRestarts` remembered by process, so that `list`, `monit` and the verbs need not ask
//! systemd for it of every running instance at every call (one bus round trip each: at a
//! hundred instances, most of the CPU a `list` costs systemd and the bus).
//!
//! systemd counts a restart when it starts a service's process again: while the same main
//! process runs, the count stays what it was. A process is named by its pid and its start
//! time (a pid is only reused by a later process), and the file lives in pm2ctl's runtime
//! directory, which the next boot clears, so it never names another boot's process. A
//! running service whose main process is the one remembered takes its count from here; any
//! other is asked, and remembered. A hand-over (`reload`) starts a new main process without
//! a restart: it is asked once, like any new process.
//!
//! It is a cache: a file that is missing, damaged or cannot be written means asking systemd.

use super::cgroupfs::Sample;
use crate::plan::Scope;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The file, in the scope's runtime directory.
const FILE: &str = "restarts.json";

/// Per service unit: its main process (pid, start time in clock ticks) and the `NRestarts`
/// systemd reported while that process ran.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Remembered(BTreeMap<String, (u32, u64, u32)>);

impl Remembered {
    /// What this scope's file holds; empty when it cannot be read.
    pub fn load(scope: Scope) -> Remembered {
        let Some(path) = path(scope) else {
            return Remembered::default();
        };
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::debug!(path = %path.display(), error = %e, "restart counts ignored");
                Remembered::default()
            }),
            Err(_) => Remembered::default(),
        }
    }

    /// `unit`'s count, if its main process is still the one it was read for.
    pub fn count(&self, unit: &str, sample: &Sample) -> Option<u32> {
        let (pid, start_ticks, n) = self.0.get(unit)?;
        (*pid == sample.main_pid && *start_ticks == sample.start_ticks).then_some(*n)
    }

    pub fn insert(&mut self, unit: &str, sample: &Sample, n_restarts: u32) {
        self.0.insert(
            unit.to_string(),
            (sample.main_pid, sample.start_ticks, n_restarts),
        );
    }

    /// Replaces this scope's file (`safe_path::write_atomic`), best effort.
    pub fn save(&self, scope: Scope) {
        let Some(path) = path(scope) else { return };
        let written = serde_json::to_vec(&self.0)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| crate::safe_path::write_atomic(&path, &bytes));
        if let Err(e) = written {
            tracing::debug!(path = %path.display(), error = %e, "restart counts not saved");
        }
    }
}

fn path(scope: Scope) -> Option<PathBuf> {
    let xdg = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    Some(crate::plan::dirs::runtime_dir(scope, xdg)?.join(FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(main_pid: u32, start_ticks: u64) -> Sample {
        Sample {
            main_pid,
            start_ticks,
            started_at_us: 0,
            main_rss: None,
            main_threads: 1,
            memory: None,
            cpu_ns: None,
        }
    }

    #[test]
    fn a_count_holds_for_the_process_it_was_read_for_only() {
        let mut seen = Remembered::default();
        seen.insert("pm2ctl-a@0.service", &sample(100, 5000), 3);
        assert_eq!(
            seen.count("pm2ctl-a@0.service", &sample(100, 5000)),
            Some(3)
        );
        // Restarted: a new pid, or the pid reused by a later process.
        assert_eq!(seen.count("pm2ctl-a@0.service", &sample(101, 5000)), None);
        assert_eq!(seen.count("pm2ctl-a@0.service", &sample(100, 7000)), None);
        assert_eq!(seen.count("pm2ctl-b@0.service", &sample(100, 5000)), None);
    }

    #[test]
    fn the_file_is_a_map_of_units_to_process_and_count() {
        let mut seen = Remembered::default();
        seen.insert("pm2ctl-a@0.service", &sample(100, 5000), 3);
        let text = serde_json::to_string(&seen).expect("serialise");
        assert_eq!(text, r#"{"pm2ctl-a@0.service":[100,5000,3]}"#);
        assert_eq!(serde_json::from_str::<Remembered>(&text).ok(), Some(seen));
    }
}
