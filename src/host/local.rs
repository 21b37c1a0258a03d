//! This machine behind `HostFacts` and `Resolver`: what the pure `plan::plan` is told about
//! the host it plans for when that host is the local one (`remote::facts` reads another
//! one's over ssh). Commands build these once and hand them to the plan.

use crate::plan::{FileKind, HostFacts, Resolver, Scope};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The systemd version assumed when it cannot be read: Debian 12's and RHEL 9's.
pub const FALLBACK_SYSTEMD_VERSION: u32 = 252;

impl HostFacts {
    /// The facts of this machine and caller. `systemd_version: None` reads
    /// `systemctl --version` (252 when that fails). `self_exe` is this binary, so apps run
    /// through `pm2ctl exec-wrap` (stdout and stderr as separate journal streams).
    pub fn detect(scope: Scope, systemd_version: Option<u32>) -> HostFacts {
        let uid = nix::unistd::getuid();
        let passwd = nix::unistd::User::from_uid(uid).ok().flatten();
        let user = passwd
            .as_ref()
            .map(|p| p.name.clone())
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| uid.to_string());
        let home = passwd
            .as_ref()
            .map(|p| p.dir.clone())
            .or_else(|| std::env::var_os("HOME").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("/"));
        let cpus = std::thread::available_parallelism()
            .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
            .unwrap_or(1);
        HostFacts {
            cpus,
            uid: uid.as_raw(),
            user,
            home,
            path: std::env::var("PATH")
                .unwrap_or_else(|_| crate::plan::env::SYSTEM_PATH.to_string()),
            systemd_version: systemd_version.unwrap_or_else(systemctl_version),
            scope,
            node_shim: crate::host::installed::node_shim(),
            caller_env: std::env::vars().collect(),
            self_exe: std::env::current_exe().ok(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/")),
            memory_unenforced: memory_unenforced(scope, uid.as_raw(), Path::new(CGROUP_ROOT)),
            caller_capabilities: own_capabilities(),
            unprivileged_port_start: unprivileged_port_start(),
            require_root_opt_in: true,
        }
    }
}

/// The capabilities this process holds (its permitted set) as a bitmask; none when they
/// cannot be read.
pub fn own_capabilities() -> u64 {
    caps::read(None, caps::CapSet::Permitted)
        .map(|set| set.into_iter().fold(0, |m, c| m | c.bitmask()))
        .unwrap_or(0)
}

/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Why a manager of `scope` would accept `MemoryMax=` without enforcing it, or `None` when
/// it enforces it. The system manager always has the memory controller (v1 or v2). A user's
/// manager has it only on the unified hierarchy (cgroup v2) and when `user@UID.service`
/// delegates it (`Delegate=` with `memory`, the default of systemd's own unit): on a v1 or
/// hybrid host its units share the memory cgroup of the whole `user@UID.service`.
pub fn memory_unenforced(scope: Scope, uid: u32, cgroup_root: &Path) -> Option<String> {
    if scope == Scope::System {
        return None;
    }
    let unified = cgroup_root.join("cgroup.controllers").exists();
    let manager = cgroup_root.join(format!(
        "user.slice/user-{uid}.slice/user@{uid}.service/cgroup.controllers"
    ));
    let controllers = if unified {
        std::fs::read_to_string(&manager).ok()
    } else {
        None
    };
    memory_verdict(scope, uid, unified, &manager, controllers.as_deref())
}

/// [`memory_unenforced`] from what was read: whether the host runs the unified hierarchy, and
/// the controllers of `user@UID.service` (`manager`, `None` when unreadable). `-H` reads
/// them over ssh.
pub fn memory_verdict(
    scope: Scope,
    uid: u32,
    unified: bool,
    manager: &Path,
    controllers: Option<&str>,
) -> Option<String> {
    if scope == Scope::System {
        return None;
    }
    if !unified {
        return Some(
            "this host runs cgroup v1 (or hybrid), where systemd delegates no memory controller \
             to a user's manager: MemoryMax= is accepted but not enforced; use the system \
             manager (as root, without --user) or a cgroup v2 host to have the limit kept"
                .to_string(),
        );
    }
    let controllers = controllers?;
    if controllers.split_whitespace().any(|c| c == "memory") {
        None
    } else {
        Some(format!(
            "the memory controller is not delegated to user@{uid}.service ({} lists only \
             \"{}\"): MemoryMax= is accepted but not enforced; add `Delegate=memory` to \
             user@.service (a drop-in) or use the system manager",
            manager.display(),
            controllers.trim()
        ))
    }
}

/// `net.ipv4.ip_unprivileged_port_start` (1024 when it cannot be read).
fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

/// `systemctl --version` → 252 from "systemd 252 (252.38-1~deb12u1)".
fn systemctl_version() -> u32 {
    std::process::Command::new("systemctl")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| parse_systemctl_version(&String::from_utf8_lossy(&o.stdout)))
        .unwrap_or(FALLBACK_SYSTEMD_VERSION)
}

fn parse_systemctl_version(out: &str) -> Option<u32> {
    let first = out.lines().next()?;
    let mut words = first.split_whitespace();
    (words.next()? == "systemd").then_some(())?;
    words.next()?.parse().ok()
}

/// Looks at the real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn which(&self, command: &str, path: &str) -> Option<PathBuf> {
        if command.is_empty() || command.contains('/') {
            return None;
        }
        path.split(':')
            .filter(|d| !d.is_empty() && d.starts_with('/'))
            .map(|d| Path::new(d).join(command))
            .find(|p| self.file_kind(p) == FileKind::Executable)
    }

    fn file_kind(&self, path: &Path) -> FileKind {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => FileKind::Directory,
            Ok(m) if m.permissions().mode() & 0o111 != 0 => FileKind::Executable,
            Ok(_) => FileKind::Other,
            Err(_) => FileKind::Missing,
        }
    }

    fn home_of(&self, user: &str) -> Option<PathBuf> {
        let account = match user.parse::<u32>() {
            Ok(uid) => nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)),
            Err(_) => nix::unistd::User::from_name(user),
        };
        account.ok().flatten().map(|a| a.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limits_in_a_users_manager_need_v2_and_delegation() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(memory_unenforced(Scope::System, 0, root.path()), None);
        let v1 = memory_unenforced(Scope::User, 1000, root.path()).unwrap();
        assert!(v1.contains("cgroup v1"), "{v1}");

        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        let manager = root
            .path()
            .join("user.slice/user-1000.slice/user@1000.service");
        std::fs::create_dir_all(&manager).unwrap();
        std::fs::write(manager.join("cgroup.controllers"), "cpu pids\n").unwrap();
        let undelegated = memory_unenforced(Scope::User, 1000, root.path()).unwrap();
        assert!(undelegated.contains("not delegated"), "{undelegated}");
        std::fs::write(manager.join("cgroup.controllers"), "cpu memory pids\n").unwrap();
        assert_eq!(memory_unenforced(Scope::User, 1000, root.path()), None);
    }

    #[test]
    fn reads_systemctl_version() {
        assert_eq!(
            parse_systemctl_version("systemd 252 (252.38-1~deb12u1)\n+PAM +AUDIT"),
            Some(252)
        );
        assert_eq!(parse_systemctl_version("bash: systemctl: not found"), None);
        assert_eq!(parse_systemctl_version(""), None);
    }

    #[test]
    fn finds_sh_on_path() {
        let r = SystemResolver;
        let sh = r.which("sh", "/nonexistent:/bin:/usr/bin").expect("sh");
        assert!(sh.is_absolute());
        assert_eq!(r.file_kind(Path::new("/")), FileKind::Directory);
        assert_eq!(r.file_kind(Path::new("/nonexistent/x")), FileKind::Missing);
        assert_eq!(r.which("no-such-command-pm2ctl", "/bin"), None);
    }
}
