//! The new environment of an instance that a roll hands over instead of restarting.
//!
//! When an app's definition changed in its `env` only, its Node shim can start the new
//! process itself, beside the old one, as `reload` does: the process needs nothing from
//! systemd but the new variables. The roll still gives systemd the new definition (so any
//! later start runs it), then leaves the change in the file the shim reads at the hand-over,
//! `<PM2CTL_HANDOVER_DIR>/<INVOCATION_ID>.json` (`{"set": {…}, "unset": […]}`), readable by the
//! app's account only, and removes it once the hand-over is over.

use crate::unit::{UnitSpec, Value};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What changes between the running definition and the planned one, when that is the
/// environment only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvChange {
    /// Every variable of the new definition.
    pub set: BTreeMap<String, String>,
    /// The variables of the old definition the new one no longer has.
    pub unset: Vec<String>,
    /// Where the shim looks for the file.
    pub dir: PathBuf,
}

/// The change from `running` to `planned` when every property but `Environment` is the same
/// and the new definition still hands over; `None` otherwise.
pub fn env_only_change(running: &UnitSpec, planned: &UnitSpec) -> Option<EnvChange> {
    let others = |s: &UnitSpec| {
        s.properties
            .iter()
            .filter(|p| p.name != "Environment")
            .cloned()
            .collect::<Vec<_>>()
    };
    if others(running) != others(planned) {
        return None;
    }
    let old = variables(running);
    let set = variables(planned);
    if old == set {
        return None;
    }
    let dir = PathBuf::from(set.get(crate::plan::HANDOVER_DIR_VAR)?);
    if set.get(crate::plan::HANDOVER_VAR).map(String::as_str) != Some("1") {
        return None;
    }
    let unset = old
        .keys()
        .filter(|k| !set.contains_key(*k))
        .cloned()
        .collect();
    Some(EnvChange { set, unset, dir })
}

fn variables(spec: &UnitSpec) -> BTreeMap<String, String> {
    match spec.get("Environment") {
        Some(Value::StrList(env)) => env
            .iter()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Writes `change` for the running invocation `invocation` (32 hex digits) of a unit whose
/// processes run as `owner` (a uid), readable by that account alone. Returns the file, for
/// [`remove`].
pub fn write(change: &EnvChange, invocation: &str, owner: u32) -> Result<PathBuf> {
    // Traversable by the app's account, not listable.
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(&change.dir)
        .with_context(|| format!("cannot create {}", change.dir.display()))?;
    let path = change.dir.join(format!("{invocation}.json"));
    let text = serde_json::json!({ "set": change.set, "unset": change.unset }).to_string();
    let mut file = tempfile::NamedTempFile::new_in(&change.dir)
        .with_context(|| format!("cannot write in {}", change.dir.display()))?;
    std::io::Write::write_all(&mut file, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(file.path(), std::fs::Permissions::from_mode(0o400))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    nix::unistd::chown(file.path(), Some(nix::unistd::Uid::from_raw(owner)), None)
        .with_context(|| format!("cannot give {} to uid {owner}", path.display()))?;
    file.persist(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Removes the file once the hand-over is over, whatever its outcome: a later plain reload
/// must not find it.
pub fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Whether process `pid` on this host started with `name=value` in its environment (false
/// when that cannot be read).
pub fn process_has(pid: u32, name: &str, value: &str) -> bool {
    let wanted = format!("{name}={value}");
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|env| env.split(|b| *b == 0).any(|kv| kv == wanted.as_bytes()))
        .unwrap_or(false)
}

/// The uid processes of a unit with `User=` `user` run as, on this host: the caller's when
/// it names none.
pub fn owner(user: Option<&str>) -> Result<u32> {
    match user.filter(|u| !u.is_empty()) {
        None => Ok(nix::unistd::getuid().as_raw()),
        Some(name) => {
            if let Ok(uid) = name.parse::<u32>() {
                return Ok(uid);
            }
            let found = nix::unistd::User::from_name(name)
                .with_context(|| format!("cannot look up account `{name}`"))?;
            Ok(found
                .with_context(|| format!("no account `{name}` on this host"))?
                .uid
                .as_raw())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::UnitKind;

    fn service(env: &[&str], kill_signal: i32) -> UnitSpec {
        let mut s = UnitSpec::new("pm2ctl-web@0.service", UnitKind::Service);
        s.set("Type", Value::Str("exec".into()));
        s.set(
            "Environment",
            Value::StrList(env.iter().map(|e| e.to_string()).collect()),
        );
        s.set("KillSignal", Value::I32(kill_signal));
        s
    }

    const MARKED: [&str; 2] = [
        "PM2CTL_HANDOVER=1",
        "PM2CTL_HANDOVER_DIR=/run/pm2ctl/handover",
    ];

    #[test]
    fn a_change_of_env_alone_is_handed_over_with_what_to_set_and_unset() {
        let old = service(&[MARKED[0], MARKED[1], "A=1", "GONE=x"], 2);
        let new = service(&[MARKED[0], MARKED[1], "A=2", "NEW=y=z"], 2);
        let change = env_only_change(&old, &new).expect("env only");
        assert_eq!(change.set.get("A").map(String::as_str), Some("2"));
        assert_eq!(change.set.get("NEW").map(String::as_str), Some("y=z"));
        assert_eq!(change.unset, vec!["GONE".to_string()]);
        assert_eq!(change.dir, PathBuf::from("/run/pm2ctl/handover"));
    }

    #[test]
    fn any_other_change_or_no_hand_over_restarts() {
        let old = service(&[MARKED[0], MARKED[1], "A=1"], 2);
        // Another property changed too.
        assert_eq!(
            env_only_change(&old, &service(&[MARKED[0], MARKED[1], "A=2"], 15)),
            None
        );
        // Nothing changed.
        assert_eq!(env_only_change(&old, &old.clone()), None);
        // The new definition no longer hands over.
        assert_eq!(env_only_change(&old, &service(&["A=2"], 2)), None);
    }
}
