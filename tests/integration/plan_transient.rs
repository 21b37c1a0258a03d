//! Planned units against a real systemd 252 over D-Bus: every property the plan emits, for a
//! file using most options, is accepted by `StartTransientUnit` (one unknown or mistyped
//! property would fail the whole call), and what the version gate drops really is rejected
//! by 252.

use crate::common;

use common::Sandbox;
use pm2ctl::host::local::SystemResolver;
use pm2ctl::plan::{self, HostFacts, Plan, Scope};
use pm2ctl::systemd::{Client, StartRequest};
use std::path::PathBuf;

const ECOSYSTEM: &str = r#"
[[apps]]
user = "root"
name = "web api"
script = "HTTP"
exec_mode = "cluster"
instances = 2
port = 3931
listen_address = "127.0.0.1"
max_memory_restart = "200M"
kill_timeout = "3s"
restart_delay = "500ms"
stop_exit_codes = [0, 3]
exp_backoff_restart_delay = 100
env = { NODE_ENV = "production", MOTD = "50% off\n$today" }
out_file = "logs/web-out.log"
log_rate_limit = { burst = 5000, interval = "10s" }

[[apps]]
name = "sleeper"
namespace = "batch"
script = "/bin/sleep"
# protect_home = "tmpfs" hides every home: a working directory in the build tree would be
# gone for it when the clone is in one (/root/<clone>).
cwd = "/"
interpreter = "none"
args = ["infinity"]
user = "nobody"
group = "nogroup"
treekill = false
kill_signal = "SIGTERM"
autorestart = false
max_restarts = 3
min_uptime = "2s"
disable_logs = true
sandbox = { capabilities = ["CAP_NET_BIND_SERVICE"], memory_deny_write_execute = true, protect_home = "tmpfs", read_write_paths = ["/var/tmp/a dir"] }

[[apps]]
user = "root"
name = "ready"
script = "HTTP"
wait_ready = true
listen_timeout = "2s"
port = 3932
exec_mode = "fork"
"#;

fn planned(systemd_version: u32) -> Plan {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("plan-transient-case");
    std::fs::create_dir_all(&dir).unwrap();
    let http = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/http.js");
    let file = dir.join("ecosystem.toml");
    std::fs::write(&file, ECOSYSTEM.replace("HTTP", http.to_str().unwrap())).unwrap();
    let eco = pm2ctl::load::ecosystem(&file).unwrap_or_else(|e| panic!("{e}"));
    let mut host = HostFacts::detect(Scope::System, Some(systemd_version));
    host.self_exe = Some(PathBuf::from(common::sandbox::PM2CTL));
    plan::plan(&eco, None, &host, &SystemResolver).unwrap_or_else(|e| panic!("{e}"))
}

/// Slices first, then each instance: the socket with its service as aux, or the service.
fn start_all(client: &Client, plan: &Plan) -> Vec<pm2ctl::systemd::JobOutcome> {
    let slices: Vec<StartRequest> = plan
        .apps
        .iter()
        .map(|a| StartRequest {
            main: &a.slice,
            aux: vec![],
        })
        .collect();
    let mut outcomes = client.start_transient(&slices).expect("slices");
    let instances: Vec<StartRequest> = plan
        .apps
        .iter()
        .flat_map(|a| a.instances.iter())
        .map(|i| match &i.socket {
            Some(socket) => StartRequest {
                main: socket,
                aux: vec![&i.service],
            },
            None => StartRequest {
                main: &i.service,
                aux: vec![],
            },
        })
        .collect();
    outcomes.extend(client.start_transient(&instances).expect("instances"));
    outcomes
}

#[test]
fn systemd_252_accepts_every_planned_property_and_rejects_what_the_gate_drops() {
    let sb = Sandbox::boot();
    // The client honours DBUS_SYSTEM_BUS_ADDRESS; each test runs in its own process.
    std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", sb.system_bus_address());
    let client = Client::connect(&pm2ctl::host::Host::local(), Scope::System)
        .expect("connect to the sandbox's systemd");
    if client.major_version() != 252 {
        return common::sandbox::skip(
            "about 252's answers to what the gate drops (tests/integration/gate.rs checks every release)",
        );
    }

    let plan = planned(252);
    assert!(
        plan.warnings
            .iter()
            .any(|w| w.contains("lacks RestartSteps")),
        "{:?}",
        plan.warnings
    );
    let outcomes = start_all(&client, &plan);
    assert_eq!(outcomes.len(), 3 + 4);
    for o in &outcomes {
        assert_eq!(o.error, None, "{} was refused", o.unit);
        // `ready` never says READY=1 (the fixture does not call process.send('ready')), so
        // its Type=notify start times out after listen_timeout: accepted, then failed.
        if !o.unit.starts_with("pm2ctl-ready@") {
            assert!(o.ok(), "{}: {}", o.unit, o.result);
        }
    }
    // A socket's service is only loaded by the call; started now, as PM2 starts every
    // instance at once rather than on the first connection.
    let web: Vec<String> = plan.apps[0]
        .instances
        .iter()
        .map(|i| i.service.name.clone())
        .collect();
    for o in client.start_units(&web).expect("start the web services") {
        assert!(o.ok(), "{}: {} {:?}", o.unit, o.result, o.error);
    }
    assert_eq!(sb.unit_state("pm2ctl-web\\x20api@1.socket"), "active");
    for unit in ["pm2ctl-web\\x20api@0.service", "pm2ctl-sleeper@0.service"] {
        assert_eq!(sb.unit_state(unit), "active", "{unit}");
    }

    // Without the gate, 252 refuses the call: the drop is needed, not cosmetic.
    let ungated = planned(254);
    let service = &ungated.apps[0].instances[0].service;
    assert!(service.get("RestartSteps").is_some());
    let mut renamed = service.clone();
    renamed.name = "pm2ctl-ungated@0.service".into();
    let refused = client
        .start_transient(&[StartRequest {
            main: &renamed,
            aux: vec![],
        }])
        .expect("call");
    let error = refused[0].error.clone().unwrap_or_default();
    assert!(error.contains("RestartSteps"), "{refused:?}");
}
