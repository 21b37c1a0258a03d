//! The verbs' way into the apply engine: `restart` of a stopped app, `scale` up and
//! `start` all hand their apps to `apply::diff` and `apply::execute`, exactly as `apply`
//! does, so units are only ever created in one place.

use crate::apply::{self, DesiredApp, Failure};
use crate::ecosystem::Ecosystem;
use crate::plan::{self, HostFacts, Plan, PlanError};
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
    let options = apply::Options::default();
    let diff = apply::diff(desired, store.state(), &live, &file, options);
    let mut progress = Vec::new();
    apply::execute(
        client,
        store,
        &diff,
        desired,
        &live,
        source,
        options,
        &mut progress,
    )
}

/// The facts `plan` needs about the managed host, the same way `apply` gathers them: here,
/// app output goes through this pm2ctl's `exec-wrap`; with `-H`, the remote host's facts
/// (see `remote::host`).
pub fn host_facts(client: &Client) -> Result<HostFacts> {
    if let Some(dest) = client.host().ssh() {
        return crate::host::remote::facts::facts(dest, client.scope(), client.major_version());
    }
    let mut host = HostFacts::detect(client.scope(), Some(client.major_version()));
    host.self_exe = std::env::current_exe().ok();
    Ok(host)
}

/// Plans an ecosystem on `client`'s host: another host's paths are looked up there.
pub fn plan(client: &Client, eco: &Ecosystem, env: Option<&str>, host: &HostFacts) -> Result<Plan> {
    plan_on(client, eco, env, host)?
        .map_err(anyhow::Error::new)
        .with_context(|| format!("cannot plan {}", eco.source.display()))
}

/// [`plan`], telling a failure to look at the host (the outer error) from a file whose
/// apps cannot be planned (the inner one, the file's fault).
pub fn plan_on(
    client: &Client,
    eco: &Ecosystem,
    env: Option<&str>,
    host: &HostFacts,
) -> Result<Result<Plan, PlanError>> {
    Ok(match client.host().ssh() {
        Some(dest) => {
            let resolver = crate::host::remote::facts::RemoteResolver::new(dest);
            let planned = plan::plan(eco, env, host, &resolver);
            if let Some(e) = resolver.take_error() {
                return Err(e.context(format!("cannot look at files on {}", dest.target)));
            }
            planned
        }
        None => plan::plan(eco, env, host, &crate::host::local::SystemResolver),
    })
}
