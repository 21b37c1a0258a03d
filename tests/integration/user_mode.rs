//! User mode end to end: inside the sandbox, the manager of an unprivileged user
//! (`user@65534.service`, `nobody`, whose account every Linux has, so the host's
//! /etc/passwd is never touched) runs that user's apps through `pm2ctl --user`: apply,
//! list, restart, save, startup with lingering and the user generator, unstartup.
//! Memory limits: where the user manager has no memory controller (cgroup v1 or hybrid, as
//! on this kind of host), `apply` says max_memory_restart is not enforced.

use crate::common;

use common::sandbox::{assert_success, fixture, stdout, PM2CTL};
use common::Sandbox;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(60);
const UID: u32 = 65534;
const GENERATOR: &str = env!("CARGO_BIN_EXE_pm2ctl-generator");

/// The user's own directories, under the build tree (the sandbox shares it).
struct UserDirs {
    home: PathBuf,
    state: PathBuf,
    config: PathBuf,
}

impl UserDirs {
    fn new(root: &Path) -> UserDirs {
        let dirs = UserDirs {
            home: root.join("home"),
            state: root.join("state"),
            config: root.join("config"),
        };
        for dir in [root, &dirs.home, &dirs.state, &dirs.config] {
            std::fs::create_dir_all(dir).unwrap();
            nix::unistd::chown(dir, Some(UID.into()), Some(UID.into())).unwrap();
        }
        dirs
    }
}

/// Runs the pm2ctl under test as `nobody`.
fn pm2ctl_as_user(sb: &Sandbox, dirs: &UserDirs, args: &[&str]) -> Output {
    let mut argv = as_user(dirs, "--clear-groups");
    argv.push(PM2CTL.to_string());
    argv.extend(args.iter().map(|a| a.to_string()));
    sb.exec(&argv)
}

/// The command line that runs what follows it as `nobody` in its own environment, with
/// `groups` (a setpriv option) as its supplementary groups.
fn as_user(dirs: &UserDirs, groups: &str) -> Vec<String> {
    let mut argv: Vec<String> = ["setpriv", "--reuid=65534", "--regid=65534", groups, "env"]
        .map(String::from)
        .to_vec();
    argv.extend([
        format!("HOME={}", dirs.home.display()),
        format!("XDG_RUNTIME_DIR=/run/user/{UID}"),
        format!("PM2CTL_STATE_DIR={}", dirs.state.display()),
        format!("PM2CTL_CONFIG_DIR={}", dirs.config.display()),
    ]);
    argv
}

/// journald keeps the lines of a system user such as `nobody` in the system journal (a user
/// with a uid of 1000 or more gets a journal file of their own, which they can read): reading
/// them takes this group.
const JOURNAL_READER: &str = "--groups=systemd-journal";

/// `pm2ctl logs` lines of `app` that show `text`.
fn shown_lines(out: &str, app: &str, text: &str) -> usize {
    out.lines()
        .filter(|l| l.starts_with(&format!("0|{app} | ")) && l.contains(text))
        .count()
}

/// The sandbox's view of a path.
fn inside(sb: &Sandbox, path: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root{path}", sb.pid()))
}

#[test]
fn a_users_manager_runs_that_users_apps() {
    let root = common::sandbox::workdir("user_mode", "end_to_end");
    let dirs = UserDirs::new(&root);
    let file = root.join("ecosystem.toml");
    std::fs::write(
        &file,
        format!(
            "[[apps]]\nname = \"uapp\"\nscript = \"{}\"\nport = 4170\n\
             listen_address = \"127.0.0.1\"\nmax_memory_restart = \"50M\"\n",
            fixture("http.js")
        ),
    )
    .unwrap();

    let sb = Sandbox::boot();
    assert_success(
        "start user@65534",
        &sb.systemctl(&["start", "user@65534.service"]),
    );

    let apply = pm2ctl_as_user(&sb, &dirs, &["apply", "--user", file.to_str().unwrap()]);
    assert_success("apply --user", &apply);
    let warned = String::from_utf8_lossy(&apply.stderr)
        .contains("app `uapp`: max_memory_restart is not enforced");
    let unenforced = pm2ctl::host::local::memory_unenforced(
        pm2ctl::plan::Scope::User,
        UID,
        &inside(&sb, "/sys/fs/cgroup"),
    );
    assert_eq!(
        warned,
        unenforced.is_some(),
        "the memory warning does not match the host ({unenforced:?}):\n{}",
        String::from_utf8_lossy(&apply.stderr)
    );
    let answers = || sb.curl("http://127.0.0.1:4170/").status.success();
    sb.wait_for("the user's app to answer", PATIENCE, answers);
    // The unit is the user's manager's, not the system's.
    assert_eq!(sb.unit_state("pm2ctl-uapp@0.service"), "inactive");

    let list = pm2ctl_as_user(&sb, &dirs, &["jlist", "--user"]);
    assert_success("jlist --user", &list);
    let procs: serde_json::Value = serde_json::from_slice(&list.stdout).expect("jlist is JSON");
    assert_eq!(procs[0]["name"], "uapp", "{procs}");
    assert_eq!(procs[0]["pm2_env"]["status"], "online", "{procs}");
    let pid = procs[0]["pid"].as_u64().unwrap_or_default();

    assert_success(
        "restart --user",
        &pm2ctl_as_user(&sb, &dirs, &["restart", "--user", "uapp"]),
    );
    sb.wait_for("the restarted app to answer", PATIENCE, answers);
    let list = pm2ctl_as_user(&sb, &dirs, &["jlist", "--user"]);
    let procs: serde_json::Value = serde_json::from_slice(&list.stdout).expect("jlist is JSON");
    assert_ne!(
        procs[0]["pid"].as_u64().unwrap_or_default(),
        pid,
        "not restarted"
    );

    // `logs --user` shows the app's lines as in system mode, though systemd 252 adds no
    // PM2_APP field to a user manager's units (LogExtraFields= is for system units only):
    // one line for the start, one for the restart.
    // The journal's permissions as boot sets them (systemd-tmpfiles-setup, which the sandbox
    // leaves out): readable by the group systemd-journal.
    assert_success(
        "systemd-tmpfiles for the journal",
        &sb.exec(&["systemd-tmpfiles", "--create", "--prefix=/run/log/journal"]),
    );
    let mut argv = as_user(&dirs, JOURNAL_READER);
    argv.extend(
        [PM2CTL, "logs", "--user", "uapp", "--nostream"]
            .iter()
            .map(|a| a.to_string()),
    );
    let logs = sb.exec(&argv);
    assert_success("logs --user", &logs);
    let shown = stdout(&logs);
    assert_eq!(
        shown_lines(&shown, "uapp", "listening on 4170"),
        2,
        "{shown}"
    );

    // Following every app: the lines so far, then the line of one more restart, once each.
    let follow = format!(
        "'{PM2CTL}' logs --user >/tmp/follow.out 2>&1 & follower=$!\n\
         seen() {{ [ \"$(grep -c 'listening on 4170' /tmp/follow.out)\" -ge \"$1\" ]; }}\n\
         wait_for() {{ i=0; until seen \"$1\"; do i=$((i+1)); [ $i -lt 600 ] || break; sleep 0.1; done; }}\n\
         wait_for 2\n\
         '{PM2CTL}' restart --user uapp >/dev/null\n\
         wait_for 3\n\
         kill $follower; wait $follower\n\
         cat /tmp/follow.out\n"
    );
    let mut argv = as_user(&dirs, JOURNAL_READER);
    argv.extend(["sh", "-c", follow.as_str()].map(String::from));
    let followed = sb.exec(&argv);
    assert_success("logs --user (following)", &followed);
    let shown = stdout(&followed);
    assert_eq!(
        shown_lines(&shown, "uapp", "listening on 4170"),
        3,
        "{shown}"
    );

    // `show` has the same lines in its log section.
    let mut argv = as_user(&dirs, JOURNAL_READER);
    argv.extend(
        [PM2CTL, "show", "--user", "uapp"]
            .iter()
            .map(|a| a.to_string()),
    );
    let show = sb.exec(&argv);
    assert_success("show --user", &show);
    let shown = stdout(&show);
    let section = shown
        .split("log lines\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no log section: {shown}"));
    let section: String = section
        .lines()
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    assert_eq!(
        shown_lines(&section, "uapp", "listening on 4170"),
        3,
        "{shown}"
    );

    assert_success(
        "save --user",
        &pm2ctl_as_user(&sb, &dirs, &["save", "--user"]),
    );
    assert!(dirs.config.join("dump.toml").exists());

    // The user generator, as the packages install it.
    let generators = inside(&sb, "/run/systemd/user-generators");
    std::fs::create_dir_all(&generators).unwrap();
    let wrapper = generators.join("pm2ctl-generator");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexport PM2CTL_CONFIG_DIR='{}' PM2CTL_BIN='{PM2CTL}'\nexec '{GENERATOR}' \"$@\"\n",
            dirs.config.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();

    let startup = pm2ctl_as_user(&sb, &dirs, &["startup", "--user"]);
    assert_success("startup --user", &startup);
    assert!(
        stdout(&startup).contains("uapp: started, 1 instance"),
        "{}",
        stdout(&startup)
    );
    let linger = inside(&sb, "/var/lib/systemd/linger/nobody");
    assert!(linger.exists(), "lingering not enabled");
    let wired = inside(
        &sb,
        "/run/user/65534/systemd/generator/default.target.wants/pm2ctl-uapp@0.service",
    );
    // The link points into the sandbox's /run: look at the link, not through it.
    let is_wired = || wired.symlink_metadata().is_ok();
    assert!(
        is_wired(),
        "the user generator did not wire uapp to default.target:\n{}",
        stdout(&sb.exec(&["ls", "-lR", "/run/user/65534/systemd/generator"]))
    );

    assert_success(
        "unstartup --user",
        &pm2ctl_as_user(&sb, &dirs, &["unstartup", "--user"]),
    );
    assert!(!linger.exists(), "lingering still enabled");
    assert!(!is_wired(), "uapp still wired to default.target");
    assert!(
        dirs.config.join("dump.toml").exists(),
        "unstartup deleted the saved file"
    );
}
