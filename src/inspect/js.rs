//! A JavaScript value with ordered keys, printed two ways: as `JSON.stringify` does (`jlist`)
//! and as Node's `util.inspect(value, false, null, false)` does (`prettylist`, a JS literal
//! that PM2's e2e helpers grep: `status: 'online'`, `restart_time: 2`, `node_args: []`).
//!
//! Keys keep the order they were added in, as in the objects PM2 prints (serde_json's map
//! would sort them unless a crate-wide feature changed every other JSON pm2ctl writes).

use std::fmt::Write;

/// A JSON-compatible JavaScript value.
#[derive(Debug, Clone, PartialEq)]
pub enum Js {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Js>),
    Object(Vec<(String, Js)>),
}

impl From<&str> for Js {
    fn from(s: &str) -> Js {
        Js::Str(s.to_string())
    }
}

impl From<String> for Js {
    fn from(s: String) -> Js {
        Js::Str(s)
    }
}

impl From<bool> for Js {
    fn from(b: bool) -> Js {
        Js::Bool(b)
    }
}

impl From<u32> for Js {
    fn from(n: u32) -> Js {
        Js::Int(i64::from(n))
    }
}

impl From<u64> for Js {
    fn from(n: u64) -> Js {
        i64::try_from(n).map_or(Js::Float(n as f64), Js::Int)
    }
}

impl From<i64> for Js {
    fn from(n: i64) -> Js {
        Js::Int(n)
    }
}

impl From<f64> for Js {
    fn from(n: f64) -> Js {
        Js::Float(n)
    }
}

impl Js {
    /// An object built in key order.
    pub fn object() -> ObjectBuilder {
        ObjectBuilder(Vec::new())
    }

    /// The value at `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Js> {
        match self {
            Js::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// `JSON.stringify(value)`: one line, no spaces.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Js::Null => out.push_str("null"),
            Js::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Js::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Js::Float(f) => out.push_str(&number_text(*f)),
            Js::Str(s) => out.push_str(&json_string(s)),
            Js::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write_json(out);
                }
                out.push(']');
            }
            Js::Object(entries) => {
                out.push('{');
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&json_string(key));
                    out.push(':');
                    value.write_json(out);
                }
                out.push('}');
            }
        }
    }

    /// `util.inspect(value, false, null, false)` with Node's defaults (`breakLength` 128,
    /// `compact` 3). Not reproduced: grouping of arrays of more than six short items into
    /// columns, and the `... N more items` cut after 100 array items.
    pub fn to_inspect(&self) -> String {
        Inspector::default().format(self, 0).text
    }
}

/// Adds entries to an object in order.
pub struct ObjectBuilder(Vec<(String, Js)>);

impl ObjectBuilder {
    pub fn with(mut self, key: &str, value: impl Into<Js>) -> ObjectBuilder {
        self.0.push((key.to_string(), value.into()));
        self
    }

    /// Adds the entry only when there is a value.
    pub fn with_some<T: Into<Js>>(self, key: &str, value: Option<T>) -> ObjectBuilder {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }

    /// Adds an entry unless the key is already there (the first value wins).
    pub fn with_absent(mut self, key: &str, value: impl Into<Js>) -> ObjectBuilder {
        if !self.0.iter().any(|(k, _)| k == key) {
            self.0.push((key.to_string(), value.into()));
        }
        self
    }

    pub fn build(self) -> Js {
        Js::Object(self.0)
    }
}

/// A number as JavaScript prints it: integers without a fraction, `NaN`/`Infinity` as
/// `null` in JSON (what `JSON.stringify` does).
fn number_text(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    if f == f.trunc() && f.abs() < 1e21 {
        return format!("{}", f as i128);
    }
    format!("{f}")
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// What formatting one value produced: its text, and the depth of the last non-empty
/// object or array formatted inside it (Node's `ctx.currentDepth`, which decides whether
/// an object may go on one line).
struct Formatted {
    text: String,
    last_depth: usize,
}

/// Node's `util.inspect` state that matters here.
#[derive(Default)]
struct Inspector {
    /// Spaces before nested lines (`ctx.indentationLvl`).
    indentation: usize,
}

const BREAK_LENGTH: usize = 128;
const COMPACT: usize = 3;
/// Strings shorter than this are never split at newlines (Node's `kMinLineWidth`).
const MIN_LINE_WIDTH: usize = 16;

impl Inspector {
    fn format(&mut self, value: &Js, depth: usize) -> Formatted {
        let primitive = |text: String| Formatted {
            text,
            last_depth: depth,
        };
        match value {
            Js::Null => primitive("null".into()),
            Js::Bool(b) => primitive(b.to_string()),
            Js::Int(n) => primitive(n.to_string()),
            Js::Float(f) if f.is_nan() => primitive("NaN".into()),
            Js::Float(f) if f.is_infinite() => {
                primitive(if *f > 0.0 { "Infinity" } else { "-Infinity" }.into())
            }
            Js::Float(f) => primitive(number_text(*f)),
            Js::Str(s) => primitive(self.string(s)),
            Js::Array(items) if items.is_empty() => primitive("[]".into()),
            Js::Object(entries) if entries.is_empty() => primitive("{}".into()),
            Js::Array(items) => {
                let mut last_depth = depth;
                let output: Vec<String> = items
                    .iter()
                    .map(|item| {
                        self.indentation += 2;
                        let f = self.format(item, depth + 1);
                        self.indentation -= 2;
                        if is_filled(item) {
                            last_depth = f.last_depth;
                        }
                        f.text
                    })
                    .collect();
                self.reduce(output, ("[", "]"), depth, last_depth)
            }
            Js::Object(entries) => {
                let mut last_depth = depth;
                let output: Vec<String> = entries
                    .iter()
                    .map(|(key, item)| {
                        self.indentation += 2;
                        let f = self.format(item, depth + 1);
                        self.indentation -= 2;
                        if is_filled(item) {
                            last_depth = f.last_depth;
                        }
                        format!("{}: {}", key_text(key), f.text)
                    })
                    .collect();
                self.reduce(output, ("{", "}"), depth, last_depth)
            }
        }
    }

    /// Node's `reduceToSingleString`: one line when the innermost levels fit, else one
    /// entry per line.
    fn reduce(
        &self,
        output: Vec<String>,
        braces: (&str, &str),
        depth: usize,
        last_depth: usize,
    ) -> Formatted {
        let formatted = |text| Formatted { text, last_depth };
        if last_depth - depth < COMPACT {
            let start = output.len() + self.indentation + braces.0.len() + 10;
            if below_break_length(&output, start) {
                let joined = output.join(", ");
                if !joined.contains('\n') {
                    return formatted(format!("{} {joined} {}", braces.0, braces.1));
                }
            }
        }
        let indentation = format!("\n{}", " ".repeat(self.indentation));
        formatted(format!(
            "{}{indentation}  {}{indentation}{}",
            braces.0,
            output.join(&format!(",{indentation}  ")),
            braces.1
        ))
    }

    /// A string literal; long strings with newlines are split after each one, joined by `+`.
    fn string(&self, s: &str) -> String {
        let len = s.encode_utf16().count();
        if len > MIN_LINE_WIDTH
            && len + self.indentation + 4 > BREAK_LENGTH
            && s.trim_end_matches('\n').contains('\n')
        {
            let joiner = format!(" +\n{}", " ".repeat(self.indentation + 2));
            return s
                .split_inclusive('\n')
                .map(quote)
                .collect::<Vec<_>>()
                .join(&joiner);
        }
        quote(s)
    }
}

/// A non-empty array or object: only those set Node's `ctx.currentDepth`.
fn is_filled(value: &Js) -> bool {
    match value {
        Js::Array(items) => !items.is_empty(),
        Js::Object(entries) => !entries.is_empty(),
        _ => false,
    }
}

fn below_break_length(output: &[String], start: usize) -> bool {
    let mut total = output.len() + start;
    if total + output.len() > BREAK_LENGTH {
        return false;
    }
    for entry in output {
        total += entry.encode_utf16().count();
        if total > BREAK_LENGTH {
            return false;
        }
    }
    true
}

/// An object key: bare when it is an identifier, else quoted.
fn key_text(key: &str) -> String {
    let mut chars = key.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if identifier {
        key.to_string()
    } else {
        quote(key)
    }
}

/// Node's `strEscape`: single quotes unless the string has some and no double quotes (then
/// double), or has both and no backticks (then backticks); control characters escaped.
fn quote(s: &str) -> String {
    let quote = if !s.contains('\'') {
        '\''
    } else if !s.contains('"') {
        '"'
    } else if !s.contains('`') && !s.contains("${") {
        '`'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Js {
        Js::Array(vec![Js::object()
            .with("pid", 4568u32)
            .with("name", "web")
            .with(
                "pm2_env",
                Js::object()
                    .with("status", "online")
                    .with("node_args", Js::Array(vec![]))
                    .with("watch", Js::Array(vec!["server".into(), "client".into()]))
                    .with("NODE_APP_INSTANCE", 1u32)
                    .with("web-dev", "{}")
                    .with("axm_monitor", Js::object().build())
                    .build(),
            )
            .with("pm_id", 1u32)
            .with(
                "monit",
                Js::object()
                    .with("memory", 54984704u64)
                    .with("cpu", 0.4)
                    .build(),
            )
            .build()])
    }

    #[test]
    fn json_keeps_key_order_on_one_line() {
        assert_eq!(
            sample().to_json(),
            r#"[{"pid":4568,"name":"web","pm2_env":{"status":"online","node_args":[],"watch":["server","client"],"NODE_APP_INSTANCE":1,"web-dev":"{}","axm_monitor":{}},"pm_id":1,"monit":{"memory":54984704,"cpu":0.4}}]"#
        );
        assert_eq!(Js::Float(3.0).to_json(), "3");
        assert_eq!(Js::Float(f64::NAN).to_json(), "null");
        assert_eq!(Js::from("a\"b\n").to_json(), r#""a\"b\n""#);
    }

    /// What Node 20 prints for `util.inspect(sample, false, null, false)`.
    #[test]
    fn inspect_matches_node() {
        let expected = "\
[
  {
    pid: 4568,
    name: 'web',
    pm2_env: {
      status: 'online',
      node_args: [],
      watch: [ 'server', 'client' ],
      NODE_APP_INSTANCE: 1,
      'web-dev': '{}',
      axm_monitor: {}
    },
    pm_id: 1,
    monit: { memory: 54984704, cpu: 0.4 }
  }
]";
        assert_eq!(sample().to_inspect(), expected);
    }

    #[test]
    fn inspect_quotes_like_node() {
        assert_eq!(Js::from("it's").to_inspect(), "\"it's\"");
        assert_eq!(Js::from("a'b\"c").to_inspect(), "`a'b\"c`");
        assert_eq!(Js::from("tab\there\\").to_inspect(), "'tab\\there\\\\'");
        assert_eq!(Js::from("\u{1}").to_inspect(), "'\\x01'");
        let short = Js::object().with("a b", 1u32).with("_x1", true).build();
        assert_eq!(short.to_inspect(), "{ 'a b': 1, _x1: true }");
    }

    /// Node decides on one line from the depth of the *last* nested object formatted.
    #[test]
    fn nesting_depth_counts_from_the_last_nested_value() {
        let deep = || {
            Js::object()
                .with(
                    "b",
                    Js::object()
                        .with("c", Js::object().with("d", 1u32).build())
                        .build(),
                )
                .build()
        };
        let list = || Js::Array(vec![Js::object().with("x", 1u32).build()]);
        let deep_first = Js::object().with("a", deep()).with("e", list()).build();
        assert_eq!(
            deep_first.to_inspect(),
            "{ a: { b: { c: { d: 1 } } }, e: [ { x: 1 } ] }"
        );
        let deep_last = Js::object().with("e", list()).with("a", deep()).build();
        assert_eq!(
            deep_last.to_inspect(),
            "{\n  e: [ { x: 1 } ],\n  a: { b: { c: { d: 1 } } }\n}"
        );
    }

    #[test]
    fn long_objects_break_one_entry_per_line() {
        let mut o = Js::object();
        for i in 0..8 {
            o = o.with(&format!("key_number_{i}"), format!("value number {i}"));
        }
        let text = o.build().to_inspect();
        assert!(
            text.starts_with("{\n  key_number_0: 'value number 0',\n"),
            "{text}"
        );
        assert!(text.ends_with("\n}"), "{text}");
    }
}
