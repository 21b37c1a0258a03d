//! pm2-deploy's check before `update` and `ref`: the local checkout the deploy is run from
//! must have nothing uncommitted, nothing staged and no commit its upstream branch lacks;
//! otherwise the hosts would get something other than what is in front of the user.
//! `--force` skips it, as pm2-deploy's.
//!
//! Like pm2-deploy, a checkout whose branch has no upstream is only checked for uncommitted
//! changes; a directory outside any git checkout is not checked at all.

use anyhow::{Context, Result};
use std::path::Path;
use std::process::{Command, Output};

/// Why the checkout at `dir` should not be deployed from, or `None` when it is clean (or
/// not a git checkout).
pub fn unpublished_changes(dir: &Path) -> Result<Option<String>> {
    let Some(inside) = git(dir, &["rev-parse", "--is-inside-work-tree"]).ok() else {
        // No git here: nothing to check.
        return Ok(None);
    };
    if !inside.status.success() || String::from_utf8_lossy(&inside.stdout).trim() != "true" {
        return Ok(None);
    }
    let unchanged = |args: &[&str]| -> Result<bool> {
        let out = git(dir, args)?;
        match out.status.code() {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => anyhow::bail!(
                "git {} in {}: {}",
                args.join(" "),
                dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
    };
    if !unchanged(&["--no-pager", "diff", "--quiet"])? {
        return Ok(Some(format!(
            "{} has uncommitted changes: commit or stash them before deploying",
            dir.display()
        )));
    }
    if !unchanged(&["--no-pager", "diff", "--quiet", "--cached"])? {
        return Ok(Some(format!(
            "{} has staged changes: commit them before deploying",
            dir.display()
        )));
    }
    let upstream = git(
        dir,
        &[
            "rev-parse",
            "--abbrev-ref",
            "--symbolic-full-name",
            "@{upstream}",
        ],
    )?;
    if !upstream.status.success() {
        // No upstream branch (or a detached HEAD): nothing to compare with.
        return Ok(None);
    }
    let upstream = String::from_utf8_lossy(&upstream.stdout).trim().to_string();
    let ahead = git(dir, &["rev-list", "--count", "@{upstream}..HEAD"])?;
    let count: u64 = String::from_utf8_lossy(&ahead.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    Ok((ahead.status.success() && count > 0).then(|| {
        format!(
            "{} has {count} commit{} not pushed to {upstream}: push them before deploying",
            dir.display(),
            if count == 1 { "" } else { "s" }
        )
    }))
}

fn git(dir: &Path, args: &[&str]) -> Result<Output> {
    Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("cannot run git in {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
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
        assert!(out.status.success(), "git {args:?}: {out:?}");
    }

    #[test]
    fn uncommitted_staged_and_unpushed_changes_are_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        assert_eq!(unpublished_changes(dir).unwrap(), None, "not a checkout");

        run(dir, &["init", "-q", "--bare", "origin.git"]);
        run(dir, &["clone", "-q", "origin.git", "work"]);
        let work = dir.join("work");
        std::fs::write(work.join("a"), "1").unwrap();
        run(&work, &["add", "a"]);
        run(&work, &["commit", "-q", "-m", "one"]);
        // No upstream yet: only uncommitted changes count.
        assert_eq!(unpublished_changes(&work).unwrap(), None);
        run(&work, &["push", "-q", "-u", "origin", "HEAD:main"]);
        assert_eq!(unpublished_changes(&work).unwrap(), None, "clean");

        std::fs::write(work.join("a"), "2").unwrap();
        let why = unpublished_changes(&work).unwrap().unwrap_or_default();
        assert!(why.contains("uncommitted changes"), "{why}");
        run(&work, &["add", "a"]);
        let why = unpublished_changes(&work).unwrap().unwrap_or_default();
        assert!(why.contains("staged changes"), "{why}");
        run(&work, &["commit", "-q", "-m", "two"]);
        let why = unpublished_changes(&work).unwrap().unwrap_or_default();
        assert!(why.contains("1 commit not pushed to origin/main"), "{why}");
        // Untracked files do not count, as in pm2-deploy.
        run(&work, &["push", "-q"]);
        std::fs::write(work.join("ecosystem.toml"), "").unwrap();
        assert_eq!(unpublished_changes(&work).unwrap(), None);
    }
}
