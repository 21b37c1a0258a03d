//! `pm2ctl exec-wrap`: connects an app's stdout and stderr to where its logs go, then execs
//! the app, so the app is the unit's main process and nothing of pm2ctl stays resident.
//!
//! Each stream goes to exactly one place, decided here once, before `exec`:
//! - by default, a journald stream of its own: stdout at priority 6, stderr at 3, which is
//!   how `pm2ctl logs --err/--out` tells them apart (journald does not record the stream);
//! - with `--out-file F` / `--err-file F`, file F, opened for appending (parent directories
//!   created). A stream sent to a file is not in the journal: copying it to both would need
//!   a process copying every line for the app's whole life, which is the log-piping daemon
//!   pm2ctl exists to avoid;
//! - with `--merge-logs`, stderr goes wherever stdout goes (one combined file, PM2's
//!   `log_file`, or one journal stream at stdout's priority);
//! - with `--no-journal`, a stream with no file keeps what the unit gave it (e.g.
//!   `StandardOutput=null` for `disable_logs`).
//!
//! Logging never stops an app from starting: when journald is unreachable or a file cannot
//! be opened, the stream keeps what the unit gave it, and a warning says why.

use super::stream;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What `exec-wrap` was asked to do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WrapOptions {
    pub out_file: Option<PathBuf>,
    pub err_file: Option<PathBuf>,
    pub merge_logs: bool,
    pub no_journal: bool,
    /// `SYSLOG_IDENTIFIER` of the journal streams; derived when not given.
    pub identifier: Option<String>,
    /// The real command: path, then its arguments.
    pub command: Vec<OsString>,
}

/// Where one stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sink {
    Journal {
        priority: u8,
    },
    File(PathBuf),
    /// Whatever the unit connected the stream to.
    Inherit,
    /// stderr only: the same place as stdout.
    SameAsStdout,
}

/// The destinations of stdout and stderr for `options`.
pub fn sinks(options: &WrapOptions) -> (Sink, Sink) {
    let stdout = match (&options.out_file, options.no_journal) {
        (Some(file), _) => Sink::File(file.clone()),
        (None, true) => Sink::Inherit,
        (None, false) => Sink::Journal {
            priority: stream::PRIORITY_STDOUT,
        },
    };
    let stderr = match (&options.err_file, options.merge_logs, options.no_journal) {
        (Some(file), _, _) => Sink::File(file.clone()),
        (None, true, _) => Sink::SameAsStdout,
        (None, false, true) => Sink::Inherit,
        (None, false, false) => Sink::Journal {
            priority: stream::PRIORITY_STDERR,
        },
    };
    (stdout, stderr)
}

/// Connects the streams and execs the command. Returns only when `exec` failed.
pub fn exec_wrapped(options: &WrapOptions) -> anyhow::Error {
    let Some((program, args)) = options.command.split_first() else {
        return anyhow::anyhow!("exec-wrap: no command given after `--`");
    };
    let identifier = options.identifier.clone().unwrap_or_else(|| {
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        app_from_cgroup(&cgroup).unwrap_or_else(|| command_name(program))
    });
    let (stdout_sink, stderr_sink) = sinks(options);
    let socket = Path::new(stream::STDOUT_SOCKET);
    redirect(1, &stdout_sink, socket, &identifier);
    redirect(2, &stderr_sink, socket, &identifier);

    let error = Command::new(program).args(args).exec();
    anyhow::anyhow!(
        "exec-wrap: cannot run {}: {error}",
        Path::new(program).display()
    )
}

/// Points `target_fd` at `sink`; on failure leaves it as it was and says why on stderr
/// (which, in a unit, reaches the journal).
fn redirect(target_fd: i32, sink: &Sink, socket: &Path, identifier: &str) {
    let opened: std::io::Result<std::os::fd::OwnedFd> = match sink {
        Sink::Inherit => return,
        Sink::SameAsStdout => {
            if let Err(e) = dup_onto(std::io::stdout().as_fd(), target_fd) {
                eprintln!("pm2ctl exec-wrap: cannot send stderr to stdout's destination: {e}");
            }
            return;
        }
        Sink::Journal { priority } => stream::connect(socket, identifier, *priority)
            .map(std::os::fd::OwnedFd::from)
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("journald at {}: {e}", socket.display()))
            }),
        Sink::File(path) => open_log_file(path)
            .map(std::os::fd::OwnedFd::from)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))),
    };
    let result = opened.and_then(|fd| dup_onto(fd.as_fd(), target_fd));
    if let Err(e) = result {
        let what = if target_fd == 1 { "stdout" } else { "stderr" };
        eprintln!("pm2ctl exec-wrap: {what} keeps its original destination: {e}");
    }
}

/// Points stdout (1) or stderr (2) at `fd`. The duplicate does not inherit close-on-exec,
/// so the app gets it.
fn dup_onto(fd: std::os::fd::BorrowedFd<'_>, target: i32) -> std::io::Result<()> {
    let result = if target == 1 {
        nix::unistd::dup2_stdout(fd)
    } else {
        nix::unistd::dup2_stderr(fd)
    };
    result.map_err(std::io::Error::from)
}

/// Opens `path` for appending, creating it (mode 0640) and its parent directories.
///
/// In a world-writable directory (such as /tmp) another user could plant a symlink at the
/// log's path and have the app's output appended to a file of theirs choosing (or the app's
/// user's): there the last component must not be a symlink.
pub fn open_log_file(path: &Path) -> std::io::Result<File> {
    // A directory on the way planted as a symlink would redirect the file just the same.
    if let Some(link) = path
        .parent()
        .and_then(crate::safe_path::symlink_in_world_writable)
    {
        return Err(std::io::Error::other(format!(
            "{} is a symlink in a world-writable directory; refusing to follow it",
            link.display()
        )));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
    }
    let world_writable = parent
        .and_then(|p| std::fs::metadata(p).ok())
        .is_some_and(|m| m.permissions().mode() & 0o002 != 0);
    let mut flags = nix::libc::O_NOCTTY;
    if world_writable {
        flags |= nix::libc::O_NOFOLLOW;
    }
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| {
            if world_writable && e.raw_os_error() == Some(nix::libc::ELOOP) {
                std::io::Error::other(
                    "is a symlink in a world-writable directory; refusing to follow it",
                )
            } else {
                e
            }
        })
}

/// The app name of the pm2ctl unit this process runs in, from `/proc/self/cgroup`:
/// `…/pm2ctl-<escaped name>@<i>.service` → the unescaped name.
pub fn app_from_cgroup(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        // "ID:CONTROLLERS:PATH"; systemd's own hierarchy is `name=systemd` (v1) or `` (v2).
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        if !(controllers == "name=systemd" || controllers.is_empty()) {
            return None;
        }
        let unit = path.rsplit('/').find(|c| c.ends_with(".service"))?;
        let parsed = crate::unit::name::parse_instance_unit(unit)?;
        crate::unit::name::unescape(parsed.escaped)
    })
}

/// The identifier systemd itself would use without `SyslogIdentifier=`: the program's name.
fn command_name(program: &OsString) -> String {
    Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "pm2ctl-app".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> WrapOptions {
        WrapOptions {
            command: vec!["/bin/true".into()],
            ..WrapOptions::default()
        }
    }

    #[test]
    fn by_default_each_stream_gets_its_own_journal_priority() {
        let (out, err) = sinks(&opts());
        assert_eq!(out, Sink::Journal { priority: 6 });
        assert_eq!(err, Sink::Journal { priority: 3 });
    }

    #[test]
    fn files_replace_the_journal_per_stream() {
        let options = WrapOptions {
            out_file: Some("/var/log/a-out.log".into()),
            ..opts()
        };
        let (out, err) = sinks(&options);
        assert_eq!(out, Sink::File("/var/log/a-out.log".into()));
        assert_eq!(err, Sink::Journal { priority: 3 });
    }

    #[test]
    fn merge_logs_sends_stderr_where_stdout_goes_unless_it_has_a_file() {
        let merged = WrapOptions {
            out_file: Some("/l/a.log".into()),
            merge_logs: true,
            ..opts()
        };
        assert_eq!(sinks(&merged).1, Sink::SameAsStdout);
        let both = WrapOptions {
            err_file: Some("/l/e.log".into()),
            ..merged
        };
        assert_eq!(sinks(&both).1, Sink::File("/l/e.log".into()));
    }

    #[test]
    fn no_journal_leaves_streams_without_files_alone() {
        let options = WrapOptions {
            no_journal: true,
            err_file: Some("/l/e.log".into()),
            ..opts()
        };
        assert_eq!(
            sinks(&options),
            (Sink::Inherit, Sink::File("/l/e.log".into()))
        );
    }

    #[test]
    fn the_app_name_comes_from_the_units_cgroup() {
        let v1 = "12:memory:/system.slice/pm2ctl-api.slice/pm2ctl-api@0.service\n\
                  1:name=systemd:/system.slice/pm2ctl-my\\x2dapp.slice/pm2ctl-my\\x2dapp@3.service\n\
                  0::/system.slice/pm2ctl-api.slice/pm2ctl-api@0.service\n";
        assert_eq!(app_from_cgroup(v1).as_deref(), Some("my-app"));
        let v2 = "0::/system.slice/pm2ctl-a-b.slice/pm2ctl-a-b@0.service\n";
        assert_eq!(app_from_cgroup(v2).as_deref(), Some("a/b"));
        assert_eq!(
            app_from_cgroup("0::/system.slice/nginx.service\n"),
            None,
            "not a pm2ctl unit"
        );
        assert_eq!(app_from_cgroup("garbage"), None);
    }

    #[test]
    fn unescaping_follows_systemd() {}

    #[test]
    fn log_files_get_their_parent_directories() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deep/er/app-out.log");
        open_log_file(&path).unwrap();
        assert!(path.is_file());
    }

    #[test]
    fn a_symlink_in_a_world_writable_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "").unwrap();
        let link = dir.path().join("app.log");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = open_log_file(&link).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");

        // So is a symlinked directory on the way.
        let elsewhere = tempfile::tempdir().unwrap();
        let dir_link = dir.path().join("logs");
        std::os::unix::fs::symlink(elsewhere.path(), &dir_link).unwrap();
        let err = open_log_file(&dir_link.join("app.log")).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        assert!(!elsewhere.path().join("app.log").exists());

        // In a private directory a symlinked log (e.g. to a shared volume) is the owner's choice.
        let private = tempfile::tempdir().unwrap();
        let link = private.path().join("app.log");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        open_log_file(&link).unwrap();
    }
}
