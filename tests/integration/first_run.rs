//! The first thing a user does: clone the repository where they keep clones — root's home,
//! mode 0700 on Debian and Ubuntu, in a folder whose name has a space — and run `tests/demo`
//! there as root. The demo's apps run as `nobody`, which cannot pass a 0700 directory: the
//! sandbox must give them their files without changing the clone's permissions.

use crate::common;

use common::sandbox::{require_root, workdir};
use common::Sandbox;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn run(what: &str, cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

/// A clone of this repository at `dest`, with the working tree's uncommitted changes and new
/// files copied over it, so the test checks the tree it is built from.
fn clone_into(dest: &Path) {
    run(
        "git clone",
        Command::new("git")
            .args(["clone", "--quiet", REPO])
            .arg(dest),
    );
    let changed = run(
        "git status",
        Command::new("git").args([
            "-C",
            REPO,
            "ls-files",
            "--modified",
            "--others",
            "--exclude-standard",
        ]),
    );
    for file in changed.lines().filter(|f| !f.is_empty()) {
        let from = Path::new(REPO).join(file);
        if !from.is_file() {
            continue;
        }
        let to = dest.join(file);
        if let Some(dir) = to.parent() {
            std::fs::create_dir_all(dir).expect("create a directory in the clone");
        }
        std::fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {file} into the clone: {e}"));
    }
}

/// The clone's build starts from this build's dependencies (hard links, the same file
/// system), so `tests/demo` compiles pm2ctl alone rather than every crate again. pm2ctl's
/// own artifacts are left out: the clone builds its own.
fn seed_build(target: &Path) {
    let ours = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join("debug");
    for dir in ["deps", "build", ".fingerprint"] {
        let from = ours.join(dir);
        let to = target.join("debug").join(dir);
        std::fs::create_dir_all(&to).expect("create the clone's build directory");
        let Ok(entries) = std::fs::read_dir(&from) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().contains("pm2ctl") {
                continue;
            }
            // A failed link only costs build time.
            let _ = Command::new("cp")
                .arg("-al")
                .arg(entry.path())
                .arg(&to)
                .status();
        }
    }
}

#[test]
fn the_demo_runs_from_a_clone_in_a_closed_home() {
    require_root();
    if common::sandbox::release() != "host" {
        // The demo is the host's first command: it installs the host's packages and boots
        // the host's systemd, whichever release the other tests are pointed at.
        return common::sandbox::skip(
            "tests/demo runs on the host's own systemd; the clone's location is tested there",
        );
    }
    let work = workdir("first_run", "closed_home");
    let home = work.join("root");
    std::fs::create_dir(&home).expect("create the home directory");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700))
        .expect("close the home directory");
    let clone: PathBuf = home.join("my clone");
    clone_into(&clone);
    seed_build(&clone.join("target"));

    let mut demo = Command::new(clone.join("tests/demo"));
    demo.current_dir(&clone)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    let out = demo.output().expect("run tests/demo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    check_demo("tests/demo", &clone, &out.status, &text);

    // On a host whose PID 1 is systemd (here a sandbox's), the demo uses that systemd: the
    // apps get a copy of what they need, since nobody cannot reach the clone there.
    let sb = Sandbox::boot();
    let out = sb.exec(&[clone.join("tests/demo")]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(sb);
    let mode = std::fs::metadata(&home).map(|m| m.permissions().mode() & 0o777);
    let _ = std::fs::remove_dir_all(&work);
    check_demo("tests/demo under systemd", &clone, &out.status, &text);
    assert!(
        text.contains("running a copy from /run/pm2ctl-demo"),
        "the demo did not say it runs a copy:\n{text}"
    );
    assert_eq!(
        mode.ok(),
        Some(0o700),
        "the demo changed the home directory's mode"
    );
}

fn check_demo(what: &str, clone: &Path, status: &std::process::ExitStatus, text: &str) {
    assert!(
        status.success(),
        "{what} in {} failed ({status}):\n{text}",
        clone.display()
    );
    assert!(!text.contains("FAILED"), "{what}: a unit failed:\n{text}");
    assert!(
        text.contains("hello from instance"),
        "{what}: the cluster app did not answer:\n{text}"
    );
    assert!(
        text.contains("heartbeat"),
        "{what}: the worker did not log:\n{text}"
    );
}
