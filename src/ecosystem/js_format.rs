//! Reads PM2's own ecosystem files into the format-neutral tree.
//!
//! * `.json` is read as strict JSON, keeping the position of every key and value.
//!   PM2 evaluates `.json` as JavaScript (comments, unquoted keys, expressions), so
//!   when strict parsing fails and `node` is available, the file is evaluated the
//!   same way; positions are then unknown and messages name keys only.
//! * `.js`, `.cjs` and `.mjs` are evaluated by `node` (`require`, or `import()` for
//!   ES modules), which prints the exported object as JSON.

use super::convert::Problem;
use super::model::Span;
use super::tree::{Entry, LineIndex, Node, Value};
use super::Format;
use std::path::Path;
use std::time::Duration;

/// A problem that stops reading the file, with its position when known.
pub type ReadError = (Problem, Option<Span>);

/// How long a configuration script may run: it should only build an object.
pub const NODE_TIMEOUT: Duration = Duration::from_secs(10);

/// Output beyond this is not an ecosystem object (the file itself is limited to 1 MiB).
pub const MAX_NODE_OUTPUT: u64 = 16 * 1024 * 1024;

/// Runs node on a configuration script. The loader is pure: the caller that may start
/// processes (`crate::load`) runs it; [`NoNode`] is for callers that read only formats
/// needing no program.
pub trait RunNode {
    /// Runs `node -e SCRIPT PATH MODE` for at most [`NODE_TIMEOUT`], keeping at most
    /// [`MAX_NODE_OUTPUT`] bytes of each stream.
    fn run(&self, call: &NodeCall<'_>) -> NodeRun;
}

/// What node is asked to run.
pub struct NodeCall<'a> {
    /// The loader, given to `node -e`.
    pub script: &'a str,
    /// The ecosystem file.
    pub path: &'a Path,
    /// `module` or `json` (see [`Source`]).
    pub mode: &'static str,
}

/// How a run of node ended.
pub enum NodeRun {
    Exited {
        success: bool,
        /// As the exit status prints ("exit status: 1").
        status: String,
        stdout: Vec<u8>,
        stderr: Vec<u8>,
    },
    /// node could not be started: the program tried and why.
    NotStarted { program: String, error: String },
    /// It ran longer than [`NODE_TIMEOUT`] and was killed.
    TimedOut,
    /// Waiting for it failed.
    Lost(String),
}

/// No node: every JavaScript file is refused as if node were not installed.
pub struct NoNode;

impl RunNode for NoNode {
    fn run(&self, _call: &NodeCall<'_>) -> NodeRun {
        NodeRun::NotStarted {
            program: "node".into(),
            error: "not available here".into(),
        }
    }
}

pub fn parse(
    path: &Path,
    text: &str,
    format: Format,
    node: &dyn RunNode,
) -> Result<Node, ReadError> {
    match format {
        Format::Json => parse_json_file(path, text, node),
        _ => evaluate_with_node(path, Source::Module, node),
    }
}

fn parse_json_file(path: &Path, text: &str, node: &dyn RunNode) -> Result<Node, ReadError> {
    let strict_error = match parse_strict_json(text) {
        Ok(tree) => return Ok(tree),
        Err(e) => e,
    };
    // PM2 evaluates .json files as JavaScript; do the same when node can.
    match evaluate_with_node(path, Source::JsonAsExpression, node) {
        Ok(tree) => Ok(tree),
        Err((node_problem, _)) if node_problem.message.starts_with(NODE_MISSING) => {
            let (problem, span) = strict_error;
            Err((
                problem.with_help(
                    "PM2 reads .json files as JavaScript; install node to read this one as PM2 \
                     does, or make it strict JSON",
                ),
                span,
            ))
        }
        Err(_) => Err(strict_error),
    }
}

/// Strict JSON with the position of every key and value, or the syntax error and
/// where it is.
pub fn parse_strict_json(text: &str) -> Result<Node, ReadError> {
    let error = match serde_json::from_str::<serde::de::IgnoredAny>(text) {
        Ok(_) => return json_tree(text, true),
        Err(e) => e,
    };
    let position = (error.line() > 0).then(|| Span {
        line: error.line(),
        column: error.column().max(1),
    });
    let message = format!("JSON syntax error: {}", strip_position(&error.to_string()));
    Err((Problem::new(message), position))
}

/// serde_json appends " at line L column C"; the diagnostic shows the position itself.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    }
}

/// Converts JSON text, already checked by serde_json, into the tree. With `spans`,
/// every node records its position. Nesting is bounded here (`MAX_JSON_DEPTH`):
/// serde_json's check of ignored values does not limit it.
pub fn json_tree(text: &str, spans: bool) -> Result<Node, ReadError> {
    let index = LineIndex::new(text);
    let mut walker = JsonWalker {
        text,
        pos: 0,
        index: spans.then_some(&index),
    };
    walker
        .value(0)
        .map_err(|m| (Problem::new(m), walker.span(walker.pos)))
}

/// Deeper than any ecosystem file; keeps the walker's recursion far from the stack's end.
const MAX_JSON_DEPTH: usize = 256;

struct JsonWalker<'a> {
    text: &'a str,
    pos: usize,
    index: Option<&'a LineIndex<'a>>,
}

impl JsonWalker<'_> {
    fn span(&self, at: usize) -> Option<Span> {
        self.index.map(|i| i.span(at))
    }

    fn skip_ws(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start_matches([' ', '\t', '\n', '\r']).len();
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Result<(), String> {
        self.skip_ws();
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!("malformed JSON near byte {}", self.pos))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_JSON_DEPTH {
            return Err(format!("nested more than {MAX_JSON_DEPTH} levels deep"));
        }
        self.skip_ws();
        let start = self.pos;
        let span = self.span(start);
        match self.peek() {
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                } else {
                    loop {
                        self.skip_ws();
                        let key_span = self.span(self.pos);
                        let key = self.string_literal()?;
                        self.expect(b':')?;
                        let value = self.value(depth + 1)?;
                        // Later duplicates win in JavaScript; keep them all so the
                        // validator can report the repetition.
                        entries.push(Entry {
                            key,
                            key_span,
                            value,
                        });
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b'}') => {
                                self.pos += 1;
                                break;
                            }
                            _ => {
                                return Err(format!("malformed JSON object near byte {}", self.pos))
                            }
                        }
                    }
                }
                Ok(Node::new(span, Value::Table(entries)))
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                } else {
                    loop {
                        items.push(self.value(depth + 1)?);
                        self.skip_ws();
                        match self.peek() {
                            Some(b',') => self.pos += 1,
                            Some(b']') => {
                                self.pos += 1;
                                break;
                            }
                            _ => {
                                return Err(format!("malformed JSON array near byte {}", self.pos))
                            }
                        }
                    }
                }
                Ok(Node::new(span, Value::Array(items)))
            }
            Some(b'"') => Ok(Node::new(span, Value::String(self.string_literal()?))),
            Some(_) => {
                let rest = &self.text[self.pos..];
                let len = rest
                    .find([',', '}', ']', ' ', '\t', '\n', '\r'])
                    .unwrap_or(rest.len());
                let token = &rest[..len];
                self.pos += len;
                let value = match serde_json::from_str::<serde_json::Value>(token) {
                    Ok(serde_json::Value::Null) => Value::Null,
                    Ok(serde_json::Value::Bool(b)) => Value::Bool(b),
                    Ok(serde_json::Value::Number(n)) => match n.as_i64() {
                        Some(i) => Value::Integer(i),
                        None => Value::Float(n.as_f64().unwrap_or(f64::INFINITY)),
                    },
                    _ => return Err(format!("malformed JSON value near byte {start}")),
                };
                Ok(Node::new(span, value))
            }
            None => Err("unexpected end of JSON".to_string()),
        }
    }

    /// A string literal at the cursor, unescaped by serde_json.
    fn string_literal(&mut self) -> Result<String, String> {
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            return Err(format!("expected a string near byte {}", self.pos));
        }
        let start = self.pos;
        let mut i = start + 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        if i >= bytes.len() {
            return Err("unterminated JSON string".to_string());
        }
        self.pos = i + 1;
        serde_json::from_str::<String>(&self.text[start..=i])
            .map_err(|e| format!("malformed JSON string: {e}"))
    }
}

/// What node is asked to evaluate.
#[derive(Clone, Copy)]
enum Source {
    /// A CommonJS or ES module: its export is the ecosystem.
    Module,
    /// PM2's `.json`: the text is a JavaScript expression, as `vm.runInThisContext('(' + text + ')')`.
    JsonAsExpression,
}

/// Prefix of the message when node cannot be started.
const NODE_MISSING: &str = "cannot run `node`";

/// Loads the file in node and prints what it exports, after a NUL byte so that
/// anything the file itself prints before is ignored (JSON text never holds a raw NUL).
/// ES modules (`.mjs`, or `.js` under `"type": "module"`) go through `import()` and
/// their `default` export is used, which PM2's `require()` cannot always do.
const LOADER: &str = r#"
const path = require('path');
const file = path.resolve(process.argv[1]);
const mode = process.argv[2];
const fail = (e) => {
  const stack = (e && e.stack) ? String(e.stack) : '';
  const message = (e instanceof Error)
    ? e.name + ': ' + String(e.message).split('\n')[0]
    : 'the file threw ' + String(e);
  // Where in the file it happened: the first stack line naming the file.
  const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const at = stack.match(new RegExp(escaped + ':(\\d+)(?::(\\d+))?'));
  const report = { error: message, line: at ? Number(at[1]) : null, column: at && at[2] ? Number(at[2]) : null };
  process.stderr.write('\u0000' + JSON.stringify(report));
  process.exit(3);
};
const emit = (value) => {
  if (value === undefined) return fail(new Error('the file exports nothing (undefined)'));
  if (typeof value === 'function') return fail(new Error('the file exports a function; PM2 expects an object with `apps`'));
  let json;
  try { json = JSON.stringify(value); } catch (e) { return fail(e); }
  if (json === undefined) return fail(new Error('the export cannot be turned into JSON'));
  process.stdout.write('\u0000' + json, () => process.exit(0));
};
(async () => {
  if (mode === 'json') {
    const text = require('fs').readFileSync(file, 'utf8');
    return emit(require('vm').runInThisContext('(' + text + ')', { filename: file }));
  }
  if (file.endsWith('.mjs')) {
    const m = await import(require('url').pathToFileURL(file).href);
    return emit(m.default !== undefined ? m.default : { ...m });
  }
  try {
    return emit(require(file));
  } catch (e) {
    if (e && e.code === 'ERR_REQUIRE_ESM') {
      const m = await import(require('url').pathToFileURL(file).href);
      return emit(m.default !== undefined ? m.default : { ...m });
    }
    throw e;
  }
})().catch(fail);
"#;

fn evaluate_with_node(path: &Path, source: Source, node: &dyn RunNode) -> Result<Node, ReadError> {
    let mode = match source {
        Source::Module => "module",
        Source::JsonAsExpression => "json",
    };
    let call = NodeCall {
        script: LOADER,
        path,
        mode,
    };
    let (success, status, stdout, stderr) = match node.run(&call) {
        NodeRun::Exited {
            success,
            status,
            stdout,
            stderr,
        } => (success, status, stdout, stderr),
        NodeRun::NotStarted { program, error } => {
            return Err((
                Problem::new(format!(
                    "{NODE_MISSING} ({program}: {error}); it is needed to read PM2's JavaScript ecosystem files"
                ))
                .with_help(
                    "install Node.js, or convert the file once with `pm2ctl import FILE > ecosystem.toml` \
                     where node is installed",
                ),
                None,
            ))
        }
        NodeRun::TimedOut => {
            return Err((
                Problem::new(format!(
                    "evaluating the file with node took longer than {} s",
                    NODE_TIMEOUT.as_secs()
                ))
                .with_help("an ecosystem file should only build an object; does it start a server or wait on something?"),
                None,
            ))
        }
        NodeRun::Lost(e) => return Err((Problem::new(format!("waiting for node failed: {e}")), None)),
    };

    if success {
        let output = after_last_nul(&stdout);
        let text = std::str::from_utf8(output)
            .map_err(|_| (Problem::new("node printed invalid UTF-8"), None))?;
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
            let problem = Problem::new(format!(
                "the exported object cannot be read: {}",
                strip_position(&e.to_string())
            ));
            return Err((problem, None));
        }
        // Positions in node's output mean nothing to the user: keys only.
        return json_tree(text, false).map_err(|(p, _)| {
            let message = format!("the exported object cannot be read: {}", p.message);
            (Problem::new(message), None)
        });
    }
    Err(node_failure(&stderr, &status))
}

/// The loader's `{error, line, column}` report, or node's own stderr if it died first.
fn node_failure(stderr: &[u8], status: &str) -> ReadError {
    let report = serde_json::from_slice::<serde_json::Value>(after_last_nul(stderr)).ok();
    let field = |k: &str| report.as_ref().and_then(|r| r.get(k)).cloned();
    let message = match field("error").as_ref().and_then(|e| e.as_str()) {
        Some(error) => error.to_string(),
        None => {
            let text = String::from_utf8_lossy(stderr);
            let last = text.lines().rev().find(|l| !l.trim().is_empty());
            last.map_or_else(
                || format!("node exited with {status}"),
                |l| l.trim().to_string(),
            )
        }
    };
    let number = |k: &str| {
        field(k)
            .and_then(|v| v.as_u64())
            .and_then(|n| usize::try_from(n).ok())
    };
    let span = number("line").map(|line| Span {
        line,
        column: number("column").unwrap_or(1),
    });
    (
        Problem::new(format!(
            "node could not evaluate the file: {}",
            message.trim()
        )),
        span,
    )
}

fn after_last_nul(bytes: &[u8]) -> &[u8] {
    match bytes.iter().rposition(|&b| b == 0) {
        Some(i) => &bytes[i + 1..],
        None => bytes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_tree_keeps_positions_and_types() {
        let text = "{\n  \"apps\": [\n    {\"name\": \"a\\u00e9\", \"instances\": 2, \"x\": 1.5, \"y\": null, \"z\": true}\n  ]\n}";
        let root = json_tree(text, true).expect("valid");
        let Value::Table(top) = &root.value else {
            panic!("table")
        };
        assert_eq!(top[0].key, "apps");
        assert_eq!(top[0].key_span, Some(Span { line: 2, column: 3 }));
        let Value::Array(apps) = &top[0].value.value else {
            panic!("array")
        };
        let Value::Table(app) = &apps[0].value else {
            panic!("table")
        };
        assert_eq!(app[0].value.value, Value::String("aé".into()));
        assert_eq!(
            app[0].value.span,
            Some(Span {
                line: 3,
                column: 14
            })
        );
        assert_eq!(app[1].value.value, Value::Integer(2));
        assert_eq!(app[2].value.value, Value::Float(1.5));
        assert_eq!(app[3].value.value, Value::Null);
        assert_eq!(app[4].value.value, Value::Bool(true));
    }

    #[test]
    fn json_tree_without_spans_and_with_escapes() {
        let root =
            json_tree(r#"{"a\"b": ["x\\", 1, 18446744073709551615]}"#, false).expect("valid");
        let Value::Table(top) = &root.value else {
            panic!("table")
        };
        assert_eq!(top[0].key, "a\"b");
        assert_eq!(top[0].key_span, None);
        let Value::Array(items) = &top[0].value.value else {
            panic!("array")
        };
        assert_eq!(items[0].value, Value::String("x\\".into()));
        assert!(matches!(items[2].value, Value::Float(_)));
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        for text in ["", "{", "[1,", "{\"a\"}", "\"abc", "{\"a\":}", "[1 2]"] {
            assert!(json_tree(text, true).is_err(), "{text:?}");
        }
    }
}
