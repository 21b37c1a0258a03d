//! `-H [user@]host`: which verbs reach another machine (see `crate::remote`).

use anyhow::{bail, Result};

/// The verbs `-H` works with: those that read the remote state and journal. The others
/// would need their store access remoted first.
pub const VERBS: &str = "list, jlist, prettylist and logs";

/// Selects `host` for this process, when the verb (`supported`) works across hosts.
pub fn select(host: &str, supported: bool) -> Result<()> {
    if !supported {
        bail!("-H {host}: only {VERBS} work on another host");
    }
    crate::remote::select(host)
}
