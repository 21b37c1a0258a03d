//! `pm2ctl deploy [FILE] ENV [setup|update|ref REF [BRANCH]|revert [N]|curr|prev|list|exec
//! CMD…] [--force] [--no-tests]`: PM2's deploys, from the file's `[deploy.ENV]` (see
//! `crate::deploy`).
//!
//! FILE defaults to `ecosystem.toml`, else `ecosystem.config.js`, in the current directory;
//! with no verb, `update`, as `pm2 deploy ENV`. Exit codes: 0 every host done, 1 a step
//! failed on some host (each failure named with its host and step) or ENV is unknown, 2 an
//! invalid file or command line.

use super::UsageError;
use crate::deploy::{self, Verb};
use anyhow::{bail, Result};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `[FILE] ENV [VERB]`; VERB is setup, update (the default), ref REF [BRANCH], revert
    /// [N], curr, prev, list or exec CMD. `--force` (`-f`) deploys from a checkout with
    /// unpushed changes; `--no-tests` (`-T`) skips the `test` hook.
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "[FILE] ENV [VERB]"
    )]
    pub words: Vec<String>,
}

/// The command line, understood.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    file: PathBuf,
    env: String,
    verb: Verb,
    force: bool,
    tests: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let request = parse(&args.words, |p| p.exists())?;
    let eco = crate::load::ecosystem(&request.file)?;
    let Some(target) = eco.deploy.get(&request.env) else {
        let known: Vec<&str> = eco.deploy.keys().map(String::as_str).collect();
        let known = if known.is_empty() {
            "it has no deploy target".to_string()
        } else {
            format!("it has: {}", known.join(", "))
        };
        bail!(
            "pm2ctl deploy: {}: no [deploy.{}] ({known})",
            request.file.display(),
            request.env
        );
    };
    let options = deploy::Options {
        force: request.force,
        tests: request.tests,
        local_dir: eco.base_dir.clone(),
    };
    let failures = deploy::run(target, &request.verb, &options)?;
    if failures.is_empty() {
        return Ok(());
    }
    eprintln!();
    for failure in &failures {
        eprintln!("pm2ctl deploy {}: {failure}", request.env);
    }
    bail!(
        "pm2ctl deploy {}: failed on {} of {} host{}",
        request.env,
        failures.len(),
        target.hosts.len(),
        if target.hosts.len() == 1 { "" } else { "s" }
    )
}

/// `[FILE] ENV [VERB ARGS…]`, with `--force`/`--no-tests` anywhere before `exec`'s command;
/// `exists` says whether a word names an existing file.
fn parse(words: &[String], exists: impl Fn(&std::path::Path) -> bool) -> Result<Request> {
    let mut force = false;
    let mut tests = true;
    let mut kept = Vec::new();
    let mut in_command = false;
    for word in words {
        match word.as_str() {
            "--force" | "-f" | "-F" if !in_command => force = true,
            "--no-tests" | "-T" if !in_command => tests = false,
            _ => {
                // What follows `exec` is the command's own.
                in_command = in_command || (!kept.is_empty() && (word == "exec" || word == "run"));
                kept.push(word.clone());
            }
        }
    }
    let words = kept.as_slice();
    let (file, rest) = match words.split_first() {
        Some((first, rest)) if crate::lifecycle::targets::is_ecosystem_file(first) => {
            (PathBuf::from(first), rest)
        }
        _ => {
            let toml = PathBuf::from("ecosystem.toml");
            let file = if exists(&toml) {
                toml
            } else {
                PathBuf::from("ecosystem.config.js")
            };
            (file, words)
        }
    };
    let Some((env, verb_words)) = rest.split_first() else {
        return Err(UsageError(
            "deploy: which environment? (`pm2ctl deploy production setup`)".into(),
        )
        .into());
    };
    Ok(Request {
        file,
        env: env.clone(),
        verb: parse_verb(verb_words)?,
        force,
        tests,
    })
}

fn parse_verb(words: &[String]) -> Result<Verb> {
    let usage = |m: String| -> Result<Verb> { Err(UsageError(m).into()) };
    let Some((verb, args)) = words.split_first() else {
        return Ok(Verb::Update);
    };
    let no_args = |v: Verb| -> Result<Verb> {
        if args.is_empty() {
            Ok(v)
        } else {
            usage(format!(
                "deploy {verb}: takes no argument (got `{}`)",
                args.join(" ")
            ))
        }
    };
    match verb.as_str() {
        "setup" => no_args(Verb::Setup),
        "update" => no_args(Verb::Update),
        "ref" => match args {
            [git_ref] => Ok(Verb::Ref {
                git_ref: git_ref.clone(),
                branch: None,
            }),
            [git_ref, branch] => Ok(Verb::Ref {
                git_ref: git_ref.clone(),
                branch: Some(branch.clone()),
            }),
            _ => usage("deploy ref: which ref? (`deploy production ref origin/v2`)".into()),
        },
        "curr" | "current" => no_args(Verb::Curr),
        "prev" | "previous" => no_args(Verb::Prev),
        "list" => no_args(Verb::List),
        "revert" => match args {
            [] => Ok(Verb::Revert(1)),
            [n] => match n.parse::<u32>() {
                Ok(n) if n > 0 => Ok(Verb::Revert(n)),
                _ => usage(format!(
                    "deploy revert {n}: expected how many releases back (1, 2, …)"
                )),
            },
            _ => usage("deploy revert: takes one number".into()),
        },
        "exec" | "run" => {
            if args.is_empty() {
                bail!(UsageError(format!("deploy {verb}: which command?")));
            }
            Ok(Verb::Exec(args.join(" ")))
        }
        other => usage(format!(
            "deploy: unknown verb `{other}`; expected setup, update, ref REF, revert [N], curr, \
             prev, list or exec CMD"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parsed(s: &str) -> Request {
        parse(&words(s), |p| p == std::path::Path::new("ecosystem.toml")).unwrap()
    }

    #[test]
    fn the_file_is_optional_and_update_the_default() {
        assert_eq!(
            parsed("production"),
            Request {
                file: "ecosystem.toml".into(),
                env: "production".into(),
                verb: Verb::Update,
                force: false,
                tests: true,
            }
        );
        let r = parsed("deploy/eco.json staging revert 2");
        assert_eq!(r.file, PathBuf::from("deploy/eco.json"));
        assert_eq!(r.env, "staging");
        assert_eq!(r.verb, Verb::Revert(2));
        let r = parse(&words("production"), |_| false).unwrap();
        assert_eq!(r.file, PathBuf::from("ecosystem.config.js"));
    }

    #[test]
    fn verbs_and_their_arguments() {
        assert_eq!(parsed("p revert").verb, Verb::Revert(1));
        assert_eq!(parsed("p current").verb, Verb::Curr);
        assert_eq!(parsed("p prev").verb, Verb::Prev);
        assert_eq!(parsed("p list").verb, Verb::List);
        assert_eq!(parsed("p exec ls -la").verb, Verb::Exec("ls -la".into()));
        assert_eq!(
            parsed("p ref origin/v2").verb,
            Verb::Ref {
                git_ref: "origin/v2".into(),
                branch: None
            }
        );
        assert_eq!(
            parsed("p ref abc123 hotfix").verb,
            Verb::Ref {
                git_ref: "abc123".into(),
                branch: Some("hotfix".into())
            }
        );
        let r = parsed("--force p update --no-tests");
        assert!(r.force && !r.tests);
        assert_eq!(r.verb, Verb::Update);
        // The command of `exec` keeps its own flags.
        let r = parsed("p exec ls -f");
        assert_eq!(r.verb, Verb::Exec("ls -f".into()));
        assert!(!r.force);
        for bad in [
            "p revert 0",
            "p revert x",
            "p exec",
            "p setup now",
            "p ref",
            "p ref a b c",
            "eco.toml",
        ] {
            let err = parse(&words(bad), |_| true).unwrap_err();
            assert!(err.downcast_ref::<UsageError>().is_some(), "{bad}: {err}");
        }
    }
}
