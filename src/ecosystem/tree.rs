//! A small format-neutral tree of values with optional source positions.
//!
//! TOML, JSON and JavaScript files are all turned into this tree first, so that one
//! validator (`validate`) applies the same checks and messages to every format.

use super::model::Span;

/// A value and where it was written (if the format can tell).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub span: Option<Span>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON/JS `null`: treated as "not given". TOML has no null.
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
    /// A TOML date/time, kept as written; no option takes one.
    Datetime(String),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// One `key = value` of a table, in source order.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Option<Span>,
    pub value: Node,
}

impl Node {
    pub fn new(span: Option<Span>, value: Value) -> Node {
        Node { span, value }
    }

    /// A short description for "expected …, found …" messages.
    pub fn describe(&self) -> String {
        match &self.value {
            Value::Null => "null".to_string(),
            Value::Bool(b) => format!("boolean {b}"),
            Value::Integer(i) => format!("integer {i}"),
            Value::Float(f) => format!("float {f}"),
            Value::String(s) => format!("string {}", quote_short(s)),
            Value::Datetime(d) => format!("date-time {d}"),
            Value::Array(_) => "an array".to_string(),
            Value::Table(_) => "a table".to_string(),
        }
    }
}

/// Quotes a user string for a message, shortened and with control characters escaped
/// so a message never spans lines or carries terminal escapes.
pub fn quote_short(s: &str) -> String {
    const MAX_CHARS: usize = 40;
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        out.extend(c.escape_debug());
    }
    out.push('"');
    out
}

/// Converts byte offsets in a source text to 1-based line/column (column in characters).
pub struct LineIndex<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub fn new(text: &'a str) -> LineIndex<'a> {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, line_starts }
    }

    pub fn span(&self, offset: usize) -> Span {
        let offset = offset.min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |prefix| prefix.chars().count())
            + 1;
        Span { line, column }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_counts_lines_and_characters() {
        let idx = LineIndex::new("ab\nçd\n\nx");
        assert_eq!(idx.span(0), Span { line: 1, column: 1 });
        assert_eq!(idx.span(3), Span { line: 2, column: 1 });
        // 'd' is after a two-byte character: column counts characters.
        assert_eq!(idx.span(5), Span { line: 2, column: 2 });
        assert_eq!(idx.span(8), Span { line: 4, column: 1 });
        assert_eq!(idx.span(999), Span { line: 4, column: 2 });
    }

    #[test]
    fn quote_short_escapes_and_truncates() {
        assert_eq!(quote_short("a\nb"), "\"a\\nb\"");
        assert!(quote_short(&"x".repeat(100)).ends_with("…\""));
    }
}
