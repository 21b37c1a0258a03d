//! `apply`: make the host run what an ecosystem file says, touching only what differs.
//!
//! plan ─▶ `fingerprint` (stamped on each service) ─▶ `diff` (pure: plan + state + what
//! systemd reports) ─▶ `execute` (transient units over D-Bus, progress on stderr).
//! `live_units` reads the systemd side of the diff; `run` is the `apply` verb, from a
//! loaded ecosystem to what was done.

pub mod diff;
pub mod execute;
mod fingerprint;
pub mod report;
pub mod run;

pub use diff::{diff, Action, Change, CompanionChange, DesiredApp, Diff, LiveUnit, Options};
pub use execute::{execute, Failure, Interrupted};
pub use fingerprint::{companion_fingerprint, fingerprint, fingerprinted, stamp, stamped};

use crate::systemd::{Client, FINGERPRINT_VAR};
use anyhow::Result;

/// Every unit pm2ctl owns that systemd has loaded, with the fingerprint of each service.
pub fn live_units(client: &Client) -> Result<Vec<LiveUnit>> {
    let listed: Vec<_> = client
        .list_owned()?
        .into_iter()
        // A name systemd merely knows of (referenced, never loaded) is free to create.
        .filter(|u| !matches!(u.load_state.as_str(), "not-found" | "stub"))
        .collect();
    let services: Vec<String> = listed
        .iter()
        .filter(|u| u.name.ends_with(".service"))
        .map(|u| u.name.clone())
        .collect();
    let states = client.read_states(&services)?;
    Ok(listed
        .into_iter()
        .map(|u| {
            let state = states.iter().find(|s| s.name == u.name);
            LiveUnit {
                fingerprint: state
                    .and_then(|s| s.env_var(FINGERPRINT_VAR))
                    .map(String::from),
                n_restarts: state
                    .and_then(|s| s.service.as_ref()?.n_restarts)
                    .unwrap_or(0),
                limits: state
                    .and_then(|s| s.service.as_ref())
                    .map(|s| s.live_values())
                    .unwrap_or_default(),
                transient_file: state
                    .filter(|s| s.unit.transient == Some(true))
                    .and_then(|s| s.unit.fragment_path.clone()),
                name: u.name,
                active_state: u.active_state,
            }
        })
        .collect())
}

/// `roll instances 0, 1 one at a time (why)`, as the dry run and the progress say it.
pub(crate) fn describe_roll(instances: &[u32], reason: &str) -> String {
    let list: Vec<String> = instances.iter().map(u32::to_string).collect();
    format!(
        "roll instance{} {} one at a time ({reason})",
        if instances.len() == 1 { "" } else { "s" },
        list.join(", ")
    )
}

pub(crate) fn describe_limits(limits: &[crate::unit::live::LiveChange]) -> String {
    let what: Vec<String> = limits.iter().map(|c| c.describe()).collect();
    format!(
        "update in place: {} (its instances keep running)",
        what.join(", ")
    )
}

/// The diff as `--dry-run` prints it: one line per app, `+` create, `~` roll, update in
/// place, replace or restart, `-` stop or prune, `=` unchanged.
pub fn render(diff: &Diff) -> String {
    let mut out = String::new();
    for change in &diff.changes {
        let (mark, what) = match &change.action {
            Action::Create => ('+', "create".to_string()),
            Action::Replace { reason } => ('~', format!("replace ({reason})")),
            Action::Roll {
                reason,
                instances,
                extra,
                companions,
                limits,
            } => {
                let mut parts = Vec::new();
                if !instances.is_empty() {
                    parts.push(describe_roll(instances, reason));
                }
                if !limits.is_empty() {
                    parts.push(describe_limits(limits));
                }
                if !extra.is_empty() {
                    parts.push(format!(
                        "remove {} (beyond the file's count; the others keep running)",
                        extra.join(", ")
                    ));
                }
                if companions.is_some() {
                    parts.push("update its cron timer, watch agent or memory check".to_string());
                }
                ('~', parts.join(", "))
            }
            Action::Repair {
                instances,
                companions,
                limits,
            } => {
                let list: Vec<String> = instances.iter().map(u32::to_string).collect();
                let mut parts = Vec::new();
                if !limits.is_empty() {
                    parts.push(describe_limits(limits));
                }
                if !list.is_empty() {
                    parts.push(format!(
                        "restart instances {} (not running)",
                        list.join(", ")
                    ));
                }
                match companions {
                    Some(CompanionChange::Down) => parts
                        .push("re-create its cron timer or watch agent (not running)".to_string()),
                    Some(CompanionChange::Changed) => parts.push(
                        "update its cron timer, watch agent or memory check (changed; the app \
                         keeps running)"
                            .to_string(),
                    ),
                    None => {}
                }
                ('~', parts.join(", "))
            }
            Action::Unchanged => ('=', "unchanged".to_string()),
            Action::LeftStopped => ('=', "stopped (`pm2ctl start` runs it)".to_string()),
            Action::Stop => ('-', "stop (recorded as stopped)".to_string()),
            Action::Prune => ('-', "prune (no longer in the file)".to_string()),
        };
        out.push_str(&format!("{mark} {}: {what}\n", change.app));
    }
    for orphan in &diff.orphans {
        out.push_str(&format!(
            "  {orphan}: no longer in the file, left running (--prune removes it)\n"
        ));
    }
    if diff.is_empty() {
        out.push_str("nothing to change\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dry_run_lines_say_what_would_happen() {
        let change = |app: &str, action| Change {
            app: app.into(),
            action,
            live: Vec::new(),
        };
        let diff = Diff {
            changes: vec![
                change("api", Action::Create),
                change(
                    "web",
                    Action::Replace {
                        reason: "x runs another definition".into(),
                    },
                ),
                change("jobs", Action::Unchanged),
                change("old", Action::Prune),
            ],
            orphans: vec!["gone".into()],
        };
        assert_eq!(
            render(&diff),
            "+ api: create\n~ web: replace (x runs another definition)\n= jobs: unchanged\n\
             - old: prune (no longer in the file)\n  gone: no longer in the file, left running \
             (--prune removes it)\n"
        );
        let quiet = Diff {
            changes: vec![change("jobs", Action::Unchanged)],
            orphans: Vec::new(),
        };
        assert_eq!(render(&quiet), "= jobs: unchanged\nnothing to change\n");
    }
}
