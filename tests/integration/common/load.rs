//! Continuous keep-alive load on an app in a sandbox: `tests/fixtures/keepalive-client.js`
//! with 8 connections, running inside the sandbox on a thread until `finish`.

use super::sandbox::{assert_success, exec_in, fixtures_dir, stdout};
use super::Sandbox;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

/// How long `wait_for_more` waits for the client to make progress.
const WAIT: Duration = Duration::from_secs(60);

/// What `keepalive-client.js` reports.
#[derive(Debug, serde::Deserialize)]
pub struct LoadResult {
    pub ok: u64,
    pub non2xx: u64,
    pub failed: u64,
    pub errors: Vec<String>,
    pub pids: Vec<u32>,
}

impl LoadResult {
    /// Every request was answered with a 2xx, and some were made, `during` something.
    #[track_caller]
    pub fn assert_no_loss(&self, during: &str) {
        assert_eq!(
            (self.failed, self.non2xx),
            (0, 0),
            "requests lost during {during} ({} answered), first errors: {:?}",
            self.ok,
            self.errors
        );
        assert!(self.ok > 0, "no request answered during {during}");
    }
}

/// The load client, running inside the sandbox on a thread until `finish`.
pub struct Load {
    dir: PathBuf,
    thread: std::thread::JoinHandle<Output>,
}

impl Load {
    /// Starts the client on `http://127.0.0.1:<port>/`; `dir` (in the build tree, which the
    /// sandbox shares) holds its progress and stop files.
    pub fn start(sb: &Sandbox, dir: &Path, port: u16) -> Load {
        let client = fixtures_dir().join("keepalive-client.js");
        let argv = vec!["/usr/bin/node".to_string(), client.display().to_string()];
        let url = format!("http://127.0.0.1:{port}/");
        let stop = dir.join("stop").display().to_string();
        let progress = dir.join("progress").display().to_string();
        let id = sb.id().to_string();
        let thread = std::thread::spawn(move || {
            // A second handle on the same sandbox: `exec` only needs its id.
            exec_in(
                &id,
                &[
                    ("URL", url.as_str()),
                    ("CONNECTIONS", "8"),
                    ("STOP_FILE", stop.as_str()),
                    ("PROGRESS_FILE", progress.as_str()),
                ],
                &argv,
            )
        });
        Load {
            dir: dir.to_path_buf(),
            thread,
        }
    }

    pub fn requests(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("progress"))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits until `more` requests beyond the count seen now were made.
    pub fn wait_for_more(&self, sb: &Sandbox, more: u64) {
        let target = self.requests() + more;
        sb.wait_for("client requests", WAIT, || self.requests() >= target);
    }

    /// Stops the client and returns what it saw.
    pub fn finish(self) -> LoadResult {
        std::fs::write(self.dir.join("stop"), "").expect("write the stop file");
        let out = self.thread.join().expect("the load client thread");
        assert_success("the load client", &out);
        serde_json::from_str(stdout(&out).trim())
            .unwrap_or_else(|e| panic!("client output {:?}: {e}", stdout(&out)))
    }
}
