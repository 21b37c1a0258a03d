//! Loader tests: valid TOML files become the expected model; invalid ones report
//! every problem with its line and key.

use super::*;
use std::time::Duration;

/// The file at `path` as pm2ctl reads it (node for JavaScript).
fn load(path: &Path) -> Result<Ecosystem, LoadError> {
    crate::load::ecosystem(path)
}

fn load_with_warnings(path: &Path) -> Result<(Ecosystem, Vec<Warning>), LoadError> {
    crate::load::ecosystem_with_warnings(path)
}

fn load_toml(text: &str) -> Result<Ecosystem, LoadError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ecosystem.toml");
    std::fs::write(&path, text).expect("write");
    load(&path)
}

fn one_app(text: &str) -> App {
    let eco = load_toml(text).unwrap_or_else(|e| panic!("should load:\n{e}"));
    assert_eq!(eco.apps.len(), 1);
    eco.apps.into_iter().next().expect("one app")
}

fn problems(text: &str) -> Vec<Diagnostic> {
    match load_toml(text) {
        Ok(eco) => panic!("should fail, loaded {eco:?}"),
        Err(e) => e.diagnostics,
    }
}

#[test]
fn minimal_app_gets_pm2_defaults() {
    let app = one_app("[[apps]]\nname = \"api\"\nscript = \"server.js\"\n");
    let mut expected = App::with_defaults("api", "server.js");
    expected.span = Span { line: 1, column: 1 };
    assert_eq!(app, expected);
}

#[test]
fn name_defaults_to_the_script_stem() {
    assert_eq!(
        one_app("[[apps]]\nscript = \"lib/worker.js\"\n").name,
        "worker"
    );
    // A command line keeps its whole text, as PM2 does.
    assert_eq!(
        one_app("[[apps]]\nscript = \"npm run start\"\n").name,
        "npm run start"
    );
}

#[test]
fn every_common_option_is_read_with_toml_types() {
    let app = one_app(
        r#"
[[apps]]
name = "api v2/beta"
namespace = "web"
script = "server.js"
cwd = "/srv/api"
args = ["--port", 3000]
node_args = "--max-old-space-size=512 --inspect"
interpreter = "node"
exec_mode = "cluster"
instances = 4
instance_var = "INSTANCE_ID"
increment_var = "PORT"
port = 3000
user = "www-data"
group = 33
autorestart = false
autostart = false
stop_exit_codes = [0, 3]
restart_delay = "2s"
exp_backoff_restart_delay = 100
min_uptime = "1m"
max_restarts = 5
kill_timeout = "5s"
kill_signal = "TERM"
treekill = false
wait_ready = true
listen_timeout = 8000
cron_restart = "0 3 * * *"
max_memory_restart = "300M"
out_file = "logs/out.log"
error_file = "/dev/null"
merge_logs = true
log_date_format = "YYYY-MM-DD"
env = { NODE_ENV = "development", DEBUG = true, RETRIES = 3 }
"#,
    );
    assert_eq!(app.name, "api v2/beta");
    assert_eq!(app.namespace, "web");
    assert_eq!(app.cwd.as_deref(), Some(std::path::Path::new("/srv/api")));
    assert_eq!(app.args, ["--port", "3000"]);
    assert_eq!(app.node_args, ["--max-old-space-size=512", "--inspect"]);
    assert_eq!(app.interpreter, Interpreter::Named("node".into()));
    assert_eq!(app.exec_mode, Some(ExecMode::Cluster));
    assert_eq!(app.instances, Some(Instances::Count(4)));
    assert_eq!(app.instance_var, "INSTANCE_ID");
    assert_eq!(app.increment_var.as_deref(), Some("PORT"));
    assert_eq!(app.port, Some(3000));
    assert_eq!(app.user.as_deref(), Some("www-data"));
    assert_eq!(app.group.as_deref(), Some("33"));
    assert!(!app.autorestart && !app.autostart && !app.treekill && app.wait_ready);
    assert_eq!(app.stop_exit_codes, [0, 3]);
    assert_eq!(app.restart_delay, Duration::from_secs(2));
    assert_eq!(
        app.exp_backoff_restart_delay,
        Some(Duration::from_millis(100))
    );
    assert_eq!(app.min_uptime, Duration::from_secs(60));
    assert_eq!(app.max_restarts, 5);
    assert_eq!(app.kill_timeout, Duration::from_secs(5));
    assert_eq!(app.kill_signal, "SIGTERM");
    assert_eq!(app.listen_timeout, Duration::from_secs(8));
    assert_eq!(app.cron_restart.as_deref(), Some("0 3 * * *"));
    assert_eq!(app.max_memory_restart, Some(300 << 20));
    assert_eq!(app.out_file, LogTarget::File("logs/out.log".into()));
    assert_eq!(app.error_file, LogTarget::Null);
    assert_eq!(app.merge_logs, Some(true));
    assert_eq!(app.log_date_format.as_deref(), Some("YYYY-MM-DD"));
    let env: Vec<(&str, &str)> = app
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("DEBUG", "true"),
            ("NODE_ENV", "development"),
            ("RETRIES", "3")
        ]
    );
}

#[test]
fn instances_accepts_max_zero_and_negative() {
    let inst =
        |v: &str| one_app(&format!("[[apps]]\nscript = \"a.js\"\ninstances = {v}\n")).instances;
    assert_eq!(inst("\"max\""), Some(Instances::Max));
    assert_eq!(inst("0"), Some(Instances::Max));
    assert_eq!(inst("-1"), Some(Instances::MaxMinus(1)));
    assert_eq!(inst("3"), Some(Instances::Count(3)));
    assert_eq!(inst("\"2\""), Some(Instances::Count(2)));
}

#[test]
fn env_name_tables_are_kept_for_env_selection() {
    let app = one_app(
        "[[apps]]\nscript = \"a.js\"\nenv = { A = \"1\" }\n\
         [apps.env_production]\nA = \"2\"\nB = \"x\"\n\
         [apps.env_staging]\nA = \"3\"\n",
    );
    assert_eq!(app.env.get("A").map(String::as_str), Some("1"));
    let prod = &app.env_by_name["production"];
    assert_eq!(prod.get("A").map(String::as_str), Some("2"));
    assert_eq!(prod.get("B").map(String::as_str), Some("x"));
    assert_eq!(
        app.env_by_name["staging"].get("A").map(String::as_str),
        Some("3")
    );
}

#[test]
fn pm2_aliases_and_camel_case_are_accepted() {
    let app = one_app(
        "[[apps]]\ncmd = \"a.js\"\ninterpreterArgs = \"--inspect\"\nmaxMemoryRestart = \"1G\"\n\
         exec_interpreter = \"none\"\nuid = \"app\"\ncron = \"0 * * * *\"\nout = \"o.log\"\n\
         err = \"e.log\"\ncombine_logs = true\nexec_mode = \"fork_mode\"\npid = \"a.pid\"\n",
    );
    assert_eq!(app.script, "a.js");
    assert_eq!(app.node_args, ["--inspect"]);
    assert_eq!(app.max_memory_restart, Some(1 << 30));
    assert_eq!(app.interpreter, Interpreter::None);
    assert_eq!(app.user.as_deref(), Some("app"));
    assert_eq!(app.cron_restart.as_deref(), Some("0 * * * *"));
    assert_eq!(app.out_file, LogTarget::File("o.log".into()));
    assert_eq!(app.error_file, LogTarget::File("e.log".into()));
    assert_eq!(app.merge_logs, Some(true));
    assert_eq!(app.exec_mode, Some(ExecMode::Fork));
    assert_eq!(app.pid_file, Some("a.pid".into()));
}

#[test]
fn derived_options_apply_after_the_table_is_read() {
    let app = one_app(
        "[[apps]]\nname = \"api\"\nname_prefix = \"blue\"\nscript = \"a.js\"\ntime = true\n\
         execute_command = true\ndisable_source_map_support = true\ncron_restart = 0\n",
    );
    assert_eq!(app.name, "blue:api");
    assert_eq!(app.log_date_format.as_deref(), Some("YYYY-MM-DDTHH:mm:ss"));
    assert_eq!(app.exec_mode, Some(ExecMode::Fork));
    assert!(!app.source_map_support);
    assert_eq!(app.cron_restart, None);
}

#[test]
fn pm2_only_options_are_accepted_and_listed() {
    let app = one_app("[[apps]]\nscript = \"a.js\"\npmx = false\nvizion = false\n");
    assert_eq!(app.ignored_options, ["pmx", "vizion"]);
}

#[test]
fn deploy_targets_are_read_and_checked() {
    let eco = load_toml(
        "[[apps]]\nscript = \"a.js\"\n\
         [deploy.production]\nuser = \"deploy\"\nhost = [\"a.example\", \"b.example\"]\n\
         ref = \"origin/main\"\nrepo = \"git@example.com:app.git\"\npath = \"/srv/app\"\n\
         \"post-deploy\" = \"npm ci\"\nenv = { NODE_ENV = \"production\" }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let d = &eco.deploy["production"];
    assert_eq!(d.hosts, ["a.example", "b.example"]);
    assert_eq!(d.git_ref, "origin/main");
    assert_eq!(d.post_deploy.as_deref(), Some("npm ci"));
    assert_eq!(
        d.env.get("NODE_ENV").map(String::as_str),
        Some("production")
    );
    assert_eq!(d.span.line, 3);
}

#[test]
fn every_problem_is_reported_at_once_in_reading_order() {
    let d = problems(
        "[[apps]]\nname = \"a\"\nscript = \"a.js\"\ninstances = \"lots\"\n\
         max_memory_restrat = \"1G\"\n\n[[apps]]\nname = \"a\"\nscript = \"b.js\"\nport = 70000\n",
    );
    let got: Vec<(Option<usize>, Option<&str>)> = d
        .iter()
        .map(|d| (d.span.map(|s| s.line), d.key.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(4), Some("apps[0].instances")),
            (Some(5), Some("apps[0].max_memory_restrat")),
            (Some(8), Some("apps[1].name")),
            (Some(10), Some("apps[1].port")),
        ]
    );
    assert_eq!(
        d[1].help.as_deref(),
        Some("did you mean `max_memory_restart`?")
    );
}

#[test]
fn duplicate_names_point_at_the_first_one() {
    let d = problems(
        "[[apps]]\nname = \"a\"\nscript = \"a.js\"\n[[apps]]\nname = \"a\"\nscript = \"b.js\"\n",
    );
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].span.map(|s| s.line), Some(5));
    assert!(
        d[0].message.contains("already used by the app at line 2"),
        "{}",
        d[0].message
    );
}

#[test]
fn diagnostics_render_as_file_line_col_key_message() {
    let d = problems("[[apps]]\nscript = \"a.js\"\nautorestart = \"yes\"\n");
    let text = d[0].to_string();
    assert!(
        text.ends_with(
            "ecosystem.toml:3:15: error: apps[0].autorestart: expected true or false, found string \"yes\""
        ),
        "{text}"
    );
}

#[test]
fn unreadable_inputs_are_refused_without_panicking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bin.toml");
    std::fs::write(&path, b"[[apps]]\nscript = \"\xff\xfe\"\n").expect("write");
    let e = load(&path).expect_err("invalid UTF-8");
    assert_eq!(e.diagnostics[0].span.map(|s| s.line), Some(2));
    assert!(e.diagnostics[0].message.contains("UTF-8"));

    let missing = dir.path().join("missing.toml");
    assert!(load(&missing)
        .expect_err("missing")
        .to_string()
        .contains("cannot open"));
}

fn load_named(name: &str, text: &str) -> Result<Ecosystem, LoadError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    load(&path)
}

const PM2_JSON: &str = r#"{
  "apps": [
    {
      "name": "api",
      "script": "server.js",
      "instances": "max",
      "exec_mode": "cluster_mode",
      "max_memory_restart": 314572800,
      "interpreterArgs": "--inspect",
      "env": { "NODE_ENV": "development", "PORT": 3000, "OBJ": { "a": true } },
      "env_production": { "NODE_ENV": "production" },
      "watch": null
    }
  ],
  "deploy": {
    "production": {
      "user": "deploy", "host": "example.com", "ref": "origin/main",
      "repo": "git@example.com:app.git", "path": "/srv/app", "post-deploy": "npm ci"
    }
  }
}"#;

#[test]
fn pm2_json_files_load_like_toml() {
    let eco = load_named("ecosystem.config.json", PM2_JSON).unwrap_or_else(|e| panic!("{e}"));
    let app = &eco.apps[0];
    assert_eq!(app.name, "api");
    assert_eq!(app.instances, Some(Instances::Max));
    assert_eq!(app.exec_mode, Some(ExecMode::Cluster));
    assert_eq!(app.max_memory_restart, Some(300 << 20));
    assert_eq!(app.node_args, ["--inspect"]);
    assert_eq!(app.env["PORT"], "3000");
    assert_eq!(app.env["OBJ"], r#"{"a":true}"#);
    assert_eq!(app.env_by_name["production"]["NODE_ENV"], "production");
    assert_eq!(app.watch, Watch::Off, "null means not given");
    assert_eq!(app.span, Span { line: 3, column: 5 });
    assert_eq!(
        eco.deploy["production"].post_deploy.as_deref(),
        Some("npm ci")
    );
}

#[test]
fn pm2_json_errors_point_into_the_file() {
    let text = "{\n  \"apps\": [{\n    \"script\": \"a.js\",\n    \"instances\": \"lots\"\n  }]\n}";
    let e = load_named("ecosystem.config.json", text).expect_err("invalid");
    assert_eq!(e.diagnostics.len(), 1);
    assert_eq!(
        e.diagnostics[0].span,
        Some(Span {
            line: 4,
            column: 18
        })
    );
    assert_eq!(e.diagnostics[0].key.as_deref(), Some("apps[0].instances"));

    let e =
        load_named("broken.json", "{\"apps\": [\n  {\"script\" \"a.js\"}]}").expect_err("syntax");
    assert_eq!(e.diagnostics[0].span.map(|s| s.line), Some(2));
}

#[test]
fn pm2_accepts_a_single_app_object_or_a_bare_array() {
    let single =
        load_named("app.json", r#"{"name": "one", "script": "a.js"}"#).expect("single app");
    assert_eq!(single.apps[0].name, "one");
    let list =
        load_named("apps.json", r#"[{"script": "a.js"}, {"script": "b.js"}]"#).expect("array");
    assert_eq!(list.apps.len(), 2);
}

fn have_node() -> bool {
    std::process::Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn javascript_files_are_evaluated_by_node() {
    if !have_node() {
        eprintln!("node is not installed; skipping");
        return;
    }
    let eco = load_named(
        "ecosystem.config.js",
        "console.log('printed by the file');\n\
         const base = { script: 'server.js', max_memory_restart: '1G' };\n\
         module.exports = { apps: [ { ...base, name: 'a', instances: 2 }, { ...base, name: 'b', helper() {} } ] };\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = eco.apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(eco.apps[0].max_memory_restart, Some(1 << 30));

    let esm = load_named(
        "ecosystem.config.mjs",
        "export default { apps: [{ name: 'esm', script: 'a.js' }] };\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(esm.apps[0].name, "esm");

    // PM2 evaluates .json as JavaScript: comments and expressions work there too.
    let loose = load_named(
        "loose.json",
        "{\n  // comment\n  apps: [{ script: ['.', '/', 'e', 'cho.js'].join('') }],\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loose.apps[0].script, "./echo.js");
}

#[test]
fn javascript_errors_name_the_line_or_the_key() {
    if !have_node() {
        eprintln!("node is not installed; skipping");
        return;
    }
    let e = load_named(
        "ecosystem.config.js",
        "const a = 1;\nthrow new Error('no config here');\n",
    )
    .expect_err("throws");
    assert_eq!(e.diagnostics[0].span.map(|s| s.line), Some(2));
    assert!(
        e.diagnostics[0].message.contains("Error: no config here"),
        "{e}"
    );

    let e = load_named(
        "ecosystem.config.js",
        "module.exports = { apps: [{ script: 'a.js', kill_timeout: 'soon' }] };\n",
    )
    .expect_err("bad value");
    assert_eq!(
        e.diagnostics[0].key.as_deref(),
        Some("apps[0].kill_timeout")
    );
    assert_eq!(
        e.diagnostics[0].span, None,
        "positions in node's output mean nothing"
    );
}

/// The model without what legitimately differs between a file and its import:
/// positions, the source path, and PM2 options that have no effect.
fn comparable(mut eco: Ecosystem) -> (Vec<App>, BTreeMap<String, Deploy>) {
    for app in &mut eco.apps {
        app.span = Span::default();
        app.ignored_options.clear();
    }
    for d in eco.deploy.values_mut() {
        d.span = Span::default();
    }
    (eco.apps, eco.deploy)
}

fn assert_import_round_trips(name: &str, text: &str) -> String {
    let original = load_named(name, text).unwrap_or_else(|e| panic!("{e}"));
    let toml = to_toml(&original, std::path::Path::new(name));
    let again =
        load_toml(&toml).unwrap_or_else(|e| panic!("the import does not load:\n{e}\n{toml}"));
    assert_eq!(comparable(again), comparable(original), "\n{toml}");
    if std::env::var_os("PM2CTL_SHOW_IMPORT").is_some() {
        eprintln!("{toml}");
    }
    toml
}

use std::collections::BTreeMap;

#[test]
fn import_of_every_option_loads_to_the_same_model() {
    let toml = assert_import_round_trips(
        "ecosystem.config.json",
        r#"{
  "apps": [{
    "name": "api \"v2\"/beta\\ü",
    "namespace": "web",
    "script": "server.js",
    "cwd": "/srv/api",
    "args": "--port 3000 'two words'",
    "interpreter": "none",
    "node_args": ["--inspect"],
    "exec_mode": "fork",
    "instances": -1,
    "instance_var": "ID",
    "increment_var": "PORT",
    "port": 3000,
    "listen_address": "127.0.0.1",
    "uid": 1000,
    "gid": "staff",
    "append_env_to_name": true,
    "inherit_env": true,
    "filter_env": ["SECRET_", "AWS_"],
    "disable_source_map_support": true,
    "force": true,
    "autorestart": false,
    "autostart": false,
    "stop_exit_codes": 2,
    "restart_delay": 1500,
    "exp_backoff_restart_delay": 100,
    "min_uptime": "1m",
    "max_restarts": 3,
    "kill_timeout": "3s",
    "kill_signal": "SIGTERM",
    "treekill": false,
    "shutdown_with_message": true,
    "wait_ready": true,
    "listen_timeout": 10000,
    "cron": "*/5 * * * *",
    "max_memory_restart": 1536,
    "watch": true,
    "ignore_watch": "node_modules logs",
    "watch_delay": 250,
    "out": "/dev/null",
    "error_file": "err.log",
    "log": "all.log",
    "merge_logs": false,
    "disable_logs": true,
    "log_type": "json",
    "time": true,
    "pid_file": "api.pid",
    "pmx": false,
    "env": { "MULTI": "line one\nline two", "QUOTE": "it's \"x\"", "weird key": "1" },
    "env_production": { "NODE_ENV": "production" },
    "env_empty": {}
  }, {
    "script": "npm run worker",
    "instances": "max",
    "watch": ["src", "lib"],
    "filter_env": true
  }],
  "deploy": {
    "prod.eu": {
      "user": "deploy", "host": ["a", "b"], "ref": "origin/main", "repo": "r", "path": "/srv",
      "ssh_options": ["StrictHostKeyChecking=no"], "key": "~/.ssh/id", "pre-setup": "a",
      "post-setup": "b", "pre-deploy-local": "c", "pre-deploy": "d", "post-deploy": "e",
      "env": { "NODE_ENV": "production" }
    }
  }
}"#,
    );
    assert!(toml.contains("# PM2 options with no effect under systemd, left out: pmx"));
    assert!(
        toml.contains("max_memory_restart = 1536\n")
            || toml.contains("max_memory_restart = \"1.5K\"")
    );
}

#[test]
fn import_of_defaults_writes_only_name_and_script() {
    let toml = assert_import_round_trips("app.json", r#"{"apps": [{"script": "a.js"}]}"#);
    let body: Vec<&str> = toml
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert_eq!(body, ["[[apps]]", "name = \"a\"", "script = \"a.js\""]);
}

#[test]
fn a_byte_order_mark_is_not_content() {
    let eco =
        load_named("bom.json", "\u{feff}{\"apps\": [{\"script\": \"a.js\"}]}").expect("BOM json");
    assert_eq!(eco.apps[0].name, "a");
    let e = load_named("bom.toml", "\u{feff}[[apps]]\nscript = 1\n").expect_err("bad script");
    assert_eq!(
        e.diagnostics[0].span,
        Some(Span {
            line: 2,
            column: 10
        })
    );
}

#[test]
fn log_rate_limit_is_a_table_or_a_boolean() {
    let base = "[[apps]]\nname = \"a\"\nscript = \"a.js\"\n";
    assert_eq!(one_app(base).log_rate_limit, LogRateLimit::DEFAULT);
    let app = one_app(&format!(
        "{base}log_rate_limit = {{ burst = 500000, interval = \"10s\" }}\n"
    ));
    assert_eq!(
        app.log_rate_limit,
        LogRateLimit {
            burst: 500_000,
            interval: Duration::from_secs(10)
        }
    );
    // One key alone keeps the other's default.
    let app = one_app(&format!("{base}log_rate_limit = {{ burst = 7 }}\n"));
    assert_eq!(app.log_rate_limit.burst, 7);
    assert_eq!(app.log_rate_limit.interval, Duration::from_secs(30));
    let app = one_app(&format!("{base}log_rate_limit = false\n"));
    assert_eq!(app.log_rate_limit, LogRateLimit::OFF);

    for (bad, says) in [
        ("log_rate_limit = { burst = 0 }", "log_rate_limit.burst"),
        (
            "log_rate_limit = { burst = 60000000 }",
            "between 1 and 50000000",
        ),
        (
            "log_rate_limit = { interval = \"soon\" }",
            "log_rate_limit.interval",
        ),
        ("log_rate_limit = { lines = 5 }", "unknown key `lines`"),
        ("log_rate_limit = 100", "expected a table"),
    ] {
        let d = problems(&format!("{base}{bad}\n"));
        assert_eq!(d.len(), 1, "{bad}: {d:?}");
        assert_eq!(d[0].key.as_deref(), Some("apps[0].log_rate_limit"), "{bad}");
        assert_eq!(d[0].span.map(|s| s.line), Some(4), "{bad}");
        assert!(d[0].message.contains(says), "{bad}: {}", d[0].message);
    }
}

#[test]
fn log_rate_limit_survives_an_import() {
    for limit in ["{ burst = 1234, interval = \"2m\" }", "false"] {
        let toml = assert_import_round_trips(
            "ecosystem.toml",
            &format!("[[apps]]\nname = \"a\"\nscript = \"a.js\"\nlog_rate_limit = {limit}\n"),
        );
        assert!(toml.contains("log_rate_limit"), "{toml}");
    }
}

#[test]
fn watch_options_that_map_are_read_and_the_harmless_ones_noted() {
    let app = one_app(
        "[[apps]]\nscript = \"a.js\"\nwatch = true\n\
         watch_options = { followSymlinks = true, usePolling = true, interval = 500, \
         persistent = true, ignore_initial = true }\n",
    );
    assert_eq!(
        app.watch_options,
        WatchOptions {
            follow_symlinks: true,
            use_polling: true,
            interval: Some(Duration::from_millis(500)),
        }
    );
    assert_eq!(
        app.watch_options.poll_interval(),
        Some(Duration::from_millis(500))
    );
    assert_eq!(app.ignored_options.len(), 2, "{:?}", app.ignored_options);
    assert!(app.ignored_options[0].starts_with("watch_options.persistent"));
    assert!(app.ignored_options[1].starts_with("watch_options.ignoreInitial"));

    // Polling without an interval polls at chokidar's default.
    let app = one_app("[[apps]]\nscript = \"a.js\"\nwatch_options = { usePolling = true }\n");
    assert_eq!(
        app.watch_options.poll_interval(),
        Some(Duration::from_millis(100))
    );

    // Written back as a table that reads the same.
    let toml = to_toml(
        &Ecosystem {
            source: "x".into(),
            base_dir: "/".into(),
            apps: vec![one_app(
                "[[apps]]\nscript = \"a.js\"\nwatch_options = { usePolling = true, interval = 250 }\n",
            )],
            deploy: Default::default(),
        },
        std::path::Path::new("x.json"),
    );
    assert!(
        toml.contains("watch_options = { usePolling = true, interval = "),
        "{toml}"
    );
    let again = one_app(&toml);
    assert_eq!(
        again.watch_options.interval,
        Some(Duration::from_millis(250))
    );
}

#[test]
fn watch_options_the_agent_cannot_honour_are_refused_with_line_and_key() {
    for (option, help) in [
        ("depth = 2", "ignore_watch"),
        ("awaitWriteFinish = true", "watch_delay"),
        ("ignored = \"*.log\"", "ignore_watch"),
        ("usePoling = true", "did you mean `usePolling`?"),
        ("interval = 1", "10 ms"),
    ] {
        let d = problems(&format!(
            "[[apps]]\nscript = \"a.js\"\nwatch = true\nwatch_options = {{ {option} }}\n"
        ));
        assert_eq!(d.len(), 1, "{option}: {d:?}");
        assert_eq!(d[0].span.map(|s| s.line), Some(4), "{option}");
        assert_eq!(
            d[0].key.as_deref(),
            Some("apps[0].watch_options"),
            "{option}"
        );
        let text = d[0].to_string();
        assert!(text.contains("watch_options"), "{option}: {text}");
        assert!(text.contains(help), "{option}: {text}");
    }
}

/// Writes `text` as `name` in a fresh directory and loads it, with its warnings.
fn load_with_warnings_named(
    name: &str,
    text: &str,
) -> Result<(Ecosystem, Vec<Warning>), LoadError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, text).expect("write");
    load_with_warnings(&path)
}

#[test]
fn unknown_keys_of_pm2s_files_are_warnings_naming_file_key_and_suggestion() {
    let json = "{\"apps\": [{\n  \"name\": \"api\",\n  \"script\": \"a.js\",\n  \
                \"instnaces\": 4,\n  \"vizion\": false\n}],\n \"extra\": 1}\n";
    let (eco, warnings) =
        load_with_warnings_named("apps.json", json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(eco.apps[0].name, "api");
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 2, "{text:?}");
    assert!(
        text[0].contains("apps.json:4:3: warning: apps[0].instnaces: unknown app option")
            && text[0].contains("did you mean `instances`?"),
        "{text:?}"
    );
    assert!(
        text[1].contains("apps.json:7:2: warning: extra: unknown top-level key"),
        "{text:?}"
    );

    let yaml = "apps:\n  - name: api\n    script: a.js\n    max_memory_restrat: 300M\n";
    let (_, warnings) =
        load_with_warnings_named("process.yml", yaml).unwrap_or_else(|e| panic!("{e}"));
    let text = warnings[0].to_string();
    assert!(
        text.contains("process.yml:4:5: warning:")
            && text.contains("did you mean `max_memory_restart`?"),
        "{text}"
    );

    // pm2ctl's own TOML stays strict.
    let toml = "[[apps]]\nname = \"api\"\nscript = \"a.js\"\ninstnaces = 4\n";
    let err = load_with_warnings_named("ecosystem.toml", toml).unwrap_err();
    assert!(
        err.to_string().contains("error: apps[0].instnaces"),
        "{err}"
    );
}

#[test]
fn pm2s_yaml_files_load_as_its_json_files_do() {
    let yaml = "apps:\n  - name: api\n    script: server.js\n    instances: 2\n    \
                exec_mode: cluster\n    max_memory_restart: 300M\n    env:\n      \
                NODE_ENV: development\n    env_production:\n      NODE_ENV: production\n";
    let (yml, _) = load_with_warnings_named("process.yaml", yaml).unwrap_or_else(|e| panic!("{e}"));
    let json = "{\"apps\": [{\"name\": \"api\", \"script\": \"server.js\", \"instances\": 2, \
                \"exec_mode\": \"cluster\", \"max_memory_restart\": \"300M\", \
                \"env\": {\"NODE_ENV\": \"development\"}, \
                \"env_production\": {\"NODE_ENV\": \"production\"}}]}";
    let (from_json, _) =
        load_with_warnings_named("process.json", json).unwrap_or_else(|e| panic!("{e}"));
    let strip = |mut app: App| {
        app.span = Span::default();
        app
    };
    assert_eq!(strip(yml.apps[0].clone()), strip(from_json.apps[0].clone()));
}
