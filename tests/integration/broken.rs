//! The corpus of broken ecosystem files: `tests/broken/<case>.<ext>` is an input and
//! `tests/broken/<case>.expected` lists the diagnostics it must produce, one per line:
//!
//! ```text
//! LINE | KEY | MESSAGE FRAGMENT [| HELP FRAGMENT]
//! ```
//!
//! `-` stands for "no line" or "no key". The number of diagnostics must match exactly,
//! so a new spurious error fails too. Adding a case is adding two files; run with
//! `PM2CTL_BLESS=1` to write the `.expected` of a new case from what pm2ctl reports
//! (then read it: it becomes the contract).

use pm2ctl::ecosystem::Diagnostic;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

const INPUT_EXTENSIONS: &[&str] = &["toml", "json", "js", "cjs", "mjs", "yml", "yaml"];

struct Expected {
    line: Option<usize>,
    key: Option<String>,
    message: String,
    help: Option<String>,
}

fn parse_expected(text: &str, file: &Path) -> Vec<Expected> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let fields: Vec<&str> = l.split(" | ").collect();
            assert!(
                (3..=4).contains(&fields.len()),
                "{}: `{l}` is not `LINE | KEY | MESSAGE [| HELP]`",
                file.display()
            );
            let dash = |s: &str| (s.trim() != "-").then(|| s.trim().to_string());
            Expected {
                line: dash(fields[0]).map(|n| {
                    n.parse()
                        .unwrap_or_else(|_| panic!("{}: bad line number {n}", file.display()))
                }),
                key: dash(fields[1]),
                message: fields[2].trim().to_string(),
                help: fields.get(3).map(|h| h.trim().to_string()),
            }
        })
        .collect()
}

fn render_expected(diagnostics: &[Diagnostic]) -> String {
    let mut out = String::from("# LINE | KEY | MESSAGE FRAGMENT [| HELP FRAGMENT]\n");
    for d in diagnostics {
        let line = d.span.map_or("-".to_string(), |s| s.line.to_string());
        let key = d.key.clone().unwrap_or_else(|| "-".to_string());
        let _ = write!(out, "{line} | {key} | {}", d.message);
        if let Some(h) = &d.help {
            let _ = write!(out, " | {h}");
        }
        out.push('\n');
    }
    out
}

/// Checks one input against its expectations; returns a description of each mismatch.
fn check_case(input: &Path, expected: &[Expected]) -> Vec<String> {
    let diagnostics = match pm2ctl::load::ecosystem(input) {
        Ok(_) => return vec!["loaded without any error".to_string()],
        Err(e) => e.diagnostics,
    };
    let mut mismatches = Vec::new();
    if diagnostics.len() != expected.len() {
        mismatches.push(format!(
            "expected {} diagnostics, got {}:\n{}",
            expected.len(),
            diagnostics.len(),
            render_expected(&diagnostics)
        ));
    }
    for (want, got) in expected.iter().zip(&diagnostics) {
        let ok = got.span.map(|s| s.line) == want.line
            && got.key == want.key
            && got.message.contains(&want.message)
            && want
                .help
                .as_ref()
                .is_none_or(|h| got.help.as_ref().is_some_and(|g| g.contains(h)));
        if !ok {
            mismatches.push(format!(
                "want line {:?} key {:?} message ~{:?} help ~{:?}\n got {got}",
                want.line, want.key, want.message, want.help
            ));
        }
        if got.file != input {
            mismatches.push(format!("diagnostic names {} instead", got.file.display()));
        }
    }
    mismatches
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/broken")
}

#[test]
fn every_broken_file_reports_its_line_and_key() {
    let bless = std::env::var_os("PM2CTL_BLESS").is_some();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/broken exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| INPUT_EXTENSIONS.contains(&e))
        })
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 30,
        "the corpus shrank to {} cases",
        inputs.len()
    );

    let node_present = std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut failures = Vec::new();
    for input in &inputs {
        let script = input
            .extension()
            .is_some_and(|e| e == "js" || e == "cjs" || e == "mjs");
        if script && !node_present {
            eprintln!("skipping {} (node is not installed)", input.display());
            continue;
        }
        let expected_path = input.with_extension("expected");
        let text = match std::fs::read_to_string(&expected_path) {
            Ok(t) => t,
            Err(_) if bless => {
                let diagnostics = pm2ctl::load::ecosystem(input).err().map(|e| e.diagnostics);
                let rendered = render_expected(&diagnostics.unwrap_or_default());
                std::fs::write(&expected_path, rendered).expect("write .expected");
                continue;
            }
            Err(e) => {
                failures.push(format!("{}: {e}", expected_path.display()));
                continue;
            }
        };
        let expected = parse_expected(&text, &expected_path);
        for m in check_case(input, &expected) {
            failures.push(format!("{}: {m}", input.display()));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}

/// Generated here rather than committed: a 10 MB file is refused before parsing.
#[test]
fn a_ten_megabyte_file_is_refused_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("huge.toml");
    let mut text = String::from("[[apps]]\nname = \"api\"\nscript = \"server.js\"\n");
    while text.len() < 10 * 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&path, text).expect("write");
    let e = pm2ctl::load::ecosystem(&path).expect_err("a 10 MB file must be refused");
    assert_eq!(e.diagnostics.len(), 1);
    assert!(
        e.diagnostics[0].message.contains("larger than"),
        "{}",
        e.diagnostics[0]
    );
}
