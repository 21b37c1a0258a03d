//! Property tests of the loader: no input makes it panic, every diagnostic stays on
//! one line, and whatever loads survives `import` (to_toml, then load) unchanged.
//! Case counts keep the whole file to a few seconds.

use super::schema::{camel_case, APP_OPTIONS};
use super::*;
use proptest::prelude::*;

/// Cases per property; `PM2CTL_PROPTEST_CASES` raises it for a deeper run, e.g.
/// `PM2CTL_PROPTEST_CASES=100000 cargo test --release --lib proptests` (with cargo
/// test: nextest's slow-test timeout ends runs longer than two minutes).
fn cases() -> u32 {
    std::env::var("PM2CTL_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(name)
}

/// The properties every load result must have.
fn check(result: Result<Ecosystem, LoadError>, file: &str) -> Result<(), TestCaseError> {
    match result {
        Ok(eco) => {
            let toml = to_toml(&eco, &path(file));
            let again = load_text(&path("import.toml"), &toml, Format::Toml);
            let again = again.map_err(|e| {
                TestCaseError::fail(format!("the import does not load:\n{e}\n---\n{toml}"))
            })?;
            let strip = |mut e: Ecosystem| {
                for a in &mut e.apps {
                    a.span = Span::default();
                    a.ignored_options.clear();
                }
                for d in e.deploy.values_mut() {
                    d.span = Span::default();
                }
                (e.apps, e.deploy)
            };
            prop_assert_eq!(strip(again), strip(eco), "{}", toml);
        }
        Err(e) => {
            prop_assert!(!e.diagnostics.is_empty());
            for d in &e.diagnostics {
                prop_assert!(
                    !d.message.contains('\n'),
                    "multi-line message: {:?}",
                    d.message
                );
                if let Some(k) = &d.key {
                    prop_assert!(!k.contains('\n'), "multi-line key: {:?}", k);
                }
            }
        }
    }
    Ok(())
}

/// Every spelling the schema accepts, plus the keys the validator reads itself.
fn option_key() -> impl Strategy<Value = String> {
    let mut keys: Vec<String> = APP_OPTIONS
        .iter()
        .flat_map(|o| o.spellings())
        .flat_map(|s| [s.to_string(), camel_case(s)])
        .collect();
    keys.extend(["env_production".into(), "env_".into(), "scirpt".into()]);
    keys.sort();
    keys.dedup();
    prop_oneof![4 => prop::sample::select(keys), 1 => "[a-z_]{1,12}", 1 => ".{0,12}"]
}

/// Around the limits of ports, exit codes, instances, ids and durations.
const EDGE_INTEGERS: &[i64] = &[
    0,
    1,
    -1,
    255,
    256,
    1024,
    1025,
    65535,
    65536,
    4_294_967_295,
    4_294_967_296,
    3_153_600_000_000,
    3_153_600_000_001,
    i64::MAX,
    i64::MIN,
];

fn toml_value() -> impl Strategy<Value = toml::Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(toml::Value::Boolean),
        any::<i64>().prop_map(toml::Value::Integer),
        prop::sample::select(EDGE_INTEGERS.to_vec()).prop_map(toml::Value::Integer),
        any::<f64>().prop_map(toml::Value::Float),
        any::<String>().prop_map(toml::Value::String),
        prop_oneof![
            Just("max"),
            Just("1G"),
            Just("500M"),
            Just("10s"),
            Just("-5s"),
            Just("1.5h"),
            Just("SIGTERM"),
            Just("fork"),
            Just("cluster_mode"),
            Just("none"),
            Just("0 3 * * *"),
            Just("/dev/null"),
            Just(""),
            Just(" "),
            Just("a\nb"),
            Just("'x"),
            Just("127.0.0.1"),
        ]
        .prop_map(|s| toml::Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(toml::Value::Array),
            prop::collection::btree_map("[A-Za-z_ =.]{0,8}", inner, 0..4)
                .prop_map(|m| toml::Value::Table(m.into_iter().collect())),
        ]
    })
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value as J;
    let leaf = prop_oneof![
        Just(J::Null),
        any::<bool>().prop_map(J::Bool),
        any::<i64>().prop_map(J::from),
        prop::sample::select(EDGE_INTEGERS.to_vec()).prop_map(J::from),
        any::<f64>().prop_map(J::from),
        any::<String>().prop_map(J::String),
        prop_oneof![
            Just("max"),
            Just("1G"),
            Just("10s"),
            Just("-1"),
            Just("SIGINT"),
            Just("")
        ]
        .prop_map(|s| J::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(J::Array),
            prop::collection::btree_map(".{0,6}", inner, 0..4)
                .prop_map(|m| J::Object(m.into_iter().collect())),
        ]
    })
}

/// Fragments of ecosystem files, shuffled into mostly-broken text.
fn toml_ish_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => prop::sample::select(vec![
            "[[apps]]\n", "[apps.env]\n", "[apps.env_prod]\n", "[deploy.prod]\n", "[deploy]\n",
            "name = ", "script = ", "instances = ", "env = ", "max_memory_restart = ", "host = ",
            "\"", "'", "\"\"\"", "[", "]", "{", "}", ",", "=", ".", "\n", " ", "\t", "#",
            "1", "-1", "0x10", "1e400", "nan", "\"max\"", "true", "1979-05-27T07:32:00Z",
            "\"a.js\"", "\"api\"", "\\", "\\u0000", "é", "\u{0}", "\r\n", "apps", "env_x",
        ]).prop_map(str::to_string),
        1 => any::<String>(),
    ];
    prop::collection::vec(token, 0..60).prop_map(|t| t.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn toml_text_never_panics(text in toml_ish_text()) {
        check(load_text(&path("fuzz.toml"), &text, Format::Toml), "fuzz.toml")?;
    }

    #[test]
    fn any_value_for_any_toml_key_never_panics(key in option_key(), value in toml_value()) {
        let mut line = toml::Table::new();
        line.insert(key.clone(), value);
        let text = format!("[[apps]]\nname = \"api\"\nscript = \"a.js\"\n{line}");
        let result = load_text(&path("fuzz.toml"), &text, Format::Toml);
        if let Err(e) = &result {
            for d in &e.diagnostics {
                // Anything wrong is in this app, at a known position.
                prop_assert!(d.span.is_some(), "{}", d);
            }
        }
        check(result, "fuzz.toml")?;
    }

    #[test]
    fn any_value_for_any_json_key_never_panics(key in option_key(), value in json_value()) {
        let mut app = serde_json::Map::new();
        app.insert("script".into(), "a.js".into());
        app.insert(key, value);
        let text = serde_json::json!({ "apps": [app] }).to_string();
        let file = path("fuzz.json");
        let result = js_format::parse_strict_json(&text)
            .map_err(|(p, span)| single(&file, p, span))
            .and_then(|root| validate_tree(&file, &root, Format::Json).map(|(eco, _)| eco));
        check(result, "fuzz.json")?;
    }

    #[test]
    fn arbitrary_json_text_never_panics(text in ".{0,200}|[\\[\\]{}\",:0-9a-z\\\\ ]{0,200}") {
        let file = path("fuzz.json");
        let result = js_format::parse_strict_json(&text)
            .map_err(|(p, span)| single(&file, p, span))
            .and_then(|root| validate_tree(&file, &root, Format::Json).map(|(eco, _)| eco));
        check(result, "fuzz.json")?;
    }
}
