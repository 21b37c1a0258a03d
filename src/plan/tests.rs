//! The plan on hand-built models, with fixed host facts and a fake filesystem.

use super::*;
use crate::ecosystem::{App, ExecMode, Instances, Interpreter, LogTarget};
use crate::unit::{ExecCommand, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// Files that exist; commands are found in /usr/bin when listed.
pub struct FakeResolver {
    files: BTreeMap<PathBuf, FileKind>,
    commands: Vec<&'static str>,
}

impl FakeResolver {
    pub fn new() -> FakeResolver {
        FakeResolver {
            files: BTreeMap::new(),
            commands: vec!["node", "python3", "bash", "ruby", "php", "bun"],
        }
    }
    fn file(mut self, path: &str, kind: FileKind) -> Self {
        self.files.insert(PathBuf::from(path), kind);
        self
    }
}

impl Resolver for FakeResolver {
    fn which(&self, command: &str, _path: &str) -> Option<PathBuf> {
        self.commands
            .contains(&command)
            .then(|| PathBuf::from(format!("/usr/bin/{command}")))
    }
    fn file_kind(&self, path: &Path) -> FileKind {
        self.files.get(path).copied().unwrap_or(FileKind::Missing)
    }
}

fn host() -> HostFacts {
    HostFacts {
        cpus: 4,
        uid: 0,
        user: "root".into(),
        home: "/root".into(),
        path: "/usr/bin:/bin".into(),
        systemd_version: 252,
        scope: Scope::System,
        node_shim: "/usr/lib/pm2ctl/pm2ctl-shim.js".into(),
        caller_env: vec![("SECRET".into(), "x".into()), ("LC_ALL".into(), "C".into())],
        self_exe: None,
        cwd: "/home/dev".into(),
        memory_unenforced: None,
        caller_capabilities: u64::MAX,
        unprivileged_port_start: 1024,
        // These tests are about other options; the root rule has its own below.
        require_root_opt_in: false,
    }
}

fn eco(apps: Vec<App>) -> Ecosystem {
    Ecosystem {
        source: "/srv/ecosystem.toml".into(),
        base_dir: "/srv".into(),
        apps,
        deploy: BTreeMap::new(),
    }
}

fn resolver() -> FakeResolver {
    FakeResolver::new()
        .file("/srv/app.js", FileKind::Other)
        .file("/srv/worker.py", FileKind::Other)
        .file("/srv/bin/server", FileKind::Executable)
}

fn plan_one(app: App) -> Plan {
    plan(&eco(vec![app]), None, &host(), &resolver()).expect("plans")
}

fn env_of(spec: &UnitSpec) -> Vec<String> {
    match spec.get("Environment") {
        Some(Value::StrList(l)) => l.clone(),
        other => panic!("Environment is {other:?}"),
    }
}

fn exec_of(spec: &UnitSpec) -> ExecCommand {
    match spec.get("ExecStart") {
        Some(Value::Exec(cmds)) if cmds.len() == 1 => cmds[0].clone(),
        other => panic!("ExecStart is {other:?}"),
    }
}

#[test]
fn fork_app_gets_a_slice_and_one_service() {
    let p = plan_one(App::with_defaults("api", "app.js"));
    let names: Vec<&str> = p.units().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["pm2ctl-api.slice", "pm2ctl-api@0.service"]);
    let s = &p.apps[0].instances[0].service;
    let props: Vec<&str> = s.properties.iter().map(|p| p.name).collect();
    assert_eq!(
        props,
        [
            "Description",
            "Slice",
            "Type",
            "ExecStart",
            "WorkingDirectory",
            "Environment",
            "Restart",
            "RestartUSec",
            "StartLimitBurst",
            "StartLimitIntervalUSec",
            "TimeoutStopUSec",
            "KillSignal",
            "KillMode",
            "MemoryAccounting",
            "CPUAccounting",
            "NoNewPrivileges",
            "PrivateTmp",
            "PrivateDevices",
            "ProtectKernelTunables",
            "ProtectKernelModules",
            "ProtectKernelLogs",
            "ProtectControlGroups",
            "ProtectClock",
            "ProtectHostname",
            "RestrictSUIDSGID",
            "LockPersonality",
            "RestrictRealtime",
            "RestrictNamespaces",
            "SystemCallArchitectures",
            "SystemCallFilter",
            "SystemCallErrorNumber",
            "RestrictAddressFamilies",
            "ProtectSystem",
            "ProtectHome",
            "ReadWritePaths",
            "SyslogIdentifier",
            "LogExtraFields",
            "LogRateLimitIntervalUSec",
            "LogRateLimitBurst",
        ]
    );
    assert_eq!(
        exec_of(s).argv,
        ["/usr/bin/node", "--enable-source-maps", "/srv/app.js"]
    );
    assert_eq!(s.get("Slice"), Some(&Value::Str("pm2ctl-api.slice".into())));
    assert_eq!(s.get("Restart"), Some(&Value::Str("always".into())));
    assert_eq!(s.get("KillSignal"), Some(&Value::I32(2)));
    assert_eq!(s.get("TimeoutStopUSec"), Some(&Value::U64(1_600_000)));
    assert_eq!(s.get("KillMode"), Some(&Value::Str("control-group".into())));
    assert_eq!(
        s.get("LogExtraFields"),
        Some(&Value::Bytes(vec![
            b"PM2_APP=api".to_vec(),
            b"PM2_INSTANCE=0".to_vec(),
            b"PM2_NAMESPACE=default".to_vec()
        ]))
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
}

#[test]
fn environment_is_explicit() {
    let mut app = App::with_defaults("api", "app.js");
    app.env.insert("NODE_ENV".into(), "development".into());
    app.env_by_name.insert(
        "production".into(),
        BTreeMap::from([("NODE_ENV".to_string(), "production".to_string())]),
    );
    app.env
        .insert("NODE_OPTIONS".into(), "--max-old-space-size=512".into());
    let p = plan(
        &eco(vec![app.clone()]),
        Some("production"),
        &host(),
        &resolver(),
    )
    .unwrap();
    let env = env_of(&p.apps[0].instances[0].service);
    assert!(env.contains(&"NODE_ENV=production".to_string()), "{env:?}");
    assert!(env.contains(&"NODE_APP_INSTANCE=0".to_string()));
    assert!(env.contains(&"name=api".to_string()));
    assert!(env.contains(&"PWD=/srv".to_string()));
    assert!(env.contains(&"HOME=/root".to_string()));
    assert!(env.contains(
        &"NODE_OPTIONS=--require /usr/lib/pm2ctl/pm2ctl-shim.js --max-old-space-size=512"
            .to_string()
    ));
    assert!(!env.iter().any(|e| e.starts_with("SECRET=")), "{env:?}");
    // The shim's graceful stop knows the app's stop settings.
    assert!(env.contains(&"PM2CTL_KILL_TIMEOUT_MS=1600".to_string()));
    assert!(env.contains(&"PM2CTL_KILL_SIGNAL=SIGINT".to_string()));
    assert!(!env
        .iter()
        .any(|e| e.starts_with("PM2CTL_SHUTDOWN_WITH_MESSAGE=")));

    app.inherit_env = true;
    app.filter_env = crate::ecosystem::FilterEnv::Prefixes(vec!["LC_".into()]);
    let p = plan_one(app);
    let env = env_of(&p.apps[0].instances[0].service);
    assert!(env.contains(&"SECRET=x".to_string()), "{env:?}");
    assert!(!env.iter().any(|e| e.starts_with("LC_ALL=")), "{env:?}");
    assert!(env.contains(&"NODE_ENV=development".to_string()));
}

#[test]
fn cluster_with_port_gets_a_socket_per_instance() {
    let mut app = App::with_defaults("web", "app.js");
    app.instances = Some(Instances::Max);
    app.port = Some(3000);
    let p = plan_one(app);
    let names: Vec<&str> = p.units().map(|u| u.name.as_str()).collect();
    assert_eq!(names.len(), 1 + 4 * 2);
    assert_eq!(names[1], "pm2ctl-web@0.socket");
    assert_eq!(names[2], "pm2ctl-web@0.service");
    let sock = p.apps[0].instances[3].socket.as_ref().unwrap();
    assert_eq!(sock.name, "pm2ctl-web@3.socket");
    assert_eq!(
        sock.get("Listen"),
        Some(&Value::Pairs(vec![(
            "Stream".into(),
            "0.0.0.0:3000".into()
        )]))
    );
    assert_eq!(sock.get("ReusePort"), Some(&Value::Bool(true)));
    let env = env_of(&p.apps[0].instances[3].service);
    assert!(env.contains(&"PORT=3000".to_string()));
    assert!(env.contains(&"NODE_APP_INSTANCE=3".to_string()));
    assert!(env.contains(&"exec_mode=cluster_mode".to_string()));
}

#[test]
fn cluster_shares_the_port_its_environment_sets() {
    let mut app = App::with_defaults("web", "app.js");
    app.exec_mode = Some(ExecMode::Cluster);
    app.instances = Some(Instances::Count(2));
    app.env.insert("PORT".into(), "8080".into());
    app.env_by_name.insert(
        "production".into(),
        BTreeMap::from([("PORT".to_string(), "80".to_string())]),
    );
    let p = plan(
        &eco(vec![app.clone()]),
        Some("production"),
        &host(),
        &resolver(),
    )
    .unwrap();
    let sock = p.apps[0].instances[1].socket.as_ref().expect("socket");
    assert_eq!(
        sock.get("Listen"),
        Some(&Value::Pairs(vec![("Stream".into(), "0.0.0.0:80".into())]))
    );
    app.increment_var = Some("PORT".into());
    let p = plan_one(app);
    assert!(p.apps[0].instances.iter().all(|i| i.socket.is_none()));
}

#[test]
fn cluster_without_port_or_fork_with_port_has_no_socket() {
    let mut app = App::with_defaults("w", "app.js");
    app.instances = Some(Instances::Count(2));
    let p = plan_one(app.clone());
    assert!(p.apps[0].instances.iter().all(|i| i.socket.is_none()));
    app.exec_mode = Some(ExecMode::Fork);
    app.port = Some(8080);
    let p = plan_one(app);
    assert_eq!(p.apps[0].instances.len(), 2);
    assert!(p.apps[0].instances.iter().all(|i| i.socket.is_none()));
}

#[test]
fn odd_names_escape_and_read_well() {
    let p = plan_one(App::with_defaults("api v2/beta", "app.js"));
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.name, "pm2ctl-api\\x20v2-beta@0.service");
    assert_eq!(
        s.get("Description"),
        Some(&Value::Str("pm2ctl app api v2/beta (instance 0)".into()))
    );
    assert_eq!(
        s.get("SyslogIdentifier"),
        Some(&Value::Str("api v2/beta".into()))
    );
}

#[test]
fn increment_var_counts_from_the_base() {
    let mut app = App::with_defaults("api", "app.js");
    app.instances = Some(Instances::Count(3));
    app.exec_mode = Some(ExecMode::Fork);
    app.increment_var = Some("PORT".into());
    app.port = Some(8000);
    let p = plan_one(app.clone());
    let env = env_of(&p.apps[0].instances[2].service);
    assert!(env.contains(&"PORT=8002".to_string()), "{env:?}");

    app.port = None;
    let err = plan(&eco(vec![app]), None, &host(), &resolver()).unwrap_err();
    assert!(err.to_string().contains("increment_var"), "{err}");
}

#[test]
fn wait_ready_is_type_notify_with_listen_timeout() {
    let mut app = App::with_defaults("api", "app.js");
    app.wait_ready = true;
    app.listen_timeout = Duration::from_secs(8);
    let p = plan_one(app);
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("Type"), Some(&Value::Str("notify".into())));
    assert_eq!(s.get("NotifyAccess"), Some(&Value::Str("all".into())));
    assert_eq!(s.get("TimeoutStartUSec"), Some(&Value::U64(8_000_000)));
}

#[test]
fn backoff_is_gated_by_version() {
    let mut app = App::with_defaults("api", "app.js");
    app.exp_backoff_restart_delay = Some(Duration::from_millis(100));
    let p = plan_one(app.clone());
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("RestartSteps"), None);
    assert_eq!(s.get("RestartUSec"), Some(&Value::U64(100_000)));
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(p.warnings[0].contains("systemd 252 lacks RestartSteps"));

    let mut h = host();
    h.systemd_version = 254;
    let p = plan(&eco(vec![app]), None, &h, &resolver()).unwrap();
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("RestartSteps"), Some(&Value::U32(13)));
    assert!(p.warnings.is_empty());
}

#[test]
fn interpreters_follow_pm2() {
    let mut py = App::with_defaults("py", "worker.py");
    py.args = vec!["--queue".into(), "a b".into()];
    let mut bin = App::with_defaults("bin", "bin/server");
    bin.interpreter = Interpreter::Auto;
    let mut none = App::with_defaults("none", "app.js");
    none.interpreter = Interpreter::None;
    let shell = App::with_defaults("sh", "echo hello world");
    let p = plan(&eco(vec![py, bin, none, shell]), None, &host(), &resolver()).unwrap();
    let argv = |i: usize| exec_of(&p.apps[i].instances[0].service).argv;
    assert_eq!(
        argv(0),
        ["/usr/bin/python3", "/srv/worker.py", "--queue", "a b"]
    );
    assert!(env_of(&p.apps[0].instances[0].service).contains(&"PYTHONUNBUFFERED=1".into()));
    assert_eq!(argv(1), ["/srv/bin/server"]);
    assert_eq!(argv(2), ["/srv/app.js"]);
    assert_eq!(argv(3), ["/usr/bin/bash", "-c", "echo hello world"]);
    assert!(!env_of(&p.apps[0].instances[0].service)
        .iter()
        .any(|e| e.starts_with("NODE_OPTIONS=")));
}

#[test]
fn every_problem_is_reported_with_its_app() {
    let missing = App::with_defaults("gone", "nope.js");
    let mut bad_signal = App::with_defaults("sig", "app.js");
    bad_signal.kill_signal = "SIGNOPE".into();
    let err = plan(&eco(vec![missing, bad_signal]), None, &host(), &resolver()).unwrap_err();
    assert_eq!(err.problems.len(), 2, "{err}");
    assert!(err.problems[0].starts_with("app `gone`: script `nope.js` not found"));
    assert!(err.problems[1].starts_with("app `sig`: kill_signal"));
}

#[test]
fn users_follow_the_manager() {
    let mut app = App::with_defaults("api", "app.js");
    let mut h = host();
    h.uid = 1000;
    h.user = "dev".into();
    h.home = "/home/dev".into();
    let p = plan(&eco(vec![app.clone()]), None, &h, &resolver()).unwrap();
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("User"), Some(&Value::Str("dev".into())));
    assert!(env_of(s).contains(&"HOME=/home/dev".to_string()));

    app.user = Some("www-data".into());
    let p = plan(&eco(vec![app.clone()]), None, &h, &resolver()).unwrap();
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("User"), Some(&Value::Str("www-data".into())));
    assert!(!env_of(s).iter().any(|e| e.starts_with("HOME=")));

    h.scope = Scope::User;
    let err = plan(&eco(vec![app]), None, &h, &resolver()).unwrap_err();
    assert!(err.to_string().contains("user: `www-data`"), "{err}");
}

#[test]
fn exec_wrap_form_when_self_exe_is_known() {
    let mut app = App::with_defaults("api", "app.js");
    app.out_file = LogTarget::File("logs/out.log".into());
    let mut h = host();
    h.self_exe = Some("/usr/bin/pm2ctl".into());
    let p = plan(&eco(vec![app]), None, &h, &resolver()).unwrap();
    let e = exec_of(&p.apps[0].instances[0].service);
    assert_eq!(e.path, "/usr/bin/pm2ctl");
    assert_eq!(
        e.argv,
        [
            "/usr/bin/pm2ctl",
            "exec-wrap",
            "--out-file",
            "/srv/logs/out.log",
            "--",
            "/usr/bin/node",
            "--enable-source-maps",
            "/srv/app.js"
        ]
    );
}

#[test]
fn a_companion_run_from_tmp_keeps_the_hosts_tmp() {
    let mut app = App::with_defaults("api", "app.js");
    app.cron_restart = Some("0 3 * * *".into());
    let private_tmp = |self_exe: &str| {
        let mut h = host();
        h.self_exe = Some(self_exe.into());
        let p = plan(&eco(vec![app.clone()]), None, &h, &resolver()).unwrap();
        p.apps[0].companions[0].service.get("PrivateTmp").cloned()
    };
    assert_eq!(private_tmp("/usr/bin/pm2ctl"), Some(Value::Bool(true)));
    assert_eq!(
        private_tmp("/tmp/build/debug/pm2ctl"),
        None,
        "a private /tmp would hide pm2ctl itself"
    );
}

#[test]
fn relative_base_dir_resolves_against_the_callers_cwd() {
    let mut e = eco(vec![App::with_defaults("api", "app.js")]);
    e.base_dir = "../../srv".into();
    let p = plan(&e, None, &host(), &resolver()).unwrap();
    assert_eq!(
        p.apps[0].instances[0].service.get("WorkingDirectory"),
        Some(&Value::Str("/srv".into()))
    );
}

#[test]
fn every_planned_unit_renders() {
    let mut app = App::with_defaults("web app", "app.js");
    app.instances = Some(Instances::Count(2));
    app.port = Some(80);
    app.max_memory_restart = Some(300 << 20);
    app.stop_exit_codes = vec![0];
    app.env.insert("MOTD".into(), "50% off\n$today".into());
    let p = plan_one(app);
    for u in p.units() {
        let text = crate::unit::render(u).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains(&format!("# {}:", u.name)));
    }
}

#[test]
fn log_rate_limit_and_date_format_reach_the_journal_properties() {
    let mut app = App::with_defaults("api", "app.js");
    let s = plan_one(app.clone()).apps[0].instances[0].service.clone();
    assert_eq!(s.get("LogRateLimitBurst"), Some(&Value::U32(100_000)));
    assert_eq!(
        s.get("LogRateLimitIntervalUSec"),
        Some(&Value::U64(30_000_000))
    );

    app.log_rate_limit = crate::ecosystem::LogRateLimit {
        burst: 5,
        interval: std::time::Duration::from_secs(2),
    };
    app.log_date_format = Some("HH:mm".into());
    let s = plan_one(app.clone()).apps[0].instances[0].service.clone();
    assert_eq!(s.get("LogRateLimitBurst"), Some(&Value::U32(5)));
    assert_eq!(
        s.get("LogRateLimitIntervalUSec"),
        Some(&Value::U64(2_000_000))
    );
    let Some(Value::Bytes(fields)) = s.get("LogExtraFields") else {
        panic!("no LogExtraFields");
    };
    assert!(fields.contains(&b"PM2_LOG_DATE_FORMAT=HH:mm".to_vec()));

    // `log_rate_limit = false`: a burst no app reaches (zero would mean journald's default).
    app.log_rate_limit = crate::ecosystem::LogRateLimit::OFF;
    let s = plan_one(app).apps[0].instances[0].service.clone();
    assert_eq!(s.get("LogRateLimitBurst"), Some(&Value::U32(50_000_000)));
    assert_eq!(
        s.get("LogRateLimitIntervalUSec"),
        Some(&Value::U64(1_000_000))
    );
}

#[test]
fn the_node_shim_gets_the_stop_settings_and_other_runtimes_do_not() {
    let mut app = App::with_defaults("api", "app.js");
    app.kill_timeout = std::time::Duration::from_millis(5000);
    app.kill_signal = "SIGTERM".into();
    app.shutdown_with_message = true;
    let p = plan_one(app);
    let env = env_of(&p.apps[0].instances[0].service);
    for expected in [
        "PM2CTL_KILL_TIMEOUT_MS=5000",
        "PM2CTL_KILL_SIGNAL=SIGTERM",
        "PM2CTL_SHUTDOWN_WITH_MESSAGE=1",
    ] {
        assert!(env.contains(&expected.to_string()), "{expected}: {env:?}");
    }
    assert!(
        !p.warnings
            .iter()
            .any(|w| w.contains("shutdown_with_message")),
        "{:?}",
        p.warnings
    );

    let mut py = App::with_defaults("py", "worker.py");
    py.shutdown_with_message = true;
    let p = plan_one(py);
    let env = env_of(&p.apps[0].instances[0].service);
    assert!(!env.iter().any(|e| e.starts_with("PM2CTL_")), "{env:?}");
    assert!(
        p.warnings
            .iter()
            .any(|w| w.contains("shutdown_with_message")),
        "{:?}",
        p.warnings
    );
}

fn root_host() -> HostFacts {
    HostFacts {
        require_root_opt_in: true,
        ..host()
    }
}

fn plan_err(app: App, host: &HostFacts) -> String {
    match plan(&eco(vec![app]), None, host, &resolver()) {
        Ok(_) => panic!("planned"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_root_caller_must_ask_for_a_root_app() {
    let err = plan_err(App::with_defaults("api", "app.js"), &root_host());
    assert!(err.contains("app `api`: would run as root"), "{err}");
    assert!(err.contains("user = \"root\""), "{err}");

    let mut app = App::with_defaults("api", "app.js");
    app.user = Some("root".into());
    let p = plan(&eco(vec![app]), None, &root_host(), &resolver()).expect("plans");
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("User"), Some(&Value::Str("root".into())));
    // A root app keeps root's capabilities unless the file bounds them.
    assert_eq!(s.get("CapabilityBoundingSet"), None);

    let mut app = App::with_defaults("api", "app.js");
    app.user = Some("www-data".into());
    assert!(plan(&eco(vec![app]), None, &root_host(), &resolver()).is_ok());
}

#[test]
fn a_non_root_app_gets_no_capabilities_unless_granted() {
    let mut app = App::with_defaults("api", "app.js");
    app.user = Some("www-data".into());
    let p = plan_one(app.clone());
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("CapabilityBoundingSet"), Some(&Value::U64(0)));
    assert_eq!(s.get("AmbientCapabilities"), None);

    app.sandbox.capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
    let p = plan_one(app.clone());
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("CapabilityBoundingSet"), Some(&Value::U64(1 << 10)));
    assert_eq!(s.get("AmbientCapabilities"), Some(&Value::U64(1 << 10)));

    // Not beyond what the caller holds.
    let host = HostFacts {
        caller_capabilities: 0,
        ..host()
    };
    let err = plan_err(app, &host);
    assert!(
        err.contains("does not hold CAP_NET_BIND_SERVICE itself"),
        "{err}"
    );
}

#[test]
fn sandboxing_is_on_by_default_and_each_option_can_be_turned_off() {
    let p = plan_one(App::with_defaults("api", "app.js"));
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("NoNewPrivileges"), Some(&Value::Bool(true)));
    assert_eq!(s.get("ProtectSystem"), Some(&Value::Str("strict".into())));
    assert_eq!(s.get("ProtectHome"), Some(&Value::Str("read-only".into())));
    assert_eq!(
        s.get("MemoryDenyWriteExecute"),
        None,
        "node's JIT needs W+X"
    );
    assert_eq!(
        s.get("ReadWritePaths"),
        Some(&Value::StrList(vec!["-/srv".into()]))
    );

    let mut app = App::with_defaults("api", "app.js");
    app.sandbox.switches.insert("private_tmp".into(), false);
    app.sandbox.protect_system = Some("full".into());
    app.sandbox.protect_home = Some("false".into());
    app.out_file = LogTarget::File("/var/log/api/out.log".into());
    app.sandbox.read_write_paths = vec!["/var/lib/api".into()];
    let p = plan_one(app);
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("PrivateTmp"), None);
    assert_eq!(s.get("ProtectSystem"), Some(&Value::Str("full".into())));
    assert_eq!(s.get("ProtectHome"), None);
    assert_eq!(
        s.get("ReadWritePaths"),
        Some(&Value::StrList(vec![
            "-/srv".into(),
            "-/var/log/api".into(),
            "-/var/lib/api".into()
        ]))
    );

    let mut app = App::with_defaults("api", "app.js");
    app.sandbox.off = true;
    let p = plan_one(app);
    let s = &p.apps[0].instances[0].service;
    for prop in [
        "NoNewPrivileges",
        "PrivateTmp",
        "ProtectSystem",
        "ReadWritePaths",
    ] {
        assert_eq!(s.get(prop), None, "{prop}");
    }
}

#[test]
fn an_app_living_in_tmp_keeps_the_hosts_tmp_unless_the_file_asks() {
    let in_tmp = |path: &str| {
        let mut e = eco(vec![App::with_defaults("api", "app.js")]);
        e.base_dir = path.into();
        e.source = format!("{path}/ecosystem.toml").into();
        let resolver = resolver().file(&format!("{path}/app.js"), FileKind::Other);
        plan(&e, None, &host(), &resolver).expect("plans")
    };
    for dir in ["/tmp/checkout", "/var/tmp/release"] {
        let p = in_tmp(dir);
        let s = &p.apps[0].instances[0].service;
        assert_eq!(
            s.get("PrivateTmp"),
            None,
            "a private /tmp would hide {dir}/app.js"
        );
        // ProtectSystem=strict would leave the host's /tmp read-only.
        assert_eq!(
            s.get("ReadWritePaths"),
            Some(&Value::StrList(vec![
                format!("-{dir}"),
                "-/tmp".into(),
                "-/var/tmp".into()
            ]))
        );
    }
    // Not a prefix match on the string: /tmpfiles is not /tmp.
    let p = in_tmp("/tmpfiles");
    assert_eq!(
        p.apps[0].instances[0].service.get("PrivateTmp"),
        Some(&Value::Bool(true))
    );

    let mut app = App::with_defaults("api", "/tmp/checkout/app.js");
    app.sandbox.switches.insert("private_tmp".into(), true);
    let resolver = resolver().file("/tmp/checkout/app.js", FileKind::Other);
    let p = plan(&eco(vec![app]), None, &host(), &resolver).expect("plans");
    assert_eq!(
        p.apps[0].instances[0].service.get("PrivateTmp"),
        Some(&Value::Bool(true)),
        "asked for explicitly"
    );
}

#[test]
fn a_users_own_systemd_gets_only_what_needs_no_namespace() {
    let host = HostFacts {
        scope: Scope::User,
        uid: 1000,
        user: "dev".into(),
        ..host()
    };
    let p = plan(
        &eco(vec![App::with_defaults("api", "app.js")]),
        None,
        &host,
        &resolver(),
    )
    .expect("plans");
    let s = &p.apps[0].instances[0].service;
    assert_eq!(s.get("NoNewPrivileges"), Some(&Value::Bool(true)));
    for prop in [
        "PrivateTmp",
        "ProtectSystem",
        "ProtectHome",
        "CapabilityBoundingSet",
    ] {
        assert_eq!(s.get(prop), None, "{prop}");
    }
}

#[test]
fn a_privileged_port_comes_from_systemds_socket_never_from_root() {
    let mut app = App::with_defaults("web", "app.js");
    app.user = Some("www-data".into());
    app.port = Some(80);
    app.exec_mode = Some(ExecMode::Fork);
    // A fork-mode Node app gets the socket, as a cluster app does.
    let p = plan_one(app.clone());
    let i = &p.apps[0].instances[0];
    let socket = i.socket.as_ref().expect("a socket");
    assert_eq!(
        socket.get("Listen"),
        Some(&Value::Pairs(vec![("Stream".into(), "0.0.0.0:80".into())]))
    );
    assert_eq!(i.service.get("User"), Some(&Value::Str("www-data".into())));

    // Granted the capability, it binds the port itself.
    app.sandbox.capabilities = vec!["CAP_NET_BIND_SERVICE".into()];
    assert!(plan_one(app).apps[0].instances[0].socket.is_none());

    // A program that cannot adopt a socket: a clear error.
    let mut app = App::with_defaults("web", "bin/server");
    app.user = Some("www-data".into());
    app.port = Some(443);
    let err = plan_err(app, &host());
    assert!(err.contains("port 443 is below 1024"), "{err}");
    assert!(err.contains("CAP_NET_BIND_SERVICE"), "{err}");

    // A user's own systemd cannot open it at all.
    let mut app = App::with_defaults("web", "app.js");
    app.port = Some(80);
    app.instances = Some(Instances::Count(2));
    let host = HostFacts {
        scope: Scope::User,
        uid: 1000,
        user: "dev".into(),
        ..host()
    };
    let err = plan_err(app, &host);
    assert!(err.contains("a user's own systemd cannot open it"), "{err}");
}
