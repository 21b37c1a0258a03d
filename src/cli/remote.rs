//! `-H [user@]host`: which verbs reach another machine (see `crate::host::remote`).
//!
//! Every verb that manages apps works on the other host: its systemd (system manager, or the
//! ssh user's own with `--user`), its journal and its pm2ctl state and saved state. The ones
//! below refuse, each for its reason.

use crate::host::Host;
use anyhow::{bail, Result};

/// `startup` and `unstartup`: they install the generator and lingering on this machine.
pub const BOOT_SETUP: &str =
    "it sets up this machine's boot (the generator, lingering); run it on that host";
/// `exec-wrap`, `watch-agent`, `memory-check`: the processes of an app's own units.
pub const INSIDE_UNITS: &str =
    "it runs inside an app's units, on the host itself, started by systemd there";
/// `validate`, `import`, `plan`: they only read files here.
pub const LOCAL_ONLY: &str = "it only reads files on this machine and reaches no systemd";
/// `deploy`: hosts come from the file.
pub const DEPLOY: &str = "deploy reaches the hosts of the file's [deploy.ENV] table";

/// The machine `-H` names (this one without it), unless the verb cannot work on another
/// host (`refusal` says why). Its ssh login ends when the last clone is dropped.
pub fn select(host: Option<&str>, verb: &str, refusal: Option<&str>) -> Result<Host> {
    let Some(host) = host else {
        return Ok(Host::local());
    };
    if let Some(why) = refusal {
        bail!("-H {host}: `{verb}` does not work on another host: {why}");
    }
    Host::remote(host)
}
