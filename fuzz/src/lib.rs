//! What every fuzz target checks on a rendered unit file: each line is a comment, a section
//! header, empty, or one `Key=value` directive, and there are exactly as many directives as
//! the spec has values. A value that smuggled a newline, a continuation or a second
//! directive into the file breaks one of these.

use pm2ctl::unit::{UnitSpec, Value};

/// How many directive lines `spec` must render to.
pub fn expected_directives(spec: &UnitSpec) -> usize {
    spec.properties
        .iter()
        .map(|p| match &p.value {
            Value::StrList(l) => l.len(),
            Value::Bytes(b) => b.len(),
            Value::Exec(e) => e.len(),
            Value::Pairs(x) => x.len(),
            _ => 1,
        })
        .sum()
}

/// Panics (the fuzzer's finding) when `text` is not a well-formed rendering of `spec`.
pub fn check_rendered(spec: &UnitSpec, text: &str) {
    let mut directives = 0;
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            assert!(line.starts_with("# "), "first line {line:?}");
            continue;
        }
        if line.is_empty() || (line.starts_with('[') && line.ends_with(']')) {
            continue;
        }
        assert!(!line.ends_with('\\'), "a line continues: {line:?}");
        assert!(!line.contains('\0'), "NUL in {line:?}");
        let (key, _) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a directive: {line:?}"));
        assert!(
            !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad key in {line:?}"
        );
        directives += 1;
    }
    assert_eq!(directives, expected_directives(spec), "{text}");
}
