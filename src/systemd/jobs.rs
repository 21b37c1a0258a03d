//! Waiting for systemd jobs: listen for `JobRemoved` before making the calls, then match
//! each returned job path with its signal. No polling, no sleeps.
//!
//! The client is `Subscribe`d before its first job (`Client::ensure_subscribed`); the signal
//! stream is opened here, before the calls are sent, so a job that finishes before its call returns is not missed.

use super::proxies::ManagerProxy;
use anyhow::{Context, Result};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::future::Future;
use zbus::OwnedObjectPath;

/// How one unit's job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobOutcome {
    pub unit: String,
    /// systemd's job result: `done`, `failed`, `canceled`, `timeout`, `dependency`, `skipped`;
    /// `rejected` when the call itself failed (see `error`).
    pub result: String,
    /// The D-Bus error when systemd refused the call.
    pub error: Option<String>,
}

impl JobOutcome {
    pub fn ok(&self) -> bool {
        self.error.is_none() && self.result == "done"
    }

    /// Why it did not succeed, as a user reads it: systemd's refusal of the call, or the
    /// job's result (`job failed`, `job timeout`…).
    pub fn why(&self) -> String {
        match &self.error {
            Some(error) => error.clone(),
            None => format!("job {}", self.result),
        }
    }
}

/// `org.freedesktop.systemd1.NoSuchUnit`: the unit is not loaded.
pub fn is_no_such_unit(e: &zbus::Error) -> bool {
    error_name(e) == Some("org.freedesktop.systemd1.NoSuchUnit")
}

/// The D-Bus error name of a method error.
pub fn error_name(e: &zbus::Error) -> Option<&str> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
        _ => None,
    }
}

/// Sends every call concurrently, then waits until each queued job is removed.
/// A call on a unit that is not loaded counts as `done` (stopping nothing succeeds).
pub async fn run<F>(
    manager: &ManagerProxy<'_>,
    calls: impl IntoIterator<Item = (String, F)>,
) -> Result<Vec<JobOutcome>>
where
    F: Future<Output = zbus::Result<OwnedObjectPath>>,
{
    let mut removed = manager
        .receive_job_removed()
        .await
        .context("cannot listen for systemd's JobRemoved signal")?;
    let (units, calls): (Vec<String>, Vec<F>) = calls.into_iter().unzip();
    // The signal stream is read while the calls go out: zbus keeps at most 64 unread
    // signals per stream and then stops reading the connection, replies included, so a batch
    // of more jobs than that would wait forever on replies stuck behind its own signals.
    let mut finished: HashMap<OwnedObjectPath, String> = HashMap::new();
    let replies = {
        let calls = super::join_bounded(calls);
        tokio::pin!(calls);
        loop {
            tokio::select! {
                replies = &mut calls => break replies,
                signal = removed.next() => {
                    let signal = signal
                        .context("the bus connection closed while waiting for systemd's jobs")?;
                    let args = signal.args().context("malformed JobRemoved signal")?;
                    finished.insert(args.job.clone(), args.result.clone());
                }
            }
        }
    };

    let mut outcomes: Vec<Option<JobOutcome>> = vec![None; units.len()];
    let mut pending: HashMap<OwnedObjectPath, usize> = HashMap::new();
    for (i, (unit, reply)) in units.iter().zip(replies).enumerate() {
        match reply {
            Ok(job) => match finished.remove(&job) {
                Some(result) => {
                    outcomes[i] = Some(JobOutcome {
                        unit: unit.clone(),
                        result,
                        error: None,
                    });
                }
                None => {
                    pending.insert(job, i);
                }
            },
            Err(e) if is_no_such_unit(&e) => {
                outcomes[i] = Some(JobOutcome {
                    unit: unit.clone(),
                    result: "done".into(),
                    error: None,
                });
            }
            Err(e) => {
                outcomes[i] = Some(JobOutcome {
                    unit: unit.clone(),
                    result: "rejected".into(),
                    error: Some(describe_error(&e)),
                });
            }
        }
    }
    while !pending.is_empty() {
        let signal = removed
            .next()
            .await
            .context("the bus connection closed while waiting for systemd's jobs")?;
        let args = signal.args().context("malformed JobRemoved signal")?;
        if let Some(i) = pending.remove(&args.job) {
            outcomes[i] = Some(JobOutcome {
                unit: units[i].clone(),
                result: args.result.clone(),
                error: None,
            });
        }
    }
    Ok(outcomes.into_iter().flatten().collect())
}

/// A D-Bus error as a user reads it: systemd's message, not zbus' debug form.
pub fn describe_error(e: &zbus::Error) -> String {
    match e {
        zbus::Error::MethodError(name, Some(detail), _) => format!("{detail} ({name})"),
        zbus::Error::MethodError(name, None, _) => name.to_string(),
        other => other.to_string(),
    }
}
