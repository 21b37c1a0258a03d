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
//!   `${PM2CTL_STATE_DIR:-/var/lib/pm2ctl}`), so `-H` and a pm2ctl run on that host see the same
//!   apps, ids and desired states. Reads `cat` it over ssh; a command that changes it (`apply`)
//!   holds the remote store's own lock file (`flock`, the lock a local pm2ctl there takes) for
//!   its whole run, in one ssh session that also writes the new state back atomically (see
//!   [`LockedState`]).
//!
//! The host is chosen once per process ([`select`], from `main`) because it cuts across every
//! layer that reaches the machine: the bus, the journal and the state directory.

pub mod host;

use crate::ssh::{self, Destination};
use crate::state::{State, Store};
use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;

static SELECTED: OnceLock<Destination> = OnceLock::new();

/// The remote state directory, as the remote shell spells it.
const REMOTE_STATE_DIR: &str = "${PM2CTL_STATE_DIR:-/var/lib/pm2ctl}";

/// Makes every later connection of this process go to `target` (`[user@]host`).
pub fn select(target: &str) -> Result<()> {
    check_target(target)?;
    SELECTED
        .set(Destination::new(None, target))
        .map_err(|_| anyhow!("-H given twice"))
}

/// A host ssh takes as a destination, never as an option.
fn check_target(target: &str) -> Result<()> {
    if target.is_empty() || target.starts_with('-') || target.chars().any(char::is_whitespace) {
        bail!("-H {target:?}: expected [user@]host");
    }
    Ok(())
}

/// The host chosen with `-H`, if any.
pub fn selected() -> Option<&'static Destination> {
    SELECTED.get()
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

/// Starts `systemd-stdio-bridge` on `dest` and returns our end of its stdin/stdout.
pub fn bridge(dest: &Destination) -> Result<(UnixStream, Bridge)> {
    let (ours, theirs) = UnixStream::pair().context("cannot create a socket pair for ssh")?;
    let theirs_out = theirs.try_clone().context("cannot duplicate a socket")?;
    let mut cmd = dest.command("systemd-stdio-bridge")?;
    cmd.stdin(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::from(std::os::fd::OwnedFd::from(theirs_out)));
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot run ssh to {}", dest.target))?;
    Ok((ours, Bridge { child }))
}

/// `cmd` (a local command line) as it should run: unchanged, or on the selected host over
/// ssh, each argument quoted for the remote shell. Call it before setting up stdio.
pub fn localize(cmd: Command) -> Result<Command> {
    let Some(dest) = selected() else {
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
    let out = dest
        .command(&format!("sh -c {}", ssh::quote(script)?))?
        .stdin(Stdio::null())
        .output()
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

/// The remote host's state, read without locking (as local reads are).
pub fn read_state(dest: &Destination) -> Result<State> {
    let text = run_script(
        dest,
        &format!("f=\"{REMOTE_STATE_DIR}/state.json\"; if [ -f \"$f\" ]; then cat \"$f\"; fi"),
    )
    .context("cannot read pm2ctl's state on the remote host")?;
    parse_remote(&text, dest)
}

fn parse_remote(text: &str, dest: &Destination) -> Result<State> {
    if text.trim().is_empty() {
        return Ok(State::default());
    }
    let origin = format!("{}:{REMOTE_STATE_DIR}/state.json", dest.target);
    crate::state::parse(text, Path::new(&origin))
}

/// The marker after which the remote session waits for the new state.
const STATE_END: &str = "--pm2ctl-state-end--";

/// The remote store, locked for the life of this value: one ssh session that took the
/// store's `flock`, printed the state, and waits on its stdin for the state to write back.
pub struct LockedState {
    child: Child,
    stdin: Option<ChildStdin>,
    state: State,
    target: String,
}

impl LockedState {
    /// Takes the remote store's lock (waiting for a pm2ctl running there) and reads it.
    pub fn lock(dest: &Destination) -> Result<LockedState> {
        let script = format!(
            "set -e\nd=\"{REMOTE_STATE_DIR}\"\numask 077\nmkdir -p \"$d\"\n\
             exec 9>>\"$d/lock\"\nflock 9\n\
             if [ -f \"$d/state.json\" ]; then cat \"$d/state.json\"; fi\n\
             printf '\\n%s\\n' '{STATE_END}'\n\
             t=\"$d/.state.json.remote.$$\"\ncat > \"$t\"\n\
             if [ -s \"$t\" ]; then mv -f \"$t\" \"$d/state.json\"; else rm -f \"$t\"; fi\n"
        );
        let mut child = dest
            .command(&format!("sh -c {}", ssh::quote(&script)?))?
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run ssh to {}", dest.target))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("ssh's output is not a pipe"))?;
        let mut text = String::new();
        let mut reader = BufReader::new(stdout);
        let mut ended = false;
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 {
            if line.trim_end() == STATE_END {
                ended = true;
                break;
            }
            text.push_str(&line);
            line.clear();
        }
        if !ended {
            let status = child.wait()?;
            bail!(
                "cannot lock pm2ctl's state on {} (is flock installed there?): {status}",
                dest.target
            );
        }
        // Nothing more comes on stdout; drain it so the session never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        let state = parse_remote(&text, dest)?;
        Ok(LockedState {
            child,
            stdin,
            state,
            target: dest.target.clone(),
        })
    }

    pub fn state(&self) -> &State {
        &self.state
    }

    /// Writes `state` on the remote host (atomically: a temporary file renamed over the
    /// store) and releases the lock.
    pub fn write_back(mut self, state: &State) -> Result<()> {
        let mut text = serde_json::to_string_pretty(state).context("cannot serialise the state")?;
        text.push('\n');
        let mut stdin = self
            .stdin
            .take()
            .ok_or_else(|| anyhow!("the ssh session's input is gone"))?;
        stdin
            .write_all(text.as_bytes())
            .with_context(|| format!("cannot send the state to {}", self.target))?;
        drop(stdin);
        let status = self.child.wait()?;
        if !status.success() {
            bail!("cannot write pm2ctl's state on {}: {status}", self.target);
        }
        Ok(())
    }
}

/// The remote store as a local [`Store`] (over a private temporary directory, seeded with
/// the remote state), so the apply engine runs unchanged; the remote lock is held until
/// [`RemoteStore::write_back`] (or drop, which leaves the remote state untouched).
pub struct RemoteStore {
    locked: LockedState,
    _scratch: tempfile::TempDir,
}

impl RemoteStore {
    pub fn lock(dest: &Destination) -> Result<(Store, RemoteStore)> {
        let locked = LockedState::lock(dest)?;
        let scratch = tempfile::Builder::new()
            .prefix("pm2ctl-remote-state-")
            .tempdir()
            .context("cannot create a temporary directory")?;
        let mut store = Store::lock(scratch.path())?;
        *store.state_mut() = locked.state().clone();
        Ok((
            store,
            RemoteStore {
                locked,
                _scratch: scratch,
            },
        ))
    }

    /// Sends `store`'s state to the remote host and releases its lock.
    pub fn write_back(self, store: &Store) -> Result<()> {
        self.locked.write_back(store.state())
    }
}

impl Drop for LockedState {
    fn drop(&mut self) {
        // Without a write-back, closing stdin empty leaves the remote state as it was.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
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
    fn an_empty_remote_store_is_an_empty_state() {
        let d = Destination::new(None, "h");
        assert_eq!(parse_remote("", &d).unwrap(), State::default());
        let err = parse_remote("{nope", &d).unwrap_err().to_string();
        assert!(
            err.contains("h:${PM2CTL_STATE_DIR:-/var/lib/pm2ctl}/state.json"),
            "{err}"
        );
    }
}
