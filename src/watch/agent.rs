//! The watch agent: `pm2ctl watch-agent`, the ExecStart of `pm2ctl-<esc>-watch.service`.
//!
//! It watches each directory under the app's watched paths with inotify (through the
//! `notify` crate), one non-recursive watch per directory so ignored trees such as
//! `node_modules` cost nothing (PM2's chokidar watched them: PM2 #1314), and adds watches
//! for directories created later. A change that is not ignored starts a quiet period:
//! once no change has come for `watch_delay` (at least `MIN_QUIET`), the app restarts once,
//! over D-Bus, as `pm2ctl restart` would. A burst of saves is one restart.

use super::ignore::IgnoreRules;
use anyhow::{Context, Result};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

/// The shortest quiet period: editors write a file in several steps.
pub const MIN_QUIET: Duration = Duration::from_millis(200);

/// What the agent watches and how it restarts.
pub struct Config {
    pub app: String,
    pub paths: Vec<PathBuf>,
    pub ignore: IgnoreRules,
    pub delay: Duration,
}

/// Watches until the watcher fails; `restart` is called once per settled burst of changes.
pub fn run(config: &Config, mut restart: impl FnMut(&Path) -> Result<()>) -> Result<()> {
    let (tx, rx) = mpsc::channel::<notify::Result<Event>>();
    let mut watcher = RecommendedWatcher::new(tx, notify::Config::default())
        .context("cannot start watching (inotify)")?;
    for path in &config.paths {
        add_tree(&mut watcher, path, &config.ignore);
    }
    println!(
        "watching {} for app {}",
        config
            .paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        config.app
    );
    let quiet = config.delay.max(MIN_QUIET);
    loop {
        let event = rx.recv().context("the file watcher stopped")?;
        let Some(first) = relevant(event, &mut watcher, &config.ignore) else {
            continue;
        };
        // Wait for the burst to settle; later changes extend the wait.
        loop {
            match rx.recv_timeout(quiet) {
                Ok(event) => {
                    relevant(event, &mut watcher, &config.ignore);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    anyhow::bail!("the file watcher stopped")
                }
            }
        }
        if let Err(e) = restart(&first) {
            eprintln!("restarting {} failed: {e:#}", config.app);
        }
    }
}

/// The first changed path of `event` that is not ignored, if any; a new directory gets
/// watches of its own.
fn relevant(
    event: notify::Result<Event>,
    watcher: &mut RecommendedWatcher,
    ignore: &IgnoreRules,
) -> Option<PathBuf> {
    let event = match event {
        Ok(event) => event,
        Err(e) => {
            eprintln!("file watcher: {e}");
            return None;
        }
    };
    // Opening or reading a file changes nothing.
    if matches!(event.kind, EventKind::Access(_)) {
        return None;
    }
    let mut first = None;
    for path in event.paths {
        if ignore.is_ignored(&path) {
            continue;
        }
        if matches!(event.kind, EventKind::Create(_)) && path.is_dir() {
            add_tree(watcher, &path, ignore);
        }
        first.get_or_insert(path);
    }
    first
}

/// Watches `dir` and every directory below it that is not ignored.
fn add_tree(watcher: &mut RecommendedWatcher, root: &Path, ignore: &IgnoreRules) {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
            eprintln!("cannot watch {}: {e}", dir.display());
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // Symbolic links are not followed (chokidar's default follows them; a link to `/`
            // would watch the whole machine).
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && !ignore.is_ignored(&path) {
                pending.push(path);
            }
        }
    }
}
