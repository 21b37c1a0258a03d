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
//!   `StandardOutput=null` for `disable_logs`);
//! - with `--date-format FMT` and/or `--json` (PM2's `log_date_format`, `log_type = "json"`),
//!   a stream sent to a file goes through a pipe to a small copying process that writes each
//!   line in that shape (see `file_format`). It is the only case where something of pm2ctl
//!   stays beside the app, and only because the files were asked to hold what the app did not
//!   write. It runs in the unit (systemd accounts, stops and kills it with the app), is not
//!   the app's child (so the app never reaps it), ignores the stop signals and exits when the
//!   app and every process holding the pipe are gone, after writing their last lines.
//!
//! Logging never stops an app from starting: when journald is unreachable or a file cannot
//! be opened, the stream keeps what the unit gave it, and a warning says why.

use super::file_format::{JsonFields, LineBuffer, LineFormat, Stream};
use super::stream;
use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
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
    /// `SYSLOG_IDENTIFIER` of the journal streams, and the `app_name` of JSON lines;
    /// derived when not given.
    pub identifier: Option<String>,
    /// `log_date_format`: each line written to a file starts with the time in this format.
    pub date_format: Option<String>,
    /// `log_type = "json"`: each line written to a file is one of PM2's JSON objects.
    pub json: bool,
    /// The `process_id` of JSON lines.
    pub process_id: u32,
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
    let format = line_format(options, &identifier);
    let formatted = if format.is_raw() {
        Formatted::default()
    } else {
        start_formatting(&format, &stdout_sink, &stderr_sink)
    };
    if !formatted.stdout {
        redirect(1, &stdout_sink, socket, &identifier);
    }
    if !formatted.stderr {
        redirect(2, &stderr_sink, socket, &identifier);
    }

    let error = Command::new(program).args(args).exec();
    anyhow::anyhow!(
        "exec-wrap: cannot run {}: {error}",
        Path::new(program).display()
    )
}

/// The shape of the files' lines `options` ask for.
fn line_format(options: &WrapOptions, app_name: &str) -> LineFormat {
    LineFormat {
        date_format: options.date_format.clone(),
        json: options.json.then(|| JsonFields {
            app_name: app_name.to_string(),
            process_id: options.process_id,
        }),
    }
}

/// Which of stdout and stderr `start_formatting` took care of (pointed at its pipe, or left
/// as they were after saying why).
#[derive(Debug, Default)]
struct Formatted {
    stdout: bool,
    stderr: bool,
}

/// One stream whose lines the copying process formats.
struct Pump {
    target_fd: i32,
    stream: Stream,
    file: File,
}

/// The file `sink` sends stream `target_fd` to, if any (`SameAsStdout` is stdout's file).
fn file_of<'a>(sink: &'a Sink, stdout: &'a Sink) -> Option<&'a Path> {
    match (sink, stdout) {
        (Sink::File(path), _) | (Sink::SameAsStdout, Sink::File(path)) => Some(path),
        _ => None,
    }
}

/// Starts the copying process for the streams that go to files, and points those streams
/// at its pipes. When it cannot be started, the files get the app's lines unformatted.
fn start_formatting(format: &LineFormat, stdout: &Sink, stderr: &Sink) -> Formatted {
    let mut done = Formatted::default();
    let mut pumps = Vec::new();
    let mut opened: Vec<(PathBuf, File)> = Vec::new();
    for (target_fd, sink, stream) in [(1, stdout, Stream::Out), (2, stderr, Stream::Err)] {
        let Some(path) = file_of(sink, stdout) else {
            continue;
        };
        // One file for both streams (`log_file`) is opened once.
        let file = match opened.iter().find(|(p, _)| p == path) {
            Some((_, file)) => file.try_clone(),
            None => open_log_file(path),
        };
        match file {
            Ok(file) => {
                if let Ok(copy) = file.try_clone() {
                    opened.push((path.to_path_buf(), copy));
                }
                pumps.push(Pump {
                    target_fd,
                    stream,
                    file,
                });
            }
            Err(e) => {
                let what = if target_fd == 1 { "stdout" } else { "stderr" };
                eprintln!(
                    "pm2ctl exec-wrap: {what} keeps its original destination: {}: {e}",
                    path.display()
                );
            }
        }
        match target_fd {
            1 => done.stdout = true,
            _ => done.stderr = true,
        }
    }
    if pumps.is_empty() {
        return done;
    }
    let writers = match spawn_formatter(format, &pumps) {
        Ok(writers) => writers,
        Err(e) => {
            eprintln!(
                "pm2ctl exec-wrap: the log files get the app's lines unformatted: cannot start \
                 the process that formats them: {e}"
            );
            pumps
                .into_iter()
                .map(|p| (p.target_fd, p.file.into()))
                .collect()
        }
    };
    for (target_fd, fd) in writers {
        if let Err(e) = dup_onto(fd.as_fd(), target_fd) {
            let what = if target_fd == 1 { "stdout" } else { "stderr" };
            eprintln!("pm2ctl exec-wrap: {what} keeps its original destination: {e}");
        }
    }
    done
}

/// The hidden first argument that runs pm2ctl as the copying process (handled before the
/// command line is parsed, as `generate`'s).
pub const COPY_VERB: &str = "__copy-logs";

/// Where the copying process finds its streams: the pipe of stdout at fd 3 and its file at
/// fd 4; the pipe of stderr at fd 5 and its file at fd 6.
const OUT_FDS: (i32, i32) = (3, 4);
const ERR_FDS: (i32, i32) = (5, 6);

/// What the copying process is told (after [`COPY_VERB`]).
#[derive(clap::Parser, Debug)]
#[command(no_binary_name = true)]
struct CopyArgs {
    /// Start the copier as a child of this process, then exit: it is re-parented to the
    /// unit's manager, so it is not the app's child.
    #[arg(long)]
    detach: bool,
    /// stdout's pipe and file are at fds 3 and 4.
    #[arg(long)]
    out: bool,
    /// stderr's pipe and file are at fds 5 and 6.
    #[arg(long)]
    err: bool,
    #[arg(long)]
    date_format: Option<String>,
    #[arg(long)]
    json: bool,
    #[arg(long, default_value_t = 0)]
    process_id: u32,
    #[arg(long, default_value = "")]
    app_name: String,
}

/// Starts the copying process (through a short-lived middle process, so that it is not the
/// app's child) with one pipe per stream; returns the pipes' write ends, for the app.
fn spawn_formatter(format: &LineFormat, pumps: &[Pump]) -> std::io::Result<Vec<(i32, OwnedFd)>> {
    use command_fds::{CommandFdExt, FdMapping};
    let mut command = Command::new("/proc/self/exe");
    command.arg0("pm2ctl").args([COPY_VERB, "--detach"]);
    if let Some(date_format) = &format.date_format {
        command.args(["--date-format", date_format]);
    }
    if let Some(fields) = &format.json {
        command.args(["--json", "--app-name", &fields.app_name]);
        command.args(["--process-id", &fields.process_id.to_string()]);
    }
    let mut mappings = Vec::new();
    let mut writers = Vec::new();
    for pump in pumps {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        let (flag, (pipe_fd, file_fd)) = match pump.stream {
            Stream::Out => ("--out", OUT_FDS),
            Stream::Err => ("--err", ERR_FDS),
        };
        command.arg(flag);
        mappings.push(FdMapping {
            parent_fd: read,
            child_fd: pipe_fd,
        });
        mappings.push(FdMapping {
            parent_fd: pump.file.try_clone()?.into(),
            child_fd: file_fd,
        });
        writers.push((pump.target_fd, write));
    }
    command
        .fd_mappings(mappings)
        .map_err(|_| std::io::Error::other("two streams for one descriptor"))?;
    command.stdin(std::process::Stdio::null());
    let status = command.status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!(
            "it ended at once ({status})"
        )));
    }
    Ok(writers)
}

/// `pm2ctl __copy-logs …`: the copying process (or, with `--detach`, the middle process
/// that starts it). `args` follow the verb.
pub fn copy_main(args: Vec<OsString>) -> std::process::ExitCode {
    use clap::Parser;
    let Ok(parsed) = CopyArgs::try_parse_from(&args) else {
        eprintln!("pm2ctl: {COPY_VERB} is pm2ctl's own: run by exec-wrap, not by hand");
        return std::process::ExitCode::from(2);
    };
    if parsed.detach {
        // The descriptors 3 to 6 are inherited as they are (command-fds cleared their
        // close-on-exec flag); the middle process ends at once.
        let rest = args.iter().filter(|a| a.as_os_str() != "--detach");
        let started = Command::new("/proc/self/exe")
            .arg0("pm2ctl")
            .arg(COPY_VERB)
            .args(rest)
            .stdin(std::process::Stdio::null())
            .spawn();
        return match started {
            Ok(_) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pm2ctl: cannot start the process that formats the log files: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let format = LineFormat {
        date_format: parsed.date_format,
        json: parsed.json.then_some(JsonFields {
            app_name: parsed.app_name,
            process_id: parsed.process_id,
        }),
    };
    let mut inputs = Vec::new();
    for (wanted, stream, (pipe_fd, file_fd)) in [
        (parsed.out, Stream::Out, OUT_FDS),
        (parsed.err, Stream::Err, ERR_FDS),
    ] {
        if !wanted {
            continue;
        }
        // The inherited descriptors, reopened through /proc: the same pipe and the same
        // file (appended to), as owned handles.
        let read = File::open(format!("/proc/self/fd/{pipe_fd}"));
        let file = OpenOptions::new()
            .append(true)
            .open(format!("/proc/self/fd/{file_fd}"));
        match (read, file) {
            (Ok(read), Ok(file)) => inputs.push((
                read,
                Pump {
                    target_fd: pipe_fd,
                    stream,
                    file,
                },
            )),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("pm2ctl: cannot take over the log stream at fd {pipe_fd}: {e}")
            }
        }
    }
    copy_formatted(&format, inputs);
    std::process::ExitCode::SUCCESS
}

/// The copying process: reads each pipe until every writer is gone, writing each line to
/// its file in `format`. A line waiting for its newline is written when its stream has been
/// quiet for a moment, as PM2 writes whatever its pipe handed over.
fn copy_formatted(format: &LineFormat, inputs: Vec<(File, Pump)>) {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    // The unit's stop signal reaches every process of the unit: this one outlives the app by
    // the time it takes to write the app's last lines, then ends at end of file.
    let mut ignored = SigSet::empty();
    for signal in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
        Signal::SIGPIPE,
    ] {
        ignored.add(signal);
    }
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&ignored), None);
    close_other_fds(&inputs);

    let mut open: Vec<(File, Pump, LineBuffer)> = inputs
        .into_iter()
        .map(|(read, pump)| (read, pump, LineBuffer::default()))
        .collect();
    let mut chunk = vec![0u8; 64 * 1024];
    while !open.is_empty() {
        let waiting = open.iter().any(|(_, _, b)| b.has_partial());
        let timeout = if waiting {
            PollTimeout::from(1000u16)
        } else {
            PollTimeout::NONE
        };
        let mut fds: Vec<PollFd<'_>> = open
            .iter()
            .map(|(read, _, _)| PollFd::new(read.as_fd(), PollFlags::POLLIN))
            .collect();
        let ready = match poll(&mut fds, timeout) {
            Ok(n) => n,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => break,
        };
        let readable: Vec<bool> = fds
            .iter()
            .map(|fd| fd.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let now = chrono::Utc::now();
        let mut ended = Vec::new();
        for (i, (read, pump, buffer)) in open.iter_mut().enumerate() {
            let lines = if ready == 0 {
                buffer.take_partial().into_iter().collect()
            } else if readable[i] {
                match read.read(&mut chunk) {
                    Ok(0) | Err(_) => {
                        ended.push(i);
                        buffer.take_partial().into_iter().collect()
                    }
                    Ok(n) => buffer.push(&chunk[..n]),
                }
            } else {
                continue;
            };
            let out: Vec<u8> = lines
                .iter()
                .flat_map(|line| format.format(now, pump.stream, line))
                .collect();
            if !out.is_empty() {
                // A full disk loses lines, as it would for the app writing them itself.
                let _ = pump.file.write_all(&out);
            }
        }
        for i in ended.into_iter().rev() {
            open.remove(i);
        }
    }
}

/// Closes every descriptor the copying process inherited but does not use (the sockets
/// systemd passed the app, among others), so it holds nothing open on the app's behalf.
fn close_other_fds(inputs: &[(File, Pump)]) {
    let keep: Vec<i32> = inputs
        .iter()
        .flat_map(|(read, pump)| [read.as_raw_fd(), pump.file.as_raw_fd()])
        .collect();
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2 && !keep.contains(fd))
        .collect();
    for fd in fds {
        // The directory's own descriptor is among them; closing it after reading is fine.
        let _ = nix::unistd::close(fd);
    }
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
