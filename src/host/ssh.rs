//! Running commands on other machines through the system `ssh` binary.
//!
//! pm2ctl never speaks the SSH protocol itself: the user's `ssh` already knows their
//! `~/.ssh/config` (aliases, ports, jump hosts, `ControlMaster`), their agent and keys, and
//! their `known_hosts`; a library would have to re-implement each of those, and get host-key
//! checking subtly different. `deploy` and `-H` both build their commands here.
//!
//! `PM2CTL_SSH` replaces the `ssh` program (split as a shell would, so `ssh -F ./config`
//! works), as `GIT_SSH_COMMAND` does for git.

use anyhow::{anyhow, Result};
use std::borrow::Cow;
use std::path::PathBuf;
use std::process::Command;

/// The environment variable naming the ssh program (and options) to run.
pub const SSH_VAR: &str = "PM2CTL_SSH";

/// Where and how to reach one machine.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Destination {
    /// `host` or `user@host`, as `ssh` takes it (an alias from ssh's config works).
    pub target: String,
    /// Each becomes `-o OPTION` (PM2's `ssh_options`).
    pub options: Vec<String>,
    /// `-i KEY` (PM2's `key`), `~/` expanded.
    pub identity: Option<PathBuf>,
}

impl Destination {
    /// `[user@]host` for a user (or none) and a host.
    pub fn new(user: Option<&str>, host: &str) -> Destination {
        let target = match user {
            Some(user) if !host.contains('@') => format!("{user}@{host}"),
            _ => host.to_string(),
        };
        Destination {
            target,
            ..Destination::default()
        }
    }

    /// The host part, without the user.
    pub fn host(&self) -> &str {
        self.target
            .rsplit_once('@')
            .map_or(self.target.as_str(), |(_, h)| h)
    }

    /// `ssh … -T -- TARGET REMOTE_COMMAND`: REMOTE_COMMAND is one string that the remote
    /// user's login shell parses (quote it with [`quote`]). No terminal is allocated, so
    /// output arrives as plain lines and binary streams pass through unchanged.
    pub fn command(&self, remote_command: &str) -> Result<Command> {
        let mut cmd = self.ssh()?;
        cmd.args(["-T", "--", &self.target, remote_command]);
        Ok(cmd)
    }

    /// `ssh … -G -- TARGET`: prints the configuration ssh would use for this destination
    /// (the user's `~/.ssh/config` applied) without connecting.
    pub fn config_command(&self) -> Result<Command> {
        let mut cmd = self.ssh()?;
        cmd.args(["-G", "--", &self.target]);
        Ok(cmd)
    }

    /// The ssh program with this destination's options and key.
    fn ssh(&self) -> Result<Command> {
        let mut argv = ssh_program()?;
        let program = argv.remove(0);
        let mut cmd = Command::new(program);
        cmd.args(argv);
        for option in &self.options {
            cmd.arg("-o").arg(option);
        }
        if let Some(key) = &self.identity {
            cmd.arg("-i").arg(expand_home(key));
        }
        Ok(cmd)
    }
}

/// `$PM2CTL_SSH` split into words, or `["ssh"]`.
fn ssh_program() -> Result<Vec<String>> {
    match std::env::var(SSH_VAR) {
        Ok(text) if !text.trim().is_empty() => match shlex::split(&text) {
            Some(words) if !words.is_empty() => Ok(words),
            _ => Err(anyhow!(
                "{SSH_VAR}={text:?}: unbalanced quote; expected a command such as `ssh -F FILE`"
            )),
        },
        _ => Ok(vec!["ssh".to_string()]),
    }
}

/// `~/x` → `$HOME/x` (keys are often written so in ecosystem files).
fn expand_home(path: &std::path::Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// Quotes `word` for a POSIX shell (single quotes), for text pasted into remote scripts.
pub fn quote(word: &str) -> Result<Cow<'_, str>> {
    shlex::try_quote(word).map_err(|_| anyhow!("{word:?} contains a NUL byte"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(cmd: &Command) -> Vec<String> {
        std::iter::once(cmd.get_program())
            .chain(cmd.get_args())
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn builds_the_command_line_pm2_deploy_builds() {
        let mut d = Destination::new(Some("deploy"), "web1.example");
        d.options = vec!["StrictHostKeyChecking=no".into(), "Port=2222".into()];
        d.identity = Some(PathBuf::from("/keys/id"));
        let cmd = d.command("uptime").unwrap();
        let args = argv(&cmd);
        // The program may come from PM2CTL_SSH in the caller's environment: check the rest.
        let tail: Vec<&str> = args
            .iter()
            .map(String::as_str)
            .skip_while(|a| *a != "-o")
            .collect();
        assert_eq!(
            tail,
            [
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "Port=2222",
                "-i",
                "/keys/id",
                "-T",
                "--",
                "deploy@web1.example",
                "uptime"
            ]
        );
        assert_eq!(d.host(), "web1.example");
    }

    #[test]
    fn a_host_with_its_own_user_keeps_it() {
        assert_eq!(Destination::new(Some("a"), "b@h").target, "b@h");
        assert_eq!(Destination::new(None, "h").target, "h");
        assert_eq!(Destination::new(None, "h").host(), "h");
    }

    #[test]
    fn quotes_for_a_posix_shell() {
        assert_eq!(quote("/srv/app").unwrap(), "/srv/app");
        assert_eq!(quote("it's").unwrap(), "\"it's\"");
        assert!(quote("a\0b").is_err());
    }
}
