//! PM2's target selection: which processes `stop api`, `restart 3`, `delete /^web-/`
//! or `reset all` act on (pm2-reference.md §2.2, PM2's `_operate`).
//!
//! Each target is tried in PM2's order:
//! 1. `all`: every process;
//! 2. `/regex/`: processes whose name the regex matches (anywhere in the name, as JS's `test`);
//! 3. a non-numeric word: processes with that name, else with that namespace;
//! 4. a number: looked up as a name (an app may be called "455"), then a namespace, then a `pm_id`.
//!
//! Several targets select the union, in the order given, each process once. Unlike PM2,
//! which acts on the targets it resolved before reaching a bad one, every target is
//! resolved before anything is done, so a typo in the last one changes nothing.

use regex::Regex;
use std::collections::HashSet;
use thiserror::Error;

/// What target selection needs to know about a process (one instance of an app).
pub trait Process {
    fn pm_id(&self) -> u32;
    fn name(&self) -> &str;
    fn namespace(&self) -> &str;
}

/// Implements [`Process`] for a struct whose `pm_id`, `name` and `namespace` fields say it.
macro_rules! process_by_fields {
    ($type:ty) => {
        impl $crate::target::Process for $type {
            fn pm_id(&self) -> u32 {
                self.pm_id
            }
            fn name(&self) -> &str {
                &self.name
            }
            fn namespace(&self) -> &str {
                &self.namespace
            }
        }
    };
}
pub(crate) use process_by_fields;

/// Why a target selected nothing. The messages are PM2's, so scripts matching them
/// keep working; every one of them exits 1, as PM2 does.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TargetError {
    /// `all` or a `/regex/` matched no process.
    #[error("[PM2][WARN] No process found")]
    NoProcess,
    /// A word that is neither a name nor a namespace.
    #[error("[PM2][ERROR] Process or Namespace {0} not found")]
    NotFound(String),
    /// A number that is no name, namespace or pm_id.
    #[error("[PM2][ERROR] Process {0} not found")]
    UnknownId(u32),
    #[error("[PM2][ERROR] invalid regex {target}: {reason}")]
    BadRegex { target: String, reason: String },
    #[error("[PM2][ERROR] no process name, namespace, id or `all` given")]
    Empty,
}

impl TargetError {
    /// PM2's exit code for this error.
    pub fn exit_code(&self) -> u8 {
        1
    }
}

/// One parsed target.
#[derive(Debug, Clone)]
pub enum Target {
    All,
    Regex(Regex),
    /// A word that does not parse as a number.
    Word(String),
    /// A number: name, namespace, then pm_id.
    Number(String, u32),
}

impl Target {
    pub fn parse(text: &str) -> Result<Target, TargetError> {
        if text == "all" {
            return Ok(Target::All);
        }
        if let Ok(id) = text.parse::<u32>() {
            return Ok(Target::Number(text.to_string(), id));
        }
        if text.len() >= 2 && text.starts_with('/') && text.ends_with('/') {
            // PM2 builds the regex from the text with every `/` removed.
            let pattern = text.replace('/', "");
            return Regex::new(&pattern)
                .map(Target::Regex)
                .map_err(|e| TargetError::BadRegex {
                    target: text.to_string(),
                    reason: e.to_string(),
                });
        }
        Ok(Target::Word(text.to_string()))
    }

    /// The processes this target selects, in list order; an error when it selects none.
    pub fn select<'a, P: Process>(&self, procs: &'a [P]) -> Result<Vec<&'a P>, TargetError> {
        let matching = |keep: &dyn Fn(&P) -> bool| -> Vec<&'a P> {
            procs.iter().filter(|p| keep(p)).collect()
        };
        match self {
            Target::All => non_empty(matching(&|_| true), || TargetError::NoProcess),
            Target::Regex(re) => non_empty(matching(&|p| re.is_match(p.name())), || {
                TargetError::NoProcess
            }),
            Target::Word(word) => {
                let by_name = matching(&|p| p.name() == word);
                if !by_name.is_empty() {
                    return Ok(by_name);
                }
                non_empty(matching(&|p| p.namespace() == word), || {
                    TargetError::NotFound(word.clone())
                })
            }
            Target::Number(text, id) => {
                let by_name = matching(&|p| p.name() == text);
                if !by_name.is_empty() {
                    return Ok(by_name);
                }
                let by_namespace = matching(&|p| p.namespace() == text);
                if !by_namespace.is_empty() {
                    return Ok(by_namespace);
                }
                non_empty(matching(&|p| p.pm_id() == *id), || {
                    TargetError::UnknownId(*id)
                })
            }
        }
    }
}

fn non_empty<T>(found: Vec<T>, none: impl FnOnce() -> TargetError) -> Result<Vec<T>, TargetError> {
    if found.is_empty() {
        Err(none())
    } else {
        Ok(found)
    }
}

/// Resolves every target against the process list: the union of their selections, in
/// the order the targets were given, each process once. Fails on the first target that
/// selects nothing, before anything is acted on.
pub fn select<'a, P: Process, S: AsRef<str>>(
    targets: &[S],
    procs: &'a [P],
) -> Result<Vec<&'a P>, TargetError> {
    if targets.is_empty() {
        return Err(TargetError::Empty);
    }
    let mut seen = HashSet::new();
    let mut selected = Vec::new();
    for text in targets {
        for p in Target::parse(text.as_ref())?.select(procs)? {
            if seen.insert(p.pm_id()) {
                selected.push(p);
            }
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct P(u32, &'static str, &'static str);

    impl Process for P {
        fn pm_id(&self) -> u32 {
            self.0
        }
        fn name(&self) -> &str {
            self.1
        }
        fn namespace(&self) -> &str {
            self.2
        }
    }

    fn list() -> Vec<P> {
        vec![
            P(0, "api", "web"),
            P(1, "api", "web"),
            P(2, "worker", "jobs"),
            P(3, "455", "default"),
            P(4, "web-admin", "web"),
            P(5, "mailer", "7"),
        ]
    }

    fn ids(targets: &[&str]) -> Result<Vec<u32>, TargetError> {
        let procs = list();
        select(targets, &procs).map(|v| v.iter().map(|p| p.pm_id()).collect())
    }

    #[test]
    fn all_selects_every_process_and_fails_on_an_empty_list() {
        assert_eq!(ids(&["all"]), Ok(vec![0, 1, 2, 3, 4, 5]));
        let empty: Vec<P> = Vec::new();
        let err = select(&["all"], &empty).unwrap_err();
        assert_eq!(err, TargetError::NoProcess);
        assert_eq!(err.to_string(), "[PM2][WARN] No process found");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn a_name_wins_over_a_namespace_of_the_same_word() {
        assert_eq!(ids(&["api"]), Ok(vec![0, 1]));
        // "web" is only a namespace here.
        assert_eq!(ids(&["web"]), Ok(vec![0, 1, 4]));
        assert_eq!(ids(&["jobs"]), Ok(vec![2]));
    }

    #[test]
    fn an_unknown_word_is_pm2s_error() {
        let err = ids(&["nope"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "[PM2][ERROR] Process or Namespace nope not found"
        );
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn a_number_is_a_name_then_a_namespace_then_an_id() {
        assert_eq!(ids(&["455"]), Ok(vec![3]), "app named 455");
        assert_eq!(ids(&["7"]), Ok(vec![5]), "namespace named 7");
        assert_eq!(ids(&["2"]), Ok(vec![2]), "pm_id 2");
        let err = ids(&["42"]).unwrap_err();
        assert_eq!(err.to_string(), "[PM2][ERROR] Process 42 not found");
    }

    #[test]
    fn a_regex_matches_anywhere_in_the_name() {
        assert_eq!(ids(&["/^web-/"]), Ok(vec![4]));
        assert_eq!(ids(&["/er/"]), Ok(vec![2, 5]));
        assert_eq!(ids(&["/^zzz/"]), Err(TargetError::NoProcess));
        assert!(matches!(ids(&["/(/"]), Err(TargetError::BadRegex { .. })));
    }

    #[test]
    fn several_targets_select_the_union_once_each_in_order() {
        assert_eq!(ids(&["worker", "api", "0", "web"]), Ok(vec![2, 0, 1, 4]));
    }

    #[test]
    fn one_bad_target_fails_the_whole_selection() {
        assert_eq!(
            ids(&["api", "nope"]),
            Err(TargetError::NotFound("nope".into()))
        );
    }

    #[test]
    fn no_target_is_an_error() {
        assert_eq!(ids(&[]), Err(TargetError::Empty));
    }

    #[test]
    fn a_lone_slash_is_a_word_not_a_regex() {
        assert_eq!(ids(&["/"]), Err(TargetError::NotFound("/".into())));
    }
}
