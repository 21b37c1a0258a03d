//! A plan as people read it (`pm2ctl plan`, the golden files) and as JSON (`--json`).
//! The text form lists every unit and every property with its D-Bus signature, in the
//! order they are sent.

use super::Plan;
use crate::unit::render::{duration_text, signal_text};
use crate::unit::{Property, UnitSpec, Value};
use serde_json::json;
use std::fmt::Write;

/// The readable text form: one block per app, one line per property (lists indented).
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    for app in &plan.apps {
        let _ = writeln!(
            out,
            "app {:?} namespace={:?} instances={}",
            app.name,
            app.namespace,
            app.instances.len(),
        );
        for unit in app.units() {
            let _ = writeln!(out, "  {}", unit.name);
            for p in &unit.properties {
                property_text(&mut out, p);
            }
        }
    }
    if !plan.warnings.is_empty() {
        out.push_str("warnings:\n");
        for w in &plan.warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    out
}

fn property_text(out: &mut String, p: &Property) {
    let sig = p.value.signature();
    let head = format!("    {} {sig} =", p.name);
    let _ = match &p.value {
        Value::Bool(b) => writeln!(out, "{head} {b}"),
        Value::I32(i) if p.name.ends_with("Signal") => {
            writeln!(out, "{head} {i}  # {}", signal_text(*i))
        }
        Value::I32(i) => writeln!(out, "{head} {i}"),
        Value::U32(u) => writeln!(out, "{head} {u}"),
        Value::U64(t) if p.name.ends_with("USec") => {
            writeln!(out, "{head} {t}  # {}", duration_text(*t))
        }
        Value::U64(t) if *t == u64::MAX => writeln!(out, "{head} {t}  # infinity"),
        Value::U64(t) if p.name == "CapabilityBoundingSet" || p.name == "AmbientCapabilities" => {
            let names = crate::unit::sandbox::names(*t);
            let names = if names.is_empty() {
                "none".to_string()
            } else {
                names.join(" ")
            };
            writeln!(out, "{head} {t}  # {names}")
        }
        Value::U64(t) => writeln!(out, "{head} {t}"),
        Value::Str(s) => writeln!(out, "{head} {s:?}"),
        Value::StrList(items) => {
            let _ = writeln!(out, "{head}");
            for i in items {
                let _ = writeln!(out, "      {i:?}");
            }
            Ok(())
        }
        Value::Exec(cmds) => {
            let _ = writeln!(out, "{head}");
            for c in cmds {
                let _ = writeln!(
                    out,
                    "      path={:?} ignore_failure={}",
                    c.path, c.ignore_failure
                );
                let _ = writeln!(out, "      argv={:?}", c.argv);
            }
            Ok(())
        }
        Value::Pairs(pairs) => {
            let _ = writeln!(out, "{head}");
            for (a, b) in pairs {
                let _ = writeln!(out, "      ({a:?}, {b:?})");
            }
            Ok(())
        }
        Value::Bytes(items) => {
            let _ = writeln!(out, "{head}");
            for i in items {
                let _ = writeln!(out, "      {:?}", String::from_utf8_lossy(i));
            }
            Ok(())
        }
        Value::ExitStatus(codes, signals) => {
            writeln!(out, "{head} ({codes:?}, {signals:?})")
        }
        Value::Filter(allow, names) => {
            let kind = if *allow { "allow" } else { "deny" };
            writeln!(out, "{head} ({allow}, {names:?})  # {kind}")
        }
    };
}

/// The JSON form: `{"apps": [{name, namespace, instances, units: [{name, kind,
/// properties: [{name, signature, value}]}]}], "warnings": [..]}`.
pub fn json(plan: &Plan) -> serde_json::Value {
    let apps: Vec<_> = plan
        .apps
        .iter()
        .map(|app| {
            let units: Vec<_> = app.units().map(unit_json).collect();
            json!({
                "name": app.name,
                "namespace": app.namespace,
                "instances": app.instances.len(),
                "units": units,
            })
        })
        .collect();
    json!({ "apps": apps, "warnings": plan.warnings })
}

fn unit_json(unit: &UnitSpec) -> serde_json::Value {
    let props: Vec<_> = unit
        .properties
        .iter()
        .map(|p| {
            json!({
                "name": p.name,
                "signature": p.value.signature(),
                "value": value_json(&p.value),
            })
        })
        .collect();
    json!({
        "name": unit.name,
        "kind": unit.kind.suffix(),
        "properties": props,
    })
}

fn value_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Bool(b) => json!(b),
        Value::I32(i) => json!(i),
        Value::U32(u) => json!(u),
        Value::U64(t) => json!(t),
        Value::Str(s) => json!(s),
        Value::StrList(l) => json!(l),
        Value::Exec(cmds) => json!(cmds
            .iter()
            .map(|c| json!([c.path, c.argv, c.ignore_failure]))
            .collect::<Vec<_>>()),
        Value::Pairs(p) => json!(p.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>()),
        Value::Bytes(items) => json!(items
            .iter()
            .map(|i| String::from_utf8_lossy(i).into_owned())
            .collect::<Vec<_>>()),
        Value::ExitStatus(codes, signals) => json!([codes, signals]),
        Value::Filter(allow, names) => json!([allow, names]),
    }
}
