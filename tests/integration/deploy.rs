//! `pm2ctl deploy` against a second machine: an sshd in a sandbox (tests/integration/common/remote.rs),
//! a local bare git repository, PM2's layout on the far side. One boot covers the whole
//! cycle: setup, update, revert, `ref`, the `env` the hooks see, a failing hook, a failing
//! `test` hook (reverted), and the refusal to deploy unpushed commits.

use crate::common;

use common::remote::{RemoteHost, ADDRESS};
use common::sandbox::{assert_success, stdout};
use common::Sandbox;
use std::path::Path;
use std::process::{Command, Output};

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert_success(&format!("git {args:?}"), &out);
}

/// A bare repository with one commit (`version` = v1) and a clone to make more from.
fn repository(dir: &Path) {
    git(dir, &["init", "-q", "--bare", "repo.git"]);
    git(dir, &["clone", "-q", "repo.git", "work"]);
    commit(dir, "v1");
}

fn commit(dir: &Path, version: &str) {
    let work = dir.join("work");
    std::fs::write(work.join("version"), format!("{version}\n")).unwrap();
    git(&work, &["add", "version"]);
    git(&work, &["commit", "-q", "-m", version]);
    git(&work, &["push", "-q", "origin", "HEAD:main"]);
}

fn head(dir: &Path) -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(dir.join("work"))
        .output()
        .expect("git rev-parse");
    stdout(&out).trim().to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn setup_update_revert_and_a_failing_hook_over_ssh() {
    let sb = Sandbox::boot();
    let dir = common::sandbox::workdir("deploy", "cycle");
    let remote = RemoteHost::start(&sb, &dir.join("ssh"));
    repository(&dir);
    let d = dir.display();
    let key = remote.client_key();
    let known = remote.known_hosts();
    // `key` and `ssh_options` from the file reach ssh (PM2CTL_SSH only replaces ~/.ssh/config).
    let ssh = format!(
        "user = \"root\"\nref = \"origin/main\"\nrepo = \"{d}/repo.git\"\npath = \"{d}/srv\"\n\
         key = \"{key}\"\nssh_options = [\"UserKnownHostsFile=\\\"{known}\\\"\", \"StrictHostKeyChecking=yes\", \
         \"BatchMode=yes\", \"IdentitiesOnly=yes\"]\n",
        key = key.display(),
        known = known.display()
    );
    let file = dir.join("ecosystem.toml");
    std::fs::write(
        &file,
        format!(
            "[[apps]]\nname = \"web\"\nscript = \"{d}/srv/current/server.js\"\n\n\
             [deploy.production]\nhost = \"{ADDRESS}\"\n{ssh}\
             post-setup = \"test -d \\\"$SHARED/logs\\\"\"\n\
             post-deploy = \"echo \\\"$(cat version) in $PWD\\\" >> \\\"$SHARED/post-deploy.log\\\"; \
             echo \\\"$GREETING\\\" > \\\"$SHARED/greeting\\\"\"\n\
             env = {{ greeting = \"hello from env\" }}\n\n\
             [deploy.tested]\nhost = \"{ADDRESS}\"\n{ssh}test = \"! grep -q v3 version\"\n\n\
             [deploy.broken]\nhost = \"{ADDRESS}\"\n{ssh}pre-deploy = \"echo checking; exit 3\"\n\n\
             [deploy.both]\nhost = [\"{ADDRESS}\", \"localhost\"]\n{ssh}"
        ),
    )
    .unwrap();
    let deploy = |args: &[&str]| {
        let mut argv = vec!["deploy", file.to_str().unwrap()];
        argv.extend_from_slice(args);
        remote.pm2ctl(&argv)
    };
    let current = || std::fs::read_link(dir.join("srv/current")).ok();
    let post_deploy_log =
        || std::fs::read_to_string(dir.join("srv/shared/post-deploy.log")).unwrap_or_default();

    let out = deploy(&["production", "setup"]);
    assert_success("deploy production setup", &out);
    assert_eq!(current(), Some(dir.join("srv/source")), "current -> source");
    assert!(dir.join("srv/shared/pids").is_dir());

    let v1 = head(&dir);
    assert_success(
        "deploy production update",
        &deploy(&["production", "update"]),
    );
    commit(&dir, "v2");
    let v2 = head(&dir);
    let out = deploy(&["production", "update"]);
    assert_success("deploy production update (v2)", &out);
    assert_eq!(
        std::fs::read_to_string(dir.join("srv/current/version")).unwrap(),
        "v2\n"
    );
    assert_eq!(
        post_deploy_log(),
        format!("v1 in {d}/srv/current\nv2 in {d}/srv/current\n"),
        "post-deploy ran in current after each update"
    );
    let out = deploy(&["production", "curr"]);
    assert_eq!(stdout(&out).trim(), v2);
    let out = deploy(&["production", "list"]);
    assert_eq!(stdout(&out), format!("0\t{v2}\n1\t{v1}\n"));

    let out = deploy(&["production", "revert", "1"]);
    assert_success("deploy production revert 1", &out);
    assert_eq!(
        std::fs::read_to_string(dir.join("srv/current/version")).unwrap(),
        "v1\n"
    );
    assert_eq!(stdout(&deploy(&["production", "curr"])).trim(), v1);
    assert!(post_deploy_log().ends_with(&format!("v1 in {d}/srv/current\n")));

    // A hook that fails: named with its step and host, non-zero exit, nothing checked out.
    commit(&dir, "v3");
    let out = deploy(&["broken", "update"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("checking"),
        "the hook's output is shown"
    );
    assert!(
        stderr(&out).contains(&format!(
            "{ADDRESS}: step `pre-deploy` failed: exit status 3"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&deploy(&["production", "curr"])).trim(), v1);

    // Several hosts at once, each line prefixed with its host.
    let out = deploy(&["both", "curr"]);
    assert_success("deploy both curr", &out);
    let mut lines: Vec<String> = stdout(&out).lines().map(String::from).collect();
    lines.sort();
    assert_eq!(
        lines,
        [format!("{ADDRESS} | {v1}"), format!("localhost | {v1}")]
    );

    // `ref` deploys the ref given (v2) instead of the target's (origin/main, now v3); the
    // target's `env` reaches post-deploy, its name upper-cased as pm2-deploy does.
    assert_success(
        "deploy production ref v2",
        &deploy(&["production", "ref", v2.as_str()]),
    );
    assert_eq!(stdout(&deploy(&["production", "curr"])).trim(), v2);
    assert_eq!(
        std::fs::read_to_string(dir.join("srv/shared/greeting")).unwrap_or_default(),
        "hello from env\n",
        "post-deploy sees the target's env"
    );

    // A `test` hook that fails: the release before goes back in place, and the failure
    // says so.
    let out = deploy(&["tested", "update"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!(
            "{ADDRESS}: step `test` failed: exit status 1; reverted to the previous release {v2}"
        )),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&deploy(&["production", "curr"])).trim(), v2);

    // From a checkout with a commit not pushed: refused (nothing deployed) unless --force.
    let work = dir.join("work");
    let local = work.join("ecosystem.toml");
    std::fs::copy(&file, &local).expect("copy the file into the checkout");
    git(&work, &["branch", "-q", "--set-upstream-to=origin/main"]);
    std::fs::write(work.join("version"), "v4\n").unwrap();
    git(&work, &["commit", "-q", "-am", "v4, not pushed"]);
    let local_deploy = |args: &[&str]| {
        let mut argv = vec!["deploy", local.to_str().unwrap()];
        argv.extend_from_slice(args);
        remote.pm2ctl(&argv)
    };
    let out = local_deploy(&["production", "update"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("1 commit not pushed to origin/main"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&deploy(&["production", "curr"])).trim(), v2);
    let out = local_deploy(&["production", "update", "--force"]);
    assert_success("deploy production update --force", &out);
    assert_eq!(
        std::fs::read_to_string(dir.join("srv/current/version")).unwrap(),
        "v3\n",
        "the pushed ref is deployed"
    );

    // An unknown environment is an unknown target.
    let out = deploy(&["staging", "setup"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no [deploy.staging]"),
        "{}",
        stderr(&out)
    );
}
