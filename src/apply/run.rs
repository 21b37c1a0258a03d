//! The `apply` verb: an ecosystem, loaded, planned for the machine it runs on, checked,
//! diffed against the store and what systemd runs, and executed (or, dry, only diffed).
//! Warnings and progress go to stderr as it goes; what was done is the returned outcome.

use super::{DesiredApp, Diff, Failure, Options};
use crate::ecosystem::Ecosystem;
use crate::host::Host;
use crate::lifecycle::engine;
use crate::plan::{PlanError, Scope};
use crate::preflight;
use crate::state::{self, Desired, Source};
use crate::systemd::Client;
use anyhow::{Context, Result};
use std::path::Path;

/// What `apply` is asked.
pub struct Request<'a> {
    /// The ecosystem file, as the command line named it (recorded absolute).
    pub file: &'a Path,
    /// Its `env_<NAME>` tables.
    pub env: Option<&'a str>,
    pub options: Options,
    /// Only diff: nothing is locked or changed.
    pub dry_run: bool,
}

/// Why nothing was applied (the file's fault: exit 2).
pub enum Refusal {
    /// Its apps cannot be planned.
    Plan(PlanError),
    /// On this host, an app's account cannot reach its files.
    Preflight(preflight::Refused),
}

/// What `apply` did.
pub enum Outcome {
    Refused(Refusal),
    /// `--dry-run`: what it would do.
    Looked {
        diff: Diff,
        desired: Vec<DesiredApp>,
    },
    /// Done; `failures` are the units that did not start (the other apps were applied).
    Applied {
        diff: Diff,
        desired: Vec<DesiredApp>,
        failures: Vec<Failure>,
    },
}

/// Applies `eco` to `scope`'s manager on `host`; `progress` gets the per-unit lines.
pub fn run(
    host: &Host,
    scope: Scope,
    eco: &Ecosystem,
    request: &Request<'_>,
    progress: &mut dyn std::io::Write,
) -> Result<Outcome> {
    let client = Client::connect(host, scope)?;
    // On another host the paths in the file are that host's (see host::remote::facts).
    let facts = engine::host_facts(&client)?;
    let planned = match engine::plan_on(&client, eco, request.env, &facts)? {
        Ok(planned) => planned,
        Err(e) => return Ok(Outcome::Refused(Refusal::Plan(e))),
    };
    // Before anything is touched: can each app's account reach its files? (With -H they
    // are the other host's, which systemd there checks at start.)
    if client.host().is_local() {
        if let Err(e) = preflight::verdict(&planned) {
            return Ok(Outcome::Refused(Refusal::Preflight(e)));
        }
    }
    for warning in &planned.warnings {
        eprintln!("warning: {warning}");
    }
    // Dry runs only look; a real run holds the lock until it is done, so the diff and its
    // execution see one state. With -H, the lock and the state are the remote host's.
    let mut store = match request.dry_run {
        true => None,
        false => Some(state::lock_current(client.host(), scope)?),
    };
    let current = match &store {
        Some(store) => store.state().clone(),
        None => state::read_current(client.host(), scope)?,
    };
    // `plan` keeps the file's order, one plan per app.
    let desired: Vec<DesiredApp> = planned
        .apps
        .into_iter()
        .zip(&eco.apps)
        .map(|(app, model)| {
            // The file decides what an app is; whether it runs is the verbs' (`stop`,
            // `start`) once it is known, and `autostart` only for a new app.
            let desired = match current.app(&app.name) {
                Some(record) => record.desired,
                None if model.autostart => Desired::Running,
                None => Desired::Stopped,
            };
            let (plan, fingerprint) = super::fingerprinted(app);
            DesiredApp {
                plan,
                fingerprint,
                desired,
            }
        })
        .collect();
    // Absolute, so `--prune` recognises the file from any directory (not canonicalised: a
    // symlinked config stays the path the user chose).
    let file = std::path::absolute(request.file)
        .with_context(|| format!("cannot resolve {}", request.file.display()))?;
    let source = Source {
        file: Some(file.clone()),
        env: request.env.map(String::from),
    };
    let live = super::live_units(&client).map_err(|e| {
        let why = crate::systemd::connection_lost(&e).unwrap_or("cannot read what systemd runs");
        e.context(format!("{why}; nothing was changed"))
    })?;
    let diff = super::diff(&desired, &current, &live, &file, request.options);
    let Some(store) = store.as_mut() else {
        return Ok(Outcome::Looked { diff, desired });
    };
    let failures = super::execute(
        &client,
        store,
        &diff,
        &desired,
        &live,
        &source,
        request.options,
        progress,
    )?;
    Ok(Outcome::Applied {
        diff,
        desired,
        failures,
    })
}
