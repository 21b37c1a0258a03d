//! `pm2ctl deploy`: PM2's git-and-ssh deploys from an ecosystem file's `[deploy.ENV]`.
//!
//! Each verb is a sequence of named steps; each step is one remote shell script (see
//! [`script`]) run over the system `ssh` (see `crate::host::ssh`), as pm2-deploy runs one `ssh` per
//! step. Hosts are deployed in parallel, one thread each; with several hosts every output line
//! is prefixed with its host. The first failing step stops that host (the others carry on) and
//! is reported with its name, host and exit status.
//!
//! `localhost` as a host runs the steps here without ssh, as pm2-deploy does.
//!
//! As pm2-deploy: `update` and `ref` first refuse to deploy from a local checkout with
//! uncommitted or unpushed changes (unless forced, see [`local`]), and after `post-deploy` the
//! target's `test` hook runs; when it fails, the previous release is checked out again.

pub mod local;
pub mod script;

use crate::ecosystem::model::Deploy;
use crate::host::ssh::{self, Destination};
use anyhow::Result;
use script::Layout;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};

/// What `deploy ENV …` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Create the layout, clone the repository, link `current`.
    Setup,
    /// Fetch and check out `ref`, record the release (the default, as `pm2 deploy ENV`).
    Update,
    /// `ref REF [BRANCH]`: as `update`, for the given ref instead of the target's, checked
    /// out as BRANCH (by default the ref without its remote: `origin/v2` as `v2`).
    Ref {
        git_ref: String,
        branch: Option<String>,
    },
    /// Go back `n` releases (1: the one before the current).
    Revert(u32),
    /// Print the commit checked out now.
    Curr,
    /// Print the release before the current one.
    Prev,
    /// Print the recorded releases, newest first.
    List,
    /// Run a command in `current`.
    Exec(String),
}

impl Verb {
    /// Verbs that change hosts announce each step; the ones that print answers stay quiet.
    fn announces_steps(&self) -> bool {
        matches!(
            self,
            Verb::Setup | Verb::Update | Verb::Ref { .. } | Verb::Revert(_)
        )
    }

    /// Verbs that check a new commit out (and run the deploy hooks).
    fn deploys(&self) -> bool {
        matches!(self, Verb::Update | Verb::Ref { .. } | Verb::Revert(_))
    }
}

/// How `deploy` runs, beyond the verb.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `--force`: deploy even from a local checkout with uncommitted or unpushed changes.
    pub force: bool,
    /// `--no-tests` clears it: the target's `test` hook is not run.
    pub tests: bool,
    /// Where the local checkout is checked for changes: the ecosystem file's directory.
    pub local_dir: PathBuf,
}

/// A step that failed, on which host, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepFailure {
    /// The host as written in the file (`local` for `pre-deploy-local`).
    pub host: String,
    pub step: String,
    pub detail: String,
}

impl fmt::Display for StepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: step `{}` failed: {}",
            self.host, self.step, self.detail
        )
    }
}

/// Runs `verb` on every host of `deploy` (in parallel) and returns the failures, one per
/// failed host at most. `pre-deploy-local` runs once, here, before any host is contacted;
/// before it, for `update` and `ref`, the local checkout is checked for changes not pushed.
pub fn run(deploy: &Deploy, verb: &Verb, options: &Options) -> Result<Vec<StepFailure>> {
    let layout = Layout::new(deploy)?;
    if matches!(verb, Verb::Update | Verb::Ref { .. }) && !options.force {
        if let Some(refusal) = local::unpublished_changes(&options.local_dir)? {
            return Ok(vec![StepFailure {
                host: "local".into(),
                step: "check local changes".into(),
                detail: format!("{refusal} (--force deploys anyway)"),
            }]);
        }
    }
    if verb.deploys() {
        if let Some(command) = &deploy.pre_deploy_local {
            let local = HostRun::local("local", None);
            local.announce("pre-deploy-local", command);
            if let Err(failure) = local.step("pre-deploy-local", command, None) {
                return Ok(vec![failure]);
            }
        }
    }
    let several = deploy.hosts.len() > 1;
    let failures = std::thread::scope(|scope| {
        let handles: Vec<_> = deploy
            .hosts
            .iter()
            .map(|host| {
                let layout = &layout;
                scope.spawn(move || {
                    let prefix = several.then(|| format!("{host} | "));
                    let mut run = HostRun::new(deploy, host, prefix);
                    run.announce = verb.announces_steps();
                    run_on_host(&run, deploy, layout, verb, options.tests).err()
                })
            })
            .collect();
        handles
            .into_iter()
            .zip(&deploy.hosts)
            .filter_map(|(handle, host)| match handle.join() {
                Ok(outcome) => outcome,
                Err(_) => Some(StepFailure {
                    host: host.clone(),
                    step: "(internal)".into(),
                    detail: "the deploy thread panicked".into(),
                }),
            })
            .collect()
    });
    Ok(failures)
}

fn run_on_host(
    run: &HostRun,
    deploy: &Deploy,
    layout: &Layout,
    verb: &Verb,
    tests: bool,
) -> Result<(), StepFailure> {
    let quoting = |e: anyhow::Error| run.failure("(prepare)", format!("{e:#}"));
    match verb {
        Verb::Setup => {
            if let Some(command) = &deploy.pre_setup {
                run.announce("pre-setup", command);
                // As pm2-deploy: a local script file is sent to the host's bash on stdin.
                let first = command.split_whitespace().next().unwrap_or_default();
                let local_script = PathBuf::from(first);
                if !first.is_empty() && local_script.is_file() {
                    run.step("pre-setup", "bash -s", Some(local_script))?;
                } else {
                    run.step("pre-setup", &script::pre_setup(command), None)?;
                }
            }
            run.announce("setup paths", "");
            run.step("setup paths", &script::make_dirs(layout), None)?;
            run.announce("clone", &deploy.repo);
            let clone = script::clone(layout, deploy).map_err(quoting)?;
            run.step("clone", &clone, None)?;
            run.step("symlink", &script::link_current(layout), None)?;
            run_hook(run, layout, "post-setup", deploy.post_setup.as_deref())?;
            run.announce("setup complete", "");
        }
        Verb::Update | Verb::Ref { .. } | Verb::Revert(_) => {
            let target = match verb {
                // A revert goes back to a recorded release, found before anything changes.
                Verb::Revert(n) => {
                    let found = run.capture(
                        "find release",
                        &script::nth_release(layout, n.saturating_add(1)),
                    )?;
                    Checkout::Commit(found.trim().to_string())
                }
                Verb::Ref { git_ref, branch } => Checkout::Ref {
                    git_ref: git_ref.clone(),
                    branch: branch
                        .clone()
                        .unwrap_or_else(|| script::branch_of(git_ref).to_string()),
                },
                _ => Checkout::Ref {
                    git_ref: deploy.git_ref.clone(),
                    branch: script::branch_of(&deploy.git_ref).to_string(),
                },
            };
            deploy_release(run, deploy, layout, &target)?;
            if tests {
                test_or_revert(run, deploy, layout)?;
            }
            let now = run.capture("current", &script::current_commit(layout))?;
            run.announce("deployed", now.trim());
        }
        Verb::Curr => run.step("curr", &script::current_commit(layout), None)?,
        Verb::Prev => run.step("prev", &script::nth_release(layout, 2), None)?,
        Verb::List => run.step("list", &script::list_releases(layout), None)?,
        Verb::Exec(command) => run.step("exec", &script::exec(layout, command), None)?,
    }
    Ok(())
}

/// What a deploy checks out.
enum Checkout {
    /// A ref, as a branch of this name.
    Ref { git_ref: String, branch: String },
    /// A recorded release (detached: the branch keeps following the remote).
    Commit(String),
}

/// pm2-deploy's deploy: `pre-deploy`, fetch, checkout, the `current` link, the release
/// record, `post-deploy`.
fn deploy_release(
    run: &HostRun,
    deploy: &Deploy,
    layout: &Layout,
    target: &Checkout,
) -> Result<(), StepFailure> {
    let quoting = |e: anyhow::Error| run.failure("(prepare)", format!("{e:#}"));
    run_hook(run, layout, "pre-deploy", deploy.pre_deploy.as_deref())?;
    run.announce("fetch", "");
    run.step("fetch", &script::fetch(layout), None)?;
    let checkout = match target {
        Checkout::Commit(c) => {
            run.announce("checkout", c);
            script::checkout_commit(layout, c)
        }
        Checkout::Ref { git_ref, branch } => {
            run.announce("checkout", git_ref);
            script::checkout_ref(layout, git_ref, branch)
        }
    }
    .map_err(quoting)?;
    run.step("checkout", &checkout, None)?;
    run.step("symlink", &script::link_current(layout), None)?;
    run.step("record release", &script::record_release(layout), None)?;
    run_hook(run, layout, "post-deploy", deploy.post_deploy.as_deref())
}

/// The `test` hook; when it fails, the release before goes back in place (without testing
/// it again, as pm2-deploy's quick revert) and the failure names what is checked out now.
fn test_or_revert(run: &HostRun, deploy: &Deploy, layout: &Layout) -> Result<(), StepFailure> {
    let Err(failed) = run_hook(run, layout, "test", deploy.test.as_deref()) else {
        return Ok(());
    };
    run.announce("tests failed", "reverting to the previous release");
    let previous = match run.capture("find release", &script::nth_release(layout, 2)) {
        Ok(found) => found.trim().to_string(),
        Err(_) => {
            return Err(run.failure(
                "test",
                format!(
                    "{}; there is no earlier release to go back to, the tested one stays",
                    failed.detail
                ),
            ))
        }
    };
    match deploy_release(run, deploy, layout, &Checkout::Commit(previous.clone())) {
        Ok(()) => Err(run.failure(
            "test",
            format!(
                "{}; reverted to the previous release {previous}",
                failed.detail
            ),
        )),
        Err(revert) => Err(run.failure(
            "test",
            format!(
                "{}; reverting to {previous} failed too, at step `{}`: {}",
                failed.detail, revert.step, revert.detail
            ),
        )),
    }
}

fn run_hook(
    run: &HostRun,
    layout: &Layout,
    name: &str,
    command: Option<&str>,
) -> Result<(), StepFailure> {
    match command {
        Some(command) if !command.trim().is_empty() => {
            run.announce(name, command);
            run.step(name, &script::hook(layout, command), None)
        }
        _ => Ok(()),
    }
}

/// Runs steps on one host: over ssh, or here for `localhost`.
struct HostRun {
    /// The host as written in the file, for messages.
    name: String,
    /// `None`: run locally.
    destination: Option<Destination>,
    prefix: Option<String>,
    announce: bool,
}

impl HostRun {
    fn new(deploy: &Deploy, host: &str, prefix: Option<String>) -> HostRun {
        if host == "localhost" {
            return HostRun::local(host, prefix);
        }
        let mut destination = Destination::new(deploy.user.as_deref(), host);
        destination.options = deploy.ssh_options.clone();
        destination.identity = deploy.key.as_ref().map(PathBuf::from);
        HostRun {
            name: host.to_string(),
            destination: Some(destination),
            prefix,
            announce: true,
        }
    }

    fn local(name: &str, prefix: Option<String>) -> HostRun {
        HostRun {
            name: name.to_string(),
            destination: None,
            prefix,
            announce: true,
        }
    }

    fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or("")
    }

    fn failure(&self, step: &str, detail: String) -> StepFailure {
        StepFailure {
            host: self.name.clone(),
            step: step.to_string(),
            detail,
        }
    }

    fn announce(&self, step: &str, what: &str) {
        if self.announce {
            if what.is_empty() {
                eprintln!("{}○ {step}", self.prefix());
            } else {
                eprintln!("{}○ {step}: {what}", self.prefix());
            }
        }
    }

    /// `bash -c SCRIPT` on the host (the script as one quoted word of the remote command).
    fn command(&self, script: &str) -> anyhow::Result<Command> {
        match &self.destination {
            None => {
                let mut cmd = Command::new("bash");
                cmd.arg("-c").arg(script);
                Ok(cmd)
            }
            Some(d) if script == "bash -s" => d.command(script),
            Some(d) => d.command(&format!("bash -c {}", ssh::quote(script)?)),
        }
    }

    fn spawn(
        &self,
        step: &str,
        script: &str,
        stdin: Option<PathBuf>,
    ) -> Result<std::process::Child, StepFailure> {
        let mut cmd = self
            .command(script)
            .map_err(|e| self.failure(step, format!("{e:#}")))?;
        let stdin = match stdin {
            Some(path) => std::fs::File::open(&path)
                .map(Stdio::from)
                .map_err(|e| self.failure(step, format!("cannot read {}: {e}", path.display())))?,
            None => Stdio::null(),
        };
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.spawn().map_err(|e| {
            let program = cmd.get_program().to_string_lossy().into_owned();
            self.failure(step, format!("cannot run {program}: {e}"))
        })
    }

    /// Runs one step, its output forwarded line by line (prefixed with the host when there
    /// are several).
    fn step(&self, step: &str, script: &str, stdin: Option<PathBuf>) -> Result<(), StepFailure> {
        let mut child = self.spawn(step, script, stdin)?;
        let out = child.stdout.take();
        let err = child.stderr.take();
        std::thread::scope(|s| {
            if let Some(out) = out {
                s.spawn(|| forward(out, self.prefix(), std::io::stdout()));
            }
            if let Some(err) = err {
                s.spawn(|| forward(err, self.prefix(), std::io::stderr()));
            }
        });
        self.finish(step, child.wait())
    }

    /// Runs one step and returns its standard output (its errors are forwarded).
    fn capture(&self, step: &str, script: &str) -> Result<String, StepFailure> {
        let mut child = self.spawn(step, script, None)?;
        let out = child.stdout.take();
        let err = child.stderr.take();
        let mut captured = Vec::new();
        std::thread::scope(|s| {
            if let Some(err) = err {
                s.spawn(|| forward(err, self.prefix(), std::io::stderr()));
            }
            if let Some(mut out) = out {
                // A read error shows up as the step's own failure (or a short answer).
                let _ = out.read_to_end(&mut captured);
            }
        });
        self.finish(step, child.wait())?;
        Ok(String::from_utf8_lossy(&captured).into_owned())
    }

    fn finish(&self, step: &str, status: std::io::Result<ExitStatus>) -> Result<(), StepFailure> {
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(self.failure(step, describe_status(s, self.destination.is_some()))),
            Err(e) => Err(self.failure(step, format!("cannot wait for it: {e}"))),
        }
    }
}

fn describe_status(status: ExitStatus, over_ssh: bool) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(255), _) if over_ssh => {
            "exit status 255 (ssh could not connect or log in, or the command exited 255)".into()
        }
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by {}", crate::systemd::signal_name(signal)),
        (None, None) => "ended abnormally".into(),
    }
}

/// Copies `from` to `to` line by line, each line prefixed; a line is written at once, so
/// lines of parallel hosts never interleave mid-line.
fn forward(from: impl Read, prefix: &str, mut to: impl Write) {
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if !line.ends_with(b"\n") {
                    line.push(b'\n');
                }
                let mut whole = Vec::with_capacity(prefix.len() + line.len());
                whole.extend_from_slice(prefix.as_bytes());
                whole.extend_from_slice(&line);
                // The reader goes away only if our own stdout did: nothing left to tell.
                let _ = to.write_all(&whole);
            }
        }
    }
    let _ = to.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_lines_carry_the_prefix() {
        let mut out = Vec::new();
        forward(&b"one\ntwo"[..], "web1 | ", &mut out);
        assert_eq!(String::from_utf8(out).unwrap(), "web1 | one\nweb1 | two\n");
    }

    #[test]
    fn failures_name_host_and_step() {
        let f = StepFailure {
            host: "web1".into(),
            step: "post-deploy".into(),
            detail: "exit status 3".into(),
        };
        assert_eq!(
            f.to_string(),
            "web1: step `post-deploy` failed: exit status 3"
        );
    }
}
