//! `flush`: journald cannot delete one unit's lines (rotation and vacuuming are journal-wide),
//! so flushing records a mark — the time of the flush — and `logs` hides lines older than
//! the mark of their app, namespace, or of everything.
//!
//! The marks live in `log-marks.json` in the state directory, next to the state store but
//! apart from it: a flush must also work for apps the store does not know (units started by
//! hand, apps deleted while their lines remain in the journal).

use super::query::Matcher;
use crate::host::Host;
use crate::plan::Scope;
use crate::state::Store;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

/// The marks file's name in the state directory.
pub const MARKS_FILE: &str = "log-marks.json";

/// Flush times, in microseconds since the Unix epoch (the journal's `__REALTIME_TIMESTAMP`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marks {
    /// `flush` / `flush all`.
    #[serde(default)]
    pub all: Option<u64>,
    #[serde(default)]
    pub apps: BTreeMap<String, u64>,
    #[serde(default)]
    pub namespaces: BTreeMap<String, u64>,
}

impl Marks {
    /// Lines at or before this time are hidden for an app (0: none).
    pub fn hidden_until(&self, app: &str, namespace: Option<&str>) -> u64 {
        let by_app = self.apps.get(app).copied();
        let by_namespace = namespace.and_then(|ns| self.namespaces.get(ns).copied());
        [self.all, by_app, by_namespace]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0)
    }
}

/// Reads the marks in `state_dir`; none when the file does not exist.
pub fn read(state_dir: &Path) -> Result<Marks> {
    let path = state_dir.join(MARKS_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not a valid marks file", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Marks::default()),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Changes the marks under the state directory's lock and replaces the file atomically.
pub fn update(state_dir: &Path, change: impl FnOnce(&mut Marks)) -> Result<Marks> {
    // The store's lock serializes pm2ctl commands that write to the state directory.
    let _store = Store::lock(state_dir)?;
    let mut marks = read(state_dir)?;
    change(&mut marks);
    let path = state_dir.join(MARKS_FILE);
    let tmp = state_dir.join(format!(".{MARKS_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(&marks).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(marks)
}

/// The marks of `scope`'s manager: this machine's, or with `-H` the remote host's.
pub fn read_current(host: &Host, scope: Scope) -> Result<Marks> {
    match host.ssh() {
        Some(dest) => {
            let (origin, content) = crate::host::remote::store::read_in(
                dest,
                crate::host::remote::RemoteDir::State(scope),
                MARKS_FILE,
            )?;
            parse(content.as_deref().unwrap_or_default(), &origin)
        }
        // Without a state directory there can be no marks.
        None => match crate::state::default_dir(scope) {
            Ok(dir) => read(&dir),
            Err(_) => Ok(Marks::default()),
        },
    }
}

/// [`update`] for `scope`'s manager: this machine's, or with `-H` the remote host's (under
/// its lock there); `now` is that host's clock, as the journal's timestamps are.
pub fn update_current(
    host: &Host,
    scope: Scope,
    change: impl FnOnce(&mut Marks, u64),
) -> Result<Marks> {
    let Some(dest) = host.ssh() else {
        let now = now_usec();
        return update(&crate::state::default_dir(scope)?, |m| change(m, now));
    };
    let locked = crate::host::remote::LockedFile::lock(
        dest,
        crate::host::remote::RemoteDir::State(scope),
        MARKS_FILE,
    )?;
    let mut marks = parse(locked.content().unwrap_or_default(), locked.origin())?;
    change(&mut marks, crate::host::remote::store::now_usec(dest)?);
    let text = serde_json::to_vec_pretty(&marks).context("cannot serialise the marks")?;
    locked.write(&text)?;
    Ok(marks)
}

fn parse(bytes: &[u8], origin: &str) -> Result<Marks> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Marks::default());
    }
    serde_json::from_slice(bytes).with_context(|| format!("{origin} is not a valid marks file"))
}

/// Now, in the journal's unit.
pub fn now_usec() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// `flush TARGET`: `logs` shows only lines newer than now, of every app (`None`, as `all`)
/// or of the apps and namespaces `target` selects, which it returns.
pub fn flush(host: &Host, scope: Scope, target: Option<&str>) -> Result<Option<Vec<String>>> {
    let Some(target) = target else {
        update_current(host, scope, |m, now| m.all = Some(now))?;
        return Ok(None);
    };
    let resolved = super::targets::discover(host, scope).resolve(Some(target))?;
    let mut flushed = Vec::new();
    update_current(host, scope, |m, now| {
        for matcher in &resolved.selection.matchers {
            match matcher {
                // One instance cannot be flushed alone: the mark is per app.
                Matcher::App { name, .. } => {
                    m.apps.insert(name.clone(), now);
                    flushed.push(name.clone());
                }
                Matcher::Namespace(ns) => {
                    m.namespaces.insert(ns.clone(), now);
                    flushed.push(format!("namespace {ns}"));
                }
            }
        }
    })?;
    Ok(Some(flushed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_applicable_mark_wins() {
        let mut marks = Marks::default();
        assert_eq!(marks.hidden_until("api", Some("default")), 0);
        marks.apps.insert("api".into(), 50);
        marks.all = Some(20);
        marks.namespaces.insert("prod".into(), 90);
        assert_eq!(marks.hidden_until("api", Some("default")), 50);
        assert_eq!(marks.hidden_until("api", Some("prod")), 90);
        assert_eq!(marks.hidden_until("web", None), 20);
    }

    #[test]
    fn marks_survive_a_round_trip_and_a_missing_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), Marks::default());
        update(dir.path(), |m| {
            m.apps.insert("api".into(), 7);
        })
        .unwrap();
        update(dir.path(), |m| m.all = Some(9)).unwrap();
        let marks = read(dir.path()).unwrap();
        assert_eq!(marks.apps.get("api"), Some(&7));
        assert_eq!(marks.all, Some(9));
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(MARKS_FILE), "{nope").unwrap();
        let err = read(dir.path()).unwrap_err();
        assert!(format!("{err:#}").contains(MARKS_FILE), "{err:#}");
    }
}
