//! `pm2ctl -H [user@]host …`: another machine's systemd, over ssh, as `systemctl -H` does.
//!
//! * **D-Bus**: `ssh HOST systemd-stdio-bridge` relays the remote system bus over the ssh
//!   session's stdin and stdout. pm2ctl hands ssh one end of a socket pair as both, and zbus
//!   the other end as an ordinary Unix stream (`Builder::unix_stream`), so the same `Client`
//!   (transient units, jobs, unit state) works unchanged. Nothing is installed or left running
//!   on the remote host: the bridge lives as long as the ssh session.
//! * **Journal**: `journalctl` runs on the remote host over its own ssh session
//!   ([`localize`]), its output read here as if it ran locally.
//! * **State**: pm2ctl's state store is the **remote host's** (its
//!   `${PM2CTL_STATE_DIR:-/var/lib/pm2ctl}`, or the remote user's for `--user`), so `-H` and a
//!   pm2ctl run on that host see the same apps, ids and desired states. `state::lock_current`
//!   hands every verb a `Store` whose lock and saves are the remote host's (one ssh session
//!   holding the store's `flock`, see [`store`]); the verbs themselves do not know.
//! * **Saved state and log marks** (`save`, `resurrect`, `flush`): files in the remote host's
//!   config and state directories, read and replaced over ssh ([`store`]).
//! * **One login per run**: the first session starts an ssh master that the others ride on
//!   ([`mux`]).
//!
//! The host is chosen once per process, in `main`, as a [`Host`] value every layer that
//! reaches the machine is handed: the bus connection, the journal, the state store and the
//! saved file.

pub mod facts;
mod mux;
pub mod store;

pub use mux::MULTIPLEX_VAR;
pub use store::{read_file, read_state, write_file, LockedFile, RemoteDir};

use super::Host;
use crate::host::ssh::{self, Destination};
use crate::plan::Scope;
use anyhow::{anyhow, bail, Context, Result};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// Another machine, chosen with `-H`, and how this run reaches it.
pub struct Remote {
    /// As the user gave it.
    given: Destination,
    /// What sessions use: `given`, through this run's ssh master when there is one.
    connected: OnceLock<Destination>,
    master: Mutex<Option<mux::Master>>,
}

impl Remote {
    /// `target` (`[user@]host`), not reached yet.
    pub fn new(target: &str) -> Result<Remote> {
        check_target(target)?;
        Ok(Remote {
            given: Destination::new(None, target),
            connected: OnceLock::new(),
            master: Mutex::new(None),
        })
    }

    /// The `[user@]host` given with `-H` (nothing is connected to ask this).
    pub fn target(&self) -> &str {
        &self.given.target
    }

    /// The host as sessions reach it: the first call logs in once (the run's ssh master,
    /// see `mux`), every session after rides on that login.
    pub fn destination(&self) -> &Destination {
        self.connected
            .get_or_init(|| match mux::start(&self.given) {
                Some(master) => {
                    let client = master.client(&self.given);
                    if let Ok(mut slot) = self.master.lock() {
                        *slot = Some(master);
                    }
                    client
                }
                None => self.given.clone(),
            })
    }
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote")
            .field("target", &self.given.target)
            .finish_non_exhaustive()
    }
}

impl Drop for Remote {
    /// Ends this run's ssh master, if one was started.
    fn drop(&mut self) {
        let master = self.master.lock().map(|mut m| m.take()).unwrap_or_default();
        drop(master);
    }
}

/// A host ssh takes as a destination, never as an option.
fn check_target(target: &str) -> Result<()> {
    if target.is_empty() || target.starts_with('-') || target.chars().any(char::is_whitespace) {
        bail!("-H {target:?}: expected [user@]host");
    }
    Ok(())
}

/// A running `ssh HOST systemd-stdio-bridge`: stopped (and reaped) on drop.
pub struct Bridge {
    child: Child,
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `systemd-stdio-bridge` on `dest` for `scope`'s manager (the remote user's own with
/// `--user`) and returns our end of its stdin/stdout.
pub fn bridge(dest: &Destination, scope: Scope) -> Result<(UnixStream, Bridge)> {
    let (ours, theirs) = UnixStream::pair().context("cannot create a socket pair for ssh")?;
    let theirs_out = theirs.try_clone().context("cannot duplicate a socket")?;
    let mut cmd = dest.command(&bridge_command(scope)?)?;
    cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)));
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot run ssh to {}", dest.target))?;
    Ok((ours, Bridge { child }))
}

/// The remote command line of the bridge. For a user's bus the address is given
/// explicitly: systemd 252's bridge connects to the system bus even with `--user`. It is the
/// session's `$DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`, which a
/// non-interactive ssh session may lack (no PAM session): then the standard
/// `/run/user/UID/bus`. `--user` only where the bridge knows it: 247's does not.
fn bridge_command(scope: Scope) -> Result<String> {
    Ok(match scope {
        Scope::System => "systemd-stdio-bridge".to_string(),
        Scope::User => format!(
            "sh -c {}",
            ssh::quote(
                "r=\"${XDG_RUNTIME_DIR:-/run/user/$(id -u)}\"; u=; \
                 systemd-stdio-bridge --help 2>/dev/null | grep -q -e --user && u=--user; \
                 exec systemd-stdio-bridge $u \
                 --bus-path=\"${DBUS_SESSION_BUS_ADDRESS:-unix:path=$r/bus}\""
            )?
        ),
    })
}

/// `cmd` (a local command line) as it should run on `host`: unchanged, or over ssh, each
/// argument quoted for the remote shell. Call it before setting up stdio.
pub fn localize(host: &Host, cmd: Command) -> Result<Command> {
    let Some(dest) = host.ssh() else {
        return Ok(cmd);
    };
    let mut words = vec![ssh::quote(&cmd.get_program().to_string_lossy())?.into_owned()];
    for arg in cmd.get_args() {
        words.push(ssh::quote(&arg.to_string_lossy())?.into_owned());
    }
    dest.command(&words.join(" "))
}

/// Runs `script` with `sh -c` on `dest` and returns its standard output.
pub fn run_script(dest: &Destination, script: &str) -> Result<String> {
    run_script_with_input(dest, script, None)
}

/// [`run_script`], with `input` on the script's standard input.
pub fn run_script_with_input(
    dest: &Destination,
    script: &str,
    input: Option<&[u8]>,
) -> Result<String> {
    let mut cmd = dest.command(&format!("sh -c {}", ssh::quote(script)?))?;
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run ssh to {}", dest.target))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        use std::io::Write;
        // The script may fail before reading it all: its exit status says why.
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .with_context(|| format!("cannot run ssh to {}", dest.target))?;
    if !out.status.success() {
        bail!(
            "on {}: {} ({})",
            dest.target,
            String::from_utf8_lossy(&out.stderr).trim(),
            out.status
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// An ecosystem file a (remote) state names: with `-H`, the remote host's file of that
/// path, read over ssh; otherwise the local file. JavaScript files are evaluated by a local
/// node, so a remote one cannot be read.
pub fn load_recorded(
    host: &Host,
    path: &std::path::Path,
) -> Result<crate::ecosystem::Ecosystem, anyhow::Error> {
    use crate::ecosystem::{self, Format};
    let Some(dest) = host.ssh() else {
        return crate::load::ecosystem(path).map_err(anyhow::Error::new);
    };
    let format = Format::of(path).map_err(anyhow::Error::msg)?;
    if format == Format::JavaScript {
        bail!(
            "{} is a JavaScript file on {}: it can only be read there (run pm2ctl on that host)",
            path.display(),
            dest.target
        );
    }
    let text = read_file(dest, path)?
        .ok_or_else(|| anyhow!("{} does not exist on {}", path.display(), dest.target))?;
    ecosystem::load_text(path, &text, format).map_err(anyhow::Error::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_checked() {
        for bad in ["", "-oProxyCommand=x", "a b"] {
            assert!(
                check_target(bad).is_err(),
                "{bad:?} should be refused as a host"
            );
        }
        assert!(check_target("root@web1").is_ok());
    }

    #[test]
    fn a_users_bridge_finds_that_users_bus() {
        assert_eq!(
            bridge_command(Scope::System).unwrap(),
            "systemd-stdio-bridge"
        );
        let user = bridge_command(Scope::User).unwrap();
        assert!(user.contains("exec systemd-stdio-bridge $u"), "{user}");
        assert!(user.contains("grep -q -e --user && u=--user"), "{user}");
        assert!(user.contains("/run/user/$(id -u)"), "{user}");
        assert!(user.contains("--bus-path="), "{user}");
    }
}
