//! `scale NAME N|+N|-N`: add or remove instance units of one app, leaving the instances it
//! keeps running untouched.
//!
//! Instances are removed from the highest index down and added at the lowest free index, so
//! `NODE_APP_INSTANCE` stays `0..N-1`. New instances are planned from the app's definition
//! (recorded by `start`, or read again from its ecosystem file) and carry the app's recorded
//! fingerprint: they are the same definition, only more of it, so the next `apply` of the file
//! sees a running app, not a changed one.

use super::engine;
use crate::apply::{self, DesiredApp};
use crate::boot::saved;
use crate::ecosystem::{App, Ecosystem, ExecMode, Instances};
use crate::host::Host;
use crate::state::{AppRecord, Desired, InstanceRecord, Store};
use crate::systemd::Client;
use crate::target::TargetError;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The instance count asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleTo {
    Exactly(u32),
    More(u32),
    Fewer(u32),
}

impl ScaleTo {
    /// `4`, `+2` or `-1`, as PM2 takes them.
    pub fn parse(text: &str) -> Option<ScaleTo> {
        let number = |t: &str| t.parse::<u32>().ok();
        if let Some(rest) = text.strip_prefix('+') {
            number(rest).map(ScaleTo::More)
        } else if let Some(rest) = text.strip_prefix('-') {
            number(rest).map(ScaleTo::Fewer)
        } else {
            number(text).map(ScaleTo::Exactly)
        }
    }

    /// The new count for an app with `current` instances; at least one (stop or delete an app
    /// to have none).
    pub fn count(self, current: u32) -> Result<u32, CountError> {
        let wanted = match self {
            ScaleTo::Exactly(n) => i64::from(n),
            ScaleTo::More(n) => i64::from(current) + i64::from(n),
            ScaleTo::Fewer(n) => i64::from(current) - i64::from(n),
        };
        if wanted < 1 {
            return Err(CountError::NoneLeft { current });
        }
        u32::try_from(wanted).map_err(|_| CountError::TooMany)
    }
}

/// Why `scale` cannot reach the count asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CountError {
    #[error("an app keeps at least one instance (it has {current}); use `stop` or `delete`")]
    NoneLeft { current: u32 },
    #[error("too many instances")]
    TooMany,
}

/// Which indexes to add or remove to go from `present` to `count` instances.
pub fn changes(present: &[u32], count: u32) -> (Vec<u32>, Vec<u32>) {
    let have: BTreeSet<u32> = present.iter().copied().collect();
    let n = have.len();
    let target = count as usize;
    if target >= n {
        let added = (0..)
            .filter(|i| !have.contains(i))
            .take(target - n)
            .collect();
        (added, Vec::new())
    } else {
        let removed = have.iter().rev().take(n - target).copied().collect();
        (Vec::new(), removed)
    }
}

/// What `scale` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Scaled {
    pub from: u32,
    pub to: u32,
    pub added: Vec<u32>,
    pub removed: Vec<u32>,
    /// Units that failed to start, with systemd's account.
    pub failures: Vec<String>,
}

/// Scales app `name` and saves the store.
pub fn scale(client: &Client, store: &mut Store, name: &str, to: ScaleTo) -> Result<Scaled> {
    let record = store
        .state()
        .app(name)
        .cloned()
        .ok_or_else(|| TargetError::NotFound(name.to_string()))?;
    let present: Vec<u32> = record.instances.iter().map(|i| i.index).collect();
    let from = u32::try_from(present.len()).unwrap_or(u32::MAX);
    let count = to.count(from)?;
    let (added, removed) = changes(&present, count);
    let mut scaled = Scaled {
        from,
        to: count,
        added: added.clone(),
        removed: removed.clone(),
        failures: Vec::new(),
    };

    if !removed.is_empty() {
        // The socket first, so no connection starts a service on its way out.
        let units: Vec<String> = record
            .plan
            .instances
            .iter()
            .filter(|i| removed.contains(&i.index))
            .flat_map(|i| i.socket.iter().chain(std::iter::once(&i.service)))
            .map(|u| u.name.clone())
            .collect();
        client.remove_units(&units)?;
        if let Some(app) = store.state_mut().app_mut(name) {
            app.instances.retain(|i| !removed.contains(&i.index));
            app.plan.instances.retain(|i| !removed.contains(&i.index));
        }
        store.save()?;
    }

    if !added.is_empty() {
        let (definition, base_dir) = definition(client.host(), &record)?;
        let mut wider = definition.clone();
        // An app given no `instances` ran in fork mode; more of it stays in fork mode (PM2's
        // rule would switch a node app with `instances` to cluster mode).
        if wider.instances.is_none() && wider.exec_mode.is_none() {
            wider.exec_mode = Some(ExecMode::Fork);
        }
        wider.instances = Some(Instances::Count(count.max(highest(&added) + 1)));
        let base = base_dir.clone();
        let eco = Ecosystem {
            source: record.source.file.clone().unwrap_or_default(),
            base_dir,
            apps: vec![wider],
            deploy: Default::default(),
        };
        let host = engine::host_facts(client)?;
        let mut planned = engine::plan(client, &eco, record.source.env.as_deref(), &host)?
            .apps
            .into_iter()
            .next()
            .with_context(|| format!("planning {name} gave no app"))?;
        planned.instances.retain(|i| added.contains(&i.index));
        apply::stamp(&mut planned, &record.fingerprint);

        let state = store.state_mut();
        let mut next_pm_id = state.next_pm_id;
        if let Some(app) = state.app_mut(name) {
            for instance in planned.instances {
                app.instances.push(InstanceRecord {
                    index: instance.index,
                    pm_id: next_pm_id,
                    restart_offset: 0,
                });
                next_pm_id += 1;
                app.plan.instances.push(instance);
            }
            app.instances.sort_by_key(|i| i.index);
            app.plan.instances.sort_by_key(|i| i.index);
            if app.definition.is_none() {
                // Recorded apart from its file: its relative paths made absolute.
                app.definition = Some(saved::anchored(definition, &base, &host.home));
            }
        }
        state.next_pm_id = next_pm_id;
        store.save()?;

        let Some(record) = store.state().app(name).cloned() else {
            bail!("internal error: {name} vanished from the state while scaling");
        };
        if record.desired == Desired::Running {
            let desired = [DesiredApp {
                plan: record.plan.clone(),
                fingerprint: record.fingerprint.clone(),
                desired: Desired::Running,
            }];
            let failures = engine::converge(client, store, &desired, &record.source)?;
            scaled.failures = failures
                .into_iter()
                .map(|f| format!("{}: {}\n{}", f.unit, f.reason, f.report))
                .collect();
        }
    }
    Ok(scaled)
}

fn highest(indexes: &[u32]) -> u32 {
    indexes.iter().copied().max().unwrap_or(0)
}

/// The definition new instances are planned from, with the directory its relative paths
/// start from: the recorded one (whose paths `start` made absolute), else the app as its
/// ecosystem file says now.
fn definition(host: &Host, record: &AppRecord) -> Result<(App, PathBuf)> {
    if let Some(app) = &record.definition {
        return Ok((app.clone(), PathBuf::from("/")));
    }
    let Some(file) = &record.source.file else {
        bail!(
            "{} was started without a file and its definition was not recorded; \
             delete it and start it again to scale it",
            record.name
        );
    };
    // With -H, the file as the remote host has it: the state is that host's.
    let eco = crate::host::remote::load_recorded(host, file)?;
    let app = eco
        .apps
        .into_iter()
        .find(|a| a.name == record.name)
        .with_context(|| format!("{} is no longer in {}", record.name, file.display()))?;
    Ok((app, eco.base_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_as_pm2_writes_them() {
        assert_eq!(ScaleTo::parse("4"), Some(ScaleTo::Exactly(4)));
        assert_eq!(ScaleTo::parse("+2"), Some(ScaleTo::More(2)));
        assert_eq!(ScaleTo::parse("-1"), Some(ScaleTo::Fewer(1)));
        assert_eq!(ScaleTo::parse("two"), None);
        assert_eq!(ScaleTo::parse("+"), None);
        assert_eq!(ScaleTo::parse(""), None);
    }

    #[test]
    fn an_app_keeps_at_least_one_instance() {
        assert_eq!(ScaleTo::Exactly(3).count(4), Ok(3));
        assert_eq!(ScaleTo::More(2).count(4), Ok(6));
        assert_eq!(ScaleTo::Fewer(3).count(4), Ok(1));
        assert_eq!(
            ScaleTo::Fewer(4).count(4),
            Err(CountError::NoneLeft { current: 4 })
        );
        assert!(ScaleTo::Exactly(0).count(4).is_err());
    }

    #[test]
    fn removes_from_the_top_and_fills_the_lowest_free_index() {
        assert_eq!(changes(&[0, 1, 2, 3], 2), (vec![], vec![3, 2]));
        assert_eq!(changes(&[0, 1], 3), (vec![2], vec![]));
        // A gap (an instance deleted by id) is filled first.
        assert_eq!(changes(&[0, 2], 4), (vec![1, 3], vec![]));
        assert_eq!(changes(&[0, 1], 2), (vec![], vec![]));
    }
}
