//! Conversions from tree nodes to model values. Each returns a `Problem` saying what
//! was expected and what was found; the caller adds file, position and key.

use super::tree::{quote_short, Entry, Node, Value};
use super::units;
use std::collections::BTreeMap;
use std::time::Duration;

/// What is wrong with one value, before it is placed in a file and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub help: Option<String>,
}

impl Problem {
    pub fn new(message: impl Into<String>) -> Problem {
        Problem {
            message: message.into(),
            help: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Problem {
        self.help = Some(help.into());
        self
    }
}

pub type Conv<T> = Result<T, Problem>;

pub fn expected(what: &str, node: &Node) -> Problem {
    Problem::new(format!("expected {what}, found {}", node.describe()))
}

/// Longest name accepted; unit names are limited to 255 bytes after escaping.
pub const MAX_NAME_BYTES: usize = 200;

pub fn string(node: &Node) -> Conv<String> {
    match &node.value {
        Value::String(s) if s.contains('\0') => Err(Problem::new("contains a NUL byte")),
        Value::String(s) => Ok(s.clone()),
        _ => Err(expected("a string", node)),
    }
}

pub fn non_empty_string(node: &Node) -> Conv<String> {
    let s = string(node)?;
    if s.trim().is_empty() {
        return Err(Problem::new("must not be empty"));
    }
    Ok(s)
}

pub fn boolean(node: &Node) -> Conv<bool> {
    match node.value {
        Value::Bool(b) => Ok(b),
        _ => Err(expected("true or false", node)),
    }
}

/// An integer; JSON's `3.0` counts as 3 since JavaScript has no separate integers.
pub fn integer(node: &Node) -> Conv<i64> {
    match node.value {
        Value::Integer(i) => Ok(i),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(expected("an integer", node)),
    }
}

/// A name (app name, namespace): non-empty, at most 200 bytes, no control characters.
pub fn check_name(name: &str) -> Conv<()> {
    if name.trim().is_empty() {
        return Err(Problem::new("must not be empty"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Problem::new(format!(
            "is {} bytes long; at most {MAX_NAME_BYTES} are allowed",
            name.len()
        )));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(Problem::new(format!(
            "contains the control character {:?}; names may hold spaces, `/` and any printable character",
            c
        )));
    }
    Ok(())
}

pub fn name(node: &Node) -> Conv<String> {
    let s = string(node)?;
    check_name(&s)?;
    Ok(s)
}

/// An environment variable name as used for `instance_var`/`increment_var`.
pub fn env_var_name(node: &Node) -> Conv<String> {
    let s = string(node)?;
    let valid = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(Problem::new(format!(
            "{} is not a valid environment variable name (letters, digits and `_`, not starting with a digit)",
            quote_short(&s)
        )));
    }
    Ok(s)
}

/// A duration: integer milliseconds or a string with a unit. `allow_zero` is false
/// for timeouts where zero has no meaning.
pub fn duration(node: &Node, allow_zero: bool) -> Conv<Duration> {
    let d = match &node.value {
        Value::Integer(i) if *i < 0 => return Err(Problem::new("a duration cannot be negative")),
        Value::Integer(i) => Duration::from_millis(i.unsigned_abs()),
        Value::Float(f) if *f < 0.0 => return Err(Problem::new("a duration cannot be negative")),
        Value::Float(f) if f.is_finite() && *f < 1.0e15 => Duration::from_millis(f.round() as u64),
        Value::String(s) => units::parse_duration(s).map_err(Problem::new)?,
        _ => {
            return Err(expected(
                "a duration (milliseconds, or a string like \"500ms\", \"10s\", \"5m\", \"1h\")",
                node,
            ))
        }
    };
    if d > units::MAX_DURATION {
        return Err(Problem::new(units::too_long()));
    }
    if !allow_zero && d.is_zero() {
        return Err(Problem::new("must be greater than zero"));
    }
    Ok(d)
}

/// A size in bytes: an integer, or a string like `"500M"` (1024-based). Zero is refused.
pub fn size(node: &Node) -> Conv<u64> {
    let bytes = match &node.value {
        Value::Integer(i) if *i < 0 => return Err(Problem::new("a size cannot be negative")),
        Value::Integer(i) => i.unsigned_abs(),
        Value::Float(f) if *f < 0.0 => return Err(Problem::new("a size cannot be negative")),
        // JSON writes big byte counts as floats (`1.5e9`); whole numbers are fine.
        Value::Float(f) if f.fract() == 0.0 && *f < 1.0e18 => *f as u64,
        Value::String(s) => units::parse_size(s).map_err(Problem::new)?,
        _ => {
            return Err(expected(
                "a size (bytes, or a string like \"512M\" or \"1G\")",
                node,
            ))
        }
    };
    if bytes == 0 {
        return Err(Problem::new("must be greater than zero"));
    }
    Ok(bytes)
}

/// A string (split shell-style) or an array of strings; numbers in an array are
/// taken as their text (`args = ["--port", 3000]`).
pub fn string_or_list(node: &Node) -> Conv<Vec<String>> {
    match &node.value {
        Value::String(s) if s.contains('\0') => Err(Problem::new("contains a NUL byte")),
        Value::String(s) => units::split_args(s).map_err(Problem::new),
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        _ => Err(expected("a string or an array of strings", node)),
    }
}

/// A string or an array of strings, taken as they are (no splitting).
pub fn string_list(node: &Node) -> Conv<Vec<String>> {
    match &node.value {
        Value::String(_) => Ok(vec![string(node)?]),
        Value::Array(items) => items.iter().map(scalar_text).collect(),
        _ => Err(expected("a string or an array of strings", node)),
    }
}

fn scalar_text(node: &Node) -> Conv<String> {
    match &node.value {
        Value::String(_) => string(node),
        Value::Integer(i) => Ok(i.to_string()),
        Value::Float(f) => Ok(f.to_string()),
        _ => Err(expected("a string", node)),
    }
}

/// `env`-style table: every value becomes a string. Numbers and booleans become their
/// text, arrays and tables are JSON-encoded (as PM2 does), nulls are dropped.
/// Problems in an env table: the entry at fault (`None`: the table itself) and why.
pub type EnvProblems<'a> = Vec<(Option<&'a Entry>, Problem)>;

pub fn env_table(node: &Node) -> Result<BTreeMap<String, String>, EnvProblems<'_>> {
    let Value::Table(entries) = &node.value else {
        return Err(vec![(
            None,
            expected("a table of environment variables", node),
        )]);
    };
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for entry in entries {
        if let Err(p) = check_env_key(&entry.key) {
            problems.push((Some(entry), p));
            continue;
        }
        let text = match &entry.value.value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Datetime(d) => d.clone(),
            Value::Array(_) | Value::Table(_) => to_json(&entry.value).to_string(),
        };
        if text.contains('\0') {
            problems.push((Some(entry), Problem::new("value contains a NUL byte")));
            continue;
        }
        out.insert(entry.key.clone(), text);
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn check_env_key(key: &str) -> Conv<()> {
    if key.is_empty() {
        return Err(Problem::new(
            "an environment variable name must not be empty",
        ));
    }
    if key.contains('=') || key.chars().any(|c| c.is_control()) {
        return Err(Problem::new(
            "an environment variable name must not contain `=` or control characters",
        ));
    }
    Ok(())
}

/// The node as JSON, for env values that are tables or arrays.
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Integer(i) => J::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::String(s) | Value::Datetime(s) => J::String(s.clone()),
        Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Table(entries) => J::Object(
            entries
                .iter()
                .map(|e| (e.key.clone(), to_json(&e.value)))
                .collect(),
        ),
    }
}
