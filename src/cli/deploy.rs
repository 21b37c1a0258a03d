//! `pm2ctl deploy [FILE] ENV [setup|update|revert [N]|curr|prev|list|exec CMD…]`: PM2's
//! deploys, from the file's `[deploy.ENV]` (see `crate::deploy`).
//!
//! FILE defaults to `ecosystem.toml`, else `ecosystem.config.js`, in the current directory;
//! with no verb, `update`, as `pm2 deploy ENV`. Exit codes: 0 every host done, 1 a step
//! failed on some host (each failure named with its host and step) or ENV is unknown, 2 an
//! invalid file or command line.

use super::UsageError;
use crate::deploy::{self, Verb};
use crate::ecosystem;
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// `[FILE] ENV [VERB]`; VERB is setup, update (the default), revert [N], curr, prev, list
    /// or exec CMD.
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
}

pub fn run(args: Args) -> ExitCode {
    let request = match parse(&args.words, |p| p.exists()) {
        Ok(r) => r,
        Err(e) => return super::finish(Err(e)),
    };
    let eco = match ecosystem::load(&request.file) {
        Ok(eco) => eco,
        Err(e) => return super::finish(Err(e.into())),
    };
    let Some(target) = eco.deploy.get(&request.env) else {
        let known: Vec<&str> = eco.deploy.keys().map(String::as_str).collect();
        let known = if known.is_empty() {
            "it has no deploy target".to_string()
        } else {
            format!("it has: {}", known.join(", "))
        };
        eprintln!(
            "pm2ctl deploy: {}: no [deploy.{}] ({known})",
            request.file.display(),
            request.env
        );
        return ExitCode::from(1);
    };
    let failures = match deploy::run(target, &request.verb) {
        Ok(f) => f,
        Err(e) => return super::finish(Err(e)),
    };
    if failures.is_empty() {
        return ExitCode::SUCCESS;
    }
    eprintln!();
    for failure in &failures {
        eprintln!("pm2ctl deploy {}: {failure}", request.env);
    }
    eprintln!(
        "pm2ctl deploy {}: failed on {} of {} host{}",
        request.env,
        failures.len(),
        target.hosts.len(),
        if target.hosts.len() == 1 { "" } else { "s" }
    );
    ExitCode::from(1)
}

/// `[FILE] ENV [VERB ARGS…]`; `exists` says whether a word names an existing file.
fn parse(words: &[String], exists: impl Fn(&std::path::Path) -> bool) -> Result<Request> {
    let (file, rest) = match words.split_first() {
        Some((first, rest)) if super::start::is_ecosystem_file(first) => {
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
            "deploy: unknown verb `{other}`; expected setup, update, revert [N], curr, prev, \
             list or exec CMD"
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
                verb: Verb::Update
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
        for bad in [
            "p revert 0",
            "p revert x",
            "p exec",
            "p setup now",
            "p ref v1",
            "eco.toml",
        ] {
            let err = parse(&words(bad), |_| true).unwrap_err();
            assert!(err.downcast_ref::<UsageError>().is_some(), "{bad}: {err}");
        }
    }
}
