//! Reads PM2's YAML ecosystem files (`process.yml`, `.yaml`) into the format-neutral tree,
//! keeping the line and column of every key and value. PM2 reads them with js-yaml; plain
//! scalars are typed as YAML 1.2's core schema does (`true`, `3`, `1.5`, `null`), quoted
//! ones stay strings. Anchors and aliases are followed; the first document is the file.

use super::convert::Problem;
use super::js_format::ReadError;
use super::model::Span;
use super::tree::{Entry, Node, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use yaml_rust2::Yaml;

/// Parses `text` as YAML.
pub fn parse(text: &str) -> Result<Node, ReadError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut builder, false) {
        return Err((
            Problem::new(format!("YAML syntax error: {}", e.info())),
            Some(span(e.marker())),
        ));
    }
    if let Some(problem) = builder.problem {
        return Err(problem);
    }
    builder
        .root
        .ok_or_else(|| (Problem::new("the YAML file is empty"), None))
}

fn span(mark: &Marker) -> Span {
    Span {
        line: mark.line(),
        column: mark.col() + 1,
    }
}

/// A collection being read, with its anchor.
enum Frame {
    Seq {
        span: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        span: Span,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<(String, Option<Span>)>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: std::collections::HashMap<usize, Node>,
    root: Option<Node>,
    problem: Option<ReadError>,
}

impl Builder {
    /// A finished value: the next item, key or value of the collection it is in.
    fn value(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some((key, key_span)) => entries.push(Entry {
                    key,
                    key_span,
                    value: node,
                }),
                None => {
                    let text = match node.value {
                        Value::String(s) => s,
                        Value::Integer(i) => i.to_string(),
                        Value::Float(f) => f.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => "null".to_string(),
                        _ => {
                            self.problem.get_or_insert((
                                Problem::new("a YAML key must be a plain value, not a list or map"),
                                node.span,
                            ));
                            String::new()
                        }
                    };
                    *key = Some((text, node.span));
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        let at = span(&mark);
        match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let value = match style {
                    TScalarStyle::Plain => match Yaml::from_str(&text) {
                        Yaml::Null => Value::Null,
                        Yaml::Boolean(b) => Value::Bool(b),
                        Yaml::Integer(i) => Value::Integer(i),
                        Yaml::Real(r) => r
                            .parse::<f64>()
                            .map_or(Value::String(text.clone()), Value::Float),
                        _ => Value::String(text),
                    },
                    _ => Value::String(text),
                };
                self.value(Node::new(Some(at), value), anchor);
            }
            Event::Alias(anchor) => {
                let node = self.anchors.get(&anchor).cloned().unwrap_or_else(|| {
                    self.problem
                        .get_or_insert((Problem::new("an alias to an unknown anchor"), Some(at)));
                    Node::new(Some(at), Value::Null)
                });
                self.value(
                    Node {
                        span: Some(at),
                        ..node
                    },
                    0,
                );
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                span: at,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                span: at,
                anchor,
                entries: Vec::new(),
                key: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    span,
                    anchor,
                    items,
                }) => self.value(Node::new(Some(span), Value::Array(items)), anchor),
                Some(Frame::Map {
                    span,
                    anchor,
                    entries,
                    ..
                }) => self.value(Node::new(Some(span), Value::Table(entries)), anchor),
                None => {}
            },
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(node: &Node) -> &[Entry] {
        match &node.value {
            Value::Table(entries) => entries,
            other => panic!("not a table: {other:?}"),
        }
    }

    #[test]
    fn pm2s_process_yml_reads_with_types_and_positions() {
        let text = "apps:\n  - name: api\n    script: app.js\n    instances: 4\n    \
                    watch: true\n    max_memory_restart: '300M'\n    port: \"8080\"\n    \
                    env:\n      NODE_ENV: production\n";
        let root = parse(text).unwrap();
        let apps = &table(&root)[0];
        assert_eq!(apps.key, "apps");
        let Value::Array(items) = &apps.value.value else {
            panic!("apps is no list")
        };
        let app = table(&items[0]);
        let get = |k: &str| &app.iter().find(|e| e.key == k).unwrap().value;
        assert_eq!(get("name").value, Value::String("api".into()));
        assert_eq!(get("instances").value, Value::Integer(4));
        assert_eq!(get("watch").value, Value::Bool(true));
        assert_eq!(get("port").value, Value::String("8080".into()), "quoted");
        let key = app.iter().find(|e| e.key == "instances").unwrap();
        assert_eq!(key.key_span, Some(Span { line: 4, column: 5 }));
    }

    #[test]
    fn anchors_are_followed_and_errors_have_a_position() {
        let root = parse("base: &b {a: 1}\ncopy: *b\n").unwrap();
        assert_eq!(table(&root)[0].value.value, table(&root)[1].value.value);
        let (problem, at) = parse("apps:\n  - name: [\n").unwrap_err();
        assert!(
            problem.message.starts_with("YAML syntax error"),
            "{problem:?}"
        );
        assert!(at.is_some_and(|s| s.line >= 2), "{at:?}");
    }
}
