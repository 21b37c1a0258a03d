//! The verbs' way into the apply engine: `restart` of a stopped app, `scale` up and
//! `start` all hand their apps to `apply::diff` and `apply::execute`, exactly as `apply`
//! does, so units are only ever created in one place.

use crate::apply::{self, DesiredApp, Failure};
use crate::ecosystem::Ecosystem;
use crate::plan::{self, HostFacts, Plan};
use crate::state::{Source, Store};
use crate::systemd::Client;
use anyhow::{Context, Result};

/// Brings `desired` apps to their state in systemd and in the store; returns the units that
/// failed to start, with systemd's account. The engine's own progress lines are kept from
/// the user (the verbs print PM2's).
pub fn converge(
    client: &Client,
    store: &mut Store,
    desired: &[DesiredApp],
    source: &Source,
) -> Result<Vec<Failure>> {
    let live = apply::live_units(client)?;
    let file = source.file.clone().unwrap_or_default();
    let diff = apply::diff(desired, store.state(), &live, &file, false);
    let mut progress = Vec::new();
    apply::execute(client, store, &diff, desired, &live, source, &mut progress)
}

/// The facts `plan` needs about this host, the same way `apply` gathers them: app output
/// goes through this pm2ctl's `exec-wrap`.
pub fn host_facts(client: &Client) -> HostFacts {
    let mut host = HostFacts::detect(client.scope(), Some(client.major_version()));
    host.self_exe = std::env::current_exe().ok();
    host
}

/// Plans an ecosystem on this host.
pub fn plan(eco: &Ecosystem, env: Option<&str>, host: &HostFacts) -> Result<Plan> {
    plan::plan(eco, env, host, &plan::host::SystemResolver)
        .map_err(anyhow::Error::new)
        .with_context(|| format!("cannot plan {}", eco.source.display()))
}
