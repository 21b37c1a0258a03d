//! pm2ctl's files on the remote host: the state store (locked as a local pm2ctl there locks
//! it), the log marks, and the saved state.
//!
//! The directories are the remote host's own, found there as a local pm2ctl finds them
//! (`state::default_dir`, `saved::config_dir`): the environment variable, else the system
//! path, or the remote user's XDG directories for `--user`.
//!
//! [`LockedFile`] is one ssh session that takes the directory's lock file (`flock`, the lock a
//! local pm2ctl takes) and keeps it while this process works: it sends the file's content,
//! then replaces the file atomically (a temporary file renamed over it) each time it is sent
//! a new content, acknowledging each. Contents travel length-first, so any bytes pass.

use crate::host::ssh::{self, Destination};
use crate::plan::Scope;
use crate::state::State;
use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::Mutex;

/// One of pm2ctl's directories on the remote host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteDir {
    /// `state::default_dir` there: the store, its lock, the log marks.
    State(Scope),
    /// `saved::config_dir` there: the saved state.
    Config(Scope),
}

impl RemoteDir {
    /// Shell that sets `d` to the directory, as the remote pm2ctl would choose it.
    fn script(self) -> &'static str {
        match self {
            RemoteDir::State(Scope::System) => "d=\"${PM2CTL_STATE_DIR:-/var/lib/pm2ctl}\"\n",
            RemoteDir::State(Scope::User) => {
                "case \"${XDG_STATE_HOME:-}\" in /*) x=\"$XDG_STATE_HOME\";; *) x=\"$HOME/.local/state\";; esac\n\
                 d=\"${PM2CTL_STATE_DIR:-$x/pm2ctl}\"\n"
            }
            RemoteDir::Config(Scope::System) => "d=\"${PM2CTL_CONFIG_DIR:-/etc/pm2ctl}\"\n",
            RemoteDir::Config(Scope::User) => {
                "case \"${XDG_CONFIG_HOME:-}\" in /*) x=\"$XDG_CONFIG_HOME\";; *) x=\"$HOME/.config\";; esac\n\
                 d=\"${PM2CTL_CONFIG_DIR:-$x/pm2ctl}\"\n"
            }
        }
    }

    /// The directory's path on `dest`.
    pub fn resolve(self, dest: &Destination) -> Result<PathBuf> {
        let out = super::run_script(dest, &format!("{}printf '%s\\n' \"$d\"", self.script()))
            .context("cannot find pm2ctl's directories on the remote host")?;
        let dir = out.trim_end_matches('\n');
        if !dir.starts_with('/') {
            bail!("{}: unexpected directory {dir:?}", dest.target);
        }
        Ok(PathBuf::from(dir))
    }
}

/// A file in one of pm2ctl's remote directories, its directory locked for the life of this
/// value (released on drop; the file stays as last sent).
pub struct LockedFile {
    child: Child,
    io: Mutex<Io>,
    /// `host:/path/to/file`, for messages.
    origin: String,
    content: Option<Vec<u8>>,
}

struct Io {
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl LockedFile {
    /// Takes `dir`'s lock on `dest` (waiting while a pm2ctl there holds it) and reads `name`.
    pub fn lock(dest: &Destination, dir: RemoteDir, name: &str) -> Result<LockedFile> {
        // Pasted into the script as is: pm2ctl's own file names only.
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            bail!("internal error: {name:?} is not a state file name");
        }
        let script = format!(
            "set -e\n{dir}umask 077\nmkdir -p \"$d\"\n\
             exec 9>>\"$d/lock\"\n\
             flock -n 9 || {{ printf 'pm2ctl: waiting for another pm2ctl on %s to finish (it holds %s)\\n' \
               {target} \"$d/lock\" >&2; flock 9; }}\n\
             f=\"$d/{name}\"\nprintf '%s\\n' \"$d\"\n\
             if [ -f \"$f\" ]; then wc -c < \"$f\"; cat \"$f\"; else echo -1; fi\n\
             t=\"$d/.{name}.remote.$$\"\n\
             while IFS= read -r n; do\n\
               head -c \"$n\" > \"$t\"\n\
               [ $(wc -c < \"$t\") -eq \"$n\" ] || {{ rm -f \"$t\"; exit 3; }}\n\
               sync \"$t\" 2>/dev/null || :\n\
               mv -f \"$t\" \"$f\"\n\
               echo saved\n\
             done\n",
            dir = dir.script(),
            target = ssh::quote(&dest.target)?,
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
        let mut stdout = BufReader::new(stdout);
        let header = read_header(&mut stdout);
        let (dir_path, content) = match header {
            Ok(header) => header,
            Err(e) => {
                drop(stdin);
                let status = child.wait()?;
                return Err(e.context(format!(
                    "cannot lock pm2ctl's files on {} (is flock installed there?): {status}",
                    dest.target
                )));
            }
        };
        Ok(LockedFile {
            child,
            io: Mutex::new(Io { stdin, stdout }),
            origin: format!("{}:{}/{name}", dest.target, dir_path),
            content,
        })
    }

    /// The file's content when it was locked; `None` when it did not exist.
    pub fn content(&self) -> Option<&[u8]> {
        self.content.as_deref()
    }

    /// `host:/path/to/file`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Replaces the file with `content` (atomically, as a local save does) and returns once
    /// the remote host has done it.
    pub fn write(&self, content: &[u8]) -> Result<()> {
        let mut io = self
            .io
            .lock()
            .map_err(|_| anyhow!("the ssh session to {} is broken", self.origin))?;
        let io = &mut *io;
        let stdin = io
            .stdin
            .as_mut()
            .ok_or_else(|| anyhow!("the ssh session's input is gone"))?;
        let sent = stdin
            .write_all(format!("{}\n", content.len()).as_bytes())
            .and_then(|()| stdin.write_all(content))
            .and_then(|()| stdin.flush());
        sent.with_context(|| format!("cannot send {} to the remote host", self.origin))?;
        let mut ack = String::new();
        io.stdout.read_line(&mut ack)?;
        if ack.trim_end() != "saved" {
            bail!("cannot write {} (the remote session ended)", self.origin);
        }
        Ok(())
    }
}

impl Drop for LockedFile {
    fn drop(&mut self) {
        // End of input ends the session, and with it the lock.
        if let Ok(mut io) = self.io.lock() {
            drop(io.stdin.take());
        }
        let _ = self.child.wait();
    }
}

/// Reads what the lock script prints first: the directory, then the file's length (-1:
/// none) and content.
fn read_header(out: &mut impl BufRead) -> Result<(String, Option<Vec<u8>>)> {
    let mut dir = String::new();
    out.read_line(&mut dir)?;
    let dir = dir
        .strip_suffix('\n')
        .ok_or_else(|| anyhow!("the remote session ended early"))?
        .to_string();
    let mut length = String::new();
    out.read_line(&mut length)?;
    let length: i64 = length
        .trim()
        .parse()
        .map_err(|_| anyhow!("unexpected answer {length:?}"))?;
    if length < 0 {
        return Ok((dir, None));
    }
    let mut content = vec![0; usize::try_from(length)?];
    out.read_exact(&mut content)
        .context("the remote session ended early")?;
    Ok((dir, Some(content)))
}

/// The state in `file`'s content (none: an empty state).
pub fn parse_state(content: Option<&[u8]>, origin: &str) -> Result<State> {
    let text = String::from_utf8_lossy(content.unwrap_or_default());
    if text.trim().is_empty() {
        return Ok(State::default());
    }
    crate::state::parse(&text, Path::new(origin))
}

/// The remote host's state for `scope`, read without locking (as local reads are).
pub fn read_state(dest: &Destination, scope: Scope) -> Result<State> {
    let (origin, content) = read_in(dest, RemoteDir::State(scope), crate::state::STATE_FILE)
        .context("cannot read pm2ctl's state on the remote host")?;
    parse_state(content.as_deref(), &origin)
}

/// The file `name` in `dir` on `dest`, read without locking: `host:/path` for messages, and
/// the content (`None` when there is no such file).
pub fn read_in(
    dest: &Destination,
    dir: RemoteDir,
    name: &str,
) -> Result<(String, Option<Vec<u8>>)> {
    let n = ssh::quote(name)?.into_owned();
    let out = super::run_script(
        dest,
        &format!(
            "{}printf '%s\\n' \"$d\"; f=\"$d\"/{n}; if [ -f \"$f\" ]; then echo y; cat \"$f\"; else echo n; fi",
            dir.script()
        ),
    )?;
    let (dir, rest) = out.split_once('\n').unwrap_or((&out, ""));
    let origin = format!("{}:{dir}/{name}", dest.target);
    let content = rest
        .strip_prefix("y\n")
        .map(|text| text.as_bytes().to_vec());
    Ok((origin, content))
}

/// The remote host's clock, in microseconds since the Unix epoch (the journal's unit).
pub fn now_usec(dest: &Destination) -> Result<u64> {
    let out = super::run_script(dest, "date +%s%6N")?;
    out.trim()
        .parse()
        .with_context(|| format!("unexpected time {:?} from {}", out.trim(), dest.target))
}

/// The text of `path` on `dest`; `None` when there is no such file.
pub fn read_file(dest: &Destination, path: &Path) -> Result<Option<String>> {
    let p = ssh::quote(&path.to_string_lossy())?.into_owned();
    let out = super::run_script(
        dest,
        &format!("if [ -f {p} ]; then echo y; cat -- {p}; else echo n; fi"),
    )
    .with_context(|| format!("cannot read {} on {}", path.display(), dest.target))?;
    Ok(out.strip_prefix("y\n").map(str::to_string))
}

/// Replaces `path` on `dest` with `text` (a temporary file renamed over it, mode 0600, its
/// directory created).
pub fn write_file(dest: &Destination, path: &Path, text: &str) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let d = ssh::quote(&dir.to_string_lossy())?.into_owned();
    let p = ssh::quote(&path.to_string_lossy())?.into_owned();
    let t = ssh::quote(&format!("{}/.{name}.remote.", dir.display()))?.into_owned();
    super::run_script_with_input(
        dest,
        &format!(
            "set -e\numask 077\nmkdir -p -- {d}\nt={t}$$\n\
             cat > \"$t\"\nsync \"$t\" 2>/dev/null || :\nmv -f -- \"$t\" {p}\n"
        ),
        Some(text.as_bytes()),
    )
    .with_context(|| format!("cannot write {} on {}", path.display(), dest.target))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_sessions_header_gives_the_file_or_none() {
        let mut out = &b"/var/lib/pm2ctl\n5\nhello"[..];
        let (dir, content) = read_header(&mut out).unwrap();
        assert_eq!(dir, "/var/lib/pm2ctl");
        assert_eq!(content.as_deref(), Some(&b"hello"[..]));

        let mut none = &b"/d\n-1\n"[..];
        assert_eq!(read_header(&mut none).unwrap().1, None);
        assert!(read_header(&mut &b"/d\n9\nshort"[..]).is_err());
        assert!(read_header(&mut &b""[..]).is_err());
    }

    #[test]
    fn an_empty_remote_store_is_an_empty_state() {
        assert_eq!(parse_state(None, "h:/s").unwrap(), State::default());
        assert_eq!(parse_state(Some(b"\n"), "h:/s").unwrap(), State::default());
        let err = parse_state(Some(b"{nope"), "h:/var/lib/pm2ctl/state.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("h:/var/lib/pm2ctl/state.json"), "{err}");
    }

    /// An `ssh` that runs the remote command here, with `state` as the state directory.
    fn local_ssh(dir: &Path, state: &Path) -> PathBuf {
        let program = dir.join("fake-ssh");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\nwhile [ \"$1\" != -- ]; do shift; done\nshift 2\n\
                 PM2CTL_STATE_DIR='{}' exec sh -c \"$1\"\n",
                state.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        program
    }

    #[test]
    fn the_remote_store_is_locked_read_and_replaced_as_a_local_one() {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        let ssh = local_ssh(tmp.path(), &state);
        // Each test runs in its own process under nextest; this one alone sets it.
        std::env::set_var(ssh::SSH_VAR, &ssh);
        let dest = Destination::new(None, "elsewhere");
        let dir = RemoteDir::State(Scope::System);

        let first = LockedFile::lock(&dest, dir, "state.json").unwrap();
        assert_eq!(first.content(), None, "no file yet");
        assert!(
            first.origin().ends_with("/state/state.json"),
            "{}",
            first.origin()
        );
        // Any bytes, newlines and a missing final newline included, replace the file whole.
        first.write(b"{\n \"a\": 1\n}").unwrap();
        first.write(b"second\nversion").unwrap();
        assert_eq!(
            std::fs::read(state.join("state.json")).unwrap(),
            b"second\nversion"
        );

        // A second locker waits for the first, then sees what it wrote.
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = {
            let dest = dest.clone();
            std::thread::spawn(move || {
                let second = LockedFile::lock(&dest, dir, "state.json").unwrap();
                tx.send(second.content().map(<[u8]>::to_vec)).unwrap();
            })
        };
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(300))
                .is_err(),
            "the second lock waited"
        );
        drop(first);
        assert_eq!(rx.recv().unwrap().as_deref(), Some(&b"second\nversion"[..]));
        waiter.join().unwrap();

        assert_eq!(read_file(&dest, &state.join("nothing")).unwrap(), None);
        let saved = state.join("sub/dump.toml");
        write_file(&dest, &saved, "a = 1\n").unwrap();
        assert_eq!(
            read_file(&dest, &saved).unwrap().as_deref(),
            Some("a = 1\n")
        );
        let (origin, content) = read_in(&dest, dir, "state.json").unwrap();
        assert!(origin.starts_with("elsewhere:/"), "{origin}");
        assert_eq!(content.as_deref(), Some(&b"second\nversion"[..]));
        let names: Vec<_> = std::fs::read_dir(&state)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "no temporary file is left: {names:?}");
    }

    #[test]
    fn directories_follow_the_local_rules() {
        let user = RemoteDir::State(Scope::User).script();
        assert!(user.contains("PM2CTL_STATE_DIR") && user.contains(".local/state"));
        let config = RemoteDir::Config(Scope::System).script();
        assert!(config.contains("${PM2CTL_CONFIG_DIR:-/etc/pm2ctl}"));
    }
}
