//! `-H [user@]host`: which verbs reach another machine (see `crate::remote`).

use anyhow::{bail, Result};

/// The verbs `-H` works with: those that read the remote state and journal, and `apply`,
/// which holds the remote store's lock over ssh. The others would need their store access
/// remoted first.
pub const VERBS: &str = "list, jlist, prettylist, logs and apply";

/// Selects `host` for this process, when the verb (`supported`) works across hosts.
pub fn select(host: &str, supported: bool) -> Result<()> {
    if !supported {
        bail!("-H {host}: only {VERBS} work on another host");
    }
    crate::remote::select(host)
}
