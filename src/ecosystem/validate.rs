//! Walks a format-neutral tree against the option tables in `schema` and builds the
//! model, collecting every problem instead of stopping at the first.

use super::convert::{self, Problem};
use super::model::*;
use super::schema::{self, AppDraft, DeployDraft, OptionSpec};
use super::tree::{quote_short, Entry, Node, Value};
use super::Diagnostic;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Where the apps are in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `ecosystem.toml`: top-level `apps` and `deploy` only.
    Toml,
    /// PM2's JSON/JS: `apps`, else `pm2`, else the root object or array is the apps.
    Pm2,
}

/// Collects diagnostics for one file.
pub struct Checker {
    file: PathBuf,
    pub diagnostics: Vec<Diagnostic>,
    /// Problems that do not stop the file from loading.
    pub warnings: Vec<Diagnostic>,
    /// An unknown key is a warning, not an error: PM2's own files (PM2 drops keys it does
    /// not know, so an old working file keeps working); pm2ctl's TOML stays strict.
    pub unknown_keys_warn: bool,
}

impl Checker {
    pub fn new(file: &Path) -> Checker {
        Checker {
            file: file.to_path_buf(),
            diagnostics: Vec::new(),
            warnings: Vec::new(),
            unknown_keys_warn: false,
        }
    }

    /// A warning: the key is ignored and the file still loads.
    pub fn warn(&mut self, span: Option<Span>, key: &str, problem: Problem) {
        let before = self.diagnostics.len();
        self.report(span, key, problem);
        let warning = self.diagnostics.split_off(before);
        self.warnings.extend(warning);
    }

    pub fn report(&mut self, span: Option<Span>, key: &str, problem: Problem) {
        self.diagnostics.push(Diagnostic {
            file: self.file.clone(),
            // Formats without positions leave a zero span; omit it rather than print 0:0.
            span: span.filter(|s| s.line > 0),
            key: (!key.is_empty()).then(|| key.to_string()),
            message: problem.message,
            help: problem.help,
        });
    }
}

/// Longer keys are shortened in messages (a key can be any length in a file).
const MAX_KEY_SHOWN: usize = 40;

/// A key as a message shows it: `` `key` ``, escaped and shortened when needed.
fn shown_key(key: &str) -> String {
    if key.chars().count() > MAX_KEY_SHOWN {
        quote_short(key)
    } else {
        format!("`{}`", key.escape_debug())
    }
}

fn join(path: &str, key: &str) -> String {
    let simple = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if simple && key.len() <= MAX_KEY_SHOWN {
        key.to_string()
    } else {
        quote_short(key)
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

/// Builds the ecosystem from a parsed tree, or returns every problem found.
pub fn ecosystem(
    root: &Node,
    layout: Layout,
    ck: &mut Checker,
    source: &Path,
    base_dir: &Path,
) -> Option<Ecosystem> {
    let (apps_node, deploy_node, apps_path) = split_root(root, layout, ck)?;

    let mut apps = Vec::new();
    match apps_node {
        Some(AppsAt::List(node)) => match &node.value {
            Value::Array(items) if items.is_empty() => ck.report(
                node.span,
                &apps_path,
                Problem::new("the file defines no apps: the list is empty")
                    .with_help("add an app with at least `name` and `script`"),
            ),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Some(app) = app(item, &format!("{apps_path}[{i}]"), ck) {
                        apps.push(app);
                    }
                }
            }
            Value::Table(_) => apps.extend(app(node, &apps_path, ck)),
            _ => ck.report(
                node.span,
                &apps_path,
                convert::expected("an array of app tables (`[[apps]]`)", node),
            ),
        },
        Some(AppsAt::Root(node)) => apps.extend(app(node, "", ck)),
        // A misspelt `apps` is already reported as an unknown key with a suggestion.
        None if misspelling_of(root, &["apps"]) && !ck.unknown_keys_warn => {}
        None => ck.report(
            root.span,
            "",
            Problem::new("the file defines no apps")
                .with_help("add an `[[apps]]` table with at least `name` and `script`"),
        ),
    }
    check_unique_names(&apps, ck);
    let apps = apps.into_iter().map(|p| p.app).collect();

    let mut deploy = BTreeMap::new();
    if let Some(node) = deploy_node {
        match &node.value {
            Value::Table(targets) => {
                for t in targets {
                    let path = join("deploy", &t.key);
                    if t.key.is_empty() {
                        ck.report(
                            t.key_span,
                            &path,
                            Problem::new("a deploy target needs a name"),
                        );
                    } else if let Some(d) = deploy_target(&t.value, &path, ck) {
                        deploy.insert(t.key.clone(), d);
                    }
                }
            }
            _ => ck.report(
                node.span,
                "deploy",
                convert::expected("a table of deploy targets (`[deploy.production]`)", node),
            ),
        }
    }

    ck.diagnostics.is_empty().then(|| Ecosystem {
        source: source.to_path_buf(),
        base_dir: base_dir.to_path_buf(),
        apps,
        deploy,
    })
}

enum AppsAt<'a> {
    /// `apps = [...]` (or a single table) under this key.
    List(&'a Node),
    /// PM2's file whose root object is itself the app.
    Root(&'a Node),
}

fn split_root<'a>(
    root: &'a Node,
    layout: Layout,
    ck: &mut Checker,
) -> Option<(Option<AppsAt<'a>>, Option<&'a Node>, String)> {
    let entries = match &root.value {
        Value::Table(entries) => entries,
        Value::Array(_) if layout == Layout::Pm2 => {
            return Some((Some(AppsAt::List(root)), None, "apps".to_string()))
        }
        _ => {
            ck.report(
                root.span,
                "",
                convert::expected("an object with `apps` (and optionally `deploy`)", root),
            );
            return None;
        }
    };
    let get = |k: &str| entries.iter().find(|e| e.key == k).map(|e| &e.value);
    let deploy = get("deploy");
    let (apps, apps_key) = match (get("apps"), get("pm2")) {
        (Some(a), _) => (Some(a), "apps"),
        (None, Some(p)) if layout == Layout::Pm2 => (Some(p), "pm2"),
        _ => (None, "apps"),
    };
    if apps.is_none() && layout == Layout::Pm2 && deploy.is_none() {
        // PM2 accepts a file that is a single app object; without a script it is not one.
        let is_app = entries
            .iter()
            .any(|e| schema::find(schema::APP_OPTIONS, &e.key).is_some_and(|o| o.key == "script"));
        if is_app {
            return Some((Some(AppsAt::Root(root)), None, String::new()));
        }
        let keys: Vec<String> = entries.iter().take(5).map(|e| shown_key(&e.key)).collect();
        let found = if keys.is_empty() {
            "an empty object".to_string()
        } else {
            format!("an object with {}", keys.join(", "))
        };
        ck.report(
            root.span,
            "",
            Problem::new(format!("the file defines no apps: found {found}"))
                .with_help("PM2 reads `apps` (or `pm2`), or a single app object with a `script`"),
        );
        return None;
    }
    let allowed: &[&str] = if layout == Layout::Pm2 {
        &["apps", "pm2", "deploy"]
    } else {
        &["apps", "deploy"]
    };
    for e in entries {
        if e.key == "static" && layout == Layout::Pm2 {
            ck.report(
                e.key_span.or(e.value.span),
                "static",
                Problem::new("PM2's built-in static file server is not supported")
                    .with_help("run a static server (e.g. `npx serve`) as an app instead"),
            );
        } else if !allowed.contains(&e.key.as_str()) {
            unknown_key(ck, e, "", allowed.iter().copied(), "top-level key");
        }
    }
    Some((apps.map(AppsAt::List), deploy, apps_key.to_string()))
}

fn unknown_key<'a>(
    ck: &mut Checker,
    e: &Entry,
    path: &str,
    candidates: impl Iterator<Item = &'a str>,
    what: &str,
) {
    let mut problem = Problem::new(format!("unknown {what} {}", shown_key(&e.key)));
    if let Some(s) = schema::suggest(&e.key, candidates) {
        problem = problem.with_help(format!("did you mean `{s}`?"));
    }
    if ck.unknown_keys_warn {
        problem.message.push_str(": ignored, as PM2 does");
        ck.warn(e.key_span.or(e.value.span), &join(path, &e.key), problem);
    } else {
        ck.report(e.key_span.or(e.value.span), &join(path, &e.key), problem);
    }
}

/// Which kind of table `apply_options` reads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TableKind {
    App,
    Deploy,
}

impl TableKind {
    /// For "unknown … `key`" messages.
    fn what(self) -> &'static str {
        match self {
            TableKind::App => "app option",
            TableKind::Deploy => "deploy option",
        }
    }
}

/// Applies each entry of a table through an option table, reporting unknown keys
/// (with a suggestion), keys given twice through aliases, and bad values. Returns
/// the entries the caller handles itself (`env`, `env_<name>`).
fn apply_options<'n, D>(
    entries: &'n [Entry],
    path: &str,
    options: &'static [OptionSpec<D>],
    draft: &mut D,
    ck: &mut Checker,
    kind: TableKind,
    ignored: &mut Vec<String>,
) -> Vec<&'n Entry> {
    let mut seen: HashMap<&'static str, &str> = HashMap::new();
    let mut special = Vec::new();
    for e in entries {
        let key_path = join(path, &e.key);
        if matches!(e.value.value, Value::Null) {
            continue; // JSON null: not given
        }
        // Apps carry `env_<name>` tables besides their options.
        let is_env_name = kind == TableKind::App && e.key.starts_with("env_");
        let spec = if is_env_name {
            None
        } else {
            schema::find(options, &e.key)
        };
        if is_env_name {
            special.push(e);
            continue;
        }
        let Some(spec) = spec else {
            let candidates = options.iter().flat_map(|o| o.spellings());
            unknown_key(ck, e, path, candidates, kind.what());
            continue;
        };
        if let Some(first) = seen.insert(spec.key, &e.key) {
            ck.report(
                e.key_span.or(e.value.span),
                &key_path,
                if first == e.key {
                    Problem::new(format!("`{}` is given twice", e.key))
                        .with_help("JavaScript silently keeps the last one; remove one of them")
                } else {
                    Problem::new(format!(
                        "`{}` is given twice (as `{first}` and as `{}`)",
                        spec.key, e.key
                    ))
                    .with_help("keep one of them; they are aliases")
                },
            );
            continue;
        }
        if spec.key == "env" {
            special.push(e);
            continue;
        }
        match spec.apply {
            Some(apply) => {
                if let Err(p) = apply(draft, &e.value) {
                    ck.report(e.value.span.or(e.key_span), &key_path, p);
                }
            }
            None => ignored.push(spec.key.to_string()),
        }
    }
    special
}

fn env_of(node: &Node, path: &str, ck: &mut Checker) -> BTreeMap<String, String> {
    match convert::env_table(node) {
        Ok(env) => env,
        Err(problems) => {
            for (entry, p) in problems {
                match entry {
                    Some(e) => ck.report(e.key_span.or(e.value.span), &join(path, &e.key), p),
                    None => ck.report(node.span, path, p),
                }
            }
            BTreeMap::new()
        }
    }
}

fn app(node: &Node, path: &str, ck: &mut Checker) -> Option<Parsed> {
    let Value::Table(entries) = &node.value else {
        ck.report(node.span, path, convert::expected("an app table", node));
        return None;
    };
    let mut draft = AppDraft::new();
    draft.app.span = node.span.unwrap_or_default();
    let mut ignored = Vec::new();
    let special = apply_options(
        entries,
        path,
        schema::APP_OPTIONS,
        &mut draft,
        ck,
        TableKind::App,
        &mut ignored,
    );
    ignored.append(&mut draft.ignored_watch_options);
    draft.app.ignored_options = ignored;
    let mut name_span = None;
    for e in entries {
        if schema::find(schema::APP_OPTIONS, &e.key).is_some_and(|o| o.key == "name") {
            name_span = e.value.span;
        }
    }
    for e in special {
        let key_path = join(path, &e.key);
        if e.key == "env" || schema::camel_case("env") == e.key {
            draft.app.env = env_of(&e.value, &key_path, ck);
        } else if let Some(env_name) = e.key.strip_prefix("env_") {
            if env_name.is_empty()
                || env_name
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control())
            {
                ck.report(
                    e.key_span,
                    &key_path,
                    Problem::new("`env_<name>` needs a name without spaces after `env_`"),
                );
                continue;
            }
            let env = env_of(&e.value, &key_path, ck);
            draft.app.env_by_name.insert(env_name.to_string(), env);
        }
    }
    let app = finish_app(draft, node, path, name_span, ck);
    // Kept even with problems, so that duplicate names are reported in the same run;
    // the file is rejected anyway.
    Some(Parsed {
        app,
        path: path.to_string(),
        name_span,
    })
}

/// An app and where it was written, for checks across apps.
struct Parsed {
    app: App,
    path: String,
    name_span: Option<Span>,
}

/// Options that depend on each other, checked once the whole table is read.
fn finish_app(
    mut d: AppDraft,
    node: &Node,
    path: &str,
    name_span: Option<Span>,
    ck: &mut Checker,
) -> App {
    let script_spellings: Vec<&str> = schema::find(schema::APP_OPTIONS, "script")
        .map(|o| o.spellings().collect())
        .unwrap_or_default();
    // A script with a bad value, or a misspelt `script`, is already reported.
    let script_written = match &node.value {
        Value::Table(entries) => entries.iter().any(|e| {
            !matches!(e.value.value, Value::Null)
                && schema::find(schema::APP_OPTIONS, &e.key).is_some_and(|o| o.key == "script")
        }),
        _ => false,
    };
    if !script_written && (ck.unknown_keys_warn || !misspelling_of(node, &script_spellings)) {
        ck.report(
            node.span,
            path,
            Problem::new("missing required key `script`")
                .with_help("e.g. `script = \"server.js\"` (aliases: exec, cmd, command)"),
        );
    }
    if !d.name_given && d.script_given {
        // PM2: the script's file name without extension; a command line keeps its text.
        let s = d.app.script.trim();
        d.app.name = if s.contains(char::is_whitespace) {
            s.to_string()
        } else {
            Path::new(s)
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
    }
    if let Some(prefix) = &d.name_prefix {
        d.app.name = format!("{prefix}:{}", d.app.name);
    }
    if d.name_given || d.script_given {
        let named = convert::check_name(&d.app.name).and_then(|()| fits_unit_names(&d.app));
        if let Err(p) = named {
            ck.report(name_span.or(node.span), &join(path, "name"), p);
        }
    }
    if d.execute_command && d.app.exec_mode.is_none() {
        d.app.exec_mode = Some(ExecMode::Fork);
    }
    if d.disable_source_map_support {
        d.app.source_map_support = false;
    }
    if d.time && d.app.log_date_format.is_none() {
        d.app.log_date_format = Some("YYYY-MM-DDTHH:mm:ss".to_string());
    }
    d.app
}

/// Whether a key of this table looks like a misspelling of one of `spellings`
/// (and is not itself a known spelling).
fn misspelling_of(table: &Node, spellings: &[&str]) -> bool {
    let Value::Table(entries) = &table.value else {
        return false;
    };
    entries.iter().any(|e| {
        !spellings.contains(&e.key.as_str())
            && schema::suggest(&e.key, spellings.iter().copied()).is_some()
    })
}

/// The app's unit names stay within systemd's limit once escaped (`\xNN` per byte
/// for most characters), for the highest instance index the file can ask for.
fn fits_unit_names(app: &App) -> Result<(), Problem> {
    let max_index = match app.instances {
        None => 0,
        Some(Instances::Count(n)) => n.saturating_sub(1),
        // The CPU count is known only at plan time: assume the most instances allowed.
        Some(Instances::Max | Instances::MaxMinus(_)) => schema::MAX_INSTANCES as u32 - 1,
    };
    use crate::unit::name::{escape, PREFIX, UNIT_NAME_MAX};
    let longest = format!("{PREFIX}{}@{max_index}.service", escape(&app.name));
    if longest.len() <= UNIT_NAME_MAX {
        return Ok(());
    }
    Err(Problem::new(format!(
        "gives a unit name of {} characters once escaped (`{}…`); systemd allows {UNIT_NAME_MAX}",
        longest.len(),
        longest.chars().take(40).collect::<String>()
    ))
    .with_help("use a shorter name; characters other than letters, digits, `:`, `_`, `.` and `/` take 4 each"))
}

fn check_unique_names(apps: &[Parsed], ck: &mut Checker) {
    let mut first: HashMap<&str, &Parsed> = HashMap::new();
    for p in apps {
        if convert::check_name(&p.app.name).is_err() {
            continue; // already reported, or no name could be derived
        }
        if let Some(earlier) = first.insert(&p.app.name, p) {
            let at = match earlier.name_span.or(Some(earlier.app.span)) {
                Some(s) if s.line > 0 => format!("line {}", s.line),
                _ => format!("`{}`", earlier.path),
            };
            ck.report(
                p.name_span.or(Some(p.app.span)),
                &join(&p.path, "name"),
                Problem::new(format!(
                    "the name {} is already used by the app at {at}",
                    super::tree::quote_short(&p.app.name),
                ))
                .with_help("app names must be unique in a file"),
            );
        }
    }
}

fn deploy_target(node: &Node, path: &str, ck: &mut Checker) -> Option<Deploy> {
    let Value::Table(entries) = &node.value else {
        ck.report(node.span, path, convert::expected("a deploy table", node));
        return None;
    };
    let errors_before = ck.diagnostics.len();
    let mut draft = DeployDraft {
        deploy: Deploy {
            span: node.span.unwrap_or_default(),
            user: None,
            hosts: Vec::new(),
            git_ref: String::new(),
            repo: String::new(),
            path: String::new(),
            ssh_options: Vec::new(),
            key: None,
            pre_setup: None,
            post_setup: None,
            pre_deploy_local: None,
            pre_deploy: None,
            post_deploy: None,
            test: None,
            env: BTreeMap::new(),
        },
    };
    let mut ignored = Vec::new();
    let special = apply_options(
        entries,
        path,
        schema::DEPLOY_OPTIONS,
        &mut draft,
        ck,
        TableKind::Deploy,
        &mut ignored,
    );
    for e in special {
        draft.deploy.env = env_of(&e.value, &join(path, &e.key), ck);
    }
    let missing: Vec<String> = schema::DEPLOY_REQUIRED
        .iter()
        .filter(|required| {
            !entries.iter().any(|e| {
                !matches!(e.value.value, Value::Null)
                    && schema::find(schema::DEPLOY_OPTIONS, &e.key)
                        .is_some_and(|o| o.key == **required)
            })
        })
        .map(|k| format!("`{k}`"))
        .collect();
    if !missing.is_empty() {
        ck.report(
            node.span,
            path,
            Problem::new(format!(
                "missing required key{} {}",
                if missing.len() == 1 { "" } else { "s" },
                missing.join(", ")
            ))
            .with_help("a deploy target needs `host`, `ref`, `repo` and `path`"),
        );
    }
    (ck.diagnostics.len() == errors_before).then_some(draft.deploy)
}
