//! Which apps a `logs`/`flush` target means. Apps are known from three places, merged: the
//! state store (with PM2 ids), the units systemd has loaded, and the journal itself
//! (`PM2_APP` values; a user's unit names), so the logs of an app that was deleted or started
//! by hand remain reachable.

use super::query::{AppFields, Matcher, Selection};
use crate::host::Host;
use crate::plan::{AppPlan, Scope};
use crate::target::{self, TargetError};
use crate::unit::name::{app_name, parse_instance_unit};
use crate::unit::Value;
use std::collections::{BTreeMap, HashMap};

/// One instance that a target can select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub pm_id: u32,
    pub name: String,
    pub namespace: String,
    pub index: u32,
    /// Known only from the journal: stands for every instance of the app.
    pub whole_app: bool,
}

target::process_by_fields!(Candidate);

/// Everything known about apps that have logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    pub candidates: Vec<Candidate>,
    /// `PM2_NAMESPACE` values found in the journal.
    pub journal_namespaces: Vec<String>,
    /// The journal fields of each app the state store knows, by name (a user unit's lines
    /// lack them: see `UserJournal`).
    pub fields: HashMap<String, AppFields>,
}

/// A target, resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolved {
    pub selection: Selection,
    pub pm_ids: HashMap<(String, u32), u32>,
    /// The longest selected app name, for aligned prefixes.
    pub name_width: usize,
    /// The target was `all` (or none).
    pub every_app: bool,
}

impl Known {
    /// Merges instances from the store or systemd (`procs`: pm_id, name, namespace, index)
    /// with app names found in the journal.
    pub fn merge(
        procs: Vec<(u32, String, String, u32)>,
        journal_apps: Vec<String>,
        journal_namespaces: Vec<String>,
    ) -> Known {
        let mut candidates: Vec<Candidate> = procs
            .into_iter()
            .map(|(pm_id, name, namespace, index)| Candidate {
                pm_id,
                name,
                namespace,
                index,
                whole_app: false,
            })
            .collect();
        let mut next_id = candidates.iter().map(|c| c.pm_id + 1).max().unwrap_or(0);
        for name in journal_apps {
            if candidates.iter().any(|c| c.name == name) {
                continue;
            }
            candidates.push(Candidate {
                pm_id: next_id,
                name,
                // Unknown: such an app is reachable by name, and by namespace through
                // `journal_namespaces`.
                namespace: String::new(),
                index: 0,
                whole_app: true,
            });
            next_id += 1;
        }
        Known {
            candidates,
            journal_namespaces,
            fields: HashMap::new(),
        }
    }

    /// Resolves `target` (none or `all`: every app) with PM2's rules.
    pub fn resolve(&self, target: Option<&str>) -> Result<Resolved, TargetError> {
        let pm_ids: HashMap<(String, u32), u32> = self
            .candidates
            .iter()
            .filter(|c| !c.whole_app)
            .map(|c| ((c.name.clone(), c.index), c.pm_id))
            .collect();
        let target = target.filter(|t| *t != "all");
        let Some(target) = target else {
            // Every app by name, so journalctl's `--lines` counts only their lines; when
            // none is known, no match at all (and every PM2_APP entry is shown).
            let mut names: Vec<&str> = self.candidates.iter().map(|c| c.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            return Ok(Resolved {
                name_width: names.iter().map(|n| n.chars().count()).max().unwrap_or(0),
                selection: Selection {
                    matchers: names
                        .iter()
                        .map(|n| Matcher::App {
                            name: n.to_string(),
                            instances: None,
                        })
                        .collect(),
                },
                pm_ids,
                every_app: true,
            });
        };
        let selected = match target::select(&[target], &self.candidates) {
            Ok(selected) => selected,
            Err(TargetError::NotFound(word)) if self.journal_namespaces.contains(&word) => {
                // A namespace known only from the journal.
                return Ok(Resolved {
                    selection: Selection {
                        matchers: vec![Matcher::Namespace(word)],
                    },
                    name_width: self
                        .candidates
                        .iter()
                        .map(|c| c.name.chars().count())
                        .max()
                        .unwrap_or(0),
                    pm_ids,
                    every_app: false,
                });
            }
            Err(e) => return Err(e),
        };
        // app -> selected instance indexes (None: all of them)
        let mut apps: BTreeMap<&str, Option<Vec<u32>>> = BTreeMap::new();
        for c in &selected {
            let all_of_app = c.whole_app
                || self
                    .candidates
                    .iter()
                    .filter(|o| o.name == c.name)
                    .all(|o| selected.iter().any(|s| s.pm_id == o.pm_id));
            let entry = apps.entry(c.name.as_str()).or_insert(Some(Vec::new()));
            match (all_of_app, entry.as_mut()) {
                (true, _) => *entry = None,
                (false, Some(list)) => list.push(c.index),
                (false, None) => {}
            }
        }
        Ok(Resolved {
            name_width: apps.keys().map(|n| n.chars().count()).max().unwrap_or(0),
            selection: Selection {
                matchers: apps
                    .into_iter()
                    .map(|(name, instances)| Matcher::App {
                        name: name.to_string(),
                        instances,
                    })
                    .collect(),
            },
            pm_ids,
            every_app: false,
        })
    }
}

/// Gathers what the store, systemd and the journal know. Each source is optional: without
/// a reachable systemd or a state file, the journal alone still finds the logs.
pub fn discover(host: &Host, scope: Scope) -> Known {
    let state = match crate::state::read_current(host, scope) {
        Ok(state) => state,
        Err(e) => {
            tracing::debug!("no state store for logs: {e:#}");
            crate::state::State::default()
        }
    };
    // The same process list (and ids) as the lifecycle verbs, when systemd answers.
    let procs: Vec<(u32, String, String, u32)> = match crate::systemd::Client::connect(host, scope)
        .and_then(|client| crate::lifecycle::processes::list(&client, &state))
    {
        Ok(procs) => procs
            .into_iter()
            .map(|p| (p.pm_id, p.name, p.namespace, p.index))
            .collect(),
        Err(e) => {
            tracing::debug!("no systemd units for logs: {e:#}");
            state
                .processes()
                .iter()
                .map(|p| {
                    (
                        p.instance.pm_id,
                        p.app.name.clone(),
                        p.app.namespace.clone(),
                        p.instance.index,
                    )
                })
                .collect()
        }
    };
    let (journal_apps, journal_namespaces) = match scope {
        Scope::System => (
            journal_values(host, "PM2_APP"),
            journal_values(host, "PM2_NAMESPACE"),
        ),
        // A user's units carry no PM2_* field (see `UserJournal`): their names say which app.
        Scope::User => {
            let mut apps: Vec<String> = journal_values(host, "_SYSTEMD_USER_UNIT")
                .iter()
                .filter_map(|unit| parse_instance_unit(unit).map(|u| app_name(u.escaped)))
                .collect();
            apps.sort_unstable();
            apps.dedup();
            (apps, Vec::new())
        }
    };
    let fields = state
        .apps
        .values()
        .map(|record| {
            let fields = AppFields {
                namespace: record.namespace.clone(),
                date_format: date_format_of(&record.plan),
            };
            (record.name.clone(), fields)
        })
        .collect();
    Known {
        fields,
        ..Known::merge(procs, journal_apps, journal_namespaces)
    }
}

/// The app's `log_date_format`, as its units carry it (`PM2_LOG_DATE_FORMAT`).
fn date_format_of(plan: &AppPlan) -> Option<String> {
    let service = &plan.instances.first()?.service;
    let Some(Value::Bytes(fields)) = service.get("LogExtraFields") else {
        return None;
    };
    fields
        .iter()
        .find_map(|field| field.strip_prefix(b"PM2_LOG_DATE_FORMAT="))
        .map(|format| String::from_utf8_lossy(format).into_owned())
}

/// `journalctl -F FIELD`: every value the field has in the journal (every journal file the
/// caller may read: see `UserJournal` for why not `--user`).
fn journal_values(host: &Host, field: &str) -> Vec<String> {
    let mut cmd = std::process::Command::new("journalctl");
    cmd.args(["--no-pager", "--quiet", "-F", field]);
    let output = crate::host::remote::localize(host, cmd).and_then(|mut cmd| Ok(cmd.output()?));
    match output {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect(),
        Ok(out) => {
            tracing::debug!(
                "journalctl -F {field}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            Vec::new()
        }
        Err(e) => {
            tracing::debug!("journalctl -F {field}: {e}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Known {
        Known::merge(
            vec![
                (0, "api".into(), "prod".into(), 0),
                (1, "api".into(), "prod".into(), 1),
                (2, "worker".into(), "default".into(), 0),
            ],
            vec!["api".into(), "old-job".into()],
            vec!["prod".into(), "default".into(), "batch".into()],
        )
    }

    fn app(name: &str, instances: Option<Vec<u32>>) -> Matcher {
        Matcher::App {
            name: name.into(),
            instances,
        }
    }

    #[test]
    fn all_is_every_known_app_by_name() {
        for target in [None, Some("all")] {
            let r = known().resolve(target).unwrap();
            assert_eq!(
                r.selection.matchers,
                [app("api", None), app("old-job", None), app("worker", None)]
            );
            assert_eq!(r.name_width, 7);
            assert!(r.every_app);
            assert_eq!(r.pm_ids.get(&("api".into(), 1)), Some(&1));
        }
        let nothing = Known::default().resolve(None).unwrap();
        assert!(nothing.selection.matchers.is_empty());
    }

    #[test]
    fn names_ids_namespaces_and_regexes() {
        let k = known();
        assert_eq!(
            k.resolve(Some("api")).unwrap().selection.matchers,
            [app("api", None)]
        );
        assert_eq!(
            k.resolve(Some("1")).unwrap().selection.matchers,
            [app("api", Some(vec![1]))]
        );
        assert_eq!(
            k.resolve(Some("prod")).unwrap().selection.matchers,
            [app("api", None)]
        );
        assert_eq!(
            k.resolve(Some("old-job")).unwrap().selection.matchers,
            [app("old-job", None)]
        );
        assert_eq!(
            k.resolve(Some("/^w/")).unwrap().selection.matchers,
            [app("worker", None)]
        );
        assert_eq!(
            k.resolve(Some("batch")).unwrap().selection.matchers,
            [Matcher::Namespace("batch".into())]
        );
    }

    #[test]
    fn unknown_targets_are_pm2s_errors() {
        assert_eq!(
            known().resolve(Some("nope")).unwrap_err(),
            TargetError::NotFound("nope".into())
        );
        assert_eq!(
            known().resolve(Some("42")).unwrap_err(),
            TargetError::UnknownId(42)
        );
    }
}
