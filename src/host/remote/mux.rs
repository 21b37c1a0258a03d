//! One ssh login per pm2ctl run: an ssh `ControlMaster` that every later ssh session of the
//! run (the D-Bus bridge, `journalctl`, state reads and writes) rides on.
//!
//! Without it each session logs in anew (key exchange, authentication, a login shell), which
//! is most of what `-H` costs. The master is ours alone and lives exactly as long as the run:
//! * its control socket is in a private (0700) directory under `$XDG_RUNTIME_DIR` (else the
//!   temporary directory), removed at exit (what a run killed by a signal leaves is swept by
//!   a later run);
//! * `ControlPersist=no`, and the master's own session is `cat >/dev/null` reading a pipe from
//!   this process: when pm2ctl exits, however it ends, the pipe closes, `cat` ends, and the
//!   master goes with it (after any session still riding on it).
//!
//! It is not used when the user's ssh configuration already multiplexes (their
//! `ControlMaster`/`ControlPath` are then in charge), nor with `PM2CTL_SSH_MULTIPLEX=no`. When
//! the master cannot be set up, sessions simply log in on their own, as before.

use crate::host::ssh::Destination;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::time::{Duration, Instant};

/// Set to `no` (or `0`, `off`, `false`) to log in once per ssh session instead.
pub const MULTIPLEX_VAR: &str = "PM2CTL_SSH_MULTIPLEX";

/// How long the master may take to log in before the run goes on without it.
const LOGIN_PATIENCE: Duration = Duration::from_secs(60);

/// The control directories' name prefix.
const PREFIX: &str = "pm2ctl-ssh-";

/// Past this age, a control directory whose master does not answer is a leftover.
const STALE: Duration = Duration::from_secs(300);

/// How long the master gets to finish on its own at exit before it is killed.
const EXIT_PATIENCE: Duration = Duration::from_secs(3);

/// A running master connection; ended (and its directory removed) on drop.
pub struct Master {
    child: Child,
    stdin: Option<ChildStdin>,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Master {
    /// `dest`, with every session going through this master's socket.
    pub fn client(&self, dest: &Destination) -> Destination {
        let mut client = dest.clone();
        client.options.push("ControlMaster=no".into());
        client
            .options
            .push(format!("ControlPath={}", escape(&self.socket)));
        client
    }
}

impl Drop for Master {
    fn drop(&mut self) {
        // End of input: the master's `cat` ends, then the master once its sessions are done.
        drop(self.stdin.take());
        let deadline = Instant::now() + EXIT_PATIENCE;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a master for `dest`, or `None` when it should not (or cannot) be used.
pub fn start(dest: &Destination) -> Option<Master> {
    if disabled(std::env::var(MULTIPLEX_VAR).ok().as_deref()) || users_own(dest) {
        return None;
    }
    let Some(base) = socket_base(&runtime_dirs()) else {
        tracing::debug!("no directory short enough for an ssh control socket");
        return None;
    };
    sweep(&base, STALE);
    let dir = tempfile::Builder::new()
        .prefix(PREFIX)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(&base)
        .ok()?;
    let socket = dir.path().join("mux");
    // ssh reads option values as text: a path that is not UTF-8 cannot be given to it.
    socket.to_str()?;
    let mut master = dest.clone();
    master.options.extend([
        "ControlMaster=yes".to_string(),
        format!("ControlPath={}", escape(&socket)),
        "ControlPersist=no".to_string(),
    ]);
    let mut child = master
        .command("cat >/dev/null")
        .ok()?
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        // A failed login is reported by the session that then logs in by itself.
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let stdin = child.stdin.take();
    let mut running = Master {
        child,
        stdin,
        socket,
        _dir: dir,
    };
    let deadline = Instant::now() + LOGIN_PATIENCE;
    // ssh opens the control socket once the login succeeded.
    while !running.socket.exists() {
        let exited = !matches!(running.child.try_wait(), Ok(None));
        if exited || Instant::now() > deadline {
            tracing::debug!("ssh master to {} did not come up", dest.target);
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    tracing::debug!(socket = %running.socket.display(), "ssh master up");
    Some(running)
}

/// Removes what runs killed by a signal left in `base`: our control directories older than
/// `older_than` whose socket no master answers on (a live run's master always does; one
/// still logging in gives up well before `STALE`).
fn sweep(base: &Path, older_than: Duration) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    let uid = nix::unistd::getuid().as_raw();
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let path = entry.path();
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age >= older_than);
        if !meta.is_dir() || meta.uid() != uid || !old {
            continue;
        }
        if std::os::unix::net::UnixStream::connect(path.join("mux")).is_err() {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

fn disabled(value: Option<&str>) -> bool {
    value.is_some_and(|v| {
        matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "no" | "0" | "off" | "false"
        )
    })
}

/// True when the user's ssh configuration for `dest` sets up multiplexing itself.
fn users_own(dest: &Destination) -> bool {
    let Ok(mut cmd) = dest.config_command() else {
        return false;
    };
    match cmd.stdin(Stdio::null()).stderr(Stdio::null()).output() {
        Ok(out) if out.status.success() => multiplexes(&String::from_utf8_lossy(&out.stdout)),
        _ => false,
    }
}

/// Whether `ssh -G` output shows a ControlMaster or a ControlPath of the user's.
fn multiplexes(config: &str) -> bool {
    config.lines().any(|line| {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "controlmaster" => !matches!(value.trim(), "false" | "no"),
            "controlpath" => !matches!(value.trim(), "" | "none"),
            _ => false,
        }
    })
}

/// Where the control directory may go, best first: `$XDG_RUNTIME_DIR` (private to the user,
/// on a tmpfs) when there is one, the temporary directory, then `/tmp`.
fn runtime_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute() && d.is_dir())
        .into_iter()
        .collect();
    dirs.extend([std::env::temp_dir(), PathBuf::from("/tmp")]);
    dirs
}

/// The longest path a Unix socket may have (`sun_path` holds 108 bytes with the final NUL).
const SOCKET_PATH_MAX: usize = 107;

/// What ssh adds to `ControlPath` while it sets the socket up (`.` and 16 random characters,
/// renamed into place once bound), and what this module adds to the base directory.
const SSH_TEMPORARY_SUFFIX: usize = 17;
const OUR_PART: usize = "/pm2ctl-ssh-XXXXXX/mux".len();

/// The first of `candidates` whose control socket path fits in a Unix socket address: past
/// that, ssh cannot start the master ("ControlPath too long") and every session would log in
/// on its own (a long `$TMPDIR`, a build tree's test directory).
fn socket_base(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates
        .iter()
        .find(|base| {
            base.as_os_str().len() + OUR_PART + SSH_TEMPORARY_SUFFIX <= SOCKET_PATH_MAX
                && base.is_dir()
        })
        .cloned()
}

/// `path` as the value of `-o ControlPath=`: `%` is ssh's token character, and ssh splits an
/// option's value on white space unless it is double-quoted (`\` escaping `"` and `\` there).
fn escape(path: &Path) -> String {
    let tokens = path.to_string_lossy().replace('%', "%%");
    if tokens.contains(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '\\')) {
        format!("\"{}\"", tokens.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_base_too_long_for_a_socket_gives_way_to_a_shorter_one() {
        let long = std::env::temp_dir().join(format!("{}{}", std::process::id(), "x".repeat(80)));
        std::fs::create_dir_all(&long).expect("mkdir");
        let tmp = PathBuf::from("/tmp");
        assert_eq!(socket_base(&[long.clone(), tmp.clone()]), Some(tmp));
        assert_eq!(socket_base(std::slice::from_ref(&long)), None);
        let _ = std::fs::remove_dir(&long);
        // At the limit: the socket path with ssh's suffix takes exactly 107 bytes.
        let room = SOCKET_PATH_MAX - OUR_PART - SSH_TEMPORARY_SUFFIX;
        // This process' own names (unit tests may run side by side), padded to the length.
        let own = format!("{:010}", std::process::id());
        let pad = "d".repeat(room - "/tmp/".len() - own.len());
        let at_limit = PathBuf::from(format!("/tmp/{own}{pad}"));
        let over = PathBuf::from(format!("{}e", at_limit.display()));
        for dir in [&at_limit, &over] {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        assert_eq!(
            socket_base(std::slice::from_ref(&at_limit)),
            Some(at_limit.clone())
        );
        assert_eq!(socket_base(std::slice::from_ref(&over)), None);
        for dir in [&at_limit, &over] {
            let _ = std::fs::remove_dir(dir);
        }
    }

    #[test]
    fn control_paths_keep_percent_signs_and_spaces() {
        assert_eq!(
            escape(Path::new("/run/user/0/pm2ctl-a/s")),
            "/run/user/0/pm2ctl-a/s"
        );
        assert_eq!(escape(Path::new("/tmp/100%/s")), "/tmp/100%%/s");
        assert_eq!(escape(Path::new("/tmp/ci check/s")), "\"/tmp/ci check/s\"");
        assert_eq!(escape(Path::new("/tmp/a\"b/s")), "\"/tmp/a\\\"b/s\"");
    }

    #[test]
    fn the_users_own_multiplexing_is_left_in_charge() {
        let plain = "user root\nhostname h\ncontrolmaster false\ncontrolpersist no\n";
        assert!(!multiplexes(plain));
        assert!(multiplexes("controlmaster auto\n"));
        assert!(multiplexes(
            "controlmaster false\ncontrolpath ~/.ssh/cm-%r@%h:%p\n"
        ));
        assert!(!multiplexes("controlpath none\n"));
    }

    #[test]
    fn it_can_be_turned_off() {
        assert!(disabled(Some("no")));
        assert!(disabled(Some("0")));
        assert!(!disabled(Some("yes")));
        assert!(!disabled(None));
    }

    #[test]
    fn leftovers_of_killed_runs_are_swept_and_live_ones_kept() {
        let base = tempfile::tempdir().unwrap();
        let dead = base.path().join(format!("{PREFIX}dead"));
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::write(dead.join("mux"), "").unwrap();
        let live = base.path().join(format!("{PREFIX}live"));
        std::fs::create_dir_all(&live).unwrap();
        let _master = std::os::unix::net::UnixListener::bind(live.join("mux")).unwrap();
        let other = base.path().join("someone-else");
        std::fs::create_dir_all(&other).unwrap();

        sweep(base.path(), STALE);
        assert!(dead.exists(), "too young to be a leftover");
        sweep(base.path(), Duration::ZERO);
        assert!(!dead.exists(), "a dead master's directory goes");
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn percent_signs_reach_ssh_as_themselves() {
        assert_eq!(escape(Path::new("/run/a%b/mux")), "/run/a%%b/mux");
    }
}
