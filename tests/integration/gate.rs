//! Version gating checked against the real thing: every property the plan can emit for the
//! systemd a sandbox runs (all golden cases of tests/plan, planned for that version, so after
//! src/plan/gate.rs has dropped what it lacks) must exist on that manager's unit interfaces,
//! with the D-Bus signature the plan sends. A property added to the plan without its version
//! in the gate table fails here on every release that lacks it (`PM2CTL_TEST_SYSTEMD`, see
//! README.md).

use crate::common;

use common::plan_cases;
use common::sandbox::{assert_success, stdout};
use common::Sandbox;
use pm2ctl::unit::UnitKind;
use std::collections::{BTreeMap, BTreeSet};

/// Properties whose transient form (what `StartTransientUnit` takes) differs from the one
/// the unit object shows: (name as sent, signature as sent, name shown, signature shown).
/// Each is systemd's documented pair (org.freedesktop.systemd1(5)).
const WRITE_FORMS: &[(&str, &str, &str, &str)] = &[
    ("ExecStart", "a(sasb)", "ExecStart", "a(sasbttttuii)"),
    ("ExecStartPre", "a(sasb)", "ExecStartPre", "a(sasbttttuii)"),
    (
        "ExecStartPost",
        "a(sasb)",
        "ExecStartPost",
        "a(sasbttttuii)",
    ),
    ("ExecReload", "a(sasb)", "ExecReload", "a(sasbttttuii)"),
    ("ExecStop", "a(sasb)", "ExecStop", "a(sasbttttuii)"),
    ("ExecStopPost", "a(sasb)", "ExecStopPost", "a(sasbttttuii)"),
    (
        "ExecCondition",
        "a(sasb)",
        "ExecCondition",
        "a(sasbttttuii)",
    ),
    ("TimersCalendar", "a(ss)", "TimersCalendar", "a(sst)"),
    ("TimersMonotonic", "a(st)", "TimersMonotonic", "a(stt)"),
    // Write-only: `StandardOutput` shows `append:PATH` once set.
    ("StandardOutputFileToAppend", "s", "StandardOutput", "s"),
    ("StandardErrorFileToAppend", "s", "StandardError", "s"),
];

/// The interface of a unit kind's own properties.
fn interface(kind: UnitKind) -> &'static str {
    match kind {
        UnitKind::Service => "org.freedesktop.systemd1.Service",
        UnitKind::Socket => "org.freedesktop.systemd1.Socket",
        UnitKind::Slice => "org.freedesktop.systemd1.Slice",
        UnitKind::Timer => "org.freedesktop.systemd1.Timer",
    }
}

/// Property name → signature, on interface `iface` or the common Unit interface, of an
/// object of unit kind `kind` in the sandbox's manager (a unit it loads for the purpose: the
/// interfaces a unit object has depend on its kind only).
fn manager_properties(sb: &Sandbox, kind: UnitKind) -> BTreeMap<String, String> {
    let unit = format!("pm2ctl-gate-probe.{}", kind.suffix());
    let out = sb.exec(&[
        "busctl",
        "call",
        "org.freedesktop.systemd1",
        "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager",
        "LoadUnit",
        "s",
        &unit,
    ]);
    assert_success("LoadUnit", &out);
    // `o "/org/freedesktop/systemd1/unit/…"`
    let text = stdout(&out);
    let path = text
        .split('"')
        .nth(1)
        .unwrap_or_else(|| panic!("LoadUnit answered {text:?}"))
        .to_string();
    let mut found = BTreeMap::new();
    for iface in ["org.freedesktop.systemd1.Unit", interface(kind)] {
        let out = sb.exec(&[
            "busctl",
            "introspect",
            "--no-pager",
            "--no-legend",
            "org.freedesktop.systemd1",
            &path,
            iface,
        ]);
        assert_success(&format!("introspect {iface}"), &out);
        // `.Name   property   SIGNATURE   VALUE   FLAGS`
        for line in stdout(&out).lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [name, "property", signature, ..] = words[..] {
                found.insert(
                    name.trim_start_matches('.').to_string(),
                    signature.to_string(),
                );
            }
        }
    }
    assert!(
        found.contains_key("Description"),
        "no Unit properties introspected for {unit}: {found:?}"
    );
    found
}

#[test]
fn every_property_the_plan_emits_exists_with_its_signature() {
    let sb = Sandbox::boot();
    let version = sb.systemd_version();

    // (kind, property, signature) → the first case that emits it.
    let mut emitted: BTreeMap<(UnitKind, &'static str, &'static str), String> = BTreeMap::new();
    let cases = plan_cases::cases();
    let mut planned = 0;
    for dir in &cases {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let plan = match plan_cases::plan_case(dir, Some(version)) {
            Ok(Ok(plan)) => plan,
            // Cases of files the plan refuses emit nothing.
            Ok(Err(_)) => continue,
            Err(e) => panic!("case {name}: {e}"),
        };
        planned += 1;
        for unit in plan.units() {
            for p in &unit.properties {
                emitted
                    .entry((unit.kind, p.name, p.value.signature()))
                    .or_insert_with(|| name.clone());
            }
        }
    }
    assert!(planned >= 40, "only {planned} cases planned");
    let kinds: BTreeSet<UnitKind> = emitted.keys().map(|(k, _, _)| *k).collect();
    assert_eq!(
        kinds.len(),
        4,
        "the cases cover every kind of unit: {kinds:?}"
    );

    let mut missing = Vec::new();
    for kind in kinds {
        let shown = manager_properties(&sb, kind);
        for ((_, name, signature), case) in emitted.iter().filter(|((k, _, _), _)| *k == kind) {
            let (shown_name, shown_signature) = WRITE_FORMS
                .iter()
                .find(|(n, s, _, _)| n == name && s == signature)
                .map(|(_, _, n, s)| (*n, *s))
                .unwrap_or((name, signature));
            match shown.get(shown_name) {
                Some(s) if s == shown_signature => {}
                Some(s) => missing.push(format!(
                    "{} {name}: the plan sends `{signature}`, systemd {version} has `{s}` (case {case})",
                    kind.suffix()
                )),
                None => missing.push(format!(
                    "{} {name} ({signature}): systemd {version} has no such property (case {case}); \
                     gate it in src/plan/gate.rs with the version that brought it",
                    kind.suffix()
                )),
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the plan emits what systemd {version} does not take:\n{}",
        missing.join("\n")
    );
}
