//! A real systemd for one test: boots `tests/sandbox/pm2ctl-sandbox`, runs commands inside it, and
//! powers it off when dropped.
//!
//! One sandbox per test: nextest runs every test in its own process, a boot takes about a second,
//! and a test then starts from a clean systemd whatever the tests before it left behind (see
//! docs/testing.md). Sandboxes need root; a test that needs one and runs without root fails and says how
//! to run it, rather than passing without having checked anything.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The Debian release whose systemd the sandboxes boot (`PM2CTL_TEST_SYSTEMD`), or `host`.
pub fn release() -> String {
    std::env::var("PM2CTL_TEST_SYSTEMD")
        .ok()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// The launcher, one implementation shared by the tests, the README and developers.
pub const LAUNCHER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sandbox/pm2ctl-sandbox");

/// The pm2ctl binary cargo built for these tests.
pub const PM2CTL: &str = env!("CARGO_BIN_EXE_pm2ctl");

/// `word` as one word of a shell command line (single-quoted where needed): the build tree,
/// and so the binary and the tests' files, may be anywhere, a path with spaces included.
pub fn sh(word: impl std::fmt::Display) -> String {
    pm2ctl::host::ssh::quote(&word.to_string())
        .expect("a word without NUL")
        .into_owned()
}

/// The repository's fixture directory. The sandbox shares the host's root filesystem, or with a
/// Debian release's root (`PM2CTL_TEST_SYSTEMD`) has the build tree bound in at the same path,
/// so fixtures here are visible inside (its /tmp is its own).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture app's path, as ecosystem files and command lines spell it.
pub fn fixture(name: &str) -> String {
    fixtures_dir().join(name).display().to_string()
}

/// A fresh directory for one test's files, `<cargo's test tmpdir>/<area>/<test>-<pid>`: in the
/// build tree, which the sandbox shares (its /tmp is its own).
pub fn workdir(area: &str, test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(area)
        .join(format!("{test}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test's directory");
    dir
}

/// Where the launcher keeps per-sandbox directories: the build tree, next to the binary under
/// test, never the host's /tmp.
pub fn sandbox_root() -> PathBuf {
    let exe = Path::new(PM2CTL);
    // target/<profile>/pm2ctl -> target/sandbox
    match exe.parent().and_then(Path::parent) {
        Some(target) => target.join("sandbox"),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("target/sandbox"),
    }
}

/// Says why the calling test does not apply to the release it runs against; the test then
/// returns. tests/matrix shows the reason in its table.
pub fn skip(reason: &str) {
    println!("pm2ctl-test-skipped: {reason}");
}

/// Fails the calling test unless it runs as root, with the command that runs it properly.
pub fn require_root() {
    if !nix::unistd::geteuid().is_root() {
        panic!(
            "this test boots systemd in Linux namespaces and needs root: run the tests as root, \
             e.g. `sudo env \"PATH=$PATH\" cargo nextest run` (or `sudo .ci/run`)"
        );
    }
}

/// A running sandbox. Dropping it powers systemd off and removes every trace on the host.
pub struct Sandbox {
    id: String,
    pid: u32,
    dir: PathBuf,
}

impl Sandbox {
    /// Boots a sandbox with its own, empty, pm2ctl state and config directories.
    pub fn boot() -> Sandbox {
        Sandbox::boot_with(&[])
    }

    /// Boots a sandbox whose pm2ctl state directory is `state` (kept after it stops), for tests
    /// that check what survives a reboot.
    pub fn boot_with_state(state: &Path) -> Sandbox {
        Sandbox::boot_with(&[OsStr::new("--state"), state.as_os_str()])
    }

    fn boot_with(extra: &[&OsStr]) -> Sandbox {
        require_root();
        let owner = std::process::id().to_string();
        let out = launcher()
            .args(["boot", "--owner", &owner])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {LAUNCHER}: {e}"));
        if !out.status.success() {
            panic!(
                "sandbox boot failed ({}):\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let dir = sandbox_root().join(&id);
        let pid_text = std::fs::read_to_string(dir.join("systemd.pid")).unwrap_or_else(|e| {
            panic!("sandbox {id} has no systemd.pid in {}: {e}", dir.display())
        });
        let pid = pid_text
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("sandbox {id}: bad systemd.pid {pid_text:?}: {e}"));
        Sandbox { id, pid, dir }
    }

    /// The sandbox's id, as the launcher knows it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The systemd version PID 1 inside runs (`systemctl --version`'s first number).
    pub fn systemd_version(&self) -> u32 {
        let out = self.systemctl(&["--version"]);
        assert_success("systemctl --version", &out);
        let text = stdout(&out);
        text.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("cannot read a version in {text:?}"))
    }

    /// Whether a memory limit is enforced in this sandbox. systemd 256 and newer run on a
    /// cgroup v2 tree rooted at the sandbox's own cgroup, which has no controllers when the
    /// host keeps them all on cgroup v1 (as this project's CI machines do).
    pub fn memory_enforced(&self) -> bool {
        let root = PathBuf::from(format!("/proc/{}/root/sys/fs/cgroup", self.pid));
        match std::fs::read_to_string(root.join("cgroup.controllers")) {
            Ok(controllers) => controllers.split_whitespace().any(|c| c == "memory"),
            Err(_) => root.join("memory").is_dir(),
        }
    }

    /// The reason a test that needs an enforced memory limit gives when it skips.
    pub const NO_MEMORY_CONTROLLER: &'static str =
        "no memory controller: cgroup v2 of a host whose controllers are on v1";

    /// The host PID of the sandbox's systemd (PID 1 inside).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The sandbox's directory on the host (removed when it stops).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// pm2ctl's state directory in this sandbox (`PM2CTL_STATE_DIR` inside).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.join("state")
    }

    /// pm2ctl's config directory in this sandbox (`PM2CTL_CONFIG_DIR` inside).
    pub fn config_dir(&self) -> PathBuf {
        self.dir.join("config")
    }

    /// The address of the sandbox's system bus, reachable from the host.
    pub fn system_bus_address(&self) -> String {
        format!(
            "unix:path=/proc/{}/root/run/dbus/system_bus_socket",
            self.pid
        )
    }

    /// Runs `argv` inside the sandbox and returns what it printed and its exit status.
    pub fn exec<S: AsRef<OsStr>>(&self, argv: &[S]) -> Output {
        self.exec_with_env(&[], argv)
    }

    /// Runs `argv` inside the sandbox with extra environment variables (the rest of the
    /// environment is the launcher's clean one).
    pub fn exec_with_env<S: AsRef<OsStr>>(&self, env: &[(&str, &str)], argv: &[S]) -> Output {
        exec_in(&self.id, env, argv)
    }

    /// Runs the pm2ctl under test inside the sandbox.
    pub fn pm2ctl<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.exec(&prepend(PM2CTL, args))
    }

    /// Runs `systemctl` inside the sandbox.
    pub fn systemctl<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.exec(&prepend("systemctl", args))
    }

    /// Runs `journalctl --no-pager` inside the sandbox.
    pub fn journalctl<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut argv = prepend("journalctl", &["--no-pager"]);
        argv.extend(args.iter().map(|a| a.as_ref().to_owned()));
        self.exec(&argv)
    }

    /// Fetches `url` with curl inside the sandbox (its network has only `lo`), failing on HTTP
    /// errors and giving up after 10 seconds.
    pub fn curl(&self, url: &str) -> Output {
        self.exec(&[
            "curl",
            "--silent",
            "--show-error",
            "--fail",
            "--max-time",
            "10",
            url,
        ])
    }

    /// `systemctl is-active UNIT`, trimmed: "active", "inactive", "failed", ...
    pub fn unit_state(&self, unit: &str) -> String {
        stdout(&self.systemctl(&["is-active", unit]))
            .trim()
            .to_owned()
    }

    /// Waits up to `timeout` for `check` to hold, polling; panics naming `what` if it never does.
    pub fn wait_for(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !check() {
            if Instant::now() >= deadline {
                panic!(
                    "sandbox {}: timed out after {timeout:?} waiting for {what}",
                    self.id
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let stopped = launcher()
            .args(["stop", &self.id])
            .stdin(Stdio::null())
            .output();
        let failure = match stopped {
            Ok(out) if out.status.success() => return,
            Ok(out) => format!("{}: {}", out.status, String::from_utf8_lossy(&out.stderr)),
            Err(e) => e.to_string(),
        };
        // A panic while already unwinding would abort and hide the test's own failure.
        if thread::panicking() {
            eprintln!("sandbox {}: stop failed: {failure}", self.id);
        } else {
            panic!("sandbox {}: stop failed: {failure}", self.id);
        }
    }
}

/// `Sandbox::exec_with_env` by sandbox id, for a thread that runs a long command (a load
/// client) while the test goes on with the `Sandbox`.
pub fn exec_in<S: AsRef<OsStr>>(id: &str, env: &[(&str, &str)], argv: &[S]) -> Output {
    let mut cmd = launcher();
    cmd.arg("exec");
    for (name, value) in env {
        cmd.arg("--env").arg(name).env(name, value);
    }
    cmd.arg(id).arg("--").args(argv).stdin(Stdio::null());
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {LAUNCHER} exec: {e}"))
}

fn launcher() -> Command {
    let mut cmd = Command::new(LAUNCHER);
    cmd.env("PM2CTL_SANDBOX_ROOT", sandbox_root());
    cmd
}

fn prepend<S: AsRef<OsStr>>(first: &str, rest: &[S]) -> Vec<std::ffi::OsString> {
    std::iter::once(OsStr::new(first).to_owned())
        .chain(rest.iter().map(|a| a.as_ref().to_owned()))
        .collect()
}

/// A command's stdout as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `systemctl show -P PROPERTY UNIT` in the sandbox, trimmed.
pub fn show(sb: &Sandbox, unit: &str, property: &str) -> String {
    stdout(&sb.systemctl(&["show", "-P", property, unit]))
        .trim()
        .to_owned()
}

/// A unit's `MainPID` (0 when it has none or cannot be read).
pub fn main_pid(sb: &Sandbox, unit: &str) -> u32 {
    show(sb, unit, "MainPID").parse().unwrap_or(0)
}

/// `/proc/PID/FILE` inside the sandbox, split at NULs.
pub fn proc_list(sb: &Sandbox, pid: u32, file: &str) -> Vec<String> {
    let out = sb.exec(&["cat", &format!("/proc/{pid}/{file}")]);
    assert_success("cat /proc", &out);
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Asserts that a command succeeded, showing everything it printed when it did not.
#[track_caller]
pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
