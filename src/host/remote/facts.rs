//! What `apply -H` plans with: the remote host's facts and filesystem, asked over ssh.
//!
//! The file is read here, but the paths in it are paths on the remote host (as in a deploy,
//! where the file sits in a checkout at the same path on every host): relative ones resolve
//! against the file's directory as they would locally, and `script`, `cwd` and interpreters
//! are looked up there.

use super::run_script;
use crate::host::ssh::{quote, Destination};
use crate::plan::{FileKind, HostFacts, Resolver, Scope};
use anyhow::{anyhow, Context, Result};
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where the remote host's cgroup hierarchies are (as `host::local` reads them here).
const CGROUP: &str = "/sys/fs/cgroup";

/// Separates the facts from the environment in the probe's output.
const ENV_MARKER: &str = "--pm2ctl-env--";

/// The remote host's facts, in one ssh round trip. The Node shim is the one installed there
/// (`PM2CTL_SHIM` there, else the package's path); `self_exe` is the remote pm2ctl when one is
/// on its PATH (apps then log through `exec-wrap`), else apps run their command directly.
pub fn facts(dest: &Destination, scope: Scope, systemd_version: u32) -> Result<HostFacts> {
    let script = format!(
        "nproc\nid -u\nid -un\nprintf '%s\\n' \"$HOME\" \"$PATH\"\n\
         command -v pm2ctl || echo\n\
         printf '%s\\n' \"${{PM2CTL_SHIM:-{shim}}}\"\n\
         cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 1024\n\
         if [ -e {CGROUP}/cgroup.controllers ]; then echo v2; else echo v1; fi\n\
         u=$(id -u); m={CGROUP}/user.slice/user-$u.slice/user@$u.service/cgroup.controllers\n\
         if [ -r \"$m\" ]; then printf '+%s\\n' \"$(cat \"$m\")\"; else echo -; fi\n\
         echo {ENV_MARKER}\nenv -0",
        shim = crate::host::installed::NODE_SHIM_INSTALLED
    );
    let out = run_script(dest, &script)
        .with_context(|| format!("cannot read the facts of {}", dest.target))?;
    parse_facts(&out, scope, systemd_version)
        .with_context(|| format!("unexpected answer from {}: {out:?}", dest.target))
}

fn parse_facts(out: &str, scope: Scope, systemd_version: u32) -> Result<HostFacts> {
    let (facts, env) = out
        .split_once(&format!("{ENV_MARKER}\n"))
        .ok_or_else(|| anyhow!("no environment"))?;
    let lines: Vec<&str> = facts.lines().collect();
    let [cpus, uid, user, home, path, pm2ctl, shim, ports, hierarchy, controllers] = lines[..]
    else {
        return Err(anyhow!("expected 10 lines of facts"));
    };
    let uid: u32 = uid.trim().parse().context("id -u")?;
    let manager = PathBuf::from(format!(
        "{CGROUP}/user.slice/user-{uid}.slice/user@{uid}.service/cgroup.controllers"
    ));
    let memory_unenforced = crate::host::local::memory_verdict(
        scope,
        uid,
        hierarchy == "v2",
        &manager,
        controllers.strip_prefix('+'),
    );
    let caller_env = env
        .split('\0')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Ok(HostFacts {
        cpus: cpus.trim().parse().context("nproc")?,
        uid,
        user: user.to_string(),
        home: PathBuf::from(home),
        path: path.to_string(),
        systemd_version,
        scope,
        node_shim: PathBuf::from(shim),
        caller_env,
        self_exe: (!pm2ctl.is_empty()).then(|| PathBuf::from(pm2ctl)),
        // Relative paths in the file resolve as they would here (see the module comment).
        cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
        // Root there holds every capability; anyone else is granted none to pass on.
        caller_capabilities: if uid == 0 { u64::MAX } else { 0 },
        unprivileged_port_start: ports.trim().parse().unwrap_or(1024),
        require_root_opt_in: true,
        // As `HostFacts::detect` finds it there, from the probe's cgroup lines.
        memory_unenforced,
    })
}

/// The remote user's home directory (`~` in saved definitions).
pub fn home(dest: &Destination) -> Result<PathBuf> {
    let out = run_script(dest, "printf '%s\\n' \"$HOME\"")
        .with_context(|| format!("cannot read the home directory on {}", dest.target))?;
    Ok(PathBuf::from(out.trim_end_matches('\n')))
}

/// Looks paths up on the remote host, one ssh round trip per question, each asked once.
/// A failed ssh is remembered: `plan` would otherwise report a script as missing when the
/// host was only unreachable.
pub struct RemoteResolver<'a> {
    dest: &'a Destination,
    answers: RefCell<HashMap<String, String>>,
    error: RefCell<Option<anyhow::Error>>,
}

impl<'a> RemoteResolver<'a> {
    pub fn new(dest: &'a Destination) -> RemoteResolver<'a> {
        RemoteResolver {
            dest,
            answers: RefCell::default(),
            error: RefCell::default(),
        }
    }

    /// The first ssh failure met while planning, if any.
    pub fn take_error(&self) -> Option<anyhow::Error> {
        self.error.borrow_mut().take()
    }

    fn ask(&self, script: String) -> String {
        if let Some(answer) = self.answers.borrow().get(&script) {
            return answer.clone();
        }
        let answer = match run_script(self.dest, &script) {
            Ok(out) => out.trim_end_matches('\n').to_string(),
            Err(e) => {
                self.error.borrow_mut().get_or_insert(e);
                String::new()
            }
        };
        self.answers.borrow_mut().insert(script, answer.clone());
        answer
    }
}

impl Resolver for RemoteResolver<'_> {
    fn which(&self, command: &str, path: &str) -> Option<PathBuf> {
        if command.is_empty() || command.contains('/') {
            return None;
        }
        let (Ok(c), Ok(p)) = (quote(command), quote(path)) else {
            return None;
        };
        let found = self.ask(format!(
            "path={p}; IFS=:; for d in $path; do case $d in /*) [ -f \"$d\"/{c} ] && [ -x \"$d\"/{c} ] && {{ echo \"$d\"/{c}; exit 0; }};; esac; done; exit 0"
        ));
        (!found.is_empty()).then(|| PathBuf::from(found))
    }

    fn file_kind(&self, path: &Path) -> FileKind {
        let Ok(p) = quote(&path.to_string_lossy()).map(|p| p.into_owned()) else {
            return FileKind::Missing;
        };
        match self
            .ask(format!(
                "if [ -d {p} ]; then echo d; elif [ -x {p} ]; then echo x; elif [ -e {p} ]; then echo f; else echo m; fi"
            ))
            .as_str()
        {
            "d" => FileKind::Directory,
            "x" => FileKind::Executable,
            "f" => FileKind::Other,
            _ => FileKind::Missing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_probe() {
        let out = format!(
            "4\n0\nroot\n/root\n/usr/bin:/bin\n\n/usr/lib/pm2ctl/pm2ctl-shim.js\n80\nv1\n-\n{ENV_MARKER}\nA=1\0B=two\nlines\0"
        );
        let f = parse_facts(&out, Scope::System, 252).unwrap();
        assert_eq!(f.unprivileged_port_start, 80);
        assert_eq!(f.memory_unenforced, None, "the system manager keeps limits");
        let user = parse_facts(&out, Scope::User, 252).unwrap();
        assert!(
            user.memory_unenforced.is_some(),
            "cgroup v1: a user's manager does not"
        );
        let v2 = out.replace("v1\n-\n", "v2\n+cpu memory pids\n");
        assert_eq!(
            parse_facts(&v2, Scope::User, 252)
                .unwrap()
                .memory_unenforced,
            None
        );
        assert_eq!((f.cpus, f.uid, f.user.as_str()), (4, 0, "root"));
        assert_eq!(f.path, "/usr/bin:/bin");
        assert_eq!(f.self_exe, None);
        assert_eq!(f.node_shim, PathBuf::from("/usr/lib/pm2ctl/pm2ctl-shim.js"));
        assert_eq!(
            f.caller_env,
            [("A".into(), "1".into()), ("B".into(), "two\nlines".into())]
        );
        assert!(parse_facts("4\n0\n", Scope::User, 252).is_err());
    }
}
