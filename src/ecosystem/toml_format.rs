//! Reads `ecosystem.toml` into the format-neutral tree, keeping every position.

use super::model::Span;
use super::tree::{Entry, LineIndex, Node, Value};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A TOML syntax error with its position.
pub struct SyntaxError {
    pub span: Option<Span>,
    pub message: String,
}

/// Parses TOML text; on syntax errors returns all of them (the parser recovers).
pub fn parse(text: &str) -> Result<Node, Vec<SyntaxError>> {
    let index = LineIndex::new(text);
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        return Err(syntax_errors(text, &errors, &index));
    }
    let span = index.span(root.span().start);
    Ok(Node::new(
        Some(span),
        Value::Table(table_entries(root.get_ref(), &index)),
    ))
}

/// Beyond this many, further syntax errors are summarised: after a real mistake the
/// recovering parser often reports the same problem many times.
const MAX_SYNTAX_ERRORS: usize = 10;

fn syntax_errors(
    text: &str,
    errors: &[toml::de::Error],
    index: &LineIndex<'_>,
) -> Vec<SyntaxError> {
    let mut out: Vec<SyntaxError> = Vec::new();
    let mut omitted = 0;
    for e in errors {
        let mut message = first_line(e.message());
        // "duplicate key" alone does not say which; the span covers the key's text.
        if message == "duplicate key" {
            if let Some(key) = e.span().and_then(|r| text.get(r)) {
                message = format!("duplicate key `{}`", key.trim().escape_debug());
            }
        }
        if out.iter().any(|seen| seen.message == message) {
            continue;
        }
        if out.len() == MAX_SYNTAX_ERRORS {
            omitted += 1;
            continue;
        }
        out.push(SyntaxError {
            span: e.span().map(|r| index.span(r.start)),
            message,
        });
    }
    if omitted > 0 {
        out.push(SyntaxError {
            span: None,
            message: format!("{omitted} more syntax errors not shown"),
        });
    }
    out
}

fn first_line(message: &str) -> String {
    let m = message.trim();
    m.lines().next().unwrap_or(m).to_string()
}

fn table_entries(table: &DeTable<'_>, index: &LineIndex<'_>) -> Vec<Entry> {
    let mut entries: Vec<Entry> = table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_span: Some(index.span(k.span().start)),
            value: node(v, index),
        })
        .collect();
    // The parser's map is ordered by key; source order keeps messages in reading order.
    entries.sort_by_key(|e| e.key_span.map(|s| (s.line, s.column)));
    entries
}

fn node(v: &Spanned<DeValue<'_>>, index: &LineIndex<'_>) -> Node {
    let span = Some(index.span(v.span().start));
    let value = match v.get_ref() {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) => Value::Integer(n),
            // Out of i64 range: keep it as a float so range checks report it.
            Err(_) => Value::Float(i.as_str().parse().unwrap_or(f64::INFINITY)),
        },
        DeValue::Float(f) => Value::Float(f.as_str().parse().unwrap_or(f64::NAN)),
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::Datetime(d.to_string()),
        DeValue::Array(items) => Value::Array(items.iter().map(|i| node(i, index)).collect()),
        DeValue::Table(t) => Value::Table(table_entries(t, index)),
    };
    Node::new(span, value)
}
