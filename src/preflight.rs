//! The preflight: before any unit is touched, can every app's account reach what the plan
//! says it needs (`plan::access`)? The account must exist, pass every directory on the way
//! to each path, and read its script, run its interpreter and pm2ctl's exec-wrap, enter its
//! working directory, read the Node shim and create its log files; the interpreter must
//! exist. Otherwise systemd would fail the unit at start (`200/CHDIR`, `203/EXEC`,
//! `217/USER`) after pm2ctl had already changed things.
//!
//! Decided from owners and mode bits, as the kernel does for an account without
//! privileges; a path that carries a POSIX ACL is given the benefit of the doubt when its
//! mode bits alone refuse.

use crate::plan::access::{Access, AppAccess, Need};
use crate::plan::Plan;
use std::fs::Metadata;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

const READ: u32 = 4;
const WRITE: u32 = 2;
const EXEC: u32 = 1;

/// Why an app cannot start on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The account (or group) the app runs as does not exist.
    UnknownAccount {
        app: String,
        what: &'static str,
        name: String,
    },
    /// A path it needs does not exist.
    Missing {
        app: String,
        need: Need,
        missing: PathBuf,
    },
    /// The account may not pass, read, run or write a component of a path it needs.
    Denied {
        app: String,
        account: String,
        need: Need,
        component: PathBuf,
        owner: String,
        mode: u32,
        /// What the account may not do there: `pass`, `read`, `run`, `write`, `create files in`.
        verb: &'static str,
    },
}

impl Problem {
    /// A refusal by the permissions of a path that exists: certain, unlike a path or an
    /// account that may only be missing so far (the generator runs before every file
    /// system is mounted and before network accounts resolve).
    pub fn is_denial(&self) -> bool {
        matches!(self, Problem::Denied { .. })
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::UnknownAccount { app, what, name } => write!(
                f,
                "app `{app}`: its {what} `{name}` does not exist on this host\n  \
                 fix: create it (`useradd --system {name}`), or set `{what}` to one that exists"
            ),
            Problem::Missing { app, need, missing } => {
                write!(
                    f,
                    "app `{app}`: its {} {} does not exist",
                    need.what,
                    need.path.display()
                )?;
                if *missing != need.path {
                    write!(f, " ({} is missing)", missing.display())?;
                }
                let fix = match need.what {
                    "interpreter" => "install it, or set `interpreter` to one that exists",
                    "working directory" => "create it, or set `cwd` to a directory that exists",
                    "Node shim" => "reinstall pm2ctl (the shim comes with it)",
                    _ => "create it, or change the file to name one that exists",
                };
                write!(f, "\n  fix: {fix}")
            }
            Problem::Denied {
                app,
                account,
                need,
                component,
                owner,
                mode,
                verb,
            } => {
                write!(
                    f,
                    "app `{app}` runs as `{account}`, who cannot reach its {} {}: {} \
                     (owner {owner}, mode {:04o}, {}) does not let {account} {verb} it",
                    need.what,
                    need.path.display(),
                    component.display(),
                    mode & 0o7777,
                    mode_string(*mode),
                )?;
                let user_fix = "or run the app as an account that may (`user = \"…\"`)";
                // The component as one shell word, so the command can be pasted as it is.
                let c = crate::host::ssh::quote(&component.to_string_lossy())
                    .map(std::borrow::Cow::into_owned)
                    .unwrap_or_else(|_| component.display().to_string());
                match *verb {
                    "pass" => write!(
                        f,
                        "\n  fix: move the app to a directory {account} can reach, let others \
                         pass with `chmod o+x {c}`, {user_fix}"
                    ),
                    "read" => write!(f, "\n  fix: `chmod o+r {c}`, {user_fix}"),
                    "run" => write!(f, "\n  fix: `chmod o+x {c}`, {user_fix}"),
                    "write" => write!(f, "\n  fix: `chown {account} {c}`, {user_fix}"),
                    _ => write!(
                        f,
                        "\n  fix: `chown {account} {c}`, choose log files {account} may write \
                         (`out_file`, `error_file`, `log_file`), {user_fix}"
                    ),
                }
            }
        }
    }
}

/// The account the app's processes run as.
struct Account {
    name: String,
    uid: u32,
    /// The primary group and every supplementary one (systemd calls `initgroups`).
    gids: Vec<u32>,
}

/// Every app of `plan` that cannot start on this host, the first problem of each.
pub fn check(plan: &Plan) -> Vec<Problem> {
    plan.access.iter().filter_map(check_app).collect()
}

/// The first problem of one app, if any.
pub fn check_app(app: &AppAccess) -> Option<Problem> {
    let account = match account(app) {
        Ok(a) => a,
        Err(p) => return Some(*p),
    };
    app.needs
        .iter()
        .find_map(|need| check_need(&app.app, &account, need).err().map(|p| *p))
}

/// Whether `user` (`None`: the caller) may enter `dir`, as `app`'s working directory: what
/// systemd's `CHDIR` step needs.
pub fn check_working_directory(app: &str, user: Option<&str>, dir: &Path) -> Option<Problem> {
    check_app(&AppAccess {
        app: app.to_string(),
        user: user.map(str::to_string),
        group: None,
        needs: vec![Need {
            what: "working directory",
            path: dir.to_path_buf(),
            access: Access::Enter,
        }],
    })
}

fn account(app: &AppAccess) -> Result<Account, Box<Problem>> {
    use nix::unistd::{Gid, Group, Uid, User};
    let unknown = |what, name: &str| {
        Box::new(Problem::UnknownAccount {
            app: app.app.clone(),
            what,
            name: name.to_string(),
        })
    };
    let user = match &app.user {
        Some(name) => match name.parse::<u32>() {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)).ok().flatten(),
            Err(_) => User::from_name(name).ok().flatten(),
        }
        .ok_or_else(|| unknown("user", name))?,
        None => match User::from_uid(nix::unistd::geteuid()).ok().flatten() {
            Some(u) => u,
            // The caller has no passwd entry: nothing to look up, its own ids decide.
            None => {
                return Ok(Account {
                    name: nix::unistd::geteuid().to_string(),
                    uid: nix::unistd::geteuid().as_raw(),
                    gids: vec![nix::unistd::getegid().as_raw()],
                })
            }
        },
    };
    let primary = match &app.group {
        Some(name) => {
            match name.parse::<u32>() {
                Ok(gid) => Group::from_gid(Gid::from_raw(gid)).ok().flatten(),
                Err(_) => Group::from_name(name).ok().flatten(),
            }
            .ok_or_else(|| unknown("group", name))?
            .gid
        }
        None => user.gid,
    };
    let mut gids = vec![primary.as_raw()];
    if let Ok(name) = std::ffi::CString::new(user.name.as_str()) {
        if let Ok(groups) = nix::unistd::getgrouplist(&name, primary) {
            gids.extend(groups.iter().map(|g| g.as_raw()));
        }
    }
    Ok(Account {
        name: user.name,
        uid: user.uid.as_raw(),
        gids,
    })
}

/// Checks one need along its path as written, then along the path its symlinks lead to.
fn check_need(app: &str, account: &Account, need: &Need) -> Result<(), Box<Problem>> {
    walk(app, account, need, &need.path)?;
    if let Ok(real) = std::fs::canonicalize(&need.path) {
        if real != need.path {
            walk(app, account, need, &real)?;
        }
    }
    Ok(())
}

fn walk(app: &str, account: &Account, need: &Need, path: &Path) -> Result<(), Box<Problem>> {
    let prefixes: Vec<&Path> = {
        let mut v: Vec<&Path> = path.ancestors().collect();
        v.reverse();
        v
    };
    let last = prefixes.len() - 1;
    for (i, prefix) in prefixes.iter().enumerate() {
        let meta = match std::fs::metadata(prefix) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && i > 0 => {
                if need.access == Access::Append {
                    // The log file (or its directory) does not exist yet: exec-wrap creates
                    // it in the nearest directory that does, which the loop let it pass.
                    let parent = prefixes[i - 1];
                    let meta = std::fs::metadata(parent).map_err(|_| missing(app, need, prefix))?;
                    return require(app, account, need, parent, &meta, WRITE | EXEC);
                }
                return Err(missing(app, need, prefix));
            }
            // Anything else (a component that is a file): the kernel's answer at start.
            Err(_) => return Err(missing(app, need, prefix)),
        };
        if i < last {
            if !meta.is_dir() {
                return Err(missing(app, need, prefix));
            }
            require(app, account, need, prefix, &meta, EXEC)?;
            continue;
        }
        let want = match need.access {
            Access::Read => READ,
            Access::Execute => EXEC,
            Access::Enter => EXEC,
            Access::Append if meta.is_dir() => WRITE | EXEC,
            Access::Append => WRITE,
        };
        return require(app, account, need, prefix, &meta, want);
    }
    Ok(())
}

fn missing(app: &str, need: &Need, at: &Path) -> Box<Problem> {
    Box::new(Problem::Missing {
        app: app.to_string(),
        need: need.clone(),
        missing: at.to_path_buf(),
    })
}

/// Whether `account` holds the `want` bits on `path`; root holds all but execute, which
/// needs one execute bit somewhere (as the kernel rules).
fn require(
    app: &str,
    account: &Account,
    need: &Need,
    path: &Path,
    meta: &Metadata,
    want: u32,
) -> Result<(), Box<Problem>> {
    let mode = meta.permissions().mode();
    let allowed = if account.uid == 0 {
        want & EXEC == 0 || meta.is_dir() || mode & 0o111 != 0
    } else {
        let bits = if meta.uid() == account.uid {
            mode >> 6
        } else if account.gids.contains(&meta.gid()) {
            mode >> 3
        } else {
            mode
        } & 7;
        bits & want == want || has_acl(path)
    };
    if allowed {
        return Ok(());
    }
    let verb = if meta.is_dir() {
        if want & WRITE != 0 {
            "create files in"
        } else {
            "pass"
        }
    } else if want & READ != 0 {
        "read"
    } else if want & WRITE != 0 {
        "write"
    } else {
        "run"
    };
    Err(Box::new(Problem::Denied {
        app: app.to_string(),
        account: account.name.clone(),
        need: need.clone(),
        component: path.to_path_buf(),
        owner: format!("{}:{}", user_name(meta.uid()), group_name(meta.gid())),
        mode,
        verb,
    }))
}

/// Whether `path` carries an access ACL, which may grant what its mode bits do not.
fn has_acl(path: &Path) -> bool {
    matches!(xattr::get(path, "system.posix_acl_access"), Ok(Some(v)) if !v.is_empty())
}

fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |u| u.name)
}

fn group_name(gid: u32) -> String {
    nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(gid))
        .ok()
        .flatten()
        .map_or_else(|| gid.to_string(), |g| g.name)
}

/// `drwx------` for a directory of mode 0700.
fn mode_string(mode: u32) -> String {
    let kind = match mode & 0o170000 {
        0o040000 => 'd',
        0o120000 => 'l',
        _ => '-',
    };
    let mut s = String::from(kind);
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// `plan`, `apply`, `start` and `resurrect`'s check of a local plan: `Err` holds every
/// problem found.
pub fn verdict(plan: &Plan) -> Result<(), Refused> {
    let problems = check(plan);
    if problems.is_empty() {
        return Ok(());
    }
    Err(Refused { problems })
}

/// A plan some app's account cannot run: every problem, one `error:` line each, as the
/// verbs print it before exiting 2 with nothing changed.
#[derive(Debug)]
pub struct Refused {
    pub problems: Vec<Problem>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_as_ls_shows_them() {
        assert_eq!(mode_string(0o040700), "drwx------");
        assert_eq!(mode_string(0o100644), "-rw-r--r--");
        assert_eq!(mode_string(0o040751), "drwxr-x--x");
    }

    fn nobody() -> Account {
        Account {
            name: "nobody".into(),
            uid: 65534,
            gids: vec![65534],
        }
    }

    #[test]
    fn a_closed_directory_is_named_with_its_owner_mode_and_fix() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let closed = dir.path().join("closed");
        std::fs::create_dir_all(&closed).unwrap();
        std::fs::write(closed.join("app.js"), "").unwrap();
        std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
        let need = Need {
            what: "script",
            path: closed.join("app.js"),
            access: Access::Read,
        };
        let problem = check_need("api", &nobody(), &need).unwrap_err();
        let text = problem.to_string();
        assert!(problem.is_denial());
        assert!(text.contains("runs as `nobody`"), "{text}");
        assert!(
            text.contains(&format!("{} (owner ", closed.display())),
            "{text}"
        );
        assert!(text.contains("mode 0700, drwx------"), "{text}");
        assert!(
            text.contains(&format!("chmod o+x {}", closed.display())),
            "{text}"
        );
        assert!(text.contains("user = "), "{text}");
    }

    #[test]
    fn a_log_file_that_exists_needs_only_to_be_writable() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = dir.path().join("out.log");
        std::fs::write(&file, "").unwrap();
        let need = |path: PathBuf| Need {
            what: "log file",
            path,
            access: Access::Append,
        };
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(check_need("api", &nobody(), &need(file.clone())), Ok(()));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let text = check_need("api", &nobody(), &need(file.clone()))
            .unwrap_err()
            .to_string();
        assert!(text.contains("does not let nobody write it"), "{text}");
        // A file still to be created: the directory must take it.
        let text = check_need("api", &nobody(), &need(dir.path().join("sub/err.log")))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("does not let nobody create files in it"),
            "{text}"
        );
    }

    #[test]
    fn a_missing_interpreter_names_the_first_missing_directory() {
        let need = Need {
            what: "interpreter",
            path: PathBuf::from("/nonexistent-pm2ctl/venv/bin/python"),
            access: Access::Execute,
        };
        let problem = check_need("api", &nobody(), &need).unwrap_err();
        let text = problem.to_string();
        assert!(!problem.is_denial());
        assert!(text.contains("(/nonexistent-pm2ctl is missing)"), "{text}");
        assert!(text.contains("set `interpreter`"), "{text}");
    }
}
