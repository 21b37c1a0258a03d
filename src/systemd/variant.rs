//! `unit::Value` → D-Bus variants, one arm per signature in `unit::Value`.

use crate::unit::{Property, UnitSpec, Value};
use zbus::Variant;

/// The variant carrying `value`, with exactly the signature `value.signature()` names.
pub fn to_variant(value: &Value) -> Variant<'static> {
    match value {
        Value::Bool(b) => Variant::from(*b),
        Value::I32(i) => Variant::from(*i),
        Value::U32(u) => Variant::from(*u),
        Value::U64(t) => Variant::from(*t),
        Value::Str(s) => Variant::from(s.clone()),
        Value::StrList(list) => Variant::from(list.clone()),
        Value::Exec(commands) => Variant::from(
            commands
                .iter()
                .map(|c| (c.path.clone(), literal_argv(&c.argv), c.ignore_failure))
                .collect::<Vec<(String, Vec<String>, bool)>>(),
        ),
        Value::Pairs(pairs) => Variant::from(pairs.clone()),
        Value::Bytes(items) => Variant::from(items.clone()),
        Value::ExitStatus(statuses, signals) => Variant::from((statuses.clone(), signals.clone())),
        Value::Filter(allow, names) => Variant::from((*allow, names.clone())),
    }
}

/// An `Exec*` argv that systemd runs as written. systemd expands `$NAME` and `${NAME}` in every
/// word of a command line when it runs it, whether the command came from a unit file or over
/// D-Bus (`ExecStart a(sasb)` has no flag against it), and reads `$$` as one `$`; pm2ctl's
/// arguments are literal, so each `$` is doubled here, as `unit::render` does in unit files.
fn literal_argv(argv: &[String]) -> Vec<String> {
    argv.iter().map(|a| a.replace('$', "$$")).collect()
}

/// A unit's properties as `StartTransientUnit`'s `a(sv)`.
pub fn properties(spec: &UnitSpec) -> Vec<(&str, Variant<'static>)> {
    spec.properties
        .iter()
        .map(|Property { name, value }| (*name, to_variant(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::unit::ExecCommand;

    #[test]
    fn exec_arguments_keep_their_dollars() {
        let value = Value::Exec(vec![ExecCommand {
            path: "/opt/$x/node".into(),
            argv: vec!["/opt/$x/node".into(), "$HOME".into(), "${A}$$".into()],
            ignore_failure: false,
        }]);
        let sent: Vec<(String, Vec<String>, bool)> =
            to_variant(&value).try_into().expect("an a(sasb)");
        assert_eq!(sent[0].0, "/opt/$x/node", "the path is not expanded");
        assert_eq!(sent[0].1, ["/opt/$$x/node", "$$HOME", "$${A}$$$$"]);
    }

    #[test]
    fn every_value_gets_the_signature_it_declares() {
        let values = [
            Value::Bool(true),
            Value::I32(-3),
            Value::U32(7),
            Value::U64(u64::MAX),
            Value::Str("x".into()),
            Value::StrList(vec!["A=1".into()]),
            Value::StrList(Vec::new()),
            Value::Exec(vec![ExecCommand {
                path: "/usr/bin/node".into(),
                argv: vec!["node".into(), "app.js".into()],
                ignore_failure: false,
            }]),
            Value::Exec(Vec::new()),
            Value::Pairs(vec![("Stream".into(), "127.0.0.1:3000".into())]),
            Value::Bytes(vec![b"PM2_APP=api".to_vec()]),
            Value::Bytes(Vec::new()),
            Value::ExitStatus(vec![0, 2], vec![15]),
            Value::ExitStatus(Vec::new(), Vec::new()),
            Value::Filter(true, vec!["@system-service".into()]),
            Value::Filter(false, Vec::new()),
        ];
        for value in &values {
            let variant = to_variant(value);
            assert_eq!(
                variant.value_signature().to_string(),
                value.signature(),
                "{value:?}"
            );
        }
    }
}
