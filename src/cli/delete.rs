//! What `delete` does beyond the units: an app deleted as a whole leaves the saved state
//! too, so it does not come back at the next boot (PM2 needs another `pm2 save` for that;
//! here the saved file follows at once). A partly deleted app (some of its instances by
//! id) stays saved as it was, until the next `save`.

use crate::generator;
use crate::saved;
use crate::systemd::Client;
use anyhow::{Context, Result};

/// Removes `deleted` apps from the saved file of `scope`, saying so for each app it held.
/// When systemd still has unit files the generator wrote for them (the app came back at
/// boot), a `daemon-reload` runs the generator again, so they go now rather than at the
/// next boot.
pub fn unsave(client: &Client, deleted: &[String], units: &[String]) -> Result<()> {
    if deleted.is_empty() {
        return Ok(());
    }
    let file = saved::SavedFile::of(client.scope())?;
    let removed = saved::forget(&file, deleted).with_context(|| {
        format!(
            "deleted, but the saved state was not updated: {} comes back at the next boot \
             until `pm2ctl save` runs",
            deleted.join(", ")
        )
    })?;
    if removed.is_empty() {
        return Ok(());
    }
    println!(
        "[PM2] Removed {} from the saved state ({file}): not started at boot any more",
        removed.join(", "),
    );
    if generator::generated(client.scope(), units) {
        client
            .daemon_reload()
            .context("cannot reload systemd to drop the generated units")?;
    }
    Ok(())
}
