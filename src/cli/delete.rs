//! What `delete` does beyond the units: an app deleted as a whole leaves the saved state
//! too (`saved::unsave`), so it does not come back at the next boot. A partly deleted app
//! (some of its instances by id) stays saved as it was, until the next `save`.

use crate::boot::saved;
use crate::systemd::Client;
use anyhow::Result;

/// Removes `deleted` apps from the saved file of the client's manager, saying so when it
/// held them; `units` are the deleted units (see `saved::unsave`).
pub fn unsave(client: &Client, deleted: &[String], units: &[String]) -> Result<()> {
    if let Some(said) = saved::unsave(client, deleted, units)? {
        println!("[PM2] {said}");
    }
    Ok(())
}
