//! Property tests of the unit-file renderer: whatever strings a spec holds (newlines, `\r`,
//! quotes, backslashes, `%`, `$`, non-ASCII), a rendered file has exactly one line per
//! directive, every line is a directive of the spec, and each value reads back — through
//! systemd's quoting rules — as the value that would be sent over D-Bus. Values that cannot
//! be written are refused, never altered. Bounded: a few thousand cases, about a second.

use pm2ctl::ecosystem::{App, Ecosystem, Instances, LogTarget};
use pm2ctl::plan::{self, FileKind, HostFacts, Resolver, Scope};
use pm2ctl::unit::{render, ExecCommand, UnitKind, UnitSpec, Value};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Strings biased towards what breaks unit files.
fn nasty() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just("\\".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("%".to_string()),
        Just("$".to_string()),
        Just(";".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("#".to_string()),
        Just("[Service]".to_string()),
        Just("ExecStart=/bin/evil".to_string()),
        Just("\u{0}".to_string()),
        Just("é".to_string()),
        "[a-zA-Z0-9=/._-]{0,6}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|v| v.concat())
}

/// Reads one systemd-quoted word list back (`extract_first_word` with UNQUOTE|CUNESCAPE,
/// then specifier `%%` and, for ExecStart, `$$`).
fn unquote_words(s: &str, dollar: bool) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let mut w = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match c {
                '"' => quoted = !quoted,
                ' ' if !quoted => break,
                '\\' => match chars.next() {
                    Some('n') => w.push('\n'),
                    Some('r') => w.push('\r'),
                    Some('t') => w.push('\t'),
                    Some('x') => {
                        let hex: String = chars.by_ref().take(2).collect();
                        w.push(u8::from_str_radix(&hex, 16).unwrap() as char);
                    }
                    Some(other) => w.push(other),
                    None => panic!("dangling backslash in {s:?}"),
                },
                '%' => {
                    assert_eq!(chars.next(), Some('%'), "lone % in {s:?}");
                    w.push('%');
                }
                '$' if dollar => {
                    assert_eq!(chars.next(), Some('$'), "lone $ in {s:?}");
                    w.push('$');
                }
                c => w.push(c),
            }
        }
        assert!(!quoted, "unterminated quote in {s:?}");
        words.push(w);
    }
    words
}

/// The directive lines of a rendered file, checked for shape: `(key, value)`.
fn directives(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            assert!(line.starts_with("# "), "{line:?}");
            continue;
        }
        if line.is_empty() || (line.starts_with('[') && line.ends_with(']')) {
            continue;
        }
        assert!(!line.ends_with('\\'), "continuation in {line:?}");
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not a directive: {line:?}"));
        assert!(
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad key in {line:?}"
        );
        out.push((k.to_string(), v.to_string()));
    }
    out
}

fn spec_with(
    desc: &str,
    dir: &str,
    args: &[String],
    env: &[String],
    field: &str,
    listen: &str,
) -> UnitSpec {
    let mut argv = vec!["/usr/bin/node".to_string()];
    argv.extend(args.iter().cloned());
    let mut s = UnitSpec::new("pm2ctl-x@0.service", UnitKind::Service);
    s.set("Description", Value::Str(desc.into()))
        .set(
            "ExecStart",
            Value::Exec(vec![ExecCommand {
                path: "/usr/bin/node".into(),
                argv,
                ignore_failure: false,
            }]),
        )
        .set("WorkingDirectory", Value::Str(dir.into()))
        .set("Environment", Value::StrList(env.to_vec()))
        .set(
            "LogExtraFields",
            Value::Bytes(vec![field.as_bytes().to_vec()]),
        )
        .set(
            "Listen",
            Value::Pairs(vec![("Stream".into(), listen.into())]),
        );
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 800, ..ProptestConfig::default() })]

    #[test]
    fn rendered_values_read_back_and_never_add_a_directive(
        desc in nasty(),
        dir in nasty(),
        args in prop::collection::vec(nasty(), 0..4),
        env in prop::collection::vec(nasty(), 0..3),
        field in nasty(),
        listen in nasty(),
    ) {
        let spec = spec_with(&desc, &dir, &args, &env, &field, &listen);
        let Ok(text) = render(&spec) else {
            // Refused: fine, as long as there was something unwritable.
            let raw_ok = |s: &str| !s.chars().any(|c| c.is_ascii_control())
                && !s.ends_with('\\') && s.trim() == s;
            let quoted_ok = |s: &str| !s.contains('\0');
            prop_assert!(
                !(raw_ok(&desc) && raw_ok(&dir) && raw_ok(&listen)
                    && args.iter().all(|a| quoted_ok(a))
                    && env.iter().all(|e| quoted_ok(e)) && quoted_ok(&field)),
                "a writable spec was refused"
            );
            return Ok(());
        };
        let d = directives(&text);
        let keys: Vec<&str> = d.iter().map(|(k, _)| k.as_str()).collect();
        let mut expected = vec!["Description", "ExecStart", "WorkingDirectory"];
        expected.extend(std::iter::repeat_n("Environment", env.len()));
        expected.extend(["LogExtraFields", "ListenStream"]);
        let mut sorted_keys = keys.clone();
        sorted_keys.sort_unstable();
        expected.sort_unstable();
        prop_assert_eq!(sorted_keys, expected);
        for (k, v) in &d {
            match k.as_str() {
                "Description" => prop_assert_eq!(v.replace("%%", "%"), desc.clone()),
                "WorkingDirectory" => prop_assert_eq!(v.replace("%%", "%"), dir.clone()),
                "ListenStream" => prop_assert_eq!(v.replace("%%", "%"), listen.clone()),
                "ExecStart" => {
                    let words = unquote_words(v, true);
                    prop_assert_eq!(&words[0], "/usr/bin/node");
                    prop_assert_eq!(&words[1..], &args[..]);
                }
                "LogExtraFields" => prop_assert_eq!(unquote_words(v, false), vec![field.clone()]),
                _ => {}
            }
        }
        let env_back: Vec<String> = d
            .iter()
            .filter(|(k, _)| k == "Environment")
            .flat_map(|(_, v)| unquote_words(v, false))
            .collect();
        prop_assert_eq!(env_back, env);
    }
}

/// A filesystem where every script exists.
struct AllThere;

impl Resolver for AllThere {
    fn which(&self, command: &str, _: &str) -> Option<PathBuf> {
        Some(PathBuf::from("/usr/bin").join(command))
    }
    fn file_kind(&self, _: &Path) -> FileKind {
        FileKind::Other
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// From the model down: whatever a user puts in names, arguments, environment and log
    /// paths, every unit the plan produces either renders with one line per directive or
    /// is refused by name.
    #[test]
    fn planned_units_never_inject_a_directive(
        name in nasty(),
        ns in nasty(),
        args in prop::collection::vec(nasty(), 0..3),
        value in nasty(),
        out in nasty(),
    ) {
        let mut app = App::with_defaults(&name, "app.js");
        app.namespace = ns;
        // A root caller must ask for a root app; without it the plan fails and nothing renders.
        app.user = Some("root".into());
        app.args = args;
        app.env.insert("VALUE".into(), value);
        app.instances = Some(Instances::Count(2));
        app.port = Some(3000);
        if !out.is_empty() {
            app.out_file = LogTarget::File(out.into());
        }
        let eco = Ecosystem {
            source: "/srv/e.toml".into(),
            base_dir: "/srv".into(),
            apps: vec![app],
            deploy: BTreeMap::new(),
        };
        let host = HostFacts {
            cpus: 2, uid: 0, user: "root".into(), home: "/root".into(),
            path: "/usr/bin".into(), systemd_version: 252, scope: Scope::System,
            node_shim: "/usr/lib/pm2ctl/pm2ctl-shim.js".into(), caller_env: vec![],
            self_exe: Some("/usr/bin/pm2ctl".into()), cwd: "/".into(), memory_unenforced: None,
                        caller_capabilities: u64::MAX,
            unprivileged_port_start: 1024,
            require_root_opt_in: true,
        };
        let Ok(p) = plan::plan(&eco, None, &host, &AllThere) else { return Ok(()) };
        for unit in p.units() {
            if let Ok(text) = render(unit) {
                let lines: usize = unit.properties.iter().map(|p| match &p.value {
                    Value::StrList(l) => l.len(),
                    Value::Bytes(b) => b.len(),
                    Value::Exec(e) => e.len(),
                    Value::Pairs(x) => x.len(),
                    _ => 1,
                }).sum();
                prop_assert_eq!(directives(&text).len(), lines, "{}", text);
            }
        }
    }
}
