//! The state file on disk: one JSON document, replaced atomically, guarded by a lock file.
//!
//! * Writes go to a temporary file in the same directory, are fsynced, renamed over
//!   `state.json`, and the directory is fsynced: a reader (or a crash) sees the old file or
//!   the new one, never half of one.
//! * `lock` takes an exclusive `flock` on `<dir>/lock` (not on the state file, which rename
//!   replaces) for as long as the `Store` lives, so one mutating pm2ctl runs at a time; a
//!   second one says it is waiting and then proceeds. The kernel drops the lock when the
//!   process dies, so a killed pm2ctl never leaves it held.
//! * A missing file is an empty state; a file that does not parse is an error naming the
//!   file, never a panic and never silently replaced.
//! * The directory is created 0700 and the file written 0600: app environments (tokens,
//!   passwords) are recorded in the plans.

use super::{State, FORMAT_VERSION};
use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The state file's name inside the state directory.
pub const STATE_FILE: &str = "state.json";
const LOCK_FILE: &str = "lock";

/// The state, locked for one command. Dropping it releases the lock.
pub struct Store {
    state: State,
    backing: Backing,
}

/// Where the state is kept and locked.
enum Backing {
    /// A directory on this machine, its lock file held.
    Local { dir: PathBuf, _lock: Flock<File> },
    /// The store of another machine (`-H`), locked there by an ssh session.
    Remote(crate::host::remote::LockedFile),
}

impl Store {
    /// Creates `dir` if needed, takes its lock (waiting, with a note on stderr, while another
    /// pm2ctl holds it) and reads the state.
    pub fn lock(dir: &Path) -> Result<Store> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
        crate::safe_path::check_private_dir(dir)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("cannot use the state directory {}", dir.display()))?;
        let lock_path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&lock_path)
            .with_context(|| format!("cannot open the lock file {}", lock_path.display()))?;
        let lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((file, Errno::EWOULDBLOCK)) => {
                eprintln!(
                    "pm2ctl: waiting for another pm2ctl to finish (it holds {})",
                    lock_path.display()
                );
                Flock::lock(file, FlockArg::LockExclusive)
                    .map_err(|(_, e)| e)
                    .with_context(|| format!("cannot lock {}", lock_path.display()))?
            }
            Err((_, e)) => {
                return Err(e).with_context(|| format!("cannot lock {}", lock_path.display()))
            }
        };
        let state = read(dir)?;
        Ok(Store {
            state,
            backing: Backing::Local {
                dir: dir.to_path_buf(),
                _lock: lock,
            },
        })
    }

    /// The store of another machine, whose lock `locked` holds (see `crate::host::remote`): every
    /// `save` replaces the state there.
    pub fn remote(locked: crate::host::remote::LockedFile) -> Result<Store> {
        let state = crate::host::remote::store::parse_state(locked.content(), locked.origin())?;
        Ok(Store {
            state,
            backing: Backing::Remote(locked),
        })
    }

    /// The directory on this machine; `None` for another machine's store.
    pub fn dir(&self) -> Option<&Path> {
        match &self.backing {
            Backing::Local { dir, .. } => Some(dir),
            Backing::Remote(_) => None,
        }
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// Writes the state atomically (temp file, fsync, rename, fsync of the directory).
    pub fn save(&self) -> Result<()> {
        // Compact, not pretty: `list` parses the whole file at every call, and indentation
        // made it three times the size and half the parsing time (`jq .` shows it indented).
        let mut text = serde_json::to_string(&self.state).context("cannot serialise the state")?;
        text.push('\n');
        let dir = match &self.backing {
            Backing::Local { dir, .. } => dir,
            Backing::Remote(locked) => return locked.write(text.as_bytes()),
        };
        let path = dir.join(STATE_FILE);
        crate::safe_path::replace_file(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Reads the state in `dir` without locking (for commands that only look). A missing
/// directory or file is an empty state.
pub fn read(dir: &Path) -> Result<State> {
    let path = dir.join(STATE_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(State::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse(&text, &path)
}

/// Parses a state file's text; `path` names it in errors.
pub fn parse(text: &str, path: &Path) -> Result<State> {
    // A newer layout is reported as such, not as whatever field this pm2ctl does not
    // understand.
    #[derive(serde::Deserialize)]
    struct Version {
        version: u32,
    }
    let broken = |e: serde_json::Error| {
        anyhow::anyhow!(
            "the state file {} is damaged ({e}); pm2ctl will not overwrite it. Move it aside \
             to start from an empty state (running units are not touched by that)",
            path.display()
        )
    };
    let newer = |version: u32| {
        anyhow::anyhow!(
            "the state file {} has format version {version}, newer than this pm2ctl understands \
             ({FORMAT_VERSION}); use the pm2ctl that wrote it",
            path.display(),
        )
    };
    // One pass over the text when it parses (it holds every app's plan: list reads it at
    // every call); the version alone is read only to explain a file that does not.
    match serde_json::from_str::<State>(text) {
        Ok(state) if state.version > FORMAT_VERSION => Err(newer(state.version)),
        Ok(state) => Ok(state),
        Err(e) => match serde_json::from_str::<Version>(text) {
            Ok(v) if v.version > FORMAT_VERSION => Err(newer(v.version)),
            _ => Err(broken(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::plan;
    use super::super::{Desired, Source};
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn source() -> Source {
        Source {
            file: Some("/srv/eco.toml".into()),
            env: Some("production".into()),
        }
    }

    #[test]
    fn a_missing_store_is_empty_and_a_saved_one_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested/state");
        assert_eq!(read(&dir).unwrap(), State::default());

        let mut store = Store::lock(&dir).unwrap();
        assert_eq!(store.state(), &State::default());
        let mut p = plan("api", 2);
        p.instances[0]
            .service
            .set(
                "Environment",
                crate::unit::Value::StrList(vec!["A=1".into()]),
            )
            .set("MemoryMax", crate::unit::Value::U64(u64::MAX));
        store
            .state_mut()
            .upsert_app(p, "fp".into(), source(), Desired::Running, 42);
        store.save().unwrap();
        drop(store);

        let back = read(&dir).unwrap();
        assert_eq!(
            back.apps["api"].plan.instances[0].service.properties.len(),
            2
        );
        assert_eq!(back, Store::lock(&dir).unwrap().state().clone());

        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join(STATE_FILE)), 0o600);
        assert_eq!(mode(&dir), 0o700);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it_and_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(STATE_FILE);
        fs::write(&path, "{\"version\": 1, \"apps\": {").unwrap();
        let err = format!("{:#}", read(tmp.path()).unwrap_err());
        assert!(err.contains(&path.display().to_string()), "{err}");
        assert!(err.contains("damaged"), "{err}");
        assert!(Store::lock(tmp.path()).is_err());
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "{\"version\": 1, \"apps\": {"
        );
    }

    #[test]
    fn a_newer_format_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(STATE_FILE), r#"{"version": 99, "x": []}"#).unwrap();
        let err = format!("{:#}", read(tmp.path()).unwrap_err());
        assert!(err.contains("format version 99"), "{err}");
    }

    #[test]
    fn a_second_store_waits_for_the_first() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let first = Store::lock(&dir).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut second = Store::lock(&dir).unwrap();
            // Sees what the first one saved before releasing the lock.
            let apps = second.state().apps.len();
            second.state_mut().next_pm_id += 1;
            second.save().unwrap();
            tx.send(apps).unwrap();
        });
        // The waiter cannot have finished: it needs the lock `first` still holds.
        assert!(rx.try_recv().is_err());
        let mut first = first;
        first
            .state_mut()
            .upsert_app(plan("api", 1), "f".into(), source(), Desired::Running, 1);
        first.save().unwrap();
        drop(first);
        assert_eq!(rx.recv().unwrap(), 1);
        waiter.join().unwrap();
        assert_eq!(read(tmp.path()).unwrap().next_pm_id, 2);
    }
}
