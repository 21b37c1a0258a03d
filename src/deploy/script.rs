//! The remote shell scripts of each deploy step (pure: text in, text out).
//!
//! The layout is PM2's (pm2-deploy), so a host set up by one can be updated by the other:
//!
//! ```text
//! <path>/source      the git working copy (one clone; a release is a commit checked out in it)
//! <path>/current  -> <path>/source, where hooks run and apps point their `cwd`
//! <path>/shared/{logs,pids}   kept across releases; hooks see it as $SHARED
//! <path>/.deploys    one short commit id per line, the newest last (`list`, `prev`, `revert`)
//! ```
//!
//! Every script runs under `bash -c` on the remote host (hooks are often written for bash:
//! `source ~/.nvm/nvm.sh && npm ci`), with `set -e` so the first failing command fails the step.

use crate::ecosystem::model::Deploy;
use crate::host::ssh::quote;
use anyhow::Result;

/// The paths of one deploy target, quoted once for every script.
pub struct Layout {
    path: String,
    source: String,
    current: String,
    shared: String,
    deploys: String,
    /// `export NAME=value` lines for the target's `env` (hooks see it, as pm2-deploy's
    /// post-deploy does).
    exports: String,
}

impl Layout {
    pub fn new(deploy: &Deploy) -> Result<Layout> {
        let base = deploy.path.trim_end_matches('/');
        let base = if base.is_empty() { "/" } else { base };
        let q = |suffix: &str| -> Result<String> {
            Ok(quote(&format!("{base}{suffix}"))?.into_owned())
        };
        let mut exports = String::new();
        for (name, value) in &deploy.env {
            // pm2-deploy upper-cases the names it exports.
            let name = name.to_uppercase();
            let mut chars = name.chars();
            let shell_name = chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !shell_name {
                anyhow::bail!(
                    "deploy env: {name:?} cannot be exported to the hooks (not a shell variable name)"
                );
            }
            exports.push_str(&format!("export {name}={}\n", quote(value)?));
        }
        Ok(Layout {
            exports,
            path: q("")?,
            source: q("/source")?,
            current: q("/current")?,
            shared: q("/shared")?,
            deploys: q("/.deploys")?,
        })
    }
}

/// The branch a ref names: `origin/main` → `main` (as pm2-deploy's `${ref#*/}`).
pub fn branch_of(git_ref: &str) -> &str {
    git_ref.split_once('/').map_or(git_ref, |(_, b)| b)
}

fn strict(body: &str) -> String {
    format!("set -e\n{body}")
}

/// A hook: runs in `current` with `$SHARED` and the target's `env` set, as pm2-deploy's
/// hooks do.
pub fn hook(layout: &Layout, command: &str) -> String {
    strict(&format!(
        "cd {current}\nexport SHARED={shared}\n{exports}{command}",
        current = layout.current,
        shared = layout.shared,
        exports = layout.exports
    ))
}

/// `pre-setup` runs before the directories exist: in the login directory.
pub fn pre_setup(command: &str) -> String {
    strict(command)
}

pub fn make_dirs(layout: &Layout) -> String {
    strict(&format!(
        "mkdir -p {p}/shared/logs {p}/shared/pids {source}",
        p = layout.path,
        source = layout.source
    ))
}

pub fn clone(layout: &Layout, deploy: &Deploy) -> Result<String> {
    Ok(strict(&format!(
        "git clone --branch {branch} {repo} {source}",
        branch = quote(branch_of(&deploy.git_ref))?,
        repo = quote(&deploy.repo)?,
        source = layout.source
    )))
}

pub fn link_current(layout: &Layout) -> String {
    strict(&format!(
        "ln -sfn {source} {current}",
        source = layout.source,
        current = layout.current
    ))
}

pub fn fetch(layout: &Layout) -> String {
    strict(&format!(
        "cd {source}\ngit fetch --all --tags --force",
        source = layout.source
    ))
}

/// Checks out the ref to deploy as `branch` (pm2-deploy's: `origin/main` as `main`, see
/// [`branch_of`]), discarding local edits to tracked files (a release is exactly the commit).
/// A ref without a remote part (`main`) means the remote's branch when there is one, else a
/// tag or commit.
pub fn checkout_ref(layout: &Layout, git_ref: &str, branch: &str) -> Result<String> {
    Ok(strict(&format!(
        "cd {source}\n\
         target={r}\n\
         if git rev-parse -q --verify \"origin/$target^{{commit}}\" >/dev/null; then target=\"origin/$target\"; fi\n\
         git checkout --force -B {branch} \"$target\"",
        source = layout.source,
        r = quote(git_ref)?,
        branch = quote(branch)?
    )))
}

/// Checks out an earlier release's commit (detached: the branch keeps following the remote).
pub fn checkout_commit(layout: &Layout, commit: &str) -> Result<String> {
    Ok(strict(&format!(
        "cd {source}\ngit checkout --force --detach {c}",
        source = layout.source,
        c = quote(commit)?
    )))
}

/// Appends the commit now in `source` to `.deploys`.
pub fn record_release(layout: &Layout) -> String {
    strict(&format!(
        "cd {source}\ngit rev-parse --short HEAD >> {deploys}",
        source = layout.source,
        deploys = layout.deploys
    ))
}

/// The `n`th newest release (1 = the current one), or a clear failure when there are fewer.
pub fn nth_release(layout: &Layout, n: u32) -> String {
    strict(&format!(
        "test -f {deploys} || {{ echo 'no release recorded yet (run `deploy ENV update` first)' >&2; exit 1; }}\n\
         count=$(wc -l < {deploys})\n\
         if [ \"$count\" -lt {n} ]; then echo \"only $count release(s) recorded, there is no release {n} back\" >&2; exit 1; fi\n\
         tail -n {n} {deploys} | head -n 1 | cut -d ' ' -f 1",
        deploys = layout.deploys
    ))
}

pub fn current_commit(layout: &Layout) -> String {
    strict(&format!(
        "cd {source}\ngit rev-parse --short HEAD",
        source = layout.source
    ))
}

/// Releases newest first, numbered from 0 (the current one), as pm2-deploy lists them.
pub fn list_releases(layout: &Layout) -> String {
    strict(&format!(
        "test -f {deploys} || exit 0\ntac {deploys} | awk '{{printf \"%d\\t%s\\n\", NR-1, $0}}'",
        deploys = layout.deploys
    ))
}

/// `exec CMD`: in `current`, as pm2-deploy runs it.
pub fn exec(layout: &Layout, command: &str) -> String {
    strict(&format!(
        "cd {current}\n{command}",
        current = layout.current
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Deploy {
        Deploy {
            span: Default::default(),
            user: None,
            hosts: vec!["h".into()],
            git_ref: "origin/main".into(),
            repo: "/srv/git/app.git".into(),
            path: path.into(),
            ssh_options: vec![],
            key: None,
            pre_setup: None,
            post_setup: None,
            pre_deploy_local: None,
            pre_deploy: None,
            post_deploy: None,
            test: None,
            env: Default::default(),
        }
    }

    #[test]
    fn branches_as_pm2_deploy_derives_them() {
        assert_eq!(branch_of("origin/main"), "main");
        assert_eq!(branch_of("origin/feature/x"), "feature/x");
        assert_eq!(branch_of("main"), "main");
    }

    #[test]
    fn paths_are_quoted_once() {
        let d = target("/srv/my app/");
        let l = Layout::new(&d).unwrap();
        assert_eq!(
            link_current(&l),
            "set -e\nln -sfn '/srv/my app/source' '/srv/my app/current'"
        );
        assert_eq!(
            clone(&l, &d).unwrap(),
            "set -e\ngit clone --branch main /srv/git/app.git '/srv/my app/source'"
        );
    }

    #[test]
    fn hooks_run_in_current_with_shared_set() {
        let l = Layout::new(&target("/srv/app")).unwrap();
        assert_eq!(
            hook(&l, "npm ci && echo ok"),
            "set -e\ncd /srv/app/current\nexport SHARED=/srv/app/shared\nnpm ci && echo ok"
        );
    }

    #[test]
    fn hooks_get_the_targets_env_upper_cased() {
        let mut d = target("/srv/app");
        d.env.insert("node_env".into(), "prod 'eu'".into());
        let l = Layout::new(&d).unwrap();
        assert_eq!(
            hook(&l, "npm ci"),
            "set -e\ncd /srv/app/current\nexport SHARED=/srv/app/shared\n\
             export NODE_ENV=\"prod 'eu'\"\nnpm ci"
        );
        d.env.insert("a b".into(), "x".into());
        assert!(Layout::new(&d).is_err());
    }

    #[test]
    fn a_commit_with_shell_characters_stays_one_word() {
        let l = Layout::new(&target("/srv/app")).unwrap();
        let s = checkout_commit(&l, "abc; rm -rf /").unwrap();
        assert!(
            s.ends_with("git checkout --force --detach 'abc; rm -rf /'"),
            "{s}"
        );
    }
}
