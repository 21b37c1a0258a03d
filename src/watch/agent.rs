//! The watch agent: `pm2ctl watch-agent`, the ExecStart of `pm2ctl-<esc>-watch.service`.
//!
//! It watches each directory under the app's watched paths with inotify (through the
//! `notify` crate), one non-recursive watch per directory so ignored trees such as
//! `node_modules` cost nothing (PM2's chokidar watched them: PM2 #1314), and adds watches
//! for directories created later. A change that is not ignored starts a quiet period:
//! once no change has come for `watch_delay` (at least `MIN_QUIET`), the app restarts once,
//! over D-Bus, as `pm2ctl restart` would. A burst of saves is one restart.
//!
//! With `watch_options.usePolling` the same directories are polled (notify's `PollWatcher`)
//! instead, for filesystems that send no inotify events (NFS, some container mounts); with
//! `followSymlinks` linked directories are watched too, each real directory once.

use super::ignore::IgnoreRules;
use crate::host::Host;
use crate::lifecycle::{act, Action};
use crate::plan::Scope;
use crate::state::{self, Desired};
use anyhow::{Context, Result};
use notify::{Event, EventKind, PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashSet;
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
    /// Descend into directories that symbolic links point to.
    pub follow_symlinks: bool,
    /// Poll every this often instead of using inotify.
    pub poll: Option<Duration>,
}

/// The directories watched so far (as the kernel resolves them), so a link back up the
/// tree is not followed round and round.
type Seen = HashSet<PathBuf>;

/// The agent of `config.app` managed by `scope`'s manager of `host`: each settled burst of
/// changes restarts the app as `pm2ctl restart APP` would, unless it is stopped (a stopped
/// app stays stopped: only `start` or `restart` runs it again).
pub fn restart_on_changes(config: &Config, host: &Host, scope: Scope) -> Result<()> {
    let app = std::slice::from_ref(&config.app);
    run(config, |changed| {
        let dir = state::default_dir(scope)?;
        let stopped = state::read(&dir)
            .ok()
            .and_then(|s| s.app(&config.app).map(|a| a.desired == Desired::Stopped))
            .unwrap_or(false);
        if stopped {
            println!(
                "change detected on {}: app {} is stopped, not restarted",
                changed.display(),
                config.app
            );
            return Ok(());
        }
        println!(
            "change detected on {}: restarting app {}",
            changed.display(),
            config.app
        );
        act::act_on_targets(host, scope, app, Action::Restart)
    })
}

/// Watches until the watcher fails; `restart` is called once per settled burst of changes.
pub fn run(config: &Config, mut restart: impl FnMut(&Path) -> Result<()>) -> Result<()> {
    let (tx, rx) = mpsc::channel::<notify::Result<Event>>();
    let mut watcher: Box<dyn Watcher> = match config.poll {
        Some(every) => Box::new(
            PollWatcher::new(
                tx,
                notify::Config::default()
                    .with_poll_interval(every)
                    .with_follow_symlinks(config.follow_symlinks),
            )
            .context("cannot start polling")?,
        ),
        None => Box::new(
            RecommendedWatcher::new(tx, notify::Config::default())
                .context("cannot start watching (inotify)")?,
        ),
    };
    let mut seen = Seen::new();
    for path in &config.paths {
        add_tree(watcher.as_mut(), path, config, &mut seen);
    }
    println!(
        "{} {} for app {}",
        match config.poll {
            Some(every) => format!("polling every {} ms", every.as_millis()),
            None => "watching".to_string(),
        },
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
        let Some(first) = relevant(event, watcher.as_mut(), config, &mut seen) else {
            continue;
        };
        // Wait for the burst to settle; later changes extend the wait.
        loop {
            match rx.recv_timeout(quiet) {
                Ok(event) => {
                    relevant(event, watcher.as_mut(), config, &mut seen);
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
    watcher: &mut dyn Watcher,
    config: &Config,
    seen: &mut Seen,
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
        if config.ignore.is_ignored(&path) {
            continue;
        }
        if matches!(event.kind, EventKind::Create(_)) && is_watchable_dir(&path, config) {
            add_tree(watcher, &path, config, seen);
        }
        first.get_or_insert(path);
    }
    first
}

/// A directory, or (with `follow_symlinks`) a link to one.
fn is_watchable_dir(path: &Path, config: &Config) -> bool {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => true,
        Ok(meta) if meta.file_type().is_symlink() => config.follow_symlinks && path.is_dir(),
        _ => false,
    }
}

/// Watches `dir` and every directory below it that is not ignored.
fn add_tree(watcher: &mut dyn Watcher, root: &Path, config: &Config, seen: &mut Seen) {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        // Each real directory once: a link may lead back up the tree.
        let real = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
        if !seen.insert(real) {
            continue;
        }
        if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
            eprintln!("cannot watch {}: {e}", dir.display());
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            // Symbolic links are followed only when asked (chokidar's default follows
            // them; a link to `/` would watch the whole machine).
            let is_dir = match entry.file_type() {
                Ok(t) if t.is_dir() => true,
                Ok(t) if t.is_symlink() => config.follow_symlinks && path.is_dir(),
                _ => false,
            };
            if is_dir && !config.ignore.is_ignored(&path) {
                pending.push(path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the agent on `dir` in a thread; each restart sends the changed path.
    fn agent(dir: &Path, follow_symlinks: bool, poll: Option<Duration>) -> mpsc::Receiver<PathBuf> {
        let config = Config {
            app: "t".into(),
            paths: vec![dir.to_path_buf()],
            ignore: IgnoreRules::new(&["ignored".to_string()], dir).expect("rules"),
            delay: Duration::ZERO,
            follow_symlinks,
            poll,
        };
        let (tx, rx) = mpsc::channel();
        // The agent runs until the test process ends.
        std::thread::spawn(move || {
            let _ = run(&config, |changed| {
                let _ = tx.send(changed.to_path_buf());
                Ok(())
            });
        });
        // Let it set its watches up (polling takes its first look at once).
        std::thread::sleep(Duration::from_millis(300));
        rx
    }

    /// The changes reported within `wait`.
    fn restarts(rx: &mpsc::Receiver<PathBuf>, wait: Duration) -> Vec<PathBuf> {
        let mut got = Vec::new();
        while let Ok(path) = rx.recv_timeout(wait) {
            got.push(path);
        }
        got
    }

    #[test]
    fn polling_sees_changes_and_skips_ignored_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("ignored")).expect("mkdir");
        std::fs::create_dir(dir.path().join("src")).expect("mkdir");
        let rx = agent(dir.path(), false, Some(Duration::from_millis(50)));
        std::fs::write(dir.path().join("ignored/x"), "1").expect("write");
        assert_eq!(restarts(&rx, Duration::from_secs(1)), Vec::<PathBuf>::new());
        // mtimes have a coarse grain on some filesystems: a new file is always seen.
        std::fs::write(dir.path().join("src/app.js"), "1").expect("write");
        let got = restarts(&rx, Duration::from_secs(3));
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with(dir.path().join("src")), "{got:?}");
    }

    #[test]
    fn linked_directories_are_watched_only_when_asked() {
        let outside = tempfile::tempdir().expect("tempdir");
        for follow in [false, true] {
            let dir = tempfile::tempdir().expect("tempdir");
            let target = outside.path().join(format!("lib-{follow}"));
            std::fs::create_dir(&target).expect("mkdir");
            std::os::unix::fs::symlink(&target, dir.path().join("lib")).expect("symlink");
            // A link back up the tree must not make the agent loop.
            std::os::unix::fs::symlink(dir.path(), target.join("up")).expect("symlink");
            let rx = agent(dir.path(), follow, None);
            std::fs::write(target.join("x.js"), "1").expect("write");
            let got = restarts(&rx, Duration::from_secs(1));
            assert_eq!(got.len(), usize::from(follow), "follow {follow}: {got:?}");
        }
    }
}
